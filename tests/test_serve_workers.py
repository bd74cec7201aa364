"""``ccms serve --workers N``: several uvicorn worker processes answer (on
PostgreSQL; SQLite refuses more than one), and no per-request line is printed
to the console (the structured access log, queued and written by a thread, is
the only one)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ccms.cli import main
from conftest import SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def write_config(tmp_path: Path, db_url: str) -> Path:
    config = tmp_path / "deploy.toml"
    config.write_text(f'profile = "city"\nregion_code = "320500"\nname = "测试市城市综合管理服务平台"\n'
                      f'secret_key = "{SECRET}"\ndatabase_url = "{db_url}"\n', encoding="utf-8")
    return config


def test_sqlite_refuses_several_workers_with_a_clear_error(backend, app, db_url, tmp_path: Path, capsys):
    if backend != "sqlite":
        pytest.skip("SQLite only")
    code = main(["serve", "--config", str(write_config(tmp_path, db_url)), "--workers", "2", "--port", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "SQLite 部署只能用一个工作进程" in err and "use PostgreSQL for several" in err


@pytest.mark.slow
def test_serve_with_two_workers_answers_and_keeps_the_console_free_of_access_lines(backend, app, db_url,
                                                                                     tmp_path: Path):
    if backend != "postgresql":
        pytest.skip("several workers need a database server")
    config = write_config(tmp_path, db_url)
    port = free_port()
    console = tmp_path / "console.log"
    with console.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ccms.cli", "serve", "--config", str(config), "--host",
                                 "127.0.0.1", "--port", str(port), "--workers", "2"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=tmp_path)  # not the source tree: workers import the installed package
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"ccms serve exited ({proc.returncode}):\n{console.read_text()[-3000:]}")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_for(healthy, 90), console.read_text()[-3000:]
        for _ in range(4):
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        access_log = tmp_path / "logs" / "access.log"
        assert wait_for(lambda: access_log.is_file() and "/healthz" in access_log.read_text(), 20)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (its workers too)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = console.read_text()
    assert "Started parent process" in text or "Uvicorn running" in text, text[-3000:]
    assert text.count("Started server process") == 2, text[-3000:]
    assert '"GET /healthz' not in text, text[-3000:]


def test_single_worker_serving_prints_no_access_line_per_request(monkeypatch):
    """``ccms demo`` and ``ccms serve`` without --workers hand the app to uvicorn
    in-process: uvicorn's per-request console line (written on the event loop)
    is off; the queued structured access log remains."""
    import uvicorn

    from ccms import serve

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    serve.run(object(), "127.0.0.1", 8000)
    assert calls and calls[0]["access_log"] is False
