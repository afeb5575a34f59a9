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
        "MCPOIDCConfig",
        "MCPAuthzConfig",
        "MCPTelemetryConfig",
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

/// Short names and printer columns (name, type, JSONPath) as ToolHive declares them, so
/// `kubectl get` works and looks the same against either operator.
#[test]
fn short_names_and_printer_columns_match_toolhive() {
    const READY: &str = ".status.conditions[?(@.type=='Ready')].status";
    const VALID: &str = ".status.conditions[?(@.type=='Valid')].status";
    const AGE: (&str, &str, &str) = ("Age", "date", ".metadata.creationTimestamp");
    type Column = (&'static str, &'static str, &'static str);
    let want: [(&str, &[&str], Vec<Column>); 10] = [
        (
            "VirtualMCPServer",
            &["vmcp", "virtualmcp"],
            vec![
                ("Phase", "string", ".status.phase"),
                ("URL", "string", ".status.url"),
                ("Backends", "integer", ".status.backendCount"),
                AGE,
                ("Ready", "string", READY),
            ],
        ),
        (
            "MCPGroup",
            &["mcpg", "mcpgroup"],
            vec![
                ("Servers", "integer", ".status.serverCount"),
                ("Proxies", "integer", ".status.remoteProxyCount"),
                ("Phase", "string", ".status.phase"),
                (
                    "Checked",
                    "string",
                    ".status.conditions[?(@.type=='MCPServersChecked')].status",
                ),
                AGE,
            ],
        ),
        (
            "MCPServer",
            &["mcpserver", "mcpservers"],
            vec![
                ("Status", "string", ".status.phase"),
                ("Ready", "string", READY),
                ("Replicas", "integer", ".status.readyReplicas"),
                ("URL", "string", ".status.url"),
                AGE,
            ],
        ),
        (
            "MCPRemoteProxy",
            &["rp", "mcprp"],
            vec![
                ("Phase", "string", ".status.phase"),
                ("Remote URL", "string", ".spec.remoteUrl"),
                ("URL", "string", ".status.url"),
                ("Ready", "string", READY),
                AGE,
            ],
        ),
        (
            "MCPServerEntry",
            &["mcpentry"],
            vec![
                ("Phase", "string", ".status.phase"),
                ("Transport", "string", ".spec.transport"),
                ("Remote URL", "string", ".spec.remoteUrl"),
                ("Group", "string", ".spec.groupRef.name"),
                AGE,
            ],
        ),
        (
            "MCPExternalAuthConfig",
            &["extauth", "mcpextauth"],
            vec![
                ("Type", "string", ".spec.type"),
                ("Valid", "string", VALID),
                AGE,
            ],
        ),
        (
            "MCPToolConfig",
            &["tc", "toolconfig"],
            vec![("Valid", "string", VALID), AGE],
        ),
        (
            "MCPOIDCConfig",
            &["mcpoidc"],
            vec![
                ("Source", "string", ".spec.type"),
                ("Valid", "string", VALID),
                AGE,
            ],
        ),
        (
            "MCPAuthzConfig",
            &["authzcfg"],
            vec![
                ("Type", "string", ".spec.type"),
                ("Valid", "string", VALID),
                AGE,
            ],
        ),
        (
            "MCPTelemetryConfig",
            &["mcpotel"],
            vec![
                ("Endpoint", "string", ".spec.openTelemetry.endpoint"),
                ("Valid", "string", VALID),
                ("Tracing", "boolean", ".spec.openTelemetry.tracing.enabled"),
                ("Metrics", "boolean", ".spec.openTelemetry.metrics.enabled"),
                AGE,
            ],
        ),
    ];
    let crds = vmcp_api::crd::all_crds();
    assert_eq!(crds.len(), want.len());
    for (kind, short, columns) in want {
        let crd = crds
            .iter()
            .find(|c| c.spec.names.kind == kind)
            .unwrap_or_else(|| panic!("no CRD for {kind}"));
        assert_eq!(
            crd.spec.names.short_names.as_deref().unwrap_or_default(),
            short,
            "{kind} short names"
        );
        for version in &crd.spec.versions {
            let got: Vec<(&str, &str, &str)> = version
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| (c.name.as_str(), c.type_.as_str(), c.json_path.as_str()))
                .collect();
            assert_eq!(got, columns, "{kind} {} printer columns", version.name);
        }
    }
    let backends = crds
        .iter()
        .find(|c| c.spec.names.kind == "VirtualMCPServer")
        .and_then(|c| c.spec.versions[0].additional_printer_columns.as_ref())
        .and_then(|cols| cols.iter().find(|c| c.name == "Backends"))
        .and_then(|c| c.description.clone());
    assert_eq!(backends.as_deref(), Some("Discovered backends count"));
}
