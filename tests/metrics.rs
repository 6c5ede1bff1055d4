//! `/metrics` in the Prometheus text format, parsed by a Prometheus parser; counters move when
//! the events happen. (The recorder is process-wide, so assertions use differences.)

mod support;

use prometheus_parse::{Scrape, Value as Sample};
use serde_json::json;
use support::{Client, TestServer};

async fn scrape(server: &TestServer) -> Scrape {
    let response = reqwest::get(server.http("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let body = response.text().await.unwrap();
    let lines = body.lines().map(|line| Ok(line.to_owned()));
    Scrape::parse(lines).expect("valid Prometheus text format")
}

fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| {
            labels
                .iter()
                .all(|(key, value)| sample.labels.get(key) == Some(*value))
        })
        .map(|sample| match &sample.value {
            Sample::Counter(value) | Sample::Gauge(value) | Sample::Untyped(value) => *value,
            Sample::Histogram(buckets) => buckets.last().map_or(0.0, |bucket| bucket.count),
            Sample::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn counters_move_with_the_events() {
    let server = TestServer::start(&["--rate-limit", "0.001", "--rate-burst", "3"]).await;
    let mut alice = Client::connect(&server, "alice").await;
    alice.join("metrics-room").await;
    let before = scrape(&server).await;
    assert!(
        value(
            &before,
            "switchboard_connections",
            &[("transport", "websocket")]
        ) >= 1.0
    );
    assert!(value(&before, "switchboard_rooms", &[]) >= 1.0);

    for i in 0..4 {
        alice
            .call(
                "chat:send",
                json!({"room": "metrics-room", "text": i.to_string()}),
            )
            .await;
    }
    alice
        .call("chat:send", json!({"room": "nowhere", "text": "x"}))
        .await;
    let after = scrape(&server).await;

    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(delta("switchboard_messages_received_total", &[]), 3.0);
    assert_eq!(delta("switchboard_messages_broadcast_total", &[]), 3.0);
    assert!(delta("switchboard_deliveries_total", &[("event", "chat:message")]) >= 3.0);
    assert_eq!(
        delta(
            "switchboard_acks_total",
            &[("event", "chat:send"), ("code", "ok")]
        ),
        3.0
    );
    assert_eq!(
        delta(
            "switchboard_acks_total",
            &[("event", "chat:send"), ("code", "rate_limited")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "switchboard_acks_total",
            &[("event", "chat:send"), ("code", "not_in_room")]
        ),
        1.0
    );
    assert!(delta("switchboard_rate_limited_total", &[]) >= 1.0);
    assert_eq!(
        delta("switchboard_chat_send_duration_seconds", &[]),
        3.0,
        "one observation per stored send"
    );
    assert!(value(&after, "switchboard_history_messages", &[]) >= 3.0);
}
