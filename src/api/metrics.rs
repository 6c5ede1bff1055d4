//! Prometheus metrics at `/metrics`. Counters and histograms are recorded where things
//! happen (through the `metrics` facade); gauges that describe current state (connections,
//! rooms, the bridge) are read when scraped.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::chat::ChatService;
use crate::sinks::stomp::StompBridge;

/// Metric names, in one place.
pub mod names {
    pub const CONNECTIONS: &str = "switchboard_connections";
    pub const ROOMS: &str = "switchboard_rooms";
    pub const MESSAGES_RECEIVED: &str = "switchboard_messages_received_total";
    pub const MESSAGES_BROADCAST: &str = "switchboard_messages_broadcast_total";
    pub const DELIVERIES: &str = "switchboard_deliveries_total";
    pub const ACKS: &str = "switchboard_acks_total";
    pub const SEND_DURATION: &str = "switchboard_chat_send_duration_seconds";
    pub const RATE_LIMITED: &str = "switchboard_rate_limited_total";
    pub const SLOW_CLIENT_DISCONNECTS: &str = "switchboard_slow_client_disconnects_total";
    pub const HISTORY_MESSAGES: &str = "switchboard_history_messages";
    pub const STORE_ERRORS: &str = "switchboard_store_errors_total";
    pub const CONNECTIONS_REFUSED: &str = "switchboard_connections_refused_total";
    pub const STOMP_CONNECTED: &str = "switchboard_stomp_connected";
    pub const STOMP_QUEUE_DEPTH: &str = "switchboard_stomp_queue_depth";
    pub const STOMP_PUBLISHED: &str = "switchboard_stomp_published_total";
    pub const STOMP_DROPPED: &str = "switchboard_stomp_dropped_total";
    pub const STOMP_RECONNECTS: &str = "switchboard_stomp_reconnects_total";
    pub const STOMP_INBOUND: &str = "switchboard_stomp_inbound_total";
    pub const STOMP_INBOUND_REJECTED: &str = "switchboard_stomp_inbound_rejected_total";
}

/// The process-wide recorder (the `metrics` facade takes one per process).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 0.5, 1.0,
                ])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}

/// What the scrape reads besides the recorded series.
#[derive(Clone)]
pub struct Scrape {
    pub handle: PrometheusHandle,
    pub chat: Arc<ChatService>,
    /// Connected sockets by transport name.
    pub connections: Arc<dyn Fn() -> Vec<(&'static str, usize)> + Send + Sync>,
    pub bridge: Option<Arc<StompBridge>>,
}

impl Scrape {
    /// The Prometheus text exposition of every metric.
    pub async fn render(&self) -> String {
        for (transport, count) in (self.connections)() {
            metrics::gauge!(names::CONNECTIONS, "transport" => transport).set(count as f64);
        }
        match self.chat.roster().rooms().await {
            Ok(rooms) => metrics::gauge!(names::ROOMS).set(rooms.len() as f64),
            Err(error) => tracing::debug!(%error, "rooms gauge not updated"),
        }
        if let Some(bridge) = &self.bridge {
            let stats = bridge.stats();
            metrics::gauge!(names::STOMP_CONNECTED).set(f64::from(u8::from(stats.connected)));
            metrics::gauge!(names::STOMP_QUEUE_DEPTH).set(stats.queued as f64);
            metrics::counter!(names::STOMP_PUBLISHED).absolute(stats.published);
            metrics::counter!(names::STOMP_DROPPED).absolute(stats.dropped);
            metrics::counter!(names::STOMP_RECONNECTS).absolute(stats.reconnects);
            metrics::counter!(names::STOMP_INBOUND).absolute(stats.inbound);
            metrics::counter!(names::STOMP_INBOUND_REJECTED).absolute(stats.inbound_rejected);
        }
        self.handle.render()
    }
}
