//! Plain HTTP beside Socket.IO: `/healthz`, the demo app's static files, CORS and tracing.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub started: Instant,
    /// Live Socket.IO connections on this process.
    pub connections: Arc<dyn Fn() -> usize + Send + Sync>,
}

/// The HTTP router: health, static files, and the layers every request goes through.
/// The Socket.IO layer is added by the caller, inside CORS and tracing.
pub fn router(state: HttpState, static_dir: &Path) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
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
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "connections": (state.connections)(),
    }))
}

/// The built demo app, or a page saying how to build it.
fn static_files(dir: &Path) -> Router {
    let index = dir.join("index.html");
    if index.is_file() {
        let files = ServeDir::new(dir).fallback(ServeFile::new(index));
        Router::new()
            .fallback_service(files)
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
