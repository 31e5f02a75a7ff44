//! What can go wrong talking to Entra ID and Microsoft Graph, typed so callers can branch
//! on it (not found, conflict, forbidden, quota, throttling) and worded so the resulting
//! CloudFormation `Reason` says what to do.
//!
//! Graph's errors arrive in the OData envelope (learn.microsoft.com/graph/errors):
//! `{"error":{"code","message","details":[{"code","target"}],"innerError":{"request-id"}}}`;
//! the token endpoint's in OAuth form: `{"error","error_description":"AADSTSnnnnn: …",
//! "error_codes":[n]}` (learn.microsoft.com/entra/identity-platform/reference-error-codes).
//! Neither carries a secret, and no variant here holds one.

use std::time::Duration;

use serde_json::Value;

use crate::domain::AppId;

/// The permission the factory needs for everything it does to its own applications.
pub const OWNED_BY_PERMISSION: &str = "Application.ReadWrite.OwnedBy";
/// The permission `RequireAppRoleAssignment` needs.
pub const APP_ROLE_ASSIGNMENT_PERMISSION: &str = "AppRoleAssignment.ReadWrite.All";

/// A Graph error response, as parsed from the OData error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// `error.code`, e.g. `Request_ResourceNotFound`.
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `error.details[].code`, e.g. `NoBackingApplicationObject`.
    pub detail_codes: Vec<String>,
    /// `error.innerError.request-id`, for Microsoft support.
    pub request_id: Option<String>,
}

impl ApiError {
    /// Parses a response body; a body that is not the envelope keeps its status and a
    /// short excerpt.
    pub fn parse(status: u16, body: &[u8]) -> Self {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let error = &json["error"];
        let text = |v: &Value| v.as_str().map(str::to_owned);
        match text(&error["code"]) {
            Some(code) => Self {
                status,
                code,
                message: text(&error["message"]).unwrap_or_default(),
                detail_codes: error["details"]
                    .as_array()
                    .map(|d| d.iter().filter_map(|x| text(&x["code"])).collect())
                    .unwrap_or_default(),
                request_id: text(&error["innerError"]["request-id"]),
            },
            None => Self {
                status,
                code: format!("HTTP {status}"),
                message: String::from_utf8_lossy(body).chars().take(200).collect(),
                detail_codes: Vec::new(),
                request_id: None,
            },
        }
    }

    /// Whether `code` is the error code or one of the detail codes.
    pub fn has_code(&self, code: &str) -> bool {
        self.code == code || self.detail_codes.iter().any(|c| c == code)
    }

    /// The permission Graph names in a 403 message ("… API requires one of 'X'. …").
    pub fn named_permission(&self) -> Option<String> {
        let (_, rest) = self.message.split_once("requires one of '")?;
        let (list, _) = rest.split_once('\'')?;
        let first = list.split(',').next()?.trim();
        (!first.is_empty()).then(|| first.to_owned())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            self.code,
            self.message.trim_end_matches('.')
        )?;
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

/// An OAuth error from the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The HTTP status.
    pub status: u16,
    /// `error`, e.g. `invalid_client`.
    pub error: String,
    /// The `AADSTS` code, e.g. 7000215.
    pub code: Option<u32>,
    /// `error_description` without the trace, correlation id and timestamp.
    pub description: String,
}

impl OAuthError {
    /// Parses a token endpoint error body.
    pub fn parse(status: u16, body: &[u8]) -> Self {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let description = json["error_description"].as_str().unwrap_or_default();
        let description = description
            .split(" Trace ID:")
            .next()
            .unwrap_or_default()
            .split("\r\n")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let code = json["error_codes"]
            .as_array()
            .and_then(|c| c.first())
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok())
            .or_else(|| {
                description
                    .strip_prefix("AADSTS")
                    .and_then(|d| d.split(':').next())
                    .and_then(|d| d.parse().ok())
            });
        Self {
            status,
            error: json["error"].as_str().unwrap_or("unknown_error").to_owned(),
            code,
            description: if description.is_empty() {
                String::from_utf8_lossy(body).chars().take(200).collect()
            } else {
                description
            },
        }
    }

    /// `AADSTS70021` and its issuer/subject/audience variants: no federated identity
    /// credential matches (yet — new ones take a while to propagate).
    pub fn is_federation_mismatch(&self) -> bool {
        matches!(self.code, Some(70021 | 700211 | 700212 | 700213))
    }

    fn hint(&self) -> &'static str {
        match self.code {
            Some(7000215 | 7000222) => {
                "; store the current client secret *value* (not its id) of the factory app in the credentials secret"
            }
            Some(700027) => {
                "; upload the certificate from the credentials secret to the factory app registration (Certificates & secrets), and keep certificatePem and privateKeyPem a matching pair"
            }
            Some(700024) => "; the assertion is outside its validity period: check the clock",
            Some(700023) => "; the assertion's audience must be the tenant's token endpoint",
            Some(70021 | 700211 | 700212 | 700213) => {
                "; add a federated identity credential to the factory app whose issuer, subject and audience match the AWS web identity token (issuer: the account's outbound identity federation issuer, subject: the Lambda role ARN, audience: api://AzureADTokenExchange); a new one can take a minute to propagate"
            }
            Some(700016) => {
                "; ENTRA_CLIENT_ID must be the application (client) id of the factory app in tenant ENTRA_TENANT_ID"
            }
            Some(90002) => "; check ENTRA_TENANT_ID and ENTRA_CLOUD",
            Some(7000218) => "; the factory has no credential to present",
            _ => "",
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let description = self.description.trim_end_matches('.');
        if description.starts_with("AADSTS") {
            write!(f, "{} ({})", description, self.error)?;
        } else if let Some(code) = self.code {
            write!(f, "AADSTS{code}: {description} ({})", self.error)?;
        } else {
            write!(f, "{description} ({})", self.error)?;
        }
        f.write_str(self.hint())
    }
}

/// The factory could not get a Graph token.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Entra ID refused the request.
    #[error("Entra ID refused the factory's sign-in: {0}")]
    Rejected(OAuthError),
    /// No federated identity credential matched before the deadline.
    #[error(
        "Entra ID did not accept the factory's AWS web identity token before the deadline ({attempts} attempts): {last}"
    )]
    FederationNotReady {
        /// Sign-ins tried.
        attempts: u32,
        /// The last refusal.
        last: OAuthError,
    },
    /// The external assertion (the AWS web identity token) could not be obtained.
    #[error("could not get a web identity token to sign in to Entra ID with")]
    Assertion(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The certificate or private key in the credentials secret is unusable.
    #[error(
        "the certificate credential is unusable: {0}; store a PEM certificate (certificatePem) and its RSA private key (privateKeyPem, PKCS#1 or PKCS#8)"
    )]
    InvalidCertificate(String),
    /// The client assertion could not be signed.
    #[error("could not sign the client assertion")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// The token endpoint kept answering 429 or 5xx until the next wait would pass the deadline.
    #[error(
        "the Entra token endpoint was unavailable ({status}) after {attempts} attempts and the next wait ({wait:?}) would pass the deadline; retry later"
    )]
    Unavailable {
        /// The last status.
        status: u16,
        /// Requests sent.
        attempts: u32,
        /// The wait that did not fit.
        wait: Duration,
    },
    /// The token endpoint could not be reached.
    #[error("could not reach the Entra token endpoint")]
    Network(#[source] reqwest::Error),
    /// The answer was not a token response.
    #[error("the Entra token endpoint answered something that is not a token: {0}")]
    InvalidResponse(String),
    /// The deadline passed before a token was obtained.
    #[error("no time left before the deadline to sign in to Entra ID")]
    DeadlineExceeded,
}

impl SignInError {
    /// The AADSTS code, when Entra refused the request.
    pub fn aadsts_code(&self) -> Option<u32> {
        match self {
            Self::Rejected(e) | Self::FederationNotReady { last: e, .. } => e.code,
            _ => None,
        }
    }
}

/// A Graph operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The factory could not sign in.
    #[error(transparent)]
    SignIn(#[from] SignInError),
    /// 404: the object does not exist.
    #[error("could not {action}: it does not exist in Microsoft Graph ({detail})")]
    NotFound {
        /// What we were doing.
        action: String,
        /// Graph's answer.
        detail: Box<ApiError>,
    },
    /// 409 or a uniqueness violation.
    #[error("could not {action}: it conflicts with an existing object ({detail})")]
    Conflict {
        /// What we were doing.
        action: String,
        /// Graph's answer.
        detail: Box<ApiError>,
    },
    /// 403: the factory lacks a permission.
    #[error(
        "Microsoft Graph refused to {action} ({detail}): grant the factory app the application permission {permission} with admin consent"
    )]
    Forbidden {
        /// What we were doing.
        action: String,
        /// The permission Graph named, else the one this call needs.
        permission: String,
        /// Graph's answer.
        detail: Box<ApiError>,
    },
    /// `Directory_QuotaExceeded`.
    #[error(
        "could not {action}: the factory app has reached its directory object quota ({detail}). A principal without an admin role may create at most 250 directory objects, soft-deleted ones included, and each role uses two (its application and service principal), so about 125 roles per factory; delete unused roles (their purge frees the quota), or assign the factory's service principal a directory role that lifts the quota (e.g. Application Developer or Application Administrator)"
    )]
    QuotaExceeded {
        /// What we were doing.
        action: String,
        /// Graph's answer.
        detail: Box<ApiError>,
    },
    /// 429 until the next wait would pass the deadline.
    #[error(
        "Microsoft Graph kept throttling (429) while trying to {action}: gave up after {attempts} attempts because the next wait ({wait:?}) would pass the deadline; retry later"
    )]
    Throttled {
        /// What we were doing.
        action: String,
        /// Requests sent.
        attempts: u32,
        /// The wait that did not fit.
        wait: Duration,
    },
    /// 5xx, a lost connection, or replication lag, until the next wait would pass the
    /// deadline or the attempts allowed for failures ran out.
    #[error(
        "Microsoft Graph kept failing while trying to {action} ({last}): gave up after {attempts} attempts {}; retry later",
        gave_up_because(*.wait)
    )]
    Transient {
        /// What we were doing.
        action: String,
        /// The last failure.
        last: String,
        /// Requests sent.
        attempts: u32,
        /// The wait that did not fit, or `None` when the attempts ran out first.
        wait: Option<Duration>,
    },
    /// An object exists under our name but is not ours: it was left alone.
    #[error(
        "{what} exists but was not created by this resource (the factory does not own it or it lacks our tags); it was left untouched — delete or rename it, or choose another name"
    )]
    NotOurs {
        /// The object.
        what: String,
    },
    /// A `TrustedClientAppIds` entry has no service principal in the tenant.
    #[error(
        "TrustedClientAppIds: no service principal for application id {app_id} in the tenant; check the id, or create the application's service principal (enterprise application) in this tenant first"
    )]
    UnknownTrustedClient {
        /// The unknown application id.
        app_id: AppId,
    },
    /// Another 4xx.
    #[error("Microsoft Graph rejected the request to {action} ({detail})")]
    Rejected {
        /// What we were doing.
        action: String,
        /// Graph's answer.
        detail: Box<ApiError>,
    },
    /// The request could not be sent.
    #[error("could not reach Microsoft Graph to {action}")]
    Network {
        /// What we were doing.
        action: String,
        /// The cause (its text names only the Graph URL, which holds no secret).
        #[source]
        source: reqwest::Error,
    },
    /// The answer did not have the documented shape.
    #[error("Microsoft Graph answered unexpectedly to {action}: {detail}")]
    InvalidResponse {
        /// What we were doing.
        action: String,
        /// What was wrong.
        detail: String,
    },
    /// No time left to send the request.
    #[error("no time left before the deadline to {action}")]
    DeadlineExceeded {
        /// What we were doing.
        action: String,
    },
}

impl GraphError {
    /// Maps a final (non-retried) error response.
    pub(crate) fn from_response(action: &str, permission: &str, detail: ApiError) -> Self {
        let action = action.to_owned();
        let detail = Box::new(detail);
        match detail.status {
            _ if detail.has_code("Directory_QuotaExceeded") => {
                Self::QuotaExceeded { action, detail }
            }
            403 => Self::Forbidden {
                action,
                permission: detail
                    .named_permission()
                    .unwrap_or_else(|| permission.to_owned()),
                detail,
            },
            404 => Self::NotFound { action, detail },
            409 => Self::Conflict { action, detail },
            _ if detail.has_code("ObjectConflict")
                || detail.has_code("Request_MultipleObjectsWithSameKeyValue") =>
            {
                Self::Conflict { action, detail }
            }
            _ => Self::Rejected { action, detail },
        }
    }

    /// Graph's answer, for errors that carry one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::NotFound { detail, .. }
            | Self::Conflict { detail, .. }
            | Self::Forbidden { detail, .. }
            | Self::QuotaExceeded { detail, .. }
            | Self::Rejected { detail, .. } => Some(detail.as_ref()),
            _ => None,
        }
    }

    /// Whether Graph answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether Graph answered 403.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::Forbidden { .. })
    }
}

fn gave_up_because(wait: Option<Duration>) -> String {
    match wait {
        Some(wait) => format!("because the next wait ({wait:?}) would pass the deadline"),
        None => "(the most allowed for failures)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_parsed() {
        let body = br#"{"error":{"code":"Request_BadRequest","message":"The appId 'x' of the service principal does not reference a valid application object.","details":[{"code":"NoBackingApplicationObject","target":"appId"}],"innerError":{"date":"2025-01-01T00:00:00","request-id":"r-1","client-request-id":"c-1"}}}"#;
        let error = ApiError::parse(400, body);
        assert_eq!(error.code, "Request_BadRequest");
        assert!(error.has_code("NoBackingApplicationObject"));
        assert_eq!(error.request_id.as_deref(), Some("r-1"));
        assert!(
            error
                .to_string()
                .starts_with("400 Request_BadRequest: The appId")
        );
    }

    #[test]
    fn non_envelope_bodies_keep_the_status() {
        let error = ApiError::parse(502, b"<html>Bad gateway</html>");
        assert_eq!(error.code, "HTTP 502");
        assert!(error.message.contains("Bad gateway"));
    }

    #[test]
    fn a_permission_named_by_graph_wins() {
        let detail = ApiError::parse(
            403,
            br#"{"error":{"code":"Authorization_RequestDenied","message":"Missing role permissions on the request. API requires one of 'AppRoleAssignment.ReadWrite.All, Directory.ReadWrite.All'. Roles on the request ''."}}"#,
        );
        let error = GraphError::from_response("assign", OWNED_BY_PERMISSION, detail);
        assert!(
            matches!(&error, GraphError::Forbidden { permission, .. } if permission == APP_ROLE_ASSIGNMENT_PERMISSION)
        );
    }

    #[test]
    fn oauth_errors_keep_the_code_and_drop_the_trace() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: t Correlation ID: c Timestamp: 2025-01-01 00:00:00Z","error_codes":[7000215]}"#;
        let error = OAuthError::parse(401, body);
        assert_eq!(error.code, Some(7000215));
        assert_eq!(
            error.description,
            "AADSTS7000215: Invalid client secret provided."
        );
        let shown = error.to_string();
        assert!(shown.starts_with("AADSTS7000215: Invalid client secret provided (invalid_client); store the current client secret"), "{shown}");
        assert!(!shown.contains("Trace ID"));
    }
}
