//! Room history in Redis. Per room: `<prefix>:room:<room>:seq` (the last seq),
//! `<prefix>:room:<room>:log` (a sorted set of messages scored by seq, trimmed to the window)
//! and `<prefix>:room:<room>:epoch`. A room whose epoch key is gone has lost its data: the
//! append script starts a new epoch and a new sequence, so clients know to reset.

use async_trait::async_trait;
use redis::Script;
use uuid::Uuid;

use super::{RedisBackend, corrupt, unavailable};
use crate::chat::protocol::{Message, MessageDraft};
use crate::store::memory::now_millis;
use crate::store::{HistoryStore, StoreError};

const APPEND: &str = r#"
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[3], epoch)
  redis.call('DEL', KEYS[1], KEYS[2])
end
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
return {seq, epoch}
"#;

pub struct RedisHistory {
    backend: RedisBackend,
    retained: usize,
    append: Script,
}

impl RedisHistory {
    pub fn new(backend: RedisBackend, retained: usize) -> Self {
        Self {
            backend,
            retained: retained.max(1),
            append: Script::new(APPEND),
        }
    }

    fn keys(&self, room: &str) -> [String; 3] {
        ["seq", "log", "epoch"].map(|suffix| self.backend.key(&["room", room, suffix]))
    }

    /// Stored members are messages with `seq` 0; the score is the real seq.
    fn decode(entries: Vec<(String, f64)>) -> Result<Vec<Message>, StoreError> {
        entries
            .into_iter()
            .map(|(json, score)| {
                let mut message: Message = serde_json::from_str(&json).map_err(corrupt)?;
                message.seq = score as u64;
                Ok(message)
            })
            .collect()
    }

    /// `ZRANGE log <from> <to> BYSCORE [REV] [LIMIT 0 n] WITHSCORES`.
    async fn by_seq(
        &self,
        room: &str,
        bounds: Bounds,
        limit: Option<usize>,
    ) -> Result<Vec<Message>, StoreError> {
        let [_, log, _] = self.keys(room);
        let mut command = redis::cmd("ZRANGE");
        command
            .arg(log)
            .arg(bounds.from)
            .arg(bounds.to)
            .arg("BYSCORE");
        if bounds.newest_first {
            command.arg("REV");
        }
        if let Some(limit) = limit {
            command.arg("LIMIT").arg(0).arg(limit);
        }
        let entries: Vec<(String, f64)> = command
            .arg("WITHSCORES")
            .query_async(&mut self.backend.conn())
            .await
            .map_err(unavailable)?;
        Self::decode(entries)
    }
}

/// A seq range in ZRANGE BYSCORE terms (exclusive bounds are written `(n`).
struct Bounds {
    from: String,
    to: String,
    newest_first: bool,
}

impl Bounds {
    /// `seq > after` (and `< before`), oldest first.
    fn after(after: u64, before: Option<u64>) -> Self {
        Self {
            from: format!("({after}"),
            to: before.map_or_else(|| "+inf".to_owned(), |before| format!("({before}")),
            newest_first: false,
        }
    }

    /// `seq < before` (or all), newest first.
    fn newest_before(before: Option<u64>) -> Self {
        Self {
            from: before.map_or_else(|| "+inf".to_owned(), |before| format!("({before}")),
            to: "-inf".to_owned(),
            newest_first: true,
        }
    }
}

#[async_trait]
impl HistoryStore for RedisHistory {
    async fn append(&self, draft: MessageDraft) -> Result<Message, StoreError> {
        let mut message = Message {
            id: Uuid::now_v7().to_string(),
            room: draft.room,
            seq: 0,
            from: draft.from,
            text: draft.text,
            ts: now_millis(),
            client_id: draft.client_id,
        };
        let stored = serde_json::to_string(&message).map_err(corrupt)?;
        let [seq_key, log_key, epoch_key] = self.keys(&message.room);
        let (seq, _epoch): (u64, String) = self
            .append
            .key(seq_key)
            .key(log_key)
            .key(epoch_key)
            .arg(stored)
            .arg(self.retained)
            .arg(Uuid::now_v7().to_string())
            .invoke_async(&mut self.backend.conn())
            .await
            .map_err(unavailable)?;
        message.seq = seq;
        Ok(message)
    }

    async fn since(&self, room: &str, since: u64) -> Result<Vec<Message>, StoreError> {
        self.by_seq(room, Bounds::after(since, None), None).await
    }

    async fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let mut messages = self
            .by_seq(room, Bounds::newest_before(before), Some(limit))
            .await?;
        messages.reverse();
        Ok(messages)
    }

    async fn after(
        &self,
        room: &str,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.by_seq(room, Bounds::after(after, before), Some(limit))
            .await
    }

    async fn epoch(&self, room: &str) -> Result<String, StoreError> {
        let [_, _, epoch_key] = self.keys(room);
        let candidate = Uuid::now_v7().to_string();
        let existing: Option<String> = redis::cmd("SET")
            .arg(epoch_key)
            .arg(&candidate)
            .arg("NX")
            .arg("GET")
            .query_async(&mut self.backend.conn())
            .await
            .map_err(unavailable)?;
        Ok(existing.unwrap_or(candidate))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.backend.ping().await
    }
}
