"""Issue 11 items 8 and 14: the menu offers what the role can do, and unbuilt areas stay out of it.

The seeded demo (a smaller case history, same people and roles) is logged into
as one account of every demo role. Every link of its menu must answer 200;
every other menu entry of the enabled plugins must be one the role cannot open
(403), or one meant for another audience (the entry's own ``permission``, e.g.
任务派遣 for those who see every case); a dispatch board shown in the menu has
cases on it. Planned (unbuilt) plugins contribute no entry.

How the menu decides (core/menus.py) is pinned down below too: an entry is
shown by the guard of the route its url leads to, whatever its manifest says.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_plugins import fixture_plugins  # noqa: F401  (fixture)

from ccms import demo
from ccms.errors import StartupError
from ccms.menus import links, route_guard, search_keys
from ccms.models import Person
from ccms.plugin_loader import discover
from ccms.web.user import CurrentUser

# Menus of the whole demo deployment (core + the command and example plugins): skipped without them.
command_demo = pytest.importorskip("ccms.plugins.command.demo", reason="需要 command 插件 / needs the command plugin")
demo_cases = pytest.importorskip("ccms.plugins.command.demo_cases", reason="需要 command 插件 / needs the command plugin")
pytestmark = pytest.mark.needs_plugins("command", "example_notice")

PLANNED = ("guidance", "supervision", "evaluation", "exchange", "industry", "public_service", "data_hub")
# entries narrowed to an audience beyond their page's guard: url -> the entry's own permission
AUDIENCE = {"/command/dispatch": "command.case.view_all"}


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(plugins={"enable": ["example_notice"]})  # as demo.toml


@pytest.fixture
def demo_city(app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, demo.DemoLogin]:
    """The demo's people and roles with a short history: one login per role."""
    monkeypatch.setattr(demo_cases, "HISTORY", 30)
    monkeypatch.setattr(demo_cases, "OPEN", 16)  # two open cases at each step of the loop
    monkeypatch.setattr(command_demo, "_components", functools.partial(command_demo._components, count=200))
    logins = demo.seed_demo(app.state.ccms, demo.DemoFiles(tmp_path))
    assert logins
    by_role: dict[str, demo.DemoLogin] = {}
    for x in logins:
        by_role.setdefault(x.role, x)
    return by_role


def menu_links(html: str) -> dict[str, str]:
    """url -> title of every link in the side menu."""
    nav = html.split('data-testid="menu"', 1)[1].split("</nav>", 1)[0]
    return {url: title.strip() for url, title in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)}


def declared_urls(ctx: Any) -> set[str]:
    # (表单数据 /forms is added per user by ccms.builtin when a form is published for them)
    out: set[str] = set()
    for info in ctx.all_infos:
        out |= {m["url"] for m in links(info.menus)}
    return out


def _user(ctx: Any, username: str) -> CurrentUser:
    with ctx.db.session() as s:
        p = s.scalar(select(Person).where(Person.username == username))
        return CurrentUser(p.id, p.username, p.display_name, p.org_id)


def test_every_demo_roles_menu_offers_exactly_what_it_can_open(app: Any, demo_city: Any, client_for: Any) -> None:
    ctx = app.state.ccms
    assert set(demo_city) >= {"admin", "auditor", "org_admin", "staff", "command_supervisor", "command_intake",
                              "command_shift_leader", "command_dispatcher", "command_handler"}
    candidates = declared_urls(ctx)
    assert not [u for u in candidates if u.split("/")[1] in PLANNED]  # planned plugins declare no menu
    problems: list[str] = []
    menus: dict[str, dict[str, str]] = {}
    for role, login in demo_city.items():
        c = client_for(login.username, login.password)
        menu = menus[role] = menu_links(c.get("/").text)
        user = _user(ctx, login.username)
        for url in sorted(candidates | set(menu)):
            r = c.get(url)
            if url in menu:
                if r.status_code != 200:
                    problems.append(f"{role}: menu entry {menu[url]} {url} answers {r.status_code}")
                elif 'data-testid="placeholder"' in r.text:
                    problems.append(f"{role}: menu entry {menu[url]} {url} is a 尚未建设 page")
                elif url == "/command/dispatch" and 'data-testid="dispatch-case-' not in r.text:
                    problems.append(f"{role}: the dispatch board in the menu is empty")
            elif r.status_code == 200 and not (url in AUDIENCE and not ctx.can_anywhere(user, AUDIENCE[url])):
                problems.append(f"{role}: {url} opens (200) but is not in the menu")
    assert not problems, "\n".join(problems)
    # what the issue found, by name
    for role in ("command_shift_leader", "command_dispatcher", "command_handler"):
        assert "/command/intake" not in menus[role], role  # 信息采集 answered 403
    assert "/command/dispatch" not in menus["command_handler"]  # the handler's empty 任务派遣 board
    assert "/command/tasks" in menus["command_handler"] and "/command/dispatch" in menus["command_dispatcher"]
    assert "/command/intake" in menus["command_supervisor"] and "/command/intake" in menus["command_intake"]
    assert not [u for u in menus["admin"] if u.split("/")[1] in PLANNED]
    assert len(menus["admin"]) < 30, menus["admin"]  # was 46, 19 of them 尚未建设


def test_the_route_guard_decides_not_the_manifest(app: Any, client_for: Any) -> None:
    """A manifest entry that names a weaker permission than its page's guard is hidden from
    those who only hold the weaker one; an entry pointing at no page is hidden from everyone."""
    from flow_engine_kit import person
    ctx = app.state.ccms
    person(ctx, "viewer", org_id=1, roles=["command_dispatcher"], role_org=1)  # command.view, not .case.report
    viewer = _user(ctx, "viewer")
    items = [{"id": "g", "title": "组", "children": [
        {"id": "g.intake", "title": "信息采集", "url": "/command/intake", "permission": "command.view"},
        {"id": "g.cases", "title": "案件管理", "url": "/command/cases", "permission": "command.view"},
        {"id": "g.nowhere", "title": "没有页面", "url": "/command/nowhere"},
        {"id": "g.tasks", "title": "我的待办", "url": "/tasks"}]}]
    shown = [c["url"] for m in ctx.menu.build(viewer, items) for c in m["children"]]
    assert shown == ["/command/cases", "/tasks"]
    assert client_for("viewer", "x-Secret-123456").get("/command/intake").status_code == 403
    assert route_guard(app.routes, "/command/intake?x=1", ctx.is_public) == ("permission", ["command.case.report"])
    assert route_guard(app.routes, "/tasks", ctx.is_public) == ("authenticated", [])
    assert route_guard(app.routes, "/command/nowhere", ctx.is_public) is None


def test_menu_entries_carry_their_pinyin_initials(app: Any, admin: Any) -> None:
    assert search_keys("案件管理").split() == ["ajgl", "anjianguanli"]
    assert search_keys("12319 公众服务号").split()[0] == "12319gzfwh"
    home = admin.get("/").text
    assert re.search(r'<li data-menu="command.cases" data-search="[^"]*\bajgl\b[^"]*"><a href="/command/cases"', home)
    assert 'data-testid="menu-search"' in home and '<script src="/static/menu.js" defer></script>' in home
    # groups fold; the current page's group is the open one
    page = admin.get("/admin/people").text
    assert re.search(r'<details data-group="maintenance" open data-current>', page)
    assert re.search(r'<details data-group="command" >', page)


def test_planned_plugins_are_listed_but_offer_no_menu(admin: Any) -> None:
    items = {p["id"]: p for p in admin.api("GET", "/api/plugins").json()["items"]}
    for pid in PLANNED:
        assert items[pid]["planned"] is True and items[pid]["menus"] == [], pid
    assert items["command"]["planned"] is False
    page = admin.get("/admin/plugins").text
    assert 'data-testid="plugin-planned-data_hub"' in page and "尚未建设" in page
    assert admin.get("/data_hub/acquire").status_code == 404


def test_a_planned_plugin_declaring_a_menu_does_not_start(make_app: Any, fixture_plugins: Any) -> None:  # noqa: F811
    folder = fixture_plugins("fx_alpha", discover_now=False)
    manifest = folder / "fx_alpha" / "plugin.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**data, "planned": True}, ensure_ascii=False), encoding="utf-8")
    available = {**discover(), **discover(builtin_dir=folder, use_entry_points=False)}
    with pytest.raises(StartupError) as err:
        make_app(available=available, plugins={"enable": ["fx_alpha"]})
    assert err.value.plugin == "fx_alpha" and err.value.field == "menus" and "尚未建设" in err.value.zh
