"""应用维护 → 数据字典: dictionaries and their item trees as htmx screens and a JSON API.

Dictionaries are deployment-wide reference data, so ``core.dict.view`` /
``core.dict.edit`` held in any org domain suffice. Writes go through
:mod:`ccms.dictionaries.service`, which audits them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..audit import actor_of
from ..dictionaries import service as svc
from ..dictionaries.models import Dict, DictItem
from ..errors import CcmsError, Conflict, ValidationFailed
from .actions import STALE
from .admin_orgs import clean_form, errors_of, history, query_bool
from .openapi import api_doc
from .pages import query_int, redirect, wants_fragment
from .render import render
from .routing import form_data, json_body, requires

VIEW, EDIT = "core.dict.view", "core.dict.edit"


class DictOut(BaseModel):
    code: str
    name: str
    description: str
    builtin: bool
    items: int
    version: int


class ItemOut(BaseModel):
    code: str
    name: str
    parent_code: str | None
    depth: int
    sort: int
    active: bool
    extra: dict[str, Any]
    version: int


def dict_out(d: Dict, items: int) -> dict[str, Any]:
    return {"code": d.code, "name": d.name, "description": d.description, "builtin": d.builtin, "items": items,
            "version": d.version}


def item_out(i: DictItem, code_of: dict[int, str]) -> dict[str, Any]:
    return {"code": i.code, "name": i.name, "parent_code": code_of.get(i.parent_id) if i.parent_id else None,
            "depth": i.depth, "sort": i.sort, "active": i.active, "extra": i.extra or {}, "version": i.version}


def _codes(s: Any, dict_id: int) -> dict[int, str]:
    return dict(s.execute(select(DictItem.id, DictItem.code).where(DictItem.dict_id == dict_id)).all())


def _counts(s: Any) -> dict[int, int]:
    return dict(s.execute(select(DictItem.dict_id, func.count()).group_by(DictItem.dict_id)).all())


def _crumbs(ctx: Any, *more: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [(ctx.gettext("dicts.title"), "/admin/dicts"), *more]


# --- screens: dictionaries ------------------------------------------------------------

@requires(VIEW)
async def list_page(request: Request) -> Response:
    ctx, user = request.scope["ccms"], request.scope["user"]
    with ctx.db.session() as s:
        dicts = list(s.scalars(select(Dict).order_by(Dict.code)))
        return render(request, "admin/dicts.html", {
            "dicts": dicts, "counts": _counts(s), "can_edit": ctx.can_anywhere(user, EDIT),
            "breadcrumbs": [(ctx.gettext("dicts.title"), None)]})


def _render_dict_form(request: Request, mode: str, values: dict[str, Any], exc: CcmsError | None = None,
                      status: int = 200) -> Response:
    ctx = request.scope["ccms"]
    title = ctx.gettext("dicts.create") if mode == "create" else ctx.gettext("common.edit")
    return render(request, "admin/dicts_form.html", {
        "mode": mode, "values": values, "errors": errors_of(exc) if exc else {}, "error": exc,
        "breadcrumbs": _crumbs(ctx, (title, None))}, status_code=status)


@requires(EDIT)
async def create_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    if request.method == "GET":
        return _render_dict_form(request, "create", {"code": "", "name": "", "description": ""})
    data = await form_data(request)
    values = {k: str(data.get(k, "")) for k in ("code", "name", "description")}
    try:
        with ctx.db.session() as s:
            d = svc.create_dict(s, actor_of(request), values)
            code = d.code
    except ValidationFailed as exc:
        return _render_dict_form(request, "create", values, exc, 422)
    return redirect(request, f"/admin/dicts/{code}", flash="saved")


@requires(EDIT)
async def edit_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    code = request.path_params["code"]
    if request.method == "GET":
        with ctx.db.session() as s:
            d = svc.get_dict(s, code)
            values = {"code": d.code, "name": d.name, "description": d.description, "version": str(d.version)}
        return _render_dict_form(request, "edit", values)
    data = await form_data(request)
    values = {k: str(data.get(k, "")) for k in ("name", "description", "version")}
    values["code"] = code
    try:
        with ctx.db.session() as s:
            svc.edit_dict(s, actor_of(request), code, {k: values[k] for k in ("name", "description", "version")})
    except (ValidationFailed, Conflict) as exc:
        return _render_dict_form(request, "edit", values, exc, exc.status)
    except StaleDataError:
        return _render_dict_form(request, "edit", values, STALE, 409)
    return redirect(request, f"/admin/dicts/{code}", flash="saved")


@requires(EDIT)
async def delete_action(request: Request) -> Response:
    ctx = request.scope["ccms"]
    code = request.path_params["code"]
    data = await form_data(request)
    try:
        version = query_version(data)
        with ctx.db.session() as s:
            svc.delete_dict(s, actor_of(request), code, version)
    except (ValidationFailed, Conflict) as exc:
        return _render_detail(request, code, exc, exc.status)
    except StaleDataError:
        return _render_detail(request, code, STALE, 409)
    return redirect(request, "/admin/dicts", flash="dict_deleted")


def query_version(data: dict[str, Any]) -> int | None:
    raw = str(data.get("version", "")).strip()
    if not raw:
        return None
    if not raw.isdecimal():
        zh, en = "版本号应为整数", "version must be an integer"
        raise ValidationFailed(zh, en, fields={"version": {"message": zh, "message_en": en}})
    return int(raw)


@requires(VIEW)
async def detail_page(request: Request) -> Response:
    return _render_detail(request, request.path_params["code"])


def _render_detail(request: Request, code: str, exc: CcmsError | None = None, status: int = 200) -> Response:
    ctx, user = request.scope["ccms"], request.scope["user"]
    q = request.query_params.get("q", "").strip()[:100]
    show = request.query_params.get("show", "")
    with ctx.db.session() as s:
        d = svc.get_dict(s, code)
        items = svc.list_items(s, d, q=q, active_only=show != "all")
        total = svc.item_count(s, d.id)
        context = {"d": d, "tree": _tree(items), "shown": len(items), "total": total, "q": q, "show": show,
                   "can_edit": ctx.can_anywhere(user, EDIT), "error": exc, "history": history(s, "dict", d.code, limit=20),
                   "breadcrumbs": _crumbs(ctx, (d.name, None))}
        if wants_fragment(request) and exc is None:
            return render(request, "admin/dicts_tree.html", context)
        return render(request, "admin/dicts_detail.html", context, status_code=status)


def _tree(items: list[DictItem]) -> list[dict[str, Any]]:
    """Nested nodes (already in tree order) for the recursive template loop."""
    nodes = {i.id: {"item": i, "children": []} for i in items}
    roots = []
    for i in items:
        parent = nodes.get(i.parent_id) if i.parent_id is not None else None
        (parent["children"] if parent else roots).append(nodes[i.id])
    return roots


# --- screens: items ---------------------------------------------------------------------

def _parent_options(s: Any, d: Dict, exclude: DictItem | None = None) -> list[tuple[str, str]]:
    items = svc.list_items(s, d, active_only=True)
    top: list[tuple[str, str]] = []
    for i in items:
        if exclude is not None and i.path.startswith(exclude.path):
            continue
        top.append((i.code, "\u3000" * i.depth + f"{i.code} {i.name}"))
    return top


def _render_item_form(request: Request, code: str, mode: str, values: dict[str, Any],
                      exc: CcmsError | None = None, status: int = 200, item_code: str | None = None) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        d = svc.get_dict(s, code)
        item = svc.get_item(s, d, item_code) if item_code else None
        title = ctx.gettext("dicts.add_item") if mode == "create" else ctx.gettext("dicts.edit_item",
                                                                                  code=item_code)
        return render(request, "admin/dicts_item_form.html", {
            "d": d, "item": item, "mode": mode, "values": values,
            "parents": [("", ctx.gettext("dicts.top_level"))] + _parent_options(s, d, item),
            "errors": errors_of(exc) if exc else {}, "error": exc,
            "breadcrumbs": _crumbs(ctx, (d.name, f"/admin/dicts/{d.code}"), (title, None))}, status_code=status)


ITEM_FIELDS = ("code", "name", "parent_code", "sort")


@requires(EDIT)
async def item_create_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    code = request.path_params["code"]
    if request.method == "GET":
        values = {"code": "", "name": "", "parent_code": request.query_params.get("parent", ""), "sort": "0"}
        return _render_item_form(request, code, "create", values)
    data = await form_data(request)
    values = {k: str(data.get(k, "")) for k in ITEM_FIELDS}
    try:
        with ctx.db.session() as s:
            svc.add_item(s, actor_of(request), code, clean_form(values, ("parent_code", "sort")))
    except ValidationFailed as exc:
        return _render_item_form(request, code, "create", values, exc, 422)
    return redirect(request, f"/admin/dicts/{code}", flash="saved")


@requires(EDIT)
async def item_edit_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    code, item_code = request.path_params["code"], request.path_params["item"]
    if request.method == "GET":
        with ctx.db.session() as s:
            d = svc.get_dict(s, code)
            i = svc.get_item(s, d, item_code)
            codes = _codes(s, d.id)
            values = {"code": i.code, "name": i.name, "parent_code": codes.get(i.parent_id, "") if i.parent_id else "",
                      "sort": str(i.sort), "version": str(i.version)}
        return _render_item_form(request, code, "edit", values, item_code=item_code)
    data = await form_data(request)
    values = {k: str(data.get(k, "")) for k in ("name", "parent_code", "sort", "version")}
    values["code"] = item_code
    try:
        with ctx.db.session() as s:
            payload: dict[str, Any] = clean_form({k: values[k] for k in ("name", "sort", "version")}, ("sort",))
            payload["parent_code"] = values["parent_code"] or None
            svc.edit_item(s, actor_of(request), code, item_code, payload)
    except (ValidationFailed, Conflict) as exc:
        return _render_item_form(request, code, "edit", values, exc, exc.status, item_code=item_code)
    except StaleDataError:
        return _render_item_form(request, code, "edit", values, STALE, 409, item_code=item_code)
    return redirect(request, f"/admin/dicts/{code}", flash="saved")


@requires(EDIT)
async def item_active_action(request: Request) -> Response:
    """Deactivate (with the subtree) or reactivate an item from the tree."""
    ctx = request.scope["ccms"]
    code, item_code = request.path_params["code"], request.path_params["item"]
    data = await form_data(request)
    try:
        version = query_version(data)
        active = str(data.get("active", "")) == "1"
        with ctx.db.session() as s:
            if version is None:
                version = svc.get_item(s, svc.get_dict(s, code), item_code).version
            svc.edit_item(s, actor_of(request), code, item_code, {"version": version, "active": active})
    except (ValidationFailed, Conflict) as exc:
        return _render_detail(request, code, exc, exc.status)
    except StaleDataError:
        return _render_detail(request, code, STALE, 409)
    flash = "item_reactivated" if active else "item_deactivated"
    return redirect(request, f"/admin/dicts/{code}", flash=flash)


# --- import / export ---------------------------------------------------------------------

@requires(EDIT)
async def import_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    code = request.path_params["code"]
    if request.method == "GET":
        return _render_import(request, code)
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            zh, en = "请选择要导入的 CSV 或 XLSX 文件", "choose a CSV or XLSX file to import"
            raise ValidationFailed(zh, en, code="bad_file", fields={"file": {"message": zh, "message_en": en}})
        content = await upload.read()
        with ctx.db.session() as s:
            result = svc.import_items(s, actor_of(request), code, upload.filename, content)
    except svc.ImportFailed as exc:
        return _render_import(request, code, exc, 422)
    except ValidationFailed as exc:
        return _render_import(request, code, exc, exc.status)
    finally:
        await form.close()
    return _render_import(request, code, result=result)


def _render_import(request: Request, code: str, exc: CcmsError | None = None, status: int = 200,
                   result: svc.ImportResult | None = None) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        d = svc.get_dict(s, code)
        return render(request, "admin/dicts_import.html", {
            "d": d, "error": exc, "rows": getattr(exc, "rows", []), "result": result,
            "errors": errors_of(exc) if exc else {}, "columns": svc.COLUMN_ZH,
            "breadcrumbs": _crumbs(ctx, (d.name, f"/admin/dicts/{d.code}"), (ctx.gettext("dicts.import"), None))},
            status_code=status)


@requires(VIEW)
async def export(request: Request) -> Response:
    ctx = request.scope["ccms"]
    code = request.path_params["code"]
    fmt = request.query_params.get("format", "xlsx")
    with ctx.db.session() as s:
        content, media = svc.export_file(s, code, fmt)
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{code}.{fmt}"'})


# --- JSON API ------------------------------------------------------------------------------

@requires(VIEW)
async def api_list(request: Request) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        counts = _counts(s)
        items = [dict_out(d, counts.get(d.id, 0)) for d in s.scalars(select(Dict).order_by(Dict.code))]
    return JSONResponse({"items": items, "total": len(items)})


@requires(EDIT)
async def api_create(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await json_body(request, svc.DictCreate)
    with ctx.db.session() as s:
        body = dict_out(svc.create_dict(s, actor_of(request), data), 0)
    return JSONResponse(body, status_code=201)


@requires(VIEW)
async def api_get(request: Request) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        d = svc.get_dict(s, request.path_params["code"])
        return JSONResponse(dict_out(d, svc.item_count(s, d.id)))


@requires(EDIT)
async def api_patch(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await json_body(request, svc.DictUpdate)
    with ctx.db.session() as s:
        d = svc.edit_dict(s, actor_of(request), request.path_params["code"], data)
        s.flush()
        body = dict_out(d, svc.item_count(s, d.id))
    return JSONResponse(body)


@requires(EDIT)
async def api_delete(request: Request) -> Response:
    ctx = request.scope["ccms"]
    version = query_int(request, "version")
    code = request.path_params["code"]
    with ctx.db.session() as s:
        svc.delete_dict(s, actor_of(request), code, version)
    return JSONResponse({"code": code, "deleted": True})


@requires(VIEW)
async def api_items(request: Request) -> Response:
    ctx = request.scope["ccms"]
    parent = request.query_params.get("parent", "").strip() or None
    q = request.query_params.get("q", "").strip()[:100]
    active = query_bool(request, "active")
    with ctx.db.session() as s:
        d = svc.get_dict(s, request.path_params["code"])
        items = svc.list_items(s, d, parent_code=parent, q=q, active_only=active is True)
        if active is False:
            items = [i for i in items if not i.active]
        codes = _codes(s, d.id)
        body = [item_out(i, codes) for i in items]
    return JSONResponse({"items": body, "total": len(body)})


@requires(EDIT)
async def api_item_create(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await json_body(request, svc.ItemCreate)
    code = request.path_params["code"]
    with ctx.db.session() as s:
        i = svc.add_item(s, actor_of(request), code, data)
        body = item_out(i, _codes(s, i.dict_id))
    return JSONResponse(body, status_code=201)


@requires(EDIT)
async def api_item_patch(request: Request) -> Response:
    ctx = request.scope["ccms"]
    data = await json_body(request, svc.ItemUpdate)
    code, item_code = request.path_params["code"], request.path_params["item"]
    with ctx.db.session() as s:
        i = svc.edit_item(s, actor_of(request), code, item_code, data)
        s.flush()
        s.refresh(i)
        body = item_out(i, _codes(s, i.dict_id))
    return JSONResponse(body)


@requires(VIEW)
async def api_item_get(request: Request) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        d = svc.get_dict(s, request.path_params["code"])
        i = svc.get_item(s, d, request.path_params["item"])
        return JSONResponse(item_out(i, _codes(s, d.id)))


routes = [
    Route("/admin/dicts", list_page, name="admin-dicts"),
    Route("/admin/dicts/new", create_page, methods=["GET", "POST"], name="admin-dict-new"),
    Route("/admin/dicts/{code}", detail_page, name="admin-dict"),
    Route("/admin/dicts/{code}/edit", edit_page, methods=["GET", "POST"], name="admin-dict-edit"),
    Route("/admin/dicts/{code}/delete", delete_action, methods=["POST"], name="admin-dict-delete"),
    Route("/admin/dicts/{code}/import", import_page, methods=["GET", "POST"], name="admin-dict-import"),
    Route("/admin/dicts/{code}/export", export, name="admin-dict-export"),
    Route("/admin/dicts/{code}/items/new", item_create_page, methods=["GET", "POST"], name="admin-dict-item-new"),
    Route("/admin/dicts/{code}/items/{item}/edit", item_edit_page, methods=["GET", "POST"],
          name="admin-dict-item-edit"),
    Route("/admin/dicts/{code}/items/{item}/active", item_active_action, methods=["POST"],
          name="admin-dict-item-active"),
    Route("/api/dicts", api_list, methods=["GET"], name="api-dicts"),
    Route("/api/dicts", api_create, methods=["POST"], name="api-dict-create"),
    Route("/api/dicts/{code}", api_get, methods=["GET"], name="api-dict"),
    Route("/api/dicts/{code}", api_patch, methods=["PATCH"], name="api-dict-patch"),
    Route("/api/dicts/{code}", api_delete, methods=["DELETE"], name="api-dict-delete"),
    Route("/api/dicts/{code}/items", api_items, methods=["GET"], name="api-dict-items"),
    Route("/api/dicts/{code}/items", api_item_create, methods=["POST"], name="api-dict-item-create"),
    Route("/api/dicts/{code}/items/{item}", api_item_get, methods=["GET"], name="api-dict-item"),
    Route("/api/dicts/{code}/items/{item}", api_item_patch, methods=["PATCH"], name="api-dict-item-patch"),
]

api_docs = [
    api_doc("/api/dicts", "get", "数据字典列表 / list dictionaries", permission=VIEW, response=DictOut,
            response_list=True),
    api_doc("/api/dicts", "post", "新建数据字典 / create a dictionary", permission=EDIT, request=svc.DictCreate,
            response=DictOut, status=201),
    api_doc("/api/dicts/{code}", "get", "数据字典详情 / one dictionary", permission=VIEW, response=DictOut),
    api_doc("/api/dicts/{code}", "patch", "修改数据字典（需带 version） / edit a dictionary (with version)",
            permission=EDIT, request=svc.DictUpdate, response=DictOut),
    api_doc("/api/dicts/{code}", "delete", "删除没有条目的数据字典 / delete a dictionary without items",
            permission=EDIT, query={"version": "读取到的版本 / the version you read"}),
    api_doc("/api/dicts/{code}/items", "get", "字典条目（树序） / items in tree order", permission=VIEW,
            response=ItemOut, response_list=True,
            query={"parent": "只列此编码的下级 / only the subtree below this code",
                   "q": "编码或名称包含 / code or name contains (ancestors included)",
                   "active": "true: 仅启用 / active only; false: 仅停用 / inactive only"}),
    api_doc("/api/dicts/{code}/items", "post", "新增条目 / add an item", permission=EDIT, request=svc.ItemCreate,
            response=ItemOut, status=201),
    api_doc("/api/dicts/{code}/items/{item}", "get", "一个条目 / one item", permission=VIEW, response=ItemOut),
    api_doc("/api/dicts/{code}/items/{item}", "patch",
            "修改、移动（parent_code）、停用或启用（active）条目，需带 version / edit, move, (de)activate an item",
            permission=EDIT, request=svc.ItemUpdate, response=ItemOut),
]
