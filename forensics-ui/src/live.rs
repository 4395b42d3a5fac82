//! Server-sent events: the overview's numbers, sent again whenever the
//! data folder changed (checked every two seconds).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::CurrentUser;
use crate::state::AppState;

pub async fn overview(
    State(st): State<AppState>,
    _u: CurrentUser,
) -> axum::response::Response {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut last = String::new();
        loop {
            let json = st
                .with_browser(crate::api::overview_json)
                .await
                .map(|v| v.to_string())
                .unwrap_or_else(|e| serde_json::json!({ "error": e.message }).to_string());
            if json != last {
                if tx.send(Ok(Event::default().event("overview").data(json.clone()))).await.is_err() {
                    return;
                }
                last = json;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    let stream: ReceiverStream<Result<Event, Infallible>> = ReceiverStream::new(rx);
    axum::response::IntoResponse::into_response(Sse::new(stream).keep_alive(KeepAlive::default()))
}
