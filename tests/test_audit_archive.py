"""Audit retention and the database roles (issue 10, Deliver 1): ``ccms audit
archive`` moves sealed entries past the retention to gzip JSON lines with a
checksum manifest, ``verify --archive`` checks them and continues the chain into
the database; on PostgreSQL the app's role cannot alter the audit tables."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from test_audit_chain import config_file, write

from ccms import audit_chain
from ccms.cli import main

UTC = dt.UTC


@pytest.fixture
def actx(make_app):
    """An app that never seals in the background: the tests seal when they mean to."""
    return make_app(audit={"seal_delay_seconds": 0}).state.ccms


def count(ctx, sql: str) -> int:
    with ctx.db.engine.connect() as c:
        return c.execute(text(sql)).scalar_one()


def test_archive_then_verify_and_a_damaged_file_is_named(actx, tmp_path, capsys, monkeypatch):
    now = dt.datetime.now(UTC)
    write(actx, 5)
    audit_chain.seal(actx.db.engine)
    newer = write(actx, 3, at=now + dt.timedelta(days=2))  # stays online
    audit_chain.seal(actx.db.engine)
    sealed = count(actx, "SELECT count(*) FROM core_audit_chain")
    cfg = config_file(tmp_path, actx)
    out = tmp_path / "archive"

    # inside the retention period: refused
    today = now.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    assert main(["audit", "archive", "--config", cfg, "--before", str(today), "--to", str(out)]) == 2
    err = capsys.readouterr().err
    assert "保留期（180 天）" in err and "retention period (180 days)" in err

    # 400 days later everything written today is past the retention
    monkeypatch.setattr(audit_chain, "utcnow", lambda: now + dt.timedelta(days=400))
    before = today + dt.timedelta(days=1)
    assert main(["audit", "archive", "--config", cfg, "--before", str(before), "--to", str(out)]) == 0
    archived = sealed - 3
    assert f"已归档 {archived} 条" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    (meta,) = manifest["files"]
    assert meta["entries"] == archived and meta["first_seq"] == 1 and meta["last_seq"] == archived
    path = out / meta["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"]
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    assert len(lines) == archived and json.loads(lines[0])["entry"]["id"] == 1
    # gone from the database, the newer entries stay; the triggers are back
    assert count(actx, f"SELECT count(*) FROM core_audit_chain WHERE seq <= {archived}") == 0
    assert count(actx, f"SELECT count(*) FROM core_audit_log WHERE id IN ({','.join(map(str, newer))})") == 3
    with pytest.raises(DBAPIError, match="append-only"):
        with actx.db.engine.begin() as c:
            c.exec_driver_sql("DELETE FROM core_audit_log")

    assert main(["audit", "verify", "--config", cfg, "--archive", str(out)]) == 0
    assert f"另有归档 {archived} 条" in capsys.readouterr().out
    assert main(["audit", "verify", "--config", cfg]) == 0  # without the files: from the database's record
    write(actx, 2)
    audit_chain.seal(actx.db.engine)  # the chain continues after the archived part
    rep = audit_chain.verify(actx.db.engine, archive_dir=out)
    assert rep.ok and rep.archived == archived and rep.unsealed == 0

    # alter one archived entry (and even fix up the manifest's checksum): verify names the file
    raw = gzip.decompress(path.read_bytes()).replace("条目 2".encode(), "条目 9".encode())
    path.write_bytes(gzip.compress(raw))
    assert main(["audit", "verify", "--config", cfg, "--archive", str(out)]) == 1
    err = capsys.readouterr().err
    assert meta["file"] in err and "校验和" in err and "checksum" in err
    meta["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    rep = audit_chain.verify(actx.db.engine, archive_dir=out)
    assert not rep.ok and rep.problem.file == meta["file"]


def test_archive_checks_entries_inside_the_file(actx, tmp_path, monkeypatch):
    """A file rewritten consistently with the manifest still fails on the entry's hash."""
    now = dt.datetime.now(UTC)
    write(actx, 4)
    audit_chain.seal(actx.db.engine)
    monkeypatch.setattr(audit_chain, "utcnow", lambda: now + dt.timedelta(days=400))
    res = audit_chain.archive(actx.db.engine, before=now + dt.timedelta(days=1), out_dir=tmp_path,
                              retention_days=180, identity="city:320500")
    assert res.entries >= 4
    path = tmp_path / res.file
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    doc = json.loads(lines[1])
    doc["entry"]["summary"] = "改过"
    lines[1] = json.dumps(doc, ensure_ascii=False)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    # a forger without database access: the manifest and the database's record keep the old checksum
    rep = audit_chain.verify(actx.db.engine, archive_dir=tmp_path)
    assert not rep.ok and rep.problem.kind == "archive" and rep.problem.file == res.file


def test_retention_setting_has_a_floor_of_180_days(tmp_path, actx, capsys):
    cfg = config_file(tmp_path, actx, extra="retention_days = 90\n")
    assert main(["audit", "verify", "--config", cfg]) == 2
    err = capsys.readouterr().err
    assert "audit.retention_days" in err and "不能小于180" in err


# --- PostgreSQL: two roles ----------------------------------------------------------------------

def test_the_app_role_cannot_alter_the_audit_tables(actx, backend, tmp_path, capsys, monkeypatch):
    if backend != "postgresql":
        pytest.skip("database roles are a PostgreSQL feature")
    role = f"ccms_app_{uuid.uuid4().hex[:8]}"
    owner = actx.db.engine
    with owner.begin() as c:
        c.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    app_engine = None
    try:
        write(actx, 2)
        cfg = config_file(tmp_path, actx)
        assert main(["audit", "grant-app-role", "--config", cfg, "--role", role, "--print"]) == 0
        assert "GRANT SELECT, INSERT ON core_audit_log" in capsys.readouterr().out
        assert main(["audit", "grant-app-role", "--config", cfg, "--role", role]) == 0
        capsys.readouterr()
        app_url = make_url(actx.db.url).set(username=role).render_as_string(hide_password=False)
        app_engine = create_engine(app_url)
        with app_engine.begin() as c:  # the app's own work goes on
            c.exec_driver_sql("INSERT INTO core_audit_log (at, actor_name, client_ip, action, object_type, "
                              "object_id, summary, success) VALUES (now(), 'app', '', 'ok', 'x', '', '', true)")
            c.exec_driver_sql("UPDATE core_person SET post = 'x' WHERE id = 1")
            assert c.exec_driver_sql("SELECT count(*) FROM core_audit_log").scalar_one() >= 3
        assert audit_chain.seal(app_engine) >= 3  # sealing needs only INSERT
        for sql in ("UPDATE core_audit_log SET summary = 'forged'", "DELETE FROM core_audit_log",
                    "TRUNCATE core_audit_log", "ALTER TABLE core_audit_log DISABLE TRIGGER USER",
                    "DROP TRIGGER core_audit_log_no_change ON core_audit_log", "DROP TABLE core_audit_log",
                    "UPDATE core_audit_chain SET chain_hash = 'x'", "DELETE FROM core_audit_chain",
                    "TRUNCATE core_audit_chain", "ALTER TABLE core_audit_chain DROP COLUMN chain_hash",
                    "INSERT INTO core_audit_log (id, at, actor_name, client_ip, action, object_type, object_id, "
                    "summary, success) VALUES (1, now(), 'x', '', 'x', 'x', '', 'x', true) "
                    "ON CONFLICT (id) DO UPDATE SET summary = 'forged'"):
            with pytest.raises(DBAPIError, match="permission denied|must be owner|append-only"):
                with app_engine.begin() as c:
                    c.exec_driver_sql("SELECT set_config('ccms.audit_archive', 'on', true)")
                    c.exec_driver_sql(sql)
        # archiving needs the owner: refused clearly when run as the app role
        app_cfg = Path(config_file(tmp_path, actx))
        app_cfg.write_text(app_cfg.read_text(encoding="utf-8").replace(actx.db.url, app_url), encoding="utf-8")
        now = dt.datetime.now(UTC)
        monkeypatch.setattr(audit_chain, "utcnow", lambda: now + dt.timedelta(days=400))
        before = str((now + dt.timedelta(days=2)).date())
        args = ["audit", "archive", "--config", str(app_cfg), "--before", before, "--to", str(tmp_path / "arch")]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "只有数据库属主角色" in err and "only the database owner role" in err
        assert count(actx, "SELECT count(*) FROM core_audit_archive") == 0
        assert not list((tmp_path / "arch").glob("*.gz"))  # no half-made archive left behind
        # the owner's connection given with --database-url does it
        assert main(args + ["--database-url", actx.db.url]) == 0
        assert count(actx, "SELECT count(*) FROM core_audit_archive") == 1
        assert audit_chain.verify(app_engine, archive_dir=tmp_path / "arch").ok
    finally:
        if app_engine is not None:
            app_engine.dispose()
        with owner.begin() as c:
            c.exec_driver_sql(f"DROP OWNED BY {role}")
            c.exec_driver_sql(f"DROP ROLE {role}")


def test_two_archives_in_one_folder_chain_on(actx, tmp_path, monkeypatch):
    now = dt.datetime.now(UTC)
    write(actx, 3)
    audit_chain.seal(actx.db.engine)
    monkeypatch.setattr(audit_chain, "utcnow", lambda: now + dt.timedelta(days=400))
    first = audit_chain.archive(actx.db.engine, before=now + dt.timedelta(seconds=1), out_dir=tmp_path,
                                retention_days=180, identity="city:320500")
    write(actx, 4, at=now + dt.timedelta(days=1))
    audit_chain.seal(actx.db.engine)
    second = audit_chain.archive(actx.db.engine, before=now + dt.timedelta(days=3), out_dir=tmp_path,
                                 retention_days=180, identity="city:320500")
    assert first.entries and second.first_seq == first.last_seq + 1
    assert [m["file"] for m in audit_chain.read_manifest(tmp_path)["files"]] == [first.file, second.file]
    write(actx, 1)
    audit_chain.seal(actx.db.engine)
    rep = audit_chain.verify(actx.db.engine, archive_dir=tmp_path)
    assert rep.ok and rep.archived == second.last_seq and rep.checked >= 1
    (tmp_path / first.file).unlink()  # a lost file is named
    rep = audit_chain.verify(actx.db.engine, archive_dir=tmp_path)
    assert not rep.ok and rep.problem.file == first.file
