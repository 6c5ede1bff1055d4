//! Room rosters in Redis, with liveness per process.
//!
//! Keys: `<prefix>:roster:<room>` (hash: connection -> `{user, node, at}`), `<prefix>:rooms`
//! (rooms with a roster), `<prefix>:nodes` (processes that have entries),
//! `<prefix>:node:<id>:alive` (a heartbeat key that expires after the TTL) and
//! `<prefix>:node:<id>:entries` (`room \n conn` of each entry of that process). A process
//! whose heartbeat has expired is dead: the first live process to notice removes its entries
//! and announces the departures. Room names never hold control characters, so `\n` is a safe
//! separator.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use serde::{Deserialize, Serialize};

use super::{RedisBackend, corrupt, unavailable};
use crate::chat::protocol::User;
use crate::store::memory::now_millis;
use crate::store::{Departure, Roster, StoreError};

const ADD: &str = r#"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[5])
return redis.call('HLEN', KEYS[1])
"#;

const REMOVE: &str = r#"
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
local count = redis.call('HLEN', KEYS[1])
if count == 0 then redis.call('SREM', KEYS[3], ARGV[3]) end
return count
"#;

#[derive(Serialize, Deserialize)]
struct Entry {
    user: User,
    node: String,
    at: u64,
}

pub struct RedisRoster {
    backend: RedisBackend,
    node: String,
    heartbeat_ttl: Duration,
    add: Script,
    remove: Script,
}

impl RedisRoster {
    pub fn new(backend: RedisBackend, node: String, heartbeat_ttl: Duration) -> Self {
        Self {
            backend,
            node,
            heartbeat_ttl,
            add: Script::new(ADD),
            remove: Script::new(REMOVE),
        }
    }

    fn roster_key(&self, room: &str) -> String {
        self.backend.key(&["roster", room])
    }

    fn entries_key(&self, node: &str) -> String {
        self.backend.key(&["node", node, "entries"])
    }

    fn alive_key(&self, node: &str) -> String {
        self.backend.key(&["node", node, "alive"])
    }

    async fn remove_entry(&self, room: &str, conn: &str, node: &str) -> Result<usize, StoreError> {
        self.remove
            .key(self.roster_key(room))
            .key(self.entries_key(node))
            .key(self.backend.key(&["rooms"]))
            .arg(conn)
            .arg(format!("{room}\n{conn}"))
            .arg(room)
            .invoke_async(&mut self.backend.conn())
            .await
            .map_err(unavailable)
    }

    async fn heartbeat(&self) -> Result<(), StoreError> {
        redis::pipe()
            .set(self.alive_key(&self.node), "1")
            .arg("PX")
            .arg(self.heartbeat_ttl.as_millis() as u64)
            .ignore()
            .sadd(self.backend.key(&["nodes"]), &self.node)
            .ignore()
            .query_async::<()>(&mut self.backend.conn())
            .await
            .map_err(unavailable)
    }

    /// Removes every entry of a dead process, once across the cluster (a short claim key
    /// keeps two live processes from announcing the same departures).
    async fn reap(&self, dead: &str) -> Result<Vec<Departure>, StoreError> {
        let mut conn = self.backend.conn();
        let claim = self.backend.key(&["node", dead, "reaper"]);
        let claimed: Option<String> = redis::cmd("SET")
            .arg(&claim)
            .arg(&self.node)
            .arg("NX")
            .arg("PX")
            .arg(30_000)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if claimed.is_none() {
            return Ok(Vec::new());
        }
        let entries: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.entries_key(dead))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut departures = Vec::new();
        for entry in entries {
            let Some((room, member)) = entry.split_once('\n') else {
                continue;
            };
            let stored: Option<String> = redis::cmd("HGET")
                .arg(self.roster_key(room))
                .arg(member)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let count = self.remove_entry(room, member, dead).await?;
            let Some(stored) = stored else { continue };
            let entry: Entry = serde_json::from_str(&stored).map_err(corrupt)?;
            departures.push(Departure {
                room: room.to_owned(),
                user: entry.user,
                count,
            });
        }
        redis::pipe()
            .del(self.entries_key(dead))
            .ignore()
            .srem(self.backend.key(&["nodes"]), dead)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)?;
        tracing::info!(
            node = dead,
            departures = departures.len(),
            "reaped a dead process"
        );
        Ok(departures)
    }
}

#[async_trait]
impl Roster for RedisRoster {
    async fn add(&self, room: &str, conn: &str, user: &User) -> Result<usize, StoreError> {
        let entry = Entry {
            user: user.clone(),
            node: self.node.clone(),
            at: now_millis(),
        };
        self.add
            .key(self.roster_key(room))
            .key(self.entries_key(&self.node))
            .key(self.backend.key(&["rooms"]))
            .key(self.backend.key(&["nodes"]))
            .arg(conn)
            .arg(serde_json::to_string(&entry).map_err(corrupt)?)
            .arg(format!("{room}\n{conn}"))
            .arg(room)
            .arg(&self.node)
            .invoke_async(&mut self.backend.conn())
            .await
            .map_err(unavailable)
    }

    async fn remove(&self, room: &str, conn: &str) -> Result<usize, StoreError> {
        self.remove_entry(room, conn, &self.node).await
    }

    async fn members(&self, room: &str) -> Result<Vec<User>, StoreError> {
        let stored: Vec<String> = redis::cmd("HVALS")
            .arg(self.roster_key(room))
            .query_async(&mut self.backend.conn())
            .await
            .map_err(unavailable)?;
        let mut entries = stored
            .iter()
            .map(|json| serde_json::from_str::<Entry>(json).map_err(corrupt))
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|entry| entry.at);
        let mut seen = std::collections::HashSet::new();
        Ok(entries
            .into_iter()
            .filter(|entry| seen.insert(entry.user.id.clone()))
            .map(|entry| entry.user)
            .collect())
    }

    async fn rooms(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut conn = self.backend.conn();
        let rooms: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.backend.key(&["rooms"]))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut pipe = redis::pipe();
        for room in &rooms {
            pipe.hlen(self.roster_key(room));
        }
        let counts: Vec<usize> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        Ok(rooms
            .into_iter()
            .zip(counts)
            .filter(|(_, count)| *count > 0)
            .collect())
    }

    async fn maintain(&self) -> Result<Vec<Departure>, StoreError> {
        self.heartbeat().await?;
        let mut conn = self.backend.conn();
        let nodes: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.backend.key(&["nodes"]))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut departures = Vec::new();
        for node in nodes.iter().filter(|node| **node != self.node) {
            let alive: bool = redis::cmd("EXISTS")
                .arg(self.alive_key(node))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if !alive {
                departures.extend(self.reap(node).await?);
            }
        }
        Ok(departures)
    }
}
