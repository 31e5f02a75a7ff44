"""The LZA package's service control policy: the organization-config entry validated
strictly against LZA's own schema, the policy file with LZA's policy replacements filled
in the way LZA fills them, and what the policy then denies and lets through."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from deploy_support import LZA, REPO, render, replacements, strict
from iam_policy import Decision, Request, evaluate

ORGANIZATION_FRAGMENT = LZA / "organization-config.yaml"
ORGANIZATION_SCHEMA = REPO / "tests" / "deploy" / "lza" / "organization-config.schema.json"
SCP = LZA / "service-control-policies" / "entra-federated-role.json"
# AWS Organizations' quota on a service control policy's size; LZA minifies the JSON.
MAX_SCP_CHARS = 5120

PREFIX = "AWSAccelerator"
ACCESS_ROLE = "AWSControlTowerExecution"
MEMBER = "222222222222"
FACTORY = "111111111111"


def lza_policy_replacements(text: str, partition: str = "aws") -> str:
    """What LZA does to a policy file before deploying it (utils/lib/policy-replacements.ts
    and accelerator-stack.ts `generatePolicyReplacements` of v1.15.5): every replacement of
    replacements-config.yaml as `${ACCEL_LOOKUP::CUSTOM:<key>}`, then the prefix, the
    management account access role and the partition; then the JSON minified."""
    for key, value in replacements().items():
        text = text.replace(f"${{ACCEL_LOOKUP::CUSTOM:{key}}}", value)
    for key, value in {
        "MANAGEMENT_ACCOUNT_ACCESS_ROLE": ACCESS_ROLE,
        "ACCELERATOR_PREFIX": PREFIX,
        "PARTITION": partition,
    }.items():
        text = text.replace(f"${{{key}}}", value)
    return json.dumps(json.loads(text), separators=(",", ":"))


def scp_statements(partition: str = "aws") -> list[dict]:
    return json.loads(lza_policy_replacements(SCP.read_text(encoding="utf-8"), partition))["Statement"]


def decide(request: Request, partition: str = "aws") -> Decision:
    """The decision under the SCP and AWS's FullAWSAccess beside it."""
    allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    return evaluate(request, scp_statements(partition) + [allow_all])


def by(principal: str) -> dict:
    return {"aws:PrincipalArn": f"arn:aws:iam::{MEMBER}:role/{principal}"}


FUNCTION = f"arn:aws:lambda:eu-west-1:{FACTORY}:function:entra-federated-role"


def test_the_entry_validates_strictly_against_lzas_schema() -> None:
    schema = json.loads(ORGANIZATION_SCHEMA.read_text(encoding="utf-8"))
    entry_schema = strict({"$ref": "#/definitions/IServiceControlPolicyConfig", "definitions": schema["definitions"]})
    document = yaml.safe_load(render(ORGANIZATION_FRAGMENT.read_text(encoding="utf-8"), replacements()))
    (entry,) = document["serviceControlPolicies"]
    errors = [e.message for e in jsonschema.Draft7Validator(entry_schema).iter_errors(entry)]
    assert errors == []
    assert (LZA / entry["policy"]).resolve() == SCP.resolve()
    misspelt = {**entry, "deploymentTarget": entry["deploymentTargets"]}
    assert list(jsonschema.Draft7Validator(entry_schema).iter_errors(misspelt)), "a misspelt key is caught"


def test_lza_fills_in_every_placeholder_and_the_policy_fits_the_quota() -> None:
    text = SCP.read_text(encoding="utf-8")
    custom = set(re.findall(r"\$\{ACCEL_LOOKUP::CUSTOM:(\w+)\}", text))
    assert custom and custom <= set(replacements()), "every lookup names a replacement"
    filled = lza_policy_replacements(text)
    assert "${" not in filled
    assert len(filled) <= MAX_SCP_CHARS, len(filled)
    assert "arn:aws:" not in text, "the partition is LZA's to fill in"


@pytest.mark.parametrize("partition", ["aws", "aws-us-gov", "aws-cn"])
def test_only_the_deployment_roles_invoke_the_factory(partition: str) -> None:
    function = FUNCTION.replace("arn:aws:", f"arn:{partition}:")
    role = lambda name: {"aws:PrincipalArn": f"arn:{partition}:iam::{MEMBER}:role/{name}"}  # noqa: E731
    for principal in [f"{PREFIX}-Deployment-Role", "AWSCloudFormationStackSetExecutionRole", "stacksets-exec-0123abcd", "EntraFederatedRoleCatalogLaunch"]:
        assert decide(Request("lambda:InvokeFunction", function, role(principal)), partition).allowed, principal
    for resource in [function, f"{function}:$LATEST", f"{function}:1"]:
        assert decide(Request("lambda:InvokeFunction", resource, role("developer")), partition) is Decision.EXPLICIT_DENY, resource
    assert decide(Request("lambda:InvokeFunction", function.replace("entra-federated-role", "other"), role("developer")), partition).allowed


def test_nobody_but_lza_makes_or_changes_a_role_that_may_invoke_the_factory() -> None:
    exempt = ["AWSCloudFormationStackSetExecutionRole", "stacksets-exec-forged", "EntraFederatedRoleCatalogLaunch"]
    for name in exempt:
        role = f"arn:aws:iam::{MEMBER}:role/{name}"
        for action in ["iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRole"]:
            assert decide(Request(action, role, by("AdministratorAccess-sso"))) is Decision.EXPLICIT_DENY, (action, name)
    # LZA deploys the StackSet execution role; the launch-role StackSet runs as that role.
    stackset_role = f"arn:aws:iam::{MEMBER}:role/AWSCloudFormationStackSetExecutionRole"
    launch_role = f"arn:aws:iam::{MEMBER}:role/EntraFederatedRoleCatalogLaunch"
    assert decide(Request("iam:UpdateAssumeRolePolicy", stackset_role, by(f"{PREFIX}-Deployment-Role"))).allowed
    assert decide(Request("iam:CreateRole", launch_role, by("AWSCloudFormationStackSetExecutionRole"))).allowed
    assert decide(Request("iam:PutRolePolicy", launch_role, by(ACCESS_ROLE))).allowed


def test_only_the_factory_and_roles_that_ask_are_made_on_its_path_and_only_the_factory_marks() -> None:
    on_path = f"arn:aws:iam::{MEMBER}:role/entra-federated/deploy-web"
    asking = {"aws:RequestTag/entra-federated-role:federate": "True", "aws:TagKeys": ["entra-federated-role:federate", "team"]}
    marking = {"aws:RequestTag/entra-federated-role:managed-by": "entra-federated-role", "aws:TagKeys": ["entra-federated-role:managed-by"]}
    # Someone else: a role that asks, yes; a role that does not, or one with the markers, no.
    assert decide(Request("iam:CreateRole", on_path, {**by("developer"), **asking})).allowed
    assert decide(Request("iam:CreateRole", on_path, by("developer"))) is Decision.EXPLICIT_DENY
    assert decide(Request("iam:CreateRole", on_path, {**by("developer"), **asking, **marking, "aws:TagKeys": ["entra-federated-role:federate", "entra-federated-role:managed-by"]})) is Decision.EXPLICIT_DENY
    for action in ["iam:TagRole", "iam:UntagRole"]:
        for key in ["entra-federated-role:managed-by", "Entra-Federated-Role:Status", "entra-federated-role:app-id"]:
            assert decide(Request(action, on_path, {**by("developer"), "aws:TagKeys": [key]})) is Decision.EXPLICIT_DENY, (action, key)
        # The owner changes what the role asks for.
        assert decide(Request(action, on_path, {**by("developer"), "aws:TagKeys": ["entra-federated-role:github:main"]})).allowed
    # An owner opts out by saying false: the opt-in tag itself never comes off a role on
    # the path, which would leave a role the factory did not make there without it.
    assert decide(Request("iam:UntagRole", on_path, {**by("developer"), "aws:TagKeys": ["Entra-Federated-Role:Federate"]})) is Decision.EXPLICIT_DENY
    assert decide(Request("iam:TagRole", on_path, {**by("developer"), "aws:TagKeys": ["entra-federated-role:federate"]})).allowed
    # The factory: everything.
    for principal in ["EntraFederatedRoleMember"]:
        assert decide(Request("iam:CreateRole", on_path, {**by(principal), **marking})).allowed
        assert decide(Request("iam:TagRole", on_path, {**by(principal), "aws:TagKeys": ["entra-federated-role:status"]})).allowed
    factory = {"aws:PrincipalArn": f"arn:aws:iam::{FACTORY}:role/entra-federated-role-eu-west-1", **marking}
    assert decide(Request("iam:CreateRole", on_path.replace(MEMBER, FACTORY), factory)).allowed
    assert decide(Request("iam:CreateRole", f"arn:aws:iam::{MEMBER}:role/elsewhere", by("developer"))).allowed
