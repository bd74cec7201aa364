"""Tamper-evident audit (issue 10, defect 3 and Deliver 1): REPLACE/UPSERT refused,
the hash chain sealed after commit, ``ccms audit verify`` naming the first
edited / deleted / reordered entry, anchors, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SECRET, plugins_toml
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ccms import audit, audit_chain
from ccms.cli import main
from ccms.models import AuditLog

UTC = dt.UTC
COLS = "id, at, actor_id, actor_name, client_ip, action, object_type, object_id, summary, success"


@pytest.fixture
def actx(make_app):
    """An app that never seals in the background: the tests seal when they mean to."""
    return make_app(audit={"seal_delay_seconds": 0}).state.ccms


def write(ctx, n: int, at: dt.datetime | None = None, **kw) -> list[int]:
    ids = []
    with ctx.db.session() as s:
        for i in range(n):
            e = audit.entry(audit.Actor(7, "tester", "10.0.0.1"), kw.get("action", "test_action"), "thing", i,
                            after={"n": i, "名称": "网格"}, summary=f"条目 {i}")
            if at is not None:
                e["at"] = at + dt.timedelta(seconds=i)
            ids.append(s.execute(AuditLog.__table__.insert().returning(AuditLog.id), [e]).scalar_one())
    return ids


def tamper(ctx, *stmts: str) -> None:
    """What an attacker with the owner's rights does: lift the triggers and edit."""
    with ctx.db.engine.begin() as c:
        if ctx.db.is_sqlite:
            for t in ("core_audit_log_no_update", "core_audit_log_no_delete", "core_audit_chain_no_update",
                      "core_audit_chain_no_delete"):
                c.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t}")
        else:
            c.exec_driver_sql("ALTER TABLE core_audit_log DISABLE TRIGGER USER")
            c.exec_driver_sql("ALTER TABLE core_audit_chain DISABLE TRIGGER USER")
        for stmt in stmts:
            c.exec_driver_sql(stmt)


# --- defect 3: REPLACE / INSERT OR REPLACE / UPSERT ------------------------------------------

def test_replace_and_upsert_cannot_overwrite_an_entry(actx, backend):
    (aid,) = write(actx, 1)
    values = f"({aid}, '2020-01-01 00:00:00', NULL, 'x', '', 'forged', 'x', '', 'forged', 1)"
    attacks = [f"INSERT INTO core_audit_log ({COLS}) VALUES {values.replace(', 1)', ', true)')} "
               f"ON CONFLICT (id) DO UPDATE SET summary = 'forged'"]
    if backend == "sqlite":
        attacks += [f"REPLACE INTO core_audit_log ({COLS}) VALUES {values}",
                    f"INSERT OR REPLACE INTO core_audit_log ({COLS}) VALUES {values}",
                    f"INSERT INTO core_audit_log ({COLS}) VALUES {values} ON CONFLICT (id) DO UPDATE SET summary = 'x'"]
    for sql in attacks:
        with pytest.raises(DBAPIError, match="append-only"):
            with actx.db.engine.begin() as c:
                c.exec_driver_sql(sql)
    with actx.db.session() as s:
        assert s.get(AuditLog, aid).summary == "条目 0"
    write(actx, 1)  # ordinary inserts still work


def test_the_chain_tables_are_append_only_too(actx, backend):
    write(actx, 2)
    audit_chain.seal(actx.db.engine)
    attacks = ["UPDATE core_audit_chain SET entry_hash = 'x'", "DELETE FROM core_audit_chain"]
    if backend == "sqlite":
        attacks.append("REPLACE INTO core_audit_chain (seq, audit_id, entry_hash, chain_hash, sealed_at) "
                       "VALUES (1, 999, 'a', 'b', '2020-01-01')")
    else:
        attacks += ["TRUNCATE core_audit_chain", "TRUNCATE core_audit_log",
                    "INSERT INTO core_audit_chain (seq, audit_id, entry_hash, chain_hash, sealed_at) "
                    "VALUES (1, 999, 'a', 'b', now()) ON CONFLICT (seq) DO UPDATE SET chain_hash = 'b'"]
    for sql in attacks:
        with pytest.raises(DBAPIError, match="append-only"):
            with actx.db.engine.begin() as c:
                c.exec_driver_sql(sql)


# --- sealing and verifying -----------------------------------------------------------------------

def test_seal_then_verify_passes_and_reports_unsealed(actx):
    ids = write(actx, 5)
    rep = audit_chain.verify(actx.db.engine)
    with actx.db.engine.connect() as c:
        total = c.execute(text("SELECT count(*) FROM core_audit_log")).scalar_one()
    assert rep.ok and rep.unsealed == total and rep.unsealed_ids[0] == 1 and total >= len(ids)
    sealed = audit_chain.seal(actx.db.engine)
    assert sealed >= 5
    rep = audit_chain.verify(actx.db.engine)
    assert rep.ok and rep.unsealed == 0 and rep.checked == sealed and rep.head_seq == sealed
    write(actx, 2)
    assert audit_chain.seal(actx.db.engine) == 2  # only the new ones
    assert audit_chain.verify(actx.db.engine).checked == sealed + 2


@pytest.mark.parametrize("attack", ["edited", "deleted", "deleted_with_seal", "reordered", "swapped"])
def test_verify_names_the_first_broken_entry(actx, attack):
    ids = write(actx, 6)
    audit_chain.seal(actx.db.engine)
    with actx.db.engine.connect() as c:
        seq_of = dict(c.execute(text("SELECT audit_id, seq FROM core_audit_chain")).all())
    a, b = ids[2], ids[3]
    sa, sb = seq_of[a], seq_of[b]
    stmts = {
        "edited": [f"UPDATE core_audit_log SET summary = '改过' WHERE id = {a}"],
        "deleted": [f"DELETE FROM core_audit_log WHERE id = {a}"],
        "deleted_with_seal": [f"DELETE FROM core_audit_log WHERE id = {a}",
                              f"DELETE FROM core_audit_chain WHERE seq = {sa}"],
        "reordered": [f"UPDATE core_audit_chain SET seq = -1 WHERE seq = {sa}",
                      f"UPDATE core_audit_chain SET seq = {sa} WHERE seq = {sb}",
                      f"UPDATE core_audit_chain SET seq = {sb} WHERE seq = -1"],
        "swapped": [f"UPDATE core_audit_log SET summary = '条目 3' WHERE id = {a}",
                    f"UPDATE core_audit_log SET summary = '条目 2' WHERE id = {b}"],
    }[attack]
    tamper(actx, *stmts)
    rep = audit_chain.verify(actx.db.engine)
    assert not rep.ok
    p = rep.problem
    assert p.seq == sa, (attack, p)
    assert p.kind == {"edited": "edited", "deleted": "deleted", "deleted_with_seal": "deleted",
                      "reordered": "reordered", "swapped": "edited"}[attack]
    if attack != "deleted_with_seal":
        assert p.audit_id == (b if attack == "reordered" else a)
        assert str(p.audit_id) in p.zh and str(p.audit_id) in p.en


def test_a_late_commit_on_postgresql_is_sealed_not_skipped(actx, backend):
    if backend != "postgresql":
        pytest.skip("SQLite commits audit ids in order (one writer at a time)")
    late = actx.db.Session()
    late_id = late.execute(AuditLog.__table__.insert().returning(AuditLog.id),
                           [audit.entry(None, "late", "thing", 1)]).scalar_one()
    later = write(actx, 3)  # higher ids, committed first
    assert later[0] > late_id
    audit_chain.seal(actx.db.engine)
    late.commit()
    late.close()
    assert audit_chain.verify(actx.db.engine).unsealed == 1
    assert audit_chain.seal(actx.db.engine) == 1
    rep = audit_chain.verify(actx.db.engine)
    assert rep.ok and rep.unsealed == 0


def test_the_app_seals_in_the_background_after_commit(make_app):
    ctx = make_app(audit={"seal_delay_seconds": 0.05}).state.ccms
    with ctx.db.session() as s:
        audit.record(s, None, "bg", "thing", 1)
    ctx.audit_sealer._thread.join(timeout=0)  # started by the commit
    for _ in range(200):
        if audit_chain.verify(ctx.db.engine).unsealed == 0:
            break
        import time
        time.sleep(0.05)
    assert audit_chain.verify(ctx.db.engine).unsealed == 0


# --- CLI: verify, anchor ----------------------------------------------------------------------

def config_file(tmp_path: Path, ctx, extra: str = "") -> str:
    f = tmp_path / "deploy.toml"
    f.write_text(f'profile = "city"\nregion_code = "320500"\nname = "测试市城市综合管理服务平台"\n'
                 f'secret_key = "{SECRET}"\ndatabase_url = "{ctx.db.url}"\n'
                 f'{plugins_toml()}[audit]\nseal_delay_seconds = 0\n{extra}', encoding="utf-8")
    return str(f)


def test_cli_verify_exit_status_and_bilingual_message(actx, tmp_path, capsys):
    ids = write(actx, 4)
    cfg = config_file(tmp_path, actx)
    assert main(["audit", "seal", "--config", cfg]) == 0
    assert main(["audit", "verify", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "审计链完整" in out and "audit chain intact" in out
    tamper(actx, f"UPDATE core_audit_log SET after = NULL WHERE id = {ids[1]}")
    assert main(["audit", "verify", "--config", cfg]) == 1
    err = capsys.readouterr().err
    assert f"审计条目 {ids[1]}" in err and f"audit entry {ids[1]}" in err and "was edited" in err
    assert main(["audit", "verify", "--config", cfg, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problem"]["kind"] == "edited" and report["problem"]["audit_id"] == ids[1]
    with actx.db.engine.connect() as c:  # each verify leaves its result in the log (shown on the screen)
        rows = c.execute(text("SELECT success FROM core_audit_log WHERE action = 'audit_verify' ORDER BY id")).all()
    assert [bool(r.success) for r in rows] == [True, False, False]


def test_anchor_export_and_check(actx, tmp_path, capsys):
    write(actx, 3)
    cfg = config_file(tmp_path, actx)
    out = tmp_path / "anchor.json"
    assert main(["audit", "anchor", "--config", cfg, "--out", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["deployment"] == actx.deployment.identity and doc["seq"] >= 3 and len(doc["hmac"]) == 64
    write(actx, 2)  # the chain grows: the anchor still holds
    assert main(["audit", "verify", "--config", cfg, "--anchor", str(out)]) == 0
    assert "锚点一致" in capsys.readouterr().out

    forged = dict(doc, seq=doc["seq"] - 1)
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps(forged), encoding="utf-8")
    assert main(["audit", "verify", "--config", cfg, "--anchor", str(bad)]) == 1
    assert "HMAC" in capsys.readouterr().err

    # rewrite the whole chain consistently (as someone with the owner's rights could): the anchor notices
    with actx.db.engine.connect() as c:
        head = c.execute(text("SELECT audit_id FROM core_audit_chain WHERE seq = :s"), {"s": doc["seq"]}).scalar_one()
    tamper(actx, f"UPDATE core_audit_log SET summary = 'rewritten' WHERE id = {head}", "DELETE FROM core_audit_chain")
    audit_chain.seal(actx.db.engine, full=True)
    assert audit_chain.verify(actx.db.engine).ok  # internally consistent again …
    assert main(["audit", "verify", "--config", cfg, "--anchor", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"封存序号 {doc['seq']}" in err and "rewritten" in err


def test_cli_usage_mistakes_are_bilingual(actx, tmp_path, capsys):
    cfg = config_file(tmp_path, actx)
    assert main(["audit", "verify", "--config", cfg, "--anchor", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert "无法读取锚点文件" in err and "cannot read anchor file" in err
    assert main(["audit", "archive", "--config", cfg, "--before", "2024-13-01", "--to", str(tmp_path)]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


# --- the audit screen shows the chain's state ----------------------------------------------------

def test_audit_screen_shows_chain_status(actx, tmp_path, client_for, capsys):
    from conftest import ADMIN_PASSWORD, ADMIN_USER

    cfg = config_file(tmp_path, actx)
    write(actx, 2)
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD)
    page = admin.get("/admin/audit")  # the app sealed what was written before it started
    assert 'data-testid="audit-chain-sealed"' in page.text and "尚未校验" in page.text
    assert main(["audit", "seal", "--config", cfg]) == 0
    assert main(["audit", "verify", "--config", cfg]) == 0
    page = admin.get("/admin/audit")
    assert 'data-testid="audit-chain-sealed"' in page.text and "已封存至第" in page.text
    assert 'data-testid="audit-chain-ok"' in page.text and "完整" in page.text
    tamper(actx, "UPDATE core_audit_log SET summary = 'x' WHERE id = 3")
    assert main(["audit", "verify", "--config", cfg]) == 1
    page = admin.get("/admin/audit")
    assert 'data-testid="audit-chain-failed"' in page.text and "审计条目 3" in page.text
    assert "校验审计链" in admin.get("/admin/audit?action=audit_verify").text  # the action reads in Chinese


def test_entries_written_while_the_app_was_down_are_sealed_at_start(make_app: Any) -> None:
    """A CLI tool (user create, demo seeding, db upgrade) writes audit entries and exits before any
    background sealing: the app seals them when it starts, so they do not wait for the next write."""
    from ccms import audit
    from ccms.audit_chain import status
    from ccms.testing import Client
    app = make_app(audit={"seal_delay_seconds": 0})
    ctx = app.state.ccms
    with ctx.db.session() as s:
        audit.record(s, None, "person_create", "person", 7, summary="written by a CLI tool")
    with ctx.db.engine.connect() as conn:
        assert status(conn)["waiting"] > 0
    with Client(app):  # lifespan start-up
        pass
    with ctx.db.engine.connect() as conn:
        assert status(conn)["waiting"] == 0
