//! Shared chat state: the per-room message log (history, `seq`, `epoch`), the room rosters
//! behind `members` and `count`, and the per-room lock that keeps a room's events in `seq`
//! order. Each has an in-memory implementation (one process) and a Redis one (a cluster).

pub mod memory;
pub mod redis;

pub use memory::{LocalRoomLocks, MemoryRoster, MemoryStore};

use async_trait::async_trait;

use crate::chat::protocol::{Message, MessageDraft, User};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store returned corrupt data: {0}")]
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

    /// Whether the store can serve requests now.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A connection that left a room, with the room's size after it left.
#[derive(Debug, Clone, PartialEq)]
pub struct Departure {
    pub room: String,
    pub user: User,
    pub count: usize,
}

/// Who is in each room, across every process sharing the store. Entries are per connection.
#[async_trait]
pub trait Roster: Send + Sync + 'static {
    /// Adds the connection; returns the room's connection count after.
    async fn add(&self, room: &str, conn: &str, user: &User) -> Result<usize, StoreError>;

    /// Removes the connection; returns the room's connection count after.
    async fn remove(&self, room: &str, conn: &str) -> Result<usize, StoreError>;

    /// The room's users, one entry per user id, in join order where the store keeps one.
    async fn members(&self, room: &str) -> Result<Vec<User>, StoreError>;

    /// Rooms with at least one connection, with their counts.
    async fn rooms(&self) -> Result<Vec<(String, usize)>, StoreError>;

    /// Periodic upkeep: proves this process alive and removes the entries of processes that
    /// died without leaving. Returns those departures, to be announced.
    async fn maintain(&self) -> Result<Vec<Departure>, StoreError>;
}

/// Serialises the store-then-broadcast of one room, so that every socket receives a room's
/// messages in `seq` order.
#[async_trait]
pub trait RoomLocks: Send + Sync + 'static {
    async fn lock(&self, room: &str) -> Result<RoomGuard, StoreError>;
}

/// Holds a room's lock until dropped.
pub struct RoomGuard {
    _release: Box<dyn Send + Sync>,
}

impl RoomGuard {
    pub fn new(release: impl Send + Sync + 'static) -> Self {
        Self {
            _release: Box::new(release),
        }
    }
}
