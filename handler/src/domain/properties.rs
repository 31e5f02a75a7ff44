//! [`Properties`]: the whole property contract of `Custom::EntraFederatedRole`
//! (DESIGN §3), parsed from CloudFormation's `ResourceProperties` JSON.
//!
//! CloudFormation stringifies numbers and booleans, other senders (moto, tests) do not, so
//! every scalar is read from a JSON string, number or boolean alike; lists are JSON arrays
//! and nested records JSON objects; a JSON `null` means the property is absent. Unknown
//! properties and unknown keys of list items are errors, with a suggestion for near misses.
//! All errors are collected, not just the first.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;

use serde::Serialize;
use serde_json::{Map, Value};

use super::entra::{
    AppId, Audience, CredentialDescription, CredentialName, DisplayName, FederatedCredential,
    Issuer, MAX_FEDERATED_CREDENTIALS, Subject, TokenVersion,
};
use super::error::{InvalidValue, PropertyError, PropertyErrors, echo, kind, shorten};
use super::iam::{
    AWS_TAG_PREFIX, InlinePolicy, MAX_INLINE_POLICIES_SIZE, MAX_MANAGED_POLICIES, MAX_USER_TAGS,
    MaxSessionDuration, PolicyArn, PolicyDocument, PolicyName, RESERVED_TAG_PREFIX,
    RoleDescription, RoleName, RolePath, Tag, TagKey, TagValue,
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

/// `true` or `false`, any case.
fn parse_bool(text: &str) -> Result<bool, InvalidValue> {
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(InvalidValue::new(format!(
            "{} is not a boolean; use `true` or `false`",
            echo(text)
        )))
    }
}

/// The value of `key`, with JSON `null` meaning absent.
fn field<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    map.get(key).filter(|value| !value.is_null())
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn item(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// A list of names in backticks: `` `A`, `B`, `C` ``.
fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closest candidate to `key`: equal ignoring case, or at most two edits away.
fn suggestion<'a>(key: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let key = key.to_lowercase();
    candidates
        .iter()
        .filter_map(|candidate| {
            let distance = edit_distance(&key, &candidate.to_lowercase(), 2)?;
            Some((distance, *candidate))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between `a` and `b`, or `None` when it exceeds `limit`.
fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= limit).then_some(distance)
}

/// For each item whose key repeats an earlier one: (its index, the earlier index).
fn duplicates<T, K: Eq + Hash>(items: &[(usize, T)], key: impl Fn(&T) -> K) -> Vec<(usize, usize)> {
    let mut first: HashMap<K, usize> = HashMap::new();
    let mut repeats = Vec::new();
    for (index, value) in items {
        match first.get(&key(value)) {
            Some(earlier) => repeats.push((*index, *earlier)),
            None => {
                first.insert(key(value), *index);
            }
        }
    }
    repeats
}

/// Collects errors while reading one `ResourceProperties` object.
#[derive(Default)]
struct Parser {
    errors: Vec<PropertyError>,
}

impl Parser {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(PropertyError::new(path, message));
    }

    fn finish(self, properties: Properties) -> Result<Properties, PropertyErrors> {
        if self.errors.is_empty() {
            Ok(properties)
        } else {
            Err(PropertyErrors::new(self.errors))
        }
    }

    /// Reports every key of `map` that is neither `accepted` nor `ignored`, sorted.
    fn unknown_keys(
        &mut self,
        parent: &str,
        map: &Map<String, Value>,
        accepted: &[&str],
        ignored: &[&str],
    ) {
        let mut unknown: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|key| !accepted.contains(key) && !ignored.contains(key))
            .collect();
        unknown.sort_unstable();
        let candidates: Vec<&str> = accepted.iter().chain(ignored).copied().collect();
        for key in unknown {
            let hint = match suggestion(key, &candidates) {
                Some(known) => format!("did you mean `{known}`?"),
                None => format!("accepted properties are {}", quoted_list(accepted)),
            };
            self.error(
                child(parent, &shorten(key)),
                format!("unknown property {}; {hint}", echo(key)),
            );
        }
    }

    /// Reads a scalar: a JSON string, or a number or boolean taken as its text (as
    /// CloudFormation would have stringified it), then `parse`s it.
    fn scalar<T>(
        &mut self,
        path: &str,
        value: &Value,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        let text: Cow<'_, str> = match value {
            Value::String(text) => Cow::Borrowed(text),
            Value::Number(number) => Cow::Owned(number.to_string()),
            Value::Bool(flag) => Cow::Owned(flag.to_string()),
            other => {
                self.error(
                    path,
                    format!("expected a single value, found {}", kind(other)),
                );
                return None;
            }
        };
        match parse(&text) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                self.error(path, error.into_message());
                None
            }
        }
    }

    fn list<'v>(&mut self, path: &str, value: &'v Value) -> Option<&'v [Value]> {
        match value {
            Value::Array(items) => Some(items),
            other => {
                self.error(
                    path,
                    format!(
                        "expected a list, found {}; give the values as a list",
                        kind(other)
                    ),
                );
                None
            }
        }
    }

    /// Reads a list item that must be an object with some of `keys` (others are errors).
    fn record<'v>(
        &mut self,
        path: &str,
        value: &'v Value,
        keys: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => {
                self.unknown_keys(path, map, keys, &[]);
                Some(map)
            }
            other => {
                self.error(
                    path,
                    format!(
                        "expected an object with {}, found {}",
                        quoted_list(keys),
                        kind(other)
                    ),
                );
                None
            }
        }
    }

    /// The value of a required key of a record; reports it missing (or null) otherwise.
    fn required<'v>(
        &mut self,
        path: &str,
        map: &'v Map<String, Value>,
        key: &str,
        hint: &str,
    ) -> Option<&'v Value> {
        let value = field(map, key);
        if value.is_none() {
            self.error(child(path, key), format!("missing value; {hint}"));
        }
        value
    }

    /// Reads a list of scalars, keeping each valid item with its index.
    fn scalar_list<T>(
        &mut self,
        path: &str,
        value: &Value,
        parse: impl Fn(&str) -> Result<T, InvalidValue>,
    ) -> Vec<(usize, T)> {
        let Some(items) = self.list(path, value) else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(index, item_value)| {
                self.scalar(&item(path, index), item_value, &parse)
                    .map(|parsed| (index, parsed))
            })
            .collect()
    }

    /// Reports a list longer than `max`.
    fn check_count(&mut self, path: &str, value: &Value, max: usize, what: &str, why: &str) {
        let count = value.as_array().map_or(0, Vec::len);
        if count > max {
            self.error(
                path,
                format!("{count} {what} given; {why}, so remove {}", count - max),
            );
        }
    }

    fn managed_policy_arns(&mut self, value: Option<&Value>) -> Vec<PolicyArn> {
        let Some(value) = value else {
            return Vec::new();
        };
        self.check_count(
            MANAGED_POLICY_ARNS,
            value,
            MAX_MANAGED_POLICIES,
            "managed policies",
            "IAM attaches at most 20 to a role",
        );
        let arns = self.scalar_list(MANAGED_POLICY_ARNS, value, PolicyArn::parse);
        for (index, earlier) in duplicates(&arns, |arn| arn.as_str().to_owned()) {
            self.error(
                item(MANAGED_POLICY_ARNS, index),
                format!(
                    "duplicate of `{}`; list each policy once",
                    item(MANAGED_POLICY_ARNS, earlier)
                ),
            );
        }
        arns.into_iter().map(|(_, arn)| arn).collect()
    }

    fn policies(&mut self, value: Option<&Value>) -> Vec<InlinePolicy> {
        let Some(items) = value.and_then(|value| self.list(POLICIES, value)) else {
            return Vec::new();
        };
        let mut policies = Vec::new();
        for (index, entry) in items.iter().enumerate() {
            let path = item(POLICIES, index);
            let Some(map) = self.record(&path, entry, &POLICY_KEYS) else {
                continue;
            };
            let name = self
                .required(&path, map, "PolicyName", "give the inline policy a name")
                .and_then(|v| self.scalar(&child(&path, "PolicyName"), v, PolicyName::parse));
            let document = self
                .required(&path, map, "PolicyDocument", "give the policy document")
                .and_then(|v| match PolicyDocument::from_value(v) {
                    Ok(document) => Some(document),
                    Err(error) => {
                        self.error(child(&path, "PolicyDocument"), error.into_message());
                        None
                    }
                });
            if let (Some(policy_name), Some(policy_document)) = (name, document) {
                policies.push((
                    index,
                    InlinePolicy {
                        policy_name,
                        policy_document,
                    },
                ));
            }
        }
        for (index, earlier) in duplicates(&policies, |policy| {
            policy.policy_name.as_str().to_ascii_lowercase()
        }) {
            self.error(
                child(&item(POLICIES, index), "PolicyName"),
                format!(
                    "is already used by `{}` (names are case-insensitive); give each inline policy a unique name",
                    item(POLICIES, earlier)
                ),
            );
        }
        let size: usize = policies
            .iter()
            .map(|(_, policy)| policy.policy_document.size())
            .sum();
        if size > MAX_INLINE_POLICIES_SIZE {
            self.error(
                POLICIES,
                format!(
                    "the policy documents total {size} characters (whitespace not counted); IAM allows at most {MAX_INLINE_POLICIES_SIZE} for all inline policies of a role, so shorten them or move statements into a managed policy"
                ),
            );
        }
        policies.into_iter().map(|(_, policy)| policy).collect()
    }

    fn tags(&mut self, value: Option<&Value>) -> Vec<Tag> {
        let Some(value) = value else {
            return Vec::new();
        };
        self.check_count(
            TAGS,
            value,
            MAX_USER_TAGS,
            "tags",
            "at most 45 are allowed (IAM allows 50 per role and this resource keeps 5 for its ownership markers)",
        );
        let Some(items) = self.list(TAGS, value) else {
            return Vec::new();
        };
        let mut tags = Vec::new();
        for (index, entry) in items.iter().enumerate() {
            let path = item(TAGS, index);
            let Some(map) = self.record(&path, entry, &TAG_KEYS) else {
                continue;
            };
            let key_path = child(&path, "Key");
            let key = self
                .required(&path, map, "Key", "give the tag key")
                .and_then(|v| self.scalar(&key_path, v, TagKey::parse))
                .filter(|key| match key.reserved_prefix() {
                    Some(AWS_TAG_PREFIX) => {
                        self.error(
                            &key_path,
                            format!(
                                "{} starts with `aws:`, which is reserved for AWS; choose another key",
                                echo(key.as_str())
                            ),
                        );
                        false
                    }
                    Some(prefix) => {
                        debug_assert_eq!(prefix, RESERVED_TAG_PREFIX);
                        self.error(
                            &key_path,
                            format!(
                                "{} starts with `{RESERVED_TAG_PREFIX}`, which this resource keeps for its ownership markers; choose another key",
                                echo(key.as_str())
                            ),
                        );
                        false
                    }
                    None => true,
                });
            let tag_value = self
                .required(&path, map, "Value", "give the tag value (it may be empty)")
                .and_then(|v| self.scalar(&child(&path, "Value"), v, TagValue::parse));
            if let (Some(key), Some(value)) = (key, tag_value) {
                tags.push((index, Tag { key, value }));
            }
        }
        for (index, earlier) in duplicates(&tags, |tag| tag.key.as_str().to_lowercase()) {
            self.error(
                child(&item(TAGS, index), "Key"),
                format!(
                    "repeats the key of `{}` (keys are case-insensitive); give each tag a unique key",
                    item(TAGS, earlier)
                ),
            );
        }
        tags.into_iter().map(|(_, tag)| tag).collect()
    }

    fn federated_credentials(&mut self, value: Option<&Value>) -> Vec<FederatedCredential> {
        let Some(value) = value else {
            return Vec::new();
        };
        self.check_count(
            FEDERATED_CREDENTIALS,
            value,
            MAX_FEDERATED_CREDENTIALS,
            "federated credentials",
            "Entra allows at most 20 federated identity credentials per application",
        );
        let Some(items) = self.list(FEDERATED_CREDENTIALS, value) else {
            return Vec::new();
        };
        let mut credentials = Vec::new();
        for (index, entry) in items.iter().enumerate() {
            let path = item(FEDERATED_CREDENTIALS, index);
            if let Some(credential) = self.federated_credential(&path, entry) {
                credentials.push((index, credential));
            }
        }
        for (index, earlier) in duplicates(&credentials, |credential| {
            credential.name.as_str().to_ascii_lowercase()
        }) {
            self.error(
                child(&item(FEDERATED_CREDENTIALS, index), "Name"),
                format!(
                    "is already used by `{}` (names are case-insensitive); give each credential a unique name",
                    item(FEDERATED_CREDENTIALS, earlier)
                ),
            );
        }
        for (index, earlier) in duplicates(&credentials, |credential| {
            (credential.issuer.clone(), credential.subject.clone())
        }) {
            self.error(
                item(FEDERATED_CREDENTIALS, index),
                format!(
                    "has the same `Issuer` and `Subject` as `{}`; Entra allows each issuer and subject pair once per application, so merge or remove one",
                    item(FEDERATED_CREDENTIALS, earlier)
                ),
            );
        }
        credentials
            .into_iter()
            .map(|(_, credential)| credential)
            .collect()
    }

    fn federated_credential(&mut self, path: &str, entry: &Value) -> Option<FederatedCredential> {
        let map = self.record(path, entry, &CREDENTIAL_KEYS)?;
        let name = self
            .required(
                path,
                map,
                "Name",
                "give the credential a name of 3 to 120 letters, digits, `-` or `_`",
            )
            .and_then(|v| self.scalar(&child(path, "Name"), v, CredentialName::parse));
        let issuer = self
            .required(
                path,
                map,
                "Issuer",
                "give the https URL of the external token issuer",
            )
            .and_then(|v| self.scalar(&child(path, "Issuer"), v, Issuer::parse));
        let subject = self
            .required(
                path,
                map,
                "Subject",
                "give the `sub` claim of the external token",
            )
            .and_then(|v| self.scalar(&child(path, "Subject"), v, Subject::parse));
        let audience = match field(map, "Audiences") {
            None => Some(Audience::token_exchange()),
            Some(value) => self.audience(&child(path, "Audiences"), value),
        };
        let description = match field(map, "Description") {
            None => Some(None),
            Some(value) => self
                .scalar(
                    &child(path, "Description"),
                    value,
                    CredentialDescription::parse,
                )
                .map(|description| Some(description).filter(|d| !d.as_str().is_empty())),
        };
        Some(FederatedCredential {
            name: name?,
            issuer: issuer?,
            subject: subject?,
            audience: audience?,
            description: description?,
        })
    }

    /// `Audiences`: a list of exactly one audience.
    fn audience(&mut self, path: &str, value: &Value) -> Option<Audience> {
        let count = value.as_array().map(Vec::len);
        let mut audiences = self.scalar_list(path, value, Audience::parse);
        match count {
            Some(1) => audiences.pop().map(|(_, audience)| audience),
            Some(count) => {
                self.error(
                    path,
                    format!(
                        "{count} audiences given; Entra accepts exactly one, usually `{}`",
                        super::entra::DEFAULT_AUDIENCE
                    ),
                );
                None
            }
            None => None,
        }
    }

    fn trusted_client_app_ids(&mut self, value: Option<&Value>) -> Vec<AppId> {
        let Some(value) = value else {
            return Vec::new();
        };
        let ids = self.scalar_list(TRUSTED_CLIENT_APP_IDS, value, AppId::parse);
        for (index, earlier) in duplicates(&ids, Clone::clone) {
            self.error(
                item(TRUSTED_CLIENT_APP_IDS, index),
                format!(
                    "duplicate of `{}`; list each application once",
                    item(TRUSTED_CLIENT_APP_IDS, earlier)
                ),
            );
        }
        ids.into_iter().map(|(_, id)| id).collect()
    }
}

#[cfg(test)]
mod recover_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_replacement_key_is_recovered_when_other_properties_are_broken() {
        let broken =
            json!({"RoleName": "ci", "TokenVersion": "2", "MaxSessionDuration": "nope", "Typo": 1});
        assert!(Properties::parse(&broken).is_err());
        let key = Properties::recover_replacement_key(&broken).unwrap();
        assert_eq!(key.role_name.unwrap().as_str(), "ci");
        assert_eq!(key.token_version, TokenVersion::V2);
        assert_eq!(key.role_path.as_str(), "/");
        assert!(Properties::recover_replacement_key(&json!({"RoleName": "bad name"})).is_none());
        assert!(Properties::recover_replacement_key(&json!("x")).is_none());
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    const GITHUB: &str = "https://token.actions.githubusercontent.com";
    const APP_A: &str = "11111111-2222-3333-4444-555555555555";
    const APP_B: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn arns(count: usize) -> Value {
        (0..count)
            .map(|i| json!(format!("arn:aws:iam::123456789012:policy/P{i}")))
            .collect()
    }

    fn tags(count: usize) -> Value {
        (0..count)
            .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
            .collect()
    }

    fn credential(name: &str, subject: &str) -> Value {
        json!({"Name": name, "Issuer": GITHUB, "Subject": subject})
    }

    fn credentials(count: usize) -> Value {
        (0..count)
            .map(|i| credential(&format!("cred-{i}"), &format!("repo:o/r:environment:e{i}")))
            .collect()
    }

    fn policy(name: &str, document: Value) -> Value {
        json!({"PolicyName": name, "PolicyDocument": document})
    }

    /// A policy document whose size (compact JSON, no whitespace) is exactly `size`.
    fn document_of_size(size: usize) -> Value {
        let empty = r#"{"Sid":"","Statement":[]}"#.len();
        json!({"Statement": [], "Sid": "s".repeat(size - empty)})
    }

    fn parsed(input: &Value) -> Value {
        let properties = Properties::parse(input).unwrap_or_else(|errors| panic!("{errors}"));
        serde_json::to_value(properties).unwrap()
    }

    #[rstest]
    #[case::role_name_given(json!({"RoleName": "ci-deployer"}), "RoleName", json!("ci-deployer"))]
    #[case::role_name_64(json!({"RoleName": "r".repeat(64)}), "RoleName", json!("r".repeat(64)))]
    #[case::role_name_number_stringified(json!({"RoleName": 12345}), "RoleName", json!("12345"))]
    #[case::role_name_null_is_absent(json!({"RoleName": null}), "RoleName", json!(null))]
    #[case::role_path_default(json!({}), "RolePath", json!("/"))]
    #[case::role_path_null_is_default(json!({"RolePath": null}), "RolePath", json!("/"))]
    #[case::role_path_nested(json!({"RolePath": "/ci/deploy/"}), "RolePath", json!("/ci/deploy/"))]
    #[case::description(json!({"Description": "deploys the app"}), "Description", json!("deploys the app"))]
    #[case::description_empty_is_absent(json!({"Description": ""}), "Description", json!(null))]
    #[case::description_1000(json!({"Description": "d".repeat(1000)}), "Description", json!("d".repeat(1000)))]
    #[case::managed_policy_arns_default(json!({}), "ManagedPolicyArns", json!([]))]
    #[case::managed_policy_arns_null_is_default(json!({"ManagedPolicyArns": null}), "ManagedPolicyArns", json!([]))]
    #[case::managed_policy_arns(
        json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/team/Deploy"]}),
        "ManagedPolicyArns",
        json!(["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/team/Deploy"])
    )]
    #[case::permissions_boundary(
        json!({"PermissionsBoundary": "arn:aws:iam::123456789012:policy/Boundary"}),
        "PermissionsBoundary",
        json!("arn:aws:iam::123456789012:policy/Boundary")
    )]
    #[case::policy_document_object(
        json!({"Policies": [policy("s3", json!({"Statement": []}))]}),
        "Policies",
        json!([{"PolicyName": "s3", "PolicyDocument": {"Statement": []}}])
    )]
    #[case::policy_document_string(
        json!({"Policies": [policy("s3", json!("{\"Statement\": []}"))]}),
        "Policies",
        json!([{"PolicyName": "s3", "PolicyDocument": {"Statement": []}}])
    )]
    #[case::max_session_default(json!({}), "MaxSessionDuration", json!(3600))]
    #[case::max_session_string_3600(json!({"MaxSessionDuration": "3600"}), "MaxSessionDuration", json!(3600))]
    #[case::max_session_number_3600(json!({"MaxSessionDuration": 3600}), "MaxSessionDuration", json!(3600))]
    #[case::max_session_string_43200(json!({"MaxSessionDuration": "43200"}), "MaxSessionDuration", json!(43200))]
    #[case::max_session_number_43200(json!({"MaxSessionDuration": 43200}), "MaxSessionDuration", json!(43200))]
    #[case::max_session_null_is_default(json!({"MaxSessionDuration": null}), "MaxSessionDuration", json!(3600))]
    #[case::tag_value_empty(json!({"Tags": [{"Key": "k", "Value": ""}]}), "Tags", json!([{"Key": "k", "Value": ""}]))]
    #[case::tag_value_number_stringified(json!({"Tags": [{"Key": "k", "Value": 42}]}), "Tags", json!([{"Key": "k", "Value": "42"}]))]
    #[case::tag_unicode(json!({"Tags": [{"Key": "Größe", "Value": "groß 1"}]}), "Tags", json!([{"Key": "Größe", "Value": "groß 1"}]))]
    #[case::display_name(json!({"ApplicationDisplayName": "CI deployer"}), "ApplicationDisplayName", json!("CI deployer"))]
    #[case::display_name_256(json!({"ApplicationDisplayName": "n".repeat(256)}), "ApplicationDisplayName", json!("n".repeat(256)))]
    #[case::credential_default_audience(
        json!({"FederatedCredentials": [credential("main", "repo:o/r:ref:refs/heads/main")]}),
        "FederatedCredentials",
        json!([{"Name": "main", "Issuer": GITHUB, "Subject": "repo:o/r:ref:refs/heads/main", "Audiences": ["api://AzureADTokenExchange"], "Description": null}])
    )]
    #[case::credential_null_audiences_and_description(
        json!({"FederatedCredentials": [{"Name": "main", "Issuer": GITHUB, "Subject": "s", "Audiences": null, "Description": null}]}),
        "FederatedCredentials",
        json!([{"Name": "main", "Issuer": GITHUB, "Subject": "s", "Audiences": ["api://AzureADTokenExchange"], "Description": null}])
    )]
    #[case::credential_custom_audience_and_description(
        json!({"FederatedCredentials": [{"Name": "gitlab", "Issuer": "https://gitlab.com", "Subject": "project_path:g/p:ref_type:branch:ref:main", "Audiences": ["https://gitlab.com"], "Description": "gitlab main"}]}),
        "FederatedCredentials",
        json!([{"Name": "gitlab", "Issuer": "https://gitlab.com", "Subject": "project_path:g/p:ref_type:branch:ref:main", "Audiences": ["https://gitlab.com"], "Description": "gitlab main"}])
    )]
    #[case::credential_empty_description_is_absent(
        json!({"FederatedCredentials": [{"Name": "main", "Issuer": GITHUB, "Subject": "s", "Description": ""}]}),
        "FederatedCredentials",
        json!([{"Name": "main", "Issuer": GITHUB, "Subject": "s", "Audiences": ["api://AzureADTokenExchange"], "Description": null}])
    )]
    #[case::same_subject_other_issuer(
        json!({"FederatedCredentials": [
            {"Name": "a-1", "Issuer": "https://a.example", "Subject": "s"},
            {"Name": "b-1", "Issuer": "https://b.example", "Subject": "s"}
        ]}),
        "FederatedCredentials",
        json!([
            {"Name": "a-1", "Issuer": "https://a.example", "Subject": "s", "Audiences": ["api://AzureADTokenExchange"], "Description": null},
            {"Name": "b-1", "Issuer": "https://b.example", "Subject": "s", "Audiences": ["api://AzureADTokenExchange"], "Description": null}
        ])
    )]
    #[case::app_ids_lowercased(
        json!({"TrustedClientAppIds": [APP_A.to_uppercase(), APP_B]}),
        "TrustedClientAppIds",
        json!([APP_A, APP_B])
    )]
    #[case::require_assignment_default(json!({}), "RequireAppRoleAssignment", json!(false))]
    #[case::require_assignment_string_true(json!({"RequireAppRoleAssignment": "true"}), "RequireAppRoleAssignment", json!(true))]
    #[case::require_assignment_string_upper(json!({"RequireAppRoleAssignment": "TRUE"}), "RequireAppRoleAssignment", json!(true))]
    #[case::require_assignment_string_false(json!({"RequireAppRoleAssignment": "False"}), "RequireAppRoleAssignment", json!(false))]
    #[case::require_assignment_json_true(json!({"RequireAppRoleAssignment": true}), "RequireAppRoleAssignment", json!(true))]
    #[case::require_assignment_json_false(json!({"RequireAppRoleAssignment": false}), "RequireAppRoleAssignment", json!(false))]
    #[case::require_assignment_null(json!({"RequireAppRoleAssignment": null}), "RequireAppRoleAssignment", json!(false))]
    #[case::token_version_default(json!({}), "TokenVersion", json!(1))]
    #[case::token_version_string_1(json!({"TokenVersion": "1"}), "TokenVersion", json!(1))]
    #[case::token_version_number_1(json!({"TokenVersion": 1}), "TokenVersion", json!(1))]
    #[case::token_version_string_2(json!({"TokenVersion": "2"}), "TokenVersion", json!(2))]
    #[case::token_version_number_2(json!({"TokenVersion": 2}), "TokenVersion", json!(2))]
    #[case::token_version_null(json!({"TokenVersion": null}), "TokenVersion", json!(1))]
    #[case::v2_with_empty_trusted_clients(json!({"TokenVersion": "2", "TrustedClientAppIds": []}), "TrustedClientAppIds", json!([]))]
    #[case::v1_with_trusted_clients(json!({"TokenVersion": "1", "TrustedClientAppIds": [APP_A]}), "TrustedClientAppIds", json!([APP_A]))]
    #[case::cloudformation_entries_ignored(
        json!({"ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:f", "ServiceTimeout": "300", "RoleName": "r"}),
        "RoleName",
        json!("r")
    )]
    fn accepts(#[case] input: Value, #[case] property: &str, #[case] expected: Value) {
        assert_eq!(parsed(&input)[property], expected);
    }

    #[rstest]
    #[case::managed_policies_20(json!({"ManagedPolicyArns": arns(20)}), "ManagedPolicyArns", 20)]
    #[case::tags_45(json!({"Tags": tags(45)}), "Tags", 45)]
    #[case::credentials_20(json!({"FederatedCredentials": credentials(20)}), "FederatedCredentials", 20)]
    #[case::inline_policies_10240(
        json!({"Policies": [policy("a", document_of_size(5000)), policy("b", document_of_size(5240))]}),
        "Policies",
        2
    )]
    fn accepts_up_to_the_limit(#[case] input: Value, #[case] property: &str, #[case] count: usize) {
        assert_eq!(parsed(&input)[property].as_array().unwrap().len(), count);
    }

    #[rstest]
    // The top level.
    #[case::top_level_string(json!("RoleName=x"), "ResourceProperties", "expected an object of properties, found a string")]
    #[case::top_level_list(json!([]), "ResourceProperties", "found a list")]
    // Unknown properties.
    #[case::unknown_lowercase(json!({"rolename": "x"}), "rolename", "unknown property `rolename`; did you mean `RoleName`?")]
    #[case::unknown_typo(json!({"Rolename": "x"}), "Rolename", "unknown property `Rolename`; did you mean `RoleName`?")]
    #[case::unknown_two_edits(json!({"TokenVersio": "1"}), "TokenVersio", "did you mean `TokenVersion`?")]
    #[case::unknown_singular(json!({"ManagedPolicyArn": []}), "ManagedPolicyArn", "did you mean `ManagedPolicyArns`?")]
    #[case::unknown_near_cloudformation_entry(json!({"ServiceTokn": "x"}), "ServiceTokn", "did you mean `ServiceToken`?")]
    #[case::unknown_far(json!({"Principal": "x"}), "Principal", "unknown property `Principal`; accepted properties are `RoleName`, `RolePath`, `Description`")]
    #[case::unknown_lists_all(json!({"Foo": 1}), "Foo", "`RequireAppRoleAssignment`, `TokenVersion`")]
    #[case::nested_unknown_tag_key(json!({"Tags": [{"Key": "k", "Value": "v", "Kay": "x"}]}), "Tags[0].Kay", "unknown property `Kay`; did you mean `Key`?")]
    #[case::nested_unknown_policy_key(
        json!({"Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": []}, "Statement": []}]}),
        "Policies[0].Statement",
        "accepted properties are `PolicyName`, `PolicyDocument`"
    )]
    #[case::nested_unknown_credential_key(
        json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Audience": ["x"]}]}),
        "FederatedCredentials[0].Audience",
        "did you mean `Audiences`?"
    )]
    // RoleName.
    #[case::role_name_65(json!({"RoleName": "r".repeat(65)}), "RoleName", "65 characters long; give at most 64")]
    #[case::role_name_empty(json!({"RoleName": ""}), "RoleName", "leave `RoleName` out to get a generated name")]
    #[case::role_name_space(json!({"RoleName": "my role"}), "RoleName", "contains ' '; use only letters, digits and `+=,.@_-`")]
    #[case::role_name_list(json!({"RoleName": ["x"]}), "RoleName", "expected a single value, found a list")]
    #[case::role_name_object(json!({"RoleName": {"Ref": "x"}}), "RoleName", "expected a single value, found an object")]
    // RolePath.
    #[case::role_path_relative(json!({"RolePath": "ci/"}), "RolePath", "begins and ends with `/`")]
    #[case::role_path_513(json!({"RolePath": format!("/{}/", "p".repeat(511))}), "RolePath", "513 characters long")]
    #[case::role_path_space(json!({"RolePath": "/a b/"}), "RolePath", "contains ' '")]
    // Description.
    #[case::description_1001(json!({"Description": "d".repeat(1001)}), "Description", "1001 characters long; give at most 1000")]
    #[case::description_bad_char(json!({"Description": "price €"}), "Description", "contains '€'")]
    // ManagedPolicyArns and PermissionsBoundary.
    #[case::managed_policies_21(json!({"ManagedPolicyArns": arns(21)}), "ManagedPolicyArns", "21 managed policies given; IAM attaches at most 20 to a role, so remove 1")]
    #[case::managed_policy_duplicate(
        json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"]}),
        "ManagedPolicyArns[1]",
        "duplicate of `ManagedPolicyArns[0]`"
    )]
    #[case::managed_policy_name_only(json!({"ManagedPolicyArns": ["ReadOnlyAccess"]}), "ManagedPolicyArns[0]", "is not an IAM managed policy ARN")]
    #[case::managed_policy_bad_partition(
        json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/A", "arn:azure:iam::aws:policy/B"]}),
        "ManagedPolicyArns[1]",
        "unknown partition `azure`"
    )]
    #[case::managed_policy_null_item(json!({"ManagedPolicyArns": [null]}), "ManagedPolicyArns[0]", "expected a single value, found null")]
    #[case::managed_policies_not_a_list(
        json!({"ManagedPolicyArns": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
        "ManagedPolicyArns",
        "expected a list, found a string"
    )]
    #[case::boundary_role_arn(
        json!({"PermissionsBoundary": "arn:aws:iam::123456789012:role/Boundary"}),
        "PermissionsBoundary",
        "is not an IAM managed policy ARN"
    )]
    #[case::boundary_list(json!({"PermissionsBoundary": []}), "PermissionsBoundary", "expected a single value, found a list")]
    // Policies.
    #[case::policies_not_a_list(json!({"Policies": {"PolicyName": "p"}}), "Policies", "expected a list, found an object")]
    #[case::policy_not_an_object(json!({"Policies": ["p"]}), "Policies[0]", "expected an object with `PolicyName`, `PolicyDocument`, found a string")]
    #[case::policy_missing_name(json!({"Policies": [{"PolicyDocument": {"Statement": []}}]}), "Policies[0].PolicyName", "missing value; give the inline policy a name")]
    #[case::policy_null_name(json!({"Policies": [{"PolicyName": null, "PolicyDocument": {"Statement": []}}]}), "Policies[0].PolicyName", "missing value")]
    #[case::policy_missing_document(json!({"Policies": [{"PolicyName": "p"}]}), "Policies[0].PolicyDocument", "missing value; give the policy document")]
    #[case::policy_name_129(json!({"Policies": [policy(&"p".repeat(129), json!({"Statement": []}))]}), "Policies[0].PolicyName", "129 characters long; give at most 128")]
    #[case::policy_name_space(json!({"Policies": [policy("my policy", json!({"Statement": []}))]}), "Policies[0].PolicyName", "contains ' '")]
    #[case::policy_document_without_statement(json!({"Policies": [policy("p", json!({"Version": "2012-10-17"}))]}), "Policies[0].PolicyDocument", "has no `Statement`")]
    #[case::policy_document_bad_json(json!({"Policies": [policy("p", json!("{\"Statement\": ["))]}), "Policies[0].PolicyDocument", "is not valid JSON")]
    #[case::policy_document_list(json!({"Policies": [policy("p", json!([]))]}), "Policies[0].PolicyDocument", "expected a policy document")]
    #[case::policy_name_duplicate_ignoring_case(
        json!({"Policies": [policy("S3", json!({"Statement": []})), policy("s3", json!({"Statement": []}))]}),
        "Policies[1].PolicyName",
        "is already used by `Policies[0]` (names are case-insensitive)"
    )]
    #[case::inline_policies_10241(
        json!({"Policies": [policy("a", document_of_size(5000)), policy("b", document_of_size(5241))]}),
        "Policies",
        "the policy documents total 10241 characters (whitespace not counted); IAM allows at most 10240 for all inline policies of a role"
    )]
    // MaxSessionDuration.
    #[case::session_string_3599(json!({"MaxSessionDuration": "3599"}), "MaxSessionDuration", "`3599` is out of range; give whole seconds from 3600 to 43200")]
    #[case::session_number_3599(json!({"MaxSessionDuration": 3599}), "MaxSessionDuration", "`3599` is out of range")]
    #[case::session_string_43201(json!({"MaxSessionDuration": "43201"}), "MaxSessionDuration", "`43201` is out of range")]
    #[case::session_number_43201(json!({"MaxSessionDuration": 43201}), "MaxSessionDuration", "`43201` is out of range")]
    #[case::session_90(json!({"MaxSessionDuration": 90}), "MaxSessionDuration", "`90` is out of range; give whole seconds from 3600 to 43200")]
    #[case::session_string_fraction(json!({"MaxSessionDuration": "3600.5"}), "MaxSessionDuration", "`3600.5` is not a whole number")]
    #[case::session_number_fraction(json!({"MaxSessionDuration": 3600.5}), "MaxSessionDuration", "`3600.5` is not a whole number")]
    #[case::session_negative(json!({"MaxSessionDuration": -3600}), "MaxSessionDuration", "`-3600` is not a whole number")]
    #[case::session_plus(json!({"MaxSessionDuration": "+3600"}), "MaxSessionDuration", "is not a whole number")]
    #[case::session_junk(json!({"MaxSessionDuration": "1h"}), "MaxSessionDuration", "`1h` is not a whole number")]
    #[case::session_bool(json!({"MaxSessionDuration": true}), "MaxSessionDuration", "`true` is not a whole number")]
    // Tags.
    #[case::tags_46(json!({"Tags": tags(46)}), "Tags", "46 tags given; at most 45 are allowed (IAM allows 50 per role and this resource keeps 5 for its ownership markers), so remove 1")]
    #[case::tags_not_a_list(json!({"Tags": {"k": "v"}}), "Tags", "expected a list, found an object")]
    #[case::tag_key_129(json!({"Tags": [{"Key": "k".repeat(129), "Value": "v"}]}), "Tags[0].Key", "129 characters long; give at most 128")]
    #[case::tag_key_empty(json!({"Tags": [{"Key": "", "Value": "v"}]}), "Tags[0].Key", "is empty")]
    #[case::tag_value_257(json!({"Tags": [{"Key": "k", "Value": "v".repeat(257)}]}), "Tags[0].Value", "257 characters long; give at most 256")]
    #[case::tag_key_bad_char(json!({"Tags": [{"Key": "a,b", "Value": "v"}]}), "Tags[0].Key", "contains ','")]
    #[case::tag_value_bad_char(json!({"Tags": [{"Key": "k", "Value": "a;b"}]}), "Tags[0].Value", "contains ';'")]
    #[case::tag_key_missing(json!({"Tags": [{"Value": "v"}]}), "Tags[0].Key", "missing value; give the tag key")]
    #[case::tag_value_missing(json!({"Tags": [{"Key": "k"}]}), "Tags[0].Value", "missing value; give the tag value (it may be empty)")]
    #[case::tag_value_null(json!({"Tags": [{"Key": "k", "Value": null}]}), "Tags[0].Value", "missing value")]
    #[case::tag_not_an_object(json!({"Tags": ["k=v"]}), "Tags[0]", "expected an object with `Key`, `Value`, found a string")]
    #[case::tag_key_duplicate_ignoring_case(
        json!({"Tags": [{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}]}),
        "Tags[1].Key",
        "repeats the key of `Tags[0]` (keys are case-insensitive)"
    )]
    #[case::tag_key_aws(json!({"Tags": [{"Key": "aws:createdBy", "Value": "v"}]}), "Tags[0].Key", "starts with `aws:`, which is reserved for AWS")]
    #[case::tag_key_aws_upper(json!({"Tags": [{"Key": "AWS:x", "Value": "v"}]}), "Tags[0].Key", "reserved for AWS")]
    #[case::tag_key_ours(
        json!({"Tags": [{"Key": "entra-federated-role:generation", "Value": "v"}]}),
        "Tags[0].Key",
        "starts with `entra-federated-role:`, which this resource keeps for its ownership markers"
    )]
    #[case::tag_key_ours_mixed_case(json!({"Tags": [{"Key": "Entra-Federated-Role:x", "Value": "v"}]}), "Tags[0].Key", "ownership markers")]
    // ApplicationDisplayName.
    #[case::display_name_empty(json!({"ApplicationDisplayName": ""}), "ApplicationDisplayName", "is blank")]
    #[case::display_name_blank(json!({"ApplicationDisplayName": "  "}), "ApplicationDisplayName", "is blank")]
    #[case::display_name_257(json!({"ApplicationDisplayName": "n".repeat(257)}), "ApplicationDisplayName", "257 characters long; give at most 256")]
    #[case::display_name_control(json!({"ApplicationDisplayName": "a\nb"}), "ApplicationDisplayName", "remove control characters")]
    // FederatedCredentials.
    #[case::credentials_21(
        json!({"FederatedCredentials": credentials(21)}),
        "FederatedCredentials",
        "21 federated credentials given; Entra allows at most 20 federated identity credentials per application, so remove 1"
    )]
    #[case::credentials_not_a_list(json!({"FederatedCredentials": credential("abc", "s")}), "FederatedCredentials", "expected a list, found an object")]
    #[case::credential_not_an_object(json!({"FederatedCredentials": ["abc"]}), "FederatedCredentials[0]", "expected an object with `Name`, `Issuer`, `Subject`, `Audiences`, `Description`")]
    #[case::credential_name_missing(json!({"FederatedCredentials": [{"Issuer": GITHUB, "Subject": "s"}]}), "FederatedCredentials[0].Name", "missing value; give the credential a name")]
    #[case::credential_issuer_missing(json!({"FederatedCredentials": [{"Name": "abc", "Subject": "s"}]}), "FederatedCredentials[0].Issuer", "missing value; give the https URL")]
    #[case::credential_subject_missing(json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB}]}), "FederatedCredentials[0].Subject", "missing value; give the `sub` claim")]
    #[case::credential_name_2(json!({"FederatedCredentials": [credential("ab", "s")]}), "FederatedCredentials[0].Name", "2 characters long; give 3 to 120")]
    #[case::credential_name_121(json!({"FederatedCredentials": [credential(&"c".repeat(121), "s")]}), "FederatedCredentials[0].Name", "121 characters long")]
    #[case::credential_name_dash_first(json!({"FederatedCredentials": [credential("-main", "s")]}), "FederatedCredentials[0].Name", "must start with a letter or digit")]
    #[case::credential_name_space(json!({"FederatedCredentials": [credential("my main", "s")]}), "FederatedCredentials[0].Name", "contains ' '; use only letters, digits, `-` and `_`")]
    #[case::credential_name_duplicate_ignoring_case(
        json!({"FederatedCredentials": [credential("Main", "s1"), credential("main", "s2")]}),
        "FederatedCredentials[1].Name",
        "is already used by `FederatedCredentials[0]` (names are case-insensitive)"
    )]
    #[case::credential_issuer_http(
        json!({"FederatedCredentials": [{"Name": "abc", "Issuer": "http://token.actions.githubusercontent.com", "Subject": "s"}]}),
        "FederatedCredentials[0].Issuer",
        "is not an https URL"
    )]
    #[case::credential_issuer_601(
        json!({"FederatedCredentials": [{"Name": "abc", "Issuer": format!("https://e.com/{}", "p".repeat(587)), "Subject": "s"}]}),
        "FederatedCredentials[0].Issuer",
        "601 characters long; give at most 600"
    )]
    #[case::credential_subject_empty(json!({"FederatedCredentials": [credential("abc", "")]}), "FederatedCredentials[0].Subject", "is empty")]
    #[case::credential_subject_601(json!({"FederatedCredentials": [credential("abc", &"s".repeat(601))]}), "FederatedCredentials[0].Subject", "601 characters long")]
    #[case::credential_no_audience(
        json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Audiences": []}]}),
        "FederatedCredentials[0].Audiences",
        "0 audiences given; Entra accepts exactly one, usually `api://AzureADTokenExchange`"
    )]
    #[case::credential_two_audiences(
        json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Audiences": ["a", "b"]}]}),
        "FederatedCredentials[0].Audiences",
        "2 audiences given; Entra accepts exactly one"
    )]
    #[case::credential_audience_601(
        json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Audiences": ["a".repeat(601)]}]}),
        "FederatedCredentials[0].Audiences[0]",
        "601 characters long"
    )]
    #[case::credential_audiences_not_a_list(
        json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Audiences": "api://AzureADTokenExchange"}]}),
        "FederatedCredentials[0].Audiences",
        "expected a list, found a string"
    )]
    #[case::credential_description_601(
        json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Description": "d".repeat(601)}]}),
        "FederatedCredentials[0].Description",
        "601 characters long"
    )]
    #[case::credential_same_issuer_and_subject(
        json!({"FederatedCredentials": [credential("first", "repo:o/r:ref:refs/heads/main"), credential("second", "repo:o/r:ref:refs/heads/main")]}),
        "FederatedCredentials[1]",
        "has the same `Issuer` and `Subject` as `FederatedCredentials[0]`"
    )]
    // TrustedClientAppIds and TokenVersion.
    #[case::app_id_not_a_guid(json!({"TrustedClientAppIds": ["my-ci-app"]}), "TrustedClientAppIds[0]", "`my-ci-app` is not an application (client) id")]
    #[case::app_id_duplicate_ignoring_case(
        json!({"TrustedClientAppIds": [APP_A, APP_A.to_uppercase()]}),
        "TrustedClientAppIds[1]",
        "duplicate of `TrustedClientAppIds[0]`"
    )]
    #[case::app_ids_not_a_list(json!({"TrustedClientAppIds": APP_A}), "TrustedClientAppIds", "expected a list, found a string")]
    #[case::v2_with_trusted_clients(
        json!({"TokenVersion": "2", "TrustedClientAppIds": [APP_A]}),
        "TrustedClientAppIds",
        "with `TokenVersion` 2 only the application itself can assume the role"
    )]
    #[case::v2_number_with_trusted_clients(
        json!({"TokenVersion": 2, "TrustedClientAppIds": [APP_A, APP_B]}),
        "TrustedClientAppIds",
        "use `TokenVersion` 1 or remove `TrustedClientAppIds`"
    )]
    #[case::token_version_3(json!({"TokenVersion": "3"}), "TokenVersion", "`3` is not a token version; use 1 (the default) or 2")]
    #[case::token_version_number_3(json!({"TokenVersion": 3}), "TokenVersion", "`3` is not a token version")]
    #[case::token_version_fraction(json!({"TokenVersion": 1.0}), "TokenVersion", "`1.0` is not a token version")]
    #[case::token_version_v2(json!({"TokenVersion": "v2"}), "TokenVersion", "`v2` is not a token version")]
    // RequireAppRoleAssignment.
    #[case::require_assignment_yes(json!({"RequireAppRoleAssignment": "yes"}), "RequireAppRoleAssignment", "`yes` is not a boolean; use `true` or `false`")]
    #[case::require_assignment_one(json!({"RequireAppRoleAssignment": 1}), "RequireAppRoleAssignment", "`1` is not a boolean")]
    #[case::require_assignment_list(json!({"RequireAppRoleAssignment": [true]}), "RequireAppRoleAssignment", "expected a single value, found a list")]
    fn rejects(#[case] input: Value, #[case] path: &str, #[case] phrase: &str) {
        let errors = Properties::parse(&input).expect_err("properties should be rejected");
        assert_eq!(errors.len(), 1, "{errors}");
        let error = &errors.as_slice()[0];
        assert_eq!(error.property, path, "{errors}");
        assert!(error.message.contains(phrase), "{errors}");
        assert!(
            !error.message.ends_with('.') && error.message.starts_with(|c: char| !c.is_uppercase()),
            "messages are lowercase without trailing period: {errors}"
        );
    }

    #[test]
    fn collects_every_error() {
        let input = json!({
            "Rolename": "x",
            "RolePath": "ci",
            "MaxSessionDuration": "90",
            "Tags": [{"Key": "aws:x", "Value": "v"}, {"Kee": "k", "Value": "v"}],
            "FederatedCredentials": [{"Name": "a", "Issuer": "http://x", "Subject": ""}],
            "TokenVersion": 2,
            "TrustedClientAppIds": ["nope"]
        });
        let errors = Properties::parse(&input).unwrap_err();
        let found: Vec<(&str, &str)> = errors
            .iter()
            .map(|error| (error.property.as_str(), error.message.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "Rolename",
                    "unknown property `Rolename`; did you mean `RoleName`?"
                ),
                (
                    "RolePath",
                    "`ci` is not a role path; give `/` or a path that begins and ends with `/`, e.g. `/workloads/`"
                ),
                (
                    "MaxSessionDuration",
                    "`90` is out of range; give whole seconds from 3600 to 43200"
                ),
                (
                    "Tags[0].Key",
                    "`aws:x` starts with `aws:`, which is reserved for AWS; choose another key"
                ),
                ("Tags[1].Kee", "unknown property `Kee`; did you mean `Key`?"),
                ("Tags[1].Key", "missing value; give the tag key"),
                (
                    "FederatedCredentials[0].Name",
                    "`a` is 1 characters long; give 3 to 120 letters, digits, `-` or `_`"
                ),
                (
                    "FederatedCredentials[0].Issuer",
                    "`http://x` is not an https URL; give the issuer exactly as the `iss` claim of the external token, e.g. `https://token.actions.githubusercontent.com`"
                ),
                (
                    "FederatedCredentials[0].Subject",
                    "is empty; give the `sub` claim of the external token, e.g. `repo:my-org/my-repo:environment:prod`"
                ),
                (
                    "TrustedClientAppIds[0]",
                    "`nope` is not an application (client) id; give a GUID such as `11111111-2222-3333-4444-555555555555`"
                ),
                (
                    "TrustedClientAppIds",
                    "with `TokenVersion` 2 only the application itself can assume the role (STS matches the token's `azp` claim, the caller, against the audience), so trusted clients would be refused; use `TokenVersion` 1 or remove `TrustedClientAppIds`"
                ),
            ]
        );
    }

    #[test]
    fn errors_display_as_one_reason() {
        let errors =
            Properties::parse(&json!({"MaxSessionDuration": 90, "RoleName": ""})).unwrap_err();
        assert_eq!(
            errors.to_string(),
            "property `RoleName`: is empty; give 1 to 64 letters, digits or `+=,.@_-`, or leave `RoleName` out to get a generated name; \
             property `MaxSessionDuration`: `90` is out of range; give whole seconds from 3600 to 43200"
        );
    }

    #[test]
    fn never_echoes_huge_values() {
        let huge = "x".repeat(100_000);
        let mut input = Map::new();
        input.insert(huge.clone(), json!(1));
        input.insert("RoleName".to_owned(), json!(huge));
        input.insert("Description".to_owned(), json!(huge));
        input.insert(
            "Policies".to_owned(),
            json!([policy("p", json!({"Statement": [], "Sid": huge}))]),
        );
        let errors = Properties::parse(&Value::Object(input)).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors}");
        for error in &errors {
            let text = error.to_string();
            assert!(!text.contains(&"x".repeat(65)), "{error}");
            assert!(text.len() < 600, "{error}");
        }
        assert_eq!(
            errors.as_slice()[0].property,
            format!("{}…", "x".repeat(64))
        );
    }

    #[test]
    fn null_and_missing_properties_are_the_defaults() {
        let all_null: Map<String, Value> = PROPERTY_NAMES
            .iter()
            .map(|name| ((*name).to_owned(), Value::Null))
            .collect();
        for input in [json!(null), json!({}), Value::Object(all_null)] {
            assert_eq!(Properties::parse(&input).unwrap(), Properties::default());
        }
    }

    #[test]
    fn golden_defaults() {
        assert_eq!(
            parsed(&json!({"ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:f"})),
            json!({
                "RoleName": null,
                "RolePath": "/",
                "Description": null,
                "ManagedPolicyArns": [],
                "Policies": [],
                "PermissionsBoundary": null,
                "MaxSessionDuration": 3600,
                "Tags": [],
                "ApplicationDisplayName": null,
                "FederatedCredentials": [],
                "TrustedClientAppIds": [],
                "RequireAppRoleAssignment": false,
                "TokenVersion": 1
            })
        );
    }

    /// Everything given, stringified the way CloudFormation sends it.
    fn full_input() -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:entra-federated-role",
            "ServiceTimeout": "900",
            "RoleName": "ci-deployer",
            "RolePath": "/federated/",
            "Description": "assumed by the CI pipeline",
            "ManagedPolicyArns": [
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "arn:aws:iam::123456789012:policy/team/Deploy"
            ],
            "Policies": [
                {
                    "PolicyName": "artifacts",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]
                    }
                },
                {
                    "PolicyName": "logs",
                    "PolicyDocument": "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"logs:*\", \"Resource\": \"*\"}]}"
                }
            ],
            "PermissionsBoundary": "arn:aws:iam::123456789012:policy/Boundary",
            "MaxSessionDuration": "7200",
            "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "cost-center", "Value": "42"}],
            "ApplicationDisplayName": "CI deployer (prod)",
            "FederatedCredentials": [
                {
                    "Name": "github-main",
                    "Issuer": "https://token.actions.githubusercontent.com",
                    "Subject": "repo:my-org/my-repo:ref:refs/heads/main",
                    "Description": "deploys from main"
                },
                {
                    "Name": "gitlab",
                    "Issuer": "https://gitlab.com",
                    "Subject": "project_path:g/p:ref_type:branch:ref:main",
                    "Audiences": ["https://gitlab.com"]
                }
            ],
            "TrustedClientAppIds": ["ABCDEF01-2345-6789-ABCD-EF0123456789"],
            "RequireAppRoleAssignment": "True",
            "TokenVersion": "1"
        })
    }

    #[test]
    fn golden_full() {
        assert_eq!(
            parsed(&full_input()),
            json!({
                "RoleName": "ci-deployer",
                "RolePath": "/federated/",
                "Description": "assumed by the CI pipeline",
                "ManagedPolicyArns": [
                    "arn:aws:iam::aws:policy/ReadOnlyAccess",
                    "arn:aws:iam::123456789012:policy/team/Deploy"
                ],
                "Policies": [
                    {
                        "PolicyName": "artifacts",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]
                        }
                    },
                    {
                        "PolicyName": "logs",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]
                        }
                    }
                ],
                "PermissionsBoundary": "arn:aws:iam::123456789012:policy/Boundary",
                "MaxSessionDuration": 7200,
                "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "cost-center", "Value": "42"}],
                "ApplicationDisplayName": "CI deployer (prod)",
                "FederatedCredentials": [
                    {
                        "Name": "github-main",
                        "Issuer": "https://token.actions.githubusercontent.com",
                        "Subject": "repo:my-org/my-repo:ref:refs/heads/main",
                        "Audiences": ["api://AzureADTokenExchange"],
                        "Description": "deploys from main"
                    },
                    {
                        "Name": "gitlab",
                        "Issuer": "https://gitlab.com",
                        "Subject": "project_path:g/p:ref_type:branch:ref:main",
                        "Audiences": ["https://gitlab.com"],
                        "Description": null
                    }
                ],
                "TrustedClientAppIds": ["abcdef01-2345-6789-abcd-ef0123456789"],
                "RequireAppRoleAssignment": true,
                "TokenVersion": 1
            })
        );
    }

    #[test]
    fn golden_typed_value() {
        let input = json!({
            "RoleName": "r",
            "MaxSessionDuration": 43200,
            "Tags": [{"Key": "k", "Value": "v"}],
            "FederatedCredentials": [credential("main", "s")],
            "TokenVersion": "2"
        });
        let expected = Properties {
            role_name: Some(RoleName::parse("r").unwrap()),
            max_session_duration: MaxSessionDuration::new(43_200).unwrap(),
            tags: vec![Tag {
                key: TagKey::parse("k").unwrap(),
                value: TagValue::parse("v").unwrap(),
            }],
            federated_credentials: vec![FederatedCredential {
                name: CredentialName::parse("main").unwrap(),
                issuer: Issuer::parse(GITHUB).unwrap(),
                subject: Subject::parse("s").unwrap(),
                audience: Audience::token_exchange(),
                description: None,
            }],
            token_version: TokenVersion::V2,
            ..Properties::default()
        };
        assert_eq!(Properties::parse(&input).unwrap(), expected);
    }

    #[test]
    fn stringified_and_typed_scalars_parse_alike() {
        let stringified = json!({
            "RoleName": "123", "MaxSessionDuration": "7200",
            "RequireAppRoleAssignment": "true", "TokenVersion": "2",
            "Tags": [{"Key": "n", "Value": "1"}]
        });
        let typed = json!({
            "RoleName": 123, "MaxSessionDuration": 7200,
            "RequireAppRoleAssignment": true, "TokenVersion": 2,
            "Tags": [{"Key": "n", "Value": 1}]
        });
        assert_eq!(
            Properties::parse(&stringified).unwrap(),
            Properties::parse(&typed).unwrap()
        );
    }

    #[test]
    fn replacement_key_holds_the_replacement_properties() {
        let properties = Properties::parse(&full_input()).unwrap();
        let key = properties.replacement_key();
        assert_eq!(
            serde_json::to_value(&key).unwrap(),
            json!({"RoleName": "ci-deployer", "RolePath": "/federated/", "TokenVersion": 1})
        );
        assert_eq!(
            serde_json::to_value(Properties::default().replacement_key()).unwrap(),
            json!({"RoleName": null, "RolePath": "/", "TokenVersion": 1})
        );
    }

    #[rstest]
    #[case::exact("RoleName", Some("RoleName"))]
    #[case::case_only("ROLENAME", Some("RoleName"))]
    #[case::one_edit("RoleNme", Some("RoleName"))]
    #[case::two_edits("RleNme", Some("RoleName"))]
    #[case::three_edits("RlNme", None)]
    #[case::closest_wins("Tag", Some("Tags"))]
    #[case::nothing_close("Principal", None)]
    fn suggests_close_names(#[case] key: &str, #[case] expected: Option<&str>) {
        assert_eq!(suggestion(key, &PROPERTY_NAMES), expected);
    }
}
