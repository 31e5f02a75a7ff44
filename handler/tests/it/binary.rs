//! The real `bootstrap` binary, as Lambda runs it: events from a local Runtime API,
//! answers to a recording response endpoint, logs captured from its stdout.

use std::{path::Path, time::Duration};

use entra_federated_role_harness::{
    moto,
    process::Bootstrap,
    response_endpoint::ResponseEndpoint,
    runtime_api::{Outcome, RuntimeApi},
};
use serde_json::{Value, json};

use crate::{
    events::{self, CLIENT, TENANT},
    moto_support::{ROOT_ACCESS_KEY, config, moto_stack, root_credentials},
};

const WAIT: Duration = Duration::from_secs(20);
/// The factory's function, in moto's default account.
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:entra-federated-role";

/// A running `bootstrap` with its runtime API and response endpoint.
struct Lambda {
    runtime: RuntimeApi,
    endpoint: ResponseEndpoint,
    process: Bootstrap,
}

impl Lambda {
    /// Starts the binary with `env` on top of what every test needs.
    ///
    /// The factory runs in moto's default account, reached at the shared moto.
    async fn start(env: &[(&str, &str)]) -> Self {
        let runtime = RuntimeApi::start().await;
        runtime.set_function_arn(FUNCTION_ARN);
        let endpoint = ResponseEndpoint::start().await;
        let mut all: Vec<(String, String)> = vec![
            ("EXTRA_RESPONSE_URL_HOSTS".into(), endpoint.host()),
            ("AWS_ENDPOINT_URL".into(), moto::shared().to_owned()),
            ("AWS_ACCESS_KEY_ID".into(), ROOT_ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "secret".into()),
        ];
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let process = Bootstrap::spawn(
            Path::new(env!("CARGO_BIN_EXE_bootstrap")),
            &runtime.addr(),
            &all,
        );
        Self {
            runtime,
            endpoint,
            process,
        }
    }

    /// Starts the binary with a valid configuration.
    async fn configured(extra: &[(&str, &str)]) -> Self {
        let mut env = vec![("ENTRA_TENANT_ID", TENANT), ("ENTRA_CLIENT_ID", CLIENT)];
        env.extend_from_slice(extra);
        Self::start(&env).await
    }

    /// Sends `event` and returns the response body CloudFormation would read, after
    /// checking the invocation itself ended normally (so Lambda would not retry).
    async fn answer(&self, event: &Value) -> Value {
        let before = self.endpoint.requests().len();
        let id = self.runtime.invoke(event, Duration::from_secs(60));
        let outcome = self.runtime.outcome(&id, WAIT).await;
        assert!(
            matches!(outcome, Some(Outcome::Response(_))),
            "the invocation must end normally, got {outcome:?}\nlogs:\n{}",
            self.process.logs()
        );
        let new = self.endpoint.requests().split_off(before);
        assert!(!new.is_empty(), "no answer\nlogs:\n{}", self.process.logs());
        assert!(
            new.iter().all(|r| r.body == new[0].body),
            "one answer per event (retries repeat it)"
        );
        serde_json::from_slice(&new[0].body).unwrap()
    }

    fn url(&self) -> String {
        self.endpoint.url("response")
    }
}

fn reason(body: &Value) -> &str {
    body["Reason"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_cold_start_configuration_error_fails_each_event_and_keeps_serving() {
    let mut lambda = Lambda::start(&[("ENTRA_CLOUD", "mars")]).await;

    for _ in 0..2 {
        let body = lambda
            .answer(&events::create(&lambda.url(), events::valid_properties()))
            .await;
        assert_eq!(body["Status"], "FAILED");
        let reason = reason(&body);
        assert!(reason.contains("ENTRA_TENANT_ID: is not set"), "{reason}");
        assert!(
            reason.contains("ENTRA_CLOUD: `mars` is not a cloud"),
            "{reason}"
        );
    }
    assert!(lambda.process.is_running());
}

#[tokio::test]
async fn malformed_and_unknown_events_are_answered_and_the_process_goes_on() {
    let lambda = Lambda::configured(&[]).await;
    let mut unknown = events::create(&lambda.url(), events::valid_properties());
    unknown["RequestType"] = json!("Rollback");
    let mut malformed = events::create(&lambda.url(), events::valid_properties());
    malformed["LogicalResourceId"] = json!(42);

    let body = lambda.answer(&unknown).await;
    assert_eq!(
        reason(&body),
        "unsupported RequestType `Rollback`; expected Create, Update or Delete"
    );
    let body = lambda.answer(&malformed).await;
    assert_eq!(body["Status"], "FAILED");
    assert!(
        reason(&body).contains("malformed CloudFormation request"),
        "{}",
        reason(&body)
    );

    // Not JSON at all: nothing can be answered, the runtime reports it, the process serves on.
    let id = lambda
        .runtime
        .invoke_raw(b"{not json".to_vec(), Duration::from_secs(60));
    let outcome = lambda.runtime.outcome(&id, WAIT).await;
    assert!(
        matches!(outcome, Some(Outcome::Error { .. })),
        "{outcome:?}"
    );
    // Valid JSON without a ResponseURL: logged, nothing to answer, served normally.
    let id = lambda
        .runtime
        .invoke(&json!({"RequestType": "Create"}), Duration::from_secs(60));
    assert!(matches!(
        lambda.runtime.outcome(&id, WAIT).await,
        Some(Outcome::Response(_))
    ));

    // And a well-formed event is still handled in full (here: its stack is not in moto).
    let body = lambda
        .answer(&events::create(&lambda.url(), events::valid_properties()))
        .await;
    assert!(
        reason(&body).contains("could not be confirmed"),
        "{}",
        reason(&body)
    );
}

#[tokio::test]
async fn each_invalid_property_is_named_in_the_reason() {
    let lambda = Lambda::configured(&[]).await;
    let cases = [
        ("RoleName", json!("has spaces in it")),
        ("RolePath", json!("no-slashes")),
        ("MaxSessionDuration", json!("90")),
        ("ManagedPolicyArns", json!(["AdministratorAccess"])),
        ("PermissionsBoundary", json!("arn:aws:s3:::bucket")),
        (
            "Policies",
            json!([{"PolicyName": "p", "PolicyDocument": "not json"}]),
        ),
        ("Tags", json!([{"Key": "aws:reserved", "Value": "x"}])),
        (
            "FederatedCredentials",
            json!([{"Name": "x", "Issuer": "https://i", "Subject": "s"}]),
        ),
        ("TrustedClientAppIds", json!(["not-a-guid"])),
        ("RequireAppRoleAssignment", json!("maybe")),
        ("TokenVersion", json!("3")),
        ("Rolename", json!("typo")),
    ];
    for (property, value) in cases {
        let mut properties = events::valid_properties();
        properties[property] = value;
        let body = lambda
            .answer(&events::create(&lambda.url(), properties))
            .await;
        assert_eq!(body["Status"], "FAILED", "{property}");
        assert!(
            reason(&body).contains(&format!("`{property}")),
            "{property}: {}",
            reason(&body)
        );
    }
    // Version 2 tokens with trusted clients are refused on the trusted clients.
    let mut properties = events::valid_properties();
    properties["TokenVersion"] = json!("2");
    properties["TrustedClientAppIds"] = json!([CLIENT]);
    let body = lambda
        .answer(&events::create(&lambda.url(), properties))
        .await;
    assert!(
        reason(&body).contains("`TrustedClientAppIds`"),
        "{}",
        reason(&body)
    );
}

/// A Create for a stack that moto really has in progress, with its custom resource.
async fn create_for_real_stack(lambda: &Lambda, properties: Value) -> Value {
    let config = config(root_credentials()).await;
    let stack_id = moto_stack(
        &config,
        &format!("ci-roles-{}", fastrand::u32(..)),
        true,
        json!({}),
    )
    .await;
    let mut event = events::create(&lambda.url(), properties);
    event["StackId"] = json!(stack_id);
    event
}

#[tokio::test]
async fn guardrails_refuse_with_what_to_change() {
    let lambda = Lambda::configured(&[
        (
            "REQUIRED_PERMISSIONS_BOUNDARY",
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/Boundary",
        ),
        (
            "DENIED_MANAGED_POLICY_ARNS",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        ),
        ("ROLE_PATH_PREFIX", "/workloads/"),
        ("ALLOWED_ACCOUNT_IDS", "999999999999"),
    ])
    .await;

    let body = lambda
        .answer(&create_for_real_stack(&lambda, events::valid_properties()).await)
        .await;

    let reason = reason(&body);
    assert!(
        reason.starts_with("refused by the factory's guardrails"),
        "{reason}"
    );
    for expected in [
        "account 123456789012 is not in the factory's allowed accounts",
        "set `PermissionsBoundary` to arn:aws:iam::123456789012:policy/Boundary",
        "arn:aws:iam::aws:policy/ReadOnlyAccess, which this factory does not allow",
        "only makes roles under /workloads/",
    ] {
        assert!(reason.contains(expected), "{expected}: {reason}");
    }
}

#[tokio::test]
async fn a_stack_in_another_account_needs_the_member_role() {
    let lambda = Lambda::configured(&[("VERIFY_CALLER_STACK", "false")]).await;
    let mut event = events::create(&lambda.url(), events::valid_properties());
    event["StackId"] = json!(events::STACK_ID.replace("123456789012", "333333333333"));

    let body = lambda.answer(&event).await;

    assert!(
        reason(&body).contains("set MEMBER_ROLE_NAME"),
        "{}",
        reason(&body)
    );
}

#[tokio::test]
async fn a_refused_response_url_is_never_contacted() {
    let lambda = Lambda::configured(&[]).await;
    let unlisted = ResponseEndpoint::start().await;
    // Same machine, but `localhost` is not the listed `127.0.0.1:<port>`.
    let url = unlisted.url("x").replace("127.0.0.1", "localhost");

    let id = lambda.runtime.invoke(
        &events::create(&url, events::valid_properties()),
        Duration::from_secs(60),
    );
    assert!(matches!(
        lambda.runtime.outcome(&id, WAIT).await,
        Some(Outcome::Response(_))
    ));
    assert!(
        unlisted.requests().is_empty(),
        "the refused URL was contacted"
    );
    assert!(lambda.endpoint.requests().is_empty());
    assert!(
        lambda
            .process
            .logs()
            .contains("refusing ResponseURL http://localhost:")
    );

    // And it still serves the next event.
    let body = lambda
        .answer(&events::create(&lambda.url(), events::valid_properties()))
        .await;
    assert_eq!(body["Status"], "FAILED");
}

#[tokio::test]
async fn logs_are_json_with_the_event_fields_and_never_the_presigned_query() {
    // A listed host where nothing listens: every attempt fails with a connection error,
    // the kind of error whose text would carry the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let runtime = RuntimeApi::start().await;
    let endpoint = ResponseEndpoint::start().await;
    let env = [
        ("ENTRA_TENANT_ID", TENANT.to_owned()),
        ("ENTRA_CLIENT_ID", CLIENT.to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "TRACE".to_owned()),
        (
            "EXTRA_RESPONSE_URL_HOSTS",
            format!("{},{closed}", endpoint.host()),
        ),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let mut lambda = Lambda {
        process: Bootstrap::spawn(
            Path::new(env!("CARGO_BIN_EXE_bootstrap")),
            &runtime.addr(),
            &env,
        ),
        runtime,
        endpoint,
    };
    lambda.endpoint.fail_first(1);

    lambda
        .answer(&events::create(&lambda.url(), events::valid_properties()))
        .await;
    let mut unknown = events::create(&lambda.url(), json!({}));
    unknown["RequestType"] = json!("Nope");
    lambda.answer(&unknown).await;
    let unreachable = lambda
        .url()
        .replace(&lambda.endpoint.host(), &closed.to_string());
    let id = lambda.runtime.invoke(
        &events::create(&unreachable, json!({})),
        Duration::from_secs(60),
    );
    assert!(matches!(
        lambda.runtime.outcome(&id, WAIT).await,
        Some(Outcome::Response(_))
    ));
    lambda.process.kill().await;

    let logs = lambda.process.logs();
    assert!(logs.contains("response not delivered"), "{logs}");
    assert!(
        !logs.contains(lambda.endpoint.signature()),
        "the presigned signature leaked:\n{logs}"
    );
    assert!(
        !logs.contains("X-Amz-Credential"),
        "the presigned query leaked:\n{logs}"
    );
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "no JSON log lines:\n{logs}");
    let delivered = lines
        .iter()
        .find(|l| l["message"] == "response delivered")
        .unwrap_or_else(|| panic!("no delivery log:\n{logs}"));
    let span = delivered["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == "custom_resource"))
        .unwrap_or_else(|| panic!("no custom_resource span:\n{delivered}"));
    assert_eq!(span["request_type"], "Create");
    assert_eq!(span["stack_id"], events::STACK_ID);
    assert_eq!(span["logical_id"], "CiRole");
    // The Create is refused before any write (no cloud is reachable here): the
    // id it reports, logged with the answer, names nothing.
    assert!(
        span["physical_id"]
            .as_str()
            .is_some_and(entra_federated_role::cfn::names_nothing),
        "{span}"
    );
}
