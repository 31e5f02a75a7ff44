//! Is CloudFormation doing this request now? (DESIGN §2)
//!
//! Lambda does not tell a function who invoked it, and anyone its resource policy admits
//! can forge a whole event. So every fact the factory compares comes from CloudFormation
//! itself: the stack's own events, read with `DescribeStackEvents`, never the event's
//! claims. [`confirm`] decides on them:
//!
//! - the newest event of the request's logical id is the one that matters: CloudFormation
//!   records `CREATE_IN_PROGRESS`, `UPDATE_IN_PROGRESS` or `DELETE_IN_PROGRESS` for a
//!   resource when it starts to create, update or delete it, and a `*_COMPLETE` or
//!   `*_FAILED` event once the provider has answered (the resource status codes of the
//!   CloudFormation User Guide, "View stack events": `view-stack-events.html`, and the
//!   `StackEvent` API reference). A custom resource gets its request between the two;
//! - its resource type must be ours, [`OUR_TYPE`] — never "the type the event claims".
//!   CloudFormation's generic `AWS::CloudFormation::CustomResource` is not accepted: other
//!   providers' resources use it (it is the default of many frameworks), and a forger
//!   could name one of those while it is being created;
//! - its status must be the in-progress status of the request type, in every phase that
//!   sends requests: a Create (`CREATE_IN_PROGRESS`) during the stack's creation or
//!   update; an Update (`UPDATE_IN_PROGRESS`) during an update and during an update's
//!   rollback, which sends the old properties as an Update; a Delete
//!   (`DELETE_IN_PROGRESS`) during a stack deletion, the rollback of a failed creation
//!   (`ROLLBACK_IN_PROGRESS`), and the two cleanup phases
//!   (`UPDATE_COMPLETE_CLEANUP_IN_PROGRESS` deletes the old resource of a replacement,
//!   `UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS` the new resource of a failed update:
//!   "If the value returned is different, CloudFormation recognizes the update as a
//!   replacement and sends a delete request to the old resource", `crpg-ref-requesttypes-update.html`);
//! - for an Update and a Delete, that event names the request's physical id. In the
//!   cleanup phases that is the old generation's id, not the resource's current one, which
//!   is why the stack's resource summary (`DescribeStackResource`) cannot decide;
//! - and it is recent: no older than the request's window (its `ServiceTimeout`, at most
//!   an hour, after which CloudFormation has given up on the request), nor from the future
//!   beyond a little clock skew.
//!
//! A [`Refusal`] is for the log only: a `Reason` a forger may read says no more than that
//! nothing was changed.

use std::{
    fmt,
    time::{Duration, SystemTime},
};

/// The resource type that is ours.
pub const OUR_TYPE: &str = "Custom::EntraFederatedRole";

/// CloudFormation's longest wait for a custom resource (`ServiceTimeout` ≤ 3600 s).
pub const MAX_WINDOW: Duration = Duration::from_secs(3600);

/// How far an event may lie in the future of the factory's clock.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The request to confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// A Create: the resource has no physical id yet.
    Create,
    /// An Update of the resource with this physical id.
    Update {
        /// The request's `PhysicalResourceId`.
        physical_id: &'a str,
    },
    /// A Delete of the resource with this physical id.
    Delete {
        /// The request's `PhysicalResourceId`.
        physical_id: &'a str,
    },
}

impl Request<'_> {
    /// The status CloudFormation records for the resource while it waits for us.
    pub fn in_progress_status(self) -> &'static str {
        match self {
            Self::Create => "CREATE_IN_PROGRESS",
            Self::Update { .. } => "UPDATE_IN_PROGRESS",
            Self::Delete { .. } => "DELETE_IN_PROGRESS",
        }
    }
}

/// One stack event, as CloudFormation recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackEvent {
    /// `LogicalResourceId`.
    pub logical_id: String,
    /// `PhysicalResourceId` (empty or absent while a resource is being created).
    pub physical_id: Option<String>,
    /// `ResourceType`.
    pub resource_type: Option<String>,
    /// `ResourceStatus`.
    pub status: Option<String>,
    /// `Timestamp`.
    pub timestamp: SystemTime,
}

/// Why a request is not confirmed (for the log, never for the `Reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The stack has no event for the logical id.
    NoEvent,
    /// The resource is of another type.
    NotOurs {
        /// Its type as CloudFormation recorded it.
        found: String,
    },
    /// CloudFormation is not doing this kind of request to the resource now.
    NotInProgress {
        /// The newest event's status.
        status: String,
        /// The status the request needs.
        expected: &'static str,
    },
    /// The newest event is about another physical resource.
    OtherResource {
        /// The physical id it names.
        found: String,
    },
    /// The in-progress event is older than the request's window.
    Stale {
        /// Its age.
        age: Duration,
    },
    /// The event lies further in the future than clock skew explains.
    FromTheFuture,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEvent => f.write_str("the stack has no event for this logical id"),
            Self::NotOurs { found } => write!(f, "the resource is a {found}"),
            Self::NotInProgress { status, expected } => {
                write!(f, "the resource's newest event is {status}, not {expected}")
            }
            Self::OtherResource { found } => {
                write!(
                    f,
                    "the resource's newest event is about physical id {found}"
                )
            }
            Self::Stale { age } => write!(
                f,
                "the resource has been in progress for {}s, longer than the request's window",
                age.as_secs()
            ),
            Self::FromTheFuture => f.write_str("the resource's newest event lies in the future"),
        }
    }
}

/// The window a request may be served in: its `ServiceTimeout` in seconds (as
/// CloudFormation sends it, a string), at most [`MAX_WINDOW`]; [`MAX_WINDOW`] when absent
/// or unreadable. A forged value can only narrow the window.
pub fn window(service_timeout: Option<&serde_json::Value>) -> Duration {
    let seconds = match service_timeout {
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    seconds
        .filter(|&s| s > 0)
        .map_or(MAX_WINDOW, |s| Duration::from_secs(s).min(MAX_WINDOW))
}

/// Decides whether `events` (the events of the stack `stack_id`, newest first, as
/// `DescribeStackEvents` lists them) show CloudFormation doing `request` to `logical_id`
/// at `now`.
pub fn confirm(
    request: Request<'_>,
    stack_id: &str,
    logical_id: &str,
    events: &[StackEvent],
    now: SystemTime,
    window: Duration,
) -> Result<(), Refusal> {
    // The newest by timestamp; among equal timestamps, the first listed (newest first).
    // The stack's own events name the stack as their physical resource and its name as
    // their logical id, which may be a resource's logical id too.
    let newest = events
        .iter()
        .filter(|event| {
            event.logical_id == logical_id && event.physical_id.as_deref() != Some(stack_id)
        })
        .reduce(|newest, event| {
            if event.timestamp > newest.timestamp {
                event
            } else {
                newest
            }
        })
        .ok_or(Refusal::NoEvent)?;
    let found = newest.resource_type.as_deref().unwrap_or_default();
    if found != OUR_TYPE {
        return Err(Refusal::NotOurs {
            found: found.to_owned(),
        });
    }
    let expected = request.in_progress_status();
    let status = newest.status.as_deref().unwrap_or_default();
    if status != expected {
        return Err(Refusal::NotInProgress {
            status: status.to_owned(),
            expected,
        });
    }
    if let Request::Update { physical_id } | Request::Delete { physical_id } = request {
        let found = newest.physical_id.as_deref().unwrap_or_default();
        if found != physical_id {
            return Err(Refusal::OtherResource {
                found: found.to_owned(),
            });
        }
    }
    match now.duration_since(newest.timestamp) {
        Ok(age) if age > window => Err(Refusal::Stale { age }),
        Ok(_) => Ok(()),
        Err(ahead) if ahead.duration() > CLOCK_SKEW => Err(Refusal::FromTheFuture),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const OLD: &str = "arn:aws:iam::222222222222:role/old";
    const NEW: &str = "arn:aws:iam::222222222222:role/new";

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn event(
        logical_id: &str,
        kind: &str,
        status: &str,
        physical_id: &str,
        age: i64,
    ) -> StackEvent {
        let timestamp = if age >= 0 {
            now() - Duration::from_secs(age.unsigned_abs())
        } else {
            now() + Duration::from_secs(age.unsigned_abs())
        };
        StackEvent {
            logical_id: logical_id.to_owned(),
            physical_id: (!physical_id.is_empty()).then(|| physical_id.to_owned()),
            resource_type: Some(kind.to_owned()),
            status: Some(status.to_owned()),
            timestamp,
        }
    }

    fn ours(status: &str, physical_id: &str, age: i64) -> StackEvent {
        event(
            "CiRole",
            "Custom::EntraFederatedRole",
            status,
            physical_id,
            age,
        )
    }

    const STACK: &str = "arn:aws:cloudformation:us-east-1:222222222222:stack/CiRole/1";

    fn decide(request: Request<'_>, events: &[StackEvent]) -> Result<(), Refusal> {
        confirm(
            request,
            STACK,
            "CiRole",
            events,
            now(),
            Duration::from_secs(330),
        )
    }

    /// The events each phase leaves when CloudFormation sends its request (newest first).
    #[rstest]
    #[case::create(Request::Create, vec![ours("CREATE_IN_PROGRESS", "", 2)])]
    #[case::in_place_update(
        Request::Update { physical_id: OLD },
        vec![ours("UPDATE_IN_PROGRESS", OLD, 1), ours("CREATE_COMPLETE", OLD, 900)]
    )]
    #[case::update_rollback(
        Request::Update { physical_id: OLD },
        vec![ours("UPDATE_IN_PROGRESS", OLD, 1), ours("UPDATE_FAILED", OLD, 30), ours("UPDATE_IN_PROGRESS", OLD, 60)]
    )]
    #[case::cleanup_of_a_replacement(
        Request::Delete { physical_id: OLD },
        vec![ours("DELETE_IN_PROGRESS", OLD, 1), ours("UPDATE_COMPLETE", NEW, 20), ours("UPDATE_IN_PROGRESS", OLD, 40)]
    )]
    #[case::cleanup_after_a_failed_update(
        Request::Delete { physical_id: NEW },
        vec![ours("DELETE_IN_PROGRESS", NEW, 1), ours("UPDATE_COMPLETE", OLD, 10), ours("UPDATE_IN_PROGRESS", OLD, 15), ours("UPDATE_COMPLETE", NEW, 60)]
    )]
    #[case::create_rollback(
        Request::Delete { physical_id: "entra-federated-role:create-failed:abc" },
        vec![ours("DELETE_IN_PROGRESS", "entra-federated-role:create-failed:abc", 1), ours("CREATE_FAILED", "entra-federated-role:create-failed:abc", 5), ours("CREATE_IN_PROGRESS", "", 40)]
    )]
    #[case::stack_delete(
        Request::Delete { physical_id: OLD },
        vec![event("Queue", "AWS::SQS::Queue", "DELETE_COMPLETE", "q", 0), ours("DELETE_IN_PROGRESS", OLD, 1), ours("UPDATE_COMPLETE", OLD, 3000)]
    )]
    #[case::slight_clock_skew(Request::Create, vec![ours("CREATE_IN_PROGRESS", "", -20)])]
    #[case::a_stack_named_like_the_resource(
        Request::Update { physical_id: OLD },
        vec![event("CiRole", "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", STACK, 0), ours("UPDATE_IN_PROGRESS", OLD, 1)]
    )]
    fn every_phase_cloudformation_runs_is_confirmed(
        #[case] request: Request<'_>,
        #[case] events: Vec<StackEvent>,
    ) {
        assert_eq!(decide(request, &events), Ok(()));
    }

    #[rstest]
    #[case::another_logical_id(Request::Create, vec![ours("CREATE_IN_PROGRESS", "", 1)], "Other", Refusal::NoEvent)]
    #[case::forged_type(
        Request::Create,
        vec![event("Queue", "AWS::SQS::Queue", "CREATE_IN_PROGRESS", "", 1)],
        "Queue",
        Refusal::NotOurs { found: "AWS::SQS::Queue".into() }
    )]
    #[case::another_custom_type(
        Request::Create,
        vec![event("Other", "Custom::Other", "CREATE_IN_PROGRESS", "", 1)],
        "Other",
        Refusal::NotOurs { found: "Custom::Other".into() }
    )]
    #[case::another_providers_generic_custom_resource(
        Request::Create,
        vec![event("Other", "AWS::CloudFormation::CustomResource", "CREATE_IN_PROGRESS", "", 1)],
        "Other",
        Refusal::NotOurs { found: "AWS::CloudFormation::CustomResource".into() }
    )]
    fn events_of_other_resources_confirm_nothing(
        #[case] request: Request<'_>,
        #[case] events: Vec<StackEvent>,
        #[case] logical_id: &str,
        #[case] refusal: Refusal,
    ) {
        let decided = confirm(
            request,
            STACK,
            logical_id,
            &events,
            now(),
            Duration::from_secs(330),
        );
        assert_eq!(decided, Err(refusal));
    }

    #[rstest]
    #[case::create_when_complete(
        Request::Create,
        vec![ours("CREATE_COMPLETE", OLD, 1), ours("CREATE_IN_PROGRESS", "", 9)],
        Refusal::NotInProgress { status: "CREATE_COMPLETE".into(), expected: "CREATE_IN_PROGRESS" }
    )]
    #[case::update_while_created(
        Request::Update { physical_id: OLD },
        vec![ours("CREATE_IN_PROGRESS", "", 1)],
        Refusal::NotInProgress { status: "CREATE_IN_PROGRESS".into(), expected: "UPDATE_IN_PROGRESS" }
    )]
    #[case::delete_during_an_update(
        Request::Delete { physical_id: OLD },
        vec![ours("UPDATE_IN_PROGRESS", OLD, 1)],
        Refusal::NotInProgress { status: "UPDATE_IN_PROGRESS".into(), expected: "DELETE_IN_PROGRESS" }
    )]
    #[case::update_of_another_physical_id(
        Request::Update { physical_id: NEW },
        vec![ours("UPDATE_IN_PROGRESS", OLD, 1)],
        Refusal::OtherResource { found: OLD.into() }
    )]
    #[case::delete_of_the_current_generation_during_cleanup(
        Request::Delete { physical_id: NEW },
        vec![ours("DELETE_IN_PROGRESS", OLD, 1), ours("UPDATE_COMPLETE", NEW, 20)],
        Refusal::OtherResource { found: OLD.into() }
    )]
    #[case::update_outside_the_window(
        Request::Update { physical_id: OLD },
        vec![ours("UPDATE_COMPLETE", OLD, 100), ours("UPDATE_IN_PROGRESS", OLD, 200)],
        Refusal::NotInProgress { status: "UPDATE_COMPLETE".into(), expected: "UPDATE_IN_PROGRESS" }
    )]
    #[case::stale(
        Request::Create,
        vec![ours("CREATE_IN_PROGRESS", "", 331)],
        Refusal::Stale { age: Duration::from_secs(331) }
    )]
    #[case::from_the_future(Request::Create, vec![ours("CREATE_IN_PROGRESS", "", -61)], Refusal::FromTheFuture)]
    fn requests_cloudformation_is_not_making_now_are_refused(
        #[case] request: Request<'_>,
        #[case] events: Vec<StackEvent>,
        #[case] refusal: Refusal,
    ) {
        assert_eq!(decide(request, &events), Err(refusal));
    }

    #[test]
    fn the_newest_event_wins_whatever_the_listing_order() {
        // Listed oldest first: the timestamps decide.
        let events = [
            ours("UPDATE_IN_PROGRESS", OLD, 200),
            ours("UPDATE_COMPLETE", OLD, 100),
        ];
        assert!(matches!(
            decide(Request::Update { physical_id: OLD }, &events),
            Err(Refusal::NotInProgress { .. })
        ));
        // Equal timestamps: the first listed is the newest.
        let events = [
            ours("UPDATE_IN_PROGRESS", OLD, 5),
            ours("UPDATE_COMPLETE", OLD, 5),
        ];
        assert_eq!(
            decide(Request::Update { physical_id: OLD }, &events),
            Ok(())
        );
    }

    #[rstest]
    #[case(None, 3600)]
    #[case(Some(serde_json::json!("330")), 330)]
    #[case(Some(serde_json::json!(600)), 600)]
    #[case(Some(serde_json::json!("86400")), 3600)]
    #[case(Some(serde_json::json!("0")), 3600)]
    #[case(Some(serde_json::json!("soon")), 3600)]
    fn the_window_is_the_service_timeout_at_most_an_hour(
        #[case] service_timeout: Option<serde_json::Value>,
        #[case] seconds: u64,
    ) {
        assert_eq!(
            window(service_timeout.as_ref()),
            Duration::from_secs(seconds)
        );
    }
}
