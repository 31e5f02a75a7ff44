//! The emulator's own behaviours, over HTTP as a client sees them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use graph_emulator::{FaultRule, GraphEmulator, Lag, Limits, Quota, TenantSize, TestKey};
use jsonwebtoken::{Algorithm, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "emulator-test-secret";

struct Client {
    http: reqwest::Client,
    emulator: GraphEmulator,
    token: String,
}

async fn start() -> Client {
    let emulator = GraphEmulator::start().await.unwrap();
    emulator.set_client_secret(SECRET);
    let http = reqwest::Client::new();
    let mut client = Client {
        http,
        emulator,
        token: String::new(),
    };
    let (status, body) = client.sign_in(&[("client_secret", SECRET)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    client.token = body["access_token"].as_str().unwrap().to_owned();
    client
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Client {
    async fn sign_in(&self, extra: &[(&str, &str)]) -> (StatusCode, Value) {
        let client_id = self.emulator.factory_client_id();
        let mut form = vec![
            ("client_id", client_id.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ];
        form.extend_from_slice(extra);
        self.request_token(&form).await
    }

    /// A token request with exactly this form.
    async fn request_token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().copied())
            .finish();
        let response = self
            .http
            .post(self.emulator.token_endpoint())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }

    async fn assertion_sign_in(&self, assertion: &str) -> (StatusCode, Value) {
        self.sign_in(&[
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .await
    }

    async fn graph_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        prefer: bool,
        token: Option<&str>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .http
            .request(method, format!("{}/v1.0{path}", self.emulator.url()))
            .header("client-request-id", "crid-1");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if prefer {
            request = request.header("Prefer", "create-if-missing");
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body, headers)
    }

    async fn graph(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, body, _) = self
            .graph_with(method, path, body, false, Some(&self.token))
            .await;
        (status, body)
    }

    /// A PATCH that Graph must accept (204).
    async fn patch(&self, path: &str, body: Value) {
        let (status, answer) = self.graph(Method::PATCH, path, Some(body)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    }

    async fn upsert(&self, name: &str) -> (StatusCode, Value) {
        let (status, body, _) = self
            .graph_with(
                Method::PATCH,
                &format!("/applications(uniqueName='{name}')"),
                Some(json!({"displayName": name})),
                true,
                Some(&self.token),
            )
            .await;
        (status, body)
    }

    async fn create_app_and_sp(&self, name: &str) -> (Value, Value) {
        let (status, app) = self.upsert(name).await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        let (status, sp) = self
            .graph(
                Method::POST,
                "/servicePrincipals",
                Some(json!({"appId": app["appId"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sp}");
        (app, sp)
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn aadsts(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or_default()
}

// --- token endpoint --------------------------------------------------------------------

#[tokio::test]
async fn secrets_are_checked_and_errors_use_the_oauth_format() {
    let c = start().await;
    let (status, body) = c.sign_in(&[("client_secret", SECRET)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);

    let (status, body) = c.sign_in(&[("client_secret", "wrong")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(aadsts(&body), 7000215);
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("AADSTS7000215: Invalid client secret provided."),
        "{description}"
    );
    assert!(description.contains("Trace ID: ") && description.contains("Correlation ID: "));
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());

    let (_, body) = c.sign_in(&[]).await;
    assert_eq!(aadsts(&body), 7000218);
    let (status, body) = c
        .sign_in(&[
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/User.Read"),
        ])
        .await;
    // The second `scope` wins in the emulator's form parsing, as the last value does in most.
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    assert_eq!(aadsts(&body), 70011);
}

#[tokio::test]
async fn wrong_tenant_client_and_grant_are_refused() {
    let c = start().await;
    let post = |url: String, body: String| {
        let http = c.http.clone();
        async move {
            let r = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            (
                status,
                serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap(),
            )
        }
    };
    let base = format!(
        "client_id={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_secret={SECRET}",
        c.emulator.factory_client_id()
    );
    let (_, body) = post(
        format!(
            "{}/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token",
            c.emulator.url()
        ),
        format!("{base}&grant_type=client_credentials"),
    )
    .await;
    assert_eq!(aadsts(&body), 90002);
    let (_, body) = post(
        c.emulator.token_endpoint(),
        format!("{base}&grant_type=password"),
    )
    .await;
    assert_eq!(
        (body["error"].as_str(), aadsts(&body)),
        (Some("unsupported_grant_type"), 70003)
    );
    let (_, body) = post(c.emulator.token_endpoint(), "client_id=11111111-1111-1111-1111-111111111111&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&grant_type=client_credentials&client_secret=x".to_owned()).await;
    assert_eq!(
        (body["error"].as_str(), aadsts(&body)),
        (Some("unauthorized_client"), 700016)
    );
}

fn certificate_claims(c: &Client, aud: &str, exp_offset: i64) -> Value {
    let id = c.emulator.factory_client_id();
    let now = now() as i64;
    json!({"aud": aud, "iss": id, "sub": id, "jti": "j1", "nbf": now, "iat": now, "exp": now + exp_offset})
}

#[tokio::test]
async fn certificate_assertions_are_verified() {
    let c = start().await;
    let key = TestKey::generate("factory");
    c.emulator
        .add_certificate(key.certificate_pem().as_bytes())
        .unwrap();
    let endpoint = c.emulator.token_endpoint();
    let mut header = Header::new(Algorithm::RS256);
    header.x5t_s256 = Some(key.kid().to_owned());

    let ok = key.sign_with_header(&header, &certificate_claims(&c, &endpoint, 600));
    assert_eq!(c.assertion_sign_in(&ok).await.0, StatusCode::OK);

    // x5t (SHA-1) alone also finds the certificate.
    let mut legacy = Header::new(Algorithm::RS256);
    legacy.x5t = Some(graph_emulator::thumbprint_sha1(key.certificate_der()));
    let ok = key.sign_with_header(&legacy, &certificate_claims(&c, &endpoint, 600));
    assert_eq!(c.assertion_sign_in(&ok).await.0, StatusCode::OK);

    let cases = [
        (
            key.sign_with_header(
                &header,
                &certificate_claims(
                    &c,
                    "https://login.microsoftonline.com/x/oauth2/v2.0/token",
                    600,
                ),
            ),
            700023,
        ),
        (
            key.sign_with_header(&header, &certificate_claims(&c, &endpoint, -120)),
            700024,
        ),
        // Right thumbprint, wrong key: the signature does not verify.
        (
            TestKey::generate("other")
                .sign_with_header(&header, &certificate_claims(&c, &endpoint, 600)),
            700027,
        ),
        ("not-a-jwt".to_owned(), 50027),
    ];
    for (assertion, expected) in cases {
        let (status, body) = c.assertion_sign_in(&assertion).await;
        assert_eq!(
            (status, aadsts(&body)),
            (StatusCode::UNAUTHORIZED, expected),
            "{body}"
        );
    }
    let other = TestKey::generate("unregistered");
    let mut unregistered = Header::new(Algorithm::RS256);
    unregistered.x5t_s256 = Some(other.kid().to_owned());
    let (_, body) = c
        .assertion_sign_in(
            &other.sign_with_header(&unregistered, &certificate_claims(&c, &endpoint, 600)),
        )
        .await;
    assert_eq!(aadsts(&body), 700027);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not registered on application")
    );
}

#[tokio::test]
async fn federated_assertions_match_a_federated_credential_after_the_injected_lag() {
    let c = start().await;
    let key = TestKey::generate("aws");
    c.emulator.add_jwks(&key.jwks()).unwrap();
    c.emulator.add_factory_federated_credential(
        "aws",
        "https://issuer.example",
        "role-arn",
        "api://AzureADTokenExchange",
    );
    c.emulator.configure(|s| s.federated_sign_in_lag = 2);
    let claims = |iss: &str, sub: &str, aud: &str| json!({"iss": iss, "sub": sub, "aud": aud, "iat": now(), "nbf": now(), "exp": now() + 300});
    let good = key.sign(&claims(
        "https://issuer.example",
        "role-arn",
        "api://AzureADTokenExchange",
    ));
    for _ in 0..2 {
        let (status, body) = c.assertion_sign_in(&good).await;
        assert_eq!(
            (status, aadsts(&body)),
            (StatusCode::BAD_REQUEST, 70021),
            "{body}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("No matching federated identity record found for presented assertion.")
        );
    }
    assert_eq!(c.assertion_sign_in(&good).await.0, StatusCode::OK);
    for (assertion, expected) in [
        (
            key.sign(&claims(
                "https://other.example",
                "role-arn",
                "api://AzureADTokenExchange",
            )),
            700211,
        ),
        (
            key.sign(&claims(
                "https://issuer.example",
                "ROLE-ARN",
                "api://AzureADTokenExchange",
            )),
            700213,
        ),
        (
            key.sign(&claims("https://issuer.example", "role-arn", "api://other")),
            700212,
        ),
        (
            TestKey::generate("untrusted").sign(&claims(
                "https://issuer.example",
                "role-arn",
                "api://AzureADTokenExchange",
            )),
            700027,
        ),
    ] {
        let (_, body) = c.assertion_sign_in(&assertion).await;
        assert_eq!(aadsts(&body), expected, "{body}");
    }
}

/// Decodes an access token with the keys the emulator publishes, as a relying party does.
async fn verified_claims(c: &Client, token: &str) -> Value {
    let jwks = c
        .http
        .get(c.emulator.jwks_uri())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&jwks).unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(set.find(&kid).expect("kid published")).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("signed by a published key")
        .claims
}

/// The claims of the factory's token for `scope` (it signs in with its secret).
async fn factory_claims(c: &Client, scope: &str) -> Value {
    let (status, body) = c
        .sign_in(&[("client_secret", SECRET), ("scope", scope)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    verified_claims(c, body["access_token"].as_str().unwrap()).await
}

#[tokio::test]
async fn apps_of_the_tenant_get_signed_access_tokens_for_each_other() {
    let c = start().await;
    let (app, sp) = c.create_app_and_sp("workload").await;
    let app_id = app["appId"].as_str().unwrap();
    let app_path = format!("/applications/{}", app["id"].as_str().unwrap());
    let audience = format!("api://{app_id}");
    let scope = format!("{audience}/.default");
    c.patch(&app_path, json!({"identifierUris": [audience]}))
        .await;

    // The factory (a secret) asks for the workload app: a v1 token naming the factory.
    let claims = factory_claims(&c, &scope).await;
    let tenant = c.emulator.tenant_id();
    let factory_sp = c.emulator.factory_service_principal_id();
    assert_eq!(claims["iss"], c.emulator.issuer());
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{tenant}/"));
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["sub"], factory_sp);
    assert_eq!(claims["oid"], factory_sp);
    assert_eq!(claims["appid"], c.emulator.factory_client_id());
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["tid"], tenant);
    assert_eq!(claims["ver"], "1.0");
    assert!(claims["exp"].as_u64().unwrap() > now());

    // The workload app signs in with its own federated identity credential.
    let key = TestKey::generate("ci");
    c.emulator.add_jwks(&key.jwks()).unwrap();
    let fic = json!({"name": "ci", "issuer": "https://ci.example", "subject": "repo:org/app", "audiences": ["api://AzureADTokenExchange"]});
    let created = c
        .graph(
            Method::POST,
            &format!("{app_path}/federatedIdentityCredentials"),
            Some(fic),
        )
        .await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    let assertion = |subject: &str| {
        key.sign(&json!({"iss": "https://ci.example", "sub": subject, "aud": "api://AzureADTokenExchange", "iat": now(), "nbf": now(), "exp": now() + 300}))
    };
    let workload_form = |assertion: &str| {
        vec![
            ("client_id", app_id.to_owned()),
            ("scope", scope.clone()),
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", assertion.to_owned()),
        ]
    };
    let request = |form: Vec<(&'static str, String)>| {
        let c = &c;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.request_token(&pairs).await
        }
    };
    let (status, body) = request(workload_form(&assertion("repo:org/app"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = verified_claims(&c, &token).await;
    assert_eq!(claims["sub"], sp["id"]);
    assert_eq!(claims["appid"], app_id);
    assert_eq!(claims["appidacr"], "2");
    // Another subject of the same issuer is not this app's credential.
    let (_, body) = request(workload_form(&assertion("repo:org/other"))).await;
    assert_eq!(aadsts(&body), 700213, "{body}");
    // A workload app has no secret, and Graph gives it nothing.
    let mut with_secret = workload_form("");
    with_secret.truncate(3);
    with_secret.push(("client_secret", SECRET.to_owned()));
    let (_, body) = request(with_secret).await;
    assert_eq!(aadsts(&body), 7000215, "{body}");
    let mut for_graph = workload_form(&assertion("repo:org/app"));
    for_graph[1].1 = "https://graph.microsoft.com/.default".to_owned();
    let (status, body) = request(for_graph).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = c
        .graph_with(
            Method::GET,
            "/applications",
            None,
            false,
            body["access_token"].as_str(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Graph does not take an access token for another resource.
    let (status, _, _) = c
        .graph_with(Method::GET, "/applications", None, false, Some(&token))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Unknown resources, and resources that require an assignment the client lacks.
    let (_, body) = c
        .sign_in(&[
            ("client_secret", SECRET),
            ("scope", "api://nothing-here/.default"),
        ])
        .await;
    assert_eq!(
        (body["error"].as_str(), aadsts(&body)),
        (Some("invalid_resource"), 500011)
    );
    let sp_path = format!("/servicePrincipals/{}", sp["id"].as_str().unwrap());
    c.patch(&sp_path, json!({"appRoleAssignmentRequired": true}))
        .await;
    let (_, body) = c
        .sign_in(&[("client_secret", SECRET), ("scope", &scope)])
        .await;
    assert_eq!(
        (body["error"].as_str(), aadsts(&body)),
        (Some("invalid_grant"), 501051)
    );

    // v2 tokens: the resource asks for them; `aud` is its appId and `azp` the client.
    c.patch(&sp_path, json!({"appRoleAssignmentRequired": false}))
        .await;
    c.patch(
        &app_path,
        json!({"api": {"requestedAccessTokenVersion": 2}}),
    )
    .await;
    let claims = factory_claims(&c, &scope).await;
    assert_eq!(
        claims["iss"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0")
    );
    assert_eq!(claims["aud"], app_id);
    assert_eq!(claims["azp"], c.emulator.factory_client_id());
    assert_eq!(claims["sub"], factory_sp);
    assert_eq!(claims["ver"], "2.0");
}

#[tokio::test]
async fn graph_needs_an_issued_unexpired_token() {
    let c = start().await;
    let (status, body, _) = c
        .graph_with(
            Method::GET,
            "/servicePrincipals(appId='x')",
            None,
            false,
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken")
    );
    let (status, _, _) = c
        .graph_with(
            Method::GET,
            "/servicePrincipals(appId='x')",
            None,
            false,
            Some("forged"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    c.emulator
        .configure(|s| s.token_lifetime = Duration::from_secs(1));
    let (_, body) = c.sign_in(&[("client_secret", SECRET)]).await;
    assert_eq!(body["expires_in"], 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let token = body["access_token"].as_str().unwrap();
    let (status, body, _) = c
        .graph_with(
            Method::GET,
            "/servicePrincipals(appId='x')",
            None,
            false,
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

// --- applications ----------------------------------------------------------------------

#[tokio::test]
async fn upsert_creates_updates_and_needs_the_prefer_header_to_create() {
    let c = start().await;
    let (status, body, headers) = c
        .graph_with(
            Method::PATCH,
            "/applications(uniqueName='app-1')",
            Some(json!({"displayName": "one"})),
            false,
            Some(&c.token),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );
    let inner = &body["error"]["innerError"];
    assert_eq!(inner["client-request-id"], "crid-1");
    assert!(inner["request-id"].is_string() && inner["date"].is_string());
    assert_eq!(headers["client-request-id"], "crid-1");

    let (status, app) = c.upsert("app-1").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(app["uniqueName"], "app-1");
    assert_eq!(app["signInAudience"], "AzureADMyOrg");
    let (status, body) = c.upsert("app-1").await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));

    for path in [
        format!("/applications/{}", app["id"].as_str().unwrap()),
        "/applications(uniqueName='app-1')".to_owned(),
        format!("/applications(appId='{}')", app["appId"].as_str().unwrap()),
    ] {
        let (status, got) = c.graph(Method::GET, &path, None).await;
        assert_eq!((status, &got["id"]), (StatusCode::OK, &app["id"]), "{path}");
    }
    let (status, body, _) = c
        .graph_with(
            Method::PATCH,
            "/applications(uniqueName='app-2')",
            Some(json!({"tags": []})),
            true,
            Some(&c.token),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );
    let id = app["id"].as_str().unwrap();
    let app_id = app["appId"].as_str().unwrap();
    let (status, _) = c
        .graph(
            Method::PATCH,
            &format!("/applications/{id}"),
            Some(json!({
                "identifierUris": [format!("api://{app_id}")],
                "api": {"requestedAccessTokenVersion": 2},
                "notes": "n", "tags": ["t"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = c
        .graph(
            Method::PATCH,
            &format!("/applications/{id}"),
            Some(json!({"identifierUris": ["api://elsewhere"]})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "HostNameNotOnVerifiedDomain")
    );
    let (status, body) = c
        .graph(
            Method::PATCH,
            &format!("/applications/{id}"),
            Some(json!({"uniqueName": "renamed"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let stored = c.emulator.snapshot().application("app-1").unwrap().clone();
    assert_eq!(
        (
            stored.requested_access_token_version,
            stored.tags,
            stored.notes
        ),
        (Some(2), vec!["t".to_owned()], Some("n".to_owned()))
    );
}

#[tokio::test]
async fn soft_delete_keeps_the_unique_name_until_purged() {
    let c = start().await;
    let (app, sp) = c.create_app_and_sp("gone").await;
    let id = app["id"].as_str().unwrap();
    let (status, _) = c
        .graph(Method::DELETE, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = c
        .graph(Method::GET, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, deleted) = c
        .graph(Method::GET, &format!("/directory/deletedItems/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["@odata.type"], "#microsoft.graph.application");
    assert!(deleted["deletedDateTime"].is_string());
    // The service principal went to deleted items with its app.
    let sp_id = sp["id"].as_str().unwrap();
    assert_eq!(
        c.graph(
            Method::GET,
            &format!("/directory/deletedItems/{sp_id}"),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, listed) = c
        .graph(
            Method::GET,
            "/directory/deletedItems/microsoft.graph.application?$filter=uniqueName%20eq%20'gone'",
            None,
        )
        .await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);

    let (status, body) = c.upsert("gone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "ObjectConflict");

    assert_eq!(
        c.graph(
            Method::DELETE,
            &format!("/directory/deletedItems/{id}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        c.graph(
            Method::DELETE,
            &format!("/directory/deletedItems/{id}"),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.upsert("gone").await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn service_principals_lag_then_conflict() {
    let c = start().await;
    c.emulator.configure(|s| {
        s.service_principal_lag = Lag {
            attempts: 2,
            duration: Duration::ZERO,
        }
    });
    let (_, app) = c.upsert("sp").await;
    let body = json!({"appId": app["appId"]});
    for _ in 0..2 {
        let (status, error) = c
            .graph(Method::POST, "/servicePrincipals", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            error["error"]["details"][0]["code"],
            "NoBackingApplicationObject"
        );
    }
    let (status, sp) = c
        .graph(Method::POST, "/servicePrincipals", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = c
        .graph(Method::POST, "/servicePrincipals", Some(body))
        .await;
    assert_eq!(
        (status, code(&error)),
        (
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue"
        )
    );
    let (status, got) = c
        .graph(
            Method::GET,
            &format!(
                "/servicePrincipals(appId='{}')",
                app["appId"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!((status, &got["id"]), (StatusCode::OK, &sp["id"]));
}

#[tokio::test]
async fn only_owned_objects_can_be_changed() {
    let c = start().await;
    let foreign = c.emulator.seed_foreign_application("foreign", true);
    for method in [Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({"displayName": "x"}));
        let (status, error) = c
            .graph(method, &format!("/applications/{}", foreign.id), body)
            .await;
        assert_eq!(
            (status, code(&error)),
            (StatusCode::FORBIDDEN, "Authorization_RequestDenied")
        );
    }
    // Read, though: `Application.ReadWrite.OwnedBy` reads every application.
    c.emulator.seed_foreign_application_named("squatted", &[]);
    for path in [
        format!("/applications/{}", foreign.id),
        "/applications(uniqueName='squatted')".to_owned(),
        format!("/applications/{}/federatedIdentityCredentials", foreign.id),
    ] {
        assert_eq!(
            c.graph(Method::GET, &path, None).await.0,
            StatusCode::OK,
            "{path}"
        );
    }
    let (status, _) = c
        .graph(
            Method::POST,
            &format!("/applications/{}/federatedIdentityCredentials", foreign.id),
            Some(json!({"name": "x", "issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:o/r:ref:refs/heads/main", "audiences": ["api://AzureADTokenExchange"]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let sp_id = foreign.service_principal_id.unwrap();
    assert_eq!(
        c.graph(Method::GET, &format!("/servicePrincipals/{sp_id}"), None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, _) = c
        .graph(
            Method::PATCH,
            &format!("/servicePrincipals/{sp_id}"),
            Some(json!({"appRoleAssignmentRequired": true})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (app, _) = c.create_app_and_sp("mine").await;
    let owners = &c
        .emulator
        .snapshot()
        .application("mine")
        .unwrap()
        .owners
        .clone();
    assert_eq!(owners, &[c.emulator.factory_service_principal_id()]);
    assert_eq!(
        c.graph(
            Method::GET,
            &format!("/applications/{}", app["id"].as_str().unwrap()),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_directory_quota_counts_deleted_objects_until_purged() {
    let c = start().await;
    c.emulator.configure(|s| s.directory_quota = 2);
    let (app, _) = c.create_app_and_sp("q1").await;
    let (status, error) = c.upsert("q2").await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::BAD_REQUEST, "Directory_QuotaExceeded")
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The directory object quota limit for the Principal has been exceeded.")
    );
    let id = app["id"].as_str().unwrap();
    c.graph(Method::DELETE, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(
        code(&c.upsert("q2").await.1),
        "Directory_QuotaExceeded",
        "soft-deleted objects still count"
    );
    c.graph(
        Method::DELETE,
        &format!("/directory/deletedItems/{id}"),
        None,
    )
    .await;
    assert_eq!(c.upsert("q2").await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn federated_identity_credentials_keep_their_constraints() {
    let c = start().await;
    let (_, app) = c.upsert("fic").await;
    let base = format!(
        "/applications/{}/federatedIdentityCredentials",
        app["id"].as_str().unwrap()
    );
    let fic = |name: &str, subject: &str| json!({"name": name, "issuer": "https://issuer.example", "subject": subject, "audiences": ["api://AzureADTokenExchange"]});
    let (status, created) = c.graph(Method::POST, &base, Some(fic("one", "s-1"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = c.graph(Method::POST, &base, Some(fic("ONE", "s-2"))).await;
    assert_eq!(
        (status, code(&error)),
        (
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue"
        )
    );
    assert_eq!(
        c.graph(Method::POST, &base, Some(fic("two", "s-1")))
            .await
            .0,
        StatusCode::BAD_REQUEST,
        "issuer + subject unique"
    );
    let mut two_audiences = fic("three", "s-3");
    two_audiences["audiences"] = json!(["a", "b"]);
    assert_eq!(
        c.graph(Method::POST, &base, Some(two_audiences)).await.0,
        StatusCode::BAD_REQUEST
    );
    for i in 2..=20 {
        assert_eq!(
            c.graph(
                Method::POST,
                &base,
                Some(fic(&format!("n{i}"), &format!("s{i}")))
            )
            .await
            .0,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        c.graph(Method::POST, &base, Some(fic("n21", "s21")))
            .await
            .0,
        StatusCode::BAD_REQUEST,
        "at most 20"
    );
    let (status, got) = c.graph(Method::GET, &format!("{base}/one"), None).await;
    assert_eq!((status, &got["id"]), (StatusCode::OK, &created["id"]));
    let by_name = format!(
        "/applications/{}/federatedIdentityCredentials(name='one')",
        app["id"].as_str().unwrap()
    );
    assert_eq!(
        c.graph(Method::PATCH, &by_name, Some(json!({"subject": "s-new"})))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        c.graph(Method::PATCH, &by_name, Some(json!({"name": "renamed"})))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        c.graph(
            Method::DELETE,
            &format!("{base}/{}", created["id"].as_str().unwrap()),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (_, list) = c.graph(Method::GET, &base, None).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 19);
}

#[tokio::test]
async fn app_roles_must_be_disabled_before_removal_and_assignments_need_the_permission() {
    let c = start().await;
    let (app, sp) = c.create_app_and_sp("roles").await;
    let app_path = format!("/applications/{}", app["id"].as_str().unwrap());
    let role_id = "6f1d9c1e-7a55-4b8e-9d0e-1a2b3c4d5e6f";
    let role = |enabled: bool| json!({"id": role_id, "allowedMemberTypes": ["Application"], "value": "AssumeAwsRole", "displayName": "r", "description": "d", "isEnabled": enabled});
    assert_eq!(
        c.graph(
            Method::PATCH,
            &app_path,
            Some(json!({"appRoles": [role(true)]}))
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (status, error) = c
        .graph(Method::PATCH, &app_path, Some(json!({"appRoles": []})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["error"]["details"][0]["code"],
        "CannotDeleteOrUpdateEnabledEntitlement"
    );

    let sp_id = sp["id"].as_str().unwrap();
    let assigned_to = format!("/servicePrincipals/{sp_id}/appRoleAssignedTo");
    let grant = json!({"principalId": sp_id, "resourceId": sp_id, "appRoleId": role_id});
    let (status, error) = c
        .graph(Method::POST, &assigned_to, Some(grant.clone()))
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::FORBIDDEN, "Authorization_RequestDenied")
    );
    c.emulator
        .configure(|s| s.app_role_assignment_permission = true);
    let (status, assignment) = c
        .graph(Method::POST, &assigned_to, Some(grant.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{assignment}");
    assert_eq!(
        c.graph(Method::POST, &assigned_to, Some(grant)).await.0,
        StatusCode::BAD_REQUEST,
        "no duplicates"
    );
    let (_, list) = c.graph(Method::GET, &assigned_to, None).await;
    assert_eq!(list["value"][0]["principalId"], sp_id);
    let one = format!("{assigned_to}/{}", assignment["id"].as_str().unwrap());
    assert_eq!(
        c.graph(Method::DELETE, &one, None).await.0,
        StatusCode::NO_CONTENT
    );

    assert_eq!(
        c.graph(
            Method::PATCH,
            &app_path,
            Some(json!({"appRoles": [role(false)]}))
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        c.graph(Method::PATCH, &app_path, Some(json!({"appRoles": []})))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
}

// --- faults, counters, HTTP control API ------------------------------------------------

#[tokio::test]
async fn a_lost_answer_is_a_gateway_timeout_after_the_write_landed() {
    let c = start().await;
    c.emulator
        .inject(FaultRule::answer_lost(1).only(Some("PATCH"), None));
    let (status, body) = c.upsert("efr-lost").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::GATEWAY_TIMEOUT, "GatewayTimeout")
    );
    // It landed: the retry finds what the lost call created.
    assert!(c.emulator.snapshot().application("efr-lost").is_some());
    assert_eq!(c.upsert("efr-lost").await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn replication_lag_hides_new_objects_by_id_and_deleted_ones_from_deleted_items() {
    let c = start().await;
    let lag = Duration::from_millis(400);
    c.emulator.configure(|s| s.replication_lag = lag);
    let (app, sp) = c.create_app_and_sp("efr-lag").await;
    let app_path = format!("/applications/{}", app["id"].as_str().unwrap());
    let sp_path = format!("/servicePrincipals/{}", sp["id"].as_str().unwrap());
    // By id, just made: not yet found; by its alternate key, found.
    assert_eq!(
        c.graph(Method::GET, &app_path, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.graph(Method::GET, &sp_path, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.upsert("efr-lag").await.0, StatusCode::NO_CONTENT);
    tokio::time::sleep(lag).await;
    assert_eq!(
        c.graph(Method::GET, &app_path, None).await.0,
        StatusCode::OK
    );
    assert_eq!(c.graph(Method::GET, &sp_path, None).await.0, StatusCode::OK);

    // Soft-deleted: not yet among deleted items, listed or by id.
    assert_eq!(
        c.graph(Method::DELETE, &app_path, None).await.0,
        StatusCode::NO_CONTENT
    );
    let list = "/directory/deletedItems/microsoft.graph.application";
    let purge = format!("/directory/deletedItems/{}", app["id"].as_str().unwrap());
    let (status, listed) = c.graph(Method::GET, list, None).await;
    assert_eq!(
        (status, listed["value"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    assert_eq!(
        c.graph(Method::DELETE, &purge, None).await.0,
        StatusCode::NOT_FOUND
    );
    tokio::time::sleep(lag).await;
    let (_, listed) = c.graph(Method::GET, list, None).await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        c.graph(Method::DELETE, &purge, None).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn injected_faults_throttling_latency_and_counters() {
    let c = start().await;
    c.emulator.inject(FaultRule::throttle(1, Some(7)));
    c.emulator.inject(FaultRule::throttle(1, None));
    c.emulator
        .inject(FaultRule::server_error(1, 503).only(Some("GET"), Some("/v1.0/servicePrincipals")));
    let path = "/servicePrincipals(appId='none')";
    let (status, body, headers) = c
        .graph_with(Method::GET, path, None, false, Some(&c.token))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests")
    );
    assert_eq!(headers["retry-after"], "7");
    let (status, _, headers) = c
        .graph_with(Method::GET, path, None, false, Some(&c.token))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.get("retry-after").is_none());
    let (status, body) = c.graph(Method::GET, path, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable")
    );
    assert_eq!(
        c.graph(Method::GET, path, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.emulator.call_count("GET /v1.0/servicePrincipals(appId)"),
        4
    );
    assert_eq!(c.emulator.token_requests(), 1);

    c.emulator
        .configure(|s| s.latency = Duration::from_millis(150));
    let started = std::time::Instant::now();
    c.graph(Method::GET, path, None).await;
    assert!(started.elapsed() >= Duration::from_millis(150));

    c.emulator.configure(|s| {
        s.latency = Duration::ZERO;
        s.write_rate_limit = Some(2.0);
    });
    let mut throttled = 0;
    for i in 0..6 {
        let (status, _, headers) = c
            .graph_with(
                Method::PATCH,
                &format!("/applications(uniqueName='w{i}')"),
                Some(json!({"displayName": "w"})),
                true,
                Some(&c.token),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
            assert!(
                headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    >= 1
            );
        }
    }
    assert!(throttled >= 3, "{throttled}");
}

/// Graph's documented limits as token buckets: a request is admitted only while every
/// bucket holds its cost; listing applications costs 2 ResourceUnits, 1 with `$select`;
/// a write costs 1 ResourceUnit and 1 write; a refused request takes nothing.
#[tokio::test]
async fn documented_limits_count_resource_units_and_writes() {
    let c = start().await;
    let quota = |amount: f64, seconds: u64| Quota {
        amount,
        per: Duration::from_secs(seconds),
    };
    c.emulator.configure(|s| {
        s.limits = Some(Limits {
            resource_units: quota(6.0, 600),
            pair_writes: quota(2.0, 600),
            tenant_writes: quota(100.0, 600),
        })
    });
    let status = |path: &'static str, method: Method| {
        let c = &c;
        async move {
            let body = (method == Method::PATCH).then(|| json!({"displayName": "w"}));
            c.graph_with(method, path, body, true, Some(&c.token)).await
        }
    };
    // 2 writes (2 units), then the write quota is spent.
    for path in [
        "/applications(uniqueName='a')",
        "/applications(uniqueName='b')",
    ] {
        assert_eq!(status(path, Method::PATCH).await.0, StatusCode::CREATED);
    }
    assert_eq!(c.emulator.writes_available().map(f64::round), Some(0.0));
    let (code, _, headers) = status("/applications(uniqueName='c')", Method::PATCH).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    // 4 units left: a list (2), a list with $select (1), a read by key (1), then none.
    assert_eq!(status("/applications", Method::GET).await.0, StatusCode::OK);
    assert_eq!(
        status("/applications?$select=id", Method::GET).await.0,
        StatusCode::OK
    );
    assert_eq!(
        status("/applications(uniqueName='a')", Method::GET).await.0,
        StatusCode::OK
    );
    assert_eq!(
        status("/applications(uniqueName='a')", Method::GET).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let documented = Limits::documented(TenantSize::Small);
    assert_eq!(documented.resource_units.amount, 3_500.0);
    assert_eq!(documented.write_ceiling(3_000.0, 150.0), 6_000.0);
}

#[tokio::test]
async fn the_http_control_api_mirrors_the_in_process_one() {
    let c = start().await;
    let url = |p: &str| format!("{}/_emulator/{p}", c.emulator.url());
    let post = |p: &str, body: Value| c.http.post(url(p)).body(body.to_string()).send();
    assert!(
        post("credentials/secret", json!({"secret": "another"}))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert_eq!(
        c.sign_in(&[("client_secret", "another")]).await.0,
        StatusCode::OK
    );
    let seeded: Value = serde_json::from_slice(
        &post("seed", json!({"displayName": "ci"}))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(seeded["servicePrincipalId"].is_string());
    assert!(
        post(
            "settings",
            json!({"directoryQuota": 7, "appRoleAssignmentPermission": true})
        )
        .await
        .unwrap()
        .status()
        .is_success()
    );
    assert_eq!(c.emulator.settings().directory_quota, 7);
    assert!(
        post(
            "faults",
            json!({"fault": {"kind": "throttle", "retryAfter": 2}, "times": 1})
        )
        .await
        .unwrap()
        .status()
        .is_success()
    );
    assert_eq!(
        c.graph(Method::GET, "/servicePrincipals(appId='x')", None)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let key = TestKey::generate("via http");
    let response: Value = serde_json::from_slice(
        &post(
            "credentials/certificate",
            json!({"pem": key.certificate_pem()}),
        )
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(response["x5t#S256"], key.kid());
    assert!(
        post("credentials/jwks", key.jwks())
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert!(
        post(
            "credentials/federated",
            json!({"name": "n", "issuer": "https://i", "subject": "s", "audience": "a"})
        )
        .await
        .unwrap()
        .status()
        .is_success()
    );
    let snapshot: Value = serde_json::from_slice(
        &c.http
            .get(url("snapshot"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        snapshot["applications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["appId"] == seeded["appId"])
    );
    assert_eq!(snapshot["factoryFederatedCredentials"][0]["name"], "n");
    let calls: Value = serde_json::from_slice(
        &c.http
            .get(url("calls"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(calls["GET /v1.0/servicePrincipals(appId)"], 1);
    assert!(
        post("reset", json!({}))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert_eq!(
        c.emulator.snapshot().applications.len(),
        1,
        "only the factory's own app is left"
    );
    assert_eq!(
        c.http.get(url("nope")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_binary_prints_its_ready_line_and_stops_when_stdin_closes() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_graph-emulator"))
        .args(["--client-secret", "demo"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line
        .strip_prefix("GRAPH_EMULATOR_READY ")
        .expect("the ready line");
    assert!(url.starts_with("http://127.0.0.1:"));
    let snapshot = reqwest::get(format!("{url}/_emulator/snapshot"))
        .await
        .unwrap();
    assert_eq!(snapshot.status(), StatusCode::OK);
    drop(child.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

/// "List applications" with `$filter=tags/any(t:t eq '…')`: the factory lists every
/// application of the tenant (`Application.ReadWrite.OwnedBy` may), its own and others',
/// filtered on one tag; clauses Graph would not take are refused; a new application
/// appears once its write has replicated.
#[tokio::test]
async fn owned_applications_are_listed_by_tag() {
    let c = start().await;
    c.emulator.seed_foreign_application("foreign", true);
    for (name, tags) in [
        ("blue", json!(["team=web", "x"])),
        ("green", json!(["team=db"])),
    ] {
        c.create_app_and_sp(name).await;
        c.patch(
            &format!("/applications(uniqueName='{name}')"),
            json!({"tags": tags}),
        )
        .await;
    }
    let list = |filter: &str| {
        format!(
            "/applications?$filter={}",
            url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
        )
    };
    let names = |body: &Value| -> Vec<String> {
        let mut names: Vec<String> = body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["uniqueName"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        names
    };
    // The factory's own registration and the foreign application have no uniqueName.
    let (status, all) = c.graph(Method::GET, "/applications", None).await;
    assert_eq!(
        (status, names(&all)),
        (
            StatusCode::OK,
            ["", "", "blue", "green"].map(str::to_owned).to_vec()
        )
    );
    let (status, web) = c
        .graph(Method::GET, &list("tags/any(t:t eq 'team=web')"), None)
        .await;
    assert_eq!(
        (status, names(&web)),
        (StatusCode::OK, vec!["blue".to_owned()])
    );
    let (_, none) = c
        .graph(Method::GET, &list("tags/any(x: x eq 'team=ops')"), None)
        .await;
    assert!(names(&none).is_empty());
    let (status, error) = c
        .graph(Method::GET, &list("startswith(displayName,'b')"), None)
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );

    let (_, teams) = c
        .graph(
            Method::GET,
            &list("tags/any(t:startswith(t,'team='))"),
            None,
        )
        .await;
    assert_eq!(names(&teams), ["blue", "green"]);

    // One application a page: each page but the last links to the next, filter kept.
    c.emulator.configure(|s| s.page_size = 1);
    let mut path = list("tags/any(t:startswith(t,'team='))");
    let mut pages = Vec::new();
    loop {
        let (status, page) = c.graph(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages.push(names(&page));
        let Some(next) = page["@odata.nextLink"].as_str() else {
            break;
        };
        let base = format!("{}/v1.0", c.emulator.url());
        path = next
            .strip_prefix(&base)
            .expect("a link on the same endpoint")
            .to_owned();
    }
    assert!(pages.iter().all(|page| page.len() == 1), "{pages:?}");
    let mut all = pages.concat();
    all.sort();
    assert_eq!(all, ["blue", "green"]);
    c.emulator.configure(|s| s.page_size = 100);

    c.emulator
        .configure(|s| s.replication_lag = Duration::from_secs(60));
    c.create_app_and_sp("late").await;
    let (_, listed) = c.graph(Method::GET, "/applications", None).await;
    assert!(
        !names(&listed).contains(&"late".to_owned()),
        "not replicated yet"
    );
}

/// "List owners of an application": the factory's own service principal owns what it
/// made; an application someone else made is readable this way too, without it.
#[tokio::test]
async fn owners_of_an_application_are_listed_whoever_owns_it() {
    let c = start().await;
    let (app, _) = c.create_app_and_sp("mine").await;
    let foreign = c.emulator.seed_foreign_application("theirs", false);
    let owners = |id: String| {
        let c = &c;
        async move {
            let (status, body) = c
                .graph(
                    Method::GET,
                    &format!("/applications/{id}/owners?$select=id"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        owners(app["id"].as_str().unwrap().to_owned()).await,
        [c.emulator.factory_service_principal_id()]
    );
    assert!(
        !owners(foreign.id)
            .await
            .contains(&c.emulator.factory_service_principal_id())
    );
}

/// "List servicePrincipals" with `$filter=tags/any(t:t eq '…')`: every service principal
/// of the tenant is listed (`Application.ReadWrite.OwnedBy` may list them all), filtered
/// on one tag; a new one appears once its write has replicated.
#[tokio::test]
async fn service_principals_are_listed_by_tag() {
    let c = start().await;
    for (name, tags) in [("blue", json!(["gen=1", "x"])), ("green", json!(["gen=2"]))] {
        let (_, sp) = c.create_app_and_sp(name).await;
        let path = format!(
            "/servicePrincipals(appId='{}')",
            sp["appId"].as_str().unwrap()
        );
        let (status, body) = c
            .graph(Method::PATCH, &path, Some(json!({"tags": tags})))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let list = |filter: &str| {
        format!(
            "/servicePrincipals?$filter={}",
            url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
        )
    };
    let (status, one) = c
        .graph(Method::GET, &list("tags/any(t:t eq 'gen=1')"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let listed = one["value"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{one}");
    assert_eq!(listed[0]["tags"], json!(["gen=1", "x"]));
    let (status, error) = c.graph(Method::GET, &list("appId eq 'x'"), None).await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );

    c.emulator
        .configure(|s| s.replication_lag = Duration::from_secs(60));
    let (_, late) = c.create_app_and_sp("late").await;
    let (_, all) = c.graph(Method::GET, "/servicePrincipals", None).await;
    let ids: Vec<&str> = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|sp| sp["id"].as_str())
        .collect();
    assert!(!ids.is_empty(), "{all}");
    assert!(
        !ids.contains(&late["id"].as_str().unwrap()),
        "not replicated yet"
    );
}

// --- application credentials -----------------------------------------------------------

/// The `passwordCredentials` of a Graph answer, checked never to carry a secret.
fn listed_passwords(app: &Value) -> Vec<Value> {
    let passwords = app["passwordCredentials"].as_array().unwrap().clone();
    for password in &passwords {
        assert!(password.get("secretText").is_none(), "{password}");
        assert!(password["keyId"].is_string() && password["hint"].is_string());
    }
    passwords
}

fn year(timestamp: &Value) -> i32 {
    timestamp.as_str().unwrap()[..4].parse().unwrap()
}

#[tokio::test]
async fn passwords_are_added_once_shown_and_removed_by_key_id() {
    let c = start().await;
    let (_, app) = c.upsert("pw").await;
    let id = app["id"].as_str().unwrap();
    let app_id = app["appId"].as_str().unwrap();
    assert!(listed_passwords(&app).is_empty());

    let (status, added) = c
        .graph(
            Method::POST,
            &format!("/applications/{id}/addPassword"),
            Some(json!({"passwordCredential": {"displayName": "ci"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let secret = added["secretText"].as_str().unwrap().to_owned();
    assert!((16..=64).contains(&secret.len()), "{secret}");
    assert_eq!(added["hint"], secret[..3]);
    assert_eq!(added["displayName"], "ci");
    assert_eq!(
        year(&added["endDateTime"]),
        year(&added["startDateTime"]) + 2
    );
    let first = added["keyId"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&first).is_ok());

    // By appId with an end date, and by uniqueName without a body.
    let (status, dated) = c
        .graph(
            Method::POST,
            &format!("/applications(appId='{app_id}')/addPassword"),
            Some(json!({"passwordCredential": {"endDateTime": "2099-01-01T00:00:00Z"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dated}");
    assert_eq!(dated["endDateTime"], "2099-01-01T00:00:00Z");
    let (status, offset) = c
        .graph(
            Method::POST,
            &format!("/applications/{id}/addPassword"),
            Some(json!({"passwordCredential": {
                "startDateTime": "2030-06-01T01:30:00.1234567+02:00",
                "endDateTime": "2031-06-01T00:00:00-05:30",
            }})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{offset}");
    assert_eq!(
        (&offset["startDateTime"], &offset["endDateTime"]),
        (
            &json!("2030-05-31T23:30:00Z"),
            &json!("2031-06-01T05:30:00Z")
        )
    );
    let key = offset["keyId"].as_str().unwrap();
    let (status, _) = c
        .graph(
            Method::POST,
            &format!("/applications/{id}/removePassword"),
            Some(json!({"keyId": key})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = c
        .graph(
            Method::POST,
            "/applications(uniqueName='pw')/addPassword",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = c
        .graph(
            Method::POST,
            &format!("/applications/{id}/addPassword"),
            Some(json!({"passwordCredential": {"endDateTime": "next year"}})),
        )
        .await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::BAD_REQUEST, "Request_BadRequest")
    );

    // Read back, one by one and in the list, the secret is never there again.
    let (_, got) = c
        .graph(Method::GET, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(listed_passwords(&got).len(), 3);
    assert!(!got.to_string().contains(&secret));
    let (_, list) = c.graph(Method::GET, "/applications", None).await;
    let listed = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|app| app["uniqueName"] == "pw")
        .expect("listed");
    assert_eq!(listed_passwords(listed).len(), 3);
    assert!(!list.to_string().contains(&secret));
    let stored = c.emulator.snapshot().application("pw").unwrap().clone();
    assert_eq!(stored.password_credentials[0].key_id, first);
    assert_eq!(
        stored.password_credentials[0].hint.as_deref(),
        Some(&secret[..3])
    );

    let remove = format!("/applications/{id}/removePassword");
    let (status, body) = c
        .graph(Method::POST, &remove, Some(json!({"keyId": first})))
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    for body in [json!({"keyId": first}), json!({}), json!({"keyId": "nope"})] {
        let (status, error) = c.graph(Method::POST, &remove, Some(body)).await;
        assert_eq!(
            (status, code(&error)),
            (StatusCode::BAD_REQUEST, "Request_BadRequest")
        );
    }
    assert_eq!(
        c.graph(Method::GET, &remove, None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let (_, got) = c
        .graph(Method::GET, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(listed_passwords(&got).len(), 2);

    // Secrets are not PATCHed ("Update application").
    let (status, _) = c
        .graph(
            Method::PATCH,
            &format!("/applications/{id}"),
            Some(json!({"passwordCredentials": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let unknown = format!("/applications/{}/addPassword", uuid::Uuid::new_v4());
    let (status, error) = c.graph(Method::POST, &unknown, None).await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::NOT_FOUND, "Request_ResourceNotFound")
    );

    // A deleted application is shown with its credentials, still without secrets.
    c.graph(Method::DELETE, &format!("/applications/{id}"), None)
        .await;
    let (_, deleted) = c
        .graph(Method::GET, &format!("/directory/deletedItems/{id}"), None)
        .await;
    assert_eq!(listed_passwords(&deleted).len(), 2);
}

#[tokio::test]
async fn key_credentials_are_replaced_by_patch_keeping_known_key_ids() {
    let c = start().await;
    let (_, app) = c.upsert("keys").await;
    let path = format!("/applications/{}", app["id"].as_str().unwrap());
    let app_id = app["appId"].as_str().unwrap();
    let portal = c.emulator.add_key_credential(app_id, "portal");
    let (_, got) = c.graph(Method::GET, &path, None).await;
    assert_eq!(got["keyCredentials"][0]["keyId"], portal.key_id);
    assert_eq!(got["keyCredentials"][0]["type"], "AsymmetricX509Cert");
    assert_eq!(got["keyCredentials"][0]["usage"], "Verify");
    assert!(got["keyCredentials"][0]["key"].is_null());

    let certificate = TestKey::generate("rotated");
    let der = base64::engine::general_purpose::STANDARD.encode(certificate.certificate_der());
    let new_key = json!({"type": "AsymmetricX509Cert", "usage": "Verify", "key": der, "displayName": "CN=rotated"});
    c.patch(
        &path,
        json!({"keyCredentials": [{"keyId": portal.key_id}, new_key]}),
    )
    .await;
    let keys = c
        .emulator
        .snapshot()
        .application("keys")
        .unwrap()
        .key_credentials
        .clone();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], portal, "a known keyId keeps its key");
    let rotated = keys[1].clone();
    assert_eq!(rotated.display_name.as_deref(), Some("CN=rotated"));
    let thumbprint = rotated.custom_key_identifier.clone().unwrap();
    assert!(thumbprint.len() == 40 && thumbprint.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(rotated.end_date_time > rotated.start_date_time);

    let without = |field: &str| {
        let mut entry = new_key.clone();
        entry.as_object_mut().unwrap().remove(field);
        entry
    };
    let mut not_a_certificate = new_key.clone();
    not_a_certificate["key"] = json!("bm90IGEgY2VydGlmaWNhdGU=");
    for bad in [
        json!([without("key")]),
        json!([without("type")]),
        json!([without("usage")]),
        json!([not_a_certificate]),
        json!([{"keyId": portal.key_id}, {"keyId": portal.key_id}]),
        json!([{"keyId": uuid::Uuid::new_v4().to_string(), "key": null}]),
        json!("all"),
    ] {
        let (status, error) = c
            .graph(Method::PATCH, &path, Some(json!({"keyCredentials": bad})))
            .await;
        assert_eq!(
            (status, code(&error)),
            (StatusCode::BAD_REQUEST, "Request_BadRequest"),
            "{bad}"
        );
    }
    // Other properties PATCH as before and leave the keys alone.
    c.patch(&path, json!({"displayName": "renamed"})).await;
    assert_eq!(
        c.emulator
            .snapshot()
            .application("keys")
            .unwrap()
            .key_credentials,
        keys
    );

    // Removing a key: PATCH the list without it.
    c.patch(
        &path,
        json!({"keyCredentials": [{"keyId": rotated.key_id, "key": null}]}),
    )
    .await;
    let (_, got) = c.graph(Method::GET, &path, None).await;
    let listed = got["keyCredentials"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["keyId"], rotated.key_id);
    assert_eq!(listed[0]["customKeyIdentifier"], thumbprint);
    c.patch(&path, json!({"keyCredentials": []})).await;
    let (_, list) = c.graph(Method::GET, "/applications", None).await;
    assert_eq!(list["value"][0]["keyCredentials"], json!([]));
}

#[tokio::test]
async fn credentials_of_applications_the_factory_does_not_own_are_forbidden() {
    let c = start().await;
    let foreign = c.emulator.seed_foreign_application("foreign", true);
    let key_id = c.emulator.add_password(&foreign.app_id, "theirs").key_id;
    for (action, body) in [
        ("addPassword", json!({})),
        ("removePassword", json!({"keyId": key_id})),
    ] {
        let (status, error) = c
            .graph(
                Method::POST,
                &format!("/applications/{}/{action}", foreign.id),
                Some(body),
            )
            .await;
        assert_eq!(
            (status, code(&error)),
            (StatusCode::FORBIDDEN, "Authorization_RequestDenied"),
            "{action}"
        );
    }
    let (status, _) = c
        .graph(
            Method::PATCH,
            &format!("/applications(appId='{}')", foreign.app_id),
            Some(json!({"keyCredentials": []})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let snapshot = c.emulator.snapshot();
    let app = snapshot
        .applications
        .iter()
        .find(|a| a.app_id == foreign.app_id)
        .unwrap();
    assert_eq!(app.password_credentials.len(), 1);
}

#[tokio::test]
async fn administrators_edit_applications_and_service_principals_by_hand() {
    let c = start().await;
    let (app, _) = c.create_app_and_sp("manual").await;
    let app_id = app["appId"].as_str().unwrap();
    let path = format!("/applications/{}", app["id"].as_str().unwrap());

    let secret = c.emulator.add_password(app_id, "portal secret");
    assert_eq!(secret.display_name.as_deref(), Some("portal secret"));
    assert_eq!(secret.hint.as_ref().map(String::len), Some(3));
    let certificate = c.emulator.add_key_credential(app_id, "portal certificate");
    let (_, got) = c.graph(Method::GET, &path, None).await;
    assert_eq!(listed_passwords(&got)[0]["keyId"], secret.key_id);
    assert_eq!(got["keyCredentials"][0]["keyId"], certificate.key_id);

    c.emulator.edit_application(app_id, |app| {
        app.federated_identity_credentials
            .push(graph_emulator::FederatedIdentityCredential {
                id: uuid::Uuid::new_v4().to_string(),
                name: "by-hand".to_owned(),
                issuer: "https://issuer.example".to_owned(),
                subject: "s".to_owned(),
                audiences: vec!["api://AzureADTokenExchange".to_owned()],
                description: None,
            });
    });
    let (status, list) = c
        .graph(
            Method::GET,
            &format!("{path}/federatedIdentityCredentials"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["value"][0]["name"], "by-hand");

    c.emulator
        .edit_service_principal(app_id, |sp| sp.app_role_assignment_required = true);
    let (status, sp) = c
        .graph(
            Method::GET,
            &format!("/servicePrincipals(appId='{app_id}')"),
            None,
        )
        .await;
    assert_eq!(
        (status, &sp["appRoleAssignmentRequired"]),
        (StatusCode::OK, &json!(true))
    );

    let missing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.emulator.edit_application("not-an-app", |_| {});
    }));
    assert!(missing.is_err());
    let missing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.emulator.edit_service_principal("not-an-app", |_| {});
    }));
    assert!(missing.is_err());
    // The emulator still answers after the panics.
    assert_eq!(c.graph(Method::GET, &path, None).await.0, StatusCode::OK);
}

// --- the factory's permissions ---------------------------------------------------------

/// The `appRoleId`s of a service principal's `appRoleAssignments`.
async fn held_roles(c: &Client, principal: &str) -> Vec<String> {
    let (status, list) = c
        .graph(
            Method::GET,
            &format!("{principal}/appRoleAssignments"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut roles: Vec<String> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appRoleId"].as_str().unwrap().to_owned())
        .collect();
    roles.sort();
    roles
}

#[tokio::test]
async fn the_factory_lists_the_graph_permissions_it_holds() {
    let c = start().await;
    let factory = c.emulator.factory_service_principal_id();
    let client_id = c.emulator.factory_client_id();
    let (status, sp) = c
        .graph(
            Method::GET,
            &format!("/servicePrincipals(appId='{client_id}')"),
            None,
        )
        .await;
    assert_eq!((status, &sp["id"]), (StatusCode::OK, &json!(factory)));
    assert_eq!(sp["appRoleAssignmentRequired"], false);

    let by_id = format!("/servicePrincipals/{factory}");
    let by_app_id = format!("/servicePrincipals(appId='{client_id}')");
    let (_, list) = c
        .graph(Method::GET, &format!("{by_id}/appRoleAssignments"), None)
        .await;
    let held = &list["value"][0];
    assert_eq!(held["appRoleId"], graph_emulator::OWNED_BY_PERMISSION_ID);
    assert_eq!(held["principalId"], factory);
    assert_eq!(held["principalType"], "ServicePrincipal");
    assert_eq!(held["principalDisplayName"], sp["displayName"]);
    assert_eq!(
        held["resourceId"],
        graph_emulator::MICROSOFT_GRAPH_SERVICE_PRINCIPAL_ID
    );
    assert_eq!(held["resourceDisplayName"], "Microsoft Graph");
    assert!(held["id"].is_string() && held["createdDateTime"].is_string());
    assert_eq!(
        held_roles(&c, &by_app_id).await,
        [graph_emulator::OWNED_BY_PERMISSION_ID]
    );

    c.emulator
        .configure(|s| s.app_role_assignment_permission = true);
    let mut both = vec![
        graph_emulator::APP_ROLE_ASSIGNMENT_PERMISSION_ID,
        graph_emulator::OWNED_BY_PERMISSION_ID,
    ];
    both.sort_unstable();
    assert_eq!(held_roles(&c, &by_id).await, both);
    assert_eq!(held_roles(&c, &by_app_id).await, both);
    c.emulator.configure(|s| s.owned_by_permission = false);
    assert_eq!(
        held_roles(&c, &by_id).await,
        [graph_emulator::APP_ROLE_ASSIGNMENT_PERMISSION_ID]
    );
    c.emulator.configure(|s| {
        s.owned_by_permission = true;
        s.app_role_assignment_permission = false;
    });
    assert_eq!(
        held_roles(&c, &by_id).await,
        [graph_emulator::OWNED_BY_PERMISSION_ID]
    );

    // Other principals hold what was granted to them in the directory.
    c.emulator
        .configure(|s| s.app_role_assignment_permission = true);
    let (app, sp) = c.create_app_and_sp("resource").await;
    let sp_id = sp["id"].as_str().unwrap();
    let role_id = "0e4f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
    c.patch(
        &format!("/applications/{}", app["id"].as_str().unwrap()),
        json!({"appRoles": [{"id": role_id, "allowedMemberTypes": ["Application"], "value": "v", "isEnabled": true}]}),
    )
    .await;
    let principal = format!("/servicePrincipals/{sp_id}");
    assert!(held_roles(&c, &principal).await.is_empty());
    let (status, _) = c
        .graph(
            Method::POST,
            &format!("{principal}/appRoleAssignedTo"),
            Some(json!({"principalId": sp_id, "resourceId": sp_id, "appRoleId": role_id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(held_roles(&c, &principal).await, [role_id]);
    let foreign = c.emulator.seed_foreign_application("foreign", true);
    let foreign = format!(
        "/servicePrincipals/{}",
        foreign.service_principal_id.unwrap()
    );
    assert!(held_roles(&c, &foreign).await.is_empty());
    assert_eq!(
        c.graph(
            Method::POST,
            &format!("{by_id}/appRoleAssignments"),
            Some(json!({}))
        )
        .await
        .0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn without_application_readwrite_ownedby_writes_are_denied_and_reads_work() {
    let c = start().await;
    let (app, sp) = c.create_app_and_sp("held").await;
    let path = format!("/applications/{}", app["id"].as_str().unwrap());
    let sp_path = format!("/servicePrincipals/{}", sp["id"].as_str().unwrap());
    c.emulator.configure(|s| s.owned_by_permission = false);

    let (status, error) = c.upsert("new").await;
    assert_eq!(
        (status, code(&error)),
        (StatusCode::FORBIDDEN, "Authorization_RequestDenied")
    );
    let fic = json!({"name": "n", "issuer": "https://i", "subject": "s", "audiences": ["a"]});
    for (method, target, body) in [
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"displayName": "x"})),
        ),
        (Method::POST, format!("{path}/addPassword"), None),
        (
            Method::POST,
            format!("{path}/federatedIdentityCredentials"),
            Some(fic),
        ),
        (Method::PATCH, sp_path.clone(), Some(json!({"tags": []}))),
        (Method::DELETE, sp_path.clone(), None),
        (Method::DELETE, path.clone(), None),
        (
            Method::POST,
            "/servicePrincipals".to_owned(),
            Some(json!({"appId": app["appId"]})),
        ),
    ] {
        let (status, error) = c.graph(method.clone(), &target, body).await;
        assert_eq!(
            (status, code(&error)),
            (StatusCode::FORBIDDEN, "Authorization_RequestDenied"),
            "{method} {target}"
        );
    }
    for target in [
        path.clone(),
        format!("{path}/federatedIdentityCredentials"),
        "/applications".to_owned(),
        sp_path.clone(),
        format!(
            "/servicePrincipals(appId='{}')",
            app["appId"].as_str().unwrap()
        ),
    ] {
        let (status, body) = c.graph(Method::GET, &target, None).await;
        assert_eq!(status, StatusCode::OK, "{target}: {body}");
    }
    assert!(c.emulator.snapshot().application("new").is_none());

    // Granted again over the control API, the factory writes as before.
    let granted = c
        .http
        .post(format!("{}/_emulator/settings", c.emulator.url()))
        .body(json!({"ownedByPermission": true}).to_string())
        .send()
        .await
        .unwrap();
    assert!(granted.status().is_success());
    assert_eq!(c.upsert("new").await.0, StatusCode::CREATED);
}
