use pretty_assertions::assert_eq;
use rstest::rstest;
use serde_json::json;

use super::*;
use crate::domain::{
    entra::{Audience, CredentialName, Issuer, Subject},
    iam::{TagKey, TagValue},
};

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const APP_A: &str = "11111111-2222-3333-4444-555555555555";
const APP_B: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn arns(count: usize) -> Value {
    (0..count)
        .map(|i| json!(format!("arn:aws:iam::123456789012:policy/P{i}")))
        .collect()
}

fn tags(count: usize) -> Value {
    (0..count)
        .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
        .collect()
}

fn credential(name: &str, subject: &str) -> Value {
    json!({"Name": name, "Issuer": GITHUB, "Subject": subject})
}

fn credentials(count: usize) -> Value {
    (0..count)
        .map(|i| credential(&format!("cred-{i}"), &format!("repo:o/r:environment:e{i}")))
        .collect()
}

fn policy(name: &str, document: Value) -> Value {
    json!({"PolicyName": name, "PolicyDocument": document})
}

/// A policy document whose size (compact JSON, no whitespace) is exactly `size`.
fn document_of_size(size: usize) -> Value {
    let empty = r#"{"Sid":"","Statement":[]}"#.len();
    json!({"Statement": [], "Sid": "s".repeat(size - empty)})
}

fn parsed(input: &Value) -> Value {
    let properties = Properties::parse(input).unwrap_or_else(|errors| panic!("{errors}"));
    serde_json::to_value(properties).unwrap()
}

#[rstest]
#[case::role_name_given(json!({"RoleName": "ci-deployer"}), "RoleName", json!("ci-deployer"))]
#[case::role_name_64(json!({"RoleName": "r".repeat(64)}), "RoleName", json!("r".repeat(64)))]
#[case::role_name_number_stringified(json!({"RoleName": 12345}), "RoleName", json!("12345"))]
#[case::role_name_null_is_absent(json!({"RoleName": null}), "RoleName", json!(null))]
#[case::role_path_default(json!({}), "RolePath", json!("/"))]
#[case::role_path_null_is_default(json!({"RolePath": null}), "RolePath", json!("/"))]
#[case::role_path_nested(json!({"RolePath": "/ci/deploy/"}), "RolePath", json!("/ci/deploy/"))]
#[case::description(json!({"Description": "deploys the app"}), "Description", json!("deploys the app"))]
#[case::description_empty_is_absent(json!({"Description": ""}), "Description", json!(null))]
#[case::description_1000(json!({"Description": "d".repeat(1000)}), "Description", json!("d".repeat(1000)))]
#[case::managed_policy_arns_default(json!({}), "ManagedPolicyArns", json!([]))]
#[case::managed_policy_arns_null_is_default(json!({"ManagedPolicyArns": null}), "ManagedPolicyArns", json!([]))]
#[case::managed_policy_arns(
    json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/team/Deploy"]}),
    "ManagedPolicyArns",
    json!(["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/team/Deploy"])
)]
#[case::permissions_boundary(
    json!({"PermissionsBoundary": "arn:aws:iam::123456789012:policy/Boundary"}),
    "PermissionsBoundary",
    json!("arn:aws:iam::123456789012:policy/Boundary")
)]
#[case::policy_document_object(
    json!({"Policies": [policy("s3", json!({"Statement": []}))]}),
    "Policies",
    json!([{"PolicyName": "s3", "PolicyDocument": {"Statement": []}}])
)]
#[case::policy_document_string(
    json!({"Policies": [policy("s3", json!("{\"Statement\": []}"))]}),
    "Policies",
    json!([{"PolicyName": "s3", "PolicyDocument": {"Statement": []}}])
)]
#[case::max_session_default(json!({}), "MaxSessionDuration", json!(3600))]
#[case::max_session_string_3600(json!({"MaxSessionDuration": "3600"}), "MaxSessionDuration", json!(3600))]
#[case::max_session_number_3600(json!({"MaxSessionDuration": 3600}), "MaxSessionDuration", json!(3600))]
#[case::max_session_string_43200(json!({"MaxSessionDuration": "43200"}), "MaxSessionDuration", json!(43200))]
#[case::max_session_number_43200(json!({"MaxSessionDuration": 43200}), "MaxSessionDuration", json!(43200))]
#[case::max_session_null_is_default(json!({"MaxSessionDuration": null}), "MaxSessionDuration", json!(3600))]
#[case::tag_value_empty(json!({"Tags": [{"Key": "k", "Value": ""}]}), "Tags", json!([{"Key": "k", "Value": ""}]))]
#[case::tag_value_number_stringified(json!({"Tags": [{"Key": "k", "Value": 42}]}), "Tags", json!([{"Key": "k", "Value": "42"}]))]
#[case::tag_unicode(json!({"Tags": [{"Key": "Größe", "Value": "groß 1"}]}), "Tags", json!([{"Key": "Größe", "Value": "groß 1"}]))]
#[case::display_name(json!({"ApplicationDisplayName": "CI deployer"}), "ApplicationDisplayName", json!("CI deployer"))]
#[case::display_name_256(json!({"ApplicationDisplayName": "n".repeat(256)}), "ApplicationDisplayName", json!("n".repeat(256)))]
#[case::credential_default_audience(
    json!({"FederatedCredentials": [credential("main", "repo:o/r:ref:refs/heads/main")]}),
    "FederatedCredentials",
    json!([{"Name": "main", "Issuer": GITHUB, "Subject": "repo:o/r:ref:refs/heads/main", "Audiences": ["api://AzureADTokenExchange"], "Description": null}])
)]
#[case::credential_null_audiences_and_description(
    json!({"FederatedCredentials": [{"Name": "main", "Issuer": GITHUB, "Subject": "s", "Audiences": null, "Description": null}]}),
    "FederatedCredentials",
    json!([{"Name": "main", "Issuer": GITHUB, "Subject": "s", "Audiences": ["api://AzureADTokenExchange"], "Description": null}])
)]
#[case::credential_custom_audience_and_description(
    json!({"FederatedCredentials": [{"Name": "gitlab", "Issuer": "https://gitlab.com", "Subject": "project_path:g/p:ref_type:branch:ref:main", "Audiences": ["https://gitlab.com"], "Description": "gitlab main"}]}),
    "FederatedCredentials",
    json!([{"Name": "gitlab", "Issuer": "https://gitlab.com", "Subject": "project_path:g/p:ref_type:branch:ref:main", "Audiences": ["https://gitlab.com"], "Description": "gitlab main"}])
)]
#[case::credential_empty_description_is_absent(
    json!({"FederatedCredentials": [{"Name": "main", "Issuer": GITHUB, "Subject": "s", "Description": ""}]}),
    "FederatedCredentials",
    json!([{"Name": "main", "Issuer": GITHUB, "Subject": "s", "Audiences": ["api://AzureADTokenExchange"], "Description": null}])
)]
#[case::same_subject_other_issuer(
    json!({"FederatedCredentials": [
        {"Name": "a-1", "Issuer": "https://a.example", "Subject": "s"},
        {"Name": "b-1", "Issuer": "https://b.example", "Subject": "s"}
    ]}),
    "FederatedCredentials",
    json!([
        {"Name": "a-1", "Issuer": "https://a.example", "Subject": "s", "Audiences": ["api://AzureADTokenExchange"], "Description": null},
        {"Name": "b-1", "Issuer": "https://b.example", "Subject": "s", "Audiences": ["api://AzureADTokenExchange"], "Description": null}
    ])
)]
#[case::app_ids_lowercased(
    json!({"TrustedClientAppIds": [APP_A.to_uppercase(), APP_B]}),
    "TrustedClientAppIds",
    json!([APP_A, APP_B])
)]
#[case::require_assignment_default(json!({}), "RequireAppRoleAssignment", json!(false))]
#[case::require_assignment_string_true(json!({"RequireAppRoleAssignment": "true"}), "RequireAppRoleAssignment", json!(true))]
#[case::require_assignment_string_upper(json!({"RequireAppRoleAssignment": "TRUE"}), "RequireAppRoleAssignment", json!(true))]
#[case::require_assignment_string_false(json!({"RequireAppRoleAssignment": "False"}), "RequireAppRoleAssignment", json!(false))]
#[case::require_assignment_json_true(json!({"RequireAppRoleAssignment": true}), "RequireAppRoleAssignment", json!(true))]
#[case::require_assignment_json_false(json!({"RequireAppRoleAssignment": false}), "RequireAppRoleAssignment", json!(false))]
#[case::require_assignment_null(json!({"RequireAppRoleAssignment": null}), "RequireAppRoleAssignment", json!(false))]
#[case::token_version_default(json!({}), "TokenVersion", json!(1))]
#[case::token_version_string_1(json!({"TokenVersion": "1"}), "TokenVersion", json!(1))]
#[case::token_version_number_1(json!({"TokenVersion": 1}), "TokenVersion", json!(1))]
#[case::token_version_string_2(json!({"TokenVersion": "2"}), "TokenVersion", json!(2))]
#[case::token_version_number_2(json!({"TokenVersion": 2}), "TokenVersion", json!(2))]
#[case::token_version_null(json!({"TokenVersion": null}), "TokenVersion", json!(1))]
#[case::v2_with_empty_trusted_clients(json!({"TokenVersion": "2", "TrustedClientAppIds": []}), "TrustedClientAppIds", json!([]))]
#[case::v1_with_trusted_clients(json!({"TokenVersion": "1", "TrustedClientAppIds": [APP_A]}), "TrustedClientAppIds", json!([APP_A]))]
#[case::cloudformation_entries_ignored(
    json!({"ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:f", "ServiceTimeout": "300", "RoleName": "r"}),
    "RoleName",
    json!("r")
)]
fn accepts(#[case] input: Value, #[case] property: &str, #[case] expected: Value) {
    assert_eq!(parsed(&input)[property], expected);
}

#[rstest]
#[case::managed_policies_20(json!({"ManagedPolicyArns": arns(20)}), "ManagedPolicyArns", 20)]
#[case::tags_45(json!({"Tags": tags(45)}), "Tags", 45)]
#[case::credentials_20(json!({"FederatedCredentials": credentials(20)}), "FederatedCredentials", 20)]
#[case::inline_policies_10240(
    json!({"Policies": [policy("a", document_of_size(5000)), policy("b", document_of_size(5240))]}),
    "Policies",
    2
)]
fn accepts_up_to_the_limit(#[case] input: Value, #[case] property: &str, #[case] count: usize) {
    assert_eq!(parsed(&input)[property].as_array().unwrap().len(), count);
}

#[rstest]
// The top level.
#[case::top_level_string(json!("RoleName=x"), "ResourceProperties", "expected an object of properties, found a string")]
#[case::top_level_list(json!([]), "ResourceProperties", "found a list")]
// Unknown properties.
#[case::unknown_lowercase(json!({"rolename": "x"}), "rolename", "unknown property `rolename`; did you mean `RoleName`?")]
#[case::unknown_typo(json!({"Rolename": "x"}), "Rolename", "unknown property `Rolename`; did you mean `RoleName`?")]
#[case::unknown_two_edits(json!({"TokenVersio": "1"}), "TokenVersio", "did you mean `TokenVersion`?")]
#[case::unknown_singular(json!({"ManagedPolicyArn": []}), "ManagedPolicyArn", "did you mean `ManagedPolicyArns`?")]
#[case::unknown_near_cloudformation_entry(json!({"ServiceTokn": "x"}), "ServiceTokn", "did you mean `ServiceToken`?")]
#[case::unknown_far(json!({"Principal": "x"}), "Principal", "unknown property `Principal`; accepted properties are `RoleName`, `RolePath`, `Description`")]
#[case::unknown_lists_all(json!({"Foo": 1}), "Foo", "`RequireAppRoleAssignment`, `TokenVersion`")]
#[case::nested_unknown_tag_key(json!({"Tags": [{"Key": "k", "Value": "v", "Kay": "x"}]}), "Tags[0].Kay", "unknown property `Kay`; did you mean `Key`?")]
#[case::nested_unknown_policy_key(
    json!({"Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": []}, "Statement": []}]}),
    "Policies[0].Statement",
    "accepted properties are `PolicyName`, `PolicyDocument`"
)]
#[case::nested_unknown_credential_key(
    json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Audience": ["x"]}]}),
    "FederatedCredentials[0].Audience",
    "did you mean `Audiences`?"
)]
// RoleName.
#[case::role_name_65(json!({"RoleName": "r".repeat(65)}), "RoleName", "65 characters long; give at most 64")]
#[case::role_name_empty(json!({"RoleName": ""}), "RoleName", "leave `RoleName` out to get a generated name")]
#[case::role_name_space(json!({"RoleName": "my role"}), "RoleName", "contains ' '; use only letters, digits and `+=,.@_-`")]
#[case::role_name_list(json!({"RoleName": ["x"]}), "RoleName", "expected a single value, found a list")]
#[case::role_name_object(json!({"RoleName": {"Ref": "x"}}), "RoleName", "expected a single value, found an object")]
// RolePath.
#[case::role_path_relative(json!({"RolePath": "ci/"}), "RolePath", "begins and ends with `/`")]
#[case::role_path_513(json!({"RolePath": format!("/{}/", "p".repeat(511))}), "RolePath", "513 characters long")]
#[case::role_path_space(json!({"RolePath": "/a b/"}), "RolePath", "contains ' '")]
// Description.
#[case::description_1001(json!({"Description": "d".repeat(1001)}), "Description", "1001 characters long; give at most 1000")]
#[case::description_bad_char(json!({"Description": "price €"}), "Description", "contains '€'")]
// ManagedPolicyArns and PermissionsBoundary.
#[case::managed_policies_21(json!({"ManagedPolicyArns": arns(21)}), "ManagedPolicyArns", "21 managed policies given; IAM attaches at most 20 to a role, so remove 1")]
#[case::managed_policy_duplicate(
    json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"]}),
    "ManagedPolicyArns[1]",
    "duplicate of `ManagedPolicyArns[0]`"
)]
#[case::managed_policy_name_only(json!({"ManagedPolicyArns": ["ReadOnlyAccess"]}), "ManagedPolicyArns[0]", "is not an IAM managed policy ARN")]
#[case::managed_policy_bad_partition(
    json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/A", "arn:azure:iam::aws:policy/B"]}),
    "ManagedPolicyArns[1]",
    "unknown partition `azure`"
)]
#[case::managed_policy_null_item(json!({"ManagedPolicyArns": [null]}), "ManagedPolicyArns[0]", "expected a single value, found null")]
#[case::managed_policies_not_a_list(
    json!({"ManagedPolicyArns": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    "ManagedPolicyArns",
    "expected a list, found a string"
)]
#[case::boundary_role_arn(
    json!({"PermissionsBoundary": "arn:aws:iam::123456789012:role/Boundary"}),
    "PermissionsBoundary",
    "is not an IAM managed policy ARN"
)]
#[case::boundary_list(json!({"PermissionsBoundary": []}), "PermissionsBoundary", "expected a single value, found a list")]
// Policies.
#[case::policies_not_a_list(json!({"Policies": {"PolicyName": "p"}}), "Policies", "expected a list, found an object")]
#[case::policy_not_an_object(json!({"Policies": ["p"]}), "Policies[0]", "expected an object with `PolicyName`, `PolicyDocument`, found a string")]
#[case::policy_missing_name(json!({"Policies": [{"PolicyDocument": {"Statement": []}}]}), "Policies[0].PolicyName", "missing value; give the inline policy a name")]
#[case::policy_null_name(json!({"Policies": [{"PolicyName": null, "PolicyDocument": {"Statement": []}}]}), "Policies[0].PolicyName", "missing value")]
#[case::policy_missing_document(json!({"Policies": [{"PolicyName": "p"}]}), "Policies[0].PolicyDocument", "missing value; give the policy document")]
#[case::policy_name_129(json!({"Policies": [policy(&"p".repeat(129), json!({"Statement": []}))]}), "Policies[0].PolicyName", "129 characters long; give at most 128")]
#[case::policy_name_space(json!({"Policies": [policy("my policy", json!({"Statement": []}))]}), "Policies[0].PolicyName", "contains ' '")]
#[case::policy_document_without_statement(json!({"Policies": [policy("p", json!({"Version": "2012-10-17"}))]}), "Policies[0].PolicyDocument", "has no `Statement`")]
#[case::policy_document_bad_json(json!({"Policies": [policy("p", json!("{\"Statement\": ["))]}), "Policies[0].PolicyDocument", "is not valid JSON")]
#[case::policy_document_list(json!({"Policies": [policy("p", json!([]))]}), "Policies[0].PolicyDocument", "expected a policy document")]
#[case::policy_name_duplicate_ignoring_case(
    json!({"Policies": [policy("S3", json!({"Statement": []})), policy("s3", json!({"Statement": []}))]}),
    "Policies[1].PolicyName",
    "is already used by `Policies[0]` (names are case-insensitive)"
)]
#[case::inline_policies_10241(
    json!({"Policies": [policy("a", document_of_size(5000)), policy("b", document_of_size(5241))]}),
    "Policies",
    "the policy documents total 10241 characters (whitespace not counted); IAM allows at most 10240 for all inline policies of a role"
)]
// MaxSessionDuration.
#[case::session_string_3599(json!({"MaxSessionDuration": "3599"}), "MaxSessionDuration", "`3599` is out of range; give whole seconds from 3600 to 43200")]
#[case::session_number_3599(json!({"MaxSessionDuration": 3599}), "MaxSessionDuration", "`3599` is out of range")]
#[case::session_string_43201(json!({"MaxSessionDuration": "43201"}), "MaxSessionDuration", "`43201` is out of range")]
#[case::session_number_43201(json!({"MaxSessionDuration": 43201}), "MaxSessionDuration", "`43201` is out of range")]
#[case::session_90(json!({"MaxSessionDuration": 90}), "MaxSessionDuration", "`90` is out of range; give whole seconds from 3600 to 43200")]
#[case::session_string_fraction(json!({"MaxSessionDuration": "3600.5"}), "MaxSessionDuration", "`3600.5` is not a whole number")]
#[case::session_number_fraction(json!({"MaxSessionDuration": 3600.5}), "MaxSessionDuration", "`3600.5` is not a whole number")]
#[case::session_negative(json!({"MaxSessionDuration": -3600}), "MaxSessionDuration", "`-3600` is not a whole number")]
#[case::session_plus(json!({"MaxSessionDuration": "+3600"}), "MaxSessionDuration", "is not a whole number")]
#[case::session_junk(json!({"MaxSessionDuration": "1h"}), "MaxSessionDuration", "`1h` is not a whole number")]
#[case::session_bool(json!({"MaxSessionDuration": true}), "MaxSessionDuration", "`true` is not a whole number")]
// Tags.
#[case::tags_46(json!({"Tags": tags(46)}), "Tags", "46 tags given; at most 45 are allowed (IAM allows 50 per role and this resource keeps 5 for its ownership markers), so remove 1")]
#[case::tags_not_a_list(json!({"Tags": {"k": "v"}}), "Tags", "expected a list, found an object")]
#[case::tag_key_129(json!({"Tags": [{"Key": "k".repeat(129), "Value": "v"}]}), "Tags[0].Key", "129 characters long; give at most 128")]
#[case::tag_key_empty(json!({"Tags": [{"Key": "", "Value": "v"}]}), "Tags[0].Key", "is empty")]
#[case::tag_value_257(json!({"Tags": [{"Key": "k", "Value": "v".repeat(257)}]}), "Tags[0].Value", "257 characters long; give at most 256")]
#[case::tag_key_bad_char(json!({"Tags": [{"Key": "a,b", "Value": "v"}]}), "Tags[0].Key", "contains ','")]
#[case::tag_value_bad_char(json!({"Tags": [{"Key": "k", "Value": "a;b"}]}), "Tags[0].Value", "contains ';'")]
#[case::tag_key_missing(json!({"Tags": [{"Value": "v"}]}), "Tags[0].Key", "missing value; give the tag key")]
#[case::tag_value_missing(json!({"Tags": [{"Key": "k"}]}), "Tags[0].Value", "missing value; give the tag value (it may be empty)")]
#[case::tag_value_null(json!({"Tags": [{"Key": "k", "Value": null}]}), "Tags[0].Value", "missing value")]
#[case::tag_not_an_object(json!({"Tags": ["k=v"]}), "Tags[0]", "expected an object with `Key`, `Value`, found a string")]
#[case::tag_key_duplicate_ignoring_case(
    json!({"Tags": [{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}]}),
    "Tags[1].Key",
    "repeats the key of `Tags[0]` (keys are case-insensitive)"
)]
#[case::tag_key_aws(json!({"Tags": [{"Key": "aws:createdBy", "Value": "v"}]}), "Tags[0].Key", "starts with `aws:`, which is reserved for AWS")]
#[case::tag_key_aws_upper(json!({"Tags": [{"Key": "AWS:x", "Value": "v"}]}), "Tags[0].Key", "reserved for AWS")]
#[case::tag_key_ours(
    json!({"Tags": [{"Key": "entra-federated-role:generation", "Value": "v"}]}),
    "Tags[0].Key",
    "starts with `entra-federated-role:`, which this resource keeps for its ownership markers"
)]
#[case::tag_key_ours_mixed_case(json!({"Tags": [{"Key": "Entra-Federated-Role:x", "Value": "v"}]}), "Tags[0].Key", "ownership markers")]
// ApplicationDisplayName.
#[case::display_name_empty(json!({"ApplicationDisplayName": ""}), "ApplicationDisplayName", "is blank")]
#[case::display_name_blank(json!({"ApplicationDisplayName": "  "}), "ApplicationDisplayName", "is blank")]
#[case::display_name_257(json!({"ApplicationDisplayName": "n".repeat(257)}), "ApplicationDisplayName", "257 characters long; give at most 256")]
#[case::display_name_control(json!({"ApplicationDisplayName": "a\nb"}), "ApplicationDisplayName", "remove control characters")]
// FederatedCredentials.
#[case::credentials_21(
    json!({"FederatedCredentials": credentials(21)}),
    "FederatedCredentials",
    "21 federated credentials given; Entra allows at most 20 federated identity credentials per application, so remove 1"
)]
#[case::credentials_not_a_list(json!({"FederatedCredentials": credential("abc", "s")}), "FederatedCredentials", "expected a list, found an object")]
#[case::credential_not_an_object(json!({"FederatedCredentials": ["abc"]}), "FederatedCredentials[0]", "expected an object with `Name`, `Issuer`, `Subject`, `Audiences`, `Description`")]
#[case::credential_name_missing(json!({"FederatedCredentials": [{"Issuer": GITHUB, "Subject": "s"}]}), "FederatedCredentials[0].Name", "missing value; give the credential a name")]
#[case::credential_issuer_missing(json!({"FederatedCredentials": [{"Name": "abc", "Subject": "s"}]}), "FederatedCredentials[0].Issuer", "missing value; give the https URL")]
#[case::credential_subject_missing(json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB}]}), "FederatedCredentials[0].Subject", "missing value; give the `sub` claim")]
#[case::credential_name_2(json!({"FederatedCredentials": [credential("ab", "s")]}), "FederatedCredentials[0].Name", "2 characters long; give 3 to 120")]
#[case::credential_name_121(json!({"FederatedCredentials": [credential(&"c".repeat(121), "s")]}), "FederatedCredentials[0].Name", "121 characters long")]
#[case::credential_name_dash_first(json!({"FederatedCredentials": [credential("-main", "s")]}), "FederatedCredentials[0].Name", "must start with a letter or digit")]
#[case::credential_name_space(json!({"FederatedCredentials": [credential("my main", "s")]}), "FederatedCredentials[0].Name", "contains ' '; use only letters, digits, `-` and `_`")]
#[case::credential_name_duplicate_ignoring_case(
    json!({"FederatedCredentials": [credential("Main", "s1"), credential("main", "s2")]}),
    "FederatedCredentials[1].Name",
    "is already used by `FederatedCredentials[0]` (names are case-insensitive)"
)]
#[case::credential_issuer_http(
    json!({"FederatedCredentials": [{"Name": "abc", "Issuer": "http://token.actions.githubusercontent.com", "Subject": "s"}]}),
    "FederatedCredentials[0].Issuer",
    "is not an https URL"
)]
#[case::credential_issuer_601(
    json!({"FederatedCredentials": [{"Name": "abc", "Issuer": format!("https://e.com/{}", "p".repeat(587)), "Subject": "s"}]}),
    "FederatedCredentials[0].Issuer",
    "601 characters long; give at most 600"
)]
#[case::credential_subject_empty(json!({"FederatedCredentials": [credential("abc", "")]}), "FederatedCredentials[0].Subject", "is empty")]
#[case::credential_subject_601(json!({"FederatedCredentials": [credential("abc", &"s".repeat(601))]}), "FederatedCredentials[0].Subject", "601 characters long")]
#[case::credential_no_audience(
    json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Audiences": []}]}),
    "FederatedCredentials[0].Audiences",
    "0 audiences given; Entra accepts exactly one, usually `api://AzureADTokenExchange`"
)]
#[case::credential_two_audiences(
    json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Audiences": ["a", "b"]}]}),
    "FederatedCredentials[0].Audiences",
    "2 audiences given; Entra accepts exactly one"
)]
#[case::credential_audience_601(
    json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Audiences": ["a".repeat(601)]}]}),
    "FederatedCredentials[0].Audiences[0]",
    "601 characters long"
)]
#[case::credential_audiences_not_a_list(
    json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Audiences": "api://AzureADTokenExchange"}]}),
    "FederatedCredentials[0].Audiences",
    "expected a list, found a string"
)]
#[case::credential_description_601(
    json!({"FederatedCredentials": [{"Name": "abc", "Issuer": GITHUB, "Subject": "s", "Description": "d".repeat(601)}]}),
    "FederatedCredentials[0].Description",
    "601 characters long"
)]
#[case::credential_same_issuer_and_subject(
    json!({"FederatedCredentials": [credential("first", "repo:o/r:ref:refs/heads/main"), credential("second", "repo:o/r:ref:refs/heads/main")]}),
    "FederatedCredentials[1]",
    "has the same `Issuer` and `Subject` as `FederatedCredentials[0]`"
)]
// TrustedClientAppIds and TokenVersion.
#[case::app_id_not_a_guid(json!({"TrustedClientAppIds": ["my-ci-app"]}), "TrustedClientAppIds[0]", "`my-ci-app` is not an application (client) id")]
#[case::app_id_duplicate_ignoring_case(
    json!({"TrustedClientAppIds": [APP_A, APP_A.to_uppercase()]}),
    "TrustedClientAppIds[1]",
    "duplicate of `TrustedClientAppIds[0]`"
)]
#[case::app_ids_not_a_list(json!({"TrustedClientAppIds": APP_A}), "TrustedClientAppIds", "expected a list, found a string")]
#[case::v2_with_trusted_clients(
    json!({"TokenVersion": "2", "TrustedClientAppIds": [APP_A]}),
    "TrustedClientAppIds",
    "with `TokenVersion` 2 only the application itself can assume the role"
)]
#[case::v2_number_with_trusted_clients(
    json!({"TokenVersion": 2, "TrustedClientAppIds": [APP_A, APP_B]}),
    "TrustedClientAppIds",
    "use `TokenVersion` 1 or remove `TrustedClientAppIds`"
)]
#[case::token_version_3(json!({"TokenVersion": "3"}), "TokenVersion", "`3` is not a token version; use 1 (the default) or 2")]
#[case::token_version_number_3(json!({"TokenVersion": 3}), "TokenVersion", "`3` is not a token version")]
#[case::token_version_fraction(json!({"TokenVersion": 1.0}), "TokenVersion", "`1.0` is not a token version")]
#[case::token_version_v2(json!({"TokenVersion": "v2"}), "TokenVersion", "`v2` is not a token version")]
// RequireAppRoleAssignment.
#[case::require_assignment_yes(json!({"RequireAppRoleAssignment": "yes"}), "RequireAppRoleAssignment", "`yes` is not a boolean; use `true` or `false`")]
#[case::require_assignment_one(json!({"RequireAppRoleAssignment": 1}), "RequireAppRoleAssignment", "`1` is not a boolean")]
#[case::require_assignment_list(json!({"RequireAppRoleAssignment": [true]}), "RequireAppRoleAssignment", "expected a single value, found a list")]
fn rejects(#[case] input: Value, #[case] path: &str, #[case] phrase: &str) {
    let errors = Properties::parse(&input).expect_err("properties should be rejected");
    assert_eq!(errors.len(), 1, "{errors}");
    let error = &errors.as_slice()[0];
    assert_eq!(error.property, path, "{errors}");
    assert!(error.message.contains(phrase), "{errors}");
    assert!(
        !error.message.ends_with('.') && error.message.starts_with(|c: char| !c.is_uppercase()),
        "messages are lowercase without trailing period: {errors}"
    );
}

#[test]
fn collects_every_error() {
    let input = json!({
        "Rolename": "x",
        "RolePath": "ci",
        "MaxSessionDuration": "90",
        "Tags": [{"Key": "aws:x", "Value": "v"}, {"Kee": "k", "Value": "v"}],
        "FederatedCredentials": [{"Name": "a", "Issuer": "http://x", "Subject": ""}],
        "TokenVersion": 2,
        "TrustedClientAppIds": ["nope"]
    });
    let errors = Properties::parse(&input).unwrap_err();
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|error| (error.property.as_str(), error.message.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "Rolename",
                "unknown property `Rolename`; did you mean `RoleName`?"
            ),
            (
                "RolePath",
                "`ci` is not a role path; give `/` or a path that begins and ends with `/`, e.g. `/workloads/`"
            ),
            (
                "MaxSessionDuration",
                "`90` is out of range; give whole seconds from 3600 to 43200"
            ),
            (
                "Tags[0].Key",
                "`aws:x` starts with `aws:`, which is reserved for AWS; choose another key"
            ),
            ("Tags[1].Kee", "unknown property `Kee`; did you mean `Key`?"),
            ("Tags[1].Key", "missing value; give the tag key"),
            (
                "FederatedCredentials[0].Name",
                "`a` is 1 characters long; give 3 to 120 letters, digits, `-` or `_`"
            ),
            (
                "FederatedCredentials[0].Issuer",
                "`http://x` is not an https URL; give the issuer exactly as the `iss` claim of the external token, e.g. `https://token.actions.githubusercontent.com`"
            ),
            (
                "FederatedCredentials[0].Subject",
                "is empty; give the `sub` claim of the external token, e.g. `repo:my-org/my-repo:environment:prod`"
            ),
            (
                "TrustedClientAppIds[0]",
                "`nope` is not an application (client) id; give a GUID such as `11111111-2222-3333-4444-555555555555`"
            ),
            (
                "TrustedClientAppIds",
                "with `TokenVersion` 2 only the application itself can assume the role (STS matches the token's `azp` claim, the caller, against the audience), so trusted clients would be refused; use `TokenVersion` 1 or remove `TrustedClientAppIds`"
            ),
        ]
    );
}

#[test]
fn errors_display_as_one_reason() {
    let errors = Properties::parse(&json!({"MaxSessionDuration": 90, "RoleName": ""})).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "property `RoleName`: is empty; give 1 to 64 letters, digits or `+=,.@_-`, or leave `RoleName` out to get a generated name; \
         property `MaxSessionDuration`: `90` is out of range; give whole seconds from 3600 to 43200"
    );
}

#[test]
fn never_echoes_huge_values() {
    let huge = "x".repeat(100_000);
    let mut input = Map::new();
    input.insert(huge.clone(), json!(1));
    input.insert("RoleName".to_owned(), json!(huge));
    input.insert("Description".to_owned(), json!(huge));
    input.insert(
        "Policies".to_owned(),
        json!([policy("p", json!({"Statement": [], "Sid": huge}))]),
    );
    let errors = Properties::parse(&Value::Object(input)).unwrap_err();
    assert_eq!(errors.len(), 4, "{errors}");
    for error in &errors {
        let text = error.to_string();
        assert!(!text.contains(&"x".repeat(65)), "{error}");
        assert!(text.len() < 600, "{error}");
    }
    assert_eq!(
        errors.as_slice()[0].property,
        format!("{}…", "x".repeat(64))
    );
}

#[test]
fn null_and_missing_properties_are_the_defaults() {
    let all_null: Map<String, Value> = PROPERTY_NAMES
        .iter()
        .map(|name| ((*name).to_owned(), Value::Null))
        .collect();
    for input in [json!(null), json!({}), Value::Object(all_null)] {
        assert_eq!(Properties::parse(&input).unwrap(), Properties::default());
    }
}

#[test]
fn golden_defaults() {
    assert_eq!(
        parsed(&json!({"ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:f"})),
        json!({
            "RoleName": null,
            "RolePath": "/",
            "Description": null,
            "ManagedPolicyArns": [],
            "Policies": [],
            "PermissionsBoundary": null,
            "MaxSessionDuration": 3600,
            "Tags": [],
            "ApplicationDisplayName": null,
            "FederatedCredentials": [],
            "TrustedClientAppIds": [],
            "RequireAppRoleAssignment": false,
            "TokenVersion": 1
        })
    );
}

/// Everything given, stringified the way CloudFormation sends it.
fn full_input() -> Value {
    json!({
        "ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:entra-federated-role",
        "ServiceTimeout": "900",
        "RoleName": "ci-deployer",
        "RolePath": "/federated/",
        "Description": "assumed by the CI pipeline",
        "ManagedPolicyArns": [
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::123456789012:policy/team/Deploy"
        ],
        "Policies": [
            {
                "PolicyName": "artifacts",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]
                }
            },
            {
                "PolicyName": "logs",
                "PolicyDocument": "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"logs:*\", \"Resource\": \"*\"}]}"
            }
        ],
        "PermissionsBoundary": "arn:aws:iam::123456789012:policy/Boundary",
        "MaxSessionDuration": "7200",
        "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "cost-center", "Value": "42"}],
        "ApplicationDisplayName": "CI deployer (prod)",
        "FederatedCredentials": [
            {
                "Name": "github-main",
                "Issuer": "https://token.actions.githubusercontent.com",
                "Subject": "repo:my-org/my-repo:ref:refs/heads/main",
                "Description": "deploys from main"
            },
            {
                "Name": "gitlab",
                "Issuer": "https://gitlab.com",
                "Subject": "project_path:g/p:ref_type:branch:ref:main",
                "Audiences": ["https://gitlab.com"]
            }
        ],
        "TrustedClientAppIds": ["ABCDEF01-2345-6789-ABCD-EF0123456789"],
        "RequireAppRoleAssignment": "True",
        "TokenVersion": "1"
    })
}

#[test]
fn golden_full() {
    assert_eq!(
        parsed(&full_input()),
        json!({
            "RoleName": "ci-deployer",
            "RolePath": "/federated/",
            "Description": "assumed by the CI pipeline",
            "ManagedPolicyArns": [
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "arn:aws:iam::123456789012:policy/team/Deploy"
            ],
            "Policies": [
                {
                    "PolicyName": "artifacts",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]
                    }
                },
                {
                    "PolicyName": "logs",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]
                    }
                }
            ],
            "PermissionsBoundary": "arn:aws:iam::123456789012:policy/Boundary",
            "MaxSessionDuration": 7200,
            "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "cost-center", "Value": "42"}],
            "ApplicationDisplayName": "CI deployer (prod)",
            "FederatedCredentials": [
                {
                    "Name": "github-main",
                    "Issuer": "https://token.actions.githubusercontent.com",
                    "Subject": "repo:my-org/my-repo:ref:refs/heads/main",
                    "Audiences": ["api://AzureADTokenExchange"],
                    "Description": "deploys from main"
                },
                {
                    "Name": "gitlab",
                    "Issuer": "https://gitlab.com",
                    "Subject": "project_path:g/p:ref_type:branch:ref:main",
                    "Audiences": ["https://gitlab.com"],
                    "Description": null
                }
            ],
            "TrustedClientAppIds": ["abcdef01-2345-6789-abcd-ef0123456789"],
            "RequireAppRoleAssignment": true,
            "TokenVersion": 1
        })
    );
}

#[test]
fn golden_typed_value() {
    let input = json!({
        "RoleName": "r",
        "MaxSessionDuration": 43200,
        "Tags": [{"Key": "k", "Value": "v"}],
        "FederatedCredentials": [credential("main", "s")],
        "TokenVersion": "2"
    });
    let expected = Properties {
        role_name: Some(RoleName::parse("r").unwrap()),
        max_session_duration: MaxSessionDuration::new(43_200).unwrap(),
        tags: vec![Tag {
            key: TagKey::parse("k").unwrap(),
            value: TagValue::parse("v").unwrap(),
        }],
        federated_credentials: vec![FederatedCredential {
            name: CredentialName::parse("main").unwrap(),
            issuer: Issuer::parse(GITHUB).unwrap(),
            subject: Subject::parse("s").unwrap(),
            audience: Audience::token_exchange(),
            description: None,
        }],
        token_version: TokenVersion::V2,
        ..Properties::default()
    };
    assert_eq!(Properties::parse(&input).unwrap(), expected);
}

#[test]
fn stringified_and_typed_scalars_parse_alike() {
    let stringified = json!({
        "RoleName": "123", "MaxSessionDuration": "7200",
        "RequireAppRoleAssignment": "true", "TokenVersion": "2",
        "Tags": [{"Key": "n", "Value": "1"}]
    });
    let typed = json!({
        "RoleName": 123, "MaxSessionDuration": 7200,
        "RequireAppRoleAssignment": true, "TokenVersion": 2,
        "Tags": [{"Key": "n", "Value": 1}]
    });
    assert_eq!(
        Properties::parse(&stringified).unwrap(),
        Properties::parse(&typed).unwrap()
    );
}

#[test]
fn replacement_key_holds_the_replacement_properties() {
    let properties = Properties::parse(&full_input()).unwrap();
    let key = properties.replacement_key();
    assert_eq!(
        serde_json::to_value(&key).unwrap(),
        json!({"RoleName": "ci-deployer", "RolePath": "/federated/", "TokenVersion": 1})
    );
    assert_eq!(
        serde_json::to_value(Properties::default().replacement_key()).unwrap(),
        json!({"RoleName": null, "RolePath": "/", "TokenVersion": 1})
    );
}

#[test]
fn the_replacement_key_is_recovered_when_other_properties_are_broken() {
    let broken =
        json!({"RoleName": "ci", "TokenVersion": "2", "MaxSessionDuration": "nope", "Typo": 1});
    assert!(Properties::parse(&broken).is_err());
    let key = Properties::recover_replacement_key(&broken).unwrap();
    assert_eq!(key.role_name.unwrap().as_str(), "ci");
    assert_eq!(key.token_version, TokenVersion::V2);
    assert_eq!(key.role_path.as_str(), "/");
    assert!(Properties::recover_replacement_key(&json!({"RoleName": "bad name"})).is_none());
    assert!(Properties::recover_replacement_key(&json!("x")).is_none());
}
