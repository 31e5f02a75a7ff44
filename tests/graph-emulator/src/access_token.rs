//! Access tokens for an application of the tenant (not Graph): what a workload presents
//! to AWS STS.
//!
//! Follows "Access tokens in the Microsoft identity platform" and "Access token claims
//! reference" (learn.microsoft.com/entra/identity-platform/access-tokens,
//! …/access-token-claims-reference). The resource app is found by one of its
//! `identifierUris` or by its appId and must have a service principal (else AADSTS500011);
//! when that service principal has `appRoleAssignmentRequired`, the client must hold one of
//! its app roles (else AADSTS501051). The token version is the resource app's
//! `api.requestedAccessTokenVersion` (v1 when unset):
//!
//! * v1: `iss` `https://sts.windows.net/<tid>/`, `aud` the resource as requested,
//!   `appid` and `appidacr` of the client, `ver` `1.0`;
//! * v2: `iss` `https://login.microsoftonline.com/<tid>/v2.0`, `aud` the resource's appId,
//!   `azp` and `azpacr`, `ver` `2.0`;
//!
//! and for both app-only tokens `sub` = `oid` = the client's service principal object id,
//! `tid`, `iat`/`nbf`/`exp`, `roles` when the client holds app roles. Tokens are RS256,
//! signed with the tenant's key; its JWKS is served at `/{tenant}/discovery/keys` (and
//! `/{tenant}/discovery/v2.0/keys`), where Entra publishes its signing keys.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::Shared;
use crate::token::{Client, ClientAuthentication, OAuthError};

/// Signs a token for `resource` (a `scope` without its `/.default`) to `client`.
pub(crate) fn issue(
    shared: &Shared,
    client: &Client,
    authentication: ClientAuthentication,
    resource: &str,
) -> Result<(String, Duration), OAuthError> {
    let (claims, lifetime) = {
        let state = shared.lock();
        let tenant_id = &state.options.tenant_id;
        let not_found = || {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_resource",
                500011,
                format!(
                    "The resource principal named {resource} was not found in the tenant named {tenant_id}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
                ),
            )
        };
        let app = state
            .applications
            .values()
            .find(|a| {
                a.app_id.eq_ignore_ascii_case(resource)
                    || a.identifier_uris.iter().any(|u| u == resource)
            })
            .ok_or_else(not_found)?;
        let sp = state
            .service_principal_of(&app.app_id)
            .ok_or_else(not_found)?;
        let roles: Vec<&str> = sp
            .app_role_assigned_to
            .iter()
            .filter(|a| a.principal_id == client.service_principal_id)
            .filter_map(|a| app.app_roles.iter().find(|r| r.id == a.app_role_id))
            .filter_map(|r| r.value.as_deref())
            .collect();
        if sp.app_role_assignment_required
            && !sp
                .app_role_assigned_to
                .iter()
                .any(|a| a.principal_id == client.service_principal_id)
        {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                501051,
                format!(
                    "Application '{}' is not assigned to a role for the application '{resource}'({}).",
                    client.app_id, app.display_name
                ),
            ));
        }
        let lifetime = state.settings.token_lifetime;
        let issued_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let acr = match authentication {
            ClientAuthentication::Secret => "1",
            ClientAuthentication::Assertion => "2",
        };
        let mut claims = json!({
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + lifetime.as_secs(),
            "oid": client.service_principal_id,
            "sub": client.service_principal_id,
            "tid": tenant_id,
            "uti": uuid::Uuid::new_v4().simple().to_string(),
        });
        let version = if app.requested_access_token_version == Some(2) {
            json!({
                "iss": format!("https://login.microsoftonline.com/{tenant_id}/v2.0"),
                "aud": app.app_id,
                "azp": client.app_id,
                "azpacr": acr,
                "ver": "2.0",
            })
        } else {
            let issuer = format!("https://sts.windows.net/{tenant_id}/");
            json!({
                "iss": issuer,
                "idp": issuer,
                "aud": resource,
                "appid": client.app_id,
                "appidacr": acr,
                "ver": "1.0",
            })
        };
        merge(&mut claims, version);
        if !roles.is_empty() {
            claims["roles"] = json!(roles);
        }
        (claims, lifetime)
    };
    Ok((shared.signing_key().sign(&claims), lifetime))
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}
