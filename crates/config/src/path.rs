//! Field paths such as `backends[2].transport` and `outgoingAuth.backends["a.b"].type`.
//!
//! Load errors, unknown keys and validation problems all name the offending key the same way,
//! so a user can search their file for it. [`FieldPath`] builds a path without allocating until
//! a problem is actually reported, which keeps validating 10,000 clean backends cheap.

use std::fmt::Write as _;

/// Appends one map key or struct field to a rendered path.
pub(crate) fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    } else {
        // JSON string quoting never fails for a &str.
        let quoted = serde_json::to_string(key).unwrap_or_else(|_| format!("{key:?}"));
        let _ = write!(out, "[{quoted}]");
    }
}

pub(crate) fn push_index(out: &mut String, index: usize) {
    let _ = write!(out, "[{index}]");
}

/// Renders a path recorded by `serde_path_to_error`.
pub(crate) fn from_serde_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => push_index(&mut out, *index),
            serde_path_to_error::Segment::Map { key } => push_key(&mut out, key),
            serde_path_to_error::Segment::Enum { variant } => push_key(&mut out, variant),
            serde_path_to_error::Segment::Unknown => push_key(&mut out, "?"),
        }
    }
    out
}

/// Renders a path of a key that `serde_ignored` saw being skipped.
pub(crate) fn from_ignored_path(path: &serde_ignored::Path<'_>) -> String {
    fn walk(path: &serde_ignored::Path<'_>, out: &mut String) {
        match path {
            serde_ignored::Path::Root => {}
            serde_ignored::Path::Seq { parent, index } => {
                walk(parent, out);
                push_index(out, *index);
            }
            serde_ignored::Path::Map { parent, key } => {
                walk(parent, out);
                push_key(out, key);
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut out = String::new();
    walk(path, &mut out);
    out
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// A borrowed, allocation-free path into the config, rendered only when needed.
#[derive(Clone, Copy)]
pub(crate) struct FieldPath<'a> {
    parent: Option<&'a FieldPath<'a>>,
    segment: Segment<'a>,
}

impl<'a> FieldPath<'a> {
    pub(crate) const ROOT: FieldPath<'static> = FieldPath {
        parent: None,
        segment: Segment::Root,
    };

    /// A struct field or map key below this path.
    pub(crate) fn key(&'a self, key: &'a str) -> FieldPath<'a> {
        FieldPath {
            parent: Some(self),
            segment: Segment::Key(key),
        }
    }

    /// A list element below this path.
    pub(crate) fn index(&'a self, index: usize) -> FieldPath<'a> {
        FieldPath {
            parent: Some(self),
            segment: Segment::Index(index),
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) {
        if let Some(parent) = self.parent {
            parent.render_into(out);
        }
        match self.segment {
            Segment::Root => {}
            Segment::Key(k) => push_key(out, k),
            Segment::Index(i) => push_index(out, i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_paths() {
        let root = FieldPath::ROOT;
        let backends = root.key("backends");
        let b2 = backends.index(2);
        assert_eq!(b2.key("caBundlePath").render(), "backends[2].caBundlePath");
        let oa = root.key("outgoingAuth");
        let obs = oa.key("backends");
        assert_eq!(
            obs.key("my.backend").key("type").render(),
            r#"outgoingAuth.backends["my.backend"].type"#
        );
        assert_eq!(obs.key("").render(), r#"outgoingAuth.backends[""]"#);
        assert_eq!(root.render(), "");
    }
}
