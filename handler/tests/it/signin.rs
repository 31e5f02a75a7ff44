//! The three ways the factory signs in, end to end: a client secret or a certificate
//! read from Secrets Manager (moto), and secretless sign-in with an assertion from
//! `sts:GetWebIdentityToken` (moto's extension) that the Graph emulator trusts.

use aws_config::SdkConfig;
use entra_federated_role::{
    config::{Config, Credentials},
    graph::Credential,
    signin::{CredentialError, TOKEN_EXCHANGE_AUDIENCE, credential},
};
use entra_federated_role_harness::factory;
use graph_emulator::{GraphEmulator, TestKey};
use serde_json::json;

use crate::{
    graph::{SECRET, Steps, client, config_for, deadline, emulator, workload},
    moto_support::{account_config, fresh_account},
};

/// `config` with the credentials secret `arn`.
fn with_secret(mut config: Config, arn: &str) -> Config {
    config.credentials = Credentials::Secret {
        arn: arn.to_owned(),
    };
    config
}

async fn store_secret(sdk: &SdkConfig, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(format!("entra-factory-{}", fastrand::u32(..)))
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned()
}

async fn signs_in(emulator: &GraphEmulator, credential: Credential) {
    let client = client(emulator, credential);
    client.access_token(deadline()).await.expect("signed in");
}

#[tokio::test]
async fn a_client_secret_from_secrets_manager_signs_in() {
    let (_, sdk) = fresh_account().await;
    let emulator = emulator().await;
    let arn = store_secret(&sdk, &json!({"clientSecret": SECRET}).to_string()).await;

    let credential = credential(&with_secret(config_for(&emulator), &arn), &sdk)
        .await
        .unwrap();

    assert!(matches!(credential, Credential::ClientSecret(_)));
    signs_in(&emulator, credential).await;
}

#[tokio::test]
async fn a_certificate_from_secrets_manager_signs_in() {
    let (_, sdk) = fresh_account().await;
    let emulator = emulator().await;
    let key = TestKey::generate("factory certificate");
    emulator
        .add_certificate(key.certificate_pem().as_bytes())
        .unwrap();
    let stored =
        json!({"certificatePem": key.certificate_pem(), "privateKeyPem": key.private_key_pem()});
    let arn = store_secret(&sdk, &stored.to_string()).await;

    let credential = credential(&with_secret(config_for(&emulator), &arn), &sdk)
        .await
        .unwrap();

    assert!(matches!(credential, Credential::Certificate(_)));
    signs_in(&emulator, credential).await;
}

#[tokio::test]
async fn a_secret_of_the_wrong_shape_is_refused_without_showing_it() {
    let (_, sdk) = fresh_account().await;
    let emulator = emulator().await;
    for stored in [
        "plain-text-s3cr3t-value".to_owned(),
        json!({"clientsecret": "s3cr3t-value"}).to_string(),
        json!({"clientSecret": "s3cr3t-value", "certificatePem": "x"}).to_string(),
        json!({"certificatePem": "s3cr3t-value"}).to_string(),
    ] {
        let arn = store_secret(&sdk, &stored).await;
        let error = credential(&with_secret(config_for(&emulator), &arn), &sdk)
            .await
            .unwrap_err();
        assert!(matches!(error, CredentialError::Shape { .. }), "{error}");
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("\"clientSecret\""), "{shown}");
    }
    let bad_key = json!({"certificatePem": "-----BEGIN CERTIFICATE-----\nnot-base64-s3cr3t\n-----END CERTIFICATE-----", "privateKeyPem": "-----BEGIN PRIVATE KEY-----\ns3cr3t\n-----END PRIVATE KEY-----"});
    let arn = store_secret(&sdk, &bad_key.to_string()).await;
    let error = credential(&with_secret(config_for(&emulator), &arn), &sdk)
        .await
        .unwrap_err();
    assert!(
        matches!(error, CredentialError::Certificate { .. }),
        "{error}"
    );
    assert!(!format!("{error} {error:?}").contains("s3cr3t"));
}

#[tokio::test]
async fn a_missing_secret_names_the_secret() {
    let (account, sdk) = fresh_account().await;
    let emulator = emulator().await;
    let arn = format!("arn:aws:secretsmanager:us-east-1:{account}:secret:absent-AbCdEf");
    let error = credential(&with_secret(config_for(&emulator), &arn), &sdk)
        .await
        .unwrap_err();
    assert!(matches!(error, CredentialError::Read { .. }), "{error}");
    assert!(error.to_string().contains(&arn), "{error}");
}

#[tokio::test]
async fn secretless_sign_in_uses_a_web_identity_token_from_sts() {
    let lambda_account = crate::moto_support::random_account();
    let sdk = account_config(&lambda_account).await;
    let emulator = emulator().await;
    // The factory app trusts the account's outbound issuer with the Lambda role as subject
    // (moto's tokens carry the role ARN behind the assumed-role session), for the audience
    // the factory asks STS for.
    assert_eq!(factory::TOKEN_EXCHANGE_AUDIENCE, TOKEN_EXCHANGE_AUDIENCE);
    factory::trust_outbound_identity(
        &emulator,
        entra_federated_role_harness::moto::shared(),
        "aws-outbound",
        &lambda_account,
        &format!("arn:aws:iam::{lambda_account}:role/test-admin"),
    )
    .await
    .unwrap();
    // Entra has not seen the federated credential yet on the first sign-in (AADSTS70021).
    emulator.configure(|s| s.federated_sign_in_lag = 1);

    let credential = credential(&config_for(&emulator), &sdk).await.unwrap();
    assert!(matches!(credential, Credential::Assertion(_)));
    let identity = client(&emulator, credential)
        .ensure_workload_identity(&workload("secretless"), deadline())
        .await
        .unwrap();

    assert!(identity.created);
    assert_eq!(
        emulator.token_requests(),
        2,
        "one AADSTS70021, then a token"
    );
}
