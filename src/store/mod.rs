//! Message history: the per-room log that gives each message its `seq`, serves recovery
//! (`since`) and paging (`before`/`after`), and names the log's lifetime with an `epoch`.

mod memory;

pub use memory::MemoryStore;

use async_trait::async_trait;

use crate::chat::protocol::{Message, MessageDraft};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("history store unavailable: {0}")]
    Unavailable(String),
    #[error("history store returned corrupt data: {0}")]
    Corrupt(String),
}

/// A per-room, append-only message log with a bounded retained window.
///
/// Implementations assign `seq` (from 1, no gaps, per room), a globally unique `id` and `ts`.
/// All reads return messages in ascending `seq` order.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Stores a message and returns it with its `id`, `seq` and `ts`.
    async fn append(&self, draft: MessageDraft) -> Result<Message, StoreError>;

    /// Every retained message with `seq > since`.
    async fn since(&self, room: &str, since: u64) -> Result<Vec<Message>, StoreError>;

    /// The last `limit` retained messages with `seq < before` (all of them when `before` is None).
    async fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;

    /// The first `limit` retained messages with `seq > after` (and `seq < before` when given).
    async fn after(
        &self,
        room: &str,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;

    /// The name of the room's current sequence lifetime.
    async fn epoch(&self, room: &str) -> Result<String, StoreError>;
}
