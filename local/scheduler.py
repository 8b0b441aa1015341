"""Fires the app's scheduled functions under `make run`, as EventBridge does on AWS.

The schedules are read from the app itself (Chalice's `app.event_sources`: every `@schedule` of every
blueprint, with its expression), and each firing calls the handler Lambda runs
(`app.handler_map[name]`) with the event EventBridge sends. Firings run in order of their instant
(then of declaration), each once; a handler that raises is logged and the next firing goes on.

With a demo clock (`local.demo_clock.DemoClock`) the scheduler holds the clock at the next firing
until it has run, so a fast clock cannot pass a job, and each job reads the instant it was due.
With the system clock it fires when real time comes (nothing is replayed for the time `make run`
was stopped, as on AWS).
"""
from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, List, Optional, Tuple

from chalice.app import ScheduledEventConfig

from local.event_pump import LambdaContext
from local.schedule import Expression, parse

log = logging.getLogger("csp_portal.local.scheduler")

ACCOUNT_ID = "123456789012"
# How long the scheduler sleeps at most between looks at the clock (it also wakes to stop).
MAX_NAP_SECONDS = 0.5


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: Expression
    handler: Callable
    # A schedule whose one run catches up on everything since its last (webhooks' outbox dispatcher,
    # every minute): a fast-forward runs it only before another schedule's firing and at the end,
    # not once per minute of the jump (thousands of firings for a few demo days).
    catch_up: bool = False


# Webhooks (issue #21 §3): the outbox's dispatcher drains every pending event in one run.
CATCH_UP_SCHEDULES = frozenset({"dispatch_webhook_events"})


def app_schedules(app) -> List[Schedule]:
    """Every scheduled function the app declares, in declaration order."""
    result = []
    for config in app.event_sources:
        if isinstance(config, ScheduledEventConfig):
            expression = config.schedule_expression
            text = expression if isinstance(expression, str) else expression.to_string()
            result.append(Schedule(config.name, parse(text), app.handler_map[config.name],
                                   catch_up=config.name in CATCH_UP_SCHEDULES))
    return result


def scheduled_event(name: str, instant: datetime, region: str) -> dict:
    """The event EventBridge hands a scheduled Lambda."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT_ID, "time": instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region, "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/csp-portal-{name}"],
        "detail": {},
    }


def next_firing(schedules: List[Schedule], after: datetime) -> Tuple[Optional[datetime], List[Schedule]]:
    """The first instant after `after` at which something fires, and what fires then (in declaration order)."""
    best, group = None, []
    for item in schedules:
        instant = item.expression.next_after(after)
        if instant is None:
            continue
        if best is None or instant < best:
            best, group = instant, [item]
        elif instant == best:
            group.append(item)
    return best, group


def due_between(schedules: List[Schedule], start: datetime, end: datetime) -> List[Tuple[datetime, Schedule]]:
    """Every firing in (start, end], in the order the scheduler runs them."""
    result = []
    instant, group = next_firing(schedules, start)
    while instant is not None and instant <= end:
        result.extend((instant, item) for item in group)
        instant, group = next_firing(schedules, instant)
    return result


class Scheduler:
    def __init__(self, schedules: List[Schedule], clock: Callable[[], datetime], region: str,
                 cursor: datetime, fast_forward_to: Optional[datetime] = None):
        self.schedules = schedules
        self._clock = clock
        self._region = region
        # The last instant whose firings have all run: the next firing is strictly after it.
        self.cursor = cursor
        self._fast_forward_to = fast_forward_to
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.fired = 0

    @property
    def _holds_the_clock(self) -> bool:
        return hasattr(self._clock, "hold")

    def fire(self, item: Schedule, instant: datetime) -> bool:
        """Run one firing through its Lambda handler; False when the handler raised (logged)."""
        try:
            item.handler(scheduled_event(item.name, instant, self._region), LambdaContext(item.name))
            return True
        except Exception:  # noqa: BLE001 - as EventBridge: this firing failed, the schedule goes on
            log.exception("scheduled %s at %s failed", item.name, instant.isoformat())
            return False
        finally:
            self.fired += 1

    def step(self) -> Optional[datetime]:
        """Wait (at most a nap) for the next firing and run it when the clock reaches it; returns the
        instant it ran, or None when it is not time yet."""
        instant, group = next_firing(self.schedules, self.cursor)
        if instant is None:
            self._stop.wait(MAX_NAP_SECONDS)
            return None
        if self._holds_the_clock:
            self._clock.hold(instant)
        now = self._clock()
        if now < instant:
            speed = getattr(self._clock, "speed", 1.0)
            self._stop.wait(min(MAX_NAP_SECONDS, (instant - now).total_seconds() / speed))
            return None
        self._run(instant, group)
        return instant

    def fast_forward(self) -> int:
        """Move a demo clock to `fast_forward_to`, stopping at every firing on the way to run it."""
        target, count = self._fast_forward_to, 0
        if target is None:
            return 0
        instant, group = next_firing(self.schedules, self.cursor)
        while instant is not None and instant <= target and not self._stop.is_set():
            self._clock.jump_to(instant)
            group = [item for item in group if not self._caught_up_later(item, instant, target)]
            self._run(instant, group)
            count += len(group)
            instant, group = next_firing(self.schedules, instant)
        if not self._stop.is_set():
            self._clock.jump_to(target)
            self._fast_forward_to = None
        return count

    def _caught_up_later(self, item: Schedule, instant: datetime, target: datetime) -> bool:
        """A catch-up schedule's firing is left to its next one when that comes before anything else
        fires (and before the jump's end): the next one does the same work, for this one too."""
        if not item.catch_up:
            return False
        following = item.expression.next_after(instant)
        others = [t for t in (s.expression.next_after(instant) for s in self.schedules if not s.catch_up)
                  if t is not None]
        return following is not None and following <= target and (not others or following < min(others))

    def _run(self, instant: datetime, group: List[Schedule]) -> None:
        for item in group:
            log.debug("firing %s (%s) for %s", item.name, item.expression.text, instant.isoformat())
            self.fire(item, instant)
        self.cursor = instant

    def _loop(self) -> None:
        if self._fast_forward_to is not None:
            target = self._fast_forward_to
            try:
                log.info("fast-forwarding the demo clock to %s: %d firing(s) run", target.isoformat(),
                         self.fast_forward())
            except Exception:  # noqa: BLE001 - the clock then runs on from where it got to
                log.exception("fast-forwarding the demo clock to %s stopped", target.isoformat())
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001 - the scheduler outlives a bad moment; handlers' own errors are caught in fire()
                log.exception("scheduler error")
                self._stop.wait(1)
        if self._holds_the_clock:
            # Stopped: the clock stays before the next firing (it runs on the next start).
            self._clock.hold(next_firing(self.schedules, self.cursor)[0])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """No new firing from now on: `stop` then waits for the one under way."""
        self._stop.set()

    def stop(self, timeout: float = 30) -> None:
        """Stops after the firing under way, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)


def initial_cursor(start: datetime) -> datetime:
    """A fresh start: what fires at the clock's very first instant fires too."""
    return start - timedelta(microseconds=1)
