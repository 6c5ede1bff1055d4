//! The Socket.IO server: its engine settings (the same limits on both transports) and the
//! adapter it runs on.

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::layer::SocketIoLayer;

use super::events::register_namespace;
use crate::chat::request::Limits;
use crate::chat::{ChatService, Fanout};
use crate::config::Config;
use crate::sinks::SocketIoFanout;

/// The running Socket.IO server, whichever adapter it uses.
pub enum Io {
    Local(SocketIo),
}

/// A Socket.IO layer and its server, with the configured engine limits and timings.
pub fn socket_io(config: &Config) -> (SocketIoLayer, Io) {
    let max_message = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
    let (layer, io) = SocketIo::builder()
        .ping_interval(config.ping_interval())
        .ping_timeout(config.ping_timeout())
        .max_payload(config.max_payload)
        .ws_max_message_size(max_message)
        .ws_max_frame_size(max_message)
        .build_layer();
    (layer, Io::Local(io))
}

impl Io {
    /// The room broadcast sink on this server.
    pub fn fanout(&self) -> Arc<dyn Fanout> {
        match self {
            Io::Local(io) => Arc::new(SocketIoFanout::new(io.clone())),
        }
    }

    pub fn register_namespace(&self, chat: Arc<ChatService>, limits: Limits) {
        match self {
            Io::Local(io) => register_namespace(io, chat, limits),
        }
    }

    /// Counts the sockets connected to this process.
    pub fn connection_counter(&self) -> Arc<dyn Fn() -> usize + Send + Sync> {
        match self {
            Io::Local(io) => {
                let io = io.clone();
                Arc::new(move || io.sockets().len())
            }
        }
    }

    /// Disconnects every socket.
    pub async fn close(&self) {
        match self {
            Io::Local(io) => io.close().await,
        }
    }
}
