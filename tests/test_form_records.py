"""Form records service (core/forms/records.py), both backends: validation with
the published definition (nothing written on error), history and audit per
change, optimistic locking, soft delete/restore, SQL list (search, filters,
sort, paging, count), row scope, and five definition versions."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, select
from test_orgs import districts, make_person, root_id

from ccms.audit import Actor
from ccms.errors import Conflict, NotFound, ValidationFailed
from ccms.forms import records, store
from ccms.forms.models import FormRecord, FormRecordHistory
from ccms.models import AuditLog

ADMIN = Actor(1, "管理员", "127.0.0.1")

COMPLAINT: dict[str, Any] = {
    "id": "t_complaint", "version": 1, "title": {"zh-CN": "投诉登记", "en": "Complaint"},
    "schema": {"type": "object", "required": ["subject"], "additionalProperties": False, "properties": {
        "subject": {"type": "string", "title": "事项", "maxLength": 20},
        "category": {"type": "string", "title": "类别", "oneOf": [{"const": "road", "title": "道路"},
                                                                  {"const": "green", "title": "绿化"}]},
        "amount": {"type": "number", "title": "金额", "minimum": 0},
        "happened": {"type": "string", "format": "date", "title": "发生日期"},
        "phone": {"type": "string", "format": "phone", "title": "电话"},
        "note": {"type": "string", "title": "备注"}}},
    "list": {"columns": ["subject", "category", "_created_at"], "filters": ["category"], "sort": "-_created_at"},
    "permissions": {"fields": {"note": {"hidden_for": ["viewer"], "readonly_for": ["clerk"]}}},
}


def publish(ctx: Any, definition: dict[str, Any]) -> int:
    with ctx.db.session() as s:
        row = store.save_draft(s, ADMIN, definition)
        store.publish(s, ADMIN, definition["id"], row.version)
        return row.version


def counts(ctx: Any) -> tuple[int, int, int]:
    with ctx.db.session() as s:
        return (s.scalar(select(func.count()).select_from(FormRecord)) or 0,
                s.scalar(select(func.count()).select_from(FormRecordHistory)) or 0,
                s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("form_record.%"))) or 0)


@pytest.fixture
def form(ctx: Any) -> dict[str, int]:
    publish(ctx, COMPLAINT)
    return districts(ctx)


def new(ctx: Any, org: int, **data: Any) -> int:
    with ctx.db.session() as s:
        return records.create(s, ADMIN, ctx, "t_complaint", data, org).id


def test_create_update_history_audit(ctx: Any, form: dict[str, int]) -> None:
    rid = new(ctx, form["a"], subject="路灯不亮", category="road", amount=12.5)
    with ctx.db.session() as s:
        row = records.get(s, "t_complaint", rid)
        assert (row.def_version, row.version, row.org_id) == (1, 1, form["a"])
        records.update(s, ADMIN, ctx, "t_complaint", rid, {"subject": "路灯不亮", "category": "green"}, 1)
    with ctx.db.session() as s:
        row = records.get(s, "t_complaint", rid)
        assert row.data == {"subject": "路灯不亮", "category": "green"} and row.version == 2
        h = records.history(s, rid)
        assert [x.action for x in h] == ["create", "update"]
        assert h[1].changes == {"before": {"category": "road", "amount": 12.5}, "after": {"category": "green"}}
        assert h[1].actor_name == "管理员"
    assert counts(ctx) == (1, 2, 2)


@pytest.mark.parametrize("data, field", [
    ({"subject": 123}, "subject"),                                  # wrong type
    ({"subject": "长" * 21}, "subject"),                             # too long
    ({"subject": "x", "category": "sky"}, "category"),              # outside the enum
    ({"subject": "x", "happened": "2024/05/01"}, "happened"),       # bad date
    ({"category": "road"}, "subject"),                              # missing required
    ({"subject": "x", "amount": "lots"}, "amount"),                 # wrong type (number)
    ({"subject": "x", "phone": "12"}, "phone"),                     # bad phone
    ({"subject": "x", "ghost": 1}, "_"),                            # unknown field
])
def test_bad_input_refused_nothing_written(ctx: Any, form: dict[str, int], data: dict[str, Any], field: str) -> None:
    with ctx.db.session() as s, pytest.raises(ValidationFailed) as exc:
        records.create(s, ADMIN, ctx, "t_complaint", data, form["a"])
    assert field in (exc.value.fields or {}) or (field == "_" and exc.value.fields)
    assert counts(ctx) == (0, 0, 0)


def test_bad_update_and_bad_org_refused(ctx: Any, form: dict[str, int]) -> None:
    rid = new(ctx, form["a"], subject="x")
    with ctx.db.session() as s, pytest.raises(ValidationFailed):
        records.update(s, ADMIN, ctx, "t_complaint", rid, {"subject": "长" * 21}, 1)
    with ctx.db.session() as s, pytest.raises(ValidationFailed) as exc:
        records.create(s, ADMIN, ctx, "t_complaint", {"subject": "x"}, 999999)
    assert "_org" in exc.value.fields
    with ctx.db.session() as s, pytest.raises(ValidationFailed):
        records.create(s, ADMIN, ctx, "t_complaint", ["not", "an", "object"], form["a"])
    assert counts(ctx) == (1, 1, 1)
    with ctx.db.session() as s:
        assert records.get(s, "t_complaint", rid).data == {"subject": "x"}


def test_html_is_stored_as_typed(ctx: Any, form: dict[str, int]) -> None:
    rid = new(ctx, form["a"], subject="<script>x</script>")
    with ctx.db.session() as s:
        assert records.get(s, "t_complaint", rid).data["subject"] == "<script>x</script>"


def test_stale_version_is_a_conflict(ctx: Any, form: dict[str, int]) -> None:
    rid = new(ctx, form["a"], subject="x")
    with ctx.db.session() as s:
        records.update(s, ADMIN, ctx, "t_complaint", rid, {"subject": "y"}, 1)
    with ctx.db.session() as s, pytest.raises(Conflict) as exc:
        records.update(s, ADMIN, ctx, "t_complaint", rid, {"subject": "z"}, 1)
    assert exc.value.status == 409
    with ctx.db.session() as s, pytest.raises(Conflict):
        records.delete(s, ADMIN, "t_complaint", rid, 1)
    with ctx.db.session() as s:
        assert records.get(s, "t_complaint", rid).data == {"subject": "y"}


def test_keep_protects_fields(ctx: Any, form: dict[str, int]) -> None:
    rid = new(ctx, form["a"], subject="x", note="内部")
    with ctx.db.session() as s:
        records.update(s, ADMIN, ctx, "t_complaint", rid, {"subject": "y", "note": "改了"}, 1, keep=["note"])
        records.update(s, ADMIN, ctx, "t_complaint", rid, {"subject": "z"}, 2, keep=["note"])
    with ctx.db.session() as s:
        assert records.get(s, "t_complaint", rid).data == {"subject": "z", "note": "内部"}


def test_soft_delete_and_restore(ctx: Any, form: dict[str, int]) -> None:
    rid = new(ctx, form["a"], subject="x")
    with ctx.db.session() as s:
        records.delete(s, ADMIN, "t_complaint", rid, 1)
    with ctx.db.session() as s:
        with pytest.raises(NotFound):
            records.get(s, "t_complaint", rid)
        row = records.get(s, "t_complaint", rid, deleted=True)
        assert row.deleted_by == 1 and row.deleted_at is not None
        d = records.published(s, "t_complaint")
        assert records.list_records(s, ctx, d, records.Query())[1] == 0
        assert records.list_records(s, ctx, d, records.Query(deleted=True))[1] == 1
        records.restore(s, ADMIN, "t_complaint", rid, row.version)
    with ctx.db.session() as s:
        assert records.get(s, "t_complaint", rid).deleted_at is None
        assert [h.action for h in records.history(s, rid)] == ["create", "delete", "restore"]


def test_unpublished_or_unknown_form(ctx: Any, form: dict[str, int]) -> None:
    with ctx.db.session() as s, pytest.raises(NotFound):
        records.create(s, ADMIN, ctx, "nope", {"subject": "x"}, form["a"])
    rid = new(ctx, form["a"], subject="x")
    with ctx.db.session() as s, pytest.raises(NotFound):
        records.get(s, "other_form", rid)


def test_list_search_filter_sort_page(ctx: Any, form: dict[str, int]) -> None:
    for i in range(7):
        new(ctx, form["a"], subject=f"事项{i} 100%", category="road" if i % 2 else "green", amount=i * 10)
    new(ctx, form["a"], subject="其它_x", note="井盖")
    with ctx.db.session() as s:
        d = records.published(s, "t_complaint")

        def ids(**kw: Any) -> tuple[list[Any], int]:
            rows, total = records.list_records(s, ctx, d, records.Query(**kw))
            return [r.data.get("amount") for r in rows], total

        assert ids(filters={"category": "road"})[1] == 3
        assert ids(filters={"amount": {"min": 20, "max": 40}}, sort="amount") == ([20, 30, 40], 3)
        assert ids(sort="-amount", page=2, page_size=3) == ([30, 20, 10], 8)
        assert ids(q="100%")[1] == 7
        assert ids(q="_x")[1] == 1  # LIKE wildcards are literal
        assert ids(q="井盖")[1] == 1
        _, total = records.list_records(s, ctx, d, records.Query(q="井盖"), hidden={"note"})
        assert total == 0  # a hidden field cannot be searched
        with pytest.raises(ValidationFailed):
            records.list_records(s, ctx, d, records.Query(filters={"note": "井盖"}), hidden={"note"})
        with pytest.raises(ValidationFailed):
            records.list_records(s, ctx, d, records.Query(filters={"ghost": "1"}))
        with pytest.raises(ValidationFailed):
            records.list_records(s, ctx, d, records.Query(filters={"amount": {"min": "abc"}}))
        assert ids(filters={"_org": str(form["a"])})[1] == 8
        today = records.utcnow().date().isoformat()
        assert ids(filters={"_created_at": {"min": today, "max": today}})[1] == 8
        assert ids(filters={"_created_at": "2000-01-01"})[1] == 0
        with pytest.raises(ValidationFailed):
            records.list_records(s, ctx, d, records.Query(filters={"_created_at": {"min": "yesterday"}}))


def test_row_scope(ctx: Any, form: dict[str, int]) -> None:
    new(ctx, form["a1u"], subject="a1u")
    new(ctx, form["a"], subject="a")
    new(ctx, form["b"], subject="b")
    pid = make_person(ctx, "clerk_a1", form["a1"], role="admin")
    with ctx.db.session() as s:
        d = records.published(s, "t_complaint")
        from ccms.services.orgs import domain_paths

        class U:
            id, via, token_scopes = pid, "session", None
        paths = domain_paths(ctx, s, U(), "core.orgs.view")
        rows, total = records.list_records(s, ctx, d, records.Query(), paths=paths)
        assert [r.data["subject"] for r in rows] == ["a1u"] and total == 1
        assert records.list_records(s, ctx, d, records.Query(), paths=[])[1] == 0
        assert records.list_records(s, ctx, d, records.Query(), paths=None)[1] == 3


def test_five_versions_records_still_display(ctx: Any) -> None:
    """v1 {title, remark, old}; v2 adds size; v3 renames remark→note; v4 removes
    old; v5 renames note→comment and title→name. A record at each version shows."""
    org = root_id(ctx)
    base = {"id": "t_evo", "version": 1, "title": "演进", "schema": {"type": "object", "properties": {
        "title": {"type": "string", "title": "标题"}, "remark": {"type": "string", "title": "备注"},
        "old": {"type": "string", "title": "旧字段"}}}}
    steps: list[dict[str, Any]] = [copy.deepcopy(base)]
    v2 = copy.deepcopy(base)
    v2["schema"]["properties"]["size"] = {"type": "integer", "title": "大小"}
    steps.append(v2)
    v3 = copy.deepcopy(v2)
    v3["schema"]["properties"]["note"] = v3["schema"]["properties"].pop("remark")
    v3["renames"] = {"remark": "note"}
    steps.append(v3)
    v4 = copy.deepcopy(v3)
    del v4["schema"]["properties"]["old"]
    v4.pop("renames")
    steps.append(v4)
    v5 = copy.deepcopy(v4)
    props = v5["schema"]["properties"]
    props["comment"] = props.pop("note")
    props["name"] = props.pop("title")
    v5["renames"] = {"note": "comment", "title": "name"}
    steps.append(v5)
    samples = [{"title": "一", "remark": "r1", "old": "o1"}, {"title": "二", "remark": "r2", "old": "o2", "size": 2},
               {"title": "三", "note": "n3", "old": "o3", "size": 3}, {"title": "四", "note": "n4", "size": 4},
               {"name": "五", "comment": "c5", "size": 5}]
    ids = []
    for definition, data in zip(steps, samples):
        publish(ctx, definition)
        with ctx.db.session() as s:
            ids.append(records.create(s, ADMIN, ctx, "t_evo", data, org).id)
    with ctx.db.session() as s:
        d = records.published(s, "t_evo")
        shown = []
        for rid in ids:
            row = records.get(s, "t_evo", rid)
            up = records.upgrade(s, "t_evo", row.data, row.def_version, d, 5)
            shown.append((row.def_version, up.data, up.archived, up.archived_labels))
    assert shown == [
        (1, {"name": "一", "comment": "r1"}, {"old": "o1"}, {"old": "旧字段"}),
        (2, {"name": "二", "comment": "r2", "size": 2}, {"old": "o2"}, {"old": "旧字段"}),
        (3, {"name": "三", "comment": "n3", "size": 3}, {"old": "o3"}, {"old": "旧字段"}),
        (4, {"name": "四", "comment": "n4", "size": 4}, {}, {}),
        (5, {"name": "五", "comment": "c5", "size": 5}, {}, {}),
    ]
    # editing a v1 record saves it under v5, archived values kept in the row
    with ctx.db.session() as s:
        records.update(s, ADMIN, ctx, "t_evo", ids[0], {"name": "一改", "comment": "r1"}, 1)
    with ctx.db.session() as s:
        row = records.get(s, "t_evo", ids[0])
        assert row.def_version == 5 and row.data == {"old": "o1", "name": "一改", "comment": "r1"}


def test_search_ignores_case_on_both_backends(ctx: Any, form: dict[str, int]) -> None:
    new(ctx, form["a"], subject="Street LAMP")
    with ctx.db.session() as s:
        d = records.published(s, "t_complaint")
        assert records.list_records(s, ctx, d, records.Query(q="lamp"))[1] == 1
        assert records.list_records(s, ctx, d, records.Query(q="street l"))[1] == 1
