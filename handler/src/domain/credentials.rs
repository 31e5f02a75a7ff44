//! A workload application's federated identity credentials: as Graph has them
//! ([`CredentialState`]), and the writes that make them exactly the wanted ones
//! ([`credential_writes`]), planned before any is made.
//!
//! Every credential on our own application is ours, so the set is converged by name
//! (which Entra compares without regard to case): a wanted credential missing is
//! created, one that differs is updated in place, and one no longer wanted is removed.

use std::fmt;

use super::FederatedCredential;

/// A federated identity credential as Graph has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialState {
    /// Its object id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The external issuer.
    pub issuer: String,
    /// The external subject.
    pub subject: String,
    /// The audiences (Entra keeps exactly one).
    pub audiences: Vec<String>,
    /// The description.
    pub description: Option<String>,
}

impl CredentialState {
    /// Whether it is `wanted` already (its name aside).
    fn matches(&self, wanted: &FederatedCredential) -> bool {
        self.issuer == wanted.issuer.as_str()
            && self.subject == wanted.subject.as_str()
            && self.audiences == [wanted.audience.as_str()]
            && self.description.as_deref().unwrap_or_default()
                == wanted
                    .description
                    .as_ref()
                    .map_or("", |description| description.as_str())
    }
}

/// The writes that make the credentials exactly the wanted ones, in three stages, each
/// run at once: removals first, so Entra's limit of 20 credentials and its uniqueness of
/// issuer and subject hold throughout; then updates, none of which takes the issuer and
/// subject another update frees; then creations, which may take those.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CredentialWrites<'a> {
    /// Credentials no longer wanted.
    pub remove: Vec<&'a CredentialState>,
    /// Credentials to change in place, with what they become.
    pub update: Vec<(&'a CredentialState, &'a FederatedCredential)>,
    /// Credentials to add.
    pub create: Vec<&'a FederatedCredential>,
}

impl CredentialWrites<'_> {
    /// Whether the credentials are as wanted already.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.update.is_empty() && self.create.is_empty()
    }
}

impl fmt::Display for CredentialWrites<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut stages = Vec::new();
        let names = |verb: &str, names: Vec<&str>| format!("{verb} {}", names.join(", "));
        if !self.remove.is_empty() {
            stages.push(names(
                "remove",
                self.remove.iter().map(|c| c.name.as_str()).collect(),
            ));
        }
        if !self.update.is_empty() {
            stages.push(names(
                "update",
                self.update.iter().map(|(c, _)| c.name.as_str()).collect(),
            ));
        }
        if !self.create.is_empty() {
            stages.push(names(
                "create",
                self.create.iter().map(|c| c.name.as_str()).collect(),
            ));
        }
        if stages.is_empty() {
            f.write_str("nothing to change")
        } else {
            f.write_str(&stages.join("; then "))
        }
    }
}

/// The writes that turn `existing` into exactly `desired` (DESIGN §11, the credentials'
/// part of a plan).
pub fn credential_writes<'a>(
    desired: &'a [FederatedCredential],
    existing: &'a [CredentialState],
) -> CredentialWrites<'a> {
    let named = |name: &str, other: &str| name.eq_ignore_ascii_case(other);
    let mut writes = CredentialWrites {
        remove: existing
            .iter()
            .filter(|e| !desired.iter().any(|d| named(d.name.as_str(), &e.name)))
            .collect(),
        ..CredentialWrites::default()
    };
    for wanted in desired {
        match existing
            .iter()
            .find(|e| named(&e.name, wanted.name.as_str()))
        {
            Some(present) if present.matches(wanted) => {}
            Some(present) => writes.update.push((present, wanted)),
            None => writes.create.push(wanted),
        }
    }
    // Updates run at once, so one that takes the issuer and subject another update
    // frees (two credentials swapping subjects) would collide with it: such a one is
    // removed first and created last instead.
    let (collide, update): (Vec<_>, Vec<_>) =
        writes.update.iter().partition(|&&(present, wanted)| {
            writes.update.iter().any(|(other, _)| {
                other.id != present.id
                    && other.issuer == wanted.issuer.as_str()
                    && other.subject == wanted.subject.as_str()
            })
        });
    for (present, wanted) in collide {
        writes.remove.push(present);
        writes.create.push(wanted);
    }
    writes.update = update;
    writes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::Properties;

    fn desired(credentials: serde_json::Value) -> Vec<FederatedCredential> {
        Properties::parse(&json!({ "FederatedCredentials": credentials }))
            .unwrap()
            .federated_credentials
    }

    fn present(name: &str, subject: &str) -> CredentialState {
        CredentialState {
            id: format!("id-{name}"),
            name: name.to_owned(),
            issuer: "https://token.actions.githubusercontent.com".to_owned(),
            subject: subject.to_owned(),
            audiences: vec!["api://AzureADTokenExchange".to_owned()],
            description: None,
        }
    }

    fn github(name: &str, subject: &str) -> serde_json::Value {
        json!({"Name": name, "Issuer": "https://token.actions.githubusercontent.com", "Subject": subject})
    }

    /// `(wanted, present, plan)`.
    #[test]
    fn credentials_converge_by_name_in_three_stages() {
        let main = "repo:contoso/app:ref:refs/heads/main";
        let prod = "repo:contoso/app:environment:prod";
        let cases = [
            (json!([github("main", main)]), vec![], "create main"),
            (
                json!([github("main", main)]),
                vec![present("main", main)],
                "nothing to change",
            ),
            // Names compare without regard to case, as Entra's do.
            (
                json!([github("Main", main)]),
                vec![present("main", main)],
                "nothing to change",
            ),
            (
                json!([github("main", prod)]),
                vec![present("main", main)],
                "update main",
            ),
            (json!([]), vec![present("old", main)], "remove old"),
            (
                json!([github("main", prod), github("release", main)]),
                vec![present("main", main), present("old", "x")],
                "remove old; then update main; then create release",
            ),
        ];
        for (wanted, existing, plan) in cases {
            let wanted = desired(wanted);
            let writes = credential_writes(&wanted, &existing);
            assert_eq!(writes.to_string(), plan);
            assert_eq!(writes.is_empty(), plan == "nothing to change");
        }
    }

    #[test]
    fn a_description_or_an_audience_that_differs_is_an_update() {
        let main = "repo:contoso/app:ref:refs/heads/main";
        let mut described = github("main", main);
        described["Description"] = json!("CI");
        let wanted = desired(json!([described]));
        let undescribed = present("main", main);
        assert_eq!(
            credential_writes(&wanted, std::slice::from_ref(&undescribed))
                .update
                .len(),
            1
        );
        let same = CredentialState {
            description: Some("CI".to_owned()),
            ..undescribed.clone()
        };
        assert!(credential_writes(&wanted, std::slice::from_ref(&same)).is_empty());
        let other_audience = CredentialState {
            audiences: vec!["api://other".to_owned()],
            ..same
        };
        assert_eq!(
            credential_writes(&wanted, &[other_audience]).update.len(),
            1
        );
        // No description wanted and an empty one present are the same.
        let wanted = desired(json!([github("main", main)]));
        let empty = CredentialState {
            description: Some(String::new()),
            ..undescribed
        };
        assert!(credential_writes(&wanted, &[empty]).is_empty());
    }

    #[test]
    fn credentials_swapping_subjects_never_update_at_once() {
        let main = "repo:contoso/app:ref:refs/heads/main";
        let prod = "repo:contoso/app:environment:prod";
        let new = "repo:contoso/app:environment:new";
        // A swap, and a chain in which each takes the next one's subject.
        let cases = [
            (
                json!([github("one", prod), github("two", main)]),
                vec![present("one", main), present("two", prod)],
                "remove one, two; then create one, two",
            ),
            (
                json!([github("one", prod), github("two", new)]),
                vec![present("one", main), present("two", prod)],
                "remove one; then update two; then create one",
            ),
        ];
        for (wanted, existing, plan) in cases {
            let wanted = desired(wanted);
            assert_eq!(credential_writes(&wanted, &existing).to_string(), plan);
        }
    }
}
