"""What the deployment checks share: the repository's paths, a CloudFormation YAML loader,
IAM policy helpers, LZA replacements and schema, and the facts read from the handler's
source (so templates and code cannot drift apart unnoticed)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import yaml

REPO = Path(__file__).resolve().parents[2]
CLOUDFORMATION = REPO / "cloudformation"
LZA = REPO / "lza-customizations"
DOCS = REPO / "docs"
HANDLER_SRC = REPO / "handler" / "src"

HUB = CLOUDFORMATION / "hub.yaml"
MEMBER = CLOUDFORMATION / "member-role.yaml"
SINGLE = CLOUDFORMATION / "single-account.yaml"
WORKLOAD = CLOUDFORMATION / "examples" / "workload-role.yaml"

# LZA's schema lives in the shared folder beside the repository (developer machines and CI).
LZA_SCHEMA = REPO.parent / "shared" / "lza" / "customizations-config.schema.json"
LZA_FRAGMENT = LZA / "customizations-config.yaml"
LZA_REPLACEMENTS = LZA / "replacements-config.yaml"
# Where the LZA package puts this repository's cloudformation/ in a config repository
# (scripts/bundle lays it out so; tests/deploy/test_lza.py checks the real package).
LZA_TEMPLATE_PREFIX = "cloudformation/entra-federated-role/"

NO_VALUE = {"Ref": "AWS::NoValue"}


# --- CloudFormation YAML -----------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns the short intrinsic tags (!Ref, !Sub, …) into their long form."""


def _intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


def templates() -> list[Path]:
    """Every CloudFormation template in the repository's deployment folders."""
    found = []
    for folder in (CLOUDFORMATION, LZA):
        for path in sorted(folder.rglob("*")):
            if path.suffix in {".yaml", ".yml", ".json", ".template"} and is_template(path):
                found.append(path)
    return found


def is_template(path: Path) -> bool:
    try:
        document = load_yaml(path)
    except yaml.YAMLError:
        return True  # let cfn-lint report it
    return isinstance(document, dict) and "Resources" in document


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def only(template: dict, kind: str) -> dict:
    found = list(resources(template, kind).values())
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def branches(value: Any) -> Iterator[Any]:
    """Every value an `Fn::If` (nested or not) can take, AWS::NoValue left out."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, yes, no = value["Fn::If"]
        yield from branches(yes)
        yield from branches(no)
    elif value != NO_VALUE:
        yield value


def statements(template: dict, role: str) -> list[dict]:
    """The statements of a role's inline policies, under any condition."""
    found = []
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for entry in policy["PolicyDocument"]["Statement"]:
            found.extend(branches(entry))
    return found


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def granted(statement_list: list[dict], effect: str = "Allow") -> set[str]:
    """Lower-cased actions of the statements with `effect`."""
    return {
        action.lower()
        for statement in statement_list
        if statement["Effect"] == effect
        for action in as_list(statement["Action"])
    }


def by_sid(statement_list: list[dict]) -> dict[str, dict]:
    return {statement["Sid"]: statement for statement in statement_list}


# --- cfn-lint --------------------------------------------------------------------------


def cfn_lint(*paths: Path) -> list[dict]:
    """cfn-lint's findings (errors, warnings and informational) for `paths`."""
    executable = Path(sys.executable).with_name("cfn-lint")
    assert executable.exists(), f"cfn-lint is not installed next to {sys.executable}; run scripts/test"
    result = subprocess.run(
        [str(executable), "--format", "json", "--", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr
    return json.loads(result.stdout or "[]")


# --- LZA -------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def replacements() -> dict[str, str]:
    document = yaml.safe_load(LZA_REPLACEMENTS.read_text(encoding="utf-8"))
    return {entry["key"]: str(entry["value"]) for entry in document["globalReplacements"]}


def substitute(text: str, values: dict[str, str]) -> str:
    """LZA's replacement step: every `{{ Key }}` by its value; an unknown key is an error."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"{{{{ {key} }}}} is not defined in {LZA_REPLACEMENTS.name}")
        return values[key]

    return PLACEHOLDER.sub(value, text)


def fragment(text: str | None = None) -> dict:
    """The fragment as LZA reads it: replacements substituted, then parsed."""
    raw = LZA_FRAGMENT.read_text(encoding="utf-8") if text is None else text
    return yaml.safe_load(substitute(raw, replacements()))


def lza_schema() -> dict:
    if not LZA_SCHEMA.exists():
        raise AssertionError(
            f"LZA's schema is missing: expected {LZA_SCHEMA} (the shared folder beside the "
            "repository, shared/lza/customizations-config.schema.json); check out or copy "
            "shared/ next to this repository"
        )
    return json.loads(LZA_SCHEMA.read_text(encoding="utf-8"))


def strict(schema: Any) -> Any:
    """A copy of `schema` where every object schema that lists `properties` rejects unknown
    keys (LZA drops "must NOT have additional properties" errors; we make them count)."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties", True) is True:
                node["additionalProperties"] = False
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(schema)
    return schema


def lza_entries(document: dict) -> Iterator[tuple[str, dict]]:
    customizations = document["customizations"]
    for kind in ("cloudFormationStacks", "cloudFormationStackSets"):
        for entry in customizations.get(kind, []):
            yield kind, entry


def repo_template(lza_path: str) -> Path:
    """The repository file an LZA template path stands for."""
    assert lza_path.startswith(LZA_TEMPLATE_PREFIX), (
        f"{lza_path} is not under {LZA_TEMPLATE_PREFIX}, where the LZA package puts the templates"
    )
    return CLOUDFORMATION / lza_path[len(LZA_TEMPLATE_PREFIX) :]


def check_parameter_values(template: dict, given: dict[str, str], where: str) -> list[str]:
    """Problems with passing `given` to `template`: unknown names, missing required ones,
    values the parameter's AllowedPattern or AllowedValues refuse."""
    declared = template.get("Parameters", {})
    problems = [f"{where}: parameter {name} is not in the template" for name in given if name not in declared]
    for name, spec in declared.items():
        if "Default" not in spec and name not in given:
            problems.append(f"{where}: required parameter {name} is not given")
        if name not in given:
            continue
        value = given[name]
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(v) for v in allowed]:
            problems.append(f"{where}: {name}={value!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and spec.get("Type", "String") == "String":
            if not re.fullmatch(pattern, value):
                problems.append(f"{where}: {name}={value!r} does not match {pattern}")
    return problems


# --- facts from the handler's source ------------------------------------------------------


def handler_source(*relative: str) -> str:
    return "\n".join((HANDLER_SRC / r).read_text(encoding="utf-8") for r in relative)


def environment_variables_read() -> set[str]:
    """The variables handler/src/config.rs reads (through `var`, `guid` or `endpoint`)."""
    source = handler_source("config.rs").split("#[cfg(test)]", 1)[0]
    return set(re.findall(r'\b(?:var|guid|endpoint)\(\s*"([A-Z][A-Z0-9_]+)"', source))


_CALL = re.compile(
    r"(?:\b(?P<client>iam|cloudformation|sts)|aws_sdk_(?P<sdk>\w+)::Client::new\([^)]*\))"
    r"\s*\.\s*(?P<op>[a-z][a-z0-9_]*)\(\)"
)


def sdk_calls() -> set[str]:
    """`service:Operation` (lower case) for every SDK call of handler/src/aws and signin.rs."""
    files = sorted(p for p in (HANDLER_SRC / "aws").glob("*.rs") if p.name != "mocked.rs")
    files.append(HANDLER_SRC / "signin.rs")
    calls = set()
    for path in files:
        source = path.read_text(encoding="utf-8").split("#[cfg(test)]", 1)[0]
        for match in _CALL.finditer(source):
            service = match.group("client") or match.group("sdk")
            calls.add(f"{service}:{match.group('op').replace('_', '')}")
    return calls


def property_names() -> set[str]:
    """The resource's properties and CloudFormation's own (handler/src/domain/properties.rs)."""
    source = handler_source("domain/properties.rs").split("#[cfg(test)]", 1)[0]
    names = set(re.findall(r'pub\(crate\) const [A-Z_]+: &str = "([A-Za-z]+)";', source))
    own = re.search(r"CLOUDFORMATION_PROPERTIES: \[&str; \d+\] = \[([^\]]*)\]", source)
    assert own, "CLOUDFORMATION_PROPERTIES not found in properties.rs"
    names |= set(re.findall(r'"([A-Za-z]+)"', own.group(1)))
    return names


def attribute_names() -> set[str]:
    """The `Fn::GetAtt` attributes a Create answers with (handler/src/resource.rs)."""
    source = handler_source("resource.rs").split("#[cfg(test)]", 1)[0]
    names = set(re.findall(r'\(\s*"([A-Za-z]+)"\.to_owned\(\),', source))
    assert "RoleArn" in names, "the Data map of resource.rs was not found"
    return names


def issuer_hosts() -> dict[tuple[str, str], str]:
    """(cloud as ENTRA_CLOUD spells it, "V1"/"V2") -> issuer host, from federation.rs."""
    source = handler_source("domain/federation.rs")
    body = source.split("pub fn issuer", 1)[1].split("\n    }\n", 1)[0]
    names = {"Public": "public", "UsGov": "usgov", "China": "china"}
    hosts = {}
    for version, clouds, host in re.findall(
        r'\(TokenVersion::(V1|V2), ([^)]*)\)\s*=>\s*\{?\s*format!\("https://([^/]+)/', body
    ):
        for cloud in re.findall(r"Cloud::(\w+)", clouds):
            hosts[(names[cloud], version)] = host
    return hosts


def string_literals(*folders: Path) -> str:
    """All of the handler's Rust source, for checking that a message is really logged."""
    return "\n".join(p.read_text(encoding="utf-8") for f in folders for p in f.rglob("*.rs"))
