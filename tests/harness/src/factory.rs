//! The factory as the end-to-end tests, the demo and the benchmarks run it: SDK
//! configurations for moto, credentials in one of its accounts, its sign-in to Entra (a
//! client secret in Secrets Manager, or secretless through `sts:GetWebIdentityToken`),
//! and the environment that points the real `bootstrap` at the local stand-ins.

use std::error::Error;

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use aws_credential_types::Credentials;
use graph_emulator::GraphEmulator;
use serde_json::{Value, json};

use crate::moto;

/// What can go wrong setting the factory up.
pub type SetupError = Box<dyn Error + Send + Sync>;

/// The region every stand-in is addressed in.
pub const REGION: &str = "us-east-1";

/// SDK configuration for moto at `endpoint` with `credentials`, one attempt per call
/// (moto answers actions it lacks with 500, which retries would only slow down).
pub async fn moto_sdk(endpoint: &str, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(credentials)
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

/// Credentials of `role` in `account`, assumed from `root` as `session` (in moto,
/// assumed credentials act in the role's account: cheap isolation and real hub mode).
pub async fn assume(
    root: &SdkConfig,
    account: &str,
    role: &str,
    session: &str,
) -> Result<Credentials, SetupError> {
    let role_arn = format!("arn:aws:iam::{account}:role/{role}");
    let assumed = aws_sdk_sts::Client::new(root)
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name(session)
        .send()
        .await
        .map_err(|e| format!("assuming {role_arn}: {e}"))?;
    let c = assumed
        .credentials()
        .ok_or("AssumeRole returned no credentials")?;
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        None,
        "assumed",
    ))
}

/// Stores the factory's Entra client secret as the factory reads it
/// (`{"clientSecret": …}`) under `name`; returns the secret's ARN.
pub async fn store_client_secret(
    sdk: &SdkConfig,
    name: &str,
    client_secret: &str,
) -> Result<String, SetupError> {
    let created = aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(json!({ "clientSecret": client_secret }).to_string())
        .send()
        .await
        .map_err(|e| format!("storing the factory's client secret: {e}"))?;
    Ok(created
        .arn()
        .ok_or("CreateSecret returned no ARN")?
        .to_owned())
}

/// The audience of the assertions Entra accepts from federated identity credentials.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Lets the factory sign in without any secret, as the recommended deployment does: the
/// emulator trusts the keys of moto's outbound identity federation, and the factory app
/// gets a federated identity credential (`name`) for the outbound issuer of `account`,
/// with subject `role_arn` (the Lambda's execution role: moto's tokens carry the role's
/// ARN behind an assumed-role session) and audience [`TOKEN_EXCHANGE_AUDIENCE`]. The
/// factory then signs in with the JWT of `sts:GetWebIdentityToken` as its client
/// assertion. Returns the issuer.
pub async fn trust_outbound_identity(
    graph: &GraphEmulator,
    moto_endpoint: &str,
    name: &str,
    account: &str,
    role_arn: &str,
) -> Result<String, SetupError> {
    let jwks = moto_json(moto_endpoint, "/_efr/outbound-identity/jwks.json").await?;
    graph
        .add_jwks(&jwks)
        .map_err(|e| format!("trusting moto's outbound identity keys: {e}"))?;
    let issuer = moto_json(
        moto_endpoint,
        &format!("/_efr/outbound-identity/issuer?account={account}"),
    )
    .await?;
    let issuer = issuer["issuer"]
        .as_str()
        .ok_or("moto named no outbound issuer")?;
    graph.add_factory_federated_credential(name, issuer, role_arn, TOKEN_EXCHANGE_AUDIENCE);
    Ok(issuer.to_owned())
}

/// The JSON the moto server at `endpoint` serves at `path`.
async fn moto_json(endpoint: &str, path: &str) -> Result<Value, SetupError> {
    let answer = moto::get(endpoint, path).await?;
    if answer.status != 200 {
        return Err(format!(
            "moto answered {path} with {}: {}",
            answer.status,
            answer.text()
        )
        .into());
    }
    Ok(answer.json()?)
}

/// Where the factory's calls go, and as whom it makes them.
#[derive(Debug, Clone, Copy)]
pub struct StandIns<'a> {
    /// The tenant the factory manages.
    pub graph: &'a GraphEmulator,
    /// Where the factory reaches Entra and Graph: the emulator, or a proxy in front of it.
    pub entra_url: &'a str,
    /// AWS (moto, or a proxy in front of it).
    pub aws_endpoint: &'a str,
    /// The host the response URLs name (`EXTRA_RESPONSE_URL_HOSTS`).
    pub response_host: &'a str,
    /// The factory's client secret in Secrets Manager; `None` for secretless sign-in (no
    /// `ENTRA_CREDENTIALS_SECRET_ARN`: see [`trust_outbound_identity`]).
    pub secret_arn: Option<&'a str>,
    /// The factory's own AWS credentials (its execution role's).
    pub credentials: &'a Credentials,
}

impl StandIns<'_> {
    /// The factory's environment (beyond what Lambda sets): single-account mode with the
    /// caller check off until [`set_env`] says otherwise.
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("ENTRA_TENANT_ID", self.graph.tenant_id()),
            ("ENTRA_CLIENT_ID", self.graph.factory_client_id()),
            ("AZURE_AUTHORITY_HOST", self.entra_url.to_owned()),
            ("GRAPH_ENDPOINT", self.entra_url.to_owned()),
            ("VERIFY_CALLER_STACK", "false".to_owned()),
            ("EXTRA_RESPONSE_URL_HOSTS", self.response_host.to_owned()),
            ("AWS_ENDPOINT_URL", self.aws_endpoint.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            (
                "AWS_ACCESS_KEY_ID",
                self.credentials.access_key_id().to_owned(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                self.credentials.secret_access_key().to_owned(),
            ),
            (
                "AWS_SESSION_TOKEN",
                self.credentials
                    .session_token()
                    .unwrap_or_default()
                    .to_owned(),
            ),
        ]
        .map(|(name, value)| (name.to_owned(), value))
        .into();
        if let Some(arn) = self.secret_arn {
            env.push(("ENTRA_CREDENTIALS_SECRET_ARN".to_owned(), arn.to_owned()));
        }
        env
    }
}

/// Sets each of `overrides` in `env`, replacing an entry of the same name.
pub fn set_env(env: &mut Vec<(String, String)>, overrides: &[(&str, &str)]) {
    for (name, value) in overrides {
        env.retain(|(existing, _)| existing != name);
        env.push(((*name).to_owned(), (*value).to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_entries_of_the_same_name() {
        let mut env = vec![
            ("A".to_owned(), "1".to_owned()),
            ("B".to_owned(), "2".to_owned()),
        ];
        set_env(&mut env, &[("A", "3"), ("C", "4")]);
        assert_eq!(
            env,
            [("B", "2"), ("A", "3"), ("C", "4")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }
}
