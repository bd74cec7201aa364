"""表单数据: generated screens and JSON API for the records of every published form.

Permissions are per form (``form.<id>.list|read|create|update|delete|export``,
see :mod:`ccms.forms.access`) and checked within the record's org domain; the
list shows only records whose org lies in a subtree where the user may list.
Field permissions apply everywhere: hidden fields never reach a page, a JSON
answer, an export or the history; read-only ones keep their stored values.
Writes go through :mod:`ccms.forms.records` (audited, optimistic locking).
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import tabular
from ..audit import actor_of
from ..errors import CcmsError, Conflict, Forbidden, NotFound, ValidationFailed
from ..forms import access, bulk_actions, dataurl, records, saved_filters
from ..forms.definition import FormDefinition, localize
from ..forms.fields import enum_options
from ..forms.models import FormDef, FormRecord
from ..forms.render import apply_row_action, hidden_by_rules, render_form
from ..forms.widgets import display, reference_labels
from ..forms.widgets_detail import render_detail
from ..models import Org, Person
from ..services.orgs import domain_paths, subtree_filter
from .actions import STALE
from .attachments import store_posted_files
from .openapi import RECORD_BODY, api_doc
from .pages import page_or_fragment, redirect
from .render import render
from .routing import authenticated, checks_permission, form_data, request_json

META_LABELS = {"_created_at": "form_records.created_at", "_updated_at": "form_records.updated_at",
               "_created_by": "form_records.created_by", "_updated_by": "form_records.updated_by",
               "_org": "form_records.org", "_ref_no": "form_records.ref_no", "_status": "form_records.status",
               "_region_code": "form_records.region_code"}
EXPORT_MAX = 100_000
ACTION_KEYS = {"create": "form_records.action_create", "update": "form_records.action_update",
               "delete": "form_records.action_delete", "restore": "form_records.action_restore"}


# --- helpers ------------------------------------------------------------------------------------

def _ctx_user(request: Request) -> tuple[Any, Any]:
    return request.scope["ccms"], request.scope.get("user")


def _require_any(ctx: Any, user: Any, form_id: str, action: str) -> None:
    """The user holds the form permission in some org (the exact org is checked per record)."""
    ctx.require_anywhere(user, access.perm(form_id, action))


def _definition(s: Any, form_id: str) -> FormDefinition:
    return records.published(s, form_id)


def _title(ctx: Any, d: FormDefinition) -> str:
    return localize(d.title, ctx.deployment.locale) or d.id


def _label(ctx: Any, d: FormDefinition, name: str) -> str:
    if name in META_LABELS:
        return ctx.gettext(META_LABELS[name])
    return d.label(name, ctx.deployment.locale)


def _display_value(ctx: Any, d: FormDefinition, name: str, value: Any, labels: dict[str, dict[Any, str]]) -> str:
    if d.fields.get(name) is None:
        return "" if value is None else str(value)
    return display(ctx, d, name, value, labels)


def _ref_labels(s: Any, rows: list[FormRecord], d: FormDefinition, ctx: Any) -> dict[str, dict[Any, str]]:
    """Names of the orgs, people and regions records point at, at any depth (one query each)."""
    return reference_labels(ctx, s, d, [r.data or {} for r in rows],
                            extra_people=[x for r in rows for x in (r.created_by, r.updated_by)],
                            extra_orgs=[r.org_id for r in rows])


def _cell(ctx: Any, d: FormDefinition, row: FormRecord, data: dict[str, Any], name: str,
          labels: dict[str, dict[Any, str]]) -> str:
    if name == "_org":
        return labels["org"].get(row.org_id, "")
    if name in ("_created_by", "_updated_by"):
        return labels["person"].get(getattr(row, records.META_ATTRS[name]), "")
    if name in ("_created_at", "_updated_at"):
        v = getattr(row, records.META_ATTRS[name])
        return ctx.templates.filters["localtime"](v) if v else ""
    if name in records.META_ATTRS:
        v = getattr(row, records.META_ATTRS[name])
        return "" if v is None else str(v)
    return _display_value(ctx, d, name, data.get(name), labels)


def _columns(d: FormDefinition, hidden: set[str]) -> list[str]:
    cols = d.list_settings.get("columns") or [*d.top_fields[:5], "_created_at"]
    return [c for c in cols if c not in hidden]


def _filters(d: FormDefinition, hidden: set[str]) -> list[str]:
    return [f for f in (d.list_settings.get("filters") or []) if f not in hidden]


def _query(request: Request, d: FormDefinition, hidden: set[str]) -> records.Query:
    qp = request.query_params
    filters: dict[str, Any] = {}
    for name in _filters(d, hidden):
        lo, hi = qp.get(f"f.{name}.min", ""), qp.get(f"f.{name}.max", "")
        if lo or hi:
            filters[name] = {"min": lo, "max": hi}
        elif qp.get(f"f.{name}", ""):
            filters[name] = qp.get(f"f.{name}")
    try:
        page = max(1, int(qp.get("page", "1")))
    except ValueError:
        page = 1
    try:
        size = int(qp.get("page_size", "50"))
    except ValueError:
        size = 50
    return records.Query(q=qp.get("q", "").strip()[:100], filters=filters, sort=qp.get("sort", "")[:70],
                         page=page, page_size=max(1, min(size, 200)), deleted=qp.get("deleted") == "1")


def _paths(ctx: Any, s: Any, user: Any, form_id: str, action: str = "list") -> list[str]:
    return domain_paths(ctx, s, user, access.perm(form_id, action))


def _visible(ctx: Any, user: Any, d: FormDefinition, row: FormRecord, s: Any) -> records.Upgraded:
    """The record's data through the published definition, hidden fields removed."""
    pub = records.published_version(s, d.id)
    up = records.upgrade(s, d.id, row.data or {}, row.def_version, d, pub)
    hidden = access.hidden_fields(ctx, user, d)
    up.data = access.strip(up.data, hidden)
    return up


def _record_or_404(ctx: Any, s: Any, user: Any, form_id: str, rid: int, action: str,
                   deleted: bool | None = False) -> FormRecord:
    row = records.get(s, form_id, rid, deleted=deleted)
    if not ctx.can(user, access.perm(form_id, action), row.org_id):
        # outside the user's subtree: as if it did not exist (no probing of ids)
        if not ctx.can_anywhere(user, access.perm(form_id, action)):
            raise Forbidden("没有权限", f"permission denied: {access.perm(form_id, action)}")
        raise NotFound(f"记录 {rid} 不存在", f"record {rid} does not exist")
    return row


def _org_choices(ctx: Any, s: Any, user: Any, form_id: str, action: str) -> list[tuple[int, str, int]]:
    paths = _paths(ctx, s, user, form_id, action)
    if not paths:
        return []
    rows = s.execute(select(Org.id, Org.name, Org.path).where(Org.active.is_(True), subtree_filter(paths))
                     .order_by(Org.path)).all()
    return [(i, n, max(p.count("/") - 2, 0)) for i, n, p in rows]


def _history(ctx: Any, user: Any, d: FormDefinition, s: Any, rid: int, org_id: int | None = None) -> list[dict[str, Any]]:
    hidden = access.hidden_fields(ctx, user, d)
    out = []
    entries = [(h, access.strip_changes(h.changes or {}, hidden)) for h in records.history(s, rid)]
    entries = [(h, {k: access.mask(ctx, user, d, v, org_id) if isinstance(v, dict) else v for k, v in c.items()})
               for h, c in entries]  # phone / ID numbers by role, in the history too
    labels = reference_labels(ctx, s, d, [c.get(k) or {} for _h, c in entries for k in ("before", "after")])
    for h, ch in entries:
        before, after = ch.get("before") or {}, ch.get("after") or {}
        names = [n for n in {**before, **after}]
        out.append({"at": h.at, "actor": h.actor_name, "action": ctx.gettext(ACTION_KEYS.get(h.action, h.action)),
                    "def_version": h.def_version,
                    "changes": [{"field": n, "label": _label(ctx, d, n) if n in d.fields else n,
                                 "before": _display_value(ctx, d, n, before.get(n), labels)
                                 if n in before else "",
                                 "after": _display_value(ctx, d, n, after.get(n), labels)
                                 if n in after else ""} for n in names]})
    return out


# --- screens ------------------------------------------------------------------------------------

@authenticated
async def index_page(request: Request) -> Response:
    """Published forms the user may list (a login is enough to open it)."""
    ctx, user = _ctx_user(request)
    if user is None:
        raise Forbidden("请先登录", "log in first")
    with ctx.db.session() as s:
        rows = s.execute(select(FormDef.form_id, FormDef.definition).where(FormDef.status == "published")
                         .order_by(FormDef.form_id)).all()
    forms = [{"id": fid, "title": localize((raw or {}).get("title"), ctx.deployment.locale) or fid}
             for fid, raw in rows if ctx.can_anywhere(user, access.perm(fid, "list"))]
    return render(request, "forms/index.html", {"forms": forms,
                                                "breadcrumbs": [(ctx.gettext("form_records.title"), None)]})


def _list_context(request: Request, ctx: Any, user: Any, s: Any, d: FormDefinition) -> dict[str, Any]:
    hidden = access.hidden_fields(ctx, user, d)
    query = _query(request, d, hidden)
    if query.deleted:
        _require_any(ctx, user, d.id, "delete")
    rows, total = records.list_records(s, ctx, d, query, paths=_paths(ctx, s, user, d.id), hidden=hidden)
    labels = _ref_labels(s, rows, d, ctx)
    cols = _columns(d, hidden)
    out_rows = []
    for r in rows:
        up = _visible(ctx, user, d, r, s)
        data = access.mask(ctx, user, d, up.data, r.org_id)
        out_rows.append({"id": r.id, "cells": [_cell(ctx, d, r, data, c, labels) for c in cols]})
    keep = {k: v for k, v in request.query_params.multi_items() if k != "page"}
    filters = []
    for name in _filters(d, hidden):
        prop = d.fields.get(name, {})
        kind = ctx.field_types.resolve(prop).name if name in d.fields else ""
        opts = [(str(v), t) for v, t in enum_options(prop, ctx.deployment.locale)] if kind == "enum" else []
        filters.append({"name": name, "label": _label(ctx, d, name), "options": opts,
                        "range": kind in records.NUMBER_TYPES or kind in ("date", "datetime")
                        or name in ("_created_at", "_updated_at"),
                        "input_type": "date" if kind in ("date", "datetime") or name.endswith("_at") else "text",
                        "value": request.query_params.get(f"f.{name}", ""),
                        "min": request.query_params.get(f"f.{name}.min", ""),
                        "max": request.query_params.get(f"f.{name}.max", "")})
    return {**list_extras(request, ctx, user, s, d, query.deleted),
            "d": d, "title": _title(ctx, d), "columns": [(c, _label(ctx, d, c)) for c in cols], "rows": out_rows,
            "total": total, "page": query.page, "pages": max(1, math.ceil(total / query.page_size)),
            "q": query.q, "sort": query.sort, "deleted": query.deleted, "filters": filters,
            "base_url": f"/forms/{d.id}?" + (urlencode(keep) + "&" if keep else ""),
            "export_query": urlencode(keep),
            "can_create": ctx.can_anywhere(user, access.perm(d.id, "create")),
            "can_export": ctx.can_anywhere(user, access.perm(d.id, "export")),
            "can_restore": ctx.can_anywhere(user, access.perm(d.id, "delete")),
            "breadcrumbs": [(ctx.gettext("form_records.title"), "/forms"), (_title(ctx, d), None)]}


@checks_permission("form.{form}.list")
async def list_page(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    form_id = request.path_params["form"]
    _require_any(ctx, user, form_id, "list")
    with ctx.db.session() as s:
        d = _definition(s, form_id)
        try:
            context = _list_context(request, ctx, user, s, d)
        except ValidationFailed as exc:
            return render(request, "error.html", {"status": 422, "code": exc.code, "message": exc.zh,
                                                  "message_en": exc.en}, status_code=422)
    return page_or_fragment(request, "forms/list.html", "forms/_list.html", context)


def _export_rows(ctx: Any, user: Any, s: Any, d: FormDefinition, request: Request) -> list[list[Any]]:
    hidden = access.hidden_fields(ctx, user, d)
    query = _query(request, d, hidden)
    query.deleted = False
    query.page, query.page_size = 1, records.MAX_PAGE_SIZE
    stmt = records.select_records(ctx, d, query, paths=_paths(ctx, s, user, d.id, "export"), hidden=hidden)
    stmt = stmt.order_by(*records.order_by(ctx, d, query.sort, hidden)).limit(EXPORT_MAX)
    rows = list(s.scalars(stmt))
    labels = _ref_labels(s, rows, d, ctx)
    names = [n for n in d.top_fields if n not in hidden] + ["_org", "_created_at", "_updated_at"]
    out: list[list[Any]] = [["ID", *[_label(ctx, d, n) for n in names]]]
    for r in rows:
        data = access.mask(ctx, user, d, _visible(ctx, user, d, r, s).data, r.org_id)
        out.append([r.id, *[_cell(ctx, d, r, data, n, labels) for n in names]])
    return out


@checks_permission("form.{form}.export")
async def export_file(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    form_id, fmt = request.path_params["form"], request.path_params["fmt"]
    _require_any(ctx, user, form_id, "export")
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed(f"导出格式应为 csv 或 xlsx，而不是 {fmt}", f"export format must be csv or xlsx, not {fmt}")
    with ctx.db.session() as s:
        d = _definition(s, form_id)
        rows = _export_rows(ctx, user, s, d, request)
    content, media = tabular.write_table(rows, fmt, form_id)
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{form_id}.{fmt}"'})


def _edit_response(request: Request, ctx: Any, user: Any, s: Any, d: FormDefinition, *, mode: str,
                   values: dict[str, Any], errors: dict[str, Any], raw: Any = None, row: FormRecord | None = None,
                   org_id: Any = None, error: CcmsError | None = None, status: int = 200) -> Response:
    action = "create" if mode == "create" else "update"
    hidden = access.hidden_fields(ctx, user, d)
    readonly = access.readonly_fields(ctx, user, d) if mode == "edit" else hidden
    orgs = _org_choices(ctx, s, user, d.id, action)
    fields_html = render_form(ctx, d, values, errors, raw=raw, hidden=hidden, readonly=readonly, org_choices=orgs)
    return render(request, "forms/edit.html", {
        "d": d, "title": _title(ctx, d), "mode": mode, "row": row, "fields_html": fields_html,
        "orgs": orgs, "org_id": str(org_id or ""), "org_error": errors.get("_org"), "error": error,
        "breadcrumbs": [(ctx.gettext("form_records.title"), "/forms"), (_title(ctx, d), f"/forms/{d.id}"),
                        (ctx.gettext("common.create") if mode == "create" else ctx.gettext("common.edit"), None)]},
        status_code=status)


def _default_org(ctx: Any, s: Any, user: Any, form_id: str, action: str) -> int | None:
    person_org = s.scalar(select(Person.org_id).where(Person.id == user.id)) if user else None
    if person_org and ctx.can(user, access.perm(form_id, action), person_org):
        return person_org
    orgs = _org_choices(ctx, s, user, form_id, action)
    return orgs[0][0] if orgs else None


def _post_org(data: Any) -> int | None:
    raw = str(data.get("_org_id", "")).strip()
    return int(raw) if raw.isdecimal() else None


def _submitted(ctx: Any, d: FormDefinition, pairs: list[tuple[str, Any]], drop: set[str],
               stored: dict[str, Any] | None = None) -> tuple[dict, dict]:
    """Coerced, computed and validated values of a post, with their errors. Fields hidden by
    rules or permissions are dropped first; ``stored`` values stand in for the dropped ones."""
    v = records.validator(ctx, d)
    data, errors = v.coerce_post(pairs)
    gone = drop | hidden_by_rules(d, data)

    def outside(k: str) -> bool:
        return not access.under(k, gone)  # items[0].evidence lies in items.evidence
    data = access.keep_locked(data, stored or {}, drop)  # at every depth, rows by position
    for name in gone - drop:
        data.pop(name, None)
        if stored and name in stored:
            data[name] = stored[name]
    errors = {k: e for k, e in errors.items() if outside(k)}
    data, schema_errors = v.clean(data)
    for k, e in schema_errors.items():
        if outside(k) and k not in errors and not any(k.startswith((x + ".", x + "[")) for x in errors):
            errors[k] = e
    return data, errors


@checks_permission("form.{form}.create")
async def new_page(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    form_id = request.path_params["form"]
    _require_any(ctx, user, form_id, "create")
    with ctx.db.session() as s:
        d = _definition(s, form_id)
        if request.method == "GET":
            defaults = {n: p["default"] for n, p in d.schema.get("properties", {}).items() if "default" in p}
            return _edit_response(request, ctx, user, s, d, mode="create", values=defaults, errors={},
                                  org_id=_default_org(ctx, s, user, form_id, "create"))
    form = await request.form()
    pairs, pressed = apply_row_action(form.multi_items())
    org_id = _post_org(form)
    pairs, upload_errors = await store_posted_files(request, form_id, pairs, org_id)
    with ctx.db.session() as s:
        d = _definition(s, form_id)
        hidden = access.hidden_fields(ctx, user, d)
        data, errors = _submitted(ctx, d, pairs, hidden)
        errors.update({k: e for k, e in upload_errors.items() if k not in hidden})
        if pressed:
            return _edit_response(request, ctx, user, s, d, mode="create", values=data, errors={}, raw=pairs,
                                  org_id=org_id)
        if org_id is None or not ctx.can(user, access.perm(form_id, "create"), org_id):
            errors["_org"] = {"message": "请选择您有权限的所属机构", "message_en": "choose an org you may create records in"}
        if not errors:
            try:
                row = records.create(s, actor_of(request), ctx, form_id, data, org_id, drop=hidden)
                rid = row.id
            except ValidationFailed as exc:
                errors = dict(exc.fields or {})
                s.rollback()
        if errors:
            return _edit_response(request, ctx, user, s, d, mode="create", values=data, errors=errors, raw=pairs,
                                  org_id=org_id, status=422)
    return redirect(request, f"/forms/{form_id}/{rid}", flash="saved")


@checks_permission("form.{form}.read")
async def detail_page(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    form_id, rid = request.path_params["form"], request.path_params["id"]
    _require_any(ctx, user, form_id, "read")
    with ctx.db.session() as s:
        d = _definition(s, form_id)
        row = _record_or_404(ctx, s, user, form_id, rid, "read", deleted=None)
        if row.deleted_at is not None and not ctx.can(user, access.perm(form_id, "delete"), row.org_id):
            raise NotFound(f"记录 {rid} 不存在", f"record {rid} does not exist")  # deleted: for restorers only
        up = _visible(ctx, user, d, row, s)
        up.data = access.mask(ctx, user, d, up.data, row.org_id)  # phone / ID numbers by role
        labels = _ref_labels(s, [row], d, ctx)
        hidden = access.hidden_fields(ctx, user, d)
        shown = [(n, _label(ctx, d, n), _display_value(ctx, d, n, up.data.get(n), labels))
                 for n in d.top_fields if n not in hidden and n in up.data]
        archived = [(n, up.archived_labels.get(n, n), _display_value(ctx, d, n, v, labels))
                    for n, v in up.archived.items() if n not in hidden]
        return render(request, "forms/detail.html", {
            "d": d, "title": _title(ctx, d), "row": row, "fields": shown, "archived": archived,
            "fields_html": render_detail(ctx, d, up.data, labels, hidden),
            "attachments": {n: [r for r in up.data[n] if isinstance(r, dict) and r.get("id")] for n, _l, _v in shown
                            if isinstance(up.data.get(n), list)
                            and ctx.field_types.resolve(d.fields.get(n, {})).name in ("file", "image")},
            "org": labels["org"].get(row.org_id, ""), "history": _history(ctx, user, d, s, rid, row.org_id),
            "can_update": row.deleted_at is None and ctx.can(user, access.perm(form_id, "update"), row.org_id),
            "can_delete": row.deleted_at is None and ctx.can(user, access.perm(form_id, "delete"), row.org_id),
            "can_restore": row.deleted_at is not None and ctx.can(user, access.perm(form_id, "delete"), row.org_id),
            "confirm": request.query_params.get("confirm") == "delete",
            "breadcrumbs": [(ctx.gettext("form_records.title"), "/forms"), (_title(ctx, d), f"/forms/{d.id}"),
                            (f"#{row.id}", None)]})


@checks_permission("form.{form}.update")
async def edit_page(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    form_id, rid = request.path_params["form"], request.path_params["id"]
    _require_any(ctx, user, form_id, "update")
    if request.method == "GET":
        with ctx.db.session() as s:
            d = _definition(s, form_id)
            row = _record_or_404(ctx, s, user, form_id, rid, "update")
            up = _visible(ctx, user, d, row, s)
            return _edit_response(request, ctx, user, s, d, mode="edit", values=access.mask(ctx, user, d, up.data,
                                                                                            row.org_id),
                                  errors={}, row=row, org_id=row.org_id)
    form = await request.form()
    pairs, pressed = apply_row_action(form.multi_items())
    version = str(form.get("version", ""))
    org_id = _post_org(form)
    pairs, upload_errors = await store_posted_files(request, form_id, pairs, org_id)
    with ctx.db.session() as s:
        d = _definition(s, form_id)
        row = _record_or_404(ctx, s, user, form_id, rid, "update")
        readonly = access.readonly_fields(ctx, user, d)
        stored = _visible(ctx, user, d, row, s).data
        posted = pairs
        pairs = access.unmasked_posts(ctx, user, d, pairs, stored, row.org_id)  # masked + unchanged = keep
        data, errors = _submitted(ctx, d, pairs, readonly, stored)
        # shown again (row buttons, errors): the masked text that was posted, never the stored number
        shown = {**data, **{k: v for (k, v), (_k, u) in zip(posted, pairs) if v is not u}}
        errors.update({k: e for k, e in upload_errors.items() if k not in readonly})
        if pressed:
            return _edit_response(request, ctx, user, s, d, mode="edit", values=shown, errors={}, raw=posted,
                                  row=row, org_id=org_id)
        if org_id is not None and org_id != row.org_id and not ctx.can(user, access.perm(form_id, "update"), org_id):
            errors["_org"] = {"message": "请选择您有权限的所属机构", "message_en": "choose an org you may edit records in"}
        problem: CcmsError | None = None
        if not errors:
            try:
                records.update(s, actor_of(request), ctx, form_id, rid, data,
                               int(version) if version.isdecimal() else None, keep=readonly, org_id=org_id)
            except ValidationFailed as exc:
                errors = dict(exc.fields or {})
            except Conflict as exc:
                problem = exc
            except StaleDataError:
                problem = STALE
            if errors or problem:
                s.rollback()
        if errors or problem:
            row = records.get(s, form_id, rid)
            return _edit_response(request, ctx, user, s, d, mode="edit", values=shown, errors=errors, raw=posted,
                                  row=row, org_id=org_id, error=problem, status=409 if problem else 422)
    return redirect(request, f"/forms/{form_id}/{rid}", flash="saved")


@checks_permission("form.{form}.delete")
async def delete_action(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    form_id, rid = request.path_params["form"], request.path_params["id"]
    _require_any(ctx, user, form_id, "delete")
    data = await form_data(request)
    version = str(data.get("version", ""))
    with ctx.db.session() as s:
        _record_or_404(ctx, s, user, form_id, rid, "delete")
        try:
            records.delete(s, actor_of(request), form_id, rid, int(version) if version.isdecimal() else None)
        except StaleDataError:
            raise Conflict(STALE.zh, STALE.en) from None
    return redirect(request, f"/forms/{form_id}", flash="deleted")


@checks_permission("form.{form}.delete")
async def restore_action(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    form_id, rid = request.path_params["form"], request.path_params["id"]
    _require_any(ctx, user, form_id, "delete")
    data = await form_data(request)
    version = str(data.get("version", ""))
    with ctx.db.session() as s:
        _record_or_404(ctx, s, user, form_id, rid, "delete", deleted=True)
        records.restore(s, actor_of(request), form_id, rid, int(version) if version.isdecimal() else None)
    return redirect(request, f"/forms/{form_id}/{rid}", flash="restored")


# --- JSON API -----------------------------------------------------------------------------------

def _record_json(ctx: Any, user: Any, s: Any, d: FormDefinition, row: FormRecord, *, masked: bool) -> dict[str, Any]:
    up = _visible(ctx, user, d, row, s)
    data = access.mask(ctx, user, d, up.data, row.org_id) if masked else up.data
    hidden = access.hidden_fields(ctx, user, d)
    return {**records.meta_of(row), "data": data,
            "archived": {k: v for k, v in up.archived.items() if k not in hidden}}


async def _json(request: Request) -> Any:
    return await request_json(request)


@checks_permission({"GET": "form.{form}.list", "POST": "form.{form}.create"})
async def api_records(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    form_id = request.path_params["form"]
    if request.method == "POST":
        _require_any(ctx, user, form_id, "create")
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise ValidationFailed("请求体应为 {\"org_id\": 机构, \"data\": {...}}",
                                   "the body must be {\"org_id\": org, \"data\": {...}}")
        org_id = body.get("org_id")
        with ctx.db.session() as s:
            d = _definition(s, form_id)
            if org_id is None:
                org_id = _default_org(ctx, s, user, form_id, "create")
            if isinstance(org_id, bool) or not isinstance(org_id, int):
                raise ValidationFailed("org_id 应为整数", "org_id must be an integer",
                                       fields={"org_id": {"message": "应为整数", "message_en": "must be an integer"}})
            ctx.require(user, access.perm(form_id, "create"), org_id)
            hidden = access.hidden_fields(ctx, user, d)
            sent_hidden = access.locked_writes(body["data"], {}, hidden, ())  # at every depth
            if sent_hidden:
                raise access.refuse_locked(sent_hidden)
            posted = dataurl.decode_posted(ctx, s, actor_of(request), d, body["data"], org_id)
            row = records.create(s, actor_of(request), ctx, form_id, posted, org_id, drop=hidden)
            return JSONResponse(_record_json(ctx, user, s, d, row, masked=True), status_code=201)
    _require_any(ctx, user, form_id, "list")
    with ctx.db.session() as s:
        d = _definition(s, form_id)
        hidden = access.hidden_fields(ctx, user, d)
        query = _query(request, d, hidden)
        if query.deleted:
            _require_any(ctx, user, form_id, "delete")
        rows, total = records.list_records(s, ctx, d, query, paths=_paths(ctx, s, user, form_id), hidden=hidden)
        return JSONResponse({"items": [_record_json(ctx, user, s, d, r, masked=True) for r in rows], "total": total,
                             "page": query.page, "page_size": query.page_size})


@checks_permission({"GET": "form.{form}.read", "PATCH": "form.{form}.update", "DELETE": "form.{form}.delete"})
async def api_record(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    form_id, rid = request.path_params["form"], request.path_params["id"]
    method = request.method
    action = {"GET": "read", "PATCH": "update", "DELETE": "delete"}[method]
    _require_any(ctx, user, form_id, action)
    body = await _json(request) if method in ("PATCH", "DELETE") and await request.body() else {}
    if not isinstance(body, dict):
        raise ValidationFailed("请求体应为 JSON 对象", "the body must be a JSON object")
    version = body.get("version")
    if method != "GET" and (isinstance(version, bool) or not isinstance(version, int)):
        raise ValidationFailed("缺少 version（读取时的版本号）", "version (as read) is required",
                               fields={"version": {"message": "必填", "message_en": "required"}})
    with ctx.db.session() as s:
        d = _definition(s, form_id)
        row = _record_or_404(ctx, s, user, form_id, rid, action)
        if method == "GET":
            return JSONResponse(_record_json(ctx, user, s, d, row, masked=True))
        if method == "DELETE":
            try:
                records.delete(s, actor_of(request), form_id, rid, version)
            except StaleDataError:
                raise Conflict(STALE.zh, STALE.en) from None
            return JSONResponse({"ok": True})
        data = body.get("data")
        if not isinstance(data, dict):
            raise ValidationFailed("data 应为 JSON 对象", "data must be a JSON object",
                                   fields={"data": {"message": "应为对象", "message_en": "must be an object"}})
        readonly = access.readonly_fields(ctx, user, d)
        current = _visible(ctx, user, d, row, s).data
        changed = access.locked_writes(data, current, access.hidden_fields(ctx, user, d), readonly)  # any depth
        if changed:
            raise access.refuse_locked(changed)
        data = dataurl.decode_posted(ctx, s, actor_of(request), d, data, row.org_id)  # data: URLs -> attachments
        merged = {**current, **data}  # PATCH: fields not sent keep their values
        merged = {k: v for k, v in merged.items() if v is not None}
        try:
            row = records.update(s, actor_of(request), ctx, form_id, rid, merged, version, keep=readonly)
        except StaleDataError:
            raise Conflict(STALE.zh, STALE.en) from None
        return JSONResponse(_record_json(ctx, user, s, d, row, masked=True))


@checks_permission(["form.{form}.list", "form.{form}.read", "form.{form}.create"])
async def api_definition(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    form_id = request.path_params["form"]
    if not any(ctx.can_anywhere(user, access.perm(form_id, a)) for a in ("list", "read", "create")):
        raise Forbidden("没有权限", f"permission denied: {access.perm(form_id, 'read')}")
    with ctx.db.session() as s:
        d = _definition(s, form_id)
        version = records.published_version(s, form_id)
    hidden = access.hidden_fields(ctx, user, d)
    out = d.to_dict()
    props = out["schema"].get("properties", {})
    for name in hidden:
        if "." not in name:
            props.pop(name, None)
    if "required" in out["schema"]:
        out["schema"]["required"] = [r for r in out["schema"]["required"] if r not in hidden]
    out.pop("permissions", None)
    return JSONResponse({"form_id": form_id, "version": version, "definition": out,
                         "readonly": sorted(access.readonly_fields(ctx, user, d) - hidden)})


routes = [
    Route("/forms", index_page, name="forms-records"),
    Route("/forms/{form}", list_page, name="forms-record-list"),
    Route("/forms/{form}/export.{fmt}", export_file, name="forms-record-export"),
    Route("/forms/{form}/new", new_page, methods=["GET", "POST"], name="forms-record-new"),
    Route("/forms/{form}/{id:int}", detail_page, name="forms-record"),
    Route("/forms/{form}/{id:int}/edit", edit_page, methods=["GET", "POST"], name="forms-record-edit"),
    Route("/forms/{form}/{id:int}/delete", delete_action, methods=["POST"], name="forms-record-delete"),
    Route("/forms/{form}/{id:int}/restore", restore_action, methods=["POST"], name="forms-record-restore"),
    Route("/api/forms/{form}/records", api_records, methods=["GET", "POST"], name="api-form-records"),
    Route("/api/forms/{form}/records/{id:int}", api_record, methods=["GET", "PATCH", "DELETE"],
          name="api-form-record"),
    Route("/api/forms/{form}/definition", api_definition, name="api-form-definition"),
]

_Q = {"q": "全文搜索 / full-text search over text fields", "f.<field>": "字段等于 / field equals",
      "f.<field>.min": "字段下限 / field at least", "f.<field>.max": "字段上限 / field at most",
      "sort": "排序字段，- 前缀为倒序 / sort field, - for descending", "page": "页码 / page",
      "page_size": "每页条数（最多 200）/ page size (at most 200)", "deleted": "1 = 已删除的 / deleted ones"}

api_docs = [
    api_doc("/api/forms/{form}/records", "get", "表单记录列表 / list a form's records (row scope, filters)",
            permission="form.{form}.list", query=_Q, tag="forms"),
    api_doc("/api/forms/{form}/records", "post",
            "新建表单记录 / create a record: {\"org_id\": int, \"data\": {...}}",
            permission="form.{form}.create", tag="forms", status=201, body=RECORD_BODY),
    api_doc("/api/forms/{form}/records/{id}", "get", "查看表单记录 / read a record", permission="form.{form}.read",
            tag="forms"),
    api_doc("/api/forms/{form}/records/{id}", "patch",
            "修改表单记录 / update a record: {\"version\": int, \"data\": {changed fields}}",
            permission="form.{form}.update", tag="forms"),
    api_doc("/api/forms/{form}/records/{id}", "delete", "删除表单记录（可恢复）/ soft-delete a record: {\"version\": int}",
            permission="form.{form}.delete", tag="forms"),
    api_doc("/api/forms/{form}/definition", "get", "表单定义（已发布版本）/ the published definition",
            permission="form.{form}.list", tag="forms"),
]


SHARE = saved_filters.SHARE_PERMISSION


def _may_share(ctx: Any, user: Any, form_id: str) -> bool:
    return ctx.can_anywhere(user, access.perm(form_id, "list")) and ctx.can_anywhere(user, SHARE)


def _allowed_filters(d: FormDefinition, hidden: set[str]) -> list[str]:
    return _filters(d, hidden)


# --- list page extras (saved filters, bulk actions, import: served by ccms.web.forms_list) ------------------------------------------------------------------------------

def list_extras(request: Request, ctx: Any, user: Any, s: Any, d: FormDefinition, deleted: bool) -> dict[str, Any]:
    """Context the list templates need for saved filters, bulk actions and import."""
    hidden = access.hidden_fields(ctx, user, d)
    current = saved_filters.query_from_params(request.query_params)
    notice: list[str] = []
    selected = ""
    sf = request.query_params.get("sf", "")
    mine = saved_filters.visible(s, d.id, user.id) if user else []
    if sf.isdecimal():
        row = next((r for r in mine if r.id == int(sf)), None)
        if row is not None:
            selected = str(row.id)
            notice = saved_filters.resolve(row, d, _allowed_filters(d, hidden), hidden, ctx.deployment.locale).dropped
    return {
        "saved_filters": [{"id": r.id, "name": r.name, "shared": r.shared, "mine": r.owner_id == user.id}
                          for r in mine],
        "saved_selected": selected, "saved_notice": notice,
        "current_query": urlencode(saved_filters.query_params(current)), "has_query": bool(current),
        "can_share": _may_share(ctx, user, d.id),
        "bulk_actions": bulk_actions.available(ctx, user, d, deleted=deleted),
        "can_import": ctx.can_anywhere(user, access.perm(d.id, "create")),
    }
