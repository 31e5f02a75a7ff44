//! IAM's role events as the factory receives them: a CloudTrail record of an IAM call, in
//! the envelope EventBridge puts around it ("Amazon EventBridge events"; the record's
//! fields as "CloudTrail record contents" lists them), carried in the body of an SQS
//! message, in the batch Lambda hands the function ("Using Lambda with Amazon SQS"), and
//! the partial batch response the function answers with.

use serde_json::{Value, json};

/// IAM's call `name` on the role `role` of `account`, as EventBridge delivers it.
pub fn iam_event(account: &str, name: &str, role: &str) -> Value {
    json!({
        "version": "0",
        "id": format!("{:08x}-b491-4cf7-a9f1-bf3703467718", fastrand::u32(..)),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": account,
        "time": "2026-12-04T10:23:43Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "eventSource": "iam.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "requestParameters": {"roleName": role},
            "eventType": "AwsApiCall",
            "recipientAccountId": account
        }
    })
}

/// Lambda's SQS batch of `events`, message `i` with the id `message-<i>`.
pub fn sqs_batch(events: &[Value]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            json!({
                "messageId": format!("message-{i}"),
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
                "body": event.to_string(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1733307823000"},
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111111111111:entra-federated-role-events",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The messages a partial batch response asks Lambda to deliver again; `None` when
/// `answer` is no partial batch response.
pub fn batch_failures(answer: &Value) -> Option<Vec<String>> {
    answer["batchItemFailures"].as_array().map(|failures| {
        failures
            .iter()
            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
            .collect()
    })
}
