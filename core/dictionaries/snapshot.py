"""Every item of a dictionary at once, remembered per database until it changes.

Plugins check many codes per request (the city's case intake checks a class
against both GB/T 30428 dictionaries on every report); loading ~200 items
through the ORM each time cost more than the rest of a report. One aggregate
query gives the dictionary's signature — item count, highest id, sum of
versions and of version × id — and the remembered items are used while the
signature is unchanged. Every edit changes it: items are never deleted (they
are deactivated), and every write bumps the item's version. The signature is
read in the caller's transaction, so the caller's own edits are seen.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from .models import Dict, DictItem
from .service import Entry

_SIGNATURE = (select(Dict.id, func.count(DictItem.id), func.coalesce(func.max(DictItem.id), 0),
                     func.coalesce(func.sum(DictItem.version), 0),
                     func.coalesce(func.sum(DictItem.version * DictItem.id), 0))
              .outerjoin(DictItem, DictItem.dict_id == Dict.id)
              .where(Dict.code == bindparam("code")).group_by(Dict.id))
_ITEMS = select(DictItem.id, DictItem.code, DictItem.name, DictItem.parent_id, DictItem.path, DictItem.active,
                DictItem.extra).where(DictItem.dict_id == bindparam("did"))

_MEMO: weakref.WeakKeyDictionary[Any, dict[str, tuple[tuple[Any, ...], dict[str, Entry]]]] = \
    weakref.WeakKeyDictionary()


def entries(session: Session, dict_code: str) -> dict[str, Entry]:
    """Every item of ``dict_code`` by code (active or not); empty when the
    dictionary does not exist. The caller may change the returned dict; the
    entries themselves are shared (do not change their ``extra``)."""
    row = session.execute(_SIGNATURE, {"code": dict_code}).first()
    if row is None:
        return {}
    signature = tuple(row)
    bind = session.get_bind()
    per_db = _MEMO.setdefault(getattr(bind, "engine", bind), {})
    hit = per_db.get(dict_code)
    if hit is not None and hit[0] == signature:
        return dict(hit[1])
    items = session.execute(_ITEMS, {"did": row[0]}).all()
    code_of = {i.id: i.code for i in items}
    built = {i.code: Entry(i.code, i.name, code_of.get(i.parent_id) if i.parent_id else None,
                           max((i.path or "").count("/") - 2, 0), bool(i.active), dict(i.extra or {}))
             for i in items}
    per_db[dict_code] = (signature, built)
    return dict(built)
