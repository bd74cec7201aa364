"""表单数据 list extras: saved filters, bulk actions and the import screen.

The list page itself lives in :mod:`ccms.web.forms_records`, which also builds
the list's extras (``list_extras``: the saved-filter menu, a notice when a saved
filter named a field the form no longer offers, the bulk menu, the import link);
this module serves what those link to. Permissions are the form's own (``form.<id>.list|delete|
update|export|create``) checked per record in its org; sharing a saved filter
also needs ``core.forms.share_filters``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import QueryParams, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import audit, tabular
from ..audit import actor_of
from ..errors import CcmsError, Forbidden, ValidationFailed
from ..forms import access, bulk_actions, imports, records, saved_filters
from ..forms.definition import FormDefinition
from ..forms.fields import enum_options
from ..forms.models import FormRecord
from ..jobs import start_job
from . import forms_records as fr
from .forms_records import SHARE, _allowed_filters, _may_share
from .openapi import SAVED_FILTER_BODY, api_doc
from .render import render
from .routing import checks_permission, request_json


def _user_or_403(request: Request) -> tuple[Any, Any]:
    ctx, user = request.scope["ccms"], request.scope.get("user")
    if user is None:
        raise Forbidden("请先登录", "log in first")
    return ctx, user


def _labels(ctx: Any, d: FormDefinition) -> dict[str, str]:
    return {n: fr._label(ctx, d, n) for n in [*d.fields, *fr.META_LABELS]}


# --- saved filters ------------------------------------------------------------------------------------

def _list_url(form_id: str, params: list[tuple[str, str]]) -> str:
    return f"/forms/{form_id}" + ("?" + urlencode(params) if params else "")


@checks_permission("form.{form}.list")
async def save_filter(request: Request) -> Response:
    ctx, user = _user_or_403(request)
    form_id = request.path_params["form"]
    fr._require_any(ctx, user, form_id, "list")
    form = await request.form()
    query_string = str(form.get("query", ""))[:2000]
    params = parse_qsl(query_string)
    query = saved_filters.query_from_params(QueryParams(params))
    try:
        with ctx.db.session() as s:
            d = fr._definition(s, form_id)
            row = saved_filters.save(s, actor_of(request), form_id, form.get("name"), query, _labels(ctx, d),
                                     shared=form.get("shared") == "1", may_share=_may_share(ctx, user, form_id))
            fid = row.id
    except ValidationFailed as exc:
        return _list_with_error(request, query_string, exc, form.get("name"))
    return RedirectResponse(_list_url(form_id, [*saved_filters.query_params(query), ("sf", str(fid))]),
                            status_code=303)


def _list_with_error(request: Request, query_string: str, exc: CcmsError, name: Any) -> Response:
    """The list page again (with the query the user was looking at) and the error by the name input."""
    ctx, user = request.scope["ccms"], request.scope.get("user")
    encoded = urlencode(parse_qsl(query_string)).encode("ascii")
    scope = {**request.scope, "method": "GET", "query_string": encoded}
    scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"hx-request"]
    get = Request(scope)
    with ctx.db.session() as s:
        d = fr._definition(s, request.path_params["form"])
        context = fr._list_context(get, ctx, user, s, d)
    context.update({"filter_error": exc, "filter_name": str(name or "")[:100]})
    return render(get, "forms/list.html", context, status_code=exc.status)


@checks_permission("form.{form}.list")
async def apply_filter(request: Request) -> Response:
    ctx, user = _user_or_403(request)
    form_id = request.path_params["form"]
    fr._require_any(ctx, user, form_id, "list")
    raw = request.query_params.get("id", "")
    if not raw.isdecimal():
        return RedirectResponse(f"/forms/{form_id}", status_code=303)  # "—" chosen: the plain list
    with ctx.db.session() as s:
        d = fr._definition(s, form_id)
        row = saved_filters.get_visible(s, form_id, int(raw), user.id)
        hidden = access.hidden_fields(ctx, user, d)
        res = saved_filters.resolve(row, d, _allowed_filters(d, hidden), hidden, ctx.deployment.locale)
    return RedirectResponse(_list_url(form_id, [*saved_filters.query_params(res.query), ("sf", raw)]),
                            status_code=303)


@checks_permission("form.{form}.list")
async def delete_filter(request: Request) -> Response:
    ctx, user = _user_or_403(request)
    form_id, fid = request.path_params["form"], request.path_params["fid"]
    fr._require_any(ctx, user, form_id, "list")
    with ctx.db.session() as s:
        saved_filters.delete(s, actor_of(request), form_id, fid, is_admin=ctx.can_anywhere(user, SHARE))
    return RedirectResponse(f"/forms/{form_id}", status_code=303)


# --- bulk actions -------------------------------------------------------------------------------------

def _versions(form: Any, ids: list[int]) -> dict[int, int]:
    out = {}
    for rid in ids:
        v = str(form.get(f"version.{rid}", ""))
        if v.isdecimal():
            out[rid] = int(v)
    return out


def _summaries(ctx: Any, user: Any, s: Any, d: FormDefinition, rows: dict[int, FormRecord]) -> dict[int, str]:
    """A short text per record (its first list column) for confirmation pages."""
    hidden = access.hidden_fields(ctx, user, d)
    cols = [c for c in fr._columns(d, hidden) if not c.startswith("_")][:1]
    labels = fr._ref_labels(s, list(rows.values()), d, ctx)
    out = {}
    for rid, r in rows.items():
        data = access.mask(ctx, user, d, fr._visible(ctx, user, d, r, s).data, r.org_id)
        out[rid] = fr._cell(ctx, d, r, data, cols[0], labels) if cols else ""
    return out


_HEADINGS = {"delete": "forms_list.action_delete", "restore": "forms_list.action_restore", "set": "forms_list.action_set"}
_CONFIRM = {"delete": ("forms_list.confirm_delete", "forms_list.confirm_button_delete"),
            "restore": ("forms_list.confirm_restore", "forms_list.confirm_button_restore")}
_DONE = {"delete": "forms_list.done_delete", "restore": "forms_list.done_restore", "set": "forms_list.done_set"}


def _texts(ctx: Any, context: dict[str, Any]) -> dict[str, str]:
    """The page's sentences for its action (literal catalog keys, so the i18n check sees them)."""
    kind = "set" if context["action"].startswith("set:") else context["action"]
    count = len(context.get("rows") or context.get("done") or context.get("ids") or [])
    out = {"heading": ctx.gettext(_HEADINGS[kind])}
    if kind in _CONFIRM:
        out["confirm_text"] = ctx.gettext(_CONFIRM[kind][0], count=count)
        out["confirm_button"] = ctx.gettext(_CONFIRM[kind][1], count=count)
    out["done_text"] = ctx.gettext(_DONE[kind], count=len(context.get("done") or []),
                                   field=context.get("field_label", ""))
    return out


def _bulk_page(request: Request, ctx: Any, d: FormDefinition, context: dict[str, Any], status: int = 200) -> Response:
    context = {**_texts(ctx, context), "d": d, "title": fr._title(ctx, d),
               "breadcrumbs": [(ctx.gettext("form_records.title"), "/forms"), (fr._title(ctx, d), f"/forms/{d.id}"),
                               (ctx.gettext("forms_list.bulk"), None)], **context}
    return render(request, "forms/bulk.html", context, status_code=status)


def _refusals(report: bulk_actions.BulkReport) -> list[dict[str, Any]]:
    return [{"id": rid, "message": zh, "message_en": en} for rid, (zh, en) in report.refused.items()]


@checks_permission("form.{form}.list")
async def bulk_action(request: Request) -> Response:
    ctx, user = _user_or_403(request)
    form_id = request.path_params["form"]
    fr._require_any(ctx, user, form_id, "list")
    form = await request.form()
    action = str(form.get("action", ""))
    deleted = form.get("deleted") == "1"
    ids = bulk_actions.parse_ids(form.getlist("ids"))
    if action in ("export_csv", "export_xlsx"):
        return _export_selected(request, ctx, user, form_id, ids, action.split("_")[1])
    if action in ("delete", "restore"):
        return _delete_or_restore(request, ctx, user, form_id, ids, form, restore=action == "restore")
    if action.startswith("set:"):
        return _set_field(request, ctx, user, form_id, ids, action[4:], form)
    if action in bulk_actions.REGISTRY:  # registered by a plugin, no handler here yet
        raise ValidationFailed(f"批量操作 {action} 尚未实现", f"bulk action {action} is not implemented")
    raise ValidationFailed("请选择批量操作", "choose a bulk action",
                           fields={"action": {"message": "请选择操作", "message_en": "choose an action"}})


def _audit_bulk(s: Any, actor: Any, form_id: str, action: str, report: bulk_actions.BulkReport) -> None:
    """One entry for the bulk action as a whole (each record's change has its own)."""
    audit.record(s, actor, "form_record.bulk", f"form:{form_id}", "", success=not report.refused,
                 after={"action": action, "done": report.done[:1000], "refused": sorted(report.refused)[:1000]},
                 summary=f"批量操作 {action}：完成 {len(report.done)} 条，拒绝 {len(report.refused)} 条")


def _delete_or_restore(request: Request, ctx: Any, user: Any, form_id: str, ids: list[int], form: Any, *,
                       restore: bool) -> Response:
    fr._require_any(ctx, user, form_id, "delete")
    action = "restore" if restore else "delete"
    with ctx.db.session() as s:
        d = fr._definition(s, form_id)
        if form.get("confirm") != "1":
            ok, report = bulk_actions.check(ctx, user, s, form_id, ids, "delete", deleted=restore)
            return _bulk_page(request, ctx, d, {
                "step": "confirm", "action": action, "rows": [
                    {"id": rid, "version": r.version, "summary": text}
                    for (rid, r), text in zip(ok.items(), _summaries(ctx, user, s, d, ok).values(), strict=True)],
                "refused": _refusals(report), "deleted": restore})
        report = bulk_actions.delete_many(s, actor_of(request), ctx, user, form_id, ids, _versions(form, ids),
                                          restore=restore)
        _audit_bulk(s, actor_of(request), form_id, action, report)
    return _bulk_page(request, ctx, d, {"step": "done", "action": action, "done": report.done,
                                        "refused": _refusals(report), "deleted": restore})


def _value_widget(ctx: Any, d: FormDefinition, name: str) -> dict[str, Any]:
    prop = d.fields.get(name, {})
    kind = ctx.field_types.resolve(prop).name
    w: dict[str, Any] = {"name": name, "label": d.label(name, ctx.deployment.locale), "kind": kind, "options": []}
    if kind == "enum":
        w["options"] = [(str(v), t) for v, t in enum_options(prop, ctx.deployment.locale)]
    elif kind == "boolean":
        w["options"] = [("true", ctx.gettext("forms_list.yes")), ("false", ctx.gettext("forms_list.no"))]
    w["input_type"] = {"date": "date", "integer": "number", "number": "number", "money": "number"}.get(kind, "text")
    return w


def _set_field(request: Request, ctx: Any, user: Any, form_id: str, ids: list[int], name: str, form: Any) -> Response:
    fr._require_any(ctx, user, form_id, "update")
    actor = actor_of(request)
    with ctx.db.session() as s:
        d = fr._definition(s, form_id)
        if name not in bulk_actions.bulk_edit_fields(ctx, user, d):
            raise ValidationFailed(f"字段 {name} 不能批量修改", f"field {name} cannot be set in bulk",
                                   fields={"action": {"message": "不能批量修改此字段",
                                                      "message_en": "this field cannot be set in bulk"}})
        widget = _value_widget(ctx, d, name)
        raw = str(form.get("value", ""))
        base = {"step": "set", "action": f"set:{name}", "ids": ids, "widget": widget, "value": raw}
        if form.get("confirm") != "1":
            return _bulk_page(request, ctx, d, base)
        value, errors = bulk_actions.coerce_value(ctx, d, name, raw)
        if errors:
            return _bulk_page(request, ctx, d, {**base, "value_error": next(iter(errors.values()))}, 422)
        report, row_errors = bulk_actions.set_field(s, actor, ctx, user, d, ids, name, value)
        if report.refused or row_errors:
            s.rollback()
            problems = _refusals(report) + [
                {"id": rid, "message": "；".join(f"{fr._label(ctx, d, k.split('.')[0]) if k in d.fields else k}："
                                                f"{e.get('message', '')}" for k, e in errs.items()),
                 "message_en": "; ".join(f"{k}: {e.get('message_en', '')}" for k, e in errs.items())}
                for rid, errs in row_errors.items()]
            return _bulk_page(request, ctx, d, {**base, "refused": problems, "nothing_written": True}, 422)
        _audit_bulk(s, actor, form_id, f"set:{name}", report)
    return _bulk_page(request, ctx, d, {"step": "done", "action": f"set:{name}", "done": report.done,
                                        "refused": [], "field_label": widget["label"]})


def table_file(rows: list[list[Any]], fmt: str, name: str) -> Response:
    """CSV (UTF-8 with BOM) or XLSX; cells that a spreadsheet would run as formulas are quoted."""
    content, media = tabular.write_table(rows, fmt, name)
    return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def _export_selected(request: Request, ctx: Any, user: Any, form_id: str, ids: list[int], fmt: str) -> Response:
    """The selected records the user may export, masked exactly like the list's export."""
    fr._require_any(ctx, user, form_id, "export")
    with ctx.db.session() as s:
        d = fr._definition(s, form_id)
        hidden = access.hidden_fields(ctx, user, d)
        stmt = records.select_records(ctx, d, records.Query(), paths=fr._paths(ctx, s, user, form_id, "export"),
                                      hidden=hidden)
        rows = list(s.scalars(stmt.where(FormRecord.id.in_(ids)).order_by(FormRecord.id)))
        labels = fr._ref_labels(s, rows, d, ctx)
        names = [n for n in d.top_fields if n not in hidden] + ["_org", "_created_at", "_updated_at"]
        out: list[list[Any]] = [["ID", *[fr._label(ctx, d, n) for n in names]]]
        for r in rows:
            data = access.mask(ctx, user, d, fr._visible(ctx, user, d, r, s).data, r.org_id)
            out.append([r.id, *[fr._cell(ctx, d, r, data, n, labels) for n in names]])
    return table_file(out, fmt, form_id)


# --- import -------------------------------------------------------------------------------------------

def _import_page(request: Request, ctx: Any, user: Any, s: Any, d: FormDefinition, **extra: Any) -> Response:
    status = extra.pop("status", 200)
    orgs = fr._org_choices(ctx, s, user, d.id, "create")
    context = {"d": d, "title": fr._title(ctx, d), "orgs": orgs,
               "org_id": str(extra.pop("org_id", None) or fr._default_org(ctx, s, user, d.id, "create") or ""),
               "fields": [(n, d.label(n, ctx.deployment.locale)) for n in d.top_fields
                          if n not in access.hidden_fields(ctx, user, d)],
               "breadcrumbs": [(ctx.gettext("form_records.title"), "/forms"), (fr._title(ctx, d), f"/forms/{d.id}"),
                               (ctx.gettext("forms_list.import"), None)], **extra}
    return render(request, "forms/import.html", context, status_code=status)


@checks_permission("form.{form}.create")
async def import_page(request: Request) -> Response:
    """GET: the upload form. POST: read the file, keep it, show a preview with per-row errors."""
    ctx, user = _user_or_403(request)
    form_id = request.path_params["form"]
    fr._require_any(ctx, user, form_id, "create")
    if request.method == "GET":
        with ctx.db.session() as s:
            return _import_page(request, ctx, user, s, fr._definition(s, form_id))
    form = await request.form()
    upload = form.get("file")
    org_id = fr._post_org(form)
    with ctx.db.session() as s:
        d = fr._definition(s, form_id)
        errors: dict[str, Any] = {}
        if org_id is None or not ctx.can(user, access.perm(form_id, "create"), org_id):
            errors["_org_id"] = {"message": "请选择您有权限的所属机构", "message_en": "choose an org you may create records in"}
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors["file"] = {"message": "请选择要导入的文件", "message_en": "choose a file to import"}
        if errors:
            return _import_page(request, ctx, user, s, d, errors=errors, org_id=org_id, status=422)
        content = await upload.read(imports.MAX_BYTES + 1)
        try:
            parsed = imports.parse(d, content, upload.filename)
        except ValidationFailed as exc:
            return _import_page(request, ctx, user, s, d, errors=exc.fields, org_id=org_id, status=422)
        locked = [d.label(c, ctx.deployment.locale) for c in parsed.columns
                  if c in access.readonly_fields(ctx, user, d)]
        if locked:  # hidden or read-only for this user: an import may not fill them either
            zh, en = f"您无权填写这些列：{'、'.join(locked)}", f"you may not fill these columns: {', '.join(locked)}"
            return _import_page(request, ctx, user, s, d, errors={"file": {"message": zh, "message_en": en}},
                                org_id=org_id, status=422)
        cells = imports.locked_cells(parsed, access.hidden_fields(ctx, user, d), access.readonly_fields(ctx, user, d))
        if cells:  # the same inside nested objects and repeating groups
            where = [f"第 {c.row} 行 {c.field}" for c in cells[:10]]
            where_en = [f"row {c.row} {c.field}" for c in cells[:10]]
            zh = f"您无权填写这些字段：{'、'.join(where)}" + ("等" if len(cells) > 10 else "")
            en = f"you may not fill these fields: {', '.join(where_en)}" + (", ..." if len(cells) > 10 else "")
            return _import_page(request, ctx, user, s, d, errors={"file": {"message": zh, "message_en": en}},
                                org_id=org_id, status=422)
        checked = len(parsed.rows) <= imports.CHECK_IN_PREVIEW
        row_errors, failed = imports.check_rows(ctx, s, d, parsed) if checked else ([], 0)
        uid = imports.stage(s, user.id, form_id, org_id, upload.filename, content) if not failed else ""
        return _import_page(request, ctx, user, s, d, org_id=org_id, preview={
            "filename": upload.filename, "count": len(parsed.rows), "checked": checked, "failed": failed,
            "errors": row_errors, "columns": [d.label(c, ctx.deployment.locale) for c in parsed.columns],
            "rows": imports.preview_rows(ctx, d, parsed), "uid": uid}, status=422 if failed else 200)


@checks_permission("form.{form}.create")
async def import_confirm(request: Request) -> Response:
    """Start the all-or-nothing import of a previewed upload as a job; show its progress."""
    ctx, user = _user_or_403(request)
    form_id, uid = request.path_params["form"], request.path_params["uid"]
    fr._require_any(ctx, user, form_id, "create")
    with ctx.db.session() as s:
        fr._definition(s, form_id)
        up = imports.staged(s, uid, user.id, form_id)
        ctx.require(user, access.perm(form_id, "create"), up.org_id)
    actor = actor_of(request)
    jid = start_job(ctx, user.id, "form_import",
                    lambda progress: imports.run_import(ctx, actor, form_id, uid, progress))
    return RedirectResponse(f"/jobs/{jid}", status_code=303)


# --- JSON API -----------------------------------------------------------------------------------------

def _filter_json(row: Any, user: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "query": row.query, "shared": row.shared,
            "mine": row.owner_id == user.id}


@checks_permission("form.{form}.list")
async def api_filters(request: Request) -> Response:
    ctx, user = _user_or_403(request)
    form_id = request.path_params["form"]
    fr._require_any(ctx, user, form_id, "list")
    if request.method == "GET":
        with ctx.db.session() as s:
            fr._definition(s, form_id)
            return JSONResponse({"items": [_filter_json(r, user) for r in saved_filters.visible(s, form_id, user.id)]})
    body = await request_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("query", {}), dict):
        raise ValidationFailed("请求体应为 {\"name\", \"query\": {\"q\", \"filters\", \"sort\"}, \"shared\"}",
                               "the body must be {\"name\", \"query\": {\"q\", \"filters\", \"sort\"}, \"shared\"}")
    if not isinstance(body.get("query", {}).get("filters", {}), dict):
        raise ValidationFailed("filters 应为对象", "filters must be an object",
                               fields={"query.filters": {"message": "应为对象", "message_en": "must be an object"}})
    with ctx.db.session() as s:
        d = fr._definition(s, form_id)
        row = saved_filters.save(s, actor_of(request), form_id, body.get("name"), body.get("query") or {},
                                 _labels(ctx, d), shared=body.get("shared") is True,
                                 may_share=_may_share(ctx, user, form_id))
        return JSONResponse(_filter_json(row, user), status_code=201)


@checks_permission("form.{form}.list")
async def api_filter(request: Request) -> Response:
    ctx, user = _user_or_403(request)
    form_id, fid = request.path_params["form"], request.path_params["fid"]
    fr._require_any(ctx, user, form_id, "list")
    with ctx.db.session() as s:
        saved_filters.delete(s, actor_of(request), form_id, fid, is_admin=ctx.can_anywhere(user, SHARE))
    return JSONResponse({"ok": True})


@checks_permission("form.{form}.list")
async def api_bulk(request: Request) -> Response:
    """Bulk delete / restore / set field by JSON: {"action", "ids", "value"?}."""
    ctx, user = _user_or_403(request)
    form_id = request.path_params["form"]
    fr._require_any(ctx, user, form_id, "list")
    body = await request_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("ids"), list) or not isinstance(body.get("action"), str):
        raise ValidationFailed("请求体应为 {\"action\": 操作, \"ids\": [记录编号]}",
                               "the body must be {\"action\": action, \"ids\": [record ids]}")
    ids = bulk_actions.parse_ids(body["ids"])
    action = body["action"]
    with ctx.db.session() as s:
        d = fr._definition(s, form_id)
        if action in ("delete", "restore"):
            fr._require_any(ctx, user, form_id, "delete")
            report = bulk_actions.delete_many(s, actor_of(request), ctx, user, form_id, ids,
                                              restore=action == "restore")
            return JSONResponse({"done": report.done, "refused": _refusals(report)})
        if action.startswith("set:"):
            fr._require_any(ctx, user, form_id, "update")
            name = action[4:]
            if name not in bulk_actions.bulk_edit_fields(ctx, user, d):
                raise ValidationFailed(f"字段 {name} 不能批量修改", f"field {name} cannot be set in bulk")
            report, errors = bulk_actions.set_field(s, actor_of(request), ctx, user, d, ids, name, body.get("value"))
            if report.refused or errors:
                s.rollback()
                raise ValidationFailed("没有修改任何记录：部分记录无法修改", "nothing was changed: some records cannot be changed",
                                       fields={str(k): v for k, v in
                                               [*((rid, {"message": zh, "message_en": en})
                                                  for rid, (zh, en) in report.refused.items()),
                                                *((rid, next(iter(e.values()))) for rid, e in errors.items())]})
            return JSONResponse({"done": report.done, "refused": []})
    raise ValidationFailed(f"不支持的批量操作：{action[:40]}", f"unsupported bulk action: {action[:40]}",
                           fields={"action": {"message": "不支持的操作", "message_en": "unsupported action"}})


routes = [
    Route("/forms/{form}/filters", save_filter, methods=["POST"], name="forms-filter-save"),
    Route("/forms/{form}/filters/apply", apply_filter, name="forms-filter-apply"),
    Route("/forms/{form}/filters/{fid:int}/delete", delete_filter, methods=["POST"], name="forms-filter-delete"),
    Route("/forms/{form}/bulk", bulk_action, methods=["POST"], name="forms-bulk"),
    Route("/forms/{form}/import", import_page, methods=["GET", "POST"], name="forms-import"),
    Route("/forms/{form}/import/{uid}/confirm", import_confirm, methods=["POST"], name="forms-import-confirm"),
    Route("/api/forms/{form}/filters", api_filters, methods=["GET", "POST"], name="api-form-filters"),
    Route("/api/forms/{form}/filters/{fid:int}", api_filter, methods=["DELETE"], name="api-form-filter"),
    Route("/api/forms/{form}/bulk", api_bulk, methods=["POST"], name="api-form-bulk"),
]

api_docs = [
    api_doc("/api/forms/{form}/filters", "get", "保存的筛选（自己的和共享的）/ saved filters (own and shared)",
            permission="form.{form}.list", tag="forms"),
    api_doc("/api/forms/{form}/filters", "post",
            "保存筛选 / save a filter: {\"name\", \"query\": {\"q\", \"filters\", \"sort\"}, \"shared\"}; "
            "共享需 core.forms.share_filters / sharing needs core.forms.share_filters",
            permission="form.{form}.list", tag="forms", status=201, body=SAVED_FILTER_BODY),
    api_doc("/api/forms/{form}/filters/{fid}", "delete", "删除保存的筛选 / delete a saved filter",
            permission="form.{form}.list", tag="forms"),
    api_doc("/api/forms/{form}/bulk", "post",
            "批量操作 / bulk action: {\"action\": \"delete\"|\"restore\"|\"set:<field>\", \"ids\": [...], \"value\"?}",
            permission="form.{form}.list", tag="forms"),
]
