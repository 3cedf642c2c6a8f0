"""Target profiles: what a deployment claims, where it lives, and how to reach it.

A profile is YAML validated with pydantic. Credentials are never in the file: the file names an
environment variable. Errors name the file, the key and what was expected (``ProfileError``).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from pixelproof.catalogue.levels import claimable
from pixelproof.redact import Redactor

if TYPE_CHECKING:
    from pixelproof.catalogue import Catalogue

WAIVER_REASONS = (
    "upstream-limitation",  # the vendor behind the gateway cannot do it
    "vendor-bug",  # a known bug, reported
    "documentation-error",  # the document is believed wrong; a correction is pending
    "not-applicable",  # the deployment does not offer this feature
    "accepted-deviation",  # a deliberate, signed-off difference
)


class ProfileError(Exception):
    def __init__(self, path: str, key: str, message: str) -> None:
        self.path, self.key, self.message = path, key, message
        super().__init__(f"{path}: {key}: {message}" if key else f"{path}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _headers_sendable(headers: dict[str, str]) -> dict[str, str]:
    """Each header as HTTP carries it: a token for a name, printable ASCII for a value (a line
    break would start another header; httpx refuses anything else when it sends)."""
    for name, value in headers.items():
        if not name or not all(ch.isascii() and (ch.isalnum() or ch in TOKEN_CHARS) for ch in name):
            raise ValueError(f"header name {name!r} is not an HTTP token")
        if _unsendable(value):
            raise ValueError(
                f"header {name}: its value has a line break, a control character or a non-ASCII"
                " character"
            )
    return headers


TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~")  # RFC 9110 tchar, besides letters and digits


class SurfaceClaim(_Strict):
    """One surface the target serves: where, which models, and what it promises there."""

    base_url: HttpUrl = Field(description="where the surface lives (the part before /v1/...)")
    models: list[str] = Field(min_length=1, description="the models claimed on this surface")
    level: str | None = Field(
        default=None,
        description="the conformance level held to on this surface (default: the profile's "
        "`level` where it applies, else unified-gateway on a gateway surface and the vendor's "
        "own level on a vendor surface)",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="extra headers sent to this surface only, over the profile-wide `headers` "
        "(routing such as a provider name or an upstream host; never secrets)",
    )

    _sendable = field_validator("headers")(_headers_sendable)

    @field_validator("base_url")
    @classmethod
    def _no_query(cls, url: HttpUrl) -> HttpUrl:
        """A query in base_url would be printed in every report (and swallow request paths)."""
        if url.query or url.fragment:
            raise ValueError(
                "base_url must not carry a query string or fragment; send a key with "
                "credentials.query (its value from credentials.env)"
            )
        return url


class Credentials(_Strict):
    env: str | None = Field(default=None, description="environment variable holding the API key")
    header: str | None = Field(
        default="Authorization", description="header carrying the key (null: none)"
    )
    scheme: str = "Bearer"
    query: str | None = Field(
        default=None, description="query parameter carrying the key (e.g. key, for Gemini)"
    )

    @model_validator(mode="after")
    def _query_replaces_header(self) -> Credentials:
        if self.query and "header" not in self.model_fields_set:
            self.header = None  # a key sent in the query is not also sent as a header
        return self

    def value(self) -> str | None:
        """The key as it is sent: the variable's value without the whitespace around it (a key
        read from a file often ends in a newline, and an HTTP client drops it from the header
        anyway), so that what is redacted is what the target can echo back."""
        return key_from_env(self.env)

    def auth(self) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
        """(header name and value, query name and value) to send, None where not used."""
        secret = self.value()
        if not secret:
            return None, None
        header = (self.header, f"{self.scheme} {secret}".strip()) if self.header else None
        return header, ((self.query, secret) if self.query else None)

    def redactor(self) -> Redactor:
        return Redactor.for_credentials(self.header, self.query, self.value())


class PollingOverride(_Strict):
    initial_delay_s: float | None = Field(default=None, ge=0)
    interval_s: float | None = Field(default=None, gt=0)
    max_interval_s: float | None = Field(default=None, gt=0)
    timeout_s: float | None = Field(default=None, gt=0)


class Waiver(_Strict):
    """A known deviation, judged as an expected failure until it expires (then the run fails)."""

    rule: str = Field(description="the rule id waived (as `pixelproof rules` prints it)")
    reason: Literal[
        "upstream-limitation",
        "vendor-bug",
        "documentation-error",
        "not-applicable",
        "accepted-deviation",
    ]
    note: str = Field(default="", description="a ticket or a sentence: why, and who signed off")
    expires: dt.date = Field(description="after this date the waiver fails the run")
    models: list[str] | None = Field(default=None, description="only these models (default: all)")

    def expired(self, today: dt.date | None = None) -> bool:
        return (today or dt.date.today()) > self.expires


class Profile(_Strict):
    """A deployment under test: what it serves, where, what it promises and how to reach it."""

    name: str = Field(default="target", description="shown in reports")
    paid: bool = Field(
        default=False, description="true: real money per image; fuzzing defaults to negative-only"
    )
    level: str | None = Field(
        default=None,
        description="the conformance level the target is held to (openai-images, unified-gateway, "
        "or a vendor level); rules above it are reported 'not claimed'",
    )
    surfaces: dict[str, SurfaceClaim] = Field(
        min_length=1, description="the surfaces served, by name (unified, gemini, openai, ark, ...)"
    )
    credentials: Credentials = Credentials()
    recorder: HttpUrl | None = Field(
        default=None, description="a pixelproof mock upstream behind the target"
    )
    timeout_s: float = Field(
        default=120.0, gt=0, description="deadline of one exchange, connect to last byte"
    )
    run_timeout_s: float = Field(
        default=3600.0, gt=0, description="deadline of the whole run; later cases are errors"
    )
    breaker_after: int = Field(
        default=3, ge=0, description="stop sending to a surface after this many answerless "
        "exchanges in a row (0: never)"
    )  # fmt: skip
    polling: dict[str, PollingOverride] = Field(
        default_factory=dict, description="per async surface: overrides of the documented cadence"
    )
    budget_images: int | None = Field(
        default=None, ge=0, description="stop buying images at this many (the rest is skipped)"
    )
    safety_prompt: str | None = Field(
        default=None, description="a prompt the target must refuse (default: the catalogue's)"
    )
    reference_image_url: HttpUrl | None = Field(
        default=None, description="a fetchable PNG for URL references"
    )
    waivers: list[Waiver] = Field(default_factory=list, description="known deviations")
    time_scale: float = Field(
        default=1.0, gt=0, description="the target's clock speed (embedded mock only)"
    )
    url_age_header: bool = Field(
        default=False,
        description="the target is a pixelproof mock that serves an image URL fetched with header "
        "X-Pixelproof-File-Age: N as if N seconds old, so documented URL lifetimes (24 h) are "
        "judged; other targets skip those rules (a run does not wait hours)",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra headers sent on every request (never secrets)"
    )
    _sendable = field_validator("headers")(_headers_sendable)

    @model_validator(mode="after")
    def _waivers_unique(self) -> Profile:
        seen = [w.rule for w in self.waivers]
        dupes = sorted({r for r in seen if seen.count(r) > 1})
        if dupes:
            raise ValueError(f"waivers repeat rule(s): {', '.join(dupes)}")
        return self

    def base_url(self, surface: str) -> str:
        return str(self.surfaces[surface].base_url).rstrip("/")

    def claims(self, surface: str) -> bool:
        return surface in self.surfaces

    def level_of(self, surface: str, catalogue: Catalogue) -> str | None:
        """The level held to on ``surface``: its own, the profile's where claimable, or the default."""
        levels = catalogue.levels
        if levels is None:
            return None
        claim = self.surfaces.get(surface)
        if claim is not None and claim.level:
            return claim.level
        allowed = claimable(levels, surface)
        if self.level and self.level in allowed:
            return self.level
        info = catalogue.surfaces.get(surface)
        if info is not None and info.role == "gateway":
            return levels.gateway_default
        return allowed[0] if allowed else None

    def headers_for(self, surface: str) -> dict[str, str]:
        claim = self.surfaces.get(surface)
        return {**self.headers, **(claim.headers if claim else {})}

    def models(self, surface: str) -> list[str]:
        claim = self.surfaces.get(surface)
        return list(claim.models) if claim else []

    def waiver(self, rule_id: str, model: str | None = None) -> Waiver | None:
        for waiver in self.waivers:
            if waiver.rule == rule_id and (waiver.models is None or model in waiver.models):
                return waiver
        return None


def _location(loc: tuple[object, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


def load_profile(
    path: Path | str, catalogue: Catalogue | None = None, need_key: bool = True
) -> Profile:
    """Load and validate a profile; unknown surfaces and models are errors, not silent skips.
    ``need_key=False`` for commands that send nothing (``plan``): the key's variable may be unset."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(
            str(path), f"byte {exc.start}", "not UTF-8 text (a profile is a YAML or JSON file)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise ProfileError(
            str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    try:
        profile = Profile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ProfileError(str(path), _location(tuple(err["loc"])), err["msg"]) from None
    if catalogue is not None:
        check_against_catalogue(profile, catalogue, str(path), need_key)
    return profile


def _check_levels(profile: Profile, catalogue: Catalogue, where: str) -> None:
    """A level must exist and be claimable where it is claimed, or rules would silently vanish."""
    levels = catalogue.levels
    if levels is None:
        return
    if profile.level is not None:
        if profile.level not in levels.levels:
            known = ", ".join(levels.levels)
            raise ProfileError(where, "level", f"unknown level {profile.level!r}; known: {known}")
        if not any(profile.level in claimable(levels, s) for s in profile.surfaces):
            raise ProfileError(
                where, "level", f"{profile.level!r} applies to none of the claimed surfaces"
            )
    for surface, claim in profile.surfaces.items():
        allowed = claimable(levels, surface)
        if claim.level is not None and claim.level not in allowed:
            raise ProfileError(where, f"surfaces.{surface}.level",
                               f"{claim.level!r} cannot be claimed on {surface}; expected one of {', '.join(allowed)}")  # fmt: skip


def check_against_catalogue(
    profile: Profile, catalogue: Catalogue, where: str, need_key: bool = True
) -> None:
    known_surfaces = set(catalogue.surfaces)
    for surface, claim in profile.surfaces.items():
        if surface not in known_surfaces:
            raise ProfileError(
                where,
                f"surfaces.{surface}",
                f"unknown surface; expected one of {', '.join(sorted(known_surfaces))}",
            )
        known = catalogue.models_on(surface)
        for model in claim.models:
            if model not in known:
                raise ProfileError(
                    where,
                    f"surfaces.{surface}.models",
                    f"{model!r} is not documented on {surface}; documented: {', '.join(known)}",
                )
    _check_levels(profile, catalogue, where)
    ids = {rule.id for rule in catalogue}
    for i, waiver in enumerate(profile.waivers):
        if waiver.rule not in ids:
            raise ProfileError(
                where, f"waivers[{i}].rule", f"no rule {waiver.rule!r} in the catalogue"
            )
    for surface in profile.polling:
        if surface not in catalogue.defaults.polling:
            raise ProfileError(
                where,
                f"polling.{surface}",
                "no polling for this surface (only async surfaces poll)",
            )
    env = profile.credentials.env
    if need_key and env and not key_from_env(env):
        raise ProfileError(where, "credentials.env", f"environment variable {env} is not set")
    if need_key and env and _unsendable(key_from_env(env) or ""):
        raise ProfileError(
            where,
            "credentials.env",
            f"the key in {env} has a line break, a control character or a non-ASCII character in"
            " it: no HTTP header can carry it (its value is not shown)",
        )


def key_from_env(env: str | None) -> str | None:
    """An API key from the environment, without the whitespace around it (None: not set)."""
    value = os.environ.get(env) if env else None
    return value.strip() if value is not None else None


def _unsendable(text: str) -> bool:
    """Not sendable in an HTTP header as it is (httpx encodes header values as ASCII)."""
    return not (text.isascii() and text.isprintable())


def embedded_profile(
    catalogue: Catalogue, gateway_url: str, upstream_url: str, key_env: str, time_scale: float
) -> Profile:
    """The profile of the built-in stack: every surface, every documented model.

    Gateway surfaces are the reference gateway's; vendor surfaces are the vendor mock behind it,
    judged by the vendor rules at their own levels, so the mock is held to the same facts.
    """
    prefixes = {"tasks-action": "/action", "tasks-official": "/official"}
    surfaces = {
        name: {
            "base_url": (gateway_url if s.role == "gateway" else upstream_url)
            + prefixes.get(name, ""),
            "models": catalogue.models_on(name),
        }
        for name, s in catalogue.surfaces.items()
        if catalogue.models_on(name)
    }
    return Profile.model_validate(
        {
            "name": "embedded reference gateway",
            "surfaces": surfaces,
            "credentials": {"env": key_env},
            "recorder": upstream_url,
            "timeout_s": 30,
            "reference_image_url": f"{upstream_url}/__pixelproof/sample.png",
            "time_scale": time_scale,
            "url_age_header": True,
        }
    )
