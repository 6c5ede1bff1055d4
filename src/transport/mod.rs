//! The network edge: the axum router with the Socket.IO layer, HTTP endpoints, static files,
//! CORS and request tracing. It turns Socket.IO events into chat commands.

mod conformance;
mod events;
mod http;

pub use conformance::echo_layer;
pub use events::register_namespace;
pub use http::{HttpState, cors, router, trace};
