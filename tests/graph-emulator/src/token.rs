//! The token endpoint: `POST /{tenant}/oauth2/v2.0/token`, client credentials grant only.
//!
//! Follows "Microsoft identity platform and the OAuth 2.0 client credentials flow"
//! (learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow): a form
//! with `client_id`, `scope` = `<resource>/.default`, `grant_type=client_credentials`, and
//! either `client_secret` or `client_assertion_type` =
//! `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` + `client_assertion`. Success is
//! `{"token_type":"Bearer","expires_in","ext_expires_in","access_token"}`; an error is
//! `{"error","error_description":"AADSTSnnnnn: …","error_codes":[n],"timestamp","trace_id",
//! "correlation_id","error_uri"}`, with the codes of "Microsoft Entra authentication and
//! authorization error codes" (learn.microsoft.com/entra/identity-platform/reference-error-codes).
//!
//! A `client_assertion` whose `iss` is the client id is a certificate credential, checked
//! per "certificate credentials" (learn.microsoft.com/entra/identity-platform/
//! certificate-credentials): RS256, the certificate found by `x5t#S256` or `x5t`, `aud` =
//! this token endpoint, `iss` = `sub` = client id, `exp`/`nbf` valid. Any other issuer is
//! workload identity federation ("Workload identity federation", learn.microsoft.com/entra/
//! workload-id/workload-identity-federation): the signature is checked against a trusted
//! JWKS and (`iss`, `sub`, `aud`) must match a federated identity credential of the app.
//!
//! The factory may sign in with any of these and asks for Graph: it gets an opaque token
//! that the Graph half accepts. Any other application of the tenant may sign in with its
//! own federated identity credentials (the factory gives workload apps nothing else). A
//! scope other than Graph's is another application of the tenant: the answer is a signed
//! access token for it ([`crate::access_token`]), what a workload presents to AWS STS.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde_json::{Value, json};

use crate::Shared;
use crate::state::{Federation, IssuedToken, State};

/// The call-counter kind of token requests.
pub(crate) const CALL_KIND: &str = "POST /{tenant}/oauth2/v2.0/token";

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    fn into_response(self) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let timestamp = crate::odata::now_iso();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        (self.status, axum::Json(body)).into_response()
    }
}

fn invalid_client(code: u32, description: impl Into<String>) -> OAuthError {
    OAuthError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        code,
        description,
    )
}

fn invalid_request(code: u32, description: impl Into<String>) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        code,
        description,
    )
}

/// Answers one token request. `host` is the request's `Host`, from which the endpoint's
/// own URL (the required `aud` of certificate assertions) is rebuilt.
pub(crate) fn handle(shared: &Shared, tenant: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    match issue(shared, tenant, headers, body) {
        Ok((token, lifetime)) => {
            let seconds = lifetime.as_secs();
            axum::Json(json!({
                "token_type": "Bearer",
                "expires_in": seconds,
                "ext_expires_in": seconds,
                "access_token": token,
            }))
            .into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// Who signs in: the factory (a client secret, a certificate or its federated
/// credentials), or another application of the tenant, which may only use its own
/// `federatedIdentityCredentials` (the factory never gives a workload app a secret).
pub(crate) struct Client {
    pub app_id: String,
    pub service_principal_id: String,
    pub is_factory: bool,
    federation: Vec<Federation>,
}

/// How the client proved who it is: Entra's `appidacr` / `azpacr` claim.
#[derive(Clone, Copy)]
pub(crate) enum ClientAuthentication {
    /// A client secret (`"1"`).
    Secret,
    /// A certificate or a federated assertion (`"2"`).
    Assertion,
}

fn client(state: &State, client_id: &str) -> Result<Client, OAuthError> {
    let tenant_id = &state.options.tenant_id;
    if client_id.eq_ignore_ascii_case(&state.options.factory_client_id) {
        return Ok(Client {
            app_id: state.options.factory_client_id.clone(),
            service_principal_id: state.factory_sp_id.clone(),
            is_factory: true,
            federation: state.federation.clone(),
        });
    }
    let Some(app) = state
        .applications
        .values()
        .find(|a| a.app_id.eq_ignore_ascii_case(client_id))
    else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant_id}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ));
    };
    let Some(sp) = state.service_principal_of(&app.app_id) else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            7000229,
            format!(
                "The client application {client_id} is missing service principal in the tenant {tenant_id}."
            ),
        ));
    };
    Ok(Client {
        app_id: app.app_id.clone(),
        service_principal_id: sp.id.clone(),
        is_factory: false,
        federation: app
            .federated_identity_credentials
            .iter()
            .map(|f| Federation {
                name: f.name.clone(),
                issuer: f.issuer.clone(),
                subject: f.subject.clone(),
                audience: f.audiences.first().cloned().unwrap_or_default(),
            })
            .collect(),
    })
}

fn issue(
    shared: &Shared,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Duration), OAuthError> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let (tenant_id, graph_resource) = {
        let state = shared.lock();
        (
            state.options.tenant_id.clone(),
            state.options.graph_resource.clone(),
        )
    };
    if !tenant.eq_ignore_ascii_case(&tenant_id) {
        return Err(invalid_request(
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    }
    match field("grant_type") {
        None => {
            return Err(invalid_request(
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            ));
        }
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    }
    let client = client(&shared.lock(), field("client_id").unwrap_or_default())?;
    // The client credentials grant asks for a whole resource: `<resource>/.default`.
    let Some(resource) = field("scope").and_then(|s| s.strip_suffix("/.default")) else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {} is not valid.",
                field("scope").unwrap_or_default()
            ),
        ));
    };
    let client_id = &client.app_id;

    let method = if let Some(secret) = field("client_secret") {
        let known = client.is_factory && shared.lock().secrets.iter().any(|s| s == secret);
        if !known {
            return Err(invalid_client(
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            ));
        }
        ClientAuthentication::Secret
    } else if let Some(assertion) = field("client_assertion") {
        if field("client_assertion_type") != Some(JWT_BEARER) {
            return Err(invalid_request(
                90014,
                "The required field 'client_assertion_type' is missing from the credential. Ensure that you have all the necessary parameters for the login request.",
            ));
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let endpoint = format!("http://{host}/{tenant}/oauth2/v2.0/token");
        check_assertion(shared, assertion, &client, &endpoint)?;
        ClientAuthentication::Assertion
    } else {
        return Err(invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };

    if resource == graph_resource {
        return Ok(graph_token(shared, client));
    }
    crate::access_token::issue(shared, &client, method, resource)
}

/// An opaque token that Graph accepts (Graph's half only ever sees its own tokens).
fn graph_token(shared: &Shared, client: Client) -> (String, Duration) {
    let token = format!(
        "emu.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut state = shared.lock();
    let lifetime = state.settings.token_lifetime;
    state.tokens.insert(
        token.clone(),
        IssuedToken {
            client_id: client.app_id,
            expires_at: Instant::now() + lifetime,
        },
    );
    (token, lifetime)
}

fn malformed() -> OAuthError {
    invalid_client(50027, "JWT token is invalid or malformed.")
}

fn unverified_claims(assertion: &str) -> Result<Value, OAuthError> {
    use base64::Engine;
    let payload = assertion.split('.').nth(1).ok_or_else(malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

fn check_assertion(
    shared: &Shared,
    assertion: &str,
    client: &Client,
    endpoint: &str,
) -> Result<(), OAuthError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    let claims = unverified_claims(assertion)?;
    let issuer = claims["iss"].as_str().unwrap_or_default().to_owned();
    if header.alg != Algorithm::RS256 {
        return Err(malformed());
    }
    // Certificates are registered on the factory only.
    if client.is_factory && issuer.eq_ignore_ascii_case(&client.app_id) {
        check_certificate_assertion(shared, assertion, &header, &client.app_id, endpoint)
    } else {
        check_federated_assertion(shared, assertion, &header, &client.federation)
    }
}

fn time_error(kind: &ErrorKind) -> Option<OAuthError> {
    match kind {
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => Some(invalid_client(
            700024,
            "Client assertion is not within its valid time range.",
        )),
        ErrorKind::InvalidSignature => Some(invalid_client(
            700027,
            "Client assertion contains an invalid signature.",
        )),
        _ => None,
    }
}

fn check_certificate_assertion(
    shared: &Shared,
    assertion: &str,
    header: &jsonwebtoken::Header,
    client_id: &str,
    endpoint: &str,
) -> Result<(), OAuthError> {
    let certificate = {
        let state = shared.lock();
        state
            .certificates
            .iter()
            .find(|c| {
                header.x5t_s256.as_deref() == Some(c.x5t_s256.as_str())
                    || header.x5t.as_deref() == Some(c.x5t.as_str())
            })
            .cloned()
    };
    let Some(certificate) = certificate else {
        let thumbprint = header
            .x5t_s256
            .clone()
            .or_else(|| header.x5t.clone())
            .unwrap_or_default();
        return Err(invalid_client(
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"
            ),
        ));
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.set_audience(&[endpoint]);
    let data = jsonwebtoken::decode::<Value>(assertion, &certificate.key, &validation).map_err(
        |e| match e.kind() {
            ErrorKind::InvalidAudience => invalid_client(
                700023,
                "Client assertion audience claim does not match Realm issuer.",
            ),
            kind => time_error(kind).unwrap_or_else(malformed),
        },
    )?;
    let claim = |name: &str| data.claims[name].as_str().unwrap_or_default().to_owned();
    if !claim("iss").eq_ignore_ascii_case(client_id)
        || !claim("sub").eq_ignore_ascii_case(client_id)
    {
        return Err(invalid_client(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    Ok(())
}

fn check_federated_assertion(
    shared: &Shared,
    assertion: &str,
    header: &jsonwebtoken::Header,
    federation: &[Federation],
) -> Result<(), OAuthError> {
    let keys: Vec<_> = {
        let state = shared.lock();
        state
            .trusted_keys
            .iter()
            .filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
            .cloned()
            .collect()
    };
    if keys.is_empty() {
        return Err(invalid_client(
            700027,
            "Client assertion failed signature validation. [Reason - The key was not found.]",
        ));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.validate_aud = false; // matched against the federated credentials below
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let mut last = malformed();
    let mut claims = None;
    for key in &keys {
        match jsonwebtoken::decode::<Value>(assertion, &key.key, &validation) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            Err(e) => last = time_error(e.kind()).unwrap_or_else(malformed),
        }
    }
    let claims = claims.ok_or(last)?;
    let issuer = claims["iss"].as_str().unwrap_or_default();
    let subject = claims["sub"].as_str().unwrap_or_default();
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut state = shared.lock();
    state.federated_sign_ins += 1;
    let generic = invalid_request(
        70021,
        format!(
            "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{}'. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation",
            audiences.join(",")
        ),
    );
    // Injected propagation lag: a federated identity credential added a moment ago is not
    // yet known everywhere ("Important considerations and restrictions for federated
    // identity credentials": changes can take time to propagate).
    if state.federated_sign_ins <= state.settings.federated_sign_in_lag {
        return Err(generic);
    }
    // Case-sensitive matching ("Federated identity credentials now use case-sensitive
    // matching", Microsoft identity platform breaking changes).
    let by_issuer: Vec<_> = federation.iter().filter(|f| f.issuer == issuer).collect();
    if by_issuer.is_empty() {
        return Err(invalid_client(
            700211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{issuer}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
            ),
        ));
    }
    let by_subject: Vec<_> = by_issuer
        .into_iter()
        .filter(|f| f.subject == subject)
        .collect();
    if by_subject.is_empty() {
        return Err(invalid_client(
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{subject}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
            ),
        ));
    }
    if !by_subject
        .iter()
        .any(|f| audiences.contains(&f.audience.as_str()))
    {
        return Err(invalid_client(
            700212,
            format!(
                "No matching federated identity record found for presented assertion audience '{}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.",
                audiences.join(",")
            ),
        ));
    }
    Ok(())
}
