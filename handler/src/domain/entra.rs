//! Entra-side values of the property contract: the application's display name, its
//! federated identity credentials, trusted client application ids and the access token
//! version.
//!
//! Limits follow Microsoft's documentation:
//! - Graph `federatedIdentityCredential` resource type (learn.microsoft.com/graph/api/
//!   resources/federatedidentitycredential): `name` at most 120 characters and "URL
//!   friendly", `issuer`, `subject`, `description` and the single `audiences` value at most
//!   600 characters each; issuer + subject unique on the application.
//! - "Important considerations and restrictions for federated identity credentials"
//!   (learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations):
//!   at most 20 federated identity credentials per application.
//! - Graph `application` resource type: `displayName` at most 256 characters.

use serde::{Serialize, Serializer};

use super::error::{InvalidValue, echo, echo_char};
use super::iam::too_long;

/// Longest application display name (Graph `application.displayName`).
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;
/// Most federated identity credentials one Entra application can have.
pub const MAX_FEDERATED_CREDENTIALS: usize = 20;
/// Shortest federated identity credential name.
pub const MIN_CREDENTIAL_NAME_CHARS: usize = 3;
/// Longest federated identity credential name.
pub const MAX_CREDENTIAL_NAME_CHARS: usize = 120;
/// Longest issuer, subject, audience or description of a federated identity credential.
pub const MAX_CREDENTIAL_FIELD_CHARS: usize = 600;
/// The audience Entra recommends for federated identity credentials, used when
/// `Audiences` is not given.
pub const DEFAULT_AUDIENCE: &str = "api://AzureADTokenExchange";

string_newtype! {
    /// The Entra application's display name: 1 to 256 characters, not blank, no control
    /// characters.
    DisplayName
}

impl DisplayName {
    /// Validates a display name.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let len = value.chars().count();
        if value.trim().is_empty() {
            return Err(InvalidValue::new(
                "is blank; give a name of 1 to 256 characters, or leave `ApplicationDisplayName` out to derive one from the stack name and logical id",
            ));
        }
        if len > MAX_DISPLAY_NAME_CHARS {
            return Err(too_long(value, len, MAX_DISPLAY_NAME_CHARS));
        }
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(InvalidValue::new(format!(
                "{} contains {}; remove control characters such as tabs and line breaks",
                echo(value),
                echo_char(c)
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

string_newtype! {
    /// The name of a federated identity credential: 3 to 120 characters, letters and
    /// digits, `-` and `_`, starting with a letter or digit.
    ///
    /// Graph only says the name must be "URL friendly" (at most 120 characters); the
    /// Entra admin center refuses anything else than alphanumerics, dashes and underscores
    /// with an alphanumeric first character, and Microsoft documents the same rule as the
    /// pattern `^[a-zA-Z0-9]{1}[a-zA-Z0-9-_]{2,119}$` for federated identity credential
    /// names (ARM `Microsoft.ManagedIdentity/userAssignedIdentities/
    /// federatedIdentityCredentials`, property `name`). We apply that stricter rule so a
    /// name never fails later in Graph.
    CredentialName
}

impl CredentialName {
    /// Validates a credential name.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let len = value.chars().count();
        if !(MIN_CREDENTIAL_NAME_CHARS..=MAX_CREDENTIAL_NAME_CHARS).contains(&len) {
            return Err(InvalidValue::new(format!(
                "{} is {len} characters long; give 3 to 120 letters, digits, `-` or `_`",
                echo(value)
            )));
        }
        if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(InvalidValue::new(format!(
                "{} must start with a letter or digit",
                echo(value)
            )));
        }
        if let Some(c) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(InvalidValue::new(format!(
                "{} contains {}; use only letters, digits, `-` and `_`",
                echo(value),
                echo_char(c)
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

string_newtype! {
    /// The issuer of the external tokens a federated identity credential accepts: an
    /// `https://` URL of at most 600 characters, kept exactly as given (Entra compares it
    /// with the token's `iss` claim character by character).
    Issuer
}

impl Issuer {
    /// Validates an issuer URL.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        const EXAMPLE: &str = "e.g. `https://token.actions.githubusercontent.com`";
        let len = value.chars().count();
        if len == 0 {
            return Err(InvalidValue::new(format!(
                "is empty; give the https URL of the token issuer, {EXAMPLE}"
            )));
        }
        if len > MAX_CREDENTIAL_FIELD_CHARS {
            return Err(too_long(value, len, MAX_CREDENTIAL_FIELD_CHARS));
        }
        if let Some(c) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidValue::new(format!(
                "{} contains {}; give the issuer exactly as the `iss` claim of the external token, {EXAMPLE}",
                echo(value),
                echo_char(c)
            )));
        }
        let valid = value.starts_with("https://")
            && url::Url::parse(value).is_ok_and(|url| {
                url.scheme() == "https"
                    && url.host_str().is_some_and(|host| !host.is_empty())
                    && url.username().is_empty()
                    && url.password().is_none()
            });
        if !valid {
            return Err(InvalidValue::new(format!(
                "{} is not an https URL; give the issuer exactly as the `iss` claim of the external token, {EXAMPLE}",
                echo(value)
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

string_newtype! {
    /// The subject of the external tokens a federated identity credential accepts: 1 to
    /// 600 characters, kept exactly as given (Entra compares it with the token's `sub`).
    Subject
}

impl Subject {
    /// Validates a subject.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let len = value.chars().count();
        if len == 0 {
            return Err(InvalidValue::new(
                "is empty; give the `sub` claim of the external token, e.g. `repo:my-org/my-repo:environment:prod`",
            ));
        }
        if len > MAX_CREDENTIAL_FIELD_CHARS {
            return Err(too_long(value, len, MAX_CREDENTIAL_FIELD_CHARS));
        }
        Ok(Self(value.to_owned()))
    }
}

string_newtype! {
    /// The audience of the external tokens a federated identity credential accepts: 1 to
    /// 600 characters.
    Audience
}

impl Audience {
    /// Validates an audience.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let len = value.chars().count();
        if len == 0 {
            return Err(InvalidValue::new(format!(
                "is empty; give the `aud` claim of the external token, usually `{DEFAULT_AUDIENCE}`"
            )));
        }
        if len > MAX_CREDENTIAL_FIELD_CHARS {
            return Err(too_long(value, len, MAX_CREDENTIAL_FIELD_CHARS));
        }
        Ok(Self(value.to_owned()))
    }

    /// [`DEFAULT_AUDIENCE`], `api://AzureADTokenExchange`.
    pub fn token_exchange() -> Self {
        Self(DEFAULT_AUDIENCE.to_owned())
    }
}

impl Default for Audience {
    fn default() -> Self {
        Self::token_exchange()
    }
}

string_newtype! {
    /// The free-text description of a federated identity credential: at most 600
    /// characters.
    CredentialDescription
}

impl CredentialDescription {
    /// Validates a credential description (the empty string is accepted).
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let len = value.chars().count();
        if len > MAX_CREDENTIAL_FIELD_CHARS {
            return Err(too_long(value, len, MAX_CREDENTIAL_FIELD_CHARS));
        }
        Ok(Self(value.to_owned()))
    }
}

/// A federated identity credential of the Entra application: external tokens from
/// `issuer` with this `subject` and `audience` may sign in as the application.
///
/// Serializes with the property names of the contract (`Audiences` as a one-element
/// list).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FederatedCredential {
    /// The credential's name in Entra, unique (case-insensitively) on the application.
    pub name: CredentialName,
    /// The external token issuer.
    pub issuer: Issuer,
    /// The external token subject.
    pub subject: Subject,
    /// The external token audience (Entra accepts exactly one).
    #[serde(rename = "Audiences", serialize_with = "one_element_list")]
    pub audience: Audience,
    /// A free-text description.
    pub description: Option<CredentialDescription>,
}

fn one_element_list<S: Serializer>(audience: &Audience, serializer: S) -> Result<S::Ok, S::Error> {
    [audience].serialize(serializer)
}

string_newtype! {
    /// An Entra application (client) id: a GUID, normalised to lowercase.
    AppId
}

/// Whether `value` is a GUID: `8-4-4-4-12` hexadecimal digits, any case.
pub fn is_guid(value: &str) -> bool {
    value.len() == 36
        && value.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

impl AppId {
    /// Validates an application id (`8-4-4-4-12` hexadecimal digits, any case).
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if !is_guid(value) {
            return Err(InvalidValue::new(format!(
                "{} is not an application (client) id; give a GUID such as `11111111-2222-3333-4444-555555555555`",
                echo(value)
            )));
        }
        Ok(Self(value.to_ascii_lowercase()))
    }
}

/// The version of the access tokens Entra issues for the application
/// (`api.requestedAccessTokenVersion`), which decides issuer and audience (DESIGN §3, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum TokenVersion {
    /// v1 tokens: issuer `https://sts.windows.net/<tenant>/`, audience `api://<appId>`.
    #[default]
    V1,
    /// v2 tokens: issuer `https://login.microsoftonline.com/<tenant>/v2.0`, audience the
    /// appId; only the application itself can use the role.
    V2,
}

impl TokenVersion {
    /// Validates a token version given as text: `1` or `2`.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text {
            "1" => Ok(Self::V1),
            "2" => Ok(Self::V2),
            _ => Err(InvalidValue::new(format!(
                "{} is not a token version; use 1 (the default) or 2",
                echo(text)
            ))),
        }
    }

    /// The version number, 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }
}

impl Serialize for TokenVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::one_char("x")]
    #[case::unicode("Déploiement 日本")]
    #[case::exactly_256(&"n".repeat(256))]
    fn display_name_accepts(#[case] value: &str) {
        assert_eq!(DisplayName::parse(value).unwrap().as_str(), value);
    }

    #[rstest]
    #[case::empty("", "is blank")]
    #[case::blank("   ", "is blank")]
    #[case::too_long(&"n".repeat(257), "257 characters long; give at most 256")]
    #[case::newline("a\nb", "contains '\\n'")]
    #[case::tab("a\tb", "contains '\\t'")]
    fn display_name_rejects(#[case] value: &str, #[case] phrase: &str) {
        let error = DisplayName::parse(value).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
    }

    #[rstest]
    #[case::three("abc")]
    #[case::digit_first("1-a_b")]
    #[case::github_style("github-main_branch")]
    #[case::exactly_120(&"c".repeat(120))]
    fn credential_name_accepts(#[case] value: &str) {
        assert_eq!(CredentialName::parse(value).unwrap().as_str(), value);
    }

    #[rstest]
    #[case::two("ab", "2 characters long; give 3 to 120")]
    #[case::too_long(&"c".repeat(121), "121 characters long; give 3 to 120")]
    #[case::dash_first("-abc", "must start with a letter or digit")]
    #[case::underscore_first("_abc", "must start with a letter or digit")]
    #[case::space("my cred", "contains ' '")]
    #[case::dot("a.b.c", "contains '.'")]
    #[case::non_ascii("crédit", "contains 'é'")]
    fn credential_name_rejects(#[case] value: &str, #[case] phrase: &str) {
        let error = CredentialName::parse(value).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
    }

    #[rstest]
    #[case::github("https://token.actions.githubusercontent.com")]
    #[case::trailing_slash_kept("https://sts.windows.net/tenant/")]
    #[case::port_and_path("https://gitlab.example.com:8443/path")]
    #[case::exactly_600(&format!("https://e.com/{}", "p".repeat(600 - 14)))]
    fn issuer_accepts(#[case] value: &str) {
        assert_eq!(Issuer::parse(value).unwrap().as_str(), value);
    }

    #[rstest]
    #[case::empty("", "is empty")]
    #[case::http("http://token.actions.githubusercontent.com", "is not an https URL")]
    #[case::uppercase_scheme("HTTPS://example.com", "is not an https URL")]
    #[case::no_scheme("token.actions.githubusercontent.com", "is not an https URL")]
    #[case::no_host("https://", "is not an https URL")]
    #[case::user_info("https://user:pw@example.com", "is not an https URL")]
    #[case::leading_space(" https://example.com", "contains ' '")]
    #[case::too_long(&format!("https://e.com/{}", "p".repeat(600 - 13)), "601 characters long; give at most 600")]
    fn issuer_rejects(#[case] value: &str, #[case] phrase: &str) {
        let error = Issuer::parse(value).unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
    }

    #[rstest]
    #[case::subject_empty(Subject::parse(""), "is empty")]
    #[case::subject_601(Subject::parse(&"s".repeat(601)), "601 characters long")]
    #[case::audience_empty(Audience::parse(""), "is empty")]
    #[case::audience_601(Audience::parse(&"a".repeat(601)), "601 characters long")]
    fn credential_fields_reject<T: std::fmt::Debug>(
        #[case] result: Result<T, InvalidValue>,
        #[case] phrase: &str,
    ) {
        let error = result.unwrap_err();
        assert!(error.message().contains(phrase), "{error}");
    }

    #[test]
    fn credential_fields_accept_600_chars() {
        let long = "x".repeat(600);
        assert_eq!(Subject::parse(&long).unwrap().as_str(), long);
        assert_eq!(Audience::parse(&long).unwrap().as_str(), long);
        assert_eq!(CredentialDescription::parse(&long).unwrap().as_str(), long);
        assert!(CredentialDescription::parse(&"x".repeat(601)).is_err());
    }

    #[rstest]
    #[case::lower(
        "11111111-2222-3333-4444-555555555555",
        "11111111-2222-3333-4444-555555555555"
    )]
    #[case::upper_normalised(
        "ABCDEF01-2345-6789-ABCD-EF0123456789",
        "abcdef01-2345-6789-abcd-ef0123456789"
    )]
    fn app_id_accepts(#[case] value: &str, #[case] expected: &str) {
        assert_eq!(AppId::parse(value).unwrap().as_str(), expected);
    }

    #[rstest]
    #[case::empty("")]
    #[case::braces("{11111111-2222-3333-4444-555555555555}")]
    #[case::no_dashes("11111111222233334444555555555555")]
    #[case::not_hex("g1111111-2222-3333-4444-555555555555")]
    #[case::misplaced_dash("1111111-12222-3333-4444-555555555555")]
    #[case::display_name("my-ci-app")]
    fn app_id_rejects(#[case] value: &str) {
        let error = AppId::parse(value).unwrap_err();
        assert!(
            error
                .message()
                .contains("is not an application (client) id"),
            "{error}"
        );
    }

    #[rstest]
    #[case::one("1", TokenVersion::V1)]
    #[case::two("2", TokenVersion::V2)]
    fn token_version_accepts(#[case] text: &str, #[case] expected: TokenVersion) {
        assert_eq!(TokenVersion::parse(text).unwrap(), expected);
        assert_eq!(expected.number().to_string(), text);
    }

    #[rstest]
    #[case::zero("0")]
    #[case::three("3")]
    #[case::v_prefix("v2")]
    #[case::fraction("2.0")]
    #[case::leading_zero("01")]
    fn token_version_rejects(#[case] text: &str) {
        let error = TokenVersion::parse(text).unwrap_err();
        assert!(
            error.message().contains("use 1 (the default) or 2"),
            "{error}"
        );
    }
}
