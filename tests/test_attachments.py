"""附件 (core/attachments.py, core/web/attachments.py), both backends: upload with a
thumbnail, size/type limits, content that does not match the extension, download
permission, and a record with attachments created and edited through the screen."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select
from test_form_records import publish
from test_orgs import PASSWORD, districts, make_person
from test_roles import make_role

from ccms.attachments import Attachment, store_for
from ccms.forms.fields import ATTACHMENT_REF
from ccms.forms.models import FormRecord
from ccms.models import AuditLog

FORM = "t_evidence"
EVIDENCE: dict[str, Any] = {
    "id": FORM, "version": 1, "title": {"zh-CN": "取证登记", "en": "Evidence"},
    "schema": {"type": "object", "required": ["subject"], "additionalProperties": False, "properties": {
        "subject": {"type": "string", "title": "事项", "maxLength": 20},
        "photos": {"type": "array", "x-ccms-type": "image", "title": "照片", "items": ATTACHMENT_REF,
                   "x-ccms-max-size": 200_000},
        "docs": {"type": "array", "x-ccms-type": "file", "title": "材料", "items": ATTACHMENT_REF,
                 "x-ccms-accept": ["application/pdf", "text/plain", "text/csv"]}}},
    "list": {"columns": ["subject", "_created_at"]},
}


def png(w: int = 600, h: int = 400) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(b, "PNG")
    return b.getvalue()


@pytest.fixture
def app(make_app: Any, tmp_path: Path) -> Any:
    return make_app(attachments_dir=str(tmp_path / "att"))


@pytest.fixture
def env(ctx: Any, client_for: Any) -> dict[str, Any]:
    """A clerk in district A (create/read/update), a reader in A (read only), an outsider in B (read in B)."""
    publish(ctx, EVIDENCE)
    orgs = districts(ctx)
    make_role(ctx, "clerk", [f"form.{FORM}.{a}" for a in ("list", "read", "create", "update")])
    make_role(ctx, "reader", [f"form.{FORM}.list", f"form.{FORM}.read"])
    make_person(ctx, "clerk_a", orgs["a"], role="clerk")
    make_person(ctx, "reader_a", orgs["a"], role="reader")
    make_person(ctx, "reader_b", orgs["b"], role="reader")
    return {"orgs": orgs, "clerk": client_for("clerk_a", PASSWORD), "reader": client_for("reader_a", PASSWORD),
            "outsider": client_for("reader_b", PASSWORD), "anon": client_for()}


def upload(client: Any, name: str, content: bytes, field: str = "photos") -> Any:
    return client.api("POST", "/attachments", data={"form": FORM, "field": field},
                      files={"file": (name, content, "application/octet-stream")})


def n_attachments(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(Attachment)) or 0


def stored_files(ctx: Any) -> list[Path]:
    root = store_for(ctx).root
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_stores_by_checksum_with_thumbnail(ctx: Any, env: dict[str, Any]) -> None:
    data = png()
    r = upload(env["clerk"], "现场.png", data)
    assert r.status_code == 201, r.text
    ref = r.json()
    assert ref["name"] == "现场.png" and ref["size"] == len(data) and ref["content_type"] == "image/png"
    st = store_for(ctx)
    assert st.path(ref["sha256"]).read_bytes() == data
    with Image.open(st.thumb_path(ref["sha256"])) as im:
        assert max(im.size) <= 320
    # the same bytes again: a second row, one stored file
    assert upload(env["clerk"], "again.png", data).status_code == 201
    assert n_attachments(ctx) == 2 and len(stored_files(ctx)) == 2  # original + thumbnail
    assert not [p for p in stored_files(ctx) if p.name.startswith(".upload-")]
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)
                        .where(AuditLog.action == "attachment.upload")) == 2
    # the uploader downloads it (with its name) and its thumbnail
    d = env["clerk"].get(f"/attachments/{ref['id']}")
    assert d.status_code == 200 and d.content == data
    assert "attachment" in d.headers["content-disposition"] and "filename*=UTF-8''" in d.headers["content-disposition"]
    t = env["clerk"].get(f"/attachments/{ref['id']}/thumb")
    assert t.status_code == 200 and t.headers["content-type"] == "image/png"


@pytest.mark.parametrize("name,content,field,needle", [
    ("big.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 200_001, "photos", "超过大小限制"),
    ("tool.exe", b"MZ\x90\x00", "docs", "类型不允许"),
    ("photo.png", b"%PDF-1.4 not a picture", "docs", "类型不允许"),  # png not accepted by docs
    ("report.pdf", b"%PDF-1.4", "photos", "类型不允许"),  # image field: images only
    ("photo.png", b"%PDF-1.4 renamed", "photos", "内容与扩展名不符"),
    ("scan.pdf", b"<html><script>alert(1)</script></html>", "docs", "内容与扩展名不符"),
    ("broken.png", b"\x89PNG\r\n\x1a\n garbage", "photos", "图片无法识别"),
    ("notes.txt", b"\x00\x01\x02binary", "docs", "内容与扩展名不符"),
], ids=["too-large", "exe", "png-in-docs", "pdf-in-photos", "pdf-as-png", "html-as-pdf", "broken-png", "binary-txt"])
def test_bad_uploads_are_refused_and_nothing_is_written(ctx: Any, env: dict[str, Any], name: str, content: bytes,
                                                        field: str, needle: str) -> None:
    r = upload(env["clerk"], name, content, field)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert needle in err["message"] and err["message_en"]
    assert n_attachments(ctx) == 0 and stored_files(ctx) == []


def test_upload_needs_create_permission_and_an_attachment_field(ctx: Any, env: dict[str, Any]) -> None:
    assert upload(env["reader"], "a.png", png()).status_code == 403
    assert upload(env["clerk"], "a.png", png(), field="subject").status_code == 422
    r = env["clerk"].api("POST", "/attachments", data={"form": FORM, "field": "docs"},
                         files={"file": ("a.txt", "巡查记录\n".encode(), "text/plain")})
    assert r.status_code == 201 and r.json()["content_type"] == "text/plain"
    # without the CSRF header the middleware refuses it
    r = env["clerk"].post("/attachments", data={"form": FORM, "field": "docs"},
                          files={"file": ("b.txt", b"x", "text/plain")})
    assert r.status_code == 403 and n_attachments(ctx) == 1


def test_download_only_for_uploader_and_readers_of_a_referencing_record(ctx: Any, env: dict[str, Any]) -> None:
    ref = upload(env["clerk"], "a.png", png()).json()
    url = f"/attachments/{ref['id']}"
    assert env["reader"].get(url).status_code == 404  # not referenced yet: only the uploader
    assert env["anon"].get(url, follow_redirects=False).status_code in (302, 303, 401, 403, 404)
    r = env["clerk"].form(f"/forms/{FORM}/new", {"_org_id": str(env["orgs"]["a"]), "subject": "占道",
                                                 "photos": json.dumps(ref)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert env["reader"].get(url).status_code == 200  # may read the record in district A
    assert env["reader"].get(url + "/thumb").status_code == 200
    assert env["outsider"].get(url).status_code == 404  # reads in district B only
    assert env["outsider"].get(url + "/thumb").status_code == 404
    assert env["clerk"].get("/attachments/" + "0" * 32).status_code == 404


def test_record_with_attachments_through_the_screen(ctx: Any, env: dict[str, Any]) -> None:
    clerk, a = env["clerk"], str(env["orgs"]["a"])
    page = clerk.get(f"/forms/{FORM}/new")
    assert 'enctype="multipart/form-data"' in page.text and 'type="file" name="photos"' in page.text
    assert 'data-testid="upload-docs" accept=".pdf,.txt,.csv"' in page.text  # the picker offers the field's types
    # a file whose content does not match its extension: inline error, nothing saved
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": a, "subject": "占道经营"},
                   files=[("photos", ("p.png", b"%PDF-1.4", "image/png"))])
    assert r.status_code == 422 and 'data-testid="error-photos"' in r.text and "不符" in r.text
    assert 'value="占道经营"' in r.text
    assert n_attachments(ctx) == 0
    # a missing required field: the good upload is kept on the re-shown form
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": a},
                   files=[("photos", ("p.png", png(), "image/png"))])
    assert r.status_code == 422 and 'data-testid="error-subject"' in r.text
    assert 'data-testid="attachment-photos-0"' in r.text
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(FormRecord)) == 0
        kept = s.scalars(select(Attachment)).one().ref()
    # fixed: submit with the kept ref and a text document
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": a, "subject": "占道经营", "photos": json.dumps(kept)},
                   files=[("docs", ("记录.txt", "现场检查记录".encode(), "text/plain")),
                          ("docs", ("", b"", "application/octet-stream"))],  # an empty picker is ignored
                   follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("?")[0]
    with ctx.db.session() as s:
        rec = s.scalars(select(FormRecord)).one()
        assert rec.data["photos"] == [kept]
        assert [d["name"] for d in rec.data["docs"]] == ["记录.txt"]
        doc = rec.data["docs"][0]
    detail = clerk.get(url)
    assert "记录.txt" in detail.text and "p.png" in detail.text
    assert f'href="/attachments/{doc["id"]}"' in detail.text and f'href="/attachments/{kept["id"]}"' in detail.text
    assert env["reader"].get(f"/attachments/{doc['id']}").content == "现场检查记录".encode()
    # edit: the kept attachments come back as ticked boxes; untick the document, keep the photo
    edit = clerk.get(url + "/edit")
    assert 'data-testid="attachment-docs-0"' in edit.text and f'/attachments/{kept["id"]}/thumb' in edit.text
    r = clerk.form(url + "/edit", {"version": "1", "_org_id": a, "subject": "占道经营",
                                   "photos": json.dumps(kept)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    with ctx.db.session() as s:
        rec = s.scalars(select(FormRecord)).one()
        assert rec.data["photos"] == [kept] and not rec.data.get("docs")


def test_forged_refs_are_refused(ctx: Any, env: dict[str, Any]) -> None:
    ref = upload(env["clerk"], "a.png", png()).json()
    a = str(env["orgs"]["a"])
    for forged in ({**ref, "id": "f" * 32}, {**ref, "sha256": "0" * 64}):
        r = env["clerk"].form(f"/forms/{FORM}/new", {"_org_id": a, "subject": "x", "photos": json.dumps(forged)})
        assert r.status_code == 422 and 'data-testid="error-photos"' in r.text
    # a lying size or name is replaced by what the store recorded
    r = env["clerk"].form(f"/forms/{FORM}/new", {"_org_id": a, "subject": "x",
                                                 "photos": json.dumps({**ref, "size": 1, "name": "evil.exe"})},
                          follow_redirects=False)
    assert r.status_code == 303
    with ctx.db.session() as s:
        assert s.scalars(select(FormRecord)).one().data["photos"] == [ref]


def test_a_crash_while_writing_leaves_no_half_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ccms import attachments
    st = attachments.Store(tmp_path / "store")

    def boom(src: Any, dst: Any) -> None:
        raise OSError("disk full")
    monkeypatch.setattr(attachments.os, "replace", boom)
    with pytest.raises(OSError):
        st.put(b"data", "ab" * 32)
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
