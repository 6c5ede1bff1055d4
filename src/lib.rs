//! Switchboard: a Socket.IO-compatible chat server.
//!
//! [`build_app`] wires the parts from a [`Config`]; [`serve`] runs them until shutdown. The
//! binary and the tests use the same two functions.

pub mod api;
pub mod auth;
pub mod chat;
pub mod config;
pub mod error;
pub mod healthcheck;
pub mod sinks;
pub mod store;
pub mod transport;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as AutoBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::Service;

use auth::{AuthError, JwtVerifier};
use chat::rate_limit::RateConfig;
use chat::request::Limits;
use chat::{Backends, ChatService, Fanout, FanoutChain};
use sinks::stomp::{StompBridge, StompError, StompSettings};
use store::redis::{RedisBackend, RedisHistory, RedisRoomLocks, RedisRoster};
use store::{LocalRoomLocks, MemoryRoster, MemoryStore, StoreError};
use transport::{AdapterError, Admission, ClientConfig, Gatekeeper, HttpState, Io, SlowClients};

pub use config::Config;

/// How often the upkeep task checks that the shared store answers.
const STORE_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// A built server, ready to [`serve`].
pub struct App {
    pub router: Router,
    pub chat: Arc<ChatService>,
    pub node_id: String,
    pub bridge: Option<Arc<StompBridge>>,
    io: Io,
    upkeep: Option<tokio::task::JoinHandle<()>>,
    /// False once shutdown has begun: `/readyz` answers 503.
    ready: Arc<AtomicBool>,
    drain_delay: Duration,
    shutdown_grace: Duration,
}

/// A configuration that cannot be turned into a running server.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Stomp(#[from] StompError),
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    #[error("redis: {0}")]
    Redis(StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

pub fn limits(config: &Config) -> Limits {
    Limits {
        max_name_chars: config.max_name_len as usize,
        max_room_chars: config.max_room_len as usize,
        max_text_chars: config.max_text as usize,
        history_window: config.history_limit as usize,
    }
}

/// Builds the whole application from its configuration.
pub async fn build_app(config: &Config) -> Result<App, BuildError> {
    let node_id = config.resolved_node_id();
    let (socket_layer, io) = transport::socket_io(config, &node_id).await?;
    let bridge = match &config.stomp_url {
        Some(url) => Some(StompBridge::start(StompSettings {
            url: url.clone(),
            queue_size: config.stomp_queue_size as usize,
            inbound: config
                .stomp_inbound
                .then(|| config.stomp_inbound_destination.clone()),
            node_id: node_id.clone(),
        })?),
        None => None,
    };

    let mut fanouts: Vec<Arc<dyn Fanout>> = vec![io.fanout()];
    fanouts.extend(bridge.as_ref().map(|bridge| bridge.fanout()));
    let backends = backends(config, &node_id).await?;
    let rate = RateConfig {
        per_second: config.rate_limit,
        burst: config.rate_burst,
    };
    let chat = Arc::new(ChatService::new(
        backends,
        Arc::new(FanoutChain(fanouts)),
        limits(config),
        rate,
    ));
    let gatekeeper = match JwtVerifier::from_args(&config.auth)? {
        Some(verifier) => Gatekeeper::Jwt(Box::new(verifier)),
        None => Gatekeeper::Guest(limits(config)),
    };
    let slow_clients = SlowClients::default();
    io.register_namespace(chat.clone(), Arc::new(gatekeeper), slow_clients.clone())
        .await?;
    let upkeep = config
        .redis_url
        .is_some()
        .then(|| tokio::spawn(upkeep(chat.clone(), config.presence_ttl() / 3)));
    if let Some(bridge) = &bridge {
        bridge.start_inbound(chat.clone());
    }

    let ready = Arc::new(AtomicBool::new(true));
    let http_state = HttpState {
        started: Instant::now(),
        ready: ready.clone(),
        store: chat.history_store().clone(),
        connections: io.connection_counter(),
        bridge: bridge.clone(),
        client: ClientConfig::from_config(config),
        slow_client_disconnects: slow_clients,
        scrape: api::metrics::Scrape {
            handle: api::metrics::handle(),
            chat: chat.clone(),
            connections: io.connections_by_transport(),
            bridge: bridge.clone(),
        },
    };
    let mut http = transport::router(http_state, &config.static_dir);
    if let Some(key) = &config.api_key {
        let rate = RateConfig {
            per_second: config.api_rate,
            burst: config.api_burst,
        };
        http = api::rooms::router(chat.clone(), key, rate).merge(http);
    }
    let mut router = socket_layer.wrap(http);
    if !config.engineio_echo_path.is_empty() {
        router = router.layer(transport::echo_layer(config, &config.engineio_echo_path));
    }
    let per_ip = (config.ip_connect_rate > 0.0).then_some(RateConfig {
        per_second: config.ip_connect_rate,
        burst: config.ip_connect_burst,
    });
    let mut engine_paths = vec!["/socket.io/".to_owned()];
    if !config.engineio_echo_path.is_empty() {
        engine_paths.push(format!(
            "{}/",
            config.engineio_echo_path.trim_end_matches('/')
        ));
    }
    let admission = Admission::new(
        engine_paths,
        config.max_connections as usize,
        io.connection_counter(),
        per_ip,
    );
    router = router.layer(axum::middleware::from_fn_with_state(
        admission,
        transport::admit,
    ));
    router = router.layer(transport::trace());
    if let Some(cors) = transport::cors(&config.cors_origins) {
        router = router.layer(cors);
    }
    Ok(App {
        router,
        chat,
        node_id,
        bridge,
        io,
        upkeep,
        ready,
        drain_delay: Duration::from_millis(config.drain_delay_ms),
        shutdown_grace: config.shutdown_grace(),
    })
}

/// In memory for one process; on Redis, shared with every process using the same prefix.
async fn backends(config: &Config, node_id: &str) -> Result<Backends, BuildError> {
    let retained = config.history_limit as usize;
    let Some(url) = &config.redis_url else {
        return Ok(Backends {
            history: Arc::new(MemoryStore::new(retained)),
            roster: Arc::new(MemoryRoster::default()),
            locks: Arc::new(LocalRoomLocks::default()),
        });
    };
    let redis = RedisBackend::connect(url, &config.redis_prefix)
        .await
        .map_err(BuildError::Redis)?;
    let roster = RedisRoster::new(redis.clone(), node_id.to_owned(), config.presence_ttl());
    Ok(Backends {
        history: Arc::new(RedisHistory::new(redis.clone(), retained)),
        roster: Arc::new(roster),
        locks: Arc::new(RedisRoomLocks::new(redis)),
    })
}

/// Runs the chat upkeep (heartbeats, reaping dead processes, retries) every `every`, and
/// probes the store every second so that its connection is re-established by the probe, not by
/// a user's request, after an outage.
async fn upkeep(chat: Arc<ChatService>, every: Duration) {
    let mut probe = tokio::time::interval(STORE_PROBE_INTERVAL);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_maintained: Option<Instant> = None;
    loop {
        probe.tick().await;
        if let Err(error) = chat.history_store().ping().await {
            tracing::debug!(%error, "store probe failed");
        }
        if last_maintained.is_none_or(|at| at.elapsed() >= every) {
            chat.maintain().await;
            last_maintained = Some(Instant::now());
        }
    }
}

/// Largest HTTP/1 read buffer per connection. hyper keeps the allocation of a WebSocket's
/// upgrade request buffer for the whole life of the connection, so its size is paid by every
/// idle WebSocket: 8 KiB (hyper's floor) instead of the 16 KiB it grows to by default. Request
/// heads must fit in it; bodies stream through.
const HTTP1_READ_BUFFER: usize = 8 * 1024;

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, closes every
/// Socket.IO connection (a graceful HTTP shutdown does not see upgraded WebSockets), flushes
/// the bridge, and returns once all is closed or the grace period has passed.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(accept_loop(listener, app.router.clone(), stopped));

    tokio::select! {
        finished = &mut server => return finished.map_err(std::io::Error::other)?,
        () = shutdown => {}
    }
    // Load balancers see /readyz fail first and stop sending new clients here; then the
    // sockets are closed (clients reconnect elsewhere and recover with `since`).
    app.ready.store(false, Ordering::SeqCst);
    tracing::info!(drain = ?app.drain_delay, grace = ?app.shutdown_grace, "shutting down: not ready");
    tokio::time::sleep(app.drain_delay).await;
    tracing::info!("closing connections");
    stop_accepting.send(()).ok();
    let drain = async {
        app.io.close().await;
        if let Some(upkeep) = &app.upkeep {
            upkeep.abort();
        }
        if let Some(bridge) = &app.bridge {
            bridge.shutdown().await;
        }
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

/// Accepts connections and serves HTTP/1 (with upgrades) and HTTP/2 on them until `stop`,
/// then waits for the open HTTP exchanges to finish.
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let mut builder = AutoBuilder::new(TokioExecutor::new());
    builder.http1().max_buf_size(HTTP1_READ_BUFFER);
    let graceful = GracefulShutdown::new();
    // Resolves the routes (and builds their layers, the Engine.IO ones included) once, as
    // axum's own serve does; a router used as is would rebuild them on every request.
    let router = router.with_state(());
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            router.clone().call(request)
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}
