//! Converge: one generation's application, service principal, audience and role, in
//! line with what is wanted (see the [module docs](super)).

use std::{
    future::Future,
    sync::{Mutex, OnceLock},
};

use super::{
    CoreError, Generation, Lifecycle, RoleOwner, adopt,
    apply::{Flow, ORDER, set},
    plan::Converging,
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
        adoption::Status,
        federation::audience,
        record::Record,
        role::RoleSpec,
        trust::{same_policy, sealed_trust_policy, trust_policy},
    },
    graph::{
        Application, ApplicationSpec, GraphError, ServicePrincipal, TrustedClient, Upserted,
        WorkloadSpec,
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
    /// The application as this event has read it already, if it has: when it says all
    /// that is wanted and is the factory's, it is not upserted again.
    pub current: Option<&'a Application>,
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

/// What became of the role before its trust could be set.
enum EarlyRole {
    /// A new role: created sealed, or not.
    Sealed(SealedRole),
    /// An existing role: read, to be converged.
    Observed(ObservedRole),
    /// An existing role converged but for its trust, which is as read.
    Shaped {
        /// The role's ARN.
        arn: String,
        /// Its trust policy, as read.
        trust: String,
    },
}

/// One convergence: what is wanted, and what its steps learn for the steps after them.
/// A step reads only what the steps it waits for ([`Plan::converge`]) have set.
///
/// [`Plan::converge`]: super::plan::Plan::converge
pub(super) struct Convergence<'a> {
    generation: &'a Generation,
    wanted: Wanted<'a>,
    spec: WorkloadSpec,
    /// The role as wanted, with a trust that admits nobody (`None`: a role made outside
    /// CloudFormation, which the factory does not shape).
    sealed: Option<RoleSpec>,
    /// The application as upserted, its appId and audience.
    application: OnceLock<(Upserted, AppId, String)>,
    early_role: Mutex<Option<EarlyRole>>,
    service_principal: OnceLock<ServicePrincipal>,
    provider: OnceLock<Provider>,
    role_arn: OnceLock<String>,
}

impl<'a> Convergence<'a> {
    pub(super) fn new(generation: &'a Generation, wanted: Wanted<'a>) -> Self {
        let properties = wanted.properties;
        Self {
            spec: WorkloadSpec {
                application: ApplicationSpec {
                    unique_name: generation.unique_name.clone(),
                    display_name: wanted.display_name.clone(),
                    token_version: generation.name.token_version,
                    owner: generation.owner.clone(),
                    record: Record::wanted(
                        &properties.federated_credentials,
                        &wanted
                            .trusted
                            .iter()
                            .map(|t| t.service_principal_id.as_str())
                            .collect::<Vec<_>>(),
                        properties.require_app_role_assignment,
                    ),
                },
                federated_credentials: properties.federated_credentials.clone(),
                trusted_client_app_ids: properties.trusted_client_app_ids.clone(),
                require_app_role_assignment: properties.require_app_role_assignment,
            },
            sealed: match &generation.role {
                RoleOwner::Factory(ownership) => Some(RoleSpec::new(
                    properties,
                    generation.name.role_name.clone(),
                    sealed_trust_policy(),
                    ownership.clone(),
                )),
                RoleOwner::Adopted { .. } => None,
            },
            generation,
            wanted,
            application: OnceLock::new(),
            early_role: Mutex::new(None),
            service_principal: OnceLock::new(),
            provider: OnceLock::new(),
            role_arn: OnceLock::new(),
        }
    }

    fn application(&self) -> &(Upserted, AppId, String) {
        self.application.get().expect(ORDER)
    }

    fn sealed(&self) -> &RoleSpec {
        self.sealed
            .as_ref()
            .expect("only a role the factory makes is created, read or converged whole")
    }

    fn service_principal(&self) -> &ServicePrincipal {
        self.service_principal.get().expect(ORDER)
    }

    /// The principals the trust admits, and the app role is assigned to: the
    /// generation's service principal and the trusted clients'.
    fn subjects(&self) -> Vec<String> {
        std::iter::once(self.service_principal().id.clone())
            .chain(
                self.wanted
                    .trusted
                    .iter()
                    .map(|t| t.service_principal_id.clone()),
            )
            .collect()
    }

    /// The generation in place, once every step is done.
    pub(super) fn converged(self) -> Converged {
        let (upserted, app_id, audience) = self.application.into_inner().expect(ORDER);
        let role_arn = self.role_arn.into_inner().expect(ORDER);
        tracing::info!(role = %role_arn, app_id = %app_id, "the role and its Entra application are in place");
        Converged {
            role_arn,
            application: upserted.application,
            app_id,
            audience,
            service_principal: self.service_principal.into_inner().expect(ORDER),
            provider: self.provider.into_inner().expect(ORDER),
        }
    }
}

impl<I: Iam, E: Entra> Lifecycle<'_, I, E> {
    /// Runs one step of `job`.
    pub(super) async fn converge_step(
        &self,
        job: &Convergence<'_>,
        step: Converging,
        deadline: Deadline,
    ) -> Result<Flow, CoreError> {
        let generation = job.generation;
        match step {
            Converging::UpsertApplication { existing } => {
                let spec = &job.spec.application;
                // An application already as wanted is not written again, once it is known
                // to be the factory's: the upsert left out is what would have proved it.
                let unchanged = match job.wanted.current.filter(|app| spec.describes(app)) {
                    Some(app) if self.entra.owns_application(app, deadline).await? => {
                        Some(app.clone())
                    }
                    _ => None,
                };
                let upserted = match unchanged {
                    Some(application) => Upserted {
                        application,
                        created: false,
                    },
                    None => {
                        self.entra
                            .upsert_application(spec, existing, deadline)
                            .await?
                    }
                };
                let app_id = AppId::parse(&upserted.application.app_id).map_err(|_| {
                    GraphError::InvalidResponse {
                        action: "read the application's appId".to_owned(),
                        detail: "it is not a GUID".to_owned(),
                    }
                })?;
                let audience = audience(&app_id, generation.name.token_version);
                set(&job.application, (upserted, app_id, audience));
            }
            Converging::CreateSealedRole => {
                let sealed = self.iam.create_sealed(job.sealed(), deadline).await?;
                *job.early_role.lock().expect("never poisoned") = Some(EarlyRole::Sealed(sealed));
            }
            Converging::ReadRole => {
                let observed = self.iam.observe_role(&job.sealed().name, deadline).await?;
                *job.early_role.lock().expect("never poisoned") =
                    Some(EarlyRole::Observed(observed));
            }
            Converging::ShapeRole => {
                let mut early = job.early_role.lock().expect("never poisoned").take();
                if let Some(EarlyRole::Observed(Some(observed))) = &early {
                    // The trust as read is kept: it is [`Converging::OpenTrust`]'s to set.
                    let spec = RoleSpec {
                        trust_policy: observed.trust.clone(),
                        ..job.sealed().clone()
                    };
                    let trust = observed.trust.clone();
                    let arn = self
                        .iam
                        .converge_observed(&spec, Some(observed.clone()), deadline)
                        .await?;
                    early = Some(EarlyRole::Shaped { arn, trust });
                }
                *job.early_role.lock().expect("never poisoned") = early;
            }
            Converging::RegisterApplication => {
                let (upserted, _, _) = job.application();
                let (service_principal, _) = self
                    .entra
                    .register_application(upserted, &job.spec, deadline)
                    .await?;
                set(&job.service_principal, service_principal);
            }
            Converging::AddAudience => {
                let (_, _, audience) = job.application();
                let provider = self
                    .iam
                    .ensure_provider(&generation.issuer, audience, deadline)
                    .await?;
                set(&job.provider, provider);
            }
            Converging::OpenTrust => {
                set(&job.role_arn, self.open_trust(job, deadline).await?);
            }
            Converging::OpenAdoptedTrust => {
                set(&job.role_arn, self.open_adopted_trust(job, deadline).await?);
            }
            Converging::AssignAppRole => {
                let (upserted, _, _) = job.application();
                self.entra
                    .converge_app_role_assignments(
                        &upserted.application,
                        job.service_principal(),
                        &job.subjects(),
                        job.wanted.properties.require_app_role_assignment,
                        deadline,
                    )
                    .await?;
            }
        }
        Ok(Flow::Next)
    }

    /// Sets the role's trust to the audience and exactly the service principals, in the
    /// way that suits what became of the role earlier. Returns its ARN.
    async fn open_trust(
        &self,
        job: &Convergence<'_>,
        deadline: Deadline,
    ) -> Result<String, CoreError> {
        let generation = job.generation;
        let (_, _, audience) = job.application();
        let provider = job.provider.get().expect(ORDER);
        let role = RoleSpec {
            trust_policy: trust_policy(
                &provider.arn,
                &generation.issuer,
                audience,
                &job.subjects(),
            )?,
            ..job.sealed().clone()
        };
        // An attempt after the first (IAM did not see the provider) reads the role afresh.
        let write_role = || async {
            let early = job.early_role.lock().expect("never poisoned").take();
            match early {
                Some(EarlyRole::Sealed(SealedRole::Created(arn))) => {
                    self.iam.set_trust(&role, deadline).await?;
                    Ok(arn)
                }
                Some(EarlyRole::Sealed(SealedRole::Refused)) => {
                    self.iam.create_role(&role, deadline).await
                }
                Some(EarlyRole::Observed(observed)) => {
                    self.iam.converge_observed(&role, observed, deadline).await
                }
                Some(EarlyRole::Shaped { arn, trust }) => {
                    if !same_policy(&trust, &role.trust_policy) {
                        self.iam.set_trust(&role, deadline).await?;
                    }
                    Ok(arn)
                }
                Some(EarlyRole::Sealed(SealedRole::Exists)) | None => {
                    self.iam.converge_role(&role, deadline).await
                }
            }
        };
        Ok(with_provider(self.iam, &generation.issuer, audience, deadline, write_role).await?)
    }
}

impl<I: Iam, E: Entra> Lifecycle<'_, I, E> {
    /// Sets the factory's statement — the audience and exactly the service principals —
    /// in the trust of a role made outside CloudFormation. Returns its ARN.
    async fn open_adopted_trust(
        &self,
        job: &Convergence<'_>,
        deadline: Deadline,
    ) -> Result<String, CoreError> {
        let generation = job.generation;
        let (_, app_id, audience) = job.application();
        let provider = job.provider.get().expect(ORDER);
        let ours = trust_policy(&provider.arn, &generation.issuer, audience, &job.subjects())?;
        let status = Status::Federated {
            app_id: app_id.as_str(),
        };
        let write = || adopt::write_trust(self.iam, generation, Some(&ours), status, deadline);
        Ok(with_provider(self.iam, &generation.issuer, audience, deadline, write).await?)
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
