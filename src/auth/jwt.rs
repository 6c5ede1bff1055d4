//! [`JwtVerifier`]: one key, one algorithm, fixed at start.

use std::fmt;
use std::path::Path;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::{
    AuthArgs, AuthError, Identity, MAX_NAME_CHARS, MAX_ROOM_PATTERN_CHARS, MAX_ROOM_PATTERNS,
    MAX_SUB_CHARS, MAX_TOKEN_BYTES, MIN_SECRET_BYTES,
};
use crate::chat::protocol::User;

/// Shortest accepted RSA modulus, in bits.
const MIN_RSA_BITS: usize = 2048;

/// Verifies handshake tokens with the configured key; the algorithm follows from the key.
#[derive(Clone)]
pub struct JwtVerifier {
    algorithm: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .field("leeway", &self.validation.leeway)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .finish_non_exhaustive()
    }
}

/// The claims this server reads; everything else in the token is ignored. Typed loosely so
/// that a wrong type gets a precise error (and serde's messages, which quote values, never
/// reach the caller).
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<Value>,
    #[serde(default)]
    name: Option<Value>,
    /// `Some(Value::Null)` when present as `null`, `None` when absent.
    #[serde(default, deserialize_with = "present")]
    rooms: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl JwtVerifier {
    /// The verifier the flags ask for: `None` when neither `--jwt-secret` nor
    /// `--jwt-public-key` is set.
    pub fn from_args(args: &AuthArgs) -> Result<Option<JwtVerifier>, AuthError> {
        let (algorithm, key) = match (&args.jwt_secret, &args.jwt_public_key) {
            (Some(_), Some(_)) => return Err(AuthError::BothKeys),
            (None, None) => {
                if args.jwt_issuer.is_some() {
                    return Err(AuthError::NoKey("--jwt-issuer"));
                }
                if args.jwt_audience.is_some() {
                    return Err(AuthError::NoKey("--jwt-audience"));
                }
                return Ok(None);
            }
            (Some(secret), None) => {
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(AuthError::WeakSecret);
                }
                (
                    Algorithm::HS256,
                    DecodingKey::from_secret(secret.as_bytes()),
                )
            }
            (None, Some(path)) => load_public_key(path)?,
        };

        let mut validation = Validation::new(algorithm);
        validation.leeway = args.jwt_leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        let mut required = vec!["exp"];
        if let Some(issuer) = &args.jwt_issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        if let Some(audience) = &args.jwt_audience {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        Ok(Some(JwtVerifier {
            algorithm,
            key,
            validation,
        }))
    }

    /// The one algorithm this verifier accepts: `HS256`, `RS256` or `ES256`.
    pub fn algorithm(&self) -> &'static str {
        match self.algorithm {
            Algorithm::HS256 => "HS256",
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            _ => unreachable!("only HS256, RS256 and ES256 verifiers are built"),
        }
    }

    /// Checks the signature (with the configured algorithm only), `exp` (required), `nbf`
    /// (when present), `iss`/`aud` (when configured), then reads `sub`, `name` and `rooms`.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|error| map_error(error.kind()))?;
        identity(data.claims)
    }
}

/// Reads a PEM public key and picks the algorithm from its type.
fn load_public_key(path: &Path) -> Result<(Algorithm, DecodingKey), AuthError> {
    use p256::pkcs8::DecodePublicKey as _;
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use rsa::traits::PublicKeyParts as _;

    let bad = |reason| AuthError::BadKey {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|source| AuthError::ReadKey {
        path: path.to_owned(),
        source,
    })?;
    let pem = std::str::from_utf8(&bytes).map_err(|_| bad("not a PEM file"))?;
    if pem.contains("PRIVATE KEY-----") {
        return Err(bad(
            "holds a private key; give the public key (openssl pkey -pubout)",
        ));
    }

    let rsa = rsa::RsaPublicKey::from_public_key_pem(pem)
        .ok()
        .or_else(|| rsa::RsaPublicKey::from_pkcs1_pem(pem).ok());
    if let Some(rsa) = rsa {
        if rsa.n().bits() < MIN_RSA_BITS {
            return Err(bad("RSA key shorter than 2048 bits"));
        }
        let key = DecodingKey::from_rsa_pem(&bytes).map_err(|_| bad("unreadable RSA key"))?;
        return Ok((Algorithm::RS256, key));
    }
    if p256::PublicKey::from_public_key_pem(pem).is_ok() {
        let key = DecodingKey::from_ec_pem(&bytes).map_err(|_| bad("unreadable EC key"))?;
        return Ok((Algorithm::ES256, key));
    }
    Err(bad(
        "not an RSA (RS256) or P-256 EC (ES256) public key in PEM (\"BEGIN PUBLIC KEY\")",
    ))
}

fn map_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::Signature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::Issuer,
        ErrorKind::InvalidAudience => AuthError::Audience,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => AuthError::Algorithm,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim_name(claim)),
        ErrorKind::InvalidClaimFormat(claim) => AuthError::InvalidClaim {
            claim: claim_name(claim),
            reason: "must be a number of seconds since the epoch",
        },
        _ => AuthError::Malformed,
    }
}

fn claim_name(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "unknown",
    }
}

fn identity(claims: Claims) -> Result<Identity, AuthError> {
    let id = match claims.sub {
        None | Some(Value::Null) => return Err(AuthError::MissingClaim("sub")),
        Some(Value::String(sub)) => sub,
        Some(_) => return Err(invalid("sub", "must be a string")),
    };
    if id.trim().is_empty() {
        return Err(invalid("sub", "must not be empty"));
    }
    if id.chars().count() > MAX_SUB_CHARS || id.chars().any(char::is_control) {
        return Err(invalid(
            "sub",
            "must be at most 256 characters, without control characters",
        ));
    }

    let name = match claims.name {
        None | Some(Value::Null) => return Err(AuthError::MissingClaim("name")),
        Some(Value::String(name)) => name,
        Some(_) => return Err(invalid("name", "must be a string")),
    };
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "must be 1..64 characters after trimming, without control characters",
        ));
    }

    let rooms = match claims.rooms {
        None => None,
        Some(Value::Array(entries)) => Some(room_patterns(entries)?),
        Some(_) => return Err(invalid("rooms", "must be an array of strings")),
    };
    Ok(Identity {
        user: User {
            id,
            name: name.to_owned(),
        },
        rooms,
    })
}

fn room_patterns(entries: Vec<Value>) -> Result<Vec<String>, AuthError> {
    if entries.len() > MAX_ROOM_PATTERNS {
        return Err(invalid("rooms", "has too many entries"));
    }
    entries
        .into_iter()
        .map(|entry| {
            let Value::String(pattern) = entry else {
                return Err(invalid("rooms", "must be an array of strings"));
            };
            let chars = pattern.chars().count();
            if chars == 0 || chars > MAX_ROOM_PATTERN_CHARS || pattern.chars().any(char::is_control)
            {
                return Err(invalid(
                    "rooms",
                    "entries must be 1..256 characters, without control characters",
                ));
            }
            if pattern.trim_end_matches('*').contains('*') || pattern.ends_with("**") {
                return Err(invalid(
                    "rooms",
                    "`*` may only end an entry (a prefix), once",
                ));
            }
            Ok(pattern)
        })
        .collect()
}

fn invalid(claim: &'static str, reason: &'static str) -> AuthError {
    AuthError::InvalidClaim { claim, reason }
}
