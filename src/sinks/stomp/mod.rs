//! The STOMP bridge: republishes chat events to a STOMP 1.2 broker (RabbitMQ's STOMP plugin)
//! and, optionally, consumes chat messages from it.
//!
//! - Off unless `--stomp-url` is given (`stomp://login:passcode@host:port/vhost`, see [`url`]).
//! - Every `chat:message` is SENT to `/topic/chat.<key>` and every `room:presence` to
//!   `/topic/presence.<key>`, with `<key>` = [`room_routing_key`] (an injective encoding that
//!   keeps `.`, `*`, `#` and `/` out of routing keys). The body is the exact JSON the Socket.IO
//!   clients get; headers: `content-type:application/json`, `x-switchboard-event:<event>`,
//!   `x-switchboard-origin:<node id>`.
//! - Chat never waits for the broker: events go into a bounded queue that drops its oldest
//!   entry when full ([`queue`]); one task owns the connection, confirms every SEND with a
//!   receipt and reconnects with backoff ([`publisher`], [`connection`]).
//! - Inbound (`--stomp-inbound`): see [`inbound`].
//! - [`StompBridge::shutdown`] stops inbound, flushes the queue if connected, and sends
//!   DISCONNECT with a receipt.

pub mod codec;
pub mod connection;
pub mod inbound;
pub mod publisher;
pub mod queue;
pub mod routing;
pub mod url;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::chat::protocol::{Message, PresenceEvent, TypingEvent, events};
use crate::chat::{ChatService, ConnId, Fanout};
use queue::{EventQueue, Outgoing, Throttle};
use url::BrokerUrl;

pub use routing::room_routing_key;

/// What the bridge needs from the configuration.
#[derive(Debug, Clone)]
pub struct StompSettings {
    /// `stomp://login:passcode@host:port/vhost`
    pub url: String,
    pub queue_size: usize,
    /// Destination to consume inbound chat messages from, when inbound is on.
    pub inbound: Option<String>,
    /// `x-switchboard-origin` of everything this process publishes.
    pub node_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StompError {
    #[error("invalid STOMP URL {0:?}: {1}")]
    Url(String, String),
    #[error("invalid STOMP inbound destination {0:?}: {1}")]
    Destination(String, &'static str),
}

/// Counters for /healthz and metrics.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BridgeStats {
    /// Logged in to the broker (both connections when inbound is on).
    pub connected: bool,
    /// Events waiting to be sent.
    pub queued: u64,
    /// Events the broker confirmed with a RECEIPT.
    pub published: u64,
    /// Events lost: pushed out of a full queue, refused by the broker, or left at shutdown.
    pub dropped: u64,
    /// Connections re-established after one was lost.
    pub reconnects: u64,
    /// Inbound messages posted to chat.
    pub inbound: u64,
    /// Inbound messages NACKed as unusable.
    pub inbound_rejected: u64,
    /// Events sent again because their receipt had not arrived when a connection dropped.
    pub resent: u64,
    /// Events sent and not yet confirmed.
    pub in_flight: u64,
}

/// Counters and flags the bridge's tasks update.
#[derive(Debug, Default)]
pub struct Shared {
    out_connected: AtomicBool,
    in_connected: AtomicBool,
    published: AtomicU64,
    reconnects: AtomicU64,
    inbound: AtomicU64,
    inbound_rejected: AtomicU64,
    resent: AtomicU64,
    in_flight: AtomicU64,
}

pub struct StompBridge {
    settings: StompSettings,
    url: BrokerUrl,
    queue: Arc<EventQueue>,
    shared: Arc<Shared>,
    closing: CancellationToken,
    stop_inbound: CancellationToken,
    publisher: Mutex<Option<JoinHandle<()>>>,
    consumer: Mutex<Option<JoinHandle<()>>>,
}

impl StompBridge {
    /// Validates the settings and starts connecting in the background; never waits for the broker.
    pub fn start(settings: StompSettings) -> Result<Arc<Self>, StompError> {
        let url = url::parse(&settings.url)
            .map_err(|reason| StompError::Url(redact(&settings.url), reason))?;
        if let Some(destination) = &settings.inbound
            && !destination.starts_with('/')
        {
            return Err(StompError::Destination(
                destination.clone(),
                "must start with / (e.g. /queue/switchboard.inbound)",
            ));
        }
        let queue = Arc::new(EventQueue::new(settings.queue_size));
        let shared = Arc::new(Shared::default());
        let closing = CancellationToken::new();
        let publisher = publisher::Publisher::new(
            url.clone(),
            settings.node_id.clone(),
            queue.clone(),
            shared.clone(),
            closing.clone(),
        );
        let handle = tokio::spawn(publisher.run());
        Ok(Arc::new(Self {
            settings,
            url,
            queue,
            shared,
            closing,
            stop_inbound: CancellationToken::new(),
            publisher: Mutex::new(Some(handle)),
            consumer: Mutex::new(None),
        }))
    }

    /// The sink to put in the chat fanout chain.
    pub fn fanout(self: &Arc<Self>) -> Arc<dyn Fanout> {
        Arc::new(BridgeFanout {
            queue: self.queue.clone(),
        })
    }

    /// Starts consuming inbound messages into `chat` (only when inbound is configured).
    pub fn start_inbound(self: &Arc<Self>, chat: Arc<ChatService>) {
        let Some(destination) = self.settings.inbound.clone() else {
            return;
        };
        let consumer = inbound::Consumer {
            url: self.url.clone(),
            destination,
            node_id: self.settings.node_id.clone(),
            chat,
            shared: self.shared.clone(),
            stop: self.stop_inbound.clone(),
            rejects: Throttle::new(Duration::from_secs(5)),
        };
        let handle = tokio::spawn(consumer.run());
        if let Some(old) = lock(&self.consumer).replace(handle) {
            old.abort();
        }
    }

    pub fn stats(&self) -> BridgeStats {
        let shared = &self.shared;
        let inbound_on = lock(&self.consumer).is_some();
        BridgeStats {
            connected: shared.out_connected.load(Ordering::SeqCst)
                && (!inbound_on || shared.in_connected.load(Ordering::SeqCst)),
            queued: self.queue.len() as u64,
            published: shared.published.load(Ordering::Relaxed),
            dropped: self.queue.dropped(),
            reconnects: shared.reconnects.load(Ordering::Relaxed),
            inbound: shared.inbound.load(Ordering::Relaxed),
            inbound_rejected: shared.inbound_rejected.load(Ordering::Relaxed),
            resent: shared.resent.load(Ordering::Relaxed),
            in_flight: shared.in_flight.load(Ordering::Relaxed),
        }
    }

    /// Flushes what is queued (bounded by the caller's grace period) and disconnects cleanly.
    /// Without a broker connection at that moment, what is queued is dropped (and counted).
    pub async fn shutdown(&self) {
        self.stop_inbound.cancel();
        let consumer = lock(&self.consumer).take();
        if let Some(consumer) = consumer {
            consumer.await.ok();
        }
        self.queue.close();
        self.closing.cancel();
        let publisher = lock(&self.publisher).take();
        if let Some(publisher) = publisher {
            publisher.await.ok();
        }
        tracing::info!(stats = ?self.stats(), "STOMP bridge stopped");
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The URL without its passcode, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let login = userinfo.split(':').next().unwrap_or_default();
            format!("{}{login}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The bridge's place in the fanout chain: serialize, enqueue, return.
struct BridgeFanout {
    queue: Arc<EventQueue>,
}

impl BridgeFanout {
    fn push(&self, destination: String, event: &'static str, body: serde_json::Result<Vec<u8>>) {
        match body {
            Ok(body) => {
                self.queue.push(Outgoing {
                    destination,
                    event,
                    body: Bytes::from(body),
                    attempts: 0,
                });
            }
            Err(error) => tracing::error!(%error, "cannot serialize a chat event for STOMP"),
        }
    }
}

#[async_trait]
impl Fanout for BridgeFanout {
    async fn subscribe(&self, _conn: &ConnId, _room: &str) {}

    async fn unsubscribe(&self, _conn: &ConnId, _room: &str) {}

    async fn message(&self, message: &Message) {
        self.push(
            routing::chat_destination(&message.room),
            events::CHAT_MESSAGE,
            serde_json::to_vec(message),
        );
    }

    async fn presence(&self, event: &PresenceEvent, _except: &ConnId) {
        self.push(
            routing::presence_destination(&event.room),
            events::ROOM_PRESENCE,
            serde_json::to_vec(event),
        );
    }

    async fn typing(&self, _event: &TypingEvent, _except: &ConnId) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> StompSettings {
        StompSettings {
            url: url.into(),
            queue_size: 3,
            inbound: None,
            node_id: "n1".into(),
        }
    }

    #[test]
    fn redacts_the_passcode() {
        assert_eq!(
            redact("stomp://guest:secret@h:1/"),
            "stomp://guest:***@h:1/"
        );
        assert_eq!(redact("stomp://h:1/"), "stomp://h:1/");
    }

    #[tokio::test]
    async fn refuses_a_bad_url_without_leaking_the_passcode() {
        let error = StompBridge::start(settings("amqp://u:secret@h/"))
            .err()
            .expect("refused");
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[tokio::test]
    async fn fanout_never_waits_and_drops_the_oldest() {
        // Port 9 (discard) on loopback: nothing listens, so the bridge stays disconnected.
        let bridge = StompBridge::start(settings("stomp://127.0.0.1:9/")).unwrap();
        let fanout = bridge.fanout();
        for seq in 1..=10 {
            let message = Message {
                id: format!("m{seq}"),
                room: "r".into(),
                seq,
                from: crate::chat::protocol::User {
                    id: "u".into(),
                    name: "u".into(),
                },
                text: "hi".into(),
                ts: 0,
                client_id: None,
            };
            tokio::time::timeout(Duration::from_millis(50), fanout.message(&message))
                .await
                .expect("fanout returned at once");
        }
        let stats = bridge.stats();
        assert_eq!(
            (stats.queued, stats.dropped, stats.connected),
            (3, 7, false)
        );
        let queued: Vec<u64> = std::iter::from_fn(|| bridge.queue.pop())
            .map(|event| {
                serde_json::from_slice::<serde_json::Value>(&event.body).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(queued, [8, 9, 10]);
        tokio::time::timeout(Duration::from_secs(1), bridge.shutdown())
            .await
            .expect("shutdown without a broker is quick");
    }
}
