"""表单配置, the designer's structural edits (both backends for the screens):
nested objects and repeating groups, declared renames, field permissions,
indexes and bulk edit, the ui layout (sections, tabs, columns), rule targets,
limits — each refused change named by its JSON path and nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select, text

from ccms.forms import designer, indexes
from ccms.forms.definition import DefinitionError
from ccms.forms.fields import FieldTypes
from ccms.forms.models import FormDef
from ccms.testing import ADMIN_PASSWORD, add_user

FT = FieldTypes.default()


def base() -> dict[str, Any]:
    d = designer.new_definition("inspect", "巡查记录")
    d = designer.add_field(d, "subject", "text", "事项", True, field_types=FT)
    d = designer.add_field(d, "kind", "enum", "类别", options=[("road", "道路"), ("green", "绿化")], field_types=FT)
    d = designer.add_field(d, "count", "integer", "数量", field_types=FT)
    d = designer.add_field(d, "urgent", "boolean", "紧急", field_types=FT)
    d = designer.add_field(d, "address", "object", "地址", field_types=FT)
    d = designer.add_field(d, "city", "text", "城市", True, field_types=FT, parent="address")
    d = designer.add_field(d, "street", "text", "街道", field_types=FT, parent="address")
    d = designer.add_field(d, "members", "group", "参与人员", field_types=FT)
    d = designer.add_field(d, "name", "text", "姓名", True, field_types=FT, parent="members")
    return designer.add_field(d, "age", "integer", "年龄", field_types=FT, parent="members")


def refused(fn: Any, path: str) -> DefinitionError:
    with pytest.raises(DefinitionError) as e:
        fn()
    assert e.value.path == path, (e.value.path, e.value.reason_zh)
    assert e.value.reason_zh and e.value.reason_en
    return e.value


# --- nested objects and repeating groups ----------------------------------------------------------

def test_sub_fields_are_added_reordered_changed_and_removed():
    d = base()
    props = d["schema"]["properties"]
    assert props["address"]["properties"].keys() == {"city", "street"} and props["address"]["required"] == ["city"]
    assert list(props["members"]["items"]["properties"]) == ["name", "age"]
    assert props["members"]["items"]["required"] == ["name"]
    assert [n for n, _depth, _s in designer.all_fields(d)][-6:] == [
        "address", "address.city", "address.street", "members", "members.name", "members.age"]
    moved = designer.move_field(d, "members.age", "up")
    assert list(moved["schema"]["properties"]["members"]["items"]["properties"]) == ["age", "name"]
    assert designer.move_field(moved, "members.age", "up") == moved  # already first
    changed = designer.set_field_props(d, "members.age", label="年龄（岁）", minimum=0, maximum=120, required=True)
    items = changed["schema"]["properties"]["members"]["items"]
    assert items["properties"]["age"]["maximum"] == 120 and items["required"] == ["name", "age"]
    changed = designer.set_field_props(changed, "members", minItems=1, maxItems=10, help="至少一人")
    assert changed["schema"]["properties"]["members"]["maxItems"] == 10
    assert changed["ui"]["fields"]["members"] == {"help": "至少一人"}
    changed = designer.set_field_props(changed, "address.street", help="含门牌号", placeholder="如 人民路 1 号")
    assert changed["ui"]["fields"]["address.street"] == {"help": "含门牌号", "placeholder": "如 人民路 1 号"}
    gone = designer.remove_field(changed, "address.street")
    assert "street" not in gone["schema"]["properties"]["address"]["properties"]
    assert "address.street" not in gone["ui"]["fields"]
    gone = designer.remove_field(gone, "members")
    assert "members" not in gone["schema"]["properties"] and "members" not in gone.get("ui", {}).get("fields", {})


def test_bad_sub_field_edits_name_their_path():
    d = base()
    refused(lambda: designer.add_field(d, "x", "text", "x", field_types=FT, parent="subject"),
            "$.schema.properties.subject")
    refused(lambda: designer.add_field(d, "photo", "image", "照片", field_types=FT, parent="members"),
            "$.schema.properties.members.properties")
    refused(lambda: designer.add_field(d, "name", "text", "重名", field_types=FT, parent="members"),
            "$.schema.properties.members.items.properties.name")
    refused(lambda: designer.add_field(d, "x", "text", "x", field_types=FT, parent="ghost"),
            "$.schema.properties.ghost")
    refused(lambda: designer.set_field_props(d, "members.age", minimum=10, maximum=1),
            "$.schema.properties.members.items.properties.age.minimum")
    refused(lambda: designer.set_field_props(d, "members.ghost", label="x"),
            "$.schema.properties.members.items.properties.ghost")
    assert designer.field_name_of("$.schema.properties.members.items.properties.age.minimum") == "members.age"
    assert designer.field_name_of('$.ui.fields["address.city"].rules[0].when.field') == "address.city"
    assert designer.field_name_of("$.permissions.fields.subject.hidden_for[0]") == "subject"


# --- renames ----------------------------------------------------------------------------------------

def test_rename_is_declared_and_every_setting_follows():
    d = designer.set_rule(base(), "count", "show", "subject", "not_empty")
    d = designer.set_rule(d, "urgent", "show", "count", "gt", 3)
    d = designer.set_list_settings(d, ["subject", "count"], ["count"], "-count")
    d = designer.set_field_props(d, "count", indexed=True, bulk_edit=True)
    d = designer.set_permissions(d, "count", ["viewer"], [])
    d = designer.add_group(d, "section", "基本信息")
    d = designer.place_field(d, "count", "6")
    r = designer.rename_field(d, "count", "qty")
    assert list(r["schema"]["properties"])[:3] == ["subject", "kind", "qty"]
    assert r["renames"] == {"count": "qty"}
    assert r["ui"]["fields"]["qty"]["rules"][0]["when"] == {"field": "subject", "op": "not_empty"}
    assert r["ui"]["fields"]["urgent"]["rules"][0]["when"]["field"] == "qty"
    assert r["list"] == {"columns": ["subject", "qty"], "filters": ["qty"], "sort": "-qty"}
    assert r["indexed"] == ["qty"] and r["permissions"]["fields"] == {"qty": {"hidden_for": ["viewer"]}}
    assert r["ui"]["layout"][5]["items"] == ["qty"]
    # a second rename keeps old records reachable; renaming back drops the loop
    r2 = designer.rename_field(r, "qty", "amount")
    assert r2["renames"] == {"count": "amount", "qty": "amount"}
    r3 = designer.rename_field(r2, "amount", "count")
    assert r3["renames"] == {"qty": "count", "amount": "count"}
    # a new field may take a renamed-away name: the old step stays in its own version
    r4 = designer.add_field(r, "count", "text", "另一个数量", field_types=FT)
    assert "renames" not in r4
    # removing the renamed field drops its declaration (old data shows as archived)
    assert "renames" not in designer.remove_field(r, "qty", cascade=True)


def test_bad_renames_are_refused_with_their_path():
    d = base()
    refused(lambda: designer.rename_field(d, "subject", "kind"), "$.schema.properties.kind")
    refused(lambda: designer.rename_field(d, "subject", "9x"), "$.schema.properties.subject")
    refused(lambda: designer.rename_field(d, "address.city", "town"), "$.schema.properties.address.properties.city")
    refused(lambda: designer.rename_field(d, "ghost", "x"), "$.schema.properties.ghost")
    c = designer.add_field(d, "total", "computed", "合计", field_types=FT)
    c = json.loads(json.dumps(c).replace('"x-ccms-expr": ""', '"x-ccms-expr": "count * 2"'))
    refused(lambda: designer.rename_field(c, "count", "n"), "$.schema.properties.total.x-ccms-expr")
    refused(lambda: designer.remove_field(c, "count"), "$.schema.properties.total.x-ccms-expr")


# --- permissions, indexes, bulk edit, limits -----------------------------------------------------------

def test_permissions_indexes_bulk_edit_and_limits():
    d = designer.set_permissions(base(), "address.city", ["public"], ["staff", "staff"], roles=["public", "staff"])
    assert d["permissions"]["fields"]["address.city"] == {"hidden_for": ["public"], "readonly_for": ["staff"]}
    assert "permissions" not in designer.set_permissions(d, "address.city", [], [])
    refused(lambda: designer.set_permissions(d, "subject", ["ghost"], roles=["staff"]),
            "$.permissions.fields.subject.hidden_for[0]")
    d = designer.set_field_props(d, "kind", indexed=True, bulk_edit=True)
    assert d["indexed"] == ["kind"] and d["schema"]["properties"]["kind"]["x-bulk-edit"] is True
    d = designer.set_field_props(d, "kind", indexed=False, bulk_edit=False)
    assert "indexed" not in d and "x-bulk-edit" not in d["schema"]["properties"]["kind"]
    refused(lambda: designer.set_field_props(d, "members", indexed=True), "$.indexed[0]")
    refused(lambda: designer.set_field_props(d, "address.city", indexed=True), "$.indexed")
    refused(lambda: designer.set_field_props(d, "members", bulk_edit=True), "$.schema.properties.members.x-bulk-edit")
    refused(lambda: designer.set_field_props(d, "subject", minLength=5, maxLength=2),
            "$.schema.properties.subject.minLength")
    refused(lambda: designer.set_field_props(d, "subject", max_size=1024),
            "$.schema.properties.subject.x-ccms-max-size")
    img = designer.add_field(d, "photo", "image", "照片", field_types=FT)
    assert designer.set_field_props(img, "photo", max_size=2048, maxItems=3)["schema"]["properties"]["photo"][
        "x-ccms-max-size"] == 2048


# --- rules -------------------------------------------------------------------------------------------

def test_rule_targets_are_checked():
    d = base()
    assert designer.set_rule(d, "count", "hide", "kind", "in", ["road"])["ui"]["fields"]["count"]["rules"][0][
        "when"]["value"] == ["road"]
    assert designer.set_rule(d, "address.street", "disable", "urgent", "eq", True)["ui"]["fields"][
        "address.street"]["rules"][0]["effect"] == "disable"
    at = "$.ui.fields.count.rules[0].when"
    e = refused(lambda: designer.set_rule(d, "count", "show", "kind", "eq", "sea"), at + ".value")
    assert "道路" not in e.reason_zh and "road" in e.reason_zh
    refused(lambda: designer.set_rule(d, "count", "show", "subject", "gt", 3), at + ".op")
    refused(lambda: designer.set_rule(d, "count", "show", "urgent", "eq", "yes"), at + ".value")
    refused(lambda: designer.set_rule(d, "subject", "show", "count", "eq", "many"),
            "$.ui.fields.subject.rules[0].when.value")
    refused(lambda: designer.set_rule(d, "count", "show", "members.age", "gt", 3), at + ".field")
    refused(lambda: designer.set_rule(d, "count", "show", "address", "not_empty"), at + ".field")
    refused(lambda: designer.set_rule(d, "address.city", "show", "address", "not_empty"),
            '$.ui.fields["address.city"].rules[0].when.field')
    refused(lambda: designer.set_rule(d, "count", "show", "ghost", "empty"), at + ".field")


def test_list_settings_use_top_level_single_values():
    d = base()
    refused(lambda: designer.set_list_settings(d, filters=["members"]), "$.list.filters[0]")
    refused(lambda: designer.set_list_settings(d, filters=["address.city"]), "$.list.filters[0]")
    refused(lambda: designer.set_list_settings(d, sort="-members"), "$.list.sort")
    refused(lambda: designer.set_list_settings(d, columns=["subject", "members.name"]), "$.list.columns[1]")


# --- layout ------------------------------------------------------------------------------------------

def test_layout_sections_tabs_and_columns():
    d = designer.add_group(base(), "section", "基本信息")
    d = designer.add_group(d, "tabs", parts=2)
    d = designer.add_group(d, "columns", "联系方式", parts=3)
    layout = d["ui"]["layout"]
    assert layout[:7] == ["subject", "kind", "count", "urgent", "address", "members",
                          {"kind": "section", "title": "基本信息", "items": []}]
    assert [t["kind"] for t in layout[7]["items"]] == ["tab", "tab"] and len(layout[8]["items"]) == 3
    d = designer.place_field(d, "subject", "6")  # positions as the editor showed them
    d = designer.place_field(d, "kind", "5")  # the section moved up as subject left the top level
    d = designer.place_field(d, "count", "5.0")
    assert d["ui"]["layout"][3]["items"] == ["subject", "kind"]
    d = designer.place_field(d, "urgent", "4.1")
    assert d["ui"]["layout"][3]["items"][1]["items"] == ["urgent"]
    assert d["ui"]["layout"][3]["items"][0]["items"] == ["count"]
    d = designer.add_group(d, "", "第三页", inside="3")
    assert d["ui"]["layout"][3]["items"][2] == {"kind": "tab", "title": "第三页", "items": []}
    d = designer.set_group_title(d, "3.0", "概况", "Overview")
    assert d["ui"]["layout"][3]["items"][0]["title"] == {"zh-CN": "概况", "en": "Overview"}
    d = designer.move_field(d, "kind", "up")
    assert d["ui"]["layout"][2]["items"] == ["kind", "subject"]
    d = designer.move_group(d, "3", "up")
    assert d["ui"]["layout"][2]["kind"] == "tabs"
    d = designer.remove_group(d, "3")  # the section: its fields stay, where it was
    assert d["ui"]["layout"][3:5] == ["kind", "subject"]
    d = designer.place_field(d, "kind", "")
    assert d["ui"]["layout"][-1] == "kind"
    groups = designer.layout_groups(d)
    assert [g["kind"] for g in groups] == ["tabs", "tab", "tab", "tab", "columns", "column", "column", "column"]
    refused(lambda: designer.place_field(d, "count", "2"), "$.ui.layout[2].items")  # tabs hold tabs, not fields
    refused(lambda: designer.place_field(d, "count", "9"), "$.ui.layout[9]")
    refused(lambda: designer.place_field(d, "count", "2.7"), "$.ui.layout[2].items[7]")
    refused(lambda: designer.add_group(d, "section", " "), f"$.ui.layout[{len(d['ui']['layout'])}].title")
    refused(lambda: designer.add_group(d, "tabs", parts=7), f"$.ui.layout[{len(d['ui']['layout'])}].items")
    refused(lambda: designer.add_group(d, "", "x", inside="2.0"), "$.ui.layout[2].items[0]")
    refused(lambda: designer.set_group_title(d, "2.0", ""), "$.ui.layout[2].items[0].title")
    refused(lambda: designer.place_field(d, "address.city", "2.0"), "$.schema.properties.address.properties.city")
    # a new field joins the layout; removing one leaves the layout consistent
    assert designer.add_field(d, "late", "text", "补充", field_types=FT)["ui"]["layout"][-1] == "late"
    assert "count" not in json.dumps(designer.remove_field(d, "count")["ui"]["layout"])


# --- the screens ---------------------------------------------------------------------------------------

def n_versions(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(FormDef)) or 0


def latest(ctx: Any, form_id: str = "inspect") -> dict[str, Any]:
    with ctx.db.session() as s:
        return s.scalar(select(FormDef.definition).where(FormDef.form_id == form_id)
                        .order_by(FormDef.version.desc()).limit(1))


def version(ctx: Any, form_id: str = "inspect") -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.max(FormDef.version)).where(FormDef.form_id == form_id)) or 0


def post(client: Any, ctx: Any, url: str, data: dict[str, Any], htmx: bool = False) -> Any:
    headers = {"HX-Request": "true"} if htmx else {}
    return client.form(url, {"base": str(version(ctx)), **data}, headers=headers, follow_redirects=False)


U = "/admin/forms/inspect"


def build(admin: Any, ctx: Any) -> None:
    assert admin.form("/admin/forms/new", {"form_id": "inspect", "title": "巡查记录"},
                      follow_redirects=False).status_code == 303
    for data in ({"type": "text", "name": "subject", "label": "事项", "required": "1"},
                 {"type": "integer", "name": "count", "label": "数量"},
                 {"type": "group", "name": "members", "label": "参与人员"},
                 {"type": "text", "name": "name", "label": "姓名", "parent": "members", "required": "1"},
                 {"type": "integer", "name": "age", "label": "年龄", "parent": "members"}):
        r = post(admin, ctx, f"{U}/fields", data)
        assert r.status_code == 303, r.text[:500]


def test_screens_edit_sub_fields_renames_permissions_flags_and_layout(admin, ctx):
    build(admin, ctx)
    d = latest(ctx)
    assert d["schema"]["properties"]["members"]["items"]["required"] == ["name"]
    page = admin.get(U)
    assert 'data-testid="field-row-members.age"' in page.text and 'data-testid="panel-members.name"' in page.text
    assert post(admin, ctx, f"{U}/fields/members.age/move", {"where": "up"}).status_code == 303
    assert list(latest(ctx)["schema"]["properties"]["members"]["items"]["properties"]) == ["age", "name"]
    assert post(admin, ctx, f"{U}/fields/members.age", {"label": "年龄", "minimum": "0", "maximum": "120",
                                                         "placeholder": "周岁"}).status_code == 303
    assert latest(ctx)["schema"]["properties"]["members"]["items"]["properties"]["age"]["maximum"] == 120
    r = post(admin, ctx, f"{U}/fields/count", {"label": "数量", "_flags": "indexed,bulk_edit", "indexed": "1",
                                               "bulk_edit": "1"}, htmx=True)
    assert r.status_code == 200 and 'data-testid="indexed-count"' in r.text
    assert latest(ctx)["indexed"] == ["count"] and latest(ctx)["schema"]["properties"]["count"]["x-bulk-edit"]
    assert post(admin, ctx, f"{U}/fields/subject/permissions", {"hidden_for": ["auditor", "staff"],
                                                                "readonly_for": "org_admin"}).status_code == 303
    assert latest(ctx)["permissions"]["fields"]["subject"] == {"hidden_for": ["auditor", "staff"],
                                                               "readonly_for": ["org_admin"]}
    assert post(admin, ctx, f"{U}/layout", {"kind": "section", "title": "基本信息"}).status_code == 303
    assert post(admin, ctx, f"{U}/layout", {"kind": "columns", "parts": "2"}).status_code == 303
    layout = latest(ctx)["ui"]["layout"]
    assert layout[3] == {"kind": "section", "title": "基本信息", "items": []}
    assert post(admin, ctx, f"{U}/fields/subject/place", {"group": "3"}).status_code == 303
    assert post(admin, ctx, f"{U}/fields/count/place", {"group": "3.1"}).status_code == 303
    assert latest(ctx)["ui"]["layout"][2]["items"][1]["items"] == ["count"]
    assert post(admin, ctx, f"{U}/layout/2", {"title": "数量分栏"}).status_code == 303
    assert post(admin, ctx, f"{U}/layout/2/move", {"where": "up"}).status_code == 303
    assert post(admin, ctx, f"{U}/layout", {"inside": "1"}).status_code == 303  # a third column
    assert len(latest(ctx)["ui"]["layout"][1]["items"]) == 3
    page = admin.get(U)
    assert "分栏：数量分栏" in page.text and 'data-testid="group-1"' in page.text
    assert post(admin, ctx, f"{U}/layout/2/remove", {}).status_code == 303
    assert post(admin, ctx, f"{U}/fields/count/rename", {"new_name": "qty"}).status_code == 303
    d = latest(ctx)
    assert d["renames"] == {"count": "qty"} and d["indexed"] == ["qty"]
    assert 'data-testid="renamed-from-qty"' in admin.get(U).text


def test_screen_errors_are_inline_keep_the_input_and_write_nothing(admin, ctx):
    build(admin, ctx)
    before = n_versions(ctx)
    r = post(admin, ctx, f"{U}/fields", {"type": "image", "name": "photo", "label": "照片", "parent": "members"})
    assert r.status_code == 422 and "只能放在顶层" in r.text and 'value="photo"' in r.text
    r = post(admin, ctx, f"{U}/fields/count/rename", {"new_name": "subject"}, htmx=True)
    assert r.status_code == 200 and "已经存在" in r.text and 'data-testid="error-p-count-new_name"' in r.text
    r = post(admin, ctx, f"{U}/fields/members.name/rename", {"new_name": "who"})
    assert r.status_code == 422 and "只有顶层字段可以改名" in r.text
    r = post(admin, ctx, f"{U}/fields/count/rename", {"new_name": ""})
    assert r.status_code == 422 and "请填写新的字段名" in r.text
    r = post(admin, ctx, f"{U}/fields/subject/permissions", {"hidden_for": "ghost_role"})
    assert r.status_code == 422 and "ghost_role" in r.text
    r = post(admin, ctx, f"{U}/fields/count", {"label": "数量", "minimum": "9", "maximum": "1"}, htmx=True)
    assert r.status_code == 200 and "minimum" in r.text and 'value="9"' in r.text
    r = post(admin, ctx, f"{U}/fields/members.age", {"label": "年龄", "maxItems": "x"})
    assert r.status_code == 422
    r = post(admin, ctx, f"{U}/fields/count/rule", {"effect": "show", "when_field": "members.age", "op": "gt",
                                                    "value": "3"})
    assert r.status_code == 422 and "单个值" in r.text
    r = post(admin, ctx, f"{U}/fields/count/place", {"group": "7"})
    assert r.status_code == 422 and "不存在" in r.text
    r = post(admin, ctx, f"{U}/layout", {"kind": "section", "title": ""})
    assert r.status_code == 422 and "请填写分组标题" in r.text
    r = post(admin, ctx, f"{U}/layout", {"kind": "carousel"})
    assert r.status_code == 422 and "请选择分组类型" in r.text
    r = post(admin, ctx, f"{U}/list", {"filters": "members"})
    assert r.status_code == 422 and "members" in r.text
    assert n_versions(ctx) == before


def test_labels_with_markup_are_escaped_everywhere(admin, ctx):
    build(admin, ctx)
    evil = "<script>alert(1)</script>"
    assert post(admin, ctx, f"{U}/fields/members.name", {"label": evil, "required": "1",
                                                         "help": "<img src=x onerror=alert(2)>"}).status_code == 303
    assert post(admin, ctx, f"{U}/fields", {"type": "enum", "name": "kind", "label": "<b>类别</b>",
                                            "options": f"road={evil}"}).status_code == 303
    assert post(admin, ctx, f"{U}/layout", {"kind": "section", "title": evil}).status_code == 303
    assert post(admin, ctx, f"{U}/fields/subject/rule", {"effect": "show", "when_field": "kind", "op": "eq",
                                                         "value": "road"}).status_code == 303
    assert admin.form(f"{U}/publish", {"version": str(version(ctx))}, follow_redirects=False).status_code == 303
    pages = [admin.get(U), admin.get("/admin/forms"), admin.get("/forms/inspect/new"), admin.get("/forms/inspect")]
    for page in pages:
        assert page.status_code == 200, page.status_code
        assert "<script>alert" not in page.text and "<img src=x" not in page.text and "<b>类别" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].text and "&lt;b&gt;类别&lt;/b&gt;" in pages[0].text


def test_rename_keeps_old_records_showing_under_the_new_name(admin, ctx):
    build(admin, ctx)
    assert admin.form(f"{U}/publish", {"version": str(version(ctx))}, follow_redirects=False).status_code == 303
    r = admin.api("POST", "/api/forms/inspect/records", json={"data": {"subject": "井盖缺失", "count": 2}})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert post(admin, ctx, f"{U}/fields/count/rename", {"new_name": "qty"}).status_code == 303
    assert admin.form(f"{U}/publish", {"version": str(version(ctx))}, follow_redirects=False).status_code == 303
    got = admin.api("GET", f"/api/forms/inspect/records/{rid}").json()
    assert got["data"]["qty"] == 2 and "count" not in got["data"]
    assert "井盖缺失" in admin.get(f"/forms/inspect/{rid}").text


def test_indexed_field_gets_its_index_on_publish(admin, ctx):
    build(admin, ctx)
    assert post(admin, ctx, f"{U}/fields/count", {"label": "数量", "_flags": "indexed", "indexed": "1"}
                ).status_code == 303
    assert admin.form(f"{U}/publish", {"version": str(version(ctx))}, follow_redirects=False).status_code == 303
    name = indexes.index_name("inspect", "count")
    with ctx.db.session() as s:
        if s.get_bind().dialect.name == "sqlite":
            found = s.scalar(text("SELECT name FROM sqlite_master WHERE type='index' AND name=:n"), {"n": name})
        else:
            found = s.scalar(text("SELECT indexname FROM pg_indexes WHERE indexname=:n"), {"n": name})
    assert found == name


def test_field_permissions_set_in_the_designer_apply_to_the_api(app, admin, ctx, client_for):
    build(admin, ctx)
    with ctx.db.session() as s:
        from ccms.models import Role
        s.add(Role(code="inspector", name="巡查员"))
    assert post(admin, ctx, f"{U}/fields/count/permissions", {"hidden_for": "inspector"}).status_code == 303
    assert admin.form(f"{U}/publish", {"version": str(version(ctx))}, follow_redirects=False).status_code == 303
    rid = admin.api("POST", "/api/forms/inspect/records", json={"data": {"subject": "路灯", "count": 5}}).json()["id"]
    uid = add_user(app, "insp", ["form.inspect.list", "form.inspect.read"])
    with ctx.db.session() as s:
        from ccms.forms.records import get
        org = get(s, "inspect", rid).org_id
        ctx.authz.grant(s, uid, "inspector", org)
    insp = client_for("insp", ADMIN_PASSWORD)
    got = insp.api("GET", f"/api/forms/inspect/records/{rid}")
    assert got.status_code == 200 and got.json()["data"] == {"subject": "路灯"}


def test_dictionary_binding_offers_the_deployments_dictionaries(admin, ctx):
    build(admin, ctx)
    assert post(admin, ctx, f"{U}/fields", {"type": "dictionary", "name": "part", "label": "部件"}).status_code == 303
    page = admin.get(U)
    assert 'id="p-part-dictionary"' in page.text and "gbt30428" in page.text  # a select of the seeded dictionaries
    code = page.text.split('id="p-part-dictionary"', 1)[1].split('<option value="', 2)[2].split('"', 1)[0]
    assert post(admin, ctx, f"{U}/fields/part", {"label": "部件", "dictionary": code}).status_code == 303
    assert latest(ctx)["schema"]["properties"]["part"]["x-ccms-dictionary"] == code
    before = n_versions(ctx)
    r = post(admin, ctx, f"{U}/fields/part", {"label": "部件", "dictionary": "no.such.dict"}, htmx=True)
    assert r.status_code == 200 and "数据字典 no.such.dict 不存在" in r.text and 'data-testid="error-p-part-dictionary"' in r.text
    r = post(admin, ctx, f"{U}/fields/part", {"label": "部件", "dictionary": ""})
    assert r.status_code == 422 and "请选择数据字典" in r.text
    assert n_versions(ctx) == before
