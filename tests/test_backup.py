"""``ccms backup`` / ``ccms backup verify`` / ``ccms restore`` (core/backup), on SQLite and
PostgreSQL (pg_dump/pg_restore): the restore drill — seed a deployment, back it up, restore
into a fresh database and folder, compare every table row by row and every file byte by
byte — and the bad input an operator meets: a truncated or altered backup, a wrong
passphrase, a non-empty target, a schema newer than the code, pg_dump missing."""

from __future__ import annotations

import io
import os
import re
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PG_URL, SECRET, plugins_toml
from flow_engine_kit import person
from flow_engine_kit import publish as publish_flow
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import make_url
from test_attachments import EVIDENCE, FORM, png
from test_flow_engine import APPROVAL
from test_form_records import publish as publish_form

from ccms.app import create_app
from ccms.backup import database as backup_db
from ccms.backup import latest, prune
from ccms.cli import main
from ccms.config import load_deployment
from ccms.flows import engine
from ccms.testing import login_client

PASSPHRASE = "correct horse battery staple"
NOTE = b"ccms restore drill: plain text that must not show in an encrypted backup\n"


# --- deployments ------------------------------------------------------------------------

def write_config(folder: Path, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "deploy.toml"
    f.write_text(f'profile = "city"\nregion_code = "320500"\nname = "测试市城市综合管理服务平台"\n'
                 f'secret_key = "{SECRET}"\ndatabase_url = "{url}"\nattachments_dir = "attachments"\n'
                 f'{plugins_toml()}', encoding="utf-8")
    return f


@pytest.fixture
def empty_url(backend: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Factory of empty databases (no tables) of the test's backend."""
    made: list[str] = []

    def make() -> str:
        if backend == "sqlite":
            made.append("x")
            return f"sqlite:///{tmp_path / f'restored-{len(made)}' / 'ccms.db'}"
        name = f"ccms_bk_{uuid.uuid4().hex[:12]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT") if backend == "postgresql" else None
    yield make
    if admin is not None:
        with admin.connect() as c:
            for name in made:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(app: Any) -> dict[str, Any]:
    """Form records with an image and a text attachment, a flow with history, audit entries."""
    ctx = app.state.ccms
    publish_form(ctx, EVIDENCE)
    admin = login_client(app)
    photo = admin.api("POST", "/attachments", data={"form": FORM, "field": "photos"},
                      files={"file": ("现场.png", png(64, 48), "application/octet-stream")})
    doc = admin.api("POST", "/attachments", data={"form": FORM, "field": "docs"},
                    files={"file": ("说明.txt", NOTE, "application/octet-stream")})
    assert photo.status_code == 201 and doc.status_code == 201, (photo.text, doc.text)
    for i, subject in enumerate(["占道经营", "井盖缺失", "乱堆物料"]):
        data: dict[str, Any] = {"subject": subject}
        if i == 0:
            data.update(photos=[photo.json()], docs=[doc.json()])
        r = admin.api("POST", f"/api/forms/{FORM}/records", json={"data": data})
        assert r.status_code == 201, r.text
    for n in ("alice", "bob", "carol"):
        person(ctx, n)
    publish_flow(ctx, APPROVAL)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, person(ctx, "dave"), "approval", variables={"amount": 5000}, title="采购申请").id
    return {"admin": admin, "photo": photo.json(), "doc": doc.json(), "instance": iid}


@pytest.fixture
def source(make_app: Callable[..., Any], db_url: str, tmp_path: Path) -> dict[str, Any]:
    """A seeded deployment with its deployment file."""
    folder = tmp_path / "site"
    app = make_app(attachments_dir=str(folder / "attachments"))
    return {"app": app, "config": write_config(folder, db_url), "url": db_url, **seed(app)}


# --- comparing deployments ------------------------------------------------------------------

def tables(url: str) -> dict[str, list[str]]:
    """Every table's rows (sorted), read through reflection: no table is named here."""
    eng = create_engine(url)
    md = MetaData()
    md.reflect(eng)
    try:
        with eng.connect() as c:
            return {t.name: sorted(repr(tuple(r)) for r in c.execute(select(t))) for t in md.sorted_tables}
    finally:
        eng.dispose()


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def backup(capsys: pytest.CaptureFixture[str], config: Path, to: Path, *extra: str) -> Path:
    code, out, err = cli(capsys, "backup", "--config", str(config), "--to", str(to), *extra)
    assert code == 0, err
    made = Path(re.search(r"backup written: (\S+)", out).group(1))  # type: ignore[union-attr]
    assert made.parent == to and made.is_file()
    return made


def passphrase_file(tmp_path: Path, value: str = PASSPHRASE) -> Path:
    f = tmp_path / f"pass-{uuid.uuid4().hex[:6]}.txt"
    f.write_text(value + "\n", encoding="utf-8")
    return f


def untouched(target: Path, url: str) -> None:
    """A refused restore wrote nothing: no tables, no attachments folder."""
    assert backup_db.table_names(url) == []
    assert not (target / "attachments").exists() or not any((target / "attachments").iterdir())


# --- the restore drill ----------------------------------------------------------------------

def test_restore_drill_round_trips_every_table_and_file(source: dict[str, Any], empty_url: Callable[[], str],
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pw = passphrase_file(tmp_path)
    archive = backup(capsys, source["config"], tmp_path / "backups", "--passphrase-file", str(pw))
    assert archive.name.endswith(".tar.enc") and archive.stat().st_mode & 0o077 == 0
    raw = archive.read_bytes()
    assert PASSPHRASE.encode() not in raw and NOTE not in raw and SECRET.encode() not in raw

    code, out, err = cli(capsys, "backup", "verify", "--from", str(archive), "--passphrase-file", str(pw))
    assert code == 0 and "backup verified" in out and "attachments: 3" in out, err  # photo, its thumbnail, text

    target_url = empty_url()
    target_cfg = write_config(tmp_path / "restored", target_url)
    code, out, err = cli(capsys, "restore", "--config", str(target_cfg), "--from", str(archive),
                         "--passphrase-file", str(pw))
    assert code == 0, err

    before, after = tables(source["url"]), tables(target_url)
    assert before.keys() == after.keys()
    for name in before:
        assert after[name] == before[name], f"table {name} differs after restore"
    assert any("backup" in row for row in after["core_audit_log"])  # the backup audited itself, inside itself
    assert len(after["core_form_record"]) == 3 and len(after["core_attachment"]) == 2 and after["core_flow_history"]
    assert files(tmp_path / "restored" / "attachments") == files(tmp_path / "site" / "attachments")

    # the restored deployment works: log in, read the record's file, add a record (sequences carried over)
    app = create_app(load_deployment(target_cfg))
    try:
        client = login_client(app)
        got = client.get(f"/attachments/{source['doc']['id']}")
        assert got.status_code == 200 and got.content == NOTE
        r = client.api("POST", f"/api/forms/{FORM}/records", json={"data": {"subject": "恢复后新增"}})
        assert r.status_code == 201, r.text
    finally:
        app.state.ccms.db.dispose()


def test_unencrypted_backup_is_a_plain_tar_with_a_manifest(source: dict[str, Any], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    archive = backup(capsys, source["config"], tmp_path / "backups")
    import json
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert names[-1] == "manifest.json" and "deployment/deploy.toml" in names
    assert {f["path"] for f in manifest["files"]} == set(names[:-1])
    assert manifest["migrations"]["core"] == manifest["code_heads"]["core"]
    assert manifest["deployment"]["identity"] == "city:320500" and manifest["ccms_version"]
    # a lost deployment file comes back from a verified backup (never over an existing file)
    out = tmp_path / "recovered.toml"
    code, _o, err = cli(capsys, "backup", "verify", "--from", str(archive), "--extract-config", str(out))
    assert code == 0 and out.read_bytes() == source["config"].read_bytes(), err
    code, _o, err = cli(capsys, "backup", "verify", "--from", str(archive), "--extract-config", str(out))
    assert code == 2 and "not overwritten" in err


# --- bad input ------------------------------------------------------------------------------

@pytest.fixture
def plain_backup(source: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    return backup(capsys, source["config"], tmp_path / "backups")


@pytest.fixture
def target(empty_url: Callable[[], str], tmp_path: Path) -> dict[str, Any]:
    url = empty_url()
    return {"url": url, "config": write_config(tmp_path / "restored", url), "folder": tmp_path / "restored"}


def restore(capsys: pytest.CaptureFixture[str], target: dict[str, Any], archive: Path,
            *extra: str) -> tuple[int, str, str]:
    return cli(capsys, "restore", "--config", str(target["config"]), "--from", str(archive), *extra)


def test_truncated_backup_is_refused(plain_backup: Path, target: dict[str, Any], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / "cut.tar"
    cut.write_bytes(plain_backup.read_bytes()[: plain_backup.stat().st_size // 2])
    code, _out, err = restore(capsys, target, cut)
    assert code == 2 and "不完整" in err and "incomplete" in err and "Traceback" not in err
    untouched(target["folder"], target["url"])
    code, _out, err = cli(capsys, "backup", "verify", "--from", str(cut))
    assert code == 2 and "incomplete" in err


def test_truncated_encrypted_backup_is_refused(source: dict[str, Any], target: dict[str, Any], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pw = passphrase_file(tmp_path)
    archive = backup(capsys, source["config"], tmp_path / "backups", "--passphrase-file", str(pw))
    cut = tmp_path / "cut.tar.enc"
    cut.write_bytes(archive.read_bytes()[:-100])
    code, _out, err = restore(capsys, target, cut, "--passphrase-file", str(pw))
    assert code == 2 and "cut short" in err and "Traceback" not in err
    untouched(target["folder"], target["url"])


def _flip_byte_in(archive: Path, member: str) -> None:
    """Change one byte inside ``member``'s data, leaving the tar structure intact."""
    with tarfile.open(archive) as tar:
        info = tar.getmember(member)
    data = bytearray(archive.read_bytes())
    data[info.offset_data + info.size // 2] ^= 0x01
    archive.write_bytes(bytes(data))


def test_altered_file_is_named_and_nothing_is_written(source: dict[str, Any], plain_backup: Path,
                                                      target: dict[str, Any],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    sha = source["doc"]["sha256"]
    member = f"attachments/{sha[:2]}/{sha}"
    _flip_byte_in(plain_backup, member)
    code, _out, err = restore(capsys, target, plain_backup)
    assert code == 2 and member in err and "校验和不符" in err and "checksum mismatch" in err
    untouched(target["folder"], target["url"])
    code, _out, err = cli(capsys, "backup", "verify", "--from", str(plain_backup))
    assert code == 2 and member in err


def test_altered_database_in_backup_is_named(plain_backup: Path, target: dict[str, Any],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with tarfile.open(plain_backup) as tar:
        member = next(n for n in tar.getnames() if n.startswith("database/"))
    _flip_byte_in(plain_backup, member)
    code, _out, err = restore(capsys, target, plain_backup)
    assert code == 2 and member in err
    untouched(target["folder"], target["url"])


def test_altered_encrypted_backup_is_refused(source: dict[str, Any], target: dict[str, Any], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    pw = passphrase_file(tmp_path)
    archive = backup(capsys, source["config"], tmp_path / "backups", "--passphrase-file", str(pw))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    code, _out, err = restore(capsys, target, archive, "--passphrase-file", str(pw))
    assert code == 2 and "altered" in err and "被改动" in err
    untouched(target["folder"], target["url"])


def test_wrong_passphrase_says_so(source: dict[str, Any], target: dict[str, Any], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCMS_BACKUP_PASSPHRASE", PASSPHRASE)  # the environment is a passphrase source too
    archive = backup(capsys, source["config"], tmp_path / "backups")
    assert archive.name.endswith(".tar.enc")
    monkeypatch.delenv("CCMS_BACKUP_PASSPHRASE")
    wrong = passphrase_file(tmp_path, "not the right passphrase")
    code, _out, err = restore(capsys, target, archive, "--passphrase-file", str(wrong))
    assert code == 2 and "口令或密钥不正确" in err and "wrong backup passphrase" in err and "Traceback" not in err
    untouched(target["folder"], target["url"])
    # no passphrase at all (not a terminal): told how to give one
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _out, err = cli(capsys, "backup", "verify", "--from", str(archive))
    assert code == 2 and "CCMS_BACKUP_PASSPHRASE" in err


def test_key_file_and_short_passphrase(source: dict[str, Any], target: dict[str, Any], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    short = passphrase_file(tmp_path, "short")
    code, _out, err = cli(capsys, "backup", "--config", str(source["config"]), "--to", str(tmp_path / "b"),
                          "--passphrase-file", str(short))
    assert code == 2 and "12" in err and not list((tmp_path / "b").glob("ccms-backup-*"))
    key = tmp_path / "backup.key"
    key.write_bytes(os.urandom(32))
    archive = backup(capsys, source["config"], tmp_path / "backups", "--key-file", str(key))
    pw = passphrase_file(tmp_path)
    code, _out, err = restore(capsys, target, archive, "--passphrase-file", str(pw))
    assert code == 2 and "--key-file" in err
    code, _out, err = restore(capsys, target, archive, "--key-file", str(key))
    assert code == 0, err


def test_non_empty_target_is_refused_and_force_keeps_it(source: dict[str, Any], plain_backup: Path,
                                                        make_app: Callable[..., Any], new_db_url: Callable[[], str],
                                                        tmp_path: Path, backend: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    other_url = new_db_url()  # migrated and seeded: not empty
    folder = tmp_path / "busy"
    busy = make_app(db_url=other_url, attachments_dir=str(folder / "attachments"))
    busy.state.ccms.audit_sealer.close()  # seal now: a late background seal would change the snapshot below
    (folder / "attachments").mkdir(parents=True, exist_ok=True)
    (folder / "attachments" / "keep-me.txt").write_bytes(b"older upload")
    cfg = write_config(folder, other_url)
    before = tables(other_url)
    code, _out, err = cli(capsys, "restore", "--config", str(cfg), "--from", str(plain_backup))
    assert code == 2 and "不是空的" in err and "not empty" in err and "--force" in err
    assert tables(other_url) == before and (folder / "attachments" / "keep-me.txt").exists()

    code, out, err = cli(capsys, "restore", "--config", str(cfg), "--from", str(plain_backup), "--force")
    assert code == 0, err
    assert tables(other_url) == tables(source["url"])
    kept = list(folder.glob("attachments.before-restore-*"))
    assert len(kept) == 1 and (kept[0] / "keep-me.txt").read_bytes() == b"older upload"
    assert "previous content kept as" in out
    if backend == "sqlite":
        db_file = backup_db.sqlite_path(other_url)
        old = list(db_file.parent.glob(f"{db_file.name}.before-restore-*"))
        main_file = next(p for p in old if not p.name.endswith(("-wal", "-shm")))
        assert tables(f"sqlite:///{main_file}")["core_person"]  # the replaced data is still there
    else:
        assert "schema public_before_restore_" in out


def _set_core_revision(url: str, rev: str) -> None:
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": rev})
    eng.dispose()


def test_backup_from_newer_code_is_refused(source: dict[str, Any], target: dict[str, Any], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    source["app"].state.ccms.db.dispose()
    _set_core_revision(source["url"], "9999_from_the_future")
    archive = backup(capsys, source["config"], tmp_path / "backups")
    code, _out, err = restore(capsys, target, archive)
    assert code == 2 and "备份的数据库结构比本程序新" in err and "newer than this ccms" in err
    assert "9999_from_the_future" in err
    untouched(target["folder"], target["url"])


def test_restore_into_a_database_of_newer_schema_is_refused_even_with_force(
        plain_backup: Path, make_app: Callable[..., Any], new_db_url: Callable[[], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = new_db_url()
    make_app(db_url=url).state.ccms.close()  # (seals now: nothing changes the database later)
    _set_core_revision(url, "9999_from_the_future")
    cfg = write_config(tmp_path / "newer", url)
    before = tables(url)
    code, _out, err = cli(capsys, "restore", "--config", str(cfg), "--from", str(plain_backup), "--force")
    assert code == 2 and "目标数据库的结构比本程序新" in err and "newer schema" in err
    assert tables(url) == before


def test_missing_pg_dump_is_a_clear_error(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if backend != "postgresql":
        pytest.skip("pg_dump is for PostgreSQL only")
    source = request.getfixturevalue("source")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    monkeypatch.delenv("CCMS_PG_BINDIR", raising=False)
    monkeypatch.setattr(backup_db, "PG_BIN_GLOBS", ())
    code, _out, err = cli(capsys, "backup", "--config", str(source["config"]), "--to", str(tmp_path / "b"))
    assert code == 2 and "找不到 PostgreSQL" in err and "no pg_dump of PostgreSQL" in err
    assert not list((tmp_path / "b").glob("ccms-backup-*"))


def test_pg_dump_older_than_the_server_is_refused(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if backend != "postgresql":
        pytest.skip("pg_dump is for PostgreSQL only")
    source = request.getfixturevalue("source")
    monkeypatch.setattr(backup_db, "server_major", lambda url: 99)  # a server newer than every installed client
    code, _out, err = cli(capsys, "backup", "--config", str(source["config"]), "--to", str(tmp_path / "b"))
    assert code == 2 and "PostgreSQL 99" in err and "pg_dump" in err and "found:" in err
    assert not list((tmp_path / "b").glob("ccms-backup-*"))


def test_passphrase_is_never_a_command_line_argument(source: dict[str, Any], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = cli(capsys, "backup", "--config", str(source["config"]), "--passphrase", PASSPHRASE)
    assert code == 2 and "bad command line" in err  # refused, also as an abbreviation of --passphrase-file
    assert not (source["config"].parent / "backups").exists()


# --- retention ----------------------------------------------------------------------------------

def test_keep_prunes_older_backups_of_this_deployment_only(source: dict[str, Any], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    to = tmp_path / "backups"
    to.mkdir()
    old = [to / f"ccms-backup-city-320500-2026010{d}T020000Z.tar" for d in (1, 2, 3)]
    foreign = to / "ccms-backup-province-320000-20260101T020000Z.tar"
    other = to / "notes.txt"
    for p in (*old, foreign, other):
        p.write_bytes(b"x")
    newest = backup(capsys, source["config"], to, "--keep", "2")
    assert sorted(p.name for p in to.iterdir() if not p.name.startswith(".")) == sorted(
        [old[2].name, newest.name, foreign.name, other.name])


def test_keep_days_and_same_second_order(tmp_path: Path) -> None:
    import datetime as dt
    names = ["ccms-backup-city-320500-20261201T020000Z.tar", "ccms-backup-city-320500-20261205T020000Z.tar",
             "ccms-backup-city-320500-20261205T020000Z-2.tar.enc"]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    now = dt.datetime(2026, 12, 7, 3, tzinfo=dt.UTC)
    gone = prune(tmp_path, "city:320500", keep_days=3, now=now)
    assert [p.name for p in gone] == [names[0]]
    gone = prune(tmp_path, "city:320500", keep=1, now=now)
    assert [p.name for p in gone] == [names[1]]  # "-2" was made later in the same second
    assert latest(tmp_path, "city:320500") == (dt.datetime(2026, 12, 5, 2, tzinfo=dt.UTC), tmp_path / names[2])
    assert latest(tmp_path, "province:320000") is None


def test_restore_through_another_database_url(plain_backup: Path, source: dict[str, Any],
                                              empty_url: Callable[[], str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The schema owner's URL (two-role PostgreSQL set-ups) comes from an environment variable."""
    owner_url, app_url = empty_url(), empty_url()
    cfg = write_config(tmp_path / "two-roles", app_url)
    code, _out, err = cli(capsys, "restore", "--config", str(cfg), "--from", str(plain_backup),
                          "--database-url-env", "CCMS_OWNER_URL")
    assert code == 2 and "CCMS_OWNER_URL" in err
    monkeypatch.setenv("CCMS_OWNER_URL", owner_url)
    code, _out, err = cli(capsys, "restore", "--config", str(cfg), "--from", str(plain_backup),
                          "--database-url-env", "CCMS_OWNER_URL")
    assert code == 0, err
    assert tables(owner_url) == tables(source["url"]) and backup_db.table_names(app_url) == []


def test_entry_pointing_outside_the_backup_is_refused(target: dict[str, Any], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    forged = tmp_path / "forged.tar"
    with tarfile.open(forged, "w") as tar:
        for name, data in (("attachments/../../escaped.txt", b"x"), ("manifest.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    code, _out, err = restore(capsys, target, forged)
    assert code == 2 and "attachments/../../escaped.txt" in err and "unexpected entry" in err
    assert not list(tmp_path.rglob("escaped.txt"))
    untouched(target["folder"], target["url"])


def test_sqlite_backup_is_consistent_while_the_app_writes(source: dict[str, Any], target: dict[str, Any],
                                                          backend: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Writes keep coming during the backup; the copy holds whole transactions only, and a table
    no code names (made here) is copied like every other."""
    if backend != "sqlite":
        pytest.skip("pg_dump's snapshot is PostgreSQL's own; this checks the SQLite online backup")
    import sqlite3
    import threading

    path = backup_db.sqlite_path(source["url"])
    con = sqlite3.connect(path, timeout=30)
    con.executescript("CREATE TABLE drill_a (n INTEGER); CREATE TABLE drill_b (n INTEGER);")
    con.close()
    stop, written = threading.Event(), [0]

    def writer() -> None:
        c = sqlite3.connect(path, timeout=30)
        while not stop.is_set():
            with c:  # one transaction: a row in each table
                c.execute("INSERT INTO drill_a VALUES (?)", (written[0],))
                c.execute("INSERT INTO drill_b VALUES (?)", (written[0],))
            written[0] += 1
        c.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        while written[0] < 50:
            stop.wait(0.01)
        archive = backup(capsys, source["config"], tmp_path / "backups")
    finally:
        stop.set()
        t.join()
    code, _out, err = restore(capsys, target, archive)
    assert code == 0, err
    restored = tables(target["url"])
    assert 50 <= len(restored["drill_a"]) <= written[0]
    assert restored["drill_a"] == restored["drill_b"]
