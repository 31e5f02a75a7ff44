//! The CloudFormation custom-resource protocol: everything between Lambda handing us an
//! event and CloudFormation reading our answer from its response bucket.
//!
//! [`Handler`] is the always-respond guard. It recovers the [`Envelope`] of an event from
//! the raw JSON (so even a malformed event can be answered), checks the `ResponseURL`
//! against the [`ResponseUrlPolicy`], parses the typed [`Request`], dispatches it to a
//! [`CustomResource`] with its [`Invocation`] (and deadline), and always finishes with exactly one response,
//! built by [`response`] within CloudFormation's 4096-byte limit and delivered by
//! [`sender`] with bounded retries. Whatever goes wrong — a malformed event, an unknown
//! `RequestType`, a configuration error found at cold start, an error, a panic, a hang —
//! becomes a `FAILED` answer with a clear `Reason`.
//!
//! This module knows nothing of IAM, Graph or our properties: a resource plugs in through
//! the [`CustomResource`] trait. It must not import `crate::domain` or any adapter.

mod dispatch;
mod request;
pub mod response;
mod response_url;
pub mod sender;

pub use dispatch::{
    CustomResource, Failure, Handler, Invocation, Outcome, Success, Timing, failed_create_id,
    is_failed_create_id, names_nothing, nothing_created_id,
};
pub use request::{CreateRequest, DeleteRequest, Envelope, ParseError, Request, UpdateRequest};
pub use response_url::{InvalidExtraHost, RefusedUrl, ResponseUrlPolicy, redact_url};
pub use sender::{HttpTransport, RetryPolicy, Transport};
