//! Delivers chat events to Socket.IO rooms.
//!
//! Sockets of this process get each event one by one, so that a socket whose outgoing queue
//! is full (a client that does not keep up) is known by name. Such a socket is never left with
//! a silent gap: it gets no further events, is disconnected as soon as its queue has room for
//! the disconnect packet (or by its next ping, which cannot be queued either), and is counted;
//! its client reconnects and recovers what it missed with `since`. With a cluster adapter,
//! sockets of other processes are reached through the adapter; every socket is also in a
//! room named after its process, which is how "the other processes" are addressed.
//!
//! Each socket is also in a private room named by its id, which is how "everyone in the room
//! but the sender" is addressed.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError, SocketIo};

use crate::api::metrics::names;
use crate::chat::protocol::{Message, PresenceEvent, TypingEvent, events};
use crate::chat::{ConnId, Fanout};

/// How long an overflowed socket may take to accept its disconnect packet before we stop
/// trying (its next ping fails for the same reason and closes it).
const OVERFLOW_DISCONNECT_WINDOW: Duration = Duration::from_secs(30);

/// Marks a socket whose outgoing queue overflowed; it receives nothing more.
#[derive(Clone)]
struct Overflowed;

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
    overflows: Arc<AtomicU64>,
}

impl<A: Adapter> SocketIoFanout<A> {
    pub fn new(io: SocketIo<A>, cluster: Option<Cluster>, overflows: Arc<AtomicU64>) -> Self {
        Self {
            io,
            cluster,
            overflows,
        }
    }

    fn socket(&self, conn: &ConnId) -> Option<SocketRef<A>> {
        Sid::from_str(conn)
            .ok()
            .and_then(|sid| self.io.get_socket(sid))
    }

    /// Sends `event` to the room's sockets, except the socket `except`.
    async fn deliver<T: Serialize + ?Sized>(
        &self,
        room: &str,
        except: Option<&ConnId>,
        event: &str,
        data: &T,
    ) {
        // Serialised once, then copied verbatim into each socket's packet.
        let payload = match serde_json::value::to_raw_value(data) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(%event, %error, "event not serialisable");
                return;
            }
        };
        // The namespace is gone while the server shuts down: nobody is left to tell.
        let Some(local) = self.io.of("/") else {
            return;
        };
        // `except` is a socket of this process (or of a dead one): other processes never
        // have it, so it is filtered here rather than given a room of its own per socket.
        let except = except.and_then(|conn| Sid::from_str(conn).ok());
        let mut delivered = 0;
        for socket in local.local().to(room.to_owned()).sockets() {
            if Some(socket.id) != except {
                delivered += u64::from(self.send(socket, event, &payload));
            }
        }
        metrics::counter!(names::DELIVERIES, "event" => event.to_owned()).increment(delivered);
        if let (Some(cluster), Some(remote)) = (&self.cluster, self.io.of("/")) {
            let remote = remote.to(room.to_owned()).except(cluster.node_room.clone());
            if let Err(error) = remote.emit(event, &payload).await {
                tracing::warn!(%room, %event, %error, "cluster broadcast failed");
            }
        }
    }

    /// Whether the packet was queued for the socket.
    fn send(&self, socket: SocketRef<A>, event: &str, payload: &RawValue) -> bool {
        if socket.extensions.get::<Overflowed>().is_some() {
            return false;
        }
        match socket.emit(event, payload) {
            Ok(()) => return true,
            Err(SendError::Socket(SocketError::Closed)) => {}
            Err(SendError::Socket(SocketError::InternalChannelFull)) => self.overflowed(socket),
            Err(error) => tracing::error!(sid = %socket.id, %event, %error, "emit failed"),
        }
        false
    }

    fn overflowed(&self, socket: SocketRef<A>) {
        if socket.extensions.insert(Overflowed).is_some() {
            return;
        }
        let total = self.overflows.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::counter!(names::SLOW_CLIENT_DISCONNECTS).increment(1);
        tracing::warn!(sid = %socket.id, total, "client too slow: outgoing queue full; disconnecting it");
        tokio::spawn(async move {
            let started = Instant::now();
            while started.elapsed() < OVERFLOW_DISCONNECT_WINDOW {
                match socket.clone().disconnect() {
                    Err(SocketError::InternalChannelFull) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Ok(()) | Err(SocketError::Closed) => return,
                }
            }
        });
    }
}

#[async_trait]
impl<A: Adapter> Fanout for SocketIoFanout<A> {
    async fn subscribe(&self, conn: &ConnId, room: &str) {
        if let Some(socket) = self.socket(conn) {
            socket.join(room.to_owned());
        }
    }

    async fn unsubscribe(&self, conn: &ConnId, room: &str) {
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
