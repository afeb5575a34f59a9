//! The aggregated view: an immutable snapshot of what clients see and where each name routes.
//!
//! List results are serialised once when the view is built, so `tools/list` is a copy of
//! prepared bytes. The view is swapped atomically by the aggregator; readers never lock.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;
use vmcp_config::{Aggregation, ConflictResolution};

use super::conflict::{self, Candidate, Strategy};
use super::filter::{Object, ToolPolicy};
use crate::authz::ToolHints;
use crate::jsonrpc;

/// Everything one backend offers.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Caps {
    pub tools: Vec<Object>,
    pub resources: Vec<Object>,
    pub templates: Vec<Object>,
    pub prompts: Vec<Object>,
}

/// Where an advertised name goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub backend: Arc<str>,
    pub original: String,
    /// The advertised tool's annotation hints, which authorization policies can read
    /// (default for prompts).
    pub hints: ToolHints,
}

/// A list result prepared once per view, and where each entry lies in it: a list filtered
/// per caller (authorization) is a concatenation of slices, not a re-serialisation, and the
/// unfiltered list is the prepared text as it is.
#[derive(Debug)]
pub struct Listing {
    /// The member holding the entries (`tools`, `resources`, ...), which names the list.
    key: &'static str,
    pub json: Box<RawValue>,
    /// Per entry, in list order: what authorization decides on (tool or prompt name,
    /// resource URI, template string) and the entry's bytes in `json`.
    pub entries: Vec<(String, Range<usize>)>,
    /// Bytes of `json` before the first entry (`{"tools":[`).
    prefix: usize,
}

impl Listing {
    /// Which list this is (`tools`, `resources`, `resourceTemplates`, `prompts`).
    pub fn kind(&self) -> &'static str {
        self.key
    }

    fn build(key: &'static str, items: Vec<(String, Value)>) -> Listing {
        let mut json = format!("{{{}:[", Value::from(key));
        let prefix = json.len();
        let mut entries = Vec::with_capacity(items.len());
        for (i, (k, v)) in items.into_iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            let start = json.len();
            json.push_str(&v.to_string());
            entries.push((k, start..json.len()));
        }
        json.push_str("]}");
        Listing {
            key,
            json: jsonrpc::raw(json),
            entries,
            prefix,
        }
    }

    /// One page of the list: at most `size` of the entries `keep` accepts whose key sorts
    /// after `after` (entries are sorted by key), and the key to continue after when more
    /// remain. The keys are unique and sorted, so a page boundary survives changes of the
    /// list between pages: nothing is shown twice, and what was added before the boundary
    /// is simply not shown.
    /// `cursor` turns the key to continue after into the `nextCursor` sent.
    pub fn page(
        &self,
        after: Option<&str>,
        size: usize,
        mut keep: impl FnMut(&str) -> bool,
        cursor: impl FnOnce(&str) -> String,
    ) -> Box<RawValue> {
        let text = self.json.get();
        let start = after.map_or(0, |a| {
            self.entries.partition_point(|(k, _)| k.as_str() <= a)
        });
        let mut out = String::with_capacity(text.len().min(1 << 20));
        out.push_str(&text[..self.prefix]);
        let mut shown = 0usize;
        let mut last: Option<&str> = None;
        let mut more = false;
        for (k, span) in &self.entries[start..] {
            if !keep(k) {
                continue;
            }
            if shown == size {
                more = true;
                break;
            }
            if shown > 0 {
                out.push(',');
            }
            out.push_str(&text[span.clone()]);
            shown += 1;
            last = Some(k);
        }
        out.push(']');
        if more && let Some(last) = last {
            out.push_str(",\"nextCursor\":");
            out.push_str(&Value::String(cursor(last)).to_string());
        }
        out.push('}');
        jsonrpc::raw(out)
    }

    /// Whether the whole list fits on one page of `size`.
    pub fn fits(&self, size: usize) -> bool {
        self.entries.len() <= size
    }
}

/// One backend as seen by the builder.
pub struct Input<'a> {
    pub name: &'a str,
    /// `None`: never fetched or last fetch failed.
    pub caps: Option<&'a Caps>,
    /// False while the backend's circuit is open: its entries are left out of the lists,
    /// but its names keep routing to it (calls answer "unavailable", not "unknown tool"), and
    /// it still takes part in conflict resolution so no name moves to another backend
    /// while it is away.
    pub available: bool,
    /// Not fetched even once yet (just added): left out of the view without counting as
    /// missing, so `partialFailureMode: fail` does not fail every list while a new member
    /// of the group is being connected. It joins the view (and list_changed goes out) once
    /// fetched; a failed first fetch makes it missing.
    pub pending: bool,
}

#[derive(Debug)]
pub struct View {
    pub tools_list: Listing,
    pub resources_list: Listing,
    pub templates_list: Listing,
    pub prompts_list: Listing,
    pub tools: HashMap<String, Route>,
    pub prompts: HashMap<String, Route>,
    pub resources: HashMap<String, Arc<str>>,
    pub templates: Vec<(UriTemplate, Arc<str>)>,
    /// Backends whose capabilities are missing from the lists of this view (never fetched
    /// successfully, or circuit open).
    pub missing: Vec<String>,
    pub warnings: Vec<String>,
}

impl Default for View {
    fn default() -> Self {
        build(&[], &Aggregation::default())
    }
}

/// Builds a view from backends given in name order.
pub fn build(inputs: &[Input<'_>], agg: &Aggregation) -> View {
    let policy = ToolPolicy::new(agg);
    let priority: &[String] = agg
        .conflict_resolution_config
        .as_ref()
        .map(|c| c.priority_order.as_slice())
        .unwrap_or(&[]);
    let strategy = Strategy {
        mode: agg.conflict_resolution,
        prefix_format: agg.prefix_format(),
        priority_order: priority,
    };
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    // Every backend with capabilities routes; only the available ones are listed.
    let live: Vec<(Arc<str>, &Caps)> = inputs
        .iter()
        .filter_map(|i| {
            if !((i.available && i.caps.is_some()) || (i.pending && i.caps.is_none())) {
                missing.push(i.name.to_owned());
            }
            i.caps.map(|c| (Arc::from(i.name), c))
        })
        .collect();
    let unlisted: std::collections::HashSet<&str> = inputs
        .iter()
        .filter(|i| !i.available)
        .map(|i| i.name)
        .collect();
    let listed = |b: &str| !unlisted.contains(b);

    // Tools: filter/override, then resolve conflicts in (backend, name) order.
    let mut presented = Vec::new();
    for (b, caps) in &live {
        let mut ts: Vec<_> = caps
            .tools
            .iter()
            .filter_map(|t| policy.present(b, t))
            .collect();
        ts.sort_by(|x, y| name_of(&x.tool).cmp(name_of(&y.tool)));
        presented.extend(ts.into_iter().map(|p| (b.clone(), p)));
    }
    let cands: Vec<Candidate> = presented
        .iter()
        .map(|(b, p)| Candidate {
            backend: b.to_string(),
            name: name_of(&p.tool).to_owned(),
        })
        .collect();
    let (names, w) = conflict::resolve(&strategy, &cands);
    warnings.extend(w);
    let mut tools = HashMap::new();
    let mut tool_items = Vec::new();
    for ((b, p), n) in presented.into_iter().zip(names) {
        let Some(n) = n else { continue };
        let mut t = p.tool;
        t.insert("name".into(), Value::String(n.clone()));
        let hints = ToolHints::of_tool(&t);
        if listed(&b) {
            tool_items.push((n.clone(), Value::Object(t)));
        }
        tools.insert(
            n,
            Route {
                backend: b,
                original: p.original,
                hints,
            },
        );
    }
    tool_items.sort_by(|a, b| a.0.cmp(&b.0));

    // Prompts: same strategy, no overrides; manual keeps unique names and hides conflicts.
    let mut pcands = Vec::new();
    let mut pitems = Vec::new();
    for (b, caps) in &live {
        let mut ps: Vec<&Object> = caps
            .prompts
            .iter()
            .filter(|p| p.get("name").and_then(Value::as_str).is_some())
            .collect();
        ps.sort_by(|x, y| name_of(x).cmp(name_of(y)));
        for p in ps {
            pcands.push(Candidate {
                backend: b.to_string(),
                name: name_of(p).to_owned(),
            });
            pitems.push((b.clone(), p));
        }
    }
    let pstrategy = Strategy {
        mode: agg.conflict_resolution,
        ..strategy.clone()
    };
    let (pnames, w) = conflict::resolve(&pstrategy, &pcands);
    warnings.extend(w.into_iter().map(|w| w.replacen("tool", "prompt", 1)));
    let mut prompts = HashMap::new();
    let mut prompt_items = Vec::new();
    for ((b, p), n) in pitems.into_iter().zip(pnames) {
        let Some(n) = n else { continue };
        let mut p = p.clone();
        let original = name_of(&p).to_owned();
        p.insert("name".into(), Value::String(n.clone()));
        if listed(&b) {
            prompt_items.push((n.clone(), Value::Object(p)));
        }
        prompts.insert(
            n,
            Route {
                backend: b,
                original,
                hints: ToolHints::default(),
            },
        );
    }
    prompt_items.sort_by(|a, b| a.0.cmp(&b.0));

    // Resources and templates are never renamed: the first backend (by name) wins a URI.
    let mut resources = HashMap::new();
    let mut res_items = Vec::new();
    let mut templates = Vec::new();
    let mut tmpl_items = Vec::new();
    let mut seen_t = std::collections::HashSet::new();
    for (b, caps) in &live {
        for r in &caps.resources {
            let Some(uri) = r.get("uri").and_then(Value::as_str) else {
                continue;
            };
            if resources.contains_key(uri) {
                warnings.push(format!("resource {uri:?} of backend {b:?} is already offered by another backend; hidden"));
                continue;
            }
            resources.insert(uri.to_owned(), b.clone());
            if listed(b) {
                res_items.push((uri.to_owned(), Value::Object(r.clone())));
            }
        }
        for t in &caps.templates {
            let Some(tpl) = t.get("uriTemplate").and_then(Value::as_str) else {
                continue;
            };
            if !seen_t.insert(tpl.to_owned()) {
                warnings.push(format!(
                    "resource template {tpl:?} of backend {b:?} is already offered; hidden"
                ));
                continue;
            }
            templates.push((UriTemplate::parse(tpl), b.clone()));
            if listed(b) {
                tmpl_items.push((tpl.to_owned(), Value::Object(t.clone())));
            }
        }
    }
    res_items.sort_by(|a, b| a.0.cmp(&b.0));
    tmpl_items.sort_by(|a, b| a.0.cmp(&b.0));
    templates.sort_by(|a, b| a.0.source.cmp(&b.0.source));

    View {
        tools_list: Listing::build("tools", tool_items),
        resources_list: Listing::build("resources", res_items),
        templates_list: Listing::build("resourceTemplates", tmpl_items),
        prompts_list: Listing::build("prompts", prompt_items),
        tools,
        prompts,
        resources,
        templates,
        missing,
        warnings,
    }
}

fn name_of(o: &Object) -> &str {
    o.get("name").and_then(Value::as_str).unwrap_or("")
}

impl View {
    /// The backend serving a resource URI: exact match, then the first matching template.
    pub fn resource_backend(&self, uri: &str) -> Option<Arc<str>> {
        if let Some(b) = self.resources.get(uri) {
            return Some(b.clone());
        }
        self.templates
            .iter()
            .find(|(t, _)| t.matches(uri) || t.source == uri)
            .map(|(_, b)| b.clone())
    }

    /// Whether the conflict mode hides nothing surprising; used in logs.
    pub fn mode_note(agg: &Aggregation) -> &'static str {
        match agg.conflict_resolution {
            ConflictResolution::Prefix => "prefix",
            ConflictResolution::Priority => "priority",
            ConflictResolution::Manual => "manual",
        }
    }
}

/// A minimal RFC 6570 matcher: `{x}` matches one path segment, `{+x}`/`{#x}` anything,
/// `{?x,y}`/`{&x}` an optional query tail.
#[derive(Debug, Clone)]
pub struct UriTemplate {
    pub source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Segment,
    Any,
    Query,
}

impl UriTemplate {
    pub fn parse(s: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_owned()));
            }
            let Some(close) = rest[open..].find('}') else {
                parts.push(Part::Lit(rest[open..].to_owned()));
                rest = "";
                break;
            };
            let expr = &rest[open + 1..open + close];
            parts.push(match expr.chars().next() {
                Some('+' | '#') => Part::Any,
                Some('?' | '&') => Part::Query,
                _ => Part::Segment,
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        UriTemplate {
            source: s.to_owned(),
            parts,
        }
    }

    pub fn matches(&self, uri: &str) -> bool {
        fn go(parts: &[Part], s: &str, depth: usize) -> bool {
            if depth > 64 {
                return false;
            }
            let Some((first, rest)) = parts.split_first() else {
                return s.is_empty();
            };
            match first {
                Part::Lit(l) => s
                    .strip_prefix(l.as_str())
                    .is_some_and(|t| go(rest, t, depth + 1)),
                Part::Query => {
                    (s.is_empty() || s.starts_with('?') || s.starts_with('&'))
                        && go(rest, "", depth + 1)
                }
                Part::Segment | Part::Any => {
                    let any = *first == Part::Any;
                    for (i, ch) in s.char_indices() {
                        if i > 0 && go(rest, &s[i..], depth + 1) {
                            return true;
                        }
                        if !any && matches!(ch, '/' | '?' | '#') {
                            return false;
                        }
                    }
                    !s.is_empty() && go(rest, "", depth + 1)
                }
            }
        }
        go(&self.parts, uri, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vmcp_config::{ConflictResolutionConfig, WorkloadTools};

    fn obj(v: Value) -> Object {
        v.as_object().unwrap().clone()
    }

    fn caps(tools: &[&str]) -> Caps {
        Caps {
            tools: tools
                .iter()
                .map(|t| obj(json!({"name": t, "inputSchema": {"type": "object"}})))
                .collect(),
            prompts: vec![obj(json!({"name": "greet"}))],
            resources: vec![obj(json!({"uri": "demo://one", "name": "one"}))],
            templates: vec![obj(json!({"uriTemplate": "demo://r/{id}", "name": "r"}))],
        }
    }

    #[test]
    fn builds_prefixed_sorted_view_with_routes() {
        let (a, b) = (caps(&["echo", "add"]), caps(&["echo"]));
        let agg = Aggregation::default();
        let v = build(
            &[
                Input {
                    name: "alpha",
                    caps: Some(&a),
                    available: true,
                    pending: false,
                },
                Input {
                    name: "beta",
                    caps: Some(&b),
                    available: true,
                    pending: false,
                },
            ],
            &agg,
        );
        let listed: Value = serde_json::from_str(v.tools_list.json.get()).unwrap();
        let names: Vec<&str> = listed["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["alpha_add", "alpha_echo", "beta_echo"]);
        assert_eq!(
            v.tools["beta_echo"],
            Route {
                backend: "beta".into(),
                original: "echo".into(),
                hints: ToolHints::default(),
            }
        );
        assert_eq!(v.prompts["beta_greet"].original, "greet");
        // Same URI from two backends: the first by name wins.
        assert_eq!(v.resources["demo://one"].as_ref(), "alpha");
        assert_eq!(v.resource_backend("demo://r/42").as_deref(), Some("alpha"));
        assert_eq!(v.resource_backend("demo://other"), None);
        assert_eq!(v.warnings.len(), 2);
    }

    #[test]
    fn unavailable_backends_are_missing_and_results_are_deterministic() {
        let (a, b) = (caps(&["x"]), caps(&["y"]));
        let agg = Aggregation {
            conflict_resolution: ConflictResolution::Priority,
            conflict_resolution_config: Some(ConflictResolutionConfig {
                priority_order: vec!["b".into()],
                ..Default::default()
            }),
            tools: vec![WorkloadTools {
                workload: "a".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let inputs = [
            Input {
                name: "a",
                caps: Some(&a),
                available: true,
                pending: false,
            },
            Input {
                name: "b",
                caps: Some(&b),
                available: false,
                pending: false,
            },
            Input {
                name: "new",
                caps: None,
                available: true,
                pending: true,
            },
        ];
        let v1 = build(&inputs, &agg);
        let v2 = build(&inputs, &agg);
        assert_eq!(v1.tools_list.json.get(), v2.tools_list.json.get());
        assert_eq!(
            v1.missing,
            vec!["b".to_owned()],
            "a pending backend is not missing"
        );
        let keys =
            |l: &Listing| -> Vec<String> { l.entries.iter().map(|(k, _)| k.clone()).collect() };
        assert_eq!(
            keys(&v1.tools_list),
            ["x"],
            "an open backend's tools are not listed"
        );
        // ...but still route to it, so a call answers "unavailable", not "unknown tool";
        // and its `greet` keeps winning the conflict (priority b): no name moves to `a`
        // while `b` is away, so it is listed by nobody.
        assert_eq!(v1.tools["y"].backend.as_ref(), "b");
        assert_eq!(v1.prompts["greet"].backend.as_ref(), "b");
        assert!(keys(&v1.prompts_list).is_empty());
        // Resources: the first backend by name (`a`) wins and is listed.
        assert_eq!(v1.resource_backend("demo://one").as_deref(), Some("a"));
        assert_eq!(keys(&v1.resources_list), ["demo://one"]);
        assert_eq!(keys(&v1.templates_list), ["demo://r/{id}"]);
    }

    #[test]
    fn an_open_backend_keeps_routing_and_returns_to_the_lists_unchanged() {
        let (a, b) = (caps(&["echo"]), caps(&["echo"]));
        let agg = Aggregation::default();
        let input = |name, caps, available| Input {
            name,
            caps: Some(caps),
            available,
            pending: false,
        };
        let up = build(&[input("a", &a, true), input("b", &b, true)], &agg);
        let b_open = build(&[input("a", &a, true), input("b", &b, false)], &agg);
        assert_eq!(
            b_open.tools, up.tools,
            "the same names route to the same backends"
        );
        assert_eq!(b_open.missing, ["b"]);
        let listed: Value = serde_json::from_str(b_open.tools_list.json.get()).unwrap();
        assert_eq!(listed["tools"].as_array().unwrap().len(), 1);
        assert_eq!(listed["tools"][0]["name"], "a_echo");
        let resources: Value = serde_json::from_str(b_open.resources_list.json.get()).unwrap();
        assert_eq!(resources["resources"].as_array().unwrap().len(), 1);
        let back = build(&[input("a", &a, true), input("b", &b, true)], &agg);
        assert_eq!(back.tools_list.json.get(), up.tools_list.json.get());
        assert!(back.missing.is_empty());
    }

    #[test]
    fn listings_are_serde_text_and_filter_by_slices() {
        let mut a = caps(&["echo", "add"]);
        a.tools[0].insert(
            "annotations".into(),
            json!({"readOnlyHint": true, "title": "E"}),
        );
        let v = build(
            &[Input {
                name: "alpha",
                caps: Some(&a),
                available: true,
                pending: false,
            }],
            &Aggregation::default(),
        );
        let listed: Value = serde_json::from_str(v.tools_list.json.get()).unwrap();
        // The prepared text is exactly what serde writes for the same list.
        assert_eq!(v.tools_list.json.get(), listed.to_string());
        let keys: Vec<&str> = v
            .tools_list
            .entries
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["alpha_add", "alpha_echo"]);
        assert_eq!(v.tools["alpha_echo"].hints.read_only, Some(true));
        assert_eq!(v.tools["alpha_add"].hints, ToolHints::default());
        let page = |after: Option<&str>, size: usize, keep: &dyn Fn(&str) -> bool| {
            let p = v
                .tools_list
                .page(after, size, keep, |last| format!("after:{last}"));
            serde_json::from_str::<Value>(p.get()).unwrap()
        };
        let only_echo = page(None, 10, &|k| k == "alpha_echo");
        assert_eq!(only_echo["tools"].as_array().unwrap().len(), 1);
        assert_eq!(only_echo["tools"][0], listed["tools"][1]);
        assert!(only_echo.get("nextCursor").is_none());
        assert_eq!(page(None, 10, &|_| false), json!({"tools": []}));
        assert_eq!(
            v.tools_list
                .page(None, 10, |_| true, |_| unreachable!())
                .get(),
            v.tools_list.json.get()
        );
        // Pages of one: the first names where to go on, the second ends the list.
        let first = page(None, 1, &|_| true);
        assert_eq!(first["tools"], json!([listed["tools"][0]]));
        assert_eq!(first["nextCursor"], "after:alpha_add");
        let second = page(Some("alpha_add"), 1, &|_| true);
        assert_eq!(second["tools"], json!([listed["tools"][1]]));
        assert!(second.get("nextCursor").is_none());
        // A boundary key that is gone (the tool left between pages) still places the page.
        let gone = page(Some("alpha_b"), 5, &|_| true);
        assert_eq!(gone["tools"], json!([listed["tools"][1]]));
        assert!(v.tools_list.fits(2) && !v.tools_list.fits(1));
        let res: Vec<&str> = v
            .resources_list
            .entries
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(res, ["demo://one"]);
        let tpl: Vec<&str> = v
            .templates_list
            .entries
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(tpl, ["demo://r/{id}"]);
        assert_eq!(View::default().prompts_list.json.get(), r#"{"prompts":[]}"#);
    }

    #[test]
    fn uri_templates() {
        let t = UriTemplate::parse("demo://resource/dynamic/text/{resourceId}");
        assert!(t.matches("demo://resource/dynamic/text/3"));
        assert!(!t.matches("demo://resource/dynamic/text/"));
        assert!(!t.matches("demo://resource/dynamic/text/3/4"));
        assert!(UriTemplate::parse("file:///{+path}").matches("file:///a/b/c"));
        assert!(UriTemplate::parse("api://items{?page}").matches("api://items?page=2"));
        assert!(UriTemplate::parse("api://items{?page}").matches("api://items"));
    }
}
