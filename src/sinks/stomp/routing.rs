//! Room names to STOMP destinations.
//!
//! A room's chat messages go to `/topic/chat.<key>` and its presence events to
//! `/topic/presence.<key>`, where `<key>` is [`room_routing_key`]. RabbitMQ publishes
//! `/topic/<rk>` to the `amq.topic` exchange with routing key `<rk>`, where `.` separates words
//! and `*` and `#` are wildcards for subscribers; it splits the destination on `/` and turns
//! `%2F` into `/`. Room names may hold any of these, so the key is encoded:
//!
//! - every byte of the room's UTF-8 outside `[A-Za-z0-9_-]` becomes `~XX` (two upper-case hex
//!   digits), e.g. `general` -> `general`, `a.b` -> `a~2Eb`, `café` -> `caf~C3~A9`. `~` is used
//!   rather than `%` because RabbitMQ rewrites `%2F` in destinations, so a `%XX` key would not be
//!   the routing key AMQP consumers see;
//! - AMQP routing keys are at most 255 bytes, so a key longer than [`MAX_KEY_LEN`] (possible
//!   with long non-ASCII names) becomes `~~` followed by the SHA-256 of the room name in
//!   lower-case hex (66 characters). The short form never holds `~~`, so the two cannot meet.
//!
//! The short form decodes back to the room, hence no two rooms share a key (the long form
//! relies on SHA-256 being collision resistant). A key never holds `.`, `*`, `#`, `/`, `%`,
//! spaces or non-ASCII. In JavaScript:
//!
//! ```js
//! const key = (room) => [...new TextEncoder().encode(room)].map((b) =>
//!   /[A-Za-z0-9_-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b)
//!     : '~' + b.toString(16).toUpperCase().padStart(2, '0')).join('');
//! ```

use std::fmt::Write;

use sha2::{Digest, Sha256};

/// Longest key of the short form: with `presence.` in front it stays within AMQP's 255 bytes.
pub const MAX_KEY_LEN: usize = 240;

/// Prefix of a room's chat message destination.
pub const CHAT_PREFIX: &str = "/topic/chat.";
/// Prefix of a room's presence destination.
pub const PRESENCE_PREFIX: &str = "/topic/presence.";

/// The routing key of `room` (see the module documentation).
pub fn room_routing_key(room: &str) -> String {
    let mut key = String::with_capacity(room.len());
    for byte in room.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            key.push(byte as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(key, "~{byte:02X}");
        }
    }
    if key.len() <= MAX_KEY_LEN {
        return key;
    }
    let digest = Sha256::digest(room.as_bytes());
    let mut hashed = String::from("~~");
    for byte in digest {
        let _ = write!(hashed, "{byte:02x}");
    }
    hashed
}

pub fn chat_destination(room: &str) -> String {
    format!("{CHAT_PREFIX}{}", room_routing_key(room))
}

pub fn presence_destination(room: &str) -> String {
    format!("{PRESENCE_PREFIX}{}", room_routing_key(room))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const TRICKY: &[&str] = &[
        "general",
        "a.b",
        "a~2Eb",
        "a*",
        "#",
        "a/b",
        "a%2Fb",
        "a b",
        "%",
        "~",
        "~~",
        "café",
        "日本語",
        "emoji 🎉",
        "chat.general",
        "a-b_c",
        "",
    ];

    fn assert_safe(key: &str) {
        for forbidden in ['.', '*', '#', '/', '%', ' '] {
            assert!(!key.contains(forbidden), "{key:?} holds {forbidden:?}");
        }
        assert!(key.is_ascii(), "{key:?} is not ASCII");
        assert!(key.len() <= MAX_KEY_LEN.max(66));
    }

    #[test]
    fn keeps_plain_names() {
        assert_eq!(room_routing_key("general"), "general");
        assert_eq!(room_routing_key("a-b_C9"), "a-b_C9");
    }

    #[test]
    fn escapes_everything_else() {
        assert_eq!(room_routing_key("a.b"), "a~2Eb");
        assert_eq!(room_routing_key("a/b c"), "a~2Fb~20c");
        assert_eq!(room_routing_key("café"), "caf~C3~A9");
        assert_eq!(room_routing_key("~"), "~7E");
        assert_eq!(chat_destination("x.y"), "/topic/chat.x~2Ey");
        assert_eq!(presence_destination("x"), "/topic/presence.x");
    }

    #[test]
    fn keys_are_safe() {
        for room in TRICKY {
            assert_safe(&room_routing_key(room));
        }
        let long = "日".repeat(64);
        let key = room_routing_key(&long);
        assert!(key.starts_with("~~"));
        assert_eq!(key.len(), 66);
        assert_safe(&key);
    }

    #[test]
    fn keys_are_injective() {
        let mut rooms: Vec<String> = TRICKY.iter().map(|room| room.to_string()).collect();
        // Every single byte-sized character and every pair from a small alphabet.
        rooms.extend((1u8..128).map(|byte| (byte as char).to_string()));
        let alphabet = ["a", ".", "~", "%", "2", "E", "/", "é", "~2E"];
        for first in alphabet {
            for second in alphabet {
                rooms.push(format!("{first}{second}"));
            }
        }
        rooms.push("日".repeat(64));
        rooms.push("日".repeat(63) + "本");
        rooms.push("x".repeat(240));
        rooms.push("x".repeat(241));
        rooms.sort();
        rooms.dedup();
        let mut seen: HashMap<String, &str> = HashMap::new();
        for room in &rooms {
            if let Some(other) = seen.insert(room_routing_key(room), room) {
                panic!("{room:?} and {other:?} share a key");
            }
        }
    }

    #[test]
    fn long_keys_switch_to_the_hash_form() {
        assert_eq!(room_routing_key(&"x".repeat(240)), "x".repeat(240));
        assert!(room_routing_key(&"x".repeat(241)).starts_with("~~"));
        assert!(room_routing_key(&".".repeat(81)).starts_with("~~"));
    }
}
