//! Cold start: from exec of the process to its first `GET …/invocation/next` on a local
//! Lambda Runtime API, for the release `bootstrap` and, in the same run, interleaved run
//! by run, for a Python handler doing the equivalent initialisation with boto3
//! (`bench/python/baseline_handler.py`).
//!
//! Both get the production configuration: the Lambda variables, a valid factory
//! configuration (tenant, client, secret ARN, member role), dummy credentials, and
//! `AWS_EC2_METADATA_DISABLED=true`. Nothing is reached over the network before the first
//! poll: `bootstrap` loads the SDK configuration and builds its clients, the Python
//! handler imports boto3 and creates its four clients.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use entra_federated_role_harness::{process::Bootstrap, runtime_api::RuntimeApi};
use serde::Serialize;

use crate::{
    lab::Result,
    stats::{Memory, Summary, memory, mib},
};

/// How the cold start is measured.
#[derive(Debug, Clone)]
pub struct ColdStartOptions {
    /// Measured runs of each program.
    pub runs: usize,
    /// Runs of each first, not measured (page cache, Python's bytecode cache).
    pub warmup: usize,
    /// The Python interpreter of the baseline (with boto3 installed).
    pub python: PathBuf,
    /// The baseline handler.
    pub python_script: PathBuf,
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct ColdStart {
    /// Measured runs of each.
    pub runs: usize,
    /// `bootstrap`: exec → first poll, milliseconds.
    pub rust_ms: Summary,
    /// The same with the system trust store as one bundle file, as on Lambda's
    /// `provided.al2023` (`SSL_CERT_FILE` set, `SSL_CERT_DIR` empty), milliseconds: this
    /// machine's Debian store is a bundle plus a directory of ~150 hashed files, which
    /// `bootstrap` reads once at start.
    pub rust_one_bundle_ms: Summary,
    /// The boto3 baseline: exec → first poll, milliseconds.
    pub python_ms: Summary,
    /// Python's median over Rust's.
    pub python_over_rust: f64,
    /// `bootstrap`'s resident memory at its first poll, MiB.
    pub rust_rss_mib: Summary,
    /// The baseline's resident memory at its first poll, MiB.
    pub python_rss_mib: Summary,
    /// The Python and boto3 versions of the baseline.
    pub python_version: String,
}

/// The production-like environment both programs get (beyond Lambda's own variables).
pub fn environment() -> Vec<(String, String)> {
    [
        ("ENTRA_TENANT_ID", "0b5b3a0e-1d2f-4b3c-9a8e-7f6d5c4b3a21"),
        ("ENTRA_CLIENT_ID", "f1f2f3f4-a1a2-b1b2-c1c2-d1d2d3d4d5d6"),
        (
            "ENTRA_CREDENTIALS_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:100000000001:secret:entra-federated-role/factory-credentials-AbCdEf",
        ),
        ("MEMBER_ROLE_NAME", "EntraFederatedRoleMember"),
        ("AWS_ACCESS_KEY_ID", "ASIAIOSFODNN7EXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLETOKEN"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // Lambda sets both; boto3 reads only this one (the harness sets AWS_REGION).
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .into()
}

/// Runs each program `warmup + runs` times, rotating which goes first: `bootstrap`, the
/// same with a one-file trust store, and the boto3 baseline.
pub async fn run(binary: &Path, options: &ColdStartOptions) -> Result<ColdStart> {
    check_configuration_is_valid(binary).await?;
    let env = environment();
    let empty_dir = std::env::temp_dir().join(format!("efr-bench-no-certs-{}", std::process::id()));
    std::fs::create_dir_all(&empty_dir)?;
    let bundle = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    .into_iter()
    .find(|path| Path::new(path).exists());
    let rust = Program {
        program: binary.to_path_buf(),
        args: Vec::new(),
        env: Vec::new(),
    };
    let one_bundle = Program {
        program: binary.to_path_buf(),
        args: Vec::new(),
        env: bundle
            .map(|bundle| {
                vec![
                    ("SSL_CERT_FILE".to_owned(), bundle.to_owned()),
                    ("SSL_CERT_DIR".to_owned(), empty_dir.display().to_string()),
                ]
            })
            .unwrap_or_default(),
    };
    let python = Program {
        program: options.python.clone(),
        args: vec![options.python_script.clone().into_os_string()],
        env: Vec::new(),
    };
    // Per program: durations (ms) and resident memory at the first poll (MiB).
    let mut samples: [(Vec<f64>, Vec<f64>); 3] = Default::default();
    let programs = [&rust, &one_bundle, &python];
    for round in 0..options.warmup + options.runs {
        // Rotate which goes first, so none always runs right after another.
        for k in 0..programs.len() {
            let index = (round + k) % programs.len();
            let (took, memory) = programs[index].once(&env).await?;
            if round >= options.warmup {
                samples[index].0.push(took.as_secs_f64() * 1000.0);
                samples[index].1.push(mib(memory.rss_kib));
            }
        }
    }
    let _ = std::fs::remove_dir(&empty_dir);
    let [
        (rust_ms, rust_rss),
        (one_bundle_ms, _),
        (python_ms, python_rss),
    ] = samples;
    let rust_ms = Summary::of(&rust_ms);
    let python_ms = Summary::of(&python_ms);
    Ok(ColdStart {
        runs: options.runs,
        python_over_rust: python_ms.median / rust_ms.median,
        rust_ms,
        rust_one_bundle_ms: Summary::of(&one_bundle_ms),
        python_ms,
        rust_rss_mib: Summary::of(&rust_rss),
        python_rss_mib: Summary::of(&python_rss),
        python_version: python_version(&options.python).await,
    })
}

struct Program {
    program: PathBuf,
    args: Vec<OsString>,
    /// Added to the shared environment.
    env: Vec<(String, String)>,
}

impl Program {
    /// One cold start: exec → first poll, and the memory at that poll.
    async fn once(&self, env: &[(String, String)]) -> Result<(Duration, Memory)> {
        let runtime = RuntimeApi::try_start().await?;
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs(Bootstrap::lambda_environment(&runtime.addr()))
            .envs(env.iter().chain(&self.env).map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn()?;
        let polled = runtime.wait_for_polls(1, Duration::from_secs(30)).await;
        let memory = child.id().and_then(memory).unwrap_or_default();
        let _ = child.start_kill();
        let _ = child.wait().await;
        match runtime.first_poll_at() {
            Some(first) if polled => Ok((first.saturating_duration_since(started), memory)),
            _ => Err(format!("{} never polled for an event", self.program.display()).into()),
        }
    }
}

/// The measured configuration must be a valid one: a configuration error is logged at
/// cold start (and answered on every event), which would measure the wrong path.
async fn check_configuration_is_valid(binary: &Path) -> Result<()> {
    let runtime = RuntimeApi::try_start().await?;
    let mut process = Bootstrap::try_spawn(binary, &runtime.addr(), &environment())?;
    let polled = runtime.wait_for_polls(1, Duration::from_secs(30)).await;
    process.kill().await;
    let logs = process.logs();
    if !polled || logs.contains("configuration invalid") {
        return Err(format!("the cold-start configuration is not valid:\n{logs}").into());
    }
    Ok(())
}

async fn python_version(python: &Path) -> String {
    let output = tokio::process::Command::new(python)
        .args([
            "-c",
            "import sys, boto3; print(f'Python {sys.version.split()[0]}, boto3 {boto3.__version__}')",
        ])
        .output()
        .await;
    match output {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        Err(error) => format!("unknown ({error})"),
    }
}
