//! The system's trusted root certificates, read from disk once per process and shared by
//! every HTTPS client: Entra's sign-in and Graph, the PUT of CloudFormation's response,
//! and the AWS SDK (whose HTTP client is reqwest too: [`crate::aws::http`]).
//!
//! Left to themselves, the AWS SDK reads the store once per process and reqwest's platform
//! verifier once per client; on a system whose store is a bundle plus a directory of
//! hashed files that is hundreds of files a read at cold start. One read, with the same
//! rules (`SSL_CERT_FILE` and `SSL_CERT_DIR`, else the platform's locations), gives every
//! client the same roots. (The SDK's own client takes roots only as PEM text, decoded
//! again for every SDK client made: about 0.8 ms each for 144 roots.)

use rustls::{RootCertStore, pki_types::CertificateDer};

/// Root certificates every HTTPS client of the process trusts.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    /// The certificates rustls accepts as trust anchors, in the order read.
    certs: Vec<CertificateDer<'static>>,
    /// What could not be read or used, for the log.
    problems: Vec<String>,
}

impl Roots {
    /// The system's roots, read as rustls-native-certs reads them (`SSL_CERT_FILE`,
    /// `SSL_CERT_DIR`, else the platform's bundle and directory). Certificates rustls
    /// cannot use as trust anchors are left out and named in [`Roots::problems`], as
    /// reqwest's platform verifier left them out.
    pub fn system() -> Self {
        let loaded = rustls_native_certs::load_native_certs();
        let mut roots = Self::from_der(loaded.certs);
        roots
            .problems
            .extend(loaded.errors.iter().map(ToString::to_string));
        roots
    }

    /// These certificates, less any that is not a usable trust anchor.
    pub fn from_der(certs: impl IntoIterator<Item = CertificateDer<'static>>) -> Self {
        let mut roots = Self::default();
        let mut store = RootCertStore::empty();
        for (index, cert) in certs.into_iter().enumerate() {
            match store.add(cert.clone()) {
                Ok(()) => roots.certs.push(cert),
                Err(error) => roots.problems.push(format!(
                    "certificate {index} is not a trust anchor: {error}"
                )),
            }
        }
        if roots.certs.is_empty() {
            roots
                .problems
                .push("no trusted root certificate was found: every HTTPS call will fail".into());
        }
        roots
    }

    /// What could not be read or used (each worth a warning in the log).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// A reqwest client builder trusting exactly these roots and following no redirect:
    /// none of the factory's requests is redirected, and a redirect would carry what the
    /// request holds (a signed body, a session token, a client secret, the response to a
    /// presigned URL) to wherever it points.
    pub fn reqwest(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_only(
                self.certs
                    .iter()
                    .filter_map(|cert| reqwest::Certificate::from_der(cert).ok()),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn keeps_every_trust_anchor_and_names_what_it_leaves_out() {
        let roots = Roots::from_der([
            self_signed("one.example"),
            CertificateDer::from(b"not a certificate".to_vec()),
            self_signed("two.example"),
        ]);
        assert_eq!(roots.certs.len(), 2);
        assert_eq!(roots.problems().len(), 1);
        assert!(
            roots.problems()[0].starts_with("certificate 1 is not a trust anchor"),
            "{:?}",
            roots.problems()
        );
    }

    #[test]
    fn an_empty_store_is_reported() {
        let roots = Roots::from_der([]);
        assert!(roots.certs.is_empty());
        assert_eq!(
            roots.problems(),
            ["no trusted root certificate was found: every HTTPS call will fail"]
        );
    }
}
