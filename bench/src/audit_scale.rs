//! The audit at organisation scale (DESIGN §10): N roles in A member accounts, each
//! federated by the factory (roles made by hand that ask, federated by its sweep), then
//! the operator's `entra-federated-role audit` run over all of them, every remote call
//! taking a fixed latency L, Graph throttling its reads as documented ([`GraphThrottle`]).
//! Reported: the audit's wall time, the Graph and AWS calls it made (and the Graph calls
//! throttled), the findings (none: nothing drifted), and the tool's peak resident memory.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    lab::{Result, member_account},
    stats::{memory, mib},
    sweep_scale::{asking_organisation, federated_roles},
    throttle::GraphThrottle,
};

/// The audit's setting.
#[derive(Debug, Clone)]
pub struct AuditScaleOptions {
    /// N: roles.
    pub roles: usize,
    /// A: member accounts (role i lives in account ⌊i·A/N⌋).
    pub accounts: usize,
    /// L: the latency of every remote call while the audit runs.
    pub latency: Duration,
    /// How many applications, accounts and roles the tool reads at once.
    pub concurrency: usize,
    /// How Graph throttles while the audit runs (`None`: not at all).
    pub throttle: Option<GraphThrottle>,
}

impl AuditScaleOptions {
    /// The small correctness run of the test command.
    pub fn smoke() -> Self {
        Self {
            roles: 12,
            accounts: 3,
            latency: Duration::ZERO,
            concurrency: 8,
            throttle: None,
        }
    }
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct AuditScale {
    /// N.
    pub roles: usize,
    /// A.
    pub accounts: usize,
    /// L, milliseconds.
    pub latency_ms: f64,
    /// The tool's concurrency.
    pub concurrency: usize,
    /// How Graph throttled.
    pub throttle: String,
    /// Graph calls answered 429.
    pub graph_throttled: usize,
    /// The audit's wall time, from exec to exit, seconds.
    pub seconds: f64,
    /// Its exit code.
    pub exit_code: i32,
    /// Findings (none is right: nothing drifted).
    pub findings: usize,
    /// What its summary counted.
    pub summary: Value,
    /// Graph reads (and token requests).
    pub graph_calls: usize,
    /// Graph reads per role.
    pub graph_calls_per_role: f64,
    /// AWS calls (STS, IAM, CloudFormation).
    pub aws_calls: usize,
    /// The tool's peak resident memory, MiB (its last sample before exit).
    pub peak_rss_mib: f64,
}

/// Sets the organisation up and audits it with `cli`, the factory running on `bootstrap`.
pub async fn run(bootstrap: &Path, cli: &Path, options: &AuditScaleOptions) -> Result<AuditScale> {
    // Roles made by hand that ask; the factory federates them: the sweep, run after run.
    let (lab, mut process) =
        asking_organisation(bootstrap, options.roles, options.accounts).await?;
    let accounts: Vec<String> = (0..options.accounts).map(member_account).collect();
    let sweep = json!({ "entra-federated-role": "sweep", "accounts": accounts });
    let mut federated = 0;
    for _ in 0..10 {
        lab.invoke_answer(&sweep, Duration::from_secs(900)).await?;
        federated = federated_roles(&lab).await?;
        if federated >= options.roles {
            break;
        }
    }
    process.kill().await;
    if federated < options.roles {
        return Err(format!("the sweep federated {federated} of {} roles", options.roles).into());
    }

    // The audit, as an operator runs it: the hub's credentials, the factory's settings.
    lab.set_latency(options.latency);
    if let Some(throttle) = options.throttle {
        lab.graph.configure(|settings| throttle.apply(settings));
    }
    lab.reset_calls();
    let mut env = lab.factory_environment().to_vec();
    env.push(("AWS_REGION".into(), "us-east-1".into()));
    let started = Instant::now();
    let mut child = tokio::process::Command::new(cli)
        .args([
            "audit",
            "--format",
            "json",
            "--settle",
            "0",
            "--quiet",
            "--object-quota",
            &(4 * options.roles + 100).to_string(),
            "--concurrency",
            &options.concurrency.to_string(),
        ])
        .env_clear()
        .envs(env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let reading = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(mut stdout) = stdout {
            tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text)
                .await
                .ok();
        }
        text
    });
    // VmHWM only grows: its last sample before the exit is the peak, near enough.
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = pid.and_then(memory).map(|m| m.peak_kib) {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let stdout = reading.await.unwrap_or_default();
    lab.set_latency(Duration::ZERO);
    let report: Value = serde_json::from_str(&stdout)
        .map_err(|e| format!("the audit printed no report ({e}): {stdout}"))?;
    let calls = lab.calls();
    let graph = |name: &str| name.starts_with("graph ") || name.starts_with("entra ");
    let graph_calls = calls.iter().filter(|c| graph(&c.name)).count();
    Ok(AuditScale {
        roles: options.roles,
        accounts: options.accounts,
        latency_ms: options.latency.as_secs_f64() * 1000.0,
        concurrency: options.concurrency,
        throttle: options
            .throttle
            .map_or_else(|| "none".to_owned(), GraphThrottle::describe),
        graph_throttled: calls
            .iter()
            .filter(|c| graph(&c.name) && c.status == 429)
            .count(),
        seconds,
        exit_code: status.code().unwrap_or(-1),
        findings: report["findings"].as_array().map_or(0, Vec::len),
        summary: report["summary"].clone(),
        graph_calls,
        graph_calls_per_role: graph_calls as f64 / options.roles.max(1) as f64,
        aws_calls: calls.iter().filter(|c| !graph(&c.name)).count(),
        peak_rss_mib: mib(peak_kib),
    })
}
