"""Deliverable 7 of issue 12: a slow endpoint does not hold the event loop.

A real uvicorn server on loopback; while the fixture plugin's slow page blocks
its thread (as a long SQL query does), other requests of the same worker are
answered. The assertions are about order (the fast answers arrive while the
slow one is still in flight), never about timings.
"""

from __future__ import annotations

import importlib
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from browserkit import LiveServer
from ccms.plugin_loader import discover
from ccms.testing import ADMIN_PASSWORD, ADMIN_USER, CSRF_RE

FIXTURES = Path(__file__).parent / "plugin_fixtures"


@pytest.fixture
def slow_plugin(tmp_path: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    """``available`` holding only ``fx_slow``, and its module (for its events)."""
    folder = tmp_path / "fixture-plugins"
    shutil.copytree(FIXTURES / "fx_slow", folder / "fx_slow", ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        yield discover(builtin_dir=folder, use_entry_points=False), importlib.import_module("fx_slow")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("fx_slow", None)


@pytest.fixture
def server(make_app, slow_plugin) -> Iterator[tuple[LiveServer, Any]]:
    available, module = slow_plugin
    app = make_app(available=available, profiles={"city": []}, plugins={"enable": ["fx_slow"]})
    live = LiveServer(app).start()
    try:
        yield live, module
    finally:
        module.RELEASE.set()
        live.stop()


def logged_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=20)
    token = CSRF_RE.search(client.get("/login").text)
    assert token
    r = client.post("/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD,
                                    "csrf_token": token.group(1)})
    assert r.status_code == 303, r.text[:300]
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def test_fast_requests_are_answered_while_a_slow_page_blocks_its_thread(server):
    live, fx = server
    slow_client, fast_client = logged_in(live.url), logged_in(live.url)
    slow_result: dict[str, Any] = {}

    def call_slow() -> None:
        r = slow_client.get("/fx_slow/slow")
        slow_result.update(status=r.status_code, text=r.text)

    slow_thread = threading.Thread(target=call_slow)
    slow_thread.start()
    try:
        assert fx.SLOW_STARTED.wait(10), "the slow page never started"
        # the slow page now blocks a thread until released; on the event loop it
        # would stall every request below until it gives up (15 s, past the client's timeout)
        page = fast_client.get("/fx_slow/fast", timeout=10)
        small = fast_client.post("/fx_slow/echo", data={"note": "小"}, files={"file": ("a.txt", b"x" * 100 + b"END-SMALL")})
        big_body = b"y" * (3 * 1024 * 1024) + b"END-BIG!"  # beyond the preload: streamed through the bridge
        big = fast_client.post("/fx_slow/echo", data={"note": "大"}, files={"file": ("b.bin", big_body)}, timeout=10)
        alive_get = fast_client.get("/fx_slow/alive")
        alive_post = fast_client.post("/fx_slow/alive", content=b"z" * 1000)
        assert slow_thread.is_alive() and not slow_result, "the slow page finished before the fast ones"
    finally:
        fx.RELEASE.set()
        slow_thread.join(20)
    assert page.status_code == 200 and page.text == "fast"
    assert small.status_code == 200 and small.json() == {"note": "小", "size": 109, "tail": "ND-SMALL"}
    assert big.status_code == 200 and big.json() == {"note": "大", "size": len(big_body), "tail": "END-BIG!"}
    # request.is_disconnected() from the endpoint's thread asks the server's loop
    assert alive_get.json() == {"size": 0, "disconnected": False}
    assert alive_post.json() == {"size": 1000, "disconnected": False}
    assert slow_result == {"status": 200, "text": "released"}

