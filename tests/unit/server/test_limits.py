"""Limits counted in one process: requests per minute, requests at once per key and per app."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from difychat.server.errors import RateLimited, TooManyRequests
from difychat.server.generation.limits import InProcessLimiter, KeyLimits
from difychat.server.services.keys import KeyCommandError, parse_expiry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_slide_with_the_clock_and_tell_when_to_retry() -> None:
    clock = Clock()
    limiter = InProcessLimiter(clock)
    key = KeyLimits("k", rpm=3)
    for at in (1000.0, 1010.0, 1030.0):
        clock.now = at
        limiter.take(key, "app", 0)
    # The fourth waits until the first is a minute old.
    with pytest.raises(RateLimited) as refused:
        limiter.take(key, "app", 0)
    assert refused.value.status == 429 and refused.value.code == "too_many_requests"
    assert refused.value.retry_after == 30
    assert "requests per minute allowed for this API key is 3" in refused.value.message
    clock.now = 1060.5
    limiter.take(key, "app", 0)  # the first left the window
    with pytest.raises(RateLimited) as again:
        limiter.take(key, "app", 0)
    assert again.value.retry_after == 10  # ceil(1070 - 1060.5)


def test_a_refused_request_is_not_counted() -> None:
    clock = Clock()
    limiter = InProcessLimiter(clock)
    key = KeyLimits("k", rpm=1)
    limiter.take(key, "app", 0)
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.take(key, "app", 0)
    clock.now += 60
    limiter.take(key, "app", 0)


def test_key_and_app_slots_are_taken_together_and_given_back_once() -> None:
    limiter = InProcessLimiter(Clock())
    key = KeyLimits("k", concurrency=2)
    first = limiter.take(key, "app", 3)
    second = limiter.take(key, "app", 3)
    with pytest.raises(RateLimited) as per_key:
        limiter.take(key, "app", 3)
    assert per_key.value.retry_after == 1
    assert "concurrent requests allowed for this API key is 2" in per_key.value.message
    # Another key of the same app takes the app's last slot; then the app is full.
    other = limiter.take(KeyLimits("other"), "app", 3)
    with pytest.raises(TooManyRequests) as per_app:
        limiter.take(KeyLimits("third"), "app", 3)
    assert not isinstance(per_app.value, RateLimited)
    assert per_app.value.message == (
        "Too many requests. Please try again later. "
        "The current maximum concurrent requests allowed for app is 3."
    )
    first.release()
    first.release()  # a second release gives nothing back
    limiter.take(key, "app", 3)
    with pytest.raises(TooManyRequests):
        limiter.take(KeyLimits("third"), "app", 3)
    second.release()
    other.release()
    limiter.take(KeyLimits("third"), "app", 3)


def test_a_request_refused_by_the_app_takes_nothing_from_its_key() -> None:
    clock = Clock()
    limiter = InProcessLimiter(clock)
    key = KeyLimits("k", rpm=2, concurrency=1)
    held = limiter.take(KeyLimits("other"), "app", 1)
    with pytest.raises(TooManyRequests):
        limiter.take(key, "app", 1)
    held.release()
    slot = limiter.take(key, "app", 1)  # neither the key's minute nor its slot were spent
    slot.release()
    limiter.take(key, "app", 1).release()
    with pytest.raises(RateLimited):
        limiter.take(key, "app", 1)


def test_unlimited_requests_hold_nothing() -> None:
    limiter = InProcessLimiter(Clock())
    for _ in range(1000):
        limiter.take(KeyLimits("k"), "app", 0)


NOW = datetime(2026, 12, 1, 10, 0, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW + timedelta(days=30)),
        ("12h", NOW + timedelta(hours=12)),
        ("2w", NOW + timedelta(weeks=2)),
        ("2027-01-31", datetime(2027, 1, 31)),
        ("2027-01-31T12:30", datetime(2027, 1, 31, 12, 30)),
        ("2027-01-31T12:30:00+02:00", datetime(2027, 1, 31, 10, 30)),
        ("2027-01-31T12:30:00Z", datetime(2027, 1, 31, 12, 30)),
    ],
)
def test_an_expiry_is_a_duration_or_a_utc_date(text: str, expected: datetime) -> None:
    assert parse_expiry(text, NOW) == expected


@pytest.mark.parametrize("text", ["0d", "2026-11-30", "2026-12-01T10:00", "soon", "30", "-3d", "3 days"])
def test_an_expiry_that_is_unreadable_or_not_in_the_future_is_refused(text: str) -> None:
    with pytest.raises(KeyCommandError):
        parse_expiry(text, NOW)
