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
use serde_json::{Value, json};

use crate::{
    aws::{AccountError, Place, events::Event},
    config::Config,
    core::{Generation, Lifecycle, Plan},
    deadline::Deadline,
    domain::{
        RoleName, RolePath, TokenVersion,
        audit::{self, Account, Finding, Inventory, Repair, Report, findings},
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

impl Scope {
    /// The scope of the factory invoked as `function_arn`, with the `accounts` and
    /// `objectQuota` the invoking `event` may name.
    pub fn for_function(function_arn: &str, event: &Value) -> Result<Self, AccountError> {
        let fields: Vec<&str> = function_arn.split(':').collect();
        let ["arn", partition, "lambda", region, own, "function", _, ..] = fields.as_slice() else {
            return Err(AccountError::FunctionArn(function_arn.to_owned()));
        };
        Ok(Self {
            partition: (*partition).to_owned(),
            region: (*region).to_owned(),
            own_account: (*own).to_owned(),
            accounts: event["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned)
                .collect(),
            concurrency: SCHEDULED_CONCURRENCY,
            object_quota: event["objectQuota"]
                .as_u64()
                .and_then(|q| usize::try_from(q).ok())
                .unwrap_or(audit::OWNED_OBJECT_QUOTA),
            settling: audit::SETTLING_SECS,
        })
    }
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
        // The accounts the factory's applications name (not those a look-alike names).
        let marked = apps
            .iter()
            .filter(|a| a.owned)
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

/// The payload the hub's schedule invokes the function with to audit.
pub const AUDIT: &str = "audit";

/// The `source` of the scheduled audit's events.
pub const EVENT_SOURCE: &str = "entra-federated-role";

/// The `detail-type` of an event carrying one finding.
pub const FINDING_EVENT: &str = "Entra Federated Role Audit Finding";

/// The `detail-type` of the event that closes each audit, carrying its summary.
pub const REPORT_EVENT: &str = "Entra Federated Role Audit Report";

/// Whether `event` asks for an audit: `{"entra-federated-role": "audit"}`, what the hub's
/// schedule sends.
pub fn is_audit(event: &Value) -> bool {
    event["entra-federated-role"] == AUDIT
}

/// The report's metrics in CloudWatch's embedded metric format ("Specification: Embedded
/// metric format", CloudWatch User Guide) under `namespace`, one document a line:
/// `Findings` by `Kind` (every kind, zero included, so that each has data), and
/// `Findings`, `QuotaHeadroom` and `UnreachableAccounts` without dimensions.
pub fn metric_documents(report: &Report, namespace: &str, timestamp_ms: u64) -> Vec<Value> {
    let document = |dimensions: Value, metrics: &[&str], values: Value| {
        let mut document = json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": dimensions,
                    "Metrics": metrics
                        .iter()
                        .map(|name| json!({"Name": name, "Unit": "Count"}))
                        .collect::<Vec<_>>(),
                }],
            },
        });
        if let (Some(target), Value::Object(values)) = (document.as_object_mut(), values) {
            target.extend(values);
        }
        document
    };
    let mut documents: Vec<Value> = audit::Kind::ALL
        .iter()
        .map(|kind| {
            let count = report
                .summary
                .findings
                .get(kind.name())
                .copied()
                .unwrap_or(0);
            document(
                json!([["Kind"]]),
                &["Findings"],
                json!({"Kind": kind.name(), "Findings": count}),
            )
        })
        .collect();
    documents.push(document(
        json!([[]]),
        &["Findings", "QuotaHeadroom", "UnreachableAccounts"],
        json!({
            "Findings": report.findings.len(),
            "QuotaHeadroom": report.summary.quota.headroom,
            "UnreachableAccounts": report.summary.unreachable_accounts,
        }),
    ));
    documents
}

/// The report as events: one per finding, then one with the summary.
pub fn report_events(report: &Report) -> Vec<Event> {
    let finding = |finding: &Finding| Event {
        detail_type: FINDING_EVENT.to_owned(),
        detail: serde_json::to_string(finding).expect("a finding serialises"),
        resources: finding
            .objects
            .iter()
            .filter(|o| o.id.starts_with("arn:"))
            .map(|o| o.id.clone())
            .collect(),
    };
    report
        .findings
        .iter()
        .map(finding)
        .chain(std::iter::once(Event {
            detail_type: REPORT_EVENT.to_owned(),
            detail: json!({ "summary": report.summary }).to_string(),
            resources: Vec::new(),
        }))
        .collect()
}

impl EntraFederatedRole {
    /// The audit the hub's schedule runs, as the function invoked as `function_arn`: the
    /// findings are logged, published as metrics (by writing them in the embedded metric
    /// format, namespace `EntraFederatedRole/<function name>`) and put on the audit's
    /// event bus. Nothing is repaired. `event` may name more `accounts` and the
    /// `objectQuota`.
    pub async fn scheduled_audit(
        &self,
        event: &Value,
        function_arn: &str,
        deadline: Deadline,
    ) -> Result<Value, ResourceError> {
        let scope = Scope::for_function(function_arn, event)?;
        let function = function_arn.rsplit(':').next().unwrap_or_default();
        let report = self.audit(&scope, &|_| {}, deadline).await?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // The namespace of the function's other metrics (hub.yaml's metric filters).
        let namespace = format!("EntraFederatedRole/{function}");
        for document in metric_documents(&report, &namespace, now) {
            // A line of its own on stdout: CloudWatch Logs reads it as metrics.
            println!("{document}");
        }
        for finding in &report.findings {
            tracing::warn!(kind = finding.kind.name(), account = ?finding.account, detail = %finding.detail, "audit finding");
        }
        tracing::info!(summary = ?report.summary, "audited");
        self.aws()
            .put_events(
                self.config().audit_event_bus.as_deref(),
                EVENT_SOURCE,
                &report_events(&report),
                deadline,
            )
            .await?;
        Ok(json!({ "audited": true, "findings": report.findings.len() }))
    }
}

/// How many applications, accounts and roles the factory's own audit reads at once.
const SCHEDULED_CONCURRENCY: usize = 4;
