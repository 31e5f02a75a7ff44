//! CloudFormation events as the tests send them.

use serde_json::{Value, json};

pub const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/ci-roles/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1";
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT: &str = "0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b";

/// A Create of `Custom::EntraFederatedRole` answering to `response_url`.
pub fn create(response_url: &str, properties: Value) -> Value {
    json!({
        "RequestType": "Create",
        "ServiceToken": "arn:aws:lambda:us-east-1:111111111111:function:entra-federated-role",
        "ResponseURL": response_url,
        "StackId": STACK_ID,
        "RequestId": "6d1c7c7f-2f4a-4a7e-9d6e-3b1f1c0a9e21",
        "ResourceType": "Custom::EntraFederatedRole",
        "LogicalResourceId": "CiRole",
        "ResourceProperties": properties,
    })
}

/// An Update of `physical_id` from `old` to `new` properties.
pub fn update(response_url: &str, physical_id: &str, old: Value, new: Value) -> Value {
    let mut event = create(response_url, new);
    event["RequestType"] = json!("Update");
    event["RequestId"] = json!("0b7f3e2a-5d6c-4b8a-9e1f-2a3b4c5d6e7f");
    event["PhysicalResourceId"] = json!(physical_id);
    event["OldResourceProperties"] = old;
    event
}

/// A Delete of `physical_id`.
pub fn delete(response_url: &str, physical_id: &str, properties: Value) -> Value {
    let mut event = create(response_url, properties);
    event["RequestType"] = json!("Delete");
    event["RequestId"] = json!("9c8b7a6f-5e4d-4c3b-8a2f-1e0d9c8b7a6f");
    event["PhysicalResourceId"] = json!(physical_id);
    event
}

/// Properties that satisfy the whole contract.
pub fn valid_properties() -> Value {
    json!({
        "ServiceToken": "arn:aws:lambda:us-east-1:111111111111:function:entra-federated-role",
        "ServiceTimeout": "330",
        "RoleName": "ci-deploy",
        "MaxSessionDuration": "7200",
        "RequireAppRoleAssignment": "false",
        "TokenVersion": "1",
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "Tags": [{"Key": "team", "Value": "platform"}],
        "FederatedCredentials": [{
            "Name": "github-main",
            "Issuer": "https://token.actions.githubusercontent.com",
            "Subject": "repo:contoso/app:ref:refs/heads/main"
        }]
    })
}
