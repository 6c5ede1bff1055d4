//! Parsing and validation of client payloads. Payloads arrive as untyped JSON so that every
//! malformed input gets a precise `bad_request` instead of being dropped by a typed extractor.

use serde_json::{Map, Value};

use super::protocol::User;
use crate::error::ChatError;

/// Largest integer a JavaScript client can send exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// Longest `clientId` accepted; it is an opaque client-side correlation key.
const MAX_CLIENT_ID_CHARS: usize = 128;

/// The bounds validation enforces, from the configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_name_chars: usize,
    pub max_room_chars: usize,
    pub max_text_chars: usize,
    /// Retained messages per room; also the largest `limit` of `chat:history`.
    pub history_window: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinRequest {
    pub room: String,
    pub since: Option<u64>,
    pub epoch: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeaveRequest {
    pub room: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    pub room: String,
    pub text: String,
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypingRequest {
    pub room: String,
    pub typing: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRequest {
    pub room: String,
    pub before: Option<u64>,
    pub after: Option<u64>,
    pub limit: Option<usize>,
}

impl JoinRequest {
    pub fn parse(payload: &Value, limits: &Limits) -> Result<Self, ChatError> {
        let fields = object(payload)?;
        Ok(Self {
            room: room(fields, limits)?,
            since: optional_seq(fields, "since")?,
            epoch: optional_string(fields, "epoch")?,
        })
    }
}

impl LeaveRequest {
    pub fn parse(payload: &Value, limits: &Limits) -> Result<Self, ChatError> {
        let fields = object(payload)?;
        Ok(Self {
            room: room(fields, limits)?,
        })
    }
}

impl SendRequest {
    pub fn parse(payload: &Value, limits: &Limits) -> Result<Self, ChatError> {
        let fields = object(payload)?;
        let room = room(fields, limits)?;
        let text = match fields.get("text") {
            Some(Value::String(text)) => text,
            Some(_) => return Err(bad("text must be a string")),
            None => return Err(bad("text is required")),
        };
        if text.trim().is_empty() {
            return Err(bad("text must not be empty"));
        }
        if text.chars().count() > limits.max_text_chars {
            return Err(ChatError::TooLarge {
                max: limits.max_text_chars,
            });
        }
        let client_id = optional_string(fields, "clientId")?;
        if let Some(id) = &client_id
            && (id.is_empty() || id.chars().count() > MAX_CLIENT_ID_CHARS)
        {
            return Err(bad(format!(
                "clientId must be 1..{MAX_CLIENT_ID_CHARS} characters"
            )));
        }
        Ok(Self {
            room,
            text: text.clone(),
            client_id,
        })
    }
}

impl TypingRequest {
    pub fn parse(payload: &Value, limits: &Limits) -> Result<Self, ChatError> {
        let fields = object(payload)?;
        let typing = match fields.get("typing") {
            Some(Value::Bool(typing)) => *typing,
            Some(_) => return Err(bad("typing must be a boolean")),
            None => return Err(bad("typing is required")),
        };
        Ok(Self {
            room: room(fields, limits)?,
            typing,
        })
    }
}

impl HistoryRequest {
    pub fn parse(payload: &Value, limits: &Limits) -> Result<Self, ChatError> {
        let fields = object(payload)?;
        let limit = match optional_seq(fields, "limit")? {
            Some(0) => return Err(bad("limit must be at least 1")),
            Some(limit) => Some(usize::try_from(limit).unwrap_or(usize::MAX)),
            None => None,
        };
        Ok(Self {
            room: room(fields, limits)?,
            before: optional_seq(fields, "before")?,
            after: optional_seq(fields, "after")?,
            limit,
        })
    }
}

/// The user of a socket in name-only mode: `auth.name`, trimmed, 1..max characters, no
/// control characters. Anything else refuses the handshake.
pub fn guest_user(conn: &str, auth: &Value, limits: &Limits) -> Result<User, ChatError> {
    let name = auth
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .ok_or(ChatError::Unauthorized)?;
    let chars = name.chars().count();
    if chars == 0 || chars > limits.max_name_chars || name.chars().any(char::is_control) {
        return Err(ChatError::Unauthorized);
    }
    Ok(User {
        id: conn.to_owned(),
        name: name.to_owned(),
    })
}

fn bad(message: impl Into<String>) -> ChatError {
    ChatError::BadRequest(message.into())
}

fn object(payload: &Value) -> Result<&Map<String, Value>, ChatError> {
    payload
        .as_object()
        .ok_or_else(|| bad("payload must be an object"))
}

fn room(fields: &Map<String, Value>, limits: &Limits) -> Result<String, ChatError> {
    let name = match fields.get("room") {
        Some(Value::String(name)) => name,
        Some(_) => return Err(bad("room must be a string")),
        None => return Err(bad("room is required")),
    };
    let chars = name.chars().count();
    if chars == 0 || chars > limits.max_room_chars {
        return Err(bad(format!(
            "room must be 1..{} characters",
            limits.max_room_chars
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("room must not contain control characters"));
    }
    Ok(name.clone())
}

fn optional_string(fields: &Map<String, Value>, key: &str) -> Result<Option<String>, ChatError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(bad(format!("{key} must be a string"))),
    }
}

/// A non-negative integer field such as `since`, `before`, `after` or `limit`.
fn optional_seq(fields: &Map<String, Value>, key: &str) -> Result<Option<u64>, ChatError> {
    let number = match fields.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number,
        Some(_) => return Err(bad(format!("{key} must be a number"))),
    };
    let value = match number.as_u64() {
        Some(value) => Some(value),
        None => number
            .as_f64()
            .filter(|float| {
                float.fract() == 0.0 && *float >= 0.0 && *float <= MAX_SAFE_INTEGER as f64
            })
            .map(|float| float as u64),
    };
    match value {
        Some(value) if value <= MAX_SAFE_INTEGER => Ok(Some(value)),
        _ => Err(bad(format!(
            "{key} must be a non-negative integer up to {MAX_SAFE_INTEGER}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> Limits {
        Limits {
            max_name_chars: 64,
            max_room_chars: 64,
            max_text_chars: 4000,
            history_window: 1000,
        }
    }

    fn code(result: Result<impl std::fmt::Debug, ChatError>) -> &'static str {
        result.expect_err("expected an error").code()
    }

    #[test]
    fn join_accepts_since_and_epoch() {
        let join = JoinRequest::parse(&json!({"room": "r", "since": 3, "epoch": "e"}), &limits());
        assert_eq!(
            join.unwrap(),
            JoinRequest {
                room: "r".into(),
                since: Some(3),
                epoch: Some("e".into())
            }
        );
    }

    #[test]
    fn room_length_at_and_past_the_bound() {
        let at = "é".repeat(64);
        assert!(LeaveRequest::parse(&json!({ "room": at }), &limits()).is_ok());
        let past = "é".repeat(65);
        assert_eq!(
            code(LeaveRequest::parse(&json!({ "room": past }), &limits())),
            "bad_request"
        );
        assert_eq!(
            code(LeaveRequest::parse(&json!({ "room": "" }), &limits())),
            "bad_request"
        );
    }

    #[test]
    fn room_rejects_control_characters() {
        for name in ["a\u{0}b", "a\nb", "\u{7f}", "x\u{9b}"] {
            assert_eq!(
                code(LeaveRequest::parse(&json!({ "room": name }), &limits())),
                "bad_request",
                "{name:?}"
            );
        }
    }

    #[test]
    fn text_length_at_and_past_the_bound() {
        let at = "a".repeat(4000);
        assert!(SendRequest::parse(&json!({"room": "r", "text": at}), &limits()).is_ok());
        let past = "a".repeat(4001);
        assert_eq!(
            code(SendRequest::parse(
                &json!({"room": "r", "text": past}),
                &limits()
            )),
            "too_large"
        );
    }

    #[test]
    fn empty_text_is_bad_request() {
        for text in ["", "   ", "\n"] {
            assert_eq!(
                code(SendRequest::parse(
                    &json!({"room": "r", "text": text}),
                    &limits()
                )),
                "bad_request"
            );
        }
    }

    #[test]
    fn wrong_shapes_are_bad_request() {
        let cases = [
            json!(null),
            json!("room"),
            json!(42),
            json!([{"room": "r"}]),
            json!({}),
            json!({"room": 5}),
            json!({"room": ["r"]}),
            json!({"room": {"name": "r"}}),
        ];
        for payload in cases {
            assert_eq!(
                code(LeaveRequest::parse(&payload, &limits())),
                "bad_request",
                "{payload}"
            );
        }
    }

    #[test]
    fn numbers_must_be_non_negative_safe_integers() {
        let cases = [
            json!(-1),
            json!(2.5),
            json!(1e300),
            json!("3"),
            json!(9007199254740992u64),
            json!(true),
        ];
        for since in cases {
            let payload = json!({"room": "r", "since": since});
            assert_eq!(
                code(JoinRequest::parse(&payload, &limits())),
                "bad_request",
                "{payload}"
            );
        }
        let payload = json!({"room": "r", "since": 4.0});
        assert_eq!(
            JoinRequest::parse(&payload, &limits()).unwrap().since,
            Some(4)
        );
        let payload = json!({"room": "r", "since": 9007199254740991u64});
        assert!(JoinRequest::parse(&payload, &limits()).is_ok());
    }

    #[test]
    fn typing_must_be_boolean() {
        assert!(TypingRequest::parse(&json!({"room": "r", "typing": true}), &limits()).is_ok());
        assert_eq!(
            code(TypingRequest::parse(
                &json!({"room": "r", "typing": "yes"}),
                &limits()
            )),
            "bad_request"
        );
        assert_eq!(
            code(TypingRequest::parse(&json!({"room": "r"}), &limits())),
            "bad_request"
        );
    }

    #[test]
    fn history_limit_zero_is_bad_request() {
        assert_eq!(
            code(HistoryRequest::parse(
                &json!({"room": "r", "limit": 0}),
                &limits()
            )),
            "bad_request"
        );
        let history =
            HistoryRequest::parse(&json!({"room": "r", "limit": 10, "after": 2}), &limits())
                .unwrap();
        assert_eq!(
            (history.limit, history.after, history.before),
            (Some(10), Some(2), None)
        );
    }

    #[test]
    fn client_id_is_bounded() {
        let ok = json!({"room": "r", "text": "hi", "clientId": "c-1"});
        assert_eq!(
            SendRequest::parse(&ok, &limits())
                .unwrap()
                .client_id
                .as_deref(),
            Some("c-1")
        );
        let long = json!({"room": "r", "text": "hi", "clientId": "x".repeat(129)});
        assert_eq!(code(SendRequest::parse(&long, &limits())), "bad_request");
        let wrong = json!({"room": "r", "text": "hi", "clientId": 7});
        assert_eq!(code(SendRequest::parse(&wrong, &limits())), "bad_request");
    }

    #[test]
    fn guest_names() {
        let user = guest_user("sid", &json!({"name": "  alice "}), &limits()).unwrap();
        assert_eq!((user.id.as_str(), user.name.as_str()), ("sid", "alice"));
        assert!(guest_user("sid", &json!({"name": "n".repeat(64)}), &limits()).is_ok());
        let refused = [
            json!({}),
            json!({"name": ""}),
            json!({"name": "   "}),
            json!({"name": 5}),
            json!({"name": "n".repeat(65)}),
            json!({"name": "a\u{7}"}),
            json!("alice"),
            json!(null),
        ];
        for auth in refused {
            assert_eq!(
                code(guest_user("sid", &auth, &limits())),
                "unauthorized",
                "{auth}"
            );
        }
    }
}
