//! Plain HTTP beside Socket.IO: `/healthz`, the demo app's static files, CORS and tracing.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use crate::api::metrics::Scrape;
use crate::config::Config;
use crate::sinks::stomp::StompBridge;
use crate::store::HistoryStore;
use crate::transport::SlowClients;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub started: Instant,
    /// Cleared when shutdown begins.
    pub ready: Arc<AtomicBool>,
    /// Probed by `/healthz`: a store that does not answer makes the server `degraded`.
    pub store: Arc<dyn HistoryStore>,
    /// Live Socket.IO connections on this process.
    pub connections: Arc<dyn Fn() -> usize + Send + Sync>,
    pub bridge: Option<Arc<StompBridge>>,
    pub client: ClientConfig,
    /// Sockets disconnected because they did not keep up with their room.
    pub slow_client_disconnects: SlowClients,
    pub scrape: Scrape,
}

/// What browser clients may learn about the server (`/config.json`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// Web-STOMP endpoint carrying the same chat stream; None when the bridge is off.
    pub web_stomp_url: Option<String>,
    /// Prefix of the per-room chat topic (the room is encoded after it).
    pub stomp_chat_prefix: &'static str,
    pub stomp_presence_prefix: &'static str,
}

impl ClientConfig {
    pub fn from_config(config: &Config) -> Self {
        let web_stomp_url = config.stomp_url.as_ref().map(|url| {
            config
                .stomp_web_url
                .clone()
                .unwrap_or_else(|| default_web_stomp_url(url))
        });
        Self {
            web_stomp_url,
            stomp_chat_prefix: "/topic/chat.",
            stomp_presence_prefix: "/topic/presence.",
        }
    }
}

/// `ws://<broker host>:15674/ws`, RabbitMQ's Web-STOMP default beside its STOMP port.
fn default_web_stomp_url(stomp_url: &str) -> String {
    let uri: Option<http::Uri> = stomp_url.parse().ok();
    let host = uri
        .as_ref()
        .and_then(|uri| uri.host())
        .unwrap_or("localhost");
    format!("ws://{host}:15674/ws")
}

/// The HTTP router: health, static files, and the layers every request goes through.
/// The Socket.IO layer is added by the caller, inside CORS and tracing.
pub fn router(state: HttpState, static_dir: &Path) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/config.json", get(client_config))
        .route("/metrics", get(prometheus))
        .with_state(state)
        .merge(static_files(static_dir))
}

/// CORS for the configured origins: none (same-origin only), a list, or `*`.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]),
    )
}

pub fn trace()
-> TraceLayer<tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>>
{
    TraceLayer::new_for_http()
}

async fn healthz(State(state): State<HttpState>) -> impl IntoResponse {
    let store = state.store.ping().await;
    if let Err(error) = &store {
        tracing::warn!(%error, "health: store unavailable");
    }
    Json(json!({
        "status": if store.is_ok() { "ok" } else { "degraded" },
        "store": if store.is_ok() { "ok" } else { "unavailable" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "connections": (state.connections)(),
        "slow_client_disconnects": state.slow_client_disconnects.total(),
        "stomp": state.bridge.as_ref().map(|bridge| bridge.stats()),
    }))
}

/// Whether this process should get new clients: not while shutting down, nor while its
/// store is unavailable.
async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let draining = !state.ready.load(Ordering::SeqCst);
    let store_ok = state.store.ping().await.is_ok();
    let ready = !draining && store_ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({ "ready": ready, "draining": draining, "store": if store_ok { "ok" } else { "unavailable" } }),
        ),
    )
}

async fn prometheus(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.scrape.render().await,
    )
}

async fn client_config(State(state): State<HttpState>) -> impl IntoResponse {
    Json(state.client)
}

/// The built demo app, or a page saying how to build it. Paths that name no file get the
/// app's page (client-side routes), except paths that look like files (`/assets/old.js`):
/// those get a 404, so a stale asset link fails loudly instead of receiving HTML.
fn static_files(dir: &Path) -> Router {
    let index = dir.join("index.html");
    if index.is_file() {
        let app_shell = Router::new().fallback(
            async move |uri: http::Uri, request: axum::extract::Request| {
                let last = uri.path().rsplit('/').next().unwrap_or_default();
                if last.contains('.') {
                    return StatusCode::NOT_FOUND.into_response();
                }
                match ServeFile::new(&index).try_call(request).await {
                    Ok(response) => response.into_response(),
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            },
        );
        Router::new()
            .fallback_service(ServeDir::new(dir).fallback(app_shell))
            .layer(CompressionLayer::new())
    } else {
        tracing::warn!(dir = %dir.display(), "no index.html: serving a placeholder page at /");
        Router::new()
            .route("/", get(placeholder))
            .fallback(|| async { StatusCode::NOT_FOUND })
    }
}

async fn placeholder() -> Html<&'static str> {
    Html(PLACEHOLDER)
}

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>Switchboard is running</h1>
<p>The demo app is not built, so there is nothing to show here yet.
Build it with <code>npm --prefix client-demo ci &amp;&amp; npm --prefix client-demo run build</code>,
or point <code>--static-dir</code> at a built app.</p>
<p>Socket.IO clients can connect now at <code>/socket.io/</code>; health is at <a href="/healthz">/healthz</a>.</p>
</body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_stomp_url_defaults_to_the_broker_host() {
        assert_eq!(
            default_web_stomp_url("stomp://guest:guest@10.1.2.3:61613/"),
            "ws://10.1.2.3:15674/ws"
        );
        assert_eq!(
            default_web_stomp_url("stomp://broker.local:61613"),
            "ws://broker.local:15674/ws"
        );
    }
}
