//! Retrying within a deadline: exponential backoff with full jitter, and no wait that
//! would end past the deadline (the caller then gets the last error, while there is still
//! time to answer CloudFormation).

use std::{future::Future, time::Duration};

use crate::deadline::Deadline;

/// Backoff bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait's upper bound.
    pub base: Duration,
    /// The largest wait.
    pub cap: Duration,
}

impl Backoff {
    /// For eventual consistency and contention: 200 ms doubling up to 5 s.
    pub const STANDARD: Backoff = Backoff {
        base: Duration::from_millis(200),
        cap: Duration::from_secs(5),
    };

    /// The wait before retry number `retry` (1-based): uniform in `[0, min(cap, base·2^(retry-1))]`,
    /// in whole milliseconds (it may be shown in a `Reason`).
    pub fn pause(self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1 << (retry.saturating_sub(1)).min(16))
            .min(self.cap);
        whole_millis(ceiling.mul_f64(fastrand::f64()))
    }
}

/// How one remote call is retried — the one policy every caller uses: Microsoft Graph,
/// the Entra sign-in, and the response to CloudFormation (AWS calls take
/// [`Backoff::STANDARD`] between attempts the SDK bounds). Every wait is also bounded by
/// the caller's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The waits after a transient failure, or throttling that says not when to return.
    pub backoff: Backoff,
    /// The waits while something just written propagates (replication lag), which takes
    /// seconds rather than milliseconds to clear.
    pub propagation: Backoff,
    /// Transient failures (5xx, lost connections) one call may meet; throttling is
    /// retried for as long as the deadline allows.
    pub max_attempts: u32,
    /// Longest one attempt may take (also bounded by the deadline).
    pub attempt_timeout: Duration,
}

impl RetryPolicy {
    /// Microsoft Graph and the Entra token endpoint.
    pub const GRAPH: RetryPolicy = RetryPolicy {
        backoff: Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
        },
        propagation: Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(10),
        },
        max_attempts: 12,
        attempt_timeout: Duration::from_secs(30),
    };

    /// The response PUT to CloudFormation's bucket.
    pub const RESPONSE: RetryPolicy = RetryPolicy {
        backoff: Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(3),
        },
        propagation: Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(3),
        },
        max_attempts: 5,
        attempt_timeout: Duration::from_secs(10),
    };

    /// The wait before retry number `retry` (1-based) after a transient failure.
    pub fn pause(&self, retry: u32) -> Duration {
        self.backoff.pause(retry)
    }

    /// The wait before retry number `retry` while something propagates.
    pub fn propagation_pause(&self, retry: u32) -> Duration {
        self.propagation.pause(retry)
    }

    /// The wait before retry number `retry` of a throttled or failed request: what
    /// `Retry-After` asks plus up to a fifth more, so that functions throttled together
    /// (an organisation-wide rollout) do not all come back in the same instant; without
    /// it (or with `Retry-After: 0`, which would make retrying until the deadline a busy
    /// loop), [`RetryPolicy::pause`].
    pub fn wait(&self, retry_after: Option<Duration>, retry: u32) -> Duration {
        match retry_after {
            Some(hint) if !hint.is_zero() => {
                whole_millis(hint + hint.mul_f64(0.2 * fastrand::f64()))
            }
            _ => self.pause(retry),
        }
    }
}

/// Whether an HTTP answer with `status` says that the same request may succeed when
/// repeated shortly: throttling (429), a request timeout (408) or a failure of the
/// service (5xx). The one place that says so, for every caller: Microsoft Graph and the
/// Entra sign-in, AWS (under the codes each service documents), and the response PUT.
pub fn transient_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// `wait` without its sub-millisecond part.
pub fn whole_millis(wait: Duration) -> Duration {
    Duration::from_millis(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
}

/// Runs `op` until it succeeds, fails with an error `retryable` rejects, or the next wait
/// would cross `deadline`.
pub async fn retry<T, E, F, Fut>(
    deadline: Deadline,
    backoff: Backoff,
    retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut retries = 0;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(error) if retryable(&error) => {
                retries += 1;
                let pause = backoff.pause(retries);
                if !deadline.allows(pause) {
                    return Err(error);
                }
                tokio::time::sleep(pause).await;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn retries_until_success() {
        let calls = Cell::new(0);
        let result: Result<u32, &str> = retry(
            Deadline::after(Duration::from_secs(60)),
            Backoff::STANDARD,
            |_| true,
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { if n < 4 { Err("busy") } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(result, Ok(4));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let calls = Cell::new(0);
        let result: Result<(), &str> = retry(
            Deadline::after(Duration::from_secs(60)),
            Backoff::STANDARD,
            |e| *e != "fatal",
            || {
                calls.set(calls.get() + 1);
                async { Err("fatal") }
            },
        )
        .await;
        assert_eq!((result, calls.get()), (Err("fatal"), 1));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_before_the_deadline() {
        let deadline = Deadline::after(Duration::from_secs(10));
        let result: Result<(), &str> = retry(
            deadline,
            Backoff::STANDARD,
            |_| true,
            || async { Err("busy") },
        )
        .await;
        assert_eq!(result, Err("busy"));
        assert!(
            deadline.remaining() > Duration::ZERO,
            "stopped before the deadline"
        );
    }

    #[test]
    fn pauses_grow_and_stay_capped() {
        for retry in 1..50 {
            assert!(Backoff::STANDARD.pause(retry) <= Backoff::STANDARD.cap);
        }
    }
}
