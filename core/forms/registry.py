"""The form definitions of one deployment, from its three layers in order.

1. core: ``form_defs/*.json`` shipped in the ccms package (``meta-schema.json``
   excepted);
2. enabled plugins, in dependency order: the files their ``plugin.json``
   lists under ``forms`` (relative to the plugin folder);
3. the deployment's ``form_defs_dir`` (every ``*.json`` in it).

Within a layer, full definitions are read before overlays, each group in file
name order. A full definition whose id an earlier layer already defined
replaces it (a deliberate override); an overlay extends it without copying
(:mod:`ccms.forms.overlay`); ``extends`` builds on a definition read before.
Every fault stops start-up with a :class:`StartupError` naming the layer
(plugin), the file and the JSON path (``field``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFound, StartupError
from .definition import (
    ROOT,
    DefinitionError,
    FormDefinition,
    load_definition,
    load_file,
)
from .overlay import apply_extends, apply_overlay, is_overlay

CORE_FORM_DIR = ROOT / "form_defs"
META_SCHEMA_NAME = "meta-schema.json"


@dataclass(frozen=True)
class Layer:
    """One source of definitions: ``name`` is "core", a plugin id or "deployment"."""

    name: str
    files: tuple[Path, ...]
    manifest: str = ""  # the file that lists them (plugin.json), for error messages


def _dir_files(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in folder.glob("*.json") if p.name != META_SCHEMA_NAME))


def layers_of(ctx: Any, core_dir: Path = CORE_FORM_DIR) -> list[Layer]:
    """The three layers of a deployment (``ctx`` is the app context)."""
    out = [Layer("core", _dir_files(core_dir) if core_dir.is_dir() else ())]
    for info in ctx.plugins:
        files = []
        for i, rel in enumerate(info.manifest.get("forms", [])):
            path = info.folder / rel
            if not path.is_file():
                raise StartupError(f"插件声明的表单定义文件不存在：{rel}", f"form definition file not found: {rel}",
                                   plugin=info.id, file=str(info.manifest_file), field=f"forms[{i}]")
            files.append(path)
        out.append(Layer(info.id, tuple(files), str(info.manifest_file)))
    dep_dir = ctx.deployment.form_defs_dir
    if dep_dir:
        folder = ctx.deployment.resolve(dep_dir)
        if not folder.is_dir():
            raise StartupError(f"部署的表单定义目录不存在：{folder}", f"the deployment's form_defs_dir does not exist: {folder}",
                               plugin="deployment", file=str(folder), field="form_defs_dir")
        if folder.resolve() != core_dir.resolve():
            out.append(Layer("deployment", _dir_files(folder)))
    return out


class FormRegistry:
    """Definitions by id after layering. ``origins[id]`` lists the files that
    made each one, in the order they were applied."""

    def __init__(self, ctx: Any = None, *, layers: list[Layer] | None = None, core_dir: Path = CORE_FORM_DIR) -> None:
        if layers is None:
            if ctx is None:
                raise TypeError("FormRegistry needs ctx or layers")
            layers = layers_of(ctx, core_dir)
        self.ctx = ctx
        self.layers = layers
        self._defs: dict[str, FormDefinition] = {}
        self.origins: dict[str, list[str]] = {}
        for layer in layers:
            self._load_layer(layer)

    def _load_layer(self, layer: Layer) -> None:
        docs = []
        for path in layer.files:
            try:
                docs.append((path, load_file(path)))
            except DefinitionError as exc:
                raise self._fault(layer, path, exc) from None
        seen_here: dict[str, Path] = {}
        for path, data in sorted(docs, key=lambda d: is_overlay(d[1])):  # definitions, then overlays
            try:
                self._apply(layer, path, data, seen_here)
            except DefinitionError as exc:
                raise self._fault(layer, path, exc) from None

    def _apply(self, layer: Layer, path: Path, data: Any, seen_here: dict[str, Path]) -> None:
        source = str(path)
        if is_overlay(data):
            base = self._defs.get(str(data.get("id")))
            if base is None:
                raise DefinitionError(f"覆盖的表单 {data.get('id')} 不存在（基础定义须在更早的层中）",
                                      f"overlay of unknown form {data.get('id')} (the base must come from an earlier layer)",
                                      path="$.id", source=source)
            self._defs[base.id] = apply_overlay(base, data, source)
            self.origins[base.id].append(source)
            return
        definition = load_definition(data, source)
        if definition.id in seen_here:
            raise DefinitionError(f"表单 id {definition.id} 在同一层中重复（另见 {seen_here[definition.id]}）",
                                  f"form id {definition.id} defined twice in one layer (see also {seen_here[definition.id]})",
                                  path="$.id", source=source)
        seen_here[definition.id] = path
        if definition.extends:
            base = self._defs.get(definition.extends)
            if base is None:
                raise DefinitionError(f"extends 引用的表单 {definition.extends} 不存在（须在之前读入）",
                                      f"extends names unknown form {definition.extends} (it must be read before)",
                                      path="$.extends", source=source)
            definition = apply_extends(base, definition)
        self._defs[definition.id] = definition
        self.origins[definition.id] = [source]

    @staticmethod
    def _fault(layer: Layer, path: Path, exc: DefinitionError) -> StartupError:
        err = StartupError(exc.zh, exc.en, plugin=layer.name, file=str(path), field=exc.path)
        err.path = exc.path  # type: ignore[attr-defined]
        return err

    # -- lookups ---------------------------------------------------------------

    def get(self, form_id: str) -> FormDefinition:
        try:
            return self._defs[form_id]
        except KeyError:
            raise NotFound(f"表单 {form_id} 不存在", f"form {form_id} does not exist") from None

    def ids(self) -> list[str]:
        return sorted(self._defs)

    def __contains__(self, form_id: object) -> bool:
        return form_id in self._defs

    def __iter__(self) -> Iterator[FormDefinition]:
        return iter(self._defs[i] for i in self.ids())

    def __len__(self) -> int:
        return len(self._defs)
