"""moto_ext's CloudFormation resource events and POST /_efr/cloudformation/events,
through server.py and boto3.

A stack holds a Custom::EntraFederatedRole whose ServiceToken is a moto Lambda
function: moto invokes it (without Docker it runs nothing) and waits for the
response the provider PUTs to <moto>/cloudformation_<region>/cfnresponse, which
the tests send themselves.
"""

from __future__ import annotations

import datetime
import json
import re
import urllib.error
import urllib.request

import pytest

import moto_ext
from conftest import DEFAULT_ACCOUNT_ID, REGION

OTHER_ACCOUNT_ID = "111122223333"
ROLE_TYPE = "Custom::EntraFederatedRole"
STACK_TYPE = "AWS::CloudFormation::Stack"
OLD_ID = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/ci-deploy-blue"
NEW_ID = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/ci-deploy-green"
# An empty zip archive: its end-of-central-directory record alone.
EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18
LAMBDA_TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})


def http(url: str, method: str, body: object = None, raw: bytes | None = None) -> tuple[int, object]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    return status, json.loads(text) if text else None


@pytest.fixture
def cfn(aws_client):
    return aws_client("cloudformation")


def make_function(aws_client, moto_server, credentials: dict | None = None) -> str:
    """A Lambda function (in the credentials' account), which moto never runs."""
    status, _ = http(f"{moto_server.url}/moto-api/config", "POST", {"lambda": {"use_docker": False}})
    assert status < 300
    role = aws_client("iam", credentials).create_role(RoleName="lambda-exec", AssumeRolePolicyDocument=LAMBDA_TRUST)
    return aws_client("lambda", credentials).create_function(
        FunctionName="efr",
        Runtime="provided.al2023",
        Role=role["Role"]["Arn"],
        Handler="bootstrap",
        Code={"ZipFile": EMPTY_ZIP},
    )["FunctionArn"]


@pytest.fixture
def service_token(aws_client, moto_server) -> str:
    return make_function(aws_client, moto_server)


@pytest.fixture
def other_account(aws_client) -> dict:
    """Credentials acting in OTHER_ACCOUNT_ID (moto's AssumeRole mints them there)."""
    creds = aws_client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/admin", RoleSessionName="test"
    )["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def template(service_token: str | None = None, outputs: dict | None = None) -> str:
    resources: dict = {"Queue": {"Type": "AWS::SQS::Queue"}}
    if service_token:
        resources["CiRole"] = {"Type": ROLE_TYPE, "Properties": {"ServiceToken": service_token}}
    return json.dumps({"Resources": resources, **({"Outputs": outputs} if outputs else {})})


@pytest.fixture
def stack_id(cfn, service_token) -> str:
    """A stack whose CiRole waits for its provider's response."""
    return cfn.create_stack(StackName="ci-roles", TemplateBody=template(service_token))["StackId"]


def events(cfn, stack_id: str) -> list[dict]:
    return cfn.describe_stack_events(StackName=stack_id)["StackEvents"]


def summary(stack_events: list[dict]) -> list[tuple]:
    """(LogicalResourceId, ResourceStatus, PhysicalResourceId) of each event, as listed.
    The stack's own events show its name and "<stack>" for its id."""
    return [
        (
            e["LogicalResourceId"],
            e["ResourceStatus"],
            "<stack>" if e["ResourceType"] == STACK_TYPE else e.get("PhysicalResourceId", ""),
        )
        for e in stack_events
    ]


def respond(moto_server, stack_id: str, **fields) -> int:
    """PUT a custom resource response to the ResponseURL moto gives the provider."""
    body = {"StackId": stack_id, "RequestId": "copied-from-the-request", "LogicalResourceId": "CiRole", **fields}
    status, _ = http(f"{moto_server.url}/cloudformation_{REGION}/cfnresponse?stack={stack_id}", "PUT", body)
    return status


def record(moto_server, body: dict | None = None, raw: bytes | None = None, method: str = "POST"):
    return http(f"{moto_server.url}/_efr/cloudformation/events", method, body, raw)


def stack_status(cfn, stack_id: str) -> str:
    return cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]


def assert_newest_first(stack_events: list[dict]) -> None:
    stamps = [e["Timestamp"] for e in stack_events]
    assert stamps == sorted(stamps, reverse=True)


# --- moto's own flow: CreateStack and the provider's response ---------------------


def test_install_is_idempotent(monkeypatch):
    from moto.cloudformation import parsing
    from moto.cloudformation.models import CloudFormationBackend, Stack
    from moto.cloudformation.responses import CloudFormationResponse, StackResourceDTO

    # Let monkeypatch restore (or delete) whatever this process had.
    monkeypatch.setattr(parsing, "parse_and_create_resource", parsing.parse_and_create_resource)
    monkeypatch.setattr(StackResourceDTO, "__init__", StackResourceDTO.__init__)
    for cls, name in (
        (Stack, "_add_resource_event"),
        (CloudFormationBackend, "process_cfn_response"),
        (CloudFormationResponse, "process_cfn_response"),
    ):
        original = getattr(cls, name, None)
        monkeypatch.setattr(cls, name, original, raising=False)
        if original is None:
            monkeypatch.delattr(cls, name)
    assert moto_ext.install_cloudformation_events() == [
        "parse_and_create_resource",
        "Stack._add_resource_event",
        "CloudFormationBackend.process_cfn_response",
        "CloudFormationResponse.process_cfn_response",
        "StackResourceDTO.__init__",
    ]
    assert moto_ext.install_cloudformation_events() == []  # calling it again is harmless


def test_moto_records_no_resource_event_of_its_own():
    """Without the extension (in this process), moto 5.2.5 records stack events only."""
    import moto
    from moto.cloudformation import parsing
    from moto.cloudformation.models import cloudformation_backends

    assert moto.__version__ == "5.2.5"

    # The server process is the one extended, not this one.
    assert not getattr(parsing.parse_and_create_resource, "efr_records_events", False)
    backend = cloudformation_backends[DEFAULT_ACCOUNT_ID][REGION]
    stack = backend.create_stack(name="plain", template=template(), parameters={})
    try:
        assert [(e.resource_type, e.resource_status) for e in stack.events] == [
            (STACK_TYPE, "CREATE_IN_PROGRESS"),
            (STACK_TYPE, "CREATE_COMPLETE"),
        ]
    finally:
        backend.delete_stack(stack.stack_id)


def test_create_records_the_custom_resource_in_progress_without_a_physical_id(cfn, stack_id):
    listed = events(cfn, stack_id)
    # Newest first: the stack's CREATE_IN_PROGRESS, recorded first, is listed last.
    assert summary(listed) == [
        ("CiRole", "CREATE_IN_PROGRESS", ""),
        ("Queue", "CREATE_COMPLETE", listed[1]["PhysicalResourceId"]),
        ("Queue", "CREATE_IN_PROGRESS", ""),
        ("ci-roles", "CREATE_IN_PROGRESS", "<stack>"),
    ]
    assert_newest_first(listed)
    role = listed[0]
    assert role["ResourceType"] == ROLE_TYPE  # the template's type
    assert role["StackId"] == stack_id and role["StackName"] == "ci-roles"
    assert role["Timestamp"] > datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    assert stack_status(cfn, stack_id) == "CREATE_IN_PROGRESS"

    detail = cfn.describe_stack_resource(StackName=stack_id, LogicalResourceId="CiRole")["StackResourceDetail"]
    assert detail["ResourceStatus"] == "CREATE_IN_PROGRESS"
    assert "PhysicalResourceId" not in detail


def test_a_resource_moto_creates_at_once_is_in_progress_then_complete(cfn):
    stack_id = cfn.create_stack(StackName="queues", TemplateBody=template())["StackId"]
    listed = events(cfn, stack_id)
    queue_url = cfn.describe_stack_resource(StackName=stack_id, LogicalResourceId="Queue")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    assert queue_url
    assert summary(listed) == [
        ("queues", "CREATE_COMPLETE", "<stack>"),
        ("Queue", "CREATE_COMPLETE", queue_url),
        ("Queue", "CREATE_IN_PROGRESS", ""),
        ("queues", "CREATE_IN_PROGRESS", "<stack>"),
    ]
    assert {e["ResourceType"] for e in listed[1:3]} == {"AWS::SQS::Queue"}
    assert_newest_first(listed)


def test_a_success_response_records_create_complete_with_its_physical_id(cfn, moto_server, service_token):
    outputs = {"RoleArn": {"Value": {"Fn::GetAtt": ["CiRole", "RoleArn"]}}}
    stack_id = cfn.create_stack(StackName="ci-roles", TemplateBody=template(service_token, outputs))["StackId"]
    assert respond(moto_server, stack_id, Status="SUCCESS", PhysicalResourceId=OLD_ID, Data={"RoleArn": OLD_ID}) == 200

    listed = events(cfn, stack_id)
    assert summary(listed)[:3] == [
        ("ci-roles", "CREATE_COMPLETE", "<stack>"),
        ("CiRole", "CREATE_COMPLETE", OLD_ID),
        ("CiRole", "CREATE_IN_PROGRESS", ""),
    ]
    assert listed[1]["ResourceType"] == ROLE_TYPE
    assert_newest_first(listed)
    stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Outputs"] == [{"OutputKey": "RoleArn", "OutputValue": OLD_ID}]
    (resource,) = cfn.describe_stack_resources(StackName=stack_id, LogicalResourceId="CiRole")["StackResources"]
    assert (resource["ResourceStatus"], resource["PhysicalResourceId"]) == ("CREATE_COMPLETE", OLD_ID)


def test_a_failed_response_records_create_failed_with_its_reason(cfn, moto_server, stack_id):
    failed_id = "entra-federated-role:create-failed:abc"
    assert respond(moto_server, stack_id, Status="FAILED", Reason="RoleName is taken", PhysicalResourceId=failed_id) == 200

    newest = events(cfn, stack_id)[0]
    assert (newest["LogicalResourceId"], newest["ResourceStatus"], newest["PhysicalResourceId"]) == (
        "CiRole",
        "CREATE_FAILED",
        failed_id,
    )
    assert newest["ResourceType"] == ROLE_TYPE
    # CloudFormation's wording, with the request id it sent the provider.
    assert re.fullmatch(
        r"Received response status \[FAILED\] from custom resource\. Message returned: "
        r"RoleName is taken \(RequestId: [0-9a-f-]{36}\)",
        newest["ResourceStatusReason"],
    )
    assert stack_status(cfn, stack_id) == "CREATE_IN_PROGRESS"  # moto does not roll back
    detail = cfn.describe_stack_resource(StackName=stack_id, LogicalResourceId="CiRole")["StackResourceDetail"]
    assert (detail["ResourceStatus"], detail["PhysicalResourceId"]) == ("CREATE_FAILED", failed_id)
    assert detail["ResourceStatusReason"] == newest["ResourceStatusReason"]


def test_a_response_reaches_a_stack_of_another_account(aws_client, moto_server, other_account):
    """The provider's PUT carries no credentials: the stack is found by its ARN."""
    other_cfn = aws_client("cloudformation", other_account)
    token = make_function(aws_client, moto_server, other_account)
    stack_id = other_cfn.create_stack(StackName="elsewhere", TemplateBody=template(token))["StackId"]
    assert f":{OTHER_ACCOUNT_ID}:stack/elsewhere/" in stack_id
    assert respond(moto_server, stack_id, Status="SUCCESS", PhysicalResourceId=OLD_ID) == 200
    assert summary(events(other_cfn, stack_id))[:2] == [
        ("elsewhere", "CREATE_COMPLETE", "<stack>"),
        ("CiRole", "CREATE_COMPLETE", OLD_ID),
    ]


def test_a_response_nothing_waits_for_changes_nothing(cfn, moto_server, stack_id):
    assert respond(moto_server, stack_id, Status="SUCCESS", PhysicalResourceId=OLD_ID) == 200
    before = events(cfn, stack_id)
    assert respond(moto_server, stack_id, Status="FAILED", Reason="late", PhysicalResourceId=OLD_ID) == 200
    assert respond(moto_server, stack_id, Status="SUCCESS", PhysicalResourceId=NEW_ID) == 200
    assert respond(moto_server, stack_id, Status="SUCCESS", PhysicalResourceId=OLD_ID, LogicalResourceId="Queue") == 200
    assert events(cfn, stack_id) == before
    assert stack_status(cfn, stack_id) == "CREATE_COMPLETE"


# --- POST /_efr/cloudformation/events ------------------------------------------------


def test_recorded_event_takes_the_type_of_the_template(cfn, moto_server, stack_id):
    # A body naming a type is refused: the type is CloudFormation's, never the caller's.
    forged = {"StackId": stack_id, "LogicalResourceId": "Queue", "ResourceStatus": "UPDATE_IN_PROGRESS",
              "ResourceType": ROLE_TYPE}
    status, body = record(moto_server, forged)
    assert status == 400
    assert "ResourceType" in body["error"] and "template" in body["error"]

    del forged["ResourceType"]
    assert record(moto_server, forged) == (204, None)
    assert record(moto_server, {**forged, "LogicalResourceId": "CiRole", "PhysicalResourceId": OLD_ID}) == (204, None)
    role, queue = events(cfn, stack_id)[:2]
    assert (role["LogicalResourceId"], role["ResourceType"], role["ResourceStatus"], role["PhysicalResourceId"]) == (
        "CiRole", ROLE_TYPE, "UPDATE_IN_PROGRESS", OLD_ID,
    )
    assert (queue["LogicalResourceId"], queue["ResourceType"]) == ("Queue", "AWS::SQS::Queue")
    assert queue.get("PhysicalResourceId", "") == ""  # none given


def test_stack_status_sets_the_stack_and_records_its_event(cfn, moto_server, stack_id):
    body = {"StackId": stack_id, "StackStatus": "UPDATE_IN_PROGRESS", "ResourceStatusReason": "User Initiated"}
    assert record(moto_server, body) == (204, None)
    assert stack_status(cfn, stack_id) == "UPDATE_IN_PROGRESS"
    newest = events(cfn, stack_id)[0]
    assert (newest["LogicalResourceId"], newest["ResourceType"], newest["PhysicalResourceId"]) == (
        "ci-roles", STACK_TYPE, stack_id,
    )
    assert (newest["ResourceStatus"], newest["ResourceStatusReason"]) == ("UPDATE_IN_PROGRESS", "User Initiated")

    # Both at once: the stack's event first, then the resource's (which gets the reason).
    both = {"StackId": stack_id, "StackStatus": "UPDATE_ROLLBACK_IN_PROGRESS", "LogicalResourceId": "CiRole",
            "ResourceStatus": "UPDATE_IN_PROGRESS", "PhysicalResourceId": OLD_ID, "ResourceStatusReason": "back"}
    assert record(moto_server, both) == (204, None)
    resource, stack = events(cfn, stack_id)[:2]
    assert (stack["ResourceType"], stack["ResourceStatus"], stack.get("ResourceStatusReason")) == (
        STACK_TYPE, "UPDATE_ROLLBACK_IN_PROGRESS", None,
    )
    assert (resource["ResourceType"], resource["ResourceStatusReason"]) == (ROLE_TYPE, "back")
    assert stack_status(cfn, stack_id) == "UPDATE_ROLLBACK_IN_PROGRESS"


def test_age_seconds_back_dates_the_event_and_the_history_before_it(cfn, moto_server, stack_id):
    created = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["CreationTime"]
    before = events(cfn, stack_id)
    body = {"StackId": stack_id, "LogicalResourceId": "CiRole", "ResourceStatus": "UPDATE_IN_PROGRESS",
            "PhysicalResourceId": OLD_ID, "AgeSeconds": 7200}
    assert record(moto_server, body) == (204, None)
    after = events(cfn, stack_id)
    now = datetime.datetime.now(datetime.timezone.utc)

    stale = after[0]
    assert (stale["ResourceStatus"], stale["PhysicalResourceId"]) == ("UPDATE_IN_PROGRESS", OLD_ID)
    age = now - stale["Timestamp"]
    assert datetime.timedelta(hours=2) <= age < datetime.timedelta(hours=2, minutes=1)
    # Still the newest, by its place and by its time.
    assert_newest_first(after)
    assert [e["EventId"] for e in after[1:]] == [e["EventId"] for e in before]
    for old, new in zip(before, after[1:]):
        assert old["Timestamp"] - new["Timestamp"] == datetime.timedelta(hours=2)
    assert created - cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["CreationTime"] == datetime.timedelta(hours=2)

    # A later event without AgeSeconds is recent again.
    assert record(moto_server, {**body, "AgeSeconds": 0, "ResourceStatus": "UPDATE_COMPLETE"}) == (204, None)
    newest = events(cfn, stack_id)[0]
    assert newest["ResourceStatus"] == "UPDATE_COMPLETE"
    assert now - newest["Timestamp"] < datetime.timedelta(minutes=1)


@pytest.mark.parametrize(
    "change, status, error",
    [
        ({"StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/nope/0000"}, 404, "no stack"),
        ({"StackId": "ci-roles"}, 404, "stack's ARN"),  # a name is not enough
        ({"LogicalResourceId": "Nobody"}, 400, "no resource Nobody"),
        ({"ResourceStatus": "UPDATE_DONE"}, 400, "not a CloudFormation resource status"),
        ({"StackStatus": "UPDATED"}, 400, "not a CloudFormation stack status"),
        ({"ResourceStatus": None}, 400, "ResourceStatus is required"),
        ({"LogicalResourceId": None, "ResourceStatus": None}, 400, "give StackStatus, LogicalResourceId or both"),
        ({"LogicalResourceId": None, "StackStatus": "UPDATE_IN_PROGRESS"}, 400, "need a LogicalResourceId"),
        ({"ResourceType": "AWS::CloudFormation::CustomResource"}, 400, "unknown field(s): ResourceType"),
        ({"Timestamp": "2020-01-01T00:00:00Z"}, 400, "unknown field(s): Timestamp"),
        ({"AgeSeconds": -1}, 400, "AgeSeconds"),
        ({"AgeSeconds": "60"}, 400, "AgeSeconds"),
        ({"PhysicalResourceId": 7}, 400, "PhysicalResourceId must be a non-empty string"),
        ({"StackId": None}, 400, "StackId is required"),
    ],
)
def test_refusals_record_nothing(cfn, moto_server, stack_id, change, status, error):
    body = {"StackId": stack_id, "LogicalResourceId": "CiRole", "ResourceStatus": "UPDATE_IN_PROGRESS"}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    before = events(cfn, stack_id)
    got_status, got = record(moto_server, body)
    assert got_status == status
    assert error in got["error"]
    assert events(cfn, stack_id) == before
    assert stack_status(cfn, stack_id) == "CREATE_IN_PROGRESS"


def test_only_json_objects_by_post(moto_server):
    assert record(moto_server, raw=b"not json") == (400, {"error": "the body must be a JSON object"})
    assert record(moto_server, body=[1]) == (400, {"error": "the body must be a JSON object"})
    assert record(moto_server, method="GET") == (405, {"error": "use POST"})
    status, _ = http(f"{moto_server.url}/_efr/cloudformation/other", "POST", {})
    assert status == 404


def test_a_deleted_stack_is_found_by_its_arn(cfn, moto_server, stack_id):
    cfn.delete_stack(StackName=stack_id)
    assert stack_status(cfn, stack_id) == "DELETE_COMPLETE"
    body = {"StackId": stack_id, "LogicalResourceId": "CiRole", "ResourceStatus": "DELETE_COMPLETE",
            "PhysicalResourceId": OLD_ID}
    assert record(moto_server, body) == (204, None)
    assert summary(events(cfn, stack_id))[0] == ("CiRole", "DELETE_COMPLETE", OLD_ID)


def test_the_stack_is_looked_up_in_the_account_and_region_of_its_arn(aws_client, moto_server, other_account):
    other_cfn = aws_client("cloudformation", other_account)
    stack_id = other_cfn.create_stack(StackName="elsewhere", TemplateBody=template())["StackId"]
    assert f":{OTHER_ACCOUNT_ID}:stack/elsewhere/" in stack_id

    body = {"StackId": stack_id, "LogicalResourceId": "Queue", "ResourceStatus": "UPDATE_IN_PROGRESS"}
    assert record(moto_server, body) == (204, None)
    assert summary(events(other_cfn, stack_id))[0] == ("Queue", "UPDATE_IN_PROGRESS", "")
    wrong_region = stack_id.replace(f":{REGION}:", ":eu-west-1:")
    assert record(moto_server, {**body, "StackId": wrong_region})[0] == 404


# --- The phases a test replays --------------------------------------------------------


def test_a_replacement_replayed(cfn, moto_server, stack_id):
    """Create, then a replacement and its cleanup: DescribeStackEvents shows each step
    newest first, and the resource summary keeps the new generation during cleanup."""
    assert respond(moto_server, stack_id, Status="SUCCESS", PhysicalResourceId=OLD_ID) == 200
    steps = [
        {"StackStatus": "UPDATE_IN_PROGRESS", "ResourceStatusReason": "User Initiated"},
        {"LogicalResourceId": "CiRole", "ResourceStatus": "UPDATE_IN_PROGRESS", "PhysicalResourceId": OLD_ID},
        {"LogicalResourceId": "CiRole", "ResourceStatus": "UPDATE_COMPLETE", "PhysicalResourceId": NEW_ID},
        {"StackStatus": "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"},
        {"LogicalResourceId": "CiRole", "ResourceStatus": "DELETE_IN_PROGRESS", "PhysicalResourceId": OLD_ID},
    ]
    for step in steps:
        assert record(moto_server, {"StackId": stack_id, **step}) == (204, None)

    listed = events(cfn, stack_id)
    assert summary(listed)[:7] == [
        ("CiRole", "DELETE_IN_PROGRESS", OLD_ID),
        ("ci-roles", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "<stack>"),
        ("CiRole", "UPDATE_COMPLETE", NEW_ID),
        ("CiRole", "UPDATE_IN_PROGRESS", OLD_ID),
        ("ci-roles", "UPDATE_IN_PROGRESS", "<stack>"),
        ("ci-roles", "CREATE_COMPLETE", "<stack>"),
        ("CiRole", "CREATE_COMPLETE", OLD_ID),
    ]
    assert_newest_first(listed)
    # The old generation is being deleted; the resource itself is the new one.
    detail = cfn.describe_stack_resource(StackName=stack_id, LogicalResourceId="CiRole")["StackResourceDetail"]
    assert (detail["ResourceStatus"], detail["PhysicalResourceId"]) == ("UPDATE_COMPLETE", NEW_ID)

    for step in (
        {"LogicalResourceId": "CiRole", "ResourceStatus": "DELETE_COMPLETE", "PhysicalResourceId": OLD_ID},
        {"StackStatus": "UPDATE_COMPLETE"},
    ):
        assert record(moto_server, {"StackId": stack_id, **step}) == (204, None)
    assert stack_status(cfn, stack_id) == "UPDATE_COMPLETE"
    detail = cfn.describe_stack_resource(StackName=stack_id, LogicalResourceId="CiRole")["StackResourceDetail"]
    assert (detail["ResourceStatus"], detail["PhysicalResourceId"]) == ("UPDATE_COMPLETE", NEW_ID)


def test_a_create_rollback_replayed(cfn, moto_server, stack_id):
    failed_id = "entra-federated-role:create-failed:abc"
    assert respond(moto_server, stack_id, Status="FAILED", Reason="no", PhysicalResourceId=failed_id) == 200
    for step in (
        {"StackStatus": "ROLLBACK_IN_PROGRESS"},
        {"LogicalResourceId": "CiRole", "ResourceStatus": "DELETE_IN_PROGRESS", "PhysicalResourceId": failed_id},
    ):
        assert record(moto_server, {"StackId": stack_id, **step}) == (204, None)
    assert summary(events(cfn, stack_id))[:3] == [
        ("CiRole", "DELETE_IN_PROGRESS", failed_id),
        ("ci-roles", "ROLLBACK_IN_PROGRESS", "<stack>"),
        ("CiRole", "CREATE_FAILED", failed_id),
    ]
    detail = cfn.describe_stack_resource(StackName=stack_id, LogicalResourceId="CiRole")["StackResourceDetail"]
    assert (detail["ResourceStatus"], detail["PhysicalResourceId"]) == ("DELETE_IN_PROGRESS", failed_id)
