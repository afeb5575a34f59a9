//! Manifest files are untrusted: the reader behind `vmcp render -f` refuses oversized files
//! before reading them and deeply nested text before parsing it, naming the file, and never
//! panics.

use std::time::{Duration, Instant};

use vmcp_api::manifest::{MAX_MANIFEST_BYTES, ManifestError, parse_manifests, read_manifest_file};

#[test]
fn deep_nesting_is_refused_before_parsing() {
    // 30 KB of `[` used to keep the YAML scanner busy for seconds (its cost is quadratic).
    let text = "[".repeat(30_000);
    let started = Instant::now();
    let err = parse_manifests(&text, "deep.yaml").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, ManifestError::Input { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "deep.yaml: collections are nested deeper than 128 levels (at line 1, column 129)"
    );
    // Also in a later document of a real-looking file.
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\n---\ndata: {}\n",
        "{a: ".repeat(200)
    );
    let err = parse_manifests(&text, "two.yaml").unwrap_err().to_string();
    assert!(
        err.starts_with("two.yaml: collections are nested deeper than 128 levels (at line 5,"),
        "{err}"
    );
}

#[test]
fn oversized_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    // Sparse, so the test writes nothing; the size alone is refused.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(50 * 1024 * 1024)
        .unwrap();
    let err = read_manifest_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: file is 52428800 bytes, larger than the limit of 16777216 bytes (16 MiB)",
            path.display()
        )
    );
    // The same limit holds for text handed over directly.
    let text = "#".repeat(MAX_MANIFEST_BYTES as usize + 1);
    assert!(
        parse_manifests(&text, "t.yaml")
            .unwrap_err()
            .to_string()
            .starts_with("t.yaml: file is ")
    );
}

#[cfg(unix)]
#[test]
fn an_endless_stream_is_cut_at_the_limit() {
    let err = read_manifest_file(std::path::Path::new("/dev/zero")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/dev/zero: file is larger than the limit of 16777216 bytes (16 MiB)"
    );
}

#[test]
fn unreadable_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let err = read_manifest_file(&missing).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: cannot read the file: ", missing.display())),
        "{err}"
    );
    let err = read_manifest_file(dir.path()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: cannot read the file: it is a directory",
            dir.path().display()
        )
    );
    let latin1 = dir.path().join("latin1.yaml");
    std::fs::write(&latin1, b"kind: caf\xe9\n").unwrap();
    let err = read_manifest_file(&latin1).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: not valid UTF-8 (first invalid byte at offset 9)",
            latin1.display()
        )
    );
}

#[test]
fn a_good_file_reads_like_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.yaml");
    let text = "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPGroup\nmetadata: {name: g}\n";
    std::fs::write(&path, text).unwrap();
    let from_file = read_manifest_file(&path).unwrap();
    assert_eq!(from_file.len(), 1);
    assert_eq!(
        format!("{from_file:?}"),
        format!("{:?}", parse_manifests(text, "group.yaml").unwrap())
    );
}
