//! Crash consistency: for every write step of Create, Update and Delete — the response
//! PUT to CloudFormation included — the binary is stopped right after that write (the
//! service applied it, the process never learns) and killed. Then comes what follows in
//! production: Lambda delivers the same event again to a fresh process, or, for a
//! Create, CloudFormation gives up on it and sends its Delete. The end state must be the
//! one a clean run reaches — no duplicate, nothing left behind — in a single account and
//! in hub mode.

use std::time::Duration;

use aws_config::SdkConfig;
use entra_federated_role_harness::{
    crash_proxy::{CrashPoints, Proxy, aws_writes, graph_writes, response_writes},
    moto,
    runtime_api::Outcome,
};
use serde_json::{Value, json};

use crate::{
    lifecycle::{Factory, audiences, ok, properties, role_names, stack_in, trust, trust_document},
    moto_support::{account_config, fresh_account, random_account},
};

/// A factory whose every call to moto, to the Graph emulator and to CloudFormation's
/// response endpoint goes through `points`, and the stack it serves.
struct Scene {
    factory: Factory,
    stack: String,
    /// The account the stack (and so the role) lives in.
    sdk: SdkConfig,
    _proxies: [Proxy; 3],
}

impl Scene {
    /// In single-account mode, or in hub mode with the stack in a member account.
    async fn new(points: &CrashPoints, hub_mode: bool) -> Self {
        let (hub, _) = fresh_account().await;
        let member_role: &[(&str, &str)] = if hub_mode {
            &[("MEMBER_ROLE_NAME", "EntraFederatedRoleMember")]
        } else {
            &[]
        };
        let mut factory = Factory::start(&hub, member_role).await;
        let aws = points.proxy(moto::shared(), aws_writes).await;
        let graph = points.proxy(factory.graph.url(), graph_writes).await;
        let response = points
            .proxy(
                &format!("http://{}", factory.endpoint.host()),
                response_writes,
            )
            .await;
        factory
            .redirect(&[
                ("AWS_ENDPOINT_URL", aws.url()),
                ("AZURE_AUTHORITY_HOST", graph.url()),
                ("GRAPH_ENDPOINT", graph.url()),
            ])
            .await;
        factory.respond_through(response.host()).await;
        let account = if hub_mode { random_account() } else { hub };
        Self {
            stack: stack_in(&account),
            sdk: account_config(&account).await,
            factory,
            _proxies: [aws, graph, response],
        }
    }
}

/// Sends `event` with the crash point at write `n`: `true` when the process was stopped
/// there and killed, `false` when the event was answered with fewer than `n` writes. An
/// event that neither reaches write `n` nor is answered fails the test.
async fn crash_at(factory: &mut Factory, points: &CrashPoints, n: usize, event: &Value) -> bool {
    points.arm(n);
    let id = factory.runtime.invoke(event, Duration::from_secs(120));
    let crashed = tokio::select! {
        tripped = points.wait_tripped(Duration::from_secs(60)) => {
            assert!(tripped, "neither write {n} nor an answer within 60 s: the event hung");
            true
        }
        outcome = factory.runtime.outcome(&id, Duration::from_secs(60)) => {
            assert!(matches!(outcome, Some(Outcome::Response(_))), "{outcome:?}");
            false
        }
    };
    points.disarm();
    if crashed {
        factory.restart().await;
    }
    crashed
}

/// Everything Create promises, checked against both clouds (`sdk`: the role's account).
async fn assert_created(factory: &Factory, sdk: &SdkConfig, body: &Value) {
    let data = ok(body);
    let (apps, deleted) = factory.entra_objects();
    assert_eq!(
        (apps.len(), deleted),
        (1, 0),
        "one app, nothing half-deleted: {apps:?}"
    );
    let snapshot = factory.graph.snapshot();
    let app_id = data["ApplicationId"].as_str().unwrap();
    let app = snapshot
        .applications
        .iter()
        .find(|a| a.app_id == app_id)
        .expect("the reported app");
    assert_eq!(app.identifier_uris, [format!("api://{app_id}")]);
    assert_eq!(app.federated_identity_credentials.len(), 1);
    let sp = snapshot
        .service_principal(app_id)
        .expect("its service principal");
    assert_eq!(
        snapshot
            .service_principals
            .iter()
            .filter(|s| s.app_id == app_id)
            .count(),
        1
    );
    assert_eq!(sp.id, data["ServicePrincipalId"].as_str().unwrap());

    let role = data["RoleName"].as_str().unwrap();
    assert_eq!(role_names(sdk).await, [role]);
    let conditions = trust(sdk, role).await.unwrap();
    let conditions = conditions.as_object().unwrap();
    assert!(
        conditions
            .iter()
            .any(|(k, v)| k.ends_with(":aud") && v == &data["Audience"])
    );
    assert!(
        conditions
            .iter()
            .any(|(k, v)| k.ends_with(":sub") && v.as_str() == Some(&sp.id))
    );
    let provider = data["OidcProviderArn"].as_str().unwrap();
    assert_eq!(
        audiences(sdk, provider).await.unwrap(),
        [data["Audience"].as_str().unwrap()]
    );
}

/// Whatever role a crash left admits nobody, or exactly the callers it is meant for:
/// every `Allow` is pinned on an audience and on subjects. Returns how many admit nobody
/// (created sealed, the trust not yet set).
async fn assert_no_role_is_open(sdk: &SdkConfig) -> usize {
    let mut sealed = 0;
    for role in role_names(sdk).await {
        let policy = trust_document(sdk, &role).await.unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        if statements.iter().all(|s| s["Effect"] == "Deny") {
            sealed += 1;
        }
        for statement in statements.iter().filter(|s| s["Effect"] != "Deny") {
            let conditions = statement["Condition"]["StringEquals"].as_object();
            let pinned =
                |claim: &str| conditions.is_some_and(|c| c.keys().any(|k| k.ends_with(claim)));
            assert!(
                pinned(":aud") && pinned(":sub"),
                "role {role} left open by a crash: {policy}"
            );
        }
    }
    sealed
}

async fn assert_nothing_left(scene: &Scene) {
    assert_eq!(scene.factory.entra_objects(), (Vec::new(), 0));
    assert!(role_names(&scene.sdk).await.is_empty());
    assert!(
        list_providers(&scene.sdk).await.is_empty(),
        "our provider is gone once unused"
    );
}

async fn list_providers(sdk: &SdkConfig) -> Vec<String> {
    aws_sdk_iam::Client::new(sdk)
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap()
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn().map(str::to_owned))
        .collect()
}

/// The physical id CloudFormation sends its Delete with after a Create: the one the
/// response it recorded names, or, when none reached it (the process died first), one
/// it makes up.
fn physical_id_for_delete(factory: &Factory) -> String {
    factory
        .endpoint
        .requests()
        .last()
        .and_then(|r| r.json().ok())
        .and_then(|body: Value| body["PhysicalResourceId"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "ci-roles-CiRole-1A2B3C4D5E6F".to_owned())
}

#[tokio::test]
async fn a_create_killed_after_any_write_converges_when_redelivered() {
    let points = CrashPoints::new();
    let (mut crashes, mut sealed) = (0, 0);
    for n in 1.. {
        let mut scene = Scene::new(&points, false).await;
        let event = scene.factory.create(&scene.stack, properties());
        if !crash_at(&mut scene.factory, &points, n, &event).await {
            break;
        }
        crashes += 1;
        sealed += assert_no_role_is_open(&scene.sdk).await;
        let body = scene.factory.send(&event).await;
        assert_created(&scene.factory, &scene.sdk, &body).await;
        // And what was made after the crash is deleted in full.
        let id = body["PhysicalResourceId"].as_str().unwrap();
        let delete = scene.factory.delete(&scene.stack, id, properties());
        ok(&scene.factory.send(&delete).await);
        assert_nothing_left(&scene).await;
    }
    assert!(
        crashes >= 7,
        "every write step of Create, and its response, was a crash point: {crashes}"
    );
    assert!(
        sealed > 0,
        "the role is created sealed while the Entra side is registered"
    );
}

/// Hub mode, the stack in a member account: after the crash, CloudFormation gives up on
/// the Create and sends its Delete.
#[tokio::test]
async fn a_create_killed_after_any_write_is_removed_by_cloudformations_delete() {
    let points = CrashPoints::new();
    let mut crashes = 0;
    for n in 1.. {
        let mut scene = Scene::new(&points, true).await;
        let event = scene.factory.create(&scene.stack, properties());
        if !crash_at(&mut scene.factory, &points, n, &event).await {
            break;
        }
        crashes += 1;
        assert_no_role_is_open(&scene.sdk).await;
        let id = physical_id_for_delete(&scene.factory);
        let delete = scene.factory.delete(&scene.stack, &id, properties());
        ok(&scene.factory.send(&delete).await);
        assert_nothing_left(&scene).await;
        assert!(
            role_names(&scene.factory.hub_sdk).await.is_empty(),
            "nothing in the hub"
        );
    }
    assert!(
        crashes >= 7,
        "every write step of Create, and its response, was a crash point: {crashes}"
    );
}

#[tokio::test]
async fn an_update_killed_after_any_write_converges_when_redelivered() {
    let points = CrashPoints::new();
    let mut crashes = 0;
    let mut changed = properties();
    changed["Description"] = json!("changed");
    changed["Tags"] = json!([{"Key": "team", "Value": "security"}]);
    changed["ManagedPolicyArns"] = json!(["arn:aws:iam::aws:policy/AWSDenyAll"]);
    changed["FederatedCredentials"][0]["Subject"] = json!("repo:contoso/app:environment:prod");
    for n in 1.. {
        let mut scene = Scene::new(&points, false).await;
        let (factory, stack) = (&mut scene.factory, &scene.stack);
        let created = factory.send(&factory.create(stack, properties())).await;
        let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
        let event = factory.update(stack, &id, properties(), changed.clone());
        if !crash_at(factory, &points, n, &event).await {
            break;
        }
        crashes += 1;
        let body = factory.send(&event).await;
        assert_eq!(body["PhysicalResourceId"], id.as_str());
        assert_eq!(
            ok(&body),
            ok(&created),
            "an in-place update keeps every attribute"
        );
        assert_created(factory, &scene.sdk, &body).await;
        let role = aws_sdk_iam::Client::new(&scene.sdk)
            .get_role()
            .role_name(ok(&body)["RoleName"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let role = role.role().unwrap();
        assert_eq!(role.description(), Some("changed"));
        assert!(
            role.tags()
                .iter()
                .any(|t| t.key() == "team" && t.value() == "security")
        );
        let app_id = ok(&body)["ApplicationId"].as_str().unwrap();
        let snapshot = factory.graph.snapshot();
        let app = snapshot
            .applications
            .iter()
            .find(|a| a.app_id == app_id)
            .unwrap();
        assert_eq!(
            app.federated_identity_credentials[0].subject,
            "repo:contoso/app:environment:prod"
        );
    }
    assert!(
        crashes >= 5,
        "every write step of Update, and its response, was a crash point: {crashes}"
    );
}

#[tokio::test]
async fn a_delete_killed_after_any_write_converges_when_redelivered() {
    let points = CrashPoints::new();
    let mut crashes = 0;
    for n in 1.. {
        let mut scene = Scene::new(&points, false).await;
        let (factory, stack) = (&mut scene.factory, &scene.stack);
        let created = factory.send(&factory.create(stack, properties())).await;
        let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
        let event = factory.delete(stack, &id, properties());
        if !crash_at(factory, &points, n, &event).await {
            break;
        }
        crashes += 1;
        ok(&factory.send(&event).await);
        assert_nothing_left(&scene).await;
    }
    assert!(
        crashes >= 6,
        "every write step of Delete, and its response, was a crash point: {crashes}"
    );
}
