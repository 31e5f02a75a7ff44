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
"""

from __future__ import annotations

from moto.core.responses import ActionResult, EmptyResult
from moto.iam.exceptions import LimitExceededException, ValidationError
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
