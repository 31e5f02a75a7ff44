//! The local end-to-end demo: the real `bootstrap` binary as a hub ("federation factory")
//! account's Lambda, serving two member accounts, on embedded stand-ins for everything it
//! talks to — moto (IAM, STS, CloudFormation, Secrets Manager, with the project's
//! extension), the Graph emulator (Entra ID's token endpoint and Microsoft Graph), a Lambda
//! Runtime API and CloudFormation's response bucket.
//!
//! The factory runs as the hub template ships it: secretless (it signs in to Entra with a
//! web identity token from `sts:GetWebIdentityToken`), with the guardrails on and the
//! caller check on, so every request it serves is one CloudFormation is running for a real
//! stack in moto. The demo plays CloudFormation on those stacks (the harness's `stacks`):
//! it records what CloudFormation records before it sends each request and once it has
//! read the answer.
//!
//! Usage: `demo <path to bootstrap>` (see `scripts/demo`). It plays a scripted story of
//! CloudFormation events ([`story`]), one of them forged, prints each answer and the state
//! of both clouds after it, checks both against what CloudFormation believes exists, ends
//! with a "nothing left behind" check, and exits non-zero when anything is not as
//! expected. Every server it starts stops when the demo ends.

use std::{
    error::Error,
    fmt::{Display, Write as _},
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_sts::error::ProvideErrorMetadata;
use entra_federated_role_harness::{
    factory::{
        REGION, StandIns, TOKEN_EXCHANGE_AUDIENCE, assume, moto_sdk, set_env,
        trust_outbound_identity,
    },
    http::{self, split_http_url},
    moto::Moto,
    process::Bootstrap,
    response_endpoint::ResponseEndpoint,
    role_events::{batch_failures, iam_event, sqs_batch},
    runtime_api::{Outcome, RuntimeApi},
    stacks::{self, Stack},
};
use graph_emulator::{
    Application, DeletedObject, GraphEmulator, SeededApplication, ServicePrincipal, Snapshot,
    TestKey,
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

/// The hub ("federation factory") account: it runs the Lambda.
const HUB: &str = "111111111111";
/// The member accounts whose stacks declare the resources.
const MEMBER_A: &str = "222222222222";
const MEMBER_B: &str = "333333333333";
/// The hub Lambda's execution role (what the hub stack deploys).
const FACTORY_ROLE: &str = "entra-federated-role-factory";
/// The role the member StackSet deploys in every member account for the factory.
const MEMBER_ROLE: &str = "EntraFederatedRoleMember";
/// The permissions boundary the member StackSet creates in every member account.
const BOUNDARY_POLICY: &str = "EntraFederatedRoleBoundary";
/// The path every role of the factory's lives under (the hub template's default).
const ROLE_PATH_PREFIX: &str = "/entra-federated/";
/// The factory's guardrails, as the hub template ships them.
const GUARDRAILS: [(&str, &str); 4] = [
    (
        "REQUIRED_PERMISSIONS_BOUNDARY",
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/EntraFederatedRoleBoundary",
    ),
    ("ROLE_PATH_PREFIX", ROLE_PATH_PREFIX),
    (
        "DENIED_MANAGED_POLICY_ARNS",
        "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess,arn:${AWS::Partition}:iam::aws:policy/IAMFullAccess",
    ),
    ("TRUSTED_CLIENTS_OWN_TENANT_ONLY", "true"),
];
/// The name of the factory app's federated credential for the hub's outbound identity.
const OUTBOUND_CREDENTIAL: &str = "aws-hub-outbound-identity";
/// moto's default account, whose credentials assume roles in every other account.
const MOTO_ROOT_KEY: &str = "AKIAEXAMPLEROOT00001";
/// The `Reason` of every request the caller check refuses.
const REFUSED: &str = "the calling stack could not be confirmed, so nothing was changed: CloudFormation is not running this request for this stack and resource";
/// An audience someone added by hand to member B's provider before the factory came.
const LEGACY_AUDIENCE: &str = "api://legacy-reporting";
/// Tags with this prefix mark what the factory made (DESIGN §5, ownership).
const OWNERSHIP_TAG_PREFIX: &str = "entra-federated-role:";
/// The Lambda deadline given to each invocation, and how long to wait for its answer.
const INVOKE_BUDGET: Duration = Duration::from_secs(60);
const ANSWER_WAIT: Duration = Duration::from_secs(45);

/// The workload stacks, one per member account, and their resources.
const WEB_STACK: &str = "web-ci";
const WEB_ROLE_ID: &str = "GitHubDeployRole";
/// The SQS queue of member A's stack, which the forged event names.
const WEB_QUEUE_ID: &str = "ArtifactQueue";
const PAYMENTS_STACK: &str = "payments-ci";
const PAYMENTS_ROLE_ID: &str = "DeployRole";
/// The function (and its role) each member stack's template names as `ServiceToken`, for
/// moto: CloudFormation itself would invoke the hub's function, as the events here say.
const SERVICE_TOKEN_STAND_IN: &str = "service-token-stand-in";
/// The issuer whose tokens the forged event would have a role admit.
const FORGER_ISSUER: &str = "https://idp.forger.example";

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const CFN_READ_ONLY: &str = "arn:aws:iam::aws:policy/AWSCloudFormationReadOnlyAccess";
/// Member B's role, before and after the replacement.
const PAYMENTS_ROLE: &str = "payments-deployer";
const PAYMENTS_ROLE_V2: &str = "payments-deployer-v2";
const WEB_DESCRIPTION_V2: &str = "GitHub Actions deploys of contoso/web (main and production)";
const SIGN_IN_TITLE: &str = "workloads exchange Entra tokens for A's role at STS";
const HAND_MADE_TITLE: &str = "a role made by hand in member account B asks with tags, is federated from its IAM event, and goes with its own";
/// The role the story's team makes by hand (not with CloudFormation).
const HAND_MADE_ROLE: &str = "reports-export";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `Data` attributes in the order the README lists them.
const ATTRIBUTES: [&str; 10] = [
    "RoleArn",
    "RoleName",
    "ApplicationId",
    "ApplicationObjectId",
    "ServicePrincipalId",
    "TenantId",
    "Issuer",
    "OidcProviderArn",
    "Audience",
    "TokenScope",
];

#[tokio::main]
async fn main() -> ExitCode {
    let started = Instant::now();
    let Some(binary) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: demo <path to bootstrap>");
        return ExitCode::from(2);
    };
    match run(&binary).await {
        Ok(summary) => {
            println!(
                "\nDEMO PASSED in {:.1}s: {summary}",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "\nDEMO FAILED after {:.1}s: {error}",
                started.elapsed().as_secs_f64()
            );
            ExitCode::FAILURE
        }
    }
}

async fn run(binary: &Path) -> Result<String> {
    banner("Entra federated role: local end-to-end demo");
    let mut lab = Lab::start(binary).await?;
    lab.introduce();
    let outcome = lab.play_story().await;
    if outcome.is_err() {
        eprintln!(
            "\n--- the factory's last log lines ---\n{}",
            lab.log_tail(20)
        );
    }
    lab.stop().await;
    outcome
}

// ---------------------------------------------------------------------------------------
// The story
// ---------------------------------------------------------------------------------------

/// The two resources of the story, one per member account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// `GitHubDeployRole` in stack `web-ci` of member A (beside an SQS queue).
    Web,
    /// `DeployRole` in stack `payments-ci` of member B.
    Payments,
}

/// Which generation of a resource an event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    Current,
    /// The one a replacement left behind for CloudFormation's cleanup Delete.
    Replaced,
}

/// What CloudFormation sends, or what someone forges.
enum Request {
    Create(Value),
    Update {
        old: Value,
        new: Value,
        replacement: bool,
    },
    Delete {
        properties: Value,
        generation: Generation,
    },
    /// A Create that no stack is running, sent by someone who may invoke the factory: it
    /// names `logical_id`, a resource of the slot's stack that is not ours.
    Forged {
        logical_id: &'static str,
        properties: Value,
    },
}

impl Request {
    /// The event's `RequestType`.
    fn kind(&self) -> &'static str {
        match self {
            Self::Create(_) | Self::Forged { .. } => "Create",
            Self::Update { .. } => "Update",
            Self::Delete { .. } => "Delete",
        }
    }

    /// The event's `ResourceProperties`.
    fn properties(&self) -> &Value {
        match self {
            Self::Create(properties)
            | Self::Update {
                new: properties, ..
            }
            | Self::Delete { properties, .. }
            | Self::Forged { properties, .. } => properties,
        }
    }

    /// The resource status CloudFormation records for this request at `stage`
    /// (`IN_PROGRESS` before it sends it, `COMPLETE` once it has read the answer).
    fn resource_status(&self, stage: &str) -> String {
        format!("{}_{stage}", self.kind().to_ascii_uppercase())
    }

    /// The stack status CloudFormation sets before it sends this request, and the one it
    /// sets once it has read the answer (`None`: unchanged).
    fn stack_statuses(&self) -> (Option<&'static str>, Option<&'static str>) {
        match self {
            // The stack was created in CREATE_IN_PROGRESS; nobody runs a forged request.
            Self::Create(_) => (None, Some("CREATE_COMPLETE")),
            Self::Forged { .. } => (None, None),
            Self::Update {
                replacement: false, ..
            } => (Some("UPDATE_IN_PROGRESS"), Some("UPDATE_COMPLETE")),
            // The update goes on with the cleanup: the Delete of the old generation.
            Self::Update {
                replacement: true, ..
            } => (Some("UPDATE_IN_PROGRESS"), None),
            Self::Delete {
                generation: Generation::Replaced,
                ..
            } => (
                Some("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
                Some("UPDATE_COMPLETE"),
            ),
            Self::Delete {
                generation: Generation::Current,
                ..
            } => (Some("DELETE_IN_PROGRESS"), Some("DELETE_COMPLETE")),
        }
    }
}

/// Extra checks of one step, on the state after it and what CloudFormation believes.
type StepChecks = fn(&Facts, &State, &Ledger) -> Vec<Check>;

/// One step of the story: an event, and what must hold after it.
struct Step {
    title: &'static str,
    slot: Slot,
    request: Request,
    checks: StepChecks,
    /// Whether workloads then try member A's role at STS ([`Lab::sign_in_to_web_role`]).
    then_sign_in: bool,
}

/// The scripted story (issue 5, item 6).
fn story(facts: &Facts) -> Vec<Step> {
    let web = web_properties();
    let mut web_v2 = web.clone();
    web_v2["Description"] = json!(WEB_DESCRIPTION_V2);
    web_v2["FederatedCredentials"]
        .as_array_mut()
        .expect("a list")
        .push(json!({
            "Name": "github-production",
            "Issuer": GITHUB_ISSUER,
            "Subject": "repo:contoso/web:environment:production",
            "Description": "deployments to the production environment"
        }));
    let payments = payments_properties(&facts.foreign.app_id);
    let mut payments_v2 = payments.clone();
    payments_v2["RoleName"] = json!(PAYMENTS_ROLE_V2);
    vec![
        Step {
            title: "Create a role for GitHub Actions in member account A",
            slot: Slot::Web,
            request: Request::Create(web.clone()),
            checks: web_created,
            then_sign_in: false,
        },
        Step {
            title: "Create a role in member account B trusting an existing Entra app",
            slot: Slot::Payments,
            request: Request::Create(payments.clone()),
            checks: payments_created,
            then_sign_in: false,
        },
        Step {
            title: "A forged Create: someone in member B names A's SQS queue to plant a role in A",
            slot: Slot::Web,
            request: Request::Forged {
                logical_id: WEB_QUEUE_ID,
                properties: forged_properties(),
            },
            // Checked against the state before it ([`Lab::play_forged`]).
            checks: |_, _, _| Vec::new(),
            then_sign_in: false,
        },
        Step {
            title: "Update A in place: new description, a second federated credential",
            slot: Slot::Web,
            request: Request::Update {
                old: web,
                new: web_v2.clone(),
                replacement: false,
            },
            checks: web_updated,
            then_sign_in: true,
        },
        Step {
            title: "Update B's RoleName: a replacement (a new generation)",
            slot: Slot::Payments,
            request: Request::Update {
                old: payments.clone(),
                new: payments_v2.clone(),
                replacement: true,
            },
            checks: payments_replaced,
            then_sign_in: false,
        },
        Step {
            title: "CloudFormation's cleanup: Delete of B's old generation (old properties)",
            slot: Slot::Payments,
            request: Request::Delete {
                properties: payments,
                generation: Generation::Replaced,
            },
            checks: payments_old_deleted,
            then_sign_in: false,
        },
        Step {
            title: "Delete A (stack deleted)",
            slot: Slot::Web,
            request: Request::Delete {
                properties: web_v2,
                generation: Generation::Current,
            },
            checks: web_deleted,
            then_sign_in: false,
        },
        Step {
            title: "Delete B (stack deleted)",
            slot: Slot::Payments,
            request: Request::Delete {
                properties: payments_v2,
                generation: Generation::Current,
            },
            checks: payments_deleted,
            then_sign_in: false,
        },
    ]
}

fn service_token() -> String {
    format!("arn:aws:lambda:{REGION}:{HUB}:function:entra-federated-role")
}

/// The boundary every role of the factory's in `account` must carry.
fn boundary_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:policy/{BOUNDARY_POLICY}")
}

fn web_properties() -> Value {
    json!({
        "ServiceToken": service_token(),
        "ServiceTimeout": "330",
        "RolePath": ROLE_PATH_PREFIX,
        "PermissionsBoundary": boundary_arn(MEMBER_A),
        "Description": "GitHub Actions deploys of contoso/web",
        "ManagedPolicyArns": [READ_ONLY],
        "MaxSessionDuration": "3600",
        "Tags": [{"Key": "team", "Value": "web"}, {"Key": "cost-center", "Value": "cc-1234"}],
        "FederatedCredentials": [{
            "Name": "github-main",
            "Issuer": GITHUB_ISSUER,
            "Subject": "repo:contoso/web:ref:refs/heads/main",
            "Description": "pushes to main"
        }]
    })
}

fn payments_properties(trusted_app_id: &str) -> Value {
    json!({
        "ServiceToken": service_token(),
        "ServiceTimeout": "330",
        "RoleName": PAYMENTS_ROLE,
        "RolePath": format!("{ROLE_PATH_PREFIX}payments/"),
        "PermissionsBoundary": boundary_arn(MEMBER_B),
        "Description": "Deploys payments from the existing CI app",
        "ManagedPolicyArns": [CFN_READ_ONLY],
        "Policies": [{
            "PolicyName": "artifact-read",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": "arn:aws:s3:::payments-artifacts/*"
                }]
            }
        }],
        "MaxSessionDuration": "7200",
        "Tags": [{"Key": "team", "Value": "payments"}],
        "TrustedClientAppIds": [trusted_app_id]
    })
}

/// What the forger asks for: a role in member A that their own issuer's tokens reach,
/// within every guardrail, so that only the caller check stands in the way.
fn forged_properties() -> Value {
    json!({
        "ServiceToken": service_token(),
        "ServiceTimeout": "330",
        "RolePath": ROLE_PATH_PREFIX,
        "PermissionsBoundary": boundary_arn(MEMBER_A),
        "ManagedPolicyArns": [READ_ONLY],
        "FederatedCredentials": [{
            "Name": "forged",
            "Issuer": FORGER_ISSUER,
            "Subject": "forger"
        }]
    })
}

fn web_created(facts: &Facts, state: &State, ledger: &Ledger) -> Vec<Check> {
    let data = ledger.data(Slot::Web);
    let account = state.account(MEMBER_A);
    let role = account.role(attr(data, "RoleName"));
    let app = state.application(attr(data, "ApplicationId"));
    vec![
        Check::new(
            "the trust admits only the app's own service principal",
            role.is_some_and(|r| r.trust.sub == [attr(data, "ServicePrincipalId")]),
        ),
        Check::new(
            "ReadOnlyAccess is attached and the tags are set",
            role.is_some_and(|r| {
                r.managed_policies == [READ_ONLY] && r.user_tags().any(|t| t == ("team", "web"))
            }),
        ),
        Check::new(
            "the app has the GitHub federated credential",
            app.is_some_and(|a| credential_names(a) == ["github-main"]),
        ),
        Check::new(
            "the factory created A's OIDC provider for the tenant's issuer",
            account.providers.len() == 1
                && account.providers[0].ours
                && account.providers[0].url == facts.issuer(),
        ),
    ]
}

fn payments_created(facts: &Facts, state: &State, ledger: &Ledger) -> Vec<Check> {
    let data = ledger.data(Slot::Payments);
    let account = state.account(MEMBER_B);
    let role = account.role(PAYMENTS_ROLE);
    let mut expected_subs = vec![
        attr(data, "ServicePrincipalId").to_owned(),
        facts.foreign_sp_id().to_owned(),
    ];
    expected_subs.sort();
    vec![
        Check::new(
            "the trust admits the app's own and the existing CI app's service principals",
            role.is_some_and(|r| sorted(r.trust.sub.clone()) == expected_subs),
        ),
        Check::new(
            "the inline policy and the managed policy are in place",
            role.is_some_and(|r| {
                r.inline_policies == ["artifact-read"] && r.managed_policies == [CFN_READ_ONLY]
            }),
        ),
        Check::new(
            "B's existing provider was adopted: not ours, its own audience kept",
            account.providers.len() == 1
                && !account.providers[0].ours
                && account.providers[0].audiences == [LEGACY_AUDIENCE, attr(data, "Audience")],
        ),
    ]
}

fn web_updated(_: &Facts, state: &State, ledger: &Ledger) -> Vec<Check> {
    let data = ledger.data(Slot::Web);
    let role = state.account(MEMBER_A).role(attr(data, "RoleName"));
    let app = state.application(attr(data, "ApplicationId"));
    vec![
        Check::new(
            "the role's description changed in place",
            role.is_some_and(|r| r.description.as_deref() == Some(WEB_DESCRIPTION_V2)),
        ),
        Check::new(
            "the app now has both federated credentials",
            app.is_some_and(|a| credential_names(a) == ["github-main", "github-production"]),
        ),
        Check::new(
            "still one role in A",
            state.account(MEMBER_A).ours().count() == 1,
        ),
    ]
}

fn payments_replaced(facts: &Facts, state: &State, _: &Ledger) -> Vec<Check> {
    let account = state.account(MEMBER_B);
    vec![
        Check::new(
            "the old and the new generation's roles both exist until the cleanup",
            account.role(PAYMENTS_ROLE).is_some() && account.role(PAYMENTS_ROLE_V2).is_some(),
        ),
        Check::new(
            "the new role trusts the existing CI app too",
            account
                .role(PAYMENTS_ROLE_V2)
                .is_some_and(|r| r.trust.sub.iter().any(|s| s == facts.foreign_sp_id())),
        ),
        Check::new(
            "three apps of the factory's: A's, and one per generation of B",
            state.factory_applications().count() == 3,
        ),
    ]
}

fn payments_old_deleted(_: &Facts, state: &State, ledger: &Ledger) -> Vec<Check> {
    let data = ledger.data(Slot::Payments);
    let account = state.account(MEMBER_B);
    vec![
        Check::new(
            "only the new generation's role is left in B",
            account.ours().map(|r| r.name.as_str()).collect::<Vec<_>>() == [PAYMENTS_ROLE_V2],
        ),
        Check::new(
            "B's provider keeps its own audience and the new generation's",
            account.providers.len() == 1
                && account.providers[0].audiences == [LEGACY_AUDIENCE, attr(data, "Audience")],
        ),
    ]
}

fn web_deleted(_: &Facts, state: &State, _: &Ledger) -> Vec<Check> {
    let account = state.account(MEMBER_A);
    vec![
        Check::new("no role of ours left in A", account.ours().count() == 0),
        Check::new(
            "A's provider is gone: we created it and nothing uses it any more",
            account.providers.is_empty(),
        ),
    ]
}

fn payments_deleted(_: &Facts, state: &State, _: &Ledger) -> Vec<Check> {
    let account = state.account(MEMBER_B);
    vec![
        Check::new("no role of ours left in B", account.ours().count() == 0),
        Check::new(
            "B's adopted provider stays, with only its own audience",
            account.providers.len() == 1
                && !account.providers[0].ours
                && account.providers[0].audiences == [LEGACY_AUDIENCE],
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// What CloudFormation believes exists
// ---------------------------------------------------------------------------------------

/// One resource generation CloudFormation knows about.
#[derive(Debug, Clone)]
struct Made {
    physical_id: String,
    data: Value,
}

/// One `Custom::EntraFederatedRole` in a member stack.
struct Resource {
    label: &'static str,
    account: &'static str,
    stack: Stack,
    logical_id: &'static str,
    current: Option<Made>,
    replaced: Option<Made>,
}

impl Resource {
    fn new(
        label: &'static str,
        account: &'static str,
        stack: &Stack,
        logical_id: &'static str,
    ) -> Self {
        Self {
            label,
            account,
            stack: stack.clone(),
            logical_id,
            current: None,
            replaced: None,
        }
    }

    fn generation(&self, which: Generation) -> Option<&Made> {
        match which {
            Generation::Current => self.current.as_ref(),
            Generation::Replaced => self.replaced.as_ref(),
        }
    }

    /// The physical id `request` names (none for a Create).
    fn physical_id(&self, request: &Request) -> Option<&str> {
        match request {
            Request::Create(_) | Request::Forged { .. } => None,
            Request::Update { .. } => self.current.as_ref(),
            Request::Delete { generation, .. } => self.generation(*generation),
        }
        .map(|made| made.physical_id.as_str())
    }

    /// The logical id `request` names.
    fn logical_id(&self, request: &Request) -> &'static str {
        match request {
            Request::Forged { logical_id, .. } => logical_id,
            _ => self.logical_id,
        }
    }

    /// Records what CloudFormation records before it sends `request`: the stack's status
    /// and the resource's in-progress event (moto recorded a Create's when it created the
    /// stack).
    async fn cloudformation_sends(&self, request: &Request) -> Result<()> {
        if let (Some(status), _) = request.stack_statuses() {
            self.stack.status(status).await?;
        }
        if let Request::Update { .. } | Request::Delete { .. } = request {
            let physical_id = self
                .physical_id(request)
                .ok_or("no physical id to send: an earlier step failed")?;
            self.stack
                .record(
                    self.logical_id,
                    &request.resource_status("IN_PROGRESS"),
                    physical_id,
                )
                .await?;
        }
        Ok(())
    }

    /// Records what CloudFormation records once it has read the answer to `request`,
    /// which named `physical_id`.
    async fn cloudformation_read(&self, request: &Request, physical_id: &str) -> Result<()> {
        self.stack
            .record(
                self.logical_id,
                &request.resource_status("COMPLETE"),
                physical_id,
            )
            .await?;
        if let (_, Some(status)) = request.stack_statuses() {
            self.stack.status(status).await?;
        }
        Ok(())
    }
}

/// The member stacks of the story, as CloudFormation created them in moto.
struct WorkloadStacks {
    /// `web-ci` in member A: `GitHubDeployRole` and an SQS queue.
    web: Stack,
    /// `payments-ci` in member B: `DeployRole`.
    payments: Stack,
}

/// Everything the story made, live or deleted.
struct Ledger {
    web: Resource,
    payments: Resource,
    /// Deleted generations, with their account.
    gone: Vec<(&'static str, Made)>,
}

impl Ledger {
    fn new(stacks: &WorkloadStacks) -> Self {
        Self {
            web: Resource::new("A", MEMBER_A, &stacks.web, WEB_ROLE_ID),
            payments: Resource::new("B", MEMBER_B, &stacks.payments, PAYMENTS_ROLE_ID),
            gone: Vec::new(),
        }
    }

    fn resource(&self, slot: Slot) -> &Resource {
        match slot {
            Slot::Web => &self.web,
            Slot::Payments => &self.payments,
        }
    }

    /// The `Data` of the current generation on `slot` (null when there is none).
    fn data(&self, slot: Slot) -> &Value {
        self.resource(slot)
            .current
            .as_ref()
            .map_or(&Value::Null, |made| &made.data)
    }

    fn resource_mut(&mut self, slot: Slot) -> &mut Resource {
        match slot {
            Slot::Web => &mut self.web,
            Slot::Payments => &mut self.payments,
        }
    }

    /// Live generations with their account.
    fn live(&self) -> impl Iterator<Item = (&'static str, &Made)> {
        [&self.web, &self.payments].into_iter().flat_map(|r| {
            [r.current.as_ref(), r.replaced.as_ref()]
                .into_iter()
                .flatten()
                .map(|made| (r.account, made))
        })
    }

    /// Records the answer to `request` on `slot`, as CloudFormation would, and returns
    /// the checks of its physical id (an error when it makes no sense at all).
    fn record(&mut self, slot: Slot, request: &Request, answer: &Value) -> Result<Vec<Check>> {
        let made = Made {
            physical_id: answer["PhysicalResourceId"]
                .as_str()
                .ok_or("the answer has no PhysicalResourceId")?
                .to_owned(),
            data: answer["Data"].clone(),
        };
        let resource = self.resource_mut(slot);
        let account = resource.account;
        let checks = match request {
            Request::Create(_) => {
                let checks = vec![Check::new(
                    "the physical id is the role's ARN (what Ref returns)",
                    made.physical_id == attr(&made.data, "RoleArn"),
                )];
                resource.current = Some(made);
                checks
            }
            Request::Update { replacement, .. } => {
                let before = resource.current.take().ok_or("an Update of nothing")?;
                let same_app =
                    attr(&before.data, "ApplicationId") == attr(&made.data, "ApplicationId");
                let checks = if *replacement {
                    vec![
                        Check::new(
                            "a new physical id: CloudFormation will delete the old one",
                            made.physical_id != before.physical_id,
                        ),
                        Check::new("a new Entra app for the new generation", !same_app),
                    ]
                } else {
                    vec![
                        Check::new(
                            "the same physical id: an in-place update",
                            made.physical_id == before.physical_id,
                        ),
                        Check::new("the same Entra app", same_app),
                    ]
                };
                if *replacement {
                    resource.replaced = Some(before);
                }
                resource.current = Some(made);
                checks
            }
            Request::Delete { generation, .. } => {
                let slot_made = match generation {
                    Generation::Current => resource.current.take(),
                    Generation::Replaced => resource.replaced.take(),
                }
                .ok_or("a Delete of nothing")?;
                let checks = vec![Check::new(
                    "the answer names the deleted physical id",
                    made.physical_id == slot_made.physical_id,
                )];
                self.gone.push((account, slot_made));
                checks
            }
            Request::Forged { .. } => return Err("a forged request made nothing".into()),
        };
        Ok(checks)
    }
}

/// How a caller's try at a role ended.
enum Attempt {
    /// Entra gave no token (its `error_description`, without the trace ids).
    EntraRefused(String),
    /// STS refused the token (`code: message`).
    StsRefused(String),
    /// STS gave the role's credentials.
    Admitted { arn: String, subject: String },
}

impl Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EntraRefused(why) => write!(f, "Entra refused: {why}"),
            Self::StsRefused(why) => write!(f, "Entra token issued; STS refused: {why}"),
            Self::Admitted { arn, subject } => {
                write!(f, "admitted as {arn} (sub {subject})")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The lab: every stand-in and the factory
// ---------------------------------------------------------------------------------------

/// Facts fixed at the start: the tenant, the factory app and the foreign Entra app.
struct Facts {
    tenant: String,
    factory_client_id: String,
    foreign: SeededApplication,
    foreign_app: Application,
    foreign_sp: Option<ServicePrincipal>,
}

impl Facts {
    fn issuer(&self) -> String {
        format!("https://sts.windows.net/{}/", self.tenant)
    }

    fn foreign_sp_id(&self) -> &str {
        self.foreign
            .service_principal_id
            .as_deref()
            .unwrap_or_default()
    }
}

/// An account the demo looks into.
struct AccountView {
    label: &'static str,
    id: &'static str,
    config: SdkConfig,
    /// The access key of `config`'s credentials (moto picks the account from it).
    access_key: String,
    iam: aws_sdk_iam::Client,
    /// Roles that belong there before the story starts (the hub's and StackSet's plumbing).
    plumbing: &'static [&'static str],
}

struct Lab {
    // Declared first: dropped (killed) before the servers it talks to.
    process: Bootstrap,
    runtime: RuntimeApi,
    endpoint: ResponseEndpoint,
    graph: GraphEmulator,
    _moto: Moto,
    accounts: Vec<AccountView>,
    stacks: WorkloadStacks,
    facts: Facts,
    /// The factory's environment beyond what Lambda sets.
    factory_env: Vec<(String, String)>,
    /// AWS as the factory's execution role.
    factory_aws: SdkConfig,
    /// The hub's outbound identity issuer, which the factory app's federated credential trusts.
    outbound_issuer: String,
    /// The key GitHub Actions signs its jobs' OIDC tokens with (Entra trusts its JWKS).
    github: TestKey,
}

impl Lab {
    /// Starts every stand-in, sets the organisation, its stacks and the tenant up, and
    /// starts the factory.
    async fn start(binary: &Path) -> Result<Self> {
        section("Starting the local stand-ins");
        let moto = Moto::try_start_with_env(&[(
            "MOTO_IAM_LOAD_MANAGED_POLICIES".to_owned(),
            "true".to_owned(),
        )])
        .await
        .context("starting moto")?;
        item("moto (IAM, STS, CloudFormation, ...)", moto.endpoint());
        let graph = GraphEmulator::start()
            .await
            .context("starting the Graph emulator")?;
        item("Entra token endpoint + Microsoft Graph", graph.url());
        let runtime = RuntimeApi::try_start()
            .await
            .context("starting the Lambda Runtime API")?;
        runtime.set_function_arn(service_token());
        item("Lambda Runtime API", &runtime.addr());
        let endpoint = ResponseEndpoint::try_start()
            .await
            .context("starting the response endpoint")?;
        item("CloudFormation response endpoint", &endpoint.host());

        let root = moto_sdk(moto.endpoint(), moto_root_credentials()).await;
        let accounts = set_up_organisation(&root, moto.endpoint(), &graph.tenant_id()).await?;
        let stacks = create_workload_stacks(moto.endpoint(), &accounts).await?;
        let facts = set_up_tenant(&graph)?;
        let github = TestKey::generate("GitHub Actions");
        graph
            .add_jwks(&github.jwks())
            .context("trusting GitHub Actions' keys in Entra")?;
        // AWS finds the tenant's keys through its issuer's discovery document; moto is told.
        let registered = moto
            .post_json(
                "/_efr/web-identity/issuers",
                &json!({"issuer": graph.issuer(), "jwks_uri": graph.jwks_uri()}),
            )
            .await
            .context("telling moto's STS where the tenant's keys are")?;
        if registered.status >= 300 {
            return Err(format!("moto refused the tenant's keys: {}", registered.text()).into());
        }
        let outbound_issuer = trust_outbound_identity(
            &graph,
            moto.endpoint(),
            OUTBOUND_CREDENTIAL,
            HUB,
            &factory_role_arn(),
        )
        .await?;
        let lambda_credentials = assume(&root, HUB, FACTORY_ROLE, "entra-federated-role").await?;
        let mut factory_env = StandIns {
            graph: &graph,
            entra_url: graph.url(),
            aws_endpoint: moto.endpoint(),
            response_host: &endpoint.host(),
            // Secretless: the factory signs in with a web identity token from STS.
            secret_arn: None,
            credentials: &lambda_credentials,
        }
        .environment();
        // Hub mode with the caller check, as the hub template deploys it.
        set_env(
            &mut factory_env,
            &[
                ("MEMBER_ROLE_NAME", MEMBER_ROLE),
                ("VERIFY_CALLER_STACK", "true"),
                ("ROLE_EVENTS", "true"),
            ],
        );
        set_env(&mut factory_env, &GUARDRAILS);
        let factory_aws = moto_sdk(moto.endpoint(), lambda_credentials).await;
        let process = Bootstrap::try_spawn(binary, &runtime.addr(), &factory_env)
            .context(format!("starting {}", binary.display()))?;
        item(
            "the factory (real bootstrap binary)",
            &binary.display().to_string(),
        );
        Ok(Self {
            process,
            runtime,
            endpoint,
            graph,
            _moto: moto,
            accounts,
            stacks,
            facts,
            factory_env,
            factory_aws,
            outbound_issuer,
            github,
        })
    }

    fn introduce(&self) {
        section("The setting");
        println!("  AWS organisation (region {REGION})");
        println!(
            "    hub       {HUB}  runs the factory Lambda as role {FACTORY_ROLE}, configured as the"
        );
        println!("              hub template ships it:");
        let shown = ["MEMBER_ROLE_NAME", "VERIFY_CALLER_STACK", "ROLE_EVENTS"];
        for name in shown.into_iter().chain(GUARDRAILS.map(|(name, _)| name)) {
            println!(
                "                {name}={}",
                self.env(name).unwrap_or("(unset)")
            );
        }
        println!(
            "    member A  {MEMBER_A}  stack {WEB_STACK}: {WEB_ROLE_ID} (ours) and {WEB_QUEUE_ID} (an SQS queue)"
        );
        println!(
            "    member B  {MEMBER_B}  stack {PAYMENTS_STACK}: {PAYMENTS_ROLE_ID} (ours); already has the tenant's"
        );
        println!("              OIDC provider, made by hand with audience {LEGACY_AUDIENCE}");
        println!(
            "    each member holds what the member StackSet deploys: {MEMBER_ROLE}, the role the hub"
        );
        println!(
            "    assumes, and {BOUNDARY_POLICY}, the boundary each of the factory's roles must carry"
        );
        println!(
            "    CloudFormation is creating both stacks: each of our resources waits in CREATE_IN_PROGRESS"
        );
        println!(
            "    (in moto, the templates' ServiceToken is {SERVICE_TOKEN_STAND_IN}, a member function never run)"
        );
        println!("  Entra ID tenant {}", self.facts.tenant);
        println!(
            "    an existing CI app \"{}\" (appId {}, service principal {}) that the factory does not own",
            self.facts.foreign_app.display_name,
            self.facts.foreign.app_id,
            self.facts.foreign_sp_id()
        );
        println!(
            "  No long-lived secret anywhere: no ENTRA_CREDENTIALS_SECRET_ARN, nothing in Secrets Manager,"
        );
        println!(
            "  no client secret on the factory app {}. The factory asks",
            self.facts.factory_client_id
        );
        println!(
            "  sts:GetWebIdentityToken for a JWT and signs in to Entra with it as client assertion:"
        );
        println!("  Entra trusts the issuer's keys, and the app's federated credential names");
        println!(
            "    issuer    {} (the hub account's outbound identity)",
            self.outbound_issuer
        );
        println!("    subject   {} (the Lambda's role)", factory_role_arn());
        println!("    audience  {TOKEN_EXCHANGE_AUDIENCE}");
        println!(
            "  The caller check is on: before any write, the factory reads the stack's events in the"
        );
        println!(
            "  member account and requires CloudFormation to be doing this very request to this resource."
        );
    }

    /// The factory's environment variable `name`, if set.
    fn env(&self, name: &str) -> Option<&str> {
        self.factory_env
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    async fn play_story(&mut self) -> Result<String> {
        let steps = story(&self.facts);
        let total = steps.len();
        let mut ledger = Ledger::new(&self.stacks);
        section("The story");
        for (index, step) in steps.iter().enumerate() {
            println!("  {}. {}", index + 1, step.title);
            if step.then_sign_in {
                println!("     then: {SIGN_IN_TITLE}");
            }
        }
        println!("  then: {HAND_MADE_TITLE}");
        for (index, step) in steps.iter().enumerate() {
            let started = Instant::now();
            section(&format!("Step {}/{total}: {}", index + 1, step.title));
            self.play(step, &mut ledger)
                .await
                .map_err(|error| format!("step {} ({}): {error}", index + 1, step.title))?;
            println!("  ({:.2}s)", started.elapsed().as_secs_f64());
            if step.then_sign_in {
                section(&format!("Then: {SIGN_IN_TITLE}"));
                self.sign_in_to_web_role(&ledger)
                    .await
                    .map_err(|error| format!("after step {}: {error}", index + 1))?;
            }
        }
        section(&format!("Then: {HAND_MADE_TITLE}"));
        self.play_role_made_by_hand()
            .await
            .map_err(|error| format!("the role made by hand: {error}"))?;
        section("Nothing left behind");
        let state = self.state().await?;
        println!("  (the state is as shown after the last step)");
        let mut checks = nothing_left_behind(&self.facts, &state, &ledger);
        checks.push(self.logs_hold_no_token());
        report(&checks).map_err(|error| format!("after the story: {error}"))?;
        section("No long-lived secret anywhere");
        report(&self.secretless_checks().await?)
            .map_err(|error| format!("after the story: {error}"))?;
        let served = steps
            .iter()
            .filter(|s| !matches!(s.request, Request::Forged { .. }))
            .count();
        Ok(format!(
            "{served} CloudFormation requests, each confirmed from its stack's events, answered SUCCESS and both clouds matched after each; the forged one was refused with nothing written; a role made by hand was federated from its IAM event and removed with its own; only the callers a role trusts got in at STS; no secret anywhere, and nothing was left behind"
        ))
    }

    /// Plays CloudFormation around the step's request, prints the answer and the state,
    /// and checks both.
    async fn play(&self, step: &Step, ledger: &mut Ledger) -> Result<()> {
        let resource = ledger.resource(step.slot);
        if let Request::Forged { .. } = step.request {
            return self.play_forged(resource, &step.request).await;
        }
        resource.cloudformation_sends(&step.request).await?;
        let answer = self.deliver(resource, &step.request).await?;
        if answer["Status"] != "SUCCESS" {
            return Err(format!(
                "CloudFormation read {} ({}), expected SUCCESS",
                answer["Status"].as_str().unwrap_or("no status"),
                answer["Reason"].as_str().unwrap_or("no reason")
            )
            .into());
        }
        let physical_id = answer["PhysicalResourceId"]
            .as_str()
            .ok_or("the answer has no PhysicalResourceId")?;
        resource
            .cloudformation_read(&step.request, physical_id)
            .await?;
        let mut checks = ledger.record(step.slot, &step.request, &answer)?;
        let state = self.state().await?;
        print_state(&state, &self.facts);
        checks.extend(ledger_checks(&state, ledger));
        checks.extend((step.checks)(&self.facts, &state, ledger));
        report(&checks)
    }

    /// Sends the forged `request` and checks that it was refused with nothing written in
    /// either cloud.
    async fn play_forged(&self, resource: &Resource, request: &Request) -> Result<()> {
        let before = self.state().await?;
        let answer = self.deliver(resource, request).await?;
        let after = self.state().await?;
        println!(
            "  State afterwards: compared with the state before the forged event (not printed again)"
        );
        report(&[
            Check::new(
                "the factory refused it: FAILED, with the caller check's Reason",
                answer["Status"] == "FAILED" && answer["Reason"] == REFUSED,
            ),
            Check::new(
                "IAM is as it was in every account: roles, trusts, boundaries, policies, tags, OIDC providers",
                after.accounts == before.accounts,
            ),
            Check::new(
                "the Entra directory is as it was: no application, no federated credential for the forger",
                after.entra == before.entra,
            ),
            Check::new(
                "the factory logged why, for its operator: the resource is an AWS::SQS::Queue",
                self.process
                    .logs()
                    .contains("the resource is a AWS::SQS::Queue"),
            ),
        ])
    }

    /// Prints what CloudFormation recorded for the stack and the resource, then the
    /// request; sends it and prints the answer, which it returns.
    async fn deliver(&self, resource: &Resource, request: &Request) -> Result<Value> {
        println!("  {}", self.recorded(resource, request).await?);
        let event = self.event(resource, request)?;
        print_request(resource, request, &event);
        let answer = self.send(&event).await?;
        print_answer(&answer);
        Ok(answer)
    }

    /// One line: the newest events of the stack and of the logical id `request` names, as
    /// `DescribeStackEvents` shows them to the factory.
    async fn recorded(&self, resource: &Resource, request: &Request) -> Result<String> {
        let stack = &resource.stack;
        let logical_id = resource.logical_id(request);
        let listed = aws_sdk_cloudformation::Client::new(&self.view(resource.account).config)
            .describe_stack_events()
            .stack_name(&stack.id)
            .send()
            .await
            .context(format!("reading the events of {}", stack.id))?;
        // Newest first; the stack's own events name the stack as their physical id.
        let events = listed.stack_events();
        let stack_status = events
            .iter()
            .find(|e| e.physical_resource_id() == Some(stack.id.as_str()))
            .and_then(|e| e.resource_status())
            .map_or("?", |s| s.as_str());
        let newest = events
            .iter()
            .find(|e| {
                e.logical_resource_id() == Some(logical_id)
                    && e.physical_resource_id() != Some(stack.id.as_str())
            })
            .map_or_else(
                || "none".to_owned(),
                |e| {
                    format!(
                        "{}, {}, {}",
                        e.resource_status().map_or("?", |s| s.as_str()),
                        e.resource_type().unwrap_or("?"),
                        e.physical_resource_id()
                            .filter(|id| !id.is_empty())
                            .unwrap_or("no physical id yet"),
                    )
                },
            );
        Ok(format!(
            "CloudFormation recorded: stack {} {stack_status}; newest event of {logical_id}: {newest}",
            stack_name(&stack.id),
        ))
    }

    fn view(&self, account: &str) -> &AccountView {
        self.accounts
            .iter()
            .find(|a| a.id == account)
            .expect("the demo only asks for its own accounts")
    }

    /// The event for `request` on `resource`.
    fn event(&self, resource: &Resource, request: &Request) -> Result<Value> {
        let stack_id = &resource.stack.id;
        let request_id = uuid_like();
        let mut event = json!({
            "RequestType": request.kind(),
            "ServiceToken": service_token(),
            "ResponseURL": self.endpoint.url(&format!("{stack_id}/{request_id}")),
            "StackId": stack_id,
            "RequestId": request_id,
            "ResourceType": stacks::RESOURCE_TYPE,
            "LogicalResourceId": resource.logical_id(request),
            "ResourceProperties": request.properties(),
        });
        if request.kind() != "Create" {
            event["PhysicalResourceId"] = json!(
                resource
                    .physical_id(request)
                    .ok_or("no physical id to send: an earlier step failed")?
            );
        }
        if let Request::Update { old, .. } = request {
            event["OldResourceProperties"] = old.clone();
        }
        Ok(event)
    }

    /// GitHub Actions jobs of contoso/web sign in to Entra as A's app with their OIDC
    /// token (the federated credentials A declares) and exchange the Entra token at STS.
    /// A job of another branch gets no Entra token. Another app of the tenant (here the
    /// factory's own, signing in as the factory does) can get a token for A's audience,
    /// but STS refuses it: the trust is pinned on `sub` as well as `aud`.
    async fn sign_in_to_web_role(&self, ledger: &Ledger) -> Result<()> {
        let data = ledger.data(Slot::Web);
        let (app_id, scope, role_arn, sp_id) = (
            attr(data, "ApplicationId"),
            attr(data, "TokenScope"),
            attr(data, "RoleArn"),
            attr(data, "ServicePrincipalId"),
        );
        println!("  role {role_arn}");
        println!("  each caller asks Entra for {scope}, then calls sts:AssumeRoleWithWebIdentity");
        let mut checks = Vec::new();
        for (who, subject, admitted) in [
            (
                "a job on main",
                "repo:contoso/web:ref:refs/heads/main",
                true,
            ),
            (
                "a production deployment",
                "repo:contoso/web:environment:production",
                true,
            ),
            (
                "a job on a feature branch",
                "repo:contoso/web:ref:refs/heads/feature",
                false,
            ),
        ] {
            let job_token = self.github_job_token(subject);
            let attempt = self
                .attempt(
                    role_arn,
                    scope,
                    &[
                        ("client_id", app_id),
                        ("client_assertion_type", JWT_BEARER),
                        ("client_assertion", &job_token),
                    ],
                )
                .await?;
            println!("  {who:<28} ({subject})\n    {attempt}");
            checks.push(if admitted {
                Check::new(
                    format!("{who} gets in as A's own service principal"),
                    matches!(&attempt, Attempt::Admitted { subject, .. } if subject == sp_id),
                )
            } else {
                Check::new(
                    format!("{who} gets no Entra token: no federated credential names it"),
                    matches!(&attempt, Attempt::EntraRefused(why) if why.contains("AADSTS700213")),
                )
            });
        }
        let factory_id = self.facts.factory_client_id.as_str();
        let assertion = self.factory_assertion().await?;
        let attempt = self
            .attempt(
                role_arn,
                scope,
                &[
                    ("client_id", factory_id),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &assertion),
                ],
            )
            .await?;
        println!(
            "  {:<28} (the factory's appId {factory_id}, with its STS web identity token)\n    {attempt}",
            "another app of the tenant"
        );
        checks.push(Check::new(
            "another app of the tenant gets a token for A's audience, and STS refuses it",
            matches!(&attempt, Attempt::StsRefused(why) if why.starts_with("AccessDenied")),
        ));
        report(&checks)
    }

    /// The event-driven front door (DESIGN §9): a team makes a role by hand in member B
    /// that asks with tags; IAM's CloudTrail event reaches the factory's queue; a CI job
    /// then assumes the role; the role is deleted by hand, and its event leaves nothing.
    async fn play_role_made_by_hand(&self) -> Result<()> {
        let member = self.view(MEMBER_B);
        let subject = "repo:contoso/reports:ref:refs/heads/main";
        let trust = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"
        }]});
        let tag = |key: &str, value: &str| {
            aws_sdk_iam::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
        };
        println!(
            "  a team makes {HAND_MADE_ROLE} in {} ({}) with the console, asking with tags:",
            member.label, member.id
        );
        println!("    entra-federated-role:federate = true");
        println!("    entra-federated-role:github:main = {subject}");
        member
            .iam
            .create_role()
            .role_name(HAND_MADE_ROLE)
            .path(ROLE_PATH_PREFIX)
            .permissions_boundary(boundary_arn(member.id))
            .assume_role_policy_document(trust.to_string())
            .set_tags(Some(vec![
                tag("entra-federated-role:federate", "true").context("a tag")?,
                tag("entra-federated-role:github:main", subject).context("a tag")?,
            ]))
            .send()
            .await
            .context("creating the role by hand")?;
        member
            .iam
            .attach_role_policy()
            .role_name(HAND_MADE_ROLE)
            .policy_arn(READ_ONLY)
            .send()
            .await
            .context("attaching its policy")?;
        println!("  IAM's CreateRole event reaches the factory's queue (EventBridge, then SQS)");
        let redeliver = self
            .deliver_role_events(&[iam_event(member.id, "CreateRole", HAND_MADE_ROLE)])
            .await?;
        let role = member
            .iam
            .get_role()
            .role_name(HAND_MADE_ROLE)
            .send()
            .await
            .context("reading the role")?
            .role
            .ok_or("GetRole returned no role")?;
        let tags: Vec<(String, String)> = role
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        let value = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let app_id = value("entra-federated-role:app-id").unwrap_or_default();
        let trust = Trust::parse(role.assume_role_policy_document().unwrap_or_default());
        println!(
            "  the role now: status {}, app {app_id}",
            value("entra-federated-role:status").unwrap_or_default()
        );
        println!(
            "    trust: {} (the owner's), and aud {} with sub {}",
            trust
                .federated
                .iter()
                .filter(|p| p.ends_with(".amazonaws.com"))
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            trust.aud.join(", "),
            trust.sub.join(", ")
        );
        let mut checks = vec![
            Check::new(
                "the batch is answered with nothing to deliver again",
                redeliver.is_empty(),
            ),
            Check::new(
                "the role says it is federated, with its application's id",
                value("entra-federated-role:status").as_deref() == Some("federated")
                    && !app_id.is_empty(),
            ),
            Check::new(
                "the owner's statement stays, and the factory's is pinned on aud and sub",
                trust
                    .federated
                    .iter()
                    .any(|p| p == "codebuild.amazonaws.com")
                    && trust.aud == [format!("api://{app_id}")]
                    && trust.sub.len() == 1,
            ),
            Check::new(
                "its policies are the owner's, untouched",
                member
                    .iam
                    .list_attached_role_policies()
                    .role_name(HAND_MADE_ROLE)
                    .send()
                    .await
                    .context("listing its policies")?
                    .attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn())
                    .eq([READ_ONLY]),
            ),
        ];
        let scope = format!("api://{app_id}/.default");
        let role_arn = role.arn().to_owned();
        for (who, job_subject, admitted) in [
            ("a job on main", subject, true),
            (
                "a job on a feature branch",
                "repo:contoso/reports:ref:refs/heads/feature",
                false,
            ),
        ] {
            let job_token = self.github_job_token(job_subject);
            let attempt = self
                .attempt(
                    &role_arn,
                    &scope,
                    &[
                        ("client_id", &app_id),
                        ("client_assertion_type", JWT_BEARER),
                        ("client_assertion", &job_token),
                    ],
                )
                .await?;
            println!("  {who:<28} ({job_subject})\n    {attempt}");
            checks.push(if admitted {
                Check::new(
                    format!("{who} assumes the role made by hand"),
                    matches!(attempt, Attempt::Admitted { .. }),
                )
            } else {
                Check::new(
                    format!("{who} gets no Entra token"),
                    matches!(&attempt, Attempt::EntraRefused(why) if why.contains("AADSTS700213")),
                )
            });
        }
        println!("  the team deletes the role; IAM's DeleteRole event reaches the factory's queue");
        member
            .iam
            .detach_role_policy()
            .role_name(HAND_MADE_ROLE)
            .policy_arn(READ_ONLY)
            .send()
            .await
            .context("detaching its policy")?;
        member
            .iam
            .delete_role()
            .role_name(HAND_MADE_ROLE)
            .send()
            .await
            .context("deleting the role by hand")?;
        let redeliver = self
            .deliver_role_events(&[iam_event(member.id, "DeleteRole", HAND_MADE_ROLE)])
            .await?;
        let state = self.state().await?;
        checks.push(Check::new(
            "the batch is answered with nothing to deliver again",
            redeliver.is_empty(),
        ));
        checks.push(Check::new(
            "its Entra application is gone, purged",
            state.application(&app_id).is_none()
                && !state
                    .entra
                    .deleted_items
                    .iter()
                    .any(|d| format!("{d:?}").contains(&app_id)),
        ));
        checks.push(Check::new(
            "its audience is off the provider",
            state
                .account(member.id)
                .providers
                .iter()
                .all(|p| !p.audiences.contains(&format!("api://{app_id}"))),
        ));
        report(&checks)
    }

    /// Delivers `events` to the factory in one SQS batch; the messages it asks Lambda to
    /// deliver again.
    async fn deliver_role_events(&self, events: &[Value]) -> Result<Vec<String>> {
        let id = self.runtime.invoke(&sqs_batch(events), INVOKE_BUDGET);
        let answer = match self.runtime.outcome(&id, ANSWER_WAIT).await {
            Some(Outcome::Response(body)) => {
                serde_json::from_slice::<Value>(&body).context("the batch answer is not JSON")?
            }
            Some(other) => return Err(format!("the Lambda invocation failed: {other:?}").into()),
            None => return Err(format!("no Lambda answer within {ANSWER_WAIT:?}").into()),
        };
        println!("    the factory answers {answer}");
        batch_failures(&answer)
            .ok_or_else(|| format!("not a partial batch response: {answer}").into())
    }

    /// What the factory signs in to Entra with: a web identity token from STS, asked for
    /// as its execution role.
    async fn factory_assertion(&self) -> Result<String> {
        let answer = aws_sdk_sts::Client::new(&self.factory_aws)
            .get_web_identity_token()
            .audience(TOKEN_EXCHANGE_AUDIENCE)
            .signing_algorithm("RS256")
            .send()
            .await
            .context("asking STS for a web identity token as the factory")?;
        Ok(answer
            .web_identity_token()
            .ok_or("GetWebIdentityToken returned no token")?
            .to_owned())
    }

    /// A GitHub Actions OIDC token for a job of `subject`, as GitHub signs it.
    fn github_job_token(&self, subject: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        self.github.sign(&json!({
            "iss": GITHUB_ISSUER,
            "sub": subject,
            "aud": "api://AzureADTokenExchange",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }))
    }

    /// Asks Entra for `scope` with `credentials`, then STS for `role_arn` with that token.
    async fn attempt(
        &self,
        role_arn: &str,
        scope: &str,
        credentials: &[(&str, &str)],
    ) -> Result<Attempt> {
        let (addr, _) = split_http_url(self.graph.url()).ok_or("the emulator is not http")?;
        let mut form = vec![("scope", scope), ("grant_type", "client_credentials")];
        form.extend_from_slice(credentials);
        let body = form
            .iter()
            .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&");
        let answer = http::request(
            addr,
            "POST",
            &format!("/{}/oauth2/v2.0/token", self.facts.tenant),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
        .await
        .context("asking Entra for a token")?;
        let answer = answer.json().context("Entra's answer is not JSON")?;
        let Some(token) = answer["access_token"].as_str() else {
            let why = answer["error_description"].as_str().unwrap_or_default();
            return Ok(Attempt::EntraRefused(
                why.split(" Trace ID").next().unwrap_or(why).to_owned(),
            ));
        };
        let exchanged = aws_sdk_sts::Client::new(&self.accounts[0].config)
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name("github-actions")
            .web_identity_token(token)
            .send()
            .await;
        Ok(match exchanged {
            Ok(session) => Attempt::Admitted {
                arn: session
                    .assumed_role_user()
                    .map(|u| u.arn().to_owned())
                    .unwrap_or_default(),
                subject: session
                    .subject_from_web_identity_token()
                    .unwrap_or_default()
                    .to_owned(),
            },
            Err(error) => Attempt::StsRefused(format!(
                "{}: {}",
                error.code().unwrap_or("no error code"),
                error.message().unwrap_or_default()
            )),
        })
    }

    /// Invokes the factory with `event` and returns the body CloudFormation reads.
    async fn send(&self, event: &Value) -> Result<Value> {
        let before = self.endpoint.requests().len();
        let id = self.runtime.invoke(event, INVOKE_BUDGET);
        match self.runtime.outcome(&id, ANSWER_WAIT).await {
            Some(Outcome::Response(_)) => {}
            Some(other) => return Err(format!("the Lambda invocation failed: {other:?}").into()),
            None => return Err(format!("no Lambda answer within {ANSWER_WAIT:?}").into()),
        }
        if !self
            .endpoint
            .wait_for_requests(before + 1, Duration::from_secs(5))
            .await
        {
            return Err("the factory sent CloudFormation no response".into());
        }
        let requests = self.endpoint.requests();
        if requests.len() != before + 1 {
            return Err(format!(
                "the factory sent CloudFormation {} responses, not one",
                requests.len() - before
            )
            .into());
        }
        requests[before]
            .json()
            .context("the response body is not JSON")
    }

    /// Both clouds as they are now.
    async fn state(&self) -> Result<State> {
        let mut accounts = Vec::new();
        for view in &self.accounts {
            accounts.push(account_state(view).await?);
        }
        Ok(State {
            accounts,
            entra: self.graph.snapshot(),
        })
    }

    /// The factory's logs hold no token (a JWT's header starts with `eyJ`, base64 of
    /// `{"`) and no response URL's signature.
    fn logs_hold_no_token(&self) -> Check {
        let logs = self.process.logs();
        Check::new(
            "the factory's logs hold no token (no JWT of STS or Entra) and not the response URLs' signature",
            !logs.is_empty() && !logs.contains("eyJ") && !logs.contains(self.endpoint.signature()),
        )
    }

    /// The factory ran without any secret: none configured, none stored, none used.
    async fn secretless_checks(&self) -> Result<Vec<Check>> {
        let mut stored = Vec::new();
        for view in &self.accounts {
            let listed = aws_sdk_secretsmanager::Client::new(&view.config)
                .list_secrets()
                .send()
                .await
                .context(format!("listing the secrets of {}", view.id))?;
            stored.extend(
                listed
                    .secret_list()
                    .iter()
                    .filter_map(|s| s.arn())
                    .map(str::to_owned),
            );
        }
        let logs = self.process.logs();
        let sign_ins: Vec<&str> = logs
            .lines()
            .filter(|line| line.contains("signed in to Entra ID"))
            .collect();
        Ok(vec![
            Check::new(
                "the factory's environment names no ENTRA_CREDENTIALS_SECRET_ARN",
                self.env("ENTRA_CREDENTIALS_SECRET_ARN").is_none(),
            ),
            Check::none(
                "Secrets Manager holds no secret in the hub or a member account",
                &stored,
            ),
            Check::new(
                format!(
                    "the factory signed in to Entra {} time(s), each with a web identity token from STS (credential \"federated\"), never with a secret",
                    sign_ins.len()
                ),
                !sign_ins.is_empty()
                    && sign_ins
                        .iter()
                        .all(|line| line.contains(r#""credential":"federated""#)),
            ),
        ])
    }

    fn log_tail(&self, lines: usize) -> String {
        let logs = self.process.logs();
        let all: Vec<&str> = logs.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops the factory, then (on drop) every server.
    async fn stop(mut self) {
        self.process.kill().await;
    }
}

// ---------------------------------------------------------------------------------------
// Setting up moto
// ---------------------------------------------------------------------------------------

fn moto_root_credentials() -> Credentials {
    Credentials::new(MOTO_ROOT_KEY, "secret", None, None, "demo")
}

/// The hub Lambda's execution role: the subject of its web identity tokens.
fn factory_role_arn() -> String {
    format!("arn:aws:iam::{HUB}:role/{FACTORY_ROLE}")
}

/// The hub and the two members (hub first), with what the hub stack and the member
/// StackSet deploy, and member B's hand-made provider for the tenant's issuer.
async fn set_up_organisation(
    root: &SdkConfig,
    endpoint: &str,
    tenant: &str,
) -> Result<Vec<AccountView>> {
    let mut accounts = Vec::new();
    let member_plumbing: &[&str] = &[MEMBER_ROLE, SERVICE_TOKEN_STAND_IN];
    for (label, id, plumbing) in [
        ("hub (federation factory)", HUB, &[FACTORY_ROLE][..]),
        ("member A", MEMBER_A, member_plumbing),
        ("member B", MEMBER_B, member_plumbing),
    ] {
        let credentials = assume(root, id, "OrganizationAccountAccessRole", "demo").await?;
        let access_key = credentials.access_key_id().to_owned();
        let config = moto_sdk(endpoint, credentials).await;
        accounts.push(AccountView {
            label,
            id,
            iam: aws_sdk_iam::Client::new(&config),
            config,
            access_key,
            plumbing,
        });
    }
    let [hub, member_a, member_b] = accounts.as_slice() else {
        unreachable!("three accounts")
    };
    deploy_plumbing(hub, &[member_a, member_b]).await?;
    hand_made_provider(member_b, tenant).await?;
    Ok(accounts)
}

/// The existing CI app the story trusts (the factory app has no client secret).
fn set_up_tenant(graph: &GraphEmulator) -> Result<Facts> {
    let foreign = graph.seed_foreign_application("existing CI app", true);
    let snapshot = graph.snapshot();
    Ok(Facts {
        tenant: graph.tenant_id(),
        factory_client_id: graph.factory_client_id(),
        foreign_app: snapshot
            .applications
            .iter()
            .find(|a| a.app_id == foreign.app_id)
            .cloned()
            .ok_or("the seeded app is missing")?,
        foreign_sp: snapshot.service_principal(&foreign.app_id).cloned(),
        foreign,
    })
}

/// The member stacks, as CloudFormation creates them: each custom resource waits in
/// `CREATE_IN_PROGRESS` for its Create.
async fn create_workload_stacks(
    endpoint: &str,
    accounts: &[AccountView],
) -> Result<WorkloadStacks> {
    let [_, member_a, member_b] = accounts else {
        unreachable!("three accounts")
    };
    let mut web = workload_template(endpoint, member_a, WEB_ROLE_ID).await?;
    web["Resources"][WEB_QUEUE_ID] = json!({"Type": "AWS::SQS::Queue"});
    let payments = workload_template(endpoint, member_b, PAYMENTS_ROLE_ID).await?;
    Ok(WorkloadStacks {
        web: Stack::create(&member_a.config, endpoint, WEB_STACK, &web).await?,
        payments: Stack::create(&member_b.config, endpoint, PAYMENTS_STACK, &payments).await?,
    })
}

/// A template with our resource `logical_id`. Its `ServiceToken` is a function of
/// `account`'s own: moto invokes none, and looks for it in the stack's account.
async fn workload_template(
    endpoint: &str,
    account: &AccountView,
    logical_id: &str,
) -> Result<Value> {
    let function = stacks::service_token_function(
        &account.config,
        endpoint,
        &account.access_key,
        SERVICE_TOKEN_STAND_IN,
    )
    .await?;
    Ok(Stack::template(&function, &[logical_id]))
}

/// What the hub stack and the member StackSet deploy: the Lambda's execution role in the
/// hub and, in each member, the role the factory assumes and the permissions boundary
/// every role it makes must carry.
async fn deploy_plumbing(hub: &AccountView, members: &[&AccountView]) -> Result<()> {
    let lambda_trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    });
    create_role(
        hub,
        FACTORY_ROLE,
        &lambda_trust,
        "The federation factory's Lambda",
    )
    .await?;
    let member_trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": factory_role_arn()},
            "Action": "sts:AssumeRole"
        }]
    });
    for member in members {
        create_role(
            member,
            MEMBER_ROLE,
            &member_trust,
            "Lets the federation factory manage Entra-federated roles",
        )
        .await?;
        create_boundary(member).await?;
    }
    Ok(())
}

/// The shipped boundary (`member-role.yaml`, `BoundaryPolicy`), its main statements: no
/// identity, role chaining, Organizations or account administration.
async fn create_boundary(account: &AccountView) -> Result<()> {
    let document = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AllowAllButIdentityAndAccountAdministration", "Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
            {"Sid": "AllowIamReadOnly", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
            {"Sid": "DenyPassRole", "Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"},
            {"Sid": "DenyRoleChaining", "Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"},
            {"Sid": "DenyOrganizationsAndAccount", "Effect": "Deny", "Action": ["organizations:*", "account:*"], "Resource": "*"}
        ]
    });
    account
        .iam
        .create_policy()
        .policy_name(BOUNDARY_POLICY)
        .policy_document(document.to_string())
        .description("Permissions boundary of the roles entra-federated-role makes")
        .send()
        .await
        .context(format!("creating {BOUNDARY_POLICY} in {}", account.id))?;
    Ok(())
}

async fn create_role(
    account: &AccountView,
    name: &str,
    trust: &Value,
    description: &str,
) -> Result<()> {
    account
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .description(description)
        .send()
        .await
        .context(format!("creating role {name} in {}", account.id))?;
    Ok(())
}

/// The provider someone made by hand in `account`, for the factory to adopt.
async fn hand_made_provider(account: &AccountView, tenant: &str) -> Result<()> {
    account
        .iam
        .create_open_id_connect_provider()
        .url(format!("https://sts.windows.net/{tenant}/"))
        .client_id_list(LEGACY_AUDIENCE)
        .thumbprint_list("626d44e704d1ceabe3bf0d53397464ac8080142c")
        .send()
        .await
        .context(format!("creating the existing provider in {}", account.id))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading the state of both clouds
// ---------------------------------------------------------------------------------------

struct State {
    accounts: Vec<AccountState>,
    entra: Snapshot,
}

impl State {
    fn account(&self, id: &str) -> &AccountState {
        self.accounts
            .iter()
            .find(|a| a.id == id)
            .expect("the demo only asks for its own accounts")
    }

    fn application(&self, app_id: &str) -> Option<&Application> {
        self.entra.applications.iter().find(|a| a.app_id == app_id)
    }

    fn factory_applications(&self) -> impl Iterator<Item = &Application> {
        self.entra
            .applications
            .iter()
            .filter(|a| a.created_by_factory)
    }

    /// The display name of the service principal with object id `id`.
    fn principal_name(&self, id: &str) -> Option<&str> {
        self.entra
            .service_principals
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.display_name.as_str())
    }
}

#[derive(PartialEq)]
struct AccountState {
    label: &'static str,
    id: &'static str,
    plumbing: &'static [&'static str],
    providers: Vec<ProviderState>,
    roles: Vec<RoleState>,
}

impl AccountState {
    fn role(&self, name: &str) -> Option<&RoleState> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// The roles the factory made.
    fn ours(&self) -> impl Iterator<Item = &RoleState> {
        self.roles.iter().filter(|r| r.ours())
    }

    fn provider(&self, arn: &str) -> Option<&ProviderState> {
        self.providers.iter().find(|p| p.arn == arn)
    }
}

#[derive(PartialEq)]
struct ProviderState {
    arn: String,
    url: String,
    audiences: Vec<String>,
    ours: bool,
}

#[derive(PartialEq)]
struct RoleState {
    name: String,
    path: String,
    arn: String,
    boundary: Option<String>,
    description: Option<String>,
    max_session: Option<i32>,
    trust: Trust,
    managed_policies: Vec<String>,
    inline_policies: Vec<String>,
    tags: Vec<(String, String)>,
}

impl RoleState {
    fn ours(&self) -> bool {
        self.tags
            .iter()
            .any(|(k, _)| k.starts_with(OWNERSHIP_TAG_PREFIX))
    }

    fn user_tags(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tags
            .iter()
            .filter(|(k, _)| !k.starts_with(OWNERSHIP_TAG_PREFIX))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn generation(&self) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k.as_str() == "entra-federated-role:generation")
            .map(|(_, v)| v.as_str())
    }
}

/// What a role's trust policy says, statement by statement merged.
#[derive(Default, PartialEq)]
struct Trust {
    federated: Vec<String>,
    actions: Vec<String>,
    aud: Vec<String>,
    sub: Vec<String>,
    /// Any other condition, as `operator key = values`.
    other: Vec<String>,
}

impl Trust {
    /// Parses a trust policy as IAM returns it (URL-encoded JSON).
    fn parse(encoded: &str) -> Self {
        let text = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
        let policy: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut trust = Self::default();
        let statements = match &policy["Statement"] {
            Value::Array(list) => list.clone(),
            one => vec![one.clone()],
        };
        for statement in &statements {
            trust
                .federated
                .extend(strings(&statement["Principal"]["Federated"]));
            trust
                .federated
                .extend(strings(&statement["Principal"]["AWS"]));
            trust
                .federated
                .extend(strings(&statement["Principal"]["Service"]));
            trust.actions.extend(strings(&statement["Action"]));
            let Some(conditions) = statement["Condition"].as_object() else {
                continue;
            };
            for (operator, keys) in conditions {
                for (key, values) in keys.as_object().into_iter().flatten() {
                    let values = strings(values);
                    if operator == "StringEquals" && key.ends_with(":aud") {
                        trust.aud.extend(values);
                    } else if operator == "StringEquals" && key.ends_with(":sub") {
                        trust.sub.extend(values);
                    } else {
                        trust
                            .other
                            .push(format!("{operator} {key} = {}", values.join(", ")));
                    }
                }
            }
        }
        trust
    }
}

async fn account_state(view: &AccountView) -> Result<AccountState> {
    let iam = &view.iam;
    let listed = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .context(format!("listing OIDC providers in {}", view.id))?;
    let mut providers = Vec::new();
    for arn in listed
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
    {
        providers.push(provider_state(iam, arn).await?);
    }
    let listed = iam
        .list_roles()
        .send()
        .await
        .context(format!("listing roles in {}", view.id))?;
    let mut roles = Vec::new();
    for name in listed.roles().iter().map(|r| r.role_name()) {
        roles.push(role_state(iam, name).await?);
    }
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(AccountState {
        label: view.label,
        id: view.id,
        plumbing: view.plumbing,
        providers,
        roles,
    })
}

async fn provider_state(iam: &aws_sdk_iam::Client, arn: &str) -> Result<ProviderState> {
    let provider = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .context(format!("reading provider {arn}"))?;
    let url = provider.url().unwrap_or_default();
    Ok(ProviderState {
        arn: arn.to_owned(),
        // IAM returns the URL without its scheme.
        url: if url.starts_with("https://") {
            url.to_owned()
        } else {
            format!("https://{url}")
        },
        audiences: provider.client_id_list().to_vec(),
        ours: provider
            .tags()
            .iter()
            .any(|t| t.key().starts_with(OWNERSHIP_TAG_PREFIX)),
    })
}

async fn role_state(iam: &aws_sdk_iam::Client, name: &str) -> Result<RoleState> {
    let what = |doing: &str| format!("{doing} of role {name}");
    let role = iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .context(what("reading"))?
        .role
        .ok_or("GetRole returned no role")?;
    let tags = iam
        .list_role_tags()
        .role_name(name)
        .send()
        .await
        .context(what("listing the tags"))?;
    let managed = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .context(what("listing the managed policies"))?;
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .context(what("listing the inline policies"))?;
    Ok(RoleState {
        name: name.to_owned(),
        path: role.path().to_owned(),
        arn: role.arn().to_owned(),
        boundary: role
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .map(str::to_owned),
        description: role.description().map(str::to_owned),
        max_session: role.max_session_duration(),
        trust: Trust::parse(role.assume_role_policy_document().unwrap_or_default()),
        managed_policies: managed
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect(),
        inline_policies: inline.policy_names().to_vec(),
        tags: tags
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

/// One expectation and whether it held.
struct Check {
    what: String,
    ok: bool,
}

impl Check {
    fn new(what: impl Into<String>, ok: bool) -> Self {
        Self {
            what: what.into(),
            ok,
        }
    }

    /// Passes when `problems` is empty, else names them.
    fn none(what: impl Into<String>, problems: &[String]) -> Self {
        let what = what.into();
        if problems.is_empty() {
            Self::new(what, true)
        } else {
            Self::new(format!("{what}: {}", problems.join("; ")), false)
        }
    }
}

/// Prints `checks`; an error naming the failed ones, if any.
fn report(checks: &[Check]) -> Result<()> {
    println!("  Checks");
    for check in checks {
        println!(
            "    {} {}",
            if check.ok { "ok  " } else { "FAIL" },
            check.what
        );
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.what.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} check(s) failed: {}", failed.len(), failed.join(" | ")).into())
    }
}

/// Both clouds hold exactly what CloudFormation believes exists.
fn ledger_checks(state: &State, ledger: &Ledger) -> Vec<Check> {
    let mut checks: Vec<Check> = ledger
        .live()
        .map(|(account, made)| {
            Check::none(
                format!(
                    "{} is in place: role (under {ROLE_PATH_PREFIX}, with the boundary), trust (aud and sub), provider audience, Entra app and service principal",
                    attr(&made.data, "RoleName")
                ),
                &live_problems(state, account, &made.data),
            )
        })
        .collect();
    checks.extend(ledger.gone.iter().map(|(account, made)| {
        Check::none(
            format!(
                "deleted {} is gone: role, audience, Entra app and service principal, purged",
                attr(&made.data, "RoleName")
            ),
            &gone_problems(state, account, &made.data),
        )
    }));
    checks
}

/// What is missing or wrong of a live generation whose `Data` is `data`.
fn live_problems(state: &State, account: &str, data: &Value) -> Vec<String> {
    let account = state.account(account);
    let (name, audience, sp) = (
        attr(data, "RoleName"),
        attr(data, "Audience"),
        attr(data, "ServicePrincipalId"),
    );
    let mut problems = Vec::new();
    match account.role(name) {
        None => problems.push(format!("no role {name} in {}", account.id)),
        Some(role) => {
            if role.trust.aud != [audience] {
                problems.push(format!("trust aud is {:?}", role.trust.aud));
            }
            if !role.trust.sub.iter().any(|s| s == sp) {
                problems.push("the app's service principal is not in the trust's sub".to_owned());
            }
            if role.trust.federated != [attr(data, "OidcProviderArn")] {
                problems.push(format!("trust principal is {:?}", role.trust.federated));
            }
            if !role.ours() {
                problems.push("the role carries no ownership tags".to_owned());
            }
            if !role.path.starts_with(ROLE_PATH_PREFIX) {
                problems.push(format!("the role's path is {}", role.path));
            }
            if role.boundary != Some(boundary_arn(account.id)) {
                problems.push(format!("the role's boundary is {:?}", role.boundary));
            }
        }
    }
    match account.provider(attr(data, "OidcProviderArn")) {
        None => problems.push("no OIDC provider".to_owned()),
        Some(provider) if !provider.audiences.iter().any(|a| a == audience) => {
            problems.push(format!("the provider lacks {audience}"));
        }
        Some(_) => {}
    }
    let app_id = attr(data, "ApplicationId");
    match state.application(app_id) {
        None => problems.push(format!("no Entra app {app_id}")),
        Some(app) if !app.created_by_factory => {
            problems.push("the app is not the factory's".to_owned())
        }
        Some(_) => {}
    }
    if state.entra.service_principal(app_id).map(|s| s.id.as_str()) != Some(sp) {
        problems.push("the app's service principal is not the one reported".to_owned());
    }
    problems
}

/// What is left of a deleted generation whose `Data` was `data`.
fn gone_problems(state: &State, account: &str, data: &Value) -> Vec<String> {
    let account = state.account(account);
    let (name, audience, app_id) = (
        attr(data, "RoleName"),
        attr(data, "Audience"),
        attr(data, "ApplicationId"),
    );
    let mut problems = Vec::new();
    if account.role(name).is_some() {
        problems.push(format!("role {name} still exists"));
    }
    if account
        .providers
        .iter()
        .any(|p| p.audiences.iter().any(|a| a == audience))
    {
        problems.push(format!("{audience} is still a provider audience"));
    }
    if state.application(app_id).is_some() {
        problems.push(format!("app {app_id} still exists"));
    }
    if state.entra.service_principal(app_id).is_some() {
        problems.push("its service principal still exists".to_owned());
    }
    if state
        .entra
        .deleted_items
        .iter()
        .any(|d| deleted_app_id(&d.object) == app_id)
    {
        problems.push("it is still in deletedItems (not purged)".to_owned());
    }
    problems
}

/// The final check: nothing of the factory's anywhere, everything else untouched.
fn nothing_left_behind(facts: &Facts, state: &State, ledger: &Ledger) -> Vec<Check> {
    let mut checks = vec![Check::new(
        "CloudFormation believes nothing exists any more",
        ledger.live().next().is_none(),
    )];
    for account in &state.accounts {
        let names: Vec<&str> = account.roles.iter().map(|r| r.name.as_str()).collect();
        let mut plumbing = account.plumbing.to_vec();
        plumbing.sort_unstable();
        checks.push(Check::new(
            format!(
                "{} {}: only {} left of the roles (no role of ours)",
                account.label,
                account.id,
                list(&plumbing)
            ),
            names == plumbing,
        ));
        let providers_ok = match account.id {
            MEMBER_B => {
                account.providers.len() == 1
                    && !account.providers[0].ours
                    && account.providers[0].audiences == [LEGACY_AUDIENCE]
            }
            _ => account.providers.is_empty(),
        };
        checks.push(Check::new(
            format!(
                "{} {}: {}",
                account.label,
                account.id,
                if account.id == MEMBER_B {
                    "only the adopted provider, with only its own audience"
                } else {
                    "no OIDC provider"
                }
            ),
            providers_ok,
        ));
    }
    let entra = &state.entra;
    checks.extend([
        Check::new(
            "Entra: no application of the factory's",
            !entra.applications.iter().any(|a| a.created_by_factory),
        ),
        Check::new(
            "Entra: no service principal of the factory's",
            !entra
                .service_principals
                .iter()
                .any(|s| s.created_by_factory),
        ),
        Check::new(
            "Entra: no deleted item of the factory's (all purged)",
            !entra
                .deleted_items
                .iter()
                .any(|d| deleted_by_factory(&d.object)),
        ),
        Check::new(
            "Entra: the existing CI app and its service principal are exactly as they were",
            state.application(&facts.foreign.app_id) == Some(&facts.foreign_app)
                && entra.service_principal(&facts.foreign.app_id) == facts.foreign_sp.as_ref(),
        ),
    ]);
    checks
}

fn deleted_app_id(object: &DeletedObject) -> &str {
    match object {
        DeletedObject::Application(a) => &a.app_id,
        DeletedObject::ServicePrincipal(s) => &s.app_id,
    }
}

fn deleted_by_factory(object: &DeletedObject) -> bool {
    match object {
        DeletedObject::Application(a) => a.created_by_factory,
        DeletedObject::ServicePrincipal(s) => s.created_by_factory,
    }
}

// ---------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------

fn banner(title: &str) {
    println!("{title}\n{}", "=".repeat(title.len()));
}

fn section(title: &str) {
    println!("\n{title}\n{}", "-".repeat(title.chars().count()));
}

fn item(what: &str, value: &str) {
    println!("  {what:<40} {value}");
}

fn print_request(resource: &Resource, request: &Request, event: &Value) {
    let sender = match request {
        Request::Forged { .. } => format!("Forged in member B {MEMBER_B}, sent to the factory"),
        _ => "CloudFormation sends".to_owned(),
    };
    println!(
        "  {sender}: {} of {} in stack {} (member {} {})",
        request.kind(),
        resource.logical_id(request),
        stack_name(&resource.stack.id),
        resource.label,
        resource.account
    );
    if let Some(id) = event["PhysicalResourceId"].as_str() {
        println!("    PhysicalResourceId {id}");
    }
    if let Request::Forged { .. } = request {
        println!(
            "    ResourceType {} (what the event claims)",
            event["ResourceType"].as_str().unwrap_or_default()
        );
    }
    let properties = properties_shown(request.properties());
    match request {
        Request::Create(_) | Request::Forged { .. } => {
            println!("    properties (ServiceToken and ServiceTimeout aside)");
            for (key, value) in &properties {
                print_property(key, value);
            }
        }
        Request::Update { old, new, .. } => {
            let changed = changed_keys(old, new);
            println!("    changed properties, new values");
            for (key, value) in properties.iter().filter(|(k, _)| changed.contains(k)) {
                print_property(key, value);
            }
            for key in changed.iter().filter(|k| !properties.contains_key(*k)) {
                println!("      {key:<22} (removed)");
            }
            let same: Vec<&str> = properties
                .keys()
                .filter(|k| !changed.contains(k))
                .map(String::as_str)
                .collect();
            println!("    unchanged: {}", list(&same));
        }
        Request::Delete { .. } => println!(
            "    with that generation's properties: {}",
            list(&properties.keys().collect::<Vec<_>>())
        ),
    }
}

/// The properties a user wrote (CloudFormation's own `ServiceToken` and `ServiceTimeout`
/// left out).
fn properties_shown(properties: &Value) -> serde_json::Map<String, Value> {
    let mut shown = properties.as_object().cloned().unwrap_or_default();
    shown.remove("ServiceToken");
    shown.remove("ServiceTimeout");
    shown
}

/// One property: a scalar on its line, a list one item per line.
fn print_property(key: &str, value: &Value) {
    match value {
        Value::Array(items) if !items.is_empty() => {
            println!("      {key}");
            for item in items {
                println!("        - {}", compact(item));
            }
        }
        other => println!("      {key:<22} {}", compact(other)),
    }
}

/// A string as is, anything else as compact JSON.
fn compact(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn print_answer(answer: &Value) {
    println!("  CloudFormation reads:");
    println!(
        "    Status              {}",
        answer["Status"].as_str().unwrap_or("?")
    );
    println!(
        "    PhysicalResourceId  {}",
        answer["PhysicalResourceId"].as_str().unwrap_or("?")
    );
    if let Some(reason) = answer["Reason"].as_str() {
        println!("    Reason              {reason}");
    }
    let Some(data) = answer["Data"].as_object().filter(|d| !d.is_empty()) else {
        println!("    Data                none");
        return;
    };
    println!("    Data");
    let others = data.keys().filter(|k| !ATTRIBUTES.contains(&k.as_str()));
    for key in ATTRIBUTES.iter().copied().chain(others.map(String::as_str)) {
        if let Some(value) = data.get(key) {
            println!(
                "      {key:<20} {}",
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned)
            );
        }
    }
}

fn print_state(state: &State, facts: &Facts) {
    println!("  State afterwards");
    for account in &state.accounts {
        print_account(account, state);
    }
    print_entra(state, facts);
}

fn print_account(account: &AccountState, state: &State) {
    println!("    AWS {} {}", account.label, account.id);
    if account.providers.is_empty() {
        println!("      OIDC providers: none");
    }
    for provider in &account.providers {
        println!(
            "      OIDC provider {} ({})",
            provider.url,
            if provider.ours {
                "created by the factory"
            } else {
                "not the factory's: adopted"
            }
        );
        println!("        audiences: {}", list(&provider.audiences));
    }
    for role in account.ours() {
        print_role(role, state);
    }
    let others: Vec<&str> = account
        .roles
        .iter()
        .filter(|r| !r.ours())
        .map(|r| r.name.as_str())
        .collect();
    println!("      other roles (not the factory's): {}", list(&others));
}

fn print_role(role: &RoleState, state: &State) {
    println!(
        "      role {} (the factory's, generation {})",
        role.name,
        role.generation().unwrap_or("?")
    );
    println!("        arn          {}", role.arn);
    println!(
        "        boundary     {}",
        role.boundary.as_deref().unwrap_or("none")
    );
    println!(
        "        description  {}",
        role.description.as_deref().unwrap_or("-")
    );
    println!(
        "        max session  {}s",
        role.max_session
            .map_or_else(|| "?".to_owned(), |s| s.to_string())
    );
    println!(
        "        trust        {} by {}",
        list(&role.trust.actions),
        list(&role.trust.federated)
    );
    println!("          aud = {}", list(&role.trust.aud));
    for sub in &role.trust.sub {
        let who = state
            .principal_name(sub)
            .unwrap_or("unknown service principal");
        println!("          sub = {sub}  (service principal of \"{who}\")");
    }
    for other in &role.trust.other {
        println!("          {other}");
    }
    println!("        managed policies  {}", list(&role.managed_policies));
    println!("        inline policies   {}", list(&role.inline_policies));
    let tags: Vec<String> = role.user_tags().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "        tags              {} (+ the factory's ownership tags)",
        list(&tags)
    );
}

fn print_entra(state: &State, facts: &Facts) {
    println!("    Entra ID tenant {}", facts.tenant);
    let mut ours = state.factory_applications().peekable();
    if ours.peek().is_none() {
        println!("      applications made by the factory: none");
    }
    for app in ours {
        print_application(app, state);
    }
    for app in state
        .entra
        .applications
        .iter()
        .filter(|a| !a.created_by_factory && a.app_id != facts.factory_client_id)
    {
        let sp = state.entra.service_principal(&app.app_id);
        println!(
            "      not the factory's: \"{}\" appId {}, service principal {}",
            app.display_name,
            app.app_id,
            sp.map_or("none", |s| s.id.as_str())
        );
    }
    let deleted: Vec<String> = state
        .entra
        .deleted_items
        .iter()
        .filter(|d| deleted_by_factory(&d.object))
        .map(|d| format!("{} ({})", d.id(), deleted_app_id(&d.object)))
        .collect();
    println!("      deleted items of the factory's: {}", list(&deleted));
}

fn print_application(app: &Application, state: &State) {
    println!("      application \"{}\"", app.display_name);
    println!("        appId            {}", app.app_id);
    println!("        object id        {}", app.id);
    println!(
        "        uniqueName       {}",
        app.unique_name.as_deref().unwrap_or("-")
    );
    println!("        identifier URIs  {}", list(&app.identifier_uris));
    if app.federated_identity_credentials.is_empty() {
        println!("        federated credentials: none");
    } else {
        println!("        federated credentials");
    }
    for credential in &app.federated_identity_credentials {
        println!(
            "          {}: issuer {}, subject {}, audiences {}",
            credential.name,
            credential.issuer,
            credential.subject,
            list(&credential.audiences)
        );
    }
    match state.entra.service_principal(&app.app_id) {
        Some(sp) => println!(
            "        service principal {} (assignment required: {})",
            sp.id,
            if sp.app_role_assignment_required {
                "yes"
            } else {
                "no"
            }
        ),
        None => println!("        service principal: none"),
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/// A `Data` attribute as a string ("" when absent).
fn attr<'a>(data: &'a Value, key: &str) -> &'a str {
    data[key].as_str().unwrap_or_default()
}

/// A string or a list of strings, as a list.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

fn list(items: &[impl AsRef<str>]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn credential_names(app: &Application) -> Vec<&str> {
    let mut names: Vec<&str> = app
        .federated_identity_credentials
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    names.sort_unstable();
    names
}

/// Top-level properties that differ between `old` and `new`.
fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (old, new) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn stack_name(stack_id: &str) -> &str {
    stack_id.split('/').nth(1).unwrap_or(stack_id)
}

/// A random GUID-shaped id (request ids).
fn uuid_like() -> String {
    let hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
            .collect()
    };
    format!("{}-{}-4{}-a{}-{}", hex(8), hex(4), hex(3), hex(3), hex(12))
}

/// An error with its whole `source` chain (SDK errors keep the useful part there).
fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// `context` for results, naming what was being done.
trait Context<T> {
    fn context(self, doing: impl Display) -> Result<T>;
}

impl<T, E: Error> Context<T> for std::result::Result<T, E> {
    fn context(self, doing: impl Display) -> Result<T> {
        self.map_err(|error| format!("{doing}: {}", chain(&error)).into())
    }
}
