"""Plugin discovery, manifest validation, dependency order and the pluggy manager.

Built-in plugins live in ``plugins/<id>/`` (a ``plugin.json`` beside an
``__init__.py``); third-party ones are distributions registering a module in
the entry-point group ``ccms.plugins``. Every fault stops start-up with a
:class:`StartupError` naming the plugin, the file and the field.
"""

from __future__ import annotations

import graphlib
import importlib
import importlib.util
import json
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

import jsonschema
import pluggy

from . import hookspecs
from .errors import StartupError

ENTRY_POINT_GROUP = "ccms.plugins"
ROOT = Path(__file__).resolve().parent.parent
BUILTIN_DIR = ROOT / "plugins"
PROFILES_FILE = Path(__file__).parent / "profiles.json"
MANIFEST_SCHEMA_FILE = Path(__file__).parent / "schemas" / "plugin.schema.json"


@cache
def manifest_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(MANIFEST_SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


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
    errors = sorted(manifest_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or (err.validator == "required" and str(err.message).split("'")[1]) or "-"
        raise StartupError(f"插件清单无效: {err.message}", f"invalid manifest: {err.message}",
                           plugin=data.get("id", label) if isinstance(data, dict) else label, file=str(path), field=where)
    if expected_id is not None and data["id"] != expected_id:
        raise StartupError(f"插件 id 与所在目录名不一致: {data['id']} ≠ {expected_id}",
                           f"plugin id does not match its folder name: {data['id']} != {expected_id}",
                           plugin=expected_id, file=str(path), field="id")
    return data


def _add(found: dict[str, PluginInfo], info: PluginInfo) -> None:
    if info.id in found:
        other = found[info.id]
        raise StartupError(f"插件 id 重复: {info.id} 同时由 {other.source} 和 {info.source} 提供",
                           f"duplicate plugin id {info.id}: provided by {other.source} and {info.source}",
                           plugin=info.id, file=str(info.manifest_file), field="id")
    found[info.id] = info


def discover(builtin_dir: Path | None = BUILTIN_DIR, use_entry_points: bool = True,
             extra: Iterable[PluginInfo] = ()) -> dict[str, PluginInfo]:
    """Find every available plugin (enabled or not). Imports no plugin code."""
    found: dict[str, PluginInfo] = {}
    if builtin_dir is not None and builtin_dir.is_dir():
        package = builtin_dir.name if builtin_dir == BUILTIN_DIR else None
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


def load_profiles() -> dict[str, list[str]]:
    data = json.loads(PROFILES_FILE.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def resolve(available: dict[str, PluginInfo], profile: str, tier: str, enable: list[str] = (),
            disable: list[str] = (), deployment_file: str = "<deployment>",
            profiles: dict[str, list[str]] | None = None) -> list[PluginInfo]:
    """The enabled plugins of a deployment, dependencies first."""
    profiles = profiles if profiles is not None else load_profiles()
    for pid in profiles.get(profile, []):
        if pid not in available:
            raise StartupError(f"配置方案 {profile} 引用了不存在的插件 {pid}",
                               f"profile {profile} names unknown plugin {pid}",
                               plugin=pid, file=str(PROFILES_FILE), field=profile)
    for key, ids in (("plugins.enable", enable), ("plugins.disable", disable)):
        for pid in ids:
            if pid not in available:
                raise StartupError(f"部署配置引用了不存在的插件 {pid}", f"deployment names unknown plugin {pid}",
                                   plugin=pid, file=deployment_file, field=key)
    wanted = [p for p in profiles.get(profile, []) if p not in disable]
    wanted += [p for p in enable if p not in wanted and p not in disable]
    chosen = {pid: available[pid] for pid in wanted}
    for info in chosen.values():
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
    sorter = graphlib.TopologicalSorter({pid: set(info.depends) for pid, info in chosen.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])
        first = cycle[0]
        raise StartupError(f"插件依赖存在环: {' → '.join(cycle)}", f"dependency cycle: {' -> '.join(cycle)}",
                           plugin=first, file=str(chosen[first].manifest_file), field="depends") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())  # stable: ties broken by id, never by config order
        order.extend(ready)
        sorter.done(*ready)
    return [chosen[pid] for pid in order]


def make_manager(plugins: list[PluginInfo], core_modules: Iterable[ModuleType] = ()) -> pluggy.PluginManager:
    """A fresh pluggy manager for one app instance (never process-global)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    known = {n for n in dir(hookspecs) if n.startswith("ccms_")}
    for mod in core_modules:
        pm.register(mod, name=f"core:{mod.__name__}")
    for info in plugins:
        module = info.load()
        file = getattr(module, "__file__", None) or str(info.folder)
        for attr in dir(module):
            if attr.startswith("ccms_") and attr not in known and callable(getattr(module, attr)):
                raise StartupError(f"未知的钩子名称 {attr} (拼写错误?)", f"unknown hook {attr} (misspelt?)",
                                   plugin=info.id, file=file, field=attr)
        try:
            pm.register(module, name=info.id)
        except pluggy.PluginValidationError as exc:
            raise StartupError(f"钩子实现无效: {exc}", f"invalid hook implementation: {exc}",
                               plugin=info.id, file=file, field=str(getattr(exc, "plugin", "")) or "-") from None
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise StartupError(f"未知的钩子: {exc}", f"unknown hook: {exc}", plugin=str(exc.plugin), file="-", field="-") from None
    return pm
