//! The lifecycle core (DESIGN §11): make the objects of one generation agree with what
//! is wanted, in both clouds — or remove them.
//!
//! The front doors translate into the core's terms: the CloudFormation custom resource
//! ([`crate::resource`]) decides from the generations an event names
//! ([`crate::domain::plan`]) which one to converge and which to remove, and makes that a
//! [`Plan`]: a value that lists every operation in order, each with the operations it
//! waits for, which it logs and the core [applies](Lifecycle::apply). The event front door
//! ([`crate::role_events`]) does the same for roles made outside CloudFormation, whose
//! generations ([`RoleOwner::Adopted`]) it federates ([`Plan::adopt`]), refuses
//! ([`Plan::refuse`]) or removes without ever deleting the role. The core reaches IAM and
//! Entra only through the [`ports`], which the adapters implement, so every decision here
//! runs in-process against fakes as well.
//!
//! **Converge** upserts the generation's Entra application and, at the same time,
//! creates the role sealed (a trust that admits nobody) with its policies — or reads the
//! existing role; registers, at the same time, the app's identifier URI, service
//! principal and federated credentials and puts the app's audience on the tenant's OIDC
//! provider; then sets the role's trust to that audience and exactly those service
//! principals. An existing role is converged from what was read but for its trust as soon
//! as it is read, and its trust is then written only if it differs. The app-role
//! assignments are made as soon as the service principal exists.
//!
//! **Remove** deletes the role and, at the same time, looks the Entra application up
//! (with its service principal, by the generation's tag) and soft-deletes it: with
//! either gone nobody can assume the role. Then, at once, it removes our audience and
//! purges the service principal; the application is purged last, since its deleted item
//! is where a repeated removal reads the appId that names them. The provider goes once
//! the role and the audience are gone, only when ours, empty and untrusted. It touches
//! nothing that lacks this generation's markers.
//!
//! Every step is idempotent, so a repeated event — also after a crash between any two
//! writes, or an answer lost after a write landed — converges on the same end state.

mod adopt;
mod apply;
mod converge;
#[cfg(test)]
mod fake;
#[cfg(test)]
mod matrix;
pub mod plan;
pub mod ports;
mod remove;

pub use apply::Outcome;
pub use converge::{Converged, Wanted, with_provider};
pub use plan::Plan;
pub use remove::Removed;

use crate::{
    aws::{AwsError, provider::ProviderError, role::RoleError},
    config::Config,
    domain::{
        RoleName,
        adoption::ForeignRole,
        ownership::{Ownership, StackArn},
        plan::GenerationName,
        trust::TrustPolicyError,
    },
    graph::{AppOrigin, AppOwner, GraphError, UniqueName},
};

/// One generation: what it is called everywhere, who owns its role, and how its
/// application is marked as its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Its names.
    pub name: GenerationName,
    /// Whose its role is.
    pub role: RoleOwner,
    /// The application's `uniqueName`.
    pub unique_name: UniqueName,
    /// The application's markers.
    pub owner: AppOwner,
    /// The issuer its tokens come from: the OIDC provider's URL.
    pub issuer: String,
}

/// Whose a generation's role is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleOwner {
    /// The factory makes it, and marks it as the generation's.
    Factory(Ownership),
    /// It was made outside CloudFormation and asked to be federated (DESIGN §9): the
    /// factory writes only its part of the trust and its status tags, and only while the
    /// role with this unique id still asks.
    Adopted {
        /// The role's unique id.
        id: String,
        /// The role's [fingerprint](ForeignRole::fingerprint) when what is planned was
        /// decided from it: the trust is written only while the role still has it.
        asked: Option<String>,
    },
}

impl Generation {
    /// The generation `name` of the resource `logical_id` in `stack`, under the tenant
    /// and cloud `config` names.
    pub fn new(config: &Config, stack: &StackArn, logical_id: &str, name: GenerationName) -> Self {
        let ownership = Ownership {
            stack_id: stack.arn.clone(),
            logical_id: logical_id.to_owned(),
            generation: name.key.clone(),
        };
        let origin = AppOrigin::Resource {
            stack_id: stack.arn.clone(),
            logical_id: logical_id.to_owned(),
        };
        Self::with(
            config,
            name,
            RoleOwner::Factory(ownership),
            &stack.account,
            origin,
        )
    }

    /// The generation of the role `role` with the unique id `id`, made outside
    /// CloudFormation in `account`: keyed on the role's unique id, so that a role deleted and made again under the same name never
    /// shares an application with its predecessor.
    pub fn adopted(config: &Config, account: &str, role: &RoleName, id: &str) -> Self {
        let name = GenerationName::adopted(account, role, id);
        let origin = AppOrigin::Role {
            name: role.to_string(),
            id: id.to_owned(),
        };
        let owner = RoleOwner::Adopted {
            id: id.to_owned(),
            asked: None,
        };
        Self::with(config, name, owner, account, origin)
    }

    fn with(
        config: &Config,
        name: GenerationName,
        role: RoleOwner,
        account: &str,
        origin: AppOrigin,
    ) -> Self {
        let unique_name =
            UniqueName::parse(&name.unique_name()).expect("hex digits make a valid uniqueName");
        Self {
            issuer: config.cloud.issuer(&config.tenant_id, name.token_version),
            owner: AppOwner {
                account: account.to_owned(),
                generation: name.key.clone(),
                origin,
            },
            role,
            unique_name,
            name,
        }
    }

    /// This generation, of a role made outside CloudFormation, planned from `role` as it
    /// was read: its trust is written only while the role asks for the same.
    pub fn deciding_from(mut self, role: &ForeignRole) -> Self {
        if let RoleOwner::Adopted { asked, .. } = &mut self.role {
            *asked = Some(role.fingerprint());
        }
        self
    }

    /// The generation key.
    pub fn key(&self) -> &str {
        &self.name.key
    }
}

/// Why the core failed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The trust policy cannot be built.
    #[error(transparent)]
    Trust(#[from] TrustPolicyError),
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
}

/// The lifecycle over one account's IAM and the tenant's Entra.
#[derive(Debug, Clone, Copy)]
pub struct Lifecycle<'a, I, E> {
    /// The account the generation's role and provider live in.
    pub iam: &'a I,
    /// The tenant its application lives in.
    pub entra: &'a E,
}
