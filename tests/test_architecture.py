"""Architecture as a test (issue 12): who may import whom in ccms.

The kernel (``core/``, installed as ``ccms``) is read with grimp, which builds the import graph
of a package from its source (imports inside functions count: they are dependencies too;
imports under ``if TYPE_CHECKING:`` do not). The built-in plugins (``plugins/``, installed as
``ccms.plugins`` through a package-dir mapping that grimp does not follow) are read with
:mod:`ast`. Every failure names the file and line of the offending import.

Contracts
---------
1. **Plugins import only the facade**: a plugin module imports from ccms only ``ccms.api``
   (its own modules, relative or absolute, are its business; its tests may also use
   ``ccms.testing``).
2. **The kernel never imports the facade** ``ccms.api``: the facade sits on the kernel, so
   a kernel module that needs one of its helpers gets it from the kernel module that
   defines it (``ccms.api`` re-exports it).
3. **Layers** (bottom to top); a module may import its own layer and the layers below,
   never a layer above. Every top-level ccms module is placed in a layer, so a new module
   must be placed here too (a clear failure says so).

   - *foundation*: no ccms imports beyond this layer — errors, db, i18n, validation
     (pydantic and JSON input into bilingual field errors), mask, jsonform, charts,
     hookspecs, migrate, accesslog, monitor_config, password_rules.
   - *kernel*: the tables and the rules every request meets — models, pii, config,
     audit (and its chain and refusals), auth, authz, login_guard, jobs, versioned,
     lookups (names for ids), plugin_loader, loganalysis, backup.
   - *domain*: the engines on the kernel — forms, flows, calendar, dictionaries,
     attachments, metrics.
   - *services*: the kernel's write services (orgs, people, roles, tokens, settings); they
     know the forms' permissions (roles) but no screen.
   - *web*: routes, screens, middleware, menus.
   - *app*: what assembles and drives it — app, builtin (core's own screens registered
     through the hooks), the facade api, cli and its command modules, serve, seed, demo,
     testing, scaffold.
4. **No cycles** among ccms modules.

Known exceptions are listed in ``PENDING`` with the work item that removes them; an entry
whose import is gone fails the test, so the list only shrinks.

A fifth check keeps imports inside functions honest: one that defers a real cost
(an optional heavy library, the whole app for a CLI command) says so with a
``# lazy: <why>`` comment on its line or on the line above it (or above its run of
import lines); any other is a circle dodged and should be a module-level import.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Iterable
from pathlib import Path

import grimp

import ccms

CORE = Path(ccms.__file__).parent

LAYERS: list[tuple[str, tuple[str, ...]]] = [  # bottom first
    ("foundation", ("errors", "db", "i18n", "validation", "mask", "jsonform", "charts", "hookspecs", "migrate",
                    "accesslog", "monitor_config", "password_rules", "contract", "tabular")),
    ("kernel", ("models", "pii", "config", "audit", "audit_chain", "audit_refusals", "auth", "authz",
                "login_guard", "jobs", "versioned", "lookups", "plugin_loader", "loganalysis", "backup")),
    ("domain", ("forms", "flows", "calendar", "dictionaries", "attachments", "metrics")),
    ("services", ("services", "plugin_context")),
    ("web", ("web", "menus", "route_guards")),
    ("app", ("app", "builtin", "api", "cli", "cli_audit", "cli_backup", "cli_common", "cli_pii", "cli_plugins", "serve", "seed",
             "demo", "testing", "scaffold")),
]

FACADE = "ccms.api"

# (importer, imported): why it is still there and which work item removes it.
PENDING: dict[tuple[str, str], str] = {}

# Modules still holding imports inside functions that dodge a circle or were never examined, and
# who takes them on; every other ccms module has none without a "# lazy:" reason.
NOT_YET_CLEANED: dict[str, str] = {}
# Their undocumented imports inside functions (217 in core before issue 12, none after): may only go down.
FUNCTION_IMPORTS_CEILING = 0


# --------------------------------------------------------------------------- reading the code

@functools.cache
def kernel_graph() -> grimp.ImportGraph:
    """Read from the source every run (no cache directory: a stale cache would hide an edit)."""
    return grimp.build_graph("ccms", include_external_packages=False, exclude_type_checking_imports=True,
                             cache_dir=None)


def source_of(module: str) -> str:
    """The file of a ccms module, relative to the repository when it lies inside it."""
    spec = importlib.util.find_spec(module)
    origin = Path(spec.origin) if spec and spec.origin else Path(module.replace(".", "/") + ".py")
    try:
        return str(origin.relative_to(CORE.parent))
    except ValueError:
        return str(origin)


def where(graph: grimp.ImportGraph, importer: str, imported: str) -> list[str]:
    """``file:line: code`` of each import of ``imported`` by ``importer``."""
    return [f"{source_of(importer)}:{d['line_number']}: {d['line_contents']}"
            for d in graph.get_import_details(importer=importer, imported=imported)]


def edges(graph: grimp.ImportGraph) -> Iterable[tuple[str, str]]:
    for m in sorted(graph.modules):
        for i in sorted(graph.find_modules_directly_imported_by(m)):
            yield m, i


# --------------------------------------------------------------------------- the checks

def layer_of(module: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for n, (_name, members) in enumerate(layers):
        if parts[1] in members:
            return n
    return None


def unplaced_modules(graph: grimp.ImportGraph) -> list[str]:
    return sorted(m for m in graph.find_children("ccms") if layer_of(m) is None)


def upward_imports(graph: grimp.ImportGraph, layers: list[tuple[str, tuple[str, ...]]] = LAYERS,
                   pending: dict[tuple[str, str], str] = PENDING) -> list[str]:
    out = []
    for m, i in edges(graph):
        lm, li = layer_of(m, layers), layer_of(i, layers)
        if lm is None or li is None or li <= lm or (m, i) in pending:
            continue
        for w in where(graph, m, i):
            out.append(f"{w}  ({layers[lm][0]} {m} imports {layers[li][0]} {i})")
    return out


def facade_imports(graph: grimp.ImportGraph) -> list[str]:
    if FACADE not in graph.modules:
        return []
    return [w for m in sorted(graph.find_modules_that_directly_import(FACADE)) if not m.startswith(FACADE)
            for w in where(graph, m, FACADE)]


def cycles(graph: grimp.ImportGraph, pending: dict[tuple[str, str], str] = PENDING) -> list[list[str]]:
    """Each import circle (a strongly connected set of modules) as the imports that form it."""
    succ = {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if (m, i) not in pending)
            for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in succ:  # Tarjan, iterative (no recursion limit on a large graph)
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, k = work.pop()
            if k == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            if k < len(succ[v]):
                work.append((v, k + 1))
                w = succ[v][k]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    members = set(comp)
                    found.append([w for m in sorted(comp) for i in succ[m] if i in members
                                  for w in where(graph, m, i)])
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return found


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def plugin_violations(folder: Path, package: str) -> list[str]:
    """Imports of ccms internals by the plugins under ``folder`` (installed as ``package``):
    ``file:line: code`` each. A plugin may import ``ccms.api`` and its own modules. Its
    ``tests/`` folder is not shipped (setup.py leaves it out) and is exempt: the built-in
    plugins' tests assert kernel state (audit rows, grants) as white-box integration tests."""
    out = []
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder)
        if "tests" in rel.parts[1:-1]:  # a built-in plugin's own tests (not shipped) may read kernel state
            continue
        parts = list(rel.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        module = ".".join([package, *parts])
        own = ".".join([package, *parts[:1]])
        allowed = {FACADE} | ({"ccms.testing"} if "tests" in parts else set())
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, module, is_package)
                targets = [f"{base}.{a.name}" if base == "ccms" else base for a in node.names]
            else:
                continue
            for t in targets:
                if t != "ccms" and not t.startswith("ccms."):
                    continue
                if t in allowed or t.startswith(FACADE + ".") or t == own or t.startswith(own + "."):
                    continue
                shown = path.relative_to(folder.parent) if folder.parent in path.parents else path
                out.append(f"{shown}:{node.lineno}: {lines[node.lineno - 1].strip()}  (imports {t})")
                break
    return out


def _imports_in_functions(tree: ast.AST) -> Iterable[ast.stmt]:
    """Import statements nested in a function body (at any depth)."""
    todo: list[tuple[ast.AST, bool]] = [(tree, False)]
    while todo:
        node, inside = todo.pop()
        if inside and isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        nested = inside or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        todo.extend((child, nested) for child in ast.iter_child_nodes(node))


def _documented(lines: list[str], n: int) -> bool:
    """Whether the import on line ``n`` (0-based) says why it is deferred: ``# lazy:`` on its line,
    or on the line just above it or above the run of import lines it belongs to."""
    while n >= 0:
        line = lines[n]
        if "# lazy:" in line:
            return True
        stripped = line.strip()
        if not (stripped.startswith(("import ", "from ")) or n == 0):
            return False
        n -= 1
    return False


@functools.cache
def function_level_imports(folder: Path, package: str = "ccms") -> dict[str, list[str]]:
    """Undocumented imports inside functions, per module: ``{module: ["file:line: code"]}``."""
    out: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder)
        if rel.parts[0] in ("scaffold_template", "migrations"):
            continue  # a template for new plugins; Alembic scripts
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        module = ".".join([package, *parts])
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in sorted(_imports_in_functions(ast.parse(text, filename=str(path))), key=lambda n: n.lineno):
            here = lines[node.lineno - 1]
            if _documented(lines, node.lineno - 1):
                continue
            out.setdefault(module, []).append(f"{path.relative_to(folder.parent)}:{node.lineno}: {here.strip()}")
    return out


# --------------------------------------------------------------------------- the contracts

def test_plugins_import_only_the_facade() -> None:
    import ccms.plugins
    folder = Path(next(iter(ccms.plugins.__path__)))
    found = plugin_violations(folder, "ccms.plugins")
    assert not found, "plugins import ccms internals (use ccms.api):\n" + "\n".join(found)


def test_the_kernel_never_imports_the_facade() -> None:
    found = facade_imports(kernel_graph())
    assert not found, "the kernel imports the facade ccms.api (import the kernel module instead):\n" + "\n".join(found)


def test_every_module_has_a_layer() -> None:
    missing = unplaced_modules(kernel_graph())
    assert not missing, f"place these modules in a layer (LAYERS in {__file__}): {missing}"


def test_no_import_reaches_up_a_layer() -> None:
    found = upward_imports(kernel_graph())
    assert not found, "imports from a higher layer:\n" + "\n".join(found)


def test_no_import_cycles() -> None:
    found = cycles(kernel_graph())
    assert not found, "import circles:\n" + "\n\n".join("\n".join(c) for c in found)


def test_pending_exceptions_still_exist() -> None:
    graph = kernel_graph()
    gone = [pair for pair in PENDING if not graph.direct_import_exists(importer=pair[0], imported=pair[1])]
    assert not gone, f"these imports are gone: delete them from PENDING in {__file__}: {gone}"


def test_imports_inside_functions_say_why() -> None:
    found = function_level_imports(CORE)
    left = [w for m, ws in found.items() if m not in NOT_YET_CLEANED for w in ws]
    assert not left, ("imports inside functions: move them to the top of the module, or say why they are "
                      "deferred with '# lazy: <why>':\n" + "\n".join(left))


def test_function_level_imports_only_go_down() -> None:
    found = function_level_imports(CORE)
    total = sum(len(ws) for ws in found.values())
    listing = "\n".join(w for ws in found.values() for w in ws)
    assert total <= FUNCTION_IMPORTS_CEILING, (
        f"{total} undocumented imports inside functions in core (at most {FUNCTION_IMPORTS_CEILING}):\n{listing}")


# --------------------------------------------------------------------------- the checks can fail

def test_a_plugin_importing_a_core_internal_is_named_by_file_and_line(tmp_path: Path) -> None:
    plugin = tmp_path / "plugins" / "leaky"
    (plugin / "tests").mkdir(parents=True)
    (plugin / "__init__.py").write_text("", encoding="utf-8")
    (plugin / "service.py").write_text(
        "from ccms.api import ctx_of\n"
        "from . import helpers\n"
        "from .helpers import x\n"
        "\n"
        "def names(session):\n"
        "    from ccms.models import Person\n"
        "    return Person\n", encoding="utf-8")
    (plugin / "helpers.py").write_text("import ccms.api\nfrom ccms import db, api\nx = 1\n", encoding="utf-8")
    (plugin / "tests" / "test_it.py").write_text("from ccms.testing import make_app\nfrom ..service import names\n",
                                                 encoding="utf-8")
    found = plugin_violations(tmp_path / "plugins", "ccms.plugins")
    assert found == [
        "plugins/leaky/helpers.py:2: from ccms import db, api  (imports ccms.db)",
        "plugins/leaky/service.py:6: from ccms.models import Person  (imports ccms.models)",
    ]


def _graph(*imports: tuple[str, str, int]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for importer, imported, line in imports:
        graph.add_import(importer=importer, imported=imported, line_number=line, line_contents=f"import {imported}")
    return graph


def test_an_upward_import_and_a_cycle_are_named_by_file_and_line() -> None:
    graph = _graph(("ccms.models", "ccms.web.routing", 7), ("ccms.web.routing", "ccms.models", 3),
                   ("ccms.web.render", "ccms.errors", 1))
    up = upward_imports(graph, pending={})
    assert up == ["core/models.py:7: import ccms.web.routing  (kernel ccms.models imports web ccms.web.routing)"]
    assert cycles(graph, pending={}) == [["core/models.py:7: import ccms.web.routing",
                                          "core/web/routing.py:3: import ccms.models"]]
    assert facade_imports(_graph(("ccms.forms.render", "ccms.api", 12))) == [
        "core/forms/render.py:12: import ccms.api"]
