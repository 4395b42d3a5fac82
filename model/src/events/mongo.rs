use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MongoEvent {
    #[serde(rename = "mongo.command")]
    Command(MongoCommand),
}

crate::protocol_events!(MongoEvent, Mongo {
    Command => "mongo.command",
});

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MongoCommand {
    /// `OP_MSG`, `OP_QUERY`, …
    pub opcode: String,
    pub database: Option<String>,
    pub collection: Option<String>,
    pub command: Option<String>,
    /// The command document as canonical extended JSON.
    pub document: Option<serde_json::Value>,
}
