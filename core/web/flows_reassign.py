"""转办 pickers on the task page: choose a person (search-as-you-type, the same
widget as a form's person field) or a department (a select over the org tree).

The task page's 转办 form posts ids (``to_person``, ``to_org``); the operation
itself (:func:`ccms.flows.operations.reassign`) checks them again, so an
unknown or inactive person or department is refused inline with nothing
changed, whatever was posted.

Screens (htmx fragments, reusing ``forms/_widgets.html``):

* ``GET /tasks/{id}/reassign/people?q`` — up to 20 active people matching a name or user name;
* ``GET /tasks/{id}/reassign/person?_id`` — the person widget again with that person chosen
  (``_id`` empty: cleared).

Only someone the task page offers 转办 to may use them (so the search cannot
be used to look people up otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..errors import Forbidden, NotFound
from ..flows import engine
from ..flows.inbox import require_view as _require_view
from ..models import Org, Person
from .routing import authenticated

MAX_Q = 50
MAX_RESULTS = 20
NAME = "to_person"
TEST_ID = "reassign-to_person"


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_people(s: Any, q: str, limit: int = MAX_RESULTS) -> list[dict[str, Any]]:
    """Active people whose name or user name contains ``q`` (none for an empty query)."""
    q = (q or "").strip()[:MAX_Q]
    if not q:
        return []
    rows = s.execute(select(Person.id, Person.display_name, Person.username, Org.name)
                     .join(Org, Org.id == Person.org_id)
                     .where(Person.active.is_(True),
                            or_(Person.display_name.ilike(_like(q), escape="\\"),
                                Person.username.ilike(_like(q), escape="\\")))
                     .order_by(Person.display_name, Person.id).limit(limit)).all()
    return [{"id": i, "name": n or u, "username": u, "org": o} for i, n, u, o in rows]


def person_label(s: Any, person_id: int, active_only: bool = False) -> str:
    """「name（org）」 of a person ("" when there is none, or not active when ``active_only``)."""
    q = select(Person.display_name, Person.username, Org.name).join(Org, Org.id == Person.org_id) \
        .where(Person.id == person_id)
    if active_only:
        q = q.where(Person.active.is_(True))
    row = s.execute(q).first()
    return f"{row[0] or row[1]}（{row[2]}）" if row else ""


def department_options(ctx: Any, s: Any) -> list[tuple[str, str]]:
    """("", none) then every active org in tree order, indented by depth (a keyboard-usable select)."""
    rows = s.execute(select(Org.id, Org.parent_id, Org.name, Org.sort).where(Org.active.is_(True))).all()
    ids = {r[0] for r in rows}
    children: dict[int | None, list[Any]] = {}
    for r in rows:
        children.setdefault(r[1] if r[1] in ids else None, []).append(r)
    out = [("", ctx.gettext("flows_inbox.to_org_none"))]

    def walk(parent: int | None, depth: int) -> None:
        for oid, _p, name, _sort in sorted(children.get(parent, []), key=lambda r: (r[3] or 0, r[2], r[0])):
            out.append((str(oid), "\u3000" * depth + name))
            walk(oid, depth + 1)

    walk(None, 0)
    return out


def _url(task_id: int, what: str) -> str:
    return f"/tasks/{task_id}/reassign/{what}"


def person_node(ctx: Any, task_id: int, value: str = "", display: str = "",
                error: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What ``forms/_widgets.html``'s ``person_picker`` needs, for the 转办 form."""
    return {"widget": "person", "test_id": TEST_ID, "name": NAME, "label": ctx.gettext("flows_inbox.to_person"),
            "value": value, "required": False, "disabled": False, "placeholder": "",
            "help": ctx.gettext("flows_inbox.to_person_pick_help"), "error": dict(error) if error else None,
            "extra": {"display": display, "search_url": _url(task_id, "people"),
                      "clear_url": _url(task_id, "person") + "?_id=", "pick_url": _url(task_id, "person") + "?_id="}}


def picker_context(ctx: Any, s: Any, task_id: int, values: Mapping[str, Any],
                   errors: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The 转办 form's pickers with what was posted (kept after an error)."""
    raw = str(values.get(NAME, "") or "").strip()
    display = person_label(s, int(raw)) if raw.isdecimal() and len(raw) < 18 else ""
    if not display:
        raw = ""  # a name typed elsewhere (API) or an id that is not a person: shown as not chosen
    return {"person": person_node(ctx, task_id, raw, display, (errors or {}).get(NAME)),
            "departments": department_options(ctx, s)}


def _may_reassign(request: Request) -> tuple[Any, int]:
    """The task id when the user is offered 转办 on it (403/404 otherwise)."""
    ctx, user = request.scope["ccms"], request.scope.get("user")
    if user is None:
        raise Forbidden("请先登录", "log in first", code="login_required")
    tid = request.path_params["id"]
    with ctx.db.session() as s:
        task = engine.get_task(s, tid)
        _require_view(ctx, s, user, engine.get_instance(s, task.instance_id))
        if "reassign" not in engine.available_actions(s, ctx, task, user.id)["operations"]:
            raise Forbidden("您不能转办此任务", "you may not hand this task over", code="op_not_allowed")
    return ctx, tid


def _fragment(ctx: Any, **context: Any) -> HTMLResponse:
    return HTMLResponse(ctx.templates.get_template("forms/_widgets_one.html").render(**context))


@authenticated
async def people(request: Request) -> Response:
    ctx, tid = _may_reassign(request)
    q = request.query_params.get("q", "").strip()[:MAX_Q]
    with ctx.db.session() as s:
        found = search_people(s, q)
    node = person_node(ctx, tid)
    return _fragment(ctx, results=True, people=found, pick_url=node["extra"]["pick_url"], target=f"w-{TEST_ID}",
                     name=NAME, q=q)


@authenticated
async def pick(request: Request) -> Response:
    ctx, tid = _may_reassign(request)
    raw = request.query_params.get("_id", "").strip()
    display = ""
    if raw:
        with ctx.db.session() as s:
            display = person_label(s, int(raw), active_only=True) if raw.isdecimal() and len(raw) < 18 else ""
        if not display:
            raise NotFound("所选人员不存在或已停用", "no such active person")
    return _fragment(ctx, results=False, n=person_node(ctx, tid, raw, display))


routes = [
    Route("/tasks/{id:int}/reassign/people", people, methods=["GET"]),
    Route("/tasks/{id:int}/reassign/person", pick, methods=["GET"]),
]

api_docs: list[dict[str, Any]] = []  # HTML fragments only; the JSON API posts ids to /api/tasks/{id}/operations/reassign
