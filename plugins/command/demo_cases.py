"""Demo cases for ``ccms demo``: the loop's people and ~20,000 cases over the last twelve months,
looking like a city at work on the day the demo is seeded.

* People (printed with the other demo logins): a supervisor per community,
  intake operators, shift leaders, dispatchers, a handler per department and
  a leader of 姑苏区 (today's key figures of that district on the home page).
* History: ~19,800 finished cases (closed, not filed, voided, merged) as
  bulk-inserted ``command_case`` rows with consistent timestamps, counters
  and on-time flags — no flow instances (nothing is left to do on them).
  They are spread over the past year in working time (office hours of working
  days on the case flow's calendar, so none is reported at night or on a
  holiday), a little more in summer and slowly growing, so the monthly trend
  looks like a platform in use; every step, deadline and closure lies in
  office hours too.
* Open work: ~200 recent cases driven through the real flow engine (report,
  file, dispatch, sign for, dispose, check, suspend) so every screen has
  tasks to act on. Their steps are then laid out again in working time
  (:func:`_retime`): each finished step took part of its limit, and the open
  task has used a chosen share of its own — most within the first 80 %
  (green), some in the warning band, a few overdue (:data:`LEVELS`), counted
  back from the moment of seeding. Every deadline is the working calendar's,
  so none falls at night. This part runs in a second transaction right
  after the demo's own commits (the engine finds assignees through
  committed role grants).
* Addresses: district + street + the grid's road + a house number
  (``demo.Addresses``).

Seeded with a fixed random seed; takes a few seconds on SQLite.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from ccms.api import Actor, attachment_save, calendar_get, demo_person, flow_demo_retime, flow_tasks, utcnow

from . import cases
from .common import Classes
from .models import Case, Grid, Serial

HISTORY = 19_800
OPEN = 200
SOURCES = [("supervisor", 75), ("hotline", 12), ("public", 6), ("media", 3), ("superior", 4)]
CALENDAR = "default"  # the case flow's working calendar (flow_defs: "calendar")
BIG_DEPT = {"C01": "dept.szgy", "C02": "dept.szgy", "C03": "dept.srhw", "C04": "dept.ylh", "E01": "dept.srhw",
            "E02": "dept.srhw", "E03": "dept.cgj", "E04": "dept.szgy", "E05": "brigade"}
STAGES = ["verifying", "reported", "filed", "dispatched", "disposing", "checking", "to_close", "suspended"]
# How far the open task of a stage's k-th case is into its limit, in turn: G within the first
# 80 % (green), Y in the warning band, R overdue — 80 % / 10 % / 10 % of each stage.
LEVELS = "GGYGGGRGGG"
SHARE = {"G": (0.03, 0.55), "Y": (0.82, 0.97), "R": (1.1, 2.5)}
US = 1_000_000
MINUTE, HOUR = 60 * US, 3600 * US
DESCRIPTIONS = {"supervisor": ["巡查发现{name}", "{name}，需尽快处置", "巡查中发现{name}，已拍照取证", "{name}，影响通行和市容"],
                "hotline": ["市民来电反映{name}", "12345 热线转办：{name}", "居民来电：{name}，希望尽快处理"],
                "public": ["市民通过随手拍反映{name}", "公众上报：{name}"],
                "media": ["媒体曝光：{name}"], "superior": ["上级交办：{name}"]}


class WorkClock:
    """Working time as one number — the calendar's ``W``, working microseconds since its epoch — and
    back. ``at`` is the calendar's own inverse (the earliest instant with that ``W``), computed from a
    table of the working days around now, since the demo converts ~150,000 instants."""

    def __init__(self, cal: Any, now: dt.datetime, days_back: int = 400, days_ahead: int = 60) -> None:
        self.cal, self.now = cal, now
        self.w_now = cal.clock(now)
        today = now.astimezone(cal.tz).toordinal()
        self.days = [o for o in range(today - days_back, today + days_ahead) if cal.is_working_ordinal(o)]
        self.starts = [cal.count_before(o) * cal.day_us for o in self.days]
        self.segments = list(zip(cal.segments, cal.seg_before))
        self.midnights = [self._midnight(o) for o in self.days]
        self.origin = now - dt.timedelta(days=days_back + 400)
        self.w_origin = cal.clock(self.origin)

    def _midnight(self, o: int) -> dt.datetime | None:
        """The day's local midnight in UTC, when the day has one UTC offset (no DST change)."""
        start = dt.datetime.fromordinal(o).replace(tzinfo=self.cal.tz)
        end = (dt.datetime.fromordinal(o) + dt.timedelta(hours=23, minutes=59)).replace(tzinfo=self.cal.tz)
        return start.astimezone(dt.UTC) if start.utcoffset() == end.utcoffset() else None

    def w(self, t: dt.datetime) -> int:
        return self.cal.clock(t)

    def w_days_ago(self, days: float) -> int:
        return self.cal.clock(self.now - dt.timedelta(days=days))

    def at(self, w: int) -> dt.datetime:
        """The earliest instant whose working time is ``w`` (a day's end is its closing time)."""
        i = bisect.bisect_left(self.starts, w) - 1  # the day whose working time holds w (0 < rem <= day)
        if i < 0 or w - self.starts[i] > self.cal.day_us:
            return self.cal.deadline(self.origin, (w - self.w_origin) / HOUR, "work_hours")
        rem = w - self.starts[i]
        for (s, e), before in self.segments:
            if rem <= before + (e - s):
                sod = s + rem - before
                break
        midnight = self.midnights[i]
        if midnight is not None:
            return midnight + dt.timedelta(microseconds=sod)
        local = dt.datetime.fromordinal(self.days[i]) + dt.timedelta(microseconds=sod)
        return local.replace(tzinfo=self.cal.tz).astimezone(dt.UTC)

    def day(self, w: int) -> int:
        """The date ordinal of the working day that holds ``w``."""
        return self.days[max(bisect.bisect_left(self.starts, w) - 1, 0)]


def _people(ctx: Any, session: Session, orgs: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Demo accounts of the loop; returns (logins, ids by role)."""
    root = orgs["root"]
    logins: list[dict[str, Any]] = []
    ids: dict[str, Any] = {"supervisor": {}, "handler": {}}
    plan = []
    supervisors = iter(["陆晓峰", "顾佳怡", "沈文杰", "钱丽华", "朱建平", "蒋雯"])
    for d in ("gusu", "wuzhong", "xiangcheng"):
        for n in (1, 2):
            plan.append((f"jdy_{d}{n}", next(supervisors), "监督员", orgs[f"community.{d}.{n}"],
                         "command_supervisor", root, ("supervisor", f"community.{d}.{n}")))
    plan += [("slz_1", "徐静怡", "受理员", root, "command_intake", root, ("intake", None)),
             ("zbz_1", "许志强", "值班长", root, "command_shift_leader", root, ("leader", None)),
             ("zbz_2", "金玉兰", "值班长", root, "command_shift_leader", root, ("leader2", None)),
             ("pqy_1", "范海涛", "派遣员", root, "command_dispatcher", root, ("dispatcher", None)),
             # a district leader: today's key figures of 姑苏区 only (grant at the district)
             ("ld_gusu", "严立新", "区分管领导", orgs["district.gusu"], "command_leader", orgs["district.gusu"],
              ("district_leader", None))]
    handlers = iter(["潘国栋", "陶志刚", "方芳", "邹勇", "程晨", "汪洋", "曹磊"])
    for key in ("dept.cgj", "dept.szgy", "dept.ylh", "dept.srhw", "brigade.gusu", "brigade.wuzhong",
                "brigade.xiangcheng"):
        plan.append((f"cz_{key.split('.')[-1]}", next(handlers), "专业部门处置人员", orgs[key],
                     "command_handler", orgs[key], ("handler", key)))
    for username, name, post, org, role, scope, (what, key) in plan:
        login = demo_person(ctx, session, username, name, post, org, role, scope)
        logins.append({k: v for k, v in login.items() if k != "id"})
        if key is None:
            ids[what] = login["id"]
        else:
            ids[what][key] = login["id"]
    return logins, ids


def _dept(orgs: dict[str, Any], big: str, grid_code: str) -> int:
    key = BIG_DEPT.get(big, "dept.cgj")
    if key == "brigade":
        key = {"320508": "brigade.gusu", "320506": "brigade.wuzhong", "320507": "brigade.xiangcheng"}.get(
            grid_code[:6], "dept.cgj")
    return orgs[key]


def _description(rng: random.Random, classes: Classes, kind: str, code: str, source: str) -> str:
    name = classes.name("event" if kind == "E" else "component", code)
    return rng.choice(DESCRIPTIONS.get(source, DESCRIPTIONS["supervisor"])).format(name=name)


def seed_cases(ctx: Any, session: Session, orgs: dict[str, Any], cells: list[tuple[str, Any]],
               area_class: dict[str, str], point_in: Any, address_of: Any) -> list[dict[str, Any]]:
    """Seed the loop's people and cases; returns the demo logins it made."""
    rng = random.Random(20261202)
    say = session.info.get("ccms_demo_progress") or (lambda *_a, **_k: None)
    logins, people = _people(ctx, session, orgs)
    classes = Classes(session)
    smalls = [("E", e.code) for e in classes.small_classes("event")] + \
             [("C", e.code) for e in classes.small_classes("component")]
    weights = [6 if (k == "E" and c[:2] in ("01", "02", "05")) else 3 if c[:2] == "01" else 1 for k, c in smalls]
    sup_of = {c: people["supervisor"].get(f"community.{d}.{n}") for c, d, n in _communities(cells)}
    for grid in session.scalars(select(Grid)):  # 责任网格: each community's supervisor is responsible for its grids
        grid.supervisor_id = sup_of.get(grid.code[:12])
    clock = WorkClock(calendar_get(session, CALENDAR), utcnow())
    _history(session, rng, clock, classes, orgs, people, cells, area_class, smalls, weights, sup_of, point_in,
             address_of)
    say("案件", "cases", HISTORY, HISTORY + OPEN)

    def after_commit(_session: Session) -> None:
        # The flow engine finds assignees through the authorizer, which sees committed grants only,
        # so the open cases are driven in a second transaction once the demo's own has committed.
        try:
            with ctx.session() as s2:
                _open_cases(ctx, s2, rng, orgs, people, cells, smalls, weights, sup_of, point_in, address_of, say)
        except Exception as exc:  # noqa: BLE001 — the demo still starts, without open cases
            import sys
            print(f"ccms demo: open demo cases not seeded: {exc}", file=sys.stderr)

    event.listen(session, "after_commit", after_commit, once=True)
    return logins


def _communities(cells: list[tuple[str, Any]]) -> list[tuple[str, str, int]]:
    codes = sorted({c[:12] for c, _ in cells})
    district = {"320508": "gusu", "320506": "wuzhong", "320507": "xiangcheng"}
    return [(c, district.get(c[:6], "gusu"), int(c[6:9])) for c in codes]


def _report_w(rng: random.Random, clock: WorkClock, lo: int, hi: int) -> int:
    """When a past case was reported, in working time between ``lo`` and ``hi``: more in summer
    (litter, street stalls) and slowly more over the year as the platform is used more."""
    while True:
        x = rng.random()
        w = lo + int(x * (hi - lo))
        season = math.cos(2 * math.pi * (dt.date.fromordinal(clock.day(w)).timetuple().tm_yday - 196) / 365)
        if rng.random() * 1.45 < (0.85 + 0.3 * x) * (1 + 0.12 * season):
            return w


def _history(session: Session, rng: random.Random, clock: WorkClock, classes: Classes, orgs: dict[str, Any],
             people: dict[str, Any], cells: list[tuple[str, Any]], area_class: dict[str, str],
             smalls: list[tuple[str, str]], weights: list[int], sup_of: dict[str, Any], point_in: Any,
             address_of: Any) -> None:
    """Finished cases of the past year, planned in working time (µs) and converted at the end."""
    tz = clock.cal.tz
    serial: dict[str, int] = {}
    rows = []
    handlers = {orgs[k]: v for k, v in people["handler"].items()}
    lo, hi = clock.w_days_ago(365), clock.w_now - 30 * MINUTE
    day_us = clock.cal.day_us
    for _ in range(HISTORY):
        kind, code = rng.choices(smalls, weights)[0]
        grid, ring = rng.choice(cells)
        lon, lat = point_in(rng, ring)
        source = rng.choices([s for s, _ in SOURCES], [w for _, w in SOURCES])[0]
        ac = area_class.get(grid, "B")
        limit = {"A": 4.0, "B": 8.0, "C": 16.0}[ac]
        sup = sup_of.get(grid[:12])
        steps = _plan(rng, source, limit, day_us)
        end = max(v for v in steps.values() if isinstance(v, int))
        reported = _report_w(rng, clock, lo, hi)
        if reported + end > hi:  # still running now: it would be an open case, so it happened earlier
            reported = hi - end - rng.randint(0, 2 * day_us)
        at = {k: clock.at(reported + v) if isinstance(v, int) else None for k, v in steps.items()}
        scope = f"{kind}{code}{at['reported_at'].astimezone(tz):%Y%m%d}"
        serial[scope] = serial.get(scope, 0) + 1
        status = steps["status"]
        dept = _dept(orgs, kind + code[:2], grid) if at["dispatched_at"] else None
        depts = ([orgs["dept.cgj"] if dept != orgs["dept.cgj"] else orgs["dept.szgy"], dept]
                 if dept and steps["returned"] else [dept] if dept else [])
        row: dict[str, Any] = {
            "case_no": f"{scope}{serial[scope]:04d}", "kind": kind, "class_code": kind + code,
            "big_class": kind + code[:2], "source": source, "urgency": "normal", "area_class": ac,
            "district_code": grid[:6], "street_code": grid[:9], "community_code": grid[:12], "grid_code": grid,
            "lon": lon, "lat": lat, "address": address_of(rng, grid),
            "description": _description(rng, classes, kind, code, source), "component_ident": "",
            "dept_id": dept, "dept_ids": depts,
            "reporter_id": sup if source == "supervisor" else people["intake"], "reporter_name": "",
            "reporter_phone": "", "time_limit": limit, "time_unit": "work_hours",
            "rework_count": steps["rework"], "extend_count": steps["extend"], "suspend_count": steps["suspend"],
            "return_count": int(steps["returned"]), "dispatch_count": len(depts), "urge_count": 0,
            "self_disposed": status == "self", "not_filed_reason": "不符合立案条件" if status == "not_filed" else "",
            "void_reason": "重复上报" if status == "voided" else "", "photos_before": [], "photos_after": [],
            "version": 1, "status": "closed" if status == "self" else status,
            "verified_at": at["verified_at"], "verifier_id": sup if at["verified_at"] else None,
            "filed_at": at["filed_at"], "filer_id": people["leader"] if at["filed_at"] else None,
            "voided_at": at["voided_at"], "dispatched_at": at["dispatched_at"],
            "dispatcher_id": people["dispatcher"] if at["dispatched_at"] else None,
            "due_at": at["due_at"], "disposed_at": at["disposed_at"],
            "handler_id": handlers.get(dept) if dept else None, "checked_at": at["checked_at"],
            "checker_id": sup if at["checked_at"] else None, "closed_at": at["closed_at"],
            "reported_at": at["reported_at"], "created_at": at["reported_at"], "updated_at": at["updated_at"]}
        if status == "self":
            row.update(disposed_on_time=True, closed_on_time=True)
        elif at["disposed_at"] is not None:
            on_time = steps["disposed_at"] <= steps["due_at"]
            row.update(disposed_on_time=on_time, closed_on_time=on_time and rng.random() < 0.97)
        rows.append(row)
    keys = set().union(*(r.keys() for r in rows))
    rows = [{k: r.get(k) for k in keys} for r in rows]  # one column set for executemany
    for i in range(0, len(rows), 2000):
        session.execute(insert(Case.__table__), rows[i:i + 2000])
    existing = set(session.scalars(select(Serial.scope).where(Serial.scope.like("case:%"))))
    session.execute(insert(Serial.__table__), [{"scope": f"case:{k}0000", "next_value": v + 1}
                                               for k, v in serial.items() if f"case:{k}0000" not in existing])


def _plan(rng: random.Random, source: str, limit: float, day_us: int) -> dict[str, Any]:
    """One finished case's steps as working time (µs) after its report: report → (verify) → file →
    dispatch → dispose (maybe late, reworked, extended, suspended, sent back) → check → close, or
    an end on the way (not filed, merged, self-disposed, voided). The disposal deadline is the
    filing standard's limit in working hours after dispatch, as the flow engine sets it."""
    p: dict[str, Any] = dict.fromkeys(("verified_at", "filed_at", "voided_at", "dispatched_at", "due_at",
                                       "disposed_at", "checked_at", "closed_at"))
    p.update(reported_at=0, rework=0, extend=0, suspend=0, returned=False)
    t = 0
    if source != "supervisor":
        t += rng.randint(20, 180) * MINUTE
        p["verified_at"] = t
    roll = rng.random()
    if roll < 0.05:
        p.update(status="not_filed", updated_at=t)
        return p
    if roll < 0.06:
        p.update(status="merged", updated_at=t)
        return p
    if source == "supervisor" and roll < 0.10:
        t += rng.randint(10, 60) * MINUTE
        p.update(status="self", disposed_at=0, closed_at=t, updated_at=t)
        return p
    t += rng.randint(5, 60) * MINUTE
    p["filed_at"] = t
    if roll < 0.13:
        t += rng.randint(5, 120) * MINUTE
        p.update(status="voided", voided_at=t, updated_at=t)
        return p
    p["returned"] = rng.random() < 0.03  # sent back: a wrong department first
    t += rng.randint(5, 60) * MINUTE
    p["dispatched_at"] = dispatched = t
    span = round(limit * HOUR)
    due = dispatched + span
    if rng.random() < 0.04:
        p["extend"] = 1
        due += span
    if rng.random() < 0.02:
        p["suspend"] = 1
        due += rng.randint(3, 20) * day_us
    late = rng.random() < 0.12
    disposed = dispatched + round((due - dispatched) * (rng.uniform(1.05, 2.0) if late else rng.uniform(0.1, 0.95)))
    if rng.random() < 0.06:
        p["rework"] = 1
        disposed += round(rng.uniform(2, 24) * HOUR)
    checked = disposed + rng.randint(30, 240) * MINUTE
    closed = checked + rng.randint(10, 120) * MINUTE
    p.update(status="closed", due_at=due, disposed_at=disposed, checked_at=checked, closed_at=closed, updated_at=closed)
    return p


def _open_cases(ctx: Any, session: Session, rng: random.Random, orgs: dict[str, Any], people: dict[str, Any],
                cells: list[tuple[str, Any]], smalls: list[tuple[str, str]], weights: list[int],
                sup_of: dict[str, Any], point_in: Any, address_of: Any, say: Any) -> None:
    """Recent cases left at every step of the loop, through the real engine, then laid out in
    working time so most open tasks are within their limits."""
    leader = Actor(people["leader"], "zbz_1")
    dispatcher = Actor(people["dispatcher"], "pqy_1")
    intake = Actor(people["intake"], "slz_1")
    handlers = {orgs[k]: Actor(v, f"cz_{k.split('.')[-1]}") for k, v in people["handler"].items()}
    picture = _demo_picture()
    classes = Classes(session)
    clock = WorkClock(calendar_get(session, CALENDAR), utcnow(), days_back=60)
    for i in range(OPEN):
        kind, code = rng.choices(smalls, weights)[0]
        grid, ring = rng.choice(cells)
        lon, lat = point_in(rng, ring)
        stage = STAGES[i % len(STAGES)]
        sup_id = sup_of.get(grid[:12])
        sup = Actor(sup_id, "jdy")
        reporter = intake if stage == "verifying" else sup
        source = "hotline" if stage == "verifying" else "supervisor"
        data = cases.ReportIn(class_code=kind + code, lon=lon, lat=lat, address=address_of(rng, grid),
                              description=_description(rng, classes, kind, code, source), source=source,
                              photos=[_demo_photo(ctx, session, reporter, picture)])
        c = cases.report(ctx, session, reporter, data, root_org=orgs["root"], supervisor_id=sup_id)
        if stage not in ("verifying", "reported"):
            cases.act(ctx, session, leader, c.id, "file")
        if stage in ("dispatched", "disposing", "checking", "to_close", "suspended"):
            dept = _dept(orgs, c.big_class, c.grid_code)
            cases.act(ctx, session, dispatcher, c.id, "dispatch", dept_ids=[dept])
            handler = handlers.get(dept)
            if stage != "dispatched" and handler is not None:
                cases.claim(ctx, session, handler, c.id)
                if stage == "suspended":
                    cases.operation(ctx, session, handler, c.id, "suspend", reason="演示：暂不具备处置条件")
                    cases.decide(ctx, session, dispatcher, c.id, True)
                elif stage in ("checking", "to_close"):
                    cases.act(ctx, session, handler, c.id, "done", photos=[_demo_photo(ctx, session, handler, picture)],
                              comment="已按标准处置完毕")
                    if stage == "to_close":
                        cases.act(ctx, session, sup, c.id, "pass")
        _retime(session, c, clock, rng, LEVELS[(i // len(STAGES)) % len(LEVELS)])
        if (i + 1) % 50 == 0:
            say("案件", "cases", HISTORY + i + 1, HISTORY + OPEN)


def _demo_picture() -> bytes:
    """One small generated picture (JPEG) for the demo's open cases."""
    import io

    from PIL import Image, ImageDraw
    img = Image.new("RGB", (320, 240), (200, 210, 200))
    draw = ImageDraw.Draw(img)
    draw.rectangle((60, 120, 260, 200), fill=(120, 110, 90))
    draw.ellipse((120, 60, 200, 140), fill=(90, 140, 90))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _demo_photo(ctx: Any, session: Session, actor: Actor, picture: bytes) -> str:
    """The picture uploaded by ``actor`` for one case: a photo is attached to one case only, by
    its uploader (the bytes are stored once, by checksum)."""
    return attachment_save(ctx, session, actor, "demo.jpg", picture, images_only=True).id


WORK_UNITS = ("work_hours", "work_days")


def _retime(session: Session, c: Case, clock: WorkClock, rng: random.Random, level: str) -> None:
    """Lay a freshly driven case out in working time, ending now.

    The engine ran every step within the same second; here the instants at which tasks were
    created, claimed and completed get new times: the live task started so long ago that it has
    used a ``level`` share of its limit (:data:`SHARE`), each earlier task took part of its own
    limit, a claim came minutes after its task, and anything after the live task's start happened
    between then and now. Every other timestamp (history, case, instance) moves with the step it
    belongs to, and each deadline (task due/warn, timers, the case's ``due_at``) is the same working
    time after its moved start that it was after the original one — in office hours, like a real one.
    """
    tasks = sorted(flow_tasks(session, c.instance_id), key=lambda t: t.id)
    if not tasks:
        return
    live = next((t for t in tasks if t.kind == "node" and t.status in ("open", "suspended")), tasks[-1])

    def work(t: Any) -> int:
        """The task's limit in working µs (0 without one)."""
        if t.due_at is None or t.limit_unit not in WORK_UNITS:
            return 0
        return clock.w(t.due_at) - clock.w(t.created_at)

    instants = sorted({x for t in tasks for x in (t.created_at, t.claimed_at, t.completed_at) if x is not None})
    k = instants.index(live.created_at)
    w_new = [0] * len(instants)
    span = work(live) or HOUR
    w_new[k] = clock.w_now - round(span * rng.uniform(*SHARE[level]))
    for j in range(k + 1, len(instants)):  # the live task's claim, requests on it: between its start and now
        w_new[j] = w_new[j - 1] + round((clock.w_now - w_new[k]) * rng.uniform(0.05, 0.25))
    for j in range(k - 1, -1, -1):  # earlier steps: each finished within part of its limit
        a, b = instants[j], instants[j + 1]
        done = next((t for t in tasks if t.completed_at == b and a in (t.created_at, t.claimed_at)), None)
        if done is not None and work(done):
            gap = round(work(done) * rng.uniform(0.15, 0.7 if done.created_at == a else 0.5))
        else:
            gap = rng.randint(3, 25) * MINUTE
        w_new[j] = w_new[j + 1] - gap
    new_at = [clock.at(w) for w in w_new]
    w_of = dict(zip(instants, w_new))

    def moved(x: dt.datetime | None) -> dt.datetime | None:
        """An instant of the run, moved with the step it belongs to (the latest one not after it)."""
        if x is None:
            return None
        j = max(bisect.bisect_right(instants, x) - 1, 0)
        return new_at[j] + (x - instants[j])

    def deadline(start: dt.datetime, at: dt.datetime | None, unit: str | None) -> dt.datetime | None:
        """The same (working) time after ``start``'s new time as ``at`` was after ``start``."""
        if at is None:
            return None
        if unit not in WORK_UNITS:
            return moved(start) + (at - start)
        base = w_of.get(start)
        base = clock.w(moved(start)) if base is None else base
        return clock.at(base + clock.w(at) - clock.w(start))

    dues = flow_demo_retime(session, c.instance_id, moved, deadline)  # tasks, timers, history, instance
    if c.due_at is not None:
        c.due_at = dues.get(c.due_at) or deadline(c.dispatched_at or c.reported_at, c.due_at, c.time_unit)
    for col in ("reported_at", "verified_at", "filed_at", "dispatched_at", "round_started_at", "disposed_at",
                "checked_at", "closed_at", "voided_at", "created_at", "updated_at"):
        setattr(c, col, moved(getattr(c, col)))
