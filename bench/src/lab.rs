//! The organisation every benchmark runs in, on local stand-ins: moto (IAM, STS, Secrets
//! Manager, CloudFormation) with a hub account running the factory and member accounts
//! holding the member role, the Graph emulator as Entra ID, the Lambda Runtime API the
//! `bootstrap` processes poll, and CloudFormation's response bucket.
//!
//! The factory reaches moto, Graph and the response bucket only through counting proxies
//! ([`CrashPoints`]), so every remote call it makes is recorded (name, exact request,
//! status, timing) and a fixed latency can be put on each: [`Lab::set_latency`].
//!
//! The factory is configured as in production — hub mode through `MEMBER_ROLE_NAME`,
//! its client secret in Secrets Manager, `VERIFY_CALLER_STACK` on (each resource has a
//! real moto stack still `CREATE_IN_PROGRESS` holding it) and the AWS SDK's default
//! retries — except that every endpoint is local.

use std::{
    collections::HashMap,
    error::Error,
    path::Path,
    time::{Duration, Instant},
};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use entra_federated_role_harness::{
    crash_proxy::{
        CrashPoints, ForwardedCall, Proxy, ProxyOptions, aws_call_name, aws_writes,
        graph_call_name, graph_writes, response_call_name, response_writes,
    },
    factory::{StandIns, assume, moto_sdk, set_env, store_client_secret},
    moto::Moto,
    process::Bootstrap,
    response_endpoint::ResponseEndpoint,
    runtime_api::{Outcome, RuntimeApi},
    stacks::{self, Stack},
};
use futures::{StreamExt, TryStreamExt};
use graph_emulator::{GraphEmulator, Options};
use serde_json::{Value, json};

/// Errors of the benchmarks: set-up failures and broken expectations alike.
pub type BenchError = Box<dyn Error + Send + Sync>;
/// A benchmark result.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// The region of every account.
pub use entra_federated_role_harness::factory::REGION;
/// The hub ("federation factory") account.
pub const HUB: &str = "100000000001";
/// The factory Lambda's execution role in the hub.
pub const FACTORY_ROLE: &str = "entra-federated-role-factory";
/// The role the member StackSet deploys in every member account for the factory.
pub const MEMBER_ROLE: &str = "EntraFederatedRoleMember";
/// The resource type of every event.
pub const RESOURCE_TYPE: &str = "Custom::EntraFederatedRole";
/// A customer-managed policy in every member account that the roles attach.
pub const MANAGED_POLICY: &str = "bench-read";
/// moto's default account key: its credentials assume roles in every other account.
const ROOT_KEY: &str = "AKIAEXAMPLEROOT00001";
/// What an organisation's management account assumes in its members.
const ORG_ROLE: &str = "OrganizationAccountAccessRole";
/// The role of the stand-in Lambda function each member's stacks name as ServiceToken.
const STACK_FUNCTION_ROLE: &str = "bench-stack-function";
/// The factory's Entra client secret (the emulator's, not a real one).
pub const CLIENT_SECRET: &str = "bench-factory-secret~not-a-real-one";
/// How many set-up calls run at once against moto.
const SETUP_CONCURRENCY: usize = 16;

/// The id of member account `index` (0-based).
pub fn member_account(index: usize) -> String {
    format!("{:012}", 200_000_000_000u64 + index as u64)
}

/// The hub Lambda's ARN: the `ServiceToken` and the invoked function ARN.
pub fn service_token() -> String {
    format!("arn:aws:lambda:{REGION}:{HUB}:function:entra-federated-role")
}

/// What the lab is made of.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Member accounts.
    pub members: usize,
    /// `VERIFY_CALLER_STACK` (the production default is on).
    pub verify_caller_stack: bool,
    /// The Graph emulator's directory quota (objects the factory may own).
    pub directory_quota: usize,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            members: 1,
            verify_caller_stack: true,
            directory_quota: 250,
        }
    }
}

/// A member account.
pub struct Member {
    /// The 12-digit id.
    pub id: String,
    /// Administrator access to it (for set-up and inspection).
    pub sdk: SdkConfig,
    /// The stand-in Lambda function its stacks name as ServiceToken (with verification).
    function_arn: Option<String>,
}

/// One `Custom::EntraFederatedRole` resource of a member stack.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Index of its member account.
    pub member: usize,
    /// The stack's ARN.
    pub stack_id: String,
    /// Its logical id.
    pub logical_id: String,
    /// Its properties.
    pub properties: Value,
    /// The real stack holding it, when the factory verifies callers.
    pub stack: Option<Stack>,
}

/// The running lab. Processes are the caller's ([`Lab::spawn`]).
pub struct Lab {
    /// Entra ID and Microsoft Graph.
    pub graph: GraphEmulator,
    /// The Lambda Runtime API every factory process polls.
    pub runtime: RuntimeApi,
    /// CloudFormation's response bucket.
    pub endpoint: ResponseEndpoint,
    /// Records every call the factory makes through the proxies.
    pub points: CrashPoints,
    /// In front of moto.
    pub aws_proxy: Proxy,
    /// In front of the Graph emulator (token endpoint and Graph).
    pub graph_proxy: Proxy,
    /// In front of the response bucket.
    pub response_proxy: Proxy,
    /// The member accounts.
    pub members: Vec<Member>,
    /// Whether resources get real stacks and the factory verifies them.
    pub verify_caller_stack: bool,
    env: Vec<(String, String)>,
    // Last: stopped after everything that talks to it.
    moto: Moto,
}

impl Lab {
    /// Starts every stand-in and sets the organisation and the tenant up.
    pub async fn start(options: &LabOptions) -> Result<Self> {
        let moto = Moto::try_start_with_env(&[]).await?;
        if options.verify_caller_stack {
            let answer = moto
                .post_json(
                    "/moto-api/config",
                    &json!({"lambda": {"use_docker": false}}),
                )
                .await?;
            if answer.status >= 300 {
                return Err(format!("moto config answered {}", answer.status).into());
            }
        }
        let endpoint_url = moto.endpoint().to_owned();
        let root = moto_sdk(
            &endpoint_url,
            Credentials::new(ROOT_KEY, "secret", None, None, "bench"),
        )
        .await;

        let hub_admin = moto_sdk(&endpoint_url, assume(&root, HUB, ORG_ROLE, "bench").await?).await;
        create_role(
            &hub_admin,
            FACTORY_ROLE,
            &json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
            }),
        )
        .await?;
        let factory = assume(&root, HUB, FACTORY_ROLE, "bench").await?;
        let secret_arn = store_client_secret(
            &hub_admin,
            "entra-federated-role/factory-credentials",
            CLIENT_SECRET,
        )
        .await?;

        let verify = options.verify_caller_stack;
        let mut members: Vec<(usize, Member)> = futures::stream::iter(0..options.members)
            .map(|index| {
                let (root, endpoint_url) = (&root, &endpoint_url);
                async move {
                    let member = set_up_member(root, endpoint_url, index, verify).await?;
                    Ok::<_, BenchError>((index, member))
                }
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect()
            .await?;
        members.sort_by_key(|(index, _)| *index);
        let members = members.into_iter().map(|(_, member)| member).collect();

        let graph = GraphEmulator::start_with(Options {
            directory_quota: options.directory_quota,
            ..Options::default()
        })
        .await?;
        graph.set_client_secret(CLIENT_SECRET);
        let runtime = RuntimeApi::try_start().await?;
        runtime.set_function_arn(service_token());
        let endpoint = ResponseEndpoint::try_start().await?;

        let points = CrashPoints::new();
        let aws_proxy = points
            .proxy_with(&endpoint_url, aws_writes, named(aws_call_name))
            .await;
        let graph_proxy = points
            .proxy_with(graph.url(), graph_writes, named(graph_call_name))
            .await;
        let response_proxy = points
            .proxy_with(
                &format!("http://{}", endpoint.host()),
                response_writes,
                named(response_call_name),
            )
            .await;

        let mut env = StandIns {
            graph: &graph,
            entra_url: graph_proxy.url(),
            aws_endpoint: aws_proxy.url(),
            response_host: response_proxy.host(),
            secret_arn: Some(&secret_arn),
            credentials: &factory,
        }
        .environment();
        // The production configuration: hub mode and the caller check as configured (the
        // binary turns the SDK's own retries off itself).
        set_env(
            &mut env,
            &[
                ("MEMBER_ROLE_NAME", MEMBER_ROLE),
                ("ROLE_EVENTS", "true"),
                ("VERIFY_CALLER_STACK", &verify.to_string()),
            ],
        );

        Ok(Self {
            graph,
            runtime,
            endpoint,
            points,
            aws_proxy,
            graph_proxy,
            response_proxy,
            members,
            verify_caller_stack: verify,
            env,
            moto,
        })
    }

    /// moto's own endpoint (not through the proxy).
    pub fn moto_endpoint(&self) -> &str {
        self.moto.endpoint()
    }

    /// The factory's environment (beyond what Lambda sets).
    pub fn factory_environment(&self) -> &[(String, String)] {
        &self.env
    }

    /// Starts a factory process on `binary`, polling the lab's runtime API.
    pub fn spawn(&self, binary: &Path) -> Result<Bootstrap> {
        self.spawn_with(binary, &[])
    }

    /// [`Lab::spawn`] with some variables of the factory's environment replaced.
    pub fn spawn_with(&self, binary: &Path, overrides: &[(&str, &str)]) -> Result<Bootstrap> {
        let mut env = self.env.clone();
        set_env(&mut env, overrides);
        Ok(Bootstrap::try_spawn(binary, &self.runtime.addr(), &env)?)
    }

    /// Puts `latency` on every call to moto, Graph (and its token endpoint) and the
    /// response bucket.
    pub fn set_latency(&self, latency: Duration) {
        self.aws_proxy.set_latency(latency);
        self.response_proxy.set_latency(latency);
        self.graph.configure(|settings| settings.latency = latency);
    }

    /// A resource `logical_id` in a new stack `stack_name` of member `member`: a real
    /// stack waiting for it (`CREATE_IN_PROGRESS`) when the factory verifies callers.
    pub async fn resource(
        &self,
        member: usize,
        stack_name: &str,
        logical_id: &str,
        properties: Value,
    ) -> Result<Resource> {
        let account = &self.members[member];
        let stack = match &account.function_arn {
            Some(function) => Some(
                Stack::create(
                    &account.sdk,
                    self.moto.endpoint(),
                    stack_name,
                    &Stack::template(function, &[logical_id]),
                )
                .await?,
            ),
            None => None,
        };
        let stack_id = match &stack {
            Some(stack) => stack.id.clone(),
            None => format!(
                "arn:aws:cloudformation:{REGION}:{}:stack/{stack_name}/{:08x}-86e3-11ef-a6a3-0affd3b5c7a1",
                account.id,
                fastrand::u32(..)
            ),
        };
        Ok(Resource {
            member,
            stack_id,
            logical_id: logical_id.to_owned(),
            properties,
            stack,
        })
    }

    /// Many resources at once (`specs`: member, stack name, logical id, properties).
    pub async fn resources(
        &self,
        specs: Vec<(usize, String, String, Value)>,
    ) -> Result<Vec<Resource>> {
        futures::stream::iter(specs)
            .map(|(member, stack, logical, properties)| async move {
                self.resource(member, &stack, &logical, properties).await
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// A Create of `resource`, and its request id.
    pub fn create_event(&self, resource: &Resource) -> (Value, String) {
        self.event("Create", resource, None, None)
    }

    /// An Update of `resource` (now `resource.properties`) from `old`, with the stack's
    /// `UPDATE_IN_PROGRESS` event recorded first, as CloudFormation does.
    pub async fn update_event(
        &self,
        resource: &Resource,
        physical_id: &str,
        old: &Value,
    ) -> Result<(Value, String)> {
        if let Some(stack) = &resource.stack {
            stack
                .record(&resource.logical_id, "UPDATE_IN_PROGRESS", physical_id)
                .await?;
        }
        Ok(self.event("Update", resource, Some(physical_id), Some(old)))
    }

    /// A Delete of `resource`, with the stack's `DELETE_IN_PROGRESS` event recorded
    /// first, as CloudFormation does.
    pub async fn delete_event(
        &self,
        resource: &Resource,
        physical_id: &str,
    ) -> Result<(Value, String)> {
        if let Some(stack) = &resource.stack {
            stack
                .record(&resource.logical_id, "DELETE_IN_PROGRESS", physical_id)
                .await?;
        }
        Ok(self.event("Delete", resource, Some(physical_id), None))
    }

    fn event(
        &self,
        kind: &str,
        resource: &Resource,
        physical_id: Option<&str>,
        old: Option<&Value>,
    ) -> (Value, String) {
        let request_id = uuid_like();
        let url = self.endpoint.url(&format!("r/{request_id}")).replacen(
            &self.endpoint.host(),
            self.response_proxy.host(),
            1,
        );
        let mut event = json!({
            "RequestType": kind,
            "ServiceToken": service_token(),
            "ResponseURL": url,
            "StackId": resource.stack_id,
            "RequestId": request_id,
            "ResourceType": RESOURCE_TYPE,
            "LogicalResourceId": resource.logical_id,
            "ResourceProperties": resource.properties,
        });
        if let Some(id) = physical_id {
            event["PhysicalResourceId"] = json!(id);
        }
        if let Some(old) = old {
            event["OldResourceProperties"] = old.clone();
        }
        (event, request_id)
    }

    /// Invokes the factory with `event` and waits up to `budget` (also the Lambda
    /// deadline) for the invocation to end; returns how long it took.
    pub async fn invoke(&self, event: &Value, budget: Duration) -> Result<Duration> {
        self.invoke_answer(event, budget)
            .await
            .map(|(_, took)| took)
    }

    /// Invokes the factory with `event` like [`Lab::invoke`]; what the function returned
    /// (JSON, or null), and how long it took.
    pub async fn invoke_answer(
        &self,
        event: &Value,
        budget: Duration,
    ) -> Result<(Value, Duration)> {
        let started = Instant::now();
        let id = self.runtime.invoke(event, budget);
        let outcome = self
            .runtime
            .outcome(&id, budget + Duration::from_secs(5))
            .await;
        let elapsed = started.elapsed();
        match outcome {
            Some(Outcome::Response(body)) => Ok((
                serde_json::from_slice(&body).unwrap_or(Value::Null),
                elapsed,
            )),
            Some(other) => Err(format!("the invocation failed: {other:?}").into()),
            None => Err(format!("no answer to the invocation within {budget:?}").into()),
        }
    }

    /// Invokes the factory with `event` (request id `request_id`) and returns what it
    /// answered CloudFormation, with the invocation's duration.
    pub async fn send(&self, event: &Value, request_id: &str) -> Result<(Value, Duration)> {
        let took = self.invoke(event, Duration::from_secs(120)).await?;
        let mut answers = self.responses();
        match answers.remove(request_id) {
            Some((body, 1)) => Ok((body, took)),
            Some((_, n)) => Err(format!("{n} answers to one event").into()),
            None => Err("no answer to CloudFormation".into()),
        }
    }

    /// Every answer CloudFormation got, by request id, with how many times it came.
    pub fn responses(&self) -> HashMap<String, (Value, usize)> {
        let mut answers: HashMap<String, (Value, usize)> = HashMap::new();
        for request in self.endpoint.requests() {
            let Some(id) = request.path.strip_prefix("/r/") else {
                continue;
            };
            let body = request.json().unwrap_or(Value::Null);
            let entry = answers.entry(id.to_owned()).or_insert((body, 0));
            entry.1 += 1;
        }
        answers
    }

    /// The calls recorded since the last [`Lab::reset_calls`].
    pub fn calls(&self) -> Vec<ForwardedCall> {
        self.points.calls()
    }

    /// Forgets the recorded calls.
    pub fn reset_calls(&self) {
        self.points.disarm();
    }

    /// What the factory made in member `member`: roles (the plumbing left out) and OIDC
    /// providers with their audiences.
    pub async fn account_state(&self, member: usize) -> Result<AccountState> {
        let iam = aws_sdk_iam::Client::new(&self.members[member].sdk);
        let mut roles = Vec::new();
        let mut marker = None;
        loop {
            let page = iam
                .list_roles()
                .set_marker(marker.take())
                .max_items(1000)
                .send()
                .await?;
            roles.extend(
                page.roles()
                    .iter()
                    .map(|role| role.role_name().to_owned())
                    .filter(|name| ![MEMBER_ROLE, STACK_FUNCTION_ROLE].contains(&name.as_str())),
            );
            match page.marker() {
                Some(next) if page.is_truncated() => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        let mut providers = Vec::new();
        let listed = iam.list_open_id_connect_providers().send().await?;
        for provider in listed.open_id_connect_provider_list() {
            let Some(arn) = provider.arn() else { continue };
            let detail = iam
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .send()
                .await?;
            providers.push((arn.to_owned(), detail.client_id_list().to_vec()));
        }
        Ok(AccountState { roles, providers })
    }
}

/// What the factory made in one account.
#[derive(Debug, Clone, Default)]
pub struct AccountState {
    /// Role names (the plumbing left out).
    pub roles: Vec<String>,
    /// OIDC providers and their audiences (client ids).
    pub providers: Vec<(String, Vec<String>)>,
}

fn named(name: entra_federated_role_harness::crash_proxy::Namer) -> ProxyOptions {
    ProxyOptions {
        latency: Duration::ZERO,
        name: Some(name),
        ..ProxyOptions::default()
    }
}

/// A typical CI role: one GitHub Actions federated credential, a managed and an inline
/// policy, a tag — as a platform team would declare it in member account `account`.
pub fn ci_role_properties(account: &str, repo: &str) -> Value {
    json!({
        "ServiceToken": service_token(),
        "ServiceTimeout": "330",
        "Description": format!("GitHub Actions deploys of contoso/{repo}"),
        "ManagedPolicyArns": [format!("arn:aws:iam::{account}:policy/{MANAGED_POLICY}")],
        "Policies": [{
            "PolicyName": "artifact-read",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": format!("arn:aws:s3:::{repo}-artifacts/*")
                }]
            }
        }],
        "MaxSessionDuration": "3600",
        "Tags": [{"Key": "team", "Value": "platform"}],
        "FederatedCredentials": [{
            "Name": "github-main",
            "Issuer": "https://token.actions.githubusercontent.com",
            "Subject": format!("repo:contoso/{repo}:ref:refs/heads/main")
        }]
    })
}

/// Makes the role `name` by hand in `sdk`'s account (not through the factory), asking
/// with its tags to be federated for the main branch of one GitHub repository.
pub async fn make_asking_role(sdk: &SdkConfig, name: &str) -> Result<()> {
    let tag = |key: &str, value: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
    };
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"
    }]});
    aws_sdk_iam::Client::new(sdk)
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .set_tags(Some(vec![
            tag("entra-federated-role:federate", "true")?,
            tag(
                "entra-federated-role:github:main",
                &format!("repo:contoso/{name}:ref:refs/heads/main"),
            )?,
        ]))
        .send()
        .await?;
    Ok(())
}

async fn create_role(sdk: &SdkConfig, name: &str, trust: &Value) -> Result<String> {
    let created = aws_sdk_iam::Client::new(sdk)
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await?;
    Ok(created
        .role()
        .ok_or("CreateRole returned no role")?
        .arn()
        .to_owned())
}

/// A member account as the member StackSet leaves it: the member role trusting the
/// factory, a managed policy for the roles, and (with verification) a Lambda function
/// standing in for the hub's, which its stacks name as ServiceToken.
async fn set_up_member(
    root: &SdkConfig,
    endpoint: &str,
    index: usize,
    verify: bool,
) -> Result<Member> {
    let id = member_account(index);
    let credentials = assume(root, &id, ORG_ROLE, "bench").await?;
    let sdk = moto_sdk(endpoint, credentials.clone()).await;
    create_role(
        &sdk,
        MEMBER_ROLE,
        &json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{HUB}:role/{FACTORY_ROLE}")},
                "Action": "sts:AssumeRole"
            }]
        }),
    )
    .await?;
    aws_sdk_iam::Client::new(&sdk)
        .create_policy()
        .policy_name(MANAGED_POLICY)
        .policy_document(
            json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]
            })
            .to_string(),
        )
        .send()
        .await?;
    let function_arn = if verify {
        Some(
            stacks::service_token_function(
                &sdk,
                endpoint,
                credentials.access_key_id(),
                STACK_FUNCTION_ROLE,
            )
            .await?,
        )
    } else {
        None
    };
    Ok(Member {
        id,
        sdk,
        function_arn,
    })
}

/// A random request id shaped like CloudFormation's (a UUID).
pub fn uuid_like() -> String {
    let hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
            .collect()
    };
    format!("{}-{}-4{}-a{}-{}", hex(8), hex(4), hex(3), hex(3), hex(12))
}
