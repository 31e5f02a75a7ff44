//! The audit's front door (DESIGN §10): reads both clouds into an
//! [`Inventory`](crate::domain::audit::Inventory) — every object the factory made in
//! Entra, and in each member account the roles under the role path and the tenant's
//! providers — hands it to [`findings`], and, when asked, repairs what is the factory's
//! own and safe to repair.
//!
//! The accounts audited are those the factory's applications (live or deleted) name,
//! `ALLOWED_ACCOUNT_IDS`, and any given. An account that cannot be reached is a finding,
//! not a failure; Entra that cannot be read fails the audit, since it is what everything
//! is joined on. Reads are bounded: a few applications and a few accounts at once, each
//! account a few roles at once, and Graph's throttling is waited out by the client.
//!
//! A removal is the core's own [`Plan::remove`] of the generation the application's
//! markers name, so it touches nothing without them. A trust is restored only while the
//! role still has the unique id and the trust the audit saw.

use std::{collections::BTreeSet, time::SystemTime};

use futures::StreamExt;

use crate::{
    aws::Place,
    config::Config,
    core::{Generation, Lifecycle, Plan},
    deadline::Deadline,
    domain::{
        RoleName, RolePath, TokenVersion,
        audit::{self, Account, Inventory, Repair, Report, findings},
        ownership::{StackArn, default_role_name},
        plan::GenerationName,
        role::RoleWrite,
        trust::same_policy,
    },
    resource::{EntraFederatedRole, ResourceError},
};

/// Where an audit runs from, and how far it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The partition of the accounts.
    pub partition: String,
    /// The region CloudFormation and STS are called in.
    pub region: String,
    /// The account whose credentials the audit runs with: other accounts are reached
    /// through the member role.
    pub own_account: String,
    /// Accounts to audit besides those the factory's applications name and
    /// `ALLOWED_ACCOUNT_IDS`.
    pub accounts: Vec<String>,
    /// How many applications, accounts and roles are read at once.
    pub concurrency: usize,
    /// How many objects the factory may create in the tenant.
    pub object_quota: usize,
    /// How long after they were made objects are left unjudged (seconds).
    pub settling: i64,
}

/// What an audit has read so far, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The factory's applications are listed: this many to read.
    Applications(usize),
    /// One application read.
    Application,
    /// The accounts are known: this many to read.
    Accounts(usize),
    /// One account read.
    Account,
}

/// Which long-lived secrets `--fix` may remove: none unless asked for by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoveSecrets {
    /// Client secrets (`passwordCredentials`).
    pub passwords: bool,
    /// Certificates (`keyCredentials`).
    pub keys: bool,
}

/// What became of one repair.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Repaired {
    /// The finding's kind.
    pub kind: audit::Kind,
    /// What was done, or why nothing was.
    pub outcome: String,
    /// Whether it was done.
    pub done: bool,
}

/// The core's generation for the one an application's markers name (`None`: they do not
/// make one).
pub fn generation(config: &Config, found: &audit::GenerationRef) -> Option<Generation> {
    let generation = match &found.origin {
        audit::Origin::Resource {
            stack_id,
            logical_id,
        } => {
            let stack = StackArn::parse(stack_id).ok()?;
            let name = GenerationName {
                key: found.generation.clone(),
                // The role is gone, and its name is not on the application: a removal
                // deletes a role only when it carries the generation's markers.
                role_name: default_role_name(&stack, logical_id, &found.generation),
                role_path: RolePath::root(),
                token_version: found.token_version,
            };
            Generation::new(config, &stack, logical_id, name)
        }
        audit::Origin::Role { name, id } => {
            let name = RoleName::parse(name).ok()?;
            Generation::adopted(config, &found.account, &name, id)
        }
    };
    (generation.key() == found.generation && generation.name.token_version == found.token_version)
        .then_some(generation)
}

/// What `--fix` would do about `repair`: the core's plan for a removal, one line
/// otherwise.
pub fn describe(config: &Config, repair: &Repair) -> String {
    match repair {
        Repair::RemoveGeneration(found) => match generation(config, found) {
            Some(generation) => Plan::remove(generation).to_string(),
            None => format!(
                "leave generation {}: its markers do not name a generation\n",
                found.generation
            ),
        },
        Repair::RestoreTrust {
            account, role_name, ..
        } => format!(
            "restore the trust of role {role_name} of account {account} to its application's audience and callers\n"
        ),
        Repair::RemoveAudience {
            provider_arn,
            audience,
            ..
        } => format!("remove audience {audience} from {provider_arn}\n"),
        Repair::PurgeDeleted { object_id } => format!("purge deleted item {object_id}\n"),
        Repair::RemovePassword {
            application,
            key_id,
        } => format!("remove client secret {key_id} of application object {application}\n"),
        Repair::RemoveKey {
            application,
            key_id,
        } => format!("remove certificate {key_id} of application object {application}\n"),
    }
}

/// Whether `--fix` applies `repair` (secrets only when asked for by kind).
pub fn applies(repair: &Repair, secrets: RemoveSecrets) -> bool {
    match repair {
        Repair::RemovePassword { .. } => secrets.passwords,
        Repair::RemoveKey { .. } => secrets.keys,
        _ => true,
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl EntraFederatedRole {
    fn place(&self, scope: &Scope, account: &str) -> Place {
        Place {
            partition: scope.partition.clone(),
            region: scope.region.clone(),
            account: account.to_owned(),
        }
    }

    /// Reads both clouds for an audit within `deadline`, telling `progress` as it goes.
    pub async fn inventory(
        &self,
        scope: &Scope,
        progress: &(dyn Fn(Progress) + Sync),
        deadline: Deadline,
    ) -> Result<Inventory, ResourceError> {
        let config = self.config();
        let graph = self.graph().await?;
        let counted = |total: Option<usize>| {
            progress(total.map_or(Progress::Application, Progress::Applications));
        };
        let (deleted, apps) = futures::join!(
            graph.audit_deleted(deadline),
            graph.audit_applications(scope.concurrency, &counted, deadline)
        );
        let (apps, deleted) = (apps?, deleted?);

        let mut accounts: BTreeSet<String> = scope.accounts.iter().cloned().collect();
        accounts.extend(config.guardrails.allowed_accounts.iter().flatten().cloned());
        let marked = apps
            .iter()
            .map(|a| &a.tags)
            .chain(deleted.iter().map(|d| &d.tags));
        for tags in marked {
            if let Some(found) = audit::GenerationRef::from_tags(tags, TokenVersion::V1) {
                accounts.insert(found.account);
            }
        }
        progress(Progress::Accounts(accounts.len()));
        let prefix = config
            .guardrails
            .role_path_prefix
            .clone()
            .unwrap_or_else(RolePath::root);
        let issuers = [TokenVersion::V1, TokenVersion::V2]
            .map(|version| config.cloud.issuer(&config.tenant_id, version));
        let mut read: Vec<Account> = futures::stream::iter(accounts)
            .map(|id| {
                let (prefix, issuers) = (&prefix, &issuers);
                async move {
                    let place = self.place(scope, &id);
                    let objects = async {
                        let account = self
                            .aws()
                            .account_from(&place, &scope.own_account, "audit", deadline)
                            .await?;
                        account
                            .audit_objects(prefix, issuers, scope.concurrency, deadline)
                            .await
                            .map_err(ResourceError::from)
                    }
                    .await
                    .map_err(|error| error.to_string());
                    progress(Progress::Account);
                    Account {
                        id,
                        partition: scope.partition.clone(),
                        objects,
                    }
                }
            })
            .buffer_unordered(scope.concurrency.max(1))
            .collect()
            .await;
        read.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Inventory {
            tenant_id: config.tenant_id.clone(),
            cloud: config.cloud,
            now: now(),
            apps,
            deleted,
            accounts: read,
            quota: scope.object_quota,
            settling: scope.settling,
        })
    }

    /// Audits both clouds: every drift, once.
    pub async fn audit(
        &self,
        scope: &Scope,
        progress: &(dyn Fn(Progress) + Sync),
        deadline: Deadline,
    ) -> Result<Report, ResourceError> {
        let inventory = self.inventory(scope, progress, deadline).await?;
        Ok(findings(&inventory))
    }

    /// Applies the repairs of `report` that are the factory's to make (and, of the
    /// secrets, those `secrets` asks for), one finding at a time.
    pub async fn fix(
        &self,
        scope: &Scope,
        report: &Report,
        secrets: RemoveSecrets,
        deadline: Deadline,
    ) -> Vec<Repaired> {
        let mut repaired = Vec::new();
        for finding in &report.findings {
            let Some(repair) = finding.repair.as_ref().filter(|r| applies(r, secrets)) else {
                continue;
            };
            let outcome = Box::pin(self.repair(scope, repair, deadline)).await;
            let (done, outcome) = match outcome {
                Ok(what) => (true, what),
                Err(error) => (false, error),
            };
            if done {
                tracing::info!(kind = finding.kind.name(), %outcome, "repaired");
            } else {
                tracing::warn!(kind = finding.kind.name(), %outcome, "not repaired");
            }
            repaired.push(Repaired {
                kind: finding.kind,
                outcome,
                done,
            });
        }
        repaired
    }

    async fn repair(
        &self,
        scope: &Scope,
        repair: &Repair,
        deadline: Deadline,
    ) -> Result<String, String> {
        let account = |id: &str| {
            let place = self.place(scope, id);
            async move {
                self.aws()
                    .account_from(&place, &scope.own_account, "audit-fix", deadline)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        let graph = self.graph().await.map_err(|e| e.to_string())?;
        match repair {
            Repair::RemoveGeneration(found) => {
                let generation = generation(self.config(), found)
                    .ok_or("its markers do not name a generation: left alone")?;
                let iam = account(&found.account).await?;
                let lifecycle = Lifecycle {
                    iam: &iam,
                    entra: graph,
                };
                let plan = Plan::remove(generation);
                for outcome in lifecycle.apply(&plan, None, deadline).await {
                    outcome.map_err(|e| e.to_string())?;
                }
                Ok(format!("removed generation {}", found.generation))
            }
            Repair::RestoreTrust {
                account: id,
                role_name,
                role_id,
                seen,
                trust,
            } => {
                let iam = account(id).await?;
                let name = RoleName::parse(role_name).map_err(|e| e.to_string())?;
                let role = iam
                    .read_foreign(&name, deadline)
                    .await
                    .map_err(|e| e.to_string())?;
                match role {
                    Some(role) if &role.id == role_id && same_policy(&role.trust, seen) => {
                        iam.write_foreign(&name, &[RoleWrite::SetTrust(trust.clone())], deadline)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(format!("restored the trust of role {role_name}"))
                    }
                    _ => Err(format!(
                        "role {role_name} changed since the audit: left alone (audit again)"
                    )),
                }
            }
            Repair::RemoveAudience {
                account: id,
                provider_arn,
                audience,
            } => {
                let iam = account(id).await?;
                iam.remove_audience(provider_arn, audience, deadline)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("removed audience {audience} from {provider_arn}"))
            }
            Repair::PurgeDeleted { object_id } => {
                graph
                    .purge_deleted(object_id, deadline)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("purged deleted item {object_id}"))
            }
            Repair::RemovePassword {
                application,
                key_id,
            } => {
                graph
                    .remove_password(application, key_id, deadline)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("removed client secret {key_id}"))
            }
            Repair::RemoveKey {
                application,
                key_id,
            } => {
                graph
                    .remove_key(application, key_id, deadline)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("removed certificate {key_id}"))
            }
        }
    }
}
