//! The chat error type and its one mapping to the contract's ack shape
//! `{ ok: false, error: { code, message } }`.

use serde::Serialize;
use serde_json::{Value, json};

use crate::store::StoreError;

/// Every way a chat command can fail, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    BadRequest(String),
    #[error("not in room {0:?}")]
    NotInRoom(String),
    #[error("text is longer than {max} characters")]
    TooLarge { max: usize },
    #[error("too many messages; slow down")]
    RateLimited,
    #[error("unauthorized")]
    Unauthorized,
    #[error("not allowed to join room {0:?}")]
    Forbidden(String),
    #[error("service temporarily unavailable; try again")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ChatError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => ChatError::Unavailable(cause),
            StoreError::Corrupt(cause) => ChatError::Internal(cause),
        }
    }
}

impl ChatError {
    /// The stable error code of the contract.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::BadRequest(_) => "bad_request",
            ChatError::NotInRoom(_) => "not_in_room",
            ChatError::TooLarge { .. } => "too_large",
            ChatError::RateLimited => "rate_limited",
            ChatError::Unauthorized => "unauthorized",
            ChatError::Forbidden(_) => "forbidden",
            ChatError::Unavailable(_) => "unavailable",
            ChatError::Internal(_) => "internal",
        }
    }

    /// The HTTP status of this error, for the HTTP API.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            ChatError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ChatError::NotInRoom(_) => StatusCode::NOT_FOUND,
            ChatError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ChatError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ChatError::Unauthorized => StatusCode::UNAUTHORIZED,
            ChatError::Forbidden(_) => StatusCode::FORBIDDEN,
            ChatError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ChatError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The ack sent for this error. `Unavailable` and `Internal` never carry their cause to
    /// the client.
    pub fn to_ack(&self) -> Value {
        json!({ "ok": false, "error": { "code": self.code(), "message": self.to_string() } })
    }
}

/// The ack for a result: the success body with `ok: true` added, or the error ack.
pub fn ack<T: Serialize>(result: &Result<T, ChatError>) -> Value {
    match result {
        Ok(body) => {
            let mut value = serde_json::to_value(body).unwrap_or_else(|_| json!({}));
            if let Value::Object(fields) = &mut value {
                fields.insert("ok".into(), Value::Bool(true));
                value
            } else {
                ChatError::Internal("reply is not an object".into()).to_ack()
            }
        }
        Err(error) => error.to_ack(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_ack_shape() {
        let ack = ChatError::NotInRoom("r".into()).to_ack();
        assert_eq!(ack["ok"], false);
        assert_eq!(ack["error"]["code"], "not_in_room");
        assert!(ack["error"]["message"].as_str().unwrap().contains('r'));
    }

    #[test]
    fn internal_hides_the_cause() {
        let ack = ChatError::Internal("secret host 10.0.0.1".into()).to_ack();
        assert_eq!(ack["error"]["code"], "internal");
        assert_eq!(ack["error"]["message"], "internal error");
        let ack = ChatError::from(StoreError::Unavailable("redis at 10.0.0.1".into())).to_ack();
        assert_eq!(ack["error"]["code"], "unavailable");
        assert!(
            !ack["error"]["message"]
                .as_str()
                .unwrap()
                .contains("10.0.0.1")
        );
    }

    #[test]
    fn success_ack_adds_ok() {
        #[derive(Serialize)]
        struct Body {
            room: &'static str,
        }
        let ack = ack(&Ok::<_, ChatError>(Body { room: "r" }));
        assert_eq!(ack, json!({"ok": true, "room": "r"}));
    }
}
