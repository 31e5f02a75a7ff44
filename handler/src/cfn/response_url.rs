//! Which `ResponseURL`s we are willing to PUT to (DESIGN §2).
//!
//! Anyone the Lambda's resource policy admits can forge a whole event, `ResponseURL`
//! included. Only CloudFormation's response bucket **of the stack's region** is a
//! legitimate target: `https://cloudformation-custom-resource-response-<region without
//! dashes>` on one of that region's S3 endpoints (`s3`, `s3.<region>`, `s3-<region>`,
//! `s3.dualstack.<region>`) under `amazonaws.com` (`amazonaws.com.cn` in China), on the
//! default port. Any other bucket name — one naming another region, or a made-up one an
//! attacker could register — and any other endpoint (an access point, a website) is
//! refused. The stack's region must also be the function's own: a custom resource's
//! `ServiceToken` must be in the stack's region, so CloudFormation never sends us a
//! stack of another. Hosts an operator lists in `EXTRA_RESPONSE_URL_HOSTS` for local
//! tests are accepted whatever the region (plain `http` for loopback hosts only).

use std::net::IpAddr;

use url::{Host, Url};

const BUCKET_HOST_PREFIX: &str = "cloudformation-custom-resource-response-";

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

    /// Checks a `ResponseURL` of a stack in `region` (`None` when the event names no
    /// region this function serves), returning it parsed when we may PUT to it.
    pub fn check(&self, raw: &str, region: Option<&str>) -> Result<Url, RefusedUrl> {
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
        if !host.starts_with(BUCKET_HOST_PREFIX) {
            return Err(refuse("not CloudFormation's response bucket"));
        }
        let Some(region) = region else {
            return Err(refuse(
                "the event's StackId names no region this function serves",
            ));
        };
        if !is_response_bucket(&host, region) {
            return Err(refuse(
                "not CloudFormation's response bucket of the stack's region",
            ));
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

/// `cloudformation-custom-resource-response-<region without dashes>.<an S3 endpoint of
/// region>.amazonaws.com[.cn]`. (S3's path-style, virtual-hosted, legacy dash, dual-stack
/// and FIPS endpoints: the Amazon S3 User Guide, "Virtual hosting of buckets", and the
/// AWS General Reference, "Amazon S3 endpoints".)
fn is_response_bucket(host: &str, region: &str) -> bool {
    let compact: String = region.chars().filter(|c| *c != '-').collect();
    let suffix = if region.starts_with("cn-") {
        ".amazonaws.com.cn"
    } else {
        ".amazonaws.com"
    };
    let Some(endpoint) = host
        .strip_prefix(BUCKET_HOST_PREFIX)
        .and_then(|rest| rest.strip_prefix(compact.as_str()))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(suffix))
    else {
        return false;
    };
    let of_region = |prefix: &str| endpoint.strip_prefix(prefix) == Some(region);
    !region.is_empty()
        && (endpoint == "s3"
            || [
                "s3.",
                "s3-",
                "s3.dualstack.",
                "s3-fips.",
                "s3-fips.dualstack.",
            ]
            .into_iter()
            .any(of_region))
}

/// The region of a stack that the function invoked as `function_arn` may serve: the
/// `StackId`'s region, when it is the function's own. (Lambda always says which function
/// it invoked; a StackId alone is the event's word, so without that there is none.)
pub fn served_region<'a>(stack_id: Option<&'a str>, function_arn: &str) -> Option<&'a str> {
    let region = arn_region(stack_id?, "cloudformation")?;
    (arn_region(function_arn, "lambda")? == region).then_some(region)
}

/// The region field of `arn` when it is an ARN of `service`.
fn arn_region<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    let mut fields = arn.splitn(5, ':');
    match (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) {
        (Some("arn"), Some(_), Some(s), Some(region), Some(_))
            if s == service && !region.is_empty() =>
        {
            Some(region)
        }
        _ => None,
    }
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
        "us-east-1",
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws/x?X-Amz-Signature=s"
    )]
    #[case(
        "us-east-2",
        "https://cloudformation-custom-resource-response-useast2.s3.us-east-2.amazonaws.com/a/b?sig=1"
    )]
    #[case(
        "eu-central-1",
        "https://cloudformation-custom-resource-response-eucentral1.s3.eu-central-1.amazonaws.com/a"
    )]
    #[case(
        "eu-west-1",
        "https://cloudformation-custom-resource-response-euwest1.s3.dualstack.eu-west-1.amazonaws.com/a"
    )]
    #[case(
        "cn-north-1",
        "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/a"
    )]
    #[case(
        "us-gov-west-1",
        "https://cloudformation-custom-resource-response-usgovwest1.s3-us-gov-west-1.amazonaws.com/a"
    )]
    #[case(
        "us-east-1",
        "https://CLOUDFORMATION-custom-resource-response-useast1.s3.amazonaws.com/a"
    )]
    #[case(
        "us-gov-east-1",
        "https://cloudformation-custom-resource-response-usgoveast1.s3-fips.us-gov-east-1.amazonaws.com/a"
    )]
    #[case(
        "us-gov-east-1",
        "https://cloudformation-custom-resource-response-usgoveast1.s3-fips.dualstack.us-gov-east-1.amazonaws.com/a"
    )]
    fn the_bucket_of_the_stacks_region_is_accepted(#[case] region: &str, #[case] url: &str) {
        assert!(
            ResponseUrlPolicy::default()
                .check(url, Some(region))
                .is_ok(),
            "{url}"
        );
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
        "of the stack's region"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-useast1.evil.example/a",
        "of the stack's region"
    )]
    #[case(
        "https://evil-cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a",
        "response bucket"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-.s3.amazonaws.com/a",
        "of the stack's region"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-us-east-1.amazonaws.com/a",
        "of the stack's region"
    )]
    // A compact label an attacker could register as a bucket of their own.
    #[case(
        "https://cloudformation-custom-resource-response-anything.s3.amazonaws.com/a",
        "of the stack's region"
    )]
    // CloudFormation's bucket, but of another region.
    #[case(
        "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/a",
        "of the stack's region"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-useast1.s3.eu-west-1.amazonaws.com/a",
        "of the stack's region"
    )]
    // An access point, a website endpoint, China's suffix outside China.
    #[case(
        "https://cloudformation-custom-resource-response-useast1-123456789012.s3-accesspoint.us-east-1.amazonaws.com/a",
        "of the stack's region"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-useast1.s3-website-us-east-1.amazonaws.com/a",
        "of the stack's region"
    )]
    #[case(
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.cn/a",
        "of the stack's region"
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
        let refused = ResponseUrlPolicy::default()
            .check(url, Some("us-east-1"))
            .unwrap_err();
        assert!(refused.to_string().contains(why), "{url}: {refused}");
    }

    #[test]
    fn a_stack_of_another_region_than_the_function_gets_no_bucket() {
        const FUNCTION: &str = "arn:aws:lambda:us-east-1:111111111111:function:efr";
        const URL: &str =
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a";
        let stack =
            |region: &str| format!("arn:aws:cloudformation:{region}:222222222222:stack/s/1");
        let us = stack("us-east-1");
        let eu = stack("eu-west-1");
        assert_eq!(served_region(Some(&us), FUNCTION), Some("us-east-1"));
        assert_eq!(served_region(Some(&eu), FUNCTION), None);
        assert_eq!(served_region(None, FUNCTION), None);
        // Without the function's own region, a StackId's region is only the event's word.
        assert_eq!(served_region(Some(&us), "not a function arn"), None);
        assert_eq!(served_region(Some("not an arn"), FUNCTION), None);
        assert_eq!(
            served_region(Some("arn:aws:sqs:us-east-1:222222222222:q"), FUNCTION),
            None
        );
        let refused = ResponseUrlPolicy::default()
            .check(URL, served_region(Some(&eu), FUNCTION))
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("no region this function serves"),
            "{refused}"
        );
    }

    #[test]
    fn extra_hosts_allow_loopback_http_and_exact_ports() {
        let policy = ResponseUrlPolicy::with_extra_hosts(
            "127.0.0.1:9000, localhost:80 ,[::1]:7000,cfn.test",
        )
        .unwrap();
        // Extra hosts serve local tests whatever the stack's region.
        let check = |url: &str| policy.check(url, None);
        assert!(check("http://127.0.0.1:9000/r?sig=1").is_ok());
        assert!(check("http://localhost/r").is_ok());
        assert!(check("http://[::1]:7000/r").is_ok());
        assert!(check("https://cfn.test/r").is_ok());
        // other port, plain http off loopback, unlisted host
        assert!(check("http://127.0.0.1:9001/r").is_err());
        assert!(
            check("http://cfn.test/r")
                .unwrap_err()
                .to_string()
                .contains("loopback")
        );
        assert!(check("https://cfn.test:444/r").is_err());
        assert!(check("http://127.0.0.2:9000/r").is_err());
        // the bucket of the stack's region is still accepted
        assert!(
            policy
                .check(
                    "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a",
                    Some("us-east-1")
                )
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
        let refused = ResponseUrlPolicy::default()
            .check(url, Some("us-east-1"))
            .unwrap_err();
        assert!(!refused.to_string().contains("topsecret"));
        assert!(!redact_url("no url ?topsecret").contains("topsecret"));
    }
}
