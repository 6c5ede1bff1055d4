//! An Engine.IO echo endpoint (default path `/engine.io/`): every message a client sends comes
//! back to it. The official Engine.IO protocol test suite drives exactly such an endpoint, so
//! this lets it check our transport layer (the same engine, limits and timings as Socket.IO)
//! against a running server. It reaches no room and no other client.

use std::sync::Arc;

use bytes::Bytes;
use engineioxide::config::EngineIoConfig;
use engineioxide::handler::EngineIoHandler;
use engineioxide::layer::EngineIoLayer;
use engineioxide::{DisconnectReason, Socket, Str};

use crate::config::Config;

#[derive(Debug, Default, Clone)]
pub struct Echo;

impl EngineIoHandler for Echo {
    type Data = ();

    fn on_connect(self: Arc<Self>, _socket: Arc<Socket<()>>) {}

    fn on_disconnect(&self, _socket: Arc<Socket<()>>, _reason: DisconnectReason) {}

    fn on_message(self: &Arc<Self>, message: Str, socket: Arc<Socket<()>>) {
        socket.emit(message).ok();
    }

    fn on_binary(self: &Arc<Self>, data: Bytes, socket: Arc<Socket<()>>) {
        socket.emit_binary(data).ok();
    }
}

/// The echo layer at `path`, with the server's Engine.IO settings.
pub fn echo_layer(config: &Config, path: &str) -> EngineIoLayer<Echo> {
    let max_message = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
    let engine = EngineIoConfig::builder()
        .req_path(path.to_owned())
        .ping_interval(config.ping_interval())
        .ping_timeout(config.ping_timeout())
        .max_payload(config.max_payload)
        .ws_max_message_size(max_message)
        .ws_max_frame_size(max_message)
        .build();
    EngineIoLayer::from_config(Arc::new(Echo), engine)
}
