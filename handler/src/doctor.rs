//! The doctor (DESIGN §10): checks a deployment before anyone depends on it, one line a
//! check, each passed or failed with what to do. It changes nothing.
//!
//! The checks: the factory signs in to Entra; it holds the Graph permissions it needs;
//! (secretless) the account has outbound identity federation enabled; the factory's object
//! quota has headroom; and for each account: the member role can be assumed and allows
//! what the factory does (tried without writing: IAM answers a removal of a client id the
//! provider does not hold as done, after authorising it), the tenant's provider is sane,
//! and the ServiceToken parameter names this factory. Writes to roles cannot be tried
//! without writing; the policy tables of the templates' tests stand for them.
//!
//! A secretless factory signs in as its own execution role only, so outside the factory
//! (the command-line tool) its sign-in and the checks that need it are skipped, with how
//! to run them in the factory instead.

use std::collections::BTreeSet;

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::{
    audit::Scope,
    config::Credentials,
    deadline::Deadline,
    domain::{
        RolePath, TokenVersion,
        audit::{OWNED_OBJECT_QUOTA, QUOTA_WARNING},
    },
    graph::{APP_ROLE_ASSIGNMENT_PERMISSION, OWNED_BY_PERMISSION, PermissionSource},
    resource::EntraFederatedRole,
};

/// How many accounts are checked at once.
const ACCOUNTS_AT_ONCE: usize = 4;

/// Where each account's stacks read the ServiceToken (the templates' default).
pub const SERVICE_TOKEN_PARAMETER: &str = "/entra-federated-role/service-token";

/// The payload that asks the factory for its own doctor's checks.
pub const DOCTOR: &str = "doctor";

/// Whether `event` asks for the doctor: `{"entra-federated-role": "doctor"}`.
pub fn is_doctor(event: &Value) -> bool {
    event["entra-federated-role"] == DOCTOR
}

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// As it should be.
    Pass,
    /// Works, with a caveat.
    Warn,
    /// Broken: what depends on it fails.
    Fail,
    /// Not checked here (the detail says where it can be).
    Skip,
}

impl Status {
    /// Its mark: ✓, !, ✗ or –.
    pub fn mark(self) -> &'static str {
        match self {
            Status::Pass => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Skip => "–",
        }
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// How it went.
    pub status: Status,
    /// What was checked.
    pub name: String,
    /// What was found.
    pub detail: String,
    /// What to do, when something is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(status: Status, name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            name: name.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Whether no check failed.
pub fn healthy(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Fail)
}

/// Where the doctor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seat {
    /// In the factory, as its own execution role.
    Factory,
    /// Anywhere else, with other credentials.
    Elsewhere,
}

impl EntraFederatedRole {
    /// Checks the deployment whose factory is `function_arn`, for the accounts of `scope`
    /// and `ALLOWED_ACCOUNT_IDS`, from `seat`. The ServiceToken parameter is expected under
    /// `parameter` and to name `function_arn`.
    pub async fn doctor(
        &self,
        scope: &Scope,
        function_arn: &str,
        parameter: &str,
        seat: Seat,
        deadline: Deadline,
    ) -> Vec<Check> {
        let config = self.config();
        let mut checks = Vec::new();
        let secretless = config.credentials == Credentials::Secretless;
        // The ServiceToken names the function, never a version or alias of it.
        let function_arn = &function_arn
            .split(':')
            .take(7)
            .collect::<Vec<_>>()
            .join(":");
        let function_name = function_arn.rsplit(':').next().unwrap_or(function_arn);

        // Entra.
        let mut accounts: BTreeSet<String> = scope.accounts.iter().cloned().collect();
        accounts.extend(config.guardrails.allowed_accounts.iter().flatten().cloned());
        let signed_in = if secretless && seat == Seat::Elsewhere {
            let payload =
                serde_json::json!({"entra-federated-role": DOCTOR, "accounts": scope.accounts});
            checks.push(
                Check::new(
                    Status::Skip,
                    "entra sign-in",
                    "a secretless factory signs in as its own execution role only",
                )
                .fix(format!(
                    "run the checks in the factory: aws lambda invoke --function-name {function_name} \
                     --cli-binary-format raw-in-base64-out --cli-read-timeout 0 --payload '{payload}' doctor.json"
                )),
            );
            false
        } else {
            let how = match &config.credentials {
                Credentials::Secretless => "secretless (outbound identity federation)".to_owned(),
                Credentials::Secret { arn } => format!("with the credential in {arn}"),
            };
            let token = async {
                let graph = self.graph().await.map_err(|e| e.to_string())?;
                graph
                    .access_token(deadline)
                    .await
                    .map_err(|e| e.to_string())
            };
            match token.await {
                Ok(_) => {
                    checks.push(Check::new(
                        Status::Pass,
                        "entra sign-in",
                        format!(
                            "signed in to tenant {} as {} {how}",
                            config.tenant_id, config.client_id
                        ),
                    ));
                    true
                }
                Err(error) => {
                    checks.push(Check::new(Status::Fail, "entra sign-in", error).fix(
                        "see docs/troubleshooting.md for the AADSTS code; docs/entra-setup.md \
                             sets the factory's app up",
                    ));
                    false
                }
            }
        };
        if secretless {
            checks.push(self.outbound_federation(scope, deadline).await);
        }
        if signed_in {
            checks.push(self.permissions(deadline).await);
            checks.push(self.quota(scope, deadline).await);
        }

        // Each account, a few at once, reported in the order of their ids.
        if accounts.is_empty() {
            checks.push(
                Check::new(Status::Skip, "member accounts", "no account was named").fix(
                    "name the accounts to check (--account, or \"accounts\" in the factory's payload)",
                ),
            );
        }
        let prefix = config
            .guardrails
            .role_path_prefix
            .clone()
            .unwrap_or_else(RolePath::root);
        let issuer = config.cloud.issuer(&config.tenant_id, TokenVersion::V1);
        let per_account: Vec<Vec<Check>> = futures::stream::iter(&accounts)
            .map(|id| {
                let (prefix, issuer) = (&prefix, &issuer);
                self.account_checks(scope, id, prefix, issuer, function_arn, parameter, deadline)
            })
            .buffered(ACCOUNTS_AT_ONCE)
            .collect()
            .await;
        checks.extend(per_account.into_iter().flatten());
        checks
    }

    async fn outbound_federation(&self, scope: &Scope, deadline: Deadline) -> Check {
        let name = "outbound identity federation";
        let place = crate::aws::Place {
            partition: scope.partition.clone(),
            region: scope.region.clone(),
            account: scope.own_account.clone(),
        };
        let own = self
            .aws()
            .account_from(&place, &scope.own_account, "doctor", deadline)
            .await;
        let read = match own {
            Ok(account) => account
                .outbound_federation(deadline)
                .await
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match read {
            Ok((true, issuer)) => Check::new(
                Status::Pass,
                name,
                format!(
                    "enabled in account {}, issuer {}",
                    scope.own_account,
                    issuer.unwrap_or_default()
                ),
            ),
            Ok((false, _)) => Check::new(
                Status::Fail,
                name,
                format!("not enabled in account {}", scope.own_account),
            )
            .fix("aws iam enable-outbound-web-identity-federation (once per account)"),
            Err(error) => Check::new(Status::Warn, name, format!("could not be read: {error}"))
                .fix("allow iam:GetOutboundWebIdentityFederationInfo to whoever runs the doctor"),
        }
    }

    async fn permissions(&self, deadline: Deadline) -> Check {
        let name = "graph permissions";
        let graph = match self.graph().await {
            Ok(graph) => graph,
            Err(error) => return Check::new(Status::Fail, name, error.to_string()),
        };
        match graph
            .own_permissions(&self.config().client_id, deadline)
            .await
        {
            Ok((held, source)) => {
                let from = match source {
                    PermissionSource::Assignments => "its service principal's assignments",
                    PermissionSource::Token => "its access token (its assignments cannot be read)",
                };
                let has = |p: &str| held.iter().any(|h| h == p);
                if !has(OWNED_BY_PERMISSION) {
                    Check::new(
                        Status::Fail,
                        name,
                        format!("{OWNED_BY_PERMISSION} is not granted (read from {from})"),
                    )
                    .fix(format!(
                        "grant the factory's app the application permission {OWNED_BY_PERMISSION}, \
                         with admin consent (docs/entra-setup.md)"
                    ))
                } else if !has(APP_ROLE_ASSIGNMENT_PERMISSION) {
                    Check::new(
                        Status::Warn,
                        name,
                        format!(
                            "{OWNED_BY_PERMISSION} is granted, {APP_ROLE_ASSIGNMENT_PERMISSION} is \
                             not (read from {from}): resources with RequireAppRoleAssignment fail"
                        ),
                    )
                    .fix(format!(
                        "grant {APP_ROLE_ASSIGNMENT_PERMISSION} if any resource needs \
                         RequireAppRoleAssignment (docs/entra-setup.md)"
                    ))
                } else {
                    Check::new(
                        Status::Pass,
                        name,
                        format!(
                            "{OWNED_BY_PERMISSION} and {APP_ROLE_ASSIGNMENT_PERMISSION} are granted (read from {from})"
                        ),
                    )
                }
            }
            Err(error) => Check::new(Status::Fail, name, error.to_string()),
        }
    }

    async fn quota(&self, scope: &Scope, deadline: Deadline) -> Check {
        let name = "object quota";
        let counted = match self.graph().await {
            Ok(graph) => graph
                .owned_objects(deadline)
                .await
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match counted {
            Ok((used, deleted)) => {
                let limit = scope.object_quota;
                let left = limit.saturating_sub(used);
                let detail = format!(
                    "about {used} of {limit} objects used ({deleted} soft-deleted), {left} left"
                );
                let status = match left {
                    0 => Status::Fail,
                    left if left < QUOTA_WARNING => Status::Warn,
                    _ => Status::Pass,
                };
                let check = Check::new(status, name, detail);
                if status == Status::Pass {
                    check
                } else {
                    check.fix(format!(
                        "purge finished removals (`entra-federated-role audit --fix`), or give the \
                         factory a directory role that lifts the {OWNED_OBJECT_QUOTA}-object quota"
                    ))
                }
            }
            Err(error) => Check::new(Status::Fail, name, error),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn account_checks(
        &self,
        scope: &Scope,
        id: &str,
        prefix: &RolePath,
        issuer: &str,
        function_arn: &str,
        parameter: &str,
        deadline: Deadline,
    ) -> Vec<Check> {
        let place = crate::aws::Place {
            partition: scope.partition.clone(),
            region: scope.region.clone(),
            account: id.to_owned(),
        };
        let role = self
            .config()
            .member_role_name
            .as_deref()
            .unwrap_or("(none)");
        let account = match self
            .aws()
            .account_from(&place, &scope.own_account, "doctor", deadline)
            .await
        {
            Ok(account) => account,
            Err(error) => {
                return vec![
                    Check::new(Status::Fail, format!("member role in {id}"), error.to_string()).fix(
                        format!(
                            "deploy member-role.yaml to account {id} (its HubExecutionRoleArns must \
                             name the principal the doctor runs as) and set MEMBER_ROLE_NAME ({role})"
                        ),
                    ),
                ];
            }
        };
        let mut checks = Vec::new();
        if id != scope.own_account {
            checks.push(Check::new(
                Status::Pass,
                format!("member role in {id}"),
                format!("assumed {role}"),
            ));
        }
        match account.probe(prefix, issuer, deadline).await {
            Ok(provider) => {
                checks.push(Check::new(
                    Status::Pass,
                    format!("member role allows the factory's calls in {id}"),
                    "lists the roles under the path, reads and changes the provider \
                     (role writes are not tried: they cannot be without writing)",
                ));
                checks.push(match provider {
                    None => Check::new(
                        Status::Pass,
                        format!("provider in {id}"),
                        "none yet: the first role makes it",
                    ),
                    Some(provider) => {
                        let whose = if provider.ours {
                            "made by the factory"
                        } else {
                            "made by someone else, adopted: never deleted"
                        };
                        let detail = format!(
                            "{} holds {} of 100 client ids; {whose}",
                            provider.arn, provider.audiences
                        );
                        if provider.audiences >= 90 {
                            Check::new(Status::Warn, format!("provider in {id}"), detail).fix(
                                "audit with --fix to remove orphaned audiences; past 100 the \
                                 account takes no more roles",
                            )
                        } else {
                            Check::new(Status::Pass, format!("provider in {id}"), detail)
                        }
                    }
                });
            }
            Err(error) => checks.push(
                Check::new(
                    Status::Fail,
                    format!("member role allows the factory's calls in {id}"),
                    error.to_string(),
                )
                .fix(format!(
                    "update member-role.yaml in account {id} to this release's (its policies \
                     are what the factory needs)"
                )),
            ),
        }
        let name = format!("ServiceToken parameter in {id}");
        checks.push(match account.parameter(parameter, deadline).await {
            Ok(Some(value)) if value == function_arn => Check::new(
                Status::Pass,
                name,
                format!("{parameter} names this factory"),
            ),
            Ok(Some(value)) => Check::new(
                Status::Fail,
                name,
                format!("{parameter} names {value}, not this factory ({function_arn})"),
            )
            .fix("give member-role.yaml this hub's function name (HubFunctionName)"),
            Ok(None) => Check::new(
                Status::Fail,
                name,
                format!("{parameter} does not exist in {}", scope.region),
            )
            .fix(format!(
                "deploy member-role.yaml to account {id} in {}: it writes the parameter",
                scope.region
            )),
            Err(error) => Check::new(Status::Fail, name, error.to_string()).fix(
                "the member role needs ssm:GetParameter on the parameter: update member-role.yaml",
            ),
        });
        checks
    }
}
