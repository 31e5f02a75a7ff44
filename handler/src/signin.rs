//! How the factory proves itself to Entra: the AWS half of the three sign-in modes
//! (DESIGN §4, §7), turned into a [`Credential`] for the Graph client.
//!
//! - **Secretless** (`ENTRA_CREDENTIALS_SECRET_ARN` unset): [`WebIdentityAssertion`] asks
//!   `sts:GetWebIdentityToken` for a JWT whose subject is the Lambda's role; a federated
//!   identity credential on the factory app trusts it. No secret exists anywhere.
//! - **Secret**: the Secrets Manager secret holds `{"clientSecret": …}` or
//!   `{"certificatePem": …, "privateKeyPem": …}`; it is read once per warm container.
//!
//! This module joins `crate::aws` and `crate::graph`, which know nothing of each other.

use std::sync::Arc;

use aws_config::SdkConfig;
use futures::future::BoxFuture;
use serde::Deserialize;

use crate::{
    aws::{AwsError, sdk_call},
    config::{Config, Credentials},
    deadline::Deadline,
    graph::{AssertionSource, CertificateCredential, Credential, SignInError},
    secret::Secret,
};

/// The audience Entra expects on federated assertions.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// How long an outbound web identity token lives (it is used at once).
const ASSERTION_SECONDS: i32 = 300;
/// How long reading the factory's own credential may take, retries included: it is read
/// outside any one event's deadline (once per warm container, or per token).
const SIGN_IN_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// Secretless sign-in: AWS outbound web identity federation.
#[derive(Debug, Clone)]
pub struct WebIdentityAssertion {
    sts: aws_sdk_sts::Client,
}

impl WebIdentityAssertion {
    /// Assertions from STS with the factory's own credentials (the regional endpoint of
    /// the Lambda's region).
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            sts: aws_sdk_sts::Client::new(sdk),
        }
    }
}

/// Why STS gave no assertion.
#[derive(Debug, thiserror::Error)]
#[error(
    "getting a web identity token from STS for secretless sign-in: {source}; the factory \
     account needs outbound identity federation enabled once (iam:EnableOutboundWebIdentityFederation) \
     and the Lambda's role needs sts:GetWebIdentityToken, or set ENTRA_CREDENTIALS_SECRET_ARN"
)]
pub struct AssertionError {
    source: AwsError,
}

impl AssertionSource for WebIdentityAssertion {
    fn assertion(&self) -> BoxFuture<'_, Result<Secret, Box<dyn std::error::Error + Send + Sync>>> {
        Box::pin(async move {
            let deadline = Deadline::after(SIGN_IN_BUDGET);
            let output = sdk_call(
                deadline,
                "sts:GetWebIdentityToken",
                AwsError::is_transient,
                || {
                    self.sts
                        .get_web_identity_token()
                        .audience(TOKEN_EXCHANGE_AUDIENCE)
                        .signing_algorithm("RS256")
                        .duration_seconds(ASSERTION_SECONDS)
                        .send()
                },
            )
            .await
            .map_err(|source| AssertionError { source })?;
            let token = output
                .web_identity_token()
                .ok_or("sts:GetWebIdentityToken answered without a token")?;
            Ok(Secret::new(token))
        })
    }
}

/// Why no credential could be made.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Secrets Manager refused or failed.
    #[error("reading the Entra credentials secret {arn}: {source}")]
    Read {
        /// The secret.
        arn: String,
        /// What failed.
        source: AwsError,
    },
    /// The secret does not hold what it should. Its content is never shown.
    #[error(
        "the Entra credentials secret {arn} must be a JSON object with \"clientSecret\", or \
         with \"certificatePem\" and \"privateKeyPem\"; store it in that form"
    )]
    Shape {
        /// The secret.
        arn: String,
    },
    /// The certificate or key does not load.
    #[error("the certificate in the Entra credentials secret {arn} cannot be used: {source}")]
    Certificate {
        /// The secret.
        arn: String,
        /// What is wrong.
        source: SignInError,
    },
}

/// What the credentials secret holds.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Stored {
    client_secret: Option<Secret>,
    certificate_pem: Option<String>,
    private_key_pem: Option<Secret>,
}

/// The factory's credential for `config` (reading its secret if it has one).
pub async fn credential(config: &Config, sdk: &SdkConfig) -> Result<Credential, CredentialError> {
    let arn = match &config.credentials {
        Credentials::Secretless => {
            return Ok(Credential::Assertion(Arc::new(WebIdentityAssertion::new(
                sdk,
            ))));
        }
        Credentials::Secret { arn } => arn,
    };
    let secretsmanager = aws_sdk_secretsmanager::Client::new(sdk);
    let deadline = Deadline::after(SIGN_IN_BUDGET);
    let value = sdk_call(
        deadline,
        "secretsmanager:GetSecretValue",
        AwsError::is_transient,
        || secretsmanager.get_secret_value().secret_id(arn).send(),
    )
    .await
    .map_err(|source| CredentialError::Read {
        arn: arn.clone(),
        source,
    })?;
    let shape = || CredentialError::Shape { arn: arn.clone() };
    // The text is parsed without echoing it: serde's messages can quote the input.
    let text = Secret::new(value.secret_string().ok_or_else(shape)?);
    let stored: Stored = serde_json::from_str(text.expose()).map_err(|_| shape())?;
    match stored {
        Stored {
            client_secret: Some(secret),
            certificate_pem: None,
            private_key_pem: None,
        } if !secret.is_empty() => Ok(Credential::ClientSecret(secret)),
        Stored {
            client_secret: None,
            certificate_pem: Some(certificate),
            private_key_pem: Some(key),
        } => CertificateCredential::from_pem(&certificate, &key)
            .map(Credential::Certificate)
            .map_err(|source| CredentialError::Certificate {
                arn: arn.clone(),
                source,
            }),
        _ => Err(shape()),
    }
}
