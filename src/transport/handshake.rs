//! Who may connect: the handshake's `auth` payload turned into a user, by name (the default)
//! or by a verified JWT. Every refusal reaches the client as `connect_error` `unauthorized`;
//! the reason is logged, never sent.

use serde_json::Value;

use crate::auth::JwtVerifier;
use crate::chat::protocol::User;
use crate::chat::request::{Limits, guest_user};
use crate::error::ChatError;

/// A user admitted at the handshake, and the rooms they may join (None: any).
pub struct Admitted {
    pub user: User,
    pub allowed_rooms: Option<Vec<String>>,
}

pub enum Gatekeeper {
    /// `auth.name` is the user's name; the socket id is their id.
    Guest(Limits),
    /// `auth.token` is a JWT; its claims are the user.
    Jwt(Box<JwtVerifier>),
}

impl Gatekeeper {
    pub fn admit(&self, conn: &str, auth: &Value) -> Result<Admitted, ChatError> {
        match self {
            Gatekeeper::Guest(limits) => Ok(Admitted {
                user: guest_user(conn, auth, limits)?,
                allowed_rooms: None,
            }),
            Gatekeeper::Jwt(verifier) => {
                let token = auth
                    .get("token")
                    .and_then(Value::as_str)
                    .ok_or(ChatError::Unauthorized)?;
                let identity = verifier.verify(token).map_err(|error| {
                    tracing::debug!(%error, "handshake token refused");
                    ChatError::Unauthorized
                })?;
                Ok(Admitted {
                    user: identity.user,
                    allowed_rooms: identity.rooms,
                })
            }
        }
    }
}
