//! The event-driven front door's input (DESIGN §9): an IAM API call that CloudTrail
//! recorded in a member account, as EventBridge delivers it, read down to the one thing
//! the factory trusts it for — which role in which account to look at.
//!
//! Events are hints, state is truth: EventBridge delivers at least once, late and out of
//! order, so nothing in an event but the role's name and account decides anything. The
//! handler reads the role as it is now and converges from that.
//!
//! The shape follows AWS's documentation:
//! - EventBridge's event structure (`version`, `id`, `detail-type`, `source`, `account`,
//!   `time`, `region`, `resources`, `detail`): "Amazon EventBridge events" in the
//!   EventBridge User Guide (eb-events-structure);
//! - IAM's calls arrive as `detail-type` "AWS API Call via CloudTrail" from `source`
//!   `aws.iam` ("AWS Identity and Access Management events", EventBridge events
//!   reference; the China regions' page spells it "Amazon API Call via CloudTrail");
//! - `detail` is the CloudTrail record: `eventSource`, `eventName`, `requestParameters`,
//!   `recipientAccountId`, and `errorCode` when the call failed ("CloudTrail record
//!   contents", CloudTrail User Guide).
//!
//! The envelope's `account` is the account the event happened in: EventBridge sets it,
//! a sender cannot (`PutEvents` refuses sources beginning with `aws.`), and a rule does
//! not forward to a third account what it received from another. It must agree with the
//! record's `recipientAccountId`.

use serde_json::Value;

use super::RoleName;

/// The IAM calls that can change whether, or how, a role is federated: its existence,
/// trust, tags (the request), permissions boundary and managed policies (guardrails).
pub const ROLE_EVENT_NAMES: [&str; 9] = [
    "CreateRole",
    "DeleteRole",
    "UpdateAssumeRolePolicy",
    "TagRole",
    "UntagRole",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "AttachRolePolicy",
    "DetachRolePolicy",
];

/// The `detail-type` of CloudTrail-recorded API calls, in the partitions' spellings.
const DETAIL_TYPES: [&str; 2] = [
    "AWS API Call via CloudTrail",
    "Amazon API Call via CloudTrail",
];

/// A role to look at now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleHint {
    /// The member account it lives in.
    pub account: String,
    /// Its name.
    pub role_name: RoleName,
    /// The call that was recorded (for the log).
    pub event_name: String,
    /// The EventBridge event id (for the log).
    pub event_id: String,
}

/// What an event delivered to the factory asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleEvent {
    /// Converge this role from its state.
    Role(RoleHint),
    /// Nothing to do: an IAM event the front door does not act on, with why.
    Ignored(String),
}

/// An event that is not an IAM API call the front door can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IAM event the factory can read: {0}")]
pub struct InvalidRoleEvent(String);

impl InvalidRoleEvent {
    /// An event that is not an IAM API call, and why.
    pub fn new(why: &str) -> Self {
        Self(why.to_owned())
    }
}

impl RoleEvent {
    /// Reads an EventBridge event.
    pub fn parse(event: &Value) -> Result<Self, InvalidRoleEvent> {
        let invalid = |what: &str| InvalidRoleEvent(what.to_owned());
        if text(event, "source") != Some("aws.iam") {
            return Err(invalid("its `source` is not `aws.iam`"));
        }
        if !text(event, "detail-type").is_some_and(|t| DETAIL_TYPES.contains(&t)) {
            return Err(invalid(
                "its `detail-type` is not \"AWS API Call via CloudTrail\"",
            ));
        }
        let account = text(event, "account")
            .filter(|a| is_account_id(a))
            .ok_or_else(|| invalid("its `account` is not a 12-digit account id"))?;
        let detail = event
            .get("detail")
            .filter(|d| d.is_object())
            .ok_or_else(|| invalid("it has no `detail` object"))?;
        if text(detail, "eventSource") != Some("iam.amazonaws.com") {
            return Err(invalid(
                "its `detail.eventSource` is not `iam.amazonaws.com`",
            ));
        }
        if text(detail, "recipientAccountId") != Some(account) {
            return Err(invalid(
                "its `detail.recipientAccountId` is not the account the event came from",
            ));
        }
        let event_name =
            text(detail, "eventName").ok_or_else(|| invalid("it has no `detail.eventName`"))?;
        if !ROLE_EVENT_NAMES.contains(&event_name) {
            return Ok(Self::Ignored(format!(
                "{event_name} does not change a role's federation"
            )));
        }
        if let Some(code) = text(detail, "errorCode") {
            return Ok(Self::Ignored(format!(
                "{event_name} failed ({code}), so nothing changed"
            )));
        }
        let role_name = detail
            .get("requestParameters")
            .and_then(|p| text(p, "roleName"))
            .ok_or_else(|| invalid("it has no `detail.requestParameters.roleName`"))?;
        let role_name = RoleName::parse(role_name)
            .map_err(|e| InvalidRoleEvent(format!("its role name {e}")))?;
        Ok(Self::Role(RoleHint {
            account: account.to_owned(),
            role_name,
            event_name: event_name.to_owned(),
            event_id: text(event, "id").unwrap_or_default().to_owned(),
        }))
    }
}

fn text<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    /// A `CreateRole` call as EventBridge delivers it: the envelope of "Amazon
    /// EventBridge events" around a CloudTrail record with the fields of "CloudTrail
    /// record contents", for the call of the IAM API reference's `CreateRole`.
    fn create_role() -> Value {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.iam",
            "account": "111122223333",
            "time": "2026-12-04T10:23:43Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "eventVersion": "1.09",
                "userIdentity": {
                    "type": "AssumedRole",
                    "principalId": "AROAEXAMPLEID:ci-job",
                    "arn": "arn:aws:sts::111122223333:assumed-role/Deployer/ci-job",
                    "accountId": "111122223333"
                },
                "eventTime": "2026-12-04T10:23:41Z",
                "eventSource": "iam.amazonaws.com",
                "eventName": "CreateRole",
                "awsRegion": "us-east-1",
                "sourceIPAddress": "198.51.100.7",
                "userAgent": "aws-cli/2.15.0",
                "requestParameters": {
                    "roleName": "deploy-web",
                    "path": "/entra-federated/",
                    "assumeRolePolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[]}",
                    "tags": [{"key": "entra-federated-role:federate", "value": "true"}]
                },
                "responseElements": {
                    "role": {
                        "path": "/entra-federated/",
                        "roleName": "deploy-web",
                        "roleId": "AROAEXAMPLEROLEID1234",
                        "arn": "arn:aws:iam::111122223333:role/entra-federated/deploy-web",
                        "createDate": "Dec 4, 2026, 10:23:41 AM"
                    }
                },
                "requestID": "1f6c5e9a-0b3c-4b1a-9a4e-2f7d8e3c1a20",
                "eventID": "0d4bb7f1-6f8a-4b7d-9c2e-5a1b3c4d5e6f",
                "readOnly": false,
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": "111122223333",
                "eventCategory": "Management"
            }
        })
    }

    fn with(mut event: Value, pointer: &str, value: Value) -> Value {
        *event
            .pointer_mut(pointer)
            .expect("the fixture has the field") = value;
        event
    }

    #[test]
    fn a_create_role_names_its_role_and_account() {
        assert_eq!(
            RoleEvent::parse(&create_role()),
            Ok(RoleEvent::Role(RoleHint {
                account: "111122223333".to_owned(),
                role_name: RoleName::parse("deploy-web").unwrap(),
                event_name: "CreateRole".to_owned(),
                event_id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718".to_owned(),
            }))
        );
    }

    #[rstest]
    fn every_role_call_is_a_hint(#[values(0, 1, 2, 3, 4, 5, 6, 7, 8)] i: usize) {
        let name = ROLE_EVENT_NAMES[i];
        // `DeleteRole` and the others carry only the role's name in their parameters.
        let event = with(create_role(), "/detail/eventName", json!(name));
        let event = with(
            event,
            "/detail/requestParameters",
            json!({"roleName": "deploy-web"}),
        );
        let event = with(event, "/detail/responseElements", Value::Null);
        assert!(
            matches!(RoleEvent::parse(&event), Ok(RoleEvent::Role(hint)) if hint.event_name == name)
        );
    }

    #[test]
    fn the_china_regions_spelling_is_read() {
        let event = with(
            create_role(),
            "/detail-type",
            json!("Amazon API Call via CloudTrail"),
        );
        assert!(matches!(RoleEvent::parse(&event), Ok(RoleEvent::Role(_))));
    }

    #[test]
    fn calls_that_change_no_role_are_ignored() {
        let other_call = with(create_role(), "/detail/eventName", json!("CreateUser"));
        let mut failed_call = create_role();
        failed_call["detail"]["errorCode"] = json!("EntityAlreadyExists");
        assert_eq!(
            RoleEvent::parse(&other_call),
            Ok(RoleEvent::Ignored(
                "CreateUser does not change a role's federation".to_owned()
            ))
        );
        assert_eq!(
            RoleEvent::parse(&failed_call),
            Ok(RoleEvent::Ignored(
                "CreateRole failed (EntityAlreadyExists), so nothing changed".to_owned()
            ))
        );
    }

    #[rstest]
    #[case::custom_source("/source", json!("contoso.iam"), "`source`")]
    #[case::other_detail_type("/detail-type", json!("Scheduled Event"), "`detail-type`")]
    #[case::no_account("/account", Value::Null, "`account`")]
    #[case::short_account("/account", json!("11112222333"), "`account`")]
    #[case::other_service("/detail/eventSource", json!("sts.amazonaws.com"), "`detail.eventSource`")]
    #[case::another_accounts_record("/detail/recipientAccountId", json!("444455556666"), "`detail.recipientAccountId`")]
    #[case::no_event_name("/detail/eventName", Value::Null, "`detail.eventName`")]
    #[case::no_role_name(
        "/detail/requestParameters",
        Value::Null,
        "`detail.requestParameters.roleName`"
    )]
    #[case::invalid_role_name("/detail/requestParameters/roleName", json!("a role"), "role name")]
    #[case::no_detail("/detail", json!("CreateRole"), "`detail`")]
    fn anything_else_is_refused_with_what_is_wrong(
        #[case] pointer: &str,
        #[case] value: Value,
        #[case] wrong: &str,
    ) {
        let event = with(create_role(), pointer, value);
        let error = RoleEvent::parse(&event).unwrap_err().to_string();
        assert!(error.contains(wrong), "{error}");
    }
}
