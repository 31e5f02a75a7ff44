//! The facts of the token chain (DESIGN §3, §6, §7): which Microsoft cloud, which issuer
//! a token version has, which audience it carries, and how IAM names the provider and its
//! condition keys.

use serde::Serialize;

use super::{AppId, TokenVersion};

/// Which Microsoft cloud the tenant lives in (`ENTRA_CLOUD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Cloud {
    /// Microsoft Entra ID, global service (`public`).
    Public,
    /// Azure Government (`usgov`).
    UsGov,
    /// Azure operated by 21Vianet (`china`).
    China,
}

impl Cloud {
    /// The Entra sign-in root.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com",
            Cloud::UsGov => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The Microsoft Graph root, also the resource a Graph token is requested for.
    pub fn graph_resource(self) -> &'static str {
        match self {
            Cloud::Public => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// The `iss` claim of tokens of `version` for `tenant`, scheme and trailing slash as
    /// Entra writes them (v1 issuers per Microsoft's answer "What are the token issuers for
    /// the sovereign clouds": sts.windows.net for public and US Gov, sts.chinacloudapi.cn
    /// for China; v2 issuers are the cloud's login host with `/v2.0`).
    pub fn issuer(self, tenant: &str, version: TokenVersion) -> String {
        match (version, self) {
            (TokenVersion::V1, Cloud::Public | Cloud::UsGov) => {
                format!("https://sts.windows.net/{tenant}/")
            }
            (TokenVersion::V1, Cloud::China) => format!("https://sts.chinacloudapi.cn/{tenant}/"),
            (TokenVersion::V2, Cloud::Public) => {
                format!("https://login.microsoftonline.com/{tenant}/v2.0")
            }
            (TokenVersion::V2, Cloud::UsGov) => {
                format!("https://login.microsoftonline.us/{tenant}/v2.0")
            }
            (TokenVersion::V2, Cloud::China) => {
                format!("https://login.partner.microsoftonline.cn/{tenant}/v2.0")
            }
        }
    }
}

/// The `aud` claim of the workload app's tokens: its identifier URI for v1, its appId
/// for v2. This is also the client id registered on the IAM OIDC provider.
pub fn audience(app_id: &AppId, version: TokenVersion) -> String {
    match version {
        TokenVersion::V1 => format!("api://{app_id}"),
        TokenVersion::V2 => app_id.to_string(),
    }
}

/// The identifier URI set on the workload app (`identifierUris`).
pub fn identifier_uri(app_id: &AppId) -> String {
    format!("api://{app_id}")
}

/// What a client passes as `scope` to get a token for the workload app.
pub fn token_scope(app_id: &AppId) -> String {
    format!("api://{app_id}/.default")
}

/// IAM's name for an issuer: the URL without its scheme, trailing slash kept. It is the
/// tail of the provider ARN and the prefix of the condition keys (`<name>:aud`).
pub fn provider_name(issuer: &str) -> &str {
    issuer.strip_prefix("https://").unwrap_or(issuer)
}

/// The ARN IAM gives the provider for `issuer` in `account`.
pub fn provider_arn(partition: &str, account: &str, issuer: &str) -> String {
    format!(
        "arn:{partition}:iam::{account}:oidc-provider/{}",
        provider_name(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn issuers_follow_the_token_version_and_cloud() {
        assert_eq!(
            Cloud::Public.issuer(TENANT, TokenVersion::V1),
            format!("https://sts.windows.net/{TENANT}/")
        );
        assert_eq!(
            Cloud::Public.issuer(TENANT, TokenVersion::V2),
            format!("https://login.microsoftonline.com/{TENANT}/v2.0")
        );
        assert_eq!(
            Cloud::UsGov.issuer(TENANT, TokenVersion::V1),
            format!("https://sts.windows.net/{TENANT}/")
        );
        assert_eq!(
            Cloud::China.issuer(TENANT, TokenVersion::V1),
            format!("https://sts.chinacloudapi.cn/{TENANT}/")
        );
    }

    #[test]
    fn audiences_and_scopes() {
        let app = AppId::parse("0F8E2A4C-1B3D-4E5F-8A9B-0C1D2E3F4A5B").unwrap();
        assert_eq!(
            audience(&app, TokenVersion::V1),
            "api://0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
        );
        assert_eq!(
            audience(&app, TokenVersion::V2),
            "0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
        );
        assert_eq!(
            token_scope(&app),
            "api://0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b/.default"
        );
    }

    #[test]
    fn provider_names_keep_the_trailing_slash() {
        let issuer = Cloud::Public.issuer(TENANT, TokenVersion::V1);
        assert_eq!(
            provider_arn("aws", "123456789012", &issuer),
            format!("arn:aws:iam::123456789012:oidc-provider/sts.windows.net/{TENANT}/")
        );
    }
}
