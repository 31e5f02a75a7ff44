//! Working in moto: SDK configurations, isolated accounts, and stacks whose custom
//! resource is still waiting for its answer.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use entra_federated_role_harness::{
    factory, moto,
    stacks::{self, Stack},
};
use serde_json::json;

/// The access key moto maps to its default account, 123456789012.
pub const ROOT_ACCESS_KEY: &str = "AKIAEXAMPLEROOT00001";
/// moto's default account.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// Credentials of moto's default account.
pub fn root_credentials() -> Credentials {
    Credentials::new(ROOT_ACCESS_KEY, "secret", None, None, "test")
}

/// SDK configuration for moto with `credentials`, one attempt per call (moto answers
/// unimplemented actions with 500, which retries would only slow down).
pub async fn config(credentials: Credentials) -> SdkConfig {
    factory::moto_sdk(moto::shared(), credentials).await
}

/// A random 12-digit account id (moto creates accounts on first use).
pub fn random_account() -> String {
    format!("{:012}", fastrand::u64(100_000_000_000..999_999_999_999))
}

/// Credentials acting in `account` (moto's multi-account model: credentials from
/// `sts:AssumeRole` belong to the role's account).
pub async fn account_credentials(account: &str) -> Credentials {
    let root = config(root_credentials()).await;
    factory::assume(&root, account, "test-admin", "test")
        .await
        .expect("moto's sts:AssumeRole")
}

/// A configuration acting in `account`.
pub async fn account_config(account: &str) -> SdkConfig {
    config(account_credentials(account).await).await
}

/// A fresh account and a configuration acting in it.
pub async fn fresh_account() -> (String, SdkConfig) {
    let account = random_account();
    let config = account_config(&account).await;
    (account, config)
}

/// A stack in moto's default account: `CREATE_IN_PROGRESS` while its custom resource
/// `CiRole` waits for an answer (moto invokes a Lambda function it cannot run), or
/// `CREATE_COMPLETE` without one. It always holds an SQS queue, `Queue`.
pub async fn moto_stack(
    config: &SdkConfig,
    name: &str,
    in_progress: bool,
    outputs: serde_json::Value,
) -> String {
    let mut template =
        json!({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs});
    if in_progress {
        let function = service_token(config, ROOT_ACCESS_KEY).await;
        template["Resources"]["CiRole"] =
            json!({"Type": stacks::RESOURCE_TYPE, "Properties": {"ServiceToken": function}});
    }
    Stack::create(config, moto::shared(), name, &template)
        .await
        .unwrap()
        .id
}

/// A stack in `account` (reached with `config`, acting with `credentials`) holding our
/// resources `logical_ids` and an SQS queue, `Queue`: each of ours waits for an answer
/// (`CREATE_IN_PROGRESS`).
pub async fn account_stack(
    config: &SdkConfig,
    credentials: &Credentials,
    name: &str,
    logical_ids: &[&str],
) -> Stack {
    let function = service_token(config, credentials.access_key_id()).await;
    let mut template = Stack::template(&function, logical_ids);
    template["Resources"]["Queue"] = json!({"Type": "AWS::SQS::Queue"});
    Stack::create(config, moto::shared(), name, &template)
        .await
        .unwrap()
}

/// A function in the account of `access_key` for stacks to name as `ServiceToken`.
async fn service_token(config: &SdkConfig, access_key: &str) -> String {
    stacks::service_token_function(
        config,
        moto::shared(),
        access_key,
        &format!("efr-{}", fastrand::u32(..)),
    )
    .await
    .unwrap()
}
