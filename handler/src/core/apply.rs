//! The applier: runs a [`Plan`]'s steps, each as soon as the steps it waits for are
//! done, so that independent steps run at once.
//!
//! A step that fails stops the steps that wait for it; the others need nothing from it
//! and run to their end (every write in flight settles, [`crate::settle`]), and the
//! target's outcome is the first failure. Every step is idempotent, so the next event
//! picks up where this one stopped. A step that finds nothing left to do for the steps
//! after it ([`Flow::Stop`]: the application is gone, or not ours) ends its chain.
//! Each step's calls are bounded by the event's deadline.

use std::{future::Future, sync::OnceLock};

use futures::stream::{FuturesUnordered, StreamExt};

use super::{
    Converged, CoreError, Generation, Lifecycle, Removed, Wanted, adopt,
    converge::Convergence,
    plan::{Intent, Operation, Plan, Step},
    ports::{Entra, Iam},
    remove::Removal,
};
use crate::{deadline::Deadline, domain::adoption::Status};

/// What became of one target of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The generation is in place.
    Converged(Box<Converged>),
    /// The generation is gone.
    Removed(Removed),
    /// The role made outside CloudFormation is sealed, and says why. Its ARN.
    Sealed(String),
}

/// Why a step may read what an earlier one learnt.
pub(super) const ORDER: &str = "the plan runs a step after those it reads from";

/// Records what a step learnt; each step runs once per plan.
pub(super) fn set<T>(cell: &std::sync::OnceLock<T>, value: T) {
    if cell.set(value).is_err() {
        unreachable!("each step of a plan runs once");
    }
}

/// How a step that succeeded leaves the steps that wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// They run.
    Next,
    /// There is nothing left for them to do.
    Stop,
}

/// One target's work, with what its steps learn for the steps after them.
enum Job<'a> {
    Converge(Box<Convergence<'a>>),
    Remove(Box<Removal<'a>>),
    Seal {
        generation: &'a Generation,
        reason: &'a str,
        role_arn: OnceLock<String>,
    },
}

impl<I: Iam, E: Entra> Lifecycle<'_, I, E> {
    /// Runs `plan`; its convergence, if any, makes the generation `wanted`. Returns
    /// each target's outcome, in the order of [`Plan::targets`].
    ///
    /// # Panics
    /// When the plan converges a generation and `wanted` is `None`.
    pub async fn apply(
        &self,
        plan: &Plan,
        wanted: Option<Wanted<'_>>,
        deadline: Deadline,
    ) -> Vec<Result<Outcome, CoreError>> {
        let jobs: Vec<Job<'_>> = plan
            .targets()
            .iter()
            .map(|target| match &target.intent {
                Intent::Converge => Job::Converge(Box::new(Convergence::new(
                    &target.generation,
                    wanted.expect("a convergence needs what is wanted"),
                ))),
                Intent::Remove => Job::Remove(Box::new(Removal::new(&target.generation))),
                Intent::Refuse(reason) => Job::Seal {
                    generation: &target.generation,
                    reason,
                    role_arn: OnceLock::new(),
                },
            })
            .collect();
        let failures = drive(plan.steps(), STEPS_AT_ONCE, |step| {
            let job = &jobs[step.target];
            async move {
                match (job, step.operation) {
                    (Job::Converge(job), Operation::Converge(operation)) => {
                        self.converge_step(job, operation, deadline).await
                    }
                    (Job::Remove(job), Operation::Remove(operation)) => {
                        self.remove_step(job, operation, deadline).await
                    }
                    (
                        Job::Seal {
                            generation,
                            reason,
                            role_arn,
                        },
                        Operation::Seal,
                    ) => {
                        let status = Status::Refused { reason };
                        let arn = adopt::write_trust(self.iam, generation, None, status, deadline)
                            .await?;
                        set(role_arn, arn);
                        Ok(Flow::Next)
                    }
                    _ => unreachable!("a plan's steps match their target's intent"),
                }
            }
        })
        .await;
        // A target's outcome is the failure of its earliest step in the plan, whichever
        // failed first in time: the same `Reason` for the same failures, every run.
        let mut first: Vec<Option<(usize, CoreError)>> =
            plan.targets().iter().map(|_| None).collect();
        for (step, error) in failures {
            let Step {
                target, operation, ..
            } = &plan.steps()[step];
            let generation = plan.targets()[*target].generation.key();
            tracing::warn!(%generation, %operation, %error, "a step failed");
            let slot = &mut first[*target];
            if slot.as_ref().is_none_or(|(earliest, _)| step < *earliest) {
                *slot = Some((step, error));
            }
        }
        let mut outcomes = Vec::with_capacity(jobs.len());
        for (job, failure) in jobs.into_iter().zip(first) {
            outcomes.push(match (failure, job) {
                (Some((_, error)), _) => Err(error),
                (None, Job::Converge(job)) => Ok(Outcome::Converged(Box::new(job.converged()))),
                (None, Job::Remove(job)) => Ok(Outcome::Removed(job.removed())),
                (None, Job::Seal { role_arn, .. }) => {
                    Ok(Outcome::Sealed(role_arn.into_inner().expect(ORDER)))
                }
            });
        }
        outcomes
    }
}

/// How many steps of a plan run at once, at most. A step makes a few calls at a time, so
/// this keeps one event's calls in flight to a few dozen. One generation's plan never has
/// more than four steps ready at once; a replacement's (two generations) seldom reaches
/// this bound.
pub(super) const STEPS_AT_ONCE: usize = 8;

/// Runs `steps`, each once every step it waits for is done (and never after one of
/// them failed or stopped), at most `limit` at once, earliest first. Returns the
/// failures, in the order they happened, with the index of the step.
async fn drive<'s, F, Fut, Error>(
    steps: &'s [Step],
    limit: usize,
    mut start: F,
) -> Vec<(usize, Error)>
where
    F: FnMut(&'s Step) -> Fut,
    Fut: Future<Output = Result<Flow, Error>>,
{
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum State {
        Waiting,
        Running,
        Done,
        Ended,
    }
    let mut state = vec![State::Waiting; steps.len()];
    let mut failures = Vec::new();
    let mut running = FuturesUnordered::new();
    loop {
        for (index, step) in steps.iter().enumerate() {
            if running.len() >= limit {
                break;
            }
            let ready = step.after.iter().all(|&i| state[i] == State::Done);
            if state[index] == State::Waiting && ready {
                state[index] = State::Running;
                let future = start(step);
                running.push(async move { (index, future.await) });
            }
        }
        let Some((index, result)) = running.next().await else {
            return failures;
        };
        state[index] = match result {
            Ok(Flow::Next) => State::Done,
            Ok(Flow::Stop) => State::Ended,
            Err(error) => {
                failures.push((index, error));
                State::Ended
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Mutex, time::Duration};

    use super::*;
    use crate::core::plan::{Converging, Operation};

    /// Steps `0..n` of one target, waiting as `after` says.
    fn steps(after: &[&[usize]]) -> Vec<Step> {
        after
            .iter()
            .map(|after| Step {
                target: 0,
                operation: Operation::Converge(Converging::ReadRole),
                after: after.to_vec(),
            })
            .collect()
    }

    /// Drives `steps`: step `i` takes `i + 1` ms and ends as `end(i)` says. Returns the
    /// steps that started, in order, and the failures.
    async fn run(
        steps: &[Step],
        end: impl Fn(usize) -> Result<Flow, &'static str>,
    ) -> (Vec<String>, Vec<(usize, &'static str)>) {
        run_at_most(steps, STEPS_AT_ONCE, end).await
    }

    /// [`run`], with at most `limit` steps at once.
    async fn run_at_most(
        steps: &[Step],
        limit: usize,
        end: impl Fn(usize) -> Result<Flow, &'static str>,
    ) -> (Vec<String>, Vec<(usize, &'static str)>) {
        let log = Mutex::new(Vec::new());
        let failures = drive(steps, limit, |step| {
            let index = steps.iter().position(|s| std::ptr::eq(s, step)).unwrap();
            log.lock().unwrap().push(format!("start {index}"));
            let (log, result) = (&log, end(index));
            async move {
                tokio::time::sleep(Duration::from_millis(index as u64 + 1)).await;
                log.lock().unwrap().push(format!("end {index}"));
                result
            }
        })
        .await;
        (log.into_inner().unwrap(), failures)
    }

    #[tokio::test(start_paused = true)]
    async fn independent_steps_start_at_once_and_a_step_waits_for_all_it_names() {
        let plan = steps(&[&[], &[], &[0], &[1, 2]]);
        let (log, failures) = run(&plan, |_| Ok(Flow::Next)).await;
        assert_eq!(
            log,
            [
                "start 0", "start 1", "end 0", "start 2", "end 1", "end 2", "start 3", "end 3"
            ]
        );
        assert!(failures.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_stops_what_waits_for_it_and_lets_the_rest_run_to_its_end() {
        let plan = steps(&[&[], &[], &[0], &[1], &[2, 3]]);
        let (log, failures) = run(&plan, |i| {
            if i == 0 {
                Err("refused")
            } else {
                Ok(Flow::Next)
            }
        })
        .await;
        assert_eq!(
            log,
            ["start 0", "start 1", "end 0", "end 1", "start 3", "end 3"]
        );
        assert_eq!(failures, [(0, "refused")]);
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_steps_than_the_bound_run_at_once_and_the_earliest_ready_go_first() {
        let plan = steps(&[&[], &[], &[], &[0]]);
        let (log, failures) = run_at_most(&plan, 2, |_| Ok(Flow::Next)).await;
        assert_eq!(
            log,
            [
                "start 0", "start 1", "end 0", "start 2", "end 1", "start 3", "end 2", "end 3"
            ]
        );
        assert!(failures.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_its_chain_without_a_failure() {
        let plan = steps(&[&[], &[0], &[1], &[]]);
        let (log, failures) =
            run(&plan, |i| Ok(if i == 1 { Flow::Stop } else { Flow::Next })).await;
        assert_eq!(
            log,
            ["start 0", "start 3", "end 0", "start 1", "end 1", "end 3"]
        );
        assert!(failures.is_empty());
    }
}
