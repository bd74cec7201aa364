"""Tables of 数据字典: dictionaries and their hierarchical items."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, JSONType, UTCDateTime, utcnow


class Dict(Base):
    """A named code list (e.g. ``gbt30428.component``) that forms and plugins refer to by ``code``."""

    __tablename__ = "core_dict"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class DictItem(Base):
    """One entry of a dictionary; ``parent_id`` makes the tree.

    ``path`` is the materialised id path (``/12/40/``) so a subtree is one
    prefix query. Records store the ``code``, which therefore never changes;
    items are deactivated, never deleted, so old records still display.
    """

    __tablename__ = "core_dict_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    dict_id: Mapped[int] = mapped_column(ForeignKey("core_dict.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("core_dict_item.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    sort: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    path: Mapped[str] = mapped_column(String(1000), index=True, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (UniqueConstraint("dict_id", "code", name="uq_core_dict_item_code"),)
    __mapper_args__ = {"version_id_col": version}

    @property
    def depth(self) -> int:
        return max(self.path.count("/") - 2, 0)
