//! How an Update from old to new properties must be carried out: [`classify_change`] names
//! the changed properties, split into those that need a replacement (a new generation,
//! DESIGN §5) and those that are updated in place (the last column of the §3 table).

use std::fmt;

use serde::Serialize;

use super::properties::{
    APPLICATION_DISPLAY_NAME, DESCRIPTION, FEDERATED_CREDENTIALS, MANAGED_POLICY_ARNS,
    MAX_SESSION_DURATION, PERMISSIONS_BOUNDARY, POLICIES, Properties, REQUIRE_APP_ROLE_ASSIGNMENT,
    ROLE_NAME, ROLE_PATH, TAGS, TOKEN_VERSION, TRUSTED_CLIENT_APP_IDS,
};

/// The properties that differ between two property sets, by how the difference is
/// applied; each list follows the order of DESIGN §3.
///
/// Displays as e.g. `replacement (RoleName); in place (Tags, Policies)` or `no change`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Change {
    /// Changed properties that require a new generation: `RoleName`, `RolePath`,
    /// `TokenVersion`.
    pub replacement: Vec<&'static str>,
    /// Changed properties that are updated on the existing role and application.
    pub in_place: Vec<&'static str>,
}

impl Change {
    /// Whether the Update must create a new generation (a new physical id), after which
    /// CloudFormation deletes the old one.
    pub fn requires_replacement(&self) -> bool {
        !self.replacement.is_empty()
    }

    /// Whether nothing changed at all.
    pub fn is_noop(&self) -> bool {
        self.replacement.is_empty() && self.in_place.is_empty()
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.replacement.is_empty() {
            parts.push(format!("replacement ({})", self.replacement.join(", ")));
        }
        if !self.in_place.is_empty() {
            parts.push(format!("in place ({})", self.in_place.join(", ")));
        }
        if parts.is_empty() {
            f.write_str("no change")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// Whether two lists hold the same elements, in any order. The parser rejects duplicates,
/// so this is set equality.
fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// How an Update from `old` to `new` must be carried out (DESIGN §3, last column).
///
/// List-valued properties are compared as sets where their order carries no meaning:
/// `ManagedPolicyArns`, `Policies` (by name and document), `Tags` (by key and value),
/// `FederatedCredentials` (by name and content) and `TrustedClientAppIds`. A `RoleName`
/// absent on both sides is no change: the generated name is fixed per generation.
pub fn classify_change(old: &Properties, new: &Properties) -> Change {
    let mut change = Change::default();
    let mut note = |changed: bool, name: &'static str, replacement: bool| {
        if changed {
            if replacement {
                change.replacement.push(name);
            } else {
                change.in_place.push(name);
            }
        }
    };
    note(old.role_name != new.role_name, ROLE_NAME, true);
    note(old.role_path != new.role_path, ROLE_PATH, true);
    note(old.description != new.description, DESCRIPTION, false);
    note(
        !same_set(&old.managed_policy_arns, &new.managed_policy_arns),
        MANAGED_POLICY_ARNS,
        false,
    );
    note(!same_set(&old.policies, &new.policies), POLICIES, false);
    note(
        old.permissions_boundary != new.permissions_boundary,
        PERMISSIONS_BOUNDARY,
        false,
    );
    note(
        old.max_session_duration != new.max_session_duration,
        MAX_SESSION_DURATION,
        false,
    );
    note(!same_set(&old.tags, &new.tags), TAGS, false);
    note(
        old.application_display_name != new.application_display_name,
        APPLICATION_DISPLAY_NAME,
        false,
    );
    note(
        !same_set(&old.federated_credentials, &new.federated_credentials),
        FEDERATED_CREDENTIALS,
        false,
    );
    note(
        !same_set(&old.trusted_client_app_ids, &new.trusted_client_app_ids),
        TRUSTED_CLIENT_APP_IDS,
        false,
    );
    note(
        old.require_app_role_assignment != new.require_app_role_assignment,
        REQUIRE_APP_ROLE_ASSIGNMENT,
        false,
    );
    note(old.token_version != new.token_version, TOKEN_VERSION, true);
    change
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use rstest::rstest;
    use serde_json::{Value, json};

    use super::*;

    const APP_A: &str = "11111111-2222-3333-4444-555555555555";
    const APP_B: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn base() -> Value {
        json!({
            "ManagedPolicyArns": ["arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B"],
            "Policies": [
                {"PolicyName": "one", "PolicyDocument": {"Statement": [{"Sid": "1"}]}},
                {"PolicyName": "two", "PolicyDocument": {"Statement": [{"Sid": "2"}]}}
            ],
            "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
            "FederatedCredentials": [
                {"Name": "main", "Issuer": "https://token.actions.githubusercontent.com", "Subject": "repo:o/r:ref:refs/heads/main"},
                {"Name": "prod", "Issuer": "https://token.actions.githubusercontent.com", "Subject": "repo:o/r:environment:prod"}
            ],
            "TrustedClientAppIds": [APP_A, APP_B]
        })
    }

    /// The base properties with `patch` applied (a `null` removes the property).
    fn props(patch: &Value) -> Properties {
        let mut input = base();
        let map = input.as_object_mut().unwrap();
        for (key, value) in patch.as_object().unwrap() {
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.clone(), value.clone());
            }
        }
        Properties::parse(&input).unwrap_or_else(|errors| panic!("{errors}"))
    }

    #[rstest]
    #[case::identical(json!({}), json!({}), &[], &[])]
    #[case::role_name_absent_on_both_sides(json!({"RoleName": null}), json!({"RoleName": null}), &[], &[])]
    #[case::role_name_added(json!({}), json!({"RoleName": "r"}), &["RoleName"], &[])]
    #[case::role_name_removed(json!({"RoleName": "r"}), json!({}), &["RoleName"], &[])]
    #[case::role_name_renamed(json!({"RoleName": "r"}), json!({"RoleName": "s"}), &["RoleName"], &[])]
    #[case::role_path_changed(json!({}), json!({"RolePath": "/ci/"}), &["RolePath"], &[])]
    #[case::role_path_default_spelled_out(json!({}), json!({"RolePath": "/"}), &[], &[])]
    #[case::token_version_changed(json!({"TokenVersion": "1"}), json!({"TokenVersion": "2", "TrustedClientAppIds": []}), &["TokenVersion"], &["TrustedClientAppIds"])]
    #[case::token_version_string_vs_number(json!({"TokenVersion": "1"}), json!({"TokenVersion": 1}), &[], &[])]
    #[case::token_version_default_spelled_out(json!({}), json!({"TokenVersion": "1"}), &[], &[])]
    #[case::description_changed(json!({}), json!({"Description": "d"}), &[], &["Description"])]
    #[case::description_empty_vs_absent(json!({"Description": ""}), json!({}), &[], &[])]
    #[case::managed_policies_reordered(
        json!({}),
        json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/B", "arn:aws:iam::aws:policy/A"]}),
        &[],
        &[]
    )]
    #[case::managed_policy_added(
        json!({}),
        json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B", "arn:aws:iam::aws:policy/C"]}),
        &[],
        &["ManagedPolicyArns"]
    )]
    #[case::policies_reordered_and_stringified(
        json!({}),
        json!({"Policies": [
            {"PolicyName": "two", "PolicyDocument": "{\"Statement\": [{\"Sid\": \"2\"}]}"},
            {"PolicyName": "one", "PolicyDocument": {"Statement": [{"Sid": "1"}]}}
        ]}),
        &[],
        &[]
    )]
    #[case::policy_document_changed(
        json!({}),
        json!({"Policies": [
            {"PolicyName": "one", "PolicyDocument": {"Statement": [{"Sid": "1"}]}},
            {"PolicyName": "two", "PolicyDocument": {"Statement": [{"Sid": "3"}]}}
        ]}),
        &[],
        &["Policies"]
    )]
    #[case::policy_renamed(
        json!({}),
        json!({"Policies": [
            {"PolicyName": "one", "PolicyDocument": {"Statement": [{"Sid": "1"}]}},
            {"PolicyName": "Two", "PolicyDocument": {"Statement": [{"Sid": "2"}]}}
        ]}),
        &[],
        &["Policies"]
    )]
    #[case::boundary_added(json!({}), json!({"PermissionsBoundary": "arn:aws:iam::aws:policy/A"}), &[], &["PermissionsBoundary"])]
    #[case::session_changed(json!({}), json!({"MaxSessionDuration": "7200"}), &[], &["MaxSessionDuration"])]
    #[case::session_default_spelled_out(json!({}), json!({"MaxSessionDuration": 3600}), &[], &[])]
    #[case::tags_reordered(json!({}), json!({"Tags": [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}]}), &[], &[])]
    #[case::tag_value_changed(json!({}), json!({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "3"}]}), &[], &["Tags"])]
    #[case::tag_removed(json!({}), json!({"Tags": [{"Key": "a", "Value": "1"}]}), &[], &["Tags"])]
    #[case::display_name_changed(json!({}), json!({"ApplicationDisplayName": "CI"}), &[], &["ApplicationDisplayName"])]
    #[case::credentials_reordered_default_audience_spelled_out(
        json!({}),
        json!({"FederatedCredentials": [
            {"Name": "prod", "Issuer": "https://token.actions.githubusercontent.com", "Subject": "repo:o/r:environment:prod"},
            {"Name": "main", "Issuer": "https://token.actions.githubusercontent.com", "Subject": "repo:o/r:ref:refs/heads/main", "Audiences": ["api://AzureADTokenExchange"]}
        ]}),
        &[],
        &[]
    )]
    #[case::credential_subject_changed(
        json!({}),
        json!({"FederatedCredentials": [
            {"Name": "main", "Issuer": "https://token.actions.githubusercontent.com", "Subject": "repo:o/r:ref:refs/heads/trunk"},
            {"Name": "prod", "Issuer": "https://token.actions.githubusercontent.com", "Subject": "repo:o/r:environment:prod"}
        ]}),
        &[],
        &["FederatedCredentials"]
    )]
    #[case::trusted_clients_reordered_and_uppercased(json!({}), json!({"TrustedClientAppIds": [APP_B, APP_A.to_uppercase()]}), &[], &[])]
    #[case::trusted_client_removed(json!({}), json!({"TrustedClientAppIds": [APP_A]}), &[], &["TrustedClientAppIds"])]
    #[case::require_assignment_string_vs_bool(json!({"RequireAppRoleAssignment": "true"}), json!({"RequireAppRoleAssignment": true}), &[], &[])]
    #[case::require_assignment_enabled(json!({}), json!({"RequireAppRoleAssignment": "true"}), &[], &["RequireAppRoleAssignment"])]
    #[case::replacement_and_in_place(
        json!({}),
        json!({"RoleName": "r", "Tags": [], "Description": "d", "RolePath": "/x/"}),
        &["RoleName", "RolePath"],
        &["Description", "Tags"]
    )]
    fn classifies(
        #[case] old: Value,
        #[case] new: Value,
        #[case] replacement: &[&str],
        #[case] in_place: &[&str],
    ) {
        let change = classify_change(&props(&old), &props(&new));
        assert_eq!(
            (change.replacement.as_slice(), change.in_place.as_slice()),
            (replacement, in_place)
        );
        assert_eq!(change.requires_replacement(), !replacement.is_empty());
        assert_eq!(
            change.is_noop(),
            replacement.is_empty() && in_place.is_empty()
        );
    }

    #[test]
    fn replacement_follows_the_replacement_key() {
        let old = props(&json!({"RoleName": "r"}));
        let new = props(&json!({"RoleName": "r", "Tags": [], "MaxSessionDuration": 7200}));
        assert_eq!(old.replacement_key(), new.replacement_key());
        assert!(!classify_change(&old, &new).requires_replacement());
    }

    #[rstest]
    #[case::nothing(Change::default(), "no change")]
    #[case::replacement_only(
        Change { replacement: vec!["RoleName"], in_place: vec![] },
        "replacement (RoleName)"
    )]
    #[case::both(
        Change { replacement: vec!["RolePath", "TokenVersion"], in_place: vec!["Tags"] },
        "replacement (RolePath, TokenVersion); in place (Tags)"
    )]
    fn displays(#[case] change: Change, #[case] expected: &str) {
        assert_eq!(change.to_string(), expected);
    }
}
