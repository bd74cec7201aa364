"""A case photo is attached by its uploader, once (issue 10, defect 4): the command plugin's
side of tests/test_attachment_claims.py (core's form records)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from test_command_cases import INSIDE, act, ok, photo_id, to_dispose, world  # noqa: F401 (fixture)

from ccms.plugins.command.models import Case


@pytest.fixture
def app(make_app: Any, tmp_path: Any) -> Any:
    return make_app(attachments_dir=str(tmp_path / "att"))


def _case_count(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(Case)) or 0


def test_a_case_photo_is_the_reporters_own_and_goes_into_one_case(ctx, world):  # noqa: F811
    w = world
    pid = photo_id(w["sup"])
    r = _report_with(w["sup2"], [pid])  # another supervisor, who learnt the id
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "attachment_not_yours" and "photos" in err["fields"]
    assert err["message"] == "附件“p.png”不是您上传的，不能引用；请自己上传"
    assert _case_count(ctx) == 0
    first = ok(_report_with(w["sup"], [pid]), 201)
    again = _report_with(w["sup"], [pid])  # the uploader, into a second case
    assert again.status_code == 422 and again.json()["error"]["code"] == "attachment_claimed"
    assert again.json()["error"]["message_en"] == "attachment 'p.png' is already attached elsewhere; upload it again"
    assert _case_count(ctx) == 1
    # the photo is shown on its case, to whoever may see the case
    assert w["leader"].get(f"/command/cases/{first['id']}/photos/{pid}").status_code == 200


def _report_with(client: Any, photos: list[str]) -> Any:
    return client.api("POST", "/api/command/cases/report", json={
        "class_code": "E0102", "lon": INSIDE[0], "lat": INSIDE[1], "description": "垃圾", "photos": photos})


def test_disposal_photos_are_the_handlers_own(ctx, world):  # noqa: F811
    w = world
    c = to_dispose(w)
    ok(w["h1"].api("POST", f"/api/command/cases/{c['id']}/claim", json={}))
    someone_elses = photo_id(w["sup"])
    r = act(w["h1"], c["id"], "done", photos=[someone_elses])
    assert r.status_code == 422 and r.json()["error"]["code"] == "attachment_not_yours"
    # nor a photo that already belongs to the case's report
    r = act(w["h1"], c["id"], "done", photos=c["photos_before"])
    assert r.status_code == 422 and "photos_after" in r.json()["error"]["fields"]
    mine = photo_id(w["h1"])
    done = ok(act(w["h1"], c["id"], "done", photos=[mine]))
    assert done["photos_after"] == [mine]
