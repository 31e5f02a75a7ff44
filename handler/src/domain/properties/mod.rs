//! [`Properties`]: the whole property contract of `Custom::EntraFederatedRole`
//! (DESIGN §3), parsed from CloudFormation's `ResourceProperties` JSON.
//!
//! CloudFormation stringifies numbers and booleans, other senders (moto, tests) do not, so
//! every scalar is read from a JSON string, number or boolean alike; lists are JSON arrays
//! and nested records JSON objects; a JSON `null` means the property is absent. Unknown
//! properties and unknown keys of list items are errors, with a suggestion for near misses.
//! All errors are collected, not just the first.

mod parser;
mod suggest;
#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::{Map, Value};

use self::parser::{Parser, field, parse_bool};
pub(crate) use self::suggest::suggestion;
use super::entra::{AppId, DisplayName, FederatedCredential, TokenVersion};
use super::error::{PropertyError, PropertyErrors, kind};
use super::iam::{
    InlinePolicy, MaxSessionDuration, PolicyArn, RoleDescription, RoleName, RolePath, Tag,
};

pub(crate) const ROLE_NAME: &str = "RoleName";
pub(crate) const ROLE_PATH: &str = "RolePath";
pub(crate) const DESCRIPTION: &str = "Description";
pub(crate) const MANAGED_POLICY_ARNS: &str = "ManagedPolicyArns";
pub(crate) const POLICIES: &str = "Policies";
pub(crate) const PERMISSIONS_BOUNDARY: &str = "PermissionsBoundary";
pub(crate) const MAX_SESSION_DURATION: &str = "MaxSessionDuration";
pub(crate) const TAGS: &str = "Tags";
pub(crate) const APPLICATION_DISPLAY_NAME: &str = "ApplicationDisplayName";
pub(crate) const FEDERATED_CREDENTIALS: &str = "FederatedCredentials";
pub(crate) const TRUSTED_CLIENT_APP_IDS: &str = "TrustedClientAppIds";
pub(crate) const REQUIRE_APP_ROLE_ASSIGNMENT: &str = "RequireAppRoleAssignment";
pub(crate) const TOKEN_VERSION: &str = "TokenVersion";

/// The properties of `Custom::EntraFederatedRole`, in the order of DESIGN §3.
pub const PROPERTY_NAMES: [&str; 13] = [
    ROLE_NAME,
    ROLE_PATH,
    DESCRIPTION,
    MANAGED_POLICY_ARNS,
    POLICIES,
    PERMISSIONS_BOUNDARY,
    MAX_SESSION_DURATION,
    TAGS,
    APPLICATION_DISPLAY_NAME,
    FEDERATED_CREDENTIALS,
    TRUSTED_CLIENT_APP_IDS,
    REQUIRE_APP_ROLE_ASSIGNMENT,
    TOKEN_VERSION,
];

/// CloudFormation's own entries of `ResourceProperties`: accepted and ignored.
pub const CLOUDFORMATION_PROPERTIES: [&str; 2] = ["ServiceToken", "ServiceTimeout"];

const POLICY_KEYS: [&str; 2] = ["PolicyName", "PolicyDocument"];
const TAG_KEYS: [&str; 2] = ["Key", "Value"];
const CREDENTIAL_KEYS: [&str; 5] = ["Name", "Issuer", "Subject", "Audiences", "Description"];

/// The validated properties of one `Custom::EntraFederatedRole` (DESIGN §3).
///
/// Built only by [`Properties::parse`] (or [`Default`], the properties of an empty
/// template entry), so every field holds a value IAM and Entra accept. Serializes with the
/// contract's property names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    /// `RoleName`; absent: generated, deterministic per generation.
    pub role_name: Option<RoleName>,
    /// `RolePath`, default `/`.
    pub role_path: RolePath,
    /// `Description` of the role; an empty string counts as absent.
    pub description: Option<RoleDescription>,
    /// `ManagedPolicyArns`: at most 20, no duplicates.
    pub managed_policy_arns: Vec<PolicyArn>,
    /// `Policies`: inline policies with unique names.
    pub policies: Vec<InlinePolicy>,
    /// `PermissionsBoundary`.
    pub permissions_boundary: Option<PolicyArn>,
    /// `MaxSessionDuration`, default 3600 seconds.
    pub max_session_duration: MaxSessionDuration,
    /// `Tags`: at most [`MAX_USER_TAGS`], unique keys, no reserved prefix.
    pub tags: Vec<Tag>,
    /// `ApplicationDisplayName`; absent: derived from stack name and logical id.
    pub application_display_name: Option<DisplayName>,
    /// `FederatedCredentials`: at most 20, unique names and issuer/subject pairs.
    pub federated_credentials: Vec<FederatedCredential>,
    /// `TrustedClientAppIds`: lowercase GUIDs, no duplicates; empty with token version 2.
    pub trusted_client_app_ids: Vec<AppId>,
    /// `RequireAppRoleAssignment`, default false.
    pub require_app_role_assignment: bool,
    /// `TokenVersion`, default 1.
    pub token_version: TokenVersion,
}

/// The properties whose change requires a replacement, i.e. a new generation (DESIGN §5):
/// `RoleName`, `RolePath` and `TokenVersion`.
///
/// Serializes (JSON, fixed field order) to a stable form that can be hashed together with
/// the stack id and logical id into the generation key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplacementKey {
    /// `RoleName` (absent: generated per generation).
    pub role_name: Option<RoleName>,
    /// `RolePath`.
    pub role_path: RolePath,
    /// `TokenVersion`.
    pub token_version: TokenVersion,
}

impl Properties {
    /// Parses CloudFormation's `ResourceProperties` JSON object (`null` counts as an empty
    /// object), reporting every invalid value at once.
    pub fn parse(value: &Value) -> Result<Self, PropertyErrors> {
        let empty = Map::new();
        let map = match value {
            Value::Null => &empty,
            Value::Object(map) => map,
            other => {
                return Err(PropertyError::new(
                    "ResourceProperties",
                    format!(
                        "expected an object of properties, found {}; give the properties as a mapping",
                        kind(other)
                    ),
                )
                .into());
            }
        };
        let mut p = Parser::default();
        p.unknown_keys("", map, &PROPERTY_NAMES, &CLOUDFORMATION_PROPERTIES);

        let role_name = field(map, ROLE_NAME).and_then(|v| p.scalar(ROLE_NAME, v, RoleName::parse));
        let role_path = field(map, ROLE_PATH)
            .and_then(|v| p.scalar(ROLE_PATH, v, RolePath::parse))
            .unwrap_or_default();
        let description = field(map, DESCRIPTION)
            .and_then(|v| p.scalar(DESCRIPTION, v, RoleDescription::parse))
            .filter(|description| !description.as_str().is_empty());
        let managed_policy_arns = p.managed_policy_arns(field(map, MANAGED_POLICY_ARNS));
        let policies = p.policies(field(map, POLICIES));
        let permissions_boundary = field(map, PERMISSIONS_BOUNDARY)
            .and_then(|v| p.scalar(PERMISSIONS_BOUNDARY, v, PolicyArn::parse));
        let max_session_duration = field(map, MAX_SESSION_DURATION)
            .and_then(|v| p.scalar(MAX_SESSION_DURATION, v, MaxSessionDuration::parse))
            .unwrap_or_default();
        let tags = p.tags(field(map, TAGS));
        let application_display_name = field(map, APPLICATION_DISPLAY_NAME)
            .and_then(|v| p.scalar(APPLICATION_DISPLAY_NAME, v, DisplayName::parse));
        let federated_credentials = p.federated_credentials(field(map, FEDERATED_CREDENTIALS));
        let trusted_client_app_ids = p.trusted_client_app_ids(field(map, TRUSTED_CLIENT_APP_IDS));
        let require_app_role_assignment = field(map, REQUIRE_APP_ROLE_ASSIGNMENT)
            .and_then(|v| p.scalar(REQUIRE_APP_ROLE_ASSIGNMENT, v, parse_bool))
            .unwrap_or(false);
        let token_version = field(map, TOKEN_VERSION)
            .and_then(|v| p.scalar(TOKEN_VERSION, v, TokenVersion::parse))
            .unwrap_or_default();

        let has_trusted_clients = field(map, TRUSTED_CLIENT_APP_IDS)
            .and_then(Value::as_array)
            .is_some_and(|ids| !ids.is_empty());
        if token_version == TokenVersion::V2 && has_trusted_clients {
            p.error(
                TRUSTED_CLIENT_APP_IDS,
                "with `TokenVersion` 2 only the application itself can assume the role (STS matches the token's `azp` claim, the caller, against the audience), so trusted clients would be refused; use `TokenVersion` 1 or remove `TrustedClientAppIds`",
            );
        }

        p.finish(Self {
            role_name,
            role_path,
            description,
            managed_policy_arns,
            policies,
            permissions_boundary,
            max_session_duration,
            tags,
            application_display_name,
            federated_credentials,
            trusted_client_app_ids,
            require_app_role_assignment,
            token_version,
        })
    }

    /// The replacement key alone, read leniently: for a Delete whose other properties
    /// no longer parse (DESIGN §5 "Delete never fails on validation"). `None` when one
    /// of the three is itself invalid.
    pub fn recover_replacement_key(value: &Value) -> Option<ReplacementKey> {
        let map = value.as_object()?;
        let mut p = Parser::default();
        let role_name = field(map, ROLE_NAME).and_then(|v| p.scalar(ROLE_NAME, v, RoleName::parse));
        let role_path = field(map, ROLE_PATH)
            .and_then(|v| p.scalar(ROLE_PATH, v, RolePath::parse))
            .unwrap_or_default();
        let token_version = field(map, TOKEN_VERSION)
            .and_then(|v| p.scalar(TOKEN_VERSION, v, TokenVersion::parse))
            .unwrap_or_default();
        p.errors.is_empty().then_some(ReplacementKey {
            role_name,
            role_path,
            token_version,
        })
    }

    /// The subset whose change requires replacement (a new generation): `RoleName`,
    /// `RolePath`, `TokenVersion`.
    pub fn replacement_key(&self) -> ReplacementKey {
        ReplacementKey {
            role_name: self.role_name.clone(),
            role_path: self.role_path.clone(),
            token_version: self.token_version,
        }
    }
}
