use clap::Parser;
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};

use super::*;

const SECRET: &str = "unit-test-secret-unit-test-secret-0123";

fn verifier() -> JwtVerifier {
    let args = AuthArgs {
        jwt_secret: Some(SECRET.into()),
        ..AuthArgs::default()
    };
    JwtVerifier::from_args(&args).unwrap().unwrap()
}

fn token(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn later() -> u64 {
    get_current_timestamp() + 600
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    auth: AuthArgs,
}

#[test]
fn off_without_a_key() {
    assert!(
        JwtVerifier::from_args(&AuthArgs::default())
            .unwrap()
            .is_none()
    );
}

#[test]
fn flags_parse_with_defaults() {
    let cli = Cli::try_parse_from(["x"]).unwrap();
    assert_eq!(cli.auth, AuthArgs::default());
    let cli = Cli::try_parse_from([
        "x",
        "--jwt-secret",
        SECRET,
        "--jwt-leeway-secs",
        "30",
        "--jwt-issuer",
        "https://id.test",
        "--jwt-audience",
        "switchboard",
    ])
    .unwrap();
    assert_eq!(cli.auth.jwt_leeway_secs, 30);
    assert_eq!(cli.auth.jwt_issuer.as_deref(), Some("https://id.test"));
    assert!(Cli::try_parse_from(["x", "--jwt-secret", "a", "--jwt-public-key", "k.pem"]).is_err());
    assert!(Cli::try_parse_from(["x", "--jwt-leeway-secs", "-1"]).is_err());
}

#[test]
fn debug_and_errors_never_show_the_secret() {
    let args = AuthArgs {
        jwt_secret: Some(SECRET.into()),
        ..AuthArgs::default()
    };
    assert!(!format!("{args:?}").contains(SECRET));
    assert!(!format!("{:?}", verifier()).contains(SECRET));
    let weak = AuthArgs {
        jwt_secret: Some("short-secret".into()),
        ..AuthArgs::default()
    };
    let error = JwtVerifier::from_args(&weak).unwrap_err();
    assert!(matches!(error, AuthError::WeakSecret));
    assert!(error.is_config());
    assert!(!error.to_string().contains("short-secret"));
}

#[test]
fn issuer_without_key_is_a_config_error() {
    let args = AuthArgs {
        jwt_issuer: Some("me".into()),
        ..AuthArgs::default()
    };
    assert!(matches!(
        JwtVerifier::from_args(&args),
        Err(AuthError::NoKey(_))
    ));
}

#[test]
fn valid_token_gives_identity() {
    let identity = verifier()
        .verify(&token(
            &json!({"sub": "u1", "name": "  Alice ", "exp": later()}),
        ))
        .unwrap();
    assert_eq!(identity.user.id, "u1");
    assert_eq!(identity.user.name, "Alice");
    assert_eq!(identity.rooms, None);
    assert!(identity.may_join("anything"));
    assert_eq!(verifier().algorithm(), "HS256");
}

#[test]
fn claim_rules() {
    let v = verifier();
    let exp = later();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "a", "exp": exp}), "sub"),
        (json!({"sub": "", "name": "a", "exp": exp}), "sub"),
        (json!({"sub": 7, "name": "a", "exp": exp}), "sub"),
        (json!({"sub": "u", "exp": exp}), "name"),
        (json!({"sub": "u", "name": "   ", "exp": exp}), "name"),
        (json!({"sub": "u", "name": "a\u{7}b", "exp": exp}), "name"),
        (
            json!({"sub": "u", "name": "x".repeat(65), "exp": exp}),
            "name",
        ),
        (json!({"sub": "u", "name": 1, "exp": exp}), "name"),
        (json!({"sub": "u", "name": "a"}), "exp"),
        (json!({"sub": "u", "name": "a", "exp": "soon"}), "exp"),
        (
            json!({"sub": "u", "name": "a", "exp": exp, "rooms": "lobby"}),
            "rooms",
        ),
        (
            json!({"sub": "u", "name": "a", "exp": exp, "rooms": null}),
            "rooms",
        ),
        (
            json!({"sub": "u", "name": "a", "exp": exp, "rooms": [1]}),
            "rooms",
        ),
        (
            json!({"sub": "u", "name": "a", "exp": exp, "rooms": [""]}),
            "rooms",
        ),
        (
            json!({"sub": "u", "name": "a", "exp": exp, "rooms": ["a*b"]}),
            "rooms",
        ),
        (
            json!({"sub": "u", "name": "a", "exp": exp, "rooms": ["a**"]}),
            "rooms",
        ),
    ];
    for (claims, claim) in cases {
        let error = v.verify(&token(&claims)).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(claim), "{claims}: {text}");
        assert!(
            matches!(
                error,
                AuthError::MissingClaim(_) | AuthError::InvalidClaim { .. }
            ),
            "{claims}: {error:?}"
        );
    }
    let max_name = "x".repeat(64);
    let ok = v
        .verify(&token(
            &json!({"sub": "u", "name": max_name, "exp": exp, "rooms": []}),
        ))
        .unwrap();
    assert_eq!(ok.rooms, Some(vec![]));
    assert!(!ok.may_join("lobby"));
}

#[test]
fn time_checks_use_the_leeway() {
    let now = get_current_timestamp();
    let v = verifier(); // leeway 5 s
    let claims = |exp: u64, nbf: u64| json!({"sub": "u", "name": "a", "exp": exp, "nbf": nbf});
    assert!(matches!(
        v.verify(&token(&claims(now - 60, now - 120))),
        Err(AuthError::Expired)
    ));
    assert!(matches!(
        v.verify(&token(&claims(now + 600, now + 60))),
        Err(AuthError::NotYetValid)
    ));
    // Within the leeway both ways.
    v.verify(&token(&claims(now - 2, now - 60))).unwrap();
    v.verify(&token(&claims(now + 600, now + 2))).unwrap();
}

#[test]
fn garbage_is_malformed_and_not_echoed() {
    let v = verifier();
    for garbage in ["", "abc", "a.b.c", "secret-looking.token.value"] {
        let error = v.verify(garbage).unwrap_err();
        assert!(
            matches!(error, AuthError::Malformed),
            "{garbage}: {error:?}"
        );
        if !garbage.is_empty() {
            assert!(!error.to_string().contains(garbage));
        }
    }
    let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert!(matches!(v.verify(&huge), Err(AuthError::Malformed)));
}

#[test]
fn issuer_and_audience_when_configured() {
    let args = AuthArgs {
        jwt_secret: Some(SECRET.into()),
        jwt_issuer: Some("https://id.test".into()),
        jwt_audience: Some("switchboard".into()),
        ..AuthArgs::default()
    };
    let v = JwtVerifier::from_args(&args).unwrap().unwrap();
    let exp = later();
    let base = |extra: Value| {
        let mut claims = json!({"sub": "u", "name": "a", "exp": exp});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        token(&claims)
    };
    v.verify(&base(
        json!({"iss": "https://id.test", "aud": ["other", "switchboard"]}),
    ))
    .unwrap();
    assert!(matches!(
        v.verify(&base(json!({"aud": "switchboard"}))),
        Err(AuthError::MissingClaim("iss"))
    ));
    assert!(matches!(
        v.verify(&base(
            json!({"iss": "https://evil.test", "aud": "switchboard"})
        )),
        Err(AuthError::Issuer)
    ));
    assert!(matches!(
        v.verify(&base(json!({"iss": "https://id.test", "aud": "other"}))),
        Err(AuthError::Audience)
    ));
    // Without --jwt-audience, a token meant for some audience is not for us.
    assert!(matches!(
        verifier().verify(&base(json!({"aud": "other"}))),
        Err(AuthError::Audience)
    ));
}

#[test]
fn room_patterns() {
    let rooms = Some(vec!["lobby".to_owned(), "team-*".to_owned()]);
    assert!(room_allowed(&rooms, "lobby"));
    assert!(!room_allowed(&rooms, "lobby2"));
    assert!(!room_allowed(&rooms, "lobb"));
    assert!(room_allowed(&rooms, "team-"));
    assert!(room_allowed(&rooms, "team-red"));
    assert!(!room_allowed(&rooms, "team"));
    assert!(!room_allowed(&rooms, "xteam-red"));
    assert!(room_allowed(&None, "anything"));
    assert!(!room_allowed(&Some(vec![]), "lobby"));
    assert!(room_allowed(&Some(vec!["*".to_owned()]), "anything"));
}
