"""Saved list filters (保存的筛选): a user names the current list query of a
form (search, field filters, sort) and re-applies it later.

A filter belongs to its owner; a shared one is offered to everyone who may
list the form. Sharing needs the form's ``list`` permission plus
``core.forms.share_filters`` (administrators hold both). Definitions change after a
filter was saved: :func:`resolve` drops conditions on fields the published
definition no longer offers (removed, no longer a filter, now hidden for the
user) and reports them, so applying an old filter never fails.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, Integer, String, UniqueConstraint, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .. import audit
from ..audit import Actor
from ..db import Base, JSONType, UTCDateTime, utcnow
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from .definition import FormDefinition
from .records import META_ATTRS

SHARE_PERMISSION = "core.forms.share_filters"
NAME_MAX = 60
MAX_PER_USER = 50  # per form
_NAME_BAD = re.compile(r"[\x00-\x1f<>]")


class SavedFilter(Base):
    """One named list query of one form (``query``: {"q", "filters", "sort"})."""

    __tablename__ = "core_saved_filter"
    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[str] = mapped_column(String(64), index=True)
    owner_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # field -> label when saved
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (UniqueConstraint("form_id", "owner_id", "name", name="uq_core_saved_filter_name"),)


def _field_error(name: str, zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(zh, en, fields={name: {"message": zh, "message_en": en}})


def clean_name(raw: Any) -> str:
    name = str(raw or "").strip()
    if not name:
        raise _field_error("name", "请填写筛选名称", "the filter needs a name")
    if len(name) > NAME_MAX:
        raise _field_error("name", f"名称最多 {NAME_MAX} 个字符", f"the name has at most {NAME_MAX} characters")
    if _NAME_BAD.search(name):
        raise _field_error("name", "名称不能包含控制字符或尖括号", "the name must not contain control characters or < >")
    return name


def clean_query(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only what a list query holds: ``q`` (text), ``filters`` (name ->
    text or {"min", "max"} texts) and ``sort``; empty parts dropped."""
    q = str(raw.get("q") or "").strip()[:100]
    sort = str(raw.get("sort") or "").strip()[:70]
    filters: dict[str, Any] = {}
    for name, value in (raw.get("filters") or {}).items():
        name = str(name)[:70]
        if isinstance(value, Mapping):
            rng = {k: str(value.get(k) or "")[:100] for k in ("min", "max") if str(value.get(k) or "")}
            if rng:
                filters[name] = rng
        elif value not in (None, ""):
            filters[name] = str(value)[:100]
    out: dict[str, Any] = {}
    if q:
        out["q"] = q
    if filters:
        out["filters"] = filters
    if sort:
        out["sort"] = sort
    return out


def query_from_params(params: Any) -> dict[str, Any]:
    """A list URL's query parameters (``q``, ``f.<name>``, ``f.<name>.min|max``, ``sort``) as a saved query."""
    filters: dict[str, Any] = {}
    for key, value in params.multi_items() if hasattr(params, "multi_items") else params.items():
        if not key.startswith("f.") or value in (None, ""):
            continue
        name = key[2:]
        for bound in ("min", "max"):
            if name.endswith("." + bound):
                filters.setdefault(name[:-len(bound) - 1], {})
                if isinstance(filters[name[:-len(bound) - 1]], dict):
                    filters[name[:-len(bound) - 1]][bound] = value
                break
        else:
            filters[name] = value
    return clean_query({"q": params.get("q"), "sort": params.get("sort"), "filters": filters})


def query_params(query: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The inverse of :func:`query_from_params`: URL parameters of a saved query."""
    out: list[tuple[str, str]] = []
    if query.get("q"):
        out.append(("q", str(query["q"])))
    for name, value in (query.get("filters") or {}).items():
        if isinstance(value, Mapping):
            out.extend((f"f.{name}.{b}", str(value[b])) for b in ("min", "max") if value.get(b))
        else:
            out.append((f"f.{name}", str(value)))
    if query.get("sort"):
        out.append(("sort", str(query["sort"])))
    return out


# --- reading --------------------------------------------------------------------------------------

def visible(session: Session, form_id: str, user_id: int) -> list[SavedFilter]:
    """The user's own filters of the form, then those shared by others (by name)."""
    rows = session.scalars(select(SavedFilter).where(
        SavedFilter.form_id == form_id,
        or_(SavedFilter.owner_id == user_id, SavedFilter.shared.is_(True))).order_by(SavedFilter.name))
    rows = list(rows)
    return [r for r in rows if r.owner_id == user_id] + [r for r in rows if r.owner_id != user_id]


def get_visible(session: Session, form_id: str, filter_id: int, user_id: int) -> SavedFilter:
    row = session.get(SavedFilter, filter_id)
    if row is None or row.form_id != form_id or (row.owner_id != user_id and not row.shared):
        raise NotFound(f"保存的筛选 {filter_id} 不存在", f"saved filter {filter_id} does not exist")
    return row


@dataclass
class Resolved:
    """A saved query as it applies to the published definition now."""

    query: dict[str, Any]
    dropped: list[str] = field(default_factory=list)  # labels of the conditions left out


def resolve(row: SavedFilter, definition: FormDefinition, allowed_filters: Collection[str],
            hidden: Collection[str], locale: str = "zh-CN") -> Resolved:
    """Drop conditions on fields the list no longer offers; sorting by a
    removed or hidden field falls back to the default order."""
    query = clean_query(row.query or {})
    labels = row.labels or {}
    dropped: list[str] = []

    def label(name: str) -> str:
        if name in definition.fields:
            return definition.label(name, locale)
        return str(labels.get(name) or name)

    filters = {}
    for name, value in (query.get("filters") or {}).items():
        if name in allowed_filters:
            filters[name] = value
        else:
            dropped.append(label(name))
    if filters:
        query["filters"] = filters
    else:
        query.pop("filters", None)
    sort = query.get("sort", "")
    name = sort.lstrip("-")
    if sort and (name in hidden or (name not in META_ATTRS and name not in definition.schema.get("properties", {}))):
        dropped.append(label(name))
        query.pop("sort")
    return Resolved(query, dropped)


# --- writing ---------------------------------------------------------------------------------------

def save(session: Session, actor: Actor, form_id: str, name: Any, query: Mapping[str, Any],
         labels: Mapping[str, str], *, shared: bool = False, may_share: bool = False) -> SavedFilter:
    """Save (or overwrite, by name) the owner's filter of the form."""
    if actor.id is None:
        raise Forbidden("请先登录", "log in first")
    if shared and not may_share:
        raise Forbidden("没有共享筛选的权限", f"permission denied: {SHARE_PERMISSION}")
    name = clean_name(name)
    clean = clean_query(query)
    if not clean:
        raise _field_error("name", "当前没有任何筛选条件可保存", "there is no search, filter or sort to save")
    used = {n: str(labels.get(n, n))[:100] for n in [*(clean.get("filters") or {}), clean.get("sort", "").lstrip("-")]
            if n}
    row = session.scalar(select(SavedFilter).where(SavedFilter.form_id == form_id, SavedFilter.owner_id == actor.id,
                                                   SavedFilter.name == name))
    before = None
    if row is None:
        count = len([r for r in visible(session, form_id, actor.id) if r.owner_id == actor.id])
        if count >= MAX_PER_USER:
            raise Conflict(f"每个表单最多保存 {MAX_PER_USER} 个筛选，请先删除不用的",
                           f"at most {MAX_PER_USER} saved filters per form: delete some first")
        row = SavedFilter(form_id=form_id, owner_id=actor.id, name=name)
        session.add(row)
    else:
        before = {"query": row.query, "shared": row.shared}
    row.query, row.labels, row.shared = clean, used, bool(shared)
    session.flush()
    audit.record(session, actor, "saved_filter.save", f"form:{form_id}", row.id, before=before,
                 after={"name": name, "query": clean, "shared": row.shared},
                 summary=f"保存表单 {form_id} 的筛选“{name}”")
    return row


def delete(session: Session, actor: Actor, form_id: str, filter_id: int, *, is_admin: bool = False) -> None:
    """The owner deletes their filter; an administrator may delete a shared one."""
    row = session.get(SavedFilter, filter_id)
    if row is None or row.form_id != form_id or (row.owner_id != actor.id and not row.shared):
        raise NotFound(f"保存的筛选 {filter_id} 不存在", f"saved filter {filter_id} does not exist")
    if row.owner_id != actor.id and not is_admin:
        raise Forbidden("只能删除自己保存的筛选", "you can delete only your own saved filters")
    audit.record(session, actor, "saved_filter.delete", f"form:{form_id}", row.id,
                 before={"name": row.name, "query": row.query, "shared": row.shared},
                 summary=f"删除表单 {form_id} 的筛选“{row.name}”")
    session.delete(row)
    session.flush()
