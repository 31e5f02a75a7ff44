"""The CloudFormation templates: cfn-lint clean, and in step with the handler they deploy —
the environment it reads, the AWS calls it makes, the properties and attributes it knows,
the issuers it trusts, the messages it logs."""

from __future__ import annotations

import re

import pytest

from deploy_support import (
    HUB,
    MEMBER,
    NO_VALUE,
    REPO,
    SINGLE,
    WORKLOAD,
    as_list,
    attribute_names,
    branches,
    by_sid,
    cfn_lint,
    environment_variables_read,
    granted,
    handler_source,
    issuer_hosts,
    load_yaml,
    only,
    property_names,
    resources,
    sdk_calls,
    statements,
    string_literals,
    templates,
)

# Calls the code makes that IAM authorises with more than the call's own action: creating a
# provider with its ownership tag (tag-on-create) is also checked against the tag action.
ALSO_NEEDED = {"iam:tagopenidconnectprovider"}
# Calls the factory makes in its own account only, outside the account statements: the
# doctor's read of the outbound identity federation setting (a secretless factory's).
OWN_ACCOUNT_ONLY = {"iam:getoutboundwebidentityfederationinfo"}
# The account-level permissions (OIDC providers, roles, caller stack), by Sid: the member
# role has them in member accounts, the single-account function and (ServeFactoryAccount)
# the hub function in their own account.
ACCOUNT_SIDS = {
    "OidcProviders",
    "DeleteOwnProviders",
    "TagProvidersOnlyAsOurs",
    "ReadRoles",
    "FindRolesTrustingAProvider",
    "CreateRoles",
    "TagNewRoles",
    "ManageRoles",
    "ChangeBoundedRoles",
    "SetBoundary",
    "RemoveBoundary",
    "KeepRequiredBoundary",
    "KeepOwnershipMarkers",
    "NeverTouchTheFactory",
    "VerifyCallerStack",
    "ReadServiceTokenParameter",
}
# Roles made outside CloudFormation that ask to be federated (DESIGN §9): in member
# accounts only, where the role events come from.
ADOPTION_SIDS = {"FederateRolesThatAsk", "TellRolesThatAskWhereTheyStand", "ReleaseRolesThatStoppedAsking"}
# The one account statement whose resources differ: the factory's own role is the member
# role in member accounts, the function's role where the function itself works.
FACTORY_ROLE = {
    MEMBER: {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${MemberRoleName}"},
    SINGLE: {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${FunctionName}-*"},
    HUB: {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${FunctionName}-*"},
}
BOUNDARY_ARN = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${PermissionsBoundaryPolicyName}"}
OWNERSHIP = {"StringEquals": {"aws:ResourceTag/entra-federated-role:managed-by": "entra-federated-role"}}
FACTORIES = [HUB, SINGLE]
ALL = [MEMBER, SINGLE, HUB]


def test_the_expected_templates_are_found() -> None:
    found = set(templates())
    assert {HUB, MEMBER, SINGLE, WORKLOAD} <= found, found


@pytest.mark.parametrize("path", templates(), ids=lambda p: str(p.relative_to(REPO)))
def test_cfn_lint_finds_no_error_and_no_warning(path) -> None:
    findings = [
        f"{m['Level']} {m['Rule']['Id']} {m['Location']['Start']['LineNumber']}: {m['Message']}"
        for m in cfn_lint(path)
        if m["Level"] in ("Error", "Warning")
    ]
    assert findings == [], "\n".join(findings)


def test_no_template_uses_a_transform() -> None:
    for path in templates():
        assert "Transform" not in load_yaml(path), f"{path.name}: plain CloudFormation only (no SAM)"


@pytest.mark.parametrize("path", FACTORIES, ids=lambda p: p.name)
def test_the_function_sets_only_variables_the_handler_reads(path) -> None:
    function = only(load_yaml(path), "AWS::Lambda::Function")
    variables = set(function["Properties"]["Environment"]["Variables"])
    read = environment_variables_read()
    assert variables - read == set(), f"set but never read by handler/src/config.rs: {variables - read}"
    assert {"ENTRA_TENANT_ID", "ENTRA_CLIENT_ID"} <= variables
    # Test-only switches and overrides stay out of a deployed function.
    assert not variables & {"EXTRA_RESPONSE_URL_HOSTS", "VERIFY_CALLER_STACK", "AWS_ENDPOINT_URL"}


GUARDRAILS = {
    "ENTRA_CLOUD",
    "ENTRA_CREDENTIALS_SECRET_ARN",
    "REQUIRED_PERMISSIONS_BOUNDARY",
    "DENIED_MANAGED_POLICY_ARNS",
    "ROLE_PATH_PREFIX",
    "ALLOWED_FEDERATED_CREDENTIALS",
    "TRUSTED_CLIENTS_OWN_TENANT_ONLY",
}


def test_the_hub_sets_the_member_role_and_the_guardrails() -> None:
    variables = only(load_yaml(HUB), "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert GUARDRAILS | {"MEMBER_ROLE_NAME", "ALLOWED_ACCOUNT_IDS"} <= set(variables)
    single = only(load_yaml(SINGLE), "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert GUARDRAILS <= set(single)
    assert "MEMBER_ROLE_NAME" not in single, "single-account mode has no member hop"


def test_the_required_boundary_keeps_the_account_placeholder() -> None:
    # The function fills ${AWS::Partition} and ${AWS::AccountId} per target account;
    # CloudFormation must not.
    for path in FACTORIES:
        variables = only(load_yaml(path), "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
        (value,) = list(branches(variables["REQUIRED_PERMISSIONS_BOUNDARY"]))
        assert value["Fn::Sub"] == "arn:${!AWS::Partition}:iam::${!AWS::AccountId}:policy/${PermissionsBoundaryPolicyName}", value


@pytest.mark.parametrize("path", [*FACTORIES, MEMBER], ids=lambda p: p.name)
def test_secure_defaults(path) -> None:
    # DESIGN §6 "Secure by default": a required boundary, shipped where the roles live, a
    # dedicated path, the AWS administrator policies denied; optional guardrails at their
    # safe setting. The same defaults in every template.
    parameters = load_yaml(path)["Parameters"]
    assert parameters["RequirePermissionsBoundary"]["Default"] == "true"
    assert parameters["RequirePermissionsBoundary"]["AllowedValues"] == ["true", "false"]
    assert parameters["PermissionsBoundaryPolicyName"]["Default"] == "EntraFederatedRoleBoundary"
    assert parameters["CreatePermissionsBoundaryPolicy"]["Default"] == "true"
    assert parameters["RolePathPrefix"]["Default"] == "/entra-federated/"
    # Opting out is explicit, and its parameter says what it costs.
    description = " ".join(parameters["RequirePermissionsBoundary"]["Description"].split())
    assert "opts out" in description and "administrator" in description, description
    if path != MEMBER:
        assert parameters["DeniedManagedPolicyArns"]["Default"] == (
            "arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess,"
            "arn:${AWS::Partition}:iam::aws:policy/IAMFullAccess"
        )
        assert parameters["AllowedFederatedCredentials"]["Default"] == ""
        assert parameters["TrustedClientsFromOwnTenantOnly"]["Default"] == "true"
        assert parameters["ReservedConcurrency"]["Default"] == "10"
        assert parameters["LogGroupKmsKeyArn"]["Default"] == ""
        assert "logs." in parameters["LogGroupKmsKeyArn"]["Description"], "say what the key policy needs"
    workload = load_yaml(WORKLOAD)["Parameters"]
    assert workload["RolePath"]["Default"] == parameters["RolePathPrefix"]["Default"]
    assert workload["PermissionsBoundaryPolicyName"]["Default"] == parameters["PermissionsBoundaryPolicyName"]["Default"]


@pytest.mark.parametrize("path", FACTORIES, ids=lambda p: p.name)
def test_optional_guardrails_are_set_only_when_given(path) -> None:
    variables = only(load_yaml(path), "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert variables["ALLOWED_FEDERATED_CREDENTIALS"] == {
        "Fn::If": ["HasAllowedFederatedCredentials", {"Ref": "AllowedFederatedCredentials"}, NO_VALUE]
    }
    assert variables["TRUSTED_CLIENTS_OWN_TENANT_ONLY"] == {"Ref": "TrustedClientsFromOwnTenantOnly"}
    pattern = load_yaml(path)["Parameters"]["AllowedFederatedCredentials"]["AllowedPattern"]
    for good in (
        "",
        "https://token.actions.githubusercontent.com=repo:contoso/*",
        "https://token.actions.githubusercontent.com=repo:contoso/*,https://gitlab.com=project_path:contoso/?:ref_type:branch:ref:main",
    ):
        assert re.fullmatch(pattern, good), good
    assert re.fullmatch(pattern, "https://a=b, https://c=d")
    for bad in ("repo:contoso/*", "https://a=b,", "http://issuer=x", "https://issuer=", "https://a=b c"):
        assert not re.fullmatch(pattern, bad), bad


def test_partition_placeholders_stay_literal_only_where_the_function_fills_them() -> None:
    # The templates tell cfn-lint that "${AWS::Partition}" outside Fn::Sub is on purpose
    # (E1029's custom_excludes). Keep that true in one place only: DeniedManagedPolicyArns.
    def outside_sub(node, path=()):
        if isinstance(node, dict):
            for key, value in node.items():
                if key != "Fn::Sub":
                    yield from outside_sub(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from outside_sub(value, (*path, i))
        elif isinstance(node, str) and "${AWS::Partition}" in node:
            yield path

    for path in templates():
        template = load_yaml(path)
        found = {p for p in outside_sub(template) if p[:2] != ("Metadata", "cfn-lint")}
        assert found <= {
            ("Parameters", "DeniedManagedPolicyArns", "Default"),
            ("Parameters", "DeniedManagedPolicyArns", "Description"),
            # member-stackset.yaml carries member-role.yaml as text, for each instance.
            ("Resources", "MemberStackSet", "Properties", "TemplateBody"),
        }, (path.name, found)


@pytest.mark.parametrize("path", FACTORIES, ids=lambda p: p.name)
def test_the_function_is_an_arm64_custom_runtime_from_s3(path) -> None:
    template = load_yaml(path)
    properties = only(template, "AWS::Lambda::Function")["Properties"]
    assert properties["Runtime"] == "provided.al2023"
    assert properties["Handler"] == "bootstrap"
    assert properties["Architectures"] == [{"Ref": "Architecture"}]
    assert template["Parameters"]["Architecture"]["Default"] == "arm64"
    assert properties["Code"] == {"S3Bucket": {"Ref": "CodeS3Bucket"}, "S3Key": {"Ref": "CodeS3Key"}}
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": "LogGroup"}
    log_group = template["Resources"]["LogGroup"]
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert "Transform" not in template


@pytest.mark.parametrize("path", FACTORIES, ids=lambda p: p.name)
def test_the_service_token_is_an_export_and_a_parameter(path) -> None:
    template = load_yaml(path)
    output = template["Outputs"]["ServiceToken"]
    assert output["Value"] == {"Fn::GetAtt": ["Function", "Arn"]}
    assert output["Export"]["Name"] == {"Ref": "ServiceTokenExportName"}
    parameter = only(template, "AWS::SSM::Parameter")["Properties"]
    assert parameter["Value"] == {"Fn::GetAtt": ["Function", "Arn"]}
    assert parameter["Name"] == {"Ref": "ServiceTokenParameterName"}
    # member-role.yaml and the workload example use the same parameter name.
    default = template["Parameters"]["ServiceTokenParameterName"]["Default"]
    assert load_yaml(MEMBER)["Parameters"]["ServiceTokenParameterName"]["Default"] == default
    assert load_yaml(WORKLOAD)["Parameters"]["ServiceToken"]["Default"] == default


def test_only_the_organisation_and_the_schedules_may_invoke_the_hub() -> None:
    template = load_yaml(HUB)
    permissions = resources(template, "AWS::Lambda::Permission")
    assert set(permissions) == {"InvokePermission", "RoleSweepPermission", "AuditPermission"}
    organisation = permissions["InvokePermission"]["Properties"]
    assert organisation["Principal"] == "*"
    assert organisation["PrincipalOrgID"] == {"Ref": "OrganizationId"}
    assert organisation["Action"] == "lambda:InvokeFunction"
    # The schedule: the EventBridge service, for that one rule only, with role events on.
    sweep = permissions["RoleSweepPermission"]
    assert sweep["Condition"] == "HasRoleEvents"
    assert sweep["Properties"]["Principal"] == "events.amazonaws.com"
    assert sweep["Properties"]["SourceArn"] == {"Fn::GetAtt": ["RoleSweep", "Arn"]}
    rule = template["Resources"]["RoleSweep"]
    assert rule["Properties"]["Targets"][0]["Input"] == '{"entra-federated-role": "sweep"}'
    audit = permissions["AuditPermission"]
    assert audit["Condition"] == "HasAudit"
    assert audit["Properties"]["Principal"] == "events.amazonaws.com"
    assert audit["Properties"]["SourceArn"] == {"Fn::GetAtt": ["AuditScheduleRule", "Arn"]}
    rule = template["Resources"]["AuditScheduleRule"]
    assert rule["Properties"]["Targets"][0]["Input"] == '{"entra-federated-role": "audit"}'
    assert resources(load_yaml(SINGLE), "AWS::Lambda::Permission") == {}


def test_the_scheduled_audit_publishes_where_its_alarm_looks() -> None:
    template = load_yaml(HUB)
    audit_source = (REPO / "handler" / "src" / "audit.rs").read_text(encoding="utf-8")
    # The function's metrics: `EntraFederatedRole/<function name>`, `Findings` in all.
    assert 'format!("EntraFederatedRole/{function}")' in audit_source
    alarm = template["Resources"]["AuditFindingsAlarm"]
    assert alarm["Condition"] == "HasAudit"
    assert alarm["Properties"]["Namespace"] == {"Fn::Sub": "EntraFederatedRole/${FunctionName}"}
    assert alarm["Properties"]["MetricName"] == "Findings"
    assert "Dimensions" not in alarm["Properties"]
    assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Properties"]["Threshold"] == 0
    # It may put events on its bus, and only there.
    policy = template["Resources"]["AuditEventsPolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "ExecutionRole"}]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${AuditEventBusName}"
    }
    variables = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert variables["AUDIT_EVENT_BUS"] == {"Fn::If": ["HasAudit", {"Ref": "AuditEventBusName"}, {"Ref": "AWS::NoValue"}]}


@pytest.mark.parametrize("path", FACTORIES, ids=lambda p: p.name)
def test_an_alarm_watches_the_function_errors(path) -> None:
    alarms = [
        alarm["Properties"]
        for alarm in resources(load_yaml(path), "AWS::CloudWatch::Alarm").values()
    ]
    assert any(
        a["Namespace"] == "AWS/Lambda"
        and a["MetricName"] == "Errors"
        and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "Function"}}]
        for a in alarms
    ), alarms


@pytest.mark.parametrize("path", FACTORIES, ids=lambda p: p.name)
def test_metric_filters_match_messages_the_handler_logs(path) -> None:
    source = string_literals(REPO / "handler" / "src")
    filters = resources(load_yaml(path), "AWS::Logs::MetricFilter").values()
    messages = [
        message
        for f in filters
        for message in re.findall(r'\$\.message = "([^"]+)"', f["Properties"]["FilterPattern"])
    ]
    assert messages, "no metric filter on $.message"
    for message in messages:
        assert f'"{message}"' in source, f"the handler never logs {message!r}"


@pytest.mark.parametrize("path", FACTORIES, ids=lambda p: p.name)
def test_the_function_is_capped_and_drops_events_nobody_waits_for(path) -> None:
    template = load_yaml(path)
    function = only(template, "AWS::Lambda::Function")["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, NO_VALUE]
    }
    assert re.fullmatch(template["Parameters"]["ReservedConcurrency"]["AllowedPattern"], "none")
    assert "Graph" in path.read_text(encoding="utf-8").split("ReservedConcurrentExecutions:", 1)[0][-900:], (
        "say why the cap is what it is"
    )
    config = only(template, "AWS::Lambda::EventInvokeConfig")["Properties"]
    assert config["FunctionName"] == {"Ref": "Function"}
    assert config["Qualifier"] == "$LATEST"
    service_timeout = load_yaml(WORKLOAD)["Resources"]["CiRole"]["Properties"]["ServiceTimeout"]
    assert config["MaximumEventAgeInSeconds"] == service_timeout
    assert 60 <= config["MaximumEventAgeInSeconds"] <= 21600  # Lambda's allowed range
    log_group = template["Resources"]["LogGroup"]["Properties"]
    assert log_group["KmsKeyId"] == {"Fn::If": ["HasLogGroupKmsKey", {"Ref": "LogGroupKmsKeyArn"}, NO_VALUE]}


def test_the_lambda_is_sized_and_the_example_waits_a_little_longer() -> None:
    timeouts = {
        only(load_yaml(p), "AWS::Lambda::Function")["Properties"]["Timeout"] for p in FACTORIES
    }
    assert len(timeouts) == 1, timeouts
    (timeout,) = timeouts
    service_timeout = load_yaml(WORKLOAD)["Resources"]["CiRole"]["Properties"]["ServiceTimeout"]
    assert timeout < service_timeout <= timeout + 60
    assert service_timeout <= 3600  # CloudFormation's maximum
    for path in FACTORIES:
        memory = only(load_yaml(path), "AWS::Lambda::Function")["Properties"]["MemorySize"]
        assert memory == 128
        assert "peak RSS" in path.read_text(encoding="utf-8"), "say how the size was measured"


# --- IAM: least privilege, and exactly what the code calls ------------------------------


def account_statements(path) -> list[dict]:
    role = "MemberRole" if path == MEMBER else "ExecutionRole"
    return [s for s in statements(load_yaml(path), role) if s.get("Sid") in ACCOUNT_SIDS]


@pytest.mark.parametrize("path", [MEMBER, SINGLE, HUB], ids=lambda p: p.name)
def test_account_permissions_are_exactly_the_calls_the_handler_makes(path) -> None:
    wanted = {c for c in sdk_calls() if c.split(":")[0] in ("iam", "cloudformation", "ssm")} - OWN_ACCOUNT_ONLY
    allowed = granted(account_statements(path))
    assert allowed - wanted - ALSO_NEEDED == set(), f"granted but never called: {allowed - wanted - ALSO_NEEDED}"
    assert wanted - allowed == set(), f"called but not granted: {wanted - allowed}"


def normalised(path) -> dict[str, str]:
    found = {}
    for statement in account_statements(path):
        if statement["Sid"] == "NeverTouchTheFactory":
            assert statement["Resource"] == [FACTORY_ROLE[path], BOUNDARY_ARN], statement
            statement = {**statement, "Resource": "<the factory's own role, the boundary>"}
        found[statement["Sid"]] = repr(statement)
    return found


def test_the_three_copies_of_the_account_permissions_agree() -> None:
    member = normalised(MEMBER)
    assert set(member) == ACCOUNT_SIDS
    assert normalised(SINGLE) == member
    assert normalised(HUB) == member


def test_the_hub_serves_its_own_account_only_when_asked() -> None:
    template = load_yaml(HUB)
    for entry in template["Resources"]["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
        sids = {s.get("Sid") for s in branches(entry)}
        if sids & ACCOUNT_SIDS:
            condition = entry["Fn::If"][0]
            assert condition.startswith("ServesFactoryAccount"), (sids, condition)
    assert template["Parameters"]["ServeFactoryAccount"]["Default"] == "false"


@pytest.mark.parametrize("path", [MEMBER, SINGLE, HUB], ids=lambda p: p.name)
def test_roles_are_touched_only_under_the_managed_path(path) -> None:
    role_arn = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role${RolePathPrefix}*"
    for statement in account_statements(path):
        actions = as_list(statement["Action"])
        if statement["Effect"] == "Deny" or actions == ["iam:ListRoles"]:
            continue
        if actions == ["ssm:GetParameter"]:
            continue
        # Reading is allowed on any role: a role that does not exist has no path to match.
        if all(a.split(":")[1].startswith(("Get", "List")) for a in actions):
            assert statement["Sid"] == "ReadRoles", statement
            continue
        if any("Role" in a and "OpenID" not in a for a in actions) and not statement["Sid"] == "VerifyCallerStack":
            assert statement["Resource"] == {"Fn::Sub": role_arn}, statement


@pytest.mark.parametrize("path", [MEMBER, SINGLE, HUB], ids=lambda p: p.name)
def test_only_the_tenant_issuers_providers_are_touched(path) -> None:
    template = load_yaml(path)
    hosts = issuer_hosts()
    mapping = template["Mappings"]["EntraIssuers"]
    assert {(cloud, v): host for cloud, row in mapping.items() for v, host in row.items()} == hosts
    assert set(mapping) == set(template["Parameters"]["EntraCloud"]["AllowedValues"])
    providers = by_sid(account_statements(path))["OidcProviders"]["Resource"]
    tails = [sub["Fn::Sub"][0].split("oidc-provider/", 1)[1] for sub in providers]
    assert tails == ["${Host}/${EntraTenantId}/", "${Host}/${EntraTenantId}/v2.0"]


@pytest.mark.parametrize("path", [MEMBER, SINGLE, HUB], ids=lambda p: p.name)
def test_a_required_boundary_conditions_role_creation(path) -> None:
    account = by_sid(account_statements(path))
    boundary_arn = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${PermissionsBoundaryPolicyName}"}
    create, without = account["CreateRoles"]["Condition"]["Fn::If"][1:]
    assert account["CreateRoles"]["Condition"]["Fn::If"][0] == "HasBoundary"
    assert create["StringEquals"]["iam:PermissionsBoundary"] == boundary_arn
    # Either way, a new role must carry the ownership tag.
    for condition in (create, without):
        assert condition["StringEquals"]["aws:RequestTag/entra-federated-role:managed-by"] == "entra-federated-role"
    # Setting a boundary and giving policies: owned roles only, and only with
    # the required boundary when there is one.
    for sid in ("SetBoundary", "ChangeBoundedRoles"):
        condition, required, optional = account[sid]["Condition"]["Fn::If"]
        assert condition == "HasBoundary"
        assert required["StringEquals"] == {**OWNERSHIP["StringEquals"], "iam:PermissionsBoundary": boundary_arn}
        assert optional == OWNERSHIP
    assert set(account["ChangeBoundedRoles"]["Action"]) == {"iam:AttachRolePolicy", "iam:PutRolePolicy"}
    # Removing a boundary is granted only when none is required, and denied when one is.
    role = "MemberRole" if path == MEMBER else "ExecutionRole"
    document = load_yaml(path)["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]

    def guard(sid: str) -> str:
        (entry,) = [e for e in document["Statement"] if any(s.get("Sid") == sid for s in branches(e))]
        return entry["Fn::If"][0]

    assert guard("RemoveBoundary") in ("NoBoundary", "ServesFactoryAccountWithoutBoundary")
    assert guard("KeepRequiredBoundary") in ("HasBoundary", "ServesFactoryAccountWithBoundary")
    assert account["KeepRequiredBoundary"]["Effect"] == "Deny"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_change_to_an_existing_role_needs_the_ownership_marker(path) -> None:
    account = by_sid(account_statements(path))
    changes = {
        "iam:updaterole", "iam:updateassumerolepolicy", "iam:deleterole", "iam:tagrole",
        "iam:untagrole", "iam:attachrolepolicy", "iam:detachrolepolicy", "iam:putrolepolicy",
        "iam:deleterolepolicy", "iam:putrolepermissionsboundary", "iam:deleterolepermissionsboundary",
    }
    for sid, statement in account.items():
        if statement["Effect"] != "Allow" or sid == "TagNewRoles":
            continue
        actions = {a.lower() for a in as_list(statement["Action"])} & changes
        if not actions:
            continue
        conditions = [c for c in branches(statement["Condition"])]
        assert conditions, (sid, "no condition")
        for condition in conditions:
            assert condition["StringEquals"]["aws:ResourceTag/entra-federated-role:managed-by"] == "entra-federated-role", sid
    # Tag-on-create: TagRole without the marker on the role only when the request adds it.
    assert account["TagNewRoles"]["Action"] == "iam:TagRole"
    assert account["TagNewRoles"]["Condition"] == {
        "StringEquals": {"aws:RequestTag/entra-federated-role:managed-by": "entra-federated-role"},
        "Null": {"aws:ResourceTag/entra-federated-role:federate": "true"},
    }
    assert "Residual risk" in MEMBER.read_text(encoding="utf-8"), "say what tag-on-create leaves open"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_the_ownership_markers_are_never_removed(path) -> None:
    source = handler_source("domain/ownership.rs").split("#[cfg(test)]", 1)[0]
    constants = dict(re.findall(r'pub const (TAG_[A-Z_]+): &str = "([^"]+)";', source))
    tags_body = source.split("pub fn tags(&self)", 1)[1].split("\n    }\n", 1)[0]
    on_roles = {constants[name] for name in re.findall(r"\((TAG_[A-Z_]+)\.to_owned\(\)", tags_body)}
    assert len(on_roles) == 4, on_roles
    keep = by_sid(account_statements(path))["KeepOwnershipMarkers"]
    assert keep["Effect"] == "Deny" and keep["Action"] == "iam:UntagRole"
    assert set(keep["Condition"]["ForAnyValue:StringEqualsIgnoreCase"]["aws:TagKeys"]) == on_roles
    never = by_sid(account_statements(path))["NeverTouchTheFactory"]
    assert never["Effect"] == "Deny" and never["Action"] == "iam:*"


def test_the_member_role_trusts_only_the_hub_execution_roles() -> None:
    role = load_yaml(MEMBER)["Resources"]["MemberRole"]["Properties"]
    assert role["Path"] == "/"  # the hub assumes role/<MemberRoleName>, no path
    assert role["RoleName"] == {"Ref": "MemberRoleName"}
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:root"}},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": {"Ref": "HubExecutionRoleArns"}}},
    }
    # No other permission than the account set, and what roles that ask need.
    assert {s["Sid"] for s in statements(load_yaml(MEMBER), "MemberRole")} == ACCOUNT_SIDS | ADOPTION_SIDS
    # The boundary is created with the role, in the one region IAM needs it.
    template = load_yaml(MEMBER)
    boundary = template["Resources"]["BoundaryPolicy"]
    assert boundary["Type"] == "AWS::IAM::ManagedPolicy"
    assert boundary["Condition"] == "CreatesBoundaryPolicy"
    assert {"Condition": "CreatesMemberRole"} in template["Conditions"]["CreatesBoundaryPolicy"]["Fn::And"]
    assert boundary["Properties"]["ManagedPolicyName"] == {"Ref": "PermissionsBoundaryPolicyName"}
    assert boundary["Properties"]["Path"] == "/"


def test_the_hub_execution_role_is_least_privilege() -> None:
    template = load_yaml(HUB)
    found = by_sid(statements(template, "ExecutionRole"))
    extra = set(found) - ACCOUNT_SIDS
    assert extra == {
        "Logs",
        "AssumeMemberRole",
        "ReadEntraCredentials",
        "DecryptEntraCredentials",
        "EntraAssertion",
        "ReadOutboundFederation",
        "ReadRoleEvents",
    }, extra
    wanted = {c for c in sdk_calls() if c.split(":")[0] in ("sts", "secretsmanager")} | OWN_ACCOUNT_ONLY
    assert granted([found[s] for s in extra - {"Logs", "DecryptEntraCredentials", "ReadRoleEvents"}]) == wanted
    # Lambda's event source mapping reads the queue with the function's role.
    queue = found["ReadRoleEvents"]
    assert queue["Resource"] == {"Fn::GetAtt": ["RoleEventsQueue", "Arn"]}
    assert set(queue["Action"]) == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}

    assume = found["AssumeMemberRole"]
    assert assume["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}

    assert found["Logs"]["Resource"] == {"Fn::GetAtt": ["LogGroup", "Arn"]}
    assert set(found["Logs"]["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}


@pytest.mark.parametrize("path", FACTORIES, ids=lambda p: p.name)
def test_sign_in_permissions_follow_the_credentials_mode(path) -> None:
    template = load_yaml(path)
    document = template["Resources"]["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    conditional = {
        s["Sid"]: e["Fn::If"][0]
        for e in document["Statement"]
        if isinstance(e, dict) and "Fn::If" in e
        for s in branches(e)
    }
    assert conditional["ReadEntraCredentials"] == "HasSecret"
    assert conditional["DecryptEntraCredentials"] == "HasSecretKmsKey"
    assert conditional["EntraAssertion"] == "Secretless"
    found = by_sid(statements(template, "ExecutionRole"))
    assert found["ReadEntraCredentials"]["Resource"] == {"Ref": "EntraCredentialsSecretArn"}
    audience = re.search(
        r'TOKEN_EXCHANGE_AUDIENCE: &str = "([^"]+)"', handler_source("signin.rs")
    ).group(1)
    condition = found["EntraAssertion"]["Condition"]
    assert condition["ForAllValues:StringEquals"] == {"sts:IdentityTokenAudience": [audience]}
    assert condition["Null"] == {"sts:IdentityTokenAudience": "false"}
    assert condition["StringEquals"] == {"sts:SigningAlgorithm": "RS256"}


@pytest.mark.parametrize("path", [MEMBER, SINGLE, HUB], ids=lambda p: p.name)
def test_no_wildcard_action_and_star_resources_only_where_iam_requires(path) -> None:
    role = "MemberRole" if path == MEMBER else "ExecutionRole"
    for statement in statements(load_yaml(path), role):
        actions = as_list(statement["Action"])
        if statement["Effect"] == "Allow":
            assert not any("*" in a for a in actions), statement
        if statement["Resource"] == "*" and statement["Effect"] == "Allow":
            # Actions without a resource type (Service Authorization Reference).
            account_level = (
                ["iam:ListRoles"],
                ["sts:GetWebIdentityToken"],
                ["iam:GetOutboundWebIdentityFederationInfo"],
            )
            assert actions in account_level, statement


# --- the workload example -----------------------------------------------------------------


def test_the_workload_example_uses_only_real_properties_and_attributes() -> None:
    template = load_yaml(WORKLOAD)
    resource = template["Resources"]["CiRole"]
    assert resource["Type"] == "Custom::EntraFederatedRole"
    assert set(resource["Properties"]) - property_names() == set()
    credential = resource["Properties"]["FederatedCredentials"][0]
    assert credential["Issuer"] == "https://token.actions.githubusercontent.com"
    assert credential["Subject"]["Fn::Sub"].startswith("repo:${GitHubRepository}:")
    attributes = {
        name: output["Value"]["Fn::GetAtt"][1] for name, output in template["Outputs"].items()
    }
    assert set(attributes.values()) <= attribute_names()
    assert {"RoleArn", "ApplicationId", "TokenScope", "TenantId"} <= set(attributes.values())


def test_no_value_is_only_used_inside_conditions() -> None:
    # A bare AWS::NoValue outside Fn::If would be a mistake in these templates.
    for path in templates():
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if "AWS::NoValue" in line and "!If" not in line:
                assert line.strip().startswith("- !Ref AWS::NoValue"), f"{path.name}: {line}"
    assert NO_VALUE == {"Ref": "AWS::NoValue"}
