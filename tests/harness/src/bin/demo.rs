//! The local end-to-end demo: the real `bootstrap` binary under a local Lambda Runtime
//! API, answering to a local stand-in for CloudFormation's response bucket.
//!
//! Usage: `demo <path to bootstrap>` (see `scripts/demo`). Exits non-zero when any step
//! of the story does not end as expected.

use std::{error::Error, path::PathBuf, process::ExitCode, time::Duration};

use entra_federated_role_harness::{
    process::Bootstrap,
    response_endpoint::ResponseEndpoint,
    runtime_api::{Outcome, RuntimeApi},
};
use serde_json::{Value, json};

const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:222222222222:stack/ci-roles/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1";

/// One step of the story: an event and the status CloudFormation must read.
struct Step {
    title: &'static str,
    event: Value,
    expect: &'static str,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => {
            println!("\ndemo finished: every step ended as expected");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("\ndemo failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let binary = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: demo <path to bootstrap>")?,
    );
    let runtime = RuntimeApi::try_start().await?;
    // The factory runs in the stack's account (single-account mode).
    runtime.set_function_arn("arn:aws:lambda:us-east-1:222222222222:function:entra-federated-role");
    let endpoint = ResponseEndpoint::try_start().await?;
    let env = [
        ("ENTRA_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ("ENTRA_CLIENT_ID", "0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("EXTRA_RESPONSE_URL_HOSTS", &endpoint.host()),
        // There is no CloudFormation here to confirm the calling stack with.
        ("VERIFY_CALLER_STACK", "false"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let mut process = Bootstrap::try_spawn(&binary, &runtime.addr(), &env)?;
    println!(
        "started {} under a local Lambda Runtime API at {}",
        binary.display(),
        runtime.addr()
    );

    let valid = json!({
        "RoleName": "ci-deploy",
        "MaxSessionDuration": "7200",
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "FederatedCredentials": [{
            "Name": "github-main",
            "Issuer": "https://token.actions.githubusercontent.com",
            "Subject": "repo:contoso/app:ref:refs/heads/main"
        }]
    });
    let mut story = vec![
        Step {
            title: "Create with a misspelt property and an out-of-range duration",
            event: event(
                "Create",
                &endpoint.url("create-bad"),
                None,
                json!({"Rolename": "ci", "MaxSessionDuration": "90"}),
            ),
            expect: "FAILED",
        },
        Step {
            title: "Create with valid properties",
            event: event("Create", &endpoint.url("create"), None, valid.clone()),
            expect: "FAILED",
        },
    ];
    for step in story.drain(..) {
        show(&runtime, &endpoint, &step).await?;
    }
    // CloudFormation deletes what a failed Create reported, by the id we returned.
    let failed_id = endpoint
        .requests()
        .last()
        .and_then(|r| r.json().ok())
        .and_then(|body: Value| body["PhysicalResourceId"].as_str().map(str::to_owned))
        .ok_or("the last answer had no PhysicalResourceId")?;
    let delete = Step {
        title: "Delete of the failed Create (CloudFormation's rollback)",
        event: event("Delete", &endpoint.url("delete"), Some(&failed_id), valid),
        expect: "SUCCESS",
    };
    show(&runtime, &endpoint, &delete).await?;

    process.kill().await;
    Ok(())
}

fn event(
    request_type: &str,
    response_url: &str,
    physical_id: Option<&str>,
    properties: Value,
) -> Value {
    let mut event = json!({
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:us-east-1:111111111111:function:entra-federated-role",
        "ResponseURL": response_url,
        "StackId": STACK_ID,
        "RequestId": format!("demo-{request_type}-{}", fastrand::u32(..)),
        "ResourceType": "Custom::EntraFederatedRole",
        "LogicalResourceId": "CiRole",
        "ResourceProperties": properties,
    });
    if let Some(id) = physical_id {
        event["PhysicalResourceId"] = json!(id);
    }
    event
}

async fn show(
    runtime: &RuntimeApi,
    endpoint: &ResponseEndpoint,
    step: &Step,
) -> Result<(), Box<dyn Error>> {
    println!("\n== {}", step.title);
    println!(
        "{} {}",
        step.event["RequestType"].as_str().unwrap_or("?"),
        serde_json::to_string_pretty(&step.event["ResourceProperties"])?
    );
    let before = endpoint.requests().len();
    let id = runtime.invoke(&step.event, Duration::from_secs(60));
    match runtime.outcome(&id, Duration::from_secs(30)).await {
        Some(Outcome::Response(_)) => {}
        other => return Err(format!("the invocation did not end normally: {other:?}").into()),
    }
    let answer: Value = endpoint
        .requests()
        .get(before)
        .ok_or("no response reached the response endpoint")?
        .json()?;
    println!(
        "CloudFormation reads: {}",
        serde_json::to_string_pretty(&answer)?
    );
    if answer["Status"] != step.expect {
        return Err(format!("expected {}, got {}", step.expect, answer["Status"]).into());
    }
    Ok(())
}
