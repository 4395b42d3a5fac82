use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RedisEvent {
    #[serde(rename = "redis.command")]
    Command(RedisCommand),
    #[serde(rename = "redis.auth")]
    Auth(RedisAuth),
    #[serde(rename = "redis.push")]
    Push(RedisPush),
}

crate::protocol_events!(RedisEvent, Redis {
    Command => "redis.command",
    Auth => "redis.auth",
    Push => "redis.push",
});

/// One client command, paired with its reply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedisCommand {
    /// The command name, upper case (`SET`, `CONFIG`, `AUTH`).
    pub name: String,
    /// The arguments after the name, each capped at 4 KiB, at most 1024.
    pub args: Vec<String>,
    /// A readable rendering of the reply (`OK`, `42`, `[a, b]`,
    /// `{k: v}`, `(nil)`), capped at 4 KiB; null when no reply came.
    pub reply: Option<String>,
    /// False for an error reply; null when no reply came.
    pub success: Option<bool>,
    /// The first key the command touches, for commands that name one.
    pub key: Option<String>,
    /// Sent as an inline (telnet-style) line rather than a RESP array.
    pub inline: bool,
    /// Some argument or the argument list was capped.
    pub truncated: bool,
    /// The reply rendering was capped.
    pub reply_truncated: bool,
}

/// An authentication attempt (`AUTH`, or `HELLO … AUTH user pass`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedisAuth {
    /// The ACL user; null means the `default` user (`AUTH password`).
    pub user: Option<String>,
    pub password: String,
    /// Null when the server never answered.
    pub success: Option<bool>,
    /// The error reply of a failed attempt.
    pub error: Option<String>,
    /// The command that carried the credentials: `AUTH` or `HELLO`.
    pub command: String,
}

/// A server message that answers no command: pub/sub messages and
/// (un)subscribe confirmations, RESP3 push data, MONITOR lines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedisPush {
    /// `message`, `pmessage`, `smessage`, `subscribe`, `unsubscribe`, …,
    /// `invalidate` (RESP3 push kinds, lower case), or `monitor`.
    pub kind: String,
    /// The elements, each capped at 4 KiB, at most 1024 (for `monitor`: the
    /// one line).
    pub items: Vec<String>,
    pub truncated: bool,
}
