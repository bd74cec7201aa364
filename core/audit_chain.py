"""Tamper-evident audit: a SHA-256 hash chain over the append-only log.

Entries are written inside callers' transactions everywhere (``audit.record``,
the flow engine's batched inserts). Chaining them there would need the chain
head under a lock inside every writer's transaction, serialising all writers
and deadlocking against their row locks on PostgreSQL. So ``core_audit_log``
stays a plain insert-only table and a separate insert-only table,
``core_audit_chain``, is filled *after* commit by :func:`seal`: a short
transaction under one lock (``pg_advisory_xact_lock`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite) that takes the unsealed entries in id order and
appends one row each::

    entry_hash = SHA-256(canonical JSON of the entry)          (see :func:`canonical`)
    chain_hash = SHA-256("{seq}:{audit_id}:{entry_hash}:{previous chain_hash}")
    chain_hash of seq 0 = 64 zeros (or the last archived seal, see :func:`archive`)

The chain order is the sealing order (``seq``), not the id order: on
PostgreSQL an entry with a lower id may commit after a higher one, so the
sealer never uses a bare "highest id sealed" watermark. Each run looks back
``LOOKBACK`` ids below the highest sealed one, and a full anti-join sweep runs
periodically (and in ``ccms audit seal``), so a late commit is sealed late
rather than skipped; ``ccms audit verify`` reports anything still unsealed.

The app seals in a background thread a moment after each commit that wrote
audit entries (:class:`Sealer`), so requests never wait for it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from . import audit
from .db import make_engine, utcnow
from .errors import ValidationFailed
from .models import AuditArchive, AuditChain, AuditLog

log = logging.getLogger("ccms.audit")

LOG, CHAIN, ARCHIVE = AuditLog.__table__, AuditChain.__table__, AuditArchive.__table__
GENESIS = "0" * 64
LOCK_KEY = 0x63636D7361756474  # "ccmsaudt": the advisory lock of the chain head
BATCH = 5000
LOOKBACK = {"sqlite": 100, "postgresql": 2000}  # SQLite commits in id order; PostgreSQL may not
FULL_SWEEP_SECONDS = 600
MANIFEST = "manifest.json"
ARCHIVE_FORMAT = "ccms-audit-archive/1"
ANCHOR_FORMAT = "ccms-audit-anchor/1"


# --- hashing ------------------------------------------------------------------------------

def content(row: Any) -> dict[str, Any]:
    """The hashed content of one ``core_audit_log`` row (a result row or mapping)."""
    at = row.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"id": row.id, "at": at, "actor_id": row.actor_id, "actor_name": row.actor_name,
            "client_ip": row.client_ip, "action": row.action, "object_type": row.object_type,
            "object_id": row.object_id, "summary": row.summary, "before": row.before, "after": row.after,
            "success": bool(row.success)}


def canonical(doc: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same bytes on every backend and in archives."""
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def entry_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(doc)).hexdigest()


def link(seq: int, audit_id: int, e_hash: str, prev: str) -> str:
    return hashlib.sha256(f"{seq}:{audit_id}:{e_hash}:{prev}".encode("ascii")).hexdigest()


# --- sealing ------------------------------------------------------------------------------

@contextmanager
def chain_lock(engine: Engine) -> Iterator[Connection]:
    """A transaction holding the chain-head lock; nothing else waits on it."""
    if engine.dialect.name == "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")
        return
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        yield conn


def _head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(select(CHAIN.c.seq, CHAIN.c.chain_hash).order_by(CHAIN.c.seq.desc()).limit(1)).first()
    if row is not None:
        return row.seq, row.chain_hash
    arch = conn.execute(select(ARCHIVE.c.last_seq, ARCHIVE.c.last_chain_hash)
                        .order_by(ARCHIVE.c.last_seq.desc()).limit(1)).first()
    return (arch.last_seq, arch.last_chain_hash) if arch is not None else (0, GENESIS)


def _seal_batch(conn: Connection, full: bool, batch: int) -> int:
    seq, prev = _head(conn)
    q = select(LOG).where(~exists().where(CHAIN.c.audit_id == LOG.c.id))
    if not full:
        top = conn.scalar(select(func.max(CHAIN.c.audit_id)))
        if top is not None:
            q = q.where(LOG.c.id > top - LOOKBACK.get(conn.dialect.name, 2000))
    rows = conn.execute(q.order_by(LOG.c.id).limit(batch)).all()
    now, values = utcnow(), []
    for r in rows:
        seq += 1
        e_hash = entry_hash(content(r))
        prev = link(seq, r.id, e_hash, prev)
        values.append({"seq": seq, "audit_id": r.id, "entry_hash": e_hash, "chain_hash": prev, "sealed_at": now})
    if values:
        conn.execute(insert(CHAIN), values)
    return len(values)


def seal(engine: Engine, *, full: bool = False, batch: int = BATCH) -> int:
    """Seal committed, unsealed entries (in short batches); returns how many.
    ``full`` looks at every entry, not just the recent ids."""
    total = 0
    while True:
        with chain_lock(engine) as conn:
            n = _seal_batch(conn, full, batch)
        total += n
        if n < batch:
            return total


def _unpooled(engine: Engine) -> Engine:
    """The sealer's own engine without a pool: each run opens and closes its connection,
    so a run after the app disposed its engine (shutdown, tests) leaves nothing open."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return engine  # a private in-memory database exists only in the app's own pool

    return make_engine(url.render_as_string(hide_password=False), poolclass=NullPool)


class Sealer:
    """Per-app background sealer: :meth:`poke` after a commit, it seals a moment
    later in its own short transaction. The thread ends after a minute idle."""

    IDLE_SECONDS = 60.0

    def __init__(self, engine: Engine, delay: float) -> None:
        self.engine, self.delay = _unpooled(engine), delay
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_full = 0.0
        self._failures = 0
        self._closed = False

    def close(self) -> None:
        """Seal what is pending now and end the thread (app shutdown, or before the
        database goes away: a late run would reopen a deleted SQLite file). A later
        :meth:`poke` starts a new thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._closed = True
            self._stop.set()  # cut the batching pause short: close() must not wait it out
            self._wake.set()
        if thread is not None and thread.is_alive():
            thread.join(timeout=30)
        self._stop.clear()
        self._closed = False

    def poke(self) -> None:
        if self.delay <= 0:
            return
        self._wake.set()  # before the check below: a thread about to stop sees it and goes on
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ccms-audit-sealer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            if self._closed:
                self._seal_once()
                return
            if not self._wake.wait(self.IDLE_SECONDS):
                with self._lock:
                    if not self._wake.is_set():
                        self._thread = None
                        return
                continue
            if not self._closed:
                self._stop.wait(self.delay)  # let a burst of commits land in one batch
            self._wake.clear()
            self._seal_once()

    def _seal_once(self) -> None:
        try:
            # SQLite commits in id order, so only PostgreSQL needs the periodic full sweep
            full = self.engine.dialect.name != "sqlite" and \
                time.monotonic() - self._last_full > FULL_SWEEP_SECONDS
            seal(self.engine, full=full)
            if full:
                self._last_full = time.monotonic()
            self._failures = 0
        except OperationalError as exc:  # database unreachable: the next poke retries
            self._failures += 1
            log.log(logging.WARNING if self._failures >= 3 else logging.INFO,
                    "sealing the audit chain failed (%d in a row), will retry: %s", self._failures,
                    str(exc).splitlines()[0])
        except Exception:  # the next poke retries; verify reports what stays unsealed
            log.exception("sealing the audit chain failed")


# --- status (for the screen) ------------------------------------------------------------------

def status(conn: Connection) -> dict[str, Any]:
    """Cheap figures: last seal, roughly how many newer entries wait, last verify."""
    head = conn.execute(select(CHAIN.c.seq, CHAIN.c.audit_id, CHAIN.c.sealed_at)
                        .order_by(CHAIN.c.seq.desc()).limit(1)).first()
    newest = conn.scalar(select(func.max(LOG.c.id))) or 0
    waiting = conn.scalar(select(func.count()).select_from(LOG).where(LOG.c.id > (head.audit_id if head else 0)))
    last = conn.execute(select(LOG.c.at, LOG.c.success, LOG.c.summary).where(LOG.c.action == "audit_verify")
                        .order_by(LOG.c.id.desc()).limit(1)).first()
    return {"seq": head.seq if head else 0, "audit_id": head.audit_id if head else 0,
            "sealed_at": head.sealed_at if head else None, "newest_id": newest, "waiting": waiting or 0,
            "verified_at": last.at if last else None, "verified_ok": bool(last.success) if last else None,
            "verified_summary": last.summary if last else ""}


# --- verify -----------------------------------------------------------------------------------

@dataclass
class Problem:
    kind: str  # edited | deleted | reordered | archive | anchor
    zh: str
    en: str
    seq: int | None = None
    audit_id: int | None = None
    file: str | None = None


@dataclass
class Report:
    checked: int = 0
    archived: int = 0
    first_seq: int | None = None
    head_seq: int = 0
    head_hash: str = GENESIS
    unsealed: int = 0
    unsealed_ids: list[int] = field(default_factory=list)
    problem: Problem | None = None
    anchor_ok: bool | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


class _Walk:
    """Walks seals in order, checking each against its entry and predecessor."""

    def __init__(self, report: Report, anchor_seq: int | None) -> None:
        self.r = report
        self.seq, self.prev = 0, GENESIS
        self.anchor_seq, self.anchor_hash = anchor_seq, None

    def start(self, seq: int, prev: str) -> None:
        self.seq, self.prev = seq, prev
        if seq == self.anchor_seq:
            self.anchor_hash = prev

    def step(self, seq: int, audit_id: int, e_hash: str, c_hash: str, doc: dict[str, Any] | None,
             file: str | None = None) -> bool:
        where_zh = f"（归档文件 {file}）" if file else ""
        where_en = f" (archive file {file})" if file else ""
        if seq != self.seq + 1:
            self.r.problem = Problem(
                "deleted", f"封存序号 {self.seq + 1}–{seq - 1} 缺失：审计条目被删除{where_zh}",
                f"seals {self.seq + 1}-{seq - 1} are missing: audit entries were deleted{where_en}",
                self.seq + 1, None, file)
            return False
        if doc is None:
            self.r.problem = Problem("deleted", f"审计条目 {audit_id}（封存序号 {seq}）已被删除{where_zh}",
                                     f"audit entry {audit_id} (seal {seq}) was deleted{where_en}", seq, audit_id, file)
            return False
        if entry_hash(doc) != e_hash or doc.get("id") != audit_id:
            self.r.problem = Problem("edited", f"审计条目 {audit_id}（封存序号 {seq}）的内容被修改{where_zh}",
                                     f"audit entry {audit_id} (seal {seq}) was edited{where_en}", seq, audit_id, file)
            return False
        if link(seq, audit_id, e_hash, self.prev) != c_hash:
            self.r.problem = Problem(
                "reordered", f"封存序号 {seq}（审计条目 {audit_id}）处链条断开：条目被重排或封存记录被伪造{where_zh}",
                f"the chain breaks at seal {seq} (audit entry {audit_id}): entries reordered or seals forged"
                f"{where_en}", seq, audit_id, file)
            return False
        if self.r.first_seq is None:
            self.r.first_seq = seq
        self.seq, self.prev = seq, c_hash
        if seq == self.anchor_seq:
            self.anchor_hash = c_hash
        return True


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 16):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict[str, Any]:
    f = folder / MANIFEST
    if not f.exists():
        return {"format": ARCHIVE_FORMAT, "files": []}
    return json.loads(f.read_text(encoding="utf-8"))


def _walk_archive(walk: _Walk, folder: Path, records: list[Any]) -> None:
    r = walk.r
    try:
        manifest = read_manifest(folder)
    except (ValueError, OSError) as exc:
        r.problem = Problem("archive", f"归档清单 {MANIFEST} 无法读取: {exc}", f"cannot read {MANIFEST}: {exc}",
                            file=MANIFEST)
        return
    listed = {m["file"]: m for m in manifest.get("files", [])}
    for rec in records:  # the database remembers every archive it handed out
        m = listed.get(rec.file)
        if m is None or m.get("sha256") != rec.sha256:
            r.problem = Problem("archive", f"归档文件 {rec.file} 不在清单中或校验和与数据库记录不符",
                                f"archive file {rec.file} is missing from the manifest or its checksum differs from "
                                f"the database's record", rec.first_seq, None, rec.file)
            return
    for m in sorted(manifest.get("files", []), key=lambda x: x["first_seq"]):
        path = folder / m["file"]
        if not path.exists():
            r.problem = Problem("archive", f"归档文件 {m['file']} 不存在", f"archive file {m['file']} is missing",
                                m["first_seq"], None, m["file"])
            return
        if _sha256_file(path) != m["sha256"]:
            r.problem = Problem("archive", f"归档文件 {m['file']} 的校验和不符：文件被修改或损坏",
                                f"archive file {m['file']} fails its checksum: altered or damaged",
                                m["first_seq"], None, m["file"])
            return
        if walk.seq == 0 and m["first_seq"] == 1:
            walk.start(0, GENESIS)
        elif walk.seq == 0:
            walk.start(m["first_seq"] - 1, m["prev_hash"])
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for line in f:
                    e = json.loads(line)
                    if not walk.step(e["seq"], e["audit_id"], e["entry_hash"], e["chain_hash"], e["entry"],
                                     m["file"]):
                        return
                    r.archived += 1
        except (OSError, ValueError, KeyError) as exc:
            r.problem = Problem("archive", f"归档文件 {m['file']} 无法读取: {exc}",
                                f"archive file {m['file']} cannot be read: {exc}", m["first_seq"], None, m["file"])
            return


def check_anchor(anchor: dict[str, Any], secret: str, identity: str) -> Problem | None:
    body = {k: v for k, v in anchor.items() if k != "hmac"}
    if anchor.get("format") != ANCHOR_FORMAT or not hmac.compare_digest(
            str(anchor.get("hmac", "")), _anchor_mac(body, secret)):
        return Problem("anchor", "锚点文件被修改，或来自另一个部署（HMAC 不符）",
                       "the anchor file was altered or comes from another deployment (HMAC mismatch)")
    if anchor.get("deployment") != identity:
        return Problem("anchor", f"锚点属于部署 {anchor.get('deployment')}，不是 {identity}",
                       f"the anchor belongs to deployment {anchor.get('deployment')}, not {identity}")
    return None


def verify(engine: Engine, *, archive_dir: Path | None = None, anchor: dict[str, Any] | None = None,
           secret: str = "", identity: str = "") -> Report:
    """Walk archive files (if given) then the database's seals; stop at the first break."""
    report = Report()
    if anchor is not None:
        report.problem = check_anchor(anchor, secret, identity)
        if report.problem:
            return report
    walk = _Walk(report, int(anchor["seq"]) if anchor else None)
    with engine.connect() as conn:
        records = conn.execute(select(ARCHIVE).order_by(ARCHIVE.c.last_seq)).all()
        if archive_dir is not None:
            _walk_archive(walk, archive_dir, records)
            if report.problem:
                return report
        elif records:  # without the files, trust the database's record of the last archive
            walk.start(records[-1].last_seq, records[-1].last_chain_hash)
        archived_up_to = walk.seq
        q = (select(CHAIN.c.seq, CHAIN.c.audit_id, CHAIN.c.entry_hash, CHAIN.c.chain_hash,
                    *[c.label(f"log_{c.name}") for c in LOG.c])
             .select_from(CHAIN.outerjoin(LOG, LOG.c.id == CHAIN.c.audit_id))
             .where(CHAIN.c.seq > archived_up_to).order_by(CHAIN.c.seq))
        for row in conn.execution_options(yield_per=2000).execute(q):
            doc = None
            if row.log_id is not None:
                doc = content(_Prefixed(row))
            if not walk.step(row.seq, row.audit_id, row.entry_hash, row.chain_hash, doc):
                return report
            report.checked += 1
        report.head_seq, report.head_hash = walk.seq, walk.prev
        unsealed = select(LOG.c.id).where(~exists().where(CHAIN.c.audit_id == LOG.c.id))
        report.unsealed = conn.scalar(select(func.count()).select_from(unsealed.subquery())) or 0
        report.unsealed_ids = list(conn.scalars(unsealed.order_by(LOG.c.id).limit(20)))
    if anchor is not None:
        if walk.anchor_hash is None:
            report.problem = Problem(
                "anchor", f"链中找不到锚点的封存序号 {anchor['seq']}：条目被删除或链被截断"
                + ("（已归档的部分请用 --archive 一并校验）" if report.first_seq and anchor["seq"] < report.first_seq
                   else ""),
                f"the chain no longer holds the anchor's seal {anchor['seq']}: entries deleted or the chain cut"
                + (" (check archived seals with --archive)" if report.first_seq and anchor["seq"] < report.first_seq
                   else ""), int(anchor["seq"]))
        elif walk.anchor_hash != anchor["chain_hash"]:
            report.problem = Problem("anchor", f"封存序号 {anchor['seq']} 的链哈希与锚点不符：链被重写",
                                     f"seal {anchor['seq']} differs from the anchor: the chain was rewritten",
                                     int(anchor["seq"]))
        report.anchor_ok = report.problem is None
    return report


class _Prefixed:
    """Reads ``log_<name>`` columns of a joined row as ``<name>``."""

    def __init__(self, row: Any) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, f"log_{name}")


# --- anchor -----------------------------------------------------------------------------------

def _anchor_mac(body: dict[str, Any], secret: str) -> str:
    key = hashlib.sha256(b"ccms-audit-anchor\x00" + secret.encode("utf-8")).digest()
    return hmac.new(key, canonical(body), hashlib.sha256).hexdigest()


def anchor(engine: Engine, *, secret: str, identity: str, name: str = "") -> dict[str, Any]:
    """The chain head as a signed JSON document (the daily anchor)."""
    with engine.connect() as conn:
        row = conn.execute(select(CHAIN).order_by(CHAIN.c.seq.desc()).limit(1)).first()
        if row is None:
            seq, prev = _head(conn)
            row_d = {"seq": seq, "audit_id": None, "chain_hash": prev, "sealed_at": None}
        else:
            row_d = {"seq": row.seq, "audit_id": row.audit_id, "chain_hash": row.chain_hash,
                     "sealed_at": row.sealed_at.isoformat()}
    body = {"format": ANCHOR_FORMAT, "deployment": identity, "name": name, **row_d,
            "exported_at": utcnow().isoformat()}
    return {**body, "hmac": _anchor_mac(body, secret)}


# --- archive ----------------------------------------------------------------------------------

@dataclass
class ArchiveResult:
    file: str | None
    entries: int
    first_seq: int | None = None
    last_seq: int | None = None


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def _deletable(conn: Connection) -> Iterator[None]:
    """Lift the append-only triggers for this transaction only, as the owner.

    SQLite: drop the DELETE triggers and re-create them from their stored SQL
    in the same transaction. PostgreSQL: the trigger function lets the table
    owner delete while ``ccms.audit_archive`` is set for this transaction."""
    if conn.dialect.name == "sqlite":
        names = ("core_audit_log_no_delete", "core_audit_chain_no_delete")
        saved = [conn.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"), {"n": n})
                 for n in names]
        for n in names:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {n}")
        yield
        for sql in saved:
            if sql:
                conn.exec_driver_sql(sql)
        return
    conn.execute(text("SELECT set_config('ccms.audit_archive', 'on', true)"))
    yield
    conn.execute(text("SELECT set_config('ccms.audit_archive', 'off', true)"))


def archive(engine: Engine, *, before: dt.datetime, out_dir: Path, retention_days: int, identity: str,
            actor_name: str = "cli") -> ArchiveResult:
    """Move sealed entries older than ``before`` (and than the retention) to a
    gzip JSON-lines file in ``out_dir`` with a checksum manifest, then remove
    them from the database. The archive is always a prefix of the chain."""

    limit = utcnow() - dt.timedelta(days=retention_days)
    if before > limit:
        zh = f"--before 必须早于保留期（{retention_days} 天）之前，即不晚于 {limit.date().isoformat()}"
        en = f"--before must lie beyond the retention period ({retention_days} days): {limit.date().isoformat()} or earlier"
        raise ValidationFailed(zh, en, fields={"before": {"message": zh, "message_en": en}})
    out_dir.mkdir(parents=True, exist_ok=True)
    seal(engine, full=True)
    with chain_lock(engine) as conn:
        seq0, prev0 = (None, None)
        arch = conn.execute(select(ARCHIVE.c.last_seq, ARCHIVE.c.last_chain_hash)
                            .order_by(ARCHIVE.c.last_seq.desc()).limit(1)).first()
        seq0, prev0 = (arch.last_seq, arch.last_chain_hash) if arch else (0, GENESIS)
        q = (select(CHAIN.c.seq, CHAIN.c.audit_id, CHAIN.c.entry_hash, CHAIN.c.chain_hash, CHAIN.c.sealed_at,
                    *[c.label(f"log_{c.name}") for c in LOG.c])
             .select_from(CHAIN.join(LOG, LOG.c.id == CHAIN.c.audit_id))
             .where(CHAIN.c.seq > seq0).order_by(CHAIN.c.seq))
        lines: list[bytes] = []
        first = last = None
        last_hash = prev0
        for row in conn.execute(q):
            if row.log_at >= before or row.seq != (last or seq0) + 1:
                break  # a prefix of the chain only: stop at the first newer entry (or a gap)
            doc = content(_Prefixed(row))
            lines.append(json.dumps({"seq": row.seq, "audit_id": row.audit_id, "entry_hash": row.entry_hash,
                                     "chain_hash": row.chain_hash, "sealed_at": row.sealed_at.isoformat(),
                                     "entry": doc}, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")
            first = first or row.seq
            last, last_hash = row.seq, row.chain_hash
        if not lines:
            return ArchiveResult(None, 0)
        name = f"audit-{first:09d}-{last:09d}.jsonl.gz"
        path = out_dir / name
        with path.open("wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                for line in lines:
                    gz.write(line)
            raw.flush()
            os.fsync(raw.fileno())
        digest = _sha256_file(path)
        now = utcnow()
        meta = {"file": name, "sha256": digest, "first_seq": first, "last_seq": last, "prev_hash": prev0,
                "last_chain_hash": last_hash, "entries": len(lines), "cutoff": before.isoformat(),
                "created_at": now.isoformat()}
        old = read_manifest(out_dir)
        manifest = {**old, "format": ARCHIVE_FORMAT, "deployment": identity,
                    "files": [m for m in old.get("files", []) if m["first_seq"] < first] + [meta]}
        _write_json_atomic(out_dir / MANIFEST, manifest)
        try:
            with _deletable(conn):
                ids = select(CHAIN.c.audit_id).where(CHAIN.c.seq.between(first, last)).scalar_subquery()
                conn.execute(LOG.delete().where(LOG.c.id.in_(ids)))
                conn.execute(CHAIN.delete().where(CHAIN.c.seq.between(first, last)))
        except Exception:  # e.g. not the owner: leave the folder as it was
            _write_json_atomic(out_dir / MANIFEST, old)
            path.unlink(missing_ok=True)
            raise
        conn.execute(insert(ARCHIVE), [{"file": name, "sha256": digest, "first_seq": first, "last_seq": last,
                                        "prev_hash": prev0, "last_chain_hash": last_hash, "entries": len(lines),
                                        "cutoff": before, "created_at": now}])
        conn.execute(insert(LOG), [audit.entry(audit.Actor(None, actor_name), "audit_archive", "audit", name,
                                               after={k: v for k, v in meta.items() if k != "created_at"},
                                               summary=f"归档审计日志 {len(lines)} 条（封存序号 {first}–{last}）")])
    return ArchiveResult(name, len(lines), first, last)
