//! The emulator's mutable state, behind one mutex that is never held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::keys::{RegisteredCertificate, TrustedKey};
use crate::model::{Application, DeletedItem, ServicePrincipal};
use crate::{FaultRule, Options, Settings};

/// A token the token endpoint issued.
pub(crate) struct IssuedToken {
    pub client_id: String,
    pub expires_at: Instant,
}

/// A federated identity credential an application may sign in with: the factory's own,
/// registered by a test, or one of an application's `federatedIdentityCredentials`.
#[derive(Clone)]
pub(crate) struct Federation {
    pub name: String,
    pub issuer: String,
    pub subject: String,
    pub audience: String,
}

/// Write-rate token bucket ("Microsoft Graph throttling guidance",
/// learn.microsoft.com/graph/throttling, and its identity-and-access service limits:
/// writes are limited per app and tenant, and a throttled request gets 429 with
/// `Retry-After`).
pub(crate) struct WriteBucket {
    pub rate: f64,
    pub tokens: f64,
    pub updated: Instant,
}

impl WriteBucket {
    pub fn new(rate: f64) -> Self {
        Self {
            rate,
            tokens: rate.max(1.0),
            updated: Instant::now(),
        }
    }

    /// Takes one token, or says how long until one is there.
    pub fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.updated = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate.max(1.0));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Graph's identity-and-access service limits, as token buckets that admit a request only
/// when every bucket holds its cost (see [`crate::Limits`]).
pub(crate) struct Limiter {
    /// ResourceUnits of the application+tenant pair.
    resource_units: Bucket,
    /// Writes of the application+tenant pair.
    pair_writes: Bucket,
    /// Writes of the tenant, all applications.
    tenant_writes: Bucket,
}

/// One quota as a token bucket: full at first, refilled at the quota's average rate.
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn new(quota: crate::Quota) -> Self {
        let capacity = quota.amount.max(1.0);
        Self {
            capacity,
            per_second: capacity / quota.per.as_secs_f64().max(f64::MIN_POSITIVE),
            tokens: capacity,
            updated: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.updated = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
    }

    /// How long until `cost` tokens are there (zero: now).
    fn wait(&self, cost: f64) -> Duration {
        let missing = cost.min(self.capacity) - self.tokens;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / self.per_second)
        }
    }
}

impl Limiter {
    pub fn new(limits: crate::Limits) -> Self {
        Self {
            resource_units: Bucket::new(limits.resource_units),
            pair_writes: Bucket::new(limits.pair_writes),
            tenant_writes: Bucket::new(limits.tenant_writes),
        }
    }

    /// Admits a request costing `units` ResourceUnits and `writes` writes, or says how
    /// long until every bucket would hold its cost (nothing is taken then).
    pub fn admit(&mut self, units: f64, writes: f64) -> Result<(), Duration> {
        let now = Instant::now();
        let mut costs = [
            (&mut self.resource_units, units),
            (&mut self.pair_writes, writes),
            (&mut self.tenant_writes, writes),
        ];
        for (bucket, _) in &mut costs {
            bucket.refill(now);
        }
        let wait = costs
            .iter()
            .map(|(bucket, cost)| bucket.wait(*cost))
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            return Err(wait);
        }
        for (bucket, cost) in &mut costs {
            bucket.tokens -= *cost;
        }
        Ok(())
    }

    /// The writes the pair and the tenant would admit now, the fewer of the two.
    pub fn writes_available(&mut self) -> f64 {
        let now = Instant::now();
        self.pair_writes.refill(now);
        self.tenant_writes.refill(now);
        self.pair_writes.tokens.min(self.tenant_writes.tokens)
    }
}

pub(crate) struct State {
    pub options: Options,
    pub settings: Settings,
    pub secrets: Vec<String>,
    pub certificates: Vec<RegisteredCertificate>,
    pub trusted_keys: Vec<TrustedKey>,
    pub federation: Vec<Federation>,
    /// Object id of the factory's own service principal: the owner of what it creates.
    pub factory_sp_id: String,
    pub applications: BTreeMap<String, Application>,
    pub service_principals: BTreeMap<String, ServicePrincipal>,
    pub deleted: BTreeMap<String, DeletedItem>,
    pub tokens: HashMap<String, IssuedToken>,
    pub faults: Vec<FaultRule>,
    pub federated_sign_ins: u32,
    pub bucket: Option<WriteBucket>,
    pub limiter: Option<Limiter>,
    pub calls: BTreeMap<String, u64>,
}

impl State {
    pub fn new(options: Options) -> Self {
        let mut state = Self {
            options,
            settings: Settings::default(),
            secrets: Vec::new(),
            certificates: Vec::new(),
            trusted_keys: Vec::new(),
            federation: Vec::new(),
            factory_sp_id: String::new(),
            applications: BTreeMap::new(),
            service_principals: BTreeMap::new(),
            deleted: BTreeMap::new(),
            tokens: HashMap::new(),
            faults: Vec::new(),
            federated_sign_ins: 0,
            bucket: None,
            limiter: None,
            calls: BTreeMap::new(),
        };
        state.reset_directory();
        state
    }

    /// Forgets every object, token, fault, counter and setting; keeps the credentials.
    pub fn reset_directory(&mut self) {
        self.settings = Settings::default();
        self.settings.token_lifetime = self.options.token_lifetime;
        self.settings.directory_quota = self.options.directory_quota;
        self.applications.clear();
        self.service_principals.clear();
        self.deleted.clear();
        self.tokens.clear();
        self.faults.clear();
        self.federated_sign_ins = 0;
        self.bucket = None;
        self.limiter = None;
        self.calls.clear();
        // The factory's own registration: neither created nor owned by itself.
        let factory_client_id = self.options.factory_client_id.clone();
        let (_, sp_id) = self.seed(
            "entra-federated-role factory",
            Some(factory_client_id),
            true,
        );
        self.factory_sp_id = sp_id.unwrap_or_default();
    }

    /// Adds an application (and its service principal) owned by nobody the factory knows.
    pub fn seed(
        &mut self,
        display_name: &str,
        app_id: Option<String>,
        with_service_principal: bool,
    ) -> (Application, Option<String>) {
        let app = Application {
            id: new_id(),
            app_id: app_id.unwrap_or_else(new_id),
            unique_name: None,
            display_name: display_name.to_owned(),
            tags: Vec::new(),
            notes: None,
            identifier_uris: Vec::new(),
            sign_in_audience: "AzureADMyOrg".to_owned(),
            requested_access_token_version: None,
            app_roles: Vec::new(),
            owners: Vec::new(),
            federated_identity_credentials: Vec::new(),
            password_credentials: Vec::new(),
            key_credentials: Vec::new(),
            created_by_factory: false,
            created_date_time: crate::odata::now_iso(),
            created_at: Some(Instant::now()),
            service_principal_attempts: 0,
        };
        let sp_id = with_service_principal.then(|| {
            let sp = ServicePrincipal {
                id: new_id(),
                app_id: app.app_id.clone(),
                display_name: display_name.to_owned(),
                app_role_assignment_required: false,
                tags: Vec::new(),
                app_owner_organization_id: self.options.tenant_id.clone(),
                owners: Vec::new(),
                created_by_factory: false,
                app_role_assigned_to: Vec::new(),
                created_at: None,
            };
            let id = sp.id.clone();
            self.service_principals.insert(id.clone(), sp);
            id
        });
        self.applications.insert(app.id.clone(), app.clone());
        (app, sp_id)
    }

    /// The live service principal of this appId.
    pub fn service_principal_of(&self, app_id: &str) -> Option<&ServicePrincipal> {
        self.service_principals
            .values()
            .find(|s| s.app_id.eq_ignore_ascii_case(app_id))
    }

    pub fn objects_created_by_factory(&self) -> usize {
        self.applications
            .values()
            .filter(|a| a.created_by_factory)
            .count()
            + self
                .service_principals
                .values()
                .filter(|s| s.created_by_factory)
                .count()
            + self
                .deleted
                .values()
                .filter(|d| d.created_by_factory())
                .count()
    }

    pub fn count(&mut self, kind: String) {
        *self.calls.entry(kind).or_default() += 1;
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
