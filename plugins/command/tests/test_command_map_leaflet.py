"""The Leaflet maps' data (issue 11, item 11): GeoJSON of grids, open cases and the deployment's
own base map, scoped to what the user may see; the point picker; the configured tile service
(天地图 / custom XYZ, GCJ-02 display shift) and the CSP that admits its host only when configured;
the demo city's districts next to each other with roads on the grid lines.

Fixture: test_command_map's town (district 320508, six grids, cases 1–24) plus a grid in 吴中区
(320506) with case 21 in it, positions for the cases, and a base map of two district outlines,
a road in each and a city-wide main road.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import insert, update
from test_command_base import DX, DY, LAT0, LON0, square
from test_command_map import G, _user, town  # noqa: F401  (fixture)

from ccms.api import Actor
from ccms.services import settings as settings_service
from ccms.plugins.command import demo, geo, grids
from ccms.plugins.command.models import Case, MapFeature

WZ_COMMUNITY = "320506001001"
WZ_GRID = WZ_COMMUNITY + "01"


def centre(i: int, j: int) -> tuple[float, float]:
    return LON0 + (i + 0.5) * DX, LAT0 + (j + 0.5) * DY


def line(*cells: tuple[float, float]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [[LON0 + i * DX, LAT0 + j * DY] for i, j in cells]}


@pytest.fixture
def mapped(ctx, town):  # noqa: F811
    with ctx.db.session() as s:
        grids.save_region(ctx, s, Actor(None, "t"), {"level": "community", "code": WZ_COMMUNITY, "name": "龙桥社区",
                                                      "geometry": square(5, 0)})
        grids.save_grid(ctx, s, Actor(None, "t"), {"code": WZ_GRID, "name": "龙桥第1网格", "area_class": "A",
                                                   "geometry": square(5, 0)})
        for cid, (i, j) in {1: (0, 0), 2: (0, 0), 3: (0, 0), 4: (1, 0), 6: (2, 0), 7: (2, 0), 9: (0, 1)}.items():
            x, y = centre(i, j)
            s.execute(update(Case).where(Case.id == cid).values(lon=x + cid * 1e-6, lat=y))
        x, y = centre(5, 0)
        s.execute(update(Case).where(Case.id == 21).values(lon=x, lat=y, grid_code=WZ_GRID,
                                                            community_code=WZ_COMMUNITY))
        s.execute(insert(MapFeature.__table__), [
            {"layer": "district", "kind": "", "name": "姑苏区", "area_code": "320508", "geometry": square(0, 0, 3, 2)},
            {"layer": "district", "kind": "", "name": "吴中区", "area_code": "320506", "geometry": square(5, 0)},
            {"layer": "road", "kind": "road", "name": "平江路", "area_code": "320508", "geometry": line((0, 1), (3, 1))},
            {"layer": "road", "kind": "road", "name": "长桥路", "area_code": "320506", "geometry": line((5, 0), (6, 1))},
            {"layer": "road", "kind": "main", "name": "环城路", "area_code": "", "geometry": line((0, 2), (6, 2))},
        ])
    return town


def set_map(ctx: Any, **values: Any) -> None:
    with ctx.db.session() as s:
        current, version, _row = settings_service.load(ctx, s, "command")
        settings_service.save(s, Actor(None, "t"), ctx, "command", {**current, **values}, version)


def by(fc: dict[str, Any], key: str) -> dict[Any, dict[str, Any]]:
    return {f["properties"][key]: f for f in fc["features"]}


# --- GeoJSON endpoints --------------------------------------------------------------------------------

def test_grids_geojson_has_polygons_with_counts_and_links(mapped, admin):
    fc = admin.get("/api/command/map/grids").json()
    assert fc["type"] == "FeatureCollection" and len(fc["bbox"]) == 4
    grid = by(fc, "code")
    assert set(grid) == {*G, WZ_GRID}
    g0 = grid[G[0]]
    assert g0["geometry"]["type"] == "Polygon"
    assert shape(g0["geometry"]).equals(shape(square(0, 0)))
    assert {k: g0["properties"][k] for k in ("open", "overdue", "warning", "community")} == {
        "open": 3, "overdue": 1, "warning": 1, "community": "平江新村社区"}
    assert g0["properties"]["href"] == f"/command/casemap/grids/{G[0]}"
    # the map's filters narrow the counts (and the grid links keep them)
    red = by(admin.get("/api/command/map/grids?level=red&street=320508001").json(), "code")
    assert set(red) == set(G) and red[G[0]]["properties"]["open"] == 1
    assert red[G[0]]["properties"]["href"].endswith("?level=red&street=320508001")


def test_cases_geojson_points_with_deadline_colour_popup_fields(mapped, admin):
    fc = admin.get("/api/command/map/cases").json()
    pts = by(fc, "id")
    assert set(pts) == {1, 2, 3, 4, 6, 7, 9, 21}  # open cases with a position (closed 5, no-position 8 … left out)
    assert fc["total"] == fc["shown"] == 8
    one = pts[1]
    assert one["geometry"]["type"] == "Point"
    assert one["geometry"]["coordinates"] == pytest.approx([centre(0, 0)[0] + 1e-6, centre(0, 0)[1]], abs=1e-7)
    p = one["properties"]
    assert p["case_no"] == "T000001" and p["class_code"] == "E0102" and p["class_name"]
    assert p["address"] == "平江路 1 号" and p["href"] == "/command/cases/1" and p["due"]
    assert {i: pts[i]["properties"]["level"] for i in (1, 2, 3, 4)} == {
        1: "red", 2: "yellow", 3: "green", 4: "none"}
    # worst first: the red ones lead
    assert [f["properties"]["level"] for f in fc["features"]][:3] == ["red", "red", "yellow"]
    assert set(by(admin.get("/api/command/map/cases?level=red").json(), "id")) == {1, 7}


def test_a_district_user_gets_only_their_grids_cases_and_base_map(app, mapped, admin, client_for):
    gusu = _user(app, client_for, "gusu_map", mapped["district"])
    assert set(by(gusu.get("/api/command/map/grids").json(), "code")) == set(G)
    assert set(by(gusu.get("/api/command/map/cases").json(), "id")) == {1, 2, 3, 4, 6, 7, 9}
    base = gusu.get("/api/command/map/base").json()
    names = {f["properties"]["name"] for f in base["features"]}
    assert {"姑苏区", "平江路", "环城路"} <= names and not names & {"吴中区", "长桥路"}
    everyone = {f["properties"]["name"] for f in admin.get("/api/command/map/base").json()["features"]}
    assert {"吴中区", "长桥路"} <= everyone
    # a department sees the grids where its cases lie (01: open ones, 02: its closed case 5) and no others
    srhw = _user(app, client_for, "srhw_map", mapped["srhw"])
    assert set(by(srhw.get("/api/command/map/grids").json(), "code")) == {G[0], G[1]}
    assert set(by(srhw.get("/api/command/map/cases").json(), "id")) == {1, 2}
    # no command.view: no map data
    nobody = _user(app, client_for, "nobody_map", mapped["root"], ("command.base.view",))
    for url in ("grids", "cases", "base", "pick?x=1&y=1"):
        assert nobody.get(f"/api/command/map/{url}").status_code == 403, url


def test_base_layers_are_drawn_below_in_order(mapped, admin):
    layers = [f["properties"]["layer"] for f in admin.get("/api/command/map/base").json()["features"]]
    assert layers == sorted(layers, key=["water", "district", "street", "road"].index)
    assert layers.count("district") == 2 and layers.count("road") == 3


def test_bad_filter_is_a_422_naming_the_field(mapped, admin):
    for url, field in (("grids?level=purple", "level"), ("cases?class=X99", "class"),
                       ("grids?community=abc", "community")):
        r = admin.get(f"/api/command/map/{url}")
        assert r.status_code == 422, url
        err = r.json()["error"]
        assert field in err["fields"] and err["message"] and err["message_en"]


def test_pick_locates_the_point_and_refuses_one_outside(mapped, admin):
    x, y = centre(1, 1)
    r = admin.get(f"/api/command/map/pick?lon={x}&lat={y}").json()
    assert r["location"]["grid_code"] == G[4] and r["x"] == pytest.approx(x) and r["display"] == [r["x"], r["y"]]
    out = admin.get(f"/api/command/map/pick?lon={LON0 - 0.05}&lat={LAT0}")
    assert out.status_code == 422 and "不在本市任何单元网格内" in out.json()["error"]["message"]
    bad = admin.get("/api/command/map/pick?lon=abc&lat=31")
    assert bad.status_code == 422 and bad.json()["error"]["message_en"]


# --- tile service, GCJ-02, CSP ---------------------------------------------------------------------

# (WGS-84 lon, lat) -> GCJ-02, the public test points of the transform (Shanghai, Shenzhen, Beijing)
KNOWN = [((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
         ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
         ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069))]


def test_gcj02_transform_matches_known_points_and_inverts():
    for wgs, gcj in KNOWN:
        assert geo.wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)
        assert geo.gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=1e-7)  # < 1 cm
    # gcoord's GCJ-02 -> WGS-84 reference (a one-step inverse, ≈ 2 cm from the exact one)
    assert geo.gcj02_to_wgs84(123.0, 45.0) == pytest.approx((122.99395597, 44.99804071), abs=5e-7)
    assert geo.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)  # outside China: unchanged


def test_no_tile_service_by_default_and_csp_keeps_own_images(mapped, admin):
    page = admin.get("/command/casemap")
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' data: blob:;" in csp and "tianditu" not in csp
    assert 'data-ccms-map="cases"' in page.text and "&#34;kind&#34;:&#34;none&#34;" in page.text


def test_tianditu_adds_its_hosts_to_the_csp_of_map_pages_only(ctx, mapped, admin):
    set_map(ctx, map_base_layer="tianditu", map_tianditu_key="0123456789abcdef")
    for url in ("/command/casemap", "/command/map", "/command/intake"):
        r = admin.get(url)
        assert r.status_code == 200, url
        img = next(p for p in r.headers["content-security-policy"].split("; ") if p.startswith("img-src"))
        assert img == "img-src 'self' data: blob: " + " ".join(f"https://t{i}.tianditu.gov.cn" for i in range(8)), url
        assert "*" not in img
        assert "tk=0123456789abcdef" in r.text and "vec_w" in r.text and "cva_w" in r.text
    other = admin.get("/command/cases")
    assert "tianditu" not in other.headers["content-security-policy"]


def test_custom_xyz_in_gcj02_shifts_what_is_drawn_and_shifts_picks_back(ctx, mapped, admin):
    set_map(ctx, map_base_layer="xyz", map_crs="gcj02",
            map_tile_url="https://{s}.tiles.example.gov.cn/{z}/{x}/{y}.png", map_tile_subdomains="ab")
    csp = admin.get("/command/casemap").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://a.tiles.example.gov.cn https://b.tiles.example.gov.cn;" in csp
    g0 = by(admin.get("/api/command/map/grids").json(), "code")[G[0]]
    corner = g0["geometry"]["coordinates"][0][0]
    assert corner == pytest.approx(list(geo.wgs84_to_gcj02(LON0, LAT0)), abs=1e-7)
    one = by(admin.get("/api/command/map/cases").json(), "id")[1]
    assert one["geometry"]["coordinates"] == pytest.approx(
        list(geo.wgs84_to_gcj02(centre(0, 0)[0] + 1e-6, centre(0, 0)[1])), abs=1e-7)
    # a click on the shifted map is stored as the CGCS2000 point under it
    x, y = centre(1, 1)
    gx, gy = geo.wgs84_to_gcj02(x, y)
    r = admin.get(f"/api/command/map/pick?lon={gx}&lat={gy}").json()
    assert (r["x"], r["y"]) == pytest.approx((x, y), abs=1e-6) and r["location"]["grid_code"] == G[4]
    assert r["display"] == pytest.approx([gx, gy], abs=1e-6)


@pytest.mark.parametrize(("values", "field"), [
    ({"map_base_layer": "tianditu"}, "map_tianditu_key"),
    ({"map_base_layer": "xyz", "map_tile_url": "https://*.example.com/{z}/{x}/{y}.png"}, "map_tile_url"),
    ({"map_base_layer": "xyz", "map_tile_url": "https://tiles.example.com/{z}/{x}/{y}.png; script-src *"},
     "map_tile_url"),
    ({"map_base_layer": "xyz", "map_tile_url": "javascript:alert(1)/{z}/{x}/{y}"}, "map_tile_url"),
    ({"map_base_layer": "xyz", "map_tile_url": "https://tiles.example.com/tiles.png"}, "map_tile_url"),
    ({"map_base_layer": "xyz", "map_tile_url": "https://{s}.example.com/{z}/{x}/{y}.png"}, "map_tile_url"),
])
def test_unusable_tile_settings_are_refused_with_the_field(ctx, values, field):
    from ccms.errors import ValidationFailed
    with pytest.raises(ValidationFailed) as exc:
        settings_service.check(ctx, "command", values)
    assert field in exc.value.fields and exc.value.fields[field]["message_en"]


def test_csp_origin_helper_refuses_anything_but_a_plain_origin():
    from ccms.web.middleware import allow_images_from, csp_for
    scope: dict[str, Any] = {}
    allow_images_from(scope, ["https://t0.tianditu.gov.cn", "http://10.1.2.3:8080"])
    assert "img-src 'self' data: blob: https://t0.tianditu.gov.cn http://10.1.2.3:8080;" in csp_for(scope)
    for bad in ("*", "https://*.example.com", "https://a.example.com/x", "https://a.com; script-src *", "data:"):
        with pytest.raises(ValueError):
            allow_images_from({}, [bad])
    assert "img-src 'self' data: blob:;" in csp_for({})


# --- the demo city --------------------------------------------------------------------------------

def test_demo_districts_lie_next_to_each_other_with_roads_on_their_grid_lines():
    lattices = demo.street_lattices(random.Random(20261201))
    streets = {street: shapely.unary_union([shapely.box(*shapely.MultiPoint(
        [p for row in nodes for p in row]).bounds)]) for street, _key, nodes in lattices}
    districts = {area: shapely.unary_union([g for s, g in streets.items() if s.startswith(area)])
                 for _key, area, _xy in demo.DISTRICT_PLACES}
    kx, ky = geo.scales(demo.CITY_ORIGIN[1])

    def gap_m(a: Any, b: Any) -> float:
        return float(geo.to_local(a, *demo.CITY_ORIGIN).distance(geo.to_local(b, *demo.CITY_ORIGIN)))
    gusu, wuzhong, xiangcheng = districts["320508"], districts["320506"], districts["320507"]
    # neighbours across a 100 m boulevard; the whole city fits in about 1.4 km × 2 km
    assert gap_m(gusu, wuzhong) == pytest.approx(100, abs=1) and gap_m(gusu, xiangcheng) == pytest.approx(100, abs=1)
    minx, miny, maxx, maxy = shapely.union_all(list(districts.values())).bounds
    assert (maxx - minx) * kx < 1500 and (maxy - miny) * ky < 2100
    # a district's two streets side by side across the avenue
    assert gap_m(streets["320508001"], streets["320508002"]) == pytest.approx(demo.STREET_GAP_M, abs=1)
    # the base map: a district outline each, each street's three named roads on its grid lines
    codes = [(street, key) for street, key, _n in lattices]
    rows = demo.base_map(lattices, demo.street_roads(codes))
    assert sorted(r["name"] for r in rows if r["layer"] == "district") == ["吴中区", "姑苏区", "相城区"]
    roads = [r for r in rows if r["layer"] == "road" and r["kind"] == "road"]
    assert len(roads) == 3 * len(lattices)
    nodes = {s: n for s, _k, n in lattices}
    first = next(r for r in roads if r["name"] == demo.street_roads(codes)["320508001"][0])
    assert first["geometry"]["coordinates"] == [[round(x, 7), round(y, 7)] for x, y in nodes["320508001"][1]]
    city = shapely.union_all(list(districts.values())).buffer(0.003)
    assert all(city.contains(shape(r["geometry"])) for r in rows if r["layer"] != "water")


def test_settings_screen_offers_the_base_layer_and_the_report_form_has_the_picker(mapped, admin):
    form = admin.get("/admin/settings/command").text
    assert "地图底图" in form and "天地图（需本单位密钥）" in form and "GCJ-02（高德、腾讯等）" in form
    intake = admin.get("/command/intake")
    assert intake.status_code == 200
    assert 'data-ccms-map="pick"' in intake.text and 'data-x-input="#f-lon"' in intake.text
    assert '<script src="/static/vendor/leaflet/leaflet.js" defer>' in intake.text
    for path in ("/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/LICENSE",
                 "/static/vendor/leaflet.markercluster/leaflet.markercluster.js", "/static/command/map/ccms-map.js"):
        assert admin.get(path).status_code == 200, path
