//! Organisation scale: N resources across A member accounts, all through the hub, created
//! and then deleted by a pool of P `bootstrap` processes polling one Lambda Runtime API
//! (Lambda runs one event per process, so P processes are P concurrent invocations),
//! while Graph throttles as its documented limits say ([`GraphThrottle`]: token buckets of
//! ResourceUnits and writes, a 429 with `Retry-After` beyond) and lags in replication.
//!
//! Every resource has a stack of its own (a real moto stack when callers are verified)
//! and its own logical id. Events are sent account by account, so the P in flight mostly
//! share an account — and race on its OIDC provider, created by the first Create and
//! deleted by the last Delete. Reported per phase: answers (success rate), time, resources
//! per second, and Graph writes admitted by the throttle as a fraction of the most it
//! could admit in that time (what its buckets held at the start, and what they refilled). After Create, both clouds are checked for
//! duplicates (one app, one service principal, one role and one audience per resource);
//! after Delete, for leftovers (anything of the factory's in Graph, including deleted
//! items, and any role or provider in the members).

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    time::{Duration, Instant},
};

use entra_federated_role_harness::{crash_proxy::ForwardedCall, process::Bootstrap};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::{
    lab::{Lab, LabOptions, Resource, Result, ci_role_properties, member_account},
    stats::{Summary, memory, mib},
    throttle::GraphThrottle,
};

/// The rollout.
#[derive(Debug, Clone)]
pub struct OrgScaleOptions {
    /// N: resources.
    pub resources: usize,
    /// A: member accounts (resource i lives in account ⌊i·A/N⌋: each account's resources
    /// are sent together, so concurrent events share an account and its provider).
    pub accounts: usize,
    /// P: factory processes (concurrent invocations).
    pub processes: usize,
    /// How Graph throttles.
    pub throttle: GraphThrottle,
    /// Graph's replication lag: how long a new object is not found by its id, and a
    /// deleted one not among deleted items ([`graph_emulator::Settings::replication_lag`]).
    pub replication_lag: Duration,
    /// The Lambda deadline of each invocation.
    pub budget: Duration,
    /// `VERIFY_CALLER_STACK` (with real stacks) or not.
    pub verify_caller_stack: bool,
}

impl OrgScaleOptions {
    /// The small correctness run of the test command.
    pub fn smoke() -> Self {
        Self {
            resources: 20,
            accounts: 4,
            processes: 4,
            throttle: GraphThrottle::WriteRate(20.0),
            replication_lag: Duration::ZERO,
            budget: Duration::from_secs(120),
            verify_caller_stack: true,
        }
    }
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct OrgScale {
    /// N.
    pub resources: usize,
    /// A.
    pub accounts: usize,
    /// P.
    pub processes: usize,
    /// How Graph throttled.
    pub throttle: String,
    /// The Graph writes a second the throttle admits once any burst is spent.
    pub write_rate_per_s: f64,
    /// Graph's replication lag, in seconds.
    pub replication_lag_s: f64,
    /// Whether callers' stacks were verified.
    pub verify_caller_stack: bool,
    /// The Create phase.
    pub create: PhaseFigures,
    /// The Delete phase.
    pub delete: PhaseFigures,
    /// Successful answers over all events of both phases.
    pub success_rate: f64,
    /// Objects beyond one per resource after Create (apps, service principals, roles,
    /// audiences, providers).
    pub duplicates: usize,
    /// What they were.
    pub duplicate_details: Vec<String>,
    /// Objects expected after Create but missing.
    pub missing: usize,
    /// Anything of the factory's left after Delete.
    pub leftovers: usize,
    /// What it was.
    pub leftover_details: Vec<String>,
    /// Both phases, seconds.
    pub total_seconds: f64,
    /// Peak resident memory of each process at the end (MiB).
    pub process_peak_rss_mib: Summary,
}

/// One phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseFigures {
    /// Events answered SUCCESS.
    pub succeeded: usize,
    /// Events not answered SUCCESS (FAILED, no answer, or more than one answer).
    pub failed: usize,
    /// Up to ten of their reasons.
    pub failures: Vec<String>,
    /// Wall-clock time, seconds.
    pub seconds: f64,
    /// Resources per second.
    pub resources_per_s: f64,
    /// Each invocation's duration, seconds.
    pub invocation_seconds: Summary,
    /// Graph writes the throttle admitted.
    pub graph_writes_admitted: usize,
    /// Graph writes answered 429.
    pub graph_writes_throttled: usize,
    /// Admitted Graph writes per resource.
    pub graph_writes_per_resource: f64,
    /// The most the throttle could admit in that time: `R · seconds + R` (its burst).
    pub ceiling_writes: f64,
    /// Admitted writes over that ceiling.
    pub fraction_of_ceiling: f64,
    /// The resource rate that ceiling allows: `R / writes per resource`.
    pub ceiling_resources_per_s: f64,
    /// Calls to moto.
    pub aws_calls: usize,
    /// Calls to Graph and the token endpoint.
    pub graph_calls: usize,
    /// Writes that succeeded more than once with the very same request.
    pub repeated_successful_writes: usize,
    /// Those by call name.
    pub repeated_successful_writes_by_call: BTreeMap<String, usize>,
}

/// Runs the rollout on `binary`.
pub async fn run(binary: &Path, options: &OrgScaleOptions) -> Result<OrgScale> {
    let lab = Lab::start(&LabOptions {
        members: options.accounts,
        verify_caller_stack: options.verify_caller_stack,
        directory_quota: 4 * options.resources + 100,
    })
    .await?;
    let specs = (0..options.resources)
        .map(|i| {
            // Account-major: the resources of one account are created (and deleted) close
            // together, so concurrent events share accounts and their OIDC provider.
            let member = i * options.accounts / options.resources.max(1);
            let properties = ci_role_properties(&member_account(member), &format!("app-{i:05}"));
            (
                member,
                format!("org-{i:05}"),
                format!("Role{i:05}"),
                properties,
            )
        })
        .collect();
    let resources = lab.resources(specs).await?;

    let polls = lab.runtime.next_polls();
    let mut processes: Vec<Bootstrap> = (0..options.processes)
        .map(|_| lab.spawn(binary))
        .collect::<Result<_>>()?;
    if !lab
        .runtime
        .wait_for_polls(polls + options.processes, Duration::from_secs(60))
        .await
    {
        return Err("not every factory process polled".into());
    }
    lab.graph.configure(|settings| {
        options.throttle.apply(settings);
        settings.replication_lag = options.replication_lag;
    });

    let started = Instant::now();
    let creates: Vec<(Value, String)> = resources.iter().map(|r| lab.create_event(r)).collect();
    let (create, answers) = phase(&lab, &creates, options).await;
    let physical_ids: Vec<String> = creates
        .iter()
        .zip(&resources)
        .map(|((_, request_id), resource)| {
            answers
                .get(request_id)
                .and_then(|(body, _)| body["PhysicalResourceId"].as_str())
                .map_or_else(
                    || format!("never-answered-{}", resource.logical_id),
                    str::to_owned,
                )
        })
        .collect();
    let create_seconds = started.elapsed();
    let (duplicate_details, missing) = duplicates(&lab, &resources, options.accounts).await?;

    let deleted_at = Instant::now();
    let deletes: Vec<(Value, String)> = futures::stream::iter(resources.iter().zip(&physical_ids))
        .then(|(r, id)| lab.delete_event(r, id))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let (delete, _) = phase(&lab, &deletes, options).await;
    let total = create_seconds + deleted_at.elapsed();
    let leftover_details = leftovers(&lab, options.accounts).await?;

    let mut peaks = Vec::new();
    for process in &mut processes {
        if let Some(memory) = process.id().and_then(memory) {
            peaks.push(mib(memory.peak_kib));
        }
        process.kill().await;
    }
    let events = 2 * options.resources;
    Ok(OrgScale {
        resources: options.resources,
        accounts: options.accounts,
        processes: options.processes,
        throttle: options.throttle.describe(),
        write_rate_per_s: options.throttle.sustained_writes_per_s(),
        replication_lag_s: options.replication_lag.as_secs_f64(),
        verify_caller_stack: options.verify_caller_stack,
        success_rate: (create.succeeded + delete.succeeded) as f64 / events.max(1) as f64,
        create,
        delete,
        duplicates: duplicate_details.len(),
        duplicate_details,
        missing,
        leftovers: leftover_details.len(),
        leftover_details,
        total_seconds: total.as_secs_f64(),
        process_peak_rss_mib: Summary::of(&peaks),
    })
}

/// Sends every event, at most P at a time, and sums the phase up; also returns every
/// answer of the phase by request id.
async fn phase(
    lab: &Lab,
    events: &[(Value, String)],
    options: &OrgScaleOptions,
) -> (PhaseFigures, HashMap<String, (Value, usize)>) {
    lab.reset_calls();
    let available = lab.graph.writes_available();
    let started = Instant::now();
    let outcomes: Vec<Result<Duration>> = futures::stream::iter(events)
        .map(|(event, _)| lab.invoke(event, options.budget))
        .buffer_unordered(options.processes)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let calls = lab.calls();
    let answers = lab.responses();

    let mut failures = Vec::new();
    let mut succeeded = 0;
    for (_, request_id) in events {
        match answers.get(request_id) {
            Some((body, 1)) if body["Status"] == "SUCCESS" => succeeded += 1,
            Some((body, 1)) => failures.push(format!("FAILED: {}", body["Reason"])),
            Some((_, n)) => failures.push(format!("{n} answers to one event")),
            None => failures.push("no answer".to_owned()),
        }
    }
    for outcome in &outcomes {
        if let Err(error) = outcome {
            failures.push(error.to_string());
        }
    }
    let durations: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(Duration::as_secs_f64)
        .collect();
    let graph_writes: Vec<&ForwardedCall> = calls
        .iter()
        .filter(|c| c.write && c.name.starts_with("graph "))
        .collect();
    let admitted = graph_writes.iter().filter(|c| c.status != 429).count();
    let throttled = graph_writes.len() - admitted;
    let ceiling = options.throttle.ceiling(available, seconds);
    let per_resource = admitted as f64 / events.len().max(1) as f64;
    let mut successful_writes: HashMap<&str, (usize, &str)> = HashMap::new();
    for call in calls.iter().filter(|c| c.write && c.status < 300) {
        successful_writes
            .entry(&call.key)
            .or_insert((0, &call.name))
            .0 += 1;
    }
    let mut repeated_by_call: BTreeMap<String, usize> = BTreeMap::new();
    for (count, name) in successful_writes.values().filter(|(n, _)| *n > 1) {
        *repeated_by_call.entry((*name).to_owned()).or_default() += count - 1;
    }
    let figures = PhaseFigures {
        succeeded,
        failed: events.len() - succeeded,
        failures: failures.into_iter().take(10).collect(),
        seconds,
        resources_per_s: events.len() as f64 / seconds,
        invocation_seconds: Summary::of(&durations),
        graph_writes_admitted: admitted,
        graph_writes_throttled: throttled,
        graph_writes_per_resource: per_resource,
        ceiling_writes: ceiling,
        fraction_of_ceiling: admitted as f64 / ceiling,
        ceiling_resources_per_s: options.throttle.sustained_writes_per_s()
            / per_resource.max(f64::MIN_POSITIVE),
        aws_calls: calls
            .iter()
            .filter(|c| {
                !c.name.starts_with("graph ")
                    && !c.name.starts_with("entra ")
                    && !c.name.starts_with("s3 ")
            })
            .count(),
        graph_calls: calls
            .iter()
            .filter(|c| c.name.starts_with("graph ") || c.name.starts_with("entra "))
            .count(),
        repeated_successful_writes: repeated_by_call.values().sum(),
        repeated_successful_writes_by_call: repeated_by_call,
    };
    (figures, answers)
}

/// Everything beyond one app, one service principal, one role and one audience per
/// resource (and one provider per account), and how many expected objects are missing.
async fn duplicates(
    lab: &Lab,
    resources: &[Resource],
    accounts: usize,
) -> Result<(Vec<String>, usize)> {
    let mut found = Vec::new();
    let mut missing = 0;
    let snapshot = lab.graph.snapshot();
    let mut apps: BTreeMap<&str, usize> = BTreeMap::new();
    for app in &snapshot.applications {
        if let Some(name) = app.unique_name.as_deref().filter(|n| n.starts_with("efr-")) {
            *apps.entry(name).or_default() += 1;
            let principals = snapshot
                .service_principals
                .iter()
                .filter(|sp| sp.app_id == app.app_id)
                .count();
            if principals > 1 {
                found.push(format!(
                    "{principals} service principals for app {}",
                    app.app_id
                ));
            }
            missing += usize::from(principals == 0);
        }
    }
    for (name, count) in &apps {
        if *count > 1 {
            found.push(format!("{count} applications named {name}"));
        }
    }
    let made: usize = apps.values().sum();
    if made > resources.len() {
        found.push(format!(
            "{made} applications for {} resources",
            resources.len()
        ));
    }
    missing += resources.len().saturating_sub(made);

    for member in 0..accounts {
        let expected = resources.iter().filter(|r| r.member == member).count();
        let state = lab.account_state(member).await?;
        let account = &lab.members[member].id;
        if state.roles.len() > expected {
            found.push(format!(
                "{} roles for {expected} resources in {account}",
                state.roles.len()
            ));
        }
        missing += expected.saturating_sub(state.roles.len());
        if state.providers.len() > 1 {
            found.push(format!("{} providers in {account}", state.providers.len()));
        }
        let audiences: Vec<&String> = state.providers.iter().flat_map(|(_, a)| a).collect();
        let mut distinct = audiences.clone();
        distinct.sort();
        distinct.dedup();
        if audiences.len() > distinct.len() || distinct.len() > expected {
            found.push(format!(
                "{} audiences ({} distinct) for {expected} resources in {account}",
                audiences.len(),
                distinct.len()
            ));
        }
        missing += expected.saturating_sub(distinct.len());
    }
    Ok((found, missing))
}

/// Anything of the factory's still there: in Graph (live or deleted items) and roles or
/// providers in any member account.
async fn leftovers(lab: &Lab, accounts: usize) -> Result<Vec<String>> {
    let mut left = Vec::new();
    let snapshot = lab.graph.snapshot();
    for app in snapshot
        .applications
        .iter()
        .filter(|a| a.created_by_factory)
    {
        left.push(format!("application {}", app.app_id));
    }
    for sp in snapshot
        .service_principals
        .iter()
        .filter(|s| s.created_by_factory)
    {
        left.push(format!("service principal {}", sp.id));
    }
    for item in &snapshot.deleted_items {
        left.push(format!("deleted item {}", item.id()));
    }
    for member in 0..accounts {
        let state = lab.account_state(member).await?;
        let account = &lab.members[member].id;
        left.extend(state.roles.iter().map(|r| format!("role {r} in {account}")));
        left.extend(
            state
                .providers
                .iter()
                .map(|(arn, audiences)| format!("provider {arn} ({} audiences)", audiences.len())),
        );
    }
    Ok(left)
}
