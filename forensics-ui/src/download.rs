//! Downloads: the pcap of a session, of a flow or of a whole search (made
//! by `capture::ops::export`, so byte for byte what the store holds), and
//! extracted files.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::api::{full_query, params, SearchParams};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::state::AppState;

/// Exports `query` to a temporary file in the data folder and streams it
/// (the file is unlinked once open).
async fn pcap(st: &AppState, query: String, name: String) -> Result<Response, AppError> {
    let data = st.config().data.clone();
    let file = tokio::task::spawn_blocking(move || -> Result<std::fs::File, AppError> {
        let dir = data.join("ui").join("tmp");
        std::fs::create_dir_all(&dir).map_err(AppError::internal)?;
        let path = dir.join(format!("{}.pcap", crate::accounts::random_hex(12)));
        let result = capture::ops::export(&data, &query, &path);
        let opened = std::fs::File::open(&path);
        let _ = std::fs::remove_file(&path);
        result?;
        opened.map_err(AppError::internal)
    })
    .await??;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.tcpdump.pcap".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

fn safe(id: &str) -> Result<(), AppError> {
    if id.is_empty() || id.len() > 200 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(AppError::not_found());
    }
    Ok(())
}

pub async fn session_pcap(State(st): State<AppState>, _u: CurrentUser, Path(id): Path<String>) -> Result<Response, AppError> {
    safe(&id)?;
    let exists = {
        let id = id.clone();
        st.with_browser(move |b| Ok(b.session(&id)?.is_some())).await?
    };
    if !exists {
        return Err(AppError::not_found());
    }
    pcap(&st, format!("session_id:\"{id}\""), format!("session-{id}.pcap")).await
}

pub async fn flow_pcap(State(st): State<AppState>, _u: CurrentUser, Path(key): Path<String>) -> Result<Response, AppError> {
    safe(&key)?;
    let flow = {
        let key = key.clone();
        st.with_browser(move |b| b.flow(&key)?.ok_or_else(AppError::not_found)).await?
    };
    let Some(id) = flow.pointer("/flow/id").and_then(|v| v.as_str()).filter(|s| !s.contains('"') && !s.contains('\\')) else {
        return Err(AppError::not_found());
    };
    let q = format!("flow_id:\"{id}\" AND session_id:\"{}\"", flow.get("session_id").and_then(|v| v.as_str()).unwrap_or(""));
    pcap(&st, q, format!("flow-{key}.pcap")).await
}

pub async fn search_pcap(State(st): State<AppState>, _u: CurrentUser, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    let p: SearchParams = params(raw)?;
    let (q, _) = full_query(&p)?;
    let q = if q.trim().is_empty() { "*".to_string() } else { q };
    pcap(&st, q, "search.pcap".into()).await
}

pub async fn artifact(State(st): State<AppState>, _u: CurrentUser, Path(sha256): Path<String>) -> Result<Response, AppError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let name = sha256.clone();
    let at = st
        .with_browser(move |b| b.artifact(&sha256).ok_or_else(AppError::not_found))
        .await?;
    // Packed artifacts share a file: only their slot of it is sent.
    let mut file = tokio::fs::File::open(&at.path).await.map_err(|_| AppError::not_found())?;
    file.seek(std::io::SeekFrom::Start(at.offset)).await.map_err(|_| AppError::not_found())?;
    Ok((
        [
            // Never rendered by the browser: always a download.
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, at.len.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.bin\"")),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(file.take(at.len))),
    )
        .into_response())
}
