//! JWT verification as the handshake will use it: HS256, RS256 and ES256 keys from the flags,
//! and the attacks a verifier must refuse (alg `none`, HS/RS confusion, forged signatures).
//! Keys: tests/fixtures/jwt/ (test-only, made with openssl).

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};

use switchboard::auth::{AuthArgs, AuthError, Identity, JwtVerifier, room_allowed};

const SECRET: &str = "integration-test-secret-0123456789abcdef";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn hs_verifier() -> JwtVerifier {
    JwtVerifier::from_args(&AuthArgs {
        jwt_secret: Some(SECRET.into()),
        ..AuthArgs::default()
    })
    .unwrap()
    .expect("a secret turns JWT auth on")
}

fn pem_verifier(name: &str) -> JwtVerifier {
    JwtVerifier::from_args(&AuthArgs {
        jwt_public_key: Some(fixture(name)),
        ..AuthArgs::default()
    })
    .unwrap()
    .expect("a public key turns JWT auth on")
}

fn claims() -> Value {
    json!({"sub": "user-42", "name": "Alice", "exp": get_current_timestamp() + 600})
}

fn hs_token(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn rs_token(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(&read("rsa_private.pem")).unwrap();
    encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

fn es_token(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(&read("ec_private.pem")).unwrap();
    encode(&Header::new(Algorithm::ES256), claims, &key).unwrap()
}

fn alice(rooms: Option<Vec<String>>) -> Identity {
    Identity {
        user: switchboard::chat::protocol::User {
            id: "user-42".into(),
            name: "Alice".into(),
        },
        rooms,
    }
}

/// A token whose header and claims are given as JSON, with a raw signature part.
fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[test]
fn valid_hs256() {
    let verifier = hs_verifier();
    assert_eq!(verifier.algorithm(), "HS256");
    assert_eq!(verifier.verify(&hs_token(&claims())).unwrap(), alice(None));
}

#[test]
fn valid_rs256() {
    let verifier = pem_verifier("rsa_public.pem");
    assert_eq!(verifier.algorithm(), "RS256");
    assert_eq!(verifier.verify(&rs_token(&claims())).unwrap(), alice(None));
}

#[test]
fn valid_es256() {
    let verifier = pem_verifier("ec_public.pem");
    assert_eq!(verifier.algorithm(), "ES256");
    assert_eq!(verifier.verify(&es_token(&claims())).unwrap(), alice(None));
}

#[test]
fn the_key_fixes_the_algorithm() {
    let rs = pem_verifier("rsa_public.pem");
    let es = pem_verifier("ec_public.pem");
    let hs = hs_verifier();
    assert!(matches!(
        rs.verify(&es_token(&claims())),
        Err(AuthError::Algorithm)
    ));
    assert!(matches!(
        es.verify(&rs_token(&claims())),
        Err(AuthError::Algorithm)
    ));
    assert!(matches!(
        hs.verify(&rs_token(&claims())),
        Err(AuthError::Algorithm)
    ));
    assert!(matches!(
        rs.verify(&hs_token(&claims())),
        Err(AuthError::Algorithm)
    ));
}

#[test]
fn expired() {
    let mut expired = claims();
    expired["exp"] = json!(get_current_timestamp() - 60);
    for (verifier, token) in [
        (hs_verifier(), hs_token(&expired)),
        (pem_verifier("rsa_public.pem"), rs_token(&expired)),
        (pem_verifier("ec_public.pem"), es_token(&expired)),
    ] {
        assert!(matches!(verifier.verify(&token), Err(AuthError::Expired)));
    }
}

#[test]
fn missing_exp_is_refused() {
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert!(matches!(
        hs_verifier().verify(&hs_token(&no_exp)),
        Err(AuthError::MissingClaim("exp"))
    ));
}

#[test]
fn not_yet_valid() {
    let mut early = claims();
    early["nbf"] = json!(get_current_timestamp() + 120);
    assert!(matches!(
        hs_verifier().verify(&hs_token(&early)),
        Err(AuthError::NotYetValid)
    ));
    assert!(matches!(
        pem_verifier("rsa_public.pem").verify(&rs_token(&early)),
        Err(AuthError::NotYetValid)
    ));
    early["nbf"] = json!(get_current_timestamp() - 1);
    hs_verifier().verify(&hs_token(&early)).unwrap();
}

#[test]
fn leeway_comes_from_the_flags() {
    let mut just_expired = claims();
    just_expired["exp"] = json!(get_current_timestamp() - 20);
    let token = hs_token(&just_expired);
    assert!(matches!(
        hs_verifier().verify(&token),
        Err(AuthError::Expired)
    ));
    let lenient = JwtVerifier::from_args(&AuthArgs {
        jwt_secret: Some(SECRET.into()),
        jwt_leeway_secs: 60,
        ..AuthArgs::default()
    })
    .unwrap()
    .unwrap();
    lenient.verify(&token).unwrap();
}

#[test]
fn wrong_signature() {
    let other_secret = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"some-other-secret-some-other-secret-0000"),
    )
    .unwrap();
    assert!(matches!(
        hs_verifier().verify(&other_secret),
        Err(AuthError::Signature)
    ));

    // Claims changed after signing, signature kept.
    let token = rs_token(&claims());
    let signature = token.rsplit('.').next().unwrap();
    let mut forged_claims = claims();
    forged_claims["sub"] = json!("admin");
    let forged = raw_token(
        &json!({"alg": "RS256", "typ": "JWT"}),
        &forged_claims,
        signature,
    );
    assert!(matches!(
        pem_verifier("rsa_public.pem").verify(&forged),
        Err(AuthError::Signature)
    ));

    let token = es_token(&claims());
    let mut tampered = token.clone();
    tampered.truncate(token.len() - 4);
    tampered.push_str(if token.ends_with("AAAA") {
        "BBBB"
    } else {
        "AAAA"
    });
    assert!(pem_verifier("ec_public.pem").verify(&tampered).is_err());
}

#[test]
fn alg_none_is_refused() {
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "None"}),
        json!({"alg": "NONE"}),
    ] {
        let token = raw_token(&header, &claims(), "");
        for verifier in [
            hs_verifier(),
            pem_verifier("rsa_public.pem"),
            pem_verifier("ec_public.pem"),
        ] {
            let error = verifier.verify(&token).unwrap_err();
            assert!(
                matches!(error, AuthError::Malformed | AuthError::Algorithm),
                "{header}: {error:?}"
            );
        }
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    // The classic confusion attack: HMAC keyed with the (public) PEM bytes of the RSA key.
    let public_pem = read("rsa_public.pem");
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    assert!(matches!(
        pem_verifier("rsa_public.pem").verify(&token),
        Err(AuthError::Algorithm)
    ));
    // Same with the EC key.
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(&read("ec_public.pem")),
    )
    .unwrap();
    assert!(matches!(
        pem_verifier("ec_public.pem").verify(&token),
        Err(AuthError::Algorithm)
    ));
}

#[test]
fn missing_sub() {
    let mut no_sub = claims();
    no_sub.as_object_mut().unwrap().remove("sub");
    assert!(matches!(
        pem_verifier("rsa_public.pem").verify(&rs_token(&no_sub)),
        Err(AuthError::MissingClaim("sub"))
    ));
    let mut empty = claims();
    empty["sub"] = json!("");
    assert!(matches!(
        hs_verifier().verify(&hs_token(&empty)),
        Err(AuthError::InvalidClaim { claim: "sub", .. })
    ));
}

#[test]
fn missing_name() {
    let mut no_name = claims();
    no_name.as_object_mut().unwrap().remove("name");
    assert!(matches!(
        pem_verifier("ec_public.pem").verify(&es_token(&no_name)),
        Err(AuthError::MissingClaim("name"))
    ));
    let mut blank = claims();
    blank["name"] = json!(" \t ");
    assert!(matches!(
        hs_verifier().verify(&hs_token(&blank)),
        Err(AuthError::InvalidClaim { claim: "name", .. })
    ));
}

#[test]
fn bad_rooms_claim_type() {
    for rooms in [
        json!("lobby"),
        json!({"lobby": true}),
        json!(["lobby", 3]),
        json!(null),
    ] {
        let mut bad = claims();
        bad["rooms"] = rooms.clone();
        let error = hs_verifier().verify(&hs_token(&bad)).unwrap_err();
        assert!(
            matches!(error, AuthError::InvalidClaim { claim: "rooms", .. }),
            "{rooms}: {error:?}"
        );
    }
}

#[test]
fn rooms_prefix_matching() {
    let mut scoped = claims();
    scoped["rooms"] = json!(["lobby", "team-*"]);
    let identity = pem_verifier("rsa_public.pem")
        .verify(&rs_token(&scoped))
        .unwrap();
    assert_eq!(
        identity.rooms,
        Some(vec!["lobby".to_owned(), "team-*".to_owned()])
    );
    assert!(identity.may_join("lobby"));
    assert!(identity.may_join("team-red"));
    assert!(identity.may_join("team-"));
    assert!(!identity.may_join("team"));
    assert!(!identity.may_join("lobby-2"));
    assert!(!identity.may_join("random"));
    assert!(room_allowed(&None, "random"));
    assert!(room_allowed(&Some(vec!["*".into()]), "random"));
    assert!(!room_allowed(&Some(vec![]), "lobby"));
}

#[test]
fn errors_never_show_the_token() {
    let mut expired = claims();
    expired["exp"] = json!(1);
    let token = hs_token(&expired);
    let error = hs_verifier().verify(&token).unwrap_err();
    let shown = format!("{error} {error:?}");
    for part in token.split('.') {
        assert!(!shown.contains(part), "{shown}");
    }
    assert!(
        !shown.contains("user-42") && !shown.contains("Alice"),
        "{shown}"
    );
}

#[test]
fn configuration_errors() {
    let both = AuthArgs {
        jwt_secret: Some(SECRET.into()),
        jwt_public_key: Some(fixture("rsa_public.pem")),
        ..AuthArgs::default()
    };
    assert!(matches!(
        JwtVerifier::from_args(&both),
        Err(AuthError::BothKeys)
    ));
    assert!(
        JwtVerifier::from_args(&AuthArgs::default())
            .unwrap()
            .is_none()
    );

    let key = |path: PathBuf| {
        JwtVerifier::from_args(&AuthArgs {
            jwt_public_key: Some(path),
            ..AuthArgs::default()
        })
    };
    let missing = key(fixture("does-not-exist.pem")).unwrap_err();
    assert!(matches!(missing, AuthError::ReadKey { .. }), "{missing}");
    assert!(missing.is_config());
    assert!(missing.to_string().contains("does-not-exist.pem"));
    for (name, expect) in [
        ("rsa_private.pem", "private key"),
        ("ec_private.pem", "private key"),
        ("ec_p384_public.pem", "P-256"),
        ("README.md", "PEM"),
    ] {
        let error = key(fixture(name)).unwrap_err();
        assert!(matches!(error, AuthError::BadKey { .. }), "{name}: {error}");
        assert!(error.to_string().contains(expect), "{name}: {error}");
    }
}
