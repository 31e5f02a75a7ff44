"""Fixtures: moto's server (tests/moto/server.py) as a subprocess, and boto3 clients for it."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.config import Config

SERVER = Path(__file__).with_name("server.py")
READY_TIMEOUT_S = 60.0  # moto imports lazily; the READY line comes in well under 1 s
EXIT_TIMEOUT_S = 10.0
REGION = "us-east-1"
# moto maps an access key it did not issue to its default account.
DEFAULT_ACCOUNT_ID = "123456789012"


@dataclass
class MotoServer:
    process: subprocess.Popen[bytes]
    url: str
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        """Close stdin (the server's shutdown signal) and wait, bounded, for exit."""
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def _read_line(stream: IO[bytes], deadline: float) -> bytes:
    """Read one line from a pipe, failing at `deadline` instead of blocking forever."""
    fd = stream.fileno()
    line = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                raise TimeoutError(f"no complete line from server (got {line!r})")
            chunk = os.read(fd, 1)  # byte by byte: never read past the line
            if not chunk:
                break  # EOF
            line += chunk
    return line


def start_server(log_dir: Path, *extra_args: str) -> MotoServer:
    """Start server.py on a free port and wait for its MOTO_READY line."""
    # MOTO_ACCOUNT_ID would pin every request to one account (no multi-account);
    # server.py sets MOTO_PORT itself.
    env = {k: v for k, v in os.environ.items() if k not in ("MOTO_ACCOUNT_ID", "MOTO_PORT")}
    stderr_path = log_dir / f"moto-server-{time.monotonic_ns()}.log"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(SERVER), "--host", "127.0.0.1", "--port", "0", *extra_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    server = MotoServer(process, "", stderr_path)
    try:
        line = _read_line(process.stdout, time.monotonic() + READY_TIMEOUT_S)
    except BaseException:
        process.kill()
        process.wait()
        raise
    prefix = b"MOTO_READY "
    if not line.startswith(prefix) or not line.endswith(b"\n"):
        process.kill()
        process.wait()
        raise RuntimeError(f"unexpected first line {line!r}; stderr:\n{server.stderr()}")
    server.url = line[len(prefix) :].decode().strip()
    return server


@pytest.fixture
def spawn_server(tmp_path: Path):
    """spawn_server(*args) -> a started MotoServer; any still running at teardown is killed."""
    started: list[MotoServer] = []

    def spawn(*extra_args: str) -> MotoServer:
        started.append(start_server(tmp_path, *extra_args))
        return started[-1]

    yield spawn
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(tmp_path_factory.mktemp("moto"))
    yield server
    assert server.stop() == 0, server.stderr()


@pytest.fixture
def reset_moto(moto_server: MotoServer) -> None:
    """Forget every resource (in every account) moto holds: POST /moto-api/reset."""
    req = urllib.request.Request(f"{moto_server.url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


@pytest.fixture
def aws_client(moto_server: MotoServer, reset_moto: None) -> Callable[..., object]:
    """aws_client("iam") -> a boto3 client for the fresh (reset) moto server.

    Dummy credentials (moto puts keys it did not issue in its default account),
    us-east-1, one attempt only: moto answers unimplemented actions with HTTP 500,
    which botocore would otherwise retry.
    """

    def make(service: str, credentials: dict | None = None, **config: object):
        creds = credentials or {
            "aws_access_key_id": "AKIATESTTESTTESTTEST",
            "aws_secret_access_key": "testing",
        }
        return boto3.client(
            service,
            endpoint_url=moto_server.url,
            region_name=REGION,
            config=Config(retries={"total_max_attempts": 1}, **config),
            **creds,
        )

    return make


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    """The AWS error a boto3 call raised: code, HTTP status and message."""
    resp = excinfo.value.response
    return (
        resp["Error"]["Code"],
        resp["ResponseMetadata"]["HTTPStatusCode"],
        resp["Error"]["Message"],
    )
