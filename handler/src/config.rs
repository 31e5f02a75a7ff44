//! Runtime configuration from the Lambda's environment (DESIGN §4).
//!
//! Read once at cold start. Every problem is collected into [`ConfigErrors`], which the
//! protocol layer then answers on each event as a `FAILED` with that reason: a bad
//! configuration never panics and never leaves a stack waiting. The response-URL
//! allow-list is loaded apart from the rest, so even a misconfigured function can answer.

use std::fmt;

use url::Url;

pub use crate::domain::Cloud;
use crate::{
    cfn::ResponseUrlPolicy,
    domain::{
        RoleName, RolePath,
        guardrails::{AllowedCredentials, Guardrails, check_policy_template},
        is_guid,
    },
};

/// How the factory signs in to Entra.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// AWS outbound web identity federation: no secret anywhere.
    Secretless,
    /// A Secrets Manager secret holding a client secret or a certificate and key.
    Secret {
        /// `ENTRA_CREDENTIALS_SECRET_ARN`.
        arn: String,
    },
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `ENTRA_TENANT_ID`, a GUID in lowercase.
    pub tenant_id: String,
    /// `ENTRA_CLIENT_ID`: the factory's own Entra application, a GUID in lowercase.
    pub client_id: String,
    /// From `ENTRA_CREDENTIALS_SECRET_ARN`.
    pub credentials: Credentials,
    /// `ENTRA_CLOUD`.
    pub cloud: Cloud,
    /// The sign-in root: `AZURE_AUTHORITY_HOST` or the cloud's, without trailing slash.
    pub authority_host: Url,
    /// The Graph root: `GRAPH_ENDPOINT` or the cloud's, without `/v1.0`.
    pub graph_endpoint: Url,
    /// `MEMBER_ROLE_NAME`: the role assumed in member accounts (hub mode).
    pub member_role_name: Option<String>,
    /// `VERIFY_CALLER_STACK`.
    pub verify_caller_stack: bool,
    /// `ROLE_EVENTS`: whether the function serves IAM's role events and the sweep (DESIGN
    /// §9); off, it ignores them, whoever sends them.
    pub role_events: bool,
    /// `AUDIT_EVENT_BUS`: the EventBridge bus (name or ARN) the scheduled audit puts its
    /// findings on; the account's default bus when unset.
    pub audit_event_bus: Option<String>,
    /// `REQUIRED_PERMISSIONS_BOUNDARY`, `DENIED_MANAGED_POLICY_ARNS`, `ROLE_PATH_PREFIX`,
    /// `ALLOWED_ACCOUNT_IDS`, `ALLOWED_FEDERATED_CREDENTIALS` and
    /// `TRUSTED_CLIENTS_OWN_TENANT_ONLY`.
    pub guardrails: Guardrails,
}

impl Config {
    /// The scope of the factory's Graph token: always the cloud's Graph resource, even
    /// when `GRAPH_ENDPOINT` points elsewhere.
    pub fn graph_scope(&self) -> String {
        format!("{}/.default", self.cloud.graph_resource())
    }
}

/// What cold start found: the allow-list (always usable) and the configuration.
#[derive(Debug)]
pub struct Loaded {
    /// Response URLs we may answer to.
    pub response_urls: ResponseUrlPolicy,
    /// The configuration, or everything wrong with it.
    pub config: Result<Config, ConfigErrors>,
}

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

/// Every problem found, in variable order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", error.variable, error.message)?;
        }
        Ok(())
    }
}

/// Loads everything from `var` (the process environment in production). Empty values
/// count as unset.
pub fn load(var: impl Fn(&str) -> Option<String>) -> Loaded {
    let var = |name: &str| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut errors = Vec::new();
    let mut error = |variable: &'static str, message: String| {
        errors.push(ConfigError { variable, message });
    };

    let response_urls = match ResponseUrlPolicy::with_extra_hosts(
        &var("EXTRA_RESPONSE_URL_HOSTS").unwrap_or_default(),
    ) {
        Ok(policy) => policy,
        Err(invalid) => {
            let message = invalid.to_string();
            let message = message
                .strip_prefix("EXTRA_RESPONSE_URL_HOSTS: ")
                .unwrap_or(&message);
            error("EXTRA_RESPONSE_URL_HOSTS", message.to_owned());
            ResponseUrlPolicy::default()
        }
    };

    let mut guid = |variable: &'static str, what: &str| match var(variable) {
        None => {
            error(variable, format!("is not set; set it to {what} (a GUID)"));
            None
        }
        Some(value) if is_guid(&value) => Some(value.to_ascii_lowercase()),
        Some(value) => {
            error(
                variable,
                format!("`{}` is not a GUID; set it to {what}", shorten(&value)),
            );
            None
        }
    };
    let tenant_id = guid(
        "ENTRA_TENANT_ID",
        "the directory (tenant) id of the Entra tenant",
    );
    let client_id = guid(
        "ENTRA_CLIENT_ID",
        "the application (client) id of the factory's Entra app",
    );

    let credentials = match var("ENTRA_CREDENTIALS_SECRET_ARN") {
        None => Some(Credentials::Secretless),
        Some(arn) if is_secret_arn(&arn) => Some(Credentials::Secret { arn }),
        Some(arn) => {
            error(
                "ENTRA_CREDENTIALS_SECRET_ARN",
                format!(
                    "`{}` is not a Secrets Manager secret ARN \
                     (arn:aws:secretsmanager:<region>:<account>:secret:<name>); \
                     unset it for secretless sign-in",
                    shorten(&arn)
                ),
            );
            None
        }
    };

    let cloud = match var("ENTRA_CLOUD")
        .map(|c| c.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("public") => Some(Cloud::Public),
        Some("usgov") => Some(Cloud::UsGov),
        Some("china") => Some(Cloud::China),
        Some(other) => {
            error(
                "ENTRA_CLOUD",
                format!(
                    "`{}` is not a cloud; use public, usgov or china",
                    shorten(other)
                ),
            );
            None
        }
    };
    let defaults = cloud.unwrap_or(Cloud::Public);

    let mut endpoint = |variable: &'static str, default: &str, forbidden_path: Option<&str>| {
        let raw = var(variable).unwrap_or_else(|| default.to_owned());
        match parse_root(&raw, forbidden_path) {
            Ok(url) => Some(url),
            Err(why) => {
                error(variable, format!("`{}` {why}", shorten(&raw)));
                None
            }
        }
    };
    let authority_host = endpoint("AZURE_AUTHORITY_HOST", defaults.authority_host(), None);
    let graph_endpoint = endpoint("GRAPH_ENDPOINT", defaults.graph_resource(), Some("v1.0"));

    let member_role_name = var("MEMBER_ROLE_NAME");
    if let Some(name) = &member_role_name
        && RoleName::parse(name).is_err()
    {
        error(
            "MEMBER_ROLE_NAME",
            format!(
                "`{}` is not an IAM role name (1-64 letters, digits and +=,.@_-; no path)",
                shorten(name)
            ),
        );
    }

    let audit_event_bus = var("AUDIT_EVENT_BUS");
    if let Some(bus) = &audit_event_bus {
        let valid = (1..=1600).contains(&bus.len())
            && bus
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-:".contains(&b));
        if !valid {
            error(
                "AUDIT_EVENT_BUS",
                format!(
                    "`{}` is not an EventBridge event bus name or ARN",
                    shorten(bus)
                ),
            );
        }
    }

    let mut flag = |variable: &'static str, default: bool| match var(variable)
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None => default,
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            error(
                variable,
                format!("`{}` is not true or false", shorten(other)),
            );
            default
        }
    };
    let verify_caller_stack = flag("VERIFY_CALLER_STACK", true);
    let role_events = flag("ROLE_EVENTS", false);
    let trusted_clients_own_tenant_only = flag("TRUSTED_CLIENTS_OWN_TENANT_ONLY", false);

    let mut guardrails = Guardrails {
        trusted_clients_own_tenant_only,
        ..Guardrails::default()
    };
    if let Some(template) = var("REQUIRED_PERMISSIONS_BOUNDARY") {
        match check_policy_template(&template) {
            Ok(()) => guardrails.required_boundary = Some(template),
            Err(invalid) => error("REQUIRED_PERMISSIONS_BOUNDARY", invalid.to_string()),
        }
    }
    for template in list(var("DENIED_MANAGED_POLICY_ARNS")) {
        match check_policy_template(&template) {
            Ok(()) => guardrails.denied_managed_policies.push(template),
            Err(invalid) => error("DENIED_MANAGED_POLICY_ARNS", invalid.to_string()),
        }
    }
    for entry in list(var("ALLOWED_FEDERATED_CREDENTIALS")) {
        match AllowedCredentials::parse(&entry) {
            Ok(allowed) => guardrails.allowed_federated_credentials.push(allowed),
            Err(invalid) => error("ALLOWED_FEDERATED_CREDENTIALS", invalid.to_string()),
        }
    }
    if let Some(prefix) = var("ROLE_PATH_PREFIX") {
        match RolePath::parse(&prefix) {
            Ok(prefix) => guardrails.role_path_prefix = Some(prefix),
            Err(invalid) => error("ROLE_PATH_PREFIX", invalid.message().to_owned()),
        }
    }
    let accounts = list(var("ALLOWED_ACCOUNT_IDS"));
    if !accounts.is_empty() {
        for account in &accounts {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                error(
                    "ALLOWED_ACCOUNT_IDS",
                    format!("`{}` is not a 12-digit account id", shorten(account)),
                );
            }
        }
        guardrails.allowed_accounts = Some(accounts);
    }

    let config = match (
        tenant_id,
        client_id,
        credentials,
        cloud,
        authority_host,
        graph_endpoint,
    ) {
        (
            Some(tenant_id),
            Some(client_id),
            Some(credentials),
            Some(cloud),
            Some(authority_host),
            Some(graph_endpoint),
        ) if errors.is_empty() => Ok(Config {
            tenant_id,
            client_id,
            credentials,
            cloud,
            authority_host,
            graph_endpoint,
            member_role_name,
            verify_caller_stack,
            role_events,
            audit_event_bus,
            guardrails,
        }),
        _ => Err(ConfigErrors(errors)),
    };
    Loaded {
        response_urls,
        config,
    }
}

/// An endpoint root: https (http only for loopback, for local emulators), no query,
/// trailing slash dropped, and not ending in `forbidden_path`.
fn parse_root(raw: &str, forbidden_path: Option<&str>) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("has no host".to_owned()),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be an https URL".to_owned()),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("must be a plain root URL without query, fragment or credentials".to_owned());
    }
    let path = url.path().trim_end_matches('/');
    if let Some(forbidden) = forbidden_path
        && path.rsplit('/').next() == Some(forbidden)
    {
        return Err(format!("must be the root without /{forbidden}"));
    }
    let path = path.to_owned();
    let mut url = url;
    url.set_path(&path);
    Ok(url)
}

fn is_secret_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(7, ':').collect();
    matches!(parts.as_slice(),
        ["arn", partition, "secretsmanager", region, account, "secret", name]
            if partition.starts_with("aws")
            && !region.is_empty()
            && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
            && !name.is_empty())
}

/// The non-empty entries of a comma-separated list.
fn list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// The smallest valid configuration (a tenant and the factory's app), for tests.
#[cfg(test)]
pub(crate) fn for_tests() -> Config {
    let env = |name: &str| match name {
        "ENTRA_TENANT_ID" => Some("72f988bf-86f1-41af-91ab-2d7cd011db47".to_owned()),
        "ENTRA_CLIENT_ID" => Some("11111111-2222-3333-4444-555555555555".to_owned()),
        _ => None,
    };
    load(env).config.expect("a valid configuration")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use rstest::rstest;
    use std::collections::HashMap;

    const TENANT: &str = "72F988BF-86F1-41AF-91AB-2D7CD011DB47";
    const CLIENT: &str = "00000000-1111-2222-3333-444444444444";

    fn load_with(vars: &[(&str, &str)]) -> Loaded {
        let mut env: HashMap<String, String> = HashMap::from([
            ("ENTRA_TENANT_ID".to_owned(), TENANT.to_owned()),
            ("ENTRA_CLIENT_ID".to_owned(), CLIENT.to_owned()),
        ]);
        for (k, v) in vars {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        load(|name| env.get(name).cloned())
    }

    #[test]
    fn minimal_configuration_uses_public_cloud_defaults() {
        let config = load_with(&[]).config.unwrap();
        assert_eq!(
            config,
            Config {
                tenant_id: TENANT.to_ascii_lowercase(),
                client_id: CLIENT.to_owned(),
                credentials: Credentials::Secretless,
                cloud: Cloud::Public,
                authority_host: Url::parse("https://login.microsoftonline.com").unwrap(),
                graph_endpoint: Url::parse("https://graph.microsoft.com").unwrap(),
                member_role_name: None,
                verify_caller_stack: true,
                role_events: false,
                audit_event_bus: None,
                guardrails: Guardrails::default(),
            }
        );
        assert_eq!(config.graph_scope(), "https://graph.microsoft.com/.default");
    }

    #[test]
    fn every_variable_is_read() {
        let config = load_with(&[
            (
                "ENTRA_CREDENTIALS_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:entra-AbCdEf",
            ),
            ("ENTRA_CLOUD", "USGov"),
            ("AZURE_AUTHORITY_HOST", "https://login.example.test/"),
            ("GRAPH_ENDPOINT", "http://127.0.0.1:8080/graph/"),
            ("MEMBER_ROLE_NAME", "EntraFederatedRoleMember"),
            ("VERIFY_CALLER_STACK", "FALSE"),
        ])
        .config
        .unwrap();
        assert_eq!(config.cloud, Cloud::UsGov);
        assert!(matches!(config.credentials, Credentials::Secret { .. }));
        assert_eq!(
            config.authority_host.as_str(),
            "https://login.example.test/"
        );
        assert_eq!(
            config.graph_endpoint.as_str(),
            "http://127.0.0.1:8080/graph"
        );
        // The token scope stays the cloud's Graph resource.
        assert_eq!(config.graph_scope(), "https://graph.microsoft.us/.default");
        assert_eq!(
            config.member_role_name.as_deref(),
            Some("EntraFederatedRoleMember")
        );
        assert!(!config.verify_caller_stack);
    }

    #[rstest]
    #[case(&[("ENTRA_TENANT_ID", "")], "ENTRA_TENANT_ID: is not set")]
    #[case(&[("ENTRA_TENANT_ID", "contoso.onmicrosoft.com")], "ENTRA_TENANT_ID: `contoso.onmicrosoft.com` is not a GUID")]
    #[case(&[("ENTRA_CLIENT_ID", "1234")], "ENTRA_CLIENT_ID: `1234` is not a GUID")]
    #[case(&[("ENTRA_CREDENTIALS_SECRET_ARN", "my-secret")], "not a Secrets Manager secret ARN")]
    #[case(&[("ENTRA_CLOUD", "mars")], "ENTRA_CLOUD: `mars` is not a cloud; use public, usgov or china")]
    #[case(&[("AZURE_AUTHORITY_HOST", "http://login.example.test")], "AZURE_AUTHORITY_HOST: `http://login.example.test` must be an https URL")]
    #[case(&[("AZURE_AUTHORITY_HOST", "login.microsoftonline.com")], "is not a URL")]
    #[case(&[("GRAPH_ENDPOINT", "https://graph.microsoft.com/v1.0/")], "must be the root without /v1.0")]
    #[case(&[("GRAPH_ENDPOINT", "https://graph.microsoft.com/?x=1")], "without query")]
    #[case(&[("MEMBER_ROLE_NAME", "path/Role")], "MEMBER_ROLE_NAME: `path/Role` is not an IAM role name")]
    #[case(&[("AUDIT_EVENT_BUS", "my bus")], "AUDIT_EVENT_BUS: `my bus` is not an EventBridge event bus name or ARN")]
    #[case(&[("VERIFY_CALLER_STACK", "yes")], "VERIFY_CALLER_STACK: `yes` is not true or false")]
    #[case(&[("EXTRA_RESPONSE_URL_HOSTS", "http://x")], "EXTRA_RESPONSE_URL_HOSTS: `http://x` is not host[:port]")]
    #[case(&[("REQUIRED_PERMISSIONS_BOUNDARY", "Boundary")], "REQUIRED_PERMISSIONS_BOUNDARY: `Boundary` is not a policy ARN")]
    #[case(&[("DENIED_MANAGED_POLICY_ARNS", "AdministratorAccess")], "DENIED_MANAGED_POLICY_ARNS: `AdministratorAccess` is not a policy ARN")]
    #[case(&[("ALLOWED_FEDERATED_CREDENTIALS", "https://token.actions.githubusercontent.com")], "ALLOWED_FEDERATED_CREDENTIALS: `https://token.actions.githubusercontent.com` is not <issuer>=<subject pattern>")]
    #[case(&[("ALLOWED_FEDERATED_CREDENTIALS", "http://issuer.test=x")], "is not <issuer>=<subject pattern>")]
    #[case(&[("ALLOWED_FEDERATED_CREDENTIALS", "https://issuer.test= ")], "is not <issuer>=<subject pattern>")]
    #[case(&[("TRUSTED_CLIENTS_OWN_TENANT_ONLY", "1")], "TRUSTED_CLIENTS_OWN_TENANT_ONLY: `1` is not true or false")]
    #[case(&[("ROLE_PATH_PREFIX", "workloads")], "ROLE_PATH_PREFIX: `workloads`")]
    #[case(&[("ALLOWED_ACCOUNT_IDS", "111111111111,2222")], "ALLOWED_ACCOUNT_IDS: `2222` is not a 12-digit account id")]
    fn each_bad_variable_is_named_with_a_fix(
        #[case] vars: &[(&str, &str)],
        #[case] expected: &str,
    ) {
        let errors = load_with(vars).config.unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert!(errors.to_string().contains(expected), "{errors}");
    }

    #[test]
    fn guardrails_are_read() {
        let config = load_with(&[
            ("REQUIRED_PERMISSIONS_BOUNDARY", "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/Boundary"),
            ("DENIED_MANAGED_POLICY_ARNS", "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess, arn:aws:iam::aws:policy/IAMFullAccess"),
            ("ROLE_PATH_PREFIX", "/workloads/"),
            ("ALLOWED_ACCOUNT_IDS", "111111111111,222222222222"),
            ("ALLOWED_FEDERATED_CREDENTIALS", "https://token.actions.githubusercontent.com=repo:contoso/*, https://gitlab.example.test=project_path:ops/*"),
            ("TRUSTED_CLIENTS_OWN_TENANT_ONLY", "TRUE"),
        ])
        .config
        .unwrap();
        let rails = config.guardrails;
        assert_eq!(
            rails.denied_managed_policies,
            [
                "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess",
                "arn:aws:iam::aws:policy/IAMFullAccess"
            ]
        );
        let allowed: Vec<String> = rails
            .allowed_federated_credentials
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            allowed,
            [
                "https://token.actions.githubusercontent.com=repo:contoso/*",
                "https://gitlab.example.test=project_path:ops/*"
            ]
        );
        assert!(rails.trusted_clients_own_tenant_only);
        assert_eq!(rails.role_path_prefix.unwrap().as_str(), "/workloads/");
        assert_eq!(
            rails.allowed_accounts.unwrap(),
            ["111111111111", "222222222222"]
        );
        assert!(
            rails
                .required_boundary
                .unwrap()
                .contains("${AWS::AccountId}")
        );
    }

    #[test]
    fn all_problems_are_reported_together() {
        let loaded = load(|name| match name {
            "ENTRA_CLOUD" => Some("mars".to_owned()),
            "EXTRA_RESPONSE_URL_HOSTS" => Some("127.0.0.1:1,bad/host".to_owned()),
            _ => None,
        });
        let errors = loaded.config.unwrap_err();
        let variables: Vec<_> = errors.0.iter().map(|e| e.variable).collect();
        assert_eq!(
            variables,
            [
                "EXTRA_RESPONSE_URL_HOSTS",
                "ENTRA_TENANT_ID",
                "ENTRA_CLIENT_ID",
                "ENTRA_CLOUD"
            ]
        );
        // The allow-list falls back to CloudFormation's bucket only, so answers still go out.
        assert_eq!(loaded.response_urls, ResponseUrlPolicy::default());
    }

    #[test]
    fn valid_extra_hosts_are_loaded_even_when_the_rest_is_wrong() {
        let loaded =
            load(|name| (name == "EXTRA_RESPONSE_URL_HOSTS").then(|| "127.0.0.1:9000".to_owned()));
        assert!(loaded.config.is_err());
        assert!(
            loaded
                .response_urls
                .check("http://127.0.0.1:9000/r", None)
                .is_ok()
        );
    }
}
