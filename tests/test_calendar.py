"""工作日历: deadlines across weekends, holidays and 调休 days, elapsed working
time, timezones, bad calendars and bad input, seeding and administrator edits.

Local times are Asia/Shanghai (the test deployments' timezone); the service
answers in UTC. Years come from the chinesecalendar package (2025: National
Day 10-01..10-08 off, Sunday 09-28 and Saturday 10-11 are working days).
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ccms import seed
from ccms.audit import Actor
from ccms.calendar import compute, package
from ccms.calendar import service as svc
from ccms.calendar.models import CalendarDay, WorkCalendar
from ccms.errors import Conflict, NotFound, ValidationFailed
from ccms.models import AuditLog

SH = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc
ADMIN = Actor(1, "admin")


def sh(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def due(ctx, start, amount, unit="work_hours", cal="default"):
    with ctx.db.session() as s:
        return svc.deadline(s, cal, start, amount, unit).astimezone(SH)


def package_calendar(**kw) -> compute.Calendar:
    """The default calendar built in memory from the package (no database)."""
    days = {}
    for y in package.known_years():
        days.update(package.year_days(y))
    args = {"hours": svc.DEFAULT_HOURS, "rest_weekdays": svc.DEFAULT_REST, "overrides": days}
    args.update(kw)
    return compute.Calendar("default", "默认工作日历", "Asia/Shanghai", args["hours"], args["rest_weekdays"],
                            args["overrides"])


# --- deadlines a user would check ------------------------------------------------------------

def test_work_hours_skip_the_weekend(ctx):
    # Friday 16:00 + 4 h: 1.5 h on Friday, 2.5 h from Monday 08:30.
    assert due(ctx, sh(2024, 3, 1, 16, 0), 4) == sh(2024, 3, 4, 11, 0)
    from ccms.api import calendar_deadline, calendar_elapsed  # the plugins' facade
    with ctx.db.session() as s:
        assert calendar_deadline(s, "default", sh(2024, 3, 1, 16, 0), 4, "work_hours") == sh(2024, 3, 4, 11, 0)
        assert calendar_elapsed(s, "default", sh(2024, 3, 1, 16, 0), sh(2024, 3, 4, 11, 0), "work_hours") == 4


def test_national_day_holiday_is_skipped(ctx):
    assert 2025 in package.known_years()
    # Tuesday 30 Sep 16:00 + 4 h: 1.5 h that day, then nothing until Thursday 9 Oct.
    assert due(ctx, sh(2025, 9, 30, 16, 0), 4) == sh(2025, 10, 9, 11, 0)


def test_make_up_saturday_is_a_working_day(ctx):
    # Saturday 11 Oct 2025 is a 调休 working day: Friday 16:00 + 4 h ends on Saturday.
    assert due(ctx, sh(2025, 10, 10, 16, 0), 4) == sh(2025, 10, 11, 11, 0)
    # ... and the Sunday make-up day before the holiday, 28 Sep 2025.
    assert due(ctx, sh(2025, 9, 26, 17, 0), 1) == sh(2025, 9, 28, 9, 0)


def test_start_before_opening_during_lunch_and_after_closing(ctx):
    assert due(ctx, sh(2024, 3, 4, 7, 0), 2) == sh(2024, 3, 4, 10, 30)     # counts from 08:30
    assert due(ctx, sh(2024, 3, 4, 12, 30), 1) == sh(2024, 3, 4, 14, 30)   # counts from 13:30
    assert due(ctx, sh(2024, 3, 4, 18, 0), 1) == sh(2024, 3, 5, 9, 30)     # counts from next morning
    assert due(ctx, sh(2024, 3, 4, 11, 0), 1) == sh(2024, 3, 4, 12, 0)     # ends exactly at lunch
    assert due(ctx, sh(2024, 3, 4, 11, 0), 1.5) == sh(2024, 3, 4, 14, 0)   # lunch is skipped


def test_work_days_keep_the_office_time_position_across_a_holiday(ctx):
    assert due(ctx, sh(2025, 9, 30, 10, 0), 1, "work_days") == sh(2025, 10, 9, 10, 0)
    assert due(ctx, sh(2025, 9, 30, 10, 0), 3, "work_days") == sh(2025, 10, 11, 10, 0)  # the 调休 Saturday
    assert due(ctx, sh(2024, 3, 4, 10, 0), 5, "work_days") == sh(2024, 3, 11, 10, 0)
    # Outside office hours: from the next opening; one day ends at that day's closing.
    assert due(ctx, sh(2024, 3, 1, 18, 0), 1, "work_days") == sh(2024, 3, 4, 17, 30)
    assert due(ctx, sh(2024, 3, 2, 10, 0), 2, "work_days") == sh(2024, 3, 5, 17, 30)
    assert due(ctx, sh(2024, 3, 4, 12, 30), 1, "work_days") == sh(2024, 3, 5, 12, 0)
    assert due(ctx, sh(2024, 3, 4, 10, 0), 0.5, "work_days") == sh(2024, 3, 4, 15, 15)


def test_minutes_are_clock_minutes(ctx):
    assert due(ctx, sh(2025, 9, 30, 23, 50), 30, "minutes") == sh(2025, 10, 1, 0, 20)
    assert due(ctx, sh(2024, 3, 4, 10, 0), 0, "work_hours") == sh(2024, 3, 4, 10, 0)


def test_utc_start_maps_to_shanghai_office_hours(ctx):
    # 00:30 UTC is 08:30 in Shanghai: one work hour later is 09:30 there, 01:30 UTC.
    start = dt.datetime(2024, 3, 4, 0, 30, tzinfo=UTC)
    with ctx.db.session() as s:
        result = svc.deadline(s, "default", start, 1, "work_hours")
        naive = svc.deadline(s, "default", start.replace(tzinfo=None), 1, "work_hours")  # naive = UTC
    assert result == dt.datetime(2024, 3, 4, 1, 30, tzinfo=UTC)
    assert result.utcoffset() == dt.timedelta(0)
    assert naive == result
    # Sunday 23:00 UTC is Monday 07:00 in Shanghai: before opening, not "Sunday night".
    assert due(ctx, dt.datetime(2024, 3, 3, 23, 0, tzinfo=UTC), 1) == sh(2024, 3, 4, 9, 30)


def test_deployment_timezone_is_the_default_calendars_timezone(make_app):
    ctx = make_app(timezone="Asia/Urumqi").state.ccms
    with ctx.db.session() as s:
        assert svc.get(s, "default").timezone == "Asia/Urumqi"
        start = dt.datetime(2024, 3, 4, 2, 30, tzinfo=UTC)  # 08:30 in Urumqi (UTC+6)
        assert svc.deadline(s, "default", start, 1, "work_hours") == dt.datetime(2024, 3, 4, 3, 30, tzinfo=UTC)


# --- elapsed working time -------------------------------------------------------------------

def test_working_elapsed_counts_only_office_hours(ctx):
    with ctx.db.session() as s:
        assert svc.working_elapsed(s, "default", sh(2024, 3, 1, 16), sh(2024, 3, 4, 11), "work_hours") == 4.0
        assert svc.working_elapsed(s, "default", sh(2024, 3, 1, 16), sh(2024, 3, 4, 11), "minutes") == 67 * 60
        assert svc.working_elapsed(s, "default", sh(2025, 9, 30, 10), sh(2025, 10, 9, 10), "work_days") == 1.0
        assert svc.working_elapsed(s, "default", sh(2024, 3, 4, 11), sh(2024, 3, 1, 16), "work_hours") == 0.0
        # 80 % of a 4-hour limit started on Friday 16:00 is reached on Monday at 10:12.
        assert svc.working_elapsed(s, "default", sh(2024, 3, 1, 16), sh(2024, 3, 4, 10, 12), "work_hours") \
            == pytest.approx(3.2)
        spans = [(sh(2024, 3, 4, 9), sh(2024, 3, 4, 10)), (sh(2024, 3, 5, 16), sh(2024, 3, 6, 9))]
        assert svc.working_elapsed_spans(s, "default", spans, "work_hours") == pytest.approx(3.0)


CAL = package_calendar()
starts = st.datetimes(min_value=dt.datetime(2004, 1, 1), max_value=dt.datetime(2026, 12, 31),
                      timezones=st.just(UTC))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=starts, amount=st.floats(min_value=0, max_value=2000, allow_nan=False),
       unit=st.sampled_from(compute.UNITS))
def test_elapsed_until_the_deadline_is_the_amount(start, amount, unit):
    d = CAL.deadline(start, amount, unit)
    assert d >= start
    assert CAL.elapsed(start, d, unit) == pytest.approx(amount, abs=1e-6)
    if unit != "minutes" and d > start:  # the deadline is inside office hours or at a closing
        assert CAL.is_open(d) or CAL.is_open(d - dt.timedelta(microseconds=1))


@settings(max_examples=150, deadline=None)
@given(start=starts, a=st.floats(min_value=0, max_value=500, allow_nan=False),
       b=st.floats(min_value=0, max_value=500, allow_nan=False))
def test_a_longer_limit_never_ends_earlier_and_limits_add_up(start, a, b):
    lo, hi = sorted((a, b))
    assert CAL.deadline(start, lo, "work_hours") <= CAL.deadline(start, hi, "work_hours")
    mid = CAL.deadline(start, a, "work_hours")  # a then b ends where a + b ends (to the rounding microsecond)
    assert abs(CAL.deadline(mid, b, "work_hours") - CAL.deadline(start, a + b, "work_hours")) \
        <= dt.timedelta(microseconds=2)


def test_fast_path_agrees_with_a_day_by_day_walk():
    """The O(log n) clock against the obvious loop, over many starts and limits."""
    import random

    rnd = random.Random(7)

    def naive(start: dt.datetime, hours: float) -> dt.datetime:
        left = dt.timedelta(hours=hours)
        t = start.astimezone(SH)
        day = t.date()
        while True:
            if CAL.is_working_day(day):
                for a, b in svc.DEFAULT_HOURS:
                    s0 = dt.datetime.combine(day, dt.time.fromisoformat(a), SH)
                    e0 = dt.datetime.combine(day, dt.time.fromisoformat(b), SH)
                    s0 = max(s0, t)
                    if s0 >= e0:
                        continue
                    if e0 - s0 >= left:
                        return (s0 + left).astimezone(UTC)
                    left -= e0 - s0
            day += dt.timedelta(days=1)
            t = dt.datetime.combine(day, dt.time(0), SH)

    for _ in range(300):
        start = sh(2004, 1, 1) + dt.timedelta(minutes=rnd.randrange(0, 23 * 365 * 24 * 60))
        hours = rnd.choice([0.5, 1, 4, 7.5, 8, 16, 40, 100, rnd.uniform(0.1, 300)])
        assert CAL.deadline(start, hours, "work_hours") == naive(start, hours), (start, hours)


# --- bad calendars and bad input -----------------------------------------------------------------

def test_a_calendar_without_working_days_fails_clearly_and_fast(ctx):
    with ctx.db.session() as s:
        svc.update_settings(s, ADMIN, "default", {"rest_weekdays": [1, 2, 3, 4, 5, 6, 7]})
    began = time.perf_counter()
    # 2030 is past the package's years: no make-up working days left either.
    with pytest.raises(ValidationFailed) as e, ctx.db.session() as s:
        svc.deadline(s, "default", sh(2030, 3, 4, 10), 4, "work_hours")
    assert time.perf_counter() - began < 1
    assert e.value.code == "calendar_no_working_time"
    assert "没有可用的工作时间" in e.value.zh and "no working time" in e.value.en
    with ctx.db.session() as s:  # clock minutes do not need working days
        assert svc.deadline(s, "default", sh(2030, 3, 4, 10), 30, "minutes") == sh(2030, 3, 4, 10, 30)


def test_a_calendar_without_office_hours_fails_clearly(ctx):
    with ctx.db.session() as s:
        svc.update_settings(s, ADMIN, "default", {"hours": []})
    for unit in ("work_hours", "work_days"):
        with pytest.raises(ValidationFailed) as e, ctx.db.session() as s:
            svc.deadline(s, "default", sh(2024, 3, 4, 10), 1, unit)
        assert e.value.code == "calendar_no_working_time"
        with pytest.raises(ValidationFailed), ctx.db.session() as s:
            svc.working_elapsed(s, "default", sh(2024, 3, 4, 10), sh(2024, 3, 5, 10), unit)


@pytest.mark.parametrize("amount,unit,code", [
    (4, "hours", "bad_unit"), (-1, "work_hours", "bad_amount"), (float("nan"), "work_hours", "bad_amount"),
    (float("inf"), "minutes", "bad_amount"), ("4", "work_hours", "bad_amount"), (True, "work_days", "bad_amount"),
])
def test_bad_amounts_and_units_are_refused(amount, unit, code):
    with pytest.raises(ValidationFailed) as e:
        CAL.deadline(sh(2024, 3, 4, 10), amount, unit)
    assert e.value.code == code and e.value.zh and e.value.en


def test_unknown_calendar_is_not_found(ctx):
    with pytest.raises(NotFound), ctx.db.session() as s:
        svc.deadline(s, "nope", sh(2024, 3, 4, 10), 1, "work_hours")


# --- seeding, caching, administrator edits ------------------------------------------------------

def test_migration_creates_exactly_the_model_tables(ctx):
    import ccms.models  # noqa: F401  (core's tables, for the foreign keys)
    from ccms.db import Base
    with ctx.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    def table(d):
        obj = d[0][2] if isinstance(d, list) else (d[2] if d[0] in ("add_column", "remove_column") else d[1])
        return str(getattr(getattr(obj, "table", None), "name", None) or getattr(obj, "name", obj))

    assert [d for d in diffs if table(d).startswith("core_work_calendar")] == []
    assert {WorkCalendar.__tablename__, CalendarDay.__tablename__} <= set(Base.metadata.tables)


def test_bootstrap_seeds_the_default_calendar_once_with_every_package_year(ctx):
    years = package.known_years()
    with ctx.db.session() as s:
        row = svc.get(s, "default")
        assert (row.hours, row.rest_weekdays, row.timezone) == (svc.DEFAULT_HOURS, [6, 7], "Asia/Shanghai")
        assert row.imported_years == years
        n = s.scalar(select(func.count()).select_from(CalendarDay))
        from_package = s.scalar(select(func.count()).select_from(CalendarDay).where(CalendarDay.source == "package"))
        assert from_package == sum(len(package.year_days(y)) for y in years)  # the rest: computed years after
        national = s.scalar(select(CalendarDay).where(CalendarDay.day == dt.date(2025, 10, 1)))
        assert (national.kind, national.name, national.source) == ("holiday", "国庆节", "package")
        makeup = s.scalar(select(CalendarDay).where(CalendarDay.day == dt.date(2025, 10, 11)))
        assert (makeup.kind, makeup.name) == ("workday", "国庆节调休上班")
        version, audits = row.version, s.scalar(select(func.count()).select_from(AuditLog))
    seed.bootstrap(ctx)
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(CalendarDay)) == n
        assert svc.get(s, "default").version == version
        assert s.scalar(select(func.count()).select_from(AuditLog)) == audits


def test_a_new_package_year_is_added_at_bootstrap_and_old_years_stay_as_edited(ctx):
    with ctx.db.session() as s:
        svc.remove_day(s, ADMIN, "default", dt.date(2024, 10, 7))
        row = svc.get(s, "default")
        row.imported_years = [y for y in row.imported_years if y != 2025]
        s.execute(CalendarDay.__table__.delete().where(CalendarDay.day >= dt.date(2025, 1, 1),
                                                       CalendarDay.day <= dt.date(2025, 12, 31)))
    seed.bootstrap(ctx)
    with ctx.db.session() as s:
        assert len(svc.year_days(s, "default", 2025)) == len(package.year_days(2025))
        assert dt.date(2024, 10, 7) not in {d.day for d in svc.year_days(s, "default", 2024)}
        assert 2025 in svc.get(s, "default").imported_years


def test_loaded_calendar_is_cached_until_its_version_changes(ctx):
    with ctx.db.session() as s:
        a = svc.get_calendar(s, "default")
        assert svc.get_calendar(s, "default") is a
    with ctx.db.session() as s:
        svc.set_day(s, ADMIN, "default", {"day": "2024-03-04", "kind": "holiday", "name": "本地假日"})
    with ctx.db.session() as s:
        b = svc.get_calendar(s, "default")
        assert b is not a and b.version > a.version


def test_adding_a_holiday_moves_a_deadline_and_removing_it_moves_it_back(ctx):
    start = sh(2024, 3, 1, 16, 0)
    assert due(ctx, start, 4) == sh(2024, 3, 4, 11, 0)
    with ctx.db.session() as s:
        svc.set_day(s, ADMIN, "default", {"day": "2024-03-04", "kind": "holiday", "name": "本地假日"})
    assert due(ctx, start, 4) == sh(2024, 3, 5, 11, 0)
    with ctx.db.session() as s:  # a make-up Saturday pulls it back before Monday
        svc.set_day(s, ADMIN, "default", {"day": "2024-03-02", "kind": "workday", "name": "补班"})
    assert due(ctx, start, 4) == sh(2024, 3, 2, 11, 0)
    with ctx.db.session() as s:
        svc.remove_day(s, ADMIN, "default", dt.date(2024, 3, 2))
        svc.remove_day(s, ADMIN, "default", dt.date(2024, 3, 4))
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.object_type == "calendar")
                                 .order_by(AuditLog.id)))
    assert due(ctx, start, 4) == sh(2024, 3, 4, 11, 0)
    assert actions[-4:] == ["calendar_day_set", "calendar_day_set", "calendar_day_remove", "calendar_day_remove"]


def test_setting_a_day_twice_replaces_it(ctx):
    with ctx.db.session() as s:
        svc.set_day(s, ADMIN, "default", {"day": "2025-10-08", "kind": "workday", "name": "本地值班"})
    with ctx.db.session() as s:
        days = {d.day: d for d in svc.year_days(s, "default", 2025)}
        assert (days[dt.date(2025, 10, 8)].kind, days[dt.date(2025, 10, 8)].source) == ("workday", "admin")


@pytest.mark.parametrize("data,field", [
    ({"day": "2025-02-30", "kind": "holiday", "name": "x"}, "day"),
    ({"day": "1900-01-01", "kind": "holiday", "name": "x"}, "day"),
    ({"day": "2025-10-08", "kind": "vacation", "name": "x"}, "kind"),
    ({"day": "2025-10-08", "kind": "holiday", "name": "  "}, "name"),
])
def test_bad_day_overrides_are_refused_and_nothing_is_written(ctx, data, field):
    with ctx.db.session() as s:
        version = svc.get(s, "default").version
    with pytest.raises(ValidationFailed) as e, ctx.db.session() as s:
        svc.set_day(s, ADMIN, "default", data)
    assert field in e.value.fields
    with ctx.db.session() as s:
        assert svc.get(s, "default").version == version
    with pytest.raises(NotFound), ctx.db.session() as s:
        svc.remove_day(s, ADMIN, "default", dt.date(2024, 3, 5))


def test_import_year_restores_package_days_and_keeps_administrator_days(ctx):
    with ctx.db.session() as s:
        svc.remove_day(s, ADMIN, "default", dt.date(2025, 10, 8))
        svc.set_day(s, ADMIN, "default", {"day": "2025-10-07", "kind": "workday", "name": "本地值班"})
    with ctx.db.session() as s:
        result = svc.import_year(s, ADMIN, "default", 2025)
    assert result["kept"] == 1 and result["added"] == len(package.year_days(2025)) - 1
    with ctx.db.session() as s:
        days = {d.day: d for d in svc.year_days(s, "default", 2025)}
        assert days[dt.date(2025, 10, 8)].kind == "holiday"
        assert (days[dt.date(2025, 10, 7)].kind, days[dt.date(2025, 10, 7)].source) == ("workday", "admin")
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "calendar_import")
                          .order_by(AuditLog.id.desc())).first()
        assert entry.after["year"] == 2025
    for bad in (1999, 2199, "abc"):
        with pytest.raises(ValidationFailed) as e, ctx.db.session() as s:
            svc.import_year(s, ADMIN, "default", bad)
        assert "year" in e.value.fields


@pytest.mark.parametrize("hours,field,text", [
    ([["8:3x", "12:00"]], "hours.0.start", "HH:MM"),
    ([["08:30", "25:00"]], "hours.0.end", "HH:MM"),
    ([["12:00", "08:30"]], "hours.0.end", "after the start"),
    ([["08:30", "12:00"], ["11:00", "17:30"]], "hours.1.start", "overlaps"),
    ([["13:30", "17:30"], ["08:30", "14:00"]], "hours.1.start", "overlaps"),
])
def test_bad_office_hours_are_refused_with_the_segment_named(ctx, hours, field, text):
    with pytest.raises(ValidationFailed) as e, ctx.db.session() as s:
        svc.update_settings(s, ADMIN, "default", {"hours": hours})
    assert field in e.value.fields and text in e.value.fields[field]["message_en"]
    with ctx.db.session() as s:
        assert svc.get(s, "default").hours == svc.DEFAULT_HOURS


@pytest.mark.parametrize("data,field", [
    ({"timezone": "Mars/Olympus"}, "timezone"), ({"rest_weekdays": [0]}, "rest_weekdays"),
    ({"rest_weekdays": [8]}, "rest_weekdays"), ({"name": " "}, "name"),
])
def test_bad_settings_are_refused(ctx, data, field):
    with pytest.raises(ValidationFailed) as e, ctx.db.session() as s:
        svc.update_settings(s, ADMIN, "default", data)
    assert field in e.value.fields


def test_settings_are_sorted_audited_and_locked_by_version(ctx):
    with ctx.db.session() as s:
        v = svc.get(s, "default").version
        row = svc.update_settings(s, ADMIN, "default", {"version": v, "hours": [["14:00", "18:00"], ["09:00", "12:00"]],
                                                        "rest_weekdays": [7]})
        assert row.hours == [["09:00", "12:00"], ["14:00", "18:00"]]
    assert due(ctx, sh(2024, 3, 2, 11, 0), 2) == sh(2024, 3, 2, 15, 0)  # Saturday works now
    with pytest.raises(Conflict), ctx.db.session() as s:
        svc.update_settings(s, ADMIN, "default", {"version": v, "name": "旧版本"})
    with ctx.db.session() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "calendar_update")).one()
        assert entry.after == {"hours": [["09:00", "12:00"], ["14:00", "18:00"]], "rest_weekdays": [7]}


def test_create_a_second_calendar(ctx):
    with ctx.db.session() as s:
        row = svc.create_calendar(s, ADMIN, {"id": "saturday", "name": "周六上班"}, timezone="Asia/Shanghai")
        svc.update_settings(s, ADMIN, row.id, {"rest_weekdays": [7]})
    assert due(ctx, sh(2024, 3, 1, 16, 0), 4, cal="saturday") == sh(2024, 3, 2, 11, 0)
    assert due(ctx, sh(2024, 3, 1, 16, 0), 4) == sh(2024, 3, 4, 11, 0)
    for bad, field in (({"id": "saturday", "name": "x"}, "id"), ({"id": "Bad Id", "name": "x"}, "id")):
        with pytest.raises(ValidationFailed) as e, ctx.db.session() as s:
            svc.create_calendar(s, ADMIN, bad, timezone="Asia/Shanghai")
        assert field in e.value.fields


def test_benchmark_harness_runs(tmp_path):
    """``bench/run.py --smoke --only calendar`` prints its table and verdicts (no timing asserted)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "bench/run.py", "--smoke", "--only", "calendar", "--json", str(out)],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text(encoding="utf-8"))["calendar"]
    assert [r["mix"] for r in rows] == ["short", "long"]
    for r in rows:
        assert r["service_per_s"] > 0 and r["naive_per_s"] > 0 and r["uncached_per_s"] > 0
        assert isinstance(r["passed"], bool)
    assert "calendar long limits" in proc.stdout
