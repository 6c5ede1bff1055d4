//! The chat contract over a real WebSocket: every event, every error code, the limits at and
//! past their bounds, presence, ordering and recovery.

mod support;

use serde_json::{Value, json};
use support::{Client, TestServer};

fn code(ack: &Value) -> &str {
    ack["error"]["code"].as_str().unwrap_or("<ok>")
}

#[tokio::test]
async fn join_send_and_receive() {
    let server = TestServer::start(&[]).await;
    let mut alice = Client::connect(&server, "alice").await;
    let mut bob = Client::connect(&server, "bob").await;
    let joined = alice.join("lobby").await;
    assert_eq!(joined["room"], "lobby");
    assert!(joined["epoch"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(joined["history"], json!([]));
    assert_eq!(
        joined["members"],
        json!([{"id": alice.sid, "name": "alice"}])
    );

    let joined = bob.join("lobby").await;
    assert_eq!(joined["members"].as_array().unwrap().len(), 2);
    let presence = alice.next_event("room:presence").await;
    assert_eq!(
        presence,
        json!({"room": "lobby", "action": "join", "user": {"id": bob.sid, "name": "bob"}, "count": 2})
    );

    let ack = alice
        .call(
            "chat:send",
            json!({"room": "lobby", "text": "hello", "clientId": "c1"}),
        )
        .await;
    assert_eq!(ack["ok"], true);
    let message = &ack["message"];
    assert_eq!(message["seq"], 1);
    assert_eq!(message["room"], "lobby");
    assert_eq!(message["text"], "hello");
    assert_eq!(message["clientId"], "c1");
    assert_eq!(message["from"], json!({"id": alice.sid, "name": "alice"}));
    assert!(message["ts"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(
        &alice.next_event("chat:message").await,
        message,
        "the sender gets it too"
    );
    assert_eq!(&bob.next_event("chat:message").await, message);

    let second = alice
        .call("chat:send", json!({"room": "lobby", "text": "again"}))
        .await;
    assert_eq!(second["message"]["seq"], 2);
    assert!(second["message"].get("clientId").is_none());
    assert_ne!(second["message"]["id"], message["id"]);
}

#[tokio::test]
async fn join_is_idempotent_and_announced_once() {
    let server = TestServer::start(&[]).await;
    let mut alice = Client::connect(&server, "alice").await;
    let mut bob = Client::connect(&server, "bob").await;
    alice.join("r").await;
    bob.join("r").await;
    let again = bob.join("r").await;
    assert_eq!(again["members"].as_array().unwrap().len(), 2);
    alice.next_event("room:presence").await;
    alice.assert_no_event("room:presence").await;
}

#[tokio::test]
async fn leave_and_disconnect_announce_presence() {
    let server = TestServer::start(&[]).await;
    let mut alice = Client::connect(&server, "alice").await;
    let mut bob = Client::connect(&server, "bob").await;
    let mut carol = Client::connect(&server, "carol").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.join("r").await;
    }
    assert_eq!(
        code(&bob.call("room:leave", json!({"room": "elsewhere"})).await),
        "not_in_room"
    );
    assert_eq!(
        bob.call("room:leave", json!({"room": "r"})).await,
        json!({"ok": true})
    );
    let mut leaves = Vec::new();
    loop {
        let event = alice.next_event("room:presence").await;
        if event["action"] == "leave" {
            leaves.push(event);
            break;
        }
    }
    assert_eq!(leaves[0]["user"]["name"], "bob");
    assert_eq!(leaves[0]["count"], 2);
    assert_eq!(
        code(
            &bob.call("chat:send", json!({"room": "r", "text": "x"}))
                .await
        ),
        "not_in_room"
    );

    drop(carol);
    let left = loop {
        let event = alice.next_event("room:presence").await;
        if event["action"] == "leave" && event["user"]["name"] == "carol" {
            break event;
        }
    };
    assert_eq!(left["count"], 1);
}

#[tokio::test]
async fn typing_reaches_others_but_not_the_sender() {
    let server = TestServer::start(&[]).await;
    let mut alice = Client::connect(&server, "alice").await;
    let mut bob = Client::connect(&server, "bob").await;
    alice.join("r").await;
    bob.join("r").await;
    alice
        .emit("chat:typing", json!({"room": "r", "typing": true}))
        .await;
    let typing = bob.next_event("chat:typing").await;
    assert_eq!(
        typing,
        json!({"room": "r", "user": {"id": alice.sid, "name": "alice"}, "typing": true})
    );
    alice.assert_no_event("chat:typing").await;
}

#[tokio::test]
async fn send_without_ack_is_carried_out() {
    let server = TestServer::start(&[]).await;
    let mut alice = Client::connect(&server, "alice").await;
    let mut bob = Client::connect(&server, "bob").await;
    alice.join("r").await;
    bob.join("r").await;
    alice
        .emit("chat:send", json!({"room": "r", "text": "fire and forget"}))
        .await;
    assert_eq!(
        bob.next_event("chat:message").await["text"],
        "fire and forget"
    );
}

#[tokio::test]
async fn unknown_events_are_ignored() {
    let server = TestServer::start(&[]).await;
    let mut alice = Client::connect(&server, "alice").await;
    alice.emit("no:such:event", json!({"x": 1})).await;
    alice.join("r").await;
}

#[tokio::test]
async fn history_pages_before_and_after() {
    let server = TestServer::start(&["--rate-burst", "100"]).await;
    let mut alice = Client::connect(&server, "alice").await;
    alice.join("r").await;
    assert_eq!(
        code(&alice.call("chat:history", json!({"room": "other"})).await),
        "not_in_room"
    );
    for i in 1..=60 {
        alice
            .call("chat:send", json!({"room": "r", "text": format!("m{i}")}))
            .await;
    }
    let seqs = |ack: &Value| -> Vec<u64> {
        ack["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect()
    };
    let last = alice.call("chat:history", json!({"room": "r"})).await;
    assert_eq!(seqs(&last), (11..=60).collect::<Vec<_>>());
    assert!(last["epoch"].is_string());
    let before = alice
        .call(
            "chat:history",
            json!({"room": "r", "before": 10, "limit": 3}),
        )
        .await;
    assert_eq!(seqs(&before), [7, 8, 9]);
    let after = alice
        .call(
            "chat:history",
            json!({"room": "r", "after": 55, "limit": 3}),
        )
        .await;
    assert_eq!(seqs(&after), [56, 57, 58]);
    let tail = alice
        .call("chat:history", json!({"room": "r", "after": 58}))
        .await;
    assert_eq!(seqs(&tail), [59, 60]);
}

#[tokio::test]
async fn history_window_is_bounded() {
    let server = TestServer::start(&["--history-limit", "5"]).await;
    let mut alice = Client::connect(&server, "alice").await;
    alice.join("r").await;
    for i in 1..=8 {
        alice
            .call("chat:send", json!({"room": "r", "text": format!("m{i}")}))
            .await;
    }
    let all = alice
        .call("chat:history", json!({"room": "r", "limit": 100}))
        .await;
    let seqs: Vec<u64> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 5, 6, 7, 8]);
}

#[tokio::test]
async fn rejoin_with_since_recovers_exactly_the_missed_messages() {
    let server = TestServer::start(&[]).await;
    let mut alice = Client::connect(&server, "alice").await;
    let mut bob = Client::connect(&server, "bob").await;
    alice.join("r").await;
    let epoch = bob.join("r").await["epoch"].as_str().unwrap().to_owned();
    for i in 1..=3 {
        alice
            .call(
                "chat:send",
                json!({"room": "r", "text": format!("seen {i}")}),
            )
            .await;
    }
    drop(bob);
    for i in 1..=4 {
        alice
            .call(
                "chat:send",
                json!({"room": "r", "text": format!("missed {i}")}),
            )
            .await;
    }
    let mut bob = Client::connect(&server, "bob").await;
    let rejoined = bob
        .call(
            "room:join",
            json!({"room": "r", "since": 3, "epoch": epoch}),
        )
        .await;
    let texts: Vec<&str> = rejoined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["missed 1", "missed 2", "missed 3", "missed 4"]);

    let mut carol = Client::connect(&server, "carol").await;
    let stale = carol
        .call(
            "room:join",
            json!({"room": "r", "since": 5, "epoch": "an-old-epoch"}),
        )
        .await;
    assert_eq!(
        stale["history"].as_array().unwrap().len(),
        7,
        "a different epoch ignores since"
    );
}

#[tokio::test]
async fn concurrent_senders_get_gap_free_seq_in_order_everywhere() {
    let server = TestServer::start(&["--rate-burst", "200"]).await;
    let mut observer = Client::connect(&server, "observer").await;
    observer.join("r").await;
    let mut senders = Vec::new();
    for name in ["a", "b", "c"] {
        let mut client = Client::connect(&server, name).await;
        client.join("r").await;
        senders.push(client);
    }
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                for i in 0..30 {
                    let ack = client
                        .call("chat:send", json!({"room": "r", "text": i.to_string()}))
                        .await;
                    assert_eq!(ack["ok"], true);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut seqs = Vec::new();
    while seqs.len() < 90 {
        seqs.push(
            observer.next_event("chat:message").await["seq"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_eq!(
        seqs,
        (1..=90).collect::<Vec<_>>(),
        "in seq order, no gap, no duplicate"
    );
}

#[tokio::test]
async fn rate_limit_at_and_past_the_burst() {
    let server = TestServer::start(&["--rate-limit", "0.001", "--rate-burst", "5"]).await;
    let mut alice = Client::connect(&server, "alice").await;
    alice.join("r").await;
    for i in 0..5 {
        let ack = alice
            .call("chat:send", json!({"room": "r", "text": i.to_string()}))
            .await;
        assert_eq!(ack["ok"], true, "message {i} is within the burst");
    }
    let refused = alice
        .call("chat:send", json!({"room": "r", "text": "one too many"}))
        .await;
    assert_eq!(code(&refused), "rate_limited");
    let mut bob = Client::connect(&server, "bob").await;
    bob.join("r").await;
    let ack = bob
        .call(
            "chat:send",
            json!({"room": "r", "text": "others are not limited"}),
        )
        .await;
    assert_eq!(ack["ok"], true);
}

#[tokio::test]
async fn text_and_room_limits_at_and_past_the_bound() {
    let server = TestServer::start(&["--max-text", "10", "--max-room-len", "8"]).await;
    let mut alice = Client::connect(&server, "alice").await;
    alice.join("12345678").await;
    assert_eq!(
        code(&alice.call("room:join", json!({"room": "123456789"})).await),
        "bad_request"
    );
    let at = alice
        .call(
            "chat:send",
            json!({"room": "12345678", "text": "é".repeat(10)}),
        )
        .await;
    assert_eq!(at["ok"], true);
    let past = alice
        .call(
            "chat:send",
            json!({"room": "12345678", "text": "é".repeat(11)}),
        )
        .await;
    assert_eq!(code(&past), "too_large");
}

#[tokio::test]
async fn malformed_payloads_get_bad_request_and_the_server_keeps_serving() {
    let server = TestServer::start(&["--rate-burst", "100"]).await;
    let mut alice = Client::connect(&server, "alice").await;
    let mut bob = Client::connect(&server, "bob").await;
    alice.join("r").await;
    bob.join("r").await;
    let cases = [
        ("room:join", json!(null)),
        ("room:join", json!("r")),
        ("room:join", json!(["r"])),
        ("room:join", json!({})),
        ("room:join", json!({"room": 5})),
        ("room:join", json!({"room": ""})),
        ("room:join", json!({"room": "a\u{0}b"})),
        ("room:join", json!({"room": "a\nb"})),
        ("room:join", json!({"room": "x".repeat(65)})),
        ("room:join", json!({"room": "r", "since": -1})),
        ("room:join", json!({"room": "r", "since": 1e300})),
        ("room:join", json!({"room": "r", "since": 1.5})),
        ("room:join", json!({"room": "r", "epoch": 3})),
        ("room:leave", json!({"room": ["r"]})),
        ("chat:send", json!({"room": "r"})),
        ("chat:send", json!({"room": "r", "text": ""})),
        ("chat:send", json!({"room": "r", "text": []})),
        ("chat:send", json!({"room": "r", "text": {"a": 1}})),
        (
            "chat:send",
            json!({"room": "r", "text": "hi", "clientId": 12}),
        ),
        ("chat:send", json!(12345)),
        ("chat:history", json!({"room": "r", "limit": 2.5})),
        ("chat:history", json!({"room": "r", "before": "10"})),
        ("chat:history", json!({"room": "r", "after": -3})),
        ("chat:history", json!({"room": "r", "limit": 0})),
    ];
    for (event, payload) in cases {
        let ack = alice.call(event, payload.clone()).await;
        assert_eq!(code(&ack), "bad_request", "{event} {payload}");
        assert!(
            ack["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // No payload at all, and extra arguments.
    alice.raw.send_text(r#"4277["chat:send"]"#).await;
    alice
        .raw
        .send_text(r#"4278["chat:typing",{"room":"r","typing":"yes"}]"#)
        .await;
    let ack = alice
        .call("chat:send", json!({"room": "r", "text": "still fine"}))
        .await;
    assert_eq!(ack["ok"], true);
    assert_eq!(bob.next_event("chat:message").await["text"], "still fine");
    bob.assert_no_event("chat:typing").await;
}
