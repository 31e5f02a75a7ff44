//! Values that must never reach a log, an error message or a CloudFormation response:
//! client secrets, private keys, access tokens and client assertions (DESIGN §6).
//!
//! [`Secret`] holds such a value. Its `Debug` and `Display` print `<redacted>`, it has no
//! `Serialize`, and its memory is zeroed when dropped; the value is read only through
//! [`Secret::expose`], at the one place it is sent.

use std::fmt;

use zeroize::Zeroizing;

/// A value that must not be shown: `Debug` and `Display` print `<redacted>`.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The value, for the one place it is sent (an HTTP header or form field).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        *self.0 == *other.0
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let secret = Secret::new("hunter2-value");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{secret}"), "<redacted>");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            secret: Secret,
        }
        let shown = format!("{:?}", Holder { secret });
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn expose_and_deserialize_keep_the_value() {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Stored {
            client_secret: Secret,
        }
        let stored: Stored = serde_json::from_str(r#"{"clientSecret":"s3cr3t"}"#).unwrap();
        assert_eq!(stored.client_secret.expose(), "s3cr3t");
        assert_eq!(stored.client_secret, Secret::from("s3cr3t"));
        assert!(!stored.client_secret.is_empty());
    }
}
