"""Where a surface's requests go, and which gateway surface builds its requests.

The gateway's Gemini entry and Google's own API share one request shape, as do the gateway's
Jimeng official format and the Volcengine visual API (only the path differs): the planner builds a
vendor surface's requests as its gateway twin's (``twin``). OpenAI, xAI and Ark take the OpenAI
Images body with their own defaults. Answers are read by ``dialect(surface)`` in this package.
"""

from __future__ import annotations

TWINS = {"gemini-vendor": "gemini", "jimeng-visual": "jimeng-official"}
# Where each surface's image endpoint lives, when it is not /v1/images/generations.
JIMENG_PATHS = {"jimeng-official": "/jm", "jimeng-visual": "/"}
ARK_PATH = "/api/v3/images/generations"
# A pixelproof mock serves an image URL fetched with this header as if the file were that many
# seconds old: how a run judges a documented URL lifetime (24 h) without waiting for it.
FILE_AGE_HEADER = "X-Pixelproof-File-Age"
# A prompt carrying this asks the pixelproof mock upstream to fail that one request
# (mode 503: an HTML 503 page; drop: the connection closes mid-answer). See mock/failing.py.
UPSTREAM_FAILURE = "[pixelproof-upstream:{mode}]"


def twin(surface: str) -> str:
    """The gateway surface whose requests ``surface`` takes (itself when it has none)."""
    return TWINS.get(surface, surface)


def jimeng_path(surface: str) -> str:
    return JIMENG_PATHS.get(surface, "/jm")
