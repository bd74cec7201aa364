"""应用维护 → 系统配置: schema-driven settings forms, API, validation, conflicts (both backends),
and the JSON-Schema-to-form helpers (no database)."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ccms import jsonform
from ccms.api import hookimpl
from ccms.errors import NotFound
from ccms.models import Setting
from ccms.plugin_loader import PluginInfo, discover
from ccms.services import settings as svc
from test_roles import PW, audit_count, audit_entries, make_org, make_person, make_role, root_id

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["unit"],
    "properties": {
        "unit": {"type": "string", "title": {"zh-CN": "计量单位", "en": "Unit"}, "enum": ["m", "km"],
                 "x-enumNames": [{"zh-CN": "米", "en": "metre"}, {"zh-CN": "千米", "en": "kilometre"}], "default": "m"},
        "threshold": {"type": "integer", "title": "预警阈值", "minimum": 1, "maximum": 10, "default": 5},
        "ratio": {"type": "number", "title": "比例", "exclusiveMinimum": 0, "maximum": 1, "default": 0.5},
        "notify": {"type": "boolean", "title": "短信提醒", "default": True},
        "code": {"type": "string", "title": "区域编码", "pattern": "^[A-Z]{3}$", "default": "ABC",
                 "description": {"zh-CN": "三个大写字母", "en": "three capital letters"}},
        "label": {"type": "string", "title": "名称", "minLength": 2, "maxLength": 10, "default": "默认"},
    },
}


def demo_plugin(calls: list[dict[str, Any]]) -> PluginInfo:
    """An enabled plugin with a settings schema, recording ``ccms_settings_changed`` calls."""
    module = types.ModuleType("ccms_test_demo_cfg")

    @hookimpl
    def ccms_settings_changed(ctx: Any, plugin_id: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        calls.append({"plugin_id": plugin_id, "before": before, "after": after})

    module.ccms_settings_changed = ccms_settings_changed  # type: ignore[attr-defined]
    manifest = {"id": "demo_cfg", "name": {"zh-CN": "演示配置", "en": "Demo settings"}, "version": "1.0.0",
                "tiers": ["city"], "settings": SCHEMA}
    return PluginInfo("demo_cfg", manifest, Path(__file__).parent, "ccms_test_demo_cfg", "built-in", module=module)


@pytest.fixture
def calls() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def app(make_app, calls):  # overrides conftest's: this deployment also enables demo_cfg
    return make_app(available={**discover(), "demo_cfg": demo_plugin(calls)}, plugins={"enable": ["demo_cfg"]})


def stored(ctx: Any, plugin_id: str = "demo_cfg") -> Setting | None:
    with ctx.db.session() as s:
        return s.get(Setting, plugin_id)


VALID = {"version": "0", "unit": "km", "threshold": "7", "ratio": "0.25", "notify": "1", "code": "SZX",
         "label": "苏州"}


# --- screens ------------------------------------------------------------------------------

def test_settings_list_and_generated_form(admin, ctx):
    page = admin.get("/admin/settings")
    assert page.status_code == 200
    assert 'data-testid="settings-row-core"' in page.text and 'data-testid="settings-row-demo_cfg"' in page.text
    form = admin.get("/admin/settings/demo_cfg").text
    assert "计量单位" in form and '<option value="km"' in form and ">千米<" in form  # enum → select with labels
    assert 'name="threshold" value="5"' in form and 'min="1"' in form and 'max="10"' in form and 'step="1"' in form
    assert 'type="checkbox" name="notify" value="1" checked' in form
    assert 'pattern="^[A-Z]{3}$"' in form and "三个大写字母" in form  # description as help
    assert 'maxlength="10"' in form and 'minlength="2"' in form
    assert 'name="version" value="0"' in form
    core = admin.get("/admin/settings/core").text
    assert "列表每页条数" in core and 'value="50"' in core
    assert admin.get("/admin/settings/data_hub").status_code == 404  # enabled, but nothing to configure
    assert admin.get("/admin/settings/no_such").status_code == 404


@pytest.mark.needs_plugins("data_hub")  # the built-in without a settings schema
def test_get_settings_merges_defaults_with_saved_values(ctx):
    defaults = svc.get_settings(ctx, "demo_cfg")
    assert defaults == {"unit": "m", "threshold": 5, "ratio": 0.5, "notify": True, "code": "ABC", "label": "默认"}
    assert svc.get_settings(ctx, "core")["page_size"] == 50
    assert svc.get_settings(ctx, "data_hub") == {}  # no schema: nothing to configure
    with pytest.raises(NotFound):
        svc.get_settings(ctx, "supervision")  # not enabled on a city deployment
    with ctx.db.session() as s:
        s.add(Setting(plugin_id="demo_cfg", values={"threshold": 9, "removed_in_upgrade": 1}))
    assert svc.get_settings(ctx, "demo_cfg") == {**defaults, "threshold": 9}


def test_saving_through_the_form_validates_audits_and_notifies(admin, ctx, calls):
    r = admin.form("/admin/settings/demo_cfg", VALID, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert admin.get(r.headers["location"]).text.count("已保存") == 1
    assert svc.get_settings(ctx, "demo_cfg") == {"unit": "km", "threshold": 7, "ratio": 0.25, "notify": True,
                                                 "code": "SZX", "label": "苏州"}
    assert stored(ctx).version == 1 and stored(ctx).updated_by == 1
    entry = audit_entries(ctx, "settings_change")[-1]
    assert entry.object_type == "settings" and entry.object_id == "demo_cfg"
    assert entry.before == {"unit": "m", "threshold": 5, "ratio": 0.5, "code": "ABC", "label": "默认"}
    assert entry.after["threshold"] == 7 and "notify" not in entry.after  # only what changed
    assert calls == [{"plugin_id": "demo_cfg", "before": entry.before | {"notify": True},
                      "after": svc.get_settings(ctx, "demo_cfg")}]
    # an unchecked checkbox is not sent by browsers: it means False
    r = admin.form("/admin/settings/demo_cfg", {**{k: v for k, v in VALID.items() if k != "notify"}, "version": "1"},
                   follow_redirects=False)
    assert r.status_code == 303 and svc.get_settings(ctx, "demo_cfg")["notify"] is False


def test_invalid_form_shows_inline_errors_keeps_input_and_writes_nothing(admin, ctx, calls):
    before = audit_count(ctx)
    bad = {**VALID, "unit": "mile", "threshold": "11", "ratio": "zero", "code": "abc", "label": "x"}
    r = admin.form("/admin/settings/demo_cfg", bad)
    assert r.status_code == 422
    text = r.text
    expected = {"unit": "请从列表中选择", "threshold": "不能大于10", "ratio": "请输入数字", "code": "格式不正确",
                "label": "至少需要2个字符"}
    for field, message in expected.items():
        assert f'data-testid="error-{field}"' in text and message in text, field
    assert "must be at most 10" in text  # English too
    assert 'name="threshold" value="11"' in text and 'name="code" value="abc"' in text and 'value="zero"' in text
    r = admin.form("/admin/settings/demo_cfg", {**VALID, "threshold": ""}, follow_redirects=False)
    assert r.status_code == 303  # an empty optional number falls back to its default
    assert svc.get_settings(ctx, "demo_cfg")["threshold"] == 5
    ctx_count = audit_count(ctx)
    assert ctx_count == before + 1  # only the valid save above
    assert len(calls) == 1


def test_stale_form_is_a_conflict_and_shows_current_values(admin, ctx, calls):
    assert admin.form("/admin/settings/demo_cfg", VALID, follow_redirects=False).status_code == 303
    r = admin.form("/admin/settings/demo_cfg", {**VALID, "label": "第二个人"})  # still says version 0
    assert r.status_code == 409 and "已被他人修改" in r.text and "changed by someone else" in r.text
    assert 'name="version" value="1"' in r.text and 'value="苏州"' in r.text
    assert svc.get_settings(ctx, "demo_cfg")["label"] == "苏州" and len(calls) == 1


def test_settings_permissions(ctx, client_for):
    root = root_id(ctx)
    make_role(ctx, "settings_viewer", ["core.settings.view"])
    make_role(ctx, "settings_editor", ["core.settings.view", "core.settings.edit"])
    district = make_org(ctx, "姑苏区")
    make_person(ctx, "staff1", roles=[("staff", root)])
    make_person(ctx, "viewer", roles=[("settings_viewer", root)])
    make_person(ctx, "district_editor", district, roles=[("settings_editor", district)])
    staff = client_for("staff1", PW)
    assert staff.get("/admin/settings").status_code == 403
    assert staff.api("GET", "/api/settings/core").status_code == 403
    viewer = client_for("viewer", PW)
    page = viewer.get("/admin/settings/core")
    assert page.status_code == 200 and 'data-testid="read-only"' in page.text and "settings-save" not in page.text
    assert viewer.form("/admin/settings/core", {"version": "0", "page_size": "20"}).status_code == 403
    assert viewer.api("PUT", "/api/settings/core", json={"values": {}, "version": 0}).status_code == 403
    # settings are platform-wide: holding the edit permission in a district is not enough
    d = client_for("district_editor", PW)
    r = d.api("PUT", "/api/settings/core", json={"values": {"page_size": 20}, "version": 0})
    assert r.status_code == 403 and "core.settings.edit" in r.json()["error"]["message_en"]
    assert stored(ctx, "core") is None


# --- API ------------------------------------------------------------------------------------------

@pytest.mark.needs_plugins("command")
def test_api_get_and_put(admin, ctx, calls):
    r = admin.api("GET", "/api/settings/demo_cfg")
    assert r.status_code == 200
    body = r.json()
    assert body["version"] == 0 and body["values"]["unit"] == "m" and body["schema"]["required"] == ["unit"]
    assert {i["plugin_id"] for i in admin.api("GET", "/api/settings").json()["items"]} == {"core", "command", "demo_cfg"}
    r = admin.api("PUT", "/api/settings/demo_cfg", json={"values": {"unit": "km", "threshold": 3}, "version": 0})
    assert r.status_code == 200 and r.json()["version"] == 1
    assert r.json()["values"] == {"unit": "km", "threshold": 3, "ratio": 0.5, "notify": True, "code": "ABC",
                                  "label": "默认"}  # missing keys take their defaults
    r = admin.api("PUT", "/api/settings/demo_cfg", json={"values": {"unit": "m"}, "version": 0})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert svc.get_settings(ctx, "demo_cfg")["unit"] == "km" and len(calls) == 1


def test_api_put_bad_input_is_refused_and_writes_nothing(admin, ctx, calls):
    before = audit_count(ctx)
    put = lambda body, **kw: admin.api("PUT", "/api/settings/demo_cfg", json=body, **kw)  # noqa: E731
    r = put({"values": {"unit": "mile", "threshold": 0, "extra": 1, "notify": "yes"}, "version": 0})
    assert r.status_code == 422
    fields = r.json()["error"]["fields"]
    assert fields["unit"] == {"message": "不是允许的取值", "message_en": "is not one of the allowed values"}
    assert fields["threshold"]["message"] == "不能小于1" and fields["threshold"]["message_en"] == "must be at least 1"
    assert fields["extra"]["message"] == "不允许的字段" and fields["notify"]["message"] == "应为是或否"
    assert "计量单位" in r.json()["error"]["message"]  # the summary names fields by their titles
    assert put({"values": {"ratio": 0}, "version": 0}).json()["error"]["fields"]["ratio"]["message"] == "必须大于0"
    assert put({"values": {"label": "x" * 11}, "version": 0}).status_code == 422
    assert put({"values": [], "version": 0}).status_code == 422
    assert put({"values": {}}).status_code == 422  # the version is required
    r = admin.api("PUT", "/api/settings/demo_cfg", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    assert admin.api("PUT", "/api/settings/nope", json={"values": {}, "version": 0}).status_code == 404
    assert admin.api("GET", "/api/settings/nope").status_code == 404
    assert stored(ctx) is None and audit_count(ctx) == before and calls == []
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Setting)) == 0


def test_core_settings_change_is_audited(admin, ctx):
    r = admin.api("PUT", "/api/settings/core", json={"values": {"site_title": "苏州城管", "page_size": 20},
                                                     "version": 0})
    assert r.status_code == 200
    entry = audit_entries(ctx, "settings_change")[-1]
    assert entry.object_id == "core" and entry.after == {"site_title": "苏州城管", "page_size": 20}
    r = admin.api("PUT", "/api/settings/core", json={"values": {"page_size": 5}, "version": 1})
    assert r.status_code == 422 and r.json()["error"]["fields"]["page_size"]["message"] == "不能小于10"


# --- core.jsonform (no database, so not run per backend) ---------------------------------------------

def test_jsonform_coerce_and_validate_round_trip():
    values, errors = jsonform.coerce_form(SCHEMA, {"unit": "km", "threshold": " 3 ", "ratio": "1e-1", "code": "ABC",
                                                   "label": "两字"})
    assert errors == {}
    assert values == {"unit": "km", "threshold": 3, "ratio": 0.1, "notify": False, "code": "ABC", "label": "两字"}
    assert jsonform.validate(SCHEMA, values) == {}
    values, errors = jsonform.coerce_form(SCHEMA, {"threshold": "3.5", "ratio": "nan", "unit": ""})
    assert errors["threshold"]["message"] == "请输入整数" and errors["ratio"]["message"] == "请输入数字"
    assert errors["unit"]["message"] == "请从列表中选择"  # required enum left empty
    assert jsonform.validate(SCHEMA, {})["unit"] == {"message": "必填项", "message_en": "required"}


def test_jsonform_fields_describe_inputs_and_keep_raw_input():
    fields = {f.name: f for f in jsonform.form_fields(SCHEMA, jsonform.defaults(SCHEMA),
                                                      errors={"threshold": {"message": "x", "message_en": "y"}},
                                                      raw={"threshold": "abc"},
                                                      localize=lambda v: v.get("en") if isinstance(v, dict) else (v or ""))}
    assert fields["unit"].widget == "select" and fields["unit"].options == [("m", "metre"), ("km", "kilometre")]
    assert fields["unit"].label == "Unit" and fields["unit"].required
    assert fields["threshold"].value == "abc" and fields["threshold"].error == {"message": "x", "message_en": "y"}
    assert fields["threshold"].attrs["min"] == "1" and fields["ratio"].attrs["step"] == "any"
    assert fields["notify"].widget == "checkbox" and fields["notify"].value is True
    assert fields["code"].attrs["pattern"] == "^[A-Z]{3}$" and fields["code"].help == "three capital letters"
    # an unanchored JSON Schema pattern is not copied: HTML would anchor it and disagree
    [f] = jsonform.form_fields({"type": "object", "properties": {"p": {"type": "string", "pattern": "[0-9]"}}}, {})
    assert "pattern" not in f.attrs
    # nested values are edited as JSON text, with a parse error per field
    schema = {"type": "object", "properties": {"peers": {"type": "array", "items": {"type": "object"}},
                                               "days": {"type": "array", "items": {"enum": [1, 2, 3]}}}}
    [peers, days] = jsonform.form_fields(schema, {"peers": [{"a": 1}], "days": [2]})
    assert peers.widget == "json" and '"a": 1' in peers.value
    assert days.widget == "checkboxes" and days.selected == ["2"] and days.options[0] == ("1", "1")
    values, errors = jsonform.coerce_form(schema, {"peers": "[{", "days": ["1", "3"]})
    assert "JSON" in errors["peers"]["message"] and values["days"] == [1, 3]
