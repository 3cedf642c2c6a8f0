"""pixelproof: prove that an image-generation gateway or vendor endpoint does what its documents say.

The public API, for people writing their own suite or tooling on top of the catalogue::

    import pixelproof

    catalogue = pixelproof.load_catalogue()                  # the rules, from the shipped contracts
    profile = pixelproof.load_profile("target.yaml", catalogue)  # what a target claims
    observer = pixelproof.Observer(catalogue, profile)       # sends each distinct request once
    for case in pixelproof.cases_for(catalogue, profile):    # rule x model
        try:
            pixelproof.judge(pixelproof.observe_case(observer, case))
        except pixelproof.RuleFailure as failure:            # a broken promise, speaking
            print(failure)

``evaluate`` does that loop for you, with outcomes per case. Everything else is internal and may
move between releases.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pixelproof.catalogue import (
        Catalogue,
        CatalogueError,
        Rule,
        default_catalogue,
        load_catalogue,
    )
    from pixelproof.judging.evaluate import evaluate
    from pixelproof.judging.evidence import Evidence, NotJudged, observe_case
    from pixelproof.judging.failures import RuleFailure
    from pixelproof.judging.verdicts import judge
    from pixelproof.observe import Observer, TargetError
    from pixelproof.plan import Case, cases_for
    from pixelproof.target import Profile, ProfileError, embedded_profile, load_profile

# Where each public name lives. Imported on first use (PEP 562), so `import pixelproof` and every
# CLI command stay cheap: `pixelproof rules` need not load the observer, Pillow or the verdicts.
_WHERE = {
    "Catalogue": "pixelproof.catalogue",
    "CatalogueError": "pixelproof.catalogue",
    "Rule": "pixelproof.catalogue",
    "default_catalogue": "pixelproof.catalogue",
    "load_catalogue": "pixelproof.catalogue",
    "evaluate": "pixelproof.judging.evaluate",
    "Evidence": "pixelproof.judging.evidence",
    "NotJudged": "pixelproof.judging.evidence",
    "observe_case": "pixelproof.judging.evidence",
    "RuleFailure": "pixelproof.judging.failures",
    "judge": "pixelproof.judging.verdicts",
    "Observer": "pixelproof.observe",
    "TargetError": "pixelproof.observe",
    "Case": "pixelproof.plan",
    "cases_for": "pixelproof.plan",
    "Profile": "pixelproof.target",
    "ProfileError": "pixelproof.target",
    "embedded_profile": "pixelproof.target",
    "load_profile": "pixelproof.target",
}


def _version() -> str:
    """The installed distribution's version, read on first use like the names above: importing
    importlib.metadata (email, zipfile, csv...) costs ~40 ms of CPU, which every process that
    imports pixelproof paid; one that builds no pydantic model (whose plugin lookup imports it
    too) never needs it: the quick-exit and Pillow checks' children, `python -c` tools."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pixelproof")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    if name not in _WHERE:
        raise AttributeError(f"module 'pixelproof' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Case",
    "Catalogue",
    "CatalogueError",
    "Evidence",
    "NotJudged",
    "Observer",
    "Profile",
    "ProfileError",
    "Rule",
    "RuleFailure",
    "TargetError",
    "__version__",
    "cases_for",
    "default_catalogue",
    "embedded_profile",
    "evaluate",
    "judge",
    "load_catalogue",
    "load_profile",
    "observe_case",
]
