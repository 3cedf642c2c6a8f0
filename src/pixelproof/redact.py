"""The one redaction: every header, query parameter and text pixelproof writes passes through here.

Secrets travel in whatever header or query parameter the profile names, so redaction is driven by
the profile (``Redactor.for_credentials``) on top of the usual names; and because a target may echo
a key back (in an error message, a redirect URL), the literal secret values are scrubbed from any
text too. The client, the reports, the fuzz findings and the mock's recorder all use this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset(
    {"authorization", "x-goog-api-key", "api-key", "x-api-key", "proxy-authorization", "cookie",
     "x-auth-token", "x-access-token", "set-cookie"}
)  # fmt: skip
SECRET_QUERY = frozenset(
    {"api_key", "apikey", "api-key", "key", "token", "access_token", "secret", "sig", "signature"}
)
MIN_SECRET_CHARS = 6  # a shorter "secret" would redact ordinary words out of reports


@dataclass(frozen=True)
class Redactor:
    headers: frozenset[str] = SECRET_HEADERS
    query: frozenset[str] = SECRET_QUERY
    values: tuple[str, ...] = ()

    @classmethod
    def for_credentials(
        cls, header: str | None = None, query: str | None = None, secret: str | None = None
    ) -> Redactor:
        """The usual names plus the profile's own header/parameter and its secret value."""
        headers = SECRET_HEADERS | ({header.lower()} if header else set())
        params = SECRET_QUERY | ({query.lower()} if query else set())
        values = (secret,) if secret and len(secret) >= MIN_SECRET_CHARS else ()
        return cls(frozenset(headers), frozenset(params), values)

    def header_map(self, headers: dict[str, str]) -> dict[str, str]:
        """Lower-cased names; a secret keeps its scheme word (``Bearer [redacted]``)."""
        out = {}
        for name, value in headers.items():
            low = name.lower()
            if low in self.headers:
                scheme = value.split(" ", 1)[0] if " " in value.strip() else ""
                out[low] = f"{scheme} {REDACTED}".strip()
            else:
                out[low] = self.text(value)
        return out

    def query_map(self, query: dict[str, str]) -> dict[str, str]:
        return {
            k: (REDACTED if k.lower() in self.query else self.text(v)) for k, v in query.items()
        }

    def url(self, url: str) -> str:
        """The URL with secret query parameters (and userinfo passwords) redacted."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if k.lower() in self.query else v) for k, v in pairs], safe="[]"
        )
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def text(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def data(self, value: Any) -> Any:
        """Any JSON-like value with the secret values scrubbed from its strings."""
        if not self.values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        return value


DEFAULT = Redactor()


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return DEFAULT.header_map(headers)


def redact_query(query: dict[str, str]) -> dict[str, str]:
    return DEFAULT.query_map(query)


def secret_values(env_names: Iterable[str | None]) -> tuple[str, ...]:
    """The keys in these variables, as sent (stripped) and as set, where long enough to scrub."""
    values = {
        v for n in env_names for raw in [os.environ.get(n or "") or ""] for v in (raw, raw.strip())
    }
    return tuple(sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True))


def scrub_tree(root: Path, values: tuple[str, ...]) -> int:
    """Last line of defence after a run: rewrite any report file that still holds a secret value
    (a target can echo a key into places no formatter sees). Returns the number of files fixed."""
    if not values or not root.is_dir():
        return 0
    fixed = 0
    needles = [v.encode() for v in values]
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if any(n in data for n in needles):
            for needle in needles:
                data = data.replace(needle, REDACTED.encode())
            path.write_bytes(data)
            fixed += 1
    return fixed
