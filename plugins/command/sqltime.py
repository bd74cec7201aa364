"""``epoch(ts)``: seconds since 1970 of a UTC timestamp column, on both databases.

Deadline colours (the case map) and on-time checks (绩效考核) compare
intervals inside one SQL pass; SQLite has no interval type, so both sides
work in seconds (SQLite: ``julianday``, PostgreSQL: ``EXTRACT(EPOCH …)``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class epoch(FunctionElement):  # noqa: N801 - reads like the SQL function it renders
    """Seconds since 1970 of a UTC timestamp."""

    type = Float()
    inherit_cache = True
    name = "epoch"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch)
def _epoch_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"
