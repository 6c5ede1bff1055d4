//! Engine.IO v4 conformance of the echo endpoint, with the settings the official protocol
//! suite uses (ping interval 300 ms, ping timeout 200 ms, max payload 1e6): handshake fields,
//! bad requests, polling and WebSocket messages, heartbeat, close, and the upgrade probe.

mod support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use support::TestServer;
use tokio_tungstenite::tungstenite::Message;

const SEPARATOR: char = '\u{1e}';

async fn server() -> TestServer {
    TestServer::start(&[
        "--ping-interval-ms",
        "300",
        "--ping-timeout-ms",
        "200",
        "--max-payload",
        "1000000",
    ])
    .await
}

fn url(server: &TestServer, query: &str) -> String {
    server.http(&format!("/engine.io/?{query}"))
}

async fn open_polling(server: &TestServer) -> String {
    let body = reqwest::get(url(server, "EIO=4&transport=polling"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open: Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    open["sid"].as_str().unwrap().to_owned()
}

async fn post(server: &TestServer, sid: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(url(server, &format!("EIO=4&transport=polling&sid={sid}")))
        .body(body.to_owned())
        .send()
        .await
        .map(|response| response.status().as_u16())
        .unwrap_or(0)
}

async fn poll(server: &TestServer, sid: &str) -> (u16, String) {
    let response = reqwest::get(url(server, &format!("EIO=4&transport=polling&sid={sid}")))
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_ws(server: &TestServer, query: &str) -> Ws {
    let url = format!("ws://{}/engine.io/?{query}", server.addr);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next data frame; None when the connection closes.
async fn next(ws: &mut Ws) -> Option<Message> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("frame in time")
        {
            Some(Ok(Message::Text(text))) => return Some(Message::Text(text)),
            Some(Ok(Message::Binary(bytes))) => return Some(Message::Binary(bytes)),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Some(Message::Text(text)) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

#[tokio::test]
async fn polling_handshake_has_exactly_the_protocol_fields() {
    let server = server().await;
    let response = reqwest::get(url(&server, "EIO=4&transport=polling"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let open: Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    let mut keys: Vec<&str> = open
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ]
    );
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(
        (open["pingInterval"].as_u64(), open["pingTimeout"].as_u64()),
        (Some(300), Some(200))
    );
    assert_eq!(open["maxPayload"], 1_000_000);
}

#[tokio::test]
async fn websocket_handshake_offers_no_upgrade() {
    let server = server().await;
    let mut ws = open_ws(&server, "EIO=4&transport=websocket").await;
    let open: Value =
        serde_json::from_str(next_text(&mut ws).await.strip_prefix('0').unwrap()).unwrap();
    assert_eq!(open["upgrades"], serde_json::json!([]));
    assert_eq!(open["pingInterval"], 300);
}

#[tokio::test]
async fn bad_handshakes_are_400() {
    let server = server().await;
    for query in [
        "transport=polling",
        "EIO=abc&transport=polling",
        "EIO=4",
        "EIO=4&transport=abc",
    ] {
        let status = reqwest::get(url(&server, query)).await.unwrap().status();
        assert_eq!(status, 400, "{query}");
    }
    for method in [reqwest::Method::POST, reqwest::Method::PUT] {
        let status = reqwest::Client::new()
            .request(method.clone(), url(&server, "EIO=4&transport=polling"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 400, "{method}");
    }
}

#[tokio::test]
async fn polling_echoes_text_and_binary_packets() {
    let server = server().await;
    let sid = open_polling(&server).await;
    assert_eq!(post(&server, &sid, "4hello").await, 200);
    assert_eq!(poll(&server, &sid).await, (200, "4hello".to_owned()));

    let several = format!("4test1{SEPARATOR}4test2{SEPARATOR}4test3");
    assert_eq!(post(&server, &sid, &several).await, 200);
    assert_eq!(poll(&server, &sid).await, (200, several));

    let mixed = format!("4hello{SEPARATOR}bAQIDBA==");
    assert_eq!(post(&server, &sid, &mixed).await, 200);
    assert_eq!(poll(&server, &sid).await, (200, mixed));
}

#[tokio::test]
async fn polling_invalid_packet_closes_the_session() {
    let server = server().await;
    let sid = open_polling(&server).await;
    let status = post(&server, &sid, "abc").await;
    assert!(status == 400 || status == 0, "got {status}");
    assert_eq!(poll(&server, &sid).await.0, 400);
}

#[tokio::test]
async fn polling_duplicate_get_closes_the_session() {
    let server = server().await;
    let sid = open_polling(&server).await;
    let first = tokio::spawn({
        let url = url(&server, &format!("EIO=4&transport=polling&sid={sid}"));
        async move { reqwest::get(url).await.unwrap() }
    });
    // The second poll must arrive while the first is pending: wait until the server holds it.
    let started = Instant::now();
    let second = loop {
        let response = reqwest::get(url(
            &server,
            &format!("EIO=4&transport=polling&sid={sid}&t=burst"),
        ))
        .await
        .unwrap();
        if response.status() != 200 || started.elapsed() > Duration::from_secs(2) {
            break response.status().as_u16();
        }
    };
    assert!(second == 400 || second == 500, "got {second}");
    let first = first.await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), "1");
    assert_eq!(poll(&server, &sid).await.0, 400);
}

#[tokio::test]
async fn polling_server_pings_after_the_interval_and_times_out() {
    let server = server().await;
    let opened = Instant::now();
    let sid = open_polling(&server).await;
    for round in 0..3 {
        assert_eq!(poll(&server, &sid).await, (200, "2".to_owned()));
        if round == 0 {
            // The first ping comes one interval after the handshake, not at once.
            assert!(
                opened.elapsed() >= Duration::from_millis(290),
                "first ping after {:?}",
                opened.elapsed()
            );
        }
        assert_eq!(post(&server, &sid, "3").await, 200);
    }
    let silent = open_polling(&server).await;
    tokio::time::sleep(Duration::from_millis(300 + 200 + 10)).await;
    assert_eq!(
        poll(&server, &silent).await.0,
        400,
        "no pong within the timeout closes the session"
    );
}

#[tokio::test]
async fn polling_cancelled_request_closes_the_session() {
    let server = server().await;
    let sid = open_polling(&server).await;
    let pending = tokio::spawn(reqwest::get(url(
        &server,
        &format!("EIO=4&transport=polling&sid={sid}"),
    )));
    tokio::time::sleep(Duration::from_millis(20)).await;
    pending.abort();
    let started = Instant::now();
    loop {
        if poll(&server, &sid).await.0 == 400 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "session survived a cancelled poll"
        );
    }
}

#[tokio::test]
async fn polling_close_packet_ends_the_session() {
    let server = server().await;
    let sid = open_polling(&server).await;
    let pending = tokio::spawn({
        let url = url(&server, &format!("EIO=4&transport=polling&sid={sid}"));
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    });
    assert_eq!(post(&server, &sid, "1").await, 200);
    assert_eq!(pending.await.unwrap(), "6");
    assert_eq!(poll(&server, &sid).await.0, 400);
}

#[tokio::test]
async fn websocket_echo_ping_and_invalid_packet() {
    let server = server().await;
    let mut ws = open_ws(&server, "EIO=4&transport=websocket").await;
    next_text(&mut ws).await;
    ws.send(Message::text("4hello")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "4hello");
    ws.send(Message::binary(vec![1, 2, 3, 4])).await.unwrap();
    assert_eq!(next(&mut ws).await, Some(Message::binary(vec![1, 2, 3, 4])));
    for _ in 0..3 {
        assert_eq!(next_text(&mut ws).await, "2");
        ws.send(Message::text("3")).await.unwrap();
    }
    ws.send(Message::text("abc")).await.unwrap();
    assert_eq!(next(&mut ws).await, None, "invalid packet closes");
}

#[tokio::test]
async fn websocket_ping_timeout_and_close_packet() {
    let server = server().await;
    let mut silent = open_ws(&server, "EIO=4&transport=websocket").await;
    next_text(&mut silent).await;
    assert_eq!(next_text(&mut silent).await, "2", "server pings");
    // No pong: the server may say "1" (close) before closing the socket.
    let mut frame = next(&mut silent).await;
    if frame == Some(Message::text("1")) {
        frame = next(&mut silent).await;
    }
    assert_eq!(frame, None, "no pong: closed");

    let mut closing = open_ws(&server, "EIO=4&transport=websocket").await;
    next_text(&mut closing).await;
    closing.send(Message::text("1")).await.unwrap();
    assert_eq!(next(&mut closing).await, None);
}

#[tokio::test]
async fn upgrade_from_polling_to_websocket() {
    let server = server().await;
    let sid = open_polling(&server).await;
    let mut ws = open_ws(&server, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    ws.send(Message::text("2probe")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "3probe");
    assert_eq!(
        poll(&server, &sid).await,
        (200, "6".to_owned()),
        "noop ends the pending poll"
    );
    ws.send(Message::text("5")).await.unwrap();
    ws.send(Message::text("4hello")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "4hello");
    assert_eq!(
        poll(&server, &sid).await.0,
        400,
        "polling is over after the upgrade"
    );
}
