"""Numbered definition versions in the database, shared by forms and flows.

Each definition id has versions 1, 2, 3 ...; saving always creates a new
version (a draft), so what was made with a version never changes under it.
At most one version per id is published (the database enforces it):
publishing another archives the previous one, unpublishing archives it. Every
write is audited in the caller's session. What differs by kind — how a
definition is checked before it is stored, what publishing also does — stays
with the caller (:mod:`ccms.forms.store`, :mod:`ccms.flows.store`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import audit
from .audit import Actor
from .db import utcnow
from .errors import Conflict, NotFound


@dataclass(frozen=True)
class VersionStore:
    """The versions of one kind of definition.

    ``model`` has the id column ``id_attr`` plus ``version``, ``status``,
    ``definition``, ``content_hash``, ``source``, ``note``, ``created_at``,
    ``created_by``, ``published_at`` and ``lock_version``; ``kind`` names audit
    actions (``<kind>.publish``) and object types (``<kind>_def``); ``zh`` and
    ``en`` name the kind in messages (表单 / form).
    """

    model: Any
    id_attr: str
    kind: str
    zh: str
    en: str

    @property
    def _id(self) -> Any:
        return getattr(self.model, self.id_attr)

    def summary(self, row: Any) -> dict[str, Any]:
        """What the audit log keeps of a version."""
        return {self.id_attr: getattr(row, self.id_attr), "version": row.version, "status": row.status,
                "content_hash": row.content_hash, "source": row.source, "note": row.note}

    def check_lock(self, row: Any, lock_version: int | None) -> None:
        if lock_version is not None and lock_version != row.lock_version:
            raise Conflict(f"该{self.zh}版本已被他人修改，请刷新后重试",
                           f"the {self.en} version was changed by someone else: reload and try again")

    # --- reading ----------------------------------------------------------------------------

    def get_version(self, session: Session, def_id: str, version: int) -> Any:
        """One stored version (``row.definition`` is the document); NotFound otherwise."""
        row = session.scalar(select(self.model).where(self._id == def_id, self.model.version == version))
        if row is None:
            raise NotFound(f"{self.zh} {def_id} 没有版本 {version}", f"{self.en} {def_id} has no version {version}")
        return row

    def published_row(self, session: Session, def_id: str) -> Any | None:
        return session.scalar(select(self.model).where(self._id == def_id, self.model.status == "published"))

    def latest_row(self, session: Session, def_id: str) -> Any:
        """The newest version (draft or not); NotFound when there is none."""
        row = session.scalar(select(self.model).where(self._id == def_id)
                             .order_by(self.model.version.desc()).limit(1))
        if row is None:
            raise NotFound(f"{self.zh} {def_id} 不存在", f"{self.en} {def_id} does not exist")
        return row

    def list_versions(self, session: Session, def_id: str) -> list[dict[str, Any]]:
        """Newest first: version, status, note, source, who/when, lock_version."""
        m = self.model
        rows = session.execute(
            select(m.version, m.status, m.note, m.source, m.created_at, m.created_by, m.published_at,
                   m.content_hash, m.lock_version)
            .where(self._id == def_id).order_by(m.version.desc())).all()
        return [dict(r._mapping) for r in rows]

    def ids(self, session: Session) -> list[str]:
        return list(session.scalars(select(self._id).distinct().order_by(self._id)))

    # --- writing ----------------------------------------------------------------------------

    def add_draft(self, session: Session, actor: Actor | None, def_id: str, document: dict[str, Any],
                  content_hash: str, *, source: str, note: str) -> Any:
        """Store an already checked document as the id's next version, a draft."""
        latest = session.scalar(select(func.max(self.model.version)).where(self._id == def_id)) or 0
        row = self.model(**{self.id_attr: def_id}, version=latest + 1, status="draft", definition=document,
                         content_hash=content_hash, source=source[:300], note=note[:500],
                         created_by=actor.id if actor else None)
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"同时有人保存了该{self.zh}，请重试",
                           f"someone saved this {self.en} at the same time: try again") from None
        audit.record(session, actor, f"{self.kind}.save_draft", f"{self.kind}_def", f"{def_id}@{row.version}",
                     after=self.summary(row), summary=f"保存{self.zh} {def_id} 草稿 v{row.version}")
        return row

    def publish(self, session: Session, actor: Actor | None, row: Any) -> Any:
        """Publish ``row`` (the caller has checked its lock and its definition);
        the previously published version is archived first."""
        def_id = getattr(row, self.id_attr)
        previous = self.published_row(session, def_id)
        if previous is not None:
            previous.status = "archived"
            session.flush()  # before the new one: the database allows one published version
            audit.record(session, actor, f"{self.kind}.archive", f"{self.kind}_def", f"{def_id}@{previous.version}",
                         after=self.summary(previous), summary=f"归档{self.zh} {def_id} v{previous.version}")
        before = self.summary(row)
        row.status = "published"
        row.published_at = utcnow()
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"同时有人发布了该{self.zh}，请刷新后重试",
                           f"someone published this {self.en} at the same time: reload") from None
        audit.record(session, actor, f"{self.kind}.publish", f"{self.kind}_def", f"{def_id}@{row.version}",
                     before=before, after=self.summary(row), summary=f"发布{self.zh} {def_id} v{row.version}")
        return row

    def unpublish(self, session: Session, actor: Actor | None, def_id: str, *,
                  lock_version: int | None = None) -> Any:
        """Withdraw the published version (it becomes archived; publish it again at will)."""
        row = self.published_row(session, def_id)
        if row is None:
            raise NotFound(f"{self.zh} {def_id} 没有已发布的版本", f"{self.en} {def_id} has no published version")
        self.check_lock(row, lock_version)
        before = self.summary(row)
        row.status = "archived"
        session.flush()
        audit.record(session, actor, f"{self.kind}.unpublish", f"{self.kind}_def", f"{def_id}@{row.version}",
                     before=before, after=self.summary(row), summary=f"停用{self.zh} {def_id} v{row.version}")
        return row

    def export_json(self, session: Session, def_id: str, version: int | None = None) -> str:
        """The definition as a JSON file: the given version, else the published
        one, else the newest."""
        if version is not None:
            row = self.get_version(session, def_id, version)
        else:
            row = self.published_row(session, def_id) or self.latest_row(session, def_id)
        return json.dumps(row.definition, ensure_ascii=False, indent=2) + "\n"


# --- diff helpers ---------------------------------------------------------------------------

def show(v: Any) -> str:
    """A value in a Chinese diff message."""
    return "（无）" if v is None else json.dumps(v, ensure_ascii=False)


def deep_diff(a: Any, b: Any, parts: list[Any]) -> list[tuple[list[Any], Any, Any]]:
    """(path parts, before, after) of every leaf that differs; mappings are walked key by key."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            out += deep_diff(a.get(k), b.get(k), parts + [k])
        return out
    return [] if a == b else [(parts, a, b)]
