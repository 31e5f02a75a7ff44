//! `bootstrap`: the Lambda entry point. Wires logging, configuration, the AWS SDK and the
//! HTTP client, then serves events until Lambda stops the process.

use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use entra_federated_role::{
    cfn::{Handler, HttpTransport, Timing},
    config, logging,
    resource::EntraFederatedRole,
};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let loaded = config::load(|name| std::env::var(name).ok());
    // Region, credentials and AWS_ENDPOINT_URL come from the Lambda environment.
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let resource = match loaded.config {
        Ok(config) => Ok(EntraFederatedRole::new(config, sdk)),
        Err(errors) => {
            tracing::error!(%errors, "configuration invalid: every event will be answered FAILED");
            Err(errors.to_string())
        }
    };
    let handler = Handler::new(
        resource,
        HttpTransport::new()?,
        loaded.response_urls,
        Timing::default(),
    );
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        handler
            .handle(event.payload, deadline, &event.context.invoked_function_arn)
            .await;
        // Always a normal return: an error would make Lambda retry an answered event.
        Ok::<(), std::convert::Infallible>(())
    }))
    .await
}
