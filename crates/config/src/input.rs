//! Guards for YAML text from files: a size cap applied before and during the read, UTF-8, and
//! the flow-nesting depth guard of [`crate::nesting`].
//!
//! The config loader and the manifest reader (`vmcp_api::manifest`, behind `vmcp render -f`)
//! both read untrusted YAML files with the same parser, so they share these checks; they live
//! here because vmcp-api already depends on this crate. Errors carry no file name: each caller
//! wraps them in its own error, which names the file the way its users expect.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::nesting;

/// A 1-based position in the YAML text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a text was refused before parsing.
///
/// The I/O error is part of the message and deliberately not a `source()`: the binary prints
/// error chains, which would repeat it.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read the file: {0}")]
    Read(std::io::Error),

    #[error("{}", too_large_message("file", *size, *limit))]
    TooLarge {
        /// Size in bytes, when known (a pipe or device has none).
        size: Option<u64>,
        limit: u64,
    },

    #[error("not valid UTF-8 (first invalid byte at offset {offset})")]
    NotUtf8 { offset: usize },

    #[error("collections are nested deeper than {limit} levels (at {location})")]
    TooDeep { location: Location, limit: usize },
}

/// "<what> is N bytes, larger than the limit of L bytes (M MiB)".
pub(crate) fn too_large_message(what: &str, size: Option<u64>, limit: u64) -> String {
    let limit_mib = limit / (1024 * 1024);
    match size {
        Some(size) => format!(
            "{what} is {size} bytes, larger than the limit of {limit} bytes ({limit_mib} MiB)"
        ),
        None => format!("{what} is larger than the limit of {limit} bytes ({limit_mib} MiB)"),
    }
}

/// Reads a file as UTF-8 text without ever holding more than `limit` plus one byte. The
/// parsers run [`check_text`] on what they are given, so it is not repeated here.
pub fn read_text(path: &Path, limit: u64) -> Result<String, InputError> {
    let file = File::open(path).map_err(InputError::Read)?;
    let meta = file.metadata().map_err(InputError::Read)?;
    if meta.is_dir() {
        return Err(InputError::Read(std::io::Error::other("it is a directory")));
    }
    if meta.len() > limit {
        return Err(InputError::TooLarge {
            size: Some(meta.len()),
            limit,
        });
    }
    // The size may be 0 for pipes and devices, or grow while we read: cap the read itself.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(InputError::Read)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge { size: None, limit });
    }
    String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Refuses text over `limit` bytes, or with flow collections nested deeper than
/// [`nesting::MAX_FLOW_DEPTH`] (which would make the YAML scanner take quadratic time).
pub fn check_text(text: &str, limit: u64) -> Result<(), InputError> {
    if text.len() as u64 > limit {
        return Err(InputError::TooLarge {
            size: Some(text.len() as u64),
            limit,
        });
    }
    if let Some((line, column)) = nesting::too_deep(text) {
        return Err(InputError::TooDeep {
            location: Location { line, column },
            limit: nesting::MAX_FLOW_DEPTH,
        });
    }
    Ok(())
}
