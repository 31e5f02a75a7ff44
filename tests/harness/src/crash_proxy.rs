//! Crashing the binary right after any single write.
//!
//! [`CrashPoints`] puts a forwarding proxy in front of each service the binary writes to
//! (moto, the Graph emulator). Every request is forwarded as is; the proxies classify
//! writes (IAM and other AWS Query actions that change state; Graph `POST`, `PATCH`,
//! `DELETE`) and count them across all services. Armed with [`CrashPoints::arm`]`(n)`, the
//! `n`-th write is forwarded — so the service applies it — but its answer is withheld, and
//! so is every later request: the binary is stuck right after that write, and the test
//! kills it, as a crash would. A fresh process then gets the same event again.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
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

#[derive(Default)]
struct Shared {
    writes: Vec<String>,
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
    _server: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
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
}

impl CrashPoints {
    /// New, disarmed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A proxy to `upstream` (`http://host:port`) whose writes `classify` names.
    pub async fn proxy(&self, upstream: &str, classify: Classifier) -> Proxy {
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
        };
        let app = Router::new().fallback(forward).with_state(route);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            url: format!("http://{addr}"),
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
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let write = (route.classify)(&parts.method, &parts.uri, &parts.headers, &body);
    if route.points.is_tripped() {
        // The world stopped: hold every later request until the process is killed.
        std::future::pending::<()>().await;
    }
    let headers: Vec<(String, String)> = parts
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

/// AWS writes: Query-protocol actions (IAM, STS, CloudFormation) that change state, and
/// JSON-protocol targets (Secrets Manager) likewise.
pub fn aws_writes(_: &Method, _: &Uri, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    const WRITES: [&str; 10] = [
        "Create", "Add", "Attach", "Put", "Update", "Tag", "Untag", "Remove", "Delete", "Detach",
    ];
    let action = headers
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
        .and_then(|target| target.rsplit('.').next())
        .map(str::to_owned)
        .or_else(|| {
            url_form(body)
                .into_iter()
                .find(|(key, _)| key == "Action")
                .map(|(_, value)| value)
        })?;
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
