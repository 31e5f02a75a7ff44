//! `efr-bench`: runs the benchmarks of issue 7 on a built `bootstrap`, writes the results
//! file and the figures block of `BENCHMARKS.md`, and prints the targets. `scripts/bench`
//! builds everything and runs it; see `BENCHMARKS.md` for what each figure means.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use entra_federated_role_bench::{
    audit_scale::{self, AuditScaleOptions},
    cold_start::{self, ColdStartOptions},
    critical_path::{self, CriticalPathOptions},
    footprint::{self, FootprintOptions},
    lab::Result,
    org_scale::{self, OrgScaleOptions},
    report,
    sweep_scale::{self, SweepScaleOptions},
    throttle::GraphThrottle,
};
use graph_emulator::TenantSize;
use serde_json::{Value, json};

const USAGE: &str = "usage: efr-bench [options]
  --bootstrap PATH          release bootstrap to measure (target/release/bootstrap)
  --cli PATH                release operator tool for the audit (target/release/entra-federated-role)
  --arm64-bootstrap PATH    arm64 release bootstrap, for its zip size
  --arm64-missing TEXT      why there is no arm64 bootstrap (reported)
  --baseline-python PATH    Python with boto3 for the cold-start baseline (bench/.venv/bin/python)
  --out PATH                results file (bench/results.json)
  --markdown PATH           document whose figures block is rewritten (BENCHMARKS.md)
  --only LIST               comma-separated: cold-start,footprint,critical-path,org-scale,
                            sweep-scale, audit-scale (the org-scale options set their N, A,
                            throttle and deadline; the audit takes the critical path's latency);
                            `report` runs none and rewrites the figures from the results file
  --cold-runs N             measured cold starts of each program (50)
  --cold-warmup N           unmeasured cold starts first (3)
  --memory-runs N           processes measured for memory (3)
  --latency-ms MS           latency on every remote call for the critical path (50)
  --repeats N               warm Creates, Updates and Deletes at each latency (7)
  --cold-processes N        cold Creates at each latency (3)
  --resources N             org scale: resources (1000)
  --accounts N              org scale: member accounts (100)
  --processes N             org scale: factory processes (16)
  --tenant-size S|M|L       org scale, sweep and audit: Graph throttles at its documented
                            limits for a tenant of this size (S: under 50 users; the default)
  --write-rate R            instead, a bucket of R Graph writes a second (the smoke test's)
  --replication-lag-ms MS   org scale: Graph's replication lag (1000)
  --budget-s S              org scale: Lambda deadline per invocation (300)
  --no-verify               org scale: VERIFY_CALLER_STACK=false (no moto stacks)";

struct Args {
    bootstrap: PathBuf,
    cli: PathBuf,
    arm64_bootstrap: Option<PathBuf>,
    arm64_missing: Option<String>,
    baseline_python: PathBuf,
    out: PathBuf,
    markdown: PathBuf,
    only: Vec<String>,
    cold: ColdStartOptions,
    memory_runs: usize,
    critical: CriticalPathOptions,
    org: OrgScaleOptions,
}

const ALL: [&str; 6] = [
    "cold-start",
    "footprint",
    "critical-path",
    "org-scale",
    "sweep-scale",
    "audit-scale",
];

fn parse(root: &Path) -> Result<Args> {
    let mut args = Args {
        bootstrap: root.join("target/release/bootstrap"),
        cli: root.join("target/release/entra-federated-role"),
        arm64_bootstrap: None,
        arm64_missing: None,
        baseline_python: root.join("bench/.venv/bin/python"),
        out: root.join("bench/results.json"),
        markdown: root.join("BENCHMARKS.md"),
        only: ALL.map(str::to_owned).to_vec(),
        cold: ColdStartOptions {
            runs: 50,
            warmup: 3,
            python: PathBuf::new(),
            python_script: root.join("bench/python/baseline_handler.py"),
        },
        memory_runs: 3,
        critical: CriticalPathOptions {
            latency: Duration::from_millis(50),
            repeats: 7,
            cold_processes: 3,
        },
        org: OrgScaleOptions {
            resources: 1000,
            accounts: 100,
            processes: 16,
            throttle: GraphThrottle::DOCUMENTED,
            replication_lag: Duration::from_secs(1),
            budget: Duration::from_secs(300),
            verify_caller_stack: true,
        },
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if flag == "--no-verify" {
            args.org.verify_caller_stack = false;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || -> Result<usize> {
            value
                .parse()
                .map_err(|_| format!("{flag}: {value:?} is not a number").into())
        };
        match flag.as_str() {
            "--bootstrap" => args.bootstrap = value.into(),
            "--cli" => args.cli = value.into(),
            "--arm64-bootstrap" => args.arm64_bootstrap = Some(value.into()),
            "--arm64-missing" => args.arm64_missing = Some(value),
            "--baseline-python" => args.baseline_python = value.into(),
            "--out" => args.out = value.into(),
            "--markdown" => args.markdown = value.into(),
            "--only" => {
                args.only = value.split(',').map(|s| s.trim().to_owned()).collect();
                if let Some(unknown) = args
                    .only
                    .iter()
                    .find(|s| !ALL.contains(&s.as_str()) && s.as_str() != "report")
                {
                    return Err(format!("--only: unknown benchmark {unknown:?}\n{USAGE}").into());
                }
            }
            "--cold-runs" => args.cold.runs = number()?,
            "--cold-warmup" => args.cold.warmup = number()?,
            "--memory-runs" => args.memory_runs = number()?,
            "--latency-ms" => args.critical.latency = Duration::from_millis(number()? as u64),
            "--repeats" => args.critical.repeats = number()?,
            "--cold-processes" => args.critical.cold_processes = number()?,
            "--resources" => args.org.resources = number()?,
            "--accounts" => args.org.accounts = number()?,
            "--processes" => args.org.processes = number()?,
            "--write-rate" => {
                let rate: f64 = value
                    .parse()
                    .map_err(|_| format!("--write-rate: {value:?} is not a number"))?;
                if rate <= 0.0 {
                    return Err("--write-rate must be above 0".into());
                }
                args.org.throttle = GraphThrottle::WriteRate(rate);
            }
            "--tenant-size" => {
                let size = match value.as_str() {
                    "S" => TenantSize::Small,
                    "M" => TenantSize::Medium,
                    "L" => TenantSize::Large,
                    _ => return Err(format!("--tenant-size: {value:?} is not S, M or L").into()),
                };
                args.org.throttle = GraphThrottle::Documented(size);
            }
            "--replication-lag-ms" => {
                args.org.replication_lag = Duration::from_millis(number()? as u64);
            }
            "--budget-s" => args.org.budget = Duration::from_secs(number()? as u64),
            _ => return Err(format!("unknown option {flag}\n{USAGE}").into()),
        }
    }
    args.cold.python = args.baseline_python.clone();
    if args.critical.latency.is_zero() {
        return Err("--latency-ms must be above 0".into());
    }
    if args.org.accounts == 0 || args.org.processes == 0 {
        return Err("--accounts and --processes must be above 0".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("efr-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let root = entra_federated_role_harness::moto::workspace_root();
    let args = parse(&root)?;
    if !args.bootstrap.exists() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release -p entra-federated-role --bin bootstrap`",
            args.bootstrap.display()
        )
        .into());
    }
    let mut results: Value = std::fs::read_to_string(&args.out)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let wants = |name: &str| args.only.iter().any(|o| o == name);
    if ALL.iter().any(|name| wants(name)) {
        let command: Vec<String> = std::env::args().skip(1).collect();
        results["generated"] = json!(now());
        let quoted: Vec<String> = command
            .iter()
            .map(|arg| match arg.contains(' ') {
                true => format!("{arg:?}"),
                false => arg.clone(),
            })
            .collect();
        results["command"] = json!(
            format!("scripts/bench {}", quoted.join(" "))
                .trim()
                .to_owned()
        );
        results["machine"] = machine().await;
        let shown = args
            .bootstrap
            .strip_prefix(&root)
            .unwrap_or(&args.bootstrap);
        results["bootstrap"] = json!(shown.display().to_string());
    }

    if wants("cold-start") {
        eprintln!(
            "== cold start: {} runs each of bootstrap and the boto3 baseline",
            args.cold.runs
        );
        let figures = cold_start::run(&args.bootstrap, &args.cold).await?;
        eprintln!(
            "   bootstrap {} · boto3 {} · {:.1}×",
            figures.rust_ms.show(1, "ms"),
            figures.python_ms.show(1, "ms"),
            figures.python_over_rust
        );
        results["cold_start"] = serde_json::to_value(&figures)?;
        save(&args, &results)?;
    }
    if wants("footprint") {
        eprintln!(
            "== memory and size: {} processes, each Create + Update + Delete",
            args.memory_runs
        );
        let figures = footprint::run(
            &args.bootstrap,
            &FootprintOptions {
                runs: args.memory_runs,
                python: args.baseline_python.clone(),
                arm64_binary: args.arm64_bootstrap.clone(),
                arm64_missing: args.arm64_missing.clone(),
            },
        )
        .await?;
        eprintln!(
            "   peak RSS {} · binary {} B · zip {} B",
            figures.peak_rss_mib.show(1, "MiB"),
            figures.x86_64.binary_bytes,
            figures.x86_64.zip_bytes
        );
        results["footprint"] = serde_json::to_value(&figures)?;
        save(&args, &results)?;
    }
    if wants("critical-path") {
        eprintln!(
            "== critical path: L = {:?} on every remote call",
            args.critical.latency
        );
        let figures = critical_path::run(&args.bootstrap, &args.critical).await?;
        eprintln!(
            "   warm Create {:.1} round trips ({:.1} without the caller check) · warm Update {:.1} · warm Delete {:.1} · cold Create {:.1}",
            figures.warm_create.round_trips.median,
            figures.warm_create_unverified.round_trips.median,
            figures.warm_update.round_trips.median,
            figures.warm_delete.round_trips.median,
            figures.cold_create.round_trips.median
        );
        results["critical_path"] = serde_json::to_value(&figures)?;
        save(&args, &results)?;
    }
    if wants("org-scale") {
        let o = &args.org;
        eprintln!(
            "== organisation scale: {} resources, {} accounts, {} processes, {}, replication lag {:?}",
            o.resources,
            o.accounts,
            o.processes,
            o.throttle.describe(),
            o.replication_lag
        );
        let figures = org_scale::run(&args.bootstrap, o).await?;
        eprintln!(
            "   success {:.2} % · duplicates {} · leftovers {} · {:.1} s · ceiling {:.0} % / {:.0} %",
            figures.success_rate * 100.0,
            figures.duplicates,
            figures.leftovers,
            figures.total_seconds,
            figures.create.fraction_of_ceiling * 100.0,
            figures.delete.fraction_of_ceiling * 100.0
        );
        results["org_scale"] = serde_json::to_value(&figures)?;
        save(&args, &results)?;
    }

    if wants("sweep-scale") {
        let o = &args.org;
        let options = SweepScaleOptions {
            roles: o.resources,
            accounts: o.accounts,
            throttle: o.throttle,
            budget: o.budget,
            max_runs: 5,
            page_size: 100,
        };
        eprintln!(
            "== the sweep at scale: {} roles made by hand in {} accounts, {}, runs of {:?}",
            options.roles,
            options.accounts,
            options.throttle.describe(),
            options.budget
        );
        let figures = sweep_scale::run(&args.bootstrap, &options).await?;
        eprintln!(
            "   {} of {} federated in {} run(s), {:.1} s · steady run {:.1} s",
            figures.federated,
            figures.roles,
            figures.runs.len(),
            figures.seconds_to_federate,
            figures.steady.seconds
        );
        results["sweep_scale"] = serde_json::to_value(&figures)?;
        save(&args, &results)?;
    }

    if wants("audit-scale") {
        // How it grows: a tenth of the roles in a tenth of the accounts, all the roles in a
        // tenth of the accounts, and all the roles in all the accounts.
        let o = &args.org;
        let sizes = [
            (o.resources / 10, o.accounts / 10),
            (o.resources, o.accounts / 10),
            (o.resources, o.accounts),
        ];
        let mut runs = Vec::new();
        for (roles, accounts) in sizes {
            let options = AuditScaleOptions {
                roles,
                accounts: accounts.max(1),
                latency: args.critical.latency,
                concurrency: 8,
                throttle: Some(args.org.throttle),
            };
            eprintln!(
                "== the audit at scale: {} roles in {} accounts, {:?} on every call",
                options.roles, options.accounts, options.latency
            );
            let figures = audit_scale::run(&args.bootstrap, &args.cli, &options).await?;
            eprintln!(
                "   {:.1} s, {} Graph calls, {} AWS calls, {} findings, peak RSS {:.1} MiB",
                figures.seconds,
                figures.graph_calls,
                figures.aws_calls,
                figures.findings,
                figures.peak_rss_mib
            );
            runs.push(figures);
        }
        results["audit_scale"] = serde_json::to_value(&runs)?;
        save(&args, &results)?;
    }

    // Also for `--only report`: the results file and the figures block from what is there.
    save(&args, &results)?;
    println!();
    for target in report::targets(&results) {
        let met = match target.met {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "-",
        };
        println!(
            "{:<72} {:>10}  {:<50} {met}",
            target.what, target.target, target.actual
        );
    }
    println!(
        "\nresults: {}\nfigures: {}",
        args.out.display(),
        args.markdown.display()
    );
    Ok(())
}

/// Writes the results file (with the targets) and the figures block.
fn save(args: &Args, results: &Value) -> Result<()> {
    let mut results = results.clone();
    results["targets"] = serde_json::to_value(report::targets(&results))?;
    std::fs::write(&args.out, serde_json::to_string_pretty(&results)? + "\n")?;
    let document = std::fs::read_to_string(&args.markdown).unwrap_or_default();
    std::fs::write(
        &args.markdown,
        report::replace_block(&document, &report::markdown(&results)),
    )?;
    Ok(())
}

fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute()
    )
}

/// What the figures were measured on.
async fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown", str::trim)
        .to_owned();
    let memory_kib: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map_or("unknown", |l| l.trim_matches('"'))
        .to_owned();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "cpu": cpu,
        "load_average_at_start": load,
        "cores": std::thread::available_parallelism().map_or(0, usize::from),
        "memory_gib": (memory_kib / 1024.0 / 1024.0).round(),
        "os": format!("{os}, Linux {kernel}"),
        "rustc": command_line("rustc", &["--version"]).await,
        "moto": moto_version().await,
    })
}

async fn command_line(program: &str, args: &[&str]) -> String {
    match tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
    {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        Err(_) => "unknown".to_owned(),
    }
}

async fn moto_version() -> String {
    let python = std::env::var("EFR_PYTHON").unwrap_or_else(|_| {
        entra_federated_role_harness::moto::workspace_root()
            .join(".venv/bin/python")
            .display()
            .to_string()
    });
    let version = command_line(&python, &["-c", "import moto; print(moto.__version__)"]).await;
    format!("moto {version}")
}
