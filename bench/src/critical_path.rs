//! The critical path: how many remote round trips one Create and one Delete wait for.
//!
//! Every call the factory makes — to moto (IAM, STS, CloudFormation, Secrets Manager),
//! to Graph and its token endpoint, and the response PUT to CloudFormation's bucket — is
//! given the same fixed latency L (a latency proxy in front of moto and of the bucket,
//! the Graph emulator's own `latency`). Events run at L = 0 and at L, side by side in one
//! run; `(time at L − time at 0) / L` is the number of sequential round trips, the local
//! processing time cancelling out. As a cross-check, the longest chain of calls each
//! starting after the previous one answered is read off the recorded timeline.
//!
//! "Warm" events are the second and later on a process (the secret read, the Graph token
//! cached, the member-role session of that account cached), in a member account that
//! already holds one of the factory's roles, so the provider exists and is shared: the
//! steady state of an organisation. "Cold" is the first event of a fresh process. Each
//! warm resource is created, updated in place (a new description) and deleted. A warm
//! Create is also timed on a process with `VERIFY_CALLER_STACK=false`, which shows what
//! the caller check (DESIGN §2) costs on the critical path.
//!
//! The event front door (DESIGN §9) is timed the same way: a role made by hand in the
//! member account (not timed), asking with its tags, then the SQS batch carrying its
//! `CreateRole` event, from delivery to the batch's answer, when its trust is usable;
//! then, the role deleted by hand, the batch carrying its `DeleteRole` event.

use std::{collections::BTreeMap, path::Path, time::Duration};

use entra_federated_role_harness::{
    crash_proxy::ForwardedCall,
    role_events::{batch_failures, iam_event, sqs_batch},
};
use serde::Serialize;
use serde_json::json;

use crate::{
    footprint::success,
    lab::{Lab, LabOptions, Resource, Result, ci_role_properties, make_asking_role},
    stats::Summary,
};

/// How the critical path is measured.
#[derive(Debug, Clone)]
pub struct CriticalPathOptions {
    /// The latency put on every call.
    pub latency: Duration,
    /// Warm Creates and Deletes at each latency.
    pub repeats: usize,
    /// Fresh processes (cold Creates) at each latency.
    pub cold_processes: usize,
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct CriticalPath {
    /// L, milliseconds.
    pub latency_ms: f64,
    /// A warm Create.
    pub warm_create: EventFigures,
    /// A warm in-place Update (the description).
    pub warm_update: EventFigures,
    /// A warm Delete.
    pub warm_delete: EventFigures,
    /// The first Create of a fresh process.
    pub cold_create: EventFigures,
    /// A warm Create on a process that does not confirm the caller's stack.
    pub warm_create_unverified: EventFigures,
    /// A role made outside CloudFormation: its `CreateRole` event delivered, until its
    /// trust is usable (warm).
    pub role_event_federated: EventFigures,
    /// The same role deleted: its `DeleteRole` event delivered, until its application and
    /// audience are gone (warm).
    pub role_event_removed: EventFigures,
}

/// One kind of event.
#[derive(Debug, Clone, Serialize)]
pub struct EventFigures {
    /// Durations at L = 0, milliseconds.
    pub at_zero_ms: Summary,
    /// Durations at L, milliseconds.
    pub at_latency_ms: Summary,
    /// `(each duration at L − median at 0) / L`.
    pub round_trips: Summary,
    /// The longest chain of calls each starting after the previous answered (at L), in
    /// the last event measured.
    pub longest_chain: Vec<String>,
    /// Calls by name, in the last event measured at L.
    pub calls: BTreeMap<String, usize>,
    /// All calls of that event.
    pub total_calls: usize,
    /// Exact requests made more than once in any event measured at L, with how often.
    pub duplicates: BTreeMap<String, usize>,
}

#[derive(Default)]
struct Samples {
    durations: BTreeMap<u64, Vec<f64>>,
    last_calls: Vec<ForwardedCall>,
    duplicates: BTreeMap<String, usize>,
}

impl Samples {
    fn record(&mut self, latency: Duration, took: Duration, calls: Vec<ForwardedCall>) {
        self.durations
            .entry(latency.as_micros() as u64)
            .or_default()
            .push(took.as_secs_f64() * 1000.0);
        if !latency.is_zero() {
            let mut by_key: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
            for call in &calls {
                let entry = by_key.entry(&call.key).or_insert((0, &call.name));
                entry.0 += 1;
            }
            for (count, name) in by_key.values() {
                if *count > 1 {
                    *self.duplicates.entry((*name).to_owned()).or_default() += count - 1;
                }
            }
            self.last_calls = calls;
        }
    }

    fn figures(&self, latency: Duration) -> EventFigures {
        let empty = Vec::new();
        let zero = Summary::of(self.durations.get(&0).unwrap_or(&empty));
        let at = self
            .durations
            .get(&(latency.as_micros() as u64))
            .unwrap_or(&empty);
        let l = latency.as_secs_f64() * 1000.0;
        let trips: Vec<f64> = at.iter().map(|t| (t - zero.median) / l).collect();
        let mut calls = BTreeMap::new();
        for call in &self.last_calls {
            *calls.entry(call.name.clone()).or_default() += 1;
        }
        EventFigures {
            at_zero_ms: zero,
            at_latency_ms: Summary::of(at),
            round_trips: Summary::of(&trips),
            longest_chain: longest_chain(&self.last_calls),
            total_calls: self.last_calls.len(),
            calls,
            duplicates: self.duplicates.clone(),
        }
    }
}

/// Runs the events on the release `binary`.
pub async fn run(binary: &Path, options: &CriticalPathOptions) -> Result<CriticalPath> {
    let lab = Lab::start(&LabOptions::default()).await?;
    let account = lab.members[0].id.clone();
    let mut serial = 0usize;

    // The account's resident role: the provider exists and stays while we measure.
    {
        let mut process = lab.spawn(binary)?;
        let resident = next_resource(&lab, &account, &mut serial).await?;
        create(&lab, &resident).await?;
        process.kill().await;
    }

    let (mut warm_create, mut warm_update, mut warm_delete, mut cold_create, mut unverified) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    let (mut federated, mut removed) = (Samples::default(), Samples::default());
    for latency in [Duration::ZERO, options.latency] {
        lab.set_latency(latency);
        for process_index in 0..options.cold_processes.max(1) {
            let polls = lab.runtime.next_polls();
            let mut process = lab.spawn(binary)?;
            if !lab
                .runtime
                .wait_for_polls(polls + 1, Duration::from_secs(30))
                .await
            {
                return Err("the factory never polled".into());
            }
            let first = next_resource(&lab, &account, &mut serial).await?;
            let (id, took, calls) = create(&lab, &first).await?;
            cold_create.record(latency, took, calls);
            let (took, calls) = delete(&lab, &first, &id).await?;
            warm_delete.record(latency, took, calls);
            if process_index == 0 {
                for _ in 0..options.repeats {
                    let mut resource = next_resource(&lab, &account, &mut serial).await?;
                    let (id, took, calls) = create(&lab, &resource).await?;
                    warm_create.record(latency, took, calls);
                    let (took, calls) = update(&lab, &mut resource, &id).await?;
                    warm_update.record(latency, took, calls);
                    let (took, calls) = delete(&lab, &resource, &id).await?;
                    warm_delete.record(latency, took, calls);
                }
                for _ in 0..options.repeats {
                    serial += 1;
                    let role = format!("hand-made-{serial}");
                    let (took, calls) = role_made_by_hand(&lab, &role).await?;
                    federated.record(latency, took, calls);
                    let (took, calls) = role_deleted_by_hand(&lab, &role).await?;
                    removed.record(latency, took, calls);
                }
            }
            process.kill().await;
        }
        // The same warm Creates without the caller check; the first event warms up.
        let polls = lab.runtime.next_polls();
        let mut process = lab.spawn_with(binary, &[("VERIFY_CALLER_STACK", "false")])?;
        if !lab
            .runtime
            .wait_for_polls(polls + 1, Duration::from_secs(30))
            .await
        {
            return Err("the factory never polled".into());
        }
        for round in 0..=options.repeats {
            let resource = next_resource(&lab, &account, &mut serial).await?;
            let (id, took, calls) = create(&lab, &resource).await?;
            if round > 0 {
                unverified.record(latency, took, calls);
            }
            delete(&lab, &resource, &id).await?;
        }
        process.kill().await;
    }
    lab.set_latency(Duration::ZERO);
    Ok(CriticalPath {
        latency_ms: options.latency.as_secs_f64() * 1000.0,
        warm_create: warm_create.figures(options.latency),
        warm_update: warm_update.figures(options.latency),
        warm_delete: warm_delete.figures(options.latency),
        cold_create: cold_create.figures(options.latency),
        warm_create_unverified: unverified.figures(options.latency),
        role_event_federated: federated.figures(options.latency),
        role_event_removed: removed.figures(options.latency),
    })
}

/// Makes the role `name` by hand in the first member account, asking to be federated,
/// and delivers its `CreateRole` event: how long until the batch is answered.
async fn role_made_by_hand(lab: &Lab, name: &str) -> Result<(Duration, Vec<ForwardedCall>)> {
    let member = &lab.members[0];
    make_asking_role(&member.sdk, name).await?;
    deliver(lab, &member.id, "CreateRole", name).await
}

/// Deletes the role `name` by hand and delivers its `DeleteRole` event.
async fn role_deleted_by_hand(lab: &Lab, name: &str) -> Result<(Duration, Vec<ForwardedCall>)> {
    let member = &lab.members[0];
    aws_sdk_iam::Client::new(&member.sdk)
        .delete_role()
        .role_name(name)
        .send()
        .await?;
    deliver(lab, &member.id, "DeleteRole", name).await
}

/// Delivers IAM's call `event` on `role` in one SQS batch; fails unless the batch is
/// answered with nothing to deliver again.
async fn deliver(
    lab: &Lab,
    account: &str,
    event: &str,
    role: &str,
) -> Result<(Duration, Vec<ForwardedCall>)> {
    let batch = sqs_batch(&[iam_event(account, event, role)]);
    lab.reset_calls();
    let (answer, took) = lab.invoke_answer(&batch, Duration::from_secs(120)).await?;
    let calls = lab.calls();
    match batch_failures(&answer) {
        Some(failed) if failed.is_empty() => Ok((took, calls)),
        _ => Err(format!("the {event} event of {role} was not handled: {answer}").into()),
    }
}

/// A resource of its own stack in the member account.
async fn next_resource(lab: &Lab, account: &str, serial: &mut usize) -> Result<Resource> {
    *serial += 1;
    let name = format!("critical-{serial}");
    let properties = ci_role_properties(account, &name);
    lab.resource(0, &name, "CiRole", properties).await
}

async fn create(lab: &Lab, resource: &Resource) -> Result<(String, Duration, Vec<ForwardedCall>)> {
    let (event, request_id) = lab.create_event(resource);
    lab.reset_calls();
    let (answer, took) = lab.send(&event, &request_id).await?;
    let calls = lab.calls();
    Ok((success(&answer)?, took, calls))
}

/// An in-place Update of `resource`: a new description.
async fn update(
    lab: &Lab,
    resource: &mut Resource,
    physical_id: &str,
) -> Result<(Duration, Vec<ForwardedCall>)> {
    let old = resource.properties.clone();
    resource.properties["Description"] = json!("changed in place");
    let (event, request_id) = lab.update_event(resource, physical_id, &old).await?;
    lab.reset_calls();
    let (answer, took) = lab.send(&event, &request_id).await?;
    let calls = lab.calls();
    if success(&answer)? != physical_id {
        return Err("an in-place Update changed the physical id".into());
    }
    Ok((took, calls))
}

async fn delete(
    lab: &Lab,
    resource: &Resource,
    physical_id: &str,
) -> Result<(Duration, Vec<ForwardedCall>)> {
    let (event, request_id) = lab.delete_event(resource, physical_id).await?;
    lab.reset_calls();
    let (answer, took) = lab.send(&event, &request_id).await?;
    let calls = lab.calls();
    success(&answer)?;
    Ok((took, calls))
}

/// The longest chain of calls in which each starts after the previous one answered.
pub fn longest_chain(calls: &[ForwardedCall]) -> Vec<String> {
    let mut sorted: Vec<&ForwardedCall> = calls.iter().collect();
    sorted.sort_by_key(|call| call.received);
    // best[i]: the longest chain ending with call i, and its predecessor.
    let mut best: Vec<(usize, Option<usize>)> = Vec::with_capacity(sorted.len());
    for (i, call) in sorted.iter().enumerate() {
        let before = (0..i)
            .filter(|&j| sorted[j].answered <= call.received)
            .max_by_key(|&j| (best[j].0, std::cmp::Reverse(j)));
        best.push(match before {
            Some(j) => (best[j].0 + 1, Some(j)),
            None => (1, None),
        });
    }
    let Some(mut at) = (0..sorted.len()).max_by_key(|&i| (best[i].0, std::cmp::Reverse(i))) else {
        return Vec::new();
    };
    let mut chain = vec![sorted[at].name.clone()];
    while let Some(previous) = best[at].1 {
        chain.push(sorted[previous].name.clone());
        at = previous;
    }
    chain.reverse();
    chain
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn call(name: &str, start: u64, end: u64, origin: Instant) -> ForwardedCall {
        ForwardedCall {
            name: name.to_owned(),
            key: name.to_owned(),
            write: false,
            status: 200,
            received: origin + Duration::from_millis(start),
            answered: origin + Duration::from_millis(end),
        }
    }

    #[test]
    fn the_longest_chain_skips_concurrent_calls() {
        let t = Instant::now();
        let calls = [
            call("a", 0, 50, t),
            call("b1", 51, 100, t),
            call("b2", 52, 101, t),
            call("c", 102, 150, t),
            call("d", 151, 200, t),
        ];
        assert_eq!(longest_chain(&calls), ["a", "b1", "c", "d"]);
        assert!(longest_chain(&[]).is_empty());
    }
}
