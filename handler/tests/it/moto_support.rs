//! Working in moto: SDK configurations, isolated accounts, and stacks whose custom
//! resource is still waiting for its answer.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use entra_federated_role_harness::{factory, http, moto};
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

/// A stack in moto: `CREATE_IN_PROGRESS` while its custom resource waits for an answer
/// (moto invokes a Lambda function it cannot run), or `CREATE_COMPLETE` without one.
pub async fn moto_stack(
    config: &SdkConfig,
    name: &str,
    in_progress: bool,
    outputs: serde_json::Value,
) -> String {
    let mut resources = json!({"Queue": {"Type": "AWS::SQS::Queue"}});
    if in_progress {
        let configured = http::request(
            moto::shared().trim_start_matches("http://"),
            "POST",
            "/moto-api/config",
            &[("Content-Type", "application/json")],
            br#"{"lambda": {"use_docker": false}}"#,
        )
        .await
        .unwrap();
        assert!(configured.status < 300, "{}", configured.text());
        let function = create_function(config).await;
        resources["CiRole"] =
            json!({"Type": "Custom::EntraFederatedRole", "Properties": {"ServiceToken": function}});
    }
    let template = json!({"Resources": resources, "Outputs": outputs}).to_string();
    aws_sdk_cloudformation::Client::new(config)
        .create_stack()
        .stack_name(name)
        .template_body(template)
        .send()
        .await
        .unwrap()
        .stack_id()
        .unwrap()
        .to_owned()
}

/// A Lambda function in moto's default account, created through Lambda's REST API
/// (`CreateFunction`); moto never runs it without Docker.
async fn create_function(config: &SdkConfig) -> String {
    let role = aws_sdk_iam::Client::new(config)
        .create_role()
        .role_name(format!("lambda-exec-{}", fastrand::u32(..)))
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    let body = json!({
        "FunctionName": format!("efr-{}", fastrand::u32(..)),
        "Runtime": "provided.al2023",
        "Role": role.role().unwrap().arn(),
        "Handler": "bootstrap",
        // An empty zip archive: its end-of-central-directory record alone.
        "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
    });
    let created = http::request(
        moto::shared().trim_start_matches("http://"),
        "POST",
        "/2015-03-31/functions",
        &[
            ("Content-Type", "application/json"),
            // moto picks the service from the credential scope (it checks no signature).
            (
                "Authorization",
                &format!("AWS4-HMAC-SHA256 Credential={ROOT_ACCESS_KEY}/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0"),
            ),
        ],
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(created.status, 201, "{}", created.text());
    created.json().unwrap()["FunctionArn"]
        .as_str()
        .unwrap()
        .to_owned()
}
