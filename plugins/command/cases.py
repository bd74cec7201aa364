"""The case loop (CJJ/T 106): report → (verify) → file → dispatch → dispose → check → close.

The flow definition ``flow_defs/case_loop.json`` (``command_case_loop``) decides
who acts and when; this module is the case-side service around it:

* :func:`report` validates a report (class, location → grid, photos), numbers
  it, flags a possible duplicate, stores the ``command_case`` row and starts
  the flow instance with the time limit of the filing standard;
* :func:`act` does one step on the user's task of the case (立案, 派遣, 处置,
  核查, 结案, 核实, 合并) with the step's own checks;
* :func:`operation` / :func:`decide` / :func:`resume` are the special
  operations (延期, 回退, 挂账, 作废, 督办) and their approvals;
* :func:`sync` — the ``ccms_flow_event_occurred`` listener — keeps the typed columns
  (status, timestamps, counters, on-time flags) in step with the flow, in the
  step's own transaction.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, false, func, or_, select, true
from sqlalchemy.orm import Session

from ccms.api import (
    Actor,
    Conflict,
    NotFound,
    PluginContext,
    ValidationFailed,
    attachment_claim,
    attachment_get,
    attachment_may_attach,
    attachment_save,
    audit_record,
    field_error,
    flow_act,
    flow_claim,
    flow_instance,
    flow_involves,
    flow_may_act,
    flow_operation,
    flow_start,
    flow_tasks,
    flow_todo_instances,
    org_info,
    utcnow,
)

from . import geo, grids, standards
from .common import Classes, bad, dept_problem, settings, split_class, take_serials
from .models import CASE_SOURCES, OPEN_STATUSES, Case, Grid

FLOW_ID = "command_case_loop"
KIND_LETTER = {"component": "C", "event": "E"}
LETTER_KIND = {v: k for k, v in KIND_LETTER.items()}
VERIFY_SOURCES = ("hotline", "public", "media", "superior")
MAX_PHOTOS = 9
NODE_STATUS = {"verify": "verifying", "self_check": "reported", "file": "reported", "dispatch": "filed",
               "dispose": "dispatched", "check": "checking", "close": "checking"}
OUTCOME_STATUS = {"closed": "closed", "not_filed": "not_filed", "voided": "voided", "merged": "merged"}


# --- case numbers ------------------------------------------------------------------------

def local_today(ctx: PluginContext, when: dt.datetime | None = None) -> dt.date:
    """The deployment's calendar date (case numbers count per local day)."""
    tz = zoneinfo.ZoneInfo(ctx.timezone)
    return (when or utcnow()).astimezone(tz).date()


def case_number(ctx: PluginContext, session: Session, kind: str, class4: str, district: str = "",
                when: dt.datetime | None = None, conf: dict[str, Any] | None = None) -> str:
    """The next case number per the ``case_no_pattern`` setting; the serial
    is counted per distinct prefix (one atomic ``UPDATE … RETURNING``), so
    concurrent reports never share a number. ``conf``: the settings when the caller has read them."""
    conf = conf if conf is not None else settings(ctx, session)
    pattern = conf.get("case_no_pattern") or "{kind}{class}{yyyymmdd}{serial:04d}"
    day = local_today(ctx, when)
    values = {"kind": KIND_LETTER.get(kind, kind), "class": class4, "big": class4[:2], "district": district,
              "yyyymmdd": day.strftime("%Y%m%d"), "yyyy": f"{day.year:04d}", "mm": f"{day.month:02d}",
              "dd": f"{day.day:02d}"}
    if "{serial" not in pattern:
        pattern += "{serial:04d}"
    try:
        scope = "case:" + pattern.format(**values, serial=0)
        serial = take_serials(session, scope[:64])
        return pattern.format(**values, serial=serial)[:40]
    except (KeyError, ValueError, IndexError) as exc:
        raise ValidationFailed(f"案件编号格式设置有误（{exc}），请在插件设置中修正",
                               f"the case number pattern setting is invalid ({exc}); fix it in the plugin settings",
                               code="bad_case_pattern") from None


# --- reading -----------------------------------------------------------------------------

def get_case(session: Session, case_id: Any) -> Case:
    try:
        cid = int(case_id)
    except (TypeError, ValueError):
        cid = -1
    row = session.get(Case, cid) if cid > 0 else None
    if row is None:
        raise NotFound(f"案件 {case_id} 不存在", f"case {case_id} does not exist")
    return row


VIEW_ALL = "command.case.view_all"
HANDLE = "command.case.handle"


def view_scope(ctx: PluginContext, session: Session, user: Any) -> Any:
    """The cases ``user`` sees through ``command.case.view_all``: only those of the
    org subtrees where it is granted (a grant at the city = every case), by the rule
    of the statistics (``stats.scope_of``: district, street, community, main department)."""
    from .stats import user_scope
    return user_scope(ctx, session, user, VIEW_ALL)


def may_view(ctx: PluginContext, user: Any, session: Session, case: Case, scope: Any = None) -> bool:
    """Centre roles see the cases of the orgs where they hold ``view_all``; a reporter sees
    theirs; a department sees what was sent to it; anyone who holds (or held) a task of the
    case sees it. ``scope``: :func:`view_scope` when the caller has it already."""
    if user is None:
        return False
    if case.reporter_id == user.id:
        return True
    if (scope if scope is not None else view_scope(ctx, session, user)).contains(case):
        return True
    if any(ctx.can(user, HANDLE, d) for d in (case.dept_ids or [])):
        return True
    if case.instance_id is None:
        return False
    return flow_involves(session, case.instance_id, user.id)


def require_view(ctx: PluginContext, user: Any, session: Session, case_id: Any) -> Case:
    case = get_case(session, case_id)
    if not may_view(ctx, user, session, case):
        raise NotFound(f"案件 {case_id} 不存在", f"case {case_id} does not exist")  # no probing of ids
    return case


def todo_instances(uid: int) -> Any:
    """Case-loop instances with a live task the person may act on (theirs, or one they may claim)."""
    return flow_todo_instances(uid, FLOW_ID)


def visible_condition(ctx: PluginContext, session: Session, user: Any) -> Any:
    """SQL condition over ``command_case`` for the cases ``user`` sees in lists (the case
    list, the duplicate check): the ``view_all`` scope, the cases they reported, those
    waiting for them, and those of the departments where they hold ``handle``."""
    if user is None:
        return false()
    scope = view_scope(ctx, session, user)
    if scope.everything:
        return true()
    conds = [scope.condition(Case.__table__), Case.reporter_id == user.id,
             Case.instance_id.in_(todo_instances(user.id))]
    orgs = ctx.grant_orgs(user, HANDLE)
    if orgs:
        conds.append(Case.dept_id.in_(orgs))
    return or_(*conds)


def _case_of(ctx: PluginContext, session: Session, case_id: Any, viewer: Any) -> Case:
    """The case an action is about: with a ``viewer`` (every HTTP caller) a case they
    may not see is "not found", so an action never confirms that a hidden case exists."""
    return get_case(session, case_id) if viewer is None else require_view(ctx, viewer, session, case_id)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    kx, ky = geo.scales((lat1 + lat2) / 2)
    return math.hypot((lon1 - lon2) * kx, (lat1 - lat2) * ky)


def nearby_open(ctx: PluginContext, session: Session, class_code: str, lon: float, lat: float, *,
                radius_m: float | None = None, hours: float | None = None, exclude: int | None = None,
                limit: int = 10, conf: dict[str, Any] | None = None, viewer: Any = None,
                everyone: bool = False) -> list[tuple[Case, float]]:
    """Open cases of the same class within ``radius_m`` metres reported in the last ``hours``
    (settings ``duplicate_radius_m`` / ``duplicate_window_hours``), nearest first.
    Only those ``viewer`` may see (:func:`visible_condition`); ``everyone=True`` (the
    server's own duplicate flag on a report) looks at every case."""
    if viewer is None and not everyone:
        raise ValueError("nearby_open needs the viewer (or everyone=True for the server's own check)")
    conf = conf if conf is not None else settings(ctx, session)
    radius_m = float(radius_m if radius_m is not None else conf.get("duplicate_radius_m", 50))
    hours = float(hours if hours is not None else conf.get("duplicate_window_hours", 24))
    kx, ky = geo.scales(lat)
    dx, dy = radius_m / kx, radius_m / ky
    since = utcnow() - dt.timedelta(hours=hours)
    stmt = select(Case).where(Case.class_code == class_code, Case.status.in_(OPEN_STATUSES),
                              Case.reported_at >= since, Case.lon.between(lon - dx, lon + dx),
                              Case.lat.between(lat - dy, lat + dy))
    if exclude is not None:
        stmt = stmt.where(Case.id != exclude)
    if not everyone:
        stmt = stmt.where(visible_condition(ctx, session, viewer))
    found = [(c, distance_m(lon, lat, c.lon, c.lat)) for c in session.scalars(stmt.limit(200))]
    found = [(c, d) for c, d in found if d <= radius_m]
    found.sort(key=lambda p: (p[1], p[0].id))
    return found[:limit]


def merge_candidates(ctx: PluginContext, session: Session, case: Case, viewer: Any) -> list[tuple[Case, float | None]]:
    """The open cases ``case`` may be merged into, for the 合并 picker: the duplicate the report
    was flagged with, then the open cases of the class nearby (the duplicate check's radius and
    window, counted back from this case's report) — only those ``viewer`` may see."""
    out: list[tuple[Case, float | None]] = []
    if case.lon is not None and case.lat is not None:
        conf = settings(ctx, session)
        back = max((utcnow() - case.reported_at).total_seconds() / 3600, 0) if case.reported_at else 0
        out = [(c, d) for c, d in nearby_open(ctx, session, case.class_code, case.lon, case.lat, exclude=case.id,
                                              hours=float(conf.get("duplicate_window_hours", 24)) + back,
                                              conf=conf, viewer=viewer)]
    dup = session.get(Case, case.duplicate_of_id) if case.duplicate_of_id else None
    if dup is not None and all(c.id != dup.id for c, _d in out) and may_view(ctx, viewer, session, dup):
        far = (distance_m(case.lon, case.lat, dup.lon, dup.lat)
               if None not in (case.lon, case.lat, dup.lon, dup.lat) else None)
        out.insert(0, (dup, far))
    elif dup is not None:
        out.sort(key=lambda p: p[0].id != dup.id)  # the flagged duplicate first
    return [(c, d) for c, d in out if c.status in OPEN_STATUSES and c.merged_into_id is None
            and c.class_code == case.class_code]


# --- reporting ---------------------------------------------------------------------------

@dataclass
class ReportIn:
    """What a report carries (from the phone form or the JSON API)."""

    class_code: str = ""
    lon: Any = None
    lat: Any = None
    source: str = "supervisor"
    address: str = ""
    description: str = ""
    urgency: str = "normal"
    photos: list[str] = field(default_factory=list)
    photos_after: list[str] = field(default_factory=list)  # 自行处置: the fix, photographed
    self_dispose: bool = False
    component_ident: str = ""
    reporter_name: str = ""
    reporter_phone: str = ""


def parse_class(session: Session, class_code: str, classes: Classes | None = None) -> tuple[str, str]:
    """``(kind, 4-digit small class)`` of ``E0101``/``C0101``; refuses an unknown class.
    ``classes``: the dictionaries when the caller has loaded them (each load reads both)."""
    code = (class_code or "").strip().upper()
    if not code or code[:1] not in ("C", "E"):
        raise bad("class_code", "请选择问题分类（如 E0101）", "choose the problem class (e.g. E0101)")
    kind, small = split_class(code)
    (classes or Classes(session)).require(kind, small)
    return kind, small


def case_place(case_id: int) -> str:
    """Where a photo of this case is attached (``core_attachment.attached_to``)."""
    return f"command_case:{case_id}"


def check_photos(session: Session, ids: Any, field_name: str, *, required: bool = False, actor: Actor | None = None,
                 case: Case | None = None) -> list[str]:
    """Attachment ids that exist, are images, and ``actor`` may attach to the case (``case`` None:
    a case being reported): photos they uploaded themselves, attached nowhere else yet. Claim
    them with :func:`claim_photos` once the case exists."""
    if ids in (None, ""):
        ids = []
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or any(not isinstance(i, str) for i in ids):
        raise bad(field_name, "照片应为附件编号列表", "photos must be a list of attachment ids")
    ids = [i for i in dict.fromkeys(ids) if i]
    if required and not ids:
        raise bad(field_name, "请上传至少一张照片", "upload at least one photo")
    if len(ids) > MAX_PHOTOS:
        raise bad(field_name, f"最多 {MAX_PHOTOS} 张照片", f"at most {MAX_PHOTOS} photos")
    held = [*(case.photos_before or []), *(case.photos_after or [])] if case is not None else []
    for i in ids:
        try:
            row = attachment_get(session, i)
        except NotFound:
            raise bad(field_name, f"照片 {i} 不存在，请重新上传", f"photo {i} does not exist: upload it again") from None
        if not row.content_type.startswith("image/"):
            raise bad(field_name, f"“{row.name}”不是图片", f"{row.name!r} is not an image")
        attachment_may_attach(session, actor, row, field_name, case_place(case.id) if case else None, held)
    return ids


def claim_photos(session: Session, actor: Actor | None, case: Case, ids: list[str], field_name: str) -> None:
    """Attach photos checked by :func:`check_photos` to the case: from now on they belong to it
    alone (a photo already attached elsewhere in the meantime is refused)."""
    place = case_place(case.id)
    rows = [r for r in (attachment_get(session, i) for i in ids) if r.attached_to != place]
    attachment_claim(session, actor, rows, place, field_name)


def save_photo(ctx: PluginContext, session: Session, actor: Actor | None, name: str, data: bytes) -> Any:
    """Store one photo (PNG/JPEG/GIF/WebP, checked by content); refuses anything else."""
    if not data:
        raise bad("file", "请选择照片", "choose a photo")
    try:
        return attachment_save(ctx, session, actor, name or "photo", data, images_only=True)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.zh, exc.en, code="bad_photo", fields=field_error("file", exc.zh, exc.en)) from None


def limit_hours(ctx: PluginContext, session: Session, kind: str, class4: str, area_class: str,
                urgency: str, conf: dict[str, Any] | None = None,
                classes: Classes | None = None) -> tuple[float, float | None, str]:
    """Disposal limit in working hours from the filing standard (``find_standard``);
    ``(hours, amount, unit)`` — the setting ``default_limit_hours`` when no standard applies."""
    conf = conf if conf is not None else settings(ctx, session)
    std = standards.find_standard(session, class4, kind=kind, area_class=area_class, urgency=urgency,
                                  classes=classes)
    if std is None:
        return float(conf.get("default_limit_hours", 16)), None, ""
    amount, unit = float(std.time_limit), std.time_unit
    if unit == "work_days":
        return amount * float(conf.get("hours_per_work_day", 8)), amount, unit
    if unit == "minutes":
        return max(amount / 60.0, 0.01), amount, unit
    return amount, amount, unit


def pick_supervisor(ctx: PluginContext, session: Session, grid_code: str, fallback: int | None) -> int | None:
    """The grid's supervisor: its assigned 责任监督员 (while active and holding 监督员), else
    whoever (holding 监督员) reported most cases in the grid, else the first active 监督员;
    a supervisor reporting checks their own case."""
    holders = {p for p, _ in ctx.people_with_role("command_supervisor")}
    if fallback is not None and fallback in holders:
        return fallback
    if not holders:
        return fallback
    assigned = session.scalar(select(Grid.supervisor_id).where(Grid.code == grid_code))
    if assigned is not None and assigned in grids.supervisors(ctx, session):
        return int(assigned)
    row = session.execute(select(Case.reporter_id, func.count()).where(
        Case.grid_code == grid_code, Case.reporter_id.in_(holders)).group_by(Case.reporter_id)
        .order_by(func.count().desc(), Case.reporter_id).limit(1)).first()
    if row is not None:
        return int(row[0])
    return min(holders)


def report(ctx: PluginContext, session: Session, actor: Actor, data: ReportIn, *, root_org: int | None = None,
           supervisor_id: int | None = None) -> Case:
    """信息采集: validate, number, flag a duplicate, store and start the loop. Nothing is
    written when anything is refused (the caller's transaction rolls back)."""
    source = (data.source or "supervisor").strip()
    if source not in CASE_SOURCES:
        raise bad("source", f"来源应为 {'/'.join(CASE_SOURCES)} 之一", f"source must be one of {', '.join(CASE_SOURCES)}")
    classes = Classes(session)  # loaded once: the class check, the filing standard and the flow title
    kind, class4 = parse_class(session, data.class_code, classes)
    if data.lon in (None, "") or data.lat in (None, ""):
        raise ValidationFailed("请给出问题位置（经度、纬度），或点“使用我的位置”",
                               "no location: give longitude and latitude, or use your position", code="no_location",
                               fields={"lon": {"message": "请给出经度", "message_en": "longitude is required"},
                                       "lat": {"message": "请给出纬度", "message_en": "latitude is required"}})
    try:
        loc = grids.locate(session, data.lon, data.lat)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.zh, exc.en, code=exc.code,
                               fields={"lon": {"message": exc.zh, "message_en": exc.en}}) from None
    urgency = data.urgency if data.urgency in ("normal", "urgent") else "normal"
    photos = check_photos(session, data.photos, "photos", required=source == "supervisor", actor=actor)
    self_dispose = bool(data.self_dispose) and source == "supervisor"
    after = check_photos(session, data.photos_after, "photos_after", required=self_dispose, actor=actor)
    if set(photos) & set(after):
        raise bad("photos_after", "处置后照片不能与上报照片相同", "an after photo cannot also be a before photo")
    letter = KIND_LETTER[kind]
    code = letter + class4
    conf = settings(ctx, session)  # read once for the time limit, the duplicate window and the number
    hours, amount, unit = limit_hours(ctx, session, kind, class4, loc.area_class, urgency, conf, classes)
    dup = nearby_open(ctx, session, code, loc.x, loc.y, limit=1, conf=conf, everyone=True)
    now = utcnow()
    reporter = actor.id if source == "supervisor" else None
    case = Case(case_no=case_number(ctx, session, kind, class4, loc.grid_code[:6], now, conf), kind=letter,
                class_code=code, big_class=letter + class4[:2], source=source, status="reported", urgency=urgency,
                area_class=loc.area_class, district_code=loc.grid_code[:6], street_code=loc.street_code,
                community_code=loc.community_code, grid_code=loc.grid_code, lon=loc.x, lat=loc.y,
                address=(data.address or "").strip()[:300], description=(data.description or "").strip()[:4000],
                component_ident=(data.component_ident or "").strip()[:16], reporter_id=actor.id,
                reporter_name=(data.reporter_name or "").strip()[:100],
                reporter_phone=(data.reporter_phone or "").strip()[:40], reported_at=now, time_limit=amount,
                time_unit=unit, photos_before=photos, photos_after=after, self_disposed=self_dispose,
                duplicate_of_id=dup[0][0].id if dup else None, dept_ids=[])
    session.add(case)
    session.flush()
    claim_photos(session, actor, case, photos, "photos")
    claim_photos(session, actor, case, after, "photos_after")
    supervisor = supervisor_id or pick_supervisor(ctx, session, loc.grid_code, reporter)
    variables = {"case_id": case.id, "need_verify": source in VERIFY_SOURCES, "self_dispose": self_dispose,
                 "limit_hours": hours, "dept_ids": [], "photos_after": after}
    if supervisor is not None:
        variables["supervisor_id"] = supervisor
    if root_org is None:
        root_org = min(org_info(session))  # the deployment's root org (the first one created)
    inst = flow_start(session, ctx, actor, FLOW_ID, org_id=root_org, variables=variables,
                      title=f"{case.case_no} {classes.name(kind, class4)}"[:200])
    case.instance_id = inst.id
    sync_case(session, case)
    audit_record(session, actor, "command_case_report", "command_case", case.id,
                 after={"case_no": case.case_no, "class_code": code, "grid_code": case.grid_code, "source": source,
                        "duplicate_of_id": case.duplicate_of_id},
                 summary=f"上报案件 {case.case_no}")
    session.flush()
    return case


# --- acting ------------------------------------------------------------------------------

def _task_for(session: Session, case: Case, actor: Actor, action: str | None, task_id: Any = None,
              kinds: tuple[str, ...] = ("node",)) -> Any:
    """The live task of the case the actor works on: the given one, else one they may act on
    whose node offers ``action``; else (so the engine explains why) any live task with it."""
    if case.instance_id is None:
        raise Conflict("该案件没有流程", "the case has no flow instance", code="no_instance")
    tasks = [t for t in flow_tasks(session, case.instance_id, live=True) if t.kind in kinds]
    if task_id not in (None, ""):
        hit = next((t for t in flow_tasks(session, case.instance_id) if str(t.id) == str(task_id)), None)
        if hit is None:
            raise NotFound(f"任务 {task_id} 不属于该案件", f"task {task_id} is not a task of this case")
        return hit
    nodes = _nodes_with(action) if action else None
    fit = [t for t in tasks if nodes is None or t.node_id in nodes or t.kind != "node"]
    mine = [t for t in fit if flow_may_act(session, t, actor.id)]
    if mine:
        return mine[0]
    if fit:
        return fit[0]
    return None


def _nodes_with(action: str) -> set[str]:
    return {"confirm": {"verify"}, "unfounded": {"verify"}, "approve_self": {"self_check"},
            "refuse_self": {"self_check"}, "file": {"file"}, "not_file": {"file"}, "merge": {"file"},
            "dispatch": {"dispatch"}, "done": {"dispose"}, "pass": {"check"}, "fail": {"check"},
            "close": {"close"}}.get(action, set())


ACT_MARK = "command_case_act"
# Steps whose case-side data (departments, after photos, the case to merge into) only :func:`act`
# checks and stores: done elsewhere (core's generic task page, /api/tasks) they are refused.
CASE_SIDE_ACTIONS = {("dispatch", "dispatch"), ("dispose", "done"), ("file", "merge")}

ACTION_DONE = {"file": ("该案件已立案或已处理，不能重复立案", "the case was already filed or handled: it cannot be filed twice"),
               "not_file": ("该案件已立案或已处理", "the case was already filed or handled"),
               "dispatch": ("该案件当前不在待派遣环节", "the case is not waiting for dispatch"),
               "done": ("该案件当前不在处置环节", "the case is not being disposed"),
               "close": ("该案件当前不在待结案环节", "the case is not waiting to be closed")}


def check_departments(session: Session, dept_ids: Any) -> list[int]:
    """Departments to dispatch to: at least one, each an existing, active org."""
    if isinstance(dept_ids, (int, str)):
        dept_ids = [dept_ids]
    if not isinstance(dept_ids, list) or not dept_ids:
        raise bad("dept_ids", "请选择至少一个处置部门", "choose at least one department")
    orgs = org_info(session)
    out: list[int] = []
    for d in dept_ids:
        if d in (None, ""):
            continue
        p = dept_problem(orgs, d)
        if p:
            raise bad("dept_ids", *p)
        if int(d) not in out:
            out.append(int(d))
    if not out:
        raise bad("dept_ids", "请选择至少一个处置部门", "choose at least one department")
    return out


def act(ctx: PluginContext, session: Session, actor: Actor, case_id: Any, action: str, *, comment: str = "",
        task_id: Any = None, version: Any = None, dept_ids: Any = None, photos: Any = None,
        merge_into: Any = None, urgency: str | None = None, viewer: Any = None) -> Case:
    """One step of the loop on the actor's task of the case; the step's own checks first.
    ``viewer``: the signed-in user (HTTP callers); a case, or a case to merge into,
    that they may not see is "not found"."""
    case = _case_of(ctx, session, case_id, viewer)
    action = (action or "").strip()
    if action not in _nodes_with_all():
        raise ValidationFailed(f"未知的操作 {action}", f"unknown action {action!r}", code="action_not_allowed",
                               fields=field_error("action", f"未知的操作 {action}", f"unknown action {action!r}"))
    task = _task_for(session, case, actor, action, task_id)
    if task is None:
        zh, en = ACTION_DONE.get(action, ("该案件当前不在此环节", "the case is not at this step"))
        raise Conflict(zh, en, code="wrong_step")
    if version not in (None, ""):
        try:
            version = int(version)
        except (TypeError, ValueError):
            version = -1
    else:
        version = None
    variables: dict[str, Any] = {}
    if action == "dispatch":
        variables["dept_ids"] = check_departments(session, dept_ids)
    elif action == "done":
        variables["photos_after"] = check_photos(session, photos, "photos_after", required=True, actor=actor,
                                                 case=case)
        if set(variables["photos_after"]) & set(case.photos_before or []):
            raise bad("photos_after", "处置后照片不能与上报照片相同", "an after photo cannot also be a before photo")
    elif action == "merge":
        target = _merge_target(ctx, session, case, merge_into, viewer)
        comment = comment or f"合并到 {target.case_no}"
    if action == "file" and urgency in ("normal", "urgent") and urgency != case.urgency:
        kind = LETTER_KIND[case.kind]
        hours, amount, unit = limit_hours(ctx, session, kind, case.class_code[1:], case.area_class, urgency)
        case.urgency, case.time_limit, case.time_unit = urgency, amount, unit
        variables["limit_hours"] = hours
    session.info[ACT_MARK] = task.id  # this step carries the case-side checks (see on_flow_event)
    try:
        flow_act(session, ctx, actor, task.id, action, comment=comment, variables=variables or None, version=version)
    finally:
        session.info.pop(ACT_MARK, None)
    if action == "done":
        claim_photos(session, actor, case, variables["photos_after"], "photos_after")
        case.photos_after = list(dict.fromkeys([*(case.photos_after or []), *variables["photos_after"]]))
    if action == "merge":
        case.merged_into_id = target.id
        audit_record(session, actor, "command_case_merge", "command_case", case.id,
                     after={"merged_into": target.case_no}, summary=f"案件 {case.case_no} 合并到 {target.case_no}")
    session.flush()
    sync_case(session, case)
    return case


def _nodes_with_all() -> set[str]:
    return {"confirm", "unfounded", "approve_self", "refuse_self", "file", "not_file", "merge", "dispatch", "done",
            "pass", "fail", "close"}


def _merge_target(ctx: PluginContext, session: Session, case: Case, merge_into: Any, viewer: Any = None) -> Case:
    """The open case of the same class to merge into: its id (the picker) or its case number."""
    if merge_into in (None, "") or (isinstance(merge_into, str) and not merge_into.strip()):
        raise bad("merge_into", "请选择要合并到的案件", "choose the case to merge into")
    if isinstance(merge_into, str) and not merge_into.strip().isdecimal():
        found = session.scalar(select(Case.id).where(Case.case_no == merge_into.strip().upper()))
        merge_into = found if found is not None else merge_into.strip()
    try:
        target = _case_of(ctx, session, merge_into, viewer)
    except NotFound:
        raise bad("merge_into", f"要合并到的案件 {merge_into} 不存在",
                  f"the case to merge into ({merge_into}) does not exist") from None
    if target.id == case.id:
        raise bad("merge_into", "不能合并到自身", "a case cannot be merged into itself")
    if target.status not in OPEN_STATUSES or target.merged_into_id is not None:
        raise bad("merge_into", f"案件 {target.case_no} 已办结，不能合并", f"case {target.case_no} is no longer open")
    if target.class_code != case.class_code:
        raise bad("merge_into", "只能合并同一分类的案件", "only cases of the same class can be merged")
    return target


def claim(ctx: PluginContext, session: Session, actor: Actor, case_id: Any, task_id: Any = None, *,
          viewer: Any = None) -> Case:
    """签收: a department handler takes the dispose task of their department."""
    case = _case_of(ctx, session, case_id, viewer)
    task = _task_for(session, case, actor, "done", task_id)
    if task is None:
        raise Conflict("该案件没有待签收的处置任务", "the case has no disposal task to sign for", code="wrong_step")
    flow_claim(session, ctx, actor, task.id)
    sync_case(session, case)
    return case


OPS = ("return", "extend", "suspend", "void", "urge")


def operation(ctx: PluginContext, session: Session, actor: Actor, case_id: Any, op: str, *, reason: str = "",
              task_id: Any = None, to: str = "dispatch", amount: Any = None, unit: str | None = None,
              viewer: Any = None) -> Any:
    """延期 / 回退 / 挂账 / 作废 / 督办 on the case's current task (approval where the flow says)."""
    case = _case_of(ctx, session, case_id, viewer)
    if op not in OPS:
        raise ValidationFailed(f"未知的操作 {op}", f"unknown operation {op!r}", code="unknown_operation")
    task = _task_for(session, case, actor, None, task_id)
    if task is None:
        raise Conflict("该案件没有可操作的环节", "the case has no step to operate on", code="wrong_step")
    if op == "urge":
        res = flow_operation(session, ctx, actor, "urge", task.id, reason)
    elif op == "return":
        res = flow_operation(session, ctx, actor, "return", task.id, to or "dispatch", reason)
    elif op == "extend":
        amt = None
        if amount not in (None, ""):
            try:
                amt = float(amount)
            except (TypeError, ValueError):
                raise bad("amount", "延期时长应为数字", "the extension must be a number") from None
        res = flow_operation(session, ctx, actor, "extend", task.id, reason, amount=amt, unit=unit or "work_hours")
    else:
        res = flow_operation(session, ctx, actor, op, task.id, reason)
    if op == "void":
        case.void_reason = (reason or "").strip()[:2000]
    sync_case(session, case)
    return res


def decide(ctx: PluginContext, session: Session, actor: Actor, case_id: Any, approve: bool, *, comment: str = "",
           task_id: Any = None, due_at: Any = None, viewer: Any = None) -> Case:
    """An approver's decision on a pending operation of the case."""
    case = _case_of(ctx, session, case_id, viewer)
    if task_id in (None, ""):
        tasks = [t for t in flow_tasks(session, case.instance_id, live=True) if t.kind == "approval"]
        mine = [t for t in tasks if flow_may_act(session, t, actor.id)]
        task = (mine or tasks or [None])[0]
    else:
        task = _task_for(session, case, actor, None, task_id, kinds=("approval",))
    if task is None or task.kind != "approval":
        raise Conflict("该案件没有待审批的申请", "the case has no request waiting for approval", code="no_approval")
    data = {"due_at": due_at} if due_at else None
    flow_act(session, ctx, actor, task.id, "approve" if approve else "reject", comment=comment, data=data)
    sync_case(session, case)
    return case


def resume(ctx: PluginContext, session: Session, actor: Actor, case_id: Any, comment: str = "", *,
           viewer: Any = None) -> Case:
    case = _case_of(ctx, session, case_id, viewer)
    flow_operation(session, ctx, actor, "resume", case.instance_id, comment)
    sync_case(session, case)
    return case


# --- keeping the case columns in step with the flow ---------------------------------------

def sync_case(session: Session, case: Case) -> None:
    """Status, timestamps, counters and on-time flags from the flow instance and its tasks."""
    if case.instance_id is None:
        return
    session.info.get(SYNC_PENDING, set()).discard(case.instance_id)
    inst = flow_instance(session, case.instance_id)
    if inst is None:
        return
    tasks = flow_tasks(session, inst.id, kind="node")
    live = [t for t in tasks if t.status in ("open", "held", "suspended")]
    done = [t for t in tasks if t.status == "done"]
    # counters
    case.rework_count = inst.rework_count or 0
    case.extend_count = inst.extend_count or 0
    case.suspend_count = inst.suspend_count or 0
    case.return_count = inst.return_count or 0
    case.urge_count = inst.urge_count or 0
    # timestamps of the latest completion per step
    last: dict[tuple[str, str], Any] = {}
    for t in done:
        last[(t.node_id, t.action or "")] = t
    def at(node: str, *actions: str) -> Any:
        hits = [last[(node, a)] for a in actions if (node, a) in last]
        return max(hits, key=lambda t: t.id) if hits else None
    if (t := at("verify", "confirm")) is not None:
        case.verified_at, case.verifier_id = t.completed_at, t.completed_by
    if (t := at("file", "file")) is not None:
        case.filed_at, case.filer_id = t.completed_at, t.completed_by
    dispatches = [t for t in done if t.node_id == "dispatch" and t.action == "dispatch"]
    if dispatches:
        case.dispatched_at, case.dispatcher_id = dispatches[-1].completed_at, dispatches[-1].completed_by
    dispose = [t for t in tasks if t.node_id == "dispose"]
    depts: list[int] = []
    for t in dispose:
        if t.org_id is not None and t.org_id not in depts:
            depts.append(t.org_id)
    case.dept_ids = depts
    # 多次派遣 counts dispatches (a 派遣 done again after 回退); 协同 is one dispatch to several departments
    case.dispatch_count = len(dispatches)
    case.cooperative = any(len(r) > 1 for r in _dispatch_rounds(dispose, {t.id for t in dispatches}))
    _sync_disposal(case, inst, dispose, live)
    if (t := at("check", "pass")) is not None:
        case.checked_at, case.checker_id = t.completed_at, t.completed_by
    # status
    if inst.status == "ended":
        outcome = inst.outcome or ""
        case.status = OUTCOME_STATUS.get(outcome, "voided" if outcome == "voided" else "closed")
        if case.status == "closed":
            case.closed_at = inst.ended_at
            if case.self_disposed and case.disposed_at is None:
                case.disposed_at, case.disposed_on_time = case.reported_at, True
            case.closed_on_time = all(t.due_at is None or (t.completed_at or inst.ended_at) <= t.due_at
                                      for t in tasks if t.status == "done")
        elif case.status == "voided":
            case.voided_at = inst.ended_at
    elif inst.status == "suspended":
        case.status = "suspended"
    else:
        nodes = [t for t in live if t.status != "suspended"]
        if nodes:
            t = nodes[-1]
            st = NODE_STATUS.get(t.node_id, case.status)
            if t.node_id == "dispose":
                round_ = [x for x in nodes if x.node_id == "dispose"]
                start = min(x.created_at for x in round_)
                if any(x.claimed_at is not None for x in round_) or any(
                        x.node_id == "dispose" and x.created_at >= start for x in done):
                    st = "disposing"  # signed for, or another department of the round is done
            case.status = st


def _rounds(dispose: list[Any]) -> list[list[Any]]:
    """The dispose tasks in disposal rounds, oldest first: the tasks one step created together
    (a 派遣 to one or several departments, or a 返工), i.e. with the same causing task."""
    rounds: dict[Any, list[Any]] = {}
    for t in dispose:
        rounds.setdefault(t.prev_task_id if t.prev_task_id is not None else ("at", t.created_at), []).append(t)
    return sorted(rounds.values(), key=lambda r: min(t.id for t in r))


def _dispatch_rounds(dispose: list[Any], dispatch_ids: set[int]) -> list[set[int]]:
    """The departments of each 派遣 (the rounds a completed dispatch task created)."""
    return [{t.org_id for t in r} for r in _rounds(dispose) if r[0].prev_task_id in dispatch_ids]


def _sync_disposal(case: Case, inst: Any, dispose: list[Any], live: list[Any]) -> None:
    """Department, deadline and disposal of the CURRENT round (GB/T 30428.4 judges 按期处置 on
    the disposal that was accepted): a failed 核查 (返工) or a 回退 opens a new round, so the
    earlier round's ``disposed_at`` / ``disposed_on_time`` no longer stand; the deadline is the
    open task's. A round counts as disposed once every department of it is done and the case has
    moved on to 核查 / 结案 (or was closed)."""
    if not dispose:
        return
    current = _rounds(dispose)[-1]
    open_ = [t for t in current if t.status in ("open", "held", "suspended")]
    shown = open_ or current
    case.dept_id = shown[0].org_id
    dues = [t.due_at for t in shown if t.due_at is not None]
    case.due_at = max(dues) if dues else case.due_at
    case.round_started_at = min(t.created_at for t in current)
    done = [t for t in current if t.status == "done" and t.action == "done"]
    beyond = ((inst.status == "ended" and (inst.outcome or "") == "closed")
              or (bool(live) and all(t.node_id in ("check", "close") for t in live)))
    if done and not open_ and beyond:
        last = max(done, key=lambda t: (t.completed_at, t.id))
        case.disposed_at, case.handler_id = last.completed_at, last.completed_by
        case.disposed_on_time = all(t.due_at is None or t.completed_at <= t.due_at for t in done)
    else:
        case.disposed_at = case.disposed_on_time = case.handler_id = None


def refuse_outside_case_page(session: Session, instance_id: int) -> None:
    """派遣, 处置 and 合并 need what only the case page asks for (departments, after photos, the
    case to merge into): refuse them from elsewhere, naming the page (the step rolls back)."""
    case = session.scalar(select(Case).where(Case.instance_id == instance_id))
    where = f"/command/cases/{case.id}" if case is not None else "/command/cases"
    raise ValidationFailed(f"该环节须在案件页面办理（处置部门、处置后照片等在那里填写）：{where}",
                           f"do this step on the case's page (departments, after photos, ...): {where}",
                           code="use_case_page")


def task_screen(session: Session, instance: Any, task: Any) -> dict[str, Any] | None:
    """``ccms_task_screen``: a case-loop task is handled on its case page; 派遣, 处置完成 and
    合并 only there (they need departments, after photos, the case to merge into)."""
    if instance.flow_id != FLOW_ID:
        return None
    case_id = session.scalar(select(Case.id).where(Case.instance_id == instance.id))
    if case_id is None:
        return None
    return {"url": f"/command/cases/{case_id}", "redirect": True,
            "actions": sorted(a for n, a in CASE_SIDE_ACTIONS if n == task.node_id)}


def task_links(session: Session, tasks: list[dict[str, Any]]) -> dict[int, str]:
    """``ccms_task_links``: every case-loop task of a listed page opens its case page (one query
    for the page: the cases of the listed instances)."""
    mine = [t for t in tasks if t.get("flow_id") == FLOW_ID and t.get("id") is not None]
    if not mine:
        return {}
    by_inst = dict(session.execute(select(Case.instance_id, Case.id).where(
        Case.instance_id.in_({t["instance_id"] for t in mine}))).all())
    return {t["id"]: f"/command/cases/{by_inst[t['instance_id']]}" for t in mine if t["instance_id"] in by_inst}


def on_flow_event(ctx: PluginContext, session: Session, event: dict[str, Any]) -> None:
    """``ccms_flow_event_occurred`` listener: re-sync the case of this flow's instance."""
    if event.get("flow_id") != FLOW_ID or event.get("instance_id") is None:
        return
    if event.get("topic") in ("task.urged", "task.warning"):
        return
    if (event.get("topic") == "task.completed" and (event.get("node_id"), event.get("action")) in CASE_SIDE_ACTIONS
            and session.info.get(ACT_MARK) != event.get("task_id")):
        refuse_outside_case_page(session, event["instance_id"])
    # A step sends several events; the case is brought in step once, when the
    # transaction commits (or earlier, by the service that drove the step).
    session.info.setdefault(SYNC_PENDING, set()).add(event["instance_id"])


SYNC_PENDING = "command_case_sync"  # session.info: instance ids whose case needs sync_case


@event.listens_for(Session, "before_commit")
def _sync_pending(session: Session) -> None:
    pending = session.info.get(SYNC_PENDING)
    while pending:
        sync_instance(session, pending.pop())


def sync_instance(session: Session, iid: int) -> None:
    """Sync the case of flow instance ``iid`` (none: nothing to do)."""
    # The instance names its case (variable ``case_id``); both are usually in the session already
    # (a report or a step just touched them), so this costs no query. The query is the fallback.
    inst = flow_instance(session, iid)
    cid = (inst.variables or {}).get("case_id") if inst is not None else None
    case = session.get(Case, cid) if isinstance(cid, int) else None
    if case is not None and case.instance_id is None and case.id == cid:
        return  # the report that starts this instance links and syncs its case itself
    if case is None or case.instance_id != iid:
        case = session.scalar(select(Case).where(Case.instance_id == iid))
    if case is not None:
        sync_case(session, case)

