//! Converge: one generation's application, service principal, audience and role, in
//! line with what is wanted (see the [module docs](super)).

use std::future::Future;

use super::{
    CoreError, Generation, Lifecycle,
    ports::{Entra, Iam},
};
use crate::{
    aws::{
        provider::Provider,
        role::{ObservedRole, RoleError, SealedRole},
    },
    deadline::Deadline,
    domain::{
        AppId, DisplayName, Properties,
        federation::audience,
        role::RoleSpec,
        trust::{sealed_trust_policy, trust_policy},
    },
    graph::{
        Application, ApplicationSpec, GraphError, ServicePrincipal, TrustedClient, WorkloadSpec,
    },
    retry::{Backoff, retry},
};

/// What a generation should be.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// The resource's properties.
    pub properties: &'a Properties,
    /// The trusted clients, resolved to their service principals.
    pub trusted: &'a [TrustedClient],
    /// The application's display name.
    pub display_name: &'a DisplayName,
}

/// A generation in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converged {
    /// The role's ARN.
    pub role_arn: String,
    /// The application.
    pub application: Application,
    /// Its appId.
    pub app_id: AppId,
    /// The audience its tokens carry, on the provider.
    pub audience: String,
    /// Its service principal.
    pub service_principal: ServicePrincipal,
    /// The OIDC provider.
    pub provider: Provider,
}

/// What became of the role while the Entra side was registered.
enum EarlyRole {
    /// A new role: created sealed, or not.
    Sealed(SealedRole),
    /// An existing role: read, to be converged.
    Observed(ObservedRole),
}

/// The Entra side of a generation and its audience on the provider, in place.
struct Registered {
    application: Application,
    app_id: AppId,
    audience: String,
    service_principal: ServicePrincipal,
    provider: Provider,
}

impl<I: Iam, E: Entra> Lifecycle<'_, I, E> {
    /// Creates or converges every object of `generation` to `wanted`.
    ///
    /// A `fresh` generation (a Create, a replacement) gets its role created sealed while
    /// the Entra side is registered, its policies attached while the service principal
    /// is made, so that only setting its trust waits for the service principal's id. An
    /// existing generation's role is read meanwhile instead, so its converge writes need
    /// not wait for a read.
    pub async fn converge(
        &self,
        generation: &Generation,
        wanted: Wanted<'_>,
        fresh: bool,
        deadline: Deadline,
    ) -> Result<Converged, CoreError> {
        let Wanted {
            properties,
            trusted,
            ..
        } = wanted;
        let sealed = RoleSpec::new(
            properties,
            generation.name.role_name.clone(),
            sealed_trust_policy(),
            generation.ownership.clone(),
        );
        let early_role = async {
            Ok::<_, CoreError>(if fresh {
                EarlyRole::Sealed(self.iam.create_sealed(&sealed, deadline).await?)
            } else {
                EarlyRole::Observed(self.iam.observe_role(&sealed.name, deadline).await?)
            })
        };
        // Both run to their end (crate::settle): a failure waits for the role's
        // CreateRole, so the removal that follows finds the role.
        let (registered, early_role) = tokio::join!(
            self.register(generation, wanted, fresh, deadline),
            early_role
        );
        let (registered, early_role) = (registered?, early_role?);
        let Registered {
            application,
            app_id,
            audience,
            service_principal,
            provider,
        } = registered;

        let subjects: Vec<String> = std::iter::once(service_principal.id.clone())
            .chain(trusted.iter().map(|t| t.service_principal_id.clone()))
            .collect();
        let role = RoleSpec {
            trust_policy: trust_policy(&provider.arn, &generation.issuer, &audience, &subjects)?,
            ..sealed
        };
        // An attempt after the first (IAM did not see the provider) reads the role afresh.
        let early_role = std::sync::Mutex::new(Some(early_role));
        let write_role = || async {
            let early = early_role.lock().expect("never poisoned").take();
            match early {
                Some(EarlyRole::Sealed(SealedRole::Created(arn))) => {
                    self.iam.unseal(&role, deadline).await?;
                    Ok(arn)
                }
                Some(EarlyRole::Sealed(SealedRole::Refused)) => {
                    self.iam.create_role(&role, deadline).await
                }
                Some(EarlyRole::Observed(observed)) => {
                    self.iam.converge_observed(&role, observed, deadline).await
                }
                Some(EarlyRole::Sealed(SealedRole::Exists)) | None => {
                    self.iam.converge_role(&role, deadline).await
                }
            }
        };
        let role_side = async {
            Ok::<_, CoreError>(
                with_provider(
                    self.iam,
                    &generation.issuer,
                    &audience,
                    deadline,
                    write_role,
                )
                .await?,
            )
        };
        let assignments = async {
            self.entra
                .converge_app_role_assignments(
                    &application,
                    &service_principal,
                    &subjects,
                    properties.require_app_role_assignment,
                    deadline,
                )
                .await?;
            Ok::<_, CoreError>(())
        };
        let (role_arn, assignments) = tokio::join!(role_side, assignments);
        let (role_arn, ()) = (role_arn?, assignments?);
        tracing::info!(role = %role_arn, app_id = %app_id, "the role and its Entra application are in place");
        Ok(Converged {
            role_arn,
            application,
            app_id,
            audience,
            service_principal,
            provider,
        })
    }

    /// The Entra side of `generation` and its audience on the OIDC provider: the
    /// application upserted (read at the same time unless the generation is `fresh`),
    /// then at once its identifier URI, service principal and federated credentials and
    /// the audience added.
    async fn register(
        &self,
        generation: &Generation,
        wanted: Wanted<'_>,
        fresh: bool,
        deadline: Deadline,
    ) -> Result<Registered, CoreError> {
        let properties = wanted.properties;
        let spec = WorkloadSpec {
            application: ApplicationSpec {
                unique_name: generation.unique_name.clone(),
                display_name: wanted.display_name.clone(),
                token_version: generation.name.token_version,
                owner: generation.owner.clone(),
            },
            federated_credentials: properties.federated_credentials.clone(),
            trusted_client_app_ids: properties.trusted_client_app_ids.clone(),
            require_app_role_assignment: properties.require_app_role_assignment,
        };
        let upserted = self
            .entra
            .upsert_application(&spec.application, !fresh, deadline)
            .await?;
        let app_id = AppId::parse(&upserted.application.app_id).map_err(|_| {
            GraphError::InvalidResponse {
                action: "read the application's appId".to_owned(),
                detail: "it is not a GUID".to_owned(),
            }
        })?;
        let audience = audience(&app_id, generation.name.token_version);
        // Both sides run to their end (crate::settle).
        let (entra, provider) = tokio::join!(
            self.entra.register_application(&upserted, &spec, deadline),
            self.iam
                .ensure_provider(&generation.issuer, &audience, deadline),
        );
        let (service_principal, _) = entra?;
        let provider = provider?;
        Ok(Registered {
            application: upserted.application,
            app_id,
            audience,
            service_principal,
            provider,
        })
    }
}

/// Runs `write` — a role write whose trust names the provider for `issuer` — until IAM
/// accepts the trust. IAM calls its principal invalid while it does not see that
/// provider: just created and not yet visible, or deleted since `audience` was added to
/// it (a concurrent removal in this account found it unused). Before each new attempt
/// the provider is ensured again with `audience`: a no-op in the first case, and in the
/// second it puts back the provider and the audience the trust relies on.
pub async fn with_provider<I: Iam, T, F, Fut>(
    iam: &I,
    issuer: &str,
    audience: &str,
    deadline: Deadline,
    write: F,
) -> Result<T, RoleError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, RoleError>>,
{
    retry(
        deadline,
        Backoff::STANDARD,
        RoleError::is_invalid_principal,
        || async {
            let error = match write().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if error.is_invalid_principal() {
                tracing::info!(%issuer, "IAM does not see the OIDC provider yet; ensuring it and its audience before the next attempt");
                iam.ensure_provider(issuer, audience, deadline).await?;
            }
            Err(error)
        },
    )
    .await
}
