"""moto_ext's STS GetWebIdentityToken, through server.py and boto3: real JWTs that
verify against the server's JWKS, with the documented issuer, sub and aud claims."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import moto_ext
from conftest import DEFAULT_ACCOUNT_ID, error_of

OTHER_ACCOUNT_ID = "111122223333"
AUDIENCE = "api://AzureADTokenExchange"


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        return json.loads(resp.read())


def verify(token: str, jwks: dict) -> tuple[dict, dict]:
    """Check the signature against the JWKS; return (header, claims)."""
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(b64decode(header_b64))
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert jwk["alg"] == header["alg"]
    signing_input = f"{header_b64}.{claims_b64}".encode()
    signature = b64decode(signature_b64)
    if jwk["kty"] == "RSA":
        key = rsa.RSAPublicNumbers(
            int.from_bytes(b64decode(jwk["e"]), "big"), int.from_bytes(b64decode(jwk["n"]), "big")
        ).public_key()
        key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        key = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64decode(jwk["x"]), "big"),
            int.from_bytes(b64decode(jwk["y"]), "big"),
            ec.SECP384R1(),
        ).public_key()
        r, s = int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
        key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA384()))
    return header, json.loads(b64decode(claims_b64))


@pytest.fixture
def sts(aws_client):
    return aws_client("sts")


@pytest.fixture
def jwks(moto_server) -> dict:
    return get_json(f"{moto_server.url}/_efr/outbound-identity/jwks.json")


def issuer(moto_server, account: str = DEFAULT_ACCOUNT_ID) -> str:
    return get_json(f"{moto_server.url}/_efr/outbound-identity/issuer?account={account}")["issuer"]


OUTBOUND_ACTIONS = [
    "get_web_identity_token",
    "get_outbound_web_identity_federation_info",
    "enable_outbound_web_identity_federation",
    "disable_outbound_web_identity_federation",
]


def test_moto_525_lacks_the_actions_and_install_adds_them(monkeypatch):
    from moto.iam.models import IAMBackend
    from moto.iam.responses import IamResponse
    from moto.sts.models import STSBackend
    from moto.sts.responses import TokenResponse

    for name in OUTBOUND_ACTIONS:
        classes = (STSBackend, TokenResponse) if name == "get_web_identity_token" else (IAMBackend, IamResponse)
        for cls in classes:
            original = getattr(cls, name, None)
            monkeypatch.setattr(cls, name, original, raising=False)
            if original is None:
                monkeypatch.delattr(cls, name)
            # Not in moto 5.2.5, unless this process already ran the installer.
            assert original is None or original.__module__ == moto_ext.__name__

    assert moto_ext.install_outbound_identity() == OUTBOUND_ACTIONS
    assert moto_ext.install_outbound_identity() == OUTBOUND_ACTIONS

    def moto_own(self):  # stands in for a future moto implementation
        raise AssertionError

    monkeypatch.setattr(TokenResponse, "get_web_identity_token", moto_own)
    monkeypatch.setattr(IamResponse, "enable_outbound_web_identity_federation", moto_own)
    assert moto_ext.install_outbound_identity() == [
        "get_outbound_web_identity_federation_info",
        "disable_outbound_web_identity_federation",
    ]
    assert TokenResponse.get_web_identity_token is moto_own
    assert IamResponse.enable_outbound_web_identity_federation is moto_own


def test_rs256_token_for_a_role_session_names_the_role(aws_client, sts, jwks, moto_server):
    role_arn = f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/platform/entra-federated-role-factory"
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="lambda")["Credentials"]
    role_sts = aws_client(
        "sts",
        {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        },
    )
    resp = role_sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")
    header, claims = verify(resp["WebIdentityToken"], jwks)
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    assert claims["iss"] == issuer(moto_server, OTHER_ACCOUNT_ID)
    assert claims["iss"].startswith("https://") and claims["iss"].endswith(".tokens.sts.global.api.aws")
    assert claims["sub"] == role_arn  # the role, not the assumed-role session
    assert claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == 300  # the default duration
    assert claims["nbf"] == claims["iat"]
    assert claims["https://sts.amazonaws.com/"]["principal_id"] == role_arn
    assert claims["https://sts.amazonaws.com/"]["aws_account"] == OTHER_ACCOUNT_ID
    assert abs(resp["Expiration"].timestamp() - claims["exp"]) <= 1


def test_es384_tokens_several_audiences_duration_and_tags(sts, jwks, moto_server):
    resp = sts.get_web_identity_token(
        Audience=["https://a.example", "https://b.example"],
        SigningAlgorithm="ES384",
        DurationSeconds=3600,
        Tags=[{"Key": "team", "Value": "platform"}],
    )
    header, claims = verify(resp["WebIdentityToken"], jwks)
    assert header["alg"] == "ES384"
    assert claims["aud"] == ["https://a.example", "https://b.example"]
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["iss"] == issuer(moto_server)
    assert claims["sub"].startswith("arn:aws:") and DEFAULT_ACCOUNT_ID in claims["sub"]
    assert claims["https://sts.amazonaws.com/"]["request_tags"] == {"team": "platform"}


def test_each_token_is_unique(sts, jwks):
    tokens = [
        sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")["WebIdentityToken"]
        for _ in range(2)
    ]
    jtis = {verify(t, jwks)[1]["jti"] for t in tokens}
    assert len(jtis) == 2


def test_issuer_is_per_account_and_stable(moto_server):
    assert issuer(moto_server) == issuer(moto_server, DEFAULT_ACCOUNT_ID)
    assert issuer(moto_server, OTHER_ACCOUNT_ID) != issuer(moto_server)
    assert issuer(moto_server) == moto_ext.outbound_identity_issuer(DEFAULT_ACCOUNT_ID)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"Audience": [AUDIENCE], "SigningAlgorithm": "HS256"},
         "Value 'HS256' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RS256, ES384]"),
        ({"Audience": [AUDIENCE], "SigningAlgorithm": "RS256", "DurationSeconds": 59},
         "Value '59' at 'durationSeconds' failed to satisfy constraint: Member must have value between 60 and 3600"),
        ({"Audience": [AUDIENCE], "SigningAlgorithm": "RS256", "DurationSeconds": 3601},
         "Value '3601' at 'durationSeconds'"),
        ({"Audience": [f"aud-{i}" for i in range(11)], "SigningAlgorithm": "RS256"},
         "Member must have length less than or equal to 10"),
        ({"Audience": ["x" * 1001], "SigningAlgorithm": "RS256"},
         "Member must have length between 1 and 1000"),
    ],
)
def test_invalid_requests_are_validation_errors(aws_client, kwargs, message):
    unchecked = aws_client("sts", parameter_validation=False)
    with pytest.raises(ClientError) as excinfo:
        unchecked.get_web_identity_token(**kwargs)
    error = excinfo.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationError", 400)
    assert error["Error"]["Message"].startswith("1 validation error detected: ")
    assert message in error["Error"]["Message"]


def test_unknown_paths_under_the_prefix_are_404(moto_server):
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(f"{moto_server.url}/_efr/outbound-identity/nope", timeout=10)
    assert excinfo.value.code == 404


def test_the_signing_key_comes_from_the_named_pem_file(spawn_server, tmp_path, monkeypatch):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem_path = tmp_path / "outbound.pem"
    pem_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv(moto_ext.OUTBOUND_IDENTITY_KEY_VAR, str(pem_path))
    server = spawn_server("--quiet")
    jwks = get_json(f"{server.url}/_efr/outbound-identity/jwks.json")
    (rsa_jwk,) = [k for k in jwks["keys"] if k["kty"] == "RSA"]
    assert int.from_bytes(b64decode(rsa_jwk["n"]), "big") == key.public_key().public_numbers().n
    assert server.stop() == 0, server.stderr()


def test_a_bad_key_file_stops_the_server_at_startup(spawn_server, tmp_path, monkeypatch):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    monkeypatch.setenv(moto_ext.OUTBOUND_IDENTITY_KEY_VAR, str(bad))
    with pytest.raises(RuntimeError) as excinfo:
        spawn_server("--quiet")
    assert "unexpected first line b''" in str(excinfo.value)


# --- IAM: the account's switch (Get/Enable/DisableOutboundWebIdentityFederation) ---

IAM_NS = "{https://iam.amazonaws.com/doc/2010-05-08/}"
DISABLED_TOKEN_ERROR = "OutboundWebIdentityFederationDisabledException"


@pytest.fixture
def iam(aws_client):
    return aws_client("iam")


def role_session(aws_client, sts, account: str = OTHER_ACCOUNT_ID):
    """(iam, sts) clients acting as a role session in `account`."""
    role_arn = f"arn:aws:iam::{account}:role/outbound-federation"
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="switch")["Credentials"]
    credentials = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    return aws_client("iam", credentials), aws_client("sts", credentials)


def token_claims(sts_client, jwks) -> dict:
    token = sts_client.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")["WebIdentityToken"]
    return verify(token, jwks)[1]


def raw_response(client, operation: str, **kwargs) -> tuple[int, ET.Element]:
    """Call `operation` and return the HTTP status and parsed XML body of its answer
    (an error answer included: botocore emits after-call before raising)."""
    seen = {}

    def keep(http_response, **_):
        seen["response"] = http_response

    client.meta.events.register("after-call", keep)
    try:
        getattr(client, operation)(**kwargs)
    except ClientError:
        pass
    finally:
        client.meta.events.unregister("after-call", keep)
    response = seen["response"]
    return response.status_code, ET.fromstring(response.content)


def test_info_names_the_issuer_of_the_account_s_tokens(aws_client, iam, sts, jwks, moto_server):
    info = iam.get_outbound_web_identity_federation_info()
    assert info["JwtVendingEnabled"] is True
    assert info["IssuerIdentifier"] == token_claims(sts, jwks)["iss"]
    assert info["IssuerIdentifier"] == issuer(moto_server) == moto_ext.outbound_identity_issuer(DEFAULT_ACCOUNT_ID)

    other_iam, other_sts = role_session(aws_client, sts)
    other = other_iam.get_outbound_web_identity_federation_info()
    assert other["JwtVendingEnabled"] is True
    assert other["IssuerIdentifier"] == token_claims(other_sts, jwks)["iss"] == issuer(moto_server, OTHER_ACCOUNT_ID)
    assert other["IssuerIdentifier"] != info["IssuerIdentifier"]


def test_info_is_the_iam_query_xml_of_the_reference(iam):
    status, root = raw_response(iam, "get_outbound_web_identity_federation_info")
    assert status == 200
    assert root.tag == f"{IAM_NS}GetOutboundWebIdentityFederationInfoResponse"
    result, metadata = list(root)
    assert result.tag == f"{IAM_NS}GetOutboundWebIdentityFederationInfoResult"
    assert [(child.tag, child.text) for child in result] == [
        (f"{IAM_NS}IssuerIdentifier", moto_ext.outbound_identity_issuer(DEFAULT_ACCOUNT_ID)),
        (f"{IAM_NS}JwtVendingEnabled", "true"),
    ]
    assert metadata.tag == f"{IAM_NS}ResponseMetadata"
    assert metadata.find(f"{IAM_NS}RequestId").text


def test_enable_and_disable_answer_the_reference_s_xml(iam):
    status, root = raw_response(iam, "disable_outbound_web_identity_federation")
    assert status == 200
    assert root.tag == f"{IAM_NS}DisableOutboundWebIdentityFederationResponse"
    assert [child.tag for child in root] == [f"{IAM_NS}ResponseMetadata"]  # no Result

    status, root = raw_response(iam, "enable_outbound_web_identity_federation")
    assert status == 200
    assert root.tag == f"{IAM_NS}EnableOutboundWebIdentityFederationResponse"
    result, metadata = list(root)
    assert result.tag == f"{IAM_NS}EnableOutboundWebIdentityFederationResult"
    assert [(child.tag, child.text) for child in result] == [
        (f"{IAM_NS}IssuerIdentifier", moto_ext.outbound_identity_issuer(DEFAULT_ACCOUNT_ID)),
    ]
    assert metadata.find(f"{IAM_NS}RequestId").text


def test_disabling_turns_the_feature_off_for_that_account_only(aws_client, iam, sts, jwks):
    issued_before = sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="ES384")["WebIdentityToken"]
    other_iam, other_sts = role_session(aws_client, sts)
    other_issuer = other_iam.get_outbound_web_identity_federation_info()["IssuerIdentifier"]

    iam.disable_outbound_web_identity_federation()

    with pytest.raises(ClientError) as excinfo:
        iam.get_outbound_web_identity_federation_info()
    assert error_of(excinfo)[:2] == ("FeatureDisabled", 404)
    with pytest.raises(iam.exceptions.FeatureDisabledException):
        iam.get_outbound_web_identity_federation_info()
    with pytest.raises(ClientError) as excinfo:
        sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")
    assert error_of(excinfo)[:2] == (DISABLED_TOKEN_ERROR, 403)
    with pytest.raises(sts.exceptions.OutboundWebIdentityFederationDisabledException):
        sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="ES384")
    verify(issued_before, jwks)  # "does not affect tokens that were issued before"

    # The other account is untouched.
    other_info = other_iam.get_outbound_web_identity_federation_info()
    assert (other_info["IssuerIdentifier"], other_info["JwtVendingEnabled"]) == (other_issuer, True)
    assert token_claims(other_sts, jwks)["iss"] == other_issuer


def test_a_role_session_switches_its_role_s_account(aws_client, iam, sts, jwks):
    other_iam, other_sts = role_session(aws_client, sts)
    other_iam.disable_outbound_web_identity_federation()

    with pytest.raises(ClientError) as excinfo:
        other_sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")
    assert error_of(excinfo)[:2] == (DISABLED_TOKEN_ERROR, 403)
    with pytest.raises(ClientError) as excinfo:
        other_iam.get_outbound_web_identity_federation_info()
    assert error_of(excinfo)[:2] == ("FeatureDisabled", 404)
    # The caller's own (default) account is untouched.
    assert iam.get_outbound_web_identity_federation_info()["JwtVendingEnabled"] is True
    assert token_claims(sts, jwks)["iss"] == moto_ext.outbound_identity_issuer(DEFAULT_ACCOUNT_ID)

    enabled = other_iam.enable_outbound_web_identity_federation()
    assert enabled["IssuerIdentifier"] == moto_ext.outbound_identity_issuer(OTHER_ACCOUNT_ID)
    assert token_claims(other_sts, jwks)["iss"] == enabled["IssuerIdentifier"]


def test_enabling_again_restores_the_account_s_issuer_and_tokens(iam, sts, jwks):
    before = iam.get_outbound_web_identity_federation_info()["IssuerIdentifier"]
    iam.disable_outbound_web_identity_federation()

    enabled = iam.enable_outbound_web_identity_federation()

    assert enabled["IssuerIdentifier"] == before
    info = iam.get_outbound_web_identity_federation_info()
    assert (info["IssuerIdentifier"], info["JwtVendingEnabled"]) == (before, True)
    assert token_claims(sts, jwks)["iss"] == before


def test_enable_and_disable_are_not_idempotent(iam):
    # "You cannot enable the feature multiple times" / "cannot disable the feature
    # multiple times". Enabled by default here, so the first Enable is refused.
    with pytest.raises(ClientError) as excinfo:
        iam.enable_outbound_web_identity_federation()
    assert error_of(excinfo)[:2] == ("FeatureEnabled", 409)
    with pytest.raises(iam.exceptions.FeatureEnabledException):
        iam.enable_outbound_web_identity_federation()

    iam.disable_outbound_web_identity_federation()
    with pytest.raises(ClientError) as excinfo:
        iam.disable_outbound_web_identity_federation()
    assert error_of(excinfo)[:2] == ("FeatureDisabled", 404)

    iam.enable_outbound_web_identity_federation()
    with pytest.raises(ClientError) as excinfo:
        iam.enable_outbound_web_identity_federation()
    assert error_of(excinfo)[:2] == ("FeatureEnabled", 409)


def test_refusals_are_iam_query_errors(iam):
    status, root = raw_response(iam, "enable_outbound_web_identity_federation")
    assert status == 409
    assert root.tag == f"{IAM_NS}ErrorResponse"
    error = root.find(f"{IAM_NS}Error")
    assert error.find(f"{IAM_NS}Type").text == "Sender"
    assert error.find(f"{IAM_NS}Code").text == "FeatureEnabled"
    assert error.find(f"{IAM_NS}Message").text
    assert root.find(f"{IAM_NS}RequestId").text

    iam.disable_outbound_web_identity_federation()
    status, root = raw_response(iam, "get_outbound_web_identity_federation_info")
    assert status == 404
    assert root.find(f"{IAM_NS}Error/{IAM_NS}Code").text == "FeatureDisabled"


def test_reset_enables_the_feature_again(moto_server, iam, sts, jwks):
    iam.disable_outbound_web_identity_federation()
    req = urllib.request.Request(f"{moto_server.url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    assert iam.get_outbound_web_identity_federation_info()["JwtVendingEnabled"] is True
    assert token_claims(sts, jwks)["iss"] == moto_ext.outbound_identity_issuer(DEFAULT_ACCOUNT_ID)


def test_the_setting_lives_on_the_account_s_iam_backend():
    """In-process: the switch is an attribute of iam_backends[account][partition],
    so a backend reset (what POST /moto-api/reset does) restores the default."""
    from moto.iam.models import iam_backends

    moto_ext.install_outbound_identity()
    account = "210987654321"  # an account no other test of this process uses
    backend = iam_backends[account]["aws"]
    assert moto_ext.OUTBOUND_FEDERATION_ENABLED_BY_DEFAULT is True
    assert moto_ext.outbound_federation_enabled(account)

    backend.disable_outbound_web_identity_federation()
    assert not moto_ext.outbound_federation_enabled(account)
    assert moto_ext.outbound_federation_enabled(DEFAULT_ACCOUNT_ID)

    backend.reset()
    assert moto_ext.outbound_federation_enabled(account)
