//! Reading one `ResourceProperties` object: every value checked, every error collected
//! with its path (`Policies[1].PolicyName`) and what to fix.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;

use serde_json::{Map, Value};

use super::suggest::suggestion;
use super::*;
use crate::domain::entra::{
    Audience, CredentialDescription, CredentialName, Issuer, MAX_FEDERATED_CREDENTIALS, Subject,
};
use crate::domain::error::{InvalidValue, echo, shorten};
use crate::domain::iam::{
    AWS_TAG_PREFIX, MAX_INLINE_POLICIES_SIZE, MAX_MANAGED_POLICIES, MAX_USER_TAGS, PolicyDocument,
    PolicyName, RESERVED_TAG_PREFIX, TagKey, TagValue,
};

/// `true` or `false`, any case.
pub(super) fn parse_bool(text: &str) -> Result<bool, InvalidValue> {
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
pub(super) fn field<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
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
pub(super) struct Parser {
    pub(super) errors: Vec<PropertyError>,
}

impl Parser {
    pub(super) fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(PropertyError::new(path, message));
    }

    pub(super) fn finish(self, properties: Properties) -> Result<Properties, PropertyErrors> {
        if self.errors.is_empty() {
            Ok(properties)
        } else {
            Err(PropertyErrors::new(self.errors))
        }
    }

    /// Reports every key of `map` that is neither `accepted` nor `ignored`, sorted.
    pub(super) fn unknown_keys(
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
    pub(super) fn scalar<T>(
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

    pub(super) fn managed_policy_arns(&mut self, value: Option<&Value>) -> Vec<PolicyArn> {
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

    pub(super) fn policies(&mut self, value: Option<&Value>) -> Vec<InlinePolicy> {
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

    pub(super) fn tags(&mut self, value: Option<&Value>) -> Vec<Tag> {
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

    pub(super) fn federated_credentials(
        &mut self,
        value: Option<&Value>,
    ) -> Vec<FederatedCredential> {
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
                        crate::domain::entra::DEFAULT_AUDIENCE
                    ),
                );
                None
            }
            None => None,
        }
    }

    pub(super) fn trusted_client_app_ids(&mut self, value: Option<&Value>) -> Vec<AppId> {
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
