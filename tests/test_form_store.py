"""Definition versions in the database (both backends): draft, publish,
unpublish, diff, export/import, sync from files; the tables match the models."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from ccms.app import App
from ccms.audit import Actor
from ccms.errors import Conflict, NotFound
from ccms.forms import store
from ccms.forms.definition import DefinitionError
from ccms.forms.models import FormDef, FormRecord, FormRecordHistory
from ccms.forms.registry import FormRegistry, Layer
from ccms.models import AuditLog

EXAMPLES = Path(__file__).parent / "form_examples"
ADMIN = Actor(1, "管理员", "127.0.0.1")


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def count(ctx: App, model: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _table_of(diff: Any) -> str:
    """The table an autogenerate difference is about."""
    if isinstance(diff, list):  # modify_* entries: [(kind, schema, table, column, ...)]
        return str(diff[0][2])
    if diff[0] in ("add_column", "remove_column"):
        return str(diff[2])
    obj = diff[1]
    table = getattr(obj, "table", None)
    return str(getattr(table, "name", None) or getattr(obj, "name", ""))


def test_migration_creates_exactly_the_model_tables(ctx: App) -> None:
    import ccms.models  # noqa: F401  (core's tables, for the foreign keys)
    from ccms.db import Base
    with ctx.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if _table_of(d).startswith("core_form")] == []
    assert {FormDef.__tablename__, FormRecord.__tablename__, FormRecordHistory.__tablename__} <= set(Base.metadata.tables)


def test_versions_save_publish_unpublish(ctx: App) -> None:
    d1 = example("registration")
    d2 = copy.deepcopy(d1)
    d2["schema"]["properties"]["email"] = {"type": "string", "format": "email", "title": "邮箱"}
    with ctx.db.session() as s:
        r1 = store.save_draft(s, ADMIN, d1, note="初版")
        r2 = store.save_draft(s, ADMIN, d2)
        assert (r1.version, r2.version, r1.status) == (1, 2, "draft")
        assert store.get_published(s, "ex_registration") is None
        store.publish(s, ADMIN, "ex_registration", 1)
        assert store.get_published(s, "ex_registration").fields.keys() == store.definition_of(r1).fields.keys()
    with ctx.db.session() as s:
        store.publish(s, ADMIN, "ex_registration", 2)
        pub = store.get_published(s, "ex_registration")
        assert "email" in pub.fields
        assert [(v["version"], v["status"]) for v in store.list_versions(s, "ex_registration")] == [
            (2, "published"), (1, "archived")]
        store.publish(s, ADMIN, "ex_registration", 1)  # back to the first: the second is archived
        assert [v["status"] for v in store.list_versions(s, "ex_registration")] == ["archived", "published"]
    with ctx.db.session() as s:
        store.unpublish(s, ADMIN, "ex_registration")
        assert store.get_published(s, "ex_registration") is None
        with pytest.raises(NotFound):
            store.unpublish(s, ADMIN, "ex_registration")
        assert store.form_ids(s) == ["ex_registration"]
    with ctx.db.session() as s:
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.object_type == "form_def").order_by(AuditLog.id)))
    assert actions == ["form.save_draft", "form.save_draft", "form.publish", "form.archive", "form.publish",
                       "form.archive", "form.publish", "form.unpublish"]


def test_stale_lock_version_is_a_conflict_and_changes_nothing(ctx: App) -> None:
    with ctx.db.session() as s:
        row = store.save_draft(s, ADMIN, example("address"))
        lock = row.lock_version
    with ctx.db.session() as s:
        store.publish(s, ADMIN, "ex_address", 1, lock_version=lock)
    with pytest.raises(Conflict):
        with ctx.db.session() as s:
            store.unpublish(s, ADMIN, "ex_address", lock_version=lock)  # read before the publish
    with ctx.db.session() as s:
        assert store.published_row(s, "ex_address") is not None
        with pytest.raises(NotFound):
            store.publish(s, ADMIN, "ex_address", 9)


def test_invalid_definition_is_not_saved(ctx: App) -> None:
    bad = example("address")
    bad["ui"]["fields"]["post_office_box"]["rules"][0]["when"]["field"] = "ghost"
    with pytest.raises(DefinitionError) as info:
        with ctx.db.session() as s:
            store.save_draft(s, ADMIN, bad)
    assert info.value.path == "$.ui.fields.post_office_box.rules[0].when.field"
    assert count(ctx, FormDef) == 0


def test_diff_names_fields_added_removed_renamed_changed(ctx: App) -> None:
    v1 = example("health_record")
    v2 = copy.deepcopy(v1)
    props = v2["schema"]["properties"]
    props["full_name"] = props.pop("patient_name")
    props["full_name"]["maxLength"] = 80
    v2["schema"]["required"] = ["full_name", "date_of_birth", "blood_type", "id_number"]
    del props["medications"]
    props["height_cm"] = {"type": "integer", "title": "身高（厘米）", "minimum": 30}
    props["blood_type"]["enum"] = ["A", "B", "AB", "O", "RH-"]
    props["emergency_contact"]["properties"]["relation"] = {"type": "string", "title": "关系"}
    v2["renames"] = {"patient_name": "full_name"}
    v2["ui"]["layout"] = ["full_name", "id_number", "date_of_birth", "blood_type", "height_cm"]
    v2["list"]["columns"] = ["full_name", "blood_type"]
    v2["title"] = {"zh-CN": "居民健康档案", "en": "Health record"}
    with ctx.db.session() as s:
        store.save_draft(s, ADMIN, v1)
        store.save_draft(s, ADMIN, v2)
        changes = store.diff_versions(s, "ex_health_record", 1, 2)
    by = {(c.kind, c.field, c.path) for c in changes}
    assert ("renamed", "patient_name", "$.schema.properties.patient_name") in by
    assert ("removed", "medications", "$.schema.properties.medications") in by
    assert ("added", "height_cm", "$.schema.properties.height_cm") in by
    assert ("added", "emergency_contact.relation",
            "$.schema.properties.emergency_contact.properties.relation") in by
    assert ("changed", "full_name", "$.schema.properties.full_name.maxLength") in by
    assert ("changed", "blood_type", "$.schema.properties.blood_type.enum") in by
    assert ("changed", "id_number", "$.schema.required") in by
    texts = [c.zh for c in changes]
    assert "字段 姓名（patient_name）改名为 full_name" in texts
    assert "删除字段 用药（medications）" in texts and "新增字段 身高（厘米）（height_cm）" in texts
    assert "字段 姓名（full_name）的 maxLength 由 50 改为 80" in texts
    assert "字段 身份证号（id_number）改为必填" in texts
    assert "表单标题由 健康档案 改为 居民健康档案" in texts
    assert any(c.path == "$.list.columns" for c in changes)
    assert not [c for c in changes if c.field == "full_name" and c.kind in ("added", "removed")]
    assert store.diff(v1, v1) == []
    assert all(set(c.as_dict()) == {"kind", "path", "field", "before", "after", "zh", "en"} for c in changes)


def test_export_import_round_trip(ctx: App) -> None:
    with ctx.db.session() as s:
        store.save_draft(s, ADMIN, example("references"))
        store.publish(s, ADMIN, "ex_references", 1)
        text = store.export_json(s, "ex_references")
    assert json.loads(text) == example("references") and "账单地址" in text  # readable Chinese, not \\u escapes
    with ctx.db.session() as s:
        row = store.import_json(s, ADMIN, text.encode("utf-8"), note="从文件导入")
        assert (row.version, row.status, row.source, row.note) == (2, "draft", "import", "从文件导入")
        assert store.diff_versions(s, "ex_references", 1, 2) == []
        assert json.loads(store.export_json(s, "ex_references", 2)) == json.loads(text)
        with pytest.raises(NotFound):
            store.export_json(s, "ghost")


@pytest.mark.parametrize("payload,zh,path", [
    (b"this is not json", "不是有效的 JSON", "$"),
    ('{"id": "ex_x", "title": "x",', "第 1 行", "$"),
    (b"\xff\xfe\x00", "UTF-8", "$"),
    ('{"id": "ex_x", "title": "x", "schema": {"type": "object", "properties": {"a": {"type": "string", "not": {}}}}}',
     "不支持", "$.schema.properties.a.not"),
    ('{"id": "ex_x", "overlay": true}', "覆盖定义", "$.overlay"),
    ("[]", "JSON 对象", "$"),
], ids=["text", "truncated", "not-utf8", "unsupported-keyword", "overlay", "array"])
def test_import_refusals_write_nothing(ctx: App, payload: Any, zh: str, path: str) -> None:
    with pytest.raises(DefinitionError) as info:
        with ctx.db.session() as s:
            store.import_json(s, ADMIN, payload)
    assert zh in info.value.zh and info.value.path == path and info.value.status == 422
    assert count(ctx, FormDef) == 0
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.object_type == "form_def")) == 0


def test_sync_from_files_is_idempotent_and_follows_file_changes(ctx: App, tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(example("numbers")), encoding="utf-8")
    (folder / "b.json").write_text(json.dumps(example("calendar")), encoding="utf-8")
    reg = FormRegistry(layers=[Layer("deployment", tuple(sorted(folder.glob("*.json"))))])
    with ctx.db.session() as s:
        assert sorted(store.sync_from_files(ctx, s, reg)) == [("ex_calendar", 1), ("ex_numbers", 1)]
    with ctx.db.session() as s:
        assert store.sync_from_files(ctx, s, reg) == []
        # an administrator publishes a designer version: the next sync leaves it alone
        d = example("numbers")
        d["title"] = "数字（本地修改）"
        store.save_draft(s, ADMIN, d)
        store.publish(s, ADMIN, "ex_numbers", 2)
    with ctx.db.session() as s:
        assert store.sync_from_files(ctx, s, reg) == []
        assert store.get_published(s, "ex_numbers").title == "数字（本地修改）"
    changed = example("numbers")
    changed["schema"]["properties"]["extra"] = {"type": "string"}
    (folder / "a.json").write_text(json.dumps(changed), encoding="utf-8")
    reg = FormRegistry(layers=[Layer("deployment", tuple(sorted(folder.glob("*.json"))))])
    with ctx.db.session() as s:
        assert store.sync_from_files(ctx, s, reg) == [("ex_numbers", 3)]
        assert "extra" in store.get_published(s, "ex_numbers").fields
        assert store.list_versions(s, "ex_numbers")[0]["source"].startswith("file:")


def test_deployment_form_files_are_published_at_bootstrap(make_app, tmp_path):
    import json as _json
    from ccms import seed
    from ccms.forms import store as form_store
    from ccms.errors import StartupError
    folder = tmp_path / "local_forms"
    folder.mkdir()
    (folder / "street_stall.json").write_text(_json.dumps({
        "id": "street_stall", "title": {"zh-CN": "摊点登记", "en": "Street stall"},
        "schema": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "title": "摊点名称", "maxLength": 50}}}}), encoding="utf-8")
    ctx = make_app(form_defs_dir=str(folder)).state.ccms
    with ctx.db.session() as s:
        published = form_store.get_published(s, "street_stall")
    assert published is not None and published.label("name") == "摊点名称"
    seed.bootstrap(ctx)  # unchanged files: no new version
    with ctx.db.session() as s:
        assert [v["version"] for v in form_store.list_versions(s, "street_stall")] == [1]
    (folder / "broken.json").write_text(_json.dumps({"id": "broken", "title": "坏", "schema": {
        "type": "object", "properties": {"x": {"type": "string", "contentEncoding": "base64"}}}}), encoding="utf-8")
    try:
        seed.bootstrap(ctx)
        raise AssertionError("a bad definition must stop bootstrap")
    except StartupError as exc:  # names the file and the JSON path of the fault
        assert exc.file.endswith("broken.json") and exc.field == "$.schema.properties.x.contentEncoding"
