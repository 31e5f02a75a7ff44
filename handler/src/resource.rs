//! `Custom::EntraFederatedRole`: the resource behind the protocol layer.
//!
//! Every Create and Update first does everything that can refuse a request before any
//! write: the properties are parsed, the factory's guardrails checked, the trust policy's
//! size checked against IAM's quota, the target account reached (directly, or through the
//! member role in hub mode) and the caller's stack confirmed there.
//!
//! Provisioning in Entra ID and IAM is not built yet: a request that passes all of the
//! above answers `FAILED` saying so, and nothing is ever reported as made. Delete
//! succeeds: this version never creates anything, so there is nothing of ours to remove.

use crate::{
    aws::{AccountError, Aws, caller::CallerError},
    cfn::{
        CreateRequest, CustomResource, DeleteRequest, Failure, Invocation, Success, UpdateRequest,
    },
    config::Config,
    domain::{
        Properties, PropertyErrors,
        federation::provider_arn,
        guardrails::GuardrailViolations,
        ownership::{InvalidStackId, StackArn},
        trust::{TrustPolicyError, trust_policy},
    },
};

/// The resource, configured.
#[derive(Debug)]
pub struct EntraFederatedRole {
    config: Config,
    aws: Aws,
}

impl EntraFederatedRole {
    /// The resource for a validated configuration and the factory's AWS side.
    pub fn new(config: Config, aws: Aws) -> Self {
        Self { config, aws }
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
    /// The trust policy cannot be built.
    #[error(transparent)]
    Trust(#[from] TrustPolicyError),
    /// The target account cannot be reached.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The caller's stack could not be confirmed.
    #[error("the calling stack could not be confirmed, so nothing was changed: {0}")]
    Caller(#[from] CallerError),
    /// Provisioning is not part of this version.
    #[error(
        "provisioning is not built yet: this version of entra-federated-role validates \
         the request and confirms the calling stack but creates nothing in IAM or Entra ID"
    )]
    NotBuilt,
}

/// The service-principal object id length: every `sub` the trust policy lists is one.
const OBJECT_ID_PLACEHOLDER: &str = "00000000-0000-0000-0000-000000000000";

impl EntraFederatedRole {
    /// Everything that can refuse a Create or Update before any write.
    async fn admit(
        &self,
        properties: &serde_json::Value,
        stack_id: &str,
        logical_id: &str,
        resource_type: &str,
        invocation: &Invocation,
        session: &str,
    ) -> Result<Properties, ResourceError> {
        let properties = Properties::parse(properties)?;
        let stack = StackArn::parse(stack_id)?;
        self.config.guardrails.check(&properties, &stack)?;
        self.check_trust_size(&properties, &stack)?;
        let deadline = invocation.deadline;
        let account = self
            .aws
            .account(&stack, &invocation.function_arn, session, deadline)
            .await?;
        if self.config.verify_caller_stack {
            account
                .verify_caller(&stack, logical_id, resource_type, deadline)
                .await?;
        }
        Ok(properties)
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
        self.admit(
            &request.resource_properties,
            &request.stack_id,
            &request.logical_resource_id,
            &request.resource_type,
            invocation,
            &session(&request.request_id),
        )
        .await?;
        Err(ResourceError::NotBuilt.into())
    }

    async fn update(
        &self,
        request: &UpdateRequest,
        invocation: &Invocation,
    ) -> Result<Success, Failure> {
        self.admit(
            &request.resource_properties,
            &request.stack_id,
            &request.logical_resource_id,
            &request.resource_type,
            invocation,
            &session(&request.request_id),
        )
        .await?;
        Err(ResourceError::NotBuilt.into())
    }

    async fn delete(
        &self,
        request: &DeleteRequest,
        _invocation: &Invocation,
    ) -> Result<Success, Failure> {
        tracing::info!("nothing to delete: this version creates nothing");
        Ok(Success::new(request.physical_resource_id.clone()))
    }
}
