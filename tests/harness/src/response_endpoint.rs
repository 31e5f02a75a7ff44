//! A stand-in for the presigned S3 URL CloudFormation sends as `ResponseURL`: every
//! request is recorded for the test to inspect, and the answers can be made to fail or
//! lag so the binary's retries and per-attempt timeout are exercised.
//!
//! [`ResponseEndpoint::url`] hands out URLs shaped like CloudFormation's (a SigV4 query
//! string whose `X-Amz-Signature` is a random secret, [`ResponseEndpoint::signature`]),
//! so a test can check that the secret never reaches the logs. Like S3, the endpoint
//! refuses a request whose signature is missing or different with 403
//! `SignatureDoesNotMatch`; it checks nothing else of the signature. A `PUT` otherwise
//! answers 200 with an empty body, other methods 405.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::http::Body;
use crate::watched::Watched;

/// One request the endpoint received, recorded on arrival (before any delay or failure).
#[derive(Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The HTTP method, e.g. `PUT`.
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: Option<String>,
    /// Header names (lowercased) and values, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// When the request arrived.
    pub received_at: SystemTime,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::http::header(&self.headers, name)
    }

    /// The body parsed as JSON (a CloudFormation response document, normally).
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("body", &Body(&self.body))
            .field("received_at", &self.received_at)
            .finish()
    }
}

/// A running response endpoint on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub struct ResponseEndpoint {
    host: String,
    signature: String,
    shared: Arc<Watched<Recorder>>,
}

#[derive(Debug)]
struct Recorder {
    signature: String,
    requests: Vec<RecordedRequest>,
    failures_left: usize,
    delays_left: usize,
    delay: Duration,
    closed: bool,
}

impl ResponseEndpoint {
    /// Starts the endpoint on 127.0.0.1 with a port the OS picks.
    ///
    /// # Panics
    ///
    /// When no local port can be bound (a broken test machine).
    pub async fn start() -> Self {
        Self::try_start()
            .await
            .expect("cannot bind the response endpoint to 127.0.0.1")
    }

    /// Like [`ResponseEndpoint::start`], returning the bind error instead of panicking.
    pub async fn try_start() -> std::io::Result<Self> {
        let signature = random_signature();
        let shared = Arc::new(Watched::new(Recorder {
            signature: signature.clone(),
            requests: Vec::new(),
            failures_left: 0,
            delays_left: 0,
            delay: Duration::ZERO,
            closed: false,
        }));
        let router = Router::new()
            .fallback(record)
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let host = listener.local_addr()?.to_string();
        let closed = Arc::clone(&shared);
        tokio::spawn(async move {
            let shutdown = async move {
                closed.wait_until(None, |r| r.closed.then_some(())).await;
            };
            // An accept error ends the endpoint; the test then times out waiting.
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        Ok(Self {
            host,
            signature,
            shared,
        })
    }

    /// `127.0.0.1:PORT`, the entry for `EXTRA_RESPONSE_URL_HOSTS`.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// A presigned-looking URL for object `name` (percent-encoded into the path, as
    /// CloudFormation encodes the stack ARN in its response URLs):
    /// `http://127.0.0.1:PORT/<name>?X-Amz-Algorithm=AWS4-HMAC-SHA256&…&X-Amz-Signature=<secret>`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "http://{}/{}?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Date=20250101T000000Z\
             &X-Amz-SignedHeaders=host\
             &X-Amz-Expires=7200\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Signature={}",
            self.host,
            percent_encode_path(name),
            self.signature
        )
    }

    /// The secret `X-Amz-Signature` of every [`ResponseEndpoint::url`]; it must never
    /// appear in the binary's logs.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// Makes the next `n` requests answer 500 (replacing any earlier count).
    pub fn fail_first(&self, n: usize) {
        self.shared.update(|r| r.failures_left = n);
    }

    /// Makes the next `n` requests wait `delay` before their answer (replacing any
    /// earlier setting). The request is recorded when it arrives, before the delay.
    pub fn delay_first(&self, n: usize, delay: Duration) {
        self.shared.update(|r| {
            r.delays_left = n;
            r.delay = delay;
        });
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.read(|r| r.requests.clone())
    }

    /// Waits up to `wait` until at least `n` requests have arrived.
    pub async fn wait_for_requests(&self, n: usize, wait: Duration) -> bool {
        self.shared
            .wait_until(Some(wait), |r| (r.requests.len() >= n).then_some(()))
            .await
            .is_some()
    }
}

impl Drop for ResponseEndpoint {
    fn drop(&mut self) {
        self.shared.update(|r| r.closed = true);
    }
}

async fn record(
    State(shared): State<Arc<Watched<Recorder>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
        body: body.to_vec(),
        received_at: SystemTime::now(),
    };
    let signed = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.strip_prefix("X-Amz-Signature="))
        .collect::<Vec<_>>();
    let (fail, delay, signature_matches) = shared.update(|r| {
        r.requests.push(request);
        let fail = r.failures_left > 0;
        r.failures_left = r.failures_left.saturating_sub(1);
        let delay = (r.delays_left > 0).then_some(r.delay);
        r.delays_left = r.delays_left.saturating_sub(1);
        (fail, delay, signed == [r.signature.as_str()])
    });
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if fail {
        s3_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    } else if !signature_matches {
        s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    } else if method != Method::PUT {
        s3_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
    } else {
        StatusCode::OK.into_response()
    }
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [("content-type", "application/xml")], body).into_response()
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`.
fn percent_encode_path(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// 64 hex digits, like a SigV4 signature; random so no two endpoints share one.
fn random_signature() -> String {
    (0..64)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;
    use std::time::Instant;

    const SECOND: Duration = Duration::from_secs(1);

    async fn put(url: &str, body: &[u8]) -> http::Response {
        let (addr, target) = http::split_http_url(url).unwrap();
        http::request(addr, "PUT", target, &[("Content-Type", "")], body)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn urls_look_presigned_and_carry_the_secret() {
        let endpoint = ResponseEndpoint::start().await;
        let url = endpoint.url("arn:aws:cloudformation:us-east-1:1:stack/s/g|Res|req");
        assert!(url.starts_with(&format!(
            "http://{}/arn%3Aaws%3Acloudformation%3Aus-east-1%3A1%3Astack/s/g%7CRes%7Creq?",
            endpoint.host()
        )));
        assert!(url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
        assert!(url.contains("&X-Amz-Credential="));
        assert!(url.ends_with(&format!("&X-Amz-Signature={}", endpoint.signature())));
        assert_eq!(endpoint.signature().len(), 64);
        assert_ne!(
            endpoint.signature(),
            ResponseEndpoint::start().await.signature()
        );
    }

    #[tokio::test]
    async fn records_each_put() {
        let endpoint = ResponseEndpoint::start().await;
        let url = endpoint.url("response");
        let answer = put(&url, br#"{"Status":"SUCCESS"}"#).await;
        assert_eq!(answer.status, 200);
        assert!(answer.body.is_empty());

        assert!(endpoint.wait_for_requests(1, SECOND).await);
        let requests = endpoint.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.method, "PUT");
        assert_eq!(request.path, "/response");
        assert_eq!(
            request.query.as_deref(),
            Some(url.split_once('?').unwrap().1)
        );
        assert_eq!(request.header("Content-Type"), Some(""));
        assert_eq!(
            request.json().unwrap(),
            serde_json::json!({"Status": "SUCCESS"})
        );
        assert!(request.received_at <= SystemTime::now());
        assert!(
            !endpoint
                .wait_for_requests(2, Duration::from_millis(50))
                .await
        );
    }

    #[tokio::test]
    async fn fails_the_first_n_requests() {
        let endpoint = ResponseEndpoint::start().await;
        endpoint.fail_first(2);
        let url = endpoint.url("r");
        let statuses = [
            put(&url, b"1").await.status,
            put(&url, b"2").await.status,
            put(&url, b"3").await.status,
        ];
        assert_eq!(statuses, [500, 500, 200]);
        let bodies: Vec<_> = endpoint.requests().into_iter().map(|r| r.body).collect();
        assert_eq!(bodies, [b"1", b"2", b"3"]);
    }

    #[tokio::test]
    async fn delays_the_first_n_answers() {
        let endpoint = ResponseEndpoint::start().await;
        endpoint.delay_first(1, Duration::from_millis(400));
        let url = endpoint.url("r");

        let started = Instant::now();
        let slow = put(&url, b"slow").await;
        let slow_took = started.elapsed();
        let started = Instant::now();
        let fast = put(&url, b"fast").await;
        let fast_took = started.elapsed();

        assert_eq!((slow.status, fast.status), (200, 200));
        assert!(slow_took >= Duration::from_millis(400), "{slow_took:?}");
        assert!(fast_took < Duration::from_millis(400), "{fast_took:?}");
    }

    #[tokio::test]
    async fn records_a_request_before_delaying_it() {
        let endpoint = ResponseEndpoint::start().await;
        endpoint.delay_first(1, Duration::from_secs(30));
        let url = endpoint.url("r");
        let abandoned = tokio::time::timeout(Duration::from_millis(100), put(&url, b"x")).await;
        assert!(abandoned.is_err(), "the answer is delayed");
        assert!(endpoint.wait_for_requests(1, SECOND).await);
    }

    #[tokio::test]
    async fn refuses_a_missing_or_wrong_signature() {
        let endpoint = ResponseEndpoint::start().await;
        let host = endpoint.host();
        let unsigned = http::request(&host, "PUT", "/r", &[], b"{}").await.unwrap();
        assert_eq!(unsigned.status, 403);
        assert!(unsigned.text().contains("SignatureDoesNotMatch"));
        let wrong = http::request(&host, "PUT", "/r?X-Amz-Signature=00", &[], b"{}")
            .await
            .unwrap();
        assert_eq!(wrong.status, 403);
        assert_eq!(endpoint.requests().len(), 2);
    }

    #[tokio::test]
    async fn only_put_succeeds() {
        let endpoint = ResponseEndpoint::start().await;
        let url = endpoint.url("r");
        let (addr, target) = http::split_http_url(&url).unwrap();
        let answer = http::request(addr, "POST", target, &[], b"{}")
            .await
            .unwrap();
        assert_eq!(answer.status, 405);
    }
}
