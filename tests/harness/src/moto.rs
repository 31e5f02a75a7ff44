//! moto's server, standing in for IAM, STS, Secrets Manager and CloudFormation.
//!
//! [`Moto::start`] runs `tests/moto/server.py` (moto plus the project's IAM extensions)
//! with the project's Python, waits for its `MOTO_READY http://HOST:PORT` line and hands
//! out [`Moto::endpoint`], the value for `AWS_ENDPOINT_URL`. The server's stdin is a pipe
//! this side holds open: the server exits when it closes, so it cannot outlive the test
//! even when the test process is killed; dropping a [`Moto`] also kills it outright.
//!
//! The Python is `$EFR_PYTHON` when set, else `.venv/bin/python` under the workspace
//! root (the test command creates that venv from `tests/moto/requirements.txt`).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::Instant;

use crate::http;
use crate::process::capture;
use crate::watched::Watched;

/// How long the server may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment variable naming the Python interpreter to run moto with.
pub const PYTHON_VAR: &str = "EFR_PYTHON";

const READY_PREFIX: &str = "MOTO_READY ";

/// A running moto server; it stops when dropped.
#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    // Declared before `child`: dropping it closes the server's stdin first.
    _stdin: ChildStdin,
    _child: Child,
    logs: Arc<Watched<String>>,
}

impl Moto {
    /// Starts moto's server on 127.0.0.1 with a port the OS picks.
    ///
    /// # Panics
    ///
    /// When the server cannot be started, with the reason and what to do about it
    /// (usually: create the venv by running the test command).
    pub async fn start() -> Self {
        Self::try_start()
            .await
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// Like [`Moto::start`], returning the error instead of panicking.
    pub async fn try_start() -> io::Result<Self> {
        Self::try_start_with_env(&[]).await
    }

    /// Like [`Moto::try_start`], adding `env` to the server's environment (e.g.
    /// `MOTO_IAM_LOAD_MANAGED_POLICIES=true`).
    pub async fn try_start_with_env(env: &[(String, String)]) -> io::Result<Self> {
        let root = workspace_root();
        let python = python_path(std::env::var_os(PYTHON_VAR), &root)?;
        let script = root.join("tests/moto/server.py");
        if !script.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("moto server script missing at {}", script.display()),
            ));
        }
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .current_dir(&root)
            .env("PYTHONUNBUFFERED", "1")
            // Would pin every request to one account and defeat account isolation.
            .env_remove("MOTO_ACCOUNT_ID")
            .envs(env.iter().map(|(name, value)| (name, value)));
        start_server(command, &python, READY_TIMEOUT).await
    }

    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What the server wrote so far (its request log and errors).
    pub fn logs(&self) -> String {
        self.logs.read(String::clone)
    }

    /// Forgets every resource in every account and region (`POST /moto-api/reset`).
    pub async fn reset(&self) -> io::Result<()> {
        let answer = self
            .post_json("/moto-api/reset", &serde_json::json!({}))
            .await?;
        if answer.status == 200 {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "moto reset answered {}: {}",
                answer.status,
                answer.text()
            )))
        }
    }

    /// Posts `body` as JSON to `path` on the server, e.g. `/moto-api/config` with
    /// `{"lambda": {"use_docker": false}}`.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> io::Result<http::Response> {
        post_json(&self.endpoint, path, body).await
    }
}

/// Gets `path` (with its query) from the moto server at `endpoint`, e.g. the project's
/// `/_efr/outbound-identity/jwks.json`.
pub async fn get(endpoint: &str, path: &str) -> io::Result<http::Response> {
    let (addr, _) = http::split_http_url(endpoint)
        .ok_or_else(|| io::Error::other(format!("moto endpoint {endpoint} is not http")))?;
    http::request(addr, "GET", path, &[], &[]).await
}

/// Posts `body` as JSON to `path` on the moto server at `endpoint` (e.g. [`shared`]'s).
pub async fn post_json(
    endpoint: &str,
    path: &str,
    body: &serde_json::Value,
) -> io::Result<http::Response> {
    let (addr, _) = http::split_http_url(endpoint)
        .ok_or_else(|| io::Error::other(format!("moto endpoint {endpoint} is not http")))?;
    http::request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await
}

/// One moto server for the whole test process, started on first use with the AWS
/// managed policies loaded (`MOTO_IAM_LOAD_MANAGED_POLICIES=true`); returns its endpoint.
///
/// Tests share it and isolate themselves by account (moto keeps every account apart, and
/// `sts:AssumeRole` into a fresh 12-digit account gives credentials for it). The server
/// lives on a thread of its own, so it outlives each test's runtime, and exits with the
/// process (its stdin pipe closes).
///
/// # Panics
///
/// When the server cannot be started, with the reason.
pub fn shared() -> &'static str {
    static SHARED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("shared-moto".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the shared moto");
                runtime.block_on(async move {
                    let env = [(
                        "MOTO_IAM_LOAD_MANAGED_POLICIES".to_owned(),
                        "true".to_owned(),
                    )];
                    match Moto::try_start_with_env(&env).await {
                        Ok(moto) => {
                            let _ = sender.send(Ok(moto.endpoint().to_owned()));
                            // Keep the server (and its stdin) alive until the process ends.
                            std::future::pending::<()>().await;
                            drop(moto);
                        }
                        Err(error) => {
                            let _ = sender.send(Err(error.to_string()));
                        }
                    }
                });
            })
            .expect("a thread for the shared moto");
        match receiver.recv() {
            Ok(Ok(endpoint)) => endpoint,
            Ok(Err(error)) => panic!("{error}"),
            Err(_) => panic!("the shared moto thread ended without starting the server"),
        }
    })
}

/// The workspace root: the folder holding the root `Cargo.toml`, `.venv` and `tests/`.
pub fn workspace_root() -> PathBuf {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR"));
    harness.ancestors().nth(2).unwrap_or(harness).to_path_buf()
}

/// The Python with the test command's pinned tools (moto, jsonschema, …): `$EFR_PYTHON`
/// when set, else the workspace's venv.
pub fn python() -> io::Result<PathBuf> {
    python_path(std::env::var_os(PYTHON_VAR), &workspace_root())
}

/// `$EFR_PYTHON` (`efr_python`) when set and not empty, else the venv's Python under
/// `root`, which must exist.
fn python_path(efr_python: Option<OsString>, root: &Path) -> io::Result<PathBuf> {
    if let Some(python) = efr_python.filter(|python| !python.is_empty()) {
        return Ok(PathBuf::from(python));
    }
    let venv_python = root.join(".venv/bin/python");
    if venv_python.exists() {
        Ok(venv_python)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no python for the moto server at {}: run `scripts/python-env` (the test \
                 command `scripts/test` does it too), which creates the venv with the \
                 pinned tools, or set {PYTHON_VAR} to a python with moto[server] installed",
                venv_python.display()
            ),
        ))
    }
}

/// The endpoint in a `MOTO_READY http://HOST:PORT` line.
fn parse_ready_line(line: &str) -> Option<&str> {
    let endpoint = line
        .trim_end_matches(['\r', '\n'])
        .strip_prefix(READY_PREFIX)?
        .trim();
    let authority = endpoint.strip_prefix("http://")?;
    let (host, port) = authority.rsplit_once(':')?;
    let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    (!host.is_empty() && port_ok).then_some(endpoint)
}

/// Spawns `command` (stdin, stdout and stderr piped) and waits up to `ready_timeout` for
/// its ready line on stdout; every other line goes to the logs.
async fn start_server(
    mut command: Command,
    python: &Path,
    ready_timeout: Duration,
) -> io::Result<Moto> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| {
            io::Error::new(
                error.kind(),
                format!(
                    "cannot run {} for the moto server ({error}): run the project's test \
                     command, which creates the venv, or set {PYTHON_VAR} to a python with \
                     moto[server] installed",
                    python.display()
                ),
            )
        })?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(io::Error::other("moto server pipes missing"));
    };
    let logs = Arc::new(Watched::new(String::new()));
    let stderr_reader = tokio::spawn(capture(stderr, Arc::clone(&logs)));

    let mut stdout = BufReader::new(stdout);
    let deadline = Instant::now() + ready_timeout;
    let mut line = String::new();
    let failure = loop {
        line.clear();
        match tokio::time::timeout_at(deadline, stdout.read_line(&mut line)).await {
            Err(_elapsed) => {
                break format!(
                    "moto server printed no {READY_PREFIX:?}line within {ready_timeout:?}"
                );
            }
            Ok(Err(error)) => break format!("cannot read the moto server's stdout: {error}"),
            Ok(Ok(0)) => break "moto server exited before it was ready".to_owned(),
            Ok(Ok(_)) => match parse_ready_line(&line) {
                Some(endpoint) => {
                    let endpoint = endpoint.to_owned();
                    tokio::spawn(capture(stdout, Arc::clone(&logs)));
                    return Ok(Moto {
                        endpoint,
                        _stdin: stdin,
                        _child: child,
                        logs,
                    });
                }
                None => logs.update(|logs| logs.push_str(&line)),
            },
        }
    };
    drop(stdin);
    let _ = child.start_kill();
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), stderr_reader).await;
    let status = match status {
        Ok(Ok(status)) => format!(" ({status})"),
        _ => String::new(),
    };
    let output = logs.read(|logs| tail(logs, 4000).to_owned());
    Err(io::Error::other(format!(
        "{failure}{status}; its output:\n{output}"
    )))
}

/// The last `max` bytes of `text` (or a little less, to stay on a char boundary).
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ready_line() {
        assert_eq!(
            parse_ready_line("MOTO_READY http://127.0.0.1:40123\n"),
            Some("http://127.0.0.1:40123")
        );
        assert_eq!(
            parse_ready_line("MOTO_READY http://[::1]:5000\r\n"),
            Some("http://[::1]:5000")
        );
    }

    #[test]
    fn rejects_other_lines() {
        for line in [
            "",
            "\n",
            " * Running on http://127.0.0.1:5000\n",
            "MOTO_READY\n",
            "MOTO_READY https://127.0.0.1:5000\n",
            "MOTO_READY http://127.0.0.1\n",
            "MOTO_READY http://127.0.0.1:\n",
            "MOTO_READY http://127.0.0.1:50x0\n",
            "moto_ready http://127.0.0.1:5000\n",
        ] {
            assert_eq!(parse_ready_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn prefers_efr_python() {
        let root = Path::new("/nonexistent-root");
        let chosen = python_path(Some("/opt/py/bin/python3".into()), root).unwrap();
        assert_eq!(chosen, Path::new("/opt/py/bin/python3"));
    }

    #[test]
    fn a_missing_venv_says_what_to_do() {
        let root = Path::new("/nonexistent-root");
        for efr_python in [None, Some(OsString::new())] {
            let error = python_path(efr_python, root).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::NotFound);
            let message = error.to_string();
            assert!(
                message.contains("/nonexistent-root/.venv/bin/python"),
                "{message}"
            );
            assert!(message.contains("scripts/python-env"), "{message}");
            assert!(message.contains(PYTHON_VAR), "{message}");
        }
    }

    #[test]
    fn finds_the_workspace_root() {
        assert!(workspace_root().join("tests/harness/Cargo.toml").exists());
    }

    fn shell(script: &str) -> Command {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", script]);
        command
    }

    #[tokio::test]
    async fn reads_the_endpoint_after_other_output() {
        let server = shell(
            "echo warming up; echo noise >&2; echo 'MOTO_READY http://127.0.0.1:1'; \
             echo later; exec cat >/dev/null",
        );
        let moto = start_server(server, Path::new("/bin/sh"), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(moto.endpoint(), "http://127.0.0.1:1");
        let logs = moto.logs.clone();
        assert!(
            logs.wait_until(Some(Duration::from_secs(5)), |logs| {
                (logs.contains("warming up") && logs.contains("noise") && logs.contains("later"))
                    .then_some(())
            })
            .await
            .is_some(),
            "{}",
            moto.logs()
        );
    }

    #[tokio::test]
    async fn reports_a_server_that_exits_early_with_its_output() {
        let server = shell("echo 'ModuleNotFoundError: moto' >&2; exit 3");
        let error = start_server(server, Path::new("/bin/sh"), Duration::from_secs(10))
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("exited before it was ready"), "{message}");
        assert!(message.contains("ModuleNotFoundError: moto"), "{message}");
    }

    #[tokio::test]
    async fn gives_up_on_a_silent_server() {
        let server = shell("exec sleep 30");
        let error = start_server(server, Path::new("/bin/sh"), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("within 200ms"), "{error}");
    }

    #[test]
    fn tails_on_char_boundaries() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 3), "ab");
        assert_eq!(tail("aé", 1), "");
    }
}
