"""Every permission check names the org it applies to (issue 10, defect 2).

``App.can`` / ``App.require`` take the org id as a required argument; "holds it
somewhere" is the separate ``can_anywhere`` / ``require_anywhere``. Python
would already refuse a call that leaves the org out, but only when that line
runs: this scan finds every such call in core/ and plugins/ (and templates'
``can(...)``) before it ships, naming file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("core", "plugins", "tests/plugin_fixtures")  # the fixtures are plugins too
# ``something.can(user, perm, org)`` / ``.require(user, perm, org)``: 3 positional
# arguments or ``org_id=``. Other objects' ``require`` methods take other shapes:
# only receivers that are the app/plugin context are checked.
CONTEXT_NAMES = {"ctx", "app", "self", "context"}


def _receiver_is_context(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in CONTEXT_NAMES
    if isinstance(node, ast.Subscript):  # request.scope["ccms"]
        sl = node.slice
        return isinstance(sl, ast.Constant) and sl.value == "ccms"
    if isinstance(node, ast.Attribute):  # request.app.state.ctx, self.ctx
        return node.attr in CONTEXT_NAMES
    return False


def calls_without_org(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, source-ish) of ``ctx.can``/``ctx.require`` calls that do not pass an org."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("can", "require") and _receiver_is_context(node.func.value)):
            continue
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            out.append((node.lineno, f"{node.func.attr}(*args/**kw) hides whether an org is passed"))
            continue
        org = node.args[2] if len(node.args) >= 3 else next(
            (k.value for k in node.keywords if k.arg == "org_id"), None)
        if org is None:
            out.append((node.lineno, f".{node.func.attr}() without an org"))
    return out


TEMPLATE_CAN = re.compile(r"(?<![\w.])can\(\s*(['\"][^'\"]*['\"])\s*\)")


def offenders() -> list[str]:
    found: list[str] = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for line, what in calls_without_org(tree):
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    for top in SOURCES:  # core/ holds the themes
        for path in sorted((ROOT / top).rglob("*.html")):
            for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if TEMPLATE_CAN.search(text):
                    found.append(f"{path.relative_to(ROOT)}:{n}: template can() without an org "
                                 "(use can_anywhere() for buttons)")
    return found


def test_every_permission_check_names_its_org():
    assert offenders() == []


@pytest.mark.parametrize("source, bad", [
    ("ctx.can(user, 'x.view')", True),
    ("ctx.require(user, 'x.view')", True),
    ("request.scope['ccms'].require(user, 'x')", True),
    ("ctx.can(user, 'x.view', None)", False),  # explicit: an object of no org (root grants only)
    ("ctx.can(user, *args)", True),
    ("ctx.can(user, 'x.view', row.org_id)", False),
    ("ctx.require(user, 'x.view', org_id=o)", False),
    ("ctx.can_anywhere(user, 'x.view')", False),
    ("classes.require('component', code)", False),
])
def test_the_scan_recognises_calls(source, bad):
    assert bool(calls_without_org(ast.parse(source))) is bad


def test_can_without_org_is_a_type_error(ctx):
    """The API itself refuses the old call shape (no silent "anywhere")."""
    with pytest.raises(TypeError):
        ctx.can(None, "core.org.view")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ctx.require(None, "core.org.view")  # type: ignore[call-arg]
