//! What the API server would refuse, checked offline: an object of a vmcp kind against its
//! CRD's OpenAPI schema (types, enums, `required`, `minimum`/`maximum`, lengths, `pattern`,
//! item counts) and its CEL rules (`x-kubernetes-validations`, evaluated by kube's client-side
//! CEL engine), after applying the schema's defaults as admission does.
//!
//! `vmcp render` reads manifests that may never have met an API server; without this it would
//! render a Deployment with `replicas: -3` or a gateway for an entry whose URL the CRD refuses,
//! and a GitOps review would approve what `kubectl apply` then rejects. The real server stays
//! the authority: `crates/api/tests/apiserver.rs` runs the same invalid objects through both and
//! checks that they agree. Not covered: `metadata` rules (name syntax), `format`s, and fields
//! the schema does not declare (the typed parse after this check reports those).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// Each vmcp kind's storage-version `openAPIV3Schema` (both served versions share it).
fn schemas() -> &'static BTreeMap<String, Value> {
    static SCHEMAS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        crate::crd::all_crds()
            .into_iter()
            .filter_map(|crd| {
                let kind = crd.spec.names.kind.clone();
                let version = crd.spec.versions.into_iter().find(|v| v.storage)?;
                let schema = version.schema?.open_api_v3_schema?;
                Some((kind, serde_json::to_value(schema).ok()?))
            })
            .collect()
    })
}

/// `kind`'s CEL rules, compiled once per thread rather than once per object checked (the
/// compiled form is not `Sync`, so it cannot be shared like `schemas`).
fn compiled(kind: &str, schema: &Value) -> std::rc::Rc<kube::core::cel::CompiledSchema> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;
    thread_local! {
        static COMPILED: RefCell<HashMap<String, Rc<kube::core::cel::CompiledSchema>>> =
            RefCell::new(HashMap::new());
    }
    COMPILED.with(|m| {
        m.borrow_mut()
            .entry(kind.to_string())
            .or_insert_with(|| Rc::new(kube::core::cel::compile_schema(schema)))
            .clone()
    })
}

/// Why the API server would refuse `object` of `kind`, one line per problem, each starting with
/// the field path (`spec.replicas: ...`). Empty when it would accept it, and for kinds vmcp does
/// not define.
pub fn problems(kind: &str, object: &Value) -> Vec<String> {
    let Some(schema) = schemas().get(kind) else {
        return Vec::new();
    };
    let defaulted = kube::core::cel::apply_defaults(schema, object);
    let mut out = Vec::new();
    // Only the parts a user writes; apiVersion, kind and metadata are the API server's own.
    for field in ["spec", "status"] {
        if let (Some(sub), Some(value)) = (
            schema.pointer(&format!("/properties/{field}")),
            defaulted.get(field),
        ) {
            check(sub, value, field, &mut out);
        }
    }
    if out.is_empty() {
        // CEL rules assume a structurally valid object; the server also evaluates them only then.
        let rules = compiled(kind, schema);
        if let Err(errors) =
            kube::core::cel::Validator::new().validate_compiled(&rules, &defaulted, None)
        {
            out.extend(errors.as_slice().iter().map(|e| {
                let path = if e.field_path.is_empty() {
                    "<object>"
                } else {
                    e.field_path.as_str()
                };
                format!("{path}: Invalid value: {}", e.message)
            }));
        }
    }
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool) == Some(true)
}

/// Checks `value` at `path` against `schema`, pushing one message per problem.
fn check(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    if value.is_null() {
        if !flag(schema, "nullable") && schema.get("type").is_some() {
            out.push(format!("{path}: Invalid value: \"null\": must not be null"));
        }
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            out.push(format!(
                "{path}: Invalid value: \"{}\": must be an integer or a string",
                type_name(value)
            ));
        }
        return;
    }
    let want = schema.get("type").and_then(Value::as_str);
    let got = type_name(value);
    let type_ok = match want {
        None => true,
        Some("number") => got == "number" || got == "integer",
        Some(t) => t == got,
    };
    if !type_ok {
        out.push(format!(
            "{path}: Invalid value: \"{got}\": {path} in body must be of type {}: \"{got}\"",
            want.unwrap_or_default()
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        out.push(format!(
            "{path}: Unsupported value: {value}: supported values: {}",
            list.join(", ")
        ));
    }
    match value {
        Value::Number(n) => check_number(schema, n, path, out),
        Value::String(s) => check_string(schema, s, path, out),
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && n < min
            {
                out.push(format!(
                    "{path}: Invalid value: {n}: {path} in body should have at least {min} items"
                ));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && n > max
            {
                out.push(format!(
                    "{path}: Too many: {n}: must have at most {max} items"
                ));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => {
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        out.push(format!("{path}.{r}: Required value"));
                    }
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, v) in map {
                let sub = format!("{path}.{key}");
                if let Some(p) = properties.and_then(|p| p.get(key)) {
                    check(p, v, &sub, out);
                } else if let Some(a) = additional {
                    check(a, v, &sub, out);
                }
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

fn check_number(schema: &Value, n: &serde_json::Number, path: &str, out: &mut Vec<String>) {
    let Some(x) = n.as_f64() else { return };
    for (bound, exclusive_key, is_min) in [
        ("minimum", "exclusiveMinimum", true),
        ("maximum", "exclusiveMaximum", false),
    ] {
        let Some(b) = schema.get(bound).and_then(Value::as_f64) else {
            continue;
        };
        let exclusive = flag(schema, exclusive_key);
        let beyond = if is_min { x < b } else { x > b };
        if beyond || (exclusive && x == b) {
            let rel = match (is_min, exclusive) {
                (true, true) => "greater than",
                (true, false) => "greater than or equal to",
                (false, true) => "less than",
                (false, false) => "less than or equal to",
            };
            out.push(format!(
                "{path}: Invalid value: {n}: {path} in body should be {rel} {}",
                plain(b)
            ));
        }
    }
}

/// `65535` rather than `65535.0` in messages.
fn plain(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

/// The schemas' few patterns, each compiled once.
fn pattern_regex(pattern: &str) -> Option<regex::Regex> {
    static CACHE: OnceLock<std::sync::Mutex<BTreeMap<String, Option<regex::Regex>>>> =
        OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| regex::Regex::new(pattern).ok())
        .clone()
}

fn check_string(schema: &Value, s: &str, path: &str, out: &mut Vec<String>) {
    // The API server counts characters (runes), not bytes.
    let len = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        out.push(format!(
            "{path}: Invalid value: {s:?}: {path} in body should be at least {min} chars long"
        ));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        out.push(format!(
            "{path}: Too long: may not be more than {max} bytes"
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        // Our own schemas' patterns compile (unit test below); never refuse on our mistake.
        if pattern_regex(pattern).is_some_and(|re| !re.is_match(s)) {
            out.push(format!(
                "{path}: Invalid value: {s:?}: {path} in body should match '{pattern}'"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(p)) = m.get("pattern") {
                    out.push(p.clone());
                }
                m.values().for_each(|x| patterns(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| patterns(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_schema_pattern_compiles() {
        let mut all = Vec::new();
        schemas().values().for_each(|s| patterns(s, &mut all));
        assert!(!all.is_empty());
        for p in all {
            assert!(regex::Regex::new(&p).is_ok(), "{p}");
        }
    }

    #[test]
    fn every_kind_has_a_schema() {
        assert_eq!(schemas().len(), crate::crd::all_crds().len());
    }

    fn entry(spec: &str) -> Value {
        serde_yaml::from_str(&format!(
            "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServerEntry\nmetadata: {{name: e}}\nspec: {spec}\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_valid_object_has_no_problems() {
        let e =
            entry("{remoteUrl: 'https://a.example.com/mcp', transport: sse, groupRef: {name: g}}");
        assert_eq!(problems("MCPServerEntry", &e), Vec::<String>::new());
    }

    #[test]
    fn each_kind_of_problem_names_its_field() {
        let cases = [
            (
                "{remoteUrl: 'https://a.example.com', groupRef: {name: g}}",
                "spec.transport: Required value",
            ),
            (
                "{remoteUrl: 'https://a', transport: websocket, groupRef: {name: g}}",
                "spec.transport: Unsupported value: \"websocket\"",
            ),
            (
                "{remoteUrl: 'ftp://a', transport: sse, groupRef: {name: g}}",
                "spec.remoteUrl: Invalid value: \"ftp://a\": spec.remoteUrl in body should match",
            ),
            (
                "{remoteUrl: 5, transport: sse, groupRef: {name: g}}",
                "spec.remoteUrl: Invalid value: \"integer\": spec.remoteUrl in body must be of type string",
            ),
            (
                "{remoteUrl: 'https://a', transport: sse, groupRef: {name: ''}}",
                "spec.groupRef.name: Invalid value: \"\": spec.groupRef.name in body should be at least 1 chars long",
            ),
        ];
        for (spec, want) in cases {
            let p = problems("MCPServerEntry", &entry(spec));
            assert!(p.iter().any(|m| m.starts_with(want)), "{spec}: {p:?}");
        }
    }

    #[test]
    fn numbers_are_bounded_and_cel_rules_run() {
        let v: Value = serde_yaml::from_str(
            "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: VirtualMCPServer\nmetadata: {name: v}\nspec: {groupRef: {name: g}, incomingAuth: {type: anonymous}, replicas: -3}\n",
        )
        .unwrap();
        assert_eq!(
            problems("VirtualMCPServer", &v),
            [
                "spec.replicas: Invalid value: -3: spec.replicas in body should be greater than or equal to 0"
            ]
        );
        let v: Value = serde_yaml::from_str(
            "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPExternalAuthConfig\nmetadata: {name: a}\nspec: {type: headerInjection}\n",
        )
        .unwrap();
        let p = problems("MCPExternalAuthConfig", &v);
        assert!(
            p.iter().any(|m| m.contains(
                "headerInjection configuration must be set if and only if type is 'headerInjection'"
            )),
            "{p:?}"
        );
    }

    #[test]
    fn unknown_kinds_are_not_checked() {
        assert!(problems("Deployment", &serde_json::json!({"spec": 5})).is_empty());
    }
}
