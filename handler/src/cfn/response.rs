//! The response body CloudFormation reads from its bucket, always within 4096 bytes.
//!
//! A `FAILED` reason that would not fit is shortened in the middle: its start says what
//! failed and its end carries the root cause, so both survive. A `SUCCESS` whose `Data`
//! would not fit becomes a `FAILED` that says so (CloudFormation would reject it anyway).

use std::collections::BTreeMap;

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceResponse, CloudFormationCustomResourceResponseStatus,
};

use super::request::Envelope;

/// CloudFormation's limit on the whole response body.
pub const MAX_BODY_BYTES: usize = 4096;
/// CloudFormation's limit on a physical resource id ("up to 1 KB").
pub const MAX_PHYSICAL_ID_BYTES: usize = 1024;
/// Inserted where a reason was cut.
const ELLIPSIS: &str = " […] ";

/// What we answer, before it is fitted into a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The operation succeeded.
    Success {
        /// The resource's physical id.
        physical_resource_id: String,
        /// Attributes for `Fn::GetAtt`.
        data: BTreeMap<String, String>,
        /// Mask `Data` in `Fn::GetAtt` output.
        no_echo: bool,
    },
    /// The operation failed.
    Failed {
        /// The physical id to report (the request's, or a failed-create id).
        physical_resource_id: String,
        /// Why: the error chain, outermost first.
        reason: String,
        /// The innermost cause, kept when the reason has to be shortened.
        root_cause: String,
    },
}

impl Answer {
    /// `"SUCCESS"` or `"FAILED"`, as in the body.
    pub fn status(&self) -> &'static str {
        match self {
            Answer::Success { .. } => "SUCCESS",
            Answer::Failed { .. } => "FAILED",
        }
    }
}

/// Serialises `answer` for `envelope` into at most [`MAX_BODY_BYTES`] bytes.
///
/// Returns the body and the answer actually sent (a `SUCCESS` too large to send, or with
/// an invalid physical id, turns into a `FAILED` explaining why).
pub fn body(envelope: &Envelope, answer: Answer) -> (Vec<u8>, Answer) {
    let answer = match answer {
        Answer::Success {
            ref physical_resource_id,
            ..
        } if physical_resource_id.is_empty()
            || physical_resource_id.len() > MAX_PHYSICAL_ID_BYTES =>
        {
            let reason = format!(
                "internal error: the resource returned a physical id of {} bytes; \
                 CloudFormation needs 1 to {MAX_PHYSICAL_ID_BYTES}",
                physical_resource_id.len()
            );
            failed(envelope, reason)
        }
        other => other,
    };
    let json = serialise(envelope, &answer);
    if json.len() <= MAX_BODY_BYTES {
        return (json, answer);
    }
    match answer {
        Answer::Success {
            physical_resource_id,
            ..
        } => {
            let reason = format!(
                "the response is {} bytes with its Data; CloudFormation accepts at most \
                 {MAX_BODY_BYTES}: report fewer or shorter attributes",
                json.len()
            );
            let answer = Answer::Failed {
                root_cause: reason.clone(),
                reason,
                physical_resource_id,
            };
            body(envelope, answer)
        }
        Answer::Failed {
            physical_resource_id,
            reason,
            root_cause,
        } => fit_failed(envelope, physical_resource_id, &reason, &root_cause),
    }
}

fn failed(envelope: &Envelope, reason: String) -> Answer {
    Answer::Failed {
        physical_resource_id: envelope.physical_resource_id.clone().unwrap_or_default(),
        root_cause: reason.clone(),
        reason,
    }
}

/// Shortens the reason until the body fits. Each round removes at least the overflow
/// (measured in escaped bytes), so this ends in a few rounds.
fn fit_failed(
    envelope: &Envelope,
    physical_resource_id: String,
    reason: &str,
    root_cause: &str,
) -> (Vec<u8>, Answer) {
    let mut budget = reason.len();
    loop {
        let shortened = shorten_keeping_ends(reason, root_cause, budget);
        let answer = Answer::Failed {
            physical_resource_id: physical_resource_id.clone(),
            reason: shortened,
            root_cause: root_cause.to_owned(),
        };
        let json = serialise(envelope, &answer);
        if json.len() <= MAX_BODY_BYTES || budget == 0 {
            return (json, answer);
        }
        budget = budget
            .saturating_sub(json.len() - MAX_BODY_BYTES)
            .min(budget - 1);
    }
}

/// At most `budget` bytes of `reason` (plus the marker): its start, then its end, the
/// end covering the root cause when the root cause takes at most two thirds of the room.
pub fn shorten_keeping_ends(reason: &str, root_cause: &str, budget: usize) -> String {
    if reason.len() <= budget {
        return reason.to_owned();
    }
    let tail_budget = if root_cause.len() <= budget * 2 / 3 && reason.ends_with(root_cause) {
        root_cause.len()
    } else {
        budget / 2
    };
    let head = prefix_within(reason, budget - tail_budget);
    let tail = suffix_within(reason, tail_budget);
    format!("{head}{ELLIPSIS}{tail}")
}

fn prefix_within(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn suffix_within(s: &str, max: usize) -> &str {
    let mut start = s.len() - max.min(s.len());
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn serialise(envelope: &Envelope, answer: &Answer) -> Vec<u8> {
    let mut response = CloudFormationCustomResourceResponse::default();
    response.stack_id = envelope.stack_id.clone().unwrap_or_default();
    response.request_id = envelope.request_id.clone().unwrap_or_default();
    response.logical_resource_id = envelope.logical_resource_id.clone().unwrap_or_default();
    match answer {
        Answer::Success {
            physical_resource_id,
            data,
            no_echo,
        } => {
            response.status = CloudFormationCustomResourceResponseStatus::Success;
            response.physical_resource_id = physical_resource_id.clone();
            response.data = data.clone().into_iter().collect();
            response.no_echo = *no_echo;
        }
        Answer::Failed {
            physical_resource_id,
            reason,
            ..
        } => {
            response.status = CloudFormationCustomResourceResponseStatus::Failed;
            response.physical_resource_id = physical_resource_id.clone();
            response.reason = Some(reason.clone());
        }
    }
    serde_json::to_vec(&response).expect("a response of strings always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    fn envelope() -> Envelope {
        Envelope {
            request_type: Some("Create".into()),
            response_url: Some("https://example/x".into()),
            stack_id: Some("arn:aws:cloudformation:eu-west-1:222222222222:stack/s/1".into()),
            request_id: Some("req-1".into()),
            logical_resource_id: Some("CiRole".into()),
            physical_resource_id: None,
        }
    }

    fn parse(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn success_copies_the_envelope_and_data() {
        let answer = Answer::Success {
            physical_resource_id: "pid".into(),
            data: BTreeMap::from([("RoleArn".to_owned(), "arn:x".to_owned())]),
            no_echo: false,
        };
        let (body, sent) = body(&envelope(), answer.clone());
        assert_eq!(sent, answer);
        assert_eq!(
            parse(&body),
            json!({
                "Status": "SUCCESS", "Reason": null, "PhysicalResourceId": "pid",
                "StackId": "arn:aws:cloudformation:eu-west-1:222222222222:stack/s/1",
                "RequestId": "req-1", "LogicalResourceId": "CiRole", "NoEcho": false,
                "Data": {"RoleArn": "arn:x"}
            })
        );
    }

    #[test]
    fn a_long_reason_is_cut_in_the_middle_keeping_start_and_root_cause() {
        let root = "AccessDenied: not authorized to perform iam:CreateRole";
        let reason = format!("creating the role: {}: {root}", "x".repeat(10_000));
        let answer = Answer::Failed {
            physical_resource_id: "pid".into(),
            reason,
            root_cause: root.into(),
        };
        let (body, _) = body(&envelope(), answer);
        assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
        assert!(
            body.len() > MAX_BODY_BYTES - 64,
            "the room is used: {}",
            body.len()
        );
        let sent = parse(&body)["Reason"].as_str().unwrap().to_owned();
        assert!(sent.starts_with("creating the role: xxx"), "{sent}");
        assert!(sent.ends_with(root), "{sent}");
        assert!(sent.contains("[…]"));
    }

    #[test]
    fn escaping_is_counted_against_the_limit() {
        // Every quote and control character doubles or worse when escaped.
        let reason = "\"\u{1}".repeat(3000);
        let answer = Answer::Failed {
            physical_resource_id: "pid".into(),
            root_cause: reason.clone(),
            reason,
        };
        let (body, _) = body(&envelope(), answer);
        assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
    }

    #[test]
    fn multibyte_reasons_are_cut_on_char_boundaries() {
        let reason = "é€😀".repeat(2000);
        let answer = Answer::Failed {
            physical_resource_id: "pid".into(),
            root_cause: "😀".into(),
            reason,
        };
        let (body, _) = body(&envelope(), answer);
        assert!(body.len() <= MAX_BODY_BYTES);
        assert!(parse(&body)["Reason"].as_str().unwrap().ends_with('😀'));
    }

    #[test]
    fn oversized_data_turns_into_a_clear_failure() {
        let data = (0..100)
            .map(|i| (format!("Attr{i}"), "v".repeat(100)))
            .collect();
        let answer = Answer::Success {
            physical_resource_id: "pid".into(),
            data,
            no_echo: false,
        };
        let (body, sent) = body(&envelope(), answer);
        assert!(body.len() <= MAX_BODY_BYTES);
        assert_eq!(sent.status(), "FAILED");
        let json = parse(&body);
        assert_eq!(json["PhysicalResourceId"], "pid");
        assert!(json["Reason"].as_str().unwrap().contains("at most 4096"));
    }

    #[test]
    fn an_empty_or_huge_physical_id_is_refused() {
        for id in [String::new(), "p".repeat(MAX_PHYSICAL_ID_BYTES + 1)] {
            let answer = Answer::Success {
                physical_resource_id: id,
                data: BTreeMap::new(),
                no_echo: false,
            };
            let (body, sent) = body(&envelope(), answer);
            assert_eq!(sent.status(), "FAILED");
            assert!(
                parse(&body)["Reason"]
                    .as_str()
                    .unwrap()
                    .contains("physical id")
            );
        }
    }

    #[test]
    fn shortening_without_a_matching_root_cause_keeps_both_halves() {
        let out = shorten_keeping_ends("abcdefghij", "zzz", 4);
        assert_eq!(out, format!("ab{ELLIPSIS}ij"));
        assert_eq!(shorten_keeping_ends("short", "short", 100), "short");
    }
}
