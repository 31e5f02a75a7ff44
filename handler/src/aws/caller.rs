//! Confirming the caller's stack (DESIGN §2) with one CloudFormation read: the stack's
//! events, judged by [`crate::domain::caller::confirm`]. CloudFormation may record its
//! in-progress event a moment after it invokes us, so a request that is not confirmed is
//! read again for a second or two before it is refused. Every refusal is read again the
//! same way, so how long a refusal takes tells a forger nothing about the stack.

use std::time::{Duration, SystemTime};

use super::{Account, AwsError, ErrorKind, sdk_call};
use crate::{
    deadline::Deadline,
    domain::{
        caller::{self, Refusal, Request, StackEvent},
        ownership::StackArn,
    },
};

/// Pages of events read at most: enough for a thousand events newer than the resource's.
const MAX_PAGES: usize = 10;

/// The waits before reading the events again: 250, 500 and 1000 ms.
const RE_READ_WAITS: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(1000),
];

/// Why the caller's stack could not be confirmed.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    /// CloudFormation is not doing this request. Its Display says nothing a forger could
    /// learn from; the refusal itself is logged.
    #[error("CloudFormation is not running this request for this stack and resource")]
    Refused(Refusal),
    /// The events could not be read.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// What the caller check is asked.
#[derive(Debug, Clone, Copy)]
pub struct CallerCheck<'a> {
    /// The request's stack.
    pub stack: &'a StackArn,
    /// The request's logical id.
    pub logical_id: &'a str,
    /// The request type and physical id.
    pub request: Request<'a>,
    /// How old the in-progress event may be.
    pub window: Duration,
}

impl Account {
    /// Confirms, from the stack's own events, that CloudFormation is doing this request
    /// to this resource now.
    pub async fn confirm_caller(
        &self,
        check: CallerCheck<'_>,
        deadline: Deadline,
    ) -> Result<(), CallerError> {
        let mut waits = RE_READ_WAITS.iter();
        loop {
            let refusal = match self.stack_events(check, deadline).await {
                Ok(events) => match caller::confirm(
                    check.request,
                    &check.stack.arn,
                    check.logical_id,
                    &events,
                    SystemTime::now(),
                    check.window,
                ) {
                    Ok(()) => return Ok(()),
                    Err(refusal) => refusal,
                },
                // CloudFormation answers a stack it does not have with ValidationError.
                Err(error) if error.kind() == ErrorKind::Validation => Refusal::NoEvent,
                Err(error) => return Err(error.into()),
            };
            let pause = waits
                .next()
                .copied()
                .filter(|&pause| deadline.allows(pause));
            let Some(pause) = pause else {
                tracing::warn!(
                    stack = %check.stack.arn,
                    logical_id = check.logical_id,
                    why = %refusal,
                    "the calling stack could not be confirmed; nothing was changed"
                );
                return Err(CallerError::Refused(refusal));
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// The stack's events, newest first, up to the page that holds the newest event of
    /// the logical id or reaches past the window.
    async fn stack_events(
        &self,
        check: CallerCheck<'_>,
        deadline: Deadline,
    ) -> Result<Vec<StackEvent>, AwsError> {
        let oldest_relevant = SystemTime::now()
            .checked_sub(check.window)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut events = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let action = format!("reading the events of stack {}", check.stack.arn);
            let page = sdk_call(deadline, &action, AwsError::is_transient, || {
                self.cloudformation
                    .describe_stack_events()
                    .stack_name(&check.stack.arn)
                    .set_next_token(next_token.clone())
                    .send()
            })
            .await?;
            let before = events.len();
            events.extend(page.stack_events().iter().filter_map(|event| {
                Some(StackEvent {
                    logical_id: event.logical_resource_id()?.to_owned(),
                    physical_id: event.physical_resource_id().map(str::to_owned),
                    resource_type: event.resource_type().map(str::to_owned),
                    status: event.resource_status().map(|s| s.as_str().to_owned()),
                    timestamp: SystemTime::try_from(*event.timestamp()?).ok()?,
                })
            }));
            // Newest first: the first page holding the logical id holds its newest event,
            // and a page reaching past the window ends what can matter.
            let done = events[before..].iter().any(|e| {
                let resource = e.logical_id == check.logical_id
                    && e.physical_id.as_deref() != Some(check.stack.arn.as_str());
                resource || e.timestamp < oldest_relevant
            });
            next_token = page.next_token().map(str::to_owned);
            if done || next_token.is_none() {
                break;
            }
        }
        Ok(events)
    }
}
