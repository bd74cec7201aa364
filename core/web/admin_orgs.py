"""应用维护 → 机构配置: the org tree as htmx screens and a JSON API.

Every endpoint checks its permission twice: ``@requires`` (held anywhere) and
``ctx.require(user, perm, org_id)`` for the org concerned, so an
administrator granted at a district sees and edits only that subtree.
Writes go through :mod:`ccms.services.orgs`, which audits them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..audit import actor_of
from ..errors import CcmsError, Conflict, ValidationFailed
from ..models import AuditLog, Org, Person
from ..services import orgs as svc
from ..services import field_error
from .actions import STALE, VersionIn, one_button_action
from .openapi import api_doc
from .pages import query_int, redirect
from .render import render
from .routing import form_data, json_body, requires, validate

VIEW, EDIT = "core.org.view", "core.org.edit"
# --- shared helpers (also used by admin_people) ------------------------------------

async def json_body_or_empty(request: Request, model: type[BaseModel]) -> Any:
    """Like ``json_body`` but an empty body means ``{}`` (action endpoints)."""
    if not (await request.body()).strip():
        return validate(model, {})
    return await json_body(request, model)


def query_bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name, "").strip().lower()
    if raw == "":
        return None
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    zh, en = f"参数 {name} 应为 true 或 false", f"parameter {name} must be true or false"
    raise ValidationFailed(zh, en, fields=field_error(name, zh, en))


def org_options(session: Session, paths: list[str], *, exclude_path: str | None = None,
                active_only: bool = True) -> list[tuple[int, str]]:
    """(id, indented name) of the orgs in the given subtrees, in tree order, for pickers."""
    # Plain columns, not ORM objects: pickers run on every form and list page.
    stmt = select(Org.id, Org.parent_id, Org.name, Org.sort, Org.path).where(svc.subtree_filter(paths))
    if active_only:
        stmt = stmt.where(Org.active.is_(True))
    orgs = [o for o in session.execute(stmt) if not (exclude_path and o.path.startswith(exclude_path))]
    ordered = svc.tree_order(orgs)
    depth = {o.id: o.path.count("/") for o in ordered}
    top = min(depth.values(), default=0)
    return [(o.id, "\u3000" * (depth[o.id] - top) + o.name) for o in ordered]


def history(session: Session, object_type: str, object_id: int, limit: int = 50,
            skip_actions: tuple[str, ...] = ()) -> list[AuditLog]:
    """Recent audit entries of one object, newest first."""
    stmt = select(AuditLog).where(AuditLog.object_type == object_type, AuditLog.object_id == str(object_id))
    if skip_actions:
        stmt = stmt.where(AuditLog.action.not_in(skip_actions))
    return list(session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit)))


def errors_of(exc: CcmsError) -> dict[str, Any]:
    return dict(exc.fields or {})


def clean_form(data: dict[str, Any], optional: tuple[str, ...]) -> dict[str, Any]:
    """Form strings to model input: empty optional fields are left out."""
    return {k: v for k, v in data.items() if not (k in optional and str(v).strip() == "")}


class OrgOut(BaseModel):
    id: int
    parent_id: int | None
    name: str
    kind: str
    region_code: str | None
    path: str
    depth: int
    sort: int
    active: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class OrgList(BaseModel):
    items: list[OrgOut]
    total: int


class OrgMoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parent_id: int
    version: int | None = Field(None, description="the version you read; stale = 409")


def out(org: Org) -> dict[str, Any]:
    return OrgOut.model_validate(svc.as_dict(org)).model_dump(mode="json")


# --- screens ---------------------------------------------------------------------

def _ctx_user(request: Request) -> tuple[Any, Any]:
    return request.scope["ccms"], request.scope["user"]


def _tree(orgs: list[Org]) -> list[dict[str, Any]]:
    """Nested nodes for the recursive template loop."""
    nodes = {o.id: {"org": o, "children": []} for o in orgs}
    roots = []
    for o in svc.tree_order(orgs):
        parent = nodes.get(o.parent_id) if o.parent_id is not None else None
        (parent["children"] if parent else roots).append(nodes[o.id])
    return roots


@requires(VIEW)
async def tree_page(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    with ctx.db.session() as s:
        paths = svc.domain_paths(ctx, s, user, VIEW)
        orgs = list(s.scalars(select(Org).where(svc.subtree_filter(paths))))
        return render(request, "admin/orgs.html", {
            "tree": _tree(orgs), "count": len(orgs), "inactive": sum(1 for o in orgs if not o.active),
            "can_create": ctx.can_anywhere(user, EDIT),
            "breadcrumbs": [(ctx.gettext("orgs.title"), None)]})


def _form_context(request: Request, s: Session, **kw: Any) -> dict[str, Any]:
    ctx, user = _ctx_user(request)
    base = {"errors": {}, "error": None, "kinds": [(k, ctx.gettext("orgs.kind." + k)) for k in svc.ORG_KINDS]}
    base.update(kw)
    return base


@requires(EDIT)
async def create_page(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    if request.method == "GET":
        values = {"parent_id": request.query_params.get("parent_id", ""), "name": "", "kind": "department",
                  "region_code": "", "sort": "0"}
        return _render_create(request, values)
    data = await form_data(request)
    values = {k: str(data.get(k, "")) for k in ("parent_id", "name", "kind", "region_code", "sort")}
    try:
        with ctx.db.session() as s:
            d = validate(svc.OrgCreate, clean_form(values, ("parent_id", "region_code", "sort")))
            parent = _require_parent(ctx, s, user, d.parent_id)
            org = svc.create(s, actor_of(request), ctx, d, parent=svc.active_parent(parent))
            org_id = org.id
    except ValidationFailed as exc:
        return _render_create(request, values, exc, 422)
    return redirect(request, f"/admin/orgs/{org_id}", flash="org_created")


def _render_create(request: Request, values: dict[str, Any], exc: CcmsError | None = None,
                   status: int = 200) -> Response:
    ctx, user = _ctx_user(request)
    with ctx.db.session() as s:
        parents = org_options(s, svc.domain_paths(ctx, s, user, EDIT))
        return render(request, "admin/orgs_form.html", _form_context(
            request, s, mode="create", values=values, parents=parents,
            errors=errors_of(exc) if exc else {}, error=exc,
            breadcrumbs=[(ctx.gettext("orgs.title"), "/admin/orgs"), (ctx.gettext("orgs.create"), None)]),
            status_code=status)


def _require_parent(ctx: Any, s: Session, user: Any, parent_id: int | None) -> svc.ParentRef:
    """The parent must exist (422 otherwise) and lie in the user's edit domain (403)."""
    parent = svc.parent_ref(s, parent_id) if parent_id is not None else None
    if parent is None:
        zh, en = ("请选择上级机构", "choose a parent org") if parent_id is None else \
            (f"上级机构 {parent_id} 不存在", f"parent org {parent_id} does not exist")
        raise ValidationFailed(zh, en, fields=field_error("parent_id", zh, en))
    ctx.require(user, EDIT, parent_id)
    return parent


def _load(ctx: Any, s: Session, user: Any, org_id: int, perm: str) -> Org:
    org = svc.get(s, org_id)
    ctx.require(user, perm, org.id)
    return org


@requires(VIEW)
async def detail_page(request: Request) -> Response:
    return _render_detail(request, request.path_params["org_id"])


def _render_detail(request: Request, org_id: int, exc: CcmsError | None = None, status: int = 200) -> Response:
    ctx, user = _ctx_user(request)
    with ctx.db.session() as s:
        org = _load(ctx, s, user, org_id, VIEW)
        parent = s.get(Org, org.parent_id) if org.parent_id else None
        ancestors = [int(x) for x in org.path.strip("/").split("/")[:-1] if x]
        chain = {o.id: o for o in s.scalars(select(Org).where(Org.id.in_(ancestors)))} if ancestors else {}
        children = list(s.scalars(select(Org).where(Org.parent_id == org.id).order_by(Org.sort, Org.name)))
        show_people = ctx.can(user, "core.person.view", org.id)
        people = list(s.scalars(select(Person).where(Person.org_id == org.id)
                                .order_by(Person.active.desc(), Person.display_name).limit(200))) \
            if show_people else []
        n_people = s.scalar(select(func.count()).select_from(Person).where(Person.org_id == org.id))
        crumbs = [(ctx.gettext("orgs.title"), "/admin/orgs")]
        crumbs += [(chain[i].name, f"/admin/orgs/{i}") for i in ancestors
                   if i in chain and ctx.can(user, VIEW, i)]
        crumbs.append((org.name, None))
        return render(request, "admin/orgs_detail.html", {
            "org": org, "parent": parent, "children": children, "people": people, "n_people": n_people,
            "show_people": show_people, "history": history(s, "org", org.id),
            "can_edit": ctx.can(user, EDIT, org.id), "error": exc, "breadcrumbs": crumbs}, status_code=status)


@requires(EDIT)
async def edit_page(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    org_id = request.path_params["org_id"]
    if request.method == "GET":
        with ctx.db.session() as s:
            org = _load(ctx, s, user, org_id, EDIT)
            values = {"name": org.name, "kind": org.kind, "region_code": org.region_code or "",
                      "sort": str(org.sort), "version": str(org.version)}
        return _render_edit(request, org_id, values)
    data = await form_data(request)
    values = {k: str(data.get(k, "")) for k in ("name", "kind", "region_code", "sort", "version")}
    try:
        with ctx.db.session() as s:
            _load(ctx, s, user, org_id, EDIT)
            d = validate(svc.OrgUpdate, clean_form(values, ("sort",)))
            svc.edit(s, actor_of(request), ctx, org_id, d)
    except (ValidationFailed, Conflict) as exc:
        return _render_edit(request, org_id, values, exc, exc.status)
    except StaleDataError:
        return _render_edit(request, org_id, values, STALE, 409)
    return redirect(request, f"/admin/orgs/{org_id}", flash="saved")


def _render_edit(request: Request, org_id: int, values: dict[str, Any], exc: CcmsError | None = None,
                 status: int = 200) -> Response:
    ctx, user = _ctx_user(request)
    with ctx.db.session() as s:
        org = _load(ctx, s, user, org_id, EDIT)
        return render(request, "admin/orgs_form.html", _form_context(
            request, s, mode="edit", org=org, values=values, errors=errors_of(exc) if exc else {}, error=exc,
            breadcrumbs=[(ctx.gettext("orgs.title"), "/admin/orgs"), (org.name, f"/admin/orgs/{org.id}"),
                         (ctx.gettext("common.edit"), None)]), status_code=status)


@requires(EDIT)
async def move_page(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    org_id = request.path_params["org_id"]
    if request.method == "GET":
        with ctx.db.session() as s:
            org = _load(ctx, s, user, org_id, EDIT)
            values = {"parent_id": str(org.parent_id or ""), "version": str(org.version)}
        return _render_move(request, org_id, values)
    data = await form_data(request)
    values = {k: str(data.get(k, "")) for k in ("parent_id", "version")}
    try:
        with ctx.db.session() as s:
            _load(ctx, s, user, org_id, EDIT)
            d = validate(OrgMoveIn, clean_form(values, ("parent_id", "version")))
            _require_parent(ctx, s, user, d.parent_id)
            svc.move(s, actor_of(request), ctx, org_id, d.parent_id, d.version)
    except (ValidationFailed, Conflict) as exc:
        return _render_move(request, org_id, values, exc, exc.status)
    except StaleDataError:
        return _render_move(request, org_id, values, STALE, 409)
    return redirect(request, f"/admin/orgs/{org_id}", flash="org_moved")


def _render_move(request: Request, org_id: int, values: dict[str, Any], exc: CcmsError | None = None,
                 status: int = 200) -> Response:
    ctx, user = _ctx_user(request)
    with ctx.db.session() as s:
        org = _load(ctx, s, user, org_id, EDIT)
        parents = org_options(s, svc.domain_paths(ctx, s, user, EDIT), exclude_path=org.path)
        return render(request, "admin/orgs_move.html", {
            "org": org, "values": values, "parents": parents, "errors": errors_of(exc) if exc else {},
            "error": exc, "breadcrumbs": [(ctx.gettext("orgs.title"), "/admin/orgs"),
                                          (org.name, f"/admin/orgs/{org.id}"), (ctx.gettext("orgs.move"), None)]},
            status_code=status)


def _action(name: str, flash: str) -> Any:
    """POST handler for a one-button action (deactivate, reactivate)."""
    return one_button_action(getattr(svc, name), permission=EDIT, id_param="org_id", load=_load,
                             render_detail=_render_detail, done_url="/admin/orgs/{}", name=flash)


@requires(EDIT)
async def delete_page(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    org_id = request.path_params["org_id"]
    if request.method == "POST":
        data = await form_data(request)
        try:
            version = validate(VersionIn, clean_form({"version": data.get("version", "")}, ("version",))).version
            with ctx.db.session() as s:
                _load(ctx, s, user, org_id, EDIT)
                svc.delete(s, actor_of(request), ctx, org_id, version)
        except (ValidationFailed, Conflict) as exc:
            return _render_delete(request, org_id, exc, exc.status)
        except StaleDataError:
            return _render_delete(request, org_id, STALE, 409)
        return redirect(request, "/admin/orgs", flash="org_deleted")
    return _render_delete(request, org_id)


def _render_delete(request: Request, org_id: int, exc: CcmsError | None = None, status: int = 200) -> Response:
    ctx, user = _ctx_user(request)
    with ctx.db.session() as s:
        org = _load(ctx, s, user, org_id, EDIT)
        return render(request, "admin/orgs_delete.html", {
            "org": org, "counts": svc.counts(s, org), "error": exc,
            "breadcrumbs": [(ctx.gettext("orgs.title"), "/admin/orgs"), (org.name, f"/admin/orgs/{org.id}"),
                            (ctx.gettext("common.delete"), None)]}, status_code=status)


# --- JSON API --------------------------------------------------------------------

@requires(VIEW)
async def api_list(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    parent_id = query_int(request, "parent_id")
    active = query_bool(request, "active")
    page = query_int(request, "page", 1, 1) or 1
    size = query_int(request, "page_size", 200, 1, 1000) or 200
    q = request.query_params.get("q", "").strip()
    with ctx.db.session() as s:
        stmt = select(Org).where(svc.subtree_filter(svc.domain_paths(ctx, s, user, VIEW)))
        if parent_id is not None:
            stmt = stmt.where(Org.parent_id == parent_id)
        if active is not None:
            stmt = stmt.where(Org.active.is_(active))
        if q:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(Org.name.ilike(like, escape="\\") | Org.region_code.like(like, escape="\\"))
        total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = s.scalars(stmt.order_by(Org.path).offset((page - 1) * size).limit(size))
        return JSONResponse({"items": [out(o) for o in rows], "total": total})


@requires(VIEW)
async def api_get(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    with ctx.db.session() as s:
        return JSONResponse(out(_load(ctx, s, user, request.path_params["org_id"], VIEW)))


@requires(EDIT)
async def api_create(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    d = await json_body(request, svc.OrgCreate)
    with ctx.db.session() as s:
        parent = _require_parent(ctx, s, user, d.parent_id)
        org = svc.create(s, actor_of(request), ctx, d, parent=svc.active_parent(parent))
        body = out(org)
    return JSONResponse(body, status_code=201)


@requires(EDIT)
async def api_patch(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    d = await json_body(request, svc.OrgUpdate)
    org_id = request.path_params["org_id"]
    with ctx.db.session() as s:
        _load(ctx, s, user, org_id, EDIT)
        org = svc.edit(s, actor_of(request), ctx, org_id, d)
        s.flush()
        body = out(org)
    return JSONResponse(body)


@requires(EDIT)
async def api_move(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    d = await json_body(request, OrgMoveIn)
    org_id = request.path_params["org_id"]
    with ctx.db.session() as s:
        _load(ctx, s, user, org_id, EDIT)
        _require_parent(ctx, s, user, d.parent_id)
        org = svc.move(s, actor_of(request), ctx, org_id, d.parent_id, d.version)
        body = out(org)
    return JSONResponse(body)


def _api_action(name: str) -> Any:
    fn = getattr(svc, name)

    @requires(EDIT)
    async def endpoint(request: Request) -> Response:
        ctx, user = _ctx_user(request)
        d = await json_body_or_empty(request, VersionIn)
        org_id = request.path_params["org_id"]
        with ctx.db.session() as s:
            _load(ctx, s, user, org_id, EDIT)
            org = fn(s, actor_of(request), ctx, org_id, d.version)
            s.flush()
            body = out(org)
        return JSONResponse(body)

    endpoint.__name__ = f"api_org_{name}"
    return endpoint


@requires(EDIT)
async def api_delete(request: Request) -> Response:
    ctx, user = _ctx_user(request)
    version = query_int(request, "version")
    org_id = request.path_params["org_id"]
    with ctx.db.session() as s:
        _load(ctx, s, user, org_id, EDIT)
        svc.delete(s, actor_of(request), ctx, org_id, version)
    return JSONResponse({"id": org_id, "deleted": True})


routes = [
    Route("/admin/orgs", tree_page, name="admin-orgs"),
    Route("/admin/orgs/new", create_page, methods=["GET", "POST"], name="admin-org-new"),
    Route("/admin/orgs/{org_id:int}", detail_page, name="admin-org"),
    Route("/admin/orgs/{org_id:int}/edit", edit_page, methods=["GET", "POST"], name="admin-org-edit"),
    Route("/admin/orgs/{org_id:int}/move", move_page, methods=["GET", "POST"], name="admin-org-move"),
    Route("/admin/orgs/{org_id:int}/deactivate", _action("deactivate", "org_deactivated"), methods=["POST"],
          name="admin-org-deactivate"),
    Route("/admin/orgs/{org_id:int}/reactivate", _action("reactivate", "org_reactivated"), methods=["POST"],
          name="admin-org-reactivate"),
    Route("/admin/orgs/{org_id:int}/delete", delete_page, methods=["GET", "POST"], name="admin-org-delete"),
    Route("/api/orgs", api_list, methods=["GET"], name="api-orgs"),
    Route("/api/orgs", api_create, methods=["POST"], name="api-org-create"),
    Route("/api/orgs/{org_id:int}", api_get, methods=["GET"], name="api-org"),
    Route("/api/orgs/{org_id:int}", api_patch, methods=["PATCH"], name="api-org-patch"),
    Route("/api/orgs/{org_id:int}", api_delete, methods=["DELETE"], name="api-org-delete"),
    Route("/api/orgs/{org_id:int}/move", api_move, methods=["POST"], name="api-org-move"),
    Route("/api/orgs/{org_id:int}/deactivate", _api_action("deactivate"), methods=["POST"],
          name="api-org-deactivate"),
    Route("/api/orgs/{org_id:int}/reactivate", _api_action("reactivate"), methods=["POST"],
          name="api-org-reactivate"),
]

api_docs = [
    api_doc("/api/orgs", "get", "机构列表（仅限有权查看的子树） / list orgs in your domain", permission=VIEW,
            response=OrgOut, response_list=True,
            query={"parent_id": "直接下级 / children of", "q": "名称或行政区划代码 / name or region code",
                   "active": "true/false", "page": "页码 / page (1..)", "page_size": "每页条数 / 1..1000"}),
    api_doc("/api/orgs", "post", "新建机构 / create an org", permission=EDIT, request=svc.OrgCreate,
            response=OrgOut, status=201),
    api_doc("/api/orgs/{org_id}", "get", "机构详情 / one org", permission=VIEW, response=OrgOut),
    api_doc("/api/orgs/{org_id}", "patch", "修改机构（需带 version） / edit an org (with version)",
            permission=EDIT, request=svc.OrgUpdate, response=OrgOut),
    api_doc("/api/orgs/{org_id}", "delete", "删除未使用的机构 / delete an unused org", permission=EDIT,
            query={"version": "读取到的版本 / the version you read"}),
    api_doc("/api/orgs/{org_id}/move", "post", "移动机构及其子树 / move an org and its subtree",
            permission=EDIT, request=OrgMoveIn, response=OrgOut),
    api_doc("/api/orgs/{org_id}/deactivate", "post", "停用机构 / deactivate an org", permission=EDIT,
            request=VersionIn, response=OrgOut),
    api_doc("/api/orgs/{org_id}/reactivate", "post", "启用机构 / reactivate an org", permission=EDIT,
            request=VersionIn, response=OrgOut),
]
