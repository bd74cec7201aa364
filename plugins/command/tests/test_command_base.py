"""指挥协调 base data (issue 5 §1): standards, grids and locating points,
component identifiers and census import, geocoding, responsibility matrix —
on SQLite and PostgreSQL. Screens are in test_command_screens.py."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from ccms.api import Actor, ValidationFailed
from ccms.models import AuditLog, Org
from ccms.plugins.command import components, geo, geocode, grids, matrix, standards
from ccms.plugins.command.common import ImportRefused
from ccms.plugins.command.models import CommandBase, Component, ComponentHistory, Grid, PlaceName, Region, Standard

ACTOR = Actor(None, "tester")
LON0, LAT0 = 120.62, 31.30
KX, KY = geo.scales(LAT0)
DX, DY = 100 / KX, 100 / KY  # 100 m in degrees
AREA = "320508"
STREET = AREA + "001"
COMMUNITY = STREET + "001"


def square(i: int, j: int, w: int = 1, h: int = 1) -> dict[str, Any]:
    """A GeoJSON polygon covering lattice cells [i, i+w) x [j, j+h) (100 m cells)."""
    x0, y0, x1, y1 = LON0 + i * DX, LAT0 + j * DY, LON0 + (i + w) * DX, LAT0 + (j + h) * DY
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def city(ctx: Any) -> dict[str, int]:
    """A district (320508) with departments, one street, one community (3 x 2
    cells) and its six 100 m grids ``...01``-``...06`` (row by row)."""
    with ctx.db.session() as s:
        root = s.scalar(select(Org).where(Org.parent_id.is_(None)))
        ids: dict[str, int] = {"root": root.id}
        for key, name, kind, code, active in (("district", "姑苏区", "region", AREA, True),
                                              ("szgy", "市政公用局", "department", "320500", True),
                                              ("srhw", "市容环卫处", "department", "320500", True),
                                              ("brigade", "姑苏区城管执法大队", "department", AREA, True),
                                              ("old", "已撤销的部门", "department", "320500", False)):
            o = Org(parent_id=root.id, name=name, kind=kind, region_code=code, path="", active=active)
            s.add(o)
            s.flush()
            o.path = f"{root.path}{o.id}/"
            ids[key] = o.id
        grids.save_region(ctx, s, ACTOR, {"level": "street", "code": STREET, "name": "平江街道"})
        grids.save_region(ctx, s, ACTOR, {"level": "community", "code": COMMUNITY, "name": "平江新村社区",
                                          "geometry": square(0, 0, 3, 2)})
        for n in range(6):
            grids.save_grid(ctx, s, ACTOR, {"code": f"{COMMUNITY}{n + 1:02d}", "name": f"第{n + 1}网格",
                                            "area_class": "AB"[n % 2], "geometry": square(n % 3, n // 3)})
    return ids


def feature(code: str, geometry: Any, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"code": code, **props}}


def collection(*features: dict[str, Any]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


# --- migrations ---------------------------------------------------------------------------------

def test_migration_creates_exactly_the_model_tables(ctx):
    with ctx.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), CommandBase.metadata)
    ours = [d for d in diffs if "command_" in repr(d) and "command_alembic_version" not in repr(d)]
    assert ours == []
    assert {"command_grid", "command_component", "command_standard", "command_matrix", "command_place"} <= \
        set(CommandBase.metadata.tables)


# --- grids and locating ---------------------------------------------------------------------------

def test_grid_area_is_computed_in_metres(ctx):
    city(ctx)
    with ctx.db.session() as s:
        areas = [g.area_m2 for g in s.scalars(select(Grid))]
        assert len(areas) == 6 and all(abs(a - 10_000) < 5 for a in areas)
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "command_grid_create")) == 6


def test_grid_supervisor_is_kept_unless_given_and_refused_unless_a_supervisor(ctx):
    from flow_engine_kit import person
    city(ctx)
    sup = person(ctx, "gsup", roles=["command_supervisor"]).id
    other = person(ctx, "gother").id
    code = f"{COMMUNITY}01"
    with ctx.db.session() as s:
        g = grids.save_grid(ctx, s, ACTOR, {"code": code, "geometry": square(0, 0), "supervisor_id": sup,
                                            "version": grids.get_grid(s, code).version}, code)
        assert g.supervisor_id == sup
    with ctx.db.session() as s:  # an API write without the field leaves the assignment alone
        grids.save_grid(ctx, s, ACTOR, {"code": code, "name": "新名", "geometry": square(0, 0),
                                        "version": grids.get_grid(s, code).version}, code)
    for bad_id in (other, 424242):
        with pytest.raises(ValidationFailed) as exc, ctx.db.session() as s:
            grids.save_grid(ctx, s, ACTOR, {"code": code, "name": "不应保存", "geometry": square(0, 0),
                                            "supervisor_id": bad_id, "version": grids.get_grid(s, code).version}, code)
        assert "supervisor_id" in exc.value.fields and "不是监督员" in exc.value.zh
    with ctx.db.session() as s:
        g = grids.get_grid(s, code)
        assert (g.name, g.supervisor_id) == ("新名", sup)


def test_locate_inside_on_edges_and_outside(ctx):
    city(ctx)
    with ctx.db.session() as s:
        loc = grids.locate(s, LON0 + 0.5 * DX, LAT0 + 0.5 * DY)
        assert (loc.grid_code, loc.community_code, loc.street_code) == (f"{COMMUNITY}01", COMMUNITY, STREET)
        assert (loc.community_name, loc.street_name, loc.area_class) == ("平江新村社区", "平江街道", "A")
        # a shared edge (grids 01|02) and a shared corner (01, 02, 04, 05): the smallest code, every time
        for _ in range(3):
            assert grids.locate(s, LON0 + DX, LAT0 + 0.5 * DY).grid_code == f"{COMMUNITY}01"
            assert grids.locate(s, LON0 + DX, LAT0 + DY).grid_code == f"{COMMUNITY}01"
        assert grids.locate(s, LON0 + 2 * DX, LAT0 + 1.5 * DY).grid_code == f"{COMMUNITY}05"
        # the outer boundary belongs to the grid
        assert grids.locate(s, LON0 + 3 * DX, LAT0 + 2 * DY).grid_code == f"{COMMUNITY}06"
        assert grids.locate_codes(s, [(LON0 + 2.5 * DX, LAT0 + 0.5 * DY), (116.4, 39.9)]) == [f"{COMMUNITY}03", None]
        with pytest.raises(ValidationFailed) as exc:
            grids.locate(s, 116.4, 39.9)  # Beijing: outside the city
        assert exc.value.code == "outside_city"
        assert "不在本市任何单元网格内" in exc.value.zh and "outside every unit grid" in exc.value.en
        assert "网格范围" in exc.value.zh
        for bad in ((None, None), ("东经", "北纬"), (200, 31), (float("nan"), 31)):
            with pytest.raises(ValidationFailed):
                grids.locate(s, *bad)


def test_grid_index_follows_changes(ctx):
    city(ctx)
    with ctx.db.session() as s:
        p = (LON0 + 3.5 * DX, LAT0 + 0.5 * DY)
        with pytest.raises(ValidationFailed):
            grids.locate(s, *p)
        grids.save_region(ctx, s, ACTOR, {"level": "community", "code": STREET + "002", "name": "南社区",
                                          "geometry": square(3, 0, 2, 2)})
        grids.save_grid(ctx, s, ACTOR, {"code": STREET + "00201", "geometry": square(3, 0)})
        assert grids.locate(s, *p).grid_code == STREET + "00201"
        grids.delete_grid(s, ACTOR, STREET + "00201", None)
        with pytest.raises(ValidationFailed):
            grids.locate(s, *p)


def test_grid_form_errors(ctx):
    city(ctx)
    with ctx.db.session() as s:
        bad_cases = [
            ({"code": "3205080010010", "geometry": square(0, 3)}, "code", "14 位数字"),
            ({"code": "11010100100101", "geometry": square(0, 3)}, "code", "不是本市"),
            ({"code": f"{COMMUNITY}01", "geometry": square(0, 3)}, "code", "已存在"),
            ({"code": f"{COMMUNITY}07", "geometry": "not json"}, "geometry", "GeoJSON"),
            ({"code": f"{COMMUNITY}07", "geometry": {"type": "Point", "coordinates": [1, 2]}}, "geometry", "Polygon"),
            ({"code": f"{COMMUNITY}07", "geometry": square(0, 0)}, "geometry", "重叠"),
            ({"code": f"{COMMUNITY}07", "geometry": square(5, 5)}, "geometry", "超出所属社区"),
            ({"code": f"{AREA}00100901", "geometry": square(0, 5)}, "code", "社区 320508001009 不存在"),
        ]
        for data, field, text in bad_cases:
            with pytest.raises(ValidationFailed) as exc:
                grids.save_grid(ctx, s, ACTOR, data)
            assert field in exc.value.fields and text in exc.value.fields[field]["message"], (data, exc.value.fields)


def test_segment_lengths_come_from_settings(ctx):
    from ccms.services import settings as settings_service
    city(ctx)
    with ctx.db.session() as s:
        settings_service.save(s, ACTOR, ctx, "command", {"grid_serial_digits": 3}, 0)
    with ctx.db.session() as s:
        assert grids.code_spec(ctx, s).total == 15
        with pytest.raises(ValidationFailed) as exc:
            grids.save_grid(ctx, s, ACTOR, {"code": f"{COMMUNITY}07", "geometry": square(0, 2)})
        assert "15 位数字" in exc.value.zh


def test_geojson_import_reports_each_bad_feature_and_writes_nothing(ctx):
    city(ctx)
    bowtie = {"type": "Polygon", "coordinates": [[[LON0, LAT0 + 2 * DY], [LON0 + DX, LAT0 + 3 * DY],
                                                  [LON0 + DX, LAT0 + 2 * DY], [LON0, LAT0 + 3 * DY],
                                                  [LON0, LAT0 + 2 * DY]]]}
    content = collection(
        feature(STREET + "00201", square(0, 2), community_name="北社区"),        # 1: good (new community)
        feature(STREET + "00202", bowtie),                                        # 2: self-intersecting
        feature(STREET + "00203", square(0, 2, 2, 1)),                            # 3: overlaps feature 1
        feature(f"{COMMUNITY}01", square(0, 0)),                                  # 4: replaces itself: fine
        feature(STREET + "00204", square(2, 0)),                                  # 5: overlaps stored grid 03
        feature("12345", square(4, 4), community_name="x"),                       # 6: bad code
        feature("11010100100101", square(5, 5), community_name="x"),              # 7: area code of Beijing
        feature(f"{COMMUNITY}09", square(7, 7)),                                  # 8: outside its community
        feature(STREET + "00205", square(8, 8), community_name="北社区"),          # 9: good
    )
    with ctx.db.session() as s:
        with pytest.raises(ImportRefused) as exc:
            grids.import_geojson(ctx, s, ACTOR, content, "grids.geojson")
    by_row = {}
    for e in exc.value.rows:
        by_row.setdefault(e.row, []).append(e.message)
    assert sorted(by_row) == [2, 3, 5, 6, 7, 8]
    assert "自相交" in by_row[2][0]
    assert "与要素 1" in by_row[3][0] and "重叠" in by_row[3][0]
    assert f"已有网格 {COMMUNITY}03" in by_row[5][0]
    assert "14 位数字" in by_row[6][0] and "110101" in by_row[7][0] and "超出所属社区" in by_row[8][0]
    assert exc.value.to_json()["error"]["rows"][0]["row"] == 2
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Grid)) == 6
        assert s.scalar(select(Region.id).where(Region.code == STREET + "002")) is None
    with ctx.db.session() as s:
        out = grids.import_geojson(ctx, s, ACTOR, content, "grids.geojson", skip_bad=True)
    assert (out.created, out.updated, out.skipped) == (2, 1, 6)
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Grid)) == 8
        assert s.scalar(select(Region.name).where(Region.code == STREET + "002")) == "北社区"
        assert grids.locate(s, LON0 + 0.5 * DX, LAT0 + 2.5 * DY).community_name == "北社区"


def test_geojson_import_refuses_a_file_that_is_not_geojson(ctx):
    city(ctx)
    with ctx.db.session() as s:
        for content in (b"\xff\xfe", b"{}", b"[1, 2]", b'{"type": "FeatureCollection", "features": []}'):
            with pytest.raises(ValidationFailed) as exc:
                grids.import_geojson(ctx, s, ACTOR, content)
            assert "file" in exc.value.fields


# --- components -------------------------------------------------------------------------------------

def _component(ids: dict[str, int], **over: Any) -> dict[str, Any]:
    return {"class_code": "0101", "x": LON0 + 0.3 * DX, "y": LAT0 + 0.3 * DY, "dept_owner_id": ids["szgy"],
            "dept_maintain_id": ids["szgy"], **over}


def test_component_identifier_generated_and_validated(ctx):
    ids = city(ctx)
    with ctx.db.session() as s:
        a = components.create_component(ctx, s, ACTOR, _component(ids))
        b = components.create_component(ctx, s, ACTOR, _component(ids, class_code="C0118", name="路灯"))
        assert (a.ident, a.grid_code, a.name) == ("3205080101000001", f"{COMMUNITY}01", "上水井盖")
        assert b.ident == "3205080118000001" and b.name == "路灯"
        c = components.create_component(ctx, s, ACTOR, _component(ids, ident="3205080101000050"))
        assert c.ident == "3205080101000050"
        assert components.create_component(ctx, s, ACTOR, _component(ids)).ident == "3205080101000051"
        assert components.validate_ident(ctx, s, "3205080101000001") == "3205080101000001"
    cases = [
        ("110101010100000", "16 位数字"),          # 15 digits
        ("32050801010000012", "16 位数字"),         # 17 digits
        ("32050801010000a1", "非数字"),             # not digits
        ("1101010101000001", "区县代码 110101"),    # Beijing's area code
        ("3205089901000001", "大类 99"),            # unknown big class
        ("3205080199000001", "小类 0199"),          # unknown small class
        ("3205080101000000", "序号"),
    ]
    with ctx.db.session() as s:
        assert components.validate_ident(ctx, s, "3205080201000001") == "3205080201000001"  # 02/0201 停车场
        for ident, text in cases:
            with pytest.raises(ValidationFailed) as exc:
                components.validate_ident(ctx, s, ident)
            assert text in exc.value.zh and "ident" in exc.value.fields, (ident, exc.value.zh)
        with pytest.raises(ValidationFailed) as exc:
            components.create_component(ctx, s, ACTOR, _component(ids, ident="3205080101000001"))
        assert "已存在" in exc.value.zh


def test_component_bad_input(ctx):
    ids = city(ctx)
    with ctx.db.session() as s:
        for over, field, text in (({"class_code": "0199"}, "class_code", "没有编码为 0199"),
                                  ({"class_code": "abcd"}, "class_code", "格式不正确"),
                                  ({"x": 116.4, "y": 39.9}, "x", "不在本市任何单元网格内"),
                                  ({"dept_owner_id": 99999}, "dept_owner_id", "不存在"),
                                  ({"dept_maintain_id": ids["old"]}, "dept_maintain_id", "已停用"),
                                  ({"area_code": "110101"}, "area_code", "不是本市")):
            with pytest.raises(ValidationFailed) as exc:
                components.create_component(ctx, s, ACTOR, _component(ids, **over))
            assert field in exc.value.fields and text in exc.value.zh, (over, exc.value.zh)
        assert s.scalar(select(func.count()).select_from(Component)) == 0


def test_component_history(ctx):
    ids = city(ctx)
    with ctx.db.session() as s:
        c = components.create_component(ctx, s, ACTOR, _component(ids))
        ident, version = c.ident, c.version
    with ctx.db.session() as s:
        components.update_component(ctx, s, Actor(None, "editor"), ident,
                                    _component(ids, state="damaged", x=LON0 + 1.5 * DX, version=version))
    with ctx.db.session() as s:
        c = components.get_component(s, ident)
        assert (c.state, c.grid_code) == ("damaged", f"{COMMUNITY}02")
        hist = components.history_of(s, c.id)
        assert [h.action for h in hist] == ["update", "create"]
        assert hist[0].before == {"state": "normal", "grid_code": f"{COMMUNITY}01", "x": LON0 + 0.3 * DX}
        assert hist[0].after["state"] == "damaged" and hist[0].actor == "editor"
        from ccms.api import Conflict
        with pytest.raises(Conflict):
            components.update_component(ctx, s, ACTOR, ident, _component(ids, version=version))


def test_component_identifiers_unique_under_concurrency(ctx):
    ids = city(ctx)
    made: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                with ctx.db.session() as s:
                    made.append(components.create_component(ctx, s, ACTOR, _component(ids)).ident)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(made) == [f"3205080101{n:06d}" for n in range(1, 21)]


def _csv(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    import csv
    import io
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header or ["ident", "class_code", "name", "x", "y", "maintain_dept", "state"])
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def test_census_import_reports_each_row(ctx):
    ids = city(ctx)
    x, y = LON0 + 0.5 * DX, LAT0 + 0.5 * DY
    content = _csv([
        ["", "0101", "", x, y, "市政公用局", "完好"],                 # 2 good, generated ident
        ["3205080118000007", "", "路灯7", x, y, str(ids["szgy"]), "损坏"],  # 3 good, given ident
        ["1101010101000001", "", "", x, y, "", ""],                    # 4 wrong area code
        ["", "0199", "", x, y, "", ""],                                # 5 unknown class
        ["", "0101", "", 116.4, 39.9, "", ""],                         # 6 outside the city
        ["", "0101", "", "abc", y, "", ""],                            # 7 bad coordinate
        ["", "0101", "", x, y, "不存在的单位", ""],                     # 8 unknown department
        ["", "0101", "", x, y, "", "被偷了"],                          # 9 bad state
        ["3205080118000007", "", "", x, y, "", ""],                    # 10 duplicate identifier
        ["320508011800000", "", "", x, y, "", ""],                     # 11 15 digits
    ])
    with ctx.db.session() as s:
        with pytest.raises(ImportRefused) as exc:
            components.import_census(ctx, s, ACTOR, "census.csv", content)
    rows = {e.row: e for e in exc.value.rows}
    assert sorted(rows) == [4, 5, 6, 7, 8, 9, 10, 11]
    assert "110101" in rows[4].message and "0199" in rows[5].message
    assert "不在本市任何单元网格内" in rows[6].message and "不存在" in rows[8].message
    assert "第 3 行重复" in rows[10].message and "16 位数字" in rows[11].message
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Component)) == 0
    with ctx.db.session() as s:
        out = components.import_census(ctx, s, ACTOR, "census.csv", content, skip_bad=True)
    assert (out.total, out.created, out.updated, out.skipped) == (10, 2, 0, 8)
    with ctx.db.session() as s:
        got = {c.ident: c for c in s.scalars(select(Component))}
        assert set(got) == {"3205080101000001", "3205080118000007"}
        assert got["3205080118000007"].state == "damaged" and got["3205080101000001"].grid_code == f"{COMMUNITY}01"
        # the next generated serial of 0118 is above the imported 000007
        assert components.create_component(ctx, s, ACTOR, _component(ids, class_code="0118")).ident == "3205080118000008"
    # re-importing a stored identifier updates it and writes history
    again = _csv([["3205080118000007", "", "路灯7", x, y, "", "完好"]])
    with ctx.db.session() as s:
        out = components.import_census(ctx, s, ACTOR, "fix.csv", again)
        assert (out.created, out.updated) == (0, 1)
    with ctx.db.session() as s:
        c = components.get_component(s, "3205080118000007")
        assert c.state == "normal" and c.version == 2
        assert s.scalar(select(ComponentHistory.action).where(ComponentHistory.component_id == c.id)) == "census"


def test_census_import_xlsx_and_bad_files(ctx):
    import io

    import openpyxl
    city(ctx)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["小类编码", "经度", "纬度", "状态"])
    ws.append(["0101", LON0 + 0.5 * DX, LAT0 + 0.5 * DY, "完好"])
    buf = io.BytesIO()
    wb.save(buf)
    with ctx.db.session() as s:
        assert components.import_census(ctx, s, ACTOR, "普查.xlsx", buf.getvalue()).created == 1
        for name, content in (("x.txt", b"a,b"), ("x.xlsx", b"not a zip"), ("x.csv", b""),
                              ("x.csv", b"foo,bar\n1,2\n")):
            with pytest.raises(ValidationFailed) as exc:
                components.import_census(ctx, s, ACTOR, name, content)
            assert "file" in exc.value.fields, name


@pytest.mark.slow
def test_census_import_of_100000_rows(ctx, backend):
    import time
    city(ctx)
    rows = [["", "0101" if n % 3 else "0118", "", LON0 + (0.05 + (n % 30) / 10.1) * DX,
             LAT0 + (0.05 + (n % 19) / 10.1) * DY, "市政公用局", "完好"] for n in range(100_000)]
    content = _csv(rows)
    started = time.perf_counter()
    with ctx.db.session() as s:
        out = components.import_census(ctx, s, ACTOR, "big.csv", content)
    took = time.perf_counter() - started
    assert out.created == 100_000
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Component)) == 100_000
        assert s.scalar(select(func.count(func.distinct(Component.ident)))) == 100_000
    assert took < 120, took


# --- standards -----------------------------------------------------------------------------------------

def test_standards_edit_find_and_bad_class(ctx):
    ids = city(ctx)
    base = {"kind": "event", "class_code": "0102", "filing_condition": "暴露垃圾 1 平方米以上",
            "closing_condition": "清除干净", "time_limit": 8, "dept_org_id": ids["srhw"]}
    with ctx.db.session() as s:
        standards.save_standard(s, ACTOR, {**base, "area_class": "A", "time_limit": 4})
        standards.save_standard(s, ACTOR, base)
        standards.save_standard(s, ACTOR, {**base, "urgency": "urgent", "time_limit": 2})
        with pytest.raises(ValidationFailed) as exc:
            standards.save_standard(s, ACTOR, base)
        assert "已存在" in exc.value.zh
        with pytest.raises(ValidationFailed) as exc:
            standards.save_standard(s, ACTOR, {**base, "class_code": "0999"})
        assert "class_code" in exc.value.fields and "0999" in exc.value.zh
        with pytest.raises(ValidationFailed):
            standards.save_standard(s, ACTOR, {**base, "condition_code": "02", "dept_org_id": ids["old"]})
    with ctx.db.session() as s:
        assert standards.find_standard(s, "E0102", area_class="A").time_limit == 4
        assert standards.find_standard(s, "E0102", area_class="C").time_limit == 8
        assert standards.find_standard(s, "0102", kind="event", urgency="urgent").time_limit == 2
        assert standards.find_standard(s, "E0103") is None
        with pytest.raises(ValidationFailed):
            standards.find_standard(s, "E0999")


def test_standards_import(ctx):
    city(ctx)
    header = ["类型", "分类编码", "条件编号", "立案条件", "结案条件", "区域类别", "紧急程度", "时限", "时限单位", "责任部门"]
    content = _csv([["事件", "0102", "01", "有暴露垃圾", "清除", "A", "一般", "4", "工作时", "市容环卫处"],
                    ["事件", "0999", "01", "x", "y", "", "一般", "4", "工作时", ""],
                    ["部件", "0101", "01", "井盖缺失", "恢复", "D", "一般", "-1", "年", "不存在"],
                    ["事件", "0102", "01", "重复", "重复", "A", "一般", "4", "工作时", ""]], header)
    with ctx.db.session() as s:
        with pytest.raises(ImportRefused) as exc:
            standards.import_standards(s, ACTOR, "std.csv", content)
    cols = sorted((e.row, e.column) for e in exc.value.rows)
    assert cols == [(3, "class_code"), (4, "area_class"), (4, "department"), (4, "time_limit"), (4, "time_unit"),
                    (5, "class_code")]
    with ctx.db.session() as s:
        out = standards.import_standards(s, ACTOR, "std.csv", content, skip_bad=True)
        assert (out.created, out.skipped) == (1, 3)
        assert s.scalar(select(Standard.time_unit)) == "work_hours"


# --- matrix -------------------------------------------------------------------------------------------

def test_suggest_department(ctx):
    ids = city(ctx)
    inside = (LON0 + 0.5 * DX, LAT0 + 0.5 * DY)  # grid 01, area class A
    with ctx.db.session() as s:
        assert matrix.suggest_department(s, "E0505", inside) is None
        standards.save_standard(s, ACTOR, {"kind": "event", "class_code": "0505", "filing_condition": "占道",
                                           "closing_condition": "驶离", "time_limit": 2, "dept_org_id": ids["srhw"]})
        sug = matrix.suggest_department(s, "E0505", inside)
        assert (sug.dept_org_id, sug.source) == (ids["srhw"], "standard")
        matrix.save_rule(s, ACTOR, {"kind": "event", "class_code": "", "dept_org_id": ids["szgy"]})
        assert matrix.suggest_department(s, "E0505", inside).dept_org_id == ids["szgy"]
        matrix.save_rule(s, ACTOR, {"kind": "event", "class_code": "05", "scope_type": "area_class",
                                    "scope_value": "a", "dept_org_id": ids["srhw"]})
        assert matrix.suggest_department(s, "E0505", inside).dept_org_id == ids["srhw"]
        assert matrix.suggest_department(s, "E0505", f"{COMMUNITY}02").dept_org_id == ids["szgy"]  # class B
        matrix.save_rule(s, ACTOR, {"kind": "event", "class_code": "05", "scope_type": "street",
                                    "scope_value": STREET, "dept_org_id": ids["brigade"]})
        sug = matrix.suggest_department(s, "E0505", inside)
        assert sug.dept_org_id == ids["brigade"] and "× 街道 平江街道 →" in sug.reason  # named, not coded
        # event rules never answer for a component class with the same digits
        assert matrix.suggest_department(s, "C0101", inside) is None
        for bad, where, text in (("E0999", inside, "0999"), ("E0505", (116.4, 39.9), "不在本市"),
                                 ("E0505", "99999999999999", "不存在"), ("0505", inside, "请指明类型")):
            with pytest.raises(ValidationFailed) as exc:
                matrix.suggest_department(s, bad, where)
            assert text in exc.value.zh, (bad, exc.value.zh)


def test_matrix_rule_bad_input_and_inactive_departments(ctx):
    ids = city(ctx)
    with ctx.db.session() as s:
        for data, field in (({"kind": "event", "class_code": "0999", "dept_org_id": ids["szgy"]}, "class_code"),
                            ({"kind": "event", "scope_type": "street", "scope_value": "320508999",
                              "dept_org_id": ids["szgy"]}, "scope_value"),
                            ({"kind": "event", "scope_type": "area_class", "scope_value": "D",
                              "dept_org_id": ids["szgy"]}, "scope_value"),
                            ({"kind": "event", "dept_org_id": 99999}, "dept_org_id"),
                            ({"kind": "event", "dept_org_id": ids["old"]}, "dept_org_id")):
            with pytest.raises(ValidationFailed) as exc:
                matrix.save_rule(s, ACTOR, data)
            assert field in exc.value.fields, data
        # a rule whose department was deactivated later is passed over
        rule = matrix.save_rule(s, ACTOR, {"kind": "event", "class_code": "0102", "scope_type": "grid",
                                           "scope_value": f"{COMMUNITY}01", "dept_org_id": ids["brigade"]})
        matrix.save_rule(s, ACTOR, {"kind": "event", "dept_org_id": ids["szgy"]})
        assert matrix.suggest_department(s, "E0102", f"{COMMUNITY}01").rule_id == rule.id
        s.get(Org, ids["brigade"]).active = False
        s.flush()
        assert matrix.suggest_department(s, "E0102", f"{COMMUNITY}01").dept_org_id == ids["szgy"]


# --- geocoding -------------------------------------------------------------------------------------------

def test_places_names_keep_history_and_search_returns_the_grid(ctx):
    city(ctx)
    with ctx.db.session() as s:
        p = geocode.save_place(ctx, s, ACTOR, {"kind": "poi", "name": "平江路菜场", "address": "平江路 12 号",
                                               "x": LON0 + 1.5 * DX, "y": LAT0 + 0.5 * DY})
        road = geocode.save_place(ctx, s, ACTOR, {"kind": "road", "name": "平江路", "x": LON0 + 0.5 * DX,
                                                  "y": LAT0 + 1.5 * DY})
        assert p.ident == f"{STREET}0300001" and road.ident == f"{STREET}0100001" and p.grid_code == f"{COMMUNITY}02"
        ident, version = p.ident, p.version
    with ctx.db.session() as s:
        geocode.save_place(ctx, s, ACTOR, {"kind": "poi", "name": "平江农贸市场", "address": "平江路 12 号",
                                           "x": LON0 + 1.5 * DX, "y": LAT0 + 0.5 * DY, "version": version}, ident)
    with ctx.db.session() as s:
        names = geocode.names_of(s, geocode.get_place(s, ident).id)
        assert [n.name for n in names] == ["平江农贸市场", "平江路菜场"]
        assert names[0].valid_to is None and names[1].valid_to is not None
        hits = geocode.search(s, "农贸")
        assert hits[0]["ident"] == ident and hits[0]["grid_code"] == f"{COMMUNITY}02"
        assert hits[0]["community_name"] == "平江新村社区" and hits[0]["street_name"] == "平江街道"
        old = geocode.search(s, "菜场")
        assert old[0]["ident"] == ident and old[0]["former_name"] == "平江路菜场" and old[0]["name"] == "平江农贸市场"
        assert {h["ident"] for h in geocode.search(s, "平江路")} == {ident, road.ident}
        assert geocode.search(s, "不存在的地方") == []
        with pytest.raises(ValidationFailed) as exc:
            geocode.save_place(ctx, s, ACTOR, {"kind": "poi", "name": "北京", "x": 116.4, "y": 39.9})
        assert "不在本市" in exc.value.zh
        assert s.scalar(select(func.count()).select_from(PlaceName)) == 3


def test_places_import(ctx):
    city(ctx)
    content = _csv([["", "门牌", "平江路1号", "平江路1号", LON0 + 0.5 * DX, LAT0 + 0.5 * DY],
                    ["", "城堡", "x", "", LON0, LAT0],
                    ["", "poi", "远方", "", 116.4, 39.9],
                    ["32050800102999", "poi", "找不到", "", LON0 + 0.5 * DX, LAT0 + 0.5 * DY]],
                   ["ident", "kind", "name", "address", "x", "y"])
    with ctx.db.session() as s:
        with pytest.raises(ImportRefused) as exc:
            geocode.import_places(ctx, s, ACTOR, "places.csv", content)
        assert sorted(e.row for e in exc.value.rows) == [3, 4, 5]
    with ctx.db.session() as s:
        out = geocode.import_places(ctx, s, ACTOR, "places.csv", content, skip_bad=True)
        assert (out.created, out.skipped) == (1, 3)
        assert geocode.search(s, "平江路1号")[0]["grid_code"] == f"{COMMUNITY}01"


# --- demo data ----------------------------------------------------------------------------------------------

def test_demo_seed_is_a_small_city(ctx):
    import time

    from ccms.demo import _org_tree
    from ccms.seed import ensure_root_org
    with ctx.db.session() as s:
        orgs = _org_tree(ctx, s, ensure_root_org(ctx, s))
        started = time.perf_counter()
        ctx.pm.hook.ccms_seed_demo(ctx=ctx, session=s, orgs={k: o.id for k, o in orgs.items()})
        took = time.perf_counter() - started
    with ctx.db.session() as s:
        n_grids = s.scalar(select(func.count()).select_from(Grid))
        assert 180 <= n_grids <= 260
        # 责任网格: every grid has its community's supervisor
        assert s.scalar(select(func.count()).select_from(Grid).where(Grid.supervisor_id.is_(None))) == 0
        assert s.scalar(select(func.count(func.distinct(Grid.supervisor_id)))) > 1  # one per community
        assert s.scalar(select(func.count()).select_from(Component)) == 10_000
        assert s.scalar(select(func.count(func.distinct(Component.ident)))) == 10_000
        # every component lies in the grid it names
        sample = list(s.scalars(select(Component).limit(300)))
        assert grids.locate_codes(s, [(c.x, c.y) for c in sample]) == [c.grid_code for c in sample]
        assert geocode.search(s, "平江路")
        g = s.scalar(select(Grid).order_by(Grid.code).limit(1))
        sug = matrix.suggest_department(s, "E0505", g.code)
        assert sug is not None and "城管执法大队" in sug.dept_name
        # the demo grids pass the import checks: no overlaps, inside their communities
        feats = [grids.Feature(i, x.code, x.name, x.area_class, x.geometry) for i, x in
                 enumerate(s.scalars(select(Grid)), 1)]
        s.execute(__import__("sqlalchemy").delete(Grid))
        assert grids.check_features(ctx, s, feats) == []
        s.rollback()
    print("demo base data took", took)  # its speed is a benchmark's business, not a test's
