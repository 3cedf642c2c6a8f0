"""`pixelproof discover URL`: probe an endpoint and write a draft target profile on stdout."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pixelproof import values


def _cmd_discover(args: argparse.Namespace) -> int:
    from pixelproof.catalogue import default_catalogue
    from pixelproof.client import Client
    from pixelproof.discover import discover, render_profile

    if not args.url.startswith(("http://", "https://")):
        print(f"pixelproof discover: not an http(s) URL: {args.url!r}", file=sys.stderr)
        return 2
    key = None
    if args.key_env:
        key = os.environ.get(args.key_env)
        if not key:
            print(
                f"pixelproof discover: environment variable {args.key_env} is not set",
                file=sys.stderr,
            )
            return 2
    if args.budget < 0:
        print("pixelproof discover: --budget must be 0 or more", file=sys.stderr)
        return 2
    auth = ("Authorization", f"Bearer {key}") if key else None
    client = Client(args.url, auth, args.timeout)
    try:
        found = discover(args.url, default_catalogue(), client, args.budget)
    finally:
        client.close()
    text = render_profile(found, args.key_env)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    confirmed = sum(len(e.served) for e in found.surfaces)
    print(f"pixelproof discover: {found.design}; {confirmed} model(s) confirmed on "
          f"{sum(1 for e in found.surfaces if e.served)} surface(s); {found.images} image(s) bought",
          file=sys.stderr)  # fmt: skip
    return 0 if confirmed else 3


def add_discover(sub: Any) -> None:
    parser = sub.add_parser(
        "discover",
        help="probe an endpoint and write a draft target profile (onboarding starts here)",
        description="Probe which surfaces answer (OpenAI images, Gemini, Jimeng, task APIs, vendor "
        "APIs), list models via GET /v1/models where offered, try one cheap generation per "
        "candidate model (bounded by --budget) and write a commented draft profile with the level "
        "the endpoint looks like. Exit 0 with at least one model confirmed, 3 with none.",
    )
    parser.add_argument("url", help="the endpoint's base URL (the part before /v1/...)")
    parser.add_argument(
        "--key-env", metavar="NAME", help="environment variable holding the API key"
    )
    parser.add_argument("--budget", type=values.count, default=6, metavar="N",
                        help="the most images bought to confirm models (default 6)")  # fmt: skip
    parser.add_argument(
        "--timeout", type=values.positive, default=60.0, metavar="S", help="per request"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the profile here, not stdout")
    parser.set_defaults(handler=_cmd_discover)
