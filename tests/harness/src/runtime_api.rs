//! An emulator of the [Lambda Runtime API], the HTTP interface a custom runtime such as
//! `bootstrap` polls for events and answers on.
//!
//! A test queues events with [`RuntimeApi::invoke`]; the binary, started with
//! `AWS_LAMBDA_RUNTIME_API` set to [`RuntimeApi::addr`], long-polls
//! `GET /2018-06-01/runtime/invocation/next`, gets one event at a time with the same
//! headers Lambda sends, and posts its [`Outcome`] back; [`RuntimeApi::outcome`] waits
//! for it. Counting `next` polls tells a test that the binary came back for more work,
//! i.e. it is still serving after an event. The emulator knows nothing of CloudFormation:
//! events are opaque bytes.
//!
//! [Lambda Runtime API]: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::Body;
use crate::watched::Watched;

/// The function ARN sent with invocations unless [`RuntimeApi::set_function_arn`] changes it.
pub const DEFAULT_FUNCTION_ARN: &str =
    "arn:aws:lambda:us-east-1:111111111111:function:entra-federated-role";

/// Largest request body accepted (Lambda's synchronous response limit is 6 MB; a little
/// more is let through so a test can see an oversized answer rather than a 413).
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The request id of one invocation (`Lambda-Runtime-Aws-Request-Id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvocationId(String);

impl InvocationId {
    /// The id as sent in the `Lambda-Runtime-Aws-Request-Id` header.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InvocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the function finished an invocation.
#[derive(Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `POST …/invocation/{id}/response`: the body the function returned.
    Response(Vec<u8>),
    /// `POST …/invocation/{id}/error`: the function reported an error.
    Error {
        /// The `Lambda-Runtime-Function-Error-Type` header, when sent.
        error_type: Option<String>,
        /// The error document (usually `{"errorType": …, "errorMessage": …}`).
        body: Vec<u8>,
    },
}

impl Outcome {
    /// The body of either kind of outcome.
    pub fn body(&self) -> &[u8] {
        match self {
            Self::Response(body) | Self::Error { body, .. } => body,
        }
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(self.body())
    }
}

/// A `POST /2018-06-01/runtime/init/error`: the runtime failed before taking events.
#[derive(Clone, PartialEq, Eq)]
pub struct InitError {
    /// The `Lambda-Runtime-Function-Error-Type` header, when sent.
    pub error_type: Option<String>,
    /// The error document.
    pub body: Vec<u8>,
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Response(body) => f.debug_tuple("Response").field(&Body(body)).finish(),
            Self::Error { error_type, body } => f
                .debug_struct("Error")
                .field("error_type", error_type)
                .field("body", &Body(body))
                .finish(),
        }
    }
}

impl fmt::Debug for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitError")
            .field("error_type", &self.error_type)
            .field("body", &Body(&self.body))
            .finish()
    }
}

/// A post the emulator refused, as Lambda would (unknown request id, second answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedPost {
    /// The request path.
    pub path: String,
    /// The HTTP status answered (400 or 403).
    pub status: u16,
    /// The `errorType` answered, e.g. `InvalidRequestID`.
    pub error_type: String,
}

/// A running Runtime API emulator on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub struct RuntimeApi {
    addr: String,
    shared: Arc<Watched<Emulator>>,
}

#[derive(Debug)]
struct Emulator {
    function_arn: String,
    queue: VecDeque<Queued>,
    invocations: HashMap<String, Invocation>,
    outcomes: HashMap<String, Outcome>,
    next_polls: usize,
    /// When the first `next` poll arrived (cold-start benchmarks).
    first_poll_at: Option<Instant>,
    init_errors: Vec<InitError>,
    rejected: Vec<RejectedPost>,
    closed: bool,
}

#[derive(Debug, Clone)]
struct Queued {
    id: String,
    body: Vec<u8>,
    deadline_ms: u128,
    function_arn: String,
    trace_id: String,
}

#[derive(Debug)]
struct Invocation {
    deadline: SystemTime,
    dispatched: bool,
}

impl RuntimeApi {
    /// Starts the emulator on 127.0.0.1 with a port the OS picks.
    ///
    /// # Panics
    ///
    /// When no local port can be bound (a broken test machine).
    pub async fn start() -> Self {
        Self::try_start()
            .await
            .expect("cannot bind the runtime api emulator to 127.0.0.1")
    }

    /// Like [`RuntimeApi::start`], returning the bind error instead of panicking.
    pub async fn try_start() -> std::io::Result<Self> {
        let shared = Arc::new(Watched::new(Emulator {
            function_arn: DEFAULT_FUNCTION_ARN.to_owned(),
            queue: VecDeque::new(),
            invocations: HashMap::new(),
            outcomes: HashMap::new(),
            next_polls: 0,
            first_poll_at: None,
            init_errors: Vec::new(),
            rejected: Vec::new(),
            closed: false,
        }));
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let closed = Arc::clone(&shared);
        tokio::spawn(async move {
            let shutdown = async move {
                closed.wait_until(None, |e| e.closed.then_some(())).await;
            };
            // An accept error ends the emulator; the test then times out waiting.
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        Ok(Self { addr, shared })
    }

    /// `127.0.0.1:PORT`: the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// Sets the `Lambda-Runtime-Invoked-Function-Arn` of the invocations queued from now
    /// on (default [`DEFAULT_FUNCTION_ARN`]).
    pub fn set_function_arn(&self, arn: impl Into<String>) {
        let arn = arn.into();
        self.shared.update(|e| e.function_arn = arn);
    }

    /// Queues `event` as the next invocation; its deadline is now + `time_budget`.
    pub fn invoke(&self, event: &serde_json::Value, time_budget: Duration) -> InvocationId {
        self.invoke_raw(event.to_string().into_bytes(), time_budget)
    }

    /// Queues an invocation whose payload is `body` as is (e.g. not JSON at all).
    pub fn invoke_raw(&self, body: Vec<u8>, time_budget: Duration) -> InvocationId {
        let id = random_request_id();
        let deadline = SystemTime::now() + time_budget;
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let trace_id = format!(
            "Root=1-{:08x}-{};Parent={};Sampled=0",
            deadline_ms / 1000,
            random_hex(24),
            random_hex(16)
        );
        self.shared.update(|e| {
            e.invocations.insert(
                id.clone(),
                Invocation {
                    deadline,
                    dispatched: false,
                },
            );
            e.queue.push_back(Queued {
                id: id.clone(),
                body,
                deadline_ms,
                function_arn: e.function_arn.clone(),
                trace_id,
            });
        });
        InvocationId(id)
    }

    /// The deadline sent with invocation `id` (`Lambda-Runtime-Deadline-Ms`).
    pub fn deadline(&self, id: &InvocationId) -> Option<SystemTime> {
        self.shared
            .read(|e| e.invocations.get(id.as_str()).map(|i| i.deadline))
    }

    /// Whether the function has fetched invocation `id` through `next`.
    pub fn dispatched(&self, id: &InvocationId) -> bool {
        self.shared
            .read(|e| e.invocations.get(id.as_str()).is_some_and(|i| i.dispatched))
    }

    /// Waits up to `wait` for the function's answer to invocation `id`.
    pub async fn outcome(&self, id: &InvocationId, wait: Duration) -> Option<Outcome> {
        self.shared
            .wait_until(Some(wait), |e| e.outcomes.get(id.as_str()).cloned())
            .await
    }

    /// How many `GET …/invocation/next` requests have arrived so far (including the
    /// one currently waiting, if any).
    pub fn next_polls(&self) -> usize {
        self.shared.read(|e| e.next_polls)
    }

    /// When the first `GET …/invocation/next` arrived (taken as its handler starts, right
    /// after the request head was read), or `None` before any. A benchmark compares it
    /// with the instant it started the function's process: the cold start.
    pub fn first_poll_at(&self) -> Option<Instant> {
        self.shared.read(|e| e.first_poll_at)
    }

    /// Waits up to `wait` until at least `n` `next` polls have arrived. After the
    /// function answers invocation k, poll k + 1 shows it is still serving.
    pub async fn wait_for_polls(&self, n: usize, wait: Duration) -> bool {
        self.shared
            .wait_until(Some(wait), |e| (e.next_polls >= n).then_some(()))
            .await
            .is_some()
    }

    /// Every `POST /2018-06-01/runtime/init/error` received.
    pub fn init_errors(&self) -> Vec<InitError> {
        self.shared.read(|e| e.init_errors.clone())
    }

    /// Every answer the emulator refused (unknown id, or an invocation answered twice).
    pub fn rejected_posts(&self) -> Vec<RejectedPost> {
        self.shared.read(|e| e.rejected.clone())
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        // Ends pending long-polls and lets the server shut down gracefully.
        self.shared.update(|e| e.closed = true);
    }
}

type Shared = State<Arc<Watched<Emulator>>>;

async fn next(State(shared): Shared) -> Response {
    let now = Instant::now();
    shared.update(|e| {
        e.next_polls += 1;
        e.first_poll_at.get_or_insert(now);
    });
    let queued = shared
        .wait_until(None, |e| {
            if e.closed {
                return Some(None);
            }
            let queued = e.queue.pop_front()?;
            if let Some(invocation) = e.invocations.get_mut(&queued.id) {
                invocation.dispatched = true;
            }
            Some(Some(queued))
        })
        .await
        .flatten();
    let Some(queued) = queued else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceShutdown",
            "runtime api emulator is shutting down",
        );
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE.as_str(), "application/json".to_owned()),
            ("Lambda-Runtime-Aws-Request-Id", queued.id),
            ("Lambda-Runtime-Deadline-Ms", queued.deadline_ms.to_string()),
            ("Lambda-Runtime-Invoked-Function-Arn", queued.function_arn),
            ("Lambda-Runtime-Trace-Id", queued.trace_id),
        ],
        queued.body,
    )
        .into_response()
}

async fn respond(State(shared): Shared, Path(id): Path<String>, body: Bytes) -> Response {
    let path = format!("/2018-06-01/runtime/invocation/{id}/response");
    record_outcome(&shared, path, id, Outcome::Response(body.to_vec()))
}

async fn fail(
    State(shared): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/2018-06-01/runtime/invocation/{id}/error");
    let outcome = Outcome::Error {
        error_type: error_type(&headers),
        body: body.to_vec(),
    };
    record_outcome(&shared, path, id, outcome)
}

async fn init_error(State(shared): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let error = InitError {
        error_type: error_type(&headers),
        body: body.to_vec(),
    };
    shared.update(|e| e.init_errors.push(error));
    accepted()
}

fn record_outcome(
    shared: &Watched<Emulator>,
    path: String,
    id: String,
    outcome: Outcome,
) -> Response {
    let refusal = shared.update(|e| {
        let refusal = match e.invocations.get(&id) {
            Some(invocation) if invocation.dispatched => {
                if e.outcomes.contains_key(&id) {
                    // Lambda accepts one answer per invocation.
                    Some((
                        StatusCode::FORBIDDEN,
                        "InvalidStateTransition",
                        "invocation already answered",
                    ))
                } else {
                    None
                }
            }
            // Never queued, or queued but not yet handed out by `next`.
            _ => Some((
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                "Invalid request ID",
            )),
        };
        match refusal {
            None => {
                e.outcomes.insert(id, outcome);
            }
            Some((status, error_type, _)) => e.rejected.push(RejectedPost {
                path,
                status: status.as_u16(),
                error_type: error_type.to_owned(),
            }),
        }
        refusal
    });
    match refusal {
        None => accepted(),
        Some((status, error_type, message)) => error_response(status, error_type, message),
    }
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("Lambda-Runtime-Function-Error-Type")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "status": "OK" })),
    )
        .into_response()
}

fn error_response(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "errorMessage": message, "errorType": error_type })),
    )
        .into_response()
}

fn random_hex(len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect()
}

/// A random version-4 UUID, the shape of Lambda's request ids.
fn random_request_id() -> String {
    let variant = ['8', '9', 'a', 'b'][fastrand::usize(..4)];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        random_hex(8),
        random_hex(4),
        random_hex(3),
        random_hex(3),
        random_hex(12)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;
    use serde_json::json;

    const NEXT: &str = "/2018-06-01/runtime/invocation/next";
    const SECOND: Duration = Duration::from_secs(1);

    async fn get_next(addr: &str) -> http::Response {
        tokio::time::timeout(
            Duration::from_secs(5),
            http::request(addr, "GET", NEXT, &[], b""),
        )
        .await
        .expect("next answers once an invocation is queued")
        .expect("next succeeds")
    }

    async fn post(
        addr: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> http::Response {
        http::request(addr, "POST", target, headers, body)
            .await
            .expect("post succeeds")
    }

    #[tokio::test]
    async fn next_hands_out_the_event_with_lambda_headers() {
        let api = RuntimeApi::start().await;
        let before_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let id = api.invoke(&json!({"RequestType": "Create"}), Duration::from_secs(30));

        let next = get_next(&api.addr()).await;

        assert_eq!(next.status, 200);
        assert_eq!(next.json().unwrap(), json!({"RequestType": "Create"}));
        assert_eq!(next.header("content-type"), Some("application/json"));
        assert_eq!(
            next.header("lambda-runtime-aws-request-id"),
            Some(id.as_str())
        );
        assert_eq!(
            next.header("lambda-runtime-invoked-function-arn"),
            Some(DEFAULT_FUNCTION_ARN)
        );
        assert!(
            next.header("lambda-runtime-trace-id")
                .unwrap()
                .starts_with("Root=1-")
        );
        let deadline_ms: u128 = next
            .header("lambda-runtime-deadline-ms")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            deadline_ms >= before_ms + 30_000,
            "{deadline_ms} vs {before_ms}"
        );
        assert!(
            deadline_ms <= before_ms + 31_000,
            "{deadline_ms} vs {before_ms}"
        );
        let deadline = api.deadline(&id).unwrap();
        assert_eq!(
            deadline.duration_since(UNIX_EPOCH).unwrap().as_millis(),
            deadline_ms
        );
        assert!(api.dispatched(&id));
        assert_eq!(api.next_polls(), 1);
    }

    #[tokio::test]
    async fn the_first_poll_is_timestamped_once() {
        let api = RuntimeApi::start().await;
        assert_eq!(api.first_poll_at(), None);
        let before = Instant::now();
        api.invoke(&json!({}), SECOND);
        api.invoke(&json!({}), SECOND);
        get_next(&api.addr()).await;
        let first = api.first_poll_at().expect("timestamped");
        assert!(first >= before);
        get_next(&api.addr()).await;
        assert_eq!(
            api.first_poll_at(),
            Some(first),
            "only the first poll counts"
        );
    }

    #[tokio::test]
    async fn next_long_polls_until_an_invocation_is_queued() {
        let api = RuntimeApi::start().await;
        let addr = api.addr();
        let poll = tokio::spawn(async move { get_next(&addr).await });

        assert!(api.wait_for_polls(1, Duration::from_secs(5)).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!poll.is_finished(), "next must wait for an invocation");

        api.set_function_arn("arn:aws:lambda:eu-west-1:222222222222:function:other");
        let id = api.invoke_raw(b"not json".to_vec(), SECOND);
        let next = poll.await.unwrap();
        assert_eq!(next.body, b"not json");
        assert_eq!(
            next.header("lambda-runtime-aws-request-id"),
            Some(id.as_str())
        );
        assert_eq!(
            next.header("lambda-runtime-invoked-function-arn"),
            Some("arn:aws:lambda:eu-west-1:222222222222:function:other")
        );
    }

    #[tokio::test]
    async fn invocations_are_handed_out_in_order() {
        let api = RuntimeApi::start().await;
        let first = api.invoke(&json!(1), SECOND);
        let second = api.invoke(&json!(2), SECOND);
        assert_ne!(first, second);
        for (id, body) in [(first, "1"), (second, "2")] {
            let next = get_next(&api.addr()).await;
            assert_eq!(
                next.header("lambda-runtime-aws-request-id"),
                Some(id.as_str())
            );
            assert_eq!(next.body, body.as_bytes());
        }
        assert!(api.wait_for_polls(2, SECOND).await);
        assert!(!api.wait_for_polls(3, Duration::from_millis(50)).await);
    }

    #[tokio::test]
    async fn records_a_response() {
        let api = RuntimeApi::start().await;
        let id = api.invoke(&json!({}), SECOND);
        assert_eq!(api.outcome(&id, Duration::from_millis(50)).await, None);
        get_next(&api.addr()).await;

        let target = format!("/2018-06-01/runtime/invocation/{id}/response");
        let answer = post(&api.addr(), &target, &[], b"{\"ok\":true}").await;

        assert_eq!(answer.status, 202);
        let outcome = api.outcome(&id, SECOND).await.unwrap();
        assert_eq!(outcome, Outcome::Response(b"{\"ok\":true}".to_vec()));
        assert_eq!(outcome.json().unwrap(), json!({"ok": true}));

        // Lambda takes one answer per invocation.
        let again = post(&api.addr(), &target, &[], b"{}").await;
        assert_eq!(again.status, 403);
        assert_eq!(api.rejected_posts().len(), 1);
        assert_eq!(api.outcome(&id, SECOND).await, Some(outcome));
    }

    #[tokio::test]
    async fn waits_for_a_late_response() {
        let api = RuntimeApi::start().await;
        let id = api.invoke(&json!({}), SECOND);
        get_next(&api.addr()).await;
        let addr = api.addr();
        let target = format!("/2018-06-01/runtime/invocation/{id}/response");
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            post(&addr, &target, &[], b"late").await
        });
        let outcome = api.outcome(&id, Duration::from_secs(5)).await;
        assert_eq!(outcome, Some(Outcome::Response(b"late".to_vec())));
    }

    #[tokio::test]
    async fn records_an_error_with_its_type() {
        let api = RuntimeApi::start().await;
        let id = api.invoke(&json!({}), SECOND);
        get_next(&api.addr()).await;

        let target = format!("/2018-06-01/runtime/invocation/{id}/error");
        let body = br#"{"errorType":"boom","errorMessage":"it broke"}"#;
        let answer = post(
            &api.addr(),
            &target,
            &[("Lambda-Runtime-Function-Error-Type", "Unhandled")],
            body,
        )
        .await;

        assert_eq!(answer.status, 202);
        assert_eq!(
            api.outcome(&id, SECOND).await,
            Some(Outcome::Error {
                error_type: Some("Unhandled".to_owned()),
                body: body.to_vec(),
            })
        );
    }

    #[tokio::test]
    async fn refuses_unknown_and_undispatched_ids() {
        let api = RuntimeApi::start().await;
        let answer = post(
            &api.addr(),
            "/2018-06-01/runtime/invocation/nope/response",
            &[],
            b"{}",
        )
        .await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.json().unwrap()["errorType"], "InvalidRequestID");

        let queued = api.invoke(&json!({}), SECOND);
        let target = format!("/2018-06-01/runtime/invocation/{queued}/error");
        assert_eq!(post(&api.addr(), &target, &[], b"{}").await.status, 400);
        assert_eq!(api.outcome(&queued, Duration::from_millis(50)).await, None);
        assert_eq!(api.rejected_posts().len(), 2);
    }

    #[tokio::test]
    async fn records_init_errors() {
        let api = RuntimeApi::start().await;
        let answer = post(
            &api.addr(),
            "/2018-06-01/runtime/init/error",
            &[("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")],
            b"{\"errorMessage\":\"no\"}",
        )
        .await;
        assert_eq!(answer.status, 202);
        assert_eq!(
            api.init_errors(),
            vec![InitError {
                error_type: Some("Runtime.InitError".to_owned()),
                body: b"{\"errorMessage\":\"no\"}".to_vec(),
            }]
        );
    }

    #[tokio::test]
    async fn dropping_the_emulator_ends_pending_polls() {
        let api = RuntimeApi::start().await;
        let addr = api.addr();
        let poll = tokio::spawn(async move { http::request(&addr, "GET", NEXT, &[], b"").await });
        assert!(api.wait_for_polls(1, Duration::from_secs(5)).await);
        drop(api);
        let answer = tokio::time::timeout(Duration::from_secs(5), poll)
            .await
            .expect("a pending poll ends when the emulator is dropped")
            .unwrap()
            .unwrap();
        assert_eq!(answer.status, 500);
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = random_request_id();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
