"""Plugin discovery, manifest validation, dependency order and the pluggy manager.

Built-in plugins live in ``plugins/<id>/`` (a ``plugin.json`` beside an
``__init__.py``); third-party ones are distributions registering a module in
the entry-point group ``ccms.plugins``. Every fault stops start-up with a
:class:`StartupError` naming the plugin, the file and the field.
"""

from __future__ import annotations

import difflib
import graphlib
import heapq
import importlib
import importlib.util
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

import jsonschema
import jsonschema_rs
import pluggy

from . import contract, hookspecs
from .errors import StartupError

ENTRY_POINT_GROUP = "ccms.plugins"
ROOT = Path(__file__).resolve().parent.parent


def _builtin_dir() -> Path:
    """Where the package ``ccms.plugins`` lives: ``plugins/`` of a source tree
    (editable install) or ``ccms/plugins/`` of an installed wheel."""
    spec = importlib.util.find_spec("ccms.plugins")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parent / "plugins"  # not installed: an empty place, no built-in plugins


SHIPPED_BUILTIN_DIR = _builtin_dir()
# CCMS_BUILTIN_PLUGINS_DIR points the built-in folder elsewhere (an empty folder: core alone).
# Plugins found there import by folder name, so that folder's parent must be on sys.path.
BUILTIN_DIR = Path(os.environ.get("CCMS_BUILTIN_PLUGINS_DIR") or SHIPPED_BUILTIN_DIR)
PROFILES_FILE = Path(__file__).parent / "profiles.json"
MANIFEST_SCHEMA_FILE = Path(__file__).parent / "schemas" / "plugin.schema.json"


@cache
def manifest_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(MANIFEST_SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@cache
def _manifest_is_valid() -> Callable[[Any], bool]:
    """jsonschema-rs says whether a manifest is valid in microseconds; every
    app start validates every manifest, which took most of an app's creation
    (tests create thousands). jsonschema still finds and words the errors."""
    try:
        return jsonschema_rs.Draft202012Validator(
            json.loads(MANIFEST_SCHEMA_FILE.read_text(encoding="utf-8"))).is_valid
    except Exception:  # a schema it refuses: jsonschema alone decides
        return lambda _data: False


@dataclass
class PluginInfo:
    """A discovered plugin: its validated manifest and where it came from."""

    id: str
    manifest: dict[str, Any]
    folder: Path
    module_name: str
    source: str  # "built-in" or "distribution <name> <version>"
    module: ModuleType | None = field(default=None, repr=False)

    @property
    def manifest_file(self) -> Path:
        return self.folder / "plugin.json"

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def tiers(self) -> list[str]:
        return list(self.manifest["tiers"])

    @property
    def depends(self) -> list[str]:
        return list(self.manifest.get("depends", []))

    def name(self, locale: str = "zh-CN") -> str:
        return self.manifest["name"].get(locale) or self.manifest["name"]["zh-CN"]

    @property
    def permissions(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("permissions", []))

    @property
    def menus(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("menus", []))

    @property
    def settings_schema(self) -> dict[str, Any] | None:
        return self.manifest.get("settings")

    @property
    def migrations_dir(self) -> Path | None:
        rel = self.manifest.get("migrations")
        return (self.folder / rel) if rel else None

    @property
    def templates_dir(self) -> Path:
        return self.folder / "templates"

    def import_error(self) -> str | None:
        """Why this plugin's module cannot be imported (``Type: message``), or
        ``None``; for listings, which show such a plugin as failed."""
        try:
            self.load()
        except StartupError as exc:
            cause = exc.__cause__ or exc
            return f"{type(cause).__name__}: {cause}"
        return None

    def load(self) -> ModuleType:
        if self.module is None:
            try:
                self.module = importlib.import_module(self.module_name)
            except Exception as exc:  # a plugin that cannot import must not start silently
                raise StartupError(f"插件模块无法导入: {exc}", f"plugin module failed to import: {exc}",
                                   plugin=self.id, file=str(self.folder / "__init__.py"), field="module") from exc
        return self.module


def read_manifest(path: Path, expected_id: str | None = None) -> dict[str, Any]:
    """Read and validate one ``plugin.json``; errors name file and field."""
    label = expected_id or path.parent.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StartupError("缺少插件清单文件", "plugin manifest missing", plugin=label, file=str(path), field="-") from None
    except json.JSONDecodeError as exc:
        raise StartupError(f"插件清单不是有效的 JSON (第{exc.lineno}行)", f"manifest is not valid JSON (line {exc.lineno})",
                           plugin=label, file=str(path), field="-") from None
    errors = [] if _manifest_is_valid()(data) else sorted(
        manifest_validator().iter_errors(data), key=lambda e: [str(x) for x in e.absolute_path])
    if errors:
        err = errors[0]
        where = _field_of(err)
        raise StartupError(f"插件清单无效: {err.message}", f"invalid manifest: {err.message}",
                           plugin=data.get("id", label) if isinstance(data, dict) else label, file=str(path), field=where)
    if expected_id is not None and data["id"] != expected_id:
        raise StartupError(f"插件 id 与所在目录名不一致: {data['id']} ≠ {expected_id}",
                           f"plugin id does not match its folder name: {data['id']} != {expected_id}",
                           plugin=expected_id, file=str(path), field="id")
    contract.parse_requirement(data, data["id"], path)  # a malformed requires_ccms, even if never enabled
    return data


def _field_of(err: jsonschema.ValidationError) -> str:
    """Dotted path of the offending field; for a missing key, the key itself (``name.en``)."""
    parts = [str(p) for p in err.absolute_path]
    if err.validator == "required" and isinstance(err.validator_value, list):
        missing = [k for k in err.validator_value if isinstance(err.instance, dict) and k not in err.instance]
        if missing:
            parts.append(missing[0])
    return ".".join(parts) or "-"


def _add(found: dict[str, PluginInfo], info: PluginInfo) -> None:
    if info.id in found:
        other = found[info.id]
        raise StartupError(f"插件 id 重复: {info.id} 同时由 {other.source} ({other.manifest_file}) 和 {info.source} 提供",
                           f"duplicate plugin id {info.id}: provided by {other.source} ({other.manifest_file}) "
                           f"and {info.source}",
                           plugin=info.id, file=str(info.manifest_file), field="id")
    found[info.id] = info


def discover(builtin_dir: Path | None = BUILTIN_DIR, use_entry_points: bool = True,
             extra: Iterable[PluginInfo] = ()) -> dict[str, PluginInfo]:
    """Find every available plugin (enabled or not). Imports no plugin code."""
    found: dict[str, PluginInfo] = {}
    if builtin_dir is not None and builtin_dir.is_dir():
        package = "ccms.plugins" if builtin_dir == SHIPPED_BUILTIN_DIR else None  # setup.py installs plugins/ there
        for folder in sorted(p for p in builtin_dir.iterdir() if (p / "plugin.json").exists()):
            manifest = read_manifest(folder / "plugin.json", expected_id=folder.name)
            module_name = f"{package}.{folder.name}" if package else folder.name
            _add(found, PluginInfo(manifest["id"], manifest, folder, module_name, "built-in"))
    if use_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            spec = importlib.util.find_spec(ep.value.split(":")[0])
            if spec is None or spec.origin is None:
                raise StartupError(f"入口点指向的模块不存在: {ep.value}", f"entry point module not found: {ep.value}",
                                   plugin=ep.name, file=f"entry point {ENTRY_POINT_GROUP}", field=ep.name)
            folder = Path(spec.origin).parent
            manifest = read_manifest(folder / "plugin.json")
            dist = getattr(ep, "dist", None)
            source = f"distribution {dist.name} {dist.version}" if dist else "distribution"
            if manifest["id"] != ep.name:
                raise StartupError(f"入口点名称 {ep.name} 与插件 id {manifest['id']} 不一致",
                                   f"entry point name {ep.name} differs from plugin id {manifest['id']}",
                                   plugin=ep.name, file=str(folder / "plugin.json"), field="id")
            _add(found, PluginInfo(manifest["id"], manifest, folder, ep.value.split(":")[0], source))
    for info in extra:
        _add(found, info)
    return found


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, list[str]]:
    """Plugin ids per profile (keys starting with ``_`` are comments)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StartupError(f"无法读取配置方案文件: {exc}", f"cannot read the profiles file: {exc}",
                           plugin="-", file=str(path), field="-") from None
    return {k: v for k, v in data.items() if not k.startswith("_")}


def resolve(available: dict[str, PluginInfo], profile: str, tier: str, enable: Iterable[str] = (),
            disable: Iterable[str] = (), deployment_file: str = "<deployment>",
            profiles: dict[str, list[str]] | Path | None = None) -> list[PluginInfo]:
    """The enabled plugins of a deployment, dependencies first.

    ``profiles`` is a mapping, a profiles file, or ``None`` for core's
    ``profiles.json``. The order is topological; among plugins whose
    dependencies are all placed, the smallest id comes first, so the order
    never depends on how a profile or deployment happens to list them.
    """
    enable, disable = list(enable), list(disable)
    if profiles is None or isinstance(profiles, Path):
        profiles_file = str(profiles or PROFILES_FILE)
        profiles = load_profiles(Path(profiles_file))
    else:
        profiles_file = "<profiles>"
    missing = [pid for pid in profiles.get(profile, []) if pid not in available and pid not in disable]
    if missing:
        ids = ", ".join(missing)
        listed = ", ".join(f'"{pid}"' for pid in missing)
        raise StartupError(f"配置方案 {profile} 需要的插件未安装: {ids}（配置方案文件 {profiles_file}）；"
                           f"安装该插件，或在部署配置文件 {deployment_file} 的 [plugins] 中写 disable = [{listed}]",
                           f"profile {profile} needs plugin(s) that are not installed: {ids} (profiles file "
                           f"{profiles_file}); install them, or add disable = [{listed}] under [plugins] in the "
                           f"deployment file {deployment_file}",
                           plugin=ids, file=profiles_file, field=profile)
    named = set(profiles.get(profile, []))
    for key, ids in (("plugins.enable", enable), ("plugins.disable", disable)):
        for pid in ids:
            if pid not in available and not (key == "plugins.disable" and pid in named):
                raise StartupError(f"部署配置引用了不存在的插件 {pid}", f"deployment names unknown plugin {pid}",
                                   plugin=pid, file=deployment_file, field=key)
    wanted = [p for p in profiles.get(profile, []) if p not in disable]  # all available: checked above
    wanted += [p for p in enable if p not in wanted and p not in disable]
    chosen = {pid: available[pid] for pid in wanted}
    for info in chosen.values():
        contract.check_requirement(info.manifest, info.id, info.manifest_file)
        if tier not in info.tiers:
            raise StartupError(f"插件 {info.id} 不适用于 {tier} 层级 (仅支持 {', '.join(info.tiers)})",
                               f"plugin {info.id} is not allowed on tier {tier} (only {', '.join(info.tiers)})",
                               plugin=info.id, file=str(info.manifest_file), field="tiers")
        for dep in info.depends:
            if dep not in chosen:
                why_zh = "未启用" if dep in available else "不存在"
                why_en = "is not enabled" if dep in available else "does not exist"
                raise StartupError(f"插件 {info.id} 依赖的插件 {dep} {why_zh}",
                                   f"plugin {info.id} depends on {dep}, which {why_en}",
                                   plugin=info.id, file=str(info.manifest_file), field="depends")
    try:
        graphlib.TopologicalSorter({pid: set(info.depends) for pid, info in chosen.items()}).prepare()
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])
        first = min(cycle[:-1] or cycle)  # report the same plugin whichever way the cycle was found
        i = cycle.index(first)
        cycle = cycle[i:-1] + cycle[:i] + [first] if len(cycle) > 1 else cycle
        raise StartupError(f"插件依赖存在环: {' → '.join(cycle)}", f"dependency cycle: {' -> '.join(cycle)}",
                           plugin=first, file=str(chosen[first].manifest_file), field="depends") from None
    return [chosen[pid] for pid in _topological(chosen)]


def _topological(chosen: dict[str, PluginInfo]) -> list[str]:
    """Kahn's algorithm with a heap: dependencies first, ties by id."""
    waiting = {pid: set(info.depends) for pid, info in chosen.items()}
    dependants: dict[str, list[str]] = {pid: [] for pid in chosen}
    for pid, deps in waiting.items():
        for dep in deps:
            dependants[dep].append(pid)
    ready = [pid for pid, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        pid = heapq.heappop(ready)
        order.append(pid)
        for nxt in dependants[pid]:
            waiting[nxt].discard(pid)
            if not waiting[nxt]:
                heapq.heappush(ready, nxt)
    return order


TRACE_ENV = "CCMS_TRACE_HOOKS"
trace_log = logging.getLogger("ccms.hooks")


def trace_hooks(pm: pluggy.PluginManager) -> Callable[[], None]:
    """Log every hook call of ``pm`` (logger ``ccms.hooks``, level INFO): the
    hook, the implementations called in order, the argument names and the
    duration. Returns the function that stops tracing. On when the environment
    variable ``CCMS_TRACE_HOOKS`` is set (not ``0``), as Datasette's tracing."""
    started: list[float] = []

    def before(hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
        started.append(time.perf_counter())
        trace_log.info("hook %s -> %s (%s)", hook_name, ", ".join(i.plugin_name for i in reversed(impls)) or "-",
                       ", ".join(sorted(kwargs)))

    def after(outcome: Any, hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
        ms = (time.perf_counter() - started.pop()) * 1000 if started else 0.0
        failed = getattr(outcome, "exception", None)
        trace_log.info("hook %s done in %.1f ms%s", hook_name, ms, f": raised {failed!r}" if failed else "")

    return pm.add_hookcall_monitoring(before, after)


def make_manager(plugins: list[PluginInfo], core_modules: Iterable[ModuleType] = ()) -> pluggy.PluginManager:
    """A fresh pluggy manager for one app instance (never process-global)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    if os.environ.get(TRACE_ENV, "0") not in ("", "0"):
        trace_hooks(pm)
    pm.add_hookspecs(hookspecs)
    for mod in core_modules:
        pm.register(mod, name=f"core:{mod.__name__}")
    for info in plugins:
        module = info.load()
        file = getattr(module, "__file__", None) or str(info.folder)
        _check_hook_names(pm, info, module, file)
        try:
            pm.register(module, name=info.id)
        except pluggy.PluginValidationError as exc:
            hook = re.search(r"for hook '(\w+)'", str(exc))
            detail = str(exc).replace("\n", " ")
            raise StartupError(f"钩子实现无效: {detail}", f"invalid hook implementation: {detail}",
                               plugin=info.id, file=file, field=hook.group(1) if hook else "-") from None
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:  # only reachable for core modules: plugins are checked above
        owner = pm.get_name(exc.plugin) or "-"
        raise StartupError(f"未知的钩子: {exc}", f"unknown hook: {exc}", plugin=owner,
                           file=str(getattr(exc.plugin, "__file__", "-")), field="-") from None
    return pm


def _check_hook_names(pm: pluggy.PluginManager, info: PluginInfo, module: ModuleType, file: str) -> None:
    """Refuse a misspelt hook: every ``ccms_*`` function and every ``@hookimpl``
    must name a hook of :mod:`ccms.hookspecs` (pluggy alone would ignore an
    unmarked one and only complain late about a marked one)."""
    known = {n for n in dir(hookspecs) if n.startswith("ccms_")}
    for attr in sorted(dir(module)):
        obj = getattr(module, attr, None)
        if not callable(obj):
            continue
        opts = pm.parse_hookimpl_opts(module, attr)
        name = (opts.get("specname") or attr) if opts else attr
        if (opts is not None or attr.startswith("ccms_")) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint_zh = f"，是否应为 {close[0]}?" if close else ""
            hint_en = f"; did you mean {close[0]}?" if close else ""
            raise StartupError(f"未知的钩子名称 {name}{hint_zh}", f"unknown hook name {name}{hint_en}",
                               plugin=info.id, file=file, field=attr)


def plugin_rows(ctx_or_available: Any, enabled_ids: Iterable[str] | None = None,
                locale: str = "zh-CN") -> list[dict[str, Any]]:
    """One row per available plugin for ``ccms plugins list`` and the admin screen.

    Accepts an app context (its available plugins and enabled set are used
    unless ``enabled_ids`` is given) or a mapping from :func:`discover`.
    Enabled plugins come first in load order, then the others by id. Each
    module is imported: ``status`` is ``failed`` (with ``error``) for one
    that cannot be, else ``enabled`` or ``disabled``.
    """
    available: dict[str, PluginInfo] = getattr(ctx_or_available, "available", ctx_or_available)
    if enabled_ids is None:
        enabled_ids = [p.id for p in getattr(ctx_or_available, "plugins", [])]
    order = list(dict.fromkeys(pid for pid in enabled_ids if pid in available))
    on = set(order)
    order += sorted(pid for pid in available if pid not in on)
    rows = []
    for pid in order:
        info = available[pid]
        error = info.import_error()  # imports the module: a plugin that cannot is "failed", enabled or not
        rows.append({"id": pid, "name": info.name(locale), "version": info.version, "tiers": info.tiers,
                     "depends": info.depends, "enabled": pid in on, "source": info.source,
                     "status": "failed" if error else ("enabled" if pid in on else "disabled"), "error": error})
    return rows
