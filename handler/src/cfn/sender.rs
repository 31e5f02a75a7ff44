//! Delivering the response: one logical PUT, with bounded retries, inside the deadline.
//!
//! The [`Transport`] does single attempts; [`deliver`] decides about retries, so the
//! retry policy is tested with a fake transport and a paused clock, and the real
//! [`HttpTransport`] against a local endpoint.

use std::{future::Future, time::Duration};

use tokio::time::Instant;
use url::Url;

use crate::retry::transient_status;
pub use crate::retry::{Backoff, RetryPolicy};
use crate::tls::Roots;

/// One PUT attempt.
pub trait Transport: Send + Sync {
    /// PUTs `body` to `url` with an empty `Content-Type`, giving up after `timeout`;
    /// returns the HTTP status.
    fn put(
        &self,
        url: &Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> impl Future<Output = Result<u16, TransportError>> + Send;
}

/// A failed attempt (connection, timeout, body). Never carries the URL.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl TransportError {
    /// Wraps any error; callers must strip URLs first (see [`HttpTransport`]).
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// The real transport, over reqwest with rustls.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// A client trusting `roots` that neither follows redirects ([`Roots::reqwest`]: a
    /// presigned URL never redirects) nor uses a proxy from the environment.
    pub fn new(roots: &Roots) -> Result<Self, reqwest::Error> {
        let client = roots.reqwest().no_proxy().build()?;
        Ok(Self { client })
    }
}

impl Transport for HttpTransport {
    async fn put(
        &self,
        url: &Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<u16, TransportError> {
        let response = self
            .client
            .put(url.clone())
            // The presigned URL is signed for an empty content type.
            .header(reqwest::header::CONTENT_TYPE, "")
            .body(body)
            .timeout(timeout)
            .send()
            .await
            // reqwest's errors print the whole URL, presigned query string included.
            .map_err(|error| TransportError::new(error.without_url()))?;
        Ok(response.status().as_u16())
    }
}

/// A delivered response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Attempts it took.
    pub attempts: u32,
}

/// The response could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The endpoint refused it with a status retrying cannot fix (e.g. 403 on an
    /// expired presigned URL).
    #[error("the response endpoint answered HTTP {status}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// Every attempt failed, or the deadline came first.
    #[error("no attempt succeeded after {attempts} tries (last: {last})")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// What the last attempt saw.
        last: String,
    },
}

/// PUTs `body` to `url`, retrying network errors, timeouts, 5xx, 408 and 429 with
/// exponential backoff and full jitter, never past `deadline`.
pub async fn deliver(
    transport: &impl Transport,
    url: &Url,
    body: &[u8],
    deadline: Instant,
    policy: RetryPolicy,
) -> Result<Delivered, DeliveryError> {
    let mut last = String::from("the deadline had passed before the first attempt");
    let mut attempts = 0;
    while attempts < policy.max_attempts {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        attempts += 1;
        let timeout = policy.attempt_timeout.min(remaining);
        match transport.put(url, body.to_vec(), timeout).await {
            Ok(status) if (200..300).contains(&status) => return Ok(Delivered { attempts }),
            Ok(status) if transient_status(status) => {
                tracing::warn!(attempt = attempts, status, "response PUT failed, retrying");
                last = format!("HTTP {status}");
            }
            Ok(status) => return Err(DeliveryError::Rejected { status, attempts }),
            Err(error) => {
                tracing::warn!(attempt = attempts, error = %error, "response PUT failed, retrying");
                last = error.to_string();
            }
        }
        if attempts < policy.max_attempts {
            let pause = policy
                .backoff
                .pause(attempts)
                .min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
        }
    }
    Err(DeliveryError::GaveUp { attempts, last })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers from a script, records what it was asked.
    struct Scripted {
        answers: Mutex<Vec<Result<u16, &'static str>>>,
        seen: Mutex<Vec<(Duration, Instant)>>,
        latency: Duration,
    }

    impl Scripted {
        fn new(answers: Vec<Result<u16, &'static str>>) -> Self {
            Self {
                answers: Mutex::new(answers.into_iter().rev().collect()),
                seen: Mutex::default(),
                latency: Duration::ZERO,
            }
        }
    }

    impl Transport for Scripted {
        async fn put(&self, _: &Url, _: Vec<u8>, timeout: Duration) -> Result<u16, TransportError> {
            self.seen.lock().unwrap().push((timeout, Instant::now()));
            tokio::time::sleep(self.latency.min(timeout)).await;
            let next = self.answers.lock().unwrap().pop().unwrap_or(Ok(200));
            next.map_err(TransportError::new)
        }
    }

    fn url() -> Url {
        Url::parse("http://127.0.0.1:1/r").unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn retries_server_errors_and_network_failures_then_succeeds() {
        let transport = Scripted::new(vec![Ok(500), Err("connection reset"), Ok(503), Ok(200)]);
        let deadline = Instant::now() + Duration::from_secs(60);
        let delivered = deliver(&transport, &url(), b"{}", deadline, RetryPolicy::RESPONSE).await;
        assert_eq!(delivered.unwrap(), Delivered { attempts: 4 });
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_attempt_budget() {
        let transport = Scripted::new(vec![Ok(500); 10]);
        let deadline = Instant::now() + Duration::from_secs(600);
        let policy = RetryPolicy::RESPONSE;
        let error = deliver(&transport, &url(), b"{}", deadline, policy)
            .await
            .unwrap_err();
        assert!(
            matches!(error, DeliveryError::GaveUp { attempts: 5, .. }),
            "{error}"
        );
        assert_eq!(transport.seen.lock().unwrap().len(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_error_is_not_retried() {
        let transport = Scripted::new(vec![Ok(403)]);
        let deadline = Instant::now() + Duration::from_secs(60);
        let error = deliver(&transport, &url(), b"{}", deadline, RetryPolicy::RESPONSE)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            DeliveryError::Rejected {
                status: 403,
                attempts: 1
            }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_and_backoff_stay_inside_the_deadline() {
        let mut transport = Scripted::new(vec![Err("timed out"); 10]);
        transport.latency = Duration::from_secs(100);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(25);
        let error = deliver(&transport, &url(), b"{}", deadline, RetryPolicy::RESPONSE)
            .await
            .unwrap_err();
        assert!(matches!(error, DeliveryError::GaveUp { .. }));
        assert!(
            Instant::now() <= deadline,
            "overran by {:?}",
            Instant::now() - deadline
        );
        let seen = transport.seen.lock().unwrap();
        // Each attempt's timeout is the policy's, cut to what is left of the deadline.
        assert_eq!(seen[0].0, Duration::from_secs(10));
        for (timeout, at) in seen.iter() {
            assert!(*at + *timeout <= deadline);
        }
    }
}
