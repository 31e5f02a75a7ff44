//! The Microsoft Graph and Entra token client: everything the resource does in Entra ID
//! (DESIGN §3, §5, §6, §7).
//!
//! A [`GraphClient`] is made once per warm container from [`Config`] (tenant, factory
//! client id, `authority_host`, `graph_endpoint` and the Graph token scope) and a
//! [`Credential`] — a client secret, a certificate ([`CertificateCredential`]), or an
//! external assertion from an [`AssertionSource`] (secretless: the AWS side implements it
//! with `sts:GetWebIdentityToken`). It signs in with the client credentials grant and
//! caches the token until shortly before it expires, so a warm container asks for one
//! token an hour, not one per event; concurrent calls share one sign-in.
//!
//! Its operations ([`GraphClient::upsert_application`], [`ensure_service_principal`],
//! [`converge_federated_credentials`], [`resolve_trusted_clients`],
//! [`converge_app_role_assignments`], [`find_application`], [`locate_application`] and the
//! steps of a deletion, which the lifecycle core ([`crate::core`]) combines) are each
//! idempotent and key everything on
//! the generation's [`UniqueName`]: applications are never looked up by display name, and
//! an object the factory does not own (403) or that lacks this generation's tags is
//! reported as [`GraphError::NotOurs`] and never changed or deleted. Every request and every
//! wait is budgeted against the caller's [`Deadline`]: throttling (429, honouring
//! `Retry-After`), 5xx, replication lag and federated-credential propagation are retried
//! with backoff until the next wait would cross it. Errors are typed ([`GraphError`],
//! [`SignInError`]) and worded for a CloudFormation `Reason`; secrets, tokens and
//! assertions are held in [`Secret`] and never logged or shown.
//!
//! This module knows Entra and Graph only: it must not import `crate::cfn` or `crate::aws`.
//!
//! [`ensure_service_principal`]: GraphClient::ensure_service_principal
//! [`converge_federated_credentials`]: GraphClient::converge_federated_credentials
//! [`resolve_trusted_clients`]: GraphClient::resolve_trusted_clients
//! [`converge_app_role_assignments`]: GraphClient::converge_app_role_assignments
//! [`find_application`]: GraphClient::find_application
//! [`locate_application`]: GraphClient::locate_application
//! [`Deadline`]: crate::deadline::Deadline

use std::time::Duration;

use crate::config::Config;
use crate::deadline::Deadline;
use crate::retry::RetryPolicy;
use crate::secret::Secret;
use crate::tls::Roots;

mod auth;
mod error;
mod http;
mod inventory;
mod model;
mod ops;

pub use auth::{
    ASSERTION_LIFETIME, AssertionSource, CertificateCredential, Credential, JWT_BEARER,
    REFRESH_MARGIN,
};
pub use error::{
    APP_ROLE_ASSIGNMENT_PERMISSION, ApiError, GraphError, OAuthError, OWNED_BY_PERMISSION,
    SignInError,
};
pub use inventory::{PERMISSION_IDS, PermissionSource, epoch_seconds};
pub use model::{
    AdoptedApp, ApiSettings, AppOrigin, AppOwner, Application, ApplicationSpec, Changes, Located,
    ServicePrincipal, TaggedRole, TrustedClient, UniqueName, Upserted, WorkloadSpec,
    managed_by_tag, role_tag, tagged_role, tagged_role_id,
};

/// The Graph client; clone-free, share it behind an `Arc`.
pub struct GraphClient {
    http: reqwest::Client,
    graph_base: String,
    auth: auth::Authenticator,
    policy: RetryPolicy,
    /// The factory's client id.
    client_id: String,
    /// The object id of the factory's own service principal, read once: it is the same
    /// for the life of the process.
    own_id: tokio::sync::OnceCell<String>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_base", &self.graph_base)
            .finish_non_exhaustive()
    }
}

fn root(url: &url::Url) -> &str {
    url.as_str().trim_end_matches('/')
}

/// The HTTP client for Entra's sign-in and for Graph, trusting `roots`. Built once, before
/// the first event, so the first sign-in does not wait for it. Like every client of the
/// factory it follows no redirect ([`Roots::reqwest`]): a token request's body holds the
/// factory's client assertion or secret.
pub fn http_client(roots: &Roots) -> Result<reqwest::Client, GraphError> {
    roots
        .reqwest()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("entra-federated-role/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| GraphError::Network {
            action: "set up the HTTP client".to_owned(),
            source,
        })
}

impl GraphClient {
    /// A client for `config`'s tenant and endpoints signing in with `credential`, over
    /// `http` (from [`http_client`]), retrying as `policy` says (in production
    /// [`RetryPolicy::GRAPH`]).
    pub fn new(
        config: &Config,
        http: reqwest::Client,
        credential: Credential,
        policy: RetryPolicy,
    ) -> Self {
        let token_endpoint = format!(
            "{}/{}/oauth2/v2.0/token",
            root(&config.authority_host),
            config.tenant_id
        );
        Self {
            auth: auth::Authenticator::new(
                http.clone(),
                token_endpoint,
                config.client_id.clone(),
                config.graph_scope(),
                credential,
                policy,
            ),
            graph_base: format!("{}/v1.0", root(&config.graph_endpoint)),
            http,
            policy,
            client_id: config.client_id.clone(),
            own_id: tokio::sync::OnceCell::new(),
        }
    }

    /// A Graph access token: the cached one while it is fresh, else a new sign-in.
    pub async fn access_token(&self, deadline: Deadline) -> Result<Secret, SignInError> {
        self.auth.token(deadline).await
    }
}
