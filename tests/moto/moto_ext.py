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

``install_role_rules()`` makes three rules of IAM's roles hold that moto 5.2.5
does not enforce: role names are unique regardless of case, a role takes at most
the account's quota of attached managed policies (10 by default), and a trust
policy at most 2,048 characters, white space not counted.

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
  60..3600, at most 50 tags -- ``ValidationError`` (HTTP 400) otherwise.
* In an account where the feature is disabled (below), a valid request fails
  with ``OutboundWebIdentityFederationDisabledException`` (HTTP 403, the code
  and status of botocore's STS model). Not emulated: the global-endpoint
  refusal, ``SubjectMode``, ``SessionDurationEscalationException`` and
  ``JWTPayloadSizeExceededException``.

With it come the three IAM actions that switch the feature on and off for an
account and report it (``install_outbound_identity()`` adds all four):

* GetOutboundWebIdentityFederationInfo
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetOutboundWebIdentityFederationInfo.html
* EnableOutboundWebIdentityFederation
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_EnableOutboundWebIdentityFederation.html
* DisableOutboundWebIdentityFederation
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_DisableOutboundWebIdentityFederation.html

The setting is per account (kept on the account's IAM backend, so
``POST /moto-api/reset`` restores the default) and, unlike AWS, where an account
has the feature off until EnableOutboundWebIdentityFederation is called, it is
**enabled by default** (``OUTBOUND_FEDERATION_ENABLED_BY_DEFAULT``): callers of
GetWebIdentityToken need no set-up. Per the reference pages:

* GetOutboundWebIdentityFederationInfo answers ``IssuerIdentifier`` (the
  ``iss`` GetWebIdentityToken puts in the account's tokens) and
  ``JwtVendingEnabled`` (true); when the feature is disabled it fails with
  ``FeatureDisabled`` (HTTP 404), the only error its page lists.
* EnableOutboundWebIdentityFederation answers ``IssuerIdentifier``; when the
  feature is already enabled it fails with ``FeatureEnabled`` (HTTP 409).
* DisableOutboundWebIdentityFederation answers an empty result; when the
  feature is already disabled it fails with ``FeatureDisabled`` (HTTP 404).
  Neither is idempotent ("You cannot enable/disable the feature multiple
  times"). Tokens issued before still verify (the JWKS does not change).
* The issuer does not change when the feature is disabled and enabled again
  (it is derived from the account id). Whether AWS keeps or regenerates it
  ("This operation also generates a unique issuer URL") is not documented.

``install_web_identity_check()`` replaces moto's STS AssumeRoleWithWebIdentity,
which ignores ``WebIdentityToken`` (any token assumes any role), with one that
checks the token and the role's trust policy as STS does:

* AssumeRoleWithWebIdentity
  https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
* IAM User Guide, "Available keys for AWS OIDC federation"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif
  and "OIDC federation" (the five minutes of clock skew)
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_oidc.html
* IAM User Guide, policy evaluation logic, condition operators, and single- vs
  multivalued context keys
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

Checks, in order; each failure is an STS error in the usual XML shape, with the
status of botocore's STS model (400) unless noted:

0. The request: ``RoleArn`` 20..2048, ``RoleSessionName`` 2..64 and
   ``[\\w+=,.@-]*``, ``WebIdentityToken`` 4..20000, ``DurationSeconds``
   900..43200 -- ``ValidationError`` "N validation error(s) detected: ...";
   an ARN that is not a role ARN: ``ValidationError`` "Request ARN is invalid".
1. The role, looked up by name in the ARN's account (``iam_backends[account]``)
   and required to have exactly that ARN: else ``AccessDenied`` (HTTP 403)
   "Not authorized to perform sts:AssumeRoleWithWebIdentity". A
   ``DurationSeconds`` above its ``MaxSessionDuration``: ``ValidationError``
   "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
2. The token must be a JWT (three base64url parts, JSON header and claims):
   else ``InvalidIdentityToken``.
3. ``iss`` names the provider: ``arn:aws:iam::<role account>:oidc-provider/<iss
   without https://>`` (a trailing slash kept, as in Entra's v1
   ``https://sts.windows.net/<tenant>/``); if there is none,
   ``InvalidIdentityToken`` "No OpenIDConnect provider found in your account
   for <iss>".
4. The audience IAM checks is ``azp`` when the token has one, otherwise ``aud``
   (a string or any element of a list); it must be one of the provider's
   client IDs, else ``InvalidIdentityToken`` "Incorrect token audience" (no
   ``aud``: "Missing a required claim: aud").
5. The signature: RS256 only, with the key named by the header's ``kid`` in
   the issuer's JWKS. STS finds the JWKS through
   ``<iss>/.well-known/openid-configuration``; here each issuer's JWKS URL is
   registered with ``POST /_efr/web-identity/issuers`` (``wsgi_middleware``)
   and fetched at every call (urllib, 5 s, no proxy). Issuer not registered,
   or its JWKS unreachable or not JSON: ``InvalidIdentityToken`` "Couldn't
   retrieve verification key from your identity provider,  please reference
   AssumeRoleWithWebIdentity documentation for requirements" (STS's text,
   doubled space included, and its code: STS answers this with
   InvalidIdentityToken, as aws-sdk-rust #827 and aws-sdk-js-v3 #3052 show, not
   with the IDPCommunicationError the API reference also lists). No key with
   that ``kid``, a bad signature, or another ``alg``: ``InvalidIdentityToken``.
6. ``exp`` (required, an integer) more than five minutes past:
   ``ExpiredTokenException`` "Token expired: current date/time <now> must be
   before the expiration date/time <exp>"; ``nbf``/``iat`` more than five
   minutes ahead: ``InvalidIdentityToken``; no ``sub``: ``InvalidIdentityToken``.
7. The role's trust policy (a dict, a JSON string or URL-encoded JSON): an
   explicit Deny wins, otherwise some Allow must apply, else ``AccessDenied``
   (403) as in 1. A statement applies when its ``Action`` matches
   ``sts:AssumeRoleWithWebIdentity`` (case-insensitive, ``*``/``?``), its
   ``Principal`` is ``"*"``, ``{"AWS": "*"}`` or ``{"Federated": ...}`` naming
   the provider ARN, and every condition holds. Condition keys (names compare
   case-insensitively): ``<iss without https://>:aud`` (the audience of 4),
   ``:sub``, and ``:amr`` (multivalued, when the token has it). Operators:
   StringEquals, StringNotEquals, StringEqualsIgnoreCase,
   StringNotEqualsIgnoreCase, StringLike, StringNotLike, each with
   ``IfExists`` and the ``ForAnyValue:``/``ForAllValues:`` prefixes, with IAM's
   semantics (a listed value matches if ANY matches, a negated operator needs
   none to; a missing key fails a positive operator and satisfies a negated
   one or an ``IfExists``; ForAllValues over no values holds, ForAnyValue
   fails). In a statement whose Action and Principal could apply, anything
   else -- another operator, ``NotAction``, ``NotPrincipal``, ``Resource``, an
   ``aws:``/``sts:`` key, a policy variable -- raises ``UnsupportedTrustPolicy``
   (a ``NotImplementedError``; on the wire ``NotImplemented``, HTTP 501, with
   a message naming it) rather than guessing.
8. moto's ``assume_role`` mints the session in the role's account, so the
   credentials act as the role. The response has ``Credentials``,
   ``AssumedRoleUser`` (``arn:aws:sts::<account>:assumed-role/<role>/<session>``
   and ``<role id>:<session>``), ``SubjectFromWebIdentityToken`` (``sub``),
   ``Audience`` (the audience of 4) and ``Provider``: the provider's ARN, which
   is what STS answers (the API reference says "the value of the iss field").

Not emulated: other signing algorithms (RS384/RS512/ES256/ES384/ES512), OIDC
discovery and thumbprints, ``ProviderId`` (OAuth 2.0 access tokens), session
tags from the token, ``SourceIdentity``, ``PolicyArns`` and session-policy size
limits, the role's permissions boundary, and condition keys other than those
above (``oaud``/``email`` of Google, global ``aws:``/``sts:`` keys).

``install_cloudformation_events()`` makes moto's CloudFormation record the
events of a stack's resources, which moto 5.2.5 never does (it records the
stack's own events only):

* DescribeStackEvents
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackEvents.html
  and the User Guide, "Understand CloudFormation stack creation events"
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stack-resource-configuration-complete.html
* Custom resource requests and responses
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html

When moto creates a stack's resources, each gets ``CREATE_IN_PROGRESS`` (an
empty ``PhysicalResourceId``, the template's ``ResourceType``) and, once moto has
created it, ``CREATE_COMPLETE`` with its physical id. A custom resource stays
``CREATE_IN_PROGRESS`` until its provider's response reaches moto's ResponseURL:
``SUCCESS`` records ``CREATE_COMPLETE`` with the response's
``PhysicalResourceId``, ``FAILED`` records ``CREATE_FAILED`` with it and the
response's ``Reason`` in CloudFormation's words. DescribeStackEvents lists them
newest first, as moto already lists stack events; DescribeStackResource(s)
report a custom resource's status and physical id from its events.

moto never sends a custom resource an Update or a Delete. The events
CloudFormation records in those phases -- update, replacement and its cleanup,
update rollback, create rollback, stack deletion -- are recorded by the tests
with ``POST /_efr/cloudformation/events`` (``wsgi_middleware``; the body is
documented by ``record_cloudformation_event`` and server.py's contract). An
event's ``ResourceType`` always comes from the stack's template: the body cannot
name one.
"""

from __future__ import annotations

import json

from moto.core.responses import ActionResult, EmptyResult
from moto.iam.exceptions import (
    EntityAlreadyExists,
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


# --- Rules of IAM roles moto does not enforce -------------------------------
#
# * "IAM user, group, role, and policy names must be unique within the account.
#   Names are not distinguished by case. For example, you cannot create resources
#   named both "MyResource" and "myresource"." (CreateRole, RoleName): CreateRole
#   answers EntityAlreadyExists. moto compares names exactly.
# * "IAM and AWS STS quotas": "Managed policies attached to an IAM role: 10"
#   (default, adjustable); AttachRolePolicy beyond it answers LimitExceeded
#   "Cannot exceed quota for PoliciesPerRole: 10". moto keeps the quota
#   (AttachedPoliciesPerRoleQuota in GetAccountSummary) but does not enforce it.
# * The same page: "Role trust policy length: 2,048 characters" (default,
#   adjustable), and "IAM doesn't count white space when calculating the size of
#   a policy against these quotas"; CreateRole and UpdateAssumeRolePolicy beyond
#   it answer LimitExceeded "Cannot exceed quota for ACLSizePerRole: 2048".
#   moto accepts any length.

MAX_TRUST_POLICY_CHARS = 2048


def _trust_policy_size(document: str) -> int:
    return sum(1 for c in document if not c.isspace())


def _check_trust_policy_size(document: str | None) -> None:
    if document is not None and _trust_policy_size(document) > MAX_TRUST_POLICY_CHARS:
        raise LimitExceededException(
            f"Cannot exceed quota for ACLSizePerRole: {MAX_TRUST_POLICY_CHARS}"
        )


def _document_argument(args: tuple, kwargs: dict) -> str | None:
    # create_role(role_name, assume_role_policy_document, ...) and
    # update_assume_role_policy(role_name, policy_document): the second argument.
    document = kwargs.get("assume_role_policy_document") or kwargs.get("policy_document")
    if document is None and len(args) > 1:
        document = args[1]
    return document


def _create_role_by_any_case(method):
    def create_role(self, *args, **kwargs):
        name = kwargs.get("role_name") or args[0]
        taken = [r.name for r in self.get_roles() if r.name.lower() == name.lower()]
        if taken:
            raise EntityAlreadyExists(f"Role with name {taken[0]} already exists.")
        _check_trust_policy_size(_document_argument(args, kwargs))
        return method(self, *args, **kwargs)

    return create_role


def _update_trust_within_quota(method):
    def update_assume_role_policy(self, *args, **kwargs):
        _check_trust_policy_size(_document_argument(args, kwargs))
        return method(self, *args, **kwargs)

    return update_assume_role_policy


def _attach_within_quota(method):
    def attach_role_policy(self, policy_arn: str, role_name: str) -> None:
        role = self.get_role(role_name)
        quota = self.account_summary._attached_policies_per_role_quota
        if policy_arn not in role.managed_policies and len(role.managed_policies) >= quota:
            raise LimitExceededException(f"Cannot exceed quota for PoliciesPerRole: {quota}")
        return method(self, policy_arn, role_name)

    return attach_role_policy


def install_role_rules() -> list[str]:
    """Make IAM's case-insensitive role names, its managed-policies-per-role quota and
    its trust-policy length quota hold; return the methods wrapped (none when already
    done)."""
    installed = []
    for name, wrap in (
        ("create_role", _create_role_by_any_case),
        ("update_assume_role_policy", _update_trust_within_quota),
        ("attach_role_policy", _attach_within_quota),
    ):
        method = getattr(IAMBackend, name)
        if getattr(method, "efr_role_rules", False):
            continue
        wrapped = wrap(method)
        wrapped.efr_role_rules = True
        wrapped.__wrapped__ = method
        setattr(IAMBackend, name, wrapped)
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
from moto.iam.exceptions import IAMException
from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError, STSValidationError
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


# --- The account setting: is outbound identity federation enabled? ------------
#
# AWS keeps one switch per account (EnableOutboundWebIdentityFederation /
# DisableOutboundWebIdentityFederation). Here it is an attribute of the
# account's IAMBackend (iam_backends[account][partition]), absent until the
# account's first Enable/Disable: moto's reset rebuilds the backends, so
# POST /moto-api/reset restores the default. AWS starts every account with the
# feature off; this emulation starts it on, so that GetWebIdentityToken works
# without set-up, as it did before the switch existed.

OUTBOUND_FEDERATION_ENABLED_BY_DEFAULT = True
_OUTBOUND_FEDERATION_ATTRIBUTE = "efr_outbound_web_identity_federation_enabled"
_IAM_EXCEPTIONS_MODULE = "moto.iam.exceptions"


def _outbound_federation_enabled(iam: IAMBackend) -> bool:
    return getattr(iam, _OUTBOUND_FEDERATION_ATTRIBUTE, OUTBOUND_FEDERATION_ENABLED_BY_DEFAULT)


def outbound_federation_enabled(account_id: str, partition: str = "aws") -> bool:
    """Whether the account's principals may call GetWebIdentityToken."""
    return _outbound_federation_enabled(iam_backends[account_id][partition])


# Error classes (would go in moto/iam/exceptions.py and moto/sts/exceptions.py).
# Codes and HTTP statuses are botocore's (IAM: FeatureDisabledException has code
# FeatureDisabled, 404; FeatureEnabledException FeatureEnabled, 409. STS:
# OutboundWebIdentityFederationDisabledException, 403), so moto's serializer
# gives the documented status. The STS code is the one SDKs match on (botocore,
# aws-sdk-rust's GetWebIdentityTokenError); the Errors section of the STS
# reference page could not be read to compare. The messages are not documented:
# the IAM ones paraphrase the reference pages' descriptions, the STS one is the
# description in botocore's STS model.


class OutboundFederationDisabled(IAMException):
    __module__ = _IAM_EXCEPTIONS_MODULE
    code = "FeatureDisabled"
    message = "Outbound identity federation is disabled for your AWS account."


class OutboundFederationAlreadyEnabled(IAMException):
    __module__ = _IAM_EXCEPTIONS_MODULE
    code = "FeatureEnabled"
    message = "Outbound identity federation is already enabled for your AWS account."


class OutboundFederationDisabledForToken(STSClientError):
    __module__ = "moto.sts.exceptions"
    code = "OutboundWebIdentityFederationDisabledException"
    message = (
        "The outbound web identity federation feature is not enabled for this account. "
        "To use this feature, you must first enable it through the AWS Management Console or API."
    )


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
    # The caller's account (a role session's: the role's) must have the feature on.
    # Checked after the request's validation: whether STS refuses an invalid
    # request from a disabled account with ValidationError (as here) or with
    # this error is not documented.
    if not outbound_federation_enabled(account_id, self.partition):
        raise OutboundFederationDisabledForToken()
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


# --- IAMBackend methods (would go in moto/iam/models.py) ---------------------
#
# Each acts on the calling account: IamResponse.backend is
# iam_backends[current_account][partition].


def _backend_get_outbound_web_identity_federation_info(self: IAMBackend) -> dict:
    # The reference lists FeatureDisabled (404) as this action's only error, and
    # that is what a disabled account gets -- not JwtVendingEnabled=false. Not
    # confirmed against AWS; consistent with the Terraform AWS provider, whose
    # aws_iam_outbound_web_identity_federation reads FeatureDisabled from this
    # action as "not enabled" (resource gone, data source enabled=false).
    if not _outbound_federation_enabled(self):
        raise OutboundFederationDisabled()
    return {
        "IssuerIdentifier": outbound_identity_issuer(self.account_id),
        "JwtVendingEnabled": True,
    }


def _backend_enable_outbound_web_identity_federation(self: IAMBackend) -> str:
    if _outbound_federation_enabled(self):
        raise OutboundFederationAlreadyEnabled()
    setattr(self, _OUTBOUND_FEDERATION_ATTRIBUTE, True)
    return outbound_identity_issuer(self.account_id)


def _backend_disable_outbound_web_identity_federation(self: IAMBackend) -> None:
    if not _outbound_federation_enabled(self):
        raise OutboundFederationDisabled(
            "Outbound identity federation is already disabled for your AWS account."
        )
    setattr(self, _OUTBOUND_FEDERATION_ATTRIBUTE, False)


# --- IamResponse methods (would go in moto/iam/responses.py) -----------------
#
# None of the three takes a parameter. moto serializes the results from
# botocore's IAM model: <XxxResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
# <XxxResult>...</XxxResult><ResponseMetadata><RequestId>, or no Result for Disable,
# as the reference pages' samples show (the GetOutboundWebIdentityFederationInfo
# sample omits the xmlns, which every other IAM answer, Enable's and Disable's
# samples included, carries; it is kept).


def _response_get_outbound_web_identity_federation_info(self: IamResponse) -> ActionResult:
    return ActionResult(self.backend.get_outbound_web_identity_federation_info())


def _response_enable_outbound_web_identity_federation(self: IamResponse) -> ActionResult:
    issuer = self.backend.enable_outbound_web_identity_federation()
    return ActionResult({"IssuerIdentifier": issuer})


def _response_disable_outbound_web_identity_federation(self: IamResponse) -> ActionResult:
    self.backend.disable_outbound_web_identity_federation()
    return EmptyResult()


# name -> (backend class, response class, backend method, response method)
_OUTBOUND_IDENTITY_ACTIONS = {
    "get_web_identity_token": (
        STSBackend, TokenResponse,
        _backend_get_web_identity_token, _response_get_web_identity_token,
    ),
    "get_outbound_web_identity_federation_info": (
        IAMBackend, IamResponse,
        _backend_get_outbound_web_identity_federation_info,
        _response_get_outbound_web_identity_federation_info,
    ),
    "enable_outbound_web_identity_federation": (
        IAMBackend, IamResponse,
        _backend_enable_outbound_web_identity_federation,
        _response_enable_outbound_web_identity_federation,
    ),
    "disable_outbound_web_identity_federation": (
        IAMBackend, IamResponse,
        _backend_disable_outbound_web_identity_federation,
        _response_disable_outbound_web_identity_federation,
    ),
}


def install_outbound_identity() -> list[str]:
    """Add STS GetWebIdentityToken and IAM GetOutboundWebIdentityFederationInfo,
    EnableOutboundWebIdentityFederation and DisableOutboundWebIdentityFederation
    to moto's classes; return the names added. As with install(), an action moto
    implements itself is left alone (and not returned), and calling it again is
    harmless. Also loads (or makes) the signing keys, so a bad
    EFR_OUTBOUND_IDENTITY_KEY fails at startup."""
    outbound_identity_keys()
    installed = []
    for name, (backend_cls, response_cls, backend_method, response_method) in (
        _OUTBOUND_IDENTITY_ACTIONS.items()
    ):
        ours = (backend_method, response_method)
        theirs = (getattr(backend_cls, name, None), getattr(response_cls, name, None))
        if any(t is not None and t not in ours for t in theirs):
            continue  # moto has its own implementation: keep it
        setattr(backend_cls, name, backend_method)
        setattr(response_cls, name, response_method)
        installed.append(name)
    return installed


# --- STS AssumeRoleWithWebIdentity that checks the token and the trust --------
#
# moto 5.2.5's TokenResponse.assume_role_with_web_identity never reads
# WebIdentityToken, and STSBackend.assume_role_with_web_identity is assume_role:
# any token assumes any role. The pair below replaces both, written like moto's
# own STS actions (behaviour on STSBackend, parameters on TokenResponse), and
# checks what STS checks, in this order:
#
#   request shape -> role -> JWT -> provider (iss) -> audience (azp/aud) ->
#   RS256 signature (JWKS of the registered issuer) -> exp/nbf/iat -> trust
#
# and only then lets moto's assume_role mint the session. References:
# https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

import binascii
import http.client
import re
import time
import urllib.request
import warnings
from dataclasses import dataclass
from typing import Callable
from urllib.parse import unquote, urlparse

from cryptography.exceptions import InvalidSignature
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError
from moto.sts.models import AssumedRole
from moto.utilities.utils import PARTITION_NAMES

WEB_IDENTITY_PATH = "/_efr/web-identity/"
WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
JWKS_FETCH_TIMEOUT_S = 5.0
# "IAM provides a five minute window beyond the expiration time specified in the
# JWT to account for clock skew" (IAM User Guide, "OIDC federation"); the same
# allowance is given to nbf/iat in the future.
CLOCK_SKEW_SECONDS = 300
# roleSessionNameType, roleDurationSecondsType, clientTokenType, arnType
# (botocore's STS service model, and the API reference's constraints).
ROLE_SESSION_NAME_PATTERN = re.compile(r"[\w+=,.@-]*", re.ASCII)
MIN_SESSION_NAME, MAX_SESSION_NAME = 2, 64
MIN_SESSION_SECONDS, MAX_SESSION_SECONDS, DEFAULT_SESSION_SECONDS = 900, 43200, 3600
MIN_TOKEN_LENGTH, MAX_TOKEN_LENGTH = 4, 20000
MIN_ARN_LENGTH, MAX_ARN_LENGTH = 20, 2048
ROLE_ARN = re.compile(r"arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?P<path_and_name>.+)")

# AWS's wording, as STS sends it (the doubled space included).
COULD_NOT_RETRIEVE_KEY = (
    "Couldn't retrieve verification key from your identity provider,  "
    "please reference AssumeRoleWithWebIdentity documentation for requirements"
)


# Error classes (would go in moto/sts/exceptions.py). moto finds an exception's
# service model from its module, "moto.<service>.…"; "moto_ext" would be read as
# a moto package without a service and fail, so each class says where it belongs.
_STS_EXCEPTIONS_MODULE = "moto.sts.exceptions"


class InvalidIdentityTokenError(STSClientError):
    __module__ = _STS_EXCEPTIONS_MODULE
    code = "InvalidIdentityToken"  # botocore's STS model: HTTP 400


class VerificationKeyUnavailable(InvalidIdentityTokenError):
    __module__ = _STS_EXCEPTIONS_MODULE
    message = COULD_NOT_RETRIEVE_KEY


class ExpiredIdentityTokenError(STSClientError):
    __module__ = _STS_EXCEPTIONS_MODULE
    code = "ExpiredTokenException"  # botocore's STS model: HTTP 400


class WebIdentityAccessDenied(STSClientError):
    __module__ = _STS_EXCEPTIONS_MODULE
    code = "AccessDenied"
    message = f"Not authorized to perform {WEB_IDENTITY_ACTION}"
    # AccessDenied is a common error, not in botocore's STS model, so moto's
    # serializer would default it to 400; STS answers 403.
    http_status = 403


class UnsupportedTrustPolicy(STSClientError, NotImplementedError):
    """A trust-policy construct this emulation does not evaluate. Failing loudly
    beats guessing an authorization decision."""

    __module__ = _STS_EXCEPTIONS_MODULE
    code = "NotImplemented"
    http_status = 501  # not retried by the SDKs, unlike 500/502/503/504


# --- Issuers' verification keys ----------------------------------------------
#
# STS reads <iss>/.well-known/openid-configuration -> jwks_uri. The issuers the
# tests use (https://sts.windows.net/<tenant>/) are not reachable from here, so
# each is registered with a local JWKS URL: POST /_efr/web-identity/issuers.
# Registrations are process-wide (moto's reset does not touch them: concurrent
# tests share the server, each with its own issuer) and keyed by the exact iss.

_ISSUERS: dict[str, str] = {}
_ISSUERS_LOCK = threading.Lock()
# Local JWKS servers only: never go through an HTTP(S)_PROXY from the environment.
_JWKS_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def register_web_identity_issuer(issuer: str, jwks_uri: str) -> None:
    with _ISSUERS_LOCK:
        _ISSUERS[issuer] = jwks_uri


def web_identity_jwks_uri(issuer: str) -> str | None:
    with _ISSUERS_LOCK:
        return _ISSUERS.get(issuer)


def _fetch_jwks(issuer: str) -> list[dict]:
    """The issuer's keys, fetched afresh (a test may rotate them);
    VerificationKeyUnavailable when the issuer is unknown or its JWKS unusable."""
    jwks_uri = web_identity_jwks_uri(issuer)
    if jwks_uri is None:
        raise VerificationKeyUnavailable()
    try:
        with _JWKS_OPENER.open(jwks_uri, timeout=JWKS_FETCH_TIMEOUT_S) as resp:
            document = json.loads(resp.read())
    except (OSError, ValueError, http.client.HTTPException):
        raise VerificationKeyUnavailable() from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise VerificationKeyUnavailable()
    return [key for key in keys if isinstance(key, dict)]


# --- Request shape --------------------------------------------------------------


def _length_errors(member: str, value: str | None, low: int, high: int, show: bool = True) -> list[str]:
    shown = f"Value '{value}' at" if show else "Value at"  # a sensitive member is not echoed
    if value is None:
        return [f"Value null at '{member}' failed to satisfy constraint: Member must not be null"]
    if len(value) < low:
        return [f"{shown} '{member}' failed to satisfy constraint: Member must have length greater than or equal to {low}"]
    if len(value) > high:
        return [f"{shown} '{member}' failed to satisfy constraint: Member must have length less than or equal to {high}"]
    return []


def _validate_web_identity_request(
    role_arn: str | None, session_name: str | None, token: str | None, duration: int | None
) -> None:
    """The API reference's constraints, reported together as ValidationError."""
    errors = _length_errors("roleArn", role_arn, MIN_ARN_LENGTH, MAX_ARN_LENGTH)
    errors += _length_errors("roleSessionName", session_name, MIN_SESSION_NAME, MAX_SESSION_NAME)
    if session_name is not None and not ROLE_SESSION_NAME_PATTERN.fullmatch(session_name):
        errors.append(
            f"Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: "
            r"Member must satisfy regular expression pattern: [\w+=,.@-]*"
        )
    errors += _length_errors("webIdentityToken", token, MIN_TOKEN_LENGTH, MAX_TOKEN_LENGTH, show=False)
    if duration is not None and not MIN_SESSION_SECONDS <= duration <= MAX_SESSION_SECONDS:
        bound, limit = (
            ("greater than or equal to", MIN_SESSION_SECONDS)
            if duration < MIN_SESSION_SECONDS
            else ("less than or equal to", MAX_SESSION_SECONDS)
        )
        errors.append(
            f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: "
            f"Member must have value {bound} {limit}"
        )
    if errors:
        plural = "s" if len(errors) > 1 else ""
        raise STSValidationError(f"{len(errors)} validation error{plural} detected: " + "; ".join(errors))


# --- Role ---------------------------------------------------------------------


def _role_for(role_arn: str):
    """(role, IAM backend of its account, partition): the role is looked up by its
    name (the ARN's last path segment) in the ARN's account, and must have
    exactly that ARN (path included). A missing role is AccessDenied, as in STS,
    which does not tell a caller which roles exist."""
    match = ROLE_ARN.fullmatch(role_arn)
    if match is None or match["partition"] not in PARTITION_NAMES:
        raise STSValidationError("Request ARN is invalid")
    iam = iam_backends[match["account"]][match["partition"]]
    try:
        role = iam.get_role(match["path_and_name"].split("/")[-1])
    except NotFoundException:
        raise WebIdentityAccessDenied() from None
    if role.arn != role_arn:
        raise WebIdentityAccessDenied()
    return role, iam, match["partition"]


# --- The token ----------------------------------------------------------------


def _b64url_decode(part: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", part):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class _Jwt:
    header: dict
    claims: dict
    signing_input: bytes
    signature: bytes


def _parse_jwt(token: str) -> _Jwt:
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not three parts")
        header, claims = (json.loads(_b64url_decode(part)) for part in parts[:2])
        signature = _b64url_decode(parts[2])
    except (ValueError, binascii.Error):  # includes JSON and UTF-8 decoding errors
        header = claims = None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidIdentityTokenError(
            "The web identity token is not a valid JWT: it must be three base64url "
            "parts (a JSON header, JSON claims and a signature) separated by dots"
        )
    return _Jwt(header, claims, f"{parts[0]}.{parts[1]}".encode(), signature)


def _required_string_claim(claims: dict, name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        # AWS's wording for a token without aud: "Missing a required claim: aud".
        raise InvalidIdentityTokenError(f"Missing a required claim: {name}")
    return value


def _provider_id(issuer: str) -> str:
    """The provider's URL as IAM keys it: the iss without https:// (a trailing
    slash, as in Entra's v1 https://sts.windows.net/<tenant>/, stays). Condition
    keys are "<provider id>:aud" etc., the provider ARN ends in it."""
    scheme = "https://"
    return issuer[len(scheme):] if issuer.startswith(scheme) else issuer


def _iam_audience(claims: dict, client_ids: list[str]) -> str:
    """The audience IAM checks: azp when the token has one, otherwise aud (a
    string, or any element of a list); it must be one of the provider's client
    IDs. It is also the value of the "<provider id>:aud" condition key."""
    if "azp" in claims:
        candidates = [_required_string_claim(claims, "azp")]
    else:
        aud = claims.get("aud")
        candidates = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        candidates = [c for c in candidates if isinstance(c, str) and c]
        if not candidates:
            raise InvalidIdentityTokenError("Missing a required claim: aud")
    for candidate in candidates:
        if candidate in client_ids:
            return candidate
    raise InvalidIdentityTokenError("Incorrect token audience")


def _rsa_public_key(jwk: dict):
    n, e = (int.from_bytes(_b64url_decode(jwk[name]), "big") for name in ("n", "e"))
    return rsa.RSAPublicNumbers(e, n).public_key()


def _verify_signature(jwt: _Jwt, issuer: str) -> None:
    """RS256 with the issuer's key named by the header's kid (any RSA signing key
    when the header has no kid)."""
    algorithm = jwt.header.get("alg")
    if algorithm != "RS256":
        # STS also takes RS384/RS512/ES256/ES384/ES512; this emulation does not.
        raise InvalidIdentityTokenError(
            f"Unsupported token signing algorithm {algorithm!r}: only RS256 is emulated"
        )
    kid = jwt.header.get("kid")
    keys = [
        key
        for key in _fetch_jwks(issuer)
        if key.get("kty") == "RSA"
        and key.get("use", "sig") == "sig"
        and (kid is None or key.get("kid") == kid)
    ]
    if not keys:
        raise InvalidIdentityTokenError(
            f"No key in the identity provider's JWKS matches the token's kid {kid!r}"
        )
    for jwk in keys:
        try:
            _rsa_public_key(jwk).verify(
                jwt.signature, jwt.signing_input, padding.PKCS1v15(), hashes.SHA256()
            )
            return
        except (InvalidSignature, KeyError, TypeError, ValueError):
            continue  # a malformed or non-matching key verifies nothing
    raise InvalidIdentityTokenError(
        "The web identity token's signature could not be verified with the identity provider's keys"
    )


def _timestamp_claim(claims: dict, name: str) -> int | None:
    value = claims.get(name)
    # "Timestamps in the token must be formatted as either an integer or a long integer."
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidIdentityTokenError(f"Invalid claim {name}: timestamps must be integers")
    return value


def _check_token_times(claims: dict, now: int) -> None:
    expires = _timestamp_claim(claims, "exp")
    if expires is None:
        raise InvalidIdentityTokenError("Missing a required claim: exp")
    if now >= expires + CLOCK_SKEW_SECONDS:
        # STS's message, spacing included.
        raise ExpiredIdentityTokenError(
            f"Token expired: current date/time {now} must be before the expiration date/time {expires}"
        )
    for name, meaning in (("nbf", "not-before"), ("iat", "issued-at")):
        value = _timestamp_claim(claims, name)
        if value is not None and value > now + CLOCK_SKEW_SECONDS:
            raise InvalidIdentityTokenError(
                f"Token is not valid yet: current date/time {now} is before its {meaning} date/time {value}"
            )


def _condition_context(provider_id: str, audience: str, claims: dict) -> dict[str, list[str]]:
    """The request's condition keys for an OIDC token, by lower-cased name (IAM
    compares key names case-insensitively): aud (the IAM audience), sub, and amr
    (multivalued) when the token has it."""
    context = {f"{provider_id}:aud": [audience], f"{provider_id}:sub": [claims["sub"]]}
    amr = claims.get("amr")
    if isinstance(amr, str):
        amr = [amr]
    if isinstance(amr, list):
        context[f"{provider_id}:amr"] = [str(value) for value in amr]
    return {key.lower(): values for key, values in context.items()}


# --- The role's trust policy ----------------------------------------------------
#
# Only what a trust policy for an OIDC provider needs: Allow/Deny statements
# with Action (string or list, * and ? wildcards), Principal "*", {"AWS": "*"}
# or {"Federated": ...}, and Condition blocks with the String* operators, their
# IfExists forms and ForAnyValue:/ForAllValues: prefixes. An explicit Deny wins;
# otherwise some Allow must apply. Anything else in a statement that could
# apply raises UnsupportedTrustPolicy.

_StringMatch = Callable[[str, str], bool]


def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


# operator -> (negated, how one context value matches one policy value)
_STRING_OPERATORS: dict[str, tuple[bool, _StringMatch]] = {
    "StringEquals": (False, lambda value, wanted: value == wanted),
    "StringNotEquals": (True, lambda value, wanted: value == wanted),
    "StringEqualsIgnoreCase": (False, lambda value, wanted: value.lower() == wanted.lower()),
    "StringNotEqualsIgnoreCase": (True, lambda value, wanted: value.lower() == wanted.lower()),
    "StringLike": (False, lambda value, wanted: _wildcard(wanted, value)),
    "StringNotLike": (True, lambda value, wanted: _wildcard(wanted, value)),
}
_SET_OPERATORS = ("ForAnyValue", "ForAllValues")
_STATEMENT_ELEMENTS = {"Sid", "Effect", "Principal", "Action", "Condition"}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _trust_statements(document) -> list:
    """The statements of a trust policy that moto may hold as a dict, a JSON
    string or a URL-encoded JSON string."""
    policy = document
    if isinstance(document, str):
        try:
            policy = json.loads(document)
        except ValueError:
            try:
                policy = json.loads(unquote(document))
            except ValueError:
                raise UnsupportedTrustPolicy("The role's trust policy is not JSON") from None
    if not isinstance(policy, dict):
        raise UnsupportedTrustPolicy("The role's trust policy is not a JSON object")
    return _as_list(policy.get("Statement", []))


def _action_matches(statement: dict) -> bool | None:
    """None: the statement uses NotAction, which is not evaluated."""
    if "NotAction" in statement:
        return None
    return any(
        isinstance(pattern, str) and _wildcard(pattern, WEB_IDENTITY_ACTION, ignore_case=True)
        for pattern in _as_list(statement.get("Action", []))
    )


def _principal_matches(statement: dict, provider_arn: str) -> bool | None:
    """None: the statement uses NotPrincipal, which is not evaluated."""
    if "NotPrincipal" in statement:
        return None
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return "*" in _as_list(principal.get("AWS", [])) or provider_arn in _as_list(
        principal.get("Federated", [])
    )


def _policy_values(operator: str, key: str, value) -> list[str]:
    values = []
    for item in _as_list(value):
        if isinstance(item, bool):
            item = "true" if item else "false"  # IAM compares the JSON literal's text
        elif isinstance(item, (int, float)):
            item = str(item)
        if not isinstance(item, str):
            raise UnsupportedTrustPolicy(f"Condition {operator} {key}: value {item!r} is not a string")
        if "${" in item:
            raise UnsupportedTrustPolicy(f"Condition {operator} {key}: policy variables ({item}) are not emulated")
        values.append(item)
    return values


@dataclass
class _ConditionCheck:
    key: str  # lower-cased
    values: list[str]
    negated: bool
    match: _StringMatch
    set_operator: str | None
    if_exists: bool

    def holds(self, context: dict[str, list[str]]) -> bool:
        present = context.get(self.key) or []

        def satisfies(value: str) -> bool:
            hit = any(self.match(value, wanted) for wanted in self.values)
            return not hit if self.negated else hit

        if not present:
            if self.if_exists or self.set_operator == "ForAllValues":
                return True  # ...IfExists, and ForAllValues over no values, hold
            if self.set_operator == "ForAnyValue":
                return False
            # A missing key matches nothing: a positive operator fails, a
            # negated one ("must not match") holds.
            return self.negated
        if self.set_operator == "ForAllValues":
            return all(satisfies(value) for value in present)
        if self.set_operator == "ForAnyValue":
            return any(satisfies(value) for value in present)
        # Single-valued: the value matches if it equals ANY listed value; a
        # negated operator requires that it matches none.
        return all(map(satisfies, present)) if self.negated else any(map(satisfies, present))


def _condition_checks(condition) -> list[_ConditionCheck]:
    """Parse a Condition element, refusing operators and keys not emulated."""
    if not isinstance(condition, dict):
        raise UnsupportedTrustPolicy(f"Condition {condition!r} is not an object")
    checks = []
    for operator, block in condition.items():
        name, set_operator = operator, None
        prefix, _, rest = operator.partition(":")
        if rest and prefix in _SET_OPERATORS:
            name, set_operator = rest, prefix
        if_exists = name.endswith("IfExists")
        base = name[: -len("IfExists")] if if_exists else name
        if base not in _STRING_OPERATORS or not isinstance(block, dict):
            raise UnsupportedTrustPolicy(f"Condition operator {operator} is not emulated")
        negated, match = _STRING_OPERATORS[base]
        for key, value in block.items():
            if key.lower().startswith(("aws:", "sts:")):
                # STS would give these global keys values (aws:SourceIp,
                # sts:RoleSessionName, ...): treating them as missing would guess.
                raise UnsupportedTrustPolicy(f"Condition key {key} is not emulated")
            checks.append(
                _ConditionCheck(key.lower(), _policy_values(operator, key, value), negated, match, set_operator, if_exists)
            )
    return checks


def _statement_applies(statement, provider_arn: str, context: dict[str, list[str]]) -> bool:
    if not isinstance(statement, dict):
        raise UnsupportedTrustPolicy(f"Statement {statement!r} is not an object")
    action, principal = _action_matches(statement), _principal_matches(statement, provider_arn)
    if action is False or principal is False:
        return False  # not about this action or principal, whatever else it says
    if action is None:
        raise UnsupportedTrustPolicy("NotAction in a trust policy statement is not emulated")
    if principal is None:
        raise UnsupportedTrustPolicy("NotPrincipal in a trust policy statement is not emulated")
    unknown = sorted(set(statement) - _STATEMENT_ELEMENTS)
    if unknown:
        raise UnsupportedTrustPolicy(f"Trust policy statement element(s) {', '.join(unknown)} not emulated")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise UnsupportedTrustPolicy(f"Statement Effect {statement.get('Effect')!r} is not Allow or Deny")
    # Every operator and key is checked before any is evaluated, so an
    # unsupported one is reported whatever the others evaluate to.
    checks = _condition_checks(statement.get("Condition", {}))
    return all(check.holds(context) for check in checks)


def _trust_allows(document, provider_arn: str, context: dict[str, list[str]]) -> bool:
    allowed = False
    for statement in _trust_statements(document):
        if _statement_applies(statement, provider_arn, context):
            if statement["Effect"] == "Deny":
                return False  # an explicit Deny wins
            allowed = True
    return allowed


# --- STSBackend method (would go in moto/sts/models.py) ----------------------


@dataclass
class WebIdentitySession:
    assumed_role: AssumedRole
    subject: str
    audience: str
    provider_arn: str


def _backend_assume_role_with_web_identity(
    self: STSBackend,
    region_name: str,
    role_arn: str,
    role_session_name: str,
    web_identity_token: str,
    policy: str | None = None,
    duration: int | None = None,
) -> WebIdentitySession:
    _validate_web_identity_request(role_arn, role_session_name, web_identity_token, duration)
    role, iam, partition = _role_for(role_arn)
    duration = duration or DEFAULT_SESSION_SECONDS
    if duration > int(role.max_session_duration or DEFAULT_SESSION_SECONDS):
        raise STSValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")

    jwt = _parse_jwt(web_identity_token)
    issuer = _required_string_claim(jwt.claims, "iss")
    provider_id = _provider_id(issuer)
    provider_arn = f"arn:{partition}:iam::{role.account_id}:oidc-provider/{provider_id}"
    provider = iam.open_id_providers.get(provider_arn)
    if provider is None:
        raise InvalidIdentityTokenError(f"No OpenIDConnect provider found in your account for {issuer}")
    audience = _iam_audience(jwt.claims, provider.client_id_list)
    _verify_signature(jwt, issuer)
    _check_token_times(jwt.claims, int(time.time()))
    subject = _required_string_claim(jwt.claims, "sub")

    context = _condition_context(provider_id, audience, jwt.claims)
    if not _trust_allows(role.assume_role_policy_document, provider_arn, context):
        raise WebIdentityAccessDenied()

    # moto's own AssumeRole mints the keys in the role's account and records the
    # session, so the credentials act as the role afterwards.
    assumed_role = self.assume_role(
        region_name=region_name,
        role_session_name=role_session_name,
        role_arn=role.arn,
        policy=policy,
        duration=duration,
        external_id=None,
    )
    return WebIdentitySession(assumed_role, subject, audience, provider_arn)


# --- TokenResponse method (would go in moto/sts/responses.py) ----------------


def _response_assume_role_with_web_identity(self: TokenResponse):
    duration = self._get_param("DurationSeconds")
    try:
        session = self.backend.assume_role_with_web_identity(
            region_name=self.region,
            role_arn=self._get_param("RoleArn"),
            role_session_name=self._get_param("RoleSessionName"),
            web_identity_token=self._get_param("WebIdentityToken"),
            policy=self._get_param("Policy"),
            duration=int(duration) if duration is not None else None,
        )
    except STSClientError as error:
        status = getattr(error, "http_status", None)
        if status is None:
            raise  # moto serializes it, with the status botocore's model gives
        _, headers, body = self.serialized(ActionResult(error))
        headers["status"] = status
        return body, headers
    role = session.assumed_role
    return ActionResult(
        {
            "Credentials": role,
            "SubjectFromWebIdentityToken": session.subject,
            "AssumedRoleUser": {"AssumedRoleId": role.user_id, "Arn": role.arn},
            # The API reference says "the value of the iss field"; STS answers
            # with the IAM OIDC provider's ARN.
            "Provider": session.provider_arn,
            "Audience": session.audience,
        }
    )


def install_web_identity_check() -> list[str]:
    """Replace moto's AssumeRoleWithWebIdentity (which checks nothing) with the
    checking one; return the names replaced (none when already done)."""
    # AccessDenied and NotImplemented are not in botocore's STS model; moto's
    # serializer warns about that on stderr, and their status is set above.
    warnings.filterwarnings(
        "ignore",
        message=r"Exception\((WebIdentityAccessDenied|UnsupportedTrustPolicy)\) with code",
        category=UserWarning,
    )
    name = "assume_role_with_web_identity"
    if (
        getattr(STSBackend, name) is _backend_assume_role_with_web_identity
        and getattr(TokenResponse, name) is _response_assume_role_with_web_identity
    ):
        return []
    setattr(STSBackend, name, _backend_assume_role_with_web_identity)
    setattr(TokenResponse, name, _response_assume_role_with_web_identity)
    return [name]


# --- CloudFormation: resource events, and the phases moto does not run ----------
#
# moto 5.2.5 records stack-level events only (Stack._add_stack_event), so
# DescribeStackEvents never shows a resource. CloudFormation records, per
# resource, CREATE_IN_PROGRESS when it starts to create it and CREATE_COMPLETE
# (or CREATE_FAILED, with a reason) when it is done ("Understand CloudFormation
# stack creation events",
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stack-resource-configuration-complete.html);
# a custom resource stays CREATE_IN_PROGRESS until its provider's response
# arrives. The pieces below add that to moto's own flow, each where moto would
# hold it:
#
# * Stack._add_resource_event (moto/cloudformation/models.py): records a resource
#   event as _add_stack_event records a stack event (SNS notification included).
# * parse_and_create_resource (moto/cloudformation/parsing.py): moto's function,
#   with CREATE_IN_PROGRESS recorded before the resource class creates the
#   resource, and CREATE_COMPLETE (physical id) after, unless it is a custom
#   resource, which is not created until its provider answers; CREATE_FAILED
#   when creating raises.
# * CloudFormationBackend.process_cfn_response (models.py) and the
#   ProcessCfnResponse action (responses.py), which moto serves at
#   <moto>/cloudformation_<region>/cfnresponse?stack=<StackId>: SUCCESS records
#   CREATE_COMPLETE with the response's PhysicalResourceId (then moto's own
#   data and readiness handling), FAILED records CREATE_FAILED with it and
#   CloudFormation's reason text, "Received response status [FAILED] from
#   custom resource. Message returned: <Reason> (RequestId: <request id>)" (as
#   CloudFormation words it in the events users report, e.g.
#   https://github.com/awslabs/aws-video-transcriber/issues/32). moto only ever
#   sends Create requests, so a response is applied only to a custom resource
#   whose creation awaits one; any other (a second response, one for an unknown
#   logical id) is acknowledged, logged and changes nothing. The stack is found
#   in the account and region its ARN names (moto looked in the caller's
#   account, and the provider's PUT carries no credentials).
# * StackResourceDTO (responses.py): DescribeStackResource(s) report a custom
#   resource's status, reason and physical id from its events (moto reports the
#   stack's status and a generated name).
#
# DescribeStackEvents already lists a stack's events newest first ("in reverse
# chronological order",
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackEvents.html):
# moto reverses the order it recorded them in, which is their order in time, so
# it is kept. Not emulated: ResourceProperties in events, events of updates and
# deletions moto runs itself (UpdateStack, DeleteStack), a Ref of a custom
# resource resolving to its PhysicalResourceId, AWS::CloudFormation::CustomResource
# (moto creates only the Custom:: types).

import logging
from datetime import timedelta

import botocore.session
from moto.cloudformation import parsing as cloudformation_parsing
from moto.cloudformation.custom_model import CustomModel
from moto.cloudformation.models import (
    CloudFormationBackend,
    Event,
    Stack,
    cloudformation_backends,
)
from moto.cloudformation.responses import CloudFormationResponse, StackResourceDTO

CLOUDFORMATION_PATH = "/_efr/cloudformation/"
STACK_ARN = re.compile(
    r"arn:(?P<partition>[\w-]+):cloudformation:(?P<region>[\w-]+):(?P<account>\d{12}):stack/[^/]+/.+"
)

_logger = logging.getLogger(__name__)
_RESPONSES_LOCK = threading.Lock()


def _backend_of_stack(stack_id: str | None) -> CloudFormationBackend | None:
    """The backend of the account and region a stack ARN names (None: not an ARN,
    or a region moto does not know)."""
    match = STACK_ARN.fullmatch(stack_id or "")
    if match is None:
        return None
    backends = cloudformation_backends[match["account"]]
    return backends[match["region"]] if match["region"] in backends else None


def _stack_by_arn(stack_id: str | None) -> Stack | None:
    """The stack with this ARN, deleted or not (moto keeps deleted stacks)."""
    backend = _backend_of_stack(stack_id)
    if backend is None:
        return None
    return backend.stacks.get(stack_id) or backend.deleted_stacks.get(stack_id)


# --- Stack method (would go in moto/cloudformation/models.py) -----------------


def _stack_add_resource_event(
    self: Stack,
    logical_resource_id: str,
    resource_type: str,
    resource_status: str,
    physical_resource_id: str = "",
    resource_status_reason: str | None = None,
) -> Event:
    # While a resource is being created it has no physical id yet: CloudFormation
    # reports an empty PhysicalResourceId.
    event = Event(
        stack_id=self.stack_id,
        stack_name=self.name,
        logical_resource_id=logical_resource_id,
        physical_resource_id=physical_resource_id,
        resource_type=resource_type,
        resource_status=resource_status,
        resource_status_reason=resource_status_reason,
        resource_properties=None,
    )
    event.sendToSns(self.account_id, self.region_name, self.notification_arns)
    self.events.append(event)
    return event


# --- parsing.parse_and_create_resource, with its events (would replace moto's) ---


def _stack_of(resources_map) -> Stack | None:
    """The stack a ResourceMap belongs to, once its backend holds it."""
    backend = cloudformation_backends[resources_map._account_id][resources_map._region_name]
    stack_id = resources_map.stack_id
    return backend.stacks.get(stack_id) or backend.deleted_stacks.get(stack_id)


def _parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
    """moto 5.2.5's parsing.parse_and_create_resource, step for step, with the
    resource's events recorded around the creation."""
    condition = resource_json.get("Condition")
    if condition and not resources_map.lazy_condition_map[condition]:
        return None  # a false Condition: not created, and CloudFormation records nothing

    resource_type = resource_json["Type"]
    resource_tuple = cloudformation_parsing.parse_resource_and_generate_name(
        logical_id, resource_json, resources_map
    )
    if not resource_tuple:
        return None  # a type moto does not create (it has warned)
    resource_class, resource_json, resource_physical_name = resource_tuple
    stack = _stack_of(resources_map)
    if stack is not None:
        stack._add_resource_event(logical_id, resource_type, "CREATE_IN_PROGRESS")
    kwargs = {"LogicalId": logical_id, "StackId": resources_map.stack_id, "ResourceType": resource_type}
    try:
        resource = resource_class.create_from_cloudformation_json(
            resource_physical_name, resource_json, account_id, region_name, **kwargs
        )
    except Exception as error:
        if stack is not None:
            stack._add_resource_event(logical_id, resource_type, "CREATE_FAILED", resource_status_reason=str(error))
        raise
    resource.cf_resource_type = resource_type
    resource.logical_resource_id = logical_id
    # A custom resource is complete when its provider says so (process_cfn_response).
    if stack is not None and not isinstance(resource, CustomModel) and resource.is_created():
        physical_id = getattr(resource, "physical_resource_id", None) or ""
        stack._add_resource_event(logical_id, resource_type, "CREATE_COMPLETE", str(physical_id))
    return resource


_parse_and_create_resource.efr_records_events = True


# --- CloudFormationBackend method (would go in moto/cloudformation/models.py) --


def _backend_process_cfn_response(
    self: CloudFormationBackend,
    stack_id: str,
    logical_resource_id: str,
    status: str,
    physical_resource_id: str | None,
    reason: str | None,
    data: dict | None,
) -> None:
    stack = self.get_stack(stack_id)
    custom_resource = stack.custom_resources.get(logical_resource_id)
    if status not in ("SUCCESS", "FAILED"):
        _logger.warning("custom resource response ignored: Status %r is not SUCCESS or FAILED", status)
        return
    with _RESPONSES_LOCK:  # two responses at once: the first one counts
        waiting = custom_resource is not None and getattr(custom_resource, "response_status", None) is None
        if waiting:
            custom_resource.response_status = status
    if not waiting:
        _logger.warning(
            "custom resource response ignored: %s of stack %s is not waiting for one",
            logical_resource_id, stack_id,
        )
        return
    resource_json = (stack.template_dict.get("Resources") or {}).get(logical_resource_id) or {}
    resource_type = resource_json.get("Type") or getattr(custom_resource, "cf_resource_type", "")
    if status == "SUCCESS":
        stack._add_resource_event(
            logical_resource_id, resource_type, "CREATE_COMPLETE", physical_resource_id or ""
        )
        custom_resource.set_data(data or {})
        stack.verify_readiness()  # moto's: the stack is CREATE_COMPLETE once all are
    else:
        stack._add_resource_event(
            logical_resource_id,
            resource_type,
            "CREATE_FAILED",
            physical_resource_id or "",
            "Received response status [FAILED] from custom resource. Message returned: "
            f"{reason or ''} (RequestId: {custom_resource.request_id})",
        )


# --- CloudFormationResponse method (would go in moto/cloudformation/responses.py)


def _response_process_cfn_response(self: CloudFormationResponse):
    stack_id = self._get_param("StackId")
    backend = _backend_of_stack(stack_id) or self.cloudformation_backend
    backend.process_cfn_response(
        stack_id=stack_id,
        logical_resource_id=self._get_param("LogicalResourceId"),
        status=self._get_param("Status"),
        physical_resource_id=self._get_param("PhysicalResourceId"),
        reason=self._get_param("Reason"),
        data=self._get_param("Data"),
    )
    return 200, {"status": 200}, json.dumps("{}")


# --- StackResourceDTO (moto/cloudformation/responses.py) ------------------------


def _current_resource_event(stack: Stack, logical_resource_id: str) -> Event | None:
    """The event that gives a resource's current status: its newest, except that a
    DELETE_* event naming another physical id than the resource's current one is
    about the old resource of a replacement (or the new one of a failed update)
    that CloudFormation removes in a cleanup phase, not about the resource."""
    current = None
    for event in stack.events:
        if event.logical_resource_id != logical_resource_id or event.physical_resource_id == stack.stack_id:
            continue  # another resource, or the stack's own event
        if (
            current is not None
            and event.resource_status.startswith("DELETE_")
            and event.physical_resource_id
            and current.physical_resource_id
            and event.physical_resource_id != current.physical_resource_id
        ):
            continue
        current = event
    return current


def _wrap_stack_resource_dto(init):
    def __init__(self, stack, resource):
        init(self, stack, resource)
        if not isinstance(resource, CustomModel):
            # moto's own report: moto records no events when it updates or deletes
            # resources itself, so their events may be out of date.
            return
        event = _current_resource_event(stack, self.logical_resource_id)
        if event is not None:
            self.resource_status = event.resource_status
            self.resource_status_reason = event.resource_status_reason
            self.physical_resource_id = event.physical_resource_id or None
            self.timestamp = self.last_updated_timestamp = event.timestamp

    __init__.efr_reports_events = True
    __init__.__wrapped__ = init
    return __init__


def install_cloudformation_events() -> list[str]:
    """Record resource events in moto's CloudFormation (see above); return what was
    installed (nothing when already done)."""
    installed = []
    if not getattr(cloudformation_parsing.parse_and_create_resource, "efr_records_events", False):
        cloudformation_parsing.parse_and_create_resource = _parse_and_create_resource
        installed.append("parse_and_create_resource")
    for cls, name, ours in (
        (Stack, "_add_resource_event", _stack_add_resource_event),
        (CloudFormationBackend, "process_cfn_response", _backend_process_cfn_response),
        (CloudFormationResponse, "process_cfn_response", _response_process_cfn_response),
    ):
        if getattr(cls, name, None) is not ours:
            setattr(cls, name, ours)
            installed.append(f"{cls.__name__}.{name}")
    if not getattr(StackResourceDTO.__init__, "efr_reports_events", False):
        StackResourceDTO.__init__ = _wrap_stack_resource_dto(StackResourceDTO.__init__)
        installed.append("StackResourceDTO.__init__")
    return installed


# --- Recording what CloudFormation records in the phases moto does not run ------
#
# moto never sends a custom resource an Update or a Delete, so the events of
# those phases are recorded by the tests themselves, with
# POST /_efr/cloudformation/events (wsgi_middleware), one call per step, in the
# order CloudFormation records them:
#
# * in-place update: stack UPDATE_IN_PROGRESS; resource UPDATE_IN_PROGRESS with
#   the current physical id (CloudFormation sends the Update now); resource
#   UPDATE_COMPLETE with the same id; stack UPDATE_COMPLETE ("Monitor the
#   progress of a stack update",
#   https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-monitor-stack.html).
# * replacement: as above, but the provider answers with another physical id,
#   so UPDATE_COMPLETE names the new one; then stack
#   UPDATE_COMPLETE_CLEANUP_IN_PROGRESS and resource DELETE_IN_PROGRESS with the
#   OLD id (CloudFormation sends the Delete now), DELETE_COMPLETE, stack
#   UPDATE_COMPLETE. "If the value returned is different, CloudFormation
#   recognizes the update as a replacement and sends a delete request to the old
#   resource" (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requesttypes-update.html,
#   https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requesttypes-delete.html);
#   UPDATE_COMPLETE_CLEANUP_IN_PROGRESS is the "ongoing removal of old resources
#   ... after a successful stack update" (stack status codes,
#   https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html#cfn-console-view-stack-data-resources-status-codes).
# * update rollback: a resource's update fails (UPDATE_FAILED with a reason);
#   stack UPDATE_ROLLBACK_IN_PROGRESS; resource UPDATE_IN_PROGRESS (the rollback's
#   Update, back to the old properties), UPDATE_COMPLETE (the monitor page's
#   rollback example); then, when the failed update had replaced it, stack
#   UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS ("still deleting any new
#   resources it created during the stack update", status codes page) with
#   resource DELETE_IN_PROGRESS of the NEW id; stack UPDATE_ROLLBACK_COMPLETE.
# * create rollback: resource CREATE_FAILED (moto records it from a FAILED
#   response); stack ROLLBACK_IN_PROGRESS ("ongoing removal ... after a failed
#   stack creation"); resource DELETE_IN_PROGRESS with the failed create's
#   physical id; DELETE_COMPLETE; stack ROLLBACK_COMPLETE.
# * stack deletion: stack DELETE_IN_PROGRESS; resource DELETE_IN_PROGRESS with
#   its physical id; DELETE_COMPLETE; stack DELETE_COMPLETE.
#
# The documentation does not say which physical id the events of a cleanup or a
# rollback name, nor which physical id the rollback's Update and the create
# rollback's Delete carry; the ids above follow the request pages (a Delete
# names the resource it deletes).
#
# The event's ResourceType is always the one of the stack's template: a test
# records what CloudFormation would, and CloudFormation takes the type from the
# template, whatever a request claims.

_DRIVER_STRING_FIELDS = (
    "StackId",
    "StackStatus",
    "LogicalResourceId",
    "ResourceStatus",
    "PhysicalResourceId",
    "ResourceStatusReason",
)
_DRIVER_FIELDS = _DRIVER_STRING_FIELDS + ("AgeSeconds",)


class DriverError(ValueError):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


_CLOUDFORMATION_MODEL = None


def _api_enum(shape: str) -> tuple[str, ...]:
    """The values botocore's CloudFormation model (the API) allows for an enum."""
    global _CLOUDFORMATION_MODEL
    if _CLOUDFORMATION_MODEL is None:
        _CLOUDFORMATION_MODEL = botocore.session.get_session().get_service_model("cloudformation")
    return tuple(_CLOUDFORMATION_MODEL.shape_for(shape).enum)


def record_cloudformation_event(body) -> None:
    """Record the event(s) a POST /_efr/cloudformation/events body describes.

    ``StackId`` (required): the stack's ARN; it is looked up in the account and
    region the ARN names, deleted stacks included (else 404). ``StackStatus``:
    set the stack's status and record its event, as moto's _add_stack_event
    does. ``LogicalResourceId`` with ``ResourceStatus``: record a resource event,
    with the template's type, ``PhysicalResourceId`` (default empty) and
    ``ResourceStatusReason`` (which goes with the stack event when there is no
    resource event). At least one of the two events; the stack's comes first.
    Statuses must be values of the API's StackStatus / ResourceStatus enums.
    ``AgeSeconds`` (a number, 0 or more): back-date the new event(s) and the
    stack's history before them. Any other field is refused (400), a
    ``ResourceType`` above all. Raises DriverError (400 or 404) and then
    records nothing.
    """
    if not isinstance(body, dict):
        raise DriverError("400 Bad Request", "the body must be a JSON object")
    unknown = sorted(set(body) - set(_DRIVER_FIELDS))
    if unknown:
        message = f"unknown field(s): {', '.join(unknown)}"
        if "ResourceType" in unknown:
            message += " (an event's ResourceType is the one of the stack's template)"
        raise DriverError("400 Bad Request", message)
    for name in _DRIVER_STRING_FIELDS:
        if name in body and not (isinstance(body[name], str) and body[name]):
            raise DriverError("400 Bad Request", f"{name} must be a non-empty string")
    age = body.get("AgeSeconds", 0)
    if isinstance(age, bool) or not isinstance(age, (int, float)) or age < 0:
        raise DriverError("400 Bad Request", "AgeSeconds must be a number of seconds, 0 or more")
    if "StackId" not in body:
        raise DriverError("400 Bad Request", "StackId is required")
    stack_status, logical_id = body.get("StackStatus"), body.get("LogicalResourceId")
    resource_status = body.get("ResourceStatus")
    if stack_status is None and logical_id is None:
        raise DriverError("400 Bad Request", "give StackStatus, LogicalResourceId or both")
    if logical_id is None and ("ResourceStatus" in body or "PhysicalResourceId" in body):
        raise DriverError("400 Bad Request", "ResourceStatus and PhysicalResourceId need a LogicalResourceId")
    if logical_id is not None and resource_status is None:
        raise DriverError("400 Bad Request", "ResourceStatus is required with LogicalResourceId")
    if stack_status is not None and stack_status not in _api_enum("StackStatus"):
        raise DriverError("400 Bad Request", f"StackStatus {stack_status!r} is not a CloudFormation stack status")
    if resource_status is not None and resource_status not in _api_enum("ResourceStatus"):
        raise DriverError(
            "400 Bad Request", f"ResourceStatus {resource_status!r} is not a CloudFormation resource status"
        )

    stack = _stack_by_arn(body["StackId"])
    if stack is None:
        raise DriverError("404 Not Found", f"no stack {body['StackId']} (give the stack's ARN)")
    resource_type = None
    if logical_id is not None:
        template_resource = (stack.template_dict.get("Resources") or {}).get(logical_id)
        if not isinstance(template_resource, dict) or "Type" not in template_resource:
            raise DriverError("400 Bad Request", f"the template of {stack.name} has no resource {logical_id}")
        resource_type = template_resource["Type"]

    reason = body.get("ResourceStatusReason")
    if stack_status is not None:
        stack.status = stack_status
        stack._add_stack_event(stack_status, resource_status_reason=None if logical_id else reason)
    if logical_id is not None:
        stack._add_resource_event(
            logical_id, resource_type, resource_status, body.get("PhysicalResourceId", ""), reason
        )
    if age:
        # The new event(s) and the whole history before them happened AgeSeconds
        # earlier: the events stay in the order of their timestamps.
        delta = timedelta(seconds=age)
        for event in stack.events:
            event.timestamp -= delta
        stack.creation_time -= delta


# --- Local HTTP endpoints -------------------------------------------------------


def _json_response(start_response, status: str, body: dict | None, headers: list | None = None):
    data = json.dumps(body).encode() if body is not None else b""
    response_headers = [("Content-Length", str(len(data)))] + (headers or [])
    if body is not None:
        response_headers.append(("Content-Type", "application/json"))
    start_response(status, response_headers)
    return [data]


def _serve_outbound_identity(environ, start_response, name: str):
    if name == "jwks.json":
        return _json_response(start_response, "200 OK", outbound_identity_keys().jwks())
    if name == "issuer":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        account = query.get("account", [DEFAULT_ACCOUNT_ID])[0]
        body = {"issuer": outbound_identity_issuer(account), "account": account}
        return _json_response(start_response, "200 OK", body)
    return _json_response(start_response, "404 Not Found", {"error": f"no such path {environ['PATH_INFO']}"})


def _request_json(environ):
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked: the server marks the end
        raw = stream.read()
    else:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = stream.read(length) if length > 0 else b""
    return json.loads(raw or b"null")


def _register_issuer_request(environ, start_response):
    try:
        body = _request_json(environ)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _json_response(start_response, "400 Bad Request", {"error": "the body must be a JSON object"})
    missing = [f for f in ("issuer", "jwks_uri") if not isinstance(body.get(f), str) or not body[f]]
    if missing:
        error = f"missing or empty string field(s): {', '.join(missing)}"
        return _json_response(start_response, "400 Bad Request", {"error": error})
    if urlparse(body["jwks_uri"]).scheme not in ("http", "https"):
        return _json_response(start_response, "400 Bad Request", {"error": "jwks_uri must be an http(s) URL"})
    register_web_identity_issuer(body["issuer"], body["jwks_uri"])
    return _json_response(start_response, "204 No Content", None)


def _serve_web_identity(environ, start_response, name: str):
    if name != "issuers":
        return _json_response(start_response, "404 Not Found", {"error": f"no such path {environ['PATH_INFO']}"})
    if environ.get("REQUEST_METHOD") != "POST":
        return _json_response(
            start_response, "405 Method Not Allowed", {"error": "use POST"}, [("Allow", "POST")]
        )
    return _register_issuer_request(environ, start_response)


def _serve_cloudformation(environ, start_response, name: str):
    if name != "events":
        return _json_response(start_response, "404 Not Found", {"error": f"no such path {environ['PATH_INFO']}"})
    if environ.get("REQUEST_METHOD") != "POST":
        return _json_response(
            start_response, "405 Method Not Allowed", {"error": "use POST"}, [("Allow", "POST")]
        )
    try:
        body = _request_json(environ)
    except ValueError:
        body = None
    try:
        record_cloudformation_event(body)
    except DriverError as error:
        return _json_response(start_response, error.status, {"error": str(error)})
    return _json_response(start_response, "204 No Content", None)


def wsgi_middleware(app):
    """Serve /_efr/outbound-identity/ (GET: verification keys, issuer URLs),
    /_efr/web-identity/issuers (POST: register an issuer's JWKS URL) and
    /_efr/cloudformation/events (POST: record a stack or resource event); hand
    everything else to moto's application."""

    def serve(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(OUTBOUND_IDENTITY_PATH) and environ.get("REQUEST_METHOD") == "GET":
            return _serve_outbound_identity(environ, start_response, path[len(OUTBOUND_IDENTITY_PATH):])
        if path.startswith(WEB_IDENTITY_PATH):
            return _serve_web_identity(environ, start_response, path[len(WEB_IDENTITY_PATH):])
        if path.startswith(CLOUDFORMATION_PATH):
            return _serve_cloudformation(environ, start_response, path[len(CLOUDFORMATION_PATH):])
        return app(environ, start_response)

    return serve
