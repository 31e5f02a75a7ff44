//! The AWS side against moto's server (extended with the OIDC client-id actions): the
//! shared provider, the role, hub mode and caller verification. Each test works in
//! accounts of its own, so tests share one moto and run in parallel.

use std::time::Duration;

use aws_config::SdkConfig;
use entra_federated_role::{
    aws::{
        AccountError, Aws, Place,
        caller::{CallerCheck, CallerError},
        provider::{ProviderCleanup, ProviderError},
        role::{RoleDeletion, RoleError},
    },
    core::with_provider,
    deadline::Deadline,
    domain::{
        Cloud, Properties, RoleName, TokenVersion,
        caller::{Refusal, Request},
        federation::provider_arn,
        ownership::{Ownership, StackArn, TAG_MANAGED_BY},
        role::RoleSpec,
        trust::trust_policy,
    },
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::{
    events::TENANT,
    moto_support::{
        DEFAULT_ACCOUNT, account_config, config, fresh_account, moto_stack, random_account,
        root_credentials,
    },
};

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(60))
}

fn issuer() -> String {
    Cloud::Public.issuer(TENANT, TokenVersion::V1)
}

/// What a Delete's provider clean-up does now for the test issuer.
async fn cleanup(account: &entra_federated_role::aws::Account) -> ProviderCleanup {
    account
        .delete_provider_if_unused(&issuer(), deadline())
        .await
        .unwrap()
}

fn stack(account: &str) -> StackArn {
    StackArn::parse(&format!(
        "arn:aws:cloudformation:us-east-1:{account}:stack/ci-roles/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1"
    ))
    .unwrap()
}

fn function_arn(account: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{account}:function:entra-federated-role")
}

/// The factory in `account` working on a stack in the same account.
async fn single_account() -> (entra_federated_role::aws::Account, SdkConfig) {
    let (id, config) = fresh_account().await;
    let aws = Aws::new(config.clone(), None);
    let account = aws
        .account(
            &Place::from(&stack(&id)),
            &function_arn(&id),
            "efr-test",
            deadline(),
        )
        .await
        .unwrap();
    (account, config)
}

/// A fresh account whose provider for the tenant exists, as the resource makes sure
/// before it writes a trust naming it (IAM refuses a trust naming a missing provider).
async fn account_with_provider() -> (entra_federated_role::aws::Account, SdkConfig) {
    let (account, config) = single_account().await;
    account
        .ensure_provider(&issuer(), "api://app", deadline())
        .await
        .unwrap();
    (account, config)
}

async fn provider(config: &SdkConfig, arn: &str) -> Option<(Vec<String>, Vec<(String, String)>)> {
    let got = aws_sdk_iam::Client::new(config)
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .ok()?;
    let mut audiences = got.client_id_list().to_vec();
    audiences.sort();
    let tags = got
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    Some((audiences, tags))
}

/// A role spec for `properties`, trusting `subjects` through the tenant's provider.
fn spec(account: &str, name: &str, properties: Value, subjects: &[&str]) -> RoleSpec {
    let properties = Properties::parse(&properties).unwrap();
    let provider = provider_arn("aws", account, &issuer());
    let subjects: Vec<String> = subjects.iter().map(|s| (*s).to_owned()).collect();
    let trust = trust_policy(&provider, &issuer(), "api://app", &subjects).unwrap();
    let ownership = Ownership {
        stack_id: stack(account).arn,
        logical_id: "CiRole".into(),
        generation: "0123456789abcdef0123".into(),
    };
    RoleSpec::new(
        &properties,
        RoleName::parse(name).unwrap(),
        trust,
        ownership,
    )
}

const SUB_A: &str = "11111111-1111-1111-1111-111111111111";
const SUB_B: &str = "22222222-2222-2222-2222-222222222222";

#[tokio::test]
async fn the_provider_is_created_when_absent_and_adopted_when_present() {
    let (account, config) = single_account().await;

    let first = account
        .ensure_provider(&issuer(), "api://one", deadline())
        .await
        .unwrap();
    assert!(first.created);
    let (audiences, tags) = provider(&config, &first.arn).await.unwrap();
    assert_eq!(audiences, ["api://one"]);
    assert_eq!(
        tags,
        [(TAG_MANAGED_BY.to_owned(), "entra-federated-role".to_owned())]
    );

    let second = account
        .ensure_provider(&issuer(), "api://two", deadline())
        .await
        .unwrap();
    assert_eq!(second.arn, first.arn);
    assert!(!second.created, "an existing provider is adopted");
    assert_eq!(
        provider(&config, &first.arn).await.unwrap().0,
        ["api://one", "api://two"]
    );
}

#[tokio::test]
async fn a_foreign_provider_and_its_audiences_are_never_touched() {
    let (account, config) = single_account().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let foreign = iam
        .create_open_id_connect_provider()
        .url(issuer())
        .client_id_list("api://someone-elses-app")
        .send()
        .await
        .unwrap();
    let arn = foreign.open_id_connect_provider_arn().unwrap().to_owned();

    let ours = account
        .ensure_provider(&issuer(), "api://ours", deadline())
        .await
        .unwrap();
    assert_eq!((ours.arn.as_str(), ours.created), (arn.as_str(), false));
    let (audiences, tags) = provider(&config, &arn).await.unwrap();
    assert_eq!(audiences, ["api://ours", "api://someone-elses-app"]);
    assert!(tags.is_empty(), "an adopted provider is not marked as ours");

    account
        .remove_audience(&arn, "api://ours", deadline())
        .await
        .unwrap();
    // Removing it again converges on the same state.
    account
        .remove_audience(&arn, "api://ours", deadline())
        .await
        .unwrap();
    assert_eq!(
        provider(&config, &arn).await.unwrap().0,
        ["api://someone-elses-app"]
    );
    // Even once empty, a provider we did not create stays.
    iam.remove_client_id_from_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .client_id("api://someone-elses-app")
        .send()
        .await
        .unwrap();
    assert_eq!(cleanup(&account).await, ProviderCleanup::NotOurs);
    assert!(provider(&config, &arn).await.is_some());
}

#[tokio::test]
async fn the_provider_is_deleted_only_when_ours_empty_and_untrusted() {
    let (account, config) = single_account().await;
    let ours = account
        .ensure_provider(&issuer(), "api://one", deadline())
        .await
        .unwrap();
    let role = spec(account.id(), "trusting-role", json!({}), &[SUB_A]);
    account.create_role(&role, deadline()).await.unwrap();

    assert_eq!(
        cleanup(&account).await,
        ProviderCleanup::InUse { audiences: 1 }
    );
    account
        .remove_audience(&ours.arn, "api://one", deadline())
        .await
        .unwrap();
    assert_eq!(
        cleanup(&account).await,
        ProviderCleanup::TrustedBy {
            role: "trusting-role".into()
        }
    );
    account
        .delete_role(&role.name, &role.ownership, deadline())
        .await
        .unwrap();
    assert_eq!(cleanup(&account).await, ProviderCleanup::Deleted);
    assert!(provider(&config, &ours.arn).await.is_none());
    assert_eq!(cleanup(&account).await, ProviderCleanup::Absent);
}

#[tokio::test]
async fn a_create_whose_provider_was_deleted_after_its_audience_was_added_puts_it_back() {
    let (account, config) = account_with_provider().await;
    let arn = provider_arn("aws", account.id(), &issuer());
    // A Delete in the account found the provider unused and deleted it just after the
    // Create added its audience (IAM then refuses a trust naming it).
    aws_sdk_iam::Client::new(&config)
        .delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .unwrap();
    let role = spec(account.id(), "racing-role", json!({}), &[SUB_A]);
    let created = with_provider(&account, &issuer(), "api://app", deadline(), || {
        account.create_role(&role, deadline())
    })
    .await
    .unwrap();
    assert!(created.ends_with(":role/racing-role"), "{created}");
    let (audiences, tags) = provider(&config, &arn).await.unwrap();
    assert_eq!(audiences, ["api://app"]);
    assert!(!tags.is_empty(), "put back as ours");
}

#[tokio::test]
async fn a_provider_deleted_while_a_role_came_to_trust_it_is_put_back() {
    let (account, config) = single_account().await;
    let ours = account
        .ensure_provider(&issuer(), "api://gone", deadline())
        .await
        .unwrap();
    account
        .remove_audience(&ours.arn, "api://gone", deadline())
        .await
        .unwrap();
    assert_eq!(
        cleanup(&account).await,
        ProviderCleanup::Deleted,
        "no role trusted it: deleted and not put back"
    );
    assert!(provider(&config, &ours.arn).await.is_none());

    // A Create sets its role's trust (the provider back with its audience), and a
    // racing Delete, whose scan came before that trust, deletes the provider after it.
    account
        .ensure_provider(&issuer(), "api://app", deadline())
        .await
        .unwrap();
    let role = spec(account.id(), "late-role", json!({}), &[SUB_A]);
    account.create_role(&role, deadline()).await.unwrap();
    aws_sdk_iam::Client::new(&config)
        .delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&ours.arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        account
            .restore_provider_if_trusted(&issuer(), deadline())
            .await
            .unwrap(),
        ["api://app"]
    );
    let (audiences, tags) = provider(&config, &ours.arn).await.unwrap();
    assert_eq!(audiences, ["api://app"]);
    assert!(!tags.is_empty(), "put back as ours");
    // Once it exists, nothing more is done.
    assert!(
        account
            .restore_provider_if_trusted(&issuer(), deadline())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn two_roles_share_one_provider_and_concurrent_creates_both_succeed() {
    let (account, config) = single_account().await;

    let issuer = issuer();
    let (a, b) = futures::join!(
        account.ensure_provider(&issuer, "api://a", deadline()),
        account.ensure_provider(&issuer, "api://b", deadline())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.arn, b.arn);
    assert!(
        a.created ^ b.created,
        "exactly one of them created the provider"
    );
    assert_eq!(
        provider(&config, &a.arn).await.unwrap().0,
        ["api://a", "api://b"]
    );

    let (role_a, role_b) = (
        spec(account.id(), "role-a", json!({}), &[SUB_A]),
        spec(account.id(), "role-b", json!({}), &[SUB_B]),
    );
    let (x, y) = futures::join!(
        account.create_role(&role_a, deadline()),
        account.create_role(&role_b, deadline())
    );
    x.unwrap();
    y.unwrap();
}

#[tokio::test]
async fn the_101st_audience_fails_with_a_reason_that_explains_the_quota() {
    let (account, config) = single_account().await;
    let arn = account
        .ensure_provider(&issuer(), "api://0", deadline())
        .await
        .unwrap()
        .arn;
    for i in 1..100 {
        account
            .add_audience(&arn, &format!("api://{i}"), deadline())
            .await
            .unwrap();
    }
    // Adding one that is there already is no new audience.
    account
        .add_audience(&arn, "api://7", deadline())
        .await
        .unwrap();

    let error = account
        .ensure_provider(&issuer(), "api://100", deadline())
        .await
        .unwrap_err();

    assert!(matches!(error, ProviderError::AudienceQuota(_)), "{error}");
    let reason = error.to_string();
    assert!(reason.contains("already has 100 audiences"), "{reason}");
    assert!(reason.contains("delete unused resources"), "{reason}");
    assert_eq!(provider(&config, &arn).await.unwrap().0.len(), 100);
}

/// Everything about a role, as IAM reports it.
async fn role_state(config: &SdkConfig, name: &str) -> Option<Value> {
    let iam = aws_sdk_iam::Client::new(config);
    let role = iam.get_role().role_name(name).send().await.ok()?.role?;
    let mut managed: Vec<String> = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    managed.sort();
    let mut inline = Vec::new();
    for policy in iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap()
        .policy_names()
    {
        let document = iam
            .get_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .unwrap();
        let text = percent_decode(document.policy_document());
        inline.push(json!({policy.as_str(): serde_json::from_str::<Value>(&text).unwrap()}));
    }
    let mut tags: Vec<(String, String)> = role
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    tags.sort();
    let trust: Value =
        serde_json::from_str(&percent_decode(role.assume_role_policy_document().unwrap())).unwrap();
    Some(json!({
        "path": role.path(),
        "description": role.description().filter(|d| !d.is_empty()),
        "max_session": role.max_session_duration(),
        "boundary": role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
        "managed": managed,
        "inline": inline,
        "tags": tags,
        "subs": trust["Statement"][0]["Condition"]["StringEquals"][format!("sts.windows.net/{TENANT}/:sub")],
    }))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

async fn create_policy(config: &SdkConfig, name: &str) -> String {
    aws_sdk_iam::Client::new(config)
        .create_policy()
        .policy_name(name)
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_role_field_is_created_updated_in_place_and_deleted() {
    let (account, config) = account_with_provider().await;
    let boundary = create_policy(&config, "Boundary").await;
    let extra = create_policy(&config, "Extra").await;
    let ownership_tags = |mut tags: Vec<(&str, &str)>| {
        tags.extend([
            ("entra-federated-role:generation", "0123456789abcdef0123"),
            ("entra-federated-role:logical-id", "CiRole"),
            ("entra-federated-role:managed-by", "entra-federated-role"),
        ]);
        let stack_id = stack(account.id()).arn;
        let mut tags: Vec<(String, String)> = tags
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        tags.push(("entra-federated-role:stack-id".into(), stack_id));
        tags.sort();
        tags
    };
    let created = spec(
        account.id(),
        "ci-deploy",
        json!({
            "RolePath": "/workloads/",
            "Description": "CI deploys",
            "MaxSessionDuration": "7200",
            "PermissionsBoundary": boundary,
            "ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "Policies": [{"PolicyName": "deploy", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}}],
            "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "cost", "Value": "ci"}]
        }),
        &[SUB_A],
    );

    let arn = account.create_role(&created, deadline()).await.unwrap();

    assert_eq!(
        arn,
        format!("arn:aws:iam::{}:role/workloads/ci-deploy", account.id())
    );
    assert_eq!(
        role_state(&config, "ci-deploy").await.unwrap(),
        json!({
            "path": "/workloads/",
            "description": "CI deploys",
            "max_session": 7200,
            "boundary": boundary,
            "managed": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "inline": [{"deploy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}}],
            "tags": ownership_tags(vec![("cost", "ci"), ("team", "platform")]),
            "subs": SUB_A,
        })
    );

    // Every in-place field changes at once.
    let updated = spec(
        account.id(),
        "ci-deploy",
        json!({
            "RolePath": "/workloads/",
            "MaxSessionDuration": "3600",
            "ManagedPolicyArns": [extra],
            "Policies": [{"PolicyName": "read", "PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}"}],
            "Tags": [{"Key": "team", "Value": "security"}]
        }),
        &[SUB_A, SUB_B],
    );
    account.converge_role(&updated, deadline()).await.unwrap();
    assert_eq!(
        role_state(&config, "ci-deploy").await.unwrap(),
        json!({
            "path": "/workloads/",
            "description": null,
            "max_session": 3600,
            "boundary": null,
            "managed": [extra],
            "inline": [{"read": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}],
            "tags": ownership_tags(vec![("team", "security")]),
            "subs": [SUB_A, SUB_B],
        })
    );

    // Repeating converges on the same state; a repeated Create does too.
    account.converge_role(&updated, deadline()).await.unwrap();
    account.create_role(&updated, deadline()).await.unwrap();
    let again = role_state(&config, "ci-deploy").await.unwrap();
    assert_eq!(again["managed"], json!([extra]));
    assert_eq!(again["subs"], json!([SUB_A, SUB_B]));

    assert_eq!(
        account
            .delete_role(&updated.name, &updated.ownership, deadline())
            .await
            .unwrap(),
        RoleDeletion::Deleted
    );
    assert_eq!(role_state(&config, "ci-deploy").await, None);
    assert_eq!(
        account
            .delete_role(&updated.name, &updated.ownership, deadline())
            .await
            .unwrap(),
        RoleDeletion::Absent
    );
}

#[tokio::test]
async fn a_role_of_another_generation_or_owner_is_never_converged_or_deleted() {
    let (account, config) = account_with_provider().await;
    let ours = spec(account.id(), "shared-name", json!({}), &[SUB_A]);
    let mut other_generation = ours.clone();
    other_generation.ownership.generation = "ffffffffffffffffffff".into();
    other_generation.tags = other_generation.ownership.tags();
    account
        .create_role(&other_generation, deadline())
        .await
        .unwrap();

    let error = account.create_role(&ours, deadline()).await.unwrap_err();
    assert!(matches!(error, RoleError::NotOurs { .. }), "{error}");
    assert!(
        error.to_string().contains("choose another RoleName"),
        "{error}"
    );
    assert_eq!(
        account
            .delete_role(&ours.name, &ours.ownership, deadline())
            .await
            .unwrap(),
        RoleDeletion::NotOurs
    );
    assert!(
        role_state(&config, "shared-name").await.is_some(),
        "the other generation's role stays"
    );
}

#[tokio::test]
async fn a_vanished_role_is_recreated_by_converge() {
    let (account, config) = account_with_provider().await;
    let role = spec(
        account.id(),
        "gone-role",
        json!({"Description": "x"}),
        &[SUB_A],
    );
    account.converge_role(&role, deadline()).await.unwrap();
    assert_eq!(
        role_state(&config, "gone-role").await.unwrap()["description"],
        "x"
    );
}

#[tokio::test]
async fn hub_mode_lands_everything_in_the_member_account_and_nothing_in_the_hub() {
    let (hub_id, hub_config) = fresh_account().await;
    let member_id = random_account();
    let aws = Aws::new(hub_config.clone(), Some("EntraFederatedRoleMember".into()));

    let member = aws
        .account(
            &Place::from(&stack(&member_id)),
            &function_arn(&hub_id),
            "efr-6d1c7c7f",
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(member.id(), member_id);
    let provider_arn = member
        .ensure_provider(&issuer(), "api://hub", deadline())
        .await
        .unwrap()
        .arn;
    member
        .create_role(
            &spec(&member_id, "hub-made", json!({}), &[SUB_A]),
            deadline(),
        )
        .await
        .unwrap();

    assert!(provider_arn.contains(&format!(":{member_id}:")));
    // Seen from inside the member account: there.
    let member_config = account_config(&member_id).await;
    assert!(role_state(&member_config, "hub-made").await.is_some());
    assert!(provider(&member_config, &provider_arn).await.is_some());
    // Seen from the hub: nothing.
    assert!(role_state(&hub_config, "hub-made").await.is_none());
    let hub_providers = aws_sdk_iam::Client::new(&hub_config)
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap();
    assert!(hub_providers.open_id_connect_provider_list().is_empty());

    // The session is reused while valid.
    let again = aws
        .account(
            &Place::from(&stack(&member_id)),
            &function_arn(&hub_id),
            "efr-other",
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(again.id(), member_id);
}

#[tokio::test]
async fn hub_mode_without_a_member_role_fails_with_what_to_configure() {
    let (hub_id, hub_config) = fresh_account().await;
    let aws = Aws::new(hub_config, None);
    let error = aws
        .account(
            &Place::from(&stack("333333333333")),
            &function_arn(&hub_id),
            "s",
            deadline(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, AccountError::NoMemberRole { .. }));
    assert!(
        error.to_string().contains("set MEMBER_ROLE_NAME"),
        "{error}"
    );
}

#[tokio::test]
async fn the_caller_is_confirmed_from_the_stacks_own_events() {
    // moto's CloudFormation invokes the custom resource's function in its default account,
    // so this test's stacks live there (under names of their own).
    let config = config(root_credentials()).await;
    let id = DEFAULT_ACCOUNT;
    let suffix = fastrand::u32(..);
    let aws = Aws::new(config.clone(), None);
    let in_progress = StackArn::parse(
        &moto_stack(&config, &format!("in-progress-{suffix}"), true, json!({})).await,
    )
    .unwrap();
    let complete = StackArn::parse(
        &moto_stack(&config, &format!("complete-{suffix}"), false, json!({})).await,
    )
    .unwrap();
    assert_eq!(in_progress.account, id);
    let account = aws
        .account(
            &Place::from(&in_progress),
            &function_arn(id),
            "s",
            deadline(),
        )
        .await
        .unwrap();
    let check = |stack, logical_id, request| CallerCheck {
        stack,
        logical_id,
        request,
        window: Duration::from_secs(330),
    };

    account
        .confirm_caller(check(&in_progress, "CiRole", Request::Create), deadline())
        .await
        .unwrap();

    let missing = stack(id);
    let refusals = [
        // A resource of another type, in progress or not: its type is CloudFormation's.
        check(&complete, "Queue", Request::Create),
        check(&in_progress, "Queue", Request::Create),
        // No such resource, no such stack.
        check(&in_progress, "Nope", Request::Create),
        check(&missing, "CiRole", Request::Create),
        // Ours, but CloudFormation is creating it, not updating or deleting it.
        check(&in_progress, "CiRole", Request::Update { physical_id: "x" }),
    ];
    let mut refused = Vec::new();
    for check in refusals {
        match account.confirm_caller(check, deadline()).await {
            Err(CallerError::Refused(refusal)) => refused.push(refusal),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        matches!(&refused[..], [
            Refusal::NotOurs { found: a },
            Refusal::NotOurs { found: b },
            Refusal::NoEvent,
            Refusal::NoEvent,
            Refusal::NotInProgress { status, .. },
        ] if a == "AWS::SQS::Queue" && b == "AWS::SQS::Queue" && status == "CREATE_IN_PROGRESS"),
        "{refused:?}"
    );
}
