"""The shared back-off rule: doubling from the first delay, capped, jitter within its range."""

from __future__ import annotations

import pytest

from agent.backoff import Backoff


def test_delay_doubles_from_the_first_and_stops_at_the_cap() -> None:
    rule = Backoff(first=0.5, cap=30.0)
    assert [rule.delay(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_no_failure_yet_waits_the_first_delay_and_huge_counts_stay_at_the_cap() -> None:
    rule = Backoff(first=2.0, cap=60.0)
    assert rule.delay(0) == 2.0
    assert rule.delay(10**9) == 60.0


@pytest.mark.parametrize("failures", [1, 3, 12])
def test_jitter_stays_within_its_range_and_varies(failures: int) -> None:
    rule = Backoff(first=1.0, cap=60.0, jitter=(0.8, 1.2))
    plain = Backoff(first=1.0, cap=60.0).delay(failures)
    delays = {rule.delay(failures) for _ in range(200)}
    assert all(0.8 * plain <= d <= 1.2 * plain for d in delays)
    assert len(delays) > 100, "a fleet must not retry in step"
