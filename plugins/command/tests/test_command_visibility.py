"""Who sees which case (issue 10, defects 1, 2 and 10), with demo-like grants:
a dispatcher and a 处置员 of 姑苏区 and of 吴中区 (each granted at their district's
org), a case reported in 姑苏区.

* defect 2: ``command.case.view_all`` granted at a district covers that district
  only (list, detail, page, statistics), not the whole city;
* defect 1: the duplicate check (``/api/command/cases/nearby``, ``/command/intake/nearby``)
  finds only cases the user may see, and shows only what the check needs;
* defect 10: every action on a case the user may not see answers 404, as the
  detail does (never 403/409, which would confirm that the case exists).
"""

from __future__ import annotations

from typing import Any

import pytest
from flow_engine_kit import person
from sqlalchemy import select
from test_command_cases import INSIDE, PW, act, ok, photo_id, report, world  # noqa: F401 (fixture)

from ccms.models import Org

WUZHONG = "320506"


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(attachments_dir=str(tmp_path / "att"))


@pytest.fixture
def districts(ctx, world, client_for) -> dict[str, Any]:
    """吴中区 next to the test city's 姑苏区, and staff granted at each district."""
    w = world
    with ctx.db.session() as s:
        root = s.scalar(select(Org).where(Org.parent_id.is_(None)))
        wz = Org(parent_id=root.id, name="吴中区", kind="region", region_code=WUZHONG, path="", active=True)
        s.add(wz)
        s.flush()
        wz.path = f"{root.path}{wz.id}/"
        wz_brigade = Org(parent_id=wz.id, name="吴中区城管执法大队", kind="department", region_code=WUZHONG, path="",
                         active=True)
        s.add(wz_brigade)
        s.flush()
        wz_brigade.path = f"{wz.path}{wz_brigade.id}/"
        wz_id, wz_brigade_id = wz.id, wz_brigade.id
    gs = w["ids"]["district"]
    staff = {"gs_disp": ("command_dispatcher", gs), "wz_disp": ("command_dispatcher", wz_id),
             "wz_leader": ("command_shift_leader", wz_id), "wz_handler": ("command_handler", wz_brigade_id)}
    for name, (role, org) in staff.items():
        person(ctx, name, org_id=org, roles=[role], role_org=org)
        w[name] = client_for(name, PW)
    return w


def _filed_case(w: dict[str, Any]) -> dict[str, Any]:
    c = ok(report(w["sup"], description="姑苏区的垃圾", reporter_name="李四", reporter_phone="13900000000"), 201)
    assert c["district_code"] == "320508"
    return ok(act(w["leader"], c["id"], "file"))


def _ids(client: Any, url: str = "/api/command/cases") -> set[int]:
    return {i["id"] for i in ok(client.api("GET", url))["items"]}


def test_view_all_granted_at_a_district_covers_that_district_only(districts):
    w = districts
    c = _filed_case(w)
    cid = c["id"]
    # 姑苏区's dispatcher: list, API detail, page, statistics
    assert cid in _ids(w["gs_disp"])
    assert ok(w["gs_disp"].api("GET", f"/api/command/cases/{cid}"))["case_no"] == c["case_no"]
    assert w["gs_disp"].get(f"/command/cases/{cid}").status_code == 200
    assert c["case_no"] in w["gs_disp"].get("/command/dispatch").text
    assert f'href="/command/cases/{cid}"' in w["gs_disp"].get(f"/command/cases?q={c['case_no']}").text
    # 吴中区's dispatcher and shift leader: the case does not exist for them
    for who in ("wz_disp", "wz_leader"):
        assert cid not in _ids(w[who]), who
        assert ok(w[who].api("GET", "/api/command/cases?status=filed"))["total"] == 0, who
        assert w[who].api("GET", f"/api/command/cases/{cid}").status_code == 404, who
        assert w[who].get(f"/command/cases/{cid}").status_code == 404, who
        assert c["case_no"] not in w[who].get("/command/cases").text, who
        assert c["case_no"] not in w[who].get("/command/dispatch").text, who
        assert f'href="/command/cases/{cid}"' not in w[who].get(f"/command/cases?q={c['case_no']}").text, who
        stats = ok(w[who].api("GET", "/api/command/stats"))
        assert stats["scope"]["city"] is False and stats["total"]["counts"]["reported"] == 0, who
    assert ok(w["gs_disp"].api("GET", "/api/command/stats"))["total"]["counts"]["reported"] == 1


def test_nearby_finds_only_visible_cases_and_only_what_the_check_needs(districts):
    w = districts
    c = _filed_case(w)
    url = f"/api/command/cases/nearby?class_code=E0102&lon={INSIDE[0]}&lat={INSIDE[1]}"
    items = ok(w["gs_disp"].api("GET", url))["items"]
    assert [i["id"] for i in items] == [c["id"]]
    assert set(items[0]) == {"id", "case_no", "class_code", "status", "grid_code", "address", "reported_at",
                             "distance_m"}  # no reporter, description, photos
    assert "李四" not in str(items) and "13900000000" not in str(items) and "姑苏区的垃圾" not in str(items)
    for who in ("wz_disp", "wz_handler", "sup2"):  # sup2: a supervisor who did not report it
        assert ok(w[who].api("GET", url))["items"] == [], who
        page = w[who].get(f"/command/intake/nearby?class_code=E0102&lon={INSIDE[0]}&lat={INSIDE[1]}")
        assert page.status_code == 200 and c["case_no"] not in page.text, who
    page = w["gs_disp"].get(f"/command/intake/nearby?class_code=E0102&lon={INSIDE[0]}&lat={INSIDE[1]}")
    assert c["case_no"] in page.text and "李四" not in page.text


def test_actions_on_a_case_the_user_cannot_see_answer_404(districts):
    w = districts
    cid = _filed_case(w)["id"]
    base = f"/api/command/cases/{cid}"
    api_calls = [
        ("POST", f"{base}/claim", {}),
        ("POST", f"{base}/act", {"action": "dispatch", "dept_ids": [w["ids"]["srhw"]]}),
        ("POST", f"{base}/act", {"action": "file"}),
        ("POST", f"{base}/act", {"action": "done", "photos": []}),
        ("POST", f"{base}/ops/urge", {"reason": "快"}),
        ("POST", f"{base}/ops/void", {"reason": "x"}),
        ("POST", f"{base}/ops/nonsense", {}),
        ("POST", f"{base}/decide", {"approve": True}),
        ("POST", f"{base}/resume", {}),
    ]
    for who in ("wz_handler", "wz_disp", "wz_leader"):
        for method, url, body in api_calls:
            r = w[who].api(method, url, json=body)
            assert r.status_code == 404, (who, url, body, r.status_code, r.text)
            assert r.json()["error"]["code"] == "not_found", (who, url)
        for do in ("claim", "act", "op", "decide", "resume"):
            r = w[who].form(f"/command/cases/{cid}/do", {"do": do, "action": "dispatch", "op": "urge"})
            assert r.status_code == 404, (who, do, r.status_code)
    # the same calls on a case that does not exist look the same
    missing = w["wz_handler"].api("POST", "/api/command/cases/999999/claim", json={})
    assert missing.status_code == 404
    # and the case was not touched: still waiting for dispatch, nothing claimed
    d = ok(w["gs_disp"].api("GET", base))
    assert d["status"] == "filed" and d["urge_count"] == 0
    assert ok(act(w["disp"], cid, "dispatch", dept_ids=[w["ids"]["srhw"]]))["status"] == "dispatched"


def test_a_visible_case_still_gets_its_real_refusal(districts):
    """A user who may see the case gets the real reason (409 wrong step), not 404."""
    w = districts
    cid = _filed_case(w)["id"]
    r = w["gs_disp"].api("POST", f"/api/command/cases/{cid}/act", json={"action": "close"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "wrong_step"
    assert photo_id(w["gs_disp"])  # uploading stays possible for anyone with command.view


def test_the_case_page_names_a_duplicate_only_to_who_may_see_it(districts):
    w = districts
    first = ok(report(w["sup"]), 201)
    dup = ok(report(w["sup2"]), 201)  # same class, same place: flagged as a possible duplicate
    assert dup["duplicate_of_id"] == first["id"]
    assert first["case_no"] in w["gs_disp"].get(f"/command/cases/{dup['id']}").text  # the centre sees both
    page = w["sup2"].get(f"/command/cases/{dup['id']}")  # sup2 sees their own report only
    assert page.status_code == 200 and first["case_no"] not in page.text
    assert 'data-testid="case-duplicate"' not in page.text
