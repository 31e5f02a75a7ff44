//! `Custom::EntraFederatedRole`: the resource behind the protocol layer.
//!
//! For now it validates the properties and stops there: provisioning in IAM and Entra
//! ID is not built yet, so every valid Create or Update answers `FAILED` saying so, and
//! nothing is ever reported as made. Delete succeeds: this version never creates
//! anything, so there is nothing of ours to remove.

use crate::{
    cfn::{
        CreateRequest, CustomResource, DeleteRequest, Failure, Invocation, Success, UpdateRequest,
    },
    config::Config,
    domain::{Properties, PropertyErrors},
};

/// The resource, configured.
#[derive(Debug)]
pub struct EntraFederatedRole {
    #[allow(dead_code)] // used once provisioning lands
    config: Config,
}

impl EntraFederatedRole {
    /// The resource for a validated configuration.
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The properties break the contract.
    #[error("invalid properties: {0}")]
    InvalidProperties(#[from] PropertyErrors),
    /// Provisioning is not part of this version.
    #[error(
        "provisioning is not built yet: this version of entra-federated-role validates \
         the properties but creates nothing in IAM or Entra ID"
    )]
    NotBuilt,
}

impl CustomResource for EntraFederatedRole {
    async fn create(
        &self,
        request: &CreateRequest,
        _invocation: &Invocation,
    ) -> Result<Success, Failure> {
        Properties::parse(&request.resource_properties).map_err(ResourceError::from)?;
        Err(ResourceError::NotBuilt.into())
    }

    async fn update(
        &self,
        request: &UpdateRequest,
        _invocation: &Invocation,
    ) -> Result<Success, Failure> {
        Properties::parse(&request.resource_properties).map_err(ResourceError::from)?;
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
