//! The sweep at organisation scale (DESIGN §9): N roles made by hand across A member
//! accounts, each asking to be federated, none of whose events arrived (the worst case the
//! sweep heals), while Graph throttles as documented ([`GraphThrottle`]). The factory's schedule
//! invokes the sweep run after run, each with the Lambda deadline D, until every role is
//! federated; then once more, when nothing is left to change (the steady state every later
//! run is in).
//!
//! Reported: the runs it took and the roles federated after each, the wall time, Graph
//! writes admitted by the throttle against the most it could admit in that time (what its
//! buckets held at the start, and what they refilled), the steady-state run's time and
//! calls, and the process's peak
//! resident memory.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use entra_federated_role_harness::process::Bootstrap;

use crate::{
    lab::{Lab, LabOptions, Result, make_asking_role, member_account},
    stats::{memory, mib},
    throttle::GraphThrottle,
};
use futures::StreamExt;

/// The sweep's setting.
#[derive(Debug, Clone)]
pub struct SweepScaleOptions {
    /// N: roles that ask.
    pub roles: usize,
    /// A: member accounts (role i lives in account ⌊i·A/N⌋).
    pub accounts: usize,
    /// How Graph throttles.
    pub throttle: GraphThrottle,
    /// D: the Lambda deadline of each run.
    pub budget: Duration,
    /// The most runs tried before giving up.
    pub max_runs: usize,
    /// Objects per page of Graph's lists (Graph's default is 100).
    pub page_size: usize,
}

impl SweepScaleOptions {
    /// The small correctness run of the test command.
    pub fn smoke() -> Self {
        Self {
            roles: 12,
            accounts: 3,
            throttle: GraphThrottle::WriteRate(20.0),
            budget: Duration::from_secs(60),
            max_runs: 3,
            // Small pages, so that the sweep follows Graph's paging here too.
            page_size: 5,
        }
    }
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct SweepScale {
    /// N.
    pub roles: usize,
    /// A.
    pub accounts: usize,
    /// How Graph throttled.
    pub throttle: String,
    /// The Graph writes a second the throttle admits once any burst is spent.
    pub write_rate_per_s: f64,
    /// D, seconds.
    pub budget_seconds: f64,
    /// Each run until every role was federated (or the runs ran out).
    pub runs: Vec<SweepRun>,
    /// Roles federated after the last of them.
    pub federated: usize,
    /// Their wall time, seconds.
    pub seconds_to_federate: f64,
    /// Graph writes the throttle admitted in them.
    pub graph_writes_admitted: usize,
    /// Graph writes answered 429 in them.
    pub graph_writes_throttled: usize,
    /// Admitted Graph writes per role.
    pub graph_writes_per_role: f64,
    /// Admitted over the most the throttle could admit in that time.
    pub fraction_of_ceiling: f64,
    /// The run after that, with nothing left to change.
    pub steady: SweepRun,
    /// The factory process's peak resident memory at the end, MiB.
    pub process_peak_rss_mib: f64,
}

/// One run of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRun {
    /// Its wall time, seconds.
    pub seconds: f64,
    /// What the function answered.
    pub answer: Value,
    /// Roles that say they are federated after it (their status tag, read from IAM).
    pub federated_after: usize,
    /// Graph writes the throttle admitted.
    pub graph_writes_admitted: usize,
    /// Graph writes answered 429.
    pub graph_writes_throttled: usize,
    /// Calls to Graph and the token endpoint.
    pub graph_calls: usize,
    /// Calls to moto.
    pub aws_calls: usize,
}

/// Runs the sweep on `binary`.
pub async fn run(binary: &std::path::Path, options: &SweepScaleOptions) -> Result<SweepScale> {
    let (lab, mut process) = asking_organisation(binary, options.roles, options.accounts).await?;
    lab.graph.configure(|settings| {
        options.throttle.apply(settings);
        settings.page_size = options.page_size;
    });
    let available = lab.graph.writes_available();
    let accounts: Vec<String> = (0..options.accounts).map(member_account).collect();
    let sweep = json!({ "entra-federated-role": "sweep", "accounts": accounts });

    let mut runs = Vec::new();
    while runs.len() < options.max_runs {
        let run = one_run(&lab, &sweep, options).await?;
        let done = run.federated_after >= options.roles;
        runs.push(run);
        if done {
            break;
        }
    }
    let steady = one_run(&lab, &sweep, options).await?;
    let peak = process
        .id()
        .and_then(memory)
        .map_or(0.0, |m| mib(m.peak_kib));
    process.kill().await;

    let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
    let admitted: usize = runs.iter().map(|r| r.graph_writes_admitted).sum();
    let federated = runs.last().map_or(0, |r| r.federated_after);
    Ok(SweepScale {
        roles: options.roles,
        accounts: options.accounts,
        throttle: options.throttle.describe(),
        write_rate_per_s: options.throttle.sustained_writes_per_s(),
        budget_seconds: options.budget.as_secs_f64(),
        federated,
        seconds_to_federate: seconds,
        graph_writes_admitted: admitted,
        graph_writes_throttled: runs.iter().map(|r| r.graph_writes_throttled).sum(),
        graph_writes_per_role: admitted as f64 / federated.max(1) as f64,
        fraction_of_ceiling: admitted as f64 / options.throttle.ceiling(available, seconds),
        runs,
        steady,
        process_peak_rss_mib: peak,
    })
}

/// A lab of `accounts` member accounts holding `roles` roles made by hand (straight in
/// moto, not through the factory's proxies) that ask to be federated, role i in account
/// ⌊i·A/N⌋, and one factory process on `binary` polling it.
pub(crate) async fn asking_organisation(
    binary: &std::path::Path,
    roles: usize,
    accounts: usize,
) -> Result<(Lab, Bootstrap)> {
    let lab = Lab::start(&LabOptions {
        members: accounts,
        verify_caller_stack: false,
        directory_quota: 4 * roles + 100,
    })
    .await?;
    let made: Vec<Result<()>> = futures::stream::iter(0..roles)
        .map(|i| {
            let member = &lab.members[i * accounts / roles.max(1)];
            async move { make_asking_role(&member.sdk, &format!("asking-{i:05}")).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    made.into_iter().collect::<Result<Vec<()>>>()?;

    let polls = lab.runtime.next_polls();
    let process = lab.spawn(binary)?;
    if !lab
        .runtime
        .wait_for_polls(polls + 1, Duration::from_secs(60))
        .await
    {
        return Err("the factory never polled".into());
    }
    Ok((lab, process))
}

/// One sweep, as the schedule invokes it.
async fn one_run(lab: &Lab, sweep: &Value, options: &SweepScaleOptions) -> Result<SweepRun> {
    lab.reset_calls();
    let started = Instant::now();
    let (answer, _) = lab.invoke_answer(sweep, options.budget).await?;
    let seconds = started.elapsed().as_secs_f64();
    let calls = lab.calls();
    let graph = |name: &str| name.starts_with("graph ") || name.starts_with("entra ");
    let writes: Vec<_> = calls
        .iter()
        .filter(|c| c.write && c.name.starts_with("graph "))
        .collect();
    let admitted = writes.iter().filter(|c| c.status != 429).count();
    let federated_after = federated_roles(lab).await?;
    Ok(SweepRun {
        seconds,
        answer,
        federated_after,
        graph_writes_admitted: admitted,
        graph_writes_throttled: writes.len() - admitted,
        graph_calls: calls.iter().filter(|c| graph(&c.name)).count(),
        aws_calls: calls
            .iter()
            .filter(|c| !graph(&c.name) && !c.name.starts_with("s3 "))
            .count(),
    })
}

/// The roles that say they are federated (their status tag), in every member account:
/// what the sweep achieved, read from IAM, not from Entra.
pub(crate) async fn federated_roles(lab: &Lab) -> Result<usize> {
    let mut federated = 0;
    for member in &lab.members {
        let iam = aws_sdk_iam::Client::new(&member.sdk);
        let roles = iam
            .list_roles()
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await;
        for role in roles {
            let name = role?.role_name().to_owned();
            if !name.starts_with("asking-") {
                continue;
            }
            let role = iam.get_role().role_name(&name).send().await?;
            let said = role.role().is_some_and(|r| {
                r.tags()
                    .iter()
                    .any(|t| t.key() == "entra-federated-role:status" && t.value() == "federated")
            });
            federated += usize::from(said);
        }
    }
    Ok(federated)
}
