"""The email worker's pace (issue #22 §5): SES accepts at most the account's sending rate (emails per
second, its quota); beyond it, it answers Throttling. Each concurrent worker sends at its share of
that rate, through a token bucket. Pure: the clock and the sleep are handed in."""
from __future__ import annotations

from typing import Callable, Optional


def share(max_send_rate: float, concurrency: int) -> float:
    """Each of `concurrency` workers' rate, so that all of them together stay within the quota."""
    if max_send_rate <= 0 or concurrency < 1:
        raise ValueError("the send rate must be positive and the concurrency at least 1")
    return max_send_rate / concurrency


def batch_seconds(batch_size: int, rate: float) -> float:
    """How long a full batch takes at `rate` (its first send at once): what the function's timeout
    must allow, beside the sends themselves."""
    return max(0, batch_size - 1) / rate


class NoTimeToWait(Exception):
    """The pace would have a send wait longer than the caller can (`SendPacer.__call__`'s max_wait)."""


class SendPacer:
    """A token bucket: at most `rate` emails a second on average, `burst` of them at once. Called
    before each send with its number of recipients, it sleeps as long as the bucket needs and answers how long it slept. A bucket
    drawn below zero is a debt: the next send waits for it (the clock, not the sleep, says how much
    time has passed)."""

    def __init__(self, rate: float, clock: Callable[[], float], sleep: Callable[[float], None],
                 burst: float = 1.0):
        if rate <= 0:
            raise ValueError("the send rate must be positive")
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self._capacity = max(1.0, burst)
        self._tokens = self._capacity
        self._last = clock()

    def __call__(self, cost: float = 1, max_wait: Optional[float] = None) -> float:
        """Before a send of `cost` emails (SES counts each recipient against the rate). With
        `max_wait`, a wait longer than that is not slept: NoTimeToWait is raised and nothing taken
        from the bucket (the send is not made)."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= cost:
            self._tokens -= cost
            return 0.0
        wait = (cost - self._tokens) / self.rate
        if max_wait is not None and wait > max_wait:
            raise NoTimeToWait(f"a send of {cost} would wait {wait:.1f} s, more than {max(0.0, max_wait):.1f} s")
        self._tokens -= cost
        self._sleep(wait)
        return wait
