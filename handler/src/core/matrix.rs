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
    fake::{Clouds, FakeEntra, FakeIam, Fault, World},
};
use crate::{
    config::{self, Config},
    deadline::Deadline,
    domain::{
        AppId, DisplayName, Properties, ownership::StackArn, plan::GenerationName, role::RoleState,
    },
    graph::TrustedClient,
};

const STACK: &str = "arn:aws:cloudformation:eu-west-1:222222222222:stack/ci-roles/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1";
const TRUSTED_APP: &str = "3c2e1f4a-9b8d-4e6f-a1b2-c3d4e5f6a7b8";
const TRUSTED_SP: &str = "trusted-client-service-principal";
const FAULTS: [Fault; 3] = [Fault::Refused, Fault::AnswerLost, Fault::Crash];

fn config() -> Config {
    let env = |name: &str| match name {
        "ENTRA_TENANT_ID" => Some("72f988bf-86f1-41af-91ab-2d7cd011db47".to_owned()),
        "ENTRA_CLIENT_ID" => Some("11111111-2222-3333-4444-555555555555".to_owned()),
        _ => None,
    };
    config::load(env).config.expect("a valid configuration")
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
            generation: Generation::new(&config(), stack, "CiRole", name),
            properties,
            trusted,
        }
    }

    fn wanted<'a>(&'a self, display_name: &'a DisplayName) -> Wanted<'a> {
        Wanted {
            properties: &self.properties,
            trusted: &self.trusted,
            display_name,
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
