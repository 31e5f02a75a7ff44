"""What the templates' IAM policies let the factory, and the roles it makes, actually do.

A small evaluator (iam_policy.py, after the IAM User Guide) is first held to the User
Guide's own examples, so that a broken rule fails here before it can make a template look
safe. Then the templates are rendered with their defaults (deploy_support.Rendered) and
judged request by request:

- the member role (and the same statements in single-account.yaml and in hub.yaml with
  ServeFactoryAccount) may do exactly what the factory does, on roles the factory made,
  and nothing on a role it did not make, on itself, on the boundary, outside the path;
- a role bounded by the shipped boundary policy cannot write IAM, pass or assume roles,
  touch Organizations or the account, or touch the factory; it can do the rest.

Each table row is one request: action, resource ARN, and the request context (the
condition keys IAM puts in it: aws:ResourceTag/..., aws:RequestTag/..., aws:TagKeys,
iam:PermissionsBoundary).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

import iam_policy
from deploy_support import CATALOG_LAUNCH, HUB, MEMBER, SINGLE, Rendered, load_yaml, sdk_calls
from iam_policy import Decision, Request, arn_matches, evaluate, glob

# --- the evaluator, held to the IAM User Guide's examples ------------------------------------


def test_explicit_deny_wins_then_allow_else_implicit_deny() -> None:
    # reference_policies_evaluation-logic.html, "The difference between explicit and
    # implicit denies": AllowGetList allows iam:Get*/List*, DenyReports denies iam:*Report.
    policy = [
        {"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
        {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
    ]
    assert evaluate(Request("iam:GetRole", "*"), policy) is Decision.ALLOW
    assert evaluate(Request("iam:CreatePolicy", "*"), policy) is Decision.IMPLICIT_DENY
    assert evaluate(Request("iam:GetOrganizationsAccessReport", "*"), policy) is Decision.EXPLICIT_DENY
    # "If someone adds another policy ... to grant them access to IAM reports, such as
    # iam:GenerateCredentialReport, report-related requests are still denied".
    more = policy + [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]
    assert evaluate(Request("iam:GetCredentialReport", "*"), more) is Decision.EXPLICIT_DENY
    assert evaluate(Request("iam:CreatePolicy", "*"), more) is Decision.ALLOW


def test_actions_are_case_insensitive_and_not_action_is_a_complement() -> None:
    policy = [{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}]
    assert evaluate(Request("s3:GetObject", "*"), policy).allowed
    assert evaluate(Request("IAM:createRole", "*"), policy) is Decision.IMPLICIT_DENY
    assert evaluate(Request("Organizations:LeaveOrganization", "*"), policy) is Decision.IMPLICIT_DENY
    assert evaluate(Request("iam:GetRole", "*"), [{"Effect": "Allow", "Action": "IAM:GETROLE", "Resource": "*"}]).allowed
    assert not evaluate(Request("iam:GetRoles", "*"), [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]).allowed
    assert evaluate(Request("iam:GetRole", "*"), [{"Effect": "Allow", "Action": "iam:Get?ole", "Resource": "*"}]).allowed


def test_resource_wildcards_stay_within_arn_segments() -> None:
    # reference_policies_elements_resource.html: "*" spans "/" within the resource segment.
    pattern = "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*"
    for key in (
        "DOC-EXAMPLE-BUCKET/1/test/object.jpg",
        "DOC-EXAMPLE-BUCKET/1/2/test/object.jpg",
        "DOC-EXAMPLE-BUCKET/1/2/test/3/object.jpg",
        "DOC-EXAMPLE-BUCKET/1/2/3/test/4/object.jpg",
    ):
        assert arn_matches(pattern, f"arn:aws:s3:::{key}"), key
    assert not arn_matches(pattern, "arn:aws:s3:::DOC-EXAMPLE-BUCKET/test/object.jpg")
    # ...but never across the colons that separate partition, service, region, account.
    assert not arn_matches("arn:aws:iam::*:role/x", "arn:aws:iam::111122223333:extra:role/x")
    assert arn_matches("arn:aws:iam::*:role/x", "arn:aws:iam::111122223333:role/x")
    assert not arn_matches("arn:aws:iam::111122223333:role/X", "arn:aws:iam::111122223333:role/x")
    assert arn_matches("*", "anything at all")
    policy = [{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"}]
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::public/a"), policy).allowed
    assert not evaluate(Request("s3:GetObject", "arn:aws:s3:::secret/a"), policy).allowed


def test_string_like_spans_colons_where_arn_like_does_not() -> None:
    # reference_policies_elements_condition_operators.html, "Amazon Resource Name (ARN)
    # condition operators": the same pattern, StringLike matches, ArnLike does not.
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    context = {"aws:SourceArn": value}
    assert iam_policy.condition_holds("StringLike", "aws:SourceArn", pattern, context)
    assert not iam_policy.condition_holds("ArnLike", "aws:SourceArn", pattern, context)
    assert iam_policy.condition_holds("ArnNotLike", "aws:SourceArn", pattern, context)
    assert glob("t?.*", "t2.micro") and not glob("t?.*", "t22.micro")


def test_a_condition_on_an_absent_key() -> None:
    # reference_policies_elements_condition_operators.html, "Important": an absent key does
    # not match, so the condition is false, unless the operator requires that the key NOT
    # match (then true); ...IfExists and Null test presence instead.
    empty: dict[str, Any] = {}
    assert not iam_policy.condition_holds("StringEquals", "aws:PrincipalTag/job-category", "iamuser-admin", empty)
    assert not iam_policy.condition_holds("StringLike", "aws:PrincipalTag/job-category", "*", empty)
    assert not iam_policy.condition_holds("ArnEquals", "aws:SourceArn", "arn:aws:sns:*:*:*", empty)
    assert not iam_policy.condition_holds("Bool", "aws:SecureTransport", "true", empty)
    assert iam_policy.condition_holds("StringNotLike", "aws:PrincipalTag/job-category", "x", empty)
    assert iam_policy.condition_holds("StringNotEquals", "aws:PrincipalTag/job-category", "x", empty)
    assert iam_policy.condition_holds("ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:*:*", empty)
    # Null: the EC2 example ("the user must not be using temporary credentials").
    policy = [{"Action": "ec2:*", "Effect": "Allow", "Resource": "*", "Condition": {"Null": {"aws:TokenIssueTime": "true"}}}]
    assert evaluate(Request("ec2:DescribeInstances", "*"), policy).allowed
    with_session = {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"}
    assert not evaluate(Request("ec2:DescribeInstances", "*", with_session), policy).allowed
    assert iam_policy.condition_holds("Null", "aws:TokenIssueTime", "false", with_session)
    # ...IfExists: the RunInstances example ("If the resource being checked does not have
    # that condition key, then don't worry about it").
    run = [{
        "Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*",
        "Condition": {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}},
    }]
    assert evaluate(Request("ec2:RunInstances", "arn:aws:ec2:us-east-1::image/ami-1"), run).allowed
    assert evaluate(Request("ec2:RunInstances", "*", {"ec2:InstanceType": "t2.micro"}), run).allowed
    assert not evaluate(Request("ec2:RunInstances", "*", {"ec2:InstanceType": "c5.large"}), run).allowed
    # "...Deny with a negated condition operator like StringNotEqualsIfExists, the request is
    # still denied even if the tag is missing."
    deny = [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringNotEqualsIfExists": {"aws:ResourceTag/team": "a"}}},
    ]
    assert evaluate(Request("s3:GetObject", "*"), deny) is Decision.EXPLICIT_DENY
    assert evaluate(Request("s3:GetObject", "*", {"aws:ResourceTag/team": "a"}), deny).allowed


def test_set_operators_on_multivalued_keys() -> None:
    # reference_policies_condition-single-vs-multi-valued-context-keys.html (and the
    # DynamoDB Thread examples of the multi-value page): ForAllValues holds when every
    # request value is in the policy's set, and on an empty or absent set; ForAnyValue when
    # at least one is, and never on an empty or absent set.
    allow = [{
        "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:*:*:table/Thread",
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["ID", "Message", "Tags"]}},
    }]
    table = "arn:aws:dynamodb:us-east-1:111122223333:table/Thread"
    assert evaluate(Request("dynamodb:GetItem", table, {"dynamodb:Attributes": ["ID", "Message", "Tags"]}), allow).allowed
    assert not evaluate(Request("dynamodb:GetItem", table, {"dynamodb:Attributes": ["ID", "UserName"]}), allow).allowed
    assert evaluate(Request("dynamodb:GetItem", table, {"dynamodb:Attributes": []}), allow).allowed
    assert evaluate(Request("dynamodb:GetItem", table), allow).allowed
    deny = [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {
            "Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "arn:aws:dynamodb:*:*:table/Thread",
            "Condition": {"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["ID", "PostDateTime"]}},
        },
    ]
    put = lambda *attributes: Request("dynamodb:PutItem", table, {"dynamodb:Attributes": list(attributes)})  # noqa: E731
    assert evaluate(put("UserName", "Message", "PostDateTime"), deny) is Decision.EXPLICIT_DENY
    assert evaluate(put("UserName"), deny).allowed
    assert evaluate(put(), deny).allowed
    assert evaluate(Request("dynamodb:PutItem", table), deny).allowed
    # The negated form the templates use for tags: "any request key that is not ours".
    assert iam_policy.condition_holds("ForAnyValue:StringNotEquals", "aws:TagKeys", ["ours"], {"aws:TagKeys": ["ours", "x"]})
    assert not iam_policy.condition_holds("ForAnyValue:StringNotEquals", "aws:TagKeys", ["ours"], {"aws:TagKeys": ["ours"]})
    # A multivalued request value without a set operator is a policy bug, not a guess.
    with pytest.raises(ValueError, match="ForAnyValue"):
        iam_policy.condition_holds("StringEquals", "aws:TagKeys", "a", {"aws:TagKeys": ["a", "b"]})


def test_condition_blocks_and_values() -> None:
    # Within a Condition every operator and every key must hold (AND); several values for
    # one key are alternatives (OR), and a negated operator wants none of them.
    condition = {"StringEquals": {"a": ["1", "2"], "b": "x"}, "Bool": {"aws:SecureTransport": "true"}}
    good = {"a": "2", "b": "x", "aws:SecureTransport": "true"}
    assert iam_policy.conditions_hold(condition, good)
    assert not iam_policy.conditions_hold(condition, {**good, "a": "3"})
    assert not iam_policy.conditions_hold(condition, {**good, "b": "y"})
    assert not iam_policy.conditions_hold(condition, {**good, "aws:SecureTransport": "false"})
    assert iam_policy.conditions_hold({"StringEquals": {"A": "1"}}, {"a": "1"}), "key names are case-insensitive"
    assert not iam_policy.conditions_hold({"StringEquals": {"a": "X"}}, {"a": "x"}), "values are case-sensitive"
    assert iam_policy.conditions_hold({"StringEqualsIgnoreCase": {"a": "X"}}, {"a": "x"})
    assert not iam_policy.conditions_hold({"StringNotEquals": {"a": ["1", "2"]}}, {"a": "2"})
    assert iam_policy.conditions_hold({"StringNotEquals": {"a": ["1", "2"]}}, {"a": "3"})
    assert iam_policy.conditions_hold({"NumericLessThanEquals": {"n": "300"}}, {"n": "300"})
    assert not iam_policy.conditions_hold({"NumericLessThanEquals": {"n": "300"}}, {"n": "301"})
    with pytest.raises(NotImplementedError):
        iam_policy.conditions_hold({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.1.1"})


def test_a_boundary_limits_but_never_grants() -> None:
    # reference_policies_evaluation-logic.html, "Evaluating identity-based policies with
    # permissions boundaries": the result is the intersection; a Deny in either wins.
    identity = [{"Effect": "Allow", "Action": ["s3:*", "ec2:*"], "Resource": "*"}]
    boundary = [
        {"Effect": "Allow", "Action": ["ec2:*", "sqs:*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "ec2:TerminateInstances", "Resource": "*"},
    ]
    assert evaluate(Request("ec2:DescribeInstances", "*"), identity, boundary).allowed
    assert evaluate(Request("s3:GetObject", "*"), identity, boundary) is Decision.IMPLICIT_DENY
    assert evaluate(Request("sqs:SendMessage", "*"), identity, boundary) is Decision.IMPLICIT_DENY
    assert evaluate(Request("ec2:TerminateInstances", "*"), identity, boundary) is Decision.EXPLICIT_DENY
    assert evaluate(Request("s3:GetObject", "*"), identity).allowed


# --- the templates, rendered ----------------------------------------------------------------

ACCOUNT = "123456789012"
TENANT = "11111111-2222-4333-8444-555555555555"
HUB_ROLE = "arn:aws:iam::111111111111:role/entra-federated-role-eu-west-1"
MEMBER_GIVEN = {"HubAccountId": "111111111111", "HubExecutionRoleArns": HUB_ROLE, "EntraTenantId": TENANT}
FACTORY_GIVEN = {
    "CodeS3Bucket": "artifacts-eu-west-1",
    "CodeS3Key": "entra-federated-role/0.1.0/entra-federated-role-0.1.0-arm64.zip",
    "EntraTenantId": TENANT,
    "EntraClientId": "66666666-7777-4888-8999-000000000000",
}
HUB_GIVEN = {**FACTORY_GIVEN, "OrganizationId": "o-a1b2c3d4e5"}
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:entra-factory-AbCdEf"


def arn(resource: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:{resource}"


BOUNDARY = arn("policy/EntraFederatedRoleBoundary")
OTHER_BOUNDARY = arn("policy/PowerUserBoundary")
OWNED = arn("role/entra-federated/ci-roles-CiRole-0123456789ab")
FOREIGN = arn("role/entra-federated/made-by-hand")
MEMBER_ROLE = arn("role/EntraFederatedRoleMember")
FUNCTION_ROLE = arn("role/entra-federated-role-eu-west-1")
PROVIDER_V1 = arn(f"oidc-provider/sts.windows.net/{TENANT}/")
PROVIDER_V2 = arn(f"oidc-provider/login.microsoftonline.com/{TENANT}/v2.0")
STACK = f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/ci-roles/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1"

MARKER = "entra-federated-role:managed-by"
MARKERS = {
    MARKER: "entra-federated-role",
    "entra-federated-role:generation": "0123456789abcdef0123",
    "entra-federated-role:stack-id": STACK,
    "entra-federated-role:logical-id": "CiRole",
}


# The actions whose request context holds iam:PermissionsBoundary (IAM User Guide, "IAM and
# AWS STS condition context keys", iam:PermissionsBoundary, and the Service Authorization
# Reference for IAM): the role's boundary, or the one the request sets. Every other action,
# UpdateAssumeRolePolicy, UpdateRole, DeleteRole and TagRole among them, never carries it,
# so a condition on it cannot hold there.
PERMISSIONS_BOUNDARY_ACTIONS = {
    a.lower()
    for a in (
        "iam:AttachRolePolicy", "iam:AttachUserPolicy", "iam:CreateRole", "iam:CreateUser",
        "iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePolicy",
        "iam:DeleteUserPermissionsBoundary", "iam:DeleteUserPolicy", "iam:DetachRolePolicy",
        "iam:DetachUserPolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy",
        "iam:PutUserPermissionsBoundary", "iam:PutUserPolicy",
    )
}


def in_request(action: str, context: dict[str, Any]) -> dict[str, Any]:
    """`context` as IAM would put it in a request for `action`."""
    if action.lower() in PERMISSIONS_BOUNDARY_ACTIONS:
        return context
    return {k: v for k, v in context.items() if k != "iam:PermissionsBoundary"}


def owned(boundary: str | None = BOUNDARY) -> dict[str, Any]:
    """An existing role the factory made: its tags, and its boundary (if any)."""
    context: dict[str, Any] = {f"aws:ResourceTag/{k}": v for k, v in MARKERS.items()}
    context["aws:ResourceTag/workload"] = "contoso/app"
    if boundary:
        context["iam:PermissionsBoundary"] = boundary
    return context


def foreign(boundary: str | None = None, **tags: str) -> dict[str, Any]:
    """An existing role the factory did not make."""
    context: dict[str, Any] = {f"aws:ResourceTag/{k}": v for k, v in {"team": "platform", **tags}.items()}
    if boundary:
        context["iam:PermissionsBoundary"] = boundary
    return context


def tagging(tags: dict[str, str], boundary: str | None = None) -> dict[str, Any]:
    """A request that carries tags (CreateRole with Tags, TagRole), and the boundary it
    sets, if any."""
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    context["aws:TagKeys"] = list(tags)
    if boundary:
        context["iam:PermissionsBoundary"] = boundary
    return context


def plus(*contexts: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for context in contexts:
        merged.update(context)
    return merged


ALLOW, DENY, EXPLICIT = "allow", "deny", "explicit deny"


@dataclass(frozen=True)
class Case:
    what: str
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    expected: str = ALLOW

    def request(self) -> Request:
        return Request(self.action, self.resource, in_request(self.action, self.context))

    def judged(self, decision: Decision) -> bool:
        if self.expected == ALLOW:
            return decision is Decision.ALLOW
        if self.expected == EXPLICIT:
            return decision is Decision.EXPLICIT_DENY
        return decision is not Decision.ALLOW


def mismatches(cases: list[Case], identity: list[dict], boundary: list[dict] | None = None) -> list[str]:
    found = []
    for case in cases:
        decision = evaluate(case.request(), identity, boundary)
        if not case.judged(decision):
            found.append(f"{case.what}: {case.action} on {case.resource}: expected {case.expected}, got {decision.value}")
    return found


CREATE_TAGS = {"workload": "contoso/app", **MARKERS}


def factory_calls() -> list[Case]:
    """Every IAM and CloudFormation call the factory makes (handler/src/aws), as IAM
    authorises it."""
    created = tagging(CREATE_TAGS, BOUNDARY)
    return [
        # Create: the role with everything CreateRole takes, then its policies and trust.
        Case("create a role with the marker and the boundary", "iam:CreateRole", OWNED, created),
        Case("tag it in the same call (tag-on-create)", "iam:TagRole", OWNED, tagging(CREATE_TAGS)),
        Case("put its inline policies", "iam:PutRolePolicy", OWNED, owned()),
        Case("attach its managed policies", "iam:AttachRolePolicy", OWNED,
             plus(owned(), {"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"})),
        Case("set its real trust (unseal)", "iam:UpdateAssumeRolePolicy", OWNED, owned()),
        # Read and converge an owned role.
        Case("read the role", "iam:GetRole", OWNED, owned()),
        Case("list its managed policies", "iam:ListAttachedRolePolicies", OWNED, owned()),
        Case("list its inline policies", "iam:ListRolePolicies", OWNED, owned()),
        Case("find roles trusting a provider", "iam:ListRoles", "*"),
        Case("update description and session length", "iam:UpdateRole", OWNED, owned()),
        Case("set the required boundary", "iam:PutRolePermissionsBoundary", OWNED, owned(BOUNDARY)),
        Case("add a tag", "iam:TagRole", OWNED, plus(owned(), tagging({"cost-centre": "42"}))),
        Case("remove a tag of the user's", "iam:UntagRole", OWNED, plus(owned(), {"aws:TagKeys": ["cost-centre"]})),
        Case("detach a managed policy", "iam:DetachRolePolicy", OWNED, owned()),
        Case("delete an inline policy", "iam:DeleteRolePolicy", OWNED, owned()),
        # Delete.
        Case("delete the role", "iam:DeleteRole", OWNED, owned()),
        # An owned role made before a boundary was required can still be bounded and deleted.
        Case("bound an owned role made without a boundary", "iam:PutRolePermissionsBoundary", OWNED,
             plus(owned(None), {"iam:PermissionsBoundary": BOUNDARY})),
        Case("delete an owned role made without a boundary", "iam:DeleteRole", OWNED, owned(None)),
        Case("detach from it", "iam:DetachRolePolicy", OWNED, owned(None)),
        # The tenant's OIDC providers (handler/src/aws/provider.rs).
        Case("create the provider, tagged as ours", "iam:CreateOpenIDConnectProvider", PROVIDER_V1,
             tagging({MARKER: "entra-federated-role"})),
        Case("tag it in the same call", "iam:TagOpenIDConnectProvider", PROVIDER_V1, tagging({MARKER: "entra-federated-role"})),
        Case("add an audience", "iam:AddClientIDToOpenIDConnectProvider", PROVIDER_V1),
        Case("add an audience (v2 issuer)", "iam:AddClientIDToOpenIDConnectProvider", PROVIDER_V2),
        Case("remove an audience", "iam:RemoveClientIDFromOpenIDConnectProvider", PROVIDER_V1),
        Case("read the provider", "iam:GetOpenIDConnectProvider", PROVIDER_V1),
        Case("delete the provider it created", "iam:DeleteOpenIDConnectProvider", PROVIDER_V2,
             {f"aws:ResourceTag/{MARKER}": "entra-federated-role"}),
        # Reading a role that does not exist (IAM knows no path for it: role/<name>), to
        # learn that it is gone.
        Case("read a role that does not exist", "iam:GetRole", arn("role/ci-roles-CiRole-0123456789ab")),
        # The caller check (handler/src/aws/caller.rs).
        Case("read the caller stack's events", "cloudformation:DescribeStackEvents", STACK),
        Case("audit: read whether a role's stack exists", "cloudformation:DescribeStacks", STACK),
    ]


def refused_calls(factory_role: str) -> list[Case]:
    """What the factory's role must never be able to do, whatever its code asks."""
    marked_foreign = foreign(**{MARKER: "entra-federated-role"})
    cases = [
        # A role the factory did not make, under the managed path.
        Case("change the trust of a role it did not make", "iam:UpdateAssumeRolePolicy", FOREIGN, foreign(), DENY),
        Case("...even one carrying the boundary", "iam:UpdateAssumeRolePolicy", FOREIGN, foreign(BOUNDARY), DENY),
        Case("put a policy on it", "iam:PutRolePolicy", FOREIGN, foreign(BOUNDARY), DENY),
        Case("attach a policy to it", "iam:AttachRolePolicy", FOREIGN, foreign(BOUNDARY), DENY),
        Case("delete it", "iam:DeleteRole", FOREIGN, foreign(), DENY),
        Case("untag it", "iam:UntagRole", FOREIGN, plus(foreign(), {"aws:TagKeys": ["team"]}), DENY),
        Case("set its boundary", "iam:PutRolePermissionsBoundary", FOREIGN, foreign(BOUNDARY), DENY),
        Case("remove its boundary", "iam:DeleteRolePermissionsBoundary", FOREIGN, foreign(BOUNDARY), DENY),
        Case("update it", "iam:UpdateRole", FOREIGN, foreign(), DENY),
        Case("detach from it", "iam:DetachRolePolicy", FOREIGN, foreign(), DENY),
        Case("delete its inline policy", "iam:DeleteRolePolicy", FOREIGN, foreign(), DENY),
        Case("tag it without the marker", "iam:TagRole", FOREIGN, plus(foreign(), tagging({"x": "y"})), DENY),
        # The factory's own role and the boundary policy.
        Case("change its own trust", "iam:UpdateAssumeRolePolicy", factory_role, owned(), EXPLICIT),
        Case("give itself a policy", "iam:PutRolePolicy", factory_role, owned(), EXPLICIT),
        Case("attach a policy to itself", "iam:AttachRolePolicy", factory_role, owned(), EXPLICIT),
        Case("delete itself", "iam:DeleteRole", factory_role, owned(), EXPLICIT),
        Case("edit the boundary policy", "iam:CreatePolicyVersion", BOUNDARY, {}, EXPLICIT),
        Case("make another boundary version the default", "iam:SetDefaultPolicyVersion", BOUNDARY, {}, EXPLICIT),
        Case("delete the boundary policy", "iam:DeletePolicy", BOUNDARY, {}, EXPLICIT),
        # Boundaries and markers on its own roles.
        Case("remove the required boundary", "iam:DeleteRolePermissionsBoundary", OWNED, owned(), EXPLICIT),
        Case("swap in a looser boundary", "iam:PutRolePermissionsBoundary", OWNED, plus(owned(), {"iam:PermissionsBoundary": OTHER_BOUNDARY}), DENY),
        Case("untag the ownership marker", "iam:UntagRole", OWNED, plus(owned(), {"aws:TagKeys": [MARKER]}), EXPLICIT),
        Case("untag the generation", "iam:UntagRole", OWNED, plus(owned(), {"aws:TagKeys": ["cost-centre", "entra-federated-role:generation"]}), EXPLICIT),
        Case("untag the stack id", "iam:UntagRole", OWNED, plus(owned(), {"aws:TagKeys": ["entra-federated-role:stack-id"]}), EXPLICIT),
        Case("untag the logical id", "iam:UntagRole", OWNED, plus(owned(), {"aws:TagKeys": ["entra-federated-role:logical-id"]}), EXPLICIT),
        Case("untag the marker spelt otherwise", "iam:UntagRole", OWNED, plus(owned(), {"aws:TagKeys": ["Entra-Federated-Role:Managed-By"]}), EXPLICIT),
        # Policies and trust only on roles with the required boundary.
        Case("put a policy on an owned role without the boundary", "iam:PutRolePolicy", OWNED, owned(None), DENY),
        Case("attach a policy to an owned role without the boundary", "iam:AttachRolePolicy", OWNED, owned(None), DENY),
        Case("put a policy on an owned role with another boundary", "iam:PutRolePolicy", OWNED, owned(OTHER_BOUNDARY), DENY),
        # Creating roles.
        Case("create a role without the marker", "iam:CreateRole", OWNED, tagging({"workload": "x"}, BOUNDARY), DENY),
        Case("create a role without tags", "iam:CreateRole", OWNED, {"iam:PermissionsBoundary": BOUNDARY}, DENY),
        Case("create a role with another marker value", "iam:CreateRole", OWNED, tagging({MARKER: "me"}, BOUNDARY), DENY),
        Case("create a role without the boundary", "iam:CreateRole", OWNED, tagging(CREATE_TAGS), DENY),
        Case("create a role with another boundary", "iam:CreateRole", OWNED, tagging(CREATE_TAGS, OTHER_BOUNDARY), DENY),
        Case("create a role outside the path", "iam:CreateRole", arn("role/admin"), tagging(CREATE_TAGS, BOUNDARY), DENY),
        Case("create a role under another path", "iam:CreateRole", arn("role/ci/deploy"), tagging(CREATE_TAGS, BOUNDARY), DENY),
        Case("change a role outside the path", "iam:PutRolePolicy", arn("role/ci/deploy"), owned(), DENY),
        Case("delete a provider it adopted", "iam:DeleteOpenIDConnectProvider", PROVIDER_V1, {}, DENY),
        # Anything else of IAM, of other providers, of other accounts.
        Case("pass a role", "iam:PassRole", OWNED, owned(), DENY),
        Case("create a user", "iam:CreateUser", arn("user/x"), {}, DENY),
        Case("create a policy", "iam:CreatePolicy", arn("policy/x"), {}, DENY),
        Case("create a provider for another issuer", "iam:CreateOpenIDConnectProvider",
             arn("oidc-provider/token.actions.githubusercontent.com"), tagging({MARKER: "entra-federated-role"}), DENY),
        Case("add an audience to another tenant's provider", "iam:AddClientIDToOpenIDConnectProvider",
             arn("oidc-provider/sts.windows.net/99999999-2222-4333-8444-555555555555/"), {}, DENY),
        Case("tag the provider with another key", "iam:TagOpenIDConnectProvider", PROVIDER_V1,
             tagging({MARKER: "entra-federated-role", "owner": "me"}), EXPLICIT),
        Case("read another account's stack", "cloudformation:DescribeStackEvents",
             STACK.replace(ACCOUNT, "999999999999"), {}, DENY),
        Case("read another account's stacks", "cloudformation:DescribeStacks",
             STACK.replace(ACCOUNT, "999999999999"), {}, DENY),
        Case("change a stack", "cloudformation:UpdateStack", STACK, {}, DENY),
        # The residual risk of tag-on-create (member-role.yaml's comment): the role can mark
        # a role it did not make, under the path...
        Case("RESIDUAL: mark a role it did not make", "iam:TagRole", FOREIGN, plus(foreign(), tagging({MARKER: "entra-federated-role"})), ALLOW),
        # ...and then change its trust: UpdateAssumeRolePolicy carries no boundary key, so
        # only the marker guards it. The path must hold the factory's roles alone.
        Case("RESIDUAL: ...then change its trust", "iam:UpdateAssumeRolePolicy", FOREIGN, marked_foreign, ALLOW),
        # Giving it policies still needs the required boundary on it.
        Case("...but not give it a policy without the boundary", "iam:PutRolePolicy", FOREIGN, marked_foreign, DENY),
    ]
    return cases


def account_statements(path, **given: str) -> tuple[list[dict], str]:
    """The statements of the role that makes the factory's IAM calls in an account, and the
    ARN of that role."""
    if path == MEMBER:
        rendered = Rendered(load_yaml(MEMBER), {**MEMBER_GIVEN, **given})
        return rendered.policy_statements("MemberRole"), MEMBER_ROLE
    base = HUB_GIVEN if path == HUB else FACTORY_GIVEN
    rendered = Rendered(load_yaml(path), {**base, **given})
    return rendered.policy_statements("ExecutionRole"), FUNCTION_ROLE


ACCOUNT_ROLES = [
    pytest.param(MEMBER, {}, id="member-role.yaml"),
    pytest.param(SINGLE, {}, id="single-account.yaml"),
    pytest.param(HUB, {"ServeFactoryAccount": "true"}, id="hub.yaml-ServeFactoryAccount"),
]


@pytest.mark.parametrize(("path", "given"), ACCOUNT_ROLES)
def test_the_factory_may_do_exactly_what_it_does(path, given) -> None:
    statements, _ = account_statements(path, **given)
    assert mismatches(factory_calls(), statements) == []


@pytest.mark.parametrize(("path", "given"), ACCOUNT_ROLES)
def test_the_factory_may_not_touch_what_is_not_its_own(path, given) -> None:
    statements, factory_role = account_statements(path, **given)
    assert mismatches(refused_calls(factory_role), statements) == []


def test_the_tables_cover_every_call_the_handler_makes() -> None:
    wanted = {c for c in sdk_calls() if c.split(":")[0] in ("iam", "cloudformation")}
    covered = {c.action.lower() for c in factory_calls()}
    # DeleteRolePermissionsBoundary is only ever allowed without a required boundary
    # (test_opting_out_of_the_boundary_is_visible_and_still_scoped); the doctor reads the
    # outbound identity federation setting in the factory's own account only
    # (test_templates.py's OWN_ACCOUNT_ONLY).
    assert wanted - covered == {
        "iam:deleterolepermissionsboundary",
        "iam:getoutboundwebidentityfederationinfo",
    }


@pytest.mark.parametrize(("path", "given"), ACCOUNT_ROLES)
def test_a_root_path_still_leaves_the_factory_alone(path, given) -> None:
    # With RolePathPrefix "/" the factory's own role is under the path, carries whatever
    # tags someone gave it: the explicit Deny still keeps the factory off it.
    statements, factory_role = account_statements(path, RolePathPrefix="/", **given)
    for action in ("iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRole", "iam:TagRole", "iam:GetRole"):
        decision = evaluate(Request(action, factory_role, plus(owned(), tagging(MARKERS))), statements)
        assert decision is Decision.EXPLICIT_DENY, (action, decision)
    # ...and the rest of the table holds for roles at the root too.
    assert mismatches([Case("create at the root", "iam:CreateRole", arn("role/ci"), tagging(CREATE_TAGS, BOUNDARY))], statements) == []
    assert mismatches([Case("foreign at the root", "iam:UpdateAssumeRolePolicy", arn("role/admin"), foreign(), DENY)], statements) == []


@pytest.mark.parametrize(("path", "given"), ACCOUNT_ROLES)
def test_opting_out_of_the_boundary_is_visible_and_still_scoped(path, given) -> None:
    statements, factory_role = account_statements(path, RequirePermissionsBoundary="false", **given)
    assert mismatches(
        [
            Case("create a role without a boundary", "iam:CreateRole", OWNED, tagging(CREATE_TAGS)),
            Case("put a policy on an unbounded owned role", "iam:PutRolePolicy", OWNED, owned(None)),
            Case("remove a boundary from an owned role", "iam:DeleteRolePermissionsBoundary", OWNED, owned()),
            Case("still not a role it did not make", "iam:UpdateAssumeRolePolicy", FOREIGN, foreign(), DENY),
            Case("still not a boundary off a role it did not make", "iam:DeleteRolePermissionsBoundary", FOREIGN, foreign(BOUNDARY), DENY),
            Case("still not without the marker", "iam:CreateRole", OWNED, tagging({"workload": "x"}), DENY),
            Case("still never the markers", "iam:UntagRole", OWNED, plus(owned(), {"aws:TagKeys": [MARKER]}), EXPLICIT),
            Case("still never itself", "iam:PutRolePolicy", factory_role, owned(), DENY),
        ],
        statements,
    ) == []


def test_a_dedicated_factory_account_grants_no_account_permission() -> None:
    statements, _ = account_statements(HUB)
    allowed = [c.what for c in factory_calls() if evaluate(c.request(), statements).allowed]
    assert allowed == []


# --- the boundary ---------------------------------------------------------------------------

# What a stack author may write into the role's own policies: everything.
EVERYTHING = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]


def bounded_requests() -> list[Case]:
    """A role with EVERYTHING in its own policies, bounded by the shipped boundary."""
    parameter = f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/entra-federated-role/service-token"
    return [
        # IAM writes, whatever they are.
        Case("create a role", "iam:CreateRole", arn("role/entra-federated/escape"), tagging(CREATE_TAGS, BOUNDARY), EXPLICIT),
        Case("give itself a policy", "iam:PutRolePolicy", OWNED, owned(), EXPLICIT),
        Case("attach AdministratorAccess", "iam:AttachRolePolicy", OWNED,
             plus(owned(), {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}), EXPLICIT),
        Case("change a role's trust", "iam:UpdateAssumeRolePolicy", arn("role/admin"), {}, EXPLICIT),
        Case("create a user", "iam:CreateUser", arn("user/backdoor"), {}, EXPLICIT),
        Case("create an access key", "iam:CreateAccessKey", arn("user/admin"), {}, EXPLICIT),
        Case("create a policy", "iam:CreatePolicy", arn("policy/x"), {}, EXPLICIT),
        Case("add an audience to a provider", "iam:AddClientIDToOpenIDConnectProvider", PROVIDER_V1, {}, EXPLICIT),
        Case("an IAM write no Deny names", "iam:AcceptDelegationRequest", "*", {}, DENY),
        Case("an IAM action no statement allows", "iam:GenerateCredentialReport", "*", {}, DENY),
        Case("any spelling", "IAM:createrole", arn("role/x"), {}, EXPLICIT),
        # Boundaries.
        Case("remove its own boundary", "iam:DeleteRolePermissionsBoundary", OWNED, owned(), EXPLICIT),
        Case("set another boundary", "iam:PutRolePermissionsBoundary", OWNED, {"iam:PermissionsBoundary": OTHER_BOUNDARY}, EXPLICIT),
        Case("edit the boundary", "iam:CreatePolicyVersion", BOUNDARY, {}, EXPLICIT),
        Case("switch the boundary's version", "iam:SetDefaultPolicyVersion", BOUNDARY, {}, EXPLICIT),
        Case("read the boundary", "iam:GetPolicyVersion", BOUNDARY, {}, EXPLICIT),
        # Other roles' permissions.
        Case("pass a role to a service", "iam:PassRole", arn("role/admin"), {"iam:PassedToService": "lambda.amazonaws.com"}, EXPLICIT),
        Case("assume a role that trusts the account", "sts:AssumeRole", arn("role/cdk-hnb659fds-deploy-role-123456789012-eu-west-1"), {}, EXPLICIT),
        Case("assume a role in another account", "sts:AssumeRole", "arn:aws:iam::999999999999:role/x", {}, EXPLICIT),
        # Organizations and the account.
        Case("leave the organisation", "organizations:LeaveOrganization", "*", {}, EXPLICIT),
        Case("read the organisation", "organizations:DescribeOrganization", "*", {}, EXPLICIT),
        Case("change the account's contacts", "account:PutAlternateContact", "*", {}, EXPLICIT),
        Case("close the account", "account:CloseAccount", "*", {}, EXPLICIT),
        # The factory's own things.
        Case("the member role", "iam:GetRole", MEMBER_ROLE, {}, EXPLICIT),
        Case("rewrite the ServiceToken", "ssm:PutParameter", parameter, {}, EXPLICIT),
        Case("rewrite it in another region", "ssm:PutParameter", parameter.replace("eu-west-1", "us-east-1"), {}, EXPLICIT),
        Case("delete the ServiceToken", "ssm:DeleteParameter", parameter, {}, EXPLICIT),
        # Everything else stays the stack author's to give.
        Case("read an object", "s3:GetObject", "arn:aws:s3:::data/key"),
        Case("write an object", "s3:PutObject", "arn:aws:s3:::data/key"),
        Case("describe instances", "ec2:DescribeInstances", "*"),
        Case("read the ServiceToken", "ssm:GetParameter", parameter),
        Case("write another parameter", "ssm:PutParameter", f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/app/x"),
        Case("read another role", "iam:GetRole", arn("role/ci/deploy")),
        Case("list roles", "iam:ListRoles", "*"),
        Case("who am I", "sts:GetCallerIdentity", "*"),
        Case("deploy a stack with its own credentials", "cloudformation:CreateStack", STACK),
    ]


def factory_account_requests(secret: bool) -> list[Case]:
    """What the boundary of single-account.yaml and of the hub (ServeFactoryAccount) adds:
    the factory's function, role, stack and secret in that account."""
    function = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:entra-federated-role"
    stack = f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/entra-federated-role/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1"
    cases = [
        Case("the function's role", "iam:GetRole", FUNCTION_ROLE, {}, EXPLICIT),
        Case("the function's role in another region", "iam:GetRole", arn("role/entra-federated-role-us-east-1"), {}, EXPLICIT),
        Case("replace the function's code", "lambda:UpdateFunctionCode", function, {}, EXPLICIT),
        Case("...in another region", "lambda:UpdateFunctionCode", function.replace("eu-west-1", "us-east-1"), {}, EXPLICIT),
        Case("change its configuration", "lambda:UpdateFunctionConfiguration", function, {}, EXPLICIT),
        Case("open it to someone", "lambda:AddPermission", function, {}, EXPLICIT),
        Case("publish a version", "lambda:PublishVersion", function, {}, EXPLICIT),
        Case("change an alias", "lambda:UpdateAlias", f"{function}:live", {}, EXPLICIT),
        Case("update the factory's stack", "cloudformation:UpdateStack", stack, {}, EXPLICIT),
        Case("delete the factory's stack", "cloudformation:DeleteStack", stack, {}, EXPLICIT),
        Case("run a change set on it", "cloudformation:ExecuteChangeSet", stack, {}, EXPLICIT),
        Case("invoke the function (deploying stacks)", "lambda:InvokeFunction", function),
        Case("update another function", "lambda:UpdateFunctionCode", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:app"),
        Case("update another stack", "cloudformation:UpdateStack", STACK),
        Case("read another secret", "secretsmanager:GetSecretValue", SECRET.replace("entra-factory", "app")),
    ]
    if secret:
        cases += [
            Case("read the Entra credentials", "secretsmanager:GetSecretValue", SECRET, {}, EXPLICIT),
            Case("replace them", "secretsmanager:PutSecretValue", SECRET, {}, EXPLICIT),
        ]
    return cases


def test_the_member_boundary_caps_what_a_role_can_be_given() -> None:
    boundary = Rendered(load_yaml(MEMBER), MEMBER_GIVEN).policy_statements("BoundaryPolicy")
    assert mismatches(bounded_requests(), EVERYTHING, boundary) == []


@pytest.mark.parametrize(
    ("path", "given"),
    [
        pytest.param(SINGLE, {}, id="single-account.yaml-secretless"),
        pytest.param(SINGLE, {"EntraCredentialsSecretArn": SECRET}, id="single-account.yaml-secret"),
        pytest.param(HUB, {"ServeFactoryAccount": "true", "EntraCredentialsSecretArn": SECRET}, id="hub.yaml-ServeFactoryAccount"),
    ],
)
def test_the_factory_account_boundary_also_keeps_roles_off_the_factory(path, given) -> None:
    base = HUB_GIVEN if path == HUB else FACTORY_GIVEN
    boundary = Rendered(load_yaml(path), {**base, **given}).policy_statements("BoundaryPolicy")
    member_only = {"the member role"}
    cases = [c for c in bounded_requests() if c.what not in member_only]
    cases += factory_account_requests(secret="EntraCredentialsSecretArn" in given)
    assert mismatches(cases, EVERYTHING, boundary) == []


def test_the_boundary_grants_nothing_by_itself() -> None:
    boundary = Rendered(load_yaml(MEMBER), MEMBER_GIVEN).policy_statements("BoundaryPolicy")
    narrow = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::data/key"), narrow, boundary).allowed
    assert evaluate(Request("s3:PutObject", "arn:aws:s3:::data/key"), narrow, boundary) is Decision.IMPLICIT_DENY
    assert evaluate(Request("iam:GetRole", OWNED), narrow, boundary) is Decision.IMPLICIT_DENY


def test_the_boundary_is_created_where_it_is_required_only() -> None:
    member = Rendered(load_yaml(MEMBER), MEMBER_GIVEN)
    assert member.resource("BoundaryPolicy") is not None
    assert member.resource("BoundaryPolicy")["ManagedPolicyName"] == "EntraFederatedRoleBoundary"
    for given in (
        {"RequirePermissionsBoundary": "false"},
        {"CreatePermissionsBoundaryPolicy": "false"},
        {"MemberRoleRegion": "us-east-1"},
    ):
        assert Rendered(load_yaml(MEMBER), {**MEMBER_GIVEN, **given}).resource("BoundaryPolicy") is None, given
    assert Rendered(load_yaml(SINGLE), FACTORY_GIVEN).resource("BoundaryPolicy") is not None
    assert Rendered(load_yaml(HUB), HUB_GIVEN).resource("BoundaryPolicy") is None
    assert Rendered(load_yaml(HUB), {**HUB_GIVEN, "ServeFactoryAccount": "true"}).resource("BoundaryPolicy") is not None


def test_the_function_requires_the_boundary_the_roles_are_scoped_by() -> None:
    # The ARN the function requires (with its placeholders filled in for this account) is
    # the one the account permissions name, and the one the shipped policy gets.
    for path, base in ((SINGLE, FACTORY_GIVEN), (HUB, {**HUB_GIVEN, "ServeFactoryAccount": "true"})):
        rendered = Rendered(load_yaml(path), base)
        variables = rendered.resource("Function")["Environment"]["Variables"]
        required = variables["REQUIRED_PERMISSIONS_BOUNDARY"]
        assert required == "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/EntraFederatedRoleBoundary"
        filled = required.replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", ACCOUNT)
        assert filled == BOUNDARY == rendered.physical_id("BoundaryPolicy")
        denied = variables["DENIED_MANAGED_POLICY_ARNS"].split(",")
        assert denied == [
            "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess",
            "arn:${AWS::Partition}:iam::aws:policy/IAMFullAccess",
        ]
        assert variables["ROLE_PATH_PREFIX"] == "/entra-federated/"
        assert variables["TRUSTED_CLIENTS_OWN_TENANT_ONLY"] == "true"
        assert "ALLOWED_FEDERATED_CREDENTIALS" not in variables
        opted_out = Rendered(load_yaml(path), {**base, "RequirePermissionsBoundary": "false"})
        assert "REQUIRED_PERMISSIONS_BOUNDARY" not in opted_out.resource("Function")["Environment"]["Variables"]


# --- the tables cannot pass vacuously ---------------------------------------------------------

MUTANTS = {
    # Each rule of the evaluator, broken; the member role's tables must notice.
    "conditions ignored": ("conditions_hold", lambda condition, context: True),
    "absent keys match": (
        "condition_holds",
        lambda operator, key, values, context, _real=iam_policy.condition_holds: True
        if iam_policy._lookup(context, key) is None
        else _real(operator, key, values, context),
    ),
    "resources ignored": ("arn_matches", lambda pattern, value: True),
    "actions by prefix only": ("action_matches", lambda pattern, action: pattern.split(":")[0].lower() in ("*", action.split(":")[0].lower())),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_a_broken_evaluator_fails_the_tables(monkeypatch, mutant) -> None:
    name, broken = MUTANTS[mutant]
    statements, factory_role = account_statements(MEMBER)
    cases = factory_calls() + refused_calls(factory_role)
    assert mismatches(cases, statements) == []
    monkeypatch.setattr(iam_policy, name, broken)
    assert mismatches(cases, statements) != [], f"{mutant}: the tables did not notice"


def test_ignoring_denies_fails_the_tables(monkeypatch) -> None:
    statements, factory_role = account_statements(MEMBER, RolePathPrefix="/")
    cases = [
        Case("untag the marker", "iam:UntagRole", OWNED, plus(owned(), {"aws:TagKeys": [MARKER]}), EXPLICIT),
        Case("the member role itself", "iam:PutRolePolicy", factory_role, owned(), DENY),
    ]
    assert mismatches(cases, statements) == []
    real = iam_policy.applying
    monkeypatch.setattr(iam_policy, "applying", lambda s, r, effect: [] if effect == "Deny" else real(s, r, effect))
    assert len(mismatches(cases, statements)) == 2


# --- the Service Catalog launch role (catalog-launch-role.yaml) ----------------------------

FUNCTION = "arn:aws:lambda:eu-west-1:111111111111:function:entra-federated-role"
SC_STACK = f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/SC-{ACCOUNT}-pp-abcdefghijklm/5c1e8d20-86e3-11ef-a6a3-0affd3b5c7a1"
TOKEN_PARAMETER = f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/entra-federated-role/service-token"
PROVISIONING = {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}


def launch_role(**given: str) -> Rendered:
    return Rendered(load_yaml(CATALOG_LAUNCH), {"HubAccountId": "111111111111", **given})


def launch_role_statements() -> list[dict]:
    return launch_role().policy_statements("LaunchRole")


def test_the_launch_role_may_run_the_product_and_nothing_else() -> None:
    statements = launch_role_statements()
    allowed = [
        Request("cloudformation:CreateStack", SC_STACK),
        Request("cloudformation:UpdateStack", SC_STACK),
        Request("cloudformation:DeleteStack", SC_STACK),
        Request("cloudformation:DescribeStackEvents", SC_STACK),
        Request("cloudformation:GetTemplateSummary", "*"),
        Request("s3:GetObject", "arn:aws:s3:::cf-templates-sc/product.yaml", PROVISIONING),
        Request("ssm:GetParameters", TOKEN_PARAMETER),
        Request("lambda:InvokeFunction", FUNCTION),
    ]
    refused = [
        Request("cloudformation:CreateStack", STACK),
        Request("s3:GetObject", "arn:aws:s3:::someone-elses-bucket/secret.txt"),
        Request("ssm:GetParameters", f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/prod/db-password"),
        Request("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:111111111111:function:other"),
        Request("iam:CreateRole", arn("role/entra-federated/ci")),
        Request("iam:PassRole", MEMBER_ROLE),
        Request("sts:AssumeRole", MEMBER_ROLE),
    ]
    assert [r.action for r in allowed if not evaluate(r, statements).allowed] == []
    assert [f"{r.action} {r.resource}" for r in refused if evaluate(r, statements).allowed] == []
    # Nothing more than that: every grant, action by resource.
    granted = sorted(
        (action, statement["Resource"])
        for statement in statements
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    )
    stacks = f"arn:aws:cloudformation:*:{ACCOUNT}:stack/SC-*"
    assert granted == sorted(
        [(f"cloudformation:{a}", stacks) for a in ("CreateStack", "UpdateStack", "DeleteStack", "DescribeStacks", "DescribeStackEvents", "SetStackPolicy")]
        + [("cloudformation:GetTemplateSummary", "*"), ("cloudformation:ValidateTemplate", "*"), ("s3:GetObject", "*")]
        + [(f"ssm:{a}", f"arn:aws:ssm:*:{ACCOUNT}:parameter/entra-federated-role/service-token") for a in ("GetParameter", "GetParameters")]
        + [("lambda:InvokeFunction", "arn:aws:lambda:*:111111111111:function:entra-federated-role")]
    )
    assert all(s["Effect"] == "Allow" for s in statements)


def test_only_service_catalog_may_assume_the_launch_role() -> None:
    trust = launch_role().resource("LaunchRole")["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {"Effect": "Allow", "Principal": {"Service": "servicecatalog.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


def test_the_launch_role_of_the_portfolios_own_account_can_do_nothing() -> None:
    inert = launch_role(Launches="false").resource("LaunchRole")
    assert "Policies" not in inert and "ManagedPolicyArns" not in inert


# --- roles made outside CloudFormation that ask (DESIGN §9) ----------------------------------

ASKING = arn("role/entra-federated/deploy-web")
STATUS = {"entra-federated-role:status": "federated", "entra-federated-role:app-id": "a1b2"}


def asking(value: str = "true") -> dict[str, Any]:
    """A role someone made, that carries the opt-in tag."""
    return foreign(**{"entra-federated-role:federate": value})


def untagging(*keys: str) -> dict[str, Any]:
    return {"aws:TagKeys": list(keys)}


def test_the_member_role_federates_only_roles_that_ask_and_writes_only_their_trust_and_status() -> None:
    statements, _ = account_statements(MEMBER)
    cases = [
        Case("trust of a role that asks", "iam:UpdateAssumeRolePolicy", ASKING, asking()),
        Case("the tag's value in any case", "iam:UpdateAssumeRolePolicy", ASKING, asking("True")),
        Case("status on a role that asks", "iam:TagRole", ASKING, plus(asking(), tagging(STATUS))),
        Case("status off a role that stopped asking", "iam:UntagRole", ASKING, plus(foreign(), untagging(*STATUS, "entra-federated-role:reason"))),
        Case("trust of a role that does not ask", "iam:UpdateAssumeRolePolicy", ASKING, foreign(), DENY),
        Case("trust of a role that says false", "iam:UpdateAssumeRolePolicy", ASKING, asking("false"), DENY),
        Case("a role that asks, off the path", "iam:UpdateAssumeRolePolicy", arn("role/deploy-web"), asking(), DENY),
        Case("the marker on a role that asks", "iam:TagRole", ASKING, plus(asking(), tagging({MARKER: "entra-federated-role"})), DENY),
        Case("the opt-in on a role that asks", "iam:TagRole", ASKING, plus(asking(), tagging({"entra-federated-role:federate": "true"})), DENY),
        Case("status on a role that does not ask", "iam:TagRole", ASKING, plus(foreign(), tagging(STATUS)), DENY),
        Case("the opt-in off a role", "iam:UntagRole", ASKING, plus(asking(), untagging("entra-federated-role:federate")), DENY),
        Case("another tag off a role", "iam:UntagRole", ASKING, plus(asking(), untagging("team")), DENY),
        Case("deleting a role that asks", "iam:DeleteRole", ASKING, asking(), DENY),
        Case("policies on a role that asks", "iam:AttachRolePolicy", ASKING, plus(asking(), {"iam:PermissionsBoundary": BOUNDARY}), DENY),
        Case("inline policies on a role that asks", "iam:PutRolePolicy", ASKING, plus(asking(), {"iam:PermissionsBoundary": BOUNDARY}), DENY),
        Case("its boundary off a role that asks", "iam:DeleteRolePermissionsBoundary", ASKING, plus(asking(), {"iam:PermissionsBoundary": BOUNDARY}), DENY),
        Case("itself, however it is tagged", "iam:UpdateAssumeRolePolicy", MEMBER_ROLE, asking(), EXPLICIT),
    ]
    assert mismatches(cases, statements) == []
