//! The names and markers the resource writes into both clouds and finds its objects by
//! later, pinned. Each outlives the release that wrote it: a role made today is deleted
//! by whatever release runs years from now, which finds it only if these come out the
//! same. A change here is a migration, never a refactoring.

use entra_federated_role::{
    cfn::{failed_create_id, nothing_created_id},
    domain::app_role::APP_ROLE_VALUE,
    domain::{
        Properties,
        ownership::{MANAGED_BY_VALUE, Ownership, StackArn, TAG_MANAGED_BY, generation_key},
        plan::GenerationName,
    },
    graph::{AppOrigin, AppOwner},
};
use serde_json::json;

const STACK: &str = "arn:aws:cloudformation:eu-west-1:222222222222:stack/ci-roles/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1";

fn generation(properties: serde_json::Value) -> GenerationName {
    let key = Properties::parse(&properties).unwrap().replacement_key();
    GenerationName::new(&StackArn::parse(STACK).unwrap(), "CiRole", &key)
}

#[test]
fn the_generation_key_never_changes_for_the_same_resource() {
    // Deployed roles and applications are found by this key: a new value for the same
    // stack, logical id and replacement properties orphans every one of them.
    let cases = [
        (json!({}), "32b47b9ca7a453ada346"),
        (json!({"RoleName": "ci-deploy"}), "376529dff1ce3564e963"),
        (
            json!({"RolePath": "/ci/", "TokenVersion": "2"}),
            "71fa1e9983573cbec334",
        ),
        // Properties outside the replacement key change nothing.
        (
            json!({"Description": "x", "MaxSessionDuration": "7200"}),
            "32b47b9ca7a453ada346",
        ),
    ];
    for (properties, key) in cases {
        let key_of = Properties::parse(&properties).unwrap().replacement_key();
        assert_eq!(
            generation_key(STACK, "CiRole", &key_of),
            key,
            "the generation key of {properties} changed: deployed resources would be orphaned"
        );
    }
}

#[test]
fn names_and_physical_ids_never_change_for_the_same_generation() {
    let stack = StackArn::parse(STACK).unwrap();
    let generated = generation(json!({}));
    // A generated role name is the only way to find a role made without RoleName.
    assert_eq!(
        generated.role_name.as_str(),
        "ci-roles-CiRole-32b47b9ca7a4",
        "generated role names changed: roles made without RoleName would be orphaned"
    );
    // The physical id CloudFormation stores and sends back in every later event.
    assert_eq!(
        generated.role_arn(&stack),
        "arn:aws:iam::222222222222:role/ci-roles-CiRole-32b47b9ca7a4",
        "the physical id changed: CloudFormation would see every Update as a replacement"
    );
    assert_eq!(
        generation(json!({"RoleName": "ci", "RolePath": "/ci/"})).role_arn(&stack),
        "arn:aws:iam::222222222222:role/ci/ci"
    );
    // The Entra application's alternate key: the only way to find an app, by design.
    assert_eq!(
        generated.unique_name(),
        "efr-32b47b9ca7a453ada346",
        "uniqueNames changed: deployed Entra applications would be orphaned"
    );
    // The id a failed Create reports, which its Delete sends back.
    assert_eq!(
        failed_create_id(&generated.key),
        "entra-federated-role:create-failed:32b47b9ca7a453ada346",
        "failed-create ids changed: the Delete after a failed Create would not clean up"
    );
    // The id a Create refused before any write reports: its Delete does nothing.
    assert_eq!(
        nothing_created_id("6d1c7c7f-2f4a-4a7e-9d6e-3b1f1c0a9e21"),
        "entra-federated-role:nothing-created:6d1c7c7f-2f4a-4a7e-9d6e-3b1f1c0a9e21",
        "nothing-created ids changed: such a Delete would try to clean up"
    );
}

#[test]
fn ownership_markers_never_change() {
    let ownership = Ownership {
        stack_id: STACK.to_owned(),
        logical_id: "CiRole".to_owned(),
        generation: "32b47b9ca7a453ada346".to_owned(),
    };
    // Roles are ours only with these tags: others are never touched.
    assert_eq!(
        ownership.tags(),
        [
            ("entra-federated-role:managed-by", "entra-federated-role"),
            ("entra-federated-role:generation", "32b47b9ca7a453ada346"),
            ("entra-federated-role:stack-id", STACK),
            ("entra-federated-role:logical-id", "CiRole"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
        "role markers changed: deployed roles would no longer be recognised as ours"
    );
    // Providers we created carry this tag: only they are ever deleted.
    assert_eq!(
        (TAG_MANAGED_BY, MANAGED_BY_VALUE),
        ("entra-federated-role:managed-by", "entra-federated-role"),
        "the provider marker changed: our providers would be kept forever, or others deleted"
    );
    let owner = AppOwner {
        account: "222222222222".to_owned(),
        generation: "32b47b9ca7a453ada346".to_owned(),
        origin: AppOrigin::Resource {
            stack_id: STACK.to_owned(),
            logical_id: "CiRole".to_owned(),
        },
    };
    assert_eq!(
        owner.tags(),
        [
            "entra-federated-role:managed-by=entra-federated-role",
            "entra-federated-role:generation=32b47b9ca7a453ada346",
            "entra-federated-role:account=222222222222",
            "entra-federated-role:logical-id=CiRole",
            &format!("entra-federated-role:stack-id={STACK}"),
        ],
        "application tags changed: deployed applications would no longer be recognised as ours"
    );
    // Assignments are found through the app role of this value.
    assert_eq!(
        APP_ROLE_VALUE, "AssumeAwsRole",
        "the app role's value changed: existing assignments would be orphaned"
    );
}
