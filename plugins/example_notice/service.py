"""Notice services: every write goes through here and is audited in the same
session, so the notice and its audit entry commit (or roll back) together."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ccms.api import Actor, CurrentUser, PluginContext, ValidationFailed, audit_record, org_names, org_scope, validate

from .models import NoticeItem

PAGE_SIZE = 20


class NoticeIn(BaseModel):
    """A new notice; ``org_id`` defaults to the author's own org."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=5000)
    org_id: int | None = None

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("标题不能为空 / title must not be empty")
        return v


class NoticeOut(BaseModel):
    id: int
    title: str
    body: str
    org_id: int
    org_name: str = ""
    created_at: str


def as_out(n: NoticeItem, names: dict[int, str] | None = None) -> dict[str, Any]:
    return NoticeOut(id=n.id, title=n.title, body=n.body, org_id=n.org_id,
                     org_name=(names or {}).get(n.org_id, ""), created_at=n.created_at.isoformat()).model_dump()


def create_notice(ctx: PluginContext, session: Session, actor: Actor, user: CurrentUser | None,
                  data: NoticeIn | dict[str, Any]) -> NoticeItem:
    """Publish a notice to an org the user may publish in (``example_notice.edit`` there)."""
    notice = data if isinstance(data, NoticeIn) else validate(NoticeIn, dict(data))
    org_id = notice.org_id if notice.org_id is not None else (user.org_id if user else None)
    if org_id is None or org_id not in org_names(session, [org_id]):
        raise ValidationFailed("所选机构不存在", "the chosen org does not exist",
                               fields={"org_id": {"message": "所选机构不存在", "message_en": "no such org"}})
    if user is not None:  # a user acts within their grants; seeds act as the system
        ctx.require(user, "example_notice.edit", org_id)
    item = NoticeItem(title=notice.title, body=notice.body, org_id=org_id)
    session.add(item)
    session.flush()
    audit_record(session, actor, "notice_create", "example_notice_item", item.id,
                 after={"title": item.title, "org_id": org_id}, summary=f"发布通知 {item.title}")
    return item


def list_notices(ctx: PluginContext, session: Session, user: CurrentUser | None, q: str = "", page: int = 1,
                 page_size: int = PAGE_SIZE) -> tuple[list[NoticeItem], int]:
    """Notices of the orgs where the user holds ``example_notice.view``, newest first."""
    where = [org_scope(ctx, user, "example_notice.view", NoticeItem.org_id)]
    if q:
        where.append(NoticeItem.title.icontains(q, autoescape=True))
    total = session.scalar(select(func.count()).select_from(NoticeItem).where(*where)) or 0
    rows = session.scalars(select(NoticeItem).where(*where)
                           .order_by(NoticeItem.created_at.desc(), NoticeItem.id.desc())
                           .limit(page_size).offset((max(page, 1) - 1) * page_size)).all()
    return list(rows), total
