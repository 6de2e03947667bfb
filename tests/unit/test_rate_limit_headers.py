"""Token arithmetic of the shared buckets and the rate-limit headers a client reads."""

from __future__ import annotations

from api.ratelimit import Verdict, lease_size
from tables.ratelimits import grant, refill


def test_refill_is_capped_at_the_burst_and_ignores_clock_going_back() -> None:
    assert refill(0.0, 10.0, 12.5, rate=2.0, burst=100) == 5.0
    assert refill(90.0, 10.0, 100.0, rate=2.0, burst=100) == 100.0
    assert refill(3.0, 10.0, 9.0, rate=2.0, burst=100) == 3.0


def test_grant_takes_whole_tokens_and_says_when_to_retry() -> None:
    assert grant(7.9, 5, rate=1.0).granted == 5
    partial = grant(2.5, 5, rate=1.0)
    assert (partial.granted, partial.left) == (2, 0.5)
    none = grant(0.25, 5, rate=2.0)
    assert (none.granted, none.retry_after) == (0, 0.375)


def test_a_lease_is_a_tenth_of_a_second_of_traffic_and_at_most_a_tenth_of_the_burst() -> None:
    assert lease_size(100.0, 200) == 10
    assert lease_size(10_000.0, 200) == 20
    assert lease_size(5.0, 10) == 1


def test_headers_follow_the_ietf_draft_and_the_x_ratelimit_convention() -> None:
    ok = Verdict(allowed=True, limit=200, remaining=150, reset=1, window=2, retry_after=1)
    refused = Verdict(allowed=False, limit=200, remaining=0, reset=2, window=2, retry_after=1)

    assert ok.headers() == {
        "RateLimit-Policy": '"key";q=200;w=2',
        "RateLimit": '"key";r=150;t=1',
        "X-RateLimit-Limit": "200",
        "X-RateLimit-Remaining": "150",
        "X-RateLimit-Reset": "1",
    }
    assert refused.headers()["Retry-After"] == "1"
    assert "Retry-After" not in ok.headers()
