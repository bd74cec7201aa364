"""ccms as an installed wheel: built from the source tree, installed non-editable
into a fresh virtual environment, and used from outside the source tree.

Dependencies come from the running environment (no downloads): the new
environment sees the system site-packages and, through a ``.pth`` file, the
running environment's (a CI virtualenv). Paths listed in a ``.pth`` file are
only appended to ``sys.path``; their own ``.pth`` files (such as an editable
install of ccms) are not run, and the wheel's ``ccms`` in the new
environment's site-packages comes first anyway; the test checks it.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SOURCE = Path(__file__).resolve().parent.parent
NOT_SHIPPED_SUFFIXES = (".pyc",)  # what a run leaves behind in the source tree


def run(cmd: list[str], cwd: Path, timeout: int = 600, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def clean_env() -> dict[str, str]:
    """No PYTHONPATH or pytest variables of this run leak into the installed one."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PYTEST")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build from a copy of the tree, so the build leaves nothing in the checkout."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(SOURCE / name, src / name)
    for folder in ("core", "plugins"):  # __pycache__ and tests/ are copied: the build must leave them out
        shutil.copytree(SOURCE / folder, src / folder)
    out = base / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-w", str(out), str(src)], cwd=base, env=clean_env())
    (built,) = out.glob("ccms-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with the wheel installed (``--no-deps``: dependencies are visible already)."""
    home = tmp_path_factory.mktemp("venv") / "env"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(home)], cwd=home.parent, env=clean_env())
    python = home / "bin" / "python"
    purelib = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       cwd=home.parent).strip())
    running = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "_ccms_running_env.pth").write_text("\n".join(running) + "\n", encoding="utf-8")
    run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--disable-pip-version-check",
         str(wheel)], cwd=home.parent, env=clean_env())
    return home


def test_the_wheel_holds_only_ccms_without_tests_or_caches(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
    top_level = zipfile.ZipFile(wheel).read(f"{dist_info}/top_level.txt").decode().split()
    assert top_level == ["ccms"]
    assert {n.split("/")[0] for n in names} == {"ccms", dist_info}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # The scaffold's template for a new plugin's tests is data (*.tmpl), not a test suite.
    assert [n for n in names if "/tests/" in n] == ["ccms/scaffold_template/tests/test___PLUGIN_ID__.py.tmpl"]
    assert {"ccms/rbac/model.conf", "ccms/form_defs/meta-schema.json", "ccms/flow_defs/meta-schema.json",
            "ccms/themes/default/templates/base.html", "ccms/plugins/command/plugin.json",
            "ccms/contract.py"} <= set(names)


def test_every_file_the_app_reads_is_in_the_wheel(wheel):
    """Each file of core/ and plugins/ (tests and caches aside) ships, under ccms/."""
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = []
    for folder, prefix in (("core", "ccms/"), ("plugins", "ccms/plugins/")):
        for path in sorted((SOURCE / folder).rglob("*")):
            rel = path.relative_to(SOURCE / folder)
            if (path.is_dir() or "__pycache__" in rel.parts or path.name.endswith(NOT_SHIPPED_SUFFIXES)
                    or ("tests" in rel.parts and rel.parts[0] != "scaffold_template")):
                continue
            if prefix + rel.as_posix() not in names:
                missing.append(f"{folder}/{rel.as_posix()}")
    assert not missing, missing


def test_the_installed_ccms_is_the_wheel_not_the_source_tree(venv, tmp_path):
    out = run([str(venv / "bin" / "python"), "-c",
               "import json, ccms, ccms.plugins, ccms.plugin_loader as pl, ccms.web.render as r, ccms.authz as a;"
               "print(json.dumps([ccms.__file__, ccms.plugins.__file__, str(pl.BUILTIN_DIR), str(r.THEMES_DIR),"
               " str(a.MODEL_PATH)]))"], cwd=tmp_path, env=clean_env())
    installed = (venv / "lib").resolve()
    for path in json.loads(out):
        resolved = Path(path).resolve()
        assert resolved.is_relative_to(installed) and "site-packages" in resolved.parts, path
        assert not resolved.is_relative_to(SOURCE), path
        assert resolved.exists(), path


def test_demo_runs_from_the_installed_wheel(venv, tmp_path):
    work = tmp_path / "elsewhere"  # outside the source tree
    work.mkdir()
    out = run([str(venv / "bin" / "ccms"), "demo", "--no-serve", "--data-dir", str(work / "demo"), "--port", "8765"],
              cwd=work, env=clean_env(), timeout=900)
    assert "http://127.0.0.1:8765/" in out
    assert "demo logins" in out and "admin" in out
    assert (work / "demo" / "demo.toml").exists()


def test_a_new_plugin_passes_its_own_tests_against_the_installed_wheel(venv, tmp_path):
    ccms, python = str(venv / "bin" / "ccms"), str(venv / "bin" / "python")
    work = tmp_path / "elsewhere"
    work.mkdir()
    out = run([ccms, "plugins", "new", "acme_demo", "--dest", str(work)], cwd=work, env=clean_env())
    dist = work / "ccms-acme-demo"
    assert str(dist) in out
    manifest = json.loads((dist / "acme_demo" / "plugin.json").read_text(encoding="utf-8"))
    assert manifest["requires_ccms"] == ">=1.0,<2"
    assert (dist / "tests" / "test_acme_demo.py").exists()

    # The scaffolded plugin's own tests, against the installed wheel.
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", str(dist)], cwd=work, env=clean_env())
    out = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=dist, env=clean_env())
    assert "4 passed" in out
