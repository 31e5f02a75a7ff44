//! What the lifecycle reads and writes, as two small traits: [`Iam`] for one account's
//! IAM, [`Entra`] for the tenant's Microsoft Graph. The AWS and Graph adapters implement
//! them here, by delegation; the core's tests implement them with fakes that can fail
//! before a write, lose its answer after it landed, or stop dead.
//!
//! Every operation is idempotent: run again after any failure, it converges on the same
//! state.

use std::future::Future;

use crate::{
    aws::{
        Account, AwsError,
        provider::{Provider, ProviderCleanup, ProviderError},
        role::{ObservedRole, RoleDeletion, RoleError, SealedRole},
    },
    deadline::Deadline,
    domain::{
        RoleName,
        adoption::ForeignRole,
        ownership::Ownership,
        role::{RoleSpec, RoleWrite},
    },
    graph::{
        AppOwner, Application, ApplicationSpec, Changes, GraphClient, GraphError, Located,
        ServicePrincipal, UniqueName, Upserted, WorkloadSpec,
    },
};

/// One account's IAM: the shared OIDC provider and the generation's role.
pub trait Iam: Sync {
    /// The account's partition (`aws`, `aws-cn`, …).
    fn partition(&self) -> &str;
    /// The account id.
    fn account_id(&self) -> &str;

    /// The provider for `issuer`, adopted or created, with `audience` on it.
    fn ensure_provider(
        &self,
        issuer: &str,
        audience: &str,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Provider, ProviderError>> + Send;
    /// Removes `audience` from the provider `arn` (absent is done).
    fn remove_audience(
        &self,
        arn: &str,
        audience: &str,
        deadline: Deadline,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Deletes the provider for `issuer` when ours, empty and trusted by no role.
    fn delete_provider_if_unused(
        &self,
        issuer: &str,
        deadline: Deadline,
    ) -> impl Future<Output = Result<ProviderCleanup, ProviderError>> + Send;

    /// Creates the role with a trust that admits nobody, and its policies.
    fn create_sealed(
        &self,
        spec: &RoleSpec,
        deadline: Deadline,
    ) -> impl Future<Output = Result<SealedRole, RoleError>> + Send;
    /// Sets the role's trust to `spec`'s: a role [`Iam::create_sealed`] made, or one
    /// converged but for its trust.
    fn set_trust(
        &self,
        spec: &RoleSpec,
        deadline: Deadline,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Creates the role, or converges it when it exists. Returns its ARN.
    fn create_role(
        &self,
        spec: &RoleSpec,
        deadline: Deadline,
    ) -> impl Future<Output = Result<String, RoleError>> + Send;
    /// The role `name` as IAM has it now.
    fn observe_role(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> impl Future<Output = Result<ObservedRole, AwsError>> + Send;
    /// Brings the role, as `observed` earlier, in line with `spec`. Returns its ARN.
    fn converge_observed(
        &self,
        spec: &RoleSpec,
        observed: ObservedRole,
        deadline: Deadline,
    ) -> impl Future<Output = Result<String, RoleError>> + Send;
    /// Reads the role and brings it in line with `spec`. Returns its ARN.
    fn converge_role(
        &self,
        spec: &RoleSpec,
        deadline: Deadline,
    ) -> impl Future<Output = Result<String, RoleError>> + Send;
    /// The generation key the role `name` carries, when it is ours.
    fn role_generation(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// Deletes the role `name` if it is `ownership`'s.
    fn delete_role(
        &self,
        name: &RoleName,
        ownership: &Ownership,
        deadline: Deadline,
    ) -> impl Future<Output = Result<RoleDeletion, AwsError>> + Send;

    /// The role `name`, made outside CloudFormation, as IAM has it now — its unique id,
    /// tags and managed policies included; `None` when it does not exist.
    fn read_foreign(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Option<ForeignRole>, AwsError>> + Send;
    /// Makes `writes` — its trust and the factory's status tags, nothing else — on the
    /// role `name` made outside CloudFormation, all at once.
    fn write_foreign(
        &self,
        name: &RoleName,
        writes: &[RoleWrite],
        deadline: Deadline,
    ) -> impl Future<Output = Result<(), RoleError>> + Send;
}

/// The tenant's Entra ID: the generation's application and service principal.
pub trait Entra: Sync {
    /// Creates or updates the application by its `uniqueName`; `existing` when it most
    /// likely exists (it is then read at the same time).
    fn upsert_application(
        &self,
        spec: &ApplicationSpec,
        existing: bool,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Upserted, GraphError>> + Send;
    /// The application's identifier URI, service principal and federated credentials.
    fn register_application(
        &self,
        upserted: &Upserted,
        spec: &WorkloadSpec,
        deadline: Deadline,
    ) -> impl Future<Output = Result<(ServicePrincipal, Changes), GraphError>> + Send;
    /// `RequireAppRoleAssignment`: the app role and exactly `principals` assigned to it.
    fn converge_app_role_assignments(
        &self,
        application: &Application,
        service_principal: &ServicePrincipal,
        principals: &[String],
        required: bool,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Changes, GraphError>> + Send;
    /// The live application of this name when it is `owner`'s.
    fn find_application(
        &self,
        unique_name: &UniqueName,
        owner: &AppOwner,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Option<Application>, GraphError>> + Send;
    /// Where the application is, from `found` or among deleted items.
    fn locate_application(
        &self,
        unique_name: &UniqueName,
        owner: &AppOwner,
        found: Result<Option<Application>, GraphError>,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Located, GraphError>> + Send;
    /// Whether the factory owns `application` (the one an upsert left out would have
    /// proved it owns).
    fn owns_application(
        &self,
        application: &Application,
        deadline: Deadline,
    ) -> impl Future<Output = Result<bool, GraphError>> + Send;
    /// The live service principals tagged as this generation's.
    fn find_service_principals(
        &self,
        owner: &AppOwner,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Vec<ServicePrincipal>, GraphError>> + Send;
    /// Soft-deletes the application: `false` when it is not the factory's.
    fn soft_delete_application(
        &self,
        unique_name: &UniqueName,
        application: &Application,
        deadline: Deadline,
    ) -> impl Future<Output = Result<bool, GraphError>> + Send;
    /// Purges the deleted service principal of `app_id` — `known`, when its id was found
    /// before its application was deleted — : whether there was one. `just_deleted`: its
    /// application was soft-deleted by this event (Graph may not show the deleted items
    /// yet).
    fn purge_service_principal(
        &self,
        unique_name: &UniqueName,
        app_id: &str,
        known: Option<&str>,
        just_deleted: bool,
        deadline: Deadline,
    ) -> impl Future<Output = Result<bool, GraphError>> + Send;
    /// Purges the soft-deleted application (`just_deleted`: by this event).
    fn purge_application(
        &self,
        unique_name: &UniqueName,
        application: &Application,
        just_deleted: bool,
        deadline: Deadline,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
}

impl Iam for Account {
    fn partition(&self) -> &str {
        Account::partition(self)
    }

    fn account_id(&self) -> &str {
        self.id()
    }

    async fn ensure_provider(
        &self,
        issuer: &str,
        audience: &str,
        deadline: Deadline,
    ) -> Result<Provider, ProviderError> {
        Account::ensure_provider(self, issuer, audience, deadline).await
    }

    async fn remove_audience(
        &self,
        arn: &str,
        audience: &str,
        deadline: Deadline,
    ) -> Result<(), AwsError> {
        Account::remove_audience(self, arn, audience, deadline).await
    }

    async fn delete_provider_if_unused(
        &self,
        issuer: &str,
        deadline: Deadline,
    ) -> Result<ProviderCleanup, ProviderError> {
        Account::delete_provider_if_unused(self, issuer, deadline).await
    }

    async fn create_sealed(
        &self,
        spec: &RoleSpec,
        deadline: Deadline,
    ) -> Result<SealedRole, RoleError> {
        Account::create_sealed(self, spec, deadline).await
    }

    async fn set_trust(&self, spec: &RoleSpec, deadline: Deadline) -> Result<(), AwsError> {
        Account::set_trust(self, spec, deadline).await
    }

    async fn create_role(&self, spec: &RoleSpec, deadline: Deadline) -> Result<String, RoleError> {
        Account::create_role(self, spec, deadline).await
    }

    async fn observe_role(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> Result<ObservedRole, AwsError> {
        Account::observe_role(self, name, deadline).await
    }

    async fn converge_observed(
        &self,
        spec: &RoleSpec,
        observed: ObservedRole,
        deadline: Deadline,
    ) -> Result<String, RoleError> {
        Account::converge_observed(self, spec, observed, deadline).await
    }

    async fn converge_role(
        &self,
        spec: &RoleSpec,
        deadline: Deadline,
    ) -> Result<String, RoleError> {
        Account::converge_role(self, spec, deadline).await
    }

    async fn role_generation(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> Result<Option<String>, AwsError> {
        Account::role_generation(self, name, deadline).await
    }

    async fn delete_role(
        &self,
        name: &RoleName,
        ownership: &Ownership,
        deadline: Deadline,
    ) -> Result<RoleDeletion, AwsError> {
        Account::delete_role(self, name, ownership, deadline).await
    }

    async fn read_foreign(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> Result<Option<ForeignRole>, AwsError> {
        Account::read_foreign(self, name, deadline).await
    }

    async fn write_foreign(
        &self,
        name: &RoleName,
        writes: &[RoleWrite],
        deadline: Deadline,
    ) -> Result<(), RoleError> {
        Account::write_foreign(self, name, writes, deadline).await
    }
}

impl Entra for GraphClient {
    async fn upsert_application(
        &self,
        spec: &ApplicationSpec,
        existing: bool,
        deadline: Deadline,
    ) -> Result<Upserted, GraphError> {
        if existing {
            self.upsert_existing_application(spec, deadline).await
        } else {
            GraphClient::upsert_application(self, spec, deadline).await
        }
    }

    async fn register_application(
        &self,
        upserted: &Upserted,
        spec: &WorkloadSpec,
        deadline: Deadline,
    ) -> Result<(ServicePrincipal, Changes), GraphError> {
        GraphClient::register_application(self, upserted, spec, deadline).await
    }

    async fn converge_app_role_assignments(
        &self,
        application: &Application,
        service_principal: &ServicePrincipal,
        principals: &[String],
        required: bool,
        deadline: Deadline,
    ) -> Result<Changes, GraphError> {
        GraphClient::converge_app_role_assignments(
            self,
            application,
            service_principal,
            principals,
            required,
            deadline,
        )
        .await
    }

    async fn find_application(
        &self,
        unique_name: &UniqueName,
        owner: &AppOwner,
        deadline: Deadline,
    ) -> Result<Option<Application>, GraphError> {
        GraphClient::find_application(self, unique_name, owner, deadline).await
    }

    async fn locate_application(
        &self,
        unique_name: &UniqueName,
        owner: &AppOwner,
        found: Result<Option<Application>, GraphError>,
        deadline: Deadline,
    ) -> Result<Located, GraphError> {
        GraphClient::locate_application(self, unique_name, owner, found, deadline).await
    }

    async fn soft_delete_application(
        &self,
        unique_name: &UniqueName,
        application: &Application,
        deadline: Deadline,
    ) -> Result<bool, GraphError> {
        GraphClient::soft_delete_application(self, unique_name, application, deadline).await
    }

    async fn owns_application(
        &self,
        application: &Application,
        deadline: Deadline,
    ) -> Result<bool, GraphError> {
        GraphClient::owns_application(self, application, deadline).await
    }

    async fn find_service_principals(
        &self,
        owner: &AppOwner,
        deadline: Deadline,
    ) -> Result<Vec<ServicePrincipal>, GraphError> {
        GraphClient::find_service_principals(self, owner, deadline).await
    }

    async fn purge_service_principal(
        &self,
        unique_name: &UniqueName,
        app_id: &str,
        known: Option<&str>,
        just_deleted: bool,
        deadline: Deadline,
    ) -> Result<bool, GraphError> {
        GraphClient::purge_service_principal(
            self,
            unique_name,
            app_id,
            known,
            just_deleted,
            deadline,
        )
        .await
    }

    async fn purge_application(
        &self,
        unique_name: &UniqueName,
        application: &Application,
        just_deleted: bool,
        deadline: Deadline,
    ) -> Result<(), GraphError> {
        GraphClient::purge_application(self, unique_name, application, just_deleted, deadline).await
    }
}
