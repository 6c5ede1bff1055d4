//! The Redis history store on a real Redis, with the same range semantics as the in-memory
//! one: gap-free per-room seq, retention window, since / before / after, and the epoch.

mod support;

use support::{redis_available, unique_prefix};
use switchboard::chat::protocol::{Message, MessageDraft, User};
use switchboard::store::HistoryStore;
use switchboard::store::redis::{RedisBackend, RedisHistory};

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

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

async fn store(test: &str, retained: usize) -> RedisHistory {
    let backend = RedisBackend::connect("redis://127.0.0.1:6379", &unique_prefix(test))
        .await
        .unwrap();
    RedisHistory::new(backend, retained)
}

#[tokio::test]
async fn ranges_match_the_in_memory_semantics() {
    if !redis_available("ranges_match_the_in_memory_semantics") {
        return;
    }
    let store = store("ranges", 15).await;
    for i in 1..=20 {
        let message = store.append(draft("r", &format!("m{i}"))).await.unwrap();
        assert_eq!(message.seq, i);
    }
    assert_eq!(
        store.append(draft("other", "x")).await.unwrap().seq,
        1,
        "seq is per room"
    );
    assert_eq!(
        seqs(&store.since("r", 0).await.unwrap()),
        (6..=20).collect::<Vec<_>>(),
        "retention"
    );
    assert_eq!(seqs(&store.since("r", 17).await.unwrap()), [18, 19, 20]);
    assert_eq!(
        seqs(&store.before("r", None, 3).await.unwrap()),
        [18, 19, 20]
    );
    assert_eq!(
        seqs(&store.before("r", Some(10), 3).await.unwrap()),
        [7, 8, 9]
    );
    assert_eq!(
        seqs(&store.after("r", 8, None, 3).await.unwrap()),
        [9, 10, 11]
    );
    assert_eq!(
        seqs(&store.after("r", 8, Some(11), 10).await.unwrap()),
        [9, 10]
    );
    let first = &store.since("r", 19).await.unwrap()[0];
    assert_eq!((first.text.as_str(), first.room.as_str()), ("m20", "r"));
    let epoch = store.epoch("r").await.unwrap();
    assert_eq!(
        store.epoch("r").await.unwrap(),
        epoch,
        "stable while Redis keeps the room"
    );
}
