"""The version of the plugin contract, which plugins name in ``requires_ccms``.

``FACADE_VERSION`` versions what a plugin may rely on: the names in
``ccms.api.__all__`` (re-exported there), the hooks of ``ccms.hookspecs`` and
the fields of ``plugin.json``. It is ``MAJOR.MINOR`` and independent of the
package version:

* MINOR goes up when the contract only gains (a new facade name or hook, a new
  optional argument or manifest field): plugins written for 1.0 run on 1.1.
* MAJOR goes up when something a plugin may use is removed, renamed or changes
  meaning (a name leaves ``__all__``, a hook's arguments or result change, a
  manifest field means something else).
* Changes behind the facade bump nothing.

A plugin declares the range it was written for, e.g. ``">=1.0,<2"`` (a PEP 440
specifier); start-up refuses an enabled plugin whose range excludes this core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from .errors import StartupError

FACADE_VERSION = "1.0"
FIELD = "requires_ccms"
# What ``ccms plugins new`` writes: this major version, from its first minor.
SCAFFOLD_REQUIREMENT = f">={Version(FACADE_VERSION).major}.0,<{Version(FACADE_VERSION).major + 1}"

__all__ = ["FACADE_VERSION", "SCAFFOLD_REQUIREMENT", "check_requirement", "parse_requirement"]


def parse_requirement(manifest: dict[str, Any], plugin: str, file: Path | str) -> SpecifierSet | None:
    """The manifest's ``requires_ccms`` as a specifier set (``None`` when absent);
    refuses a string that is not a PEP 440 specifier."""
    text = manifest.get(FIELD)
    if text is None:
        return None
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise StartupError(f"requires_ccms 不是有效的版本范围: {text!r}（应写成如 \"{SCAFFOLD_REQUIREMENT}\"）",
                           f"requires_ccms is not a valid version specifier: {text!r} "
                           f"(write e.g. \"{SCAFFOLD_REQUIREMENT}\")",
                           plugin=plugin, file=str(file), field=FIELD) from None


def check_requirement(manifest: dict[str, Any], plugin: str, file: Path | str,
                      version: str = FACADE_VERSION) -> None:
    """Refuse a plugin whose ``requires_ccms`` excludes this core's facade version."""
    spec = parse_requirement(manifest, plugin, file)
    if spec is not None and not spec.contains(Version(version), prereleases=True):
        raise StartupError(f"插件 {plugin} 要求 ccms 插件接口版本 {spec}，当前核心提供的是 {version}",
                           f"plugin {plugin} requires ccms facade version {spec}; this core provides {version}",
                           plugin=plugin, file=str(file), field=FIELD)
