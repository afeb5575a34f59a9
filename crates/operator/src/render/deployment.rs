//! The gateway Deployment `<name>`: one container `vmcp` running `vmcp serve` on the mounted
//! config, with entry CA bundles mounted read-only and secrets delivered as env vars.
//!
//! The pod template carries the rollout checksum, so a changed config rolls the pods and an
//! unchanged one does not. The user's `podTemplateSpec` is merged last (see `pod_template`),
//! then the selector labels are put back so the Deployment keeps owning its pods.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, HTTPGetAction,
    LocalObjectReference, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pod_template::{self, PatchError};
use crate::names::{
    CONFIG_CHECKSUM_ANNOTATION, CONFIG_KEY, CONFIG_MOUNT_DIR, CONFIG_VOLUME, CONTAINER_NAME,
    VMCP_PORT, base_labels, config_map_name, selector_labels, service_name,
};
use crate::validate::FileCa;
use vmcp_core::ca_bundles::CaMount;

/// Everything the Deployment depends on.
pub struct DeploymentInput<'a> {
    pub meta: ObjectMeta,
    pub vmcp: &'a str,
    pub namespace: &'a str,
    pub image: &'a str,
    pub debug: bool,
    pub service_account: String,
    /// Extra env vars (auth and header secrets), already sorted and unique.
    pub env: Vec<EnvVar>,
    pub ca_mounts: &'a [CaMount],
    /// CA bundles the gateway reads from files (the OIDC issuer's, the trace collector's), in
    /// static and dynamic mode alike.
    pub file_cas: Vec<&'a FileCa>,
    pub checksum: &'a str,
    pub replicas: Option<i32>,
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    pub pod_template_patch: Option<&'a serde_json::Value>,
}

/// The container arguments.
///
/// `--allowed-hosts` names the Service every way a client in the cluster can spell it: the
/// gateway refuses any other name in `Host` (DNS-rebinding defence, docs/GATEWAY.md). A name
/// without a port matches every port, so `vmcp-<name>:4483` passes too; probes and scrapes
/// by pod IP pass as IP addresses, and `/health` and `/readyz` do not check Host at all.
pub fn args(debug: bool, vmcp: &str, namespace: &str) -> Vec<String> {
    let svc = service_name(vmcp);
    let mut a = vec![
        "serve".to_string(),
        format!("--config={CONFIG_MOUNT_DIR}/{CONFIG_KEY}"),
        "--host=0.0.0.0".to_string(),
        format!("--port={VMCP_PORT}"),
        format!(
            "--allowed-hosts={svc},{svc}.{namespace},{svc}.{namespace}.svc,{svc}.{namespace}.svc.cluster.local"
        ),
    ];
    if debug {
        a.push("--debug".into());
    }
    a
}

fn probe(path: &str, initial: i32, period: i32, timeout: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(initial),
        period_seconds: Some(period),
        timeout_seconds: Some(timeout),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn quantities(cpu: &str, mem: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".into(), Quantity(cpu.into())),
        ("memory".into(), Quantity(mem.into())),
    ])
}

/// The pod template before the user's patch.
fn base_template(i: &DeploymentInput<'_>) -> PodTemplateSpec {
    let mut env = vec![
        EnvVar {
            name: "VMCP_NAME".into(),
            value: Some(i.vmcp.into()),
            ..EnvVar::default()
        },
        EnvVar {
            name: "VMCP_NAMESPACE".into(),
            value: Some(i.namespace.into()),
            ..EnvVar::default()
        },
    ];
    env.extend(i.env.iter().cloned());
    let mut volumes = vec![Volume {
        name: CONFIG_VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map_name(i.vmcp),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }];
    let mut mounts = vec![VolumeMount {
        name: CONFIG_VOLUME.into(),
        mount_path: CONFIG_MOUNT_DIR.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    }];
    for ca in i.ca_mounts {
        volumes.push(ca.volume.clone());
        mounts.push(ca.mount.clone());
    }
    for ca in &i.file_cas {
        volumes.push(ca.volume.clone());
        mounts.push(ca.mount.clone());
    }
    let container = Container {
        name: CONTAINER_NAME.into(),
        image: Some(i.image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(args(i.debug, i.vmcp, i.namespace)),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: VMCP_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(env),
        volume_mounts: Some(mounts),
        liveness_probe: Some(probe("/health", 30, 10, 5)),
        readiness_probe: Some(probe("/readyz", 15, 5, 3)),
        resources: Some(ResourceRequirements {
            requests: Some(quantities("100m", "128Mi")),
            limits: Some(quantities("500m", "512Mi")),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            privileged: Some(false),
            run_as_non_root: Some(true),
            run_as_user: Some(1000),
            run_as_group: Some(1000),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(base_labels(i.vmcp)),
            annotations: Some(BTreeMap::from([(
                CONFIG_CHECKSUM_ANNOTATION.into(),
                i.checksum.into(),
            )])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(i.service_account.clone()),
            termination_grace_period_seconds: Some(30),
            image_pull_secrets: i.image_pull_secrets.clone(),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(1000),
                run_as_group: Some(1000),
                fs_group: Some(1000),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![container],
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
    }
}

/// Merges the user's patch into `template` and reads the result back as a pod template.
pub fn apply_patch(
    template: PodTemplateSpec,
    patch: &serde_json::Value,
    vmcp: &str,
) -> Result<PodTemplateSpec, PatchError> {
    let mut value =
        serde_json::to_value(&template).map_err(|e| PatchError::Invalid(e.to_string()))?;
    pod_template::merge(&mut value, patch)?;
    let mut merged: PodTemplateSpec =
        serde_json::from_value(value).map_err(|e| PatchError::Invalid(e.to_string()))?;
    let meta = merged.metadata.get_or_insert_with(ObjectMeta::default);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .extend(base_labels(vmcp));
    if merged
        .spec
        .as_ref()
        .is_none_or(|s| !s.containers.iter().any(|c| c.name == CONTAINER_NAME))
    {
        return Err(PatchError::Invalid(format!(
            "the patch removed the {CONTAINER_NAME} container"
        )));
    }
    Ok(merged)
}

/// Checks a patch on its own, so an invalid one is reported before anything else is built.
pub fn check_patch(patch: &serde_json::Value, vmcp: &str) -> Result<(), PatchError> {
    let skeleton = PodTemplateSpec {
        spec: Some(PodSpec {
            containers: vec![Container {
                name: CONTAINER_NAME.into(),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..PodTemplateSpec::default()
    };
    apply_patch(skeleton, patch, vmcp).map(|_| ())
}

pub fn deployment(i: DeploymentInput<'_>) -> Result<Deployment, PatchError> {
    let mut template = base_template(&i);
    if let Some(p) = i.pod_template_patch {
        template = apply_patch(template, p, i.vmcp)?;
    }
    Ok(Deployment {
        metadata: i.meta,
        spec: Some(DeploymentSpec {
            replicas: i.replicas,
            selector: LabelSelector {
                match_labels: Some(selector_labels(i.vmcp)),
                ..LabelSelector::default()
            },
            template,
            ..DeploymentSpec::default()
        }),
        status: None,
    })
}
