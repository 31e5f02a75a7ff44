//! The directory the emulator holds: applications, service principals, their federated
//! identity credentials and app role assignments, and soft-deleted items — shown as is by
//! the inspection API ([`Snapshot`]) and rendered in Graph's JSON by the `*_json` functions.
//!
//! Property names and shapes follow the Graph v1.0 resource pages: "application resource
//! type", "servicePrincipal resource type", "federatedIdentityCredential resource type",
//! "appRole resource type", "appRoleAssignment resource type", "passwordCredential resource
//! type", "keyCredential resource type" and "directory resource type" (`deletedItems`), all
//! under learn.microsoft.com/graph/api/resources/.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// An Entra application registration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Object id.
    pub id: String,
    /// Application (client) id.
    pub app_id: String,
    /// The client-provided alternate key (`uniqueName`), immutable once set.
    pub unique_name: Option<String>,
    /// `displayName`.
    pub display_name: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// `notes`.
    pub notes: Option<String>,
    /// `identifierUris`.
    pub identifier_uris: Vec<String>,
    /// `signInAudience`.
    pub sign_in_audience: String,
    /// `api.requestedAccessTokenVersion`.
    pub requested_access_token_version: Option<i64>,
    /// `appRoles`.
    pub app_roles: Vec<AppRole>,
    /// Object ids of the owners (service principals of the apps that created it).
    pub owners: Vec<String>,
    /// `federatedIdentityCredentials`.
    pub federated_identity_credentials: Vec<FederatedIdentityCredential>,
    /// `passwordCredentials` (client secrets; their values are not kept).
    pub password_credentials: Vec<PasswordCredential>,
    /// `keyCredentials` (certificates; their keys are not kept).
    pub key_credentials: Vec<KeyCredential>,
    /// Whether the factory created it (counts against its directory quota).
    pub created_by_factory: bool,
    /// `createdDateTime`.
    pub created_date_time: String,
    #[serde(skip)]
    pub(crate) created_at: Option<Instant>,
    #[serde(skip)]
    pub(crate) service_principal_attempts: u32,
}

/// An application role (`appRole`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    /// Role id (a GUID chosen by the client).
    pub id: String,
    /// `User`, `Application` or both.
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
    /// The `roles` claim value.
    #[serde(default)]
    pub value: Option<String>,
    /// Shown in app role assignment experiences.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the role can be assigned; must be false before the role is removed.
    #[serde(default = "default_true")]
    pub is_enabled: bool,
}

fn default_true() -> bool {
    true
}

/// A federated identity credential of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedIdentityCredential {
    /// Object id.
    pub id: String,
    /// Name, unique on the application and immutable.
    pub name: String,
    /// External token issuer.
    pub issuer: String,
    /// External token subject.
    pub subject: String,
    /// External token audiences (exactly one).
    pub audiences: Vec<String>,
    /// Description.
    pub description: Option<String>,
}

/// A client secret of an application (`passwordCredential`), without its value: Graph returns
/// `secretText` only in the answer to `addPassword`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    /// The secret's id (a GUID).
    pub key_id: String,
    /// Friendly name.
    pub display_name: Option<String>,
    /// The secret's first three characters.
    pub hint: Option<String>,
    /// When it becomes valid (ISO 8601, UTC).
    pub start_date_time: String,
    /// When it expires (ISO 8601, UTC).
    pub end_date_time: String,
}

impl PasswordCredential {
    /// A new secret valid from `start` to `end`, and its value: 40 URL-safe characters
    /// (Entra's are 16–64), whose first three are the `hint`.
    pub(crate) fn generate(
        display_name: Option<String>,
        start: time::OffsetDateTime,
        end: time::OffsetDateTime,
    ) -> (Self, String) {
        use base64::Engine;
        let random = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
        let bytes: Vec<u8> = random.iter().flat_map(|u| *u.as_bytes()).take(30).collect();
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let credential = Self {
            key_id: uuid::Uuid::new_v4().to_string(),
            display_name,
            hint: Some(secret.chars().take(3).collect()),
            start_date_time: crate::odata::iso(start),
            end_date_time: crate::odata::iso(end),
        };
        (credential, secret)
    }
}

/// A certificate of an application (`keyCredential`), without its key: Graph returns `key`
/// only to `$select=keyCredentials` on one application, and null otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    /// The key's id (a GUID).
    pub key_id: String,
    /// Friendly name.
    pub display_name: Option<String>,
    /// `AsymmetricX509Cert` or `X509CertAndPassword`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `Verify` or `Sign`.
    pub usage: String,
    /// When it becomes valid (ISO 8601, UTC).
    pub start_date_time: String,
    /// When it expires (ISO 8601, UTC).
    pub end_date_time: String,
    /// Identifies the key; by default the certificate's SHA-1 thumbprint (hex).
    pub custom_key_identifier: Option<String>,
}

/// A service principal (enterprise application).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    /// Object id: the `sub`/`oid` of its app-only tokens.
    pub id: String,
    /// The application (client) id it represents.
    pub app_id: String,
    /// `displayName`.
    pub display_name: String,
    /// `appRoleAssignmentRequired`.
    pub app_role_assignment_required: bool,
    /// `tags`.
    pub tags: Vec<String>,
    /// `appOwnerOrganizationId`: the tenant the application is registered in (this one,
    /// or another for a multi-tenant application of a third party).
    pub app_owner_organization_id: String,
    /// Object ids of the owners.
    pub owners: Vec<String>,
    /// Whether the factory created it (counts against its directory quota).
    pub created_by_factory: bool,
    /// Assignments of this resource's app roles (`appRoleAssignedTo`).
    pub app_role_assigned_to: Vec<AppRoleAssignment>,
    #[serde(skip)]
    pub(crate) created_at: Option<Instant>,
}

/// An app role granted to a principal on a resource service principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    /// Assignment id.
    pub id: String,
    /// The role.
    pub app_role_id: String,
    /// Who holds it.
    pub principal_id: String,
    /// `ServicePrincipal`.
    pub principal_type: String,
    /// The holder's display name.
    pub principal_display_name: String,
    /// The resource service principal.
    pub resource_id: String,
    /// The resource's display name.
    pub resource_display_name: String,
    /// `createdDateTime`.
    pub created_date_time: String,
}

/// A soft-deleted object in `directory/deletedItems`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "object")]
pub enum DeletedObject {
    /// A deleted application.
    Application(Application),
    /// A deleted service principal.
    ServicePrincipal(ServicePrincipal),
}

/// One entry of `directory/deletedItems`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedItem {
    /// `deletedDateTime`.
    pub deleted_date_time: String,
    /// The object as it was when deleted.
    #[serde(flatten)]
    pub object: DeletedObject,
    #[serde(skip)]
    pub(crate) deleted_at: Option<Instant>,
}

impl DeletedItem {
    /// The deleted object's id.
    pub fn id(&self) -> &str {
        match &self.object {
            DeletedObject::Application(a) => &a.id,
            DeletedObject::ServicePrincipal(s) => &s.id,
        }
    }

    pub(crate) fn owners(&self) -> &[String] {
        match &self.object {
            DeletedObject::Application(a) => &a.owners,
            DeletedObject::ServicePrincipal(s) => &s.owners,
        }
    }

    pub(crate) fn created_by_factory(&self) -> bool {
        match &self.object {
            DeletedObject::Application(a) => a.created_by_factory,
            DeletedObject::ServicePrincipal(s) => s.created_by_factory,
        }
    }
}

/// Everything the directory holds, for assertions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Live applications (the factory's own registration included).
    pub applications: Vec<Application>,
    /// Live service principals (the factory's own included).
    pub service_principals: Vec<ServicePrincipal>,
    /// Soft-deleted applications and service principals.
    pub deleted_items: Vec<DeletedItem>,
}

impl Snapshot {
    /// The live application with this `uniqueName`.
    pub fn application(&self, unique_name: &str) -> Option<&Application> {
        self.applications
            .iter()
            .find(|a| a.unique_name.as_deref() == Some(unique_name))
    }

    /// The live service principal of this appId.
    pub fn service_principal(&self, app_id: &str) -> Option<&ServicePrincipal> {
        self.service_principals.iter().find(|s| s.app_id == app_id)
    }

    /// Live and deleted objects the factory created (what its quota counts).
    pub fn objects_created_by_factory(&self) -> usize {
        self.applications
            .iter()
            .filter(|a| a.created_by_factory)
            .count()
            + self
                .service_principals
                .iter()
                .filter(|s| s.created_by_factory)
                .count()
            + self
                .deleted_items
                .iter()
                .filter(|d| d.created_by_factory())
                .count()
    }
}

pub(crate) fn application_json(app: &Application, deleted: Option<&str>) -> Value {
    let passwords: Vec<Value> = app
        .password_credentials
        .iter()
        .map(password_credential_json)
        .collect();
    let keys: Vec<Value> = app
        .key_credentials
        .iter()
        .map(key_credential_json)
        .collect();
    json!({
        "@odata.type": "#microsoft.graph.application",
        "id": app.id,
        "appId": app.app_id,
        "uniqueName": app.unique_name,
        "displayName": app.display_name,
        "tags": app.tags,
        "notes": app.notes,
        "identifierUris": app.identifier_uris,
        "signInAudience": app.sign_in_audience,
        "api": { "requestedAccessTokenVersion": app.requested_access_token_version },
        "appRoles": app.app_roles,
        "passwordCredentials": passwords,
        "keyCredentials": keys,
        "createdDateTime": app.created_date_time,
        "deletedDateTime": deleted,
    })
}

pub(crate) fn service_principal_json(
    sp: &ServicePrincipal,
    app_roles: &[AppRole],
    deleted: Option<&str>,
) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.servicePrincipal",
        "id": sp.id,
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "appDisplayName": sp.display_name,
        "servicePrincipalType": "Application",
        "accountEnabled": true,
        "appRoleAssignmentRequired": sp.app_role_assignment_required,
        "appOwnerOrganizationId": sp.app_owner_organization_id,
        "tags": sp.tags,
        "appRoles": app_roles,
        "deletedDateTime": deleted,
    })
}

/// A `passwordCredential` as listed: never with `secretText`.
pub(crate) fn password_credential_json(p: &PasswordCredential) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": p.display_name,
        "endDateTime": p.end_date_time,
        "hint": p.hint,
        "keyId": p.key_id,
        "startDateTime": p.start_date_time,
    })
}

/// A `keyCredential` as listed: `key` is null.
pub(crate) fn key_credential_json(k: &KeyCredential) -> Value {
    json!({
        "customKeyIdentifier": k.custom_key_identifier,
        "displayName": k.display_name,
        "endDateTime": k.end_date_time,
        "key": null,
        "keyId": k.key_id,
        "startDateTime": k.start_date_time,
        "type": k.type_,
        "usage": k.usage,
    })
}

pub(crate) fn federated_credential_json(fic: &FederatedIdentityCredential) -> Value {
    json!({
        "id": fic.id,
        "name": fic.name,
        "issuer": fic.issuer,
        "subject": fic.subject,
        "audiences": fic.audiences,
        "description": fic.description,
    })
}

pub(crate) fn assignment_json(a: &AppRoleAssignment) -> Value {
    json!({
        "id": a.id,
        "appRoleId": a.app_role_id,
        "principalId": a.principal_id,
        "principalType": a.principal_type,
        "principalDisplayName": a.principal_display_name,
        "resourceId": a.resource_id,
        "resourceDisplayName": a.resource_display_name,
        "createdDateTime": a.created_date_time,
        "deletedDateTime": null,
    })
}
