"""An attachment is attached by its uploader, once, where they chose (issue 10, defect 4).

Before: a case report accepted any existing image id, and a form record any ref
(id + sha256) — so whoever learnt another user's attachment id could attach it to
their own record and then download it. Now the first save that references an
attachment claims it (``core_attachment.attached_to``); it must be the uploader's,
and a second place is refused. Editing the record that holds it keeps it (whoever
may edit that record). Both backends; form records top-level, in a nested object and
in a repeating group; case photos at report and at 处置.
"""

from __future__ import annotations

import io
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

FORM = "t_claim"
DEF: dict[str, Any] = {
    "id": FORM, "version": 1, "title": "附件归属",
    "schema": {"type": "object", "required": ["subject"], "additionalProperties": False, "properties": {
        "subject": {"type": "string", "title": "事项", "maxLength": 20},
        "photos": {"type": "array", "x-ccms-type": "image", "title": "照片", "items": ATTACHMENT_REF},
        "site": {"type": "object", "title": "现场", "properties": {
            "photos": {"type": "array", "x-ccms-type": "image", "title": "现场照片", "items": ATTACHMENT_REF}}},
        "items": {"type": "array", "title": "问题", "items": {"type": "object", "properties": {
            "what": {"type": "string", "title": "问题"},
            "evidence": {"type": "array", "x-ccms-type": "image", "title": "取证照片", "items": ATTACHMENT_REF}}}}}},
    "list": {"columns": ["subject", "_created_at"]},
}
NOT_YOURS = ("附件“a.png”不是您上传的，不能引用；请自己上传", "attachment 'a.png' was uploaded by someone else; upload it yourself")
CLAIMED = ("附件“a.png”已附在别处，不能再次引用；请重新上传", "attachment 'a.png' is already attached elsewhere; upload it again")


def png() -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (20, 10), (10, 200, 30)).save(b, "PNG")
    return b.getvalue()


@pytest.fixture
def app(make_app: Any, tmp_path: Any) -> Any:
    return make_app(attachments_dir=str(tmp_path / "att"))


@pytest.fixture
def env(ctx: Any, client_for: Any) -> dict[str, Any]:
    publish(ctx, DEF)
    orgs = districts(ctx)
    make_role(ctx, "clerk", [f"form.{FORM}.{a}" for a in ("list", "read", "create", "update")])
    for name in ("clerk_a", "clerk_b"):
        make_person(ctx, name, orgs["a"], role="clerk")
    return {"orgs": orgs, "a": client_for("clerk_a", PASSWORD), "b": client_for("clerk_b", PASSWORD)}


def upload(client: Any, field: str = "photos") -> dict[str, Any]:
    r = client.post("/attachments", data={"form": FORM, "field": field, "csrf_token": client.csrf or client.refresh_csrf()},
                    files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 201, r.text
    return r.json()


def with_ref(where: str, ref: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"subject": "占道"}
    if where == "photos":
        data["photos"] = [ref]
    elif where == "site.photos":
        data["site"] = {"photos": [ref]}
    else:
        data["items"] = [{"what": "摊点", "evidence": [ref]}]
    return data


def create(env: dict[str, Any], who: str, data: dict[str, Any]) -> Any:
    return env[who].api("POST", f"/api/forms/{FORM}/records", json={"org_id": env["orgs"]["a"], "data": data})


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


def refused(r: Any, code: str, field: str, message: tuple[str, str]) -> None:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == code
    assert (err["message"], err["message_en"]) == message
    assert err["fields"][field] == {"message": message[0], "message_en": message[1]}


def test_the_migration_matches_the_model(ctx):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ccms.db import Base
    with ctx.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "core_attachment" in repr(d)] == []


def records(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(FormRecord)) or 0


@pytest.mark.parametrize("where, path", [("photos", "photos"), ("site.photos", "site.photos"),
                                         ("items", "items[0].evidence")])
def test_another_users_attachment_cannot_be_taken_into_a_record(ctx, env, where, path):
    ref = upload(env["a"], "photos")
    r = create(env, "b", with_ref(where, ref))
    refused(r, "attachment_not_yours", path, NOT_YOURS)
    assert records(ctx) == 0
    assert env["b"].get(f"/attachments/{ref['id']}").status_code == 404  # still not theirs to download


def test_an_attachment_goes_into_one_record_only(ctx, env):
    ref = upload(env["a"])
    first = create(env, "a", with_ref("items", ref))
    assert first.status_code == 201, first.text
    rid = first.json()["id"]
    # the uploader cannot put it in a second record, top level or nested
    refused(create(env, "a", with_ref("photos", ref)), "attachment_claimed", "photos", CLAIMED)
    refused(create(env, "a", with_ref("site.photos", ref)), "attachment_claimed", "site.photos", CLAIMED)
    # another record of b's, edited to take it: refused too
    other = create(env, "b", {"subject": "b 的记录"})
    assert other.status_code == 201
    o = other.json()
    r = env["b"].api("PATCH", f"/api/forms/{FORM}/records/{o['id']}", json={"version": o["version"],
                                                                          "data": with_ref("photos", ref)})
    refused(r, "attachment_claimed", "photos", CLAIMED)
    # the record that holds it keeps it when edited, by the uploader or by another clerk who may edit it
    rec = ok(env["a"].api("GET", f"/api/forms/{FORM}/records/{rid}"))
    data = {**rec["data"], "subject": "改过"}
    rec = ok(env["b"].api("PATCH", f"/api/forms/{FORM}/records/{rid}", json={"version": rec["version"], "data": data}))
    assert rec["data"]["items"][0]["evidence"][0]["id"] == ref["id"]
    with ctx.db.session() as s:
        assert s.get(Attachment, ref["id"]).attached_to == f"form_record:{rid}"
    assert records(ctx) == 2


def test_a_forged_ref_is_replaced_by_what_the_database_holds(ctx, env):
    ref = upload(env["a"])
    r = create(env, "a", with_ref("photos", {**ref, "name": "x.exe", "content_type": "image/png", "size": 1}))
    assert r.status_code == 201, r.text
    assert r.json()["data"]["photos"][0] == ref
    bad = create(env, "a", with_ref("photos", {**upload(env["a"]), "sha256": "0" * 64}))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "attachment_invalid"


def test_the_record_screen_refuses_it_too(ctx, env):
    import json
    ref = upload(env["a"])
    r = env["b"].form(f"/forms/{FORM}/new", {"_org_id": str(env["orgs"]["a"]), "subject": "占道",
                                              "photos": json.dumps(ref)}, follow_redirects=False)
    assert r.status_code == 422 and NOT_YOURS[0] in r.text
    assert records(ctx) == 0


# Case photos (the command plugin): plugins/command/tests/test_command_attachment_claims.py
