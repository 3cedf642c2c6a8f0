"""One module per API dialect: the only place that knows where a surface's answer keeps its
images, its task id and its task status. Everything else asks ``dialect(surface)``."""

from __future__ import annotations

from pixelproof.surfaces.base import Dialect, ImageRef
from pixelproof.surfaces.gemini import Gemini
from pixelproof.surfaces.jimeng import Jimeng
from pixelproof.surfaces.openai import OpenAIImages
from pixelproof.surfaces.tasks import ACTION, OFFICIAL

_OPENAI = OpenAIImages()
_GEMINI = Gemini(urls=True)  # the gateway entry: seed 000's "inlineData or URL"
_GEMINI_VENDOR = Gemini(urls=False)  # Google's API: inlineData
_JIMENG = Jimeng()

# Surface name (as profiles and rules say it) -> its dialect. Vendor surfaces included.
DIALECTS: dict[str, Dialect] = {
    "unified": _OPENAI,
    "gemini": _GEMINI,
    "jimeng-official": _JIMENG,
    "tasks-action": ACTION,
    "tasks-official": OFFICIAL,
    "openai": _OPENAI,
    "xai": _OPENAI,
    "ark": _OPENAI,
    "gemini-vendor": _GEMINI_VENDOR,
    "jimeng-visual": _JIMENG,
}


def dialect(surface: str) -> Dialect:
    """The dialect of ``surface`` (a KeyError names a surface no module speaks: add it here)."""
    try:
        return DIALECTS[surface]
    except KeyError:
        raise KeyError(f"no dialect for surface {surface!r}; known: {sorted(DIALECTS)}") from None


__all__ = ["DIALECTS", "Dialect", "ImageRef", "dialect"]
