//! `Custom::EntraFederatedRole` (DESIGN §3, §5): CloudFormation's events translated into
//! the lifecycle core's terms ([`crate::core`]).
//!
//! **Create** and **Update** admit the request before any write — properties parsed, the
//! factory's guardrails checked, the trust policy's size checked against IAM's quota,
//! the target account reached (through the member role in hub mode) and the caller's
//! stack confirmed there from CloudFormation's own events — while the factory signs in
//! to Entra and resolves the trusted clients (which the guardrails may limit to the
//! factory's own tenant). An Update is then planned from the generations it names
//! ([`crate::domain::plan`]): converged in place, replaced by a new generation (whose
//! old one CloudFormation deletes later), refused when the replacement would need the
//! role name the old generation holds, or — CloudFormation rolling back a replacement
//! that failed — converged with the failed generation removed, since no Delete ever
//! names it. The answer carries the role ARN as physical id and every attribute in
//! `Data`.
//!
//! **Delete** finds its generation from the properties even when they no longer
//! validate, refuses a physical id that names another generation's role, confirms the
//! caller, and removes the generation.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use tokio::sync::OnceCell;

use crate::{
    aws::{
        Account, AccountError, Aws, AwsError, Place,
        caller::{CallerCheck, CallerError},
    },
    cfn::{
        CreateRequest, CustomResource, DeleteRequest, Failure, Invocation, Success, UpdateRequest,
        failed_create_id, is_failed_create_id, names_nothing, nothing_created_id,
    },
    config::Config,
    core::{Converged, CoreError, Generation, Lifecycle, Outcome, Plan, Removed, Wanted},
    deadline::Deadline,
    domain::{
        DisplayName, Properties, PropertyErrors, ReplacementKey, caller,
        federation::{provider_arn, token_scope},
        guardrails::{GuardrailViolations, TrustedClientOwner},
        ownership::{InvalidStackId, StackArn, generation_key},
        plan::{GenerationName, ImpossibleReplacement, UpdatePlan, plan_update, shared_role},
        trust::{TrustPolicyError, trust_policy},
    },
    graph::{GraphClient, GraphError, TrustedClient},
    retry::RetryPolicy,
    signin::{self, CredentialError},
};

/// The resource, configured.
#[derive(Debug)]
pub struct EntraFederatedRole {
    config: Config,
    sdk: SdkConfig,
    aws: Aws,
    /// The HTTP client of Entra's sign-in and Graph, built with the process.
    http: reqwest::Client,
    /// Built on first use (reading the credentials secret, if any) and kept while warm.
    graph: OnceCell<GraphClient>,
}

impl EntraFederatedRole {
    /// The resource for a validated configuration, the factory's AWS configuration and
    /// the HTTP client of Entra and Graph ([`crate::graph::http_client`]).
    pub fn new(config: Config, sdk: SdkConfig, http: reqwest::Client) -> Self {
        let sdk = crate::aws::without_hidden_retries(sdk);
        let aws = Aws::new(sdk.clone(), config.member_role_name.clone());
        Self {
            config,
            sdk,
            aws,
            http,
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
    /// Signing in to Entra or resolving the trusted clients failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// Reading which generation holds a role failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// Converging or removing a generation failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A rollback converged the resource, but the failed replacement's objects remain.
    #[error(
        "the generation the failed update made ({generation}) could not be removed, so the \
         rollback is not finished; continue the rollback to retry: {source}"
    )]
    Abandoned {
        /// The failed replacement's generation key.
        generation: String,
        /// Why.
        source: CoreError,
    },
}

/// The service-principal object id length: every `sub` the trust policy lists is one.
const OBJECT_ID_PLACEHOLDER: &str = "00000000-0000-0000-0000-000000000000";

/// One resource generation and the account its role lives in.
///
/// Its physical id is its role's ARN ([`Target::role_arn`]), or, after a failed
/// Create, an id that names no role.
struct Target {
    generation: Generation,
    account: Account,
    /// The stack the resource belongs to.
    stack: StackArn,
    /// The resource's logical id.
    logical_id: String,
}

impl Target {
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

    /// The role's ARN: the generation's physical id.
    fn role_arn(&self) -> String {
        self.generation.name.role_arn(&self.stack)
    }

    /// Another generation of the same resource.
    fn sibling(&self, config: &Config, name: GenerationName) -> Generation {
        Generation::new(config, &self.stack, &self.logical_id, name)
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
    /// The factory's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The factory's AWS side.
    pub(crate) fn aws(&self) -> &Aws {
        &self.aws
    }

    /// The Graph client, signed in on first use.
    pub(crate) async fn graph(&self) -> Result<&GraphClient, ResourceError> {
        self.graph
            .get_or_try_init(|| async {
                let credential = signin::credential(&self.config, &self.sdk).await?;
                Ok::<_, ResourceError>(GraphClient::new(
                    &self.config,
                    self.http.clone(),
                    credential,
                    RetryPolicy::GRAPH,
                ))
            })
            .await
    }

    /// The generation `key` of the resource `logical_id` in `stack_id`, in its account.
    async fn target(
        &self,
        stack_id: &str,
        logical_id: &str,
        key: &ReplacementKey,
        invocation: &Invocation,
        session: &str,
    ) -> Result<Target, ResourceError> {
        let stack = StackArn::parse(stack_id)?;
        let account = self
            .aws
            .account(
                &Place::from(&stack),
                &invocation.function_arn,
                session,
                invocation.deadline,
            )
            .await?;
        let name = GenerationName::new(&stack, logical_id, key);
        Ok(Target {
            generation: Generation::new(&self.config, &stack, logical_id, name),
            account,
            stack,
            logical_id: logical_id.to_owned(),
        })
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
            .check(&properties, &stack.partition, &stack.account)
            .map_err(ResourceError::from)?;
        self.check_trust_size(&properties, &stack)
            .map_err(ResourceError::from)?;
        let deadline = invocation.deadline;
        let session = session(request.request_id);
        let confirm = async {
            let target = self
                .target(
                    request.stack_id,
                    request.logical_id,
                    &properties.replacement_key(),
                    invocation,
                    &session,
                )
                .await?;
            self.confirm_caller(&target, request.caller, request.properties, deadline)
                .await?;
            Ok::<_, ResourceError>(target)
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
            self.check_trusted_clients(&trusted)?;
            Ok::<_, ResourceError>((graph, trusted))
        };
        // A caller that is not confirmed hears nothing else, not even whether the trusted
        // clients it named exist: the caller check decides first, and its failure drops the
        // sign-in (reads only) wherever it is.
        let (target, (graph, trusted)) = {
            tokio::pin!(confirm, sign_in);
            let mut signed_in = None;
            let target = loop {
                tokio::select! {
                    target = &mut confirm => break target?,
                    done = &mut sign_in, if signed_in.is_none() => signed_in = Some(done),
                }
            };
            let signed_in = match signed_in {
                Some(done) => done?,
                None => sign_in.await?,
            };
            (target, signed_in)
        };
        Ok(Admitted {
            properties,
            target,
            graph,
            trusted,
        })
    }

    /// Holds the trusted clients, as Graph described them, to the guardrail on their
    /// tenant.
    pub(crate) fn check_trusted_clients(
        &self,
        trusted: &[TrustedClient],
    ) -> Result<(), GuardrailViolations> {
        let owners: Vec<TrustedClientOwner<'_>> = trusted
            .iter()
            .map(|client| TrustedClientOwner {
                app_id: &client.app_id,
                owner_tenant_id: client.owner_tenant_id.as_deref(),
            })
            .collect();
        self.config
            .guardrails
            .check_trusted_clients(&owners, &self.config.tenant_id)
    }

    /// Confirms, unless `VERIFY_CALLER_STACK` is off, that CloudFormation is sending
    /// `request` to the generation's resource now (DESIGN §2).
    async fn confirm_caller(
        &self,
        target: &Target,
        request: caller::Request<'_>,
        properties: &serde_json::Value,
        deadline: Deadline,
    ) -> Result<(), ResourceError> {
        if !self.config.verify_caller_stack {
            return Ok(());
        }
        let check = CallerCheck {
            stack: &target.stack,
            logical_id: &target.logical_id,
            request,
            window: caller::window(properties.get("ServiceTimeout")),
        };
        Ok(target.account.confirm_caller(check, deadline).await?)
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

    /// Converges the admitted generation `how` the event asks, and answers with its
    /// attributes.
    async fn converge(
        &self,
        admitted: &Admitted<'_>,
        how: Converge<'_>,
        deadline: Deadline,
    ) -> Result<Success, ResourceError> {
        let Target {
            generation,
            account,
            stack,
            logical_id,
        } = &admitted.target;
        let display_name = match &admitted.properties.application_display_name {
            Some(name) => name.clone(),
            None => derived_display_name(stack, logical_id),
        };
        let wanted = Wanted {
            properties: &admitted.properties,
            trusted: &admitted.trusted,
            display_name: &display_name,
            current: None,
        };
        let lifecycle = Lifecycle {
            iam: account,
            entra: admitted.graph,
        };
        let plan = match how {
            Converge::Fresh => Plan::converge(generation.clone(), true),
            Converge::Existing => Plan::converge(generation.clone(), false),
            Converge::RemovingFailedReplacement(abandoned) => {
                Plan::converge(generation.clone(), false).alongside(Plan::remove(abandoned.clone()))
            }
        };
        tracing::info!(%plan, chain = plan.longest_chain(), "planned");
        let mut outcomes = lifecycle
            .apply(&plan, Some(wanted), deadline)
            .await
            .into_iter();
        let converged = match outcomes.next() {
            Some(Ok(Outcome::Converged(converged))) => *converged,
            Some(Err(error)) => return Err(error.into()),
            other => unreachable!("a convergence comes first in its plan, not {other:?}"),
        };
        if let Converge::RemovingFailedReplacement(abandoned) = how {
            let removed = match outcomes.next() {
                Some(Ok(Outcome::Removed(removed))) => removed,
                Some(Err(source)) => {
                    return Err(ResourceError::Abandoned {
                        generation: abandoned.key().to_owned(),
                        source,
                    });
                }
                other => unreachable!("the removal comes second in its plan, not {other:?}"),
            };
            tracing::info!(generation = %abandoned.key(), outcome = ?removed, "removed the failed replacement");
        }
        Ok(self.answer(generation, converged))
    }

    /// Removes `generation`, whose role lives in `account`.
    async fn remove(
        &self,
        generation: &Generation,
        account: &Account,
        deadline: Deadline,
    ) -> Result<(), ResourceError> {
        let graph = self.graph().await?;
        let lifecycle = Lifecycle {
            iam: account,
            entra: graph,
        };
        let plan = Plan::remove(generation.clone());
        tracing::info!(%plan, chain = plan.longest_chain(), "planned");
        let outcome = lifecycle.apply(&plan, None, deadline).await.pop();
        let outcome = outcome.expect("one outcome per target")?;
        if outcome == Outcome::Removed(Removed::ForeignLeft) {
            tracing::warn!(
                "objects under this generation's names that are not ours were left alone"
            );
        }
        Ok(())
    }

    /// The answer for a converged generation: its role ARN and every attribute.
    fn answer(&self, generation: &Generation, converged: Converged) -> Success {
        let Converged {
            role_arn,
            application,
            app_id,
            audience,
            service_principal,
            provider,
        } = converged;
        let data = BTreeMap::from([
            ("RoleArn".to_owned(), role_arn.clone()),
            ("RoleName".to_owned(), generation.name.role_name.to_string()),
            ("ApplicationId".to_owned(), app_id.to_string()),
            ("ApplicationObjectId".to_owned(), application.id),
            ("ServicePrincipalId".to_owned(), service_principal.id),
            ("TenantId".to_owned(), self.config.tenant_id.clone()),
            ("Issuer".to_owned(), generation.issuer.clone()),
            ("OidcProviderArn".to_owned(), provider.arn),
            ("Audience".to_owned(), audience),
            ("TokenScope".to_owned(), token_scope(&app_id)),
        ]);
        Success {
            physical_resource_id: role_arn,
            data,
            no_echo: false,
        }
    }
}

/// How an admitted generation is converged.
enum Converge<'a> {
    /// It has no objects yet (a Create, a replacement).
    Fresh,
    /// It exists (an in-place Update).
    Existing,
    /// It exists, and CloudFormation is rolling back to it from this failed replacement.
    RemovingFailedReplacement(&'a Generation),
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
    target: Target,
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
            .await
            .map_err(Failure::before_any_write)?;
        // A failure is reported under the generation's failed-create id
        // (`failed_create_id` below), whatever it was.
        Ok(self
            .converge(&admitted, Converge::Fresh, invocation.deadline)
            .await?)
    }

    /// The failed-create id of the generation the properties name: the Delete that
    /// follows a Create that failed — also one cut short by the deadline after some
    /// writes — finds that generation's partial work by it, even if the properties stop
    /// parsing. Properties that name no generation made nothing. (A Create refused before
    /// any write reports an id that names nothing instead: see `create`.)
    fn failed_create_id(&self, request: &CreateRequest) -> String {
        let key = Properties::recover_replacement_key(&request.resource_properties);
        match (StackArn::parse(&request.stack_id), key) {
            (Ok(_), Some(key)) => failed_create_id(&generation_key(
                &request.stack_id,
                &request.logical_resource_id,
                &key,
            )),
            _ => nothing_created_id(&request.request_id),
        }
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
        let Target {
            account,
            stack,
            logical_id,
            ..
        } = &admitted.target;
        let deadline = invocation.deadline;
        let physical_id = &request.physical_resource_id;
        let holder = match shared_role(stack, logical_id, old_key.as_ref(), &new_key, physical_id) {
            Some(role) => account
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
            UpdatePlan::InPlace => {
                self.converge(&admitted, Converge::Existing, deadline)
                    .await?
            }
            UpdatePlan::Replace => {
                let success = self.converge(&admitted, Converge::Fresh, deadline).await?;
                tracing::info!(new = %success.physical_resource_id, "replaced: the old generation is left to CloudFormation's Delete");
                return Ok(success);
            }
            UpdatePlan::RollBack { abandoned } => {
                let abandoned = admitted.target.sibling(&self.config, abandoned);
                let how = Converge::RemovingFailedReplacement(&abandoned);
                self.converge(&admitted, how, deadline).await?
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
        let physical_id = &request.physical_resource_id;
        if names_nothing(physical_id)
            || (is_failed_create_id(physical_id)
                && *physical_id != failed_create_id(&generation_id))
        {
            tracing::info!("delete of a create that wrote nothing: nothing to clean up");
            return Ok(done());
        }
        let target = self
            .target(
                &request.stack_id,
                &request.logical_resource_id,
                &key,
                invocation,
                &session(&request.request_id),
            )
            .await
            .map_err(Failure::from)?;
        target.check_named_by(&request.physical_resource_id)?;
        self.confirm_caller(
            &target,
            caller::Request::Delete {
                physical_id: &request.physical_resource_id,
            },
            &request.resource_properties,
            invocation.deadline,
        )
        .await?;
        self.remove(&target.generation, &target.account, invocation.deadline)
            .await?;
        Ok(done())
    }
}
