"""Time as the domain sees it: aware UTC instants, billing days in America/Sao_Paulo.

Services take a `Clock` so tests travel in time without patching.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

SAO_PAULO = ZoneInfo("America/Sao_Paulo")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class FixedClock:
    """A clock for tests and simulations: returns `now` until moved."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(**delta)


def local_day(instant: datetime) -> date:
    """The calendar day in São Paulo of an instant."""
    return instant.astimezone(SAO_PAULO).date()


def iso(instant: datetime) -> str:
    """ISO 8601 with offset, seconds precision is not enough for ordering so keep microseconds."""
    return instant.astimezone(timezone.utc).isoformat()
