//! The Socket.IO server: its engine settings (the same limits on both transports) and the
//! adapter it runs on: in-memory for one process, socketioxide's Redis adapter for several.

use std::sync::Arc;

use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SocketIo, SocketIoBuilder};
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

use super::events::register_namespace;
use super::handshake::Gatekeeper;
use super::redis_driver::ManagedRedisDriver;
use super::slow_clients::SlowClients;
use crate::chat::{ChatService, Fanout};
use crate::config::Config;
use crate::sinks::{Cluster, SocketIoFanout};

pub type ClusterAdapter = CustomRedisAdapter<socketioxide::adapter::Emitter, ManagedRedisDriver>;

/// The running Socket.IO server, whichever adapter it uses.
pub enum Io {
    Local(SocketIo<LocalAdapter>),
    /// With the room every socket of this process joins (see `sinks::socketio`), and the
    /// pub/sub driver (the cluster barrier).
    Cluster(SocketIo<ClusterAdapter>, String, ManagedRedisDriver),
}

/// A Socket.IO layer, type-erased over its adapter.
pub enum IoLayer {
    Local(SocketIoLayer<LocalAdapter>),
    Cluster(SocketIoLayer<ClusterAdapter>),
}

#[derive(Debug, thiserror::Error)]
#[error("cannot reach redis for the Socket.IO adapter: {0}")]
pub struct AdapterError(String);

fn builder(config: &Config) -> SocketIoBuilder {
    let max_message = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
    SocketIo::builder()
        .ping_interval(config.ping_interval())
        .ping_timeout(config.ping_timeout())
        .max_payload(config.max_payload)
        .ws_max_message_size(max_message)
        .ws_max_frame_size(max_message)
        .max_buffer_size(config.max_buffer as usize)
        .ws_read_buffer_size(config.ws_read_buffer as usize)
}

/// The Socket.IO server for this configuration: on Redis when `--redis-url` is set.
pub async fn socket_io(config: &Config, node_id: &str) -> Result<(IoLayer, Io), AdapterError> {
    let Some(url) = &config.redis_url else {
        let (layer, io) = builder(config).build_layer();
        return Ok((IoLayer::Local(layer), Io::Local(io)));
    };
    let barrier_channel = format!("{}-barrier#{node_id}", config.redis_prefix);
    let driver = ManagedRedisDriver::connect(url, barrier_channel)
        .await
        .map_err(|error| AdapterError(error.to_string()))?;
    let adapter_config =
        RedisAdapterConfig::new().with_prefix(format!("{}-socket.io", config.redis_prefix));
    let adapter = RedisAdapterCtr::new_with_driver(driver.clone(), adapter_config);
    let (layer, io) = builder(config)
        .with_adapter::<ClusterAdapter>(adapter)
        .build_layer();
    let node_room = format!("{}:node:{node_id}", config.redis_prefix);
    Ok((IoLayer::Cluster(layer), Io::Cluster(io, node_room, driver)))
}

fn counter<A: Adapter>(io: &SocketIo<A>) -> Arc<dyn Fn() -> usize + Send + Sync> {
    let io = io.clone();
    Arc::new(move || io.sockets().len())
}

type TransportCounts = Arc<dyn Fn() -> Vec<(&'static str, usize)> + Send + Sync>;

fn by_transport<A: Adapter>(io: &SocketIo<A>) -> TransportCounts {
    let io = io.clone();
    Arc::new(move || {
        let (mut polling, mut websocket) = (0, 0);
        for socket in io.sockets() {
            match socket.transport_type() {
                socketioxide::TransportType::Polling => polling += 1,
                socketioxide::TransportType::Websocket => websocket += 1,
            }
        }
        vec![("polling", polling), ("websocket", websocket)]
    })
}

impl Io {
    /// The room broadcast sink on this server.
    pub fn fanout(&self) -> Arc<dyn Fanout> {
        match self {
            Io::Local(io) => Arc::new(SocketIoFanout::new(io.clone(), None)),
            Io::Cluster(io, node_room, driver) => {
                let cluster = Cluster {
                    node_room: node_room.clone(),
                    barrier: Arc::new(driver.clone()),
                };
                Arc::new(SocketIoFanout::new(io.clone(), Some(cluster)))
            }
        }
    }

    /// Registers the chat namespace; on a cluster, waits until the adapter has subscribed.
    pub async fn register_namespace(
        &self,
        chat: Arc<ChatService>,
        gatekeeper: Arc<Gatekeeper>,
        slow_clients: SlowClients,
    ) -> Result<(), AdapterError> {
        match self {
            Io::Local(io) => {
                register_namespace(io, chat, gatekeeper, slow_clients, None);
                Ok(())
            }
            Io::Cluster(io, node_room, _) => {
                register_namespace(io, chat, gatekeeper, slow_clients, Some(node_room.clone()))
                    .await
                    .map_err(|error| AdapterError(error.to_string()))
            }
        }
    }

    /// Counts the sockets connected to this process.
    pub fn connection_counter(&self) -> Arc<dyn Fn() -> usize + Send + Sync> {
        match self {
            Io::Local(io) => counter(io),
            Io::Cluster(io, _, _) => counter(io),
        }
    }

    /// Counts the sockets connected to this process, by transport.
    pub fn connections_by_transport(&self) -> TransportCounts {
        match self {
            Io::Local(io) => by_transport(io),
            Io::Cluster(io, _, _) => by_transport(io),
        }
    }

    /// Disconnects every socket.
    pub async fn close(&self) {
        match self {
            Io::Local(io) => io.close().await,
            Io::Cluster(io, _, _) => io.close().await,
        }
    }
}

impl IoLayer {
    pub fn wrap(self, router: axum::Router) -> axum::Router {
        match self {
            IoLayer::Local(layer) => router.layer(layer),
            IoLayer::Cluster(layer) => router.layer(layer),
        }
    }
}
