//! The event envelope and the events that belong to no protocol.
//!
//! Every event serialises as one JSON object: `ts`, `type`, the event's own
//! fields, then `flow`. Each protocol owns an internally tagged enum in
//! [`crate::events`]; [`EventBody`] only gathers them.

use serde::{Deserialize, Serialize};

use crate::events::{ftp, http, mongo, mysql, redis, rsync, ssh};
use crate::flow::{Direction, FlowRef};
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub ts: Timestamp,
    #[serde(flatten)]
    pub body: EventBody,
    pub flow: FlowRef,
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        self.body.type_name()
    }
}

// Events are built once and serialised; boxing the larger variants would
// only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventBody {
    Core(CoreEvent),
    Ftp(ftp::FtpEvent),
    Ssh(ssh::SshEvent),
    Rsync(rsync::RsyncEvent),
    Mysql(mysql::MysqlEvent),
    Redis(redis::RedisEvent),
    Mongo(mongo::MongoEvent),
    Http(http::HttpEvent),
}

impl EventBody {
    pub fn type_name(&self) -> &'static str {
        match self {
            EventBody::Core(e) => e.type_name(),
            EventBody::Ftp(e) => e.type_name(),
            EventBody::Ssh(e) => e.type_name(),
            EventBody::Rsync(e) => e.type_name(),
            EventBody::Mysql(e) => e.type_name(),
            EventBody::Redis(e) => e.type_name(),
            EventBody::Mongo(e) => e.type_name(),
            EventBody::Http(e) => e.type_name(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CoreEvent {
    #[serde(rename = "flow.end")]
    FlowEnd(FlowEnd),
    #[serde(rename = "anomaly")]
    Anomaly(Anomaly),
}

impl CoreEvent {
    pub fn type_name(&self) -> &'static str {
        match self {
            CoreEvent::FlowEnd(_) => "flow.end",
            CoreEvent::Anomaly(_) => "anomaly",
        }
    }
}

impl From<CoreEvent> for EventBody {
    fn from(e: CoreEvent) -> Self {
        EventBody::Core(e)
    }
}

/// How a flow ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Both sides sent FIN.
    Fin,
    /// One side sent RST.
    Rst,
    /// No packet for longer than the idle timeout.
    Timeout,
    /// The flow table was full and this was its oldest flow.
    Evicted,
    /// The capture ended while the flow was open.
    EndOfCapture,
    /// A new connection (SYN) came on the same addresses and ports.
    Reused,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowEnd {
    /// First packet of the flow.
    pub start: Timestamp,
    pub duration_seconds: f64,
    pub reason: EndReason,
    /// Application protocol the dissectors recognised, if any.
    pub protocol: Option<String>,
    pub packets_to_server: u64,
    pub bytes_to_server: u64,
    pub packets_to_client: u64,
    pub bytes_to_client: u64,
    /// Payload bytes never seen (sequence gaps), per direction.
    pub missed_bytes_to_server: u64,
    pub missed_bytes_to_client: u64,
    /// True when the flow's start (SYN) was not captured.
    pub mid_stream: bool,
}

/// Something odd in the traffic: a sequence gap, a length that cannot be,
/// an unknown opcode. Anomalies are events, never crashes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Short stable name, such as `gap`, `bad_length`, `unknown_opcode`.
    pub kind: String,
    /// The protocol whose parser noticed it (`tcp` for reassembly).
    pub protocol: String,
    pub detail: String,
    pub direction: Option<Direction>,
    /// Byte offset within the direction's stream where it was seen.
    pub offset: Option<u64>,
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::events::ftp::{FtpEvent, FtpLogin};
    use crate::flow::Transport;

    #[test]
    fn serialises_ts_type_fields_flow_and_reads_back() {
        let event = Event {
            ts: Timestamp::from_timeval(1_700_000_000, 42),
            body: FtpEvent::Login(FtpLogin {
                user: "anonymous".into(),
                password: "x".into(),
                success: true,
            })
            .into(),
            flow: FlowRef {
                id: "1:abc".into(),
                src_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                src_port: 1234,
                dst_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                dst_port: 21,
                transport: Transport::Tcp,
            },
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"ts":"2023-11-14T22:13:20.000042Z","type":"ftp.login","user":"anonymous","password":"x","success":true,"flow":{"id":"1:abc","src_ip":"10.0.0.1","src_port":1234,"dst_ip":"10.0.0.2","dst_port":21,"transport":"tcp"}}"#
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.type_name(), "ftp.login");
    }
}
