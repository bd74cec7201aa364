"""The stable facade for plugins: import from ``ccms.api`` and nothing deeper.

Everything a plugin needs is re-exported here, so the core can be refactored
behind it without breaking vendors' plugins. ``__all__`` below is the whole
facade, grouped; :data:`FACADE_VERSION` is its version, which a plugin's
manifest names in ``requires_ccms``.

``ctx`` (what hooks and :func:`ctx_of` hand a plugin) is a :class:`PluginContext`:
a closed object with named methods only —

- data: ``ctx.session()`` (a unit of work: ``with ctx.session() as s:``),
  ``ctx.settings(plugin_id, session=None)``, ``ctx.plugin_enabled(plugin_id)``;
- permissions, always naming an org: ``ctx.can(user, perm, org_id)``,
  ``ctx.require(...)``; for menus and guards ``ctx.can_anywhere(user, perm)``,
  ``ctx.require_anywhere(...)``;
- grants as data: ``ctx.grant_orgs(user, perm)``, ``ctx.org_path(org_id)``,
  ``ctx.org_within(org_id, ancestor_id)``, ``ctx.people_with_role(role)``;
- deployment: ``ctx.locale``, ``ctx.timezone``, ``ctx.region_code``, ``ctx.tier``;
- i18n: ``ctx.gettext(key, **kw)``, ``ctx.localize({"zh-CN": ..., "en": ...})``.

Module functions that take ``ctx`` take that object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session, aliased
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from .audit import Actor, record as audit_record
from .contract import FACADE_VERSION
from .db import UTCDateTime, utcnow
from .errors import CcmsError, Conflict, Forbidden, NotFound, ValidationFailed
from .hookspecs import hookimpl
from .dictionaries import Entry as DictEntry, lookup as dict_lookup, options as dict_options
from .models import Org, Person
from .pii import PiiString, may_unmask as pii_may_unmask, shown as pii_shown
from .web.pii import reveal as pii_reveal
from .plugin_context import FlowInstanceInfo, HistoryInfo, OrgInfo, PersonInfo, PluginContext, TaskInfo
from .plugin_context import instance_info, task_info
from .plugin_context import kernel_app as _app
from .services import check_version, field_error
from .web.openapi import api_doc
from .web.render import render
from .web.routing import authenticated, checks_permission, form_data, json_body, public, requires, validate
from .web.user import CurrentUser
from .web.middleware import allow_images_from
from . import attachments as att
from . import demo
from .dictionaries import snapshot
from .flows import diagram, engine, inbox, operations
from .flows.models import FlowHistory, FlowInstance, FlowTask, FlowTaskCandidate as Cand, FlowTimer, FlowToken
from .forms.definition import load_definition as _load_definition
from .forms.validate import RecordValidator
from .jobs import start_job as _start
from .migrate import run_env

__all__ = [
    "FACADE_VERSION",
    # the context and what plugins read through it (frozen data, never ORM rows)
    "PluginContext", "ctx_of", "user_of", "actor_of", "CurrentUser",
    "OrgInfo", "PersonInfo", "TaskInfo", "FlowInstanceInfo", "HistoryInfo",
    "org_info", "org_names", "org_region_codes", "org_scope", "person_info", "person_names",
    "get_settings",
    # hooks, routes and responses
    "hookimpl", "Request", "Response", "HTMLResponse", "JSONResponse", "RedirectResponse", "Route", "Mount",
    "requires", "authenticated", "checks_permission", "public", "placeholder_routes", "allow_images_from",
    "render", "form_data", "json_body", "validate", "api_doc",
    # errors (bilingual) and validation
    "CcmsError", "Conflict", "Forbidden", "NotFound", "ValidationFailed", "check_version", "field_error",
    "load_form_definition", "record_validator",
    # storage helpers: column types, audit, migrations
    "UTCDateTime", "utcnow", "Actor", "audit_record", "run_plugin_migrations",
    # reference data: 数据字典 dictionaries
    "DictEntry", "dict_entries", "dict_lookup", "dict_options",
    # personal information: encrypted column type, unmask check, masked display (core/pii.py)
    "PiiString", "pii_may_unmask", "pii_reveal", "pii_shown",
    # background jobs with a progress screen (core/jobs.py)
    "start_job",
    # 工作日历: deadlines and elapsed time in working time
    "calendar_deadline", "calendar_elapsed", "calendar_get",
    # 流程引擎: steps (each one transaction step) and reading (data, not rows)
    "flow_start", "flow_act", "flow_claim", "flow_operation", "flow_history", "flow_timeline",
    "flow_instance", "flow_tasks", "flow_open_tasks", "flow_involves", "flow_todo", "flow_todo_instances",
    "flow_may_act", "flow_available_actions", "flow_task_level", "flow_diagram_svg", "flow_demo_retime",
    # 附件 attachments
    "attachment_save", "attachment_get", "attachment_may_attach", "attachment_claim", "attachment_path",
    # demo seeding and charts
    "demo_person", "charts",
]


def ctx_of(request: Request) -> PluginContext:
    """The deployment serving this request (never keep one in a module global:
    several deployments may run in one process)."""
    return request.scope["ccms"].plugin_context


def user_of(request: Request) -> CurrentUser | None:
    """The logged-in user of the request (``None`` on public routes)."""
    return request.scope.get("user")


def load_form_definition(data: Any, source: str = "") -> Any:
    """Check a form definition (meta-schema, supported keywords, references);
    raises a ValidationFailed naming the JSON path of the fault."""
    return _load_definition(data, source)


def record_validator(ctx: PluginContext, definition: Any) -> Any:
    """A compiled validator of a form definition's records with this
    deployment's field types: ``.from_post(form)`` and ``.validate(data)``
    return ``{field path: {"message", "message_en"}}``."""
    return RecordValidator(definition.schema, _app(ctx).field_types)


from .audit import actor_of  # noqa: E402  (a kernel function: the web layer uses it too)


def placeholder_routes(ctx: PluginContext, plugin_id: str) -> list[Route]:
    """Routes for the menu entries of a plugin that is declared but not built yet.

    Each answers an honest "not built yet" page behind the plugin's permission.
    """
    app = _app(ctx)
    info = next(p for p in app.plugins if p.id == plugin_id)
    routes = []
    for group in info.menus:
        for item in group.get("children", []):
            perm = item.get("permission") or f"{plugin_id}.view"

            def make(title: Any, perm: str = perm) -> Any:
                @requires(perm)
                async def page(request: Request) -> Response:
                    return render(request, "placeholder.html", {
                        "title": ctx.localize(title),
                        "plugin": info, "plugin_name": info.name(ctx.locale)})
                return page

            routes.append(Route(item["url"], make(item["title"]), name=item["id"]))
    return routes


def org_scope(ctx: PluginContext, user: CurrentUser | None, permission: str, org_column: Any) -> ColumnElement[bool]:
    """SQL condition "the row's org lies in a subtree where ``user`` holds
    ``permission``", for lists that must show only what the user may see."""
    org_ids = ctx.grant_orgs(user, permission)
    if not org_ids:
        return false()
    granted = aliased(Org)
    covered = (select(Org.id).join(granted, Org.path.startswith(granted.path))
               .where(granted.id.in_(org_ids)))
    return org_column.in_(covered)


from .lookups import org_names, person_names  # noqa: E402  (kernel functions: forms and the inbox use them)


def person_info(session: Session, person_ids: Iterable[Any], *, active_only: bool = False) -> dict[int, PersonInfo]:
    """Id, user name, name, org and active flag of the given people that exist (``active_only``:
    leave out deactivated accounts), in one query."""
    ids = {int(i) for i in person_ids if i is not None}
    if not ids:
        return {}
    stmt = select(Person.id, Person.username, Person.display_name, Person.org_id, Person.active).where(Person.id.in_(ids))
    if active_only:
        stmt = stmt.where(Person.active.is_(True))
    return {r[0]: PersonInfo(*r) for r in session.execute(stmt)}


def dict_entries(session: Session, dict_code: str) -> dict[str, DictEntry]:
    """Every item of a 数据字典 dictionary by code (active or not), read in the
    caller's session — for validating many codes at once (imports).
    Empty when the dictionary does not exist."""
    return snapshot.entries(session, dict_code)


def org_info(session: Session, org_ids: Any = None) -> dict[int, OrgInfo]:
    """:class:`OrgInfo` (id, name, kind, region code, active, parent, path) of the given orgs
    (all orgs when ``org_ids`` is None); missing ids are left out."""
    stmt = select(Org.id, Org.name, Org.kind, Org.region_code, Org.active, Org.parent_id, Org.path)
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


def get_settings(ctx: PluginContext, plugin_id: str, session: Session | None = None) -> dict[str, Any]:
    """The effective settings of an enabled plugin (same as ``ctx.settings(plugin_id, session)``);
    a plugin without a settings schema gets ``{}``, an unknown or disabled one raises NotFound."""
    return ctx.settings(plugin_id, session)


def run_plugin_migrations() -> None:
    """The whole body of a plugin's ``migrations/env.py``: ``from ccms.api import
    run_plugin_migrations; run_plugin_migrations()``. The core runs each plugin's Alembic
    history against the deployment's database with the plugin's own version table."""
    run_env()


def start_job(ctx: PluginContext, owner: int | None, kind: str, fn: Any, total: int | None = None) -> str:
    """Run ``fn(progress)`` in a background thread and return the job id; the
    user follows it at ``/jobs/{id}`` (progress bar, result, error report).
    ``progress(done, total=None, message=None, message_en=None)``; raise
    ``ccms.jobs.JobError(zh, en, errors=[{"row", "field", "message", "message_en"}])``
    to fail with a downloadable report. See :mod:`ccms.jobs`."""
    return _start(_app(ctx), owner, kind, fn, total)


# 工作日历 (ccms.calendar): deadlines and elapsed time in minutes, work hours or work days.
from .calendar import deadline as calendar_deadline, working_elapsed as calendar_elapsed  # noqa: E402
# The loaded calendar itself (``.deadline(start, amount, unit)``, ``.elapsed(...)``), for many deadlines in a loop.
from .calendar import get_calendar as calendar_get  # noqa: E402


# 流程引擎 (ccms.flows): instances, tasks, special operations, inbox. Every step function takes the
# caller's session and is one step (state + history + audit + outbox + ccms_flow_event_occurred); on an
# error the caller's transaction must roll back (``with ctx.session()`` does).
def flow_start(session: Session, ctx: PluginContext, actor: Actor | None, flow_id: str,
               **kw: Any) -> FlowInstanceInfo:
    """Start ``flow_id`` (published version): ``record_id=``, ``org_id=``, ``variables=``, ``title=``.
    Returns the new instance as data, as it stands after its first step (``.id``, ``.status``)."""
    inst = engine.start(session, _app(ctx), actor, flow_id, **kw)
    session.flush()
    return instance_info(inst)


def flow_act(session: Session, ctx: PluginContext, actor: Actor | None, task_id: int, action: str, **kw: Any) -> Any:
    """Complete a task with an action: ``comment=``, ``data=`` (editable record fields), ``variables=``, ``version=``."""
    return engine.act(session, _app(ctx), actor, task_id, action, **kw)


def flow_claim(session: Session, ctx: PluginContext, actor: Actor | None, task_id: int, **kw: Any) -> Any:
    """Claim an unassigned task one is a candidate of (``version=``)."""
    return engine.claim(session, _app(ctx), actor, task_id, **kw)


def flow_operation(session: Session, ctx: PluginContext, actor: Actor | None, op: str, *args: Any, **kw: Any) -> Any:
    """A special operation by name: ``return`` (task_id, to_node, reason), ``extend`` (task_id, reason,
    amount=, unit=), ``suspend`` (task_id, reason), ``resume`` (instance_id, comment), ``void`` (task_id,
    reason), ``reassign`` (task_id, reason, to_person= | to_org=), ``urge`` (task_id, comment),
    ``withdraw`` (task_id, reason). Returns the operation's result (``.status``, ``.task_id``)."""
    fns = {"return": operations.request_return, "extend": operations.request_extension,
           "suspend": operations.suspend, "resume": operations.resume, "void": operations.void,
           "reassign": operations.reassign, "urge": operations.urge, "withdraw": operations.withdraw}
    if op not in fns:
        raise ValidationFailed(f"未知的流程操作 {op}", f"unknown flow operation {op}", code="unknown_operation")
    return fns[op](session, _app(ctx), actor, *args, **kw)


def flow_history(session: Session, instance_id: int) -> list[HistoryInfo]:
    """An instance's timeline as data, oldest first (for screens prefer :func:`flow_timeline`)."""
    return [HistoryInfo(**{f: getattr(h, f) for f in HistoryInfo.__dataclass_fields__})
            for h in engine.history(session, instance_id)]


def flow_timeline(session: Session, ctx: PluginContext, instance_id: int) -> list[dict[str, Any]]:
    """An instance's timeline for screens, oldest first: ``at``, ``who``, ``kind``, ``kind_text``, and
    ``node`` / ``to`` / ``action`` as the definition's localized titles and labels (not raw ids)."""
    app = _app(ctx)
    inst = session.get(FlowInstance, instance_id)
    if inst is None:
        return []
    d, loc = engine.definition(session, inst.flow_id, inst.def_version)[0], app.deployment.locale

    def action(node_id: str | None, act: str | None) -> str:
        for t in d.outgoing(node_id) if act and node_id in d.nodes else []:
            if t.get("action") == act:
                return d.label(t, loc)
        return inbox.label(app, "op", act) if act else ""

    rows = engine.history(session, inst.id)
    names = person_names(session, [h.actor_id for h in rows])  # people's names, not user names
    return [{"at": h.at, "who": names.get(h.actor_id) or h.actor_name or "", "who_username": h.actor_name or "",
             "kind": h.kind, "kind_text": inbox.label(app, "history", h.kind),
             "node_id": h.node_id, "node": d.node_title(h.node_id, loc) if h.node_id in d.nodes else (h.node_id or ""),
             "to_id": h.to_node, "to": d.node_title(h.to_node, loc) if h.to_node in d.nodes else (h.to_node or ""),
             "action_id": h.action, "action": action(h.node_id, h.action), "comment": h.comment or "",
             "data": h.data or {}} for h in rows]


def flow_todo(session: Session, ctx: PluginContext, user: CurrentUser | None, filters: Any = None) -> Any:
    """待办 of ``user`` (core's inbox query): ``.items`` (dicts: ``id``, ``instance_id``, ``node_id``,
    ``title``, ``due_at``, ``level`` ...) and ``.total``; ``filters`` e.g. ``{"flow_id": ..., "page": 2}``."""
    return inbox.todo(session, _app(ctx), user, filters)


def _task_row(session: Session, task: TaskInfo | Any) -> Any:
    return session.get(FlowTask, task.id) if isinstance(task, TaskInfo) else task


def flow_instance(session: Session, instance_id: int | None) -> FlowInstanceInfo | None:
    """A flow instance as data (status, outcome, variables, counters, times); None when missing."""
    row = session.get(FlowInstance, instance_id) if instance_id is not None else None
    if row is None:
        return None
    return instance_info(row)


def flow_tasks(session: Session, instance_id: int, *, live: bool = False, kind: str | None = None) -> list[TaskInfo]:
    """The instance's tasks in creation order; ``live``: open/held/suspended only; ``kind``: e.g. ``node``."""
    return [task_info(t) for t in engine.tasks_of(session, instance_id, live=live) if kind is None or t.kind == kind]


def flow_open_tasks(session: Session, instance_ids: Iterable[int], node_id: str) -> dict[int, TaskInfo]:
    """The open task at ``node_id`` of each given instance (instance id → task), in one query."""
    ids = [int(i) for i in instance_ids if i is not None]
    if not ids:
        return {}
    rows = session.scalars(select(FlowTask).where(FlowTask.instance_id.in_(ids), FlowTask.node_id == node_id,
                                                  FlowTask.status == "open").order_by(FlowTask.id))
    return {t.instance_id: task_info(t) for t in rows}


def flow_involves(session: Session, instance_id: int, person_id: int) -> bool:
    """Whether the person is or was on a task of the instance (assignee, candidate or completer)."""
    hit = session.scalar(select(FlowTask.id).outerjoin(Cand, Cand.task_id == FlowTask.id)
                         .where(FlowTask.instance_id == instance_id,
                                (FlowTask.assignee_id == person_id) | (FlowTask.completed_by == person_id)
                                | (Cand.person_id == person_id)).limit(1))
    return hit is not None


def flow_todo_instances(person_id: int, flow_id: str) -> Any:
    """SQL selectable of the ids of ``flow_id``'s instances with a live task the person may act on
    (theirs, or one they may claim), for ``Model.instance_id.in_(...)`` in a plugin's list query."""
    mine = select(FlowTask.instance_id).where(FlowTask.assignee_id == person_id, FlowTask.flow_id == flow_id,
                                              FlowTask.status.in_(("open", "held")))
    claimable = (select(FlowTask.instance_id).join(Cand, Cand.task_id == FlowTask.id)
                 .where(Cand.person_id == person_id, FlowTask.flow_id == flow_id,
                        FlowTask.status == "open", FlowTask.assignee_id.is_(None)))
    return mine.union(claimable)


def flow_may_act(session: Session, task: TaskInfo, person_id: int | None) -> bool:
    """Whether the person may act on the task now (its assignee, or a candidate of an unassigned task)."""
    return engine.may_act(session, _task_row(session, task), person_id)


def flow_available_actions(session: Session, ctx: PluginContext, task: TaskInfo, person_id: int | None) -> dict[str, Any]:
    """Buttons for the person on the task: ``actions``, ``operations``, ``claim``, ``unclaim``."""
    return engine.available_actions(session, _app(ctx), _task_row(session, task), person_id)


def flow_task_level(task: TaskInfo) -> str:
    """Deadline colour of a task: ``none``, ``green``, ``yellow`` or ``red``."""
    return engine.level(task)  # reads due_at / warn_at / completed_at only


def flow_diagram_svg(session: Session, flow_id: str, version: int | None = None, *, highlight: Any = (),
                     locale: str = "zh-CN") -> str:
    """The flow (given or published version) as an inline SVG fragment, ``highlight`` nodes drawn as current."""
    d, _ = engine.definition(session, flow_id, version)
    return diagram.render_svg(d.data, highlight=highlight, locale=locale)


def flow_demo_retime(session: Session, instance_id: int, moved: Callable[[Any], Any],
                     deadline: Callable[[Any, Any, str | None], Any]) -> dict[Any, Any]:
    """For ``ccms_seed_demo`` hooks only: move a freshly driven instance in time. ``moved(t)`` maps
    an instant of the run to its new time; ``deadline(start, at, unit)`` maps a deadline ``at`` set
    from ``start`` (task created) in ``unit``. Every timestamp of the instance (tasks, timers, history,
    tokens) moves; returns ``{old task due_at: new due_at}``."""
    session.flush()
    dues: dict[Any, Any] = {}
    for t in session.scalars(select(FlowTask).where(FlowTask.instance_id == instance_id).order_by(FlowTask.id)):
        start = t.created_at
        new_due, new_warn = deadline(start, t.due_at, t.limit_unit), deadline(start, t.warn_at, t.limit_unit)
        for tm in session.scalars(select(FlowTimer).where(FlowTimer.task_id == t.id)):
            tm.fire_at = {"due": new_due, "warn": new_warn}.get(tm.kind) or deadline(start, tm.fire_at, tm.unit)
        if t.due_at is not None:
            dues[t.due_at] = new_due
        t.due_at, t.warn_at = new_due, new_warn
        t.created_at, t.claimed_at, t.completed_at = moved(t.created_at), moved(t.claimed_at), moved(t.completed_at)
    inst = session.get(FlowInstance, instance_id)
    if inst is not None:
        for col in ("started_at", "updated_at", "ended_at", "suspended_at"):
            setattr(inst, col, moved(getattr(inst, col)))
        for h in session.scalars(select(FlowHistory).where(FlowHistory.instance_id == inst.id)):
            h.at = moved(h.at)
        for tk in session.scalars(select(FlowToken).where(FlowToken.instance_id == inst.id)):
            tk.created_at = moved(tk.created_at)
        for tm in session.scalars(select(FlowTimer).where(FlowTimer.instance_id == inst.id,
                                                          FlowTimer.task_id.is_(None))):
            tm.fire_at = moved(tm.fire_at)
    return dues


# 附件 (ccms.attachments) for plugins that keep attachment ids in their own tables.
def attachment_save(ctx: PluginContext, session: Session, actor: Actor | None, name: str, data: bytes, *,
                    images_only: bool = False, org_id: int | None = None) -> Any:
    """Check (extension AND content), store and audit one upload; refuses a file that is not what it
    claims to be (``images_only``: PNG/JPEG/GIF/WebP only). Returns the ``core_attachment`` row."""
    limits = att.Limits(accept=sorted(att.IMAGE_TYPES)) if images_only else att.Limits()
    return att.save(_app(ctx), session, actor, name, data, limits, org_id)


def attachment_get(session: Session, att_id: str) -> Any:
    """The ``core_attachment`` row (NotFound when missing)."""
    return att.get(session, att_id)


def attachment_may_attach(session: Session, actor: Actor | None, row: Any, field: str, place: str | None = None,
                          keep: Any = ()) -> bool:
    """Refuse (422 ``attachment_claimed`` / ``attachment_not_yours``, naming ``field``) unless ``actor``
    uploaded the attachment and it is not attached elsewhere than ``place`` (``keep``: ids the object
    held already). True when :func:`attachment_claim` must still claim it for ``place``."""
    return att.check_one(session, actor, row, field, place, keep)


def attachment_claim(session: Session, actor: Actor | None, rows: Any, place: str, field: str) -> None:
    """Record that the attachments (rows checked with :func:`attachment_may_attach`) are attached at
    ``place`` (e.g. ``"command_case:7"``); atomic, so one attachment never lands in two places."""
    att.claim(session, actor, [(field, r) for r in rows], place)


def attachment_path(ctx: PluginContext, row: Any, *, thumb: bool = False) -> Any:
    """Where the stored bytes (or the thumbnail PNG) of an attachment row are; the plugin checks access."""
    st = att.store_for(_app(ctx))
    return st.thumb_path(row.sha256) if thumb else st.path(row.sha256)


def demo_person(ctx: PluginContext, session: Session, username: str, name: str, post: str, org_id: int,
                role: str, role_org_id: int) -> dict[str, Any]:
    """For ``ccms_seed_demo`` hooks only: a demo account (random password, may log in at once) holding
    ``role`` on ``role_org_id``; returns the ``{"username", "password", "role", "scope", "name", "id"}``
    dict the hook hands back so the account is printed with the other demo logins."""
    org, scope = session.get(Org, org_id), session.get(Org, role_org_id)
    login = demo._person(_app(ctx), session, username, name, post, org, role, scope)
    pid = session.scalar(select(Person.id).where(Person.username == username))
    return {"username": login.username, "password": login.password, "role": login.role, "scope": login.scope,
            "name": login.name, "id": pid}


# Charts as data (ccms/charts.py): plugins build a spec from rows, static/charts.js draws it.
from . import charts  # noqa: E402



# Tabular data and page helpers (core/tabular.py, core/web/pages.py) --------------------------
from .tabular import (  # noqa: E402
    CSV_TYPE, XLSX_TYPE, Table, iter_csv, iter_xlsx, neutralise, read_table, restore, write_table,
)
from .tabular import bad_file as tabular_bad_file  # noqa: E402
from .web.pages import (  # noqa: E402
    is_htmx, page_number, page_or_fragment, paging, query_int, redirect, wants_fragment, with_flash,
)

__all__ += ["CSV_TYPE", "XLSX_TYPE", "Table", "iter_csv", "iter_xlsx", "neutralise", "read_table", "restore",
            "tabular_bad_file", "write_table"]
__all__ += ["is_htmx", "page_number", "page_or_fragment", "paging", "query_int", "redirect", "wants_fragment",
            "with_flash"]
