"""scripts/package and scripts/bundle, without building (the build itself is not part of the
test command): their options, and the clear stop when the arm64 target cannot be had."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from deploy_support import REPO

PACKAGE = REPO / "scripts" / "package"
BUNDLE = REPO / "scripts" / "bundle"


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=60)


def test_both_scripts_explain_themselves() -> None:
    for script in (PACKAGE, BUNDLE):
        assert os.access(script, os.X_OK), f"{script} is not executable"
        shown = run(str(script), "--help")
        assert shown.returncode == 0 and "--x86-64" in shown.stdout, shown
        wrong = run(str(script), "--arm65")
        assert wrong.returncode == 2 and "unknown option --arm65" in wrong.stderr


def test_a_missing_arm64_target_stops_the_build_and_says_what_to_do(tmp_path: Path) -> None:
    # A rustup that has no aarch64 standard library and cannot fetch one.
    rustup = tmp_path / "rustup"
    rustup.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  "target list"*) echo x86_64-unknown-linux-gnu ;;\n'
        '  "target add"*) echo "error: could not download" >&2; exit 1 ;;\n'
        "esac\n"
    )
    rustup.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = run(str(PACKAGE), env=env)
    assert result.returncode == 1, result
    assert "aarch64-unknown-linux-gnu is not installed and could not be" in result.stderr
    assert "scripts/package --x86-64" in result.stderr
    assert "Architecture=x86_64" in result.stderr


def test_the_lambda_zip_is_the_binary_alone_and_the_same_binary_gives_the_same_bytes(tmp_path: Path) -> None:
    import sys
    import zipfile

    sys.path.insert(0, str(REPO / "scripts"))
    from lambda_zip import lambda_zip

    binary = tmp_path / "bootstrap"
    binary.write_bytes(b"\x7fELF" + bytes(range(256)) * 64)
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    lambda_zip(binary, first)
    os.utime(binary, (0, 0))  # another build time changes nothing
    lambda_zip(binary, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        (entry,) = archive.infolist()
        assert entry.filename == "bootstrap"
        assert entry.date_time == (1980, 1, 1, 0, 0, 0)
        assert entry.external_attr >> 16 == 0o100755
        assert archive.read("bootstrap") == binary.read_bytes()


def test_the_packaging_tools_are_pinned_by_version_and_by_hash() -> None:
    import re

    text = (REPO / "scripts" / "package-requirements.txt").read_text(encoding="utf-8")
    requirements = re.sub(r"\\\n\s*", " ", re.sub(r"#.*", "", text)).split("\n")
    pinned = [line.split() for line in requirements if line.strip()]
    assert [words[0] for words in pinned] == ["cargo-lambda==1.9.2", "ziglang==0.17.1"]
    for words in pinned:
        hashes = [w for w in words[1:] if re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", w)]
        assert len(hashes) == len(words) - 1 >= 4, words
    assert "--require-hashes" in PACKAGE.read_text(encoding="utf-8")


def test_the_build_keeps_the_machines_paths_out_of_the_binary() -> None:
    # Verified by building two checkouts in different folders (docs/README.md): the same
    # zip. Here, only that the remapping stays in place.
    text = PACKAGE.read_text(encoding="utf-8")
    assert '--remap-path-prefix=$PWD=/build' in text
    assert '--remap-path-prefix=$cargo_home=/cargo' in text
