"""The stable facade for plugins: import from here and nothing deeper.

Everything a plugin needs — the hook marker, the context type, route helpers,
rendering, validation, errors, audit — is re-exported here, so the core can
be refactored behind it without breaking vendors' plugins.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session, aliased
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from .app import App as PluginContext
from .audit import Actor, record as audit_record
from .db import UTCDateTime, utcnow
from .errors import CcmsError, Conflict, Forbidden, NotFound, ValidationFailed
from .hookspecs import hookimpl
from .dictionaries import Entry as DictEntry, lookup as dict_lookup, options as dict_options
from .models import Org
from .pii import PiiString, may_unmask as pii_may_unmask, shown as pii_shown
from .web.pii import reveal as pii_reveal
from .services import check_version, field_error
from .services.settings import get_settings
from .web.openapi import api_doc
from .web.render import render
from .web.routing import authenticated, checks_permission, form_data, json_body, requires, validate
from .web.user import CurrentUser
from .web.middleware import allow_images_from, client_ip

__all__ = [
    "Actor", "CcmsError", "Conflict", "CurrentUser", "Forbidden", "HTMLResponse", "JSONResponse", "Mount",
    "NotFound", "PluginContext", "RedirectResponse", "Request", "Response", "Route", "UTCDateTime",
    "ValidationFailed", "actor_of", "api_doc", "audit_record", "ctx_of", "form_data", "get_settings",
    "hookimpl", "json_body", "load_form_definition", "org_names", "person_names", "org_scope", "placeholder_routes",
    "record_validator", "render", "requires", "user_of", "utcnow", "validate",
    "authenticated", "checks_permission",
    "start_job",  # background jobs with a progress screen (core/jobs.py)
    # reference data for plugins (dictionaries, orgs, optimistic locking)
    "DictEntry", "OrgInfo", "check_version", "dict_entries", "dict_lookup", "dict_options", "field_error",
    "org_info", "org_region_codes",
    # personal information: encrypted column type, unmask check, masked display (core/pii.py)
    "PiiString", "pii_may_unmask", "pii_reveal", "pii_shown",
]


def ctx_of(request: Request) -> PluginContext:
    """The deployment serving this request (never keep one in a module global:
    several deployments may run in one process)."""
    return request.scope["ccms"]


def user_of(request: Request) -> CurrentUser | None:
    """The logged-in user of the request (``None`` on public routes)."""
    return request.scope.get("user")


def load_form_definition(data: Any, source: str = "") -> Any:
    """Check a form definition (meta-schema, supported keywords, references);
    raises a ValidationFailed naming the JSON path of the fault."""
    from .forms.definition import load_definition
    return load_definition(data, source)


def record_validator(ctx: PluginContext, definition: Any) -> Any:
    """A compiled validator of a form definition's records with this
    deployment's field types: ``.from_post(form)`` and ``.validate(data)``
    return ``{field path: {"message", "message_en"}}``."""
    from .forms.validate import RecordValidator
    return RecordValidator(definition.schema, ctx.field_types)


from .audit import actor_of  # noqa: E402  (a kernel function: the web layer uses it too)


def placeholder_routes(ctx: PluginContext, plugin_id: str) -> list[Route]:
    """Routes for the menu entries of a plugin that is declared but not built yet.

    Each answers an honest "not built yet" page behind the plugin's permission.
    """
    info = next(p for p in ctx.plugins if p.id == plugin_id)
    routes = []
    for group in info.menus:
        for item in group.get("children", []):
            perm = item.get("permission") or f"{plugin_id}.view"

            def make(title: Any, perm: str = perm) -> Any:
                @requires(perm)
                async def page(request: Request) -> Response:
                    return render(request, "placeholder.html", {
                        "title": ctx.catalog.localize(title, ctx.deployment.locale),
                        "plugin": info, "plugin_name": info.name(ctx.deployment.locale)})
                return page

            routes.append(Route(item["url"], make(item["title"]), name=item["id"]))
    return routes


def org_scope(ctx: PluginContext, user: CurrentUser | None, permission: str, org_column: Any) -> ColumnElement[bool]:
    """SQL condition "the row's org lies in a subtree where ``user`` holds
    ``permission``", for lists that must show only what the user may see."""
    if user is None or not ctx.can_anywhere(user, permission):
        return false()
    org_ids = ctx.authz.grant_orgs(user.id, permission)
    if not org_ids:
        return false()
    granted = aliased(Org)
    covered = (select(Org.id).join(granted, Org.path.startswith(granted.path))
               .where(granted.id.in_(org_ids)))
    return org_column.in_(covered)


from .lookups import org_names, person_names  # noqa: E402  (kernel functions: forms and the inbox use them)


def dict_entries(session: Session, dict_code: str) -> dict[str, DictEntry]:
    """Every item of a 数据字典 dictionary by code (active or not), read in the
    caller's session — for validating many codes at once (imports).
    Empty when the dictionary does not exist."""
    from .dictionaries import snapshot
    return snapshot.entries(session, dict_code)


class OrgInfo(NamedTuple):
    """An org as plugins see it in bulk (cheap to build for many orgs)."""

    id: int
    name: str
    kind: str
    region_code: str | None
    active: bool


def org_info(session: Session, org_ids: Any = None) -> dict[int, OrgInfo]:
    """Id, name, kind, region code and active flag of the given orgs (all orgs
    when ``org_ids`` is None); missing ids are left out."""
    stmt = select(Org.id, Org.name, Org.kind, Org.region_code, Org.active)
    if org_ids is not None:
        ids = {int(i) for i in org_ids if i is not None}
        if not ids:
            return {}
        stmt = stmt.where(Org.id.in_(ids))
    return {r[0]: OrgInfo(*r) for r in session.execute(stmt)}


def org_region_codes(session: Session) -> set[str]:
    """The GB/T 2260 region codes used by the org tree (the deployment's
    counties, districts and the city itself)."""
    return {c for c in session.scalars(select(Org.region_code).where(Org.region_code.is_not(None)).distinct()) if c}


def start_job(ctx: PluginContext, owner: int | None, kind: str, fn: Any, total: int | None = None) -> str:
    """Run ``fn(progress)`` in a background thread and return the job id; the
    user follows it at ``/jobs/{id}`` (progress bar, result, error report).
    ``progress(done, total=None, message=None, message_en=None)``; raise
    ``core.jobs.JobError(zh, en, errors=[{"row", "field", "message", "message_en"}])``
    to fail with a downloadable report. See :mod:`core.jobs`."""
    from .jobs import start_job as _start
    return _start(ctx, owner, kind, fn, total)


# 工作日历 (core.calendar): deadlines and elapsed time in minutes, work hours or work days.
from .calendar import deadline as calendar_deadline, working_elapsed as calendar_elapsed  # noqa: E402
# The loaded calendar itself (``.deadline(start, amount, unit)``, ``.elapsed(...)``), for many deadlines in a loop.
from .calendar import get_calendar as calendar_get  # noqa: E402

__all__ += ["calendar_deadline", "calendar_elapsed", "calendar_get"]


# 流程引擎 (ccms.flows): instances, tasks, special operations, inbox. Every function takes the
# caller's session and is one step (state + history + audit + outbox + ccms_flow_event); on an
# error the caller's transaction must roll back (``with ctx.db.session()`` does).
def flow_start(session: Session, ctx: PluginContext, actor: Actor | None, flow_id: str, **kw: Any) -> Any:
    """Start ``flow_id`` (published version): ``record_id=``, ``org_id=``, ``variables=``, ``title=``."""
    from .flows import engine
    return engine.start(session, ctx, actor, flow_id, **kw)


def flow_act(session: Session, ctx: PluginContext, actor: Actor | None, task_id: int, action: str, **kw: Any) -> Any:
    """Complete a task with an action: ``comment=``, ``data=`` (editable record fields), ``variables=``, ``version=``."""
    from .flows import engine
    return engine.act(session, ctx, actor, task_id, action, **kw)


def flow_claim(session: Session, ctx: PluginContext, actor: Actor | None, task_id: int, **kw: Any) -> Any:
    """Claim an unassigned task one is a candidate of (``version=``)."""
    from .flows import engine
    return engine.claim(session, ctx, actor, task_id, **kw)


def flow_operation(session: Session, ctx: PluginContext, actor: Actor | None, op: str, *args: Any, **kw: Any) -> Any:
    """A special operation by name: ``return`` (task_id, to_node, reason), ``extend`` (task_id, reason,
    amount=, unit=), ``suspend`` (task_id, reason), ``resume`` (instance_id, comment), ``void`` (task_id,
    reason), ``reassign`` (task_id, reason, to_person= | to_org=), ``urge`` (task_id, comment),
    ``withdraw`` (task_id, reason). Returns :class:`ccms.flows.operations.OpResult`."""
    from .flows import operations
    fns = {"return": operations.request_return, "extend": operations.request_extension,
           "suspend": operations.suspend, "resume": operations.resume, "void": operations.void,
           "reassign": operations.reassign, "urge": operations.urge, "withdraw": operations.withdraw}
    if op not in fns:
        raise ValidationFailed(f"未知的流程操作 {op}", f"unknown flow operation {op}", code="unknown_operation")
    return fns[op](session, ctx, actor, *args, **kw)


def flow_history(session: Session, instance_id: int) -> list[Any]:
    """An instance's timeline (``core_flow_history`` rows), oldest first."""
    from .flows import engine
    return engine.history(session, instance_id)


def flow_timeline(session: Session, ctx: PluginContext, instance_id: int) -> list[dict[str, Any]]:
    """An instance's timeline for screens, oldest first: ``at``, ``who``, ``kind``, ``kind_text``, and
    ``node`` / ``to`` / ``action`` as the definition's localized titles and labels (not raw ids)."""
    from .flows import engine, inbox
    from .flows.models import FlowInstance
    inst = session.get(FlowInstance, instance_id)
    if inst is None:
        return []
    d, loc = engine.definition(session, inst.flow_id, inst.def_version)[0], ctx.deployment.locale

    def action(node_id: str | None, act: str | None) -> str:
        for t in d.outgoing(node_id) if act and node_id in d.nodes else []:
            if t.get("action") == act:
                return d.label(t, loc)
        return inbox.label(ctx, "op", act) if act else ""

    rows = engine.history(session, inst.id)
    names = person_names(session, [h.actor_id for h in rows])  # people's names, not user names
    return [{"at": h.at, "who": names.get(h.actor_id) or h.actor_name or "", "who_username": h.actor_name or "",
             "kind": h.kind, "kind_text": inbox.label(ctx, "history", h.kind),
             "node_id": h.node_id, "node": d.node_title(h.node_id, loc) if h.node_id in d.nodes else (h.node_id or ""),
             "to_id": h.to_node, "to": d.node_title(h.to_node, loc) if h.to_node in d.nodes else (h.to_node or ""),
             "action_id": h.action, "action": action(h.node_id, h.action), "comment": h.comment or "",
             "data": h.data or {}} for h in rows]


def flow_inbox() -> Any:
    """The inbox query module (:mod:`ccms.flows.inbox`: todo, done, overdue, started_by, counts)."""
    from .flows import inbox
    return inbox


__all__ += ["flow_act", "flow_claim", "flow_history", "flow_inbox", "flow_operation", "flow_start", "flow_timeline"]


# Flow reading helpers for plugins that drive a flow from their own screens (e.g. 指挥协调's case loop).
def flow_tasks(session: Session, instance_id: int, *, live: bool = False) -> list[Any]:
    """The instance's tasks (``core_flow_task`` rows) in creation order; ``live``: open/held/suspended only."""
    from .flows import engine
    return engine.tasks_of(session, instance_id, live=live)


def flow_may_act(session: Session, task: Any, person_id: int | None) -> bool:
    """Whether the person may act on the task now (its assignee, or a candidate of an unassigned task)."""
    from .flows import engine
    return engine.may_act(session, task, person_id)


def flow_available_actions(session: Session, ctx: PluginContext, task: Any, person_id: int | None) -> dict[str, Any]:
    """Buttons for the person on the task: ``actions``, ``operations``, ``claim``, ``unclaim``."""
    from .flows import engine
    return engine.available_actions(session, ctx, task, person_id)


def flow_task_level(task: Any) -> str:
    """Deadline colour of a task: ``none``, ``green``, ``yellow`` or ``red``."""
    from .flows import engine
    return engine.level(task)


def flow_diagram_svg(session: Session, flow_id: str, version: int | None = None, *, highlight: Any = (),
                     locale: str = "zh-CN") -> str:
    """The flow (given or published version) as an inline SVG fragment, ``highlight`` nodes drawn as current."""
    from .flows import diagram, engine
    d, _ = engine.definition(session, flow_id, version)
    return diagram.render_svg(d.data, highlight=highlight, locale=locale)


def flow_models() -> Any:
    """The flow engine's ORM classes (``FlowInstance``, ``FlowTask``, ``FlowTaskCandidate``, ``FlowHistory``,
    ``FlowToken``) for read-only joins and bulk demo seeding; steps go through :func:`flow_act` and friends."""
    from .flows import models
    return models


# 附件 (ccms.attachments) for plugins that keep attachment ids in their own tables.
def attachment_save(ctx: PluginContext, session: Session, actor: Actor | None, name: str, data: bytes, *,
                    images_only: bool = False, org_id: int | None = None) -> Any:
    """Check (extension AND content), store and audit one upload; refuses a file that is not what it
    claims to be (``images_only``: PNG/JPEG/GIF/WebP only). Returns the ``core_attachment`` row."""
    from . import attachments as att
    limits = att.Limits(accept=sorted(att.IMAGE_TYPES)) if images_only else att.Limits()
    return att.save(ctx, session, actor, name, data, limits, org_id)


def attachment_get(session: Session, att_id: str) -> Any:
    """The ``core_attachment`` row (NotFound when missing)."""
    from . import attachments as att
    return att.get(session, att_id)


def attachment_may_attach(session: Session, actor: Actor | None, row: Any, field: str, place: str | None = None,
                          keep: Any = ()) -> bool:
    """Refuse (422 ``attachment_claimed`` / ``attachment_not_yours``, naming ``field``) unless ``actor``
    uploaded the attachment and it is not attached elsewhere than ``place`` (``keep``: ids the object
    held already). True when :func:`attachment_claim` must still claim it for ``place``."""
    from . import attachments as att
    return att.check_one(session, actor, row, field, place, keep)


def attachment_claim(session: Session, actor: Actor | None, rows: Any, place: str, field: str) -> None:
    """Record that the attachments (rows checked with :func:`attachment_may_attach`) are attached at
    ``place`` (e.g. ``"command_case:7"``); atomic, so one attachment never lands in two places."""
    from . import attachments as att
    att.claim(session, actor, [(field, r) for r in rows], place)


def attachment_path(ctx: PluginContext, row: Any, *, thumb: bool = False) -> Any:
    """Where the stored bytes (or the thumbnail PNG) of an attachment row are; the plugin checks access."""
    from . import attachments as att
    st = att.store_for(ctx)
    return st.thumb_path(row.sha256) if thumb else st.path(row.sha256)


__all__ += ["attachment_claim", "attachment_get", "attachment_may_attach", "attachment_path", "attachment_save", "flow_available_actions", "flow_diagram_svg",
            "flow_may_act", "flow_models", "flow_task_level", "flow_tasks"]


def demo_person(ctx: PluginContext, session: Session, username: str, name: str, post: str, org_id: int,
                role: str, role_org_id: int) -> dict[str, Any]:
    """For ``ccms_seed_demo`` hooks only: a demo account (random password, may log in at once) holding
    ``role`` on ``role_org_id``; returns the ``{"username", "password", "role", "scope", "name", "id"}``
    dict the hook hands back so the account is printed with the other demo logins."""
    from . import demo
    org, scope = session.get(Org, org_id), session.get(Org, role_org_id)
    login = demo._person(ctx, session, username, name, post, org, role, scope)
    pid = session.scalar(select(demo.Person.id).where(demo.Person.username == username))
    return {"username": login.username, "password": login.password, "role": login.role, "scope": login.scope,
            "name": login.name, "id": pid}


__all__ += ["demo_person"]

# Charts as data (core/charts.py): plugins build a spec from rows, static/charts.js draws it.
from . import charts  # noqa: E402

__all__ += ["charts"]
__all__ += ["allow_images_from"]
