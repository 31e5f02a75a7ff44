//! Typed AWS errors: the facts idempotency and retries decide on (`NoSuchEntity`,
//! `EntityAlreadyExists`, `LimitExceeded`, throttling, …) are kept as an [`ErrorKind`],
//! never flattened into a string, and the SDK error stays as the source.

use std::{error::Error as StdError, fmt};

use aws_sdk_iam::{config::http::HttpResponse, error::SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::retry::transient_status;

type BoxError = Box<dyn StdError + Send + Sync>;

/// What kind of failure a service reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The entity does not exist (IAM `NoSuchEntity`).
    NoSuchEntity,
    /// The entity exists already.
    EntityAlreadyExists,
    /// A quota was hit (IAM `LimitExceeded`).
    LimitExceeded,
    /// Another request changed the entity at the same time.
    ConcurrentModification,
    /// IAM refused a policy document (also while a new principal propagates).
    MalformedPolicyDocument,
    /// The caller lacks a permission.
    AccessDenied,
    /// The call was throttled.
    Throttling,
    /// The entity is still in use (IAM `DeleteConflict`).
    DeleteConflict,
    /// A parameter was refused (CloudFormation answers this for a missing stack too).
    Validation,
    /// The request never got a service answer (connection, timeout).
    Unreachable,
    /// The service failed on its side (a 5xx, or an answer that did not parse).
    ServiceFailure,
    /// Anything else.
    Other,
}

impl ErrorKind {
    fn from_code(code: &str) -> Self {
        match code {
            "NoSuchEntity" | "NoSuchEntityException" => Self::NoSuchEntity,
            "EntityAlreadyExists" | "EntityAlreadyExistsException" => Self::EntityAlreadyExists,
            "LimitExceeded" | "LimitExceededException" => Self::LimitExceeded,
            "ConcurrentModification" | "ConcurrentModificationException" => {
                Self::ConcurrentModification
            }
            "MalformedPolicyDocument" | "MalformedPolicyDocumentException" => {
                Self::MalformedPolicyDocument
            }
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
                Self::AccessDenied
            }
            "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException" => Self::Throttling,
            "DeleteConflict" | "DeleteConflictException" => Self::DeleteConflict,
            "ValidationError" | "ValidationException" | "InvalidInput" => Self::Validation,
            "ServiceFailure"
            | "ServiceFailureException"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "InternalFailure"
            | "InternalError"
            | "InternalServiceError" => Self::ServiceFailure,
            _ => Self::Other,
        }
    }
}

/// A failed AWS call: what we were doing, what the service said, and the SDK error.
#[derive(Debug)]
pub struct AwsError {
    action: String,
    kind: ErrorKind,
    code: Option<String>,
    message: Option<String>,
    source: BoxError,
}

impl AwsError {
    /// Classifies an SDK error of any AWS service; `action` says what we were doing
    /// ("creating role ci-deploy").
    pub fn from_sdk<E>(action: impl Into<String>, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let (kind, code, message) = match &error {
            SdkError::ServiceError(service) => {
                let code = error.code().map(str::to_owned);
                let kind = match code.as_deref().map(ErrorKind::from_code) {
                    Some(kind) if kind != ErrorKind::Other => kind,
                    // A transient status without a code we know is still the service's failure.
                    _ if transient_status(service.raw().status().as_u16()) => {
                        ErrorKind::ServiceFailure
                    }
                    _ => ErrorKind::Other,
                };
                (kind, code, error.message().map(str::to_owned))
            }
            // A request that could not even be sent as asked (a malformed request, a
            // client that could not be built, a redirect) fails the same way again.
            SdkError::DispatchFailure(failure) if failure.is_user() || failure.is_other() => {
                (ErrorKind::Other, None, None)
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
                (ErrorKind::Unreachable, None, None)
            }
            SdkError::ResponseError(_) => (ErrorKind::ServiceFailure, None, None),
            _ => (ErrorKind::Other, None, None),
        };
        Self {
            action: action.into(),
            kind,
            code,
            message,
            source: Box::new(error),
        }
    }

    /// A call the service answered, but did not do all of: `detail` says what it left.
    pub fn partly_done(action: impl Into<String>, detail: String) -> Self {
        Self {
            action: action.into(),
            kind: ErrorKind::ServiceFailure,
            code: None,
            message: Some(detail.clone()),
            source: detail.into(),
        }
    }

    /// A call that got no answer before the deadline.
    pub fn deadline_passed(action: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            kind: ErrorKind::Unreachable,
            code: None,
            message: None,
            source: "no answer before the deadline".into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The service's error code, when it answered.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The service's message, when it gave one.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Whether the same call may succeed when repeated shortly.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Throttling
                | ErrorKind::ConcurrentModification
                | ErrorKind::Unreachable
                | ErrorKind::ServiceFailure
        )
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.action)?;
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => write!(f, "{code}: {message}"),
            (Some(code), None) => f.write_str(code),
            _ => write!(
                f,
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&*self.source)
            ),
        }
    }
}

impl StdError for AwsError {
    // The SDK error is kept for debugging, but our Display already says what it says:
    // reporting it as the source would repeat it (or add "service error") in the Reason.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        for (code, kind) in [
            ("NoSuchEntity", ErrorKind::NoSuchEntity),
            ("EntityAlreadyExists", ErrorKind::EntityAlreadyExists),
            ("LimitExceeded", ErrorKind::LimitExceeded),
            ("ConcurrentModification", ErrorKind::ConcurrentModification),
            (
                "MalformedPolicyDocument",
                ErrorKind::MalformedPolicyDocument,
            ),
            ("AccessDenied", ErrorKind::AccessDenied),
            ("Throttling", ErrorKind::Throttling),
            ("DeleteConflict", ErrorKind::DeleteConflict),
            ("ValidationError", ErrorKind::Validation),
            ("ServiceFailure", ErrorKind::ServiceFailure),
            ("InternalFailure", ErrorKind::ServiceFailure),
            ("ServiceUnavailable", ErrorKind::ServiceFailure),
            ("Weird", ErrorKind::Other),
        ] {
            assert_eq!(ErrorKind::from_code(code), kind, "{code}");
        }
    }

    /// With the SDK's own retries off, a service's failure on its side must be retried
    /// here: by its code, or by its 5xx status when the code is not one we know.
    #[test]
    fn service_failures_are_transient() {
        use aws_sdk_iam::operation::get_role::GetRoleError;
        use aws_smithy_types::body::SdkBody;
        let failed = |status: u16, code: &str| {
            let meta = aws_smithy_types::error::ErrorMetadata::builder()
                .code(code)
                .build();
            let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
            AwsError::from_sdk(
                "reading role ci",
                SdkError::service_error(GetRoleError::generic(meta), raw),
            )
        };
        assert!(failed(500, "ServiceFailure").is_transient());
        assert!(failed(502, "SomethingNew").is_transient());
        assert!(!failed(404, "NoSuchEntity").is_transient());
        assert!(!failed(400, "SomethingNew").is_transient());
    }

    /// A call that never reached the service is retried when the network failed it, and
    /// not when the request itself could not be sent as asked.
    #[test]
    fn only_network_failures_to_send_are_transient() {
        use aws_sdk_iam::operation::get_role::GetRoleError;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let failed = |error: ConnectorError| {
            AwsError::from_sdk(
                "reading role ci",
                SdkError::<GetRoleError, HttpResponse>::dispatch_failure(error),
            )
        };
        assert!(failed(ConnectorError::io("connection reset".into())).is_transient());
        assert!(failed(ConnectorError::timeout("connect timed out".into())).is_transient());
        assert!(!failed(ConnectorError::user("a streaming body".into())).is_transient());
        assert!(!failed(ConnectorError::other("a redirect".into(), None)).is_transient());
    }
}
