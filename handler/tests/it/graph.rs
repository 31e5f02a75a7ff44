//! The Graph client against the Graph emulator: sign-in with a secret, a certificate and
//! an external assertion; each operation creating, converging on repeat and cleaning up;
//! lag, throttling and the deadline; foreign objects left alone; every failure worded;
//! and no secret, token or assertion in logs or errors.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use entra_federated_role::config::{self, Config};
use entra_federated_role::deadline::Deadline;
use entra_federated_role::domain::app_role::APP_ROLE_VALUE;
use entra_federated_role::domain::record::Record;
use entra_federated_role::domain::{
    AppId, Audience, CredentialDescription, CredentialName, DisplayName, FederatedCredential,
    Issuer, Subject, TokenVersion,
};
use entra_federated_role::graph::{
    self, AppOrigin, AppOwner, Application, ApplicationSpec, AssertionSource,
    CertificateCredential, Changes, Credential, GraphClient, GraphError, Located, ServicePrincipal,
    SignInError, TrustedClient, UniqueName, WorkloadSpec,
};
use entra_federated_role::retry::{Backoff, RetryPolicy};
use entra_federated_role::secret::Secret;
use entra_federated_role::tls::Roots;
use futures::future::BoxFuture;
use graph_emulator::{FaultRule, GraphEmulator, Lag, TestKey};
use serde_json::{Value, json};
use tokio::time::Instant;

pub(crate) const SECRET: &str = "emulated-client-secret-Zq8~value";
const STACK: &str = "arn:aws:cloudformation:eu-west-1:222222222222:stack/ci-roles/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1";
const OUTBOUND_ISSUER: &str =
    "https://a1b2c3d4-0000-4000-8000-222222222222.tokens.sts.global.api.aws";
const FACTORY_ROLE: &str = "arn:aws:iam::111111111111:role/entra-federated-role-factory";

pub(crate) fn fast() -> RetryPolicy {
    RetryPolicy {
        backoff: Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(200),
        },
        propagation: Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(100),
        },
        max_attempts: 12,
        attempt_timeout: Duration::from_secs(10),
    }
}

pub(crate) fn config_for(emulator: &GraphEmulator) -> Config {
    let env: HashMap<&str, String> = HashMap::from([
        ("ENTRA_TENANT_ID", emulator.tenant_id()),
        ("ENTRA_CLIENT_ID", emulator.factory_client_id()),
        ("AZURE_AUTHORITY_HOST", emulator.url().to_owned()),
        ("GRAPH_ENDPOINT", emulator.url().to_owned()),
    ]);
    config::load(|name| env.get(name).cloned())
        .config
        .expect("the emulator's endpoints are a valid configuration")
}

pub(crate) async fn emulator() -> GraphEmulator {
    let emulator = GraphEmulator::start()
        .await
        .expect("start the Graph emulator");
    emulator.set_client_secret(SECRET);
    emulator
}

pub(crate) fn client(emulator: &GraphEmulator, credential: Credential) -> GraphClient {
    // The emulator speaks plain HTTP: no root is needed.
    let http = graph::http_client(&Roots::default()).expect("build the HTTP client");
    GraphClient::new(&config_for(emulator), http, credential, fast())
}

fn secret_client(emulator: &GraphEmulator) -> GraphClient {
    client(emulator, Credential::ClientSecret(Secret::new(SECRET)))
}

pub(crate) fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(30))
}

fn owner(generation: &str) -> AppOwner {
    AppOwner {
        account: "222222222222".to_owned(),
        generation: generation.to_owned(),
        origin: AppOrigin::Resource {
            stack_id: STACK.to_owned(),
            logical_id: "CiRole".to_owned(),
        },
    }
}

fn app_spec(generation: &str) -> ApplicationSpec {
    ApplicationSpec {
        unique_name: UniqueName::parse(&format!("efr-{generation}")).unwrap(),
        display_name: DisplayName::parse("ci-roles CiRole").unwrap(),
        token_version: TokenVersion::V1,
        owner: owner(generation),
        record: Record::wanted(&[], &[], false),
    }
}

fn credential(name: &str, subject: &str, description: Option<&str>) -> FederatedCredential {
    FederatedCredential {
        name: CredentialName::parse(name).unwrap(),
        issuer: Issuer::parse("https://token.actions.githubusercontent.com").unwrap(),
        subject: Subject::parse(subject).unwrap(),
        audience: Audience::token_exchange(),
        description: description.map(|d| CredentialDescription::parse(d).unwrap()),
    }
}

pub(crate) fn workload(generation: &str) -> WorkloadSpec {
    WorkloadSpec {
        application: app_spec(generation),
        federated_credentials: vec![
            credential("github-main", "repo:org/app:ref:refs/heads/main", None),
            credential(
                "github-prod",
                "repo:org/app:environment:prod",
                Some("deploys"),
            ),
        ],
        trusted_client_app_ids: Vec::new(),
        require_app_role_assignment: false,
    }
}

/// The AWS side's stand-in: RS256 JWTs like `sts:GetWebIdentityToken`'s, signed with a
/// key whose JWKS the emulator trusts. Remembers what it handed out.
struct TestAssertions {
    key: TestKey,
    issued: Mutex<Vec<String>>,
}

impl TestAssertions {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            key: TestKey::generate("outbound identity federation"),
            issued: Mutex::new(Vec::new()),
        })
    }

    fn trust_on(&self, emulator: &GraphEmulator) {
        emulator.add_jwks(&self.key.jwks()).unwrap();
        emulator.add_factory_federated_credential(
            "aws-outbound",
            OUTBOUND_ISSUER,
            FACTORY_ROLE,
            "api://AzureADTokenExchange",
        );
    }
}

impl AssertionSource for TestAssertions {
    fn assertion(&self) -> BoxFuture<'_, Result<Secret, Box<dyn std::error::Error + Send + Sync>>> {
        Box::pin(async move {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let jwt = self.key.sign(&json!({
                "iss": OUTBOUND_ISSUER,
                "sub": FACTORY_ROLE,
                "aud": "api://AzureADTokenExchange",
                "iat": now,
                "nbf": now,
                "exp": now + 300,
                "jti": uuid::Uuid::new_v4().to_string(),
            }));
            self.issued.lock().unwrap().push(jwt.clone());
            Ok(Secret::new(jwt))
        })
    }
}

// --- sign-in ------------------------------------------------------------------------

#[tokio::test]
async fn a_client_secret_signs_in_once_per_token_lifetime() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let token = client.access_token(deadline()).await.unwrap();
    for generation in ["a1", "a2", "a3"] {
        client
            .upsert_application(&app_spec(generation), deadline())
            .await
            .unwrap();
    }
    // Concurrent first calls share the one cached token.
    let again = futures::future::join_all((0..5).map(|_| client.access_token(deadline()))).await;
    assert!(again.into_iter().all(|t| t.unwrap() == token));
    assert_eq!(emulator.token_requests(), 1);
}

#[tokio::test]
async fn concurrent_first_calls_sign_in_once() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let calls = (0..4).map(|i| {
        let spec = app_spec(&format!("c{i}"));
        let client = &client;
        async move { client.upsert_application(&spec, deadline()).await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(emulator.token_requests(), 1);
}

#[tokio::test]
async fn a_token_is_renewed_shortly_before_it_expires() {
    let emulator = emulator().await;
    emulator.configure(|s| s.token_lifetime = Duration::from_secs(2));
    let client = secret_client(&emulator);
    let first = client.access_token(deadline()).await.unwrap();
    assert_eq!(client.access_token(deadline()).await.unwrap(), first);
    tokio::time::sleep(Duration::from_millis(1100)).await; // past half its life
    let second = client.access_token(deadline()).await.unwrap();
    assert_ne!(first, second);
    assert_eq!(emulator.token_requests(), 2);
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_with_its_aadsts_code() {
    let emulator = emulator().await;
    let client = client(
        &emulator,
        Credential::ClientSecret(Secret::new("not-the-secret-XYZ")),
    );
    let error = client.access_token(deadline()).await.unwrap_err();
    assert_eq!(error.aadsts_code(), Some(7000215));
    let shown = error.to_string();
    assert!(
        shown.starts_with(
            "Entra ID refused the factory's sign-in: AADSTS7000215: Invalid client secret provided"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("store the current client secret *value*"),
        "{shown}"
    );
    assert!(
        !shown.contains("not-the-secret-XYZ")
            && !format!("{error:?}").contains("not-the-secret-XYZ")
    );
}

#[tokio::test]
async fn a_certificate_signs_in_with_an_x5t_s256_assertion() {
    let emulator = emulator().await;
    let key = TestKey::generate("factory certificate");
    emulator
        .add_certificate(key.certificate_pem().as_bytes())
        .unwrap();
    let certificate =
        CertificateCredential::from_pem(key.certificate_pem(), &Secret::new(key.private_key_pem()))
            .unwrap();
    assert_eq!(certificate.thumbprint_s256(), key.kid());
    let client = client(&emulator, Credential::Certificate(certificate));
    client
        .upsert_application(&app_spec("cert"), deadline())
        .await
        .unwrap();
    assert_eq!(emulator.token_requests(), 1);
}

#[tokio::test]
async fn an_unregistered_certificate_is_refused_with_advice() {
    let emulator = emulator().await;
    let registered = TestKey::generate("registered");
    emulator
        .add_certificate(registered.certificate_pem().as_bytes())
        .unwrap();
    let other = TestKey::generate("other");
    let certificate = CertificateCredential::from_pem(
        other.certificate_pem(),
        &Secret::new(other.private_key_pem()),
    )
    .unwrap();
    let error = client(&emulator, Credential::Certificate(certificate))
        .access_token(deadline())
        .await
        .unwrap_err();
    assert_eq!(error.aadsts_code(), Some(700027));
    assert!(
        error.to_string().contains("upload the certificate"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unusable_key_is_reported_without_its_text() {
    let key = TestKey::generate("x");
    let error = CertificateCredential::from_pem(
        key.certificate_pem(),
        &Secret::new(
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n",
        ),
    )
    .unwrap_err();
    let shown = error.to_string();
    assert!(
        shown.contains("privateKeyPem is not a PEM RSA private key"),
        "{shown}"
    );
    assert!(!shown.contains("c2VjcmV0"), "{shown}");
    let error = CertificateCredential::from_pem("no pem here", &Secret::new(key.private_key_pem()))
        .unwrap_err();
    assert!(error.to_string().contains("certificatePem"), "{error}");
}

#[tokio::test]
async fn an_external_assertion_signs_in_and_survives_propagation_lag() {
    let emulator = emulator().await;
    let assertions = TestAssertions::new();
    assertions.trust_on(&emulator);
    emulator.configure(|s| s.federated_sign_in_lag = 3);
    let client = client(&emulator, Credential::Assertion(assertions.clone()));
    client
        .upsert_application(&app_spec("wif"), deadline())
        .await
        .unwrap();
    assert_eq!(
        emulator.token_requests(),
        4,
        "three AADSTS70021 answers, then a token"
    );
    assert_eq!(
        assertions.issued.lock().unwrap().len(),
        1,
        "one assertion reused across retries"
    );
}

#[tokio::test]
async fn federation_that_never_matches_fails_before_the_deadline() {
    let emulator = emulator().await;
    let assertions = TestAssertions::new();
    assertions.trust_on(&emulator);
    emulator.configure(|s| s.federated_sign_in_lag = u32::MAX);
    let client = client(&emulator, Credential::Assertion(assertions));
    let started = Instant::now();
    let error = client
        .access_token(Deadline::after(Duration::from_millis(1000)))
        .await
        .unwrap_err();
    // It gives up at the deadline instead of waiting for a federation that never comes
    // (the bound is loose: a loaded machine may answer the last request late).
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, SignInError::FederationNotReady { .. }),
        "{error:?}"
    );
    assert_eq!(error.aadsts_code(), Some(70021));
    assert!(
        error
            .to_string()
            .contains("add a federated identity credential to the factory app"),
        "{error}"
    );
}

#[tokio::test]
async fn an_assertion_for_another_subject_is_refused() {
    let emulator = emulator().await;
    let assertions = TestAssertions::new();
    emulator.add_jwks(&assertions.key.jwks()).unwrap();
    emulator.add_factory_federated_credential(
        "other",
        OUTBOUND_ISSUER,
        "arn:aws:iam::111111111111:role/other",
        "api://AzureADTokenExchange",
    );
    let error = client(&emulator, Credential::Assertion(assertions))
        .access_token(Deadline::after(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(error.aadsts_code(), Some(700213), "{error}");
}

#[tokio::test]
async fn a_deadline_that_cuts_a_retry_short_still_reports_the_refusal() {
    let emulator = emulator().await;
    let assertions = TestAssertions::new();
    emulator.add_jwks(&assertions.key.jwks()).unwrap();
    // Each answer takes 500 ms: the first refusal comes back with about 300 ms left, the
    // retry is allowed, and the deadline cuts its request short.
    emulator.configure(|settings| settings.latency = Duration::from_millis(500));
    let error = client(&emulator, Credential::Assertion(assertions))
        .access_token(Deadline::after(Duration::from_millis(800)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SignInError::FederationNotReady { .. }),
        "{error:?}"
    );
    assert_eq!(error.aadsts_code(), Some(700211), "{error}");
}

// --- operations ----------------------------------------------------------------------

#[tokio::test]
async fn the_workload_identity_is_created_then_converges_then_is_cleaned_up() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let spec = workload("gen1");

    let created = client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    assert!(created.created);
    let app = &created.application;
    let snapshot = emulator.snapshot();
    let stored = snapshot.application("efr-gen1").expect("the app exists");
    assert_eq!(stored.display_name, "ci-roles CiRole");
    assert_eq!(stored.identifier_uris, [format!("api://{}", app.app_id)]);
    assert_eq!(stored.requested_access_token_version, Some(1));
    assert_eq!(stored.sign_in_audience, "AzureADMyOrg");
    assert!(
        stored
            .tags
            .contains(&"entra-federated-role:generation=gen1".to_owned())
    );
    assert!(stored.notes.as_deref().unwrap().contains(STACK));
    assert_eq!(stored.owners, [emulator.factory_service_principal_id()]);
    let mut names: Vec<_> = stored
        .federated_identity_credentials
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["github-main", "github-prod"]);
    let sp = snapshot
        .service_principal(&app.app_id)
        .expect("the service principal exists");
    assert_eq!(sp.id, created.service_principal.id);
    assert_eq!(created.subjects(), std::slice::from_ref(&sp.id));

    // The same event again: nothing created, nothing changed.
    let calls_before = emulator.calls();
    let again = client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    assert!(!again.created);
    assert!(again.federated_credentials.is_empty() && again.app_role_assignments.is_empty());
    assert_eq!(again.service_principal.id, created.service_principal.id);
    assert_eq!(
        emulator.snapshot().applications.len(),
        snapshot.applications.len()
    );
    let calls_after = emulator.calls();
    for write in [
        "POST /v1.0/servicePrincipals",
        "POST /v1.0/applications/{id}/federatedIdentityCredentials",
    ] {
        assert_eq!(
            calls_after.get(write),
            calls_before.get(write),
            "{write} repeated"
        );
    }

    // Delete: soft delete, then purge of the app and its service principal.
    let deletion = client
        .delete_application(&spec.application.unique_name, &owner("gen1"), deadline())
        .await
        .unwrap();
    assert_eq!(
        deletion,
        Deletion::Deleted {
            application_id: app.id.clone(),
            service_principal_purged: true
        }
    );
    let snapshot = emulator.snapshot();
    assert!(snapshot.application("efr-gen1").is_none());
    assert!(snapshot.service_principal(&app.app_id).is_none());
    assert!(
        snapshot.deleted_items.is_empty(),
        "{:?}",
        snapshot.deleted_items
    );
    assert_eq!(snapshot.objects_created_by_factory(), 0, "quota freed");
    // …and again: already gone.
    let again = client
        .delete_application(&spec.application.unique_name, &owner("gen1"), deadline())
        .await
        .unwrap();
    assert_eq!(again, Deletion::AlreadyGone);
    // The name is free again.
    assert!(
        client
            .ensure_workload_identity(&spec, deadline())
            .await
            .unwrap()
            .created
    );
}

#[tokio::test]
async fn federated_credentials_converge_by_name() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let mut spec = workload("fic");
    client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();

    spec.federated_credentials = vec![
        credential(
            "github-prod",
            "repo:org/app:environment:production",
            Some("deploys"),
        ),
        credential(
            "gitlab-main",
            "project_path:org/app:ref_type:branch:ref:main",
            None,
        ),
    ];
    let changed = client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    assert_eq!(changed.federated_credentials.created, ["gitlab-main"]);
    assert_eq!(changed.federated_credentials.updated, ["github-prod"]);
    assert_eq!(changed.federated_credentials.removed, ["github-main"]);
    let stored = emulator
        .snapshot()
        .application("efr-fic")
        .unwrap()
        .federated_identity_credentials
        .clone();
    let mut subjects: Vec<_> = stored
        .iter()
        .map(|f| (f.name.clone(), f.subject.clone()))
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            (
                "github-prod".to_owned(),
                "repo:org/app:environment:production".to_owned()
            ),
            (
                "gitlab-main".to_owned(),
                "project_path:org/app:ref_type:branch:ref:main".to_owned()
            ),
        ]
    );

    spec.federated_credentials.clear();
    let cleared = client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    assert_eq!(cleared.federated_credentials.removed.len(), 2);
    assert!(
        emulator
            .snapshot()
            .application("efr-fic")
            .unwrap()
            .federated_identity_credentials
            .is_empty()
    );
}

#[tokio::test]
async fn federated_credentials_that_swap_subjects_converge() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let mut spec = workload("swap");
    client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    let [main, prod] = [
        "repo:org/app:ref:refs/heads/main",
        "repo:org/app:environment:prod",
    ];
    spec.federated_credentials = vec![
        credential("github-main", prod, None),
        credential("github-prod", main, Some("deploys")),
    ];
    client
        .ensure_workload_identity(&spec, deadline())
        .await
        .expect("a swap converges, although Entra refuses two credentials with one subject");
    let mut stored: Vec<_> = emulator
        .snapshot()
        .application("efr-swap")
        .unwrap()
        .federated_identity_credentials
        .iter()
        .map(|f| (f.name.clone(), f.subject.clone()))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            ("github-main".to_owned(), prod.to_owned()),
            ("github-prod".to_owned(), main.to_owned())
        ]
    );
}

#[tokio::test]
async fn token_version_two_is_requested_on_the_app() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let mut spec = app_spec("v2");
    spec.token_version = TokenVersion::V2;
    let upserted = client.upsert_application(&spec, deadline()).await.unwrap();
    assert!(upserted.created);
    assert_eq!(
        emulator
            .snapshot()
            .application("efr-v2")
            .unwrap()
            .requested_access_token_version,
        Some(2)
    );
    // An update (204) reads the app back.
    let again = client.upsert_application(&spec, deadline()).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.application.id, upserted.application.id);
}

#[tokio::test]
async fn an_upsert_expecting_the_app_reads_it_alongside_and_still_creates_a_missing_one() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let spec = app_spec("ahead");
    // Missing after all (a role whose app was deleted by hand): created, from the 201 body.
    let created = client
        .upsert_existing_application(&spec, deadline())
        .await
        .unwrap();
    assert!(created.created);
    // Present: updated (204), the application as read alongside.
    let mut renamed = spec.clone();
    renamed.display_name = DisplayName::parse("renamed").unwrap();
    let updated = client
        .upsert_existing_application(&renamed, deadline())
        .await
        .unwrap();
    assert!(!updated.created);
    assert_eq!(
        (&updated.application.id, &updated.application.app_id),
        (&created.application.id, &created.application.app_id)
    );
    assert_eq!(
        emulator
            .snapshot()
            .application("efr-ahead")
            .unwrap()
            .display_name,
        "renamed"
    );
    // Someone else's app under the name is still refused as not ours.
    let foreign = app_spec("ahead-taken");
    emulator.seed_foreign_application_named(foreign.unique_name.as_str(), &["someone-else"]);
    let error = client
        .upsert_existing_application(&foreign, deadline())
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::NotOurs { .. }), "{error}");
}

#[tokio::test]
async fn trusted_clients_resolve_to_service_principals_and_unknown_ones_are_named() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let foreign = emulator.seed_foreign_application("deploy pipeline", true);
    let known = AppId::parse(&foreign.app_id).unwrap();
    let resolved = client
        .resolve_trusted_clients(std::slice::from_ref(&known), deadline())
        .await
        .unwrap();
    assert_eq!(
        resolved[0].service_principal_id,
        foreign.service_principal_id.clone().unwrap()
    );

    let unknown = AppId::parse("99999999-8888-7777-6666-555555555555").unwrap();
    let error = client
        .resolve_trusted_clients(&[known, unknown], deadline())
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::UnknownTrustedClient { .. }));
    assert_eq!(
        error.to_string(),
        "TrustedClientAppIds: no service principal for application id 99999999-8888-7777-6666-555555555555 in the tenant; check the id, or create the application's service principal (enterprise application) in this tenant first"
    );
}

#[tokio::test]
async fn app_role_assignment_is_granted_converged_and_removed() {
    let emulator = emulator().await;
    emulator.configure(|s| s.app_role_assignment_permission = true);
    let client = secret_client(&emulator);
    let ci = emulator.seed_foreign_application("ci", true);
    let ops = emulator.seed_foreign_application("ops", true);
    let mut spec = workload("roles");
    spec.require_app_role_assignment = true;
    spec.trusted_client_app_ids = vec![
        AppId::parse(&ci.app_id).unwrap(),
        AppId::parse(&ops.app_id).unwrap(),
    ];

    let identity = client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    let own_sp = identity.service_principal.id.clone();
    assert!(identity.service_principal.app_role_assignment_required);
    let assigned = |emulator: &GraphEmulator| {
        let snapshot = emulator.snapshot();
        let sp = snapshot
            .service_principals
            .iter()
            .find(|s| s.id == own_sp)
            .unwrap()
            .clone();
        let mut holders: Vec<_> = sp
            .app_role_assigned_to
            .iter()
            .map(|a| a.principal_id.clone())
            .collect();
        holders.sort();
        (
            snapshot.application("efr-roles").unwrap().app_roles.clone(),
            holders,
            sp.app_role_assignment_required,
        )
    };
    let (roles, holders, required) = assigned(&emulator);
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].value.as_deref(), Some(APP_ROLE_VALUE));
    assert_eq!(roles[0].allowed_member_types, ["Application"]);
    let mut expected = vec![
        own_sp.clone(),
        ci.service_principal_id.clone().unwrap(),
        ops.service_principal_id.clone().unwrap(),
    ];
    expected.sort();
    assert_eq!(holders, expected);
    assert!(required);

    // Repeat: nothing changes.
    let again = client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    assert!(again.app_role_assignments.is_empty());

    // Drop one trusted client: its assignment goes.
    spec.trusted_client_app_ids.pop();
    let changed = client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    assert_eq!(
        changed.app_role_assignments.removed,
        [ops.service_principal_id.clone().unwrap()]
    );

    // Turn it off: assignments and role removed, assignment no longer required.
    spec.require_app_role_assignment = false;
    client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    let (roles, holders, required) = assigned(&emulator);
    assert!(
        roles.is_empty() && holders.is_empty() && !required,
        "{roles:?} {holders:?}"
    );
}

/// Changes the app roles of application `object_id` by hand, as an administrator would
/// through Graph (which takes two writes to change an enabled app role).
async fn patch_app_roles_by_hand(emulator: &GraphEmulator, object_id: &str, roles: Value) {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", emulator.factory_client_id().as_str()),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .finish();
    let http = reqwest::Client::new();
    let token = http
        .post(emulator.token_endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let token: Value = serde_json::from_slice(&token).unwrap();
    let answer = http
        .patch(format!("{}/v1.0/applications/{object_id}", emulator.url()))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(json!({ "appRoles": roles }).to_string())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{:?}", answer.text().await);
}

/// Our app role changed by hand to admit users only, still enabled: Graph changes an
/// enabled app role only once it is disabled, so the repair disables it first.
#[tokio::test]
async fn an_app_role_changed_by_hand_is_repaired() {
    let emulator = emulator().await;
    emulator.configure(|s| s.app_role_assignment_permission = true);
    let client = secret_client(&emulator);
    let mut spec = workload("repair");
    spec.require_app_role_assignment = true;
    let identity = client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    let roles = || {
        emulator
            .snapshot()
            .application("efr-repair")
            .unwrap()
            .app_roles
            .clone()
    };
    let mut ours = serde_json::to_value(&roles()[0]).unwrap();
    ours["isEnabled"] = json!(false);
    let object_id = identity.application.id.clone();
    patch_app_roles_by_hand(&emulator, &object_id, json!([ours.clone()])).await;
    ours["allowedMemberTypes"] = json!(["User"]);
    ours["isEnabled"] = json!(true);
    patch_app_roles_by_hand(&emulator, &object_id, json!([ours])).await;
    assert_eq!(roles()[0].allowed_member_types, ["User"]);

    client
        .ensure_workload_identity(&spec, deadline())
        .await
        .expect("the role is repaired");
    let repaired = roles();
    assert_eq!(repaired.len(), 1);
    assert_eq!(repaired[0].allowed_member_types, ["Application"]);
    assert!(repaired[0].is_enabled);
}

#[tokio::test]
async fn app_role_assignment_without_the_permission_names_it() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let mut spec = workload("noperm");
    spec.require_app_role_assignment = true;
    let error = client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, GraphError::Forbidden { permission, .. } if permission == "AppRoleAssignment.ReadWrite.All"),
        "{error:?}"
    );
    let shown = error.to_string();
    assert!(
        shown.starts_with("Microsoft Graph refused to assign the app role of application"),
        "{shown}"
    );
    assert!(shown.ends_with("grant the factory app the application permission AppRoleAssignment.ReadWrite.All with admin consent"), "{shown}");
}

#[tokio::test]
async fn the_directory_quota_is_explained() {
    let emulator = emulator().await;
    emulator.configure(|s| s.directory_quota = 1);
    let client = secret_client(&emulator);
    let error = client
        .ensure_workload_identity(&workload("quota"), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(error, GraphError::QuotaExceeded { .. }),
        "{error:?}"
    );
    let shown = error.to_string();
    assert!(
        shown.starts_with("could not create the service principal of application"),
        "{shown}"
    );
    assert!(shown.contains("Directory_QuotaExceeded"), "{shown}");
    assert!(
        shown.contains("at most 250 directory objects, soft-deleted ones included"),
        "{shown}"
    );
    assert!(
        shown.contains("a directory role that lifts the quota"),
        "{shown}"
    );
}

#[tokio::test]
async fn foreign_applications_are_never_touched() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let squatter = emulator.seed_foreign_application_named("efr-taken", &["someone-else"]);
    let before = emulator.snapshot();
    let spec = app_spec("taken");

    let error = client
        .upsert_application(&spec, deadline())
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::NotOurs { .. }), "{error:?}");
    assert!(error.to_string().starts_with("the Entra application with uniqueName efr-taken exists but was not created by this resource"), "{error}");
    let error = client
        .find_application(&spec.unique_name, &owner("taken"), deadline())
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::NotOurs { .. }));
    let deletion = client
        .delete_application(&spec.unique_name, &owner("taken"), deadline())
        .await
        .unwrap();
    assert_eq!(deletion, Deletion::NotOurs);

    assert_eq!(emulator.snapshot(), before, "nothing changed");
    assert!(
        emulator
            .snapshot()
            .applications
            .iter()
            .any(|a| a.id == squatter.id)
    );
    assert_eq!(emulator.call_count("DELETE /v1.0/applications/{id}"), 0);
}

/// Graph lets the factory read any application, so a look-alike that copied a
/// generation's markers is found as if it were the factory's: Graph's refusal to delete
/// it is what tells, and it is left as it is.
#[tokio::test]
async fn a_look_alike_with_copied_markers_is_still_never_touched() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let spec = app_spec("copied");
    let markers = owner("copied").tags();
    let markers: Vec<&str> = markers.iter().map(String::as_str).collect();
    let squatter = emulator.seed_foreign_application_named(spec.unique_name.as_str(), &markers);
    let before = emulator.snapshot();

    let found = client
        .find_application(&spec.unique_name, &owner("copied"), deadline())
        .await
        .unwrap();
    assert_eq!(
        found.map(|app| app.id),
        Some(squatter.id.clone()),
        "read as Graph reads it"
    );
    let deletion = client
        .delete_application(&spec.unique_name, &owner("copied"), deadline())
        .await
        .unwrap();
    assert_eq!(deletion, Deletion::NotOurs);
    let error = client
        .upsert_application(&spec, deadline())
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::NotOurs { .. }), "{error:?}");
    assert_eq!(emulator.snapshot(), before, "nothing changed");
}

#[tokio::test]
async fn an_app_of_another_generation_is_not_ours() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    client
        .upsert_application(&app_spec("g1"), deadline())
        .await
        .unwrap();
    // Same name, different generation in the tags: never deleted for "g2".
    let name = UniqueName::parse("efr-g1").unwrap();
    let deletion = client
        .delete_application(&name, &owner("g2"), deadline())
        .await
        .unwrap();
    assert_eq!(deletion, Deletion::NotOurs);
    assert!(emulator.snapshot().application("efr-g1").is_some());
}

#[tokio::test]
async fn a_delete_interrupted_before_the_purge_is_finished_later() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let spec = workload("crash");
    client
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap();
    emulator.inject(
        FaultRule::server_error(1000, 503)
            .only(Some("DELETE"), Some("/v1.0/directory/deletedItems")),
    );
    let error = client
        .delete_application(
            &spec.application.unique_name,
            &owner("crash"),
            Deadline::after(Duration::from_millis(400)),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::Transient { .. }), "{error:?}");
    assert_eq!(
        emulator.snapshot().deleted_items.len(),
        2,
        "app and service principal soft-deleted"
    );

    emulator.clear_faults();
    let deletion = client
        .delete_application(&spec.application.unique_name, &owner("crash"), deadline())
        .await
        .unwrap();
    assert!(
        matches!(
            deletion,
            Deletion::Deleted {
                service_principal_purged: true,
                ..
            }
        ),
        "{deletion:?}"
    );
    assert!(emulator.snapshot().deleted_items.is_empty());
}

// --- lag, throttling, deadline --------------------------------------------------------

#[tokio::test]
async fn service_principal_replication_lag_is_survived() {
    let emulator = emulator().await;
    emulator.configure(|s| {
        s.service_principal_lag = Lag {
            attempts: 3,
            duration: Duration::ZERO,
        }
    });
    let client = secret_client(&emulator);
    let identity = client
        .ensure_workload_identity(&workload("lag"), deadline())
        .await
        .unwrap();
    assert!(
        emulator
            .snapshot()
            .service_principal(&identity.application.app_id)
            .is_some()
    );
    assert_eq!(emulator.call_count("POST /v1.0/servicePrincipals"), 4);
}

#[tokio::test]
async fn replication_lag_longer_than_the_deadline_is_a_clear_error() {
    let emulator = emulator().await;
    emulator.configure(|s| {
        s.service_principal_lag = Lag {
            attempts: 0,
            duration: Duration::from_secs(60),
        }
    });
    let client = secret_client(&emulator);
    let started = Instant::now();
    let error = client
        .ensure_workload_identity(
            &workload("lag2"),
            Deadline::after(Duration::from_millis(1000)),
        )
        .await
        .unwrap_err();
    // It gives up at the deadline instead of waiting out a minute of lag (the bound is
    // loose: a loaded machine may answer the last request late).
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    match &error {
        // The lag was seen and the next wait would pass the deadline…
        GraphError::Transient { .. } => {
            let shown = error.to_string();
            assert!(
                shown.contains("NoBackingApplicationObject")
                    || shown.contains("has not replicated yet"),
                "{shown}"
            );
            assert!(
                shown.contains("would pass the deadline; retry later"),
                "{shown}"
            );
        }
        // …or, on a slow machine, the deadline came before the next request could go out.
        GraphError::DeadlineExceeded { .. } => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn throttling_with_retry_after_is_honoured() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    client.access_token(deadline()).await.unwrap();
    emulator.inject(FaultRule::throttle(1, Some(1)));
    let started = Instant::now();
    client
        .upsert_application(&app_spec("ra"), deadline())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(
        emulator.call_count("PATCH /v1.0/applications(uniqueName)"),
        2
    );
}

#[tokio::test]
async fn throttling_without_retry_after_and_server_errors_back_off() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    emulator.inject(FaultRule::throttle(3, None));
    emulator.inject(FaultRule::server_error(2, 503));
    emulator.inject(FaultRule::server_error(1, 500));
    let identity = client
        .ensure_workload_identity(&workload("busy"), deadline())
        .await
        .unwrap();
    assert!(identity.created);
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_gives_up_at_once() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    client.access_token(deadline()).await.unwrap();
    emulator.inject(FaultRule::throttle(1, Some(30)));
    let started = Instant::now();
    let error = client
        .upsert_application(&app_spec("late"), Deadline::after(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not sleep into the deadline"
    );
    let GraphError::Throttled {
        attempts: 1, wait, ..
    } = error
    else {
        panic!("{error:?}");
    };
    // Retry-After: 30, spread by up to a fifth more.
    assert!(
        wait >= Duration::from_secs(30) && wait <= Duration::from_secs(36),
        "{wait:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "Microsoft Graph kept throttling (429) while trying to upsert the Entra application efr-late: gave up after 1 attempts because the next wait ({wait:?}) would pass the deadline; retry later"
        )
    );
}

#[tokio::test]
async fn throttling_is_ridden_out_until_the_deadline_and_failures_for_a_number_of_attempts() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    client.access_token(deadline()).await.unwrap();
    // More 429s in a row than failures are allowed: throttling is only bounded by time.
    emulator.inject(FaultRule::throttle(fast().max_attempts + 8, None));
    let upserted = client
        .upsert_application(&app_spec("crowded"), deadline())
        .await;
    assert!(upserted.is_ok(), "{upserted:?}");

    emulator.inject(FaultRule::server_error(fast().max_attempts + 8, 503));
    let error = client
        .upsert_application(&app_spec("broken"), deadline())
        .await
        .unwrap_err();
    let GraphError::Transient {
        attempts,
        wait: None,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(*attempts, fast().max_attempts);
    assert!(
        error
            .to_string()
            .contains("gave up after 12 attempts (the most allowed for failures); retry later"),
        "{error}"
    );
}

#[tokio::test]
async fn a_write_rate_limit_is_ridden_out() {
    let emulator = emulator().await;
    emulator.configure(|s| s.write_rate_limit = Some(5.0));
    let client = secret_client(&emulator);
    for i in 0..3 {
        client
            .ensure_workload_identity(&workload(&format!("rate{i}")), deadline())
            .await
            .unwrap();
    }
    assert_eq!(emulator.snapshot().objects_created_by_factory(), 6);
}

// --- secrets stay secret ---------------------------------------------------------------

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn secrets_tokens_and_assertions_never_reach_logs_or_errors() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(entra_federated_role::logging::filter(Some("trace")))
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Tests run in parallel: recompute callsite interest and the global max level now that
    // this thread's subscriber exists (tracing caches both process-wide).
    tracing::callsite::rebuild_interest_cache();

    let emulator = emulator().await;
    let key = TestKey::generate("factory certificate");
    emulator
        .add_certificate(key.certificate_pem().as_bytes())
        .unwrap();
    let assertions = TestAssertions::new();
    assertions.trust_on(&emulator);
    emulator.configure(|s| {
        s.federated_sign_in_lag = 1;
        s.service_principal_lag = Lag {
            attempts: 1,
            duration: Duration::ZERO,
        };
    });
    emulator.inject(FaultRule::throttle(1, None));

    let mut secrets = vec![SECRET.to_owned()];
    let mut errors = Vec::new();
    let private_key = key.private_key_pem();
    let certificate =
        CertificateCredential::from_pem(key.certificate_pem(), &Secret::new(private_key.clone()))
            .unwrap();
    for credential in [
        Credential::ClientSecret(Secret::new(SECRET)),
        Credential::Certificate(certificate),
        Credential::Assertion(assertions.clone()),
    ] {
        tracing::callsite::rebuild_interest_cache();
        let client = client(&emulator, credential.clone());
        assert!(!format!("{credential:?}").contains(SECRET));
        let identity = client
            .ensure_workload_identity(&workload("secret"), deadline())
            .await
            .unwrap();
        secrets.push(
            client
                .access_token(deadline())
                .await
                .unwrap()
                .expose()
                .to_owned(),
        );
        errors.push(format!("{:?}", client));
        errors.push(format!("{identity:?}"));
    }
    secrets.extend(assertions.issued.lock().unwrap().iter().cloned());
    // The PEM body lines of the key.
    secrets.extend(
        private_key
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_owned),
    );

    // Failures too: a wrong secret, a forbidden call, a throttled one.
    let wrong = client(
        &emulator,
        Credential::ClientSecret(Secret::new("wrong-secret-0123456789")),
    );
    secrets.push("wrong-secret-0123456789".to_owned());
    let error = wrong.access_token(deadline()).await.unwrap_err();
    errors.push(format!("{error} {error:?}"));
    let right = secret_client(&emulator);
    let mut spec = workload("secret2");
    spec.require_app_role_assignment = true;
    let error = right
        .ensure_workload_identity(&spec, deadline())
        .await
        .unwrap_err();
    errors.push(format!("{error} {error:?}"));

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("signed in to Entra ID"),
        "logs were captured:\n{logs}"
    );
    assert!(logs.contains("retrying"), "retries were logged:\n{logs}");
    for secret in &secrets {
        assert!(secret.len() >= 16, "a real secret: {secret}");
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
        for text in &errors {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into an error: {text}"
            );
        }
    }
}

// --- the operations, in the order the lifecycle core runs them ----------------------------

/// The Entra side of one generation, as converged by [`Steps::ensure_workload_identity`].
#[derive(Debug)]
pub(crate) struct WorkloadIdentity {
    pub(crate) application: Application,
    pub(crate) service_principal: ServicePrincipal,
    pub(crate) trusted_clients: Vec<TrustedClient>,
    pub(crate) created: bool,
    pub(crate) federated_credentials: Changes,
    pub(crate) app_role_assignments: Changes,
}

impl WorkloadIdentity {
    /// The service principal ids allowed as `sub`: the app's own, then the trusted clients'.
    fn subjects(&self) -> Vec<String> {
        std::iter::once(self.service_principal.id.clone())
            .chain(
                self.trusted_clients
                    .iter()
                    .map(|t| t.service_principal_id.clone()),
            )
            .collect()
    }
}

/// What [`Steps::delete_application`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Deletion {
    Deleted {
        application_id: String,
        service_principal_purged: bool,
    },
    AlreadyGone,
    NotOurs,
}

/// The Graph operations in the order the core (`handler/src/core`) runs them, without
/// the AWS side between them: these tests are about each operation against Graph.
pub(crate) trait Steps {
    async fn ensure_workload_identity(
        &self,
        spec: &WorkloadSpec,
        deadline: Deadline,
    ) -> Result<WorkloadIdentity, GraphError>;

    async fn delete_application(
        &self,
        unique_name: &UniqueName,
        owner: &AppOwner,
        deadline: Deadline,
    ) -> Result<Deletion, GraphError>;
}

impl Steps for GraphClient {
    async fn ensure_workload_identity(
        &self,
        spec: &WorkloadSpec,
        deadline: Deadline,
    ) -> Result<WorkloadIdentity, GraphError> {
        let trusted_clients = self
            .resolve_trusted_clients(&spec.trusted_client_app_ids, deadline)
            .await?;
        let upserted = self.upsert_application(&spec.application, deadline).await?;
        let (service_principal, federated_credentials) =
            self.register_application(&upserted, spec, deadline).await?;
        let principals: Vec<String> = std::iter::once(service_principal.id.clone())
            .chain(
                trusted_clients
                    .iter()
                    .map(|t| t.service_principal_id.clone()),
            )
            .collect();
        let app_role_assignments = self
            .converge_app_role_assignments(
                &upserted.application,
                &service_principal,
                &principals,
                spec.require_app_role_assignment,
                deadline,
            )
            .await?;
        let mut application = upserted.application.clone();
        application.identifier_uris = vec![application.identifier_uri()];
        Ok(WorkloadIdentity {
            application,
            service_principal,
            trusted_clients,
            created: upserted.created,
            federated_credentials,
            app_role_assignments,
        })
    }

    async fn delete_application(
        &self,
        unique_name: &UniqueName,
        owner: &AppOwner,
        deadline: Deadline,
    ) -> Result<Deletion, GraphError> {
        let (found, service_principals) = tokio::join!(
            self.find_application(unique_name, owner, deadline),
            self.find_service_principals(owner, deadline),
        );
        let (app, just_deleted) = match self
            .locate_application(unique_name, owner, found, deadline)
            .await?
        {
            Located::Live(app) => {
                if !self
                    .soft_delete_application(unique_name, &app, deadline)
                    .await?
                {
                    return Ok(Deletion::NotOurs);
                }
                (app, true)
            }
            Located::Deleted(app) => (app, false),
            Located::Gone => return Ok(Deletion::AlreadyGone),
            Located::NotOurs => return Ok(Deletion::NotOurs),
        };
        let known = service_principals?
            .into_iter()
            .find(|sp| sp.app_id == app.app_id)
            .map(|sp| sp.id);
        let service_principal_purged = self
            .purge_service_principal(
                unique_name,
                &app.app_id,
                known.as_deref(),
                just_deleted,
                deadline,
            )
            .await?;
        self.purge_application(unique_name, &app, just_deleted, deadline)
            .await?;
        Ok(Deletion::Deleted {
            application_id: app.id,
            service_principal_purged,
        })
    }
}

#[tokio::test]
async fn a_secret_removed_whose_answer_was_lost_is_removed() {
    let emulator = emulator().await;
    let client = secret_client(&emulator);
    let created = client
        .upsert_application(&app_spec("secret"), deadline())
        .await
        .unwrap();
    let app = created.application;
    let password = emulator.add_password(&app.app_id, "added by hand");
    let kept = emulator.add_password(&app.app_id, "another");
    // The removal lands, its answer is lost; the retry finds nothing to remove.
    emulator.inject(FaultRule::answer_lost(1).only(Some("POST"), None));
    client
        .remove_password(&app.id, &password.key_id, deadline())
        .await
        .unwrap();
    let snapshot = emulator.snapshot();
    let secrets: Vec<&str> = snapshot
        .application(app.unique_name.as_deref().unwrap())
        .unwrap()
        .password_credentials
        .iter()
        .map(|p| p.key_id.as_str())
        .collect();
    assert_eq!(secrets, [kept.key_id.as_str()]);
    // One not there is gone already.
    client
        .remove_password(&app.id, "00000000-0000-4000-8000-000000000000", deadline())
        .await
        .unwrap();
    // One still there when every removal fails is a failure.
    emulator.inject(FaultRule::server_error(100, 503).only(Some("POST"), None));
    let refused = client
        .remove_password(&app.id, &kept.key_id, deadline())
        .await;
    assert!(refused.is_err(), "{refused:?}");
    emulator.clear_faults();
}
