"""Indexed fields (core/forms/indexes.py), both backends: publishing a
definition creates an expression index per ``indexed`` field, and the list
filter and sort use exactly the indexed expression, so the planner picks the
index (checked with EXPLAIN / EXPLAIN QUERY PLAN)."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import text
from test_form_records import ADMIN, COMPLAINT, publish
from test_orgs import districts

from ccms.forms import indexes, records, store

INDEXED = {**copy.deepcopy(COMPLAINT), "indexed": ["category", "amount"]}


def index_names(ctx: Any) -> set[str]:
    with ctx.db.session() as s:
        if s.get_bind().dialect.name == "sqlite":
            rows = s.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' "
                                  "AND tbl_name = 'core_form_record'"))
        else:
            rows = s.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'core_form_record'"))
        return {r[0] for r in rows}


def plan(ctx: Any, query: records.Query) -> str:
    """The plan of the list page statement, as the database would run it."""
    with ctx.db.session() as s:
        definition = records.published(s, "t_complaint")
        stmt = records.select_records(ctx, definition, query).order_by(
            *records.order_by(ctx, definition, query.sort)).limit(50)
        bind = s.get_bind()
        sql = str(stmt.compile(dialect=bind.dialect, compile_kwargs={"literal_binds": True}))
        if bind.dialect.name == "sqlite":
            return "\n".join(str(r[-1]) for r in s.execute(text("EXPLAIN QUERY PLAN " + sql)))
        s.execute(text("SET LOCAL enable_seqscan = off"))  # a handful of rows: force the choice to show
        return "\n".join(r[0] for r in s.execute(text("EXPLAIN " + sql)))


def test_publish_creates_indexes_and_filters_use_them(ctx: Any) -> None:
    orgs = districts(ctx)
    before = index_names(ctx)
    publish(ctx, INDEXED)
    made = index_names(ctx) - before
    assert made == {"ix_form_t_complaint_category", "ix_form_t_complaint_amount"}
    with ctx.db.session() as s:
        for i in range(30):
            records.create(s, ADMIN, ctx, "t_complaint", {"subject": f"s{i}", "category": ("road", "green")[i % 2],
                                                          "amount": float(i)}, orgs["a"])
        if s.get_bind().dialect.name == "sqlite":
            s.execute(text("ANALYZE"))
    assert "ix_form_t_complaint_category" in plan(ctx, records.Query(filters={"category": "road"}))
    assert "ix_form_t_complaint_amount" in plan(ctx, records.Query(filters={"amount": {"min": 3, "max": 5}}))
    with ctx.db.session() as s:  # and the results are right
        definition = records.published(s, "t_complaint")
        rows, total = records.list_records(s, ctx, definition, records.Query(filters={"category": "road"}))
        assert total == 15 and {r.data["category"] for r in rows} == {"road"}
        rows, total = records.list_records(s, ctx, definition, records.Query(filters={"amount": {"min": 3, "max": 5}},
                                                                              sort="amount"))
        assert total == 3 and [r.data["amount"] for r in rows] == [3.0, 4.0, 5.0]


def test_publishing_again_is_idempotent(ctx: Any) -> None:
    publish(ctx, INDEXED)
    first = index_names(ctx)
    with ctx.db.session() as s:  # a second version with the same indexed fields
        row = store.save_draft(s, ADMIN, {**INDEXED, "version": 2})
        store.publish(s, ADMIN, "t_complaint", row.version)
    assert index_names(ctx) == first


def test_index_names_are_sanitized_and_short() -> None:
    assert indexes.index_name("cases", "grid_code") == "ix_form_cases_grid_code"
    long = indexes.index_name("f" * 64, "g" * 64)
    assert len(long) <= 63 and long != indexes.index_name("f" * 64, "g" * 63)
    odd = indexes.index_name("Form-1", "名称")
    assert odd.startswith("ix_form_form_1_") and all(c.isalnum() and c.isascii() or c == "_" for c in odd)


def test_quotes_in_names_cannot_break_the_sql() -> None:
    sql = indexes.json_sql("postgresql", "a'b", "string")
    assert sql == "CAST(data ->> 'a''b' AS VARCHAR)"
    assert indexes.json_sql("sqlite", 'a"b', "float") == "CAST(json_extract(data, '$.\"a\"\"b\"') AS FLOAT)"
