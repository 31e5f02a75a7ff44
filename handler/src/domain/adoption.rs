//! Roles made outside CloudFormation (DESIGN §9): whether the factory takes a role over,
//! and what its Entra application must look like, read from the role's tags. Pure: the
//! front door reads the role and hands it here.
//!
//! **Opting in** is one tag, [`TAG_FEDERATE`] = `true` (any case). Nothing else makes a
//! role the factory's to touch, so the member role's IAM permissions can require that tag
//! on every role it rewrites: IAM itself, not only this code, keeps the factory off roles
//! that did not ask. A trust naming the tenant's provider with a placeholder audience
//! cannot be the opt-in: IAM refuses such a trust while the account has no provider yet,
//! and no IAM condition can see a trust's contents.
//!
//! **What the app needs** comes from the documented tags below, turned into the
//! resource's own properties and validated by [`Properties::parse`], so the same rules and
//! limits apply as to a stack's resource, with errors that name the tag. The role's own
//! path, permissions boundary and managed policies stand in for the role properties, so
//! the factory's guardrails apply unchanged. What tags cannot say (another audience, a
//! credential description, token version 2) belongs in the custom resource.
//!
//! **What the factory writes on the role** is its trust statement for the tenant's
//! provider (see [`super::trust::adopted_trust`]) and the three tags [`STATUS_TAGS`]:
//! whether it is federated, the application's id, or why it was refused.

use serde_json::{Map, Value, json};

use super::{
    MAX_TAG_VALUE_CHARS, PolicyArn, Properties, PropertyError, PropertyErrors, RoleName, RolePath,
    guardrails::Guardrails,
    ownership::{MANAGED_BY_VALUE, TAG_MANAGED_BY},
    role::RoleWrite,
    suggestion,
    trust::same_policy,
};

/// The opt-in: `true` (any case) asks the factory to federate the role.
pub const TAG_FEDERATE: &str = "entra-federated-role:federate";
/// The application's display name (default: `<account>/<role name>`).
pub const TAG_DISPLAY_NAME: &str = "entra-federated-role:display-name";
/// `entra-federated-role:credential:<name>` = `<issuer> <subject>`: a federated identity
/// credential named `<name>`.
pub const TAG_CREDENTIAL_PREFIX: &str = "entra-federated-role:credential:";
/// `entra-federated-role:github:<name>` = `<subject>`: a federated identity credential
/// named `<name>` for GitHub Actions' issuer, e.g. `repo:contoso/web:ref:refs/heads/main`.
pub const TAG_GITHUB_PREFIX: &str = "entra-federated-role:github:";
/// Trusted client application ids, separated by spaces.
pub const TAG_TRUSTED_CLIENTS: &str = "entra-federated-role:trusted-clients";
/// `true` or `false`: only assigned callers get tokens (`RequireAppRoleAssignment`).
pub const TAG_REQUIRE_ASSIGNMENT: &str = "entra-federated-role:require-assignment";

/// Written by the factory: `federated` or `refused`.
pub const TAG_STATUS: &str = "entra-federated-role:status";
/// Written by the factory: the application's id, once federated.
pub const TAG_APP_ID: &str = "entra-federated-role:app-id";
/// Written by the factory: why the request was refused, and what to change.
pub const TAG_REASON: &str = "entra-federated-role:reason";
/// Every tag the factory writes on a role it federates.
pub const STATUS_TAGS: [&str; 3] = [TAG_STATUS, TAG_APP_ID, TAG_REASON];

/// GitHub Actions' token issuer, for [`TAG_GITHUB_PREFIX`].
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

const REQUEST_TAGS: [&str; 4] = [
    TAG_FEDERATE,
    TAG_DISPLAY_NAME,
    TAG_TRUSTED_CLIENTS,
    TAG_REQUIRE_ASSIGNMENT,
];
const PREFIX: &str = super::RESERVED_TAG_PREFIX;

/// A role made outside CloudFormation, as IAM has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignRole {
    /// Its name.
    pub name: RoleName,
    /// Its path.
    pub path: String,
    /// Its unique id (`AROA…`): what tells it from an earlier role of the same name.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Its trust policy JSON.
    pub trust: String,
    /// Its permissions boundary's ARN.
    pub boundary: Option<String>,
    /// Every tag, as key and value.
    pub tags: Vec<(String, String)>,
    /// The ARNs of its attached managed policies.
    pub managed: Vec<String>,
}

impl ForeignRole {
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Whether it asks to be federated: `true` in any case, nothing around it (as the
    /// member role's `StringEqualsIgnoreCase` condition reads it).
    pub fn opted_in(&self) -> bool {
        self.tag(TAG_FEDERATE)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// What decides its federation, as a fingerprint: its tags (but the factory's status
    /// tags), path, boundary and managed policies. The factory writes the trust only while
    /// the role's fingerprint is the one it decided on.
    pub fn fingerprint(&self) -> String {
        let mut tags: Vec<(String, &str)> = self
            .tags
            .iter()
            .filter(|(k, _)| !STATUS_TAGS.iter().any(|s| k.eq_ignore_ascii_case(s)))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .collect();
        tags.sort();
        let mut managed: Vec<&str> = self.managed.iter().map(String::as_str).collect();
        managed.sort_unstable();
        json!([tags, self.path, self.boundary, managed]).to_string()
    }

    /// Whether the factory federated it before (its status tag is there).
    pub fn was_federated(&self) -> bool {
        self.tags
            .iter()
            .any(|(k, _)| STATUS_TAGS.iter().any(|s| k.eq_ignore_ascii_case(s)))
    }

    /// Whether the custom resource made it.
    pub fn made_by_the_resource(&self) -> bool {
        self.tag(TAG_MANAGED_BY) == Some(MANAGED_BY_VALUE)
    }
}

/// Why a role that does not carry the opt-in tag is left alone.
pub const NOT_ASKING: &str = "it does not carry the opt-in tag";

/// What the factory does with a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adoption {
    /// Not the factory's to touch, and why (for the log).
    LeftAlone(&'static str),
    /// Federate it as these properties say.
    Federate(Box<Properties>),
    /// It asks, but cannot be served: its trust is sealed (the factory's statement
    /// removed) and the reason written on it.
    Refused(String),
    /// It no longer asks, but was federated: its application and audience go.
    Withdrawn,
}

/// What to do with `role`, in `account` of `partition`, under `guardrails`.
pub fn adoption(
    role: &ForeignRole,
    guardrails: &Guardrails,
    partition: &str,
    account: &str,
) -> Adoption {
    if role.made_by_the_resource() {
        return Adoption::LeftAlone("the custom resource made it");
    }
    if !role.opted_in() {
        return match role.was_federated() {
            true => Adoption::Withdrawn,
            false => Adoption::LeftAlone(NOT_ASKING),
        };
    }
    // IAM lets the factory write only roles under the path; a role elsewhere could never
    // be sealed or told why, so it is no request at all.
    if let Some(prefix) = &guardrails.role_path_prefix
        && !role.path.starts_with(prefix.as_str())
    {
        return Adoption::LeftAlone("it is not under the factory's role path");
    }
    let properties = match request(role) {
        Ok(properties) => properties,
        Err(errors) => return Adoption::Refused(errors.to_string()),
    };
    match guardrails.check(&properties, partition, account) {
        Ok(()) => Adoption::Federate(Box::new(properties)),
        Err(violations) => Adoption::Refused(violations.to_string()),
    }
}

/// What the factory says on a role it took over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<'a> {
    /// Federated: the application's id.
    Federated {
        /// The application (client) id.
        app_id: &'a str,
    },
    /// Refused, and why.
    Refused {
        /// What to change.
        reason: &'a str,
    },
}

/// The writes that give `role` the trust `trust` and the status tags of `status`: only
/// what differs from what it has.
pub fn adopted_writes(role: &ForeignRole, trust: &str, status: Status<'_>) -> Vec<RoleWrite> {
    let mut writes = Vec::new();
    if !same_policy(&role.trust, trust) {
        writes.push(RoleWrite::SetTrust(trust.to_owned()));
    }
    let wanted: Vec<(&str, String)> = match status {
        Status::Federated { app_id } => vec![
            (TAG_STATUS, "federated".to_owned()),
            (TAG_APP_ID, app_id.to_owned()),
        ],
        Status::Refused { reason } => vec![
            (TAG_STATUS, "refused".to_owned()),
            (TAG_REASON, tag_value(reason)),
        ],
    };
    let tag: Vec<(String, String)> = wanted
        .iter()
        .filter(|(key, value)| role.tag(key) != Some(value.as_str()))
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect();
    if !tag.is_empty() {
        writes.push(RoleWrite::Tag(tag));
    }
    let stale: Vec<String> = status_keys(role)
        .filter(|key| !wanted.iter().any(|(k, _)| key.eq_ignore_ascii_case(k)))
        .collect();
    if !stale.is_empty() {
        writes.push(RoleWrite::Untag(stale));
    }
    writes
}

/// The writes that take the factory's status tags off `role` (its trust is the
/// owner's to change once it no longer asks).
pub fn release_writes(role: &ForeignRole) -> Vec<RoleWrite> {
    let keys: Vec<String> = status_keys(role).collect();
    match keys.is_empty() {
        true => Vec::new(),
        false => vec![RoleWrite::Untag(keys)],
    }
}

/// The keys of the factory's status tags on `role`, as the role spells them.
fn status_keys(role: &ForeignRole) -> impl Iterator<Item = String> + '_ {
    role.tags
        .iter()
        .filter(|(k, _)| STATUS_TAGS.iter().any(|s| k.eq_ignore_ascii_case(s)))
        .map(|(k, _)| k.clone())
}

/// `text` as an IAM tag value: letters, digits, spaces and `_ . : / = + - @` only (the
/// others become spaces, runs of spaces one), at most 256 characters.
pub fn tag_value(text: &str) -> String {
    let allowed = |c: char| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c);
    let cleaned: String = text
        .chars()
        .map(|c| if allowed(c) { c } else { ' ' })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    words.join(" ").chars().take(MAX_TAG_VALUE_CHARS).collect()
}

/// The role's request, as the resource's properties: the Entra side from its tags, the
/// role side from the role itself.
pub fn request(role: &ForeignRole) -> Result<Properties, PropertyErrors> {
    let mut errors = Vec::new();
    let mut entra = Map::new();
    // Each property path of the resource, and the tag it came from, for the errors.
    let mut origins: Vec<(String, String)> = Vec::new();
    let mut credentials = Vec::new();
    let mut tags: Vec<&(String, String)> = role.tags.iter().collect();
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, value) in tags {
        let lower = key.to_ascii_lowercase();
        if !lower.starts_with(PREFIX) {
            continue;
        }
        let (known, property) = if let Some(name) = strip(key, TAG_CREDENTIAL_PREFIX) {
            match value.split_whitespace().collect::<Vec<_>>().as_slice() {
                [issuer, subject] => {
                    credentials.push((key, json!({"Name": name, "Issuer": issuer, "Subject": subject})));
                }
                _ => errors.push(PropertyError::new(
                    key.as_str(),
                    "give the issuer and the subject separated by a space, e.g. `https://token.actions.githubusercontent.com repo:contoso/web:ref:refs/heads/main`",
                )),
            }
            (true, None)
        } else if let Some(name) = strip(key, TAG_GITHUB_PREFIX) {
            credentials.push((
                key,
                json!({"Name": name, "Issuer": GITHUB_ISSUER, "Subject": value.trim()}),
            ));
            (true, None)
        } else if lower == TAG_DISPLAY_NAME {
            (true, Some(("ApplicationDisplayName", json!(value))))
        } else if lower == TAG_TRUSTED_CLIENTS {
            let ids: Vec<&str> = value.split_whitespace().collect();
            (true, Some(("TrustedClientAppIds", json!(ids))))
        } else if lower == TAG_REQUIRE_ASSIGNMENT {
            (
                true,
                Some(("RequireAppRoleAssignment", json!(value.trim()))),
            )
        } else {
            let known =
                REQUEST_TAGS.contains(&lower.as_str()) || STATUS_TAGS.contains(&lower.as_str());
            (known, None)
        };
        if let Some((property, value)) = property {
            entra.insert(property.to_owned(), value);
            origins.push((property.to_owned(), key.clone()));
        }
        if !known {
            errors.push(PropertyError::new(key.as_str(), unknown_tag(key)));
        }
    }
    if !credentials.is_empty() {
        origins.push((
            "FederatedCredentials".to_owned(),
            format!("the {TAG_CREDENTIAL_PREFIX}* and {TAG_GITHUB_PREFIX}* tags"),
        ));
        for (index, (key, _)) in credentials.iter().enumerate() {
            origins.push((format!("FederatedCredentials[{index}]"), (*key).clone()));
        }
        entra.insert(
            "FederatedCredentials".to_owned(),
            Value::Array(credentials.into_iter().map(|(_, c)| c).collect()),
        );
    }
    let parsed = Properties::parse(&Value::Object(entra))
        .map_err(|parsed| errors.extend(parsed.into_iter().map(|e| retag(e, &origins))));
    let role_side = role_properties(role).map_err(|error| errors.push(error));
    match (parsed, role_side) {
        (Ok(properties), Ok((role_path, permissions_boundary, managed_policy_arns)))
            if errors.is_empty() =>
        {
            Ok(Properties {
                role_name: Some(role.name.clone()),
                role_path,
                permissions_boundary,
                managed_policy_arns,
                ..properties
            })
        }
        _ => Err(PropertyErrors::new(errors)),
    }
}

/// The role's path, boundary and managed policies as property values.
#[allow(clippy::type_complexity)]
fn role_properties(
    role: &ForeignRole,
) -> Result<(RolePath, Option<PolicyArn>, Vec<PolicyArn>), PropertyError> {
    let unreadable = |what: &str, e: super::InvalidValue| {
        PropertyError::new(format!("the role's {what}"), e.to_string())
    };
    let path = RolePath::parse(&role.path).map_err(|e| unreadable("path", e))?;
    let boundary = role
        .boundary
        .as_deref()
        .map(PolicyArn::parse)
        .transpose()
        .map_err(|e| unreadable("permissions boundary", e))?;
    let managed = role
        .managed
        .iter()
        .map(|arn| PolicyArn::parse(arn))
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable("managed policies", e))?;
    Ok((path, boundary, managed))
}

/// The rest of `key` after `prefix` (any case).
fn strip<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    key.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &key[prefix.len()..])
}

fn unknown_tag(key: &str) -> String {
    match suggestion(key, &REQUEST_TAGS) {
        Some(known) => format!("is not a tag the factory reads; did you mean `{known}`?"),
        None => format!(
            "is not a tag the factory reads; the request tags are {}, {TAG_CREDENTIAL_PREFIX}<name> and {TAG_GITHUB_PREFIX}<name>",
            REQUEST_TAGS.join(", ")
        ),
    }
}

/// `error` with the resource's property paths replaced by the tags they came from.
fn retag(error: PropertyError, origins: &[(String, String)]) -> PropertyError {
    // Longest paths first, so that `FederatedCredentials[1]` is replaced before
    // `FederatedCredentials`.
    let mut origins: Vec<&(String, String)> = origins.iter().collect();
    origins.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
    let replace = |text: &str| {
        origins.iter().fold(text.to_owned(), |text, (path, tag)| {
            text.replace(path.as_str(), tag)
        })
    };
    PropertyError::new(replace(&error.property), replace(&error.message))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    const BOUNDARY: &str = "arn:aws:iam::111122223333:policy/EntraFederatedRoleBoundary";

    fn role(tags: &[(&str, &str)]) -> ForeignRole {
        ForeignRole {
            name: RoleName::parse("deploy-web").unwrap(),
            path: "/entra-federated/".to_owned(),
            id: "AROAEXAMPLEROLEID1234".to_owned(),
            arn: "arn:aws:iam::111122223333:role/entra-federated/deploy-web".to_owned(),
            trust: "{}".to_owned(),
            boundary: Some(BOUNDARY.to_owned()),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            managed: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned()],
        }
    }

    fn guardrails() -> Guardrails {
        Guardrails {
            required_boundary: Some(
                "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/EntraFederatedRoleBoundary"
                    .to_owned(),
            ),
            denied_managed_policies: vec![
                "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess".to_owned(),
            ],
            role_path_prefix: Some(RolePath::parse("/entra-federated/").unwrap()),
            ..Guardrails::default()
        }
    }

    fn decide(role: &ForeignRole) -> Adoption {
        adoption(role, &guardrails(), "aws", "111122223333")
    }

    fn refusal(role: &ForeignRole) -> String {
        match decide(role) {
            Adoption::Refused(reason) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_role_with_the_opt_in_is_federated_as_its_tags_say() {
        let role = role(&[
            ("team", "web"),
            (TAG_FEDERATE, "True"),
            (
                "entra-federated-role:github:main",
                "repo:contoso/web:ref:refs/heads/main",
            ),
            (
                "entra-federated-role:credential:pipelines",
                "https://vstoken.dev.azure.com/0f0e0d0c-0b0a-0908-0706-050403020100 sc://contoso/web/aws",
            ),
            (TAG_DISPLAY_NAME, "Web deploys"),
            (
                TAG_TRUSTED_CLIENTS,
                "AAAAAAAA-0000-0000-0000-000000000001  aaaaaaaa-0000-0000-0000-000000000002",
            ),
            (TAG_REQUIRE_ASSIGNMENT, "true"),
            (TAG_STATUS, "federated"),
        ]);
        let Adoption::Federate(properties) = decide(&role) else {
            panic!("expected a federation, got {:?}", decide(&role));
        };
        let credentials: Vec<(&str, &str, &str)> = properties
            .federated_credentials
            .iter()
            .map(|c| (c.name.as_str(), c.issuer.as_str(), c.subject.as_str()))
            .collect();
        assert_eq!(
            credentials,
            [
                (
                    "pipelines",
                    "https://vstoken.dev.azure.com/0f0e0d0c-0b0a-0908-0706-050403020100",
                    "sc://contoso/web/aws"
                ),
                (
                    "main",
                    GITHUB_ISSUER,
                    "repo:contoso/web:ref:refs/heads/main"
                ),
            ]
        );
        assert_eq!(
            properties
                .application_display_name
                .as_ref()
                .map(|d| d.as_str()),
            Some("Web deploys")
        );
        assert_eq!(
            properties
                .trusted_client_app_ids
                .iter()
                .map(|id| id.as_str())
                .collect::<Vec<_>>(),
            [
                "aaaaaaaa-0000-0000-0000-000000000001",
                "aaaaaaaa-0000-0000-0000-000000000002"
            ]
        );
        assert!(properties.require_app_role_assignment);
        assert_eq!(
            properties.role_name.as_ref().map(|n| n.as_str()),
            Some("deploy-web")
        );
        assert_eq!(properties.role_path.as_str(), "/entra-federated/");
        assert_eq!(
            properties.permissions_boundary.as_ref().map(|b| b.as_str()),
            Some(BOUNDARY)
        );
    }

    #[test]
    fn only_the_opt_in_makes_a_role_the_factorys() {
        assert_eq!(
            decide(&role(&[(
                "entra-federated-role:github:main",
                "repo:contoso/web:ref:refs/heads/main"
            )])),
            Adoption::LeftAlone("it does not carry the opt-in tag")
        );
        assert_eq!(
            decide(&role(&[(TAG_FEDERATE, "false")])),
            Adoption::LeftAlone("it does not carry the opt-in tag")
        );
        // As IAM's condition reads it: no space around the value.
        assert_eq!(
            decide(&role(&[(TAG_FEDERATE, "true ")])),
            Adoption::LeftAlone("it does not carry the opt-in tag")
        );
        let made_by_the_resource =
            role(&[(TAG_FEDERATE, "true"), (TAG_MANAGED_BY, MANAGED_BY_VALUE)]);
        assert_eq!(
            decide(&made_by_the_resource),
            Adoption::LeftAlone("the custom resource made it")
        );
    }

    #[test]
    fn the_fingerprint_changes_with_what_decides_and_not_with_the_status() {
        let asking = role(&[(TAG_FEDERATE, "true"), ("team", "web")]);
        let mut told = asking.clone();
        told.tags
            .push((TAG_STATUS.to_owned(), "federated".to_owned()));
        assert_eq!(asking.fingerprint(), told.fingerprint());
        let mut retagged = asking.clone();
        retagged.tags[1].1 = "api".to_owned();
        let mut admin = asking.clone();
        admin
            .managed
            .push("arn:aws:iam::aws:policy/AdministratorAccess".to_owned());
        let mut unbounded = asking.clone();
        unbounded.boundary = None;
        for changed in [retagged, admin, unbounded] {
            assert_ne!(asking.fingerprint(), changed.fingerprint());
        }
    }

    #[test]
    fn a_role_that_no_longer_asks_is_withdrawn_once() {
        assert_eq!(
            decide(&role(&[(TAG_STATUS, "federated"), (TAG_APP_ID, "x")])),
            Adoption::Withdrawn
        );
    }

    #[test]
    fn an_invalid_request_is_refused_naming_each_tag() {
        let reason = refusal(&role(&[
            (TAG_FEDERATE, "true"),
            (
                "entra-federated-role:github:m",
                "repo:contoso/web:ref:refs/heads/main",
            ),
            (
                "entra-federated-role:credential:pipelines",
                "https://vstoken.dev.azure.com/x",
            ),
            (TAG_TRUSTED_CLIENTS, "not-a-guid"),
            (TAG_REQUIRE_ASSIGNMENT, "maybe"),
            ("entra-federated-role:federated", "true"),
        ]));
        for expected in [
            "entra-federated-role:github:m.Name",
            "entra-federated-role:credential:pipelines`: give the issuer and the subject separated by a space",
            "entra-federated-role:trusted-clients[0]",
            "entra-federated-role:require-assignment",
            "entra-federated-role:federated`: is not a tag the factory reads; did you mean `entra-federated-role:federate`?",
        ] {
            assert!(reason.contains(expected), "{expected} not in: {reason}");
        }
        assert!(!reason.contains("FederatedCredentials"), "{reason}");
    }

    #[test]
    fn credentials_that_repeat_one_another_name_both_tags() {
        let reason = refusal(&role(&[
            (TAG_FEDERATE, "true"),
            (
                "entra-federated-role:github:main",
                "repo:contoso/web:ref:refs/heads/main",
            ),
            (
                "entra-federated-role:github:main-again",
                "repo:contoso/web:ref:refs/heads/main",
            ),
        ]));
        assert!(
            reason.contains("entra-federated-role:github:main-again`: has the same `Issuer` and `Subject` as `entra-federated-role:github:main`"),
            "{reason}"
        );
    }

    #[test]
    fn a_federated_role_gets_its_trust_and_status_once() {
        let mut federated = role(&[(TAG_FEDERATE, "true"), (TAG_REASON, "old")]);
        let writes = adopted_writes(
            &federated,
            "{\"Statement\":[]}",
            Status::Federated { app_id: "a1" },
        );
        assert_eq!(
            writes,
            [
                RoleWrite::SetTrust("{\"Statement\":[]}".to_owned()),
                RoleWrite::Tag(vec![
                    (TAG_STATUS.to_owned(), "federated".to_owned()),
                    (TAG_APP_ID.to_owned(), "a1".to_owned()),
                ]),
                RoleWrite::Untag(vec![TAG_REASON.to_owned()]),
            ]
        );
        federated.trust = "{ \"Statement\": [] }".to_owned();
        federated.tags = vec![
            (TAG_FEDERATE.to_owned(), "true".to_owned()),
            (TAG_STATUS.to_owned(), "federated".to_owned()),
            (TAG_APP_ID.to_owned(), "a1".to_owned()),
        ];
        assert_eq!(
            adopted_writes(
                &federated,
                "{\"Statement\":[]}",
                Status::Federated { app_id: "a1" }
            ),
            []
        );
        assert_eq!(
            release_writes(&federated),
            [RoleWrite::Untag(vec![
                TAG_STATUS.to_owned(),
                TAG_APP_ID.to_owned()
            ])]
        );
        assert_eq!(release_writes(&role(&[(TAG_FEDERATE, "true")])), []);
    }

    #[test]
    fn a_refusal_is_written_as_a_valid_tag_value() {
        let refused = role(&[(TAG_FEDERATE, "true"), (TAG_APP_ID, "a1")]);
        let reason = format!("property `x`: (bad); {}", "long ".repeat(100));
        let writes = adopted_writes(
            &refused,
            &refused.trust,
            Status::Refused { reason: &reason },
        );
        let [RoleWrite::Tag(tags), RoleWrite::Untag(stale)] = writes.as_slice() else {
            panic!("{writes:?}");
        };
        let value = &tags[1].1;
        assert!(value.starts_with("property x : bad long long"), "{value}");
        assert_eq!(value.chars().count(), MAX_TAG_VALUE_CHARS);
        assert_eq!(stale, &[TAG_APP_ID.to_owned()]);
    }

    #[test]
    fn the_guardrails_apply_to_the_role_as_it_is() {
        let mut unbounded = role(&[(TAG_FEDERATE, "true")]);
        unbounded.boundary = None;
        assert!(refusal(&unbounded).contains("requires a permissions boundary"));

        let mut admin = role(&[(TAG_FEDERATE, "true")]);
        admin
            .managed
            .push("arn:aws:iam::aws:policy/AdministratorAccess".to_owned());
        assert!(refusal(&admin).contains("AdministratorAccess"));

        // Off the path: IAM would refuse the factory's writes, so it is no request.
        let mut elsewhere = role(&[(TAG_FEDERATE, "true")]);
        elsewhere.path = "/".to_owned();
        assert_eq!(
            decide(&elsewhere),
            Adoption::LeftAlone("it is not under the factory's role path")
        );
    }
}
