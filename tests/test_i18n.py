"""Every UI string goes through the catalogs, and both languages have every key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ccms.i18n import Catalog

ROOT = Path(__file__).resolve().parent.parent
KEY_RE = re.compile(r"""(?<![\w.])_\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")
GETTEXT_RE = re.compile(r"""gettext\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")


def _catalog_folders() -> list[Path]:
    folders = [ROOT / "core" / "locales"]
    folders += [p / "locales" for p in sorted((ROOT / "plugins").iterdir()) if (p / "locales").is_dir()]
    return folders


def _used_keys() -> dict[str, str]:
    used: dict[str, str] = {}
    files = list((ROOT / "core").rglob("*.html")) + list((ROOT / "plugins").rglob("*.html"))
    files += list((ROOT / "core").rglob("*.py")) + list((ROOT / "plugins").rglob("*.py"))
    for f in files:
        text = f.read_text(encoding="utf-8")
        for m in list(KEY_RE.finditer(text)) + list(GETTEXT_RE.finditer(text)):
            used.setdefault(m.group(1), str(f.relative_to(ROOT)))
    return used


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_used_key_is_in_each_catalog(lang):
    cat = Catalog(_catalog_folders())
    missing = {k: f for k, f in _used_keys().items() if k not in cat.messages[lang]}
    assert not missing, f"keys missing in {lang}: {missing}"


def test_catalogs_have_the_same_keys():
    for folder in _catalog_folders():
        zh = {f.name: set(json.loads(f.read_text(encoding="utf-8"))) for f in (folder / "zh-CN").glob("*.json")}
        en = {f.name: set(json.loads(f.read_text(encoding="utf-8"))) for f in (folder / "en").glob("*.json")}
        assert zh.keys() == en.keys(), folder
        for name in zh:
            assert zh[name] == en[name], f"{folder}/{name}: {sorted(zh[name] ^ en[name])}"


def test_no_key_is_defined_in_two_files():
    """Files of one folder are merged in name order, so a key defined twice is
    silently overridden (an audit action read 校验审计日志 instead of 校验审计链)."""
    for folder in _catalog_folders():
        for lang in ("zh-CN", "en"):
            seen: dict[str, str] = {}
            twice = []
            for f in sorted((folder / lang).glob("*.json")):
                for key in json.loads(f.read_text(encoding="utf-8")):
                    if key in seen:
                        twice.append(f"{key}: {seen[key]} and {f.name}")
                    seen[key] = f.name
            assert not twice, f"{folder}/{lang}: {twice}"


def test_missing_key_falls_back_to_chinese_then_key(tmp_path):
    (tmp_path / "zh-CN").mkdir()
    (tmp_path / "zh-CN" / "x.json").write_text(json.dumps({"a.b": "甲{n}"}), encoding="utf-8")
    cat = Catalog([tmp_path])
    assert cat.gettext("a.b", "en", n=1) == "甲1"
    assert cat.gettext("no.such", "en") == "no.such"


def test_english_deployment_renders_english(make_app, client_for):
    app = make_app(locale="en")
    page = client_for(app_=app).get("/login")
    assert "Log in" in page.text and "登录" not in page.text.split("<title>")[1].split("</title>")[0]
