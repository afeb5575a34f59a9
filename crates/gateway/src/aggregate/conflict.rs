//! Name conflict resolution across backends: `prefix`, `priority` and `manual`, plus MCP
//! name sanitation. Pure and deterministic: the outcome depends only on the candidates and
//! their order (backend name, then tool name), never on hash or arrival order.

use std::collections::{HashMap, HashSet};

use vmcp_config::{ConflictResolution, DEFAULT_PREFIX_FORMAT, WORKLOAD_PLACEHOLDER};

/// Longest tool name MCP allows.
pub const MAX_NAME: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub backend: String,
    /// Name after overrides.
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Strategy<'a> {
    pub mode: ConflictResolution,
    pub prefix_format: &'a str,
    pub priority_order: &'a [String],
}

/// The advertised name per candidate (`None`: dropped) and human-readable warnings.
pub fn resolve(s: &Strategy<'_>, cands: &[Candidate]) -> (Vec<Option<String>>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for c in cands {
        *count.entry(c.name.as_str()).or_default() += 1;
    }
    let rank = |b: &str| s.priority_order.iter().position(|p| p == b);
    let mut names: Vec<Option<String>> = cands
        .iter()
        .map(|c| {
            let conflicted = count.get(c.name.as_str()).copied().unwrap_or(0) > 1;
            match s.mode {
                ConflictResolution::Prefix => Some(prefixed(s.prefix_format, &c.backend, &c.name)),
                _ if !conflicted => Some(c.name.clone()),
                ConflictResolution::Priority => {
                    let ranks: Vec<usize> =
                        cands.iter().filter(|o| o.name == c.name).filter_map(|o| rank(&o.backend)).collect();
                    match (ranks.iter().min(), rank(&c.backend)) {
                        (Some(best), Some(mine)) if *best == mine => Some(c.name.clone()),
                        (Some(_), _) => None,
                        (None, _) => Some(prefixed(DEFAULT_PREFIX_FORMAT, &c.backend, &c.name)),
                    }
                }
                ConflictResolution::Manual => {
                    warnings.push(format!(
                        "tool {:?} of backend {:?} conflicts with another backend and has no override; hidden",
                        c.name, c.backend
                    ));
                    None
                }
            }
        })
        .collect();
    // Sanitise, then keep only the first holder of each final name.
    let mut taken = HashSet::new();
    for (i, n) in names.iter_mut().enumerate() {
        let Some(name) = n.take() else { continue };
        let Some(clean) = sanitize(&name) else {
            warnings.push(format!(
                "tool {name:?} of backend {:?} has no usable name; hidden",
                cands[i].backend
            ));
            continue;
        };
        if taken.insert(clean.clone()) {
            *n = Some(clean);
        } else {
            warnings.push(format!(
                "tool name {clean:?} of backend {:?} is already taken; hidden",
                cands[i].backend
            ));
        }
    }
    (names, warnings)
}

pub fn prefixed(format: &str, backend: &str, name: &str) -> String {
    let f = if format.is_empty() {
        DEFAULT_PREFIX_FORMAT
    } else {
        format
    };
    format!("{}{}", f.replace(WORKLOAD_PLACEHOLDER, backend), name)
}

/// MCP tool names: 1-128 characters of `A-Z a-z 0-9 _ - .`. Other characters become `_`.
pub fn sanitize(name: &str) -> Option<String> {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME)
        .collect();
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(b: &str, n: &str) -> Candidate {
        Candidate {
            backend: b.into(),
            name: n.into(),
        }
    }

    fn names(r: (Vec<Option<String>>, Vec<String>)) -> Vec<Option<&'static str>> {
        r.0.into_iter()
            .map(|n| n.map(|s| &*Box::leak(s.into_boxed_str())))
            .collect()
    }

    #[test]
    fn prefix_renames_every_tool() {
        let s = Strategy {
            mode: ConflictResolution::Prefix,
            prefix_format: "{workload}__",
            priority_order: &[],
        };
        let got = names(resolve(
            &s,
            &[c("a", "echo"), c("b", "echo"), c("b", "add")],
        ));
        assert_eq!(got, vec![Some("a__echo"), Some("b__echo"), Some("b__add")]);
    }

    #[test]
    fn priority_keeps_the_ranked_winner_and_prefixes_unranked_conflicts() {
        let order = vec!["b".to_owned(), "a".to_owned()];
        let s = Strategy {
            mode: ConflictResolution::Priority,
            prefix_format: "",
            priority_order: &order,
        };
        let got = names(resolve(
            &s,
            &[
                c("a", "echo"),
                c("b", "echo"),
                c("c", "echo"),
                c("x", "only"),
                c("x", "dup"),
                c("y", "dup"),
            ],
        ));
        assert_eq!(
            got,
            vec![
                None,
                Some("echo"),
                None,
                Some("only"),
                Some("x_dup"),
                Some("y_dup")
            ]
        );
    }

    #[test]
    fn manual_hides_unresolved_conflicts() {
        let s = Strategy {
            mode: ConflictResolution::Manual,
            prefix_format: "",
            priority_order: &[],
        };
        let (n, w) = resolve(&s, &[c("a", "echo"), c("b", "echo"), c("b", "renamed")]);
        assert_eq!(n, vec![None, None, Some("renamed".into())]);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn sanitises_and_deduplicates_deterministically() {
        let s = Strategy {
            mode: ConflictResolution::Prefix,
            prefix_format: "{workload}/",
            priority_order: &[],
        };
        let (n, w) = resolve(&s, &[c("a", "x y"), c("a", "x_y")]);
        assert_eq!(n, vec![Some("a_x_y".into()), None]);
        assert_eq!(w.len(), 1);
        assert_eq!(sanitize(&"z".repeat(300)).unwrap().len(), MAX_NAME);
        assert_eq!(sanitize(""), None);
    }
}
