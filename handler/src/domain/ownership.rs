//! Who owns what (DESIGN §2, §5): the target account read from the request's `StackId`,
//! the generation a resource belongs to, and the markers put on everything we create.
//!
//! A generation is keyed on the stack, the logical id and the replacement-triggering
//! properties, so a replacement (new generation) never shares a role or an Entra app with
//! the generation CloudFormation deletes afterwards.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{ReplacementKey, RoleName};

/// Tag key marking an object as made by this resource (value [`MANAGED_BY_VALUE`]).
pub const TAG_MANAGED_BY: &str = "entra-federated-role:managed-by";
/// Value of [`TAG_MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "entra-federated-role";
/// Tag key holding the generation key.
pub const TAG_GENERATION: &str = "entra-federated-role:generation";
/// Tag key holding the stack id.
pub const TAG_STACK_ID: &str = "entra-federated-role:stack-id";
/// Tag key holding the logical resource id.
pub const TAG_LOGICAL_ID: &str = "entra-federated-role:logical-id";
/// Tag key holding the account the resource's role lives in (on the Entra application,
/// which is not in that account).
pub const TAG_ACCOUNT: &str = "entra-federated-role:account";

/// Tag key (on the Entra application of a role made outside CloudFormation) holding the
/// role's account and lower-case name, `<account>/<name>`.
pub const TAG_ROLE: &str = "entra-federated-role:role";
/// Tag key (on the Entra application of a role made outside CloudFormation) holding the
/// role's unique id.
pub const TAG_ROLE_ID: &str = "entra-federated-role:role-id";
/// Tag key (on the Entra application of a role made outside CloudFormation) holding the
/// role's name as it was made.
pub const TAG_ROLE_NAME: &str = "entra-federated-role:role-name";

/// A CloudFormation stack ARN: `arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackArn {
    /// The whole ARN.
    pub arn: String,
    /// `aws`, `aws-cn`, `aws-us-gov`, …
    pub partition: String,
    /// The stack's region.
    pub region: String,
    /// The account the stack lives in: the only account we ever write to for it.
    pub account: String,
    /// The stack's name.
    pub name: String,
}

/// A `StackId` that is not a stack ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("StackId `{0}` is not a CloudFormation stack ARN")]
pub struct InvalidStackId(String);

impl StackArn {
    /// Parses a `StackId`.
    pub fn parse(stack_id: &str) -> Result<Self, InvalidStackId> {
        let invalid = || InvalidStackId(stack_id.chars().take(128).collect());
        let parts: Vec<&str> = stack_id.splitn(6, ':').collect();
        let [
            "arn",
            partition,
            "cloudformation",
            region,
            account,
            resource,
        ] = parts.as_slice()
        else {
            return Err(invalid());
        };
        let mut resource = resource.splitn(3, '/');
        let (Some("stack"), Some(name), Some(id)) =
            (resource.next(), resource.next(), resource.next())
        else {
            return Err(invalid());
        };
        let ok = partition.starts_with("aws")
            && !region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && !name.is_empty()
            && !id.is_empty();
        if !ok {
            return Err(invalid());
        }
        Ok(Self {
            arn: stack_id.to_owned(),
            partition: (*partition).to_owned(),
            region: (*region).to_owned(),
            account: (*account).to_owned(),
            name: name.to_owned(),
        })
    }
}

/// The generation key: stable for a resource until a replacement-triggering property
/// changes. 20 hex digits of SHA-256 (80 bits).
pub fn generation_key(stack_id: &str, logical_id: &str, key: &ReplacementKey) -> String {
    let mut hash = Sha256::new();
    hash.update(stack_id.as_bytes());
    hash.update([0]);
    hash.update(logical_id.as_bytes());
    hash.update([0]);
    hash.update(serde_json::to_vec(key).expect("the replacement key serialises"));
    let digest = hash.finalize();
    digest.iter().take(10).map(|b| format!("{b:02x}")).collect()
}

/// The generation key of a role made outside CloudFormation (DESIGN §9): its account and
/// unique id, which IAM never gives another role. 20 hex digits of SHA-256, like
/// [`generation_key`], from an input no stack resource can produce.
pub fn adopted_generation_key(account: &str, role_id: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"adopted-role\0");
    hash.update(account.as_bytes());
    hash.update([0]);
    hash.update(role_id.as_bytes());
    let digest = hash.finalize();
    digest.iter().take(10).map(|b| format!("{b:02x}")).collect()
}

/// The role name used when `RoleName` is absent: deterministic per generation, like
/// CloudFormation's own generated names (`<stack>-<logical id>-<suffix>`), ≤ 64 chars.
pub fn default_role_name(stack: &StackArn, logical_id: &str, generation: &str) -> RoleName {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(max)
            .collect()
    };
    let name = format!(
        "{}-{}-{}",
        clean(&stack.name, 20),
        clean(logical_id, 20),
        &generation[..generation.len().min(12)]
    );
    RoleName::parse(&name).expect("a generated name is always a valid role name")
}

/// The markers of one resource generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// The stack's ARN.
    pub stack_id: String,
    /// The logical resource id.
    pub logical_id: String,
    /// The generation key.
    pub generation: String,
}

impl Ownership {
    /// The tags we put on the role (and that prove it is ours).
    pub fn tags(&self) -> Vec<(String, String)> {
        vec![
            (TAG_MANAGED_BY.to_owned(), MANAGED_BY_VALUE.to_owned()),
            (TAG_GENERATION.to_owned(), self.generation.clone()),
            (TAG_STACK_ID.to_owned(), self.stack_id.clone()),
            (TAG_LOGICAL_ID.to_owned(), self.logical_id.clone()),
        ]
    }

    /// Whether `tags` (as read from IAM) mark an object of this generation.
    pub fn owns(&self, tags: &[(String, String)]) -> bool {
        let has = |key: &str, value: &str| tags.iter().any(|(k, v)| k == key && v == value);
        has(TAG_MANAGED_BY, MANAGED_BY_VALUE) && has(TAG_GENERATION, &self.generation)
    }
}

/// Whether `key` is one of our reserved markers.
pub fn is_ownership_tag(key: &str) -> bool {
    key.to_ascii_lowercase()
        .starts_with(super::RESERVED_TAG_PREFIX)
}

/// What asked for an application (or a role): whose it is. Written into the
/// application's tags, read back from them, and shown in the audit's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
pub enum Origin {
    /// A stack's `Custom::EntraFederatedRole`.
    Resource {
        /// The stack's ARN.
        stack_id: String,
        /// The logical resource id.
        logical_id: String,
    },
    /// A role made outside CloudFormation that asked with its tags (DESIGN §9).
    Role {
        /// The role's name.
        name: String,
        /// The role's unique id.
        id: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Properties;
    use serde_json::json;

    const STACK: &str = "arn:aws:cloudformation:eu-west-1:222222222222:stack/ci-roles/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1";

    #[test]
    fn stack_arns_give_partition_region_account_and_name() {
        let stack = StackArn::parse(STACK).unwrap();
        assert_eq!(
            (
                stack.partition.as_str(),
                stack.region.as_str(),
                stack.account.as_str(),
                stack.name.as_str()
            ),
            ("aws", "eu-west-1", "222222222222", "ci-roles")
        );
        let cn =
            StackArn::parse("arn:aws-cn:cloudformation:cn-north-1:333333333333:stack/s/1").unwrap();
        assert_eq!(cn.partition, "aws-cn");
        for bad in [
            "",
            "arn:aws:cloudformation:eu-west-1:2222:stack/s/1",
            "arn:aws:s3:eu-west-1:222222222222:stack/s/1",
            "arn:aws:cloudformation:eu-west-1:222222222222:stackset/s/1",
            "arn:aws:cloudformation:eu-west-1:222222222222:stack/s",
        ] {
            assert!(StackArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generations_change_only_with_replacement_properties() {
        let props = |v| Properties::parse(&v).unwrap().replacement_key();
        let base = generation_key(
            STACK,
            "CiRole",
            &props(json!({"MaxSessionDuration": "3600"})),
        );
        assert_eq!(base.len(), 20);
        assert_eq!(
            base,
            generation_key(
                STACK,
                "CiRole",
                &props(json!({"MaxSessionDuration": "7200"}))
            )
        );
        assert_ne!(
            base,
            generation_key(STACK, "CiRole", &props(json!({"TokenVersion": "2"})))
        );
        assert_ne!(
            base,
            generation_key(STACK, "CiRole", &props(json!({"RolePath": "/ci/"})))
        );
        assert_ne!(base, generation_key(STACK, "Other", &props(json!({}))));
    }

    #[test]
    fn a_role_made_again_under_its_name_is_another_generation() {
        let first = adopted_generation_key("222222222222", "AROAFIRSTINCARNATION1");
        assert_eq!(first.len(), 20);
        assert_eq!(
            first,
            adopted_generation_key("222222222222", "AROAFIRSTINCARNATION1")
        );
        assert_ne!(
            first,
            adopted_generation_key("222222222222", "AROASECONDINCARNATIO")
        );
        assert_ne!(
            first,
            adopted_generation_key("333333333333", "AROAFIRSTINCARNATION1")
        );
    }

    #[test]
    fn default_role_names_are_valid_and_deterministic() {
        let stack = StackArn::parse(STACK).unwrap();
        let name = default_role_name(&stack, "CiRole", "0123456789abcdef0123");
        assert_eq!(name.as_str(), "ci-roles-CiRole-0123456789ab");
        let long = StackArn::parse(&STACK.replace("ci-roles", &"x".repeat(128))).unwrap();
        assert!(
            default_role_name(&long, &"L".repeat(255), "0123456789abcdef0123")
                .as_str()
                .len()
                <= 64
        );
    }

    #[test]
    fn ownership_needs_the_marker_and_the_generation() {
        let ours = Ownership {
            stack_id: STACK.into(),
            logical_id: "CiRole".into(),
            generation: "g1".into(),
        };
        assert!(ours.owns(&ours.tags()));
        let other_generation = Ownership {
            generation: "g2".into(),
            ..ours.clone()
        };
        assert!(!ours.owns(&other_generation.tags()));
        assert!(!ours.owns(&[(TAG_GENERATION.into(), "g1".into())]));
        assert!(is_ownership_tag("Entra-Federated-Role:generation"));
        assert!(!is_ownership_tag("team"));
    }
}
