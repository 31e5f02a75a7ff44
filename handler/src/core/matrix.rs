//! The failure matrix, in-process: every write of a Create, an in-place Update, a
//! replacing Update and a Delete is, in turn, refused, applied with its answer lost, and
//! applied with the process dying right after it. Then comes what CloudFormation and
//! Lambda do next — a redelivery, CloudFormation's Delete, or its rollback Update — and
//! both clouds must end exactly as a run without the fault leaves them: nothing leaked,
//! nothing missing.
//!
//! The clouds are compared as [`Picture`]s, which name every object by the generation it
//! belongs to rather than by the ids the clouds gave it, so runs compare across ids.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    Generation, Lifecycle, Plan, Wanted,
    fake::{ACCOUNT, Clouds, FakeEntra, FakeIam, FakeRole, Fault, World},
};
use crate::{
    config::{self, Config},
    deadline::Deadline,
    domain::{
        AppId, DisplayName, Properties,
        adoption::{
            Adoption, ForeignRole, TAG_APP_ID, TAG_FEDERATE, TAG_REASON, TAG_STATUS, adoption,
        },
        guardrails::Guardrails,
        ownership::StackArn,
        plan::GenerationName,
        role::RoleState,
    },
    graph::TrustedClient,
};

const STACK: &str = "arn:aws:cloudformation:eu-west-1:222222222222:stack/ci-roles/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1";
const TRUSTED_APP: &str = "3c2e1f4a-9b8d-4e6f-a1b2-c3d4e5f6a7b8";
const TRUSTED_SP: &str = "trusted-client-service-principal";
const FAULTS: [Fault; 3] = [Fault::Refused, Fault::AnswerLost, Fault::Crash];

fn config() -> Config {
    config::for_tests()
}

/// Every property that makes an object: managed and inline policies, a boundary, tags,
/// two federated credentials, a trusted client and the app-role assignment.
fn full() -> Value {
    json!({
        "RoleName": "ci-blue",
        "Description": "CI deploys",
        "MaxSessionDuration": "7200",
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "PermissionsBoundary": "arn:aws:iam::222222222222:policy/Boundary",
        "Policies": [{"PolicyName": "artifacts", "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}],
        "Tags": [{"Key": "team", "Value": "platform"}],
        "FederatedCredentials": [
            {"Name": "github-main", "Issuer": "https://token.actions.githubusercontent.com",
             "Subject": "repo:contoso/app:ref:refs/heads/main"},
            {"Name": "github-release", "Issuer": "https://token.actions.githubusercontent.com",
             "Subject": "repo:contoso/app:environment:release"}
        ],
        "TrustedClientAppIds": [TRUSTED_APP],
        "RequireAppRoleAssignment": "true"
    })
}

/// `full()` changed in place: every kind of in-place change at once.
fn changed() -> Value {
    let mut changed = full();
    changed["Description"] = json!("CI deploys, changed");
    changed["MaxSessionDuration"] = json!("3600");
    changed["ManagedPolicyArns"] = json!(["arn:aws:iam::aws:policy/PowerUserAccess"]);
    changed["PermissionsBoundary"] = Value::Null;
    changed["Policies"] = json!([]);
    changed["Tags"] = json!([{"Key": "team", "Value": "apps"}]);
    changed["FederatedCredentials"] = json!([
        {"Name": "github-main", "Issuer": "https://token.actions.githubusercontent.com",
         "Subject": "repo:contoso/app:ref:refs/heads/trunk"}
    ]);
    changed["TrustedClientAppIds"] = json!([]);
    changed["RequireAppRoleAssignment"] = json!("false");
    changed
}

/// One generation of the resource `CiRole`, as the properties `value` want it.
struct Resource {
    generation: Generation,
    properties: Properties,
    trusted: Vec<TrustedClient>,
}

impl Resource {
    fn new(value: Value) -> Self {
        let properties = Properties::parse(&value).expect("valid properties");
        let stack = StackArn::parse(STACK).unwrap();
        let name = GenerationName::new(&stack, "CiRole", &properties.replacement_key());
        let trusted = properties
            .trusted_client_app_ids
            .iter()
            .map(|app_id| TrustedClient {
                app_id: app_id.clone(),
                service_principal_id: TRUSTED_SP.to_owned(),
                owner_tenant_id: None,
            })
            .collect();
        Self {
            generation: Generation::new(&config(), &stack, "CiRole", name),
            properties,
            trusted,
        }
    }

    /// The generation of `role`, made outside CloudFormation, as its tags ask.
    fn adopted(role: &ForeignRole) -> Self {
        let properties = match adoption(role, &Guardrails::default(), "aws", ACCOUNT) {
            Adoption::Federate(properties) => *properties,
            other => panic!("the role asks validly: {other:?}"),
        };
        Self {
            generation: Generation::adopted(&config(), ACCOUNT, &role.name, &role.id)
                .deciding_from(role),
            properties,
            trusted: Vec::new(),
        }
    }

    fn wanted<'a>(&'a self, display_name: &'a DisplayName) -> Wanted<'a> {
        Wanted {
            properties: &self.properties,
            trusted: &self.trusted,
            display_name,
            current: None,
        }
    }
}

/// What CloudFormation (or Lambda, redelivering) asks of the core.
#[derive(Clone, Copy)]
enum Step<'a> {
    /// A Create, or a replacing Update: a generation without objects yet.
    Create(&'a Resource),
    /// An in-place Update.
    Update(&'a Resource),
    /// A Delete.
    Delete(&'a Resource),
    /// The rollback Update to `to` of a failed replacement by `from`.
    RollBack {
        to: &'a Resource,
        from: &'a Resource,
    },
    /// The federation of a role made outside CloudFormation.
    Adopt(&'a Resource),
    /// The refusal of a role made outside CloudFormation.
    Refuse(&'a Resource),
}

impl Step<'_> {
    /// Runs the step on `world`: whether it succeeded.
    async fn run(self, world: &World) -> bool {
        let display_name = DisplayName::parse("ci-roles-CiRole").unwrap();
        let (iam, entra) = (FakeIam(world), FakeEntra(world));
        let lifecycle = Lifecycle {
            iam: &iam,
            entra: &entra,
        };
        let (plan, wanted) = match self {
            Self::Create(resource) | Self::Update(resource) => {
                let fresh = matches!(self, Self::Create(_));
                let plan = Plan::converge(resource.generation.clone(), fresh);
                (plan, Some(resource.wanted(&display_name)))
            }
            Self::Delete(resource) => (Plan::remove(resource.generation.clone()), None),
            Self::RollBack { to, from } => {
                let plan = Plan::converge(to.generation.clone(), false)
                    .alongside(Plan::remove(from.generation.clone()));
                (plan, Some(to.wanted(&display_name)))
            }
            Self::Adopt(role) => (
                Plan::adopt(role.generation.clone()),
                Some(role.wanted(&display_name)),
            ),
            Self::Refuse(role) => {
                let reason = "`ManagedPolicyArns` contains AdministratorAccess".to_owned();
                (Plan::refuse(role.generation.clone(), reason), None)
            }
        };
        let outcomes = lifecycle.apply(&plan, wanted, deadline()).await;
        outcomes.iter().all(Result::is_ok)
    }
}

fn deadline() -> Deadline {
    Deadline::after(std::time::Duration::from_secs(60))
}

/// Both clouds with every id replaced by the generation its object belongs to.
#[derive(Debug, PartialEq, Eq)]
struct Picture {
    /// Whether ours, and whose audiences it holds.
    provider: Option<(bool, Vec<String>)>,
    roles: BTreeMap<String, RoleState>,
    /// By `uniqueName`.
    apps: BTreeMap<String, AppPicture>,
    deleted_service_principals: Vec<String>,
}

/// An application in a [`Picture`].
#[derive(Debug, PartialEq, Eq)]
struct AppPicture {
    deleted: bool,
    service_principal: bool,
    credentials: BTreeMap<String, String>,
    assignees: Vec<String>,
    identifier_uris: Vec<String>,
}

impl Picture {
    fn of(clouds: &Clouds) -> Self {
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for (unique_name, app) in &clouds.apps {
            names.insert(app.application.app_id.clone(), unique_name.clone());
            if let Some(sp) = &app.service_principal {
                names.insert(sp.id.clone(), format!("sp of {unique_name}"));
            }
        }
        for (app_id, id) in &clouds.deleted_service_principals {
            let owner = names.get(app_id).cloned().unwrap_or_default();
            names.insert(id.clone(), format!("sp of {owner}"));
        }
        let name = |id: &str| -> String {
            names
                .iter()
                .fold(id.to_owned(), |text, (id, name)| text.replace(id, name))
        };
        let sorted = |mut list: Vec<String>| {
            list.sort();
            list
        };
        Self {
            provider: clouds.provider.as_ref().map(|provider| {
                let audiences = provider.audiences.iter().map(|a| name(a)).collect();
                (provider.ours, sorted(audiences))
            }),
            roles: clouds
                .roles
                .iter()
                .map(|(key, role)| {
                    let mut state = role.state.clone();
                    state.trust = name(&state.trust);
                    state.tags.sort();
                    state.managed.sort();
                    state.inline.sort();
                    (key.clone(), state)
                })
                .collect(),
            apps: clouds
                .apps
                .iter()
                .map(|(unique_name, app)| {
                    let assignees = app.assignments.iter().map(|p| name(p)).collect();
                    let uris = app.application.identifier_uris.iter().map(|u| name(u));
                    let value = AppPicture {
                        deleted: app.deleted,
                        service_principal: app.service_principal.is_some(),
                        credentials: app.credentials.clone(),
                        assignees: sorted(assignees),
                        identifier_uris: uris.collect(),
                    };
                    (unique_name.clone(), value)
                })
                .collect(),
            deleted_service_principals: sorted(
                clouds
                    .deleted_service_principals
                    .iter()
                    .map(|(_, id)| name(id))
                    .collect(),
            ),
        }
    }

    fn empty() -> Self {
        Self::of(&Clouds::default())
    }
}

/// The clouds after `step` ran without a fault from `start`, and the writes it made.
async fn clean(start: &Clouds, step: Step<'_>) -> (Clouds, usize) {
    let world = World::new(start.clone());
    world.arm(None);
    assert!(step.run(&world).await, "the step succeeds without a fault");
    (world.clouds(), world.writes())
}

/// The clouds after `step` ran from `start` once per write and fault, each named for
/// the report.
async fn interrupted(start: &Clouds, writes: usize, step: Step<'_>) -> Vec<(String, Clouds)> {
    let mut states = Vec::new();
    for n in 1..=writes {
        for fault in FAULTS {
            let world = World::new(start.clone());
            world.arm(Some((n, fault)));
            let ok = step.run(&world).await;
            assert!(world.struck(), "write {n} was reached");
            assert!(!ok, "{fault:?} at write {n} is reported, not swallowed");
            states.push((
                format!("{fault:?} at write {n} of {writes}"),
                world.clouds(),
            ));
        }
    }
    states
}

/// The clouds `step`, run without a fault from `state`, leaves.
async fn then(state: &Clouds, step: Step<'_>) -> Picture {
    let (clouds, _) = clean(state, step).await;
    Picture::of(&clouds)
}

#[tokio::test]
async fn a_create_stopped_at_any_write_converges_when_redelivered_and_its_delete_leaves_nothing() {
    let blue = &Resource::new(full());
    let (created, writes) = clean(&Clouds::default(), Step::Create(blue)).await;
    assert!(writes >= 12, "every object is written: {writes}");
    let created = Picture::of(&created);
    for (case, state) in interrupted(&Clouds::default(), writes, Step::Create(blue)).await {
        let redelivered = then(&state, Step::Create(blue)).await;
        assert_eq!(redelivered, created, "redelivered after {case}");
        let deleted = then(&state, Step::Delete(blue)).await;
        assert_eq!(deleted, Picture::empty(), "deleted after {case}");
    }
}

#[tokio::test]
async fn an_update_in_place_stopped_at_any_write_converges_when_redelivered_or_rolled_back() {
    let (before, after) = (&Resource::new(full()), &Resource::new(changed()));
    assert_eq!(before.generation, after.generation, "an in-place change");
    let (start, _) = clean(&Clouds::default(), Step::Create(before)).await;
    let (updated, writes) = clean(&start, Step::Update(after)).await;
    assert!(writes >= 10, "every kind of change is written: {writes}");
    let (updated, original) = (Picture::of(&updated), Picture::of(&start));
    for (case, state) in interrupted(&start, writes, Step::Update(after)).await {
        let redelivered = then(&state, Step::Update(after)).await;
        assert_eq!(redelivered, updated, "redelivered after {case}");
        let rolled_back = then(&state, Step::Update(before)).await;
        assert_eq!(rolled_back, original, "rolled back after {case}");
    }
}

#[tokio::test]
async fn a_failed_replacement_stopped_at_any_write_leaves_nothing_once_rolled_back() {
    let blue = &Resource::new(full());
    let mut green = full();
    green["RoleName"] = json!("ci-green");
    let green = &Resource::new(green);
    let (start, _) = clean(&Clouds::default(), Step::Create(blue)).await;
    let (replaced, writes) = clean(&start, Step::Create(green)).await;
    let original = Picture::of(&start);
    let green_only = then(&replaced, Step::Delete(blue)).await;
    let replaced = Picture::of(&replaced);
    let roll_back = Step::RollBack {
        to: blue,
        from: green,
    };
    for (case, state) in interrupted(&start, writes, Step::Create(green)).await {
        let rolled_back = then(&state, roll_back).await;
        assert_eq!(rolled_back, original, "rolled back after {case}");
        // Or Lambda redelivers: the replacement completes, and CloudFormation then
        // deletes the old generation.
        let (redelivered, _) = clean(&state, Step::Create(green)).await;
        assert_eq!(
            Picture::of(&redelivered),
            replaced,
            "redelivered after {case}"
        );
        let old_deleted = then(&redelivered, Step::Delete(blue)).await;
        assert_eq!(
            old_deleted, green_only,
            "old generation deleted after {case}"
        );
    }
}

#[tokio::test]
async fn a_delete_stopped_at_any_write_finishes_when_redelivered() {
    let blue = &Resource::new(full());
    let (start, _) = clean(&Clouds::default(), Step::Create(blue)).await;
    let (deleted, writes) = clean(&start, Step::Delete(blue)).await;
    assert_eq!(Picture::of(&deleted), Picture::empty());
    assert!(writes >= 8, "every object is removed: {writes}");
    for (case, state) in interrupted(&start, writes, Step::Delete(blue)).await {
        let redelivered = then(&state, Step::Delete(blue)).await;
        assert_eq!(redelivered, Picture::empty(), "redelivered after {case}");
    }
}

#[tokio::test]
async fn pictures_name_objects_by_generation_not_by_id() {
    let blue = &Resource::new(full());
    let mut other = full();
    other["RoleName"] = json!("ci-other");
    let other = &Resource::new(other);
    // The same generation made under other ids: the same picture.
    let (first, second) = (World::new(Clouds::default()), World::new(Clouds::default()));
    assert!(Step::Create(blue).run(&first).await);
    assert!(Step::Create(other).run(&second).await && Step::Delete(other).run(&second).await);
    assert!(Step::Create(blue).run(&second).await);
    assert_ne!(first.clouds(), second.clouds(), "other ids");
    assert_eq!(Picture::of(&first.clouds()), Picture::of(&second.clouds()));
    // An audience no application holds stays visible: a leak is never named away.
    let mut leaked = Clouds::default();
    let app_id = AppId::parse(TRUSTED_APP).unwrap();
    leaked.provider = Some(super::fake::FakeProvider {
        ours: true,
        audiences: vec![format!("api://{app_id}")],
    });
    assert_eq!(
        Picture::of(&leaked).provider,
        Some((true, vec![format!("api://{app_id}")]))
    );
}

/// The owner's own statement in the trust of the role made outside CloudFormation.
fn owners_statement() -> Value {
    json!({"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"})
}

/// A role someone made outside CloudFormation, asking to be federated for two GitHub
/// workflows, with `id` as IAM's unique id.
fn foreign_role(id: &str) -> FakeRole {
    let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    FakeRole {
        name: "deploy-web".to_owned(),
        id: id.to_owned(),
        path: "/entra-federated/".to_owned(),
        state: RoleState {
            trust: json!({"Version": "2012-10-17", "Statement": [owners_statement()]}).to_string(),
            description: None,
            max_session: Some(3600),
            boundary: None,
            tags: vec![
                tag("team", "web"),
                tag(TAG_FEDERATE, "true"),
                tag(
                    "entra-federated-role:github:main",
                    "repo:contoso/web:ref:refs/heads/main",
                ),
                tag(
                    "entra-federated-role:github:release",
                    "repo:contoso/web:environment:release",
                ),
            ],
            managed: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned()],
            inline: Vec::new(),
        },
    }
}

/// `clouds` with `role` in them, as IAM would hold it.
fn with_role(mut clouds: Clouds, role: FakeRole) -> Clouds {
    clouds.roles.insert(role.name.clone(), role);
    clouds
}

/// The role `deploy-web` in `clouds`, as the front door reads it.
fn read(clouds: &Clouds) -> ForeignRole {
    clouds.roles["deploy-web"].foreign()
}

fn tag<'c>(clouds: &'c Clouds, key: &str) -> Option<&'c str> {
    clouds.roles["deploy-web"]
        .state
        .tags
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn trust(clouds: &Clouds) -> Value {
    serde_json::from_str(&clouds.roles["deploy-web"].state.trust).unwrap()
}

#[tokio::test]
async fn a_role_made_outside_cloudformation_gets_its_app_and_only_the_factorys_statement() {
    let start = with_role(Clouds::default(), foreign_role("AROAFIRSTINCARNATION1"));
    let web = &Resource::adopted(&read(&start));
    let (adopted, writes) = clean(&start, Step::Adopt(web)).await;

    let app = &adopted.apps[web.generation.unique_name.as_str()];
    assert!(
        app.application
            .tags
            .contains(&"entra-federated-role:role=222222222222/deploy-web".to_owned())
    );
    assert_eq!(app.credentials.len(), 2);
    let sp = app.service_principal.as_ref().unwrap().id.clone();
    let statements = trust(&adopted)["Statement"].as_array().unwrap().clone();
    assert_eq!(
        statements[0],
        owners_statement(),
        "the owner's statement stays first"
    );
    let condition = &statements[1]["Condition"]["StringEquals"];
    let key = "sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";
    assert_eq!(
        condition[format!("{key}:aud")],
        json!(format!("api://{}", app.application.app_id))
    );
    assert_eq!(
        condition[format!("{key}:sub")],
        json!(sp),
        "pinned on the subject too"
    );
    assert_eq!(tag(&adopted, TAG_STATUS), Some("federated"));
    assert_eq!(
        tag(&adopted, TAG_APP_ID),
        Some(app.application.app_id.as_str())
    );
    let role = &adopted.roles["deploy-web"].state;
    let before = &start.roles["deploy-web"].state;
    assert_eq!(
        (
            &role.managed,
            &role.inline,
            role.boundary.as_ref(),
            role.max_session
        ),
        (
            &before.managed,
            &before.inline,
            before.boundary.as_ref(),
            before.max_session
        ),
        "nothing else of the role changes"
    );

    // Delivered again: nothing more is written.
    let world = World::new(adopted.clone());
    world.arm(None);
    assert!(Step::Adopt(web).run(&world).await);
    assert_eq!(world.clouds(), adopted);

    // Stopped at any write, then delivered again: the same end.
    let adopted = Picture::of(&adopted);
    for (case, state) in interrupted(&start, writes, Step::Adopt(web)).await {
        assert_eq!(
            then(&state, Step::Adopt(web)).await,
            adopted,
            "redelivered after {case}"
        );
    }
}

#[tokio::test]
async fn a_role_that_stops_asking_loses_its_app_and_audience_but_is_never_deleted() {
    let start = with_role(Clouds::default(), foreign_role("AROAFIRSTINCARNATION1"));
    let web = &Resource::adopted(&read(&start));
    let (adopted, _) = clean(&start, Step::Adopt(web)).await;
    let mut opted_out = adopted.clone();
    let role = opted_out.roles.get_mut("deploy-web").unwrap();
    role.state.tags.retain(|(k, _)| k != TAG_FEDERATE);
    let (withdrawn, writes) = clean(&opted_out, Step::Delete(web)).await;
    let check = |clouds: &Clouds, case: &str| {
        assert!(clouds.apps.is_empty(), "no application left after {case}");
        assert!(clouds.deleted_service_principals.is_empty(), "{case}");
        assert_eq!(
            clouds.provider.as_ref().map(|p| p.audiences.len()),
            Some(0),
            "{case}"
        );
        let tags: Vec<&str> = clouds.roles["deploy-web"]
            .state
            .tags
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            tags,
            [
                "team",
                "entra-federated-role:github:main",
                "entra-federated-role:github:release"
            ],
            "the role stays, without the factory's tags, after {case}"
        );
    };
    check(&withdrawn, "a clean run");
    for (case, state) in interrupted(&opted_out, writes, Step::Delete(web)).await {
        let (redelivered, _) = clean(&state, Step::Delete(web)).await;
        check(&redelivered, &case);
    }
}

#[tokio::test]
async fn a_refused_role_is_sealed_and_told_why_and_keeps_its_app_for_when_it_is_mended() {
    let start = with_role(Clouds::default(), foreign_role("AROAFIRSTINCARNATION1"));
    let web = &Resource::adopted(&read(&start));
    let (adopted, _) = clean(&start, Step::Adopt(web)).await;
    let (refused, writes) = clean(&adopted, Step::Refuse(web)).await;
    assert_eq!(trust(&refused)["Statement"], json!([owners_statement()]));
    assert_eq!(tag(&refused, TAG_STATUS), Some("refused"));
    assert_eq!(
        tag(&refused, TAG_REASON),
        Some("ManagedPolicyArns contains AdministratorAccess")
    );
    assert_eq!(tag(&refused, TAG_APP_ID), None);
    assert_eq!(refused.apps, adopted.apps, "the application stays");
    for (case, state) in interrupted(&adopted, writes, Step::Refuse(web)).await {
        let redelivered = then(&state, Step::Refuse(web)).await;
        assert_eq!(
            redelivered,
            Picture::of(&refused),
            "redelivered after {case}"
        );
    }
    // Mended: federated again, with the same application.
    let (mended, _) = clean(&refused, Step::Adopt(web)).await;
    assert_eq!(mended, adopted);
}

#[tokio::test]
async fn a_role_made_again_under_its_name_is_never_written_for_its_predecessor() {
    let first = with_role(Clouds::default(), foreign_role("AROAFIRSTINCARNATION1"));
    let old = &Resource::adopted(&read(&first));
    let (adopted, _) = clean(&first, Step::Adopt(old)).await;
    // Deleted and made again under the same name, before the factory heard of it.
    let again = with_role(adopted.clone(), foreign_role("AROASECONDINCARNATION"));
    let new_role = again.roles["deploy-web"].clone();

    // A late event for the old role, planned before the change: refused at the role.
    let world = World::new(again.clone());
    world.arm(None);
    assert!(
        !Step::Adopt(old).run(&world).await,
        "the old generation is not applied to the new role"
    );
    assert_eq!(world.clouds().roles["deploy-web"], new_role);

    // Removing the old generation leaves the new role exactly as it is.
    let (removed, _) = clean(&again, Step::Delete(old)).await;
    assert_eq!(removed.roles["deploy-web"], new_role);
    assert!(removed.apps.is_empty());

    // The new role gets an application of its own.
    let new = &Resource::adopted(&read(&removed));
    assert_ne!(new.generation.unique_name, old.generation.unique_name);
    let (federated, _) = clean(&removed, Step::Adopt(new)).await;
    assert_eq!(federated.apps.len(), 1);
    assert!(
        federated
            .apps
            .contains_key(new.generation.unique_name.as_str())
    );
}

#[tokio::test]
async fn a_role_that_changes_what_it_asks_for_meanwhile_is_not_written_for_the_old_request() {
    let start = with_role(Clouds::default(), foreign_role("AROAFIRSTINCARNATION1"));
    let web = &Resource::adopted(&read(&start));
    // Between the decision and the write, someone attaches an administrator policy.
    let mut changed = start.clone();
    let role = changed.roles.get_mut("deploy-web").unwrap();
    role.state
        .managed
        .push("arn:aws:iam::aws:policy/AdministratorAccess".to_owned());
    let before = changed.roles["deploy-web"].clone();
    let world = World::new(changed);
    world.arm(None);
    assert!(
        !Step::Adopt(web).run(&world).await,
        "refused at the role, to be decided afresh"
    );
    assert_eq!(
        world.clouds().roles["deploy-web"],
        before,
        "its trust and tags untouched"
    );
    // The same for a refusal decided before the role was mended.
    let mut mended = start.clone();
    mended
        .roles
        .get_mut("deploy-web")
        .unwrap()
        .state
        .tags
        .push(("team".into(), "api".into()));
    let world = World::new(mended.clone());
    world.arm(None);
    assert!(!Step::Refuse(web).run(&world).await);
    assert_eq!(
        world.clouds().roles["deploy-web"],
        mended.roles["deploy-web"]
    );
}
