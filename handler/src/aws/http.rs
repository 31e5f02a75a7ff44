//! The AWS SDK's HTTP client, over reqwest: the same TLS stack, trusted roots and proxy
//! rules as the factory's other HTTPS clients, so the system's trust store is read once
//! per process instead of once by the SDK and again for reqwest.
//!
//! Every call the factory makes through the SDK (IAM, STS, CloudFormation, Secrets
//! Manager, SSM, EventBridge, and the credential providers' own calls) sends a small body
//! held in memory, which is all this client sends: a streaming request body is refused.
//! Responses stream back.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    },
    orchestrator::{HttpRequest, HttpResponse},
    result::ConnectorError,
    runtime_components::RuntimeComponents,
};
use aws_smithy_types::body::SdkBody;

use crate::tls::Roots;

/// The SDK's HTTP client over reqwest, trusting `roots`: one reqwest client per distinct
/// connect and read timeout the SDK asks for, kept for the life of the process.
pub fn sdk_http_client(roots: Roots) -> SharedHttpClient {
    SharedHttpClient::new(ReqwestHttpClient {
        roots,
        connectors: Mutex::new(HashMap::new()),
    })
}

type Timeouts = (Option<Duration>, Option<Duration>);

#[derive(Debug)]
struct ReqwestHttpClient {
    roots: Roots,
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        connectors
            .entry(timeouts)
            .or_insert_with(|| {
                // No redirect is followed ([`Roots::reqwest`]), as by the SDK's own client.
                let mut builder = self.roots.reqwest();
                if let Some(timeout) = timeouts.0 {
                    builder = builder.connect_timeout(timeout);
                }
                if let Some(timeout) = timeouts.1 {
                    builder = builder.read_timeout(timeout);
                }
                // A client that cannot be built (a TLS set-up error) fails each call.
                SharedHttpConnector::new(ReqwestConnector(
                    builder.build().map_err(|e| e.to_string()),
                ))
            })
            .clone()
    }
}

#[derive(Debug)]
struct ReqwestConnector(Result<reqwest::Client, String>);

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let client = client.map_err(|e| ConnectorError::other(e.into(), None))?;
            let response = client
                .execute(into_reqwest(request)?)
                .await
                .map_err(connector_error)?;
            // The body streams, as from the SDK's own client: never held whole where the
            // SDK's trace logging prints a response (a secret's value is one).
            let answer = http::Response::from(response).map(SdkBody::from_body_1_x);
            HttpResponse::try_from(answer).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK's request as reqwest's, its body copied out of memory. reqwest parses the URI
/// as a URL (dot segments resolved, a default port dropped): harmless for these services,
/// whose signed path is `/`, but not for an API with object keys in its path.
fn into_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let (parts, body) = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?
        .into_parts();
    let body = body
        .bytes()
        .ok_or_else(|| ConnectorError::user("a streaming request body is not supported".into()))?
        .to_vec();
    reqwest::Request::try_from(http::Request::from_parts(parts, body))
        .map_err(|e| ConnectorError::user(e.into()))
}

/// How the SDK should see a failed exchange: a timeout or an I/O failure (both retried by
/// the factory as an unreachable service), or anything else (not retried). The URL is
/// left out, as from every client of the factory.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    let error = error.without_url();
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}
