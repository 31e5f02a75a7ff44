//! The operations the resource performs in Entra, each idempotent: run twice, they
//! converge on the same state and the second run changes nothing.

use futures::future::try_join_all;
use reqwest::Method;
use serde_json::{Value, json};

use super::AdoptedApp;
use super::GraphClient;
use super::error::{APP_ROLE_ASSIGNMENT_PERMISSION, GraphError, OWNED_BY_PERMISSION};
use super::http::Call;
use super::model::{
    AppOwner, AppRoleAssignment, Application, ApplicationSpec, Changes,
    FederatedIdentityCredential, Located, ServicePrincipal, TrustedClient, UniqueName, Upserted,
    WorkloadSpec, managed_by_tag, role_tag, tagged_role,
};
use crate::deadline::Deadline;
use crate::domain::ownership::TAG_ROLE;
use crate::domain::{
    AppId, FederatedCredential,
    app_role::{AppRole, AppRoleWrites, app_role_writes, assignment_writes},
    credentials::{CredentialState, credential_writes},
};
use crate::settle::settle_all;

/// How often a deleted service principal is looked for right after its application was
/// soft-deleted, before concluding there is none.
const DELETED_ITEM_SEARCHES: u32 = 4;

pub(super) fn call(action: &str, method: Method, path: String) -> Call<'_> {
    Call {
        action,
        method,
        path,
        body: None,
        prefer: None,
        permission: OWNED_BY_PERMISSION,
        replicating: false,
    }
}

/// A call addressing, by its object id, an object this event has just made or read: a
/// 404 is Graph's replication lag, not the object's absence, and is waited out.
/// `path` with `$filter` set to `filter`, escaped.
pub(super) fn filter_path(path: &str, filter: &str) -> String {
    let filter: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    format!("{path}?$filter={filter}")
}

fn on_known_object(action: &str, method: Method, path: String) -> Call<'_> {
    Call {
        replicating: true,
        ..call(action, method, path)
    }
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(
    action: &str,
    body: Option<Value>,
) -> Result<T, GraphError> {
    let body = body.ok_or_else(|| GraphError::InvalidResponse {
        action: action.to_owned(),
        detail: "the body is empty".to_owned(),
    })?;
    serde_json::from_value(body).map_err(|e| GraphError::InvalidResponse {
        action: action.to_owned(),
        detail: e.to_string(),
    })
}

pub(super) fn values<T: serde::de::DeserializeOwned>(
    action: &str,
    body: Option<Value>,
) -> Result<Vec<T>, GraphError> {
    #[derive(serde::Deserialize)]
    struct List<T> {
        value: Vec<T>,
    }
    parse::<List<T>>(action, body).map(|l| l.value)
}

/// `Ok` for 404: the object is already gone.
pub(super) fn gone_is_fine<T>(result: Result<T, GraphError>) -> Result<Option<T>, GraphError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

impl GraphClient {
    /// Creates or updates the workload application by its `uniqueName` ("Upsert
    /// application": `PATCH /applications(uniqueName='…')` with `Prefer:
    /// create-if-missing`; 201 created, 204 updated) with its display name, token version,
    /// `signInAudience` AzureADMyOrg and ownership `tags` and `notes`. An application under
    /// that name that the factory does not own is [`GraphError::NotOurs`] and is not changed.
    pub async fn upsert_application(
        &self,
        spec: &ApplicationSpec,
        deadline: Deadline,
    ) -> Result<Upserted, GraphError> {
        self.upsert(spec, false, deadline).await
    }

    /// [`GraphClient::upsert_application`] for an application that most likely exists (an
    /// in-place Update). Graph answers an update with no body, so the application is read
    /// at the same time instead of after it. The read may predate the update; what the
    /// later steps use of it — object id, appId, identifier URIs, app roles — the upsert
    /// does not change.
    pub async fn upsert_existing_application(
        &self,
        spec: &ApplicationSpec,
        deadline: Deadline,
    ) -> Result<Upserted, GraphError> {
        self.upsert(spec, true, deadline).await
    }

    async fn upsert(
        &self,
        spec: &ApplicationSpec,
        read_ahead: bool,
        deadline: Deadline,
    ) -> Result<Upserted, GraphError> {
        let action = format!("upsert the Entra application {}", spec.unique_name);
        let mut request = call(&action, Method::PATCH, spec.unique_name.key_segment());
        request.prefer = Some("create-if-missing");
        request.body = Some(json!({
            "displayName": spec.display_name.as_str(),
            "signInAudience": ApplicationSpec::SIGN_IN_AUDIENCE,
            "api": { "requestedAccessTokenVersion": spec.requested_version() },
            "tags": spec.tags(),
            "notes": spec.owner.notes(),
        }));
        let read = async {
            if read_ahead {
                Some(self.get_application(&spec.unique_name, deadline).await)
            } else {
                None
            }
        };
        let (sent, read) = tokio::join!(self.send(request, deadline), read);
        // The application as read ahead, or read now.
        let read_back = || async {
            match read {
                Some(Ok(Some(app))) => Ok(Some(app)),
                _ => self.get_application(&spec.unique_name, deadline).await,
            }
        };
        match sent {
            Ok(reply) if reply.status == 201 => Ok(Upserted {
                application: parse(&action, reply.body)?,
                created: true,
            }),
            Ok(_) => {
                let application =
                    read_back()
                        .await?
                        .ok_or_else(|| GraphError::InvalidResponse {
                            action: action.clone(),
                            detail: "the application was updated but cannot be read back"
                                .to_owned(),
                        })?;
                Ok(Upserted {
                    application,
                    created: false,
                })
            }
            Err(error) if error.is_forbidden() => {
                // Either someone else's app holds the name, or the factory may not create
                // apps at all: only the first is "not ours".
                match read_back().await {
                    Ok(None) => Err(error),
                    Ok(Some(_)) | Err(GraphError::Forbidden { .. }) => Err(GraphError::NotOurs {
                        what: format!("the Entra application with uniqueName {}", spec.unique_name),
                    }),
                    Err(other) => Err(other),
                }
            }
            Err(error) => Err(error),
        }
    }

    async fn get_application(
        &self,
        unique_name: &UniqueName,
        deadline: Deadline,
    ) -> Result<Option<Application>, GraphError> {
        let action = format!("read the Entra application {unique_name}");
        let reply = gone_is_fine(
            self.send(
                call(&action, Method::GET, unique_name.key_segment()),
                deadline,
            )
            .await,
        )?;
        reply.map(|r| parse(&action, r.body)).transpose()
    }

    /// Reads the application with this `uniqueName` for Delete and crash recovery: `None`
    /// when there is none, [`GraphError::NotOurs`] when it exists but is not `owner`'s (its
    /// tags are not this generation's, or Graph refuses the read). Graph lets the factory
    /// read applications it does not own: one that copied the tags is returned, and Graph's
    /// refusal of the delete that follows is what tells.
    pub async fn find_application(
        &self,
        unique_name: &UniqueName,
        owner: &AppOwner,
        deadline: Deadline,
    ) -> Result<Option<Application>, GraphError> {
        let not_ours = || GraphError::NotOurs {
            what: format!("the Entra application with uniqueName {unique_name}"),
        };
        match self.get_application(unique_name, deadline).await {
            Ok(Some(app)) if owner.owns(&app.tags) => Ok(Some(app)),
            Ok(Some(_)) => Err(not_ours()),
            Ok(None) => Ok(None),
            Err(error) if error.is_forbidden() => Err(not_ours()),
            Err(error) => Err(error),
        }
    }

    /// Sets `identifierUris` to exactly `api://<appId>` (the v1 token audience) unless it
    /// already is.
    pub async fn ensure_identifier_uri(
        &self,
        application: &Application,
        deadline: Deadline,
    ) -> Result<(), GraphError> {
        let uri = application.identifier_uri();
        if application.identifier_uris == [uri.clone()] {
            return Ok(());
        }
        let action = format!(
            "set the identifier URI of application {}",
            application.app_id
        );
        let mut request = on_known_object(
            &action,
            Method::PATCH,
            format!("/applications/{}", application.id),
        );
        request.body = Some(json!({ "identifierUris": [uri] }));
        self.send(request, deadline).await.map(drop)
    }

    async fn get_service_principal(
        &self,
        app_id: &str,
        deadline: Deadline,
    ) -> Result<Option<ServicePrincipal>, GraphError> {
        let action = format!("read the service principal of application {app_id}");
        let reply = gone_is_fine(
            self.send(
                call(
                    &action,
                    Method::GET,
                    format!("/servicePrincipals(appId='{app_id}')"),
                ),
                deadline,
            )
            .await,
        )?;
        reply.map(|r| parse(&action, r.body)).transpose()
    }

    async fn set_assignment_required(
        &self,
        sp: ServicePrincipal,
        required: bool,
        deadline: Deadline,
    ) -> Result<ServicePrincipal, GraphError> {
        if sp.app_role_assignment_required == required {
            return Ok(sp);
        }
        let action = format!("update the service principal of application {}", sp.app_id);
        let mut request = on_known_object(
            &action,
            Method::PATCH,
            format!("/servicePrincipals/{}", sp.id),
        );
        request.body = Some(json!({ "appRoleAssignmentRequired": required }));
        match self.send(request, deadline).await {
            Ok(_) => Ok(ServicePrincipal {
                app_role_assignment_required: required,
                ..sp
            }),
            Err(error) if error.is_forbidden() => Err(GraphError::NotOurs {
                what: format!("the service principal of application {}", sp.app_id),
            }),
            Err(error) => Err(error),
        }
    }

    /// Ensures the application's service principal exists with `appRoleAssignmentRequired`
    /// = `assignment_required` ("Create servicePrincipal"). Right after the app is created
    /// Graph may answer `NoBackingApplicationObject` until the app has replicated: retried
    /// with backoff within `deadline`. A 409 means it exists: it is read instead.
    /// `just_created` skips the initial read that would only find nothing.
    pub async fn ensure_service_principal(
        &self,
        application: &Application,
        owner: &AppOwner,
        assignment_required: bool,
        just_created: bool,
        deadline: Deadline,
    ) -> Result<ServicePrincipal, GraphError> {
        if !just_created
            && let Some(sp) = self
                .get_service_principal(&application.app_id, deadline)
                .await?
        {
            return self
                .set_assignment_required(sp, assignment_required, deadline)
                .await;
        }
        let action = format!(
            "create the service principal of application {}",
            application.app_id
        );
        let mut retries = 0u32;
        loop {
            let mut request = call(&action, Method::POST, "/servicePrincipals".to_owned());
            request.body = Some(json!({
                "appId": application.app_id,
                "appRoleAssignmentRequired": assignment_required,
                "tags": owner.tags(),
            }));
            match self.send(request, deadline).await {
                Ok(reply) => return parse(&action, reply.body),
                Err(GraphError::Conflict { .. }) => {
                    let sp = self
                        .get_service_principal(&application.app_id, deadline)
                        .await?
                        .ok_or_else(|| GraphError::InvalidResponse {
                            action: action.clone(),
                            detail: "409 conflict, yet no service principal exists".to_owned(),
                        })?;
                    return self
                        .set_assignment_required(sp, assignment_required, deadline)
                        .await;
                }
                Err(GraphError::Rejected { detail, .. })
                    if detail.has_code("NoBackingApplicationObject") =>
                {
                    retries += 1;
                    let wait = self.policy.propagation_pause(retries);
                    if !deadline.allows(wait) {
                        return Err(GraphError::Transient {
                            action,
                            last: format!("{detail} (the new application has not replicated yet)"),
                            attempts: retries,
                            wait: Some(wait),
                        });
                    }
                    tracing::info!(app_id = %application.app_id, retry = retries, wait_ms = wait.as_millis() as u64, "application not replicated yet, retrying service principal");
                    tokio::time::sleep(wait).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Makes the application's federated identity credentials exactly `desired`: adds the
    /// missing ones, updates changed ones in place and removes the others — all by name
    /// (every credential on our own app is ours). Removals go first, so the 20-credential
    /// limit and the issuer + subject uniqueness hold throughout. An application
    /// `just_created` by this very request has none yet, so they are not listed.
    ///
    /// A conflict means a credential is there that the list did not show: an earlier
    /// attempt of this very call landed though its answer was lost, or a redelivery of
    /// the event made it meanwhile. The credentials are then read again and converged
    /// from what is there, once.
    pub async fn converge_federated_credentials(
        &self,
        application: &Application,
        desired: &[FederatedCredential],
        just_created: bool,
        deadline: Deadline,
    ) -> Result<Changes, GraphError> {
        match self
            .converge_federated_credentials_once(application, desired, just_created, deadline)
            .await
        {
            Err(GraphError::Conflict { .. }) => {
                tracing::info!(app_id = %application.app_id, "a federated credential exists already; reading them again");
                self.converge_federated_credentials_once(application, desired, false, deadline)
                    .await
            }
            other => other,
        }
    }

    async fn converge_federated_credentials_once(
        &self,
        application: &Application,
        desired: &[FederatedCredential],
        just_created: bool,
        deadline: Deadline,
    ) -> Result<Changes, GraphError> {
        let base = format!(
            "/applications/{}/federatedIdentityCredentials",
            application.id
        );
        let action = format!(
            "list the federated credentials of application {}",
            application.app_id
        );
        let existing: Vec<FederatedIdentityCredential> = if just_created {
            Vec::new()
        } else {
            values(
                &action,
                self.send(
                    on_known_object(&action, Method::GET, base.clone()),
                    deadline,
                )
                .await?
                .body,
            )?
        };
        let existing: Vec<CredentialState> = existing.into_iter().map(Into::into).collect();
        let writes = credential_writes(desired, &existing);
        if !writes.is_empty() {
            tracing::info!(app_id = %application.app_id, plan = %writes, "converging the federated credentials");
        }
        let removals = writes.remove.iter().map(|fic| {
            let base = &base;
            async move {
                let action = format!(
                    "remove federated credential {} of application {}",
                    fic.name, application.app_id
                );
                gone_is_fine(
                    self.send(
                        call(&action, Method::DELETE, format!("{base}/{}", fic.id)),
                        deadline,
                    )
                    .await,
                )
            }
        });
        settle_all(removals).await?;

        let body = |d: &FederatedCredential| {
            json!({
                "name": d.name.as_str(),
                "issuer": d.issuer.as_str(),
                "subject": d.subject.as_str(),
                "audiences": [d.audience.as_str()],
                "description": d.description.as_ref().map(|x| x.as_str()),
            })
        };
        let update_calls = writes.update.iter().map(|(present, wanted)| {
            let mut patch = body(wanted);
            if let Some(object) = patch.as_object_mut() {
                object.remove("name");
            }
            let base = &base;
            async move {
                let action = format!(
                    "update federated credential {} of application {}",
                    present.name, application.app_id
                );
                let mut request =
                    on_known_object(&action, Method::PATCH, format!("{base}/{}", present.id));
                request.body = Some(patch);
                self.send(request, deadline).await
            }
        });
        settle_all(update_calls).await?;

        let create_calls = writes.create.iter().map(|wanted| {
            let base = &base;
            let payload = body(wanted);
            async move {
                let action = format!(
                    "add federated credential {} to application {}",
                    wanted.name, application.app_id
                );
                let mut request = on_known_object(&action, Method::POST, base.clone());
                request.body = Some(payload);
                self.send(request, deadline).await
            }
        });
        settle_all(create_calls).await?;
        Ok(Changes {
            created: writes.create.iter().map(|c| c.name.to_string()).collect(),
            updated: writes.update.iter().map(|(c, _)| c.name.clone()).collect(),
            removed: writes.remove.iter().map(|c| c.name.clone()).collect(),
        })
    }

    /// Resolves `TrustedClientAppIds` to their service principals (reading any principal of
    /// the tenant is allowed); an appId without one is [`GraphError::UnknownTrustedClient`].
    pub async fn resolve_trusted_clients(
        &self,
        app_ids: &[AppId],
        deadline: Deadline,
    ) -> Result<Vec<TrustedClient>, GraphError> {
        try_join_all(app_ids.iter().map(|app_id| async move {
            match self
                .get_service_principal(app_id.as_str(), deadline)
                .await?
            {
                Some(sp) => Ok(TrustedClient {
                    app_id: app_id.clone(),
                    service_principal_id: sp.id,
                    owner_tenant_id: sp.app_owner_organization_id,
                }),
                None => Err(GraphError::UnknownTrustedClient {
                    app_id: app_id.clone(),
                }),
            }
        }))
        .await
    }

    async fn set_app_roles(
        &self,
        application: &Application,
        roles: &[AppRole],
        deadline: Deadline,
    ) -> Result<(), GraphError> {
        let action = format!("set the app roles of application {}", application.app_id);
        let mut request = on_known_object(
            &action,
            Method::PATCH,
            format!("/applications/{}", application.id),
        );
        request.body = Some(json!({ "appRoles": roles }));
        self.send(request, deadline).await.map(drop)
    }

    pub(super) async fn list_assignments(
        &self,
        sp: &ServicePrincipal,
        deadline: Deadline,
    ) -> Result<Vec<AppRoleAssignment>, GraphError> {
        let action = format!("list the app role assignments of application {}", sp.app_id);
        let mut request = on_known_object(
            &action,
            Method::GET,
            format!("/servicePrincipals/{}/appRoleAssignedTo", sp.id),
        );
        request.permission = APP_ROLE_ASSIGNMENT_PERMISSION;
        values(&action, self.send(request, deadline).await?.body)
    }

    async fn remove_assignments(
        &self,
        sp: &ServicePrincipal,
        assignments: &[&AppRoleAssignment],
        deadline: Deadline,
    ) -> Result<(), GraphError> {
        settle_all(assignments.iter().map(|a| async move {
            let action = format!(
                "remove the app role assignment of {} on application {}",
                a.principal_id, sp.app_id
            );
            let mut request = call(
                &action,
                Method::DELETE,
                format!("/servicePrincipals/{}/appRoleAssignedTo/{}", sp.id, a.id),
            );
            request.permission = APP_ROLE_ASSIGNMENT_PERMISSION;
            gone_is_fine(self.send(request, deadline).await)
        }))
        .await
        .map(drop)
    }

    async fn assign(
        &self,
        application: &Application,
        sp: &ServicePrincipal,
        role_id: &str,
        principal: &str,
        deadline: Deadline,
    ) -> Result<(), GraphError> {
        let action = format!(
            "assign the app role of application {} to service principal {principal}",
            application.app_id
        );
        let mut request = on_known_object(
            &action,
            Method::POST,
            format!("/servicePrincipals/{}/appRoleAssignedTo", sp.id),
        );
        request.permission = APP_ROLE_ASSIGNMENT_PERMISSION;
        request.body = Some(json!({
            "principalId": principal,
            "resourceId": sp.id,
            "appRoleId": role_id,
        }));
        match self.send(request, deadline).await {
            Ok(_) => Ok(()),
            // A lost answer to an earlier identical request.
            Err(GraphError::Rejected { detail, .. })
                if detail.message.contains("already exists") =>
            {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// `RequireAppRoleAssignment`: when `required`, the application has our enabled
    /// application-type app role ([`APP_ROLE_VALUE`](crate::domain::app_role::APP_ROLE_VALUE)) and exactly `principals` (service
    /// principal ids: the app's own and the trusted clients') hold it; when not, its
    /// assignments and the role are removed (as [`app_role_writes`] plans). Granting
    /// needs `AppRoleAssignment.ReadWrite.All`: a 403 is a [`GraphError::Forbidden`] naming
    /// it. The service principal's `appRoleAssignmentRequired` is set by
    /// [`GraphClient::ensure_service_principal`].
    pub async fn converge_app_role_assignments(
        &self,
        application: &Application,
        sp: &ServicePrincipal,
        principals: &[String],
        required: bool,
        deadline: Deadline,
    ) -> Result<Changes, GraphError> {
        let new_id = uuid::Uuid::new_v4().to_string();
        let (role_id, wanted) = match app_role_writes(&application.app_roles, required, &new_id) {
            AppRoleWrites::Nothing => return Ok(Changes::default()),
            AppRoleWrites::Assign { role_id } => (role_id, principals),
            AppRoleWrites::SetThenAssign { role_sets, role_id } => {
                for roles in &role_sets {
                    self.set_app_roles(application, roles, deadline).await?;
                }
                (role_id, principals)
            }
            AppRoleWrites::Withdraw { role_id, role_sets } => {
                let changes = self
                    .converge_assignments(application, sp, &role_id, &[], deadline)
                    .await?;
                for roles in &role_sets {
                    self.set_app_roles(application, roles, deadline).await?;
                }
                return Ok(changes);
            }
        };
        self.converge_assignments(application, sp, &role_id, wanted, deadline)
            .await
    }

    /// Exactly `wanted` hold the app role `role_id`.
    async fn converge_assignments(
        &self,
        application: &Application,
        sp: &ServicePrincipal,
        role_id: &str,
        wanted: &[String],
        deadline: Deadline,
    ) -> Result<Changes, GraphError> {
        let mut held = self.list_assignments(sp, deadline).await?;
        held.retain(|a| a.app_role_id == role_id);
        let writes = assignment_writes(&held, |a| &a.principal_id, wanted);
        self.remove_assignments(sp, &writes.remove, deadline)
            .await?;
        settle_all(
            writes
                .add
                .iter()
                .map(|principal| self.assign(application, sp, role_id, principal, deadline)),
        )
        .await?;
        Ok(Changes {
            created: writes.add.iter().map(|p| (*p).to_owned()).collect(),
            removed: writes
                .remove
                .iter()
                .map(|a| a.principal_id.clone())
                .collect(),
            ..Changes::default()
        })
    }

    /// Purges the deleted item `id`: whether it was there. A `just_deleted` item is there
    /// even while Graph does not show it yet.
    pub(super) async fn purge(
        &self,
        id: &str,
        what: &str,
        just_deleted: bool,
        deadline: Deadline,
    ) -> Result<bool, GraphError> {
        let action = format!("purge {what} from deleted items");
        let path = format!("/directory/deletedItems/{id}");
        let request = if just_deleted {
            on_known_object(&action, Method::DELETE, path)
        } else {
            call(&action, Method::DELETE, path)
        };
        let purged = gone_is_fine(self.send(request, deadline).await)?;
        Ok(purged.is_some())
    }

    /// The live applications the factory made for the role `role_name` of `account`
    /// (made outside CloudFormation), whichever incarnation of the role each served
    /// ("List applications" with `$filter=tags/any(t:t eq '…')`). Eventually consistent:
    /// an application made a moment ago may be missing; the next sweep finds it.
    pub async fn role_applications(
        &self,
        account: &str,
        role_name: &str,
        deadline: Deadline,
    ) -> Result<Vec<Application>, GraphError> {
        let tag = role_tag(account, role_name);
        let action = format!("list the applications of role {role_name} of account {account}");
        let filter = format!("tags/any(t:t eq '{}')", tag.replace('\'', "''"));
        let apps: Vec<Application> = self
            .list_all(&action, &filter_path("/applications", &filter), deadline)
            .await?;
        // Graph filtered on the tag; the markers are checked here all the same.
        Ok(apps
            .into_iter()
            .filter(|app| app.tags.contains(&tag) && app.tags.contains(&managed_by_tag()))
            .collect())
    }

    /// Every application, live or soft-deleted, that the factory made for a role made
    /// outside CloudFormation: whose role each served, read from its tags.
    pub async fn adopted_roles(&self, deadline: Deadline) -> Result<Vec<AdoptedApp>, GraphError> {
        let action = "list the applications of roles made outside CloudFormation";
        let filter = format!("tags/any(t:startswith(t,'{TAG_ROLE}='))");
        let path = filter_path("/applications", &filter);
        let live = self.list_all::<Application>(action, &path, deadline);
        let deleted = self.list_all::<Application>(
            "list the deleted applications",
            "/directory/deletedItems/microsoft.graph.application",
            deadline,
        );
        let (live, deleted) = futures::try_join!(live, deleted)?;
        let found = live
            .iter()
            .map(|app| (app, false))
            .chain(deleted.iter().map(|app| (app, true)))
            .filter(|(app, _)| app.tags.contains(&managed_by_tag()))
            .filter_map(|(app, deleted)| {
                let role = tagged_role(&app.tags)?;
                Some(AdoptedApp { role, deleted })
            })
            .collect();
        Ok(found)
    }

    /// Every page of the list at `path` ("Paging Microsoft Graph data in your app":
    /// `@odata.nextLink` followed as given), only ever on the endpoint this client talks
    /// to.
    pub(super) async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        action: &str,
        path: &str,
        deadline: Deadline,
    ) -> Result<Vec<T>, GraphError> {
        let mut items = Vec::new();
        let mut path = path.to_owned();
        loop {
            let body = self
                .send(call(action, Method::GET, path), deadline)
                .await?
                .body;
            let next = body
                .as_ref()
                .and_then(|b| b["@odata.nextLink"].as_str())
                .map(str::to_owned);
            items.extend(values::<T>(action, body)?);
            let Some(link) = next else {
                return Ok(items);
            };
            path = link
                .strip_prefix(self.graph_base.as_str())
                .filter(|rest| rest.starts_with('/'))
                .ok_or_else(|| GraphError::InvalidResponse {
                    action: action.to_owned(),
                    detail: "its next page is not on the Graph endpoint the factory uses"
                        .to_owned(),
                })?
                .to_owned();
        }
    }

    async fn find_deleted(
        &self,
        kind: &str,
        property: &str,
        value: &str,
        deadline: Deadline,
    ) -> Result<Vec<Value>, GraphError> {
        let action = format!("look for a deleted {kind} with {property} {value}");
        let filter: String =
            url::form_urlencoded::byte_serialize(format!("{property} eq '{value}'").as_bytes())
                .collect();
        let path = format!("/directory/deletedItems/microsoft.graph.{kind}?$filter={filter}");
        values(
            &action,
            self.send(call(&action, Method::GET, path), deadline)
                .await?
                .body,
        )
    }

    /// Where this generation's application is, for Delete: `found` is the answer of
    /// [`GraphClient::find_application`]; when there was no live application, it is
    /// looked for among deleted items (a crash between the soft delete and the purges).
    pub async fn locate_application(
        &self,
        unique_name: &UniqueName,
        owner: &AppOwner,
        found: Result<Option<Application>, GraphError>,
        deadline: Deadline,
    ) -> Result<Located, GraphError> {
        match found {
            Ok(Some(app)) => Ok(Located::Live(app)),
            Err(GraphError::NotOurs { .. }) => {
                tracing::warn!(unique_name = %unique_name, "an application under our name is not ours; left untouched");
                Ok(Located::NotOurs)
            }
            Err(error) => Err(error),
            Ok(None) => {
                // The application's deleted item is the only one of the two that has our name.
                let deleted = self
                    .find_deleted("application", "uniqueName", unique_name.as_str(), deadline)
                    .await?;
                let Some(app) = deleted.into_iter().next() else {
                    return Ok(Located::Gone);
                };
                let app: Application = parse("read a deleted application", Some(app))?;
                Ok(if owner.owns(&app.tags) {
                    Located::Deleted(app)
                } else {
                    Located::NotOurs
                })
            }
        }
    }

    /// Soft-deletes the application ("Delete application"; 404 = already gone; its
    /// service principal goes with it): `false` when Graph says it is not the factory's.
    pub async fn soft_delete_application(
        &self,
        unique_name: &UniqueName,
        app: &Application,
        deadline: Deadline,
    ) -> Result<bool, GraphError> {
        let action = format!("delete the Entra application {unique_name}");
        match self
            .send(
                on_known_object(&action, Method::DELETE, format!("/applications/{}", app.id)),
                deadline,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if error.is_not_found() => Ok(true),
            Err(error) if error.is_forbidden() => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Whether the factory owns `application`: its own service principal is among the
    /// application's owners ("List owners of an application", which
    /// `Application.ReadWrite.OwnedBy` may call). Read where an upsert, which Graph refuses
    /// on an application the factory does not own, is left out.
    pub async fn owns_application(
        &self,
        application: &Application,
        deadline: Deadline,
    ) -> Result<bool, GraphError> {
        self.owns(&application.id, &application.app_id, deadline)
            .await
    }

    /// Whether the factory is among the owners of the application with this object id
    /// (and `app_id`, for the error's words).
    pub(crate) async fn owns(
        &self,
        object_id: &str,
        app_id: &str,
        deadline: Deadline,
    ) -> Result<bool, GraphError> {
        #[derive(serde::Deserialize)]
        struct Owner {
            id: String,
        }
        let action = format!("read the owners of application {app_id}");
        let path = format!("/applications/{object_id}/owners?$select=id");
        let (owners, me) = tokio::join!(
            self.list_all::<Owner>(&action, &path, deadline),
            self.own_id(deadline)
        );
        let (owners, me) = (owners?, me?);
        Ok(owners.iter().any(|o| o.id.eq_ignore_ascii_case(me)))
    }

    /// The object id of the factory's own service principal ("Get servicePrincipal": a
    /// service principal may read its own without any permission), read once.
    async fn own_id(&self, deadline: Deadline) -> Result<&str, GraphError> {
        #[derive(serde::Deserialize)]
        struct Id {
            id: String,
        }
        let id = self
            .own_id
            .get_or_try_init(|| async {
                let action = "read the factory's own service principal";
                let path = format!("/servicePrincipals(appId='{}')?$select=id", self.client_id);
                let reply = self.send(call(action, Method::GET, path), deadline).await?;
                parse::<Id>(action, reply.body).map(|own| own.id)
            })
            .await?;
        Ok(id)
    }

    /// The live service principals that carry this generation's tag ("List
    /// servicePrincipals" with `$filter=tags/any(t:t eq '…')`, which
    /// `Application.ReadWrite.OwnedBy` may call), looked up with the application so that
    /// Delete can purge its service principal by id. Eventually consistent: one made a
    /// moment ago may be missing, and the purge then searches deleted items.
    pub async fn find_service_principals(
        &self,
        owner: &AppOwner,
        deadline: Deadline,
    ) -> Result<Vec<ServicePrincipal>, GraphError> {
        let tag = owner.generation_tag();
        let action = "look up the service principal by its generation's tag";
        let filter = format!("tags/any(t:t eq '{}')", tag.replace('\'', "''"));
        self.list_all(
            action,
            &filter_path("/servicePrincipals", &filter),
            deadline,
        )
        .await
    }

    /// Purges the deleted service principal of the application `app_id` from
    /// `directory/deletedItems` ("Permanently delete an item"): whether there was one.
    /// When its id is `known` (read before the application was deleted), it is purged by
    /// that id. Otherwise it is found through the appId: right after the application was
    /// soft-deleted (`just_deleted`), Graph may not list its service principal among
    /// deleted items yet, so the search is repeated a few times, with the waits of
    /// replication lag, before concluding there is none (an application a Create left
    /// without one).
    pub async fn purge_service_principal(
        &self,
        unique_name: &UniqueName,
        app_id: &str,
        known: Option<&str>,
        just_deleted: bool,
        deadline: Deadline,
    ) -> Result<bool, GraphError> {
        let what = format!("the service principal of {unique_name}");
        if let Some(id) = known
            && self.purge(id, &what, just_deleted, deadline).await?
        {
            return Ok(true);
        }
        let searches = if just_deleted {
            DELETED_ITEM_SEARCHES
        } else {
            1
        };
        for search in 1..=searches {
            let found = self
                .find_deleted("servicePrincipal", "appId", app_id, deadline)
                .await?;
            let ids: Vec<&str> = found.iter().filter_map(|sp| sp["id"].as_str()).collect();
            if !ids.is_empty() {
                for id in ids {
                    self.purge(id, &what, false, deadline).await?;
                }
                return Ok(true);
            }
            // Not jittered: the searches must span the lag, not just happen to.
            let wait = self
                .policy
                .propagation
                .base
                .saturating_mul(1 << (search - 1))
                .min(self.policy.propagation.cap);
            if search == searches || !deadline.allows(wait) {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        Ok(false)
    }

    /// Purges the soft-deleted application `app` from `directory/deletedItems`, freeing
    /// the quota and the `uniqueName`. Gone already is done, unless it was
    /// `just_deleted`: Graph may not show it among deleted items yet.
    pub async fn purge_application(
        &self,
        unique_name: &UniqueName,
        app: &Application,
        just_deleted: bool,
        deadline: Deadline,
    ) -> Result<(), GraphError> {
        let what = format!("application {unique_name}");
        self.purge(&app.id, &what, just_deleted, deadline)
            .await
            .map(drop)
    }

    /// What an upserted application needs before a role can trust it, all at once: its
    /// identifier URI, service principal and federated credentials. (The trusted clients'
    /// service principals are resolved before any write, by
    /// [`GraphClient::resolve_trusted_clients`].) Every call runs to its end even when
    /// another fails ([`crate::settle`]).
    pub async fn register_application(
        &self,
        upserted: &Upserted,
        spec: &WorkloadSpec,
        deadline: Deadline,
    ) -> Result<(ServicePrincipal, Changes), GraphError> {
        let application = &upserted.application;
        let (identifier_uri, service_principal, federated_credentials) = tokio::join!(
            self.ensure_identifier_uri(application, deadline),
            self.ensure_service_principal(
                application,
                &spec.application.owner,
                spec.require_app_role_assignment,
                upserted.created,
                deadline,
            ),
            self.converge_federated_credentials(
                application,
                &spec.federated_credentials,
                upserted.created,
                deadline
            ),
        );
        identifier_uri?;
        Ok((service_principal?, federated_credentials?))
    }
}
