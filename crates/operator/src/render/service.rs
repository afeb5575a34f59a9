//! The gateway's Service `vmcp-<name>` on port 4483.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use vmcp_api::virtual_server::{ServiceType, SessionAffinity};

use crate::names::{VMCP_PORT, selector_labels};

pub fn service(
    meta: ObjectMeta,
    vmcp: &str,
    service_type: ServiceType,
    affinity: SessionAffinity,
) -> Service {
    let type_ = match service_type {
        ServiceType::ClusterIP => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
    };
    let affinity = match affinity {
        SessionAffinity::ClientIP => "ClientIP",
        SessionAffinity::None => "None",
    };
    Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            session_affinity: Some(affinity.into()),
            selector: Some(selector_labels(vmcp)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: VMCP_PORT,
                target_port: Some(IntOrString::Int(VMCP_PORT)),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}
