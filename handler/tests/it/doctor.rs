//! The doctor through the real `entra-federated-role` binary and the factory's own
//! doctor mode, on deployments the tests set up on moto and the Graph emulator: a good
//! one, and broken ones, told apart line by line.

use std::time::Duration;

use aws_config::SdkConfig;
use entra_federated_role_harness::{factory::store_client_secret, runtime_api::Outcome};
use serde_json::{Value, json};

use crate::audit::{MEMBER_ROLE, Tool, UNREACHABLE, member_with_role};
use crate::lifecycle::Factory;
use crate::moto_support::{account_config, fresh_account, random_account};

const PARAMETER: &str = "/entra-federated-role/service-token";

fn function_arn(hub: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{hub}:function:entra-federated-role")
}

/// Writes the ServiceToken parameter in `sdk`'s account, as member-role.yaml does.
async fn service_token_parameter(sdk: &SdkConfig, value: &str) {
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(PARAMETER)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
}

/// A member account as member-role.yaml leaves it, with a role the factory made (so its
/// provider exists).
async fn good_member(factory: &Factory, hub: &str) -> String {
    let (member, sdk, _) = member_with_role(factory, "doctor-web").await;
    service_token_parameter(&sdk, &function_arn(hub)).await;
    member
}

/// Each line's mark and name, as printed.
fn lines(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter(|line| !line.starts_with("    "))
        .map(|line| {
            let (mark, rest) = line.split_once(' ').unwrap();
            let name = rest.split_once(": ").map_or(rest, |(name, _)| name);
            (mark.to_owned(), name.to_owned())
        })
        .collect()
}

fn line(mark: &str, name: &str) -> (String, String) {
    (mark.to_owned(), name.to_owned())
}

#[tokio::test]
async fn a_good_deployment_passes_every_check() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[MEMBER_ROLE]).await;
    factory
        .graph
        .configure(|settings| settings.app_role_assignment_permission = true);
    let member = good_member(&factory, &hub).await;
    let tool = Tool::for_factory(&factory).await;

    let run = tool.run(&["doctor", "--account", &member]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        lines(&run.stdout),
        [
            line("✓", "entra sign-in"),
            line("✓", "graph permissions"),
            line("✓", "object quota"),
            line("✓", &format!("member role in {member}")),
            line(
                "✓",
                &format!("member role allows the factory's calls in {member}")
            ),
            line("✓", &format!("provider in {member}")),
            line("✓", &format!("ServiceToken parameter in {member}")),
        ],
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("holds 1 of 100 client ids; made by the factory"),
        "{}",
        run.stdout
    );
    // Nothing was changed: the provider still holds exactly the role's audience.
    let json = tool
        .run(&["doctor", "--account", &member, "--format", "json"])
        .await;
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["healthy"], true);
    assert!(
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["fix"].is_null())
    );
}

#[tokio::test]
async fn a_broken_deployment_is_told_apart_line_by_line() {
    let (hub, hub_sdk) = fresh_account().await;
    let factory = Factory::start(&hub, &[MEMBER_ROLE]).await;
    // The factory lost Application.ReadWrite.OwnedBy.
    factory
        .graph
        .configure(|settings| settings.owned_by_permission = false);
    // An account whose stacks read another factory's ServiceToken, and one without it.
    let (elsewhere, missing) = (random_account(), random_account());
    service_token_parameter(
        &account_config(&elsewhere).await,
        "arn:aws:lambda:us-east-1:444444444444:function:someone-else",
    )
    .await;
    let tool = Tool::for_factory(&factory).await;

    let run = tool
        .run(&[
            "doctor",
            "--account",
            UNREACHABLE,
            "--account",
            &elsewhere,
            "--account",
            &missing,
        ])
        .await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let mut expected = vec![
        line("✓", "entra sign-in"),
        line("✗", "graph permissions"),
        line("✓", "object quota"),
    ];
    for account in [&elsewhere, &missing] {
        expected.extend([
            line("✓", &format!("member role in {account}")),
            line(
                "✓",
                &format!("member role allows the factory's calls in {account}"),
            ),
            line("✓", &format!("provider in {account}")),
            line("✗", &format!("ServiceToken parameter in {account}")),
        ]);
    }
    expected.push(line("✗", &format!("member role in {UNREACHABLE}")));
    let mut printed = lines(&run.stdout);
    // Accounts come in order of their ids; compare as sets of lines per account.
    printed.sort();
    expected.sort();
    assert_eq!(printed, expected, "{}", run.stdout);
    for text in [
        "Application.ReadWrite.OwnedBy is not granted",
        "fix: grant the factory's app the application permission Application.ReadWrite.OwnedBy",
        "names arn:aws:lambda:us-east-1:444444444444:function:someone-else, not this factory",
        &format!("{PARAMETER} does not exist in us-east-1"),
        "fix: deploy member-role.yaml to account",
        "AccessDenied",
    ] {
        assert!(run.stdout.contains(text), "{text:?} in\n{}", run.stdout);
    }

    // A wrong client secret: the sign-in fails, and says where to look.
    let wrong = store_client_secret(
        &hub_sdk,
        &format!("wrong-{}", fastrand::u32(..)),
        "not the secret",
    )
    .await
    .unwrap();
    let run = tool
        .run(&["doctor", "--credentials-secret-arn", &wrong])
        .await;
    assert_eq!(run.code, 1);
    assert_eq!(
        lines(&run.stdout)[0],
        line("✗", "entra sign-in"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("AADSTS"), "{}", run.stdout);
    assert!(
        run.stdout.contains("fix: see docs/troubleshooting.md"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_secretless_factory_is_checked_in_the_factory_itself() {
    let (hub, _) = fresh_account().await;
    let factory = Factory::start(&hub, &[MEMBER_ROLE]).await;
    let member = good_member(&factory, &hub).await;
    // Outside the factory, a secretless sign-in cannot be tried: it says where it can.
    let mut tool = Tool::for_factory(&factory).await;
    tool.env
        .retain(|(k, _)| k != "ENTRA_CREDENTIALS_SECRET_ARN");
    let run = tool.run(&["doctor", "--account", &member]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let printed = lines(&run.stdout);
    assert_eq!(printed[0], line("–", "entra sign-in"), "{}", run.stdout);
    assert_eq!(
        printed[1],
        line("✓", "outbound identity federation"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("fix: run the checks in the factory: aws lambda invoke"),
        "{}",
        run.stdout
    );
    // …for the accounts it was asked about.
    let payload = format!("\"accounts\":[\"{member}\"]");
    assert!(run.stdout.contains(&payload), "{}", run.stdout);

    // In the factory, the same checks run as the factory.
    let id = factory.runtime.invoke(
        &json!({"entra-federated-role": "doctor", "accounts": [member]}),
        Duration::from_secs(60),
    );
    let outcome = factory.runtime.outcome(&id, Duration::from_secs(70)).await;
    let Some(Outcome::Response(body)) = outcome else {
        panic!("{outcome:?}\n{}", factory.process.logs());
    };
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["healthy"], true, "{answer:#}");
    let checks = answer["checks"].as_array().unwrap();
    assert_eq!(checks[0]["name"], "entra sign-in");
    assert_eq!(checks[0]["status"], "pass");
    assert!(
        checks.iter().any(
            |c| c["name"] == format!("ServiceToken parameter in {member}") && c["status"] == "pass"
        ),
        "{answer:#}"
    );
}
