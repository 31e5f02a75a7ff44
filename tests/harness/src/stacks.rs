//! CloudFormation as the tests, the demo and the benchmarks play it on moto, so that the
//! factory's caller check (`VERIFY_CALLER_STACK`) reads real stacks.
//!
//! moto creates a stack and records, for each custom resource, the `CREATE_IN_PROGRESS`
//! event CloudFormation records while it waits for the provider; a response PUT to
//! moto's own `ResponseURL` completes it (the project's moto extension,
//! `tests/moto/moto_ext.py`). moto never runs the `ServiceToken` function
//! ([`service_token_function`] is an empty one) and does not drive Update or Delete at
//! all: there the caller plays CloudFormation, recording with [`Stack::record`] what
//! CloudFormation records before it sends each request — the stack's status and the
//! resource's `*_IN_PROGRESS` event with the physical id it sends — and what it records
//! once it has read the answer.

use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::{Value, json};

use crate::{factory::SetupError, http, moto};

/// The resource type of the factory's resources.
pub const RESOURCE_TYPE: &str = "Custom::EntraFederatedRole";

/// A Lambda function in moto, in the account of `access_key` (and `sdk`), for stacks to
/// name as `ServiceToken`: moto never runs it (its Lambda runs no code without Docker),
/// so their custom resources wait for an answer. Created through Lambda's REST API with
/// an empty zip archive; its execution role has the same `name`.
pub async fn service_token_function(
    sdk: &SdkConfig,
    endpoint: &str,
    access_key: &str,
    name: &str,
) -> Result<String, SetupError> {
    let configured = moto::post_json(
        endpoint,
        "/moto-api/config",
        &json!({"lambda": {"use_docker": false}}),
    )
    .await?;
    if configured.status >= 300 {
        return Err(format!(
            "moto's config answered {}: {}",
            configured.status,
            configured.text()
        )
        .into());
    }
    let role = aws_sdk_iam::Client::new(sdk)
        .create_role()
        .role_name(name)
        .assume_role_policy_document(
            json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
            })
            .to_string(),
        )
        .send()
        .await
        .map_err(|e| format!("creating the function's role: {e}"))?;
    let body = json!({
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Role": role.role().ok_or("CreateRole returned no role")?.arn(),
        "Handler": "bootstrap",
        // An empty zip archive: its end-of-central-directory record alone.
        "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
    });
    let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
    let (addr, _) = http::split_http_url(endpoint).ok_or("moto's endpoint is not http")?;
    let created = http::request(
        addr,
        "POST",
        "/2015-03-31/functions",
        &[
            ("Content-Type", "application/json"),
            // moto picks the account from the key and the service from the scope (it
            // checks no signature).
            (
                "Authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential={access_key}/20260101/{region}/lambda/aws4_request, SignedHeaders=host, Signature=0"
                ),
            ),
        ],
        body.to_string().as_bytes(),
    )
    .await?;
    if created.status != 201 {
        return Err(format!(
            "CreateFunction answered {}: {}",
            created.status,
            created.text()
        )
        .into());
    }
    Ok(created.json()?["FunctionArn"]
        .as_str()
        .ok_or("CreateFunction returned no ARN")?
        .to_owned())
}

/// A stack in moto.
#[derive(Debug, Clone)]
pub struct Stack {
    endpoint: String,
    /// Its `StackId`.
    pub id: String,
}

impl Stack {
    /// Creates stack `name` from `template` with `sdk` (whose account it lands in); moto
    /// at `endpoint` then waits in `CREATE_IN_PROGRESS` for each custom resource.
    pub async fn create(
        sdk: &SdkConfig,
        endpoint: &str,
        name: &str,
        template: &Value,
    ) -> Result<Self, SetupError> {
        let created = aws_sdk_cloudformation::Client::new(sdk)
            .create_stack()
            .stack_name(name)
            .template_body(template.to_string())
            .send()
            .await
            .map_err(|e| format!("creating stack {name}: {e}"))?;
        Ok(Self {
            endpoint: endpoint.to_owned(),
            id: created
                .stack_id()
                .ok_or("CreateStack returned no id")?
                .to_owned(),
        })
    }

    /// A template with one resource of ours per `logical_ids`, served by `function`.
    pub fn template(function: &str, logical_ids: &[&str]) -> Value {
        let resources: serde_json::Map<String, Value> = logical_ids
            .iter()
            .map(|id| {
                (
                    (*id).to_owned(),
                    json!({"Type": RESOURCE_TYPE, "Properties": {"ServiceToken": function}}),
                )
            })
            .collect();
        json!({ "Resources": resources })
    }

    /// Records a change of the stack's status.
    pub async fn status(&self, stack_status: &str) -> Result<(), SetupError> {
        self.post(json!({"StackId": self.id, "StackStatus": stack_status}))
            .await
    }

    /// Records an event of resource `logical_id` (its type is the template's):
    /// `resource_status` with `physical_id` (empty for none).
    pub async fn record(
        &self,
        logical_id: &str,
        resource_status: &str,
        physical_id: &str,
    ) -> Result<(), SetupError> {
        self.post(self.event(logical_id, resource_status, physical_id))
            .await
    }

    /// As [`Stack::record`], with the stack's whole history moved `age` into the past:
    /// the event is the newest, and that old.
    pub async fn record_aged(
        &self,
        logical_id: &str,
        resource_status: &str,
        physical_id: &str,
        age: Duration,
    ) -> Result<(), SetupError> {
        let mut event = self.event(logical_id, resource_status, physical_id);
        event["AgeSeconds"] = json!(age.as_secs());
        self.post(event).await
    }

    fn event(&self, logical_id: &str, resource_status: &str, physical_id: &str) -> Value {
        let mut event = json!({
            "StackId": self.id,
            "LogicalResourceId": logical_id,
            "ResourceStatus": resource_status,
        });
        if !physical_id.is_empty() {
            event["PhysicalResourceId"] = json!(physical_id);
        }
        event
    }

    async fn post(&self, body: Value) -> Result<(), SetupError> {
        let answer = moto::post_json(&self.endpoint, "/_efr/cloudformation/events", &body).await?;
        if answer.status == 204 {
            Ok(())
        } else {
            Err(format!(
                "recording a stack event answered {}: {}",
                answer.status,
                answer.text()
            )
            .into())
        }
    }
}
