//! The factory's guardrails (DESIGN §6): rules the hub operator sets for every role the
//! factory makes, checked before any write. Whoever may deploy a stack may declare the
//! resource, and the factory writes IAM and Entra for them: these rules are what keeps a
//! stack author from minting a role (or a sign-in to it) the operator would not grant.

use std::fmt;

use super::{AppId, Issuer, PolicyArn, Properties, RolePath};

/// Placeholders a required boundary may use, replaced per target account.
const ACCOUNT_PLACEHOLDER: &str = "${AWS::AccountId}";
const PARTITION_PLACEHOLDER: &str = "${AWS::Partition}";

/// The guardrails; the default allows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guardrails {
    /// Every role must have this permissions boundary. May contain `${AWS::AccountId}`
    /// and `${AWS::Partition}`, so one setting serves every member account.
    pub required_boundary: Option<String>,
    /// Managed policies no role may have. Each may contain `${AWS::Partition}` (and
    /// `${AWS::AccountId}`), filled per target account.
    pub denied_managed_policies: Vec<String>,
    /// Every role's path must start with this.
    pub role_path_prefix: Option<RolePath>,
    /// Accounts roles may be made in (`None`: any account of the organisation).
    pub allowed_accounts: Option<Vec<String>>,
    /// The external identities `FederatedCredentials` may name (empty: any).
    pub allowed_federated_credentials: Vec<AllowedCredentials>,
    /// Whether `TrustedClientAppIds` may only name applications registered in the
    /// factory's own tenant.
    pub trusted_clients_own_tenant_only: bool,
}

/// An issuer and the subjects `FederatedCredentials` may name for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedCredentials {
    /// The issuer, compared exactly (as Entra compares it with the token's `iss`).
    pub issuer: Issuer,
    /// The subjects: `*` matches any run of characters, `?` any one character.
    pub subject_pattern: String,
}

/// An `ALLOWED_FEDERATED_CREDENTIALS` entry that is not `<https issuer>=<subject pattern>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not <issuer>=<subject pattern>; write entries like \
     `https://token.actions.githubusercontent.com=repo:contoso/*`, separated by commas"
)]
pub struct InvalidAllowedCredentials(String);

impl AllowedCredentials {
    /// Parses `<https issuer>=<subject pattern>`.
    pub fn parse(entry: &str) -> Result<Self, InvalidAllowedCredentials> {
        let invalid = || InvalidAllowedCredentials(entry.chars().take(128).collect());
        let (issuer, pattern) = entry.split_once('=').ok_or_else(invalid)?;
        let issuer = Issuer::parse(issuer.trim()).map_err(|_| invalid())?;
        let subject_pattern = pattern.trim();
        if subject_pattern.is_empty() {
            return Err(invalid());
        }
        Ok(Self {
            issuer,
            subject_pattern: subject_pattern.to_owned(),
        })
    }

    fn admits(&self, issuer: &Issuer, subject: &str) -> bool {
        self.issuer == *issuer && glob_matches(&self.subject_pattern, subject)
    }
}

impl fmt::Display for AllowedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.issuer, self.subject_pattern)
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (also none)
/// and `?` exactly one, as in IAM's `StringLike`.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    // The last `*` seen and the text position it was tried at: backtrack there on a mismatch.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// A trusted client as Graph describes it, for [`Guardrails::check_trusted_clients`].
#[derive(Debug, Clone, Copy)]
pub struct TrustedClientOwner<'a> {
    /// Its appId.
    pub app_id: &'a AppId,
    /// The tenant its application is registered in, when Graph says.
    pub owner_tenant_id: Option<&'a str>,
}

/// A policy ARN template (a required boundary, a denied policy) that is not a policy ARN
/// once its placeholders are filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a policy ARN (placeholders ${{AWS::AccountId}} and ${{AWS::Partition}} are allowed)"
)]
pub struct InvalidPolicyTemplate(String);

/// Validates a policy ARN template.
pub fn check_policy_template(template: &str) -> Result<(), InvalidPolicyTemplate> {
    PolicyArn::parse(&fill(template, "aws", "123456789012"))
        .map(|_| ())
        .map_err(|_| InvalidPolicyTemplate(template.chars().take(128).collect()))
}

fn fill(template: &str, partition: &str, account: &str) -> String {
    template
        .replace(ACCOUNT_PLACEHOLDER, account)
        .replace(PARTITION_PLACEHOLDER, partition)
}

/// Every guardrail a request breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct GuardrailViolations(pub Vec<String>);

impl fmt::Display for GuardrailViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused by the factory's guardrails: {}",
            self.0.join("; ")
        )
    }
}

impl Guardrails {
    /// Checks a request for a role in `account` of `partition`.
    pub fn check(
        &self,
        properties: &Properties,
        partition: &str,
        account: &str,
    ) -> Result<(), GuardrailViolations> {
        let mut violations = Vec::new();
        if let Some(allowed) = &self.allowed_accounts
            && !allowed.iter().any(|a| a == account)
        {
            violations.push(format!(
                "account {account} is not in the factory's allowed accounts; ask the factory's operator to add it to ALLOWED_ACCOUNT_IDS"
            ));
        }
        if let Some(template) = &self.required_boundary {
            let required = fill(template, partition, account);
            match &properties.permissions_boundary {
                Some(boundary) if boundary.as_str() == required => {}
                Some(boundary) => violations.push(format!(
                    "`PermissionsBoundary` is {boundary}, but this factory requires {required}; set PermissionsBoundary to it"
                )),
                None => violations.push(format!(
                    "this factory requires a permissions boundary; set `PermissionsBoundary` to {required}"
                )),
            }
        }
        for arn in &properties.managed_policy_arns {
            // IAM policy names are unique whatever their case.
            let denied = self.denied_managed_policies.iter().any(|template| {
                fill(template, partition, account).eq_ignore_ascii_case(arn.as_str())
            });
            if denied {
                violations.push(format!(
                    "`ManagedPolicyArns` contains {arn}, which this factory does not allow; remove it"
                ));
            }
        }
        if !self.allowed_federated_credentials.is_empty() {
            for (i, credential) in properties.federated_credentials.iter().enumerate() {
                let allowed = self
                    .allowed_federated_credentials
                    .iter()
                    .any(|allowed| allowed.admits(&credential.issuer, credential.subject.as_str()));
                if !allowed {
                    let list: Vec<String> = self
                        .allowed_federated_credentials
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    violations.push(format!(
                        "`FederatedCredentials[{i}]` names issuer {} with subject `{}`, which this factory does not allow; use an issuer and subject it allows ({}) or ask the factory's operator to add it to ALLOWED_FEDERATED_CREDENTIALS",
                        credential.issuer,
                        credential.subject,
                        list.join(", ")
                    ));
                }
            }
        }
        if let Some(prefix) = &self.role_path_prefix
            && !properties.role_path.as_str().starts_with(prefix.as_str())
        {
            violations.push(format!(
                "`RolePath` is {}, but this factory only makes roles under {prefix}; set RolePath to {prefix} or a path below it",
                properties.role_path
            ));
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(GuardrailViolations(violations))
        }
    }

    /// Checks the trusted clients, once Graph has described them, against the factory's
    /// own tenant `tenant_id`.
    pub fn check_trusted_clients(
        &self,
        clients: &[TrustedClientOwner<'_>],
        tenant_id: &str,
    ) -> Result<(), GuardrailViolations> {
        if !self.trusted_clients_own_tenant_only {
            return Ok(());
        }
        let violations: Vec<String> = clients
            .iter()
            .filter(|client| {
                !client
                    .owner_tenant_id
                    .is_some_and(|owner| owner.eq_ignore_ascii_case(tenant_id))
            })
            .map(|client| match client.owner_tenant_id {
                Some(_) => format!(
                    "`TrustedClientAppIds` names {}, an application registered in another tenant; this factory only trusts applications of its own tenant ({tenant_id}): remove it",
                    client.app_id
                ),
                None => format!(
                    "`TrustedClientAppIds` names {}, whose owner tenant Entra does not tell; this factory only trusts applications of its own tenant ({tenant_id}): remove it",
                    client.app_id
                ),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(GuardrailViolations(violations))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(value: serde_json::Value) -> Properties {
        Properties::parse(&value).unwrap()
    }

    #[test]
    fn the_default_allows_everything() {
        let p =
            props(json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}));
        assert_eq!(
            Guardrails::default().check(&p, "aws", "222222222222"),
            Ok(())
        );
    }

    #[test]
    fn a_required_boundary_is_filled_per_account() {
        let rails = Guardrails {
            required_boundary: Some(
                "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/Boundary".into(),
            ),
            ..Guardrails::default()
        };
        let ok = props(json!({"PermissionsBoundary": "arn:aws:iam::222222222222:policy/Boundary"}));
        assert_eq!(rails.check(&ok, "aws", "222222222222"), Ok(()));
        let missing = rails
            .check(&props(json!({})), "aws", "222222222222")
            .unwrap_err()
            .to_string();
        assert!(
            missing
                .contains("set `PermissionsBoundary` to arn:aws:iam::222222222222:policy/Boundary"),
            "{missing}"
        );
        let other = props(json!({"PermissionsBoundary": "arn:aws:iam::222222222222:policy/Other"}));
        assert!(
            rails
                .check(&other, "aws", "222222222222")
                .unwrap_err()
                .to_string()
                .contains("requires")
        );
    }

    #[test]
    fn denied_policies_paths_and_accounts_are_refused_together() {
        let rails = Guardrails {
            denied_managed_policies: vec![
                "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess".into(),
            ],
            role_path_prefix: Some(RolePath::parse("/workloads/").unwrap()),
            allowed_accounts: Some(vec!["333333333333".into()]),
            ..Guardrails::default()
        };
        let p = props(
            json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"], "RolePath": "/other/"}),
        );
        let violations = rails.check(&p, "aws", "222222222222").unwrap_err();
        assert_eq!(violations.0.len(), 3, "{violations}");
        let text = violations.to_string();
        assert!(
            text.contains("account 222222222222 is not in the factory's allowed accounts"),
            "{text}"
        );
        assert!(
            text.contains("AdministratorAccess, which this factory does not allow"),
            "{text}"
        );
        assert!(
            text.contains("only makes roles under /workloads/"),
            "{text}"
        );
        let fine = props(json!({"RolePath": "/workloads/ci/"}));
        let rails = Guardrails {
            allowed_accounts: Some(vec!["222222222222".into()]),
            ..rails
        };
        assert_eq!(rails.check(&fine, "aws", "222222222222"), Ok(()));
    }

    #[test]
    fn policy_templates_are_validated() {
        assert!(
            check_policy_template("arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/B").is_ok()
        );
        assert!(check_policy_template("arn:${AWS::Partition}:iam::aws:policy/A").is_ok());
        assert!(check_policy_template("Boundary").is_err());
    }

    #[test]
    fn denied_policies_are_filled_per_partition() {
        let rails = Guardrails {
            denied_managed_policies: vec![
                "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess".into(),
            ],
            ..Guardrails::default()
        };
        let admin = |partition: &str| {
            props(
                json!({"ManagedPolicyArns": [format!("arn:{partition}:iam::aws:policy/AdministratorAccess")]}),
            )
        };
        assert!(
            rails
                .check(&admin("aws-us-gov"), "aws-us-gov", "222222222222")
                .is_err()
        );
        assert!(rails.check(&admin("aws"), "aws", "222222222222").is_err());
        let shouted =
            props(json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/ADMINISTRATORACCESS"]}));
        assert!(
            rails.check(&shouted, "aws", "222222222222").is_err(),
            "names ignore case"
        );
        // Another partition's ARN is not this account's policy: IAM refuses it anyway.
        assert!(
            rails
                .check(&admin("aws"), "aws-us-gov", "222222222222")
                .is_ok()
        );
    }

    fn credentials(pairs: &[(&str, &str)]) -> Properties {
        let list: Vec<serde_json::Value> = pairs
            .iter()
            .enumerate()
            .map(|(i, (issuer, subject))| json!({"Name": format!("ci-{i}"), "Issuer": issuer, "Subject": subject}))
            .collect();
        props(json!({ "FederatedCredentials": list }))
    }

    #[test]
    fn federated_credentials_must_name_an_allowed_issuer_and_subject() {
        const GITHUB: &str = "https://token.actions.githubusercontent.com";
        let rails = Guardrails {
            allowed_federated_credentials: vec![
                AllowedCredentials::parse(&format!("{GITHUB}=repo:contoso/*:ref:refs/heads/main"))
                    .unwrap(),
                AllowedCredentials::parse("https://gitlab.example.test=project_path:ops/?")
                    .unwrap(),
            ],
            ..Guardrails::default()
        };
        let allowed = credentials(&[
            (GITHUB, "repo:contoso/app:ref:refs/heads/main"),
            ("https://gitlab.example.test", "project_path:ops/x"),
        ]);
        assert_eq!(rails.check(&allowed, "aws", "222222222222"), Ok(()));
        let refused = credentials(&[
            (GITHUB, "repo:contoso/app:ref:refs/heads/main"),
            (GITHUB, "repo:attacker/app:ref:refs/heads/main"),
            (
                "https://attacker.example",
                "repo:contoso/app:ref:refs/heads/main",
            ),
            (GITHUB, "repo:contoso/app:ref:refs/heads/feature"),
            ("https://gitlab.example.test", "project_path:ops/xy"),
        ]);
        let violations = rails.check(&refused, "aws", "222222222222").unwrap_err();
        let named: Vec<bool> = (0..5)
            .map(|i| {
                violations
                    .to_string()
                    .contains(&format!("`FederatedCredentials[{i}]`"))
            })
            .collect();
        assert_eq!(named, [false, true, true, true, true], "{violations}");
        assert!(
            violations.0[0]
                .contains("ask the factory's operator to add it to ALLOWED_FEDERATED_CREDENTIALS"),
            "{violations}"
        );
        // Without the guardrail, any issuer goes.
        assert_eq!(
            Guardrails::default().check(&refused, "aws", "222222222222"),
            Ok(())
        );
    }

    #[test]
    fn subject_patterns_match_like_string_like() {
        for (pattern, text, matches) in [
            (
                "repo:contoso/*",
                "repo:contoso/app:ref:refs/heads/main",
                true,
            ),
            ("repo:contoso/*", "repo:contoso/", true),
            ("repo:contoso/*", "repo:contoso", false),
            (
                "*:ref:refs/heads/main",
                "repo:a/b:ref:refs/heads/main",
                true,
            ),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("exact", "exact", true),
            ("exact", "Exact", false),
            ("*", "", true),
        ] {
            assert_eq!(glob_matches(pattern, text), matches, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn trusted_clients_of_other_tenants_are_refused_when_asked() {
        const TENANT: &str = "0b5b3a0e-1d2f-4b3c-9a8e-7f6d5c4b3a21";
        let ours = AppId::parse("11111111-1111-1111-1111-111111111111").unwrap();
        let theirs = AppId::parse("22222222-2222-2222-2222-222222222222").unwrap();
        let clients = [
            TrustedClientOwner {
                app_id: &ours,
                owner_tenant_id: Some("0B5B3A0E-1D2F-4B3C-9A8E-7F6D5C4B3A21"),
            },
            TrustedClientOwner {
                app_id: &theirs,
                owner_tenant_id: Some("99999999-9999-9999-9999-999999999999"),
            },
        ];
        let rails = Guardrails {
            trusted_clients_own_tenant_only: true,
            ..Guardrails::default()
        };
        let violations = rails.check_trusted_clients(&clients, TENANT).unwrap_err();
        assert_eq!(violations.0.len(), 1, "{violations}");
        assert!(violations.0[0].contains("names 22222222-2222-2222-2222-222222222222"));
        assert!(violations.0[0].contains("remove it"));
        // An owner Graph does not tell is not known to be ours.
        let unknown = [TrustedClientOwner {
            app_id: &ours,
            owner_tenant_id: None,
        }];
        let unknown = rails.check_trusted_clients(&unknown, TENANT).unwrap_err();
        assert!(
            unknown.0[0].contains("whose owner tenant Entra does not tell"),
            "{unknown}"
        );
        assert_eq!(
            Guardrails::default().check_trusted_clients(&clients, TENANT),
            Ok(())
        );
    }
}
