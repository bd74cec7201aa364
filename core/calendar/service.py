"""工作日历 services: deadline arithmetic for the flow engine and the audited
writes of 应用维护 → 工作日历.

Read API (no permission check: calendars are deployment-wide reference data)::

    deadline(session, calendar_id, start, amount, unit) -> datetime (UTC-aware)
    working_elapsed(session, calendar_id, start, end, unit) -> float
    working_elapsed_spans(session, calendar_id, spans, unit) -> float
    get_calendar(session, calendar_id) -> compute.Calendar   (for batches)
    is_provisional(session, calendar_id, when) -> bool   (a date in a year not yet settled)

Units and their exact meaning: :mod:`core.calendar.compute`. A loaded
calendar is cached per (database engine, id, version); every write bumps the
version (day overrides too), so each call costs one primary-key SELECT and
the arithmetic. Writes take the caller's session and audit in it.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections import OrderedDict
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from .. import audit
from ..db import utcnow
from ..errors import NotFound, ValidationFailed
from ..validation import check_version, coerce, field_error, stripped_name
from . import package, rules
from .compute import Calendar, parse_hhmm
from .models import CalendarDay, WorkCalendar

DEFAULT_ID = "default"
DEFAULT_HOURS = [["08:30", "12:00"], ["13:30", "17:30"]]
DEFAULT_REST = [6, 7]
CALENDAR_ID = r"^[a-z0-9][a-z0-9_.\-]{0,63}$"
MIN_YEAR, MAX_YEAR = 1970, 2199
CACHE_SIZE = 32
COMPUTE_AHEAD = 1  # years after the current one whose holidays are computed when the package lacks them
WARN_FROM_MONTH = 10  # from October, administrators are told when next year is not settled

# -- loading and the cache ---------------------------------------------------------

_VERSION_SQL = select(WorkCalendar.__table__.c.version).where(WorkCalendar.__table__.c.id == bindparam("cal_id"))
_cache: "weakref.WeakKeyDictionary[Any, OrderedDict[tuple[str, int], Calendar]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _not_found(calendar_id: str) -> NotFound:
    return NotFound(f"工作日历 {calendar_id} 不存在", f"working calendar {calendar_id!r} not found",
                    code="calendar_not_found")


def get_calendar(session: Session, calendar_id: str = DEFAULT_ID) -> Calendar:
    """The calendar ready for arithmetic: cached per version, one small query when cached."""
    # A Core statement built once: the ORM query costs several times the arithmetic.
    version = session.connection().execute(_VERSION_SQL, {"cal_id": calendar_id}).scalar()
    if version is None:
        raise _not_found(calendar_id)
    engine = session.get_bind()
    key = (calendar_id, version)
    with _lock:
        per_db = _cache.get(engine)
        if per_db is not None and key in per_db:
            per_db.move_to_end(key)
            return per_db[key]
    cal = _load(session, calendar_id)
    with _lock:
        per_db = _cache.setdefault(engine, OrderedDict())
        per_db[(calendar_id, cal.version)] = cal
        while len(per_db) > CACHE_SIZE:
            per_db.popitem(last=False)
    return cal


def _load(session: Session, calendar_id: str) -> Calendar:
    row = session.get(WorkCalendar, calendar_id, populate_existing=True)
    if row is None:
        raise _not_found(calendar_id)
    days = session.execute(select(CalendarDay.day, CalendarDay.kind, CalendarDay.name)
                           .where(CalendarDay.calendar_id == calendar_id)).all()
    return Calendar(row.id, row.name, row.timezone, row.hours or [], row.rest_weekdays or [],
                    {d: (k, n) for d, k, n in days}, version=row.version, settled_years=settled_years(row))


def settled_years(row: WorkCalendar) -> set[int]:
    """Years whose holidays are official (from the package) or confirmed by an administrator."""
    return set(row.imported_years or []) | set(row.confirmed_years or [])


def year_status(row: WorkCalendar, year: int) -> str:
    """``official`` (package), ``confirmed`` (computed, checked by an administrator),
    ``provisional`` (computed from the rules) or ``missing`` (the weekly rule only)."""
    if year in set(row.imported_years or []):
        return "official"
    if year in set(row.confirmed_years or []):
        return "confirmed"
    return "provisional" if year in set(row.computed_years or []) else "missing"


def is_provisional(session: Session, calendar_id: str | None, when: dt.date | dt.datetime | None) -> bool:
    """Does ``when`` fall in a year whose holidays are not settled (a deadline there may move)?
    For display: a calendar id that names no calendar answers False."""
    if when is None:
        return False
    try:
        return get_calendar(session, calendar_id or DEFAULT_ID).is_provisional(when)
    except NotFound:
        return False


def provisional_checker(session: Session) -> Any:
    """``check(calendar_id, when) -> bool`` like :func:`is_provisional`, loading each
    calendar once: for lists (one version query per calendar, not per row)."""
    memo: dict[str, Calendar | None] = {}

    def check(calendar_id: str | None, when: dt.date | dt.datetime | None) -> bool:
        if when is None:
            return False
        cid = calendar_id or DEFAULT_ID
        if cid not in memo:
            try:
                memo[cid] = get_calendar(session, cid)
            except NotFound:
                memo[cid] = None
        cal = memo[cid]
        return cal is not None and cal.is_provisional(when)
    return check


def today(timezone: str) -> dt.date:
    """The date in a calendar's timezone (tests move it)."""
    return dt.datetime.now(ZoneInfo(timezone)).date()


def warnings(session: Session) -> list[dict[str, Any]]:
    """Calendars whose current year, or from October the coming year, is
    provisional or missing: ``{"calendar", "year", "status"}``, for the notices."""
    out = []
    for row in list_calendars(session):
        now = today(row.timezone)
        years = [now.year] + ([now.year + 1] if now.month >= WARN_FROM_MONTH else [])
        for y in years:
            status = year_status(row, y)
            if status in ("provisional", "missing"):
                out.append({"calendar": row, "year": y, "status": status})
    return out


def deadline(session: Session, calendar_id: str, start: dt.datetime, amount: float, unit: str) -> dt.datetime:
    """When ``amount`` ``unit`` ("minutes", "work_hours", "work_days") have passed since ``start``."""
    return get_calendar(session, calendar_id).deadline(start, amount, unit)


def working_elapsed(session: Session, calendar_id: str, start: dt.datetime, end: dt.datetime, unit: str) -> float:
    """How much of ``unit`` passed from ``start`` to ``end`` (0 if end <= start)."""
    return get_calendar(session, calendar_id).elapsed(start, end, unit)


def working_elapsed_spans(session: Session, calendar_id: str, spans: Iterable[tuple[dt.datetime, dt.datetime]],
                          unit: str) -> float:
    """Sum over (start, end) spans: the running time of a task without its suspensions."""
    return get_calendar(session, calendar_id).elapsed_spans(spans, unit)


# -- input models ---------------------------------------------------------------------

def _hhmm_error(i: int, which: str, zh: str, en: str) -> dict[str, dict[str, str]]:
    return field_error(f"hours.{i}.{which}", zh, en)


def check_hours(hours: list[list[str]]) -> list[list[str]]:
    """Segments as ``HH:MM``, each ending after it starts, none overlapping; sorted.

    Errors name the segment (``hours.<i>.start`` / ``hours.<i>.end``) so a
    form can show them next to the input."""
    errors: dict[str, dict[str, str]] = {}
    parsed: list[tuple[int, int, int]] = []
    for i, seg in enumerate(hours):
        if not isinstance(seg, (list, tuple)) or len(seg) != 2:
            errors.update(field_error(f"hours.{i}", "每段办公时间应为 [开始, 结束]", "each segment is [start, end]"))
            continue
        a = b = None
        for which, text in (("start", seg[0]), ("end", seg[1])):
            try:
                v = parse_hhmm(str(text))
                if which == "start" and v >= 24 * 3600:
                    raise ValueError(text)
            except ValueError:
                errors.update(_hhmm_error(i, which, f"时间格式应为 HH:MM（如 08:30），收到 {text!r}",
                                          f"time must be HH:MM (e.g. 08:30), got {text!r}"))
                continue
            a, b = (v, b) if which == "start" else (a, v)
        if a is not None and b is not None:
            if b <= a:
                errors.update(_hhmm_error(i, "end", "结束时间应晚于开始时间", "the end must be after the start"))
            else:
                parsed.append((a, b, i))
    ordered = sorted(parsed)
    for (a1, b1, i1), (a2, b2, i2) in zip(ordered, ordered[1:]):
        if a2 < b1:
            later = max(i1, i2)
            other = min(i1, i2)
            errors.setdefault(f"hours.{later}.start", {
                "message": f"与第 {other + 1} 段办公时间重叠",
                "message_en": f"overlaps office-hours segment {other + 1}"})
    if errors:
        first = next(iter(errors.values()))
        raise ValidationFailed(f"办公时间有误：{first['message']}", f"office hours are invalid: {first['message_en']}",
                               fields=errors)
    return [[_fmt(a), _fmt(b)] for a, b, _i in ordered]


def _fmt(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _check_timezone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"未知时区 {v!r}（如 Asia/Shanghai） / unknown timezone {v!r} (e.g. Asia/Shanghai)") from None
    return v


def _check_rest(v: list[int]) -> list[int]:
    if any(w < 1 or w > 7 for w in v):
        raise ValueError("休息日应为 1（周一）到 7（周日） / rest days are 1 (Monday) to 7 (Sunday)")
    return sorted(set(v))


class CalendarCreate(BaseModel):
    """A new calendar (e.g. for a unit working on Saturdays): default hours, China's holidays."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=CALENDAR_ID, description="小写字母、数字、._- / lower-case letters, digits, . _ -")
    name: str = Field(min_length=1, max_length=200)
    _v_name = field_validator("name")(stripped_name)


class SettingsIn(BaseModel):
    """Office hours (segments of a working day), weekly rest days, name, timezone."""

    model_config = ConfigDict(extra="forbid")
    version: int | None = None
    name: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    hours: list[list[str]] | None = Field(None, max_length=8, description='[["08:30", "12:00"], ...]')
    rest_weekdays: list[int] | None = Field(None, max_length=7, description="1 = 周一 Monday ... 7 = 周日 Sunday")
    _v_name = field_validator("name")(stripped_name)
    _v_tz = field_validator("timezone")(lambda v: v if v is None else _check_timezone(v))
    _v_rest = field_validator("rest_weekdays")(lambda v: v if v is None else _check_rest(v))


class DayIn(BaseModel):
    """A holiday (休息) or a make-up working day (调休上班) on one date, with its name."""

    model_config = ConfigDict(extra="forbid")
    day: dt.date
    kind: str = Field(pattern="^(holiday|workday)$", description="holiday: 休息; workday: 调休上班")
    name: str = Field(min_length=1, max_length=100)
    _v_name = field_validator("name")(stripped_name)

    @field_validator("day")
    @classmethod
    def _v_day(cls, v: dt.date) -> dt.date:
        if not MIN_YEAR <= v.year <= MAX_YEAR:
            raise ValueError(f"日期应在 {MIN_YEAR}–{MAX_YEAR} 年之间 / the date must be within {MIN_YEAR}-{MAX_YEAR}")
        return v


# -- reads for the screens ---------------------------------------------------------------

def get(session: Session, calendar_id: str) -> WorkCalendar:
    row = session.get(WorkCalendar, calendar_id)
    if row is None:
        raise _not_found(calendar_id)
    return row


def list_calendars(session: Session) -> list[WorkCalendar]:
    return list(session.scalars(select(WorkCalendar).order_by(WorkCalendar.id)))


def year_days(session: Session, calendar_id: str, year: int) -> list[CalendarDay]:
    """The overrides of one year, by date."""
    return list(session.scalars(select(CalendarDay).where(
        CalendarDay.calendar_id == calendar_id, CalendarDay.day >= dt.date(year, 1, 1),
        CalendarDay.day <= dt.date(year, 12, 31)).order_by(CalendarDay.day)))


def as_dict(row: WorkCalendar) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "timezone": row.timezone, "hours": row.hours,
            "rest_weekdays": row.rest_weekdays, "imported_years": sorted(row.imported_years or []),
            "computed_years": sorted(row.computed_years or []),
            "provisional_years": sorted(set(row.computed_years or []) - settled_years(row)),
            "confirmed_years": sorted(row.confirmed_years or []), "version": row.version}


def _touch(row: WorkCalendar, actor: audit.Actor | None) -> None:
    """A day changed: bump the calendar's version so cached copies are replaced."""
    row.updated_at = utcnow()
    row.updated_by = actor.id if actor else None


# -- writes -----------------------------------------------------------------------------

def create_calendar(session: Session, actor: audit.Actor | None, data: CalendarCreate | Mapping[str, Any], *,
                    timezone: str) -> WorkCalendar:
    """A calendar with the default office hours, Saturday and Sunday off and
    every year of China's holidays the package knows."""
    data = coerce(CalendarCreate, data)
    if session.get(WorkCalendar, data.id) is not None:
        zh, en = f"工作日历编码 {data.id} 已存在", f"calendar id {data.id!r} already exists"
        raise ValidationFailed(zh, en, code="calendar_exists", fields=field_error("id", zh, en))
    row = WorkCalendar(id=data.id, name=data.name, timezone=timezone, hours=[list(s) for s in DEFAULT_HOURS],
                       rest_weekdays=list(DEFAULT_REST), imported_years=[], computed_years=[], confirmed_years=[],
                       updated_by=actor.id if actor else None)
    session.add(row)
    session.flush()
    audit.record(session, actor, "calendar_create", "calendar", row.id, after=as_dict(row),
                 summary=f"新建工作日历 {row.name}")
    years = package.known_years()
    _import_years(session, row, years)
    audit.record(session, actor, "calendar_import", "calendar", row.id, after={"years": years},
                 summary=f"导入法定节假日与调休 {years[0]}–{years[-1]}" if years else "")
    _record_computed(session, actor, row, _compute_years(session, row, years_to_compute(row)))
    session.flush()
    return row


def update_settings(session: Session, actor: audit.Actor | None, calendar_id: str,
                    data: SettingsIn | Mapping[str, Any]) -> WorkCalendar:
    """Change name, timezone, office hours or rest days (optimistic lock on ``version``)."""
    data = coerce(SettingsIn, data)
    row = get(session, calendar_id)
    check_version(row, data.version, "工作日历", "calendar")
    hours = check_hours(data.hours) if data.hours is not None else None
    before = as_dict(row)
    if data.name is not None:
        row.name = data.name
    if data.timezone is not None:
        row.timezone = data.timezone
    if hours is not None:
        row.hours = hours
    if data.rest_weekdays is not None:
        row.rest_weekdays = data.rest_weekdays
    after = as_dict(row)
    b, a = audit.changes(before, after)
    if not a:
        return row
    row.updated_by = actor.id if actor else None
    session.flush()
    audit.record(session, actor, "calendar_update", "calendar", row.id, before=b, after=a,
                 summary=f"修改工作日历 {row.name}：{'、'.join(a)}")
    return row


def set_day(session: Session, actor: audit.Actor | None, calendar_id: str,
            data: DayIn | Mapping[str, Any]) -> CalendarDay:
    """Make a date a holiday or a make-up working day (replacing what it was)."""
    data = coerce(DayIn, data)
    row = get(session, calendar_id)
    day = session.scalar(select(CalendarDay).where(CalendarDay.calendar_id == calendar_id,
                                                   CalendarDay.day == data.day))
    before = {"kind": day.kind, "name": day.name, "source": day.source} if day else None
    if day is None:
        day = CalendarDay(calendar_id=calendar_id, day=data.day)
        session.add(day)
    day.kind, day.name, day.source = data.kind, data.name, "admin"
    _touch(row, actor)
    session.flush()
    label = "节假日（休息）" if data.kind == "holiday" else "调休上班"
    audit.record(session, actor, "calendar_day_set", "calendar", calendar_id, before=before,
                 after={"day": data.day.isoformat(), "kind": data.kind, "name": data.name},
                 summary=f"{row.name}：{data.day.isoformat()} 设为{label}「{data.name}」")
    return day


def remove_day(session: Session, actor: audit.Actor | None, calendar_id: str, day: dt.date) -> None:
    """Drop an override: the date follows the weekly rule again."""
    row = get(session, calendar_id)
    found = session.scalar(select(CalendarDay).where(CalendarDay.calendar_id == calendar_id,
                                                     CalendarDay.day == day))
    if found is None:
        raise NotFound(f"{day.isoformat()} 没有特殊安排", f"{day.isoformat()} has no override",
                       code="calendar_day_not_found")
    before = {"day": day.isoformat(), "kind": found.kind, "name": found.name, "source": found.source}
    session.delete(found)
    _touch(row, actor)
    session.flush()
    audit.record(session, actor, "calendar_day_remove", "calendar", calendar_id, before=before,
                 summary=f"{row.name}：取消 {day.isoformat()} 的特殊安排「{found.name}」")


def check_year(year: Any) -> int:
    known = package.known_years()
    try:
        y = int(str(year).strip())
    except ValueError:
        y = None
    if y is None or y not in known:
        span = f"{known[0]}–{known[-1]}" if known else "-"
        zh = f"日历数据包（chinesecalendar {package.version()}）只有 {span} 年的数据，没有 {year} 年"
        en = f"the calendar package (chinesecalendar {package.version()}) knows {span}, not {year}"
        raise ValidationFailed(zh, en, code="calendar_year_unknown", fields=field_error("year", zh, en))
    return y


def import_year(session: Session, actor: audit.Actor | None, calendar_id: str, year: Any) -> dict[str, int]:
    """Refresh one year from the package: its package days are replaced; days
    an administrator set in that year are kept (they win over the package)."""
    y = check_year(year)
    row = get(session, calendar_id)
    in_year = (CalendarDay.calendar_id == calendar_id, CalendarDay.day >= dt.date(y, 1, 1),
               CalendarDay.day <= dt.date(y, 12, 31))
    removed = session.execute(delete(CalendarDay).where(*in_year, CalendarDay.source.in_(("package", "rules")))
                              .execution_options(synchronize_session=False)).rowcount
    kept = {d for d in session.scalars(select(CalendarDay.day).where(*in_year))}
    added = _insert_package_days(session, calendar_id, {d: v for d, v in package.year_days(y).items() if d not in kept})
    row.imported_years = sorted(set(row.imported_years or []) | {y})
    _touch(row, actor)
    session.flush()
    result = {"year": y, "added": added, "removed": removed, "kept": len(kept)}
    audit.record(session, actor, "calendar_import", "calendar", calendar_id, after=result,
                 summary=f"{row.name}：从日历数据包刷新 {y} 年（{added} 天，保留本地设置 {len(kept)} 天）")
    return result


def _insert_package_days(session: Session, calendar_id: str, days: Mapping[dt.date, tuple[str, str]]) -> int:
    if days:
        session.execute(insert(CalendarDay), [
            {"calendar_id": calendar_id, "day": d, "kind": k, "name": n[:100], "source": "package"}
            for d, (k, n) in sorted(days.items())])
    return len(days)


def _import_years(session: Session, row: WorkCalendar, years: Iterable[int]) -> list[int]:
    """Add the package days of years never imported before (dates already set are left alone).
    A year computed from the rules gets the official days instead of its computed ones;
    what an administrator set in it stays."""
    years = [y for y in years if y not in set(row.imported_years or [])]
    if not years:
        return []
    computed = [y for y in years if y in set(row.computed_years or [])]
    for y in computed:
        session.execute(delete(CalendarDay).where(
            CalendarDay.calendar_id == row.id, CalendarDay.source == "rules", CalendarDay.day >= dt.date(y, 1, 1),
            CalendarDay.day <= dt.date(y, 12, 31)).execution_options(synchronize_session=False))
    have = set(session.scalars(select(CalendarDay.day).where(CalendarDay.calendar_id == row.id)))
    days: dict[dt.date, tuple[str, str]] = {}
    for y in years:
        days.update({d: v for d, v in package.year_days(y).items() if d not in have})
    _insert_package_days(session, row.id, days)
    row.imported_years = sorted(set(row.imported_years or []) | set(years))
    return years


def years_to_compute(row: WorkCalendar, until: int | None = None) -> list[int]:
    """Years after the package's last one, up to next year, that have neither
    package data nor computed days yet."""
    known = package.known_years()
    first = (known[-1] + 1) if known else today(row.timezone).year
    last = until if until is not None else today(row.timezone).year + COMPUTE_AHEAD
    done = set(row.imported_years or []) | set(row.computed_years or []) | set(row.confirmed_years or [])
    return [y for y in range(first, last + 1) if y not in done]


def _compute_years(session: Session, row: WorkCalendar, years: Iterable[int]) -> list[int]:
    """Add the statutory holidays computed from the rules (dates already set are left alone)."""
    years = list(years)
    if not years:
        return []
    have = set(session.scalars(select(CalendarDay.day).where(CalendarDay.calendar_id == row.id)))
    days: dict[dt.date, tuple[str, str]] = {}
    for y in years:
        days.update({d: v for d, v in rules.year_days(y).items() if d not in have})
    if days:
        session.execute(insert(CalendarDay), [
            {"calendar_id": row.id, "day": d, "kind": k, "name": n[:100], "source": "rules"}
            for d, (k, n) in sorted(days.items())])
    row.computed_years = sorted(set(row.computed_years or []) | set(years))
    return years


def _record_computed(session: Session, actor: audit.Actor | None, row: WorkCalendar, years: list[int]) -> None:
    if years:
        session.flush()
        audit.record(session, actor, "calendar_compute", "calendar", row.id, after={"years": years},
                     summary=f"{row.name}：按《全国年节及纪念日放假办法》计算 {'、'.join(map(str, years))} 年的"
                             "法定节假日（暂定，调休待国务院通知）")


def compute_year(session: Session, actor: audit.Actor | None, calendar_id: str, year: Any) -> dict[str, Any]:
    """Compute a missing year's statutory holidays from the rules (a year the package does not know)."""
    row = get(session, calendar_id)
    y = _year_arg(year)
    status = year_status(row, y)
    if status != "missing":
        zh = f"{y} 年已有节假日安排（{STATUS_ZH[status]}），无需计算"
        en = f"{y} already has its holidays ({status}): nothing to compute"
        raise ValidationFailed(zh, en, code="calendar_year_not_missing", fields=field_error("year", zh, en))
    known = package.known_years()
    if known and y <= known[-1]:
        zh = f"只能计算日历数据包（{known[-1]} 年为止）之后的年份；现行放假办法自 2025 年起施行"
        en = f"only years after the package's last ({known[-1]}) can be computed from the current rules"
        raise ValidationFailed(zh, en, code="calendar_year_not_computable", fields=field_error("year", zh, en))
    _compute_years(session, row, [y])
    _touch(row, actor)
    _record_computed(session, actor, row, [y])
    return {"year": y, "status": year_status(row, y)}


STATUS_ZH = {"official": "国务院公布，来自日历数据包", "confirmed": "管理员已确认", "provisional": "暂定",
             "missing": "尚无安排"}


def _year_arg(year: Any) -> int:
    try:
        y = int(str(year).strip())
    except ValueError:
        y = None
    if y is None or not MIN_YEAR <= y <= MAX_YEAR:
        zh = f"年份 {year!r} 无效，应在 {MIN_YEAR}–{MAX_YEAR} 之间"
        en = f"year {year!r} is invalid: use {MIN_YEAR}-{MAX_YEAR}"
        raise ValidationFailed(zh, en, code="bad_year", fields=field_error("year", zh, en))
    return y


def confirm_year(session: Session, actor: audit.Actor | None, calendar_id: str, year: Any) -> dict[str, Any]:
    """An administrator checked a provisional (or missing) year against the
    State Council notice and entered its 调休 days: deadlines there are no
    longer marked provisional. A later package release still brings the
    official days, keeping the administrator's own."""
    row = get(session, calendar_id)
    y = _year_arg(year)
    status = year_status(row, y)
    if status not in ("provisional", "missing"):
        zh = f"{y} 年的节假日已是{STATUS_ZH[status]}，无需确认"
        en = f"{y} is already {status}: nothing to confirm"
        raise ValidationFailed(zh, en, code="calendar_year_settled", fields=field_error("year", zh, en))
    row.confirmed_years = sorted(set(row.confirmed_years or []) | {y})
    _touch(row, actor)
    session.flush()
    admin_days = session.scalar(select(func.count()).select_from(CalendarDay).where(
        CalendarDay.calendar_id == calendar_id, CalendarDay.source == "admin",
        CalendarDay.day >= dt.date(y, 1, 1), CalendarDay.day <= dt.date(y, 12, 31))) or 0
    result = {"year": y, "was": status, "admin_days": admin_days}
    audit.record(session, actor, "calendar_confirm", "calendar", calendar_id, before={"year": y, "status": status},
                 after={"year": y, "status": "confirmed"},
                 summary=f"{row.name}：确认 {y} 年的节假日安排（原为{STATUS_ZH[status]}，管理员设置 {admin_days} 天）")
    return result


def seed_calendars(ctx: Any, session: Session) -> list[int]:
    """Bootstrap: the ``default`` calendar (deployment timezone, 08:30–12:00 and
    13:30–17:30, Saturday and Sunday off), and the years a newer package
    release adds to every calendar. Earlier years stay as administrators left them."""
    rows = list_calendars(session)
    if not any(r.id == DEFAULT_ID for r in rows):
        name = ctx.gettext("calendar.default_name")
        row = WorkCalendar(id=DEFAULT_ID, name=name, timezone=ctx.deployment.timezone,
                           hours=[list(s) for s in DEFAULT_HOURS], rest_weekdays=list(DEFAULT_REST),
                           imported_years=[], computed_years=[], confirmed_years=[])
        session.add(row)
        session.flush()
        audit.record(session, None, "calendar_create", "calendar", row.id, after=as_dict(row), summary="seeded")
        rows.append(row)
    added: list[int] = []
    years = package.known_years()
    for row in rows:
        new = _import_years(session, row, years)
        if new:
            session.flush()
            audit.record(session, None, "calendar_import", "calendar", row.id, after={"years": new},
                         summary=f"导入法定节假日与调休 {new[0]}–{new[-1]}")
            added += new
        _record_computed(session, None, row, _compute_years(session, row, years_to_compute(row)))
    return sorted(set(added))

