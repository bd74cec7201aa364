"""指挥协调 case screens (issue 5 §3): the supervisor's phone report form, the shift
leader's workbench, the dispatcher's board, the department inbox and the case detail
— the loop driven through the HTML forms, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from test_command_base import COMMUNITY
from test_command_cases import (  # noqa: F401  (fixtures)
    INSIDE,
    INSIDE_B,
    act,
    app,
    detail,
    ok,
    photo_id,
    png,
    report,
    to_dispose,
    world,
)

from ccms.api import flow_history
from ccms.plugins.command.models import Case


def test_report_form_file_dispatch_dispose_check_close(ctx, world):  # noqa: F811
    w = world
    page = w["sup"].get("/command/intake")
    assert page.status_code == 200 and 'data-testid="intake-form"' in page.text
    assert "/static/command/cases.js" in page.text and "<script>" not in page.text
    assert w["sup"].get("/static/command/cases.js").status_code == 200
    near = w["sup"].get(f"/command/intake/nearby?class_code=E0102&lon={INSIDE[0]}&lat={INSIDE[1]}",
                        headers={"HX-Request": "true"})
    assert 'data-testid="nearby-grid"' in near.text and 'data-testid="nearby-cases"' not in near.text
    form = {"class_code": "E0102 暴露垃圾", "lon": str(INSIDE[0]), "lat": str(INSIDE[1]), "description": "垃圾",
            "csrf_token": w["sup"].csrf or w["sup"].refresh_csrf()}
    r = w["sup"].post("/command/intake", data=form, files={"photos": ("a.png", png(), "image/png")},
                      follow_redirects=False)
    assert r.status_code == 303, r.text
    cid = int(re.search(r"/command/cases/(\d+)", r.headers["location"]).group(1))
    detail = w["sup"].get(r.headers["location"]).text
    assert 'data-testid="case-reported"' in detail and "<svg" in detail and 'data-testid="case-photos"' in detail
    assert 'data-testid="case-map"' in detail and f'grid-path-{COMMUNITY}01' in detail
    # a second report close by is shown the first one
    near = w["sup"].get(f"/command/intake/nearby?class_code=E0102&lon={INSIDE[0]}&lat={INSIDE[1]}").text
    assert 'data-testid="nearby-cases"' in near
    # shift leader's workbench → file
    bench = w["leader"].get("/command/cases?view=to_file").text
    assert f'data-testid="case-row-{cid}"' in bench
    assert ">暴露垃圾</a> <span class=\"muted\">E0102</span>" in bench  # the class by name, not a bare code
    frag = w["leader"].get("/command/cases?view=to_file&q=E0102", headers={"HX-Request": "true", "HX-Target": "list"})
    assert "<html" not in frag.text and f"case-row-{cid}" in frag.text
    page = w["leader"].get(f"/command/cases/{cid}").text
    assert 'data-testid="case-act-file"' in page and 'data-testid="case-act-not_file"' in page
    r = w["leader"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "file"}, follow_redirects=False)
    assert r.status_code == 303 and "error" not in r.headers["location"]
    # dispatcher's board shows it under the suggested department
    board = w["disp"].get("/command/dispatch").text
    assert f'data-testid="dispatch-group-{w["ids"]["srhw"]}"' in board and f"dispatch-case-{cid}" in board
    assert "E0102 暴露垃圾" in board
    r = w["disp"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "dispatch",
                                                     "dept_ids": str(w["ids"]["srhw"])}, follow_redirects=False)
    assert "error" not in r.headers["location"], r.headers["location"]
    # department inbox → sign for → dispose with an after photo
    inbox = w["h1"].get("/command/tasks").text
    assert 'data-testid="tasks-table"' in inbox
    assert w["h2"].get("/command/tasks").text.count("task-row-") == 0
    r = w["h1"].form(f"/command/cases/{cid}/do", {"do": "claim"}, follow_redirects=False)
    assert "error" not in r.headers["location"]
    missing = w["h1"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "done"}, follow_redirects=False)
    assert missing.status_code == 422 and 'data-testid="case-error"' in missing.text
    r = w["h1"].post(f"/command/cases/{cid}/do", data={"do": "act", "action": "done", "csrf_token": w["h1"].csrf},
                     files={"photos": ("b.png", png("blue"), "image/png")}, follow_redirects=False)
    assert "error" not in r.headers["location"], r.headers["location"]
    with ctx.db.session() as s:
        c = s.scalar(select(Case).where(Case.id == cid))
        assert c.status == "checking" and len(c.photos_after) == 1
        after = c.photos_after[0]
    assert w["leader"].get(f"/command/cases/{cid}/photos/{after}").headers["content-type"] == "image/png"
    assert w["h2"].get(f"/command/cases/{cid}/photos/{after}").status_code == 404  # not their case
    w["sup"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "pass"})
    bench = w["leader"].get("/command/cases?view=to_close").text
    assert f"case-row-{cid}" in bench
    w["leader"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "close"})
    page = w["leader"].get(f"/command/cases/{cid}").text
    assert "已结案" in page and 'data-testid="case-timeline"' in page


def test_report_form_keeps_input_and_explains_errors(ctx, world):  # noqa: F811
    w = world
    form = {"class_code": "E0102", "lon": "116.4", "lat": "39.9", "description": "北京的点",
            "csrf_token": w["sup"].csrf or w["sup"].refresh_csrf()}
    r = w["sup"].post("/command/intake", data=form, files={"photos": ("a.png", png(), "image/png")})
    assert r.status_code == 422 and "不在本市" in r.text and "北京的点" in r.text and 'data-testid="error-lon"' in r.text
    r = w["sup"].post("/command/intake", data={**form, "lon": str(INSIDE[0]), "lat": str(INSIDE[1])},
                      files={"photos": ("a.png", b"not an image at all", "image/png")})
    assert r.status_code == 422 and 'data-testid="intake-error"' in r.text
    r = w["sup"].post("/command/intake", data={**form, "lon": "", "lat": ""},
                      files={"photos": ("a.png", png(), "image/png")})
    assert r.status_code == 422 and 'data-testid="error-lat"' in r.text
    outside = w["sup"].get("/command/intake/nearby?class_code=E0102&lon=116.4&lat=39.9").text
    assert 'data-testid="nearby-error"' in outside
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_menu_pages_replace_the_placeholders(world):  # noqa: F811
    w = world
    for url in ("/command/intake", "/command/cases", "/command/dispatch"):
        page = w["leader"].get(url) if url != "/command/intake" else w["intake"].get(url)
        assert page.status_code == 200 and "not built yet" not in page.text and "尚未建成" not in page.text, url
    assert w["h1"].get("/command/intake").status_code == 403
    assert w["sup"].get("/command/tasks").status_code == 403
    assert 'data-testid="intake-source"' in w["intake"].get("/command/intake").text


# --- fixes found by the browser journey (test_command_case_journey_browser.py) ----------------

def _case_task(ctx: Any, cid: int, node: str) -> int:
    from ccms.api import flow_tasks
    with ctx.db.session() as s:
        c = s.get(Case, cid)
        return next(t.id for t in flow_tasks(s, c.instance_id, live=True) if t.node_id == node)


def test_dispatch_board_shows_the_disposal_limit_and_the_dispatch_deadline(world):  # noqa: F811
    w = world
    cid = ok(report(w["sup"]), 201)["id"]                        # E0102: the standard says 4 work hours
    other = ok(report(w["sup"], class_code="E0104"), 201)["id"]  # no standard: the 16-hour default
    for c in (cid, other):
        ok(act(w["leader"], c, "file"))
    board = w["disp"].get("/command/dispatch").text
    item = re.search(rf'data-testid="dispatch-case-{cid}">(.*?)</li>', board, re.DOTALL).group(1)
    assert 'data-testid="dispatch-deadline"' in item and "派遣时限" in item
    assert re.search(r'data-testid="dispatch-limit">处置时限 4 工作时<', item)
    assert re.search(rf'<option value="{w["ids"]["srhw"]}" selected>市容环卫处', item)
    item = re.search(rf'data-testid="dispatch-case-{other}">(.*?)</li>', board, re.DOTALL).group(1)
    assert re.search(r'data-testid="dispatch-limit">处置时限 16 工作时<', item)


def test_case_page_shows_the_limit_as_people_write_it(world):  # noqa: F811
    w = world
    cid = ok(report(w["sup"]), 201)["id"]
    page = w["sup"].get(f"/command/cases/{cid}").text
    assert "4 工作时" in page and "4.0 工作时" not in page


def test_timeline_speaks_the_flow_definition_not_codes(world):  # noqa: F811
    w = world
    cid = to_dispose(w)["id"]
    ok(w["h1"].api("POST", f"/api/command/cases/{cid}/claim", json={}))
    page = w["h1"].get(f"/command/cases/{cid}").text
    tl = re.search(r'data-testid="case-timeline">(.*?)</section>', page, re.DOTALL).group(1)
    assert 'data-kind="start"' in tl and "信息采集" in tl and "start" not in re.sub(r'data-[a-z]+="[^"]*"', "", tl)
    items = re.findall(r'<li data-testid="case-tl-\d+" data-kind="([a-z_]+)" data-node="([a-z_]*)">(.*?)</li>', tl, re.DOTALL)
    done = [(k, n, re.sub(r"\s+", " ", x)) for k, n, x in items if k != "task_created"]
    assert [(k, n) for k, n, _ in done] == [("start", "start"), ("complete", "file"), ("complete", "dispatch"),
                                            ("claim", "dispose")]
    assert "立案 · leader" in done[1][2] and " file" not in done[1][2]
    assert "签收" in done[3][2] and "h1" in done[3][2]  # the engine's claim is 签收 in the case loop
    # the JSON API keeps the codes (and adds the labels)
    hist = detail(w["h1"], cid)["history"]
    filed = next(h for h in hist if h["kind"] == "complete" and h["node_id"] == "file")
    assert filed["action"] == "file" and filed["action_label"] == "立案" and filed["node_title"] == "立案"


def test_case_steps_with_case_data_are_refused_outside_the_case_page(ctx, world):  # noqa: F811
    """The generic task page/API cannot dispatch without departments or dispose without an
    after photo: refused with the case page named, nothing written; plain steps still work there."""
    w = world
    cid = ok(report(w["sup"]), 201)["id"]
    ok(act(w["leader"], cid, "file"))
    tid = _case_task(ctx, cid, "dispatch")
    r = w["disp"].get(f"/tasks/{tid}", follow_redirects=False)  # the generic task page sends to the case page
    assert r.status_code == 303 and r.headers["location"] == f"/command/cases/{cid}"
    r = w["disp"].api("POST", f"/api/tasks/{tid}/act", json={"action": "dispatch",
                                                              "variables": {"dept_ids": [w["ids"]["srhw"]]}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "use_case_page", r.text
    assert f"/command/cases/{cid}" in r.json()["error"]["message"] and r.json()["error"]["message_en"]
    assert detail(w["disp"], cid)["status"] == "filed"
    ok(act(w["disp"], cid, "dispatch", dept_ids=[w["ids"]["srhw"]]))
    ok(w["h1"].api("POST", f"/api/command/cases/{cid}/claim", json={}))
    tid = _case_task(ctx, cid, "dispose")
    with ctx.db.session() as s:
        hist_before = len(flow_history(s, s.get(Case, cid).instance_id))
    r = w["h1"].api("POST", f"/api/tasks/{tid}/act", json={"action": "done"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "use_case_page", r.text
    page = w["h1"].form(f"/tasks/{tid}/act", {"action": "done"})  # the generic task page's form
    assert page.status_code in (200, 303, 422) and detail(w["h1"], cid)["status"] == "disposing"
    with ctx.db.session() as s:
        c = s.get(Case, cid)
        assert c.photos_after == [] and len(flow_history(s, c.instance_id)) == hist_before
    ok(act(w["h1"], cid, "done", photos=[photo_id(w["h1"])]))
    # 核查 from 我的待办: the task opens the case page, with the photos before and after (issue 11 item 9)
    tid = _case_task(ctx, cid, "check")
    page = w["sup"].get(f"/tasks/{tid}")
    assert str(page.url).endswith(f"/command/cases/{cid}") and 'data-testid="task-form"' not in page.text
    assert 'data-testid="case-photos-before"' in page.text and 'data-testid="case-photos-after"' in page.text
    assert 'data-testid="case-act-pass"' in page.text
    # machines may still pass it through the task API (no case-side data)
    assert w["sup"].api("POST", f"/api/tasks/{tid}/act", json={"action": "pass"}).status_code == 200
    assert detail(w["sup"], cid)["checked_at"]


def test_waiting_for_me_lists_the_cases_of_ones_own_tasks(world):  # noqa: F811
    w = world
    ok(report(w["sup2"], at=INSIDE_B, class_code="E0104"), 201)  # sup2 works grid ...02
    c = ok(report(w["intake"], at=INSIDE_B, class_code="E0102", source="hotline", photos=False), 201)
    mine = w["sup2"].get("/command/cases?view=mine").text
    assert f'data-testid="case-row-{c["id"]}"' in mine and 'data-testid="case-view-mine"' in mine
    assert 'data-testid="case-view-to_file"' not in mine  # the shift leader's views are theirs
    # a grid supervisor sees the case they must verify although someone else reported it
    assert f'case-row-{c["id"]}' in w["sup2"].get("/command/cases").text
    assert f'case-row-{c["id"]}' not in w["sup"].get("/command/cases").text
    assert f'case-row-{c["id"]}' not in w["sup"].get("/command/cases?view=mine").text
    ok(act(w["sup2"], c["id"], "confirm"))
    assert f'case-row-{c["id"]}' not in w["sup2"].get("/command/cases?view=mine").text
    lead = w["leader"].get("/command/cases?view=mine").text
    assert f'case-row-{c["id"]}' in lead and 'data-testid="case-view-to_file"' in lead
    # the department's handlers see it once it is sent to them (a task they may sign for)
    ok(act(w["leader"], c["id"], "file"))
    ok(act(w["disp"], c["id"], "dispatch", dept_ids=[w["ids"]["srhw"]]))
    assert f'case-row-{c["id"]}' in w["h1"].get("/command/cases?view=mine").text
    assert f'case-row-{c["id"]}' not in w["h2"].get("/command/cases?view=mine").text
    assert ok(w["sup2"].api("GET", "/api/command/cases?view=mine"))["total"] == 0


def test_case_page_confirms_a_step_and_explains_a_refusal_next_to_its_field(world):  # noqa: F811
    w = world
    cid = to_dispose(w)["id"]
    r = w["h1"].form(f"/command/cases/{cid}/do", {"do": "claim"}, follow_redirects=False)
    assert r.headers["location"] == f"/command/cases/{cid}?done=claim"
    assert 'data-testid="case-done"' in w["h1"].get(r.headers["location"]).text
    r = w["h1"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "done"}, follow_redirects=False)
    assert r.status_code == 422  # the page again with the reason; nothing travels in the URL
    page = r.text
    assert "伪造" not in w["h1"].get(f"/command/cases/{cid}?error=伪造&error_en=forged").text
    assert "请按提示修改" in re.search(r'data-testid="case-error">(.*?)</p>', page, re.DOTALL).group(1)
    form = re.search(r'<form[^>]*data-testid="case-form-done".*?</form>', page, re.DOTALL).group(0)
    err = re.search(r'<small class="error" id="[^"]*-e-photos"[^>]*>(.*?)</small>', form, re.DOTALL).group(1)
    # Chinese first, under the photo field (issue 11 item 15); the English wording secondary
    assert err == '请上传至少一张照片 <span lang="en" class="muted">upload at least one photo</span>'
    assert 'data-testid="case-done"' not in page and detail(w["h1"], cid)["status"] == "disposing"
