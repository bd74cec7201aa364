"""core/tabular.py: one reader (CSV/XLSX/JSON) and one writer with one formula rule."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from ccms import api
from ccms.errors import ValidationFailed
from ccms.tabular import iter_csv, neutralise, read_table, restore, write_table

HOSTILE = ['=HYPERLINK("http://evil","x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"]


def xlsx(rows: list[list[Any]], title: str | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    if title:
        ws.title = title
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def refused(name: str, data: bytes, **kw: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as e:
        table = read_table(name, data, **kw)
        list(table.rows)
    assert e.value.fields["file"]["message"] == e.value.zh and e.value.en
    return e.value


# --- the rule ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_starts_a_formula_is_neutralised(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert restore(neutralise(text)) == text


@pytest.mark.parametrize("value", [-2, -2.5, 0, 3, None, True, "plain", "a=b", "", "'quoted"])
def test_numbers_and_harmless_text_are_kept(value: Any) -> None:
    assert neutralise(value) == value
    assert restore(value) == value


def test_csv_cells_are_neutralised_numbers_are_not() -> None:
    content, media = write_table([["名称", "值"], *[[t, -2] for t in HOSTILE]], "csv")
    assert media.startswith("text/csv") and content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["'" + t for t in HOSTILE]
    assert {r[1] for r in rows[1:]} == {"-2"}  # the number is written as a number


def test_xlsx_cells_are_text_never_formulas_numbers_stay_numbers() -> None:
    content, media = write_table([[t, -2, "-2"] for t in HOSTILE], "xlsx", sheet="a/b:c")
    assert media == api.XLSX_TYPE
    wb = load_workbook(io.BytesIO(content))  # not data_only: a formula would show as one
    ws = wb.worksheets[0]
    assert ws.title == "a_b_c"
    for row, text in zip(ws.iter_rows(), HOSTILE):
        assert row[0].data_type == "s" and row[0].value == "'" + text
        assert row[1].data_type == "n" and row[1].value == -2
        assert row[2].data_type == "s" and row[2].value == "'-2"  # text "-2" is neutralised like any text


def test_xlsx_control_characters_do_not_break_the_workbook() -> None:
    content, _ = write_table([["a\x01b"]], "xlsx")
    assert load_workbook(io.BytesIO(content)).worksheets[0]["A1"].value == "a\ufffdb"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_round_trip_through_the_reader(fmt: str) -> None:
    rows = [["name", "n"], *[[t, str(i)] for i, t in enumerate(HOSTILE)], ["路灯", "7"]]
    content, _ = write_table(rows[1:], fmt, header=rows[0])
    table = read_table(f"x.{fmt}", content, skip_blank=False)
    assert table.header == ["name", "n"]
    back = [[restore(c) for c in cells] for _line, cells in table.rows]
    assert back == rows[1:]


def test_iter_csv_streams_in_chunks_with_one_bom() -> None:
    chunks = list(iter_csv(([i] for i in range(1200)), header=["n"], chunk_rows=500))
    assert len(chunks) == 3 and b"".join(chunks).count("\ufeff".encode()) == 1


def test_unknown_export_format_is_refused() -> None:
    with pytest.raises(ValidationFailed) as e:
        write_table([["a"]], "pdf")
    assert "pdf" in e.value.en and "pdf" in e.value.zh


# --- reading ----------------------------------------------------------------------------

def test_csv_utf8_bom_and_gb18030_read_alike() -> None:
    text = "编码,名称\n01,道路\n\n02,绿地\n"
    for data in (text.encode("utf-8"), ("\ufeff" + text).encode("utf-8"), text.encode("gb18030"),
                 text.encode("gbk")):
        table = read_table("a.CSV", data)
        assert table.header == ["编码", "名称"]
        assert list(table.rows) == [(2, ["01", "道路"]), (4, ["02", "绿地"])]  # blank line 3 skipped, still counted


def test_xlsx_first_sheet_or_named_and_cells_as_text() -> None:
    import datetime as dt
    wb = Workbook()
    wb.active.append(["a"])
    ws = wb.create_sheet("数据")
    ws.append(["名称", "数量", "日期"])
    ws.append(["井盖", 7.0, dt.datetime(2024, 1, 2)])
    buf = io.BytesIO()
    wb.save(buf)
    assert read_table("a.xlsx", buf.getvalue()).header == ["a"]
    table = read_table("a.xlsx", buf.getvalue(), sheet="数据")
    assert list(table.records()) == [(2, {"名称": "井盖", "数量": "7", "日期": "2024-01-02"})]
    e = refused("a.xlsx", buf.getvalue(), sheet="Sheet9")
    assert "Sheet9" in e.zh and "数据" in e.en


def test_records_map_headers_through_aliases() -> None:
    table = read_table("a.csv", "编码,Name,其他\n01,道路,x\n".encode())
    assert list(table.records({"编码": "code", "name": "name"})) == [(2, {"code": "01", "name": "道路"})]


def test_json_list_of_objects_or_records_envelope() -> None:
    for doc in ([{"a": 1}, {"b": [2]}], {"records": [{"a": 1}, {"b": [2]}]}):
        table = read_table("x.json", json.dumps(doc).encode(), formats=("json",))
        assert table.header == ["a", "b"] and list(table.records()) == [(1, {"a": 1}), (2, {"b": [2]})]


@pytest.mark.parametrize("name,data,kw,zh,en", [
    ("a.txt", b"a", {}, "只能导入", "only CSV or XLSX"),
    ("a.csv", b"", {}, "文件是空的", "empty"),
    ("a.csv", b"a,b\n" * 10, {"max_bytes": 8}, "文件太大", "too large"),
    ("a.csv", b"a\x00b", {}, "不是文本", "not text"),
    ("a.xlsx", b"a,b\n", {}, "不是有效的 Excel", "not a valid Excel"),
    ("a.xlsx", b"PK\x03\x04broken", {}, "不是有效的 Excel", "not a valid Excel"),
    ("a.csv", b"h\n1\n2\n3\n", {"max_rows": 2}, "第 4 行", "row 4"),
    ("a.csv", b"h\n1\n" + b"x" * 200_000 + b"\n", {}, "CSV 格式错误（第 3 行）", "malformed CSV (row 3)"),
    ("a.csv", ("h,i\n1," + "x" * 40_000 + "\n").encode(), {}, "第 2 行第 B 列", "row 2, column B"),
    ("a.json", b"[1, NaN]", {"formats": ("json",)}, "不是有效的 JSON", "not valid JSON"),
    ("a.json", b"[" + b"9" * 30 + b"]", {"formats": ("json",)}, "不是有效的 JSON", "not valid JSON"),
    ("a.json", b'{"a": 1}', {"formats": ("json",)}, "记录数组", "array of records"),
    ("a.json", b'[{"a": 1}, 2]', {"formats": ("json",)}, "第 2 条", "record 2"),
    ("a.json", b"[{}, {}, {}]", {"formats": ("json",), "max_rows": 2}, "第 3 条", "record 3"),
])
def test_bad_files_are_refused_naming_row_and_column(name: str, data: bytes, kw: dict[str, Any], zh: str,
                                                     en: str) -> None:
    e = refused(name, data, **kw)
    assert zh in e.zh and en in e.en and e.code == "bad_file"


def test_the_facade_exports_reader_and_writer() -> None:
    for name in ("read_table", "write_table", "neutralise", "restore", "iter_csv", "iter_xlsx", "Table",
                 "CSV_TYPE", "XLSX_TYPE", "tabular_bad_file"):
        assert name in api.__all__ and getattr(api, name) is not None
