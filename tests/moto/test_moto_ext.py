"""moto_ext's Add/RemoveClientID...OpenIDConnectProvider, through server.py and boto3."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

import moto_ext
from conftest import DEFAULT_ACCOUNT_ID, _read_line, error_of

IAM_NS = "{https://iam.amazonaws.com/doc/2010-05-08/}"
OTHER_ACCOUNT_ID = "111122223333"
PROVIDER_URL = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0"


@pytest.fixture
def iam(aws_client):
    return aws_client("iam")


@pytest.fixture
def provider(iam) -> str:
    """A fresh provider (moto was just reset) holding one client id, "app-0"."""
    return iam.create_open_id_connect_provider(
        Url=PROVIDER_URL, ClientIDList=["app-0"], ThumbprintList=[]
    )["OpenIDConnectProviderArn"]


def client_ids(iam, arn: str) -> list[str]:
    return iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"]


def add(iam, arn: str, client_id: str):
    return iam.add_client_id_to_open_id_connect_provider(
        OpenIDConnectProviderArn=arn, ClientID=client_id
    )


def remove(iam, arn: str, client_id: str):
    return iam.remove_client_id_from_open_id_connect_provider(
        OpenIDConnectProviderArn=arn, ClientID=client_id
    )


# --- moto itself --------------------------------------------------------------


def test_moto_525_lacks_both_actions_and_install_adds_them(monkeypatch):
    """moto 5.2.5 has neither action; install() adds both, and keeps moto's own if present."""
    import moto
    from moto.iam.models import IAMBackend
    from moto.iam.responses import IamResponse

    assert moto.__version__ == "5.2.5"
    names = [
        "add_client_id_to_open_id_connect_provider",
        "remove_client_id_from_open_id_connect_provider",
    ]
    # Let monkeypatch restore (or delete) all four attributes after the test.
    for cls in (IAMBackend, IamResponse):
        for name in names:
            original = getattr(cls, name, None)
            monkeypatch.setattr(cls, name, original, raising=False)
            if original is None:
                monkeypatch.delattr(cls, name)
            # Not in moto 5.2.5, unless this process already ran install().
            assert original is None or original.__module__ == moto_ext.__name__

    assert moto_ext.install() == names
    assert moto_ext.install() == names  # calling it again is harmless

    def moto_own_add(self):  # stands in for a future moto implementation
        raise AssertionError

    monkeypatch.setattr(IamResponse, names[0], moto_own_add)
    assert moto_ext.install() == names[1:]
    assert IamResponse.add_client_id_to_open_id_connect_provider is moto_own_add


def test_moto_create_already_enforces_100_client_ids(iam):
    """Observed: moto's CreateOpenIDConnectProvider rejects >100 ids with LimitExceeded."""
    with pytest.raises(ClientError) as excinfo:
        iam.create_open_id_connect_provider(
            Url=PROVIDER_URL, ClientIDList=[f"app-{i}" for i in range(101)], ThumbprintList=[]
        )
    assert error_of(excinfo) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100",
    )


# --- AddClientIDToOpenIDConnectProvider / RemoveClientIDFromOpenIDConnectProvider --


def test_add_is_idempotent(iam, provider):
    add(iam, provider, "app-1")
    add(iam, provider, "app-1")
    add(iam, provider, "app-0")  # present since creation
    assert client_ids(iam, provider) == ["app-0", "app-1"]


def test_add_then_remove(iam, provider):
    add(iam, provider, "app-1")
    remove(iam, provider, "app-1")
    assert client_ids(iam, provider) == ["app-0"]
    remove(iam, provider, "app-0")
    assert client_ids(iam, provider) == []


def test_remove_absent_id_succeeds_and_changes_nothing(iam, provider):
    before = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    resp = remove(iam, provider, "never-added")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    after = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    del before["ResponseMetadata"], after["ResponseMetadata"]
    assert after == before


def test_get_reflects_each_change(iam, provider):
    created = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    steps = [
        (add, "app-1", ["app-0", "app-1"]),
        (add, "app-2", ["app-0", "app-1", "app-2"]),
        (add, "app-1", ["app-0", "app-1", "app-2"]),
        (remove, "app-0", ["app-1", "app-2"]),
        (remove, "app-0", ["app-1", "app-2"]),
        (add, "app-0", ["app-1", "app-2", "app-0"]),
        (remove, "app-2", ["app-1", "app-0"]),
    ]
    for action, client_id, expected in steps:
        action(iam, provider, client_id)
        got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
        assert got["ClientIDList"] == expected, (action.__name__, client_id)
        # Nothing else about the provider changes.
        for key in ("Url", "ThumbprintList", "CreateDate"):
            assert got[key] == created[key]


@pytest.mark.parametrize("action", [add, remove])
def test_client_id_length_1_to_255(aws_client, iam, provider, action):
    action(iam, provider, "a" * 255)
    with pytest.raises(ClientError) as excinfo:
        action(iam, provider, "b" * 256)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationError", 400)
    assert message == (
        f"1 validation error detected: Value '{'b' * 256}' at 'clientID' failed to "
        "satisfy constraint: Member must have length less than or equal to 255"
    )
    # botocore rejects "" before sending; switch that off to reach the server.
    unchecked = aws_client("iam", parameter_validation=False)
    with pytest.raises(ClientError) as excinfo:
        action(unchecked, provider, "")
    assert error_of(excinfo)[:2] == ("ValidationError", 400)
    assert "Member must have length greater than or equal to 1" in error_of(excinfo)[2]

    expected = ["app-0", "a" * 255] if action is add else ["app-0"]
    assert client_ids(iam, provider) == expected


def test_101st_client_id_is_limit_exceeded(iam, provider):
    for i in range(1, 100):
        add(iam, provider, f"app-{i}")
    ids = client_ids(iam, provider)
    assert ids == [f"app-{i}" for i in range(100)]

    with pytest.raises(ClientError) as excinfo:
        add(iam, provider, "app-100")
    assert error_of(excinfo) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100",
    )
    add(iam, provider, "app-42")  # already there: idempotent, even at the limit
    assert client_ids(iam, provider) == ids

    remove(iam, provider, "app-42")
    add(iam, provider, "app-100")  # room again
    assert len(client_ids(iam, provider)) == 100


@pytest.mark.parametrize("action", [add, remove])
def test_unknown_provider_is_no_such_entity(iam, provider, action):
    unknown = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:oidc-provider/login.example.com/unknown"
    with pytest.raises(ClientError) as excinfo:
        action(iam, unknown, "app-1")
    assert error_of(excinfo) == (
        "NoSuchEntity",
        404,
        f"OpenIDConnect Provider not found for arn {unknown}",
    )


@pytest.mark.parametrize(
    "operation, root",
    [
        ("AddClientIDToOpenIDConnectProvider", "AddClientIDToOpenIDConnectProviderResponse"),
        ("RemoveClientIDFromOpenIDConnectProvider", "RemoveClientIDFromOpenIDConnectProviderResponse"),
        # moto's own empty IAM response, for comparison.
        ("UpdateOpenIDConnectProviderThumbprint", "UpdateOpenIDConnectProviderThumbprintResponse"),
    ],
)
def test_response_is_the_standard_empty_iam_xml(iam, provider, operation, root):
    bodies = []
    iam.meta.events.register(
        f"after-call.iam.{operation}",
        lambda http_response, **_: bodies.append(http_response),
    )
    if operation == "UpdateOpenIDConnectProviderThumbprint":
        resp = iam.update_open_id_connect_provider_thumbprint(
            OpenIDConnectProviderArn=provider, ThumbprintList=["a" * 40]
        )
    else:
        resp = (add if operation.startswith("Add") else remove)(iam, provider, "app-1")

    (http_response,) = bodies
    assert http_response.status_code == 200
    assert http_response.headers["Content-Type"] == "text/xml"
    doc = ET.fromstring(http_response.content)
    assert doc.tag == IAM_NS + root
    (metadata,) = list(doc)
    assert metadata.tag == IAM_NS + "ResponseMetadata"
    (request_id,) = list(metadata)
    assert request_id.tag == IAM_NS + "RequestId"
    assert request_id.text and request_id.text == resp["ResponseMetadata"]["RequestId"]


# --- accounts -------------------------------------------------------------------


def test_providers_are_per_account_after_assume_role(aws_client, iam, provider):
    """moto keys IAM by the caller's account; AssumeRole's keys belong to the role's account."""
    sts = aws_client("sts")
    assert sts.get_caller_identity()["Account"] == DEFAULT_ACCOUNT_ID
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT_ID}:role/hub",  # need not exist in moto
        RoleSessionName="test",
    )["Credentials"]
    other_creds = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    assert aws_client("sts", other_creds).get_caller_identity()["Account"] == OTHER_ACCOUNT_ID
    other_iam = aws_client("iam", other_creds)

    # The default account's provider is invisible from the other account.
    assert other_iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    for call in (
        lambda: other_iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider),
        lambda: add(other_iam, provider, "app-1"),
        lambda: remove(other_iam, provider, "app-0"),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[:2] == ("NoSuchEntity", 404)

    # The same URL in the other account is a separate provider with its own ARN.
    other_provider = other_iam.create_open_id_connect_provider(
        Url=PROVIDER_URL, ClientIDList=[], ThumbprintList=[]
    )["OpenIDConnectProviderArn"]
    assert other_provider == provider.replace(DEFAULT_ACCOUNT_ID, OTHER_ACCOUNT_ID)
    add(other_iam, other_provider, "app-other")
    assert client_ids(other_iam, other_provider) == ["app-other"]
    assert client_ids(iam, provider) == ["app-0"]
    # ...and the default account cannot reach it either.
    with pytest.raises(ClientError) as excinfo:
        add(iam, other_provider, "app-1")
    assert error_of(excinfo)[:2] == ("NoSuchEntity", 404)


# --- server.py lifecycle -----------------------------------------------------------


def _port_accepts(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=2):
            return True
    except OSError:
        return False


def test_server_exits_when_stdin_closes(spawn_server):
    server = spawn_server()
    assert server.url.startswith("http://127.0.0.1:")
    assert _port_accepts(server.url)
    assert server.stop() == 0  # closes stdin; bounded wait
    assert server.process.stdout.read() == b""  # MOTO_READY was the only stdout line
    assert not _port_accepts(server.url)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_server_exits_on_signal(spawn_server, signum):
    server = spawn_server()
    server.process.send_signal(signum)
    assert server.process.wait(timeout=10) == 0, server.stderr()
    server.process.stdin.close()
    assert not _port_accepts(server.url)


def test_ignore_stdin_keeps_serving_after_stdin_eof(spawn_server):
    server = spawn_server("--ignore-stdin", "--quiet")
    server.process.stdin.close()
    with pytest.raises(subprocess.TimeoutExpired):
        server.process.wait(timeout=0.5)  # without --ignore-stdin it exits at once
    assert _port_accepts(server.url)
    server.process.terminate()
    assert server.process.wait(timeout=10) == 0, server.stderr()
    assert server.stderr() == ""  # --quiet: no request log


def test_server_exits_when_its_parent_is_killed(tmp_path):
    """SIGKILL the process that started server.py: its stdin pipe closes, so it exits."""
    parent_code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]);"
        "from pathlib import Path; from conftest import start_server;"
        "s = start_server(Path(sys.argv[2]));"
        "print(s.process.pid, s.url, flush=True); time.sleep(600)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code, str(Path(__file__).parent), str(tmp_path)],
        stdout=subprocess.PIPE,
    )
    try:
        pid, url = _read_line(parent.stdout, time.monotonic() + 60).decode().split()
        assert _port_accepts(url)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while _port_accepts(url):
        if time.monotonic() > deadline:
            os.kill(int(pid), signal.SIGKILL)  # leave no orphan behind
            pytest.fail("server outlived its parent")
        time.sleep(0.05)
