//! Concurrent writes run to their end.
//!
//! When one of several concurrent calls fails, the others are not dropped: a request
//! already sent may still be applied by the service after the event is answered, and the
//! Delete that CloudFormation sends after a FAILED answer must find whatever landed. So a
//! fan-out that writes waits for every branch and only then reports the first error:
//! [`settle_all`] for a list of calls, `tokio::join!` then `?` on each output for a fixed
//! set.

use std::future::Future;

/// Runs every future to its end; all outputs in order, or the first error in order.
pub async fn settle_all<T, E, F>(futures: impl IntoIterator<Item = F>) -> Result<Vec<T>, E>
where
    F: Future<Output = Result<T, E>>,
{
    futures::future::join_all(futures)
        .await
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicBool, Ordering},
        time::Duration,
    };

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failure_waits_for_the_calls_still_running() {
        let landed = AtomicBool::new(false);
        let call = |fails: bool| {
            let landed = &landed;
            async move {
                if fails {
                    return Err("refused");
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
                landed.store(true, Ordering::SeqCst);
                Ok(())
            }
        };
        assert_eq!(settle_all([call(true), call(false)]).await, Err("refused"));
        assert!(
            landed.load(Ordering::SeqCst),
            "the slow write was not dropped"
        );
    }

    #[tokio::test]
    async fn all_outputs_come_back_in_order() {
        let calls = (0..3).map(|i| async move { Ok::<_, ()>(i) });
        assert_eq!(settle_all(calls).await, Ok(vec![0, 1, 2]));
    }
}
