"""Puts the Lambda zip where each regional hub stack reads it, and prints the parameters.

Lambda takes code only from a bucket in the function's own region, so a factory with hubs
in several regions needs the zip in one bucket per region. `scripts/publish` (which runs
this with the project's Python) uploads the zip to each, under a key that names the
release, checks that every bucket is in its region, never overwrites a release's key with
other bytes (CloudFormation updates the code only when the key changes), and prints the
`CodeS3Bucket` and `CodeS3Key` of every region, as hub parameters and as the LZA package's
replacements.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

REPO = Path(__file__).resolve().parents[1]
ZIP_NAME = re.compile(r"entra-federated-role-(?P<version>[0-9][0-9A-Za-z.+-]*)-(?P<arch>arm64|x86_64)\.zip")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")


class PublishError(Exception):
    """What stops a publication, and what to do about it."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/publish",
        description=__doc__.split("\n\n")[0],
        epilog=(
            "example: scripts/publish --bucket 'acme-artifacts-{region}' "
            "--regions eu-west-1,us-east-1 dist/entra-federated-role-0.1.0-arm64.zip"
        ),
    )
    parser.add_argument("zip", type=Path, help="the zip scripts/package built (its .sha256 beside it)")
    parser.add_argument(
        "--bucket",
        required=True,
        help="the bucket of each region, '{region}' standing for the region (e.g. acme-artifacts-{region})",
    )
    parser.add_argument("--regions", required=True, help="comma-separated regions of the hub stacks")
    parser.add_argument("--prefix", default="entra-federated-role", help="key prefix (default: %(default)s)")
    parser.add_argument("--profile", help="AWS profile (default: the usual AWS SDK sources)")
    return parser.parse_args(argv)


def checked_zip(path: Path) -> tuple[bytes, str, str]:
    """The zip's bytes, its SHA-256 and its version, checked against its .sha256 file."""
    match = ZIP_NAME.fullmatch(path.name)
    if not match:
        raise PublishError(f"{path.name} is not a zip scripts/package builds (entra-federated-role-<version>-<arch>.zip)")
    if not path.is_file():
        raise PublishError(f"{path} does not exist: build it with scripts/package")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    recorded = path.with_name(path.name + ".sha256")
    if not recorded.is_file():
        raise PublishError(f"{recorded} is missing: scripts/package writes it beside the zip")
    if recorded.read_text(encoding="utf-8").split()[:1] != [digest]:
        raise PublishError(f"{path.name} does not match {recorded.name}: rebuild it with scripts/package")
    return data, digest, match.group("version")


def regions_of(text: str) -> list[str]:
    regions = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in regions if not REGION.fullmatch(r)]
    if not regions or bad:
        raise PublishError(f"--regions: give region names such as eu-west-1 (not {', '.join(bad) or 'nothing'})")
    return regions


def publish(zip_path: Path, bucket: str, regions: list[str], prefix: str, session) -> list[tuple[str, str, str]]:
    """Uploads the zip to each region's bucket; returns (region, bucket, key) per region."""
    if "{region}" not in bucket and len(regions) > 1:
        raise PublishError("--bucket must contain {region}: Lambda reads code only from a bucket in its own region")
    data, digest, version = checked_zip(zip_path)
    checksum = base64.b64encode(bytes.fromhex(digest)).decode()
    key = f"{prefix.strip('/')}/{version}/{zip_path.name}"
    # Every bucket must be the caller's own: the hub would load its code from whatever
    # bucket is printed.
    owner = session.client("sts").get_caller_identity()["Account"]
    placed = []
    for region in regions:
        name = bucket.replace("{region}", region)
        s3 = session.client("s3", region_name=region)
        try:
            location = s3.get_bucket_location(Bucket=name, ExpectedBucketOwner=owner)["LocationConstraint"]
        except ClientError as error:
            raise PublishError(
                f"bucket {name} cannot be read as account {owner}'s ({error.response['Error']['Code']}): "
                f"create it in {region}, or check the credentials"
            ) from error
        # GetBucketLocation answers null for us-east-1 and EU for old eu-west-1 buckets.
        location = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
        if location != region:
            raise PublishError(f"bucket {name} is in {location}, not {region}: Lambda reads code only from a bucket in its own region")
        try:
            existing = s3.head_object(Bucket=name, Key=key, ExpectedBucketOwner=owner, ChecksumMode="ENABLED")
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                raise PublishError(f"s3://{name}/{key} cannot be read ({error.response['Error']['Code']})") from error
            existing = None
        if existing is not None:
            if digest not in (existing.get("Metadata", {}).get("sha256"), _hex(existing.get("ChecksumSHA256"))):
                raise PublishError(
                    f"s3://{name}/{key} holds other bytes: a release's key never changes its code "
                    "(CloudFormation would not update the function, and a stack rolling back needs the old one); "
                    "raise the version in Cargo.toml and build again"
                )
            print(f"{region}: s3://{name}/{key} is already this zip", file=sys.stderr)
        else:
            try:
                s3.put_object(
                    Bucket=name,
                    Key=key,
                    Body=data,
                    Metadata={"sha256": digest},
                    ChecksumSHA256=checksum,
                    ExpectedBucketOwner=owner,
                    IfNoneMatch="*",  # a publication running at the same time keeps its bytes
                )
            except ClientError as error:
                raise PublishError(f"s3://{name}/{key} could not be written ({error.response['Error']['Code']})") from error
            print(f"{region}: uploaded s3://{name}/{key}", file=sys.stderr)
        placed.append((region, name, key))
    return placed


def _hex(checksum: str | None) -> str | None:
    """A base64 SHA-256 as S3 reports it, in hex; None when S3 has none (a multipart upload)."""
    if not checksum or "-" in checksum:
        return None
    return base64.b64decode(checksum).hex()


def report(placed: list[tuple[str, str, str]]) -> str:
    lines = ["# Hub stack parameters, per region:"]
    for region, bucket, key in placed:
        lines.append(f"{region}: CodeS3Bucket={bucket} CodeS3Key={key}")
    lines.append("")
    lines.append("# LZA replacements-config.yaml: the first region's are the fragment's; give each further")
    lines.append("# hub entry its own pair, named as below, in its CodeS3Bucket and CodeS3Key.")
    for index, (region, bucket, key) in enumerate(placed):
        suffix = "" if index == 0 else "".join(part.capitalize() for part in region.split("-"))
        lines.append(f"  - key: EntraFactoryCodeBucket{suffix}\n    type: String\n    value: {bucket}")
        lines.append(f"  - key: EntraFactoryCodeKey{suffix}\n    type: String\n    value: {key}")
    lines.append("")
    lines.append(
        "# The function's name and region are forever once a workload stack uses them: a custom\n"
        "# resource's ServiceToken cannot change."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None, session=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        regions = regions_of(args.regions)
        session = session or boto3.Session(profile_name=args.profile)
        placed = publish(args.zip, args.bucket, regions, args.prefix, session)
    except (BotoCoreError, ClientError) as error:
        print(f"scripts/publish: AWS refused or could not be reached: {error}", file=sys.stderr)
        return 1
    except PublishError as error:
        print(f"scripts/publish: {error}", file=sys.stderr)
        return 1
    print(report(placed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
