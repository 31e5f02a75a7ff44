//! The factory's guardrails (DESIGN §6): rules the hub operator sets for every role the
//! factory makes, checked before any write.

use std::fmt;

use super::{PolicyArn, Properties, RolePath, ownership::StackArn};

/// Placeholders a required boundary may use, replaced per target account.
const ACCOUNT_PLACEHOLDER: &str = "${AWS::AccountId}";
const PARTITION_PLACEHOLDER: &str = "${AWS::Partition}";

/// The guardrails; the default allows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guardrails {
    /// Every role must have this permissions boundary. May contain `${AWS::AccountId}`
    /// and `${AWS::Partition}`, so one setting serves every member account.
    pub required_boundary: Option<String>,
    /// Managed policies no role may have.
    pub denied_managed_policies: Vec<PolicyArn>,
    /// Every role's path must start with this.
    pub role_path_prefix: Option<RolePath>,
    /// Accounts roles may be made in (`None`: any account of the organisation).
    pub allowed_accounts: Option<Vec<String>>,
}

/// A boundary template that is not a policy ARN once its placeholders are filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a policy ARN (placeholders ${{AWS::AccountId}} and ${{AWS::Partition}} are allowed)"
)]
pub struct InvalidBoundaryTemplate(String);

/// Validates a required-boundary template.
pub fn check_boundary_template(template: &str) -> Result<(), InvalidBoundaryTemplate> {
    PolicyArn::parse(&fill(template, "aws", "123456789012"))
        .map(|_| ())
        .map_err(|_| InvalidBoundaryTemplate(template.chars().take(128).collect()))
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
    /// Checks a request for a role in `stack`'s account.
    pub fn check(
        &self,
        properties: &Properties,
        stack: &StackArn,
    ) -> Result<(), GuardrailViolations> {
        let mut violations = Vec::new();
        if let Some(allowed) = &self.allowed_accounts
            && !allowed.contains(&stack.account)
        {
            violations.push(format!(
                "account {} is not in the factory's allowed accounts; ask the factory's operator to add it to ALLOWED_ACCOUNT_IDS",
                stack.account
            ));
        }
        if let Some(template) = &self.required_boundary {
            let required = fill(template, &stack.partition, &stack.account);
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
            if self.denied_managed_policies.contains(arn) {
                violations.push(format!(
                    "`ManagedPolicyArns` contains {arn}, which this factory does not allow; remove it"
                ));
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stack() -> StackArn {
        StackArn::parse("arn:aws:cloudformation:eu-west-1:222222222222:stack/s/1").unwrap()
    }

    fn props(value: serde_json::Value) -> Properties {
        Properties::parse(&value).unwrap()
    }

    #[test]
    fn the_default_allows_everything() {
        let p =
            props(json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}));
        assert_eq!(Guardrails::default().check(&p, &stack()), Ok(()));
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
        assert_eq!(rails.check(&ok, &stack()), Ok(()));
        let missing = rails
            .check(&props(json!({})), &stack())
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
                .check(&other, &stack())
                .unwrap_err()
                .to_string()
                .contains("requires")
        );
    }

    #[test]
    fn denied_policies_paths_and_accounts_are_refused_together() {
        let rails = Guardrails {
            denied_managed_policies: vec![
                PolicyArn::parse("arn:aws:iam::aws:policy/AdministratorAccess").unwrap(),
            ],
            role_path_prefix: Some(RolePath::parse("/workloads/").unwrap()),
            allowed_accounts: Some(vec!["333333333333".into()]),
            ..Guardrails::default()
        };
        let p = props(
            json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"], "RolePath": "/other/"}),
        );
        let violations = rails.check(&p, &stack()).unwrap_err();
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
        assert_eq!(rails.check(&fine, &stack()), Ok(()));
    }

    #[test]
    fn boundary_templates_are_validated() {
        assert!(
            check_boundary_template("arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/B")
                .is_ok()
        );
        assert!(check_boundary_template("Boundary").is_err());
    }
}
