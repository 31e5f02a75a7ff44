//! Everything the resource does in AWS, over the official SDK: the shared OIDC provider
//! and its audiences ([`provider`]), the sub-pinned web-identity role ([`role`]), the
//! confirmation that the calling stack really exists ([`caller`]), the way into the
//! account a stack lives in ([`Aws::account`]), and the SDK's HTTP client ([`http`]).
//!
//! [`Aws`] holds the factory's own SDK configuration. For each request it hands out an
//! [`Account`]: the factory's own when the stack lives there (single-account mode), or
//! the member account reached by assuming `MEMBER_ROLE_NAME` (hub mode), with the
//! credentials cached per account while they are valid. The target account always comes
//! from the request's `StackId`, never from a property. Every call's failure is an
//! [`AwsError`] whose [`ErrorKind`] the callers branch on.
//!
//! This module may use `crate::domain` (pure types), `crate::retry` and `crate::tls`; it
//! must not import `crate::cfn` or `crate::graph`.

pub mod caller;
mod error;
pub mod events;
pub mod http;
mod inventory;
pub use inventory::ProviderHealth;
pub mod provider;
pub mod role;

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime},
};

use aws_config::{
    Region, SdkConfig, identity::IdentityCache, retry::RetryConfig, timeout::TimeoutConfig,
};
use aws_credential_types::{Credentials, provider::SharedCredentialsProvider};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use error::{AwsError, ErrorKind};

use crate::{
    deadline::Deadline,
    domain::ownership::StackArn,
    retry::{Backoff, retry},
};

/// Credentials are reused while they stay valid this much longer.
const CREDENTIALS_HEADROOM: Duration = Duration::from_secs(5 * 60);

/// The factory's AWS side.
#[derive(Debug)]
pub struct Aws {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    member_role_name: Option<String>,
    /// Member-role credentials per account. Only the credentials are kept: the clients are
    /// built per request, so a warm hub does not grow with every account it has served.
    members: Mutex<HashMap<String, Credentials>>,
}

/// Why no account could be reached.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The stack is in another account and no member role is configured.
    #[error(
        "the stack is in account {target} but the factory runs in account {own} and \
         MEMBER_ROLE_NAME is not set; deploy the member role to account {target} and set \
         MEMBER_ROLE_NAME on the factory's Lambda"
    )]
    NoMemberRole {
        /// The stack's account.
        target: String,
        /// The factory's account.
        own: String,
    },
    /// The function ARN does not name an account (never from Lambda).
    #[error("the invoked function ARN `{0}` names no account")]
    FunctionArn(String),
    /// Assuming the member role failed.
    #[error(transparent)]
    AssumeRole(#[from] AwsError),
    /// STS answered without credentials.
    #[error("assuming {0} returned no credentials")]
    NoCredentials(String),
}

/// Where the factory acts for a request: an account, its partition, and the region the
/// request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// `aws`, `aws-cn`, `aws-us-gov`, …
    pub partition: String,
    /// The request's region.
    pub region: String,
    /// The account the request's role lives in.
    pub account: String,
}

impl From<&StackArn> for Place {
    fn from(stack: &StackArn) -> Self {
        Self {
            partition: stack.partition.clone(),
            region: stack.region.clone(),
            account: stack.account.clone(),
        }
    }
}

/// One account's clients.
#[derive(Debug, Clone)]
pub struct Account {
    id: String,
    partition: String,
    iam: aws_sdk_iam::Client,
    cloudformation: aws_sdk_cloudformation::Client,
    ssm: aws_sdk_ssm::Client,
}

impl Account {
    fn new(config: &SdkConfig, place: &Place) -> Self {
        let cloudformation = aws_sdk_cloudformation::config::Builder::from(config)
            .region(Region::new(place.region.clone()))
            .build();
        Self {
            id: place.account.clone(),
            partition: place.partition.clone(),
            iam: aws_sdk_iam::Client::new(config),
            cloudformation: aws_sdk_cloudformation::Client::from_conf(cloudformation),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(config)
                    .region(Region::new(place.region.clone()))
                    .build(),
            ),
        }
    }

    /// The account id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The partition (`aws`, `aws-cn`, …).
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// One IAM call, retried while `retryable` within the deadline; `action` says what
    /// it does, for the error.
    async fn iam_call<T, E, F, Fut>(
        &self,
        deadline: Deadline,
        action: String,
        retryable: fn(&AwsError) -> bool,
        call: F,
    ) -> Result<T, AwsError>
    where
        F: Fn(&aws_sdk_iam::Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, aws_sdk_iam::error::SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        sdk_call(deadline, &action, retryable, || call(&self.iam)).await
    }
}

/// Longest one AWS request may take before it is taken as lost and sent again.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// `sdk` as the factory uses it: no retries of the SDK's own — every call is retried
/// once, in [`sdk_call`], against the event's deadline, instead of the SDK's attempts
/// running under ours — and every attempt bounded.
pub fn without_hidden_retries(sdk: SdkConfig) -> SdkConfig {
    sdk.to_builder()
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .build()
}

/// One AWS call: `send` retried while `retryable` within `deadline` (the one retry of
/// every AWS call, over an SDK that retries nothing itself), each attempt cut off at the
/// deadline. `action` says what it does, for the error.
pub(crate) async fn sdk_call<T, E, F, Fut>(
    deadline: Deadline,
    action: &str,
    retryable: fn(&AwsError) -> bool,
    send: F,
) -> Result<T, AwsError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, aws_sdk_iam::error::SdkError<E>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    retry(deadline, Backoff::STANDARD, retryable, || async {
        match tokio::time::timeout(deadline.remaining(), send()).await {
            Ok(answer) => answer.map_err(|e| AwsError::from_sdk(action, e)),
            Err(_) => Err(AwsError::deadline_passed(action)),
        }
    })
    .await
}

impl Aws {
    /// The AWS side over the factory's own configuration (from
    /// `aws_config::defaults(BehaviorVersion::latest())` in production, pointing at moto
    /// in tests). `member_role_name` is `MEMBER_ROLE_NAME`.
    pub fn new(base: SdkConfig, member_role_name: Option<String>) -> Self {
        Self {
            sts: aws_sdk_sts::Client::new(&base),
            base,
            member_role_name,
            members: Mutex::new(HashMap::new()),
        }
    }

    /// The account of `place`, as seen from the factory invoked as `function_arn`.
    /// `session` names the member-role session (CloudTrail shows it); it is logged with
    /// each request that reuses the cached session.
    pub async fn account(
        &self,
        place: &Place,
        function_arn: &str,
        session: &str,
        deadline: Deadline,
    ) -> Result<Account, AccountError> {
        let own = function_arn
            .split(':')
            .nth(4)
            .filter(|account| account.len() == 12)
            .ok_or_else(|| AccountError::FunctionArn(function_arn.to_owned()))?;
        self.account_from(place, own, session, deadline).await
    }

    /// The account of `place`, as seen from the account `own` whose credentials the
    /// factory (or the audit) runs with: those credentials there, the member role
    /// elsewhere.
    pub async fn account_from(
        &self,
        place: &Place,
        own: &str,
        session: &str,
        deadline: Deadline,
    ) -> Result<Account, AccountError> {
        if place.account == own {
            return Ok(Account::new(&self.base, place));
        }
        let Some(role_name) = &self.member_role_name else {
            return Err(AccountError::NoMemberRole {
                target: place.account.clone(),
                own: own.to_owned(),
            });
        };
        if let Some(credentials) = self.cached(&place.account) {
            return Ok(self.member(credentials, place));
        }
        let role_arn = format!(
            "arn:{}:iam::{}:role/{role_name}",
            place.partition, place.account
        );
        let session = session_name(session);
        let action = format!("assuming {role_arn}");
        let assumed = sdk_call(deadline, &action, AwsError::is_transient, || {
            self.sts
                .assume_role()
                .role_arn(&role_arn)
                .role_session_name(&session)
                .send()
        })
        .await?;
        let credentials = assumed
            .credentials()
            .ok_or_else(|| AccountError::NoCredentials(role_arn.clone()))?;
        let expiry =
            SystemTime::try_from(*credentials.expiration()).unwrap_or(SystemTime::UNIX_EPOCH);
        let credentials = Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_owned()),
            Some(expiry),
            "member-role",
        );
        tracing::info!(account = %place.account, role = %role_arn, %session, "assumed the member role");
        self.members
            .lock()
            .expect("the account cache is never poisoned")
            .insert(place.account.clone(), credentials.clone());
        Ok(self.member(credentials, place))
    }

    /// The member account of `place`, reached with `credentials`. They are static, so the
    /// clients skip the identity cache (it would keep an entry per client built).
    fn member(&self, credentials: Credentials, place: &Place) -> Account {
        let config = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .identity_cache(IdentityCache::no_cache())
            .build();
        Account::new(&config, place)
    }

    /// The cached credentials for `account` while they stay valid long enough; expired
    /// ones are dropped.
    fn cached(&self, account: &str) -> Option<Credentials> {
        let mut members = self
            .members
            .lock()
            .expect("the account cache is never poisoned");
        let now = SystemTime::now();
        members.retain(|_, credentials| {
            credentials
                .expiry()
                .and_then(|expiry| expiry.duration_since(now).ok())
                .is_some_and(|left| left > CREDENTIALS_HEADROOM)
        });
        let cached = members.get(account)?.clone();
        tracing::info!(account, "reusing the cached member-role session");
        Some(cached)
    }
}

/// A valid role session name (`[\w+=,.@-]{2,64}`) from `name`.
fn session_name(name: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while clean.len() < 2 {
        clean.push('-');
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(valid_for: Duration) -> Credentials {
        Credentials::new(
            "AKID",
            "secret",
            None,
            Some(SystemTime::now() + valid_for),
            "test",
        )
    }

    #[test]
    fn only_credentials_valid_past_the_headroom_are_reused_and_stale_ones_dropped() {
        let base = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let aws = Aws::new(base, Some("member".into()));
        {
            let mut members = aws.members.lock().unwrap();
            members.insert(
                "222222222222".into(),
                credentials(Duration::from_secs(3600)),
            );
            members.insert("333333333333".into(), credentials(Duration::from_secs(60)));
        }
        assert!(aws.cached("222222222222").is_some());
        assert!(aws.cached("333333333333").is_none());
        assert!(aws.cached("444444444444").is_none());
        assert_eq!(
            aws.members.lock().unwrap().len(),
            1,
            "the stale entry is gone"
        );
    }

    #[test]
    fn the_sdk_retries_nothing_itself_and_bounds_every_attempt() {
        let sdk = without_hidden_retries(
            SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build(),
        );
        assert_eq!(sdk.retry_config().map(|r| r.max_attempts()), Some(1));
        let timeouts = sdk.timeout_config().expect("timeouts are set");
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_answers_ends_at_the_deadline() {
        use aws_sdk_iam::{error::SdkError, operation::get_role::GetRoleError};
        let deadline = Deadline::after(Duration::from_secs(20));
        let started = tokio::time::Instant::now();
        let error = sdk_call(deadline, "reading role ci", AwsError::is_transient, || {
            std::future::pending::<Result<(), SdkError<GetRoleError>>>()
        })
        .await
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unreachable);
        assert!(
            error.to_string().contains("no answer before the deadline"),
            "{error}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(20));
    }

    #[test]
    fn session_names_are_valid() {
        assert_eq!(session_name("efr-6d1c7c7f-2f4a"), "efr-6d1c7c7f-2f4a");
        assert_eq!(session_name("a b/c"), "a-b-c");
        assert_eq!(session_name("x"), "x-");
        assert_eq!(session_name(&"y".repeat(100)).len(), 64);
    }
}

#[cfg(test)]
mod mocked;
