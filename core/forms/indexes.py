"""Expression indexes for a form's ``indexed`` fields, created on publish.

Records keep their fields in one JSON column, so a filter on a field is a
JSON expression. An index helps only when the query's expression is exactly
the indexed one, with the field name written as a literal (a bound parameter
never matches an index expression). :class:`JsonField` is that one
expression: ``records`` filters and sorts with it and :func:`ensure_indexes`
indexes it, so the two cannot drift apart.

SQLite: ``CAST(json_extract(data, '$."f"') AS VARCHAR|FLOAT|BOOLEAN)``;
PostgreSQL (``data`` is ``json``): ``CAST(data ->> 'f' AS VARCHAR|FLOAT|BOOLEAN)``.
Indexes are partial (live records only: every list of live records says
``deleted_at IS NULL``) and lead with ``form_id``. They are never dropped.
On PostgreSQL the index is built inside the publishing transaction (not
CONCURRENTLY): publishing an indexed field on a very large, busy table
blocks writes to it while the index builds.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from typing import Any, ClassVar

from sqlalchemy import Boolean, Float, String, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from .fields import FieldTypes
from .models import FormRecord

log = logging.getLogger(__name__)

NUMBER_KINDS = frozenset({"integer", "number", "money"})
MAX_NAME = 63  # PostgreSQL's identifier limit
_CASTS = {"float": "FLOAT", "boolean": "BOOLEAN", "string": "VARCHAR"}
_TYPES = {"float": Float(), "boolean": Boolean(), "string": String()}


def cast_of(kind: str) -> str:
    """How a field type is compared in SQL: as a float, a boolean or a string."""
    if kind in NUMBER_KINDS:
        return "float"
    if kind == "boolean":
        return "boolean"
    return "string"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def json_sql(dialect: str, name: str, cast: str, column: str = "data") -> str:
    """The SQL text of a field's value, the same in queries and indexes."""
    if dialect == "sqlite":
        path = '$."' + name.replace('"', '""') + '"'
        inner = f"json_extract({column}, {_quote(path)})"
    else:
        inner = f"{column} ->> {_quote(name)}"
    return f"CAST({inner} AS {_CASTS[cast]})"


class JsonField(ColumnElement[Any]):
    """A record field's value as SQL, field name inlined (see the module doc)."""

    inherit_cache = True
    _traverse_internals: ClassVar[list[tuple[str, Any]]] = [("name", InternalTraversal.dp_string), ("cast", InternalTraversal.dp_string)]

    def __init__(self, name: str, cast: str) -> None:
        self.name = name
        self.cast = cast
        self.type = _TYPES[cast]


@compiles(JsonField)
def _compile_json_field(element: JsonField, compiler: Any, **kw: Any) -> str:
    column = compiler.process(FormRecord.__table__.c.data, **kw)
    return json_sql(compiler.dialect.name, element.name, element.cast, column)


def field_expr(name: str, kind: str) -> JsonField:
    """The expression records filter and sort a field with."""
    return JsonField(name, cast_of(kind))


def index_name(form_id: str, field: str) -> str:
    """``ix_form_<form>_<field>``, sanitized; a long one is cut and given a hash
    so two long names never collide."""
    raw = f"ix_form_{form_id}_{field}"
    name = re.sub(r"[^a-z0-9_]", "_", raw.lower())
    if name != raw or len(name) > MAX_NAME:
        digest = hashlib.sha1(raw.encode()).hexdigest()[:8]
        name = name[: MAX_NAME - 9] + "_" + digest
    return name


def create_sql(dialect: str, form_id: str, field: str, kind: str) -> str:
    expr = json_sql(dialect, field, cast_of(kind))
    return (f"CREATE INDEX IF NOT EXISTS {index_name(form_id, field)} ON core_form_record "
            f"(form_id, ({expr})) WHERE deleted_at IS NULL")


@functools.cache
def _builtin_types() -> Any:
    return FieldTypes.default()


def _kind(field_types: Any, prop: Any) -> str:
    """The field's type name; publish has no app at hand, so the built-in types
    decide (a plugin type unknown to them compares as a string)."""
    if field_types is None:
        field_types = _builtin_types()
    try:
        return field_types.resolve(prop).name
    except Exception:  # noqa: BLE001 - unknown plugin type
        return ""


def ensure_indexes(session: Session, definition: Any, field_types: Any = None) -> list[str]:
    """Create the missing indexes of a definition's ``indexed`` fields; returns
    their names. One that cannot be built (old records holding values of
    another type) is logged and skipped: publishing never fails for it."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return []
    made = []
    for field in definition.indexed:
        prop = definition.fields.get(field)
        if prop is None:
            continue
        kind = _kind(field_types, prop)
        sql = create_sql(dialect, definition.id, field, kind)
        try:
            with session.begin_nested():
                session.execute(text(sql))
        except Exception:  # an index is an optimisation, never a reason to refuse
            log.warning("could not create index for form %s field %s", definition.id, field, exc_info=True)
            continue
        made.append(index_name(definition.id, field))
    return made
