//! Errors of the property contract: an [`InvalidValue`] says why one value was refused, a
//! [`PropertyError`] adds the property path it was found at, and [`PropertyErrors`] holds
//! every error of one parse so the user can fix them all in one go.

use std::fmt;

use serde_json::Value;

/// Longest part of a user-supplied value echoed back in a message, in characters.
///
/// Error messages end up in CloudFormation's `Reason` (at most 4096 bytes for the whole
/// response), so a huge value must never be echoed whole.
pub const MAX_ECHO_CHARS: usize = 64;

/// Why one value was refused: a lowercase sentence, without trailing period, that says how
/// to fix it. Returned by the fallible constructors of the domain newtypes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(String);

impl InvalidValue {
    /// A refusal with the given message.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// The message: what is wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.0
    }

    /// The message, owned.
    pub fn into_message(self) -> String {
        self.0
    }
}

/// One invalid property value, at a path such as `FederatedCredentials[2].Name`.
///
/// Displays as ``property `<path>`: <message>``.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("property `{property}`: {message}")]
pub struct PropertyError {
    /// Where the value is: the property name, then `[index]` and `.Key` for nested values.
    pub property: String,
    /// What is wrong and how to fix it (lowercase, no trailing period).
    pub message: String,
}

impl PropertyError {
    /// An error at `property` with `message`.
    pub fn new(property: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            property: property.into(),
            message: message.into(),
        }
    }
}

/// Every error found while parsing one set of properties (never empty when returned by
/// [`Properties::parse`](super::Properties::parse)).
///
/// Displays as the errors joined with `"; "`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(transparent)]
pub struct PropertyErrors(Vec<PropertyError>);

impl PropertyErrors {
    /// Wraps the collected errors.
    pub fn new(errors: Vec<PropertyError>) -> Self {
        Self(errors)
    }

    /// The errors, in the order they were found.
    pub fn as_slice(&self) -> &[PropertyError] {
        &self.0
    }

    /// Iterates over the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, PropertyError> {
        self.0.iter()
    }

    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no error at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors, owned.
    pub fn into_vec(self) -> Vec<PropertyError> {
        self.0
    }
}

impl fmt::Display for PropertyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            fmt::Display::fmt(error, f)?;
        }
        Ok(())
    }
}

impl From<PropertyError> for PropertyErrors {
    fn from(error: PropertyError) -> Self {
        Self(vec![error])
    }
}

impl<'a> IntoIterator for &'a PropertyErrors {
    type Item = &'a PropertyError;
    type IntoIter = std::slice::Iter<'a, PropertyError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for PropertyErrors {
    type Item = PropertyError;
    type IntoIter = std::vec::IntoIter<PropertyError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A user value quoted for a message: in backticks, control characters escaped, cut to
/// [`MAX_ECHO_CHARS`] characters with a trailing `…` when longer.
pub(crate) fn echo(value: &str) -> String {
    format!("`{}`", shorten(value))
}

/// A user value cut to [`MAX_ECHO_CHARS`] characters (plus `…`), control characters
/// escaped; for paths built from unknown keys.
pub(crate) fn shorten(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_ECHO_CHARS + 8));
    let mut chars = value.chars();
    for c in chars.by_ref().take(MAX_ECHO_CHARS) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// One offending character, quoted and escaped, e.g. `' '` or `'\n'`.
pub(crate) fn echo_char(c: char) -> String {
    format!("{c:?}")
}

/// How a JSON value is called in messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::short("abc", "`abc`")]
    #[case::empty("", "``")]
    #[case::exactly_64(&"a".repeat(64), &format!("`{}`", "a".repeat(64)))]
    #[case::cut_at_64(&"b".repeat(65), &format!("`{}…`", "b".repeat(64)))]
    #[case::huge(&"c".repeat(100_000), &format!("`{}…`", "c".repeat(64)))]
    #[case::control_escaped("a\nb\u{7}", "`a\\nb\\u{7}`")]
    #[case::counts_characters_not_bytes(&"é".repeat(70), &format!("`{}…`", "é".repeat(64)))]
    fn echo_quotes_and_truncates(#[case] value: &str, #[case] expected: &str) {
        assert_eq!(echo(value), expected);
    }

    #[test]
    fn one_error_displays_path_then_message() {
        let error = PropertyError::new(
            "MaxSessionDuration",
            "`90` is out of range; give whole seconds from 3600 to 43200",
        );
        assert_eq!(
            error.to_string(),
            "property `MaxSessionDuration`: `90` is out of range; give whole seconds from 3600 to 43200"
        );
    }

    #[test]
    fn errors_display_joined_with_semicolons() {
        let errors = PropertyErrors::new(vec![
            PropertyError::new("RoleName", "is empty"),
            PropertyError::new("Tags[0].Key", "missing value"),
        ]);
        assert_eq!(
            errors.to_string(),
            "property `RoleName`: is empty; property `Tags[0].Key`: missing value"
        );
        assert_eq!(errors.len(), 2);
        assert!(!errors.is_empty());
    }

    #[test]
    fn errors_are_a_std_error() {
        let error: Box<dyn std::error::Error> = Box::new(PropertyErrors::from(PropertyError::new(
            "RoleName", "is empty",
        )));
        assert_eq!(error.to_string(), "property `RoleName`: is empty");
    }
}
