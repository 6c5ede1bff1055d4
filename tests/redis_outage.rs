//! Redis stopped and restarted mid-chat: error acks while it is down (no hang, no crash),
//! `/healthz` degraded, and normal service, cross-process broadcasts included, once it is back.
//! This file is its own test binary so that no other test shares the outage.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Client, ServerProcess, redis_available, unique_prefix};

/// The start command documented in the README.
const START_REDIS: &[&str] = &[
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
];

fn redis_answers() -> bool {
    Command::new("redis-cli")
        .args(["-p", "6379", "ping"])
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"PONG"))
}

fn start_redis() {
    let status = Command::new("redis-server")
        .args(START_REDIS)
        .status()
        .expect("redis-server runs");
    assert!(status.success());
}

fn subscribers(channel: &str) -> u64 {
    let output = Command::new("redis-cli")
        .args(["-p", "6379", "pubsub", "numsub", channel])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .nth(1)
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

/// Restarts Redis if the test ends (or fails) while it is down.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        if !redis_answers() {
            start_redis();
        }
    }
}

async fn until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn chat_survives_a_redis_restart() {
    if !redis_available("chat_survives_a_redis_restart") {
        return;
    }
    let prefix = unique_prefix("outage");
    let args = [
        "--redis-url",
        "redis://127.0.0.1:6379",
        "--redis-prefix",
        &prefix,
    ];
    let first = ServerProcess::spawn(&args).await;
    let second = ServerProcess::spawn(&args).await;
    let mut alice = Client::connect(&first.target(), "alice").await;
    let mut bob = Client::connect(&second.target(), "bob").await;
    alice.join("r").await;
    bob.join("r").await;
    alice
        .call("chat:send", json!({"room": "r", "text": "before"}))
        .await;
    assert_eq!(bob.next_event("chat:message").await["text"], "before");

    let _restart = RestartOnDrop;
    Command::new("redis-cli")
        .args(["-p", "6379", "shutdown", "nosave"])
        .status()
        .unwrap();
    until("redis down", Duration::from_secs(5), async || {
        !redis_answers()
    })
    .await;

    let started = Instant::now();
    let ack = alice
        .call("chat:send", json!({"room": "r", "text": "while down"}))
        .await;
    assert_eq!(ack["error"]["code"], "unavailable", "{ack}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "error ack took {:?}",
        started.elapsed()
    );
    let health = first.healthz().await.expect("the process stays up");
    assert_eq!(health["status"], "degraded");

    start_redis();
    until("redis up", Duration::from_secs(10), async || {
        redis_answers()
    })
    .await;
    for process in [&first, &second] {
        until("healthz ok", Duration::from_secs(10), async || {
            process
                .healthz()
                .await
                .is_some_and(|health| health["status"] == "ok")
        })
        .await;
    }

    // Both adapters are subscribed again to the namespace's cluster channel.
    let channel = format!("{prefix}-socket.io-request#/#");
    until(
        "adapters resubscribed",
        Duration::from_secs(10),
        async || subscribers(&channel) == 2,
    )
    .await;

    // Redis lost everything (no save): the room starts a new epoch, and broadcasts cross
    // processes again once the adapter has resubscribed.
    let mut delivered = false;
    let started = Instant::now();
    while !delivered {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "service did not come back"
        );
        let ack = alice
            .call("chat:send", json!({"room": "r", "text": "after"}))
            .await;
        if ack["ok"] == true {
            let message = bob
                .next_event_within("chat:message", Duration::from_secs(2))
                .await;
            assert_eq!(message["text"], "after");
            assert_eq!(message["seq"], 1, "a new sequence after the data loss");
            delivered = true;
        }
    }
    let rejoin = bob
        .call("room:join", json!({"room": "r", "since": 1}))
        .await;
    assert_eq!(rejoin["ok"], true, "{rejoin}");
}
