"""应用维护 → 工作日历: office hours, rest days, holidays and 调休 days, a year
view, a deadline calculator (htmx screens) and a JSON API.

Calendars are deployment-wide reference data, so ``core.calendar.view`` /
``core.calendar.edit`` held in any org domain suffice. Writes go through
:mod:`core.calendar.service`, which audits them.
"""

from __future__ import annotations

import calendar as stdcal
import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm.exc import StaleDataError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..audit import actor_of
from ..calendar import service as svc
from ..calendar.compute import UNITS, Calendar
from ..calendar.models import CalendarDay
from ..errors import CcmsError, Conflict, ValidationFailed
from ..services import field_error
from .actions import STALE
from .admin_orgs import history
from .openapi import api_doc
from .pages import is_htmx, redirect
from .render import render
from .routing import form_data, json_body, requires

VIEW, EDIT = "core.calendar.view", "core.calendar.edit"
BASE = "/admin/calendars"
MAX_SEGMENTS = 8
WEEKDAYS = range(1, 8)


def _status(request: Request, status: int) -> int:
    """htmx swaps only 2xx answers, so inline errors go back as 200 to htmx."""
    return 200 if is_htmx(request) else status


def _weekday_names(ctx: Any) -> dict[int, str]:
    return {w: ctx.gettext(f"calendar.weekday.{w}") for w in WEEKDAYS}


def _local_today(cal: Calendar) -> dt.date:
    return dt.datetime.now(cal.tz).date()


def _year_param(request: Request, cal: Calendar) -> int:
    """The year to show; junk or out of range shows the current year (a view, not an input)."""
    raw = request.query_params.get("year", "").strip()
    if raw.isdecimal() and svc.MIN_YEAR <= int(raw) <= svc.MAX_YEAR:
        return int(raw)
    return _local_today(cal).year


# --- context builders ---------------------------------------------------------------------

def _settings_values(row: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"name": row.name, "timezone": row.timezone, "version": str(row.version),
                              "rest": [str(w) for w in row.rest_weekdays or []]}
    for i, (a, b) in enumerate(row.hours or [], start=1):
        values[f"start_{i}"], values[f"end_{i}"] = a, b
    return values


def _slots(values: dict[str, Any]) -> list[int]:
    used = [i for i in range(1, MAX_SEGMENTS + 1) if values.get(f"start_{i}") or values.get(f"end_{i}")]
    return list(range(1, min(MAX_SEGMENTS, max(4, (max(used) if used else 0) + 1)) + 1))


def _months(ctx: Any, cal: Calendar, year: int) -> list[dict[str, Any]]:
    """Twelve month grids (weeks from Monday) with each date's kind for the year view."""
    today = _local_today(cal)
    grid = stdcal.Calendar(firstweekday=0)
    months = []
    for m in range(1, 13):
        weeks = []
        for week in grid.monthdatescalendar(year, m):
            weeks.append([None if d.month != m else {"info": cal.day_info(d), "today": d == today}
                          for d in week])
        months.append({"month": m, "title": ctx.gettext(f"calendar.month.{m}"), "weeks": weeks})
    return months


def _year_context(ctx: Any, s: Any, user: Any, cal_id: str, year: int, **extra: Any) -> dict[str, Any]:
    row = svc.get(s, cal_id)
    cal = svc.get_calendar(s, cal_id)
    days = svc.year_days(s, cal_id, year)
    known = svc.package.known_years()
    context = {
        "cal": row, "year": year, "months": _months(ctx, cal, year), "days": days,
        "weekday_names": _weekday_names(ctx), "can_edit": ctx.can_anywhere(user, EDIT),
        "package_years": known, "package_version": svc.package.version(),
        "year_known": year in known,
        # official / confirmed / provisional (computed from the rules) / missing (weekly rule only)
        "year_status": svc.year_status(row, year),
        "day_values": {"day": "", "kind": "holiday", "day_name": ""}, "day_errors": {}, "day_error": None,
        "year_notice": "", "import_result": None,
        "kind_options": [("holiday", ctx.gettext("calendar.kind.holiday")),
                         ("workday", ctx.gettext("calendar.kind.workday"))],
        "counts": _year_counts(cal, year),
    }
    context.update(extra)
    return context


def _year_counts(cal: Calendar, year: int) -> dict[str, int]:
    first, last = dt.date(year, 1, 1).toordinal(), dt.date(year, 12, 31).toordinal()
    working = cal.count_before(last + 1) - cal.count_before(first)
    return {"working": working, "rest": last - first + 1 - working}


def _page_context(request: Request, s: Any, cal_id: str, **extra: Any) -> dict[str, Any]:
    ctx, user = request.scope["ccms"], request.scope["user"]
    row = svc.get(s, cal_id)
    cal = svc.get_calendar(s, cal_id)
    year = extra.pop("year", None) or _year_param(request, cal)
    values = extra.pop("values", None) or _settings_values(row)
    context = _year_context(ctx, s, user, cal_id, year)
    context.update({
        "values": values, "slots": _slots(values), "errors": {}, "error": None, "notice": "",
        "no_working_time": cal.day_us == 0 or not cal.per_week,
        "calc": _calc_defaults(cal), "calc_errors": {}, "calc_error": None, "calc_result": None,
        "unit_options": [(u, ctx.gettext(f"calendar.unit.{u}")) for u in UNITS],
        "history": history(s, "calendar", cal_id, limit=20),
        "cal_warnings": [w for w in svc.warnings(s) if w["calendar"].id == cal_id],
        "breadcrumbs": [(ctx.gettext("calendar.title"), BASE), (row.name, None)],
    })
    context.update(extra)
    return context


def _calc_defaults(cal: Calendar) -> dict[str, str]:
    now = dt.datetime.now(cal.tz).replace(second=0, microsecond=0, tzinfo=None)
    return {"start": now.isoformat(timespec="minutes"), "amount": "4", "unit": "work_hours"}


# --- screens: list and create --------------------------------------------------------------

@requires(VIEW)
async def list_page(request: Request) -> Response:
    return _render_list(request)


def _render_list(request: Request, values: dict[str, str] | None = None, exc: CcmsError | None = None,
                 status: int = 200) -> Response:
    ctx, user = request.scope["ccms"], request.scope["user"]
    with ctx.db.session() as s:
        rows = svc.list_calendars(s)
        return render(request, "admin/calendar_list.html", {
            "rows": rows, "cal_warnings": svc.warnings(s), "weekday_names": _weekday_names(ctx), "can_edit": ctx.can_anywhere(user, EDIT),
            "values": values or {"id": "", "name": ""}, "errors": dict(exc.fields or {}) if exc else {},
            "error": exc, "breadcrumbs": [(ctx.gettext("calendar.title"), None)]}, status_code=status)


@requires(EDIT)
async def create_action(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await form_data(request)
    values = {k: str(data.get(k, "")).strip() for k in ("id", "name")}
    try:
        with ctx.db.session() as s:
            svc.create_calendar(s, actor_of(request), values, timezone=ctx.deployment.timezone)
    except ValidationFailed as exc:
        return _render_list(request, values, exc, 422)
    return redirect(request, f"{BASE}/{values['id']}", flash="saved")


# --- screens: one calendar -------------------------------------------------------------------

@requires(VIEW)
async def detail_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    cal_id = request.path_params["cal"]
    with ctx.db.session() as s:
        context = _page_context(request, s, cal_id)
        if is_htmx(request) and request.query_params.get("part") == "year":
            return render(request, "admin/calendar_year.html", context)
        return render(request, "admin/calendar_detail.html", context)


def _settings_input(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[int], dict[str, Any]]:
    """Form fields -> (values to re-show, service input, row number of each segment, row errors)."""
    values: dict[str, Any] = {k: str(data.get(k, "")).strip() for k in ("name", "timezone", "version")}
    rest = data.get("rest", [])
    values["rest"] = [str(r) for r in (rest if isinstance(rest, list) else [rest])]
    hours, rows, errors = [], [], {}
    for i in range(1, MAX_SEGMENTS + 1):
        a, b = str(data.get(f"start_{i}", "")).strip(), str(data.get(f"end_{i}", "")).strip()
        values[f"start_{i}"], values[f"end_{i}"] = a, b
        if not a and not b:
            continue
        if not a or not b:
            zh, en = "请同时填写开始和结束时间", "fill in both the start and the end"
            errors.update(field_error(f"{'start' if not a else 'end'}_{i}", zh, en))
            continue
        hours.append([a, b])
        rows.append(i)
    payload: dict[str, Any] = {"name": values["name"], "timezone": values["timezone"], "hours": hours}
    if values["version"].isdecimal():
        payload["version"] = int(values["version"])
    try:
        payload["rest_weekdays"] = [int(r) for r in values["rest"] if r]
    except ValueError:
        errors.update(field_error("rest", "休息日应为 1（周一）到 7（周日）", "rest days are 1 (Monday) to 7 (Sunday)"))
    return values, payload, rows, errors


def _form_errors(exc: CcmsError, rows: list[int]) -> dict[str, Any]:
    """Service field names (``hours.0.start``, ``rest_weekdays``) -> form input names."""
    out: dict[str, Any] = {}
    for key, msg in (exc.fields or {}).items():
        parts = key.split(".")
        if parts[0] == "hours" and len(parts) >= 2 and parts[1].isdecimal() and int(parts[1]) < len(rows):
            which = parts[2] if len(parts) > 2 and parts[2] in ("start", "end") else "start"
            out.setdefault(f"{which}_{rows[int(parts[1])]}", msg)
        elif parts[0] == "rest_weekdays":
            out.setdefault("rest", msg)
        else:
            out.setdefault(parts[0], msg)
    return out


@requires(EDIT)
async def settings_action(request: Request) -> Response:
    ctx = request.scope["ccms"]
    cal_id = request.path_params["cal"]
    values, payload, rows, row_errors = _settings_input(await form_data(request))
    exc: CcmsError | None = None
    try:
        if row_errors:
            first = next(iter(row_errors.values()))
            raise ValidationFailed(f"办公时间有误：{first['message']}",
                                   f"office hours are invalid: {first['message_en']}", fields=row_errors)
        with ctx.db.session() as s:
            svc.update_settings(s, actor_of(request), cal_id, payload)
    except (ValidationFailed, Conflict) as exc_:
        exc = exc_
    except StaleDataError:
        exc = STALE
    if exc is None and not is_htmx(request):
        return redirect(request, f"{BASE}/{cal_id}", flash="saved")
    with ctx.db.session() as s:
        if exc is None:
            context = _page_context(request, s, cal_id, notice="saved")
            headers = {"HX-Trigger": "calendar-changed"}
        else:
            errors = row_errors if row_errors else _form_errors(exc, rows)
            context = _page_context(request, s, cal_id, values=values, errors=errors, error=exc)
            headers = {}
        template = "admin/calendar_settings.html" if is_htmx(request) else "admin/calendar_detail.html"
        return render(request, template, context, status_code=_status(request, exc.status if exc else 200),
                      headers=headers)


def _render_year(request: Request, cal_id: str, year: int, status: int = 200, **extra: Any) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        context = _page_context(request, s, cal_id, year=year, **extra)
        template = "admin/calendar_year.html" if is_htmx(request) else "admin/calendar_detail.html"
        return render(request, template, context, status_code=_status(request, status))


def _form_year(data: dict[str, Any], fallback: dt.date | None = None) -> int:
    raw = str(data.get("year", "")).strip()
    if raw.isdecimal() and svc.MIN_YEAR <= int(raw) <= svc.MAX_YEAR:
        return int(raw)
    return (fallback or dt.date.today()).year


@requires(EDIT)
async def day_add_action(request: Request) -> Response:
    ctx = request.scope["ccms"]
    cal_id = request.path_params["cal"]
    data = await form_data(request)
    # The form says day_name: "name" is taken by the settings form on the same page.
    values = {k: str(data.get(k, "")).strip() for k in ("day", "kind", "day_name")}
    year = _form_year(data)
    try:
        with ctx.db.session() as s:
            payload = {"day": values["day"], "kind": values["kind"], "name": values["day_name"]}
            year = svc.set_day(s, actor_of(request), cal_id, payload).day.year
    except ValidationFailed as exc:
        errors = {("day_name" if k == "name" else k): v for k, v in (exc.fields or {}).items()}
        return _render_year(request, cal_id, year, exc.status, day_values=values, day_error=exc, day_errors=errors)
    except StaleDataError:
        return _render_year(request, cal_id, year, 409, day_values=values, day_error=STALE)
    if not is_htmx(request):
        return redirect(request, f"{BASE}/{cal_id}?year={year}", flash="saved")
    return _render_year(request, cal_id, year, year_notice="day_saved")


@requires(EDIT)
async def day_remove_action(request: Request) -> Response:
    ctx = request.scope["ccms"]
    cal_id, raw = request.path_params["cal"], request.path_params["day"]
    data = await form_data(request)
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        zh, en = f"日期 {raw!r} 无效", f"{raw!r} is not a date"
        return _render_year(request, cal_id, _form_year(data), 422, day_error=ValidationFailed(zh, en))
    try:
        with ctx.db.session() as s:
            svc.remove_day(s, actor_of(request), cal_id, day)
    except CcmsError as exc:
        if exc.code == "calendar_not_found":
            raise
        return _render_year(request, cal_id, day.year, exc.status, day_error=exc)
    except StaleDataError:
        return _render_year(request, cal_id, day.year, 409, day_error=STALE)
    if not is_htmx(request):
        return redirect(request, f"{BASE}/{cal_id}?year={day.year}", flash="saved")
    return _render_year(request, cal_id, day.year, year_notice="day_removed")


@requires(EDIT)
async def import_action(request: Request) -> Response:
    ctx = request.scope["ccms"]
    cal_id = request.path_params["cal"]
    data = await form_data(request)
    year = _form_year(data)
    try:
        with ctx.db.session() as s:
            result = svc.import_year(s, actor_of(request), cal_id, data.get("year", ""))
    except ValidationFailed as exc:
        return _render_year(request, cal_id, year, exc.status, day_error=exc)
    except StaleDataError:
        return _render_year(request, cal_id, year, 409, day_error=STALE)
    if not is_htmx(request):
        return redirect(request, f"{BASE}/{cal_id}?year={result['year']}", flash="calendar_imported")
    return _render_year(request, cal_id, result["year"], year_notice="imported", import_result=result)


@requires(EDIT)
async def confirm_action(request: Request) -> Response:
    """An administrator confirms a provisional (or missing) year: audited."""
    return await _year_action(request, svc.confirm_year, "confirmed")


@requires(EDIT)
async def compute_action(request: Request) -> Response:
    """Compute a missing year's statutory holidays from the rules: audited."""
    return await _year_action(request, svc.compute_year, "computed")


async def _year_action(request: Request, fn: Any, notice: str) -> Response:
    ctx = request.scope["ccms"]
    cal_id = request.path_params["cal"]
    data = await form_data(request)
    year = _form_year(data)
    try:
        with ctx.db.session() as s:
            year = fn(s, actor_of(request), cal_id, data.get("year", ""))["year"]
    except ValidationFailed as exc:
        return _render_year(request, cal_id, year, exc.status, day_error=exc)
    except StaleDataError:
        return _render_year(request, cal_id, year, 409, day_error=STALE)
    if not is_htmx(request):
        return redirect(request, f"{BASE}/{cal_id}?year={year}", flash=f"calendar_{notice}")
    return _render_year(request, cal_id, year, year_notice=notice)


# --- the deadline calculator ----------------------------------------------------------------------

def _parse_start(raw: str, cal: Calendar) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        zh = f"开始时间 {raw!r} 无效，格式如 2025-09-30T16:00"
        en = f"start {raw!r} is invalid: use e.g. 2025-09-30T16:00"
        raise ValidationFailed(zh, en, fields=field_error("start", zh, en)) from None
    if not svc.MIN_YEAR <= value.year <= svc.MAX_YEAR:
        zh = f"开始时间应在 {svc.MIN_YEAR}–{svc.MAX_YEAR} 年之间"
        en = f"the start must be within {svc.MIN_YEAR}-{svc.MAX_YEAR}"
        raise ValidationFailed(zh, en, fields=field_error("start", zh, en))
    return value.replace(tzinfo=cal.tz) if value.tzinfo is None else value


def _parse_amount(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        value = float("nan")
    if not value == value or value < 0 or value > 100_000:
        zh, en = "时限应为 0 到 100000 之间的数字", "the amount must be a number from 0 to 100000"
        raise ValidationFailed(zh, en, fields=field_error("amount", zh, en))
    return value


def calculate(cal: Calendar, start_raw: str, amount_raw: str, unit: str) -> dict[str, Any]:
    """Calculator result: the deadline, the 80 % warning point, both in the calendar's time."""
    errors: dict[str, Any] = {}
    start = amount = None
    for name, fn in (("start", lambda: _parse_start(start_raw, cal)), ("amount", lambda: _parse_amount(amount_raw))):
        try:
            if name == "start":
                start = fn()
            else:
                amount = fn()
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if unit not in UNITS:
        errors.update(field_error("unit", "请选择时限单位", "choose a unit"))
    if errors:
        first = next(iter(errors.values()))
        raise ValidationFailed(f"输入有误：{first['message']}", f"invalid input: {first['message_en']}", fields=errors)
    assert start is not None and amount is not None
    due = cal.deadline(start, amount, unit)
    warn = cal.deadline(start, amount * 0.8, unit)
    return {"start": start.astimezone(cal.tz), "deadline": due, "deadline_local": due.astimezone(cal.tz),
            "warn_local": warn.astimezone(cal.tz), "amount": amount, "unit": unit,
            "open_at_start": cal.is_open(start), "provisional": cal.is_provisional(due),
            "clock_minutes": round((due - start.astimezone(dt.timezone.utc)) / dt.timedelta(minutes=1))}


@requires(VIEW)
async def calc_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    cal_id = request.path_params["cal"]
    q = request.query_params
    calc = {k: q.get(k, "").strip()[:40] for k in ("start", "amount", "unit")}
    with ctx.db.session() as s:
        cal = svc.get_calendar(s, cal_id)
        result = exc = None
        try:
            result = calculate(cal, calc["start"], calc["amount"], calc["unit"])
        except ValidationFailed as exc_:
            exc = exc_
        context = _page_context(request, s, cal_id, calc=calc, calc_result=result, calc_error=exc,
                                calc_errors=dict(exc.fields or {}) if exc else {})
        template = "admin/calendar_calc.html" if is_htmx(request) else "admin/calendar_detail.html"
        return render(request, template, context, status_code=_status(request, exc.status if exc else 200))


# --- JSON API ------------------------------------------------------------------------------------

class CalendarOut(BaseModel):
    id: str
    name: str
    timezone: str
    hours: list[list[str]]
    rest_weekdays: list[int]
    imported_years: list[int]
    computed_years: list[int] = []
    provisional_years: list[int] = []
    confirmed_years: list[int] = []
    version: int


class DayOut(BaseModel):
    day: dt.date
    kind: str
    name: str
    source: str


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int = Field(description="日历数据包中有的年份 / a year the package knows")


class ImportOut(BaseModel):
    year: int
    added: int
    removed: int
    kept: int


class DeadlineOut(BaseModel):
    calendar_id: str
    start: dt.datetime
    amount: float
    unit: str
    deadline: dt.datetime
    deadline_local: str
    provisional: bool = Field(description="到期日所在年份的节假日为暂定（按放假办法计算或尚无安排） / "
                                          "the deadline's year has provisional holidays")


class YearIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int = Field(description="年份 / the year")


class YearOut(BaseModel):
    year: int
    status: str = ""


def day_out(d: CalendarDay) -> dict[str, Any]:
    return {"day": d.day.isoformat(), "kind": d.kind, "name": d.name, "source": d.source}


@requires(VIEW)
async def api_list(request: Request) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        items = [svc.as_dict(r) for r in svc.list_calendars(s)]
    return JSONResponse({"items": items, "total": len(items)})


@requires(EDIT)
async def api_create(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await json_body(request, svc.CalendarCreate)
    with ctx.db.session() as s:
        body = svc.as_dict(svc.create_calendar(s, actor_of(request), data, timezone=ctx.deployment.timezone))
    return JSONResponse(body, status_code=201)


@requires(VIEW)
async def api_get(request: Request) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        return JSONResponse(svc.as_dict(svc.get(s, request.path_params["cal"])))


@requires(EDIT)
async def api_patch(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await json_body(request, svc.SettingsIn)
    with ctx.db.session() as s:
        row = svc.update_settings(s, actor_of(request), request.path_params["cal"], data)
        s.flush()
        body = svc.as_dict(row)
    return JSONResponse(body)


@requires(VIEW)
async def api_days(request: Request) -> Response:
    ctx = request.scope["ccms"]
    cal_id = request.path_params["cal"]
    raw = request.query_params.get("year", "").strip()
    if not (raw.isdecimal() and svc.MIN_YEAR <= int(raw) <= svc.MAX_YEAR):
        zh = f"参数 year 应为 {svc.MIN_YEAR}–{svc.MAX_YEAR} 的年份"
        en = f"year must be within {svc.MIN_YEAR}..{svc.MAX_YEAR}"
        raise ValidationFailed(zh, en, fields=field_error("year", zh, en))
    with ctx.db.session() as s:
        svc.get(s, cal_id)
        items = [day_out(d) for d in svc.year_days(s, cal_id, int(raw))]
    return JSONResponse({"items": items, "total": len(items)})


@requires(EDIT)
async def api_day_set(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await json_body(request, svc.DayIn)
    with ctx.db.session() as s:
        body = day_out(svc.set_day(s, actor_of(request), request.path_params["cal"], data))
    return JSONResponse(body)


@requires(EDIT)
async def api_day_delete(request: Request) -> Response:
    ctx = request.scope["ccms"]
    raw = request.path_params["day"]
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        zh, en = f"日期 {raw!r} 无效，格式如 2025-10-01", f"{raw!r} is not a date like 2025-10-01"
        raise ValidationFailed(zh, en, fields=field_error("day", zh, en)) from None
    with ctx.db.session() as s:
        svc.remove_day(s, actor_of(request), request.path_params["cal"], day)
    return JSONResponse({"day": day.isoformat(), "deleted": True})


@requires(EDIT)
async def api_import(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await json_body(request, ImportIn)
    with ctx.db.session() as s:
        result = svc.import_year(s, actor_of(request), request.path_params["cal"], data.year)
    return JSONResponse(result)


@requires(VIEW)
async def api_deadline(request: Request) -> Response:
    ctx = request.scope["ccms"]
    cal_id = request.path_params["cal"]
    q = request.query_params
    with ctx.db.session() as s:
        cal = svc.get_calendar(s, cal_id)
        r = calculate(cal, q.get("start", "")[:40], q.get("amount", "")[:40], q.get("unit", ""))
    return JSONResponse({"calendar_id": cal_id, "start": r["start"].isoformat(), "amount": r["amount"],
                         "unit": r["unit"], "deadline": r["deadline"].isoformat(),
                         "deadline_local": r["deadline_local"].isoformat(), "provisional": r["provisional"]})


@requires(EDIT)
async def api_confirm(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await json_body(request, YearIn)
    with ctx.db.session() as s:
        result = svc.confirm_year(s, actor_of(request), request.path_params["cal"], data.year)
    return JSONResponse({"year": result["year"], "status": "confirmed"})


@requires(EDIT)
async def api_compute(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await json_body(request, YearIn)
    with ctx.db.session() as s:
        result = svc.compute_year(s, actor_of(request), request.path_params["cal"], data.year)
    return JSONResponse(result)


routes = [
    Route(BASE, list_page, methods=["GET"], name="admin-calendars"),
    Route(BASE, create_action, methods=["POST"], name="admin-calendar-create"),
    Route(BASE + "/{cal}", detail_page, name="admin-calendar"),
    Route(BASE + "/{cal}/settings", settings_action, methods=["POST"], name="admin-calendar-settings"),
    Route(BASE + "/{cal}/days", day_add_action, methods=["POST"], name="admin-calendar-day-add"),
    Route(BASE + "/{cal}/days/{day}/delete", day_remove_action, methods=["POST"], name="admin-calendar-day-remove"),
    Route(BASE + "/{cal}/import", import_action, methods=["POST"], name="admin-calendar-import"),
    Route(BASE + "/{cal}/calc", calc_page, methods=["GET"], name="admin-calendar-calc"),
    Route(BASE + "/{cal}/confirm", confirm_action, methods=["POST"], name="admin-calendar-confirm"),
    Route(BASE + "/{cal}/compute", compute_action, methods=["POST"], name="admin-calendar-compute"),
    Route("/api/calendars", api_list, methods=["GET"], name="api-calendars"),
    Route("/api/calendars", api_create, methods=["POST"], name="api-calendar-create"),
    Route("/api/calendars/{cal}", api_get, methods=["GET"], name="api-calendar"),
    Route("/api/calendars/{cal}", api_patch, methods=["PATCH"], name="api-calendar-patch"),
    Route("/api/calendars/{cal}/days", api_days, methods=["GET"], name="api-calendar-days"),
    Route("/api/calendars/{cal}/days", api_day_set, methods=["POST"], name="api-calendar-day-set"),
    Route("/api/calendars/{cal}/days/{day}", api_day_delete, methods=["DELETE"], name="api-calendar-day-delete"),
    Route("/api/calendars/{cal}/import", api_import, methods=["POST"], name="api-calendar-import"),
    Route("/api/calendars/{cal}/deadline", api_deadline, methods=["GET"], name="api-calendar-deadline"),
    Route("/api/calendars/{cal}/confirm", api_confirm, methods=["POST"], name="api-calendar-confirm"),
    Route("/api/calendars/{cal}/compute", api_compute, methods=["POST"], name="api-calendar-compute"),
]

api_docs = [
    api_doc("/api/calendars", "get", "工作日历列表 / list working calendars", permission=VIEW, response=CalendarOut,
            response_list=True),
    api_doc("/api/calendars", "post", "新建工作日历（默认办公时间与法定节假日） / create a calendar", permission=EDIT,
            request=svc.CalendarCreate, response=CalendarOut, status=201),
    api_doc("/api/calendars/{cal}", "get", "一个工作日历 / one calendar", permission=VIEW, response=CalendarOut),
    api_doc("/api/calendars/{cal}", "patch",
            "修改名称、时区、办公时间、休息日（可带 version） / edit settings (optionally with version)",
            permission=EDIT, request=svc.SettingsIn, response=CalendarOut),
    api_doc("/api/calendars/{cal}/days", "get", "某年的节假日与调休 / holidays and make-up days of a year",
            permission=VIEW, response=DayOut, response_list=True, query={"year": "年份 / the year (required)"}),
    api_doc("/api/calendars/{cal}/days", "post", "设置一天为节假日或调休上班 / set a holiday or make-up day",
            permission=EDIT, request=svc.DayIn, response=DayOut),
    api_doc("/api/calendars/{cal}/days/{day}", "delete", "取消一天的特殊安排 / remove a day's override",
            permission=EDIT),
    api_doc("/api/calendars/{cal}/import", "post", "从日历数据包刷新一年 / refresh a year from the package",
            permission=EDIT, request=ImportIn, response=ImportOut),
    api_doc("/api/calendars/{cal}/confirm", "post",
            "确认暂定年份的节假日安排（已核对国务院通知） / confirm a provisional year", permission=EDIT,
            request=YearIn, response=YearOut),
    api_doc("/api/calendars/{cal}/compute", "post",
            "按放假办法计算尚无安排年份的法定节假日（暂定） / compute a missing year's holidays (provisional)",
            permission=EDIT, request=YearIn, response=YearOut),
    api_doc("/api/calendars/{cal}/deadline", "get", "期限计算 / compute a deadline", permission=VIEW,
            response=DeadlineOut,
            query={"start": "开始时间（ISO 8601；无时区按日历时区） / start (ISO 8601; no offset: calendar time)",
                   "amount": "时限数值 / amount", "unit": "minutes | work_hours | work_days"}),
]


def dashboard_panels(ctx: Any, user: Any) -> list[dict[str, Any]]:
    """The home page's notice for calendar administrators: a year that is
    provisional or missing (the current one, and from October the coming one)."""
    if user is None or not ctx.can_anywhere(user, EDIT):
        return []
    with ctx.db.session() as s:
        warnings = svc.warnings(s)
        if not warnings:
            return []
        data = [{"calendar": {"id": w["calendar"].id, "name": w["calendar"].name}, "year": w["year"],
                 "status": w["status"]} for w in warnings]
    return [{"title": ctx.gettext("calendar_future.panel_title"), "template": "admin/calendar_panel.html",
             "data": {"warnings": data}}]
