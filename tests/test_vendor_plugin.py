"""A vendor's plugin as its own distribution: scaffold, pip install, enable.

The scaffold is installed once per module with pip into a private target
folder that is put on ``sys.path``, exactly how a deployment sees a plugin
installed next to ccms: through the ``ccms.plugins`` entry point.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Iterator

import pytest

from conftest import ADMIN_PASSWORD, ADMIN_USER
from ccms.errors import ValidationFailed
from ccms.plugin_loader import ROOT, discover, plugin_rows, read_manifest
from ccms.scaffold import scaffold_plugin

SOURCE = "distribution ccms-acme-parking 0.1.0"


def _purge(folder: Path) -> None:
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name == "acme_parking" or name.startswith("acme_parking.") or (file and Path(file).is_relative_to(folder)):
            del sys.modules[name]


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(distribution folder, install target) with the target on ``sys.path``."""
    base = tmp_path_factory.mktemp("vendor")
    dist = scaffold_plugin("acme_parking", base)
    site = base / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--disable-pip-version-check", "--target", str(site), str(dist)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip install failed (is the 'wheel' package installed?):\n{proc.stdout}\n{proc.stderr}"
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield dist, site
    finally:
        sys.path.remove(str(site))
        _purge(site)
        _purge(dist)
        importlib.invalidate_caches()


def test_scaffold_writes_a_complete_distribution(tmp_path):
    dist = scaffold_plugin("acme_parking", tmp_path)
    assert dist == tmp_path / "ccms-acme-parking"
    project = tomllib.loads((dist / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == "ccms-acme-parking"
    assert project["project"]["entry-points"]["ccms.plugins"] == {"acme_parking": "acme_parking"}
    manifest = read_manifest(dist / "acme_parking" / "plugin.json", expected_id="acme_parking")  # core's schema
    assert [p["id"] for p in manifest["permissions"]] == ["acme_parking.view"]
    assert manifest["menus"][0]["children"][0]["url"] == "/acme_parking"
    assert manifest["forms"] == ["form_defs/acme_parking_record.json"]
    from ccms.forms.definition import load_definition  # the forms engine's own check (meta-schema and all)
    form = load_definition(json.loads((dist / "acme_parking" / "form_defs" / "acme_parking_record.json")
                                      .read_text(encoding="utf-8")), "scaffold")
    assert form.id == "acme_parking_record" and set(form.top_fields) == set(form.schema["properties"])
    for name in ("README.md", "tests/test_acme_parking.py", "acme_parking/__init__.py",
                 "acme_parking/templates/acme_parking/index.html"):
        assert (dist / name).is_file(), name
    zh = json.loads((dist / "acme_parking/locales/zh-CN/acme_parking.json").read_text(encoding="utf-8"))
    en = json.loads((dist / "acme_parking/locales/en/acme_parking.json").read_text(encoding="utf-8"))
    assert set(zh) == set(en)
    assert "__PLUGIN_ID__" not in (dist / "acme_parking/__init__.py").read_text(encoding="utf-8")
    code = (dist / "acme_parking/__init__.py").read_text(encoding="utf-8")
    compile(code, "acme_parking/__init__.py", "exec")
    core_imports = [line for line in code.splitlines() if line.startswith(("from ccms", "import ccms"))]
    assert core_imports and all(line.startswith("from ccms.api import") for line in core_imports)  # the facade only


def test_scaffold_titles_and_tiers_are_used(tmp_path):
    dist = scaffold_plugin("gardens", tmp_path, title_zh="园林绿化", title_en="Landscaping",
                           tiers=["city", "county"])
    manifest = read_manifest(dist / "gardens" / "plugin.json")
    assert manifest["name"] == {"zh-CN": "园林绿化", "en": "Landscaping"}
    assert manifest["tiers"] == ["city", "county"]


@pytest.mark.parametrize("name", ["Acme", "1acme", "a", "acme-parking", "acme parking", "x" * 42, "acme.parking",
                                  "", "_acme"])
def test_invalid_plugin_names_are_refused_bilingually(tmp_path, name):
    with pytest.raises(ValidationFailed) as exc:
        scaffold_plugin(name, tmp_path)
    assert "插件名称" in exc.value.zh and "plugin name" in exc.value.en
    assert "name" in exc.value.fields
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("name,why", [pytest.param("command", "built-in", marks=pytest.mark.needs_plugins("command")),
                                      pytest.param("example_notice", "built-in",
                                                   marks=pytest.mark.needs_plugins("example_notice")),
                                      ("core", "reserved"), ("json", "reserved"), ("tests", "reserved")])
def test_clashing_plugin_names_are_refused(tmp_path, name, why):
    with pytest.raises(ValidationFailed) as exc:
        scaffold_plugin(name, tmp_path)
    assert why in exc.value.en and exc.value.zh
    assert list(tmp_path.iterdir()) == []


def test_scaffold_never_overwrites(tmp_path):
    scaffold_plugin("acme_parking", tmp_path)
    readme = tmp_path / "ccms-acme-parking" / "README.md"
    readme.write_text("mine", encoding="utf-8")
    with pytest.raises(ValidationFailed) as exc:
        scaffold_plugin("acme_parking", tmp_path)
    assert "已存在" in exc.value.zh and "exists" in exc.value.en
    assert readme.read_text(encoding="utf-8") == "mine"


def test_bad_tiers_are_refused(tmp_path):
    with pytest.raises(ValidationFailed):
        scaffold_plugin("acme_parking", tmp_path, tiers=["town"])
    with pytest.raises(ValidationFailed):
        scaffold_plugin("acme_parking", tmp_path, tiers=[])


def test_installed_distribution_is_discovered_through_its_entry_point(vendor):
    _dist, site = vendor
    available = discover()
    info = available["acme_parking"]
    assert info.source == SOURCE
    assert info.folder == site / "acme_parking" and info.module_name == "acme_parking"
    row = next(r for r in plugin_rows(available, []) if r["id"] == "acme_parking")
    assert row == {"id": "acme_parking", "name": "Acme Parking", "version": "0.1.0", "tiers": ["city"],
                   "depends": [], "enabled": False, "source": SOURCE, "status": "disabled", "error": None}


def test_vendor_plugin_enabled_in_one_deployment_only(vendor, make_app, new_db_url, client_for):
    _dist, site = vendor
    with_it = make_app(plugins={"enable": ["acme_parking"]})
    without = make_app(db_url=new_db_url())
    on_ctx, off_ctx = with_it.state.ccms, without.state.ccms
    on = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=with_it)
    off = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=without)

    page = on.get("/acme_parking")
    assert page.status_code == 200
    assert 'data-testid="acme_parking-index"' in page.text and "欢迎使用Acme Parking" in page.text
    assert 'data-menu="acme_parking.index"' in on.get("/").text
    assert "acme_parking.view" in on_ctx.permissions
    assert on_ctx.permissions["acme_parking.view"]["plugin"] == "acme_parking"
    assert next(r for r in plugin_rows(on_ctx) if r["id"] == "acme_parking")["enabled"] is True
    assert next(p for p in on_ctx.plugins if p.id == "acme_parking").folder == site / "acme_parking"

    assert off.get("/acme_parking").status_code == 404
    assert 'data-menu="acme_parking' not in off.get("/").text
    assert "acme_parking.view" not in off_ctx.permissions
    row = next(r for r in plugin_rows(off_ctx) if r["id"] == "acme_parking")
    assert row["enabled"] is False and row["source"] == SOURCE


@pytest.mark.needs_plugins("guidance", "command", "industry", "public_service", "data_hub", "exchange")  # make_test_app's default city profile
def test_scaffolded_plugin_tests_pass_as_generated(vendor):
    dist, site = vendor
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=dist,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "4 passed" in proc.stdout
