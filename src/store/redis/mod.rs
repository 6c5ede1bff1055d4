//! The cluster store on Redis: history and `seq` (one Lua script per append, so two processes
//! never hand out the same or a skipped number), room rosters with per-process heartbeats (a
//! process that dies without leaving is reaped within the heartbeat TTL plus one upkeep
//! interval), and per-room locks. Every key starts with the configured prefix.

mod history;
mod locks;
mod roster;

pub use history::RedisHistory;
pub use locks::RedisRoomLocks;
pub use roster::RedisRoster;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::StoreError;

/// How long one Redis command may take before the caller gets `unavailable`.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A shared, self-reconnecting Redis connection and the key prefix.
#[derive(Clone)]
pub struct RedisBackend {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisBackend {
    /// Connects; fails if Redis cannot be reached now. Later outages are survived: commands
    /// fail fast while Redis is away and the connection comes back by itself.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    /// Whether Redis answers now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn())
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

pub(crate) fn unavailable(error: redis::RedisError) -> StoreError {
    metrics::counter!(crate::api::metrics::names::STORE_ERRORS).increment(1);
    StoreError::Unavailable(error.to_string())
}

pub(crate) fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}
