//! Per-room locks across processes: a local lock first (so one process queues its own
//! senders without touching Redis), then `<prefix>:lock:<room>` with a random token and an
//! expiry, released only by its holder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::Script;
use uuid::Uuid;

use super::{RedisBackend, unavailable};
use crate::store::{LocalRoomLocks, RoomGuard, RoomLocks, StoreError};

/// A holder that died (or exited before its release ran) frees the room after this long.
const LOCK_EXPIRY: Duration = Duration::from_secs(2);
/// Give up (and answer `unavailable`) after waiting this long for a room: longer than the
/// expiry, so a lock left behind by a dead holder is waited out, not reported.
const LOCK_WAIT: Duration = Duration::from_secs(3);

const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

pub struct RedisRoomLocks {
    backend: RedisBackend,
    local: LocalRoomLocks,
    release: Arc<Script>,
}

impl RedisRoomLocks {
    pub fn new(backend: RedisBackend) -> Self {
        Self {
            backend,
            local: LocalRoomLocks::default(),
            release: Arc::new(Script::new(RELEASE)),
        }
    }
}

/// Releases the Redis lock when the guard is dropped.
struct Release {
    backend: RedisBackend,
    key: String,
    token: String,
    script: Arc<Script>,
}

impl Drop for Release {
    fn drop(&mut self) {
        let mut conn = self.backend.conn();
        let key = std::mem::take(&mut self.key);
        let token = std::mem::take(&mut self.token);
        let script = self.script.clone();
        tokio::spawn(async move {
            let released: Result<i64, _> = script.key(key).arg(token).invoke_async(&mut conn).await;
            if let Err(error) = released {
                tracing::warn!(%error, "room lock not released; it expires by itself");
            }
        });
    }
}

#[async_trait]
impl RoomLocks for RedisRoomLocks {
    async fn lock(&self, room: &str) -> Result<RoomGuard, StoreError> {
        let local = self.local.lock_owned(room).await;
        let key = self.backend.key(&["lock", room]);
        let token = Uuid::now_v7().to_string();
        let mut conn = self.backend.conn();
        let started = Instant::now();
        let mut backoff = Duration::from_millis(1);
        loop {
            let acquired: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(LOCK_EXPIRY.as_millis() as u64)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if acquired.is_some() {
                let release = Release {
                    backend: self.backend.clone(),
                    key,
                    token,
                    script: self.release.clone(),
                };
                // Field order: the Redis lock is released before the local one.
                return Ok(RoomGuard::new((release, local)));
            }
            if started.elapsed() > LOCK_WAIT {
                return Err(StoreError::Unavailable(format!(
                    "room {room:?} stayed locked"
                )));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(20));
        }
    }
}
