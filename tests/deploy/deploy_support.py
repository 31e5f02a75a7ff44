"""What the deployment checks share: the repository's paths, a CloudFormation YAML loader,
IAM policy helpers, a renderer that resolves a template with its parameters (for
test_policies.py), LZA replacements and schema, and the facts read from the handler's
source (so templates and code cannot drift apart unnoticed)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import tempfile
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
CATALOG_LAUNCH = CLOUDFORMATION / "catalog-launch-role.yaml"
WORKLOAD = CLOUDFORMATION / "examples" / "workload-role.yaml"

# LZA's own schema (v1.15.5), kept in the repository so the tests run from a plain clone.
LZA_SCHEMA = REPO / "tests" / "deploy" / "lza" / "customizations-config.schema.json"
LZA_FRAGMENT = LZA / "customizations-config.yaml"
LZA_REPLACEMENTS = LZA / "replacements-config.yaml"
# The alternative entry: the auto-deploying member StackSet.
LZA_AUTO_DEPLOY = LZA / "customizations-config.auto-deploy.yaml"
LZA_ROLE_EVENTS = LZA / "customizations-config.role-events.yaml"
# Every fragment of customizations-config.yaml the package ships.
LZA_FRAGMENTS = (LZA / "customizations-config.yaml", LZA_AUTO_DEPLOY, LZA_ROLE_EVENTS)
MEMBER_STACKSET = CLOUDFORMATION / "member-stackset.yaml"
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

# LZA's validator (config/validator/replacements-config-validator.ts,
# getReplacementKeysInFile): every `{{ … }}` on a line that is not a comment must name a
# replacement, the `account` lookup or a dynamic reference.
LZA_TOKEN = re.compile(r"{{([\w\s\d]*)}}")
LZA_HANDLEBARS = REPO / "tests" / "deploy" / "lza" / "handlebars"
# The sample organisation the fragment is rendered for: accounts-config.yaml's names, and
# the ids Organizations gives them.
LZA_ACCOUNT_IDS = {"SharedServices": "111111111111", "Sandbox": "222222222222"}


def replacements() -> dict[str, str]:
    document = yaml.safe_load(LZA_REPLACEMENTS.read_text(encoding="utf-8"))
    return {entry["key"]: str(entry["value"]) for entry in document["globalReplacements"]}


def lza_tokens(text: str) -> list[str]:
    """The replacement tokens LZA's validator finds in `text`, comment lines skipped."""
    lines = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [token.strip() for token in LZA_TOKEN.findall("\n".join(lines))]


def render(text: str, values: dict[str, str], account_ids: dict[str, str] = LZA_ACCOUNT_IDS) -> str:
    """LZA's replacement step, by the Handlebars release LZA uses (lza/handlebars/render.js):
    the whole file, comments included, with `values` and each account name standing for
    itself, as LZA's ReplacementsConfig does. Fails with Handlebars' own message."""
    if not (LZA_HANDLEBARS / "node_modules" / "handlebars").is_dir():
        raise AssertionError(
            f"Handlebars is not installed in {LZA_HANDLEBARS}: scripts/node-env installs it "
            "(scripts/test runs it)"
        )
    placeholders = {**values, **{name: name for name in account_ids}}
    with tempfile.TemporaryDirectory() as scratch:
        paths = [Path(scratch) / name for name in ("config.yaml", "values.json", "ids.json")]
        for path, content in zip(paths, (text, json.dumps(placeholders), json.dumps(account_ids))):
            path.write_text(content, encoding="utf-8")
        done = subprocess.run(
            ["node", str(LZA_HANDLEBARS / "render.js"), *map(str, paths)],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise AssertionError(f"LZA could not load the file: {done.stderr.strip()}")
    return done.stdout


def fragment(text: str | None = None, values: dict[str, str] | None = None) -> dict:
    """The fragment as LZA reads it: rendered with the replacements, then parsed."""
    raw = LZA_FRAGMENT.read_text(encoding="utf-8") if text is None else text
    return yaml.safe_load(render(raw, replacements() if values is None else values))


def lza_schema() -> dict:
    if not LZA_SCHEMA.exists():
        raise AssertionError(
            f"LZA's schema is missing: expected {LZA_SCHEMA} (tests/deploy/lza/README.md "
            "says where it comes from)"
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
    """The variables handler/src/config.rs reads (through `var`, `guid`, `endpoint` or `flag`)."""
    source = handler_source("config.rs").split("#[cfg(test)]", 1)[0]
    return set(re.findall(r'\b(?:var|guid|endpoint|flag)\(\s*"([A-Z][A-Z0-9_]+)"', source))


_CALL = re.compile(
    r"(?:\b(?P<client>iam|cloudformation|sts|secretsmanager|ssm)|aws_sdk_(?P<sdk>\w+)::Client::new\([^)]*\))"
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
            # A client's own settings, not an API operation.
            if match.group("op") != "config":
                calls.add(f"{service}:{match.group('op').replace('_', '')}")
    return calls


def property_names() -> set[str]:
    """The resource's properties and CloudFormation's own (handler/src/domain/properties/mod.rs)."""
    source = handler_source("domain/properties/mod.rs")
    names = set(re.findall(r'pub\(crate\) const [A-Z_]+: &str = "([A-Za-z]+)";', source))
    own = re.search(r"CLOUDFORMATION_PROPERTIES: \[&str; \d+\] = \[([^\]]*)\]", source)
    assert own, "CLOUDFORMATION_PROPERTIES not found in properties/mod.rs"
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


# --- rendering a template as CloudFormation would ------------------------------------------

# The pseudo parameters a rendered template sees (an account and stack of our own making).
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "AWS::Region": "eu-west-1",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "entra-federated-role",
    "AWS::StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/entra-federated-role/"
    "0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1",
}

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _Dropped:
    """What `AWS::NoValue` (or a resource whose Condition is false) leaves behind."""


DROPPED = _Dropped()


def parameter_values(template: dict, given: dict[str, str] | None = None) -> dict[str, Any]:
    """Every parameter's value: `given`, else its Default (CommaDelimitedList split)."""
    given = given or {}
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise KeyError(f"parameter {name} has no default: give a value")
        if spec.get("Type") == "CommaDelimitedList":
            value = [v.strip() for v in value.split(",")] if value else []
        values[name] = value
    unknown = set(given) - set(values)
    assert not unknown, f"not parameters of the template: {unknown}"
    return values


class Rendered:
    """A template with its parameters, pseudo parameters and conditions resolved: what
    CloudFormation would hand to the services. `resolve` evaluates the intrinsic functions
    these templates use (Ref, Fn::Sub, Fn::If, Fn::FindInMap, Fn::GetAtt, Fn::Join,
    Fn::Select, Fn::Split; Fn::Equals/And/Or/Not/Condition in Conditions)."""

    def __init__(self, template: dict, given: dict[str, str] | None = None, **pseudo: str) -> None:
        self.template = template
        self.values = parameter_values(template, given)
        self.pseudo = {**PSEUDO, **{f"AWS::{k}": v for k, v in pseudo.items()}}
        self.conditions: dict[str, bool] = {}
        for name in template.get("Conditions", {}):
            self.condition(name)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self._logic(self.template["Conditions"][name]))
        return self.conditions[name]

    def _logic(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (key, arg), = node.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._logic(arg[0])
            if key == "Fn::And":
                return all(self._logic(a) for a in arg)
            if key == "Fn::Or":
                return any(self._logic(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
        return self.resolve(node)

    def resource(self, logical_id: str) -> dict | None:
        """The resource's resolved Properties; None when its Condition is false."""
        resource = self.template["Resources"][logical_id]
        if "Condition" in resource and not self.condition(resource["Condition"]):
            return None
        return self.resolve(resource.get("Properties", {}))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not DROPPED]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::FindInMap":
                mapping, first, second = (self.resolve(a) for a in arg)
                return self.template["Mappings"][mapping][first][second]
            if key == "Fn::GetAtt":
                logical_id, attribute = arg
                return self._getatt(logical_id, attribute)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"{key} is not rendered; add it to Rendered.resolve")
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not DROPPED}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return DROPPED
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.values:
            return self.values[name]
        if name in self.template["Resources"]:
            return self.physical_id(name)
        raise KeyError(f"Ref {name}: no such parameter or resource")

    def physical_id(self, logical_id: str) -> str:
        """What Ref gives for a resource: its ARN for managed policies (as CloudFormation
        does), else a name made from the stack and logical id."""
        resource = self.template["Resources"][logical_id]
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            name = self.resolve(properties["ManagedPolicyName"])
            path = self.resolve(properties.get("Path", "/"))
            return f"arn:{self.pseudo['AWS::Partition']}:iam::{self.pseudo['AWS::AccountId']}:policy{path}{name}"
        return f"{self.pseudo['AWS::StackName']}-{logical_id}"

    def _getatt(self, logical_id: str, attribute: str) -> str:
        resource = self.template["Resources"][logical_id]
        partition, region, account = (
            self.pseudo["AWS::Partition"], self.pseudo["AWS::Region"], self.pseudo["AWS::AccountId"],
        )
        if (resource["Type"], attribute) == ("AWS::Logs::LogGroup", "Arn"):
            return f"arn:{partition}:logs:{region}:{account}:log-group:{self.physical_id(logical_id)}:*"
        if (resource["Type"], attribute) == ("AWS::IAM::Role", "Arn"):
            name = self.resolve(resource["Properties"].get("RoleName", self.physical_id(logical_id)))
            return f"arn:{partition}:iam::{account}:role/{name}"
        if (resource["Type"], attribute) == ("AWS::Lambda::Function", "Arn"):
            name = self.resolve(resource["Properties"].get("FunctionName", self.physical_id(logical_id)))
            return f"arn:{partition}:lambda:{region}:{account}:function:{name}"
        return f"{self.physical_id(logical_id)}.{attribute}"

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg
            variables = {k: self.resolve(v) for k, v in variables.items()}
        else:
            text, variables = arg, {}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} stays ${Literal}
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self._getatt(logical_id, attribute)
            resolved = self._ref(name)
            return ",".join(resolved) if isinstance(resolved, list) else str(resolved)

        return _SUB_VARIABLE.sub(value, text)

    def policy_statements(self, logical_id: str) -> list[dict]:
        """The statements of a role's inline policies or of a managed policy, resolved."""
        properties = self.resource(logical_id)
        assert properties is not None, f"{logical_id} is not created with these parameters"
        if "PolicyDocument" in properties:
            documents = [properties["PolicyDocument"]]
        else:
            documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        found = []
        for document in documents:
            body = document["Statement"]
            found.extend(body if isinstance(body, list) else [body])
        return found
