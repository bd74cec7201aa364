"""指挥协调 case loop (issue 5 §2, §5, §7): every path of the loop over HTTP with the
users of each role, the special operations, duplicates and merging, the bad inputs,
and case numbers under concurrency — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flow_engine_kit import person
from PIL import Image
from sqlalchemy import func, select
from test_command_base import COMMUNITY, DX, DY, LAT0, LON0, city

from ccms.api import Actor
from ccms.models import AuditLog
from ccms.plugins.command import cases, standards
from ccms.plugins.command.models import Case, CommandBase

PW = "x-Secret-123456"
INSIDE = (LON0 + 0.5 * DX, LAT0 + 0.5 * DY)        # grid ...01 (area class A)
INSIDE_B = (LON0 + 1.5 * DX, LAT0 + 0.5 * DY)      # grid ...02 (area class B)


def png(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def app(make_app, tmp_path):
    """The test app with photos stored under the test's temporary folder."""
    return make_app(attachments_dir=str(tmp_path / "att"))


@pytest.fixture
def world(ctx, client_for) -> dict[str, Any]:
    """The city of test_command_base, a filing standard, and one person per role."""
    ids = city(ctx)
    with ctx.db.session() as s:
        standards.save_standard(s, Actor(None, "t"), {"kind": "event", "class_code": "0102", "time_limit": 4, "filing_condition": "暴露垃圾", "closing_condition": "清除干净",
                                                      "time_unit": "work_hours", "dept_org_id": ids["srhw"]})
    root = ids["root"]
    people = {"sup": ("command_supervisor", root, root), "sup2": ("command_supervisor", root, root),
              "intake": ("command_intake", root, root), "leader": ("command_shift_leader", root, root),
              "disp": ("command_dispatcher", root, root),
              "h1": ("command_handler", ids["srhw"], ids["srhw"]), "h2": ("command_handler", ids["szgy"], ids["szgy"])}
    w: dict[str, Any] = {"ids": ids}
    for name, (role, org, role_org) in people.items():
        w[name + "_actor"] = person(ctx, name, org_id=org, roles=[role], role_org=role_org)
    for name in people:
        w[name] = client_for(name, PW)
    return w


def photo_id(client: Any, data: bytes | None = None, name: str = "p.png") -> str:
    r = client.api("POST", "/api/command/photos", files={"file": (name, data or png(), "image/png")})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def report(client: Any, *, class_code: str = "E0102", at: tuple[float, float] = INSIDE, photos: bool = True,
           **extra: Any) -> Any:
    body = {"class_code": class_code, "lon": at[0], "lat": at[1], "description": "垃圾堆放", "address": "平江路 1 号",
            **extra}
    if photos:
        body["photos"] = [photo_id(client)]
    return client.api("POST", "/api/command/cases/report", json=body)


def act(client: Any, cid: int, action: str, **body: Any) -> Any:
    return client.api("POST", f"/api/command/cases/{cid}/act", json={"action": action, **body})


def detail(client: Any, cid: int) -> dict[str, Any]:
    r = client.api("GET", f"/api/command/cases/{cid}")
    assert r.status_code == 200, r.text
    return r.json()


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


def to_dispose(w: dict[str, Any], **report_kw: Any) -> dict[str, Any]:
    """A supervisor's report, filed and dispatched to 市容环卫处 (h1's department)."""
    c = ok(report(w["sup"], **report_kw), 201)
    ok(act(w["leader"], c["id"], "file"))
    return ok(act(w["disp"], c["id"], "dispatch", dept_ids=[w["ids"]["srhw"]]))


# --- schema ------------------------------------------------------------------------------------

def test_migration_creates_the_case_table(ctx):
    with ctx.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), CommandBase.metadata)
    assert [d for d in diffs if "command_case" in repr(d)] == []


# --- the loop ----------------------------------------------------------------------------------

def test_full_loop_with_rework(ctx, world):
    w = world
    c = ok(report(w["sup"]), 201)
    assert c["status"] == "reported" and c["case_no"].startswith("E0102") and len(c["case_no"]) == 17
    assert c["grid_code"] == f"{COMMUNITY}01" and c["district_code"] == "320508" and c["big_class"] == "E01"
    assert c["time_limit"] == 4 and c["duplicate_of_id"] is None
    cid = c["id"]
    # only a shift leader may file
    assert act(w["disp"], cid, "file").status_code == 403
    c = ok(act(w["leader"], cid, "file"))
    assert c["status"] == "filed" and c["filed_at"] and c["filer_id"] == w["leader_actor"].id
    d = detail(w["disp"], cid)
    assert d["suggested_dept_id"] == w["ids"]["srhw"]
    c = ok(act(w["disp"], cid, "dispatch", dept_ids=[w["ids"]["srhw"]]))
    assert c["status"] == "dispatched" and c["dept_id"] == w["ids"]["srhw"] and c["dispatch_count"] == 1
    assert c["due_at"] and c["dispatched_at"]
    # the department signs for it, then disposes with an after photo
    c = ok(w["h1"].api("POST", f"/api/command/cases/{cid}/claim", json={}))
    assert c["status"] == "disposing"
    c = ok(act(w["h1"], cid, "done", photos=[photo_id(w["h1"])], comment="已清理"))
    assert c["status"] == "checking" and c["disposed_at"] and c["disposed_on_time"] is True
    # the supervisor's check fails: rework goes back to the same department
    assert act(w["sup"], cid, "fail").status_code == 422  # a reason is required
    c = ok(act(w["sup"], cid, "fail", comment="仍有残留"))
    assert c["status"] == "dispatched" and c["rework_count"] == 1
    tasks = detail(w["h1"], cid)["tasks"]
    assert tasks[0]["node_id"] == "dispose" and tasks[0]["assignee_id"] == w["h1_actor"].id
    c = ok(act(w["h1"], cid, "done", photos=[photo_id(w["h1"])]))
    c = ok(act(w["sup"], cid, "pass"))
    assert c["status"] == "checking" and c["checked_at"] and c["checker_id"] == w["sup_actor"].id
    c = ok(act(w["leader"], cid, "close"))
    assert c["status"] == "closed" and c["closed_at"] and c["closed_on_time"] is True
    assert len(c["photos_after"]) == 2 and len(c["photos_before"]) == 1
    hist = detail(w["leader"], cid)["history"]
    assert [h["kind"] for h in hist][:2] == ["start", "task_created"] and hist[-1]["kind"] == "end"
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "command_case_report")) == 1


def test_public_report_is_verified_by_the_grid_supervisor(world):
    w = world
    ok(report(w["sup2"], at=INSIDE_B, class_code="E0104"), 201)  # sup2 works grid ...02
    c = ok(report(w["intake"], at=INSIDE_B, class_code="E0102", source="hotline", photos=False,
                  reporter_name="张先生", reporter_phone="13800000000"), 201)
    assert c["status"] == "verifying" and c["reporter_id"] == w["intake_actor"].id
    # not this grid's supervisor: the case is not theirs to see, so it does not exist for them (issue 10, defect 10)
    assert act(w["sup"], c["id"], "confirm").status_code == 404
    c = ok(act(w["sup2"], c["id"], "confirm"))
    assert c["status"] == "reported" and c["verified_at"] and c["verifier_id"] == w["sup2_actor"].id
    # an unfounded public report ends as not filed
    c2 = ok(report(w["intake"], at=INSIDE_B, class_code="E0201", source="public", photos=False), 201)
    c2 = ok(act(w["sup2"], c2["id"], "unfounded", comment="现场无此问题"))
    assert c2["status"] == "not_filed"


def _assign_grid(ctx: Any, code: str, person_id: int | None) -> None:
    from sqlalchemy import update

    from ccms.plugins.command.models import Grid
    with ctx.db.session() as s:
        s.execute(update(Grid).where(Grid.code == code).values(supervisor_id=person_id))


def test_public_report_goes_to_the_grids_assigned_supervisor(ctx, world):
    w = world
    ok(report(w["sup2"], at=INSIDE_B, class_code="E0104"), 201)  # sup2 reported most in grid ...02
    _assign_grid(ctx, COMMUNITY + "02", w["sup_actor"].id)  # but sup is its 责任监督员
    c = ok(report(w["intake"], at=INSIDE_B, class_code="E0102", source="hotline", photos=False), 201)
    assert act(w["sup2"], c["id"], "confirm").status_code == 404  # not theirs: not found (issue 10, defect 10)
    c = ok(act(w["sup"], c["id"], "confirm"))
    assert c["verifier_id"] == w["sup_actor"].id
    # someone no longer holding 监督员 is passed over: back to who reported most in the grid
    _assign_grid(ctx, COMMUNITY + "02", w["intake_actor"].id)
    c2 = ok(report(w["intake"], at=INSIDE_B, class_code="E0201", source="public", photos=False), 201)
    assert act(w["sup"], c2["id"], "confirm").status_code == 404  # not theirs to see (issue 10, defect 10)
    assert ok(act(w["sup2"], c2["id"], "confirm"))["verifier_id"] == w["sup2_actor"].id


def test_not_filed_with_reason_and_filing_twice(world):
    w = world
    c = ok(report(w["sup"]), 201)
    assert act(w["leader"], c["id"], "not_file").status_code == 422
    c = ok(act(w["leader"], c["id"], "not_file", comment="不符合立案条件"))
    assert c["status"] == "not_filed" and c["filed_at"] is None
    c2 = ok(report(w["sup"], class_code="E0104"), 201)
    ok(act(w["leader"], c2["id"], "file"))
    again = act(w["leader"], c2["id"], "file")
    assert again.status_code == 409 and "重复立案" in again.json()["error"]["message"]


def test_multi_department_dispatch(world):
    w = world
    c = ok(report(w["sup"]), 201)
    ok(act(w["leader"], c["id"], "file"))
    c = ok(act(w["disp"], c["id"], "dispatch", dept_ids=[w["ids"]["srhw"], w["ids"]["szgy"]]))
    # one 派遣 to two departments at once: 协同, not a second dispatch (issue 11, correctness 3)
    assert c["dispatch_count"] == 1 and c["cooperative"] is True
    assert sorted(c["dept_ids"]) == sorted([w["ids"]["srhw"], w["ids"]["szgy"]])
    ok(w["h1"].api("POST", f"/api/command/cases/{c['id']}/claim", json={}))
    c = ok(act(w["h1"], c["id"], "done", photos=[photo_id(w["h1"])]))
    assert c["status"] == "disposing" and c["disposed_at"] is None  # the other department is still at it
    ok(w["h2"].api("POST", f"/api/command/cases/{c['id']}/claim", json={}))
    c = ok(act(w["h2"], c["id"], "done", photos=[photo_id(w["h2"])]))
    assert c["status"] == "checking" and c["disposed_at"]


def test_self_disposal_needs_the_shift_leaders_approval(world):
    w = world
    c = ok(report(w["sup"], self_dispose=True, photos_after=[photo_id(w["sup"])]), 201)
    assert c["status"] == "reported" and c["self_disposed"] is True
    c = ok(act(w["leader"], c["id"], "approve_self"))
    assert c["status"] == "closed" and c["disposed_at"] and c["filed_at"] is None
    refused = ok(report(w["sup"], class_code="E0104", self_dispose=True, photos_after=[photo_id(w["sup"])]), 201)
    refused = ok(act(w["leader"], refused["id"], "refuse_self", comment="需专业部门处置"))
    assert refused["status"] == "reported"
    no_photo = report(w["sup"], class_code="E0201", self_dispose=True)
    assert no_photo.status_code == 422 and "photos_after" in no_photo.json()["error"]["fields"]


# --- special operations ------------------------------------------------------------------------

def op(client: Any, cid: int, name: str, **body: Any) -> Any:
    return client.api("POST", f"/api/command/cases/{cid}/ops/{name}", json=body)


def decide(client: Any, cid: int, approve: bool, **body: Any) -> Any:
    return client.api("POST", f"/api/command/cases/{cid}/decide", json={"approve": approve, **body})


def test_extension_approved_by_the_dispatcher(world):
    w = world
    c = to_dispose(w)
    ok(w["h1"].api("POST", f"/api/command/cases/{c['id']}/claim", json={}))
    before = c["due_at"]
    assert op(w["h1"], c["id"], "extend").status_code == 422  # reason required
    r = ok(op(w["h1"], c["id"], "extend", reason="需要采购配件", amount=8))
    assert r["applied"] is False
    assert decide(w["h1"], c["id"], True).status_code == 403  # not the approver
    c = ok(decide(w["disp"], c["id"], True))
    assert c["extend_count"] == 1 and c["due_at"] > before


def test_return_to_dispatch_and_redispatch(world):
    w = world
    c = to_dispose(w)
    ok(w["h1"].api("POST", f"/api/command/cases/{c['id']}/claim", json={}))
    ok(op(w["h1"], c["id"], "return", reason="不属于本部门职责"))
    c = ok(decide(w["disp"], c["id"], True))
    assert c["status"] == "filed" and c["return_count"] == 1
    c = ok(act(w["disp"], c["id"], "dispatch", dept_ids=[w["ids"]["szgy"]]))
    assert c["dispatch_count"] == 2 and c["dept_id"] == w["ids"]["szgy"]  # wrong dispatch counted


def test_suspend_and_resume(world):
    w = world
    c = to_dispose(w)
    ok(w["h1"].api("POST", f"/api/command/cases/{c['id']}/claim", json={}))
    ok(op(w["h1"], c["id"], "suspend", reason="冬季无法施工"))
    rejected = decide(w["disp"], c["id"], False)
    assert rejected.status_code == 422  # a reason is required to reject
    c = ok(decide(w["disp"], c["id"], True))
    assert c["status"] == "suspended" and c["suspend_count"] == 1
    assert act(w["h1"], c["id"], "done", photos=[photo_id(w["h1"])]).status_code == 409
    c = ok(w["h1"].api("POST", f"/api/command/cases/{c['id']}/resume", json={"comment": "开春施工"}))
    assert c["status"] == "disposing"


def test_void_approved_by_the_shift_leader(world):
    w = world
    c = ok(report(w["sup"]), 201)
    ok(act(w["leader"], c["id"], "file"))
    r = ok(op(w["disp"], c["id"], "void", reason="重复上报"))
    assert r["applied"] is False and r["status"] == "filed"
    assert decide(w["disp"], c["id"], True).status_code == 403
    c = ok(decide(w["leader"], c["id"], True))
    assert c["status"] == "voided" and c["voided_at"] and c["void_reason"] if "void_reason" in c else True


def test_urge_is_recorded(world):
    w = world
    c = to_dispose(w)
    c = ok(op(w["leader"], c["id"], "urge", reason="请尽快处置"))
    assert c["urge_count"] == 1
    assert any(h["kind"] == "urge" for h in detail(w["leader"], c["id"])["history"])


# --- duplicates --------------------------------------------------------------------------------

def test_duplicate_flagged_and_merged(ctx, world):
    w = world
    first = ok(report(w["sup"]), 201)
    near = (INSIDE[0] + 20 / (DX and 1 / DX) / 1e9, INSIDE[1])  # same point, effectively
    dup = ok(report(w["sup2"], at=near), 201)
    assert dup["duplicate_of_id"] == first["id"]
    far = ok(report(w["sup2"], at=(LON0 + 2.5 * DX, LAT0 + 1.5 * DY)), 201)  # > 50 m away
    other = ok(report(w["sup2"], class_code="E0104"), 201)                  # another class
    assert far["duplicate_of_id"] is None and other["duplicate_of_id"] is None
    url = f"/api/command/cases/nearby?class_code=E0102&lon={INSIDE[0]}&lat={INSIDE[1]}"
    assert {i["id"] for i in ok(w["leader"].api("GET", url))["items"]} == {first["id"], dup["id"]}
    # a supervisor finds only the cases they may see (issue 10, defect 1): their own, not sup2's
    assert {i["id"] for i in ok(w["sup"].api("GET", url))["items"]} == {first["id"]}
    assert act(w["leader"], dup["id"], "merge", merge_into=other["id"]).status_code == 422  # other class
    assert act(w["leader"], dup["id"], "merge", merge_into=999999).status_code == 422
    m = ok(act(w["leader"], dup["id"], "merge", merge_into=first["id"]))
    assert m["status"] == "merged" and m["merged_into_id"] == first["id"]
    listing = ok(w["leader"].api("GET", "/api/command/cases?view=duplicates"))
    assert dup["id"] not in {i["id"] for i in listing["items"]}


# --- bad input ---------------------------------------------------------------------------------

def test_bad_reports_write_nothing(ctx, world):
    w = world
    no_loc = w["sup"].api("POST", "/api/command/cases/report", json={"class_code": "E0102",
                                                                     "photos": [photo_id(w["sup"])]})
    assert no_loc.status_code == 422 and no_loc.json()["error"]["code"] == "no_location"
    outside = report(w["sup"], at=(116.4, 39.9))
    assert outside.status_code == 422 and "不在本市" in outside.json()["error"]["message"]
    unknown = report(w["sup"], class_code="E9999")
    assert unknown.status_code == 422 and "class_code" in unknown.json()["error"]["fields"]
    no_photo = report(w["sup"], photos=False)
    assert no_photo.status_code == 422 and "photos" in no_photo.json()["error"]["fields"]
    not_image = w["sup"].api("POST", "/api/command/photos", files={"file": ("p.png", b"MZ\x90\x00not an image",
                                                                           "image/png")})
    assert not_image.status_code == 422
    text = w["sup"].api("POST", "/api/command/photos", files={"file": ("a.txt", b"hello", "text/plain")})
    assert text.status_code == 422
    bad_source = report(w["sup"], source="twitter")
    assert bad_source.status_code == 422
    assert w["h1"].api("POST", "/api/command/cases/report", json={}).status_code == 403  # handlers do not report
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_dispatch_to_a_missing_or_inactive_department(world):
    w = world
    c = ok(report(w["sup"]), 201)
    ok(act(w["leader"], c["id"], "file"))
    for bad in ([999999], [w["ids"]["old"]], [], ["x"]):
        r = act(w["disp"], c["id"], "dispatch", dept_ids=bad)
        assert r.status_code == 422 and "dept_ids" in r.json()["error"]["fields"], (bad, r.text)
    assert detail(w["disp"], c["id"])["status"] == "filed"


def test_handler_cannot_act_on_another_departments_task(world):
    w = world
    c = to_dispose(w)  # sent to srhw (h1); h2 is in szgy
    # a case h2 may not see does not exist for h2, whatever the action (issue 10, defect 10)
    assert w["h2"].api("POST", f"/api/command/cases/{c['id']}/claim", json={}).status_code == 404
    r = act(w["h2"], c["id"], "done", photos=[photo_id(w["h2"])])
    assert r.status_code == 404
    assert w["h2"].api("GET", f"/api/command/cases/{c['id']}").status_code == 404
    ok(w["h1"].api("POST", f"/api/command/cases/{c['id']}/claim", json={}))
    no_after = act(w["h1"], c["id"], "done")
    assert no_after.status_code == 422 and "photos_after" in no_after.json()["error"]["fields"]


# --- case numbers ------------------------------------------------------------------------------

def test_case_numbers_are_unique_under_concurrency(ctx, world):
    numbers: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            for _ in range(5):
                with ctx.db.session() as s:
                    no = cases.case_number(ctx, s, "event", "0102", "320508")
                with lock:
                    numbers.append(no)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(numbers) == 30 and len(set(numbers)) == 30
    assert sorted(int(n[-4:]) for n in numbers) == list(range(1, 31))


def test_case_number_pattern_setting(ctx, world):
    from ccms.services import settings as plugin_settings
    with ctx.db.session() as s:
        current = plugin_settings.get_settings(ctx, "command", s)
        plugin_settings.save(s, Actor(None, "t"), ctx, "command",
                             {**current, "case_no_pattern": "{district}-{kind}{class}-{yyyy}-{serial:05d}"}, 0)
    c = ok(report(world["sup"]), 201)
    assert c["case_no"].startswith("320508-E0102-20") and c["case_no"].endswith("-00001")


# --- demo --------------------------------------------------------------------------------------

def test_demo_seeds_cases_in_every_state(ctx):
    import time

    from ccms.demo import _org_tree
    from ccms.seed import ensure_root_org
    with ctx.db.session() as s:
        orgs = _org_tree(ctx, s, ensure_root_org(ctx, s))
        started = time.perf_counter()
        results = ctx.pm.hook.ccms_seed_demo(ctx=ctx, session=s, orgs={k: o.id for k, o in orgs.items()})
        took = time.perf_counter() - started
    logins = [x for r in results for x in (r or [])]
    assert {"jdy_gusu1", "zbz_1", "pqy_1", "cz_srhw"} <= {x["username"] for x in logins}
    with ctx.db.session() as s:
        total = s.scalar(select(func.count()).select_from(Case))
        assert 19_000 <= total <= 21_000
        states = dict(s.execute(select(Case.status, func.count()).group_by(Case.status)).all())
        assert set(states) >= {"reported", "verifying", "not_filed", "filed", "dispatched", "disposing", "checking",
                               "closed", "voided", "suspended", "merged"}, states
        assert s.scalar(select(func.count(func.distinct(Case.case_no)))) == total
        assert s.scalar(select(func.count()).select_from(Case).where(Case.rework_count > 0)) > 100
        assert s.scalar(select(func.count()).select_from(Case).where(Case.disposed_on_time.is_(False))) > 100
        open_case = s.scalar(select(Case).where(Case.status == "filed").limit(1))
        assert open_case.instance_id is not None
    print("demo seeding took", took)  # its speed is a benchmark's business, not a test's


def test_deadline_colours(ctx, world):
    import datetime as dt

    from ccms.api import utcnow
    from ccms.flows import models as m  # a test may reach the engine's tables; plugins may not
    w = world
    c = to_dispose(w)
    assert detail(w["leader"], c["id"])["deadline_level"] == "green"
    now = utcnow()
    for level, (since_h, due_h) in {"yellow": (9, 1), "red": (10, -1)}.items():
        with ctx.db.session() as s:
            row = s.get(Case, c["id"])
            row.dispatched_at, row.due_at = now - dt.timedelta(hours=since_h), now + dt.timedelta(hours=due_h)
            row.round_started_at = row.dispatched_at  # the disposal round the colour measures
            task = s.scalar(select(m.FlowTask).where(m.FlowTask.instance_id == row.instance_id,
                                                     m.FlowTask.node_id == "dispose"))
            task.due_at = row.due_at
            task.warn_at = now - dt.timedelta(minutes=5)
        d = detail(w["leader"], c["id"])
        assert d["deadline_level"] == level and d["tasks"][0]["level"] == level
        page = w["leader"].get(f"/command/cases/{c['id']}").text
        assert f'class="lvl lvl-{level}" data-testid="case-deadline"' in page
        assert f"lvl-{level}" in w["h1"].get("/command/tasks").text
