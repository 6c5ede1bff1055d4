//! Delivers chat events to Socket.IO rooms.
//!
//! Each event is serialised once and the same packet is queued for every socket of the room
//! on this process (and handed to the cluster adapter for the others). A socket whose outgoing queue is full (a client that does not keep up) is
//! never left with a silent gap: the patched engineioxide refuses it every later packet and
//! closes its session, `transport::slow_clients` counts and logs it, and its client
//! reconnects and recovers what it missed with `since`. With a cluster adapter, sockets of
//! other processes are reached through the adapter; every socket is also in a room named
//! after its process, which is how "the other processes" are addressed.

use std::collections::{HashMap, hash_map};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SocketError, SocketIo};

use crate::api::metrics::names;
use crate::chat::protocol::{Message, PresenceEvent, TypingEvent, events};
use crate::chat::{ConnId, Fanout};

/// Makes sure this process has handed every message that other processes published before now
/// to its sockets (see `transport::redis_driver`).
pub trait ClusterBarrier: Send + Sync {
    fn catch_up(&self) -> BoxFuture<'_, ()>;
}

/// How this process reaches the others.
pub struct Cluster {
    /// The room every local socket is in.
    pub node_room: String,
    pub barrier: Arc<dyn ClusterBarrier>,
}

pub struct SocketIoFanout<A: Adapter> {
    io: SocketIo<A>,
    /// None on a single process.
    cluster: Option<Cluster>,
    /// How many of this process's sockets are subscribed to each room: the deliveries metric
    /// of a message without listing the room's sockets for every event.
    members: Mutex<HashMap<String, usize>>,
}

impl<A: Adapter> SocketIoFanout<A> {
    pub fn new(io: SocketIo<A>, cluster: Option<Cluster>) -> Self {
        Self {
            io,
            cluster,
            members: Mutex::default(),
        }
    }

    fn members(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.members
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn socket(&self, conn: &ConnId) -> Option<SocketRef<A>> {
        // Through `of("/")`: `SocketIo::get_socket` panics once the namespace is gone, which
        // it is while the server shuts down and disconnected sockets still leave their rooms.
        let sid = Sid::from_str(conn).ok()?;
        self.io.of("/")?.get_socket(sid)
    }

    /// The room's sockets on this process, but `sender`.
    fn local_targets(
        &self,
        room: &str,
        sender: Option<&SocketRef<A>>,
    ) -> Option<BroadcastOperators<A>> {
        match sender {
            // A socket's broadcast skips the socket itself.
            Some(sender) => Some(sender.local().to(room.to_owned())),
            // The namespace is gone while the server shuts down: nobody is left to tell.
            None => self.io.of("/").map(|ns| ns.local().to(room.to_owned())),
        }
    }

    /// Sends `event` to the room's sockets, except the socket `except`.
    async fn deliver<T: Serialize + ?Sized>(
        &self,
        room: &str,
        except: Option<&ConnId>,
        event: &str,
        data: &T,
    ) {
        // Serialised once, for this process's broadcast and the cluster's.
        let payload = match serde_json::value::to_raw_value(data) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(%event, %error, "event not serialisable");
                return;
            }
        };
        // `except` is a socket of this process (or of a dead one, which is in no room): other
        // processes never have it, so it is skipped here rather than given a room of its own.
        let sender = except.and_then(|conn| self.socket(conn));
        let expected = match &sender {
            // Presence and typing (not the hot path): the sender may or may not be in the room.
            Some(_) => self
                .local_targets(room, sender.as_ref())
                .map_or(0, |targets| targets.sockets().len()),
            None => self.members().get(room).copied().unwrap_or(0),
        };
        if let Some(targets) = self.local_targets(room, sender.as_ref()) {
            let failed = failures(targets.emit(event, &payload).await, room, event);
            let delivered = expected.saturating_sub(failed) as u64;
            metrics::counter!(names::DELIVERIES, "event" => event.to_owned()).increment(delivered);
        }
        if let (Some(cluster), Some(remote)) = (&self.cluster, self.io.of("/")) {
            let remote = remote.to(room.to_owned()).except(cluster.node_room.clone());
            if let Err(error) = remote.emit(event, &payload).await {
                tracing::warn!(%room, %event, %error, "cluster broadcast failed");
            }
        }
    }
}

/// How many sockets a local broadcast did not reach (all of them if it failed as a whole).
/// A full queue has closed its session (see the module doc); a closed socket is on its way out.
fn failures(result: Result<(), BroadcastError>, room: &str, event: &str) -> usize {
    match result {
        Ok(()) => 0,
        Err(BroadcastError::Socket(errors)) => {
            let full = errors
                .iter()
                .filter(|e| matches!(e, SocketError::InternalChannelFull))
                .count();
            tracing::debug!(%room, %event, full, closed = errors.len() - full, "not delivered to every socket");
            errors.len()
        }
        Err(error) => {
            tracing::error!(%room, %event, %error, "broadcast failed");
            usize::MAX
        }
    }
}

#[async_trait]
impl<A: Adapter> Fanout for SocketIoFanout<A> {
    async fn subscribe(&self, conn: &ConnId, room: &str) {
        *self.members().entry(room.to_owned()).or_default() += 1;
        if let Some(socket) = self.socket(conn) {
            socket.join(room.to_owned());
        }
    }

    async fn unsubscribe(&self, conn: &ConnId, room: &str) {
        if let hash_map::Entry::Occupied(mut count) = self.members().entry(room.to_owned()) {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
        if let Some(socket) = self.socket(conn) {
            socket.leave(room.to_owned());
        }
    }

    async fn message(&self, message: &Message) {
        metrics::counter!(names::MESSAGES_BROADCAST).increment(1);
        // The room lock orders the cluster's appends; this orders this process's deliveries.
        if let Some(cluster) = &self.cluster {
            cluster.barrier.catch_up().await;
        }
        self.deliver(&message.room, None, events::CHAT_MESSAGE, message)
            .await;
    }

    async fn presence(&self, event: &PresenceEvent, except: &ConnId) {
        self.deliver(&event.room, Some(except), events::ROOM_PRESENCE, event)
            .await;
    }

    async fn typing(&self, event: &TypingEvent, except: &ConnId) {
        self.deliver(&event.room, Some(except), events::CHAT_TYPING, event)
            .await;
    }
}
