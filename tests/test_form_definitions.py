"""Form definitions: loading, refusals with the JSON path, overlays, layering.

Pure Python, no database: these run once, not per backend.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

from ccms.config import parse_deployment
from ccms.errors import StartupError, ValidationFailed
from ccms.forms.definition import (
    SUPPORTED_KEYWORDS,
    DefinitionError,
    load_definition,
    meta_validator,
)
from ccms.forms.overlay import apply_extends, apply_overlay
from ccms.forms.registry import FormRegistry, Layer, layers_of

EXAMPLES = Path(__file__).parent / "form_examples"
EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.json") if p.name != "samples.json")
SAMPLES = json.loads((EXAMPLES / "samples.json").read_text(encoding="utf-8"))


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


BASE: dict[str, Any] = {
    "id": "complaint",
    "title": {"zh-CN": "投诉登记", "en": "Complaint"},
    "schema": {
        "type": "object",
        "required": ["subject"],
        "properties": {
            "subject": {"type": "string", "title": "事项", "maxLength": 100},
            "category": {"type": "string", "title": "类别", "enum": ["road", "green", "light"]},
            "level": {"type": "string", "oneOf": [{"const": "1", "title": "一般"}, {"const": "2", "title": "紧急"}]},
            "amount": {"type": "number", "minimum": 0, "maximum": 1000, "multipleOf": 0.5},
            "place": {"$ref": "#/$defs/place"},
            "note": {"type": "string"},
        },
        "$defs": {"place": {"type": "object", "properties": {"street": {"type": "string", "maxLength": 50},
                                                              "community": {"type": "string"}}}},
    },
    "ui": {
        "layout": [{"kind": "section", "title": "基本", "items": ["subject", "category", "level"]},
                   "amount", "place", "note"],
        "fields": {"note": {"rules": [{"effect": "show", "when": {"field": "category", "op": "eq", "value": "road"}}]}},
    },
    "list": {"columns": ["subject", "category", "place.street"], "filters": ["category"], "sort": "-_created_at"},
    "permissions": {"fields": {"note": {"hidden_for": ["public"]}}},
    "indexed": ["category"],
}


def refused(data: Any) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        load_definition(data, "test.json")
    return info.value


# --- examples ---------------------------------------------------------------------------

def test_ten_independent_examples_each_load_and_accept_their_sample() -> None:
    assert len(EXAMPLE_FILES) == 10
    for path in EXAMPLE_FILES:
        d = load_definition(json.loads(path.read_text(encoding="utf-8")), str(path))
        validator = jsonschema.Draft202012Validator(d.schema)
        assert not list(validator.iter_errors(SAMPLES[d.id])), path.name
        assert set(d.top_fields) == set(d.schema["properties"])


def test_meta_schema_is_valid_draft_2020_12_and_accepts_overlays() -> None:
    v = meta_validator()
    assert v.is_valid(BASE)
    assert v.is_valid({"id": "complaint", "overlay": True, "labels": {"subject": "诉求"}})
    assert not v.is_valid({"id": "complaint", "overlay": True, "schema": {}})  # an overlay never copies the form


def test_definition_exposes_fields_labels_and_order() -> None:
    d = load_definition(BASE, "x.json")
    assert d.id == "complaint" and d.source == "x.json"
    assert "place.street" in d.fields and d.fields["place.street"]["maxLength"] == 50
    assert d.top_fields == ["subject", "category", "level", "amount", "place", "note"]
    assert d.label("subject") == "事项" and d.label("amount") == "amount"
    assert d.required() == ["subject"]
    assert d.to_dict() == BASE and d.to_dict() is not d.raw
    assert d.content_hash() == load_definition(copy.deepcopy(BASE)).content_hash()


def test_refusal_is_a_422_with_bilingual_message_and_field_path() -> None:
    data = copy.deepcopy(BASE)
    data["schema"]["properties"]["subject"]["not"] = {"const": "x"}
    err = refused(data)
    assert isinstance(err, ValidationFailed) and err.status == 422
    assert err.path == "$.schema.properties.subject.not"
    assert "test.json" in err.zh and "$.schema.properties.subject.not" in err.zh and "不支持" in err.zh
    assert "does not support" in err.en
    assert err.to_json()["error"]["fields"] == {err.path: {"message": err.reason_zh, "message_en": err.reason_en}}


# --- bad definitions, each refused with its path ------------------------------------------

Mut = Callable[[dict[str, Any]], None]


def _set(path: list[Any], value: Any) -> Mut:
    def mut(d: dict[str, Any]) -> None:
        node = d
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
    return mut


def _append(path: list[Any], value: Any) -> Mut:
    def mut(d: dict[str, Any]) -> None:
        node = d
        for p in path:
            node = node[p]
        node.append(value)
    return mut


BAD: list[tuple[str, Mut, str, str]] = [
    ("unknown keyword", _set(["schema", "properties", "note", "contentEncoding"], "base64"),
     "$.schema.properties.note.contentEncoding", "不支持 JSON Schema 关键字"),
    ("unknown keyword in $defs", _set(["schema", "$defs", "place", "properties", "street", "contentMediaType"], "x"),
     "$.schema.$defs.place.properties.street.contentMediaType", "不支持"),
    ("unevaluatedProperties", _set(["schema", "unevaluatedProperties"], False), "$.schema.unevaluatedProperties", "不支持"),
    ("unsupported format", _set(["schema", "properties", "note", "format"], "iri"),
     "$.schema.properties.note.format", "不支持的格式"),
    ("unsupported keyword inside a oneOf branch", _set(["schema", "properties", "note", "oneOf"], [{"not": {}}]),
     "$.schema.properties.note.oneOf[0].not", "不支持"),
    ("tuple items", _set(["schema", "properties", "note"], {"type": "array", "items": [{"type": "string"}]}),
     "$.schema.properties.note.items", "不是有效的 JSON Schema"),
    ("remote $ref", _set(["schema", "properties", "note", "$ref"], "https://example.com/s.json"),
     "$.schema.properties.note.$ref", "本地引用"),
    ("missing $ref target", _set(["schema", "properties", "note", "$ref"], "#/$defs/nowhere"),
     "$.schema.properties.note.$ref", "不存在"),
    ("$ref cycle", _set(["schema", "$defs", "place", "properties", "inner"], {"$ref": "#/$defs/place"}),
     "$.schema.$defs.place.properties.inner.$ref", "环"),
    ("$ref to the root", _set(["schema", "properties", "self"], {"$ref": "#"}), "$.schema.properties.self.$ref", "环"),
    ("bad JSON Schema", _set(["schema", "properties", "note", "maxLength"], -1),
     "$.schema.properties.note.maxLength", "不是有效的 JSON Schema"),
    ("$schema of an unknown dialect", _set(["schema", "$schema"], "http://json-schema.org/draft-03/schema#"),
     "$.schema.$schema", "2020-12"),
    ("ui rule on a missing field", _set(["ui", "fields", "note", "rules", 0, "when", "field"], "ghost"),
     "$.ui.fields.note.rules[0].when.field", "字段 ghost 不存在"),
    ("ui rule with an unknown op", _set(["ui", "fields", "note", "rules", 0, "when", "op"], "like"),
     "$.ui.fields.note.rules[0].when.op", "取值必须是"),
    ("ui rule without value", _set(["ui", "fields", "note", "rules", 0, "when"], {"field": "category", "op": "eq"}),
     "$.ui.fields.note.rules[0].when.value", "缺少必填项 value"),
    ("ui settings of a missing field", _set(["ui", "fields", "ghost"], {"widget": "text"}), "$.ui.fields.ghost",
     "不存在"),
    ("layout names a missing field", _append(["ui", "layout", 0, "items"], "ghost"), "$.ui.layout[0].items[3]",
     "不存在"),
    ("layout names a field twice", _append(["ui", "layout"], "subject"), "$.ui.layout[4]", "两次"),
    ("unknown layout kind", _append(["ui", "layout"], {"kind": "grid", "items": []}), "$.ui.layout[4].kind",
     "取值必须是"),
    ("list column unknown", _append(["list", "columns"], "ghost"), "$.list.columns[3]", "字段 ghost 不存在"),
    ("list filter unknown", _append(["list", "filters"], "ghost"), "$.list.filters[1]", "不存在"),
    ("sort by unknown field", _set(["list", "sort"], "-ghost"), "$.list.sort", "不存在"),
    ("indexed unknown", _append(["indexed"], "ghost"), "$.indexed[1]", "不存在"),
    ("indexed object", _append(["indexed"], "place"), "$.indexed[1]", "单值字段"),
    ("permission on unknown field", _set(["permissions", "fields", "ghost"], {"hidden_for": ["x"]}),
     "$.permissions.fields.ghost", "不存在"),
    ("rename to unknown field", _set(["renames"], {"old_note": "ghost"}), "$.renames.old_note", "不存在"),
    ("rename of a field that still exists", _set(["renames"], {"note": "subject"}), "$.renames.note", "仍然存在"),
    ("unknown top-level key", _set(["colour"], "red"), "$.colour", "不支持的键 colour"),
    ("bad id", _set(["id"], "Bad Id"), "$.id", "格式不正确"),
    ("schema not an object schema", _set(["schema", "type"], "array"), "$.schema.type", "必须是对象"),
    ("unsupported keyword in additionalProperties", _set(["schema", "additionalProperties"], {"not": {}}),
     "$.schema.additionalProperties.not", "不支持"),
]


@pytest.mark.parametrize("name,mutate,path,zh", BAD, ids=[b[0] for b in BAD])
def test_bad_definition_is_refused_with_its_path(name: str, mutate: Mut, path: str, zh: str) -> None:
    data = copy.deepcopy(BASE)
    mutate(data)
    err = refused(data)
    assert err.path == path, (err.path, err.zh)
    assert zh in err.reason_zh, err.reason_zh
    assert err.reason_en


def test_missing_title_and_non_object_are_refused() -> None:
    data = copy.deepcopy(BASE)
    del data["title"]
    assert refused(data).path == "$.title"
    assert refused([1, 2]).path == "$"
    assert refused({"id": "complaint", "overlay": True}).path == "$.overlay"  # overlays need a base


def test_supported_keywords_all_work() -> None:
    """Every keyword on the allow-list is accepted somewhere."""
    data = copy.deepcopy(BASE)
    data["schema"]["properties"]["all"] = {
        "type": "array", "title": "t", "description": "d", "default": [], "examples": [[]], "readOnly": True,
        "$comment": "c", "minItems": 0, "maxItems": 3, "uniqueItems": True, "x-ccms-widget": "tags",
        "items": {"type": "string", "minLength": 1, "maxLength": 9, "pattern": "^a", "format": "email",
                  "enum": ["a@b.cn"], "const": "a@b.cn", "x-enumNames": ["A"]}}
    data["schema"]["properties"]["n"] = {"type": "integer", "minimum": 0, "maximum": 9, "exclusiveMinimum": -1,
                                         "exclusiveMaximum": 10, "multipleOf": 1,
                                         "anyOf": [{"const": 1, "title": "一"}]}
    data["schema"]["additionalProperties"] = False
    data["schema"]["$id"] = "urn:ccms:form:complaint"
    data["schema"]["properties"]["extra"] = {  # what schemas written for other form libraries use
        "type": "object", "definitions": {"s": {"type": "string"}}, "propertyNames": {"minLength": 1},
        "minProperties": 0, "maxProperties": 9, "patternProperties": {"^x": {"$ref": "#/$defs/place"}},
        "allOf": [{"properties": {"k": {"type": "string"}}}], "if": {"required": ["k"]},
        "then": {"required": ["k"]}, "else": {}, "dependentRequired": {"k": []},
        "dependentSchemas": {"k": {}}, "dependencies": {"k": ["k"]},
        "properties": {"arr": {"type": "array", "items": {"type": "string"}, "additionalItems": False}}}
    d = load_definition(data)
    used = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            used.update(node)
            for v in node.values():
                walk(v)
    walk(d.schema)
    assert SUPPORTED_KEYWORDS <= used


# --- overlays -----------------------------------------------------------------------------

def base() -> Any:
    return load_definition(copy.deepcopy(BASE), "core/complaint.json")


def test_overlay_adds_fields_after_an_existing_one_and_relabels() -> None:
    out = apply_overlay(base(), {
        "id": "complaint", "overlay": True,
        "add_fields": {"grid_code": {"type": "string", "title": "网格编码", "maxLength": 20},
                       "place.building": {"type": "string", "title": "楼栋"}},
        "after": {"grid_code": "category"},
        "labels": {"subject": {"zh-CN": "诉求内容", "en": "Request"}, "place.street": "街道"},
        "ui": {"fields": {"grid_code": {"widget": "text", "help": "十位编码"}}},
        "indexed": ["grid_code"],
    }, "deploy/complaint.overlay.json")
    assert list(out.schema["properties"])[:3] == ["subject", "category", "grid_code"]
    assert out.ui["layout"][0]["items"] == ["subject", "category", "grid_code", "level"]
    assert out.label("subject") == "诉求内容" and out.label("subject", "en") == "Request"
    assert out.label("place.street") == "街道" and "place.building" in out.fields
    assert out.indexed == ("category", "grid_code")
    assert out.source == "core/complaint.json + deploy/complaint.overlay.json"
    assert "grid_code" not in base().fields  # the base is untouched


def test_overlay_tightens_validation() -> None:
    out = apply_overlay(base(), {
        "id": "complaint", "overlay": True,
        "tighten": {"subject": {"maxLength": 20, "minLength": 2, "pattern": "^[^<>]*$"},
                    "category": {"enum": ["road", "light"]},
                    "level": {"enum": ["2"]},
                    "amount": {"maximum": 500, "multipleOf": 1},
                    "place.street": {"maxLength": 30},
                    "note": {"required": True}},
        "required": ["category"],
        "permissions": {"fields": {"note": {"hidden_for": ["staff"]}}},
    }, "o.json")
    props = out.schema["properties"]
    assert props["subject"]["maxLength"] == 20 and props["category"]["enum"] == ["road", "light"]
    assert props["level"]["oneOf"] == [{"const": "2", "title": "紧急"}]
    assert out.fields["place.street"]["maxLength"] == 30
    assert out.required() == ["subject", "note", "category"]
    assert out.permissions["fields"]["note"]["hidden_for"] == ["public", "staff"]
    v = jsonschema.Draft202012Validator(out.schema)
    assert not v.is_valid({"subject": "x" * 21, "category": "road", "note": "n"})
    assert v.is_valid({"subject": "ok", "category": "road", "note": "n"})


LOOSEN = [
    ({"subject": {"maxLength": 200}}, "$.tighten.subject.maxLength", "放宽"),
    ({"amount": {"minimum": -1}}, "$.tighten.amount.minimum", "放宽"),
    ({"amount": {"maximum": 1001}}, "$.tighten.amount.maximum", "放宽"),
    ({"category": {"enum": ["road", "water"]}}, "$.tighten.category.enum", "不在原有的可选值中"),
    ({"level": {"enum": ["3"]}}, "$.tighten.level.enum", "不在原有的可选值中"),
    ({"subject": {"required": False}}, "$.tighten.subject.required", "取消必填"),
    ({"amount": {"multipleOf": 0.25}}, "$.tighten.amount.multipleOf", "整数倍"),
    ({"subject": {"type": "integer"}}, "$.tighten.subject.type", "不能通过覆盖修改"),
    ({"place.street": {"maxLength": 51}}, '$.tighten["place.street"].maxLength', "放宽"),
    ({"ghost": {"maxLength": 5}}, "$.tighten.ghost", "不存在"),
]


@pytest.mark.parametrize("tighten,path,zh", LOOSEN, ids=[p for _, p, _ in LOOSEN])
def test_overlay_that_loosens_is_refused_with_its_path(tighten: dict[str, Any], path: str, zh: str) -> None:
    with pytest.raises(DefinitionError) as info:
        apply_overlay(base(), {"id": "complaint", "overlay": True, "tighten": tighten}, "o.json")
    assert info.value.path == path and zh in info.value.reason_zh, (info.value.path, info.value.reason_zh)


@pytest.mark.parametrize("overlay,path", [
    ({"add_fields": {"subject": {"type": "string"}}}, "$.add_fields.subject"),
    ({"add_fields": {"x": {"type": "string"}}, "after": {"x": "ghost"}}, "$.after.x"),
    ({"after": {"subject": "note"}}, "$.after.subject"),
    ({"labels": {"ghost": "幽灵"}}, "$.labels.ghost"),
    ({"required": ["ghost"]}, "$.required[0]"),
    ({"add_fields": {"x": {"type": "string", "not": {}}}}, "$.schema.properties.x.not"),
    ({"ui": {"fields": {"note": {"rules": [{"effect": "hide", "when": {"field": "ghost", "op": "empty"}}]}}}},
     "$.ui.fields.note.rules[1].when.field"),
    ({"schema": {"type": "object", "properties": {}}}, "$.schema"),
], ids=["add-existing", "after-missing", "after-without-add", "label-missing", "required-missing",
        "added-unsupported-keyword", "merged-rule-missing-field", "overlay-copies-schema"])
def test_overlay_faults_are_refused_with_their_path(overlay: dict[str, Any], path: str) -> None:
    with pytest.raises(DefinitionError) as info:
        apply_overlay(base(), {"id": "complaint", "overlay": True, **overlay}, "o.json")
    assert info.value.path == path, (info.value.path, info.value.zh)


def test_overlay_of_another_form_is_refused() -> None:
    with pytest.raises(DefinitionError) as info:
        apply_overlay(base(), {"id": "other", "overlay": True}, "o.json")
    assert info.value.path == "$.id"


def test_extends_builds_on_the_base_fields() -> None:
    child = load_definition({"id": "road_complaint", "title": "道路投诉", "extends": "complaint",
                             "schema": {"type": "object", "required": ["road"],
                                        "properties": {"road": {"type": "string", "title": "道路"}}},
                             "list": {"columns": ["road", "subject"]}}, "child.json")
    out = apply_extends(base(), child)
    assert out.id == "road_complaint" and list(out.schema["properties"])[-1] == "road"
    assert out.required() == ["subject", "road"] and out.list_settings["columns"] == ["road", "subject"]
    assert "place.street" in out.fields and out.indexed == ("category",)


# --- registry: core -> plugins -> deployment ---------------------------------------------------

def write(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def fake_ctx(tmp_path: Path, plugins: list[Any], form_defs_dir: str | None) -> Any:
    dep = parse_deployment({"profile": "city", "region_code": "320500", "name": "测试", "secret_key": "x" * 20,
                            "form_defs_dir": form_defs_dir, "base_dir": str(tmp_path)})
    return SimpleNamespace(plugins=plugins, deployment=dep)


def fake_plugin(tmp_path: Path, pid: str, files: dict[str, Any]) -> Any:
    folder = tmp_path / "plugins" / pid
    for name, data in files.items():
        write(folder, name, data)
    return SimpleNamespace(id=pid, folder=folder, manifest={"forms": list(files)}, manifest_file=folder / "plugin.json")


def test_registry_layers_core_then_plugins_then_deployment(tmp_path: Path) -> None:
    core_dir = tmp_path / "core_defs"
    write(core_dir, "complaint.json", BASE)
    write(core_dir, "meta-schema.json", {"not": "a definition"})  # skipped by name
    alpha = fake_plugin(tmp_path, "alpha", {"form_defs/a.json": {**example("address")},
                                            "form_defs/complaint.json": {"id": "complaint", "overlay": True,
                                                                         "labels": {"subject": "诉求"}}})
    beta = fake_plugin(tmp_path, "beta", {"form_defs/b.json": {"id": "complaint", "overlay": True,
                                                               "tighten": {"subject": {"maxLength": 30}}}})
    write(tmp_path / "local", "z_complaint.json", {"id": "complaint", "overlay": True,
                                                   "add_fields": {"grid": {"type": "string"}}})
    write(tmp_path / "local", "address.json", {**example("address"), "title": "本地地址"})  # full override
    reg = FormRegistry(fake_ctx(tmp_path, [alpha, beta], "local"), core_dir=core_dir)
    assert reg.ids() == ["complaint", "ex_address"] and len(reg) == 2 and "complaint" in reg
    c = reg.get("complaint")
    assert c.label("subject") == "诉求" and c.fields["subject"]["maxLength"] == 30 and "grid" in c.fields
    assert [Path(p).name for p in reg.origins["complaint"]] == ["complaint.json", "complaint.json", "b.json",
                                                                "z_complaint.json"]
    assert reg.get("ex_address").title == "本地地址"
    with pytest.raises(Exception) as info:
        reg.get("ghost")
    assert getattr(info.value, "status", None) == 404


def test_registry_errors_name_layer_file_and_path(tmp_path: Path) -> None:
    core_dir = tmp_path / "core_defs"
    write(core_dir, "complaint.json", BASE)
    bad = fake_plugin(tmp_path, "alpha", {"form_defs/x.json": {"id": "complaint", "overlay": True,
                                                               "tighten": {"subject": {"maxLength": 999}}}})
    with pytest.raises(StartupError) as info:
        FormRegistry(fake_ctx(tmp_path, [bad], None), core_dir=core_dir)
    e = info.value
    assert e.plugin == "alpha" and e.file.endswith("x.json") and e.field == "$.tighten.subject.maxLength"
    assert "x.json" in str(e) and "放宽" in str(e)


@pytest.mark.parametrize("case", ["not-json", "unknown-overlay", "duplicate", "missing-file", "missing-dir",
                                  "unknown-extends"])
def test_registry_refusals(tmp_path: Path, case: str) -> None:
    core_dir = tmp_path / "core_defs"
    write(core_dir, "complaint.json", BASE)
    plugins: list[Any] = []
    dep_dir: str | None = "local"
    write(tmp_path / "local", "ok.json", example("numbers"))
    if case == "not-json":
        write(tmp_path / "local", "broken.json", '{"id": "x",')
        want = ("deployment", "broken.json", "$")
    elif case == "unknown-overlay":
        write(tmp_path / "local", "o.json", {"id": "ghost", "overlay": True})
        want = ("deployment", "o.json", "$.id")
    elif case == "duplicate":
        write(tmp_path / "local", "again.json", example("numbers"))
        want = ("deployment", "ok.json", "$.id")  # second in name order
    elif case == "missing-file":
        p = fake_plugin(tmp_path, "alpha", {})
        p.manifest["forms"] = ["form_defs/none.json"]
        plugins = [p]
        want = ("alpha", "plugin.json", "forms[0]")
    elif case == "missing-dir":
        dep_dir = "nowhere"
        want = ("deployment", "nowhere", "form_defs_dir")
    else:
        write(tmp_path / "local", "child.json", {**example("numbers"), "id": "child", "extends": "ghost"})
        want = ("deployment", "child.json", "$.extends")
    with pytest.raises(StartupError) as info:
        FormRegistry(fake_ctx(tmp_path, plugins, dep_dir), core_dir=core_dir)
    e = info.value
    assert (e.plugin, Path(e.file).name, e.field) == want, (e.plugin, e.file, e.field, e.zh)
    if case == "not-json":
        assert "不是有效的 JSON" in e.zh and "第 1 行" in e.zh


def test_repository_core_layer_loads(tmp_path: Path) -> None:
    """form_defs/ of the repository (the core layer) is always valid."""
    layers = layers_of(fake_ctx(tmp_path, [], None))
    assert layers[0].name == "core"
    FormRegistry(layers=layers)
    assert FormRegistry(layers=[Layer("x", tuple(EXAMPLE_FILES))]).ids() == sorted(
        json.loads(p.read_text(encoding="utf-8"))["id"] for p in EXAMPLE_FILES)
