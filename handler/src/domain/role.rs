//! The IAM role: as wanted ([`RoleSpec`], derived purely from the properties, the trust
//! policy and the ownership markers), as IAM has it ([`RoleState`]), and the writes from
//! one to the other ([`role_writes`]), planned before any is made.

use std::fmt;

use super::{
    InlinePolicy, MaxSessionDuration, PolicyArn, Properties, RoleDescription, RoleName, RolePath,
    ownership::Ownership, trust::same_policy,
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

/// The role as IAM has it (policy documents decoded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleState {
    /// The trust policy JSON.
    pub trust: String,
    /// The description (`None` when empty).
    pub description: Option<String>,
    /// The maximum session duration, in seconds.
    pub max_session: Option<u32>,
    /// The permissions boundary's ARN.
    pub boundary: Option<String>,
    /// Every tag, as key and value.
    pub tags: Vec<(String, String)>,
    /// The ARNs of the attached managed policies.
    pub managed: Vec<String>,
    /// The names of the inline policies.
    pub inline: Vec<String>,
}

impl RoleState {
    /// The role right after `CreateRole` for `spec`: everything but its policies.
    pub fn created(spec: &RoleSpec) -> Self {
        Self {
            trust: spec.trust_policy.clone(),
            description: spec.description.as_ref().map(|d| d.as_str().to_owned()),
            max_session: Some(spec.max_session_duration.seconds()),
            boundary: spec
                .permissions_boundary
                .as_ref()
                .map(|b| b.as_str().to_owned()),
            tags: spec.tags.clone(),
            managed: Vec::new(),
            inline: Vec::new(),
        }
    }
}

/// One IAM write on an existing role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleWrite {
    /// `PutRolePermissionsBoundary`.
    SetBoundary(String),
    /// `DeleteRolePermissionsBoundary`.
    RemoveBoundary,
    /// `UpdateAssumeRolePolicy`.
    SetTrust(String),
    /// `UpdateRole`: the description and the maximum session duration.
    Update {
        /// The description (`None`: cleared).
        description: Option<String>,
        /// The maximum session duration, in seconds.
        max_session: u32,
    },
    /// `TagRole`.
    Tag(Vec<(String, String)>),
    /// `UntagRole`.
    Untag(Vec<String>),
    /// `AttachRolePolicy`.
    Attach(String),
    /// `DetachRolePolicy` (absent is done).
    Detach(String),
    /// `PutRolePolicy`.
    PutInline {
        /// The policy name.
        name: String,
        /// The policy document JSON.
        document: String,
    },
    /// `DeleteRolePolicy` (absent is done).
    DeleteInline(String),
}

impl fmt::Display for RoleWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SetBoundary(arn) => write!(f, "set the permissions boundary {arn}"),
            Self::RemoveBoundary => f.write_str("remove the permissions boundary"),
            Self::SetTrust(_) => f.write_str("set the trust policy"),
            Self::Update {
                description,
                max_session,
            } => write!(
                f,
                "set the description {description:?} and the maximum session {max_session} s"
            ),
            Self::Tag(tags) => {
                let keys: Vec<&str> = tags.iter().map(|(key, _)| key.as_str()).collect();
                write!(f, "tag {}", keys.join(", "))
            }
            Self::Untag(keys) => write!(f, "untag {}", keys.join(", ")),
            Self::Attach(arn) => write!(f, "attach {arn}"),
            Self::Detach(arn) => write!(f, "detach {arn}"),
            Self::PutInline { name, .. } => write!(f, "put the inline policy {name}"),
            Self::DeleteInline(name) => write!(f, "delete the inline policy {name}"),
        }
    }
}

/// The writes that turn one role into another, in two stages: the boundary first, then
/// the rest, independent of one another. The member role may change a role's trust or
/// policies only while the role carries the required boundary
/// (`cloudformation/member-role.yaml`), so a boundary being set goes before them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleWrites {
    /// The boundary's write, if it differs.
    pub boundary: Option<RoleWrite>,
    /// Everything else, in any order or at once.
    pub rest: Vec<RoleWrite>,
}

impl RoleWrites {
    /// Whether the role is as wanted already.
    pub fn is_empty(&self) -> bool {
        self.boundary.is_none() && self.rest.is_empty()
    }
}

impl fmt::Display for RoleWrites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing to change");
        }
        let rest: Vec<String> = self.rest.iter().map(ToString::to_string).collect();
        match &self.boundary {
            Some(boundary) if rest.is_empty() => write!(f, "{boundary}"),
            Some(boundary) => write!(f, "{boundary}; then at once: {}", rest.join("; ")),
            None => write!(f, "at once: {}", rest.join("; ")),
        }
    }
}

/// The writes that turn `observed` into `spec` (DESIGN §11, the role's part of a plan).
///
/// Tags the user no longer wants are removed, our markers never (they are in `spec`).
/// Inline policies are put whether or not they differ: `PutRolePolicy` is idempotent and
/// as cheap as reading a document to compare (the role's state lists their names only).
pub fn role_writes(spec: &RoleSpec, observed: &RoleState) -> RoleWrites {
    let boundary = spec.permissions_boundary.as_ref().map(|b| b.as_str());
    let boundary = match (observed.boundary.as_deref(), boundary) {
        (current, Some(wanted)) if current != Some(wanted) => {
            Some(RoleWrite::SetBoundary(wanted.to_owned()))
        }
        (Some(_), None) => Some(RoleWrite::RemoveBoundary),
        _ => None,
    };
    let mut rest = Vec::new();
    if !same_policy(&observed.trust, &spec.trust_policy) {
        rest.push(RoleWrite::SetTrust(spec.trust_policy.clone()));
    }
    let description = spec.description.as_ref().map(|d| d.as_str().to_owned());
    let max_session = spec.max_session_duration.seconds();
    if observed.description != description || observed.max_session != Some(max_session) {
        rest.push(RoleWrite::Update {
            description,
            max_session,
        });
    }
    let to_tag: Vec<(String, String)> = spec
        .tags
        .iter()
        .filter(|wanted| !observed.tags.contains(wanted))
        .cloned()
        .collect();
    if !to_tag.is_empty() {
        rest.push(RoleWrite::Tag(to_tag));
    }
    let to_untag: Vec<String> = observed
        .tags
        .iter()
        .filter(|(key, _)| !spec.tags.iter().any(|(wanted, _)| wanted == key))
        .map(|(key, _)| key.clone())
        .collect();
    if !to_untag.is_empty() {
        rest.push(RoleWrite::Untag(to_untag));
    }
    for arn in &spec.managed_policy_arns {
        if !observed.managed.iter().any(|a| a == arn.as_str()) {
            rest.push(RoleWrite::Attach(arn.as_str().to_owned()));
        }
    }
    for attached in &observed.managed {
        if !spec
            .managed_policy_arns
            .iter()
            .any(|a| a.as_str() == attached)
        {
            rest.push(RoleWrite::Detach(attached.clone()));
        }
    }
    for policy in &spec.inline_policies {
        rest.push(RoleWrite::PutInline {
            name: policy.policy_name.as_str().to_owned(),
            document: policy.policy_document.to_json(),
        });
    }
    for present in &observed.inline {
        if !spec
            .inline_policies
            .iter()
            .any(|p| p.policy_name.as_str() == present)
        {
            rest.push(RoleWrite::DeleteInline(present.clone()));
        }
    }
    RoleWrites { boundary, rest }
}

/// What must go before `DeleteRole` (IAM refuses to delete a role with policies): every
/// managed policy detached and every inline policy deleted, at once.
pub fn role_removal(observed: &RoleState) -> Vec<RoleWrite> {
    let detach = observed.managed.iter().cloned().map(RoleWrite::Detach);
    let delete = observed.inline.iter().cloned().map(RoleWrite::DeleteInline);
    detach.chain(delete).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(properties: serde_json::Value) -> RoleSpec {
        let properties = Properties::parse(&properties).unwrap();
        RoleSpec::new(
            &properties,
            RoleName::parse("ci").unwrap(),
            r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned(),
            Ownership {
                stack_id: "arn:aws:cloudformation:eu-west-1:222222222222:stack/s/1".into(),
                logical_id: "CiRole".into(),
                generation: "g1".into(),
            },
        )
    }

    const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    const BOUNDARY: &str = "arn:aws:iam::222222222222:policy/Boundary";

    fn full() -> serde_json::Value {
        json!({
            "Description": "CI",
            "MaxSessionDuration": "7200",
            "ManagedPolicyArns": [READ_ONLY],
            "PermissionsBoundary": BOUNDARY,
            "Policies": [{"PolicyName": "s3", "PolicyDocument": {"Version": "2012-10-17", "Statement": []}}],
            "Tags": [{"Key": "team", "Value": "platform"}]
        })
    }

    #[test]
    fn a_role_as_wanted_needs_no_write_and_a_new_one_only_its_policies() {
        let spec = spec(full());
        let mut observed = RoleState::created(&spec);
        assert_eq!(
            role_writes(&spec, &observed).to_string(),
            "at once: attach arn:aws:iam::aws:policy/ReadOnlyAccess; put the inline policy s3"
        );
        observed.managed.push(READ_ONLY.to_owned());
        observed.inline.push("s3".to_owned());
        // Inline documents are not read back: putting them again is the check.
        assert_eq!(
            role_writes(&spec, &observed).rest,
            [RoleWrite::PutInline {
                name: "s3".into(),
                document: r#"{"Version":"2012-10-17","Statement":[]}"#.into()
            }]
        );
    }

    #[test]
    fn every_difference_is_one_write_and_the_boundary_goes_first() {
        let spec = spec(full());
        let observed = RoleState {
            trust: r#"{"Statement":[{"Effect":"Allow"}]}"#.into(),
            description: None,
            max_session: Some(3600),
            boundary: None,
            tags: vec![
                ("team".into(), "apps".into()),
                ("cost-centre".into(), "42".into()),
            ],
            managed: vec!["arn:aws:iam::aws:policy/PowerUserAccess".into()],
            inline: vec!["old".into()],
        };
        let writes = role_writes(&spec, &observed);
        assert_eq!(
            writes.boundary,
            Some(RoleWrite::SetBoundary(BOUNDARY.into()))
        );
        let shown: Vec<String> = writes.rest.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "set the trust policy",
                "set the description Some(\"CI\") and the maximum session 7200 s",
                "tag team, entra-federated-role:managed-by, entra-federated-role:generation, \
                 entra-federated-role:stack-id, entra-federated-role:logical-id",
                "untag cost-centre",
                "attach arn:aws:iam::aws:policy/ReadOnlyAccess",
                "detach arn:aws:iam::aws:policy/PowerUserAccess",
                "put the inline policy s3",
                "delete the inline policy old",
            ]
        );

        let unbounded = self::spec(json!({}));
        let bounded = RoleState {
            boundary: Some(BOUNDARY.into()),
            ..RoleState::created(&unbounded)
        };
        assert_eq!(
            role_writes(&unbounded, &bounded).to_string(),
            "remove the permissions boundary"
        );
    }

    #[test]
    fn the_same_trust_written_differently_is_no_change() {
        let spec = spec(json!({}));
        let observed = RoleState {
            trust: r#"{ "Statement": [],  "Version": "2012-10-17" }"#.into(),
            ..RoleState::created(&spec)
        };
        assert!(role_writes(&spec, &observed).is_empty());
    }

    #[test]
    fn removal_empties_the_role_of_its_policies() {
        let observed = RoleState {
            managed: vec![READ_ONLY.into()],
            inline: vec!["s3".into()],
            ..RoleState::default()
        };
        assert_eq!(
            role_removal(&observed),
            [
                RoleWrite::Detach(READ_ONLY.into()),
                RoleWrite::DeleteInline("s3".into())
            ]
        );
    }
}
