//! The event-driven front door through the real binary: a role made by hand in a member
//! account (moto), named by IAM's CloudTrail event as EventBridge puts it in the factory's
//! queue, and Lambda's SQS batch carrying it; Entra is the Graph emulator.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_iam::types::Tag;
use entra_federated_role_harness::{
    role_events::{batch_failures, iam_event, sqs_batch},
    runtime_api::Outcome,
};
use graph_emulator::{FaultRule, TestKey};
use serde_json::{Value, json};

use crate::exchange::local_clouds;
use crate::lifecycle::{Factory, audiences, trust_document};
use crate::moto_support::{account_config, fresh_account, random_account};

const ROLE: &str = "deploy-web";

/// Delivers `events` in one batch: the messages Lambda is to deliver again.
async fn deliver(factory: &Factory, events: &[Value]) -> Vec<String> {
    deliver_within(factory, events, Duration::from_secs(60)).await
}

/// Delivers `events` in one batch that Lambda gives `budget`.
async fn deliver_within(factory: &Factory, events: &[Value], budget: Duration) -> Vec<String> {
    let id = factory.runtime.invoke(&sqs_batch(events), budget);
    let outcome = factory
        .runtime
        .outcome(&id, budget + Duration::from_secs(10))
        .await;
    let Some(Outcome::Response(body)) = outcome else {
        panic!("{outcome:?}\nlogs:\n{}", factory.process.logs());
    };
    let answer: Value = serde_json::from_slice(&body).unwrap();
    batch_failures(&answer).unwrap_or_else(|| panic!("a partial batch response: {answer}"))
}

/// A factory in a fresh hub account with `env`, and a member account where someone made
/// the role `ROLE` by hand with `tags`.
async fn factory_and_role(
    env: &[(&str, &str)],
    tags: &[(&str, &str)],
) -> (Factory, String, SdkConfig) {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, env).await;
    let member = random_account();
    let sdk = account_config(&member).await;
    make_role(&sdk, tags).await;
    (factory, member, sdk)
}

/// The applications the factory made.
fn made(factory: &Factory) -> Vec<graph_emulator::Application> {
    let snapshot = factory.graph.snapshot();
    snapshot
        .applications
        .into_iter()
        .filter(|a| a.created_by_factory)
        .collect()
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

fn owners_statement() -> Value {
    json!({"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"})
}

/// Makes the role `ROLE` in `sdk`'s account by hand, with `tags`.
async fn make_role(sdk: &SdkConfig, tags: &[(&str, &str)]) {
    let trust = json!({"Version": "2012-10-17", "Statement": [owners_statement()]});
    aws_sdk_iam::Client::new(sdk)
        .create_role()
        .role_name(ROLE)
        .assume_role_policy_document(trust.to_string())
        .set_tags(Some(tags.iter().map(|(k, v)| tag(k, v)).collect()))
        .send()
        .await
        .unwrap();
}

async fn role_tags(sdk: &SdkConfig) -> Vec<(String, String)> {
    let role = aws_sdk_iam::Client::new(sdk)
        .get_role()
        .role_name(ROLE)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let mut tags: Vec<(String, String)> = role
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    tags.sort();
    tags
}

/// The factory as the hub runs it with `RoleEvents` "enabled".
const ROLE_EVENTS_ON: [(&str, &str); 2] = [
    ("MEMBER_ROLE_NAME", "EntraFederatedRoleMember"),
    ("ROLE_EVENTS", "true"),
];

const OPT_IN: [(&str, &str); 2] = [
    ("entra-federated-role:federate", "true"),
    (
        "entra-federated-role:github:main",
        "repo:contoso/web:ref:refs/heads/main",
    ),
];

#[tokio::test]
async fn a_role_made_by_hand_is_federated_from_its_event_and_leaves_nothing_when_deleted() {
    let (factory, member, sdk) = factory_and_role(&ROLE_EVENTS_ON, &OPT_IN).await;

    let created = iam_event(&member, "CreateRole", ROLE);
    assert_eq!(
        deliver(&factory, std::slice::from_ref(&created)).await,
        Vec::<String>::new()
    );

    // Entra: one application for the role, with the workflow's federated credential.
    let snapshot = factory.graph.snapshot();
    let apps = made(&factory);
    let [app] = apps.as_slice() else {
        panic!("one application: {apps:?}");
    };
    assert!(
        app.tags
            .contains(&format!("entra-federated-role:role={member}/{ROLE}")),
        "{:?}",
        app.tags
    );
    let credentials: Vec<&str> = app
        .federated_identity_credentials
        .iter()
        .map(|c| c.subject.as_str())
        .collect();
    assert_eq!(credentials, ["repo:contoso/web:ref:refs/heads/main"]);
    let sp = snapshot
        .service_principals
        .iter()
        .find(|sp| sp.app_id == app.app_id)
        .expect("its service principal");

    // IAM: the owner's statement kept, the factory's pinned on audience and subject, and
    // the role says it is federated, with the application's id.
    let trust = trust_document(&sdk, ROLE).await.unwrap();
    let statements = trust["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{trust:#}");
    assert_eq!(statements[0], owners_statement());
    let condition = statements[1]["Condition"]["StringEquals"]
        .as_object()
        .unwrap();
    let issuer = format!("sts.windows.net/{}/", factory.graph.tenant_id());
    assert_eq!(
        condition[&format!("{issuer}:aud")],
        json!(format!("api://{}", app.app_id))
    );
    assert_eq!(condition[&format!("{issuer}:sub")], json!(sp.id));
    let provider = format!("arn:aws:iam::{member}:oidc-provider/{issuer}");
    assert_eq!(
        audiences(&sdk, &provider).await,
        Some(vec![format!("api://{}", app.app_id)])
    );
    let tags = role_tags(&sdk).await;
    assert!(
        tags.contains(&("entra-federated-role:status".into(), "federated".into())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("entra-federated-role:app-id".into(), app.app_id.clone())),
        "{tags:?}"
    );

    // Delivered again, and with the events of the factory's own writes: nothing changes,
    // and nothing is written to Entra (the application as listed already says it all).
    let graph_writes = || -> u64 {
        factory
            .graph
            .calls()
            .iter()
            .filter(|(kind, _)| !kind.starts_with("GET ") && kind.contains("/v1.0/"))
            .map(|(_, n)| n)
            .sum()
    };
    let writes_before = graph_writes();
    let again = [
        created,
        iam_event(&member, "UpdateAssumeRolePolicy", ROLE),
        iam_event(&member, "TagRole", ROLE),
    ];
    assert_eq!(deliver(&factory, &again).await, Vec::<String>::new());
    assert_eq!(trust_document(&sdk, ROLE).await.unwrap(), trust);
    assert_eq!(made(&factory).len(), 1);
    assert_eq!(graph_writes(), writes_before, "{:?}", factory.graph.calls());

    // Deleted by hand: its application and audience go too.
    aws_sdk_iam::Client::new(&sdk)
        .delete_role()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    assert_eq!(
        deliver(&factory, &[iam_event(&member, "DeleteRole", ROLE)]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        factory.entra_objects(),
        (vec![], 0),
        "no application, nothing left to purge"
    );
    assert_eq!(
        audiences(&sdk, &provider).await.unwrap_or_default(),
        Vec::<String>::new()
    );
}

/// An application that still says all that is wanted is not written again, but only once
/// it is known to be the factory's: one it no longer owns (its owners changed by hand) is
/// upserted as before, which Graph refuses, and the message fails as it did before.
#[tokio::test]
async fn an_unchanged_application_the_factory_no_longer_owns_is_not_taken_as_its_own() {
    let (factory, member, _sdk) = factory_and_role(&ROLE_EVENTS_ON, &OPT_IN).await;
    let created = iam_event(&member, "CreateRole", ROLE);
    assert_eq!(
        deliver(&factory, std::slice::from_ref(&created)).await,
        Vec::<String>::new()
    );
    let apps = made(&factory);
    let [app] = apps.as_slice() else {
        panic!("one application: {apps:?}");
    };
    factory
        .graph
        .edit_application(&app.app_id, |app| app.owners.clear());
    let refused_before = factory
        .graph
        .call_count("PATCH /v1.0/applications(uniqueName)");
    assert_eq!(
        deliver(&factory, &[iam_event(&member, "TagRole", ROLE)]).await,
        ["message-0"],
        "{}",
        factory.process.logs()
    );
    assert_eq!(
        factory
            .graph
            .call_count("PATCH /v1.0/applications(uniqueName)"),
        refused_before + 1,
        "the upsert was tried, and refused"
    );
}

#[tokio::test]
async fn a_role_that_does_not_ask_is_never_touched_and_a_non_event_is_left_for_the_dead_letter_queue()
 {
    let (factory, member, sdk) =
        factory_and_role(&ROLE_EVENTS_ON, &[("team", "web"), OPT_IN[1]]).await;
    let before = (trust_document(&sdk, ROLE).await, role_tags(&sdk).await);

    let mut not_iam = iam_event(&member, "CreateRole", ROLE);
    not_iam["source"] = json!("contoso.iam");
    let failed = deliver(&factory, &[iam_event(&member, "CreateRole", ROLE), not_iam]).await;
    assert_eq!(failed, ["message-1"]);
    assert_eq!(
        (trust_document(&sdk, ROLE).await, role_tags(&sdk).await),
        before
    );
    assert!(made(&factory).is_empty());
}

#[tokio::test]
async fn a_role_made_again_under_its_name_gets_an_application_of_its_own() {
    let (factory, member, sdk) = factory_and_role(&ROLE_EVENTS_ON, &OPT_IN).await;
    assert!(
        deliver(&factory, &[iam_event(&member, "CreateRole", ROLE)])
            .await
            .is_empty()
    );
    let first = made(&factory)[0].app_id.clone();

    // Deleted and made again before the factory hears of either: the late events name
    // only the role, and the role now is another.
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.delete_role().role_name(ROLE).send().await.unwrap();
    make_role(&sdk, &OPT_IN).await;
    let late = [
        iam_event(&member, "DeleteRole", ROLE),
        iam_event(&member, "CreateRole", ROLE),
    ];
    assert!(deliver(&factory, &late).await.is_empty());

    let apps = made(&factory);
    let [app] = apps.as_slice() else {
        panic!("one application: {apps:?}")
    };
    assert_ne!(
        app.app_id, first,
        "the predecessor's application is gone, a new one made"
    );
    let tags = role_tags(&sdk).await;
    assert!(
        tags.contains(&("entra-federated-role:app-id".into(), app.app_id.clone())),
        "{tags:?}"
    );
}

/// The story's point: once its event is handled, a GitHub Actions job of the branch the
/// role's tags name signs in to Entra with its own token and assumes the role made by
/// hand; a job of another branch gets no Entra token at all.
#[tokio::test]
async fn a_ci_job_of_the_declared_branch_assumes_the_role_made_by_hand() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &ROLE_EVENTS_ON).await;
    let clouds = local_clouds(&factory).await;
    let github = TestKey::generate("github actions");
    factory.graph.add_jwks(&github.jwks()).unwrap();
    let member = random_account();
    let sdk = account_config(&member).await;
    make_role(&sdk, &OPT_IN).await;
    let role_arn = format!("arn:aws:iam::{member}:role/{ROLE}");

    assert!(
        deliver(&factory, &[iam_event(&member, "CreateRole", ROLE)])
            .await
            .is_empty()
    );
    let tags = role_tags(&sdk).await;
    let app_id = &tags
        .iter()
        .find(|(k, _)| k == "entra-federated-role:app-id")
        .expect("the app id, on the role")
        .1;
    let scope = format!("api://{app_id}/.default");
    let issuer = "https://token.actions.githubusercontent.com";
    let job = |subject| clouds.ci_job_token(&github, issuer, subject, app_id, &scope);

    let token = job("repo:contoso/web:ref:refs/heads/main")
        .await
        .expect("the job's Entra token");
    let session = clouds
        .exchange(&role_arn, &token)
        .await
        .expect("the job gets in");
    let sp = factory
        .graph
        .snapshot()
        .service_principals
        .into_iter()
        .find(|sp| &sp.app_id == app_id)
        .unwrap();
    assert_eq!(
        session.subject, sp.id,
        "as the role's own service principal"
    );

    let other = job("repo:contoso/web:ref:refs/heads/feature").await;
    assert!(
        other.as_ref().is_err_and(|e| e.contains("AADSTS700213")),
        "{other:?}"
    );
}

/// Runs the sweep, as the hub's schedule does; its report.
async fn sweep(factory: &Factory, accounts: &[&str]) -> Value {
    let event = json!({ "entra-federated-role": "sweep", "accounts": accounts });
    let id = factory.runtime.invoke(&event, Duration::from_secs(120));
    let outcome = factory.runtime.outcome(&id, Duration::from_secs(60)).await;
    let Some(Outcome::Response(body)) = outcome else {
        panic!("{outcome:?}\nlogs:\n{}", factory.process.logs());
    };
    serde_json::from_slice(&body).unwrap()
}

/// Events get lost: the sweep federates the roles that ask without them, and removes the
/// application of a role deleted without its event.
#[tokio::test]
async fn the_sweep_heals_what_lost_events_missed() {
    let (factory, member, sdk) = factory_and_role(&ROLE_EVENTS_ON, &OPT_IN).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let trust = json!({"Version": "2012-10-17", "Statement": [owners_statement()]});
    iam.create_role()
        .role_name("deploy-api")
        .assume_role_policy_document(trust.to_string())
        .set_tags(Some(vec![
            tag(OPT_IN[0].0, OPT_IN[0].1),
            tag(
                "entra-federated-role:github:api",
                "repo:contoso/api:ref:refs/heads/main",
            ),
        ]))
        .send()
        .await
        .unwrap();

    // No event arrived: the sweep of the member account finds both.
    assert_eq!(sweep(&factory, &[&member]).await, json!({"swept": true}));
    assert_eq!(made(&factory).len(), 2);
    assert!(
        role_tags(&sdk)
            .await
            .iter()
            .any(|(k, v)| k == "entra-federated-role:status" && v == "federated")
    );

    // One is deleted, its event lost: the next sweep finds its account from the
    // applications alone, and removes the orphan.
    iam.delete_role()
        .role_name("deploy-api")
        .send()
        .await
        .unwrap();
    assert_eq!(sweep(&factory, &[]).await, json!({"swept": true}));
    let apps = made(&factory);
    assert_eq!(apps.len(), 1);
    assert!(
        apps[0]
            .tags
            .contains(&format!("entra-federated-role:role-name={ROLE}")),
        "{:?}",
        apps[0].tags
    );
    assert_eq!(factory.entra_objects().1, 0, "nothing left to purge");

    // Swept again: nothing to do, nothing written.
    let before = (trust_document(&sdk, ROLE).await, made(&factory));
    assert_eq!(sweep(&factory, &[]).await, json!({"swept": true}));
    assert_eq!((trust_document(&sdk, ROLE).await, made(&factory)), before);
}

/// A role that stops asking (its opt-in set to false) while Graph fails: the message comes
/// back, and its next delivery finds the application the role no longer asks for, even
/// though the factory already took the status tags off.
#[tokio::test]
async fn a_withdrawal_stopped_midway_finishes_on_the_next_delivery() {
    let (factory, member, sdk) = factory_and_role(&ROLE_EVENTS_ON, &OPT_IN).await;
    assert!(
        deliver(&factory, &[iam_event(&member, "CreateRole", ROLE)])
            .await
            .is_empty()
    );
    aws_sdk_iam::Client::new(&sdk)
        .tag_role()
        .role_name(ROLE)
        .tags(tag("entra-federated-role:federate", "false"))
        .send()
        .await
        .unwrap();
    factory.graph.inject(FaultRule {
        method: Some("DELETE".to_owned()),
        ..FaultRule::server_error(1000, 503)
    });
    let opted_out = iam_event(&member, "TagRole", ROLE);
    // Graph fails every delete until the batch's deadline.
    let failed = deliver_within(
        &factory,
        std::slice::from_ref(&opted_out),
        Duration::from_secs(12),
    )
    .await;
    assert_eq!(failed, ["message-0"]);
    assert_eq!(made(&factory).len(), 1, "the application is still there");
    assert!(
        !role_tags(&sdk)
            .await
            .iter()
            .any(|(k, _)| k == "entra-federated-role:status"),
        "the status is off already"
    );
    factory.graph.clear_faults();
    assert!(deliver(&factory, &[opted_out]).await.is_empty());
    assert!(made(&factory).is_empty());
    assert_eq!(factory.entra_objects(), (vec![], 0));
}

/// With role events off (the hub's default), a batch or a sweep — whoever sends it — is
/// not served.
#[tokio::test]
async fn with_role_events_off_nothing_is_served() {
    let (factory, member, sdk) =
        factory_and_role(&[("MEMBER_ROLE_NAME", "EntraFederatedRoleMember")], &OPT_IN).await;
    let before = (trust_document(&sdk, ROLE).await, role_tags(&sdk).await);
    assert!(
        deliver(&factory, &[iam_event(&member, "CreateRole", ROLE)])
            .await
            .is_empty()
    );
    sweep(&factory, &[&member]).await;
    assert_eq!(
        (trust_document(&sdk, ROLE).await, role_tags(&sdk).await),
        before
    );
    assert!(made(&factory).is_empty());
}

/// A request that cannot be served however often it is tried — here, the owner's trust
/// leaves no room for the factory's statement within IAM's quota — is refused and says why
/// on the role, instead of failing until its message is dead-lettered.
#[tokio::test]
async fn a_request_that_can_never_be_served_is_refused_not_retried() {
    let (factory, member, sdk) = factory_and_role(&ROLE_EVENTS_ON, &[]).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.delete_role().role_name(ROLE).send().await.unwrap();
    let crowded = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "codebuild.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:PrincipalTag/team": "x".repeat(1700)}}
    }]});
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(crowded.to_string())
        .set_tags(Some(OPT_IN.iter().map(|(k, v)| tag(k, v)).collect()))
        .send()
        .await
        .unwrap();
    let before = trust_document(&sdk, ROLE).await;
    assert!(
        deliver(&factory, &[iam_event(&member, "CreateRole", ROLE)])
            .await
            .is_empty()
    );
    let tags = role_tags(&sdk).await;
    let value = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(
        value("entra-federated-role:status"),
        Some("refused"),
        "{tags:?}"
    );
    assert!(
        value("entra-federated-role:reason").is_some_and(|r| r.contains("2048")),
        "{tags:?}"
    );
    assert_eq!(
        trust_document(&sdk, ROLE).await,
        before,
        "the owner's trust as it was"
    );
}
