"""Schemas written for other form libraries: composed objects, variants and conditional fields.

Real schemas (react-jsonschema-form, JSON Forms, draft-07 era) build an
object from more than ``properties``:

* ``allOf`` branches (often ``$ref`` to a base) — their fields are merged in;
* ``if``/``then``/``else``, ``dependentSchemas`` (and draft-07 ``dependencies``
  given a schema) — *conditional fields*: shown, and kept, only while their
  condition holds;
* ``oneOf``/``anyOf`` of object schemas — *variants*: the user picks one with a
  chooser and its fields appear.

:func:`object_parts` lists every field of an object schema with the condition
it depends on; :func:`inactive` says which submitted fields sit only behind a
condition that does not hold (their values are **dropped** before a record is
validated and stored — never kept unvalidated); :func:`normalize` rewrites the
draft-07 keyword ``dependencies`` into its draft 2020-12 equivalents so both
jsonschema and jsonschema-rs validate it as the schema's author meant.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

_MAX_DEPTH = 32


def normalize(schema: Any) -> Any:
    """A copy with draft-07 ``dependencies`` split into ``dependentRequired`` (lists) and
    ``dependentSchemas`` (schemas); anything else unchanged. Draft 2020-12 validators
    ignore ``dependencies``, so without this they would accept what the author refused."""
    if not _has_key(schema, "dependencies"):
        return schema
    return _norm(copy.deepcopy(schema))


def _has_key(node: Any, key: str) -> bool:
    if isinstance(node, Mapping):
        return key in node or any(_has_key(v, key) for v in node.values())
    if isinstance(node, list):
        return any(_has_key(v, key) for v in node)
    return False


def _norm(node: Any) -> Any:
    if isinstance(node, list):
        return [_norm(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _norm(v) for k, v in node.items() if k != "dependencies"}
    deps = node.get("dependencies")
    if isinstance(deps, Mapping):
        req = {k: v for k, v in deps.items() if isinstance(v, list)}
        schemas = {k: _norm(v) for k, v in deps.items() if not isinstance(v, list)}
        if req:
            out["dependentRequired"] = {**req, **(out.get("dependentRequired") or {})}
        if schemas:
            out["dependentSchemas"] = {**schemas, **(out.get("dependentSchemas") or {})}
    return out


def deref(node: Any, root: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """Follow local ``$ref`` (siblings of the ``$ref`` win over the target's keys)."""
    hops = 0
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#") \
            and hops < _MAX_DEPTH:
        ref = node["$ref"]
        if ref in seen:
            return {}
        seen = seen | {ref}
        target: Any = root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, Mapping) else None
        extra = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **extra} if isinstance(target, Mapping) else extra
        hops += 1
    return node


@dataclass(frozen=True)
class Cond:
    """Why a field is conditional. ``kind``: ``if`` (``schema`` is the if-schema, ``then``
    says which branch), ``dep`` (``trigger`` is present), ``variant`` (``owner`` is the
    oneOf/anyOf list, ``index`` the variant)."""

    kind: str
    schema: Any = None
    then: bool = True
    trigger: str = ""
    index: int = 0
    owner: int = 0  # id() of the variants list (variants of one chooser share it)

    def holds(self, obj: Mapping[str, Any], root: Mapping[str, Any], chosen: Mapping[int, int] | None = None) -> bool:
        if self.kind == "dep":
            return self.trigger in obj
        if self.kind == "if":
            ok = matches(self.schema, obj, root)
            return ok if self.then else not ok
        if self.kind == "variant":
            if chosen is not None and self.owner in chosen:
                return chosen[self.owner] == self.index
            return True  # no choice known: judged by validation
        return True


@dataclass(frozen=True)
class Part:
    """One field of an object schema and the conditions (all must hold) it depends on."""

    name: str
    prop: Any
    conds: tuple[Cond, ...] = ()
    required: bool = False


def is_variants(branches: Any, root: Mapping[str, Any]) -> bool:
    """oneOf/anyOf whose branches are object schemas (a variant chooser), not labelled enums."""
    if not isinstance(branches, list) or not branches:
        return False
    subs = [deref(b, root) for b in branches]
    return all(isinstance(s, Mapping) and "const" not in s for s in subs) and any(
        isinstance(s, Mapping) and (s.get("type") == "object" or "properties" in s) for s in subs)


def variant_title(branch: Any, root: Mapping[str, Any], i: int) -> Any:
    sub = deref(branch, root)
    if isinstance(sub, Mapping):
        if sub.get("x-ccms-title") or sub.get("title"):
            return sub.get("x-ccms-title") or sub.get("title")
        if isinstance(branch, Mapping) and isinstance(branch.get("$ref"), str):
            return branch["$ref"].rsplit("/", 1)[-1]
    return None


def object_parts(node: Any, root: Mapping[str, Any], conds: tuple[Cond, ...] = (),
                 depth: int = 0) -> list[Part]:
    """Every field of an object schema (``properties`` first, then ``allOf`` branches, then
    conditional fields), each once with the conditions it sits behind. A name that is also
    a plain property keeps the plain (unconditional) entry."""
    node = deref(node, root)
    out: list[Part] = []
    if not isinstance(node, Mapping) or depth > _MAX_DEPTH:
        return out
    required = set(node.get("required") or []) if not conds else set()
    for name, prop in (node.get("properties") or {}).items():
        out.append(Part(name, deref(prop, root), conds, name in required))
    for branch in node.get("allOf") or []:
        out += object_parts(branch, root, conds, depth + 1)
    if "if" in node:
        if isinstance(node.get("then"), Mapping):
            out += object_parts(node["then"], root, conds + (Cond("if", node["if"], True),), depth + 1)
        if isinstance(node.get("else"), Mapping):
            out += object_parts(node["else"], root, conds + (Cond("if", node["if"], False),), depth + 1)
    deps = dict(node.get("dependentSchemas") or {})
    deps.update({k: v for k, v in (node.get("dependencies") or {}).items() if not isinstance(v, list)})
    for trigger, sub in deps.items():
        out += object_parts(sub, root, conds + (Cond("dep", trigger=trigger),), depth + 1)
    for key in ("oneOf", "anyOf"):
        branches = node.get(key)
        if is_variants(branches, root):
            for i, b in enumerate(branches):
                out += object_parts(b, root, conds + (Cond("variant", index=i, owner=id(branches)),), depth + 1)
        elif isinstance(branches, list):  # anyOf of if/then blocks and the like: each branch's fields
            for b in branches:
                sub = deref(b, root)
                if isinstance(sub, Mapping) and "const" not in sub and ("if" in sub or "properties" in sub):
                    out += object_parts(sub, root, conds + (Cond("any"),), depth + 1)
    seen: dict[str, int] = {}
    merged: list[Part] = []
    for p in out:
        if p.name in seen:
            first = merged[seen[p.name]]
            if not first.conds:
                continue
            if not p.conds:  # a plain property wins over a conditional one
                merged[seen[p.name]] = p
            continue
        seen[p.name] = len(merged)
        merged.append(p)
    return merged


def variant_groups(node: Any, root: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    """The variant choosers of an object schema: ``(keyword, branches)``."""
    node = deref(node, root)
    out = []
    if isinstance(node, Mapping):
        for key in ("oneOf", "anyOf"):
            if is_variants(node.get(key), root):
                out.append((key, node[key]))
        for branch in node.get("allOf") or []:
            out += variant_groups(branch, root)
    return out


_VALIDATORS: dict[str, jsonschema.Draft202012Validator] = {}


def matches(schema: Any, value: Any, root: Mapping[str, Any]) -> bool:
    """Does ``value`` satisfy ``schema`` (a subschema of ``root``; local refs resolve in ``root``)?"""
    if isinstance(schema, bool):
        return schema
    key = json.dumps([schema, root.get("$defs"), root.get("definitions")], sort_keys=True, default=str)
    v = _VALIDATORS.get(key)
    if v is None:
        wrapped = dict(schema) if isinstance(schema, Mapping) else {}
        for k in ("$defs", "definitions"):
            if k in root and k not in wrapped:
                wrapped[k] = root[k]
        v = jsonschema.Draft202012Validator(normalize(wrapped))
        if len(_VALIDATORS) > 512:
            _VALIDATORS.clear()
        _VALIDATORS[key] = v
    try:
        return v.is_valid(value)
    except Exception:  # an unresolvable reference ("#" of the root) judged as not matching
        return False


def chosen_variant(branches: list[Any], value: Any, root: Mapping[str, Any]) -> int:
    """The variant a stored value belongs to: the first it satisfies, else the one sharing most keys."""
    if not isinstance(value, Mapping):
        return 0
    for i, b in enumerate(branches):
        if matches(deref(b, root), value, root) and set(value) & set(_names(b, root)):
            return i
    best, score = 0, -1
    for i, b in enumerate(branches):
        s = len(set(value) & set(_names(b, root)))
        if s > score:
            best, score = i, s
    return best


def _names(branch: Any, root: Mapping[str, Any]) -> list[str]:
    return [p.name for p in object_parts(branch, root)]


def inactive(node: Any, obj: Any, root: Mapping[str, Any], chosen: Mapping[int, int] | None = None) -> set[str]:
    """Names in ``obj`` that are fields only behind conditions that do not hold now."""
    if not isinstance(obj, Mapping):
        return set()
    parts = object_parts(node, root)
    plain = {p.name for p in parts if not p.conds}
    by_name: dict[str, list[Part]] = {}
    for p in parts:
        if p.conds:
            by_name.setdefault(p.name, []).append(p)
    out = set()
    for name in obj:
        if name in plain or name not in by_name:
            continue
        if not any(all(c.holds(obj, root, chosen) for c in p.conds) for p in by_name[name]):
            out.add(name)
    return out


def prune(schema: Mapping[str, Any], data: Any, chosen: Mapping[int, int] | None = None) -> Any:
    """``data`` without the values of conditional fields whose condition does not hold,
    at the top level and inside nested objects and repeating-group rows."""
    return _prune(schema, data, schema, chosen, 0)


def _prune(node: Any, data: Any, root: Mapping[str, Any], chosen: Mapping[int, int] | None, depth: int) -> Any:
    if not isinstance(data, Mapping) or depth > _MAX_DEPTH:
        return data
    gone = inactive(node, data, root, chosen)
    out = {k: v for k, v in data.items() if k not in gone}
    for p in object_parts(node, root):
        if p.name not in out:
            continue
        prop = p.prop if isinstance(p.prop, Mapping) else {}
        v = out[p.name]
        if isinstance(v, Mapping) and (prop.get("properties") or prop.get("allOf") or "if" in prop
                                       or variant_groups(prop, root)):
            out[p.name] = _prune(prop, v, root, chosen, depth + 1)
        elif isinstance(v, list) and isinstance(prop.get("items"), Mapping):
            items = deref(prop["items"], root)
            out[p.name] = [_prune(items, r, root, chosen, depth + 1) for r in v]
    return out
