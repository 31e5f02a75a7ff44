//! The inspection and control API over HTTP, under `/_emulator/…`, for the demo binary and
//! for tests in other languages. It mirrors [`crate::GraphEmulator`]'s methods.

use std::time::Duration;

use axum::{
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::keys::{RegisteredCertificate, parse_jwks};
use crate::state::{Federation, WriteBucket};
use crate::{FaultRule, Lag, Shared};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsPatch {
    token_lifetime_secs: Option<u64>,
    directory_quota: Option<usize>,
    sp_lag_attempts: Option<u32>,
    sp_lag_millis: Option<u64>,
    federated_sign_in_lag: Option<u32>,
    latency_millis: Option<u64>,
    write_rate_limit: Option<f64>,
    app_role_assignment_permission: Option<bool>,
    owned_by_permission: Option<bool>,
    replication_lag_millis: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Seed {
    display_name: String,
    #[serde(default = "yes")]
    service_principal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct SecretBody {
    secret: String,
}

#[derive(Deserialize)]
struct CertificateBody {
    pem: String,
}

#[derive(Deserialize)]
struct FederatedBody {
    name: String,
    issuer: String,
    subject: String,
    audience: String,
}

/// A refusal: status and message, rendered as `{"error": message}`.
type Refusal = (StatusCode, String);

fn bad(message: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, message.into())
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

pub(crate) fn handle(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Response {
    match handle_inner(shared, method, path, body) {
        Ok(value) => axum::Json(value).into_response(),
        Err((status, message)) => (status, axum::Json(json!({ "error": message }))).into_response(),
    }
}

fn handle_inner(
    shared: &Shared,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<Value, Refusal> {
    let get = *method == Method::GET;
    let post = *method == Method::POST;
    match path {
        "snapshot" if get => {
            let state = shared.lock();
            Ok(json!({
                "tenantId": state.options.tenant_id,
                "factoryClientId": state.options.factory_client_id,
                "factoryServicePrincipalId": state.factory_sp_id,
                "applications": state.applications.values().collect::<Vec<_>>(),
                "servicePrincipals": state.service_principals.values().collect::<Vec<_>>(),
                "deletedItems": state.deleted.values().collect::<Vec<_>>(),
                "objectsCreatedByFactory": state.objects_created_by_factory(),
                "factoryFederatedCredentials": state.federation.iter().map(|f| json!({
                    "name": f.name, "issuer": f.issuer, "subject": f.subject, "audience": f.audience,
                })).collect::<Vec<_>>(),
            }))
        }
        "calls" if get => Ok(json!(shared.lock().calls)),
        "reset" if post => {
            shared.lock().reset_directory();
            Ok(json!({}))
        }
        "seed" if post => {
            let seed: Seed = parse(body)?;
            let (app, sp) = shared
                .lock()
                .seed(&seed.display_name, None, seed.service_principal);
            Ok(json!({ "id": app.id, "appId": app.app_id, "servicePrincipalId": sp }))
        }
        "faults" if post => {
            let rule: FaultRule = parse(body)?;
            shared.lock().faults.push(rule);
            Ok(json!({}))
        }
        "settings" if post => {
            let patch: SettingsPatch = parse(body)?;
            let mut state = shared.lock();
            let s = &mut state.settings;
            if let Some(v) = patch.token_lifetime_secs {
                s.token_lifetime = Duration::from_secs(v);
            }
            if let Some(v) = patch.directory_quota {
                s.directory_quota = v;
            }
            if patch.sp_lag_attempts.is_some() || patch.sp_lag_millis.is_some() {
                s.service_principal_lag = Lag {
                    attempts: patch
                        .sp_lag_attempts
                        .unwrap_or(s.service_principal_lag.attempts),
                    duration: patch
                        .sp_lag_millis
                        .map(Duration::from_millis)
                        .unwrap_or(s.service_principal_lag.duration),
                };
            }
            if let Some(v) = patch.federated_sign_in_lag {
                s.federated_sign_in_lag = v;
            }
            if let Some(v) = patch.latency_millis {
                s.latency = Duration::from_millis(v);
            }
            if let Some(v) = patch.write_rate_limit {
                s.write_rate_limit = (v > 0.0).then_some(v);
            }
            if let Some(v) = patch.app_role_assignment_permission {
                s.app_role_assignment_permission = v;
            }
            if let Some(v) = patch.owned_by_permission {
                s.owned_by_permission = v;
            }
            if let Some(v) = patch.replication_lag_millis {
                s.replication_lag = Duration::from_millis(v);
            }
            state.bucket = state.settings.write_rate_limit.map(WriteBucket::new);
            Ok(json!({}))
        }
        "credentials/secret" if post => {
            let secret: SecretBody = parse(body)?;
            shared.lock().secrets.push(secret.secret);
            Ok(json!({}))
        }
        "credentials/certificate" if post => {
            let certificate: CertificateBody = parse(body)?;
            let certificate = RegisteredCertificate::parse(certificate.pem.as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            let x5t_s256 = certificate.x5t_s256.clone();
            shared.lock().certificates.push(certificate);
            Ok(json!({ "x5t#S256": x5t_s256 }))
        }
        "credentials/jwks" if post => {
            let jwks: Value = parse(body)?;
            let keys = parse_jwks(&jwks).map_err(|e| bad(e.to_string()))?;
            let count = keys.len();
            shared.lock().trusted_keys.extend(keys);
            Ok(json!({ "keys": count }))
        }
        "credentials/federated" if post => {
            let f: FederatedBody = parse(body)?;
            shared.lock().federation.push(Federation {
                name: f.name,
                issuer: f.issuer,
                subject: f.subject,
                audience: f.audience,
            });
            Ok(json!({}))
        }
        _ => Err((
            StatusCode::NOT_FOUND,
            format!("no emulator endpoint {method} /_emulator/{path}"),
        )),
    }
}
