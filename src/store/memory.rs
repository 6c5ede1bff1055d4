//! In-process state for a single server: a ring of the last N messages per room (lost on
//! restart, which is why its epoch is new in every process), the room rosters, and striped
//! room locks.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use uuid::Uuid;

use super::{Departure, HistoryStore, RoomGuard, RoomLocks, Roster, StoreError};
use crate::chat::protocol::{Message, MessageDraft, User};

pub struct MemoryStore {
    retained: usize,
    epoch: String,
    rooms: Mutex<HashMap<String, RoomLog>>,
}

#[derive(Default)]
struct RoomLog {
    last_seq: u64,
    /// Consecutive seqs, oldest first.
    messages: VecDeque<Message>,
}

impl RoomLog {
    /// Index of the first retained message with `seq > after`.
    fn index_after(&self, after: u64) -> usize {
        match self.messages.front() {
            Some(first) if after >= first.seq => usize::try_from(after - first.seq + 1)
                .unwrap_or(usize::MAX)
                .min(self.messages.len()),
            _ => 0,
        }
    }

    /// Index one past the last retained message with `seq < before`.
    fn index_before(&self, before: Option<u64>) -> usize {
        match (before, self.messages.front()) {
            (Some(before), Some(first)) if before > first.seq => {
                usize::try_from(before - first.seq)
                    .unwrap_or(usize::MAX)
                    .min(self.messages.len())
            }
            (Some(_), _) => 0,
            (None, _) => self.messages.len(),
        }
    }

    fn slice(&self, start: usize, end: usize) -> Vec<Message> {
        if start >= end {
            return Vec::new();
        }
        self.messages.range(start..end).cloned().collect()
    }
}

impl MemoryStore {
    /// A store keeping the last `retained` messages of every room.
    pub fn new(retained: usize) -> Self {
        Self {
            retained: retained.max(1),
            epoch: Uuid::now_v7().to_string(),
            rooms: Mutex::new(HashMap::new()),
        }
    }

    fn read<T>(&self, room: &str, read: impl FnOnce(&RoomLog) -> T) -> T {
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match rooms.get(room) {
            Some(log) => read(log),
            None => read(&RoomLog::default()),
        }
    }
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

#[async_trait]
impl HistoryStore for MemoryStore {
    async fn append(&self, draft: MessageDraft) -> Result<Message, StoreError> {
        let mut rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let log = rooms.entry(draft.room.clone()).or_default();
        log.last_seq += 1;
        let message = Message {
            id: Uuid::now_v7().to_string(),
            room: draft.room,
            seq: log.last_seq,
            from: draft.from,
            text: draft.text,
            ts: now_millis(),
            client_id: draft.client_id,
        };
        if log.messages.len() == self.retained {
            log.messages.pop_front();
        } else {
            metrics::gauge!(crate::api::metrics::names::HISTORY_MESSAGES).increment(1.0);
        }
        log.messages.push_back(message.clone());
        Ok(message)
    }

    async fn since(&self, room: &str, since: u64) -> Result<Vec<Message>, StoreError> {
        Ok(self.read(room, |log| {
            log.slice(log.index_after(since), log.messages.len())
        }))
    }

    async fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        Ok(self.read(room, |log| {
            let end = log.index_before(before);
            log.slice(end.saturating_sub(limit), end)
        }))
    }

    async fn after(
        &self,
        room: &str,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        Ok(self.read(room, |log| {
            let start = log.index_after(after);
            let end = log.index_before(before).min(start.saturating_add(limit));
            log.slice(start, end)
        }))
    }

    async fn epoch(&self, _room: &str) -> Result<String, StoreError> {
        Ok(self.epoch.clone())
    }
}

/// Room rosters of this process.
#[derive(Default)]
pub struct MemoryRoster {
    rooms: Mutex<HashMap<String, Vec<(String, User)>>>,
}

#[async_trait]
impl Roster for MemoryRoster {
    async fn add(&self, room: &str, conn: &str, user: &User) -> Result<usize, StoreError> {
        let mut rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let members = rooms.entry(room.to_owned()).or_default();
        if !members.iter().any(|(member, _)| member == conn) {
            members.push((conn.to_owned(), user.clone()));
        }
        Ok(members.len())
    }

    async fn remove(&self, room: &str, conn: &str) -> Result<usize, StoreError> {
        let mut rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(members) = rooms.get_mut(room) else {
            return Ok(0);
        };
        members.retain(|(member, _)| member != conn);
        let count = members.len();
        if count == 0 {
            rooms.remove(room);
        }
        Ok(count)
    }

    async fn members(&self, room: &str) -> Result<Vec<User>, StoreError> {
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut seen = HashSet::new();
        Ok(rooms
            .get(room)
            .into_iter()
            .flatten()
            .filter(|(_, user)| seen.insert(user.id.clone()))
            .map(|(_, user)| user.clone())
            .collect())
    }

    async fn rooms(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let rooms = self
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(rooms
            .iter()
            .map(|(room, members)| (room.clone(), members.len()))
            .collect())
    }

    async fn maintain(&self) -> Result<Vec<Departure>, StoreError> {
        Ok(Vec::new())
    }
}

/// Room locks are striped: bounded memory, and one room always maps to the same lock.
const ROOM_LOCK_STRIPES: usize = 64;

pub struct LocalRoomLocks {
    stripes: Vec<Arc<tokio::sync::Mutex<()>>>,
}

impl Default for LocalRoomLocks {
    fn default() -> Self {
        Self {
            stripes: (0..ROOM_LOCK_STRIPES).map(|_| Arc::default()).collect(),
        }
    }
}

impl LocalRoomLocks {
    pub async fn lock_owned(&self, room: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let mut hasher = DefaultHasher::new();
        room.hash(&mut hasher);
        let stripe = &self.stripes[hasher.finish() as usize % ROOM_LOCK_STRIPES];
        stripe.clone().lock_owned().await
    }
}

#[async_trait]
impl RoomLocks for LocalRoomLocks {
    async fn lock(&self, room: &str) -> Result<RoomGuard, StoreError> {
        Ok(RoomGuard::new(self.lock_owned(room).await))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn roster_counts_connections_and_lists_users_once() {
        let roster = MemoryRoster::default();
        let alice = User {
            id: "a".into(),
            name: "A".into(),
        };
        assert_eq!(roster.add("r", "s1", &alice).await.unwrap(), 1);
        assert_eq!(roster.add("r", "s2", &alice).await.unwrap(), 2);
        assert_eq!(
            roster.add("r", "s2", &alice).await.unwrap(),
            2,
            "idempotent"
        );
        assert_eq!(
            roster.members("r").await.unwrap(),
            std::slice::from_ref(&alice)
        );
        assert_eq!(roster.remove("r", "s1").await.unwrap(), 1);
        assert_eq!(roster.remove("r", "s2").await.unwrap(), 0);
        assert!(roster.rooms().await.unwrap().is_empty());
    }

    fn draft(room: &str, text: &str) -> MessageDraft {
        MessageDraft {
            room: room.into(),
            from: User {
                id: "u".into(),
                name: "U".into(),
            },
            text: text.into(),
            client_id: None,
        }
    }

    async fn store_with(retained: usize, count: usize) -> MemoryStore {
        let store = MemoryStore::new(retained);
        for i in 0..count {
            store.append(draft("r", &i.to_string())).await.unwrap();
        }
        store
    }

    fn seqs(messages: &[Message]) -> Vec<u64> {
        messages.iter().map(|m| m.seq).collect()
    }

    #[tokio::test]
    async fn seq_is_per_room_and_gap_free() {
        let store = MemoryStore::new(10);
        let a1 = store.append(draft("a", "1")).await.unwrap();
        let b1 = store.append(draft("b", "1")).await.unwrap();
        let a2 = store.append(draft("a", "2")).await.unwrap();
        assert_eq!((a1.seq, b1.seq, a2.seq), (1, 1, 2));
        assert_ne!(a1.id, a2.id);
        assert_ne!(a1.id, b1.id);
    }

    #[tokio::test]
    async fn retains_only_the_window() {
        let store = store_with(5, 12).await;
        assert_eq!(
            seqs(&store.since("r", 0).await.unwrap()),
            [8, 9, 10, 11, 12]
        );
        assert_eq!(seqs(&store.since("r", 10).await.unwrap()), [11, 12]);
        assert!(store.since("r", 12).await.unwrap().is_empty());
        assert!(store.since("r", 99).await.unwrap().is_empty());
        assert!(store.since("other", 0).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn before_returns_the_last_limit_ascending() {
        let store = store_with(100, 20).await;
        assert_eq!(
            seqs(&store.before("r", None, 3).await.unwrap()),
            [18, 19, 20]
        );
        assert_eq!(
            seqs(&store.before("r", Some(5), 10).await.unwrap()),
            [1, 2, 3, 4]
        );
        assert_eq!(seqs(&store.before("r", Some(10), 2).await.unwrap()), [8, 9]);
        assert!(store.before("r", Some(1), 5).await.unwrap().is_empty());
        assert!(store.before("r", Some(0), 5).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn after_returns_the_first_limit_ascending() {
        let store = store_with(100, 20).await;
        assert_eq!(
            seqs(&store.after("r", 0, None, 3).await.unwrap()),
            [1, 2, 3]
        );
        assert_eq!(
            seqs(&store.after("r", 17, None, 10).await.unwrap()),
            [18, 19, 20]
        );
        assert_eq!(
            seqs(&store.after("r", 5, Some(8), 10).await.unwrap()),
            [6, 7]
        );
        assert!(store.after("r", 20, None, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn epoch_is_stable_within_a_store_and_new_per_store() {
        let store = MemoryStore::new(10);
        assert_eq!(
            store.epoch("a").await.unwrap(),
            store.epoch("a").await.unwrap()
        );
        assert_ne!(
            store.epoch("a").await.unwrap(),
            MemoryStore::new(10).epoch("a").await.unwrap()
        );
    }
}
