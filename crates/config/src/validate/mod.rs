//! Semantic validation of a parsed [`Config`]: every problem at once, each with its path.
//!
//! Parsing only checks shapes and types. This module checks the rules a gateway needs before it
//! can run (required fields, cross-references, ranges, exactly-one-of pairs) and marks what
//! vmcp does not implement yet. Problems carry a severity so `vmcp validate` can fail on errors
//! and still show warnings; the walk is linear in the size of the config (set lookups for
//! uniqueness and references), so a config with 10,000 backends validates quickly.

mod aggregation;
mod auth;
mod backends;
mod operational;
mod unsupported;

use std::collections::HashSet;
use std::fmt;

use crate::model::Config;
use crate::path::FieldPath;

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The gateway must not run with this config.
    Error,
    /// The config works, but probably not as intended.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What sort of problem it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The value breaks a rule of the schema.
    Invalid,
    /// The value is valid for ToolHive, but vmcp does not implement it yet.
    NotSupported,
    /// A key the schema does not define: a typo, or a field of a newer version.
    UnknownField,
}

/// One finding of validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub kind: ProblemKind,
    /// Path of the offending key, e.g. `backends[2].caBundlePath`.
    pub path: String,
    pub message: String,
}

impl Problem {
    /// The error for a value the schema cannot read (wrong type, unknown enum string), found
    /// while checking a file.
    pub fn invalid_value(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Error,
            kind: ProblemKind::Invalid,
            path: path.into(),
            message: message.into(),
        }
    }

    /// The error for a key the schema does not define, found while parsing.
    pub fn unknown_field(path: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Error,
            kind: ProblemKind::UnknownField,
            path: path.into(),
            message: "unknown field".to_owned(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The outcome of [`Config::validate`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Every problem found, in document order.
    pub problems: Vec<Problem>,
}

impl Report {
    /// True when there is no error (warnings allowed).
    pub fn is_ok(&self) -> bool {
        !self.has_errors()
    }

    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }

    /// `Ok(warnings)` when there is no error, otherwise `Err(all problems)`.
    pub fn into_result(self) -> Result<Vec<Problem>, Vec<Problem>> {
        if self.has_errors() {
            Err(self.problems)
        } else {
            Ok(self.problems)
        }
    }
}

/// One problem per line, prefixed with its severity.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{}: {p}", p.severity)?;
        }
        Ok(())
    }
}

/// Collects problems while walking the config.
pub(crate) struct Ctx<'c> {
    problems: Vec<Problem>,
    /// Names of the listed backends, in static mode; `None` when backends are discovered.
    backend_names: Option<HashSet<&'c str>>,
}

impl<'c> Ctx<'c> {
    fn push(&mut self, severity: Severity, kind: ProblemKind, path: &FieldPath<'_>, msg: String) {
        self.problems.push(Problem {
            severity,
            kind,
            path: path.render(),
            message: msg,
        });
    }

    pub(crate) fn error(&mut self, path: &FieldPath<'_>, msg: impl Into<String>) {
        self.push(Severity::Error, ProblemKind::Invalid, path, msg.into());
    }

    pub(crate) fn warn(&mut self, path: &FieldPath<'_>, msg: impl Into<String>) {
        self.push(Severity::Warning, ProblemKind::Invalid, path, msg.into());
    }

    pub(crate) fn not_supported(
        &mut self,
        severity: Severity,
        path: &FieldPath<'_>,
        msg: impl Into<String>,
    ) {
        self.push(severity, ProblemKind::NotSupported, path, msg.into());
    }

    /// Warns when `name` is not a listed backend (static mode only; discovered backends are
    /// not known until run time).
    pub(crate) fn check_backend_ref(&mut self, path: &FieldPath<'_>, name: &str) {
        if let Some(names) = &self.backend_names
            && !name.is_empty()
            && !names.contains(name)
        {
            self.warn(
                path,
                format!("no backend named {name:?} is listed in backends"),
            );
        }
    }
}

impl Config {
    /// Checks the config and returns every problem found, errors and warnings alike.
    pub fn validate(&self) -> Report {
        let mut ctx = Ctx {
            problems: Vec::new(),
            backend_names: None,
        };
        let root = FieldPath::ROOT;
        backends::check_top(&mut ctx, &root, self);
        // Reference checks need the backend names; duplicates are reported once, above.
        if self.is_static() {
            ctx.backend_names = Some(self.backends.iter().map(|b| b.name.as_str()).collect());
        }
        if let Some(incoming) = &self.incoming_auth {
            auth::check_incoming(&mut ctx, &root.key("incomingAuth"), incoming);
        } else {
            ctx.error(
                &root.key("incomingAuth"),
                "required (use type: anonymous to accept unauthenticated clients)",
            );
        }
        if let Some(outgoing) = &self.outgoing_auth {
            auth::check_outgoing(&mut ctx, &root.key("outgoingAuth"), outgoing, self);
        }
        if let Some(agg) = &self.aggregation {
            aggregation::check(&mut ctx, &root.key("aggregation"), agg);
        }
        if let Some(op) = &self.operational {
            operational::check(&mut ctx, &root.key("operational"), op);
        }
        backends::check_passthrough_headers(&mut ctx, &root.key("passthroughHeaders"), self);
        unsupported::check(&mut ctx, &root, self);
        Report {
            problems: ctx.problems,
        }
    }
}

// ---- small checks shared by the section validators ----

/// Checks an http(s) URL. Empty values are reported as required when `required`.
///
/// No separate host check: http and https are WHATWG "special" schemes, for which the url
/// crate refuses an empty host at parse time (`http://`, `http://:80`, `https://?q` all fail
/// with "empty host"), so a parsed http(s) URL always names one.
pub(crate) fn check_http_url(ctx: &mut Ctx<'_>, path: &FieldPath<'_>, value: &str, required: bool) {
    if value.is_empty() {
        if required {
            ctx.error(path, "required");
        }
        return;
    }
    match url::Url::parse(value) {
        Err(e) => ctx.error(path, format!("{value:?} is not a valid URL: {e}")),
        Ok(u) if u.scheme() != "http" && u.scheme() != "https" => ctx.error(
            path,
            format!("must be an http or https URL, not {}", u.scheme()),
        ),
        Ok(_) => {}
    }
}

/// True when `value` is an https URL (after [`check_http_url`] accepted it).
pub(crate) fn is_https(value: &str) -> bool {
    value
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// Checks an absolute file path without `..` components or NUL bytes.
pub(crate) fn check_absolute_path(ctx: &mut Ctx<'_>, path: &FieldPath<'_>, value: &str) {
    if value.contains('\0') {
        ctx.error(path, "must not contain a NUL byte");
    } else if !value.starts_with('/') {
        ctx.error(path, format!("must be an absolute path, got {value:?}"));
    } else if value.split('/').any(|c| c == "..") {
        ctx.error(path, "must not contain '..' components");
    }
}

/// An HTTP header field name (RFC 9110 token).
pub fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A portable environment variable name.
pub(crate) fn is_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks the name of an environment variable that holds a secret.
pub(crate) fn check_env_name(ctx: &mut Ctx<'_>, path: &FieldPath<'_>, value: &str) {
    if !value.is_empty() && !is_env_name(value) {
        ctx.error(
            path,
            format!("{value:?} is not a valid environment variable name"),
        );
    }
}

/// An MCP tool name: 1 to 128 characters of letters, digits, `_`, `-` and `.`.
pub(crate) fn is_tool_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_checks() {
        assert!(is_header_name("X-Api-Key"));
        assert!(!is_header_name("X Api"));
        assert!(!is_header_name(""));
        assert!(is_env_name("GH_TOKEN_2"));
        assert!(!is_env_name("2GH"));
        assert!(!is_env_name("A-B"));
        assert!(is_tool_name("gh_create.pr-2"));
        assert!(!is_tool_name("has space"));
        assert!(!is_tool_name(&"x".repeat(129)));
        assert!(is_https("HTTPS://x"));
        assert!(!is_https("http://x"));
    }
}
