//! The last step of the story: a caller exchanges its Entra token at AWS STS for the
//! role's credentials, and only the callers the trust names get in.
//!
//! One scenario, two places to run it. By default against the stand-ins: the Graph
//! emulator issues signed access tokens and moto's STS (with `moto_ext`'s check) verifies
//! them and evaluates the role's trust as AWS does. Opt-in, against a real tenant and
//! account: the live suite, skipped unless `EFR_LIVE=1` (see [`Live::from_env`]).
//!
//! The factory's own app is the caller: it can sign in anywhere the factory runs, and
//! a role trusts it only while `TrustedClientAppIds` lists it.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_sts::error::ProvideErrorMetadata;
use base64::Engine;
use entra_federated_role_harness::{
    factory::{set_env, store_client_secret},
    moto,
};
use futures::FutureExt;
use graph_emulator::{GraphEmulator, TestKey};
use serde_json::{Value, json};

use crate::lifecycle::{Driver, Factory, SECRET, ok, own_tenant, stack_in};
use crate::moto_support::{config, fresh_account, root_credentials};

/// Where a caller gets its Entra token, and where it exchanges it.
pub(crate) struct Clouds {
    /// Entra's authority host, e.g. `https://login.microsoftonline.com`.
    authority: String,
    tenant: String,
    /// The caller: the factory's app and its client secret.
    client_id: String,
    client_secret: String,
    /// STS, for `AssumeRoleWithWebIdentity`.
    sts: aws_sdk_sts::Client,
    /// IAM in the roles' account, to see what is left.
    iam: aws_sdk_iam::Client,
    /// How long IAM may take to apply a change everywhere (none in moto).
    patience: Duration,
}

/// Why STS refused, or the role session it gave.
pub(crate) type Exchange = Result<Session, String>;

#[derive(Debug)]
pub(crate) struct Session {
    /// `AssumedRoleUser.Arn`.
    arn: String,
    /// `SubjectFromWebIdentityToken`.
    pub(crate) subject: String,
}

impl Clouds {
    /// A client-credentials token for `scope`, with `form` proving who asks.
    async fn token(&self, scope: &str, form: &[(&str, &str)]) -> Result<String, String> {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant
        );
        let mut fields = vec![("scope", scope), ("grant_type", "client_credentials")];
        fields.extend_from_slice(form);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let answer = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("token request: {e}"))?;
        let body: Value = serde_json::from_slice(&answer.bytes().await.unwrap_or_default())
            .map_err(|e| format!("token answer: {e}"))?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| body.to_string())
    }

    /// The Entra token for `scope` that a CI job gets by signing in as the application
    /// `app_id` with its own OIDC token (`issuer`, `subject`), signed with `key`: what a
    /// GitHub Actions job does through the application's federated credential.
    pub(crate) async fn ci_job_token(
        &self,
        key: &TestKey,
        issuer: &str,
        subject: &str,
        app_id: &str,
        scope: &str,
    ) -> Result<String, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let assertion = key.sign(&json!({
            "iss": issuer, "sub": subject, "aud": "api://AzureADTokenExchange",
            "iat": now, "nbf": now, "exp": now + 300,
        }));
        let form = [
            ("client_id", app_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        self.token(scope, &form).await
    }

    /// How the factory proves who it is.
    fn caller(&self) -> [(&str, &str); 2] {
        [
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ]
    }

    /// The factory's token for `scope` (a new app may take Entra a moment to know).
    async fn caller_token(&self, scope: &str) -> String {
        eventually(
            self.patience,
            || async { self.token(scope, &self.caller()).await },
            Result::is_ok,
        )
        .await
        .unwrap_or_else(|error| panic!("the caller's token for {scope}: {error}"))
    }

    pub(crate) async fn exchange(&self, role_arn: &str, token: &str) -> Exchange {
        let answer = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name("efr-exchange-test")
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "{}: {}",
                    e.code().unwrap_or("no error code"),
                    e.message().unwrap_or_default()
                )
            })?;
        Ok(Session {
            arn: answer
                .assumed_role_user()
                .map(|u| u.arn().to_owned())
                .unwrap_or_default(),
            subject: answer
                .subject_from_web_identity_token()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// Fails unless STS refuses `token` for `role_arn` with `AccessDenied` (within the
    /// patience); `when` says at which point of the story.
    async fn expect_denied(&self, role_arn: &str, token: &str, when: &str) {
        let denied = refused_for("AccessDenied");
        let answer = self.exchange_until(role_arn, token, &denied).await;
        assert!(denied(&answer), "{when}: {answer:?}");
    }

    /// Exchanges `token` until `done` holds of the answer or the patience runs out.
    async fn exchange_until(
        &self,
        role_arn: &str,
        token: &str,
        done: impl Fn(&Exchange) -> bool,
    ) -> Exchange {
        eventually(self.patience, || self.exchange(role_arn, token), done).await
    }
}

/// Tries `attempt` until `done` holds of its answer or `patience` runs out; returns the
/// last answer. With no patience (moto applies every change at once), exactly once.
async fn eventually<T, F: std::future::Future<Output = T>>(
    patience: Duration,
    mut attempt: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let until = Instant::now() + patience;
    loop {
        let answer = attempt().await;
        if done(&answer) || Instant::now() >= until {
            return answer;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// The claims of a JWT, read without checking it (STS checks it).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// The `sub` of a JWT.
fn subject_of(token: &str) -> String {
    claims_of(token)["sub"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Whether STS refused with the error code `code`.
fn refused_for(code: &str) -> impl Fn(&Exchange) -> bool + '_ {
    move |answer| matches!(answer, Err(error) if error.split(':').next() == Some(code))
}

/// Create with no trusted clients: the caller is refused. Trust it: it gets in as
/// itself. Untrust it: refused again. Delete (also when a check failed, so a live run
/// leaves nothing behind): nothing is left and nobody gets in.
async fn only_listed_callers_get_in(driver: &Driver, clouds: &Clouds, stack: &str, base: Value) {
    let created = driver.send(&driver.create(stack, base.clone())).await;
    let data = ok(&created).clone();
    let role_arn = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    let role_name = data["RoleName"].as_str().unwrap().to_owned();
    let token = clouds
        .caller_token(data["TokenScope"].as_str().unwrap())
        .await;
    let checks = AssertUnwindSafe(trust_follows_the_trusted_clients(
        driver, clouds, stack, &base, &data, &token,
    ))
    .catch_unwind()
    .await;
    let deleted = driver.send(&driver.delete(stack, &role_arn, base)).await;
    if let Err(panic) = checks {
        std::panic::resume_unwind(panic);
    }
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted:#}");
    let role = clouds.iam.get_role().role_name(&role_name).send().await;
    assert_eq!(
        role.map_err(|e| e.code().unwrap_or_default().to_owned())
            .err()
            .as_deref(),
        Some("NoSuchEntity"),
        "the role is gone"
    );
    let answer = clouds
        .exchange_until(&role_arn, &token, Result::is_err)
        .await;
    assert!(answer.is_err(), "nobody gets in after Delete: {answer:?}");
    // The resource app is gone from Entra too: no token is issued for it any more.
    let scope = data["TokenScope"].as_str().unwrap();
    let issued = eventually(
        clouds.patience,
        || async { clouds.token(scope, &clouds.caller()).await },
        Result::is_err,
    )
    .await;
    assert!(
        issued.as_ref().is_err_and(|e| e.contains("AADSTS500011")),
        "{issued:?}"
    );
}

async fn trust_follows_the_trusted_clients(
    driver: &Driver,
    clouds: &Clouds,
    stack: &str,
    base: &Value,
    data: &Value,
    token: &str,
) {
    let role_arn = data["RoleArn"].as_str().unwrap();
    let role_name = data["RoleName"].as_str().unwrap();
    // The audience is the role's own, so only `sub` keeps the caller out.
    clouds
        .expect_denied(role_arn, token, "not trusted yet")
        .await;

    let mut trusting = base.clone();
    trusting["TrustedClientAppIds"] = json!([clouds.client_id]);
    let updated = driver
        .send(&driver.update(stack, role_arn, base.clone(), trusting.clone()))
        .await;
    ok(&updated);
    let session = clouds
        .exchange_until(role_arn, token, Result::is_ok)
        .await
        .expect("a trusted client gets in");
    assert!(
        session.arn.contains(&format!(":assumed-role/{role_name}/")),
        "{session:?}"
    );
    assert_eq!(session.subject, subject_of(token));

    let untrusted = driver
        .send(&driver.update(stack, role_arn, trusting, base.clone()))
        .await;
    ok(&untrusted);
    clouds
        .expect_denied(role_arn, token, "trust withdrawn")
        .await;
}

/// Tells moto's STS where the emulated tenant publishes the keys of its v1 and v2 tokens
/// (AWS would find them through each issuer's discovery document).
async fn trust_tenant_keys(graph: &GraphEmulator) {
    let v2 = format!(
        "https://login.microsoftonline.com/{}/v2.0",
        graph.tenant_id()
    );
    for issuer in [graph.issuer(), v2] {
        let answer = moto::post_json(
            moto::shared(),
            "/_efr/web-identity/issuers",
            &json!({ "issuer": issuer, "jwks_uri": graph.jwks_uri() }),
        )
        .await
        .unwrap();
        assert!(answer.status < 300, "{}", answer.text());
    }
}

pub(crate) async fn local_clouds(factory: &Factory) -> Clouds {
    trust_tenant_keys(&factory.graph).await;
    Clouds {
        authority: factory.graph.url().to_owned(),
        tenant: factory.graph.tenant_id(),
        client_id: factory.graph.factory_client_id(),
        client_secret: SECRET.to_owned(),
        sts: aws_sdk_sts::Client::new(&config(root_credentials()).await),
        iam: aws_sdk_iam::Client::new(&factory.hub_sdk),
        patience: Duration::ZERO,
    }
}

fn minimal_properties(service_token: &str) -> Value {
    json!({
        "ServiceToken": service_token,
        "Description": "entra-federated-role token exchange test",
    })
}

/// The everyday path: a CI job's own OIDC token signs in as the role's app through the
/// federated credential the resource declared, and gets in as the app's own service
/// principal; a job of another branch gets no Entra token at all. With `TokenVersion: 2`
/// the token's issuer, audience and so the provider are v2's.
#[rstest::rstest]
#[case::v1_tokens("1")]
#[case::v2_tokens("2")]
#[tokio::test]
async fn a_ci_job_signs_in_with_its_federated_credential_and_assumes_its_role(
    #[case] token_version: &str,
) {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    let clouds = local_clouds(&factory).await;
    let ci = TestKey::generate("ci issuer");
    factory.graph.add_jwks(&ci.jwks()).unwrap();
    let issuer = "https://token.actions.githubusercontent.com";
    let subject = "repo:contoso/app:ref:refs/heads/main";
    let mut properties = minimal_properties(&format!(
        "arn:aws:lambda:us-east-1:{hub}:function:entra-federated-role"
    ));
    properties["FederatedCredentials"] =
        json!([{"Name": "github-main", "Issuer": issuer, "Subject": subject}]);
    properties["TokenVersion"] = json!(token_version);
    let created = factory
        .send(&factory.create(&stack_in(&hub), properties))
        .await;
    let data = ok(&created).clone();
    let role_arn = data["RoleArn"].as_str().unwrap();

    let app_id = data["ApplicationId"].as_str().unwrap();
    let scope = data["TokenScope"].as_str().unwrap();
    let sign_in = |sub| clouds.ci_job_token(&ci, issuer, sub, app_id, scope);
    let token = sign_in(subject).await.expect("the job's Entra token");
    let claims = claims_of(&token);
    assert_eq!(claims["sub"], data["ServicePrincipalId"]);
    assert_eq!(claims["iss"], data["Issuer"]);
    assert_eq!(claims["aud"], data["Audience"]);
    let session = clouds
        .exchange(role_arn, &token)
        .await
        .expect("the job gets in");
    assert_eq!(
        session.subject,
        data["ServicePrincipalId"].as_str().unwrap()
    );

    let other_branch = sign_in("repo:contoso/app:ref:refs/heads/feature").await;
    assert!(
        other_branch
            .as_ref()
            .is_err_and(|e| e.contains("AADSTS700213")),
        "{other_branch:?}"
    );
}

/// With `RequireAppRoleAssignment`, Entra itself keeps out the apps the role does not
/// trust: they get no token at all, and a trusted client's token carries the app role.
#[tokio::test]
async fn with_assignment_required_only_trusted_apps_get_an_entra_token() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    factory
        .graph
        .configure(|s| s.app_role_assignment_permission = true);
    let clouds = local_clouds(&factory).await;
    let stack = stack_in(&hub);
    let mut base = minimal_properties(&format!(
        "arn:aws:lambda:us-east-1:{hub}:function:entra-federated-role"
    ));
    base["RequireAppRoleAssignment"] = json!("true");
    let created = factory.send(&factory.create(&stack, base.clone())).await;
    let data = ok(&created).clone();
    let (role_arn, scope) = (
        data["RoleArn"].as_str().unwrap(),
        data["TokenScope"].as_str().unwrap(),
    );
    let refused = clouds.token(scope, &clouds.caller()).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("AADSTS501051")),
        "{refused:?}"
    );

    let mut trusting = base.clone();
    trusting["TrustedClientAppIds"] = json!([clouds.client_id]);
    let updated = factory
        .send(&factory.update(&stack, role_arn, base, trusting.clone()))
        .await;
    ok(&updated);
    let token = clouds.caller_token(scope).await;
    assert_eq!(
        claims_of(&token)["roles"],
        json!([entra_federated_role::domain::app_role::APP_ROLE_VALUE])
    );
    let session = clouds.exchange(role_arn, &token).await;
    assert!(session.is_ok(), "{session:?}");

    let deleted = factory
        .send(&factory.delete(&stack, role_arn, trusting))
        .await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted:#}");
}

/// Where the live suite runs: the factory's app and secret, the AWS account, and
/// overrides of the endpoints (none for the real clouds).
struct Live {
    tenant: String,
    client_id: String,
    /// The factory's client secret in Secrets Manager, `{"clientSecret": …}`.
    secret_arn: String,
    /// `AZURE_AUTHORITY_HOST` (default `https://login.microsoftonline.com`).
    authority: Option<String>,
    /// `GRAPH_ENDPOINT` (default Microsoft Graph).
    graph_endpoint: Option<String>,
    /// `AWS_ENDPOINT_URL` (default AWS).
    aws_endpoint: Option<String>,
    /// The sandbox account, as the SDK's credential chain finds it.
    sdk: SdkConfig,
    /// How long IAM may take to apply a change.
    patience: Duration,
}

impl Live {
    /// `None` (skip) unless `EFR_LIVE=1`; then `EFR_LIVE_TENANT_ID`,
    /// `EFR_LIVE_CLIENT_ID` and `EFR_LIVE_SECRET_ARN` name the factory's app and its
    /// client secret in Secrets Manager (docs/entra-setup.md), `AWS_REGION` and the usual
    /// AWS credential chain the sandbox account; `EFR_LIVE_AUTHORITY_HOST` and
    /// `EFR_LIVE_GRAPH_ENDPOINT` may name another cloud's endpoints. A missing setting
    /// fails the test.
    async fn from_env() -> Option<Self> {
        if std::env::var("EFR_LIVE").as_deref() != Ok("1") {
            eprintln!("skipped: the live suite runs with EFR_LIVE=1 (see README, \"Live tests\")");
            return None;
        }
        let optional = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let required = |name: &str| {
            optional(name)
                .unwrap_or_else(|| panic!("EFR_LIVE=1 needs {name}: see README, \"Live tests\""))
        };
        let region = required("AWS_REGION");
        Some(Self {
            tenant: required("EFR_LIVE_TENANT_ID"),
            client_id: required("EFR_LIVE_CLIENT_ID"),
            secret_arn: required("EFR_LIVE_SECRET_ARN"),
            authority: optional("EFR_LIVE_AUTHORITY_HOST"),
            graph_endpoint: optional("EFR_LIVE_GRAPH_ENDPOINT"),
            aws_endpoint: optional("AWS_ENDPOINT_URL"),
            sdk: aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new(region))
                .load()
                .await,
            patience: Duration::from_secs(120),
        })
    }

    /// The scenario of [`only_listed_callers_get_in`], with the real binary configured
    /// as a single-account factory would be.
    async fn run(self) {
        let region = self.sdk.region().expect("AWS_REGION").to_string();
        let account = aws_sdk_sts::Client::new(&self.sdk)
            .get_caller_identity()
            .send()
            .await
            .expect("AWS credentials for the sandbox account")
            .account()
            .unwrap_or_default()
            .to_owned();
        let credentials = self
            .sdk
            .credentials_provider()
            .expect("an AWS credential chain")
            .provide_credentials()
            .await
            .expect("AWS credentials for the sandbox account");
        let secret = aws_sdk_secretsmanager::Client::new(&self.sdk)
            .get_secret_value()
            .secret_id(&self.secret_arn)
            .send()
            .await
            .expect("EFR_LIVE_SECRET_ARN readable with these credentials");
        let client_secret = serde_json::from_str::<Value>(secret.secret_string().unwrap_or("{}"))
            .ok()
            .and_then(|v| v["clientSecret"].as_str().map(str::to_owned))
            .expect("the secret holds {\"clientSecret\": …}");
        let function_arn =
            format!("arn:aws:lambda:{region}:{account}:function:entra-federated-role");
        let driver = Driver::start(function_arn.clone(), |response_host| {
            let mut env = Vec::new();
            set_env(
                &mut env,
                &[
                    ("ENTRA_TENANT_ID", &self.tenant),
                    ("ENTRA_CLIENT_ID", &self.client_id),
                    ("ENTRA_CREDENTIALS_SECRET_ARN", &self.secret_arn),
                    ("VERIFY_CALLER_STACK", "false"),
                    ("EXTRA_RESPONSE_URL_HOSTS", response_host),
                    ("AWS_REGION", &region),
                    ("AWS_ACCESS_KEY_ID", credentials.access_key_id()),
                    ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key()),
                    (
                        "AWS_SESSION_TOKEN",
                        credentials.session_token().unwrap_or_default(),
                    ),
                ],
            );
            for (name, value) in [
                ("AZURE_AUTHORITY_HOST", &self.authority),
                ("GRAPH_ENDPOINT", &self.graph_endpoint),
                ("AWS_ENDPOINT_URL", &self.aws_endpoint),
            ] {
                if let Some(value) = value {
                    set_env(&mut env, &[(name, value)]);
                }
            }
            env
        })
        .await;
        let clouds = Clouds {
            authority: self
                .authority
                .clone()
                .unwrap_or_else(|| "https://login.microsoftonline.com".to_owned()),
            tenant: self.tenant.clone(),
            client_id: self.client_id.clone(),
            client_secret,
            sts: aws_sdk_sts::Client::new(&self.sdk),
            iam: aws_sdk_iam::Client::new(&self.sdk),
            patience: self.patience,
        };
        let stack = format!(
            "arn:aws:cloudformation:{region}:{account}:stack/efr-live/{:08x}-0000-4000-8000-000000000000",
            fastrand::u32(..)
        );
        only_listed_callers_get_in(&driver, &clouds, &stack, minimal_properties(&function_arn))
            .await;
    }
}

#[tokio::test]
async fn live_only_the_callers_a_role_trusts_exchange_their_entra_token_for_it() {
    if let Some(live) = Live::from_env().await {
        live.run().await;
    }
}

/// The live suite's scenario on the stand-ins: its wiring too (credentials handed to the
/// binary, the secret read back, the endpoints passed on), so that a live run does not
/// find its mistakes first. moto applies every change at once, so no patience.
#[tokio::test]
async fn only_the_callers_a_role_trusts_exchange_their_entra_token_for_it() {
    let (_, sdk) = fresh_account().await;
    let graph = own_tenant().await;
    trust_tenant_keys(&graph).await;
    let name = format!("efr-live-rehearsal-{}", fastrand::u32(..));
    let secret_arn = store_client_secret(&sdk, &name, SECRET).await.unwrap();
    Live {
        tenant: graph.tenant_id(),
        client_id: graph.factory_client_id(),
        secret_arn,
        authority: Some(graph.url().to_owned()),
        graph_endpoint: Some(graph.url().to_owned()),
        aws_endpoint: Some(moto::shared().to_owned()),
        sdk,
        patience: Duration::ZERO,
    }
    .run()
    .await;
}
