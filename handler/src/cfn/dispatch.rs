//! The always-respond guard and the dispatch to a [`CustomResource`].

use std::{
    collections::BTreeMap,
    error::Error as StdError,
    future::Future,
    panic::AssertUnwindSafe,
    time::{Duration, SystemTime},
};

use futures::FutureExt;
use serde_json::Value;
use tokio::time::Instant;
use tracing::{Instrument, field};

use crate::deadline::Deadline;

use super::{
    request::{self, CreateRequest, DeleteRequest, Envelope, Request, UpdateRequest},
    response::{self, Answer},
    response_url::{RefusedUrl, ResponseUrlPolicy, served_region},
    sender::{self, Delivered, DeliveryError, HttpTransport, RetryPolicy, Transport},
};

/// A resource implementation: what to do for Create, Update and Delete.
pub trait CustomResource: Send + Sync {
    /// Handles a `Create`.
    fn create(
        &self,
        request: &CreateRequest,
        invocation: &Invocation,
    ) -> impl Future<Output = Result<Success, Failure>> + Send;
    /// Handles an `Update`.
    fn update(
        &self,
        request: &UpdateRequest,
        invocation: &Invocation,
    ) -> impl Future<Output = Result<Success, Failure>> + Send;
    /// Handles a `Delete`.
    fn delete(
        &self,
        request: &DeleteRequest,
        invocation: &Invocation,
    ) -> impl Future<Output = Result<Success, Failure>> + Send;

    /// The physical id a failed Create reports — whether it failed after writing, ran
    /// out of time or panicked — which the Delete that follows is sent with. The default
    /// names nothing; a resource whose Create may have written names what that Delete
    /// must clean up (made by [`failed_create_id`]).
    fn failed_create_id(&self, request: &CreateRequest) -> String {
        nothing_created_id(&request.request_id)
    }
}

/// A successful operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    /// The physical id (a new one on Update means replacement).
    pub physical_resource_id: String,
    /// Attributes for `Fn::GetAtt`.
    pub data: BTreeMap<String, String>,
    /// Mask `Data` in `Fn::GetAtt` output.
    pub no_echo: bool,
}

impl Success {
    /// A success with no attributes.
    pub fn new(physical_resource_id: impl Into<String>) -> Self {
        Self {
            physical_resource_id: physical_resource_id.into(),
            data: BTreeMap::new(),
            no_echo: false,
        }
    }
}

/// A failed operation: the error (its whole source chain becomes the `Reason`). A failed
/// Create is reported under [`CustomResource::failed_create_id`], or under
/// [`nothing_created_id`] when it failed [`before any write`](Failure::before_any_write).
#[derive(Debug)]
pub struct Failure {
    error: Box<dyn StdError + Send + Sync>,
    before_any_write: bool,
}

impl Failure {
    /// Marks a failure that wrote nothing: a failed Create then reports an id that names
    /// nothing, and the Delete that follows has nothing to clean up — even when what
    /// refused the Create (a missing member role, a broken credential) would make a
    /// cleanup fail too.
    pub fn before_any_write(mut self) -> Self {
        self.before_any_write = true;
        self
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Failure {
    fn from(error: E) -> Self {
        Self {
            error: Box::new(error),
            before_any_write: false,
        }
    }
}

const FAILED_CREATE_PREFIX: &str = "entra-federated-role:create-failed:";
const NOTHING_CREATED_PREFIX: &str = "entra-federated-role:nothing-created:";

/// The physical id of a failed Create that may have written: CloudFormation sends it back
/// in the Delete that follows, which finds the partial work by `token` (whatever the
/// resource needs for that).
pub fn failed_create_id(token: &str) -> String {
    format!("{FAILED_CREATE_PREFIX}{token}")
}

/// Whether `physical_resource_id` was made by [`failed_create_id`].
pub fn is_failed_create_id(physical_resource_id: &str) -> bool {
    physical_resource_id.starts_with(FAILED_CREATE_PREFIX)
}

/// The physical id of a failed Create that wrote nothing (`request_id`: the Create's).
pub fn nothing_created_id(request_id: &str) -> String {
    format!("{NOTHING_CREATED_PREFIX}{request_id}")
}

/// Whether `physical_resource_id` was made by [`nothing_created_id`]: its Delete has
/// nothing to do.
pub fn names_nothing(physical_resource_id: &str) -> bool {
    physical_resource_id.starts_with(NOTHING_CREATED_PREFIX)
}

/// What a resource learns about the invocation besides the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// When the work must be done: retries inside stop before it, and no call outlives it. The guard answers `FAILED` a little later ([`Timing::settle_margin`])
    /// only if the work has not answered by then: a hang.
    pub deadline: Deadline,
    /// The ARN the Lambda was invoked as (its account is the factory's own).
    pub function_arn: String,
}

/// The guard's time budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The guard answers a hang this long before Lambda's deadline, leaving the rest to
    /// answer.
    pub response_reserve: Duration,
    /// The work's own deadline comes this long before the guard's: every call of the work
    /// ends by it, and the margin leaves the work time to gather what its concurrent calls
    /// returned (crate::settle) and answer with its own error; the guard cuts off only a
    /// hang.
    pub settle_margin: Duration,
    /// Delivery attempts end this long before Lambda's deadline.
    pub delivery_margin: Duration,
    /// How the PUT is retried.
    pub retry: RetryPolicy,
}

impl Default for Timing {
    /// Answers `FAILED` 3 s before the deadline (DESIGN asks for at least 2 s), ends the
    /// work 1 s before that, and keeps retrying the PUT until 200 ms before the deadline.
    fn default() -> Self {
        Self {
            response_reserve: Duration::from_secs(3),
            settle_margin: Duration::from_secs(1),
            delivery_margin: Duration::from_millis(200),
            retry: RetryPolicy::RESPONSE,
        }
    }
}

/// What became of an event (for logs and tests; Lambda only sees a normal return).
#[derive(Debug)]
pub enum Outcome {
    /// A response was built and its delivery attempted.
    Answered {
        /// `"SUCCESS"` or `"FAILED"`.
        status: &'static str,
        /// The PUT's result.
        delivery: Result<Delivered, DeliveryError>,
    },
    /// The event has no `ResponseURL`: nothing to answer.
    NoResponseUrl,
    /// The `ResponseURL` is not allowed: the event was ignored.
    Refused(RefusedUrl),
}

/// The always-respond guard around a resource.
#[derive(Debug)]
pub struct Handler<R, T = HttpTransport> {
    resource: Result<R, String>,
    transport: T,
    urls: ResponseUrlPolicy,
    timing: Timing,
}

impl<R: CustomResource, T: Transport> Handler<R, T> {
    /// A guard around `resource`, or around the reason it could not be built (a
    /// configuration error found at cold start, answered on every event).
    pub fn new(
        resource: Result<R, String>,
        transport: T,
        urls: ResponseUrlPolicy,
        timing: Timing,
    ) -> Self {
        Self {
            resource,
            transport,
            urls,
            timing,
        }
    }

    /// The resource, or why it could not be built.
    pub fn resource(&self) -> Result<&R, &str> {
        self.resource.as_ref().map_err(String::as_str)
    }

    /// Handles one raw event whose Lambda deadline is `deadline`: exactly one response
    /// to an allowed `ResponseURL`, whatever happens.
    pub async fn handle(&self, event: Value, deadline: SystemTime, function_arn: &str) -> Outcome {
        let envelope = Envelope::recover(&event);
        let span = tracing::info_span!(
            "custom_resource",
            request_type = envelope.request_type.as_deref().unwrap_or("?"),
            stack_id = envelope.stack_id.as_deref().unwrap_or("?"),
            logical_id = envelope.logical_resource_id.as_deref().unwrap_or("?"),
            physical_id = field::Empty,
        );
        if let Some(id) = &envelope.physical_resource_id {
            span.record("physical_id", id.as_str());
        }
        self.respond(event, envelope, deadline, function_arn)
            .instrument(span)
            .await
    }

    async fn respond(
        &self,
        event: Value,
        envelope: Envelope,
        deadline: SystemTime,
        function_arn: &str,
    ) -> Outcome {
        let Some(raw_url) = envelope.response_url.as_deref() else {
            tracing::error!("event without a ResponseURL ignored: there is nowhere to answer");
            return Outcome::NoResponseUrl;
        };
        let region = served_region(envelope.stack_id.as_deref(), function_arn);
        let url = match self.urls.check(raw_url, region) {
            Ok(url) => url,
            Err(refused) => {
                tracing::error!(%refused, "event ignored, nothing was done or sent");
                return Outcome::Refused(refused);
            }
        };
        let end = instant_of(deadline);
        let before_end = |margin: Duration| end.checked_sub(margin).unwrap_or_else(Instant::now);
        let cutoff = before_end(self.timing.response_reserve);
        let invocation = Invocation {
            deadline: Deadline::at(before_end(
                self.timing.response_reserve + self.timing.settle_margin,
            )),
            function_arn: function_arn.to_owned(),
        };
        let answer = self.answer(event, &envelope, &invocation, cutoff).await;
        let status = answer.status();
        let (physical_id, reason) = match &answer {
            Answer::Success {
                physical_resource_id,
                ..
            } => (physical_resource_id, None),
            Answer::Failed {
                physical_resource_id,
                reason,
                ..
            } => (physical_resource_id, Some(reason)),
        };
        tracing::Span::current().record("physical_id", physical_id.as_str());
        if let Some(reason) = reason {
            tracing::warn!(%reason, "answering FAILED");
        }
        let (body, _) = response::body(&envelope, answer);
        let delivery_deadline = before_end(self.timing.delivery_margin);
        let delivery = sender::deliver(
            &self.transport,
            &url,
            &body,
            delivery_deadline,
            self.timing.retry,
        )
        .await;
        match &delivery {
            Ok(delivered) => {
                tracing::info!(status, attempts = delivered.attempts, "response delivered")
            }
            Err(error) => tracing::error!(status, %error, "response not delivered"),
        }
        Outcome::Answered { status, delivery }
    }

    /// The answer to `event`: the work's, or a `FAILED` one at `cutoff`.
    async fn answer(
        &self,
        event: Value,
        envelope: &Envelope,
        invocation: &Invocation,
        cutoff: Instant,
    ) -> Answer {
        let request = match request::parse(event) {
            Ok(request) => request,
            Err(error) => return failed(fallback_id(envelope), &error),
        };
        let physical_id_on_failure = |resource: Option<&R>| match &request {
            Request::Create(create) => resource.map_or_else(
                || nothing_created_id(&create.request_id),
                |resource| resource.failed_create_id(create),
            ),
            Request::Update(update) => update.physical_resource_id.clone(),
            Request::Delete(delete) => delete.physical_resource_id.clone(),
            _ => fallback_id(envelope),
        };
        let resource = match &self.resource {
            Ok(resource) => resource,
            Err(init_error) => {
                let physical_id = physical_id_on_failure(None);
                return self.answer_unconfigured(&request, init_error, physical_id);
            }
        };
        let physical_id_on_failure = physical_id_on_failure(Some(resource));
        let work = async {
            match &request {
                // Boxed: a resource's future nests every SDK call it makes, deeper than
                // the compiler's default limit for laying out the guard's own future.
                Request::Create(create) => Box::pin(resource.create(create, invocation)).await,
                Request::Update(update) => Box::pin(resource.update(update, invocation)).await,
                Request::Delete(delete) => Box::pin(resource.delete(delete, invocation)).await,
                _ => Err(Failure::from(request::ParseError::MissingRequestType)),
            }
        };
        match tokio::time::timeout_at(cutoff, AssertUnwindSafe(work).catch_unwind()).await {
            Ok(Ok(Ok(success))) => Answer::Success {
                physical_resource_id: success.physical_resource_id,
                data: success.data,
                no_echo: success.no_echo,
            },
            Ok(Ok(Err(failure))) => {
                let id = match &request {
                    Request::Create(create) if failure.before_any_write => {
                        nothing_created_id(&create.request_id)
                    }
                    _ => physical_id_on_failure,
                };
                failed(id, failure.error.as_ref())
            }
            Ok(Err(panic)) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_owned());
                tracing::error!(%message, "the resource panicked");
                failed(
                    physical_id_on_failure,
                    &Internal(format!("internal error: the handler panicked: {message}")),
                )
            }
            Err(_elapsed) => failed(
                physical_id_on_failure,
                &Internal(format!(
                    "timed out: the operation did not finish {}s before the Lambda deadline; \
                     it is safe to retry, and a longer function timeout (with ServiceTimeout \
                     a little above it) gives it more time",
                    self.timing.response_reserve.as_secs()
                )),
            ),
        }
    }

    /// Under a cold-start configuration error only the Delete of a Create that wrote
    /// nothing can succeed: there is nothing to clean up. A Create that may have written
    /// needs its cleanup, which the configuration makes impossible: that Delete fails
    /// until the environment is fixed.
    fn answer_unconfigured(
        &self,
        request: &Request,
        init_error: &str,
        physical_id: String,
    ) -> Answer {
        if matches!(request, Request::Delete(_)) && names_nothing(&physical_id) {
            tracing::info!("delete of a create that wrote nothing: nothing to clean up");
            return Answer::Success {
                physical_resource_id: physical_id,
                data: BTreeMap::new(),
                no_echo: false,
            };
        }
        failed(
            physical_id,
            &Internal(format!(
                "the function is misconfigured: {init_error}; fix the Lambda's environment and retry"
            )),
        )
    }
}

/// The physical id to report when the typed request is unknown.
fn fallback_id(envelope: &Envelope) -> String {
    envelope.physical_resource_id.clone().unwrap_or_else(|| {
        nothing_created_id(envelope.request_id.as_deref().unwrap_or("unknown-request"))
    })
}

fn failed(physical_resource_id: String, error: &(dyn StdError + 'static)) -> Answer {
    let (reason, root_cause) = error_chain(error);
    Answer::Failed {
        physical_resource_id,
        reason,
        root_cause,
    }
}

/// An error of the guard itself.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Internal(String);

/// The error and its sources joined with ": " (a source already quoted by its parent's
/// message is not repeated), and the innermost source.
pub(crate) fn error_chain(error: &(dyn StdError + 'static)) -> (String, String) {
    let mut reason = error.to_string();
    let mut root = reason.clone();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        root = text;
        source = cause.source();
    }
    (reason, root)
}

/// Lambda's deadline (wall clock) as an instant of tokio's clock.
fn instant_of(deadline: SystemTime) -> Instant {
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + remaining
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("creating the role")]
    struct Outer(#[source] Middle);
    #[derive(Debug, thiserror::Error)]
    #[error("calling IAM: {0}")]
    struct Middle(#[source] Root);
    #[derive(Debug, thiserror::Error)]
    #[error("AccessDenied")]
    struct Root;

    #[test]
    fn the_chain_is_joined_without_repeating_quoted_sources() {
        let (reason, root) = error_chain(&Outer(Middle(Root)));
        assert_eq!(reason, "creating the role: calling IAM: AccessDenied");
        assert_eq!(root, "AccessDenied");
    }

    #[test]
    fn failed_create_ids_are_recognised() {
        let id = failed_create_id("6d1c7c7f");
        assert!(is_failed_create_id(&id));
        assert!(!is_failed_create_id("arn:aws:iam::1:role/x"));
        assert!(!is_failed_create_id("MyStack-CiRole-1ABCDEF"));
    }
}
