"""Running a deployment under uvicorn, and the checks done before it starts.

``ccms serve`` refuses to start on a database that is not migrated to head,
so a half-upgraded deployment never answers requests. Several workers need an
import string, hence :func:`app_factory` reading ``CCMS_CONFIG``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from starlette.applications import Starlette

from . import migrate
from .config import load_deployment
from .db import sqlite_file  # noqa: F401  (moved to the database layer: metrics and the CLI use it too)
from .errors import ConfigError

CONFIG_ENV = "CCMS_CONFIG"

STATUS_TEXT = {
    "up to date": "已是最新",
    "behind": "落后，需升级",
    "not migrated": "未迁移",
    "unknown": "未知版本（数据库比程序新？）",
}


@dataclass
class HistoryState:
    """Where one migration history (core or a plugin) stands."""

    owner: str
    applied: str | None
    head: str | None
    status: str  # a key of STATUS_TEXT

    @property
    def ok(self) -> bool:
        return self.status == "up to date"


def _status(folder: Path, applied: str | None, head: str | None) -> str:
    if applied is None:
        return "not migrated" if head else "up to date"
    if applied == head:
        return "up to date"
    try:
        known = ScriptDirectory(str(folder)).get_revision(applied) is not None
    except CommandError:
        known = False
    return "behind" if known else "unknown"


def migration_state(ctx: Any) -> list[HistoryState]:
    """State of core's and each enabled plugin's history; never creates a SQLite file."""
    folders = {owner: folder for owner, folder, _t in migrate.histories(ctx.plugins)}
    db_file = sqlite_file(ctx.db.url)
    if db_file is not None and not db_file.exists():
        rows = [(owner, None, ",".join(ScriptDirectory(str(f)).get_heads()) or None) for owner, f in folders.items()]
    else:
        rows = migrate.current(ctx.db.engine, ctx.plugins)
    return [HistoryState(owner, applied, head, _status(folders[owner], applied, head))
            for owner, applied, head in rows]


def ensure_migrated(ctx: Any, config_file: str) -> None:
    """Refuse to work on a database that is not at head, saying how to fix it."""
    behind = [h for h in migration_state(ctx) if not h.ok]
    if not behind:
        return
    detail = ", ".join(f"{h.owner} {h.applied or '-'} → {h.head or '-'}" for h in behind)
    raise ConfigError(f"数据库未迁移到最新版本（{detail}），请先运行: ccms db upgrade --config {config_file}",
                      f"the database is not migrated to head ({detail}): run ccms db upgrade --config {config_file}",
                      code="not_migrated")


def check_workers(ctx: Any, workers: int) -> None:
    """Several worker processes need a database server: on SQLite a background
    job's progress lives in the memory of the process that runs it, so another
    worker would report it as interrupted (see core/jobs.py)."""
    if workers > 1 and ctx.db.is_sqlite:
        raise ConfigError(f"SQLite 部署只能用一个工作进程（--workers {workers}）：多个进程请改用 PostgreSQL",
                          f"a SQLite deployment serves with one worker process (--workers {workers}): "
                          "use PostgreSQL for several", code="sqlite_one_worker")


def check_port(host: str, port: int) -> None:
    """Fail early, with a clear message, when the address is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"无法解析监听地址 {host}: {exc}", f"cannot resolve host {host}: {exc}") from None
    family, _type, _proto, _name, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise ConfigError(f"无法监听 {host}:{port}（端口被占用或无权限）: {exc.strerror}",
                              f"cannot listen on {host}:{port} (port in use or not allowed): {exc.strerror}") from None


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def app_factory() -> Starlette:
    """uvicorn factory for ``--workers N``: each worker builds its own app."""
    # lazy: the whole app only when serving
    from .app import create_app

    path = os.environ[CONFIG_ENV]
    deployment = load_deployment(path)
    app = create_app(deployment, deployment_file=path)
    ensure_migrated(app.state.ccms, path)
    return app


def run(app: Starlette | None, host: str, port: int, workers: int = 1, config_file: str = "") -> None:
    """Serve ``app`` in this process, or ``workers`` processes via :func:`app_factory`."""
    # lazy: the server only for ccms serve
    import uvicorn

    # access_log=False: uvicorn would print a line per request to the console on the event
    # loop; ccms's own access log ([logging] access) is queued and written by a thread.
    if workers > 1:
        os.environ[CONFIG_ENV] = str(Path(config_file).absolute())
        uvicorn.run(f"{__name__}:app_factory", factory=True, host=host, port=port, workers=workers,
                    log_level="info", access_log=False, proxy_headers=True)
    else:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, proxy_headers=True)
