"""The cold-start baseline: a Python Lambda doing what `bootstrap` does before its first
poll, the way the boto3 automation this project replaces would.

It reads and checks the same environment as the Rust handler's configuration, creates
the boto3 clients the handler uses (IAM, STS, CloudFormation, Secrets Manager) from one
session, and then polls the same local Lambda Runtime API for its first event, answering
each with an empty result. The benchmark times exec of the interpreter to the first
`GET /2018-06-01/runtime/invocation/next`.

This is kinder to Python than AWS's Python runtime: there, a runtime interface client
(awslambdaric) starts first and imports the handler module; here the module polls itself
with `http.client` from the standard library.
"""

import http.client
import json
import os
import re
import sys

import boto3

GUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


def load_config(env):
    errors = []
    config = {}
    for name in ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID"):
        value = env.get(name, "")
        if not GUID.match(value):
            errors.append(f"{name} must be a GUID")
        config[name] = value
    config["secret_arn"] = env.get("ENTRA_CREDENTIALS_SECRET_ARN")
    config["cloud"] = env.get("ENTRA_CLOUD", "public")
    if config["cloud"] not in ("public", "usgov", "china"):
        errors.append("ENTRA_CLOUD must be public, usgov or china")
    config["authority"] = env.get("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com").rstrip("/")
    config["graph"] = env.get("GRAPH_ENDPOINT", "https://graph.microsoft.com").rstrip("/")
    config["member_role"] = env.get("MEMBER_ROLE_NAME")
    config["verify"] = env.get("VERIFY_CALLER_STACK", "true").lower() != "false"
    config["extra_hosts"] = [h for h in env.get("EXTRA_RESPONSE_URL_HOSTS", "").split(",") if h]
    return config, errors


CONFIG, CONFIG_ERRORS = load_config(os.environ)
SESSION = boto3.session.Session()
IAM = SESSION.client("iam")
STS = SESSION.client("sts")
CLOUDFORMATION = SESSION.client("cloudformation")
SECRETS = SESSION.client("secretsmanager")


def serve(api):
    host, _, port = api.partition(":")
    connection = http.client.HTTPConnection(host, int(port or 80))
    while True:
        connection.request("GET", "/2018-06-01/runtime/invocation/next")
        response = connection.getresponse()
        response.read()
        request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
        connection.request(
            "POST",
            f"/2018-06-01/runtime/invocation/{request_id}/response",
            body=json.dumps({}),
            headers={"Content-Type": "application/json"},
        )
        connection.getresponse().read()


if __name__ == "__main__":
    try:
        serve(os.environ["AWS_LAMBDA_RUNTIME_API"])
    except (ConnectionError, http.client.HTTPException):
        sys.exit(0)
