"""Benchmark: case intake (report → filed) through the full stack vs a bare insert of the same rows.

The issue (§8): *case intake throughput through the full stack vs. a bare
insert of the same rows (target ≤ 2×)*.

Set-up: a migrated, seeded city deployment on a temporary SQLite file (WAL) —
or the database given with ``--db-url`` (e.g. an empty PostgreSQL database) —
with a district, a street, a community of 10 × 10 unit grids (100 m cells,
area classes A/B/C), a filing standard for E0102, a responsibility-matrix
rule, one photo and three people: a supervisor (监督员), a shift leader
(值班长) and a dispatcher (派遣员; the filed case's next task needs one).

Each case is two transactions, the way two web requests do it:

* ``ours`` — what ``POST /api/command/cases/report`` and ``POST
  /api/command/cases/{id}/act`` run inside their ``with ctx.db.session()``:
  :func:`plugins.command.cases.report` (class check, photo check, grid lookup,
  filing standard → time limit, duplicate check, case number, case row, flow
  start with the first task, sync of the case columns, audit), then, in a new
  session, :func:`plugins.command.cases.act` ``"file"`` by the shift leader
  (task lookup, flow step to 派遣, sync, audit).
* ``bare`` — the *same rows* written with hand-built SQLAlchemy Core
  statements, also one transaction per report and one per filing: the reads a
  correct hand-written service still needs (photo, class, grid-index and
  calendar freshness marks, filing standard, duplicate window, active
  assignees), the serial ``UPDATE … RETURNING``, then the inserts/updates of
  ``command_case``, ``core_flow_instance``, ``core_flow_token``,
  ``core_flow_task``, ``core_flow_timer``, ``core_flow_history``,
  ``core_flow_outbox`` and ``core_audit_log``. Python-side work is the same
  (the same STRtree grid index, the same working calendar for deadlines, the
  same permission index for who holds a role), minus the ORM and the engine.

Before timing, a few cases of each side are written and the rows they add
per table are compared: the run stops if the two sides do not write the
same number of rows to the same tables. Timing alternates rounds (ours,
bare, bare, ours, …) so machine noise hits both alike; figures are medians
over rounds. Printed: cases/s, ms per case (report and file), process CPU
ms per case, the ratio ours/bare and SQL statements per case on each side
(counted with a ``before_cursor_execute`` listener; an ``executemany``
counts once). The verdict (target ≤ 2×) is on the **CPU time** ratio, like
the HTTP benchmark's: on a shared machine wall-clock time mostly measures
the neighbours; the wall-clock ratio is printed too. On SQLite the database
work runs in this process and is counted; on PostgreSQL the server's CPU is
not (the same work on both sides), so the ratio is then a little stricter.

``python bench/bench_case_intake.py [--smoke|--quick] [--cases N] [--db-url URL] [--profile]``;
``--profile`` runs cProfile over ``ours`` and prints the hotspots outside
``core/flows/engine.py``. bench/run.py imports :func:`run` (``--only case_intake``).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import math
import pstats
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, event, insert, select, text, update  # noqa: E402

TARGET_RATIO = 2.0
SECRET = "bench-intake-secret-key-0123456789abcdef"
LON0, LAT0 = 120.62, 31.30
SIDE = 10  # grids per side of the community
AREA, STREET = "320508", "320508001"
COMMUNITY = STREET + "001"
CLASSES = ["E0102", "E0102", "E0104", "E0201", "C0101"]  # E0102 has a filing standard; the others use the default
SIZES = {"full": {"cases": 600, "rounds": 6}, "quick": {"cases": 200, "rounds": 4},
         "smoke": {"cases": 8, "rounds": 2}}
CHECK_CASES = 3  # cases per side written to compare the rows each side adds
# Tables whose row counts are compared after each side (every table ``ours`` writes on report and file).
TABLES = ("command_case", "command_serial", "core_flow_instance", "core_flow_token", "core_flow_task",
          "core_flow_task_candidate", "core_flow_timer", "core_flow_history", "core_flow_outbox", "core_audit_log")


# --------------------------------------------------------------------------- set-up


@dataclass
class City:
    ctx: Any
    root_id: int
    sup: Any       # core.audit.Actor
    leader: Any
    photo_ids: list[str]  # a fresh photo for each report: a photo belongs to one case (issue 10, defect 4)
    dx: float      # 100 m in degrees of longitude / latitude
    dy: float


def _square(i: int, j: int, dx: float, dy: float, w: int = 1, h: int = 1) -> dict[str, Any]:
    x0, y0, x1, y1 = LON0 + i * dx, LAT0 + j * dy, LON0 + (i + w) * dx, LAT0 + (j + h) * dy
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _png() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    return buf.getvalue()


def make_city(db_url: str, attachments_dir: str) -> City:
    """Migrate and seed like the test fixtures, then the city's base data and the three people.
    Re-running on the same database reuses what is there."""
    from ccms import auth, migrate, seed
    from ccms.app import App
    from ccms.audit import Actor
    from ccms.config import parse_deployment
    from ccms.models import Org, Person, Role
    from ccms.plugins.command import cases, geo, grids, matrix, standards

    ctx = App(parse_deployment({"profile": "city", "region_code": "320500", "name": "基准测试市",
                                "secret_key": SECRET, "database_url": db_url,
                                "attachments_dir": attachments_dir}))
    migrate.upgrade(ctx.db.engine, ctx.plugins)
    root = seed.bootstrap(ctx)
    kx, ky = geo.scales(LAT0)
    dx, dy = 100 / kx, 100 / ky
    system = Actor(None, "bench")
    with ctx.db.session() as s:
        if s.scalar(select(Person.id).where(Person.username == "bench_sup")) is None:
            dept = None
            for name, kind, code in (("姑苏区", "region", AREA), ("市容环卫处", "department", "320500")):
                o = Org(parent_id=root.id, name=name, kind=kind, region_code=code, path="", active=True)
                s.add(o)
                s.flush()
                o.path = f"{root.path}{o.id}/"
                dept = o.id
            grids.save_region(ctx, s, system, {"level": "street", "code": STREET, "name": "平江街道"})
            grids.save_region(ctx, s, system, {"level": "community", "code": COMMUNITY, "name": "平江新村社区",
                                               "geometry": _square(0, 0, dx, dy, SIDE, SIDE)})
            for n in range(SIDE * SIDE - 1):  # two-digit serials: 01-99
                grids.save_grid(ctx, s, system, {"code": f"{COMMUNITY}{n + 1:02d}", "name": f"第{n + 1}网格",
                                                 "area_class": "ABC"[n % 3],
                                                 "geometry": _square(n % SIDE, n // SIDE, dx, dy)})
            standards.save_standard(s, system, {"kind": "event", "class_code": "0102", "time_limit": 4,
                                                "time_unit": "work_hours", "filing_condition": "暴露垃圾",
                                                "closing_condition": "清除干净", "dept_org_id": dept})
            matrix.save_rule(s, system, {"kind": "event", "class_code": "01", "dept_org_id": dept})
            for username, role in (("bench_sup", "command_supervisor"), ("bench_leader", "command_shift_leader"),
                                   ("bench_disp", "command_dispatcher")):
                p = Person(username=username, display_name=username, org_id=root.id)
                auth.set_password(p, "x-Bench-Secret-123456")
                s.add(p)
                s.flush()
                if s.scalar(select(Role.id).where(Role.code == role)) is None:
                    s.add(Role(code=role, name=role))
                    s.flush()
                ctx.authz.grant(s, p.id, role, root.id)
    with ctx.db.session() as s:
        sup_id = s.scalar(select(Person.id).where(Person.username == "bench_sup"))
        leader_id = s.scalar(select(Person.id).where(Person.username == "bench_leader"))
        sup = Actor(sup_id, "bench_sup", "127.0.0.1")
    return City(ctx, root.id, sup, Actor(leader_id, "bench_leader", "127.0.0.1"), [], dx, dy)


def stock_photos(city: City, n: int) -> None:
    """Upload ``n`` photos outside the timed part (a supervisor uploads before reporting)."""
    from ccms.plugins.command import cases
    png = _png()
    with city.ctx.db.session() as s:
        city.photo_ids.extend(cases.save_photo(city.ctx, s, city.sup, "现场.png", png).id for _ in range(n))


def points(city: City, n: int, seed: int) -> list[tuple[str, float, float]]:
    """``n`` reports (class, lon, lat) inside the 99 grids, the same for both sides of a round
    (and a fresh photo for each report of either side, uploaded here, outside the timing)."""
    stock_photos(city, 2 * n + 4)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        i = rng.randrange(SIDE * SIDE - 1)
        x = LON0 + (i % SIDE + 0.05 + 0.9 * rng.random()) * city.dx
        y = LAT0 + (i // SIDE + 0.05 + 0.9 * rng.random()) * city.dy
        out.append((rng.choice(CLASSES), x, y))
    return out


# --------------------------------------------------------------------------- ours


class Ours:
    """The plugin's service functions, one session (transaction) per request."""

    def __init__(self, city: City) -> None:
        from ccms.plugins.command import cases
        self.city, self.cases = city, cases

    def report(self, class_code: str, x: float, y: float) -> int:
        c = self.city
        with c.ctx.db.session() as s:
            case = self.cases.report(c.ctx, s, c.sup, self.cases.ReportIn(
                class_code=class_code, lon=x, lat=y, photos=[c.photo_ids.pop()], address="平江路 1 号",
                description="基准测试：垃圾堆放"))
            return case.id

    def file(self, case_id: int) -> None:
        c = self.city
        with c.ctx.db.session() as s:
            self.cases.act(c.ctx, s, c.leader, case_id, "file")


# --------------------------------------------------------------------------- bare


class Bare:
    """The same rows with hand-built Core statements, one transaction per report and per filing."""

    def __init__(self, city: City) -> None:
        from ccms.api import utcnow
        from ccms.attachments import Attachment
        from ccms.calendar.service import get_calendar
        from ccms.dictionaries.models import Dict, DictItem
        from ccms.flows import store
        from ccms.flows.models import (
            FlowHistory,
            FlowInstance,
            FlowOutbox,
            FlowTask,
            FlowTimer,
            FlowToken,
        )
        from ccms.models import AuditLog, Person, Setting
        from ccms.plugins.command import grids
        from ccms.plugins.command.models import OPEN_STATUSES, Case, Serial, Standard

        self.city, self.utcnow = city, utcnow
        ctx = city.ctx
        self.engine = ctx.db.engine
        self.case, self.inst, self.token, self.task = (Case.__table__, FlowInstance.__table__, FlowToken.__table__,
                                                       FlowTask.__table__)
        self.timer, self.hist, self.outbox, self.audit = (FlowTimer.__table__, FlowHistory.__table__,
                                                          FlowOutbox.__table__, AuditLog.__table__)
        self.serial, self.std, self.person = Serial.__table__, Standard.__table__, Person.__table__
        att, dct, item = Attachment.__table__, Dict.__table__, DictItem.__table__
        self.open_statuses = OPEN_STATUSES
        self.q_photo = select(att.c.content_type).where(att.c.id == bindparam("id"), att.c.attached_to.is_(None),
                                                        att.c.created_by == bindparam("actor"))
        self.claim_photo = (update(att).where(att.c.id == bindparam("pid"), att.c.attached_to.is_(None))
                            .values(attached_to=bindparam("place"), attached_at=bindparam("now"),
                                    attached_by=bindparam("actor")))
        self.q_class = (select(item.c.name).join(dct, dct.c.id == item.c.dict_id)
                        .where(dct.c.code == bindparam("dict"), item.c.code == bindparam("code"),
                               item.c.parent_id.is_not(None)))
        self.q_stamp = select(Serial.__table__.c.next_value).where(Serial.__table__.c.scope == grids.REV_SCOPE)
        self.q_cal = text("SELECT version FROM core_work_calendar WHERE id = :cal")
        self.q_settings = select(Setting.__table__.c["values"]).where(Setting.__table__.c.plugin_id == "command")
        from ccms.plugins.command import geo
        self.geo = geo
        with ctx.db.session() as s:
            self.index = grids.grid_index(s)
            defn_row = store.published_row(s, "command_case_loop")
            self.def_version = defn_row.version
            self.calendar = get_calendar(s, "default")
            self.root_region = s.scalar(text("SELECT region_code FROM core_org WHERE id = :id"),
                                        {"id": city.root_id})
        self.authz = ctx.authz

    # -- helpers

    def _role_people(self, c: Any, role: str) -> list[int]:
        holders = sorted({p for p, _ in self.authz.people_with_role(role)})
        return list(c.execute(select(self.person.c.id).where(self.person.c.id.in_(holders),
                                                             self.person.c.active.is_(True))).scalars())

    def _deadlines(self, now: dt.datetime, hours: float) -> tuple[dt.datetime, dt.datetime]:
        return (self.calendar.deadline(now, hours * 0.8, "work_hours"),
                self.calendar.deadline(now, hours, "work_hours"))

    def _task(self, c: Any, inst_id: int, token_id: int, node: str, title: str, assignee: int, hours: float,
              now: dt.datetime, prev: int | None) -> tuple[int, dict[str, Any]]:
        warn, due = self._deadlines(now, hours)
        row = {"instance_id": inst_id, "token_id": token_id, "flow_id": "command_case_loop", "node_id": node,
               "kind": "node", "op": None, "op_data": None, "subject_task_id": None, "title": title,
               "status": "open", "claim": False, "assignee_id": assignee, "org_id": None, "multi_key": None,
               "prev_task_id": prev, "created_at": now, "claimed_at": None, "limit_amount": hours,
               "limit_unit": "work_hours", "calendar_id": "default", "warn_at": warn, "due_at": due,
               "warned_at": None, "overdue_at": None, "completed_at": None, "completed_by": None, "action": None,
               "comment": "", "rework": False, "urge_count": 0, "version": 1}
        tid = c.execute(insert(self.task).values(row).returning(self.task.c.id)).scalar_one()
        c.execute(insert(self.timer), [
            {"instance_id": inst_id, "task_id": tid, "kind": k, "fire_at": at, "unit": "work_hours", "data": None,
             "fired_at": None, "cancelled": False} for k, at in (("warn", warn), ("due", due))])
        return tid, row

    def _event(self, topic: str, inst_id: int, task_id: int | None, node: str | None, actor: Any,
               now: dt.datetime, **extra: Any) -> dict[str, Any]:
        payload = {"topic": topic, "instance_id": inst_id, "flow_id": "command_case_loop",
                   "def_version": self.def_version, "record_id": None, "task_id": task_id, "node_id": node,
                   "actor_id": actor.id, "at": now.isoformat(), **extra}
        return {"at": now, "topic": topic, "instance_id": inst_id, "task_id": task_id, "payload": payload,
                "delivered_at": None, "attempts": 0}

    def _audit(self, actor: Any, action: str, otype: str, oid: Any, summary: str, after: dict[str, Any],
               now: dt.datetime) -> dict[str, Any]:
        return {"at": now, "actor_id": actor.id, "actor_name": actor.name, "client_ip": actor.client_ip,
                "action": action, "object_type": otype, "object_id": str(oid), "summary": summary, "before": None,
                "after": after, "success": True}

    # -- the two requests

    def report(self, class_code: str, x: float, y: float) -> int:
        city, actor = self.city, self.city.sup
        kind, class4 = ("event" if class_code[0] == "E" else "component"), class_code[1:]
        with self.engine.begin() as c:
            photo_id = city.photo_ids.pop()
            ctype = c.execute(self.q_photo, {"id": photo_id, "actor": actor.id}).scalar()
            if ctype is None or not ctype.startswith("image/"):
                raise RuntimeError("photo")
            name = c.execute(self.q_class, {"dict": f"gbt30428.{kind}", "code": class4}).scalar()
            if name is None:
                raise RuntimeError("class")
            c.execute(self.q_stamp).scalar()  # the grid index's freshness mark
            i = int(self.index.locate_many([x], [y])[0])
            if i < 0:
                raise RuntimeError("outside")
            loc = self.index.location(i, x, y)
            conf = c.execute(self.q_settings).scalar() or {}
            if isinstance(conf, str):
                conf = json.loads(conf)
            std = c.execute(select(self.std.c.time_limit, self.std.c.time_unit).where(
                self.std.c.kind == kind, self.std.c.class_code == class4, self.std.c.active.is_(True),
                self.std.c.urgency == "normal", self.std.c.area_class.in_([loc.area_class, ""]))
                .order_by(self.std.c.condition_code, (self.std.c.area_class == "").asc()).limit(1)).first()
            hours = float(std.time_limit) if std else float(conf.get("default_limit_hours", 16))
            # duplicate: the nearest open case of the class within 50 m, reported in the last 24 h
            now = self.utcnow()
            kx, ky = self.geo.scales(y)
            rdx, rdy = 50 / kx, 50 / ky
            near = c.execute(select(self.case.c.id, self.case.c.lon, self.case.c.lat).where(
                self.case.c.class_code == class_code, self.case.c.status.in_(self.open_statuses),
                self.case.c.reported_at >= now - dt.timedelta(hours=24),
                self.case.c.lon.between(x - rdx, x + rdx), self.case.c.lat.between(y - rdy, y + rdy))
                .limit(200)).all()
            near = sorted((math.hypot((x - r.lon) * kx, (y - r.lat) * ky), r.id) for r in near)
            dup = near[0][1] if near and near[0][0] <= 50 else None
            local = now.astimezone(dt.timezone(dt.timedelta(hours=8)))
            scope = f"case:{class_code}{local:%Y%m%d}0000"
            serial = c.execute(update(self.serial).where(self.serial.c.scope == scope)
                               .values(next_value=self.serial.c.next_value + 1)
                               .returning(self.serial.c.next_value)).scalar()
            if serial is None:
                c.execute(insert(self.serial).values(scope=scope, next_value=2))
                serial = 2
            case_no = f"{class_code}{local:%Y%m%d}{serial - 1:04d}"
            case_id = c.execute(insert(self.case).values(
                case_no=case_no, kind=class_code[0], class_code=class_code, big_class=class_code[:3],
                source="supervisor", status="reported", urgency="normal", area_class=loc.area_class,
                district_code=loc.grid_code[:6], street_code=loc.street_code, community_code=loc.community_code,
                grid_code=loc.grid_code, lon=x, lat=y, address="平江路 1 号", description="基准测试：垃圾堆放",
                component_ident="", dept_ids=[], reporter_id=actor.id, reporter_name="", reporter_phone="",
                reported_at=now, time_limit=std.time_limit if std else None, time_unit=std.time_unit if std else "",
                photos_before=[photo_id], photos_after=[], self_disposed=False, duplicate_of_id=dup,
                rework_count=0, extend_count=0, suspend_count=0, return_count=0, dispatch_count=0, urge_count=0,
                not_filed_reason="", void_reason="", created_at=now, updated_at=now, version=1)
                .returning(self.case.c.id)).scalar_one()
            if c.execute(self.claim_photo, {"pid": photo_id, "place": f"command_case:{case_id}", "now": now,
                                            "actor": actor.id}).rowcount != 1:
                raise RuntimeError("photo claimed")
            title = f"{case_no} {name}"
            variables = {"case_id": case_id, "need_verify": False, "self_dispose": False, "limit_hours": hours,
                         "dept_ids": [], "photos_after": [], "supervisor_id": actor.id}
            inst_id = c.execute(insert(self.inst).values(
                flow_id="command_case_loop", def_version=self.def_version, title=title, status="running",
                org_id=city.root_id, region_code=self.root_region, variables=variables, initiator_id=actor.id,
                started_at=now, updated_at=now, rework_count=0, extend_count=0, return_count=0, suspend_count=0,
                urge_count=0, reassign_count=0, suspended_seconds=0.0, steps=0, version=1)
                .returning(self.inst.c.id)).scalar_one()
            token_id = c.execute(insert(self.token).values(
                instance_id=inst_id, node_id="file", status="active", last_actor_id=actor.id, created_at=now)
                .returning(self.token.c.id)).scalar_one()
            c.execute(self.q_cal, {"cal": "default"}).scalar()  # the working calendar's freshness mark
            leaders = self._role_people(c, "command_shift_leader")
            task_id, _ = self._task(c, inst_id, token_id, "file", "立案", leaders[0], 1.0, now, None)
            c.execute(insert(self.hist), [
                {"instance_id": inst_id, "task_id": None, "at": now, "actor_id": actor.id, "actor_name": actor.name,
                 "kind": "start", "node_id": "start", "to_node": None, "action": None, "comment": "",
                 "data": {"version": self.def_version, "parent_id": None}},
                {"instance_id": inst_id, "task_id": task_id, "at": now, "actor_id": actor.id,
                 "actor_name": actor.name, "kind": "task_created", "node_id": "file", "to_node": None,
                 "action": None, "comment": "", "data": {"assignee_id": leaders[0], "candidates": 0, "org_id": None,
                                                        "rework": False, "kind": "node", "op": None}}])
            c.execute(insert(self.outbox), [
                self._event("instance.started", inst_id, None, None, actor, now),
                self._event("task.created", inst_id, task_id, "file", actor, now, kind="node", op=None,
                            assignee_id=leaders[0], candidates=[], org_id=None)])
            c.execute(update(self.case).where(self.case.c.id == case_id).values(
                instance_id=inst_id, version=2, updated_at=now))
            c.execute(insert(self.audit), [
                self._audit(actor, "flow.start", "flow_instance", inst_id,
                            f"发起流程 command_case_loop v{self.def_version}，实例 {inst_id}",
                            {"flow_id": "command_case_loop", "version": self.def_version, "record_id": None}, now),
                self._audit(actor, "command_case_report", "command_case", case_id, f"上报案件 {case_no}",
                            {"case_no": case_no, "class_code": class_code, "grid_code": loc.grid_code,
                             "source": "supervisor", "duplicate_of_id": dup}, now)])
        return case_id

    def file(self, case_id: int) -> None:
        actor = self.city.leader
        t, i, k = self.task, self.inst, self.case
        with self.engine.begin() as c:
            row = c.execute(select(t.c.id, t.c.instance_id, t.c.token_id, t.c.version, t.c.assignee_id,
                                   k.c.version.label("case_version"))
                            .join(k, k.c.instance_id == t.c.instance_id)
                            .where(k.c.id == case_id, t.c.status == "open", t.c.node_id == "file")).first()
            if row is None or row.assignee_id != actor.id:
                raise RuntimeError("no file task for the leader")
            now = self.utcnow()
            done = c.execute(update(t).where(t.c.id == row.id, t.c.version == row.version).values(
                status="done", completed_at=now, completed_by=actor.id, action="file", version=row.version + 1))
            if done.rowcount != 1:
                raise RuntimeError("stale task")
            c.execute(update(self.timer).where(self.timer.c.task_id == row.id, self.timer.c.fired_at.is_(None))
                      .values(cancelled=True))
            c.execute(update(i).where(i.c.id == row.instance_id).values(
                updated_at=now, steps=i.c.steps + 1, version=i.c.version + 1))
            c.execute(self.q_cal, {"cal": "default"}).scalar()
            dispatchers = self._role_people(c, "command_dispatcher")
            new_id, _ = self._task(c, row.instance_id, row.token_id, "dispatch", "派遣", dispatchers[0], 1.0, now,
                                   row.id)
            c.execute(update(t).where(t.c.id == row.id).values(op_data={"next": [new_id], "withdrawable": True}))
            c.execute(update(self.token).where(self.token.c.id == row.token_id).values(
                node_id="dispatch", prev_task_id=row.id, last_actor_id=actor.id))
            c.execute(insert(self.hist), [
                {"instance_id": row.instance_id, "task_id": row.id, "at": now, "actor_id": actor.id,
                 "actor_name": actor.name, "kind": "complete", "node_id": "file", "to_node": "dispatch",
                 "action": "file", "comment": "", "data": None},
                {"instance_id": row.instance_id, "task_id": new_id, "at": now, "actor_id": actor.id,
                 "actor_name": actor.name, "kind": "task_created", "node_id": "dispatch", "to_node": None,
                 "action": None, "comment": "", "data": {"assignee_id": dispatchers[0], "candidates": 0,
                                                        "org_id": None, "rework": False, "kind": "node",
                                                        "op": None}}])
            c.execute(insert(self.outbox), [
                self._event("task.completed", row.instance_id, row.id, "file", actor, now, action="file"),
                self._event("task.created", row.instance_id, new_id, "dispatch", actor, now, kind="node", op=None,
                            assignee_id=dispatchers[0], candidates=[], org_id=None)])
            c.execute(insert(self.audit), [self._audit(
                actor, "flow.task.complete", "flow_instance", row.instance_id, f"办理任务 {row.id}（file）：file",
                {"task_id": row.id, "node_id": "file", "action": "file"}, now)])
            c.execute(update(k).where(k.c.id == case_id, k.c.version == row.case_version).values(
                status="filed", filed_at=now, filer_id=actor.id, updated_at=now, version=row.case_version + 1))


# --------------------------------------------------------------------------- measuring


class StatementCounter:
    """Counts statements sent to the database (``executemany`` once)."""

    def __init__(self, engine: Any) -> None:
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._count)
        self.engine = engine

    def _count(self, *_a: Any) -> None:
        self.n += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


def table_counts(engine: Any) -> dict[str, int]:
    with engine.connect() as c:
        return {t: c.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}


def rows_added(city: City, side: Any, pts: list[tuple[str, float, float]]) -> dict[str, int]:
    """Rows per table that ``side`` adds for these reports (each filed); serial rows may be reused."""
    before = table_counts(city.ctx.db.engine)
    for cls, x, y in pts:
        side.file(side.report(cls, x, y))
    after = table_counts(city.ctx.db.engine)
    return {t: after[t] - before[t] for t in TABLES}


def check_same_state(city: City, ours_id: int, bare_id: int) -> list[str]:
    """The case, its instance and its tasks look alike after each side's report + file."""
    from ccms.plugins.command.models import Case
    eng = city.ctx.db.engine
    cols = ["status", "kind", "big_class", "grid_code", "area_class", "source", "filer_id", "time_unit",
            "reporter_id"]
    problems = []
    with eng.connect() as c:
        t = Case.__table__
        a, b = (c.execute(select(*[t.c[k] for k in cols], t.c.filed_at.is_not(None), t.c.instance_id)
                          .where(t.c.id == i)).one() for i in (ours_id, bare_id))
        for k, va, vb in zip(cols + ["filed"], a, b):
            if k not in ("grid_code", "area_class") and va != vb:
                problems.append(f"command_case.{k}: ours {va!r}, bare {vb!r}")
        q = text("SELECT node_id, status, assignee_id, limit_amount, due_at IS NOT NULL FROM core_flow_task "
                 "WHERE instance_id = :i ORDER BY id")
        ta, tb = c.execute(q, {"i": a[-1]}).all(), c.execute(q, {"i": b[-1]}).all()
        if [tuple(r) for r in ta] != [tuple(r) for r in tb]:
            problems.append(f"tasks: ours {ta}, bare {tb}")
        q = text("SELECT status, steps, def_version FROM core_flow_instance WHERE id = :i")
        ia, ib = c.execute(q, {"i": a[-1]}).one(), c.execute(q, {"i": b[-1]}).one()
        if tuple(ia) != tuple(ib):
            problems.append(f"instance: ours {tuple(ia)}, bare {tuple(ib)}")
    return problems


def _time_side(side: Any, pts: list[tuple[str, float, float]], counter: StatementCounter) -> dict[str, float]:
    rep = fil = 0.0
    n0 = counter.n
    rep_stmts = fil_stmts = 0
    cpu0 = time.process_time()
    for cls, x, y in pts:
        t0 = time.perf_counter()
        m = counter.n
        cid = side.report(cls, x, y)
        t1 = time.perf_counter()
        rep_stmts += counter.n - m
        m = counter.n
        side.file(cid)
        t2 = time.perf_counter()
        fil_stmts += counter.n - m
        rep += t1 - t0
        fil += t2 - t1
    cpu = time.process_time() - cpu0
    n = len(pts)
    return {"s": rep + fil, "cpu_s": cpu, "cpu_ms": cpu / n * 1000, "report_ms": rep / n * 1000, "file_ms": fil / n * 1000,
            "ms": (rep + fil) / n * 1000, "cps": n / (rep + fil), "stmts": (counter.n - n0) / n,
            "report_stmts": rep_stmts / n, "file_stmts": fil_stmts / n}


def measure(city: City, cases: int, rounds: int) -> dict[str, Any]:
    ours, bare = Ours(city), Bare(city)
    # warm-up: imports, statement caches, the grid index and the calendar
    for side in (ours, bare):
        for cls, x, y in points(city, 2, 999):
            side.file(side.report(cls, x, y))
    # the two sides write the same rows
    probe = points(city, CHECK_CASES, 12345)
    rows_ours, rows_bare = rows_added(city, ours, probe), rows_added(city, bare, probe)
    same_rows = all(rows_ours[t] == rows_bare[t] for t in TABLES if t != "command_serial")
    problems = check_same_state(city, ours.report(*probe[0]), bare.report(*probe[0]))  # before filing
    last = [ours.report(*probe[1]), bare.report(*probe[1])]
    ours.file(last[0])
    bare.file(last[1])
    problems += check_same_state(city, *last)

    counter = StatementCounter(city.ctx.db.engine)
    per_round = max(1, cases // rounds)
    results: dict[str, list[dict[str, float]]] = {"ours": [], "bare": []}
    try:
        for r in range(rounds):
            pts = points(city, per_round, r)
            order = [("ours", ours), ("bare", bare)] if r % 2 == 0 else [("bare", bare), ("ours", ours)]
            for name, side in order:
                results[name].append(_time_side(side, pts, counter))
    finally:
        counter.close()

    def med(name: str, key: str) -> float:
        return statistics.median(x[key] for x in results[name])

    out: dict[str, Any] = {"cases": per_round * rounds, "rounds": rounds, "rows_per_case_ours": {
        t: v / CHECK_CASES for t, v in rows_ours.items() if v}, "rows_per_case_bare": {
        t: v / CHECK_CASES for t, v in rows_bare.items() if v}, "same_rows": same_rows, "state_problems": problems}
    for name in ("ours", "bare"):
        out[name] = {k: med(name, k) for k in ("cps", "ms", "cpu_ms", "report_ms", "file_ms", "stmts",
                                               "report_stmts", "file_stmts")}
    pairs = list(zip(results["ours"], results["bare"]))
    out["ratio_wall"] = statistics.median(o["s"] / b["s"] for o, b in pairs)
    out["ratio"] = statistics.median(o["cpu_s"] / b["cpu_s"] for o, b in pairs)
    return out


def profile_ours(city: City, n: int, top: int = 25) -> str:
    """cProfile over ``n`` reports + filings; the hotspots outside core/flows/engine.py."""
    ours = Ours(city)
    pts = points(city, n, 4242)
    prof = cProfile.Profile()
    prof.enable()
    for cls, x, y in pts:
        ours.file(ours.report(cls, x, y))
    prof.disable()
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    rows = []
    for (fn, line, name), (cc, nc, tt, ct, _callers) in st.stats.items():
        if "core/flows/engine.py" in fn:
            continue
        rows.append((ct, tt, nc, f"{Path(fn).name}:{line}({name})", fn))
    buf.write(f"ours, {n} reports + filings: top functions by cumulative time (core/flows/engine.py left out)\n")
    buf.write(f"{'cum ms/case':>11} {'self ms/case':>12} {'calls/case':>10}  function\n")
    ours_files = [r for r in rows if "/plugins/" in r[4] or ("/core/" in r[4] and "/core/flows/" not in r[4])]
    for ct, tt, nc, label, _fn in sorted(ours_files, key=lambda r: -r[0])[:top]:
        buf.write(f"{ct / n * 1000:11.3f} {tt / n * 1000:12.3f} {nc / n:10.1f}  {label}\n")
    buf.write("\ntop functions by self time (anywhere but core/flows/engine.py)\n")
    for ct, tt, nc, label, _fn in sorted(rows, key=lambda r: -r[1])[:top]:
        buf.write(f"{ct / n * 1000:11.3f} {tt / n * 1000:12.3f} {nc / n:10.1f}  {label}\n")
    return buf.getvalue()


def run(quick: bool = False, smoke: bool = False, db_url: str | None = None, cases: int | None = None,
        profile: bool = False) -> dict[str, Any]:
    mode = "smoke" if smoke else "quick" if quick else "full"
    plan = SIZES[mode]
    with tempfile.TemporaryDirectory(prefix="ccms_bench_intake_") as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'intake.db'}"
        started = time.perf_counter()
        city = make_city(url, str(Path(tmp) / "att"))
        setup_s = time.perf_counter() - started
        try:
            result = measure(city, cases or plan["cases"], plan["rounds"])
            if profile:
                result["profile"] = profile_ours(city, 100 if not smoke else 5)
        finally:
            city.ctx.close()
    result.update({"backend": url.split(":")[0].split("+")[0], "setup_s": setup_s, "target": TARGET_RATIO,
                   "passed": bool(result["ratio"] <= TARGET_RATIO and result["same_rows"]
                                  and not result["state_problems"])})
    return result


def print_table(r: dict[str, Any]) -> None:
    print(f"{r['cases']:,} cases a side ({r['backend']}), {r['rounds']} alternating rounds; each case = "
          f"report (supervisor) + file (shift leader), one transaction each; set-up {r['setup_s']:.1f} s")
    print(f"{'side':<6} {'cases/s':>8} {'ms/case':>8} {'CPU ms':>7} {'report ms':>10} {'file ms':>8} "
          f"{'stmts/case':>11} {'report':>7} {'file':>5}")
    for name in ("ours", "bare"):
        x = r[name]
        print(f"{name:<6} {x['cps']:8.1f} {x['ms']:8.2f} {x['cpu_ms']:7.2f} {x['report_ms']:10.2f} "
              f"{x['file_ms']:8.2f} {x['stmts']:11.1f} {x['report_stmts']:7.1f} {x['file_stmts']:5.1f}")
    rows = ", ".join(f"{t} {v:g}" for t, v in r["rows_per_case_ours"].items())
    print(f"  rows written per case (both sides): {rows}; same rows: {r['same_rows']}")
    if r["state_problems"]:
        print("  the two sides' rows differ: " + "; ".join(r["state_problems"]))
    print(f"  ratio ours/bare {r['ratio']:.2f}x CPU time per case (target <= {r['target']:g}x), "
          f"{r['ratio_wall']:.2f}x wall-clock; statements {r['ours']['stmts']:.0f} vs {r['bare']['stmts']:.0f} "
          f"per case")
    if r.get("profile"):
        print()
        print(r["profile"])


def verdicts(r: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(f"case intake ({r['backend']}): ours/bare {r['ratio']:.2f}x CPU per case "
             f"({r['ratio_wall']:.2f}x wall), {r['ours']['cps']:.0f} vs "
             f"{r['bare']['cps']:.0f} cases/s, {r['ours']['stmts']:.0f} vs {r['bare']['stmts']:.0f} statements, "
             f"same rows {r['same_rows'] and not r['state_problems']}", r["passed"])]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true")
    g.add_argument("--smoke", action="store_true")
    ap.add_argument("--cases", type=int, help="cases a side (default 600, quick 200)")
    ap.add_argument("--db-url", help="a database to use instead of a temporary SQLite file (e.g. PostgreSQL)")
    ap.add_argument("--profile", action="store_true", help="cProfile ours and print the hotspots")
    a = ap.parse_args()
    res = run(quick=a.quick, smoke=a.smoke, db_url=a.db_url, cases=a.cases, profile=a.profile)
    print_table(res)
    sys.exit(0 if res["passed"] or a.smoke else 1)
