"""The token bucket and the backoff, on a fake clock (no timing asserts)."""

from __future__ import annotations

import random
import threading

import pytest

from workbench.experiments.ratelimit import Backoff, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_bucket_paces_to_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(120, clock=clock, sleep=clock.sleep)  # 2 per second
    for _ in range(5):
        limiter.acquire()
    assert clock.now == pytest.approx(2.0)  # the first is free, then one every 0.5 s
    assert clock.sleeps == pytest.approx([0.5] * 4)


def test_burst_allows_calls_at_once_after_a_quiet_spell() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert limiter.acquire() == 0
    assert limiter.acquire() == pytest.approx(1.0)
    clock.now += 100  # refills to the burst, not beyond
    for _ in range(3):
        assert limiter.acquire() == 0
    assert limiter.acquire() > 0


def test_threads_share_one_bucket() -> None:
    lock = threading.Lock()
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.sleep(seconds)

    limiter = RateLimiter(600, clock=clock, sleep=sleep)  # 10 per second
    threads = [threading.Thread(target=limiter.acquire) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now >= 1.9  # 20 acquisitions at 10/s: at least 19 intervals of 0.1 s were slept


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="per_minute > 0"):
        RateLimiter(0)


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    backoff = Backoff(attempts=6, base_s=1.0, max_s=8.0)
    rng = random.Random(1)
    samples = [list(backoff.delays(rng)) for _ in range(200)]
    assert all(len(s) == 5 for s in samples)
    caps = [1, 2, 4, 8, 8]
    for i, cap in enumerate(caps):
        values = [s[i] for s in samples]
        assert all(0 <= v <= cap for v in values)
        assert max(values) > cap * 0.8  # jitter spans the range
