"""应用维护 → 表单配置: the designer's pure edits, its screens and the form-definition API (both backends)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from ccms.forms import designer
from ccms.forms.definition import DefinitionError
from ccms.forms.fields import FieldTypes
from ccms.forms.models import FormDef
from ccms.models import AuditLog
from ccms.testing import ADMIN_PASSWORD, add_user

FT = FieldTypes.default()


def n_versions(ctx: Any, form_id: str | None = None) -> int:
    with ctx.db.session() as s:
        q = select(func.count()).select_from(FormDef)
        if form_id:
            q = q.where(FormDef.form_id == form_id)
        return s.scalar(q) or 0


def latest(ctx: Any, form_id: str) -> FormDef:
    with ctx.db.session() as s:
        row = s.scalar(select(FormDef).where(FormDef.form_id == form_id).order_by(FormDef.version.desc()).limit(1))
        s.expunge(row)
        return row


def base_of(ctx: Any, form_id: str) -> str:
    return str(latest(ctx, form_id).version)


# --- pure edits (no database) -----------------------------------------------------------------

def sample() -> dict[str, Any]:
    d = designer.new_definition("complaint", "投诉登记")
    d = designer.add_field(d, "subject", "text", "事项", True, field_types=FT)
    d = designer.add_field(d, "kind", "enum", "类别", options=[("road", "道路"), ("green", "绿化")], field_types=FT)
    return designer.add_field(d, "amount", "money", "金额", field_types=FT)


def test_edits_return_new_checked_documents():
    d = sample()
    before = json.dumps(d, sort_keys=True)
    moved = designer.move_field(d, "amount", 0)
    assert list(moved["schema"]["properties"]) == ["amount", "subject", "kind"]
    assert json.dumps(d, sort_keys=True) == before  # input untouched
    assert list(designer.move_field(moved, "amount", "down")["schema"]["properties"]) == ["subject", "amount", "kind"]
    assert designer.move_field(moved, "amount", "up") == moved  # already first
    d2 = designer.set_field_props(d, "subject", label="诉求", label_en="Request", maxLength=50, pattern="^\\S",
                                  help="简要说明", placeholder="……", widget="textarea", required=False)
    sub = d2["schema"]["properties"]["subject"]
    assert sub["title"] == "诉求" and sub["x-ccms-title"] == {"zh-CN": "诉求", "en": "Request"}
    assert sub["maxLength"] == 50 and "required" not in d2["schema"]
    assert d2["ui"]["fields"]["subject"] == {"help": "简要说明", "placeholder": "……", "widget": "textarea"}
    d3 = designer.set_field_props(d2, "kind", enum=[("a", "甲"), ("b", "乙")])
    assert d3["schema"]["properties"]["kind"]["oneOf"] == [{"const": "a", "title": "甲"}, {"const": "b", "title": "乙"}]
    d4 = designer.set_field_props(d3, "amount", minimum=1, maximum=100)
    assert d4["schema"]["properties"]["amount"]["maximum"] == 100
    assert "maximum" not in designer.set_field_props(d4, "amount", maximum=None)["schema"]["properties"]["amount"]
    d5 = designer.add_field(d, "part", "dictionary", "部件", field_types=FT)
    assert designer.set_field_props(d5, "part", dictionary="gbt30428.component")["schema"]["properties"]["part"][
        "x-ccms-dictionary"] == "gbt30428.component"


def test_rules_and_list_settings():
    d = designer.set_rule(sample(), "amount", "show", "kind", "eq", "road")
    assert d["ui"]["fields"]["amount"]["rules"] == [{"effect": "show", "when": {"field": "kind", "op": "eq",
                                                                               "value": "road"}}]
    assert "ui" not in designer.set_rule(d, "amount", None) or not designer.set_rule(d, "amount", None)["ui"]["fields"]
    d = designer.set_list_settings(d, ["subject", "kind", "_created_at"], ["kind"], "-_created_at")
    assert d["list"] == {"columns": ["subject", "kind", "_created_at"], "filters": ["kind"], "sort": "-_created_at"}
    removed = designer.remove_field(d, "subject")
    assert "subject" not in removed["schema"]["properties"] and removed["list"]["columns"] == ["kind", "_created_at"]


@pytest.mark.parametrize("edit, path", [
    (lambda d: designer.set_rule(d, "amount", "show", "nope", "eq", "x"), "$.ui.fields.amount.rules[0].when.field"),
    (lambda d: designer.set_rule(d, "amount", "blink", "kind", "eq", "x"), "$.ui.fields.amount.rules[0].effect"),
    (lambda d: designer.set_rule(d, "amount", "show", "kind", "eq", ""), "$.ui.fields.amount.rules[0].when.value"),
    (lambda d: designer.set_rule(d, "amount", "show", "amount", "eq", 1), "$.ui.fields.amount.rules[0].when.field"),
    (lambda d: designer.add_field(d, "subject", "text", "又一个", field_types=FT), "$.schema.properties.subject"),
    (lambda d: designer.add_field(d, "9x", "text", "坏名", field_types=FT), "$.schema.properties"),
    (lambda d: designer.add_field(d, "x", "nope", "坏类型", field_types=FT), "$.schema.properties"),
    (lambda d: designer.add_field(d, "x", "enum", "无选项", field_types=FT), "$.schema.properties.x.oneOf"),
    (lambda d: designer.set_field_props(d, "subject", label=" "), "$.schema.properties.subject.title"),
    (lambda d: designer.set_field_props(d, "subject", pattern="(["), "$.schema.properties.subject.pattern"),
    (lambda d: designer.set_field_props(d, "subject", maxLength=-1), "$.schema.properties.subject.maxLength"),
    (lambda d: designer.set_field_props(d, "subject", dictionary="x"), "$.schema.properties.subject.x-ccms-dictionary"),
    (lambda d: designer.set_field_props(d, "ghost", label="x"), "$.schema.properties.ghost"),
    (lambda d: designer.set_list_settings(d, ["ghost"]), "$.list.columns[0]"),
    (lambda d: designer.set_list_settings(d, sort="-ghost"), "$.list.sort"),
])
def test_bad_edits_name_the_json_path(edit, path):
    with pytest.raises(DefinitionError) as e:
        edit(sample())
    assert e.value.path == path and e.value.reason_zh


def test_rule_pointing_to_a_removed_field_is_refused_with_the_path():
    d = designer.set_rule(sample(), "amount", "show", "kind", "eq", "road")
    with pytest.raises(DefinitionError) as e:
        designer.remove_field(d, "kind")
    assert e.value.path == "$.ui.fields.amount.rules[0].when.field" and "规则" in e.value.zh
    gone = designer.remove_field(d, "kind", cascade=True)
    assert "amount" not in (gone.get("ui") or {}).get("fields", {})
    assert designer.field_name_of(e.value.path) == "amount"


# --- screens: the walk-through ---------------------------------------------------------------

def post(client: Any, ctx: Any, url: str, data: dict[str, Any], form_id: str = "complaint", htmx: bool = False):
    payload = {"base": base_of(ctx, form_id), **data}
    headers = {"HX-Request": "true"} if htmx else {}
    return client.form(url, payload, headers=headers, follow_redirects=False)


def test_designer_walk_through(admin, ctx):
    r = admin.form("/admin/forms/new", {"form_id": "complaint", "title": "投诉登记"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/forms/complaint"
    page = admin.get("/admin/forms/complaint")
    assert page.status_code == 200 and 'data-testid="form-editor"' in page.text and "单行文本" in page.text
    u = "/admin/forms/complaint"
    assert post(admin, ctx, f"{u}/fields", {"type": "text", "name": "subject", "label": "事项", "required": "1"}
                ).status_code == 303
    r = post(admin, ctx, f"{u}/fields", {"type": "enum", "name": "kind", "label": "类别",
                                         "options": "road=道路\ngreen=绿化"}, htmx=True)
    assert r.status_code == 200 and 'id="editor"' in r.text and "<html" not in r.text and "类别" in r.text
    assert post(admin, ctx, f"{u}/fields", {"type": "integer", "name": "count", "label": "数量"}).status_code == 303
    assert list(latest(ctx, "complaint").definition["schema"]["properties"]) == ["subject", "kind", "count"]
    assert post(admin, ctx, f"{u}/fields/count/move", {"where": "up"}).status_code == 303
    assert list(latest(ctx, "complaint").definition["schema"]["properties"]) == ["subject", "count", "kind"]
    assert post(admin, ctx, f"{u}/fields/count/rule", {"effect": "show", "when_field": "kind", "op": "eq",
                                                      "value": "road"}).status_code == 303
    assert post(admin, ctx, f"{u}/fields/count", {"label": "数量", "minimum": "1", "maximum": "99"}).status_code == 303
    assert post(admin, ctx, f"{u}/list", {"columns": ["subject", "kind", "_created_at"], "filters": "kind",
                                          "sort": "-_created_at"}).status_code == 303
    d = latest(ctx, "complaint").definition
    assert d["ui"]["fields"]["count"]["rules"][0]["when"] == {"field": "kind", "op": "eq", "value": "road"}
    assert d["schema"]["properties"]["count"]["maximum"] == 99 and d["schema"]["required"] == ["subject"]
    assert d["list"] == {"columns": ["subject", "kind", "_created_at"], "filters": ["kind"], "sort": "-_created_at"}
    v1 = latest(ctx, "complaint").version
    assert admin.form(f"{u}/publish", {"version": str(v1)}, follow_redirects=False).status_code == 303
    page = admin.get(u)
    preview = page.text.split('data-testid="preview"', 1)[1].split('id="h-versions"', 1)[0]
    assert f"已发布 v{v1}" in page.text and "事项" in preview and "类别" in preview
    assert "当「类别」等于 road 时，显示「数量」" in preview
    # change a label and publish again
    assert post(admin, ctx, f"{u}/fields/subject", {"label": "诉求内容", "required": "1"}).status_code == 303
    v2 = latest(ctx, "complaint").version
    assert v2 == v1 + 1 and latest(ctx, "complaint").status == "draft"
    assert admin.form(f"{u}/publish", {"version": str(v2)}, follow_redirects=False).status_code == 303
    diff = admin.get(f"{u}/diff?from={v1}&to={v2}", headers={"HX-Request": "true"})
    assert diff.status_code == 200 and "诉求内容" in diff.text and "事项" in diff.text and "<html" not in diff.text
    api = admin.api("GET", f"/api/form-defs/complaint/diff?from={v1}&to={v2}").json()
    assert any(c["field"] == "subject" and "诉求内容" in c["zh"] for c in api["changes"])
    forms = admin.api("GET", "/api/form-defs").json()["items"]
    assert {"form_id": "complaint", "title": "投诉登记", "published_version": v2, "latest_version": v2,
            "status": "published"} in forms
    listing = admin.get("/admin/forms")
    assert 'data-testid="form-link-complaint"' in listing.text and f"v{v2}" in listing.text
    # unpublish
    assert admin.form(f"{u}/unpublish", {}, follow_redirects=False).status_code == 303
    assert latest(ctx, "complaint").status == "archived"
    with ctx.db.session() as s:
        actions = [a for a, in s.execute(select(AuditLog.action).where(AuditLog.object_type == "form_def"))]
    assert actions.count("form.save_draft") == v2 and {"form.publish", "form.archive", "form.unpublish"} <= set(actions)
    assert admin.get("/admin/forms/nope").status_code == 404


def test_labels_typed_by_administrators_are_escaped(admin, ctx):
    admin.form("/admin/forms/new", {"form_id": "xss", "title": "<img src=x onerror=alert(1)>"})
    post(admin, ctx, "/admin/forms/xss/fields", {"type": "text", "name": "a", "label": "<script>alert(1)</script>",
                                                "help": "x"}, form_id="xss")
    post(admin, ctx, "/admin/forms/xss/fields/a", {"label": "<script>alert(1)</script>", "help": "<b>帮助</b>"},
         form_id="xss")
    for page in (admin.get("/admin/forms/xss"), admin.get("/admin/forms")):
        assert page.status_code == 200 and "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text or "&lt;img" in page.text


def test_designer_errors_inline_keep_input_and_write_nothing(admin, ctx):
    admin.form("/admin/forms/new", {"form_id": "complaint", "title": "投诉登记"})
    u = "/admin/forms/complaint"
    post(admin, ctx, f"{u}/fields", {"type": "text", "name": "subject", "label": "事项"})
    post(admin, ctx, f"{u}/fields", {"type": "text", "name": "note", "label": "备注"})
    post(admin, ctx, f"{u}/fields/note/rule", {"effect": "show", "when_field": "subject", "op": "not_empty"})
    before = n_versions(ctx)
    r = post(admin, ctx, f"{u}/fields", {"type": "text", "name": "subject", "label": "<b>重复</b>"})
    assert r.status_code == 422 and "已经存在" in r.text and "&lt;b&gt;重复&lt;/b&gt;" in r.text
    r = post(admin, ctx, f"{u}/fields/subject", {"label": "事项", "maxLength": "abc"}, htmx=True)
    assert r.status_code == 200 and "请输入整数" in r.text and 'value="abc"' in r.text
    r = post(admin, ctx, f"{u}/fields/subject/remove", {})
    assert r.status_code == 422 and "备注" in r.text and "显示规则" in r.text  # the rule's owner, by label
    r = post(admin, ctx, f"{u}/fields/note/rule", {"effect": "show", "when_field": "", "op": "eq", "value": "x"})
    assert r.status_code == 422 and "请选择条件字段" in r.text
    r = post(admin, ctx, f"{u}/list", {"columns": "ghost"})
    assert r.status_code == 422 and "ghost" in r.text
    r = admin.form(f"{u}/fields", {"base": "1", "type": "text", "name": "late", "label": "迟到"})
    assert r.status_code == 409 and "刷新" in r.text  # an old base version: someone saved meanwhile
    r = admin.form("/admin/forms/new", {"form_id": "complaint", "title": "又一个"})
    assert r.status_code == 422 and "已被使用" in r.text
    r = admin.form("/admin/forms/new", {"form_id": "Bad Id", "title": "x"})
    assert r.status_code == 422 and 'value="Bad Id"' in r.text
    assert n_versions(ctx) == before


def test_export_import_round_trip_and_bad_files(admin, ctx):
    admin.form("/admin/forms/new", {"form_id": "complaint", "title": "投诉登记"})
    post(admin, ctx, "/admin/forms/complaint/fields", {"type": "date", "name": "day", "label": "日期"})
    r = admin.get("/admin/forms/complaint/export")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    exported = r.json()
    assert exported["schema"]["properties"]["day"]["format"] == "date"
    before = n_versions(ctx)
    r = admin.post("/admin/forms/import", data={"csrf_token": admin.csrf or admin.refresh_csrf()},
                   files={"file": ("complaint.json", r.content, "application/json")}, follow_redirects=False)
    assert r.status_code == 303 and n_versions(ctx) == before + 1
    assert latest(ctx, "complaint").definition == exported
    for content, expect in ((b"not json {", "不是有效的 JSON"),
                            (json.dumps({"id": "x1", "title": "t", "schema": {"type": "object", "properties": {
                                "a": {"type": "string"}}}, "list": {"columns": ["ghost"]}}).encode(), "$.list.columns[0]"),
                            (b"\xff\xfe", "UTF-8")):
        r = admin.post("/admin/forms/import", data={"csrf_token": admin.csrf},
                       files={"file": ("f.json", content, "application/json")})
        assert r.status_code == 422 and expect in r.text
    r = admin.post("/admin/forms/import", data={"csrf_token": admin.csrf})
    assert r.status_code == 422 and "请选择" in r.text
    assert n_versions(ctx) == before + 1


# --- JSON API ---------------------------------------------------------------------------------

def test_api(admin, ctx):
    d = sample()
    r = admin.api("POST", "/api/form-defs", content=json.dumps(d, ensure_ascii=False).encode())
    assert r.status_code == 201 and r.json()["version"] == 1 and r.json()["status"] == "draft"
    assert admin.api("POST", "/api/form-defs/complaint/publish", json={"version": 1}).json()["status"] == "published"
    d2 = designer.set_field_props(d, "kind", label="分类")
    assert admin.api("POST", "/api/form-defs", json=d2).json()["version"] == 2
    versions = admin.api("GET", "/api/form-defs/complaint/versions").json()["items"]
    assert [v["version"] for v in versions] == [2, 1] and versions[1]["status"] == "published"
    assert admin.api("GET", "/api/form-defs/complaint/versions/2").json()["definition"] == d2
    changes = admin.api("GET", "/api/form-defs/complaint/diff?from=1&to=2").json()["changes"]
    assert [c["zh"] for c in changes] == ['字段 分类（kind）的 title 由 "类别" 改为 "分类"']
    assert admin.api("POST", "/api/form-defs/complaint/unpublish").json()["status"] == "archived"
    before = n_versions(ctx)
    bad = [admin.api("POST", "/api/form-defs", content=b"{oops"),
           admin.api("POST", "/api/form-defs", json={**d, "ui": {"fields": {"amount": {"rules": [
               {"effect": "show", "when": {"field": "gone", "op": "empty"}}]}}}}),
           admin.api("POST", "/api/form-defs/complaint/publish", json={"version": "x"}),
           admin.api("GET", "/api/form-defs/complaint/diff?from=1"),
           admin.api("GET", "/api/form-defs/complaint/versions/abc")]
    assert [r.status_code for r in bad] == [422, 422, 422, 422, 422]
    assert "$.ui.fields.amount.rules[0].when.field" in bad[1].json()["error"]["fields"]
    assert admin.api("GET", "/api/form-defs/nope/versions").status_code == 404
    assert admin.api("POST", "/api/form-defs/complaint/publish", json={"version": 9}).status_code == 404
    assert n_versions(ctx) == before


def test_permissions(app, ctx, admin, client_for):
    add_user(app, "viewer", ["core.form.view"])
    add_user(app, "nobody", [])
    viewer, nobody = client_for("viewer", ADMIN_PASSWORD), client_for("nobody", ADMIN_PASSWORD)
    admin.form("/admin/forms/new", {"form_id": "complaint", "title": "投诉登记"})
    assert viewer.get("/admin/forms").status_code == 200 and "新建表单" not in viewer.get("/admin/forms").text
    assert viewer.get("/admin/forms/complaint").status_code == 200
    assert viewer.api("GET", "/api/form-defs").status_code == 200
    before = n_versions(ctx)
    assert viewer.form("/admin/forms/new", {"form_id": "x2", "title": "x"}).status_code == 403
    assert post(viewer, ctx, "/admin/forms/complaint/fields", {"type": "text", "name": "a", "label": "a"}
                ).status_code == 403
    assert viewer.form("/admin/forms/complaint/publish", {"version": "1"}).status_code == 403
    assert viewer.api("POST", "/api/form-defs", json=sample()).status_code == 403
    assert viewer.api("POST", "/api/form-defs/complaint/publish", json={"version": 1}).status_code == 403
    assert nobody.get("/admin/forms").status_code == 403
    assert nobody.api("GET", "/api/form-defs").status_code == 403
    assert n_versions(ctx) == before
    assert "表单配置" in admin.get("/").text and "表单配置" not in nobody.get("/").text
