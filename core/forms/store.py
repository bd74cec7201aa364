"""Definition versions in the database: draft, publish, unpublish, diff,
export and import — each write audited in the caller's session.

A form's versions are numbered 1, 2, 3 ... per form; saving always creates a
new version (a draft), so what records were saved with never changes under
them. At most one version per form is published; publishing another archives
the previous one, unpublishing archives it. Every definition is checked with
:func:`ccms.forms.definition.load_definition` before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..versioned import VersionStore, deep_diff, show
from .definition import (
    DefinitionError,
    FormDefinition,
    check_expressions,
    jpath,
    load_definition,
    localize,
    parse_json,
)
from .indexes import ensure_indexes
from .models import FormDef
from .registry import FormRegistry

_CACHE: dict[str, FormDefinition] = {}  # content hash -> checked definition (immutable content)
_CACHE_MAX = 256


def definition_of(row: FormDef) -> FormDefinition:
    """The checked definition of a stored version (cached by content hash)."""
    key = row.content_hash
    hit = _CACHE.get(key) if key else None
    if hit is not None:
        return hit
    # Stored versions are read as they are (an older one may predate a check);
    # save_draft and publish check expressions before anything is written.
    d = load_definition(row.definition, f"db:{row.form_id}@v{row.version}", expressions="skip")
    if key:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(list(_CACHE))), None)  # a snapshot: endpoints run in threads
        _CACHE[key] = d
    return d


def _as_definition(definition: FormDefinition | Mapping[str, Any], source: str) -> FormDefinition:
    if isinstance(definition, FormDefinition):
        return definition
    return load_definition(definition, source)


_STORE = VersionStore(FormDef, "form_id", "form", "表单", "form")


# --- reading --------------------------------------------------------------------------------

def get_version(session: Session, form_id: str, version: int) -> FormDef:
    return _STORE.get_version(session, form_id, version)


def published_row(session: Session, form_id: str) -> FormDef | None:
    return _STORE.published_row(session, form_id)


def get_published(session: Session, form_id: str) -> FormDefinition | None:
    """The published definition of a form, or None when none is published."""
    row = published_row(session, form_id)
    return definition_of(row) if row is not None else None


def list_versions(session: Session, form_id: str) -> list[dict[str, Any]]:
    """Newest first: version, status, note, source, who/when, lock_version."""
    return _STORE.list_versions(session, form_id)


def form_ids(session: Session) -> list[str]:
    return _STORE.ids(session)


# --- writing --------------------------------------------------------------------------------

def save_draft(session: Session, actor: Actor | None, definition: FormDefinition | Mapping[str, Any], *,
               note: str = "", source: str = "ui") -> FormDef:
    """Store a checked definition as the form's next version (a draft)."""
    d = _as_definition(definition, source)
    check_expressions(d.schema, source)  # also when handed a designer's FormDefinition
    return _STORE.add_draft(session, actor, d.id, d.to_dict(), d.content_hash(), source=source, note=note)


def publish(session: Session, actor: Actor | None, form_id: str, version: int, *,
            lock_version: int | None = None) -> FormDef:
    """Publish one version; the previously published one becomes archived."""
    row = get_version(session, form_id, version)
    _STORE.check_lock(row, lock_version)
    if row.status == "published":
        return row
    definition = definition_of(row)  # never publish something that no longer loads
    check_expressions(definition.schema, f"db:{form_id}@v{version}")  # nor one whose expressions fail
    _STORE.publish(session, actor, row)
    ensure_indexes(session, definition)
    return row


def unpublish(session: Session, actor: Actor | None, form_id: str, *, lock_version: int | None = None) -> FormDef:
    """Withdraw the published version (it becomes archived; publish it again at will)."""
    return _STORE.unpublish(session, actor, form_id, lock_version=lock_version)


# --- diff -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One difference between two versions. ``path`` is the JSON path in the
    definition (fields written inline, as if no ``$ref`` were used)."""

    kind: str  # added | removed | renamed | changed
    path: str
    field: str | None
    before: Any
    after: Any
    zh: str
    en: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _field_path(name: str) -> str:
    parts: list[Any] = ["schema"]
    for p in name.split("."):
        parts += ["properties", p]
    return jpath(parts)


def _own(sub: Mapping[str, Any]) -> dict[str, Any]:
    """A field's own keywords (sub-fields are compared one by one)."""
    own = {k: v for k, v in sub.items() if k not in ("properties", "$ref")}
    if isinstance(own.get("items"), Mapping) and "properties" in own["items"]:
        own["items"] = {k: v for k, v in own["items"].items() if k != "properties"}
    return own


def diff(old: FormDefinition | Mapping[str, Any], new: FormDefinition | Mapping[str, Any]) -> list[Change]:
    """What changed from ``old`` to ``new``: fields added, removed, renamed,
    changed keyword by keyword, required flags, then the other sections."""
    a, b = _as_definition(old, "old"), _as_definition(new, "new")
    out: list[Change] = []
    renamed = {o: n for o, n in b.renames.items() if o in a.fields and n in b.fields and n not in a.fields}
    for name in a.fields:
        if name in b.fields:
            continue
        label = a.label(name)
        if name in renamed:
            n = renamed[name]
            out.append(Change("renamed", _field_path(name), name, name, n, f"字段 {label}（{name}）改名为 {n}",
                              f"field {name} renamed to {n}"))
        else:
            out.append(Change("removed", _field_path(name), name, a.fields[name], None,
                              f"删除字段 {label}（{name}）", f"field {name} removed"))
    for name in b.fields:
        if name not in a.fields and name not in renamed.values():
            out.append(Change("added", _field_path(name), name, None, b.fields[name],
                              f"新增字段 {b.label(name)}（{name}）", f"field {name} added"))
    for name in b.fields:
        old_name = next((o for o, n in renamed.items() if n == name), name)
        if old_name not in a.fields:
            continue
        for parts, x, y in deep_diff(_own(a.fields[old_name]), _own(b.fields[name]), []):
            key = ".".join(str(p) for p in parts)
            path = _field_path(name) + jpath(parts)[1:]
            out.append(Change("changed", path, name, x, y, f"字段 {b.label(name)}（{name}）的 {key} 由 {show(x)} 改为 {show(y)}",
                              f"field {name}: {key} changed from {json.dumps(x)} to {json.dumps(y)}"))
    ra, rb = set(a.required()), set(b.required())
    for name in sorted(rb - ra):
        out.append(Change("changed", "$.schema.required", name, False, True, f"字段 {b.label(name)}（{name}）改为必填",
                          f"field {name} is now required"))
    for name in sorted(ra - rb):
        if name in renamed and renamed[name] in rb:
            continue
        out.append(Change("changed", "$.schema.required", name, True, False, f"字段 {a.label(name)}（{name}）改为选填",
                          f"field {name} is now optional"))
    da, db = a.to_dict(), b.to_dict()
    for section in ("title", "description", "ui", "list", "permissions", "renames", "indexed", "extends"):
        for parts, x, y in deep_diff(da.get(section), db.get(section), [section]):
            path = jpath(parts)
            if section == "title":
                zh = f"表单标题由 {localize(x) or show(x)} 改为 {localize(y) or show(y)}"
            else:
                zh = f"设置 {path} 由 {show(x)} 改为 {show(y)}"
            out.append(Change("changed", path, None, x, y, zh,
                              f"{path} changed from {json.dumps(x, ensure_ascii=False)} to {json.dumps(y, ensure_ascii=False)}"))
    return out


def diff_versions(session: Session, form_id: str, v1: int, v2: int) -> list[Change]:
    return diff(definition_of(get_version(session, form_id, v1)), definition_of(get_version(session, form_id, v2)))


# --- files ----------------------------------------------------------------------------------

def export_json(session: Session, form_id: str, version: int | None = None) -> str:
    """The definition as a JSON file: the given version, else the published
    one, else the newest."""
    return _STORE.export_json(session, form_id, version)


def import_json(session: Session, actor: Actor | None, text: str | bytes, *, note: str = "",
                source: str = "import") -> FormDef:
    """Check an exported file and store it as a new draft version; a file that
    is not JSON, or not a valid full definition, is refused with nothing written."""
    data = parse_json(text, source)
    if isinstance(data, Mapping) and data.get("overlay") is True:
        raise DefinitionError("只能导入完整的表单定义，不能导入覆盖定义", "only full definitions can be imported, not overlays",
                              path="$.overlay", source=source)
    d = load_definition(data, source)
    return save_draft(session, actor, d, note=note, source=source)


def sync_from_files(ctx: Any, session: Session, registry: Any = None, actor: Actor | None = None) -> list[tuple[str, int]]:
    """Store each file definition (after layering) as a new published version
    when it differs from the last version synced from files. Idempotent: a
    second run with the same files writes nothing. Versions made in the
    designer are left alone until the files themselves change."""
    if registry is None:
        registry = FormRegistry(ctx)
    done: list[tuple[str, int]] = []
    for d in registry:
        last = session.scalar(select(FormDef).where(FormDef.form_id == d.id, FormDef.source.like("file:%"))
                              .order_by(FormDef.version.desc()).limit(1))
        if last is not None and last.content_hash == d.content_hash():
            continue
        origin = "file:" + " + ".join(registry.origins.get(d.id, [d.source]))
        row = save_draft(session, actor, d, note="同步自定义文件 / synced from files", source=origin)
        publish(session, actor, d.id, row.version)
        done.append((d.id, row.version))
    return done
