//! The wire types of the chat contract (v1.1): what clients send, and what the server emits
//! and acks. Field names here are public API.

use serde::{Deserialize, Serialize};

/// Who sent a message or changed presence. Without JWT auth the id is the socket id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
}

/// One stored chat message, as emitted in `chat:message` and returned in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub room: String,
    pub seq: u64,
    pub from: User,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub ts: u64,
    #[serde(rename = "clientId", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// What the chat layer hands to the store; the store assigns `id`, `seq` and `ts`.
#[derive(Debug, Clone)]
pub struct MessageDraft {
    pub room: String,
    pub from: User,
    pub text: String,
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceAction {
    Join,
    Leave,
}

/// `room:presence`: sent to the room's other sockets.
#[derive(Debug, Clone, Serialize)]
pub struct PresenceEvent {
    pub room: String,
    pub action: PresenceAction,
    pub user: User,
    /// Sockets in the room after the change.
    pub count: usize,
}

/// `chat:typing`: sent to the room except the typist.
#[derive(Debug, Clone, Serialize)]
pub struct TypingEvent {
    pub room: String,
    pub user: User,
    pub typing: bool,
}

/// Success body of `room:join`.
#[derive(Debug, Serialize)]
pub struct JoinReply {
    pub room: String,
    pub epoch: String,
    pub members: Vec<User>,
    pub history: Vec<Message>,
}

/// Success body of `chat:send`.
#[derive(Debug, Serialize)]
pub struct SendReply {
    pub message: Message,
}

/// Success body of `chat:history`.
#[derive(Debug, Serialize)]
pub struct HistoryReply {
    pub epoch: String,
    pub messages: Vec<Message>,
}

/// Success body of `room:leave`: just `{ ok: true }`.
#[derive(Debug, Serialize)]
pub struct LeaveReply {}

/// Event names of the contract.
pub mod events {
    pub const ROOM_JOIN: &str = "room:join";
    pub const ROOM_LEAVE: &str = "room:leave";
    pub const ROOM_PRESENCE: &str = "room:presence";
    pub const CHAT_SEND: &str = "chat:send";
    pub const CHAT_MESSAGE: &str = "chat:message";
    pub const CHAT_TYPING: &str = "chat:typing";
    pub const CHAT_HISTORY: &str = "chat:history";
}
