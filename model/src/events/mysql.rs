use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MysqlEvent {
    #[serde(rename = "mysql.login")]
    Login(MysqlLogin),
    #[serde(rename = "mysql.command")]
    Command(MysqlCommand),
}

crate::protocol_events!(MysqlEvent, Mysql {
    Login => "mysql.login",
    Command => "mysql.command",
});

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MysqlLogin {
    pub user: String,
    pub database: Option<String>,
    pub success: Option<bool>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MysqlCommand {
    pub command: String,
    pub arg: String,
    pub success: Option<bool>,
    pub rows: Option<u64>,
    pub error: Option<String>,
}
