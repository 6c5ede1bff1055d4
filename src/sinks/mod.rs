//! Where decided chat events go: today the Socket.IO room broadcast.

mod socketio;

pub use socketio::SocketIoFanout;
