"""`make run`'s scheduler: EventBridge expressions evaluated locally, which firings fall between two
instants, the demo clock, and every schedule the app declares picked up and fired in order."""
import ast
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local import demo_clock
from local.demo_clock import DemoClock, start_of_day
from local.schedule import ScheduleError, firings_between, parse
from local.scheduler import Schedule, Scheduler, app_schedules, due_between, initial_cursor, scheduled_event

ROOT = Path(__file__).resolve().parents[2]


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


# --- expressions ------------------------------------------------------------------------------------

def test_a_daily_cron_fires_at_its_utc_minute_once_a_day():
    billing = parse("cron(10 3 * * ? *)")
    assert billing.next_after(utc(2026, 12, 21, 3, 0)) == utc(2026, 12, 21, 3, 10)
    assert billing.next_after(utc(2026, 12, 21, 3, 10)) == utc(2026, 12, 22, 3, 10)  # strictly after
    assert firings_between(billing, utc(2026, 12, 20), utc(2026, 12, 23)) == [
        utc(2026, 12, 20, 3, 10), utc(2026, 12, 21, 3, 10), utc(2026, 12, 22, 3, 10)]


def test_steps_ranges_and_lists_in_minutes_and_hours():
    assert [t.minute for t in firings_between(parse("cron(0/15 * * * ? *)"), utc(2026, 1, 1, 10, 0),
                                                utc(2026, 1, 1, 11, 0))] == [15, 30, 45, 0]
    assert [t.hour for t in firings_between(parse("cron(0 8-10,14 * * ? *)"), utc(2026, 1, 1),
                                            utc(2026, 1, 1, 23))] == [8, 9, 10, 14]
    assert [t.minute for t in firings_between(parse("cron(*/20 5 * * ? *)"), utc(2026, 1, 1, 5, 0),
                                              utc(2026, 1, 1, 6))] == [20, 40]
    assert [t.minute for t in firings_between(parse("cron(10-30/10 5 * * ? *)"), utc(2026, 1, 1),
                                              utc(2026, 1, 1, 6))] == [10, 20, 30]


def test_weekday_names_count_from_sunday_as_eventbridge_does():
    # 2026-12-21 is a Monday: MON and 2 are the same day; 1 is Sunday.
    assert parse("cron(0 12 ? * MON *)").next_after(utc(2026, 12, 19)) == utc(2026, 12, 21, 12)
    assert parse("cron(0 12 ? * 2 *)").next_after(utc(2026, 12, 19)) == utc(2026, 12, 21, 12)
    assert parse("cron(0 12 ? * 1 *)").next_after(utc(2026, 12, 19)) == utc(2026, 12, 20, 12)
    weekdays = firings_between(parse("cron(0 9 ? * MON-FRI *)"), utc(2026, 12, 19), utc(2026, 12, 27))
    assert [t.day for t in weekdays] == [21, 22, 23, 24, 25]


def test_months_years_last_day_and_nth_weekday():
    assert parse("cron(0 0 1 JAN,JUL ? *)").next_after(utc(2026, 2, 1)) == utc(2026, 7, 1)
    assert parse("cron(0 0 L * ? *)").next_after(utc(2027, 2, 1)) == utc(2027, 2, 28)
    assert parse("cron(0 0 L * ? *)").next_after(utc(2028, 2, 1)) == utc(2028, 2, 29)
    assert parse("cron(0 0 ? * 6L *)").next_after(utc(2026, 12, 1)) == utc(2026, 12, 25)  # last Friday
    assert parse("cron(0 0 ? * MON#2 *)").next_after(utc(2026, 12, 1)) == utc(2026, 12, 14)
    assert parse("cron(0 0 1 1 ? 2028)").next_after(utc(2026, 12, 1)) == utc(2028, 1, 1)
    assert parse("cron(0 0 31 2 ? *)").next_after(utc(2026, 1, 1)) is None  # never comes


def test_rates_fire_at_multiples_of_their_period():
    every_five = parse("rate(5 minutes)")
    assert every_five.next_after(utc(2026, 1, 1, 10, 2, 30)) == utc(2026, 1, 1, 10, 5)
    assert parse("rate(1 hour)").next_after(utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 1, 11, 0)
    assert len(firings_between(parse("rate(1 day)"), utc(2026, 1, 1), utc(2026, 1, 8))) == 7


@pytest.mark.parametrize("text", [
    "cron(0 12 * * * *)",  # both day fields given
    "cron(0 12 ? * ? *)",  # neither
    "cron(0 12 * *)",  # too few fields
    "cron(60 12 * * ? *)", "cron(0 24 * * ? *)", "cron(0 0 0 * ? *)", "cron(0 0 ? * 8 *)",
    "cron(0 0 15W * ? *)", "cron(5-1 0 * * ? *)", "cron(0/0 0 * * ? *)", "cron(0 0 ? * MON#6 *)",
    "rate(0 minutes)", "rate(1 minutes)", "rate(5 minute)", "rate(5 weeks)", "every day", "",
])
def test_what_eventbridge_refuses_is_refused(text):
    with pytest.raises(ScheduleError):
        parse(text)


def _brute_force_next(minutes, hours, weekdays, after):
    instant = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(8 * 24 * 60):
        if instant.minute in minutes and instant.hour in hours and (instant.isoweekday() % 7) + 1 in weekdays:
            return instant
        instant += timedelta(minutes=1)
    return None


@settings(max_examples=60, deadline=None)
@given(minutes=st.sets(st.integers(0, 59), min_size=1, max_size=4), hours=st.sets(st.integers(0, 23), min_size=1,
       max_size=3), weekdays=st.sets(st.integers(1, 7), min_size=1, max_size=7),
       after=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1)))
def test_the_next_firing_is_the_first_matching_minute_after_the_instant(minutes, hours, weekdays, after):
    after = after.replace(tzinfo=timezone.utc)
    expression = parse("cron(%s %s ? * %s *)" % (",".join(map(str, sorted(minutes))),
                                                 ",".join(map(str, sorted(hours))), ",".join(map(str, sorted(weekdays)))))
    assert expression.next_after(after) == _brute_force_next(minutes, hours, weekdays, after)


# --- which fires between two instants ---------------------------------------------------------------

def _schedule(name, text, calls=None):
    return Schedule(name, parse(text), lambda event, context: calls.append((name, event["time"])) if calls is not None else None)


def test_firings_between_two_instants_come_in_time_order_then_declaration_order():
    schedules = [_schedule("renew", "cron(0 3 * * ? *)"), _schedule("bill", "cron(10 3 * * ? *)"),
                 _schedule("also_at_three", "cron(0 3 * * ? *)")]
    due = due_between(schedules, utc(2026, 12, 21, 2, 0), utc(2026, 12, 22, 3, 5))
    assert [(t.isoformat(), s.name) for t, s in due] == [
        ("2026-12-21T03:00:00+00:00", "renew"), ("2026-12-21T03:00:00+00:00", "also_at_three"),
        ("2026-12-21T03:10:00+00:00", "bill"),
        ("2026-12-22T03:00:00+00:00", "renew"), ("2026-12-22T03:00:00+00:00", "also_at_three")]
    # The interval is open at its start and closed at its end.
    assert [s.name for _, s in due_between(schedules, utc(2026, 12, 21, 3, 0), utc(2026, 12, 21, 3, 10))] == ["bill"]


# --- the demo clock ---------------------------------------------------------------------------------

class FakeMonotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_demo_clock_runs_at_its_speed_from_its_day_and_never_past_what_it_is_held_at():
    real = FakeMonotonic()
    clock = DemoClock(utc(2026, 12, 21, 3), speed=3600, monotonic=real)
    real.now += 10
    assert clock() == utc(2026, 12, 21, 3)  # held at its start until the scheduler lets it go
    clock.hold(utc(2026, 12, 21, 5))
    real.now += 1
    assert clock() == utc(2026, 12, 21, 4)  # an hour per second
    real.now += 5
    assert clock() == utc(2026, 12, 21, 5)  # held
    clock.hold(None)
    real.now += 0.5
    assert clock() == utc(2026, 12, 21, 5, 30)  # goes on from where it was held, no jump
    clock.jump_to(utc(2026, 12, 30))
    assert clock() == utc(2026, 12, 30)
    clock.jump_to(utc(2026, 12, 29))  # never back
    assert clock() == utc(2026, 12, 30)


def test_the_time_a_job_takes_at_the_held_instant_does_not_make_the_clock_jump_when_let_go():
    real = FakeMonotonic()
    clock = DemoClock(utc(2026, 12, 21, 3), speed=3600, monotonic=real)
    clock.hold(utc(2026, 12, 21, 4))
    real.now += 1  # reaches 04:00, where it is held …
    assert clock() == utc(2026, 12, 21, 4)
    real.now += 30  # … while the job runs, nobody reading the clock
    clock.hold(utc(2026, 12, 22, 4))
    real.now += 1
    assert clock() == utc(2026, 12, 21, 5)  # an hour after 04:00, not 31


def test_the_clock_choice_from_demo_date_speed_and_the_saved_position():
    system = demo_clock.choose({}, None)
    assert system.clock is demo_clock.system_clock and system.fast_forward_to is None
    demo = demo_clock.choose({"DEMO_DATE": "2026-12-21", "DEMO_SPEED": "3600"}, None)
    assert demo.start == start_of_day(date(2026, 12, 21)) == utc(2026, 12, 21, 3)  # midnight in São Paulo
    assert isinstance(demo.clock, DemoClock) and demo.clock.speed == 3600 and "3600×" in demo.note
    # A restart: the saved position wins over an earlier DEMO_DATE (time never goes back) …
    later = utc(2027, 1, 2, 12)
    resumed = demo_clock.choose({"DEMO_DATE": "2026-12-21"}, later)
    assert resumed.start == later and resumed.fast_forward_to is None and "goes on" in resumed.note
    # … a later DEMO_DATE is reached firing by firing from the saved position …
    forward = demo_clock.choose({"DEMO_DATE": "2027-02-01"}, later)
    assert forward.start == later and forward.fast_forward_to == utc(2027, 2, 1, 3)
    # … and a saved demo position still ahead of real time goes on without DEMO_DATE.
    ahead = demo_clock.choose({}, utc(2099, 1, 1))
    assert isinstance(ahead.clock, DemoClock) and ahead.start == utc(2099, 1, 1)
    assert demo_clock.choose({}, utc(2020, 1, 1)).clock is demo_clock.system_clock


@pytest.mark.parametrize("environ", [{"DEMO_DATE": "21/12/2026"}, {"DEMO_SPEED": "fast"}, {"DEMO_SPEED": "0"},
                                     {"DEMO_SPEED": "-5"}])
def test_a_malformed_demo_setting_is_refused_at_start(environ):
    with pytest.raises(ValueError):
        demo_clock.choose(environ, None)


# --- the scheduler ----------------------------------------------------------------------------------

def _run_until(scheduler, real, clock, end, seconds_per_step=0.01):
    while scheduler.cursor < end:
        if scheduler.step() is None:
            real.now += seconds_per_step


def test_every_firing_the_demo_clock_passes_runs_once_in_order_at_its_own_instant():
    real = FakeMonotonic()
    start = utc(2026, 12, 21, 3)
    clock = DemoClock(start, speed=86400, monotonic=real)
    seen = []

    def recorder(name):
        def handler(event, context):
            seen.append((name, event["time"], clock().isoformat(), context.function_name))
            real.now += 5  # a slow job: the clock must not run on while it works
        return handler

    schedules = [Schedule("every_15", parse("cron(0/15 * * * ? *)"), recorder("every_15")),
                 Schedule("renew", parse("cron(0 3 * * ? *)"), recorder("renew")),
                 Schedule("bill", parse("cron(10 3 * * ? *)"), recorder("bill"))]
    scheduler = Scheduler(schedules, clock, "sa-east-1", initial_cursor(start))
    _run_until(scheduler, real, clock, utc(2026, 12, 23, 3, 10))
    expected = [(s.name, t.strftime("%Y-%m-%dT%H:%M:%SZ"), t.isoformat(), s.name)
                for t, s in due_between(schedules, initial_cursor(start), utc(2026, 12, 23, 3, 10))]
    assert seen == expected
    assert seen[:3] == [("every_15", "2026-12-21T03:00:00Z", "2026-12-21T03:00:00+00:00", "every_15"),
                        ("renew", "2026-12-21T03:00:00Z", "2026-12-21T03:00:00+00:00", "renew"),
                        ("bill", "2026-12-21T03:10:00Z", "2026-12-21T03:10:00+00:00", "bill")]
    assert len([s for s in seen if s[0] == "bill"]) == 3  # 21, 22 and 23 December
    assert len({(name, time) for name, time, _, _ in seen}) == len(seen)  # none twice


def test_a_failing_handler_is_logged_and_the_schedule_goes_on(caplog):
    real = FakeMonotonic()
    start = utc(2026, 12, 21, 3)
    clock = DemoClock(start, speed=86400, monotonic=real)
    calls = []

    def broken(event, context):
        calls.append(event["time"])
        raise RuntimeError("the table is gone")

    scheduler = Scheduler([Schedule("broken", parse("cron(0 * * * ? *)"), broken),
                           _schedule("fine", "cron(30 * * * ? *)", calls)], clock, "sa-east-1", initial_cursor(start))
    _run_until(scheduler, real, clock, utc(2026, 12, 21, 5, 30))
    assert calls == ["2026-12-21T03:00:00Z", ("fine", "2026-12-21T03:30:00Z"), "2026-12-21T04:00:00Z",
                     ("fine", "2026-12-21T04:30:00Z"), "2026-12-21T05:00:00Z", ("fine", "2026-12-21T05:30:00Z")]
    assert "scheduled broken at 2026-12-21T04:00:00+00:00 failed" in caplog.text


def test_a_later_demo_date_is_reached_firing_every_schedule_on_the_way():
    real = FakeMonotonic()
    saved = utc(2027, 1, 2, 12)
    clock = DemoClock(saved, speed=1, monotonic=real)
    seen = []
    daily = Schedule("bill", parse("cron(10 3 * * ? *)"), lambda event, context: seen.append((event["time"], clock())))
    scheduler = Scheduler([daily], clock, "sa-east-1", saved, fast_forward_to=utc(2027, 1, 5, 3))
    assert scheduler.fast_forward() == 2
    assert seen == [("2027-01-03T03:10:00Z", utc(2027, 1, 3, 3, 10)), ("2027-01-04T03:10:00Z", utc(2027, 1, 4, 3, 10))]
    assert clock() == utc(2027, 1, 5, 3) and scheduler.cursor == utc(2027, 1, 4, 3, 10)


def test_a_fast_forward_runs_a_catch_up_schedule_only_before_other_firings_and_at_the_end():
    """The webhooks' dispatcher (every minute) drains the whole outbox in one run: a jump of days
    runs it before each other firing and once at the end, not 1 440 times a day."""
    real = FakeMonotonic()
    saved = utc(2027, 1, 2, 12)
    clock = DemoClock(saved, speed=1, monotonic=real)
    calls = []
    daily = _schedule("bill", "cron(10 3 * * ? *)", calls)
    every_minute = Schedule("dispatch", parse("rate(1 minute)"),
                            lambda event, context: calls.append(("dispatch", event["time"])), catch_up=True)
    scheduler = Scheduler([daily, every_minute], clock, "sa-east-1", saved, fast_forward_to=utc(2027, 1, 4, 3, 30))
    assert scheduler.fast_forward() == 5
    assert calls == [("dispatch", "2027-01-03T03:09:00Z"), ("bill", "2027-01-03T03:10:00Z"),
                     ("dispatch", "2027-01-04T03:09:00Z"), ("bill", "2027-01-04T03:10:00Z"),
                     ("dispatch", "2027-01-04T03:30:00Z")]
    assert [s.name for s in app_schedules(_app()) if s.catch_up] == ["dispatch_webhook_events"]


def _app():
    from app import app

    return app


def test_the_scheduled_event_is_the_one_eventbridge_sends():
    event = scheduled_event("start_billing_run", utc(2026, 12, 21, 3, 10), "sa-east-1")
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["time"] == "2026-12-21T03:10:00Z" and event["detail"] == {}
    assert event["resources"][0].startswith("arn:aws:events:sa-east-1:")


def _declared_schedules():
    """`@<blueprint>.schedule(...)` functions in chalicelib/ and app.py, read from the source."""
    names = set()
    for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "schedule"
                    for d in node.decorator_list):
                names.add(node.name)
    return names


def test_every_schedule_the_app_declares_is_picked_up_and_fires_through_its_lambda_handler():
    from chalice.app import ScheduledEventConfig

    from app import app

    declared = [c for c in app.event_sources if isinstance(c, ScheduledEventConfig)]
    schedules = app_schedules(app)
    assert len(schedules) == len(declared) >= 1
    # None declared in the code is left out of the app (a blueprint not registered would be).
    assert {s.name for s in schedules} == {c.name for c in declared} == _declared_schedules()
    for item in schedules:
        assert item.handler is app.handler_map[item.name]
    # Over two days each fires at least once (through the function Lambda would call: replaced here
    # by a recorder, since the real jobs need the embedded AWS).
    fired = []
    recorded = [Schedule(s.name, s.expression, lambda event, context, name=s.name: fired.append(name))
                for s in schedules]
    for instant, item in due_between(recorded, utc(2026, 12, 21), utc(2026, 12, 23)):
        item.handler(scheduled_event(item.name, instant, "sa-east-1"), None)
    assert set(fired) == {s.name for s in schedules}
