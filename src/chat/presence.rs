//! Which rooms each socket of this process has joined: the `not_in_room` check and what a
//! disconnect leaves. Cluster-wide counts and member lists live in the store's roster.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::ConnId;

#[derive(Default)]
pub struct Memberships {
    joined: Mutex<HashMap<ConnId, HashSet<String>>>,
}

impl Memberships {
    fn joined(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, HashSet<String>>> {
        self.joined
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the socket in the room; false if it was already there.
    pub fn join(&self, conn: &ConnId, room: &str) -> bool {
        self.joined()
            .entry(conn.clone())
            .or_default()
            .insert(room.to_owned())
    }

    /// Removes the socket from the room; false if it was not in it.
    pub fn leave(&self, conn: &ConnId, room: &str) -> bool {
        let mut joined = self.joined();
        let Some(rooms) = joined.get_mut(conn) else {
            return false;
        };
        let was_in = rooms.remove(room);
        if rooms.is_empty() {
            joined.remove(conn);
        }
        was_in
    }

    /// Removes the socket from every room; returns those rooms.
    pub fn leave_all(&self, conn: &ConnId) -> Vec<String> {
        self.joined()
            .remove(conn)
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    pub fn is_member(&self, conn: &ConnId, room: &str) -> bool {
        self.joined()
            .get(conn)
            .is_some_and(|rooms| rooms.contains(room))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_leave_and_leave_all() {
        let memberships = Memberships::default();
        let (a, b) = (ConnId::from("a"), ConnId::from("b"));
        assert!(memberships.join(&a, "r1"));
        assert!(!memberships.join(&a, "r1"), "idempotent");
        assert!(memberships.join(&a, "r2"));
        assert!(memberships.join(&b, "r1"));
        assert!(!memberships.leave(&b, "r2"));
        assert!(memberships.leave(&b, "r1"));
        let mut rooms = memberships.leave_all(&a);
        rooms.sort();
        assert_eq!(rooms, ["r1", "r2"]);
        assert!(!memberships.is_member(&a, "r1"));
    }
}
