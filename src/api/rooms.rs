//! The HTTP publish API for backends: post a message into a room (stored, broadcast and
//! bridged like any other), list rooms, read a room's history. Off unless `--api-key` is set;
//! every request carries `Authorization: Bearer <key>`. Errors are `{ error: { code, message } }`
//! with the HTTP status of the code.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::chat::ChatService;
use crate::chat::protocol::User;
use crate::chat::rate_limit::{RateConfig, TokenBucket};
use crate::error::ChatError;

/// Largest request body accepted, in bytes (a message is at most a few KB of JSON).
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
struct ApiState {
    chat: Arc<ChatService>,
    key: Arc<str>,
    rate: Arc<Mutex<TokenBucket>>,
}

/// The `/api` routes, authorised by `key`, shared rate `rate`.
pub fn router(chat: Arc<ChatService>, key: &str, rate: RateConfig) -> Router {
    let state = ApiState {
        chat,
        key: key.into(),
        rate: Arc::new(Mutex::new(TokenBucket::new(rate))),
    };
    Router::new()
        .route("/api/rooms", get(list_rooms))
        .route(
            "/api/rooms/{room}/messages",
            get(read_messages).post(post_message),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// An API error: a status and the contract's error shape.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> Self {
        Self::new(error.http_status(), error.code(), error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// Equal-time comparison, so the key cannot be guessed byte by byte from response times.
fn same_key(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authorization: Bearer <api key> is required",
            )
        })?;
    if !same_key(given.trim().as_bytes(), state.key.as_bytes()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "wrong API key",
        ));
    }
    let allowed = state
        .rate
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .try_take();
    if !allowed {
        return Err(ChatError::RateLimited.into());
    }
    Ok(())
}

async fn post_message(
    State(state): State<ApiState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&state, &headers)?;
    let body = body.map_err(|rejection| {
        ApiError::new(rejection.status(), "too_large", rejection.body_text())
    })?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| ChatError::BadRequest("body must be JSON".into()))?;
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| ChatError::BadRequest("text must be a string".into()))?;
    let from = match body.get("from") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if !name.trim().is_empty() && name.chars().count() <= 64 => {
            Some(name.trim().to_owned())
        }
        Some(_) => {
            return Err(
                ChatError::BadRequest("from must be a name of 1..64 characters".into()).into(),
            );
        }
    };
    let user = User {
        id: format!("api:{}", from.as_deref().unwrap_or("backend")),
        name: from.unwrap_or_else(|| "API".to_owned()),
    };
    let message = state.chat.post(&room, user, text).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

async fn list_rooms(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&state, &headers)?;
    let mut rooms = state.chat.roster().rooms().await.map_err(ChatError::from)?;
    rooms.sort();
    let rooms: Vec<Value> = rooms
        .into_iter()
        .map(|(room, count)| json!({ "room": room, "count": count }))
        .collect();
    Ok(Json(json!({ "rooms": rooms })))
}

#[derive(Deserialize)]
struct Page {
    after: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

/// Query numbers go through the same validation as `chat:history` payloads.
fn number(value: Option<String>, name: &str) -> Result<Value, ApiError> {
    match value {
        None => Ok(Value::Null),
        Some(text) => text.parse::<u64>().map(Value::from).map_err(|_| {
            ChatError::BadRequest(format!("{name} must be a non-negative integer")).into()
        }),
    }
}

async fn read_messages(
    State(state): State<ApiState>,
    Path(room): Path<String>,
    Query(page): Query<Page>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&state, &headers)?;
    let request = json!({
        "room": room,
        "after": number(page.after, "after")?,
        "before": number(page.before, "before")?,
        "limit": number(page.limit, "limit")?,
    });
    let reply = state.chat.read_history(&request).await?;
    Ok(Json(reply))
}

#[cfg(test)]
mod tests {
    use super::same_key;

    #[test]
    fn key_comparison() {
        assert!(same_key(b"secret", b"secret"));
        assert!(!same_key(b"secreT", b"secret"));
        assert!(!same_key(b"secret!", b"secret"));
        assert!(!same_key(b"", b"secret"));
    }
}
