"""The plugin's own table. Its metadata is separate from core's: a plugin's
tables are created by its own migrations, never by core's."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ccms.api import UTCDateTime, utcnow


class NoticeBase(DeclarativeBase):
    pass


class NoticeItem(NoticeBase):
    """One notice, published to an org (and so visible in that org's subtree)."""

    __tablename__ = "example_notice_item"  # tables are prefixed with the plugin id
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    org_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
