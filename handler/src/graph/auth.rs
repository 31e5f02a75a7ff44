//! The factory's sign-in: the OAuth 2.0 client credentials grant against the tenant's
//! token endpoint, with a client secret, a certificate, or an external assertion, and a
//! token cache shared by every Graph call of a warm container.
//!
//! Follows "Microsoft identity platform and the OAuth 2.0 client credentials flow"
//! (learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow) and
//! "Microsoft identity platform application authentication certificate credentials"
//! (learn.microsoft.com/entra/identity-platform/certificate-credentials): the assertion is an
//! RS256 JWT whose header carries `x5t#S256` (base64url SHA-256 of the DER certificate) and
//! whose claims are `aud` = the token endpoint, `iss` = `sub` = the client id, a unique
//! `jti`, and `nbf`/`iat`/`exp` (valid for at most 10 minutes).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::{OAuthError, SignInError};
use crate::deadline::Deadline;
use crate::retry::{RetryPolicy, transient_status};
use crate::secret::Secret;

/// `client_assertion_type` for JWT assertions (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a signed certificate assertion is valid.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);
/// A token is renewed this long before it expires (or at half its life when shorter).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Where an external client assertion comes from: the AWS side implements it with
/// `sts:GetWebIdentityToken` (outbound web identity federation, DESIGN §7). The returned
/// JWT must be accepted by a federated identity credential of the factory app.
pub trait AssertionSource: Send + Sync {
    /// A fresh assertion (a signed JWT), valid for at least a few minutes.
    fn assertion(&self) -> BoxFuture<'_, Result<Secret, Box<dyn std::error::Error + Send + Sync>>>;
}

/// A certificate credential: the certificate registered on the factory app and its key.
#[derive(Clone)]
pub struct CertificateCredential {
    x5t_s256: String,
    key: Arc<EncodingKey>,
}

impl std::fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateCredential")
            .field("x5t#S256", &self.x5t_s256)
            .finish_non_exhaustive()
    }
}

impl CertificateCredential {
    /// From a PEM certificate and its RSA private key (PEM, PKCS#1 or PKCS#8), as stored
    /// in the credentials secret (`certificatePem`, `privateKeyPem`).
    pub fn from_pem(certificate_pem: &str, private_key_pem: &Secret) -> Result<Self, SignInError> {
        let certificate = pem::parse_many(certificate_pem)
            .map_err(|_| SignInError::InvalidCertificate("certificatePem is not PEM".to_owned()))?
            .into_iter()
            .find(|p| p.tag() == "CERTIFICATE")
            .ok_or_else(|| {
                SignInError::InvalidCertificate(
                    "certificatePem holds no -----BEGIN CERTIFICATE----- block".to_owned(),
                )
            })?;
        // The key's text never goes into the error: only that it did not parse.
        let key = EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes()).map_err(|_| {
            SignInError::InvalidCertificate("privateKeyPem is not a PEM RSA private key".to_owned())
        })?;
        Ok(Self {
            x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(certificate.contents())),
            key: Arc::new(key),
        })
    }

    /// The certificate's thumbprint as sent in `x5t#S256`.
    pub fn thumbprint_s256(&self) -> &str {
        &self.x5t_s256
    }

    /// A client assertion for `client_id` at `token_endpoint`, valid from now for
    /// [`ASSERTION_LIFETIME`].
    pub fn sign_assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Secret, SignInError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            iss: &'a str,
            sub: &'a str,
            jti: String,
            nbf: u64,
            iat: u64,
            exp: u64,
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".to_owned());
        header.x5t_s256 = Some(self.x5t_s256.clone());
        let claims = Claims {
            aud: token_endpoint,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(Secret::new)
            .map_err(SignInError::Signing)
    }
}

/// How the factory proves it is its Entra application.
#[derive(Clone)]
pub enum Credential {
    /// A client secret (`{"clientSecret": …}` in the credentials secret).
    ClientSecret(Secret),
    /// A certificate (`{"certificatePem": …, "privateKeyPem": …}`).
    Certificate(CertificateCredential),
    /// An external assertion: secretless sign-in through workload identity federation.
    Assertion(Arc<dyn AssertionSource>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientSecret(_) => f.write_str("ClientSecret(<redacted>)"),
            Self::Certificate(c) => c.fmt(f),
            Self::Assertion(_) => f.write_str("Assertion(..)"),
        }
    }
}

impl Credential {
    fn kind(&self) -> &'static str {
        match self {
            Self::ClientSecret(_) => "client_secret",
            Self::Certificate(_) => "certificate",
            Self::Assertion(_) => "federated",
        }
    }
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

/// Signs in and caches the token; one per warm container, shared by every call.
pub(crate) struct Authenticator {
    http: reqwest::Client,
    token_endpoint: String,
    client_id: String,
    scope: String,
    credential: Credential,
    policy: RetryPolicy,
    cache: Mutex<Option<CachedToken>>,
}

impl Authenticator {
    pub fn new(
        http: reqwest::Client,
        token_endpoint: String,
        client_id: String,
        scope: String,
        credential: Credential,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            http,
            token_endpoint,
            client_id,
            scope,
            credential,
            policy,
            cache: Mutex::new(None),
        }
    }

    /// A valid token: the cached one, or a new one. The lock is held while signing in, so
    /// concurrent callers wait for that one sign-in instead of starting their own.
    pub async fn token(&self, deadline: Deadline) -> Result<Secret, SignInError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        let (token, lifetime) = self.sign_in(deadline).await?;
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        *cache = Some(CachedToken {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        Ok(token)
    }

    /// Forgets `rejected` (Graph said 401), so the next call signs in again.
    pub async fn invalidate(&self, rejected: &Secret) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| c.token == *rejected) {
            *cache = None;
        }
    }

    async fn sign_in(&self, deadline: Deadline) -> Result<(Secret, Duration), SignInError> {
        let external = match &self.credential {
            Credential::Assertion(source) => {
                Some(source.assertion().await.map_err(SignInError::Assertion)?)
            }
            _ => None,
        };
        let mut attempts = 0u32;
        let mut federation_retries = 0u32;
        let mut transient_retries = 0u32;
        // When the deadline ends the retries of a federation Entra does not accept yet,
        // that refusal, not the last request's timeout, says what to fix.
        let mut refused: Option<OAuthError> = None;
        let give_up =
            |refused: Option<OAuthError>, attempts: u32, otherwise: SignInError| match refused {
                Some(last) => SignInError::FederationNotReady { attempts, last },
                None => otherwise,
            };
        loop {
            attempts += 1;
            // Built in a block: the serializer is not `Send` and must not live across an await.
            let body = {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("client_id", &self.client_id)
                    .append_pair("scope", &self.scope)
                    .append_pair("grant_type", "client_credentials");
                match &self.credential {
                    Credential::ClientSecret(secret) => {
                        form.append_pair("client_secret", secret.expose());
                    }
                    Credential::Certificate(certificate) => {
                        let assertion =
                            certificate.sign_assertion(&self.client_id, &self.token_endpoint)?;
                        form.append_pair("client_assertion_type", JWT_BEARER)
                            .append_pair("client_assertion", assertion.expose());
                    }
                    Credential::Assertion(_) => {
                        let assertion = external.as_ref().map(Secret::expose).unwrap_or_default();
                        form.append_pair("client_assertion_type", JWT_BEARER)
                            .append_pair("client_assertion", assertion);
                    }
                }
                // The form holds the secret or assertion: it is sent, never logged.
                Secret::new(form.finish())
            };
            let timeout = deadline.remaining().min(self.policy.attempt_timeout);
            if timeout.is_zero() {
                return Err(give_up(refused, attempts, SignInError::DeadlineExceeded));
            }
            let sent = self
                .http
                .post(&self.token_endpoint)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body.expose().to_owned())
                .timeout(timeout)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(error) if error.is_connect() || error.is_timeout() => {
                    transient_retries += 1;
                    let wait = self.policy.pause(transient_retries);
                    if !deadline.allows(wait) {
                        return Err(give_up(
                            refused,
                            attempts,
                            SignInError::Network(error.without_url()),
                        ));
                    }
                    tracing::warn!(
                        attempt = attempts,
                        wait_ms = wait.as_millis() as u64,
                        "token endpoint unreachable, retrying"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(error) => return Err(SignInError::Network(error.without_url())),
            };
            let status = response.status().as_u16();
            let retry_after = super::http::retry_after(response.headers());
            let bytes = response
                .bytes()
                .await
                .map_err(|e| SignInError::Network(e.without_url()))?;
            if (200..300).contains(&status) {
                let (token, lifetime) = parse_token(&bytes)?;
                tracing::info!(
                    credential = self.credential.kind(),
                    expires_in = lifetime.as_secs(),
                    attempts,
                    "signed in to Entra ID"
                );
                return Ok((token, lifetime));
            }
            if transient_status(status) {
                transient_retries += 1;
                let wait = self.policy.wait(retry_after, transient_retries);
                if !deadline.allows(wait) {
                    return Err(give_up(
                        refused,
                        attempts,
                        SignInError::Unavailable {
                            status,
                            attempts,
                            wait,
                        },
                    ));
                }
                tracing::warn!(
                    status,
                    attempt = attempts,
                    wait_ms = wait.as_millis() as u64,
                    "token endpoint busy, retrying"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            let error = OAuthError::parse(status, &bytes);
            if matches!(self.credential, Credential::Assertion(_)) && error.is_federation_mismatch()
            {
                federation_retries += 1;
                let wait = self.policy.propagation_pause(federation_retries);
                if !deadline.allows(wait) {
                    return Err(SignInError::FederationNotReady {
                        attempts,
                        last: error,
                    });
                }
                tracing::warn!(
                    code = error.code,
                    attempt = attempts,
                    wait_ms = wait.as_millis() as u64,
                    "federated credential not accepted yet, retrying"
                );
                refused = Some(error);
                tokio::time::sleep(wait).await;
                continue;
            }
            tracing::warn!(code = error.code, status, "Entra ID refused the sign-in");
            return Err(SignInError::Rejected(error));
        }
    }
}

fn parse_token(body: &[u8]) -> Result<(Secret, Duration), SignInError> {
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| SignInError::InvalidResponse("not JSON".to_owned()))?;
    let token = json["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SignInError::InvalidResponse("no access_token".to_owned()))?;
    // v2.0 sends a number; older endpoints a string.
    let expires_in = json["expires_in"]
        .as_u64()
        .or_else(|| json["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| SignInError::InvalidResponse("no expires_in".to_owned()))?;
    Ok((Secret::new(token), Duration::from_secs(expires_in)))
}
