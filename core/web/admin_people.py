"""应用维护 → 人员配置: people, their accounts and API tokens, as htmx screens and a JSON API.

People are checked against the domain of their org (``core.person.view`` /
``core.person.edit`` within the org's subtree). A person may always see
their own page and manage their own API tokens. One-time passwords and token
secrets are rendered straight into the POST response, never put in a URL.
"""

from __future__ import annotations

import datetime as dt
import math
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .. import auth, pii
from . import pii as pii_web
from ..audit import actor_of
from ..errors import CcmsError, Conflict, Forbidden, ValidationFailed
from ..models import Org, Person, Role
from ..services import field_error
from ..services import orgs as org_svc
from ..services import people as svc
from ..services import tokens as tok_svc
from ..services.settings import get_settings
from .admin_orgs import (STALE, VersionIn, clean_form, errors_of, history, json_body_or_empty, org_options,
                         query_bool, query_int)
from .actions import one_button_action
from .openapi import api_doc
from .pages import is_htmx, redirect
from .render import render
from .routing import form_data, json_body, request_json, requires, validate

VIEW, EDIT = "core.person.view", "core.person.edit"
FIELDS = ("username", "display_name", "org_id", "post", "phone", "email")


class PersonOut(BaseModel):
    id: int
    username: str
    display_name: str
    org_id: int
    org_name: str | None
    post: str
    phone: str
    email: str
    active: bool
    must_change_password: bool
    locked: bool
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    version: int


class PersonList(BaseModel):
    items: list[PersonOut]
    total: int


class PersonWithPassword(BaseModel):
    person: PersonOut
    password: str | None = None


class TokenOut(BaseModel):
    id: int
    person_id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    status: str


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str


def out(p: Person, org: Org | None, full_pii: bool = False) -> dict[str, Any]:
    """The JSON of a person; the phone masked unless ``full_pii`` (see :func:`sees_phone`)."""
    d = svc.as_dict(p, org)
    d["phone"] = pii.shown(d["phone"], full_pii)
    return PersonOut.model_validate(d).model_dump(mode="json")


def sees_phone(ctx: Any, user: Any, p: Person) -> bool:
    """Full phone numbers: ``core.pii.view`` in the person's org, or one's own."""
    return (user is not None and user.id == p.id) or pii.may_unmask(ctx, user, p.org_id)


def tok_out(t: Any) -> dict[str, Any]:
    return TokenOut.model_validate(tok_svc.as_dict(t)).model_dump(mode="json")


def _cu(request: Request) -> tuple[Any, Any]:
    return request.scope["ccms"], request.scope["user"]


def _load(ctx: Any, s: Session, user: Any, person_id: int, perm: str, *, self_ok: bool = False) -> Person:
    """The person, if ``user`` holds ``perm`` in their org (or it is ``user`` themself and ``self_ok``)."""
    p = svc.get(s, person_id)
    if not (self_ok and user is not None and user.id == p.id):
        ctx.require(user, perm, p.org_id)
    return p


def _require_org(ctx: Any, s: Session, user: Any, org_id: int | None) -> None:
    """A target org must exist (422) and lie in the user's edit domain (403)."""
    if org_id is None or s.get(Org, org_id) is None:
        zh, en = ("请选择所属机构", "choose an org") if org_id is None else \
            (f"机构 {org_id} 不存在", f"org {org_id} does not exist")
        raise ValidationFailed(zh, en, fields=field_error("org_id", zh, en))
    ctx.require(user, EDIT, org_id)


def may_manage_tokens(ctx: Any, user: Any, person: Person) -> bool:
    """Administrators of the person's org, or the person themself (a narrow token may not mint tokens)."""
    if ctx.can(user, EDIT, person.org_id):
        return True
    return user is not None and user.id == person.id and (
        user.via == "session" or auth.scope_allows(user.token_scopes, "*"))


def _integrity_to_field(exc: IntegrityError) -> ValidationFailed:
    zh, en = "用户名已被使用", "user name is already taken"
    return ValidationFailed(zh, en, fields=field_error("username", zh, en))


# --- screens: list -------------------------------------------------------------------

def _filters(request: Request) -> dict[str, Any]:
    qp = request.query_params
    return {"q": qp.get("q", "").strip(), "org_id": qp.get("org_id", "").strip(),
            "active": qp.get("active", "").strip()}


@requires(VIEW)
async def list_page(request: Request) -> Response:
    ctx, user = _cu(request)
    f = _filters(request)
    org_id = query_int(request, "org_id")
    active = query_bool(request, "active")
    page = query_int(request, "page", 1, 1) or 1
    with ctx.db.session() as s:
        paths = org_svc.domain_paths(ctx, s, user, VIEW)
        org_path = None
        if org_id is not None:
            org = org_svc.get(s, org_id)
            ctx.require(user, VIEW, org.id)
            org_path = org.path
        size = query_int(request, "page_size", None, 10, 200) or get_settings(ctx, "core", s).get("page_size", 50)
        stmt = svc.search_rows(paths, f["q"], org_path, active)
        total = svc.count(s, stmt)
        pages = max(1, math.ceil(total / size))
        page = min(page, pages)
        rows = s.execute(stmt.offset((page - 1) * size).limit(size)).all()
        kept = {k: v for k, v in f.items() if v}
        if "page_size" in request.query_params:
            kept["page_size"] = str(size)
        ctxt = {"rows": rows, "total": total, "page": page, "pages": pages, "filters": f,
                "page_url": "/admin/people?" + (urlencode(kept) + "&" if kept else ""),
                "can_create": ctx.can_anywhere(user, EDIT), "is_locked": svc.is_locked}
        if is_htmx(request):
            return render(request, "admin/people_list.html", ctxt)
        ctxt["orgs"] = org_options(s, paths, active_only=False)
        ctxt["breadcrumbs"] = [(ctx.gettext("people.title"), None)]
        return render(request, "admin/people.html", ctxt)


# --- screens: create / edit ------------------------------------------------------------

def _render_form(request: Request, mode: str, values: dict[str, Any], exc: CcmsError | None = None,
                 status: int = 200, person: Person | None = None) -> Response:
    ctx, user = _cu(request)
    with ctx.db.session() as s:
        orgs = org_options(s, org_svc.domain_paths(ctx, s, user, EDIT))
        crumbs = [(ctx.gettext("people.title"), "/admin/people")]
        if person is not None:
            crumbs.append((person.display_name, f"/admin/people/{person.id}"))
        crumbs.append((ctx.gettext("people.create" if mode == "create" else "common.edit"), None))
        return render(request, "admin/people_form.html", {
            "mode": mode, "person": person, "values": values, "orgs": orgs, "errors": errors_of(exc) if exc else {},
            "error": exc, "breadcrumbs": crumbs}, status_code=status)


@requires(EDIT)
async def create_page(request: Request) -> Response:
    ctx, user = _cu(request)
    if request.method == "GET":
        values = {k: "" for k in FIELDS}
        values["org_id"] = request.query_params.get("org_id", str(user.org_id))
        return _render_form(request, "create", values)
    data = await form_data(request)
    values = {k: str(data.get(k, "")) for k in FIELDS}
    password = str(data.get("password", ""))
    def create() -> tuple[int, str, str, str | None]:  # argon2: in a worker thread, off the event loop
        with ctx.db.session() as s:
            d = validate(svc.PersonCreate, {**clean_form(values, ("org_id",)), "password": password or None})
            _require_org(ctx, s, user, d.org_id)
            try:
                made = svc.create(s, actor_of(request), ctx, d)
            except IntegrityError as exc:
                raise _integrity_to_field(exc) from None
            return made.person.id, made.person.username, made.person.display_name, made.password

    try:
        person_id, username, name, one_time = await run_in_threadpool(create)
    except (ValidationFailed, Conflict) as exc:
        return _render_form(request, "create", values, exc, exc.status)
    if one_time is None:
        return redirect(request, f"/admin/people/{person_id}", flash="person_created")
    return render(request, "admin/people_password.html", {
        "person_id": person_id, "username": username, "name": name, "password": one_time, "created": True,
        "breadcrumbs": [(ctx.gettext("people.title"), "/admin/people"), (name, None)]})


@requires(EDIT)
async def edit_page(request: Request) -> Response:
    ctx, user = _cu(request)
    person_id = request.path_params["person_id"]
    with ctx.db.session() as s:
        person = _load(ctx, s, user, person_id, EDIT)
    if request.method == "GET":
        values = {k: str(getattr(person, k) or "") for k in FIELDS}
        values["phone"] = pii.shown(person.phone, sees_phone(ctx, user, person))
        values["version"] = str(person.version)
        return _render_form(request, "edit", values, person=person)
    data = await form_data(request)
    values = {k: str(data.get(k, "")) for k in (*FIELDS[1:], "version")}
    values["username"] = person.username
    try:
        with ctx.db.session() as s:
            current = _load(ctx, s, user, person_id, EDIT)
            sent = {k: values[k] for k in (*FIELDS[1:], "version")}
            if pii.kept_if_masked(sent["phone"], current.phone) is None:
                del sent["phone"]  # the masked number came back unchanged: keep the stored one
            d = validate(svc.PersonUpdate, clean_form(sent, ("org_id",)))
            if d.org_id is not None and d.org_id != current.org_id:
                _require_org(ctx, s, user, d.org_id)
            svc.edit(s, actor_of(request), ctx, person_id, d)
    except (ValidationFailed, Conflict) as exc:
        return _render_form(request, "edit", values, exc, exc.status, person=person)
    except StaleDataError:
        return _render_form(request, "edit", values, STALE, 409, person=person)
    return redirect(request, f"/admin/people/{person_id}", flash="saved")


# --- screens: detail and actions -----------------------------------------------------------

def _grants(ctx: Any, s: Session, person_id: int) -> list[dict[str, Any]]:
    pairs = ctx.authz.grants_of(person_id)
    if not pairs:
        return []
    roles = {r.code: r.name for r in s.scalars(select(Role).where(Role.code.in_({c for c, _ in pairs})))}
    orgs = {o.id: o for o in s.scalars(select(Org).where(Org.id.in_({o for _, o in pairs})))}
    return [{"role": code, "role_name": roles.get(code, code), "org_id": oid,
             "org_name": orgs[oid].name if oid in orgs else f"#{oid}"} for code, oid in pairs]


def _masked_history(entries: list[Any]) -> list[Any]:
    """Entries written before phones were masked in the log still show them masked (copies: the
    log itself is append-only)."""
    return [SimpleNamespace(**{c: getattr(e, c) for c in ("at", "actor_name", "action", "success", "summary")},
                            before=pii.mask_snapshot(e.before, svc.PII), after=pii.mask_snapshot(e.after, svc.PII))
            for e in entries]


def _render_detail(request: Request, person_id: int, exc: CcmsError | None = None, status: int = 200,
                   **extra: Any) -> Response:
    ctx, user = _cu(request)
    with ctx.db.session() as s:
        p = _load(ctx, s, user, person_id, VIEW, self_ok=True)
        org = s.get(Org, p.org_id)
        manage = may_manage_tokens(ctx, user, p)
        return render(request, "admin/people_detail.html", {
            "p": p, "org": org, "phone": pii.shown(p.phone, user.id == p.id),  # others ask (audited)
            "phone_reveal": f"/admin/people/{p.id}/phone" if user.id != p.id and p.phone
            and sees_phone(ctx, user, p) else None, "grants": _grants(ctx, s, p.id), "tokens": tok_svc.list_for(s, p.id),
            "token_status": tok_svc.status, "history": _masked_history(history(s, "person", p.id, skip_actions=("login", "logout"))),
            "can_edit": ctx.can(user, EDIT, p.org_id), "can_view_org": ctx.can(user, "core.org.view", p.org_id),
            "can_tokens": manage, "is_self": user.id == p.id, "locked": svc.is_locked(p),
            "scopes": tok_svc.valid_scopes(ctx), "perm_names": {k: ctx.catalog.localize(v.get("name", k),
                                                                                       ctx.deployment.locale)
                                                                for k, v in ctx.permissions.items()},
            "error": exc, "token_values": extra.pop("token_values", {"name": "", "expires_on": "", "scopes": []}),
            "token_errors": extra.pop("token_errors", {}),
            "breadcrumbs": [(ctx.gettext("people.title"), "/admin/people"), (p.display_name, None)], **extra},
            status_code=status)


async def detail_page(request: Request) -> Response:
    # No @requires: a person may open their own page (tokens); _load checks core.person.view otherwise.
    return _render_detail(request, request.path_params["person_id"])


detail_page.permission = VIEW  # type: ignore[attr-defined]


async def reveal_phone(request: Request) -> Response:
    """The full phone number for a holder of core.pii.view in the person's org; audited."""
    ctx, user = _cu(request)
    with ctx.db.session() as s:
        p = _load(ctx, s, user, request.path_params["person_id"], VIEW, self_ok=True)
        if not sees_phone(ctx, user, p):
            raise Forbidden("没有权限查看完整的电话号码", "you may not see this phone number in full")
        html = pii_web.reveal(s, actor_of(request), "person", p.id, "phone", p.phone, "person-phone")
    return HTMLResponse(html)


reveal_phone.permission = pii.PERMISSION  # type: ignore[attr-defined]  # in the person's org (or their own)


def _action(name: str, flash: str) -> Any:
    """POST handler for a one-button action (deactivate, activate, unlock)."""
    return one_button_action(getattr(svc, name), permission=EDIT, id_param="person_id", load=_load,
                             render_detail=_render_detail, done_url="/admin/people/{}", name=flash)


@requires(EDIT)
async def reset_password_page(request: Request) -> Response:
    ctx, user = _cu(request)
    person_id = request.path_params["person_id"]
    data = await form_data(request)
    try:
        version = validate(VersionIn, clean_form({"version": data.get("version", "")}, ("version",))).version

        def reset() -> tuple[str, str, str | None]:  # argon2: in a worker thread, off the event loop
            with ctx.db.session() as s:
                _load(ctx, s, user, person_id, EDIT)
                made = svc.reset_password(s, actor_of(request), ctx, person_id, version)
                return made.person.username, made.person.display_name, made.password

        username, name, password = await run_in_threadpool(reset)
    except (ValidationFailed, Conflict) as exc:
        return _render_detail(request, person_id, exc, exc.status)
    except StaleDataError:
        return _render_detail(request, person_id, STALE, 409)
    return render(request, "admin/people_password.html", {
        "person_id": person_id, "username": username, "name": name, "password": password, "created": False,
        "breadcrumbs": [(ctx.gettext("people.title"), "/admin/people"), (name, f"/admin/people/{person_id}")]})


# --- screens: tokens --------------------------------------------------------------------

def _expiry_from_date(ctx: Any, raw: str) -> dt.datetime | None:
    """A date picked on screen means "valid through the end of that day", local time."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        zh, en = "日期格式应为 YYYY-MM-DD", "date must be YYYY-MM-DD"
        raise ValidationFailed(zh, en, fields=field_error("expires_on", zh, en)) from None
    return dt.datetime.combine(day, dt.time(23, 59, 59), ZoneInfo(ctx.deployment.timezone))


async def token_create_page(request: Request) -> Response:
    # Administrators (core.person.edit in the person's org) or the person themself; see may_manage_tokens.
    ctx, user = _cu(request)
    person_id = request.path_params["person_id"]
    data = await form_data(request)
    scopes = data.get("scopes", [])
    scopes = [scopes] if isinstance(scopes, str) else list(scopes)
    values = {"name": str(data.get("name", "")), "expires_on": str(data.get("expires_on", "")), "scopes": scopes}
    try:
        with ctx.db.session() as s:
            p = _load(ctx, s, user, person_id, VIEW, self_ok=True)
            if not may_manage_tokens(ctx, user, p):
                raise _no_tokens()
            expires = _expiry_from_date(ctx, values["expires_on"])
            new = tok_svc.create(s, actor_of(request), ctx, p.id,
                                 {"name": values["name"], "scopes": scopes, "expires_at": expires})
            secret, tok = new.secret, tok_svc.as_dict(new.token)
            name = p.display_name
    except ValidationFailed as exc:
        errs = errors_of(exc)
        if "expires_at" in errs:
            errs["expires_on"] = errs.pop("expires_at")
        return _render_detail(request, person_id, exc, 422, token_values=values, token_errors=errs)
    return render(request, "admin/tokens_created.html", {
        "person_id": person_id, "secret": secret, "token": tok,
        "breadcrumbs": [(ctx.gettext("people.title"), "/admin/people"), (name, f"/admin/people/{person_id}"),
                        (ctx.gettext("tokens.title"), None)]})


token_create_page.permission = EDIT  # or the person themself  # type: ignore[attr-defined]


def _no_tokens() -> Forbidden:
    return Forbidden("没有权限管理该人员的 API 令牌", "you may not manage this person's API tokens")


async def token_revoke_page(request: Request) -> Response:
    ctx, user = _cu(request)
    with ctx.db.session() as s:
        tok = tok_svc.get(s, request.path_params["token_id"])
        p = svc.get(s, tok.person_id)
        if not may_manage_tokens(ctx, user, p):
            raise _no_tokens()
        tok_svc.revoke(s, actor_of(request), ctx, tok.id)
        person_id = p.id
    return redirect(request, f"/admin/people/{person_id}#tokens", flash="token_revoked")


token_revoke_page.permission = EDIT  # or the person themself  # type: ignore[attr-defined]


# --- JSON API ---------------------------------------------------------------------------

@requires(VIEW)
async def api_list(request: Request) -> Response:
    ctx, user = _cu(request)
    org_id = query_int(request, "org_id")
    active = query_bool(request, "active")
    page = query_int(request, "page", 1, 1) or 1
    size = query_int(request, "page_size", 50, 1, 500) or 50
    with ctx.db.session() as s:
        org_path = None
        if org_id is not None:
            org = org_svc.get(s, org_id)
            ctx.require(user, VIEW, org.id)
            org_path = org.path
        stmt = svc.search(org_svc.domain_paths(ctx, s, user, VIEW), request.query_params.get("q", ""),
                          org_path, active)
        total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = s.execute(stmt.offset((page - 1) * size).limit(size)).all()
        return JSONResponse({"items": [out(p, o, sees_phone(ctx, user, p)) for p, o in rows], "total": total})


@requires(VIEW)
async def api_get(request: Request) -> Response:
    ctx, user = _cu(request)
    with ctx.db.session() as s:
        p = _load(ctx, s, user, request.path_params["person_id"], VIEW)
        return JSONResponse(out(p, s.get(Org, p.org_id), sees_phone(ctx, user, p)))


@requires(EDIT)
async def api_create(request: Request) -> Response:
    ctx, user = _cu(request)
    d = await json_body(request, svc.PersonCreate)

    def create() -> dict[str, Any]:  # argon2: in a worker thread, off the event loop
        with ctx.db.session() as s:
            _require_org(ctx, s, user, d.org_id)
            try:
                made = svc.create(s, actor_of(request), ctx, d)
            except IntegrityError as exc:
                raise _integrity_to_field(exc) from None
            return {"person": out(made.person, s.get(Org, made.person.org_id), sees_phone(ctx, user, made.person)),
                    "password": made.password}

    return JSONResponse(await run_in_threadpool(create), status_code=201)


@requires(EDIT)
async def api_patch(request: Request) -> Response:
    ctx, user = _cu(request)
    raw = await request_json(request)
    person_id = request.path_params["person_id"]
    with ctx.db.session() as s:
        current = _load(ctx, s, user, person_id, EDIT)
        if isinstance(raw, dict) and isinstance(raw.get("phone"), str) \
                and pii.kept_if_masked(raw["phone"], current.phone) is None:
            raw = {k: v for k, v in raw.items() if k != "phone"}  # the masked number as read: keep it
        d = validate(svc.PersonUpdate, raw)
        if d.org_id is not None and d.org_id != current.org_id:
            _require_org(ctx, s, user, d.org_id)
        p = svc.edit(s, actor_of(request), ctx, person_id, d)
        s.flush()
        body = out(p, s.get(Org, p.org_id), sees_phone(ctx, user, p))
    return JSONResponse(body)


def _api_action(name: str) -> Any:
    fn = getattr(svc, name)

    @requires(EDIT)
    async def endpoint(request: Request) -> Response:
        ctx, user = _cu(request)
        d = await json_body_or_empty(request, VersionIn)
        person_id = request.path_params["person_id"]

        def act() -> dict[str, Any]:  # reset-password hashes (argon2): in a worker thread, off the event loop
            with ctx.db.session() as s:
                _load(ctx, s, user, person_id, EDIT)
                result = fn(s, actor_of(request), ctx, person_id, d.version)
                s.flush()
                if isinstance(result, svc.WithPassword):
                    return {"person": out(result.person, s.get(Org, result.person.org_id),
                                          sees_phone(ctx, user, result.person)),
                            "password": result.password}
                return out(result, s.get(Org, result.org_id), sees_phone(ctx, user, result))

        return JSONResponse(await run_in_threadpool(act))

    endpoint.__name__ = f"api_person_{name}"
    return endpoint


async def api_tokens(request: Request) -> Response:
    """GET: list a person's tokens; POST: create one (secret in the answer, once)."""
    ctx, user = _cu(request)
    person_id = request.path_params["person_id"]
    if request.method == "GET":
        with ctx.db.session() as s:
            p = _load(ctx, s, user, person_id, VIEW, self_ok=True)
            items = [tok_out(t) for t in tok_svc.list_for(s, p.id)]
            return JSONResponse({"items": items, "total": len(items)})
    with ctx.db.session() as s:  # who may, before what they sent: others get 403, not 422
        if not may_manage_tokens(ctx, user, _load(ctx, s, user, person_id, VIEW, self_ok=True)):
            raise _no_tokens()
    d = await json_body(request, tok_svc.TokenCreate)
    with ctx.db.session() as s:
        p = _load(ctx, s, user, person_id, VIEW, self_ok=True)
        if not may_manage_tokens(ctx, user, p):
            raise _no_tokens()
        new = tok_svc.create(s, actor_of(request), ctx, p.id, d)
        body = {"token": tok_out(new.token), "secret": new.secret}
    return JSONResponse(body, status_code=201)


api_tokens.permission = VIEW  # or the person themself  # type: ignore[attr-defined]
api_tokens.permission_template = {"POST": EDIT}  # creating one (or the person themself)  # type: ignore[attr-defined]


async def api_token_revoke(request: Request) -> Response:
    ctx, user = _cu(request)
    with ctx.db.session() as s:
        tok = tok_svc.get(s, request.path_params["token_id"])
        if not may_manage_tokens(ctx, user, svc.get(s, tok.person_id)):
            raise _no_tokens()
        tok_svc.revoke(s, actor_of(request), ctx, tok.id)
        body = tok_out(tok)
    return JSONResponse(body)


api_token_revoke.permission = EDIT  # or the person themself  # type: ignore[attr-defined]


routes = [
    Route("/admin/people", list_page, name="admin-people"),
    Route("/admin/people/new", create_page, methods=["GET", "POST"], name="admin-person-new"),
    Route("/admin/people/{person_id:int}", detail_page, name="admin-person"),
    Route("/admin/people/{person_id:int}/phone", reveal_phone, methods=["POST"], name="admin-person-phone"),
    Route("/admin/people/{person_id:int}/edit", edit_page, methods=["GET", "POST"], name="admin-person-edit"),
    Route("/admin/people/{person_id:int}/deactivate", _action("deactivate", "person_deactivated"),
          methods=["POST"], name="admin-person-deactivate"),
    Route("/admin/people/{person_id:int}/activate", _action("activate", "person_activated"), methods=["POST"],
          name="admin-person-activate"),
    Route("/admin/people/{person_id:int}/unlock", _action("unlock", "person_unlocked"), methods=["POST"],
          name="admin-person-unlock"),
    Route("/admin/people/{person_id:int}/reset-password", reset_password_page, methods=["POST"],
          name="admin-person-reset-password"),
    Route("/admin/people/{person_id:int}/tokens", token_create_page, methods=["POST"], name="admin-token-new"),
    Route("/admin/tokens/{token_id:int}/revoke", token_revoke_page, methods=["POST"], name="admin-token-revoke"),
    Route("/api/people", api_list, methods=["GET"], name="api-people"),
    Route("/api/people", api_create, methods=["POST"], name="api-person-create"),
    Route("/api/people/{person_id:int}", api_get, methods=["GET"], name="api-person"),
    Route("/api/people/{person_id:int}", api_patch, methods=["PATCH"], name="api-person-patch"),
    Route("/api/people/{person_id:int}/deactivate", _api_action("deactivate"), methods=["POST"],
          name="api-person-deactivate"),
    Route("/api/people/{person_id:int}/activate", _api_action("activate"), methods=["POST"],
          name="api-person-activate"),
    Route("/api/people/{person_id:int}/unlock", _api_action("unlock"), methods=["POST"], name="api-person-unlock"),
    Route("/api/people/{person_id:int}/reset-password", _api_action("reset_password"), methods=["POST"],
          name="api-person-reset-password"),
    Route("/api/people/{person_id:int}/tokens", api_tokens, methods=["GET", "POST"], name="api-person-tokens"),
    Route("/api/tokens/{token_id:int}/revoke", api_token_revoke, methods=["POST"], name="api-token-revoke"),
]

api_docs = [
    api_doc("/api/people", "get", "人员列表（仅限有权查看的机构） / list people in your domain", permission=VIEW,
            response=PersonOut, response_list=True,
            query={"q": "姓名或用户名 / name or user name", "org_id": "机构（含下级） / org and its subtree",
                   "active": "true/false", "page": "页码 / page (1..)", "page_size": "每页条数 / 1..500"}),
    api_doc("/api/people", "post", "新建人员；未给密码时生成一次性密码 / create a person (one-time password "
            "returned when none is given)", permission=EDIT, request=svc.PersonCreate,
            response=PersonWithPassword, status=201),
    api_doc("/api/people/{person_id}", "get", "人员详情 / one person", permission=VIEW, response=PersonOut),
    api_doc("/api/people/{person_id}", "patch", "修改人员（需带 version） / edit a person (with version)",
            permission=EDIT, request=svc.PersonUpdate, response=PersonOut),
    api_doc("/api/people/{person_id}/deactivate", "post", "停用账户并结束其会话 / deactivate and end sessions",
            permission=EDIT, request=VersionIn, response=PersonOut),
    api_doc("/api/people/{person_id}/activate", "post", "启用账户 / activate", permission=EDIT,
            request=VersionIn, response=PersonOut),
    api_doc("/api/people/{person_id}/unlock", "post", "解除锁定 / unlock", permission=EDIT, request=VersionIn,
            response=PersonOut),
    api_doc("/api/people/{person_id}/reset-password", "post", "重置密码（返回一次性密码） / reset the password "
            "(returns it once)", permission=EDIT, request=VersionIn, response=PersonWithPassword),
    api_doc("/api/people/{person_id}/tokens", "get", "人员的 API 令牌（本人也可查看） / a person's API tokens "
            "(the person themself may too)", permission=VIEW, response=TokenOut, response_list=True),
    api_doc("/api/people/{person_id}/tokens", "post", "创建 API 令牌（密钥只返回一次；本人也可） / create an "
            "API token (secret returned once; the person themself may too)", permission=EDIT,
            request=tok_svc.TokenCreate, response=TokenCreated, status=201),
    api_doc("/api/tokens/{token_id}/revoke", "post", "吊销 API 令牌（本人也可） / revoke an API token (the "
            "person themself may too)", permission=EDIT, response=TokenOut),
]
