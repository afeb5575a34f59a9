//! The token rules, each against a key pair made here and a clock passed in.

use super::*;
use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

const ISS: &str = "https://issuer.example.com/realms/vmcp";
const AUD: &str = "vmcp-gateway";
const NOW: u64 = 1_800_000_000;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

struct Signer {
    enc: EncodingKey,
    alg: Algorithm,
    jwk: Value,
}

fn ec(kid: &str) -> Signer {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = kp.public_key_raw();
    assert_eq!(raw.len(), 65);
    Signer {
        enc: EncodingKey::from_ec_der(&kp.serialize_der()),
        alg: Algorithm::ES256,
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": b64(&raw[1..33]), "y": b64(&raw[33..])}),
    }
}

fn ed(kid: &str) -> Signer {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    Signer {
        enc: EncodingKey::from_ed_der(&kp.serialize_der()),
        alg: Algorithm::EdDSA,
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(kp.public_key_raw())}),
    }
}

fn set(signers: &[&Signer], extra: &[Value]) -> KeySet {
    let keys: Vec<Value> = signers
        .iter()
        .map(|s| s.jwk.clone())
        .chain(extra.iter().cloned())
        .collect();
    KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 300, "iat": NOW, "groups": ["eng"]})
}

fn sign(s: &Signer, kid: Option<&str>, claims: &Value) -> String {
    let mut h = Header::new(s.alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, &s.enc).unwrap()
}

fn expect() -> Expect {
    Expect {
        issuer: ISS.into(),
        audience: AUD.into(),
        leeway_secs: 30,
    }
}

fn run(token: &str, keys: &KeySet) -> Result<Map<String, Value>, Refusal> {
    check(token, keys, &expect(), NOW)
}

#[test]
fn a_good_token_gives_its_claims() {
    for s in [ec("k1"), ed("k1")] {
        let keys = set(&[&s], &[]);
        let c = run(&sign(&s, Some("k1"), &claims()), &keys).unwrap();
        assert_eq!(c["sub"], "alice");
        assert_eq!(c["groups"], json!(["eng"]));
    }
    // `aud` may be an array holding the audience among others.
    let s = ec("k1");
    let mut c = claims();
    c["aud"] = json!(["account", AUD]);
    assert!(run(&sign(&s, Some("k1"), &c), &set(&[&s], &[])).is_ok());
}

#[test]
fn time_claims_have_a_small_skew() {
    let s = ec("k1");
    let keys = set(&[&s], &[]);
    let with = |k: &str, v: u64| {
        let mut c = claims();
        c[k] = json!(v);
        sign(&s, Some("k1"), &c)
    };
    assert_eq!(run(&with("exp", NOW - 31), &keys), Err(Refusal::Expired));
    assert!(run(&with("exp", NOW - 29), &keys).is_ok());
    assert_eq!(
        run(&with("nbf", NOW + 31), &keys),
        Err(Refusal::NotYetValid)
    );
    assert!(run(&with("nbf", NOW + 29), &keys).is_ok());
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        run(&sign(&s, Some("k1"), &c), &keys),
        Err(Refusal::MissingClaim("exp".into()))
    );
}

#[test]
fn issuer_audience_and_subject_must_match() {
    let s = ec("k1");
    let keys = set(&[&s], &[]);
    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        sign(&s, Some("k1"), &c)
    };
    assert_eq!(
        run(&with("iss", json!("https://evil.example.com")), &keys),
        Err(Refusal::Issuer)
    );
    assert_eq!(
        run(&with("aud", json!("other-service")), &keys),
        Err(Refusal::Audience)
    );
    assert_eq!(
        run(&with("sub", json!("")), &keys),
        Err(Refusal::MissingClaim("sub".into()))
    );
    let mut c = claims();
    c.as_object_mut().unwrap().remove("aud");
    assert!(matches!(
        run(&sign(&s, Some("k1"), &c), &keys),
        Err(Refusal::MissingClaim(_) | Refusal::Audience)
    ));
}

#[test]
fn signatures_must_be_the_issuers() {
    let s = ec("k1");
    let keys = set(&[&s], &[]);
    let good = sign(&s, Some("k1"), &claims());
    // Another key under the same kid.
    let other = ec("k1");
    assert_eq!(
        run(&sign(&other, Some("k1"), &claims()), &keys),
        Err(Refusal::Signature)
    );
    // A payload changed after signing.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut c = claims();
    c["sub"] = json!("admin");
    parts[1] = b64(c.to_string().as_bytes());
    assert_eq!(run(&parts.join("."), &keys), Err(Refusal::Signature));
    // A kid the set does not hold is the caller's cue for one refetch.
    assert_eq!(
        run(&sign(&s, Some("k2"), &claims()), &keys),
        Err(Refusal::UnknownKey)
    );
    assert_eq!(
        run(&sign(&s, None, &claims()), &keys),
        Err(Refusal::UnknownKey)
    );
}

#[test]
fn none_and_hmac_are_never_accepted() {
    let s = ec("k1");
    let keys = set(&[&s], &[]);
    let payload = b64(claims().to_string().as_bytes());
    for alg in ["none", "None", "HS256"] {
        let header = b64(json!({"alg": alg, "kid": "k1", "typ": "JWT"})
            .to_string()
            .as_bytes());
        for sig in ["", "AAAA"] {
            let t = format!("{header}.{payload}.{sig}");
            assert!(
                matches!(run(&t, &keys), Err(Refusal::Algorithm(_))),
                "{alg}: {:?}",
                run(&t, &keys)
            );
        }
    }
    // HS256 keyed with the issuer's public key (algorithm confusion), and a JWKS that
    // publishes an HMAC secret: neither verifies anything.
    let public = s.jwk["x"].as_str().unwrap().as_bytes().to_vec();
    let t = jsonwebtoken::encode(
        &Header {
            kid: Some("k1".into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert!(matches!(run(&t, &keys), Err(Refusal::Algorithm(_))));
    let secret = json!({"kty": "oct", "kid": "h", "k": b64(b"secret")});
    let keys = set(&[&s], &[secret]);
    assert!(!keys.knows(Some("h")));
}

#[test]
fn a_key_verifies_only_its_own_algorithms() {
    // An EdDSA token under the kid of an ES256 key.
    let e = ec("k1");
    let d = ed("k1");
    let keys = set(&[&e], &[]);
    assert!(matches!(
        run(&sign(&d, Some("k1"), &claims()), &keys),
        Err(Refusal::Algorithm(_))
    ));
}

#[test]
fn key_sets_skip_what_cannot_sign() {
    let s = ec("sig");
    let enc = json!({"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"});
    let odd = json!({"kty": "XYZ", "kid": "odd"});
    let keys = set(&[&s], &[enc, odd]);
    assert!(keys.knows(Some("sig")));
    assert!(!keys.knows(Some("enc")));
    assert!(!keys.knows(Some("odd")));
    assert!(KeySet::parse(br#"{"keys": []}"#).is_err());
    assert!(KeySet::parse(b"<html>").is_err());
}

#[test]
fn garbage_is_malformed() {
    let keys = set(&[&ec("k1")], &[]);
    for t in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        &"a".repeat(MAX_TOKEN_BYTES + 1),
    ] {
        assert_eq!(run(t, &keys), Err(Refusal::Malformed), "{t:.20}");
    }
}

#[test]
fn scopes_come_from_scope_or_scp() {
    let c = json!({"scope": "openid  mcp:tools", "scp": ["a", 1, "b"]});
    assert_eq!(
        granted_scopes(c.as_object().unwrap()),
        ["openid", "mcp:tools", "a", "b"]
    );
    assert!(granted_scopes(json!({}).as_object().unwrap()).is_empty());
}
