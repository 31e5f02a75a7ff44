"""The operator docs: the CLI commands name only parameters the templates have (and give the
required ones), the templates they name exist, and relative links resolve."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from deploy_support import CLOUDFORMATION, DOCS, LZA, REPO, cfn_lint, load_yaml, templates

DOC_FILES = sorted(DOCS.glob("*.md")) + [LZA / "README.md", REPO / "README.md"]
CREATING = {("cloudformation", "deploy"), ("cloudformation", "create-stack"), ("cloudformation", "create-stack-set")}


def commands(text: str) -> list[list[str]]:
    """The `aws …` commands of the fenced shell blocks, continuation lines joined."""
    found = []
    for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("aws "):
                found.append(shlex.split(line, comments=True))
    return found


def parameter_names(argv: list[str]) -> list[str]:
    """Names in `--parameter-overrides K=V …` and `--parameters ParameterKey=K,…` forms."""
    names = []
    collecting = False
    for arg in argv:
        if arg.startswith("--"):
            collecting = arg in ("--parameter-overrides", "--parameters")
            continue
        if not collecting:
            continue
        if arg.startswith("ParameterKey="):
            names.append(arg.split(",", 1)[0].split("=", 1)[1])
        elif re.match(r"^[A-Za-z0-9]+=", arg):
            names.append(arg.split("=", 1)[0])
    return names


def option(argv: list[str], name: str) -> str | None:
    if name in argv:
        return argv[argv.index(name) + 1]
    return None


def cases() -> list[tuple[Path, list[str]]]:
    return [(path, argv) for path in DOC_FILES for argv in commands(path.read_text(encoding="utf-8"))]


def test_the_docs_have_deploy_commands() -> None:
    with_parameters = [argv for _, argv in cases() if parameter_names(argv)]
    assert len(with_parameters) >= 5, "the guides should show their deploy commands"
    for guide in ("single-account.md", "hub-and-members.md", "entra-setup.md", "workloads.md", "troubleshooting.md", "lza.md"):
        assert (DOCS / guide).is_file(), guide


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_commands_use_only_parameters_of_their_templates(path: Path) -> None:
    every = {name for t in templates() for name in load_yaml(t).get("Parameters", {})}
    known: dict[str, Path] = {}  # stack or StackSet name -> template, from earlier commands
    problems = []
    for argv in commands(path.read_text(encoding="utf-8")):
        body = option(argv, "--template-file") or option(argv, "--template-body")
        stack = option(argv, "--stack-name") or option(argv, "--stack-set-name")
        template = None
        if body:
            template = REPO / body.removeprefix("file://")
            if not template.is_file():
                problems.append(f"{' '.join(argv[:3])}: no template {body}")
                continue
            if stack:
                known[stack] = template
        elif stack in known:
            template = known[stack]
        names = parameter_names(argv)
        if not names:
            continue
        declared = load_yaml(template).get("Parameters", {}) if template else None
        allowed = set(declared) if declared is not None else every
        problems += [f"{' '.join(argv[:3])}: {n} is not a parameter of {template or 'any template'}" for n in names if n not in allowed]
        if declared is not None and tuple(argv[1:3]) in CREATING:
            required = {n for n, spec in declared.items() if "Default" not in spec}
            problems += [f"{' '.join(argv[:3])} {template.name}: required {n} is missing" for n in sorted(required - set(names))]
    assert problems == []


def test_the_parameter_tables_name_real_parameters() -> None:
    every = {name for t in templates() for name in load_yaml(t).get("Parameters", {})}
    for path in (DOCS / "single-account.md", DOCS / "hub-and-members.md"):
        text = path.read_text(encoding="utf-8")
        for row in re.findall(r"^\| (`[A-Za-z]+`(?:, `[A-Za-z]+`)*) \|", text, flags=re.M):
            for name in re.findall(r"`([A-Za-z]+)`", row):
                if name != "Parameter":
                    assert name in every, f"{path.name}: {name} is not a template parameter"


@pytest.mark.parametrize("path", DOC_FILES[:-1], ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        assert (path.parent / target).exists(), f"{path.name}: broken link {target}"


def test_every_test_the_readme_names_exists():
    """The guarantees cite their tests as `file.rs::name` (or a prefix ending in `…`): each
    must be a test function in a file of that name, so a renamed test cannot leave a claim
    citing nothing."""
    readme = (REPO / "README.md").read_text()
    cited = re.findall(r"`([\w/]+\.rs)::(\w+)(…)?`", readme)
    assert len(cited) >= 10, cited
    sources = list((REPO / "handler").rglob("*.rs"))
    for file, name, prefix in cited:
        candidates = [p for p in sources if p.as_posix().endswith("/" + file)]
        assert candidates, f"README cites {file}, which does not exist"
        functions = {
            function
            for path in candidates
            for function in re.findall(r"\bfn (\w+)\(", path.read_text())
        }
        found = any(f.startswith(name) for f in functions) if prefix else name in functions
        assert found, f"README cites {file}::{name}{prefix}, which is no function there"


def test_the_readmes_example_works_in_every_account_the_factory_serves(tmp_path: Path) -> None:
    # A member account has the ServiceToken parameter (member-role.yaml), not the hub's
    # export: the example must read the parameter, and be a template cfn-lint accepts.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    usage = readme.split("## Using the resource", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", usage, flags=re.S).group(1)
    path = tmp_path / "example.yaml"
    path.write_text(example, encoding="utf-8")
    template = load_yaml(path)
    assert "ImportValue" not in example
    member = load_yaml(CLOUDFORMATION / "member-role.yaml")
    (parameter,) = [r for r in member["Resources"].values() if r["Type"] == "AWS::SSM::Parameter"]
    assert parameter["Properties"]["Name"] == {"Ref": "ServiceTokenParameterName"}
    token = template["Parameters"]["ServiceToken"]
    assert token["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert token["Default"] == member["Parameters"]["ServiceTokenParameterName"]["Default"]
    findings = [m for m in cfn_lint(path) if m["Level"] in ("Error", "Warning")]
    assert findings == []
