"""Form records (表单数据): create, update, soft delete, restore, get and list.

Every write validates with the form's PUBLISHED definition, writes a
:class:`FormRecordHistory` row (before/after of the changed fields only) and an
audit entry, all in the caller's session; nothing is written when validation
fails. Optimistic locking: callers pass the ``version`` they read, a
different one is a 409 :class:`Conflict`.

Old records keep the definition version they were saved with
(``def_version``). :func:`upgrade` carries their data to the published
definition: declared renames are applied version by version, fields the
published definition no longer has are returned apart as *archived* values
(the data stays in the row, untouched).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from .. import attachments, audit
from ..audit import Actor
from ..db import utcnow
from ..dictionaries.models import Dict, DictItem
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import Org, Person
from . import access, store
from .definition import META_COLUMNS, FormDefinition
from .fields import parse_date
from .indexes import field_expr
from .models import FormRecord, FormRecordHistory
from .render import drop_hidden_errors, hidden_by_rules
from .validate import RecordValidator, _search, has_kv
from .widgets_region import existing

_VALIDATORS: dict[tuple[int, str], RecordValidator] = {}  # (id(field types), content hash) -> compiled
_VALIDATORS_MAX = 128

#: meta columns a list may filter or sort by -> record attribute
META_ATTRS = {"_created_at": "created_at", "_created_by": "created_by", "_updated_at": "updated_at",
              "_updated_by": "updated_by", "_ref_no": "ref_no", "_status": "status",
              "_region_code": "region_code", "_org": "org_id", "_id": "id"}
TEXT_TYPES = frozenset({"text", "textarea", "phone", "idcard", "enum", "dictionary"})
NUMBER_TYPES = frozenset({"integer", "number", "money"})
MAX_PAGE_SIZE = 500


# --- definitions and validators --------------------------------------------------------------

def published(session: Session, form_id: str) -> FormDefinition:
    """The published definition of a form; NotFound when none is published."""
    d = store.get_published(session, form_id)
    if d is None:
        raise NotFound(f"表单 {form_id} 不存在或未发布", f"form {form_id} does not exist or is not published")
    return d


def published_version(session: Session, form_id: str) -> int:
    row = store.published_row(session, form_id)
    if row is None:
        raise NotFound(f"表单 {form_id} 不存在或未发布", f"form {form_id} does not exist or is not published")
    return row.version


def validator(ctx: Any, definition: FormDefinition) -> RecordValidator:
    """The compiled validator of a definition (cached by content; no lookups bound)."""
    key = (id(ctx.field_types), definition.content_hash())
    hit = _VALIDATORS.get(key)
    if hit is None:
        hit = RecordValidator(definition.schema, ctx.field_types)
        if len(_VALIDATORS) >= _VALIDATORS_MAX:
            _VALIDATORS.pop(next(iter(_VALIDATORS)))
        _VALIDATORS[key] = hit
    return hit


def lookups(session: Session) -> dict[str, Any]:
    """Existence checks for org, person and dictionary references, in the caller's session."""

    def orgs(scope: str | None, values: frozenset) -> Collection[Any]:
        ids = [v for v in values if isinstance(v, int)]
        return set(session.scalars(select(Org.id).where(Org.id.in_(ids), Org.active.is_(True)))) if ids else set()

    def people(scope: str | None, values: frozenset) -> Collection[Any]:
        ids = [v for v in values if isinstance(v, int)]
        return set(session.scalars(select(Person.id).where(Person.id.in_(ids), Person.active.is_(True)))) if ids else set()

    def dictionary(scope: str | None, values: frozenset) -> Collection[Any]:
        codes = [v for v in values if isinstance(v, str)]
        if not codes or not scope:
            return set()
        return set(session.scalars(select(DictItem.code).join(Dict, Dict.id == DictItem.dict_id)
                                   .where(Dict.code == scope, DictItem.code.in_(codes), DictItem.active.is_(True))))

    def region(scope: str | None, values: frozenset) -> Collection[Any]:
        return existing(session, values)

    return {"org": orgs, "person": people, "dictionary": dictionary, "region": region}


def bound_validator(ctx: Any, session: Session, definition: FormDefinition) -> RecordValidator:
    """A validator that also checks references exist (a shallow copy of the cached one)."""
    v = copy.copy(validator(ctx, definition))
    v.lookups = lookups(session)
    return v


# --- versions: renames and archived fields -----------------------------------------------------

@dataclass
class Upgraded:
    """A record's data seen through the published definition."""

    data: dict[str, Any]  # fields the published definition has (renames applied)
    archived: dict[str, Any] = field(default_factory=dict)  # removed fields: name -> value
    archived_labels: dict[str, str] = field(default_factory=dict)  # name -> label in the record's own version


def upgrade(session: Session, form_id: str, data: Mapping[str, Any], def_version: int,
            target: FormDefinition, target_version: int) -> Upgraded:
    """Apply the renames declared by each version after ``def_version`` up to
    ``target_version``; split off what ``target`` does not know."""
    out = dict(data)
    own: FormDefinition | None = None
    if def_version != target_version:
        for v in range(def_version + 1, target_version + 1):
            d = _version(session, form_id, v)
            for old, new in (d.renames.items() if d is not None else ()):
                if old in out and new not in out:
                    out[new] = out.pop(old)
        own = _version(session, form_id, def_version)
    props = {k for k in target.fields if "." not in k}  # properties, allOf, conditional and variant fields
    free = has_kv(target.schema)  # keys of the key/value editor are the record's own too

    def own_key(k: str) -> bool:
        return k in props or free and (isinstance(target.schema.get("additionalProperties"), Mapping) or any(
            _search(p, k) for p in (target.schema.get("patternProperties") or {})))
    current = {k: v for k, v in out.items() if own_key(k)}
    archived = {k: v for k, v in out.items() if not own_key(k)}
    labels = {k: (own.label(k) if own is not None else k) for k in archived}
    return Upgraded(current, archived, labels)


def _version(session: Session, form_id: str, version: int) -> FormDefinition | None:
    """A stored version's definition, remembered for the session (a list page upgrades many rows)."""
    memo = session.info.setdefault("ccms_form_versions", {})
    key = (form_id, version)
    if key not in memo:
        try:
            memo[key] = store.definition_of(store.get_version(session, form_id, version))
        except NotFound:
            memo[key] = None
    return memo[key]


# --- reading ----------------------------------------------------------------------------------------

def get(session: Session, form_id: str, record_id: int, *, deleted: bool | None = False) -> FormRecord:
    """A record of the form. ``deleted``: False live only, True deleted only, None either."""
    row = session.get(FormRecord, record_id)
    if row is None or row.form_id != form_id or (deleted is False and row.deleted_at is not None) or (
            deleted is True and row.deleted_at is None):
        raise NotFound(f"记录 {record_id} 不存在", f"record {record_id} does not exist")
    return row


def history(session: Session, record_id: int) -> list[FormRecordHistory]:
    """Oldest first."""
    return list(session.scalars(select(FormRecordHistory).where(FormRecordHistory.record_id == record_id)
                                .order_by(FormRecordHistory.id)))


def scope_filter(paths: list[str] | None) -> ColumnElement[bool] | None:
    """Records whose org lies in one of the subtrees (``None``: no row scope)."""
    if paths is None:
        return None
    if not paths:
        return false()
    covered = select(Org.id).where(or_(*[Org.path.like(p + "%") for p in paths]))
    return FormRecord.org_id.in_(covered)


@dataclass
class Query:
    """What a list asks for. ``filters``: field -> value (equality) or
    ``{"min": .., "max": ..}`` (range, inclusive); ``sort``: field or meta
    column, ``-`` prefix for descending."""

    q: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    sort: str = ""
    page: int = 1
    page_size: int = 50
    deleted: bool = False


def _field_kind(ctx: Any, definition: FormDefinition, name: str) -> str:
    prop = definition.fields.get(name)
    if prop is None:
        return ""
    return ctx.field_types.resolve(prop).name


def _column(ctx: Any, definition: FormDefinition, name: str) -> Any:
    """The SQL expression of a top-level field or meta column; None when unknown."""
    if name in META_ATTRS:
        return getattr(FormRecord, META_ATTRS[name])
    if name not in definition.schema.get("properties", {}):
        return None
    return field_expr(name, _field_kind(ctx, definition, name))  # the same SQL as the field's index


def _bad_filter(name: str) -> ValidationFailed:
    return ValidationFailed(f"无法按 {name} 筛选", f"cannot filter by {name}",
                            fields={name: {"message": "无法按此字段筛选", "message_en": "cannot filter by this field"}})


def _coerce_filter(ctx: Any, definition: FormDefinition, name: str, value: Any, bound: str = "") -> Any:
    kind = _field_kind(ctx, definition, name) if name not in META_ATTRS else ""
    if name in ("_created_at", "_updated_at"):
        day = parse_date(str(value).strip()[:10])
        if day is None:
            raise ValidationFailed(f"筛选条件 {name} 应为日期 YYYY-MM-DD", f"filter {name} must be a date YYYY-MM-DD",
                                   fields={name: {"message": "日期格式应为 YYYY-MM-DD",
                                                  "message_en": "date must be YYYY-MM-DD"}})
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        return start + dt.timedelta(days=1) - dt.timedelta(microseconds=1) if bound == "max" else start
    if kind == "datetime" and bound == "max" and parse_date(str(value)) is not None:
        return str(value) + "T99"  # the whole day: "2024-05-01T09:30..." sorts below "2024-05-01T99"
    if name in ("_org", "_created_by", "_updated_by", "_id") or kind in NUMBER_TYPES:
        try:
            return float(value) if kind in NUMBER_TYPES else int(value)
        except (TypeError, ValueError):
            raise ValidationFailed(f"筛选条件 {name} 应为数字", f"filter {name} must be a number",
                                   fields={name: {"message": "应为数字", "message_en": "must be a number"}}) from None
    if kind == "boolean":
        return value in (True, "true", "1", "on", 1)
    return str(value)


def select_records(ctx: Any, definition: FormDefinition, query: Query, *,
                   paths: list[str] | None = None, hidden: Collection[str] = ()) -> Select[Any]:
    """The filtered (unordered, unpaged) statement: form, deleted or not, row
    scope, full-text search over text fields, field filters. Hidden fields can
    neither be searched nor filtered (that would reveal their values)."""
    stmt = select(FormRecord).where(FormRecord.form_id == definition.id)
    stmt = stmt.where(FormRecord.deleted_at.is_not(None) if query.deleted else FormRecord.deleted_at.is_(None))
    scope = scope_filter(paths)
    if scope is not None:
        stmt = stmt.where(scope)
    q = (query.q or "").strip()
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        texts = [FormRecord.data[n].as_string().ilike(pattern, escape="\\")
                 for n in definition.schema.get("properties", {})
                 if n not in hidden and _field_kind(ctx, definition, n) in TEXT_TYPES]
        texts.append(FormRecord.ref_no.ilike(pattern, escape="\\"))
        stmt = stmt.where(or_(*texts))
    for name, value in (query.filters or {}).items():
        if value in (None, "", {}) or name in hidden:
            if name in hidden:
                raise _bad_filter(name)
            continue
        col = _column(ctx, definition, name)
        if col is None:
            raise _bad_filter(name)
        if isinstance(value, Mapping):
            conds = []
            if value.get("min") not in (None, ""):
                conds.append(col >= _coerce_filter(ctx, definition, name, value["min"], "min"))
            if value.get("max") not in (None, ""):
                conds.append(col <= _coerce_filter(ctx, definition, name, value["max"], "max"))
            if conds:
                stmt = stmt.where(and_(*conds))
        elif name in ("_created_at", "_updated_at"):
            stmt = stmt.where(col >= _coerce_filter(ctx, definition, name, value, "min"),
                              col <= _coerce_filter(ctx, definition, name, value, "max"))
        else:
            stmt = stmt.where(col == _coerce_filter(ctx, definition, name, value))
    return stmt


def order_by(ctx: Any, definition: FormDefinition, sort: str, hidden: Collection[str] = ()) -> list[Any]:
    sort = sort or definition.list_settings.get("sort") or "-_created_at"
    desc = sort.startswith("-")
    name = sort.lstrip("-")
    col = None if name in hidden else _column(ctx, definition, name)
    if col is None:
        col, desc = FormRecord.id, True
    # empty values last on both backends (PostgreSQL puts NULLs first when descending)
    return [(col.desc() if desc else col.asc()).nulls_last(), FormRecord.id.desc() if desc else FormRecord.id.asc()]


def list_records(session: Session, ctx: Any, definition: FormDefinition, query: Query, *,
                 paths: list[str] | None = None, hidden: Collection[str] = ()) -> tuple[list[Any], int]:
    """One page of records and the total count, both in SQL.

    The rows are read-only ``Row`` objects with the record's columns as
    attributes (``row.id``, ``row.data``, ...): a list page never writes, and
    skipping ORM identity-map bookkeeping for 50 rows halves the page's
    Python cost (see bench/bench_forms_list.py). Load a record with
    :func:`get` to change it."""
    stmt = select_records(ctx, definition, query, paths=paths, hidden=hidden)
    conn = session.connection()
    total = conn.execute(stmt.with_only_columns(func.count(), maintain_column_froms=True)).scalar() or 0
    size = max(1, min(int(query.page_size or 50), MAX_PAGE_SIZE))
    page = max(1, int(query.page or 1))
    page_stmt = (stmt.with_only_columns(*FormRecord.__table__.c)
                 .order_by(*order_by(ctx, definition, query.sort, hidden)).offset((page - 1) * size).limit(size))
    return list(conn.execute(page_stmt)), total


# --- writing ----------------------------------------------------------------------------------------

def _refuse(errors: Mapping[str, Any]) -> ValidationFailed:
    return ValidationFailed("提交的数据有误，请按提示修改", "the submitted data is invalid",
                            fields=dict(errors))


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k) or (k in before) != (k in after)]
    return {"before": {k: before[k] for k in keys if k in before}, "after": {k: after[k] for k in keys if k in after}}


def _history(session: Session, actor: Actor | None, row: FormRecord, action: str,
             changes: Mapping[str, Any]) -> None:
    session.add(FormRecordHistory(record_id=row.id, actor_id=actor.id if actor else None,
                                  actor_name=(actor.name if actor else "system")[:100], action=action,
                                  def_version=row.def_version, changes=dict(changes)))


def _check_version(row: FormRecord, version: int | None) -> None:
    if version is not None and int(version) != row.version:
        raise Conflict("该记录已被他人修改，请刷新后重试", "the record was changed by someone else: reload and try again")


def _org(session: Session, org_id: Any) -> int:
    if isinstance(org_id, bool) or not isinstance(org_id, int) or session.get(Org, org_id) is None:
        raise ValidationFailed("所属机构不存在", "the org does not exist",
                               fields={"_org": {"message": "所属机构不存在", "message_en": "the org does not exist"}})
    return org_id


def _shown_only(definition: FormDefinition, values: Mapping[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    """Errors of fields a show/hide rule hides right now do not count (a field required
    only when shown). See ccms.forms.render.hidden_by_rules."""
    if not errors or not definition.ui.get("fields"):
        return errors
    return drop_hidden_errors(definition, values, errors)


def drop_inactive(definition: FormDefinition, v: RecordValidator, values: Mapping[str, Any]) -> dict[str, Any]:
    """Values of fields that are not in force are dropped before validation, never stored
    unvalidated: fields a ui show/hide rule hides now (top level and per group row), and
    conditional fields of the schema whose ``if``/``dependentSchemas`` condition does not hold."""
    out = dict(values)
    if definition.ui.get("fields"):
        for name in sorted(hidden_by_rules(definition, out), key=len, reverse=True):
            if "[" in name:  # items[2].reason: that row's value
                group, rest = name.split("[", 1)
                idx, sub = rest.split("]", 1)
                rows = out.get(group)
                if isinstance(rows, list) and int(idx) < len(rows) and isinstance(rows[int(idx)], Mapping):
                    rows = list(rows)
                    rows[int(idx)] = {k: x for k, x in rows[int(idx)].items() if k != sub.lstrip(".")}
                    out[group] = rows
            elif "." in name:
                head, tail = name.split(".", 1)
                if isinstance(out.get(head), Mapping):
                    out[head] = {k: x for k, x in out[head].items() if k != tail}
            else:
                out.pop(name, None)
    return v.prune(out)


def attachment_place(record_id: int) -> str:
    """What ``core_attachment.attached_to`` says of an attachment of this record."""
    return f"form_record:{record_id}"


def create(session: Session, actor: Actor | None, ctx: Any, form_id: str, data: Any, org_id: int, *,
           clean: bool = True, drop: Iterable[str] = ()) -> FormRecord:
    """Validate ``data`` with the published definition and store it.

    ``clean``: ``data`` is JSON (computed fields are evaluated here); pass
    False when it already went through ``RecordValidator.from_post``.
    ``drop``: fields (dotted, any depth) the user may not fill (hidden for
    them): left out whatever was sent.
    """
    definition = published(session, form_id)
    version = published_version(session, form_id)
    org = _org(session, org_id)
    if not isinstance(data, Mapping):
        raise _refuse({"_": {"message": "数据应为 JSON 对象", "message_en": "data must be a JSON object"}})
    drop = set(drop)
    if drop:
        data = access.keep_locked(data, {}, drop)
    v = bound_validator(ctx, session, definition)
    values = drop_inactive(definition, v, v.compute(data) if clean else dict(data))
    errors = _shown_only(definition, values, v.validate(values))
    if errors:
        raise _refuse(errors)
    pending = attachments.check_refs(session, actor, values)  # the uploader's own, not attached elsewhere
    row = FormRecord(form_id=form_id, def_version=version, org_id=org, data=values,
                     created_by=actor.id if actor else None, updated_by=actor.id if actor else None)
    session.add(row)
    session.flush()
    attachments.claim(session, actor, pending, attachment_place(row.id))
    _history(session, actor, row, "create", {"before": {}, "after": values})
    audit.record(session, actor, "form_record.create", f"form:{form_id}", row.id,
                 after=access.mask_always(ctx, definition, values),
                 summary=f"新建表单 {form_id} 记录 {row.id}")
    return row


def update(session: Session, actor: Actor | None, ctx: Any, form_id: str, record_id: int, data: Any,
           version: int | None, *, keep: Iterable[str] = (), org_id: int | None = None,
           clean: bool = True) -> FormRecord:
    """Replace the record's fields with ``data`` (validated with the published
    definition). ``keep``: fields (dotted, at any depth) whose stored values stay
    whatever was sent — hidden or read-only for the user; repeating-group rows
    are matched by position (rules: :mod:`ccms.forms.access`). Archived values
    stay in the row."""
    row = get(session, form_id, record_id)
    _check_version(row, version)
    definition = published(session, form_id)
    pub_version = published_version(session, form_id)
    if not isinstance(data, Mapping):
        raise _refuse({"_": {"message": "数据应为 JSON 对象", "message_en": "data must be a JSON object"}})
    before = dict(row.data or {})
    up = upgrade(session, form_id, before, row.def_version, definition, pub_version)
    removed = access.removed_locked_rows(data, up.data, keep)
    if removed:
        raise _refuse({k: {"message": "此组的行含有您无权修改的内容，不能删除行；请联系有权限的人员",
                           "message_en": "rows of this group hold values you may not change, so you cannot remove rows"}
                       for k in removed})
    values = access.keep_locked(data, up.data, keep)
    for name, prop in definition.fields.items():  # a password is never sent back to the form: empty keeps it
        if "." not in name and isinstance(prop, Mapping) and prop.get("format") == "password" \
                and name not in values and name in up.data:
            values = {**values, name: up.data[name]}
    v = bound_validator(ctx, session, definition)
    values = drop_inactive(definition, v, v.compute(values) if clean else values)
    errors = _shown_only(definition, values, v.validate(values))
    if errors:
        raise _refuse(errors)
    place = attachment_place(row.id)
    held = {r.get("id") for r in attachments.refs_in(before)}  # kept attachments need no new claim
    attachments.claim(session, actor, attachments.check_refs(session, actor, values, place=place, keep=held), place)
    new_org = _org(session, org_id) if org_id is not None else row.org_id
    after = {**up.archived, **values}
    diff = _changes(before, after)
    if not diff["before"] and not diff["after"] and new_org == row.org_id and row.def_version == pub_version:
        return row
    row.data = after
    row.def_version = pub_version
    row.org_id = new_org
    row.updated_by = actor.id if actor else None
    row.updated_at = utcnow()
    session.flush()  # the version-checked UPDATE: a concurrent save raises StaleDataError
    _history(session, actor, row, "update", diff)
    audit.record(session, actor, "form_record.update", f"form:{form_id}", row.id,
                 before=access.mask_always(ctx, definition, diff["before"]),
                 after=access.mask_always(ctx, definition, diff["after"]), summary=f"修改表单 {form_id} 记录 {row.id}")
    return row


def delete(session: Session, actor: Actor | None, form_id: str, record_id: int,
           version: int | None = None) -> FormRecord:
    """Soft delete: the row stays, marked with who and when."""
    row = get(session, form_id, record_id)
    _check_version(row, version)
    row.deleted_at = utcnow()
    row.deleted_by = actor.id if actor else None
    session.flush()
    _history(session, actor, row, "delete", {})
    audit.record(session, actor, "form_record.delete", f"form:{form_id}", row.id,
                 summary=f"删除表单 {form_id} 记录 {row.id}")
    return row


def restore(session: Session, actor: Actor | None, form_id: str, record_id: int,
            version: int | None = None) -> FormRecord:
    """Undo a soft delete."""
    row = get(session, form_id, record_id, deleted=True)
    _check_version(row, version)
    row.deleted_at = None
    row.deleted_by = None
    session.flush()
    _history(session, actor, row, "restore", {})
    audit.record(session, actor, "form_record.restore", f"form:{form_id}", row.id,
                 summary=f"恢复表单 {form_id} 记录 {row.id}")
    return row


def meta_of(row: FormRecord) -> dict[str, Any]:
    """The record's columns as the API shows them."""
    return {"id": row.id, "form_id": row.form_id, "def_version": row.def_version, "org_id": row.org_id,
            "version": row.version, "ref_no": row.ref_no, "status": row.status, "region_code": row.region_code,
            "created_at": row.created_at.isoformat() if row.created_at else None, "created_by": row.created_by,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None, "updated_by": row.updated_by,
            "deleted_at": row.deleted_at.isoformat() if row.deleted_at else None}


assert set(META_ATTRS) - {"_id"} == set(META_COLUMNS)
