"""Screens and JSON API of the case loop (/command/intake, /command/cases, /command/dispatch,
/command/tasks, /command/cases/{id}; /api/command/cases...).

Every step goes through :mod:`.cases` (one transaction: the flow step, the
case columns, the audit entries). Who may act is the flow engine's
decision (403 for someone else's task); the screens only show the buttons
the engine offers the user.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from starlette.datastructures import UploadFile

from ccms.api import (
    CcmsError,
    Forbidden,
    HTMLResponse,
    JSONResponse,
    NotFound,
    RedirectResponse,
    Request,
    Response,
    Route,
    ValidationFailed,
    actor_of,
    api_doc,
    attachment_get,
    attachment_path,
    ctx_of,
    flow_available_actions,
    flow_diagram_svg,
    flow_instance,
    flow_open_tasks,
    flow_task_level,
    flow_tasks,
    flow_todo,
    flow_timeline,
    org_info,
    pii_reveal,
    render,
    requires,
    user_of,
    utcnow,
)
from ccms.api import is_htmx, redirect, wants_fragment

from . import case_filters, cases, contact, grids, matrix
from .map_data import map_context
from .common import Classes, settings
from .gridnames import grid_labels
from .models import CASE_SOURCES, CASE_STATUSES, Case

VIEW, REPORT = "command.view", "command.case.report"
DONE_WHAT = ("act", "claim", "op", "decide", "resume")  # what a detail-page button did (the page confirms it)
PAGE_SIZE = 20


# --- helpers ---------------------------------------------------------------------------------

def _int(v: Any, default: int = 1) -> int:
    try:
        return max(int(v), 1)
    except (TypeError, ValueError):
        return default


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else v


def case_out(c: Case) -> dict[str, Any]:
    """The JSON shape of a case (API and tests)."""
    return {k: _iso(getattr(c, k)) for k in (
        "id", "case_no", "kind", "class_code", "big_class", "source", "status", "urgency", "area_class",
        "district_code", "street_code", "community_code", "grid_code", "lon", "lat", "address", "description",
        "dept_id", "dept_ids", "reporter_id", "reported_at", "verified_at", "filed_at", "dispatched_at",
        "disposed_at", "checked_at", "closed_at", "voided_at", "due_at", "time_limit", "time_unit",
        "disposed_on_time", "closed_on_time", "rework_count", "extend_count", "suspend_count", "return_count",
        "dispatch_count", "cooperative", "round_started_at", "urge_count", "self_disposed", "duplicate_of_id",
        "merged_into_id", "photos_before", "photos_after", "instance_id", "version", "filer_id", "dispatcher_id",
        "handler_id", "checker_id", "verifier_id")}


NEARBY_FIELDS = ("id", "case_no", "class_code", "status", "grid_code", "address", "reported_at")


def nearby_out(c: Case, distance: float) -> dict[str, Any]:
    """What the duplicate check shows of a nearby case: enough to recognise the same
    problem (number, class, status, place, when, how far) and open it; no reporter,
    no description, no photos (the case page shows those to whoever may see it)."""
    return {**{k: _iso(getattr(c, k)) for k in NEARBY_FIELDS}, "distance_m": round(distance, 1)}


def _num(v: Any) -> str:
    """4.0 → "4", 2.5 → "2.5": numbers as people write them."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "" if v is None else str(v)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def case_limit(ctx: Any, s: Any, c: Case) -> tuple[str, str]:
    """The disposal limit shown to people: the filing standard's amount and unit, else the
    setting ``default_limit_hours`` (what the flow was started with)."""
    if c.time_limit:
        return _num(c.time_limit), c.time_unit or "work_hours"
    return _num(settings(ctx, s).get("default_limit_hours", 16)), "work_hours"


def _deadline_level(c: Case, now: dt.datetime | None = None) -> str:
    """green / yellow (past 80 % of the disposal limit) / red (overdue) / none — of the current
    disposal round: its start (派遣 or 返工) and its open task's deadline; a round still open
    (after a failed 核查 too) is measured against now."""
    start = c.round_started_at or c.dispatched_at
    if c.due_at is None or start is None:
        return "none"
    end = c.disposed_at or now or utcnow()
    if end >= c.due_at:
        return "red"
    total = (c.due_at - start).total_seconds()
    return "yellow" if total > 0 and (end - start).total_seconds() >= 0.8 * total else "green"


def _my_tasks(s: Any, ctx: Any, user: Any, c: Case) -> list[dict[str, Any]]:
    """The live tasks of the case with the buttons the engine offers this user."""
    if c.instance_id is None:
        return []
    out = []
    for t in flow_tasks(s, c.instance_id, live=True):
        av = flow_available_actions(s, ctx, t, user.id)
        out.append({"id": t.id, "version": t.version, "node_id": t.node_id, "kind": t.kind, "op": t.op,
                    "title": t.title, "status": t.status, "org_id": t.org_id, "assignee_id": t.assignee_id,
                    "due_at": t.due_at, "level": flow_task_level(t), "actions": av["actions"],
                    "operations": av["operations"], "claim": av["claim"]})
    return out


# the fields each step's form asks for besides its comment box
ACT_FIELDS = {"dispatch": ["dept_ids"], "done": ["photos"], "merge": ["merge_into"], "file": ["urgency"]}
NO_REASON_OPS = ("urge", "resume")  # operations whose note may stay empty


def _choices(ctx: Any, t: dict[str, Any]) -> list[dict[str, Any]]:
    """One form per thing the user may do on task ``t``: its steps (or an approval's two
    answers), then its special operations; each with its own fields and comment box."""
    out: list[dict[str, Any]] = []
    comment, reason, note = (ctx.gettext(k) for k in ("command.case.comment", "command.case.reason",
                                                     "command.casepage.note"))
    for a in t["actions"]:
        if t["kind"] == "approval":
            out.append({"key": a["action"], "do": "decide", "approve": "1" if a["action"] == "approve" else "0",
                        "label": a["label"], "fields": [], "comment": ("comment", a["comment_required"]),
                        "comment_label": comment})
        else:  # 合并 without a note says which case it went into (cases.act)
            out.append({"key": a["action"], "do": "act", "action": a["action"], "label": a["label"],
                        "fields": ACT_FIELDS.get(a["action"], []),
                        "comment": ("comment", a["comment_required"] and a["action"] != "merge"),
                        "comment_label": note if a["action"] == "merge" else comment})
    for op in t["operations"]:
        out.append({"key": "op-" + op, "do": "resume" if op == "resume" else "op", "op": op,
                    "label": ctx.gettext("command.case.op." + op), "fields": ["amount"] if op == "extend" else [],
                    "comment": ("comment" if op == "resume" else "reason", op not in NO_REASON_OPS),
                    "comment_label": note if op in NO_REASON_OPS else reason})
    return out


def _timeline(s: Any, ctx: Any, c: Case) -> list[dict[str, Any]]:
    """Every step of the case, oldest first, in the words of the flow definition (node titles,
    action labels) — 签收 for the engine's claim, as CJJ/T 106 calls it."""
    if c.instance_id is None:
        return []
    out = []
    for h in flow_timeline(s, ctx, c.instance_id):
        label = ctx.gettext("command.case.action.claim") if h["kind"] == "claim" else h["kind_text"]
        out.append({"at": _iso(h["at"]), "at_dt": h["at"], "actor": h["who"], "kind": h["kind"], "kind_label": label,
                    "node_title": h["node"], "node_id": h["node_id"], "to_node": h["to_id"], "to_title": h["to"],
                    "action": h["action_id"], "action_label": h["action"], "comment": h["comment"]})
    return out


def _suggest(s: Any, c: Case) -> Any:
    try:
        return matrix.suggest_department(s, c.class_code, c.grid_code)
    except CcmsError:
        return None


def _list_query(ctx: Any, s: Any, user: Any, params: Any) -> Any:
    """Cases the user may see (:func:`cases.visible_condition`: the ``view_all`` grant covers its
    own org subtree only), filtered by ``status`` (or ``view``), ``q``, ``source``, ``dept``.
    Everyone sees the cases they reported, their department's, and those waiting for them
    (a grid supervisor checks cases others reported)."""
    stmt = select(Case).where(cases.visible_condition(ctx, s, user))
    view = params.get("view", "")
    if view == "mine":
        stmt = stmt.where(Case.instance_id.in_(cases.todo_instances(user.id)))
    elif view == "to_file":
        stmt = stmt.where(Case.status.in_(("reported", "verifying")))
    elif view == "to_close":
        stmt = stmt.where(Case.status == "checking", Case.checked_at.is_not(None))
    elif view == "duplicates":
        stmt = stmt.where(Case.duplicate_of_id.is_not(None), Case.status.in_(("reported", "verifying")))
    return stmt.where(*case_filters.list_conditions(params))


def _page_of(s: Any, stmt: Any, page: int, *, exact: bool = True) -> tuple[list[Case], int]:
    """One page and the total: exact for the API; for the screen counted up to
    ``case_filters.COUNT_CAP`` + 1, so a list over years of cases costs what a page costs."""
    total = (int(s.scalar(select(func.count()).select_from(stmt.with_only_columns(Case.id).subquery())) or 0)
             if exact else case_filters.count_capped(s, stmt))
    rows = list(s.scalars(stmt.order_by(Case.reported_at.desc(), Case.id.desc())
                          .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return rows, total


async def _body(request: Request) -> dict[str, Any]:
    """A JSON object body (API) or the posted form (screens)."""
    ct = request.headers.get("content-type", "")
    if "application/json" in ct:
        try:
            data = await request.json()
        except ValueError:
            raise ValidationFailed("请求体不是有效的 JSON", "the body is not valid JSON", code="bad_json") from None
        if not isinstance(data, dict):
            raise ValidationFailed("请求体应为 JSON 对象", "the body must be a JSON object", code="bad_json")
        return data
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        vals = form.getlist(key)
        out[key] = vals if key in ("dept_ids", "photos", "photos_after") or len(vals) > 1 else vals[0]
    return out


async def _store_uploads(request: Request, s: Any, values: list[Any]) -> list[str]:
    """Photo files posted by a form (no script needed) stored as attachments; ids kept as they are."""
    ctx = ctx_of(request)
    ids: list[str] = []
    for v in values or []:
        if isinstance(v, UploadFile):
            if not v.filename:
                continue
            data = await v.read(20 * 1024 * 1024 + 1)
            ids.append(cases.save_photo(ctx, s, actor_of(request), v.filename, data).id)
        elif isinstance(v, str) and v.strip():
            ids.append(v.strip())
    return ids


def _report_in(data: dict[str, Any], photos: list[str], after: list[str]) -> cases.ReportIn:
    def text(k: str) -> str:
        v = data.get(k)
        return v if isinstance(v, str) else ("" if v is None else str(v))
    return cases.ReportIn(class_code=text("class_code").split(" ")[0], lon=data.get("lon"), lat=data.get("lat"),
                          source=text("source") or "supervisor", address=text("address"),
                          description=text("description"), urgency=text("urgency") or "normal", photos=photos,
                          photos_after=after, self_dispose=data.get("self_dispose") in (True, "1", "on", "true"),
                          component_ident=text("component_ident"), reporter_name=text("reporter_name"),
                          reporter_phone=text("reporter_phone"))


# --- JSON API --------------------------------------------------------------------------------

@requires(VIEW)
async def api_photo(request: Request) -> Response:
    """POST /api/command/photos (multipart ``file``) → the attachment (201); images only."""
    ctx = ctx_of(request)
    form = await request.form()
    f = form.get("file")
    if not isinstance(f, UploadFile) or not f.filename:
        raise cases.bad("file", "请选择照片", "choose a photo")
    data = await f.read(20 * 1024 * 1024 + 1)
    with ctx.session() as s:
        row = cases.save_photo(ctx, s, actor_of(request), f.filename, data)
        out = {"id": row.id, "name": row.name, "content_type": row.content_type, "size": row.size}
    return JSONResponse(out, status_code=201)


@requires(REPORT)
async def api_report(request: Request) -> Response:
    ctx = ctx_of(request)
    data = await _body(request)
    with ctx.session() as s:
        photos = data.get("photos") or []
        after = data.get("photos_after") or []
        c = cases.report(ctx, s, actor_of(request), _report_in(data, photos if isinstance(photos, list) else [photos],
                                                              after if isinstance(after, list) else [after]))
        out = {**case_out(c), **contact.contact(ctx, user_of(request), s, c)}
    return JSONResponse(out, status_code=201)


@requires(VIEW)
async def api_list(request: Request) -> Response:
    ctx, user = ctx_of(request), user_of(request)
    page = _int(request.query_params.get("page"))
    with ctx.session() as s:
        rows, total = _page_of(s, _list_query(ctx, s, user, request.query_params), page)
        return JSONResponse({"items": [case_out(c) for c in rows], "total": total, "page": page})


@requires(VIEW)
async def api_detail(request: Request) -> Response:
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        c = cases.require_view(ctx, user, s, request.path_params["id"])
        sug = _suggest(s, c)
        hist = [{k: v for k, v in h.items() if k != "at_dt"} for h in _timeline(s, ctx, c)]
        tasks = [{**t, "due_at": _iso(t["due_at"])} for t in _my_tasks(s, ctx, user, c)]
        return JSONResponse({**case_out(c), **contact.contact(ctx, user, s, c), "tasks": tasks, "history": hist,
                             "suggested_dept_id": sug.dept_org_id if sug else None,
                             "deadline_level": _deadline_level(c)})


@requires(VIEW)
async def api_act(request: Request) -> Response:
    ctx = ctx_of(request)
    data = await _body(request)
    with ctx.session() as s:
        c = cases.act(ctx, s, actor_of(request), request.path_params["id"], str(data.get("action") or ""),
                      comment=str(data.get("comment") or ""), task_id=data.get("task_id"),
                      version=data.get("version"), dept_ids=data.get("dept_ids"), photos=data.get("photos"),
                      merge_into=data.get("merge_into"), urgency=data.get("urgency"), viewer=user_of(request))
        return JSONResponse(case_out(c))


@requires(VIEW)
async def api_claim(request: Request) -> Response:
    ctx = ctx_of(request)
    data = await _body(request)
    with ctx.session() as s:
        c = cases.claim(ctx, s, actor_of(request), request.path_params["id"], data.get("task_id"),
                        viewer=user_of(request))
        return JSONResponse(case_out(c))


@requires(VIEW)
async def api_operation(request: Request) -> Response:
    ctx = ctx_of(request)
    data = await _body(request)
    with ctx.session() as s:
        res = cases.operation(ctx, s, actor_of(request), request.path_params["id"], request.path_params["op"],
                              reason=str(data.get("reason") or ""), task_id=data.get("task_id"),
                              to=str(data.get("to") or "dispatch"), amount=data.get("amount"), unit=data.get("unit"),
                              viewer=user_of(request))
        c = cases.get_case(s, request.path_params["id"])
        return JSONResponse({**case_out(c), "applied": res.applied, "approval_task_id": res.approval_task_id})


@requires(VIEW)
async def api_decide(request: Request) -> Response:
    ctx = ctx_of(request)
    data = await _body(request)
    with ctx.session() as s:
        c = cases.decide(ctx, s, actor_of(request), request.path_params["id"],
                         data.get("approve") in (True, "1", "true", "on"), comment=str(data.get("comment") or ""),
                         task_id=data.get("task_id"), due_at=data.get("due_at"), viewer=user_of(request))
        return JSONResponse(case_out(c))


@requires(VIEW)
async def api_resume(request: Request) -> Response:
    ctx = ctx_of(request)
    data = await _body(request)
    with ctx.session() as s:
        c = cases.resume(ctx, s, actor_of(request), request.path_params["id"], str(data.get("comment") or ""),
                         viewer=user_of(request))
        return JSONResponse(case_out(c))


@requires(VIEW)
async def api_nearby(request: Request) -> Response:
    ctx = ctx_of(request)
    qp = request.query_params
    with ctx.session() as s:
        kind, small = cases.parse_class(s, qp.get("class_code", ""))
        loc = grids.locate(s, qp.get("lon"), qp.get("lat"))
        found = cases.nearby_open(ctx, s, cases.KIND_LETTER[kind] + small, loc.x, loc.y, viewer=user_of(request))
        return JSONResponse({"grid_code": loc.grid_code, "items": [nearby_out(c, d) for c, d in found]})


@requires(VIEW)
async def reveal_phone(request: Request) -> Response:
    """The reporter's full phone number for a holder of the unmask right in the case's org; audited."""
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        c = cases.require_view(ctx, user, s, request.path_params["id"])
        if not contact.sees_phone(ctx, user, s, c):
            raise Forbidden("没有权限查看完整的联系电话", "you may not see this phone number in full")
        html = pii_reveal(s, actor_of(request), "command_case", c.id, "reporter_phone", c.reporter_phone,
                          "case-reporter-phone")
    return HTMLResponse(html)


# --- photos ----------------------------------------------------------------------------------

@requires(VIEW)
async def photo(request: Request) -> Response:
    """A case photo (or its thumbnail) for whoever may see the case."""
    from starlette.responses import FileResponse
    ctx, user = ctx_of(request), user_of(request)
    att_id = request.path_params["att"]
    with ctx.session() as s:
        c = cases.require_view(ctx, user, s, request.path_params["id"])
        if att_id not in (c.photos_before or []) + (c.photos_after or []):
            raise NotFound("照片不存在", "no such photo")
        row = attachment_get(s, att_id)
        thumb = request.path_params.get("size") == "thumb"
        path = attachment_path(ctx, row, thumb=thumb)
        ctype = "image/png" if thumb else row.content_type
    if not path.exists():
        raise NotFound("照片文件已丢失", "the photo's file is missing")
    return FileResponse(path, media_type=ctype, headers={"Cache-Control": "private, max-age=86400"})


# --- screens ---------------------------------------------------------------------------------

def _class_choices(s: Any) -> list[tuple[str, str]]:
    classes = Classes(s)
    out = []
    for kind, letter in (("event", "E"), ("component", "C")):
        for e in classes.small_classes(kind):
            out.append((letter + e.code, f"{letter}{e.code} {e.name}"))
    return out


def _intake_context(request: Request, s: Any, values: dict[str, Any], errors: dict[str, Any],
                    message: str = "") -> dict[str, Any]:
    ctx, user = ctx_of(request), user_of(request)
    loc_en = ctx.locale == "en"
    field_errors = {k: (e.get("message_en") if loc_en and e.get("message_en") else e.get("message", ""))
                    for k, e in errors.items() if isinstance(e, dict)}
    return {"values": values, "errors": errors, "field_errors": field_errors, "message": message,
            "classes": _class_choices(s),
            "sources": CASE_SOURCES, "intake_operator": ctx.can_anywhere(user, "command.case.view_all"),
            **map_context(request, s)}


INTAKE_FIELDS = {"class_code", "lon", "lat", "address", "description", "photos", "photos_after", "reporter_name",
                 "reporter_phone"}  # the fields of the report form that show their own errors


@requires(REPORT)
async def intake_page(request: Request) -> Response:
    """信息采集: the phone-friendly report form (photos, position, class, nearby open cases)."""
    ctx = ctx_of(request)
    if request.method == "GET":
        with ctx.session() as s:
            return render(request, "command/case_intake.html", _intake_context(request, s, {}, {}))
    form = await request.form()
    values = {k: form.get(k) for k in form if k not in ("csrf_token", "photos", "photos_after")}
    user = user_of(request)
    ids: dict[str, list[str]] = {}
    lost: set[str] = set()
    try:
        for name in ("photos", "photos_after"):  # stored first, in their own transaction: a refused
            posted = form.getlist(name)          # report keeps them for the next try
            ids[name] = [v.strip() for v in posted if isinstance(v, str) and v.strip()]
            if any(isinstance(v, UploadFile) and v.filename for v in posted):
                lost.add(name)
                with ctx.session() as s:
                    ids[name] = await _store_uploads(request, s, posted)
                lost.discard(name)
        with ctx.session() as s:
            c = cases.report(ctx, s, actor_of(request), _report_in(values, ids["photos"], ids["photos_after"]))
            cid = c.id
    except ValidationFailed as exc:
        errors = dict(exc.fields or {})
        if "file" in errors:  # a bad upload: under the field it was chosen in
            errors[next(iter(lost), "photos")] = errors.pop("file")
        with ctx.session() as s:
            shown = errors and set(errors) <= INTAKE_FIELDS
            context = _intake_context(request, s, values, errors, "" if shown else _says(ctx, exc))
            context["kept"] = {n: _kept_photos(ctx, s, user, ids.get(n) or []) for n in ("photos", "photos_after")}
            context["lost"] = lost
            return render(request, "command/case_intake.html", context, status_code=422)
    return RedirectResponse(f"/command/cases/{cid}?reported=1", status_code=303)


@requires(VIEW)
async def intake_nearby(request: Request) -> Response:
    """htmx fragment: open cases of the chosen class near the chosen point, or where the point is."""
    ctx = ctx_of(request)
    qp = request.query_params
    ctxv: dict[str, Any] = {"items": [], "error": "", "grid": None}
    with ctx.session() as s:
        try:
            if qp.get("lon") and qp.get("lat"):
                loc = grids.locate(s, qp.get("lon"), qp.get("lat"))
                ctxv["grid"] = loc
                if qp.get("class_code"):
                    kind, small = cases.parse_class(s, qp.get("class_code", "").split(" ")[0])
                    ctxv["items"] = cases.nearby_open(ctx, s, cases.KIND_LETTER[kind] + small, loc.x, loc.y,
                                                      viewer=user_of(request))
        except ValidationFailed as exc:
            ctxv["error"] = exc.zh
        return render(request, "command/_case_nearby.html", ctxv)


def _class_namer(s: Any) -> Callable[[Case], str]:
    """``class_name(case)``: the small class's name, so lists read 「E0102 暴露垃圾」 rather than a bare code."""
    classes = Classes(s)
    return lambda c: classes.name("event" if c.kind == "E" else "component", (c.class_code or "")[1:])


@requires(VIEW)
async def cases_page(request: Request) -> Response:
    """案件管理: the shift leader's workbench (to file, to close, duplicates) and the case list."""
    ctx, user = ctx_of(request), user_of(request)
    qp = request.query_params
    page = _int(qp.get("page"))
    with ctx.session() as s:
        rows, total = _page_of(s, _list_query(ctx, s, user, qp), page, exact=False)
        capped = total > case_filters.COUNT_CAP
        views = ["mine"] + (["to_file", "to_close", "duplicates"] if ctx.can_anywhere(user, "command.case.view_all") else [])
        counts = {}
        for view in views:
            counts[view] = s.scalar(select(func.count()).select_from(
                _list_query(ctx, s, user, {"view": view}).with_only_columns(Case.id).subquery())) or 0
        names = org_info(s, {c.dept_id for c in rows})
        shown = min(total, case_filters.COUNT_CAP)
        context = {"rows": rows, "total": f"{shown:,}+" if capped else total, "page": page,
                   "pages": max((shown + PAGE_SIZE - 1) // PAGE_SIZE, 1),
                   "view": qp.get("view", ""), "status": qp.get("status", ""), "q": qp.get("q", ""),
                   "statuses": CASE_STATUSES, "counts": counts, "views": views,
                   "dept_names": {k: v.name for k, v in names.items()},
                   "grid_names": grid_labels(s, [c.grid_code for c in rows]),
                   "level": _deadline_level, "class_name": _class_namer(s)}
        if wants_fragment(request, "list"):
            return render(request, "command/_case_list.html", context)
        return render(request, "command/case_list.html", context)


@requires(VIEW)
async def dispatch_page(request: Request) -> Response:
    """任务派遣: filed cases grouped by the suggested department, with deadline and quick dispatch."""
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        rows = list(s.scalars(_list_query(ctx, s, user, {"status": "filed"}).order_by(Case.filed_at, Case.id).limit(300)))
        groups: dict[Any, list[tuple[Case, Any]]] = {}
        for c in rows:
            sug = _suggest(s, c)
            groups.setdefault(sug.dept_org_id if sug else None, []).append((c, sug))
        names = {k: v.name for k, v in org_info(s, [k for k in groups if k]).items()}
        depts = [(o.id, o.name) for o in sorted(org_info(s).values(), key=lambda o: o.name)
                 if o.active and o.kind == "department"]
        tasks = flow_open_tasks(s, [c.instance_id for c in rows], "dispatch")
        board = [{"dept_id": k, "dept_name": names.get(k, ""), "items": [
            {"case": c, "sug": sug, "task": tasks.get(c.instance_id), "limit": case_limit(ctx, s, c),
             "level": flow_task_level(tasks[c.instance_id]) if c.instance_id in tasks else "none"} for c, sug in v]}
            for k, v in sorted(groups.items(), key=lambda kv: (kv[0] is None, names.get(kv[0], "")))]
        return render(request, "command/case_dispatch.html", {"board": board, "depts": depts, "total": len(rows),
                                                              "class_name": _class_namer(s),
                                                              "grid_names": grid_labels(s, [c.grid_code for c in rows])})


@requires("command.case.handle")
async def tasks_page(request: Request) -> Response:
    """部门处置: the handler's inbox — core's 待办 query narrowed to the case loop."""
    ctx, user = ctx_of(request), user_of(request)
    page = _int(request.query_params.get("page"))
    with ctx.session() as s:
        res = flow_todo(s, ctx, user, {"flow_id": cases.FLOW_ID, "page": page})
        inst_ids = [i["instance_id"] for i in res.items]
        by_inst = {c.instance_id: c for c in s.scalars(select(Case).where(Case.instance_id.in_(inst_ids)))} \
            if inst_ids else {}
        items = [{**i, "case": by_inst.get(i["instance_id"])} for i in res.items]
        return render(request, "command/case_tasks.html", {"items": items, "total": res.total, "page": page})


@requires(VIEW)
async def detail_page(request: Request) -> Response:
    """案件详情: facts, photos before/after, deadline colour, timeline, the flow with the current step,
    one form per available step."""
    return _detail(request)


def _state_key(data: dict[str, Any]) -> str:
    """Which form of a task a post came from (the key of :func:`_choices`)."""
    what = str(data.get("do") or "act")
    if what == "decide":
        return "approve" if data.get("approve") == "1" else "reject"
    if what in ("op", "resume"):
        return "op-" + (str(data.get("op") or "") if what == "op" else "resume")
    return "claim" if what == "claim" else str(data.get("action") or "")


def _kept_photos(ctx: Any, s: Any, user: Any, ids: list[str]) -> list[Any]:
    """Photos a refused post had already stored: shown again (ticked) when the poster uploaded
    them and they are not attached anywhere yet."""
    out = []
    for i in dict.fromkeys(ids):
        try:
            row = attachment_get(s, i)
        except CcmsError:
            continue
        if row.created_by == user.id and row.attached_to is None and row.content_type.startswith("image/"):
            out.append(row)
    return out


def _detail(request: Request, error: CcmsError | None = None, state: dict[str, Any] | None = None,
            fragment: bool = False) -> Response:
    """The case page. After a refused post (``error`` with the post's ``state``): the form it came
    from filled again with the error next to its field (``fragment``: that form alone, for htmx),
    status 4xx; an error no form on the page can show is shown at the top."""
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        c = cases.require_view(ctx, user, s, request.path_params["id"])
        tasks = _my_tasks(s, ctx, user, c)
        for t in tasks:
            t["choices"] = _choices(ctx, t)
        live_nodes = {t["node_id"] for t in tasks}
        inst = flow_instance(s, c.instance_id)
        sug = _suggest(s, c)
        names = {k: v.name for k, v in org_info(s, [*(c.dept_ids or []), sug.dept_org_id if sug else None,
                                                     *[t["org_id"] for t in tasks]]).items()}
        depts = [(o.id, o.name) for o in sorted(org_info(s).values(), key=lambda o: o.name)
                 if o.active and o.kind == "department"]
        # the case it duplicates / was merged into: named only to whoever may see that case too
        dup, merged = (s.get(Case, i) if i else None for i in (c.duplicate_of_id, c.merged_into_id))
        dup, merged = (x if x is not None and cases.may_view(ctx, user, s, x) else None for x in (dup, merged))
        merging = any(ch["key"] == "merge" for t in tasks for ch in t["choices"])
        if state is not None:
            state["kept"] = _kept_photos(ctx, s, user, state.get("photo_ids") or [])
            state["photos_lost"] = bool(state.get("uploaded")) and not state["kept"]
        target = None
        if state is not None:
            if not state["task"]:  # a post without its task (API-like): the task offering that step
                state["task"] = next((str(t["id"]) for t in tasks for ch in t["choices"] if ch["key"] == state["key"]), "")
            target = next(((t, ch) for t in tasks for ch in t["choices"]
                           if str(t["id"]) == state["task"] and ch["key"] == state["key"]), None)
            if state["key"] == "claim" and any(str(t["id"]) == state["task"] and t["claim"] for t in tasks):
                target = (None, None)
        context = {"c": c, "contact": contact.contact(ctx, user, s, c, page=True), "tasks": tasks,
                   "timeline": _timeline(s, ctx, c), "sug": sug, "names": names,
                   "limit": case_limit(ctx, s, c), "state": state,
                   "depts": depts, "dup": dup, "merged": merged, "level": _deadline_level(c),
                   "merge_options": cases.merge_candidates(ctx, s, c, user) if merging else [],
                   "class_name_of": _class_namer(s),
                   "dept_text": "、".join(names.get(d, str(d)) for d in c.dept_ids or []),
                   "grid": grid_labels(s, [c.grid_code]).get(c.grid_code),
                   "reported": request.query_params.get("reported") == "1",
                   "error": "", "error_en": "",
                   "done": error is None and request.query_params.get("done", "") in DONE_WHAT}
        if error is not None and target is None:  # the step is gone (someone else was quicker …)
            context["error"], context["error_en"] = _says(ctx, error), ""
        elif error is not None:
            context["error"] = ctx.gettext("command.casepage.fix")
        if fragment and target is not None and target[0] is not None:
            context.update(task=target[0], choice=target[1])
            return render(request, "command/_case_form_one.html", context, status_code=error.status if error else 200)
        context.update(
            svg=flow_diagram_svg(s, inst.flow_id, inst.def_version, highlight=live_nodes,
                                 locale=ctx.locale) if inst else "",
            map=grids.svg_map(s, community=c.community_code, highlight=c.grid_code) if c.community_code else None,
            class_name=Classes(s).name("event" if c.kind == "E" else "component", c.class_code[1:]))
        response = render(request, "command/case_detail.html", context)
        if error is not None:
            response.status_code = error.status
            if fragment:  # the form is gone: the whole page (htmx swaps the body)
                response.headers["HX-Retarget"], response.headers["HX-Reswap"] = "body", "innerHTML"
        return response


def _says(ctx: Any, exc: CcmsError) -> str:
    """A refusal in the deployment's language (the English text only for an English deployment)."""
    return exc.en if ctx.locale == "en" and exc.en else exc.zh


def _form_state(ctx: Any, form: Any, data: dict[str, Any], exc: CcmsError, photo_ids: list[str],
                uploaded: bool) -> dict[str, Any]:
    """What a refused post typed and chose, with its errors per field, to fill its form again."""
    errors = dict(exc.fields or {})
    shown = {"comment", "reason", "photos_after", "photos", "file", "dept_ids", "merge_into", "amount"}
    message = "" if errors and set(errors) <= shown else _says(ctx, exc)
    return {"task": str(data.get("task_id") or ""), "key": _state_key(data), "errors": errors, "message": message,
            "typed": {k: v for k, v in data.items() if isinstance(v, str)},
            "dept_ids": [str(d) for d in form.getlist("dept_ids") if d], "photo_ids": photo_ids,
            "uploaded": uploaded}


@requires(VIEW)
async def detail_post(request: Request) -> Response:
    """The forms of the detail page: act / claim / op / decide / resume. Refused: the page (or,
    for htmx, the form) again with what was typed and the errors next to their fields."""
    ctx = ctx_of(request)
    cid = request.path_params["id"]
    form = await request.form()
    data: dict[str, Any] = {k: form.get(k) for k in form if k not in ("csrf_token", "photos", "dept_ids")}
    what = str(data.get("do") or "act")
    hx = is_htmx(request)
    posted = form.getlist("photos") if what == "act" else []
    photo_ids = [v.strip() for v in posted if isinstance(v, str) and v.strip()]  # kept from a refused post
    uploaded = any(isinstance(v, UploadFile) and v.filename for v in posted)
    try:
        actor, viewer = actor_of(request), user_of(request)
        if uploaded:  # stored in their own transaction: a refused step keeps them for the next try
            with ctx.session() as s:
                cases.require_view(ctx, viewer, s, cid)  # before storing uploads: a hidden case is "not found"
                photo_ids = await _store_uploads(request, s, posted)
        with ctx.session() as s:
            if what == "claim":
                cases.claim(ctx, s, actor, cid, data.get("task_id"), viewer=viewer)
            elif what == "op":
                cases.operation(ctx, s, actor, cid, str(data.get("op") or ""), reason=str(data.get("reason") or ""),
                                task_id=data.get("task_id"), amount=data.get("amount"), viewer=viewer)
            elif what == "decide":
                cases.decide(ctx, s, actor, cid, data.get("approve") == "1", comment=str(data.get("comment") or ""),
                             task_id=data.get("task_id"), viewer=viewer)
            elif what == "resume":
                cases.resume(ctx, s, actor, cid, str(data.get("comment") or ""), viewer=viewer)
            else:
                merge_into = data.get("merge_into") or str(data.get("merge_into_no") or "").strip() or None
                cases.act(ctx, s, actor, cid, str(data.get("action") or ""), comment=str(data.get("comment") or ""),
                          task_id=data.get("task_id"), version=data.get("version"),
                          dept_ids=[d for d in form.getlist("dept_ids") if d], photos=photo_ids,
                          merge_into=merge_into, urgency=data.get("urgency") or None, viewer=viewer)
    except CcmsError as exc:
        if exc.status in (401, 404):
            raise
        # nothing of the step was written; the photos stored above stay, offered again
        return _detail(request, exc, _form_state(ctx, form, data, exc, photo_ids, uploaded), fragment=hx)
    url = f"/command/cases/{cid}?done={what if what in DONE_WHAT else 'act'}"
    return redirect(request, url)


routes = [
    Route("/command/intake", intake_page, methods=["GET", "POST"], name="command.intake"),
    Route("/command/intake/nearby", intake_nearby, name="command-intake-nearby"),
    Route("/command/cases", cases_page, name="command.cases"),
    Route("/command/dispatch", dispatch_page, name="command.dispatch"),
    Route("/command/tasks", tasks_page, name="command.tasks"),
    Route("/command/cases/{id:int}", detail_page, name="command-case"),
    Route("/command/cases/{id:int}/reporter-phone", reveal_phone, methods=["POST"], name="command-case-phone"),
    Route("/command/cases/{id:int}/do", detail_post, methods=["POST"], name="command-case-do"),
    Route("/command/cases/{id:int}/photos/{att}", photo, name="command-case-photo"),
    Route("/command/cases/{id:int}/photos/{att}/{size}", photo, name="command-case-photo-thumb"),
    Route("/api/command/photos", api_photo, methods=["POST"], name="api-command-photos"),
    Route("/api/command/cases", api_list, name="api-command-cases"),
    Route("/api/command/cases/report", api_report, methods=["POST"], name="api-command-case-report"),
    Route("/api/command/cases/nearby", api_nearby, name="api-command-cases-nearby"),
    Route("/api/command/cases/{id:int}", api_detail, name="api-command-case"),
    Route("/api/command/cases/{id:int}/act", api_act, methods=["POST"], name="api-command-case-act"),
    Route("/api/command/cases/{id:int}/claim", api_claim, methods=["POST"], name="api-command-case-claim"),
    Route("/api/command/cases/{id:int}/ops/{op}", api_operation, methods=["POST"], name="api-command-case-op"),
    Route("/api/command/cases/{id:int}/decide", api_decide, methods=["POST"], name="api-command-case-decide"),
    Route("/api/command/cases/{id:int}/resume", api_resume, methods=["POST"], name="api-command-case-resume"),
]

_TEXT = {"type": "string"}
REPORT_BODY = {  # the JSON body of POST /api/command/cases/report (checked by cases.report)
    "type": "object", "required": ["class_code"], "properties": {
        "class_code": {"type": "string", "description": "事部件小类，如 E0101 / the small class, e.g. E0101"},
        "lon": {"type": "number"}, "lat": {"type": "number"},
        "source": _TEXT, "address": _TEXT, "description": _TEXT, "urgency": _TEXT,
        "photos": {"type": "array", "items": _TEXT, "description": "POST /api/command/photos 返回的 id"},
        "photos_after": {"type": "array", "items": _TEXT}, "self_dispose": {"type": "boolean"},
        "component_ident": _TEXT, "reporter_name": _TEXT, "reporter_phone": _TEXT}}

api_docs = [
    api_doc("/api/command/photos", "post", "上传案件照片（仅图片）/ upload a case photo (images only)", permission=VIEW,
            tag="command", status=201),
    api_doc("/api/command/cases/report", "post", "上报案件 / report a case", permission=REPORT, tag="command",
            status=201, body=REPORT_BODY),
    api_doc("/api/command/cases", "get", "案件列表 / list cases", permission=VIEW, tag="command",
            query={"view": "mine | to_file | to_close | duplicates", "status": "status or open", "q": "text",
                   "page": "page"}),
    api_doc("/api/command/cases/nearby", "get", "附近的同类未结案件 / open cases of the class nearby", permission=VIEW,
            tag="command", query={"class_code": "E0101", "lon": "longitude", "lat": "latitude"}),
    api_doc("/api/command/cases/{id}", "get", "案件详情（含待办与时间线）/ a case with its tasks and timeline",
            permission=VIEW, tag="command"),
    api_doc("/api/command/cases/{id}/act", "post", "办理当前环节 / act on the current step", permission=VIEW,
            tag="command"),
    api_doc("/api/command/cases/{id}/claim", "post", "签收处置任务 / sign for a disposal task", permission=VIEW,
            tag="command"),
    api_doc("/api/command/cases/{id}/ops/{op}", "post",
            "特殊操作：延期、回退、挂账、作废、督办 / special operation: extend, return, suspend, void, urge",
            permission=VIEW, tag="command"),
    api_doc("/api/command/cases/{id}/decide", "post", "审批特殊操作 / approve or reject an operation",
            permission=VIEW, tag="command"),
    api_doc("/api/command/cases/{id}/resume", "post", "恢复挂账案件 / resume a suspended case", permission=VIEW,
            tag="command"),
]
