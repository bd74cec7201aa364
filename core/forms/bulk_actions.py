"""Bulk actions on a form's list (批量操作): soft delete, restore, export and
"set a field" for the selected records.

Delete and restore act on the rows the user may act on and report the others
one by one (a refusal never stops the rest). "Set field" is all-or-nothing:
every selected record is checked (permission in its org, validation with the
published definition) before anything is written; each change writes the
record's history and audit entry through :func:`ccms.forms.records.update`.
A field is offered only when its schema says ``"x-bulk-edit": true`` (or
``"x-ccms-bulk-edit": true``) and it is neither hidden nor read-only for the user.

Other actions (from definitions or plugins later) join :data:`REGISTRY` with
:func:`register`; the list screen offers every action whose ``available``
answers true for the user.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..errors import Conflict, ValidationFailed
from . import access, records
from .definition import FormDefinition
from .models import FormRecord

MAX_SELECTED = 500
BULK_EDIT_KEYS = ("x-bulk-edit", "x-ccms-bulk-edit")


@dataclass
class BulkAction:
    """One action of the list's bulk menu. ``permission``: the form action
    (``delete``, ``export`` ...) the user must hold; ``deleted_view``: offered
    on the deleted records' view instead of the live one."""

    id: str
    label: tuple[str, str]  # zh-CN, en
    permission: str
    deleted_view: bool = False
    confirm: bool = False


REGISTRY: dict[str, BulkAction] = {}


def register(action: BulkAction) -> None:
    """Add (or replace) a bulk action by id."""
    REGISTRY[action.id] = action


for _a in (BulkAction("delete", ("删除", "Delete"), "delete", confirm=True),
           BulkAction("export_xlsx", ("导出所选（XLSX）", "Export selected (XLSX)"), "export"),
           BulkAction("export_csv", ("导出所选（CSV）", "Export selected (CSV)"), "export"),
           BulkAction("restore", ("恢复", "Restore"), "delete", deleted_view=True, confirm=True)):
    register(_a)


def bulk_edit_fields(ctx: Any, user: Any, definition: FormDefinition) -> list[str]:
    """Top-level fields marked for bulk edit that the user may change."""
    ro = access.readonly_fields(ctx, user, definition)
    props = definition.schema.get("properties", {})
    return [n for n in definition.top_fields
            if n in props and n not in ro and any(props[n].get(k) is True for k in BULK_EDIT_KEYS)
            and not props[n].get("readOnly")]


def available(ctx: Any, user: Any, definition: FormDefinition, *, deleted: bool) -> list[tuple[str, str]]:
    """``(value, label)`` of the actions the user may start on this view (``set:<field>`` included)."""
    locale = ctx.deployment.locale
    out = []
    for a in REGISTRY.values():
        if a.deleted_view == deleted and ctx.can_anywhere(user, access.perm(definition.id, a.permission)):
            out.append((a.id, a.label[0] if locale == "zh-CN" else a.label[1]))
    if not deleted and ctx.can_anywhere(user, access.perm(definition.id, "update")):
        for name in bulk_edit_fields(ctx, user, definition):
            label = definition.label(name, locale)
            out.append((f"set:{name}", ("设置：" if locale == "zh-CN" else "Set: ") + label))
    return out


def parse_ids(values: Iterable[Any]) -> list[int]:
    """Selected record ids from a form post (unique, in order); bad input is refused."""
    out: list[int] = []
    for v in values:
        text = str(v).strip()
        if not text.isdigit() or len(text) > 12:
            raise ValidationFailed(f"无效的记录编号：{text[:20]}", f"invalid record id: {text[:20]}")
        if int(text) not in out:
            out.append(int(text))
    if not out:
        raise ValidationFailed("请先勾选要操作的记录", "select the records to act on first",
                               fields={"ids": {"message": "请先勾选记录", "message_en": "select records first"}})
    if len(out) > MAX_SELECTED:
        raise ValidationFailed(f"一次最多操作 {MAX_SELECTED} 条记录", f"at most {MAX_SELECTED} records at a time")
    return out


@dataclass
class BulkReport:
    """``done``: ids acted on; ``refused``: id -> (zh, en) reason."""

    done: list[int] = field(default_factory=list)
    refused: dict[int, tuple[str, str]] = field(default_factory=dict)


NOT_FOUND = ("记录不存在或已不在此列表中", "the record does not exist or is no longer in this list")
NO_RIGHT_DELETE = ("您无权删除这条记录", "you may not delete this record")
NO_RIGHT_UPDATE = ("您无权修改这条记录", "you may not change this record")
STALE = ("该记录已被他人修改，请刷新后重试", "the record was changed by someone else: reload and try again")


def rows_of(session: Session, form_id: str, ids: list[int], *, deleted: bool) -> dict[int, FormRecord]:
    stmt = select(FormRecord).where(FormRecord.form_id == form_id, FormRecord.id.in_(ids),
                                    FormRecord.deleted_at.is_not(None) if deleted else FormRecord.deleted_at.is_(None))
    return {r.id: r for r in session.scalars(stmt)}


def check(ctx: Any, user: Any, session: Session, form_id: str, ids: list[int], action: str, *,
          deleted: bool = False) -> tuple[dict[int, FormRecord], BulkReport]:
    """Rows the user may act on (form ``action`` in the row's org) and the refusals."""
    rows = rows_of(session, form_id, ids, deleted=deleted)
    report = BulkReport()
    ok: dict[int, FormRecord] = {}
    for rid in ids:
        row = rows.get(rid)
        if row is None or not ctx.can(user, access.perm(form_id, "list"), row.org_id) and \
                not ctx.can(user, access.perm(form_id, action), row.org_id):
            report.refused[rid] = NOT_FOUND
        elif not ctx.can(user, access.perm(form_id, action), row.org_id):
            report.refused[rid] = NO_RIGHT_DELETE if action == "delete" else NO_RIGHT_UPDATE
        else:
            ok[rid] = row
    return ok, report


def delete_many(session: Session, actor: Actor, ctx: Any, user: Any, form_id: str, ids: list[int],
                versions: dict[int, int] | None = None, *, restore: bool = False) -> BulkReport:
    """Soft-delete (or restore) the rows the user may delete; the others are reported."""
    ok, report = check(ctx, user, session, form_id, ids, "delete", deleted=restore)
    for rid, row in ok.items():
        version = (versions or {}).get(rid)
        try:
            if restore:
                records.restore(session, actor, form_id, rid, version)
            else:
                records.delete(session, actor, form_id, rid, version)
            report.done.append(rid)
        except Conflict:
            report.refused[rid] = STALE
    return report


def coerce_value(ctx: Any, definition: FormDefinition, name: str, raw: str) -> tuple[Any, dict[str, Any]]:
    """The posted text of one field as its JSON value (``None``: clear the field), or its error."""
    if str(raw).strip() == "":
        return None, {}
    v = records.validator(ctx, definition)
    data, errors = v.coerce_post([(name, raw)])
    errors = {k: e for k, e in errors.items() if k == name or k.startswith((name + ".", name + "["))}
    return data.get(name), errors


def set_field(session: Session, actor: Actor, ctx: Any, user: Any, definition: FormDefinition,
              ids: list[int], name: str, value: Any) -> tuple[BulkReport, dict[int, dict[str, Any]]]:
    """Set ``name`` to ``value`` on every selected record, or on none.

    Returns the report and the per-record field errors; when either has a
    refusal or an error, NOTHING was written (the caller must roll back the
    session, which holds the updates made before the failing record)."""
    if name not in bulk_edit_fields(ctx, user, definition):
        raise ValidationFailed(f"字段 {name} 不能批量修改", f"field {name} cannot be set in bulk",
                               fields={"field": {"message": "不能批量修改此字段",
                                                 "message_en": "this field cannot be set in bulk"}})
    form_id = definition.id
    ok, report = check(ctx, user, session, form_id, ids, "update")
    errors: dict[int, dict[str, Any]] = {}
    if report.refused:
        return report, errors
    readonly = access.readonly_fields(ctx, user, definition)
    pub = records.published_version(session, form_id)
    for rid, row in ok.items():
        up = records.upgrade(session, form_id, row.data or {}, row.def_version, definition, pub)
        data = dict(up.data)
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
        try:
            records.update(session, actor, ctx, form_id, rid, data, None, keep=readonly)
            report.done.append(rid)
        except ValidationFailed as exc:
            errors[rid] = dict(exc.fields or {"_": {"message": exc.zh, "message_en": exc.en}})
    if errors:
        report.done = []
    return report, errors
