//! Cedar authorization of client requests, with ToolHive's model so that its users' policies
//! mean the same thing here (docs/AUTHZ.md):
//!
//! | request          | principal       | action                   | resource                     |
//! |------------------|-----------------|--------------------------|------------------------------|
//! | `tools/call`     | `Client::"sub"` | `Action::"call_tool"`    | `Tool::"<advertised name>"`  |
//! | `prompts/get`    | `Client::"sub"` | `Action::"get_prompt"`   | `Prompt::"<advertised name>"`|
//! | `resources/read` | `Client::"sub"` | `Action::"read_resource"`| `Resource::"<sanitised uri>"`|
//!
//! One decision both filters list results (an item is listed when the caller may use it)
//! and gates the call, so a client never sees a tool it may not call or the reverse. The
//! policies and `entitiesJson` are parsed once (by `vmcp_config`); a decision builds only the
//! resource and request entities and evaluates, and is remembered where it cannot change
//! (see [`Authorizer`]). Any evaluation error denies (fail closed), as in ToolHive.

pub mod principal;
pub mod value;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use cedar_policy::{
    Context, Decision, Entities, Entity, EntityUid, PolicySet, Request, RestrictedExpression,
};
use serde_json::{Map, Value};
use vmcp_config::{AuthzConfig, CedarSet};

pub use principal::{ClaimMapping, Principal};

/// The parent entity type of every resource: `resource in MCP::"<gateway name>"` scopes a
/// policy to one virtual server, as in ToolHive.
const SERVER_ENTITY_TYPE: &str = "MCP";

/// At most one warning per this many seconds for failing decisions (a list of 500 tools
/// against a policy that errors would otherwise log 500 lines per list call).
const WARN_EVERY_SECS: u64 = 30;

/// Most remembered decisions; past it the memo starts again (call names come from clients,
/// so the memo must not grow with whatever they send).
const MEMO_MAX: usize = 16_384;

/// The kinds of request a policy decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Tool,
    Prompt,
    Resource,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Tool, Kind::Prompt, Kind::Resource];

    /// The Cedar action id.
    pub fn action(self) -> &'static str {
        match self {
            Kind::Tool => "call_tool",
            Kind::Prompt => "get_prompt",
            Kind::Resource => "read_resource",
        }
    }

    fn resource_type(self) -> &'static str {
        match self {
            Kind::Tool => "Tool",
            Kind::Prompt => "Prompt",
            Kind::Resource => "Resource",
        }
    }

    fn operation(self) -> &'static str {
        match self {
            Kind::Tool => "call",
            Kind::Prompt => "get",
            Kind::Resource => "read",
        }
    }

    fn feature(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Prompt => "prompt",
            Kind::Resource => "resource",
        }
    }

    /// The message of a denial. It names the kind only, never the tool, prompt or resource,
    /// nor whether it exists, so denials cannot be used to enumerate what is there
    /// (ToolHive's wording).
    pub fn denial(self) -> &'static str {
        match self {
            Kind::Tool => "call denied by authorization policy",
            Kind::Prompt => "prompt denied by authorization policy",
            Kind::Resource => "read denied by authorization policy",
        }
    }
}

/// The MCP tool annotation hints a policy can read as `resource.readOnlyHint` and so on;
/// only hints the tool sets become attributes (`resource has readOnlyHint` tells them apart).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ToolHints {
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    pub idempotent: Option<bool>,
    pub open_world: Option<bool>,
}

impl ToolHints {
    /// The hints of a tool object as advertised (after overrides); non-boolean values are
    /// ignored.
    pub fn of_tool(tool: &Map<String, Value>) -> Self {
        let Some(a) = tool.get("annotations").and_then(Value::as_object) else {
            return ToolHints::default();
        };
        let hint = |k: &str| a.get(k).and_then(Value::as_bool);
        ToolHints {
            read_only: hint("readOnlyHint"),
            destructive: hint("destructiveHint"),
            idempotent: hint("idempotentHint"),
            open_world: hint("openWorldHint"),
        }
    }

    fn attributes(self) -> impl Iterator<Item = (&'static str, bool)> {
        [
            ("readOnlyHint", self.read_only),
            ("destructiveHint", self.destructive),
            ("idempotentHint", self.idempotent),
            ("openWorldHint", self.open_world),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

/// What one decision is about.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub kind: Kind,
    /// The advertised tool or prompt name, or the resource URI (a template's string for a
    /// listed template).
    pub name: &'a str,
    pub hints: ToolHints,
    /// `tools/call` arguments; `None` for list items and other kinds.
    pub args: Option<&'a Map<String, Value>>,
}

impl<'a> Target<'a> {
    pub fn tool(name: &'a str, hints: ToolHints, args: Option<&'a Map<String, Value>>) -> Self {
        Target {
            kind: Kind::Tool,
            name,
            hints,
            args,
        }
    }

    pub fn prompt(name: &'a str) -> Self {
        Target {
            kind: Kind::Prompt,
            name,
            hints: ToolHints::default(),
            args: None,
        }
    }

    pub fn resource(uri: &'a str) -> Self {
        Target {
            kind: Kind::Resource,
            name: uri,
            hints: ToolHints::default(),
            args: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error("the identity has no sub claim, so there is no Cedar principal")]
    NoSubject,
    #[error("{name:?} is not a Cedar entity type name: {message}")]
    Name { name: String, message: String },
    #[error("building the {what} entity: {message}")]
    Entity { what: &'static str, message: String },
    #[error("building the request context: {0}")]
    Context(String),
    #[error("building the Cedar request: {0}")]
    Request(String),
    #[error("policy evaluation failed (denied): {0}")]
    Evaluation(String),
}

/// The authorizer of one gateway: policies, `entitiesJson` entities, and what every request
/// shares (action entities, the server entity), all built once.
///
/// A decision is a pure function of the policies, the entities, the principal and the
/// target, so the anonymous principal's decisions are remembered: one Cedar evaluation per
/// listed item and called name, not per request. Arguments are the exception: a call's
/// decision is remembered only when no policy can read arguments (see [`reads_arguments`]).
pub struct Authorizer {
    policies: PolicySet,
    entities: Entities,
    actions: HashMap<Kind, Entity>,
    /// `MCP::"<gateway name>"`, the parent of every resource; none for an unnamed gateway.
    server: Option<EntityUid>,
    anonymous: Principal,
    /// How an authenticated caller's claims become groups.
    mapping: ClaimMapping,
    cedar: cedar_policy::Authorizer,
    /// Whether some policy may read call arguments (then calls with arguments are decided
    /// every time).
    reads_arguments: bool,
    /// The anonymous principal's decisions without arguments.
    memo: RwLock<Memo>,
    /// Unix second of the last warning about a failed decision.
    last_warning: AtomicU64,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("policies", &self.policies.policies().count())
            .field("entities", &self.entities.iter().count())
            .field("server", &self.server)
            .finish()
    }
}

impl Authorizer {
    /// An authorizer for parsed policies; `cfg` gives the claim mapping, `server_name` the
    /// gateway's name (`MCP::"<name>"`).
    pub fn new(set: CedarSet, cfg: &AuthzConfig, server_name: &str) -> Result<Self, AuthzError> {
        let mapping = ClaimMapping {
            group_claim: cfg.group_claim_name.clone(),
            role_claim: cfg.role_claim_name.clone(),
            group_entity_type: cfg.group_entity_type.clone(),
        };
        let mut actions = HashMap::new();
        for kind in Kind::ALL {
            let attrs = HashMap::from([(
                "operation".to_owned(),
                RestrictedExpression::new_string(kind.action().to_owned()),
            )]);
            let entity = Entity::new(
                principal::uid("Action", kind.action())?,
                attrs,
                HashSet::new(),
            )
            .map_err(|e| AuthzError::Entity {
                what: "action",
                message: e.to_string(),
            })?;
            actions.insert(kind, entity);
        }
        let server = if server_name.is_empty() {
            None
        } else {
            Some(principal::uid(SERVER_ENTITY_TYPE, server_name)?)
        };
        Ok(Authorizer {
            policies: set.policies,
            entities: set.entities,
            actions,
            server,
            anonymous: Principal::anonymous(&mapping)?,
            mapping,
            cedar: cedar_policy::Authorizer::new(),
            reads_arguments: cfg.policies.iter().any(|p| reads_arguments(p)),
            memo: RwLock::new(Memo::default()),
            last_warning: AtomicU64::new(0),
        })
    }

    /// The principal of clients that present no credentials (every client of a gateway
    /// with `incomingAuth.type: anonymous`).
    pub fn anonymous(&self) -> &Principal {
        &self.anonymous
    }

    /// The principal of an authenticated caller's token claims, with this gateway's claim
    /// mapping (`groupClaimName`, `roleClaimName`, `groupEntityType`).
    pub fn principal_of(&self, claims: &Map<String, Value>) -> Result<Principal, AuthzError> {
        Principal::from_claims(claims, &self.mapping)
    }

    /// Whether `who` may do `target`. Errors deny, and are logged (rate-limited).
    pub fn allows(&self, who: &Principal, target: &Target<'_>) -> bool {
        // Authenticated principals are not remembered: the memo is keyed by target only.
        let remember = std::ptr::eq(who, &self.anonymous)
            && (target.args.is_none_or(Map::is_empty) || !self.reads_arguments);
        if remember && let Some(allowed) = self.remembered(target) {
            return allowed;
        }
        let allowed = match self.decide(who, target) {
            Ok(allowed) => allowed,
            Err(e) => {
                self.warn(&e, target);
                false
            }
        };
        if remember {
            self.memo
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(target, allowed);
        }
        allowed
    }

    fn remembered(&self, target: &Target<'_>) -> Option<bool> {
        self.memo
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(target)
    }

    /// The decision, or why none could be made.
    pub fn decide(&self, who: &Principal, target: &Target<'_>) -> Result<bool, AuthzError> {
        let kind = target.kind;
        let args = target.args.map(value::arguments).unwrap_or_default();
        let resource_uid = principal::uid(kind.resource_type(), &resource_id(target))?;
        let principal = who.entity.clone();
        let resource = Entity::new(
            resource_uid.clone(),
            resource_attributes(target, &args),
            self.server.iter().cloned().collect(),
        )
        .map_err(|e| AuthzError::Entity {
            what: "resource",
            message: e.to_string(),
        })?;
        let action = self.actions.get(&kind).cloned().ok_or(AuthzError::Entity {
            what: "action",
            message: format!("no action entity for {}", kind.action()),
        })?;
        let action_uid = action.uid();
        // Request entities replace `entitiesJson` entities of the same UID (ToolHive merges
        // the same way), and ancestors are recomputed so `principal in THVGroup::"all"`
        // follows a group hierarchy declared in entitiesJson.
        let entities = self
            .entities
            .clone()
            .upsert_entities([principal, action, resource], None)
            .map_err(|e| AuthzError::Entity {
                what: "request",
                message: e.to_string(),
            })?;
        let context = if args.is_empty() {
            who.context.clone()
        } else {
            Context::from_pairs(who.claims.iter().cloned().chain(args))
                .map_err(|e| AuthzError::Context(e.to_string()))?
        };
        let request = Request::new(who.uid.clone(), action_uid, resource_uid, context, None)
            .map_err(|e| AuthzError::Request(e.to_string()))?;
        let response = self
            .cedar
            .is_authorized(&request, &self.policies, &entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        if !errors.is_empty() {
            return Err(AuthzError::Evaluation(errors.join("; ")));
        }
        Ok(response.decision() == Decision::Allow)
    }

    fn warn(&self, e: &AuthzError, target: &Target<'_>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_SECS
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(action = target.kind.action(), target = target.name, error = %e,
                "authorization decision failed; denied (further failures for {WARN_EVERY_SECS}s are logged at debug)");
        } else {
            tracing::debug!(action = target.kind.action(), target = target.name, error = %e,
                "authorization decision failed; denied");
        }
    }
}

/// Remembered decisions, by (kind, hints) and then name, so a lookup by `&str` allocates
/// nothing (a filtered list looks up every entry).
#[derive(Default)]
struct Memo {
    by_kind: HashMap<(Kind, ToolHints), HashMap<String, bool>>,
    len: usize,
}

impl Memo {
    fn get(&self, t: &Target<'_>) -> Option<bool> {
        self.by_kind.get(&(t.kind, t.hints))?.get(t.name).copied()
    }

    fn insert(&mut self, t: &Target<'_>, allowed: bool) {
        if self.len >= MEMO_MAX {
            self.by_kind.clear();
            self.len = 0;
        }
        let names = self.by_kind.entry((t.kind, t.hints)).or_default();
        if names.insert(t.name.to_owned(), allowed).is_none() {
            self.len += 1;
        }
    }
}

/// Whether a policy may read call arguments: it names an `arg_` attribute, or uses the
/// context other than through `context.<claim>` / `context has <claim>` (a whole-record
/// comparison would see the arguments). Errs towards yes, which only costs memoization.
pub fn reads_arguments(policy: &str) -> bool {
    if policy.contains("arg_") {
        return true;
    }
    let mut rest = policy;
    while let Some(i) = rest.find("context") {
        let before = rest[..i].chars().next_back();
        let after = rest[i + "context".len()..].trim_start();
        let word_start = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let word_end = after
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if word_start && word_end && !(after.starts_with('.') || after.starts_with("has ")) {
            return true;
        }
        rest = &rest[i + "context".len()..];
    }
    false
}

/// The resource entity's id: the name, or for resources the URI with the characters
/// ToolHive replaces (`: / \ ? & = #`, space and `.`) turned into `_`, so a policy written
/// as `resource == Resource::"file____etc_hosts"` for ToolHive matches here too.
/// `resource.uri` holds the URI as it is.
pub fn resource_id(target: &Target<'_>) -> String {
    match target.kind {
        Kind::Resource => target
            .name
            .chars()
            .map(|c| match c {
                ':' | '/' | '\\' | '?' | '&' | '=' | '#' | ' ' | '.' => '_',
                c => c,
            })
            .collect(),
        Kind::Tool | Kind::Prompt => target.name.to_owned(),
    }
}

/// The resource's attributes, in ToolHive's order of precedence: annotations, then the
/// call's arguments, then `name`, `operation` and `feature`, which nothing can override.
fn resource_attributes(
    target: &Target<'_>,
    args: &[(String, RestrictedExpression)],
) -> HashMap<String, RestrictedExpression> {
    let kind = target.kind;
    let mut attrs: HashMap<String, RestrictedExpression> = target
        .hints
        .attributes()
        .map(|(k, v)| (k.to_owned(), RestrictedExpression::new_bool(v)))
        .collect();
    attrs.extend(args.iter().cloned());
    let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
    attrs.insert("name".into(), s(target.name));
    attrs.insert("operation".into(), s(kind.operation()));
    attrs.insert("feature".into(), s(kind.feature()));
    if kind == Kind::Resource {
        attrs.insert("uri".into(), s(target.name));
    }
    attrs
}

#[cfg(test)]
mod tests;
