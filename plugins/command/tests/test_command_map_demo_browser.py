"""Browser test (Chromium, SQLite): the Leaflet maps on the seeded demo (issue 11, item 11) — the
case map draws the demo city from its own GeoJSON (no tiles: districts, streets, roads, grids),
open cases as clusters coloured by deadline, a filter reloads them, a marker's popup links to its
case; the supervisor's report form fills longitude/latitude and shows the grid of a point clicked
on the map; the base-data grid map uses the same map. Screenshots at 1366 and 390 px."""

from __future__ import annotations

from browserkit import logged_in, shot
from browserkit import sqlite_only as backend  # noqa: F401  (fixture)

WIDTHS = (("desktop", {"width": 1366, "height": 900}), ("phone", {"width": 390, "height": 844}))
MAP = "[data-testid=leaflet-casemap]"


def _csp_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if "Content Security Policy" in e or "Refused" in e]


def _open_a_marker(page) -> None:
    """Click clusters (each zooms in or spiderfies) until a single case marker shows, then click it."""
    for _ in range(12):
        marker = page.locator(f"{MAP} path.map-case")
        if marker.count():
            marker.first.click(force=True)
            return
        page.locator(f"{MAP} .map-cluster").first.click()
        page.wait_for_timeout(450)  # the cluster's zoom animation
    raise AssertionError("no case marker after zooming into clusters")


def test_case_map_is_a_city_with_clusters_filters_and_popups(demo_city, browser):
    server, passwords = demo_city
    for name, viewport in WIDTHS:
        context, page, errors = logged_in(browser, server.url, "pqy_1", passwords["pqy_1"], viewport)
        try:
            page.goto(server.url + "/command/casemap")
            page.wait_for_selector(f"{MAP}[data-ready='1']")
            # no tile service configured: the city is drawn from its own GeoJSON, nothing from outside
            assert page.locator(f"{MAP} .leaflet-tile").count() == 0
            assert page.locator(f"{MAP} path.mb-district").count() == 3
            assert page.locator(f"{MAP} path.mb-street").count() == 6
            assert page.locator(f"{MAP} path.mb-road").count() >= 30
            assert page.locator(f"{MAP} path.cm-grid-poly").count() == 216
            assert page.locator(f"{MAP} .map-cluster").count() >= 3
            assert page.locator(".casemap-wrap").is_hidden()  # the SVG sketch is the no-script fallback
            shown = int(page.get_attribute(MAP, "data-cases") or 0)
            assert shown >= 50
            shot(page, f"command-case-map-{name}")
            # a filter (htmx swaps the counts) reloads the markers: only overdue ones remain
            page.select_option("[data-testid=casemap-level]", "red")
            page.wait_for_url("**level=red**")
            page.wait_for_selector(f"{MAP} .map-cluster-green", state="detached")
            page.wait_for_selector(f"{MAP}[data-ready='1']")
            assert 0 < int(page.get_attribute(MAP, "data-cases") or 0) < shown
            assert page.locator(f"{MAP} .map-cluster-yellow, {MAP} path.map-case-green").count() == 0
            _open_a_marker(page)
            link = page.locator("[data-testid=map-popup-link]")
            link.wait_for()
            assert link.get_attribute("href").startswith("/command/cases/")
            assert "超期" in page.locator(".map-popup").text_content()
            if name == "phone":
                page.wait_for_timeout(400)  # the popup's fade-in and the map's pan to fit it
                shot(page, "command-case-map-popup-phone")
            else:
                link.click()
                page.wait_for_url("**/command/cases/*")
                assert page.locator("h1").first.text_content()
            assert not _csp_errors(errors), errors
        finally:
            context.close()


def test_report_form_picks_the_point_on_the_map(demo_city, browser):
    server, passwords = demo_city
    for name, viewport in WIDTHS:
        context, page, errors = logged_in(browser, server.url, "jdy_gusu1", passwords["jdy_gusu1"], viewport)
        try:
            page.goto(server.url + "/command/intake")
            m = page.locator("[data-testid=intake-map]")
            page.wait_for_selector("[data-testid=intake-map][data-ready='1']")
            assert page.input_value("#f-lon") == "" and page.input_value("#f-lat") == ""
            grid = page.locator("[data-testid=intake-map] path.cm-grid-poly").nth(7)
            grid.scroll_into_view_if_needed()
            box = grid.bounding_box()
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.wait_for_selector("[data-testid=intake-map][data-picked]")
            code = m.get_attribute("data-picked")
            assert len(code) == 14
            lon, lat = float(page.input_value("#f-lon")), float(page.input_value("#f-lat"))
            assert 120.5 < lon < 120.7 and 31.2 < lat < 31.4
            assert code in page.text_content("[data-testid=intake-map-status]")
            page.wait_for_selector("[data-testid=intake-nearby] >> text=" + code)  # the form's own grid lookup agrees
            page.mouse.move(0, 0)  # no hover tooltip in the picture
            shot(page, f"command-intake-map-{name}")
            assert not _csp_errors(errors), errors
        finally:
            context.close()


def test_grid_map_uses_the_same_map(demo_city, browser):
    server, passwords = demo_city
    context, page, errors = logged_in(browser, server.url, "admin", passwords["admin"], WIDTHS[0][1])
    try:
        page.goto(server.url + "/command/map")
        page.wait_for_selector("[data-testid=leaflet-gridmap][data-ready='1']")
        assert page.get_attribute("[data-testid=leaflet-gridmap]", "data-grids") == "216"
        assert page.locator("[data-testid=leaflet-gridmap] path.mb-road").count() >= 30
        shot(page, "command-grid-map-desktop")
        assert not _csp_errors(errors), errors
    finally:
        context.close()
