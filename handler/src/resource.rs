//! `Custom::EntraFederatedRole`: the lifecycle (DESIGN §3, §5) over the AWS side
//! ([`crate::aws`]) and the Entra side ([`crate::graph`]).
//!
//! **Create** admits the request before any write — properties parsed, the factory's
//! guardrails checked, the trust policy's size checked against IAM's quota, the target
//! account reached (through the member role in hub mode) and the caller's stack confirmed
//! there from CloudFormation's own events — while the factory signs in to Entra and
//! resolves the trusted clients (which the guardrails may limit to the factory's own
//! tenant). It then upserts the generation's Entra application and, at the same time,
//! creates the role sealed (a trust that admits nobody) with its policies; registers, at
//! the same time, the app's identifier URI, service principal and federated credentials
//! and puts the app's audience on the tenant's OIDC provider; then sets the role's trust
//! to that audience and exactly those service principals, and makes the app-role
//! assignments. It answers with the role ARN as physical id and every attribute in `Data`.
//!
//! **Update** in place runs the same steps as a converge; a change of `RoleName`,
//! `RolePath` or `TokenVersion` builds a new generation and a new physical id instead,
//! leaving the old one to CloudFormation's Delete. **Delete** removes the role first (so
//! nobody can assume it), then soft-deletes the Entra application; then, at once, removes
//! our audience (and the provider only when ours, empty and untrusted) and purges the
//! service principal; the application is purged last, since its deleted item is where a
//! redelivered Delete reads the appId that names the audience. It finds its generation
//! from the properties even when they no longer validate, and touches nothing that lacks
//! this generation's markers.
//!
//! Every step is idempotent, so a redelivered or retried event — also after a crash
//! between any two writes — converges on the same end state.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use tokio::sync::OnceCell;

use crate::{
    aws::{
        Account, AccountError, Aws, AwsError,
        caller::{CallerCheck, CallerError},
        provider::{Provider, ProviderCleanup, ProviderError},
        role::{ObservedRole, RoleDeletion, RoleError, SealedRole},
    },
    cfn::{
        CreateRequest, CustomResource, DeleteRequest, Failure, Invocation, Success, UpdateRequest,
        failed_create_id, is_failed_create_id,
    },
    config::Config,
    deadline::Deadline,
    domain::{
        DisplayName, Properties, PropertyErrors, ReplacementKey, caller,
        federation::{audience, provider_arn, token_scope},
        guardrails::{GuardrailViolations, TrustedClientOwner},
        ownership::{InvalidStackId, Ownership, StackArn, generation_key},
        plan::{GenerationName, ImpossibleReplacement, UpdatePlan, plan_update, shared_role},
        role::RoleSpec,
        trust::{TrustPolicyError, sealed_trust_policy, trust_policy},
    },
    graph::{
        AppOwner, Application, ApplicationSpec, Deletion, GraphClient, GraphError,
        ServicePrincipal, TrustedClient, UniqueName, WorkloadSpec,
    },
    signin::{self, CredentialError},
};

/// The resource, configured.
#[derive(Debug)]
pub struct EntraFederatedRole {
    config: Config,
    sdk: SdkConfig,
    aws: Aws,
    /// Built on first use (reading the credentials secret, if any) and kept while warm.
    graph: OnceCell<GraphClient>,
}

impl EntraFederatedRole {
    /// The resource for a validated configuration and the factory's AWS configuration.
    pub fn new(config: Config, sdk: SdkConfig) -> Self {
        let aws = Aws::new(sdk.clone(), config.member_role_name.clone());
        Self {
            config,
            sdk,
            aws,
            graph: OnceCell::new(),
        }
    }
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The properties break the contract.
    #[error("invalid properties: {0}")]
    InvalidProperties(#[from] PropertyErrors),
    /// The request's `StackId` is not a stack ARN.
    #[error(transparent)]
    StackId(#[from] InvalidStackId),
    /// A guardrail refused the request.
    #[error(transparent)]
    Guardrails(#[from] GuardrailViolations),
    /// The Update needs a new role under the name the old one holds.
    #[error(transparent)]
    ImpossibleReplacement(#[from] ImpossibleReplacement),
    /// The trust policy cannot be built.
    #[error(transparent)]
    Trust(#[from] TrustPolicyError),
    /// The target account cannot be reached.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The caller's stack could not be confirmed. The `Reason` says no more than that:
    /// a forger may read it (the details are logged).
    #[error("the calling stack could not be confirmed, so nothing was changed")]
    Caller(#[from] CallerError),

    /// The factory's Entra credential could not be loaded.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// Microsoft Graph failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The OIDC provider failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The role failed.
    #[error(transparent)]
    Role(#[from] RoleError),
    /// Another AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A rollback converged the resource, but the failed replacement's objects remain.
    #[error(
        "the generation the failed update made ({generation}) could not be removed, so the \
         rollback is not finished; continue the rollback to retry: {source}"
    )]
    Abandoned {
        /// The failed replacement's generation key.
        generation: String,
        /// Why.
        source: Box<ResourceError>,
    },
}

/// The service-principal object id length: every `sub` the trust policy lists is one.
const OBJECT_ID_PLACEHOLDER: &str = "00000000-0000-0000-0000-000000000000";

/// One resource generation: where it lives and what it is called everywhere.
///
/// Its physical id is its role's ARN ([`Generation::role_arn`]), or, after a failed
/// Create, an id that names no role.
struct Generation {
    stack: StackArn,
    account: Account,
    ownership: Ownership,
    role_name: crate::domain::RoleName,
    name: GenerationName,
    unique_name: UniqueName,
    owner: AppOwner,
    issuer: String,
    token_version: crate::domain::TokenVersion,
}

impl Generation {
    /// The generation `name` of the resource `logical_id` in `stack`, whose objects live
    /// in `account`.
    fn new(
        config: &Config,
        stack: StackArn,
        logical_id: &str,
        name: GenerationName,
        account: Account,
    ) -> Self {
        let unique_name =
            UniqueName::parse(&name.unique_name()).expect("hex digits make a valid uniqueName");
        let owner = AppOwner {
            stack_id: stack.arn.clone(),
            logical_id: logical_id.to_owned(),
            account: stack.account.clone(),
            generation: name.key.clone(),
        };
        Self {
            issuer: config.cloud.issuer(&config.tenant_id, name.token_version),
            token_version: name.token_version,
            ownership: Ownership {
                stack_id: stack.arn.clone(),
                logical_id: logical_id.to_owned(),
                generation: name.key.clone(),
            },
            role_name: name.role_name.clone(),
            stack,
            account,
            unique_name,
            owner,
            name,
        }
    }

    /// Another generation of the same resource, in the same account.
    fn sibling(&self, config: &Config, name: GenerationName) -> Self {
        let logical_id = self.ownership.logical_id.clone();
        Self::new(
            config,
            self.stack.clone(),
            &logical_id,
            name,
            self.account.clone(),
        )
    }

    fn role_arn(&self) -> String {
        self.name.role_arn(&self.stack)
    }

    /// Refuses a `physical_id` that is the ARN of another role than this generation's: a
    /// Delete must never remove one generation under another's id (the cleanup phase's
    /// Delete of an old generation names the old role and sends the old properties).
    fn check_named_by(&self, physical_id: &str) -> Result<(), OtherResource> {
        let expected = self.role_arn();
        if is_role_arn(physical_id) && physical_id != expected {
            return Err(OtherResource {
                physical_id: physical_id.to_owned(),
                expected,
            });
        }
        Ok(())
    }
}

/// A Delete whose physical id is a role other than the one its properties name.
#[derive(Debug, thiserror::Error)]
#[error(
    "the PhysicalResourceId {physical_id} is not the role these properties name \
     ({expected}), so nothing was deleted"
)]
struct OtherResource {
    physical_id: String,
    expected: String,
}

/// Whether `id` is an IAM role ARN (`arn:<partition>:iam::<account>:role/…`).
fn is_role_arn(id: &str) -> bool {
    let fields: Vec<&str> = id.splitn(6, ':').collect();
    matches!(fields.as_slice(), ["arn", _, "iam", "", _, resource] if resource.starts_with("role/"))
}

impl EntraFederatedRole {
    async fn graph(&self) -> Result<&GraphClient, ResourceError> {
        self.graph
            .get_or_try_init(|| async {
                let credential = signin::credential(&self.config, &self.sdk).await?;
                Ok::<_, ResourceError>(GraphClient::new(&self.config, credential)?)
            })
            .await
    }

    /// The generation `key` of the resource `logical_id` in `stack_id`, in its account.
    async fn generation(
        &self,
        stack_id: &str,
        logical_id: &str,
        key: &ReplacementKey,
        invocation: &Invocation,
        session: &str,
    ) -> Result<Generation, ResourceError> {
        let stack = StackArn::parse(stack_id)?;
        let account = self
            .aws
            .account(
                &stack,
                &invocation.function_arn,
                session,
                invocation.deadline,
            )
            .await?;
        let name = GenerationName::new(&stack, logical_id, key);
        Ok(Generation::new(
            &self.config,
            stack,
            logical_id,
            name,
            account,
        ))
    }

    /// Everything that can refuse a Create or Update before any write, with the Entra
    /// sign-in and the trusted clients' lookup done meanwhile. Returns what the request
    /// may then write.
    async fn admit(
        &self,
        request: Admission<'_>,
        invocation: &Invocation,
    ) -> Result<Admitted<'_>, Failure> {
        let properties = Properties::parse(request.properties).map_err(ResourceError::from)?;
        let stack = StackArn::parse(request.stack_id).map_err(ResourceError::from)?;
        self.config
            .guardrails
            .check(&properties, &stack)
            .map_err(ResourceError::from)?;
        self.check_trust_size(&properties, &stack)
            .map_err(ResourceError::from)?;
        let deadline = invocation.deadline;
        let session = session(request.request_id);
        let confirm = async {
            let generation = self
                .generation(
                    request.stack_id,
                    request.logical_id,
                    &properties.replacement_key(),
                    invocation,
                    &session,
                )
                .await?;
            self.confirm_caller(&generation, request.caller, request.properties, deadline)
                .await?;
            Ok::<_, ResourceError>(generation)
        };
        let sign_in = async {
            let graph = self.graph().await?;
            graph
                .access_token(deadline)
                .await
                .map_err(GraphError::from)?;
            let trusted = graph
                .resolve_trusted_clients(&properties.trusted_client_app_ids, deadline)
                .await?;
            let owners: Vec<TrustedClientOwner<'_>> = trusted
                .iter()
                .map(|client| TrustedClientOwner {
                    app_id: &client.app_id,
                    owner_tenant_id: client.owner_tenant_id.as_deref(),
                })
                .collect();
            self.config
                .guardrails
                .check_trusted_clients(&owners, &self.config.tenant_id)?;
            Ok::<_, ResourceError>((graph, trusted))
        };
        // A caller that is not confirmed hears nothing else, not even whether the trusted
        // clients it named exist: the caller check decides first, and its failure drops the
        // sign-in (reads only) wherever it is.
        let (generation, (graph, trusted)) = {
            tokio::pin!(confirm, sign_in);
            let mut signed_in = None;
            let generation = loop {
                tokio::select! {
                    generation = &mut confirm => break generation?,
                    done = &mut sign_in, if signed_in.is_none() => signed_in = Some(done),
                }
            };
            let signed_in = match signed_in {
                Some(done) => done?,
                None => sign_in.await?,
            };
            (generation, signed_in)
        };
        Ok(Admitted {
            properties,
            generation,
            graph,
            trusted,
        })
    }

    /// Confirms, unless `VERIFY_CALLER_STACK` is off, that CloudFormation is sending
    /// `request` to the generation's resource now (DESIGN §2).
    async fn confirm_caller(
        &self,
        generation: &Generation,
        request: caller::Request<'_>,
        properties: &serde_json::Value,
        deadline: Deadline,
    ) -> Result<(), ResourceError> {
        if !self.config.verify_caller_stack {
            return Ok(());
        }
        let check = CallerCheck {
            stack: &generation.stack,
            logical_id: &generation.ownership.logical_id,
            request,
            window: caller::window(properties.get("ServiceTimeout")),
        };
        Ok(generation.account.confirm_caller(check, deadline).await?)
    }

    /// The trust policy is as long as it will be once the ids are known (GUIDs have one
    /// length), so IAM's quota is checked before anything is created.
    fn check_trust_size(
        &self,
        properties: &Properties,
        stack: &StackArn,
    ) -> Result<(), TrustPolicyError> {
        let issuer = self
            .config
            .cloud
            .issuer(&self.config.tenant_id, properties.token_version);
        let provider = provider_arn(&stack.partition, &stack.account, &issuer);
        let audience = format!("api://{OBJECT_ID_PLACEHOLDER}");
        let subjects: Vec<String> = (0..=properties.trusted_client_app_ids.len())
            .map(|i| format!("{i:08}{}", &OBJECT_ID_PLACEHOLDER[8..]))
            .collect();
        trust_policy(&provider, &issuer, &audience, &subjects).map(drop)
    }

    /// Creates or converges every object of `generation` to `properties`.
    ///
    /// A new role (`fresh`) is created sealed while the Entra side is registered, its
    /// policies attached while the service principal is made, so that only setting its
    /// trust waits for the service principal's id: the Create then takes the caller
    /// check, the application, the service principal and the trust in sequence. An
    /// existing role is read meanwhile, so its converge writes need not wait for a read.
    async fn apply(
        &self,
        admitted: Admitted<'_>,
        deadline: Deadline,
        fresh: bool,
    ) -> Result<Success, ResourceError> {
        let Admitted {
            properties,
            generation,
            graph,
            trusted,
        } = admitted;
        let (properties, generation) = (&properties, &generation);
        let account = &generation.account;
        let sealed = RoleSpec::new(
            properties,
            generation.role_name.clone(),
            sealed_trust_policy(),
            generation.ownership.clone(),
        );
        // A new role is created sealed, an existing one read, while the Entra side is
        // registered.
        let early_role = async {
            Ok::<_, ResourceError>(if fresh {
                EarlyRole::Sealed(account.create_sealed(&sealed, deadline).await?)
            } else {
                EarlyRole::Observed(account.observe_role(&sealed.name, deadline).await?)
            })
        };
        // Both run to their end (crate::settle): a FAILED answer waits for the role's
        // CreateRole, so the Delete that follows finds the role.
        let (registered, early_role) = tokio::join!(
            self.register(graph, properties, generation, trusted, fresh, deadline),
            early_role
        );
        let (registered, early_role) = (registered?, early_role?);
        let Registered {
            application: app,
            app_id,
            audience,
            service_principal,
            trusted,
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
                    account.unseal(&role, deadline).await?;
                    Ok(arn)
                }
                Some(EarlyRole::Sealed(SealedRole::Refused)) => {
                    account.create_role(&role, deadline).await
                }
                Some(EarlyRole::Observed(observed)) => {
                    account.converge_observed(&role, observed, deadline).await
                }
                Some(EarlyRole::Sealed(SealedRole::Exists)) | None => {
                    account.converge_role(&role, deadline).await
                }
            }
        };
        let role_side = async {
            Ok::<_, ResourceError>(
                account
                    .with_provider(&generation.issuer, &audience, deadline, write_role)
                    .await?,
            )
        };
        let assignments = async {
            graph
                .converge_app_role_assignments(
                    &app,
                    &service_principal,
                    &subjects,
                    properties.require_app_role_assignment,
                    deadline,
                )
                .await?;
            Ok::<_, ResourceError>(())
        };
        let (role_arn, assignments) = tokio::join!(role_side, assignments);
        let (role_arn, ()) = (role_arn?, assignments?);
        tracing::info!(role = %role_arn, app_id = %app_id, "the role and its Entra application are in place");

        let data = BTreeMap::from([
            ("RoleArn".to_owned(), role_arn.clone()),
            ("RoleName".to_owned(), generation.role_name.to_string()),
            ("ApplicationId".to_owned(), app_id.to_string()),
            ("ApplicationObjectId".to_owned(), app.id.clone()),
            (
                "ServicePrincipalId".to_owned(),
                service_principal.id.clone(),
            ),
            ("TenantId".to_owned(), self.config.tenant_id.clone()),
            ("Issuer".to_owned(), generation.issuer.clone()),
            ("OidcProviderArn".to_owned(), provider.arn.clone()),
            ("Audience".to_owned(), audience),
            ("TokenScope".to_owned(), token_scope(&app_id)),
        ]);
        Ok(Success {
            physical_resource_id: role_arn,
            data,
            no_echo: false,
        })
    }

    /// The Entra side of `generation` and its audience on the OIDC provider: the
    /// application upserted (read at the same time unless the generation is `fresh`),
    /// then at once its identifier URI, service principal and federated credentials and
    /// the audience added.
    async fn register(
        &self,
        graph: &GraphClient,
        properties: &Properties,
        generation: &Generation,
        trusted: Vec<TrustedClient>,
        fresh: bool,
        deadline: Deadline,
    ) -> Result<Registered, ResourceError> {
        let display_name = match &properties.application_display_name {
            Some(name) => name.clone(),
            None => derived_display_name(&generation.stack, &generation.ownership.logical_id),
        };
        let spec = WorkloadSpec {
            application: ApplicationSpec {
                unique_name: generation.unique_name.clone(),
                display_name,
                token_version: generation.token_version,
                owner: generation.owner.clone(),
            },
            federated_credentials: properties.federated_credentials.clone(),
            trusted_client_app_ids: properties.trusted_client_app_ids.clone(),
            require_app_role_assignment: properties.require_app_role_assignment,
        };
        let upserted = if fresh {
            graph
                .upsert_application(&spec.application, deadline)
                .await?
        } else {
            graph
                .upsert_existing_application(&spec.application, deadline)
                .await?
        };
        let app_id = crate::domain::AppId::parse(&upserted.application.app_id).map_err(|_| {
            GraphError::InvalidResponse {
                action: "read the application's appId".to_owned(),
                detail: "it is not a GUID".to_owned(),
            }
        })?;
        let audience = audience(&app_id, generation.token_version);
        // Both sides run to their end (crate::settle).
        let (entra, provider) = tokio::join!(
            graph.register_application(&upserted, &spec, deadline),
            generation
                .account
                .ensure_provider(&generation.issuer, &audience, deadline),
        );
        let (service_principal, _) = entra?;
        let provider = provider?;
        Ok(Registered {
            application: upserted.application,
            app_id,
            audience,
            service_principal,
            trusted,
            provider,
        })
    }

    /// Deletes every object of `generation`: the role, then the application (soft
    /// delete), our audience (and the provider when unused) and the purges.
    async fn remove(
        &self,
        generation: &Generation,
        deadline: Deadline,
    ) -> Result<(), ResourceError> {
        let graph = self.graph().await?;
        let account = &generation.account;
        let (role, found) = tokio::join!(
            account.delete_role(&generation.role_name, &generation.ownership, deadline),
            graph.find_application(&generation.unique_name, &generation.owner, deadline),
        );
        let role = role?;
        tracing::info!(role = %generation.role_name, outcome = ?role, "role step of delete");
        let located = graph
            .locate_application(&generation.unique_name, &generation.owner, found, deadline)
            .await?;
        // The audience is named after the appId, which the application (live or deleted)
        // keeps until its purge: the Graph side waits for this step before purging it.
        let app_id = located
            .application()
            .and_then(|app| crate::domain::AppId::parse(&app.app_id).ok());
        let audience_step = async {
            let Some(app_id) = app_id else {
                return Ok::<_, ResourceError>(());
            };
            let provider = provider_arn(account.partition(), account.id(), &generation.issuer);
            account
                .remove_audience(
                    &provider,
                    &audience(&app_id, generation.token_version),
                    deadline,
                )
                .await?;
            let cleanup = account
                .delete_provider_if_unused(&generation.issuer, deadline)
                .await?;
            if !matches!(cleanup, ProviderCleanup::Absent) {
                tracing::info!(provider = %provider, outcome = ?cleanup, "provider step of delete");
            }
            Ok(())
        };
        let deletion = graph
            .delete_located_application(&generation.unique_name, located, audience_step, deadline)
            .await?;
        if matches!(role, RoleDeletion::NotOurs) || matches!(deletion, Deletion::NotOurs) {
            tracing::warn!(
                "objects under this generation's names that are not ours were left alone"
            );
        }
        Ok(())
    }
}

/// What became of the role while the Entra side was registered.
enum EarlyRole {
    /// A new role: created sealed, or not.
    Sealed(SealedRole),
    /// An existing role (an in-place Update): read, to be converged.
    Observed(ObservedRole),
}

/// The Entra side of a generation and its audience on the provider, in place.
struct Registered {
    application: Application,
    app_id: crate::domain::AppId,
    audience: String,
    service_principal: ServicePrincipal,
    trusted: Vec<TrustedClient>,
    provider: Provider,
}

/// What `admit` needs of a Create or Update.
struct Admission<'a> {
    properties: &'a serde_json::Value,
    stack_id: &'a str,
    logical_id: &'a str,
    caller: caller::Request<'a>,
    request_id: &'a str,
}

/// A Create or Update that may write: its properties, generation, the signed-in Graph
/// client and the trusted clients, resolved.
struct Admitted<'a> {
    properties: Properties,
    generation: Generation,
    graph: &'a GraphClient,
    trusted: Vec<TrustedClient>,
}

/// `<stack name>-<logical id>`, within Entra's display-name limit.
fn derived_display_name(stack: &StackArn, logical_id: &str) -> DisplayName {
    let name: String = format!("{}-{logical_id}", stack.name)
        .chars()
        .take(256)
        .collect();
    DisplayName::parse(&name).expect("a stack name and a logical id make a valid display name")
}

/// The session name for the member role: the CloudFormation request it serves.
fn session(request_id: &str) -> String {
    format!("efr-{request_id}")
}

impl CustomResource for EntraFederatedRole {
    async fn create(
        &self,
        request: &CreateRequest,
        invocation: &Invocation,
    ) -> Result<Success, Failure> {
        let admitted = self
            .admit(
                Admission {
                    properties: &request.resource_properties,
                    stack_id: &request.stack_id,
                    logical_id: &request.logical_resource_id,
                    caller: caller::Request::Create,
                    request_id: &request.request_id,
                },
                invocation,
            )
            .await?;
        // From here on writes happen: a failure reports the generation, so the Delete that
        // follows finds the partial work even if the properties stop parsing.
        let failed_id = failed_create_id(&admitted.generation.ownership.generation);
        self.apply(admitted, invocation.deadline, true)
            .await
            .map_err(|error| Failure::from(error).with_physical_id(failed_id))
    }

    async fn update(
        &self,
        request: &UpdateRequest,
        invocation: &Invocation,
    ) -> Result<Success, Failure> {
        let admitted = self
            .admit(
                Admission {
                    properties: &request.resource_properties,
                    stack_id: &request.stack_id,
                    logical_id: &request.logical_resource_id,
                    caller: caller::Request::Update {
                        physical_id: &request.physical_resource_id,
                    },
                    request_id: &request.request_id,
                },
                invocation,
            )
            .await?;
        let old_key = Properties::recover_replacement_key(&request.old_resource_properties);
        let new_key = admitted.properties.replacement_key();
        let generation = &admitted.generation;
        let (stack, logical_id) = (&generation.stack, generation.ownership.logical_id.as_str());
        let deadline = invocation.deadline;
        let holder = match shared_role(stack, logical_id, old_key.as_ref(), &new_key) {
            Some(role) => generation
                .account
                .role_generation(&role, deadline)
                .await
                .map_err(ResourceError::from)?,
            None => None,
        };
        let plan = plan_update(
            stack,
            logical_id,
            old_key.as_ref(),
            &new_key,
            &request.physical_resource_id,
            holder.as_deref(),
        )
        .map_err(ResourceError::from)?;
        tracing::info!(%plan, "planned the update");
        let mut success = match plan {
            UpdatePlan::InPlace => self.apply(admitted, deadline, false).await?,
            UpdatePlan::Replace => {
                let success = self.apply(admitted, deadline, true).await?;
                tracing::info!(new = %success.physical_resource_id, "replaced: the old generation is left to CloudFormation's Delete");
                return Ok(success);
            }
            UpdatePlan::RollBack { abandoned } => {
                // CloudFormation never deletes a generation it got no physical id for.
                let abandoned = generation.sibling(&self.config, abandoned);
                let (converged, removed) = tokio::join!(
                    self.apply(admitted, deadline, false),
                    self.remove(&abandoned, deadline)
                );
                let converged = converged?;
                removed.map_err(|source| ResourceError::Abandoned {
                    generation: abandoned.ownership.generation.clone(),
                    source: Box::new(source),
                })?;
                tracing::info!(generation = %abandoned.ownership.generation, "removed the failed replacement");
                converged
            }
        };
        // The same generation keeps its physical id, whatever it was reported as.
        success.physical_resource_id = request.physical_resource_id.clone();
        Ok(success)
    }

    async fn delete(
        &self,
        request: &DeleteRequest,
        invocation: &Invocation,
    ) -> Result<Success, Failure> {
        let done = || Success::new(request.physical_resource_id.clone());
        let Some(key) = Properties::recover_replacement_key(&request.resource_properties) else {
            // Without RoleName, RolePath and TokenVersion nothing of ours can be named.
            tracing::warn!(
                "properties too broken to name this resource's objects; nothing deleted"
            );
            return Ok(done());
        };
        let generation_id = generation_key(&request.stack_id, &request.logical_resource_id, &key);
        if is_failed_create_id(&request.physical_resource_id)
            && request.physical_resource_id != failed_create_id(&generation_id)
        {
            tracing::info!("delete of a create that failed before any write: nothing was made");
            return Ok(done());
        }
        let generation = self
            .generation(
                &request.stack_id,
                &request.logical_resource_id,
                &key,
                invocation,
                &session(&request.request_id),
            )
            .await
            .map_err(Failure::from)?;
        generation.check_named_by(&request.physical_resource_id)?;
        self.confirm_caller(
            &generation,
            caller::Request::Delete {
                physical_id: &request.physical_resource_id,
            },
            &request.resource_properties,
            invocation.deadline,
        )
        .await?;
        self.remove(&generation, invocation.deadline).await?;
        Ok(done())
    }
}
