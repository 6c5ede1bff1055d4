//! The STOMP bridge: republishes chat events to a STOMP broker and, optionally, consumes chat
//! messages from it. (Skeleton: being implemented; every method is a no-op for now.)

use std::sync::Arc;

use crate::chat::{ChatService, Fanout};

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
}

/// Counters for /healthz and metrics.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BridgeStats {
    pub connected: bool,
    pub queued: u64,
    pub published: u64,
    pub dropped: u64,
    pub reconnects: u64,
    pub inbound: u64,
    pub inbound_rejected: u64,
}

pub struct StompBridge {
    settings: StompSettings,
}

impl StompBridge {
    /// Validates the settings and starts connecting in the background; never waits for the broker.
    pub fn start(settings: StompSettings) -> Result<Arc<Self>, StompError> {
        Ok(Arc::new(Self { settings }))
    }

    /// The sink to put in the chat fanout chain.
    pub fn fanout(self: &Arc<Self>) -> Arc<dyn Fanout> {
        Arc::new(crate::chat::FanoutChain(Vec::new()))
    }

    /// Starts consuming inbound messages into `chat` (only when inbound is configured).
    pub fn start_inbound(self: &Arc<Self>, _chat: Arc<ChatService>) {
        let _ = &self.settings;
    }

    pub fn stats(&self) -> BridgeStats {
        BridgeStats::default()
    }

    /// Flushes what is queued (bounded by the caller's grace period) and disconnects cleanly.
    pub async fn shutdown(&self) {}
}
