//! Cedar policies and entities of `incomingAuth.authz`, parsed.
//!
//! Parsing lives beside the config type so that every reader of a config rejects the same
//! bad policy with the same path: `vmcp validate`, the gateway at startup and the operator
//! (all through [`crate::Config::validate`]), and the gateway builds its authorizer from the
//! very [`CedarSet`] parsed here. Evaluation (principals, actions, decisions) is the
//! gateway's business; this module only turns text into Cedar values or says, per field,
//! why it cannot.
//!
//! Policies are numbered `policy0`, `policy1`, ... as ToolHive numbers them, so a policy id
//! in a log line names the list entry it came from.

use cedar_policy::{Entities, Policy, PolicyId, PolicySet};

use crate::auth::AuthzConfig;

/// Longest run of nested brackets accepted in one policy. Cedar's parser recurses once per
/// nesting level; a config file of a few hundred kilobytes of `(` would otherwise overflow
/// the stack of whoever parses it. Real policies nest a handful of levels.
pub const MAX_POLICY_NESTING: usize = 64;

/// The parsed form of an `authz` section of type `cedar`.
#[derive(Clone, Debug)]
pub struct CedarSet {
    pub policies: PolicySet,
    /// The `entitiesJson` entities, with their ancestors computed.
    pub entities: Entities,
}

/// Why an `authz` section cannot be parsed; each variant names its field relative to the
/// section (`policies[1]`, `entitiesJson`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CedarError {
    #[error("policies: at least one Cedar policy is required")]
    NoPolicies,
    #[error("policies[{index}]: empty policy")]
    EmptyPolicy { index: usize },
    #[error("policies[{index}]: {message}")]
    Policy { index: usize, message: String },
    #[error("entitiesJson: is not valid JSON: {0}")]
    EntitiesNotJson(String),
    #[error("entitiesJson: must be a JSON array")]
    EntitiesNotArray,
    #[error("entitiesJson: {0}")]
    Entities(String),
}

impl CedarError {
    /// The field within the `authz` section: a key, and the list index when there is one.
    pub fn field(&self) -> (&'static str, Option<usize>) {
        match self {
            CedarError::NoPolicies => ("policies", None),
            CedarError::EmptyPolicy { index } | CedarError::Policy { index, .. } => {
                ("policies", Some(*index))
            }
            CedarError::EntitiesNotJson(_)
            | CedarError::EntitiesNotArray
            | CedarError::Entities(_) => ("entitiesJson", None),
        }
    }

    /// The field as a path relative to the section: `policies[1]`, `entitiesJson`.
    pub fn path(&self) -> String {
        match self.field() {
            (key, Some(i)) => format!("{key}[{i}]"),
            (key, None) => key.to_string(),
        }
    }

    /// The message without the field.
    pub fn message(&self) -> String {
        let full = self.to_string();
        match full.split_once(": ") {
            Some((_, rest)) => rest.to_string(),
            None => full,
        }
    }
}

impl AuthzConfig {
    /// Parses the policies and `entitiesJson` (empty means `[]`), reporting every problem.
    /// The section's `type` is not looked at: the caller asks only for Cedar sections.
    pub fn parse_cedar(&self) -> Result<CedarSet, Vec<CedarError>> {
        let mut errors = Vec::new();
        let mut policies = PolicySet::new();
        if self.policies.is_empty() {
            errors.push(CedarError::NoPolicies);
        }
        for (index, text) in self.policies.iter().enumerate() {
            match parse_policy(index, text) {
                // Ids are unique by construction, so adding cannot fail.
                Ok(p) => {
                    if let Err(e) = policies.add(p) {
                        errors.push(CedarError::Policy {
                            index,
                            message: e.to_string(),
                        });
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        let entities = match parse_entities(&self.entities_json) {
            Ok(e) => e,
            Err(e) => {
                errors.push(e);
                Entities::empty()
            }
        };
        if errors.is_empty() {
            Ok(CedarSet { policies, entities })
        } else {
            Err(errors)
        }
    }
}

fn parse_policy(index: usize, text: &str) -> Result<Policy, CedarError> {
    if text.trim().is_empty() {
        return Err(CedarError::EmptyPolicy { index });
    }
    if nesting(text) > MAX_POLICY_NESTING {
        return Err(CedarError::Policy {
            index,
            message: format!("brackets nest deeper than {MAX_POLICY_NESTING} levels"),
        });
    }
    Policy::parse(Some(PolicyId::new(format!("policy{index}"))), text).map_err(|e| {
        CedarError::Policy {
            index,
            message: with_position(&e, text),
        }
    })
}

/// The deepest bracket nesting of `text`, counting brackets inside string literals too
/// (an over-estimate is harmless: it only refuses absurd policies).
fn nesting(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Cedar's first error message, with the line and column it points at and its help.
fn with_position(e: &cedar_policy::ParseErrors, text: &str) -> String {
    use miette::Diagnostic;
    let mut msg = e.to_string();
    if let Some(offset) = e
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset())
    {
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        msg.push_str(&format!(" (line {line}, column {column})"));
    }
    if let Some(help) = e.help() {
        msg.push_str(&format!("; {help}"));
    }
    msg
}

fn parse_entities(json: &str) -> Result<Entities, CedarError> {
    if json.trim().is_empty() {
        return Ok(Entities::empty());
    }
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| CedarError::EntitiesNotJson(e.to_string()))?;
    if !value.is_array() {
        return Err(CedarError::EntitiesNotArray);
    }
    Entities::from_json_value(value, None).map_err(|e| CedarError::Entities(entities_message(&e)))
}

/// Cedar's entity error, with its cause when the top-level message is generic.
fn entities_message(e: &cedar_policy::entities_errors::EntitiesError) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(&format!(": {s_msg}"));
        }
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authz(policies: &[&str], entities: &str) -> AuthzConfig {
        AuthzConfig {
            policies: policies.iter().map(|p| p.to_string()).collect(),
            entities_json: entities.to_string(),
            ..AuthzConfig::default()
        }
    }

    #[test]
    fn parses_policies_and_entities() {
        let set = authz(
            &[
                "permit(principal, action, resource);",
                "forbid(principal, action == Action::\"call_tool\", resource == Tool::\"rm\");",
            ],
            r#"[{"uid": {"type": "THVGroup", "id": "eng"}, "attrs": {}, "parents": []}]"#,
        )
        .parse_cedar()
        .unwrap();
        assert_eq!(set.policies.policies().count(), 2);
        assert!(
            set.policies
                .policy(&PolicyId::new("policy1"))
                .is_some_and(|p| p.effect() == cedar_policy::Effect::Forbid)
        );
        assert_eq!(set.entities.iter().count(), 1);
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let errs = authz(
            &[
                "permit(principal, action, resource);",
                "permit(principal,, resource);",
                "  ",
            ],
            "{}",
        )
        .parse_cedar()
        .unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert_eq!(errs[0].field(), ("policies", Some(1)));
        assert!(
            errs[0].to_string().starts_with("policies[1]: "),
            "{}",
            errs[0]
        );
        assert!(errs[0].message().contains("line 1, column"), "{}", errs[0]);
        assert_eq!(errs[1], CedarError::EmptyPolicy { index: 2 });
        assert_eq!(errs[2], CedarError::EntitiesNotArray);
        assert_eq!(
            authz(&[], "").parse_cedar().unwrap_err(),
            [CedarError::NoPolicies]
        );
    }

    #[test]
    fn entity_errors_name_entities_json() {
        let errs = authz(&["permit(principal, action, resource);"], "[1,")
            .parse_cedar()
            .unwrap_err();
        assert!(
            matches!(&errs[..], [CedarError::EntitiesNotJson(_)]),
            "{errs:?}"
        );
        let errs = authz(
            &["permit(principal, action, resource);"],
            r#"[{"uid": {"type": "THVGroup"}, "attrs": {}, "parents": []}]"#,
        )
        .parse_cedar()
        .unwrap_err();
        assert!(matches!(&errs[..], [CedarError::Entities(_)]), "{errs:?}");
        assert_eq!(errs[0].field(), ("entitiesJson", None));
    }

    #[test]
    fn templates_two_policies_and_deep_nesting_are_refused() {
        for bad in [
            "permit(principal == ?principal, action, resource);",
            "permit(principal, action, resource); permit(principal, action, resource);",
        ] {
            let errs = authz(&[bad], "").parse_cedar().unwrap_err();
            assert!(
                matches!(&errs[..], [CedarError::Policy { index: 0, .. }]),
                "{bad}: {errs:?}"
            );
        }
        let deep = format!(
            "permit(principal, action, resource) when {{ {}true{} }};",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let errs = authz(&[&deep], "").parse_cedar().unwrap_err();
        assert!(errs[0].message().contains("nest deeper"), "{}", errs[0]);
        let ok = format!(
            "permit(principal, action, resource) when {{ {}true{} }};",
            "(".repeat(20),
            ")".repeat(20)
        );
        assert!(authz(&[&ok], "").parse_cedar().is_ok());
    }
}
