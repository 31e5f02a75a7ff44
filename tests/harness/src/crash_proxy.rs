//! Crashing the binary right after any single write.
//!
//! [`CrashPoints`] puts a forwarding proxy in front of each service the binary writes to
//! (moto, the Graph emulator). Every request is forwarded as is; the proxies classify
//! writes (IAM and other AWS Query actions that change state; Graph `POST`, `PATCH`,
//! `DELETE`) and count them across all services. Armed with [`CrashPoints::arm`]`(n)`, the
//! `n`-th write is forwarded — so the service applies it — but its answer is withheld, and
//! so is every later request: the binary is stuck right after that write, and the test
//! kills it, as a crash would. A fresh process then gets the same event again.
//!
//! The same proxies serve the benchmarks: [`CrashPoints::proxy_with`] adds a fixed
//! latency to every forwarded request ([`ProxyOptions::latency`], changeable later with
//! [`Proxy::set_latency`]), and every forwarded request is recorded as a
//! [`ForwardedCall`] — named (e.g. `iam:CreateRole`, `graph POST /v1.0/servicePrincipals`),
//! keyed on the exact request so a call made twice shows, with its status and timing —
//! for [`CrashPoints::calls`].

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, Request, Response, StatusCode, Uri},
};
use tokio::{net::TcpListener, sync::Notify};

use crate::http;

/// Decides whether a request writes, and names it.
pub type Classifier = fn(&Method, &Uri, &HeaderMap, &[u8]) -> Option<String>;

/// Names any request (reads too), for [`ForwardedCall::name`].
pub type Namer = fn(&Method, &Uri, &HeaderMap, &[u8]) -> String;

/// How a proxy made with [`CrashPoints::proxy_with`] behaves beyond forwarding.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyOptions {
    /// Waited before each request is forwarded: a fixed round-trip time to the service.
    pub latency: Duration,
    /// Names each call; without one, a call is named by the classifier (writes) or as
    /// `METHOD /path`.
    pub name: Option<Namer>,
    /// Refuses the requests it matches, as AWS refuses a principal that is not allowed:
    /// 403 `AccessDenied` in the Query protocol's error document, never forwarded.
    pub refuse: Option<Refuse>,
}

/// Matches the requests a proxy refuses by their body (see [`ProxyOptions::refuse`]):
/// an AWS Query call names its action and parameters there.
pub type Refuse = fn(&[u8]) -> bool;

/// One request a proxy forwarded, recorded when its answer came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedCall {
    /// What the call is (see [`ProxyOptions::name`]).
    pub name: String,
    /// The exact request — method, path and query, and a hash of the body: two calls with
    /// the same key are the same call made twice.
    pub key: String,
    /// Whether the classifier took it for a write.
    pub write: bool,
    /// The upstream's status, or 502 when it could not be reached.
    pub status: u16,
    /// When the proxy received the request.
    pub received: Instant,
    /// When the upstream's answer was back (after the injected latency).
    pub answered: Instant,
}

#[derive(Default)]
struct Shared {
    writes: Vec<String>,
    calls: Vec<ForwardedCall>,
    trip_at: Option<usize>,
    tripped: bool,
}

/// Counting proxies that can stop the world after the n-th write.
#[derive(Clone, Default)]
pub struct CrashPoints {
    shared: Arc<Mutex<Shared>>,
    tripped: Arc<Notify>,
}

/// One proxy: give [`Proxy::url`] to the binary instead of the upstream's.
pub struct Proxy {
    url: String,
    latency_nanos: Arc<AtomicU64>,
    _server: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:PORT` (e.g. for `EXTRA_RESPONSE_URL_HOSTS`).
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Waits `latency` before forwarding each request from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_nanos.store(nanos(latency), Ordering::Relaxed);
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self._server.abort();
    }
}

#[derive(Clone)]
struct Route {
    points: CrashPoints,
    upstream: String,
    classify: Classifier,
    name: Option<Namer>,
    refuse: Option<Refuse>,
    latency_nanos: Arc<AtomicU64>,
}

impl CrashPoints {
    /// New, disarmed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A proxy to `upstream` (`http://host:port`) whose writes `classify` names.
    pub async fn proxy(&self, upstream: &str, classify: Classifier) -> Proxy {
        self.proxy_with(upstream, classify, ProxyOptions::default())
            .await
    }

    /// Like [`CrashPoints::proxy`], with a latency and a namer for every call.
    pub async fn proxy_with(
        &self,
        upstream: &str,
        classify: Classifier,
        options: ProxyOptions,
    ) -> Proxy {
        let latency_nanos = Arc::new(AtomicU64::new(nanos(options.latency)));
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let route = Route {
            points: self.clone(),
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
            classify,
            name: options.name,
            refuse: options.refuse,
            latency_nanos: Arc::clone(&latency_nanos),
        };
        let app = Router::new().fallback(forward).with_state(route);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            url: format!("http://{addr}"),
            latency_nanos,
            _server: server,
        }
    }

    /// Counts from zero again; the `n`-th write from now (1-based) is the last one.
    pub fn arm(&self, n: usize) {
        let mut shared = self.shared.lock().expect("not poisoned");
        *shared = Shared {
            trip_at: Some(n),
            ..Shared::default()
        };
    }

    /// Counts from zero again with no crash point: everything is forwarded.
    pub fn disarm(&self) {
        *self.shared.lock().expect("not poisoned") = Shared::default();
    }

    /// The writes forwarded since the last arm/disarm, named.
    pub fn writes(&self) -> Vec<String> {
        self.shared.lock().expect("not poisoned").writes.clone()
    }

    /// Every call forwarded since the last arm/disarm, in the order the answers came.
    pub fn calls(&self) -> Vec<ForwardedCall> {
        self.shared.lock().expect("not poisoned").calls.clone()
    }

    /// Whether the crash point was reached.
    pub fn is_tripped(&self) -> bool {
        self.shared.lock().expect("not poisoned").tripped
    }

    /// Waits up to `wait` for the crash point.
    pub async fn wait_tripped(&self, wait: Duration) -> bool {
        let notified = self.tripped.notified();
        if self.is_tripped() {
            return true;
        }
        tokio::time::timeout(wait, notified).await.is_ok() || self.is_tripped()
    }
}

async fn forward(State(route): State<Route>, request: Request<Body>) -> Response<Body> {
    let received = Instant::now();
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let write = (route.classify)(&parts.method, &parts.uri, &parts.headers, &body);
    let name = match route.name {
        Some(name) => name(&parts.method, &parts.uri, &parts.headers, &body),
        None => write
            .clone()
            .unwrap_or_else(|| format!("{} {}", parts.method, parts.uri.path())),
    };
    let latency = route.latency_nanos.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_nanos(latency)).await;
    }
    if route.points.is_tripped() {
        // The world stopped: hold every later request until the process is killed.
        std::future::pending::<()>().await;
    }
    if route.refuse.is_some_and(|refuse| refuse(&body)) {
        return refused();
    }
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding"
            )
        })
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    // The host the client addressed, as reverse proxies pass it on: what a server puts in
    // the links it answers with (Graph's `@odata.nextLink`) must lead back through here.
    if let Some(host) = parts.headers.get("host").and_then(|h| h.to_str().ok()) {
        headers.push(("x-forwarded-host".to_owned(), host.to_owned()));
    }
    let borrowed: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let answer = http::request(
        &route.upstream,
        parts.method.as_str(),
        target,
        &borrowed,
        &body,
    )
    .await;
    let call = ForwardedCall {
        name,
        key: call_key(&parts.method, &parts.uri, &body),
        write: write.is_some(),
        status: answer.as_ref().map_or(502, |answer| answer.status),
        received,
        answered: Instant::now(),
    };
    route
        .points
        .shared
        .lock()
        .expect("not poisoned")
        .calls
        .push(call);
    if let Some(name) = write {
        let trip = {
            let mut shared = route.points.shared.lock().expect("not poisoned");
            shared.writes.push(name);
            let trip = shared.trip_at == Some(shared.writes.len());
            shared.tripped |= trip;
            trip
        };
        if trip {
            route.points.tripped.notify_waiters();
            std::future::pending::<()>().await;
        }
    }
    match answer {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status);
            for (name, value) in &answer.headers {
                if !matches!(
                    name.as_str(),
                    "content-length" | "connection" | "transfer-encoding"
                ) {
                    response = response.header(name, value);
                }
            }
            response
                .body(Body::from(answer.body))
                .expect("a valid response")
        }
        Err(error) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(error.to_string()))
            .expect("a valid response"),
    }
}

/// AWS's answer to a call the principal may not make, as the Query protocol writes it
/// ("Common Errors", AWS STS API Reference: `AccessDenied`, HTTP 403).
fn refused() -> Response<Body> {
    let body = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
                <Message>User is not authorized to perform this action</Message></Error>\
                <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>";
    Response::builder()
        .status(StatusCode::FORBIDDEN)
        .header("content-type", "text/xml")
        .body(Body::from(body))
        .expect("a valid response")
}

/// `METHOD path?query #hash-of-body`: the identity of one exact request.
fn call_key(method: &Method, uri: &Uri, body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    format!("{method} {target} #{:016x}", hasher.finish())
}

/// The AWS action of a request: the `X-Amz-Target` operation (JSON protocol) or the
/// `Action` form field (Query protocol).
fn aws_action(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    headers
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
        .and_then(|target| target.rsplit('.').next())
        .map(str::to_owned)
        .or_else(|| {
            url_form(body)
                .into_iter()
                .find(|(key, _)| key == "Action")
                .map(|(_, value)| value)
        })
}

/// Names any AWS call `service:Action`, the service taken from the SigV4 credential
/// scope (`…/us-east-1/iam/aws4_request`), e.g. `iam:CreateRole`, `sts:AssumeRole`.
pub fn aws_call_name(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> String {
    let service = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("aws");
    match aws_action(headers, body) {
        Some(action) => format!("{service}:{action}"),
        None => format!("{service}:{method} {}", uri.path()),
    }
}

/// Names any Graph call `graph METHOD /path`, with object ids shown as `{id}` and key
/// values as `…` (e.g. `graph PATCH /v1.0/applications(uniqueName='…')`), and the
/// sign-in as `entra POST /oauth2/v2.0/token`.
pub fn graph_call_name(method: &Method, uri: &Uri, _: &HeaderMap, _: &[u8]) -> String {
    let path = uri.path();
    if path.contains("/oauth2/") {
        return format!("entra {method} /oauth2/v2.0/token");
    }
    let shown: Vec<String> = path
        .split('/')
        .map(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            if let Some((head, rest)) = decoded.split_once('(') {
                let key = rest.split('=').next().unwrap_or_default();
                if rest.contains('=') {
                    format!("{head}({key}='…')")
                } else {
                    format!("{head}({{id}})")
                }
            } else if is_guid(&decoded) {
                "{id}".to_owned()
            } else {
                decoded.into_owned()
            }
        })
        .collect();
    format!("graph {method} {}", shown.join("/"))
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Names a call to CloudFormation's response bucket.
pub fn response_call_name(method: &Method, _: &Uri, _: &HeaderMap, _: &[u8]) -> String {
    format!("s3 {method} ResponseURL")
}

/// Responses to CloudFormation (a `PUT` to the response bucket) as writes.
pub fn response_writes(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<String> {
    (*method == Method::PUT).then(|| response_call_name(method, uri, headers, body))
}

/// AWS writes: Query-protocol actions (IAM, STS, CloudFormation) that change state, and
/// JSON-protocol targets (Secrets Manager) likewise.
pub fn aws_writes(_: &Method, _: &Uri, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    const WRITES: [&str; 10] = [
        "Create", "Add", "Attach", "Put", "Update", "Tag", "Untag", "Remove", "Delete", "Detach",
    ];
    let action = aws_action(headers, body)?;
    WRITES
        .iter()
        .any(|verb| action.starts_with(verb))
        .then(|| format!("aws {action}"))
}

/// Graph writes: `POST`, `PATCH` and `DELETE` except the sign-in (token endpoint).
pub fn graph_writes(method: &Method, uri: &Uri, _: &HeaderMap, _: &[u8]) -> Option<String> {
    let write = matches!(*method, Method::POST | Method::PATCH | Method::DELETE)
        && !uri.path().contains("/oauth2/")
        && !uri.path().starts_with("/_emulator");
    write.then(|| format!("graph {method} {}", uri.path()))
}

/// The pairs of an `application/x-www-form-urlencoded` body.
fn url_form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            Some((decode(key), decode(value)))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => match u8::from_str_radix(&String::from_utf8_lossy(hex), 16) {
                Ok(byte) => {
                    out.push(byte);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_writes_are_told_from_reads() {
        let none = HeaderMap::new();
        let uri: Uri = "/".parse().unwrap();
        let body = |action: &str| format!("Action={action}&Version=2010-05-08");
        for write in [
            "CreateRole",
            "AddClientIDToOpenIDConnectProvider",
            "DeleteRole",
            "PutRolePolicy",
            "TagRole",
        ] {
            assert_eq!(
                aws_writes(&Method::POST, &uri, &none, body(write).as_bytes()),
                Some(format!("aws {write}"))
            );
        }
        for read in [
            "GetRole",
            "ListRoles",
            "DescribeStacks",
            "AssumeRole",
            "GetWebIdentityToken",
        ] {
            assert_eq!(
                aws_writes(&Method::POST, &uri, &none, body(read).as_bytes()),
                None,
                "{read}"
            );
        }
        let mut json = HeaderMap::new();
        json.insert(
            "x-amz-target",
            "secretsmanager.GetSecretValue".parse().unwrap(),
        );
        assert_eq!(aws_writes(&Method::POST, &uri, &json, b"{}"), None);
    }

    #[test]
    fn graph_writes_exclude_sign_in() {
        let uri = |p: &str| p.parse::<Uri>().unwrap();
        assert!(
            graph_writes(
                &Method::PATCH,
                &uri("/v1.0/applications(uniqueName='x')"),
                &HeaderMap::new(),
                b""
            )
            .is_some()
        );
        assert!(
            graph_writes(
                &Method::POST,
                &uri("/tenant/oauth2/v2.0/token"),
                &HeaderMap::new(),
                b""
            )
            .is_none()
        );
        assert!(
            graph_writes(
                &Method::GET,
                &uri("/v1.0/applications"),
                &HeaderMap::new(),
                b""
            )
            .is_none()
        );
    }

    #[test]
    fn calls_are_named() {
        let uri = |p: &str| p.parse::<Uri>().unwrap();
        let mut signed = HeaderMap::new();
        signed.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            aws_call_name(
                &Method::POST,
                &uri("/"),
                &signed,
                b"Action=GetRole&RoleName=x"
            ),
            "iam:GetRole"
        );
        let mut json = HeaderMap::new();
        json.insert(
            "x-amz-target",
            "secretsmanager.GetSecretValue".parse().unwrap(),
        );
        assert_eq!(
            aws_call_name(&Method::POST, &uri("/"), &json, b"{}"),
            "aws:GetSecretValue"
        );
        let none = HeaderMap::new();
        assert_eq!(
            graph_call_name(
                &Method::PATCH,
                &uri("/v1.0/applications(uniqueName='efr-1a2b')"),
                &none,
                b""
            ),
            "graph PATCH /v1.0/applications(uniqueName='…')"
        );
        assert_eq!(
            graph_call_name(
                &Method::DELETE,
                &uri("/v1.0/directory/deletedItems/0b5b3a0e-1d2f-4b3c-9a8e-7f6d5c4b3a21"),
                &none,
                b""
            ),
            "graph DELETE /v1.0/directory/deletedItems/{id}"
        );
        assert_eq!(
            graph_call_name(&Method::POST, &uri("/tenant/oauth2/v2.0/token"), &none, b""),
            "entra POST /oauth2/v2.0/token"
        );
    }

    #[test]
    fn equal_requests_share_a_key() {
        let uri: Uri = "/v1.0/servicePrincipals".parse().unwrap();
        assert_eq!(
            call_key(&Method::POST, &uri, b"{\"appId\":\"a\"}"),
            call_key(&Method::POST, &uri, b"{\"appId\":\"a\"}")
        );
        assert_ne!(
            call_key(&Method::POST, &uri, b"{\"appId\":\"a\"}"),
            call_key(&Method::POST, &uri, b"{\"appId\":\"b\"}")
        );
    }

    #[tokio::test]
    async fn proxies_forward_with_latency_and_record_every_call() {
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        let app = Router::new().fallback(|| async { "ok" });
        let server = tokio::spawn(async move {
            let _ = axum::serve(upstream, app).await;
        });
        let points = CrashPoints::new();
        let proxy = points
            .proxy_with(
                &format!("http://{upstream_addr}"),
                graph_writes,
                ProxyOptions {
                    latency: Duration::from_millis(30),
                    name: Some(graph_call_name),
                    ..ProxyOptions::default()
                },
            )
            .await;
        let started = Instant::now();
        let answer = http::request(proxy.host(), "POST", "/v1.0/servicePrincipals", &[], b"{}")
            .await
            .unwrap();
        assert_eq!(answer.body, b"ok");
        assert!(started.elapsed() >= Duration::from_millis(30));
        proxy.set_latency(Duration::ZERO);
        http::request(proxy.host(), "GET", "/v1.0/applications", &[], b"")
            .await
            .unwrap();
        let calls = points.calls();
        assert_eq!(
            calls
                .iter()
                .map(|c| (c.name.as_str(), c.write, c.status))
                .collect::<Vec<_>>(),
            [
                ("graph POST /v1.0/servicePrincipals", true, 200),
                ("graph GET /v1.0/applications", false, 200)
            ]
        );
        assert!(calls[0].answered - calls[0].received >= Duration::from_millis(30));
        assert_eq!(points.writes(), ["graph POST /v1.0/servicePrincipals"]);
        points.disarm();
        assert!(points.calls().is_empty());
        server.abort();
    }

    #[test]
    fn forms_are_decoded() {
        assert_eq!(
            url_form(b"Action=Create%20Role&x=a+b"),
            [
                ("Action".into(), "Create Role".into()),
                ("x".into(), "a b".into())
            ]
        );
    }
}
