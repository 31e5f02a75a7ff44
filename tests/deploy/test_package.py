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
