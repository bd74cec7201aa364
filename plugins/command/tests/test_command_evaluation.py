"""绩效考核 (GB/T 30428.4): scores against numbers computed by hand on the
statistics fixture of ``test_command_stats`` (May 2024), plus one extra case
(#21: department C, no district, filed in May, due in June, extended) so that
department C has no case due: its disposal, on-time and overdue indicators are
left out and the other weights renormalised.

Hand count, default weights (department 30/20/20/20/10; region 10/20/30/40):

* dept A: due 6, disposed 4, on time 3, overdue 2, filed 8, reworked 1, extended 0
  → 66.67, 50, 100−12.5=87.5, 100−33.33=66.67, 100−0=100
  → (30·66.67 + 20·50 + 20·87.5 + 20·66.67 + 10·100) / 100 = 70.835 → C, rank 1
* dept B: due 6, disposed 4, on time 3, overdue 3 of which due 2 (case 11 was due in April),
  filed 5, reworked 1, extended 1
  → 66.67, 50, 80, 100−33.33=66.67, 80 → 67.33 → C, rank 2
* dept C: due 0, filed 1, reworked 0, extended 1 → —, —, 100, —, 0
  → (20·100 + 10·0) / 30 = 66.67 → C, rank 3
* D1: reported 10, public 2 (20 % → 80), filed 9 (best → 100), closing 66.67, on time 50
  → (800 + 2000 + 2000.1 + 2000) / 100 = 68.00 → C, rank 1
* D2: reported 6, public 1 (16.67 % → 83.33), filed 5 (5/9 → 55.56), closing 50, on time 33.33
  → (833.3 + 1111.2 + 1500 + 1333.2) / 100 = 47.78 → D, rank 2
"""

from __future__ import annotations

import json
import io
import re

import openpyxl
import pytest
from conftest import ADMIN_PASSWORD
from test_command_stats import D1, D2, A, B, _org, seed

from ccms import charts
from ccms.plugins.command import evaluation, stats
from ccms.plugins.command.models import Case, Grid

C = 103
MAY_Q = "period=month&month=2024-05"
DEFAULTS = {"eval_weight_dept_dispose_rate": 30, "eval_weight_dept_ontime_dispose_rate": 20,
            "eval_weight_dept_rework_rate": 20, "eval_weight_dept_overdue_rate": 20,
            "eval_weight_dept_extend_rate": 10, "eval_weight_region_public_share": 10,
            "eval_weight_region_filed_count": 20, "eval_weight_region_close_rate": 30,
            "eval_weight_region_ontime_close_rate": 40, "eval_grade_a": 90, "eval_grade_b": 75,
            "eval_grade_c": 60, "eval_grade_d": 40,
            "eval_weight_supervisor_effective_rate": 40, "eval_weight_supervisor_miss_rate": 20,
            "eval_weight_supervisor_verify_ontime_rate": 20, "eval_weight_supervisor_check_ontime_rate": 20, "eval_weight_shift_leader_file_ontime_rate": 25,
            "eval_weight_shift_leader_file_accurate_rate": 40, "eval_weight_shift_leader_ontime_close_rate": 35,
            "eval_weight_dispatcher_dispatch_count": 20, "eval_weight_dispatcher_dispatch_ontime_rate": 40,
            "eval_weight_dispatcher_dispatch_accurate_rate": 40, "eval_limit_verify_minutes": 60,
            "eval_limit_check_minutes": 120, "eval_limit_file_minutes": 30, "eval_limit_dispatch_minutes": 30}


def _add_case_21(ctx) -> None:
    import datetime as dt
    t = lambda m, d: dt.datetime(2024, m, d, 2, tzinfo=dt.UTC)
    with ctx.db.session() as s:
        s.add(Case(id=21, case_no="E010100000021", kind="E", class_code="E0101", big_class="E01",
                   source="supervisor", status="disposing", district_code=None, street_code=None,
                   community_code=None, grid_code=None, dept_id=C, reported_at=t(5, 20), filed_at=t(5, 20),
                   dispatched_at=t(5, 20), due_at=t(6, 10), rework_count=0, extend_count=1, suspend_count=0,
                   return_count=0, dispatch_count=1))


@pytest.fixture
def seeded(app):
    ctx = app.state.ccms
    seed(ctx)
    _add_case_21(ctx)
    return ctx


def _api(client, query: str) -> dict:
    r = client.get(f"/api/command/evaluation?{query}")
    assert r.status_code == 200, r.text
    return r.json()


def _by_key(data: dict) -> dict[str, dict]:
    return {r["key"]: r for r in data["rows"]}


# --- pure scoring -------------------------------------------------------------------------------

def test_defaults_are_the_seed_weights_and_sum_to_100(app):
    from ccms.plugins.command.common import settings
    s = settings(app.state.ccms)
    for k, v in DEFAULTS.items():
        assert s[k] == v, k
    assert evaluation.problems(s) == []


def test_score_renormalises_when_an_indicator_has_no_data():
    w = evaluation.weights_from(DEFAULTS, "dept")
    grades = evaluation.grades_from(DEFAULTS)
    rows = [("x", "X", {"due": 0, "filed": 4, "reworked": 1, "extended": 0}),
            ("y", "Y", {"due": 0, "filed": 0}),  # nothing to score at all
            ("z", "Z", {"due": 10, "disposed": 10, "disposed_on_time": 10, "overdue_open": 0, "filed": 10})]
    out = evaluation.score(rows, "dept", w, grades)
    assert [r.key for r in out] == ["z", "x", "y"]
    z, x, y = out
    assert (z.composite, z.grade, z.rank) == (100.0, "A", 1)
    assert x.marks["dispose_rate"].value is None and x.marks["dispose_rate"].score is None
    assert x.marks["rework_rate"].value == 25.0 and x.marks["rework_rate"].score == 75.0
    assert x.composite == pytest.approx((20 * 75 + 10 * 100) / 30, abs=0.005) and x.grade == "B" and x.rank == 2
    assert (y.composite, y.grade, y.rank) == (None, None, None)


def test_grades_ties_and_counts_relative_to_the_best_peer():
    grades = evaluation.grades_from(DEFAULTS)
    assert [evaluation.grade_of(v, grades) for v in (100, 90, 89.99, 75, 60, 40, 39.99, 0)] == \
        ["A", "A", "B", "B", "C", "D", "E", "E"]
    w = {"public_share": 0, "filed_count": 100, "close_rate": 0, "ontime_close_rate": 0}
    rows = [("a", "", {"filed": 8}), ("b", "", {"filed": 8}), ("c", "", {"filed": 2}), ("d", "", {"filed": 0})]
    out = evaluation.score(rows, "region", w, grades)
    assert [(r.key, r.composite, r.rank) for r in out] == [("a", 100.0, 1), ("b", 100.0, 1), ("c", 25.0, 3),
                                                           ("d", 0.0, 4)]
    none = evaluation.score([("a", "", {"filed": 0})], "region", w, grades)  # every peer 0: no data
    assert none[0].marks["filed_count"].score is None and none[0].composite is None


def test_problems_name_weights_not_adding_up_and_bands_out_of_order():
    bad = {**DEFAULTS, "eval_weight_dept_extend_rate": 30, "eval_grade_c": 80}
    msgs = evaluation.problems(bad)
    assert len(msgs) == 2
    assert "部门考核权重合计为 120" in msgs[0][0] and "department weights add up to 120" in msgs[0][1]
    assert "依次降低" in msgs[1][0] and "grade bands" in msgs[1][1]


# --- against the statistics fixture ---------------------------------------------------------------

def test_department_scores_match_the_hand_count(seeded, admin):
    rows = _by_key(_api(admin, f"type=dept&{MAY_Q}"))
    assert set(rows) == {str(A), str(B), str(C)}  # cases without a department are not evaluated
    a, b, c = rows[str(A)], rows[str(B)], rows[str(C)]
    assert {k: v["value"] for k, v in a["indicators"].items()} == {
        "dispose_rate": 66.67, "ontime_dispose_rate": 50.0, "rework_rate": 12.5, "overdue_rate": 33.33,
        "extend_rate": 0.0}
    assert {k: v["score"] for k, v in a["indicators"].items()} == {
        "dispose_rate": 66.67, "ontime_dispose_rate": 50.0, "rework_rate": 87.5, "overdue_rate": 66.67,
        "extend_rate": 100.0}
    assert a["composite"] == pytest.approx(70.835, abs=0.006) and a["grade"] == "C" and a["rank"] == 1
    # B: 超期未处置率 counts the due cases overdue (15, 19 of 6); case 11, overdue since April,
    # was due in April (issue 11, correctness 2: the numerator is a subset of the denominator)
    assert b["indicators"]["overdue_rate"] == {"value": 33.33, "score": 66.67, "weight": 20.0}
    assert b["composite"] == pytest.approx(67.33) and b["grade"] == "C" and b["rank"] == 2
    # C: nothing due → three indicators left out, 20/10 renormalised
    assert [k for k, v in c["indicators"].items() if v["score"] is None] == [
        "dispose_rate", "ontime_dispose_rate", "overdue_rate"]
    assert c["composite"] == pytest.approx(66.67) and c["grade"] == "C" and c["rank"] == 3


def test_region_scores_match_the_hand_count(seeded, admin):
    data = _api(admin, f"type=district&{MAY_Q}")
    assert [r["key"] for r in data["rows"]] == [D1, D2]
    d1, d2 = data["rows"]
    assert {k: (v["value"], v["score"]) for k, v in d1["indicators"].items()} == {
        "public_share": (20.0, 80.0), "filed_count": (9, 100.0), "close_rate": (66.67, 66.67),
        "ontime_close_rate": (50.0, 50.0)}
    assert {k: (v["value"], v["score"]) for k, v in d2["indicators"].items()} == {
        "public_share": (16.67, 83.33), "filed_count": (5, 55.56), "close_rate": (50.0, 50.0),
        "ontime_close_rate": (33.33, 33.33)}
    assert (d1["composite"], d1["grade"], d1["rank"]) == (68.0, "C", 1)
    assert (d2["composite"], d2["grade"], d2["rank"]) == (47.78, "D", 2)
    assert data["warnings"] == []


def test_page_table_chart_links_and_export_agree(seeded, admin):
    r = admin.get(f"/command/evaluation?type=dept&{MAY_Q}")
    assert r.status_code == 200
    html = r.text
    assert re.findall(r'data-testid="eval-row-(\d+)"', html) == [str(A), str(B), str(C)]  # best first
    assert f'data-testid="eval-{A}-composite">70.8' in html
    assert re.search(rf'data-testid="eval-{A}-grade"><span class="eval-grade eval-grade-c">C<', html)
    assert f'data-testid="eval-{C}-dispose_rate-rate">—<' in html and f'data-testid="eval-{C}-dispose_rate-score">—<' in html
    assert f'data-testid="eval-{B}-rework_rate-score">80.00<' in html
    assert 'data-testid="eval-chart"' in html and "绩效考核" in html
    body_scripts = re.findall(r"<script[^>]*>", html.split("</header>")[-1])  # no inline script (CSP)
    assert 'style="' not in html and all('src="/static/' in t for t in body_scripts)
    # the chart draws the composite scores of the table, best on top, labels at 12 px or more
    spec = json.loads(re.search(r"data-chart='([^']*)' data-testid=\"eval-chart\"", html).group(1))
    assert round(spec["series"][0]["data"][-1], 1) == 70.8 and min(charts.font_sizes(spec)) >= 12
    # each rate links to the statistics drill-down of its numerator: B's 4 disposed cases
    link = re.search(rf'data-testid="eval-{B}-dispose_rate-rate"><a href="([^"]+)"', html).group(1)
    assert "measure=disposed" in link and f"key={B}" in link and "dim=dept" in link
    drill = admin.get(link.replace("&amp;", "&"))
    assert drill.status_code == 200 and "共 4 件" in drill.text
    frag = admin.get(f"/command/evaluation?type=district&{MAY_Q}", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.text and f'data-testid="eval-row-{D1}"' in frag.text
    # the export = the page
    x = admin.get(f"/command/evaluation/export.xlsx?type=dept&{MAY_Q}")
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxml")
    sheet = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    header, body = sheet[0], sheet[1:]
    col = {h: i for i, h in enumerate(header)}
    assert header[:5] == ("排名", "编码", "专业部门", "综合得分", "等级")
    assert [row[1] for row in body] == [str(A), str(B), str(C)]
    api = _by_key(_api(admin, f"type=dept&{MAY_Q}"))
    for row in body:
        a = api[row[1]]
        assert (row[0], row[3], row[4]) == (a["rank"], a["composite"], a["grade"])
        assert row[col["处置率 %"]] == a["indicators"]["dispose_rate"]["value"]
        assert row[col["返工率 得分"]] == a["indicators"]["rework_rate"]["score"]
        shown = re.search(rf'data-testid="eval-{row[1]}-composite">([\d.]+)<', html).group(1)
        assert float(shown) == pytest.approx(row[3], abs=0.005)


def test_weights_changed_through_the_settings_api_change_the_scores(seeded, admin):
    r = admin.api("PUT", "/api/settings/command", json={"values": {
        "eval_weight_dept_dispose_rate": 100, "eval_weight_dept_ontime_dispose_rate": 0,
        "eval_weight_dept_rework_rate": 0, "eval_weight_dept_overdue_rate": 0, "eval_weight_dept_extend_rate": 0},
        "version": 0})
    assert r.status_code == 200, r.text
    rows = _by_key(_api(admin, f"type=dept&{MAY_Q}"))
    assert rows[str(A)]["composite"] == rows[str(B)]["composite"] == 66.67
    assert rows[str(A)]["rank"] == rows[str(B)]["rank"] == 1
    assert rows[str(C)]["composite"] is None and rows[str(C)]["rank"] is None  # its only weighted indicator: no data
    # weights that do not add up to 100 are refused (ccms_check_settings), field by field, nothing saved
    over = {"eval_weight_dept_dispose_rate": 100, "eval_weight_dept_ontime_dispose_rate": 50,
            "eval_weight_dept_rework_rate": 0, "eval_weight_dept_overdue_rate": 0, "eval_weight_dept_extend_rate": 0}
    r = admin.api("PUT", "/api/settings/command", json={"values": over, "version": 1})
    assert r.status_code == 422, r.text
    fields = r.json()["error"]["fields"]
    assert "150" in fields["eval_weight_dept_dispose_rate"]["message"] and "eval_weight_region_close_rate" not in fields
    assert _by_key(_api(admin, f"type=dept&{MAY_Q}"))[str(A)]["composite"] == 66.67
    bands = admin.api("PUT", "/api/settings/command", json={"values": {"eval_grade_b": 95}, "version": 1})
    assert bands.status_code == 422 and "A 到 D" in bands.json()["error"]["fields"]["eval_grade_b"]["message"]
    # such weights stored before the rule existed: scaled, with a bilingual warning on the page and in the API
    from ccms.models import Setting
    with seeded.db.session() as s:
        row = s.get(Setting, "command")
        row.values = {**row.values, **over}
    data = _api(admin, f"type=dept&{MAY_Q}")
    assert _by_key(data)[str(A)]["composite"] == pytest.approx((100 * 66.67 + 50 * 50) / 150, abs=0.006)
    assert data["warnings"] and "150" in data["warnings"][0]["message"]
    page = admin.get(f"/command/evaluation?type=dept&{MAY_Q}")
    assert 'data-testid="eval-warning"' in page.text and "部门考核权重合计为 150" in page.text
    assert "department weights add up to 150" in page.text


def test_settings_screen_refuses_a_negative_weight_and_saves_a_good_one(seeded, admin):
    bad = admin.form("/admin/settings/command", {"version": "0", "eval_weight_region_filed_count": "-5"})
    assert bad.status_code == 422 and "不能小于0" in bad.text
    assert _api(admin, "type=district&" + MAY_Q)["weights"]["filed_count"] == 20  # nothing saved
    short = admin.form("/admin/settings/command", {"version": "0", "eval_weight_region_filed_count": "0",
                                                  "case_no_pattern": "{kind}{class}{yyyymmdd}{serial:04d}"})
    assert short.status_code == 422 and "合计为 80，应为 100" in short.text  # inline, under the region weights
    assert _api(admin, "type=district&" + MAY_Q)["weights"]["filed_count"] == 20
    ok = admin.form("/admin/settings/command", {"version": "0", "eval_weight_region_filed_count": "0",
                                               "eval_weight_region_ontime_close_rate": "60",
                                               "case_no_pattern": "{kind}{class}{yyyymmdd}{serial:04d}"},
                    follow_redirects=False)
    assert ok.status_code == 303, ok.text[:500]
    data = _api(admin, "type=district&" + MAY_Q)
    assert data["weights"]["filed_count"] == 0 and data["warnings"] == []
    d1 = _by_key(data)[D1]
    assert d1["composite"] == pytest.approx((10 * 80 + 30 * 66.67 + 60 * 50) / 100, abs=0.006)


@pytest.mark.parametrize("query, field", [
    ("type=nope", "type"),
    ("type=dept&period=week", "period"),
    ("type=grid&period=month&month=2024-13", "month"),
    ("type=street&period=quarter&quarter=2024-Q5", "quarter"),
    ("type=dept&period=custom&start=2024-05-31&end=2024-05-01", "end"),
])
def test_bad_input_is_a_clear_error(app, admin, query, field):
    page = admin.get(f"/command/evaluation?{query}")
    assert page.status_code == 422 and 'data-testid="eval-error"' in page.text
    frag = admin.get(f"/command/evaluation?{query}", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and 'data-testid="eval-error"' in frag.text and "<html" not in frag.text
    api = admin.get(f"/api/command/evaluation?{query}")
    assert api.status_code == 422
    err = api.json()["error"]
    assert err["message"] and err["message_en"] and field in err["fields"]
    assert admin.get(f"/command/evaluation/export.xlsx?{query}").status_code == 422


def test_permission_and_menu(app, client_for, admin):
    from ccms.testing import add_user
    add_user(app, "nobody", ["command.base.view"])
    nobody = client_for("nobody", ADMIN_PASSWORD)
    for url in ("/command/evaluation", "/command/evaluation/export.xlsx", "/api/command/evaluation"):
        assert nobody.get(url).status_code == 403, url
    add_user(app, "viewer", ["command.view"])
    page = client_for("viewer", ADMIN_PASSWORD).get("/command/evaluation")
    assert page.status_code == 200 and 'href="/command/evaluation"' in page.text


def test_district_user_sees_only_their_district_and_its_departments(seeded, app, client_for):
    from ccms.testing import add_user
    ctx = seeded
    d1 = _org(ctx, "一区", "region", D1)
    _org(ctx, "二区", "region", D2)
    add_user(app, "v_d1", ["command.view"], org_id=d1)
    c = client_for("v_d1", ADMIN_PASSWORD)
    data = _api(c, f"type=district&{MAY_Q}")
    assert [r["key"] for r in data["rows"]] == [D1] and data["scope"]["label"] == "一区"
    d1_row = data["rows"][0]
    assert d1_row["indicators"]["public_share"]["value"] == 20.0 and d1_row["composite"] == 68.0
    page = c.get(f"/command/evaluation?type=district&{MAY_Q}")
    assert re.findall(r'data-testid="eval-row-(\w+)"', page.text) == [D1] and "考核范围：一区" in page.text
    # departments: only what they did in D1 (C's case has no district: not seen); figures = the statistics'
    depts = _by_key(_api(c, f"type=dept&{MAY_Q}"))
    assert set(depts) == {str(A), str(B)}
    st = {r["key"]: r["rates"] for r in c.get(f"/api/command/stats?dim=dept&{MAY_Q}").json()["rows"]}
    for key, row in depts.items():
        assert row["indicators"]["dispose_rate"]["value"] == st[key]["dispose_rate"]
        assert row["indicators"]["rework_rate"]["value"] == st[key]["rework_rate"]
    assert depts[str(B)]["indicators"]["overdue_rate"]["value"] == stats.rate(1, 2)  # case 19 of B's 5 and 19
    x = c.get(f"/command/evaluation/export.xlsx?type=district&{MAY_Q}")
    sheet = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    assert [row[1] for row in sheet[1:]] == [D1]


# --- posts: supervisors, shift leaders, dispatchers --------------------------------------------------
#
# The statistics fixture plus person columns and timestamps on a few May cases, and case #22
# (a supervisor's report that was not filed). Hand count, default weights and limits:
#
# * supervisor 1 reported #1 #2 #7 (#9 is reported on 1 June local time) → effective 3/3 = 100;
#   responsible for grid D1-001-001-01 (every D1 case): May reports #1-#8 #19 #20 = 10, of which
#   #3 #19 (hotline) #4 #6 (public) not by a supervisor → 漏报率 40 % → 60;
#   checker of #1 (verified 30 min after the report, checked 60 min after disposal: both on time) and
#   #2 (verified after 120 min, checked after 180 min: both late) → 50, 50
#   → (40·100 + 20·60 + 20·50 + 20·50) / 100 = 72.00 → C, rank 1
# * supervisor 2 reported #5 #12 #22 → effective 2/3 = 66.67; responsible for grid D2-001-001-01:
#   May reports #12-#16 #18 = 6, of which #13 (media) #14 (superior) #16 (public) → 50 % → 50;
#   checker of #5 (checked on time, never verified → no verification data, renormalised)
#   → (40·66.67 + 20·50 + 20·100) / 80 = 70.835 → 70.84 → C, rank 2
#   (without an assigned grid: no 漏报率 either → (40·66.67 + 20·100) / 60 = 77.78 → B)
# * shift leader 1 filed #1 (20 min after verification), #2 (60 min: late), #7 (voided), #19 (voided
#   in June) → on time 3/4 = 75, accurate 2/4 = 50, due #1 #2 #19, closed on time #1 → 33.33
#   → (25·75 + 40·50 + 35·33.33) / 100 = 50.42 → D, rank 2
# * shift leader 2 filed #5, #12 (60 min: late) → 50, 100, due 2, closed on time 1 → 50 → 70.00 → C
# * dispatcher 1 dispatched #1 #2 #13, all within 30 min; #2 reworked, #13 dispatched twice
#   → count 3 (best: 100), on time 100, accurate 33.33 → (2000 + 4000 + 1333.2) / 100 = 73.33 → C, rank 2
# * dispatcher 2 dispatched #5 #14 → count 2 (66.67), on time 100, accurate 100 → 93.33 → A, rank 1

def _hm(day: int, hour: int, minute: int = 0):
    import datetime as dt
    return dt.datetime(2024, 5, day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture
def posts(seeded, app):
    from ccms.testing import add_user
    ids = {n: add_user(app, n) for n in ("sv1", "sv2", "sl1", "sl2", "dp1", "dp2")}
    changes = {
        1: {"reporter_id": ids["sv1"], "checker_id": ids["sv1"], "verifier_id": ids["sv1"], "verified_at": _hm(2, 2, 30), "filed_at": _hm(2, 2, 50),
                "dispatched_at": _hm(2, 3, 10), "checked_at": _hm(3, 3), "filer_id": ids["sl1"], "dispatcher_id": ids["dp1"]},
        2: {"reporter_id": ids["sv1"], "checker_id": ids["sv1"], "verifier_id": ids["sv1"], "verified_at": _hm(6, 4), "filed_at": _hm(6, 5),
                "dispatched_at": _hm(6, 5, 10), "checked_at": _hm(12, 5), "filer_id": ids["sl1"], "dispatcher_id": ids["dp1"]},
        7: {"reporter_id": ids["sv1"], "filer_id": ids["sl1"]},
        9: {"reporter_id": ids["sv1"]},
        19: {"filer_id": ids["sl1"]},
        5: {"reporter_id": ids["sv2"], "checker_id": ids["sv2"], "checked_at": _hm(9, 3), "filer_id": ids["sl2"],
                "dispatcher_id": ids["dp2"]},
        12: {"reporter_id": ids["sv2"], "filed_at": _hm(15, 3), "filer_id": ids["sl2"]},
        13: {"dispatcher_id": ids["dp1"]},
        14: {"dispatched_at": _hm(21, 2, 20), "dispatcher_id": ids["dp2"]},
    }
    ctx = seeded
    with ctx.db.session() as s:
        for cid, values in changes.items():
            case = s.get(Case, cid)
            for k, v in values.items():
                setattr(case, k, v)
        for dist, sv in ((D1, "sv1"), (D2, "sv2")):  # 责任网格 of the fixture's cases
            s.add(_grid(dist + "00100101", ids[sv]))
        s.add(_grid(D1 + "00100102", None))
        s.add(Case(id=22, case_no="E010100000022", kind="E", class_code="E0101", big_class="E01",
                   source="supervisor", status="not_filed", district_code=None, street_code=None,
                   community_code=None, grid_code="", dept_id=None, reporter_id=ids["sv2"],
                   reported_at=_hm(10, 2), rework_count=0, extend_count=0, suspend_count=0, return_count=0,
                   dispatch_count=0))
    return ids


def _grid(code: str, supervisor_id: int | None) -> Grid:
    sq = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    return Grid(code=code, name=code, street_code=code[:9], community_code=code[:12], area_class="B", geometry=sq,
                area_m2=1.0, min_x=0, min_y=0, max_x=1, max_y=1, supervisor_id=supervisor_id)


def _marks(row: dict) -> dict[str, tuple]:
    return {k: (v["value"], v["score"]) for k, v in row["indicators"].items()}


def test_supervisor_scores_match_the_hand_count(posts, admin):
    data = _api(admin, f"type=supervisor&{MAY_Q}")
    assert [r["key"] for r in data["rows"]] == [str(posts["sv1"]), str(posts["sv2"])]
    sv1, sv2 = data["rows"]
    assert sv1["label"] == "sv1" and sv2["label"] == "sv2"  # person names, not ids
    assert _marks(sv1) == {"effective_rate": (100.0, 100.0), "miss_rate": (40.0, 60.0),
                           "verify_ontime_rate": (50.0, 50.0), "check_ontime_rate": (50.0, 50.0)}
    assert (sv1["composite"], sv1["grade"], sv1["rank"]) == (72.0, "C", 1)
    # no verification → left out, 40/20/20 renormalised
    assert _marks(sv2) == {"effective_rate": (66.67, 66.67), "miss_rate": (50.0, 50.0),
                           "verify_ontime_rate": (None, None), "check_ontime_rate": (100.0, 100.0)}
    assert (sv2["composite"], sv2["grade"], sv2["rank"]) == (70.84, "C", 2)
    assert data["weights"] == {"effective_rate": 40, "miss_rate": 20, "verify_ontime_rate": 20,
                               "check_ontime_rate": 20}
    assert data["warnings"] == []


def test_supervisor_without_a_grid_has_no_miss_rate(posts, admin, app):
    from sqlalchemy import update
    with app.state.ccms.db.session() as s:
        s.execute(update(Grid).where(Grid.supervisor_id == posts["sv2"]).values(supervisor_id=None))
    data = _api(admin, f"type=supervisor&{MAY_Q}")
    sv2 = _by_key(data)[str(posts["sv2"])]
    assert _marks(sv2)["miss_rate"] == (None, None)  # no assigned grid: no data, weights renormalised
    assert (sv2["composite"], sv2["grade"], sv2["rank"]) == (77.78, "B", 1)
    assert _marks(_by_key(data)[str(posts["sv1"])])["miss_rate"] == (40.0, 60.0)
    page = admin.get(f"/command/evaluation?type=supervisor&{MAY_Q}")
    assert page.status_code == 200 and "漏报率" in page.text
    assert re.search(rf'data-testid="eval-{posts["sv2"]}-miss_rate-rate">—<', page.text)


def test_shift_leader_scores_match_the_hand_count(posts, admin):
    data = _api(admin, f"type=shift_leader&{MAY_Q}")
    assert [r["key"] for r in data["rows"]] == [str(posts["sl2"]), str(posts["sl1"])]
    sl2, sl1 = data["rows"]
    assert _marks(sl1) == {"file_ontime_rate": (75.0, 75.0), "file_accurate_rate": (50.0, 50.0),
                           "ontime_close_rate": (33.33, 33.33)}
    assert (sl1["composite"], sl1["grade"], sl1["rank"]) == (50.42, "D", 2)
    assert _marks(sl2) == {"file_ontime_rate": (50.0, 50.0), "file_accurate_rate": (100.0, 100.0),
                           "ontime_close_rate": (50.0, 50.0)}
    assert (sl2["composite"], sl2["grade"], sl2["rank"]) == (70.0, "C", 1)


def test_dispatcher_scores_match_the_hand_count(posts, admin):
    data = _api(admin, f"type=dispatcher&{MAY_Q}")
    assert [r["key"] for r in data["rows"]] == [str(posts["dp2"]), str(posts["dp1"])]
    dp2, dp1 = data["rows"]
    assert _marks(dp1) == {"dispatch_count": (3, 100.0), "dispatch_ontime_rate": (100.0, 100.0),
                           "dispatch_accurate_rate": (33.33, 33.33)}
    assert (dp1["composite"], dp1["grade"], dp1["rank"]) == (73.33, "C", 2)
    assert _marks(dp2) == {"dispatch_count": (2, 66.67), "dispatch_ontime_rate": (100.0, 100.0),
                           "dispatch_accurate_rate": (100.0, 100.0)}
    assert (dp2["composite"], dp2["grade"], dp2["rank"]) == (93.33, "A", 1)


def test_post_limits_are_settings(posts, admin):
    r = admin.api("PUT", "/api/settings/command", json={"values": {"eval_limit_file_minutes": 60}, "version": 0})
    assert r.status_code == 200, r.text
    sl1 = _by_key(_api(admin, f"type=shift_leader&{MAY_Q}"))[str(posts["sl1"])]
    assert sl1["indicators"]["file_ontime_rate"]["value"] == 100.0  # #2 filed after 60 min is now on time
    assert sl1["composite"] == 56.67
    for bad in (0, -5, "abc"):
        r = admin.api("PUT", "/api/settings/command", json={"values": {"eval_limit_dispatch_minutes": bad},
                                                             "version": 1})
        assert r.status_code == 422 and "eval_limit_dispatch_minutes" in r.json()["error"]["fields"], bad


def test_post_weights_must_add_up_to_100(posts, admin):
    over = {"eval_weight_dispatcher_dispatch_count": 50}
    r = admin.api("PUT", "/api/settings/command", json={"values": over, "version": 0})
    assert r.status_code == 422, r.text
    fields = r.json()["error"]["fields"]
    assert set(fields) == {"eval_weight_dispatcher_dispatch_count", "eval_weight_dispatcher_dispatch_ontime_rate",
                           "eval_weight_dispatcher_dispatch_accurate_rate"}
    assert "130" in fields["eval_weight_dispatcher_dispatch_count"]["message"]
    assert _api(admin, f"type=dispatcher&{MAY_Q}")["weights"]["dispatch_count"] == 20  # nothing saved
    ok = admin.api("PUT", "/api/settings/command", json={"values": {
        "eval_weight_dispatcher_dispatch_count": 0, "eval_weight_dispatcher_dispatch_ontime_rate": 0,
        "eval_weight_dispatcher_dispatch_accurate_rate": 100}, "version": 0})
    assert ok.status_code == 200, ok.text
    rows = _by_key(_api(admin, f"type=dispatcher&{MAY_Q}"))
    assert rows[str(posts["dp1"])]["composite"] == 33.33 and rows[str(posts["dp2"])]["composite"] == 100.0
    msgs = evaluation.problems({**DEFAULTS, "eval_weight_supervisor_effective_rate": 30})
    assert msgs == [("监督员考核权重合计为 90，应为 100；已按比例折算（应用维护 → 系统配置 → 指挥协调）",
                     "the supervisor weights add up to 90, not 100; they were scaled proportionally (settings → command)")]


def test_post_page_links_only_matching_measures_and_export(posts, admin):
    html = admin.get(f"/command/evaluation?type=shift_leader&{MAY_Q}").text
    sl1 = posts["sl1"]
    assert re.findall(r'data-testid="eval-row-(\d+)"', html) == [str(posts["sl2"]), str(sl1)]
    assert ">sl1<" in html and "值班长" in html
    assert f'data-testid="eval-{sl1}-file_accurate_rate-rate">50.00%<' in html  # no statistics measure: no link
    link = re.search(rf'data-testid="eval-{sl1}-ontime_close_rate-rate"><a href="([^"]+)"', html).group(1)
    assert "dim=filer" in link and "measure=closed_on_time" in link and f"key={sl1}" in link
    assert "共 1 件" in admin.get(link.replace("&amp;", "&")).text
    page = admin.get(f"/command/evaluation?type=dispatcher&{MAY_Q}").text
    link = re.search(rf'data-testid="eval-{posts["dp1"]}-dispatch_count-rate"><a href="([^"]+)"', page).group(1)
    assert "dim=dispatcher" in link and "measure=dispatched" in link
    assert "共 3 件" in admin.get(link.replace("&amp;", "&")).text
    sv = admin.get(f"/command/evaluation?type=supervisor&{MAY_Q}").text
    assert f'data-testid="eval-{posts["sv1"]}-effective_rate-rate">100.00%<' in sv and 'style="' not in sv
    x = admin.get(f"/command/evaluation/export.xlsx?type=dispatcher&{MAY_Q}")
    sheet = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    assert sheet[0][:5] == ("排名", "编码", "派遣员", "综合得分", "等级") and "派遣数" in sheet[0]
    assert [(row[0], row[1], row[2], row[3], row[4]) for row in sheet[1:]] == [
        (1, str(posts["dp2"]), "dp2", 93.33, "A"), (2, str(posts["dp1"]), "dp1", 73.33, "C")]


def test_posts_are_limited_to_the_user_scope(posts, app, client_for):
    from ccms.testing import add_user
    d1 = _org(posts_ctx := app.state.ccms, "一区", "region", D1)
    _org(posts_ctx, "二区", "region", D2)
    add_user(app, "v_d1", ["command.view"], org_id=d1)
    c = client_for("v_d1", ADMIN_PASSWORD)
    rows = _by_key(_api(c, f"type=dispatcher&{MAY_Q}"))  # #13 and #14 lie in D2
    dp1, dp2 = rows[str(posts["dp1"])], rows[str(posts["dp2"])]
    assert _marks(dp1) == {"dispatch_count": (2, 100.0), "dispatch_ontime_rate": (100.0, 100.0),
                           "dispatch_accurate_rate": (50.0, 50.0)}
    assert (dp1["composite"], dp2["composite"]) == (80.0, 90.0)
    assert dp2["indicators"]["dispatch_count"] == {"value": 1, "score": 50.0, "weight": 20.0}
    sv = _by_key(_api(c, f"type=supervisor&{MAY_Q}"))  # #12 lies in D2, #22 nowhere
    assert sv[str(posts["sv2"])]["indicators"]["effective_rate"]["value"] == 100.0


@pytest.mark.parametrize("query", ["type=Supervisor", "type=intake", "type=shift_leader&period=month&month=2024-5x"])
def test_bad_post_input_is_a_clear_error(app, admin, query):
    api = admin.get(f"/api/command/evaluation?{query}")
    assert api.status_code == 422 and api.json()["error"]["message_en"]
    assert admin.get(f"/command/evaluation?{query}").status_code == 422
