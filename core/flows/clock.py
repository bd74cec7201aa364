"""Time for the flow engine: the current instant and deadline arithmetic.

``now()`` is the one place the engine reads the clock (tests move it with
``monkeypatch.setattr(clock, "now", ...)``). Deadlines in ``work_hours`` and
``work_days`` are counted on the working calendar (``core.calendar.service``);
``minutes`` are plain clock minutes.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.orm import Session

from ..db import utcnow
from ..errors import ValidationFailed

log = logging.getLogger("ccms.flows")
UNITS = ("minutes", "work_hours", "work_days")
DEFAULT_CALENDAR = "default"


def now() -> dt.datetime:
    """The current instant (UTC, aware)."""
    return utcnow()


def _check(amount: Any, unit: Any) -> float:
    if unit not in UNITS:
        raise ValidationFailed(f"时限单位 {unit!r} 无效", f"invalid time-limit unit {unit!r}", code="bad_unit")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
        raise ValidationFailed(f"时限 {amount!r} 无效，应为不小于 0 的数字", f"invalid time limit {amount!r}: use a number >= 0",
                               code="bad_amount")
    return float(amount)


def _service() -> Any:
    try:
        from ..calendar import service  # lazy: optional: without the working calendar, clock time
    except ImportError:  # the working calendar is not installed: count clock time
        return None
    return service


def deadline(session: Session, calendar_id: str | None, start: dt.datetime, amount: Any, unit: str) -> dt.datetime:
    """``start`` plus ``amount`` ``unit`` of (working) time."""
    value = _check(amount, unit)
    if unit == "minutes":
        return start + dt.timedelta(minutes=value)
    svc = _service()
    if svc is None:
        log.warning("core.calendar.service missing: counting %s as clock time", unit)
        return start + dt.timedelta(hours=value * (24 if unit == "work_days" else 1))
    return _calendar(session, svc, calendar_id).deadline(start, value, unit)


def elapsed(session: Session, calendar_id: str | None, start: dt.datetime, end: dt.datetime, unit: str) -> float:
    """(Working) time between two instants in ``unit`` (0 when ``end`` is earlier)."""
    if end <= start:
        return 0.0
    if unit == "minutes":
        return (end - start).total_seconds() / 60
    svc = _service()
    if svc is None:
        return (end - start).total_seconds() / 3600 / (24 if unit == "work_days" else 1)
    return float(_calendar(session, svc, calendar_id).elapsed(start, end, unit))


def _calendar(session: Session, svc: Any, calendar_id: str | None) -> Any:
    """The loaded calendar, asked once per transaction (a step computes several deadlines)."""
    cid = calendar_id or DEFAULT_CALENDAR
    memo = session.info.setdefault("ccms_flow_calendars", {})
    cal = memo.get(cid)
    if cal is None:
        with session.no_autoflush:  # the calendar never depends on the step's pending rows
            cal = memo[cid] = svc.get_calendar(session, cid)
    return cal


def shift(session: Session, calendar_id: str | None, when: dt.datetime | None, paused_at: dt.datetime,
          resumed_at: dt.datetime, unit: str | None) -> dt.datetime | None:
    """A deadline after a pause (挂账): the (working) time that was left at
    ``paused_at`` counts again from ``resumed_at``; past deadlines stay."""
    if when is None or when <= paused_at:
        return when
    unit = unit or "minutes"
    left = elapsed(session, calendar_id, paused_at, when, unit)
    return deadline(session, calendar_id, resumed_at, left, unit)
