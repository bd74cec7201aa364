"""数据字典 services: dictionaries, hierarchical items, lookups, import and export.

Every write takes the caller's session and writes an audit entry in it.
Items are identified by ``code`` within their dictionary (records store the
code, so it never changes once created); the tree is ``parent_id`` plus a
materialised id ``path`` for subtree queries. Permissions are checked by the
web layer (dictionaries are deployment-wide reference data, not org data).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import bindparam, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .. import audit, tabular
from ..errors import Conflict, NotFound, ValidationFailed
from ..validation import check_version, coerce, field_error, stripped_name
from .models import Dict, DictItem

DICT_CODE = r"^[a-z0-9][a-z0-9_.\-]{0,99}$"
ITEM_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
ITEM_CODE_RE = re.compile(ITEM_CODE)
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000




class DictCreate(BaseModel):
    """A new dictionary; ``code`` is how forms refer to it and never changes."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=DICT_CODE, description="小写字母、数字、._- / lower-case letters, digits, . _ -")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    _v_name = field_validator("name")(stripped_name)


class DictUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    _v_name = field_validator("name")(stripped_name)


class ItemCreate(BaseModel):
    """A new item under ``parent_code`` (empty: a top-level item)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=ITEM_CODE, description="字母、数字、._- / letters, digits, . _ -")
    name: str = Field(min_length=1, max_length=200)
    parent_code: str | None = None
    sort: int = Field(0, ge=0, le=1_000_000)
    extra: dict[str, Any] = Field(default_factory=dict)
    _v_name = field_validator("name")(stripped_name)


class ItemUpdate(BaseModel):
    """Changed fields of an item plus the version the editor read.

    ``parent_code`` moves the item (``null``: to the top level); ``active``
    false deactivates it with its subtree. The code itself cannot change.
    """

    model_config = ConfigDict(extra="forbid")
    version: int
    name: str | None = Field(None, min_length=1, max_length=200)
    parent_code: str | None = None
    sort: int | None = Field(None, ge=0, le=1_000_000)
    active: bool | None = None
    extra: dict[str, Any] | None = None
    _v_name = field_validator("name")(stripped_name)


# --- reading ------------------------------------------------------------------------

def get_dict(session: Session, code: str) -> Dict:
    d = session.scalar(select(Dict).where(Dict.code == code))
    if d is None:
        raise NotFound(f"数据字典 {code} 不存在", f"dictionary {code} does not exist")
    return d


def get_item(session: Session, d: Dict, code: str, field_name: str | None = None) -> DictItem:
    item = session.scalar(select(DictItem).where(DictItem.dict_id == d.id, DictItem.code == code))
    if item is None:
        zh, en = f"字典“{d.name}”中没有编码为 {code} 的条目", f"dictionary {d.code} has no item {code!r}"
        if field_name:
            raise ValidationFailed(zh, en, fields=field_error(field_name, zh, en))
        raise NotFound(zh, en)
    return item


def item_count(session: Session, dict_id: int) -> int:
    return session.scalar(select(func.count()).select_from(DictItem).where(DictItem.dict_id == dict_id)) or 0


def tree_order(items: Iterable[Any]) -> list[Any]:
    """Depth-first order (parents first, siblings by sort then code); works on rows or objects."""
    items = list(items)
    ids = {i.id for i in items}
    by_parent: dict[int | None, list[Any]] = {}
    for i in items:
        by_parent.setdefault(i.parent_id if i.parent_id in ids else None, []).append(i)
    out: list[Any] = []
    stack = [sorted(by_parent.get(None, []), key=lambda x: (x.sort, x.code), reverse=True)]
    while stack:
        level = stack[-1]
        if not level:
            stack.pop()
            continue
        node = level.pop()
        out.append(node)
        stack.append(sorted(by_parent.get(node.id, []), key=lambda x: (x.sort, x.code), reverse=True))
    return out


def list_items(session: Session, d: Dict, *, parent_code: str | None = None, q: str = "",
               active_only: bool = False) -> list[DictItem]:
    """Items in tree order: the subtree below ``parent_code`` (all when None);
    with ``q``, the items whose code or name contains it plus their ancestors."""
    stmt = select(DictItem).where(DictItem.dict_id == d.id)
    if parent_code:
        parent = get_item(session, d, parent_code)
        stmt = stmt.where(DictItem.path.like(parent.path + "%"), DictItem.id != parent.id)
    if active_only:
        stmt = stmt.where(DictItem.active.is_(True))
    items = list(session.scalars(stmt))
    if q:
        needle = q.lower()
        hits = [i for i in items if needle in i.code.lower() or needle in i.name.lower()]
        keep = {int(x) for i in hits for x in i.path.strip("/").split("/") if x}
        items = [i for i in items if i.id in keep]
    return tree_order(items)


@dataclass(frozen=True)
class Entry:
    """A dictionary item as the forms engine sees it."""

    code: str
    name: str
    parent_code: str | None
    depth: int
    active: bool
    extra: dict[str, Any] = field(default_factory=dict)


def options(ctx: Any, dict_code: str, parent_code: str | None = None,
            active_only: bool = True) -> list[tuple[str, str, int]]:
    """Choices for a dictionary field: ``[(code, name, depth)]`` in tree order.

    ``parent_code`` limits them to that item's subtree (depth 0 = its
    children); ``active_only=False`` also lists deactivated items (for
    filters over old records). Unknown dictionary or parent: NotFound.
    """
    with ctx.db.session() as s:
        d = get_dict(s, dict_code)
        items = list_items(s, d, parent_code=parent_code, active_only=active_only)
        top = min((i.depth for i in items), default=0)
        return [(i.code, i.name, i.depth - top) for i in items]


def lookup(ctx: Any, dict_code: str, code: str) -> Entry | None:
    """The item ``code`` of a dictionary, active or not (old records still show
    their label), or None when the dictionary or the item does not exist."""
    with ctx.db.session() as s:
        d = s.scalar(select(Dict).where(Dict.code == dict_code))
        if d is None:
            return None
        item = s.scalar(select(DictItem).where(DictItem.dict_id == d.id, DictItem.code == code))
        if item is None:
            return None
        parent = s.scalar(select(DictItem.code).where(DictItem.id == item.parent_id)) if item.parent_id else None
        return Entry(item.code, item.name, parent, item.depth, item.active, dict(item.extra or {}))


# --- dictionaries -------------------------------------------------------------------

def dict_snapshot(d: Dict) -> dict[str, Any]:
    return {"code": d.code, "name": d.name, "description": d.description, "builtin": d.builtin}


def create_dict(session: Session, actor: audit.Actor | None, data: DictCreate | Mapping[str, Any],
                builtin: bool = False) -> Dict:
    d = coerce(DictCreate, data)
    if session.scalar(select(Dict.id).where(Dict.code == d.code)) is not None:
        zh, en = f"编码 {d.code} 已被其他数据字典使用", f"code {d.code} is already used by another dictionary"
        raise ValidationFailed(zh, en, fields=field_error("code", zh, en))
    obj = Dict(code=d.code, name=d.name, description=d.description, builtin=builtin)
    session.add(obj)
    try:
        session.flush()
    except IntegrityError:  # someone created the same code a moment ago
        zh, en = f"编码 {d.code} 已被其他数据字典使用", f"code {d.code} is already used by another dictionary"
        raise ValidationFailed(zh, en, fields=field_error("code", zh, en)) from None
    audit.record(session, actor, "dict_create", "dict", obj.code, after=dict_snapshot(obj),
                 summary=f"新建数据字典 {obj.name}")
    return obj


def edit_dict(session: Session, actor: audit.Actor | None, code: str, data: DictUpdate | Mapping[str, Any]) -> Dict:
    u = coerce(DictUpdate, data)
    d = get_dict(session, code)
    check_version(d, u.version, "数据字典", "dictionary")
    before = dict_snapshot(d)
    if u.name is not None:
        d.name = u.name
    if u.description is not None:
        d.description = u.description
    b, a = audit.changes(before, dict_snapshot(d))
    if a:
        session.flush()
        audit.record(session, actor, "dict_edit", "dict", d.code, before=b, after=a, summary=f"修改数据字典 {d.name}")
    return d


def delete_dict(session: Session, actor: audit.Actor | None, code: str, version: int | None = None) -> None:
    """Delete a dictionary made by mistake: refused while it has items, and for built-in ones."""
    d = get_dict(session, code)
    check_version(d, version, "数据字典", "dictionary")
    if d.builtin:
        raise Conflict(f"“{d.name}”是系统预置的数据字典，不能删除；可停用不用的条目",
                       f"{d.code} is a built-in dictionary and cannot be deleted: deactivate unused items instead",
                       code="dict_builtin")
    n = item_count(session, d.id)
    if n:
        raise Conflict(f"数据字典“{d.name}”中还有 {n} 个条目，不能删除；请改为停用条目",
                       f"dictionary {d.code} still has {n} item(s): it cannot be deleted (deactivate items instead)",
                       code="dict_in_use")
    before = dict_snapshot(d)
    session.delete(d)
    session.flush()
    audit.record(session, actor, "dict_delete", "dict", code, before=before, summary=f"删除数据字典 {before['name']}")


# --- items --------------------------------------------------------------------------

def item_snapshot(i: DictItem, parent_code: str | None = None) -> dict[str, Any]:
    return {"code": i.code, "name": i.name, "parent_id": i.parent_id, "sort": i.sort, "active": i.active,
            "extra": i.extra}


def _parent(session: Session, d: Dict, parent_code: str | None) -> DictItem | None:
    if not parent_code:
        return None
    parent = get_item(session, d, parent_code, field_name="parent_code")
    if not parent.active:
        zh, en = f"上级条目“{parent.name}”已停用", f"parent item {parent.code!r} is deactivated"
        raise ValidationFailed(zh, en, fields=field_error("parent_code", zh, en))
    return parent


def _duplicate(d: Dict, code: str) -> ValidationFailed:
    zh, en = f"字典“{d.name}”中已有编码为 {code} 的条目", f"dictionary {d.code} already has an item {code!r}"
    return ValidationFailed(zh, en, fields=field_error("code", zh, en))


def add_item(session: Session, actor: audit.Actor | None, dict_code: str,
             data: ItemCreate | Mapping[str, Any]) -> DictItem:
    c = coerce(ItemCreate, data)
    d = get_dict(session, dict_code)
    if session.scalar(select(DictItem.id).where(DictItem.dict_id == d.id, DictItem.code == c.code)) is not None:
        raise _duplicate(d, c.code)
    parent = _parent(session, d, c.parent_code)
    item = DictItem(dict_id=d.id, parent_id=parent.id if parent else None, code=c.code, name=c.name, sort=c.sort,
                    active=True, extra=c.extra, path="")
    session.add(item)
    try:
        session.flush()
    except IntegrityError:  # someone added the same code a moment ago
        raise _duplicate(d, c.code) from None
    path = f"{parent.path if parent else '/'}{item.id}/"
    t = DictItem.__table__  # the path needs the new id; setting it is not an edit (version stays 1)
    session.execute(update(t).where(t.c.id == item.id).values(path=path))
    set_committed_value(item, "path", path)
    audit.record(session, actor, "dict_item_create", "dict_item", f"{d.code}:{item.code}",
                 after=item_snapshot(item), summary=f"{d.name}：新增条目 {item.code} {item.name}")
    return item


def edit_item(session: Session, actor: audit.Actor | None, dict_code: str, code: str,
              data: ItemUpdate | Mapping[str, Any]) -> DictItem:
    """Rename, re-sort, move (``parent_code``), deactivate or reactivate (``active``) an item."""
    u = coerce(ItemUpdate, data)
    d = get_dict(session, dict_code)
    item = get_item(session, d, code)
    check_version(item, u.version, "字典条目", "dictionary item")
    before = item_snapshot(item)
    if u.name is not None:
        item.name = u.name
    if u.sort is not None:
        item.sort = u.sort
    if u.extra is not None:
        item.extra = u.extra
    if "parent_code" in u.model_fields_set:
        _move(session, d, item, u.parent_code)
    if u.active is not None and u.active != item.active:
        _set_active(session, d, item, u.active)
    b, a = audit.changes(before, item_snapshot(item))
    if a:
        session.flush()
        audit.record(session, actor, "dict_item_edit", "dict_item", f"{d.code}:{item.code}", before=b, after=a,
                     summary=f"{d.name}：修改条目 {item.code} {item.name}")
    return item


def _move(session: Session, d: Dict, item: DictItem, parent_code: str | None) -> None:
    current = session.scalar(select(DictItem.code).where(DictItem.id == item.parent_id)) if item.parent_id else None
    if (parent_code or None) == current:
        return  # not a move (an inactive parent does not block editing its children)
    parent = _parent(session, d, parent_code)
    if (parent.id if parent else None) == item.parent_id:
        return
    if parent is not None and parent.path.startswith(item.path):
        zh, en = "不能把条目移动到它自己或它的下级条目之下", "an item cannot be moved into its own subtree"
        raise ValidationFailed(zh, en, fields=field_error("parent_code", zh, en))
    old_path, new_path = item.path, f"{parent.path if parent else '/'}{item.id}/"
    item.parent_id = parent.id if parent else None
    item.path = new_path
    session.flush()
    session.execute(
        update(DictItem).where(DictItem.dict_id == d.id, DictItem.path.like(old_path + "%"), DictItem.id != item.id)
        .values(path=literal(new_path) + func.substr(DictItem.path, len(old_path) + 1),
                version=DictItem.version + 1)
        .execution_options(synchronize_session=False))
    _expire_others(session, item)


def _set_active(session: Session, d: Dict, item: DictItem, active: bool) -> None:
    """Deactivating takes the subtree with it; reactivating needs an active parent and is the item alone."""
    if active:
        if item.parent_id is not None:
            parent = session.get(DictItem, item.parent_id)
            if parent is not None and not parent.active:
                raise Conflict(f"上级条目“{parent.name}”已停用，请先启用上级条目",
                               f"parent item {parent.code!r} is deactivated: reactivate it first")
        item.active = True
        return
    item.active = False
    session.flush()
    session.execute(
        update(DictItem).where(DictItem.dict_id == d.id, DictItem.path.like(item.path + "%"),
                               DictItem.id != item.id, DictItem.active.is_(True))
        .values(active=False, version=DictItem.version + 1).execution_options(synchronize_session=False))
    _expire_others(session, item)


def _expire_others(session: Session, keep: DictItem) -> None:
    for obj in list(session.identity_map.values()):
        if isinstance(obj, DictItem) and obj is not keep:
            session.expire(obj)


def rebuild_paths(session: Session, dict_id: int) -> None:
    """Recompute every path of a dictionary from ``parent_id`` (after bulk writes)."""
    rows = session.execute(select(DictItem.id, DictItem.parent_id, DictItem.path)
                           .where(DictItem.dict_id == dict_id)).all()
    parent_of = {r.id: r.parent_id for r in rows}
    paths: dict[int, str] = {}

    def path(i: int) -> str:
        chain = []
        while i is not None and i not in paths:
            chain.append(i)
            i = parent_of[i]
        prefix = paths[i] if i is not None else "/"
        for j in reversed(chain):
            prefix = paths[j] = f"{prefix}{j}/"
        return prefix

    # A new row (empty path) keeps version 1; a moved one counts as changed.
    changed = [{"iid": r.id, "new_path": path(r.id), "bump": 1 if r.path else 0} for r in rows if path(r.id) != r.path]
    if changed:
        t = DictItem.__table__  # a Core executemany, not the ORM's bulk update by primary key
        session.execute(update(t).where(t.c.id == bindparam("iid"))
                        .values(path=bindparam("new_path"), version=t.c.version + bindparam("bump")), changed)


# --- import and export --------------------------------------------------------------

COLUMNS = ("code", "name", "parent_code", "sort", "active", "extra")
HEADER_ALIASES = {"编码": "code", "代码": "code", "名称": "name", "上级编码": "parent_code", "上级代码": "parent_code",
                  "排序": "sort", "排序号": "sort", "启用": "active", "是否启用": "active", "扩展": "extra"}
COLUMN_ZH = {"code": "编码", "name": "名称", "parent_code": "上级编码", "sort": "排序", "active": "启用",
             "extra": "扩展"}
TRUE = {"1", "true", "yes", "y", "是", "启用"}
FALSE = {"0", "false", "no", "n", "否", "停用"}


@dataclass
class RowError:
    row: int
    column: str
    message: str
    message_en: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message, "message_en": self.message_en}


class ImportFailed(ValidationFailed):
    """The file was refused; ``rows`` lists every fault (row number as in the file, header = row 1)."""

    code = "import_failed"

    def __init__(self, zh: str, en: str, rows: list[RowError]) -> None:
        super().__init__(zh, en)
        self.rows = rows

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        body["error"]["rows"] = [r.as_dict() for r in self.rows]
        return body


def _bad_file(zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(zh, en, code="bad_file", fields=field_error("file", zh, en))


def read_table(filename: str, content: bytes) -> list[list[str]]:
    """Rows of a CSV (UTF-8 or GB18030) or XLSX file as strings; anything else is refused.
    One row past the limit is read, so the row check can name it."""
    table = tabular.read_table(filename, content, max_bytes=MAX_IMPORT_BYTES, skip_blank=False)
    rows: list[list[str]] = []
    for line, cells in table.rows:
        rows.append(cells)
        if line > MAX_IMPORT_ROWS + 1:
            break
    return [table.header, *rows] if table.header or rows else []


def _header(row: list[str]) -> list[str | None]:
    out: list[str | None] = []
    for h in row:
        h = h.strip().lower()
        out.append(h if h in COLUMNS else HEADER_ALIASES.get(h))
    return out


@dataclass
class _Row:
    line: int
    code: str
    name: str
    parent_code: str | None
    sort: int
    active: bool
    extra: dict[str, Any] | None


def _unescape(v: str) -> str:
    """Undo the export's formula guard."""
    return tabular.restore(v)


def _parse_rows(table: list[list[str]]) -> tuple[list[_Row], list[RowError]]:
    errors: list[RowError] = []
    if not table:
        return [], [RowError(1, "", "文件中没有数据", "the file has no rows")]
    cols = _header(table[0])
    for req in ("code", "name"):
        if req not in cols:
            errors.append(RowError(1, req, f"缺少“{COLUMN_ZH[req]}”（{req}）列",
                                   f"the header has no {req!r} column"))
    if errors:
        return [], errors
    if len(table) - 1 > MAX_IMPORT_ROWS:
        return [], [RowError(MAX_IMPORT_ROWS + 2, "", f"行数超过上限 {MAX_IMPORT_ROWS}",
                             f"more than {MAX_IMPORT_ROWS} rows")]
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(table[1:], start=2):
        if not any(str(v).strip() for v in raw):
            continue
        v = {c: _unescape(str(raw[i]).strip()) for i, c in enumerate(cols) if c and i < len(raw)}
        before = len(errors)
        code, name = v.get("code", ""), v.get("name", "")
        if not code:
            errors.append(RowError(n, "code", "编码不能为空", "code is empty"))
        elif not ITEM_CODE_RE.match(code):
            errors.append(RowError(n, "code", f"编码 {code} 格式不正确（字母、数字、._-，最长 64）",
                                   f"code {code!r} is malformed (letters, digits, . _ -, at most 64)"))
        elif code in seen:
            errors.append(RowError(n, "code", f"编码 {code} 与第 {seen[code]} 行重复",
                                   f"code {code!r} repeats row {seen[code]}"))
        else:
            seen[code] = n
        if not name:
            errors.append(RowError(n, "name", "名称不能为空", "name is empty"))
        elif len(name) > 200:
            errors.append(RowError(n, "name", "名称最多 200 个字符", "name is longer than 200 characters"))
        sort = 0
        if v.get("sort"):
            try:
                sort = int(v["sort"])
                if not 0 <= sort <= 1_000_000:
                    raise ValueError
            except ValueError:
                errors.append(RowError(n, "sort", f"排序应为 0–1000000 的整数，而不是 {v['sort']}",
                                       f"sort must be an integer in 0..1000000, not {v['sort']!r}"))
        active = True
        if v.get("active"):
            a = v["active"].lower()
            if a in TRUE:
                active = True
            elif a in FALSE:
                active = False
            else:
                errors.append(RowError(n, "active", f"启用应为 是/否（或 1/0），而不是 {v['active']}",
                                       f"active must be yes/no (or 1/0), not {v['active']!r}"))
        extra = None
        if v.get("extra"):
            try:
                extra = json.loads(v["extra"])
                if not isinstance(extra, dict):
                    raise ValueError
            except ValueError:
                errors.append(RowError(n, "extra", "扩展应为 JSON 对象，如 {\"note\": \"…\"}",
                                       "extra must be a JSON object, e.g. {\"note\": \"...\"}"))
        if len(errors) == before:
            rows.append(_Row(n, code, name, v.get("parent_code") or None, sort, active, extra))
    return rows, errors


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def import_items(session: Session, actor: audit.Actor | None, dict_code: str, filename: str,
                 content: bytes) -> ImportResult:
    """Create or update items from a CSV/XLSX file (columns: code, name, parent_code, sort, active, extra).

    All or nothing: every row is checked first (parents may be earlier or
    later in the file or already in the dictionary; no cycles); when any row
    fails, :class:`ImportFailed` lists each fault and nothing is written.
    Items missing from the file are left alone; an existing code is updated.
    """
    d = get_dict(session, dict_code)
    rows, errors = _parse_rows(read_table(filename, content))
    existing = {i.code: i for i in session.scalars(select(DictItem).where(DictItem.dict_id == d.id))}
    by_id = {i.id: i for i in existing.values()}
    parent_of: dict[str, str | None] = {c: (by_id[i.parent_id].code if i.parent_id in by_id else None)
                                        for c, i in existing.items()}
    for r in rows:
        parent_of[r.code] = r.parent_code
    for r in rows:
        if r.parent_code and r.parent_code not in parent_of:
            errors.append(RowError(r.line, "parent_code", f"上级编码 {r.parent_code} 既不在文件中也不在字典中",
                                   f"parent code {r.parent_code!r} is neither in the file nor in the dictionary"))
            continue
        seen, cur = {r.code}, r.parent_code
        while cur is not None:
            if cur in seen:
                errors.append(RowError(r.line, "parent_code", f"上级编码 {r.parent_code} 形成循环（条目成了自己的下级）",
                                       f"parent code {r.parent_code!r} makes a cycle (the item under itself)"))
                break
            seen.add(cur)
            cur = parent_of.get(cur)
    if errors:
        errors.sort(key=lambda e: (e.row, e.column))
        raise ImportFailed(f"导入失败：{len(errors)} 处错误，未写入任何数据",
                           f"import refused: {len(errors)} error(s); nothing was written", errors)
    result = ImportResult()
    new_items: dict[str, DictItem] = {}
    for r in rows:
        item = existing.get(r.code)
        if item is None:
            item = DictItem(dict_id=d.id, code=r.code, name=r.name, sort=r.sort, active=r.active,
                            extra=r.extra or {}, path="")
            session.add(item)
            new_items[r.code] = item
            result.created += 1
        else:
            before = (item.name, item.sort, item.active, item.extra, parent_of.get(r.code))
            item.name, item.sort, item.active = r.name, r.sort, r.active
            if r.extra is not None:
                item.extra = r.extra
            if before[:4] == (item.name, item.sort, item.active, item.extra) and \
                    (by_id[item.parent_id].code if item.parent_id in by_id else None) == r.parent_code:
                result.unchanged += 1
            else:
                result.updated += 1
    session.flush()
    everything = {**existing, **new_items}
    for r in rows:
        item = everything[r.code]
        pid = everything[r.parent_code].id if r.parent_code else None
        if item.parent_id != pid:
            item.parent_id = pid
    session.flush()
    rebuild_paths(session, d.id)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, DictItem):
            session.expire(obj)
    audit.record(session, actor, "dict_import", "dict", d.code, after={"file": filename[:200], **result.as_dict(),
                                                                         "rows": len(rows)},
                 summary=f"{d.name}：导入 {filename[:100]}（新增 {result.created}，修改 {result.updated}）")
    return result


def export_rows(session: Session, dict_code: str) -> list[list[Any]]:
    """Header plus one row per item in tree order, in the import's column layout."""
    d = get_dict(session, dict_code)
    items = list_items(session, d)
    code_of = {i.id: i.code for i in items}
    out: list[list[Any]] = [list(COLUMNS)]
    for i in items:
        out.append([i.code, i.name, code_of.get(i.parent_id, "") if i.parent_id else "", i.sort,
                    1 if i.active else 0, json.dumps(i.extra, ensure_ascii=False) if i.extra else ""])
    return out


def export_file(session: Session, dict_code: str, fmt: str) -> tuple[bytes, str]:
    """(content, media type) of the dictionary as ``csv`` (UTF-8 with BOM, for Excel) or ``xlsx``."""
    if fmt not in ("csv", "xlsx"):
        zh, en = f"导出格式应为 csv 或 xlsx，而不是 {fmt}", f"export format must be csv or xlsx, not {fmt!r}"
        raise ValidationFailed(zh, en, fields=field_error("format", zh, en))
    return tabular.write_table(export_rows(session, dict_code), fmt, dict_code or "dict")

