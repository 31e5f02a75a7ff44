//! The audit through the real `entra-federated-role` binary, on a deployment the real
//! factory made (moto and the Graph emulator) and then drifted by hand through their APIs.

use std::{path::Path, time::Duration};

use aws_config::SdkConfig;
use entra_federated_role::{
    deadline::Deadline,
    graph::{Application, Credential, UniqueName},
    secret::Secret,
};
use entra_federated_role_harness::{
    crash_proxy::{CrashPoints, Proxy, ProxyOptions, aws_writes},
    moto,
    runtime_api::Outcome,
};
use graph_emulator::{DeletedObject, GraphEmulator};
use serde_json::{Value, json};

use crate::graph::client;
use crate::lifecycle::{Factory, SECRET, audiences, ok, stack_in, trust_document};
use crate::moto_support::{
    account_config, account_credentials, account_stack, fresh_account, random_account,
};

pub(crate) const MEMBER_ROLE: (&str, &str) = ("MEMBER_ROLE_NAME", "EntraFederatedRoleMember");
/// An account the audit's credentials may not reach (the proxy refuses its member role).
pub(crate) const UNREACHABLE: &str = "999999999999";

fn refuse_unreachable(body: &[u8]) -> bool {
    String::from_utf8_lossy(body).contains(UNREACHABLE)
}

/// The tool as an operator runs it: with the factory's settings and the hub's
/// credentials, its AWS calls through a proxy that refuses the member role of
/// [`UNREACHABLE`].
pub(crate) struct Tool {
    pub(crate) env: Vec<(String, String)>,
    _proxy: Proxy,
}

/// What one run printed, and its exit code.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

impl Tool {
    pub(crate) async fn for_factory(factory: &Factory) -> Self {
        let proxy = CrashPoints::new()
            .proxy_with(
                moto::shared(),
                aws_writes,
                ProxyOptions {
                    refuse: Some(refuse_unreachable),
                    ..ProxyOptions::default()
                },
            )
            .await;
        let mut env: Vec<(String, String)> = factory
            .env()
            .iter()
            .filter(|(k, _)| k != "AWS_ENDPOINT_URL")
            .cloned()
            .collect();
        env.push(("AWS_ENDPOINT_URL".into(), proxy.url().to_owned()));
        env.push(("AWS_REGION".into(), "us-east-1".into()));
        Self { env, _proxy: proxy }
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        let output =
            tokio::process::Command::new(Path::new(env!("CARGO_BIN_EXE_entra-federated-role")))
                .args(args)
                .env_clear()
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .output()
                .await
                .expect("run the tool");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A resource `logical_id` of `stack` whose role is `role_name`: its response's `Data`.
pub(crate) async fn declare(
    factory: &Factory,
    stack: &str,
    logical_id: &str,
    role_name: &str,
) -> Value {
    let mut event = factory.create(
        stack,
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:111111111111:function:entra-federated-role",
            "RoleName": role_name,
            "FederatedCredentials": [{
                "Name": "github-main",
                "Issuer": "https://token.actions.githubusercontent.com",
                "Subject": format!("repo:contoso/{role_name}:ref:refs/heads/main")
            }]
        }),
    );
    event["LogicalResourceId"] = json!(logical_id);
    let body = factory.send(&event).await;
    ok(&body).clone()
}

/// A fresh member account whose stack `ci-roles` holds the resource `Web`, made through
/// `factory` with the role `role_name`: the account, its SDK configuration and the
/// response's `Data`.
pub(crate) async fn member_with_role(
    factory: &Factory,
    role_name: &str,
) -> (String, SdkConfig, Value) {
    let member = random_account();
    let sdk = account_config(&member).await;
    let stack = account_stack(
        &sdk,
        &account_credentials(&member).await,
        "ci-roles",
        &["Web"],
    )
    .await;
    let data = declare(factory, &stack.id, "Web", role_name).await;
    (member, sdk, data)
}

fn app_id(data: &Value) -> String {
    data["ApplicationId"].as_str().unwrap().to_owned()
}

/// Soft-deletes the application `app_id` through Graph, as an administrator would.
async fn delete_app_by_hand(graph: &GraphEmulator, app_id: &str) {
    let snapshot = graph.snapshot();
    let app = snapshot
        .applications
        .iter()
        .find(|a| a.app_id == app_id)
        .expect("the application");
    let application: Application =
        serde_json::from_value(json!({"id": app.id, "appId": app.app_id})).unwrap();
    let unique_name = UniqueName::parse(app.unique_name.as_deref().unwrap()).unwrap();
    let by_hand = client(graph, Credential::ClientSecret(Secret::new(SECRET)));
    let deadline = Deadline::after(Duration::from_secs(30));
    assert!(
        by_hand
            .soft_delete_application(&unique_name, &application, deadline)
            .await
            .unwrap()
    );
}

/// Deletes the service principal of the application `app_id` through Graph, as an
/// administrator would in the portal's enterprise applications.
async fn delete_service_principal_by_hand(graph: &GraphEmulator, app_id: &str) {
    let snapshot = graph.snapshot();
    let sp = snapshot
        .service_principal(app_id)
        .expect("the service principal");
    let by_hand = client(graph, Credential::ClientSecret(Secret::new(SECRET)));
    let token = by_hand
        .access_token(Deadline::after(Duration::from_secs(30)))
        .await
        .unwrap();
    let deleted = reqwest::Client::new()
        .delete(format!("{}/v1.0/servicePrincipals/{}", graph.url(), sp.id))
        .bearer_auth(token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204, "{:?}", deleted.text().await);
}

async fn delete_role_by_hand(sdk: &SdkConfig, name: &str) {
    aws_sdk_iam::Client::new(sdk)
        .delete_role()
        .role_name(name)
        .send()
        .await
        .unwrap();
}

/// Each finding's kind and the ids of its objects, as the JSON report has them.
fn findings(report: &Value) -> Vec<(String, Vec<String>)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let ids = f["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect();
            (f["kind"].as_str().unwrap().to_owned(), ids)
        })
        .collect()
}

/// Checks `report` against the documented schema (`docs/audit-report.schema.json`) with
/// the test command's pinned `jsonschema`.
async fn conforms(report: &Value) {
    let schema = moto::workspace_root().join("docs/audit-report.schema.json");
    let check = "import json, sys, jsonschema\n\
                 schema = json.load(open(sys.argv[1]))\n\
                 jsonschema.Draft7Validator.check_schema(schema)\n\
                 jsonschema.validate(json.load(sys.stdin), schema)";
    let mut child = tokio::process::Command::new(moto::python().unwrap())
        .args(["-c", check])
        .arg(&schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, report.to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "the report does not follow its schema:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn kinds(report: &Value) -> Vec<String> {
    findings(report).into_iter().map(|(kind, _)| kind).collect()
}

#[tokio::test]
async fn a_deployment_as_the_factory_left_it_audits_clean() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[MEMBER_ROLE]).await;
    member_with_role(&factory, "audit-clean").await;
    let tool = Tool::for_factory(&factory).await;

    let table = tool.run(&["audit", "--settle", "0"]).await;
    assert_eq!(table.code, 0, "{}\n{}", table.stdout, table.stderr);
    assert!(
        table.stdout.contains("No findings: both clouds agree."),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("Audited 1 accounts (0 unreachable), 1 applications, 1 roles"),
        "{}",
        table.stdout
    );
    let json = tool
        .run(&["audit", "--settle", "0", "--format", "json"])
        .await
        .json();
    assert_eq!(json["findings"], json!([]));
    assert_eq!(json["summary"]["quota"]["used"], 2);
    conforms(&json).await;

    // Fresh objects are left to the events that may be working on them.
    let settling = tool.run(&["audit", "--format", "json"]).await.json();
    assert_eq!(
        settling["summary"]["settling"], 0,
        "a healthy pair is not held back"
    );

    // The factory's own settings are checked before anything is read.
    let bad = tool.run(&["audit", "--tenant-id", "not-a-guid"]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("ENTRA_TENANT_ID"), "{}", bad.stderr);
}

#[tokio::test]
async fn every_drift_is_named_once_and_fix_repairs_only_what_is_the_factorys() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[MEMBER_ROLE]).await;
    let graph = &factory.graph;
    let (a, b) = (random_account(), random_account());
    let (a_sdk, b_sdk) = (account_config(&a).await, account_config(&b).await);
    let logical_ids = [
        "Secret",
        "Widened",
        "NoRole",
        "NoApp",
        "Creds",
        "Assign",
        "Unfinished",
        "NoSp",
    ];
    let stack = account_stack(
        &a_sdk,
        &account_credentials(&a).await,
        "ci-roles",
        &logical_ids,
    )
    .await;
    let mut data = std::collections::BTreeMap::new();
    for id in logical_ids {
        let role = format!("audit-{}", id.to_ascii_lowercase());
        data.insert(id, declare(&factory, &stack.id, id, &role).await);
    }
    // A resource whose stack CloudFormation does not know (deleted long ago).
    let retired = declare(&factory, &stack_in(&a), "Retired", "audit-retired").await;
    let tenant = graph.tenant_id();
    let issuer = format!("https://sts.windows.net/{tenant}/");
    let provider_a = format!("arn:aws:iam::{a}:oidc-provider/sts.windows.net/{tenant}/");
    let provider_b = format!("arn:aws:iam::{b}:oidc-provider/sts.windows.net/{tenant}/");
    let aud = |id: &str| format!("api://{}", app_id(&data[id]));

    // What is not the factory's, and must stay as it is.
    let foreign_app = graph.seed_foreign_application("someone else's app", true);
    let foreign_trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_a},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {format!("sts.windows.net/{tenant}/:aud"): "api://someone-elses"}}
    }]});
    aws_sdk_iam::Client::new(&a_sdk)
        .create_role()
        .role_name("not-ours")
        .assume_role_policy_document(foreign_trust.to_string())
        .send()
        .await
        .unwrap();

    // A look-alike that copied a generation's markers: someone else owns it.
    let no_role_tags = graph
        .snapshot()
        .applications
        .iter()
        .find(|app| app.app_id == app_id(&data["NoRole"]))
        .unwrap()
        .tags
        .clone();
    let copied: Vec<&str> = no_role_tags.iter().map(String::as_str).collect();
    let look_alike = graph.seed_foreign_application_named("efr-look-alike", &copied);

    // The drift, by hand.
    let secret_app = app_id(&data["Secret"]);
    let password = graph.add_password(&secret_app, "added by hand");
    let key = graph.add_key_credential(&secret_app, "added by hand");
    let mut widened = trust_document(&a_sdk, "audit-widened").await.unwrap();
    let wide_open = json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{a}:root")}, "Action": "sts:AssumeRole"});
    widened["Statement"].as_array_mut().unwrap().push(wide_open);
    aws_sdk_iam::Client::new(&a_sdk)
        .update_assume_role_policy()
        .role_name("audit-widened")
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();
    delete_role_by_hand(&a_sdk, "audit-norole").await;
    delete_app_by_hand(graph, &app_id(&data["NoApp"])).await;
    graph.edit_application(&app_id(&data["Creds"]), |app| {
        app.federated_identity_credentials[0].subject = "repo:mallory/x:ref:refs/heads/main".into();
    });
    graph.edit_service_principal(&app_id(&data["Assign"]), |sp| {
        sp.app_role_assignment_required = true;
    });
    delete_service_principal_by_hand(graph, &app_id(&data["NoSp"])).await;
    delete_role_by_hand(&a_sdk, "audit-unfinished").await;
    delete_app_by_hand(graph, &app_id(&data["Unfinished"])).await;
    aws_sdk_iam::Client::new(&b_sdk)
        .create_open_id_connect_provider()
        .url(&issuer)
        .client_id_list(aud("Secret"))
        .client_id_list("api://someone-elses")
        .thumbprint_list("a".repeat(40))
        .send()
        .await
        .unwrap();

    let tool = Tool::for_factory(&factory).await;
    let audit = [
        "audit",
        "--settle",
        "0",
        "--format",
        "json",
        "--object-quota",
        "40",
        "--account",
        UNREACHABLE,
        "--account",
        &b,
    ];
    let run = tool.run(&audit).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    conforms(&report).await;
    let role_arn = |name: &str| format!("arn:aws:iam::{a}:role/{name}");
    let sp_of = |id: &str| {
        graph
            .snapshot()
            .service_principals
            .iter()
            .find(|sp| sp.app_id == app_id(&data[id]))
            .map(|sp| sp.id.clone())
            .unwrap()
    };
    let found = findings(&report);
    let named = |kind: &str| -> Vec<Vec<String>> {
        found
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, ids)| ids.clone())
            .collect()
    };
    assert_eq!(
        named("unreachable-account"),
        [vec![UNREACHABLE.to_owned()]],
        "{report:#}"
    );
    assert_eq!(
        named("password-credential"),
        [vec![
            secret_app.clone(),
            password.key_id.clone(),
            role_arn("audit-secret")
        ]]
    );
    assert_eq!(
        named("key-credential"),
        [vec![
            secret_app.clone(),
            key.key_id.clone(),
            role_arn("audit-secret")
        ]]
    );
    assert_eq!(
        named("trust-drift"),
        [vec![role_arn("audit-widened"), app_id(&data["Widened"])]]
    );
    assert_eq!(
        named("app-without-role"),
        [vec![app_id(&data["NoRole"]), sp_of("NoRole")]]
    );
    let no_app = named("role-without-app");
    assert_eq!(no_app.len(), 1, "{report:#}");
    assert_eq!(no_app[0][0], role_arn("audit-noapp"));
    assert_eq!(named("credentials-changed").len(), 1);
    assert_eq!(
        named("credentials-changed")[0][..2],
        [app_id(&data["Creds"]), role_arn("audit-creds")]
    );
    assert_eq!(
        named("service-principal-missing"),
        [vec![app_id(&data["NoSp"]), role_arn("audit-nosp")]]
    );
    assert_eq!(
        named("assignment-changed"),
        [vec![
            app_id(&data["Assign"]),
            sp_of("Assign"),
            role_arn("audit-assign")
        ]]
    );
    assert_eq!(named("orphaned-audience"), [vec![aud("Secret")]]);
    let unfinished = named("unfinished-removal");
    assert_eq!(unfinished.len(), 1, "{report:#}");
    assert_eq!(unfinished[0].last(), Some(&aud("Unfinished")), "{report:#}");
    assert_eq!(named("stack-gone").len(), 1);
    assert_eq!(named("stack-gone")[0][0], role_arn("audit-retired"));
    assert_eq!(named("quota-low").len(), 1);
    assert_eq!(named("app-not-owned"), [vec![look_alike.app_id.clone()]]);
    // Every kind exactly once: nothing else was found.
    assert_eq!(found.len(), 14, "{report:#}");
    assert_eq!(report["summary"]["foreignAudiences"], 1, "{report:#}");
    let _ = retired;

    // The fix: exactly what its plan says, and nothing of anyone else's.
    let before = graph.snapshot();
    let mut fix = audit.to_vec();
    fix.extend(["--fix", "--remove-credentials", "password,key"]);
    let fixed = tool.run(&fix).await;
    let fixed_json = fixed.json();
    conforms(&fixed_json).await;
    let planned: Vec<&str> = fixed_json["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    let repaired: Vec<(&str, bool)> = fixed_json["repairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["done"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        planned,
        [
            "password-credential",
            "key-credential",
            "trust-drift",
            "app-without-role",
            "unfinished-removal"
        ],
        "{fixed_json:#}"
    );
    assert_eq!(
        repaired,
        planned.iter().map(|k| (*k, true)).collect::<Vec<_>>(),
        "{fixed_json:#}"
    );
    // What only people can mend is left; the purges brought the quota back above its
    // warning line (18 objects of 40 before, 14 after).
    assert_eq!(
        kinds(&fixed_json["after"]),
        [
            "unreachable-account",
            "app-not-owned",
            "role-without-app",
            "service-principal-missing",
            "credentials-changed",
            "assignment-changed",
            "orphaned-audience",
            "stack-gone",
        ],
        "{fixed_json:#}"
    );
    assert_eq!(fixed_json["after"]["summary"]["quota"]["used"], 14);
    assert_eq!(fixed.code, 1);

    // Entra: the secrets and the orphans are gone; everything else is as it was.
    let after = graph.snapshot();
    let secret = after
        .applications
        .iter()
        .find(|a| a.app_id == secret_app)
        .unwrap();
    assert!(secret.password_credentials.is_empty() && secret.key_credentials.is_empty());
    let gone = [app_id(&data["NoRole"]), app_id(&data["Unfinished"])];
    assert!(after.applications.iter().all(|a| !gone.contains(&a.app_id)));
    let deleted_app_id = |d: &graph_emulator::DeletedItem| match &d.object {
        DeletedObject::Application(a) => a.app_id.clone(),
        DeletedObject::ServicePrincipal(sp) => sp.app_id.clone(),
    };
    assert!(
        after
            .deleted_items
            .iter()
            .all(|d| !gone.contains(&deleted_app_id(d))),
        "{:?}",
        after.deleted_items
    );
    let untouched =
        |a: &&graph_emulator::Application| !gone.contains(&a.app_id) && a.app_id != secret_app;
    assert_eq!(
        before
            .applications
            .iter()
            .filter(untouched)
            .collect::<Vec<_>>(),
        after
            .applications
            .iter()
            .filter(untouched)
            .collect::<Vec<_>>()
    );
    assert!(
        after
            .applications
            .iter()
            .any(|a| a.app_id == foreign_app.app_id)
    );
    // AWS: the trust is the factory's again; the audiences of the removed generations are
    // gone, others stay.
    let restored = trust_document(&a_sdk, "audit-widened").await.unwrap();
    assert_eq!(
        restored["Statement"].as_array().unwrap().len(),
        1,
        "{restored:#}"
    );
    assert_eq!(
        restored["Statement"][0]["Condition"]["StringEquals"]
            [format!("sts.windows.net/{tenant}/:aud")],
        aud("Widened")
    );
    let on_a = audiences(&a_sdk, &provider_a).await.unwrap();
    assert!(
        !on_a.contains(&aud("NoRole")) && !on_a.contains(&aud("Unfinished")),
        "{on_a:?}"
    );
    assert!(
        on_a.contains(&aud("Secret")) && on_a.contains(&aud("Creds")),
        "{on_a:?}"
    );
    // The audience someone put on another account's provider is theirs to remove.
    assert_eq!(
        audiences(&b_sdk, &provider_b).await.unwrap(),
        [aud("Secret"), "api://someone-elses".to_owned()]
    );
    assert_eq!(
        trust_document(&a_sdk, "not-ours").await.unwrap(),
        foreign_trust
    );
    assert!(
        trust_document(&a_sdk, "audit-noapp").await.is_some(),
        "a role is never deleted for want of its app"
    );
}

#[tokio::test]
async fn the_table_says_what_each_finding_means_and_what_fix_would_do() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[MEMBER_ROLE]).await;
    let (member, sdk, data) = member_with_role(&factory, "audit-table").await;
    delete_role_by_hand(&sdk, "audit-table").await;
    let tool = Tool::for_factory(&factory).await;
    let run = tool
        .run(&["audit", "--settle", "0", "--account", UNREACHABLE])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    for line in [
        "2 findings:",
        "KIND",
        &format!("unreachable-account  {UNREACHABLE}"),
        &format!("app-without-role     {member}"),
        &format!("application {}", app_id(&data)),
        "What they mean and what to do:",
        "  app-without-role: an application nobody can use",
        "(`--fix` does)",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in\n{}", run.stdout);
    }
    // Made a moment ago, it is left to the event that may still be working on it.
    let fresh = tool.run(&["audit", "--format", "json"]).await.json();
    assert_eq!(fresh["findings"], json!([]), "{fresh:#}");
    assert_eq!(fresh["summary"]["settling"], 1);
}

/// Runs the hub's scheduled audit in `factory`: what the function answered Lambda.
async fn scheduled(factory: &Factory) -> Outcome {
    let id = factory.runtime.invoke(
        &json!({"entra-federated-role": "audit"}),
        Duration::from_secs(60),
    );
    factory
        .runtime
        .outcome(&id, Duration::from_secs(70))
        .await
        .unwrap_or_else(|| panic!("no answer\nlogs:\n{}", factory.process.logs()))
}

/// A queue in the hub that receives the audit's events from the default bus.
async fn audit_events_queue(hub: &SdkConfig) -> String {
    let sqs = aws_sdk_sqs::Client::new(hub);
    let queue = sqs
        .create_queue()
        .queue_name(format!("audit-events-{}", fastrand::u32(..)))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let events = aws_sdk_eventbridge::Client::new(hub);
    let rule = format!("audit-{}", fastrand::u32(..));
    events
        .put_rule()
        .name(&rule)
        .event_pattern(json!({"source": ["entra-federated-role"]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    queue
}

async fn received(hub: &SdkConfig, queue: &str) -> Vec<Value> {
    let messages = aws_sdk_sqs::Client::new(hub)
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    messages
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn the_scheduled_audit_publishes_its_findings_as_metrics_and_events() {
    let (hub, hub_sdk) = fresh_account().await;
    let factory = Factory::start(&hub, &[MEMBER_ROLE]).await;
    let queue = audit_events_queue(&hub_sdk).await;
    let (member, _, data) = member_with_role(&factory, "audit-scheduled").await;
    let password = factory.graph.add_password(&app_id(&data), "added by hand");

    let Outcome::Response(body) = scheduled(&factory).await else {
        panic!("an answer\nlogs:\n{}", factory.process.logs());
    };
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer, json!({"audited": true, "findings": 1}));
    // Metrics, in the embedded metric format: by kind, and in all.
    let logs = factory.process.logs();
    let documents: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"]
                == "EntraFederatedRole/entra-federated-role"
        })
        .collect();
    let by_kind = |kind: &str| {
        documents
            .iter()
            .find(|d| d["Kind"] == kind)
            .map(|d| d["Findings"].clone())
    };
    assert_eq!(by_kind("password-credential"), Some(json!(1)), "{logs}");
    assert_eq!(by_kind("trust-drift"), Some(json!(0)));
    let total = documents.iter().find(|d| d.get("Kind").is_none()).unwrap();
    assert_eq!(total["Findings"], 1);
    assert_eq!(
        total["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([[]])
    );
    // Events: the finding, then the summary.
    let events = received(&hub_sdk, &queue).await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Entra Federated Role Audit Finding",
            "Entra Federated Role Audit Report"
        ],
        "{events:#?}"
    );
    assert_eq!(events[0]["detail"]["kind"], "password-credential");
    assert_eq!(
        events[0]["detail"]["objects"][1]["id"],
        password.key_id.as_str()
    );
    assert_eq!(
        events[0]["resources"],
        json!([format!("arn:aws:iam::{member}:role/audit-scheduled")])
    );
    assert_eq!(
        events[1]["detail"]["summary"]["findings"]["password-credential"],
        1
    );
    // Nothing was repaired.
    let app = factory.graph.snapshot();
    let app = app
        .applications
        .iter()
        .find(|a| a.app_id == app_id(&data))
        .unwrap();
    assert_eq!(app.password_credentials.len(), 1);
}

#[tokio::test]
async fn a_scheduled_audit_that_cannot_read_entra_is_the_functions_error() {
    let (hub, _) = fresh_account().await;
    // A client id the tenant does not know: the factory cannot sign in.
    let unknown = ("ENTRA_CLIENT_ID", "0badc1d0-0000-4000-8000-000000000000");
    let factory = Factory::start(&hub, &[MEMBER_ROLE, unknown]).await;
    let outcome = scheduled(&factory).await;
    let Outcome::Error { body, .. } = outcome else {
        panic!("{outcome:?}");
    };
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("AADSTS"), "{body}");
}
