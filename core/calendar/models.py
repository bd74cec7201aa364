"""Tables of the working calendar (工作日历): calendars and their day overrides.

They live on core's ``Base`` (migration ``0007_work_calendar``); importing
:mod:`ccms.seed` imports this module, so core's metadata includes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, JSONType, UTCDateTime, utcnow

KINDS = ("holiday", "workday")  # holiday: a rest day (节假日); workday: a make-up working day (调休上班)


class WorkCalendar(Base):
    """One working calendar: office hours of a working day, weekly rest days.

    ``version`` counts every change, including its day overrides, so a loaded
    calendar can be cached per (id, version).
    """

    __tablename__ = "core_work_calendar"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # [["08:30", "12:00"], ["13:30", "17:30"]]: local wall-clock segments, sorted, disjoint
    hours: Mapped[list[list[str]]] = mapped_column(JSONType, default=list)
    # ISO weekdays (1 = Monday ... 7 = Sunday) that are rest days unless overridden
    rest_weekdays: Mapped[list[int]] = mapped_column(JSONType, default=list)
    # years whose overrides were imported from the chinesecalendar package
    imported_years: Mapped[list[int]] = mapped_column(JSONType, default=list)
    # years after the package's last one whose holidays were computed from the
    # rules (core.calendar.rules): provisional until confirmed or imported
    computed_years: Mapped[list[int]] = mapped_column(JSONType, default=list)
    # years an administrator confirmed (checked against the State Council notice)
    confirmed_years: Mapped[list[int]] = mapped_column(JSONType, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__: dict[str, Any] = {"version_id_col": version}


class CalendarDay(Base):
    """A date that differs from the weekly rule (or names a holiday that does not)."""

    __tablename__ = "core_work_calendar_day"
    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[str] = mapped_column(ForeignKey("core_work_calendar.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(16), default="admin")  # "package", "rules" or "admin"
    __table_args__ = (UniqueConstraint("calendar_id", "day", name="uq_core_work_calendar_day"),)
