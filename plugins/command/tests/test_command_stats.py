"""指挥协调 statistics (GB/T 30428.4) against figures computed by hand on a
20-case fixture (May 2024, Asia/Shanghai), the drill-down lists behind every
number, the XLSX export, bad input and permissions — on SQLite and PostgreSQL.

The fixture and its hand count (period = 2024-05-01 00:00 .. 2024-06-01 00:00
local = 2024-04-30 16:00 .. 2024-05-31 16:00 UTC):

== ==== ==== ========== ======== ============================================
#  dist dept source     status   what it tests
== ==== ==== ========== ======== ============================================
1  D1   A    supervisor closed   all on time
2  D1   A    supervisor closed   disposed and closed late, reworked
3  D1   A    hotline    disposing due 05-20, never disposed: overdue open
4  D1   A    public     dispatched due in June: not due, not overdue
5  D1   B    supervisor closed   on time after an extension
6  D1   -    public     not_filed reported only
7  D1   -    supervisor voided  voided in May: filed, voided, not due
8  D1   A    supervisor closed   reported 04-30 17:00 UTC = 05-01 01:00 local
9  D1   A    supervisor reported 05-31 16:30 UTC = 06-01 local: outside May
10 D2   B    supervisor closed   filed in April, due/disposed/closed in May, late
11 D2   B    hotline    suspended filed in April, due in April: overdue open only
12 D2   B    supervisor checking disposed on time, awaiting check, reworked
13 D2   A    media      closed   sent back and re-dispatched
14 D2   B    superior   closed   due in June but closed in May: due
15 D2   B    supervisor suspended due 05-25, overdue, suspended
16 D2   -    public     merged   reported only
17 D2   B    supervisor closed   March: no activity in May
18 D2   A    supervisor closed   disposed/closed in June: overdue at May's end
19 D1   B    hotline    voided   voided in June: still due and overdue in May
20 D1   A    supervisor dispatched due 05-31 20:00 UTC = 06-01 local: not due
== ==== ==== ========== ======== ============================================
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from conftest import ADMIN_PASSWORD
from sqlalchemy import bindparam, text

from ccms import charts
from ccms.api import UTCDateTime
from ccms.plugins.command import stats
from ccms.plugins.command.models import Case

TZ = ZoneInfo("Asia/Shanghai")
D1, D2, A, B = "320505", "320506", 101, 102
NOW = dt.datetime(2024, 6, 15, tzinfo=dt.timezone.utc)


def t(month: int, day: int, hour: int = 2, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, minute, tzinfo=dt.timezone.utc)


# id: district, dept, source, status, reported, filed, dispatched, disposed (on time?), closed (on time?),
#     voided, due, counters {rework, extend, suspend, return, dispatch}
ROWS = [
    (1, D1, A, "supervisor", "closed", t(5, 2), t(5, 2), t(5, 2), (t(5, 3), True), (t(5, 4), True), None, t(5, 5), {}),
    (2, D1, A, "supervisor", "closed", t(5, 6), t(5, 6), t(5, 6), (t(5, 12), False), (t(5, 13), False), None, t(5, 8),
     {"rework_count": 1}),
    (3, D1, A, "hotline", "disposing", t(5, 10), t(5, 10), t(5, 10), None, None, None, t(5, 20), {}),
    (4, D1, A, "public", "dispatched", t(5, 25), t(5, 26), t(5, 26), None, None, None, t(6, 5), {}),
    (5, D1, B, "supervisor", "closed", t(5, 3), t(5, 3), t(5, 3), (t(5, 9), True), (t(5, 10), True), None, t(5, 10),
     {"extend_count": 1}),
    (6, D1, None, "public", "not_filed", t(5, 7), None, None, None, None, None, None, {}),
    (7, D1, None, "supervisor", "voided", t(5, 8), t(5, 8), None, None, None, t(5, 9), t(5, 15), {}),
    (8, D1, A, "supervisor", "closed", t(4, 30, 17), t(4, 30, 17, 30), t(4, 30, 18), (t(5, 2), True), (t(5, 2, 5), True),
     None, t(5, 3), {}),
    (9, D1, A, "supervisor", "reported", t(5, 31, 16, 30), None, None, None, None, None, None, {}),
    (10, D2, B, "supervisor", "closed", t(4, 20), t(4, 20), t(4, 20), (t(5, 6), False), (t(5, 7), False), None, t(5, 5),
     {}),
    (11, D2, B, "hotline", "suspended", t(4, 25), t(4, 25), t(4, 25), None, None, None, t(4, 28), {"suspend_count": 1}),
    (12, D2, B, "supervisor", "checking", t(5, 15), t(5, 15), t(5, 15), (t(5, 16), True), None, None, t(5, 18),
     {"rework_count": 2}),
    (13, D2, A, "media", "closed", t(5, 20), t(5, 20), t(5, 20), (t(5, 28), True), (t(5, 29), True), None, t(5, 30),
     {"return_count": 1, "dispatch_count": 2}),
    (14, D2, B, "superior", "closed", t(5, 21), t(5, 21), t(5, 21), (t(5, 30), True), (t(5, 31, 10), True), None,
     t(6, 10), {}),
    (15, D2, B, "supervisor", "suspended", t(5, 22), t(5, 22), t(5, 22), None, None, None, t(5, 25),
     {"suspend_count": 1}),
    (16, D2, None, "public", "merged", t(5, 23), None, None, None, None, None, None, {}),
    (17, D2, B, "supervisor", "closed", t(3, 1), t(3, 1), t(3, 1), (t(3, 3), True), (t(3, 5), True), None, t(3, 4), {}),
    (18, D2, A, "supervisor", "closed", t(5, 5), t(5, 5), t(5, 5), (t(6, 2), False), (t(6, 3), False), None, t(5, 10),
     {}),
    (19, D1, B, "hotline", "voided", t(5, 12), t(5, 12), t(5, 12), None, None, t(6, 5), t(5, 14), {}),
    (20, D1, A, "supervisor", "dispatched", t(5, 14), t(5, 14), t(5, 14), None, None, None, t(5, 31, 20), {}),
]

# hand-computed, see the module docstring
# Rate numerators that are not a column of their own (issue 11, correctness 2): reported_filed
# (of the reports, those filed), filed_voided (of the filed, those voided at any time),
# due_overdue (of the due, those overdue and open at the period's end). D2's case 11 is overdue
# but was due in April: in 超期未结案 (a snapshot), not in May's 超期率.
BY_DISTRICT = {
    D1: dict(reported=10, reported_filed=9, not_filed=1, self_disposed=0, filed=9, dispatched=8, voided=1,
             filed_voided=2, due=6, closed=4, closed_on_time=3, disposed=4, disposed_on_time=3, overdue_open=2,
             due_overdue=2, reworked=1, extended=1, suspended=0, sent_back=0, redispatched=0, cooperative=0),
    D2: dict(reported=6, reported_filed=5, not_filed=0, self_disposed=0, filed=5, dispatched=5, voided=0,
             filed_voided=0, due=6, closed=3, closed_on_time=2, disposed=4, disposed_on_time=3, overdue_open=3,
             due_overdue=2, reworked=1, extended=0, suspended=1, sent_back=1, redispatched=1, cooperative=0),
}
RATES_BY_DISTRICT = {
    D1: dict(filing_rate=90.0, close_rate=66.67, ontime_close_rate=50.0, dispose_rate=66.67, ontime_dispose_rate=50.0,
             overdue_rate=33.33, rework_rate=11.11, extend_rate=11.11, suspend_rate=0.0, return_rate=0.0,
             void_rate=22.22, redispatch_rate=0.0, cooperative_rate=0.0),
    D2: dict(filing_rate=83.33, close_rate=50.0, ontime_close_rate=33.33, dispose_rate=66.67,
             ontime_dispose_rate=50.0, overdue_rate=33.33, rework_rate=20.0, extend_rate=0.0, suspend_rate=20.0,
             return_rate=20.0, void_rate=0.0, redispatch_rate=20.0, cooperative_rate=0.0),
}
BY_DEPT = {
    str(A): dict(reported=8, filed=8, due=6, closed=4, closed_on_time=3, disposed=4, disposed_on_time=3,
                 overdue_open=2, reworked=1, extended=0, suspended=0, sent_back=1, voided=0),
    str(B): dict(reported=5, filed=5, due=6, closed=3, closed_on_time=2, disposed=4, disposed_on_time=3,
                 overdue_open=3, reworked=1, extended=1, suspended=1, sent_back=0, voided=0),
    stats.NONE_KEY: dict(reported=3, filed=1, due=0, closed=0, voided=1, not_filed=1, overdue_open=0),
}
MAY = {"period": "month", "month": "2024-05"}


def seed(ctx) -> None:
    with ctx.db.session() as s:
        for (cid, dist, dept, source, status, rep, filed, disp, disposed, closed, voided, due, counters) in ROWS:
            s.add(Case(id=cid, case_no=f"E0101{cid:08d}", kind="E", class_code="E0101" if cid % 2 else "E0302",
                       big_class="E01" if cid % 2 else "E03", source=source, status=status, district_code=dist,
                       street_code=dist + "001", community_code=dist + "001001", grid_code=dist + "00100101",
                       dept_id=dept, reporter_id=None, reported_at=rep, filed_at=filed, dispatched_at=disp,
                       disposed_at=disposed[0] if disposed else None,
                       disposed_on_time=disposed[1] if disposed else None,
                       closed_at=closed[0] if closed else None, closed_on_time=closed[1] if closed else None,
                       voided_at=voided, due_at=due, **{"rework_count": 0, "extend_count": 0, "suspend_count": 0,
                                                        "return_count": 0, "dispatch_count": 1 if disp else 0,
                                                        **counters}))


@pytest.fixture
def seeded(app):
    ctx = app.state.ccms
    seed(ctx)
    return ctx


def _may() -> stats.Period:
    return stats.parse_period(MAY, TZ)


def test_counts_and_rates_by_district_match_the_hand_count(seeded):
    with seeded.db.session() as s:
        tab = stats.compute(s, stats.get_dimension("district"), _may(), now=NOW)
    got = {r.key: r for r in tab.rows}
    assert set(got) == {D1, D2}
    for key, expected in BY_DISTRICT.items():
        assert got[key].counts == expected, key
        assert got[key].rates == RATES_BY_DISTRICT[key], key
    total = tab.total
    assert total.counts["reported"] == 16 and total.counts["filed"] == 14 and total.counts["due"] == 12
    assert total.counts["closed"] == 7 and total.counts["closed_on_time"] == 5 and total.counts["overdue_open"] == 5
    assert total.rates["close_rate"] == 58.33 and total.rates["ontime_close_rate"] == 41.67


def test_counts_by_department_match_the_hand_count(seeded):
    with seeded.db.session() as s:
        tab = stats.compute(s, stats.get_dimension("dept"), _may(), now=NOW)
    got = {r.key: r.counts for r in tab.rows}
    assert set(got) == set(BY_DEPT)
    for key, expected in BY_DEPT.items():
        for m, v in expected.items():
            assert got[key][m] == v, (key, m)
    assert {r.key: r.rates["close_rate"] for r in tab.rows} == {str(A): 66.67, str(B): 50.0, stats.NONE_KEY: None}


def test_quarter_and_custom_periods_and_the_hand_written_sql_agree(seeded):
    with seeded.db.session() as s:
        q2 = stats.compute(s, stats.get_dimension("source"), stats.parse_period(
            {"period": "quarter", "quarter": "2024-Q2"}, TZ), now=NOW)
        custom = stats.compute(s, stats.get_dimension("district"), stats.parse_period(
            {"period": "custom", "start": "2024-05-01", "end": "2024-05-31"}, TZ), now=NOW)
        may = _may()
        sql = text(stats.hand_written_sql("district_code")).bindparams(
            bindparam("s", type_=UTCDateTime), bindparam("e", type_=UTCDateTime), bindparam("at", type_=UTCDateTime))
        hand = {r["k"]: {m: int(r[m]) for m in stats.MEASURES}
                for r in s.execute(sql, {"s": may.start, "e": may.end, "at": min(may.end, NOW)}).mappings()}
    assert {r.key: r.counts for r in custom.rows} == BY_DISTRICT == hand
    # the quarter adds April (cases 10, 11 reported and filed) and June (case 9 reported 06-01 local)
    assert q2.total.counts["reported"] == 16 + 2 + 1 and q2.total.counts["filed"] == 14 + 2
    assert {r.key for r in q2.rows} == {"supervisor", "hotline", "public", "media", "superior"}


def test_every_number_drills_down_to_exactly_its_cases(seeded):
    may, dim = _may(), stats.get_dimension("district")
    with seeded.db.session() as s:
        for key, counts in BY_DISTRICT.items():
            for m, n in counts.items():
                rows, total = stats.drill(s, dim, key, m, may, now=NOW, size=50)
                assert total == n == len(rows), (key, m)
        rows, total = stats.drill(s, None, None, "overdue_open", may, now=NOW)
        assert sorted(r["id"] for r in rows) == [3, 11, 15, 18, 19] and total == 5
        rows, _ = stats.drill(s, stats.get_dimension("dept"), stats.NONE_KEY, "reported", may, now=NOW)
        assert sorted(r["id"] for r in rows) == [6, 7, 16]


def test_trend_counts_each_month_in_one_query(seeded):
    months = stats.month_periods(dt.date(2024, 6, 30), 4, TZ)
    with seeded.db.session() as s:
        assert stats.trend(s, "reported", months, now=NOW) == [1, 2, 16, 1]
        assert stats.trend(s, "closed", months, now=NOW) == [1, 0, 7, 1]


def test_screen_table_links_charts_and_export_agree(seeded, admin):
    r = admin.get("/command/stats?dim=district&period=month&month=2024-05&chart=closed")
    assert r.status_code == 200
    html = r.text
    for key, counts in BY_DISTRICT.items():
        for m in ("reported", "filed", "due", "closed", "closed_on_time", "overdue_open", "reworked"):
            assert re.search(rf'data-testid="stats-{key}-{m}">{counts[m]}<', html), (key, m)
    assert 'data-testid="stats-total-closed">7<' in html and 'data-testid="stats-total-close_rate">58.33%<' in html
    assert 'data-testid="stats-bar-chart"' in html and 'data-testid="stats-trend-chart"' in html
    # no inline script (CSP): the body's scripts are our static files and the charts' JSON data blocks
    body_scripts = re.findall(r"<script[^>]*>", html.split("</header>")[-1])
    assert 'style="' not in html and body_scripts and all('src="/static/' in t for t in body_scripts), body_scripts
    # the bar chart draws the table's figures of the chosen measure, each bar linking to its cases
    spec = json.loads(re.search(r"data-chart='([^']*)' data-testid=\"stats-bar-chart\"", html).group(1))
    bars = dict(zip(spec["yAxis"]["data"], spec["series"][0]["data"]))
    assert sorted(bars.values()) == sorted(c["closed"] for c in BY_DISTRICT.values() if c["closed"])
    assert all("measure=closed" in u for u in spec["links"])
    assert min(charts.font_sizes(spec)) >= 12
    # the drill-down link behind D1 / closed lists those 4 cases, linking to the case detail
    link = re.search(rf'href="(/command/stats/cases\?[^"]*key={D1}[^"]*measure=closed[^"]*)"', html).group(1)
    drill = admin.get(link.replace("&amp;", "&"))
    assert drill.status_code == 200 and 'data-testid="stats-drill-total">共 4 件<' in drill.text
    assert {int(x) for x in re.findall(r'data-testid="stats-case-(\d+)"', drill.text)} == {1, 2, 5, 8}
    assert 'href="/command/cases/1"' in drill.text
    frag = admin.get("/command/stats?dim=dept&period=month&month=2024-05", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.text and "stats-table" in frag.text
    # export = the screen
    x = admin.get("/command/stats/export.xlsx?dim=district&period=month&month=2024-05")
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxml")
    sheet = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    header, body = sheet[0], sheet[1:]
    col = {h: i for i, h in enumerate(header)}
    assert [row[0] for row in body] == [D1, D2, None] and body[-1][1] == "合计"
    for row in body[:2]:
        for m, v in BY_DISTRICT[row[0]].items():
            assert row[col[seeded.gettext(f"stats.m.{m}")]] == v
    assert body[-1][col["结案数"]] == 7 and body[-1][col["结案率 %"]] == 58.33


def test_api_returns_the_same_figures(seeded, admin):
    r = admin.get("/api/command/stats?dim=district&period=month&month=2024-05")
    assert r.status_code == 200
    data = r.json()
    assert {row["key"]: row["counts"] for row in data["rows"]} == BY_DISTRICT
    assert data["total"]["counts"]["closed"] == 7


@pytest.mark.parametrize("query, field", [
    ("dim=nope", "dim"),
    ("period=week", "period"),
    ("period=month&month=2024-13", "month"),
    ("period=quarter&quarter=2024-Q5", "quarter"),
    ("period=year&year=20x4", "year"),
    ("period=custom&start=2024-02-30&end=2024-03-01", "start"),
    ("period=custom&start=2024-05-01", "end"),
    ("period=custom&start=2024-05-31&end=2024-05-01", "end"),
    ("chart=bogus", "measure"),
])
def test_bad_input_is_a_clear_error(app, admin, query, field):
    page = admin.get(f"/command/stats?{query}")
    assert page.status_code == 422 and 'data-testid="stats-error"' in page.text
    frag = admin.get(f"/command/stats?{query}", headers={"HX-Request": "true"})  # htmx swaps 2xx only
    assert frag.status_code == 200 and 'data-testid="stats-error"' in frag.text and "<html" not in frag.text
    api = admin.get(f"/api/command/stats?{query}")
    assert api.status_code == 422
    err = api.json()["error"]
    assert err["message"] and err["message_en"] and field in err["fields"]


def test_bad_drill_and_export_input(app, admin):
    assert admin.get("/command/stats/cases?measure=nope&period=month&month=2024-05").status_code == 422
    assert admin.get("/command/stats/cases?dim=moon&measure=closed").status_code == 422
    assert admin.get("/command/stats/cases?dim=dept&key=abc&measure=closed").status_code == 422
    bad = admin.get("/command/stats/export.xlsx?period=custom&start=2024-05-31&end=2024-05-01")
    assert bad.status_code == 422 and "结束日期早于开始日期" in bad.text


def test_permission(app, client_for):
    from ccms.testing import add_user
    add_user(app, "nobody", ["command.base.view"])
    nobody = client_for("nobody", ADMIN_PASSWORD)
    for url in ("/command/stats", "/command/stats/cases?measure=closed", "/command/stats/export.xlsx",
                "/api/command/stats"):
        assert nobody.get(url).status_code == 403, url
    add_user(app, "viewer", ["command.view"])
    assert client_for("viewer", ADMIN_PASSWORD).get("/command/stats").status_code == 200


# --- scope: a user counts only the cases of their org subtree ------------------------------------

def _org(ctx, name: str, kind: str, code: str, parent_id: int | None = None) -> int:
    from ccms.models import Org
    with ctx.db.session() as s:
        parent = s.get(Org, parent_id) if parent_id else s.query(Org).filter(Org.parent_id.is_(None)).one()
        o = Org(parent_id=parent.id, name=name, kind=kind, region_code=code, path="")
        s.add(o)
        s.flush()
        o.path = f"{parent.path}{o.id}/"
        return o.id


@pytest.fixture
def scoped(app, seeded, client_for):
    """Districts D1/D2 and department A as real orgs, a street under D1, and a viewer in each."""
    from ccms.testing import add_user
    ctx = seeded
    ids = {"d1": _org(ctx, "一区", "region", D1), "d2": _org(ctx, "二区", "region", D2),
           "dept_a": _org(ctx, "甲局", "department", "320500")}
    ids["street"] = _org(ctx, "一街道", "region", D1, ids["d1"])
    with ctx.db.session() as s:
        s.execute(Case.__table__.update().where(Case.dept_id == A).values(dept_id=ids["dept_a"]))
    users = {}
    for key in ("d1", "dept_a", "street"):
        add_user(app, f"v_{key}", ["command.view"], org_id=ids[key])
        users[key] = client_for(f"v_{key}", ADMIN_PASSWORD)
    return ids, users


def test_scope_rules():
    paths = {1: "/1/", 2: "/1/2/", 3: "/1/2/3/", 4: "/1/4/", 5: "/1/2/5/"}
    orgs = {1: ("tier", "320500"), 2: ("region", D1), 3: ("region", D1), 4: ("department", "320500"),
            5: ("department", D1)}
    regions = [("street", D1 + "001", 3), ("community", D1 + "001001", None)]
    assert stats.scope_of([1], paths, orgs, regions).everything
    district = stats.scope_of([2], paths, orgs, regions)
    assert (district.districts, district.streets, district.depts) == ({D1}, {D1 + "001"}, {2, 3, 5})
    street = stats.scope_of([3], paths, orgs, regions)  # a street carries its district's code: no widening
    assert (street.everything, street.districts, street.streets, street.depts) == (False, set(), {D1 + "001"}, {3})
    dept = stats.scope_of([4], paths, orgs, regions)
    assert (dept.districts, dept.streets, dept.depts) == (set(), set(), {4})
    assert not stats.scope_of([], paths, orgs, regions).everything


def test_nothing_granted_counts_nothing(seeded):
    with seeded.db.session() as s:
        tab = stats.compute(s, stats.get_dimension("district"), _may(), now=NOW, scope=stats.Scope())
        assert tab.rows == [] and tab.total.counts["reported"] == 0
        assert stats.drill(s, None, None, "reported", _may(), now=NOW, scope=stats.Scope()) == ([], 0)


def test_district_user_sees_only_their_district_page_drill_export_api(scoped):
    ids, users = scoped
    c = users["d1"]
    page = c.get("/command/stats?dim=district&period=month&month=2024-05")
    assert page.status_code == 200 and "统计范围：一区" in page.text
    assert re.findall(r'data-testid="stats-row-(\w+)"', page.text) == [D1]
    for m, v in BY_DISTRICT[D1].items():
        if m in ("reported", "filed", "due", "closed", "overdue_open"):
            assert f'data-testid="stats-{D1}-{m}">{v}<' in page.text
            assert f'data-testid="stats-total-{m}">{v}<' in page.text
    # drill-down: the district's own rows, nothing of D2 even when asked for it
    drill = c.get(f"/command/stats/cases?dim=district&key={D1}&measure=closed&period=month&month=2024-05")
    assert {int(x) for x in re.findall(r'data-testid="stats-case-(\d+)"', drill.text)} == {1, 2, 5, 8}
    other = c.get(f"/command/stats/cases?dim=district&key={D2}&measure=closed&period=month&month=2024-05")
    assert "共 0 件" in other.text and "stats-case-" not in other.text
    total = c.get("/command/stats/cases?measure=overdue_open&period=month&month=2024-05")
    assert {int(x) for x in re.findall(r'data-testid="stats-case-(\d+)"', total.text)} == {3, 19}
    # the export matches the page
    x = c.get("/command/stats/export.xlsx?dim=district&period=month&month=2024-05")
    sheet = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    col = {h: i for i, h in enumerate(sheet[0])}
    assert [row[0] for row in sheet[1:]] == [D1, None]
    for m, v in BY_DISTRICT[D1].items():
        assert sheet[1][col[scoped_label(m)]] == v == sheet[-1][col[scoped_label(m)]], m
    api = c.get("/api/command/stats?dim=district&period=month&month=2024-05").json()
    assert [r["key"] for r in api["rows"]] == [D1] and api["total"]["counts"] == BY_DISTRICT[D1]
    assert api["scope"]["city"] is False and api["scope"]["label"] == "一区"


def scoped_label(measure: str) -> str:
    import json
    from pathlib import Path
    labels: dict[str, str] = {}
    for f in sorted((Path(stats.__file__).parent / "locales/zh-CN").glob("*.json")):
        labels.update(json.loads(f.read_text("utf-8")))
    return labels[f"stats.m.{measure}"]


def test_department_user_sees_the_cases_sent_to_it(scoped):
    ids, users = scoped
    api = users["dept_a"].get("/api/command/stats?dim=dept&period=month&month=2024-05").json()
    assert [r["key"] for r in api["rows"]] == [str(ids["dept_a"])]
    for m, v in BY_DEPT[str(A)].items():
        assert api["total"]["counts"][m] == v, m
    assert api["rows"][0]["label"] == "甲局"


def test_street_user_sees_their_street_not_the_whole_district(scoped, seeded):
    ids, users = scoped
    # only D1's street …001 is linked to the street org through 街道社区
    from ccms.plugins.command.models import Region
    with seeded.db.session() as s:
        s.add(Region(level="street", code=D1 + "001", name="一街道", org_id=ids["street"]))
        s.execute(Case.__table__.update().where(Case.id == 1).values(street_code=D1 + "002"))
    api = users["street"].get("/api/command/stats?dim=district&period=month&month=2024-05").json()
    assert api["total"]["counts"]["reported"] == BY_DISTRICT[D1]["reported"] - 1  # case 1 moved to street …002
    assert users["d1"].get("/api/command/stats?dim=district&period=month&month=2024-05").json()[
        "total"]["counts"]["reported"] == BY_DISTRICT[D1]["reported"]


def test_city_user_sees_everything_and_the_trend_follows_the_scope(scoped, seeded, admin):
    ids, _users = scoped
    api = admin.get("/api/command/stats?dim=district&period=month&month=2024-05").json()
    assert api["scope"]["city"] is True and {r["key"]: r["counts"] for r in api["rows"]} == BY_DISTRICT
    months = stats.month_periods(dt.date(2024, 6, 30), 4, TZ)
    d1_only = stats.Scope(districts=frozenset({D1}))
    with seeded.db.session() as s:
        assert stats.trend(s, "reported", months, now=NOW, scope=d1_only) == [0, 0, 10, 1]
