//! A Microsoft Graph and Entra ID token endpoint emulator, so the Lambda's Entra side is
//! tested — and demonstrated — without a tenant.
//!
//! A [`GraphEmulator`] is one HTTP server on 127.0.0.1 (port chosen by the OS) that plays
//! both halves of Microsoft's cloud the factory talks to: the token endpoint
//! `POST /{tenant}/oauth2/v2.0/token` (so its URL is the `AZURE_AUTHORITY_HOST`) and
//! Microsoft Graph under `/v1.0` (so the same URL is the `GRAPH_ENDPOINT`). It starts with one
//! tenant ([`Options::tenant_id`]) holding the factory's own registration
//! ([`Options::factory_client_id`]); a test then registers how the factory may sign in —
//! a client secret, a certificate, or a JWKS plus federated identity credentials for
//! workload identity federation — and lets the code under test work. The applications the
//! factory registers can then sign in too (with their federated identity credentials) and
//! any app may ask for an access token for another: a signed JWT whose keys are published
//! at `/{tenant}/discovery/keys` ([`GraphEmulator::jwks_uri`]), so the last step of the
//! story, a workload exchanging its Entra token at AWS STS, is tested as well.
//!
//! The Graph half keeps a small directory ([`model`]): applications, their federated
//! identity credentials and app roles, service principals and their app role
//! assignments, and soft-deleted items. It behaves the way Microsoft's v1.0 reference
//! says, and each behaviour names the page it follows where it is implemented: the
//! `uniqueName` upsert, soft delete and purge through `directory/deletedItems`,
//! `Application.ReadWrite.OwnedBy` ownership (403 on a write to what the factory does not
//! own; every application may be read), the
//! 250-object quota of a non-admin principal, replication lag on the first service principal
//! create, and the OData error envelope. [`Settings`] tune these; [`FaultRule`]s inject
//! 429s (with and without `Retry-After`) and 5xx; Graph's documented identity-and-access
//! limits ([`Limits`]), a simpler write-rate limit and a fixed latency are there for
//! benchmarks.
//!
//! Everything is inspectable in-process ([`GraphEmulator::snapshot`],
//! [`GraphEmulator::calls`]) and, for the demo binary, over HTTP under `/_emulator/…`
//! (see [`GraphEmulator`]). [`TestKey`] makes RSA keys and certificates to sign
//! assertions with.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinHandle;

mod access_token;
mod graph;
mod http_api;
mod keys;
pub mod model;
mod odata;
mod state;
mod token;

pub use keys::{TestKey, thumbprint_s256, thumbprint_sha1};
pub use model::{
    AppRole, AppRoleAssignment, Application, DeletedItem, DeletedObject,
    FederatedIdentityCredential, KeyCredential, PasswordCredential, ServicePrincipal, Snapshot,
};

use state::State;

/// The permission that app role assignments need ("Grant or revoke API permissions
/// programmatically" / `servicePrincipal: Grant an appRoleAssignment` permissions table).
pub const APP_ROLE_ASSIGNMENT_PERMISSION: &str = "AppRoleAssignment.ReadWrite.All";

/// The id of the `AppRoleAssignment.ReadWrite.All` app role of Microsoft Graph ("Microsoft
/// Graph permissions reference", learn.microsoft.com/graph/permissions-reference).
pub const APP_ROLE_ASSIGNMENT_PERMISSION_ID: &str = "06b708a9-e830-4db3-a914-8e69da51d44f";

/// The permission the factory manages its applications with: create applications, and
/// manage only those it owns.
pub const OWNED_BY_PERMISSION: &str = "Application.ReadWrite.OwnedBy";

/// The id of the `Application.ReadWrite.OwnedBy` app role of Microsoft Graph ("Microsoft
/// Graph permissions reference").
pub const OWNED_BY_PERMISSION_ID: &str = "18a4783c-866b-4cc7-a460-3d5e5662c884";

/// The object id the emulator gives Microsoft Graph's service principal in its tenant (the
/// `resourceId` of the factory's Graph permissions; in a real tenant it is the id of
/// `servicePrincipals(appId='00000003-0000-0000-c000-000000000000')`).
pub const MICROSOFT_GRAPH_SERVICE_PRINCIPAL_ID: &str = "5d2c3e4f-8a9b-4c1d-9e7f-0a1b2c3d4e5f";

/// What an emulator is started with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The tenant's id (lowercase GUID).
    pub tenant_id: String,
    /// The factory's application (client) id.
    pub factory_client_id: String,
    /// The Graph resource a token must be asked for (`<resource>/.default`).
    pub graph_resource: String,
    /// The `expires_in` of issued tokens (Entra's default is about an hour).
    pub token_lifetime: Duration,
    /// Objects the factory may create (live and soft-deleted together).
    pub directory_quota: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tenant_id: "0b5b3a0e-1d2f-4b3c-9a8e-7f6d5c4b3a21".to_owned(),
            factory_client_id: "f1f2f3f4-a1a2-b1b2-c1c2-d1d2d3d4d5d6".to_owned(),
            graph_resource: "https://graph.microsoft.com".to_owned(),
            token_lifetime: Duration::from_secs(3599),
            directory_quota: 250,
        }
    }
}

/// Replication lag between creating an application and Graph accepting a service
/// principal for it (`NoBackingApplicationObject`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    /// The first this many `POST /servicePrincipals` for each new application fail.
    pub attempts: u32,
    /// …and so does every one within this time of the application's creation.
    pub duration: Duration,
}

/// Behaviour that tests tune at run time.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `expires_in` of issued tokens.
    pub token_lifetime: Duration,
    /// Objects the factory may create (live and soft-deleted together).
    pub directory_quota: usize,
    /// Service principal replication lag.
    pub service_principal_lag: Lag,
    /// The next this many federated sign-ins fail with AADSTS70021 (federated
    /// credential not yet propagated).
    pub federated_sign_in_lag: u32,
    /// Added to every call before it is answered.
    pub latency: Duration,
    /// Writes per second above which Graph answers 429 with `Retry-After` (a bucket of
    /// one second's writes: small enough for a short test to meet it).
    pub write_rate_limit: Option<f64>,
    /// Graph's documented identity-and-access limits, reads and writes ([`Limits`]).
    pub limits: Option<Limits>,
    /// Whether the factory holds `AppRoleAssignment.ReadWrite.All`.
    pub app_role_assignment_permission: bool,
    /// Whether the factory holds `Application.ReadWrite.OwnedBy` (the default). Without it,
    /// every write to applications, service principals and deleted items is 403
    /// `Authorization_RequestDenied`; reads keep working.
    pub owned_by_permission: bool,
    /// Replication lag: for this long after the write, a new application or service
    /// principal is not found by its object id, and a soft-deleted object is not found
    /// among deleted items (listed, read or purged), each answering 404
    /// `Request_ResourceNotFound` or leaving the list without it.
    pub replication_lag: Duration,
    /// How many objects one page of a list holds (Graph's default page size for
    /// applications is 100, "Paging Microsoft Graph data in your app").
    pub page_size: usize,
}

/// Graph's identity-and-access service limits ("Microsoft Graph service-specific
/// throttling limits", learn.microsoft.com/graph/throttling-limits, "Identity and access
/// service limits"): "a token bucket algorithm, which works by adding individual costs of
/// requests", a request answered 429 when any limit is exceeded. Applications, service
/// principals and directory objects are among the resources they cover. The limits of one
/// application across all tenants (150,000 ResourceUnits per 20 s, 35,000 writes per
/// 5 min) are left out: with one tenant the pair's are always the stricter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// ResourceUnits of the application+tenant pair.
    pub resource_units: Quota,
    /// Writes of the application+tenant pair.
    pub pair_writes: Quota,
    /// Writes of the tenant, every application together.
    pub tenant_writes: Quota,
}

/// So much per so long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// How much.
    pub amount: f64,
    /// Per how long.
    pub per: Duration,
}

/// The tenant sizes the documented ResourceUnit quota depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSize {
    /// Under 50 users: 3,500 ResourceUnits per 10 s.
    Small,
    /// 50 to 500 users: 5,000.
    Medium,
    /// Above 500 users: 8,000.
    Large,
}

impl Limits {
    /// The documented limits for a tenant of `size`: its ResourceUnits per 10 s, 3,000
    /// writes per 2 min 30 s for the pair, 18,000 per 5 min for the tenant.
    pub fn documented(size: TenantSize) -> Self {
        let units = match size {
            TenantSize::Small => 3_500.0,
            TenantSize::Medium => 5_000.0,
            TenantSize::Large => 8_000.0,
        };
        Self {
            resource_units: Quota {
                amount: units,
                per: Duration::from_secs(10),
            },
            pair_writes: Quota {
                amount: 3_000.0,
                per: Duration::from_secs(150),
            },
            tenant_writes: Quota {
                amount: 18_000.0,
                per: Duration::from_secs(300),
            },
        }
    }

    /// The writes admitted, at most, over `seconds` from buckets holding `available`:
    /// what the slower of the two write quotas refills meanwhile.
    pub fn write_ceiling(&self, available: f64, seconds: f64) -> f64 {
        let rate = |q: Quota| q.amount / q.per.as_secs_f64();
        available + seconds * rate(self.pair_writes).min(rate(self.tenant_writes))
    }
}

impl Default for Settings {
    fn default() -> Self {
        let options = Options::default();
        Self {
            token_lifetime: options.token_lifetime,
            directory_quota: options.directory_quota,
            service_principal_lag: Lag::default(),
            federated_sign_in_lag: 0,
            latency: Duration::ZERO,
            write_rate_limit: None,
            limits: None,
            app_role_assignment_permission: false,
            owned_by_permission: true,
            replication_lag: Duration::ZERO,
            page_size: 100,
        }
    }
}

/// An injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Fault {
    /// 429 `TooManyRequests`, with `Retry-After: <seconds>` when given.
    Throttle {
        /// The `Retry-After` header in seconds, or none.
        retry_after: Option<u64>,
    },
    /// A 5xx (`serviceNotAvailable` for 503, else `generalException`).
    ServerError {
        /// The status, 500–599.
        status: u16,
    },
    /// The call is applied, then its answer is lost: the client gets 504
    /// `GatewayTimeout` ("Microsoft Graph error responses and resource types": "the
    /// server, while acting as a proxy, did not receive a timely response from the
    /// upstream server"), as it would a timeout on a request that had landed. A retry
    /// then meets the write it made itself.
    AnswerLost,
}

/// Answer the next `times` matching calls with `fault`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// What to answer.
    pub fault: Fault,
    /// How many calls.
    pub times: u32,
    /// Only calls with this method (e.g. `POST`).
    #[serde(default)]
    pub method: Option<String>,
    /// Only calls whose path starts with this; Graph calls (`/v1.0/`) when unset.
    #[serde(default)]
    pub path_prefix: Option<String>,
}

impl FaultRule {
    /// 429 for the next `times` Graph calls, with `Retry-After` when `retry_after` is given.
    pub fn throttle(times: u32, retry_after: Option<u64>) -> Self {
        Self {
            fault: Fault::Throttle { retry_after },
            times,
            method: None,
            path_prefix: None,
        }
    }

    /// `status` (5xx) for the next `times` Graph calls.
    pub fn server_error(times: u32, status: u16) -> Self {
        Self {
            fault: Fault::ServerError { status },
            times,
            method: None,
            path_prefix: None,
        }
    }

    /// The next `times` Graph calls are applied, and their answers lost.
    pub fn answer_lost(times: u32) -> Self {
        Self {
            fault: Fault::AnswerLost,
            times,
            method: None,
            path_prefix: None,
        }
    }

    /// Only for calls with `method` whose path starts with `path_prefix`
    /// (e.g. `"/v1.0/servicePrincipals"`; the token endpoint is `"/{tenant}/oauth2"`).
    pub fn only(mut self, method: Option<&str>, path_prefix: Option<&str>) -> Self {
        self.method = method.map(str::to_ascii_uppercase);
        self.path_prefix = path_prefix.map(str::to_owned);
        self
    }
}

/// A foreign application seeded into the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededApplication {
    /// Object id (empty for a third party's application: it has none in this tenant).
    pub id: String,
    /// Application (client) id.
    pub app_id: String,
    /// Its service principal's object id, when one was made.
    pub service_principal_id: Option<String>,
}

/// A credential the emulator could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmulatorError {
    /// A certificate, JWKS or key that does not parse.
    InvalidCredential(String),
}

impl std::fmt::Display for EmulatorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidCredential(why) => write!(f, "invalid credential: {why}"),
        }
    }
}

impl std::error::Error for EmulatorError {}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// The tenant's token signing key, made when first needed (an RSA key takes a while).
    signing_key: OnceLock<TestKey>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn signing_key(&self) -> &TestKey {
        self.signing_key
            .get_or_init(|| TestKey::generate("entra-federated-role emulator token signing"))
    }
}

/// A running emulator; it stops when dropped.
///
/// The HTTP inspection API (all JSON) mirrors the methods below:
/// `GET /_emulator/snapshot`, `GET /_emulator/calls`, `POST /_emulator/reset`,
/// `POST /_emulator/seed` (`{"displayName", "servicePrincipal": bool}`),
/// `POST /_emulator/faults` (a [`FaultRule`]: `{"fault":{"kind":"throttle","retryAfter":2},"times":3}`,
/// `{"fault":{"kind":"answerLost"},"times":1,"method":"POST"}`),
/// `POST /_emulator/settings` (`{"tokenLifetimeSecs","directoryQuota","spLagAttempts",
/// "spLagMillis","federatedSignInLag","latencyMillis","writeRateLimit",
/// "appRoleAssignmentPermission","ownedByPermission","replicationLagMillis"}`, each optional),
/// `POST /_emulator/credentials/secret` (`{"secret"}`),
/// `POST /_emulator/credentials/certificate` (`{"pem"}`),
/// `POST /_emulator/credentials/jwks` (a JWKS), and
/// `POST /_emulator/credentials/federated` (`{"name","issuer","subject","audience"}`).
pub struct GraphEmulator {
    url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for GraphEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphEmulator")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Drop for GraphEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GraphEmulator {
    /// Starts an emulator with [`Options::default`] on 127.0.0.1, port chosen by the OS.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// Starts an emulator with `options` on 127.0.0.1, port chosen by the OS.
    pub async fn start_with(options: Options) -> std::io::Result<Self> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), options).await
    }

    /// Starts an emulator on `addr`.
    pub async fn bind(addr: SocketAddr, options: Options) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(options)),
            signing_key: OnceLock::new(),
        });
        let router = axum::Router::new()
            .fallback(graph::dispatch)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            url: format!("http://{local}"),
            shared,
            task,
        })
    }

    /// The root URL, `http://127.0.0.1:PORT`: both the authority host and the Graph endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> String {
        self.shared.lock().options.tenant_id.clone()
    }

    /// The factory's application (client) id.
    pub fn factory_client_id(&self) -> String {
        self.shared.lock().options.factory_client_id.clone()
    }

    /// The factory's own service principal id (the owner of what it creates).
    pub fn factory_service_principal_id(&self) -> String {
        self.shared.lock().factory_sp_id.clone()
    }

    /// `{url}/{tenant}/oauth2/v2.0/token`: the `aud` of certificate assertions.
    pub fn token_endpoint(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.url, self.tenant_id())
    }

    /// The issuer of v1 access tokens, `https://sts.windows.net/{tenant}/`: the URL of the
    /// IAM OIDC provider that trusts this tenant.
    pub fn issuer(&self) -> String {
        format!("https://sts.windows.net/{}/", self.tenant_id())
    }

    /// `{url}/{tenant}/discovery/keys`: the keys access tokens are signed with (JWKS).
    pub fn jwks_uri(&self) -> String {
        format!("{}/{}/discovery/keys", self.url, self.tenant_id())
    }

    /// Registers a client secret of the factory app.
    pub fn set_client_secret(&self, secret: &str) {
        self.shared.lock().secrets.push(secret.to_owned());
    }

    /// Registers a certificate (PEM or DER) on the factory app.
    pub fn add_certificate(&self, certificate: &[u8]) -> Result<(), EmulatorError> {
        let certificate = keys::RegisteredCertificate::parse(certificate)?;
        self.shared.lock().certificates.push(certificate);
        Ok(())
    }

    /// Trusts the keys of an external issuer's JWKS for federated assertions; returns how
    /// many keys it holds.
    pub fn add_jwks(&self, jwks: &Value) -> Result<usize, EmulatorError> {
        let keys = keys::parse_jwks(jwks)?;
        let count = keys.len();
        self.shared.lock().trusted_keys.extend(keys);
        Ok(count)
    }

    /// Adds a federated identity credential to the factory app: assertions with this
    /// `iss`, `sub` and `aud` may sign in as the factory.
    pub fn add_factory_federated_credential(
        &self,
        name: &str,
        issuer: &str,
        subject: &str,
        audience: &str,
    ) {
        self.shared.lock().federation.push(state::Federation {
            name: name.to_owned(),
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            audience: audience.to_owned(),
        });
    }

    /// Changes settings.
    pub fn configure(&self, change: impl FnOnce(&mut Settings)) {
        let mut state = self.shared.lock();
        change(&mut state.settings);
        state.bucket = state.settings.write_rate_limit.map(state::WriteBucket::new);
        state.limiter = state.settings.limits.map(state::Limiter::new);
    }

    /// The Graph writes [`Settings::limits`] would admit now (`None`: no limits set).
    pub fn writes_available(&self) -> Option<f64> {
        let mut state = self.shared.lock();
        state.limiter.as_mut().map(state::Limiter::writes_available)
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.shared.lock().settings.clone()
    }

    /// Adds a fault rule; rules are consumed in the order they were added.
    pub fn inject(&self, rule: FaultRule) {
        self.shared.lock().faults.push(rule);
    }

    /// Drops every fault rule not yet used up.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Adds an application the factory does not own, with its service principal when
    /// `with_service_principal`.
    pub fn seed_foreign_application(
        &self,
        display_name: &str,
        with_service_principal: bool,
    ) -> SeededApplication {
        let (app, sp) = self
            .shared
            .lock()
            .seed(display_name, None, with_service_principal);
        SeededApplication {
            id: app.id,
            app_id: app.app_id,
            service_principal_id: sp,
        }
    }

    /// Adds the service principal of a multi-tenant application registered in another
    /// tenant (a third party's app consented to here): no application object in this
    /// tenant, and `appOwnerOrganizationId` naming the other one. Returns its appId and
    /// service principal id.
    pub fn seed_third_party_application(&self, display_name: &str) -> SeededApplication {
        let mut state = self.shared.lock();
        let (app, sp) = state.seed(display_name, None, true);
        state.applications.remove(&app.id);
        let sp = sp.expect("seeded with a service principal");
        if let Some(principal) = state.service_principals.get_mut(&sp) {
            principal.app_owner_organization_id = uuid::Uuid::new_v4().to_string();
        }
        SeededApplication {
            id: String::new(),
            app_id: app.app_id,
            service_principal_id: Some(sp),
        }
    }

    /// Adds a foreign application with this `uniqueName` and `tags` (e.g. to squat on a
    /// name the factory would use).
    pub fn seed_foreign_application_named(
        &self,
        unique_name: &str,
        tags: &[&str],
    ) -> SeededApplication {
        let mut state = self.shared.lock();
        let (mut app, sp) = state.seed(unique_name, None, true);
        app.unique_name = Some(unique_name.to_owned());
        app.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        state.applications.insert(app.id.clone(), app.clone());
        SeededApplication {
            id: app.id,
            app_id: app.app_id,
            service_principal_id: sp,
        }
    }

    /// Adds a client secret to the application with this appId, as an administrator would
    /// in the portal ("application: addPassword"): valid from now for two years. Its value
    /// is not returned; the credential is.
    ///
    /// # Panics
    ///
    /// When there is no such application.
    pub fn add_password(&self, app_id: &str, display_name: &str) -> PasswordCredential {
        let start = time::OffsetDateTime::now_utc();
        let (credential, _secret) = PasswordCredential::generate(
            Some(display_name.to_owned()),
            start,
            odata::years_later(start, 2),
        );
        self.edit_application(app_id, |app| {
            app.password_credentials.push(credential.clone());
        });
        credential
    }

    /// Adds a certificate to the application with this appId, as an administrator would in
    /// the portal: an `AsymmetricX509Cert` for `Verify`, valid from now for a year.
    ///
    /// # Panics
    ///
    /// When there is no such application.
    pub fn add_key_credential(&self, app_id: &str, display_name: &str) -> KeyCredential {
        let start = time::OffsetDateTime::now_utc();
        let credential = KeyCredential {
            key_id: uuid::Uuid::new_v4().to_string(),
            display_name: Some(display_name.to_owned()),
            type_: "AsymmetricX509Cert".to_owned(),
            usage: "Verify".to_owned(),
            start_date_time: odata::iso(start),
            end_date_time: odata::iso(odata::years_later(start, 1)),
            custom_key_identifier: None,
        };
        self.edit_application(app_id, |app| app.key_credentials.push(credential.clone()));
        credential
    }

    /// Changes the live application with this appId by hand, as an administrator editing
    /// the directory would (e.g. its federated identity credentials).
    ///
    /// # Panics
    ///
    /// When there is no such application.
    pub fn edit_application(&self, app_id: &str, change: impl FnOnce(&mut Application)) {
        let mut state = self.shared.lock();
        let app = state
            .applications
            .values_mut()
            .find(|a| a.app_id.eq_ignore_ascii_case(app_id))
            .unwrap_or_else(|| panic!("no application with appId {app_id} in the emulator"));
        change(app);
    }

    /// Changes the live service principal of this appId by hand, as an administrator
    /// editing the directory would (e.g. its `appRoleAssignmentRequired`).
    ///
    /// # Panics
    ///
    /// When there is no such service principal.
    pub fn edit_service_principal(&self, app_id: &str, change: impl FnOnce(&mut ServicePrincipal)) {
        let mut state = self.shared.lock();
        let sp = state
            .service_principals
            .values_mut()
            .find(|s| s.app_id.eq_ignore_ascii_case(app_id))
            .unwrap_or_else(|| panic!("no service principal for appId {app_id} in the emulator"));
        change(sp);
    }

    /// The whole directory.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.shared.lock();
        Snapshot {
            applications: state.applications.values().cloned().collect(),
            service_principals: state.service_principals.values().cloned().collect(),
            deleted_items: state.deleted.values().cloned().collect(),
        }
    }

    /// Calls per kind, e.g. `"PATCH /v1.0/applications(uniqueName)"`,
    /// `"POST /{tenant}/oauth2/v2.0/token"`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.shared.lock().calls.clone()
    }

    /// Calls of one kind (see [`GraphEmulator::calls`]).
    pub fn call_count(&self, kind: &str) -> u64 {
        self.shared.lock().calls.get(kind).copied().unwrap_or(0)
    }

    /// Token requests answered so far (successful or not).
    pub fn token_requests(&self) -> u64 {
        self.call_count(token::CALL_KIND)
    }

    /// Forgets every object, token, fault, counter and setting (back to [`Options`]);
    /// registered credentials stay.
    pub fn reset(&self) {
        self.shared.lock().reset_directory();
    }
}
