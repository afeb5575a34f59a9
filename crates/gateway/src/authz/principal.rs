//! Who is asking: the Cedar principal `Client::"<sub>"`, its claims and its groups.
//!
//! ToolHive builds the principal from the token's claims: the `sub` claim names it, every
//! claim becomes a `claim_<name>` attribute of the principal and of the request context,
//! and the group and role claims make it a member (`in`) of `THVGroup::"<group>"` (or the
//! configured group entity type). With `incomingAuth.type: oidc` the claims are those of
//! the caller's checked token; with `anonymous` every client is ToolHive's anonymous
//! identity.

use std::collections::HashSet;

use cedar_policy::{Context, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde_json::{Map, Value};

use super::{AuthzError, value};

/// The group claims looked at when `groupClaimName` is unset or absent from the token, in
/// order (Entra ID/Okta/Auth0, Keycloak, Cognito), as in ToolHive.
const DEFAULT_GROUP_CLAIMS: [&str; 3] = ["groups", "roles", "cognito:groups"];

/// The group entity type when `groupEntityType` is unset.
pub const DEFAULT_GROUP_ENTITY_TYPE: &str = "THVGroup";

/// How claims map to groups (`incomingAuth.authz.groupClaimName`, `roleClaimName`,
/// `groupEntityType`).
#[derive(Clone, Debug, Default)]
pub struct ClaimMapping {
    pub group_claim: String,
    pub role_claim: String,
    pub group_entity_type: String,
}

/// A principal ready for decisions: built once per identity, used for every call and list
/// item of that identity. Its entity and its claims-only context are evaluated here once,
/// not per decision.
#[derive(Clone, Debug)]
pub struct Principal {
    pub(super) uid: EntityUid,
    /// `claim_<name>` pairs: the principal's attributes and part of every request context.
    pub(super) claims: Vec<(String, RestrictedExpression)>,
    /// The `Client::"<sub>"` entity: the claims as attributes, the groups as parents.
    pub(super) entity: Entity,
    /// The request context of a decision without arguments (list items, prompts, reads).
    pub(super) context: Context,
}

impl Principal {
    /// The principal of a claim set; `sub` names it. A claim set without `sub` has no
    /// principal (ToolHive denies such requests; so does vmcp).
    pub fn from_claims(
        claims: &Map<String, Value>,
        map: &ClaimMapping,
    ) -> Result<Self, AuthzError> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(AuthzError::NoSubject)?;
        let group_type = if map.group_entity_type.is_empty() {
            DEFAULT_GROUP_ENTITY_TYPE
        } else {
            &map.group_entity_type
        };
        let group_type = type_name(group_type)?;
        let parents: HashSet<EntityUid> = groups(claims, map)
            .into_iter()
            .map(|g| EntityUid::from_type_name_and_id(group_type.clone(), EntityId::new(g)))
            .collect();
        let uid = uid("Client", sub)?;
        let claims: Vec<(String, RestrictedExpression)> = claims
            .iter()
            .filter_map(|(k, v)| value::to_cedar(v).map(|e| (format!("claim_{k}"), e)))
            .collect();
        let entity =
            Entity::new(uid.clone(), claims.iter().cloned().collect(), parents).map_err(|e| {
                AuthzError::Entity {
                    what: "principal",
                    message: e.to_string(),
                }
            })?;
        let context = Context::from_pairs(claims.iter().cloned())
            .map_err(|e| AuthzError::Context(e.to_string()))?;
        Ok(Principal {
            uid,
            claims,
            entity,
            context,
        })
    }

    /// ToolHive's anonymous identity: `Client::"anonymous"`, with the claims ToolHive's
    /// anonymous middleware sets. Its time claims (`exp`, `iat`, `nbf`) are left out: they
    /// change with every request there and no policy can sensibly depend on them.
    pub fn anonymous(map: &ClaimMapping) -> Result<Self, AuthzError> {
        let claims: Map<String, Value> = [
            ("sub", "anonymous"),
            ("iss", "toolhive-local"),
            ("aud", "toolhive"),
            ("email", "anonymous@localhost"),
            ("name", "Anonymous User"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect();
        Self::from_claims(&claims, map)
    }

    /// The Cedar UID, e.g. `Client::"anonymous"`.
    pub fn uid(&self) -> &EntityUid {
        &self.uid
    }
}

/// Groups of a claim set: the configured group claim, else the first default group claim
/// present, plus the role claim; deduplicated in first-seen order. A claim that is present
/// but not an array of strings contributes nothing (and stops the fallback, as in ToolHive,
/// when it is an array).
pub fn groups(claims: &Map<String, Value>, map: &ClaimMapping) -> Vec<String> {
    let mut found = claim_strings(claims, &map.group_claim);
    if found.is_none() {
        found = DEFAULT_GROUP_CLAIMS
            .iter()
            .find_map(|name| claim_strings(claims, name));
    }
    let mut out: Vec<String> = Vec::new();
    for g in found
        .into_iter()
        .flatten()
        .chain(claim_strings(claims, &map.role_claim).into_iter().flatten())
    {
        if !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// The strings of an array claim, found by its exact name first (URL-style names contain
/// dots) and then as a dot-separated path into nested objects (`realm_access.roles`).
fn claim_strings(claims: &Map<String, Value>, name: &str) -> Option<Vec<String>> {
    if name.is_empty() {
        return None;
    }
    let v = claims.get(name).or_else(|| {
        let mut parts = name.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |v, p| v.as_object()?.get(p))
    })?;
    let items = v.as_array()?;
    Some(
        items
            .iter()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect(),
    )
}

pub(super) fn type_name(name: &str) -> Result<EntityTypeName, AuthzError> {
    name.parse()
        .map_err(|e: cedar_policy::ParseErrors| AuthzError::Name {
            name: name.to_owned(),
            message: e.to_string(),
        })
}

pub(super) fn uid(type_name_str: &str, id: &str) -> Result<EntityUid, AuthzError> {
    Ok(EntityUid::from_type_name_and_id(
        type_name(type_name_str)?,
        EntityId::new(id),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn groups_follow_the_configured_then_default_claims_and_add_roles() {
        let none = ClaimMapping::default();
        let c = claims(json!({"sub": "a", "groups": ["eng", "ops", 3], "roles": ["admin"]}));
        assert_eq!(groups(&c, &none), ["eng", "ops"]);
        let custom = ClaimMapping {
            group_claim: "https://example.com/groups".into(),
            role_claim: "realm_access.roles".into(),
            ..ClaimMapping::default()
        };
        let c = claims(json!({
            "sub": "a",
            "https://example.com/groups": ["eng"],
            "groups": ["ignored"],
            "realm_access": {"roles": ["admin", "eng"]},
        }));
        assert_eq!(groups(&c, &custom), ["eng", "admin"]);
        // The configured claim absent: the defaults still apply.
        let c = claims(json!({"sub": "a", "cognito:groups": ["pool"]}));
        assert_eq!(groups(&c, &custom), ["pool"]);
        // A present, empty array stops the fallback.
        let c = claims(json!({"sub": "a", "groups": [], "roles": ["r"]}));
        assert!(groups(&c, &none).is_empty());
    }

    #[test]
    fn principals_are_named_by_sub() {
        let map = ClaimMapping {
            group_entity_type: "Team".into(),
            ..ClaimMapping::default()
        };
        let p = Principal::from_claims(&claims(json!({"sub": "alice", "groups": ["eng"]})), &map)
            .unwrap();
        assert_eq!(p.uid().to_string(), "Client::\"alice\"");
        let parents: Vec<String> = p
            .entity
            .clone()
            .into_inner()
            .2
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(parents, ["Team::\"eng\""]);
        assert!(p.claims.iter().any(|(k, _)| k == "claim_groups"));
        assert!(matches!(
            Principal::from_claims(&claims(json!({"email": "x"})), &map),
            Err(AuthzError::NoSubject)
        ));
        let anon = Principal::anonymous(&ClaimMapping::default()).unwrap();
        assert_eq!(anon.uid().to_string(), "Client::\"anonymous\"");
        assert!(anon.entity.clone().into_inner().2.is_empty());
        assert_eq!(anon.claims.len(), 5);
    }
}
