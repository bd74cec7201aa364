"""指挥协调 case screens (issue 5 §3): the supervisor's phone report form, the shift
leader's workbench, the dispatcher's board, the department inbox and the case detail
— the loop driven through the HTML forms, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from test_command_base import COMMUNITY
from test_command_cases import INSIDE, app, png, world  # noqa: F401  (fixtures)

from plugins.command.models import Case


def test_report_form_file_dispatch_dispose_check_close(ctx, world):  # noqa: F811
    w = world
    page = w["sup"].get("/command/intake")
    assert page.status_code == 200 and 'data-testid="intake-form"' in page.text
    assert "/static/command/cases.js" in page.text and "<script>" not in page.text
    assert w["sup"].get("/static/command/cases.js").status_code == 200
    near = w["sup"].get(f"/command/intake/nearby?class_code=E0102&lon={INSIDE[0]}&lat={INSIDE[1]}",
                        headers={"HX-Request": "true"})
    assert 'data-testid="nearby-grid"' in near.text and 'data-testid="nearby-cases"' not in near.text
    form = {"class_code": "E0102 暴露垃圾", "lon": str(INSIDE[0]), "lat": str(INSIDE[1]), "description": "垃圾",
            "csrf_token": w["sup"].csrf or w["sup"].refresh_csrf()}
    r = w["sup"].post("/command/intake", data=form, files={"photos": ("a.png", png(), "image/png")},
                      follow_redirects=False)
    assert r.status_code == 303, r.text
    cid = int(re.search(r"/command/cases/(\d+)", r.headers["location"]).group(1))
    detail = w["sup"].get(r.headers["location"]).text
    assert 'data-testid="case-reported"' in detail and "<svg" in detail and 'data-testid="case-photos"' in detail
    assert 'data-testid="case-map"' in detail and f'grid-path-{COMMUNITY}01' in detail
    # a second report close by is shown the first one
    near = w["sup"].get(f"/command/intake/nearby?class_code=E0102&lon={INSIDE[0]}&lat={INSIDE[1]}").text
    assert 'data-testid="nearby-cases"' in near
    # shift leader's workbench → file
    bench = w["leader"].get("/command/cases?view=to_file").text
    assert f'data-testid="case-row-{cid}"' in bench
    frag = w["leader"].get("/command/cases?view=to_file&q=E0102", headers={"HX-Request": "true", "HX-Target": "list"})
    assert "<html" not in frag.text and f"case-row-{cid}" in frag.text
    page = w["leader"].get(f"/command/cases/{cid}").text
    assert 'data-testid="case-act-file"' in page and 'data-testid="case-act-not_file"' in page
    r = w["leader"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "file"}, follow_redirects=False)
    assert r.status_code == 303 and "error" not in r.headers["location"]
    # dispatcher's board shows it under the suggested department
    board = w["disp"].get("/command/dispatch").text
    assert f'data-testid="dispatch-group-{w["ids"]["srhw"]}"' in board and f"dispatch-case-{cid}" in board
    r = w["disp"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "dispatch",
                                                     "dept_ids": str(w["ids"]["srhw"])}, follow_redirects=False)
    assert "error" not in r.headers["location"], r.headers["location"]
    # department inbox → sign for → dispose with an after photo
    inbox = w["h1"].get("/command/tasks").text
    assert 'data-testid="tasks-table"' in inbox
    assert w["h2"].get("/command/tasks").text.count("task-row-") == 0
    r = w["h1"].form(f"/command/cases/{cid}/do", {"do": "claim"}, follow_redirects=False)
    assert "error" not in r.headers["location"]
    missing = w["h1"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "done"}, follow_redirects=False)
    assert "error=" in missing.headers["location"]
    r = w["h1"].post(f"/command/cases/{cid}/do", data={"do": "act", "action": "done", "csrf_token": w["h1"].csrf},
                     files={"photos": ("b.png", png("blue"), "image/png")}, follow_redirects=False)
    assert "error" not in r.headers["location"], r.headers["location"]
    with ctx.db.session() as s:
        c = s.scalar(select(Case).where(Case.id == cid))
        assert c.status == "checking" and len(c.photos_after) == 1
        after = c.photos_after[0]
    assert w["leader"].get(f"/command/cases/{cid}/photos/{after}").headers["content-type"] == "image/png"
    assert w["h2"].get(f"/command/cases/{cid}/photos/{after}").status_code == 404  # not their case
    w["sup"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "pass"})
    bench = w["leader"].get("/command/cases?view=to_close").text
    assert f"case-row-{cid}" in bench
    w["leader"].form(f"/command/cases/{cid}/do", {"do": "act", "action": "close"})
    page = w["leader"].get(f"/command/cases/{cid}").text
    assert "已结案" in page and 'data-testid="case-timeline"' in page


def test_report_form_keeps_input_and_explains_errors(ctx, world):  # noqa: F811
    w = world
    form = {"class_code": "E0102", "lon": "116.4", "lat": "39.9", "description": "北京的点",
            "csrf_token": w["sup"].csrf or w["sup"].refresh_csrf()}
    r = w["sup"].post("/command/intake", data=form, files={"photos": ("a.png", png(), "image/png")})
    assert r.status_code == 422 and "不在本市" in r.text and "北京的点" in r.text and 'data-testid="error-lon"' in r.text
    r = w["sup"].post("/command/intake", data={**form, "lon": str(INSIDE[0]), "lat": str(INSIDE[1])},
                      files={"photos": ("a.png", b"not an image at all", "image/png")})
    assert r.status_code == 422 and 'data-testid="intake-error"' in r.text
    r = w["sup"].post("/command/intake", data={**form, "lon": "", "lat": ""},
                      files={"photos": ("a.png", png(), "image/png")})
    assert r.status_code == 422 and 'data-testid="error-lat"' in r.text
    outside = w["sup"].get("/command/intake/nearby?class_code=E0102&lon=116.4&lat=39.9").text
    assert 'data-testid="nearby-error"' in outside
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_menu_pages_replace_the_placeholders(world):  # noqa: F811
    w = world
    for url in ("/command/intake", "/command/cases", "/command/dispatch"):
        page = w["leader"].get(url) if url != "/command/intake" else w["intake"].get(url)
        assert page.status_code == 200 and "not built yet" not in page.text and "尚未建成" not in page.text, url
    assert w["h1"].get("/command/intake").status_code == 403
    assert w["sup"].get("/command/tasks").status_code == 403
    assert 'data-testid="intake-source"' in w["intake"].get("/command/intake").text
