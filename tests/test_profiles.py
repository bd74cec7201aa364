"""Profiles: the plugin set of each tier (MOHURD 2020 guide, section 3) and how a
deployment file adds or removes plugins."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from conftest import deployment_data
from ccms.app import create_app
from ccms.config import parse_deployment
from ccms.errors import StartupError
from ccms.plugin_loader import BUILTIN_DIR, MANIFEST_SCHEMA_FILE, PROFILES_FILE, discover, load_profiles

# tests of the shipped profiles and plugins (skipped when core runs alone)
BUILTINS = pytest.mark.needs_plugins("example_notice", *sorted({p for ids in load_profiles().values() for p in ids}))
REGIONS = {"national": "110000", "province": "320000", "city": "320500", "county": "320506"}


def start(profile: str, **overrides: Any) -> Any:
    data = deployment_data(profile=profile, region_code=REGIONS[profile], database_url="sqlite:///:memory:",
                           **overrides)
    return create_app(parse_deployment(data)).state.ccms


@BUILTINS
def test_profiles_follow_the_guide():
    profiles = load_profiles()
    assert set(profiles) == {"national", "province", "city", "county"}
    guide = {"guidance", "supervision", "evaluation", "exchange"}  # 业务指导 监督检查 综合评价 数据交换 (+ 应用维护 = core)
    assert set(profiles["national"]) == guide
    assert set(profiles["province"]) == guide
    # 业务指导 (shared from national), 指挥协调, 行业应用, 公众服务, 数据汇聚, 数据交换
    assert set(profiles["city"]) == {"guidance", "command", "industry", "public_service", "data_hub", "exchange"}
    assert profiles["county"] == ["exchange"]
    for ids in profiles.values():
        assert len(ids) == len(set(ids))


@pytest.mark.parametrize("profile", ["national", "province", "city", "county"])
@BUILTINS
def test_every_profile_starts_with_its_plugins_in_order(profile):
    ctx = start(profile)
    ids = [p.id for p in ctx.plugins]
    assert ids == sorted(load_profiles()[profile])  # no built-in depends on another yet: order is by id
    for info in ctx.plugins:
        assert profile in info.tiers
        for perm in info.permissions:
            assert perm["id"] in ctx.permissions
    assert ctx.enabled("core")


@BUILTINS
def test_every_builtin_manifest_is_valid_and_named_after_its_folder():
    schema = json.loads(MANIFEST_SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    available = discover(use_entry_points=False)
    folders = {p.name for p in BUILTIN_DIR.iterdir() if (p / "plugin.json").exists()}
    assert set(available) == folders
    for pid, info in available.items():
        assert info.source == "built-in" and info.module_name == f"ccms.plugins.{pid}"
        for perm in info.permissions:
            assert perm["name"]["zh-CN"] and perm["name"]["en"]


@BUILTINS
def test_deployment_enables_and_disables_plugins():
    ctx = start("national", plugins={"enable": ["example_notice"], "disable": ["evaluation"]})
    assert [p.id for p in ctx.plugins] == ["example_notice", "exchange", "guidance", "supervision"]


@BUILTINS
def test_enabling_a_profile_plugin_again_changes_nothing():
    assert [p.id for p in start("county", plugins={"enable": ["exchange"]}).plugins] == ["exchange"]


@BUILTINS
def test_disable_wins_over_enable():
    ctx = start("city", plugins={"enable": ["example_notice"], "disable": ["example_notice", "command"]})
    assert not ctx.enabled("example_notice") and not ctx.enabled("command")


def test_everything_can_be_disabled_leaving_the_core():
    ctx = start("county", plugins={"disable": ["exchange"]})
    assert ctx.plugins == [] and "core.org.view" in ctx.permissions


@BUILTINS
def test_city_only_plugin_on_province_is_refused_naming_the_manifest():
    with pytest.raises(StartupError) as exc:
        start("province", plugins={"enable": ["public_service"]})
    text = str(exc.value)
    assert "public_service" in text and str(BUILTIN_DIR / "public_service" / "plugin.json") in text and "tiers" in text


def test_unknown_plugin_in_core_profiles_names_profiles_json(tmp_path):
    broken = tmp_path / "profiles.json"
    data = json.loads(PROFILES_FILE.read_text(encoding="utf-8"))
    data["county"] = ["exchange", "grid"]
    broken.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(StartupError) as exc:
        create_app(parse_deployment(deployment_data(profile="county", region_code="320506",
                                                    database_url="sqlite:///:memory:")), profiles=broken)
    assert "grid" in str(exc.value) and str(broken) in str(exc.value) and "county" in str(exc.value)


def test_unreadable_profiles_file_is_a_startup_error(tmp_path):
    broken = tmp_path / "profiles.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(StartupError) as exc:
        create_app(parse_deployment(deployment_data(database_url="sqlite:///:memory:")), profiles=broken)
    assert str(broken) in str(exc.value)



def _start_with(tmp_path, profile_plugins: list[str], **overrides: Any) -> Any:
    """Start a city deployment whose profile names ``profile_plugins`` while no plugin is installed."""
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps({"city": profile_plugins}), encoding="utf-8")
    data = deployment_data(profile="city", region_code="320500", database_url="sqlite:///:memory:", **overrides)
    return create_app(parse_deployment(data), available={}, profiles=profiles,
                      deployment_file=str(tmp_path / "ccms.toml")).state.ccms


def test_profile_naming_an_uninstalled_plugin_is_one_clear_error(tmp_path):
    with pytest.raises(StartupError) as exc:
        _start_with(tmp_path, ["grid", "parks"])
    err = exc.value
    assert err.file == str(tmp_path / "profiles.json") and err.field == "city" and err.plugin == "grid, parks"
    for text in (err.zh, err.en):
        assert "grid, parks" in text and str(tmp_path / "profiles.json") in text and "city" in text
        assert str(tmp_path / "ccms.toml") in text and 'disable = ["grid", "parks"]' in text
    assert "未安装" in err.zh and "not installed" in err.en


def test_disabling_the_uninstalled_profile_plugin_starts_the_core(tmp_path):
    ctx = _start_with(tmp_path, ["grid"], plugins={"disable": ["grid"]})
    assert ctx.plugins == [] and "core.org.view" in ctx.permissions


def test_disabling_a_plugin_no_profile_names_and_nobody_installed_is_still_refused(tmp_path):
    with pytest.raises(StartupError) as exc:
        _start_with(tmp_path, ["grid"], plugins={"disable": ["grid", "gird"]})
    assert exc.value.plugin == "gird" and exc.value.field == "plugins.disable"
