"""Table of flow definition versions (migration ``0005_flow_defs``).

Like :class:`ccms.forms.models.FormDef`: one row per version of one flow; at
most one version per flow is ``published`` (the service functions in
:mod:`ccms.flows.store` keep it so; a partial unique index makes sure).
Import this module wherever core's metadata must include the table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, JSONType, UTCDateTime, utcnow

DEF_STATUSES = ("draft", "published", "archived")


class FlowDef(Base):
    """One version of one flow's definition; instances keep the version they started with."""

    __tablename__ = "core_flow_def"
    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(300), default="")  # "ui", "import", "file:<path>"
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}
    __table_args__ = (
        UniqueConstraint("flow_id", "version", name="uq_core_flow_def_flow_version"),
        Index("uq_core_flow_def_published", "flow_id", unique=True,
              sqlite_where=text("status = 'published'"), postgresql_where=text("status = 'published'")),
    )


class FlowWorkCopy(Base):
    """The designer's working copy of one flow: edits land here first and may
    be incomplete (a node just added is not yet connected); its faults are
    listed live. Saving it creates a checked draft version in :class:`FlowDef`."""

    __tablename__ = "core_flow_work"
    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(64), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    base_version: Mapped[int | None] = mapped_column(Integer)  # the version it started from
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(Integer)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}
