//! The always-respond guard in-process, with test resources that succeed, fail, panic and
//! hang, answering to a recording response endpoint over real HTTP.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use entra_federated_role::cfn::{
    CreateRequest, CustomResource, DeleteRequest, Failure, Handler, HttpTransport, Invocation,
    Outcome, ResponseUrlPolicy, RetryPolicy, Success, Timing, UpdateRequest, failed_create_id,
    nothing_created_id, sender::Backoff,
};
use entra_federated_role::tls::Roots;
use entra_federated_role_harness::response_endpoint::ResponseEndpoint;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::events::{self, STACK_ID};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:111111111111:function:entra-federated-role";

/// What the test resource does on every operation.
#[derive(Debug, Clone)]
enum Behaviour {
    Succeed,
    Fail,
    Refuse,
    FailWithLongReason,
    Panic,
    Hang,
    /// Retries until its deadline, then fails with its own error once a concurrent write
    /// in flight has settled.
    GiveUpAtDeadline,
}

#[derive(Debug, thiserror::Error)]
#[error("creating the role")]
struct Outer(#[source] Inner);
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Inner(String);

impl Behaviour {
    async fn run(&self, physical_id: &str, invocation: &Invocation) -> Result<Success, Failure> {
        match self {
            Behaviour::Succeed => Ok(Success {
                physical_resource_id: physical_id.to_owned(),
                data: BTreeMap::from([(
                    "RoleArn".to_owned(),
                    "arn:aws:iam::222222222222:role/ci".to_owned(),
                )]),
                no_echo: false,
            }),
            Behaviour::Fail => Err(Outer(Inner(
                "AccessDenied: not authorized to perform iam:CreateRole".into(),
            ))
            .into()),
            Behaviour::Refuse => {
                Err(Failure::from(Inner("refused before any write".into())).before_any_write())
            }
            Behaviour::FailWithLongReason => Err(Outer(Inner(format!(
                "{}: ROOT CAUSE at the end",
                "detail ".repeat(2000)
            )))
            .into()),
            Behaviour::Panic => panic!("invariant broken in the test resource"),
            Behaviour::Hang => std::future::pending().await,
            Behaviour::GiveUpAtDeadline => {
                tokio::time::sleep_until(invocation.deadline.instant()).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(Inner("IAM did not answer before the deadline".into()).into())
            }
        }
    }
}

impl CustomResource for Behaviour {
    async fn create(&self, _: &CreateRequest, at: &Invocation) -> Result<Success, Failure> {
        self.run("made-by-create", at).await
    }
    async fn update(&self, request: &UpdateRequest, at: &Invocation) -> Result<Success, Failure> {
        self.run(&request.physical_resource_id, at).await
    }
    async fn delete(&self, request: &DeleteRequest, at: &Invocation) -> Result<Success, Failure> {
        self.run(&request.physical_resource_id, at).await
    }
    fn failed_create_id(&self, request: &CreateRequest) -> String {
        failed_create_id(&format!("made-for-{}", request.logical_resource_id))
    }
}

/// The id the test resource has a failed Create report when it names none itself.
fn resource_failed_create_id() -> String {
    failed_create_id("made-for-CiRole")
}

/// Short timings so a hang is answered within a second or two.
fn timing() -> Timing {
    Timing {
        response_reserve: Duration::from_millis(1500),
        settle_margin: Duration::from_millis(300),
        delivery_margin: Duration::from_millis(100),
        retry: RetryPolicy {
            max_attempts: 4,
            attempt_timeout: Duration::from_millis(500),
            backoff: Backoff {
                base: Duration::from_millis(20),
                cap: Duration::from_millis(100),
            },
            ..RetryPolicy::RESPONSE
        },
    }
}

fn guard(resource: Result<Behaviour, String>, endpoint: &ResponseEndpoint) -> Handler<Behaviour> {
    let urls = ResponseUrlPolicy::with_extra_hosts(&endpoint.host()).unwrap();
    Handler::new(
        resource,
        HttpTransport::new(&Roots::default()).unwrap(),
        urls,
        timing(),
    )
}

fn in_seconds(seconds: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(seconds)
}

fn delivered(outcome: &Outcome) -> (&'static str, u32) {
    match outcome {
        Outcome::Answered {
            status,
            delivery: Ok(delivered),
        } => (status, delivered.attempts),
        other => panic!("not delivered: {other:?}"),
    }
}

/// The only body the endpoint received, parsed.
fn single_body(endpoint: &ResponseEndpoint) -> Value {
    let requests = endpoint.requests();
    assert_eq!(requests.len(), 1, "exactly one PUT per event");
    assert_eq!(requests[0].method, "PUT");
    serde_json::from_slice(&requests[0].body).unwrap()
}

/// The `Reason` of the only answer.
fn reason(endpoint: &ResponseEndpoint) -> String {
    single_body(endpoint)["Reason"].as_str().unwrap().to_owned()
}

/// A Create handled by a guard around `behaviour`, whose Lambda deadline is `deadline`:
/// the endpoint the answer went to, and the outcome.
async fn create(behaviour: Behaviour, deadline: SystemTime) -> (ResponseEndpoint, Outcome) {
    let endpoint = ResponseEndpoint::start().await;
    let handler = guard(Ok(behaviour), &endpoint);
    let event = events::create(&endpoint.url("create"), json!({}));
    let outcome = handler.handle(event, deadline, FUNCTION_ARN).await;
    (endpoint, outcome)
}

#[tokio::test]
async fn success_is_put_once_with_an_empty_content_type_and_the_envelope_copied() {
    let endpoint = ResponseEndpoint::start().await;
    let handler = guard(Ok(Behaviour::Succeed), &endpoint);
    let event = events::create(&endpoint.url("create"), json!({}));

    let outcome = handler.handle(event, in_seconds(30), FUNCTION_ARN).await;

    assert_eq!(delivered(&outcome), ("SUCCESS", 1));
    let request = &endpoint.requests()[0];
    assert_eq!(request.header("content-type"), Some(""));
    assert_eq!(
        request
            .query
            .as_deref()
            .map(|q| q.contains("X-Amz-Signature")),
        Some(true)
    );
    assert_eq!(
        single_body(&endpoint),
        json!({
            "Status": "SUCCESS",
            "Reason": null,
            "PhysicalResourceId": "made-by-create",
            "StackId": STACK_ID,
            "RequestId": "6d1c7c7f-2f4a-4a7e-9d6e-3b1f1c0a9e21",
            "LogicalResourceId": "CiRole",
            "NoEcho": false,
            "Data": {"RoleArn": "arn:aws:iam::222222222222:role/ci"}
        })
    );
}

#[tokio::test]
async fn a_failed_create_reports_the_chain_under_a_failed_create_id() {
    let (endpoint, outcome) = create(Behaviour::Fail, in_seconds(30)).await;

    assert_eq!(delivered(&outcome), ("FAILED", 1));
    let body = single_body(&endpoint);
    assert_eq!(
        body["Reason"],
        "creating the role: AccessDenied: not authorized to perform iam:CreateRole"
    );
    // The resource's failed-create id: the Delete that follows finds what it names.
    assert_eq!(body["PhysicalResourceId"], resource_failed_create_id());
}

#[tokio::test]
async fn a_create_refused_before_any_write_reports_an_id_that_names_nothing() {
    let (endpoint, outcome) = create(Behaviour::Refuse, in_seconds(30)).await;

    assert_eq!(delivered(&outcome), ("FAILED", 1));
    // Not the resource's failed-create id: its Delete has nothing to clean up, even
    // when what refused the Create would make a cleanup fail too.
    assert_eq!(
        single_body(&endpoint)["PhysicalResourceId"],
        nothing_created_id("6d1c7c7f-2f4a-4a7e-9d6e-3b1f1c0a9e21")
    );
}

#[tokio::test]
async fn a_failed_update_or_delete_keeps_the_physical_id() {
    for event in [
        events::update(
            "URL",
            "arn:aws:iam::222222222222:role/ci",
            json!({}),
            json!({}),
        ),
        events::delete("URL", "arn:aws:iam::222222222222:role/ci", json!({})),
    ] {
        let endpoint = ResponseEndpoint::start().await;
        let handler = guard(Ok(Behaviour::Fail), &endpoint);
        let mut event = event;
        event["ResponseURL"] = json!(endpoint.url("r"));
        handler.handle(event, in_seconds(30), FUNCTION_ARN).await;
        assert_eq!(
            single_body(&endpoint)["PhysicalResourceId"],
            "arn:aws:iam::222222222222:role/ci"
        );
    }
}

#[tokio::test]
async fn a_panic_is_answered_failed() {
    let (endpoint, outcome) = create(Behaviour::Panic, in_seconds(30)).await;

    assert_eq!(delivered(&outcome), ("FAILED", 1));
    let reason = reason(&endpoint);
    assert!(
        reason.contains("panicked: invariant broken in the test resource"),
        "{reason}"
    );
    assert_eq!(
        single_body(&endpoint)["PhysicalResourceId"],
        resource_failed_create_id()
    );
}

#[tokio::test]
async fn a_hang_is_answered_failed_a_safety_margin_before_the_deadline() {
    let deadline = SystemTime::now() + Duration::from_millis(2500);
    let (endpoint, outcome) = create(Behaviour::Hang, deadline).await;

    assert_eq!(delivered(&outcome), ("FAILED", 1));
    let received = endpoint.requests()[0].received_at;
    let margin = deadline
        .duration_since(received)
        .expect("answered after the deadline");
    assert!(
        margin >= Duration::from_secs(1),
        "answered only {margin:?} before the deadline"
    );
    let reason = reason(&endpoint);
    assert!(reason.starts_with("timed out"), "{reason}");
    // A Create cut short may have written: the Delete that follows must find it.
    assert_eq!(
        single_body(&endpoint)["PhysicalResourceId"],
        resource_failed_create_id()
    );
}

/// Work that stops at its own deadline, and lets what it has in flight settle, answers
/// with its own error: the guard's cutoff comes later, for a hang only.
#[tokio::test]
async fn work_that_gives_up_at_its_deadline_answers_with_its_own_error() {
    let deadline = SystemTime::now() + Duration::from_millis(2500);
    let (endpoint, outcome) = create(Behaviour::GiveUpAtDeadline, deadline).await;

    assert_eq!(delivered(&outcome), ("FAILED", 1));
    let reason = reason(&endpoint);
    assert!(reason.contains("IAM did not answer"), "{reason}");
}

#[tokio::test]
async fn the_put_is_retried_after_endpoint_failures() {
    let endpoint = ResponseEndpoint::start().await;
    endpoint.fail_first(2);
    let handler = guard(Ok(Behaviour::Succeed), &endpoint);

    let outcome = handler
        .handle(
            events::create(&endpoint.url("r"), json!({})),
            in_seconds(30),
            FUNCTION_ARN,
        )
        .await;

    assert_eq!(delivered(&outcome), ("SUCCESS", 3));
    let bodies: Vec<_> = endpoint.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "every attempt carries the same response"
    );
}

#[tokio::test]
async fn a_slow_endpoint_is_abandoned_per_attempt_and_retried() {
    let endpoint = ResponseEndpoint::start().await;
    endpoint.delay_first(1, Duration::from_secs(3));
    let handler = guard(Ok(Behaviour::Succeed), &endpoint);

    let outcome = handler
        .handle(
            events::create(&endpoint.url("s"), json!({})),
            in_seconds(30),
            FUNCTION_ARN,
        )
        .await;

    assert_eq!(delivered(&outcome), ("SUCCESS", 2));
}

#[tokio::test]
async fn the_reason_is_truncated_within_the_body_limit_keeping_both_ends() {
    let endpoint = ResponseEndpoint::start().await;
    let handler = guard(Ok(Behaviour::FailWithLongReason), &endpoint);

    handler
        .handle(
            events::create(&endpoint.url("t"), json!({})),
            in_seconds(30),
            FUNCTION_ARN,
        )
        .await;

    let raw = &endpoint.requests()[0].body;
    assert!(raw.len() <= 4096, "body is {} bytes", raw.len());
    let reason = reason(&endpoint);
    assert!(
        reason.starts_with("creating the role: detail detail"),
        "{reason}"
    );
    assert!(reason.ends_with("ROOT CAUSE at the end"), "{reason}");
}

#[tokio::test]
async fn a_configuration_error_fails_every_event_but_the_delete_of_a_create_that_wrote_nothing() {
    let endpoint = ResponseEndpoint::start().await;
    let handler = guard(Err("ENTRA_TENANT_ID: is not set".to_owned()), &endpoint);

    let create = handler
        .handle(
            events::create(&endpoint.url("1"), json!({})),
            in_seconds(30),
            FUNCTION_ARN,
        )
        .await;
    assert_eq!(delivered(&create).0, "FAILED");
    let delete = |n: &str, physical_id: &str| {
        let event = events::delete(&endpoint.url(n), physical_id, json!({}));
        let handler = &handler;
        async move { delivered(&handler.handle(event, in_seconds(30), FUNCTION_ARN).await).0 }
    };
    let nothing = nothing_created_id("6d1c7c7f-2f4a-4a7e-9d6e-3b1f1c0a9e21");
    assert_eq!(delete("2", &nothing).await, "SUCCESS");
    // A role, or a Create that may have written: cleanup is needed, and impossible.
    assert_eq!(
        delete("3", "arn:aws:iam::222222222222:role/ci").await,
        "FAILED"
    );
    assert_eq!(delete("4", &failed_create_id("gen-1")).await, "FAILED");

    let bodies: Vec<Value> = endpoint
        .requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let reason = bodies[0]["Reason"].as_str().unwrap();
    assert!(
        reason.contains("misconfigured: ENTRA_TENANT_ID: is not set"),
        "{reason}"
    );
    assert_eq!(bodies[0]["PhysicalResourceId"], nothing.as_str());
    assert_eq!(bodies[1]["PhysicalResourceId"], nothing.as_str());
    assert_eq!(
        bodies[2]["PhysicalResourceId"],
        "arn:aws:iam::222222222222:role/ci"
    );
}

#[tokio::test]
async fn unknown_and_malformed_requests_are_answered_failed() {
    let endpoint = ResponseEndpoint::start().await;
    let handler = guard(Ok(Behaviour::Succeed), &endpoint);
    let mut unknown = events::create(&endpoint.url("u"), json!({}));
    unknown["RequestType"] = json!("Import");
    let mut malformed = events::create(&endpoint.url("m"), json!({}));
    malformed.as_object_mut().unwrap().remove("StackId");

    for event in [unknown, malformed] {
        assert_eq!(
            delivered(&handler.handle(event, in_seconds(30), FUNCTION_ARN).await).0,
            "FAILED"
        );
    }

    let reasons: Vec<String> = endpoint
        .requests()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["Reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        reasons[0],
        "unsupported RequestType `Import`; expected Create, Update or Delete"
    );
    assert!(
        reasons[1].starts_with("malformed CloudFormation request"),
        "{}",
        reasons[1]
    );
    assert!(reasons[1].contains("StackId"), "{}", reasons[1]);
}

#[tokio::test]
async fn a_refused_response_url_is_never_contacted_and_nothing_runs() {
    let endpoint = ResponseEndpoint::start().await;
    // The resource would panic if it ran: a refused event must not be processed at all.
    let handler = Handler::new(
        Ok(Behaviour::Panic),
        HttpTransport::new(&Roots::default()).unwrap(),
        ResponseUrlPolicy::default(),
        timing(),
    );

    let outcome = handler
        .handle(
            events::create(&endpoint.url("x"), json!({})),
            in_seconds(30),
            FUNCTION_ARN,
        )
        .await;

    assert!(matches!(outcome, Outcome::Refused(_)), "{outcome:?}");
    assert!(endpoint.requests().is_empty());
}
