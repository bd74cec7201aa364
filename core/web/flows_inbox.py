"""我的待办 (task inbox), the task page, starting a flow and an instance's page,
with their JSON API.

Everyone logged in has an inbox: what a person may see is decided per object,
not by a permission. A task or instance is visible to whoever takes part in
it (initiator, assignee, candidate, completer) and to holders of
``core.flow.view`` in the instance's org; acting is decided by the engine
(:mod:`ccms.flows.engine`), which refuses with 403/409/422 before writing.
Every step is one transaction (engine + history + audit), one request each.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..plugin_context import instance_info, task_info
from .. import audit
from ..audit import actor_of
from ..calendar import service as calendar_service
from ..errors import CcmsError, Conflict, Forbidden, NotFound, ValidationFailed
from ..flows import diagram, engine, inbox, operations
from ..flows.def_models import FlowDef
from ..flows.inbox import VIEW_ALL, may_view  # noqa: F401  (may_view, VIEW_ALL: read from here too)
from ..flows.inbox import require_view as _require_view
from ..flows.models import LIVE_TASK, FlowInstance, FlowTask
from ..forms import access, records
from ..forms.access import mask, unmasked_posts
from ..forms.models import FormRecord
from ..forms.render import render_form
from ..forms.widgets import reference_labels
from ..forms.widgets_detail import render_detail
from ..lookups import person_names
from ..models import Person
from .attachments import store_posted_files
from .flows_reassign import picker_context
from .forms_records import _submitted
from .openapi import api_doc
from .pages import page_or_fragment
from .render import render
from .routing import authenticated, json_body, validate

GROUPS = ("todo", "overdue", "done", "started")
QUERIES = {"todo": inbox.todo, "overdue": inbox.overdue, "done": inbox.done, "started": inbox.started_by}
OPS = ("return", "extend", "suspend", "void", "reassign", "urge", "withdraw", "resume")
CONTROL_FIELDS = {"csrf_token", "action", "comment", "version", "ext_amount", "ext_unit", "ext_due_at"}
STALE = engine.stale()


# --------------------------------------------------------------------------- helpers

def _user(request: Request) -> Any:
    user = request.scope.get("user")
    if user is None:
        raise Forbidden("请先登录", "log in first", code="login_required")
    return user


def _int(value: Any) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdecimal() else None


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value


def _jsonable(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) for k, v in item.items()}


def _names(s: Any, ids: set[Any]) -> dict[int, str]:
    ids = {i for i in ids if isinstance(i, int)}
    if not ids:
        return {}
    return {pid: name or user for pid, name, user in
            s.execute(select(Person.id, Person.display_name, Person.username).where(Person.id.in_(ids)))}


def _known(ctx: Any, prefix: str, name: str) -> str:
    """The text of ``prefix + name`` when the catalog has it (names from the address are not trusted)."""
    key = f"flows_inbox.{prefix}{name}"
    return ctx.gettext(key) if name and key in ctx.catalog.messages.get("zh-CN", {}) else ""


def _level_text(ctx: Any, level: str) -> str:
    return inbox.label(ctx, "level", level)


# --------------------------------------------------------------------------- inbox

def _filters(request: Request) -> dict[str, Any]:
    qp = request.query_params
    keys = ("flow_id", "node_id", "q", "level", "sort", "created_from")
    out: dict[str, Any] = {k: qp.get(k, "").strip() for k in keys if qp.get(k, "").strip()}
    out["page"] = qp.get("page", "1") or "1"
    if qp.get("page_size"):
        out["page_size"] = qp.get("page_size")
    return out


def _group(value: str) -> str:
    if value not in GROUPS:
        raise ValidationFailed("未知的列表", "unknown list: use todo, overdue, done or started", code="bad_group",
                               fields={"group": {"message": "无效", "message_en": "invalid"}})
    return value


def _published_flows(ctx: Any, s: Any) -> list[tuple[str, str, Any]]:
    rows = s.execute(select(FlowDef.flow_id, FlowDef.definition).where(FlowDef.status == "published")
                     .order_by(FlowDef.flow_id)).all()
    loc = ctx.deployment.locale
    return [(fid, ctx.catalog.localize((d or {}).get("title") or fid, loc), d or {}) for fid, d in rows]


def _bulk_actions(ctx: Any, s: Any, items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Actions some of the listed tasks allow in bulk (node ``bulk``, no required comment)."""
    ids = {i["instance_id"] for i in items if i.get("kind") == "node"}
    if not ids:
        return []
    versions = dict(s.execute(select(FlowInstance.id, FlowInstance.def_version).where(FlowInstance.id.in_(ids))).all())
    out: dict[str, str] = {}
    for i in items:
        if i.get("kind") != "node" or i["instance_id"] not in versions:
            continue
        d = engine.definition(s, i["flow_id"], versions[i["instance_id"]])[0]
        for t in _bulk_transitions(d, i["node_id"]):
            out.setdefault(t["action"], d.label(t, ctx.deployment.locale))
    return sorted(out.items())


def _bulk_transitions(d: Any, node_id: str) -> list[dict[str, Any]]:
    allowed = set((d.nodes.get(node_id) or {}).get("bulk") or ())
    return [t for t in d.outgoing(node_id) if t.get("action") in allowed and not t.get("comment_required")
            and "timer" not in t]


def _local(url: Any) -> bool:
    return isinstance(url, str) and url.startswith("/") and not url.startswith("//")


def task_links(ctx: Any, s: Any, tasks: list[Mapping[str, Any]]) -> dict[int, str]:
    """Where each listed task opens (``ccms_task_links``, asked once for the whole list): a
    plugin's own page for its tasks, else ``/tasks/{id}``. Only local addresses are used."""
    items = [{k: t.get(k) for k in ("id", "instance_id", "flow_id", "node_id", "kind")} for t in tasks]
    out: dict[int, str] = {}
    if items:
        for answer in ctx.pm.hook.ccms_task_links(ctx=ctx, session=s, tasks=items):
            for tid, url in (answer or {}).items():
                if _local(url):
                    out.setdefault(tid, url)
    return {t["id"]: out.get(t["id"], f"/tasks/{t['id']}") for t in items if t.get("id") is not None}


def _instance_links(ctx: Any, s: Any, items: list[dict[str, Any]]) -> dict[int, str]:
    """我发起的 lists instances: each opens where its latest task would (a plugin's page),
    else the instance page. One query for the latest tasks, one hook call."""
    ids = [i["id"] for i in items]
    if not ids:
        return {}
    latest = s.execute(select(FlowTask.id, FlowTask.instance_id, FlowTask.flow_id, FlowTask.node_id, FlowTask.kind)
                       .where(FlowTask.id.in_(select(func.max(FlowTask.id)).where(FlowTask.instance_id.in_(ids))
                                              .group_by(FlowTask.instance_id)))).all()
    links = task_links(ctx, s, [r._asdict() for r in latest])
    by_inst = {r.instance_id: links[r.id] for r in latest if not links[r.id].startswith("/tasks/")}
    return {i: by_inst.get(i, f"/flows/instances/{i}") for i in ids}


def _list_context(request: Request, ctx: Any, s: Any, user: Any, group: str) -> dict[str, Any]:
    filters = _filters(request)
    page = QUERIES[group](s, ctx, user, filters)
    items = page.items
    names = _names(s, {i.get("assignee_id") for i in items})
    loc = ctx.deployment.locale
    cal_ids = dict(s.execute(select(FlowTask.id, FlowTask.calendar_id).where(
        FlowTask.id.in_([i["id"] for i in items if i.get("due_at")]))).all()) if group != "started" else {}
    provisional = calendar_service.provisional_checker(s)
    links = _instance_links(ctx, s, items) if group == "started" else task_links(ctx, s, items)
    for i in items:
        i["url"] = links.get(i["id"], "")
        if group == "started":
            i["status_text"] = inbox.label(ctx, "instance", i["status"])
        else:
            i["level_text"] = _level_text(ctx, i["level"])
            i["status_text"] = inbox.label(ctx, "task", i["status"])
            i["assignee_name"] = names.get(i.get("assignee_id"), "")
            i["provisional"] = i["id"] in cal_ids and provisional(cal_ids[i["id"]], i["due_at"])
    flows = _published_flows(ctx, s)
    nodes: list[tuple[str, str]] = []
    for fid, _title, d in flows:
        if fid == filters.get("flow_id"):
            nodes = [(n["id"], ctx.catalog.localize(n.get("title") or n["id"], loc))
                     for n in d.get("nodes") or [] if n.get("type") == "task"]
    keep = {k: v for k, v in filters.items() if k != "page"}
    return {
        "group": group, "page": page, "items": items, "filters": filters,
        "pages": max(1, math.ceil(page.total / page.page_size)) if page.page_size else 1,
        "page_url": f"/tasks?{urlencode({'group': group, **keep})}&",
        "counts": inbox.counts(s, ctx, user), "flows": [(f, t) for f, t, _d in flows], "nodes": nodes,
        "levels": [(lv, _level_text(ctx, lv)) for lv in inbox.LEVELS],
        "bulk_actions": _bulk_actions(ctx, s, items) if group == "todo" else [],
        "tabs": [(g, inbox.label(ctx, "inbox", g)) for g in GROUPS],
        "can_start": any(may_start(ctx, user, d) for _f, _t, d in flows),
    }


@authenticated
async def inbox_page(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    group = request.query_params.get("group") or "todo"
    if group not in GROUPS:
        group = "todo"
    try:
        with ctx.db.session() as s:
            context = _list_context(request, ctx, s, user, group)
    except ValidationFailed as exc:  # a bad filter in the address: show the list without it
        with ctx.db.session() as s:
            request.scope["query_string"] = urlencode({"group": group}).encode()
            context = _list_context(Request(request.scope), ctx, s, user, group)
            context["error"] = exc
    context["result"] = _known(ctx, "result_", request.query_params.get("result", ""))
    context["breadcrumbs"] = [(ctx.gettext("flows_inbox.title"), None)]
    return page_or_fragment(request, "flows/inbox.html", "flows/_inbox_list.html", context, target="list")


def bulk_run(ctx: Any, request: Request, ids: list[int], do: str) -> tuple[int, list[tuple[int, str]]]:
    """Claim (``do="claim"``) or complete with one action each task, each in its own step;
    a task that cannot is reported and the others go on."""
    done, failed = 0, []
    for tid in ids[:200]:
        try:
            with ctx.db.session() as s:
                if do == "claim":
                    engine.claim(s, ctx, actor_of(request), tid)
                else:
                    task = engine.get_task(s, tid)
                    inst = engine.get_instance(s, task.instance_id)
                    d = engine.definition(s, inst.flow_id, inst.def_version)[0]
                    if task.kind != "node" or do not in {t["action"] for t in _bulk_transitions(d, task.node_id)}:
                        raise ValidationFailed("该任务不允许批量办理此操作", "this action cannot be done in bulk here",
                                               code="bulk_not_allowed")
                    engine.act(s, ctx, actor_of(request), tid, do)
            done += 1
        except CcmsError as exc:
            failed.append((tid, f"{exc.zh} / {exc.en}"))
        except StaleDataError:
            failed.append((tid, f"{STALE.zh} / {STALE.en}"))
    with ctx.db.session() as s:  # the bulk action as a whole (each step has its own entry)
        audit.record(s, actor_of(request), "task_bulk", "task", "", success=not failed,
                     after={"do": do, "ids": ids[:200], "done": done, "failed": [t for t, _ in failed]},
                     summary=f"批量办理 {do}：完成 {done} 条，失败 {len(failed)} 条")
    return done, failed


@authenticated
async def bulk_action(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    form = await request.form()
    ids = [i for i in (_int(v) for v in form.getlist("ids")) if i is not None]
    do = str(form.get("do", "")).strip()
    if not ids or not do:
        return RedirectResponse("/tasks?group=todo&result=bulk_empty", status_code=303)
    done, failed = bulk_run(ctx, request, ids, do)
    with ctx.db.session() as s:
        context = _list_context(request, ctx, s, user, "todo")
    context["bulk"] = {"done": done, "failed": failed}
    context["breadcrumbs"] = [(ctx.gettext("flows_inbox.title"), None)]
    return render(request, "flows/inbox.html", context, status_code=200 if not failed else 422)


# --------------------------------------------------------------------------- task page

def _record_part(ctx: Any, s: Any, user: Any, inst: FlowInstance, node: Mapping[str, Any],
                 can_edit: bool) -> dict[str, Any] | None:
    """The bound record: its definition, the fields shown, those editable here."""
    if not inst.record_id:
        return None
    rec = s.get(FormRecord, inst.record_id)
    if rec is None:
        return None
    d = records.published(s, rec.form_id)
    hidden = set(access.hidden_fields(ctx, user, d))
    view = node.get("view")
    if view:
        hidden |= set(d.top_fields) - set(view)
    editable = [f for f in (node.get("editable") or ()) if f not in hidden] if can_edit else []
    return {"row": rec, "d": d, "hidden": hidden, "editable": editable,
            "title": ctx.catalog.localize(d.title, ctx.deployment.locale) or d.id}


def _timeline(ctx: Any, s: Any, inst: FlowInstance) -> list[dict[str, Any]]:
    d = engine.definition(s, inst.flow_id, inst.def_version)[0]
    loc = ctx.deployment.locale
    out = []
    rows = engine.history(s, inst.id)
    names = person_names(s, [h.actor_id for h in rows])  # people's names, not user names
    for h in rows:
        out.append({"at": h.at, "who": names.get(h.actor_id) or h.actor_name or ctx.gettext("flows_inbox.system"),
                    "kind": h.kind,
                    "kind_text": inbox.label(ctx, "history", h.kind),
                    "node": d.node_title(h.node_id, loc) if h.node_id in d.nodes else (h.node_id or ""),
                    "to": d.node_title(h.to_node, loc) if h.to_node in d.nodes else (h.to_node or ""),
                    "action": _action_text(ctx, d, h.node_id, h.action), "comment": h.comment or "",
                    "data": h.data or {}})
    return out


def _action_text(ctx: Any, d: Any, node_id: str | None, action: str | None) -> str:
    if not action:
        return ""
    for t in d.outgoing(node_id) if node_id in d.nodes else []:
        if t.get("action") == action:
            return d.label(t, ctx.deployment.locale)
    return inbox.label(ctx, "op", action)


def _diagram(ctx: Any, s: Any, inst: FlowInstance) -> Markup:
    d = engine.definition(s, inst.flow_id, inst.def_version)[0]
    tasks = engine.tasks_of(s, inst.id)
    live = {t.node_id for t in tasks if t.status in LIVE_TASK and t.kind == "node"}
    states: dict[str, str] = {t.node_id: "done" for t in tasks if t.status == "done" and t.kind == "node"}
    for t in tasks:
        if t.status in LIVE_TASK and t.kind == "node":
            states[t.node_id] = "overdue" if engine.level(t) == "red" else "active"
    return Markup(diagram.render_svg(d.data, highlight=live, states=states, locale=ctx.deployment.locale))


def _task_info(ctx: Any, s: Any, task: FlowTask, names: Mapping[int, str]) -> dict[str, Any]:
    lvl = engine.level(task)
    return {"task": task, "level": lvl, "level_text": _level_text(ctx, lvl),
            "provisional": calendar_service.is_provisional(s, task.calendar_id, task.due_at),
            "status_text": inbox.label(ctx, "task", task.status), "assignee": names.get(task.assignee_id or -1, ""),
            "completed_by": names.get(task.completed_by or -1, "")}


def _task_screen(ctx: Any, s: Any, inst: FlowInstance, task: FlowTask) -> dict[str, Any] | None:
    """A plugin's own page for this task (``ccms_task_screen``): ``{"url", "actions", "redirect"}``
    or None. Only a local address is linked to."""
    for r in ctx.pm.hook.ccms_task_screen(ctx=ctx, session=s, instance=instance_info(inst), task=task_info(task)):
        url = str((r or {}).get("url") or "")
        if _local(url):
            return {"url": url, "actions": {str(a) for a in r.get("actions") or ()}, "redirect": bool(r.get("redirect"))}
    return None


def _task_context(request: Request, ctx: Any, s: Any, user: Any, task: FlowTask, *,
                  errors: Mapping[str, Any] | None = None, raw: Any = None, comment: str = "",
                  error: CcmsError | None = None, op_error: tuple[str, CcmsError] | None = None,
                  op_values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    inst = engine.get_instance(s, task.instance_id)
    _require_view(ctx, s, user, inst)
    d = engine.definition(s, inst.flow_id, inst.def_version)[0]
    loc = ctx.deployment.locale
    allowed = engine.available_actions(s, ctx, task, user.id)
    screen = _task_screen(ctx, s, inst, task)
    if screen is not None and screen["actions"]:  # those buttons would only be refused here
        allowed = {**allowed, "actions": [a for a in allowed["actions"] if a["action"] not in screen["actions"]]}
    node = d.nodes.get(task.node_id, {}) if task.kind == "node" else {}
    part = _record_part(ctx, s, user, inst, node, bool(allowed["actions"]))
    fields_html = detail_html = Markup("")
    if part is not None:
        rec, fd = part["row"], part["d"]
        shown = mask(ctx, user, fd, rec.data or {}, rec.org_id)  # phone / ID numbers by role
        labels = reference_labels(ctx, s, fd, [rec.data or {}], extra_orgs=[rec.org_id])
        detail_html = render_detail(ctx, fd, shown, labels, part["hidden"] | set(part["editable"]))
        if part["editable"]:
            not_here = set(fd.top_fields) - set(part["editable"])
            fields_html = render_form(ctx, fd, shown, dict(errors or {}), raw=raw, hidden=not_here)
    ops = node.get("operations") or {}
    comment_needed = any(a["comment_required"] for a in allowed["actions"])
    others = engine.tasks_of(s, inst.id)
    names = _names(s, {t.assignee_id for t in others} | {t.completed_by for t in others} | {inst.initiator_id})
    subject = s.get(FlowTask, task.subject_task_id) if task.subject_task_id else None
    return_targets = [(n, d.node_title(n, loc)) for n in (ops.get("return") or {}).get("to") or []]
    return {
        "task": task, "inst": inst, "d": d, "flow_title": d.title(loc), "node_title": d.node_title(task.node_id, loc),
        "screen": screen,
        "info": _task_info(ctx, s, task, names), "allowed": allowed, "ops": allowed["operations"],
        "return_targets": return_targets, "units": [(u, _known(ctx, "unit_", u)) for u in ("work_days", "work_hours", "minutes")],
        "record": part, "fields_html": fields_html, "detail_html": detail_html, "errors": dict(errors or {}),
        "comment": comment, "comment_needed": comment_needed, "error": error,
        "op_error": op_error, "op_values": dict(op_values or {}), "subject": subject,
        "reassign": _reassign_pickers(ctx, s, task, allowed, op_error, op_values),
        "subject_info": _task_info(ctx, s, subject, names) if subject is not None else None,
        "timeline": _timeline(ctx, s, inst), "diagram": _diagram(ctx, s, inst),
        "asked_unit": _known(ctx, "unit_", str((task.op_data or {}).get("unit") or "work_days")),
        "others": [_task_info(ctx, s, t, names) for t in others if t.status in LIVE_TASK],
        "initiator": names.get(inst.initiator_id or -1, ""),
        "inst_status": inbox.label(ctx, "instance", inst.status),
        "flash_text": _known(ctx, "done_", request.query_params.get("done", "")),
        "breadcrumbs": [(ctx.gettext("flows_inbox.title"), "/tasks"), (task.title or f"#{task.id}", None)],
    }


def _reassign_pickers(ctx: Any, s: Any, task: FlowTask, allowed: Mapping[str, Any],
                      op_error: tuple[str, CcmsError] | None, op_values: Mapping[str, Any] | None) -> Any:
    """The 转办 person and department pickers (with a failed post's values and errors), when offered."""
    if "reassign" not in allowed["operations"]:
        return None
    failed = op_error is not None and op_error[0] == "reassign"
    return picker_context(ctx, s, task.id, (op_values or {}) if failed else {},
                          (op_error[1].fields or {}) if failed and op_error else {})


def _task_response(request: Request, task_id: int, status: int = 200, **kw: Any) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    with ctx.db.session() as s:
        task = engine.get_task(s, task_id)
        return render(request, "flows/task.html", _task_context(request, ctx, s, user, task, **kw), status_code=status)


@authenticated
async def task_page(request: Request) -> Response:
    """The generic task page; a task whose plugin handles it on its own page (``ccms_task_screen``
    with ``redirect``) is sent there, so it is never done without what that page shows."""
    ctx, user = request.scope["ccms"], _user(request)
    with ctx.db.session() as s:
        task = engine.get_task(s, request.path_params["id"])
        inst = engine.get_instance(s, task.instance_id)
        _require_view(ctx, s, user, inst)
        screen = _task_screen(ctx, s, inst, task)
    if screen is not None and screen["redirect"]:
        return RedirectResponse(screen["url"], status_code=303)
    return _task_response(request, request.path_params["id"])


def _edits(ctx: Any, s: Any, user: Any, task: FlowTask, pairs: list[tuple[str, Any]],
           ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The editable fields of the node from a post (coerced and checked like a record form)."""
    inst = engine.get_instance(s, task.instance_id)
    if task.kind != "node" or not inst.record_id:
        return None, {}
    d = engine.definition(s, inst.flow_id, inst.def_version)[0]
    part = _record_part(ctx, s, user, inst, d.nodes.get(task.node_id, {}), True)
    if part is None or not part["editable"]:
        return None, {}
    fd, rec = part["d"], part["row"]
    posted = [f for f in part["editable"] if any(k == f or k.startswith((f + ".", f + "[")) for k, _v in pairs)]
    if not posted:  # nothing of the form posted (an API-like post): the record stays as it is
        return None, {}
    pairs = unmasked_posts(ctx, user, fd, pairs, rec.data or {}, rec.org_id)  # a masked number sent back: kept
    data, errors = _submitted(ctx, fd, pairs, set(fd.top_fields) - set(posted), rec.data or {})
    return {k: data.get(k) for k in posted}, errors


@authenticated
async def act_action(request: Request) -> Response:
    """The task form: record edits + comment + one action button."""
    ctx, user = request.scope["ccms"], _user(request)
    tid = request.path_params["id"]
    form = await request.form()
    action = str(form.get("action", "")).strip()
    comment = str(form.get("comment", ""))
    version = _int(form.get("version"))
    pairs = [(k, v) for k, v in form.multi_items() if k not in CONTROL_FIELDS]
    with ctx.db.session() as s:
        task = engine.get_task(s, tid)
        _require_view(ctx, s, user, engine.get_instance(s, task.instance_id))
        inst = engine.get_instance(s, task.instance_id)
        form_id, org_id = (inst.form_id, inst.org_id)
    upload_errors: dict[str, Any] = {}
    if pairs and form_id:
        pairs, upload_errors = await store_posted_files(request, form_id, pairs, org_id)
    data: dict[str, Any] | None = None
    errors: dict[str, Any] = {}
    try:
        with ctx.db.session() as s:
            task = engine.get_task(s, tid)
            data, errors = _edits(ctx, s, user, task, pairs)
            errors.update(upload_errors)
            if errors:
                raise ValidationFailed("提交的数据有误，请按提示修改", "the submitted data is invalid", fields=errors)
            extra = {}
            if task.kind == "approval" and task.op == "extend":
                extra = {k[4:]: str(form.get(k)).strip() for k in ("ext_amount", "ext_unit", "ext_due_at")
                         if str(form.get(k, "")).strip()}
                if "amount" in extra:
                    try:
                        extra["amount"] = float(extra["amount"])
                    except ValueError:
                        raise ValidationFailed("延期时长应为数字", "the amount must be a number", code="bad_amount",
                                               fields={"ext_amount": {"message": "应为数字",
                                                                      "message_en": "must be a number"}}) from None
            engine.act(s, ctx, actor_of(request), tid, action, comment=comment, data=data or extra or None,
                       version=version)
    except ValidationFailed as exc:
        return _task_response(request, tid, 422, errors={**errors, **(exc.fields or {})}, raw=pairs or None,
                              comment=comment, error=exc)
    except (Conflict, StaleDataError) as exc:
        return _task_response(request, tid, 409, raw=pairs or None, comment=comment,
                              error=exc if isinstance(exc, Conflict) else STALE)
    return RedirectResponse(f"/tasks/{tid}?done=completed", status_code=303)


@authenticated
async def claim_action(request: Request) -> Response:
    ctx = request.scope["ccms"]
    _user(request)
    tid = request.path_params["id"]
    form = await request.form()
    fn = engine.unclaim if request.url.path.endswith("/unclaim") else engine.claim
    try:
        with ctx.db.session() as s:
            fn(s, ctx, actor_of(request), tid, version=_int(form.get("version")))
    except (Conflict, ValidationFailed) as exc:
        return _task_response(request, tid, exc.status, error=exc)
    back = str(form.get("next", ""))
    if back.startswith("/tasks") and "//" not in back:
        return RedirectResponse(back, status_code=303)
    return RedirectResponse(f"/tasks/{tid}?done={'unclaimed' if fn is engine.unclaim else 'claimed'}",
                            status_code=303)


class OpIn(BaseModel):
    """A special operation: the fields it needs (reason/comment always welcome)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)
    comment: str = Field(default="", max_length=2000)
    to: str | None = Field(default=None, max_length=64, description="回退 target node")
    amount: float | None = Field(default=None, gt=0, description="延期 amount")
    unit: str | None = Field(default=None, description="延期 unit: minutes / work_hours / work_days")
    to_person: int | None = Field(default=None, description="转办 person id")
    to_org: int | None = Field(default=None, description="转办 department (org id)")
    version: int | None = None


def run_op(ctx: Any, s: Any, request: Request, tid: int, op: str, body: OpIn) -> operations.OpResult:
    """One special operation on task ``tid`` (``resume`` acts on its instance)."""
    actor = actor_of(request)
    reason = body.reason or body.comment
    if op == "return":
        return operations.request_return(s, ctx, actor, tid, body.to or "", reason, version=body.version)
    if op == "extend":
        return operations.request_extension(s, ctx, actor, tid, reason, amount=body.amount, unit=body.unit,
                                            version=body.version)
    if op == "suspend":
        return operations.suspend(s, ctx, actor, tid, reason, version=body.version)
    if op == "void":
        return operations.void(s, ctx, actor, tid, reason, version=body.version)
    if op == "reassign":
        return operations.reassign(s, ctx, actor, tid, reason, to_person=body.to_person, to_org=body.to_org,
                                   version=body.version)
    if op == "urge":
        return operations.urge(s, ctx, actor, tid, reason)
    if op == "withdraw":
        return operations.withdraw(s, ctx, actor, tid, reason)
    if op == "resume":
        task = engine.get_task(s, tid)
        return operations.resume(s, ctx, actor, task.instance_id, reason)
    raise NotFound(f"未知的操作 {op}", f"unknown operation {op}")


def _op_body(raw: Mapping[str, Any]) -> OpIn:
    """A posted operation form as :class:`OpIn` (empty fields dropped; a person given by user name)."""
    data = {k: str(v).strip() for k, v in raw.items() if k in OpIn.model_fields and str(v).strip()}
    return validate(OpIn, data)


@authenticated
async def op_action(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    tid, op = request.path_params["id"], request.path_params["op"]
    if op not in OPS:
        raise NotFound(f"未知的操作 {op}", f"unknown operation {op}")
    form = await request.form()
    raw = {k: v for k, v in form.items() if k != "csrf_token"}
    try:
        with ctx.db.session() as s:
            _require_view(ctx, s, user, engine.get_instance(s, engine.get_task(s, tid).instance_id))
            raw = _person_by_name(s, raw)
            res = run_op(ctx, s, request, tid, op, _op_body(raw))
    except (ValidationFailed, Conflict) as exc:
        return _task_response(request, tid, exc.status, op_error=(op, exc), op_values=raw)
    except StaleDataError:
        return _task_response(request, tid, 409, op_error=(op, STALE), op_values=raw)
    target = res.task_id if op == "withdraw" and res.task_id else tid
    return RedirectResponse(f"/tasks/{target}?done={op}{'_requested' if not res.applied else ''}", status_code=303)


def _person_by_name(s: Any, raw: dict[str, Any]) -> dict[str, Any]:
    """转办 forms let one type a user name (or an id) instead of a number."""
    who = str(raw.get("to_person", "")).strip()
    if who and not who.isdecimal():
        pid = s.scalar(select(Person.id).where(Person.username == who))
        raw = {**raw, "to_person": str(pid) if pid else "-1"}
    return raw


# --------------------------------------------------------------------------- start, instance

def start_permission(data: Mapping[str, Any]) -> str | None:
    """The permission 发起流程 needs for this definition; None when only its
    plugin starts it (``"start": {"manual": false}``, e.g. the case loop,
    which 信息采集 starts with its case)."""
    start = data.get("start") or {}
    if start.get("manual") is False:
        return None
    if start.get("permission"):
        return str(start["permission"])
    return access.perm(data["form"], "create") if data.get("form") else "core.flow.start"


def may_start(ctx: Any, user: Any, data: Mapping[str, Any]) -> bool:
    perm = start_permission(data)
    return perm is not None and ctx.can_anywhere(user, perm)


def _startable(ctx: Any, s: Any, user: Any, flow_id: str) -> tuple[Any, Any]:
    """The published flow and its form (or None), for a user who may start it."""
    d = engine.definition(s, flow_id)[0]
    perm = start_permission(d.data)
    if perm is None:
        raise Forbidden("此流程由其业务模块发起，不能在“发起流程”中发起",
                        "this flow is started by its module, not from the start page")
    ctx.require_anywhere(user, perm)
    fd = records.published(s, d.form) if d.form else None
    return d, fd


@authenticated
async def start_index(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    with ctx.db.session() as s:
        flows = []
        for fid, title, data in _published_flows(ctx, s):
            if not may_start(ctx, user, data):
                continue
            flows.append({"id": fid, "title": title,
                          "description": ctx.catalog.localize(data.get("description") or "", ctx.deployment.locale)})
    return render(request, "flows/start_index.html", {
        "flows": flows, "breadcrumbs": [(ctx.gettext("flows_inbox.title"), "/tasks"),
                                        (ctx.gettext("flows_inbox.start_title"), None)]})


def _start_response(request: Request, ctx: Any, s: Any, user: Any, d: Any, fd: Any, *, values: Any = None,
                    errors: Any = None, raw: Any = None, title: str = "", error: Any = None,
                    status: int = 200) -> Response:
    fields_html = Markup("")
    if fd is not None:
        defaults = {n: p["default"] for n, p in fd.schema.get("properties", {}).items() if "default" in p}
        fields_html = render_form(ctx, fd, values if values is not None else defaults, dict(errors or {}), raw=raw,
                                  hidden=access.hidden_fields(ctx, user, fd))
    loc = ctx.deployment.locale
    given = dict(values or {})
    variables = [(n, ctx.catalog.localize(v.get("title") or n, loc), v.get("type", "string"),
                  given.get(f"var.{n}", v.get("default", "")))
                 for n, v in d.variables.items() if isinstance(v, Mapping)] if fd is None else []
    return render(request, "flows/start.html", {
        "d": d, "fd": fd, "flow_title": d.title(loc), "fields_html": fields_html, "variables": variables,
        "errors": dict(errors or {}), "title": title, "error": error,
        "diagram": Markup(diagram.render_svg(d.data, locale=loc)),
        "breadcrumbs": [(ctx.gettext("flows_inbox.start_title"), "/flows/start"), (d.title(loc), None)]},
        status_code=status)


def _variables(d: Any, raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    out, errors = {}, {}
    for name, spec in d.variables.items():
        text = str(raw.get(f"var.{name}", "")).strip()
        if text == "":
            continue
        kind = (spec or {}).get("type", "string")
        try:
            out[name] = (float(text) if kind == "number" else int(text) if kind == "integer"
                         else text in ("1", "true", "on", "是") if kind == "boolean" else text)
        except ValueError:
            errors[f"var.{name}"] = {"message": "请输入数字", "message_en": "enter a number"}
    return out, errors


@authenticated
async def start_page(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    flow_id = request.path_params["flow"]
    if request.method == "GET":
        with ctx.db.session() as s:
            d, fd = _startable(ctx, s, user, flow_id)
            return _start_response(request, ctx, s, user, d, fd)
    form = await request.form()
    title = str(form.get("_title", "")).strip()[:200]
    pairs = [(k, v) for k, v in form.multi_items() if k not in ("csrf_token", "_title") and not k.startswith("var.")]
    with ctx.db.session() as s:
        d, fd = _startable(ctx, s, user, flow_id)
        org_id = s.scalar(select(Person.org_id).where(Person.id == user.id))
    upload_errors: dict[str, Any] = {}
    if fd is not None and pairs:
        pairs, upload_errors = await store_posted_files(request, fd.id, pairs, org_id)
    with ctx.db.session() as s:
        d, fd = _startable(ctx, s, user, flow_id)
        variables, errors = _variables(d, form)
        data: dict[str, Any] = {}
        if fd is not None:
            data, form_errors = _submitted(ctx, fd, pairs, set(access.hidden_fields(ctx, user, fd)))
            errors.update(form_errors)
            errors.update(upload_errors)
            if org_id is None or not ctx.can(user, access.perm(fd.id, "create"), org_id):
                errors["_"] = {"message": "您不能在本机构新建该表单的记录",
                               "message_en": "you may not create records of this form in your org"}
        if not errors:
            try:
                rid = records.create(s, actor_of(request), ctx, fd.id, data, org_id).id if fd is not None else None
                inst = engine.start(s, ctx, actor_of(request), flow_id, record_id=rid, variables=variables,
                                    title=title)
                iid = inst.id
                mine = [t.id for t in engine.tasks_of(s, iid, live=True) if t.assignee_id == user.id]
            except ValidationFailed as exc:
                s.rollback()
                errors = dict(exc.fields or {}) or {"_": {"message": exc.zh, "message_en": exc.en}}
        if errors:
            return _start_response(request, ctx, s, user, d, fd, values=data or dict(form), errors=errors,
                                   raw=pairs if fd is not None else None, title=title, status=422)
    if mine:
        return RedirectResponse(f"/tasks/{mine[0]}?done=started", status_code=303)
    return RedirectResponse(f"/flows/instances/{iid}?done=started", status_code=303)


def instance_data(ctx: Any, s: Any, inst: FlowInstance) -> dict[str, Any]:
    """An instance, its tasks and its timeline as plain data (page and API)."""
    tasks = engine.tasks_of(s, inst.id)
    names = _names(s, {t.assignee_id for t in tasks} | {t.completed_by for t in tasks} | {inst.initiator_id})
    d = engine.definition(s, inst.flow_id, inst.def_version)[0]
    loc = ctx.deployment.locale
    return {
        "id": inst.id, "version": inst.version, "flow_id": inst.flow_id, "def_version": inst.def_version,
        "flow_title": d.title(loc), "title": inst.title, "status": inst.status, "outcome": inst.outcome,
        "record_id": inst.record_id, "form_id": inst.form_id, "org_id": inst.org_id,
        "initiator_id": inst.initiator_id, "initiator": names.get(inst.initiator_id or -1, ""),
        "started_at": inst.started_at, "ended_at": inst.ended_at,
        "counts": {k: getattr(inst, k) or 0 for k in ("rework_count", "extend_count", "return_count",
                                                      "suspend_count", "urge_count", "reassign_count")},
        "tasks": [{"id": t.id, "version": t.version, "node_id": t.node_id, "node_title": d.node_title(t.node_id, loc),
                   "title": t.title, "kind": t.kind, "op": t.op, "status": t.status, "assignee_id": t.assignee_id,
                   "assignee": names.get(t.assignee_id or -1, ""), "completed_by": t.completed_by,
                   "created_at": t.created_at, "due_at": t.due_at, "warn_at": t.warn_at,
                   "completed_at": t.completed_at, "action": t.action, "comment": t.comment,
                   "level": engine.level(t)} for t in tasks],
    }


@authenticated
async def instance_page(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    with ctx.db.session() as s:
        inst = engine.get_instance(s, request.path_params["id"])
        _require_view(ctx, s, user, inst)
        data = instance_data(ctx, s, inst)
        for t in data["tasks"]:
            t["level_text"] = _level_text(ctx, t["level"])
            t["status_text"] = inbox.label(ctx, "task", t["status"])
        d = engine.definition(s, inst.flow_id, inst.def_version)[0]
        ops = []
        if inst.status == "suspended" and operations.may_resume(s, inst, user.id):
            ops = [t["id"] for t in data["tasks"] if t["status"] == "suspended"][:1]
        return render(request, "flows/instance.html", {
            "inst": data, "status_text": inbox.label(ctx, "instance", inst.status), "timeline": _timeline(ctx, s, inst),
            "diagram": _diagram(ctx, s, inst), "resume_task": ops[0] if ops else None,
            "flow_title": d.title(ctx.deployment.locale), "flash_text": _known(ctx, "done_", request.query_params.get("done", "")),
            "breadcrumbs": [(ctx.gettext("flows_inbox.title"), "/tasks"),
                            (inst.title or f"#{inst.id}", None)]})


# --------------------------------------------------------------------------- JSON API

class ActIn(BaseModel):
    """Complete a task with one of its actions."""

    model_config = ConfigDict(extra="forbid")
    action: str = Field(min_length=1, max_length=64)
    comment: str = Field(default="", max_length=10000)
    data: dict[str, Any] | None = Field(default=None, description="record fields editable at this node "
                                                                  "(an extension approval: due_at or amount/unit)")
    variables: dict[str, Any] | None = None
    version: int | None = Field(default=None, description="the task version read; a different one gives 409")


class VersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = None


class BulkIn(BaseModel):
    """Claim (``do: "claim"``) or complete with one action several tasks, each its own step."""

    model_config = ConfigDict(extra="forbid")
    ids: list[int] = Field(min_length=1, max_length=200)
    do: str = Field(min_length=1, max_length=64)


class TaskOut(BaseModel):
    id: int
    version: int
    instance_id: int
    instance_title: str | None = None
    flow_id: str
    node_id: str
    title: str
    status: str
    level: str
    due_at: str | None = None
    url: str = Field(default="", description="where the task opens: a plugin's own page (ccms_task_links) "
                                             "or /tasks/{id}; for 我发起的 the instance's page")


class InstanceOut(BaseModel):
    id: int
    flow_id: str
    def_version: int
    status: str
    tasks: list[dict[str, Any]]
    history: list[dict[str, Any]]


def _task_json(ctx: Any, s: Any, user: Any, task: FlowTask) -> dict[str, Any]:
    inst = engine.get_instance(s, task.instance_id)
    _require_view(ctx, s, user, inst)
    allowed = engine.available_actions(s, ctx, task, user.id)
    rec = s.get(FormRecord, inst.record_id) if inst.record_id else None
    data = None
    if rec is not None:
        fd = records.published(s, rec.form_id)
        data = access.strip(dict(rec.data or {}), set(access.hidden_fields(ctx, user, fd)))
        data = access.mask(ctx, user, fd, data, rec.org_id)  # phone / ID numbers by role
    return {"id": task.id, "version": task.version, "instance_id": inst.id, "instance_version": inst.version,
            "flow_id": task.flow_id, "node_id": task.node_id, "kind": task.kind, "op": task.op, "title": task.title,
            "status": task.status, "assignee_id": task.assignee_id, "claim": task.claim,
            "created_at": _iso(task.created_at), "warn_at": _iso(task.warn_at), "due_at": _iso(task.due_at),
            "completed_at": _iso(task.completed_at), "level": engine.level(task), "allowed": allowed,
            "record_id": inst.record_id, "record": data}


@authenticated
async def api_tasks(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    group = _group(request.query_params.get("group") or "todo")
    with ctx.db.session() as s:
        page = QUERIES[group](s, ctx, user, _filters(request))
        counts = inbox.counts(s, ctx, user)
        links = _instance_links(ctx, s, page.items) if group == "started" else task_links(ctx, s, page.items)
    return JSONResponse({"group": group, "items": [{**_jsonable(i), "url": links.get(i["id"], "")} for i in page.items],
                         "total": page.total,
                         "page": page.page, "page_size": page.page_size, "counts": counts})


@authenticated
async def api_task(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    with ctx.db.session() as s:
        return JSONResponse(_task_json(ctx, s, user, engine.get_task(s, request.path_params["id"])))


@authenticated
async def api_act(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    body = await json_body(request, ActIn)
    tid = request.path_params["id"]
    with ctx.db.session() as s:
        engine.act(s, ctx, actor_of(request), tid, body.action, comment=body.comment, data=body.data,
                   variables=body.variables, version=body.version)
    with ctx.db.session() as s:
        return JSONResponse(_task_json(ctx, s, user, engine.get_task(s, tid)))


@authenticated
async def api_claim(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    body = await json_body(request, VersionIn)
    tid = request.path_params["id"]
    fn = engine.unclaim if request.url.path.endswith("/unclaim") else engine.claim
    with ctx.db.session() as s:
        fn(s, ctx, actor_of(request), tid, version=body.version)
    with ctx.db.session() as s:
        return JSONResponse(_task_json(ctx, s, user, engine.get_task(s, tid)))


@authenticated
async def api_op(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    tid, op = request.path_params["id"], request.path_params["op"]
    if op not in OPS:
        raise NotFound(f"未知的操作 {op}", f"unknown operation {op}")
    body = await json_body(request, OpIn)
    with ctx.db.session() as s:
        _require_view(ctx, s, user, engine.get_instance(s, engine.get_task(s, tid).instance_id))
        res = run_op(ctx, s, request, tid, op, body)
    return JSONResponse({"op": res.op, "applied": res.applied, "instance_id": res.instance_id,
                         "task_id": res.task_id, "approval_task_id": res.approval_task_id})


@authenticated
async def api_bulk(request: Request) -> Response:
    ctx, _u = request.scope["ccms"], _user(request)
    body = await json_body(request, BulkIn)
    done, failed = bulk_run(ctx, request, body.ids, body.do)
    return JSONResponse({"done": done, "failed": [{"id": i, "message": m} for i, m in failed]},
                        status_code=200 if not failed else 207)


@authenticated
async def api_instance(request: Request) -> Response:
    ctx, user = request.scope["ccms"], _user(request)
    with ctx.db.session() as s:
        inst = engine.get_instance(s, request.path_params["id"])
        _require_view(ctx, s, user, inst)
        data = _jsonable(instance_data(ctx, s, inst))
        data["tasks"] = [_jsonable(t) for t in data["tasks"]]
        data["history"] = [{"at": _iso(h.at), "actor_id": h.actor_id, "actor": h.actor_name, "kind": h.kind,
                            "node_id": h.node_id, "to_node": h.to_node, "action": h.action, "comment": h.comment,
                            "data": h.data} for h in engine.history(s, inst.id)]
    return JSONResponse(data)


routes = [
    Route("/tasks", inbox_page, methods=["GET"]),
    Route("/tasks/bulk", bulk_action, methods=["POST"]),
    Route("/tasks/{id:int}", task_page, methods=["GET"]),
    Route("/tasks/{id:int}/act", act_action, methods=["POST"]),
    Route("/tasks/{id:int}/claim", claim_action, methods=["POST"]),
    Route("/tasks/{id:int}/unclaim", claim_action, methods=["POST"]),
    Route("/tasks/{id:int}/op/{op}", op_action, methods=["POST"]),
    Route("/flows/start", start_index, methods=["GET"]),
    Route("/flows/start/{flow}", start_page, methods=["GET", "POST"]),
    Route("/flows/instances/{id:int}", instance_page, methods=["GET"]),
    Route("/api/tasks", api_tasks, methods=["GET"]),
    Route("/api/tasks/bulk", api_bulk, methods=["POST"]),
    Route("/api/tasks/{id:int}", api_task, methods=["GET"]),
    Route("/api/tasks/{id:int}/act", api_act, methods=["POST"]),
    Route("/api/tasks/{id:int}/claim", api_claim, methods=["POST"]),
    Route("/api/tasks/{id:int}/unclaim", api_claim, methods=["POST"]),
    Route("/api/tasks/{id:int}/operations/{op}", api_op, methods=["POST"]),
    Route("/api/flows/instances/{id:int}", api_instance, methods=["GET"]),
]

_WHO = "logged in; assignee/candidate acts (else 403); participants or core.flow.view see"
api_docs = [
    api_doc("/api/tasks", "get", "我的待办列表 / my task lists (待办/超期/已办/我发起的) with counts", permission=_WHO,
            response=TaskOut, response_list=True, tag="flows",
            query={"group": "todo | overdue | done | started", "flow_id": "流程", "node_id": "环节", "q": "搜索标题",
                   "level": "none | green | yellow | red", "page": "页码", "page_size": "每页条数 (≤200)",
                   "sort": "due | -due | created | -created | done | -done"}),
    api_doc("/api/tasks/bulk", "post", "批量签收或办理 / bulk claim or complete (node `bulk`)", permission=_WHO,
            request=BulkIn, tag="flows", status=(200, 207)),
    api_doc("/api/tasks/{id}", "get", "任务详情与可用操作 / a task with its allowed actions", permission=_WHO,
            tag="flows"),
    api_doc("/api/tasks/{id}/act", "post", "办理任务 / complete a task (409 on a stale version or a closed task)",
            permission=_WHO, request=ActIn, tag="flows"),
    api_doc("/api/tasks/{id}/claim", "post", "签收任务 / claim a task", permission=_WHO, request=VersionIn,
            tag="flows"),
    api_doc("/api/tasks/{id}/unclaim", "post", "退回签收 / give a claimed task back", permission=_WHO,
            request=VersionIn, tag="flows"),
    api_doc("/api/tasks/{id}/operations/{op}", "post",
            "特殊操作 / special operation: return 回退, extend 延期, suspend 挂账, resume 恢复, void 作废, "
            "reassign 转办, urge 督办, withdraw 撤回", permission=_WHO, request=OpIn, tag="flows"),
    api_doc("/api/flows/instances/{id}", "get", "流程实例、任务与办理记录 / an instance, its tasks and history",
            permission=_WHO, response=InstanceOut, tag="flows"),
]
