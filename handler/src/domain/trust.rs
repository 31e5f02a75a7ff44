//! The role's trust policy (DESIGN §6), built by a pure function.
//!
//! One statement: the tenant's OIDC provider may call `sts:AssumeRoleWithWebIdentity`
//! when the token's audience is the workload app's **and** its subject is one of the
//! allowed callers' service principals. `sub` is never optional: any app in a tenant can
//! get a token for any resource app unless assignment is required, so an `aud`-only
//! trust would admit the whole tenant.

use serde_json::{Value, json};

use super::federation::provider_name;

/// IAM's default quota for a role trust policy ("Role trust policy length").
pub const MAX_TRUST_POLICY_CHARS: usize = 2048;

/// Why no trust policy can be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustPolicyError {
    /// No allowed caller: the trust would not be pinned on `sub`.
    #[error(
        "the trust policy needs at least one allowed caller (sub); refusing an audience-only trust"
    )]
    NoSubjects,
    /// Too many callers for IAM's quota.
    #[error(
        "the trust policy would be {chars} characters, over IAM's default quota of \
         {MAX_TRUST_POLICY_CHARS}; trust fewer client apps (each adds about 40 characters) \
         or raise the quota \"Role trust policy length\" and retry"
    )]
    TooLarge {
        /// The policy's length.
        chars: usize,
    },
    /// A role's own trust cannot be read as a policy (made outside the factory).
    #[error(
        "the role's trust policy is not a JSON policy with a `Statement`; give it a valid trust policy"
    )]
    Unreadable,
}

/// The trust policy JSON (compact, subjects sorted and unique, so equal inputs give equal
/// text and a converge can compare).
pub fn trust_policy(
    provider_arn: &str,
    issuer: &str,
    audience: &str,
    subjects: &[String],
) -> Result<String, TrustPolicyError> {
    let mut subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    subjects.sort_unstable();
    subjects.dedup();
    let sub = match subjects.as_slice() {
        [] => return Err(TrustPolicyError::NoSubjects),
        [one] => json!(one),
        many => json!(many),
    };
    let key = provider_name(issuer);
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{key}:aud"): audience,
                format!("{key}:sub"): sub,
            }}
        }]
    });
    let text = policy.to_string();
    let chars = text.chars().count();
    if chars > MAX_TRUST_POLICY_CHARS {
        return Err(TrustPolicyError::TooLarge { chars });
    }
    Ok(text)
}

/// The `Sid` of the statement that seals a role.
const SEALED_SID: &str = "SealedUntilItsCallersAreKnown";

/// The trust of a role made outside CloudFormation (DESIGN §9) with the factory's part
/// replaced by `ours` (a [`trust_policy`]), or sealed when `ours` is `None`.
///
/// The factory's part is every statement whose federated principal names the tenant's
/// provider `provider_arn`, and the sealing statement; every other statement stays as
/// the role's owner wrote it. A trust that would be left with no statement gets the
/// sealing one, which admits nobody.
pub fn adopted_trust(
    current: &str,
    provider_arn: &str,
    ours: Option<&str>,
) -> Result<String, TrustPolicyError> {
    let mut policy: Value =
        serde_json::from_str(current).map_err(|_| TrustPolicyError::Unreadable)?;
    let statements = match policy.get_mut("Statement") {
        Some(Value::Array(list)) => std::mem::take(list),
        Some(one @ Value::Object(_)) => vec![one.take()],
        _ => return Err(TrustPolicyError::Unreadable),
    };
    let names_provider = |principal: &Value| match principal {
        Value::String(arn) => arn == provider_arn,
        Value::Array(arns) => arns.iter().any(|arn| arn == provider_arn),
        _ => false,
    };
    let mut kept: Vec<Value> = statements
        .into_iter()
        .filter(|statement| {
            let federated = &statement["Principal"]["Federated"];
            !names_provider(federated) && statement["Sid"] != SEALED_SID
        })
        .collect();
    let added = match ours {
        Some(ours) => serde_json::from_str::<Value>(ours)
            .map_err(|_| TrustPolicyError::Unreadable)?["Statement"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        None if kept.is_empty() => {
            let sealed: Value =
                serde_json::from_str(&sealed_trust_policy()).expect("the sealed trust is JSON");
            sealed["Statement"].as_array().cloned().unwrap_or_default()
        }
        None => Vec::new(),
    };
    kept.extend(added);
    policy["Statement"] = Value::Array(kept);
    let text = policy.to_string();
    let chars = text.chars().count();
    if chars > MAX_TRUST_POLICY_CHARS {
        return Err(TrustPolicyError::TooLarge { chars });
    }
    Ok(text)
}

/// The trust a role is created with before its callers are known (the Entra side is
/// registered at the same time): it admits nobody. A trust without an `Allow` already
/// does; the explicit `Deny` says so to whoever reads the role meanwhile.
pub fn sealed_trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": SEALED_SID,
            "Effect": "Deny",
            "Principal": "*",
            "Action": [
                "sts:AssumeRole",
                "sts:AssumeRoleWithSAML",
                "sts:AssumeRoleWithWebIdentity"
            ]
        }]
    })
    .to_string()
}

/// Whether two policy documents say the same (key order and whitespace aside).
pub fn same_policy(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const ISSUER: &str = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";
    const PROVIDER: &str = "arn:aws:iam::222222222222:oidc-provider/sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";

    fn subjects(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("{i:08x}-1111-2222-3333-444444444444"))
            .collect()
    }

    #[test]
    fn one_statement_pinned_on_audience_and_subject() {
        let policy = trust_policy(PROVIDER, ISSUER, "api://app", &subjects(1)).unwrap();
        let value: Value = serde_json::from_str(&policy).unwrap();
        assert_eq!(
            value,
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Federated": PROVIDER},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {
                        "sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/:aud": "api://app",
                        "sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/:sub": "00000000-1111-2222-3333-444444444444"
                    }}
                }]
            })
        );
    }

    #[test]
    fn several_subjects_are_sorted_and_deduplicated() {
        let mut subs = subjects(3);
        subs.reverse();
        subs.push(subs[0].clone());
        let policy: Value =
            serde_json::from_str(&trust_policy(PROVIDER, ISSUER, "a", &subs).unwrap()).unwrap();
        let key = "sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/:sub";
        assert_eq!(
            policy["Statement"][0]["Condition"]["StringEquals"][key],
            json!(subjects(3))
        );
    }

    #[test]
    fn an_audience_only_trust_is_refused() {
        assert_eq!(
            trust_policy(PROVIDER, ISSUER, "a", &[]),
            Err(TrustPolicyError::NoSubjects)
        );
    }

    #[test]
    fn the_quota_is_enforced_with_a_clear_reason() {
        let fits = (1..100)
            .take_while(|n| trust_policy(PROVIDER, ISSUER, "api://x", &subjects(*n)).is_ok())
            .last();
        let limit = fits.unwrap();
        assert!(
            limit > 30,
            "a reasonable number of trusted clients fits: {limit}"
        );
        let error = trust_policy(PROVIDER, ISSUER, "api://x", &subjects(limit + 1)).unwrap_err();
        assert!(
            matches!(error, TrustPolicyError::TooLarge { chars } if chars > MAX_TRUST_POLICY_CHARS)
        );
        assert!(error.to_string().contains("2048"));
    }

    #[test]
    fn the_sealed_trust_allows_nothing_and_denies_every_assume_action() {
        let policy: Value = serde_json::from_str(&sealed_trust_policy()).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        assert!(statements.iter().all(|s| s["Effect"] == "Deny"));
        assert_eq!(statements[0]["Principal"], json!("*"));
        for action in [
            "sts:AssumeRole",
            "sts:AssumeRoleWithSAML",
            "sts:AssumeRoleWithWebIdentity",
        ] {
            assert!(
                statements[0]["Action"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(action))
            );
        }
    }

    fn statements(policy: &str) -> Vec<Value> {
        serde_json::from_str::<Value>(policy).unwrap()["Statement"]
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn an_adopted_trust_keeps_the_owners_statements_and_replaces_ours() {
        let owners = json!({
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"
        });
        let placeholder = json!({
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/:aud": "placeholder"}}
        });
        let current =
            json!({"Version": "2012-10-17", "Statement": [owners, placeholder]}).to_string();
        let ours = trust_policy(PROVIDER, ISSUER, "api://app", &subjects(1)).unwrap();

        let adopted = adopted_trust(&current, PROVIDER, Some(&ours)).unwrap();
        assert_eq!(
            statements(&adopted),
            [owners.clone(), statements(&ours)[0].clone()]
        );
        // Converging again changes nothing.
        assert!(same_policy(
            &adopted,
            &adopted_trust(&adopted, PROVIDER, Some(&ours)).unwrap()
        ));

        // Sealed: our statement goes, the owner's stays.
        let sealed = adopted_trust(&adopted, PROVIDER, None).unwrap();
        assert_eq!(statements(&sealed), [owners]);
    }

    #[test]
    fn an_adopted_trust_left_empty_is_sealed_and_unsealed_again() {
        let current = json!({"Version": "2012-10-17", "Statement": {
            "Effect": "Allow",
            "Principal": {"Federated": [PROVIDER]},
            "Action": "sts:AssumeRoleWithWebIdentity"
        }})
        .to_string();
        let sealed = adopted_trust(&current, PROVIDER, None).unwrap();
        assert_eq!(statements(&sealed), statements(&sealed_trust_policy()));
        let ours = trust_policy(PROVIDER, ISSUER, "api://app", &subjects(2)).unwrap();
        assert!(same_policy(
            &adopted_trust(&sealed, PROVIDER, Some(&ours)).unwrap(),
            &ours
        ));
    }

    #[test]
    fn an_unreadable_or_oversized_adopted_trust_is_refused() {
        for current in ["", "[]", r#"{"Version":"2012-10-17"}"#] {
            assert_eq!(
                adopted_trust(current, PROVIDER, None),
                Err(TrustPolicyError::Unreadable),
                "{current}"
            );
        }
        let big = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "x".repeat(1900)},
            "Action": "sts:AssumeRole"
        }]})
        .to_string();
        let ours = trust_policy(PROVIDER, ISSUER, "api://app", &subjects(1)).unwrap();
        assert!(matches!(
            adopted_trust(&big, PROVIDER, Some(&ours)),
            Err(TrustPolicyError::TooLarge { .. })
        ));
    }

    #[test]
    fn policies_compare_by_meaning() {
        assert!(same_policy(
            r#"{"a":1,"b":[1,2]}"#,
            r#"{ "b": [1, 2], "a": 1 }"#
        ));
        assert!(!same_policy(r#"{"b":[2,1]}"#, r#"{"b":[1,2]}"#));
    }
}
