"""moto_ext's checking STS AssumeRoleWithWebIdentity, through server.py and boto3.

Each test gets its own Entra-like issuer (https://sts.windows.net/<tenant>/),
whose JWKS a local HTTP server publishes and which is registered with the moto
server at POST /_efr/web-identity/issuers; tokens are RS256 JWTs signed here.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import moto_ext
from conftest import DEFAULT_ACCOUNT_ID, error_of

OTHER_ACCOUNT_ID = "111122223333"
APP_ID = "api://4f7c1b1e-0000-4000-8000-00000000a11d"  # the provider's client ID
OTHER_APP_ID = "api://4f7c1b1e-0000-4000-8000-0000000b0b00"
CALLER = "0a1b2c3d-0000-4000-8000-00000000ca11"  # a service principal's object id
OTHER_CALLER = "0a1b2c3d-0000-4000-8000-0000000bad00"
ACCESS_DENIED = ("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64url(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": int_b64url(numbers.n), "e": int_b64url(numbers.e)}


def sign(header: dict, claims: dict, key: rsa.RSAPrivateKey) -> str:
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


# --- A local JWKS server and Entra-like issuers --------------------------------


class JwksServer:
    """Serves JSON documents published under a path, from a thread."""

    def __init__(self) -> None:
        self.documents: dict[str, dict] = {}
        documents = self.documents

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                document = documents.get(self.path)
                data = json.dumps(document).encode()
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def jwks_server():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def register(moto_url: str, body: dict) -> int:
    request = urllib.request.Request(
        f"{moto_url}/_efr/web-identity/issuers",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.read() == b""
            return resp.status
    except urllib.error.HTTPError as error:
        return error.code


@dataclass
class Issuer:
    """An Entra v1 issuer of its own tenant, signing with `key` as `kid`."""

    key: rsa.RSAPrivateKey
    jwks_server: JwksServer
    tenant: str = field(default_factory=lambda: str(uuid.uuid4()))
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    @property
    def url(self) -> str:
        return f"https://sts.windows.net/{self.tenant}/"

    @property
    def provider_id(self) -> str:  # the URL as IAM keys it
        return f"sts.windows.net/{self.tenant}/"

    @property
    def jwks_path(self) -> str:
        return f"/{self.tenant}/discovery/keys"

    def publish(self, *keys: dict) -> None:
        self.jwks_server.documents[self.jwks_path] = {"keys": list(keys or [jwk(self.key, self.kid)])}

    def register(self, moto_url: str) -> None:
        assert register(moto_url, {"issuer": self.url, "jwks_uri": self.jwks_server.url + self.jwks_path}) == 204

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {"iss": self.url, "aud": APP_ID, "sub": CALLER, "iat": now, "nbf": now, "exp": now + 3600}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, key: rsa.RSAPrivateKey | None = None, kid: str | None = None, **claims) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": kid or self.kid}
        return sign(header, self.claims(**claims), key or self.key)


@pytest.fixture
def issuer(signing_key, jwks_server, moto_server) -> Issuer:
    """A fresh tenant's issuer: keys published, registered with the moto server."""
    issuer = Issuer(signing_key, jwks_server)
    issuer.publish()
    issuer.register(moto_server.url)
    return issuer


# --- IAM set-up ----------------------------------------------------------------


def provider_arn(issuer: Issuer, account: str = DEFAULT_ACCOUNT_ID) -> str:
    return f"arn:aws:iam::{account}:oidc-provider/{issuer.provider_id}"


def trust_statement(issuer: Issuer, conditions: dict | None = None, effect: str = "Allow",
                    principal=None, account: str = DEFAULT_ACCOUNT_ID) -> dict:
    statement = {
        "Effect": effect,
        "Principal": principal if principal is not None else {"Federated": provider_arn(issuer, account)},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    if conditions is not None:
        statement["Condition"] = conditions
    return statement


def pinned(issuer: Issuer, aud=APP_ID, sub=CALLER) -> dict:
    """StringEquals on aud AND sub, as the role factory writes its trusts."""
    return {"StringEquals": {f"{issuer.provider_id}:aud": aud, f"{issuer.provider_id}:sub": sub}}


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def iam(aws_client):
    return aws_client("iam")


@pytest.fixture
def sts(aws_client):
    return aws_client("sts")


@pytest.fixture
def provider(iam, issuer) -> str:
    return iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=[APP_ID])["OpenIDConnectProviderArn"]


def create_role(iam, document: str, name: str = "entra-caller", path: str = "/") -> str:
    return iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=document)["Role"]["Arn"]


def assume(sts, role_arn: str, token: str, session: str = "entra-session", **kwargs) -> dict:
    return sts.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName=session, WebIdentityToken=token, **kwargs
    )


def assume_error(sts, role_arn: str, token: str, **kwargs) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as excinfo:
        assume(sts, role_arn, token, **kwargs)
    return error_of(excinfo)


def credentials_of(resp: dict) -> dict:
    creds = resp["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


# --- install ----------------------------------------------------------------------


def test_install_replaces_moto_s_unchecked_action_once(monkeypatch):
    from moto.sts.models import STSBackend
    from moto.sts.responses import TokenResponse

    name = "assume_role_with_web_identity"
    for cls in (STSBackend, TokenResponse):
        monkeypatch.setattr(cls, name, getattr(cls, name))  # restored after the test
    monkeypatch.setattr(TokenResponse, name, lambda self: None)  # e.g. moto's own
    assert moto_ext.install_web_identity_check() == [name]
    assert moto_ext.install_web_identity_check() == []
    assert TokenResponse.assume_role_with_web_identity is moto_ext._response_assume_role_with_web_identity
    assert STSBackend.assume_role_with_web_identity is moto_ext._backend_assume_role_with_web_identity


# --- the happy path -----------------------------------------------------------


def test_a_token_the_trust_pins_gets_credentials_that_act_as_the_role(aws_client, iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))), path="/federated/")
    resp = assume(sts, role_arn, issuer.token(), session="caller@entra", DurationSeconds=900)

    assert resp["SubjectFromWebIdentityToken"] == CALLER
    assert resp["Audience"] == APP_ID
    assert resp["Provider"] == provider == provider_arn(issuer)
    assumed_arn = f"arn:aws:sts::{DEFAULT_ACCOUNT_ID}:assumed-role/entra-caller/caller@entra"
    assert resp["AssumedRoleUser"]["Arn"] == assumed_arn
    role_id = iam.get_role(RoleName="entra-caller")["Role"]["RoleId"]
    assert resp["AssumedRoleUser"]["AssumedRoleId"] == f"{role_id}:caller@entra"
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SecretAccessKey"] and creds["SessionToken"]
    assert 850 <= (creds["Expiration"].timestamp() - time.time()) <= 900

    identity = aws_client("sts", credentials_of(resp)).get_caller_identity()
    assert identity["Arn"] == assumed_arn
    assert identity["Account"] == DEFAULT_ACCOUNT_ID
    assert identity["UserId"] == f"{role_id}:caller@entra"


def test_the_trust_may_list_several_subjects(iam, sts, issuer, provider):
    callers = [CALLER, "0a1b2c3d-0000-4000-8000-00000000ca12"]
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer, sub=callers))))
    for caller in callers:
        assert assume(sts, role_arn, issuer.token(sub=caller))["SubjectFromWebIdentityToken"] == caller
    assert assume_error(sts, role_arn, issuer.token(sub=OTHER_CALLER)) == ACCESS_DENIED


def test_string_like_matches_with_wildcards(iam, sts, issuer, provider):
    conditions = {
        "StringEquals": {f"{issuer.provider_id}:aud": APP_ID},
        "StringLike": {f"{issuer.provider_id}:sub": "0a1b2c3d-*-00000000ca1?"},
    }
    role_arn = create_role(iam, policy(trust_statement(issuer, conditions)))
    assert assume(sts, role_arn, issuer.token(sub=CALLER))
    assert assume(sts, role_arn, issuer.token(sub="0a1b2c3d-ffff-00000000ca19"))
    assert assume_error(sts, role_arn, issuer.token(sub=OTHER_CALLER)) == ACCESS_DENIED


def test_condition_key_names_compare_case_insensitively(iam, sts, issuer, provider):
    conditions = {"StringEquals": {f"{issuer.provider_id.upper()}:SUB": CALLER}}
    role_arn = create_role(iam, policy(trust_statement(issuer, conditions)))
    assert assume(sts, role_arn, issuer.token())["SubjectFromWebIdentityToken"] == CALLER
    assert assume_error(sts, role_arn, issuer.token(sub=OTHER_CALLER)) == ACCESS_DENIED


# --- the audience ----------------------------------------------------------------


def test_an_audience_outside_the_client_id_list_is_an_invalid_token(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    assert assume_error(sts, role_arn, issuer.token(aud=OTHER_APP_ID)) == (
        "InvalidIdentityToken", 400, "Incorrect token audience")


def test_a_client_id_the_trust_does_not_pin_is_denied(iam, sts, issuer, provider):
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=provider, ClientID=OTHER_APP_ID)
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    assert assume_error(sts, role_arn, issuer.token(aud=OTHER_APP_ID)) == ACCESS_DENIED


def test_azp_is_the_audience_when_present(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    # aud is not a client ID, azp is: IAM checks azp, and the aud key is azp.
    resp = assume(sts, role_arn, issuer.token(aud="https://graph.microsoft.com", azp=APP_ID))
    assert resp["Audience"] == APP_ID
    # aud is a client ID, azp is not: azp decides.
    assert assume_error(sts, role_arn, issuer.token(aud=APP_ID, azp=OTHER_APP_ID)) == (
        "InvalidIdentityToken", 400, "Incorrect token audience")


def test_an_audience_list_needs_one_client_id(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    assert assume(sts, role_arn, issuer.token(aud=["https://other.example", APP_ID]))["Audience"] == APP_ID
    assert assume_error(sts, role_arn, issuer.token(aud=None)) == (
        "InvalidIdentityToken", 400, "Missing a required claim: aud")


# --- the provider and its keys ------------------------------------------------------


def test_a_deleted_provider_is_an_invalid_token(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    assert assume_error(sts, role_arn, issuer.token()) == (
        "InvalidIdentityToken", 400, f"No OpenIDConnect provider found in your account for {issuer.url}")


def test_the_provider_must_match_the_issuer_exactly(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    no_slash = issuer.url.rstrip("/")  # Entra's v1 issuer ends in a slash; the provider does too
    assert assume_error(sts, role_arn, issuer.token(iss=no_slash)) == (
        "InvalidIdentityToken", 400, f"No OpenIDConnect provider found in your account for {no_slash}")


def test_an_unregistered_issuer_cannot_be_verified(iam, sts, signing_key, jwks_server):
    unregistered = Issuer(signing_key, jwks_server)
    unregistered.publish()
    iam.create_open_id_connect_provider(Url=unregistered.url, ClientIDList=[APP_ID])
    role_arn = create_role(iam, policy(trust_statement(unregistered, pinned(unregistered))))
    assert assume_error(sts, role_arn, unregistered.token()) == (
        "InvalidIdentityToken", 400, moto_ext.COULD_NOT_RETRIEVE_KEY)


def test_an_unreachable_jwks_cannot_be_verified(iam, sts, issuer, provider, jwks_server):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    del jwks_server.documents[issuer.jwks_path]  # 404 from now on
    assert assume_error(sts, role_arn, issuer.token()) == (
        "InvalidIdentityToken", 400, moto_ext.COULD_NOT_RETRIEVE_KEY)


def test_a_token_signed_by_another_key_is_invalid(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    code, status, message = assume_error(sts, role_arn, issuer.token(key=forger))
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert "signature could not be verified" in message

    code, status, message = assume_error(sts, role_arn, issuer.token(kid="not-published"))
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert "'not-published'" in message


def test_a_tampered_token_is_invalid(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    header, claims, signature = issuer.token(sub=OTHER_CALLER).split(".")
    forged_claims = b64url(json.dumps(issuer.claims()).encode())  # CALLER, whom the trust admits
    code, status, _ = assume_error(sts, role_arn, f"{header}.{forged_claims}.{signature}")
    assert (code, status) == ("InvalidIdentityToken", 400)


def test_rotated_keys_are_fetched_at_each_call(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer.publish(jwk(issuer.key, issuer.kid), jwk(new_key, "rotated"))
    assert assume(sts, role_arn, issuer.token(key=new_key, kid="rotated"))
    issuer.publish(jwk(new_key, "rotated"))
    assert assume_error(sts, role_arn, issuer.token())[0] == "InvalidIdentityToken"


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "e30.e30", "e30.W10.c2ln", "e30.e30.c2ln!"])
def test_a_token_that_is_not_a_jwt_is_invalid(iam, sts, issuer, provider, token):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    code, status, message = assume_error(sts, role_arn, token)
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert "not a valid JWT" in message


def test_only_rs256_is_accepted(iam, sts, issuer, provider, signing_key):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    token = sign({"alg": "none", "kid": issuer.kid}, issuer.claims(), signing_key)
    code, status, message = assume_error(sts, role_arn, token)
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert "'none'" in message


# --- time ---------------------------------------------------------------------------


def test_an_expired_token_is_refused(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    exp = int(time.time()) - 3600
    code, status, message = assume_error(sts, role_arn, issuer.token(exp=exp, iat=exp - 3600, nbf=exp - 3600))
    assert (code, status) == ("ExpiredTokenException", 400)
    assert message.startswith("Token expired: current date/time ")
    assert message.endswith(f" must be before the expiration date/time {exp}")


def test_iam_allows_five_minutes_of_clock_skew(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    now = int(time.time())
    assert assume(sts, role_arn, issuer.token(exp=now - 60, iat=now - 3600, nbf=now - 3600))
    assert assume(sts, role_arn, issuer.token(nbf=now + 60, iat=now + 60))
    code, status, message = assume_error(sts, role_arn, issuer.token(nbf=now + 3600))
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert "not-before" in message
    assert assume_error(sts, role_arn, issuer.token(exp=None)) == (
        "InvalidIdentityToken", 400, "Missing a required claim: exp")


# --- the trust policy ------------------------------------------------------------


def test_a_deny_for_everyone_alone_denies(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, effect="Deny", principal="*")))
    assert assume_error(sts, role_arn, issuer.token()) == ACCESS_DENIED


def test_a_deny_beside_an_allow_wins(iam, sts, issuer, provider):
    deny = trust_statement(
        issuer, {"StringEquals": {f"{issuer.provider_id}:sub": OTHER_CALLER}}, effect="Deny", principal="*"
    )
    role_arn = create_role(iam, policy(trust_statement(issuer, {"StringEquals": {f"{issuer.provider_id}:aud": APP_ID}}), deny))
    assert assume(sts, role_arn, issuer.token())["SubjectFromWebIdentityToken"] == CALLER
    assert assume_error(sts, role_arn, issuer.token(sub=OTHER_CALLER)) == ACCESS_DENIED


def test_a_trust_for_another_provider_or_action_denies(iam, sts, issuer, provider, signing_key, jwks_server, moto_server):
    other = Issuer(signing_key, jwks_server)
    other.publish()
    other.register(moto_server.url)
    iam.create_open_id_connect_provider(Url=other.url, ClientIDList=[APP_ID])
    role_arn = create_role(iam, policy(trust_statement(other, pinned(other))))
    assert assume_error(sts, role_arn, issuer.token()) == ACCESS_DENIED

    assume_role_only = {**trust_statement(issuer, pinned(issuer)), "Action": "sts:AssumeRole"}
    role_arn = create_role(iam, policy(assume_role_only), name="assume-role-only")
    assert assume_error(sts, role_arn, issuer.token()) == ACCESS_DENIED


def test_action_wildcards_and_a_trust_without_conditions(iam, sts, issuer, provider):
    statement = {**trust_statement(issuer), "Action": ["sts:TagSession", "STS:Assume*WebIdentity"]}
    role_arn = create_role(iam, policy(statement))
    assert assume(sts, role_arn, issuer.token(sub=OTHER_CALLER))["SubjectFromWebIdentityToken"] == OTHER_CALLER


def test_unsupported_trust_constructs_are_reported_not_guessed(iam, sts, issuer, provider):
    conditions = {**pinned(issuer), "Null": {f"{issuer.provider_id}:amr": "false"}}
    role_arn = create_role(iam, policy(trust_statement(issuer, conditions)))
    code, status, message = assume_error(sts, role_arn, issuer.token())
    assert (code, status) == ("NotImplemented", 501)
    assert message == "Condition operator Null is not emulated"


def test_a_missing_role_is_access_denied(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))), path="/federated/")
    for wrong in (f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/federated/nobody",
                  f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/entra-caller",  # the path differs
                  role_arn.replace(DEFAULT_ACCOUNT_ID, OTHER_ACCOUNT_ID)):
        assert assume_error(sts, wrong, issuer.token()) == ACCESS_DENIED


# --- another account ----------------------------------------------------------------


def test_the_role_s_own_account_holds_the_provider(aws_client, sts, issuer):
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/admin", RoleSessionName="setup"
    )["Credentials"]
    other_iam = aws_client("iam", {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    })
    arn = other_iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=[APP_ID])["OpenIDConnectProviderArn"]
    assert arn == provider_arn(issuer, OTHER_ACCOUNT_ID)
    role_arn = create_role(other_iam, policy(trust_statement(issuer, pinned(issuer), account=OTHER_ACCOUNT_ID)))
    assert role_arn == f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/entra-caller"

    resp = assume(sts, role_arn, issuer.token())
    assert resp["Provider"] == arn
    identity = aws_client("sts", credentials_of(resp)).get_caller_identity()
    assert identity["Account"] == OTHER_ACCOUNT_ID
    assert identity["Arn"] == f"arn:aws:sts::{OTHER_ACCOUNT_ID}:assumed-role/entra-caller/entra-session"

    # The default account has no provider for this issuer (nor the role).
    iam = aws_client("iam")
    default_role = create_role(iam, policy(trust_statement(issuer, principal="*")))
    assert assume_error(sts, default_role, issuer.token()) == (
        "InvalidIdentityToken", 400, f"No OpenIDConnect provider found in your account for {issuer.url}")


def test_concurrent_callers_with_their_own_issuers(iam, sts, signing_key, jwks_server, moto_server):
    """The server is shared by concurrent tests, each registering its own issuer."""
    issuers = [Issuer(signing_key, jwks_server) for _ in range(8)]
    roles = []
    for n, each in enumerate(issuers):
        each.publish()
        iam.create_open_id_connect_provider(Url=each.url, ClientIDList=[APP_ID])
        roles.append(create_role(iam, policy(trust_statement(each, pinned(each))), name=f"caller-{n}"))
    results: dict[int, object] = {}

    def call(n: int) -> None:
        try:
            issuers[n].register(moto_server.url)
            results[n] = assume(sts, roles[n], issuers[n].token(), session=f"s{n}")["AssumedRoleUser"]["Arn"]
        except Exception as error:  # reported below, with the others
            results[n] = error

    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(issuers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {
        n: f"arn:aws:sts::{DEFAULT_ACCOUNT_ID}:assumed-role/caller-{n}/s{n}" for n in range(len(issuers))
    }


# --- request validation -------------------------------------------------------------


@pytest.mark.parametrize(
    "session, duration, expected",
    [
        ("a", None, "Value 'a' at 'roleSessionName' failed to satisfy constraint: "
                    "Member must have length greater than or equal to 2"),
        ("x" * 65, None, "Member must have length less than or equal to 64"),
        ("has space", None, "Value 'has space' at 'roleSessionName' failed to satisfy constraint: "
                            r"Member must satisfy regular expression pattern: [\w+=,.@-]*"),
        ("ok", 899, "Value '899' at 'durationSeconds' failed to satisfy constraint: "
                    "Member must have value greater than or equal to 900"),
    ],
)
def test_invalid_requests_are_validation_errors(aws_client, iam, issuer, provider, session, duration, expected):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    unchecked = aws_client("sts", parameter_validation=False)
    kwargs = {"DurationSeconds": duration} if duration else {}
    code, status, message = assume_error(unchecked, role_arn, issuer.token(), session=session, **kwargs)
    assert (code, status) == ("ValidationError", 400)
    assert message.startswith("1 validation error detected: ")
    assert expected in message


def test_the_duration_cannot_exceed_the_role_s_maximum(iam, sts, issuer, provider):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    assert assume_error(sts, role_arn, issuer.token(), DurationSeconds=7200) == (
        "ValidationError", 400, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")


# --- registering issuers -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{}, {"issuer": "https://x/"}, {"jwks_uri": "http://127.0.0.1:1/k"},
     {"issuer": "", "jwks_uri": "http://127.0.0.1:1/k"}, {"issuer": "https://x/", "jwks_uri": "file:///etc/passwd"}],
)
def test_a_registration_needs_an_issuer_and_an_http_jwks_uri(moto_server, body):
    assert register(moto_server.url, body) == 400


def test_a_registration_error_explains_itself(moto_server):
    request = urllib.request.Request(
        f"{moto_server.url}/_efr/web-identity/issuers", data=b'{"issuer": "https://x/"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 400
    assert json.loads(excinfo.value.read()) == {"error": "missing or empty string field(s): jwks_uri"}
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(f"{moto_server.url}/_efr/web-identity/issuers", timeout=10)
    assert excinfo.value.code == 405


def test_registering_again_replaces_the_jwks_uri(iam, sts, issuer, provider, jwks_server, moto_server):
    role_arn = create_role(iam, policy(trust_statement(issuer, pinned(issuer))))
    assert register(moto_server.url, {"issuer": issuer.url, "jwks_uri": jwks_server.url + "/nowhere"}) == 204
    assert assume_error(sts, role_arn, issuer.token())[2] == moto_ext.COULD_NOT_RETRIEVE_KEY
    issuer.register(moto_server.url)
    assert assume(sts, role_arn, issuer.token())


# --- condition semantics, evaluated in-process -------------------------------------

P = "sts.windows.net/t/"
PROVIDER = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:oidc-provider/{P}"


def allows(conditions: dict, sub: str = CALLER, amr: list[str] | None = None) -> bool:
    claims = {"sub": sub, **({"amr": amr} if amr is not None else {})}
    context = moto_ext._condition_context(P, APP_ID, claims)
    document = {"Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                               "Action": "sts:AssumeRoleWithWebIdentity", "Condition": conditions}]}
    return moto_ext._trust_allows(document, PROVIDER, context)


@pytest.mark.parametrize(
    "conditions, amr, expected",
    [
        ({"StringNotEquals": {f"{P}:sub": OTHER_CALLER}}, None, True),
        ({"StringNotEquals": {f"{P}:sub": [OTHER_CALLER, CALLER]}}, None, False),  # must match none
        ({"StringEqualsIgnoreCase": {f"{P}:sub": CALLER.upper()}}, None, True),
        ({"StringNotEqualsIgnoreCase": {f"{P}:sub": CALLER.upper()}}, None, False),
        ({"StringNotLike": {f"{P}:sub": "0a1b*"}}, None, False),
        ({"StringEquals": {f"{P}:sub": CALLER.upper()}}, None, False),  # values are case-sensitive
        # A missing key: positive operators fail, negated ones hold, IfExists holds.
        ({"StringEquals": {f"{P}:amr": "mfa"}}, None, False),
        ({"StringNotEquals": {f"{P}:amr": "mfa"}}, None, True),
        ({"StringEqualsIfExists": {f"{P}:amr": "mfa"}}, None, True),
        ({"StringEqualsIfExists": {f"{P}:amr": "mfa"}}, ["pwd"], False),
        ({"StringEqualsIfExists": {f"{P}:sub": OTHER_CALLER}}, None, False),
        # Set operators over the multivalued amr.
        ({"ForAnyValue:StringEquals": {f"{P}:amr": "mfa"}}, ["pwd", "mfa"], True),
        ({"ForAnyValue:StringEquals": {f"{P}:amr": "mfa"}}, ["pwd"], False),
        ({"ForAnyValue:StringEquals": {f"{P}:amr": "mfa"}}, None, False),
        ({"ForAllValues:StringEquals": {f"{P}:amr": ["pwd", "mfa"]}}, ["pwd", "mfa"], True),
        ({"ForAllValues:StringEquals": {f"{P}:amr": ["pwd"]}}, ["pwd", "mfa"], False),
        ({"ForAllValues:StringEquals": {f"{P}:amr": ["pwd"]}}, None, True),  # vacuously
        ({"ForAnyValue:StringNotLike": {f"{P}:amr": "m*"}}, ["pwd", "mfa"], True),
        ({"ForAllValues:StringNotLike": {f"{P}:amr": "m*"}}, ["pwd", "mfa"], False),
        ({"ForAnyValue:StringEqualsIfExists": {f"{P}:amr": "mfa"}}, None, True),
        # Several keys and operators: all must hold.
        ({"StringEquals": {f"{P}:aud": APP_ID, f"{P}:sub": CALLER}, "StringLike": {f"{P}:sub": "*ca11"}}, None, True),
        ({"StringEquals": {f"{P}:aud": APP_ID, f"{P}:sub": OTHER_CALLER}}, None, False),
    ],
)
def test_condition_operators_follow_iam(conditions, amr, expected):
    assert allows(conditions, amr=amr) is expected


@pytest.mark.parametrize(
    "statement_change, message",
    [
        ({"NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"}, "Principal": None},
         "NotPrincipal in a trust policy statement is not emulated"),
        ({"NotAction": "sts:AssumeRole", "Action": None}, "NotAction in a trust policy statement is not emulated"),
        ({"Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}},
         "Condition operator DateGreaterThan is not emulated"),
        ({"Condition": {"StringEquals": {"sts:RoleSessionName": "x"}}}, "Condition key sts:RoleSessionName is not emulated"),
        ({"Condition": {"StringEquals": {f"{P}:sub": "${aws:username}"}}}, "policy variables"),
        ({"Resource": "*"}, "Trust policy statement element(s) Resource not emulated"),
    ],
)
def test_unsupported_constructs_raise_not_implemented(statement_change, message):
    statement = {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"}
    statement.update(statement_change)
    statement = {k: v for k, v in statement.items() if v is not None}
    context = moto_ext._condition_context(P, APP_ID, {"sub": CALLER})
    with pytest.raises(NotImplementedError) as excinfo:
        moto_ext._trust_allows({"Statement": statement}, PROVIDER, context)
    assert message in str(excinfo.value)


def test_unsupported_constructs_in_statements_that_cannot_apply_are_ignored():
    context = moto_ext._condition_context(P, APP_ID, {"sub": CALLER})
    service_statement = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                         "Action": "sts:AssumeRole", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "x"}}}
    allow = {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"}
    assert moto_ext._trust_allows({"Statement": [service_statement, allow]}, PROVIDER, context)
    assert not moto_ext._trust_allows({"Statement": [service_statement]}, PROVIDER, context)


def test_trust_documents_may_be_url_encoded():
    from urllib.parse import quote

    document = json.dumps({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:*"}})
    context = moto_ext._condition_context(P, APP_ID, {"sub": CALLER})
    assert moto_ext._trust_allows(quote(document), PROVIDER, context)
    assert moto_ext._trust_allows(document, PROVIDER, context)
    assert moto_ext._trust_allows({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                  "Action": "*"}]}, PROVIDER, context)
