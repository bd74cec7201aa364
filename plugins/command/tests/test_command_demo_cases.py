"""The demo's case generator in pieces (fast; the seeded demo itself is checked in test_demo.py):
working time and back, finished cases planned within their limits, addresses on the grid's road."""

from __future__ import annotations

import datetime as dt
import random
import re

from ccms.calendar.compute import Calendar
from ccms.plugins.command.demo import Addresses
from ccms.plugins.command.demo_cases import HOUR, MINUTE, WorkClock, _plan

NOW = dt.datetime(2026, 12, 7, 15, 34, tzinfo=dt.UTC)  # a Monday, 23:34 in Beijing: after office hours


def calendar(tz: str = "Asia/Shanghai") -> Calendar:
    return Calendar("t", "t", tz, [("08:30", "12:00"), ("13:30", "17:30")], [6, 7],
                    {dt.date(2026, 10, 1): ("holiday", "国庆节"), dt.date(2026, 9, 27): ("workday", "调休")})


def test_work_clock_is_the_calendars_own_arithmetic():
    """``WorkClock.at`` (a table lookup) gives exactly the calendar's deadline for any working time,
    day ends and a time zone with summer time included, within the window and outside it."""
    for tz in ("Asia/Shanghai", "Europe/Berlin"):
        cal = calendar(tz)
        clock = WorkClock(cal, NOW)
        origin = NOW - dt.timedelta(days=900)
        w0 = cal.clock(origin)
        rng = random.Random(7)
        for _ in range(3000):
            w = clock.w_now - rng.randint(-50 * HOUR, 4000 * HOUR)
            if rng.random() < 0.2:
                w -= w % cal.day_us  # exactly a day's end
            assert clock.at(w) == cal.deadline(origin, (w - w0) / HOUR, "work_hours"), (tz, w)
            assert clock.w(clock.at(w)) == w


def test_work_clock_instants_are_in_office_hours():
    cal = calendar()
    clock = WorkClock(cal, NOW)
    rng = random.Random(3)
    for _ in range(2000):
        t = clock.at(clock.w_now - rng.randint(1, 2000 * HOUR))
        loc = t.astimezone(cal.tz)
        assert cal.is_working_day(loc.date()) and dt.time(8, 30) <= loc.time() <= dt.time(17, 30), loc
        assert not dt.time(12, 0) < loc.time() < dt.time(13, 30), loc


def test_planned_cases_are_consistent():
    """Each finished case's steps come in order, its deadline is its limit after dispatch (longer
    when extended or suspended) and most are disposed on time; every way a case ends occurs."""
    rng = random.Random(11)
    day = 7 * HOUR
    plans = [_plan(rng, rng.choice(["supervisor", "hotline"]), 8.0, day) for _ in range(5000)]
    order = ("reported_at", "verified_at", "filed_at", "dispatched_at", "disposed_at", "checked_at", "closed_at")
    ends = {}
    for p in plans:
        steps = [p[k] for k in order if p[k] is not None and not (p["status"] == "self" and k == "disposed_at")]
        assert steps == sorted(steps) and p["updated_at"] == max(v for v in steps + [p["voided_at"] or 0])
        ends[p["status"]] = ends.get(p["status"], 0) + 1
        if p["status"] == "closed":
            limit = p["due_at"] - p["dispatched_at"]
            assert limit in (8 * HOUR, 16 * HOUR) or (limit - 8 * HOUR * (1 + p["extend"])) % day == 0
            assert p["checked_at"] - p["disposed_at"] >= 30 * MINUTE
    assert set(ends) == {"closed", "not_filed", "merged", "self", "voided"}
    closed = [p for p in plans if p["status"] == "closed"]
    on_time = sum(p["disposed_at"] <= p["due_at"] for p in closed) / len(closed)
    assert 0.75 < on_time < 0.95


def test_addresses_lie_on_the_grids_street_and_road():
    """A grid's cases share its road; the street and district are the grid's own."""
    addr = Addresses([("320508001", "gusu"), ("320508002", "gusu"), ("320506001", "wuzhong")])
    rng = random.Random(5)
    a = addr(rng, "32050800100101")  # first row of 平江街道's community
    assert re.match(r"^姑苏区平江街道(\w+路|\w+街)\d+号", a), a
    road = addr.roads["320508001"][0]
    assert road in a and all(road in addr(rng, "32050800100101") for _ in range(20))
    assert addr.roads["320508001"][2] in addr(rng, "32050800100136")  # last row: the third road
    assert addr(rng, "32050600100120").startswith("吴中区长桥街道")
    assert not set(addr.roads["320508001"]) & set(addr.roads["320508002"])  # a road belongs to one street
