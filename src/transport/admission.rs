//! Admission of new Engine.IO sessions, before Socket.IO sees them: at most `--max-connections`
//! sockets on this process, and a per-IP rate of new sessions. Requests of existing sessions
//! (with a `sid`) always pass. Refusals are JSON errors in Engine.IO's shape: 503 when full,
//! 429 when an address opens sessions too fast. An admitted request goes on detached from
//! the connection's read buffer (see `detach`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use super::detach::detach_from_read_buffer;
use crate::api::metrics::names;
use crate::chat::rate_limit::{RateConfig, TokenBucket};

/// Above this many tracked addresses, buckets that have refilled completely are forgotten.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Clone)]
pub struct Admission {
    /// Request paths of Engine.IO endpoints.
    paths: Vec<String>,
    max_connections: usize,
    connections: Arc<dyn Fn() -> usize + Send + Sync>,
    per_ip: Option<Arc<PerIp>>,
}

struct PerIp {
    rate: RateConfig,
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl PerIp {
    fn allow(&self, ip: IpAddr) -> bool {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, bucket| !bucket.is_full());
        }
        buckets
            .entry(ip)
            .or_insert_with(|| TokenBucket::new(self.rate))
            .try_take()
    }
}

impl Admission {
    /// `max_connections` 0 and `per_ip` None turn the respective check off.
    pub fn new(
        paths: Vec<String>,
        max_connections: usize,
        connections: Arc<dyn Fn() -> usize + Send + Sync>,
        per_ip: Option<RateConfig>,
    ) -> Self {
        Self {
            paths,
            max_connections,
            connections,
            per_ip: per_ip.map(|rate| {
                Arc::new(PerIp {
                    rate,
                    buckets: Mutex::default(),
                })
            }),
        }
    }

    fn opens_a_session(&self, request: &Request) -> bool {
        let uri = request.uri();
        self.paths
            .iter()
            .any(|path| uri.path().starts_with(path.as_str()))
            && !uri
                .query()
                .unwrap_or_default()
                .split('&')
                .any(|pair| pair.starts_with("sid="))
    }
}

fn refuse(status: StatusCode, reason: &'static str, message: &str) -> Response {
    metrics::counter!(names::CONNECTIONS_REFUSED, "reason" => reason).increment(1);
    (status, axum::Json(json!({ "code": 5, "message": message }))).into_response()
}

/// The middleware.
pub async fn admit(State(admission): State<Admission>, request: Request, next: Next) -> Response {
    if !admission.opens_a_session(&request) {
        return next.run(request).await;
    }
    if admission.max_connections > 0 && (admission.connections)() >= admission.max_connections {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "max_connections",
            "server full: too many connections",
        );
    }
    if let Some(per_ip) = &admission.per_ip {
        let ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        if let Some(ip) = ip
            && !per_ip.allow(ip)
        {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "ip_rate",
                "too many new connections from this address",
            );
        }
    }
    next.run(detach_from_read_buffer(request)).await
}
