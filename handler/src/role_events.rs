//! The event-driven front door (DESIGN §9): roles made outside CloudFormation.
//!
//! An IAM event only names a role ([`RoleHint`]). The factory reads, at once, the role as
//! IAM has it now and the applications it made for that role's name (each tagged with
//! the incarnation it served), decides what the role asks ([`adoption`]), and hands the
//! core one plan ([`role_plan`]):
//!
//! - applications of another incarnation of the name (a role deleted, or deleted and made
//!   again) are removed — never the role that now holds the name;
//! - the role now: federated, refused (its trust sealed, the reason on it), withdrawn
//!   (its application and audience removed), or left alone.
//!
//! So a late, repeated or reordered event converges on the same state as a timely one,
//! and the sweep is this same step for every role.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::{
    aws::{AccountError, Place, role::RoleError},
    config::Config,
    core::{CoreError, Generation, Lifecycle, Outcome, Plan, Wanted},
    deadline::Deadline,
    domain::{
        DisplayName, Properties, RoleName,
        adoption::{Adoption, ForeignRole, NOT_ASKING, adoption},
        role_event::{InvalidRoleEvent, RoleEvent, RoleHint},
    },
    graph::{GraphError, TrustedClient, tagged_role_id},
    resource::{EntraFederatedRole, ResourceError},
};

/// What became of a role an event named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Federation {
    /// Not the factory's to touch, and why.
    LeftAlone(&'static str),
    /// Federated: callers of its application may assume it.
    Federated {
        /// The role's ARN.
        role_arn: String,
        /// The application's id.
        app_id: String,
    },
    /// Asked, but refused: sealed, with the reason on it.
    Refused {
        /// The role's ARN.
        role_arn: String,
        /// Why, and what to change.
        reason: String,
    },
    /// No longer asks: its application and audience are gone.
    Withdrawn,
    /// Gone: the applications of its name are gone too.
    Gone,
}

/// The plan for the role `name` of `account`: `role` as IAM has it now (`None`: gone),
/// `decision` what it asks, `incarnations` the role ids the factory's applications for
/// that name were made for.
pub fn role_plan(
    config: &Config,
    account: &str,
    name: &RoleName,
    role: Option<&ForeignRole>,
    decision: &Adoption,
    incarnations: &[String],
) -> Option<Plan> {
    let mut others: Vec<&String> = incarnations
        .iter()
        .filter(|id| role.is_none_or(|role| &role.id != *id))
        .collect();
    others.sort();
    others.dedup();
    let removals = others
        .into_iter()
        .map(|id| Plan::remove(Generation::adopted(config, account, name, id)));
    let current = role.and_then(|role| {
        let generation = Generation::adopted(config, account, name, &role.id);
        // An application made for this very role, which no longer asks: withdrawn, even
        // when its status tags are gone (a withdrawal stopped midway, or one that never
        // got as far as writing them).
        let has_application = incarnations.contains(&role.id);
        match decision {
            Adoption::Federate(_) => Some(Plan::adopt(generation.deciding_from(role))),
            Adoption::Refused(reason) => {
                Some(Plan::refuse(generation.deciding_from(role), reason.clone()))
            }
            Adoption::Withdrawn => Some(Plan::remove(generation)),
            Adoption::LeftAlone(NOT_ASKING) if has_application => Some(Plan::remove(generation)),
            Adoption::LeftAlone(_) => None,
        }
    });
    current.into_iter().chain(removals).reduce(Plan::alongside)
}

/// The reason to refuse a role, when `error` is the role's own and stops its federation
/// however often it is tried: its trust cannot take the factory's statement. Failures of
/// the factory's own (a Graph permission it lacks, an application name someone else
/// holds) are not the role's: they fail the message, which the dead-letter queue's alarm
/// then shows the operator, and never seal a role.
fn lasting(error: &CoreError) -> Option<String> {
    matches!(
        error,
        CoreError::Trust(_) | CoreError::Role(RoleError::Trust(_))
    )
    .then(|| error.to_string())
}

/// The display name of a role's application when its tags give none.
fn derived_display_name(account: &str, name: &RoleName) -> DisplayName {
    DisplayName::parse(&format!("{account}/{name}"))
        .expect("an account and a role name make a display name")
}

impl EntraFederatedRole {
    /// Converges the role `hint` names, from its state now (DESIGN §9), as the factory
    /// invoked as `function_arn` within `deadline`. `known`: ids of earlier incarnations of
    /// the role the caller knows of (the sweep finds deleted applications too).
    pub async fn federate(
        &self,
        hint: &RoleHint,
        known: &[String],
        function_arn: &str,
        deadline: Deadline,
    ) -> Result<Federation, ResourceError> {
        let config = self.config();
        let place = function_place(function_arn, &hint.account)?;
        // The factory's own account has no member role, and the function's role there has
        // no permission for roles made outside CloudFormation.
        if function_arn.split(':').nth(4) == Some(hint.account.as_str()) {
            return Ok(Federation::LeftAlone("it is in the factory's own account"));
        }
        let account = self
            .aws()
            .account(&place, function_arn, &hint.event_id, deadline)
            .await?;
        let graph = self.graph().await?;
        let name = &hint.role_name;
        let (role, apps) = futures::join!(
            account.read_foreign(name, deadline),
            graph.role_applications(&hint.account, name.as_str(), deadline),
        );
        let (role, apps) = (role?, apps?);
        let incarnations: Vec<String> = apps
            .iter()
            .filter_map(|app| tagged_role_id(&app.tags).map(str::to_owned))
            .chain(known.iter().cloned())
            .collect();
        let mut decision = match &role {
            Some(role) => adoption(role, &config.guardrails, &place.partition, &hint.account),
            None => Adoption::LeftAlone("it is gone"),
        };
        // Trusted clients are looked up, and held to the guardrail, before any write.
        let mut trusted = Vec::new();
        if let Adoption::Federate(properties) = &decision {
            match self.trusted_clients(properties, deadline).await? {
                Ok(found) => trusted = found,
                Err(reason) => decision = Adoption::Refused(reason),
            }
        }
        let Some(plan) = role_plan(
            config,
            &hint.account,
            name,
            role.as_ref(),
            &decision,
            &incarnations,
        ) else {
            tracing::info!(role = %name, account = %hint.account, why = ?decision, "left the role alone");
            return Ok(match decision {
                Adoption::LeftAlone(why) => Federation::LeftAlone(why),
                _ => Federation::Gone,
            });
        };
        tracing::info!(%plan, chain = plan.longest_chain(), "planned");
        let display_name = match &decision {
            Adoption::Federate(properties) => properties
                .application_display_name
                .clone()
                .unwrap_or_else(|| derived_display_name(&hint.account, name)),
            _ => derived_display_name(&hint.account, name),
        };
        let properties = match &decision {
            Adoption::Federate(properties) => Some(properties.as_ref()),
            _ => None,
        };
        // The role's application as listed a moment ago: not upserted again when it
        // already says what is wanted (a role's later events, a steady sweep).
        let current_app = role.as_ref().and_then(|r| {
            let generation = Generation::adopted(config, &hint.account, name, &r.id);
            apps.iter()
                .find(|app| app.unique_name.as_deref() == Some(generation.unique_name.as_str()))
        });
        let wanted = properties.map(|properties| Wanted {
            properties,
            trusted: &trusted,
            display_name: &display_name,
            current: current_app,
        });
        let lifecycle = Lifecycle {
            iam: &account,
            entra: graph,
        };
        // Which target of the plan is the role that holds the name now, if any.
        let current_key = role.as_ref().map(|r| {
            Generation::adopted(config, &hint.account, name, &r.id)
                .key()
                .to_owned()
        });
        let current_index = plan
            .targets()
            .iter()
            .position(|t| Some(t.generation.key()) == current_key.as_deref());
        let mut outcomes = Vec::new();
        for (index, outcome) in lifecycle
            .apply(&plan, wanted, deadline)
            .await
            .into_iter()
            .enumerate()
        {
            match (outcome, role.as_ref()) {
                // The role's request cannot be served however often it is tried (its trust
                // cannot take the statement, the application's name is someone else's, a
                // permission is missing): the role is refused, and says why, instead of
                // failing until its message is dead-lettered.
                (Err(error), Some(current))
                    if Some(index) == current_index
                        && matches!(decision, Adoption::Federate(_)) =>
                {
                    let Some(reason) = lasting(&error) else {
                        return Err(error.into());
                    };
                    let generation = Generation::adopted(config, &hint.account, name, &current.id)
                        .deciding_from(current);
                    let refusal = Plan::refuse(generation, reason.clone());
                    let sealed = lifecycle.apply(&refusal, None, deadline).await.remove(0)?;
                    tracing::warn!(%error, "the role's request cannot be served: refused");
                    decision = Adoption::Refused(reason);
                    outcomes.push(sealed);
                }
                (outcome, _) => outcomes.push(outcome.map_err(ResourceError::from)?),
            }
        }
        let current = current_index.and_then(|i| outcomes.into_iter().nth(i));
        Ok(match (decision, current) {
            (_, Some(Outcome::Converged(converged))) => Federation::Federated {
                role_arn: converged.role_arn,
                app_id: converged.app_id.to_string(),
            },
            (Adoption::Refused(reason), Some(Outcome::Sealed(role_arn))) => {
                Federation::Refused { role_arn, reason }
            }
            (_, Some(Outcome::Removed(_))) => Federation::Withdrawn,
            (Adoption::LeftAlone(why), _) if role.is_some() => Federation::LeftAlone(why),
            _ => Federation::Gone,
        })
    }

    /// The trusted clients `properties` name, resolved and held to the guardrail; the
    /// reason for a refusal when one is unknown or not allowed.
    async fn trusted_clients(
        &self,
        properties: &Properties,
        deadline: Deadline,
    ) -> Result<Result<Vec<TrustedClient>, String>, ResourceError> {
        let graph = self.graph().await?;
        let trusted = match graph
            .resolve_trusted_clients(&properties.trusted_client_app_ids, deadline)
            .await
        {
            Ok(trusted) => trusted,
            Err(error @ GraphError::UnknownTrustedClient { .. }) => {
                return Ok(Err(error.to_string()));
            }
            Err(error) => return Err(error.into()),
        };
        let checked = self.check_trusted_clients(&trusted);
        Ok(checked.map(|()| trusted).map_err(|v| v.to_string()))
    }
}

/// The place of `account` for the factory invoked as `function_arn`: its partition and
/// region are the function's own.
fn function_place(function_arn: &str, account: &str) -> Result<Place, AccountError> {
    let fields: Vec<&str> = function_arn.splitn(7, ':').collect();
    match fields.as_slice() {
        ["arn", partition, "lambda", region, _, ..] => Ok(Place {
            partition: (*partition).to_owned(),
            region: (*region).to_owned(),
            account: account.to_owned(),
        }),
        _ => Err(AccountError::FunctionArn(function_arn.to_owned())),
    }
}

/// How long before Lambda's deadline a batch stops its work, to answer in time.
pub const BATCH_MARGIN: Duration = Duration::from_secs(2);

/// The answer to a batch the factory cannot serve (its configuration is invalid: `why`):
/// every message is delivered again, and ends in the dead-letter queue.
pub fn fail_batch(batch: &Value, why: &str) -> Value {
    tracing::error!(%why, "the factory's configuration is invalid: every message is delivered again");
    batch_item_failures(messages(batch).into_iter().map(|(id, _)| id))
}

/// Whether `event` is a batch of messages from SQS ("Using Lambda with Amazon SQS": an
/// object whose `Records` carry `eventSource` `aws:sqs`).
pub fn is_sqs_batch(event: &Value) -> bool {
    event["Records"]
        .as_array()
        .is_some_and(|records| records.iter().all(|r| r["eventSource"] == "aws:sqs"))
}

/// The messages of an SQS batch: each message id, and the IAM event its body carries
/// (EventBridge puts the event's JSON in the body of the messages it sends to a queue).
fn messages(batch: &Value) -> Vec<(String, Result<RoleEvent, InvalidRoleEvent>)> {
    let records = batch["Records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    records
        .iter()
        .map(|record| {
            let id = record["messageId"].as_str().unwrap_or_default().to_owned();
            let event = record["body"]
                .as_str()
                .and_then(|body| serde_json::from_str::<Value>(body).ok())
                .map_or_else(
                    || Err(InvalidRoleEvent::new("its body is not a JSON event")),
                    |event| RoleEvent::parse(&event),
                );
            (id, event)
        })
        .collect()
}

impl EntraFederatedRole {
    /// Handles an SQS batch of IAM events, each role once however many messages name it,
    /// all at once. Returns Lambda's partial batch response: the messages to deliver
    /// again, those whose role could not be converged and those that are no IAM event
    /// (they end in the dead-letter queue, where an alarm sees them).
    pub async fn handle_batch(
        &self,
        batch: &Value,
        function_arn: &str,
        deadline: Deadline,
    ) -> Value {
        let mut failures: Vec<String> = Vec::new();
        let mut roles: Vec<(RoleHint, Vec<String>)> = Vec::new();
        for (id, event) in messages(batch) {
            match event {
                Ok(RoleEvent::Role(hint)) => {
                    let same = |(h, _): &&mut (RoleHint, Vec<String>)| {
                        h.account == hint.account
                            && h.role_name
                                .as_str()
                                .eq_ignore_ascii_case(hint.role_name.as_str())
                    };
                    match roles.iter_mut().find(same) {
                        Some((_, ids)) => ids.push(id),
                        None => roles.push((hint, vec![id])),
                    }
                }
                Ok(RoleEvent::Ignored(why)) => tracing::info!(message = %id, %why, "nothing to do"),
                Err(error) => {
                    tracing::error!(message = %id, %error, "not an IAM event: left for the dead-letter queue");
                    failures.push(id);
                }
            }
        }
        let results = futures::future::join_all(roles.iter().map(|(hint, _)| async move {
            let span = tracing::info_span!("role_event", account = %hint.account, role = %hint.role_name, event = %hint.event_name, id = %hint.event_id);
            // Boxed: a convergence nests deeper than the compiler lays a future out.
            Box::pin(self.federate(hint, &[], function_arn, deadline))
                .instrument(span)
                .await
        }))
        .await;
        for ((hint, ids), result) in roles.into_iter().zip(results) {
            match result {
                Ok(federation) => {
                    tracing::info!(account = %hint.account, role = %hint.role_name, ?federation, "converged the role")
                }
                Err(error) => {
                    tracing::warn!(account = %hint.account, role = %hint.role_name, messages = ?ids, %error, "the role could not be converged: its messages are delivered again");
                    failures.extend(ids);
                }
            }
        }
        batch_item_failures(failures)
    }
}

/// The payload the schedule invokes the function with to sweep.
pub const SWEEP: &str = "sweep";

/// How many roles the sweep converges at once.
const SWEEP_CONCURRENCY: usize = 4;

/// Whether `event` asks for a sweep: `{"entra-federated-role": "sweep"}`, what the hub's
/// schedule sends.
pub fn is_sweep(event: &Value) -> bool {
    event["entra-federated-role"] == SWEEP
}

/// What a sweep did, for its log line and its answer.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Accounts whose roles were listed.
    pub accounts: usize,
    /// Accounts that could not be reached or listed (see the log).
    pub unreachable_accounts: usize,
    /// Roles to converge.
    pub roles: usize,
    /// Federated.
    pub federated: usize,
    /// Refused, and sealed.
    pub refused: usize,
    /// Withdrawn, or gone: their applications removed.
    pub removed: usize,
    /// Not the factory's.
    pub left_alone: usize,
    /// Failed (see the log); the next sweep tries again.
    pub failed: usize,
    /// Not reached before the deadline; the next sweep starts with them.
    pub left_for_next_run: usize,
}

impl EntraFederatedRole {
    /// Converges every role that asks, and every application the factory made for a role
    /// made outside CloudFormation (DESIGN §9): heals what lost or dead-lettered events
    /// missed. The roles are those under the role path of each account where such an
    /// application lives, of `ALLOWED_ACCOUNT_IDS` and of the event's `accounts`; and each
    /// application's role, found by the name and id its tags hold. Bounded: at most a few
    /// roles at once, none started close to the deadline; each run starts at a random place
    /// in the list, so a list longer than one run reaches is covered over several. Safe
    /// while events flow: each role is converged from its state, as an event would.
    pub async fn sweep(
        &self,
        event: &Value,
        function_arn: &str,
        deadline: Deadline,
    ) -> SweepReport {
        let mut report = SweepReport::default();
        let graph = match self.graph().await {
            Ok(graph) => graph,
            Err(error) => {
                tracing::error!(%error, "the sweep cannot sign in to Entra");
                report.failed = 1;
                return report;
            }
        };
        let apps = match graph.adopted_roles(deadline).await {
            Ok(apps) => apps,
            Err(error) => {
                tracing::error!(%error, "the sweep cannot list the factory's applications");
                report.failed = 1;
                return report;
            }
        };
        let mut accounts: Vec<String> = apps.iter().map(|app| app.role.account.clone()).collect();
        accounts.extend(
            self.config()
                .guardrails
                .allowed_accounts
                .iter()
                .flatten()
                .cloned(),
        );
        accounts.extend(
            event["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned),
        );
        accounts.sort();
        accounts.dedup();
        report.accounts = accounts.len();

        // Every role under the path in each account, and each application's role.
        let prefix = self
            .config()
            .guardrails
            .role_path_prefix
            .clone()
            .unwrap_or_default();
        let listed = futures::stream::iter(accounts.iter())
            .map(|account| {
                let prefix = &prefix;
                async move {
                    let place = function_place(function_arn, account)?;
                    let iam = self
                        .aws()
                        .account(&place, function_arn, "sweep", deadline)
                        .await?;
                    let names = iam.roles_on_path(prefix, deadline).await?;
                    Ok::<_, ResourceError>((account.clone(), names))
                }
            })
            .buffer_unordered(SWEEP_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut roles: Vec<(String, RoleName, Vec<String>)> = Vec::new();
        let mut add = |account: &str, name: RoleName, id: Option<&str>| {
            let same = |(a, n, _): &&mut (String, RoleName, Vec<String>)| {
                a == account && n.as_str().eq_ignore_ascii_case(name.as_str())
            };
            let entry = match roles.iter_mut().find(same) {
                Some(entry) => entry,
                None => {
                    roles.push((account.to_owned(), name, Vec::new()));
                    roles.last_mut().expect("just pushed")
                }
            };
            entry.2.extend(id.map(str::to_owned));
        };
        for result in listed {
            match result {
                Ok((account, names)) => {
                    names.into_iter().for_each(|name| add(&account, name, None))
                }
                Err(error) => {
                    tracing::warn!(%error, "the sweep could not list the roles of an account");
                    report.unreachable_accounts += 1;
                }
            }
        }
        for app in &apps {
            if let Ok(name) = RoleName::parse(&app.role.name) {
                add(&app.role.account, name, Some(&app.role.id));
            }
        }
        report.roles = roles.len();
        // A run cut short by the deadline leaves the rest to later runs, each starting at a
        // random place in the list.
        roles.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
        if !roles.is_empty() {
            let start = fastrand::usize(..roles.len());
            roles.rotate_left(start);
        }
        let outcomes = futures::stream::iter(roles.iter())
            .map(|(account, name, known)| async move {
                if deadline.remaining() < SWEEP_RESERVE {
                    return None;
                }
                let hint = RoleHint {
                    account: account.clone(),
                    role_name: name.clone(),
                    event_name: SWEEP.to_owned(),
                    event_id: SWEEP.to_owned(),
                };
                let span = tracing::info_span!("sweep", %account, role = %name);
                let federated = Box::pin(self.federate(&hint, known, function_arn, deadline));
                Some(federated.instrument(span).await)
            })
            .buffer_unordered(SWEEP_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        for outcome in outcomes {
            match outcome {
                None => report.left_for_next_run += 1,
                Some(Ok(Federation::Federated { .. })) => report.federated += 1,
                Some(Ok(Federation::Refused { .. })) => report.refused += 1,
                Some(Ok(Federation::Withdrawn | Federation::Gone)) => report.removed += 1,
                Some(Ok(Federation::LeftAlone(_))) => report.left_alone += 1,
                Some(Err(error)) => {
                    tracing::warn!(%error, "the sweep could not converge a role");
                    report.failed += 1;
                }
            }
        }
        tracing::info!(?report, "swept the roles made outside CloudFormation");
        report
    }
}

/// How long before the deadline the sweep starts no more roles.
const SWEEP_RESERVE: Duration = Duration::from_secs(20);

/// Lambda's partial batch response ("Implementing partial batch responses", Lambda
/// Developer Guide): the messages to deliver again.
fn batch_item_failures(ids: impl IntoIterator<Item = String>) -> Value {
    let failures: Vec<Value> = ids
        .into_iter()
        .map(|id| json!({ "itemIdentifier": id }))
        .collect();
    json!({ "batchItemFailures": failures })
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;
    use crate::{
        config,
        core::plan::{Intent, Target},
    };

    const ACCOUNT: &str = "222222222222";

    fn config() -> Config {
        config::for_tests()
    }

    fn name() -> RoleName {
        RoleName::parse("deploy-web").unwrap()
    }

    fn role(id: &str) -> ForeignRole {
        ForeignRole {
            name: name(),
            path: "/entra-federated/".to_owned(),
            id: id.to_owned(),
            arn: format!("arn:aws:iam::{ACCOUNT}:role/entra-federated/deploy-web"),
            trust: "{}".to_owned(),
            boundary: None,
            tags: Vec::new(),
            managed: Vec::new(),
        }
    }

    /// Each target of the plan: what is done, and to which incarnation.
    fn targets(plan: Option<Plan>) -> Vec<(Intent, String)> {
        let config = config();
        let incarnation = |target: &Target| {
            ["AROAOLD", "AROANEW", "AROAOTHER"]
                .into_iter()
                .find(|id| {
                    Generation::adopted(&config, ACCOUNT, &name(), id).key()
                        == target.generation.key()
                })
                .unwrap_or("?")
                .to_owned()
        };
        plan.map(|plan| {
            plan.targets()
                .iter()
                .map(|target| (target.intent.clone(), incarnation(target)))
                .collect()
        })
        .unwrap_or_default()
    }

    fn plan(
        role: Option<&ForeignRole>,
        decision: Adoption,
        apps: &[&str],
    ) -> Vec<(Intent, String)> {
        let apps: Vec<String> = apps.iter().map(|id| (*id).to_owned()).collect();
        targets(role_plan(
            &config(),
            ACCOUNT,
            &name(),
            role,
            &decision,
            &apps,
        ))
    }

    fn federate() -> Adoption {
        Adoption::Federate(Box::default())
    }

    #[test]
    fn a_gone_role_takes_every_application_of_its_name_with_it() {
        let gone = Adoption::LeftAlone("it is gone");
        assert_eq!(
            plan(None, gone.clone(), &["AROANEW", "AROAOLD", "AROANEW"]),
            [
                (Intent::Remove, "AROANEW".into()),
                (Intent::Remove, "AROAOLD".into())
            ]
        );
        assert_eq!(plan(None, gone, &[]), []);
    }

    #[test]
    fn the_role_now_is_planned_first_and_its_predecessors_only_removed() {
        let new = role("AROANEW");
        assert_eq!(
            plan(Some(&new), federate(), &["AROAOLD", "AROANEW"]),
            [
                (Intent::Converge, "AROANEW".into()),
                (Intent::Remove, "AROAOLD".into())
            ]
        );
        assert_eq!(
            plan(Some(&new), Adoption::Refused("why".into()), &[]),
            [(Intent::Refuse("why".into()), "AROANEW".into())]
        );
        assert_eq!(
            plan(Some(&new), Adoption::Withdrawn, &["AROANEW"]),
            [(Intent::Remove, "AROANEW".into())]
        );
        assert_eq!(plan(Some(&new), Adoption::LeftAlone("no tag"), &[]), []);
        // It no longer asks, and its status tags are gone, but its application is there.
        assert_eq!(
            plan(Some(&new), Adoption::LeftAlone(NOT_ASKING), &["AROANEW"]),
            [(Intent::Remove, "AROANEW".into())]
        );
        assert_eq!(
            plan(Some(&new), Adoption::LeftAlone("no tag"), &["AROAOTHER"]),
            [(Intent::Remove, "AROAOTHER".into())]
        );
    }

    fn sqs(bodies: &[Value]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                json!({
                    "messageId": format!("m{i}"),
                    "receiptHandle": "AQEB…",
                    "body": body.as_str().map_or_else(|| body.to_string(), str::to_owned),
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "…",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:111111111111:entra-federated-role-events",
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        json!({ "Records": records })
    }

    fn iam_event(name: &str) -> Value {
        json!({
            "version": "0", "id": "e1", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.iam", "account": ACCOUNT, "time": "2026-12-04T10:23:43Z",
            "region": "us-east-1", "resources": [],
            "detail": {
                "eventSource": "iam.amazonaws.com", "eventName": name,
                "requestParameters": {"roleName": "deploy-web"},
                "recipientAccountId": ACCOUNT
            }
        })
    }

    #[test]
    fn an_sqs_batch_is_told_from_a_cloudformation_event() {
        assert!(is_sqs_batch(&sqs(&[iam_event("CreateRole")])));
        assert!(!is_sqs_batch(
            &json!({"RequestType": "Create", "ResponseURL": "https://x"})
        ));
        assert!(!is_sqs_batch(
            &json!({"Records": [{"eventSource": "aws:s3"}]})
        ));
    }

    #[test]
    fn each_message_carries_its_event_or_why_it_is_none() {
        let batch = sqs(&[
            iam_event("TagRole"),
            iam_event("CreateUser"),
            json!("not json"),
        ]);
        let read = messages(&batch);
        assert_eq!(read.len(), 3);
        assert!(
            matches!(&read[0], (id, Ok(RoleEvent::Role(hint))) if id == "m0" && hint.event_name == "TagRole")
        );
        assert!(matches!(&read[1], (_, Ok(RoleEvent::Ignored(_)))));
        assert!(
            matches!(&read[2], (id, Err(e)) if id == "m2" && e.to_string().contains("not a JSON event"))
        );
    }
}
