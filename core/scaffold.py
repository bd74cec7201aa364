"""``ccms plugins new NAME``: a vendor plugin as its own pip-installable distribution.

A local vendor starts from a working plugin rather than from the docs: the
generated distribution registers through the ``ccms.plugins`` entry point,
ships a valid manifest, one route behind its permission with a menu entry,
one form definition and a test file that passes as generated. The files come
from ``core/scaffold_template/`` (``__PLUGIN_ID__`` and friends are replaced
in names and contents).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Iterable

from .contract import SCAFFOLD_REQUIREMENT
from .errors import ValidationFailed
from .plugin_loader import BUILTIN_DIR, plugin_rows, read_manifest  # noqa: F401  (plugin_rows: for the CLI)

TEMPLATE_DIR = Path(__file__).parent / "scaffold_template"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
RESERVED = {"core", "plugins", "tests", "ccms", "test", "site", "setup"}
TIERS = ("national", "province", "city", "county")

__all__ = ["NAME_RE", "check_name", "dist_name", "plugin_rows", "scaffold_plugin"]


def _refuse(zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(zh, en, fields={"name": {"message": zh, "message_en": en}})


def check_name(name: str) -> str:
    """A plugin id is also a Python package, a permission prefix and a table
    prefix: lower-case, starting with a letter, 2–41 characters, and unique."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _refuse(f"插件名称 {name!r} 无效：须以小写字母开头，只含小写字母、数字和下划线，长度 2–41",
                      f"invalid plugin name {name!r}: start with a lower-case letter, then lower-case letters, "
                      "digits or underscores, 2-41 characters in all")
    builtin = {p.name for p in BUILTIN_DIR.iterdir() if (p / "plugin.json").exists()} if BUILTIN_DIR.is_dir() else set()
    if name in builtin:
        raise _refuse(f"插件名称 {name} 与内置插件重名", f"plugin name {name} clashes with a built-in plugin")
    if name in RESERVED or name in sys.stdlib_module_names:
        raise _refuse(f"插件名称 {name} 是保留名称（与 ccms 或 Python 标准库的模块重名）",
                      f"plugin name {name} is reserved (a module of ccms or of the Python standard library)")
    return name


def dist_name(name: str) -> str:
    """The distribution's name on an index: ``acme_parking`` -> ``ccms-acme-parking``."""
    return "ccms-" + name.replace("_", "-")


def scaffold_plugin(name: str, dest: Path, *, title_zh: str | None = None, title_en: str | None = None,
                    tiers: Iterable[str] = ("city",)) -> Path:
    """Write a new plugin distribution into ``dest/ccms-<name>/`` and return that folder.

    Refuses an invalid or clashing name and an existing, non-empty target
    (bilingual :class:`ValidationFailed`); never overwrites a file.
    """
    check_name(name)
    tiers = list(tiers)
    bad = [t for t in tiers if t not in TIERS]
    if not tiers or bad:
        raise ValidationFailed(f"层级无效: {', '.join(bad) or '（空）'}，可选 {', '.join(TIERS)}",
                               f"invalid tiers: {', '.join(bad) or '(none)'}; choose from {', '.join(TIERS)}",
                               fields={"tiers": {"message": "层级无效", "message_en": "invalid tiers"}})
    title_en = title_en or name.replace("_", " ").title()
    title_zh = title_zh or title_en
    for label, value in (("title_zh", title_zh), ("title_en", title_en)):
        if any(c in value for c in '"\\<>{}\n'):
            raise ValidationFailed(f"{label} 含有不允许的字符", f"{label} contains characters that are not allowed",
                                   fields={label: {"message": "含有不允许的字符", "message_en": "characters not allowed"}})
    target = Path(dest) / dist_name(name)
    if target.exists() and any(target.iterdir()):
        raise ValidationFailed(f"目标目录已存在且非空: {target}", f"target folder exists and is not empty: {target}",
                               fields={"dest": {"message": "目录已存在", "message_en": "folder exists"}})
    tokens = {"__PLUGIN_ID__": name, "__DIST_NAME__": dist_name(name), "__TITLE_ZH__": title_zh,
              "__TITLE_EN__": title_en, "__TIERS__": json.dumps(tiers),
              "__REQUIRES_CCMS__": SCAFFOLD_REQUIREMENT}

    def fill(text: str) -> str:
        for key, value in tokens.items():
            text = text.replace(key, value)
        return text

    for src in sorted(TEMPLATE_DIR.rglob("*.tmpl")):
        rel = src.relative_to(TEMPLATE_DIR).with_suffix("")  # drop ".tmpl"
        out = target / fill(str(rel))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(fill(src.read_text(encoding="utf-8")), encoding="utf-8")
    read_manifest(target / name / "plugin.json", expected_id=name)  # the core schema accepts what we wrote
    return target
