//! JWT handshake authentication: the flags that turn it on, the verifier, and the room
//! allow-list a token may carry.
//!
//! Off by default (name-only mode). With `--jwt-secret` (HS256) or `--jwt-public-key` (an RS256
//! or ES256 PEM public key), a client presents a token; [`JwtVerifier::verify`] turns it into an
//! [`Identity`]: the [`User`] (`sub` as the id, `name` as the display name) and the rooms the
//! token allows, if it limits them. The algorithm is fixed by the configured key: a token that
//! names another one (`none`, or HS256 against an RSA key) is refused.

mod jwt;

use std::fmt;
use std::path::PathBuf;

pub use jwt::JwtVerifier;

use crate::chat::protocol::User;

/// Shortest accepted HS256 secret, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Longest accepted `name` claim, in characters (after trimming), as in name-only mode.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest accepted `sub` claim, in characters.
pub const MAX_SUB_CHARS: usize = 256;
/// Longest accepted entry of the `rooms` claim, in characters.
pub const MAX_ROOM_PATTERN_CHARS: usize = 256;
/// Most entries accepted in the `rooms` claim.
pub const MAX_ROOM_PATTERNS: usize = 1024;
/// Longest token accepted, in bytes; longer ones are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// JWT flags. Neither `--jwt-secret` nor `--jwt-public-key`: JWT auth is off.
#[derive(clap::Args, Clone, PartialEq, Eq)]
pub struct AuthArgs {
    /// HS256 shared secret for handshake tokens (at least 32 bytes). Turns JWT auth on;
    /// conflicts with --jwt-public-key.
    #[arg(
        long,
        env = "SWITCHBOARD_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "jwt_public_key",
        value_name = "SECRET"
    )]
    pub jwt_secret: Option<String>,

    /// Path of a PEM public key (RSA for RS256, or P-256 EC for ES256) that verifies
    /// handshake tokens. Turns JWT auth on; conflicts with --jwt-secret.
    #[arg(long, env = "SWITCHBOARD_JWT_PUBLIC_KEY", value_name = "PEM_FILE")]
    pub jwt_public_key: Option<PathBuf>,

    /// Clock skew allowed when checking a token's `exp` and `nbf`, in seconds.
    #[arg(long, env = "SWITCHBOARD_JWT_LEEWAY_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub jwt_leeway_secs: u64,

    /// Required `iss` claim of handshake tokens. Unset: `iss` is not checked.
    #[arg(long, env = "SWITCHBOARD_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim of handshake tokens (one of the token's audiences must match).
    /// Unset: a token that carries an `aud` claim is refused.
    #[arg(long, env = "SWITCHBOARD_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

impl Default for AuthArgs {
    fn default() -> Self {
        AuthArgs {
            jwt_secret: None,
            jwt_public_key: None,
            jwt_leeway_secs: 5,
            jwt_issuer: None,
            jwt_audience: None,
        }
    }
}

/// Never prints the secret (the configuration is logged and shown in panics).
impl fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthArgs")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("jwt_public_key", &self.jwt_public_key)
            .field("jwt_leeway_secs", &self.jwt_leeway_secs)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .finish()
    }
}

/// Who a verified token says the client is, and where it may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `id` is the token's `sub`, `name` its `name` claim (trimmed).
    pub user: User,
    /// The `rooms` claim: exact room names, or prefixes ending in `*`. `None`: every room.
    pub rooms: Option<Vec<String>>,
}

impl Identity {
    /// Whether this identity may join `room`.
    pub fn may_join(&self, room: &str) -> bool {
        room_allowed(&self.rooms, room)
    }
}

/// Whether `room` is allowed by a `rooms` claim: `None` allows every room; otherwise an entry
/// equal to `room`, or an entry `prefix*` with `room` starting with `prefix`, must exist
/// (`*` alone allows every room; an empty list allows none).
pub fn room_allowed(rooms: &Option<Vec<String>>, room: &str) -> bool {
    let Some(patterns) = rooms else {
        return true;
    };
    patterns
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => room.starts_with(prefix),
            None => pattern == room,
        })
}

/// Why JWT auth could not be configured, or why a token was refused. The messages name the
/// failed check only: never the token, the secret, or a claim's value.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("--jwt-secret and --jwt-public-key are mutually exclusive: set only one")]
    BothKeys,
    #[error("{0} needs --jwt-secret or --jwt-public-key")]
    NoKey(&'static str),
    #[error("--jwt-secret must be at least {MIN_SECRET_BYTES} bytes long")]
    WeakSecret,
    #[error("--jwt-public-key {}: cannot read it: {source}", path.display())]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--jwt-public-key {}: {reason}", path.display())]
    BadKey { path: PathBuf, reason: &'static str },

    #[error("token is malformed")]
    Malformed,
    #[error("token is signed with an algorithm other than the configured one")]
    Algorithm,
    #[error("token signature is invalid")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token issuer is not accepted")]
    Issuer,
    #[error("token audience is not accepted")]
    Audience,
    #[error("token claim `{0}` is missing")]
    MissingClaim(&'static str),
    #[error("token claim `{claim}` is invalid: {reason}")]
    InvalidClaim {
        claim: &'static str,
        reason: &'static str,
    },
}

impl AuthError {
    /// Whether this is a configuration error (exit code 2 at start) rather than a refused token.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            AuthError::BothKeys
                | AuthError::NoKey(_)
                | AuthError::WeakSecret
                | AuthError::ReadKey { .. }
                | AuthError::BadKey { .. }
        )
    }
}

#[cfg(test)]
mod tests;
