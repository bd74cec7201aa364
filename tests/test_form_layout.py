"""UI-schema layout (core/forms/render.py, forms/_fields_layout.html, core/forms/widgets_detail.py),
both backends: sections, 2–3 columns (CSS grid classes, never inline styles), CSS-only tabs
(radio buttons that are never posted; the tab holding an error is marked and opened on
re-show), the same layout on detail screens; show/hide rules and computed fields inside
repeating-group rows."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_form_records import publish
from test_orgs import PASSWORD, districts, make_person
from test_roles import make_role

from ccms.forms.definition import load_definition
from ccms.forms.render import build, hidden_by_rules, render_form
from ccms.forms.validate import RecordValidator

FORM = "t_layout"
LAYOUT: dict[str, Any] = {
    "id": FORM, "version": 1, "title": "巡查记录",
    "schema": {"type": "object", "required": ["title", "inspector"], "additionalProperties": False, "properties": {
        "title": {"type": "string", "title": "标题", "maxLength": 20},
        "day": {"type": "string", "format": "date", "title": "日期"},
        "level": {"type": "integer", "title": "等级", "minimum": 1, "maximum": 3},
        "inspector": {"type": "string", "title": "巡查员", "maxLength": 10},
        "team": {"type": "string", "title": "班组"},
        "note": {"type": "string", "title": "备注", "x-ccms-type": "textarea"},
        "items": {"type": "array", "title": "问题明细", "items": {"type": "object", "properties": {
            "kind": {"type": "string", "title": "类型", "oneOf": [{"const": "ok", "title": "正常"},
                                                                 {"const": "bad", "title": "异常"}]},
            "reason": {"type": "string", "title": "异常原因", "maxLength": 30},
            "qty": {"type": "integer", "title": "数量"},
            "price": {"type": "number", "title": "单价"},
            "total": {"type": "number", "title": "小计", "x-ccms-type": "computed", "x-ccms-expr": "qty * price",
                      "readOnly": True}}, "required": ["reason"]}},
        "sum": {"type": "number", "title": "合计", "x-ccms-type": "computed", "x-ccms-expr": "sum(items, \"total\")",
                "readOnly": True}}},
    "ui": {"layout": [
        {"kind": "columns", "id": "head", "items": [
            {"kind": "column", "items": ["title", "day"]}, {"kind": "column", "items": ["level"]},
            {"kind": "column", "items": ["team"]}]},
        {"kind": "tabs", "id": "body", "items": [
            {"kind": "tab", "id": "who", "title": "人员", "items": ["inspector"]},
            {"kind": "tab", "id": "what", "title": "明细", "items": ["items", "sum"]},
            {"kind": "tab", "id": "more", "title": "其他", "items": ["note"]}]}],
        "fields": {"items.reason": {"rules": [{"effect": "show",
                                                "when": {"field": "items.kind", "op": "eq", "value": "bad"}}]}}},
}


def d() -> Any:
    return load_definition(LAYOUT)


def html(ctx: Any, values: dict[str, Any] | None = None, errors: dict[str, Any] | None = None, **kw: Any) -> str:
    return str(render_form(ctx, d(), values or {}, errors or {}, org_choices=[(1, "市城管局", 0)], **kw))


def test_columns_are_grid_classes_without_inline_styles(ctx: Any) -> None:
    out = html(ctx)
    assert 'class="form-columns cols-3"' in out and out.count('class="form-column"') == 3
    assert " style=" not in out and "<style" not in out and "<script" not in out  # the CSP allows neither
    two = dict(LAYOUT, ui={"layout": [{"kind": "columns", "items": ["title", "day"]}]})
    assert 'class="form-columns cols-2"' in str(render_form(ctx, load_definition(two), {}, {}))
    many = dict(LAYOUT, ui={"layout": [{"kind": "columns", "items": [
        {"kind": "column", "items": [n]} for n in ("title", "day", "level", "team")]}]})
    assert 'cols-3' in str(render_form(ctx, load_definition(many), {}, {}))  # at most three on a desktop


def test_css_has_one_column_on_a_phone() -> None:
    from ccms.web.render import THEMES_DIR
    css = (THEMES_DIR / "default" / "static" / "ccms.css").read_text(encoding="utf-8")
    assert re.search(r"\.form-columns \{[^}]*grid-template-columns:minmax\(0, 1fr\)", css)
    assert re.search(r"@media \(min-width: 761px\) \{\s*\.form-columns\.cols-2", css)
    assert ".tab-radio:checked + .tab-label + .tab-panel { display:block; }" in css
    assert ".tab-radio:focus-visible + .tab-label" in css  # keyboard focus is visible


def test_tabs_are_radio_buttons_outside_the_form_first_open(ctx: Any) -> None:
    out = html(ctx)
    radios = re.findall(r'<input type="radio" class="tab-radio" form="ccms-no-form" name="([^"]+)" id="([^"]+)"[^>]*>',
                        out)
    assert len(radios) == 3 and len({n for n, _ in radios}) == 1  # one group: arrow keys move between tabs
    assert re.search(r'data-testid="tab-radio-who" checked', out.replace('value="0"', "").replace("  ", " ")) or \
        re.search(r'id="[^"]+" value="0" checked', out)
    for _name, rid in radios:
        assert f'<label for="{rid}" class="tab-label' in out
    assert 'data-testid="tab-panel-what"' in out and "tab-error" not in out


def test_tab_with_an_error_is_marked_and_opened_on_reshow(ctx: Any) -> None:
    v = RecordValidator(d().schema, ctx.field_types)
    post = [("title", "巡查"), ("items[0].kind", "bad"), ("items[0].qty", "x")]
    data, errors = v.from_post(post)
    assert "inspector" in errors and "items[0].qty" in errors
    nodes = build(ctx, d(), data, errors, raw=post)
    tabs = nodes[1].children
    assert [t.has_error for t in tabs] == [True, True, False]
    assert [t.checked for t in tabs] == [True, False, False]  # the first tab holding an error
    post2 = [("title", "巡查"), ("inspector", "老王"), ("items[0].kind", "bad"), ("items[0].qty", "x")]
    data, errors = v.from_post(post2)
    out = html(ctx, data, errors, raw=post2)
    assert re.search(r'value="1" checked data-testid="tab-radio-what"', out)
    assert re.search(r'class="tab-label tab-error" data-testid="tab-what"', out) and "此页有错误" in out
    assert 'class="tab-label" data-testid="tab-who"' in out


def test_rules_inside_group_rows_use_that_rows_values(ctx: Any) -> None:
    values = {"items": [{"kind": "ok"}, {"kind": "bad", "reason": "破损"}]}
    out = html(ctx, values)
    assert 'name="items[0].reason"' not in out and 'name="items[1].reason" value="破损"' in out
    assert hidden_by_rules(d(), values) == {"items[0].reason"}


def test_computed_fields_in_rows_shown_on_reshow(ctx: Any) -> None:
    v = RecordValidator(d().schema, ctx.field_types)
    post = [("items[0].kind", "ok"), ("items[0].qty", "2"), ("items[0].price", "3.5"),
            ("items[1].kind", "ok"), ("items[1].qty", "1"), ("items[1].price", "1")]
    data, errors = v.from_post(post)
    assert data["items"][0]["total"] == 7 and data["sum"] == 8
    out = html(ctx, data, errors, raw=post)
    assert re.search(r'name="items\[0\]\.total" value="7"[^>]*disabled', out)
    assert re.search(r'name="sum" value="8"[^>]*disabled', out)
    # an empty row in between is dropped by the validator; the rows after it still line up
    post = [("items[0].qty", "2"), ("items[0].price", "2"), ("items[1]._row", ""),
            ("items[2].qty", "5"), ("items[2].price", "1")]
    data, errors = v.from_post(post)
    out = html(ctx, data, errors, raw=post)
    assert re.search(r'name="items\[2\]\.total" value="5"', out) and re.search(r'name="items\[0\]\.total" value="4"', out)


@pytest.fixture
def env(ctx: Any, client_for: Any) -> dict[str, Any]:
    publish(ctx, LAYOUT)
    orgs = districts(ctx)
    make_role(ctx, "clerk", [f"form.{FORM}.{a}" for a in ("list", "read", "create", "update")])
    make_person(ctx, "clerk_a", orgs["a"], role="clerk")
    return {"orgs": orgs, "clerk": client_for("clerk_a", PASSWORD)}


def test_screen_reshows_the_errored_tab_and_saves_rows_with_rules(env: dict[str, Any]) -> None:
    clerk, a = env["clerk"], str(env["orgs"]["a"])
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": a, "title": "巡查", "items[0].kind": "bad",
                                          "items[0].qty": "2", "items[0].price": "3"}, follow_redirects=False)
    assert r.status_code == 422  # the inspector is missing; the row's reason is required when shown
    assert re.search(r'value="0" checked data-testid="tab-radio-who"', r.text)
    assert 'data-testid="error-inspector"' in r.text and 'data-testid="error-items[0].reason"' in r.text
    assert " style=" not in r.text
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": a, "title": "巡查", "inspector": "老王", "level": "2",
                                          "team": "一班",
                                          "items[0].kind": "ok", "items[0].qty": "2", "items[0].price": "3"},
                   follow_redirects=False)
    assert r.status_code == 303, r.text  # reason hidden by the row's rule: not required
    detail = clerk.get(r.headers["location"].split("?")[0]).text
    assert 'class="form-columns cols-3"' in detail and 'data-testid="tabs-body"' in detail
    assert re.search(r'data-testid="value-inspector">老王<', detail)
    assert re.search(r'data-testid="value-items\[0\]\.total">6<', detail)
    assert re.search(r'data-testid="value-sum">6<', detail)
    assert " style=" not in detail
