//! The server over real sockets: handshake, both transports, payload limits, garbage input,
//! HTTP endpoints and graceful shutdown.

mod support;

use serde_json::{Value, json};
use support::{Client, Polling, RawWs, TestServer, WAIT};

#[tokio::test]
async fn healthz_reports_version_uptime_and_connections() {
    let server = TestServer::start(&[]).await;
    let _alice = Client::connect(&server, "alice").await;
    let response = reqwest::get(server.http("/healthz")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
    assert_eq!(body["connections"], 1);
}

#[tokio::test]
async fn placeholder_page_when_the_demo_is_not_built() {
    let server = TestServer::start(&[]).await;
    let response = reqwest::get(server.http("/")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("demo app is not built")
    );
    assert_eq!(
        reqwest::get(server.http("/missing.js"))
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn serves_the_static_dir() {
    let dir = std::env::temp_dir().join(format!("switchboard-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>demo index</h1>").unwrap();
    std::fs::write(dir.join("assets/app.js"), "console.log('app')").unwrap();
    let mut config = <switchboard::Config as clap::Parser>::parse_from(["switchboard"]);
    config.static_dir = dir.clone();
    let server = TestServer::start_with(config).await;
    let index = reqwest::get(server.http("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(index.contains("demo index"));
    let script = reqwest::get(server.http("/assets/app.js")).await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains("console.log"));
    let route = reqwest::get(server.http("/rooms/lobby")).await.unwrap();
    assert!(
        route.text().await.unwrap().contains("demo index"),
        "client routes get the app"
    );
    let stale = reqwest::get(server.http("/assets/old-build.js"))
        .await
        .unwrap();
    assert_eq!(
        stale.status(),
        404,
        "a missing asset is a 404, not the app page"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn handshake_carries_the_configured_timings_and_limit() {
    let server = TestServer::start(&[
        "--ping-interval-ms",
        "300",
        "--ping-timeout-ms",
        "200",
        "--max-payload",
        "1000000",
    ])
    .await;
    let (_ws, handshake) = RawWs::open(&server).await;
    assert_eq!(handshake["pingInterval"], 300);
    assert_eq!(handshake["pingTimeout"], 200);
    assert_eq!(handshake["maxPayload"], 1_000_000);
    let (_polling, handshake) = Polling::open(&server).await;
    assert_eq!(handshake["upgrades"], json!(["websocket"]));
}

#[tokio::test]
async fn handshake_without_a_valid_name_is_unauthorized() {
    let server = TestServer::start(&[]).await;
    let too_long = "n".repeat(65);
    for auth in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "  "}),
        json!({"name": 7}),
        json!({"name": too_long}),
    ] {
        let refused = Client::try_connect(&server, auth.clone()).await.err();
        assert_eq!(refused.as_deref(), Some("unauthorized"), "auth {auth}");
    }
    assert!(
        Client::try_connect(&server, json!({"name": "n".repeat(64)}))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn name_length_limit_is_configurable() {
    let server = TestServer::start(&["--max-name-len", "3"]).await;
    assert!(
        Client::try_connect(&server, json!({"name": " abc "}))
            .await
            .is_ok()
    );
    let refused = Client::try_connect(&server, json!({"name": "abcd"}))
        .await
        .err();
    assert_eq!(refused.as_deref(), Some("unauthorized"));
}

#[tokio::test]
async fn max_connections_at_and_past_the_bound_on_both_transports() {
    let server = TestServer::start(&["--max-connections", "2"]).await;
    let first = Client::connect(&server, "one").await;
    let (second, _) = Polling::open(&server).await;
    second.connect("two").await;

    let polling = reqwest::get(server.http("/socket.io/?EIO=4&transport=polling"))
        .await
        .unwrap();
    assert_eq!(polling.status(), 503);
    let body: Value = polling.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("too many connections")
    );
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected HTTP 503, got {:?}", other.map(|_| ())),
    }
    // Existing sessions keep working.
    assert_eq!(second.post(r#"421["room:join",{"room":"r"}]"#).await, 200);
    assert!(
        second
            .poll()
            .await
            .unwrap()
            .iter()
            .any(|p| p.starts_with("431"))
    );

    drop(first);
    let started = std::time::Instant::now();
    while Client::try_connect_checked(&server, json!({"name": "three"}))
        .await
        .is_none()
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "a freed slot was never reused"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn per_ip_connection_rate_at_and_past_the_bound() {
    let server =
        TestServer::start(&["--ip-connect-rate", "0.001", "--ip-connect-burst", "3"]).await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(Polling::open(&server).await.0);
    }
    let refused = reqwest::get(server.http("/socket.io/?EIO=4&transport=polling"))
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    // Requests of open sessions are not new sessions: they pass.
    sessions[0].connect("still-fine").await;
}

#[tokio::test]
async fn unknown_namespace_is_refused() {
    let server = TestServer::start(&[]).await;
    let (mut raw, _) = RawWs::open(&server).await;
    raw.send_text(r#"40/admin,{"name":"a"}"#).await;
    let reply = raw.next_text().await.unwrap();
    assert!(reply.starts_with("44/admin,"), "got {reply}");
}

#[tokio::test]
async fn websocket_message_over_max_payload_closes_only_that_connection() {
    let server = TestServer::start(&["--max-payload", "10000"]).await;
    let mut bystander = Client::connect(&server, "bob").await;
    bystander.join("r").await;

    let mut sender = Client::connect(&server, "alice").await;
    sender.join("r").await;
    let at_limit = "x".repeat(9_000);
    let ack = sender
        .call("chat:history", json!({"room": "r", "pad": at_limit}))
        .await;
    assert_eq!(ack["ok"], true, "a message under the limit is served");

    let oversized = format!(
        "42{}",
        json!(["chat:send", {"room": "r", "text": "y".repeat(10_001)}])
    );
    sender.raw.send_text(oversized).await;
    sender.raw.expect_closed().await;

    let joined = bystander.next_event("room:presence").await;
    assert_eq!(joined["action"], "join");
    let left = bystander.next_event("room:presence").await;
    assert_eq!(
        (left["action"].as_str(), left["count"].as_u64()),
        (Some("leave"), Some(1))
    );
    let ack = bystander
        .call("chat:send", json!({"room": "r", "text": "still here"}))
        .await;
    assert_eq!(ack["ok"], true);
}

#[tokio::test]
async fn polling_body_over_max_payload_is_413_and_closes_only_that_session() {
    let server = TestServer::start(&["--max-payload", "10000"]).await;
    let mut bystander = Client::connect(&server, "bob").await;
    bystander.join("r").await;

    let (polling, _) = Polling::open(&server).await;
    polling.connect("alice").await;
    let oversized = format!(
        "42{}",
        json!(["chat:send", {"room": "r", "text": "y".repeat(10_001)}])
    );
    assert_eq!(polling.post(oversized).await, 413);
    let after = polling.poll().await;
    assert!(
        after.is_err() || after.unwrap().iter().any(|p| p == "1" || p == "6"),
        "session still open"
    );

    let ack = bystander
        .call("chat:send", json!({"room": "r", "text": "still here"}))
        .await;
    assert_eq!(ack["ok"], true);
}

/// `slow_client_disconnects` from `/healthz`.
async fn slow_client_disconnects(server: &TestServer) -> Value {
    let health: Value = reqwest::get(server.http("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["slow_client_disconnects"].clone()
}

/// Every packet a polling session still gets until it is closed (HTTP 400, or a close or
/// disconnect packet); fails if that takes longer than `WAIT`.
async fn packets_until_closed(polling: &Polling) -> Vec<String> {
    let deadline = std::time::Instant::now() + WAIT;
    let mut received = Vec::new();
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the session was never closed"
        );
        match polling.poll().await {
            Err(status) => {
                assert_eq!(status, 400);
                return received;
            }
            Ok(packets) => {
                let closed = packets.iter().any(|p| p == "41" || p == "1");
                received.extend(packets);
                if closed {
                    return received;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_not_silently_skipped() {
    let server = TestServer::start(&[
        "--max-buffer",
        "16",
        "--ping-interval-ms",
        "400",
        "--ping-timeout-ms",
        "400",
        "--rate-burst",
        "200",
    ])
    .await;
    let mut sender = Client::connect(&server, "sender").await;
    sender.join("r").await;
    let mut reader = Client::connect(&server, "reader").await;
    reader.join("r").await;

    // A polling client that joins, then never polls again: its queue can only fill up.
    let (stalled, _) = Polling::open(&server).await;
    stalled.connect("stalled").await;
    assert_eq!(stalled.post(r#"421["room:join",{"room":"r"}]"#).await, 200);
    let packets = stalled.poll().await.unwrap();
    assert!(packets.iter().any(|p| p.starts_with("431")), "{packets:?}");

    for i in 0..40 {
        let ack = sender
            .call("chat:send", json!({"room": "r", "text": i.to_string()}))
            .await;
        assert_eq!(ack["ok"], true);
    }
    for expected in 1..=40 {
        assert_eq!(
            reader.next_event("chat:message").await["seq"],
            expected,
            "others miss nothing"
        );
    }
    assert_eq!(slow_client_disconnects(&server).await, 1);

    // The stalled client finds its session closed (or ended by a disconnect packet), never a
    // stream with a hole in it: what it did get is a gap-free prefix.
    let seqs: Vec<u64> = packets_until_closed(&stalled)
        .await
        .iter()
        .filter_map(|packet| packet.strip_prefix("42"))
        .map(|body| serde_json::from_str::<Value>(body).unwrap())
        .filter(|event| event[0] == "chat:message")
        .map(|event| event[1]["seq"].as_u64().unwrap())
        .collect();
    assert!(
        seqs.len() < 40,
        "the stalled client cannot have received everything"
    );
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "a gap-free prefix"
    );
    let left = reader.next_event("room:presence").await;
    assert_eq!(
        (left["action"].as_str(), left["user"]["name"].as_str()),
        (Some("join"), Some("stalled"))
    );
    let left = reader.next_event("room:presence").await;
    assert_eq!(
        (left["action"].as_str(), left["user"]["name"].as_str()),
        (Some("leave"), Some("stalled"))
    );
}

#[tokio::test]
async fn an_ack_that_finds_the_queue_full_closes_the_connection_instead_of_being_dropped() {
    let server = TestServer::start(&["--max-buffer", "16", "--rate-burst", "200"]).await;
    let (stalled, _) = Polling::open(&server).await;
    stalled.connect("stalled").await;
    assert_eq!(stalled.post(r#"421["room:join",{"room":"r"}]"#).await, 200);
    let packets = stalled.poll().await.unwrap();
    assert!(packets.iter().any(|p| p.starts_with("431")), "{packets:?}");

    // Acks only, no broadcast: 24 history requests in one payload, and no poll for the answers.
    let requests: Vec<String> = (2..26)
        .map(|id| format!(r#"42{id}["chat:history",{{"room":"r"}}]"#))
        .collect();
    assert_eq!(stalled.post(requests.join("\u{1e}")).await, 200);

    let deadline = std::time::Instant::now() + WAIT;
    let counted = loop {
        let counted = slow_client_disconnects(&server).await;
        if counted == 1 || std::time::Instant::now() > deadline {
            break counted;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(
        counted, 1,
        "the overflowing ack closed the connection and was counted"
    );
    // The session is gone; before this patch it stayed open with 8 acks silently dropped.
    let ack_ids: Vec<u64> = packets_until_closed(&stalled)
        .await
        .iter()
        .filter_map(|packet| packet.strip_prefix("43"))
        .map(|rest| rest[..rest.find('[').unwrap()].parse().unwrap())
        .collect();
    assert!(ack_ids.len() < 24, "not every ack can have fitted");
    assert_eq!(
        ack_ids,
        (2..2 + ack_ids.len() as u64).collect::<Vec<_>>(),
        "the acks it got are a gap-free prefix"
    );
}

#[tokio::test]
async fn polling_chat_round_trip() {
    let server = TestServer::start(&[]).await;
    let mut alice = Client::connect(&server, "alice").await;
    alice.join("r").await;
    let (polling, _) = Polling::open(&server).await;
    polling.connect("bob").await;
    assert_eq!(polling.post(r#"421["room:join",{"room":"r"}]"#).await, 200);
    let packets = polling.poll().await.unwrap();
    let ack = packets
        .iter()
        .find(|p| p.starts_with("431"))
        .expect("join ack");
    let ack: Value = serde_json::from_str(&ack[3..]).unwrap();
    assert_eq!(ack[0]["ok"], true);
    assert_eq!(ack[0]["members"].as_array().unwrap().len(), 2);

    alice
        .call("chat:send", json!({"room": "r", "text": "to polling"}))
        .await;
    let packets = polling.poll().await.unwrap();
    let message = packets
        .iter()
        .find(|p| p.contains("chat:message"))
        .expect("message");
    assert!(message.contains("to polling"));
}

#[tokio::test]
async fn garbage_engine_io_packets_close_the_connection_and_spare_others() {
    let server = TestServer::start(&[]).await;
    let mut healthy = Client::connect(&server, "healthy").await;
    healthy.join("r").await;

    let websocket_garbage: [&[u8]; 5] = [
        b"9xyz",
        b"42[",
        b"4{\"not\":\"an array\"}",
        b"",
        b"\xff\xfe",
    ];
    for garbage in websocket_garbage {
        let mut client = Client::connect(&server, "garbage").await;
        match std::str::from_utf8(garbage) {
            Ok(text) => client.raw.send_text(text).await,
            Err(_) => client.raw.send_binary(garbage.to_vec()).await,
        }
        // Either the connection closes or the packet is ignored; both leave the server serving.
        let ack = healthy
            .call("chat:send", json!({"room": "r", "text": "ok"}))
            .await;
        assert_eq!(ack["ok"], true, "after {garbage:?}");
    }

    for garbage in ["9xyz", "42[", "\u{1e}\u{1e}", "4", "42[\"room:join\",{]"] {
        let (polling, _) = Polling::open(&server).await;
        polling.connect("garbage").await;
        let status = polling.post(garbage).await;
        assert!(status == 200 || status == 400, "{garbage:?} gave {status}");
        let ack = healthy
            .call("chat:send", json!({"room": "r", "text": "ok"}))
            .await;
        assert_eq!(ack["ok"], true, "after {garbage:?}");
    }
    let status = reqwest::Client::new()
        .post(server.http("/socket.io/?EIO=4&transport=polling&sid=doesnotexist"))
        .body("40")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);
}

#[tokio::test]
async fn graceful_shutdown_disconnects_every_socket_and_returns() {
    let server = TestServer::start(&["--shutdown-grace-ms", "5000"]).await;
    let mut websocket = Client::connect(&server, "ws").await;
    websocket.join("r").await;
    let (polling, _) = Polling::open(&server).await;
    polling.connect("polling").await;

    let started = std::time::Instant::now();
    server.shutdown().await.expect("serve returns Ok");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    websocket.raw.expect_closed().await;
}
