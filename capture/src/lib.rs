//! From packets to decoded attacker events.
//!
//! Packets come from a [`source`], are decoded ([`decode`], IPv4 fragments
//! reassembled by [`defrag`]), grouped into flows ([`flow`]), put back in
//! order per direction ([`reassembly`]) and handed to one protocol
//! dissector per flow ([`protocols`]). The [`engine`] wires these stages
//! together on one thread and emits [`model::Event`]s in capture order.

pub mod artifact;
pub mod community_id;
pub mod decode;
pub mod defrag;
pub mod engine;
pub mod error;
pub mod flow;
pub mod index;
pub mod ops;
pub mod protocols;
pub mod reassembly;
pub mod source;
pub mod store;

pub use error::{Error, Result};
