"""指挥协调 base-data screens and JSON API: lists with htmx fragments, forms
with inline errors and optimistic locking, imports as background jobs with a
per-row report and "skip the bad rows", XLSX export, the SVG grid map, and
the locate/suggest/geocode API — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import re

import openpyxl
from conftest import ADMIN_PASSWORD, ADMIN_USER
from sqlalchemy import func, select
from test_command_base import COMMUNITY, DX, DY, LAT0, LON0, STREET, city, collection, feature, square

from ccms import jobs
from ccms.models import AuditLog
from ccms.plugins.command.models import Component, Grid, ImportJob, Standard


def _job_of(response) -> str:
    m = re.search(r"job=([0-9a-f]{32})", response.headers["location"])
    assert m, response.headers["location"]
    return m.group(1)


def test_lists_pages_and_fragments(app, admin):
    city(app.state.ccms)
    for url, text in (("/command/grids", f"{COMMUNITY}01"), ("/command/regions", "平江新村社区"),
                      ("/command/standards", "command-empty"), ("/command/components", "command-empty"),
                      ("/command/places", "geocode-search"), ("/command/matrix", "command-empty"),
                      ("/command/map", "grid-map")):
        r = admin.get(url)
        assert r.status_code == 200 and text in r.text, url
    home = admin.get("/").text
    assert "基础数据" in home and "/command/grids" in home and "/command/cases" in home
    frag = admin.get("/command/grids?q=0105", headers={"HX-Request": "true", "HX-Target": "list"})
    assert frag.status_code == 200 and "<html" not in frag.text
    assert f"{COMMUNITY}05" in frag.text and f"{COMMUNITY}01" not in frag.text and "共 1 条" in frag.text
    # the case screens stay honest placeholders
    assert admin.get("/command/cases").status_code == 200


def test_map_draws_grids_and_locates_a_point(app, admin):
    city(app.state.ccms)
    page = admin.get(f"/command/map?x={LON0 + 1.5 * DX}&y={LAT0 + 0.5 * DY}").text
    assert page.count("<path ") == 6 and 'data-testid="locate-result"' in page and f"{COMMUNITY}02" in page
    assert 'style="' not in page and not re.search(r"<script(?![^>]*\bsrc=\"/static/)", page)  # own files only
    assert 'data-ccms-map="grids"' in page  # the Leaflet map above the SVG (the no-script fallback)
    out = admin.get("/command/map?x=116.4&y=39.9").text
    assert 'data-testid="locate-error"' in out and "不在本市任何单元网格内" in out
    detail = admin.get(f"/command/grids/{COMMUNITY}03").text
    assert "10,000" in detail and 'data-testid="grid-path-' in detail


def test_standard_form_errors_keep_input_and_stale_version_conflicts(app, admin):
    ids = city(app.state.ccms)
    form = {"kind": "event", "class_code": "0999", "condition_code": "01", "filing_condition": "保留我的输入",
            "closing_condition": "清除干净", "area_class": "", "urgency": "normal", "time_limit": "8",
            "time_unit": "work_hours", "dept_org_id": str(ids["srhw"]), "active": "1"}
    bad = admin.form("/command/standards/new", form)
    assert bad.status_code == 422 and 'data-testid="error-class_code"' in bad.text and "0999" in bad.text
    assert "保留我的输入" in bad.text
    no_limit = admin.form("/command/standards/new", {**form, "class_code": "0102", "time_limit": ""})
    assert no_limit.status_code == 422 and 'data-testid="error-time_limit"' in no_limit.text
    ok = admin.form("/command/standards/new", {**form, "class_code": "0102"}, follow_redirects=False)
    assert ok.status_code == 303
    ctx = app.state.ccms
    with ctx.db.session() as s:
        sid = s.scalar(select(Standard.id))
    first = admin.form(f"/command/standards/{sid}/edit", {**form, "class_code": "0102", "time_limit": "6",
                                                           "version": "1"}, follow_redirects=False)
    assert first.status_code == 303
    stale = admin.form(f"/command/standards/{sid}/edit", {**form, "class_code": "0102", "time_limit": "5",
                                                           "version": "1"})
    assert stale.status_code == 409 and "已被他人修改" in stale.text
    with ctx.db.session() as s:
        assert s.scalar(select(Standard.time_limit)) == 6
        assert s.scalar(select(func.count()).select_from(AuditLog)
                        .where(AuditLog.action.like("command_standard_%"))) == 2
    listing = admin.get("/command/standards?q=暴露").text
    assert "E0102 暴露垃圾" in listing


def test_component_form_and_api(app, admin):
    ids = city(app.state.ccms)
    x, y = LON0 + 0.5 * DX, LAT0 + 0.5 * DY
    outside = admin.form("/command/components/new", {"class_code": "0101", "x": "116.4", "y": "39.9"})
    assert outside.status_code == 422 and "不在本市任何单元网格内" in outside.text
    missing = admin.form("/command/components/new", {"class_code": "0101", "x": "", "y": ""})
    assert missing.status_code == 422 and 'data-testid="error-x"' in missing.text
    bad_ident = admin.form("/command/components/new", {"class_code": "0101", "x": str(x), "y": str(y),
                                                       "ident": "1101010101000001"})
    assert bad_ident.status_code == 422 and "区县代码 110101" in bad_ident.text
    ok = admin.form("/command/components/new", {"class_code": "0101", "x": str(x), "y": str(y),
                                                "dept_maintain_id": str(ids["szgy"]), "state": "normal"},
                    follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/command/components/3205080101000001")
    detail = admin.get("/command/components/3205080101000001").text
    assert f"{COMMUNITY}01" in detail and "市政公用局" in detail and 'data-testid="command-history"' in detail

    r = admin.api("POST", "/api/command/components", json={"class_code": "C0118", "x": x, "y": y})
    assert r.status_code == 201 and r.json()["ident"] == "3205080118000001" and r.json()["grid_code"] == f"{COMMUNITY}01"
    for body, text in (({"class_code": "0199", "x": x, "y": y}, "0199"),
                       ({"class_code": "0101", "x": 116.4, "y": 39.9}, "不在本市"),
                       ({"class_code": "0101"}, "")):
        r = admin.api("POST", "/api/command/components", json=body)
        assert r.status_code == 422 and text in r.json()["error"]["message"], body
    r = admin.get("/api/command/components/validate?ident=32050801010000")
    assert r.status_code == 422 and "16 位数字" in r.json()["error"]["message"]
    assert admin.get("/api/command/components/3205080118000001").json()["class_code"] == "0118"
    with app.state.ccms.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Component)) == 2


def test_locate_suggest_geocode_api(app, admin):
    ids = city(app.state.ccms)
    x, y = LON0 + 0.5 * DX, LAT0 + 0.5 * DY
    loc = admin.get(f"/api/command/locate?x={x}&y={y}").json()
    assert (loc["grid_code"], loc["community_name"], loc["street_code"]) == (f"{COMMUNITY}01", "平江新村社区", STREET)
    out = admin.get("/api/command/locate?x=116.4&y=39.9")
    assert out.status_code == 422 and out.json()["error"]["code"] == "outside_city"
    nothing = admin.get("/api/command/locate")
    assert nothing.status_code == 422 and "位置不完整" in nothing.json()["error"]["message"]
    swapped = admin.get(f"/api/command/locate?x={y}&y={x}")
    assert swapped.status_code == 422 and "填反" in swapped.json()["error"]["message"]
    admin.form("/command/matrix/new", {"kind": "event", "class_code": "05", "scope_type": "street",
                                       "scope_value": STREET, "dept_org_id": str(ids["brigade"])})
    sug = admin.get(f"/api/command/suggest?class_code=E0505&x={x}&y={y}").json()
    assert sug["dept_org_id"] == ids["brigade"] and sug["source"] == "matrix"
    none = admin.get(f"/api/command/suggest?class_code=E0102&grid={COMMUNITY}01").json()
    assert none["dept_org_id"] is None and none["source"] == "none"
    bad = admin.get(f"/api/command/suggest?class_code=E0999&grid={COMMUNITY}01")
    assert bad.status_code == 422 and "0999" in bad.json()["error"]["message"]
    admin.form("/command/places/new", {"kind": "poi", "name": "平江路菜场", "x": str(x), "y": str(y), "active": "1"})
    hits = admin.get("/api/command/geocode?q=菜场").json()["items"]
    assert hits[0]["grid_code"] == f"{COMMUNITY}01" and hits[0]["x"] == x
    page = admin.get("/command/places?address=菜场").text
    assert 'data-testid="geocode-results"' in page and "平江路菜场" in page


def test_grid_import_screen_reports_per_feature_then_skips(app, admin):
    ctx = app.state.ccms
    city(ctx)
    bowtie = {"type": "Polygon", "coordinates": [[[LON0, LAT0 + 2 * DY], [LON0 + DX, LAT0 + 3 * DY],
                                                  [LON0 + DX, LAT0 + 2 * DY], [LON0, LAT0 + 3 * DY],
                                                  [LON0, LAT0 + 2 * DY]]]}
    content = collection(feature(STREET + "00201", square(0, 2), community_name="北社区"),
                         feature(STREET + "00202", bowtie),
                         feature(STREET + "00203", square(0, 0)))
    admin.refresh_csrf()
    r = admin.post("/command/grids/import", data={"csrf_token": admin.csrf},
                   files={"file": ("grids.geojson", content, "application/geo+json")}, follow_redirects=False)
    assert r.status_code == 303
    assert jobs.wait(ctx, _job_of(r)).status == "done"
    page = admin.get(r.headers["location"]).text
    assert 'data-testid="import-refused"' in page and 'data-testid="import-error-2"' in page
    assert 'data-testid="import-error-3"' in page and "自相交" in page and "重叠" in page
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Grid)) == 6
        import_id = s.scalar(select(ImportJob.id))
    skip = admin.form(f"/command/imports/{import_id}/skip", {}, follow_redirects=False)
    assert skip.status_code == 303
    assert jobs.wait(ctx, _job_of(skip)).status == "done"
    page = admin.get(skip.headers["location"]).text
    assert 'data-testid="import-done"' in page
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Grid)) == 7
    again = admin.form(f"/command/imports/{import_id}/skip", {})
    assert again.status_code == 409
    empty = admin.post("/command/grids/import", data={"csrf_token": admin.csrf})
    assert empty.status_code == 422 and 'data-testid="error-file"' in empty.text


def _grid_form(ctx, code: str, **changes: str) -> dict[str, str]:
    with ctx.db.session() as s:
        g = s.scalar(select(Grid).where(Grid.code == code))
        form = {"code": g.code, "name": g.name, "area_class": g.area_class, "version": str(g.version),
                "geometry": json.dumps(g.geometry), "supervisor_id": ""}
    return {**form, **changes}


def test_grid_responsible_supervisor_form_list_and_refusals(app, admin):
    from flow_engine_kit import person
    ctx = app.state.ccms
    city(ctx)
    sup = person(ctx, "gridsup", roles=["command_supervisor"]).id
    clerk = person(ctx, "clerk").id
    code = f"{COMMUNITY}02"
    with ctx.db.session() as s:
        from ccms.models import Person
        s.get(Person, sup).display_name = "王监督"
    form_page = admin.get(f"/command/grids/{code}/edit").text
    assert 'name="supervisor_id"' in form_page and f'value="{sup}"' in form_page and "王监督" in form_page
    assert f'value="{clerk}"' not in form_page  # only people holding 监督员 are offered
    # unknown person, and someone who is not a supervisor: inline bilingual error, input kept, nothing saved
    for bad_id in ("999999", str(clerk)):
        r = admin.form(f"/command/grids/{code}/edit", _grid_form(ctx, code, supervisor_id=bad_id, name="保留我"))
        assert r.status_code == 422, r.text
        assert 'data-testid="error-supervisor_id"' in r.text and "不是监督员" in r.text and "not a supervisor" in r.text
        assert 'value="保留我"' in r.text
    with ctx.db.session() as s:
        g = s.scalar(select(Grid).where(Grid.code == code))
        assert g.supervisor_id is None and g.name != "保留我"
    ok = admin.form(f"/command/grids/{code}/edit", _grid_form(ctx, code, supervisor_id=str(sup)),
                    follow_redirects=False)
    assert ok.status_code == 303, ok.text
    with ctx.db.session() as s:
        assert s.scalar(select(Grid.supervisor_id).where(Grid.code == code)) == sup
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "command_grid_edit")
                          .order_by(AuditLog.id.desc())).first()
        assert entry.before["supervisor_id"] is None and entry.after["supervisor_id"] == sup
    assert "王监督" in admin.get("/command/grids").text and "王监督" in admin.get(f"/command/grids/{code}").text
    assert f'<option value="{sup}" selected' in admin.get(f"/command/grids/{code}/edit").text
    api = admin.api("GET", f"/api/command/grids/{code}")
    assert api.status_code == 200 and api.json()["supervisor_id"] == sup and api.json()["code"] == code
    assert admin.api("GET", "/api/command/grids/99").json()["error"]["code"]
    geo = admin.get("/command/grids/export.geojson").json()
    assert {f["properties"]["code"]: f["properties"]["supervisor_id"] for f in geo["features"]}[code] == sup
    # a stale version is a conflict, nothing saved
    stale = admin.form(f"/command/grids/{code}/edit", _grid_form(ctx, code, supervisor_id="", version="1"))
    assert stale.status_code == 409
    with ctx.db.session() as s:
        assert s.scalar(select(Grid.supervisor_id).where(Grid.code == code)) == sup


def test_grid_import_sets_the_supervisor_by_user_name(app, admin):
    from flow_engine_kit import person
    ctx = app.state.ccms
    city(ctx)
    sup = person(ctx, "gridsup", roles=["command_supervisor"]).id
    content = collection(feature(f"{COMMUNITY}01", square(0, 0), supervisor="gridsup"),
                         feature(f"{COMMUNITY}02", square(1, 0), supervisor="nobody"))
    admin.refresh_csrf()
    r = admin.post("/command/grids/import", data={"csrf_token": admin.csrf},
                   files={"file": ("grids.geojson", content, "application/geo+json")}, follow_redirects=False)
    assert jobs.wait(ctx, _job_of(r)).status == "done"
    page = admin.get(r.headers["location"]).text
    assert 'data-testid="import-error-2"' in page and "监督员账号 nobody 不存在" in page
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Grid).where(Grid.supervisor_id.is_not(None))) == 0
        import_id = s.scalar(select(ImportJob.id))
    skip = admin.form(f"/command/imports/{import_id}/skip", {}, follow_redirects=False)
    assert jobs.wait(ctx, _job_of(skip)).status == "done"
    with ctx.db.session() as s:
        rows = dict(s.execute(select(Grid.code, Grid.supervisor_id).where(Grid.code.in_(
            [f"{COMMUNITY}01", f"{COMMUNITY}02"]))).all())
    assert rows == {f"{COMMUNITY}01": sup, f"{COMMUNITY}02": None}


def test_census_import_screen_and_export(app, admin):
    ctx = app.state.ccms
    city(ctx)
    x, y = LON0 + 0.5 * DX, LAT0 + 0.5 * DY
    csv = f"小类编码,经度,纬度,状态\n0101,{x},{y},完好\n0118,{x},{y},完好\n".encode()
    admin.refresh_csrf()
    r = admin.post("/command/components/import", data={"csrf_token": admin.csrf},
                   files={"file": ("普查.csv", csv, "text/csv")}, follow_redirects=False)
    assert jobs.wait(ctx, _job_of(r)).status == "done"
    assert 'data-testid="import-done"' in admin.get(r.headers["location"]).text
    x_resp = admin.get("/command/components/export.xlsx")
    assert x_resp.status_code == 200 and x_resp.headers["content-type"].startswith("application/vnd.openxml")
    rows = list(openpyxl.load_workbook(io.BytesIO(x_resp.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "ident" and {r[0] for r in rows[1:]} == {"3205080101000001", "3205080118000001"}
    geo = json.loads(admin.get("/command/grids/export.geojson").content)
    assert len(geo["features"]) == 6 and geo["features"][0]["properties"]["community_name"] == "平江新村社区"
    for key in ("standards", "grids", "places", "matrix"):
        assert admin.get(f"/command/{key}/export.xlsx").status_code == 200, key


def test_permissions(app, client_for):
    from ccms.testing import add_user
    city(app.state.ccms)
    add_user(app, "viewer", ["command.view", "command.base.view"])
    add_user(app, "nobody", ["command.view"])
    viewer = client_for("viewer", ADMIN_PASSWORD)
    assert viewer.get("/command/grids").status_code == 200
    assert "command-new" not in viewer.get("/command/grids").text
    assert viewer.get("/command/grids/new").status_code == 403
    assert viewer.form("/command/grids/new", {"code": f"{COMMUNITY}07"}).status_code == 403
    assert viewer.get("/command/grids/import").status_code == 403
    nobody = client_for("nobody", ADMIN_PASSWORD)
    assert nobody.get("/command/grids").status_code == 403
    assert nobody.get(f"/api/command/locate?x={LON0}&y={LAT0}").status_code == 403


def test_locales_have_the_same_keys():
    from pathlib import Path
    base = Path(__file__).resolve().parent.parent / "locales"
    zh = json.loads((base / "zh-CN" / "command.json").read_text(encoding="utf-8"))
    en = json.loads((base / "en" / "command.json").read_text(encoding="utf-8"))
    assert set(zh) == set(en) and all(zh.values()) and all(en.values())


def test_english_screens(make_app, client_for):
    app = make_app(locale="en")
    city(app.state.ccms)
    page = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app).get("/command/grids").text
    assert "Unit grids" in page and "Export XLSX" in page
