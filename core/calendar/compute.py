"""Working-time arithmetic on one loaded calendar, without the database.

The idea: a monotone "working-time clock" ``W(t)`` counts the microseconds of
office hours of working days before the instant ``t`` (in the calendar's
timezone). Then

* ``deadline(start, x)``   = the earliest ``t`` with ``W(t) = W(start) + x``;
* ``elapsed(start, end)``  = ``W(end) - W(start)``;

so ``elapsed(start, deadline(start, x)) == x`` holds by construction.
``W`` is computed in O(log n) without walking day by day: working days before
a date come from the weekly rule by arithmetic plus a bisect over the sorted
day overrides (holidays that fall on a would-be working day count -1, make-up
working days on a would-be rest day +1). The inverse is a binary search over
dates, capped at :data:`SEARCH_CAP_DAYS` so a calendar without working time
fails clearly instead of looping.

Units:

``minutes``
    plain clock minutes, calendar ignored.
``work_hours``
    hours counted only inside office hours of working days.
``work_days``
    one working day = the office hours of one day (7.5 h for 08:30–12:00 +
    13:30–17:30), counted like work hours. Started inside office hours, N
    work days later is the same office-time position N working days on
    (Monday 10:00 + 1 → Tuesday 10:00, across weekends, holidays, and on 调休
    Saturdays). Started outside office hours, counting begins at the next
    opening, and a deadline that falls exactly on a closing is that closing
    time: Friday 18:00 + 1 → Monday 17:30; lunch-time 12:30 + 1 → next day 12:00.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from dataclasses import dataclass
from typing import Iterable
from zoneinfo import ZoneInfo

from ..errors import ValidationFailed

UNITS = ("minutes", "work_hours", "work_days")
SEARCH_CAP_YEARS = 10
SEARCH_CAP_DAYS = 3653  # about 10 years: a deadline search never goes further
US = 1_000_000
US_PER_HOUR = 3600 * US
UTC = dt.timezone.utc


def parse_hhmm(text: str) -> int:
    """``"08:30"`` -> seconds after midnight; ``"24:00"`` allowed as an end. Raises ValueError."""
    h, sep, m = text.strip().partition(":")
    if not sep or not (h.isdigit() and m.isdigit()) or len(m) != 2 or not 1 <= len(h) <= 2:
        raise ValueError(text)
    hh, mm = int(h), int(m)
    if mm > 59 or hh > 24 or (hh == 24 and mm):
        raise ValueError(text)
    return hh * 3600 + mm * 60


def bad_unit(unit: object) -> ValidationFailed:
    zh = f"时限单位 {unit!r} 无效，应为 minutes（分钟）、work_hours（工作时）或 work_days（工作日）"
    en = f"time-limit unit {unit!r} is invalid: use minutes, work_hours or work_days"
    return ValidationFailed(zh, en, code="bad_unit", fields={"unit": {"message": zh, "message_en": en}})


def bad_amount(amount: object) -> ValidationFailed:
    zh = f"时限数值 {amount!r} 无效，应为不小于 0 的数字"
    en = f"time-limit amount {amount!r} is invalid: use a number >= 0"
    return ValidationFailed(zh, en, code="bad_amount", fields={"amount": {"message": zh, "message_en": en}})


def _utc(value: dt.datetime) -> dt.datetime:
    """Aware datetimes as UTC; naive ones are taken as UTC (as ``UTCDateTime`` stores them)."""
    if not isinstance(value, dt.datetime):
        zh, en = f"时间 {value!r} 无效", f"{value!r} is not a datetime"
        raise ValidationFailed(zh, en, code="bad_datetime")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class DayInfo:
    """How one date counts: ``kind`` is workday / rest / holiday / makeup."""

    day: dt.date
    kind: str
    name: str
    working: bool


class Calendar:
    """A calendar loaded for arithmetic; immutable, safe to share between threads."""

    def __init__(self, calendar_id: str, name: str, timezone: str, hours: Iterable[Iterable[str]],
                 rest_weekdays: Iterable[int], overrides: dict[dt.date, tuple[str, str]], version: int = 0,
                 settled_years: Iterable[int] | None = None) -> None:
        self.id, self.name, self.version = calendar_id, name, version
        # years whose holidays are official (package) or confirmed by an administrator;
        # None: every year counts as settled (a calendar built by hand)
        self.settled_years = None if settled_years is None else frozenset(settled_years)
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)
        self.segments = sorted((parse_hhmm(a) * US, parse_hhmm(b) * US) for a, b in hours)
        self.seg_before: list[int] = []  # working microseconds of the day before each segment
        total = 0
        for s, e in self.segments:
            self.seg_before.append(total)
            total += e - s
        self.day_us = total
        self.rest = frozenset(int(w) for w in rest_weekdays)
        self.flags = [(i + 1) not in self.rest for i in range(7)]  # index 0 = Monday
        self.prefix = [0]
        for f in self.flags:
            self.prefix.append(self.prefix[-1] + int(f))
        self.per_week = self.prefix[7]
        self.overrides = dict(overrides)  # date -> (kind, name)
        self._working = {d.toordinal(): kind == "workday" for d, (kind, _name) in self.overrides.items()}
        self._ov: list[int] = []
        self._ov_cum = [0]
        for o in sorted(self._working):
            delta = int(self._working[o]) - int(self.flags[(o - 1) % 7])
            if delta:
                self._ov.append(o)
                self._ov_cum.append(self._ov_cum[-1] + delta)

    # -- days ------------------------------------------------------------------

    def is_working_ordinal(self, o: int) -> bool:
        w = self._working.get(o)
        return self.flags[(o - 1) % 7] if w is None else w

    def is_working_day(self, day: dt.date) -> bool:
        return self.is_working_ordinal(day.toordinal())

    def day_info(self, day: dt.date) -> DayInfo:
        """For the year view: a holiday, a make-up working day (调休), or the weekly rule."""
        ov = self.overrides.get(day)
        if ov is not None:
            kind, name = ov
            return DayInfo(day, "holiday" if kind == "holiday" else "makeup", name, kind == "workday")
        working = self.flags[day.weekday()]
        return DayInfo(day, "workday" if working else "rest", "", working)

    def count_before(self, o: int) -> int:
        """Working days with an ordinal in [1, o)."""
        full, r = divmod(o - 1, 7)
        return full * self.per_week + self.prefix[r] + self._ov_cum[bisect.bisect_left(self._ov, o)]

    # -- the working-time clock -----------------------------------------------

    def _local(self, t: dt.datetime) -> dt.datetime:
        return _utc(t).astimezone(self.tz).replace(tzinfo=None)

    def _within(self, sod_us: int) -> int:
        done = 0
        for s, e in self.segments:
            if sod_us <= s:
                break
            done += min(sod_us, e) - s
        return done

    def clock(self, t: dt.datetime) -> int:
        """``W(t)``: working microseconds before ``t``."""
        loc = self._local(t)
        return self._clock_local(loc, loc.toordinal())

    def _clock_local(self, loc: dt.datetime, o: int) -> int:
        w = self.count_before(o) * self.day_us
        if self.is_working_ordinal(o):
            sod = ((loc.hour * 60 + loc.minute) * 60 + loc.second) * US + loc.microsecond
            w += self._within(sod)
        return w

    def _at(self, target: int, from_ordinal: int) -> dt.datetime:
        """The earliest instant with ``W == target`` (target > 0), searching from a date on."""
        k, rem = divmod(target, self.day_us)
        if rem == 0:  # exactly a day's end: the closing time, not the next opening
            k, rem = k - 1, self.day_us
        lo = from_ordinal
        if self.count_before(lo + 1) <= k:  # not on the first day: gallop, then bisect
            cap = from_ordinal + SEARCH_CAP_DAYS
            ahead = k - self.count_before(lo)
            step = (ahead * 7) // max(self.per_week, 1) + 8
            hi = min(lo + step, cap)
            while self.count_before(hi + 1) <= k:
                if hi >= cap:
                    raise self.no_working_time()
                lo, step = hi + 1, step * 2
                hi = min(hi + step, cap)
            while lo < hi:  # smallest o with count_before(o + 1) > k: the k-th working day
                mid = (lo + hi) // 2
                if self.count_before(mid + 1) > k:
                    hi = mid
                else:
                    lo = mid + 1
        for (s, e), before in zip(self.segments, self.seg_before):
            if rem <= before + (e - s):
                sod = s + rem - before
                break
        local = dt.datetime.fromordinal(lo) + dt.timedelta(microseconds=sod)
        return local.replace(tzinfo=self.tz).astimezone(UTC)

    def no_working_time(self) -> ValidationFailed:
        zh = (f"工作日历「{self.name}」（{self.id}）在 {SEARCH_CAP_YEARS} 年内没有可用的工作时间"
              "（没有工作日或没有办公时间），无法按工作时/工作日计算期限；"
              "请在 应用维护 → 工作日历 中设置办公时间和休息日")
        en = (f"working calendar {self.id!r} has no working time within {SEARCH_CAP_YEARS} years (no working "
              "days or no office hours): deadlines in work hours or work days cannot be computed; set office hours "
              "and rest days under Maintenance -> Working calendar")
        return ValidationFailed(zh, en, code="calendar_no_working_time")

    # -- the service API ---------------------------------------------------------

    def _need(self, amount: float, unit: str) -> int:
        if unit not in UNITS:
            raise bad_unit(unit)
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) \
                or amount < 0:
            raise bad_amount(amount)
        if unit == "minutes":
            return round(amount * 60 * US)
        if self.day_us == 0:
            raise self.no_working_time()
        return round(amount * (US_PER_HOUR if unit == "work_hours" else self.day_us))

    def deadline(self, start: dt.datetime, amount: float, unit: str) -> dt.datetime:
        """When ``amount`` ``unit`` have passed since ``start`` (UTC-aware)."""
        need = self._need(amount, unit)
        start = _utc(start)
        if need == 0:
            return start
        if unit == "minutes":
            return start + dt.timedelta(microseconds=need)
        loc = start.astimezone(self.tz)
        o = loc.toordinal()
        return self._at(self._clock_local(loc, o) + need, o)

    def elapsed(self, start: dt.datetime, end: dt.datetime, unit: str) -> float:
        """How much of ``unit`` passed between ``start`` and ``end`` (0 when end <= start)."""
        self._need(0, unit)
        start, end = _utc(start), _utc(end)
        if end <= start:
            return 0.0
        if unit == "minutes":
            return (end - start) / dt.timedelta(minutes=1)
        spent = self.clock(end) - self.clock(start)
        return spent / (US_PER_HOUR if unit == "work_hours" else self.day_us)

    def elapsed_spans(self, spans: Iterable[tuple[dt.datetime, dt.datetime]], unit: str) -> float:
        """Sum of :meth:`elapsed` over spans (e.g. the running spans of a task, suspensions left out)."""
        self._need(0, unit)
        return sum(self.elapsed(a, b, unit) for a, b in spans)

    def is_provisional(self, when: dt.date | dt.datetime | None) -> bool:
        """Is the date (a datetime: its local date) in a year whose holidays are
        not settled, i.e. computed from the rules or not known at all?"""
        if when is None or self.settled_years is None:
            return False
        day = self._local(when).date() if isinstance(when, dt.datetime) else when
        return day.year not in self.settled_years

    def is_open(self, t: dt.datetime) -> bool:
        """Inside office hours of a working day?"""
        loc = self._local(t)
        if not self.is_working_ordinal(loc.toordinal()):
            return False
        sod = ((loc.hour * 60 + loc.minute) * 60 + loc.second) * US + loc.microsecond
        return any(s <= sod < e for s, e in self.segments)
