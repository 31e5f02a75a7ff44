//! Remove: every object of one generation, role first (see the [module docs](super)).

use super::{
    CoreError, Generation, Lifecycle,
    ports::{Entra, Iam},
};
use crate::{
    aws::{provider::ProviderCleanup, role::RoleDeletion},
    deadline::Deadline,
    domain::{
        AppId,
        federation::{audience, provider_arn},
    },
    graph::Located,
};

/// What a removal left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// Everything of the generation is gone.
    All,
    /// Objects under its names that are not its own were left alone.
    ForeignLeft,
}

impl<I: Iam, E: Entra> Lifecycle<'_, I, E> {
    /// Deletes every object of `generation`: the role, then the application (soft
    /// delete), our audience (and the provider when unused) and the purges.
    pub async fn remove(
        &self,
        generation: &Generation,
        deadline: Deadline,
    ) -> Result<Removed, CoreError> {
        let (unique_name, owner) = (&generation.unique_name, &generation.owner);
        let (role, found) = tokio::join!(
            self.iam
                .delete_role(&generation.name.role_name, &generation.ownership, deadline),
            self.entra.find_application(unique_name, owner, deadline),
        );
        let role = role?;
        tracing::info!(role = %generation.name.role_name, outcome = ?role, "role step of the removal");
        let located = self
            .entra
            .locate_application(unique_name, owner, found, deadline)
            .await?;
        // Soft-deleted now (`just_deleted`), Graph may not list it among deleted items yet.
        let (app, just_deleted) = match located {
            Located::Live(app) => {
                if !self
                    .entra
                    .soft_delete_application(unique_name, &app, deadline)
                    .await?
                {
                    return Ok(Removed::ForeignLeft);
                }
                (app, true)
            }
            Located::Deleted(app) => (app, false),
            Located::Gone => {
                return Ok(if role == RoleDeletion::NotOurs {
                    Removed::ForeignLeft
                } else {
                    Removed::All
                });
            }
            Located::NotOurs => return Ok(Removed::ForeignLeft),
        };
        // The audience is named after the appId, which the application (live or deleted)
        // keeps until its purge: that waits for the audience's removal.
        let audience_step = async {
            let Ok(app_id) = AppId::parse(&app.app_id) else {
                return Ok::<_, CoreError>(());
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
            Ok(())
        };
        let service_principal = async {
            Ok::<_, CoreError>(
                self.entra
                    .purge_service_principal(unique_name, &app.app_id, just_deleted, deadline)
                    .await?,
            )
        };
        // Both run to their end (crate::settle).
        let (audience_step, service_principal) = tokio::join!(audience_step, service_principal);
        audience_step?;
        if !service_principal? {
            tracing::info!(%unique_name, "no deleted service principal to purge");
        }
        self.entra
            .purge_application(unique_name, &app, just_deleted, deadline)
            .await?;
        tracing::info!(%unique_name, "deleted and purged the Entra application");
        Ok(if role == RoleDeletion::NotOurs {
            Removed::ForeignLeft
        } else {
            Removed::All
        })
    }
}
