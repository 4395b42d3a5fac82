//! Protocol events, one module per protocol. Each module owns an internally
//! tagged enum whose tags are the stable dotted type names.

pub mod ftp;
pub mod http;
pub mod mongo;
pub mod mysql;
pub mod redis;
pub mod rsync;
pub mod ssh;

/// Declares `type_name()` and `From<…> for EventBody` for a protocol enum.
#[macro_export]
macro_rules! protocol_events {
    ($enum:ident, $body:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $enum {
            pub fn type_name(&self) -> &'static str {
                match self {
                    $($enum::$variant(_) => $name,)*
                }
            }
        }

        impl From<$enum> for $crate::event::EventBody {
            fn from(e: $enum) -> Self {
                $crate::event::EventBody::$body(e)
            }
        }
    };
}
