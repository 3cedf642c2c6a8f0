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

from importlib.metadata import PackageNotFoundError, version

from pixelproof.catalogue import Catalogue, CatalogueError, Rule, default_catalogue, load_catalogue
from pixelproof.judging.evaluate import evaluate
from pixelproof.judging.evidence import Judged, NotJudged, observe_case
from pixelproof.judging.failures import RuleFailure
from pixelproof.judging.verdicts import judge
from pixelproof.observe import Observer, TargetError
from pixelproof.plan import Case, cases_for
from pixelproof.target import Profile, ProfileError, embedded_profile, load_profile

try:
    __version__ = version("pixelproof")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0+unknown"

__all__ = [
    "Case",
    "Catalogue",
    "CatalogueError",
    "Judged",
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
