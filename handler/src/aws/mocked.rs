//! Error mapping and retry sequences against scripted IAM answers (`aws-smithy-mocks`):
//! the real SDK parses IAM's XML error bodies, so these pin how each service error is
//! classified and which ones are retried within the deadline.

use std::time::Duration;

use aws_sdk_iam::{
    Client,
    operation::{
        add_client_id_to_open_id_connect_provider::AddClientIdToOpenIdConnectProviderOutput,
        create_open_id_connect_provider::CreateOpenIdConnectProviderOutput,
        create_role::CreateRoleOutput,
        remove_client_id_from_open_id_connect_provider::RemoveClientIdFromOpenIdConnectProviderOutput,
        update_assume_role_policy::UpdateAssumeRolePolicyOutput,
    },
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use serde_json::json;

use super::{
    Account, ErrorKind,
    provider::ProviderError,
    role::{RoleError, SealedRole},
};
use crate::{
    core::with_provider,
    deadline::Deadline,
    domain::{Properties, RoleName, ownership::Ownership, role::RoleSpec},
};

/// IAM's error body (Query protocol).
fn iam_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>0b1c2d3e-0000-0000-0000-000000000000</RequestId></ErrorResponse>"#
    )
}

fn account(rules: &[&Rule]) -> Account {
    // The SDK's own retries are off: these tests pin ours.
    let iam = mock_client!(aws_sdk_iam, RuleMode::Sequential, rules, |config| {
        config.retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
    });
    let cloudformation = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::Config::builder()
            .behavior_version(aws_sdk_cloudformation::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudformation::config::Region::new("us-east-1"))
            .build(),
    );
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .build(),
    );
    Account {
        id: "222222222222".into(),
        partition: "aws".into(),
        iam,
        cloudformation,
        ssm,
    }
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(60))
}

const ARN: &str = "arn:aws:iam::222222222222:oidc-provider/sts.windows.net/t/";

#[tokio::test(start_paused = true)]
async fn concurrent_modification_is_retried_until_the_add_succeeds() {
    let rule = mock!(Client::add_client_id_to_open_id_connect_provider)
        .sequence()
        .http_status(409, Some(iam_error("ConcurrentModification", "try again")))
        .times(2)
        .output(|| AddClientIdToOpenIdConnectProviderOutput::builder().build())
        .build();
    let account = account(&[&rule]);

    account
        .add_audience(ARN, "api://a", deadline())
        .await
        .unwrap();

    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_full_provider_is_reported_as_the_audience_quota() {
    let rule = mock!(Client::add_client_id_to_open_id_connect_provider)
        .sequence()
        .http_status(
            409,
            Some(iam_error(
                "LimitExceeded",
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100",
            )),
        )
        .build();
    let account = account(&[&rule]);

    let error = account
        .add_audience(ARN, "api://a", deadline())
        .await
        .unwrap_err();

    let ProviderError::AudienceQuota(quota) = &error else {
        panic!("{error}")
    };
    assert!(
        quota
            .to_string()
            .contains("IAM's limit of client IDs per provider")
    );
    assert_eq!(rule.num_calls(), 1, "a quota is not retried");
}

#[tokio::test(start_paused = true)]
async fn removing_from_a_vanished_provider_is_success() {
    let rule = mock!(Client::remove_client_id_from_open_id_connect_provider)
        .sequence()
        .http_status(
            404,
            Some(iam_error(
                "NoSuchEntity",
                "OpenIDConnect Provider not found",
            )),
        )
        .build();
    let unused = mock!(Client::remove_client_id_from_open_id_connect_provider)
        .then_output(|| RemoveClientIdFromOpenIdConnectProviderOutput::builder().build());
    account(&[&rule, &unused])
        .remove_audience(ARN, "api://a", deadline())
        .await
        .unwrap();
    assert_eq!(unused.num_calls(), 0);
}

fn spec() -> RoleSpec {
    let properties = Properties::parse(&json!({})).unwrap();
    let ownership = Ownership {
        stack_id: "arn:aws:cloudformation:us-east-1:222222222222:stack/s/1".into(),
        logical_id: "CiRole".into(),
        generation: "g".into(),
    };
    RoleSpec::new(
        &properties,
        RoleName::parse("ci").unwrap(),
        "{}".into(),
        ownership,
    )
}

fn created() -> CreateRoleOutput {
    CreateRoleOutput::builder().build()
}

fn invalid_principal() -> String {
    iam_error(
        "MalformedPolicyDocument",
        "Invalid principal in policy: \"Federated\":\"arn\"",
    )
}

const ISSUER: &str = "https://sts.windows.net/t/";

#[tokio::test(start_paused = true)]
async fn an_invalid_principal_while_the_provider_propagates_is_retried() {
    let refused = mock!(Client::create_role)
        .sequence()
        .http_status(400, Some(invalid_principal()))
        .build();
    let audience_present = || {
        mock!(Client::add_client_id_to_open_id_connect_provider)
            .then_output(|| AddClientIdToOpenIdConnectProviderOutput::builder().build())
    };
    let (first_check, second_check) = (audience_present(), audience_present());
    let refused_again = mock!(Client::create_role)
        .sequence()
        .http_status(400, Some(invalid_principal()))
        .build();
    let accepted = mock!(Client::create_role).then_output(created);
    let account = account(&[
        &refused,
        &first_check,
        &refused_again,
        &second_check,
        &accepted,
    ]);
    let spec = spec();
    with_provider(&account, ISSUER, "api://a", deadline(), || {
        account.create_role(&spec, deadline())
    })
    .await
    .unwrap();
    assert_eq!(
        (
            refused.num_calls(),
            refused_again.num_calls(),
            accepted.num_calls()
        ),
        (1, 1, 1)
    );
    assert_eq!(first_check.num_calls() + second_check.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_provider_deleted_after_the_audience_was_added_is_put_back() {
    // A concurrent Delete in the account removed the provider, our audience with it.
    let refused = mock!(Client::update_assume_role_policy)
        .sequence()
        .http_status(400, Some(invalid_principal()))
        .build();
    let missing = mock!(Client::add_client_id_to_open_id_connect_provider)
        .sequence()
        .http_status(
            404,
            Some(iam_error(
                "NoSuchEntity",
                "OpenIDConnect Provider not found",
            )),
        )
        .build();
    let recreated = mock!(Client::create_open_id_connect_provider)
        .match_requests(|request| request.client_id_list() == ["api://a"])
        .then_output(|| CreateOpenIdConnectProviderOutput::builder().build());
    let accepted = mock!(Client::update_assume_role_policy)
        .then_output(|| UpdateAssumeRolePolicyOutput::builder().build());
    let account = account(&[&refused, &missing, &recreated, &accepted]);
    with_provider(&account, ISSUER, "api://a", deadline(), || async {
        account.set_trust(&spec(), deadline()).await?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(
        (
            refused.num_calls(),
            missing.num_calls(),
            recreated.num_calls(),
            accepted.num_calls()
        ),
        (1, 1, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn other_malformed_policies_fail_at_once_with_the_service_message() {
    let rule = mock!(Client::create_role)
        .sequence()
        .http_status(
            400,
            Some(iam_error(
                "MalformedPolicyDocument",
                "Syntax errors in policy.",
            )),
        )
        .build();
    let error = account(&[&rule])
        .create_role(&spec(), deadline())
        .await
        .unwrap_err();
    let RoleError::Aws(aws) = &error else {
        panic!("{error}")
    };
    assert_eq!(aws.kind(), ErrorKind::MalformedPolicyDocument);
    assert_eq!(
        error.to_string(),
        "creating role ci: MalformedPolicyDocument: Syntax errors in policy."
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn access_denied_keeps_its_kind_and_message() {
    let message = "User: arn:aws:sts::222222222222:assumed-role/member/s is not authorized to perform: iam:CreateRole";
    let rule = mock!(Client::create_role)
        .sequence()
        .http_status(403, Some(iam_error("AccessDenied", message)))
        .build();
    let error = account(&[&rule])
        .create_role(&spec(), deadline())
        .await
        .unwrap_err();
    let RoleError::Aws(aws) = &error else {
        panic!("{error}")
    };
    assert_eq!(
        (aws.kind(), aws.code(), aws.message()),
        (ErrorKind::AccessDenied, Some("AccessDenied"), Some(message))
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_but_never_past_the_deadline() {
    let rule = mock!(Client::create_role)
        .sequence()
        .http_status(400, Some(iam_error("Throttling", "Rate exceeded")))
        .repeatedly()
        .build();
    let deadline = Deadline::after(Duration::from_secs(20));
    let error = account(&[&rule])
        .create_role(&spec(), deadline)
        .await
        .unwrap_err();
    let RoleError::Aws(aws) = &error else {
        panic!("{error}")
    };
    assert_eq!(aws.kind(), ErrorKind::Throttling);
    assert!(rule.num_calls() > 2, "retried: {}", rule.num_calls());
    assert!(
        deadline.remaining() > Duration::ZERO,
        "gave up before the deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn a_sealed_trust_that_iam_refuses_defers_the_role_without_retrying() {
    let rule = mock!(Client::create_role)
        .sequence()
        .http_status(
            400,
            Some(iam_error(
                "MalformedPolicyDocument",
                "Invalid principal in policy: \"AWS\":\"*\"",
            )),
        )
        .build();
    let outcome = account(&[&rule])
        .create_sealed(&spec(), deadline())
        .await
        .unwrap();
    assert_eq!(outcome, SealedRole::Refused);
    assert_eq!(rule.num_calls(), 1, "not retried as a propagating provider");
}

#[tokio::test(start_paused = true)]
async fn an_existing_role_is_left_to_the_converge_not_sealed() {
    let rule = mock!(Client::create_role)
        .sequence()
        .http_status(
            409,
            Some(iam_error(
                "EntityAlreadyExists",
                "Role with name ci already exists.",
            )),
        )
        .build();
    // No other call is scripted: touching the existing role would fail the test.
    let outcome = account(&[&rule])
        .create_sealed(&spec(), deadline())
        .await
        .unwrap();
    assert_eq!(outcome, SealedRole::Exists);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_boundary_being_set_goes_before_the_trust_and_policies() {
    use aws_sdk_iam::{
        operation::{
            get_role::GetRoleOutput, list_attached_role_policies::ListAttachedRolePoliciesOutput,
            list_role_policies::ListRolePoliciesOutput,
            put_role_permissions_boundary::PutRolePermissionsBoundaryOutput,
            put_role_policy::PutRolePolicyOutput,
        },
        types::{Role, Tag},
    };
    use std::sync::{Arc, Mutex};

    const BOUNDARY: &str = "arn:aws:iam::222222222222:policy/Boundary";
    let properties = Properties::parse(&json!({
        "PermissionsBoundary": BOUNDARY,
        "Policies": [{"PolicyName": "read", "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}],
    }))
    .unwrap();
    let base = spec();
    let spec = RoleSpec::new(
        &properties,
        base.name.clone(),
        r#"{"Statement":[]}"#.into(),
        base.ownership.clone(),
    );
    // An owned role without the boundary, with another trust and no policies.
    let tags: Vec<Tag> = spec
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
        .collect();
    let role = Role::builder()
        .path("/")
        .role_name("ci")
        .role_id("AROAEXAMPLE")
        .arn("arn:aws:iam::222222222222:role/ci")
        .create_date(aws_smithy_types::DateTime::from_secs(0))
        .assume_role_policy_document("%7B%7D")
        .max_session_duration(3600)
        .set_tags(Some(tags))
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let recorded = |name: &'static str| {
        let order = order.clone();
        move || {
            order.lock().unwrap().push(name);
        }
    };
    let get = mock!(Client::get_role)
        .then_output(move || GetRoleOutput::builder().role(role.clone()).build());
    let attached = mock!(Client::list_attached_role_policies)
        .then_output(|| ListAttachedRolePoliciesOutput::builder().build());
    let inline = mock!(Client::list_role_policies).then_output(|| {
        ListRolePoliciesOutput::builder()
            .set_policy_names(Some(vec![]))
            .build()
            .unwrap()
    });
    let boundary = {
        let record = recorded("boundary");
        mock!(Client::put_role_permissions_boundary).then_output(move || {
            record();
            PutRolePermissionsBoundaryOutput::builder().build()
        })
    };
    let trust = {
        let record = recorded("trust");
        mock!(Client::update_assume_role_policy).then_output(move || {
            record();
            UpdateAssumeRolePolicyOutput::builder().build()
        })
    };
    let policy = {
        let record = recorded("policy");
        mock!(Client::put_role_policy).then_output(move || {
            record();
            PutRolePolicyOutput::builder().build()
        })
    };
    let iam = mock_client!(
        aws_sdk_iam,
        RuleMode::MatchAny,
        [&get, &attached, &inline, &boundary, &trust, &policy],
        |config| config.retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
    );
    let account = Account {
        iam,
        ..account(&[])
    };

    account.converge_role(&spec, deadline()).await.unwrap();

    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), 3, "{order:?}");
    assert_eq!(order[0], "boundary", "{order:?}");
}
