"""The two IAM OIDC-provider audience actions that moto 5.2.5 lacks.

moto 5.2.5 implements Create/Get/List/Delete/UpdateThumbprint/Tag/Untag for IAM
OpenID Connect providers, but not:

* AddClientIDToOpenIDConnectProvider
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_AddClientIDToOpenIDConnectProvider.html
* RemoveClientIDFromOpenIDConnectProvider
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_RemoveClientIDFromOpenIDConnectProvider.html

(an unimplemented action answers HTTP 500, which the SDKs retry). ``install()``
adds both, written the way moto writes its own IAM actions -- a method on
``IAMBackend`` holding the behaviour and a method on ``IamResponse`` reading the
parameters -- so that the two ``_backend_*``/``_response_*`` pairs below can be
moved into ``moto/iam/models.py`` and ``moto/iam/responses.py`` as an upstream
PR. The response body is produced by moto's model-driven serializer from
botocore's IAM service model (``EmptyResult``), so it is exactly the
``<XxxResponse><ResponseMetadata><RequestId>`` shape of moto's other IAM actions.

Behaviour, per the API reference pages above:

* Both are idempotent: adding a client ID that is already registered, or
  removing one that is not, succeeds and changes nothing.
* ``ClientID`` must be 1..255 characters and ``OpenIDConnectProviderArn``
  20..2048 ("Length Constraints"); a violation is the common ``ValidationError``
  (HTTP 400) with AWS's "N validation error(s) detected: ..." message.
* An unknown provider ARN is ``NoSuchEntity`` (HTTP 404). The provider is
  looked up in the calling account's IAM backend (``IamResponse.backend`` is
  ``iam_backends[current_account][partition]``, where the account follows the
  caller's access key, e.g. after ``sts:AssumeRole`` into another account).
* Add fails with ``LimitExceeded`` (HTTP 409) when the provider already holds
  100 client IDs ("You cannot register more than 100 client IDs with a single
  IAM OIDC provider", ClientIDList in
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html),
  with the message moto's CreateOpenIDConnectProvider already uses for more
  than 100 IDs, which follows AWS's "Cannot exceed quota for <Quota>: <n>".

``install_trust_principal_check()`` makes CreateRole and UpdateAssumeRolePolicy
refuse a trust policy whose ``Principal.Federated`` names an OIDC provider the
account does not have, with IAM's ``MalformedPolicyDocument`` "Invalid principal
in policy" (moto 5.2.5 accepts it): the order in which providers and trusts are
written, and a provider deleted under a role, behave as in IAM.

It also adds STS's ``GetWebIdentityToken`` (AWS outbound identity federation,
November 2025), which moto 5.2.5 lacks as well:

* GetWebIdentityToken
  https://docs.aws.amazon.com/STS/latest/APIReference/API_GetWebIdentityToken.html
  and the IAM User Guide, "Getting started with outbound identity federation"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_outbound_getting_started.html

The answer is a real JWT signed with the server's key -- RS256 (RSA) or ES384
(P-384), as ``SigningAlgorithm`` asks -- so a relying party can verify it:

* ``iss`` is the account's issuer URL (AWS gives each account a unique
  ``https://<id>.tokens.sts.global.api.aws``; here the id is a UUID derived
  from the account id, so it is stable across restarts), ``sub`` the caller's
  ARN -- for a role session the *role* ARN, not the assumed-role session ARN --
  ``aud`` the requested audience(s) (a string for one), ``iat``/``nbf``/``exp``
  from ``DurationSeconds`` (60..3600, default 300), a ``jti``, and under the
  ``https://sts.amazonaws.com/`` namespace ``principal_id`` (the requester's
  ARN, as the API reference says), ``aws_account`` and any request ``Tags``.
* The RSA key comes from the PEM file named by ``EFR_OUTBOUND_IDENTITY_KEY``;
  without it a key is generated when the server starts. The P-384 key is
  always generated.
* The verification keys are served by ``wsgi_middleware`` at
  ``GET /_efr/outbound-identity/jwks.json`` (AWS serves them at the issuer's
  ``/.well-known/jwks.json``) and the issuer of an account at
  ``GET /_efr/outbound-identity/issuer?account=<id>`` (default: moto's default
  account), as ``{"issuer": ..., "account": ...}``.
* Validation follows the reference's constraints: 1..10 audiences of 1..1000
  characters, ``SigningAlgorithm`` RS256 or ES384, ``DurationSeconds``
  60..3600, at most 50 tags -- ``ValidationError`` (HTTP 400) otherwise. Not
  emulated: the ``OutboundWebIdentityFederationDisabled`` error (moto has no
  ``EnableOutboundWebIdentityFederation``; the feature counts as enabled
  everywhere), the global-endpoint refusal and ``SubjectMode``.
"""

from __future__ import annotations

import json

from moto.core.responses import ActionResult, EmptyResult
from moto.iam.exceptions import (
    LimitExceededException,
    MalformedPolicyDocument,
    ValidationError,
)
from moto.iam.models import IAMBackend
from moto.iam.responses import IamResponse

# IAM quota "Client IDs per OIDC provider".
MAX_CLIENT_IDS_PER_OPEN_ID_CONNECT_PROVIDER = 100


def _validate_client_id_request(arn: str | None, client_id: str | None) -> None:
    """The length constraints both actions' API reference pages list.

    Errors are collected and reported together, as AWS does:
    ``1 validation error detected: Value '...' at 'clientID' failed to satisfy
    constraint: Member must have length less than or equal to 255``.
    """
    errors = []
    for member, value, min_len, max_len in (
        ("openIDConnectProviderArn", arn, 20, 2048),
        ("clientID", client_id, 1, 255),
    ):
        if value is None:
            errors.append(
                f"Value null at '{member}' failed to satisfy constraint: "
                "Member must not be null"
            )
        elif len(value) < min_len:
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {min_len}"
            )
        elif len(value) > max_len:
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {max_len}"
            )
    if errors:
        plural = "s" if len(errors) > 1 else ""
        raise ValidationError(
            f"{len(errors)} validation error{plural} detected: " + "; ".join(errors)
        )


# --- IAMBackend methods (would go in moto/iam/models.py) ---------------------


def _backend_add_client_id_to_open_id_connect_provider(
    self: IAMBackend, arn: str, client_id: str
) -> None:
    _validate_client_id_request(arn, client_id)
    # Raises NoSuchEntity ("OpenIDConnect Provider not found for arn ...").
    open_id_provider = self.get_open_id_connect_provider(arn)
    if client_id in open_id_provider.client_id_list:
        return  # idempotent: already registered, nothing changes
    if (
        len(open_id_provider.client_id_list)
        >= MAX_CLIENT_IDS_PER_OPEN_ID_CONNECT_PROVIDER
    ):
        raise LimitExceededException(
            "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: "
            f"{MAX_CLIENT_IDS_PER_OPEN_ID_CONNECT_PROVIDER}"
        )
    open_id_provider.client_id_list.append(client_id)


def _backend_remove_client_id_from_open_id_connect_provider(
    self: IAMBackend, arn: str, client_id: str
) -> None:
    _validate_client_id_request(arn, client_id)
    open_id_provider = self.get_open_id_connect_provider(arn)
    # Idempotent: removing an absent client ID is not an error. Rebuilding the
    # list also drops duplicates that CreateOpenIDConnectProvider let in.
    open_id_provider.client_id_list[:] = [
        c for c in open_id_provider.client_id_list if c != client_id
    ]


# --- IamResponse methods (would go in moto/iam/responses.py) -----------------


def _response_add_client_id_to_open_id_connect_provider(
    self: IamResponse,
) -> ActionResult:
    open_id_provider_arn = self._get_param("OpenIDConnectProviderArn")
    client_id = self._get_param("ClientID")

    self.backend.add_client_id_to_open_id_connect_provider(
        open_id_provider_arn, client_id
    )

    return EmptyResult()


def _response_remove_client_id_from_open_id_connect_provider(
    self: IamResponse,
) -> ActionResult:
    open_id_provider_arn = self._get_param("OpenIDConnectProviderArn")
    client_id = self._get_param("ClientID")

    self.backend.remove_client_id_from_open_id_connect_provider(
        open_id_provider_arn, client_id
    )

    return EmptyResult()


# moto dispatches an IAM request by turning its Action into snake_case and
# looking the name up on IamResponse (moto.core.responses.BaseResponse.call_action).
_ACTIONS = {
    "add_client_id_to_open_id_connect_provider": (
        _backend_add_client_id_to_open_id_connect_provider,
        _response_add_client_id_to_open_id_connect_provider,
    ),
    "remove_client_id_from_open_id_connect_provider": (
        _backend_remove_client_id_from_open_id_connect_provider,
        _response_remove_client_id_from_open_id_connect_provider,
    ),
}


def install() -> list[str]:
    """Add the missing actions to moto's IAM classes; return the names added.

    Safe to call more than once. An action moto already implements is left
    alone (it is not in the returned list), so upgrading moto to a release
    that has them makes this module a no-op.
    """
    installed = []
    for name, (backend_method, response_method) in _ACTIONS.items():
        ours = (backend_method, response_method)
        theirs = (getattr(IAMBackend, name, None), getattr(IamResponse, name, None))
        if any(t is not None and t not in ours for t in theirs):
            continue  # moto has its own implementation: keep it
        setattr(IAMBackend, name, backend_method)
        setattr(IamResponse, name, response_method)
        installed.append(name)
    return installed


# --- Federated principals in trust policies ---------------------------------
#
# IAM refuses a role trust policy whose ``Principal.Federated`` names an OIDC
# provider that does not exist in the account: CreateRole and
# UpdateAssumeRolePolicy fail with ``MalformedPolicyDocument`` (HTTP 400),
# "Invalid principal in policy: "Federated":"<arn>"" -- which is also what a
# just-created provider gives until IAM sees it (the CreateRole and
# UpdateAssumeRolePolicy API references list MalformedPolicyDocument; the
# message is the one IAM sends for any principal it cannot resolve). moto 5.2.5
# checks the statements' shape but not that the principal exists, so a role
# could trust a provider that was never created, or was deleted. The check
# below wraps moto's two backend methods; providers are looked up in the
# calling account's backend, as IAM resolves them in the role's account. SAML
# providers and non-ARN federated principals (e.g. "cognito-identity.amazonaws.com")
# are left alone. DeleteOpenIDConnectProvider stays as it is: IAM lets a
# provider be deleted while roles still name it.


def _federated_principals(policy_document: str) -> list[str]:
    try:
        policy = json.loads(policy_document)
    except (TypeError, ValueError):
        return []  # moto's own validator reports malformed documents
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    found = []
    for statement in statements:
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        federated = principal.get("Federated") if isinstance(principal, dict) else None
        for value in federated if isinstance(federated, list) else [federated]:
            if isinstance(value, str) and ":oidc-provider/" in value:
                found.append(value)
    return found


def _check_federated_principals(backend: IAMBackend, policy_document: str) -> None:
    for arn in _federated_principals(policy_document):
        if arn not in backend.open_id_providers:
            raise MalformedPolicyDocument(
                f'Invalid principal in policy: "Federated":"{arn}"'
            )


def _checking(method):
    def checked(self, *args, **kwargs):
        # create_role(role_name, assume_role_policy_document, ...) and
        # update_assume_role_policy(role_name, policy_document): the document is
        # the second argument of both.
        document = kwargs.get("assume_role_policy_document") or kwargs.get(
            "policy_document"
        )
        if document is None and len(args) > 1:
            document = args[1]
        _check_federated_principals(self, document)
        return method(self, *args, **kwargs)

    checked.efr_checks_principals = True
    checked.__wrapped__ = method
    return checked


def install_trust_principal_check() -> list[str]:
    """Make CreateRole and UpdateAssumeRolePolicy refuse a trust naming a missing
    OIDC provider; return the methods wrapped (none when already done)."""
    installed = []
    for name in ("create_role", "update_assume_role_policy"):
        method = getattr(IAMBackend, name)
        if getattr(method, "efr_checks_principals", False):
            continue
        setattr(IAMBackend, name, _checking(method))
        installed.append(name)
    return installed


# --- STS GetWebIdentityToken (outbound identity federation) ------------------
#
# Written like moto's own STS actions: the behaviour on STSBackend (would go in
# moto/sts/models.py), parameter reading on TokenResponse (moto/sts/responses.py),
# and the signing keys as a small class the backend holds.

import base64
import datetime
import hashlib
import os
import threading
import uuid
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from moto.core.utils import utcnow
from moto.sts.exceptions import STSValidationError
from moto.sts.models import STSBackend
from moto.sts.responses import TokenResponse

OUTBOUND_IDENTITY_KEY_VAR = "EFR_OUTBOUND_IDENTITY_KEY"
OUTBOUND_IDENTITY_PATH = "/_efr/outbound-identity/"
DEFAULT_ACCOUNT_ID = "123456789012"
SIGNING_ALGORITHMS = ("RS256", "ES384")
MAX_AUDIENCES = 10
MAX_AUDIENCE_LENGTH = 1000
MIN_TOKEN_SECONDS, MAX_TOKEN_SECONDS, DEFAULT_TOKEN_SECONDS = 60, 3600, 300
MAX_REQUEST_TAGS = 50


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")


class OutboundIdentityKeys:
    """The server's signing keys: RSA (from EFR_OUTBOUND_IDENTITY_KEY or new) and P-384."""

    def __init__(self, rsa_pem: bytes | None = None) -> None:
        if rsa_pem is None:
            path = os.environ.get(OUTBOUND_IDENTITY_KEY_VAR)
            rsa_pem = open(path, "rb").read() if path else None
        if rsa_pem is not None:
            key = serialization.load_pem_private_key(rsa_pem, password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{OUTBOUND_IDENTITY_KEY_VAR} must name an RSA private key")
            self.rsa = key
        else:
            self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP384R1())
        self.rsa_kid = self._kid(self.rsa.public_key())
        self.ec_kid = self._kid(self.ec.public_key())

    @staticmethod
    def _kid(public_key) -> str:
        der = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return _b64url(hashlib.sha256(der).digest())[:32]

    def jwks(self) -> dict:
        n = self.rsa.public_key().public_numbers()
        p = self.ec.public_key().public_numbers()
        return {
            "keys": [
                {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.rsa_kid,
                 "n": _b64url(_int_bytes(n.n)), "e": _b64url(_int_bytes(n.e))},
                {"kty": "EC", "use": "sig", "alg": "ES384", "kid": self.ec_kid, "crv": "P-384",
                 "x": _b64url(p.x.to_bytes(48, "big")), "y": _b64url(p.y.to_bytes(48, "big"))},
            ]
        }

    def sign(self, claims: dict, algorithm: str) -> str:
        kid = self.rsa_kid if algorithm == "RS256" else self.ec_kid
        header = {"alg": algorithm, "typ": "JWT", "kid": kid}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        ).encode()
        if algorithm == "RS256":
            signature = self.rsa.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.ec.sign(signing_input, ec.ECDSA(hashes.SHA384())))
            signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")  # JWS: raw R || S
        return signing_input.decode() + "." + _b64url(signature)


_KEYS: OutboundIdentityKeys | None = None
_KEYS_LOCK = threading.Lock()


def outbound_identity_keys() -> OutboundIdentityKeys:
    """The process's signing keys, made (or loaded) on first use."""
    global _KEYS
    with _KEYS_LOCK:
        if _KEYS is None:
            _KEYS = OutboundIdentityKeys()
        return _KEYS


def outbound_identity_issuer(account_id: str) -> str:
    """The account's issuer URL, shaped like AWS's and stable for an account id."""
    account_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"moto-outbound-identity:{account_id}")
    return f"https://{account_uuid}.tokens.sts.global.api.aws"


def _validate_web_identity_token_request(
    audience: list[str] | None, algorithm: str | None, duration: int | None, tags: list
) -> None:
    errors = []
    if not audience:
        errors.append("Value null at 'audience' failed to satisfy constraint: Member must not be null")
    else:
        if len(audience) > MAX_AUDIENCES:
            errors.append(
                f"Value '{audience}' at 'audience' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_AUDIENCES}"
            )
        for value in audience:
            if not 1 <= len(value) <= MAX_AUDIENCE_LENGTH:
                errors.append(
                    f"Value '{value}' at 'audience' failed to satisfy constraint: "
                    f"Member must have length between 1 and {MAX_AUDIENCE_LENGTH}"
                )
    if algorithm is None:
        errors.append("Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null")
    elif algorithm not in SIGNING_ALGORITHMS:
        errors.append(
            f"Value '{algorithm}' at 'signingAlgorithm' failed to satisfy constraint: "
            "Member must satisfy enum value set: [RS256, ES384]"
        )
    if duration is not None and not MIN_TOKEN_SECONDS <= duration <= MAX_TOKEN_SECONDS:
        errors.append(
            f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: "
            f"Member must have value between {MIN_TOKEN_SECONDS} and {MAX_TOKEN_SECONDS}"
        )
    if len(tags) > MAX_REQUEST_TAGS:
        errors.append(
            "Value at 'tags' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_REQUEST_TAGS}"
        )
    if errors:
        plural = "s" if len(errors) > 1 else ""
        raise STSValidationError(f"{len(errors)} validation error{plural} detected: " + "; ".join(errors))


# --- STSBackend method (would go in moto/sts/models.py) ----------------------


def _backend_get_web_identity_token(
    self: STSBackend,
    access_key_id: str,
    region: str,
    audience: list[str],
    signing_algorithm: str,
    duration_seconds: int | None,
    tags: list[dict],
) -> tuple[str, datetime.datetime]:
    _validate_web_identity_token_request(audience, signing_algorithm, duration_seconds, tags)
    assumed_role = self.get_assumed_role_from_access_key(access_key_id)
    if assumed_role is not None:
        # A role session's subject is the role, not arn:...:assumed-role/<role>/<session>.
        subject, account_id = assumed_role.role_arn, assumed_role.account_id
    else:
        _, subject, account_id = self.get_caller_identity(access_key_id, region)
    now = utcnow()
    duration = duration_seconds or DEFAULT_TOKEN_SECONDS
    expiration = now + datetime.timedelta(seconds=duration)
    issued_at = int(now.replace(tzinfo=datetime.timezone.utc).timestamp())
    claims = {
        "iss": outbound_identity_issuer(account_id),
        "sub": subject,
        "aud": audience[0] if len(audience) == 1 else audience,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + duration,
        "jti": str(uuid.uuid4()),
        "https://sts.amazonaws.com/": {
            "aws_account": account_id,
            "principal_id": subject,
            "request_tags": {t["Key"]: t["Value"] for t in tags},
        },
    }
    return outbound_identity_keys().sign(claims, signing_algorithm), expiration


# --- TokenResponse method (would go in moto/sts/responses.py) ----------------


def _response_get_web_identity_token(self: TokenResponse) -> ActionResult:
    audience = self._get_param("Audience")
    if isinstance(audience, str):
        audience = [audience]
    duration = self._get_param("DurationSeconds")
    token, expiration = self.backend.get_web_identity_token(
        access_key_id=self.get_access_key(),
        region=self.region,
        audience=audience or [],
        signing_algorithm=self._get_param("SigningAlgorithm"),
        duration_seconds=int(duration) if duration is not None else None,
        tags=self._get_param("Tags") or [],
    )
    return ActionResult({"WebIdentityToken": token, "Expiration": expiration})


def install_outbound_identity() -> list[str]:
    """Add GetWebIdentityToken to moto's STS classes (unless moto has its own); return
    the names added. Also loads (or makes) the signing keys, so a bad
    EFR_OUTBOUND_IDENTITY_KEY fails at startup."""
    outbound_identity_keys()
    name = "get_web_identity_token"
    ours = (_backend_get_web_identity_token, _response_get_web_identity_token)
    theirs = (getattr(STSBackend, name, None), getattr(TokenResponse, name, None))
    if any(t is not None and t not in ours for t in theirs):
        return []
    setattr(STSBackend, name, _backend_get_web_identity_token)
    setattr(TokenResponse, name, _response_get_web_identity_token)
    return [name]


def wsgi_middleware(app):
    """Serve the verification keys and issuer URLs under /_efr/outbound-identity/;
    hand everything else to moto's application."""

    def serve(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(OUTBOUND_IDENTITY_PATH) or environ.get("REQUEST_METHOD") != "GET":
            return app(environ, start_response)
        name = path[len(OUTBOUND_IDENTITY_PATH):]
        if name == "jwks.json":
            body, status = outbound_identity_keys().jwks(), "200 OK"
        elif name == "issuer":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            account = query.get("account", [DEFAULT_ACCOUNT_ID])[0]
            body, status = {"issuer": outbound_identity_issuer(account), "account": account}, "200 OK"
        else:
            body, status = {"error": f"no such path {path}"}, "404 Not Found"
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    return serve
