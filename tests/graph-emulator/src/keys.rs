//! Test keys and the certificate and JWKS checks of the token endpoint.
//!
//! [`TestKey`] is an RSA-2048 key with a self-signed certificate, made with `rcgen`: a test
//! gives the emulator its certificate (certificate credentials) or its JWKS (an external
//! issuer for workload identity federation) and signs assertions with it. The emulator finds
//! a certificate by its thumbprint, as the Microsoft identity platform does: `x5t#S256`
//! (base64url SHA-256 of the DER certificate) or `x5t` (base64url SHA-1), per
//! "Microsoft identity platform application authentication certificate credentials"
//! (learn.microsoft.com/entra/identity-platform/certificate-credentials).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::EmulatorError;

/// An RSA key pair with a self-signed certificate, for signing test assertions.
pub struct TestKey {
    key_pair: rcgen::KeyPair,
    certificate_pem: String,
    certificate_der: Vec<u8>,
    kid: String,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// A new RSA-2048 key and a certificate for `common_name` valid for a year.
    ///
    /// # Panics
    ///
    /// When the crypto backend cannot make a key (never expected).
    pub fn generate(common_name: &str) -> Self {
        let key_pair =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("generate an RSA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .expect("certificate parameters without names");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let certificate = params
            .self_signed(&key_pair)
            .expect("self-sign the certificate");
        let certificate_der = certificate.der().to_vec();
        let kid = thumbprint_s256(&certificate_der);
        Self {
            key_pair,
            certificate_pem: certificate.pem(),
            certificate_der,
            kid,
        }
    }

    /// The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn private_key_pem(&self) -> String {
        self.key_pair.serialize_pem()
    }

    /// The certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The certificate's `x5t#S256` thumbprint, also used as the JWK `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (RFC 7517): `kty` RSA, `use` sig, `alg` RS256, `kid`, `n`, `e`.
    pub fn jwk(&self) -> Value {
        let (n, e) = rsa_components(&self.certificate_der).expect("our own certificate parses");
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(n),
            "e": URL_SAFE_NO_PAD.encode(e),
        })
    }

    /// `{"keys": [jwk]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk()] })
    }

    /// An RS256 JWT over `claims` with `typ` JWT and this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(self.kid.clone());
        self.sign_with_header(&header, claims)
    }

    /// An RS256 JWT over `claims` with the given header (e.g. `x5t#S256` only).
    pub fn sign_with_header(&self, header: &Header, claims: &Value) -> String {
        let key = EncodingKey::from_rsa_pem(self.private_key_pem().as_bytes())
            .expect("our own key parses");
        jsonwebtoken::encode(header, claims, &key).expect("sign the test JWT")
    }
}

/// base64url(SHA-256(DER)): the `x5t#S256` header value.
pub fn thumbprint_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// base64url(SHA-1(DER)): the `x5t` header value.
pub fn thumbprint_sha1(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Uppercase hex SHA-1 of a DER certificate: the thumbprint Entra shows, and the default
/// `customKeyIdentifier` of a key credential ("keyCredential resource type").
pub(crate) fn thumbprint_hex(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

/// Big-endian modulus and exponent of an RSA certificate's key, without leading zeros.
fn rsa_components(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), EmulatorError> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| EmulatorError::InvalidCredential(format!("not an X.509 certificate: {e}")))?;
    match certificate.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            let strip = |b: &[u8]| {
                let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
                b[start..].to_vec()
            };
            Ok((strip(rsa.modulus), strip(rsa.exponent)))
        }
        _ => Err(EmulatorError::InvalidCredential(
            "the certificate's key is not RSA".to_owned(),
        )),
    }
}

/// A certificate registered on the factory app (a `keyCredential`).
#[derive(Clone)]
pub(crate) struct RegisteredCertificate {
    pub x5t_s256: String,
    pub x5t: String,
    pub key: DecodingKey,
}

impl RegisteredCertificate {
    /// From a PEM (`-----BEGIN CERTIFICATE-----`) or DER certificate.
    pub fn parse(certificate: &[u8]) -> Result<Self, EmulatorError> {
        let der = if certificate.starts_with(b"-----") {
            let (_, pem) = x509_parser::pem::parse_x509_pem(certificate).map_err(|e| {
                EmulatorError::InvalidCredential(format!("not a PEM certificate: {e}"))
            })?;
            pem.contents
        } else {
            certificate.to_vec()
        };
        let (n, e) = rsa_components(&der)?;
        Ok(Self {
            x5t_s256: thumbprint_s256(&der),
            x5t: thumbprint_sha1(&der),
            key: DecodingKey::from_rsa_raw_components(&n, &e),
        })
    }
}

/// A key of a trusted external issuer (one JWK of a JWKS).
#[derive(Clone)]
pub(crate) struct TrustedKey {
    pub kid: Option<String>,
    pub key: DecodingKey,
}

/// The RSA keys of a JWKS document.
pub(crate) fn parse_jwks(jwks: &Value) -> Result<Vec<TrustedKey>, EmulatorError> {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone())
        .map_err(|e| EmulatorError::InvalidCredential(format!("not a JWKS document: {e}")))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| EmulatorError::InvalidCredential(format!("unusable JWK: {e}")))?;
        keys.push(TrustedKey {
            kid: jwk.common.key_id.clone(),
            key,
        });
    }
    if keys.is_empty() {
        return Err(EmulatorError::InvalidCredential(
            "the JWKS has no keys".to_owned(),
        ));
    }
    Ok(keys)
}
