"""The product's clock under `make run`: the system clock, or a demo clock that starts on another day
(`DEMO_DATE`) and may run faster (`DEMO_SPEED`), handed to the app through the composition root
(`bootstrap.build(settings, clock=...)`), so the API, the jobs and the local scheduler read one time.

A demo clock never passes a schedule's firing that has not run: the scheduler `hold`s it at the next
firing and lets it go once the handlers ran. So at a high speed the clock waits for the jobs (it is a
ceiling, not a promise), every job sees the instant it was scheduled for, and none is skipped.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, time as day_time, timedelta, timezone
from typing import Callable, Mapping, Optional

from chalicelib.domain.clock import SAO_PAULO, system_clock


class DemoClock:
    """`now()` = where it was anchored + real time elapsed × speed, never past `hold`'s instant."""

    def __init__(self, start: datetime, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._anchor = start.astimezone(timezone.utc)
        self._anchor_real = monotonic()
        self._limit: Optional[datetime] = self._anchor  # held at its start until the scheduler lets it go

    def __call__(self) -> datetime:
        with self._lock:
            return self._read()

    def _read(self) -> datetime:
        now = self._anchor + timedelta(seconds=(self._monotonic() - self._anchor_real) * self.speed)
        if self._limit is not None and now >= self._limit:
            # Pinned at the limit; re-anchored there, so it goes on from it (no jump) when let go.
            self._anchor, self._anchor_real = self._limit, self._monotonic()
            return self._limit
        return now

    def hold(self, limit: Optional[datetime]) -> None:
        """Do not pass `limit` (None: run freely). The time spent at the old limit (a job running)
        does not count: the clock goes on from it."""
        with self._lock:
            self._read()
            self._limit = limit

    def jump_to(self, instant: datetime) -> None:
        """Move forward to `instant` at once; an instant already passed leaves it where it is (time
        only goes on)."""
        with self._lock:
            if instant <= self._read():
                return
            self._anchor, self._anchor_real = instant.astimezone(timezone.utc), self._monotonic()
            if self._limit is not None and self._limit < self._anchor:
                self._limit = self._anchor


def start_of_day(day: date) -> datetime:
    """Midnight in São Paulo, the product's calendar, as a UTC instant."""
    return datetime.combine(day, day_time(0), tzinfo=SAO_PAULO).astimezone(timezone.utc)


@dataclass(frozen=True)
class ClockChoice:
    clock: Callable[[], datetime]  # a DemoClock or the system clock
    start: datetime  # where it starts
    note: str  # what `make run` prints about it
    # A DEMO_DATE after where the saved clock stopped: the scheduler moves the clock there firing by
    # firing, each job at its own instant (none skipped), then the clock runs from it.
    fast_forward_to: Optional[datetime] = None


def choose(environ: Mapping[str, str], saved: Optional[datetime]) -> ClockChoice:
    """The clock for this run, from DEMO_DATE / DEMO_SPEED and where the last run's clock stopped.

    Time never goes back on a restart: a saved position later than the asked day (or than today)
    wins. Raises ValueError for a malformed setting (said at start, before anything runs)."""
    raw_date, raw_speed = environ.get("DEMO_DATE", "").strip(), environ.get("DEMO_SPEED", "").strip()
    try:
        asked = start_of_day(date.fromisoformat(raw_date)) if raw_date else None
    except ValueError:
        raise ValueError(f"DEMO_DATE={raw_date!r}: use a date as 2026-12-21") from None
    try:
        speed = float(raw_speed) if raw_speed else 1.0
    except ValueError:
        raise ValueError(f"DEMO_SPEED={raw_speed!r}: a number (3600 = an hour per second)") from None
    if speed <= 0:
        raise ValueError(f"DEMO_SPEED={raw_speed!r}: must be positive")
    real_now = system_clock()
    if asked is None and saved is None and speed == 1.0:
        return ClockChoice(system_clock, real_now, "the system clock")
    candidates = [t for t in (asked, saved) if t is not None] or [real_now]
    if asked is None and saved is not None and speed == 1.0 and saved <= real_now:
        # The last run used the system clock (or a demo clock now overtaken by real time).
        return ClockChoice(system_clock, real_now, "the system clock")
    start = max(candidates)
    forward = None
    if saved is not None and start > saved:
        start, forward = saved, start
    note = f"demo clock from {start.astimezone(SAO_PAULO):%d/%m/%Y %H:%M} (São Paulo)"
    if forward is not None:
        note += f", fast-forwarded to {forward.astimezone(SAO_PAULO):%d/%m/%Y %H:%M} firing every schedule on the way"
    if saved is not None and asked is not None and saved > asked:
        note += f"; DEMO_DATE={raw_date} is before where the saved data's clock stopped: it goes on from there"
    if speed != 1.0:
        note += f", {speed:g}× real time"
    return ClockChoice(DemoClock(start, speed), start, note, forward)
