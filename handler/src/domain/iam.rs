//! IAM-side values of the property contract: role name, path and description, managed
//! policy ARNs, inline policies, session duration and tags.
//!
//! Limits and character sets follow the IAM API reference (`CreateRole`, `PutRolePolicy`,
//! `AttachRolePolicy`, `TagRole`) and the "IAM and AWS STS quotas" page of the IAM User
//! Guide (`reference_iam-quotas`): 20 managed policies per role (the maximum the quota can
//! be raised to), 10,240 characters for all inline policies of a role (whitespace not
//! counted), 50 tags per role.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{InvalidValue, echo, echo_char, kind};

/// Longest IAM role name.
pub const MAX_ROLE_NAME_CHARS: usize = 64;
/// Longest IAM role path.
pub const MAX_ROLE_PATH_CHARS: usize = 512;
/// Longest IAM role description.
pub const MAX_ROLE_DESCRIPTION_CHARS: usize = 1000;
/// Longest IAM policy name (managed or inline).
pub const MAX_POLICY_NAME_CHARS: usize = 128;
/// Most managed policies one role can have attached (IAM's maximum quota).
pub const MAX_MANAGED_POLICIES: usize = 20;
/// Largest aggregate size of a role's inline policies, in characters without whitespace.
pub const MAX_INLINE_POLICIES_SIZE: usize = 10_240;
/// Shortest `MaxSessionDuration`, in seconds (one hour).
pub const MIN_SESSION_SECONDS: u32 = 3_600;
/// Longest `MaxSessionDuration`, in seconds (twelve hours).
pub const MAX_SESSION_SECONDS: u32 = 43_200;
/// Longest tag key.
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Longest tag value.
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// Most tags a user may give: IAM allows 50 per role, five are kept for our ownership
/// markers.
pub const MAX_USER_TAGS: usize = 45;
/// Tag key prefix (compared case-insensitively) reserved for this resource's ownership
/// markers; users may not set such keys.
pub const RESERVED_TAG_PREFIX: &str = "entra-federated-role:";
/// Tag key prefix (compared case-insensitively) reserved by AWS.
pub const AWS_TAG_PREFIX: &str = "aws:";
/// AWS partitions an IAM policy ARN may name.
pub const PARTITIONS: [&str; 8] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// Characters of IAM names besides ASCII letters and digits (`[\w+=,.@-]`).
const IAM_NAME_SYMBOLS: &str = "+=,.@_-";

fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || IAM_NAME_SYMBOLS.contains(c)
}

/// Checks an IAM name: 1 to `max` characters of `[A-Za-z0-9+=,.@_-]`.
fn check_iam_name(value: &str, max: usize, empty_hint: &str) -> Result<(), InvalidValue> {
    let len = value.chars().count();
    if len == 0 {
        return Err(InvalidValue::new(format!("is empty; {empty_hint}")));
    }
    if len > max {
        return Err(too_long(value, len, max));
    }
    if let Some(c) = value.chars().find(|c| !is_iam_name_char(*c)) {
        return Err(InvalidValue::new(format!(
            "{} contains {}; use only letters, digits and `+=,.@_-`",
            echo(value),
            echo_char(c)
        )));
    }
    Ok(())
}

pub(crate) fn too_long(value: &str, len: usize, max: usize) -> InvalidValue {
    InvalidValue::new(format!(
        "{} is {len} characters long; give at most {max}",
        echo(value)
    ))
}

string_newtype! {
    /// An IAM role name: 1 to 64 characters of `[A-Za-z0-9+=,.@_-]`.
    RoleName
}

impl RoleName {
    /// Validates a role name.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        check_iam_name(
            value,
            MAX_ROLE_NAME_CHARS,
            "give 1 to 64 letters, digits or `+=,.@_-`, or leave `RoleName` out to get a generated name",
        )?;
        Ok(Self(value.to_owned()))
    }
}

string_newtype! {
    /// An IAM role path: `/`, or 1 to 512 characters that begin and end with `/` with
    /// printable ASCII (`U+0021`–`U+007E`) in between.
    RolePath
}

impl RolePath {
    /// Validates a role path.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let len = value.chars().count();
        if len == 0 {
            return Err(InvalidValue::new(
                "is empty; give `/` or a path that begins and ends with `/`, e.g. `/workloads/`",
            ));
        }
        if len > MAX_ROLE_PATH_CHARS {
            return Err(too_long(value, len, MAX_ROLE_PATH_CHARS));
        }
        if let Some(c) = value.chars().find(|c| !('\u{21}'..='\u{7e}').contains(c)) {
            return Err(InvalidValue::new(format!(
                "{} contains {}; use only printable ASCII characters without spaces",
                echo(value),
                echo_char(c)
            )));
        }
        if value != "/" && (len < 3 || !value.starts_with('/') || !value.ends_with('/')) {
            return Err(InvalidValue::new(format!(
                "{} is not a role path; give `/` or a path that begins and ends with `/`, e.g. `/workloads/`",
                echo(value)
            )));
        }
        Ok(Self(value.to_owned()))
    }

    /// The root path `/`, IAM's default.
    pub fn root() -> Self {
        Self("/".to_owned())
    }
}

impl Default for RolePath {
    fn default() -> Self {
        Self::root()
    }
}

string_newtype! {
    /// An IAM role description: at most 1000 characters of
    /// `[\t\n\r\u0020-\u007E\u00A1-\u00FF]`.
    RoleDescription
}

impl RoleDescription {
    /// Validates a role description (the empty string is accepted, as IAM does).
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let len = value.chars().count();
        if len > MAX_ROLE_DESCRIPTION_CHARS {
            return Err(too_long(value, len, MAX_ROLE_DESCRIPTION_CHARS));
        }
        let allowed =
            |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a1}'..='\u{ff}');
        if let Some(c) = value.chars().find(|c| !allowed(*c)) {
            return Err(InvalidValue::new(format!(
                "{} contains {}, which IAM does not accept in a role description; use printable ASCII or Latin-1 characters",
                echo(value),
                echo_char(c)
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

string_newtype! {
    /// The ARN of an IAM managed policy:
    /// `arn:<partition>:iam::<12-digit account or aws>:policy/<path/><name>`.
    PolicyArn
}

impl PolicyArn {
    /// Validates a managed policy ARN.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let bad = |why: String| {
            InvalidValue::new(format!(
                "{} is not an IAM managed policy ARN ({why}); give e.g. `arn:aws:iam::123456789012:policy/MyPolicy` or `arn:aws:iam::aws:policy/ReadOnlyAccess`",
                echo(value)
            ))
        };
        let fields: Vec<&str> = value.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = fields[..] else {
            return Err(bad("it needs six `:`-separated fields".to_owned()));
        };
        if arn != "arn" {
            return Err(bad("it must start with `arn:`".to_owned()));
        }
        if !PARTITIONS.contains(&partition) {
            return Err(bad(format!(
                "unknown partition {}; use one of {}",
                echo(partition),
                PARTITIONS.join(", ")
            )));
        }
        if service != "iam" {
            return Err(bad("the service must be `iam`".to_owned()));
        }
        if !region.is_empty() {
            return Err(bad("IAM ARNs have no region".to_owned()));
        }
        let account_ok = account == "aws"
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
        if !account_ok {
            return Err(bad(
                "the account must be a 12-digit account id, or `aws` for AWS managed policies"
                    .to_owned(),
            ));
        }
        let Some(rest) = resource.strip_prefix("policy/") else {
            return Err(bad("the resource must be `policy/<name>`".to_owned()));
        };
        let (path, name) = match rest.rsplit_once('/') {
            Some((path, name)) => (Some(path), name),
            None => (None, rest),
        };
        let path_ok = path.is_none_or(|path| {
            path.len() < MAX_ROLE_PATH_CHARS
                && path.split('/').all(|segment| !segment.is_empty())
                && path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c))
        });
        if !path_ok {
            return Err(bad(
                "the policy path must be `/`-separated printable ASCII segments".to_owned(),
            ));
        }
        let name_len = name.chars().count();
        if name_len == 0 || name_len > MAX_POLICY_NAME_CHARS || !name.chars().all(is_iam_name_char)
        {
            return Err(bad(
                "the policy name must be 1 to 128 letters, digits or `+=,.@_-`".to_owned(),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    fn fields(&self) -> Vec<&str> {
        self.0.splitn(6, ':').collect()
    }

    /// The partition, e.g. `aws`.
    pub fn partition(&self) -> &str {
        self.fields()[1]
    }

    /// The owning account: a 12-digit id, or `aws` for AWS managed policies.
    pub fn account(&self) -> &str {
        self.fields()[4]
    }

    /// Whether this is an AWS managed policy (account `aws`).
    pub fn is_aws_managed(&self) -> bool {
        self.account() == "aws"
    }

    /// The policy path, `/` when none is given, e.g. `/service-role/`.
    pub fn path(&self) -> &str {
        let resource = self.fields()[5];
        // "policy/" + rest; the path is everything from the slash after "policy" to the
        // last slash, inclusive.
        let start = "policy".len();
        let end = resource.rfind('/').unwrap_or(start) + 1;
        &resource[start..end]
    }

    /// The policy name, e.g. `ReadOnlyAccess`.
    pub fn name(&self) -> &str {
        let resource = self.fields()[5];
        resource.rsplit_once('/').map_or(resource, |(_, name)| name)
    }
}

string_newtype! {
    /// The name of an inline role policy: 1 to 128 characters of `[A-Za-z0-9+=,.@_-]`.
    PolicyName
}

impl PolicyName {
    /// Validates an inline policy name.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        check_iam_name(
            value,
            MAX_POLICY_NAME_CHARS,
            "give 1 to 128 letters, digits or `+=,.@_-`",
        )?;
        Ok(Self(value.to_owned()))
    }
}

/// An IAM policy document: a JSON object with a `Statement`.
///
/// Displays as compact JSON, the form sent to IAM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PolicyDocument(Map<String, Value>);

impl PolicyDocument {
    /// Validates a document given as a JSON object, or as a string holding a JSON object
    /// (both occur in templates: `AWS::IAM::Role` accepts either).
    pub fn from_value(value: &Value) -> Result<Self, InvalidValue> {
        match value {
            Value::Object(map) => Self::from_map(map.clone()),
            Value::String(text) => Self::parse(text),
            other => Err(InvalidValue::new(format!(
                "expected a policy document (a JSON object, or a string holding one), found {}",
                kind(other)
            ))),
        }
    }

    /// Validates a document given as JSON text.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Self::from_map(map),
            Ok(other) => Err(InvalidValue::new(format!(
                "holds {} instead of a JSON object; give the policy document as an object",
                kind(&other)
            ))),
            Err(error) => Err(InvalidValue::new(format!(
                "is not valid JSON ({error}); give the policy document as an object, or as a string holding a JSON object"
            ))),
        }
    }

    fn from_map(map: Map<String, Value>) -> Result<Self, InvalidValue> {
        if !map.contains_key("Statement") {
            return Err(InvalidValue::new(
                "has no `Statement`; give e.g. `{\"Version\": \"2012-10-17\", \"Statement\": [...]}`",
            ));
        }
        let document = Self(map);
        if let Some(c) = document.to_json().chars().find(|c| *c > '\u{ff}') {
            return Err(InvalidValue::new(format!(
                "contains {}, which IAM does not accept in policies; use only ASCII and Latin-1 characters",
                echo_char(c)
            )));
        }
        Ok(document)
    }

    /// The document as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The document as compact JSON text.
    pub fn to_json(&self) -> String {
        self.to_string()
    }

    /// The size IAM counts against [`MAX_INLINE_POLICIES_SIZE`]: characters of the
    /// compact JSON, whitespace excluded.
    pub fn size(&self) -> usize {
        self.to_json()
            .chars()
            .filter(|c| !c.is_whitespace())
            .count()
    }
}

impl fmt::Display for PolicyDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_string(&self.0).map_err(|_| fmt::Error)?;
        f.write_str(&json)
    }
}

/// An inline role policy, as in `AWS::IAM::Role`'s `Policies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InlinePolicy {
    /// The policy's name, unique (case-insensitively) on the role.
    pub policy_name: PolicyName,
    /// The policy itself.
    pub policy_document: PolicyDocument,
}

/// The longest session the role allows, in whole seconds from 3600 to 43200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MaxSessionDuration(u32);

impl MaxSessionDuration {
    /// Validates a duration in seconds.
    pub fn new(seconds: u32) -> Result<Self, InvalidValue> {
        if (MIN_SESSION_SECONDS..=MAX_SESSION_SECONDS).contains(&seconds) {
            Ok(Self(seconds))
        } else {
            Err(Self::out_of_range(&seconds.to_string()))
        }
    }

    /// Validates a duration given as text: decimal digits only, no sign, no fraction.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidValue::new(format!(
                "{} is not a whole number; give whole seconds from 3600 to 43200",
                echo(text)
            )));
        }
        match text.parse::<u32>() {
            Ok(seconds) => Self::new(seconds),
            Err(_) => Err(Self::out_of_range(text)),
        }
    }

    fn out_of_range(text: &str) -> InvalidValue {
        InvalidValue::new(format!(
            "{} is out of range; give whole seconds from 3600 to 43200",
            echo(text)
        ))
    }

    /// The duration in seconds.
    pub fn seconds(self) -> u32 {
        self.0
    }
}

impl Default for MaxSessionDuration {
    fn default() -> Self {
        Self(MIN_SESSION_SECONDS)
    }
}

/// Characters of IAM tag keys and values: `[\p{L}\p{Z}\p{N}_.:/=+\-@]`.
///
/// `\p{L}` is approximated by `char::is_alphabetic` (which also admits a few combining
/// marks), `\p{N}` is exactly `char::is_numeric`, and `\p{Z}` is listed below.
fn is_tag_char(c: char) -> bool {
    c.is_alphabetic() || c.is_numeric() || is_unicode_separator(c) || "_.:/=+-@".contains(c)
}

/// Unicode general category Z (Zs, Zl, Zp).
fn is_unicode_separator(c: char) -> bool {
    matches!(
        c,
        '\u{20}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

fn check_tag_chars(value: &str) -> Result<(), InvalidValue> {
    match value.chars().find(|c| !is_tag_char(*c)) {
        Some(c) => Err(InvalidValue::new(format!(
            "{} contains {}; use only letters, digits, spaces and `_ . : / = + - @`",
            echo(value),
            echo_char(c)
        ))),
        None => Ok(()),
    }
}

string_newtype! {
    /// An IAM tag key: 1 to 128 letters, digits, spaces or `_ . : / = + - @`.
    TagKey
}

impl TagKey {
    /// Validates a tag key (reserved prefixes are the caller's concern, see
    /// [`TagKey::reserved_prefix`]).
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let len = value.chars().count();
        if len == 0 {
            return Err(InvalidValue::new(
                "is empty; give a tag key of 1 to 128 characters",
            ));
        }
        if len > MAX_TAG_KEY_CHARS {
            return Err(too_long(value, len, MAX_TAG_KEY_CHARS));
        }
        check_tag_chars(value)?;
        Ok(Self(value.to_owned()))
    }

    /// The reserved prefix this key starts with (compared case-insensitively), if any:
    /// [`AWS_TAG_PREFIX`] or [`RESERVED_TAG_PREFIX`].
    pub fn reserved_prefix(&self) -> Option<&'static str> {
        [AWS_TAG_PREFIX, RESERVED_TAG_PREFIX]
            .into_iter()
            .find(|prefix| starts_with_ignore_ascii_case(&self.0, prefix))
    }
}

pub(crate) fn starts_with_ignore_ascii_case(value: &str, prefix: &str) -> bool {
    value
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

string_newtype! {
    /// An IAM tag value: 0 to 256 letters, digits, spaces or `_ . : / = + - @`.
    TagValue
}

impl TagValue {
    /// Validates a tag value.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let len = value.chars().count();
        if len > MAX_TAG_VALUE_CHARS {
            return Err(too_long(value, len, MAX_TAG_VALUE_CHARS));
        }
        check_tag_chars(value)?;
        Ok(Self(value.to_owned()))
    }
}

/// A role tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// The key, unique (case-insensitively) on the role.
    pub key: TagKey,
    /// The value.
    pub value: TagValue,
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    #[rstest]
    #[case::one_char("a")]
    #[case::all_symbols("a+=,.@_-Z9")]
    #[case::exactly_64(&"r".repeat(64))]
    fn role_name_accepts(#[case] value: &str) {
        assert_eq!(RoleName::parse(value).unwrap().as_str(), value);
    }

    #[rstest]
    #[case::empty("", "is empty")]
    #[case::too_long(&"r".repeat(65), "65 characters long; give at most 64")]
    #[case::space("my role", "contains ' '")]
    #[case::slash("a/b", "contains '/'")]
    #[case::non_ascii("rôle", "contains 'ô'")]
    fn role_name_rejects(#[case] value: &str, #[case] phrase: &str) {
        let error = RoleName::parse(value).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
    }

    #[rstest]
    #[case::root("/")]
    #[case::one_segment("/a/")]
    #[case::nested("/division/team/")]
    #[case::printable_ascii("/a!~b/")]
    #[case::exactly_512(&format!("/{}/", "p".repeat(510)))]
    fn role_path_accepts(#[case] value: &str) {
        assert_eq!(RolePath::parse(value).unwrap().as_str(), value);
    }

    #[rstest]
    #[case::empty("", "is empty")]
    #[case::no_leading_slash("a/", "begins and ends with `/`")]
    #[case::no_trailing_slash("/a", "begins and ends with `/`")]
    #[case::double_slash_only("//", "begins and ends with `/`")]
    #[case::space("/a b/", "contains ' '")]
    #[case::non_ascii("/é/", "contains 'é'")]
    #[case::too_long(&format!("/{}/", "p".repeat(511)), "513 characters long; give at most 512")]
    fn role_path_rejects(#[case] value: &str, #[case] phrase: &str) {
        let error = RolePath::parse(value).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
    }

    #[rstest]
    #[case::empty("")]
    #[case::tabs_and_newlines("line one\n\tline two\r\n")]
    #[case::latin1("café ÿ ¡")]
    #[case::exactly_1000(&"d".repeat(1000))]
    fn role_description_accepts(#[case] value: &str) {
        assert_eq!(RoleDescription::parse(value).unwrap().as_str(), value);
    }

    #[rstest]
    #[case::too_long(&"d".repeat(1001), "1001 characters long; give at most 1000")]
    #[case::euro_sign("costs €", "contains '€'")]
    #[case::control("bell\u{7}", "contains '\\u{7}'")]
    #[case::nbsp_is_below_a1("a\u{a0}b", "contains")]
    fn role_description_rejects(#[case] value: &str, #[case] phrase: &str) {
        let error = RoleDescription::parse(value).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
    }

    #[rstest]
    #[case::customer(
        "arn:aws:iam::123456789012:policy/MyPolicy",
        "aws",
        "123456789012",
        "/",
        "MyPolicy"
    )]
    #[case::aws_managed(
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "aws",
        "aws",
        "/",
        "ReadOnlyAccess"
    )]
    #[case::with_path(
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "aws",
        "aws",
        "/service-role/",
        "AWSLambdaBasicExecutionRole"
    )]
    #[case::deep_path(
        "arn:aws-cn:iam::123456789012:policy/a/b/P+=,.@_-",
        "aws-cn",
        "123456789012",
        "/a/b/",
        "P+=,.@_-"
    )]
    #[case::gov(
        "arn:aws-us-gov:iam::123456789012:policy/P",
        "aws-us-gov",
        "123456789012",
        "/",
        "P"
    )]
    #[case::iso(
        "arn:aws-iso:iam::123456789012:policy/P",
        "aws-iso",
        "123456789012",
        "/",
        "P"
    )]
    #[case::iso_b(
        "arn:aws-iso-b:iam::123456789012:policy/P",
        "aws-iso-b",
        "123456789012",
        "/",
        "P"
    )]
    #[case::iso_e(
        "arn:aws-iso-e:iam::123456789012:policy/P",
        "aws-iso-e",
        "123456789012",
        "/",
        "P"
    )]
    #[case::iso_f(
        "arn:aws-iso-f:iam::123456789012:policy/P",
        "aws-iso-f",
        "123456789012",
        "/",
        "P"
    )]
    #[case::eusc(
        "arn:aws-eusc:iam::123456789012:policy/P",
        "aws-eusc",
        "123456789012",
        "/",
        "P"
    )]
    #[case::name_128(&format!("arn:aws:iam::aws:policy/{}", "n".repeat(128)), "aws", "aws", "/", &"n".repeat(128))]
    fn policy_arn_accepts(
        #[case] value: &str,
        #[case] partition: &str,
        #[case] account: &str,
        #[case] path: &str,
        #[case] name: &str,
    ) {
        let arn = PolicyArn::parse(value).unwrap();
        assert_eq!(
            (
                arn.as_str(),
                arn.partition(),
                arn.account(),
                arn.path(),
                arn.name()
            ),
            (value, partition, account, path, name)
        );
        assert_eq!(arn.is_aws_managed(), account == "aws");
    }

    #[rstest]
    #[case::not_an_arn("ReadOnlyAccess", "six `:`-separated fields")]
    #[case::wrong_prefix("urn:aws:iam::aws:policy/P", "must start with `arn:`")]
    #[case::unknown_partition("arn:aws-mars:iam::aws:policy/P", "unknown partition `aws-mars`")]
    #[case::wrong_service("arn:aws:s3::aws:policy/P", "the service must be `iam`")]
    #[case::region("arn:aws:iam:us-east-1:aws:policy/P", "no region")]
    #[case::short_account("arn:aws:iam::12345678901:policy/P", "12-digit account id")]
    #[case::alpha_account("arn:aws:iam::12345678901x:policy/P", "12-digit account id")]
    #[case::role_not_policy("arn:aws:iam::123456789012:role/R", "`policy/<name>`")]
    #[case::empty_name("arn:aws:iam::aws:policy/", "1 to 128 letters")]
    #[case::empty_path_segment("arn:aws:iam::aws:policy/a//P", "printable ASCII segments")]
    #[case::leading_empty_segment("arn:aws:iam::aws:policy//P", "printable ASCII segments")]
    #[case::name_129(&format!("arn:aws:iam::aws:policy/{}", "n".repeat(129)), "1 to 128 letters")]
    #[case::name_with_space("arn:aws:iam::aws:policy/My Policy", "1 to 128 letters")]
    fn policy_arn_rejects(#[case] value: &str, #[case] phrase: &str) {
        let error = PolicyArn::parse(value).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
        assert!(
            error.message().contains("is not an IAM managed policy ARN"),
            "{error}"
        );
    }

    #[rstest]
    #[case::object(json!({"Statement": []}))]
    #[case::string(json!("{\"Version\":\"2012-10-17\",\"Statement\":[]}"))]
    fn policy_document_accepts_object_or_string(#[case] value: Value) {
        let document = PolicyDocument::from_value(&value).unwrap();
        assert!(document.as_map().contains_key("Statement"));
    }

    #[rstest]
    #[case::no_statement(json!({"Version": "2012-10-17"}), "has no `Statement`")]
    #[case::string_without_statement(json!("{}"), "has no `Statement`")]
    #[case::invalid_json(json!("{not json"), "is not valid JSON")]
    #[case::json_list(json!("[1]"), "holds a list instead of a JSON object")]
    #[case::number(json!(3), "found a number")]
    #[case::list(json!([{"Statement": []}]), "found a list")]
    #[case::outside_latin1(json!({"Statement": [], "Sid": "€"}), "contains '€'")]
    fn policy_document_rejects(#[case] value: Value, #[case] phrase: &str) {
        let error = PolicyDocument::from_value(&value).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
    }

    #[test]
    fn policy_document_size_ignores_whitespace() {
        let document = PolicyDocument::from_value(&json!({"Statement": [], "Sid": "a b"})).unwrap();
        // Key order follows serde_json's map (insertion order once `preserve_order` is on).
        let compact = document.to_json();
        assert_eq!(
            serde_json::from_str::<Value>(&compact).unwrap(),
            json!({"Statement": [], "Sid": "a b"})
        );
        assert_eq!(compact.len(), r#"{"Sid":"a b","Statement":[]}"#.len());
        assert_eq!(document.size(), r#"{"Sid":"ab","Statement":[]}"#.len());
    }

    #[rstest]
    #[case::min("3600", 3600)]
    #[case::max("43200", 43200)]
    #[case::leading_zero("07200", 7200)]
    fn max_session_duration_accepts(#[case] text: &str, #[case] seconds: u32) {
        assert_eq!(MaxSessionDuration::parse(text).unwrap().seconds(), seconds);
    }

    #[rstest]
    #[case::below("3599", "`3599` is out of range")]
    #[case::above("43201", "`43201` is out of range")]
    #[case::overflow("99999999999999999999", "is out of range")]
    #[case::fraction("3600.5", "is not a whole number")]
    #[case::plus_sign("+3600", "is not a whole number")]
    #[case::minus_sign("-3600", "is not a whole number")]
    #[case::spaces(" 3600", "is not a whole number")]
    #[case::empty("", "is not a whole number")]
    #[case::words("one hour", "is not a whole number")]
    fn max_session_duration_rejects(#[case] text: &str, #[case] phrase: &str) {
        let error = MaxSessionDuration::parse(text).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
        assert!(
            error
                .message()
                .ends_with("give whole seconds from 3600 to 43200"),
            "{error}"
        );
    }

    #[rstest]
    #[case::ascii("CostCenter")]
    #[case::symbols("a_b.c:d/e=f+g-h@i")]
    #[case::spaces("cost center")]
    #[case::unicode_letters_and_digits("Kostenstelle-Größe-٣")]
    #[case::ideographic_space("a\u{3000}b")]
    #[case::exactly_128(&"k".repeat(128))]
    fn tag_key_accepts(#[case] value: &str) {
        assert_eq!(TagKey::parse(value).unwrap().as_str(), value);
    }

    #[rstest]
    #[case::empty("", "is empty")]
    #[case::too_long(&"k".repeat(129), "129 characters long; give at most 128")]
    #[case::comma("a,b", "contains ','")]
    #[case::tab("a\tb", "contains '\\t'")]
    #[case::emoji("a🙂", "contains '🙂'")]
    fn tag_key_rejects(#[case] value: &str, #[case] phrase: &str) {
        let error = TagKey::parse(value).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
    }

    #[rstest]
    #[case::empty("")]
    #[case::exactly_256(&"v".repeat(256))]
    #[case::url_like("https://example.com/a=b+c@d")]
    fn tag_value_accepts(#[case] value: &str) {
        assert_eq!(TagValue::parse(value).unwrap().as_str(), value);
    }

    #[rstest]
    #[case::too_long(&"v".repeat(257), "257 characters long; give at most 256")]
    #[case::quote("\"x\"", "contains '\"'")]
    fn tag_value_rejects(#[case] value: &str, #[case] phrase: &str) {
        let error = TagValue::parse(value).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
    }

    #[rstest]
    #[case::plain("team", None)]
    #[case::aws("aws:cloudformation:stack-id", Some(AWS_TAG_PREFIX))]
    #[case::aws_upper("AWS:x", Some(AWS_TAG_PREFIX))]
    #[case::ours("entra-federated-role:generation", Some(RESERVED_TAG_PREFIX))]
    #[case::ours_mixed_case("Entra-Federated-Role:x", Some(RESERVED_TAG_PREFIX))]
    #[case::aws_without_colon("awsome", None)]
    fn tag_key_reserved_prefix(#[case] key: &str, #[case] expected: Option<&str>) {
        assert_eq!(TagKey::parse(key).unwrap().reserved_prefix(), expected);
    }
}
