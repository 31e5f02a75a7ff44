//! Request dispatch and Microsoft Graph v1.0: applications, service principals,
//! federated identity credentials, app role assignments and deleted items.
//!
//! Each handler names the page of the Graph v1.0 reference (learn.microsoft.com/graph/api/…)
//! it follows. Errors use the OData envelope ([`crate::odata`]). The caller is always the
//! factory, holding `Application.ReadWrite.OwnedBy` ("Microsoft Graph permissions
//! reference": create apps, and fully manage only the apps it owns; "List applications":
//! it reads every application of the tenant) unless
//! [`crate::Settings::owned_by_permission`] is cleared and, when
//! [`crate::Settings::app_role_assignment_permission`] is set, `AppRoleAssignment.ReadWrite.All`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use crate::model::{
    AppRole, AppRoleAssignment, Application, DeletedItem, DeletedObject,
    FederatedIdentityCredential, KeyCredential, PasswordCredential, ServicePrincipal,
    application_json, assignment_json, federated_credential_json, password_credential_json,
    service_principal_json,
};
use crate::odata::{GraphFailure, RequestIds, iso, now_iso, ok, parse_iso, years_later};
use crate::state::{State as Directory, new_id};
use crate::{
    APP_ROLE_ASSIGNMENT_PERMISSION_ID, Fault, MICROSOFT_GRAPH_SERVICE_PRINCIPAL_ID,
    OWNED_BY_PERMISSION_ID, Shared, http_api, keys, token,
};

type GraphResult = Result<(StatusCode, Option<Value>), GraphFailure>;

/// Most federated identity credentials per application ("Important considerations and
/// restrictions for federated identity credentials").
const MAX_FEDERATED_CREDENTIALS: usize = 20;
/// Collections whose next path segment is an object id (for the call counters).
const COLLECTIONS: [&str; 6] = [
    "applications",
    "servicePrincipals",
    "deletedItems",
    "federatedIdentityCredentials",
    "appRoleAssignedTo",
    "appRoleAssignments",
];

/// The one handler behind every path.
pub(crate) async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    if let Some(rest) = path.strip_prefix("/_emulator/") {
        return http_api::handle(&shared, &method, rest, &body);
    }
    let ids = RequestIds::from_headers(&headers);
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    // Entra's published signing keys: `/{tenant}/discovery/keys` and its v2.0 twin.
    let tail = segments.get(1..).unwrap_or_default().join("/");
    if method == Method::GET && matches!(tail.as_str(), "discovery/keys" | "discovery/v2.0/keys") {
        return axum::Json(shared.signing_key().jwks()).into_response();
    }
    let is_token = segments.len() == 4 && segments[1..] == ["oauth2", "v2.0", "token"];
    let kind = if is_token {
        token::CALL_KIND.to_owned()
    } else {
        classify(&method, &segments)
    };
    let (latency, fault) = {
        let mut state = shared.lock();
        state.count(kind);
        (
            state.settings.latency,
            take_fault(&mut state, &method, &path),
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let answer_lost = match fault {
        Some(Taken::Before(failure)) => return failure.into_response(&ids),
        Some(Taken::AnswerLost) => true,
        None => false,
    };
    if is_token {
        if method != Method::POST {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        let answer = token::handle(&shared, &segments[0], &headers, &body);
        return if answer_lost { lost(&ids) } else { answer };
    }
    if segments.first().map(String::as_str) != Some("v1.0") {
        return GraphFailure::new(
            StatusCode::NOT_FOUND,
            "BadRequest",
            format!(
                "Invalid version: {}",
                segments.first().cloned().unwrap_or_default()
            ),
        )
        .into_response(&ids);
    }
    let mut state = shared.lock();
    let result = authenticate(&state, &headers)
        .and_then(|()| throttle(&mut state, &method, &segments[1..], uri.query()))
        .and_then(|()| parse_body(&body))
        .and_then(|json| {
            let request = Request {
                method: &method,
                // The host the client addressed: a proxy's, when one passes it on.
                origin: format!(
                    "http://{}",
                    ["x-forwarded-host", "host"]
                        .iter()
                        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
                        .unwrap_or("localhost")
                ),
                query: uri.query().unwrap_or_default(),
                prefer: headers
                    .get("prefer")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default(),
                body: json,
            };
            route(&mut state, &request, &segments[1..])
        });
    drop(state);
    if answer_lost {
        return lost(&ids);
    }
    match result {
        Ok((status, body)) => ok(status, body, &ids),
        Err(failure) => failure.into_response(&ids),
    }
}

/// The answer to a call whose real answer was lost ([`Fault::AnswerLost`]).
fn lost(ids: &RequestIds) -> Response {
    GraphFailure::new(
        StatusCode::GATEWAY_TIMEOUT,
        "GatewayTimeout",
        "The request timed out before a response was received.",
    )
    .into_response(ids)
}

/// What an injected fault does to a call.
enum Taken {
    /// The call fails before it is applied.
    Before(GraphFailure),
    /// The call is applied and its answer lost.
    AnswerLost,
}

struct Request<'a> {
    method: &'a Method,
    /// `http://<host>`, as the client addressed the emulator (for `@odata.nextLink`).
    origin: String,
    query: &'a str,
    prefer: &'a str,
    body: Option<Map<String, Value>>,
}

/// `METHOD /path` with ids replaced by `{id}` and keys by their name.
fn classify(method: &Method, segments: &[String]) -> String {
    let mut out = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let shown = if let Some((collection, rest)) = segment.split_once('(') {
            let key = rest.split('=').next().unwrap_or_default();
            format!("{collection}({key})")
        } else if i > 0
            && COLLECTIONS.contains(&segments[i - 1].as_str())
            && !segment.starts_with("microsoft.graph.")
        {
            "{id}".to_owned()
        } else {
            segment.clone()
        };
        out.push(shown);
    }
    format!("{method} /{}", out.join("/"))
}

/// The first injected fault that matches, consumed.
fn take_fault(state: &mut Directory, method: &Method, path: &str) -> Option<Taken> {
    let index = state.faults.iter().position(|rule| {
        rule.times > 0
            && rule
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
            && path.starts_with(rule.path_prefix.as_deref().unwrap_or("/v1.0/"))
    })?;
    let rule = &mut state.faults[index];
    rule.times -= 1;
    let fault = rule.fault;
    if rule.times == 0 {
        state.faults.remove(index);
    }
    Some(Taken::Before(match fault {
        Fault::AnswerLost => return Some(Taken::AnswerLost),
        Fault::Throttle { retry_after } => throttled(retry_after),
        Fault::ServerError { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                GraphFailure::new(
                    status,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Please retry later.",
                )
            } else {
                GraphFailure::new(
                    status,
                    "generalException",
                    "An unspecified error has occurred.",
                )
            }
        }
    }))
}

/// 429 as in "Microsoft Graph throttling guidance" (learn.microsoft.com/graph/throttling):
/// `TooManyRequests`, and a `Retry-After` header in seconds — which "might not always" be
/// there, in which case the client backs off exponentially.
fn throttled(retry_after: Option<u64>) -> GraphFailure {
    let mut failure = GraphFailure::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Please retry again later.",
    );
    failure.retry_after = retry_after;
    failure
}

/// Bearer tokens: "Use the Microsoft Graph API" (Authorization: Bearer {token}); a missing,
/// unknown or expired token is 401 `InvalidAuthenticationToken`.
fn authenticate(state: &Directory, headers: &HeaderMap) -> Result<(), GraphFailure> {
    let unauthorized = |message: &str| {
        GraphFailure::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    };
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("Access token is empty."))?;
    let issued = state
        .tokens
        .get(token)
        .ok_or_else(|| unauthorized("Access token validation failure. Invalid audience."))?;
    if issued.expires_at <= Instant::now() {
        return Err(unauthorized(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    // Only the factory holds Graph permissions (`Application.ReadWrite.OwnedBy`); any
    // other app of the tenant gets a Graph token without roles, which Graph refuses.
    if issued.client_id != state.options.factory_client_id {
        return Err(GraphFailure::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    Ok(())
}

/// 429 for a request over the simple write rate ([`crate::Settings::write_rate_limit`])
/// or over Graph's documented limits ([`crate::Settings::limits`]), with `Retry-After` in
/// whole seconds, at least one.
fn throttle(
    state: &mut Directory,
    method: &Method,
    segments: &[String],
    query: Option<&str>,
) -> Result<(), GraphFailure> {
    let write = matches!(
        *method,
        Method::POST | Method::PATCH | Method::DELETE | Method::PUT
    );
    let retry = |wait: Duration| throttled(Some(wait.as_secs_f64().ceil().max(1.0) as u64));
    if write && let Some(Err(wait)) = state.bucket.as_mut().map(crate::state::WriteBucket::take) {
        return Err(retry(wait));
    }
    let units = resource_units(method, segments, query.unwrap_or_default());
    match state
        .limiter
        .as_mut()
        .map(|limiter| limiter.admit(units, if write { 1.0 } else { 0.0 }))
    {
        Some(Err(wait)) => Err(retry(wait)),
        _ => Ok(()),
    }
}

/// A request's cost in ResourceUnits, from the documented table ("Identity and access
/// service limits"): listing applications and reading a service principal's
/// `appRoleAssignments` cost 2, anything else 1; `$select` takes 1 off, `$expand` adds 1,
/// `$top` under 20 takes 1 off; never under 1.
fn resource_units(method: &Method, segments: &[String], query: &str) -> f64 {
    let base: i32 = match (method, segments) {
        (&Method::GET, [collection]) if collection == "applications" => 2,
        (&Method::GET, [collection, _, relation])
            if collection == "servicePrincipals" && relation == "appRoleAssignments" =>
        {
            2
        }
        _ => 1,
    };
    let mut cost = base;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "$select" => cost -= 1,
            "$expand" => cost += 1,
            "$top" if value.parse::<u32>().is_ok_and(|top| top < 20) => cost -= 1,
            _ => {}
        }
    }
    f64::from(cost.max(1))
}

fn parse_body(body: &[u8]) -> Result<Option<Map<String, Value>>, GraphFailure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        _ => Err(GraphFailure::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}

/// `collection(key='value')` with OData's doubled quotes undone.
fn keyed(segment: &str, collection: &str) -> Option<(String, String)> {
    let inner = segment
        .strip_prefix(collection)?
        .strip_prefix('(')?
        .strip_suffix(')')?;
    let (name, value) = inner.split_once('=')?;
    let value = value.strip_prefix('\'')?.strip_suffix('\'')?;
    Some((name.to_owned(), value.replace("''", "'")))
}

#[derive(Debug)]
enum AppKey {
    Id(String),
    UniqueName(String),
    AppId(String),
}

impl AppKey {
    fn value(&self) -> &str {
        match self {
            Self::Id(v) | Self::UniqueName(v) | Self::AppId(v) => v,
        }
    }
}

#[derive(Debug)]
enum SpKey {
    Id(String),
    AppId(String),
}

fn segment_not_found(segment: &str) -> GraphFailure {
    GraphFailure::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Resource not found for the segment '{segment}'."),
    )
}

fn method_not_allowed() -> GraphFailure {
    GraphFailure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "The HTTP method is not allowed on this resource.",
    )
}

/// Without `Application.ReadWrite.OwnedBy` ([`crate::Settings::owned_by_permission`]) the
/// factory may read but not write applications, service principals or deleted items: Graph
/// answers an app without the permission an operation needs 403 `Authorization_RequestDenied`
/// ("Microsoft Graph error responses and resource types"). App role grants are the exception:
/// they need `AppRoleAssignment.ReadWrite.All` alone ("Grant an appRoleAssignment for a service
/// principal"), checked where they are made.
fn check_owned_by_permission(
    state: &Directory,
    request: &Request<'_>,
    segments: &[String],
) -> Result<(), GraphFailure> {
    let write = *request.method != Method::GET;
    let managed = segments.first().is_some_and(|first| {
        first.starts_with("applications")
            || first.starts_with("servicePrincipals")
            || first == "directory"
    });
    let grant = segments.iter().any(|s| s == "appRoleAssignedTo");
    if write && managed && !grant && !state.settings.owned_by_permission {
        return Err(GraphFailure::denied());
    }
    Ok(())
}

fn route(state: &mut Directory, request: &Request<'_>, segments: &[String]) -> GraphResult {
    let Some(first) = segments.first() else {
        return Err(segment_not_found(""));
    };
    check_owned_by_permission(state, request, segments)?;
    if let Some((key, value)) = keyed(first, "applications") {
        let key = match key.as_str() {
            "uniqueName" => AppKey::UniqueName(value),
            "appId" => AppKey::AppId(value),
            _ => return Err(segment_not_found(first)),
        };
        return application_route(state, request, key, &segments[1..]);
    }
    if first == "applications" && segments.len() == 1 && *request.method == Method::GET {
        return list_applications(state, request);
    }
    if first == "applications" && segments.len() >= 2 {
        let made = state
            .applications
            .values()
            .find(|a| a.id.eq_ignore_ascii_case(&segments[1]))
            .and_then(|a| a.created_at);
        if !replicated(state, made) {
            return Err(GraphFailure::not_found(&segments[1]));
        }
        return application_route(
            state,
            request,
            AppKey::Id(segments[1].clone()),
            &segments[2..],
        );
    }
    if let Some((key, value)) = keyed(first, "servicePrincipals") {
        if key != "appId" {
            return Err(segment_not_found(first));
        }
        return service_principal_route(state, request, SpKey::AppId(value), &segments[1..]);
    }
    if first == "servicePrincipals" {
        if segments.len() == 1 {
            return match *request.method {
                Method::POST => create_service_principal(state, request),
                Method::GET => list_service_principals(state, request),
                _ => Err(method_not_allowed()),
            };
        }
        let made = state
            .service_principals
            .values()
            .find(|sp| sp.id.eq_ignore_ascii_case(&segments[1]))
            .and_then(|sp| sp.created_at);
        if !replicated(state, made) {
            return Err(GraphFailure::not_found(&segments[1]));
        }
        return service_principal_route(
            state,
            request,
            SpKey::Id(segments[1].clone()),
            &segments[2..],
        );
    }
    if first == "directory" && segments.len() == 3 && segments[1] == "deletedItems" {
        return deleted_items_route(state, request, &segments[2]);
    }
    Err(segment_not_found(first))
}

// --- applications -----------------------------------------------------------------

/// `GET /applications` ("List applications", learn.microsoft.com/graph/api/
/// application-list): `Application.ReadWrite.OwnedBy` "allows an app to call
/// GET /applications and GET /servicePrincipals to list all applications and service
/// principals in the tenant" (the note under "Get servicePrincipal"), so the factory lists
/// every application, its own and others'. `$filter` takes `tags/any(t:t eq '<tag>')` and
/// `tags/any(t:startswith(t,'<prefix>'))` (the `application` resource type: `tags`
/// "Supports `$filter` (`eq`, `not`, `ge`, `le`, `startsWith`)", lambda operators per "Use
/// the $filter query parameter"). The list is eventually consistent: a new application
/// appears once its write has replicated. Paged by [`list_page`].
fn list_applications(state: &mut Directory, request: &Request<'_>) -> GraphResult {
    let listed = state
        .applications
        .values()
        .filter(|a| replicated(state, a.created_at))
        .map(|a| (a.tags.as_slice(), a));
    list_page(state, request, "applications", listed, |a| {
        application_json(a, None)
    })
}

/// `GET /servicePrincipals` ("List servicePrincipals", learn.microsoft.com/graph/api/
/// serviceprincipal-list): `Application.ReadWrite.OwnedBy` "allows an app to call
/// GET /applications and GET /servicePrincipals to list all applications and service
/// principals in the tenant" (the note under "Get servicePrincipal"), so every one is
/// listed. `$filter` and paging as for applications (the `servicePrincipal` resource
/// type: `tags` "Supports `$filter` (`eq`, `not`, `ge`, `le`, `startsWith`)"); eventually
/// consistent the same way.
fn list_service_principals(state: &mut Directory, request: &Request<'_>) -> GraphResult {
    let listed = state
        .service_principals
        .values()
        .filter(|sp| replicated(state, sp.created_at))
        .map(|sp| (sp.tags.as_slice(), sp));
    list_page(state, request, "servicePrincipals", listed, |sp| {
        service_principal_json(sp, &app_roles_of(state, &sp.app_id), None)
    })
}

/// One page of `objects` (each with its tags) of `collection`, filtered by the request's
/// `tags/any(…)` clause; other clauses are refused as Graph refuses what it does not
/// support. Pages hold [`crate::Settings::page_size`] objects, each but the last with an
/// `@odata.nextLink` ("Paging Microsoft Graph data in your app": follow it as given,
/// `$skiptoken` is opaque). Only the page's objects are rendered.
fn list_page<'t, T>(
    state: &Directory,
    request: &Request<'_>,
    collection: &str,
    objects: impl Iterator<Item = (&'t [String], T)>,
    render: impl Fn(T) -> Value,
) -> GraphResult {
    let query: Vec<(String, String)> = url::form_urlencoded::parse(request.query.as_bytes())
        .into_owned()
        .collect();
    let find = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let filter = match find("$filter") {
        None => None,
        Some(f) => Some(
            tag_filter(&f)
                .ok_or_else(|| GraphFailure::bad_request(format!("Invalid filter clause: {f}")))?,
        ),
    };
    let skip: usize = match find("$skiptoken") {
        None => 0,
        Some(token) => token
            .parse()
            .map_err(|_| GraphFailure::bad_request("Invalid $skiptoken"))?,
    };
    let matching: Vec<T> = objects
        .filter(|(tags, _)| {
            filter
                .as_ref()
                .is_none_or(|f| tags.iter().any(|t| f.matches(t)))
        })
        .map(|(_, object)| object)
        .collect();
    let (total, page) = (matching.len(), state.settings.page_size.max(1));
    let value: Vec<Value> = matching
        .into_iter()
        .skip(skip)
        .take(page)
        .map(render)
        .collect();
    let mut body = json!({ "value": value });
    if skip + page < total {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        if let Some(f) = find("$filter") {
            next.append_pair("$filter", &f);
        }
        next.append_pair("$skiptoken", &(skip + page).to_string());
        body["@odata.nextLink"] = json!(format!(
            "{}/v1.0/{collection}?{}",
            request.origin,
            next.finish()
        ));
    }
    Ok((StatusCode::OK, Some(body)))
}

/// A `tags/any(…)` clause.
enum TagFilter {
    /// `t eq '<tag>'`.
    Equals(String),
    /// `startswith(t,'<prefix>')`.
    StartsWith(String),
}

impl TagFilter {
    fn matches(&self, tag: &str) -> bool {
        match self {
            Self::Equals(value) => tag == value,
            Self::StartsWith(prefix) => tag.starts_with(prefix.as_str()),
        }
    }
}

/// The clause of `tags/any(x:x eq '<tag>')` or `tags/any(x:startswith(x,'<prefix>'))`, with
/// `''` read as `'`.
fn tag_filter(filter: &str) -> Option<TagFilter> {
    let quoted = |text: &str| {
        let value = text.trim().strip_prefix('\'')?.strip_suffix('\'')?;
        Some(value.replace("''", "'"))
    };
    let inner = filter.trim().strip_prefix("tags/any(")?.strip_suffix(')')?;
    let (variable, condition) = inner.split_once(':')?;
    let (variable, condition) = (variable.trim(), condition.trim());
    if let Some(arguments) = condition
        .strip_prefix("startswith(")
        .or_else(|| condition.strip_prefix("startsWith("))
    {
        let (first, prefix) = arguments.strip_suffix(')')?.split_once(',')?;
        if first.trim() != variable {
            return None;
        }
        return quoted(prefix).map(TagFilter::StartsWith);
    }
    let value = condition
        .strip_prefix(variable)?
        .trim_start()
        .strip_prefix("eq")?;
    quoted(value).map(TagFilter::Equals)
}

/// Whether a write made at `at` has replicated ([`crate::Settings::replication_lag`]):
/// until then, what it made is not found by its object id, and what it deleted is not
/// found among deleted items. Graph is eventually consistent across its replicas
/// (Microsoft's answer in Microsoft Q&A 936575: after a write, "your client app is not
/// waiting enough for the replication to complete", to be met with exponential backoff).
fn replicated(state: &Directory, at: Option<Instant>) -> bool {
    at.is_none_or(|at| at.elapsed() >= state.settings.replication_lag)
}

fn find_application(state: &Directory, key: &AppKey) -> Option<String> {
    state
        .applications
        .values()
        .find(|a| match key {
            AppKey::Id(id) => a.id.eq_ignore_ascii_case(id),
            AppKey::UniqueName(name) => a.unique_name.as_deref() == Some(name.as_str()),
            AppKey::AppId(app_id) => a.app_id.eq_ignore_ascii_case(app_id),
        })
        .map(|a| a.id.clone())
}

/// The application to read: any application of the tenant (`Application.ReadWrite.OwnedBy`
/// reads every application, as "List applications" notes; it writes only those it owns).
fn readable_application(state: &Directory, key: &AppKey) -> Result<String, GraphFailure> {
    find_application(state, key).ok_or_else(|| GraphFailure::not_found(key.value()))
}

/// The application, if it exists and the factory owns it (`Application.ReadWrite.OwnedBy`:
/// anything else is 403 `Authorization_RequestDenied`), or any application for a read.
fn application_for(
    state: &Directory,
    key: &AppKey,
    method: &Method,
) -> Result<String, GraphFailure> {
    if *method == Method::GET {
        readable_application(state, key)
    } else {
        owned_application(state, key)
    }
}

/// The application, if it exists and the factory owns it (`Application.ReadWrite.OwnedBy`:
/// anything else is 403 `Authorization_RequestDenied`).
fn owned_application(state: &Directory, key: &AppKey) -> Result<String, GraphFailure> {
    let id = readable_application(state, key)?;
    if state.applications[&id]
        .owners
        .contains(&state.factory_sp_id)
    {
        Ok(id)
    } else {
        Err(GraphFailure::denied())
    }
}

fn application_route(
    state: &mut Directory,
    request: &Request<'_>,
    key: AppKey,
    rest: &[String],
) -> GraphResult {
    match rest {
        [] => match *request.method {
            Method::GET => {
                let id = readable_application(state, &key)?;
                Ok((
                    StatusCode::OK,
                    Some(application_json(&state.applications[&id], None)),
                ))
            }
            Method::PATCH => match key {
                AppKey::UniqueName(name) => upsert_application(state, request, &name),
                key => {
                    let id = owned_application(state, &key)?;
                    update_application(state, &id, request.body.as_ref())?;
                    Ok((StatusCode::NO_CONTENT, None))
                }
            },
            Method::DELETE => {
                let id = owned_application(state, &key)?;
                delete_application(state, &id);
                Ok((StatusCode::NO_CONTENT, None))
            }
            _ => Err(method_not_allowed()),
        },
        [collection] if collection == "owners" => {
            if *request.method != Method::GET {
                return Err(method_not_allowed());
            }
            list_owners(state, &key)
        }
        [collection] if collection == "federatedIdentityCredentials" => {
            let id = application_for(state, &key, request.method)?;
            match *request.method {
                Method::GET => {
                    let value: Vec<Value> = state.applications[&id]
                        .federated_identity_credentials
                        .iter()
                        .map(federated_credential_json)
                        .collect();
                    Ok((StatusCode::OK, Some(json!({ "value": value }))))
                }
                Method::POST => create_federated_credential(state, &id, request.body.as_ref()),
                _ => Err(method_not_allowed()),
            }
        }
        [item] if keyed(item, "federatedIdentityCredentials").is_some() => {
            let (key_name, name) = keyed(item, "federatedIdentityCredentials").unwrap_or_default();
            if key_name != "name" {
                return Err(segment_not_found(item));
            }
            let id = application_for(state, &key, request.method)?;
            federated_credential_item(state, request, &id, &name)
        }
        [collection, item] if collection == "federatedIdentityCredentials" => {
            let id = application_for(state, &key, request.method)?;
            federated_credential_item(state, request, &id, item)
        }
        [action] if action == "addPassword" || action == "removePassword" => {
            let id = owned_application(state, &key)?;
            match (*request.method == Method::POST, action.as_str()) {
                (true, "addPassword") => add_password(state, &id, request.body.as_ref()),
                (true, _) => remove_password(state, &id, request.body.as_ref()),
                (false, _) => Err(method_not_allowed()),
            }
        }
        [other, ..] => Err(segment_not_found(other)),
    }
}

/// "List owners of an application" (learn.microsoft.com/graph/api/application-list-owners):
/// the directory objects that own it, each with its `@odata.type` and `id`. Any
/// application can be read this way, whoever owns it (`Application.ReadWrite.OwnedBy`
/// is among the permissions the page lists); `$select` is accepted and changes nothing
/// here.
fn list_owners(state: &Directory, key: &AppKey) -> GraphResult {
    let id = find_application(state, key).ok_or_else(|| GraphFailure::not_found(key.value()))?;
    let value: Vec<Value> = state.applications[&id]
        .owners
        .iter()
        .map(|owner| {
            let kind = if state.service_principals.contains_key(owner) {
                "#microsoft.graph.servicePrincipal"
            } else {
                "#microsoft.graph.user"
            };
            json!({ "@odata.type": kind, "id": owner })
        })
        .collect();
    Ok((StatusCode::OK, Some(json!({ "value": value }))))
}

/// "application: addPassword" (learn.microsoft.com/graph/api/application-addpassword): an
/// optional `passwordCredential` with `displayName`, `startDateTime` (default now) and
/// `endDateTime` (default start + 2 years); 200 with the new passwordCredential, whose
/// `secretText` ("passwordCredential resource type": 16–64 characters, "only returned during
/// the initial POST request to addPassword") is never shown again, and `hint` its first
/// three characters. An end before the start is refused (not confirmed against Graph).
fn add_password(state: &mut Directory, id: &str, body: Option<&Map<String, Value>>) -> GraphResult {
    let requested = body.and_then(|b| b.get("passwordCredential"));
    let field = |name: &str| requested.and_then(|c| c.get(name)).filter(|v| !v.is_null());
    let invalid = |name: &str| {
        GraphFailure::bad_request(format!("Invalid value specified for property '{name}'."))
    };
    let display_name = match field("displayName") {
        None => None,
        Some(v) => Some(v.as_str().ok_or_else(|| invalid("displayName"))?.to_owned()),
    };
    let date = |name: &str| match field(name) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(parse_iso)
            .map(Some)
            .ok_or_else(|| invalid(name)),
    };
    let start = date("startDateTime")?.unwrap_or_else(time::OffsetDateTime::now_utc);
    let end = date("endDateTime")?.unwrap_or_else(|| years_later(start, 2));
    if end <= start {
        return Err(invalid("endDateTime"));
    }
    let (credential, secret) = PasswordCredential::generate(display_name, start, end);
    let mut json = password_credential_json(&credential);
    json["secretText"] = json!(secret);
    state
        .applications
        .get_mut(id)
        .ok_or_else(|| GraphFailure::not_found(id))?
        .password_credentials
        .push(credential);
    Ok((StatusCode::OK, Some(json)))
}

/// "application: removePassword" (learn.microsoft.com/graph/api/application-removepassword):
/// `keyId` is required; 204 No Content. The reference does not say what an unknown `keyId`
/// gets, and no record of Graph's answer was found: the emulator answers 400
/// `Request_BadRequest`.
fn remove_password(
    state: &mut Directory,
    id: &str,
    body: Option<&Map<String, Value>>,
) -> GraphResult {
    let key_id = body
        .and_then(|b| b.get("keyId"))
        .and_then(Value::as_str)
        .filter(|k| uuid::Uuid::parse_str(k).is_ok())
        .ok_or_else(|| {
            GraphFailure::bad_request("Property 'keyId' is required and must be a GUID.")
        })?;
    let app = state
        .applications
        .get_mut(id)
        .ok_or_else(|| GraphFailure::not_found(id))?;
    let before = app.password_credentials.len();
    app.password_credentials
        .retain(|p| !p.key_id.eq_ignore_ascii_case(key_id));
    if app.password_credentials.len() == before {
        return Err(GraphFailure::bad_request(format!(
            "No credential with key id '{key_id}' was found."
        )));
    }
    Ok((StatusCode::NO_CONTENT, None))
}

/// `keyCredentials` in "Update application" (learn.microsoft.com/graph/api/
/// application-update; "keyCredential resource type"; "Add a certificate to an app using
/// Microsoft Graph"): the list replaces the app's keys. An entry whose `keyId` the app
/// already has keeps that key as it is (a client sends back what it read, `key` being null
/// there); any other entry is a new key and must carry `key` (the base64 DER certificate),
/// `type` (`AsymmetricX509Cert` or `X509CertAndPassword`) and `usage` (`Verify` or `Sign`).
/// A new key's dates come from its certificate, and its `customKeyIdentifier` defaults to
/// the certificate's thumbprint. (`removeKey` needs a proof of possession signed with a valid
/// key of the app, so a client without one removes keys by PATCHing the list.)
fn key_credentials(
    existing: &[KeyCredential],
    value: &Value,
) -> Result<Vec<KeyCredential>, GraphFailure> {
    use base64::Engine;
    let invalid = |why: &str| {
        GraphFailure::bad_request(format!(
            "Invalid value specified for property 'keyCredentials': {why}."
        ))
    };
    let mut credentials: Vec<KeyCredential> = Vec::new();
    for entry in value
        .as_array()
        .ok_or_else(|| invalid("not a collection"))?
    {
        let text = |name: &str| entry.get(name).and_then(Value::as_str);
        let key_id = text("keyId");
        if key_id.is_some_and(|k| credentials.iter().any(|c| c.key_id.eq_ignore_ascii_case(k))) {
            return Err(invalid("duplicate keyId"));
        }
        if let Some(kept) =
            key_id.and_then(|k| existing.iter().find(|c| c.key_id.eq_ignore_ascii_case(k)))
        {
            credentials.push(kept.clone());
            continue;
        }
        let key_id = match key_id {
            None => new_id(),
            Some(k) => uuid::Uuid::parse_str(k)
                .map_err(|_| invalid("keyId is not a GUID"))?
                .to_string(),
        };
        let type_ = text("type")
            .filter(|t| matches!(*t, "AsymmetricX509Cert" | "X509CertAndPassword"))
            .ok_or_else(|| invalid("a new key needs a type"))?;
        let usage = text("usage")
            .filter(|u| matches!(*u, "Verify" | "Sign"))
            .ok_or_else(|| invalid("a new key needs a usage"))?;
        let der = text("key")
            .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
            .ok_or_else(|| invalid("a new key needs its key, base64"))?;
        let (_, certificate) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| invalid("the key is not an X.509 certificate"))?;
        let validity = certificate.validity();
        credentials.push(KeyCredential {
            key_id,
            display_name: text("displayName").map(str::to_owned),
            type_: type_.to_owned(),
            usage: usage.to_owned(),
            start_date_time: iso(validity.not_before.to_datetime()),
            end_date_time: iso(validity.not_after.to_datetime()),
            custom_key_identifier: Some(
                text("customKeyIdentifier")
                    .map_or_else(|| keys::thumbprint_hex(&der), str::to_owned),
            ),
        });
    }
    Ok(credentials)
}

/// "Upsert application" (learn.microsoft.com/graph/api/application-upsert): `PATCH
/// /applications(uniqueName='…')` updates the app with that `uniqueName` (204 No Content)
/// or, with `Prefer: create-if-missing`, creates it (201 Created with the new object);
/// without the header a missing app is 404. The body must contain `displayName` to create.
fn upsert_application(
    state: &mut Directory,
    request: &Request<'_>,
    unique_name: &str,
) -> GraphResult {
    if let Some(id) = find_application(state, &AppKey::UniqueName(unique_name.to_owned())) {
        let id = owned_application(state, &AppKey::Id(id))?;
        update_application(state, &id, request.body.as_ref())?;
        return Ok((StatusCode::NO_CONTENT, None));
    }
    if !request
        .prefer
        .split(',')
        .any(|p| p.trim().eq_ignore_ascii_case("create-if-missing"))
    {
        return Err(GraphFailure::not_found(unique_name));
    }
    // A soft-deleted application keeps its uniqueName until it is purged ("Delete
    // application": deleted apps are restorable for 30 days), so the alternate key is
    // still taken.
    let reserved = state.deleted.values().any(|d| {
        matches!(&d.object, DeletedObject::Application(a) if a.unique_name.as_deref() == Some(unique_name))
    });
    if reserved {
        return Err(GraphFailure::bad_request(
            "Another object with the same value for property uniqueName already exists.",
        )
        .with_detail("ObjectConflict", "uniqueName", "uniqueName"));
    }
    check_quota(state)?;
    let display_name = request
        .body
        .as_ref()
        .and_then(|b| b.get("displayName"))
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| {
            GraphFailure::bad_request("Property 'displayName' is required.").with_detail(
                "Required",
                "displayName",
                "displayName",
            )
        })?
        .to_owned();
    let app = Application {
        id: new_id(),
        app_id: new_id(),
        unique_name: Some(unique_name.to_owned()),
        display_name,
        tags: Vec::new(),
        notes: None,
        identifier_uris: Vec::new(),
        sign_in_audience: "AzureADMyOrg".to_owned(),
        requested_access_token_version: None,
        app_roles: Vec::new(),
        owners: vec![state.factory_sp_id.clone()],
        federated_identity_credentials: Vec::new(),
        password_credentials: Vec::new(),
        key_credentials: Vec::new(),
        created_by_factory: true,
        created_date_time: now_iso(),
        created_at: Some(Instant::now()),
        service_principal_attempts: 0,
    };
    let id = app.id.clone();
    state.applications.insert(id.clone(), app);
    if let Err(failure) = update_application(state, &id, request.body.as_ref()) {
        state.applications.remove(&id);
        return Err(failure);
    }
    Ok((
        StatusCode::CREATED,
        Some(application_json(&state.applications[&id], None)),
    ))
}

/// The 250-object quota of a non-admin principal ("Microsoft Entra service limits and
/// restrictions": "A non-admin user can create no more than 250 Microsoft Entra resources.
/// Both active resources and deleted resources that are available to restore count toward
/// this quota"), answered as Graph does: 400 `Directory_QuotaExceeded`.
fn check_quota(state: &Directory) -> Result<(), GraphFailure> {
    if state.objects_created_by_factory() >= state.settings.directory_quota {
        return Err(GraphFailure::new(
            StatusCode::BAD_REQUEST,
            "Directory_QuotaExceeded",
            "The directory object quota limit for the Principal has been exceeded. Please ask your administrator to increase the quota limit or delete objects to reduce the used quota.",
        ));
    }
    Ok(())
}

fn string_list(value: &Value, property: &str) -> Result<Vec<String>, GraphFailure> {
    let invalid = || {
        GraphFailure::bad_request(format!(
            "Invalid value specified for property '{property}'."
        ))
    };
    value
        .as_array()
        .ok_or_else(invalid)?
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(invalid))
        .collect()
}

fn too_long(property: &str, max: usize) -> GraphFailure {
    GraphFailure::bad_request(format!(
        "Invalid value specified for property '{property}': the value is longer than {max} characters."
    ))
}

/// "Update application" (learn.microsoft.com/graph/api/application-update): the given
/// properties replace the stored ones; the rest stay. Validated on a copy, committed whole.
fn update_application(
    state: &mut Directory,
    id: &str,
    body: Option<&Map<String, Value>>,
) -> Result<(), GraphFailure> {
    let Some(body) = body else {
        return Ok(());
    };
    let mut app = state.applications[id].clone();
    for (property, value) in body {
        match property.as_str() {
            "@odata.type" => {}
            "displayName" => {
                let name = value
                    .as_str()
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| {
                        GraphFailure::bad_request(
                            "Invalid value specified for property 'displayName'.",
                        )
                    })?;
                if name.chars().count() > 256 {
                    return Err(too_long(property, 256));
                }
                app.display_name = name.to_owned();
            }
            "uniqueName" => {
                // Immutable once set (application resource type, `uniqueName`).
                if value.as_str() != app.unique_name.as_deref() {
                    return Err(GraphFailure::bad_request(
                        "Property 'uniqueName' is read-only and cannot be set.",
                    ));
                }
            }
            "tags" => {
                let tags = string_list(value, property)?;
                if tags.iter().any(|t| t.chars().count() > 256) {
                    return Err(too_long("tags", 256));
                }
                app.tags = tags;
            }
            "notes" => {
                let notes = match value {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    _ => {
                        return Err(GraphFailure::bad_request(
                            "Invalid value specified for property 'notes'.",
                        ));
                    }
                };
                if notes.as_ref().is_some_and(|n| n.chars().count() > 1024) {
                    return Err(too_long("notes", 1024));
                }
                app.notes = notes;
            }
            "identifierUris" => {
                let uris = string_list(value, property)?;
                // Default app-ID-URI policy ("Restrictions on identifierUris"): without a
                // verified domain, only `api://<appId>` (optionally with a path) is allowed.
                let own = format!("api://{}", app.app_id);
                if let Some(bad) = uris
                    .iter()
                    .find(|u| !(**u == own || u.starts_with(&format!("{own}/"))))
                {
                    return Err(GraphFailure::new(
                        StatusCode::BAD_REQUEST,
                        "HostNameNotOnVerifiedDomain",
                        format!(
                            "Values of identifierUris property must use a verified domain of the organization or its subdomain: '{bad}'"
                        ),
                    ));
                }
                let taken = state.applications.values().any(|other| {
                    other.id != app.id && other.identifier_uris.iter().any(|u| uris.contains(u))
                });
                if taken {
                    return Err(GraphFailure::bad_request(
                        "Another object with the same value for property identifierUris already exists.",
                    )
                    .with_detail("ObjectConflict", "identifierUris", "identifierUris"));
                }
                app.identifier_uris = uris;
            }
            "signInAudience" => {
                let audience = value.as_str().unwrap_or_default();
                if ![
                    "AzureADMyOrg",
                    "AzureADMultipleOrgs",
                    "AzureADandPersonalMicrosoftAccount",
                    "PersonalMicrosoftAccount",
                ]
                .contains(&audience)
                {
                    return Err(GraphFailure::bad_request(
                        "Invalid value specified for property 'signInAudience'.",
                    ));
                }
                app.sign_in_audience = audience.to_owned();
            }
            "api" => {
                // apiApplication resource type: requestedAccessTokenVersion is null, 1 or 2.
                match value.get("requestedAccessTokenVersion") {
                    None | Some(Value::Null) => app.requested_access_token_version = None,
                    Some(v) => match v.as_i64() {
                        Some(n @ (1 | 2)) => app.requested_access_token_version = Some(n),
                        _ => {
                            return Err(GraphFailure::bad_request(
                                "Invalid value specified for property 'requestedAccessTokenVersion'.",
                            ));
                        }
                    },
                }
            }
            "keyCredentials" => app.key_credentials = key_credentials(&app.key_credentials, value)?,
            "passwordCredentials" => {
                // "Update application": "Using PATCH to set passwordCredential is not
                // supported. Use the addPassword and removePassword methods".
                return Err(GraphFailure::bad_request(
                    "Property 'passwordCredentials' cannot be set with PATCH; use addPassword and removePassword.",
                ));
            }
            "appRoles" => {
                let roles: Vec<AppRole> = serde_json::from_value(value.clone()).map_err(|_| {
                    GraphFailure::bad_request("Invalid value specified for property 'appRoles'.")
                })?;
                check_app_roles(&app.app_roles, &roles)?;
                app.app_roles = roles;
            }
            other => {
                return Err(GraphFailure::bad_request(format!(
                    "Property '{other}' does not exist as a declared property or extension property."
                )));
            }
        }
    }
    state.applications.insert(id.to_owned(), app);
    Ok(())
}

/// appRole resource type: ids are GUIDs, values unique, `allowedMemberTypes` of `User` and
/// `Application`; "To delete a role, this [isEnabled] must first be set to false" — so an
/// enabled role can be neither removed nor changed except by disabling it.
fn check_app_roles(old: &[AppRole], new: &[AppRole]) -> Result<(), GraphFailure> {
    for (i, role) in new.iter().enumerate() {
        if uuid::Uuid::parse_str(&role.id).is_err()
            || role.allowed_member_types.is_empty()
            || role
                .allowed_member_types
                .iter()
                .any(|t| t != "User" && t != "Application")
        {
            return Err(GraphFailure::bad_request(
                "Invalid value specified for property 'appRoles'.",
            ));
        }
        if new[..i]
            .iter()
            .any(|r| r.id == role.id || (role.value.is_some() && r.value == role.value))
        {
            return Err(GraphFailure::bad_request(
                "Request contains a property with duplicate values.",
            ));
        }
    }
    for existing in old.iter().filter(|r| r.is_enabled) {
        let changed = match new.iter().find(|r| r.id == existing.id) {
            None => true,
            Some(r) => {
                let mut disabled = existing.clone();
                disabled.is_enabled = r.is_enabled;
                *r != disabled
            }
        };
        if changed {
            return Err(GraphFailure::bad_request(
                "Property  value cannot be deleted or updated unless it is disabled first.",
            )
            .with_detail(
                "CannotDeleteOrUpdateEnabledEntitlement",
                "appRoles",
                "appRoles",
            ));
        }
    }
    Ok(())
}

/// "Delete application" (learn.microsoft.com/graph/api/application-delete): the app goes
/// to deleted items, restorable for 30 days; its service principal goes with it.
fn delete_application(state: &mut Directory, id: &str) {
    let Some(app) = state.applications.remove(id) else {
        return;
    };
    let sp_id = state
        .service_principal_of(&app.app_id)
        .map(|s| s.id.clone());
    if let Some(sp_id) = sp_id {
        soft_delete_service_principal(state, &sp_id);
    }
    state.deleted.insert(
        app.id.clone(),
        DeletedItem {
            deleted_date_time: now_iso(),
            object: DeletedObject::Application(app),
            deleted_at: Some(Instant::now()),
        },
    );
}

// --- federated identity credentials ---------------------------------------------

fn fic_field(
    body: &Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<String>, GraphFailure> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(too_long(name, max)),
        Some(_) => Err(GraphFailure::bad_request(format!(
            "Invalid value specified for property '{name}'."
        ))),
    }
}

fn fic_audiences(body: &Map<String, Value>) -> Result<Option<Vec<String>>, GraphFailure> {
    match body.get("audiences") {
        None => Ok(None),
        Some(value) => {
            let audiences = string_list(value, "audiences")?;
            // federatedIdentityCredential resource type: "It can only be a single value".
            if audiences.len() != 1 || audiences[0].is_empty() || audiences[0].chars().count() > 600
            {
                return Err(GraphFailure::bad_request(
                    "Invalid value specified for property 'audiences': exactly one audience of at most 600 characters is allowed.",
                ));
            }
            Ok(Some(audiences))
        }
    }
}

/// Keeps a federated identity credential set valid ("federatedIdentityCredential resource
/// type" and "Important considerations and restrictions for federated identity
/// credentials"): names unique on the app (case-insensitive), issuer + subject unique, at
/// most 20.
fn check_federated_set(
    set: &[FederatedIdentityCredential],
    candidate: &FederatedIdentityCredential,
) -> Result<(), GraphFailure> {
    let others = set.iter().filter(|f| f.id != candidate.id);
    for other in others {
        if other.name.eq_ignore_ascii_case(&candidate.name) {
            return Err(GraphFailure::new(
                StatusCode::CONFLICT,
                "Request_MultipleObjectsWithSameKeyValue",
                format!(
                    "FederatedIdentityCredential with name {} already exists.",
                    candidate.name
                ),
            ));
        }
        if other.issuer == candidate.issuer && other.subject == candidate.subject {
            return Err(GraphFailure::bad_request(format!(
                "FederatedIdentityCredential with the same issuer and subject already exists: {}.",
                other.name
            ))
            .with_detail("ObjectConflict", "issuer, subject", "subject"));
        }
    }
    Ok(())
}

/// "Create federatedIdentityCredential" (learn.microsoft.com/graph/api/
/// application-post-federatedidentitycredentials): name, issuer, subject and audiences
/// are required; 201 with the new object.
fn create_federated_credential(
    state: &mut Directory,
    app_id: &str,
    body: Option<&Map<String, Value>>,
) -> GraphResult {
    let empty = Map::new();
    let body = body.unwrap_or(&empty);
    let required = |v: Option<String>, name: &str| {
        v.filter(|s| !s.is_empty()).ok_or_else(|| {
            GraphFailure::bad_request(format!("Property '{name}' is required."))
                .with_detail("Required", name, name)
        })
    };
    let name = required(fic_field(body, "name", 120)?, "name")?;
    if name.contains(['/', '\\', '?', '#', '%', ' ']) {
        return Err(GraphFailure::bad_request(
            "Invalid value specified for property 'name': it must be URL friendly.",
        ));
    }
    let candidate = FederatedIdentityCredential {
        id: new_id(),
        name,
        issuer: required(fic_field(body, "issuer", 600)?, "issuer")?,
        subject: required(fic_field(body, "subject", 600)?, "subject")?,
        audiences: fic_audiences(body)?
            .ok_or_else(|| GraphFailure::bad_request("Property 'audiences' is required."))?,
        description: fic_field(body, "description", 600)?,
    };
    let app = state
        .applications
        .get_mut(app_id)
        .ok_or_else(|| GraphFailure::not_found(app_id))?;
    check_federated_set(&app.federated_identity_credentials, &candidate)?;
    if app.federated_identity_credentials.len() >= MAX_FEDERATED_CREDENTIALS {
        return Err(GraphFailure::bad_request(format!(
            "The number of federated identity credentials on an application cannot exceed {MAX_FEDERATED_CREDENTIALS}."
        )));
    }
    let json = federated_credential_json(&candidate);
    app.federated_identity_credentials.push(candidate);
    Ok((StatusCode::CREATED, Some(json)))
}

/// GET / PATCH / DELETE of one federated identity credential, by id or name
/// ("Get/Update/Delete federatedIdentityCredential": `{federatedIdentityCredentialId}` or
/// `(name='{name}')`). The name is immutable.
fn federated_credential_item(
    state: &mut Directory,
    request: &Request<'_>,
    app_id: &str,
    id_or_name: &str,
) -> GraphResult {
    let app = state
        .applications
        .get_mut(app_id)
        .ok_or_else(|| GraphFailure::not_found(app_id))?;
    let index = app
        .federated_identity_credentials
        .iter()
        .position(|f| f.id == id_or_name || f.name.eq_ignore_ascii_case(id_or_name))
        .ok_or_else(|| GraphFailure::not_found(id_or_name))?;
    match *request.method {
        Method::GET => Ok((
            StatusCode::OK,
            Some(federated_credential_json(
                &app.federated_identity_credentials[index],
            )),
        )),
        Method::DELETE => {
            app.federated_identity_credentials.remove(index);
            Ok((StatusCode::NO_CONTENT, None))
        }
        Method::PATCH => {
            let empty = Map::new();
            let body = request.body.as_ref().unwrap_or(&empty);
            let mut updated = app.federated_identity_credentials[index].clone();
            for (property, _) in body {
                match property.as_str() {
                    "name" => {
                        if fic_field(body, "name", 120)?.as_deref() != Some(updated.name.as_str()) {
                            return Err(GraphFailure::bad_request(
                                "Property 'name' is read-only and cannot be set.",
                            ));
                        }
                    }
                    "issuer" => {
                        updated.issuer = fic_field(body, "issuer", 600)?.unwrap_or_default();
                    }
                    "subject" => {
                        updated.subject = fic_field(body, "subject", 600)?.unwrap_or_default();
                    }
                    "audiences" => updated.audiences = fic_audiences(body)?.unwrap_or_default(),
                    "description" => updated.description = fic_field(body, "description", 600)?,
                    "@odata.type" | "id" => {}
                    other => {
                        return Err(GraphFailure::bad_request(format!(
                            "Property '{other}' does not exist as a declared property or extension property."
                        )));
                    }
                }
            }
            if updated.issuer.is_empty() || updated.subject.is_empty() {
                return Err(GraphFailure::bad_request(
                    "Properties 'issuer' and 'subject' are required.",
                ));
            }
            check_federated_set(&app.federated_identity_credentials, &updated)?;
            app.federated_identity_credentials[index] = updated;
            Ok((StatusCode::NO_CONTENT, None))
        }
        _ => Err(method_not_allowed()),
    }
}

// --- service principals -------------------------------------------------------------

fn find_service_principal(state: &Directory, key: &SpKey) -> Option<String> {
    state
        .service_principals
        .values()
        .find(|s| match key {
            SpKey::Id(id) => s.id.eq_ignore_ascii_case(id),
            SpKey::AppId(app_id) => s.app_id.eq_ignore_ascii_case(app_id),
        })
        .map(|s| s.id.clone())
}

fn app_roles_of(state: &Directory, app_id: &str) -> Vec<AppRole> {
    state
        .applications
        .values()
        .find(|a| a.app_id == app_id)
        .map(|a| a.app_roles.clone())
        .unwrap_or_default()
}

/// "Create servicePrincipal" (learn.microsoft.com/graph/api/serviceprincipal-post-
/// serviceprincipals): `appId` is required. Right after the application is created this
/// can fail with `NoBackingApplicationObject` until the app has replicated (observed
/// behaviour, see DESIGN §7); a second principal for the same app is 409
/// `Request_MultipleObjectsWithSameKeyValue`.
fn create_service_principal(state: &mut Directory, request: &Request<'_>) -> GraphResult {
    let empty = Map::new();
    let body = request.body.as_ref().unwrap_or(&empty);
    let app_id = body
        .get("appId")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphFailure::bad_request("Property 'appId' is required."))?
        .to_owned();
    let no_backing = || {
        let message = format!(
            "The appId '{app_id}' of the service principal does not reference a valid application object."
        );
        GraphFailure::bad_request(message.clone()).with_detail(
            "NoBackingApplicationObject",
            &message,
            "appId",
        )
    };
    let Some(app_object) = find_application(state, &AppKey::AppId(app_id.clone())) else {
        return Err(no_backing());
    };
    let lag = state.settings.service_principal_lag;
    let app = state
        .applications
        .get_mut(&app_object)
        .ok_or_else(|| GraphFailure::not_found(&app_object))?;
    app.service_principal_attempts += 1;
    let young = app
        .created_at
        .is_some_and(|created| created.elapsed() < lag.duration);
    if app.service_principal_attempts <= lag.attempts || young {
        return Err(no_backing());
    }
    let owned = app.owners.contains(&state.factory_sp_id);
    let display_name = app.display_name.clone();
    if find_service_principal(state, &SpKey::AppId(app_id.clone())).is_some() {
        return Err(GraphFailure::new(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            format!(
                "The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."
            ),
        ));
    }
    if !owned {
        return Err(GraphFailure::denied());
    }
    check_quota(state)?;
    let mut sp = ServicePrincipal {
        id: new_id(),
        app_id: app_id.clone(),
        display_name,
        app_role_assignment_required: false,
        tags: Vec::new(),
        app_owner_organization_id: state.options.tenant_id.clone(),
        owners: vec![state.factory_sp_id.clone()],
        created_by_factory: true,
        app_role_assigned_to: Vec::new(),
        created_at: Some(Instant::now()),
    };
    apply_service_principal_patch(&mut sp, body, true)?;
    let json = service_principal_json(&sp, &app_roles_of(state, &app_id), None);
    state.service_principals.insert(sp.id.clone(), sp);
    Ok((StatusCode::CREATED, Some(json)))
}

fn apply_service_principal_patch(
    sp: &mut ServicePrincipal,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(), GraphFailure> {
    for (property, value) in body {
        match property.as_str() {
            "appRoleAssignmentRequired" => {
                sp.app_role_assignment_required = value.as_bool().ok_or_else(|| {
                    GraphFailure::bad_request(
                        "Invalid value specified for property 'appRoleAssignmentRequired'.",
                    )
                })?;
            }
            "tags" => sp.tags = string_list(value, "tags")?,
            "appId" if creating => {}
            "appId" => {
                if value.as_str() != Some(sp.app_id.as_str()) {
                    return Err(GraphFailure::bad_request(
                        "Property 'appId' is read-only and cannot be set.",
                    ));
                }
            }
            "@odata.type" => {}
            other => {
                return Err(GraphFailure::bad_request(format!(
                    "Property '{other}' does not exist as a declared property or extension property."
                )));
            }
        }
    }
    Ok(())
}

fn owned_service_principal(state: &Directory, id: &str) -> Result<(), GraphFailure> {
    if state.service_principals[id]
        .owners
        .contains(&state.factory_sp_id)
    {
        Ok(())
    } else {
        Err(GraphFailure::denied())
    }
}

fn soft_delete_service_principal(state: &mut Directory, id: &str) {
    if let Some(sp) = state.service_principals.remove(id) {
        // Assignments made to this principal go with it.
        for resource in state.service_principals.values_mut() {
            resource
                .app_role_assigned_to
                .retain(|a| a.principal_id != sp.id);
        }
        state.deleted.insert(
            sp.id.clone(),
            DeletedItem {
                deleted_date_time: now_iso(),
                object: DeletedObject::ServicePrincipal(sp),
                deleted_at: Some(Instant::now()),
            },
        );
    }
}

fn service_principal_route(
    state: &mut Directory,
    request: &Request<'_>,
    key: SpKey,
    rest: &[String],
) -> GraphResult {
    let value = match &key {
        SpKey::Id(v) | SpKey::AppId(v) => v.clone(),
    };
    let id = find_service_principal(state, &key).ok_or_else(|| GraphFailure::not_found(&value))?;
    match rest {
        [] => match *request.method {
            // "Get servicePrincipal": reading any principal of the tenant is allowed.
            Method::GET => {
                let sp = &state.service_principals[&id];
                let roles = app_roles_of(state, &sp.app_id);
                Ok((
                    StatusCode::OK,
                    Some(service_principal_json(sp, &roles, None)),
                ))
            }
            // "Update servicePrincipal".
            Method::PATCH => {
                owned_service_principal(state, &id)?;
                let empty = Map::new();
                let body = request.body.as_ref().unwrap_or(&empty);
                let mut sp = state.service_principals[&id].clone();
                apply_service_principal_patch(&mut sp, body, false)?;
                state.service_principals.insert(id, sp);
                Ok((StatusCode::NO_CONTENT, None))
            }
            // "Delete servicePrincipal".
            Method::DELETE => {
                owned_service_principal(state, &id)?;
                soft_delete_service_principal(state, &id);
                Ok((StatusCode::NO_CONTENT, None))
            }
            _ => Err(method_not_allowed()),
        },
        [collection] if collection == "appRoleAssignments" => match *request.method {
            Method::GET => {
                let value: Vec<Value> = held_assignments(state, &id)
                    .iter()
                    .map(assignment_json)
                    .collect();
                Ok((StatusCode::OK, Some(json!({ "value": value }))))
            }
            _ => Err(method_not_allowed()),
        },
        [collection] if collection == "appRoleAssignedTo" => match *request.method {
            Method::GET => {
                if !state.settings.app_role_assignment_permission {
                    owned_service_principal(state, &id)?;
                }
                let value: Vec<Value> = state.service_principals[&id]
                    .app_role_assigned_to
                    .iter()
                    .map(assignment_json)
                    .collect();
                Ok((StatusCode::OK, Some(json!({ "value": value }))))
            }
            Method::POST => grant_app_role(state, &id, request.body.as_ref()),
            _ => Err(method_not_allowed()),
        },
        [collection, assignment] if collection == "appRoleAssignedTo" => match *request.method {
            // "Delete appRoleAssignedTo": AppRoleAssignment.ReadWrite.All.
            Method::DELETE => {
                if !state.settings.app_role_assignment_permission {
                    return Err(GraphFailure::denied());
                }
                let sp = state
                    .service_principals
                    .get_mut(&id)
                    .ok_or_else(|| GraphFailure::not_found(&id))?;
                let before = sp.app_role_assigned_to.len();
                sp.app_role_assigned_to.retain(|a| a.id != *assignment);
                if sp.app_role_assigned_to.len() == before {
                    return Err(GraphFailure::not_found(assignment));
                }
                Ok((StatusCode::NO_CONTENT, None))
            }
            _ => Err(method_not_allowed()),
        },
        [other, ..] => Err(segment_not_found(other)),
    }
}

/// "List appRoleAssignments granted to a service principal" (learn.microsoft.com/graph/api/
/// serviceprincipal-list-approleassignments): the app roles this principal holds, i.e. its
/// application permissions. The factory holds Microsoft Graph's `Application.ReadWrite.OwnedBy`
/// and `AppRoleAssignment.ReadWrite.All` as [`crate::Settings`] say (their ids from the
/// "Microsoft Graph permissions reference", on [`MICROSOFT_GRAPH_SERVICE_PRINCIPAL_ID`]); every
/// principal also holds the roles granted to it on the directory's resources.
fn held_assignments(state: &Directory, principal_id: &str) -> Vec<AppRoleAssignment> {
    let mut held = Vec::new();
    let factory = state
        .service_principals
        .get(principal_id)
        .filter(|sp| sp.id == state.factory_sp_id);
    if let Some(factory) = factory {
        let permissions = [
            (state.settings.owned_by_permission, OWNED_BY_PERMISSION_ID),
            (
                state.settings.app_role_assignment_permission,
                APP_ROLE_ASSIGNMENT_PERMISSION_ID,
            ),
        ];
        let granted = state
            .applications
            .values()
            .find(|a| a.app_id == factory.app_id)
            .map(|a| a.created_date_time.clone())
            .unwrap_or_default();
        for (_, role) in permissions.iter().filter(|(held, _)| *held) {
            held.push(AppRoleAssignment {
                id: assignment_id(principal_id, role),
                app_role_id: (*role).to_owned(),
                principal_id: principal_id.to_owned(),
                principal_type: "ServicePrincipal".to_owned(),
                principal_display_name: factory.display_name.clone(),
                resource_id: MICROSOFT_GRAPH_SERVICE_PRINCIPAL_ID.to_owned(),
                resource_display_name: "Microsoft Graph".to_owned(),
                created_date_time: granted.clone(),
            });
        }
    }
    held.extend(
        state
            .service_principals
            .values()
            .flat_map(|resource| &resource.app_role_assigned_to)
            .filter(|a| a.principal_id == principal_id)
            .cloned(),
    );
    held
}

/// A stable assignment id that looks like Graph's: 43 base64url characters.
fn assignment_id(principal_id: &str, app_role_id: &str) -> String {
    use base64::Engine;
    let bytes = |id: &str| {
        uuid::Uuid::parse_str(id)
            .map(|u| *u.as_bytes())
            .unwrap_or_default()
    };
    let mut raw = bytes(principal_id).to_vec();
    raw.extend_from_slice(&bytes(app_role_id));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// "Grant an appRoleAssignment for a service principal" (learn.microsoft.com/graph/api/
/// serviceprincipal-post-approleassignedto): `principalId`, `resourceId` (this service
/// principal) and `appRoleId` (a role the resource defines); needs
/// `AppRoleAssignment.ReadWrite.All`, else 403 `Authorization_RequestDenied`.
fn grant_app_role(
    state: &mut Directory,
    resource_id: &str,
    body: Option<&Map<String, Value>>,
) -> GraphResult {
    if !state.settings.app_role_assignment_permission {
        return Err(GraphFailure::denied());
    }
    let empty = Map::new();
    let body = body.unwrap_or(&empty);
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| GraphFailure::bad_request(format!("Property '{name}' is required.")))
    };
    let principal_id = field("principalId")?;
    let app_role_id = field("appRoleId")?;
    if !field("resourceId")?.eq_ignore_ascii_case(resource_id) {
        return Err(GraphFailure::bad_request(
            "The resourceId of the assignment must be the service principal it is posted to.",
        ));
    }
    let principal = state
        .service_principals
        .get(&principal_id)
        .ok_or_else(|| GraphFailure::not_found(&principal_id))?
        .display_name
        .clone();
    let resource = &state.service_principals[resource_id];
    let role_exists = app_roles_of(state, &resource.app_id).iter().any(|r| {
        r.id == app_role_id
            && r.is_enabled
            && r.allowed_member_types.iter().any(|t| t == "Application")
    });
    if !role_exists {
        return Err(GraphFailure::bad_request(format!(
            "Permission being assigned was not found on application '{}'.",
            resource.app_id
        )));
    }
    if resource
        .app_role_assigned_to
        .iter()
        .any(|a| a.principal_id == principal_id && a.app_role_id == app_role_id)
    {
        return Err(GraphFailure::bad_request(
            "Permission being assigned already exists on the object",
        ));
    }
    let assignment = AppRoleAssignment {
        id: format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            &uuid::Uuid::new_v4().simple().to_string()[..11]
        ),
        app_role_id,
        principal_id,
        principal_type: "ServicePrincipal".to_owned(),
        principal_display_name: principal,
        resource_id: resource_id.to_owned(),
        resource_display_name: resource.display_name.clone(),
        created_date_time: now_iso(),
    };
    let json = assignment_json(&assignment);
    if let Some(resource) = state.service_principals.get_mut(resource_id) {
        resource.app_role_assigned_to.push(assignment);
    }
    Ok((StatusCode::CREATED, Some(json)))
}

// --- deleted items ---------------------------------------------------------------------

/// `directory/deletedItems` ("Get deleted item", "Permanently delete an item", "List
/// deletedItems" under learn.microsoft.com/graph/api/directory-deleteditems-…): an
/// `Application.ReadWrite.OwnedBy` caller sees and purges only what it owns; the list by
/// type supports `$filter` on `uniqueName` / `appId` with `eq`.
fn deleted_items_route(state: &mut Directory, request: &Request<'_>, item: &str) -> GraphResult {
    if let Some(kind) = item.strip_prefix("microsoft.graph.") {
        if *request.method != Method::GET {
            return Err(method_not_allowed());
        }
        let filter = url::form_urlencoded::parse(request.query.as_bytes())
            .find(|(k, _)| k == "$filter")
            .map(|(_, v)| v.into_owned());
        let condition = match filter.as_deref() {
            None => None,
            Some(f) => {
                let (property, value) = f
                    .split_once(" eq ")
                    .and_then(|(p, v)| {
                        let v = v.trim().strip_prefix('\'')?.strip_suffix('\'')?;
                        Some((p.trim().to_owned(), v.replace("''", "'")))
                    })
                    .ok_or_else(|| {
                        GraphFailure::bad_request(format!("Invalid filter clause: {f}"))
                    })?;
                Some((property, value))
            }
        };
        let factory = state.factory_sp_id.clone();
        let mut value = Vec::new();
        for deleted in state
            .deleted
            .values()
            .filter(|d| d.owners().contains(&factory) && replicated(state, d.deleted_at))
        {
            let (json, unique_name, app_id) = match (&deleted.object, kind) {
                (DeletedObject::Application(a), "application") => (
                    application_json(a, Some(&deleted.deleted_date_time)),
                    a.unique_name.clone(),
                    a.app_id.clone(),
                ),
                (DeletedObject::ServicePrincipal(s), "servicePrincipal") => (
                    service_principal_json(s, &[], Some(&deleted.deleted_date_time)),
                    None,
                    s.app_id.clone(),
                ),
                (_, "application" | "servicePrincipal") => continue,
                _ => return Err(segment_not_found(item)),
            };
            let keep = match &condition {
                None => true,
                Some((p, v)) if p == "uniqueName" => unique_name.as_deref() == Some(v.as_str()),
                Some((p, v)) if p == "appId" => app_id.eq_ignore_ascii_case(v),
                Some((p, _)) => {
                    return Err(GraphFailure::bad_request(format!(
                        "Unsupported or invalid query filter clause specified for property '{p}' of resource '{kind}'."
                    )));
                }
            };
            if keep {
                value.push(json);
            }
        }
        return Ok((StatusCode::OK, Some(json!({ "value": value }))));
    }
    let deleted = state
        .deleted
        .get(item)
        .filter(|d| replicated(state, d.deleted_at))
        .ok_or_else(|| GraphFailure::not_found(item))?;
    if !deleted.owners().contains(&state.factory_sp_id) {
        return Err(GraphFailure::denied());
    }
    match *request.method {
        Method::GET => {
            let json = match &deleted.object {
                DeletedObject::Application(a) => {
                    application_json(a, Some(&deleted.deleted_date_time))
                }
                DeletedObject::ServicePrincipal(s) => {
                    service_principal_json(s, &[], Some(&deleted.deleted_date_time))
                }
            };
            Ok((StatusCode::OK, Some(json)))
        }
        Method::DELETE => {
            state.deleted.remove(item);
            Ok((StatusCode::NO_CONTENT, None))
        }
        _ => Err(method_not_allowed()),
    }
}
