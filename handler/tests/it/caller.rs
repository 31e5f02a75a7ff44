//! The caller check through the real `bootstrap` (DESIGN §2, `VERIFY_CALLER_STACK` on):
//! every phase in which CloudFormation sends us a request is served, and a forged event —
//! another resource's logical id or type, a resource that is not in progress, a stale
//! event, an Update or Delete with a resource's real ids outside its window — is refused
//! with nothing written in either cloud and a `Reason` that tells a forger nothing.
//!
//! The stacks are real moto stacks in an account of the test's own: moto records the
//! Create of each custom resource as CloudFormation does; for the phases moto does not
//! drive, the test records what CloudFormation records before it sends each request
//! (the harness's `stacks`).

use std::time::Duration;

use aws_config::SdkConfig;
use entra_federated_role_harness::{factory::SetupError, stacks::Stack};
use graph_emulator::Snapshot;
use serde_json::{Value, json};

use crate::{
    lifecycle::{Factory, ok, properties, trust},
    moto_support::{account_config, account_credentials, account_stack, random_account},
};

/// What a refusal says, whatever was forged.
const REFUSED: &str = "the calling stack could not be confirmed, so nothing was changed: CloudFormation is not running this request for this stack and resource";

/// The factory serving stacks in its own account, with the caller check on, and a stack
/// there holding our `logical_ids` (all waiting for their Create) and an SQS queue.
async fn scene(logical_ids: &[&str]) -> (Factory, SdkConfig, Stack) {
    let account = random_account();
    let sdk = account_config(&account).await;
    let credentials = account_credentials(&account).await;
    let factory = Factory::start(&account, &[("VERIFY_CALLER_STACK", "true")]).await;
    let name = format!("ci-roles-{}", fastrand::u32(..));
    let stack = account_stack(&sdk, &credentials, &name, logical_ids).await;
    (factory, sdk, stack)
}

fn named(role_name: &str) -> Value {
    let mut properties = properties();
    properties["RoleName"] = json!(role_name);
    properties
}

fn physical_id(body: &Value) -> String {
    ok(body);
    body["PhysicalResourceId"].as_str().unwrap().to_owned()
}

fn role_name(physical_id: &str) -> &str {
    physical_id.rsplit('/').next().unwrap()
}

async fn role_exists(sdk: &SdkConfig, name: &str) -> bool {
    trust(sdk, name).await.is_some()
}

/// Everything the factory could have changed in IAM: every role with its trust,
/// description, tags and policies, and every OIDC provider with its audiences.
async fn iam_state(sdk: &SdkConfig) -> Vec<String> {
    let iam = aws_sdk_iam::Client::new(sdk);
    let mut state = Vec::new();
    for role in iam.list_roles().send().await.unwrap().roles() {
        let name = role.role_name();
        let full = iam.get_role().role_name(name).send().await.unwrap();
        let attached = iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .unwrap();
        let inline = iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .unwrap();
        state.push(format!(
            "{:?} {:?} {:?}",
            full.role(),
            attached.attached_policies(),
            inline.policy_names()
        ));
    }
    for provider in iam
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap()
        .open_id_connect_provider_list()
    {
        let arn = provider.arn().unwrap();
        let found = iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .unwrap();
        state.push(format!("{arn} {:?}", found.client_id_list()));
    }
    state
}

/// Both clouds, for "nothing was changed".
async fn both_clouds(factory: &Factory, sdk: &SdkConfig) -> (Vec<String>, Snapshot) {
    (iam_state(sdk).await, factory.graph.snapshot())
}

async fn refused(factory: &Factory, event: &Value) {
    let body = factory.send(event).await;
    assert_eq!(body["Status"], "FAILED", "{body:#}");
    assert_eq!(body["Reason"], REFUSED, "{body:#}");
}

fn reason_of(body: &Value) -> &str {
    body["Reason"].as_str().unwrap_or_default()
}

fn with(mut event: Value, field: &str, value: &str) -> Value {
    event[field] = json!(value);
    event
}

#[tokio::test]
async fn every_phase_cloudformation_runs_is_served() -> Result<(), SetupError> {
    let (factory, sdk, stack) = scene(&["CiRole"]).await;
    let id = &stack.id;

    // Create (moto recorded CREATE_IN_PROGRESS when it created the stack).
    let first = physical_id(&factory.send(&factory.create(id, named("ci-first"))).await);
    stack.record("CiRole", "CREATE_COMPLETE", &first).await?;
    stack.status("CREATE_COMPLETE").await?;

    // An in-place update.
    let mut described = named("ci-first");
    described["Description"] = json!("changed in place");
    stack.status("UPDATE_IN_PROGRESS").await?;
    stack.record("CiRole", "UPDATE_IN_PROGRESS", &first).await?;
    let update = factory.update(id, &first, named("ci-first"), described.clone());
    assert_eq!(physical_id(&factory.send(&update).await), first);
    stack.record("CiRole", "UPDATE_COMPLETE", &first).await?;

    // A replacement, then the cleanup phase's Delete of the old generation.
    stack.record("CiRole", "UPDATE_IN_PROGRESS", &first).await?;
    let replace = factory.update(id, &first, described.clone(), named("ci-second"));
    let second = physical_id(&factory.send(&replace).await);
    assert_ne!(second, first);
    stack.record("CiRole", "UPDATE_COMPLETE", &second).await?;
    stack.status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS").await?;
    stack.record("CiRole", "DELETE_IN_PROGRESS", &first).await?;
    // A forger naming the old id, as CloudFormation does now, but the live generation's
    // properties: refused, the live role stays.
    let forged = factory
        .send(&factory.delete(id, &first, named("ci-second")))
        .await;
    assert_eq!(forged["Status"], "FAILED", "{forged:#}");
    assert!(
        reason_of(&forged).contains("is not the role these properties name"),
        "{forged:#}"
    );
    assert!(role_exists(&sdk, role_name(&second)).await);
    ok(&factory.send(&factory.delete(id, &first, described)).await);
    stack.record("CiRole", "DELETE_COMPLETE", &first).await?;
    stack.status("UPDATE_COMPLETE").await?;
    assert!(!role_exists(&sdk, role_name(&first)).await);
    assert!(role_exists(&sdk, role_name(&second)).await);

    // Another replacement that the stack's update then rolls back: the rollback's Update
    // with the old properties, then the rollback cleanup's Delete of the new generation.
    stack.status("UPDATE_IN_PROGRESS").await?;
    stack
        .record("CiRole", "UPDATE_IN_PROGRESS", &second)
        .await?;
    let replace = factory.update(id, &second, named("ci-second"), named("ci-third"));
    let third = physical_id(&factory.send(&replace).await);
    stack.record("CiRole", "UPDATE_COMPLETE", &third).await?;
    stack.status("UPDATE_ROLLBACK_IN_PROGRESS").await?;
    stack
        .record("CiRole", "UPDATE_IN_PROGRESS", &second)
        .await?;
    let roll_back = factory.update(id, &second, named("ci-third"), named("ci-second"));
    assert_eq!(physical_id(&factory.send(&roll_back).await), second);
    stack.record("CiRole", "UPDATE_COMPLETE", &second).await?;
    stack
        .status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        .await?;
    stack.record("CiRole", "DELETE_IN_PROGRESS", &third).await?;
    ok(&factory
        .send(&factory.delete(id, &third, named("ci-third")))
        .await);
    stack.record("CiRole", "DELETE_COMPLETE", &third).await?;
    stack.status("UPDATE_ROLLBACK_COMPLETE").await?;
    assert!(!role_exists(&sdk, role_name(&third)).await);

    // The stack's deletion.
    stack.status("DELETE_IN_PROGRESS").await?;
    stack
        .record("CiRole", "DELETE_IN_PROGRESS", &second)
        .await?;
    ok(&factory
        .send(&factory.delete(id, &second, named("ci-second")))
        .await);
    assert!(!role_exists(&sdk, role_name(&second)).await);
    assert_eq!(
        factory.entra_objects(),
        (vec![], 0),
        "nothing left in Entra"
    );
    Ok(())
}

#[tokio::test]
async fn the_rollback_of_a_failed_create_is_served() -> Result<(), SetupError> {
    let (factory, sdk, stack) = scene(&["CiRole"]).await;
    // The Create fails after writing: its role name is taken by a role not ours, which
    // shows only once the Entra application is registered.
    foreign_role(&sdk, "ci-taken").await;
    let body = factory
        .send(&factory.create(&stack.id, named("ci-taken")))
        .await;
    assert_eq!(body["Status"], "FAILED", "{body:#}");
    assert_eq!(factory.entra_objects().0.len(), 1, "the app was made");
    let failed = body["PhysicalResourceId"].as_str().unwrap().to_owned();
    stack.record("CiRole", "CREATE_FAILED", &failed).await?;
    stack.status("ROLLBACK_IN_PROGRESS").await?;
    stack
        .record("CiRole", "DELETE_IN_PROGRESS", &failed)
        .await?;

    ok(&factory
        .send(&factory.delete(&stack.id, &failed, named("ci-taken")))
        .await);

    assert_eq!(
        factory.entra_objects(),
        (vec![], 0),
        "the partial work is gone"
    );
    assert!(
        role_exists(&sdk, "ci-taken").await,
        "the role not ours is left"
    );
    Ok(())
}

/// A role named `name` that the factory did not make.
pub(crate) async fn foreign_role(sdk: &SdkConfig, name: &str) {
    aws_sdk_iam::Client::new(sdk)
        .create_role()
        .role_name(name)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}).to_string(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn forged_events_change_nothing_in_either_cloud() -> Result<(), SetupError> {
    let (factory, sdk, stack) = scene(&["CiRole", "Stale"]).await;
    let id = &stack.id;
    let real = physical_id(&factory.send(&factory.create(id, named("ci-real"))).await);
    stack.record("CiRole", "CREATE_COMPLETE", &real).await?;
    // "Stale" has waited for its Create for two hours: CloudFormation gave up long ago.
    stack
        .record_aged("Stale", "CREATE_IN_PROGRESS", "", Duration::from_secs(7200))
        .await?;
    let before = both_clouds(&factory, &sdk).await;

    let forged = named("ci-forged");
    let mut unknown_client = named("ci-forged");
    unknown_client["TrustedClientAppIds"] = json!(["0f0f0f0f-0000-4000-8000-000000000000"]);
    let mut attacker = named("ci-real");
    attacker["FederatedCredentials"] = json!([{
        "Name": "attacker",
        "Issuer": "https://token.actions.githubusercontent.com",
        "Subject": "repo:attacker/repo:ref:refs/heads/main"
    }]);
    for event in [
        // Another resource of the stack, whatever type the event claims for it.
        with(
            factory.create(id, forged.clone()),
            "LogicalResourceId",
            "Queue",
        ),
        with(
            with(
                factory.create(id, forged.clone()),
                "LogicalResourceId",
                "Queue",
            ),
            "ResourceType",
            "AWS::SQS::Queue",
        ),
        // A logical id the stack does not have.
        with(
            factory.create(id, forged.clone()),
            "LogicalResourceId",
            "Nope",
        ),
        // ...naming a trusted client that does not exist: the forger does not learn that.
        with(
            factory.create(id, unknown_client),
            "LogicalResourceId",
            "Nope",
        ),
        // Our resource, which CloudFormation created already: a replayed Create.
        factory.create(id, forged.clone()),
        // A Create CloudFormation gave up on.
        with(
            factory.create(id, forged.clone()),
            "LogicalResourceId",
            "Stale",
        ),
        // An Update and a Delete with the resource's real ids, outside any update.
        factory.update(id, &real, named("ci-real"), attacker.clone()),
        factory.delete(id, &real, named("ci-real")),
        // A stack that does not exist.
        with(
            factory.create(id, forged.clone()),
            "StackId",
            &id.replace("ci-roles", "no-such-stack"),
        ),
    ] {
        refused(&factory, &event).await;
    }

    assert_eq!(both_clouds(&factory, &sdk).await, before);
    let logs = factory.process.logs();
    assert!(
        logs.contains("the resource is a AWS::SQS::Queue")
            && logs.contains("the resource's newest event is CREATE_COMPLETE"),
        "the details are logged for the operator:\n{logs}"
    );
    Ok(())
}
