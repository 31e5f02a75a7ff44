//! Which `ResponseURL`s we are willing to PUT to (DESIGN §2).
//!
//! Anyone the Lambda's resource policy admits can forge a whole event, `ResponseURL`
//! included. Only CloudFormation's response bucket is a legitimate target, so only
//! `https://cloudformation-custom-resource-response-<region>.<s3 endpoint>.amazonaws.com[.cn]`
//! on the default port is accepted, plus the hosts an operator lists in
//! `EXTRA_RESPONSE_URL_HOSTS` for local tests (plain `http` for loopback hosts only).

use std::net::IpAddr;

use url::{Host, Url};

const BUCKET_HOST_PREFIX: &str = "cloudformation-custom-resource-response-";
const AWS_SUFFIXES: [&str; 2] = [".amazonaws.com", ".amazonaws.com.cn"];

/// The allow-list of response URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseUrlPolicy {
    extra_hosts: Vec<ExtraHost>,
}

/// One `EXTRA_RESPONSE_URL_HOSTS` entry: a host and, optionally, the one port allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExtraHost {
    host: String,
    port: Option<u16>,
}

/// An `EXTRA_RESPONSE_URL_HOSTS` entry that is not `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "EXTRA_RESPONSE_URL_HOSTS: `{entry}` is not host[:port]; list hosts like \
     `127.0.0.1:8080,localhost:9000`, separated by commas"
)]
pub struct InvalidExtraHost {
    entry: String,
}

/// A `ResponseURL` we refuse to contact. Its Display never shows the query string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing ResponseURL {shown}: {why}")]
pub struct RefusedUrl {
    shown: String,
    why: &'static str,
}

impl ResponseUrlPolicy {
    /// CloudFormation's response bucket plus the comma-separated `host[:port]` entries of
    /// `EXTRA_RESPONSE_URL_HOSTS` (empty entries are ignored).
    pub fn with_extra_hosts(spec: &str) -> Result<Self, InvalidExtraHost> {
        let extra_hosts = spec
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(ExtraHost::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { extra_hosts })
    }

    /// Checks a `ResponseURL`, returning it parsed when we may PUT to it.
    pub fn check(&self, raw: &str) -> Result<Url, RefusedUrl> {
        let refuse = |why| RefusedUrl {
            shown: redact_url(raw),
            why,
        };
        let url = Url::parse(raw).map_err(|_| refuse("not a URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("URLs with credentials are not accepted"));
        }
        let host = match url.host() {
            Some(Host::Domain(domain)) => domain.to_ascii_lowercase(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(refuse("the URL has no host")),
        };
        if self.is_extra(&url, &host) {
            return match url.scheme() {
                "https" => Ok(url),
                "http" if is_loopback(&host) => Ok(url),
                "http" => Err(refuse("plain http is allowed for loopback hosts only")),
                _ => Err(refuse("only https is accepted")),
            };
        }
        if url.scheme() != "https" {
            return Err(refuse("only https is accepted"));
        }
        if url.port().is_some() {
            return Err(refuse(
                "CloudFormation's response bucket uses the default port",
            ));
        }
        if !is_response_bucket(&host) {
            return Err(refuse("not CloudFormation's response bucket"));
        }
        Ok(url)
    }

    fn is_extra(&self, url: &Url, host: &str) -> bool {
        self.extra_hosts.iter().any(|extra| {
            extra.host == host
                && match extra.port {
                    Some(port) => url.port_or_known_default() == Some(port),
                    None => url.port().is_none(),
                }
        })
    }
}

impl ExtraHost {
    fn parse(entry: &str) -> Result<Self, InvalidExtraHost> {
        let invalid = || InvalidExtraHost {
            entry: entry.to_owned(),
        };
        // Let the URL parser judge the host (IPv6 in brackets, IDNA, bad characters).
        let url = Url::parse(&format!("http://{entry}/")).map_err(|_| invalid())?;
        let authority_only = url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && !entry.contains(['/', '?', '#', '@']);
        let host = match url.host() {
            Some(Host::Domain(domain)) if authority_only => domain.to_ascii_lowercase(),
            Some(Host::Ipv4(ip)) if authority_only => ip.to_string(),
            Some(Host::Ipv6(ip)) if authority_only => ip.to_string(),
            _ => return Err(invalid()),
        };
        // `Url` drops an explicit default port (":80"); keep what the operator wrote.
        let port = match entry.rsplit_once(':') {
            Some((_, port)) if !entry.ends_with(']') => {
                Some(port.parse::<u16>().map_err(|_| invalid())?)
            }
            _ => None,
        };
        Ok(Self { host, port })
    }
}

/// `cloudformation-custom-resource-response-<region without dashes>.<labels>.amazonaws.com[.cn]`
fn is_response_bucket(host: &str) -> bool {
    let Some(rest) = host.strip_prefix(BUCKET_HOST_PREFIX) else {
        return false;
    };
    let Some(endpoint) = AWS_SUFFIXES
        .iter()
        .find_map(|suffix| rest.strip_suffix(suffix))
    else {
        return false;
    };
    // `endpoint` is "<region>.s3" or "<region>.s3.<region-with-dashes>" and the like.
    let mut labels = endpoint.split('.');
    let region = labels.next().unwrap_or_default();
    let region_ok = !region.is_empty() && region.bytes().all(|b| b.is_ascii_alphanumeric());
    let mut rest = labels.peekable();
    region_ok
        && rest.peek().is_some()
        && rest.all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The URL without its query string or fragment, for logs and reasons
/// (a presigned URL's query string is a bearer credential).
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("");
            match url.port() {
                Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
                None => format!("{}://{host}{}", url.scheme(), url.path()),
            }
        }
        Err(_) => {
            let end = raw.find(['?', '#']).unwrap_or(raw.len()).min(128);
            let mut cut = end;
            while !raw.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("`{}` (unparsable)", &raw[..cut])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws/x?X-Amz-Signature=s"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-useast2.s3.us-east-2.amazonaws.com/a/b?sig=1"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-eucentral1.s3.eu-central-1.amazonaws.com/a"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/a"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-usgovwest1.s3-us-gov-west-1.amazonaws.com/a"
    )]
    #[case("https://CLOUDFORMATION-custom-resource-response-useast1.s3.amazonaws.com/a")]
    fn cloudformation_buckets_are_accepted(#[case] url: &str) {
        assert!(ResponseUrlPolicy::default().check(url).is_ok(), "{url}");
    }

    #[rstest]
    #[case(
        "http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a",
        "only https"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com:8443/a",
        "default port"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example/a",
        "response bucket"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-useast1.evil.example/a",
        "response bucket"
    )]
    #[case(
        "https://evil-cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a",
        "response bucket"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-.s3.amazonaws.com/a",
        "response bucket"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-us-east-1.amazonaws.com/a",
        "response bucket"
    )]
    #[case(
        "https://user:pw@cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a",
        "credentials"
    )]
    #[case("https://169.254.169.254/latest/meta-data", "response bucket")]
    #[case("http://127.0.0.1:9000/r", "only https")]
    #[case("file:///etc/passwd", "no host")]
    #[case("not a url", "not a URL")]
    fn everything_else_is_refused(#[case] url: &str, #[case] why: &str) {
        let refused = ResponseUrlPolicy::default().check(url).unwrap_err();
        assert!(refused.to_string().contains(why), "{url}: {refused}");
    }

    #[test]
    fn extra_hosts_allow_loopback_http_and_exact_ports() {
        let policy = ResponseUrlPolicy::with_extra_hosts(
            "127.0.0.1:9000, localhost:80 ,[::1]:7000,cfn.test",
        )
        .unwrap();
        assert!(policy.check("http://127.0.0.1:9000/r?sig=1").is_ok());
        assert!(policy.check("http://localhost/r").is_ok());
        assert!(policy.check("http://[::1]:7000/r").is_ok());
        assert!(policy.check("https://cfn.test/r").is_ok());
        // other port, plain http off loopback, unlisted host
        assert!(policy.check("http://127.0.0.1:9001/r").is_err());
        assert!(
            policy
                .check("http://cfn.test/r")
                .unwrap_err()
                .to_string()
                .contains("loopback")
        );
        assert!(policy.check("https://cfn.test:444/r").is_err());
        assert!(policy.check("http://127.0.0.2:9000/r").is_err());
        // the bucket is still accepted
        assert!(
            policy
                .check("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a")
                .is_ok()
        );
    }

    #[rstest]
    #[case("http://127.0.0.1:9000")]
    #[case("127.0.0.1:port")]
    #[case("127.0.0.1:99999")]
    #[case("user@host")]
    #[case("host/path")]
    #[case("bad host")]
    fn malformed_extra_hosts_are_configuration_errors(#[case] entry: &str) {
        let error = ResponseUrlPolicy::with_extra_hosts(entry).unwrap_err();
        assert!(error.to_string().contains("EXTRA_RESPONSE_URL_HOSTS"));
    }

    #[test]
    fn empty_extra_hosts_mean_none() {
        assert_eq!(
            ResponseUrlPolicy::with_extra_hosts(" , ").unwrap(),
            ResponseUrlPolicy::default()
        );
    }

    #[test]
    fn refusals_and_redaction_never_show_the_query_string() {
        let url = "https://evil.example:8443/path/x?X-Amz-Signature=topsecret#frag";
        assert_eq!(redact_url(url), "https://evil.example:8443/path/x");
        let refused = ResponseUrlPolicy::default().check(url).unwrap_err();
        assert!(!refused.to_string().contains("topsecret"));
        assert!(!redact_url("no url ?topsecret").contains("topsecret"));
    }
}
