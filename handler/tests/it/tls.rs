//! Every HTTPS client of the factory trusts exactly the roots read once ([`Roots`]): the
//! AWS SDK's (over reqwest) and reqwest's own (Entra and Graph, the response PUT). Checked
//! against a local TLS server whose certificate is issued by a test authority: each
//! client reaches it when that authority is among its roots, and refuses it when it is
//! not. And none follows a redirect.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use entra_federated_role::{
    aws::http::sdk_http_client,
    cfn::{HttpTransport, Transport},
    graph,
    tls::Roots,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tokio_rustls::TlsAcceptor;

/// STS's answer to `GetCallerIdentity`, the one answer the server gives.
const ANSWER: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::111111111111:user/tls-test</Arn>
    <UserId>AIDATLSTEST</UserId>
    <Account>111111111111</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>tls-test</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#;

/// A certificate authority of the test.
struct Authority {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    cert: CertificateDer<'static>,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap().der().clone();
        Self { params, key, cert }
    }

    /// Roots holding only this authority.
    fn roots(&self) -> Roots {
        Roots::from_der([self.cert.clone()])
    }
}

/// Serves `ANSWER` over TLS on localhost, with a certificate for `localhost`
/// issued by `authority`; returns its port.
async fn server(authority: &Authority) -> u16 {
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(
            &key,
            &rcgen::Issuer::from_params(&authority.params, &authority.key),
        )
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate ends the handshake.
                let Ok(mut stream) = acceptor.accept(socket).await else {
                    return;
                };
                if read_request(&mut stream).await.is_some() {
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{ANSWER}",
                        ANSWER.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    port
}

/// Reads one HTTP/1.1 request (its head and its `content-length` body).
async fn read_request(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        request.extend_from_slice(&chunk[..read]);
        let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map_or(0, |value| value.trim().parse().unwrap_or(0));
        if request.len() >= end + 4 + length {
            return Some(request);
        }
    }
}

/// An STS client of the factory's kind (its HTTP client over `roots`) calling `endpoint`.
fn sts(endpoint: String, roots: &Roots) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDTLSTEST",
            "secret",
            Some("session-token".to_owned()),
            None,
            "test",
        ))
        .endpoint_url(endpoint)
        .http_client(sdk_http_client(roots.clone()))
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

async fn caller_identity(roots: &Roots, port: u16) -> Result<String, String> {
    sts(format!("https://localhost:{port}"), roots)
        .get_caller_identity()
        .send()
        .await
        .map(|answer| answer.account().unwrap_or_default().to_owned())
        .map_err(|error| {
            format!(
                "{:?}",
                aws_smithy_types::error::display::DisplayErrorContext(error)
            )
        })
}

async fn get(client: reqwest::Client, port: u16) -> Result<u16, reqwest::Error> {
    let response = client
        .get(format!("https://localhost:{port}/"))
        .send()
        .await?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn the_aws_sdk_trusts_exactly_the_roots_given() {
    let authority = Authority::new("efr test authority");
    let port = server(&authority).await;
    assert_eq!(
        caller_identity(&authority.roots(), port).await,
        Ok("111111111111".to_owned())
    );
    let stranger = Authority::new("another authority");
    let refused = caller_identity(&stranger.roots(), port)
        .await
        .expect_err("a server issued by an authority not among the roots is refused");
    assert!(refused.contains("UnknownIssuer"), "{refused}");
}

#[tokio::test]
async fn reqwest_trusts_exactly_the_roots_given() {
    let authority = Authority::new("efr test authority");
    let port = server(&authority).await;
    let roots = authority.roots();
    assert_eq!(
        get(graph::http_client(&roots).unwrap(), port)
            .await
            .unwrap(),
        200
    );
    let url = url::Url::parse(&format!("https://localhost:{port}/response")).unwrap();
    let put = HttpTransport::new(&roots)
        .unwrap()
        .put(&url, b"{}".to_vec(), std::time::Duration::from_secs(10))
        .await;
    assert_eq!(put.ok(), Some(200), "the response PUT trusts the roots too");
    let stranger = Authority::new("another authority");
    let refused = get(graph::http_client(&stranger.roots()).unwrap(), port)
        .await
        .expect_err("a server issued by an authority not among the roots is refused");
    assert!(
        format!("{refused:?}").contains("UnknownIssuer"),
        "{refused:?}"
    );
}

/// A plain HTTP server that answers every request with a redirect to a second one;
/// returns its port and how many connections reached the second.
async fn redirecting_server() -> (u16, Arc<AtomicUsize>) {
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_port = target.local_addr().unwrap().port();
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = target.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = read_request(&mut socket).await;
            let _ = socket.shutdown().await;
        }
    });
    let redirecting = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = redirecting.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = redirecting.accept().await {
            if read_request(&mut socket).await.is_some() {
                let answer = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{target_port}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        }
    });
    (port, reached)
}

#[tokio::test]
async fn no_client_follows_a_redirect() {
    let (port, reached) = redirecting_server().await;
    let error = sts(format!("http://127.0.0.1:{port}"), &Roots::default())
        .get_caller_identity()
        .send()
        .await
        .expect_err("a redirect is not an answer");
    assert_eq!(
        error.raw_response().map(|r| r.status().as_u16()),
        Some(307),
        "the AWS SDK gets the redirect itself back"
    );
    let graph = graph::http_client(&Roots::default()).unwrap();
    let answer = graph
        .post(format!("http://127.0.0.1:{port}/tenant/oauth2/v2.0/token"))
        .body("client_secret=not-for-elsewhere")
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status().as_u16(),
        307,
        "so does Entra's and Graph's client"
    );
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "no signed request, session token or secret went anywhere else"
    );
}
