"""moto_ext's role rules: names unique regardless of case, the managed-policies-per-role
quota, and the trust policy length quota, as IAM enforces them."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

import moto_ext
from conftest import error_of

NOBODY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}],
    }
)


@pytest.fixture
def iam(aws_client):
    return aws_client("iam")


def trust_of_size(size: int) -> str:
    """A trust policy of exactly `size` characters that are not white space."""
    base = json.loads(NOBODY)
    base["Statement"][0]["Sid"] = ""
    padding = size - len(json.dumps(base, separators=(",", ":")))
    base["Statement"][0]["Sid"] = "A" * padding
    # Pretty-printed: IAM does not count the white space.
    document = json.dumps(base, indent=4)
    assert sum(1 for c in document if not c.isspace()) == size
    return document


def test_role_names_are_unique_regardless_of_case(iam):
    iam.create_role(RoleName="ci-deploy", AssumeRolePolicyDocument=NOBODY)
    for name in ("CI-DEPLOY", "Ci-Deploy"):
        with pytest.raises(ClientError) as excinfo:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=NOBODY)
        assert error_of(excinfo) == (
            "EntityAlreadyExists",
            409,
            "Role with name ci-deploy already exists.",
        )
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["ci-deploy"]


def test_a_role_takes_at_most_ten_managed_policies(iam):
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=NOBODY)
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    )
    arns = [
        iam.create_policy(PolicyName=f"p{i}", PolicyDocument=document)["Policy"]["Arn"]
        for i in range(11)
    ]
    for arn in arns[:10]:
        iam.attach_role_policy(RoleName="r", PolicyArn=arn)
    # Attaching one already attached again is no new attachment.
    iam.attach_role_policy(RoleName="r", PolicyArn=arns[0])
    with pytest.raises(ClientError) as excinfo:
        iam.attach_role_policy(RoleName="r", PolicyArn=arns[10])
    assert error_of(excinfo) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for PoliciesPerRole: 10",
    )
    attached = iam.list_attached_role_policies(RoleName="r")["AttachedPolicies"]
    assert len(attached) == 10


def test_a_trust_policy_is_at_most_2048_characters_white_space_not_counted(iam):
    iam.create_role(RoleName="fits", AssumeRolePolicyDocument=trust_of_size(2048))
    too_long = trust_of_size(2049)
    with pytest.raises(ClientError) as excinfo:
        iam.create_role(RoleName="long", AssumeRolePolicyDocument=too_long)
    quota = ("LimitExceeded", 409, "Cannot exceed quota for ACLSizePerRole: 2048")
    assert error_of(excinfo) == quota
    with pytest.raises(ClientError) as excinfo:
        iam.update_assume_role_policy(RoleName="fits", PolicyDocument=too_long)
    assert error_of(excinfo) == quota
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["fits"]


def test_installing_twice_wraps_nothing_more():
    moto_ext.install_role_rules()
    assert moto_ext.install_role_rules() == []
