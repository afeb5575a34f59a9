//! Reading and writing `config.yaml`: bounded, strict, and precise about what went wrong.
//!
//! A config file is untrusted input. Reading refuses files over [`MAX_CONFIG_BYTES`] before
//! reading them whole, never panics, and every error names the offending key by path (and
//! line/column where the YAML parser knows them). Unknown keys are errors in strict mode, all of
//! them reported at once; the lenient mode returns them instead, for `spec.config` of a
//! VirtualMCPServer, whose CRD keeps unknown fields as ToolHive's does; the check mode (for
//! `vmcp validate`) puts them into the validation report, so they are shown together with the
//! rule problems instead of hiding them, and does the same with values of the wrong type.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::input::{self, InputError, Location, too_large_message};
use crate::model::Config;
use crate::path;
use crate::validate::{Problem, Report};

/// Largest config accepted, in bytes (16 MiB). A ConfigMap cannot exceed 1 MiB, so this only
/// guards the gateway against accidents and hostile files, without limiting real use.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// How many unknown keys an error message lists before summarising the rest.
const MAX_LISTED_UNKNOWN: usize = 20;

/// How many values of the wrong type one check reports; each costs a parse of the document,
/// so a hostile file full of them is bounded.
const MAX_TYPE_ERRORS: usize = 100;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}", too_large_message("config file", *size, *limit))]
    TooLarge {
        /// Size in bytes, when known (a pipe or device has none).
        size: Option<u64>,
        limit: u64,
    },

    #[error("config file is not valid UTF-8 (first invalid byte at offset {offset})")]
    NotUtf8 { offset: usize },

    #[error("config file is empty")]
    Empty,

    #[error("collections are nested deeper than {limit} levels (at {location})")]
    TooDeep { location: Location, limit: usize },

    #[error("malformed YAML: {message}{}", syntax_suffix(message, location))]
    Syntax {
        message: String,
        location: Option<Location>,
    },

    /// A value of the wrong type, an unknown enum string, a bad duration, ...
    #[error("{}{message}{}", path_prefix(path), at_suffix(location))]
    Invalid {
        /// Path of the offending key, e.g. `backends[2].transport`; empty for the document.
        path: String,
        message: String,
        location: Option<Location>,
    },

    #[error("{}", unknown_message(paths))]
    UnknownFields {
        /// Paths of every unknown key, in document order.
        paths: Vec<String>,
    },
}

/// The parser's syntax messages usually name the position already.
fn syntax_suffix(message: &str, location: &Option<Location>) -> String {
    if message.contains(" at line ") {
        String::new()
    } else {
        at_suffix(location)
    }
}

fn at_suffix(location: &Option<Location>) -> String {
    location.map(|l| format!(" (at {l})")).unwrap_or_default()
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

fn unknown_message(paths: &[String]) -> String {
    let mut msg = match paths {
        [one] => format!("{one}: unknown field"),
        _ => format!("{} unknown fields: ", paths.len()),
    };
    if paths.len() > 1 {
        let listed: Vec<&str> = paths
            .iter()
            .take(MAX_LISTED_UNKNOWN)
            .map(String::as_str)
            .collect();
        msg.push_str(&listed.join(", "));
        if paths.len() > MAX_LISTED_UNKNOWN {
            msg.push_str(&format!(" and {} more", paths.len() - MAX_LISTED_UNKNOWN));
        }
    }
    msg
}

impl LoadError {
    /// The loader's error for a refused text; `path` is the file read (only reading fails
    /// with [`InputError::Read`]).
    fn from_input(err: InputError, path: Option<&Path>) -> LoadError {
        match err {
            InputError::Read(source) => LoadError::Read {
                path: path.map(Path::to_owned).unwrap_or_default(),
                source,
            },
            InputError::TooLarge { size, limit } => LoadError::TooLarge { size, limit },
            InputError::NotUtf8 { offset } => LoadError::NotUtf8 { offset },
            InputError::TooDeep { location, limit } => LoadError::TooDeep { location, limit },
        }
    }

    /// Path of the offending key, when the error is about one.
    pub fn path(&self) -> Option<&str> {
        match self {
            LoadError::Invalid { path, .. } => Some(path),
            LoadError::UnknownFields { paths } => paths.first().map(String::as_str),
            _ => None,
        }
    }

    /// Position in the text, when the parser reported one.
    pub fn location(&self) -> Option<Location> {
        match self {
            LoadError::Syntax { location, .. } | LoadError::Invalid { location, .. } => *location,
            LoadError::TooDeep { location, .. } => Some(*location),
            _ => None,
        }
    }
}

/// Failure to render a config as YAML.
#[derive(Debug, thiserror::Error)]
#[error("cannot serialise config: {0}")]
pub struct SerializeError(String);

/// Whether keys the schema does not know are errors or are returned to the caller.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Strict,
    Lenient,
}

impl Config {
    /// Parses `config.yaml` text strictly: unknown keys anywhere are an error.
    pub fn from_yaml_str(text: &str) -> Result<Config, LoadError> {
        parse_yaml(text, Mode::Strict).map(|(cfg, _)| cfg)
    }

    /// Parses YAML text, returning the paths of unknown keys instead of failing on them.
    pub fn from_yaml_str_lenient(text: &str) -> Result<(Config, Vec<String>), LoadError> {
        parse_yaml(text, Mode::Lenient)
    }

    /// Reads and strictly parses a config file, refusing files over [`MAX_CONFIG_BYTES`].
    pub fn load_file(path: impl AsRef<Path>) -> Result<Config, LoadError> {
        let text = read_bounded(path.as_ref())?;
        Config::from_yaml_str(&text)
    }

    /// Reads config text for checking, as `vmcp validate` does: one run shows every problem.
    /// Values of the wrong type (an unknown enum string, a string where a number belongs) and
    /// unknown keys become errors of the report, ahead of the rule problems of everything
    /// else. serde cannot build a config around a wrong value, so each one is reported and
    /// left out of the document, which is parsed again without it, as if the key were not
    /// there. Malformed YAML, or a document that is not a mapping at all, still stops here.
    pub fn check_yaml_str(text: &str) -> Result<(Config, Report), LoadError> {
        let (cfg, unknown, mut problems) = match parse_yaml(text, Mode::Lenient) {
            Ok((cfg, unknown)) => (cfg, unknown, Vec::new()),
            Err(first @ LoadError::Invalid { .. }) => without_wrong_values(text, first)?,
            Err(e) => return Err(e),
        };
        // A value left out reads as absent, so the rules would report it missing as well:
        // its type error says it already.
        let wrong: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
        problems.extend(unknown.into_iter().map(Problem::unknown_field));
        problems.extend(
            cfg.validate()
                .problems
                .into_iter()
                .filter(|p| !wrong.iter().any(|w| is_within(&p.path, w))),
        );
        Ok((cfg, Report { problems }))
    }

    /// Reads a config file for checking; see [`Config::check_yaml_str`].
    pub fn check_file(path: impl AsRef<Path>) -> Result<(Config, Report), LoadError> {
        let text = read_bounded(path.as_ref())?;
        Config::check_yaml_str(&text)
    }

    /// Strictly converts a JSON value (for example a VirtualMCPServer's `spec.config`).
    pub fn from_json_value(value: serde_json::Value) -> Result<Config, LoadError> {
        from_value(value, Mode::Strict).map(|(cfg, _)| cfg)
    }

    /// Converts a JSON value, returning the paths of unknown keys instead of failing on them.
    pub fn from_json_value_lenient(
        value: serde_json::Value,
    ) -> Result<(Config, Vec<String>), LoadError> {
        from_value(value, Mode::Lenient)
    }

    /// Renders the config as YAML, the form written into the ConfigMap.
    pub fn to_yaml_string(&self) -> Result<String, SerializeError> {
        serde_yaml::to_string(self).map_err(|e| SerializeError(e.to_string()))
    }
}

/// Reads and strictly parses a config file; see [`Config::load_file`].
pub fn load_file(path: impl AsRef<Path>) -> Result<Config, LoadError> {
    Config::load_file(path)
}

/// Reads a config file for checking; see [`Config::check_yaml_str`].
pub fn check_file(path: impl AsRef<Path>) -> Result<(Config, Report), LoadError> {
    Config::check_file(path)
}

/// Reads a config file as UTF-8 text within [`MAX_CONFIG_BYTES`].
fn read_bounded(path: &Path) -> Result<String, LoadError> {
    input::read_text(path, MAX_CONFIG_BYTES).map_err(|e| LoadError::from_input(e, Some(path)))
}

/// True when the text holds no YAML content: only whitespace, comments and document markers.
fn is_blank(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').lines().all(|line| {
        let line = line.trim();
        let rest = line
            .strip_prefix("---")
            .or_else(|| line.strip_prefix("..."))
            .map(str::trim_start)
            .unwrap_or(line);
        rest.is_empty() || rest.starts_with('#')
    })
}

fn parse_yaml(text: &str, mode: Mode) -> Result<(Config, Vec<String>), LoadError> {
    input::check_text(text, MAX_CONFIG_BYTES).map_err(|e| LoadError::from_input(e, None))?;
    if is_blank(text) {
        return Err(LoadError::Empty);
    }
    let de = serde_yaml::Deserializer::from_str(text);
    match deserialize_tracked(de) {
        Ok((cfg, unknown)) => finish(cfg, unknown, mode),
        Err((path, err)) => Err(classify_yaml_error(
            text,
            path::from_serde_path(&path),
            &path.to_string(),
            &err,
        )),
    }
}

fn from_value(value: serde_json::Value, mode: Mode) -> Result<(Config, Vec<String>), LoadError> {
    if value.is_null() {
        return Err(LoadError::Empty);
    }
    match deserialize_tracked(value) {
        Ok((cfg, unknown)) => finish(cfg, unknown, mode),
        Err((path, err)) => Err(LoadError::Invalid {
            path: path::from_serde_path(&path),
            message: err.to_string(),
            location: None,
        }),
    }
}

fn finish(
    cfg: Config,
    unknown: Vec<String>,
    mode: Mode,
) -> Result<(Config, Vec<String>), LoadError> {
    if mode == Mode::Strict && !unknown.is_empty() {
        return Err(LoadError::UnknownFields { paths: unknown });
    }
    Ok((cfg, unknown))
}

/// Deserialises a [`Config`], recording the path of an error and of every ignored key.
#[allow(clippy::type_complexity)]
fn deserialize_tracked<'de, D>(
    de: D,
) -> Result<(Config, Vec<String>), (serde_path_to_error::Path, D::Error)>
where
    D: serde::Deserializer<'de>,
{
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let tracked = serde_path_to_error::Deserializer::new(de, &mut track);
        let mut record = |p: serde_ignored::Path<'_>| unknown.push(path::from_ignored_path(&p));
        let watched = serde_ignored::Deserializer::new(tracked, &mut record);
        Config::deserialize(watched)
    };
    match result {
        Ok(cfg) => Ok((cfg, unknown)),
        Err(err) => Err((track.path(), err)),
    }
}

/// The check of a document with values of the wrong type (`first` is the first, as strict
/// parsing reports it): each is reported and removed, and the rest parsed again, until it
/// parses. Gives `first` back when that cannot go on: the document itself is not a mapping,
/// a wrong value cannot be located or removed, or there are more than [`MAX_TYPE_ERRORS`].
#[allow(clippy::type_complexity)]
fn without_wrong_values(
    text: &str,
    first: LoadError,
) -> Result<(Config, Vec<String>, Vec<Problem>), LoadError> {
    let LoadError::Invalid {
        path: first_path,
        message: first_message,
        location: first_location,
    } = &first
    else {
        return Err(first);
    };
    let Ok(mut doc) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Err(first);
    };
    let mut problems: Vec<Problem> = Vec::new();
    // Each round removes one value; a list item of the wrong type may take two (see
    // `remove_value`), which is then reported once.
    for _ in 0..2 * MAX_TYPE_ERRORS {
        let (path, err) = match deserialize_tracked(&doc) {
            Ok((cfg, unknown)) => return Ok((cfg, unknown, problems)),
            Err(e) => e,
        };
        let rendered = path::from_serde_path(&path);
        if rendered.is_empty() {
            break;
        }
        if problems.last().is_none_or(|p| p.path != rendered) {
            if problems.len() == MAX_TYPE_ERRORS {
                break;
            }
            // The parse of the text knows the position; the parse of the tree does not.
            let message = if problems.is_empty() && rendered == *first_path {
                format!("{first_message}{}", at_suffix(first_location))
            } else {
                bare_message(&err, Some(&path.to_string()))
            };
            problems.push(Problem::invalid_value(rendered, message));
        }
        if !remove_value(&mut doc, &path) {
            break;
        }
    }
    Err(first)
}

/// Whether `path` is `outer` or lies inside it (`backends[0].url` inside `backends[0]`).
fn is_within(path: &str, outer: &str) -> bool {
    path.strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Takes the value at `path` out of the document: a mapping's key is removed (the field then
/// reads as absent, and every field of the schema may be absent). A list item that is not a
/// mapping is replaced by an empty one, which reads as an item with every field absent, so
/// the items after it keep their indices in later messages; a mapping where the list holds
/// something else (strings) is removed.
fn remove_value(doc: &mut serde_yaml::Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    use serde_yaml::Value;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut at = doc;
    for seg in parents {
        let next = match (seg, at) {
            (Segment::Seq { index }, Value::Sequence(items)) => items.get_mut(*index),
            (Segment::Map { key }, Value::Mapping(m)) => m.get_mut(key.as_str()),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
    match (last, at) {
        (Segment::Map { key }, Value::Mapping(m)) => m.shift_remove(key.as_str()).is_some(),
        (Segment::Seq { index }, Value::Sequence(items)) => match items.get_mut(*index) {
            Some(Value::Mapping(_)) => {
                items.remove(*index);
                true
            }
            Some(item) => {
                *item = Value::Mapping(serde_yaml::Mapping::new());
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// Tells malformed YAML, an empty (`null`) document and a schema mismatch apart.
///
/// The typed parse reports all three the same way, so on failure only, the text is parsed
/// again without a schema: if that fails too the YAML itself is broken.
fn classify_yaml_error(
    text: &str,
    path: String,
    plain: &str,
    err: &serde_yaml::Error,
) -> LoadError {
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Err(syntax) => LoadError::Syntax {
            message: bare_message(&syntax, None),
            location: syntax.location().map(location),
        },
        Ok(serde_yaml::Value::Null) => LoadError::Empty,
        Ok(_) => {
            let mut message = bare_message(err, Some(plain));
            if path.is_empty() && message.starts_with("invalid type") {
                message = format!("the config must be a mapping of keys to values ({message})");
            }
            LoadError::Invalid {
                message,
                path,
                location: err.location().map(location),
            }
        }
    }
}

fn location(l: serde_yaml::Location) -> Location {
    Location {
        line: l.line(),
        column: l.column(),
    }
}

/// The parser's message without the position (and key path) it appends, which we report in
/// our own fields.
fn bare_message(err: &serde_yaml::Error, path: Option<&str>) -> String {
    let mut msg = err.to_string();
    if let Some(l) = err.location() {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        if let Some(stripped) = msg.strip_suffix(&suffix) {
            msg = stripped.to_owned();
        }
    }
    if let Some(path) = path.filter(|p| !p.is_empty() && *p != ".")
        && let Some(stripped) = msg.strip_prefix(&format!("{path}: "))
    {
        msg = stripped.to_owned();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_detection() {
        assert!(is_blank(""));
        assert!(is_blank("\n  \n# only a comment\n---\n...\n--- # c\n"));
        assert!(is_blank("\u{feff}"));
        assert!(!is_blank("name: x"));
        assert!(!is_blank("--- name: x"));
        assert!(!is_blank("null"));
    }
}
