//! What the factory last made of an application, recorded on the application itself
//! ([`TAG_WANTED`]), so that an audit can tell a change made outside the factory from
//! what the factory made, without knowing what the stack or the role asked for.
//!
//! The record holds digests, not values: of the federated identity credentials, of the
//! trusted callers' service principals (the trust's subjects other than the application's
//! own), and whether callers need an app-role assignment. It is written with the
//! application's other tags by the upsert that starts every convergence, so it costs no
//! call. Each digest is 80 bits of SHA-256: a change made by hand cannot be shaped to
//! keep a digest, since that would take about 2⁸⁰ tries. Only the factory may write the
//! application's tags (it is the application's only owner); an administrator who rewrites
//! the record can also rewrite anything it describes.

use sha2::{Digest, Sha256};

use super::{FederatedCredential, credentials::CredentialState};

/// The application tag holding the record: `entra-federated-role:wanted=<record>`.
pub const TAG_WANTED: &str = "entra-federated-role:wanted";

/// What the factory last made of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The digest of its federated identity credentials.
    pub credentials: String,
    /// The digest of the trusted callers' service principals.
    pub callers: String,
    /// Whether callers need an app-role assignment.
    pub assignment_required: bool,
}

/// One federated identity credential, as both the wanted and the observed side read.
struct Seen<'a> {
    name: String,
    issuer: &'a str,
    subject: &'a str,
    audiences: Vec<&'a str>,
    description: &'a str,
}

fn credentials_digest(mut seen: Vec<Seen<'_>>) -> String {
    seen.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hash = Sha256::new();
    for credential in &seen {
        for part in [
            credential.name.as_str(),
            credential.issuer,
            credential.subject,
            credential.description,
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        for audience in &credential.audiences {
            hash.update(audience.as_bytes());
            hash.update([1]);
        }
        hash.update([2]);
    }
    hex(hash)
}

fn callers_digest<'a>(callers: impl IntoIterator<Item = &'a str>) -> String {
    let mut callers: Vec<String> = callers.into_iter().map(str::to_ascii_lowercase).collect();
    callers.sort();
    callers.dedup();
    let mut hash = Sha256::new();
    for caller in &callers {
        hash.update(caller.as_bytes());
        hash.update([0]);
    }
    hex(hash)
}

fn hex(hash: Sha256) -> String {
    hash.finalize()
        .iter()
        .take(10)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest of `credentials` as Graph has them.
pub fn observed_credentials(credentials: &[CredentialState]) -> String {
    credentials_digest(
        credentials
            .iter()
            .map(|c| Seen {
                name: c.name.to_ascii_lowercase(),
                issuer: &c.issuer,
                subject: &c.subject,
                audiences: c.audiences.iter().map(String::as_str).collect(),
                description: c.description.as_deref().unwrap_or_default(),
            })
            .collect(),
    )
}

/// The digest of trusted callers, given by their service principals' object ids.
pub fn callers(service_principals: &[&str]) -> String {
    callers_digest(service_principals.iter().copied())
}

impl Record {
    /// The record of what a convergence makes: `credentials` exactly, the trust's and the
    /// assignments' callers `trusted` (service principal object ids) besides the
    /// application's own, and `assignment_required`.
    pub fn wanted(
        credentials: &[FederatedCredential],
        trusted: &[&str],
        assignment_required: bool,
    ) -> Self {
        let seen = credentials
            .iter()
            .map(|c| Seen {
                name: c.name.as_str().to_ascii_lowercase(),
                issuer: c.issuer.as_str(),
                subject: c.subject.as_str(),
                audiences: vec![c.audience.as_str()],
                description: c.description.as_ref().map_or("", |d| d.as_str()),
            })
            .collect();
        Self {
            credentials: credentials_digest(seen),
            callers: callers(trusted),
            assignment_required,
        }
    }

    /// The application tag: `entra-federated-role:wanted=c:<digest>;t:<digest>;a:<0|1>`.
    pub fn tag(&self) -> String {
        format!(
            "{TAG_WANTED}=c:{};t:{};a:{}",
            self.credentials,
            self.callers,
            u8::from(self.assignment_required)
        )
    }

    /// The record among an application's `tags`, if it carries one (applications made
    /// before records were kept carry none until their next convergence).
    pub fn from_tags(tags: &[String]) -> Option<Self> {
        let prefix = format!("{TAG_WANTED}=");
        let value = tags.iter().find_map(|t| t.strip_prefix(prefix.as_str()))?;
        let mut credentials = None;
        let mut callers = None;
        let mut required = None;
        for part in value.split(';') {
            match part.split_once(':')? {
                ("c", digest) => credentials = Some(digest.to_owned()),
                ("t", digest) => callers = Some(digest.to_owned()),
                ("a", "0") => required = Some(false),
                ("a", "1") => required = Some(true),
                _ => return None,
            }
        }
        Some(Self {
            credentials: credentials?,
            callers: callers?,
            assignment_required: required?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Properties;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn wanted() -> Vec<FederatedCredential> {
        Properties::parse(&json!({
            "FederatedCredentials": [
                {"Name": "Main", "Issuer": "https://token.actions.githubusercontent.com",
                 "Subject": "repo:contoso/web:ref:refs/heads/main"},
                {"Name": "release", "Issuer": "https://token.actions.githubusercontent.com",
                 "Subject": "repo:contoso/web:environment:prod", "Description": "prod"}
            ]
        }))
        .unwrap()
        .federated_credentials
    }

    fn observed(credentials: &[FederatedCredential]) -> Vec<CredentialState> {
        credentials
            .iter()
            .rev()
            .enumerate()
            .map(|(i, c)| CredentialState {
                id: format!("id-{i}"),
                // Entra compares names without regard to case.
                name: c.name.as_str().to_ascii_uppercase(),
                issuer: c.issuer.as_str().to_owned(),
                subject: c.subject.as_str().to_owned(),
                audiences: vec![c.audience.as_str().to_owned()],
                description: c.description.as_ref().map(|d| d.as_str().to_owned()),
            })
            .collect()
    }

    #[test]
    fn what_the_factory_made_reads_back_as_its_record() {
        let credentials = wanted();
        let record = Record::wanted(&credentials, &["B-SP", "a-sp"], true);
        assert_eq!(
            Record::from_tags(&["x=y".into(), record.tag()]),
            Some(record.clone())
        );
        assert_eq!(
            observed_credentials(&observed(&credentials)),
            record.credentials
        );
        assert_eq!(callers(&["a-sp", "b-sp", "a-sp"]), record.callers);
        assert!(record.tag().len() <= 256, "{}", record.tag());
    }

    #[test]
    fn every_change_by_hand_shows() {
        let credentials = wanted();
        let record = Record::wanted(&credentials, &["a-sp"], false);
        let mut changed = observed(&credentials);
        changed[0].subject = "repo:mallory/web:ref:refs/heads/main".into();
        assert_ne!(observed_credentials(&changed), record.credentials);
        let mut described = observed(&credentials);
        described[1].description = Some("changed".into());
        assert_ne!(observed_credentials(&described), record.credentials);
        let mut added = observed(&credentials);
        added.push(added[0].clone());
        added[2].name = "extra".into();
        assert_ne!(observed_credentials(&added), record.credentials);
        assert_ne!(observed_credentials(&[]), record.credentials);
        assert_ne!(callers(&["a-sp", "mallory-sp"]), record.callers);
        assert_ne!(callers(&[]), record.callers);
    }

    #[test]
    fn a_malformed_record_is_none() {
        for tag in [
            "entra-federated-role:wanted=",
            "entra-federated-role:wanted=c:1;t:2",
            "entra-federated-role:wanted=c:1;t:2;a:yes",
            "entra-federated-role:wanted=c:1;t:2;a:1;z:3",
        ] {
            assert_eq!(Record::from_tags(&[tag.to_owned()]), None, "{tag}");
        }
    }
}
