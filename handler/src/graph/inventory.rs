//! What the audit reads of Entra (DESIGN §10), and the repairs it makes there: every
//! application and service principal the factory made, live or soft-deleted, with the
//! federated identity credentials, secrets and assignments that hang off them.
//!
//! Reads only, but for the repairs at the end; each goes through the client's retries,
//! which wait out Graph's throttling (`Retry-After`) within the deadline. The reads per
//! application run a few at once.

use futures::StreamExt;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{
    GraphClient, GraphError,
    model::{FederatedIdentityCredential, ServicePrincipal, managed_by_tag},
    ops::{call, filter_path, gone_is_fine, parse, values},
};
use crate::{
    deadline::Deadline,
    domain::{
        TokenVersion,
        audit::{self, App, Deleted, DeletedKind, SecretCredential},
    },
};

/// An application as the audit lists it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    id: String,
    app_id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    created_date_time: Option<String>,
    #[serde(default)]
    api: Option<Api>,
    #[serde(default)]
    password_credentials: Vec<Secret>,
    #[serde(default)]
    key_credentials: Vec<Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Api {
    #[serde(default)]
    requested_access_token_version: Option<i64>,
}

/// A `passwordCredential` or `keyCredential` (never with its secret).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Secret {
    key_id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    start_date_time: Option<String>,
    #[serde(default)]
    end_date_time: Option<String>,
}

impl From<Secret> for SecretCredential {
    fn from(secret: Secret) -> Self {
        Self {
            key_id: secret.key_id,
            display_name: secret.display_name,
            created: secret.start_date_time,
            expires: secret.end_date_time,
        }
    }
}

impl Listed {
    fn token_version(&self) -> TokenVersion {
        match self
            .api
            .as_ref()
            .and_then(|a| a.requested_access_token_version)
        {
            Some(2) => TokenVersion::V2,
            _ => TokenVersion::V1,
        }
    }
}

/// Seconds since the epoch of an ISO 8601 time as Graph writes it (`…Z`).
pub fn epoch_seconds(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// A soft-deleted object as listed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeletedListed {
    id: String,
    app_id: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    api: Option<Api>,
}

impl GraphClient {
    /// Every live application carrying the factory's marker, with its federated identity
    /// credentials, secrets and service principal (and, where assignment is required,
    /// who is assigned), reading `concurrency` applications at once. `progress` is told
    /// how many there are (`Some`), then of each one read (`None`).
    pub async fn audit_applications(
        &self,
        concurrency: usize,
        progress: &(dyn Fn(Option<usize>) + Sync),
        deadline: Deadline,
    ) -> Result<Vec<App>, GraphError> {
        let action = "list the factory's applications";
        let filter = format!("tags/any(t:t eq '{}')", managed_by_tag());
        let listed: Vec<Listed> = self
            .list_all(action, &filter_path("/applications", &filter), deadline)
            .await?;
        let marker = managed_by_tag();
        let listed: Vec<Listed> = listed
            .into_iter()
            .filter(|a| a.tags.contains(&marker))
            .collect();
        progress(Some(listed.len()));
        let apps = futures::stream::iter(listed)
            .map(|listed| async move {
                let app = match self.audit_application(listed, deadline).await {
                    // Deleted since it was listed: it is among the deleted items now, or
                    // gone; the next audit sees it there.
                    Err(error) if error.is_not_found() => Ok(None),
                    read => read.map(Some),
                };
                progress(None);
                app
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        let apps = apps.into_iter().collect::<Result<Vec<_>, _>>()?;
        let mut apps: Vec<App> = apps.into_iter().flatten().collect();
        apps.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        Ok(apps)
    }

    async fn audit_application(
        &self,
        listed: Listed,
        deadline: Deadline,
    ) -> Result<App, GraphError> {
        let credentials = async {
            let action = format!(
                "list the federated credentials of application {}",
                listed.app_id
            );
            let path = format!("/applications/{}/federatedIdentityCredentials", listed.id);
            let body = self
                .send(call(&action, Method::GET, path), deadline)
                .await?
                .body;
            values::<FederatedIdentityCredential>(&action, body)
        };
        let service_principal = async {
            let action = format!(
                "read the service principal of application {}",
                listed.app_id
            );
            let path = format!("/servicePrincipals(appId='{}')", listed.app_id);
            let reply = gone_is_fine(self.send(call(&action, Method::GET, path), deadline).await)?;
            let Some(sp) = reply
                .map(|r| parse::<ServicePrincipal>(&action, r.body))
                .transpose()?
            else {
                return Ok(None);
            };
            let assigned = if sp.app_role_assignment_required {
                match self.list_assignments(&sp, deadline).await {
                    Ok(assignments) => {
                        Some(assignments.into_iter().map(|a| a.principal_id).collect())
                    }
                    // Without AppRoleAssignment.ReadWrite.All the assignments cannot be
                    // read (nor made): only the setting is compared.
                    Err(error) if error.is_forbidden() => None,
                    Err(error) => return Err(error),
                }
            } else {
                None
            };
            Ok::<_, GraphError>(Some(audit::ServicePrincipal {
                id: sp.id,
                assignment_required: sp.app_role_assignment_required,
                assigned,
            }))
        };
        // Markers are written by whoever owns an application: only its owners say whether
        // it is the factory's. What else is read of one that is not, is not looked at.
        let owned = self.owns(&listed.id, &listed.app_id, deadline);
        let (credentials, service_principal, owned) =
            futures::join!(credentials, service_principal, owned);
        let owned = owned?;
        let (credentials, service_principal) = if owned {
            (credentials?, service_principal?)
        } else {
            (Vec::new(), None)
        };
        let token_version = listed.token_version();
        Ok(App {
            object_id: listed.id,
            display_name: listed.display_name.unwrap_or_default(),
            created: listed.created_date_time.as_deref().and_then(epoch_seconds),
            token_version,
            passwords: listed
                .password_credentials
                .into_iter()
                .map(Into::into)
                .collect(),
            keys: listed.key_credentials.into_iter().map(Into::into).collect(),
            credentials: credentials.into_iter().map(Into::into).collect(),
            service_principal,
            owned,
            tags: listed.tags,
            app_id: listed.app_id,
        })
    }

    /// Every soft-deleted application and service principal carrying the factory's
    /// marker.
    pub async fn audit_deleted(&self, deadline: Deadline) -> Result<Vec<Deleted>, GraphError> {
        let list = |kind: &'static str| async move {
            let action = format!("list the deleted {kind}s");
            let path = format!("/directory/deletedItems/microsoft.graph.{kind}");
            self.list_all::<DeletedListed>(&action, &path, deadline)
                .await
        };
        let (apps, service_principals) =
            futures::try_join!(list("application"), list("servicePrincipal"))?;
        let marker = managed_by_tag();
        let mut deleted: Vec<Deleted> = apps
            .into_iter()
            .map(|d| (d, DeletedKind::Application))
            .chain(
                service_principals
                    .into_iter()
                    .map(|d| (d, DeletedKind::ServicePrincipal)),
            )
            .filter(|(d, _)| d.tags.contains(&marker))
            .map(|(d, kind)| Deleted {
                token_version: match d.api.and_then(|a| a.requested_access_token_version) {
                    Some(2) => TokenVersion::V2,
                    _ => TokenVersion::V1,
                },
                object_id: d.id,
                kind,
                app_id: d.app_id,
                tags: d.tags,
            })
            .collect();
        deleted.sort_by(|a, b| a.object_id.cmp(&b.object_id));
        Ok(deleted)
    }

    /// Removes the client secret `key_id` of the application `application` (object id)
    /// ("application: removePassword").
    pub async fn remove_password(
        &self,
        application: &str,
        key_id: &str,
        deadline: Deadline,
    ) -> Result<(), GraphError> {
        let action = format!("remove the client secret {key_id}");
        let mut request = call(
            &action,
            Method::POST,
            format!("/applications/{application}/removePassword"),
        );
        request.body = Some(json!({ "keyId": key_id }));
        let Err(error) = self.send(request, deadline).await else {
            return Ok(());
        };
        // A retry after an answer lost on the way back finds the secret gone, and Graph
        // refuses to remove what is not there: done, if the application says so.
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Passwords {
            #[serde(default)]
            password_credentials: Vec<Secret>,
        }
        let check = format!("{action}: check whether it is gone");
        let path = format!("/applications/{application}?$select=passwordCredentials");
        let read = self.send(call(&check, Method::GET, path), deadline).await;
        match read.and_then(|reply| parse::<Passwords>(&check, reply.body)) {
            Ok(app) if app.password_credentials.iter().all(|p| p.key_id != key_id) => Ok(()),
            _ => Err(error),
        }
    }

    /// Removes the certificate `key_id` of the application `application` (object id):
    /// its `keyCredentials` written back without it ("Update application"; `removeKey`
    /// would need a proof signed with a key the application holds).
    pub async fn remove_key(
        &self,
        application: &str,
        key_id: &str,
        deadline: Deadline,
    ) -> Result<(), GraphError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Keys {
            #[serde(default)]
            key_credentials: Vec<serde_json::Value>,
        }
        let action = format!("remove the certificate {key_id}");
        let path = format!("/applications/{application}?$select=keyCredentials");
        let keys: Keys = parse(
            &action,
            self.send(call(&action, Method::GET, path), deadline)
                .await?
                .body,
        )?;
        let kept: Vec<serde_json::Value> = keys
            .key_credentials
            .into_iter()
            .filter(|k| k["keyId"] != key_id)
            .collect();
        let mut request = call(
            &action,
            Method::PATCH,
            format!("/applications/{application}"),
        );
        request.body = Some(json!({ "keyCredentials": kept }));
        self.send(request, deadline).await.map(drop)
    }

    /// Purges the soft-deleted object `id` (gone already is done).
    pub async fn purge_deleted(&self, id: &str, deadline: Deadline) -> Result<(), GraphError> {
        self.purge(id, "an object the factory made", false, deadline)
            .await
            .map(drop)
    }
}

/// The published ids of the Microsoft Graph application permissions the factory uses
/// ("Microsoft Graph permissions reference").
pub const PERMISSION_IDS: [(&str, &str); 2] = [
    (
        super::OWNED_BY_PERMISSION,
        "18a4783c-866b-4cc7-a460-3d5e5662c884",
    ),
    (
        super::APP_ROLE_ASSIGNMENT_PERMISSION,
        "06b708a9-e830-4db3-a914-8e69da51d44f",
    ),
];

/// Where the factory's permissions were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionSource {
    /// Its service principal's app role assignments.
    Assignments,
    /// The `roles` claim of its access token (its assignments could not be read).
    Token,
}

impl GraphClient {
    /// The Microsoft Graph application permissions the factory holds, by name: read from
    /// its own service principal's app role assignments ("List appRoleAssignments granted
    /// to a service principal"), or, when it may not read them, from the `roles` claim of
    /// its access token, which lists the same grants.
    pub async fn own_permissions(
        &self,
        client_id: &str,
        deadline: Deadline,
    ) -> Result<(Vec<String>, PermissionSource), GraphError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Granted {
            app_role_id: String,
        }
        let action = "read the factory's own service principal";
        let path = format!("/servicePrincipals(appId='{client_id}')/appRoleAssignments");
        match self.send(call(action, Method::GET, path), deadline).await {
            Ok(reply) => {
                let granted = values::<Granted>(action, reply.body)?;
                let names = PERMISSION_IDS
                    .iter()
                    .filter(|(_, id)| {
                        granted
                            .iter()
                            .any(|g| g.app_role_id.eq_ignore_ascii_case(id))
                    })
                    .map(|(name, _)| (*name).to_owned())
                    .collect();
                Ok((names, PermissionSource::Assignments))
            }
            Err(error) if error.is_forbidden() => {
                let token = self.access_token(deadline).await?;
                Ok((token_roles(token.expose()), PermissionSource::Token))
            }
            Err(error) => Err(error),
        }
    }

    /// How many objects the factory has in the tenant, live and soft-deleted: each live
    /// application counts with its service principal.
    pub async fn owned_objects(&self, deadline: Deadline) -> Result<(usize, usize), GraphError> {
        #[derive(Deserialize)]
        struct Id {
            #[allow(dead_code)]
            id: String,
        }
        let filter = format!("tags/any(t:t eq '{}')", managed_by_tag());
        let path = format!("{}&$select=id", filter_path("/applications", &filter));
        let (apps, deleted) = futures::try_join!(
            self.list_all::<Id>("count the factory's applications", &path, deadline),
            self.audit_deleted(deadline)
        )?;
        Ok((apps.len() * 2 + deleted.len(), deleted.len()))
    }
}

/// The `roles` claim of an access token (a JWT), unverified: the token came from Entra
/// over TLS, to this process.
fn token_roles(token: &str) -> Vec<String> {
    use base64::Engine as _;
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|part| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    claims
        .as_ref()
        .and_then(|c| c["roles"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect()
}
