//! Switchboard: a Socket.IO-compatible chat server.
//!
//! [`build_app`] wires the parts from a [`Config`]; [`serve`] runs them until shutdown. The
//! binary and the tests use the same two functions.

pub mod chat;
pub mod config;
pub mod error;
pub mod sinks;
pub mod store;
pub mod transport;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use socketioxide::SocketIo;
use tokio::net::TcpListener;

use chat::ChatService;
use chat::rate_limit::RateConfig;
use chat::request::Limits;
use sinks::SocketIoFanout;
use store::MemoryStore;
use transport::HttpState;

pub use config::Config;

/// Longest name accepted in name-only mode.
const MAX_NAME_CHARS: usize = 64;

/// A built server, ready to [`serve`].
pub struct App {
    pub router: Router,
    pub io: SocketIo,
    pub chat: Arc<ChatService>,
    pub shutdown_grace: Duration,
}

pub fn limits(config: &Config) -> Limits {
    Limits {
        max_name_chars: MAX_NAME_CHARS,
        max_room_chars: config.max_room_len as usize,
        max_text_chars: config.max_text as usize,
        history_window: config.history_limit as usize,
    }
}

/// Builds the whole application from its configuration.
pub fn build_app(config: &Config) -> App {
    let max_message = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
    let (socket_layer, io) = SocketIo::builder()
        .ping_interval(config.ping_interval())
        .ping_timeout(config.ping_timeout())
        .max_payload(config.max_payload)
        .ws_max_message_size(max_message)
        .ws_max_frame_size(max_message)
        .build_layer();

    let store = Arc::new(MemoryStore::new(config.history_limit as usize));
    let fanout = Arc::new(SocketIoFanout::new(io.clone()));
    let rate = RateConfig {
        per_second: config.rate_limit,
        burst: config.rate_burst,
    };
    let chat = Arc::new(ChatService::new(store, fanout, limits(config), rate));
    transport::register_namespace(&io, chat.clone(), limits(config));

    let counted = io.clone();
    let http_state = HttpState {
        started: Instant::now(),
        connections: Arc::new(move || counted.sockets().len()),
    };
    let mut router = transport::router(http_state, &config.static_dir).layer(socket_layer);
    if !config.engineio_echo_path.is_empty() {
        router = router.layer(transport::echo_layer(config, &config.engineio_echo_path));
    }
    router = router.layer(transport::trace());
    if let Some(cors) = transport::cors(&config.cors_origins) {
        router = router.layer(cors);
    }
    App {
        router,
        io,
        chat,
        shutdown_grace: config.shutdown_grace(),
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, closes every
/// Socket.IO connection (axum's own graceful shutdown does not see upgraded WebSockets) and
/// returns once everything is closed or the grace period has passed.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = app
        .router
        .into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            stopped.await.ok();
        })
        .into_future();
    let mut server = tokio::spawn(server);

    tokio::select! {
        finished = &mut server => return finished.map_err(std::io::Error::other)?,
        () = shutdown => {}
    }
    tracing::info!(grace = ?app.shutdown_grace, "shutting down: closing connections");
    stop_accepting.send(()).ok();
    let drain = async {
        app.io.close().await;
        server.await
    };
    match tokio::time::timeout(app.shutdown_grace, drain).await {
        Ok(finished) => finished.map_err(std::io::Error::other)?,
        Err(_) => {
            tracing::warn!("grace period over; exiting with connections still open");
            Ok(())
        }
    }
}
