"""The import screen (core/web/forms_list.py, core/forms/imports.py), both
backends: upload XLSX/CSV/JSON → preview with per-row errors → confirm →
all-or-nothing import in a background job with progress and an error report;
every kind of bad file gets a clear message and writes nothing."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import openpyxl
from sqlalchemy import func, select
from test_form_records_web import FORM, setup
from test_orgs import PASSWORD, make_person
from test_roles import make_role

from ccms import jobs
from ccms.forms import imports
from ccms.forms.imports import ImportUpload
from ccms.forms.models import FormRecord, FormRecordHistory
from ccms.models import AuditLog


def n_records(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(FormRecord)) or 0


def xlsx(rows: list[list[Any]]) -> bytes:
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    b = io.BytesIO()
    wb.save(b)
    return b.getvalue()


def upload(client: Any, org: int, name: str, content: bytes) -> Any:
    return client.post(f"/forms/{FORM}/import", data={"csrf_token": client.csrf or client.refresh_csrf(),
                                                      "_org_id": str(org)},
                       files={"file": (name, content, "application/octet-stream")})


def confirm(client: Any, page: Any) -> str:
    m = re.search(r'action="(/forms/[^"]+/import/[0-9a-f]+/confirm)"', page.text)
    assert m, page.text[:2000]
    r = client.form(m.group(1), {}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
    return r.headers["location"].rsplit("/", 1)[1]


def test_csv_preview_confirm_progress_done(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    page = clerk.get(f"/forms/{FORM}")
    assert 'href="/forms/t_complaint/import"' in page.text
    form = clerk.get(f"/forms/{FORM}/import")
    assert form.status_code == 200 and 'data-testid="import-form"' in form.text and "事项" in form.text
    content = "事项,类别,金额\n路灯不亮,road,12.5\n井盖缺失,road,\n\n".encode("utf-8-sig")
    r = upload(clerk, a, "投诉.csv", content)
    assert r.status_code == 200, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r.text))[-1500:]
    assert 'data-testid="import-preview"' in r.text
    assert "共 2 行数据" in r.text and "路灯不亮" in r.text and 'data-testid="import-errors"' not in r.text
    assert n_records(ctx) == 0  # a preview writes no record
    jid = confirm(clerk, r)
    state = jobs.wait(ctx, jid)
    assert state.status == "done" and state.result["imported"] == 2, state
    assert n_records(ctx) == 2
    done = clerk.get(f"/jobs/{jid}")
    assert 'data-status="done"' in done.text and "已导入 2 条记录" in done.text and f'href="/forms/{FORM}"' in done.text
    with ctx.db.session() as s:
        assert {r.data["subject"] for r in s.scalars(select(FormRecord))} == {"路灯不亮", "井盖缺失"}
        assert {r.org_id for r in s.scalars(select(FormRecord))} == {a}
        assert s.scalar(select(func.count()).select_from(FormRecordHistory)) == 2
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "form_record.import")) == 1
        assert s.scalar(select(func.count()).select_from(ImportUpload)) == 0  # the staged file is gone
    # confirming the same upload again: it has expired, nothing doubles
    again = clerk.form(re.search(r'action="(/forms/[^"]+/confirm)"', r.text).group(1), {})
    assert again.status_code == 404 and n_records(ctx) == 2


def test_xlsx_and_json_imports(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    r = upload(clerk, a, "a.xlsx", xlsx([["subject", "category", "happened"], ["树木倒伏", "green", "2024-05-01"]]))
    assert r.status_code == 200, r.text[:500]
    assert jobs.wait(ctx, confirm(clerk, r)).status == "done"
    body = json.dumps([{"subject": "JSON 一", "amount": 3}, {"subject": "JSON 二", "category": "road"}]).encode()
    r = upload(clerk, a, "a.json", body)
    assert r.status_code == 200 and "共 2 行数据" in r.text
    assert jobs.wait(ctx, confirm(clerk, r)).status == "done"
    r = upload(clerk, a, "b.json", json.dumps({"records": [{"subject": "包起来的"}]}).encode())
    assert jobs.wait(ctx, confirm(clerk, r)).status == "done"
    assert n_records(ctx) == 4


def test_preview_lists_row_errors_and_offers_no_confirm(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    content = "事项,类别,金额,发生日期\n好的,road,1,2024-01-01\n,road,1,\n" \
              f"{'长' * 21},sky,lots,2024/13/01\n<script>x</script>,road,,\n".encode()
    r = upload(clerk, a, "bad.csv", content)
    assert r.status_code == 422 and 'data-testid="import-failed"' in r.text
    assert 'data-testid="import-confirm"' not in r.text
    for row, field in [(2, "subject"), (3, "subject"), (3, "category"), (3, "amount"), (3, "happened")]:
        assert f'data-testid="import-error-{row}-{field}"' in r.text, (row, field)
    assert "必填" in r.text and "&lt;script&gt;" in r.text and "<script>x</script>" not in r.text
    assert n_records(ctx) == 0
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ImportUpload)) == 0  # nothing kept to confirm


def test_bad_files_get_clear_messages(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    good_xlsx = xlsx([["subject"], ["x"]])
    cases = [
        ("a.txt", b"subject\nx\n", "只能导入"),
        ("a.xlsx", b"subject\nx\n", "不是 Excel"),                     # text named .xlsx
        ("a.csv", good_xlsx, "不是文本"),                               # a workbook named .csv
        ("a.json", good_xlsx, "不是文本"),
        ("a.json", b"{not json", "不是有效的 JSON"),
        ("a.json", b"[1, NaN]", "不是有效的 JSON"),
        ("a.json", b'{"subject": "x"}', "记录数组"),
        ("a.json", b"[]", "没有记录"),
        ("a.json", b'[{"colour": "red"}]', "没有一个是此表单的字段"),
        ("a.csv", "事项,颜色\nx,red\n".encode(), "颜色"),                 # wrong columns
        ("a.csv", "颜色\nred\n".encode(), "不是此表单的字段"),
        ("a.xlsx", xlsx([["事项", "尺寸"], ["x", 3]]), "尺寸"),
        ("a.csv", b"", "文件是空的"),
        ("a.csv", "事项\n".encode(), "没有数据行"),
        ("a.csv", b"\xff\xfe\x00s\x00u", "不是文本"),
    ]
    for name, content, expect in cases:
        r = upload(clerk, a, name, content)
        assert r.status_code == 422, (name, content[:20])
        assert 'data-testid="error-file"' in r.text and expect in r.text, (name, content[:20], expect)
    r = upload(clerk, a, "a.csv", "事项,备注\nx,y\n".encode())  # note is read-only for the clerk
    assert r.status_code == 422 and "无权填写" in r.text and "备注" in r.text
    r = upload(clerk, a, "a.json", json.dumps([{"subject": "x", "note": "y"}]).encode())
    assert r.status_code == 422 and "无权填写" in r.text
    r = clerk.post(f"/forms/{FORM}/import", data={"csrf_token": clerk.csrf, "_org_id": str(a)})
    assert r.status_code == 422 and 'data-testid="error-file"' in r.text
    r = upload(clerk, env["orgs"]["b"], "a.csv", "事项\nx\n".encode())  # an org the clerk may not create in
    assert r.status_code == 422 and 'data-testid="error-_org_id"' in r.text
    r = upload(clerk, a, "a.csv", b"x" * (imports.MAX_BYTES + 10))
    assert r.status_code == 422 and "MB" in r.text
    assert n_records(ctx) == 0


def test_large_file_checked_by_the_job_fails_with_a_report_and_writes_nothing(ctx: Any, client_for: Any,
                                                                               monkeypatch: Any) -> None:
    monkeypatch.setattr(imports, "CHECK_IN_PREVIEW", 2)
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    rows = "".join(f"第{i}条,road\n" for i in range(1, 6)) + ",sky\n"
    r = upload(clerk, a, "big.csv", ("事项,类别\n" + rows).encode())
    assert r.status_code == 200 and 'data-testid="import-unchecked"' in r.text
    jid = confirm(clerk, r)
    state = jobs.wait(ctx, jid)
    assert state.status == "failed" and "1 行有误" in state.message and n_records(ctx) == 0
    page = clerk.get(f"/jobs/{jid}")
    assert 'data-testid="job-errors-download"' in page.text and "没有导入任何记录" in page.text
    x = clerk.get(f"/jobs/{jid}/errors.xlsx")
    sheet = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    found = {(row[0], row[2]) for row in sheet[1:]}
    assert (6, "subject") in found and (6, "category") in found
    # a valid big file goes through the job with progress to the end
    r = upload(clerk, a, "big.csv", ("事项,类别\n" + rows.replace(",sky", "补上,green")).encode())
    state = jobs.wait(ctx, confirm(clerk, r))
    assert state.status == "done" and state.done == state.total == 12 and n_records(ctx) == 6


def test_permissions_on_the_import_screen(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    viewer, clerk, a = env["viewer"], env["clerk"], env["orgs"]["a"]
    assert viewer.get(f"/forms/{FORM}/import").status_code == 403
    assert 'href="/forms/t_complaint/import"' not in viewer.get(f"/forms/{FORM}").text
    assert upload(viewer, a, "a.csv", "事项\nx\n".encode()).status_code == 403
    r = upload(clerk, a, "a.csv", "事项\nx\n".encode())
    url = re.search(r'action="(/forms/[^"]+/confirm)"', r.text).group(1)
    # another creator cannot confirm the clerk's upload
    make_role(ctx, "creator", [f"form.{FORM}.list", f"form.{FORM}.create"])
    make_person(ctx, "creator_a", a, role="creator")
    other = client_for("creator_a", PASSWORD)
    assert other.form(url, {}).status_code == 404
    assert clerk.form(f"/forms/{FORM}/import/{'0' * 32}/confirm", {}).status_code == 404
    assert n_records(ctx) == 0
