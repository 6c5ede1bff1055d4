//! SIGTERM on a loaded process: `/readyz` fails first, then every socket is closed cleanly,
//! the process exits 0 within the grace period, and every message it acknowledged is in the
//! history (kept in Redis, read back through a fresh process).

mod support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::{Client, ServerProcess, redis_available, unique_prefix};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn sigterm_with_100_clients_and_a_sender_mid_flight() {
    if !redis_available("sigterm_with_100_clients_and_a_sender_mid_flight") {
        return;
    }
    let prefix = unique_prefix("sigterm");
    let args = [
        "--redis-url",
        "redis://127.0.0.1:6379",
        "--redis-prefix",
        &prefix,
        "--drain-delay-ms",
        "300",
        "--shutdown-grace-ms",
        "5000",
        "--rate-burst",
        "100000",
        "--rate-limit",
        "100000",
    ];
    let server = ServerProcess::spawn(&args).await;
    let mut idle = Vec::new();
    for i in 0..100 {
        let mut client = Client::connect(&server.target(), &format!("idle{i}")).await;
        client.join("busy").await;
        idle.push(client);
    }

    // The sender pipelines sends (each with its ack id) without waiting, and records acks.
    let sender = Client::connect(&server.target(), "sender").await;
    let mut ws = sender.raw.ws;
    ws.send(Message::text(r#"421["room:join",{"room":"busy"}]"#))
        .await
        .unwrap();
    let (mut writer, mut reader) = ws.split();
    let writing = tokio::spawn(async move {
        for id in 2..100_000u64 {
            let packet = format!(r#"42{id}["chat:send",{{"room":"busy","text":"m{id}"}}]"#);
            if writer.send(Message::text(packet)).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
    });
    let reading = tokio::spawn(async move {
        let mut acked = Vec::new();
        while let Some(Ok(frame)) = reader.next().await {
            let Message::Text(text) = frame else { continue };
            if let Some(body) = text.strip_prefix("43") {
                let split = body.find('[').unwrap();
                if &body[..split] == "1" {
                    continue;
                }
                let ack: Vec<Value> = serde_json::from_str(&body[split..]).unwrap();
                if ack[0]["ok"] == true {
                    acked.push(ack[0]["message"]["id"].as_str().unwrap().to_owned());
                }
            }
        }
        acked
    });

    // Let some messages through, then stop the process mid-stream.
    let mut first = idle.pop().unwrap();
    first.next_event("chat:message").await;
    let started = Instant::now();
    server.terminate();
    // The signal lands asynchronously: poll until /readyz turns (within the drain delay).
    loop {
        let readyz = reqwest::get(format!("http://{}/readyz", server.addr))
            .await
            .unwrap();
        if readyz.status() == 503 {
            break;
        }
        assert_eq!(readyz.status(), 200);
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "/readyz never reported draining"
        );
    }
    let health = reqwest::get(format!("http://{}/healthz", server.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "still alive while draining");

    let code = server.exit_code(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "exit took {:?}",
        started.elapsed()
    );
    writing.abort();
    let acked = tokio::time::timeout(Duration::from_secs(5), reading)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !acked.is_empty(),
        "some sends were acknowledged before the shutdown"
    );
    for mut client in idle {
        client.raw.drain_until_closed().await;
    }

    let fresh = ServerProcess::spawn(&args[..4]).await;
    let mut reader = Client::connect(&fresh.target(), "auditor").await;
    let mut stored = std::collections::HashSet::new();
    let mut after = 0;
    assert_eq!(
        reader.call("room:join", json!({"room": "busy"})).await["ok"],
        true
    );
    loop {
        let page = reader
            .call(
                "chat:history",
                json!({"room": "busy", "after": after, "limit": 1000}),
            )
            .await;
        let messages = page["messages"].as_array().unwrap();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            stored.insert(message["id"].as_str().unwrap().to_owned());
            after = message["seq"].as_u64().unwrap();
        }
    }
    let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages are not in history",
        missing.len()
    );
}
