"""The flow definitions of one deployment, from its three layers in order.

1. core: ``flow_defs/*.json`` shipped in the ccms package (``meta-schema.json``
   excepted);
2. enabled plugins, in dependency order: the files their ``plugin.json``
   lists under ``flows`` (relative to the plugin folder), or, when it lists
   none, every ``*.json`` in the plugin's ``flow_defs/`` folder;
3. the deployment's ``flow_defs_dir`` (every ``*.json`` in it).

A definition whose id an earlier layer defined replaces it (a deliberate
override); the same id twice in one layer is refused. Every fault stops
start-up with a :class:`StartupError` naming the layer (plugin), the file and
the JSON path (``field``). The definitions become published versions in the
database at ``ccms db upgrade`` / bootstrap (:func:`ccms.flows.store.sync_from_files`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ..errors import NotFound, StartupError
from ..forms.definition import DefinitionError, load_file
from .definition import ROOT, FlowDefinition, FlowDefinitionError, load_flow

CORE_FLOW_DIR = ROOT / "flow_defs"
META_SCHEMA_NAME = "meta-schema.json"


@dataclass(frozen=True)
class Layer:
    """One source of definitions: ``name`` is "core", a plugin id or "deployment"."""

    name: str
    files: tuple[Path, ...]
    manifest: str = ""


def _dir_files(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in folder.glob("*.json") if p.name != META_SCHEMA_NAME))


def layers_of(ctx: Any, core_dir: Path = CORE_FLOW_DIR) -> list[Layer]:
    """The three layers of a deployment (``ctx`` is the app context)."""
    out = [Layer("core", _dir_files(core_dir) if core_dir.is_dir() else ())]
    for info in ctx.plugins:
        listed = info.manifest.get("flows", [])
        files = []
        for i, rel in enumerate(listed):
            path = info.folder / rel
            if not path.is_file():
                raise StartupError(f"插件声明的流程定义文件不存在：{rel}", f"flow definition file not found: {rel}",
                                   plugin=info.id, file=str(info.manifest_file), field=f"flows[{i}]")
            files.append(path)
        if not listed and (info.folder / "flow_defs").is_dir():
            files = list(_dir_files(info.folder / "flow_defs"))
        out.append(Layer(info.id, tuple(files), str(info.manifest_file)))
    dep_dir = ctx.deployment.flow_defs_dir
    if dep_dir:
        folder = ctx.deployment.resolve(dep_dir)
        if not folder.is_dir():
            raise StartupError(f"部署的流程定义目录不存在：{folder}", f"the deployment's flow_defs_dir does not exist: {folder}",
                               plugin="deployment", file=str(folder), field="flow_defs_dir")
        if folder.resolve() != core_dir.resolve():
            out.append(Layer("deployment", _dir_files(folder)))
    return out


class FlowRegistry:
    """Definitions by id after layering; ``origins[id]`` is the file that won."""

    def __init__(self, ctx: Any = None, *, layers: list[Layer] | None = None, core_dir: Path = CORE_FLOW_DIR,
                 session: Session | None = None) -> None:
        if layers is None:
            if ctx is None:
                raise TypeError("FlowRegistry needs ctx or layers")
            layers = layers_of(ctx, core_dir)
        self.ctx, self.layers, self.session = ctx, layers, session
        self._defs: dict[str, FlowDefinition] = {}
        self.origins: dict[str, str] = {}
        for layer in layers:
            self._load_layer(layer)

    def _load_layer(self, layer: Layer) -> None:
        seen_here: dict[str, Path] = {}
        for path in layer.files:
            try:
                data = load_file(path)
                d = load_flow(data, str(path), self.ctx, session=self.session)
                if d.id in seen_here:
                    raise FlowDefinitionError(f"流程 id {d.id} 在同一层中重复（另见 {seen_here[d.id]}）",
                                              f"flow id {d.id} defined twice in one layer (see also {seen_here[d.id]})",
                                              path="$.id", source=str(path))
            except DefinitionError as exc:
                err = StartupError(exc.zh, exc.en, plugin=layer.name, file=str(path), field=exc.path)
                err.path = exc.path  # type: ignore[attr-defined]
                raise err from None
            seen_here[d.id] = path
            self._defs[d.id] = d
            self.origins[d.id] = str(path)

    def get(self, flow_id: str) -> FlowDefinition:
        try:
            return self._defs[flow_id]
        except KeyError:
            raise NotFound(f"流程 {flow_id} 不存在", f"flow {flow_id} does not exist") from None

    def ids(self) -> list[str]:
        return sorted(self._defs)

    def __contains__(self, flow_id: object) -> bool:
        return flow_id in self._defs

    def __iter__(self) -> Iterator[FlowDefinition]:
        return iter(self._defs[i] for i in self.ids())

    def __len__(self) -> int:
        return len(self._defs)
