//! Which backend tools clients see, and how: `excludeAllTools`, `defaultToolVisibility`,
//! per-workload `excludeAll`, `filter` (original names) and `overrides` (name, description,
//! annotations). Hidden tools are not routable either: a client can only call what it is shown.

use std::collections::HashMap;

use serde_json::{Map, Value};
use vmcp_config::{Aggregation, ToolVisibility, WorkloadTools};

pub type Object = Map<String, Value>;

#[derive(Debug, Default)]
pub struct ToolPolicy {
    exclude_all_tools: bool,
    default_deny: bool,
    per_workload: HashMap<String, WorkloadTools>,
}

/// A tool as presented to clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Presented {
    /// The backend's own name, used when routing.
    pub original: String,
    pub tool: Object,
}

impl ToolPolicy {
    pub fn new(agg: &Aggregation) -> Self {
        ToolPolicy {
            exclude_all_tools: agg.exclude_all_tools,
            default_deny: agg.default_tool_visibility == Some(ToolVisibility::Deny),
            per_workload: agg
                .tools
                .iter()
                .map(|w| (w.workload.clone(), w.clone()))
                .collect(),
        }
    }

    /// The tool as advertised, or `None` when it is hidden.
    pub fn present(&self, backend: &str, tool: &Object) -> Option<Presented> {
        if self.exclude_all_tools {
            return None;
        }
        let original = tool.get("name")?.as_str()?.to_owned();
        let Some(w) = self.per_workload.get(backend) else {
            return (!self.default_deny).then(|| Presented {
                original,
                tool: tool.clone(),
            });
        };
        if w.exclude_all || (!w.filter.is_empty() && !w.filter.contains(&original)) {
            return None;
        }
        let mut out = tool.clone();
        if let Some(o) = w.overrides.get(&original) {
            if !o.name.is_empty() {
                out.insert("name".into(), Value::String(o.name.clone()));
            }
            if !o.description.is_empty() {
                out.insert("description".into(), Value::String(o.description.clone()));
            }
            if let Some(a) = o.annotations.as_ref().filter(|a| !a.is_empty()) {
                let ann = out
                    .entry("annotations")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !ann.is_object() {
                    *ann = Value::Object(Map::new());
                }
                if let (Value::Object(m), Ok(Value::Object(new))) = (ann, serde_json::to_value(a)) {
                    m.extend(new);
                }
            }
        }
        Some(Presented {
            original,
            tool: out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vmcp_config::{ToolAnnotations, ToolOverride};

    fn tool(name: &str) -> Object {
        json!({"name": name, "description": "d", "annotations": {"readOnlyHint": false}})
            .as_object()
            .unwrap()
            .clone()
    }

    fn agg(tools: Vec<WorkloadTools>) -> Aggregation {
        Aggregation {
            tools,
            ..Default::default()
        }
    }

    #[test]
    fn filter_and_exclude() {
        let p = ToolPolicy::new(&agg(vec![
            WorkloadTools {
                workload: "a".into(),
                filter: vec!["keep".into()],
                ..Default::default()
            },
            WorkloadTools {
                workload: "b".into(),
                exclude_all: true,
                ..Default::default()
            },
        ]));
        assert!(p.present("a", &tool("keep")).is_some());
        assert!(p.present("a", &tool("drop")).is_none());
        assert!(p.present("b", &tool("keep")).is_none());
        assert!(p.present("c", &tool("any")).is_some());

        let mut deny = agg(vec![WorkloadTools {
            workload: "a".into(),
            ..Default::default()
        }]);
        deny.default_tool_visibility = Some(ToolVisibility::Deny);
        let p = ToolPolicy::new(&deny);
        assert!(p.present("a", &tool("x")).is_some());
        assert!(p.present("c", &tool("x")).is_none());

        let all = Aggregation {
            exclude_all_tools: true,
            ..Default::default()
        };
        assert!(ToolPolicy::new(&all).present("a", &tool("x")).is_none());
    }

    #[test]
    fn overrides_rename_redescribe_and_merge_annotations() {
        let p = ToolPolicy::new(&agg(vec![WorkloadTools {
            workload: "a".into(),
            filter: vec!["echo".into()],
            overrides: [(
                "echo".to_owned(),
                ToolOverride {
                    name: "say".into(),
                    description: "Says it".into(),
                    annotations: Some(ToolAnnotations {
                        title: Some("Say".into()),
                        ..Default::default()
                    }),
                },
            )]
            .into(),
            ..Default::default()
        }]));
        let got = p.present("a", &tool("echo")).unwrap();
        assert_eq!(got.original, "echo");
        assert_eq!(got.tool["name"], "say");
        assert_eq!(got.tool["description"], "Says it");
        assert_eq!(
            got.tool["annotations"],
            json!({"readOnlyHint": false, "title": "Say"})
        );
    }
}
