//! Remove: every object of one generation (see the [module docs](super)).

use std::sync::{
    OnceLock,
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
    graph::{Application, Located},
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
    /// The application, live or deleted (`None`: nothing under its name), whether it is
    /// live, and its service principal's id when one was found live.
    found: OnceLock<Option<Found>>,
    /// This removal soft-deleted the application (Graph may not list it among deleted
    /// items yet).
    just_deleted: AtomicBool,
    /// An application under the generation's name is not ours.
    foreign: AtomicBool,
}

/// The application a removal found.
struct Found {
    application: Application,
    live: bool,
    service_principal: Option<String>,
}

impl<'a> Removal<'a> {
    pub(super) fn new(generation: &'a Generation) -> Self {
        Self {
            generation,
            role: OnceLock::new(),
            found: OnceLock::new(),
            just_deleted: AtomicBool::new(false),
            foreign: AtomicBool::new(false),
        }
    }

    /// The application found, if any.
    fn found(&self) -> Option<&Found> {
        self.found.get().expect(ORDER).as_ref()
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
    /// Runs one step of `job`. When nothing is found under the generation's name, the
    /// application's steps have nothing to do and the provider's still runs: a repeated
    /// removal finishes what an earlier one left, whatever that was.
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
                let (found, service_principals) = tokio::join!(
                    self.entra.find_application(unique_name, owner, deadline),
                    self.entra.find_service_principals(owner, deadline),
                );
                let (application, live) = match self
                    .entra
                    .locate_application(unique_name, owner, found, deadline)
                    .await?
                {
                    Located::Live(app) => (app, true),
                    Located::Deleted(app) => (app, false),
                    Located::Gone => {
                        set(&job.found, None);
                        return Ok(Flow::Next);
                    }
                    Located::NotOurs => {
                        job.foreign.store(true, Ordering::Relaxed);
                        return Ok(Flow::Stop);
                    }
                };
                // Only a shortcut: without it, the purge searches deleted items.
                let service_principal = match service_principals {
                    Ok(found) => found
                        .into_iter()
                        .find(|sp| sp.app_id == application.app_id)
                        .map(|sp| sp.id),
                    Err(error) => {
                        tracing::info!(%error, "could not look the service principal up; its purge will search for it");
                        None
                    }
                };
                let found = Found {
                    application,
                    live,
                    service_principal,
                };
                set(&job.found, Some(found));
            }
            Removing::DeleteApplication => {
                let Some(found) = job.found().filter(|found| found.live) else {
                    return Ok(Flow::Next);
                };
                if !self
                    .entra
                    .soft_delete_application(unique_name, &found.application, deadline)
                    .await?
                {
                    job.foreign.store(true, Ordering::Relaxed);
                    return Ok(Flow::Stop);
                }
                job.just_deleted.store(true, Ordering::Relaxed);
            }
            Removing::RemoveAudience => {
                // The audience is named after the appId, which the application (live or
                // deleted) keeps until its purge: that waits for this step.
                let Some(found) = job.found() else {
                    return Ok(Flow::Next);
                };
                let Ok(app_id) = AppId::parse(&found.application.app_id) else {
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
            }
            Removing::PurgeServicePrincipal => {
                let Some(found) = job.found() else {
                    return Ok(Flow::Next);
                };
                let purged = self
                    .entra
                    .purge_service_principal(
                        unique_name,
                        &found.application.app_id,
                        found.service_principal.as_deref(),
                        job.just_deleted.load(Ordering::Relaxed),
                        deadline,
                    )
                    .await?;
                if !purged {
                    tracing::info!(%unique_name, "no deleted service principal to purge");
                }
            }
            Removing::PurgeApplication => {
                let Some(found) = job.found() else {
                    return Ok(Flow::Next);
                };
                self.entra
                    .purge_application(
                        unique_name,
                        &found.application,
                        job.just_deleted.load(Ordering::Relaxed),
                        deadline,
                    )
                    .await?;
                tracing::info!(%unique_name, "deleted and purged the Entra application");
            }
            Removing::DeleteProvider => {
                let cleanup = self
                    .iam
                    .delete_provider_if_unused(&generation.issuer, deadline)
                    .await?;
                if !matches!(cleanup, ProviderCleanup::Absent) {
                    tracing::info!(issuer = %generation.issuer, outcome = ?cleanup, "provider step of the removal");
                }
            }
        }
        Ok(Flow::Next)
    }
}
