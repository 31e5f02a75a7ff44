//! Pure domain types: the `Custom::EntraFederatedRole` property contract (DESIGN §3)
//! parsed into validated values, and what an event does with them, planned before any
//! call is made.
//!
//! [`Properties::parse`] turns CloudFormation's `ResourceProperties` JSON into
//! [`Properties`] ("parse, don't validate"): its fields are newtypes such as [`RoleName`],
//! [`PolicyArn`], [`Tag`] or [`FederatedCredential`] that can only hold values IAM and
//! Entra ID accept, so later layers never check them again. Every problem is reported at
//! once in [`PropertyErrors`], each [`PropertyError`] naming the property path (e.g.
//! `FederatedCredentials[2].Name`) and saying how to fix the value.
//! [`Properties::replacement_key`] is the part of the properties that decides the resource
//! generation (DESIGN §5); [`plan::plan_update`] tells an in-place update from a
//! replacement, an impossible replacement and the rollback of a failed one;
//! [`role::role_writes`] plans the writes that bring a role in line, and
//! [`credentials::credential_writes`] those that bring an application's federated
//! credentials in line, [`app_role::app_role_writes`] its app role.
//!
//! This module owns pure, validated types only: no SDK types, no I/O, no clock, no
//! randomness. It must not import `crate::cfn` or any adapter (`aws`, `graph`); those depend
//! on it, never the other way round.

/// Declares a validated string newtype: private field, `as_str`, `AsRef<str>`, `Display`,
/// and a transparent `Serialize`. The fallible constructor is written by hand next to it.
macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub mod adoption;
pub mod app_role;
pub mod audit;
pub mod caller;
pub mod credentials;
mod entra;
mod error;
pub mod federation;
pub mod guardrails;
mod iam;
pub mod ownership;
pub mod plan;
mod properties;
pub mod record;
pub mod role;
pub mod role_event;
pub mod trust;

pub use entra::{
    AppId, Audience, CredentialDescription, CredentialName, DEFAULT_AUDIENCE, DisplayName,
    FederatedCredential, Issuer, MAX_CREDENTIAL_FIELD_CHARS, MAX_CREDENTIAL_NAME_CHARS,
    MAX_DISPLAY_NAME_CHARS, MAX_FEDERATED_CREDENTIALS, MIN_CREDENTIAL_NAME_CHARS, Subject,
    TokenVersion, is_guid,
};
pub use error::{InvalidValue, MAX_ECHO_CHARS, PropertyError, PropertyErrors};
pub use federation::Cloud;
pub use iam::{
    AWS_TAG_PREFIX, InlinePolicy, MAX_INLINE_POLICIES_SIZE, MAX_MANAGED_POLICIES,
    MAX_POLICY_NAME_CHARS, MAX_ROLE_DESCRIPTION_CHARS, MAX_ROLE_NAME_CHARS, MAX_ROLE_PATH_CHARS,
    MAX_SESSION_SECONDS, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, MAX_USER_TAGS,
    MIN_SESSION_SECONDS, MaxSessionDuration, PARTITIONS, PolicyArn, PolicyDocument, PolicyName,
    RESERVED_TAG_PREFIX, RoleDescription, RoleName, RolePath, Tag, TagKey, TagValue,
};
pub(crate) use properties::suggestion;
pub use properties::{CLOUDFORMATION_PROPERTIES, PROPERTY_NAMES, Properties, ReplacementKey};
