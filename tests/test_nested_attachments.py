"""Attachments inside nested objects and repeating-group rows, both backends: upload through
the record screen and the upload endpoint, size/type/content checks, thumbnails, kept across
an add-row re-render, permission-checked downloads, history — and a field hidden from a
role never leaks its attachments (screen, JSON API, export, history, download and thumbnail)."""

from __future__ import annotations

import csv
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

from ccms.attachments import Attachment
from ccms.forms.fields import ATTACHMENT_REF
from ccms.forms.models import FormRecord

FORM = "t_site"
SITE: dict[str, Any] = {
    "id": FORM, "version": 1, "title": "现场核查",
    "schema": {"type": "object", "required": ["subject"], "additionalProperties": False, "properties": {
        "subject": {"type": "string", "title": "事项", "maxLength": 20},
        "site": {"type": "object", "title": "现场", "properties": {
            "addr": {"type": "string", "title": "地址"},
            "photos": {"type": "array", "x-ccms-type": "image", "title": "现场照片", "items": ATTACHMENT_REF,
                       "x-ccms-max-size": 200_000}}},
        "items": {"type": "array", "title": "问题", "items": {"type": "object", "properties": {
            "what": {"type": "string", "title": "问题"},
            "evidence": {"type": "array", "x-ccms-type": "image", "title": "取证照片", "items": ATTACHMENT_REF,
                         "x-ccms-max-size": 200_000},
            "docs": {"type": "array", "x-ccms-type": "file", "title": "材料", "items": ATTACHMENT_REF,
                     "x-ccms-accept": ["application/pdf", "text/plain"]}}}}}},
    "list": {"columns": ["subject", "items", "_created_at"]},
    "permissions": {"fields": {"items.evidence": {"hidden_for": ["viewer"]}}},
}


def png(w: int = 300, h: int = 200, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (w, h), color).save(b, "PNG")
    return b.getvalue()


@pytest.fixture
def app(make_app: Any, tmp_path: Path) -> Any:
    return make_app(attachments_dir=str(tmp_path / "att"))


@pytest.fixture
def env(ctx: Any, client_for: Any) -> dict[str, Any]:
    publish(ctx, SITE)
    orgs = districts(ctx)
    make_role(ctx, "clerk", [f"form.{FORM}.{a}" for a in ("list", "read", "create", "update", "export")])
    make_role(ctx, "viewer", [f"form.{FORM}.{a}" for a in ("list", "read", "export")])
    make_person(ctx, "clerk_a", orgs["a"], role="clerk")
    make_person(ctx, "viewer_a", orgs["a"], role="viewer")
    return {"orgs": orgs, "clerk": client_for("clerk_a", PASSWORD), "viewer": client_for("viewer_a", PASSWORD)}


def n_attachments(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(Attachment)) or 0


def create(env: dict[str, Any], files: list[tuple[str, Any]], **data: str) -> Any:
    payload = {"_org_id": str(env["orgs"]["a"]), "subject": "占道", "items[0].what": "摊点", **data}
    return env["clerk"].form(f"/forms/{FORM}/new", payload, files=files, follow_redirects=False)


def stored(ctx: Any) -> tuple[int, dict[str, Any]]:
    with ctx.db.session() as s:
        row = s.scalars(select(FormRecord)).one()
        return row.id, row.data


def saved_record(env: dict[str, Any], ctx: Any) -> tuple[int, dict[str, Any]]:
    r = create(env, [("site.photos", ("现场.png", png(), "image/png")),
                     ("items[0].evidence", ("取证.png", png(color=(0, 90, 0)), "image/png")),
                     ("items[0].docs", ("说明.txt", "现场说明".encode(), "text/plain"))])
    assert r.status_code == 303, r.text
    return stored(ctx)


def test_upload_in_object_and_group_rows_through_the_screen(env: dict[str, Any], ctx: Any) -> None:
    form = env["clerk"].get(f"/forms/{FORM}/new").text
    assert 'type="file" name="site.photos"' in form and "upload-unavailable" not in form
    rid, data = saved_record(env, ctx)
    photo = data["site"]["photos"][0]
    evidence, doc = data["items"][0]["evidence"][0], data["items"][0]["docs"][0]
    assert photo["name"] == "现场.png" and photo["content_type"] == "image/png"
    assert evidence["name"] == "取证.png" and doc["content_type"] == "text/plain"
    page = env["clerk"].get(f"/forms/{FORM}/{rid}").text
    for ref in (photo, evidence, doc):
        assert f'data-testid="attachment-link-{ref["id"]}"' in page
    assert f'src="/attachments/{evidence["id"]}/thumb"' in page and f'/attachments/{doc["id"]}/thumb' not in page
    assert env["clerk"].get(f"/attachments/{evidence['id']}").content == png(color=(0, 90, 0))
    thumb = env["clerk"].get(f"/attachments/{photo['id']}/thumb")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    edit = env["clerk"].get(f"/forms/{FORM}/{rid}/edit").text  # kept attachments are ticked boxes in the row
    assert f'name="items[0].evidence" value=\'{json.dumps(evidence, ensure_ascii=False)}\'' in edit or \
        f'"id": "{evidence["id"]}"' in edit


@pytest.mark.parametrize("field, upload, expected", [
    ("items[0].evidence", ("大.png", "big", "image/png"), "超过大小限制"),
    ("items[0].evidence", ("假.png", b"<html>not a picture</html>", "image/png"), "内容与扩展名不符"),
    ("items[0].docs", ("表.xlsx", b"PK\x03\x04", "application/octet-stream"), "类型不允许"),
    ("site.photos", ("大.png", "big", "image/png"), "超过大小限制"),
])
def test_bad_nested_uploads_are_refused_and_nothing_is_written(env: dict[str, Any], ctx: Any, field: str,
                                                               upload: tuple[str, Any, str], expected: str) -> None:
    name, content, ct = upload
    if content == "big":
        content = png(1500, 1500) + b"\0" * 210_000
    r = create(env, [(field, (name, content, ct))])
    assert r.status_code == 422 and expected in r.text and f'data-testid="error-{field}"' in r.text
    assert 'value="摊点"' in r.text  # the rest of the input is kept
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(FormRecord)) == 0
    assert n_attachments(ctx) == 0


def test_upload_endpoint_accepts_a_nested_field(env: dict[str, Any]) -> None:
    r = env["clerk"].api("POST", "/attachments", data={"form": FORM, "field": "items.evidence"},
                         files={"file": ("a.png", png(), "application/octet-stream")})
    assert r.status_code == 201 and r.json()["content_type"] == "image/png"
    r = env["clerk"].api("POST", "/attachments", data={"form": FORM, "field": "items.what"},
                         files={"file": ("a.png", png(), "application/octet-stream")})
    assert r.status_code == 422  # not an attachment field


def test_add_row_keeps_an_uploaded_file_in_the_row(env: dict[str, Any], ctx: Any) -> None:
    r = env["clerk"].form(f"/forms/{FORM}/new", {"_org_id": str(env["orgs"]["a"]), "subject": "占道",
                                                 "items[0].what": "摊点", "_add_row": "items"},
                          files=[("items[0].evidence", ("取证.png", png(), "image/png"))], follow_redirects=False)
    assert r.status_code == 200 and 'name="items[1].what"' in r.text
    assert 'data-testid="attachment-items[0].evidence-0"' in r.text and "取证.png" in r.text
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(FormRecord)) == 0  # nothing saved yet


def test_history_names_the_nested_attachments(env: dict[str, Any], ctx: Any) -> None:
    rid, data = saved_record(env, ctx)
    with ctx.db.session() as s:
        version = s.get(FormRecord, rid).version
    keep = json.dumps(data["items"][0]["docs"][0], ensure_ascii=False)
    r = env["clerk"].form(f"/forms/{FORM}/{rid}/edit", {  # untick the evidence photo, keep the document
        "_org_id": str(env["orgs"]["a"]), "version": str(version), "subject": "占道", "items[0].what": "摊点",
        "items[0].docs": keep, "site.photos": json.dumps(data["site"]["photos"][0], ensure_ascii=False)},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    _rid, after = stored(ctx)
    assert "evidence" not in after["items"][0] and after["items"][0]["docs"][0]["name"] == "说明.txt"
    history = env["clerk"].get(f"/forms/{FORM}/{rid}").text.split('data-testid="record-history"')[1]
    assert "取证照片：取证.png" in history  # before: named, not an id nor a JSON blob


def test_hidden_nested_attachments_never_leak(env: dict[str, Any], ctx: Any) -> None:
    rid, data = saved_record(env, ctx)
    hidden = data["items"][0]["evidence"][0]
    shown = data["site"]["photos"][0]
    viewer = env["viewer"]
    page = viewer.get(f"/forms/{FORM}/{rid}").text  # screen (detail and history)
    assert hidden["id"] not in page and "取证.png" not in page and "取证照片" not in page
    assert shown["id"] in page and "说明.txt" in page
    api = viewer.api("GET", f"/api/forms/{FORM}/records/{rid}").json()  # JSON API
    assert hidden["id"] not in json.dumps(api) and "evidence" not in api["data"]["items"][0]
    listing = json.dumps(viewer.api("GET", f"/api/forms/{FORM}/records").json())
    assert hidden["id"] not in listing and shown["id"] in listing
    assert "取证.png" not in viewer.get(f"/forms/{FORM}").text  # list screen
    rows = list(csv.reader(io.StringIO(viewer.get(f"/forms/{FORM}/export.csv").content.decode("utf-8-sig"))))
    assert "取证" not in json.dumps(rows, ensure_ascii=False) and "说明.txt" in json.dumps(rows, ensure_ascii=False)
    assert viewer.get(f"/attachments/{hidden['id']}").status_code == 404  # download URL
    assert viewer.get(f"/attachments/{hidden['id']}/thumb").status_code == 404
    assert viewer.get(f"/attachments/{shown['id']}").status_code == 200  # a visible one downloads
    # the clerk, for whom nothing is hidden, still sees it everywhere
    assert "取证.png" in env["clerk"].get(f"/forms/{FORM}/{rid}").text
    assert env["clerk"].get(f"/attachments/{hidden['id']}").status_code == 200
