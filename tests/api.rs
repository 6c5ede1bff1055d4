//! The HTTP publish API: off without a key, 401/403 for missing or wrong keys, 400/413/429
//! as JSON errors, and a posted message that Socket.IO clients receive like any other.

mod support;

use serde_json::{Value, json};
use support::{Client, TestServer};

const KEY: &str = "test-api-key-0123456789";

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn the_api_is_off_without_a_key() {
    let server = TestServer::start(&[]).await;
    let response = http()
        .get(server.http("/api/rooms"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn posted_messages_are_stored_and_broadcast() {
    let server = TestServer::start(&["--api-key", KEY]).await;
    let mut alice = Client::connect(&server, "alice").await;
    alice.join("news").await;
    alice
        .call("chat:send", json!({"room": "news", "text": "first"}))
        .await;

    let response = http()
        .post(server.http("/api/rooms/news/messages"))
        .bearer_auth(KEY)
        .json(&json!({"text": "from the backend", "from": "deploy-bot"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let posted: Value = response.json().await.unwrap();
    assert_eq!(posted["seq"], 2);
    assert_eq!(
        posted["from"],
        json!({"id": "api:deploy-bot", "name": "deploy-bot"})
    );
    alice.next_event("chat:message").await;
    assert_eq!(alice.next_event("chat:message").await, posted);

    let rooms: Value = http()
        .get(server.http("/api/rooms"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rooms["rooms"], json!([{"room": "news", "count": 1}]));
    let page: Value = http()
        .get(server.http("/api/rooms/news/messages?after=1&limit=5"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"], json!([posted]));
    assert!(page["epoch"].is_string());
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let server = TestServer::start(&["--api-key", KEY, "--max-text", "10"]).await;
    let url = server.http("/api/rooms/r/messages");
    let (status, code) = error_code(
        http()
            .post(&url)
            .json(&json!({"text": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    let (status, code) = error_code(
        http()
            .post(&url)
            .bearer_auth("wrong-key-0123456789")
            .json(&json!({"text": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    for body in [
        json!({}),
        json!({"text": 5}),
        json!({"text": ""}),
        json!({"text": "x", "from": 3}),
    ] {
        let (status, code) = error_code(
            http()
                .post(&url)
                .bearer_auth(KEY)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{body}");
    }
    let (status, _) = error_code(
        http()
            .post(&url)
            .bearer_auth(KEY)
            .body("not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    let at = http()
        .post(&url)
        .bearer_auth(KEY)
        .json(&json!({"text": "0123456789"}))
        .send()
        .await
        .unwrap();
    assert_eq!(at.status(), 201);
    let (status, code) = error_code(
        http()
            .post(&url)
            .bearer_auth(KEY)
            .json(&json!({"text": "0123456789A"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (413, "too_large"));
    let huge = http()
        .post(&url)
        .bearer_auth(KEY)
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .unwrap();
    let (status, code) = error_code(huge).await;
    assert_eq!(
        (status, code.as_str()),
        (413, "too_large"),
        "bodies past the API limit are refused before parsing"
    );
    let long_room = server.http(&format!("/api/rooms/{}/messages", "r".repeat(65)));
    let (status, _) = error_code(
        http()
            .post(long_room)
            .bearer_auth(KEY)
            .json(&json!({"text": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = error_code(
        http()
            .get(server.http("/api/rooms/r/messages?limit=-1"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_api_rate_is_limited() {
    let server =
        TestServer::start(&["--api-key", KEY, "--api-rate", "0.001", "--api-burst", "2"]).await;
    for _ in 0..2 {
        let response = http()
            .get(server.http("/api/rooms"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let (status, code) = error_code(
        http()
            .get(server.http("/api/rooms"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
}
