//! The pure half of token checking: a parsed key set and the check of one token against
//! it, with no I/O and the clock passed in, so every rule can be unit-tested.
//!
//! What a token must satisfy (docs/AUTH.md): a compact JWS whose `alg` is on the allow-list
//! (RSA PKCS#1 and PSS, ECDSA P-256/P-384, EdDSA; never `none`, never an HMAC, whose "secret"
//! would be the issuer's public key), signed by a key of the issuer's JWKS that may sign
//! with that `alg`, with `iss` equal to the configured issuer, the configured audience in
//! `aud`, a `sub`, and `exp`/`nbf` within the clock skew.

use std::collections::HashMap;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

/// The algorithms a token may be signed with. HMAC is absent on purpose: with an issuer's
/// public key as the "secret", anyone could sign (the classic algorithm-confusion attack).
pub const ALLOWED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Longest token accepted, in bytes; a bigger Authorization header is refused before any
/// base64 or JSON work.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// One verification key and the algorithms it may verify.
struct Key {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// The issuer's signing keys, by `kid` (keys without one are kept apart: a token without
/// `kid` is tried against those only).
#[derive(Default)]
pub struct KeySet {
    by_kid: HashMap<String, Key>,
    unnamed: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.by_kid.keys().collect();
        kids.sort();
        f.debug_struct("KeySet")
            .field("kids", &kids)
            .field("unnamed", &self.unnamed.len())
            .finish()
    }
}

impl KeySet {
    /// Parses a JWKS document. Keys that cannot sign tokens (`use: enc`, HMAC secrets,
    /// unknown types or curves) are skipped, so one exotic key does not make the issuer's
    /// whole set unusable; a document with no usable key at all is an error.
    pub fn parse(jwks: &[u8]) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Doc {
            keys: Vec<Value>,
        }
        let doc: Doc =
            serde_json::from_slice(jwks).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut set = KeySet::default();
        for raw in doc.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let Some(algorithms) = key_algorithms(&jwk) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            let key = Key { key, algorithms };
            match jwk.common.key_id {
                Some(kid) => {
                    set.by_kid.insert(kid, key);
                }
                None => set.unnamed.push(key),
            }
        }
        if set.is_empty() {
            return Err("the JWKS holds no signing key vmcp can use".into());
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty() && self.unnamed.is_empty()
    }

    /// Whether a token naming `kid` (or none) has a key here to be checked against.
    pub fn knows(&self, kid: Option<&str>) -> bool {
        match kid {
            Some(k) => self.by_kid.contains_key(k),
            None => !self.unnamed.is_empty(),
        }
    }
}

/// The algorithms a JWK may verify: the one its `alg` names, else those its key type and
/// curve allow; `None` for keys that verify nothing on the allow-list.
fn key_algorithms(jwk: &Jwk) -> Option<Vec<Algorithm>> {
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        AlgorithmParameters::OctetKeyPair(_) | AlgorithmParameters::OctetKey(_) => return None,
    };
    let declared = match jwk.common.key_algorithm {
        None => return Some(by_type),
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::RS384) => Algorithm::RS384,
        Some(KeyAlgorithm::RS512) => Algorithm::RS512,
        Some(KeyAlgorithm::PS256) => Algorithm::PS256,
        Some(KeyAlgorithm::PS384) => Algorithm::PS384,
        Some(KeyAlgorithm::PS512) => Algorithm::PS512,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::ES384) => Algorithm::ES384,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(_) => return None,
    };
    by_type.contains(&declared).then(|| vec![declared])
}

/// What a token is checked against, besides the keys.
#[derive(Clone, Debug)]
pub struct Expect {
    pub issuer: String,
    pub audience: String,
    /// Allowed clock difference for `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

/// Why a token was refused. Every variant is a 401 `invalid_token` except
/// [`Refusal::UnknownKey`], which the caller first answers with one key refetch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's signing algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("the token is signed with a key the issuer does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    Issuer,
    #[error("the token is for another audience")]
    Audience,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    /// Introspection said `active: false`: revoked, expired or never issued.
    #[error("the token is not active")]
    Inactive,
    /// Introspection said it is a refresh or ID token.
    #[error("the token is not an access token")]
    NotAccessToken,
}

/// Reads the header of a token: its `alg` (checked against the allow-list) and `kid`.
pub fn header(token: &str) -> Result<(Algorithm, Option<String>), Refusal> {
    if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
        return Err(Refusal::Malformed);
    }
    // `alg: none` and unknown algorithms do not parse into `Algorithm`: a header that names
    // one is refused as an algorithm, not as garbage, so the log says what happened.
    let h = jsonwebtoken::decode_header(token).map_err(|_| match header_alg(token) {
        Some(alg) => Refusal::Algorithm(alg),
        None => Refusal::Malformed,
    })?;
    if !ALLOWED_ALGORITHMS.contains(&h.alg) {
        return Err(Refusal::Algorithm(format!("{:?}", h.alg)));
    }
    Ok((h.alg, h.kid))
}

/// The raw `alg` string of a header that did not parse as a known algorithm.
fn header_alg(token: &str) -> Option<String> {
    use base64::Engine as _;
    let first = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let alg = v.get("alg")?.as_str()?;
    Some(alg.chars().take(32).collect())
}

/// Checks a token against a key set; on success, its claims. `now` is the Unix time.
pub fn check(
    token: &str,
    keys: &KeySet,
    expect: &Expect,
    now: u64,
) -> Result<Map<String, Value>, Refusal> {
    let (alg, kid) = header(token)?;
    let candidates: Vec<&Key> = match kid.as_deref() {
        Some(k) => keys.by_kid.get(k).into_iter().collect(),
        None => keys.unnamed.iter().collect(),
    };
    if candidates.is_empty() {
        return Err(Refusal::UnknownKey);
    }
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&expect.issuer]);
    validation.set_audience(&[&expect.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = expect.leeway_secs;
    validation.validate_nbf = true;
    // jsonwebtoken reads the system clock; the checks that depend on time are done here
    // against `now`, so that tests can move it and results do not depend on when they run.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let mut last = Refusal::Signature;
    for key in candidates {
        if !key.algorithms.contains(&alg) {
            last = Refusal::Algorithm(format!("{alg:?} (not allowed for this key)"));
            continue;
        }
        match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
            Ok(data) => {
                times(&data.claims, expect.leeway_secs, now)?;
                match data.claims.get("sub").and_then(Value::as_str) {
                    Some(s) if !s.is_empty() => {}
                    _ => return Err(Refusal::MissingClaim("sub".into())),
                }
                return Ok(data.claims);
            }
            Err(e) => {
                last = match e.kind() {
                    ErrorKind::InvalidSignature
                    | ErrorKind::InvalidEcdsaKey
                    | ErrorKind::InvalidRsaKey(_)
                    | ErrorKind::InvalidAlgorithm => Refusal::Signature,
                    ErrorKind::InvalidIssuer => return Err(Refusal::Issuer),
                    ErrorKind::InvalidAudience => return Err(Refusal::Audience),
                    ErrorKind::MissingRequiredClaim(c) => {
                        return Err(Refusal::MissingClaim(c.clone()));
                    }
                    _ => Refusal::Malformed,
                };
            }
        }
    }
    Err(last)
}

/// `exp` (required) and `nbf` (if present) against `now`, with `leeway` seconds either way.
fn times(claims: &Map<String, Value>, leeway: u64, now: u64) -> Result<(), Refusal> {
    let num = |k: &str| claims.get(k).and_then(Value::as_f64);
    let exp = num("exp").ok_or_else(|| Refusal::MissingClaim("exp".into()))?;
    if exp + (leeway as f64) <= now as f64 {
        return Err(Refusal::Expired);
    }
    if let Some(nbf) = num("nbf")
        && nbf > (now + leeway) as f64
    {
        return Err(Refusal::NotYetValid);
    }
    Ok(())
}

/// The scopes a token grants: `scope` (RFC 8693 / RFC 9068, space-separated) or `scp`
/// (Entra ID and Okta, a string or an array).
pub fn granted_scopes(claims: &Map<String, Value>) -> Vec<&str> {
    let mut out = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => out.extend(s.split_ascii_whitespace()),
            Some(Value::Array(a)) => out.extend(a.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;
