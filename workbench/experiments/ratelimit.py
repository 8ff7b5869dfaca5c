"""Pacing of model calls: a thread-safe token bucket and exponential backoff with jitter.

Written here rather than taken from a library: the bucket is twenty lines, and the popular packages
(ratelimit, limits, pyrate-limiter) either decorate functions, sleep while holding a lock, or pull in a
storage backend; the runner needs one shared object its worker threads block on.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_EPSILON = 1e-9


class RateLimiter:
    """A token bucket shared by threads: at most ``per_minute`` acquisitions a minute on average.

    Parameters
    ----------
    per_minute
        Sustained rate; must be > 0.
    burst
        Tokens the bucket holds when full (calls allowed at once after a quiet spell); default 1.
    clock, sleep
        Time source and sleep function (for tests).

    Raises
    ------
    ValueError
        If ``per_minute`` or ``burst`` is not positive.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError(f"rate limit needs per_minute > 0 and burst >= 1, got {per_minute}, {burst}")
        self.rate = per_minute / 60.0
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, blocking until one is available.

        Returns
        -------
        float
            Seconds spent waiting.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1 - _EPSILON:  # a refill after exactly the delay can round to 0.999...
                    self._tokens = max(0.0, self._tokens - 1)
                    return waited
                delay = (1 - self._tokens) / self.rate
            self._sleep(delay)  # outside the lock, so other threads can refill and compete
            waited += delay


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and Jitter").

    Attributes
    ----------
    attempts : int
        Tries in all, the first included.
    base_s : float
        Cap of the first wait; doubled for each further retry.
    max_s : float
        Largest cap of any one wait.
    """

    attempts: int = 6
    base_s: float = 1.0
    max_s: float = 60.0

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the waits before retries 1 .. attempts-1: uniform in [0, min(max_s, base_s * 2**i)]."""
        rng = rng or random.Random()
        for retry in range(self.attempts - 1):
            yield rng.uniform(0, min(self.max_s, self.base_s * 2**retry))
