//! The STOMP bridge against the real RabbitMQ (STOMP plugin on 127.0.0.1:61613): what
//! Socket.IO clients see is what STOMP subscribers get, inbound messages become chat messages,
//! and a broker outage neither slows chat down nor grows memory.
//!
//! Without a broker these tests print `SKIPPED: ...` and pass, unless REQUIRE_SERVICES=1.

mod stomp_support;
#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use switchboard::sinks::stomp::codec::Frame;
use switchboard::sinks::stomp::room_routing_key;

use stomp_support::{
    BROKER_URL, Proxy, RawChat, StompClient, WAIT, stomp_stats, unique, wait_connected, wait_for,
};
use support::{Client, TestServer};

/// Well below what a user notices, and far below any broker timeout.
const FAST_ACK: Duration = Duration::from_millis(200);

fn chat_topic(room: &str) -> String {
    format!("/topic/chat.{}", room_routing_key(room))
}

fn presence_topic(room: &str) -> String {
    format!("/topic/presence.{}", room_routing_key(room))
}

fn body_text(frame: &Frame) -> String {
    String::from_utf8(frame.body.to_vec()).expect("UTF-8 body")
}

fn body_json(frame: &Frame) -> Value {
    serde_json::from_slice(&frame.body).expect("JSON body")
}

fn assert_bridge_headers(frame: &Frame, event: &str, node: &str) {
    assert_eq!(frame.get("content-type"), Some("application/json"));
    assert_eq!(frame.get("x-switchboard-event"), Some(event));
    assert_eq!(frame.get("x-switchboard-origin"), Some(node));
}

/// Removes a durable test queue when the test ends (best effort: `rabbitmqctl` is there when
/// RabbitMQ runs on this machine, as in CI).
struct QueueCleanup(String);

impl Drop for QueueCleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_queue", &self.0])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[tokio::test]
async fn messages_reach_stomp_byte_identical_and_in_order_for_three_rooms() {
    require_broker!();
    let node = unique("node");
    let server = TestServer::start(&["--stomp-url", BROKER_URL, "--node-id", &node]).await;
    // Names that need the routing-key encoding: dots, spaces, wildcards, slashes, non-ASCII.
    // The third is long enough in UTF-8 to take the hashed form of the key.
    let rooms: Vec<String> = ["a.b c", "*#/x %2F", &"é".repeat(40)]
        .iter()
        .map(|name| unique(name))
        .collect();
    assert!(room_routing_key(&rooms[2]).starts_with("~~"));
    let mut subscriber = StompClient::connect().await;
    for room in &rooms {
        subscriber.subscribe(&chat_topic(room)).await;
    }

    const PER_ROOM: usize = 30;
    let senders = rooms.iter().map(|room| {
        let server = &server;
        async move {
            let mut chat = RawChat::connect(server, "alice").await;
            chat.join(room).await;
            let mut emitted = Vec::new();
            for n in 0..PER_ROOM {
                let (ack, messages) = chat.send(room, &format!("message {n} in {room}")).await;
                assert_eq!(ack["ok"], true, "{ack}");
                emitted.extend(messages);
            }
            emitted
        }
    });
    let emitted: Vec<Vec<String>> = join_all(senders).await;

    let mut received: HashMap<String, Vec<String>> = HashMap::new();
    for _ in 0..rooms.len() * PER_ROOM {
        let frame = subscriber.next_message().await;
        assert_bridge_headers(&frame, "chat:message", &node);
        let destination = frame.get("destination").unwrap().to_owned();
        received
            .entry(destination)
            .or_default()
            .push(body_text(&frame));
    }
    for (room, emitted) in rooms.iter().zip(&emitted) {
        assert_eq!(emitted.len(), PER_ROOM);
        assert_eq!(
            received.get(&chat_topic(room)),
            Some(emitted),
            "room {room:?}: STOMP bodies differ from the Socket.IO JSON or its order"
        );
    }
    let stats = stomp_stats(&server).await;
    wait_for("every publish confirmed", WAIT, || async {
        stomp_stats(&server).await["published"].as_u64() >= Some(3 * PER_ROOM as u64)
    })
    .await;
    assert_eq!(stats["dropped"], 0);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn presence_events_reach_stomp() {
    require_broker!();
    let node = unique("node");
    let server = TestServer::start(&["--stomp-url", BROKER_URL, "--node-id", &node]).await;
    let room = unique("presence.room");
    let mut subscriber = StompClient::connect().await;
    subscriber.subscribe(&presence_topic(&room)).await;

    let mut alice = RawChat::connect(&server, "alice").await;
    alice.join(&room).await;
    let mut bob = Client::connect(&server, "bob").await;
    bob.join(&room).await;
    let bob_joined = alice.next_raw("room:presence").await;
    let ack = bob.call("room:leave", json!({ "room": room })).await;
    assert_eq!(ack["ok"], true);
    let bob_left = alice.next_raw("room:presence").await;

    let first = subscriber.next_message().await;
    assert_bridge_headers(&first, "room:presence", &node);
    let first = body_json(&first);
    assert_eq!(
        (&first["action"], &first["user"]["name"], &first["count"]),
        (&json!("join"), &json!("alice"), &json!(1))
    );
    let joined = subscriber.next_message().await;
    assert_bridge_headers(&joined, "room:presence", &node);
    assert_eq!(body_text(&joined), bob_joined);
    let left = subscriber.next_message().await;
    assert_eq!(body_text(&left), bob_left);
    assert_eq!(body_json(&left)["action"], "leave");
}

#[tokio::test]
async fn inbound_messages_become_chat_messages_and_are_republished() {
    require_broker!();
    let node = unique("node");
    let queue = unique("switchboard.test-inbound");
    let _cleanup = QueueCleanup(queue.clone());
    let destination = format!("/queue/{queue}");
    let server = TestServer::start(&[
        "--stomp-url",
        BROKER_URL,
        "--node-id",
        &node,
        "--stomp-inbound",
        "--stomp-inbound-destination",
        &destination,
    ])
    .await;
    let room = unique("inbound room");
    let mut subscriber = StompClient::connect().await;
    subscriber.subscribe(&chat_topic(&room)).await;
    let mut alice = Client::connect(&server, "alice").await;
    alice.join(&room).await;
    let ack = alice
        .call("chat:send", json!({ "room": room, "text": "first" }))
        .await;
    assert_eq!(ack["message"]["seq"], 1);
    alice.next_event("chat:message").await;
    wait_connected(&server).await;

    let mut producer = StompClient::connect().await;
    producer
        .send_confirmed(
            Frame::new("SEND")
                .header("destination", destination.clone())
                .header("room", room.clone())
                .header("content-type", "application/json")
                .body(r#"{"text":"hello from the broker","from":"bot"}"#),
        )
        .await;

    let message = alice.next_event("chat:message").await;
    assert_eq!(message["seq"], 2);
    assert_eq!(message["text"], "hello from the broker");
    assert_eq!(message["from"], json!({ "id": "stomp:bot", "name": "bot" }));
    assert_eq!(message["room"], room.as_str());

    let first = subscriber.next_message().await;
    assert_eq!(body_json(&first)["seq"], 1);
    let republished = subscriber.next_message().await;
    assert_bridge_headers(&republished, "chat:message", &node);
    assert_eq!(body_json(&republished), message);
    wait_for("inbound counted", WAIT, || async {
        stomp_stats(&server).await["inbound"] == 1
    })
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_inbound_frames_are_rejected_without_stopping_the_bridge() {
    require_broker!();
    let node = unique("node");
    let queue = unique("switchboard.test-malformed");
    let _cleanup = QueueCleanup(queue.clone());
    let destination = format!("/queue/{queue}");
    let server = TestServer::start(&[
        "--stomp-url",
        BROKER_URL,
        "--node-id",
        &node,
        "--stomp-inbound",
        "--stomp-inbound-destination",
        &destination,
    ])
    .await;
    let room = unique("malformed");
    let mut alice = Client::connect(&server, "alice").await;
    alice.join(&room).await;
    wait_connected(&server).await;

    let send = |room: Option<&str>, body: &str| {
        let mut frame = Frame::new("SEND").header("destination", destination.clone());
        if let Some(room) = room {
            frame = frame.header("room", room);
        }
        frame.body(body.as_bytes().to_vec())
    };
    let mut producer = StompClient::connect().await;
    let bad = [
        send(None, r#"{"text":"no room header"}"#),
        send(Some(&room), "not json"),
        send(Some(&room), r#"{"from":"no text"}"#),
        send(Some(&room), r#"{"text":""}"#),
        send(Some(&"r".repeat(500)), r#"{"text":"room too long"}"#),
        send(Some(&room), r#"{"text":"bad from","from":42}"#),
    ];
    let rejected = bad.len() as u64;
    for frame in bad {
        producer.send_confirmed(frame).await;
    }
    // Our own output coming back is acknowledged and ignored, not posted and not rejected.
    producer
        .send_confirmed(
            send(Some(&room), r#"{"text":"echo"}"#).header("x-switchboard-origin", node.clone()),
        )
        .await;
    producer
        .send_confirmed(send(Some(&room), r#"{"text":"good"}"#))
        .await;

    let message = alice.next_event("chat:message").await;
    assert_eq!(message["text"], "good");
    assert_eq!(message["seq"], 1);
    assert_eq!(
        message["from"],
        json!({ "id": "stomp:broker", "name": "STOMP" })
    );
    wait_for("the good message counted", WAIT, || async {
        stomp_stats(&server).await["inbound"] == 1
    })
    .await;
    let stats = stomp_stats(&server).await;
    assert_eq!(stats["inbound_rejected"], rejected, "{stats}");
    // The broker accepted every ACK and NACK: a bad one would have cost the connection.
    assert_eq!(stats["reconnects"], 0, "{stats}");
    assert_eq!(stats["connected"], true, "{stats}");

    // NACKed frames were dropped, not requeued: a requeued one would come back first.
    producer
        .send_confirmed(send(Some(&room), r#"{"text":"good 2"}"#))
        .await;
    assert_eq!(alice.next_event("chat:message").await["text"], "good 2");
    wait_for("the second good message counted", WAIT, || async {
        stomp_stats(&server).await["inbound"] == 2
    })
    .await;
    assert_eq!(stomp_stats(&server).await["inbound_rejected"], rejected);
    server.shutdown().await.unwrap();
}

/// Sends `text` and asserts the ack comes back fast and ok.
async fn send_fast(chat: &mut RawChat, room: &str, text: &str) -> Duration {
    let start = Instant::now();
    let (ack, _) = chat.send(room, text).await;
    let elapsed = start.elapsed();
    assert_eq!(ack["ok"], true, "{ack}");
    assert!(elapsed < FAST_ACK, "ack of {text:?} took {elapsed:?}");
    elapsed
}

/// Texts of the chat messages a subscriber gets until (and including) `last`.
async fn texts_until(subscriber: &mut StompClient, last: &str) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        let text = body_json(&subscriber.next_message().await)["text"]
            .as_str()
            .unwrap()
            .to_owned();
        texts.push(text.clone());
        if text == last {
            return texts;
        }
    }
}

#[tokio::test]
async fn broker_outage_keeps_chat_fast_and_recovers() {
    require_broker!();
    let proxy = Proxy::start().await;
    let server = TestServer::start(&["--stomp-url", &proxy.url()]).await;
    let room = unique("outage");
    let mut subscriber = StompClient::connect().await;
    subscriber.subscribe(&chat_topic(&room)).await;
    let mut chat = RawChat::connect(&server, "alice").await;
    chat.join(&room).await;
    wait_connected(&server).await;
    send_fast(&mut chat, &room, "before").await;
    assert_eq!(texts_until(&mut subscriber, "before").await, ["before"]);
    // Its receipt too, or "before" would rightly be sent again after the outage.
    wait_for("everything confirmed", WAIT, || async {
        let stats = stomp_stats(&server).await;
        stats["in_flight"] == 0 && stats["queued"] == 0
    })
    .await;

    proxy.refuse(true);
    proxy.cut_all();
    wait_for("the bridge to notice the outage", WAIT, || async {
        stomp_stats(&server).await["connected"] == false
    })
    .await;
    // About 1.5 s of chatting while the broker cannot be reached.
    let mut slowest = Duration::ZERO;
    let during: Vec<String> = (0..15).map(|n| format!("during {n}")).collect();
    for text in &during {
        slowest = slowest.max(send_fast(&mut chat, &room, text).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stomp_stats(&server).await["connected"], false);

    proxy.refuse(false);
    let reconnected = wait_for("the bridge to reconnect", WAIT, || async {
        let stats = stomp_stats(&server).await;
        stats["connected"] == true && stats["reconnects"].as_u64() >= Some(1)
    })
    .await;
    eprintln!(
        "outage: slowest ack {slowest:?}, reconnected {reconnected:?} after the broker came back"
    );
    // The backoff is capped at 5 s; the handshake adds little on loopback.
    assert!(reconnected < Duration::from_secs(6), "{reconnected:?}");

    send_fast(&mut chat, &room, "after").await;
    let mut texts = texts_until(&mut subscriber, "after").await;
    // At-least-once: an event whose receipt was lost with the connection may come twice.
    texts.dedup();
    let mut expected = during.clone();
    expected.push("after".into());
    assert_eq!(texts, expected);
    let stats = stomp_stats(&server).await;
    assert_eq!(stats["dropped"], 0, "{stats}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_silent_broker_is_detected_by_heartbeats() {
    require_broker!();
    let proxy = Proxy::start().await;
    // 500 ms heart-beats both ways: silence for 2 x 500 ms + 1 s means the broker is gone.
    let url = format!("{}?heartbeat=500", proxy.url());
    let server = TestServer::start(&["--stomp-url", &url]).await;
    let room = unique("silent");
    let mut subscriber = StompClient::connect().await;
    subscriber.subscribe(&chat_topic(&room)).await;
    let mut chat = RawChat::connect(&server, "alice").await;
    chat.join(&room).await;
    wait_connected(&server).await;
    let accepted = proxy.accepted.load(std::sync::atomic::Ordering::SeqCst);

    proxy.freeze_all();
    send_fast(&mut chat, &room, "while silent").await;
    let detected = wait_for("the silence to be noticed", WAIT, || async {
        stomp_stats(&server).await["reconnects"].as_u64() >= Some(1)
    })
    .await;
    eprintln!("silent broker: replaced by a new connection after {detected:?}");
    assert!(detected < Duration::from_secs(5), "{detected:?}");
    assert!(proxy.accepted.load(std::sync::atomic::Ordering::SeqCst) > accepted);

    send_fast(&mut chat, &room, "after").await;
    let mut texts = texts_until(&mut subscriber, "after").await;
    texts.dedup();
    assert_eq!(texts, ["while silent", "after"]);
    proxy.cut_all();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn tiny_queue_drops_the_oldest_while_the_broker_is_unreachable() {
    require_broker!();
    let proxy = Proxy::start().await;
    proxy.refuse(true);
    let server = TestServer::start(&["--stomp-url", &proxy.url(), "--stomp-queue-size", "5"]).await;
    let room = unique("tiny");
    let mut subscriber = StompClient::connect().await;
    subscriber.subscribe(&chat_topic(&room)).await;
    let mut chat = RawChat::connect(&server, "alice").await;
    chat.join(&room).await;
    for n in 1..=20 {
        send_fast(&mut chat, &room, &format!("m{n}")).await;
    }
    let stats = stomp_stats(&server).await;
    assert_eq!(stats["connected"], false, "{stats}");
    assert!(stats["queued"].as_u64().unwrap() <= 5, "{stats}");
    // 20 messages and alice's join went through a 5-slot queue.
    assert_eq!(stats["dropped"], 16, "{stats}");

    proxy.refuse(false);
    wait_connected(&server).await;
    send_fast(&mut chat, &room, "after").await;
    let texts = texts_until(&mut subscriber, "after").await;
    assert_eq!(texts, ["m16", "m17", "m18", "m19", "m20", "after"]);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_flushes_the_queue() {
    require_broker!();
    let server = TestServer::start(&["--stomp-url", BROKER_URL]).await;
    let room = unique("shutdown");
    let mut subscriber = StompClient::connect().await;
    subscriber.subscribe(&chat_topic(&room)).await;
    let mut chat = RawChat::connect(&server, "alice").await;
    chat.join(&room).await;
    for n in 1..=30 {
        chat.send(&room, &format!("m{n}")).await;
    }
    server.shutdown().await.unwrap();
    let texts = texts_until(&mut subscriber, "m30").await;
    assert_eq!(texts.len(), 30);
}

#[tokio::test]
async fn bridges_a_burst_and_reports_the_rate() {
    require_broker!();
    let config = <switchboard::Config as clap::Parser>::parse_from([
        "switchboard",
        "--stomp-url",
        BROKER_URL,
        "--static-dir",
        "/nonexistent-switchboard-test",
    ]);
    let app = switchboard::build_app(&config).await.unwrap();
    let bridge = app.bridge.clone().unwrap();
    let room = unique("burst");
    let mut subscriber = StompClient::connect().await;
    subscriber.subscribe(&chat_topic(&room)).await;
    wait_for("the bridge to connect", WAIT, || async {
        bridge.stats().connected
    })
    .await;

    const COUNT: u64 = 5_000;
    let user = switchboard::chat::protocol::User {
        id: "bench".into(),
        name: "bench".into(),
    };
    let start = Instant::now();
    for n in 0..COUNT {
        app.chat
            .post(&room, user.clone(), &format!("burst {n}"))
            .await
            .unwrap();
    }
    let posted = start.elapsed();
    wait_for(
        "the burst to be confirmed",
        Duration::from_secs(60),
        || async { bridge.stats().published >= COUNT },
    )
    .await;
    let confirmed = start.elapsed();
    let mut last = 0;
    for _ in 0..COUNT {
        last = body_json(&subscriber.next_message().await)["seq"]
            .as_u64()
            .unwrap();
    }
    eprintln!(
        "burst: {COUNT} posts in {posted:?}, all confirmed after {confirmed:?} ({:.0} messages/s)",
        COUNT as f64 / confirmed.as_secs_f64()
    );
    assert_eq!(last, COUNT);
    assert_eq!(bridge.stats().dropped, 0);
    bridge.shutdown().await;
}
