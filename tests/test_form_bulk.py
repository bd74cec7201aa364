"""Bulk import of form records (core/forms/bulk.py), both backends: all rows
validated with the published definition, nothing written when any row
fails (errors by row number), one history row per record and one audit
entry per import; CSV and XLSX files read by field name or label."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from test_form_records import ADMIN, COMPLAINT, counts, publish
from test_orgs import districts

from ccms.errors import NotFound, ValidationFailed
from ccms.forms import bulk, records
from ccms.forms.definition import load_definition
from ccms.forms.models import FormRecordHistory
from ccms.models import AuditLog


@pytest.fixture
def form(ctx: Any) -> dict[str, int]:
    publish(ctx, COMPLAINT)
    return districts(ctx)


def rows(n: int) -> list[dict[str, Any]]:
    return [{"subject": f"事项{i}", "category": ("road", "green")[i % 2], "amount": i} for i in range(n)]


def test_import_writes_records_history_and_one_audit_entry(ctx: Any, form: dict[str, int]) -> None:
    with ctx.db.session() as s:
        report = bulk.import_records(s, ADMIN, ctx, "t_complaint", rows(25), form["a"], batch=10)
    assert (report.ok, report.rows, report.imported) == (True, 25, 25)
    assert counts(ctx)[:2] == (25, 25)
    with ctx.db.session() as s:
        definition = records.published(s, "t_complaint")
        page, total = records.list_records(s, ctx, definition, records.Query(filters={"category": "road"}, sort="amount"))
        assert total == 13 and page[0].data == {"subject": "事项0", "category": "road", "amount": 0}
        assert page[0].org_id == form["a"] and page[0].version == 1 and page[0].created_by == ADMIN.id
        assert {h.action for h in s.scalars(select(FormRecordHistory))} == {"import"}
        entries = list(s.scalars(select(AuditLog).where(AuditLog.action == "form_record.import")))
        assert len(entries) == 1 and entries[0].after["count"] == 25
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "form_record.create")) == 0


def test_each_imported_record_has_its_own_history_row(ctx: Any, form: dict[str, int]) -> None:
    """The ids of a batch are matched to its rows (on SQLite read back after one executemany,
    not returned row by row): every history row describes the record it points at, also
    when earlier records exist and batches are split."""
    with ctx.db.session() as s:
        bulk.import_records(s, ADMIN, ctx, "t_complaint", rows(3), form["a"])
    with ctx.db.session() as s:
        report = bulk.import_records(s, ADMIN, ctx, "t_complaint", rows(23)[::-1], form["a"], batch=4)
    assert report.ok and report.imported == 23
    with ctx.db.session() as s:
        from ccms.forms.models import FormRecord
        data = {r.id: r.data for r in s.scalars(select(FormRecord))}
        hist = list(s.scalars(select(FormRecordHistory)))
        assert len(data) == len(hist) == 26
        assert all(h.changes["after"] == data[h.record_id] for h in hist)
        assert sorted(h.record_id for h in hist) == sorted(data)


def test_one_bad_row_writes_nothing_and_names_the_rows(ctx: Any, form: dict[str, int]) -> None:
    data = rows(10)
    data[2] = {"category": "road"}  # subject missing
    data[6] = {"subject": "x" * 30, "amount": -1}
    data[8] = "not an object"
    with ctx.db.session() as s:
        report = bulk.import_records(s, ADMIN, ctx, "t_complaint", data, form["a"])
    assert not report.ok and report.imported == 0 and report.failed == 3
    assert set(report.errors) == {3, 7, 9}
    assert "subject" in report.errors[3] and {"subject", "amount"} <= set(report.errors[7]) and "_" in report.errors[9]
    assert counts(ctx) == (0, 0, 0)


def test_unknown_form_or_org_is_refused(ctx: Any, form: dict[str, int]) -> None:
    with ctx.db.session() as s, pytest.raises(NotFound):
        bulk.import_records(s, ADMIN, ctx, "nope", rows(1), form["a"])
    with ctx.db.session() as s, pytest.raises(ValidationFailed):
        bulk.import_records(s, ADMIN, ctx, "t_complaint", rows(1), 999_999)
    assert counts(ctx) == (0, 0, 0)


def test_csv_by_label_then_import_coerces_strings(ctx: Any, form: dict[str, int]) -> None:
    definition = load_definition(COMPLAINT, "t")
    content = "\ufeff事项,类别,amount,unknown\n路灯,road,12.5,x\n,,,\n井盖,green,3,y\n".encode()
    table = bulk.read_table(definition, content, "a.csv")
    assert table == [{"subject": "路灯", "category": "road", "amount": "12.5"},
                     {"subject": "井盖", "category": "green", "amount": "3"}]
    with ctx.db.session() as s:
        report = bulk.import_records(s, ADMIN, ctx, "t_complaint", table, form["a"], strings=True)
    assert report.imported == 2
    with ctx.db.session() as s:
        definition = records.published(s, "t_complaint")
        page, _ = records.list_records(s, ctx, definition, records.Query(sort="amount"))
        assert [r.data["amount"] for r in page] == [3, 12.5]


def test_csv_bad_number_is_reported_by_row(ctx: Any, form: dict[str, int]) -> None:
    table = bulk.read_table(load_definition(COMPLAINT, "t"), "subject,amount\na,1\nb,lots\n".encode("gb18030"), "x.CSV")
    with ctx.db.session() as s:
        report = bulk.import_records(s, ADMIN, ctx, "t_complaint", table, form["a"], strings=True)
    assert report.imported == 0 and set(report.errors) == {2} and "amount" in report.errors[2]
    assert counts(ctx) == (0, 0, 0)


def test_xlsx_is_read() -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["subject", "Complaint amount", "金额"])
    ws.append(["路灯", None, 7.0])
    buf = io.BytesIO()
    wb.save(buf)
    assert bulk.read_table(load_definition(COMPLAINT, "t"), buf.getvalue(), "a.xlsx") == [
        {"subject": "路灯", "amount": "7"}]


@pytest.mark.parametrize("content,name,expect", [
    (b"a,b\n", "a.txt", "csv"),
    (b"", "a.csv", "empty"),
    (b"foo,bar\n1,2\n", "a.csv", "header"),
    (b"not a zip", "a.xlsx", "Excel"),
])
def test_bad_files_are_refused(content: bytes, name: str, expect: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        bulk.read_table(load_definition(COMPLAINT, "t"), content, name)
    assert expect.lower() in e.value.en.lower() and e.value.fields["file"]["message"] == e.value.zh
