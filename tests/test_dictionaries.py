"""应用维护 → 数据字典: seeded GB/T 30428.2 classes, item trees, import/export, screens and API."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from ccms import audit, seed
from ccms.dictionaries import lookup, options
from ccms.dictionaries import service as svc
from ccms.dictionaries.models import Dict, DictItem
from ccms.errors import Conflict, NotFound, ValidationFailed
from ccms.models import AuditLog
from ccms.testing import ADMIN_PASSWORD, add_user

ACTOR = audit.Actor(None, "test")
COMPONENT, EVENT = "gbt30428.component", "gbt30428.event"


def n_items(ctx: Any, dict_code: str) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(DictItem).join(Dict).where(Dict.code == dict_code)) or 0


def make_dict(ctx: Any, code: str = "test.colors") -> None:
    with ctx.db.session() as s:
        svc.create_dict(s, ACTOR, {"code": code, "name": "颜色"})
        for c, n, p in (("red", "红", None), ("dark_red", "深红", "red"), ("crimson", "绯红", "dark_red"),
                        ("blue", "蓝", None)):
            svc.add_item(s, ACTOR, code, {"code": c, "name": n, "parent_code": p})


def version_of(ctx: Any, dict_code: str, code: str) -> int:
    with ctx.db.session() as s:
        return svc.get_item(s, svc.get_dict(s, dict_code), code).version


# --- seed, options, lookup ------------------------------------------------------------------

def test_seeded_classes_and_options(ctx):
    assert n_items(ctx, COMPONENT) == 66 + 6  # small classes + big classes of the CSV
    opts = options(ctx, COMPONENT)
    assert opts[0][2] == 0 and opts[0][0] == "01" and opts[0][1] == "公用设施"
    assert ("0101", "上水井盖", 1) == opts[1]
    assert [o for o in options(ctx, COMPONENT, "01") if o[0] == "0101"] == [("0101", "上水井盖", 0)]
    assert all(code.startswith("01") for code, _, _ in options(ctx, COMPONENT, "01"))
    e = lookup(ctx, EVENT, "0101")
    assert e is not None and e.name == "私搭乱建" and e.parent_code == "01" and e.depth == 1
    assert lookup(ctx, EVENT, "nope") is None and lookup(ctx, "no.such", "01") is None
    with pytest.raises(NotFound):
        options(ctx, "no.such")


def test_seeding_is_idempotent_and_keeps_admin_changes(ctx):
    with ctx.db.session() as s:
        svc.edit_item(s, ACTOR, COMPONENT, "0101", {"version": 1, "name": "给水井盖"})
    before = n_items(ctx, COMPONENT)
    seed.bootstrap(ctx)
    assert n_items(ctx, COMPONENT) == before
    assert lookup(ctx, COMPONENT, "0101").name == "给水井盖"


def test_dict_entries_follow_every_edit_and_the_callers_own_transaction(ctx):
    """ccms.api.dict_entries remembers a dictionary between calls: renames, moves,
    (de)activation, new items and the caller's uncommitted edits all show at once."""
    from ccms.api import dict_entries
    make_dict(ctx)
    with ctx.db.session() as s:
        first = dict_entries(s, "test.colors")
        assert dict_entries(s, "no.such") == {}
    assert first["crimson"].parent_code == "dark_red" and first["crimson"].depth == 2
    with ctx.db.session() as s:
        svc.edit_item(s, ACTOR, "test.colors", "crimson", {"version": 1, "name": "绯"})
        assert dict_entries(s, "test.colors")["crimson"].name == "绯"  # own edit, not yet committed
        s.rollback()
        assert dict_entries(s, "test.colors")["crimson"].name == "绯红"  # rolled back: the old name again
    with ctx.db.session() as s:
        svc.edit_item(s, ACTOR, "test.colors", "red", {"version": 1, "name": "大红"})  # another item, same count
    with ctx.db.session() as s:
        got = dict_entries(s, "test.colors")
        assert got["red"].name == "大红" and got["crimson"].name == "绯红"
        svc.edit_item(s, ACTOR, "test.colors", "dark_red", {"version": 1, "parent_code": "blue"})
        svc.add_item(s, ACTOR, "test.colors", {"code": "navy", "name": "藏青", "parent_code": "blue"})
    with ctx.db.session() as s:
        got = dict_entries(s, "test.colors")
        assert got["crimson"].depth == 2 and got["dark_red"].parent_code == "blue" and got["navy"].name == "藏青"
        svc.edit_item(s, ACTOR, "test.colors", "blue", {"version": 1, "active": False})
    with ctx.db.session() as s:
        got = dict_entries(s, "test.colors")
        assert not got["blue"].active and not got["navy"].active and got["red"].active
        got.clear()  # the caller's copy: the remembered one stays whole
        assert len(dict_entries(s, "test.colors")) == 5


# --- services: bad input ------------------------------------------------------------------------

def test_duplicate_codes_are_refused(ctx):
    make_dict(ctx)
    with ctx.db.session() as s, pytest.raises(ValidationFailed) as e:
        svc.add_item(s, ACTOR, "test.colors", {"code": "red", "name": "又一个红"})
    assert "code" in e.value.fields and "red" in e.value.zh
    with ctx.db.session() as s, pytest.raises(ValidationFailed) as e:
        svc.create_dict(s, ACTOR, {"code": "test.colors", "name": "x"})
    assert "code" in e.value.fields


def test_move_refuses_cycles_and_moves_subtrees(ctx):
    make_dict(ctx)
    with ctx.db.session() as s, pytest.raises(ValidationFailed) as e:
        svc.edit_item(s, ACTOR, "test.colors", "red", {"version": 1, "parent_code": "crimson"})
    assert "parent_code" in e.value.fields
    with ctx.db.session() as s:
        svc.edit_item(s, ACTOR, "test.colors", "dark_red", {"version": 1, "parent_code": "blue"})
    assert options(ctx, "test.colors", "blue") == [("dark_red", "深红", 0), ("crimson", "绯红", 1)]
    assert lookup(ctx, "test.colors", "crimson").depth == 2


def test_deactivate_takes_subtree_and_lookup_still_finds_it(ctx):
    make_dict(ctx)
    with ctx.db.session() as s:
        svc.edit_item(s, ACTOR, "test.colors", "red", {"version": 1, "active": False})
    assert [o[0] for o in options(ctx, "test.colors")] == ["blue"]
    assert len(options(ctx, "test.colors", active_only=False)) == 4
    assert lookup(ctx, "test.colors", "crimson").active is False
    with ctx.db.session() as s, pytest.raises(Conflict):  # parent still inactive
        svc.edit_item(s, ACTOR, "test.colors", "crimson", {"version": version_of(ctx, "test.colors", "crimson"),
                                                            "active": True})
    with ctx.db.session() as s:  # an inactive parent does not block renaming its children
        svc.edit_item(s, ACTOR, "test.colors", "crimson", {"version": version_of(ctx, "test.colors", "crimson"),
                                                            "name": "绯", "parent_code": "dark_red"})
    assert lookup(ctx, "test.colors", "crimson").name == "绯"
    with ctx.db.session() as s:
        actions = set(s.scalars(select(AuditLog.action).where(AuditLog.object_type == "dict_item")))
    assert actions == {"dict_item_create", "dict_item_edit"}


def test_delete_dictionary_rules(ctx):
    make_dict(ctx)
    with ctx.db.session() as s, pytest.raises(Conflict) as e:
        svc.delete_dict(s, ACTOR, "test.colors")
    assert e.value.code == "dict_in_use"
    with ctx.db.session() as s, pytest.raises(Conflict) as e:
        svc.delete_dict(s, ACTOR, COMPONENT)
    assert e.value.code == "dict_builtin"
    with ctx.db.session() as s:
        svc.create_dict(s, ACTOR, {"code": "test.empty", "name": "空"})
    with ctx.db.session() as s:
        svc.delete_dict(s, ACTOR, "test.empty")
    with ctx.db.session() as s:
        assert s.scalar(select(AuditLog).where(AuditLog.action == "dict_delete")) is not None


# --- import / export ------------------------------------------------------------------------------

def test_import_with_a_bad_row_writes_nothing(ctx):
    make_dict(ctx)
    before = n_items(ctx, "test.colors")
    csv_text = "code,name,parent_code,sort\ngreen,绿,,1\nlime,青柠,green,x\nolive,,nowhere,2\n"
    with ctx.db.session() as s, pytest.raises(svc.ImportFailed) as e:
        svc.import_items(s, ACTOR, "test.colors", "c.csv", csv_text.encode())
    rows = [(r.row, r.column) for r in e.value.rows]
    assert (3, "sort") in rows and (4, "name") in rows
    assert all(r.message and r.message_en for r in e.value.rows)
    assert n_items(ctx, "test.colors") == before


def test_import_cycle_in_file_is_refused(ctx):
    make_dict(ctx)
    data = "code,name,parent_code\na,甲,b\nb,乙,a\n".encode()
    with ctx.db.session() as s, pytest.raises(svc.ImportFailed) as e:
        svc.import_items(s, ACTOR, "test.colors", "c.csv", data)
    assert {r.row for r in e.value.rows} == {2, 3} and all(r.column == "parent_code" for r in e.value.rows)


def test_import_rejects_files_that_are_not_csv_or_xlsx(ctx):
    make_dict(ctx)
    for name, content in (("x.png", b"\x89PNG\r\n\x1a\n...."), ("x.xlsx", b"not a zip at all"),
                          ("x.csv", b"\x00\x01\x02binary")):
        with ctx.db.session() as s, pytest.raises(ValidationFailed) as e:
            svc.import_items(s, ACTOR, "test.colors", name, content)
        assert e.value.code == "bad_file" and "file" in e.value.fields


def test_export_xlsx_round_trips_through_import(ctx):
    make_dict(ctx)
    with ctx.db.session() as s:
        content, _media = svc.export_file(s, "test.colors", "xlsx")
        svc.create_dict(s, ACTOR, {"code": "test.copy", "name": "副本"})
    ws = openpyxl.load_workbook(io.BytesIO(content)).active
    assert [c.value for c in ws[1]][:3] == ["code", "name", "parent_code"]
    with ctx.db.session() as s:
        r = svc.import_items(s, ACTOR, "test.copy", "colors.xlsx", content)
    assert r.created == 4
    assert options(ctx, "test.copy") == options(ctx, "test.colors")
    with ctx.db.session() as s:  # importing again changes nothing
        assert svc.import_items(s, ACTOR, "test.copy", "colors.xlsx", content).unchanged == 4


def test_csv_export_guards_formulas(ctx):
    make_dict(ctx)
    with ctx.db.session() as s:
        svc.add_item(s, ACTOR, "test.colors", {"code": "evil", "name": "=HYPERLINK(\"x\")"})
        content, _ = svc.export_file(s, "test.colors", "csv")
    assert "'=HYPERLINK" in content.decode("utf-8-sig")


# --- screens -----------------------------------------------------------------------------------------

def test_screens_tree_search_and_item_form(admin, ctx):
    page = admin.get("/admin/dicts")
    assert page.status_code == 200 and "部件分类" in page.text and "事件分类" in page.text
    page = admin.get(f"/admin/dicts/{COMPONENT}")
    assert 'data-testid="item-0101"' in page.text
    frag = admin.get(f"/admin/dicts/{COMPONENT}?q=路灯", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.text
    assert 'data-testid="item-0118"' in frag.text and 'data-testid="item-0101"' not in frag.text
    r = admin.form(f"/admin/dicts/{COMPONENT}/items/new", {"code": "0101", "name": "重复的", "parent_code": "01"})
    assert r.status_code == 422 and 'data-testid="error-code"' in r.text and "重复的" in r.text
    r = admin.form(f"/admin/dicts/{COMPONENT}/items/new", {"code": "0199", "name": "本地井盖", "parent_code": "01"},
                   follow_redirects=False)
    assert r.status_code == 303 and lookup(ctx, COMPONENT, "0199").name == "本地井盖"
    r = admin.form(f"/admin/dicts/{COMPONENT}/items/0199/edit",
                   {"name": "改名", "parent_code": "01", "sort": "1", "version": "0"})
    assert r.status_code == 409 and 'data-testid="form-error"' in r.text and "改名" in r.text
    r = admin.form(f"/admin/dicts/{COMPONENT}/items/0199/active", {"active": "0", "version": "1"},
                   follow_redirects=False)
    assert r.status_code == 303 and lookup(ctx, COMPONENT, "0199").active is False


def test_import_screen_reports_rows_and_export_downloads(admin, ctx):
    before = n_items(ctx, EVENT)
    bad = "编码,名称,上级编码\n9901,本地事件,99\n".encode()
    r = admin.form(f"/admin/dicts/{EVENT}/import", {}, files={"file": ("local.csv", bad, "text/csv")})
    assert r.status_code == 422 and 'data-testid="import-error-2"' in r.text and "99" in r.text
    assert n_items(ctx, EVENT) == before
    r = admin.form(f"/admin/dicts/{EVENT}/import", {}, files={"file": ("x.txt", b"hello", "text/plain")})
    assert r.status_code == 422 and "CSV" in r.text and "XLSX" in r.text
    good = "编码,名称,上级编码\n99,本地事件,\n9901,占道施工,99\n".encode()
    r = admin.form(f"/admin/dicts/{EVENT}/import", {}, files={"file": ("local.csv", good, "text/csv")})
    assert r.status_code == 200 and 'data-testid="import-result"' in r.text
    assert n_items(ctx, EVENT) == before + 2
    r = admin.get(f"/admin/dicts/{EVENT}/export?format=csv")
    assert r.status_code == 200 and "9901,占道施工,99" in r.content.decode("utf-8-sig")
    r = admin.get(f"/admin/dicts/{EVENT}/export?format=pdf")
    assert r.status_code == 422


# --- JSON API --------------------------------------------------------------------------------------------

def test_api_lists_items_and_edits_with_versions(admin, ctx):
    body = admin.api("GET", "/api/dicts").json()
    assert {d["code"] for d in body["items"]} >= {COMPONENT, EVENT}
    items = admin.api("GET", f"/api/dicts/{COMPONENT}/items?parent=01").json()["items"]
    assert items[0]["code"] == "0101" and items[0]["parent_code"] == "01"
    assert admin.api("GET", f"/api/dicts/{COMPONENT}/items?q=路灯").json()["total"] >= 2  # hit + its parent
    r = admin.api("POST", f"/api/dicts/{COMPONENT}/items", json={"code": "0101", "name": "dup"})
    assert r.status_code == 422 and r.json()["error"]["fields"]["code"]["message_en"]
    r = admin.api("POST", f"/api/dicts/{COMPONENT}/items", json={"code": "bad code!", "name": "x"})
    assert r.status_code == 422
    r = admin.api("POST", f"/api/dicts/{COMPONENT}/items", json={"code": "0198", "name": "新", "parent_code": "01"})
    assert r.status_code == 201 and r.json()["depth"] == 1
    r = admin.api("PATCH", f"/api/dicts/{COMPONENT}/items/0198", json={"version": 1, "name": "新名"})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = admin.api("PATCH", f"/api/dicts/{COMPONENT}/items/0198", json={"version": 1, "name": "旧版"})
    assert r.status_code == 409 and r.json()["error"]["message_en"]
    r = admin.api("PATCH", f"/api/dicts/{COMPONENT}/items/01", json={"version": 1, "parent_code": "0101"})
    assert r.status_code == 422 and "parent_code" in r.json()["error"]["fields"]
    assert admin.api("GET", "/api/dicts/no.such").status_code == 404


def test_permissions(app, client_for):
    add_user(app, "viewer", ["core.dict.view"])
    add_user(app, "nobody", [])
    viewer, nobody = client_for("viewer", ADMIN_PASSWORD), client_for("nobody", ADMIN_PASSWORD)
    assert viewer.api("GET", "/api/dicts").status_code == 200
    assert viewer.api("POST", f"/api/dicts/{COMPONENT}/items", json={"code": "x1", "name": "x"}).status_code == 403
    assert nobody.api("GET", "/api/dicts").status_code == 403
    assert nobody.get("/admin/dicts").status_code == 403
