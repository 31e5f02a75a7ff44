//! `entra-federated-role`: the operator's view of both clouds (DESIGN §10).
//!
//! `audit` lists everything the factory made in Entra and in the member accounts, joins
//! it by the factory's markers and reports every drift once; `--fix` repairs what is the
//! factory's own and safe to repair. `doctor` checks a deployment, one line a check. It
//! signs in to Entra as the factory does, with the
//! factory's own configuration (the same environment variables, or the flags below), and
//! reaches member accounts through the member role, with credentials from the usual AWS
//! SDK sources.

use std::{
    collections::HashMap,
    io::{IsTerminal, Write},
    process::ExitCode,
    sync::Mutex,
    time::Duration,
};

use aws_config::BehaviorVersion;
use clap::{Args, Parser, Subcommand, ValueEnum};
use entra_federated_role::{
    audit::{Progress, RemoveSecrets, Repaired, Scope, applies, describe},
    aws,
    config::{self, Config},
    deadline::Deadline,
    doctor::{SERVICE_TOKEN_PARAMETER, Seat, healthy},
    domain::audit::{Kind, OWNED_OBJECT_QUOTA, Report, SETTLING_SECS},
    graph,
    resource::EntraFederatedRole,
    tls::Roots,
};
use serde_json::json;

const AUDIT_EXAMPLES: &str = "\
Examples:
  # Audit with the factory's settings from the environment (as the Lambda has them)
  entra-federated-role audit --tenant-id 72f988bf-… --client-id 11111111-… \\
      --credentials-secret-arn arn:aws:secretsmanager:eu-west-1:111111111111:secret:entra-factory

  # For a pipeline: JSON on stdout, the exit code says whether anything is wrong
  entra-federated-role audit --format json > audit.json

  # Repair what is the factory's own, and also remove client secrets found on workload apps
  entra-federated-role audit --fix --remove-credentials password

Exit codes: 0 clean (after --fix: clean once repaired), 1 findings remain, 2 the audit could not run.";

/// The operator's tool for `Custom::EntraFederatedRole`: audit both clouds, check a
/// deployment.
#[derive(Debug, Parser)]
#[command(name = "entra-federated-role", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inventory both clouds by the factory's markers and report every drift once.
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),
    /// Check a deployment before anyone depends on it: one line a check, with the fix.
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorArgs),
}

const DOCTOR_EXAMPLES: &str = "\
Examples:
  # The last step of every setup: the hub's credentials, the factory's settings, and the
  # member accounts to check
  entra-federated-role doctor --account 222222222222 --account 333333333333

  # A secretless factory signs in as its own role only: run the same checks in it
  aws lambda invoke --function-name entra-federated-role --cli-binary-format raw-in-base64-out \\
      --payload '{\"entra-federated-role\": \"doctor\", \"accounts\": [\"222222222222\"]}' doctor.json

Exit codes: 0 no check failed, 1 a check failed, 2 the doctor could not run.";

#[derive(Debug, Args)]
struct DoctorArgs {
    #[command(flatten)]
    factory: FactoryArgs,
    /// A member account to check (repeat for more); ALLOWED_ACCOUNT_IDS are always checked.
    #[arg(long = "account", value_name = "ACCOUNT_ID", value_parser = account_id)]
    accounts: Vec<String>,
    /// The factory's function name, in the account and region of the credentials.
    #[arg(long, default_value = "entra-federated-role", value_name = "NAME")]
    function_name: String,
    /// The SSM parameter each account's stacks read their ServiceToken from.
    #[arg(long, default_value = SERVICE_TOKEN_PARAMETER, value_name = "NAME")]
    parameter: String,
    /// How many directory objects the factory may create.
    #[arg(long, default_value_t = OWNED_OBJECT_QUOTA, value_name = "OBJECTS")]
    object_quota: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout: u64,
}

/// The factory's settings: each defaults to the environment variable the Lambda reads.
#[derive(Debug, Args)]
struct FactoryArgs {
    /// The Entra tenant id.
    #[arg(long, env = "ENTRA_TENANT_ID", value_name = "GUID")]
    tenant_id: Option<String>,
    /// The factory's own Entra application (client) id.
    #[arg(long, env = "ENTRA_CLIENT_ID", value_name = "GUID")]
    client_id: Option<String>,
    /// The Secrets Manager secret holding the factory's client secret or certificate;
    /// without it, the factory's secretless sign-in (outbound identity federation).
    #[arg(long, env = "ENTRA_CREDENTIALS_SECRET_ARN", value_name = "ARN")]
    credentials_secret_arn: Option<String>,
    /// The Microsoft cloud: public, usgov or china.
    #[arg(long, env = "ENTRA_CLOUD", value_name = "CLOUD")]
    cloud: Option<String>,
    /// The role assumed in member accounts.
    #[arg(long, env = "MEMBER_ROLE_NAME", value_name = "NAME")]
    member_role_name: Option<String>,
    /// The path the federated roles live under.
    #[arg(long, env = "ROLE_PATH_PREFIX", value_name = "PATH")]
    role_path_prefix: Option<String>,
}

impl FactoryArgs {
    /// The factory's configuration: these flags, then the environment.
    fn config(&self) -> Result<Config, String> {
        let given: HashMap<&str, &Option<String>> = HashMap::from([
            ("ENTRA_TENANT_ID", &self.tenant_id),
            ("ENTRA_CLIENT_ID", &self.client_id),
            ("ENTRA_CREDENTIALS_SECRET_ARN", &self.credentials_secret_arn),
            ("ENTRA_CLOUD", &self.cloud),
            ("MEMBER_ROLE_NAME", &self.member_role_name),
            ("ROLE_PATH_PREFIX", &self.role_path_prefix),
        ]);
        let lookup = |name: &str| match given.get(name) {
            Some(value) => (*value).clone(),
            None => std::env::var(name).ok(),
        };
        config::load(lookup)
            .config
            .map_err(|errors| format!("the factory's settings are invalid: {errors}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A table for people.
    Table,
    /// JSON for machines (see docs/audit.md for its schema).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SecretKind {
    /// Client secrets (passwordCredentials).
    Password,
    /// Certificates (keyCredentials).
    Key,
}

#[derive(Debug, Args)]
struct AuditArgs {
    #[command(flatten)]
    factory: FactoryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Print the plan, then repair what is the factory's own and safe to repair, and
    /// audit again.
    #[arg(long)]
    fix: bool,
    /// With --fix, also remove long-lived secrets of these kinds from workload apps.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        requires = "fix",
        value_name = "KIND"
    )]
    remove_credentials: Vec<SecretKind>,
    /// Also audit this account (repeat for more); the accounts the factory's
    /// applications name and ALLOWED_ACCOUNT_IDS are always audited.
    #[arg(long = "account", value_name = "ACCOUNT_ID", value_parser = account_id)]
    accounts: Vec<String>,
    /// How many applications, accounts and roles are read at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// How many directory objects the factory may create: 250 for a non-admin
    /// principal, more when a directory role lifts the quota.
    #[arg(long, default_value_t = OWNED_OBJECT_QUOTA, value_name = "OBJECTS")]
    object_quota: usize,
    /// Leave objects made less than this many seconds ago unjudged: an event may be
    /// working on them.
    #[arg(long, default_value_t = SETTLING_SECS, value_name = "SECONDS")]
    settle: i64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 900, value_name = "SECONDS")]
    timeout: u64,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
}

fn account_id(value: &str) -> Result<String, String> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(format!("`{value}` is not a 12-digit AWS account id"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let result = match &cli.command {
        Command::Audit(args) => audit(args).await,
        Command::Doctor(args) => doctor(args).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// The factory as this tool runs it, with the AWS SDK's configuration it uses: every
/// HTTPS client on one read of the system's trust store.
async fn factory(config: Config) -> Result<(EntraFederatedRole, aws_config::SdkConfig), String> {
    let roots = Roots::system();
    for problem in roots.problems() {
        eprintln!("warning: the trust store: {problem}");
    }
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(aws::http::sdk_http_client(roots.clone()))
        .load()
        .await;
    let http = graph::http_client(&roots).map_err(|e| e.to_string())?;
    Ok((EntraFederatedRole::new(config, sdk.clone(), http), sdk))
}

/// Where the credentials the tool runs with are: the account, partition and region.
async fn scope(sdk: &aws_config::SdkConfig) -> Result<Scope, String> {
    let region = sdk
        .region()
        .map(ToString::to_string)
        .ok_or("no AWS region is set: set AWS_REGION or a profile's region")?;
    let identity = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            format!(
                "the AWS credentials do not work: {}",
                aws_smithy_types::error::display::DisplayErrorContext(e)
            )
        })?;
    let arn = identity.arn().unwrap_or_default();
    let partition = arn.split(':').nth(1).unwrap_or("aws").to_owned();
    Ok(Scope {
        partition,
        region,
        own_account: identity.account().unwrap_or_default().to_owned(),
        accounts: Vec::new(),
        concurrency: 8,
        object_quota: OWNED_OBJECT_QUOTA,
        settling: SETTLING_SECS,
    })
}

/// A progress line on stderr while it is a terminal.
struct ProgressLine {
    shown: bool,
    counts: Mutex<[usize; 4]>,
}

impl ProgressLine {
    fn new(quiet: bool) -> Self {
        Self {
            shown: !quiet && std::io::stderr().is_terminal(),
            counts: Mutex::new([0; 4]),
        }
    }

    fn tell(&self, progress: Progress) {
        if !self.shown {
            return;
        }
        let mut counts = self.counts.lock().expect("not poisoned");
        match progress {
            Progress::Applications(n) => counts[1] = n,
            Progress::Application => counts[0] += 1,
            Progress::Accounts(n) => counts[3] = n,
            Progress::Account => counts[2] += 1,
        }
        let [apps, of_apps, accounts, of_accounts] = *counts;
        eprint!(
            "\r\x1b[2Kauditing: applications {apps}/{of_apps}, accounts {accounts}/{of_accounts}"
        );
        let _ = std::io::stderr().flush();
    }

    fn done(&self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}

async fn audit(args: &AuditArgs) -> Result<ExitCode, String> {
    let config = args.factory.config()?;
    let (factory, sdk) = factory(config.clone()).await?;
    let scope = Scope {
        accounts: args.accounts.clone(),
        concurrency: usize::from(args.concurrency),
        object_quota: args.object_quota,
        settling: args.settle,
        ..scope(&sdk).await?
    };
    let deadline = Deadline::after(Duration::from_secs(args.timeout));
    let line = ProgressLine::new(args.quiet);
    let tell = |p| line.tell(p);
    let report = factory.audit(&scope, &tell, deadline).await;
    line.done();
    let report = report.map_err(|e| format!("the audit could not run: {e}"))?;
    if !args.fix {
        match args.format {
            Format::Table => print!("{}", table(&report)),
            Format::Json => println!("{}", pretty(&json!(report))),
        }
        return Ok(exit(&report));
    }

    let secrets = RemoveSecrets {
        passwords: args.remove_credentials.contains(&SecretKind::Password),
        keys: args.remove_credentials.contains(&SecretKind::Key),
    };
    let plan: Vec<serde_json::Value> = report
        .findings
        .iter()
        .filter_map(|f| Some((f, f.repair.as_ref().filter(|r| applies(r, secrets))?)))
        .map(|(f, r)| json!({ "kind": f.kind, "repair": r, "plan": describe(&config, r) }))
        .collect();
    if args.format == Format::Table {
        print!("{}", table(&report));
        println!("\nThe plan:");
        if plan.is_empty() {
            println!("  nothing --fix may repair.");
        }
        for step in &plan {
            print!("{}", indent(step["plan"].as_str().unwrap_or_default()));
        }
    }
    let repaired = factory.fix(&scope, &report, secrets, deadline).await;
    let after = factory.audit(&scope, &|_| {}, deadline).await;
    let after = after.map_err(|e| format!("the audit after the repairs could not run: {e}"))?;
    match args.format {
        Format::Table => {
            println!("\nRepairs:");
            print!("{}", repairs(&repaired));
            println!("\nAfter the repairs:");
            print!("{}", table(&after));
        }
        Format::Json => println!(
            "{}",
            pretty(&json!({
                "findings": report.findings,
                "summary": report.summary,
                "plan": plan,
                "repairs": repaired,
                "after": after,
            }))
        ),
    }
    Ok(exit(&after))
}

async fn doctor(args: &DoctorArgs) -> Result<ExitCode, String> {
    let config = match args.factory.config() {
        Ok(config) => config,
        Err(error) => {
            let check = json!({"status": "fail", "name": "settings", "detail": error});
            match args.format {
                Format::Table => println!("✗ settings: {error}"),
                Format::Json => {
                    println!("{}", pretty(&json!({"healthy": false, "checks": [check]})))
                }
            }
            return Ok(ExitCode::from(1));
        }
    };
    let (factory, sdk) = factory(config).await?;
    let scope = Scope {
        accounts: args.accounts.clone(),
        object_quota: args.object_quota,
        ..scope(&sdk).await?
    };
    let function_arn = format!(
        "arn:{}:lambda:{}:{}:function:{}",
        scope.partition, scope.region, scope.own_account, args.function_name
    );
    let deadline = Deadline::after(Duration::from_secs(args.timeout));
    let checks = factory
        .doctor(
            &scope,
            &function_arn,
            &args.parameter,
            Seat::Elsewhere,
            deadline,
        )
        .await;
    let healthy = healthy(&checks);
    match args.format {
        Format::Table => {
            for check in &checks {
                println!("{} {}: {}", check.status.mark(), check.name, check.detail);
                if let Some(fix) = &check.fix {
                    println!("    fix: {fix}");
                }
            }
        }
        Format::Json => println!("{}", pretty(&json!({"healthy": healthy, "checks": checks}))),
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn exit(report: &Report) -> ExitCode {
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values serialise")
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

fn repairs(repaired: &[Repaired]) -> String {
    if repaired.is_empty() {
        return "  none.\n".to_owned();
    }
    repaired
        .iter()
        .map(|r| {
            let mark = if r.done { "✓" } else { "✗" };
            format!("  {mark} {:<26} {}\n", r.kind.name(), r.outcome)
        })
        .collect()
}

/// The report as a table: one row per object of each finding, then what each kind means
/// and what to do.
fn table(report: &Report) -> String {
    let summary = &report.summary;
    let quota = &summary.quota;
    let mut out = format!(
        "Audited {} accounts ({} unreachable), {} applications, {} roles, {} deleted items.\n\
         Quota: {} of {} objects used ({} soft-deleted), {} left.\n",
        summary.accounts,
        summary.unreachable_accounts,
        summary.applications,
        summary.roles,
        summary.deleted_items,
        quota.used,
        quota.limit,
        quota.deleted,
        quota.headroom,
    );
    if summary.settling > 0 {
        out += &format!(
            "{} objects made too recently were not judged: an event may be working on them.\n",
            summary.settling
        );
    }
    if summary.unrecorded > 0 {
        out += &format!(
            "{} applications carry no record of what the factory made (an earlier version made them): \
             their credentials and assignments are checked once they converge again.\n",
            summary.unrecorded
        );
    }
    if report.is_clean() {
        out += "\nNo findings: both clouds agree.\n";
        return out;
    }
    out += &format!("\n{} findings:\n\n", report.findings.len());
    let header = ["KIND", "ACCOUNT", "OBJECT", "DETAIL"];
    let mut rows: Vec<[String; 4]> = Vec::new();
    for finding in &report.findings {
        let account = finding.account.clone().unwrap_or_else(|| "-".into());
        let objects: Vec<String> = finding
            .objects
            .iter()
            .map(|o| {
                let kind = serde_json::to_value(o.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let mut text = format!("{kind} {}", o.id);
                if let Some(name) = &o.name {
                    text += &format!(" ({name})");
                }
                if let Some(created) = &o.created {
                    text += &format!(" since {created}");
                }
                text
            })
            .collect();
        let first = objects.first().cloned().unwrap_or_else(|| "-".into());
        rows.push([
            finding.kind.name().into(),
            account,
            first,
            finding.detail.clone(),
        ]);
        for object in objects.iter().skip(1) {
            rows.push([String::new(), String::new(), object.clone(), String::new()]);
        }
    }
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    out += &format!(
        "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
        header[0], header[1], header[2], header[3]
    );
    for row in &rows {
        out += format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0], row[1], row[2], row[3]
        )
        .trim_end();
        out.push('\n');
    }
    out += "\nWhat they mean and what to do:\n";
    for kind in Kind::ALL {
        let Some(finding) = report.findings.iter().find(|f| f.kind == kind) else {
            continue;
        };
        out += &format!(
            "  {}: {}.\n    Do: {}.\n",
            kind.name(),
            kind.why(),
            finding.action
        );
    }
    out
}
