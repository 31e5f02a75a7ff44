//! One Graph request with retries: 429 honours `Retry-After` (seconds, spread by up to a
//! fifth more) and falls back to exponential backoff with full jitter when it is absent
//! ("Microsoft Graph throttling guidance", learn.microsoft.com/graph/throttling); 5xx and
//! lost connections are retried the same way; a 401 re-signs in once. Throttling is
//! retried until the deadline, failures a number of times. Every wait is checked against
//! the caller's [`Deadline`] first: when it would cross it, the call gives up with a typed
//! error while there is still time to answer CloudFormation.

use std::time::Duration;

use reqwest::{Method, header::HeaderMap};
use serde_json::Value;

use super::error::{ApiError, GraphError};
use super::{GraphClient, RetryPolicy};
use crate::deadline::Deadline;
use crate::retry::{Backoff, whole_millis};

/// One request: what it does (for errors), where, and what it needs.
pub(crate) struct Call<'a> {
    pub action: &'a str,
    pub method: Method,
    /// Below `/v1.0`, starting with `/`, already escaped.
    pub path: String,
    pub body: Option<Value>,
    pub prefer: Option<&'static str>,
    /// The permission a 403 is taken to be about when Graph does not say.
    pub permission: &'static str,
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

/// `Retry-After` in seconds (Graph sends delta-seconds).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl RetryPolicy {
    /// Full jitter: uniform in `[0, min(cap, base·2^(retry-1))]` (`retry` is 1-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        Backoff {
            base: self.base,
            cap: self.cap,
        }
        .pause(retry)
    }

    /// The same for replication and propagation lag, which takes seconds rather than
    /// milliseconds to clear.
    pub fn propagation_backoff(&self, retry: u32) -> Duration {
        Backoff {
            base: self.propagation_base,
            cap: self.propagation_cap,
        }
        .pause(retry)
    }

    /// The wait before retry number `retry` of a throttled or failed request: what
    /// `Retry-After` asks plus up to a fifth more, so that functions throttled together
    /// (an organisation-wide rollout) do not all come back in the same instant; without
    /// it (or with `Retry-After: 0`, which would make retrying until the deadline a busy
    /// loop), [`RetryPolicy::backoff`].
    pub fn wait(&self, retry_after: Option<Duration>, retry: u32) -> Duration {
        match retry_after {
            Some(hint) if !hint.is_zero() => {
                whole_millis(hint + hint.mul_f64(0.2 * fastrand::f64()))
            }
            _ => self.backoff(retry),
        }
    }
}

impl GraphClient {
    /// Sends `call`, retrying throttling and transient failures within `deadline`.
    pub(crate) async fn send(
        &self,
        call: Call<'_>,
        deadline: Deadline,
    ) -> Result<Reply, GraphError> {
        let url = format!("{}{}", self.graph_base, call.path);
        let mut attempts = 0u32;
        let mut retries = 0u32;
        let mut failures = 0u32;
        let mut signed_in_again = false;
        loop {
            attempts += 1;
            let token = self.auth.token(deadline).await?;
            let timeout = deadline.remaining().min(self.policy.request_timeout);
            if timeout.is_zero() {
                return Err(GraphError::DeadlineExceeded {
                    action: call.action.to_owned(),
                });
            }
            let mut request = self
                .http
                .request(call.method.clone(), &url)
                .bearer_auth(token.expose())
                .header("client-request-id", uuid::Uuid::new_v4().to_string())
                .timeout(timeout);
            if let Some(prefer) = call.prefer {
                request = request.header("Prefer", prefer);
            }
            if let Some(body) = &call.body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            let (status, wait_hint, last) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let hint = retry_after(response.headers());
                    let bytes = response
                        .bytes()
                        .await
                        .map_err(|source| GraphError::Network {
                            action: call.action.to_owned(),
                            source,
                        })?;
                    tracing::debug!(method = %call.method, path = %call.path, status, attempt = attempts, "graph call");
                    if (200..300).contains(&status) {
                        let body = if bytes.is_empty() {
                            None
                        } else {
                            Some(serde_json::from_slice(&bytes).map_err(|e| {
                                GraphError::InvalidResponse {
                                    action: call.action.to_owned(),
                                    detail: format!("the body is not JSON ({e})"),
                                }
                            })?)
                        };
                        return Ok(Reply { status, body });
                    }
                    let detail = ApiError::parse(status, &bytes);
                    if status == 401 && !signed_in_again {
                        // The token was revoked or expired early: sign in again, once.
                        signed_in_again = true;
                        self.auth.invalidate(&token).await;
                        continue;
                    }
                    if status != 429 && !(500..600).contains(&status) {
                        return Err(GraphError::from_response(
                            call.action,
                            call.permission,
                            detail,
                        ));
                    }
                    (Some(status), hint, detail.to_string())
                }
                Err(error) if error.is_connect() || error.is_timeout() => {
                    tracing::debug!(method = %call.method, path = %call.path, attempt = attempts, "graph call failed to connect");
                    (None, None, error.without_url().to_string())
                }
                Err(source) => {
                    return Err(GraphError::Network {
                        action: call.action.to_owned(),
                        source: source.without_url(),
                    });
                }
            };
            retries += 1;
            let wait = self.policy.wait(wait_hint, retries);
            let throttled = status == Some(429);
            // Throttling is ridden out until the deadline: Graph says when to come back,
            // and with many functions sharing the tenant's write budget a request can be
            // turned away many times in a row. Failures get a number of attempts.
            if !throttled {
                failures += 1;
            }
            let out_of_attempts = failures >= self.policy.max_attempts;
            if !deadline.allows(wait) || out_of_attempts {
                return Err(if throttled {
                    GraphError::Throttled {
                        action: call.action.to_owned(),
                        attempts,
                        wait,
                    }
                } else {
                    GraphError::Transient {
                        action: call.action.to_owned(),
                        last,
                        attempts,
                        wait: (!out_of_attempts).then_some(wait),
                    }
                });
            }
            tracing::warn!(
                method = %call.method,
                path = %call.path,
                status,
                attempt = attempts,
                wait_ms = wait.as_millis() as u64,
                retry_after = wait_hint.is_some(),
                "graph call throttled or failed, retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_grows_with_full_jitter_and_stays_capped() {
        let policy = RetryPolicy::default();
        for retry in 1..40 {
            let ceiling = policy
                .base
                .saturating_mul(1 << (retry - 1).min(16))
                .min(policy.cap);
            for _ in 0..20 {
                assert!(policy.backoff(retry) <= ceiling);
            }
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| policy.backoff(5)).collect();
        assert!(spread.len() > 1, "jittered");
    }

    #[test]
    fn retry_after_is_honoured_and_spread_over_a_fifth_more() {
        let policy = RetryPolicy::default();
        let hint = Duration::from_secs(5);
        let waits: Vec<_> = (0..50).map(|_| policy.wait(Some(hint), 3)).collect();
        assert!(waits.iter().all(|w| *w >= hint && *w <= hint.mul_f64(1.2)));
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 1, "spread");
        assert!(policy.wait(None, 1) <= policy.base);
        let zero: Vec<_> = (0..50)
            .map(|_| policy.wait(Some(Duration::ZERO), 3))
            .collect();
        assert!(
            zero.iter().all(|w| *w <= policy.base * 4),
            "backoff, not a retry-after of 0"
        );
        assert!(zero.iter().any(|w| !w.is_zero()), "{zero:?}");
    }
}
