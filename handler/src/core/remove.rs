//! Remove: every object of one generation, role first (see the [module docs](super)).

use std::sync::{
    Mutex, OnceLock,
    atomic::{AtomicBool, Ordering},
};

use super::{
    CoreError, Generation, Lifecycle, RoleOwner, adopt,
    apply::{Flow, ORDER, set},
    plan::Removing,
    ports::{Entra, Iam},
};
use crate::{
    aws::{provider::ProviderCleanup, role::RoleDeletion},
    deadline::Deadline,
    domain::{
        AppId,
        federation::{audience, provider_arn},
    },
    graph::{Application, GraphError, Located},
};

/// What a removal left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// Everything of the generation is gone.
    All,
    /// Objects under its names that are not its own were left alone.
    ForeignLeft,
}

/// One removal, and what its steps learn for the steps after them. A step reads only
/// what the steps it waits for ([`Plan::remove`]) have set.
///
/// [`Plan::remove`]: super::plan::Plan::remove
pub(super) struct Removal<'a> {
    generation: &'a Generation,
    role: OnceLock<RoleDeletion>,
    /// The live application looked up, or why it could not be.
    found: Mutex<Option<Result<Option<Application>, GraphError>>>,
    /// The application, live or deleted, and whether this removal soft-deleted it
    /// (Graph may not list it among deleted items yet).
    application: OnceLock<(Application, bool)>,
    /// An application under the generation's name is not ours.
    foreign: AtomicBool,
}

impl<'a> Removal<'a> {
    pub(super) fn new(generation: &'a Generation) -> Self {
        Self {
            generation,
            role: OnceLock::new(),
            found: Mutex::new(None),
            application: OnceLock::new(),
            foreign: AtomicBool::new(false),
        }
    }

    fn application(&self) -> &(Application, bool) {
        self.application.get().expect(ORDER)
    }

    /// What the removal left, once every step is done.
    pub(super) fn removed(self) -> Removed {
        let role = self.role.into_inner().expect(ORDER);
        if role == RoleDeletion::NotOurs || self.foreign.into_inner() {
            Removed::ForeignLeft
        } else {
            Removed::All
        }
    }
}

impl<I: Iam, E: Entra> Lifecycle<'_, I, E> {
    /// Runs one step of `job`.
    pub(super) async fn remove_step(
        &self,
        job: &Removal<'_>,
        step: Removing,
        deadline: Deadline,
    ) -> Result<Flow, CoreError> {
        let generation = job.generation;
        let (unique_name, owner) = (&generation.unique_name, &generation.owner);
        match step {
            Removing::DeleteRole => {
                let RoleOwner::Factory(ownership) = &generation.role else {
                    unreachable!("a plan deletes only a role the factory made");
                };
                let role = self
                    .iam
                    .delete_role(&generation.name.role_name, ownership, deadline)
                    .await?;
                tracing::info!(role = %generation.name.role_name, outcome = ?role, "role step of the removal");
                set(&job.role, role);
            }
            Removing::ReleaseRole => {
                adopt::release(self.iam, generation, deadline).await?;
                // The factory never deletes a role it did not make.
                set(&job.role, RoleDeletion::Absent);
            }
            Removing::FindApplication => {
                // A failed lookup is no failure yet: the next step searches deleted items.
                let found = self
                    .entra
                    .find_application(unique_name, owner, deadline)
                    .await;
                *job.found.lock().expect("never poisoned") = Some(found);
            }
            Removing::DeleteApplication => {
                let found = job
                    .found
                    .lock()
                    .expect("never poisoned")
                    .take()
                    .expect(ORDER);
                let located = self
                    .entra
                    .locate_application(unique_name, owner, found, deadline)
                    .await?;
                let application = match located {
                    Located::Live(app) => {
                        if !self
                            .entra
                            .soft_delete_application(unique_name, &app, deadline)
                            .await?
                        {
                            job.foreign.store(true, Ordering::Relaxed);
                            return Ok(Flow::Stop);
                        }
                        (app, true)
                    }
                    Located::Deleted(app) => (app, false),
                    Located::Gone => return Ok(Flow::Stop),
                    Located::NotOurs => {
                        job.foreign.store(true, Ordering::Relaxed);
                        return Ok(Flow::Stop);
                    }
                };
                set(&job.application, application);
            }
            Removing::RemoveAudience => {
                // The audience is named after the appId, which the application (live or
                // deleted) keeps until its purge: that waits for this step.
                let (app, _) = job.application();
                let Ok(app_id) = AppId::parse(&app.app_id) else {
                    return Ok(Flow::Next);
                };
                let provider = provider_arn(
                    self.iam.partition(),
                    self.iam.account_id(),
                    &generation.issuer,
                );
                self.iam
                    .remove_audience(
                        &provider,
                        &audience(&app_id, generation.name.token_version),
                        deadline,
                    )
                    .await?;
                let cleanup = self
                    .iam
                    .delete_provider_if_unused(&generation.issuer, deadline)
                    .await?;
                if !matches!(cleanup, ProviderCleanup::Absent) {
                    tracing::info!(provider = %provider, outcome = ?cleanup, "provider step of the removal");
                }
            }
            Removing::PurgeServicePrincipal => {
                let (app, just_deleted) = job.application();
                let purged = self
                    .entra
                    .purge_service_principal(unique_name, &app.app_id, *just_deleted, deadline)
                    .await?;
                if !purged {
                    tracing::info!(%unique_name, "no deleted service principal to purge");
                }
            }
            Removing::PurgeApplication => {
                let (app, just_deleted) = job.application();
                self.entra
                    .purge_application(unique_name, app, *just_deleted, deadline)
                    .await?;
                tracing::info!(%unique_name, "deleted and purged the Entra application");
            }
        }
        Ok(Flow::Next)
    }
}
