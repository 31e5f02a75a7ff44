//! Parsing CloudFormation's request in two steps: the [`Envelope`] first, from raw JSON,
//! then the typed [`Request`] from `aws_lambda_events`.
//!
//! The typed request cannot be the first step: it rejects an unknown `RequestType` or a
//! missing field outright, and then nothing would be left to answer with.

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use serde_json::Value;

/// A CloudFormation custom-resource request, properties kept as raw JSON.
pub type Request = CloudFormationCustomResourceRequest<Value, Value>;
/// A `Create` request.
pub type CreateRequest = aws_lambda_events::event::cloudformation::CreateRequest<Value>;
/// An `Update` request.
pub type UpdateRequest = aws_lambda_events::event::cloudformation::UpdateRequest<Value, Value>;
/// A `Delete` request.
pub type DeleteRequest = aws_lambda_events::event::cloudformation::DeleteRequest<Value>;

/// The fields a response is built from, recovered from whatever JSON arrived.
///
/// Every field is optional: an event may be malformed in any way, and we still answer
/// whenever a `ResponseURL` can be found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// `RequestType` as sent, if it was a string.
    pub request_type: Option<String>,
    /// Where the answer goes (a presigned URL: never log its query string).
    pub response_url: Option<String>,
    /// `StackId`, copied into the response.
    pub stack_id: Option<String>,
    /// `RequestId`, copied into the response.
    pub request_id: Option<String>,
    /// `LogicalResourceId`, copied into the response.
    pub logical_resource_id: Option<String>,
    /// `PhysicalResourceId` (Update and Delete only).
    pub physical_resource_id: Option<String>,
}

impl Envelope {
    /// Recovers the envelope from any JSON value; fields that are absent or not strings
    /// stay `None`.
    pub fn recover(raw: &Value) -> Self {
        let field = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
        Self {
            request_type: field("RequestType"),
            response_url: field("ResponseURL"),
            stack_id: field("StackId"),
            request_id: field("RequestId"),
            logical_resource_id: field("LogicalResourceId"),
            physical_resource_id: field("PhysicalResourceId"),
        }
    }
}

/// Why an event is not a request we can dispatch.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The event is not a JSON object.
    #[error(
        "the event is not a JSON object; CloudFormation sends a custom-resource request object"
    )]
    NotAnObject,
    /// `RequestType` is missing or not a string.
    #[error("the event has no RequestType; expected Create, Update or Delete")]
    MissingRequestType,
    /// `RequestType` is a string we do not know.
    #[error("unsupported RequestType `{0}`; expected Create, Update or Delete")]
    UnknownRequestType(String),
    /// The fields do not match CloudFormation's request format.
    #[error("malformed CloudFormation request: {0}")]
    Malformed(#[source] serde_json::Error),
}

/// Parses a raw event into a typed request.
pub fn parse(raw: Value) -> Result<Request, ParseError> {
    let Some(object) = raw.as_object() else {
        return Err(ParseError::NotAnObject);
    };
    match object.get("RequestType").and_then(Value::as_str) {
        None => return Err(ParseError::MissingRequestType),
        Some("Create" | "Update" | "Delete") => {}
        Some(other) => {
            return Err(ParseError::UnknownRequestType(shorten(other, 64)));
        }
    }
    serde_json::from_value(raw).map_err(ParseError::Malformed)
}

/// At most `max` characters of `s`, marked when cut (we echo user input in reasons).
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create_event() -> Value {
        json!({
            "RequestType": "Create",
            "ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:efr",
            "ResponseURL": "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/x?X-Amz-Signature=abc",
            "StackId": "arn:aws:cloudformation:eu-west-1:222222222222:stack/app/0e5b8c10-0000-0000-0000-000000000000",
            "RequestId": "6d1c7c7f-2f4a-4a7e-9d6e-3b1f1c0a9e21",
            "ResourceType": "Custom::EntraFederatedRole",
            "LogicalResourceId": "CiRole",
            "ResourceProperties": {"ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:efr", "MaxSessionDuration": "3600"}
        })
    }

    #[test]
    fn parses_create_update_and_delete() {
        let create = create_event();
        assert!(matches!(parse(create.clone()), Ok(Request::Create(_))));

        let mut update = create.clone();
        update["RequestType"] = json!("Update");
        update["PhysicalResourceId"] = json!("id-1");
        update["OldResourceProperties"] = json!({});
        let Ok(Request::Update(update)) = parse(update) else {
            panic!("update did not parse")
        };
        assert_eq!(update.physical_resource_id, "id-1");

        let mut delete = create;
        delete["RequestType"] = json!("Delete");
        delete["PhysicalResourceId"] = json!("id-1");
        assert!(matches!(parse(delete), Ok(Request::Delete(_))));
    }

    #[test]
    fn unknown_request_type_is_named_in_the_error() {
        let mut event = create_event();
        event["RequestType"] = json!("Upgrade");
        let error = parse(event).unwrap_err();
        assert!(matches!(error, ParseError::UnknownRequestType(ref t) if t == "Upgrade"));
        assert_eq!(
            error.to_string(),
            "unsupported RequestType `Upgrade`; expected Create, Update or Delete"
        );
    }

    #[test]
    fn missing_fields_are_malformed_but_the_envelope_survives() {
        let mut event = create_event();
        event.as_object_mut().unwrap().remove("LogicalResourceId");
        let envelope = Envelope::recover(&event);
        let error = parse(event).unwrap_err();
        assert!(error.to_string().contains("LogicalResourceId"), "{error}");
        assert_eq!(envelope.logical_resource_id, None);
        assert_eq!(
            envelope.request_id.as_deref(),
            Some("6d1c7c7f-2f4a-4a7e-9d6e-3b1f1c0a9e21")
        );
        assert!(envelope.response_url.is_some());
    }

    #[test]
    fn non_objects_and_missing_request_type_are_refused() {
        assert!(matches!(parse(json!([1, 2])), Err(ParseError::NotAnObject)));
        let mut event = create_event();
        event["RequestType"] = json!(7);
        assert!(matches!(parse(event), Err(ParseError::MissingRequestType)));
        assert_eq!(Envelope::recover(&json!("x")), Envelope::default());
    }

    #[test]
    fn long_request_types_are_shortened_in_the_reason() {
        let mut event = create_event();
        event["RequestType"] = json!("X".repeat(500));
        let reason = parse(event).unwrap_err().to_string();
        assert!(reason.len() < 150, "{reason}");
    }
}
