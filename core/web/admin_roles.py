"""应用维护 → 权限配置: roles, their permissions and grants, as htmx screens and a JSON API.

Screens: ``/admin/roles`` (list, create), ``/admin/roles/{code}`` (edit name,
description and permissions grouped by plugin; its grants with revoke
buttons), ``/admin/grants`` (every grant, filterable; the grant form) and
``/admin/people/{id}/grants`` (a person's grants and a form to grant a role
in an org, linked from the person's page).

Writes go through :mod:`ccms.services.roles`, which audits them and applies
the privilege escalation guard with ``by=<the requesting user>``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlparse

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..audit import actor_of
from ..authz import ALL
from ..errors import CcmsError, NotFound, ValidationFailed
from ..models import Org, Person, Role
from ..services import field_error
from ..services import roles as svc
from .openapi import api_doc
from .pages import paging, query_int, redirect, wants_fragment
from .render import render
from .routing import checks_permission, form_data, json_body, requires

VIEW, EDIT = "core.role.view", "core.role.edit"
PER_PAGE = 50


# --- small shared helpers (also used by the settings, audit and plugin screens) ----

def safe_next(value: Any, default: str) -> str:
    """Only same-site relative paths (no open redirect)."""
    value = str(value or "")
    parsed = urlparse(value)
    if not value.startswith("/") or value.startswith("//") or parsed.scheme or parsed.netloc:
        return default
    return value


def as_list(value: Any) -> list[str]:
    """A repeated form field (checkboxes) as a list of strings."""
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# --- API models ------------------------------------------------------------------

class RoleOut(BaseModel):
    code: str
    name: str
    description: str
    builtin: bool
    permissions: list[str]
    permission_count: int
    grant_count: int
    version: int


class RoleSummary(BaseModel):
    code: str
    name: str
    description: str
    builtin: bool
    permission_count: int
    grant_count: int
    all: bool
    version: int


class RoleList(BaseModel):
    items: list[RoleSummary]
    total: int


class GrantOut(BaseModel):
    person_id: int
    username: str
    display_name: str
    person_active: bool
    role: str
    role_name: str
    org_id: int
    org_name: str
    org_path: str


class GrantList(BaseModel):
    items: list[GrantOut]
    total: int
    page: int
    per_page: int


class GrantResult(BaseModel):
    created: bool
    grant: GrantOut


def _user(request: Request) -> Any:
    return request.scope.get("user")


def _ctx(request: Request) -> Any:
    return request.scope["ccms"]


# --- pickers -----------------------------------------------------------------------

def org_options(ctx: Any, session: Session, user: Any, permission: str = EDIT) -> list[tuple[int, str]]:
    """Active orgs where ``user`` holds ``permission``, in tree order, indented, for pickers."""
    paths = svc.domain_paths(ctx, session, user, permission)
    stmt = select(Org).where(Org.active.is_(True))
    if paths is not None:
        if not paths:
            return []
        stmt = stmt.where(or_(*[Org.path.like(p + "%") for p in paths]))
    orgs = list(session.scalars(stmt.order_by(Org.path).limit(5000)))
    top = min((o.depth for o in orgs), default=0)
    return [(o.id, "\u3000" * (o.depth - top) + o.name) for o in orgs]


def role_options(session: Session) -> list[tuple[str, str]]:
    return [(r.code, f"{r.name}（{r.code}）") for r in session.scalars(select(Role).order_by(Role.builtin.desc(),
                                                                                             Role.code))]


def _people_matches(ctx: Any, session: Session, user: Any, q: str, limit: int = 20) -> list[Person]:
    """Active people matching a user-name or name search, within the user's grant domains."""
    q = q.strip()
    if not q:
        return []
    like = "%" + svc._escape_like(q) + "%"
    stmt = (select(Person).join(Org, Org.id == Person.org_id).where(Person.active.is_(True))
            .where(or_(Person.username.ilike(like, escape="\\"), Person.display_name.ilike(like, escape="\\"))))
    paths = svc.domain_paths(ctx, session, user, EDIT)
    if paths is not None:
        if not paths:
            return []
        stmt = stmt.where(or_(*[Org.path.like(p + "%") for p in paths]))
    return list(session.scalars(stmt.order_by(Person.username).limit(limit)))


# --- screens: roles ----------------------------------------------------------------

@requires(VIEW)
async def roles_page(request: Request) -> Response:
    ctx = _ctx(request)
    q = request.query_params.get("q", "")
    with ctx.db.Session() as s:
        roles = svc.list_roles(s, q)
        root = svc.root_org_id(s)
    user = _user(request)
    data = {"roles": roles, "q": q, "can_grant": ctx.can_anywhere(user, EDIT),
            "can_define": root is not None and ctx.can(user, EDIT, root),
            "breadcrumbs": [(ctx.gettext("roles.title"), None)]}
    if wants_fragment(request, "list"):
        return render(request, "admin/roles_list.html", data)
    return render(request, "admin/roles.html", data)


def _form_values(data: dict[str, Any]) -> dict[str, Any]:
    return {"code": str(data.get("code", "")).strip(), "name": str(data.get("name", "")),
            "description": str(data.get("description", "")), "permissions": as_list(data.get("permissions"))}


def _groups_context(ctx: Any, session: Session, user: Any, held: list[str] = ()) -> dict[str, Any]:
    """Permission checkboxes by plugin, plus ids the role holds that no enabled plugin declares."""
    root = svc.root_org_id(session)
    forms = svc.form_permission_ids(session)
    return {"groups": svc.permission_groups(ctx, session), "may_all": root is not None and ctx.can(user, ALL, root),
            "undeclared": sorted(p for p in held if p != ALL and p not in ctx.permissions and p not in forms),
            "can_define": root is not None and ctx.can(user, EDIT, root)}


@requires(EDIT)
async def role_new_page(request: Request) -> Response:
    ctx = _ctx(request)
    user = _user(request)
    values: dict[str, Any] = {"code": "", "name": "", "description": "", "permissions": []}
    errors: dict[str, Any] = {}
    problem: CcmsError | None = None
    status = 200
    if request.method == "POST":
        values = _form_values(await form_data(request))
        try:
            with ctx.db.session() as s:
                role = svc.create(s, actor_of(request), ctx, values, by=user)
                code = role.code
            return redirect(request, f"/admin/roles/{code}", flash="created")
        except (ValidationFailed, CcmsError) as exc:
            if exc.status not in (403, 409, 422):
                raise
            problem, errors, status = exc, dict(exc.fields or {}), exc.status
    with ctx.db.Session() as s:
        extra = _groups_context(ctx, s, user)
    return render(request, "admin/roles_new.html", {
        "values": values, "errors": errors, "problem": problem, **extra,
        "breadcrumbs": [(ctx.gettext("roles.title"), "/admin/roles"), (ctx.gettext("roles.create"), None)]},
        status_code=status)


def _grants_block(ctx: Any, session: Session, user: Any, *, person_id: int | None = None,
                  role: str | None = None, org_id: int | None = None, page: int = 1) -> dict[str, Any]:
    paths = svc.domain_paths(ctx, session, user, VIEW)
    items, total = svc.grants(session, person_id=person_id, role=role, org_id=org_id, paths=paths,
                              limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    for g in items:
        g["can_revoke"] = ctx.can(user, EDIT, g["org_id"])
    return {"grants": items, **paging(total, page, PER_PAGE)}


@requires(VIEW)
@checks_permission({"POST": EDIT})
async def role_detail_page(request: Request) -> Response:
    ctx = _ctx(request)
    user = _user(request)
    code = request.path_params["code"]
    page = query_int(request, "page", 1, 1) or 1
    values: dict[str, Any] | None = None
    errors: dict[str, Any] = {}
    problem: CcmsError | None = None
    status = 200
    if request.method == "POST":
        ctx.require_anywhere(user, EDIT)  # the service checks the org of each grant
        data = await form_data(request)
        values = _form_values(data)
        values["version"] = str(data.get("version", ""))
        try:
            version = int(values["version"])
        except ValueError:
            version = -1
        try:
            with ctx.db.session() as s:
                svc.edit(s, actor_of(request), ctx, code, {"version": version, "name": values["name"],
                                                           "description": values["description"],
                                                           "permissions": values["permissions"]}, by=user)
            return redirect(request, f"/admin/roles/{code}", flash="saved")
        except CcmsError as exc:
            if exc.status not in (403, 409, 422):
                raise
            problem, errors, status = exc, dict(exc.fields or {}), exc.status
    with ctx.db.Session() as s:
        role = svc.get(s, code)
        current = svc.as_dict(s, role)
        if values is None:
            values = {"name": role.name, "description": role.description, "permissions": current["permissions"],
                      "version": str(role.version)}
        block = _grants_block(ctx, s, user, role=code, page=page)
        extra = _groups_context(ctx, s, user, current["permissions"])
    data = {"role": current, "values": values, "errors": errors, "problem": problem,
            "can_grant": ctx.can_anywhere(user, EDIT), "grants_url": f"/admin/roles/{code}?", "next": f"/admin/roles/{code}",
            **block, **extra,
            "breadcrumbs": [(ctx.gettext("roles.title"), "/admin/roles"), (current["name"], None)]}
    if wants_fragment(request, "grants"):
        return render(request, "admin/roles_grants.html", data)
    return render(request, "admin/roles_detail.html", data, status_code=status)


@requires(EDIT)
async def role_delete_page(request: Request) -> Response:
    ctx = _ctx(request)
    code = request.path_params["code"]
    data = await form_data(request)
    version = None
    try:
        version = int(str(data.get("version", "")))
    except ValueError:
        pass
    with ctx.db.session() as s:
        svc.delete(s, actor_of(request), ctx, code, version, by=_user(request))
    return redirect(request, "/admin/roles", flash="deleted")


# --- screens: grants ----------------------------------------------------------------

@requires(VIEW)
async def grants_page(request: Request) -> Response:
    """Every grant the user may see, filtered by role, org or person."""
    ctx = _ctx(request)
    user = _user(request)
    role = request.query_params.get("role", "").strip() or None
    org_id = query_int(request, "org_id", None, 1)
    person_id = query_int(request, "person_id", None, 1)
    page = query_int(request, "page", 1, 1) or 1
    with ctx.db.Session() as s:
        block = _grants_block(ctx, s, user, role=role, org_id=org_id, person_id=person_id, page=page)
        roles = role_options(s)
        orgs = org_options(ctx, s, user, VIEW)
    query = urlencode({k: v for k, v in (("role", role), ("org_id", org_id), ("person_id", person_id)) if v})
    data = {**block, "roles": roles, "orgs": orgs, "f": {"role": role or "", "org_id": org_id or "",
                                                         "person_id": person_id or ""},
            "grants_url": f"/admin/grants?{query + '&' if query else ''}", "next": f"/admin/grants?{query}",
            "can_edit": ctx.can_anywhere(user, EDIT),
            "breadcrumbs": [(ctx.gettext("roles.title"), "/admin/roles"), (ctx.gettext("grants.title"), None)]}
    if wants_fragment(request, "list", "grants"):
        return render(request, "admin/roles_grants.html", data)
    return render(request, "admin/roles_grants_page.html", data)


def _grant_input(data: dict[str, Any], session: Session) -> dict[str, Any]:
    """Form fields to a grant: the person by id (picker) or exact user name (no-JS fallback)."""
    out: dict[str, Any] = {"role": str(data.get("role", "")).strip()}
    for key in ("person_id", "org_id"):
        raw = str(data.get(key, "")).strip()
        out[key] = int(raw) if raw.isdecimal() else (raw or None)
    username = str(data.get("username", "")).strip()
    if out["person_id"] is None and username:
        pid = session.scalar(select(Person.id).where(Person.username == username))
        if pid is None:
            zh, en = f"用户名 {username} 不存在", f"user name {username} does not exist"
            raise ValidationFailed(zh, en, fields=field_error("person_id", zh, en))
        out["person_id"] = pid
    if out["person_id"] is None:
        zh, en = "请选择人员", "choose a person"
        raise ValidationFailed(zh, en, fields=field_error("person_id", zh, en))
    if out["org_id"] is None:
        zh, en = "请选择机构", "choose an org"
        raise ValidationFailed(zh, en, fields=field_error("org_id", zh, en))
    return out


@requires(EDIT)
async def grant_new_page(request: Request) -> Response:
    """The grant form: person picker (search by user name), org picker, role."""
    ctx = _ctx(request)
    user = _user(request)
    values = {k: request.query_params.get(k, "") for k in ("person_id", "org_id", "role", "username")}
    errors: dict[str, Any] = {}
    problem: CcmsError | None = None
    status = 200
    if request.method == "POST":
        data = await form_data(request)
        values = {k: str(data.get(k, "")) for k in ("person_id", "org_id", "role", "username")}
        try:
            with ctx.db.session() as s:
                g = _grant_input(data, s)
                svc.grant(s, actor_of(request), ctx, g, by=user)
            nxt = safe_next(data.get("next"), f"/admin/roles/{g['role']}")
            return redirect(request, nxt, flash="granted")
        except CcmsError as exc:
            if exc.status not in (403, 404, 409, 422):
                raise
            problem, errors, status = exc, dict(exc.fields or {}), exc.status
    with ctx.db.Session() as s:
        person = None
        if values["person_id"].isdecimal():
            person = s.get(Person, int(values["person_id"]))
        data_ctx = {"values": values, "errors": errors, "problem": problem, "person": person,
                    "roles": role_options(s), "orgs": org_options(ctx, s, user, EDIT),
                    "next": safe_next(request.query_params.get("next"), ""),
                    "breadcrumbs": [(ctx.gettext("roles.title"), "/admin/roles"),
                                    (ctx.gettext("grants.new"), None)]}
    return render(request, "admin/roles_grant_form.html", data_ctx, status_code=status)


@requires(EDIT)
async def people_options(request: Request) -> Response:
    """htmx fragment: a select of people matching the typed user name."""
    ctx = _ctx(request)
    q = request.query_params.get("username", "") or request.query_params.get("q", "")
    with ctx.db.Session() as s:
        people = _people_matches(ctx, s, _user(request), q)
        rows = [(p.id, p.username, p.display_name) for p in people]
    return render(request, "admin/roles_people_options.html", {"people": rows, "q": q})


@requires(EDIT)
async def revoke_page(request: Request) -> Response:
    ctx = _ctx(request)
    data = await form_data(request)
    nxt = safe_next(data.get("next"), "/admin/grants")
    g = {"role": str(data.get("role", ""))}
    for key in ("person_id", "org_id"):
        raw = str(data.get(key, "")).strip()
        g[key] = int(raw) if raw.isdecimal() else raw  # type: ignore[assignment]
    with ctx.db.session() as s:
        svc.revoke(s, actor_of(request), ctx, g, by=_user(request))
    return redirect(request, nxt, flash="revoked")


def _visible_person(ctx: Any, session: Session, user: Any, person_id: int) -> Person:
    """The person, when they belong to the user's view domain or hold a grant
    the user can see; otherwise 404 like any unknown id (no existence leak)."""
    person = session.get(Person, person_id)
    if person is None or not (ctx.can(user, VIEW, person.org_id)
                              or _grants_block(ctx, session, user, person_id=person_id)["grants"]):
        raise NotFound(f"人员 {person_id} 不存在", f"person {person_id} does not exist")
    return person


@requires(VIEW)
@checks_permission({"POST": EDIT})
async def person_grants_page(request: Request) -> Response:
    """A person's grants, and (POST) grant or revoke a role in an org for them."""
    ctx = _ctx(request)
    user = _user(request)
    person_id = request.path_params["person_id"]
    errors: dict[str, Any] = {}
    problem: CcmsError | None = None
    status = 200
    values: dict[str, Any] = {"role": request.query_params.get("role", ""),
                              "org_id": request.query_params.get("org_id", "")}
    if request.method == "POST":
        ctx.require_anywhere(user, EDIT)  # the service checks the org of each grant
        with ctx.db.Session() as s:
            _visible_person(ctx, s, user, person_id)
        data = await form_data(request)
        action = str(data.get("action", "grant"))
        values = {"role": str(data.get("role", "")), "org_id": str(data.get("org_id", ""))}
        try:
            with ctx.db.session() as s:
                g = _grant_input({**data, "person_id": str(person_id)}, s)
                if action == "revoke":
                    svc.revoke(s, actor_of(request), ctx, g, by=user)
                else:
                    svc.grant(s, actor_of(request), ctx, g, by=user)
            return redirect(request, f"/admin/people/{person_id}/grants",
                            flash="revoked" if action == "revoke" else "granted")
        except CcmsError as exc:
            if exc.status not in (403, 404, 409, 422):
                raise
            problem, errors, status = exc, dict(exc.fields or {}), exc.status
    with ctx.db.Session() as s:
        person = _visible_person(ctx, s, user, person_id)
        org = s.get(Org, person.org_id)
        block = _grants_block(ctx, s, user, person_id=person_id)
        if not values["org_id"]:
            values["org_id"] = str(person.org_id)
        data_ctx = {"person": person, "org": org, **block, "values": values, "errors": errors, "problem": problem,
                    "roles": role_options(s), "orgs": org_options(ctx, s, user, EDIT),
                    "can_edit": ctx.can_anywhere(user, EDIT), "next": f"/admin/people/{person_id}/grants",
                    "grants_url": f"/admin/people/{person_id}/grants?", "hide_person": True,
                    "breadcrumbs": [(ctx.gettext("grants.people"), "/admin/people"),
                                    (person.display_name, f"/admin/people/{person_id}"),
                                    (ctx.gettext("grants.title"), None)]}
    return render(request, "admin/roles_person.html", data_ctx, status_code=status)


# --- JSON API ----------------------------------------------------------------------

@requires(VIEW)
async def api_roles(request: Request) -> Response:
    ctx = _ctx(request)
    with ctx.db.Session() as s:
        items = svc.list_roles(s, request.query_params.get("q", ""))
    return JSONResponse({"items": items, "total": len(items)})


@requires(EDIT)
async def api_role_create(request: Request) -> Response:
    ctx = _ctx(request)
    body = await json_body(request, svc.RoleCreate)
    with ctx.db.session() as s:
        role = svc.create(s, actor_of(request), ctx, body, by=_user(request))
        out = svc.as_dict(s, role)
    return JSONResponse(out, status_code=201)


@requires(VIEW)
async def api_role(request: Request) -> Response:
    ctx = _ctx(request)
    with ctx.db.Session() as s:
        return JSONResponse(svc.as_dict(s, svc.get(s, request.path_params["code"])))


@requires(EDIT)
async def api_role_patch(request: Request) -> Response:
    ctx = _ctx(request)
    body = await json_body(request, svc.RoleUpdate)
    with ctx.db.session() as s:
        role = svc.edit(s, actor_of(request), ctx, request.path_params["code"], body, by=_user(request))
        out = svc.as_dict(s, role)
    return JSONResponse(out)


@requires(EDIT)
async def api_role_delete(request: Request) -> Response:
    ctx = _ctx(request)
    version = query_int(request, "version", None, 0)
    with ctx.db.session() as s:
        svc.delete(s, actor_of(request), ctx, request.path_params["code"], version, by=_user(request))
    return Response(status_code=204)


@requires(EDIT)
async def api_role_permissions(request: Request) -> Response:
    ctx = _ctx(request)
    body = await json_body(request, svc.PermissionsIn)
    with ctx.db.session() as s:
        role = svc.set_permissions(s, actor_of(request), ctx, request.path_params["code"], body.permissions,
                                   body.version, by=_user(request))
        out = svc.as_dict(s, role)
    return JSONResponse(out)


@requires(VIEW)
async def api_grants(request: Request) -> Response:
    ctx = _ctx(request)
    person_id = query_int(request, "person_id", None, 1)
    org_id = query_int(request, "org_id", None, 1)
    page = query_int(request, "page", 1, 1) or 1
    per_page = query_int(request, "per_page", PER_PAGE, 1, 500) or PER_PAGE
    role = request.query_params.get("role", "").strip() or None
    with ctx.db.Session() as s:
        paths = svc.domain_paths(ctx, s, _user(request), VIEW)
        items, total = svc.grants(s, person_id=person_id, org_id=org_id, role=role, paths=paths,
                                  limit=per_page, offset=(page - 1) * per_page)
    return JSONResponse({"items": items, "total": total, "page": page, "per_page": per_page})


def _one_grant(session: Session, g: svc.GrantIn) -> dict[str, Any]:
    items, _ = svc.grants(session, person_id=g.person_id, org_id=g.org_id, role=g.role, limit=1)
    return items[0]


@requires(EDIT)
async def api_grant(request: Request) -> Response:
    ctx = _ctx(request)
    body = await json_body(request, svc.GrantIn)
    with ctx.db.session() as s:
        created = svc.grant(s, actor_of(request), ctx, body, by=_user(request))
        out = _one_grant(s, body)
    return JSONResponse({"created": created, "grant": out}, status_code=201 if created else 200)


@requires(EDIT)
async def api_revoke(request: Request) -> Response:
    ctx = _ctx(request)
    body = await json_body(request, svc.GrantIn)
    with ctx.db.session() as s:
        svc.revoke(s, actor_of(request), ctx, body, by=_user(request))
    return Response(status_code=204)


routes = [
    Route("/admin/roles", roles_page, name="admin-roles"),
    Route("/admin/roles/new", role_new_page, methods=["GET", "POST"], name="admin-role-new"),
    Route("/admin/roles/{code}", role_detail_page, methods=["GET", "POST"], name="admin-role"),
    Route("/admin/roles/{code}/delete", role_delete_page, methods=["POST"], name="admin-role-delete"),
    Route("/admin/grants", grants_page, name="admin-grants"),
    Route("/admin/grants/new", grant_new_page, methods=["GET", "POST"], name="admin-grant-new"),
    Route("/admin/grants/people", people_options, name="admin-grant-people"),
    Route("/admin/grants/revoke", revoke_page, methods=["POST"], name="admin-grant-revoke"),
    Route("/admin/people/{person_id:int}/grants", person_grants_page, methods=["GET", "POST"],
          name="admin-person-grants"),
    Route("/api/roles", api_roles, methods=["GET"], name="api-roles"),
    Route("/api/roles", api_role_create, methods=["POST"], name="api-role-create"),
    Route("/api/roles/{code}", api_role, methods=["GET"], name="api-role"),
    Route("/api/roles/{code}", api_role_patch, methods=["PATCH"], name="api-role-patch"),
    Route("/api/roles/{code}", api_role_delete, methods=["DELETE"], name="api-role-delete"),
    Route("/api/roles/{code}/permissions", api_role_permissions, methods=["PUT"], name="api-role-permissions"),
    Route("/api/grants", api_grants, methods=["GET"], name="api-grants"),
    Route("/api/grants", api_grant, methods=["POST"], name="api-grant"),
    Route("/api/grants", api_revoke, methods=["DELETE"], name="api-revoke"),
]

api_docs = [
    api_doc("/api/roles", "get", "角色列表（含权限数、授权数）/ roles with counts", permission=VIEW,
            response=RoleList, query={"q": "代码或名称包含 / code or name contains"}),
    api_doc("/api/roles", "post", "新建角色 / create a role", permission=EDIT, request=svc.RoleCreate,
            response=RoleOut, status=201),
    api_doc("/api/roles/{code}", "get", "角色详情 / one role", permission=VIEW, response=RoleOut),
    api_doc("/api/roles/{code}", "patch", "修改角色（需 version）/ edit a role (version required)",
            permission=EDIT, request=svc.RoleUpdate, response=RoleOut),
    api_doc("/api/roles/{code}", "delete", "删除未被授予的角色 / delete a role nobody holds", permission=EDIT,
            query={"version": "读取时的版本（可选）/ the version you read (optional)"}, status=204),
    api_doc("/api/roles/{code}/permissions", "put", "设置角色权限（需 version）/ replace a role's permissions (version required)",
            permission=EDIT, request=svc.PermissionsIn, response=RoleOut),
    api_doc("/api/grants", "get", "授权列表 / grants", permission=VIEW, response=GrantList,
            query={"person_id": "人员 / person id", "org_id": "机构（精确）/ org id (exact)", "role": "角色代码 / role code",
                   "page": "页码 / page", "per_page": "每页条数（≤500）/ page size (≤500)"}),
    api_doc("/api/grants", "post", "在机构范围内授予角色 / grant a role within an org", permission=EDIT,
            request=svc.GrantIn, response=GrantResult, status=(201, 200)),
    api_doc("/api/grants", "delete", "撤销授权 / revoke a grant", permission=EDIT, request=svc.GrantIn, status=204),
]
