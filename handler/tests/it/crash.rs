//! Crash consistency: for every write step of Create, Update and Delete, the binary is
//! stopped right after that write (the service applied it, the process never learns) and
//! killed; a fresh process then gets the same event again, as Lambda redelivers it. The
//! end state must be the one a clean run reaches — no duplicate, nothing left behind.

use std::time::Duration;

use entra_federated_role_harness::{
    crash_proxy::{CrashPoints, Proxy, aws_writes, graph_writes},
    moto,
    runtime_api::Outcome,
};
use serde_json::{Value, json};

use crate::{
    lifecycle::{Factory, audiences, ok, properties, role_names, stack_in, trust, trust_document},
    moto_support::fresh_account,
};

/// A factory whose every call to moto and to the Graph emulator goes through `points`.
async fn factory(points: &CrashPoints) -> (Factory, String, [Proxy; 2]) {
    let (hub, _) = fresh_account().await;
    let mut factory = Factory::start(&hub, &[]).await;
    let aws = points.proxy(moto::shared(), aws_writes).await;
    let graph = points.proxy(factory.graph.url(), graph_writes).await;
    factory
        .redirect(&[
            ("AWS_ENDPOINT_URL", aws.url()),
            ("AZURE_AUTHORITY_HOST", graph.url()),
            ("GRAPH_ENDPOINT", graph.url()),
        ])
        .await;
    (factory, stack_in(&hub), [aws, graph])
}

/// Sends `event` with the crash point at write `n`: `true` when the process was stopped
/// there and a fresh one got the event again (answered by `Factory::send`), `false` when
/// the event finished with fewer than `n` writes.
async fn crash_at(factory: &mut Factory, points: &CrashPoints, n: usize, event: &Value) -> bool {
    points.arm(n);
    let id = factory.runtime.invoke(event, Duration::from_secs(120));
    let crashed = tokio::select! {
        tripped = points.wait_tripped(Duration::from_secs(60)) => tripped,
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

/// Everything Create promises, checked against both clouds.
async fn assert_created(factory: &Factory, body: &Value) {
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
    assert_eq!(role_names(&factory.hub_sdk).await, [role]);
    let conditions = trust(&factory.hub_sdk, role).await.unwrap();
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
        audiences(&factory.hub_sdk, provider).await.unwrap(),
        [data["Audience"].as_str().unwrap()]
    );
}

/// Whatever role a crash left admits nobody, or exactly the callers it is meant for:
/// every `Allow` is pinned on an audience and on subjects. Returns how many admit nobody
/// (created sealed, the trust not yet set).
async fn assert_no_role_is_open(factory: &Factory) -> usize {
    let mut sealed = 0;
    for role in role_names(&factory.hub_sdk).await {
        let policy = trust_document(&factory.hub_sdk, &role).await.unwrap();
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

async fn assert_nothing_left(factory: &Factory, provider: &str) {
    assert_eq!(factory.entra_objects(), (Vec::new(), 0));
    assert!(role_names(&factory.hub_sdk).await.is_empty());
    assert!(audiences(&factory.hub_sdk, provider).await.is_none());
}

#[tokio::test]
async fn a_create_killed_after_any_write_converges_when_redelivered() {
    let points = CrashPoints::new();
    let (mut crashes, mut sealed) = (0, 0);
    for n in 1.. {
        let (mut factory, stack, _proxies) = factory(&points).await;
        let event = factory.create(&stack, properties());
        if !crash_at(&mut factory, &points, n, &event).await {
            break;
        }
        crashes += 1;
        sealed += assert_no_role_is_open(&factory).await;
        let body = factory.send(&event).await;
        assert_created(&factory, &body).await;
        // And what was made after the crash is deleted in full.
        let delete = factory.delete(
            &stack,
            body["PhysicalResourceId"].as_str().unwrap(),
            properties(),
        );
        ok(&factory.send(&delete).await);
        assert_nothing_left(&factory, ok(&body)["OidcProviderArn"].as_str().unwrap()).await;
    }
    assert!(
        crashes >= 6,
        "every write step of Create was a crash point: {crashes}"
    );
    assert!(
        sealed > 0,
        "the role is created sealed while the Entra side is registered"
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
        let (mut factory, stack, _proxies) = factory(&points).await;
        let created = factory.send(&factory.create(&stack, properties())).await;
        let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
        let event = factory.update(&stack, &id, properties(), changed.clone());
        if !crash_at(&mut factory, &points, n, &event).await {
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
        assert_created(&factory, &body).await;
        let role = aws_sdk_iam::Client::new(&factory.hub_sdk)
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
        crashes >= 4,
        "every write step of Update was a crash point: {crashes}"
    );
}

#[tokio::test]
async fn a_delete_killed_after_any_write_converges_when_redelivered() {
    let points = CrashPoints::new();
    let mut crashes = 0;
    for n in 1.. {
        let (mut factory, stack, _proxies) = factory(&points).await;
        let created = factory.send(&factory.create(&stack, properties())).await;
        let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
        let event = factory.delete(&stack, &id, properties());
        if !crash_at(&mut factory, &points, n, &event).await {
            break;
        }
        crashes += 1;
        ok(&factory.send(&event).await);
        assert_nothing_left(&factory, ok(&created)["OidcProviderArn"].as_str().unwrap()).await;
    }
    assert!(
        crashes >= 5,
        "every write step of Delete was a crash point: {crashes}"
    );
}
