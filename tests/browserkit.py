"""Browser-test kit (fixtures are re-exported by tests/conftest.py). Browser tests: the real app served by uvicorn on localhost, driven through
Playwright in Debian's Chromium (``/usr/bin/chromium``; never a downloaded
browser). Screenshots go to ``$CCMS_ARTIFACTS`` (default ``test-artifacts/``).

Without Chromium these tests skip with the reason, unless
``CCMS_REQUIRE_BROWSER=1`` (set by CI), which turns the skip into a failure.
They run on SQLite only: the database layer is covered on both backends by
the rest of the suite.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

ARTIFACTS = Path(os.environ.get("CCMS_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
CHROMIUM = os.environ.get("CCMS_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage"]


def _require_browser() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CCMS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CCMS_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"没有 Chromium ({CHROMIUM})：apt-get install chromium / Chromium not installed")
    try:
        import playwright  # noqa: F401
    except ImportError:
        if os.environ.get("CCMS_REQUIRE_BROWSER") == "1":
            pytest.fail("CCMS_REQUIRE_BROWSER=1 but playwright is not installed")
        pytest.skip("playwright 未安装 / playwright is not installed")


def settled(page: Any, selector: str) -> None:
    """Wait for ``selector`` and for htmx to finish settling the swap that brought it.

    htmx wires up the new element's triggers and applies ``autofocus`` when it
    settles (20 ms after the swap): a choice made or text typed before then
    would go unheard, or into the element that takes the focus."""
    page.wait_for_selector(selector, state="attached")
    busy = page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    for _ in range(200):  # wait_for_function would need eval, which the CSP forbids
        if busy.count() == 0:
            return
        page.wait_for_timeout(20)
    raise AssertionError("htmx did not settle")


def logged_in(browser: Any, base_url: str, username: str, password: str,
              viewport: dict[str, int] | None = None) -> tuple[Any, Any, list[str]]:
    """A fresh context (zh-CN, ``viewport``) logged in as ``username``: (context, page, console errors).
    The caller closes the context; the errors list catches CSP violations and failed loads."""
    context = browser.new_context(locale="zh-CN", viewport=viewport or {"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base_url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=menu]", state="attached")
    return context, page, errors


def menu_click(page: Any, title: str) -> None:
    """Open the side-menu entry called ``title``. Menu groups are folded (the current page's
    group aside), so the entry is found with the menu's search box first, as a person would."""
    page.fill("[data-testid=menu-search]", title)
    page.click(f"[data-testid=menu] #menu-list a >> text={title}")


@pytest.fixture(name="backend", params=["sqlite"])
def sqlite_only(request: pytest.FixtureRequest) -> str:
    """Browser modules import this as their ``backend``: SQLite only."""
    return request.param


class LiveServer:
    def __init__(self, app: Any) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: Any) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """The seeded demo (``ccms demo --no-serve``) served live, and its logins (username -> password).
    Seeded once per session: it is the slowest fixture, shared by every demo browser test."""
    import contextlib
    import io

    from ccms import demo
    from ccms.app import create_app
    from ccms.cli import main
    from ccms.config import load_deployment
    _require_browser()
    data = tmp_path_factory.mktemp("demo-browser") / "data"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["demo", "--no-serve", "--data-dir", str(data)]) == 0
    app = create_app(load_deployment(Path(data) / "demo.toml"))
    server = LiveServer(app).start()
    yield server, {x.username: x.password for x in demo.read_logins(data / "demo-logins.txt")}
    server.stop()
    app.state.ccms.db.dispose()


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``new_page()`` opens a fresh browser context (its own cookies) and page."""
    contexts = []

    def make() -> Any:
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield make
    for c in contexts:
        c.close()


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artefact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
