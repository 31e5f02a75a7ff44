//! `bootstrap`: the Lambda entry point. Wires logging, configuration, the AWS SDK and the
//! HTTP clients, then serves events until Lambda stops the process: CloudFormation's
//! requests, IAM's role events and the sweep, and the scheduled audit.

use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use entra_federated_role::{
    audit::{self, Scope},
    aws,
    cfn::{Handler, HttpTransport, Timing},
    config,
    deadline::Deadline,
    doctor::{self, Seat},
    graph, logging,
    resource::EntraFederatedRole,
    role_events::{self, BATCH_MARGIN},
    tls::Roots,
};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let loaded = config::load(|name| std::env::var(name).ok());
    // One read of the system's trust store for every HTTPS client, the AWS SDK's included.
    let roots = Roots::system();
    for problem in roots.problems() {
        tracing::warn!(%problem, "the system's trust store");
    }
    // Region, credentials and AWS_ENDPOINT_URL come from the Lambda environment.
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(aws::http::sdk_http_client(roots.clone()))
        .load()
        .await;
    // Graph's client is built now, so the first event's sign-in does not wait for it.
    let resource = match (loaded.config, graph::http_client(&roots)) {
        (Ok(config), Ok(graph_http)) => Ok(EntraFederatedRole::new(config, sdk, graph_http)),
        (Err(errors), _) => {
            tracing::error!(%errors, "configuration invalid: every event will be answered FAILED");
            Err(errors.to_string())
        }
        (_, Err(error)) => {
            tracing::error!(%error, "every event will be answered FAILED");
            Err(error.to_string())
        }
    };
    let handler = Handler::new(
        resource,
        HttpTransport::new(&roots)?,
        loaded.response_urls,
        Timing::default(),
    );
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        let function_arn = &event.context.invoked_function_arn;
        if audit::is_audit(&event.payload) {
            // The hub's scheduled audit: read-only. A failure is the function's error, so
            // Lambda's Errors metric (and its alarm) shows an audit that could not run.
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let work = Deadline::after(left.saturating_sub(BATCH_MARGIN));
            let resource = handler.resource().map_err(|errors| {
                lambda_runtime::Error::from(format!("the configuration is invalid: {errors}"))
            })?;
            return Box::pin(resource.scheduled_audit(&event.payload, function_arn, work))
                .await
                .map_err(|error| {
                    tracing::error!(%error, "the scheduled audit could not run");
                    lambda_runtime::Error::from(error.to_string())
                });
        }
        if doctor::is_doctor(&event.payload) {
            // The doctor's checks as the factory itself: how a secretless factory's sign-in
            // is checked. Read-only.
            let resource = handler.resource().map_err(|errors| {
                lambda_runtime::Error::from(format!("the configuration is invalid: {errors}"))
            })?;
            let scope = Scope::for_function(function_arn, &event.payload)?;
            let parameter = event.payload["parameter"]
                .as_str()
                .unwrap_or(doctor::SERVICE_TOKEN_PARAMETER);
            let work = Deadline::after(
                deadline
                    .duration_since(SystemTime::now())
                    .unwrap_or_default()
                    .saturating_sub(BATCH_MARGIN),
            );
            let checks =
                Box::pin(resource.doctor(&scope, function_arn, parameter, Seat::Factory, work))
                    .await;
            return Ok(json!({ "healthy": doctor::healthy(&checks), "checks": checks }));
        }
        let (batch, sweep) = (
            role_events::is_sqs_batch(&event.payload),
            role_events::is_sweep(&event.payload),
        );
        // Off only when the configuration says so; an invalid configuration fails the batch
        // below, so its messages come back and end in the dead-letter queue.
        let role_events_off = handler.resource().is_ok_and(|r| !r.config().role_events);
        if (batch || sweep) && role_events_off {
            // Role events are off (ROLE_EVENTS): nobody's batch or sweep is served.
            tracing::warn!("a role event or sweep arrived, but ROLE_EVENTS is off: ignored");
            return Ok(json!({ "batchItemFailures": [] }));
        }
        if batch || sweep {
            // IAM's events from the factory's queue (the answer names the messages to
            // deliver again), or the schedule's sweep of roles made outside CloudFormation.
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let work = Deadline::after(left.saturating_sub(BATCH_MARGIN));
            let answer = match (handler.resource(), batch) {
                (Ok(resource), true) => {
                    Box::pin(resource.handle_batch(&event.payload, function_arn, work)).await
                }
                (Ok(resource), false) => {
                    // The report goes to the log; the caller learns only whether it ran.
                    let report = Box::pin(resource.sweep(&event.payload, function_arn, work)).await;
                    json!({ "swept": report.failed == 0 && report.unreachable_accounts == 0 })
                }
                (Err(errors), _) => role_events::fail_batch(&event.payload, errors),
            };
            return Ok::<Value, lambda_runtime::Error>(answer);
        }
        handler.handle(event.payload, deadline, function_arn).await;
        // Always a normal return: an error would make Lambda retry an answered event.
        Ok(Value::Null)
    }))
    .await
}
