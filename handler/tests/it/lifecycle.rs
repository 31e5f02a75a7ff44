//! The whole resource through the real `bootstrap`: Create, Update and Delete against
//! moto (IAM, STS, Secrets Manager, CloudFormation) and the Graph emulator, checking both
//! clouds after every step. Each test works in accounts of its own and its own emulator.

use std::{path::Path, time::Duration};

use aws_config::SdkConfig;
use entra_federated_role_harness::{
    crash_proxy::{CrashPoints, Proxy, aws_writes},
    factory::{StandIns, set_env, store_client_secret},
    moto,
    process::Bootstrap,
    response_endpoint::ResponseEndpoint,
    runtime_api::{Outcome, RuntimeApi},
};
use graph_emulator::GraphEmulator;
use serde_json::{Value, json};

use crate::{
    events,
    moto_support::{
        DEFAULT_ACCOUNT, account_config, account_credentials, config, fresh_account, moto_stack,
        random_account, root_credentials,
    },
};

pub(crate) const SECRET: &str = "factory-client-secret-9Qx~value";
const WAIT: Duration = Duration::from_secs(60);

/// The real binary under the local Lambda Runtime API, answering to a local response
/// endpoint, pointed at whatever clouds `env` names.
pub(crate) struct Driver {
    pub(crate) runtime: RuntimeApi,
    pub(crate) endpoint: ResponseEndpoint,
    pub(crate) process: Bootstrap,
    env: Vec<(String, String)>,
    /// The host events name in their `ResponseURL` instead of the endpoint's (a proxy).
    response_host: Option<String>,
}

impl Driver {
    /// Starts the binary as the function `function_arn` with the environment (beyond
    /// Lambda's own) that `env` makes for the response endpoint's host.
    pub(crate) async fn start(
        function_arn: String,
        env: impl FnOnce(&str) -> Vec<(String, String)>,
    ) -> Self {
        let runtime = RuntimeApi::start().await;
        runtime.set_function_arn(function_arn);
        let endpoint = ResponseEndpoint::start().await;
        let env = env(&endpoint.host());
        let process = Bootstrap::spawn(
            Path::new(env!("CARGO_BIN_EXE_bootstrap")),
            &runtime.addr(),
            &env,
        );
        Self {
            runtime,
            endpoint,
            process,
            env,
            response_host: None,
        }
    }

    /// Has every later event send its response through `host` (a proxy in front of the
    /// response endpoint), and the binary accept it.
    pub(crate) async fn respond_through(&mut self, host: &str) {
        self.response_host = Some(host.to_owned());
        self.redirect(&[("EXTRA_RESPONSE_URL_HOSTS", host)]).await;
    }

    /// Points the binary elsewhere (`overrides` replace environment entries) and starts
    /// it afresh.
    pub(crate) async fn redirect(&mut self, overrides: &[(&str, &str)]) {
        set_env(&mut self.env, overrides);
        self.restart().await;
    }

    /// The environment the binary runs with (beyond Lambda's own).
    pub(crate) fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Kills the process (as a crash would) and starts a fresh one, as Lambda does.
    pub(crate) async fn restart(&mut self) {
        self.process.kill().await;
        self.process = Bootstrap::spawn(
            Path::new(env!("CARGO_BIN_EXE_bootstrap")),
            &self.runtime.addr(),
            &self.env,
        );
    }

    /// Sends `event` and returns the body CloudFormation reads.
    pub(crate) async fn send(&self, event: &Value) -> Value {
        let before = self.endpoint.requests().len();
        let id = self.runtime.invoke(event, Duration::from_secs(120));
        let outcome = self.runtime.outcome(&id, WAIT).await;
        assert!(
            matches!(outcome, Some(Outcome::Response(_))),
            "{outcome:?}\nlogs:\n{}",
            self.process.logs()
        );
        let requests = self.endpoint.requests();
        assert_eq!(
            requests.len(),
            before + 1,
            "one answer\nlogs:\n{}",
            self.process.logs()
        );
        requests[before].json().unwrap()
    }

    fn url(&self) -> String {
        let url = self.endpoint.url("response");
        match &self.response_host {
            Some(host) => url.replacen(&self.endpoint.host(), host, 1),
            None => url,
        }
    }

    /// A Create of `properties` for the stack `stack_id`.
    pub(crate) fn create(&self, stack_id: &str, properties: Value) -> Value {
        with_stack(events::create(&self.url(), properties), stack_id)
    }

    pub(crate) fn update(
        &self,
        stack_id: &str,
        physical_id: &str,
        old: Value,
        new: Value,
    ) -> Value {
        with_stack(events::update(&self.url(), physical_id, old, new), stack_id)
    }

    pub(crate) fn delete(&self, stack_id: &str, physical_id: &str, properties: Value) -> Value {
        with_stack(
            events::delete(&self.url(), physical_id, properties),
            stack_id,
        )
    }
}

/// The factory: the real binary in `hub`, signing in to the Graph emulator with a client
/// secret it reads from Secrets Manager.
pub(crate) struct Factory {
    driver: Driver,
    pub(crate) graph: GraphEmulator,
    pub(crate) hub_sdk: SdkConfig,
}

impl std::ops::Deref for Factory {
    type Target = Driver;

    fn deref(&self) -> &Driver {
        &self.driver
    }
}

impl std::ops::DerefMut for Factory {
    fn deref_mut(&mut self) -> &mut Driver {
        &mut self.driver
    }
}

impl Factory {
    pub(crate) async fn start(hub: &str, extra: &[(&str, &str)]) -> Self {
        let hub_sdk = account_config(hub).await;
        let credentials = account_credentials(hub).await;
        let graph = own_tenant().await;
        let name = format!("entra-factory-{}", fastrand::u32(..));
        let secret_arn = store_client_secret(&hub_sdk, &name, SECRET).await.unwrap();
        let driver = Driver::start(
            format!("arn:aws:lambda:us-east-1:{hub}:function:entra-federated-role"),
            |response_host| {
                let mut env = StandIns {
                    graph: &graph,
                    entra_url: graph.url(),
                    aws_endpoint: moto::shared(),
                    response_host,
                    secret_arn: Some(&secret_arn),
                    credentials: &credentials,
                }
                .environment();
                set_env(&mut env, extra);
                env
            },
        )
        .await;
        Self {
            driver,
            graph,
            hub_sdk,
        }
    }

    /// Our applications (by their generation uniqueName) and any deleted items of them.
    pub(crate) fn entra_objects(&self) -> (Vec<String>, usize) {
        let snapshot = self.graph.snapshot();
        let apps = snapshot
            .applications
            .iter()
            .filter_map(|a| a.unique_name.clone())
            .filter(|name| name.starts_with("efr-"))
            .collect();
        (apps, snapshot.deleted_items.len())
    }
}

/// A Graph emulator with a tenant of its own (so its issuer and signing keys are this
/// test's alone), where the factory signs in with [`SECRET`].
pub(crate) async fn own_tenant() -> GraphEmulator {
    let graph = GraphEmulator::start_with(graph_emulator::Options {
        tenant_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    })
    .await
    .unwrap();
    graph.set_client_secret(SECRET);
    graph
}

fn with_stack(mut event: Value, stack_id: &str) -> Value {
    event["StackId"] = json!(stack_id);
    event
}

pub(crate) fn stack_in(account: &str) -> String {
    format!(
        "arn:aws:cloudformation:us-east-1:{account}:stack/ci-roles/{:08x}-86e3-11ef-a6a3-0affd3b5c7a1",
        fastrand::u32(..)
    )
}

pub(crate) fn ok(body: &Value) -> &Value {
    assert_eq!(body["Status"], "SUCCESS", "{body:#}");
    &body["Data"]
}

fn reason(body: &Value) -> &str {
    body["Reason"].as_str().unwrap_or_default()
}

/// The role's trust conditions, or `None` when there is no such role.
/// The role's trust policy, decoded; `None` when there is no such role.
pub(crate) async fn trust_document(sdk: &SdkConfig, role_name: &str) -> Option<Value> {
    let role = aws_sdk_iam::Client::new(sdk)
        .get_role()
        .role_name(role_name)
        .send()
        .await
        .ok()?
        .role?;
    let text = percent_encoding::percent_decode_str(role.assume_role_policy_document()?)
        .decode_utf8_lossy()
        .into_owned();
    Some(serde_json::from_str(&text).unwrap())
}

/// The conditions of the role's (first) trust statement.
pub(crate) async fn trust(sdk: &SdkConfig, role_name: &str) -> Option<Value> {
    let policy = trust_document(sdk, role_name).await?;
    Some(policy["Statement"][0]["Condition"]["StringEquals"].clone())
}

pub(crate) async fn audiences(sdk: &SdkConfig, provider_arn: &str) -> Option<Vec<String>> {
    let provider = aws_sdk_iam::Client::new(sdk)
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(provider_arn)
        .send()
        .await
        .ok()?;
    Some(provider.client_id_list().to_vec())
}

pub(crate) async fn role_names(sdk: &SdkConfig) -> Vec<String> {
    aws_sdk_iam::Client::new(sdk)
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name().to_owned())
        .filter(|name| name != "test-admin")
        .collect()
}

pub(crate) fn properties() -> Value {
    json!({
        "ServiceToken": "arn:aws:lambda:us-east-1:111111111111:function:entra-federated-role",
        "Description": "CI deploys",
        "MaxSessionDuration": "7200",
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "Tags": [{"Key": "team", "Value": "platform"}],
        "FederatedCredentials": [{
            "Name": "github-main",
            "Issuer": "https://token.actions.githubusercontent.com",
            "Subject": "repo:contoso/app:ref:refs/heads/main"
        }]
    })
}

#[tokio::test]
async fn create_converge_update_in_place_and_delete_leave_nothing_behind() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    let stack = stack_in(&hub);

    let created = factory.send(&factory.create(&stack, properties())).await;
    let data = ok(&created).clone();
    let role_arn = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert_eq!(data["RoleArn"], role_arn.as_str());
    let app_id = data["ApplicationId"].as_str().unwrap();
    let tenant = factory.graph.tenant_id();
    assert_eq!(data["TenantId"], tenant.as_str());
    assert_eq!(data["Issuer"], format!("https://sts.windows.net/{tenant}/"));
    assert_eq!(data["Audience"], format!("api://{app_id}"));
    assert_eq!(data["TokenScope"], format!("api://{app_id}/.default"));
    assert_eq!(
        data["OidcProviderArn"],
        format!("arn:aws:iam::{hub}:oidc-provider/sts.windows.net/{tenant}/")
    );
    let role_name = data["RoleName"].as_str().unwrap().to_owned();
    let provider = data["OidcProviderArn"].as_str().unwrap().to_owned();
    // The trust is pinned on the audience and on the app's own service principal.
    let conditions = trust(&factory.hub_sdk, &role_name).await.unwrap();
    assert_eq!(
        conditions[format!("sts.windows.net/{tenant}/:aud")],
        format!("api://{app_id}")
    );
    assert_eq!(
        conditions[format!("sts.windows.net/{tenant}/:sub")],
        data["ServicePrincipalId"]
    );
    assert_eq!(
        audiences(&factory.hub_sdk, &provider).await.unwrap(),
        [format!("api://{app_id}")]
    );
    let snapshot = factory.graph.snapshot();
    let app = snapshot
        .applications
        .iter()
        .find(|a| a.app_id == app_id)
        .unwrap();
    assert_eq!(app.identifier_uris, [format!("api://{app_id}")]);
    assert_eq!(app.federated_identity_credentials.len(), 1);
    assert!(snapshot.service_principal(app_id).is_some());

    // Lambda delivers the same event again: same answer, no duplicates.
    let again = factory.send(&factory.create(&stack, properties())).await;
    assert_eq!(ok(&again), &data);
    assert_eq!(factory.entra_objects().0.len(), 1);
    assert_eq!(
        role_names(&factory.hub_sdk).await,
        std::slice::from_ref(&role_name)
    );

    // In place: description, tags, session, credentials and a trusted client change.
    let client = factory
        .graph
        .seed_foreign_application("existing CI app", true);
    let mut changed = properties();
    changed["Description"] = json!("CI deploys and tests");
    changed["Tags"] = json!([{"Key": "team", "Value": "security"}]);
    changed["FederatedCredentials"][0]["Subject"] = json!("repo:contoso/app:environment:prod");
    changed["TrustedClientAppIds"] = json!([client.app_id]);
    let updated = factory
        .send(&factory.update(&stack, &role_arn, properties(), changed.clone()))
        .await;
    assert_eq!(
        updated["PhysicalResourceId"],
        role_arn.as_str(),
        "in place keeps the id"
    );
    assert_eq!(ok(&updated)["ApplicationId"], app_id);
    let conditions = trust(&factory.hub_sdk, &role_name).await.unwrap();
    let mut subs: Vec<String> =
        serde_json::from_value(conditions[format!("sts.windows.net/{tenant}/:sub")].clone())
            .unwrap();
    subs.sort();
    let mut expected = vec![
        data["ServicePrincipalId"].as_str().unwrap().to_owned(),
        client.service_principal_id.clone().unwrap(),
    ];
    expected.sort();
    assert_eq!(subs, expected);
    let snapshot = factory.graph.snapshot();
    let app = snapshot
        .applications
        .iter()
        .find(|a| a.app_id == app_id)
        .unwrap();
    assert_eq!(
        app.federated_identity_credentials[0].subject,
        "repo:contoso/app:environment:prod"
    );

    let deleted = factory
        .send(&factory.delete(&stack, &role_arn, changed))
        .await;
    ok(&deleted);
    assert!(
        trust(&factory.hub_sdk, &role_name).await.is_none(),
        "role deleted"
    );
    assert!(
        audiences(&factory.hub_sdk, &provider).await.is_none(),
        "our provider deleted once unused"
    );
    let (apps, deleted_items) = factory.entra_objects();
    assert!(
        apps.is_empty() && deleted_items == 0,
        "app purged: {apps:?}, {deleted_items} deleted items"
    );
    assert!(
        factory
            .graph
            .snapshot()
            .applications
            .iter()
            .any(|a| a.app_id == client.app_id),
        "the trusted client's app is untouched"
    );
    assert_eq!(
        factory.graph.token_requests(),
        1,
        "one sign-in serves every event of a warm container"
    );
}

#[tokio::test]
async fn a_real_stack_completes_with_its_get_att_outputs_resolved() {
    // moto runs CloudFormation in its default account: the stack waits there for the
    // custom resource's answer, which resolves the outputs.
    let sdk = config(root_credentials()).await;
    let moto_host = moto::shared().trim_start_matches("http://").to_owned();
    let factory = Factory::start(
        DEFAULT_ACCOUNT,
        &[
            ("VERIFY_CALLER_STACK", "true"),
            ("EXTRA_RESPONSE_URL_HOSTS", &moto_host),
        ],
    )
    .await;
    let outputs = json!({
        "RoleArn": {"Value": {"Fn::GetAtt": ["CiRole", "RoleArn"]}},
        "ClientId": {"Value": {"Fn::GetAtt": ["CiRole", "ApplicationId"]}},
        "TokenScope": {"Value": {"Fn::GetAtt": ["CiRole", "TokenScope"]}},
    });
    let stack_id = moto_stack(
        &sdk,
        &format!("ci-roles-{}", fastrand::u32(..)),
        true,
        outputs,
    )
    .await;
    let mut event = factory.create(&stack_id, properties());
    event["ResponseURL"] = json!(format!(
        "{}/cloudformation_us-east-1/cfnresponse?stack={stack_id}",
        moto::shared()
    ));

    let id = factory.runtime.invoke(&event, Duration::from_secs(120));
    assert!(matches!(
        factory.runtime.outcome(&id, WAIT).await,
        Some(Outcome::Response(_))
    ));

    let stack = aws_sdk_cloudformation::Client::new(&sdk)
        .describe_stacks()
        .stack_name(&stack_id)
        .send()
        .await
        .unwrap();
    let stack = &stack.stacks()[0];
    assert_eq!(
        stack.stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE"),
        "logs:\n{}",
        factory.process.logs()
    );
    let output = |key: &str| {
        stack
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        output("RoleArn").starts_with("arn:aws:iam::123456789012:role/"),
        "{:?}",
        stack.outputs()
    );
    // (moto resolves `Ref` of a custom resource to a name of its own, not to our
    // PhysicalResourceId as CloudFormation does, so `Ref` is not checked here.)
    assert_eq!(
        output("TokenScope"),
        format!("api://{}/.default", output("ClientId"))
    );
}

#[tokio::test]
async fn a_replacement_builds_a_new_generation_and_the_old_one_is_deleted_alone() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    let stack = stack_in(&hub);
    let mut old = properties();
    old["RoleName"] = json!("ci-deploy-blue");
    let first = factory.send(&factory.create(&stack, old.clone())).await;
    let old_id = first["PhysicalResourceId"].as_str().unwrap().to_owned();

    // RoleName changes: replacement, a new role and a new app, the old ones untouched.
    let mut new = old.clone();
    new["RoleName"] = json!("ci-deploy-green");
    let replaced = factory
        .send(&factory.update(&stack, &old_id, old.clone(), new.clone()))
        .await;
    let new_id = replaced["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert_ne!(new_id, old_id, "a replacement reports a new physical id");
    assert_ne!(ok(&replaced)["ApplicationId"], ok(&first)["ApplicationId"]);
    assert_eq!(factory.entra_objects().0.len(), 2);
    let mut roles = role_names(&factory.hub_sdk).await;
    roles.sort();
    assert_eq!(roles, ["ci-deploy-blue", "ci-deploy-green"]);

    // CloudFormation then deletes the old generation, with the old properties.
    ok(&factory
        .send(&factory.delete(&stack, &old_id, old.clone()))
        .await);
    assert_eq!(role_names(&factory.hub_sdk).await, ["ci-deploy-green"]);
    assert_eq!(factory.entra_objects().0.len(), 1);
    let provider = ok(&replaced)["OidcProviderArn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        audiences(&factory.hub_sdk, &provider).await.unwrap(),
        [ok(&replaced)["Audience"].as_str().unwrap()],
        "only the old generation's audience left"
    );

    // A rollback Update (back to the old properties, in place for the new id) converges.
    let mut rolled = new.clone();
    rolled["Description"] = json!("rolled back");
    ok(&factory
        .send(&factory.update(&stack, &new_id, rolled, new.clone()))
        .await);
    ok(&factory.send(&factory.delete(&stack, &new_id, new)).await);
    assert!(role_names(&factory.hub_sdk).await.is_empty());
    assert!(factory.entra_objects().0.is_empty());
}

/// Every property that makes an object: inline policy, boundary, trusted client, app-role
/// assignment and two federated credentials beside `properties()`'s.
async fn full_properties(factory: &Factory) -> Value {
    let boundary = aws_sdk_iam::Client::new(&factory.hub_sdk)
        .create_policy()
        .policy_name(format!("boundary-{}", fastrand::u32(..)))
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    let client = factory.graph.seed_foreign_application("deploy-bot", true);
    let mut full = properties();
    full["PermissionsBoundary"] = json!(boundary);
    full["Policies"] = json!([{
        "PolicyName": "artifacts",
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    }]);
    full["TrustedClientAppIds"] = json!([client.app_id]);
    full["RequireAppRoleAssignment"] = json!("true");
    full["FederatedCredentials"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "Name": "github-release",
            "Issuer": "https://token.actions.githubusercontent.com",
            "Subject": "repo:contoso/app:environment:release"
        }));
    full
}

/// What a generation leaves in both clouds: role names, our applications, deleted items,
/// and the provider's audiences.
async fn both_clouds(
    factory: &Factory,
    provider: &str,
) -> (Vec<String>, Vec<String>, usize, Vec<String>) {
    let mut roles = role_names(&factory.hub_sdk).await;
    roles.sort();
    let (mut apps, deleted) = factory.entra_objects();
    apps.sort();
    let audiences = audiences(&factory.hub_sdk, provider)
        .await
        .unwrap_or_default();
    (roles, apps, deleted, audiences)
}

#[tokio::test]
async fn a_failed_replacement_is_removed_by_cloudformations_rollback() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    factory
        .graph
        .configure(|s| s.app_role_assignment_permission = true);
    let stack = stack_in(&hub);
    let mut blue = full_properties(&factory).await;
    blue["RoleName"] = json!("ci-blue");
    let created = factory.send(&factory.create(&stack, blue.clone())).await;
    let blue_id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    let provider = ok(&created)["OidcProviderArn"].as_str().unwrap().to_owned();
    let before = both_clouds(&factory, &provider).await;

    // The replacement fails after writing: Graph refuses the new service principal (the
    // factory's object quota is reached once the new application is made).
    let used = factory.graph.snapshot().objects_created_by_factory();
    factory.graph.configure(|s| s.directory_quota = used + 1);
    let mut green = blue.clone();
    green["RoleName"] = json!("ci-green");
    let failed = factory
        .send(&factory.update(&stack, &blue_id, blue.clone(), green.clone()))
        .await;
    assert_eq!(failed["Status"], "FAILED", "{failed:#}");
    assert_eq!(failed["PhysicalResourceId"], blue_id.as_str());
    assert_eq!(
        factory.entra_objects().0.len(),
        2,
        "the new generation's application was made before the failure"
    );

    // CloudFormation rolls back: an Update to the old properties for the old physical id.
    // It never deletes the new generation, which got no physical id: the rollback does.
    factory.graph.configure(|s| s.directory_quota = 250);
    let rolled_back = factory
        .send(&factory.update(&stack, &blue_id, green, blue.clone()))
        .await;
    assert_eq!(ok(&rolled_back)["RoleArn"], blue_id.as_str());
    assert_eq!(rolled_back["PhysicalResourceId"], blue_id.as_str());
    assert_eq!(both_clouds(&factory, &provider).await, before);

    ok(&factory.send(&factory.delete(&stack, &blue_id, blue)).await);
    assert_eq!(
        both_clouds(&factory, &provider).await,
        (vec![], vec![], 0, vec![])
    );
}

#[tokio::test]
async fn a_replacement_that_keeps_the_role_name_is_refused_before_any_write() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    let stack = stack_in(&hub);
    let mut fixed = properties();
    fixed["RoleName"] = json!("ci-fixed");
    let created = factory.send(&factory.create(&stack, fixed.clone())).await;
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    let provider = ok(&created)["OidcProviderArn"].as_str().unwrap().to_owned();
    let before = both_clouds(&factory, &provider).await;

    // Old properties that no longer parse (here a TokenVersion no release accepts) name
    // the old generation only through the physical id: the role tells.
    let mut unparseable = fixed.clone();
    unparseable["TokenVersion"] = json!("7");
    let changes = [
        ("RolePath", "/ci/"),
        ("TokenVersion", "2"),
        ("RoleName", "CI-FIXED"),
    ];
    for ((property, value), old) in changes
        .into_iter()
        .flat_map(|change| [(change, fixed.clone()), (change, unparseable.clone())])
    {
        let mut moved = fixed.clone();
        moved[property] = json!(value);
        let graph_calls = factory.graph.calls();
        let refused = factory
            .send(&factory.update(&stack, &id, old, moved.clone()))
            .await;
        assert_eq!(refused["Status"], "FAILED");
        let reason = reason(&refused);
        assert!(
            reason.contains("change RoleName") && reason.contains(property),
            "{reason}"
        );
        assert!(
            !reason.contains("was not made by this resource"),
            "{reason}"
        );
        let after = factory.graph.calls();
        let written: Vec<&String> = after
            .iter()
            .filter(|(call, count)| {
                call.starts_with(['P', 'D']) && graph_calls.get(*call) != Some(*count)
            })
            .map(|(call, _)| call)
            .collect();
        assert!(written.is_empty(), "no Graph write: {written:?}");
        assert_eq!(both_clouds(&factory, &provider).await, before, "{property}");

        // CloudFormation's rollback of the refusal converges what is there.
        ok(&factory
            .send(&factory.update(&stack, &id, moved, fixed.clone()))
            .await);
        assert_eq!(both_clouds(&factory, &provider).await, before, "{property}");
    }
}

/// The role name is taken by a role not ours — in the same case, or in another, as IAM
/// compares role names regardless of case (moto extended to, `tests/moto`): that shows
/// once the application is registered, and the Delete that follows cleans it up.
#[tokio::test]
async fn a_create_failing_after_writes_is_cleaned_up_by_the_delete_that_follows() {
    for foreign in ["ci-taken", "CI-TAKEN"] {
        let (hub, _) = fresh_account().await;
        let factory = Factory::start(&hub, &[]).await;
        let stack = stack_in(&hub);
        crate::caller::foreign_role(&factory.hub_sdk, foreign).await;
        let mut broken = properties();
        broken["RoleName"] = json!("ci-taken");

        let failed = factory.send(&factory.create(&stack, broken.clone())).await;
        assert_eq!(failed["Status"], "FAILED");
        let why = reason(&failed);
        assert!(
            why.contains("ci-taken") && why.contains("regardless of case"),
            "{why}"
        );
        assert_eq!(
            factory.entra_objects().0.len(),
            1,
            "the app was made before the failure"
        );

        let failed_id = failed["PhysicalResourceId"].as_str().unwrap();
        ok(&factory
            .send(&factory.delete(&stack, failed_id, broken))
            .await);
        assert_eq!(factory.entra_objects(), (vec![], 0));
        assert_eq!(
            role_names(&factory.hub_sdk).await,
            [foreign],
            "the role not ours is left"
        );
    }
}

#[tokio::test]
async fn a_trust_over_iams_quota_is_refused_before_anything_is_created() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    let mut crowded = properties();
    // Each trusted client adds a service principal id (about 40 characters) to `sub`.
    let clients: Vec<String> = (0..60)
        .map(|i| format!("{i:08x}-0000-4000-8000-000000000000"))
        .collect();
    crowded["TrustedClientAppIds"] = json!(clients);
    let graph_calls = factory.graph.calls();

    let refused = factory
        .send(&factory.create(&stack_in(&hub), crowded))
        .await;

    assert_eq!(refused["Status"], "FAILED");
    assert!(reason(&refused).contains("2048"), "{}", reason(&refused));
    assert_eq!(factory.graph.calls(), graph_calls, "not even a Graph read");
    assert!(factory.entra_objects().0.is_empty());
    assert!(role_names(&factory.hub_sdk).await.is_empty());
}

#[tokio::test]
async fn a_delete_whose_properties_no_longer_validate_still_removes_its_generation() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    let stack = stack_in(&hub);
    let created = factory.send(&factory.create(&stack, properties())).await;
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    let provider = ok(&created)["OidcProviderArn"].as_str().unwrap().to_owned();
    // A later release of the template, or a hand edit, broke everything but the three
    // properties that name the generation.
    let mut broken = properties();
    broken["MaxSessionDuration"] = json!("12");
    broken["ManagedPolicyArns"] = json!(["not-an-arn"]);
    broken["FederatedCredentials"] = json!("nope");
    broken["NoSuchProperty"] = json!(true);

    ok(&factory.send(&factory.delete(&stack, &id, broken)).await);

    assert_eq!(
        both_clouds(&factory, &provider).await,
        (vec![], vec![], 0, vec![])
    );
}

/// Points the factory's AWS calls at a proxy, whose latency the test then sets.
async fn aws_through_proxy(factory: &mut Factory) -> (CrashPoints, Proxy) {
    let points = CrashPoints::new();
    let aws = points.proxy(moto::shared(), aws_writes).await;
    factory.redirect(&[("AWS_ENDPOINT_URL", aws.url())]).await;
    (points, aws)
}

/// When one of two concurrent branches fails, the answer waits for the other: the policy
/// the new role was getting when Graph refused the service principal is attached by the
/// time CloudFormation reads FAILED, so the Delete it sends next finds all of it.
#[tokio::test]
async fn a_failure_is_answered_only_once_the_writes_still_running_have_landed() {
    let (hub, _) = fresh_account().await;
    let mut factory = Factory::start(&hub, &[]).await;
    let stack = stack_in(&hub);
    // A first resource makes the provider: the failing one only adds its audience.
    let first = factory.send(&factory.create(&stack, properties())).await;
    let (_points, aws) = aws_through_proxy(&mut factory).await;
    let used = factory.graph.snapshot().objects_created_by_factory();
    // The application is the last object the quota allows: the service principal is
    // refused at once. Every AWS call takes a second: the audience is added after one,
    // the role is created after one and gets its policy after two.
    factory.graph.configure(|s| s.directory_quota = used + 1);
    aws.set_latency(Duration::from_secs(1));
    let mut slow = properties();
    slow["RoleName"] = json!("ci-slow");
    let second = stack_in(&hub);

    let failed = factory.send(&factory.create(&second, slow.clone())).await;

    assert_eq!(failed["Status"], "FAILED");
    assert!(reason(&failed).contains("quota"), "{}", reason(&failed));
    aws.set_latency(Duration::ZERO);
    let attached = aws_sdk_iam::Client::new(&factory.hub_sdk)
        .list_attached_role_policies()
        .role_name("ci-slow")
        .send()
        .await
        .expect("the role landed before the answer");
    assert_eq!(
        attached.attached_policies().len(),
        1,
        "its policy landed before the answer"
    );
    factory.graph.configure(|s| s.directory_quota = 250);
    let failed_id = failed["PhysicalResourceId"].as_str().unwrap();
    ok(&factory
        .send(&factory.delete(&second, failed_id, slow))
        .await);
    let first_id = first["PhysicalResourceId"].as_str().unwrap();
    ok(&factory
        .send(&factory.delete(&stack, first_id, properties()))
        .await);
    assert!(role_names(&factory.hub_sdk).await.is_empty());
    assert!(factory.entra_objects().0.is_empty());
}

/// IAM's default quota of 10 managed policies per role (moto extended to enforce it):
/// the Create fails saying what to do, and its Delete leaves nothing.
#[tokio::test]
async fn more_managed_policies_than_iams_quota_fail_the_create_and_its_delete_cleans_up() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    let iam = aws_sdk_iam::Client::new(&factory.hub_sdk);
    let mut arns = Vec::new();
    for i in 0..11 {
        let policy = iam
            .create_policy()
            .policy_name(format!("ci-{i}-{}", fastrand::u32(..)))
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#)
            .send()
            .await
            .unwrap();
        arns.push(policy.policy.unwrap().arn.unwrap());
    }
    let mut crowded = properties();
    crowded["ManagedPolicyArns"] = json!(arns);
    let stack = stack_in(&hub);

    let failed = factory.send(&factory.create(&stack, crowded.clone())).await;

    assert_eq!(failed["Status"], "FAILED");
    let why = reason(&failed);
    assert!(
        why.contains("PoliciesPerRole: 10") && why.contains("fewer ManagedPolicyArns"),
        "{why}"
    );
    let failed_id = failed["PhysicalResourceId"].as_str().unwrap();
    ok(&factory
        .send(&factory.delete(&stack, failed_id, crowded))
        .await);
    assert!(role_names(&factory.hub_sdk).await.is_empty());
    assert_eq!(factory.entra_objects(), (vec![], 0));
}

#[tokio::test]
async fn an_unknown_trusted_client_is_refused_before_any_write() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    let mut broken = properties();
    broken["TrustedClientAppIds"] = json!(["0f0f0f0f-0000-4000-8000-000000000000"]);

    let failed = factory.send(&factory.create(&stack_in(&hub), broken)).await;

    assert_eq!(failed["Status"], "FAILED");
    assert!(
        reason(&failed).contains("0f0f0f0f-0000-4000-8000-000000000000"),
        "{}",
        reason(&failed)
    );
    assert_eq!(factory.entra_objects(), (vec![], 0));
    assert!(role_names(&factory.hub_sdk).await.is_empty());
}

#[tokio::test]
async fn bad_properties_create_nothing_in_either_cloud() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[("VERIFY_CALLER_STACK", "false")]).await;
    let stack = stack_in(&hub);
    let mut bad = properties();
    bad["MaxSessionDuration"] = json!("60");

    let failed = factory.send(&factory.create(&stack, bad.clone())).await;

    assert!(
        reason(&failed).contains("`MaxSessionDuration`"),
        "{}",
        reason(&failed)
    );
    assert!(factory.entra_objects().0.is_empty());
    assert_eq!(
        factory.graph.token_requests(),
        0,
        "refused before even signing in"
    );
    assert!(role_names(&factory.hub_sdk).await.is_empty());
    // Its Delete succeeds without touching anything: the id names nothing.
    let failed_id = failed["PhysicalResourceId"].as_str().unwrap();
    assert!(
        entra_federated_role::cfn::names_nothing(failed_id),
        "{failed_id}"
    );
    ok(&factory.send(&factory.delete(&stack, failed_id, bad)).await);
}

#[tokio::test]
async fn hub_mode_serves_two_member_accounts_and_writes_nothing_in_the_hub() {
    let (hub, _) = fresh_account().await;
    let mut factory =
        Factory::start(&hub, &[("MEMBER_ROLE_NAME", "EntraFederatedRoleMember")]).await;
    let members = [random_account(), random_account()];

    let mut created = Vec::new();
    for member in &members {
        let stack = stack_in(member);
        let body = factory.send(&factory.create(&stack, properties())).await;
        let role_arn = ok(&body)["RoleArn"].as_str().unwrap().to_owned();
        assert!(
            role_arn.starts_with(&format!("arn:aws:iam::{member}:role/")),
            "{role_arn}"
        );
        created.push((stack, body));
    }
    for (member, (_, body)) in members.iter().zip(&created) {
        let sdk = account_config(member).await;
        assert_eq!(role_names(&sdk).await.len(), 1, "one role in {member}");
        assert!(
            audiences(&sdk, ok(body)["OidcProviderArn"].as_str().unwrap())
                .await
                .is_some()
        );
    }
    assert!(
        role_names(&factory.hub_sdk).await.is_empty(),
        "nothing in the hub"
    );
    assert!(
        aws_sdk_iam::Client::new(&factory.hub_sdk)
            .list_open_id_connect_providers()
            .send()
            .await
            .unwrap()
            .open_id_connect_provider_list()
            .is_empty()
    );

    for (stack, body) in &created {
        let id = body["PhysicalResourceId"].as_str().unwrap();
        ok(&factory.send(&factory.delete(stack, id, properties())).await);
    }
    for member in &members {
        assert!(role_names(&account_config(member).await).await.is_empty());
    }
    assert!(factory.entra_objects().0.is_empty());

    // The warm process assumed each member role once: the Deletes reused the sessions.
    factory.process.kill().await;
    let logs = factory.process.logs();
    for member in &members {
        let lines = |message: &str| {
            logs.lines()
                .filter(|l| l.contains(message) && l.contains(member.as_str()))
                .count()
        };
        assert_eq!(lines("assumed the member role"), 1, "{logs}");
        assert_eq!(lines("reusing the cached member-role session"), 1, "{logs}");
    }
}

#[tokio::test]
async fn two_resources_share_the_provider_and_a_foreign_one_is_adopted_untouched() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    // Someone else's provider for the same issuer, with their own audience, exists first.
    let issuer = format!("https://sts.windows.net/{}/", factory.graph.tenant_id());
    let foreign = aws_sdk_iam::Client::new(&factory.hub_sdk)
        .create_open_id_connect_provider()
        .url(&issuer)
        .client_id_list("api://someone-elses-app")
        .send()
        .await
        .unwrap();
    let provider = foreign.open_id_connect_provider_arn().unwrap().to_owned();
    let stack = stack_in(&hub);
    let mut second = factory.create(&stack, properties());
    second["LogicalResourceId"] = json!("DeployRole");

    let a = factory.send(&factory.create(&stack, properties())).await;
    let b = factory.send(&second).await;

    assert_eq!(ok(&a)["OidcProviderArn"], provider.as_str());
    assert_eq!(ok(&b)["OidcProviderArn"], provider.as_str());
    let mut expected = vec![
        "api://someone-elses-app".to_owned(),
        ok(&a)["Audience"].as_str().unwrap().to_owned(),
        ok(&b)["Audience"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    let mut found = audiences(&factory.hub_sdk, &provider).await.unwrap();
    found.sort();
    assert_eq!(found, expected);

    let mut delete_b = factory.delete(
        &stack,
        b["PhysicalResourceId"].as_str().unwrap(),
        properties(),
    );
    delete_b["LogicalResourceId"] = json!("DeployRole");
    ok(&factory.send(&delete_b).await);
    ok(&factory
        .send(&factory.delete(
            &stack,
            a["PhysicalResourceId"].as_str().unwrap(),
            properties(),
        ))
        .await);

    assert_eq!(
        audiences(&factory.hub_sdk, &provider).await.unwrap(),
        ["api://someone-elses-app"],
        "the adopted provider and its audience stay"
    );
    assert!(factory.entra_objects().0.is_empty());
}

#[tokio::test]
async fn throttling_and_replication_lag_are_ridden_out() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    factory
        .graph
        .inject(graph_emulator::FaultRule::throttle(2, Some(1)).only(Some("PATCH"), None));
    factory.graph.inject(
        graph_emulator::FaultRule::throttle(2, None)
            .only(Some("POST"), Some("/v1.0/servicePrincipals")),
    );
    factory
        .graph
        .inject(graph_emulator::FaultRule::server_error(1, 503).only(Some("GET"), None));
    factory.graph.configure(|s| {
        s.service_principal_lag = graph_emulator::Lag {
            attempts: 2,
            duration: Duration::ZERO,
        }
    });

    let body = factory
        .send(&factory.create(&stack_in(&hub), properties()))
        .await;

    ok(&body);
    assert_eq!(factory.entra_objects().0.len(), 1);
}

/// Every kind of Graph write, applied and its answer lost (a 504 after the write landed):
/// the retry meets the write it made itself, and the event still converges.
#[tokio::test]
async fn graph_writes_whose_answers_are_lost_converge_all_the_same() {
    use graph_emulator::FaultRule;
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    factory
        .graph
        .configure(|s| s.app_role_assignment_permission = true);
    let full = full_properties(&factory).await;
    let cases = [
        // Create: the upsert, identifier URI and app roles; the service principal; the
        // federated credentials; the app-role assignments.
        ("PATCH", "/v1.0/applications"),
        ("POST", "/v1.0/servicePrincipals"),
        ("POST", "/v1.0/applications/"),
        ("POST", "/v1.0/servicePrincipals/"),
        // Delete: the soft delete and the purges.
        ("DELETE", "/v1.0/applications/"),
        ("DELETE", "/v1.0/directory/deletedItems/"),
    ];
    for (method, path) in cases {
        let stack = stack_in(&hub);
        let lost = || FaultRule::answer_lost(1).only(Some(method), Some(path));
        if method != "DELETE" {
            factory.graph.inject(lost());
        }
        let created = factory.send(&factory.create(&stack, full.clone())).await;
        let data = ok(&created).clone();
        let snapshot = factory.graph.snapshot();
        let app = snapshot
            .applications
            .iter()
            .find(|a| a.app_id == data["ApplicationId"])
            .unwrap();
        assert_eq!(
            app.federated_identity_credentials.len(),
            2,
            "{method} {path}"
        );
        assert_eq!(app.identifier_uris, [data["Audience"].as_str().unwrap()]);
        assert!(snapshot.service_principal(&app.app_id).is_some());
        assert_eq!(
            snapshot
                .service_principals
                .iter()
                .filter(|s| s.app_id == app.app_id)
                .count(),
            1
        );

        if method == "DELETE" {
            factory.graph.inject(lost());
        }
        let id = created["PhysicalResourceId"].as_str().unwrap();
        ok(&factory
            .send(&factory.delete(&stack, id, full.clone()))
            .await);
        let (apps, deleted) = factory.entra_objects();
        assert!(
            apps.is_empty() && deleted == 0,
            "{method} {path}: {apps:?}, {deleted} deleted"
        );
        assert!(
            role_names(&factory.hub_sdk).await.is_empty(),
            "{method} {path}"
        );
        factory.graph.clear_faults();
    }
}

/// Graph's replication lag (the emulator's, `tests/graph-emulator`): an object just made
/// is not found by its id for a while, a deleted one not among deleted items. Create and
/// Delete wait it out, and the Delete leaves no deleted item to eat the factory's quota.
#[tokio::test]
async fn graph_replication_lag_is_waited_out_and_nothing_is_left_in_deleted_items() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    factory.graph.configure(|s| {
        s.app_role_assignment_permission = true;
        s.replication_lag = Duration::from_millis(1500);
    });
    let full = full_properties(&factory).await;
    let stack = stack_in(&hub);

    let created = factory.send(&factory.create(&stack, full.clone())).await;

    let data = ok(&created);
    let snapshot = factory.graph.snapshot();
    let app = snapshot
        .applications
        .iter()
        .find(|a| a.app_id == data["ApplicationId"])
        .unwrap();
    assert_eq!(app.identifier_uris, [data["Audience"].as_str().unwrap()]);
    assert_eq!(app.federated_identity_credentials.len(), 2);
    assert!(snapshot.service_principal(&app.app_id).is_some());

    let id = created["PhysicalResourceId"].as_str().unwrap();
    ok(&factory.send(&factory.delete(&stack, id, full)).await);
    assert_eq!(factory.entra_objects(), (vec![], 0));
    assert_eq!(factory.graph.snapshot().objects_created_by_factory(), 0);
    assert!(role_names(&factory.hub_sdk).await.is_empty());
}

#[tokio::test]
async fn a_slow_cloud_is_answered_before_the_deadline_and_a_redelivery_converges() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    factory
        .graph
        .configure(|s| s.latency = Duration::from_millis(1500));
    let stack = stack_in(&hub);
    let event = factory.create(&stack, properties());

    // Four seconds of Lambda time, three of them reserved for the answer and one for
    // what is in flight to settle: the work runs out of time, and says so.
    let deadline = std::time::SystemTime::now() + Duration::from_secs(4);
    let id = factory.runtime.invoke(&event, Duration::from_secs(4));
    assert!(matches!(
        factory.runtime.outcome(&id, WAIT).await,
        Some(Outcome::Response(_))
    ));
    let answer = factory.endpoint.requests()[0].clone();
    let body: Value = answer.json().unwrap();
    assert_eq!(body["Status"], "FAILED");
    assert!(reason(&body).contains("deadline"), "{}", reason(&body));
    let margin = deadline
        .duration_since(answer.received_at)
        .expect("answered before the deadline");
    assert!(
        margin >= Duration::from_secs(1),
        "answered only {margin:?} before the deadline"
    );

    // Given time, the same event converges on top of whatever the first run made.
    factory.graph.configure(|s| s.latency = Duration::ZERO);
    ok(&factory.send(&event).await);
    assert_eq!(factory.entra_objects().0.len(), 1);
}

/// The Lambda deadline cuts a Create short after some writes: the FAILED answer names
/// the generation, so the Delete CloudFormation sends next removes what was made.
#[tokio::test]
async fn a_create_cut_short_by_the_deadline_is_removed_by_its_delete() {
    let (hub, _) = fresh_account().await;
    let mut factory = Factory::start(&hub, &[]).await;
    let (_points, aws) = aws_through_proxy(&mut factory).await;
    // A first resource warms the process up: its secret is read, its Graph token held.
    let stack = stack_in(&hub);
    let mut warm = properties();
    warm["RoleName"] = json!("ci-warm");
    let first = factory.send(&factory.create(&stack, warm.clone())).await;
    // Graph answers at once, IAM hangs: the application is made, the role never is.
    aws.set_latency(Duration::from_secs(30));
    let event = factory.create(&stack, properties());
    let id = factory.runtime.invoke(&event, Duration::from_secs(6));
    assert!(matches!(
        factory.runtime.outcome(&id, WAIT).await,
        Some(Outcome::Response(_))
    ));
    let body: Value = factory.endpoint.requests()[1].json().unwrap();
    assert_eq!(body["Status"], "FAILED");
    assert!(reason(&body).contains("deadline"), "{}", reason(&body));
    assert_eq!(
        factory.entra_objects().0.len(),
        2,
        "the application was made before the deadline"
    );

    aws.set_latency(Duration::ZERO);
    let failed_id = body["PhysicalResourceId"].as_str().unwrap();
    ok(&factory
        .send(&factory.delete(&stack, failed_id, properties()))
        .await);
    let first_id = first["PhysicalResourceId"].as_str().unwrap();
    ok(&factory.send(&factory.delete(&stack, first_id, warm)).await);
    assert_eq!(factory.entra_objects(), (vec![], 0));
    assert!(role_names(&factory.hub_sdk).await.is_empty());
}

#[tokio::test]
async fn secrets_and_tokens_never_reach_the_logs() {
    let (hub, _) = fresh_account().await;
    let mut factory = Factory::start(&hub, &[("AWS_LAMBDA_LOG_LEVEL", "TRACE")]).await;
    let stack = stack_in(&hub);
    let created = factory.send(&factory.create(&stack, properties())).await;
    ok(&factory
        .send(&factory.delete(
            &stack,
            created["PhysicalResourceId"].as_str().unwrap(),
            properties(),
        ))
        .await);
    factory.process.kill().await;

    let logs = factory.process.logs();
    assert!(
        logs.contains("the role and its Entra application are in place"),
        "{logs}"
    );
    assert!(!logs.contains(SECRET), "the client secret leaked");
    assert!(
        !logs.to_ascii_lowercase().contains("bearer "),
        "a token leaked"
    );
    assert!(
        !logs.contains(factory.endpoint.signature()),
        "the presigned URL leaked"
    );
    assert!(!logs.contains("SecretString"), "the secret value leaked");
}

#[tokio::test]
async fn a_delete_with_an_id_cloudformation_made_up_cleans_that_generations_partial_work() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[]).await;
    let stack = stack_in(&hub);
    // A Create that wrote (the app) and then failed (its role name is taken by a role not
    // ours) stands for one cancelled mid-way.
    crate::caller::foreign_role(&factory.hub_sdk, "ci-taken").await;
    let mut cancelled = properties();
    cancelled["RoleName"] = json!("ci-taken");
    assert_eq!(
        factory
            .send(&factory.create(&stack, cancelled.clone()))
            .await["Status"],
        "FAILED"
    );
    // Another resource of the same stack, complete, must survive.
    let mut other = factory.create(&stack, properties());
    other["LogicalResourceId"] = json!("OtherRole");
    let other = factory.send(&other).await;
    assert_eq!(factory.entra_objects().0.len(), 2);

    // CloudFormation cancelled the stack: Delete with an id of its own making.
    let made_up = "ci-roles-CiRole-1A2B3C4D5E6F";
    ok(&factory
        .send(&factory.delete(&stack, made_up, cancelled))
        .await);

    assert_eq!(
        factory.entra_objects().0.len(),
        1,
        "only the cancelled generation's app went"
    );
    let mut roles = role_names(&factory.hub_sdk).await;
    roles.sort();
    let mut expected = vec!["ci-taken", ok(&other)["RoleName"].as_str().unwrap()];
    expected.sort_unstable();
    assert_eq!(
        roles, expected,
        "the other resource's role and the one not ours stay"
    );
}
