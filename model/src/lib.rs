//! Kyoka's shared vocabulary. These are the only types that are serialised
//! to disk, to Redis or onto the wire, so their JSON shape is a contract:
//! see `docs/events.md`.

pub mod event;
pub mod events;
pub mod flow;
pub mod policy;
pub mod signing;
pub mod state;
pub mod time;

pub use event::{Anomaly, Event, EventBody, FlowEnd};
pub use flow::{Direction, FlowRef, Transport};
pub use time::Timestamp;
