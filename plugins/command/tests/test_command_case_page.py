"""One screen per step (issue 11 items 9 and 15), on SQLite and PostgreSQL:

* every task of the case loop opens its case page from every task list (``ccms_task_links``,
  asked once per listed page: the number of queries does not grow with the tasks listed), and
  the generic task page sends there, so a 核查 is never done without the photos;
* claiming is 签收 in the core inbox as on the case page;
* the case page offers one form per step (立案 / 不予立案 / 合并 chosen with tabs, each with its
  own fields and one comment box), and 合并 picks the target among the nearby open cases the
  user may see;
* a refused post comes back with what was typed and the error next to its field, in Chinese
  (htmx: just that form), and photos already uploaded stay attached for the next try."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event, select
from test_command_cases import (  # noqa: F401  (fixtures)
    INSIDE,
    act,
    app,
    detail,
    ok,
    png,
    report,
    to_dispose,
    world,
)

from ccms.api import flow_tasks
from ccms.plugins.command import cases
from ccms.plugins.command.models import Case


def _task(ctx: Any, cid: int, node: str) -> int:
    with ctx.db.session() as s:
        c = s.get(Case, cid)
        return next(t.id for t in flow_tasks(s, c.instance_id, live=True) if t.node_id == node)


def _form(page: str, key: str) -> str:
    """The HTML of the case page's form for step ``key``."""
    m = re.search(rf'<form[^>]*data-testid="case-form-{key}".*?</form>', page, re.DOTALL)
    assert m, f"no form {key}"
    return m.group(0)


class _CaseQueries:
    """Counts the statements that read ``command_case`` while active."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.n = engine, 0

    def _count(self, conn: Any, cursor: Any, statement: str, *a: Any) -> None:
        if "command_case" in statement and statement.lstrip().upper().startswith("SELECT"):
            self.n += 1

    def __enter__(self) -> _CaseQueries:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


# --- item 9: every list opens the case page ----------------------------------------------------

def test_task_lists_open_the_case_page_with_one_query_per_page(ctx, world):  # noqa: F811
    w = world
    first = ok(report(w["sup"]), 201)["id"]
    with _CaseQueries(ctx.db.engine) as one:
        page = w["leader"].get("/tasks?group=todo").text
    tid = _task(ctx, first, "file")
    assert f'href="/command/cases/{first}" data-testid="task-link-{tid}"' in page
    more = [ok(report(w["sup"], class_code=code), 201)["id"] for code in ("E0104", "E0101", "E0103")]
    with _CaseQueries(ctx.db.engine) as four:
        page = w["leader"].get("/tasks?group=todo").text
    for cid in [first, *more]:
        assert f'href="/command/cases/{cid}" data-testid="task-link-{_task(ctx, cid, "file")}"' in page
    assert four.n == one.n  # batched: listing four case tasks reads command_case as often as one
    # the JSON inbox names the same address; 我发起的 (instances) opens the case page too
    items = ok(w["leader"].api("GET", "/api/tasks?group=todo"))["items"]
    assert {i["url"] for i in items} == {f"/command/cases/{c}" for c in [first, *more]}
    started = ok(w["sup"].api("GET", "/api/tasks?group=started"))["items"]
    assert {i["url"] for i in started} == {f"/command/cases/{c}" for c in [first, *more]}
    assert f'href="/command/cases/{first}"' in w["sup"].get("/tasks?group=started").text
    # 已办: the leader files one; it is listed done, still opening its case page
    ok(act(w["leader"], first, "file"))
    done = ok(w["leader"].api("GET", "/api/tasks?group=done"))["items"]
    assert [i["url"] for i in done] == [f"/command/cases/{first}"]


def test_check_task_from_the_inbox_lands_on_the_case_page_with_its_photos(ctx, world):  # noqa: F811
    w = world
    cid = to_dispose(w)["id"]
    ok(w["h1"].api("POST", f"/api/command/cases/{cid}/claim", json={}))
    photo = w["h1"].api("POST", "/api/command/photos", files={"file": ("a.png", png("blue"), "image/png")}).json()["id"]
    ok(act(w["h1"], cid, "done", photos=[photo]))
    tid = _task(ctx, cid, "check")
    inbox = w["sup"].get("/tasks?group=todo").text
    link = re.search(rf'<a href="([^"]+)" data-testid="task-link-{tid}">', inbox).group(1)
    assert link == f"/command/cases/{cid}"
    r = w["sup"].get(f"/tasks/{tid}", follow_redirects=False)  # an old bookmark of the generic page
    assert r.status_code == 303 and r.headers["location"] == f"/command/cases/{cid}"
    page = w["sup"].get(link).text
    assert 'data-testid="case-photos-before"' in page and 'data-testid="case-photos-after"' in page
    assert 'data-testid="case-form-pass"' in page and 'data-testid="case-form-fail"' in page
    # someone who may not see the task is not told where it lives
    assert w["h2"].get(f"/tasks/{tid}", follow_redirects=False).status_code == 403


def test_claiming_is_called_sign_for_in_the_inbox_too(ctx, world):  # noqa: F811
    w = world
    cid = to_dispose(w)["id"]
    tid = _task(ctx, cid, "dispose")
    page = w["h1"].get("/tasks?group=todo").text
    button = re.search(rf'<button[^>]*data-testid="claim-{tid}">([^<]*)</button>', page).group(1)
    assert button == "签收" and "认领" not in page
    assert "签收" in w["h1"].get(f"/command/cases/{cid}").text


# --- item 9: one form per step, the merge picker -----------------------------------------------

def test_case_page_offers_one_form_per_step_each_with_its_own_fields(world):  # noqa: F811
    w = world
    cid = ok(report(w["sup"]), 201)["id"]
    page = w["leader"].get(f"/command/cases/{cid}").text
    chooser = re.search(r'<div class="case-choose multi".*?</div>\s*</div>', page, re.DOTALL).group(0)
    tabs = re.findall(r'<label for="cc-\d+-([a-z_-]+)" class="choice-tab">([^<]+)</label>', chooser)
    assert [k for k, _ in tabs][:3] == ["file", "not_file", "merge"] and tabs[0][1] == "立案"
    assert 'checked data-testid="case-choice-file"' in page  # 立案 chosen first
    file_, not_file, merge = (_form(page, k) for k in ("file", "not_file", "merge"))
    for f in (file_, not_file, merge):
        assert f.count("<textarea") == 1  # one comment box per form
    assert 'name="urgency"' in file_ and 'name="merge_into' not in file_
    assert 'name="urgency"' not in not_file and 'name="comment" rows="2" maxlength="2000" required' in not_file
    assert 'name="merge_into"' not in not_file and "编号 ID" not in page
    assert 'name="comment" rows="2" maxlength="2000"  data' in merge  # a note, not required


def test_merge_picks_the_target_among_nearby_open_cases_the_user_may_see(ctx, world):  # noqa: F811
    w = world
    first = ok(report(w["sup"]), 201)
    again = ok(report(w["sup"]), 201)  # same class, same place: flagged as a duplicate of the first
    other_class = ok(report(w["sup"], class_code="E0104"), 201)
    assert again["duplicate_of_id"] == first["id"]
    page = w["leader"].get(f"/command/cases/{again['id']}").text
    merge = _form(page, "merge")
    options = re.findall(r'name="merge_into" value="(\d*)"', merge)
    assert options == [str(first["id"]), ""]  # the flagged duplicate; not itself, not another class
    assert str(other_class["id"]) not in options
    row = re.search(rf'value="{first["id"]}".*?</li>', merge, re.DOTALL).group(0)
    assert first["case_no"] in row and "暴露垃圾" in row and "平江路 1 号" in row and "相距 0 米" in row
    assert 'checked data-testid="case-merge-' + str(first["id"]) in row
    with ctx.db.session() as s:  # only cases the viewer may see: another department's handler sees none
        c = s.get(Case, again["id"])
        h2 = w["h2_actor"]
        assert cases.merge_candidates(ctx, s, c, _user(ctx, h2.id)) == []
        assert [x.id for x, _d in cases.merge_candidates(ctx, s, c, _user(ctx, w["leader_actor"].id))] == [first["id"]]
    r = w["leader"].form(f"/command/cases/{again['id']}/do", {"do": "act", "action": "merge",
                                                              "task_id": str(_task(ctx, again["id"], "file")),
                                                              "merge_into": str(first["id"]), "comment": ""},
                         follow_redirects=False)
    assert r.status_code == 303, r.text
    d = detail(w["leader"], again["id"])
    assert d["merged_into_id"] == first["id"] and d["status"] == "merged"
    # the other way to name it: its case number (typed), when it is not in the list
    third = ok(report(w["sup"], class_code="E0104"), 201)
    r = w["leader"].form(f"/command/cases/{third['id']}/do", {"do": "act", "action": "merge", "merge_into": "",
                                                              "merge_into_no": other_class["case_no"]},
                         follow_redirects=False)
    assert r.status_code == 303, r.text
    assert detail(w["leader"], third["id"])["merged_into_id"] == other_class["id"]


def _user(ctx: Any, pid: int) -> Any:
    """The signed-in user object the screens get."""
    from ccms.models import Person
    from ccms.web.user import CurrentUser
    with ctx.db.session() as s:
        p = s.get(Person, pid)
        return CurrentUser(p.id, p.username, p.display_name, p.org_id)


# --- item 15: refused posts keep what was typed -------------------------------------------------

def test_dispose_without_photo_keeps_the_comment_and_shows_the_error_at_the_field(ctx, world):  # noqa: F811
    w = world
    cid = to_dispose(w)["id"]
    ok(w["h1"].api("POST", f"/api/command/cases/{cid}/claim", json={}))
    tid = str(_task(ctx, cid, "dispose"))
    form = {"do": "act", "action": "done", "task_id": tid, "comment": "已清理干净，垃圾已运走"}
    r = w["h1"].form(f"/command/cases/{cid}/do", form)  # without script: the whole page, the form filled
    assert r.status_code == 422 and "<html" in r.text
    done = _form(r.text, "done")
    assert ">已清理干净，垃圾已运走</textarea>" in done
    # Chinese first, the English wording secondary (the house rule for staff-facing errors)
    assert re.search(r'-e-photos"[^>]*>请上传至少一张照片 <span lang="en" class="muted">[^<]*upload at least[^<]*</span></small>', done)
    # htmx: just that form comes back (to be swapped in place)
    r = w["h1"].form(f"/command/cases/{cid}/do", form, headers={"HX-Request": "true"})
    assert r.status_code == 422 and "<html" not in r.text and r.text.strip().startswith("<form")
    assert ">已清理干净，垃圾已运走</textarea>" in r.text and "请上传至少一张照片" in r.text
    assert detail(w["h1"], cid)["status"] == "disposing"
    # a photo chosen but the step refused (someone changed the task meanwhile): the photo stays
    r = w["h1"].post(f"/command/cases/{cid}/do", data={**form, "version": "999", "csrf_token": w["h1"].csrf},
                     files={"photos": ("after.png", png("blue"), "image/png")})
    assert r.status_code == 409, r.text
    kept = re.findall(r'<input type="checkbox" name="photos" value="([0-9a-zA-Z_-]+)" checked', _form(r.text, "done"))
    assert len(kept) == 1 and 'data-testid="case-form-error"' in _form(r.text, "done")
    assert w["h1"].get(f"/attachments/{kept[0]}/thumb").status_code == 200
    # sent again with the kept photo: done, the photo attached to the case
    r = w["h1"].form(f"/command/cases/{cid}/do", {**form, "photos": kept[0]}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.headers["HX-Redirect"] == f"/command/cases/{cid}?done=act"
    d = detail(w["h1"], cid)
    assert d["status"] == "checking" and d["photos_after"] == kept


def test_operation_and_report_forms_keep_what_was_typed(ctx, world):  # noqa: F811
    w = world
    cid = to_dispose(w)["id"]
    ok(w["h1"].api("POST", f"/api/command/cases/{cid}/claim", json={}))
    tid = str(_task(ctx, cid, "dispose"))
    r = w["h1"].form(f"/command/cases/{cid}/do", {"do": "op", "op": "extend", "task_id": tid, "amount": "8",
                                                  "reason": ""})
    assert r.status_code == 422
    ext = _form(r.text, "op-extend")
    assert 'value="8"' in ext and re.search(r'-e-reason"[^>]*>请填写原因 <span lang="en"', ext)
    assert 'checked data-testid="case-choice-op-extend"' in r.text  # its tab is the one shown
    # 信息采集: a report refused for its position keeps the photo and what was typed
    data = {"class_code": "E0102", "lon": "116.4", "lat": "39.9", "description": "桥下垃圾",
            "csrf_token": w["sup"].csrf or w["sup"].refresh_csrf()}
    r = w["sup"].post("/command/intake", data=data, files={"photos": ("a.png", png(), "image/png")})
    assert r.status_code == 422 and "桥下垃圾" in r.text and 'data-testid="error-lon"' in r.text
    kept = re.findall(r'<input type="checkbox" name="photos" value="([0-9a-zA-Z_-]+)" checked', r.text)
    assert len(kept) == 1
    r = w["sup"].post("/command/intake", data={**data, "lon": str(INSIDE[0]), "lat": str(INSIDE[1]),
                                               "photos": kept[0]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    new = int(re.search(r"/command/cases/(\d+)", r.headers["location"]).group(1))
    assert detail(w["sup"], new)["photos_before"] == kept
    with ctx.db.session() as s:
        assert s.scalar(select(Case.description).where(Case.id == new)) == "桥下垃圾"
