//! The audit (DESIGN §10): what the factory's objects in both clouds say about one
//! another, joined by their markers, and what is wrong with them. Pure: the audit's
//! front door ([`crate::audit`]) reads the clouds into an [`Inventory`] and hands it
//! here; [`findings`] joins it and names every drift once, each [`Finding`] with its
//! objects, why it matters, what to do and, where the factory can safely repair it
//! itself, the [`Repair`].
//!
//! Objects younger than the settling time ([`SETTLING_SECS`] unless the audit is told
//! otherwise) are not judged: an event may be converging or removing them right now.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::{
    AppId, Cloud, TokenVersion,
    adoption::{ForeignRole, TAG_APP_ID, TAG_STATUS},
    credentials::CredentialState,
    federation::{audience, provider_arn, provider_name},
    ownership::{
        MANAGED_BY_VALUE, TAG_ACCOUNT, TAG_GENERATION, TAG_LOGICAL_ID, TAG_MANAGED_BY, TAG_ROLE_ID,
        TAG_ROLE_NAME, TAG_STACK_ID,
    },
    record::{self, Record},
    trust::{adopted_trust, same_policy, trust_policy},
};

pub use super::ownership::Origin;

/// How long after it was made an object is left unjudged (seconds): longer than any
/// event converges or removes it, retries included.
pub const SETTLING_SECS: i64 = 15 * 60;

/// Objects a non-admin principal may create in a tenant, live and soft-deleted together
/// ("Microsoft Entra service limits and restrictions").
pub const OWNED_OBJECT_QUOTA: usize = 250;

/// Headroom under which the quota is a finding: about a dozen roles' worth.
pub const QUOTA_WARNING: usize = 25;

/// One application the factory made, live, with what hangs off it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// Object id.
    pub object_id: String,
    /// Application (client) id.
    pub app_id: String,
    /// `displayName`.
    pub display_name: String,
    /// `tags`: the factory's markers and record.
    pub tags: Vec<String>,
    /// When it was made (seconds since the epoch).
    pub created: Option<i64>,
    /// The token version it asks for.
    pub token_version: TokenVersion,
    /// Its client secrets.
    pub passwords: Vec<SecretCredential>,
    /// Its certificates.
    pub keys: Vec<SecretCredential>,
    /// Its federated identity credentials.
    pub credentials: Vec<CredentialState>,
    /// Its service principal, if it has one.
    pub service_principal: Option<ServicePrincipal>,
    /// Whether the factory is among its owners (its markers do not say: whoever owns an
    /// application may write them).
    pub owned: bool,
}

/// A password or key credential: a long-lived secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretCredential {
    /// `keyId`.
    pub key_id: String,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `startDateTime`: when it became valid, which Graph sets when it is added.
    pub created: Option<String>,
    /// `endDateTime`.
    pub expires: Option<String>,
}

/// A live application's service principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    /// Object id: the `sub` of its tokens.
    pub id: String,
    /// `appRoleAssignmentRequired`.
    pub assignment_required: bool,
    /// The principals assigned its app roles (read when assignment is required; `None`
    /// when the factory may not read them).
    pub assigned: Option<Vec<String>>,
}

/// A soft-deleted object the factory made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Object id: what a purge deletes.
    pub object_id: String,
    /// An application, or a service principal.
    pub kind: DeletedKind,
    /// The application (client) id.
    pub app_id: String,
    /// `tags` (an application's markers).
    pub tags: Vec<String>,
    /// The token version (of an application).
    pub token_version: TokenVersion,
}

/// What a soft-deleted object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedKind {
    /// An application.
    Application,
    /// A service principal.
    ServicePrincipal,
}

/// One member account, as reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account id.
    pub id: String,
    /// Its partition.
    pub partition: String,
    /// What it holds, or why it could not be read.
    pub objects: Result<AccountObjects, String>,
}

/// What one account holds of the factory's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountObjects {
    /// Roles under the role path, with when each was made (seconds since the epoch).
    pub roles: Vec<(ForeignRole, Option<i64>)>,
    /// The tenant's OIDC providers in the account.
    pub providers: Vec<Provider>,
    /// The stacks named by the factory's roles that are gone.
    pub stacks_gone: BTreeSet<String>,
}

/// An OIDC provider for one of the tenant's issuers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Its ARN.
    pub arn: String,
    /// Its client ids: the audiences it accepts.
    pub audiences: Vec<String>,
}

/// Everything read for an audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The tenant.
    pub tenant_id: String,
    /// Its cloud.
    pub cloud: Cloud,
    /// When it was read (seconds since the epoch).
    pub now: i64,
    /// The live applications carrying the factory's marker.
    pub apps: Vec<App>,
    /// The soft-deleted objects the factory made.
    pub deleted: Vec<Deleted>,
    /// The accounts audited.
    pub accounts: Vec<Account>,
    /// How many objects the factory may create ([`OWNED_OBJECT_QUOTA`] unless a
    /// directory role lifts it).
    pub quota: usize,
    /// How long after they were made objects are left unjudged (seconds).
    pub settling: i64,
}

/// The kinds of finding, in the order a report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An account could not be read.
    UnreachableAccount,
    /// An application with the factory's markers that the factory does not own.
    AppNotOwned,
    /// A workload application holds a client secret.
    PasswordCredential,
    /// A workload application holds a certificate.
    KeyCredential,
    /// A role's trust is not exactly the audience and callers of its application.
    TrustDrift,
    /// An application whose role is gone.
    AppWithoutRole,
    /// A role whose application is gone.
    RoleWithoutApp,
    /// An application without its service principal.
    ServicePrincipalMissing,
    /// Federated identity credentials changed outside the factory.
    CredentialsChanged,
    /// Assignment settings changed outside the factory.
    AssignmentChanged,
    /// An audience on a provider of an account its application does not serve.
    OrphanedAudience,
    /// A removal that stopped before its deleted items were purged.
    UnfinishedRemoval,
    /// A role whose stack is gone.
    StackGone,
    /// The factory's object quota is nearly used up.
    QuotaLow,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 14] = [
        Kind::UnreachableAccount,
        Kind::AppNotOwned,
        Kind::PasswordCredential,
        Kind::KeyCredential,
        Kind::TrustDrift,
        Kind::AppWithoutRole,
        Kind::RoleWithoutApp,
        Kind::ServicePrincipalMissing,
        Kind::CredentialsChanged,
        Kind::AssignmentChanged,
        Kind::OrphanedAudience,
        Kind::UnfinishedRemoval,
        Kind::StackGone,
        Kind::QuotaLow,
    ];

    /// Its name in reports and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Kind::UnreachableAccount => "unreachable-account",
            Kind::AppNotOwned => "app-not-owned",
            Kind::PasswordCredential => "password-credential",
            Kind::KeyCredential => "key-credential",
            Kind::TrustDrift => "trust-drift",
            Kind::AppWithoutRole => "app-without-role",
            Kind::RoleWithoutApp => "role-without-app",
            Kind::ServicePrincipalMissing => "service-principal-missing",
            Kind::CredentialsChanged => "credentials-changed",
            Kind::AssignmentChanged => "assignment-changed",
            Kind::OrphanedAudience => "orphaned-audience",
            Kind::UnfinishedRemoval => "unfinished-removal",
            Kind::StackGone => "stack-gone",
            Kind::QuotaLow => "quota-low",
        }
    }

    /// Why it matters.
    pub fn why(self) -> &'static str {
        match self {
            Kind::UnreachableAccount => {
                "nothing in this account was audited: drift there goes unseen"
            }
            Kind::AppNotOwned => {
                "it looks like the factory's, but the factory cannot change or remove it: \
                 someone else made it or took the factory off its owners, and it is left \
                 out of every other judgement"
            }
            Kind::PasswordCredential | Kind::KeyCredential => {
                "a long-lived secret can get tokens for this application from anywhere, \
                 for as long as it is valid: exactly what federation exists to avoid"
            }
            Kind::TrustDrift => {
                "the role admits callers its application does not name, or none at all"
            }
            Kind::AppWithoutRole => {
                "an application nobody can use: it holds objects of the factory's quota and \
                 its audience stays on the provider"
            }
            Kind::RoleWithoutApp => {
                "nobody can get tokens for the role's audience any more: its workload is \
                 locked out"
            }
            Kind::ServicePrincipalMissing => {
                "the application cannot sign in or be signed in to: its role is unusable"
            }
            Kind::CredentialsChanged => {
                "the workloads that may get tokens for the role are not the ones its owner \
                 declared"
            }
            Kind::AssignmentChanged => {
                "which callers may get tokens for the role is not what its owner declared"
            }
            Kind::OrphanedAudience => {
                "a role of this account can be made to trust tokens meant for another \
                 account's role, and the audience holds one of the provider's 100 client ids"
            }
            Kind::UnfinishedRemoval => {
                "soft-deleted objects count against the factory's quota for 30 days, and an \
                 audience left on the provider holds one of its 100 client ids"
            }
            Kind::StackGone => {
                "no stack will ever update or delete this role and its application: they \
                 stay until someone removes them"
            }
            Kind::QuotaLow => {
                "once the quota is used up, every Create fails until objects are purged"
            }
        }
    }
}

/// What an object in a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectKind {
    /// A member account.
    Account,
    /// An IAM role.
    Role,
    /// An Entra application.
    Application,
    /// A service principal.
    ServicePrincipal,
    /// A soft-deleted application.
    DeletedApplication,
    /// A soft-deleted service principal.
    DeletedServicePrincipal,
    /// A client id on an OIDC provider.
    Audience,
    /// A client secret.
    PasswordCredential,
    /// A certificate.
    KeyCredential,
    /// A federated identity credential.
    FederatedCredential,
    /// A CloudFormation stack.
    Stack,
}

/// One object a finding names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    /// What it is.
    pub kind: ObjectKind,
    /// Its id or ARN.
    pub id: String,
    /// Its name, or where it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it was made, where that matters (a secret's start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

impl Object {
    fn new(kind: ObjectKind, id: &str, name: Option<&str>) -> Self {
        Self {
            kind,
            id: id.to_owned(),
            name: name.map(str::to_owned),
            created: None,
        }
    }
}

/// A generation, as its application's markers name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationRef {
    /// The account its role lives in.
    pub account: String,
    /// The generation key.
    pub generation: String,
    /// What asked for it.
    pub origin: Origin,
    /// The token version of its application.
    #[serde(serialize_with = "version_number")]
    pub token_version: TokenVersion,
}

fn version_number<S: serde::Serializer>(v: &TokenVersion, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(match v {
        TokenVersion::V1 => 1,
        TokenVersion::V2 => 2,
    })
}

impl GenerationRef {
    /// The generation an application's `tags` mark (`None`: not the factory's, or marked
    /// incompletely).
    pub fn from_tags(tags: &[String], token_version: TokenVersion) -> Option<Self> {
        let value = |key: &str| {
            let prefix = format!("{key}=");
            tags.iter()
                .find_map(|t| t.strip_prefix(prefix.as_str()).map(str::to_owned))
        };
        if value(TAG_MANAGED_BY).as_deref() != Some(MANAGED_BY_VALUE) {
            return None;
        }
        let account = value(TAG_ACCOUNT)
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))?;
        let origin = match (value(TAG_ROLE_ID), value(TAG_ROLE_NAME)) {
            (Some(id), Some(name)) => Origin::Role { name, id },
            _ => Origin::Resource {
                stack_id: value(TAG_STACK_ID)?,
                logical_id: value(TAG_LOGICAL_ID)?,
            },
        };
        Some(Self {
            account,
            generation: value(TAG_GENERATION)?,
            origin,
            token_version,
        })
    }
}

/// What `--fix` may do about a finding: only ever to what is the factory's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Repair {
    /// Removes the generation: its application, service principal and audience, purged
    /// (and its role, were it still there and marked as the generation's).
    RemoveGeneration(GenerationRef),
    /// Sets the trust of the role back to its application's audience and callers, if
    /// the role still has the trust the audit saw.
    #[serde(rename_all = "camelCase")]
    RestoreTrust {
        /// The role's account.
        account: String,
        /// The role's name.
        role_name: String,
        /// The role's unique id.
        role_id: String,
        /// The trust the audit saw.
        seen: String,
        /// The trust to set.
        trust: String,
    },
    /// Purges a soft-deleted object.
    #[serde(rename_all = "camelCase")]
    PurgeDeleted {
        /// Its object id.
        object_id: String,
    },
    /// Removes a client secret (only when asked for by kind).
    #[serde(rename_all = "camelCase")]
    RemovePassword {
        /// The application's object id.
        application: String,
        /// The secret's `keyId`.
        key_id: String,
    },
    /// Removes a certificate (only when asked for by kind).
    #[serde(rename_all = "camelCase")]
    RemoveKey {
        /// The application's object id.
        application: String,
        /// The certificate's `keyId`.
        key_id: String,
    },
}

/// One drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// What kind.
    pub kind: Kind,
    /// The account it is in, where it is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The objects it concerns.
    pub objects: Vec<Object>,
    /// What exactly is wrong.
    pub detail: String,
    /// Why it matters.
    pub why: &'static str,
    /// What to do.
    pub action: String,
    /// What `--fix` does about it, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<Repair>,
}

/// The factory's share of the tenant's object quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Objects it may create.
    pub limit: usize,
    /// Objects it has, live and soft-deleted.
    pub used: usize,
    /// Of which soft-deleted.
    pub deleted: usize,
    /// What is left.
    pub headroom: usize,
}

/// Counts of what was audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Accounts audited.
    pub accounts: usize,
    /// Of which unreachable.
    pub unreachable_accounts: usize,
    /// Live applications of the factory's.
    pub applications: usize,
    /// Roles of the factory's (made by it, or federated by it).
    pub roles: usize,
    /// Soft-deleted objects of the factory's.
    pub deleted_items: usize,
    /// Objects younger than the settling time, left unjudged.
    pub settling: usize,
    /// Applications without a record of what the factory made (made by an earlier
    /// version: their credentials and assignments are checked once they converge again).
    pub unrecorded: usize,
    /// Audiences on the tenant's providers that no application of the factory's names:
    /// not the factory's, left alone.
    pub foreign_audiences: usize,
    /// The quota.
    pub quota: Quota,
    /// Findings by kind.
    pub findings: BTreeMap<&'static str, usize>,
}

/// The audit's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Every drift, once, in [`Kind`] order.
    pub findings: Vec<Finding>,
    /// What was audited.
    pub summary: Summary,
}

impl Report {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// A role of the factory's, as its tags say.
enum RoleOf {
    /// Made by the custom resource for this generation.
    Resource(String),
    /// Made outside CloudFormation; federated by the factory (its application's id).
    Adopted(Option<String>),
}

fn role_of(role: &ForeignRole) -> Option<RoleOf> {
    let tag = |key: &str| {
        role.tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    if role.made_by_the_resource() {
        return tag(TAG_GENERATION).map(RoleOf::Resource);
    }
    (tag(TAG_STATUS).as_deref() == Some("federated")).then(|| RoleOf::Adopted(tag(TAG_APP_ID)))
}

fn settling(inventory: &Inventory, created: Option<i64>) -> bool {
    created.is_some_and(|at| inventory.now - at < inventory.settling)
}

/// The subjects the trust's statement for `provider` admits (`key:sub` under
/// `StringEquals`), as written.
fn trusted_subjects(trust: &str, provider: &str, key: &str) -> Vec<String> {
    let Ok(policy) = serde_json::from_str::<Value>(trust) else {
        return Vec::new();
    };
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    statements
        .iter()
        .filter(|s| s["Principal"]["Federated"] == provider)
        .flat_map(
            |s| match &s["Condition"]["StringEquals"][format!("{key}:sub")] {
                Value::String(one) => vec![one.clone()],
                Value::Array(many) => many
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            },
        )
        .collect()
}

/// What the trust of `role` should be for its application, and whether it is: `None`
/// when it is; else what is wrong and the trust to restore (`None` when none can be
/// built).
fn trust_drift(
    role: &ForeignRole,
    adopted: bool,
    provider: &str,
    issuer: &str,
    audience: &str,
    own: &str,
    record: Option<&Record>,
) -> Option<(String, Option<String>)> {
    let key = provider_name(issuer);
    let written = trusted_subjects(&role.trust, provider, key);
    let others: Vec<&str> = written
        .iter()
        .map(String::as_str)
        .filter(|s| !s.eq_ignore_ascii_case(own))
        .collect();
    // The callers it admits are the recorded ones (or, without a record, whatever it
    // names besides the application's own); else only the application itself.
    let verified = written.iter().any(|s| s.eq_ignore_ascii_case(own))
        && record.is_none_or(|r| record::callers(&others) == r.callers);
    let subjects: Vec<String> = if verified {
        written.clone()
    } else {
        vec![own.to_owned()]
    };
    let ours = trust_policy(provider, issuer, audience, &subjects).ok()?;
    let wanted = if adopted {
        adopted_trust(&role.trust, provider, Some(&ours)).ok()
    } else {
        Some(ours)
    };
    if wanted
        .as_deref()
        .is_some_and(|w| same_policy(w, &role.trust))
    {
        return None;
    }
    let detail = if written.is_empty() {
        "its trust has no statement for the tenant's provider pinned on a caller".to_owned()
    } else if !verified {
        "its trust admits callers other than the ones the factory wrote".to_owned()
    } else {
        "its trust is not exactly the audience and callers of its application".to_owned()
    };
    let detail = if verified {
        detail
    } else {
        format!(
            "{detail}; restoring admits only the application's own service principal \
             until its stack is updated or its role converges again"
        )
    };
    Some((detail, wanted))
}

/// The role of `generation` among an account's roles: by generation for a stack's, by
/// unique id for a role made outside CloudFormation.
fn role_of_generation<'a>(
    objects: &'a AccountObjects,
    generation: &GenerationRef,
) -> Option<&'a (ForeignRole, Option<i64>)> {
    objects
        .roles
        .iter()
        .find(|(role, _)| match &generation.origin {
            Origin::Resource { .. } => {
                matches!(role_of(role), Some(RoleOf::Resource(g)) if g == generation.generation)
            }
            Origin::Role { id, .. } => &role.id == id,
        })
}

/// Joins `inventory` and names every drift once.
pub fn findings(inventory: &Inventory) -> Report {
    let mut found: Vec<Finding> = Vec::new();
    let mut summary = Summary {
        accounts: inventory.accounts.len(),
        unreachable_accounts: 0,
        applications: inventory.apps.iter().filter(|app| app.owned).count(),
        roles: 0,
        deleted_items: inventory.deleted.len(),
        settling: 0,
        unrecorded: 0,
        foreign_audiences: 0,
        quota: quota(inventory),
        findings: BTreeMap::new(),
    };
    let reached: BTreeMap<&str, (&Account, &AccountObjects)> = inventory
        .accounts
        .iter()
        .filter_map(|a| a.objects.as_ref().ok().map(|o| (a.id.as_str(), (a, o))))
        .collect();
    for account in &inventory.accounts {
        if let Err(error) = &account.objects {
            summary.unreachable_accounts += 1;
            found.push(Finding {
                kind: Kind::UnreachableAccount,
                account: Some(account.id.clone()),
                objects: vec![Object::new(ObjectKind::Account, &account.id, None)],
                detail: error.clone(),
                why: Kind::UnreachableAccount.why(),
                action: "check that the member role is deployed in the account and that \
                         this principal may assume it, then audit again"
                    .to_owned(),
                repair: None,
            });
        }
    }

    // The generations each application of the factory's serves.
    let apps: Vec<(&App, GenerationRef)> = inventory
        .apps
        .iter()
        .filter(|app| app.owned)
        .filter_map(|app| Some((app, GenerationRef::from_tags(&app.tags, app.token_version)?)))
        .collect();
    let deleted_apps: Vec<(&Deleted, GenerationRef)> = inventory
        .deleted
        .iter()
        .filter(|d| d.kind == DeletedKind::Application)
        .filter_map(|d| Some((d, GenerationRef::from_tags(&d.tags, d.token_version)?)))
        .collect();
    let issuer = |version| inventory.cloud.issuer(&inventory.tenant_id, version);
    // Every audience an application of the factory's (live or deleted) names: its account.
    let mut audiences: BTreeMap<String, (&str, bool)> = BTreeMap::new();
    for (app, generation) in &apps {
        if let Some(aud) = app_audience(&app.app_id, app.token_version) {
            audiences.insert(aud, (generation.account.as_str(), true));
        }
    }
    for (deleted, generation) in &deleted_apps {
        if let Some(aud) = app_audience(&deleted.app_id, deleted.token_version) {
            audiences
                .entry(aud)
                .or_insert((generation.account.as_str(), false));
        }
    }

    // Roles of the factory's, per account: by generation, and by unique id.
    let mut judged_roles: BTreeSet<(String, String)> = BTreeSet::new();

    // Applications that carry the factory's markers but not the factory as an owner are
    // reported as such, with the role their markers name, and judged no further: nothing
    // about them is the factory's to say. The role is still judged on its own (a copy of
    // its markers must not hide that its own application is gone).
    for app in inventory.apps.iter().filter(|app| !app.owned) {
        if settling(inventory, app.created) {
            // Graph's owners of an application made a moment ago may not show it yet.
            summary.settling += 1;
            continue;
        }
        let generation = GenerationRef::from_tags(&app.tags, app.token_version);
        let mut objects = vec![Object::new(
            ObjectKind::Application,
            &app.app_id,
            Some(&app.display_name),
        )];
        if let Some(generation) = &generation
            && let Some((_, account_objects)) = reached.get(generation.account.as_str())
            && let Some((role, _)) = role_of_generation(account_objects, generation)
        {
            objects.push(Object::new(
                ObjectKind::Role,
                &role.arn,
                Some(role.name.as_str()),
            ));
        }
        found.push(Finding {
            kind: Kind::AppNotOwned,
            account: generation.map(|generation| generation.account),
            objects,
            detail: "the application carries the factory's markers, but the factory is not \
                     among its owners"
                .to_owned(),
            why: Kind::AppNotOwned.why(),
            action: "find out who made it or changed its owners (Entra's audit log): remove \
                     it if it is a copy, or add the factory's service principal back as its \
                     owner if it is the factory's"
                .to_owned(),
            repair: None,
        });
    }

    for (app, generation) in &apps {
        let Some((account, objects)) = reached.get(generation.account.as_str()) else {
            continue;
        };
        let role = role_of_generation(objects, generation);
        let app_object = Object::new(
            ObjectKind::Application,
            &app.app_id,
            Some(&app.display_name),
        );
        let asks = |role: &ForeignRole| match generation.origin {
            Origin::Resource { .. } => true,
            Origin::Role { .. } => role.opted_in(),
        };
        if let Some((role, _)) = role {
            judged_roles.insert((generation.account.clone(), role.id.clone()));
        }
        let Some((role, _)) = role.filter(|(role, _)| asks(role)) else {
            if settling(inventory, app.created) {
                summary.settling += 1;
                continue;
            }
            let detail = match (&generation.origin, role) {
                (Origin::Role { name, .. }, Some(_)) => format!(
                    "the role {name} no longer carries the opt-in tag, but its application is still there"
                ),
                (Origin::Role { name, id }, None) => {
                    format!("the role {name} (id {id}) is gone")
                }
                (
                    Origin::Resource {
                        stack_id,
                        logical_id,
                    },
                    _,
                ) => format!(
                    "no role of generation {} is left in the account (resource {logical_id} of stack {stack_id})",
                    generation.generation
                ),
            };
            let mut objects = vec![app_object];
            if let Some(sp) = &app.service_principal {
                objects.push(Object::new(ObjectKind::ServicePrincipal, &sp.id, None));
            }
            found.push(Finding {
                kind: Kind::AppWithoutRole,
                account: Some(generation.account.clone()),
                objects,
                detail,
                why: Kind::AppWithoutRole.why(),
                action: "remove the application, its service principal and its audience \
                         (`--fix` does)"
                    .to_owned(),
                repair: Some(Repair::RemoveGeneration(generation.clone())),
            });
            continue;
        };
        let role_object = Object::new(ObjectKind::Role, &role.arn, Some(role.name.as_str()));
        let record = Record::from_tags(&app.tags);
        if record.is_none() {
            summary.unrecorded += 1;
        }
        let converge_again = match &generation.origin {
            Origin::Resource { .. } => {
                "update the resource: any change of its properties (a tag will do) makes it \
                 converge again"
            }
            Origin::Role { .. } => {
                "wait for the next sweep, or change a tag of the role, which converges it again"
            }
        };

        // Long-lived secrets.
        for (kind, object_kind, credentials) in [
            (
                Kind::PasswordCredential,
                ObjectKind::PasswordCredential,
                &app.passwords,
            ),
            (Kind::KeyCredential, ObjectKind::KeyCredential, &app.keys),
        ] {
            for credential in credentials {
                let mut secret = Object::new(
                    object_kind,
                    &credential.key_id,
                    credential.display_name.as_deref(),
                );
                secret.created = credential.created.clone();
                let repair = match kind {
                    Kind::PasswordCredential => Repair::RemovePassword {
                        application: app.object_id.clone(),
                        key_id: credential.key_id.clone(),
                    },
                    _ => Repair::RemoveKey {
                        application: app.object_id.clone(),
                        key_id: credential.key_id.clone(),
                    },
                };
                let which = match kind {
                    Kind::PasswordCredential => "password",
                    _ => "key",
                };
                found.push(Finding {
                    kind,
                    account: Some(generation.account.clone()),
                    objects: vec![app_object.clone(), secret, role_object.clone()],
                    detail: format!(
                        "the application holds a {} credential{}{}",
                        if kind == Kind::PasswordCredential { "client secret (password)" } else { "certificate (key)" },
                        credential.created.as_ref().map(|c| format!(", valid since {c}")).unwrap_or_default(),
                        credential.expires.as_ref().map(|c| format!(" until {c}")).unwrap_or_default(),
                    ),
                    why: kind.why(),
                    action: format!(
                        "find out who added it and why, and revoke it (`--fix --remove-credentials {which}` does)"
                    ),
                    repair: Some(repair),
                });
            }
        }

        let Some(sp) = &app.service_principal else {
            found.push(Finding {
                kind: Kind::ServicePrincipalMissing,
                account: Some(generation.account.clone()),
                objects: vec![app_object, role_object],
                detail: "the application has no service principal".to_owned(),
                why: Kind::ServicePrincipalMissing.why(),
                action: converge_again.to_owned(),
                repair: None,
            });
            continue;
        };

        // The trust.
        let issuer = issuer(app.token_version);
        let provider = provider_arn(&account.partition, &account.id, &issuer);
        let aud = app_audience(&app.app_id, app.token_version).unwrap_or_default();
        let adopted = matches!(generation.origin, Origin::Role { .. });
        if let Some((detail, restored)) = trust_drift(
            role,
            adopted,
            &provider,
            &issuer,
            &aud,
            &sp.id,
            record.as_ref(),
        ) {
            let repair = restored.map(|trust| Repair::RestoreTrust {
                account: generation.account.clone(),
                role_name: role.name.to_string(),
                role_id: role.id.clone(),
                seen: role.trust.clone(),
                trust,
            });
            found.push(Finding {
                kind: Kind::TrustDrift,
                account: Some(generation.account.clone()),
                objects: vec![role_object.clone(), app_object.clone()],
                detail,
                why: Kind::TrustDrift.why(),
                action: "find out who changed the trust; restore it to the application's \
                         audience and callers (`--fix` does)"
                    .to_owned(),
                repair,
            });
        }

        // What the factory recorded against what is there.
        if let Some(record) = &record {
            if record::observed_credentials(&app.credentials) != record.credentials {
                let mut objects = vec![app_object.clone(), role_object.clone()];
                objects.extend(
                    app.credentials.iter().map(|c| {
                        Object::new(ObjectKind::FederatedCredential, &c.id, Some(&c.name))
                    }),
                );
                found.push(Finding {
                    kind: Kind::CredentialsChanged,
                    account: Some(generation.account.clone()),
                    objects,
                    detail: format!(
                        "the application's federated identity credentials ({} now) are not the ones the factory made",
                        app.credentials.len()
                    ),
                    why: Kind::CredentialsChanged.why(),
                    action: format!("find out who changed them; {converge_again}"),
                    repair: None,
                });
            }
            let mut changes = Vec::new();
            if sp.assignment_required != record.assignment_required {
                changes.push(format!(
                    "appRoleAssignmentRequired is {}, the factory set {}",
                    sp.assignment_required, record.assignment_required
                ));
            }
            if let Some(assigned) = sp.assigned.as_ref().filter(|_| sp.assignment_required) {
                let assigned: Vec<&str> = assigned
                    .iter()
                    .map(String::as_str)
                    .filter(|p| !p.eq_ignore_ascii_case(&sp.id))
                    .collect();
                if record::callers(&assigned) != record.callers {
                    changes.push(format!(
                        "the app role is assigned to {} principals besides the application, not the ones the factory assigned",
                        assigned.len()
                    ));
                }
            }
            if !changes.is_empty() {
                found.push(Finding {
                    kind: Kind::AssignmentChanged,
                    account: Some(generation.account.clone()),
                    objects: vec![
                        app_object.clone(),
                        Object::new(ObjectKind::ServicePrincipal, &sp.id, None),
                        role_object.clone(),
                    ],
                    detail: changes.join("; "),
                    why: Kind::AssignmentChanged.why(),
                    action: format!("find out who changed them; {converge_again}"),
                    repair: None,
                });
            }
        }

        // The stack.
        if let Origin::Resource {
            stack_id,
            logical_id,
        } = &generation.origin
            && objects.stacks_gone.contains(stack_id)
        {
            found.push(Finding {
                kind: Kind::StackGone,
                account: Some(generation.account.clone()),
                objects: vec![
                    role_object.clone(),
                    app_object.clone(),
                    Object::new(ObjectKind::Stack, stack_id, Some(logical_id)),
                ],
                detail: "the stack that declared the role is deleted (the resource was \
                         retained, or its deletion failed)"
                    .to_owned(),
                why: Kind::StackGone.why(),
                action: "if the role is still used, declare it in a stack again; if not, \
                         delete the role and then audit with `--fix`, which removes its \
                         application"
                    .to_owned(),
                repair: None,
            });
        }
    }

    // Roles of the factory's that no application serves.
    for account in &inventory.accounts {
        let Ok(objects) = &account.objects else {
            continue;
        };
        for (role, created) in &objects.roles {
            let Some(of) = role_of(role) else {
                continue;
            };
            summary.roles += 1;
            if judged_roles.contains(&(account.id.clone(), role.id.clone())) {
                continue;
            }
            if settling(inventory, *created) {
                summary.settling += 1;
                continue;
            }
            let role_object = Object::new(ObjectKind::Role, &role.arn, Some(role.name.as_str()));
            let mut objects = vec![role_object];
            let deleted = deleted_apps.iter().find(|(_, g)| {
                g.account == account.id
                    && match (&of, &g.origin) {
                        (RoleOf::Resource(generation), Origin::Resource { .. }) => {
                            &g.generation == generation
                        }
                        (RoleOf::Adopted(_), Origin::Role { id, .. }) => id == &role.id,
                        _ => false,
                    }
            });
            if let Some((deleted, _)) = deleted {
                objects.push(Object::new(
                    ObjectKind::DeletedApplication,
                    &deleted.object_id,
                    Some(&deleted.app_id),
                ));
            }
            let (detail, action) = match &of {
                RoleOf::Resource(generation) => (
                    format!(
                        "no live application of generation {generation}{}",
                        if deleted.is_some() {
                            "; it was deleted"
                        } else {
                            ""
                        }
                    ),
                    "update the resource (any change of its properties, a tag will do, makes \
                     it converge again), or delete it",
                ),
                RoleOf::Adopted(app) => (
                    format!(
                        "the role says it is federated with application {}, which is gone{}",
                        app.as_deref().unwrap_or("?"),
                        if deleted.is_some() { " (deleted)" } else { "" }
                    ),
                    "wait for the next sweep, which federates it again, or change one of \
                     its tags",
                ),
            };
            found.push(Finding {
                kind: Kind::RoleWithoutApp,
                account: Some(account.id.clone()),
                objects,
                detail,
                why: Kind::RoleWithoutApp.why(),
                action: action.to_owned(),
                repair: None,
            });
        }
    }

    // Removals that stopped before the purges.
    for (deleted, generation) in &deleted_apps {
        let Some((_, objects)) = reached.get(generation.account.as_str()) else {
            continue;
        };
        let role_left =
            objects
                .roles
                .iter()
                .any(|(role, _)| match (&generation.origin, role_of(role)) {
                    (Origin::Resource { .. }, Some(RoleOf::Resource(g))) => {
                        g == generation.generation
                    }
                    (Origin::Role { id, .. }, Some(RoleOf::Adopted(_))) => &role.id == id,
                    _ => false,
                });
        let live = apps
            .iter()
            .any(|(_, g)| g.generation == generation.generation);
        if role_left || live {
            // Reported with its role, or superseded by a live application.
            continue;
        }
        let mut objects_named = vec![Object::new(
            ObjectKind::DeletedApplication,
            &deleted.object_id,
            Some(&deleted.app_id),
        )];
        objects_named.extend(
            inventory
                .deleted
                .iter()
                .filter(|d| d.kind == DeletedKind::ServicePrincipal && d.app_id == deleted.app_id)
                .map(|d| Object::new(ObjectKind::DeletedServicePrincipal, &d.object_id, None)),
        );
        let aud = app_audience(&deleted.app_id, deleted.token_version);
        for provider in &objects.providers {
            if let Some(aud) = aud.as_ref().filter(|a| provider.audiences.contains(a)) {
                objects_named.push(Object::new(ObjectKind::Audience, aud, Some(&provider.arn)));
            }
        }
        found.push(Finding {
            kind: Kind::UnfinishedRemoval,
            account: Some(generation.account.clone()),
            objects: objects_named,
            detail: format!(
                "generation {} was removed, but its deleted items were never purged",
                generation.generation
            ),
            why: Kind::UnfinishedRemoval.why(),
            action: "finish the removal: remove the audience and purge the deleted items \
                     (`--fix` does)"
                .to_owned(),
            repair: Some(Repair::RemoveGeneration(generation.clone())),
        });
    }
    // Deleted service principals whose application is gone for good.
    for deleted in inventory
        .deleted
        .iter()
        .filter(|d| d.kind == DeletedKind::ServicePrincipal)
    {
        let known = inventory.apps.iter().any(|a| a.app_id == deleted.app_id)
            || deleted_apps.iter().any(|(d, _)| d.app_id == deleted.app_id);
        if known {
            continue;
        }
        found.push(Finding {
            kind: Kind::UnfinishedRemoval,
            account: None,
            objects: vec![Object::new(
                ObjectKind::DeletedServicePrincipal,
                &deleted.object_id,
                Some(&deleted.app_id),
            )],
            detail: "a deleted service principal outlived its application".to_owned(),
            why: Kind::UnfinishedRemoval.why(),
            action: "purge it (`--fix` does)".to_owned(),
            repair: Some(Repair::PurgeDeleted {
                object_id: deleted.object_id.clone(),
            }),
        });
    }

    // Audiences on the tenant's providers.
    for account in &inventory.accounts {
        let Ok(objects) = &account.objects else {
            continue;
        };
        for provider in &objects.providers {
            for aud in &provider.audiences {
                match audiences.get(aud) {
                    None => summary.foreign_audiences += 1,
                    Some((owner, _)) if *owner == account.id => {}
                    Some((owner, live)) => found.push(Finding {
                        kind: Kind::OrphanedAudience,
                        account: Some(account.id.clone()),
                        objects: vec![Object::new(ObjectKind::Audience, aud, Some(&provider.arn))],
                        detail: format!(
                            "the audience of {} application of account {owner} is on this account's provider",
                            if *live { "an" } else { "a deleted" }
                        ),
                        why: Kind::OrphanedAudience.why(),
                        // The factory never put it there: it is not the factory's to remove.
                        action: format!(
                            "the factory puts an application's audience only on its own \
                             account's provider: find out who put it here and why; if no role \
                             here should trust that application, remove it (aws iam \
                             remove-client-id-from-open-id-connect-provider \
                             --open-id-connect-provider-arn {} --client-id {aud})",
                            provider.arn
                        ),
                        repair: None,
                    }),
                }
            }
        }
    }

    if summary.quota.headroom < QUOTA_WARNING {
        let quota = &summary.quota;
        found.push(Finding {
            kind: Kind::QuotaLow,
            account: None,
            objects: Vec::new(),
            detail: format!(
                "the factory has {} of its {} objects ({} of them soft-deleted): {} left",
                quota.used, quota.limit, quota.deleted, quota.headroom
            ),
            why: Kind::QuotaLow.why(),
            action: "purge what is soft-deleted (`--fix` purges what belongs to finished \
                     removals), or give the factory a directory role that lifts the quota \
                     (see the troubleshooting guide)"
                .to_owned(),
            repair: None,
        });
    }

    found.sort_by(|a, b| (a.kind, &a.account, &a.objects).cmp(&(b.kind, &b.account, &b.objects)));
    for finding in &found {
        *summary.findings.entry(finding.kind.name()).or_default() += 1;
    }
    Report {
        findings: found,
        summary,
    }
}

fn quota(inventory: &Inventory) -> Quota {
    // Only what the factory owns counts against its quota.
    let owned = || inventory.apps.iter().filter(|a| a.owned);
    let live = owned().count() + owned().filter(|a| a.service_principal.is_some()).count();
    let deleted = inventory.deleted.len();
    let used = live + deleted;
    Quota {
        limit: inventory.quota,
        used,
        deleted,
        headroom: inventory.quota.saturating_sub(used),
    }
}

/// The audience of the application `app_id` (`None`: not an application id).
fn app_audience(app_id: &str, version: TokenVersion) -> Option<String> {
    AppId::parse(app_id).ok().map(|id| audience(&id, version))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::domain::{
        RoleName,
        adoption::TAG_FEDERATE,
        ownership::{TAG_ROLE, TAG_STACK_ID},
    };

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const ACCOUNT: &str = "222222222222";
    const OTHER: &str = "333333333333";
    const STACK: &str = "arn:aws:cloudformation:eu-west-1:222222222222:stack/ci/0e5b";
    const APP_ID: &str = "a1a1a1a1-0000-4000-8000-000000000001";
    const OWN_SP: &str = "5b5b5b5b-0000-4000-8000-000000000001";
    const TRUSTED_SP: &str = "7c7c7c7c-0000-4000-8000-000000000001";
    const NOW: i64 = 1_800_000_000;
    const LONG_AGO: Option<i64> = Some(NOW - 86_400);

    fn issuer() -> String {
        Cloud::Public.issuer(TENANT, TokenVersion::V1)
    }

    fn provider(account: &str) -> String {
        provider_arn("aws", account, &issuer())
    }

    fn aud() -> String {
        format!("api://{APP_ID}")
    }

    fn resource_tags() -> Vec<String> {
        vec![
            format!("{TAG_MANAGED_BY}={MANAGED_BY_VALUE}"),
            format!("{TAG_GENERATION}=g1"),
            format!("{TAG_ACCOUNT}={ACCOUNT}"),
            format!("{TAG_LOGICAL_ID}=CiRole"),
            format!("{TAG_STACK_ID}={STACK}"),
            Record::wanted(&[], &[TRUSTED_SP], false).tag(),
        ]
    }

    fn app() -> App {
        App {
            object_id: "app-object-1".into(),
            app_id: APP_ID.into(),
            display_name: "ci CiRole".into(),
            tags: resource_tags(),
            created: LONG_AGO,
            token_version: TokenVersion::V1,
            passwords: Vec::new(),
            keys: Vec::new(),
            credentials: Vec::new(),
            service_principal: Some(ServicePrincipal {
                id: OWN_SP.into(),
                assignment_required: false,
                assigned: None,
            }),
            owned: true,
        }
    }

    fn trust(subjects: &[&str]) -> String {
        let subjects: Vec<String> = subjects.iter().map(|s| (*s).to_owned()).collect();
        trust_policy(&provider(ACCOUNT), &issuer(), &aud(), &subjects).unwrap()
    }

    fn role() -> ForeignRole {
        ForeignRole {
            name: RoleName::parse("ci-role").unwrap(),
            path: "/entra-federated/".into(),
            id: "AROAROLE1".into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:role/entra-federated/ci-role"),
            trust: trust(&[OWN_SP, TRUSTED_SP]),
            boundary: None,
            tags: vec![
                (TAG_MANAGED_BY.into(), MANAGED_BY_VALUE.into()),
                (TAG_GENERATION.into(), "g1".into()),
                (TAG_STACK_ID.into(), STACK.into()),
                (TAG_LOGICAL_ID.into(), "CiRole".into()),
            ],
            managed: Vec::new(),
        }
    }

    fn account(id: &str, roles: Vec<ForeignRole>, audiences: Vec<String>) -> Account {
        Account {
            id: id.into(),
            partition: "aws".into(),
            objects: Ok(AccountObjects {
                roles: roles.into_iter().map(|r| (r, LONG_AGO)).collect(),
                providers: vec![Provider {
                    arn: provider(id),
                    audiences,
                }],
                stacks_gone: BTreeSet::new(),
            }),
        }
    }

    fn clean() -> Inventory {
        Inventory {
            tenant_id: TENANT.into(),
            cloud: Cloud::Public,
            now: NOW,
            apps: vec![app()],
            deleted: Vec::new(),
            accounts: vec![account(ACCOUNT, vec![role()], vec![aud()])],
            quota: OWNED_OBJECT_QUOTA,
            settling: SETTLING_SECS,
        }
    }

    fn objects_of(account: &mut Account) -> &mut AccountObjects {
        account.objects.as_mut().unwrap()
    }

    /// Each finding's kind and the ids of its objects.
    fn kinds(report: &Report) -> Vec<(Kind, Vec<String>)> {
        report
            .findings
            .iter()
            .map(|f| (f.kind, f.objects.iter().map(|o| o.id.clone()).collect()))
            .collect()
    }

    #[test]
    fn a_deployment_as_the_factory_left_it_is_clean() {
        let report = findings(&clean());
        assert_eq!(kinds(&report), []);
        let summary = &report.summary;
        assert_eq!(
            (
                summary.accounts,
                summary.applications,
                summary.roles,
                summary.unrecorded
            ),
            (1, 1, 1, 0)
        );
        assert_eq!(summary.quota.used, 2);
        assert_eq!(summary.quota.headroom, OWNED_OBJECT_QUOTA - 2);
        assert!(report.is_clean());
    }

    #[test]
    fn a_secret_on_a_workload_app_is_named_with_its_id_and_start() {
        let mut inventory = clean();
        inventory.apps[0].passwords.push(SecretCredential {
            key_id: "k-pass".into(),
            display_name: Some("added by hand".into()),
            created: Some("2026-12-01T10:00:00Z".into()),
            expires: Some("2028-12-01T10:00:00Z".into()),
        });
        inventory.apps[0].keys.push(SecretCredential {
            key_id: "k-cert".into(),
            display_name: None,
            created: None,
            expires: None,
        });
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [
                (
                    Kind::PasswordCredential,
                    vec![APP_ID.into(), "k-pass".into(), role().arn]
                ),
                (
                    Kind::KeyCredential,
                    vec![APP_ID.into(), "k-cert".into(), role().arn]
                ),
            ]
        );
        let password = &report.findings[0];
        assert_eq!(
            password.objects[1].created.as_deref(),
            Some("2026-12-01T10:00:00Z")
        );
        assert_eq!(
            password.repair,
            Some(Repair::RemovePassword {
                application: "app-object-1".into(),
                key_id: "k-pass".into()
            })
        );
        assert_eq!(report.summary.findings["password-credential"], 1);
    }

    #[test]
    fn a_look_alike_the_factory_does_not_own_is_named_and_judged_no_further() {
        // A copy of the healthy application's markers under another appId, which
        // someone else owns: it would otherwise be an application without its role.
        let mut inventory = clean();
        let look_alike = App {
            object_id: "app-object-2".into(),
            app_id: "a1a1a1a1-0000-4000-8000-000000000002".into(),
            service_principal: None,
            owned: false,
            ..app()
        };
        inventory.apps.push(look_alike);
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [(
                Kind::AppNotOwned,
                vec!["a1a1a1a1-0000-4000-8000-000000000002".into(), role().arn]
            )]
        );
        assert_eq!(report.findings[0].account.as_deref(), Some(ACCOUNT));
        assert_eq!(report.findings[0].repair, None, "never repaired");
        // The factory's own application, with its markers and its owner gone, is
        // reported the same way and not as drift of its role.
        let mut inventory = clean();
        inventory.apps[0].owned = false;
        let report = findings(&inventory);
        assert_eq!(report.findings[0].kind, Kind::AppNotOwned);
        assert_eq!(
            report.findings[1..]
                .iter()
                .map(|f| f.kind)
                .collect::<Vec<_>>(),
            [Kind::RoleWithoutApp],
            "its role has no application of the factory's"
        );
        assert_eq!(report.summary.applications, 0);
        // One made a moment ago is left for its owners to show.
        let mut inventory = clean();
        inventory.apps[0].owned = false;
        inventory.apps[0].created = Some(NOW);
        inventory.accounts.clear();
        assert_eq!(kinds(&findings(&inventory)), []);
    }

    #[test]
    fn a_widened_trust_is_restored_to_its_callers() {
        let mut inventory = clean();
        let mut widened: Value = serde_json::from_str(&role().trust).unwrap();
        let mut extra = widened["Statement"][0].clone();
        extra["Condition"] = Value::Null;
        widened["Statement"].as_array_mut().unwrap().push(extra);
        let roles = &mut objects_of(&mut inventory.accounts[0]).roles;
        roles[0].0.trust = widened.to_string();
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [(Kind::TrustDrift, vec![role().arn, APP_ID.into()])]
        );
        match &report.findings[0].repair {
            Some(Repair::RestoreTrust { trust, seen, .. }) => {
                assert!(same_policy(trust, &role().trust), "{trust}");
                assert_eq!(seen, &widened.to_string());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_trust_whose_callers_were_changed_is_restored_to_the_app_alone() {
        let mut inventory = clean();
        let roles = &mut objects_of(&mut inventory.accounts[0]).roles;
        roles[0].0.trust = trust(&[OWN_SP, "mallory"]);
        let report = findings(&inventory);
        assert_eq!(report.findings.len(), 1);
        assert!(
            report.findings[0].detail.contains("other than"),
            "{}",
            report.findings[0].detail
        );
        match &report.findings[0].repair {
            Some(Repair::RestoreTrust {
                trust: restored, ..
            }) => {
                assert!(same_policy(restored, &trust(&[OWN_SP])), "{restored}");
            }
            other => panic!("{other:?}"),
        }
        // An audience-only trust, or a sealed one, is drift too.
        for drifted in [
            trust(&[OWN_SP]).replace(
                &format!(",\"{}:sub\":\"{OWN_SP}\"", provider_name(&issuer())),
                "",
            ),
            crate::domain::trust::sealed_trust_policy(),
        ] {
            let mut inventory = clean();
            objects_of(&mut inventory.accounts[0]).roles[0].0.trust = drifted.clone();
            assert_eq!(
                findings(&inventory).findings[0].kind,
                Kind::TrustDrift,
                "{drifted}"
            );
        }
    }

    #[test]
    fn an_app_whose_role_is_gone_is_removed_with_its_audience_once() {
        let mut inventory = clean();
        objects_of(&mut inventory.accounts[0]).roles.clear();
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [(Kind::AppWithoutRole, vec![APP_ID.into(), OWN_SP.into()])]
        );
        match &report.findings[0].repair {
            Some(Repair::RemoveGeneration(generation)) => {
                assert_eq!(
                    (generation.account.as_str(), generation.generation.as_str()),
                    (ACCOUNT, "g1")
                );
            }
            other => panic!("{other:?}"),
        }
        // Made a moment ago: an event may be converging it right now.
        inventory.apps[0].created = Some(NOW - 60);
        let report = findings(&inventory);
        assert_eq!(kinds(&report), []);
        assert_eq!(report.summary.settling, 1);
    }

    #[test]
    fn a_role_whose_app_is_gone_is_named_with_the_deleted_app() {
        let mut inventory = clean();
        let app = inventory.apps.remove(0);
        inventory.deleted.push(Deleted {
            object_id: app.object_id.clone(),
            kind: DeletedKind::Application,
            app_id: app.app_id.clone(),
            tags: app.tags.clone(),
            token_version: TokenVersion::V1,
        });
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [(
                Kind::RoleWithoutApp,
                vec![role().arn, "app-object-1".into()]
            )]
        );
        assert_eq!(report.findings[0].repair, None);
    }

    #[test]
    fn an_app_without_its_service_principal_is_named_with_its_role() {
        let mut inventory = clean();
        inventory.apps[0].service_principal = None;
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [(
                Kind::ServicePrincipalMissing,
                vec![APP_ID.into(), role().arn]
            )]
        );
        assert_eq!(report.findings[0].repair, None);
        assert_eq!(report.summary.quota.used, 1);
    }

    #[test]
    fn changes_to_credentials_and_assignments_are_told_apart() {
        let mut inventory = clean();
        inventory.apps[0].credentials.push(CredentialState {
            id: "fic-1".into(),
            name: "backdoor".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: "repo:mallory/x:ref:refs/heads/main".into(),
            audiences: vec!["api://AzureADTokenExchange".into()],
            description: None,
        });
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [(
                Kind::CredentialsChanged,
                vec![APP_ID.into(), role().arn, "fic-1".into()]
            )]
        );
        let mut inventory = clean();
        let sp = inventory.apps[0].service_principal.as_mut().unwrap();
        sp.assignment_required = true;
        sp.assigned = Some(vec![OWN_SP.into(), TRUSTED_SP.into()]);
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [(
                Kind::AssignmentChanged,
                vec![APP_ID.into(), OWN_SP.into(), role().arn]
            )]
        );
        assert!(
            report.findings[0]
                .detail
                .contains("appRoleAssignmentRequired is true")
        );
        // Made by an earlier version: nothing recorded, nothing judged.
        let mut inventory = clean();
        inventory.apps[0].tags.pop();
        inventory.apps[0]
            .service_principal
            .as_mut()
            .unwrap()
            .assignment_required = true;
        let report = findings(&inventory);
        assert_eq!(kinds(&report), []);
        assert_eq!(report.summary.unrecorded, 1);
    }

    #[test]
    fn an_unfinished_removal_names_its_deleted_items_and_audience_once() {
        let mut inventory = clean();
        let app = inventory.apps.remove(0);
        objects_of(&mut inventory.accounts[0]).roles.clear();
        inventory.deleted = vec![
            Deleted {
                object_id: "deleted-app".into(),
                kind: DeletedKind::Application,
                app_id: app.app_id.clone(),
                tags: app.tags.clone(),
                token_version: TokenVersion::V1,
            },
            Deleted {
                object_id: "deleted-sp".into(),
                kind: DeletedKind::ServicePrincipal,
                app_id: app.app_id.clone(),
                tags: Vec::new(),
                token_version: TokenVersion::V1,
            },
        ];
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [(
                Kind::UnfinishedRemoval,
                vec!["deleted-app".into(), "deleted-sp".into(), aud()]
            )]
        );
        assert!(matches!(
            report.findings[0].repair,
            Some(Repair::RemoveGeneration(_))
        ));
        assert_eq!(report.summary.quota.deleted, 2);
    }

    #[test]
    fn an_audience_on_another_accounts_provider_is_orphaned() {
        let mut inventory = clean();
        inventory.accounts.push(account(
            OTHER,
            Vec::new(),
            vec![aud(), "api://someone-elses".into()],
        ));
        let report = findings(&inventory);
        assert_eq!(kinds(&report), [(Kind::OrphanedAudience, vec![aud()])]);
        assert_eq!(report.findings[0].account.as_deref(), Some(OTHER));
        assert_eq!(report.summary.foreign_audiences, 1);
        // The factory did not put it there: people decide.
        assert_eq!(report.findings[0].repair, None);
        assert!(report.findings[0].action.contains(&provider(OTHER)));
    }

    #[test]
    fn a_role_whose_stack_is_gone_is_reported_not_repaired() {
        let mut inventory = clean();
        objects_of(&mut inventory.accounts[0])
            .stacks_gone
            .insert(STACK.into());
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [(
                Kind::StackGone,
                vec![role().arn, APP_ID.into(), STACK.into()]
            )]
        );
        assert_eq!(report.findings[0].repair, None);
    }

    #[test]
    fn the_quota_is_a_finding_only_near_its_end() {
        let mut inventory = clean();
        let deleted = |i: usize| Deleted {
            object_id: format!("d{i}"),
            kind: DeletedKind::ServicePrincipal,
            app_id: APP_ID.into(),
            tags: Vec::new(),
            token_version: TokenVersion::V1,
        };
        inventory.deleted = (0..OWNED_OBJECT_QUOTA - 2 - QUOTA_WARNING)
            .map(deleted)
            .collect();
        assert_eq!(kinds(&findings(&inventory)), []);
        inventory.deleted.push(deleted(999));
        let report = findings(&inventory);
        assert_eq!(kinds(&report), [(Kind::QuotaLow, vec![])]);
        assert_eq!(report.summary.quota.headroom, QUOTA_WARNING - 1);
    }

    #[test]
    fn an_unreachable_account_is_a_finding_and_its_objects_go_unjudged() {
        let mut inventory = clean();
        inventory.accounts[0].objects = Err("AccessDenied: not authorised to assume".into());
        let report = findings(&inventory);
        assert_eq!(
            kinds(&report),
            [(Kind::UnreachableAccount, vec![ACCOUNT.into()])]
        );
        assert_eq!(report.summary.unreachable_accounts, 1);
    }

    fn adopted() -> (App, ForeignRole) {
        let mut app = app();
        app.tags = vec![
            format!("{TAG_MANAGED_BY}={MANAGED_BY_VALUE}"),
            format!("{TAG_GENERATION}=g2"),
            format!("{TAG_ACCOUNT}={ACCOUNT}"),
            format!("{TAG_ROLE}={ACCOUNT}/deploy-web"),
            format!("{TAG_ROLE_ID}=AROAADOPTED"),
            format!("{TAG_ROLE_NAME}=deploy-web"),
            Record::wanted(&[], &[], false).tag(),
        ];
        let ec2 = serde_json::json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"});
        let mut policy: Value = serde_json::from_str(&trust(&[OWN_SP])).unwrap();
        policy["Statement"].as_array_mut().unwrap().insert(0, ec2);
        let role = ForeignRole {
            name: RoleName::parse("deploy-web").unwrap(),
            path: "/entra-federated/".into(),
            id: "AROAADOPTED".into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:role/entra-federated/deploy-web"),
            trust: policy.to_string(),
            boundary: None,
            tags: vec![
                (TAG_FEDERATE.into(), "true".into()),
                (TAG_STATUS.into(), "federated".into()),
                (TAG_APP_ID.into(), APP_ID.into()),
            ],
            managed: Vec::new(),
        };
        (app, role)
    }

    #[test]
    fn a_role_made_outside_cloudformation_keeps_its_own_statements() {
        let (app, role) = adopted();
        let mut inventory = clean();
        inventory.apps = vec![app];
        inventory.accounts = vec![account(ACCOUNT, vec![role.clone()], vec![aud()])];
        assert_eq!(kinds(&findings(&inventory)), []);
        // Its owner took the opt-in tag off, but its application is still there.
        let mut opted_out = role;
        opted_out.tags.retain(|(k, _)| k != TAG_FEDERATE);
        inventory.accounts = vec![account(ACCOUNT, vec![opted_out], vec![aud()])];
        let report = findings(&inventory);
        assert_eq!(report.findings.len(), 1, "{report:#?}");
        assert_eq!(report.findings[0].kind, Kind::AppWithoutRole);
        assert!(report.findings[0].detail.contains("opt-in"));
    }

    #[test]
    fn reports_serialise_with_kebab_case_kinds() {
        let mut inventory = clean();
        objects_of(&mut inventory.accounts[0]).roles.clear();
        let json = serde_json::to_value(findings(&inventory)).unwrap();
        assert_eq!(json["findings"][0]["kind"], "app-without-role");
        assert_eq!(json["findings"][0]["repair"]["kind"], "removeGeneration");
        assert_eq!(json["findings"][0]["repair"]["origin"]["kind"], "resource");
        assert_eq!(json["findings"][0]["repair"]["origin"]["stackId"], STACK);
        assert_eq!(json["summary"]["findings"]["app-without-role"], 1);
        assert_eq!(
            Kind::ALL.map(|k| serde_json::to_value(k).unwrap()),
            Kind::ALL.map(|k| Value::from(k.name()))
        );
    }
}
