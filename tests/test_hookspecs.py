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
