//! JWT mode over a real socket: the handshake takes `auth.token`, the user comes from its
//! claims, a `rooms` claim limits `room:join` (`forbidden`), and every bad token is refused
//! with `connect_error` `unauthorized`.

mod support;

use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};
use support::{Client, TestServer};

const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes-long";

fn token(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn claims(extra: Value) -> Value {
    let mut claims =
        json!({"sub": "user-42", "name": "Alice", "exp": get_current_timestamp() + 600});
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    claims
}

async fn server() -> TestServer {
    TestServer::start(&["--jwt-secret", SECRET]).await
}

#[tokio::test]
async fn a_valid_token_is_the_user() {
    let server = server().await;
    let mut client = Client::try_connect(&server, json!({"token": token(claims(json!({})))}))
        .await
        .unwrap();
    let joined = client.join("anywhere").await;
    assert_eq!(
        joined["members"],
        json!([{"id": "user-42", "name": "Alice"}])
    );
    let ack = client
        .call("chat:send", json!({"room": "anywhere", "text": "hi"}))
        .await;
    assert_eq!(
        ack["message"]["from"],
        json!({"id": "user-42", "name": "Alice"})
    );
}

#[tokio::test]
async fn the_rooms_claim_limits_joins() {
    let server = server().await;
    let limited = token(claims(json!({"rooms": ["lobby", "team-*"]})));
    let mut client = Client::try_connect(&server, json!({"token": limited}))
        .await
        .unwrap();
    client.join("lobby").await;
    client.join("team-red").await;
    let refused = client.call("room:join", json!({"room": "secret"})).await;
    assert_eq!(refused["error"]["code"], "forbidden");
    let refused = client
        .call("chat:send", json!({"room": "secret", "text": "x"}))
        .await;
    assert_eq!(refused["error"]["code"], "not_in_room");
}

#[tokio::test]
async fn bad_tokens_are_unauthorized() {
    let server = server().await;
    let now = get_current_timestamp();
    let wrong_key = encode(
        &Header::default(),
        &claims(json!({})),
        &EncodingKey::from_secret(b"another-secret-another-secret-another"),
    )
    .unwrap();
    let cases = [
        json!({"name": "alice"}),
        json!({"token": ""}),
        json!({"token": 5}),
        json!({"token": "not.a.jwt"}),
        json!({"token": wrong_key}),
        json!({"token": token(claims(json!({"exp": now - 3600})))}),
        json!({"token": token(claims(json!({"nbf": now + 3600})))}),
        json!({"token": token(json!({"name": "No Sub", "exp": now + 600}))}),
        json!({"token": token(json!({"sub": "no-name", "exp": now + 600}))}),
    ];
    for auth in cases {
        let refused = Client::try_connect(&server, auth.clone()).await.err();
        assert_eq!(refused.as_deref(), Some("unauthorized"), "{auth}");
    }
}
