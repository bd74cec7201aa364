"""``requires_ccms``: a plugin names the facade versions it was written for, and
start-up refuses an enabled plugin that this core does not satisfy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from conftest import deployment_data
from ccms.app import create_app
from ccms.config import parse_deployment
from ccms.contract import FACADE_VERSION
from ccms.errors import StartupError
from ccms.plugin_loader import BUILTIN_DIR, PluginInfo, discover
from ccms.scaffold import scaffold_plugin

NO_DB = "sqlite:///:memory:"  # refusals happen before any connection


def plugin_folder(root: Path, pid: str, requires: Any = None) -> Path:
    """A minimal plugin ``pid`` (no code) in ``root/<pid>/``; ``requires`` None leaves the field out."""
    folder = root / pid
    folder.mkdir(parents=True)
    manifest: dict[str, Any] = {"id": pid, "name": {"zh-CN": pid, "en": pid}, "version": "1.0.0",
                                "tiers": ["city"]}
    if requires is not None:
        manifest["requires_ccms"] = requires
    (folder / "plugin.json").write_text(json.dumps(manifest), encoding="utf-8")
    (folder / "__init__.py").write_text('"""A plugin without hooks."""\n', encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def importable(tmp_path, monkeypatch):
    """Built-in style plugins import under their folder name: put this test's folder on the path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [n for n, m in sys.modules.items() if str(getattr(m, "__file__", "") or "").startswith(str(tmp_path))]:
        del sys.modules[name]


def start(available: dict[str, PluginInfo], *enable: str) -> Any:
    data = deployment_data(database_url=NO_DB, plugins={"enable": list(enable)})
    return create_app(parse_deployment(data), available=available, profiles={"city": []})


def test_a_plugin_requiring_a_newer_facade_refuses_startup(tmp_path):
    plugin_folder(tmp_path, "fx_future", ">=2.0")
    available = discover(builtin_dir=tmp_path, use_entry_points=False)
    with pytest.raises(StartupError) as exc:
        start(available, "fx_future")
    err, text = exc.value, str(exc.value)
    assert (err.plugin, err.field) == ("fx_future", "requires_ccms")
    assert err.file == str(tmp_path / "fx_future" / "plugin.json")
    assert ">=2.0" in text and FACADE_VERSION in text  # what it wants and what this core offers
    assert "插件接口版本" in err.zh and "facade version" in err.en


def test_an_older_range_that_excludes_this_core_is_refused_too(tmp_path):
    plugin_folder(tmp_path, "fx_legacy", "<1.0")
    with pytest.raises(StartupError) as exc:
        start(discover(builtin_dir=tmp_path, use_entry_points=False), "fx_legacy")
    assert exc.value.field == "requires_ccms" and "<1.0" in str(exc.value)


def test_an_unsatisfied_plugin_that_is_not_enabled_does_not_stop_startup(tmp_path):
    plugin_folder(tmp_path, "fx_future", ">=2.0")
    plugin_folder(tmp_path, "fx_fits", f">={FACADE_VERSION},<{int(float(FACADE_VERSION)) + 1}")
    plugin_folder(tmp_path, "fx_silent")  # the field is optional
    ctx = start(discover(builtin_dir=tmp_path, use_entry_points=False), "fx_fits", "fx_silent").state.ccms
    assert sorted(p.id for p in ctx.plugins) == ["fx_fits", "fx_silent"]


@pytest.mark.parametrize("bad", ["1.0", ">= one", "~=1"])
def test_an_invalid_specifier_is_refused_at_discovery(tmp_path, bad):
    plugin_folder(tmp_path, "fx_typo", bad)
    with pytest.raises(StartupError) as exc:
        discover(builtin_dir=tmp_path, use_entry_points=False)
    err = exc.value
    assert (err.plugin, err.field) == ("fx_typo", "requires_ccms")
    assert err.file == str(tmp_path / "fx_typo" / "plugin.json")
    assert repr(bad) in err.zh and "not a valid version specifier" in err.en and ">=1.0,<2" in err.en


@pytest.mark.parametrize("bad", [2, "", "  "])
def test_a_requirement_that_is_no_string_is_an_invalid_manifest(tmp_path, bad):
    plugin_folder(tmp_path, "fx_typo", bad)
    with pytest.raises(StartupError) as exc:
        discover(builtin_dir=tmp_path, use_entry_points=False)
    assert exc.value.field == "requires_ccms" and "插件清单无效" in exc.value.zh


def test_every_builtin_plugin_declares_a_range_this_core_satisfies():
    available = discover(builtin_dir=BUILTIN_DIR, use_entry_points=False)
    assert available
    for info in available.values():
        spec = info.manifest.get("requires_ccms")
        assert spec, f"{info.manifest_file} declares no requires_ccms"
        assert SpecifierSet(spec).contains(FACADE_VERSION), (info.id, spec)


def test_the_scaffold_writes_the_current_major_range(tmp_path):
    target = scaffold_plugin("acme_range", tmp_path)
    manifest = json.loads((target / "acme_range" / "plugin.json").read_text(encoding="utf-8"))
    spec = SpecifierSet(manifest["requires_ccms"])
    assert spec.contains(FACADE_VERSION)
    major = int(FACADE_VERSION.split(".")[0])
    assert not spec.contains(f"{major + 1}.0")  # a breaking facade refuses it rather than failing later
