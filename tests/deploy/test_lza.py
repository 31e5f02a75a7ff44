"""The LZA package: the fragment validated strictly against LZA's own schema (unknown keys
are errors, where LZA drops them), its replacements, its templates and their parameters,
and the package as scripts/bundle lays it out."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

import deploy_support
from deploy_support import (
    HUB,
    LZA_ACCOUNT_IDS,
    LZA_AUTO_DEPLOY,
    LZA_FRAGMENT,
    LZA_FRAGMENTS,
    LZA_ROLE_EVENTS,
    LZA_REPLACEMENTS,
    LZA_TEMPLATE_PREFIX,
    MEMBER,
    MEMBER_STACKSET,
    REPO,
    cfn_lint,
    check_parameter_values,
    fragment,
    load_yaml,
    lza_entries,
    lza_schema,
    lza_tokens,
    render,
    replacements,
    repo_template,
    resources,
    strict,
)


def member_stackset(document: dict) -> dict:
    (stackset,) = [s for s in document["customizations"]["cloudFormationStackSets"] if s["name"] == "EntraFederatedRoleMember"]
    return stackset


def strict_errors(document: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(strict(lza_schema()))
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


def test_lzas_schema_is_found_in_the_repository() -> None:
    schema = lza_schema()
    assert schema["$ref"] == "#/definitions/ICustomizationsConfig"
    jsonschema.Draft7Validator.check_schema(schema)


def test_a_missing_schema_fails_with_a_clear_message(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(deploy_support, "LZA_SCHEMA", tmp_path / "lza" / "missing.json")
    with pytest.raises(AssertionError, match="LZA's schema is missing: expected .*missing.json"):
        deploy_support.lza_schema()


def test_strict_turns_every_listed_object_into_a_closed_one() -> None:
    def open_objects(node, path=""):
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                yield path
            for key, child in node.items():
                yield from open_objects(child, f"{path}/{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                yield from open_objects(child, f"{path}[{i}]")

    assert list(open_objects(strict(lza_schema()))) == []
    # The walk only closes objects; it never loosens or drops anything.
    assert strict({"type": "object", "properties": {"a": {}}}) == {
        "type": "object",
        "properties": {"a": {}},
        "additionalProperties": False,
    }
    kept = {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}
    assert strict(kept) == kept


def test_the_fragment_is_valid_against_lzas_schema_strictly() -> None:
    assert strict_errors(fragment()) == []


@pytest.mark.parametrize(
    ("good", "bad", "misspelt"),
    [
        pytest.param(
            "        organizationalUnits:\n",
            "        organisationalUnits:\n",
            "organisationalUnits",
            id="organisationalUnits",
        ),
        pytest.param(
            "      parameters:\n        - name: HubAccountId",
            "      paramters:\n        - name: HubAccountId",
            "paramters",
            id="paramters",
        ),
        pytest.param(
            "      terminationProtection: true\n",
            "      terminationProtection: true\n      terminationProtect: true\n",
            "terminationProtect",
            id="terminationProtect",
        ),
    ],
)
def test_a_misspelt_key_is_caught(good: str, bad: str, misspelt: str) -> None:
    text = LZA_FRAGMENT.read_text(encoding="utf-8")
    assert good in text
    document = fragment(text.replace(good, bad, 1))
    errors = strict_errors(document)
    assert any(
        f"'{misspelt}' was unexpected" in e and "Additional properties are not allowed" in e
        for e in errors
    ), errors
    # What LZA itself does: drop the additional-property errors, and so accept the typo
    # (the StackSet would deploy nowhere, or without parameters).
    lax = [
        e
        for e in jsonschema.Draft7Validator(lza_schema()).iter_errors(document)
        if e.validator != "additionalProperties"
    ]
    assert lax == []


def test_every_replacement_is_defined_and_used() -> None:
    # LZA's validator: a token names a replacement, or is the account lookup.
    tokens = lza_tokens("".join(path.read_text(encoding="utf-8") for path in LZA_FRAGMENTS))
    lookups = {t.split()[1] for t in tokens if t.startswith("account ")}
    used = {t for t in tokens if not t.startswith("account ")} | lookups
    defined = replacements()
    assert used - set(defined) == set(), f"used but not defined in {LZA_REPLACEMENTS.name}"
    assert set(defined) - used == set(), "defined but never used in any fragment"
    assert all(len(t.split()) == 2 for t in tokens if t.startswith("account ")), tokens
    document = yaml.safe_load(LZA_REPLACEMENTS.read_text(encoding="utf-8"))
    for entry in document["globalReplacements"]:
        assert set(entry) == {"key", "type", "value"} and entry["type"] == "String", entry
        assert isinstance(entry["value"], str), f"quote {entry['key']}'s value: LZA reads strings"


def test_lza_renders_the_fragment_and_its_values_arrive_as_written() -> None:
    # Characters Handlebars would HTML-escape between double braces, in every value (but
    # a double quote, which would end the YAML string the value is written in).
    values = {key: f"{value}&'=<>`" for key, value in replacements().items()}
    values["EntraFactoryAccountName"] = "SharedServices"
    # (The role-events fragment has no value that is a replacement alone; its one
    # parameter is checked as rendered by its own test.)
    for path in (LZA_FRAGMENT, LZA_AUTO_DEPLOY):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        document = fragment(path.read_text(encoding="utf-8"), values=values)
        checked = 0
        for (_, written), (_, rendered) in zip(lza_entries(raw), lza_entries(document)):
            for wanted, got in zip(written.get("parameters", []), rendered.get("parameters", [])):
                token = re.fullmatch(r"\{\{\{?\s*(\w+)\s*\}?\}\}", wanted["value"])
                if token:
                    assert got["value"] == values[token.group(1)], (path.name, wanted["name"])
                    checked += 1
        assert checked >= 5, path.name


def test_lza_looks_the_factory_account_up_by_name() -> None:
    stackset = member_stackset(fragment())
    given = {p["name"]: p["value"] for p in stackset["parameters"]}
    factory = LZA_ACCOUNT_IDS[replacements()["EntraFactoryAccountName"]]
    assert given["HubAccountId"] == factory
    assert given["HubExecutionRoleArns"] == (
        f"arn:{replacements()['EntraPartition']}:iam::{factory}:role/entra-federated-role-"
        f"{replacements()['EntraFactoryRegion']}"
    )


@pytest.mark.parametrize(
    "broken, error",
    [
        ("# Values in {{ }} differ per installation.\n", "Parse error"),
        ("# {{ EntraTenantId }\n", "Parse error"),
    ],
)
def test_a_comment_lza_cannot_render_is_caught(broken: str, error: str) -> None:
    text = broken + LZA_FRAGMENT.read_text(encoding="utf-8")
    with pytest.raises(AssertionError, match=f"LZA could not load the file: {error}"):
        render(text, replacements())


def test_no_arn_names_a_partition() -> None:
    text = LZA_FRAGMENT.read_text(encoding="utf-8")
    assert re.findall(r"arn:aws[-a-z]*:", text) == [], "use the EntraPartition replacement"


def test_the_fragment_has_the_hub_the_member_stackset_the_launch_role_and_an_example() -> None:
    entries = sorted((kind, entry["name"], entry["template"]) for kind, entry in lza_entries(fragment()))
    assert entries == [
        ("cloudFormationStackSets", "EntraFederatedRoleCatalogLaunch", f"{LZA_TEMPLATE_PREFIX}catalog-launch-role.yaml"),
        ("cloudFormationStackSets", "EntraFederatedRoleMember", f"{LZA_TEMPLATE_PREFIX}member-role.yaml"),
        ("cloudFormationStacks", "EntraFederatedRoleCatalogLaunch", f"{LZA_TEMPLATE_PREFIX}catalog-launch-role.yaml"),
        ("cloudFormationStacks", "EntraFederatedRoleExample", f"{LZA_TEMPLATE_PREFIX}examples/workload-role.yaml"),
        ("cloudFormationStacks", "EntraFederatedRoleHub", f"{LZA_TEMPLATE_PREFIX}hub.yaml"),
    ]


@pytest.mark.parametrize("kind_entry", list(lza_entries(fragment())), ids=lambda ke: ke[1]["name"])
def test_each_template_exists_parses_and_takes_the_parameters_given(kind_entry) -> None:
    kind, entry = kind_entry
    path = repo_template(entry["template"])
    assert path.is_file(), f"{entry['template']} -> {path} does not exist"
    template = load_yaml(path)
    assert isinstance(template, dict) and template.get("Resources"), f"{path} is not a template"
    given = {p["name"]: p["value"] for p in entry.get("parameters", [])}
    assert len(given) == len(entry.get("parameters", [])), "a parameter is given twice"
    assert check_parameter_values(template, given, entry["name"]) == []


def test_the_stackset_may_create_named_roles_and_agrees_with_the_hub() -> None:
    document = fragment()
    stacks = {e["name"]: e for e in document["customizations"]["cloudFormationStacks"]}
    stackset = member_stackset(document)
    named = any(
        "RoleName" in r["Properties"] for r in resources(load_yaml(MEMBER), "AWS::IAM::Role").values()
    )
    assert named and "CAPABILITY_NAMED_IAM" in stackset["capabilities"]
    # The member role is created in one region; the StackSet must include it.
    given = {p["name"]: p["value"] for p in stackset["parameters"]}
    assert given["MemberRoleRegion"] in stackset["regions"]
    hub = {p["name"]: p["value"] for p in stacks["EntraFederatedRoleHub"]["parameters"]}
    for name in (
        "EntraTenantId",
        "EntraCloud",
        "RolePathPrefix",
        "MemberRoleName",
        "RequirePermissionsBoundary",
        "PermissionsBoundaryPolicyName",
    ):
        assert given[name] == hub[name], f"{name} differs between the hub and the member StackSet"
    assert given["HubExecutionRoleArns"].endswith(f":role/entra-federated-role-{stackset['regions'][0]}")


def test_the_package_keeps_the_secure_defaults() -> None:
    # DESIGN §6: the boundary shipped with the member StackSet and required, the dedicated
    # path, the AWS administrator policies denied (in every partition).
    document = fragment()
    stacks = {e["name"]: {p["name"]: p["value"] for p in e["parameters"]} for e in document["customizations"]["cloudFormationStacks"]}
    stackset = member_stackset(document)
    member = {p["name"]: p["value"] for p in stackset["parameters"]}
    hub, example = stacks["EntraFederatedRoleHub"], stacks["EntraFederatedRoleExample"]
    assert hub["RequirePermissionsBoundary"] == member["RequirePermissionsBoundary"] == "true"
    assert member["CreatePermissionsBoundaryPolicy"] == "true"
    assert hub["PermissionsBoundaryPolicyName"] == member["PermissionsBoundaryPolicyName"] == example["PermissionsBoundaryPolicyName"]
    assert hub["RolePathPrefix"] == member["RolePathPrefix"] == example["RolePath"] == "/entra-federated/"
    assert hub["DeniedManagedPolicyArns"].split(",") == [
        "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess",
        "arn:${AWS::Partition}:iam::aws:policy/IAMFullAccess",
    ]
    assert hub["TrustedClientsFromOwnTenantOnly"] == "true"
    # The example's repository is one the allowed federated credentials admit.
    issuer, subjects = hub["AllowedFederatedCredentials"].split("=", 1)
    assert issuer == "https://token.actions.githubusercontent.com"
    repository = replacements()["EntraExampleGitHubRepository"]
    assert re.fullmatch(subjects.replace("*", ".*"), f"repo:{repository}:ref:refs/heads/main")


def test_the_bundles_lza_package_is_complete_and_lints_clean(tmp_path: Path) -> None:
    package = tmp_path / "lza"
    subprocess.run([str(REPO / "scripts" / "bundle"), "--lza-only", str(package)], check=True)
    text = (package / "customizations-config.yaml").read_text(encoding="utf-8")
    assert text == LZA_FRAGMENT.read_text(encoding="utf-8")
    for name in ["replacements-config.yaml", "organization-config.yaml", "README.md"]:
        assert (package / name).read_bytes() == (REPO / "lza-customizations" / name).read_bytes(), name
    policy = yaml.safe_load((package / "organization-config.yaml").read_text(encoding="utf-8"))
    for entry in policy["serviceControlPolicies"]:
        assert (package / entry["policy"]).is_file(), f"the package lacks {entry['policy']}"
    document = fragment(text)
    others = [fragment((package / path.name).read_text(encoding="utf-8")) for path in LZA_FRAGMENTS[1:]]
    named = {entry["template"] for d in (document, *others) for _, entry in lza_entries(d)} | {
        version["template"]
        for portfolio in document["customizations"]["serviceCatalogPortfolios"]
        for product in portfolio["products"]
        for version in product["versions"]
    }
    for relative in named:
        assert (package / relative).is_file(), f"the package lacks {relative}"
        assert (package / relative).read_bytes() == repo_template(relative).read_bytes()
    templates = sorted(p for p in package.rglob("*.yaml") if "Resources" in (load_yaml(p) or {}))
    assert sorted(package / n for n in named) == templates, "the package carries other templates"
    findings = [m for m in cfn_lint(*templates) if m["Level"] in ("Error", "Warning")]
    assert findings == []


def test_the_portfolio_launches_the_examples_template_with_the_stacksets_launch_role() -> None:
    document = fragment()
    (portfolio,) = document["customizations"]["serviceCatalogPortfolios"]
    stackset = member_stackset(document)
    member = {p["name"]: p["value"] for p in stackset["parameters"]}
    launch_roles = [
        entry for _, entry in lza_entries(document) if entry["template"].endswith("catalog-launch-role.yaml")
    ]
    # LZA shares a portfolio with OUs only from the management account.
    assert portfolio["account"] == replacements()["EntraManagementAccountName"]
    assert portfolio["shareTargets"]["organizationalUnits"] == stackset["deploymentTargets"]["organizationalUnits"]
    assert portfolio["regions"] == [member["MemberRoleRegion"]]
    (association,) = portfolio["portfolioAssociations"]
    assert association["propagateAssociation"] is True
    (product,) = portfolio["products"]
    # A LocalRole must exist in the portfolio's account and in every account it is shared with.
    role = product["constraints"]["launch"]
    assert role["type"] == "LocalRole"
    for entry in launch_roles:
        assert {p["name"]: p["value"] for p in entry["parameters"]}["LaunchRoleName"] == role["role"]
        assert entry["regions"] == [member["MemberRoleRegion"]], "one region: IAM is global"
    (stack,) = [e for e in launch_roles if "accounts" in e["deploymentTargets"]]
    assert stack["deploymentTargets"]["accounts"] == [portfolio["account"]]
    (instances,) = [e for e in launch_roles if "organizationalUnits" in e["deploymentTargets"]]
    assert instances["deploymentTargets"] == stackset["deploymentTargets"]
    for version in product["versions"]:
        template = load_yaml(repo_template(version["template"]))
        # A user launches it with the defaults it shows: each must be one the factory takes.
        assert check_parameter_values(template, {"GitHubRepository": "contoso/app"}, product["name"]) == []
        assert template["Parameters"]["ServiceToken"]["Default"] == load_yaml(MEMBER)["Parameters"]["ServiceTokenParameterName"]["Default"]


def test_the_auto_deploying_alternative_renders_validates_and_matches_the_stackset_entry() -> None:
    document = fragment(LZA_AUTO_DEPLOY.read_text(encoding="utf-8"))
    assert strict_errors(document) == []
    ((kind, entry),) = list(lza_entries(document))
    assert kind == "cloudFormationStacks"
    assert entry["deploymentTargets"] == {"accounts": [replacements()["EntraManagementAccountName"]]}
    given = {p["name"]: p["value"] for p in entry["parameters"]}
    template = load_yaml(repo_template(entry["template"]))
    assert check_parameter_values(template, given, entry["name"]) == []
    # The same member role, configured the same: only the targets are said otherwise.
    member = {p["name"]: p["value"] for p in member_stackset(fragment())["parameters"]}
    targets = ("OrganizationalUnitIds", "ExcludedAccountIds", "Regions")
    assert {k: v for k, v in given.items() if k not in targets} == member
    assert given["ExcludedAccountIds"] == LZA_ACCOUNT_IDS[replacements()["EntraFactoryAccountName"]]
    assert given["Regions"].split(",") == member_stackset(fragment())["regions"]
    stackset = template["Resources"]["MemberStackSet"]["Properties"]
    assert stackset["PermissionModel"] == "SERVICE_MANAGED"
    assert stackset["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert stackset["TemplateBody"] == MEMBER.read_text(encoding="utf-8")


def test_the_auto_deploying_template_is_generated_from_the_member_template() -> None:
    import sys

    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "member_stackset.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    outer = load_yaml(MEMBER_STACKSET)["Parameters"]
    for name, spec in load_yaml(MEMBER)["Parameters"].items():
        assert outer[name]["Type"] == "String"
        assert outer[name].get("AllowedPattern") == spec.get("AllowedPattern"), name
        assert outer[name].get("AllowedValues") == spec.get("AllowedValues"), name
        assert outer[name].get("Default") == spec.get("Default"), name


def test_the_role_events_forwarder_renders_validates_and_names_the_hubs_bus() -> None:
    document = fragment(LZA_ROLE_EVENTS.read_text(encoding="utf-8"))
    assert strict_errors(document) == []
    ((kind, entry),) = list(lza_entries(document))
    assert kind == "cloudFormationStackSets"
    given = {p["name"]: p["value"] for p in entry["parameters"]}
    template = load_yaml(repo_template(entry["template"]))
    assert check_parameter_values(template, given, entry["name"]) == []
    values = replacements()
    assert entry["regions"] == [values["EntraIamEventsRegion"]] == ["us-east-1"]
    # The same accounts as the member role, and the bus the hub makes when RoleEvents is on.
    member = member_stackset(fragment())
    assert entry["deploymentTargets"] == member["deploymentTargets"]
    factory = LZA_ACCOUNT_IDS[values["EntraFactoryAccountName"]]
    assert given["HubRoleEventsBusArn"] == (
        f"arn:aws:events:{values['EntraFactoryRegion']}:{factory}:event-bus/{values['EntraFactoryFunctionName']}-role-events"
    )
    hub = load_yaml(HUB)
    assert hub["Resources"]["RoleEventsBus"]["Properties"]["Name"] == {"Fn::Sub": "${FunctionName}-role-events"}
    (hub_entry,) = [e for _, e in lza_entries(fragment()) if e["name"] == "EntraFederatedRoleHub"]
    hub_given = {p["name"]: p["value"] for p in hub_entry["parameters"]}
    assert hub_given["RoleEvents"] == values["EntraRoleEvents"] == "disabled", "off unless chosen"
