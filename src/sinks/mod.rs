//! Where decided chat events go: the Socket.IO room broadcast and the STOMP bridge.

mod socketio;
pub mod stomp;

pub use socketio::{Cluster, ClusterBarrier, SocketIoFanout};
