"""`pixelproof mock` and `pixelproof faults`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from pixelproof import values


def _secret_from_env(name: str | None, what: str) -> str | None:
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"pixelproof: {what}: environment variable {name} is not set")
    return value


MOCK_HELP = """\
Serve the built-in mock on loopback.

Roles:
  upstream  (default) speaks the vendors' own APIs: OpenAI Images (generations, edits in multipart
            and JSON), xAI images (same path, grok-* models), Gemini generateContent, Volcengine Ark
            Seedream (/api/v3/images/generations) and the Jimeng visual API (POST /?Action=...).
            It rejects what the vendors reject, with their error shapes. Point a gateway under test
            at it instead of a paid vendor.
  gateway   the reference implementation of the documented unified layer, read from the rule
            catalogue: /v1/images/generations, /v1/images/edits, /v1/edits, /v1/images/variations,
            /v1beta/models/{model}:generateContent, /jm, and the async task APIs under /action/v1/...
            (seed 002) and /official/v1/... (seed 004). Needs --upstream URL (or 'embedded').

Every request that arrives is recorded (credentials redacted): GET /__pixelproof/requests
(filters: path, method, since, tag, contains; DELETE clears). Images answered by URL are served
from /__pixelproof/files/ and expire on the mock's clock.

Faults: --fault NAME (repeatable) breaks a documented promise for the whole process; a request can
carry the header 'X-Pixelproof-Fault: a,b' instead, so parallel tests do not interfere.
`pixelproof faults` lists them with the rules each breaks.

Time: async jobs take 15 s of documented time (queued 2 s); --time-scale 1000 makes that 15 ms and
scales URL expiry the same way.
"""


def add_mock(sub: Any) -> None:
    parser = sub.add_parser(
        "mock", help="serve the built-in mock upstream or reference gateway", description=MOCK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "--role", choices=["upstream", "gateway"], default="upstream", help="default: upstream"
    )
    parser.add_argument(
        "--upstream",
        metavar="URL",
        help="gateway role: the upstream base URL, or 'embedded' to start a vendor mock too",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, loopback only)"
    )
    parser.add_argument(
        "--port", type=_port, default=8700, help="port (default 8700; 0 picks a free one)"
    )
    parser.add_argument(
        "--key-env",
        metavar="NAME",
        help="require 'Authorization: Bearer <key>', the key read from env NAME",
    )
    parser.add_argument(
        "--upstream-key-env",
        metavar="NAME",
        help="gateway role: bearer key for the upstream, from env NAME",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="inject a named fault (repeatable)",
    )
    parser.add_argument(
        "--time-scale",
        type=values.positive,
        default=1.0,
        metavar="X",
        help="mock seconds per real second (default 1)",
    )
    parser.add_argument(
        "--public-url", metavar="URL", help="base URL used in url answers (default: the request's)"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.set_defaults(handler=_run_mock)


def _run_mock(args: argparse.Namespace) -> int:
    from pixelproof.mock import MockConfig, create_app
    from pixelproof.mock.faults import UnknownFault, validate
    from pixelproof.mock.server import serve_forever, start

    if args.time_scale <= 0:
        print("pixelproof mock: --time-scale must be > 0", file=sys.stderr)
        return 2
    try:
        names = validate(args.fault)
    except UnknownFault as exc:
        print(f"pixelproof mock: {exc}", file=sys.stderr)
        return 2
    key = _secret_from_env(args.key_env, "--key-env")
    upstream_url = args.upstream
    if args.role == "gateway" and not upstream_url:
        print(
            "pixelproof mock: the gateway role needs --upstream URL (or --upstream embedded)",
            file=sys.stderr,
        )
        return 2
    if upstream_url == "embedded":
        vendor = start(create_app(MockConfig(time_scale=args.time_scale, faults=names)), args.host)
        upstream_url = vendor.url
        print(f"pixelproof mock: embedded upstream on {vendor.url}", flush=True)
    config = MockConfig(
        role=args.role, api_key=key, faults=names, time_scale=args.time_scale, upstream_url=upstream_url,
        upstream_key=_secret_from_env(args.upstream_key_env, "--upstream-key-env"), public_url=args.public_url,
    )  # fmt: skip
    print(
        f"pixelproof mock: role {args.role}, faults {sorted(names) or 'none'}, time scale {args.time_scale}",
        flush=True,
    )
    try:
        serve_forever(create_app(config), args.host, args.port, args.log_level)
    except OSError as exc:
        print(
            f"pixelproof mock: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    return 0


def add_faults(sub: Any) -> None:
    parser = sub.add_parser("faults", help="list the mock's named faults and the rules each breaks",
                            description="List the named faults the mock can inject and the rules each one breaks.")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="machine-readable JSON")
    parser.set_defaults(handler=_run_faults)


def _run_faults(args: argparse.Namespace) -> int:
    from pixelproof.mock.faults import CATALOGUE

    if args.json:
        print(
            json.dumps(
                [{**vars(f), "breaks": list(f.breaks)} for f in CATALOGUE.values()], indent=2
            )
        )
        return 0
    width = max(len(name) for name in CATALOGUE)
    for fault in CATALOGUE.values():
        kind = (
            "infrastructure"
            if fault.infrastructure
            else ", ".join(fault.breaks) or "(found by fuzzing)"
        )
        print(
            f"{fault.name.ljust(width)}  [{fault.role}] {fault.description}\n{' ' * width}  breaks: {kind}"
        )
    print(f"\n{len(CATALOGUE)} faults")
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {port}")
    return port
