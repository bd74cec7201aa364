"""Rendering a definition as an htmx form (core/forms/render.py), both backends:
widgets per type, layout sections, inline errors with the input kept, rules
evaluated server-side, add/remove rows, hidden and read-only fields, escaping."""

from __future__ import annotations

from typing import Any

from ccms.forms.definition import load_definition
from ccms.forms.render import apply_row_action, build, hidden_by_rules, render_form
from ccms.forms.validate import RecordValidator

WIDE: dict[str, Any] = {
    "id": "t_wide", "version": 1, "title": "全类型",
    "schema": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "title": "名称<b>粗</b>", "maxLength": 10},
        "memo": {"type": "string", "title": "说明", "x-ccms-type": "textarea"},
        "qty": {"type": "integer", "title": "数量", "minimum": 0},
        "ratio": {"type": "number", "title": "比例"},
        "price": {"type": "number", "title": "价格", "x-ccms-type": "money"},
        "ok": {"type": "boolean", "title": "合格"},
        "day": {"type": "string", "format": "date", "title": "日期"},
        "at": {"type": "string", "format": "date-time", "title": "时间"},
        "kind": {"type": "string", "title": "类别", "oneOf": [{"const": "a", "title": "甲"}, {"const": "b", "title": "乙"}]},
        "tags": {"type": "array", "title": "标签", "uniqueItems": True,
                 "items": {"oneOf": [{"const": "x", "title": "X标"}, {"const": "y", "title": "Y标"}]}},
        "org": {"type": "integer", "title": "机构", "minimum": 1, "x-ccms-type": "org"},
        "addr": {"type": "object", "title": "地址", "properties": {"city": {"type": "string", "title": "城市"}}},
        "items": {"type": "array", "title": "明细", "items": {"type": "object", "properties": {
            "what": {"type": "string", "title": "品名"}, "n": {"type": "integer", "title": "件数"}}}},
        "loc": {"type": "object", "title": "位置", "x-ccms-type": "geo_point", "required": ["lng", "lat"],
                "additionalProperties": False, "properties": {"lng": {"type": "number"}, "lat": {"type": "number"}}},
        "pic": {"type": "array", "title": "照片", "x-ccms-type": "image", "items": {"type": "object"}},
        "secret": {"type": "string", "title": "内部"},
        "why": {"type": "string", "title": "原因"}}},
    "ui": {"layout": [{"kind": "section", "id": "basic", "title": "基本信息", "items": ["name", "kind", "why"]}, "qty"],
           "fields": {"why": {"help": "选乙时填写", "rules": [{"effect": "show", "when": {"field": "kind", "op": "eq", "value": "b"}}]},
                      "memo": {"placeholder": "请填写"}}},
}


def d() -> Any:
    return load_definition(WIDE)


def html(ctx: Any, values: dict[str, Any] | None = None, errors: dict[str, Any] | None = None, **kw: Any) -> str:
    return str(render_form(ctx, d(), values or {}, errors or {}, org_choices=[(1, "市城管局", 0)], **kw))


def test_widgets_per_type(ctx: Any) -> None:
    out = html(ctx, {"name": "n", "ok": True, "tags": ["y"], "items": [{"what": "钉子", "n": 3}],
                     "loc": {"lng": 120.5, "lat": 31.3}, "at": "2024-05-01T09:30:00+08:00", "kind": "a", "org": 1})
    assert 'name="memo"' in out and "<textarea" in out and 'placeholder="请填写"' in out
    assert 'type="number" name="qty"' in out and 'step="1"' in out and 'min="0"' in out
    assert 'name="price"' in out and 'step="0.01"' in out
    assert 'type="checkbox" name="ok" value="1" checked' in out
    assert 'type="date" name="day"' in out and 'type="datetime-local" name="at" value="2024-05-01T09:30"' in out
    assert '<option value="a" selected>甲</option>' in out
    assert 'name="tags" value="y" checked' in out and 'name="tags" value="x" >' in out
    assert '<option value="1" selected>市城管局</option>' in out
    assert 'name="addr.city"' in out
    assert 'name="items[0].what" value="钉子"' in out and 'name="_add_row" value="items"' in out
    assert 'name="loc.lng" value="120.5"' in out and 'name="loc.lat" value="31.3"' in out
    assert 'type="file" name="pic" multiple' in out and 'data-testid="upload-pic"' in out  # see test_attachments


def test_layout_order_and_sections(ctx: Any) -> None:
    nodes = build(ctx, d(), {})
    assert nodes[0].kind == "section" and nodes[0].label == "基本信息"
    assert [c.name for c in nodes[0].children] == ["name", "kind"]  # why is hidden by its rule
    assert nodes[1].name == "qty" and nodes[2].name == "memo"


def test_rules_are_evaluated_on_rerender(ctx: Any) -> None:
    assert 'name="why"' not in html(ctx, {"kind": "a"})
    assert 'name="why"' in html(ctx, {"kind": "b"}) and "选乙时填写" in html(ctx, {"kind": "b"})
    assert hidden_by_rules(d(), {"kind": "a"}) == {"why"}


def test_errors_inline_and_input_kept(ctx: Any) -> None:
    v = RecordValidator(d().schema, ctx.field_types)
    post = [("name", "太长了太长了太长了太长了"), ("qty", "abc"), ("day", "2024/13/45"), ("items[0].what", "<i>x</i>"),
            ("items[0].n", "two"), ("loc.lng", "999"), ("loc.lat", "31")]
    data, errors = v.from_post(post)
    assert {"name", "qty", "day", "items[0].n", "loc"} <= set(errors)
    out = html(ctx, data, errors, raw=post)
    assert 'value="太长了太长了太长了太长了"' in out and 'name="qty" value="abc"' in out
    assert 'value="2024/13/45"' in out and 'name="items[0].n" value="two"' in out
    assert 'value="&lt;i&gt;x&lt;/i&gt;"' in out and "<i>x</i>" not in out
    assert 'data-testid="error-qty"' in out and 'data-testid="error-items[0].n"' in out
    assert 'data-testid="error-loc"' in out and 'name="loc.lng" value="999"' in out
    assert 'aria-invalid="true"' in out


def test_labels_typed_by_administrators_are_escaped(ctx: Any) -> None:
    out = html(ctx)
    assert "名称&lt;b&gt;粗&lt;/b&gt;" in out and "<b>粗</b>" not in out


def test_hidden_and_readonly(ctx: Any) -> None:
    out = html(ctx, {"secret": "机密值", "name": "n"}, hidden={"secret"}, readonly={"name"})
    assert "机密值" not in out and 'name="secret"' not in out
    assert 'name="name" value="n" maxlength="10" required disabled' in out


def test_add_and_remove_rows(ctx: Any) -> None:
    pairs, pressed = apply_row_action([("items[0].what", "a"), ("_add_row", "items")])
    assert pressed
    out = html(ctx, raw=pairs)
    assert 'name="items[0].what" value="a"' in out and 'name="items[1].what" value=""' in out
    pairs, pressed = apply_row_action([("items[0].what", "a"), ("items[1].what", "b"), ("_remove_row", "items[0]")])
    out = html(ctx, raw=pairs)
    assert 'name="items[0].what" value="a"' not in out and 'name="items[0].what" value="b"' in out
    assert apply_row_action([("name", "x")]) == ([("name", "x")], False)
