//! CRDs are installed with server-side apply and usable once the call returns.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api,
    api::{ApiResource, DynamicObject, GroupVersionKind, PostParams},
};
use vmcp_testenv::TestEnv;

const WIDGET_CRD: &str = "# a comment-only document first, as generated files have
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.testenv.vmcp.example
spec:
  group: testenv.vmcp.example
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
";

#[tokio::test]
async fn installed_crd_is_established_and_enforces_its_schema() {
    let env = TestEnv::shared().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("widgets.yaml"), WIDGET_CRD).unwrap();

    let names = env.install_crds_from(dir.path()).await.unwrap();
    assert_eq!(names, ["widgets.testenv.vmcp.example"]);
    // Applying the same manifests again is fine (every test may call it).
    assert_eq!(env.install_crds_from(dir.path()).await.unwrap(), names);

    let ns = env.namespace("crd").await.unwrap();
    let gvk = GroupVersionKind::gvk("testenv.vmcp.example", "v1", "Widget");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let api = Api::<DynamicObject>::namespaced_with(env.client().unwrap(), &ns, &resource);
    let widget = |size: i64| {
        DynamicObject::new("w", &resource).data(serde_json::json!({ "spec": { "size": size } }))
    };

    let err = api
        .create(&PostParams::default(), &widget(0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(status) if status.code == 422),
        "size 0 violates the schema minimum: {err}"
    );
    api.create(&PostParams::default(), &widget(3))
        .await
        .unwrap();
}

#[tokio::test]
async fn project_crds_install_and_become_established() {
    let env = TestEnv::shared().await.unwrap();
    let names = env.install_crds().await.unwrap();

    let crds = Api::<CustomResourceDefinition>::all(env.client().unwrap());
    for name in &names {
        let crd = crds.get(name).await.unwrap();
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name} is not Established");
    }
}
