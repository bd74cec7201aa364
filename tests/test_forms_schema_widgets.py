"""Schemas written for other form libraries, on the screens (issue 11, item 6): the variant chooser
(oneOf of objects), if/then conditional fields, draft-07 dependencies, password and time formats, the
key/value editor (additionalProperties / patternProperties given a schema),
and the rule that values of fields not in force are dropped — never stored unvalidated."""

from __future__ import annotations

from typing import Any

import pytest
from test_form_records import ADMIN, publish
from test_orgs import districts

from ccms.errors import ValidationFailed
from ccms.forms import records
from ccms.forms.models import FormRecord

FORM = "t_schema_forms"
SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object", "required": ["name"],
    "definitions": {"phone": {"title": "电话", "type": "object", "required": ["phone"],
                              "properties": {"phone": {"type": "string", "title": "电话号码",
                                                       "pattern": "^1[0-9]{10}$"}}}},
    "properties": {
        "name": {"type": "string", "title": "姓名", "maxLength": 20},
        "kind": {"type": "string", "title": "诉求类型",
                 "oneOf": [{"const": "complaint", "title": "投诉"}, {"const": "advice", "title": "建议"}]},
        "secret": {"type": "string", "format": "password", "title": "查询密码", "minLength": 4},
        "at": {"type": "string", "format": "time", "title": "发生时间"},
        "contact": {"title": "联系方式", "oneOf": [
            {"$ref": "#/definitions/phone"},
            {"title": "邮箱", "type": "object", "required": ["email"],
             "properties": {"email": {"type": "string", "format": "email", "title": "电子邮箱"}}}]},
        "reply_to": {"type": "string", "title": "回复地址"},
    },
    "if": {"properties": {"kind": {"const": "complaint"}}, "required": ["kind"]},
    "then": {"required": ["target"], "properties": {"target": {"type": "string", "title": "被投诉单位", "minLength": 2}}},
    "dependencies": {"reply_to": {"properties": {"reply_by": {"type": "string", "format": "date",
                                                                  "title": "最迟回复日期"}}}},
}
DEFINITION = {"id": FORM, "title": "诉求登记", "schema": SCHEMA,
              "ui": {"fields": {"at": {"rules": [{"effect": "show", "when": {"field": "kind", "op": "eq",
                                                                              "value": "complaint"}}]}}}}


@pytest.fixture
def env(ctx: Any, admin: Any) -> dict[str, Any]:
    publish(ctx, DEFINITION)
    return {"orgs": districts(ctx), "admin": admin}


def stored(ctx: Any, rid: int) -> dict[str, Any]:
    with ctx.db.session() as s:
        return dict(s.get(FormRecord, rid).data)


def post(env: dict[str, Any], url: str, data: dict[str, str], **kw: Any) -> Any:
    return env["admin"].form(url, {"_org_id": str(env["orgs"]["a"]), **data}, **kw)


def test_create_form_has_a_variant_chooser_and_hidden_conditional_fields(env: dict[str, Any]) -> None:
    page = env["admin"].get(f"/forms/{FORM}/new").text
    assert 'name="_variant:contact:0"' in page and '<option value="0" selected>电话</option>' in page
    assert '<option value="1">邮箱</option>' in page
    assert 'data-testid="variant-_variant:contact:0-0"' in page  # the phone fieldset, shown
    assert 'data-testid="variant-_variant:contact:0-1" hidden' in page  # the email fieldset, hidden
    assert 'name="contact.phone"' in page and 'name="contact.email"' in page
    # the complaint-only field is there, hidden, with the condition the page script judges
    assert 'data-testid="cond-target"' in page and 'name="target"' in page
    block = page[page.index('data-testid="cond-target"'):][:400]
    assert "hidden" in block.split(">")[0] and "complaint" in block.split(">")[0]
    assert 'type="password" name="secret"' in page or 'name="secret" type="password"' in page \
        or ('name="secret"' in page and 'type="password"' in page)
    assert 'name="at"' not in page and "/static/ccms-schema-form.js" in page  # at: a ui rule hides it


def test_condition_that_holds_requires_its_field(env: dict[str, Any]) -> None:
    r = post(env, f"/forms/{FORM}/new", {"name": "张三", "kind": "complaint", "_variant:contact:0": "0",
                                         "contact.phone": "13800000000"})
    assert r.status_code == 422 and 'data-testid="error-target"' in r.text and "必填项" in r.text
    block = r.text[r.text.index('data-testid="cond-target"'):][:300].split(">")[0]
    assert "hidden" not in block  # shown now that the condition holds


def test_values_of_fields_not_in_force_are_dropped_not_stored(ctx: Any, env: dict[str, Any]) -> None:
    # kind=advice: the complaint-only "target" is not in force; its (invalid, 1 char) value is dropped.
    # The phone variant is posted too, but the user chose e-mail: only the chosen variant is kept.
    r = post(env, f"/forms/{FORM}/new", {"name": "李四", "kind": "advice", "target": "x",
                                         "_variant:contact:0": "1", "contact.phone": "bad",
                                         "contact.email": "li@example.cn", "reply_by": "2024-05-01"},
             follow_redirects=False)
    assert r.status_code == 303, r.text
    rid = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    data = stored(ctx, rid)
    assert "target" not in data and "reply_by" not in data  # no reply_to: reply_by not in force
    assert data["contact"] == {"email": "li@example.cn"}
    # the JSON API path drops them the same way (schema conditions and ui rules)
    with ctx.db.session() as s:
        row = records.create(s, ADMIN, ctx, FORM, {"name": "王五", "kind": "advice", "target": 12345,
                                                   "at": "not a time", "contact": {"email": "w@example.cn"}},
                             env["orgs"]["a"])
        assert "target" not in row.data and "at" not in row.data
    # while in force they are validated: a complaint with a 1-character target is refused
    with ctx.db.session() as s, pytest.raises(ValidationFailed) as info:
        records.create(s, ADMIN, ctx, FORM, {"name": "王五", "kind": "complaint", "target": "x",
                                             "contact": {"phone": "13800000000"}}, env["orgs"]["a"])
    assert "target" in info.value.fields


def test_draft07_dependencies_are_enforced(ctx: Any, env: dict[str, Any]) -> None:
    r = post(env, f"/forms/{FORM}/new", {"name": "赵六", "kind": "advice", "reply_to": "苏州市姑苏区",
                                         "reply_by": "2024-13-45", "_variant:contact:0": "0",
                                         "contact.phone": "13800000000"})
    assert r.status_code == 422 and 'data-testid="error-reply_by"' in r.text


def test_password_is_masked_and_never_echoed_and_time_is_rfc3339(ctx: Any, env: dict[str, Any]) -> None:
    r = post(env, f"/forms/{FORM}/new", {"name": "钱七", "kind": "complaint", "target": "某物业公司",
                                         "secret": "s3cret-word", "at": "09:30", "_variant:contact:0": "0",
                                         "contact.phone": "13800000000"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("?")[0]
    rid = int(url.rsplit("/", 1)[1])
    assert stored(ctx, rid)["secret"] == "s3cret-word" and stored(ctx, rid)["at"] == "09:30:00+08:00"
    assert "s3cret-word" not in env["admin"].get(url).text
    assert "s3cret-word" not in env["admin"].get(f"/forms/{FORM}").text
    edit = env["admin"].get(url + "/edit").text
    assert "s3cret-word" not in edit and 'type="time"' in edit and 'value="09:30"' in edit
    # left empty on edit: the stored password stays
    r = post(env, url + "/edit", {"version": "1", "name": "钱七", "kind": "complaint", "target": "某物业公司",
                                  "at": "10:00", "_variant:contact:0": "0", "contact.phone": "13800000000"},
             follow_redirects=False)
    assert r.status_code == 303, r.text
    assert stored(ctx, rid)["secret"] == "s3cret-word" and stored(ctx, rid)["at"] == "10:00:00+08:00"


KV = {"id": "t_schema_kv", "title": "计数", "schema": {
    "type": "object", "properties": {"site": {"type": "string", "title": "地点"}},
    "patternProperties": {"^tag_": {"type": "string", "maxLength": 3}},
    "additionalProperties": {"type": "integer", "title": "数量"}}}


def test_key_value_editor_for_free_keys(ctx: Any, env: dict[str, Any]) -> None:
    publish(ctx, KV)
    url = f"/forms/{KV['id']}/new"
    page = env["admin"].get(url).text
    assert 'name="_add_row" value="_kv:_"' in page  # the editor, empty
    r = post(env, url, {"site": "东门", "_add_row": "_kv:_"})
    assert r.status_code == 200 and 'name="_kv:_[0].k"' in r.text and 'name="_kv:_[0].v"' in r.text
    # values typed by the schema their key falls under: integer (additionalProperties), text (pattern)
    r = post(env, url, {"site": "东门", "_kv:_[0].k": "bikes", "_kv:_[0].v": "many",
                        "_kv:_[1].k": "tag_a", "_kv:_[1].v": "toolong"})
    assert r.status_code == 422 and 'data-testid="error-_kv:_[0].v"' in r.text and "请输入整数" in r.text
    assert 'data-testid="error-_kv:_[1].v"' in r.text and 'value="toolong"' in r.text
    r = post(env, url, {"site": "东门", "_kv:_[0].k": "bikes", "_kv:_[0].v": "12",
                        "_kv:_[1].k": "tag_a", "_kv:_[1].v": "red", "_kv:_[2].k": "site", "_kv:_[2].v": "1"})
    assert r.status_code == 422 and 'data-testid="error-_kv:_[2].k"' in r.text  # a declared field's name
    r = post(env, url, {"site": "东门", "_kv:_[0].k": "bikes", "_kv:_[0].v": "12",
                        "_kv:_[1].k": "tag_a", "_kv:_[1].v": "red"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    rid = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    with ctx.db.session() as s:
        assert s.get(FormRecord, rid).data == {"site": "东门", "bikes": 12, "tag_a": "red"}
    edit = env["admin"].get(f"/forms/{KV['id']}/{rid}/edit").text
    assert 'value="bikes"' in edit and 'value="12"' in edit and 'value="red"' in edit  # the rows, for editing
    detail = env["admin"].get(f"/forms/{KV['id']}/{rid}").text
    assert "bikes" in detail and "tag_a" in detail and "已归档字段" not in detail


def test_anyof_of_const_and_title_is_a_labelled_select(ctx: Any) -> None:
    from ccms.forms.definition import load_definition
    from ccms.forms.render import render_form
    d = load_definition({"id": "t_anyof_enum", "title": "t", "schema": {"type": "object", "properties": {
        "level": {"type": "integer", "title": "等级",
                  "anyOf": [{"const": 1, "title": "一般"}, {"const": 2, "title": "紧急"}]}}}})
    out = str(render_form(ctx, d, {"level": 2}, {}, org_choices=[]))
    assert '<option value="2" selected>紧急</option>' in out and '<option value="1" >一般</option>' in out
    v = records.validator(ctx, d)
    assert v.from_post({"level": "2"}) == ({"level": 2}, {})
    assert v.from_post({"level": "3"})[1]["level"]["message"] == "请从列表中选择"
