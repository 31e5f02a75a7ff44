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

/// The trust a role is created with before its callers are known (the Entra side is
/// registered at the same time): it admits nobody. A trust without an `Allow` already
/// does; the explicit `Deny` says so to whoever reads the role meanwhile.
pub fn sealed_trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SealedUntilItsCallersAreKnown",
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

    #[test]
    fn policies_compare_by_meaning() {
        assert!(same_policy(
            r#"{"a":1,"b":[1,2]}"#,
            r#"{ "b": [1, 2], "a": 1 }"#
        ));
        assert!(!same_policy(r#"{"b":[2,1]}"#, r#"{"b":[1,2]}"#));
    }
}
