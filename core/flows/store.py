"""Flow definition versions in the database: draft, publish, unpublish, diff,
export and import — each write audited in the caller's session.

A flow's versions are numbered 1, 2, 3 ... per flow; saving always creates a
new version (a draft), so running instances never see their definition change
under them. At most one version per flow is published (new instances start on
it); publishing another archives the previous one. Every definition is
checked with :func:`ccms.flows.definition.load_flow` before anything is
written (with the session, so the bound form must be published) — except a
BPMN file from another modeler, stored as an incomplete draft to finish in
the designer (:func:`save_incomplete_draft`); :func:`publish` checks every
version in full, so no instance ever runs on one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..errors import Conflict, NotFound
from ..forms.definition import content_hash, jpath, localize
from ..versioned import VersionStore, deep_diff, show
from .def_models import FlowDef, FlowWorkCopy
from .definition import (
    FlowDefinition,
    FlowDefinitionError,
    check_structure,
    load_flow,
    load_text,
)
from .registry import FlowRegistry

_CACHE: dict[str, FlowDefinition] = {}  # content hash -> checked definition (immutable content)
_CACHE_MAX = 256


def definition_of(row: FlowDef) -> FlowDefinition:
    """The checked definition of a stored version (cached by content hash).
    Names were checked against the form when it was saved; here only the
    structure and graph are checked again."""
    key = row.content_hash
    hit = _CACHE.get(key) if key else None
    if hit is not None:
        return hit
    d = load_flow(row.definition, f"db:{row.flow_id}@v{row.version}")
    if key:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(list(_CACHE))), None)  # a snapshot: endpoints run in threads
        _CACHE[key] = d
    return d


_STORE = VersionStore(FlowDef, "flow_id", "flow", "流程", "flow")


# --- reading --------------------------------------------------------------------------------

def get_version(session: Session, flow_id: str, version: int) -> FlowDef:
    """One stored version (``row.definition`` is the document); NotFound otherwise."""
    return _STORE.get_version(session, flow_id, version)


def published_row(session: Session, flow_id: str) -> FlowDef | None:
    return _STORE.published_row(session, flow_id)


def get_published(session: Session, flow_id: str) -> FlowDefinition | None:
    """The published definition of a flow, or None when none is published."""
    row = published_row(session, flow_id)
    return definition_of(row) if row is not None else None


def latest_row(session: Session, flow_id: str) -> FlowDef:
    """The newest version (draft or not); NotFound when the flow has none."""
    return _STORE.latest_row(session, flow_id)


def list_versions(session: Session, flow_id: str) -> list[dict[str, Any]]:
    """Newest first: version, status, note, source, who/when, lock_version."""
    return _STORE.list_versions(session, flow_id)


def flow_ids(session: Session) -> list[str]:
    return _STORE.ids(session)


# --- writing --------------------------------------------------------------------------------

def _as_definition(definition: FlowDefinition | Mapping[str, Any], source: str, session: Session,
                   ctx: Any = None) -> FlowDefinition:
    data = definition.data if isinstance(definition, FlowDefinition) else definition
    return load_flow(data, source, ctx, session=session)


def save_draft(session: Session, actor: Actor | None, data: FlowDefinition | Mapping[str, Any], *,
               source: str = "ui", note: str = "", ctx: Any = None) -> FlowDef:
    """Check a definition (the form must be published; with ``ctx`` automatic
    actions too) and store it as the flow's next version, a draft."""
    d = _as_definition(data, source, session, ctx)
    return _STORE.add_draft(session, actor, d.id, d.to_dict(), d.content_hash(), source=source, note=note)


def save_incomplete_draft(session: Session, actor: Actor | None, data: Mapping[str, Any], *, source: str,
                          note: str) -> FlowDef:
    """Store a definition that does not load yet as a draft version — only a BPMN import from another
    modeler (:mod:`ccms.flows.bpmn_draft`), to be finished in the designer. Only its structure is
    checked; :func:`publish` checks it in full and refuses it with the JSON path of each fault, so no
    instance ever runs on it."""
    check_structure(data, source)
    return _STORE.add_draft(session, actor, str(data["id"]), dict(data), content_hash(dict(data)), source=source,
                            note=note)


def publish(session: Session, actor: Actor | None, flow_id: str, version: int, *,
            lock_version: int | None = None, ctx: Any = None) -> FlowDef:
    """Publish one version (new instances start on it); the previously
    published one becomes archived. The version is checked again first: the
    form it names may have been unpublished since it was saved."""
    row = get_version(session, flow_id, version)
    _STORE.check_lock(row, lock_version)
    if row.status == "published":
        return row
    load_flow(row.definition, f"db:{flow_id}@v{version}", ctx, session=session)
    return _STORE.publish(session, actor, row)


def unpublish(session: Session, actor: Actor | None, flow_id: str, *, lock_version: int | None = None) -> FlowDef:
    """Withdraw the published version: no new instances start; running ones go on."""
    return _STORE.unpublish(session, actor, flow_id, lock_version=lock_version)


# --- the designer's working copy -----------------------------------------------------------------

def work_row(session: Session, flow_id: str) -> FlowWorkCopy | None:
    return session.scalar(select(FlowWorkCopy).where(FlowWorkCopy.flow_id == flow_id))


def work_doc(session: Session, flow_id: str) -> tuple[dict[str, Any], FlowWorkCopy | None, FlowDef]:
    """What the designer edits: the working copy when there is one, else the
    newest version; with the newest version row (NotFound for an unknown flow)."""
    latest = latest_row(session, flow_id)
    work = work_row(session, flow_id)
    return (dict(work.definition) if work is not None else dict(latest.definition)), work, latest


def _work_lock(work: FlowWorkCopy | None, lock: int | None) -> None:
    current = work.lock_version if work is not None else 0
    if lock is not None and lock != current:
        raise Conflict("该流程已被他人修改，您的修改未保存，请刷新后重试",
                       "someone else changed this flow meanwhile; nothing was saved: reload and try again")


def save_work(session: Session, actor: Actor | None, flow_id: str, data: Mapping[str, Any], *,
              lock: int | None = None) -> FlowWorkCopy:
    """Store an edit in the working copy. Only the structure is required here
    (the meta-schema); graph and name faults are listed, not refused, until
    the copy is saved as a version. ``lock`` is the copy's lock_version the
    editor read (0: there was none); a different one is a 409."""
    check_structure(data, "designer")
    if data.get("id") != flow_id:
        raise FlowDefinitionError("流程编码不能修改（可导出后以新编码导入）",
                                  "the flow id cannot change (export, then import under a new id)", path="$.id",
                                  source="designer")
    work = work_row(session, flow_id)
    latest = latest_row(session, flow_id)
    _work_lock(work, lock)
    before = dict(work.definition) if work is not None else None
    if work is None:
        work = FlowWorkCopy(flow_id=flow_id, definition=dict(data), base_version=latest.version,
                            updated_by=actor.id if actor else None)
        session.add(work)
    else:
        work.definition = dict(data)
        work.updated_by = actor.id if actor else None
    session.flush()
    audit.record(session, actor, "flow.edit", "flow_def", flow_id, before=before, after=dict(data),
                 summary=f"编辑流程 {flow_id}（工作稿）")
    return work


def discard_work(session: Session, actor: Actor | None, flow_id: str, *, lock: int | None = None) -> None:
    """Throw the working copy away (the versions stay as they are)."""
    work = work_row(session, flow_id)
    if work is None:
        return
    _work_lock(work, lock)
    before = dict(work.definition)
    session.delete(work)
    session.flush()
    audit.record(session, actor, "flow.discard", "flow_def", flow_id, before=before, summary=f"放弃流程 {flow_id} 工作稿")


def save_work_as_version(session: Session, actor: Actor | None, flow_id: str, *, lock: int | None = None,
                         note: str = "", ctx: Any = None) -> FlowDef:
    """Check the working copy in full and store it as a new draft version;
    the working copy is then dropped. A fault refuses it with nothing written."""
    work = work_row(session, flow_id)
    if work is None:
        raise NotFound(f"流程 {flow_id} 没有未保存的修改", f"flow {flow_id} has no unsaved changes")
    _work_lock(work, lock)
    row = save_draft(session, actor, work.definition, note=note, source="ui", ctx=ctx)
    session.delete(work)
    session.flush()
    return row


# --- diff -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One difference between two versions; ``path`` is the JSON path in the
    newer version (the older one for removals)."""

    kind: str  # added | removed | changed
    path: str
    subject: str  # "node:<id>", "transition:<from>-><to>[:action]", or the setting's key
    before: Any
    after: Any
    zh: str
    en: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tkey(t: Mapping[str, Any]) -> str:
    return f"{t.get('from')}->{t.get('to')}" + (f":{t['action']}" if t.get("action") else "")


def _doc(d: FlowDefinition | Mapping[str, Any]) -> dict[str, Any]:
    return d.to_dict() if isinstance(d, FlowDefinition) else dict(d)


def diff(old: FlowDefinition | Mapping[str, Any], new: FlowDefinition | Mapping[str, Any]) -> list[Change]:
    """What changed from ``old`` to ``new``: settings, nodes (by id), then
    transitions (by from, to and action)."""
    a, b = _doc(old), _doc(new)
    out: list[Change] = []
    for key in ("title", "description", "form", "calendar", "warn_ratio", "variables"):
        for parts, x, y in deep_diff(a.get(key), b.get(key), [key]):
            path = jpath(parts)
            out.append(Change("changed", path, key, x, y, f"设置 {path} 由 {show(x)} 改为 {show(y)}",
                              f"{path} changed from {json.dumps(x, ensure_ascii=False)} to {json.dumps(y, ensure_ascii=False)}"))
    na = {n["id"]: (i, n) for i, n in enumerate(a.get("nodes", []))}
    nb = {n["id"]: (i, n) for i, n in enumerate(b.get("nodes", []))}
    for nid, (i, n) in na.items():
        if nid not in nb:
            out.append(Change("removed", jpath(["nodes", i]), f"node:{nid}", n, None,
                              f"删除节点 {localize(n.get('title')) or nid}（{nid}）", f"node {nid} removed"))
    for nid, (i, n) in nb.items():
        if nid not in na:
            out.append(Change("added", jpath(["nodes", i]), f"node:{nid}", None, n,
                              f"新增节点 {localize(n.get('title')) or nid}（{nid}）", f"node {nid} added"))
            continue
        for parts, x, y in deep_diff(na[nid][1], n, []):
            key = ".".join(str(p) for p in parts)
            out.append(Change("changed", jpath(["nodes", i, *parts]), f"node:{nid}", x, y,
                              f"节点 {localize(n.get('title')) or nid}（{nid}）的 {key} 由 {show(x)} 改为 {show(y)}",
                              f"node {nid}: {key} changed from {json.dumps(x, ensure_ascii=False)} "
                              f"to {json.dumps(y, ensure_ascii=False)}"))
    if [n for n in na if n in nb] != [n for n in nb if n in na]:
        out.append(Change("changed", "$.nodes", "order", list(na), list(nb), "节点顺序改变", "node order changed"))
    ta = {_tkey(t): (k, t) for k, t in enumerate(a.get("transitions", []))}
    tb = {_tkey(t): (k, t) for k, t in enumerate(b.get("transitions", []))}
    for key, (k, t) in ta.items():
        if key not in tb:
            out.append(Change("removed", jpath(["transitions", k]), f"transition:{key}", t, None,
                              f"删除流转 {key}", f"transition {key} removed"))
    for key, (k, t) in tb.items():
        if key not in ta:
            out.append(Change("added", jpath(["transitions", k]), f"transition:{key}", None, t,
                              f"新增流转 {key}", f"transition {key} added"))
            continue
        for parts, x, y in deep_diff(ta[key][1], t, []):
            name = ".".join(str(p) for p in parts)
            out.append(Change("changed", jpath(["transitions", k, *parts]), f"transition:{key}", x, y,
                              f"流转 {key} 的 {name} 由 {show(x)} 改为 {show(y)}",
                              f"transition {key}: {name} changed from {json.dumps(x, ensure_ascii=False)} "
                              f"to {json.dumps(y, ensure_ascii=False)}"))
    return out


def diff_versions(session: Session, flow_id: str, v1: int, v2: int) -> list[Change]:
    return diff(get_version(session, flow_id, v1).definition, get_version(session, flow_id, v2).definition)


# --- files ----------------------------------------------------------------------------------

def export_json(session: Session, flow_id: str, version: int | None = None) -> str:
    """The definition as a JSON file: the given version, else the published
    one, else the newest."""
    return _STORE.export_json(session, flow_id, version)


def import_json(session: Session, actor: Actor | None, text: str | bytes, *, note: str = "",
                source: str = "import", ctx: Any = None) -> FlowDef:
    """Check an exported file and store it as a new draft version; a file that
    is not JSON, or not a valid definition, is refused with nothing written."""
    d = load_text(text, source, ctx, session=session)
    return save_draft(session, actor, d, note=note, source=source, ctx=ctx)


def sync_from_files(ctx: Any, session: Session, registry: Any = None, actor: Actor | None = None) -> list[tuple[str, int]]:
    """Store each file definition (after layering) as a new published version
    when it differs from the last version synced from files. Idempotent;
    versions made in the designer are left alone until the files change."""
    if registry is None:
        registry = FlowRegistry(ctx, session=session)
    done: list[tuple[str, int]] = []
    for d in registry:
        last = session.scalar(select(FlowDef).where(FlowDef.flow_id == d.id, FlowDef.source.like("file:%"))
                              .order_by(FlowDef.version.desc()).limit(1))
        if last is not None and last.content_hash == d.content_hash():
            continue
        origin = "file:" + registry.origins.get(d.id, d.source)
        row = save_draft(session, actor, d, note="同步自定义文件 / synced from files", source=origin, ctx=ctx)
        publish(session, actor, d.id, row.version, ctx=ctx)
        done.append((d.id, row.version))
    return done


__all__ = [
    "Change",
    "FlowDefinitionError",
    "definition_of",
    "diff",
    "diff_versions",
    "discard_work",
    "export_json",
    "flow_ids",
    "get_published",
    "get_version",
    "import_json",
    "latest_row",
    "list_versions",
    "publish",
    "published_row",
    "save_draft",
    "save_incomplete_draft",
    "save_work",
    "save_work_as_version",
    "sync_from_files",
    "unpublish",
    "work_doc",
    "work_row",
]
