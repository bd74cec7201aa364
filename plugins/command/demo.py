"""Demo base data for ``ccms demo``: a small city around 苏州 (see ccms.demo).

Each of the six demo communities gets a 6 × 6 tessellation of roughly
100 m × 100 m grids (216 grids in all): a lattice whose inner nodes are
jittered, so the grids look surveyed rather than drawn with a ruler yet
never overlap (neighbours share their nodes). The community boundary is the
union of its grids. The three districts lie next to each other (相城 north of
姑苏, 吴中 south of it, a 100 m boulevard between them; each district's two
streets side by side with an avenue between), and :func:`base_map` draws the
city's own base map from the same lattices: district outlines, the streets'
roads on the grid lines, lanes, avenues, a ring road and a moat. Then filing standards for every small class, matrix
rules, 10,000 components and a few hundred roads, door plates and POIs.
Seeded with a fixed random seed, so every demo looks the same.

Each street has three roads (:func:`street_roads`); a grid lies on one of
them (two rows of grids per road), which gives cases and door plates
addresses such as 姑苏区平江街道平江路37号门前.

Progress: ``session.info["ccms_demo_progress"]`` (set by ``ccms demo``, see
ccms.demo) is called once per step with a count.
"""

from __future__ import annotations

import random
from typing import Any

import shapely
from shapely.geometry import Polygon
from sqlalchemy import insert
from sqlalchemy.orm import Session

from ccms.api import Actor, utcnow

from . import geo
from .common import Classes, take_serials
from .components import _write_census
from .grids import code_spec, grid_index, touch_grids
from .models import Grid, MapFeature, MatrixRule, Place, PlaceName, Region, Standard

ACTOR = Actor(None, "ccms demo")
CELL_M = 100.0
N = 6  # grids per side of a community

CITY_ORIGIN = (120.615, 31.305)  # lon, lat of 姑苏's south-west corner
STREET_GAP_M = 150.0  # the avenue between a district's two streets
DISTRICT_GAP_M = 100.0  # the boulevard between districts
DISTRICT_W_M, DISTRICT_H_M = 2 * N * CELL_M + STREET_GAP_M, N * CELL_M
# district key, area code, south-west corner in metres east/north of CITY_ORIGIN
DISTRICT_PLACES = [("gusu", "320508", (0.0, 0.0)), ("wuzhong", "320506", (0.0, -(DISTRICT_H_M + DISTRICT_GAP_M))),
                   ("xiangcheng", "320507", (0.0, DISTRICT_H_M + DISTRICT_GAP_M))]
MAIN_ROADS = {"avenue": "姑胥大道", "south": "吴越路", "north": "相门路", "ring": "环城路", "moat": "护城河"}


def to_lonlat(x: float, y: float) -> tuple[float, float]:
    """Metres east/north of the city origin -> lon/lat (one local scale for the whole small city)."""
    kx, ky = geo.scales(CITY_ORIGIN[1])
    return CITY_ORIGIN[0] + x / kx, CITY_ORIGIN[1] + y / ky


# district key, area code, origin (lon, lat) of its first community; streets as in ccms.demo
DISTRICTS = [(key, area, to_lonlat(*xy)) for key, area, xy in DISTRICT_PLACES]
STREET_NAMES = {"gusu": ["平江街道", "沧浪街道"], "wuzhong": ["长桥街道", "越溪街道"], "xiangcheng": ["元和街道", "黄桥街道"]}
DISTRICT_NAMES = {"gusu": "姑苏区", "wuzhong": "吴中区", "xiangcheng": "相城区"}
COMMUNITY_NAMES = {"gusu": ["平江新村社区", "南环新村社区"], "wuzhong": ["龙桥社区", "吴山社区"],
                   "xiangcheng": ["御窑社区", "占上社区"]}
ROADS = ["人民路", "干将路", "平江路", "十全街", "凤凰街", "南环路", "长江路", "东吴北路", "宝带路", "越溪路",
         "相城大道", "御窑路", "阳澄湖路", "齐门路", "临顿路", "观前街", "三香路", "竹辉路"]
POIS = ["社区卫生服务中心", "便民服务中心", "农贸市场", "中心小学", "公交首末站", "城市公园", "派出所", "邮政所",
        "文化活动中心", "养老服务中心", "停车场", "公共厕所"]
STANDARD_TEXT = {
    ("event", "0102"): ("公共区域有暴露垃圾，面积 1 平方米以上", "垃圾清除干净，无残留"),
    ("event", "0104"): ("道路有明显污迹、积存物，面积 2 平方米以上", "道路清扫干净"),
    ("event", "0201"): ("建筑物、公共设施上有非法小广告 5 处以上", "小广告清除干净，无残留痕迹"),
    ("event", "0505"): ("机动车占用人行道、盲道或消防通道停放", "车辆驶离或依法处置"),
    ("event", "0401"): ("路面塌陷，面积 0.5 平方米以上或深度 10 厘米以上", "塌陷修复，路面平整"),
    ("component", "0101"): ("上水井盖缺失、破损、移位或不平", "井盖恢复完好、平稳"),
    ("component", "0118"): ("路灯不亮、灯杆倾斜或破损", "路灯恢复照明，设施完好"),
}
DEPT_OF_BIG = {("component", "01"): "dept.szgy", ("component", "02"): "dept.szgy", ("component", "03"): "dept.srhw",
               ("component", "04"): "dept.ylh", ("event", "01"): "dept.srhw", ("event", "02"): "dept.srhw",
               ("event", "03"): "dept.cgj", ("event", "04"): "dept.szgy", ("event", "05"): "dept.cgj"}


def _lattice(rng: random.Random, lon0: float, lat0: float) -> list[list[tuple[float, float]]]:
    """(N+1)² nodes in lon/lat; inner nodes jittered by up to 20 m."""
    kx, ky = geo.scales(lat0)
    nodes = []
    for j in range(N + 1):
        row = []
        for i in range(N + 1):
            dx = rng.uniform(-20, 20) if 0 < i < N else 0.0
            dy = rng.uniform(-20, 20) if 0 < j < N else 0.0
            row.append((lon0 + (i * CELL_M + dx) / kx, lat0 + (j * CELL_M + dy) / ky))
        nodes.append(row)
    return nodes


def street_lattices(rng: random.Random, street_digits: int = 3) -> list[tuple[str, str, Any]]:
    """(street code, district key, lattice nodes) of each demo street: a district's two streets side
    by side, :data:`STREET_GAP_M` apart (the avenue), districts where :data:`DISTRICT_PLACES` puts them."""
    out = []
    for key, area, (lon0, lat0) in DISTRICTS:
        kx, _ky = geo.scales(lat0)
        for n in (1, 2):
            origin = (lon0 + (n - 1) * (N * CELL_M + STREET_GAP_M) / kx, lat0)
            out.append((f"{area}{n:0{street_digits}d}", key, _lattice(rng, *origin)))
    return out


def progress(session: Session) -> Any:
    """The seeding's progress reporter (``progress(zh, en, done, total)``), or a no-op."""
    return session.info.get("ccms_demo_progress") or (lambda *_a, **_k: None)


def street_roads(streets: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Three roads of each street (street code -> road names), each road in one street only."""
    road_iter = iter(ROADS * 2)
    return {street: [next(road_iter) for _ in range(3)] for street, _district in streets}


class Addresses:
    """Plausible street addresses for points in the demo's grids: district + street + the grid's
    road + a house number on the grid's side of it (odd one side, even the other)."""

    SUFFIXES = ("", "", "", "附近", "门前", "东侧", "西侧", "对面", "路口")

    def __init__(self, streets: list[tuple[str, str]]) -> None:
        self.roads = street_roads(streets)
        self.prefix = {street: DISTRICT_NAMES[d] + STREET_NAMES[d][int(street[-1]) - 1] for street, d in streets}

    def __call__(self, rng: random.Random, grid_code: str) -> str:
        street = grid_code[:9]
        j, i = divmod(int(grid_code[12:]) - 1, N)  # the grid's row and column (community code: 12 digits)
        number = 2 * (i * 8 + rng.randrange(8)) + 1 + (j % 2)
        return f"{self.prefix[street]}{self.roads[street][min(j // 2, 2)]}{number}号{rng.choice(self.SUFFIXES)}"


def seed_demo(ctx: Any, session: Session, orgs: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Seed when ``orgs`` is ccms.demo's city (its districts and streets); otherwise do nothing."""
    if not all(f"street.{key}.{n}" in orgs for key, _a, _o in DISTRICTS for n in (1, 2)):
        return
    say = progress(session)
    rng = random.Random(20261201)
    spec = code_spec(ctx, session)
    now = utcnow()
    grid_rows: list[dict[str, Any]] = []
    cells: list[tuple[str, list[tuple[float, float]]]] = []   # grid code, corner nodes
    street_codes: list[tuple[str, str]] = []                 # (street code, district key)
    lattices = street_lattices(rng, spec.street)
    for street, key, nodes in lattices:
        n = int(street[-1])
        community = f"{street}{1:0{spec.community}d}"
        street_codes.append((street, key))
        polys = []
        for j in range(N):
            for i in range(N):
                ring = [nodes[j][i], nodes[j][i + 1], nodes[j + 1][i + 1], nodes[j + 1][i]]
                poly = Polygon(ring)
                code = f"{community}{j * N + i + 1:0{spec.serial}d}"
                minx, miny, maxx, maxy = poly.bounds
                grid_rows.append({"code": code, "name": f"{COMMUNITY_NAMES[key][n - 1]}第{j * N + i + 1}网格",
                                  "street_code": street, "community_code": community,
                                  "area_class": "A" if (i + j) < 3 else ("C" if i + j > 8 else "B"),
                                  "geometry": geo.as_geojson(poly), "area_m2": round(geo.area_m2(poly), 1),
                                  "min_x": minx, "min_y": miny, "max_x": maxx, "max_y": maxy,
                                  "updated_at": now, "version": 1})
                cells.append((code, ring))
                polys.append(poly)
        boundary = shapely.unary_union(polys)
        session.add(Region(level="street", code=street, name=STREET_NAMES[key][n - 1],
                           org_id=orgs.get(f"street.{key}.{n}"), geometry=geo.as_geojson(boundary)))
        session.add(Region(level="community", code=community, name=COMMUNITY_NAMES[key][n - 1],
                           parent_code=street, org_id=orgs.get(f"community.{key}.{n}"),
                           geometry=geo.as_geojson(boundary)))
    session.flush()
    session.execute(insert(Grid.__table__), grid_rows)
    session.execute(insert(MapFeature.__table__), base_map(lattices, street_roads(street_codes)))
    touch_grids(session)
    say("网格", "grids", len(grid_rows))
    classes = Classes(session)
    _standards(session, classes, orgs)
    _matrix(session, orgs, street_codes)
    _components(session, rng, classes, cells, orgs)
    say("部件", "components", 10_000)
    addresses = Addresses(street_codes)
    say("地名地址", "places", _places(ctx, session, rng, cells, street_codes, addresses))
    from .demo_cases import seed_cases  # the case loop's people and ~20,000 cases
    return seed_cases(ctx, session, orgs, cells, {g["code"]: g["area_class"] for g in grid_rows}, _point_in,
                      addresses)


def _line(points: list[tuple[float, float]]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [[round(x, 7), round(y, 7)] for x, y in points]}


def base_map(lattices: list[tuple[str, str, Any]], roads: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The demo city's own base map (``command_map_feature`` rows), from the grid lattices so the
    roads run exactly on grid edges: each street's three named roads between its rows of grids
    (the roads of :class:`Addresses`), lanes between its columns, and — in metres from the city
    origin — district outlines, the avenue and boulevards in the gaps, a ring road and a moat."""
    area_of = {key: area for key, area, _xy in DISTRICT_PLACES}
    rows: list[dict[str, Any]] = []
    for key, area, (x0, y0) in DISTRICT_PLACES:
        box = [(x0, y0), (x0 + DISTRICT_W_M, y0), (x0 + DISTRICT_W_M, y0 + DISTRICT_H_M), (x0, y0 + DISTRICT_H_M)]
        ring = [list(to_lonlat(x, y)) for x, y in [*box, box[0]]]
        rows.append({"layer": "district", "kind": "", "name": DISTRICT_NAMES[key], "area_code": area,
                     "geometry": {"type": "Polygon", "coordinates": [[[round(v, 7) for v in p] for p in ring]]}})
    for street, key, nodes in lattices:
        area = area_of[key]
        for k, j in enumerate((1, 3, 5)):  # grid rows 0–1 lie on the first road, 2–3 the second, 4–5 the third
            rows.append({"layer": "road", "kind": "road", "name": roads[street][k], "area_code": area,
                         "geometry": _line(nodes[j])})
        for i in (2, 4):
            rows.append({"layer": "road", "kind": "lane", "name": "", "area_code": area,
                         "geometry": _line([nodes[j][i] for j in range(N + 1)])})
    top = DISTRICT_H_M * 2 + DISTRICT_GAP_M
    bottom = -(DISTRICT_H_M + DISTRICT_GAP_M)
    mid_x = N * CELL_M + STREET_GAP_M / 2
    pad = 60.0
    main = [("avenue", [(mid_x, bottom - pad), (mid_x, top + pad)]),
            ("south", [(-pad, -DISTRICT_GAP_M / 2), (DISTRICT_W_M + pad, -DISTRICT_GAP_M / 2)]),
            ("north", [(-pad, DISTRICT_H_M + DISTRICT_GAP_M / 2), (DISTRICT_W_M + pad, DISTRICT_H_M + DISTRICT_GAP_M / 2)]),
            ("ring", [(-pad, bottom - pad), (DISTRICT_W_M + pad, bottom - pad), (DISTRICT_W_M + pad, top + pad),
                      (-pad, top + pad), (-pad, bottom - pad)])]
    for name, pts in main:
        rows.append({"layer": "road", "kind": "main", "name": MAIN_ROADS[name], "area_code": "",
                     "geometry": _line([to_lonlat(x, y) for x, y in pts])})
    outer, inner = pad + 150.0, pad + 110.0  # the moat: a 40 m band outside the ring road
    def rect(d: float) -> list[list[float]]:
        pts = [(-d, bottom - d), (DISTRICT_W_M + d, bottom - d), (DISTRICT_W_M + d, top + d), (-d, top + d)]
        return [[round(v, 7) for v in to_lonlat(x, y)] for x, y in [*pts, pts[0]]]
    rows.append({"layer": "water", "kind": "river", "name": MAIN_ROADS["moat"], "area_code": "",
                 "geometry": {"type": "Polygon", "coordinates": [rect(outer), list(reversed(rect(inner)))]}})
    return rows


def _point_in(rng: random.Random, ring: list[tuple[float, float]]) -> tuple[float, float]:
    """A point inside a convex quadrilateral (bilinear interpolation of its corners)."""
    u, v = rng.uniform(0.08, 0.92), rng.uniform(0.08, 0.92)
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = ring
    x = (1 - v) * ((1 - u) * x0 + u * x1) + v * ((1 - u) * x3 + u * x2)
    y = (1 - v) * ((1 - u) * y0 + u * y1) + v * ((1 - u) * y3 + u * y2)
    return round(x, 7), round(y, 7)


def _standards(session: Session, classes: Classes, orgs: dict[str, Any]) -> None:
    rows = []
    for kind in ("component", "event"):
        for e in classes.small_classes(kind):
            filing, closing = STANDARD_TEXT.get((kind, e.code), (
                f"{e.name}破损、缺失或功能障碍" if kind == "component" else f"发现{e.name}问题，影响市容秩序",
                f"{e.name}修复或更换完毕，功能恢复" if kind == "component" else f"{e.name}问题处置完毕，现场恢复正常"))
            dept = orgs.get(DEPT_OF_BIG.get((kind, e.code[:2]), "dept.cgj"))
            for area, limit in (("A", 4), ("B", 8), ("C", 16)):
                rows.append({"kind": kind, "class_code": e.code, "condition_code": "01", "filing_condition": filing,
                             "closing_condition": closing, "area_class": area, "urgency": "normal",
                             "time_limit": limit, "time_unit": "work_hours", "dept_org_id": dept, "active": True,
                             "updated_at": utcnow(), "version": 1})
            rows.append({"kind": kind, "class_code": e.code, "condition_code": "01", "filing_condition": filing,
                         "closing_condition": closing, "area_class": "", "urgency": "urgent", "time_limit": 2,
                         "time_unit": "work_hours", "dept_org_id": dept, "active": True, "updated_at": utcnow(),
                         "version": 1})
    session.execute(insert(Standard.__table__), rows)


def _matrix(session: Session, orgs: dict[str, Any], streets: list[tuple[str, str]]) -> None:
    rows = []
    for (kind, big), key in DEPT_OF_BIG.items():
        if orgs.get(key):
            rows.append({"kind": kind, "class_code": big, "scope_type": "any", "scope_value": "",
                         "dept_org_id": orgs[key], "note": "按大类分工"})
    for street, district in streets:  # street order (街面秩序) goes to the district's enforcement brigade
        if orgs.get(f"brigade.{district}"):
            rows.append({"kind": "event", "class_code": "05", "scope_type": "street", "scope_value": street,
                         "dept_org_id": orgs[f"brigade.{district}"], "note": "属地执法"})
    now = utcnow()
    session.execute(insert(MatrixRule.__table__), [{**r, "updated_at": now, "version": 1} for r in rows])


def _components(session: Session, rng: random.Random, classes: Classes, cells: list[Any], orgs: dict[str, Any],
                count: int = 10_000) -> None:
    smalls = [e.code for e in classes.small_classes("component")]
    weights = [8 if c.startswith("01") else 3 if c.startswith(("02", "03", "04")) else 1 for c in smalls]
    states = ["normal"] * 92 + ["damaged"] * 5 + ["lost"] * 2 + ["removed"]
    rows = []
    for code in rng.choices(smalls, weights, k=count):
        grid_code, ring = rng.choice(cells)
        x, y = _point_in(rng, ring)
        dept = orgs.get(DEPT_OF_BIG.get(("component", code[:2]), "dept.cgj"))
        rows.append({"ident": "", "class_code": code, "area_code": grid_code[:6], "grid_code": grid_code,
                     "name": classes.name("component", code), "x": x, "y": y, "state": rng.choice(states),
                     "address": "", "initial_date": None, "source": "普查", "remarks": "",
                     "dept_supervise_id": orgs.get("dept.cgj"), "dept_owner_id": dept, "dept_maintain_id": dept})
    _write_census(session, ACTOR, rows, None)


def _places(ctx: Any, session: Session, rng: random.Random, cells: list[Any], streets: list[tuple[str, str]],
            addresses: Addresses) -> int:
    """Roads, door plates and POIs of each street; returns how many."""
    from .geocode import layer_code
    by_street: dict[str, list[Any]] = {}
    for code, ring in cells:
        by_street.setdefault(code[:9], []).append((code, ring))
    names = {code: name for code, name in ((s, STREET_NAMES[d][int(s[-1]) - 1]) for s, d in streets)}
    rows = []
    for street, _district in streets:
        street_cells = by_street[street]
        roads = addresses.roads[street]
        plan: list[tuple[str, str, str, Any]] = []
        for r in roads:
            code, ring = rng.choice(street_cells)
            plan.append(("road", r, f"{names[street]}{r}", (code, ring)))
            for no in range(1, 31, 2):
                code, ring = rng.choice(street_cells)
                plan.append(("doorplate", f"{r}{no}号", f"{names[street]}{r}{no}号", (code, ring)))
        for p in POIS:
            code, ring = rng.choice(street_cells)
            plan.append(("poi", f"{names[street][:2]}{p}", f"{names[street]}{rng.choice(roads)}", (code, ring)))
        for kind in ("road", "doorplate", "poi"):
            items = [p for p in plan if p[0] == kind]
            prefix = f"{street}{layer_code(ctx, session, kind)}"
            first = take_serials(session, f"place:{prefix}", len(items))
            for n, (k, name, address, (code, ring)) in enumerate(items):
                x, y = _point_in(rng, ring)
                rows.append({"ident": f"{prefix}{first + n:05d}", "kind": k, "name": name, "address": address,
                             "x": x, "y": y, "grid_code": code, "active": True, "updated_at": utcnow(), "version": 1})
    session.execute(insert(Place.__table__), rows)
    from sqlalchemy import select
    now = utcnow()
    ids = session.execute(select(Place.id, Place.name)).all()
    session.execute(insert(PlaceName.__table__), [{"place_id": i, "name": n, "valid_from": now, "valid_to": None}
                                                  for i, n in ids])
    grid_index(session)  # warm the locator for the first request
    return len(rows)
