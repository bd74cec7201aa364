"""Defect 11 (issue 10): broken form definitions must not publish.

A computed field's expression is checked whenever a definition is saved,
imported or published, with the JSON path of the fault and a message in
Chinese and English; before, ``open('/etc/passwd').read()`` saved and
published and then every create failed. Flow conditions were already
checked at load: the last test shows they still are.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, select
from test_form_records import ADMIN

from ccms.forms import designer, store
from ccms.forms.definition import DefinitionError, content_hash
from ccms.forms.models import FormDef

EVIL = "open('/etc/passwd').read()"


def order_form(expr: str = "qty * price", row_expr: str = "qty * price") -> dict[str, Any]:
    return {
        "id": "t_order", "version": 1, "title": {"zh-CN": "订单", "en": "Order"},
        "schema": {"type": "object", "properties": {
            "qty": {"type": "integer", "title": "数量"},
            "price": {"type": "number", "title": "单价"},
            "total": {"type": "number", "title": "合计", "x-ccms-type": "computed", "x-ccms-expr": expr,
                      "readOnly": True},
            "lines": {"type": "array", "title": "明细", "items": {"type": "object", "properties": {
                "qty": {"type": "integer", "title": "数量"},
                "price": {"type": "number", "title": "单价"},
                "amount": {"type": "number", "title": "金额", "x-ccms-type": "computed", "x-ccms-expr": row_expr,
                           "readOnly": True}}}}}}}


def versions(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(FormDef).where(FormDef.form_id == "t_order")) or 0


TOP = "$.schema.properties.total.x-ccms-expr"
ROW = "$.schema.properties.lines.items.properties.amount.x-ccms-expr"


@pytest.mark.parametrize("expr,row_expr,path,zh", [
    (EVIL, "qty * price", TOP, "不允许的写法"),
    ("__import__('os')", "qty * price", TOP, "未知函数"),
    ("qty * cost", "qty * price", TOP, "不存在的字段“cost”"),
    ("qty *", "qty * price", TOP, "语法错误"),
    ("", "qty * price", TOP, "为空"),
    ("qty * price", "qty * discount", ROW, "不存在的字段“discount”"),
    ("sum(lines, \"weight\")", "qty * price", TOP, "不存在的字段“weight”"),
])
def test_bad_expressions_are_refused_at_save_with_their_path(ctx: Any, expr: str, row_expr: str, path: str,
                                                             zh: str) -> None:
    with ctx.db.session() as s, pytest.raises(DefinitionError) as caught:
        store.save_draft(s, ADMIN, order_form(expr, row_expr))
    err = caught.value
    assert err.path == path and zh in err.zh and "expression" in err.en
    assert path in err.en and path in err.zh and err.fields == {path: {"message": err.reason_zh,
                                                                       "message_en": err.reason_en}}
    assert versions(ctx) == 0


def test_good_expressions_save_and_rows_see_top_level_fields(ctx: Any) -> None:
    with ctx.db.session() as s:
        store.save_draft(s, ADMIN, order_form("sum(lines, \"amount\") + qty", "qty * price + price"))
    assert versions(ctx) == 1


def test_api_import_refuses_the_evil_expression_with_the_path(admin: Any, ctx: Any) -> None:
    r = admin.api("POST", "/api/form-defs", json=order_form(EVIL))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "form_definition_invalid" and TOP in err["fields"]
    assert "不允许的写法" in err["message"] and "not allowed" in err["message_en"]
    assert versions(ctx) == 0


def test_a_stored_broken_version_cannot_be_published(admin: Any, ctx: Any) -> None:
    """A version written before this check (or behind the store's back) is
    refused at publish and stays a draft; records can then not be created
    against it, instead of every create failing with 400."""
    with ctx.db.session() as s:
        row = store.save_draft(s, ADMIN, order_form())
        broken = copy.deepcopy(row.definition)
        broken["schema"]["properties"]["total"]["x-ccms-expr"] = EVIL
        row.definition = broken
        row.content_hash = content_hash(broken)
    r = admin.api("POST", "/api/form-defs/t_order/publish", json={"version": 1})
    assert r.status_code == 422, r.text
    assert TOP in r.json()["error"]["fields"]
    with ctx.db.session() as s:
        assert store.get_published(s, "t_order") is None
    assert admin.api("POST", "/api/forms/t_order/records", json={"data": {"qty": 1}}).status_code == 404


def test_designer_working_copy_may_hold_an_unwritten_expression_but_not_save_it(ctx: Any) -> None:
    base = order_form()
    draft = designer.add_field(base, "bonus", "computed", "奖励", field_types=ctx.field_types)
    assert draft["schema"]["properties"]["bonus"]["x-ccms-expr"] == ""
    with ctx.db.session() as s, pytest.raises(DefinitionError) as caught:
        store.save_draft(s, ADMIN, draft)
    assert caught.value.path == "$.schema.properties.bonus.x-ccms-expr"
    evil = copy.deepcopy(draft)
    evil["schema"]["properties"]["bonus"]["x-ccms-expr"] = EVIL
    with pytest.raises(DefinitionError):
        designer.checked(evil)  # a written expression is checked in the working copy too


def test_flow_condition_with_python_is_refused_with_its_path(admin: Any) -> None:
    doc = admin.api("GET", "/api/flows/simple_approval/versions/1").json()["definition"]
    t = next(i for i, tr in enumerate(doc["transitions"]) if tr.get("condition"))
    doc["transitions"][t]["condition"] = EVIL
    r = admin.api("POST", "/api/flows/validate", json=doc)
    problems = r.json()
    text = str(problems)
    assert f"$.transitions[{t}].condition" in text and "不允许的写法" in text, text[:500]
