"""The poller keeps the documented cadence on an injected clock, and a deadline ends it."""

from __future__ import annotations

import pytest

from pixelproof.catalogue import Catalogue
from pixelproof.polling import FLOOR_S, MAX_POLLS, Cadence, poll
from pixelproof.target import Profile


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


DOCUMENTED = Cadence(initial_delay_s=10, interval_s=3, max_interval_s=5, timeout_s=180)


def test_first_query_waits_then_intervals_grow_within_the_documented_range() -> None:
    clock = FakeClock()
    states = iter(["queued", "processing", "processing", "processing", "completed"])
    result = poll(lambda: (next(states), None), DOCUMENTED, sleep=clock.sleep, clock=clock)
    assert result.status == "completed"
    assert clock.sleeps[0] == 10  # seed 004: first query after 10-20 s
    assert all(3 <= s <= 5 for s in clock.sleeps[1:])  # then every 3-5 s
    assert result.times == pytest.approx([10, 13, 17.5, 22.5, 27.5])


def test_a_stuck_task_ends_at_the_deadline_never_a_hang() -> None:
    clock = FakeClock()
    result = poll(lambda: ("processing", None), DOCUMENTED, sleep=clock.sleep, clock=clock)
    assert result.deadline_exceeded
    assert result.status == "processing"
    assert result.times[-1] <= 180
    assert len(result.times) < 60


def test_an_unusable_answer_stops_polling() -> None:
    clock = FakeClock()
    result = poll(lambda: (None, "HTTP 500"), DOCUMENTED, sleep=clock.sleep, clock=clock)
    assert result.status is None
    assert result.answers == ["HTTP 500"]
    assert not result.deadline_exceeded


def test_cadence_comes_from_the_documents_and_scales_with_a_fast_clock(
    catalogue: Catalogue,
) -> None:
    base = {
        "surfaces": {
            "tasks-official": {"base_url": "http://127.0.0.1:1", "models": ["gpt_image_2_official"]}
        }
    }
    real = Cadence.for_surface(catalogue, Profile.model_validate(base), "tasks-official")
    assert (real.initial_delay_s, real.interval_s, real.max_interval_s, real.timeout_s) == (
        10,
        3,
        5,
        180,
    )
    fast = Cadence.for_surface(
        catalogue, Profile.model_validate({**base, "time_scale": 1000}), "tasks-official"
    )
    assert fast.interval_s >= FLOOR_S  # 3 s / 1000 is below the floor
    assert fast.timeout_s >= 5  # a real-time floor: a fast clock does not speed up the CPU
    # the poll cap never ends a poll before its deadline
    assert fast.initial_delay_s + (fast.max_polls - 1) * fast.interval_s >= fast.timeout_s
    tenfold = Cadence.for_surface(
        catalogue, Profile.model_validate({**base, "time_scale": 10}), "tasks-official"
    )
    assert (tenfold.initial_delay_s, tenfold.interval_s) == pytest.approx((1.0, 0.3))
    override = Profile.model_validate({**base, "polling": {"tasks-official": {"interval_s": 4}}})
    assert Cadence.for_surface(catalogue, override, "tasks-official").interval_s == 4


@pytest.mark.parametrize("surface", ["tasks-official", "tasks-action", "jimeng-official"])
def test_a_very_fast_clock_never_polls_faster_than_the_floor_nor_more_than_the_cap(
    catalogue: Catalogue, surface: str
) -> None:
    """A profile saying time_scale 1e6 once meant ~140,000 polls of a stuck task."""
    models = {"tasks-official": "gpt_image_2_official", "tasks-action": "gpt-image-2",
              "jimeng-official": "jimeng_t2i_v40"}  # fmt: skip
    profile = Profile.model_validate({
        "surfaces": {surface: {"base_url": "http://127.0.0.1:1", "models": [models[surface]]}},
        "time_scale": 1_000_000,
    })  # fmt: skip
    cadence = Cadence.for_surface(catalogue, profile, surface)
    clock = FakeClock()
    result = poll(lambda: ("processing", None), cadence, sleep=clock.sleep, clock=clock)
    assert result.deadline_exceeded
    assert min(clock.sleeps) >= FLOOR_S
    assert len(result.times) <= MAX_POLLS


def test_the_poll_cap_ends_a_stuck_task_before_a_generous_deadline() -> None:
    clock = FakeClock()
    cadence = Cadence(
        initial_delay_s=1, interval_s=1, max_interval_s=1, timeout_s=10_000, max_polls=7
    )
    result = poll(lambda: ("processing", None), cadence, sleep=clock.sleep, clock=clock)
    assert result.deadline_exceeded
    assert len(result.times) == 7
    assert len(poll(lambda: ("processing", None), cadence.impatient(), sleep=clock.sleep,
                    clock=clock).times) == 3  # fmt: skip
