"""Browser test (Chromium, SQLite): every demo role's menu at desktop (1366 px) and phone (390 px)
width, with screenshots (issue 11 items 8 and 14, and its "done when").

One page load per role (the home page after logging in at 1366 px, then
resized to 390 px: the layout follows the width, no reload). There the
menu must list exactly the pages the role may open — each declared menu url is
asked for through the browser's own session (an API request, not a page load):
200 means it belongs in the menu, unless the entry is meant for another
audience (test_menus_roles.AUDIENCE) — and every entry must become visible when
its group is unfolded. The search box finds an entry by its pinyin initials
and the keyboard reaches it. On a phone the menu opens behind the ☰ button.
"""

from __future__ import annotations

import pytest
from typing import Any

from browserkit import LiveServer, logged_in, shot
from browserkit import sqlite_only as backend  # noqa: F401  (fixture)
from test_menus_roles import AUDIENCE, _user, app, declared_urls, demo_city  # noqa: F401  (fixtures)

from ccms.menus import search_keys

DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}


def _menu_hrefs(page: Any) -> list[str]:
    return page.eval_on_selector_all("[data-testid=menu] #menu-list a", "els => els.map(e => e.getAttribute('href'))")


def _visible_hrefs(page: Any) -> list[str]:
    links = page.locator("[data-testid=menu] #menu-list a")
    return [links.nth(i).get_attribute("href") for i in range(links.count()) if links.nth(i).is_visible()]


@pytest.mark.needs_plugins("command")
def test_every_demo_roles_menu_at_both_widths(app: Any, demo_city: Any, browser: Any) -> None:  # noqa: F811
    ctx = app.state.ccms
    declared = sorted(declared_urls(ctx))
    server = LiveServer(app).start()
    problems: list[str] = []
    try:
        for role, login in demo_city.items():
            user = _user(ctx, login.username)
            # one page load per role: the home page after logging in at 1366 px, then the same page at 390 px
            context, page, errors = logged_in(browser, server.url, login.username, login.password, DESKTOP)
            try:
                page.wait_for_selector("[data-testid=menu-search]", state="visible")  # menu.js ran
                shot(page, f"menus-{role}-desktop")
                # what the role may open, asked through this session (API requests, not page loads)
                opens = {u for u in declared if context.request.get(server.url + u, max_redirects=0).status == 200
                         and not (u in AUDIENCE and not ctx.can_anywhere(user, AUDIENCE[u]))}
                shown = _menu_hrefs(page)
                if len(shown) != len(set(shown)) or set(shown) - {"/forms"} != opens:
                    problems.append(f"{role}: menu {sorted(shown)} but may open {sorted(opens)}")
                if role == "admin":  # search by pinyin initials and the keyboard, at desktop width
                    page.fill("[data-testid=menu-search]", "ajgl")
                    assert _visible_hrefs(page) == ["/command/cases"], _visible_hrefs(page)
                    shot(page, f"menus-{role}-desktop-search-ajgl")
                    page.press("[data-testid=menu-search]", "ArrowDown")
                    assert page.locator("[data-testid=menu] a:focus").get_attribute("href") == "/command/cases"
                    page.press("[data-testid=menu] a:focus", "Escape")  # back to the search box
                    page.fill("[data-testid=menu-search]", "zzzq")
                    assert page.is_visible("[data-testid=menu-none]") and not _visible_hrefs(page)
                    page.press("[data-testid=menu-search]", "Escape")  # cleared: the folded menu again
                    assert not page.is_visible("[data-testid=menu-none]") and page.input_value("#menu-search") == ""

                page.set_viewport_size(PHONE)
                if page.is_visible("[data-testid=menu]"):
                    problems.append(f"{role}: the menu is not folded away on a phone")  # content first
                page.click("[data-testid=nav-button]")
                page.wait_for_selector("[data-testid=menu-search]", state="visible")
                shot(page, f"menus-{role}-phone")
                # groups fold; unfolding each shows all of its entries
                closed = page.locator("[data-testid=menu] details:not([open]) > summary")
                while closed.count():
                    closed.first.click()
                if sorted(_visible_hrefs(page)) != sorted(shown):
                    problems.append(f"{role}: not every entry shows when the groups are unfolded")
                # the last entry, found by its pinyin initials
                target = page.locator("[data-testid=menu] #menu-list a").last
                title = target.inner_text().strip()
                initials = search_keys(title).split()[0]
                page.fill("[data-testid=menu-search]", initials)
                found = _visible_hrefs(page)
                if target.get_attribute("href") not in found or len(found) == len(shown) > 1:
                    problems.append(f"{role}: searching {initials!r} shows {found} (looking for {title})")
                if role == "admin":
                    shot(page, f"menus-{role}-phone-search-{initials}")
                bad = [e for e in errors if "Content Security Policy" in e or "Failed to load" in e]
                if bad:
                    problems.append(f"{role}: console errors {bad}")
            finally:
                context.close()
    finally:
        server.stop()
    assert not problems, "\n".join(problems)
