"""moto's server (all services, as `moto_server`) with the moto_ext IAM, STS and CloudFormation extensions.

Usage (with the Python of the venv built from tests/moto/requirements.txt):
    .venv/bin/python tests/moto/server.py [--host 127.0.0.1] [--port 0] [--quiet] [--ignore-stdin]

Contract:
* --port 0 (the default) binds a free port chosen by the OS.
* Once the socket is listening, exactly one line is written to stdout, then
  flushed: ``MOTO_READY http://HOST:PORT``. Nothing else is written to stdout.
  Request logs (unless --quiet) and errors go to stderr: a parent that pipes
  stderr must keep reading it.
* If it cannot start (e.g. the port is taken) it exits non-zero with a
  message on stderr and no READY line.
* The server stops and the process exits 0 when its stdin reaches EOF (the
  parent closed it, or died), or on SIGTERM/SIGINT. Start it with stdin as a
  pipe that the parent keeps open; --ignore-stdin turns the EOF watch off (for
  a shell's background job, whose stdin is /dev/null), leaving the signals.
* STS GetWebIdentityToken is added (moto_ext.install_outbound_identity): its
  RSA signing key is read from the PEM file named by EFR_OUTBOUND_IDENTITY_KEY,
  or generated at startup; the verification keys are served at
  GET /_efr/outbound-identity/jwks.json and an account's issuer URL at
  GET /_efr/outbound-identity/issuer?account=<id>. With it, IAM's
  GetOutboundWebIdentityFederationInfo, EnableOutboundWebIdentityFederation and
  DisableOutboundWebIdentityFederation: the feature is per account and, unlike
  AWS, enabled until the account disables it (POST /moto-api/reset re-enables it).
* STS AssumeRoleWithWebIdentity checks the token and the role's trust policy
  (moto_ext.install_web_identity_check). An issuer's verification keys are
  fetched from the JWKS URL registered for it with
  POST /_efr/web-identity/issuers and a JSON body
  {"issuer": "<exact iss claim>", "jwks_uri": "http://127.0.0.1:PORT/..."}:
  204 when registered (again: replaced), 400 with {"error": ...} when a field is
  missing or the jwks_uri is not http(s). Registrations last as long as the
  process (POST /moto-api/reset keeps them) and are shared by all clients.
* IAM's rules for roles hold (moto_ext.install_role_rules): role names are unique
  regardless of case, a role takes at most 10 managed policies, and a trust policy
  at most 2,048 characters (white space not counted); each refusal is IAM's error.
* CloudFormation records resource events (moto_ext.install_cloudformation_events):
  CREATE_IN_PROGRESS (empty PhysicalResourceId, the template's ResourceType)
  when moto starts to create a resource, CREATE_COMPLETE (its physical id) when
  moto has created it; a custom resource stays CREATE_IN_PROGRESS until its
  provider PUTs its response to the ResponseURL moto sends,
  <url>/cloudformation_<region>/cfnresponse?stack=<StackId>: Status SUCCESS
  records CREATE_COMPLETE with the response's PhysicalResourceId, FAILED records
  CREATE_FAILED with it and, as ResourceStatusReason, "Received response status
  [FAILED] from custom resource. Message returned: <Reason> (RequestId: <id>)".
  Only a custom resource awaiting its creation's response takes one; any other
  response is answered 200 and changes nothing. DescribeStackEvents lists events newest first; DescribeStackResource(s)
  report a custom resource's status and physical id from its events.
* moto sends a custom resource no Update or Delete. What CloudFormation records
  in those phases (update, replacement and its cleanup, update rollback, create
  rollback, stack deletion: see moto_ext) is recorded with
  POST /_efr/cloudformation/events and a JSON body
  {"StackId": "<stack ARN>",                 required
   "StackStatus": "UPDATE_IN_PROGRESS",       optional: set the stack's status and
                                              record a stack event
   "LogicalResourceId": "CiRole",             optional: record a resource event;
                                              must name a resource of the stack's
                                              template, whose Type the event gets
   "ResourceStatus": "UPDATE_IN_PROGRESS",    required with LogicalResourceId
   "PhysicalResourceId": "...",               optional (default: empty)
   "ResourceStatusReason": "...",             optional: the resource event's, or
                                              the stack event's without one
   "AgeSeconds": 0}                           optional: the event(s), and the
                                              stack's history before them, are
                                              back-dated by that many seconds
  at least one of StackStatus and LogicalResourceId. The stack event comes
  first when both are given. Statuses must be values of the API's StackStatus
  and ResourceStatus enums. The stack is looked up by its ARN in the account
  and region the ARN names, deleted stacks included. 204 when recorded; 400
  with {"error": ...} for a body that is not so (an unknown field, such as
  ResourceType, included), 404 with {"error": ...} for an unknown stack.
* MOTO_PORT is set to the bound port, so URLs moto builds for itself (e.g. the
  CloudFormation custom-resource ResponseURL) use the real port.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from werkzeug.serving import make_server

# The script's own folder is sys.path[0] when run as `python tests/moto/server.py`.
import moto_ext
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def _watch_stdin(stop: threading.Event) -> None:
    """Set `stop` once stdin reaches EOF; whatever is written to it is ignored."""
    # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside
    # the buffered reader would hold its lock and abort interpreter shutdown.
    try:
        while os.read(sys.stdin.fileno(), 65536):
            pass
    except (AttributeError, OSError, ValueError):  # no stdin, or it is closed
        pass
    stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--quiet", action="store_true", help="do not log requests to stderr"
    )
    parser.add_argument(
        "--ignore-stdin",
        action="store_true",
        help="do not stop at stdin EOF (stop on SIGTERM/SIGINT only)",
    )
    args = parser.parse_args(argv)

    moto_ext.install()
    moto_ext.install_trust_principal_check()
    moto_ext.install_role_rules()
    moto_ext.install_outbound_identity()
    moto_ext.install_web_identity_check()
    moto_ext.install_cloudformation_events()
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    # /_efr/outbound-identity/… (JWKS, issuer), /_efr/web-identity/issuers and
    # /_efr/cloudformation/events first, then moto.
    app = moto_ext.wsgi_middleware(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    host, port = server.server_address[:2]
    os.environ["MOTO_PORT"] = str(port)
    url_host = f"[{host}]" if ":" in str(host) else host

    # A process-directed signal goes to any thread that does not block it, and
    # only a signal delivered to the main thread interrupts stop.wait() below.
    # Threads inherit the mask of the thread that starts them, so block the
    # signals while starting the serving thread (which starts one thread per
    # request) and the stdin watcher, then unblock them in the main thread only.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        serving = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long shutdown() may wait
            name="moto-server",
        )
        serving.start()
        if not args.ignore_stdin:
            threading.Thread(
                target=_watch_stdin, args=(stop,), name="stdin-eof", daemon=True
            ).start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)

    # The socket is already listening (make_server binds and listens), so
    # requests sent after this line are served.
    sys.stdout.write(f"MOTO_READY http://{url_host}:{port}\n")
    sys.stdout.flush()

    try:
        stop.wait()
    finally:
        server.shutdown()  # returns once serve_forever has left its loop
        serving.join()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
