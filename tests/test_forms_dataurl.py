"""``{"type": "string", "format": "data-url"}`` (react-jsonschema-form's file widget) is an
attachment field in ccms (issue 11, item 6), on both backends: the definition is normalised on
load (top level, nested, arrays of them, behind ``definitions``); the create screen shows a
file input; an upload is stored as an attachment, not as base64 text, shown and downloadable
by who may read the record and by no one else; the JSON API takes an attachment ref or a
data URL (decoded, checked like an upload, stored, referenced); a bad one is a 422 naming the
field, and a refused record stores nothing."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from PIL import Image
from sqlalchemy import func, select
from test_form_records import publish
from test_orgs import PASSWORD, districts, make_person
from test_roles import make_role

from ccms.attachments import Attachment
from ccms.forms import dataurl
from ccms.forms.definition import DefinitionError, load_definition
from ccms.forms.models import FormRecord

FORM = "t_rjsf_files"
# as react-jsonschema-form's "Files" sample writes it (draft-07, definitions, an array of files)
SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object", "required": ["subject", "file"],
    "definitions": {"doc": {"type": "string", "format": "data-url", "title": "材料"}},
    "properties": {
        "subject": {"type": "string", "title": "事项", "maxLength": 20},
        "file": {"type": "string", "format": "data-url", "title": "单个文件"},
        "files": {"type": "array", "title": "多个文件", "maxItems": 2,
                  "items": {"type": "string", "format": "data-url"}},
        "site": {"type": "object", "title": "现场", "properties": {"doc": {"$ref": "#/definitions/doc"}}}}}
DEFINITION = {"id": FORM, "version": 1, "title": "文件样例", "schema": SCHEMA,
              "list": {"columns": ["subject", "file", "_created_at"]}}


def png(w: int = 40, h: int = 30) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (w, h), (10, 120, 200)).save(b, "PNG")
    return b.getvalue()


def data_url(content: bytes, media: str = "image/png", name: str | None = "图.png") -> str:
    named = f";name={name}" if name else ""
    return f"data:{media}{named};base64,{base64.b64encode(content).decode()}"


# --- the definition ------------------------------------------------------------------------------

def test_data_url_fields_load_as_attachment_fields() -> None:
    d = load_definition(DEFINITION)
    for name, mark in (("file", "one"), ("files", "many"), ("site.doc", "one")):
        prop = d.fields[name]
        assert prop["x-ccms-type"] == "file" and prop["type"] == "array" and prop[dataurl.MARK] == mark, name
        assert "format" not in prop
    assert d.fields["file"]["maxItems"] == 1 and d.fields["files"]["maxItems"] == 2
    assert d.fields["site.doc"]["title"] == "材料" and d.label("files") == "多个文件"
    assert json.dumps(DEFINITION["schema"]).count('"data-url"') == 3  # the document given is not changed


def test_another_unknown_format_is_still_refused_with_its_path() -> None:
    bad = {"id": "t_fmt", "title": "t", "schema": {"type": "object", "properties": {
        "a": {"type": "string", "format": "data-uri"}}}}
    with pytest.raises(DefinitionError) as info:
        load_definition(bad)
    assert info.value.path == "$.schema.properties.a.format"


def test_verdicts_agree_with_jsonschema_on_the_original_schema() -> None:
    """How verdicts are compared for a normalised field: ccms validates the record holding an
    attachment ref where jsonschema (Draft 2020-12, format checker) validates the original
    schema on the same instance with each file replaced by a valid data URL."""
    from ccms.forms.fields import FieldTypes
    from ccms.forms.validate import RecordValidator
    d = load_definition(DEFINITION)
    ref = {"id": "a" * 32, "name": "图.png", "size": 10, "sha256": "0" * 64, "content_type": "image/png"}
    url = data_url(png())
    original = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    v = RecordValidator(d.schema, FieldTypes.default())
    u = url
    cases = [({"subject": "x", "file": u}, {"subject": "x", "file": [ref]}),
             ({"subject": "x"}, {"subject": "x"}),  # the required file missing
             ({"subject": "x", "file": u, "files": [u, u]}, {"subject": "x", "file": [ref], "files": [ref, ref]}),
             ({"subject": "x", "file": u, "files": [u, u, u]},
              {"subject": "x", "file": [ref], "files": [ref, ref, ref]}),  # maxItems 2
             ({"subject": "x", "file": u, "site": {"doc": u}}, {"subject": "x", "file": [ref], "site": {"doc": [ref]}})]
    verdicts = [(original.is_valid(theirs), not v.validate(ours)) for theirs, ours in cases]
    assert verdicts == [(True, True), (False, False), (True, True), (False, False), (True, True)]


# --- screens, storage, downloads (both databases) ----------------------------------------------------

@pytest.fixture
def app(make_app: Any, tmp_path: Path) -> Any:
    return make_app(attachments_dir=str(tmp_path / "att"))


@pytest.fixture
def env(ctx: Any, client_for: Any) -> dict[str, Any]:
    publish(ctx, DEFINITION)
    orgs = districts(ctx)
    make_role(ctx, "clerk", [f"form.{FORM}.{a}" for a in ("list", "read", "create", "update", "export")])
    make_role(ctx, "viewer", [f"form.{FORM}.{a}" for a in ("list", "read", "export")])
    make_person(ctx, "clerk_a", orgs["a"], role="clerk")
    make_person(ctx, "viewer_a", orgs["a"], role="viewer")
    make_person(ctx, "viewer_b", orgs["b"], role="viewer")
    return {"orgs": orgs, "clerk": client_for("clerk_a", PASSWORD), "viewer": client_for("viewer_a", PASSWORD),
            "other": client_for("viewer_b", PASSWORD)}


def counts(ctx: Any) -> tuple[int, int]:
    with ctx.db.session() as s:
        return (s.scalar(select(func.count()).select_from(FormRecord)) or 0,
                s.scalar(select(func.count()).select_from(Attachment)) or 0)


def only_record(ctx: Any) -> tuple[int, dict[str, Any]]:
    with ctx.db.session() as s:
        row = s.scalars(select(FormRecord)).one()
        return row.id, row.data


def test_upload_on_the_screen_is_an_attachment_seen_only_by_readers(env: dict[str, Any], ctx: Any) -> None:
    clerk = env["clerk"]
    page = clerk.get(f"/forms/{FORM}/new").text
    for name, multiple in (("file", False), ("files", True), ("site.doc", False)):
        tag = page.split(f'type="file" name="{name}"')[1].split(">")[0]
        assert (" multiple" in tag) == multiple, name  # a one-file field picks one file
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": str(env["orgs"]["a"]), "subject": "占道"},
                   files=[("file", ("现场.png", png(), "image/png")),
                          ("site.doc", ("说明.txt", "现场说明".encode(), "text/plain"))], follow_redirects=False)
    assert r.status_code == 303, r.text
    rid, data = only_record(ctx)
    ref, doc = data["file"][0], data["site"]["doc"][0]
    assert ref["name"] == "现场.png" and ref["content_type"] == "image/png" and doc["name"] == "说明.txt"
    assert "base64" not in json.dumps(data)  # a reference, not the bytes
    for who in ("clerk", "viewer"):
        detail = env[who].get(f"/forms/{FORM}/{rid}").text
        assert f'data-testid="attachment-link-{ref["id"]}"' in detail and "现场.png" in detail
        assert env[who].get(f"/attachments/{ref['id']}").content == png()
    assert env["other"].get(f"/attachments/{ref['id']}").status_code == 404  # another district's reader
    assert env["other"].get(f"/attachments/{doc['id']}").status_code == 404
    rows = list(csv.reader(io.StringIO(env["viewer"].get(f"/forms/{FORM}/export.csv").content.decode("utf-8-sig"))))
    assert "现场.png" in json.dumps(rows, ensure_ascii=False)  # export: the file's name, as other file fields


def api_create(env: dict[str, Any], data: dict[str, Any]) -> Any:
    return env["clerk"].api("POST", f"/api/forms/{FORM}/records", json={"org_id": env["orgs"]["a"], "data": data})


def test_api_takes_an_attachment_ref_and_data_urls(env: dict[str, Any], ctx: Any) -> None:
    up = env["clerk"].api("POST", "/attachments", data={"form": FORM, "field": "file"},
                          files={"file": ("a.png", png(), "image/png")})
    assert up.status_code == 201, up.text
    r = api_create(env, {"subject": "接口", "file": [up.json()],
                         "files": [data_url(png(50, 50)), data_url("清单".encode(), "text/plain", "清单.txt")],
                         "site": {"doc": data_url(b"%PDF-1.4 x", "application/pdf", None)}})
    assert r.status_code == 201, r.text
    rid, data = only_record(ctx)
    assert data["file"][0]["id"] == up.json()["id"]
    names = [f["name"] for f in data["files"]]
    assert names == ["图.png", "清单.txt"] and data["site"]["doc"][0]["name"] == "upload.pdf"
    assert "base64" not in json.dumps(data) and r.json()["data"]["files"][1]["content_type"] == "text/plain"
    assert env["viewer"].get(f"/attachments/{data['files'][0]['id']}").content == png(50, 50)
    assert env["other"].get(f"/attachments/{data['files'][0]['id']}").status_code == 404
    # PATCH: a single data URL string for a one-file field
    version = env["clerk"].api("GET", f"/api/forms/{FORM}/records/{rid}").json()["version"]
    r = env["clerk"].api("PATCH", f"/api/forms/{FORM}/records/{rid}",
                         json={"version": version, "data": {"file": data_url(png(20, 20), name="新.png")}})
    assert r.status_code == 200, r.text
    assert only_record(ctx)[1]["file"][0]["name"] == "新.png"


@pytest.mark.parametrize("field, value, path, expected", [
    ("file", "data:image/png;base64,@@notbase64@@", "file", "base64"),
    ("file", "data:image/png;base64", "file", "data URL"),
    ("file", "data:text/html;name=x.html;base64," + base64.b64encode(b"<html></html>").decode(), "file", "类型不允许"),
    ("file", data_url(b"<html>not a picture</html>"), "file", "内容与扩展名不符"),
    ("files", [data_url(png()), data_url(png(), name="a.pdf")], "files[1]", "不符"),
    ("site", {"doc": data_url(png() + b"\0" * (21 * 1024 * 1024))}, "site.doc", "超过大小限制"),
    ("file", data_url(png(8000, 6000)), "file", "像素过多"),
])
def test_bad_data_urls_are_refused_with_the_field_path(env: dict[str, Any], ctx: Any, field: str, value: Any,
                                                       path: str, expected: str) -> None:
    data: dict[str, Any] = {"subject": "接口", "file": [], field: value}
    if field != "file":
        data["file"] = data_url(png())  # a good one beside the bad one: not kept either
    r = api_create(env, data)
    assert r.status_code == 422, r.text
    body = r.json()["error"]
    assert path in body["fields"] and expected in json.dumps(body["fields"][path], ensure_ascii=False), body
    assert counts(ctx) == (0, 0)  # neither the record nor any attachment


def test_a_record_refused_for_another_field_keeps_no_decoded_file(env: dict[str, Any], ctx: Any) -> None:
    r = api_create(env, {"subject": "超" * 30, "file": data_url(png())})
    assert r.status_code == 422 and "subject" in r.json()["error"]["fields"]
    assert counts(ctx) == (0, 0)
