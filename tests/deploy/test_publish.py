"""scripts/publish: the zip in one bucket per region, checked against its .sha256, never
overwriting a release's key with other bytes, and the parameters printed (against moto's
S3)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from deploy_support import REPO

sys.path.insert(0, str(REPO / "scripts"))
import publish  # noqa: E402

REGIONS = ("eu-west-1", "us-east-1")


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.Session()
        for region in REGIONS:
            s3 = session.client("s3", region_name=region)
            config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=f"acme-artifacts-{region}", **config)
        yield session


def built_zip(folder: Path, content: bytes = b"PK-bootstrap") -> Path:
    path = folder / "entra-federated-role-0.1.0-arm64.zip"
    path.write_bytes(content)
    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(content).hexdigest()}  {path.name}\n")
    return path


def run(session, *args: str) -> int:
    return publish.main(list(args), session=session)


def test_the_zip_goes_to_each_regions_bucket_and_the_parameters_are_printed(aws, tmp_path, capsys) -> None:
    zip_path = built_zip(tmp_path)
    assert run(aws, "--bucket", "acme-artifacts-{region}", "--regions", ",".join(REGIONS), str(zip_path)) == 0
    key = "entra-federated-role/0.1.0/entra-federated-role-0.1.0-arm64.zip"
    for region in REGIONS:
        body = aws.client("s3", region_name=region).get_object(Bucket=f"acme-artifacts-{region}", Key=key)
        assert body["Body"].read() == b"PK-bootstrap"
    out = capsys.readouterr().out
    for region in REGIONS:
        assert f"{region}: CodeS3Bucket=acme-artifacts-{region} CodeS3Key={key}" in out
    assert "ServiceToken cannot change" in out
    # The first region's pair is the fragment's; a further region's has a name of its own.
    assert "key: EntraFactoryCodeBucket\n    type: String\n    value: acme-artifacts-eu-west-1" in out
    assert "key: EntraFactoryCodeKeyUsEast1\n" in out
    # Again: nothing to do.
    assert run(aws, "--bucket", "acme-artifacts-{region}", "--regions", ",".join(REGIONS), str(zip_path)) == 0
    assert "is already this zip" in capsys.readouterr().err


def test_a_releases_key_is_never_given_other_bytes(aws, tmp_path, capsys) -> None:
    assert run(aws, "--bucket", "acme-artifacts-{region}", "--regions", "eu-west-1", str(built_zip(tmp_path))) == 0
    rebuilt = built_zip(tmp_path, b"PK-other-bootstrap")
    assert run(aws, "--bucket", "acme-artifacts-{region}", "--regions", "eu-west-1", str(rebuilt)) == 1
    assert "holds other bytes" in capsys.readouterr().err
    key = "entra-federated-role/0.1.0/entra-federated-role-0.1.0-arm64.zip"
    body = aws.client("s3", region_name="eu-west-1").get_object(Bucket="acme-artifacts-eu-west-1", Key=key)
    assert body["Body"].read() == b"PK-bootstrap"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bucket", "acme-artifacts-eu-west-1", "--regions", "us-east-1"], "is in eu-west-1, not us-east-1"),
        (["--bucket", "acme-artifacts-eu-west-1", "--regions", "eu-west-1,us-east-1"], "must contain {region}"),
        (["--bucket", "missing-{region}", "--regions", "eu-west-1"], "cannot be read"),
        (["--bucket", "acme-artifacts-{region}", "--regions", "Ireland"], "give region names"),
    ],
)
def test_wrong_buckets_and_regions_are_refused_with_what_to_do(aws, tmp_path, capsys, args, message) -> None:
    assert run(aws, *args, str(built_zip(tmp_path))) == 1
    assert message in capsys.readouterr().err
    for region in REGIONS:
        listed = aws.client("s3", region_name=region).list_objects_v2(Bucket=f"acme-artifacts-{region}")
        assert listed.get("KeyCount", 0) == 0


def test_a_zip_that_does_not_match_its_checksum_is_refused(aws, tmp_path, capsys) -> None:
    zip_path = built_zip(tmp_path)
    zip_path.write_bytes(b"PK-tampered")
    assert run(aws, "--bucket", "acme-artifacts-{region}", "--regions", "eu-west-1", str(zip_path)) == 1
    assert "does not match" in capsys.readouterr().err


def test_an_old_eu_bucket_counts_as_ireland(aws, tmp_path) -> None:
    # GetBucketLocation answers "EU" for eu-west-1 buckets made with that old constraint.
    s3 = aws.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="legacy-eu-west-1", CreateBucketConfiguration={"LocationConstraint": "EU"})
    assert s3.get_bucket_location(Bucket="legacy-eu-west-1")["LocationConstraint"] == "EU"
    assert run(aws, "--bucket", "legacy-{region}", "--regions", "eu-west-1", str(built_zip(tmp_path))) == 0
