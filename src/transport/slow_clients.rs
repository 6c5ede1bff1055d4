//! Counts and logs the sockets closed for not keeping up with what is sent to them.
//!
//! The policy is in the patched engineioxide (`vendor/engineioxide/PATCHED.md`): the first
//! packet that finds a socket's outgoing queue (`--max-buffer` packets) full closes its
//! session, and the socket takes no packet after it, so its client has a gap-free prefix of
//! the stream and recovers the rest with `since` once it has reconnected. Such a socket is
//! told apart from other disconnections by the flag engineioxide leaves in its request
//! extensions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use engineioxide::socket::QueueOverflow;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use crate::api::metrics::names;

/// The running count of slow-client disconnects (for `/healthz` and `/metrics`).
#[derive(Clone, Default)]
pub struct SlowClients(Arc<AtomicU64>);

impl SlowClients {
    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Called for every disconnected socket; counts it if its queue overflowed.
    pub fn on_disconnect<A: Adapter>(&self, socket: &SocketRef<A>) {
        let overflowed = socket
            .req_parts()
            .extensions
            .get::<Arc<QueueOverflow>>()
            .is_some_and(|flag| flag.happened());
        if overflowed {
            let total = self.0.fetch_add(1, Ordering::Relaxed) + 1;
            metrics::counter!(names::SLOW_CLIENT_DISCONNECTS).increment(1);
            tracing::warn!(sid = %socket.id, total, "client too slow: outgoing queue full; disconnected it");
        }
    }
}
