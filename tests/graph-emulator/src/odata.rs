//! Responses in Microsoft Graph's shape: the OData error envelope and JSON bodies.
//!
//! Follows "Microsoft Graph error responses and resource types"
//! (learn.microsoft.com/graph/errors): every error is
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`,
//! optionally with `details` (`[{"code","message","target"}]`), and every response carries
//! the `request-id` and `client-request-id` headers.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use time::{OffsetDateTime, UtcOffset};

/// Ids of one request, echoed in headers and in error bodies.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    pub request_id: String,
    pub client_request_id: String,
}

impl RequestIds {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| request_id.clone());
        Self {
            request_id,
            client_request_id,
        }
    }

    fn apply(&self, response: &mut Response) {
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            headers.insert("request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.client_request_id) {
            headers.insert("client-request-id", v);
        }
    }
}

/// A Graph error, before the request ids are added.
#[derive(Debug, Clone)]
pub(crate) struct GraphFailure {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Vec<Value>,
    pub retry_after: Option<u64>,
}

impl GraphFailure {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with_detail(mut self, code: &str, message: &str, target: &str) -> Self {
        self.details
            .push(json!({"code": code, "message": message, "target": target}));
        self
    }

    /// `Request_ResourceNotFound`, the message Graph's directory APIs use.
    pub fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// `Authorization_RequestDenied`, as Graph answers an app that lacks a permission
    /// (e.g. an `Application.ReadWrite.OwnedBy` caller on an app it does not own).
    pub fn denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    pub fn into_response(self, ids: &RequestIds) -> Response {
        let date = now_iso();
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": date,
                "request-id": ids.request_id,
                "client-request-id": ids.client_request_id,
            }
        });
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details);
        }
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        ids.apply(&mut response);
        response
    }
}

/// A successful Graph answer.
pub(crate) fn ok(status: StatusCode, body: Option<Value>, ids: &RequestIds) -> Response {
    let mut response = match body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => status.into_response(),
    };
    ids.apply(&mut response);
    response
}

/// Now as Graph writes timestamps: ISO 8601 (RFC 3339) in UTC, whole seconds.
pub(crate) fn now_iso() -> String {
    iso(OffsetDateTime::now_utc())
}

/// `at` as Graph writes timestamps: ISO 8601 (RFC 3339) in UTC, whole seconds.
pub(crate) fn iso(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `years` after `at` (the same day and time; 28 February for 29 February).
pub(crate) fn years_later(at: OffsetDateTime, years: i32) -> OffsetDateTime {
    at.replace_year(at.year() + years)
        .or_else(|_| (at - time::Duration::days(1)).replace_year(at.year() + years))
        .unwrap_or(at)
}

/// A `DateTimeOffset` the client sent: ISO 8601 as Graph's reference pages show it (e.g.
/// `2014-01-01T00:00:00Z`), read as RFC 3339, in UTC.
pub(crate) fn parse_iso(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|at| at.to_offset(UtcOffset::UTC))
}
