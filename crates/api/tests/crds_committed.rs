//! The CRDs under deploy/crds must be exactly what the Rust types generate; otherwise a user
//! applying deploy/ would get a schema that the operator does not agree with.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds")
}

#[test]
fn committed_crds_match_the_types() {
    let dir = crd_dir();
    let mut expected = BTreeSet::new();
    for crd in vmcp_api::crd::all_crds() {
        let name = vmcp_api::crd::file_name(&crd);
        let generated = vmcp_api::crd::to_yaml(&crd).unwrap();
        let path = dir.join(&name);
        if std::env::var_os("VMCP_UPDATE_CRDS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "{} is out of date with crates/api; run `cargo run -- crds --out-dir deploy/crds` (or this test with VMCP_UPDATE_CRDS=1)",
            path.display()
        );
        expected.insert(name);
    }
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    assert_eq!(
        present, expected,
        "deploy/crds holds files the types no longer generate"
    );
}

#[test]
fn every_kind_has_storage_v1beta1_and_deprecated_v1alpha1() {
    let crds = vmcp_api::crd::all_crds();
    let kinds: BTreeSet<_> = crds.iter().map(|c| c.spec.names.kind.clone()).collect();
    let want: BTreeSet<String> = [
        "MCPGroup",
        "MCPServerEntry",
        "MCPServer",
        "MCPRemoteProxy",
        "VirtualMCPServer",
        "MCPExternalAuthConfig",
        "MCPToolConfig",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(kinds, want);
    for crd in &crds {
        assert_eq!(crd.spec.group, "toolhive.stacklok.dev");
        let labels = crd.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get("toolhive.stacklok.dev/auto-migrate-storage-version")
                .map(String::as_str),
            Some("true"),
            "{}",
            crd.spec.names.kind
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["toolhive".to_string()][..])
        );
        let storage: Vec<_> = crd.spec.versions.iter().filter(|v| v.storage).collect();
        assert_eq!(storage.len(), 1);
        assert_eq!(storage[0].name, "v1beta1");
        assert!(
            storage[0]
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let old = crd
            .spec
            .versions
            .iter()
            .find(|v| v.name == "v1alpha1")
            .expect("v1alpha1");
        assert!(old.served && !old.storage);
        assert_eq!(old.deprecated, Some(true));
        assert!(
            old.deprecation_warning
                .as_deref()
                .unwrap()
                .contains("deprecated")
        );
        assert_eq!(
            old.schema, storage[0].schema,
            "{}: v1alpha1 schema differs",
            crd.spec.names.kind
        );
        assert_eq!(
            old.additional_printer_columns,
            storage[0].additional_printer_columns
        );
    }
}

#[test]
fn short_names_match_toolhive() {
    let crds = vmcp_api::crd::all_crds();
    let short = |kind: &str| {
        crds.iter()
            .find(|c| c.spec.names.kind == kind)
            .and_then(|c| c.spec.names.short_names.clone())
            .unwrap_or_default()
    };
    assert_eq!(short("VirtualMCPServer"), ["vmcp", "virtualmcp"]);
    assert_eq!(short("MCPGroup"), ["mcpg", "mcpgroup"]);
    assert_eq!(short("MCPServerEntry"), ["mcpentry"]);
    assert_eq!(short("MCPServer"), ["mcpserver", "mcpservers"]);
    assert_eq!(short("MCPRemoteProxy"), ["rp", "mcprp"]);
    assert_eq!(short("MCPExternalAuthConfig"), ["extauth", "mcpextauth"]);
    assert_eq!(short("MCPToolConfig"), ["tc", "toolconfig"]);
}
