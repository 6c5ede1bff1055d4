//! The chat domain: the contract's commands (join, leave, send, typing, history), their
//! validation, rate limits and presence. It knows nothing of HTTP, Socket.IO or STOMP: events
//! leave through the [`Fanout`] port, messages are kept by a [`HistoryStore`].
//!
//! [`HistoryStore`]: crate::store::HistoryStore

pub mod presence;
pub mod protocol;
pub mod rate_limit;
pub mod request;
mod service;

pub use service::{Backends, ChatService, Session};

use async_trait::async_trait;

use protocol::{Message, PresenceEvent, TypingEvent};

/// A connection's identity on this process (the Socket.IO socket id).
pub type ConnId = String;

/// Where chat events go once they are decided: room membership for delivery and the
/// events themselves. Implementations must not block for long: chat waits for them.
#[async_trait]
pub trait Fanout: Send + Sync + 'static {
    /// The connection now receives the room's events.
    async fn subscribe(&self, conn: &ConnId, room: &str);
    /// The connection no longer receives the room's events (it left the room, or it is gone).
    async fn unsubscribe(&self, conn: &ConnId, room: &str);
    /// `chat:message` to every socket in the room, the sender included.
    async fn message(&self, message: &Message);
    /// `room:presence` to the room's sockets except `except`.
    async fn presence(&self, event: &PresenceEvent, except: &ConnId);
    /// `chat:typing` to the room's sockets except `except`.
    async fn typing(&self, event: &TypingEvent, except: &ConnId);
}

/// Several fanouts in a fixed order (the room broadcast first, then bridges).
pub struct FanoutChain(pub Vec<std::sync::Arc<dyn Fanout>>);

#[async_trait]
impl Fanout for FanoutChain {
    async fn subscribe(&self, conn: &ConnId, room: &str) {
        for fanout in &self.0 {
            fanout.subscribe(conn, room).await;
        }
    }

    async fn unsubscribe(&self, conn: &ConnId, room: &str) {
        for fanout in &self.0 {
            fanout.unsubscribe(conn, room).await;
        }
    }

    async fn message(&self, message: &Message) {
        for fanout in &self.0 {
            fanout.message(message).await;
        }
    }

    async fn presence(&self, event: &PresenceEvent, except: &ConnId) {
        for fanout in &self.0 {
            fanout.presence(event, except).await;
        }
    }

    async fn typing(&self, event: &TypingEvent, except: &ConnId) {
        for fanout in &self.0 {
            fanout.typing(event, except).await;
        }
    }
}
