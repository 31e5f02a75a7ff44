//! In-memory IAM and Entra behind the core's ports, for the failure matrix
//! ([`super::matrix`]): each port call behaves as the adapter documents it, and every
//! write it makes passes through [`World::write`], where a [`Fault`] can strike.
//!
//! A fault hits the `n`th write of a run: refused before it lands ([`Fault::Refused`]),
//! landed with its answer lost ([`Fault::AnswerLost`]), or landed and the process dead
//! at once ([`Fault::Crash`]: every later call of that run fails without effect, as
//! nothing more reaches the clouds from a dead Lambda).

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
};

use super::ports::{Entra, Iam};
use crate::{
    aws::{
        AwsError,
        provider::{Provider, ProviderCleanup, ProviderError},
        role::{ObservedRole, RoleDeletion, RoleError, SealedRole},
    },
    deadline::Deadline,
    domain::{
        RoleName,
        adoption::ForeignRole,
        app_role::{AppRole, AppRoleWrites, app_role_writes, assignment_writes},
        federation::provider_arn,
        ownership::{MANAGED_BY_VALUE, Ownership, TAG_GENERATION, TAG_MANAGED_BY},
        role::{RoleSpec, RoleState, RoleWrite, role_removal, role_writes},
    },
    graph::{
        ApiSettings, AppOwner, Application, ApplicationSpec, Changes, GraphError, Located,
        ServicePrincipal, UniqueName, Upserted, WorkloadSpec,
    },
};

pub(super) const ACCOUNT: &str = "222222222222";

/// What strikes the `n`th write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// Refused before it lands.
    Refused,
    /// Lands; its answer is lost.
    AnswerLost,
    /// Lands; the process dies.
    Crash,
}

/// The OIDC provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FakeProvider {
    pub(super) ours: bool,
    pub(super) audiences: Vec<String>,
}

/// A role: its name as created, and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FakeRole {
    pub(super) name: String,
    /// Its unique id: a role made again under its name gets another.
    pub(super) id: String,
    pub(super) path: String,
    pub(super) state: RoleState,
}

/// An application and what hangs off it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FakeApp {
    pub(super) application: Application,
    pub(super) service_principal: Option<ServicePrincipal>,
    /// Federated credentials by name, with their subjects.
    pub(super) credentials: BTreeMap<String, String>,
    /// Principal ids holding the app role.
    pub(super) assignments: Vec<String>,
    /// Soft-deleted (in `deletedItems`).
    pub(super) deleted: bool,
}

/// Both clouds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Clouds {
    pub(super) provider: Option<FakeProvider>,
    /// By lower-case name: IAM role names are unique regardless of case.
    pub(super) roles: BTreeMap<String, FakeRole>,
    /// By `uniqueName`.
    pub(super) apps: BTreeMap<String, FakeApp>,
    /// Deleted service principals: `(appId, id)`.
    pub(super) deleted_service_principals: Vec<(String, String)>,
    next_id: u32,
}

impl Clouds {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.next_id, self.next_id)
    }

    /// A role's unique id, as IAM makes them (`AROA` and 17 more).
    pub(super) fn role_id(&mut self) -> String {
        self.next_id += 1;
        format!("AROA{:017X}", self.next_id)
    }
}

/// The clouds and the faults of the current run.
#[derive(Debug, Default)]
pub(super) struct World {
    clouds: Mutex<Clouds>,
    run: Mutex<Run>,
}

#[derive(Debug, Default)]
struct Run {
    writes: usize,
    fault: Option<(usize, Fault)>,
    dead: bool,
}

/// Why a fake call failed.
#[derive(Debug)]
enum Failed {
    /// Dead, or refused before the write: nothing landed.
    Unapplied,
    /// The write landed; its answer did not come back.
    Lost,
}

impl World {
    pub(super) fn new(clouds: Clouds) -> Self {
        Self {
            clouds: Mutex::new(clouds),
            run: Mutex::default(),
        }
    }

    /// Starts a run in which `fault` strikes the `n`th write (1-based).
    pub(super) fn arm(&self, fault: Option<(usize, Fault)>) {
        *self.run.lock().unwrap() = Run {
            writes: 0,
            fault,
            dead: false,
        };
    }

    /// The writes of the current run so far.
    pub(super) fn writes(&self) -> usize {
        self.run.lock().unwrap().writes
    }

    /// Whether the fault of the current run struck.
    pub(super) fn struck(&self) -> bool {
        let run = self.run.lock().unwrap();
        run.fault.is_some_and(|(n, _)| run.writes >= n)
    }

    pub(super) fn clouds(&self) -> Clouds {
        self.clouds.lock().unwrap().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Clouds> {
        self.clouds.lock().unwrap()
    }

    /// A read: fails only when the process is dead.
    fn read<T>(&self, read: impl FnOnce(&Clouds) -> T) -> Result<T, Failed> {
        if self.run.lock().unwrap().dead {
            return Err(Failed::Unapplied);
        }
        Ok(read(&self.lock()))
    }

    /// A write, where the run's fault may strike.
    fn write<T>(&self, write: impl FnOnce(&mut Clouds) -> T) -> Result<T, Failed> {
        let fault = {
            let mut run = self.run.lock().unwrap();
            if run.dead {
                return Err(Failed::Unapplied);
            }
            run.writes += 1;
            match run.fault {
                Some((n, fault)) if n == run.writes => Some(fault),
                _ => None,
            }
        };
        if fault == Some(Fault::Refused) {
            return Err(Failed::Unapplied);
        }
        let value = write(&mut self.lock());
        match fault {
            Some(Fault::AnswerLost) => Err(Failed::Lost),
            Some(Fault::Crash) => {
                self.run.lock().unwrap().dead = true;
                Err(Failed::Lost)
            }
            _ => Ok(value),
        }
    }
}

fn aws(failed: Failed) -> AwsError {
    use aws_sdk_iam::{error::SdkError, operation::get_role::GetRoleError};
    let why = match failed {
        Failed::Unapplied => "refused",
        Failed::Lost => "answer lost",
    };
    AwsError::from_sdk(
        "a fake IAM call",
        SdkError::<GetRoleError>::timeout_error(why),
    )
}

fn graph(failed: Failed) -> GraphError {
    GraphError::Transient {
        action: "a fake Graph call".to_owned(),
        last: format!("{failed:?}"),
        attempts: 1,
        wait: None,
    }
}

/// The fake account's IAM.
pub(super) struct FakeIam<'a>(pub(super) &'a World);

/// The fake tenant's Entra.
pub(super) struct FakeEntra<'a>(pub(super) &'a World);

fn role_arn(spec: &RoleSpec) -> String {
    spec.arn("aws", ACCOUNT)
}

fn owned(tags: &[(String, String)]) -> Option<&str> {
    let tag = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    (tag(TAG_MANAGED_BY) == Some(MANAGED_BY_VALUE))
        .then(|| tag(TAG_GENERATION))
        .flatten()
}

/// What a planned role write does to the role.
fn apply(state: &mut RoleState, write: &RoleWrite) {
    match write {
        RoleWrite::SetBoundary(arn) => state.boundary = Some(arn.clone()),
        RoleWrite::RemoveBoundary => state.boundary = None,
        RoleWrite::SetTrust(trust) => state.trust = trust.clone(),
        RoleWrite::Update {
            description,
            max_session,
        } => {
            state.description = description.clone();
            state.max_session = Some(*max_session);
        }
        RoleWrite::Tag(tags) => {
            for (key, value) in tags {
                state.tags.retain(|(k, _)| k != key);
                state.tags.push((key.clone(), value.clone()));
            }
        }
        RoleWrite::Untag(keys) => state.tags.retain(|(k, _)| !keys.contains(k)),
        RoleWrite::Attach(arn) => {
            if !state.managed.contains(arn) {
                state.managed.push(arn.clone());
            }
        }
        RoleWrite::Detach(arn) => state.managed.retain(|a| a != arn),
        RoleWrite::PutInline { name, .. } => {
            if !state.inline.contains(name) {
                state.inline.push(name.clone());
            }
        }
        RoleWrite::DeleteInline(name) => state.inline.retain(|n| n != name),
    }
}

impl FakeIam<'_> {
    /// CreateRole with everything it takes; `false` when the name is taken.
    fn create_bare(&self, spec: &RoleSpec) -> Result<bool, AwsError> {
        self.0
            .write(|clouds| {
                let key = spec.name.as_str().to_ascii_lowercase();
                if clouds.roles.contains_key(&key) {
                    return false;
                }
                let state = RoleState::created(spec);
                let id = clouds.role_id();
                clouds.roles.insert(
                    key,
                    FakeRole {
                        name: spec.name.to_string(),
                        id,
                        path: spec.path.to_string(),
                        state,
                    },
                );
                true
            })
            .map_err(aws)
    }

    /// Each planned write, one at a time.
    fn write_role(&self, name: &RoleName, writes: &[RoleWrite]) -> Result<(), AwsError> {
        for write in writes {
            self.0
                .write(|clouds| {
                    if let Some(role) = clouds.roles.get_mut(&name.as_str().to_ascii_lowercase()) {
                        apply(&mut role.state, write);
                    }
                })
                .map_err(aws)?;
        }
        Ok(())
    }

    fn put_policies(&self, spec: &RoleSpec) -> Result<(), AwsError> {
        let writes = role_writes(spec, &RoleState::created(spec));
        self.write_role(&spec.name, &writes.rest)
    }

    async fn converge_now(
        &self,
        spec: &RoleSpec,
        observed: ObservedRole,
    ) -> Result<String, RoleError> {
        let observed = match observed {
            Some(observed) => observed,
            None if self.create_bare(spec)? => {
                self.put_policies(spec)?;
                return Ok(role_arn(spec));
            }
            // Made meanwhile: converge what is there.
            None => self
                .observe(&spec.name)?
                .ok_or_else(|| aws(Failed::Unapplied))?,
        };
        if !spec.ownership.owns(&observed.tags) {
            return Err(RoleError::NotOurs {
                name: spec.name.to_string(),
                account: ACCOUNT.to_owned(),
            });
        }
        let writes = role_writes(spec, &observed);
        self.write_role(&spec.name, writes.boundary.as_slice())?;
        self.write_role(&spec.name, &writes.rest)?;
        Ok(role_arn(spec))
    }

    fn observe(&self, name: &RoleName) -> Result<ObservedRole, AwsError> {
        self.0
            .read(|clouds| {
                clouds
                    .roles
                    .get(&name.as_str().to_ascii_lowercase())
                    .map(|role| role.state.clone())
            })
            .map_err(aws)
    }
}

impl FakeRole {
    /// The role as [`Iam::read_foreign`] reads it.
    pub(super) fn foreign(&self) -> ForeignRole {
        ForeignRole {
            name: RoleName::parse(&self.name).expect("a fake role has a valid name"),
            path: self.path.clone(),
            id: self.id.clone(),
            arn: format!("arn:aws:iam::{ACCOUNT}:role{}{}", self.path, self.name),
            trust: self.state.trust.clone(),
            boundary: self.state.boundary.clone(),
            tags: self.state.tags.clone(),
            managed: self.state.managed.clone(),
        }
    }
}

impl Iam for FakeIam<'_> {
    fn partition(&self) -> &str {
        "aws"
    }

    fn account_id(&self) -> &str {
        ACCOUNT
    }

    async fn ensure_provider(
        &self,
        issuer: &str,
        audience: &str,
        _: Deadline,
    ) -> Result<Provider, ProviderError> {
        let arn = provider_arn("aws", ACCOUNT, issuer);
        let created = self
            .0
            .write(|clouds| match &mut clouds.provider {
                Some(provider) => {
                    if !provider.audiences.iter().any(|a| a == audience) {
                        provider.audiences.push(audience.to_owned());
                    }
                    false
                }
                None => {
                    clouds.provider = Some(FakeProvider {
                        ours: true,
                        audiences: vec![audience.to_owned()],
                    });
                    true
                }
            })
            .map_err(aws)?;
        Ok(Provider { arn, created })
    }

    async fn remove_audience(&self, _: &str, audience: &str, _: Deadline) -> Result<(), AwsError> {
        self.0
            .write(|clouds| {
                if let Some(provider) = &mut clouds.provider {
                    provider.audiences.retain(|a| a != audience);
                }
            })
            .map_err(aws)
    }

    async fn delete_provider_if_unused(
        &self,
        issuer: &str,
        _: Deadline,
    ) -> Result<ProviderCleanup, ProviderError> {
        let arn = provider_arn("aws", ACCOUNT, issuer);
        let found = self
            .0
            .read(|clouds| {
                let trusted_by = clouds
                    .roles
                    .values()
                    .find(|role| role.state.trust.contains(&arn))
                    .map(|role| role.name.clone());
                (clouds.provider.clone(), trusted_by)
            })
            .map_err(aws)?;
        match found {
            (None, _) => Ok(ProviderCleanup::Absent),
            (Some(provider), _) if !provider.ours => Ok(ProviderCleanup::NotOurs),
            (Some(provider), _) if !provider.audiences.is_empty() => Ok(ProviderCleanup::InUse {
                audiences: provider.audiences.len(),
            }),
            (_, Some(role)) => Ok(ProviderCleanup::TrustedBy { role }),
            _ => {
                self.0.write(|clouds| clouds.provider = None).map_err(aws)?;
                Ok(ProviderCleanup::Deleted)
            }
        }
    }

    async fn create_sealed(&self, spec: &RoleSpec, _: Deadline) -> Result<SealedRole, RoleError> {
        if !self.create_bare(spec)? {
            return Ok(SealedRole::Exists);
        }
        self.put_policies(spec)?;
        Ok(SealedRole::Created(role_arn(spec)))
    }

    async fn set_trust(&self, spec: &RoleSpec, _: Deadline) -> Result<(), AwsError> {
        self.write_role(
            &spec.name,
            &[RoleWrite::SetTrust(spec.trust_policy.clone())],
        )
    }

    async fn create_role(&self, spec: &RoleSpec, _: Deadline) -> Result<String, RoleError> {
        self.converge_now(spec, None).await
    }

    async fn observe_role(&self, name: &RoleName, _: Deadline) -> Result<ObservedRole, AwsError> {
        self.observe(name)
    }

    async fn converge_observed(
        &self,
        spec: &RoleSpec,
        observed: ObservedRole,
        _: Deadline,
    ) -> Result<String, RoleError> {
        self.converge_now(spec, observed).await
    }

    async fn converge_role(&self, spec: &RoleSpec, _: Deadline) -> Result<String, RoleError> {
        let observed = self.observe(&spec.name)?;
        self.converge_now(spec, observed).await
    }

    async fn role_generation(
        &self,
        name: &RoleName,
        _: Deadline,
    ) -> Result<Option<String>, AwsError> {
        Ok(self
            .observe(name)?
            .and_then(|role| owned(&role.tags).map(str::to_owned)))
    }

    async fn delete_role(
        &self,
        name: &RoleName,
        ownership: &Ownership,
        _: Deadline,
    ) -> Result<RoleDeletion, AwsError> {
        let Some(observed) = self.observe(name)? else {
            return Ok(RoleDeletion::Absent);
        };
        if !ownership.owns(&observed.tags) {
            return Ok(RoleDeletion::NotOurs);
        }
        self.write_role(name, &role_removal(&observed))?;
        self.0
            .write(|clouds| {
                clouds.roles.remove(&name.as_str().to_ascii_lowercase());
            })
            .map_err(aws)?;
        Ok(RoleDeletion::Deleted)
    }

    async fn read_foreign(
        &self,
        name: &RoleName,
        _: Deadline,
    ) -> Result<Option<ForeignRole>, AwsError> {
        self.0
            .read(|clouds| {
                let key = name.as_str().to_ascii_lowercase();
                clouds.roles.get(&key).map(FakeRole::foreign)
            })
            .map_err(aws)
    }

    async fn write_foreign(
        &self,
        name: &RoleName,
        writes: &[RoleWrite],
        _: Deadline,
    ) -> Result<(), RoleError> {
        Ok(self.write_role(name, writes)?)
    }
}

impl FakeEntra<'_> {
    fn with_app<T>(
        &self,
        unique_name: &str,
        change: impl FnOnce(&mut FakeApp) -> T,
    ) -> Result<Option<T>, GraphError> {
        self.0
            .write(|clouds| clouds.apps.get_mut(unique_name).map(change))
            .map_err(graph)
    }

    /// Makes exactly `wanted` hold the app role of the application `name`, whose holders
    /// were `held`.
    fn assign(
        &self,
        name: &str,
        held: &[String],
        wanted: &[String],
    ) -> Result<Changes, GraphError> {
        let writes = assignment_writes(held, String::as_str, wanted);
        let mut changes = Changes::default();
        for stale in writes.remove {
            self.with_app(name, |app| app.assignments.retain(|p| p != stale))?;
            changes.removed.push(stale.clone());
        }
        for missing in writes.add {
            self.with_app(name, |app| {
                if !app.assignments.iter().any(|p| p == missing) {
                    app.assignments.push(missing.to_owned());
                }
            })?;
            changes.created.push(missing.to_owned());
        }
        Ok(changes)
    }

    fn unique_name_of(&self, application: &Application) -> String {
        application.unique_name.clone().unwrap_or_default()
    }
}

impl Entra for FakeEntra<'_> {
    async fn upsert_application(
        &self,
        spec: &ApplicationSpec,
        _: bool,
        _: Deadline,
    ) -> Result<Upserted, GraphError> {
        let name = spec.unique_name.as_str();
        let upserted = self
            .0
            .write(|clouds| {
                if let Some(app) = clouds.apps.get_mut(name) {
                    if app.deleted || !spec.owner.owns(&app.application.tags) {
                        return None;
                    }
                    app.application.display_name = Some(spec.display_name.to_string());
                    return Some((app.application.clone(), false));
                }
                let (id, app_id) = (clouds.id(), clouds.id());
                let application = Application {
                    id,
                    app_id,
                    unique_name: Some(name.to_owned()),
                    display_name: Some(spec.display_name.to_string()),
                    tags: spec.tags(),
                    identifier_uris: Vec::new(),
                    app_roles: Vec::new(),
                    notes: Some(spec.owner.notes()),
                    sign_in_audience: Some(ApplicationSpec::SIGN_IN_AUDIENCE.to_owned()),
                    api: Some(ApiSettings {
                        requested_access_token_version: Some(spec.requested_version()),
                    }),
                };
                clouds.apps.insert(
                    name.to_owned(),
                    FakeApp {
                        application: application.clone(),
                        service_principal: None,
                        credentials: BTreeMap::new(),
                        assignments: Vec::new(),
                        deleted: false,
                    },
                );
                Some((application, true))
            })
            .map_err(graph)?;
        let (application, created) = upserted.ok_or_else(|| GraphError::NotOurs {
            what: format!("the Entra application with uniqueName {name}"),
        })?;
        Ok(Upserted {
            application,
            created,
        })
    }

    async fn register_application(
        &self,
        upserted: &Upserted,
        spec: &WorkloadSpec,
        _: Deadline,
    ) -> Result<(ServicePrincipal, Changes), GraphError> {
        let name = self.unique_name_of(&upserted.application);
        let uri = upserted.application.identifier_uri();
        let current = self
            .0
            .read(|clouds| clouds.apps.get(&name).cloned())
            .map_err(graph)?
            .ok_or_else(|| graph(Failed::Unapplied))?;
        if current.application.identifier_uris != [uri.clone()] {
            self.with_app(&name, |app| app.application.identifier_uris = vec![uri])?;
        }
        let service_principal = match current.service_principal {
            Some(sp) => sp,
            None => self
                .0
                .write(|clouds| {
                    let id = clouds.id();
                    let app = clouds.apps.get_mut(&name)?;
                    let sp = ServicePrincipal {
                        id,
                        app_id: app.application.app_id.clone(),
                        app_role_assignment_required: spec.require_app_role_assignment,
                        app_owner_organization_id: None,
                    };
                    app.service_principal = Some(sp.clone());
                    Some(sp)
                })
                .map_err(graph)?
                .ok_or_else(|| graph(Failed::Unapplied))?,
        };
        let mut changes = Changes::default();
        for stale in current.credentials.keys().filter(|n| {
            !spec
                .federated_credentials
                .iter()
                .any(|f| f.name.as_str() == *n)
        }) {
            self.with_app(&name, |app| app.credentials.remove(stale))?;
            changes.removed.push(stale.clone());
        }
        for wanted in &spec.federated_credentials {
            let subject = wanted.subject.to_string();
            if current.credentials.get(wanted.name.as_str()) != Some(&subject) {
                self.with_app(&name, |app| {
                    app.credentials
                        .insert(wanted.name.to_string(), subject.clone())
                })?;
                changes.created.push(wanted.name.to_string());
            }
        }
        Ok((service_principal, changes))
    }

    async fn converge_app_role_assignments(
        &self,
        application: &Application,
        _: &ServicePrincipal,
        principals: &[String],
        required: bool,
        _: Deadline,
    ) -> Result<Changes, GraphError> {
        let name = self.unique_name_of(application);
        let current = self
            .0
            .read(|clouds| clouds.apps.get(&name).cloned())
            .map_err(graph)?
            .ok_or_else(|| graph(Failed::Unapplied))?;
        let set_roles = |role_sets: Vec<Vec<AppRole>>| {
            for roles in role_sets {
                self.with_app(&name, |app| app.application.app_roles = roles)?;
            }
            Ok::<_, GraphError>(())
        };
        let wanted = match app_role_writes(&current.application.app_roles, required, "role") {
            AppRoleWrites::Nothing => return Ok(Changes::default()),
            AppRoleWrites::Assign { .. } => principals,
            AppRoleWrites::SetThenAssign { role_sets, .. } => {
                set_roles(role_sets)?;
                principals
            }
            AppRoleWrites::Withdraw { role_sets, .. } => {
                let changes = self.assign(&name, &current.assignments, &[])?;
                set_roles(role_sets)?;
                return Ok(changes);
            }
        };
        self.assign(&name, &current.assignments, wanted)
    }

    async fn find_application(
        &self,
        unique_name: &UniqueName,
        owner: &AppOwner,
        _: Deadline,
    ) -> Result<Option<Application>, GraphError> {
        let found = self
            .0
            .read(|clouds| clouds.apps.get(unique_name.as_str()).cloned())
            .map_err(graph)?;
        match found {
            Some(app) if app.deleted => Ok(None),
            Some(app) if owner.owns(&app.application.tags) => Ok(Some(app.application)),
            Some(_) => Err(GraphError::NotOurs {
                what: format!("the Entra application with uniqueName {unique_name}"),
            }),
            None => Ok(None),
        }
    }

    async fn locate_application(
        &self,
        unique_name: &UniqueName,
        owner: &AppOwner,
        found: Result<Option<Application>, GraphError>,
        _: Deadline,
    ) -> Result<Located, GraphError> {
        match found {
            Ok(Some(app)) => Ok(Located::Live(app)),
            Err(GraphError::NotOurs { .. }) => Ok(Located::NotOurs),
            Err(error) => Err(error),
            Ok(None) => {
                let deleted = self
                    .0
                    .read(|clouds| {
                        clouds
                            .apps
                            .get(unique_name.as_str())
                            .filter(|app| app.deleted)
                            .map(|app| app.application.clone())
                    })
                    .map_err(graph)?;
                Ok(match deleted {
                    Some(app) if owner.owns(&app.tags) => Located::Deleted(app),
                    Some(_) => Located::NotOurs,
                    None => Located::Gone,
                })
            }
        }
    }

    async fn soft_delete_application(
        &self,
        unique_name: &UniqueName,
        _: &Application,
        _: Deadline,
    ) -> Result<bool, GraphError> {
        self.0
            .write(|clouds| {
                let Some(app) = clouds.apps.get_mut(unique_name.as_str()) else {
                    return;
                };
                app.deleted = true;
                if let Some(sp) = app.service_principal.take() {
                    clouds.deleted_service_principals.push((sp.app_id, sp.id));
                }
            })
            .map_err(graph)?;
        Ok(true)
    }

    /// The fake's applications are all the factory's: what is foreign is told by tags.
    async fn owns_application(
        &self,
        application: &Application,
        _: Deadline,
    ) -> Result<bool, GraphError> {
        self.0
            .read(|clouds| {
                clouds
                    .apps
                    .values()
                    .any(|app| !app.deleted && app.application.id == application.id)
            })
            .map_err(graph)
    }

    async fn find_service_principals(
        &self,
        owner: &AppOwner,
        _: Deadline,
    ) -> Result<Vec<ServicePrincipal>, GraphError> {
        self.0
            .read(|clouds| {
                clouds
                    .apps
                    .values()
                    .filter(|app| !app.deleted && owner.owns(&app.application.tags))
                    .filter_map(|app| app.service_principal.clone())
                    .collect()
            })
            .map_err(graph)
    }

    async fn purge_service_principal(
        &self,
        _: &UniqueName,
        app_id: &str,
        known: Option<&str>,
        _: bool,
        _: Deadline,
    ) -> Result<bool, GraphError> {
        let deleted: Vec<String> = self
            .0
            .read(|clouds| {
                clouds
                    .deleted_service_principals
                    .iter()
                    .filter(|(a, i)| a == app_id || known == Some(i.as_str()))
                    .map(|(_, id)| id.clone())
                    .collect()
            })
            .map_err(graph)?;
        for id in &deleted {
            self.0
                .write(|clouds| clouds.deleted_service_principals.retain(|(_, i)| i != id))
                .map_err(graph)?;
        }
        Ok(!deleted.is_empty())
    }

    async fn purge_application(
        &self,
        unique_name: &UniqueName,
        _: &Application,
        _: bool,
        _: Deadline,
    ) -> Result<(), GraphError> {
        self.0
            .write(|clouds| {
                if clouds
                    .apps
                    .get(unique_name.as_str())
                    .is_some_and(|app| app.deleted)
                {
                    clouds.apps.remove(unique_name.as_str());
                }
            })
            .map_err(graph)
    }
}
