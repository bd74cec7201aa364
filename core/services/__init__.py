"""Kernel services: every write to orgs, people and tokens goes through here.

A service function takes the caller's SQLAlchemy session (so the change and
its audit entry commit together), the acting :class:`core.audit.Actor` and,
where it needs deployment knowledge, the app context ``ctx``. Services check
business rules and raise :mod:`ccms.errors` types with bilingual messages;
they do not check permissions — the web layer does that with
``ctx.require(user, perm, org_id)`` because it knows who is asking and how.
"""

from __future__ import annotations

from typing import Any, Mapping, TypeVar

from pydantic import BaseModel

from ..errors import Conflict
from ..web.routing import validate

M = TypeVar("M", bound=BaseModel)


def coerce(model: type[M], data: M | Mapping[str, Any]) -> M:
    """Accept a model instance or a plain mapping (forms, CLI, seeds) and validate it."""
    if isinstance(data, model):
        return data
    return validate(model, dict(data))


def check_version(obj: Any, version: int | None, what_zh: str, what_en: str) -> None:
    """Optimistic lock: refuse when the caller edited an older version than the stored one.

    ``version=None`` means the caller did not say (an action button without a
    form); the database's version check still guards concurrent flushes.
    """
    if version is not None and version != obj.version:
        raise Conflict(f"该{what_zh}已被他人修改（您编辑的是第 {version} 版，当前为第 {obj.version} 版），"
                       "您的修改未保存，请刷新后重试",
                       f"this {what_en} was changed by someone else (you edited version {version}, "
                       f"it is now version {obj.version}); nothing was saved: reload and try again",
                       code="conflict")


def field_error(name: str, zh: str, en: str) -> dict[str, dict[str, str]]:
    """One entry of ``ValidationFailed.fields`` in the shape forms and JSON share."""
    return {name: {"message": zh, "message_en": en}}


def stripped_name(v: str | None) -> str | None:
    """pydantic validator for names: surrounding spaces dropped, blank refused."""
    if v is None:
        return None
    v = v.strip()
    if not v:
        raise ValueError("名称不能为空 / name must not be empty")
    return v
