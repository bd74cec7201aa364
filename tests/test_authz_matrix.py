"""Deliver 7 (issue 10): the authorization matrix, generated from the routes.

Every registered route (each method) is requested by every demo role (and an
anonymous client), once with an object inside the role's org subtree and
once with one outside it. The expected answer is derived from what the route
declares, never written per route:

* ``ctx.is_public(path)``: anyone gets an answer (no 401, no login redirect);
* ``@authenticated``: anonymous → 401 (API) / redirect to /login (screen);
  a signed-in user is never refused at the route (the endpoint decides about
  its object, which this matrix does not model);
* a permission (``@requires`` sets ``endpoint.permission``;
  ``@checks_permission`` declares a path-dependent one such as
  ``form.{form}.read``): a role that holds it in no org → 403; a holder asking
  about an object in its subtree → not refused (401/403), and reads find the
  object (no 404); a holder asking about an object outside its subtree → 403
  or 404, never the object nor a hint that it exists (no 2xx, 3xx, 409, 422).

A route that declares none of these fails the test. Objects are scoped by
their path parameter: ``org_id`` (the org), ``person_id`` (the person's org)
and form records (``/forms/{form}/{id}``: the record's org); other
parameters name global or absent objects and are requested once.

Reads run before writes so in-scope objects still exist when they are read;
writes are sent with an empty body (they may answer 422, which is fine inside
the scope). The administrator goes last.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from starlette.routing import Route
from test_form_records import ADMIN as ADMIN_ACTOR
from test_form_records import COMPLAINT, publish

from ccms import auth
from ccms.demo import PEOPLE, _demo_staff_permissions, _org_tree
from ccms.forms import records
from ccms.models import Person, Role
from ccms.seed import ensure_root_org
from ccms.web.routing import declared_access
from ccms.web.user import CurrentUser

FORM = COMPLAINT["id"]
FORM_ACTIONS = [f"form.{FORM}.{a}" for a in ("list", "read", "create", "update", "delete", "export")]
# demo roles of core (ccms.demo.PEOPLE) and of the command plugin, plus a form clerk; granted in 姑苏区
# unless the demo grants them elsewhere
COMMAND_ROLES = ["command_base_admin", "command_supervisor", "command_intake", "command_shift_leader",
                 "command_dispatcher", "command_handler"]
DEFAULTS = {"form": FORM, "code": "staff", "plugin_id": "core", "flow": "simple_approval", "fmt": "csv",
            "cal": "default", "version": "1", "op": "delay", "size": "thumb", "id": "0", "fid": "0", "token_id": "0",
            "index": "0"}
GHOST = 2**31 - 1  # an id no object has (fits every id column)


def _seed(ctx: Any) -> dict[str, Any]:
    with ctx.db.session() as s:
        orgs = {k: o.id for k, o in _org_tree(ctx, s, ensure_root_org(ctx, s)).items()}
    actors: dict[str, tuple[int, int]] = {}  # role -> (person id, grant org)

    def person(username: str, org: int) -> int:
        with ctx.db.session() as s:
            p = Person(username=username, display_name=username, org_id=org)
            auth.set_password(p, "Matrix#Pass-2026")
            s.add(p)
            s.flush()
            return p.id

    for username, _name, _post, org_key, role, scope_key in PEOPLE:
        if role not in actors:
            actors[role] = (person(username, orgs[org_key]), orgs[scope_key])
    for role in COMMAND_ROLES:
        actors[role] = (person(role, orgs["brigade.gusu"]), orgs["district.gusu"])
    publish(ctx, COMPLAINT)
    with ctx.db.session() as s:
        s.add(Role(code="form_clerk", name="表单办事员"))
        s.flush()
        ctx.authz.set_role_permissions(s, "form_clerk", FORM_ACTIONS)
    actors["form_clerk"] = (person("form_clerk", orgs["street.gusu.1"]), orgs["district.gusu"])
    with ctx.db.session() as s:
        _demo_staff_permissions(ctx, s)  # as in the demo: staff may open every business module
        for role, (pid, org) in actors.items():
            ctx.authz.grant(s, pid, role, org)
        admin_id = s.scalar(select(Person.id).where(Person.username == "root"))
    actors["admin"] = (admin_id, orgs["root"])
    inside, outside = orgs["street.gusu.1"], orgs["street.wuzhong.1"]
    objects = {"org_id": (inside, outside),
               "person_id": (person("target_in", inside), person("target_out", outside))}
    with ctx.db.session() as s:
        rec_in = records.create(s, ADMIN_ACTOR, ctx, FORM, {"subject": "本区"}, inside).id
        rec_out = records.create(s, ADMIN_ACTOR, ctx, FORM, {"subject": "他区"}, outside).id
    objects["record"] = (rec_in, rec_out)
    return {"actors": actors, "objects": objects, "inside": inside, "outside": outside}


def _token(ctx: Any, person_id: int) -> str:
    with ctx.db.session() as s:
        return auth.create_token(s, person_id, "matrix", ["*"]).secret


def _scoped_param(path: str) -> str | None:
    if "{org_id" in path:
        return "org_id"
    if "{person_id" in path:
        return "person_id"
    if re.match(r"^(/api)?/forms/\{form\}/(records/)?\{id:int\}", path):
        return "record"
    return None


def _url(path: str, scoped: str | None, value: int | None) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[0]
        if scoped and (name == scoped or (scoped == "record" and name == "id")):
            return str(value)
        return DEFAULTS.get(name, "x")
    return re.sub(r"{([^}]+)}", one, path)


def _refused_login(r: Any, api: bool) -> bool:
    """The middleware's answer to a request without a (valid) login."""
    if api:
        return r.status_code == 401
    return (r.status_code in (302, 303) and r.headers.get("location", "").startswith("/login?next=")) or \
        (r.status_code == 204 and r.headers.get("hx-redirect", "").startswith("/login?next="))


def _verdict(kind: str, perms: list[str], ctx: Any, user: CurrentUser | None, api: bool, method: str,
             scoped: bool, org: int | None, r: Any, ghost: int | None) -> str | None:
    """None when the answer is what the declaration implies, else why not.
    ``ghost``: the status of the same request about an object that does not exist."""
    status = r.status_code
    # /readyz answers 503 while the deployment is not ready (here: no timer worker runs); that is
    # its documented answer, not a server error
    if status >= 500 and not (kind == "public" and status == 503 and r.text.strip() == "fail"):
        return "server error"
    if kind == "public":
        return "a public route sent to log in" if _refused_login(r, api) else None
    if user is None:
        return None if _refused_login(r, api) else "anonymous not sent to log in"
    if _refused_login(r, api):
        return "signed-in user sent to log in"
    if kind == "authenticated":
        return None
    if not any(ctx.can_anywhere(user, p) for p in perms):
        # 403; or 404 when the path names an object that does not exist and the route lets
        # its owner through (tokens: "or the person themself")
        return None if status == 403 or (status == 404 and not scoped) else f"holds none of {perms} but got {status}"
    if not scoped:
        return None if status != 401 and (status != 403 or method != "GET") else f"holder refused ({status})"
    if any(ctx.can(user, p, org) for p in perms):
        if status in (401, 403):
            return f"holder refused an object in its subtree ({status})"
        if method == "GET" and status == 404:
            return "holder cannot find an object in its subtree"
        return None
    if status in (403, 404) or (status == ghost and not 200 <= status < 400):
        return None  # refused, or indistinguishable from an object that does not exist
    return f"object outside the subtree answered {status} (an absent one: {ghost})"


def send(client: Any, method: str, url: str, api: bool) -> Any:
    if method == "GET":
        return client.get(url, follow_redirects=False)
    if api:
        return client.request(method, url, json={}, follow_redirects=False)
    return client.request(method, url, data={}, follow_redirects=False)


def _matrix_rows(app: Any) -> list[tuple[str, str, Any]]:
    rows = []
    for r in app.routes:
        if isinstance(r, Route):
            for m in sorted((r.methods or {"GET"}) - {"HEAD"}):
                rows.append((r.path, m, r.endpoint))
    return sorted(rows, key=lambda x: (x[1] != "GET", x[0]))  # reads first


def test_every_route_declares_who_may_call_it(app: Any) -> None:
    ctx = app.state.ccms
    undeclared = [f"{m} {p}" for p, m, ep in _matrix_rows(app)
                  if declared_access(ep, p, m, is_public=ctx.is_public)[0] == "undeclared"]
    assert not undeclared, ("routes without @requires, @checks_permission, @authenticated or a public path:\n"
                            + "\n".join(undeclared))


@pytest.mark.slow
@pytest.mark.needs_plugins("command")
def test_authorization_matrix(app: Any, client_for: Any) -> None:
    ctx = app.state.ccms
    env = _seed(ctx)
    order = [r for r in env["actors"] if r != "admin"] + ["admin"]
    people = {role: env["actors"][role][0] for role in order}
    with ctx.db.session() as s:
        users = {role: CurrentUser(p.id, p.username, p.display_name, p.org_id, "session", "")
                 for role, pid in people.items() for p in [s.get(Person, pid)]}
    clients: dict[str, Any] = {"anonymous": client_for()}
    for role in order:
        c = client_for()
        c.headers["Authorization"] = f"Bearer {_token(ctx, people[role])}"
        clients[role] = c
    problems: list[str] = []
    checked = 0
    for path, method, endpoint in _matrix_rows(app):
        api = path.startswith("/api/")
        scoped = _scoped_param(path)
        variants = [("in", env["objects"][scoped][0]), ("out", env["objects"][scoped][1])] if scoped \
            else [("-", None)]
        for who in ["anonymous", *order]:
            user = users.get(who)
            for where, value in variants:
                url = _url(path, scoped, value)
                params = {"form": FORM}
                kind, perms = declared_access(endpoint, path, method, params, is_public=ctx.is_public)
                org = None
                if scoped == "org_id":
                    org = value
                elif scoped in ("person_id", "record"):
                    org = env["inside"] if where == "in" else env["outside"]
                c = clients[who]
                r = send(c, method, url, api)
                checked += 1
                ghost = None
                if where == "out" and r.status_code not in (403, 404):
                    ghost = send(c, method, _url(path, scoped, GHOST), api).status_code
                why = _verdict(kind, perms, ctx, user, api, method, scoped is not None, org, r, ghost)
                if why:
                    problems.append(f"{method} {url} as {who} ({where}; {kind} {perms}): {why}")
    assert checked > 2000
    assert not problems, f"{len(problems)} of {checked} answers break the declared access:\n" + "\n".join(problems)


# --- what the matrix found, pinned down --------------------------------------------------------------

@pytest.mark.needs_plugins("command")
def test_person_grants_page_hides_people_outside_the_viewers_domain(app: Any, client_for: Any) -> None:
    """Found by the matrix: a district's org_admin (core.role.view there) opened the grants
    page of a person in another district (200, name and org shown), although the person's
    own page answers 404."""
    ctx = app.state.ccms
    env = _seed(ctx)
    c = client_for()
    c.headers["Authorization"] = f"Bearer {_token(ctx, env['actors']['org_admin'][0])}"
    inside, outside = env["objects"]["person_id"]
    assert c.get(f"/admin/people/{inside}/grants").status_code == 200
    assert c.get(f"/admin/people/{outside}").status_code in (403, 404)
    r = c.get(f"/admin/people/{outside}/grants")
    assert r.status_code == 404 and "target_out" not in r.text


@pytest.mark.needs_plugins("command")
def test_token_creation_refuses_before_reading_the_body(app: Any, client_for: Any) -> None:
    """Found by the matrix: someone who may not manage a person's tokens got 422 for a
    bad body instead of 403."""
    ctx = app.state.ccms
    env = _seed(ctx)
    c = client_for()
    c.headers["Authorization"] = f"Bearer {_token(ctx, env['actors']['auditor'][0])}"
    inside, _ = env["objects"]["person_id"]
    r = c.post(f"/api/people/{inside}/tokens", json={})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
