"""Filters of the case list (案件管理, ``/api/command/cases``) that read index ranges.

The list's cost should be the page's, not the history's (issue 11, item 7):

* ``status`` — ``status = ?`` (or ``IN`` the open statuses) on the index
  ``(status, reported_at, id)``, which also yields the rows newest first;
* ``q`` that looks like a class code (``E0102``, big class ``E01``) — equality on
  ``class_code`` / ``big_class`` (index ``(class_code, reported_at, id)``);
* ``q`` that looks like a case number (letters, digits, ``-``, at least 6
  characters with a digit) — a prefix of ``case_no`` as a range on its unique
  index (exact: a prefix range under the column's binary order, plus ``LIKE``);
* any other ``q`` (words, an address) — ``LIKE '%q%'`` over number, address and
  description as before: a scan until the full-text search work lands.

The total a screen shows is counted up to :data:`COUNT_CAP` rows (one more is
"more than"), so a list over years of cases costs what a page costs.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from sqlalchemy import ColumnElement, func, literal, literal_column, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.sqltypes import NullType

from .models import CASE_SOURCES, CASE_STATUSES, OPEN_STATUSES, Case

COUNT_CAP = 2_000  # 100 pages of 20: beyond that a total steers nobody (统计分析 counts exactly)
CLASS_RE = re.compile(r"[CE]\d{2}(?:\d{2})?")
CASE_NO_RE = re.compile(r"(?=.*\d)[A-Z0-9-]{6,40}")
PATTERN_RE = re.compile(r"[A-Z0-9-]{6,40}%")


def _escape_like(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _successor(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (ASCII prefix)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class prefix_of(FunctionElement):  # noqa: N801 - reads like the predicate it renders
    """``col`` starts with ``prefix`` (ASCII letters, digits, ``-``; no LIKE wildcards), as a
    predicate an index can seek: on SQLite the binary range ``[prefix, successor)`` on the
    column's own index; on PostgreSQL ``LIKE 'prefix%'``, which the ``varchar_pattern_ops``
    index serves whatever the database's collation (a plain range would follow a linguistic
    collation and could miss rows)."""

    # no Boolean type: SQLite would compare the whole predicate with 1 and lose the index
    type = NullType()
    inherit_cache = False  # PostgreSQL's form inlines the pattern: never reuse a compiled statement
    name = "prefix_of"

    def __init__(self, col: Any, prefix: str) -> None:
        super().__init__(col, literal(prefix), literal(_successor(prefix)), literal(prefix + "%"))


@compiles(prefix_of, "sqlite")
def _prefix_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    col, lo, hi, _ = (compiler.process(c, **kw) for c in element.clauses)
    return f"({col} >= {lo} AND {col} < {hi})"


@compiles(prefix_of)
def _prefix_default(element: Any, compiler: Any, **kw: Any) -> str:
    """The pattern inline (it is only ``[A-Z0-9-]`` and ``%``, checked here): a LIKE with a
    bound parameter cannot use the index once psycopg prepares the statement (generic plan)."""
    clauses = list(element.clauses)
    col = compiler.process(clauses[0], **kw)
    pattern = clauses[3].value
    if not PATTERN_RE.fullmatch(pattern):
        raise ValueError(f"not a case-number prefix pattern: {pattern!r}")
    return f"({col} LIKE {compiler.process(literal_column(repr(pattern)), **kw)})"  # (doubles % for pyformat)


def text_query(q: str) -> ColumnElement[bool]:
    """The condition of a search box text (see the module docstring)."""
    q = q.strip()[:60]
    up = q.upper()
    if CLASS_RE.fullmatch(up):
        return Case.class_code == up if len(up) == 5 else Case.big_class == up
    if CASE_NO_RE.fullmatch(up):
        return prefix_of(Case.case_no, up)
    like = "%" + _escape_like(q) + "%"
    return or_(Case.case_no.ilike(like, escape="\\"), Case.address.ilike(like, escape="\\"),
               Case.description.ilike(like, escape="\\"))


def list_conditions(params: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """The ``status``, ``source`` and ``q`` filters of the case list (unknown values ignored)."""
    out: list[ColumnElement[bool]] = []
    status = params.get("status", "") or ""
    if status in CASE_STATUSES:
        out.append(Case.status == status)
    elif status == "open":
        out.append(Case.status.in_(OPEN_STATUSES))
    source = params.get("source", "") or ""
    if source in CASE_SOURCES:
        out.append(Case.source == source)
    q = (params.get("q") or "").strip()
    if q:
        out.append(text_query(q))
    return out


def count_capped(session: Any, stmt: Any, cap: int = COUNT_CAP) -> int:
    """How many rows ``stmt`` selects, counting at most ``cap + 1`` (``> cap`` = "more than cap")."""
    inner = stmt.with_only_columns(literal(1)).order_by(None).limit(cap + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)
