"""指挥协调 案件地图 (issue 5): open cases per unit grid on the server-drawn SVG
map, deadline markers, filters, the grid's case list, the JSON twin, bad
input, and scoping to the user's org — on SQLite and PostgreSQL.

The fixture is test_command_base's city (district 320508, street …001,
community …001 with six grids ``…01``–``…06``) plus cases written straight
into ``command_case`` with deadlines relative to now:

====  ====  ========== ========== ====== =====================================
case  grid  status     source     dept   deadline colour
====  ====  ========== ========== ====== =====================================
1     01    dispatched supervisor srhw   red (due 1 h ago)
2     01    disposing  supervisor srhw   yellow (90 % of the limit used)
3     01    dispatched hotline    szgy   green (10 %)
4     02    reported   public     -      none (class E03)
5     02    closed     supervisor srhw   not open: never counted
6     03    checking   supervisor szgy   green (disposed in time, due passed since)
7     03    suspended  hotline    szgy   red
8     -     reported   public     -      none, no grid (off the map)
9-19  04    filed      supervisor -      none (11 cases: the darkest class)
20    -     dispatched supervisor srhw   red, street …002 (same district)
21    -     reported   public     -      district 320506, no grid
22    05    merged / 23 voided / 24 not_filed: never counted
====  ====  ========== ========== ====== =====================================
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from conftest import ADMIN_PASSWORD
from sqlalchemy import select
from test_command_base import COMMUNITY, STREET, city

from ccms.api import Actor, utcnow
from ccms.models import Org
from ccms.testing import add_user
from ccms.plugins.command import grids, map_screens, stats
from ccms.plugins.command.case_screens import _deadline_level
from ccms.plugins.command.models import Case, Region

G = [f"{COMMUNITY}{n:02d}" for n in range(1, 7)]
OTHER_STREET = "320508002"


def _case(cid: int, grid: str, status: str, *, source: str = "supervisor", dept: int | None = None,
          cls: str = "E0102", dispatched: float | None = None, due: float | None = None,
          disposed: float | None = None, district: str = "320508", street: str = STREET) -> Case:
    """A case; times are hours relative to now."""
    now = utcnow()

    def at(h: float | None) -> dt.datetime | None:
        return None if h is None else now + dt.timedelta(hours=h)
    return Case(id=cid, case_no=f"T{cid:06d}", kind=cls[0], class_code=cls, big_class=cls[:3], source=source,
                status=status, district_code=district, street_code=street,
                community_code=grid[:12], grid_code=grid, dept_id=dept, reported_at=at(-20), filed_at=at(-19)
                if status not in ("reported",) else None, dispatched_at=at(dispatched), due_at=at(due),
                disposed_at=at(disposed), address=f"平江路 {cid} 号")


@pytest.fixture
def town(ctx) -> dict[str, Any]:
    ids = city(ctx)
    srhw, szgy = ids["srhw"], ids["szgy"]
    with ctx.db.session() as s:
        district = s.get(Org, ids["district"])
        street = Org(parent_id=district.id, name="平江街道", kind="region", region_code="320508", path="")
        s.add(street)
        s.flush()
        street.path = f"{district.path}{street.id}/"
        ids["street"] = street.id
        s.execute(Region.__table__.update().where(Region.code == STREET).values(org_id=street.id))
        root = s.get(Org, ids["root"])
        wz = Org(parent_id=root.id, name="吴中区", kind="region", region_code="320506", path="")
        s.add(wz)
        s.flush()
        wz.path = f"{root.path}{wz.id}/"
        ids["wuzhong"] = wz.id
        grids.save_region(ctx, s, Actor(None, "t"), {"level": "street", "code": "320506001", "name": "长桥街道"})
        rows = [
            _case(1, G[0], "dispatched", dept=srhw, dispatched=-10, due=-1),
            _case(2, G[0], "disposing", dept=srhw, dispatched=-9, due=1),
            _case(3, G[0], "dispatched", source="hotline", dept=szgy, dispatched=-1, due=9),
            _case(4, G[1], "reported", source="public", cls="E0302"),
            _case(5, G[1], "closed", dept=srhw, dispatched=-10, due=-1, disposed=-5),
            _case(6, G[2], "checking", dept=szgy, dispatched=-10, due=-1, disposed=-5),
            _case(7, G[2], "suspended", source="hotline", dept=szgy, dispatched=-30, due=-2),
            _case(8, "", "reported", source="public"),
            *[_case(9 + i, G[3], "filed") for i in range(11)],
            _case(20, "", "dispatched", dept=srhw, dispatched=-10, due=-1, street=OTHER_STREET),
            _case(21, "", "reported", source="public", district="320506", street="320506001"),
            _case(22, G[4], "merged"), _case(23, G[4], "voided"), _case(24, G[4], "not_filed"),
        ]
        s.add_all(rows)
    return ids


def grids_of(html: str) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r'data-testid="casemap-grid-(\d+)" data-count="(\d+)"', html)}


# --- the counting ---------------------------------------------------------------------------------

def test_counts_per_grid_and_deadline_colours_match_the_case_screens(ctx, town):
    now = utcnow()
    with ctx.db.session() as s:
        counts = map_screens.grid_counts(s, map_screens.MapFilters(), stats.EVERYTHING, now)
        t = stats.case_table()
        levels = dict(s.execute(select(t.c.id, map_screens.deadline_level(t, now))).all())
        cases = {c.id: c for c in s.scalars(select(Case))}
    assert {k: (c.open, c.overdue, c.warning) for k, c in counts.items()} == {
        G[0]: (3, 1, 1), G[1]: (1, 0, 0), G[2]: (2, 1, 0), G[3]: (11, 0, 0), "": (3, 1, 0)}
    # the SQL colour is the case screens' colour, case by case
    assert levels == {cid: _deadline_level(c, now) for cid, c in cases.items()}
    assert levels[1] == "red" and levels[2] == "yellow" and levels[3] == "green" and levels[6] == "green"


def test_map_page_draws_each_grid_with_its_class_tooltip_markers_and_links(ctx, town, admin):
    r = admin.get("/command/casemap")
    assert r.status_code == 200
    html = r.text
    assert grids_of(html) == {G[0]: 3, G[1]: 1, G[2]: 2, G[3]: 11, G[4]: 0, G[5]: 0}
    assert 'data-testid="casemap-totals">未结案 20 件 · 超期 3 件 · 预警 1 件' in html
    assert "其中 3 件不在所显示的网格内" in html
    # choropleth classes: 0 | 1-2 | 3-5 | 6-10 | >10
    for code, cls in ((G[0], 2), (G[1], 1), (G[3], 4), (G[5], 0)):
        assert re.search(rf'casemap-grid-{code}"[^>]*>\s*<path class="cm-grid cm-b{cls}"', html), code
    # markers: red on 01 and 03, yellow on 01 only
    assert f'casemap-red-{G[0]}' in html and f'casemap-red-{G[2]}' in html and f'casemap-yellow-{G[0]}' in html
    assert f'casemap-yellow-{G[2]}' not in html and f'casemap-red-{G[1]}' not in html
    # tooltip and link of a grid
    assert f"<title>{G[0]} 第1网格 · 平江新村社区 · 未结案 3 件，超期 1 件，预警 1 件</title>" in html
    assert f'href="/command/casemap/grids/{G[0]}"' in html
    assert 'data-testid="casemap-legend"' in html and "&gt;10" in html
    assert 'data-testid="casemap-top-' + G[3] + '"' in html
    # CSP: no style attributes, no inline script
    assert 'style="' not in html and "<script>" not in html
    scripts = re.findall(r"<script[^>]*>", html)  # only our own static files (the Leaflet map), never inline
    assert scripts and all(re.fullmatch(r'<script src="/static/[^"]+" defer>', tag) for tag in scripts), scripts
    # htmx asks for the fragment only
    frag = admin.get("/command/casemap?level=red", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.text and "casemap-svg" in frag.text
    assert grids_of(frag.text) == {G[0]: 1, G[1]: 0, G[2]: 1, G[3]: 0, G[4]: 0, G[5]: 0}


FILTERS = [
    ("class=E03", {G[1]: 1}),
    ("class=e0302", {G[1]: 1}),
    ("class=E01", {G[0]: 3, G[2]: 2, G[3]: 11}),
    ("source=hotline", {G[0]: 1, G[2]: 1}),
    ("group=to_file", {G[1]: 1}),
    ("group=to_dispatch", {G[3]: 11}),
    ("group=disposing", {G[0]: 3}),
    ("group=checking", {G[2]: 1}),
    ("group=suspended", {G[2]: 1}),
    ("level=red", {G[0]: 1, G[2]: 1}),
    ("level=yellow", {G[0]: 1}),
    ("level=green", {G[0]: 1, G[2]: 1}),
    ("level=none", {G[1]: 1, G[3]: 11}),
    (f"district=320508&street={STREET}&level=red&source=supervisor", {G[0]: 1}),
]


def test_filters_narrow_the_map_the_api_and_the_grid_lists(ctx, town, admin):
    for query, expected in FILTERS:
        r = admin.get(f"/command/casemap?{query}")
        assert r.status_code == 200, (query, r.text)
        assert {k: v for k, v in grids_of(r.text).items() if v} == expected, query
        api = admin.get(f"/api/command/map?{query}")
        assert api.status_code == 200, query
        assert {g["code"]: g["open"] for g in api.json()["grids"] if g["open"]} == expected, query
        # the grid links carry the filters to the list
        first = next(iter(expected))
        link = re.search(rf'href="(/command/casemap/grids/{first}[^"]*)"', r.text).group(1).replace("&amp;", "&")
        listed = admin.get(link)
        assert listed.status_code == 200 and f"共 {expected[first]} 件" in listed.text, query


def test_grid_list_shows_its_open_cases_worst_first_with_links(ctx, town, admin):
    r = admin.get(f"/command/casemap/grids/{G[0]}")
    assert r.status_code == 200
    html = r.text
    ids = [int(x) for x in re.findall(r'data-testid="casemap-case-(\d+)"', html)]
    assert ids == [1, 2, 3]  # red, yellow, green
    assert 'href="/command/cases/1"' in html and 'data-testid="casemap-level-1"' in html and "cm-lvl-red" in html
    assert "共 3 件" in html and 'href="/command/casemap"' in html
    assert 'style="' not in html
    # people read the class's name and the grid's name; the codes stay as tooltips
    row = html.split('data-testid="casemap-case-1"', 1)[1].split("</tr>", 1)[0]
    assert re.search(r'<span title="E\d{4}">[^<E]+</span>', row), row
    caption = html.split('data-testid="casemap-grid-caption">', 1)[1].split("</p>", 1)[0]
    assert not caption.startswith(G[0]) and f'<small class="muted">{G[0]}</small>' in caption
    # closed/merged/voided/not filed never show
    assert admin.get(f"/command/casemap/grids/{G[4]}").text.count('data-testid="casemap-case-') == 0
    assert "共 0 件" in admin.get(f"/command/casemap/grids/{G[1]}?group=checking").text
    # paging: 11 cases fit one page of 20; htmx asks for the list fragment alone
    frag = admin.get(f"/command/casemap/grids/{G[3]}", headers={"HX-Request": "true", "HX-Target": "list"})
    assert frag.status_code == 200 and "<html" not in frag.text and frag.text.count("casemap-case-") == 11


def test_unknown_grid_is_404(ctx, town, admin):
    r = admin.get("/command/casemap/grids/999999999999999")
    assert r.status_code == 404 and "网格 999999999999999 不存在" in r.text


def test_api_returns_counts_per_grid(ctx, town, admin):
    r = admin.get("/api/command/map")
    assert r.status_code == 200
    data = r.json()
    by = {g["code"]: g for g in data["grids"]}
    assert len(by) == 6 and by[G[0]] == {"code": G[0], "name": "第1网格", "community_code": COMMUNITY,
                                          "community_name": "平江新村社区", "open": 3, "overdue": 1, "warning": 1}
    assert data["total"] == {"open": 20, "overdue": 3, "warning": 1} and data["off_map"] == 3
    assert data["scope"]["city"] is True and data["filters"]["group"] == "open"
    doc = admin.get("/api/openapi.json")
    assert doc.status_code == 200 and "/api/command/map" in doc.json()["paths"]


@pytest.mark.parametrize("query, field", [
    ("class=X99", "class"),
    ("class=E9999", "class"),
    ("class=E0102%27%3B--", "class"),
    ("source=moon", "source"),
    ("group=everything", "group"),
    ("level=purple", "level"),
    ("district=999999", "district"),
    ("street=nope", "street"),
    ("district=320506&street=" + STREET, "street"),
])
def test_bad_filter_is_a_clear_error_and_is_reset(ctx, town, admin, query, field):
    page = admin.get(f"/command/casemap?{query}")
    assert page.status_code == 422 and 'data-testid="casemap-error"' in page.text
    # the bad filter is reset: the map still draws (that filter ignored)
    assert len(grids_of(page.text)) == (0 if query.startswith("district=320506") else 6)
    # htmx swaps 2xx only, so its fragment answers 200 with the message
    frag = admin.get(f"/command/casemap?{query}", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and 'data-testid="casemap-error"' in frag.text and "<html" not in frag.text
    api = admin.get(f"/api/command/map?{query}")
    assert api.status_code == 422
    err = api.json()["error"]
    assert err["message"] and err["message_en"] and field in err["fields"]
    lst = admin.get(f"/command/casemap/grids/{G[0]}?{query}")
    assert lst.status_code == 422 and 'data-testid="casemap-error"' in lst.text


# --- scope ----------------------------------------------------------------------------------------

def _user(app: Any, client_for: Any, name: str, org_id: int, perms: tuple[str, ...] = ("command.view",)) -> Any:
    add_user(app, name, list(perms), org_id=org_id)
    return client_for(name, ADMIN_PASSWORD)


def test_map_counts_only_the_cases_the_user_may_see(app, ctx, town, admin, client_for):
    city_wide = admin.get("/api/command/map").json()
    assert city_wide["total"]["open"] == 20
    # a department sees the cases dispatched to it (main department), wherever they are
    dept = _user(app, client_for, "srhw_viewer", town["srhw"]).get("/api/command/map").json()
    assert dept["scope"]["city"] is False and dept["total"] == {"open": 3, "overdue": 2, "warning": 1}
    assert {g["code"]: g["open"] for g in dept["grids"] if g["open"]} == {G[0]: 2}
    # the district sees its district (cases 1-20), not 320506's case 21
    district = _user(app, client_for, "gusu_viewer", town["district"])
    page = district.get("/command/casemap")
    assert page.status_code == 200 and "统计范围：姑苏区" in page.text
    assert 'data-testid="casemap-totals">未结案 19 件' in page.text
    # the street sees its street only (not case 20 of street …002)
    street = _user(app, client_for, "pj_viewer", town["street"]).get("/api/command/map").json()
    assert street["total"]["open"] == 18 and street["off_map"] == 1
    # and the grid list follows the same scope
    lst = _user(app, client_for, "szgy_viewer", town["szgy"]).get(f"/command/casemap/grids/{G[0]}")
    assert [int(x) for x in re.findall(r'data-testid="casemap-case-(\d+)"', lst.text)] == [3]


def test_permission(app, ctx, town, client_for):
    nobody = _user(app, client_for, "nobody", town["root"], ("command.base.view",))
    for url in ("/command/casemap", f"/command/casemap/grids/{G[0]}", "/api/command/map"):
        assert nobody.get(url).status_code == 403, url
    viewer = _user(app, client_for, "viewer", town["root"])
    home = viewer.get("/command/casemap")
    assert home.status_code == 200 and 'href="/command/casemap"' in home.text  # the menu entry
