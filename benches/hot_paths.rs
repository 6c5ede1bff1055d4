//! Micro-benchmarks of the per-message hot paths: payload validation, history append and range
//! reads, and the one serialisation a broadcast does. `cargo bench --bench hot_paths`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use switchboard::chat::protocol::{Message, MessageDraft, User};
use switchboard::chat::request::{Limits, SendRequest};
use switchboard::store::{HistoryStore, MemoryStore};

fn limits() -> Limits {
    Limits {
        max_name_chars: 64,
        max_room_chars: 64,
        max_text_chars: 4000,
        history_window: 1000,
    }
}

fn draft(text: &str) -> MessageDraft {
    MessageDraft {
        room: "lobby".into(),
        from: User {
            id: "RbJ3kq0xYlq1jYv2".into(),
            name: "alice".into(),
        },
        text: text.into(),
        client_id: Some("c-0001".into()),
    }
}

fn validation(c: &mut Criterion) {
    let limits = limits();
    let payload = json!({"room": "lobby", "text": "hello there, how is everyone today?", "clientId": "c-0001"});
    c.bench_function("validate chat:send", |b| {
        b.iter(|| SendRequest::parse(black_box(&payload), &limits).unwrap())
    });
}

fn history(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = MemoryStore::new(1000);
    runtime.block_on(async {
        for i in 0..1000 {
            store.append(draft(&format!("message {i}"))).await.unwrap();
        }
    });
    c.bench_function("history append (full window)", |b| {
        b.iter(|| {
            runtime
                .block_on(store.append(draft("hello there")))
                .unwrap()
        })
    });
    let recent = store_last(&runtime, &store) - 50;
    c.bench_function("history since (last 50)", |b| {
        b.iter(|| {
            runtime
                .block_on(store.since("lobby", black_box(recent)))
                .unwrap()
        })
    });
    c.bench_function("history before (limit 50)", |b| {
        b.iter(|| {
            runtime
                .block_on(store.before("lobby", None, black_box(50)))
                .unwrap()
        })
    });
}

fn store_last(runtime: &tokio::runtime::Runtime, store: &MemoryStore) -> u64 {
    runtime
        .block_on(store.before("lobby", None, 1))
        .unwrap()
        .last()
        .map_or(0, |message| message.seq)
}

fn serialization(c: &mut Criterion) {
    let message = Message {
        id: "01a216a7-f7b3-7348-b59f-1d4c7aee5ba1".into(),
        room: "lobby".into(),
        seq: 1234,
        from: User {
            id: "RbJ3kq0xYlq1jYv2".into(),
            name: "alice".into(),
        },
        text: "hello there, how is everyone today?".into(),
        ts: 1_795_676_436_403,
        client_id: Some("c-0001".into()),
    };
    c.bench_function("serialize chat:message", |b| {
        b.iter(|| serde_json::value::to_raw_value(black_box(&message)).unwrap())
    });
}

criterion_group!(benches, validation, history, serialization);
criterion_main!(benches);
