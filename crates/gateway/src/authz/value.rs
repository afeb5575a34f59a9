//! JSON values (token claims, tool arguments) as Cedar values.
//!
//! Claims and arguments come from clients, so the conversion is bounded: records and sets
//! deeper than [`MAX_DEPTH`] are dropped rather than recursed into, and values Cedar has no
//! type for (null, numbers outside its range) are left out instead of failing the decision.

use cedar_policy::RestrictedExpression;
use serde_json::{Map, Value};

/// How deep records and sets of a claim are converted (ToolHive's bound too).
pub const MAX_DEPTH: usize = 10;

/// Cedar's `decimal` holds four fractional digits and this much magnitude.
const DECIMAL_MAX: f64 = 922_337_203_685_477.0;

/// A JSON value as a Cedar value, or `None` when Cedar cannot hold it.
///
/// Integral numbers become `Long`; other numbers become `decimal` (rounded to Cedar's four
/// fractional digits). ToolHive turns every JSON number into a decimal, so `context.arg_n
/// == 5` never holds there; here it does, which is what a policy author writes.
pub fn to_cedar(v: &Value) -> Option<RestrictedExpression> {
    to_cedar_at(v, 0)
}

fn to_cedar_at(v: &Value, depth: usize) -> Option<RestrictedExpression> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(RestrictedExpression::new_bool(*b)),
        Value::String(s) => Some(RestrictedExpression::new_string(s.clone())),
        Value::Number(n) => number(n),
        Value::Array(items) if depth < MAX_DEPTH => Some(RestrictedExpression::new_set(
            items.iter().filter_map(|i| to_cedar_at(i, depth + 1)),
        )),
        Value::Object(m) if depth < MAX_DEPTH => record(m, depth + 1),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Whether a top-level tool argument reaches the policy as what it is: false for a number
/// that neither a Cedar long nor a decimal can hold (it would otherwise be seen only as
/// `arg_<name>_present`, and a bound such as `context.arg_n < 100` would not apply to it).
pub fn decidable(v: &Value) -> bool {
    match v {
        Value::Number(n) => number(n).is_some(),
        _ => true,
    }
}

fn number(n: &serde_json::Number) -> Option<RestrictedExpression> {
    if let Some(i) = n.as_i64() {
        return Some(RestrictedExpression::new_long(i));
    }
    let f = n.as_f64()?;
    if !f.is_finite() || f.abs() >= DECIMAL_MAX {
        return None;
    }
    Some(RestrictedExpression::new_decimal(format!("{f:.4}")))
}

fn record(m: &Map<String, Value>, depth: usize) -> Option<RestrictedExpression> {
    // Keys of a JSON object are unique, so building the record cannot fail on duplicates.
    RestrictedExpression::new_record(
        m.iter()
            .filter_map(|(k, v)| to_cedar_at(v, depth).map(|e| (k.clone(), e))),
    )
    .ok()
}

/// Tool arguments as ToolHive exposes them: `arg_<name>` for strings, booleans and numbers;
/// `arg_<name>_present = true` for anything else (objects, arrays, null), whose content is
/// never looked at.
pub fn arguments(args: &Map<String, Value>) -> Vec<(String, RestrictedExpression)> {
    args.iter()
        .map(|(k, v)| {
            let scalar = match v {
                Value::String(_) | Value::Bool(_) | Value::Number(_) => to_cedar(v),
                _ => None,
            };
            match scalar {
                Some(e) => (format!("arg_{k}"), e),
                None => (
                    format!("arg_{k}_present"),
                    RestrictedExpression::new_bool(true),
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The value as Cedar prints it once evaluated (as an entity attribute).
    fn text(e: RestrictedExpression) -> String {
        let uid: cedar_policy::EntityUid = "T::\"t\"".parse().unwrap();
        let attrs = std::collections::HashMap::from([("v".to_owned(), e)]);
        let entity = cedar_policy::Entity::new(uid, attrs, Default::default()).unwrap();
        entity.attr("v").unwrap().unwrap().to_string()
    }

    fn show(v: Value) -> Option<String> {
        to_cedar(&v).map(text)
    }

    #[test]
    fn scalars_sets_records_and_bounds() {
        assert_eq!(show(json!(5)).as_deref(), Some("5"));
        assert_eq!(show(json!(-2.5)).as_deref(), Some("decimal(\"-2.5000\")"));
        assert_eq!(show(json!(u64::MAX)), None);
        assert_eq!(show(json!(1e300)), None);
        assert_eq!(show(Value::Null), None);
        // A set (Cedar orders it), null dropped.
        assert_eq!(show(json!(["a", null, 1])).as_deref(), Some("[1, \"a\"]"));
        let mut deep = json!("leaf");
        for _ in 0..(MAX_DEPTH + 5) {
            deep = json!({"k": deep});
        }
        // MAX_DEPTH levels of records are kept (the innermost one emptied); what lies
        // below is dropped.
        let text = show(deep).unwrap();
        assert_eq!(text.matches('{').count(), MAX_DEPTH, "{text}");
        assert!(!text.contains("leaf"));
    }

    #[test]
    fn numbers_cedar_cannot_hold_are_not_decidable() {
        for v in [json!(u64::MAX), json!(1e300), json!(-1e300)] {
            assert!(!decidable(&v), "{v}");
        }
        for v in [
            json!(i64::MAX),
            json!(-3),
            json!(2.5),
            json!("x"),
            json!({"n": 1e300}),
        ] {
            assert!(decidable(&v), "{v}");
        }
    }

    #[test]
    fn arguments_follow_toolhive() {
        let args = json!({"path": "/tmp", "force": true, "n": 3, "opts": {"a": 1}, "none": null});
        let mut got: Vec<(String, String)> = arguments(args.as_object().unwrap())
            .into_iter()
            .map(|(k, v)| (k, text(v)))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("arg_force".to_string(), "true".to_string()),
                ("arg_n".into(), "3".into()),
                ("arg_none_present".into(), "true".into()),
                ("arg_opts_present".into(), "true".into()),
                ("arg_path".into(), "\"/tmp\"".into()),
            ]
        );
    }
}
