"""Meta-tests of the plugin contract: every hook is documented, called and tested."""

from __future__ import annotations

import inspect
from pathlib import Path

from ccms import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = [n for n in dir(hookspecs) if n.startswith("ccms_")]


def _text(folder: str, pattern: str = "*.py") -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / folder).rglob(pattern))


def test_every_hook_has_a_docstring():
    thin = [n for n in HOOKS if len(inspect.getdoc(getattr(hookspecs, n)) or "") <= 20]
    assert not thin, f"not documented: {thin}"


def test_every_hook_is_called_by_the_core():
    core = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "core").rglob("*.py")
                     if p.name != "hookspecs.py")
    for name in HOOKS:
        assert name in core, f"nothing in core calls {name}"


def test_every_hook_is_exercised_by_a_test_or_the_example_plugin():
    tests = _text("tests") + _text("plugins/example_notice") + "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "plugins").glob("*/tests/*.py"))  # plugins' own tests
    missing = [name for name in HOOKS if name not in tests]
    assert not missing, f"no test or example implements {missing}"


def test_every_hook_is_named_by_a_test_or_a_fixture_plugin():
    """Stricter than the example plugin: something under tests/ (or a built-in plugin's tests/)
    implements or calls each hook."""
    tests = _text("tests") + "\n".join(p.read_text(encoding="utf-8") for p in ROOT.glob("plugins/*/tests/*.py"))
    missing = [name for name in HOOKS if name not in tests]
    assert not missing, f"no test or fixture plugin names {missing}"


def test_every_hook_has_an_entry_in_the_hook_reference():
    doc = (ROOT / "docs" / "plugin-hooks.md").read_text(encoding="utf-8")
    entries = {line[4:].strip() for line in doc.splitlines() if line.startswith("### ")}
    assert not set(HOOKS) - entries, f"no entry in docs/plugin-hooks.md: {sorted(set(HOOKS) - entries)}"
    assert not entries - set(HOOKS), f"docs/plugin-hooks.md describes no such hook: {sorted(entries - set(HOOKS))}"


RENAMED = {"ccms_menu_items": "ccms_register_menu_items", "ccms_template_dirs": "ccms_register_template_dirs",
           "ccms_dashboard_panels": "ccms_register_dashboard_panels",
           "ccms_flow_actions": "ccms_register_flow_actions", "ccms_audit_event": "ccms_audit_recorded",
           "ccms_flow_event": "ccms_flow_event_occurred", "ccms_startup": "ccms_app_starting",
           "ccms_shutdown": "ccms_app_stopping"}


def test_hook_names_say_what_they_return():
    """register_* for things contributed, a past or progressive tense for events; old names are gone."""
    import re
    assert set(RENAMED.values()) <= set(HOOKS)
    old = re.compile(r"\b(" + "|".join(RENAMED) + r")\b")
    stale = []
    for folder, pattern in (("core", "*.py"), ("plugins", "*.py"), ("plugins", "*.md"), ("tests", "*.py"),
                            ("docs", "*.md"), ("themes", "*.html")):
        for p in (ROOT / folder).rglob(pattern):
            if p.name in ("hookspecs.py", "plugin-hooks.md", "test_hookspecs.py"):
                continue  # where the renames are listed
            stale += [f"{p.relative_to(ROOT)}: {m}" for m in old.findall(p.read_text(encoding="utf-8"))]
    assert not stale, stale
