"""Message catalogs: zh-CN first, English available per deployment.

Catalogs are JSON files ``locales/<lang>/*.json`` (key -> text) in core and in
each plugin folder; later plugins may override keys. Texts may use
``{name}`` placeholders. A missing key falls back to zh-CN, then to the key
itself (and ``tests/test_i18n.py`` fails on any key missing in a catalog).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

LOCALES = ("zh-CN", "en")
CORE_LOCALES = Path(__file__).parent / "locales"


class Catalog:
    def __init__(self, folders: Iterable[Path] = (CORE_LOCALES,)) -> None:
        self.messages: dict[str, dict[str, str]] = {lang: {} for lang in LOCALES}
        for folder in folders:
            self.add_folder(folder)

    def add_folder(self, folder: Path) -> None:
        for lang in LOCALES:
            d = folder / lang
            if d.is_dir():
                for f in sorted(d.glob("*.json")):
                    self.messages[lang].update(json.loads(f.read_text(encoding="utf-8")))

    def gettext(self, key: str, locale: str = "zh-CN", **kw: Any) -> str:
        text = self.messages.get(locale, {}).get(key) or self.messages["zh-CN"].get(key) or key
        if kw:
            try:
                return text.format(**kw)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    def has(self, key: str, locale: str = "zh-CN") -> bool:
        """Whether a text exists for ``key`` (so a name from an address never shows as a raw key)."""
        return key in self.messages.get(locale, {}) or key in self.messages["zh-CN"]

    def translator(self, locale: str):
        def _(key: str, **kw: Any) -> str:
            return self.gettext(key, locale, **kw)
        return _

    def localize(self, value: Any, locale: str = "zh-CN") -> str:
        """Text from a manifest: a plain string or ``{"zh-CN": ..., "en": ...}``."""
        if isinstance(value, dict):
            return value.get(locale) or value.get("zh-CN") or next(iter(value.values()), "")
        return str(value or "")
