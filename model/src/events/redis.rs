use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RedisEvent {
    #[serde(rename = "redis.command")]
    Command(RedisCommand),
}

crate::protocol_events!(RedisEvent, Redis {
    Command => "redis.command",
});

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedisCommand {
    pub name: String,
    pub args: Vec<String>,
    pub reply: Option<String>,
    pub success: Option<bool>,
}
