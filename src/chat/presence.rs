//! Who is in which room on this process: the source of `members`, `count` and the
//! `not_in_room` check.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::ConnId;
use super::protocol::User;

#[derive(Default)]
pub struct Presence {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Room -> its sockets, in join order.
    rooms: HashMap<String, Vec<(ConnId, User)>>,
    /// Socket -> the rooms it is in.
    joined: HashMap<ConnId, HashSet<String>>,
}

/// A socket that left a room, with the room's size after it left.
#[derive(Debug, Clone, PartialEq)]
pub struct Departure {
    pub room: String,
    pub user: User,
    pub count: usize,
}

impl Presence {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds the socket to the room. Returns the new count, or None if it was already there.
    pub fn join(&self, conn: &ConnId, user: &User, room: &str) -> Option<usize> {
        let mut state = self.state();
        if !state
            .joined
            .entry(conn.clone())
            .or_default()
            .insert(room.to_owned())
        {
            return None;
        }
        let members = state.rooms.entry(room.to_owned()).or_default();
        members.push((conn.clone(), user.clone()));
        Some(members.len())
    }

    /// Removes the socket from the room; None if it was not in it.
    pub fn leave(&self, conn: &ConnId, room: &str) -> Option<Departure> {
        let mut state = self.state();
        let was_in = state
            .joined
            .get_mut(conn)
            .is_some_and(|rooms| rooms.remove(room));
        if !was_in {
            return None;
        }
        Some(state.remove_member(conn, room))
    }

    /// Removes the socket from every room it is in.
    pub fn leave_all(&self, conn: &ConnId) -> Vec<Departure> {
        let mut state = self.state();
        let rooms = state.joined.remove(conn).unwrap_or_default();
        rooms
            .into_iter()
            .map(|room| state.remove_member(conn, &room))
            .collect()
    }

    pub fn is_member(&self, conn: &ConnId, room: &str) -> bool {
        self.state()
            .joined
            .get(conn)
            .is_some_and(|rooms| rooms.contains(room))
    }

    /// The room's users, one entry per user id (a user may have several sockets).
    pub fn members(&self, room: &str) -> Vec<User> {
        let state = self.state();
        let mut seen = HashSet::new();
        state
            .rooms
            .get(room)
            .into_iter()
            .flatten()
            .filter(|(_, user)| seen.insert(user.id.as_str()))
            .map(|(_, user)| user.clone())
            .collect()
    }

    /// Rooms with at least one socket, with their socket counts.
    pub fn rooms(&self) -> Vec<(String, usize)> {
        let state = self.state();
        state
            .rooms
            .iter()
            .map(|(room, members)| (room.clone(), members.len()))
            .collect()
    }
}

impl State {
    fn remove_member(&mut self, conn: &ConnId, room: &str) -> Departure {
        let members = self.rooms.entry(room.to_owned()).or_default();
        let position = members.iter().position(|(member, _)| member == conn);
        let (_, user) = position
            .map(|index| members.remove(index))
            .expect("presence maps out of sync");
        let count = members.len();
        if count == 0 {
            self.rooms.remove(room);
        }
        Departure {
            room: room.to_owned(),
            user,
            count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            name: id.to_uppercase(),
        }
    }

    #[test]
    fn join_is_idempotent_and_counts_sockets() {
        let presence = Presence::default();
        assert_eq!(presence.join(&"a".into(), &user("a"), "r"), Some(1));
        assert_eq!(presence.join(&"a".into(), &user("a"), "r"), None);
        assert_eq!(presence.join(&"b".into(), &user("b"), "r"), Some(2));
        assert_eq!(presence.members("r"), [user("a"), user("b")]);
    }

    #[test]
    fn members_are_unique_per_user() {
        let presence = Presence::default();
        presence.join(&"s1".into(), &user("a"), "r");
        assert_eq!(presence.join(&"s2".into(), &user("a"), "r"), Some(2));
        assert_eq!(presence.members("r"), [user("a")]);
    }

    #[test]
    fn leave_and_leave_all() {
        let presence = Presence::default();
        presence.join(&"a".into(), &user("a"), "r1");
        presence.join(&"a".into(), &user("a"), "r2");
        presence.join(&"b".into(), &user("b"), "r1");
        assert_eq!(presence.leave(&"b".into(), "r2"), None);
        let left = presence.leave(&"b".into(), "r1").unwrap();
        assert_eq!((left.count, left.user), (1, user("b")));
        let mut all = presence.leave_all(&"a".into());
        all.sort_by(|x, y| x.room.cmp(&y.room));
        assert_eq!(
            all.iter()
                .map(|d| (d.room.as_str(), d.count))
                .collect::<Vec<_>>(),
            [("r1", 0), ("r2", 0)]
        );
        assert!(presence.rooms().is_empty());
        assert!(!presence.is_member(&"a".into(), "r1"));
    }
}
