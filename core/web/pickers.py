"""Picker endpoints of configurable forms: person search-as-you-type and the region cascade.

Screens (htmx fragments, see ``forms/_widgets.html``):

* ``GET /pickers/person?_form&_field&_name&q`` — up to 20 matching people as buttons;
* ``GET /pickers/person/pick?_form&_field&_name&_id`` — the widget again with that
  person chosen (``_id`` empty: cleared);
* ``GET /pickers/region?_form&_field&_name&_parent&<name>=<code>`` — the cascade again,
  the changed level chosen and the next level's choices loaded.

A user may use a form's pickers when they may create or update its records
(in some org); a field hidden from them is not found. People offered are the
active ones within the org subtrees where the user may create or update
records of the form, and a pick is checked against the same scope (so the
picker cannot be used to look up anyone else's name).

JSON for API clients: ``GET /api/pickers/people?form&q`` and ``GET /api/regions?parent``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import Forbidden, NotFound, ValidationFailed
from ..forms import access, records
from ..forms import widgets_region as regions
from ..forms.definition import FormDefinition
from ..forms.render import picker_node
from ..forms.widgets import dotted, field_of, pickable_person, search_people
from ..forms.widgets_pickers import person_extra
from .openapi import api_doc
from .routing import authenticated

MAX_Q = 50


def _may_fill(ctx: Any, user: Any, form_id: str) -> None:
    if user is None:
        raise Forbidden("请先登录", "log in first")
    if not (ctx.can_anywhere(user, access.perm(form_id, "create")) or ctx.can_anywhere(user, access.perm(form_id, "update"))):
        raise Forbidden("没有权限填写此表单", f"permission denied: {access.perm(form_id, 'create')}")


def _field(ctx: Any, user: Any, d: FormDefinition, field: str, kind: str) -> dict[str, Any]:
    """The field's schema when it is a ``kind`` field the user may see; NotFound otherwise."""
    found = field_of(d, field)
    if found is None or ctx.field_types.resolve(found[0]).name != kind or \
            dotted(field) in access.hidden_fields(ctx, user, d):
        raise NotFound(f"表单没有字段“{field}”", f"the form has no field '{field}'")
    return found[0]


def _params(request: Request) -> tuple[str, str, str]:
    qp = request.query_params
    form_id, field, name = qp.get("_form", ""), qp.get("_field", ""), qp.get("_name", "")
    if not form_id or not field or not name or len(name) > 200 or dotted(name) != field:
        raise ValidationFailed("缺少表单或字段参数", "missing or inconsistent form/field parameters")
    return form_id, field, name


def _fragment(ctx: Any, **context: Any) -> HTMLResponse:
    html = ctx.templates.get_template("forms/_widgets_one.html").render(**context)
    return HTMLResponse(html)


@authenticated
async def person_search(request: Request) -> Response:
    ctx, user = request.scope["ccms"], request.scope.get("user")
    form_id, field, name = _params(request)
    _may_fill(ctx, user, form_id)
    q = request.query_params.get("q", "").strip()[:MAX_Q]
    with ctx.db.session() as s:
        d = records.published(s, form_id)
        _field(ctx, user, d, field, "person")
        people = search_people(ctx, s, user, form_id, q)
    extra = person_extra(form_id, field, name, "", "")
    target = "w-" + name.replace("[", "-").replace("]", "").replace(".", "-")
    return _fragment(ctx, results=True, people=people, pick_url=extra["pick_url"], target=target, name=name, q=q)


@authenticated
async def person_pick(request: Request) -> Response:
    ctx, user = request.scope["ccms"], request.scope.get("user")
    form_id, field, name = _params(request)
    _may_fill(ctx, user, form_id)
    raw = request.query_params.get("_id", "").strip()
    with ctx.db.session() as s:
        d = records.published(s, form_id)
        _field(ctx, user, d, field, "person")
        if raw:
            person = pickable_person(ctx, s, user, form_id, int(raw)) if raw.isdecimal() and len(raw) < 18 else None
            if person is None:
                raise NotFound("所选人员不存在或不在您可选的范围内", "no such person within the people you may choose")
        readonly = dotted(name) in access.readonly_fields(ctx, user, d)
        node = picker_node(ctx, d, name, raw, readonly=readonly)
    return _fragment(ctx, results=False, n=node)


@authenticated
async def region_pick(request: Request) -> Response:
    ctx, user = request.scope["ccms"], request.scope.get("user")
    form_id, field, name = _params(request)
    _may_fill(ctx, user, form_id)
    parent = request.query_params.get("_parent", "").strip()
    chosen = request.query_params.get(name, "").strip()
    code = chosen or parent
    if code and regions.shape_problem(code):
        zh, en = regions.shape_problem(code)  # type: ignore[misc]
        raise ValidationFailed(zh, en)
    with ctx.db.session() as s:
        d = records.published(s, form_id)
        _field(ctx, user, d, field, "region")
        readonly = dotted(name) in access.readonly_fields(ctx, user, d)
        node = picker_node(ctx, d, name, code, readonly=readonly)
    return _fragment(ctx, results=False, n=node)


# --- JSON -------------------------------------------------------------------------------------------

@authenticated
async def api_people(request: Request) -> Response:
    ctx, user = request.scope["ccms"], request.scope.get("user")
    form_id = request.query_params.get("form", "")
    _may_fill(ctx, user, form_id)
    with ctx.db.session() as s:
        records.published(s, form_id)
        people = search_people(ctx, s, user, form_id, request.query_params.get("q", "")[:MAX_Q])
    return JSONResponse({"items": people})


@authenticated
async def api_regions(request: Request) -> Response:
    ctx, user = request.scope["ccms"], request.scope.get("user")
    if user is None:
        raise Forbidden("请先登录", "log in first")
    parent = request.query_params.get("parent", "").strip() or None
    if parent and regions.shape_problem(parent):
        zh, en = regions.shape_problem(parent)  # type: ignore[misc]
        raise ValidationFailed(zh, en, fields={"parent": {"message": zh, "message_en": en}})
    with ctx.db.session() as s:
        items = regions.children(s, parent)
        path = regions.path_names(s, [parent]).get(parent, "") if parent else ""
    return JSONResponse({"parent": parent, "parent_path": path,
                         "items": [{"code": c, "name": n, "level": regions.LEVELS[regions.level_of(c)]}
                                   for c, n in items]})


routes = [
    Route("/pickers/person", person_search, name="picker-person"),
    Route("/pickers/person/pick", person_pick, name="picker-person-pick"),
    Route("/pickers/region", region_pick, name="picker-region"),
    Route("/api/pickers/people", api_people, name="api-picker-people"),
    Route("/api/regions", api_regions, name="api-regions"),
]

api_docs = [
    api_doc("/api/pickers/people", "get",
            "人员选择：按姓名或用户名搜索可选人员 / people a person field of the form may point at",
            permission="form.{form}.create", query={"form": "表单 id / form id", "q": "姓名或用户名 / name"},
            tag="forms"),
    api_doc("/api/regions", "get", "行政区划：下一级列表 / regions one level below parent (provinces without it)",
            permission="authenticated", query={"parent": "6/9/12 位代码 / 6, 9 or 12-digit code"}, tag="forms"),
]
