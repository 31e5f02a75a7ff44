//! One Graph request with retries: 429 honours `Retry-After` (seconds, spread by up to a
//! fifth more) and falls back to exponential backoff with full jitter when it is absent
//! ("Microsoft Graph throttling guidance", learn.microsoft.com/graph/throttling); 5xx and
//! lost connections are retried the same way; a 404 on an object the event knows exists
//! is replication lag, waited out like propagation; a 401 re-signs in once. Throttling is
//! retried until the deadline, failures a number of times. Every wait is checked against
//! the caller's [`Deadline`] first: when it would cross it, the call gives up with a typed
//! error while there is still time to answer CloudFormation.

use std::time::Duration;

use reqwest::{Method, header::HeaderMap};
use serde_json::Value;

use super::GraphClient;
use super::error::{ApiError, GraphError};
use crate::{deadline::Deadline, retry::transient_status};

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
    /// The object the call addresses by id is known to exist (this event made or read
    /// it): a 404 is replication lag, retried like it.
    pub replicating: bool,
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
        let mut maybe_applied = false;
        loop {
            attempts += 1;
            let token = self.auth.token(deadline).await?;
            let timeout = deadline.remaining().min(self.policy.attempt_timeout);
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
                    // A 404 after an attempt that may have landed (its answer lost) is
                    // that attempt's doing — a DELETE that did delete — not lag.
                    let lag = status == 404 && call.replicating && !maybe_applied;
                    if !transient_status(status) && !lag {
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
            maybe_applied |= status != Some(429) && status != Some(404);
            let wait = if status == Some(404) {
                self.policy.propagation_pause(retries)
            } else {
                self.policy.wait(wait_hint, retries)
            };
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
    use crate::retry::RetryPolicy;

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
        let policy = RetryPolicy::GRAPH;
        for retry in 1..40 {
            let ceiling = policy
                .backoff
                .base
                .saturating_mul(1 << (retry - 1).min(16))
                .min(policy.backoff.cap);
            for _ in 0..20 {
                assert!(policy.pause(retry) <= ceiling);
            }
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| policy.pause(5)).collect();
        assert!(spread.len() > 1, "jittered");
    }

    #[test]
    fn retry_after_is_honoured_and_spread_over_a_fifth_more() {
        let policy = RetryPolicy::GRAPH;
        let hint = Duration::from_secs(5);
        let waits: Vec<_> = (0..50).map(|_| policy.wait(Some(hint), 3)).collect();
        assert!(waits.iter().all(|w| *w >= hint && *w <= hint.mul_f64(1.2)));
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 1, "spread");
        assert!(policy.wait(None, 1) <= policy.backoff.base);
        let zero: Vec<_> = (0..50)
            .map(|_| policy.wait(Some(Duration::ZERO), 3))
            .collect();
        assert!(
            zero.iter().all(|w| *w <= policy.backoff.base * 4),
            "backoff, not a retry-after of 0"
        );
        assert!(zero.iter().any(|w| !w.is_zero()), "{zero:?}");
    }
}
