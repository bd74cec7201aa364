"""Demo cases for ``ccms demo``: the loop's people and ~20,000 cases over the last twelve months.

* People (printed with the other demo logins): a supervisor per community,
  intake operators, shift leaders, dispatchers and a handler per department.
* History: ~19,800 finished cases (closed, not filed, voided, merged) as
  bulk-inserted ``command_case`` rows with consistent timestamps, counters
  and on-time flags — no flow instances (nothing is left to do on them).
* Open work: ~200 recent cases driven through the real flow engine (report,
  file, dispatch, sign for, dispose, check, suspend) so every screen has
  tasks to act on; their timestamps are then moved back by up to a few days
  (tasks, history, timers and the case alike), so some are overdue, and
  every deadline is computed again on the working calendar from the moved
  start (a deadline never lands at night or on a rest day). This
  part runs in a second transaction right after the demo's own commits (the
  engine finds assignees through committed role grants).

Seeded with a fixed random seed; takes a few seconds on SQLite.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from core.api import Actor, attachment_save, calendar_get, demo_person, flow_models, utcnow

from . import cases
from .common import Classes
from .models import Case, Grid, Serial

HISTORY = 19_800
OPEN = 200
SOURCES = [("supervisor", 75), ("hotline", 12), ("public", 6), ("media", 3), ("superior", 4)]
CALENDAR = "default"  # the case flow's working calendar (flow_defs: "calendar")
BIG_DEPT = {"C01": "dept.szgy", "C02": "dept.szgy", "C03": "dept.srhw", "C04": "dept.ylh", "E01": "dept.srhw",
            "E02": "dept.srhw", "E03": "dept.cgj", "E04": "dept.szgy", "E05": "brigade"}


def _people(ctx: Any, session: Session, orgs: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Demo accounts of the loop; returns (logins, ids by role)."""
    root = orgs["root"]
    logins: list[dict[str, Any]] = []
    ids: dict[str, Any] = {"supervisor": {}, "handler": {}}
    plan = []
    for d in ("gusu", "wuzhong", "xiangcheng"):
        for n in (1, 2):
            plan.append((f"jdy_{d}{n}", f"监督员{d[:2].upper()}{n}", "监督员", orgs[f"community.{d}.{n}"],
                         "command_supervisor", root, ("supervisor", f"community.{d}.{n}")))
    plan += [("slz_1", "受理员甲", "受理员", root, "command_intake", root, ("intake", None)),
             ("zbz_1", "值班长甲", "值班长", root, "command_shift_leader", root, ("leader", None)),
             ("zbz_2", "值班长乙", "值班长", root, "command_shift_leader", root, ("leader2", None)),
             ("pqy_1", "派遣员甲", "派遣员", root, "command_dispatcher", root, ("dispatcher", None))]
    for key in ("dept.cgj", "dept.szgy", "dept.ylh", "dept.srhw", "brigade.gusu", "brigade.wuzhong",
                "brigade.xiangcheng"):
        plan.append((f"cz_{key.split('.')[-1]}", f"处置员{key.split('.')[-1]}", "专业部门处置人员", orgs[key],
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


def seed_cases(ctx: Any, session: Session, orgs: dict[str, Any], cells: list[tuple[str, Any]],
               area_class: dict[str, str], point_in: Any) -> list[dict[str, Any]]:
    """Seed the loop's people and cases; returns the demo logins it made."""
    rng = random.Random(20261202)
    logins, people = _people(ctx, session, orgs)
    classes = Classes(session)
    smalls = [("E", e.code) for e in classes.small_classes("event")] + \
             [("C", e.code) for e in classes.small_classes("component")]
    weights = [6 if (k == "E" and c[:2] in ("01", "02", "05")) else 3 if c[:2] == "01" else 1 for k, c in smalls]
    sup_of = {c: people["supervisor"].get(f"community.{d}.{n}") for c, d, n in _communities(cells)}
    for grid in session.scalars(select(Grid)):  # 责任网格: each community's supervisor is responsible for its grids
        grid.supervisor_id = sup_of.get(grid.code[:12])
    _history(ctx, session, rng, orgs, people, cells, area_class, smalls, weights, sup_of, point_in)
    def after_commit(_session: Session) -> None:
        # The flow engine finds assignees through the authorizer, which sees committed grants only,
        # so the open cases are driven in a second transaction once the demo's own has committed.
        try:
            with ctx.db.session() as s2:
                _open_cases(ctx, s2, rng, orgs, people, cells, smalls, weights, sup_of, point_in)
        except Exception as exc:  # noqa: BLE001 — the demo still starts, without open cases
            import sys
            print(f"ccms demo: open demo cases not seeded: {exc}", file=sys.stderr)

    event.listen(session, "after_commit", after_commit, once=True)
    return logins


def _communities(cells: list[tuple[str, Any]]) -> list[tuple[str, str, int]]:
    codes = sorted({c[:12] for c, _ in cells})
    district = {"320508": "gusu", "320506": "wuzhong", "320507": "xiangcheng"}
    return [(c, district.get(c[:6], "gusu"), int(c[6:9])) for c in codes]


def _history(ctx: Any, session: Session, rng: random.Random, orgs: dict[str, Any], people: dict[str, Any],
             cells: list[tuple[str, Any]], area_class: dict[str, str], smalls: list[tuple[str, str]],
             weights: list[int], sup_of: dict[str, Any], point_in: Any) -> None:
    now = utcnow()
    tz = dt.timezone(dt.timedelta(hours=8))
    serial: dict[str, int] = {}
    rows = []
    handlers = {orgs[k]: v for k, v in people["handler"].items()}
    cal = calendar_get(session, CALENDAR)
    for _ in range(HISTORY):
        kind, code = rng.choices(smalls, weights)[0]
        grid, ring = rng.choice(cells)
        lon, lat = point_in(rng, ring)
        days = 2 + min(rng.expovariate(1 / 120), 362)
        reported = now - dt.timedelta(days=days, minutes=rng.randint(0, 600))
        source = rng.choices([s for s, _ in SOURCES], [w for _, w in SOURCES])[0]
        scope = f"{kind}{code}{reported.astimezone(tz):%Y%m%d}"
        serial[scope] = serial.get(scope, 0) + 1
        ac = area_class.get(grid, "B")
        limit = {"A": 4.0, "B": 8.0, "C": 16.0}[ac]
        sup = sup_of.get(grid[:12])
        row: dict[str, Any] = {
            "case_no": f"{scope}{serial[scope]:04d}", "kind": kind, "class_code": kind + code, "big_class": kind + code[:2],
            "source": source, "urgency": "normal", "area_class": ac, "district_code": grid[:6],
            "street_code": grid[:9], "community_code": grid[:12], "grid_code": grid, "lon": lon, "lat": lat,
            "address": "", "description": "演示案件", "component_ident": "", "dept_id": None, "dept_ids": [],
            "reporter_id": sup if source == "supervisor" else people["intake"], "reporter_name": "",
            "reporter_phone": "", "reported_at": reported, "time_limit": limit, "time_unit": "work_hours",
            "rework_count": 0, "extend_count": 0, "suspend_count": 0, "return_count": 0, "dispatch_count": 0,
            "urge_count": 0, "self_disposed": False, "not_filed_reason": "", "void_reason": "",
            "photos_before": [], "photos_after": [], "created_at": reported, "updated_at": reported, "version": 1,
            "status": "closed"}
        t = reported
        if source != "supervisor":
            t += dt.timedelta(minutes=rng.randint(20, 180))
            row["verified_at"], row["verifier_id"] = t, sup
        roll = rng.random()
        if roll < 0.05:
            row.update(status="not_filed", not_filed_reason="不符合立案条件", updated_at=t)
        elif roll < 0.06:
            row.update(status="merged", updated_at=t)
        elif source == "supervisor" and roll < 0.10:
            t += dt.timedelta(minutes=rng.randint(10, 60))
            row.update(self_disposed=True, disposed_at=reported, disposed_on_time=True, closed_at=t,
                       closed_on_time=True, updated_at=t)
        else:
            t += dt.timedelta(minutes=rng.randint(5, 60))
            row.update(filed_at=t, filer_id=people["leader"])
            if roll < 0.13:
                t += dt.timedelta(minutes=rng.randint(5, 120))
                row.update(status="voided", voided_at=t, void_reason="重复上报", updated_at=t)
            else:
                _disposal(rng, cal, row, t, limit, orgs, handlers, people, sup)
        rows.append(row)
    keys = set().union(*(r.keys() for r in rows))
    rows = [{k: r.get(k) for k in keys} for r in rows]  # one column set for executemany
    for i in range(0, len(rows), 2000):
        session.execute(insert(Case.__table__), rows[i:i + 2000])
    existing = set(session.scalars(select(Serial.scope).where(Serial.scope.like("case:%"))))
    session.execute(insert(Serial.__table__), [{"scope": f"case:{k}0000", "next_value": v + 1}
                                               for k, v in serial.items() if f"case:{k}0000" not in existing])


def _disposal(rng: random.Random, cal: Any, row: dict[str, Any], t: dt.datetime, limit: float,
              orgs: dict[str, Any], handlers: dict[str, Any], people: dict[str, Any], sup: Any) -> None:
    """Dispatch → dispose (maybe late, reworked, extended, suspended, sent back) → check → close;
    the deadline in working hours on the calendar, as the flow engine would set it."""
    dept = _dept(orgs, row["big_class"], row["grid_code"])
    depts = [dept]
    if rng.random() < 0.03:  # sent back: wrong department first
        wrong = orgs["dept.cgj"] if dept != orgs["dept.cgj"] else orgs["dept.szgy"]
        depts = [wrong, dept]
        row["return_count"] = 1
    t += dt.timedelta(minutes=rng.randint(5, 60))
    row.update(dispatched_at=t, dispatcher_id=people["dispatcher"], dept_id=dept, dept_ids=depts,
               dispatch_count=len(depts))
    due = cal.deadline(t, limit, "work_hours")
    if rng.random() < 0.04:
        row["extend_count"] = 1
        due = cal.deadline(due, limit, "work_hours")
    if rng.random() < 0.02:
        row["suspend_count"] = 1
        due = cal.deadline(due, rng.randint(3, 20), "work_days")
    late = rng.random() < 0.12
    took = (due - t) * (rng.uniform(1.05, 2.0) if late else rng.uniform(0.1, 0.95))
    disposed = t + took
    row.update(due_at=due, disposed_at=disposed, disposed_on_time=disposed <= due, handler_id=handlers.get(dept))
    if rng.random() < 0.06:
        row["rework_count"] = 1
        disposed += dt.timedelta(hours=rng.uniform(2, 24))
        row["disposed_at"] = disposed
        row["disposed_on_time"] = disposed <= due
    checked = disposed + dt.timedelta(minutes=rng.randint(30, 240))
    closed = checked + dt.timedelta(minutes=rng.randint(10, 120))
    row.update(checked_at=checked, checker_id=sup, closed_at=closed,
               closed_on_time=bool(row["disposed_on_time"]) and rng.random() < 0.97, updated_at=closed)


def _open_cases(ctx: Any, session: Session, rng: random.Random, orgs: dict[str, Any], people: dict[str, Any],
                cells: list[tuple[str, Any]], smalls: list[tuple[str, str]], weights: list[int],
                sup_of: dict[str, Any], point_in: Any) -> None:
    """Recent cases left at every step of the loop, through the real engine."""
    leader = Actor(people["leader"], "zbz_1")
    dispatcher = Actor(people["dispatcher"], "pqy_1")
    intake = Actor(people["intake"], "slz_1")
    handlers = {orgs[k]: Actor(v, f"cz_{k.split('.')[-1]}") for k, v in people["handler"].items()}
    picture = _demo_picture()
    stages = ["verifying", "reported", "filed", "dispatched", "disposing", "checking", "to_close", "suspended"]
    m = flow_models()
    for i in range(OPEN):
        kind, code = rng.choices(smalls, weights)[0]
        grid, ring = rng.choice(cells)
        lon, lat = point_in(rng, ring)
        stage = stages[i % len(stages)]
        sup_id = sup_of.get(grid[:12])
        sup = Actor(sup_id, "jdy")
        reporter = intake if stage == "verifying" else sup
        data = cases.ReportIn(class_code=kind + code, lon=lon, lat=lat, description="演示：待办案件",
                              source="hotline" if stage == "verifying" else "supervisor",
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
                              comment="演示：已处置")
                    if stage == "to_close":
                        cases.act(ctx, session, sup, c.id, "pass")
        _backdate(session, m, c, dt.timedelta(hours=rng.uniform(0, 96)))


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


def _backdate(session: Session, m: Any, c: Case, delta: dt.timedelta) -> None:
    """Move a case and its flow back in time by ``delta`` (so some open cases are overdue).

    Start times move by ``delta``; each deadline (task due/warn, timers, the case's
    ``due_at``) is then set again on the working calendar: the same working time
    after the moved start, so it falls within office hours like a real one."""
    session.flush()
    cals: dict[str, Any] = {}

    def again(old_start: dt.datetime, old_at: dt.datetime | None, unit: str | None, cal_id: str | None
              ) -> dt.datetime | None:
        if old_at is None:
            return None
        if unit not in ("work_hours", "work_days"):
            return old_at - delta
        cal = cals.get(cal_id or CALENDAR) or cals.setdefault(cal_id or CALENDAR,
                                                                calendar_get(session, cal_id or CALENDAR))
        return cal.deadline(old_start - delta, cal.elapsed(old_start, old_at, unit), unit)

    moved: dict[Any, Any] = {}
    for t in session.scalars(select(m.FlowTask).where(m.FlowTask.instance_id == c.instance_id)):
        start, due = t.created_at, t.due_at
        new_due, new_warn = (again(start, due, t.limit_unit, t.calendar_id),
                             again(start, t.warn_at, t.limit_unit, t.calendar_id))
        for tm in session.scalars(select(m.FlowTimer).where(m.FlowTimer.task_id == t.id)):
            tm.fire_at = {"due": new_due, "warn": new_warn}.get(tm.kind) or again(start, tm.fire_at, tm.unit,
                                                                                   t.calendar_id)
        if due is not None:
            moved[due] = new_due
        t.due_at, t.warn_at = new_due, new_warn
        for col in ("created_at", "claimed_at", "completed_at"):
            v = getattr(t, col)
            if v is not None:
                setattr(t, col, v - delta)
    if c.due_at is not None:
        c.due_at = moved.get(c.due_at) or again(c.dispatched_at or c.reported_at, c.due_at, c.time_unit, None)
    for col in ("reported_at", "verified_at", "filed_at", "dispatched_at", "round_started_at", "disposed_at",
                "checked_at", "created_at"):
        v = getattr(c, col)
        if v is not None:
            setattr(c, col, v - delta)
    inst = session.get(m.FlowInstance, c.instance_id)
    inst.started_at -= delta
    for h in session.scalars(select(m.FlowHistory).where(m.FlowHistory.instance_id == inst.id)):
        h.at -= delta
    for tm in session.scalars(select(m.FlowTimer).where(m.FlowTimer.instance_id == inst.id,
                                                        m.FlowTimer.task_id.is_(None))):
        tm.fire_at -= delta
