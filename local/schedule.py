"""EventBridge schedule expressions, evaluated here so `make run` fires the app's schedules locally.

Pure (no I/O): `parse("cron(10 3 * * ? *)")` gives an expression whose `next_after(t)` is the first
firing strictly after the UTC instant `t`; `firings_between(expr, t0, t1)` lists those in (t0, t1].

What EventBridge accepts and this evaluator follows (times are UTC, as EventBridge's are):
- `cron(minutes hours day-of-month month day-of-week year)`: `*`, `?`, numbers, ranges `a-b`, lists
  `a,b`, steps `a/b`, `*/b`, `a-b/c`; month names JAN-DEC, weekday names SUN-SAT (1 = SUNDAY, as
  EventBridge counts); `L` (last day of the month, or `nL` the last weekday n of the month) and `n#k`
  (the k-th weekday n). One of day-of-month and day-of-week must be `?`. `W` is not supported.
- `rate(n minute|minutes|hour|hours|day|days)`: every n units. EventBridge counts from the moment
  the rule was created; here from the Unix epoch, so that a rate fires at the same instants on
  every run (and after a restart).
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import FrozenSet, Iterator, List, Optional, Tuple

MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
WEEKDAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Nothing fires in this many years: the expression names days that never come (31 FEB).
HORIZON_YEARS = 8


class ScheduleError(ValueError):
    """An expression EventBridge would refuse, or one this evaluator does not support."""


def _values(field: str, low: int, high: int, names: Optional[dict] = None) -> FrozenSet[int]:
    """The numbers a cron field names within [low, high]."""
    def number(text: str) -> int:
        text = text.upper()
        if names and text in names:
            return names[text]
        if not text.isdigit():
            raise ScheduleError(f"{text!r} is not a value of this field")
        value = int(text)
        if not low <= value <= high:
            raise ScheduleError(f"{value} is outside {low}-{high}")
        return value

    result = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step_text and (not step_text.isdigit() or step < 1):
            raise ScheduleError(f"bad step in {part!r}")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = number(first), number(last)
            if start > end:
                raise ScheduleError(f"range {base!r} runs backwards")
        else:
            start = number(base)
            end = high if step_text else start
        result.update(range(start, end + 1, step))
    return frozenset(result)


@dataclass(frozen=True)
class CronExpression:
    text: str
    minutes: FrozenSet[int]
    hours: FrozenSet[int]
    months: FrozenSet[int]
    years: FrozenSet[int]
    # Exactly one of the day rules applies (the other field is `?`).
    days_of_month: Optional[FrozenSet[int]]  # None: by weekday
    last_day_of_month: bool
    weekdays: Optional[FrozenSet[int]]  # 1 = Sunday; None: by day of month
    nth_weekday: Optional[Tuple[int, int]]  # (weekday, k): the k-th weekday of the month; k = -1: the last

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        weekday = (day.isoweekday() % 7) + 1  # Monday=1 in ISO → 2 in EventBridge; Sunday → 1
        if self.nth_weekday is not None:
            wanted, k = self.nth_weekday
            if weekday != wanted:
                return False
            if k == -1:
                return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
            return (day.day - 1) // 7 + 1 == k
        if self.weekdays is not None:
            return weekday in self.weekdays
        if self.last_day_of_month:
            return day.day == calendar.monthrange(day.year, day.month)[1]
        return day.day in self.days_of_month

    def next_after(self, instant: datetime) -> Optional[datetime]:
        instant = instant.astimezone(timezone.utc)
        day = instant.date()
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for _ in range(366 * HORIZON_YEARS):
            if self.day_matches(day):
                for hour in hours:
                    for minute in minutes:
                        candidate = datetime.combine(day, time(hour, minute), tzinfo=timezone.utc)
                        if candidate > instant:
                            return candidate
            day += timedelta(days=1)
        return None


@dataclass(frozen=True)
class RateExpression:
    text: str
    period: timedelta

    def next_after(self, instant: datetime) -> Optional[datetime]:
        periods = (instant.astimezone(timezone.utc) - EPOCH) // self.period
        return EPOCH + (periods + 1) * self.period


Expression = CronExpression | RateExpression

_RATE_UNITS = {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}


def _parse_cron(text: str, body: str) -> CronExpression:
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleError(f"{text}: a cron has 6 fields (minutes hours day-of-month month day-of-week year)")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"{text}: one of day-of-month and day-of-week must be '?', and only one")
    if "W" in dom.upper():
        raise ScheduleError(f"{text}: 'W' (nearest weekday) is not supported locally")
    days_of_month, last_day, weekdays, nth = None, False, None, None
    if dom != "?":
        if dom.upper() == "L":
            last_day = True
        else:
            days_of_month = _values(dom, 1, 31)
    else:
        upper = dow.upper()
        if "#" in upper:
            weekday, _, k = upper.partition("#")
            if not k.isdigit() or not 1 <= int(k) <= 5:
                raise ScheduleError(f"{text}: '#' takes 1-5")
            nth = (next(iter(_values(weekday, 1, 7, WEEKDAYS))), int(k))
        elif upper == "L":
            weekdays = frozenset({7})  # EventBridge: L alone in day-of-week is the week's last day, Saturday
        elif upper.endswith("L"):
            nth = (next(iter(_values(upper[:-1], 1, 7, WEEKDAYS))), -1)
        else:
            weekdays = _values(dow, 1, 7, WEEKDAYS)
    return CronExpression(text=text, minutes=_values(minute, 0, 59), hours=_values(hour, 0, 23),
                          months=_values(month, 1, 12, MONTHS), years=_values(year, 1970, 2199),
                          days_of_month=days_of_month, last_day_of_month=last_day, weekdays=weekdays,
                          nth_weekday=nth)


def parse(text: str) -> Expression:
    match = re.fullmatch(r"\s*(cron|rate)\((.*)\)\s*", text)
    if not match:
        raise ScheduleError(f"{text!r}: not a cron(...) or rate(...) expression")
    kind, body = match.groups()
    if kind == "cron":
        return _parse_cron(text, body)
    parts = body.split()
    if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1 or parts[1] not in _RATE_UNITS:
        raise ScheduleError(f"{text}: a rate is 'rate(N minutes|hours|days)' with N ≥ 1")
    value, unit = int(parts[0]), parts[1]
    if (value == 1) != (not unit.endswith("s")):
        raise ScheduleError(f"{text}: EventBridge wants 'rate(1 {unit.rstrip('s')})' and 'rate(N {unit.rstrip('s')}s)'")
    return RateExpression(text=text, period=timedelta(minutes=value * _RATE_UNITS[unit]))


def firings(expression: Expression, after: datetime) -> Iterator[datetime]:
    """Every firing strictly after `after`, in order."""
    current = expression.next_after(after)
    while current is not None:
        yield current
        current = expression.next_after(current)


def firings_between(expression: Expression, start: datetime, end: datetime) -> List[datetime]:
    """The firings in (start, end]."""
    result = []
    for instant in firings(expression, start):
        if instant > end:
            break
        result.append(instant)
    return result
