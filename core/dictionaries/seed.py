"""Seed the GB/T 30428.2 component and event classes as two dictionaries.

Idempotent and create-only: a dictionary is seeded when its code is missing,
and never touched again — administrators own it afterwards (renames,
local classes, deactivations survive every restart and upgrade).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .. import audit, tabular
from .models import Dict, DictItem
from .service import rebuild_paths

CLASSES_CSV = Path(__file__).parent / "data" / "gbt30428_2_classes.csv"

# kind in the CSV -> (dictionary code, name, description)
SEEDED = {
    "component": ("gbt30428.component", "部件分类",
                  "GB/T 30428.2 部件大类、小类（编码：大类两位，小类四位）；可按本地需要增补或停用"),
    "event": ("gbt30428.event", "事件分类",
              "GB/T 30428.2 事件大类、小类（编码：大类两位，小类四位）；可按本地需要增补或停用"),
}


def _classes() -> dict[str, list[dict[str, str]]]:
    by_kind: dict[str, list[dict[str, str]]] = {}
    table = tabular.read_table(CLASSES_CSV.name, CLASSES_CSV.read_bytes())
    for _line, row in table.records():
        by_kind.setdefault(row["kind"], []).append({k: v or "" for k, v in row.items()})
    return by_kind


def seed_dictionaries(ctx: Any, session: Session) -> list[str]:
    """Create the missing seeded dictionaries; returns the codes created."""
    existing = set(session.scalars(select(Dict.code).where(Dict.code.in_([v[0] for v in SEEDED.values()]))))
    if len(existing) == len(SEEDED):
        return []
    created = []
    classes = _classes()
    for kind, (code, name, description) in SEEDED.items():
        if code in existing:
            continue
        d = Dict(code=code, name=name, description=description, builtin=True)
        session.add(d)
        session.flush()
        rows = classes.get(kind, [])
        bigs: dict[str, str] = {}
        for r in rows:
            bigs.setdefault(r["big_code"], r["big_name"])
        session.execute(insert(DictItem), [
            {"dict_id": d.id, "parent_id": None, "code": c, "name": n, "sort": int(c), "active": True,
             "extra": {}, "path": "", "version": 1} for c, n in bigs.items()])
        ids = dict(session.execute(select(DictItem.code, DictItem.id).where(DictItem.dict_id == d.id)).all())
        session.execute(insert(DictItem), [
            {"dict_id": d.id, "parent_id": ids[r["big_code"]], "code": r["small_code"], "name": r["small_name"],
             "sort": int(r["small_code"]), "active": True, "extra": {"note": r["note"]} if r["note"] else {},
             "path": "", "version": 1} for r in rows])
        rebuild_paths(session, d.id)
        audit.record(session, None, "dict_create", "dict", code,
                     after={"name": name, "items": len(bigs) + len(rows)}, summary=f"seeded {name} from GB/T 30428.2")
        created.append(code)
    return created
