"""Saved list filters (core/forms/saved_filters.py, core/web/forms_list.py),
both backends: save the current query, re-apply it from the menu, delete it,
share it (needs core.forms.share_filters), never see others' private ones, and a
filter naming a field a later version removed applies without it, with a notice."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select
from test_form_records import COMPLAINT, publish
from test_form_records_web import FORM, setup
from test_orgs import PASSWORD, make_person
from test_roles import make_role

from ccms.forms import records
from ccms.forms.saved_filters import SavedFilter
from ccms.models import AuditLog
from test_form_records import ADMIN


def n_filters(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(SavedFilter)) or 0


def add(ctx: Any, org: int, **data: Any) -> int:
    with ctx.db.session() as s:
        return records.create(s, ADMIN, ctx, FORM, data, org).id


def save(client: Any, query: str, name: str, **extra: Any) -> Any:
    return client.form(f"/forms/{FORM}/filters", {"query": query, "name": name, **extra}, follow_redirects=False)


def test_save_apply_delete(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    add(ctx, a, subject="路灯不亮", category="road")
    add(ctx, a, subject="树木倒伏", category="green")
    page = clerk.get(f"/forms/{FORM}?q=路灯&f.category=road&sort=-subject")
    assert 'data-testid="filter-save-form"' in page.text and 'name="query" value="q=%E8%B7%AF' in page.text
    assert 'data-testid="saved-filters"' not in page.text  # no saved filter yet
    r = save(clerk, "q=路灯&f.category=road&sort=-subject", "我的道路")
    assert r.status_code == 303
    loc = r.headers["location"]
    assert parse_qs(urlsplit(loc).query) == {"q": ["路灯"], "f.category": ["road"], "sort": ["-subject"],
                                             "sf": [parse_qs(urlsplit(loc).query)["sf"][0]]}
    fid = parse_qs(urlsplit(loc).query)["sf"][0]
    page = clerk.get(f"/forms/{FORM}")
    assert 'data-testid="saved-filter-select"' in page.text and "我的道路" in page.text
    r = clerk.get(f"/forms/{FORM}/filters/apply?id={fid}", follow_redirects=False)
    assert r.status_code == 303 and "f.category=road" in r.headers["location"]
    listed = clerk.get(r.headers["location"])
    assert "路灯不亮" in listed.text and "树木倒伏" not in listed.text
    assert f'<option value="{fid}" selected' in listed.text and 'data-testid="saved-filter-delete"' in listed.text
    assert 'data-testid="saved-filter-notice"' not in listed.text
    # "—" chosen: the plain list
    assert clerk.get(f"/forms/{FORM}/filters/apply?id=", follow_redirects=False).headers["location"] == f"/forms/{FORM}"
    # saving again under the same name overwrites
    assert save(clerk, "f.category=green", "我的道路").status_code == 303 and n_filters(ctx) == 1
    r = clerk.form(f"/forms/{FORM}/filters/{fid}/delete", {}, follow_redirects=False)
    assert r.status_code == 303 and n_filters(ctx) == 0
    with ctx.db.session() as s:
        acts = list(s.scalars(select(AuditLog.action).where(AuditLog.action.like("saved_filter.%")).order_by(AuditLog.id)))
    assert acts == ["saved_filter.save", "saved_filter.save", "saved_filter.delete"]


def test_bad_names_and_empty_queries_are_refused_inline(ctx: Any, client_for: Any) -> None:
    clerk = setup(ctx, client_for)["clerk"]
    for name, query in [("", "q=x"), ("   ", "q=x"), ("长" * 61, "q=x"), ("<b>x</b>", "q=x"), ("空的", ""),
                        ("只有分页", "page=2")]:
        r = save(clerk, query, name)
        assert r.status_code == 422, (name, query)
        assert 'data-testid="error-filter-name"' in r.text
        assert "<b>x</b>" not in r.text
    assert n_filters(ctx) == 0
    # the page keeps the user's list query and typed name
    r = save(clerk, "q=路灯", "")
    assert 'value="路灯"' in r.text and 'data-testid="filter-save-form"' in r.text


def test_private_filters_stay_private_and_sharing_needs_the_permission(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, viewer = env["clerk"], env["viewer"]
    # the clerk lacks core.forms.share_filters: sharing is refused, nothing saved
    assert 'data-testid="filter-shared"' not in clerk.get(f"/forms/{FORM}?q=x").text
    r = save(clerk, "q=x", "共享的", shared="1")
    assert r.status_code == 403 and n_filters(ctx) == 0
    fid = parse_qs(urlsplit(save(clerk, "q=x", "私有的").headers["location"]).query)["sf"][0]
    assert "私有的" not in viewer.get(f"/forms/{FORM}").text
    assert viewer.get(f"/forms/{FORM}/filters/apply?id={fid}").status_code == 404
    assert viewer.form(f"/forms/{FORM}/filters/{fid}/delete", {}).status_code == 404
    assert n_filters(ctx) == 1
    # a sharer: list + core.forms.share_filters
    make_role(ctx, "sharer", [f"form.{FORM}.list", "core.forms.share_filters"])
    make_person(ctx, "lead_a", env["orgs"]["a"], role="sharer")
    lead = client_for("lead_a", PASSWORD)
    assert 'data-testid="filter-shared"' in lead.get(f"/forms/{FORM}?q=x").text
    r = save(lead, "f.category=road", "道路类（共享）", shared="1")
    assert r.status_code == 303
    shared_id = parse_qs(urlsplit(r.headers["location"]).query)["sf"][0]
    assert "道路类（共享）" in viewer.get(f"/forms/{FORM}").text  # everyone who may list sees it
    assert viewer.get(f"/forms/{FORM}/filters/apply?id={shared_id}", follow_redirects=False).status_code == 303
    # others cannot delete it (the clerk is no administrator); the sharer and administrators can
    assert clerk.form(f"/forms/{FORM}/filters/{shared_id}/delete", {}).status_code == 403
    assert n_filters(ctx) == 2
    # someone without the form's list permission sees neither list nor filters
    make_person(ctx, "outsider", env["orgs"]["a"])
    out = client_for("outsider", PASSWORD)
    assert out.get(f"/forms/{FORM}/filters/apply?id={shared_id}").status_code == 403
    assert out.api("GET", f"/api/forms/{FORM}/filters").status_code == 403
    assert lead.form(f"/forms/{FORM}/filters/{shared_id}/delete", {}, follow_redirects=False).status_code == 303


def test_a_filter_on_a_removed_field_applies_without_it_and_says_so(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    add(ctx, a, subject="路灯不亮", category="road")
    add(ctx, a, subject="路灯倒伏", category="green")
    add(ctx, a, subject="树木倒伏", category="green")
    r = save(clerk, "q=路灯&f.category=road&sort=-category", "旧筛选")
    fid = parse_qs(urlsplit(r.headers["location"]).query)["sf"][0]
    v2 = copy.deepcopy(COMPLAINT)
    del v2["schema"]["properties"]["category"]
    v2["list"] = {"columns": ["subject", "_created_at"], "filters": ["amount"], "sort": "-_created_at"}
    publish(ctx, v2)
    r = clerk.get(f"/forms/{FORM}/filters/apply?id={fid}", follow_redirects=False)
    assert r.status_code == 303
    params = parse_qs(urlsplit(r.headers["location"]).query)
    assert "f.category" not in params and "sort" not in params and params["q"] == ["路灯"]
    page = clerk.get(r.headers["location"])
    assert page.status_code == 200
    assert 'data-testid="saved-filter-notice"' in page.text and "类别" in page.text  # the label it had
    # the category condition is gone, the search stays
    assert "路灯不亮" in page.text and "路灯倒伏" in page.text and "树木倒伏" not in page.text
    # and a hand-made URL with the removed filter is no 500 either
    assert clerk.get(f"/forms/{FORM}?f.category=road").status_code == 200


def test_saved_filters_api(ctx: Any, client_for: Any) -> None:
    clerk = setup(ctx, client_for)["clerk"]
    r = clerk.api("POST", f"/api/forms/{FORM}/filters",
                  json={"name": "接口", "query": {"q": "灯", "filters": {"category": "road"}, "sort": "subject"}})
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert r.json()["query"] == {"q": "灯", "filters": {"category": "road"}, "sort": "subject"}
    items = clerk.api("GET", f"/api/forms/{FORM}/filters").json()["items"]
    assert [i["name"] for i in items] == ["接口"] and items[0]["mine"] is True
    for body in ({"name": "x", "query": []}, {"name": "x", "query": {"filters": []}}, {"name": "", "query": {"q": "a"}},
                 [1, 2], {"name": "x", "query": {"q": "a"}, "shared": True}):
        bad = clerk.api("POST", f"/api/forms/{FORM}/filters", json=body)
        assert bad.status_code in (403, 422) and "error" in bad.json(), body
    assert clerk.api("POST", f"/api/forms/{FORM}/filters", content=b"{nope",
                     headers={"content-type": "application/json"}).status_code == 400
    assert clerk.api("DELETE", f"/api/forms/{FORM}/filters/{fid}").json() == {"ok": True}
    assert clerk.api("DELETE", f"/api/forms/{FORM}/filters/{fid}").status_code == 404
    assert n_filters(ctx) == 0
