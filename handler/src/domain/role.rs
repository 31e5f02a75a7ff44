//! The desired IAM role: everything CreateRole and the converge calls need, derived
//! purely from the properties, the trust policy and the ownership markers.

use super::{
    InlinePolicy, MaxSessionDuration, PolicyArn, Properties, RoleDescription, RoleName, RolePath,
    ownership::Ownership,
};

/// The role as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    /// Its name.
    pub name: RoleName,
    /// Its path.
    pub path: RolePath,
    /// Its description.
    pub description: Option<RoleDescription>,
    /// The trust policy JSON.
    pub trust_policy: String,
    /// Attached managed policies.
    pub managed_policy_arns: Vec<PolicyArn>,
    /// Inline policies.
    pub inline_policies: Vec<InlinePolicy>,
    /// Permissions boundary.
    pub permissions_boundary: Option<PolicyArn>,
    /// Maximum session duration.
    pub max_session_duration: MaxSessionDuration,
    /// The user's tags followed by our ownership markers.
    pub tags: Vec<(String, String)>,
    /// Whose role it is.
    pub ownership: Ownership,
}

impl RoleSpec {
    /// The role for `properties`, named `name`, trusting per `trust_policy`.
    pub fn new(
        properties: &Properties,
        name: RoleName,
        trust_policy: String,
        ownership: Ownership,
    ) -> Self {
        let mut tags: Vec<(String, String)> = properties
            .tags
            .iter()
            .map(|tag| (tag.key.as_str().to_owned(), tag.value.as_str().to_owned()))
            .collect();
        tags.extend(ownership.tags());
        Self {
            name,
            path: properties.role_path.clone(),
            description: properties.description.clone(),
            trust_policy,
            managed_policy_arns: properties.managed_policy_arns.clone(),
            inline_policies: properties.policies.clone(),
            permissions_boundary: properties.permissions_boundary.clone(),
            max_session_duration: properties.max_session_duration,
            tags,
            ownership,
        }
    }

    /// The role's ARN in `account`.
    pub fn arn(&self, partition: &str, account: &str) -> String {
        format!(
            "arn:{partition}:iam::{account}:role{}{}",
            self.path, self.name
        )
    }
}
