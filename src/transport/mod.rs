//! The network edge: the axum router with the Socket.IO layer, HTTP endpoints, static files,
//! CORS and request tracing. It turns Socket.IO events into chat commands.

mod admission;
mod conformance;
mod detach;
mod events;
mod handshake;
mod http;
mod payload;
mod redis_driver;
mod slow_clients;
mod socketio;

pub use admission::{Admission, admit};
pub use conformance::echo_layer;
pub use handshake::{Admitted, Gatekeeper};
pub use http::{ClientConfig, HttpState, cors, router, trace};
pub use slow_clients::SlowClients;
pub use socketio::{AdapterError, Io, IoLayer, socket_io};
