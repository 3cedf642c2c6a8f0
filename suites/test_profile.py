"""The profile itself: an expired waiver fails the run until it is renewed or removed."""

from __future__ import annotations

import datetime as dt

import pytest

from pixelproof.plugin import PixelproofSession


def test_waivers_not_expired(pixelproof: PixelproofSession) -> None:
    expired = [w for w in pixelproof.profile.waivers if w.expired()]
    if expired:
        listing = "; ".join(f"{w.rule} ({w.reason}) expired {w.expires}" for w in expired)
        pytest.fail(
            f"expired waiver(s) in the profile, renew or remove them: {listing} (today {dt.date.today()})"
        )
