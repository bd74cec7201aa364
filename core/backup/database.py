"""Database snapshots and their restore: SQLite through its online backup
API, PostgreSQL through ``pg_dump --format=custom`` / ``pg_restore``.

Both copy every table, index, trigger and sequence the database holds, so a
table added by any migration (core's or a plugin's) is in the backup without
being named here.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL, make_url

from ..db import make_engine
from ..errors import ConfigError

# Where PostgreSQL client programs live besides PATH (Debian/Ubuntu, then RHEL).
PG_BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")
PG_BIN_ENV = "CCMS_PG_BINDIR"  # a folder holding pg_dump and pg_restore, tried first
VERSION_TABLE_RE = re.compile(r"^(?:(?P<owner>[a-z0-9_]+)_)?alembic_version$")


def dialect_of(url: str) -> str:
    return make_url(url).get_backend_name()


def sqlite_path(url: str) -> Path:
    u = make_url(url)
    if not u.database or u.database == ":memory:":
        raise ConfigError("内存数据库无法备份或恢复", "an in-memory database cannot be backed up or restored")
    return Path(u.database)


def _engine(url: str) -> Engine:
    return make_engine(url)


# --- what a database holds -----------------------------------------------------------

def table_names(url: str) -> list[str]:
    """Tables of the database (SQLite: a missing file has none and is not created)."""
    if dialect_of(url) == "sqlite":
        path = sqlite_path(url)
        if not path.exists():
            return []
        con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            return [r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        finally:
            con.close()
    eng = _engine(url)
    try:
        return sorted(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def applied_revisions(url: str) -> dict[str, str]:
    """{history owner: applied revision(s)} from every ``*alembic_version`` table:
    core's ``alembic_version`` and each plugin's ``<id>_alembic_version``."""
    out: dict[str, str] = {}
    names = [n for n in table_names(url) if VERSION_TABLE_RE.match(n)]
    if not names:
        return out
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            for name in names:
                owner = VERSION_TABLE_RE.match(name).group("owner") or "core"  # type: ignore[union-attr]
                revs = sorted(r[0] for r in conn.execute(text(f'SELECT version_num FROM "{name}"')))
                if revs:
                    out[owner] = ",".join(revs)
    finally:
        eng.dispose()
    return out


# --- SQLite -------------------------------------------------------------------------------

def sqlite_snapshot(url: str, dest: Path) -> None:
    """A consistent copy of a live SQLite database (online backup API), as one
    self-contained file (rollback journal, no WAL beside it)."""
    src_path = sqlite_path(url)
    if not src_path.exists():
        raise ConfigError(f"数据库文件不存在: {src_path}", f"the database file does not exist: {src_path}")
    src = sqlite3.connect(str(src_path), timeout=30)
    dst = sqlite3.connect(str(dest))
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.commit()
    finally:
        dst.close()
        src.close()


def sqlite_check(path: Path) -> str:
    """``PRAGMA integrity_check`` of a file: "ok" or the first problem."""
    con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        con.close()


def sqlite_set_aside(path: Path, stamp: str) -> Path | None:
    """Rename a database file (and its -wal/-shm) to ``<file>.before-restore-<stamp>``."""
    if not path.exists():
        return None
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    for suffix in ("-wal", "-shm", "-journal"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{aside}{suffix}"))
    os.replace(path, aside)
    return aside


def sqlite_restore(snapshot: Path, url: str) -> None:
    """Put the snapshot where the deployment's database belongs (target must be empty)."""
    path = sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm", "-journal"):  # of an empty database only (checked before)
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.restoring")
    shutil.copyfile(snapshot, tmp)
    os.chmod(tmp, 0o600)  # it holds password hashes
    os.replace(tmp, path)


# --- PostgreSQL ---------------------------------------------------------------------------

@dataclass
class PgTool:
    path: str
    major: int


def _tool_version(path: str) -> int | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return int(m.group(1)) if m else None


def find_pg_tool(name: str, at_least: int) -> PgTool:
    """The newest ``pg_dump``/``pg_restore`` whose major version is at least
    ``at_least`` (pg_dump refuses servers newer than itself)."""
    candidates: list[str] = []
    if os.environ.get(PG_BIN_ENV):
        candidates.append(str(Path(os.environ[PG_BIN_ENV]) / name))
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    for pattern in PG_BIN_GLOBS:
        candidates += sorted(str(Path(d) / name) for d in glob.glob(pattern))
    found = [PgTool(c, v) for c in dict.fromkeys(candidates)
             if os.access(c, os.X_OK) and (v := _tool_version(c)) is not None]
    good = [t for t in found if t.major >= at_least]
    if good:
        return max(good, key=lambda t: t.major)
    seen = ", ".join(f"{t.path} ({t.major})" for t in found) or "无 / none"
    raise ConfigError(
        f"找不到 PostgreSQL {at_least} 或更新版本的 {name}（已找到: {seen}）。请安装对应版本的客户端，例如 Debian: "
        f"apt-get install postgresql-client-{at_least}，或用环境变量 {PG_BIN_ENV} 指定其目录",
        f"no {name} of PostgreSQL {at_least} or newer was found (found: {seen}). Install the matching client, "
        f"e.g. on Debian apt-get install postgresql-client-{at_least}, or point {PG_BIN_ENV} at its folder",
        code="pg_tool_missing")


def server_major(url: str) -> int:
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    finally:
        eng.dispose()


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """(connection arguments, environment) for libpq programs; the password
    goes in the environment, never on a command line other users can see."""
    u: URL = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    parts = {"host": u.host, "port": u.port, "user": u.username, "dbname": u.database}
    for k, v in u.query.items():  # e.g. sslmode, options
        parts[k] = v if isinstance(v, str) else v[-1]
    conninfo = " ".join(f"{k}='{_quote(str(v))}'" for k, v in parts.items() if v not in (None, ""))
    return ["--dbname", conninfo], env


def _quote(v: str) -> str:
    return v.replace("\\", "\\\\").replace("'", "\\'")


def _run(argv: list[str], env: dict[str, str], what_zh: str, what_en: str) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise ConfigError(f"{what_zh}失败: {detail}", f"{what_en} failed: {detail}", code="pg_tool_failed")


def pg_snapshot(url: str, dest: Path) -> dict[str, Any]:
    """``pg_dump --format=custom`` of the deployment's database (a consistent snapshot)."""
    major = server_major(url)
    tool = find_pg_tool("pg_dump", major)
    args, env = _libpq(url)
    _run([tool.path, "--format=custom", "--no-password", "--file", str(dest), *args], env,
         "pg_dump 导出", "pg_dump")
    return {"server_major": major, "pg_dump_major": tool.major}


def pg_set_aside(url: str, stamp: str) -> str:
    """Rename the current schema out of the way (nothing is dropped) and create
    an empty one in its place; returns the name it now has."""
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            aside = f"{schema}_before_restore_{stamp}"[:63]
            conn.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{aside}"'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            if schema == "public":  # PostgreSQL's default: everyone may use (not create in) public
                conn.execute(text("GRANT USAGE ON SCHEMA public TO PUBLIC"))
        return aside
    finally:
        eng.dispose()


def pg_restore(dump: Path, url: str, dump_major: int) -> None:
    """``pg_restore`` into an empty database, all or nothing (one transaction)."""
    tool = find_pg_tool("pg_restore", dump_major)
    args, env = _libpq(url)
    _run([tool.path, "--no-owner", "--single-transaction", "--exit-on-error", "--no-password", *args, str(dump)],
         env, "pg_restore 恢复", "pg_restore")


def stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
