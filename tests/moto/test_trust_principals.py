"""moto_ext's trust-principal check: a role may trust only an OIDC provider that exists."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

import moto_ext
from conftest import DEFAULT_ACCOUNT_ID, error_of

PROVIDER_URL = "https://sts.windows.net/00000000-0000-0000-0000-000000000001/"
PROVIDER_ARN = (
    f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:oidc-provider/"
    "sts.windows.net/00000000-0000-0000-0000-000000000001/"
)


@pytest.fixture
def iam(aws_client):
    return aws_client("iam")


def trusting(principal) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
            ],
        }
    )


INVALID = (
    "MalformedPolicyDocument",
    400,
    f'Invalid principal in policy: "Federated":"{PROVIDER_ARN}"',
)


def test_a_role_cannot_trust_a_provider_that_does_not_exist(iam):
    with pytest.raises(ClientError) as excinfo:
        iam.create_role(
            RoleName="r", AssumeRolePolicyDocument=trusting({"Federated": PROVIDER_ARN})
        )
    assert error_of(excinfo) == INVALID
    assert iam.list_roles()["Roles"] == [], "nothing was created"


def test_once_the_provider_exists_the_same_trust_is_accepted(iam):
    iam.create_open_id_connect_provider(Url=PROVIDER_URL, ClientIDList=["api://a"])
    iam.create_role(
        RoleName="r",
        AssumeRolePolicyDocument=trusting({"Federated": [PROVIDER_ARN]}),
    )


def test_a_trust_update_naming_a_deleted_provider_is_refused(iam):
    iam.create_open_id_connect_provider(Url=PROVIDER_URL, ClientIDList=["api://a"])
    iam.create_role(
        RoleName="r", AssumeRolePolicyDocument=trusting({"Federated": PROVIDER_ARN})
    )
    # IAM lets the provider go while a role still names it...
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER_ARN)
    assert iam.get_role(RoleName="r")["Role"]["RoleName"] == "r"
    # ...but a trust written now cannot name it.
    with pytest.raises(ClientError) as excinfo:
        iam.update_assume_role_policy(
            RoleName="r", PolicyDocument=trusting({"Federated": PROVIDER_ARN})
        )
    assert error_of(excinfo) == INVALID


def test_other_principals_are_not_looked_up(iam):
    for name, principal in [
        ("service", {"Service": "lambda.amazonaws.com"}),
        ("cognito", {"Federated": "cognito-identity.amazonaws.com"}),
        ("everyone", "*"),
    ]:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trusting(principal))


def test_installing_twice_wraps_once():
    from moto.iam.models import IAMBackend

    moto_ext.install_trust_principal_check()
    assert moto_ext.install_trust_principal_check() == []
    assert IAMBackend.create_role.efr_checks_principals
    assert not getattr(IAMBackend.create_role.__wrapped__, "efr_checks_principals", False)
