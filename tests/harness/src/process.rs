//! Runs the real `bootstrap` binary as Lambda would: a clean environment holding only
//! what the Lambda runtime sets (plus what the test adds), the Runtime API emulator's
//! address in `AWS_LAMBDA_RUNTIME_API`, and both output streams captured in memory so
//! a test can read the logs (and check they hold no secret).
//!
//! The process is killed when its [`Bootstrap`] is dropped.

use std::io;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::watched::Watched;

/// The function name the environment announces.
pub const FUNCTION_NAME: &str = "entra-federated-role";

/// The region the environment announces unless the caller sets `AWS_REGION`.
pub const REGION: &str = "us-east-1";

/// A running `bootstrap` process.
#[derive(Debug)]
pub struct Bootstrap {
    child: Child,
    logs: Arc<Watched<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Bootstrap {
    /// The variables Lambda sets that `lambda_runtime` reads, for `runtime_api_addr`.
    pub fn lambda_environment(runtime_api_addr: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api_addr),
            ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2025/01/01/[$LATEST]00000000000000000000000000000000",
            ),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/entra-federated-role",
            ),
            ("AWS_REGION", REGION),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    /// Starts `binary` with a cleared environment holding
    /// [`Bootstrap::lambda_environment`] and then `env` (which wins on a clash).
    ///
    /// # Panics
    ///
    /// When the binary cannot be started (e.g. it was not built).
    pub fn spawn(binary: &Path, runtime_api_addr: &str, env: &[(String, String)]) -> Self {
        Self::try_spawn(binary, runtime_api_addr, env)
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()))
    }

    /// Like [`Bootstrap::spawn`], returning the error instead of panicking.
    pub fn try_spawn(
        binary: &Path,
        runtime_api_addr: &str,
        env: &[(String, String)],
    ) -> io::Result<Self> {
        let mut child = Command::new(binary)
            .env_clear()
            .envs(Self::lambda_environment(runtime_api_addr))
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let logs = Arc::new(Watched::new(String::new()));
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(capture(stdout, Arc::clone(&logs))));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(capture(stderr, Arc::clone(&logs))));
        }
        Ok(Self {
            child,
            logs,
            readers,
        })
    }

    /// Everything the process wrote so far to stdout and stderr, interleaved line by line
    /// in the order read.
    pub fn logs(&self) -> String {
        self.logs.read(String::clone)
    }

    /// Waits up to `wait` until the logs contain `needle`.
    pub async fn wait_for_log(&self, needle: &str, wait: Duration) -> bool {
        self.logs
            .wait_until(Some(wait), |logs| logs.contains(needle).then_some(()))
            .await
            .is_some()
    }

    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the process has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `wait` for the process to exit on its own; `None` if it is still running.
    pub async fn wait_for_exit(&mut self, wait: Duration) -> Option<ExitStatus> {
        let status = tokio::time::timeout(wait, self.child.wait())
            .await
            .ok()?
            .ok()?;
        self.drain_output().await;
        Some(status)
    }

    /// Kills the process (if still running) and waits for it and for the last of its
    /// output. Returns its exit status, when it could be read.
    pub async fn kill(&mut self) -> Option<ExitStatus> {
        // Fails only when the process is already gone; `wait` still reports its status.
        let _ = self.child.start_kill();
        let status = self.child.wait().await.ok();
        self.drain_output().await;
        status
    }

    async fn drain_output(&mut self) {
        for reader in self.readers.drain(..) {
            // Output pipes close with the process, unless it left a child holding them.
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
    }
}

/// Appends `stream` to `logs` a line at a time, so lines of the two streams never mix.
pub(crate) async fn capture(stream: impl AsyncRead + Unpin, logs: Arc<Watched<String>>) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                logs.update(|logs| {
                    logs.push_str(&text);
                    if !text.ends_with('\n') {
                        logs.push('\n');
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    /// Writes an executable shell script standing in for `bootstrap`.
    fn script(name: &str, body: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "efr-harness-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Spawns, retrying while another test's fork still holds the script open for
    /// writing ("text file busy").
    fn spawn(binary: &Path, env: &[(String, String)]) -> Bootstrap {
        for _ in 0..50 {
            match Bootstrap::try_spawn(binary, "127.0.0.1:9", env) {
                Err(error) if error.raw_os_error() == Some(26) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other.unwrap(),
            }
        }
        panic!("{} stayed busy", binary.display());
    }

    #[tokio::test]
    async fn runs_with_a_clean_lambda_environment_and_captures_both_streams() {
        let binary = script(
            "env-dump",
            "echo out-line; echo err-line >&2; /usr/bin/env | /usr/bin/sort",
        );
        let env = [
            ("EXTRA".to_owned(), "yes".to_owned()),
            ("AWS_REGION".to_owned(), "eu-west-1".to_owned()),
        ];
        let mut process = spawn(&binary, &env);

        assert!(
            process
                .wait_for_exit(Duration::from_secs(10))
                .await
                .unwrap()
                .success()
        );
        let logs = process.logs();
        assert!(logs.contains("out-line\n"), "{logs}");
        assert!(logs.contains("err-line\n"), "{logs}");
        assert!(
            logs.contains("AWS_LAMBDA_RUNTIME_API=127.0.0.1:9\n"),
            "{logs}"
        );
        assert!(
            logs.contains("AWS_LAMBDA_FUNCTION_NAME=entra-federated-role\n"),
            "{logs}"
        );
        assert!(
            logs.contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128\n"),
            "{logs}"
        );
        assert!(
            logs.contains("AWS_LAMBDA_FUNCTION_VERSION=$LATEST\n"),
            "{logs}"
        );
        assert!(logs.contains("AWS_LAMBDA_LOG_STREAM_NAME="), "{logs}");
        assert!(logs.contains("AWS_LAMBDA_LOG_GROUP_NAME="), "{logs}");
        assert!(logs.contains("AWS_REGION=eu-west-1\n"), "{logs}");
        assert!(!logs.contains("AWS_REGION=us-east-1"), "{logs}");
        assert!(logs.contains("EXTRA=yes\n"), "{logs}");
        assert!(
            !logs.contains("HOME="),
            "the environment is cleared: {logs}"
        );
        assert!(!process.is_running());
    }

    #[tokio::test]
    async fn kills_a_running_process() {
        let binary = script("sleeper", "echo started; exec /bin/sleep 60");
        let mut process = spawn(&binary, &[]);
        assert!(
            process
                .wait_for_log("started", Duration::from_secs(10))
                .await
        );
        assert!(process.is_running());
        assert!(
            process
                .wait_for_exit(Duration::from_millis(50))
                .await
                .is_none()
        );

        let status = process.kill().await.unwrap();
        assert!(!status.success());
        assert!(!process.is_running());
        assert_eq!(process.id(), None);
    }

    #[tokio::test]
    async fn a_missing_binary_is_an_error() {
        let missing = Path::new("/nonexistent/bootstrap");
        let error = Bootstrap::try_spawn(missing, "127.0.0.1:9", &[]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
