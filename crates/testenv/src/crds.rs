//! Installing the project's CRDs from `deploy/crds/`.
//!
//! Tests install the same generated manifests that users apply, so a CRD that
//! the API server would reject (a bad schema, a CEL rule that does not
//! compile) fails the tests, not a user's `kubectl apply`.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api,
    api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams},
    runtime::wait::{await_condition, conditions},
};
use serde::Deserialize;

use crate::{
    binaries::workspace_root,
    env::{FIELD_MANAGER, TestEnv},
    error::{Error, Result},
};

/// How long one CRD may take to become Established.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(30);

impl TestEnv {
    /// Applies every CRD in `deploy/crds/` (workspace root) with server-side
    /// apply and waits until each is Established. Returns their names.
    /// Idempotent, so every test that needs the CRDs can call it.
    pub async fn install_crds(&self) -> Result<Vec<String>> {
        self.install_crds_from(&workspace_root().join("deploy").join("crds"))
            .await
    }

    /// Like [`TestEnv::install_crds`], from another directory.
    pub async fn install_crds_from(&self, dir: &Path) -> Result<Vec<String>> {
        let crds = read_dir(dir)?;
        let api = Api::<CustomResourceDefinition>::all(self.client()?);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let mut names = Vec::with_capacity(crds.len());
        for crd in &crds {
            let name = crd.metadata.name.clone().unwrap_or_default();
            api.patch(&name, &params, &Patch::Apply(crd))
                .await
                .map_err(Error::api(format!("applying CRD {name}")))?;
            names.push(name);
        }
        for crd in &crds {
            let name = crd.metadata.name.as_deref().unwrap_or_default();
            let established = await_condition(api.clone(), name, conditions::is_crd_established());
            match tokio::time::timeout(ESTABLISHED_TIMEOUT, established).await {
                Ok(Ok(_)) => wait_served(&api, crd).await?,
                Ok(Err(err)) => {
                    return Err(Error::Watch {
                        what: format!("watching CRD {name} for Established"),
                        reason: err.to_string(),
                    });
                }
                Err(_) => {
                    return Err(Error::CrdNotEstablished {
                        name: name.to_owned(),
                        timeout: ESTABLISHED_TIMEOUT,
                    });
                }
            }
        }
        Ok(names)
    }
}

/// Waits until every served version of `crd` answers a list. Established
/// is observed through our watch; the API server's own request handler learns
/// of it through its informer, a moment later, and answers 404 until then.
/// Tests expect a CRD to be usable once `install_crds` returns.
async fn wait_served(
    api: &Api<CustomResourceDefinition>,
    crd: &CustomResourceDefinition,
) -> Result<()> {
    let name = crd.metadata.name.as_deref().unwrap_or_default();
    let deadline = tokio::time::Instant::now() + ESTABLISHED_TIMEOUT;
    for version in crd.spec.versions.iter().filter(|v| v.served) {
        let resource = ApiResource {
            group: crd.spec.group.clone(),
            version: version.name.clone(),
            api_version: format!("{}/{}", crd.spec.group, version.name),
            kind: crd.spec.names.kind.clone(),
            plural: crd.spec.names.plural.clone(),
        };
        let objects = Api::<DynamicObject>::all_with(api.clone().into_client(), &resource);
        loop {
            match objects.list_metadata(&ListParams::default().limit(1)).await {
                Ok(_) => break,
                Err(kube::Error::Api(status))
                    if status.code == 404 && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(source) => {
                    return Err(Error::Api {
                        action: format!(
                            "listing {} ({name} version {})",
                            resource.plural, version.name
                        ),
                        source,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Reads every `*.yaml`/`*.yml` in `dir`, in name order, each file possibly
/// holding several documents.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<CustomResourceDefinition>> {
    let entries = fs::read_dir(dir).map_err(Error::io(format!("reading {}", dir.display())))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(Error::io(format!("reading {}", dir.display())))?
            .path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(path);
        }
    }
    files.sort();
    let mut crds = Vec::new();
    for file in files {
        let text =
            fs::read_to_string(&file).map_err(Error::io(format!("reading {}", file.display())))?;
        crds.extend(parse(&file, &text)?);
    }
    Ok(crds)
}

/// Parses a multi-document YAML file into CRDs; empty documents (a leading or
/// trailing `---`) are skipped, anything else must be a named CRD.
pub(crate) fn parse(file: &Path, text: &str) -> Result<Vec<CustomResourceDefinition>> {
    let mut crds = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let manifest_error = |reason: String| Error::CrdManifest {
            file: file.to_path_buf(),
            document: index + 1,
            reason,
        };
        let value = serde_json::Value::deserialize(document)
            .map_err(|err| manifest_error(err.to_string()))?;
        if value.is_null() {
            continue;
        }
        let crd: CustomResourceDefinition =
            serde_json::from_value(value).map_err(|err| manifest_error(err.to_string()))?;
        if crd.metadata.name.as_deref().unwrap_or_default().is_empty() {
            return Err(manifest_error("the CRD has no metadata.name".to_owned()));
        }
        crds.push(crd);
    }
    Ok(crds)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::parse;

    const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object}
";

    #[test]
    fn multi_document_files_skip_empty_documents() {
        let text = format!(
            "---\n{CRD}---\n{}---\n",
            CRD.replace("widgets.", "gadgets.")
        );
        let crds = parse(Path::new("x.yaml"), &text).unwrap();
        let names: Vec<_> = crds
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["widgets.example.com", "gadgets.example.com"]);
    }

    #[test]
    fn other_kinds_are_rejected_with_file_and_document() {
        let text = format!("{CRD}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n");
        let err = parse(Path::new("x.yaml"), &text).unwrap_err().to_string();
        assert!(err.starts_with("x.yaml: document 2:"), "{err}");
    }
}
