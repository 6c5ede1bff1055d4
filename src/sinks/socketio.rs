//! Delivers chat events to Socket.IO rooms. Each socket is also in a private room named by
//! its id, which is how "everyone in the room but the sender" is addressed, on this process
//! and, with a cluster adapter, on the others.

use std::str::FromStr;

use async_trait::async_trait;
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;

use crate::chat::protocol::{Message, PresenceEvent, TypingEvent, events};
use crate::chat::{ConnId, Fanout};

pub struct SocketIoFanout<A: Adapter> {
    io: SocketIo<A>,
}

impl<A: Adapter> SocketIoFanout<A> {
    pub fn new(io: SocketIo<A>) -> Self {
        Self { io }
    }

    fn sid(conn: &ConnId) -> Option<Sid> {
        Sid::from_str(conn).ok()
    }

    async fn emit<T: Serialize + ?Sized>(
        &self,
        target: BroadcastOperators<A>,
        room: &str,
        event: &str,
        data: &T,
    ) {
        // A failure here means a socket's outgoing queue is full or the socket is closing: it
        // misses this event and recovers it with `since` when it rejoins.
        if let Err(error) = target.emit(event, data).await {
            tracing::warn!(%room, %event, %error, "broadcast did not reach every socket");
        }
    }
}

#[async_trait]
impl<A: Adapter> Fanout for SocketIoFanout<A> {
    async fn subscribe(&self, conn: &ConnId, room: &str) {
        if let Some(socket) = Self::sid(conn).and_then(|sid| self.io.get_socket(sid)) {
            socket.join(room.to_owned());
        }
    }

    async fn unsubscribe(&self, conn: &ConnId, room: &str) {
        if let Some(socket) = Self::sid(conn).and_then(|sid| self.io.get_socket(sid)) {
            socket.leave(room.to_owned());
        }
    }

    async fn message(&self, message: &Message) {
        let target = self.io.to(message.room.clone());
        self.emit(target, &message.room, events::CHAT_MESSAGE, message)
            .await;
    }

    async fn presence(&self, event: &PresenceEvent, except: &ConnId) {
        let target = self.io.to(event.room.clone()).except(except.clone());
        self.emit(target, &event.room, events::ROOM_PRESENCE, event)
            .await;
    }

    async fn typing(&self, event: &TypingEvent, except: &ConnId) {
        let target = self.io.to(event.room.clone()).except(except.clone());
        self.emit(target, &event.room, events::CHAT_TYPING, event)
            .await;
    }
}
