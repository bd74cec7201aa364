"""Background jobs (后台任务): long work (imports) runs in a thread of the app
process while the user watches a progress bar at ``/jobs/{id}``.

    from ccms.api import start_job

    def work(progress):                 # runs in a background thread
        for i, row in enumerate(rows, 1):
            ...
            progress(i, len(rows))      # cheap: call it as often as you like
        return {"message": "已导入 10 条", "message_en": "10 imported", "url": "/forms/x"}

    job_id = start_job(ctx, owner=user.id, kind="grid_import", fn=work, total=len(rows))

``fn(progress)`` returns a JSON value (the job's ``result``; a dict's
``message``/``message_en``/``url`` are shown to the user) or raises: a
:class:`JobError` (or any :class:`CcmsError`) fails the job with its message
and, for :class:`JobError`, its ``errors`` (a list of dicts such as
``{"row", "field", "message", "message_en"}``, downloadable as XLSX); any other
exception fails it with a generic message (the traceback goes to the log).
``fn`` opens its own sessions (``with ctx.db.session() as s``): do all-or-nothing
work in ONE session so a failure or a restart leaves nothing half-written.

Live progress lives in memory of the process running the job; the row in
``core_job`` records start and end (and, on PostgreSQL where several processes
may serve one deployment, a heartbeat with the counts every few seconds). A job
still marked running whose process is gone (restart) is shown as failed with a
clear message: on SQLite (one process) at once, on PostgreSQL once its
heartbeat is stale.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, JSONType, UTCDateTime, utcnow
from .errors import CcmsError, NotFound

log = logging.getLogger("ccms.jobs")

STATUSES = ("queued", "running", "done", "failed")
HEARTBEAT_SECONDS = 5.0
STALE_AFTER = dt.timedelta(seconds=30)
MAX_ERRORS = 10_000
INTERRUPTED = ("任务因服务重启而中断，未完成的操作没有写入任何数据，请重新提交",
               "the job was interrupted by a restart; nothing of the unfinished work was written — please submit again")
INTERNAL = ("任务执行出错，已记录，请联系管理员", "the job failed with an internal error: it was logged, contact an administrator")

Progress = Callable[..., None]


class Job(Base):
    """One background job and its outcome."""

    __tablename__ = "core_job"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(String(500), default="")
    message_en: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[Any] = mapped_column(JSONType, nullable=True)
    errors: Mapped[Any] = mapped_column(JSONType, nullable=True)
    runner: Mapped[str] = mapped_column(String(64), default="")
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class JobError(CcmsError):
    """Fail a job with a message and an error list (e.g. per-row import errors)."""

    code = "job_failed"

    def __init__(self, zh: str, en: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(zh, en)
        self.errors = list(errors or [])


@dataclass
class JobState:
    """What a poll shows: the row's columns (live counts when this process runs the job)."""

    id: str
    kind: str
    owner: int | None
    status: str
    done: int
    total: int | None
    message: str
    message_en: str
    result: Any
    errors: list[dict[str, Any]] = field(default_factory=list)
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        if not self.total:
            return 0
        return max(0, min(100, int(self.done * 100 / self.total)))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status, "done": self.done, "total": self.total,
                "percent": self.percent, "message": self.message, "message_en": self.message_en,
                "result": self.result, "errors": len(self.errors),
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "finished_at": self.finished_at.isoformat() if self.finished_at else None}


class _Runner:
    """The jobs this process runs for one deployment (one per ``ctx``)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.id = f"{uuid.uuid4().hex[:16]}"
        self.live: dict[str, dict[str, Any]] = {}  # job id -> {"done", "total", "message"}
        self.lock = threading.Lock()
        self.beat: threading.Thread | None = None
        self.threads: dict[str, threading.Thread] = {}

    def start_heartbeat(self) -> None:
        if self.ctx.db.is_sqlite:
            return  # one process: the poll reads the live counts from memory
        with self.lock:
            if self.beat is not None and self.beat.is_alive():
                return
            self.beat = threading.Thread(target=self._beat, name="ccms-job-heartbeat", daemon=True)
            self.beat.start()

    def _beat(self) -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            with self.lock:
                live = {k: dict(v) for k, v in self.live.items()}
            if not live:
                with self.lock:
                    if not self.live:
                        self.beat = None
                        return
                continue
            try:
                with self.ctx.db.session() as s:
                    for jid, st in live.items():
                        s.execute(update(Job).where(Job.id == jid, Job.status == "running").values(
                            heartbeat_at=utcnow(), done=st["done"], total=st["total"],
                            message=st["message"][:500], message_en=st["message_en"][:500]))
            except Exception:  # noqa: BLE001 - a missed heartbeat must not stop the job
                log.warning("job heartbeat failed", exc_info=True)


_RUNNERS: dict[int, _Runner] = {}
_RUNNERS_LOCK = threading.Lock()


def _runner(ctx: Any) -> _Runner:
    """The runner of this deployment (kept on ``ctx``; no process-wide state per deployment)."""
    r = getattr(ctx, "_ccms_job_runner", None)
    if r is None:
        with _RUNNERS_LOCK:
            r = getattr(ctx, "_ccms_job_runner", None)
            if r is None:
                r = _Runner(ctx)
                ctx._ccms_job_runner = r
    return r


def _jsonable_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors[:MAX_ERRORS]:
        out.append({str(k): (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                    for k, v in dict(e).items()})
    return out


def start_job(ctx: Any, owner: int | None, kind: str, fn: Callable[[Progress], Any],
              total: int | None = None) -> str:
    """Record a job and run ``fn(progress)`` in a background thread; returns the job id.

    ``progress(done, total=None, message=None, message_en=None)`` updates the
    counts shown on ``/jobs/{id}``. Only ``owner`` and administrators
    (``core.jobs.view_all``) may see the job.
    """
    runner = _runner(ctx)
    jid = uuid.uuid4().hex
    with ctx.db.session() as s:
        s.add(Job(id=jid, kind=str(kind)[:64], owner=owner, status="queued", done=0, total=total,
                  runner=runner.id, heartbeat_at=utcnow()))
    with runner.lock:
        runner.live[jid] = {"done": 0, "total": total, "message": "", "message_en": ""}

    def progress(done: int, total_: int | None = None, message: str | None = None,
                 message_en: str | None = None) -> None:
        st = runner.live.get(jid)
        if st is None:
            return
        st["done"] = int(done)
        if total_ is not None:
            st["total"] = int(total_)
        if message is not None:
            st["message"] = str(message)
            st["message_en"] = str(message_en if message_en is not None else message)

    def run() -> None:
        try:
            with ctx.db.session() as s:
                s.execute(update(Job).where(Job.id == jid).values(status="running", heartbeat_at=utcnow()))
            result = fn(progress)
            msg = (result.get("message", ""), result.get("message_en", "")) if isinstance(result, dict) else ("", "")
            _finish(ctx, jid, "done", msg[0], msg[1], result=result)
        except JobError as exc:
            _finish(ctx, jid, "failed", exc.zh, exc.en, errors=_jsonable_errors(exc.errors))
        except CcmsError as exc:
            fields = [{"field": k, "message": (v or {}).get("message", ""),
                       "message_en": (v or {}).get("message_en", "")}
                      for k, v in (exc.fields or {}).items() if isinstance(v, dict) or v is None]
            _finish(ctx, jid, "failed", exc.zh, exc.en, errors=fields or None)
        except Exception:
            log.exception("job %s (%s) failed", jid, kind)
            _finish(ctx, jid, "failed", *INTERNAL)
        finally:
            with runner.lock:
                runner.live.pop(jid, None)
                runner.threads.pop(jid, None)

    t = threading.Thread(target=run, name=f"ccms-job-{kind}-{jid[:8]}", daemon=True)
    with runner.lock:
        runner.threads[jid] = t
    t.start()
    runner.start_heartbeat()
    return jid


def _finish(ctx: Any, jid: str, status: str, message: str, message_en: str, *, result: Any = None,
            errors: list[dict[str, Any]] | None = None) -> None:
    runner = _runner(ctx)
    st = runner.live.get(jid, {})
    for attempt in range(3):
        try:
            with ctx.db.session() as s:
                s.execute(update(Job).where(Job.id == jid).values(
                    status=status, message=str(message)[:500], message_en=str(message_en)[:500],
                    result=result, errors=errors or None, finished_at=utcnow(),
                    done=st.get("done", 0) if status == "failed" else (st.get("total") or st.get("done", 0)),
                    total=st.get("total")))
            return
        except Exception:  # noqa: BLE001 - e.g. a locked SQLite file: try again
            log.warning("could not record the end of job %s (attempt %d)", jid, attempt + 1, exc_info=True)
            time.sleep(0.5)


def wait(ctx: Any, job_id: str, timeout: float = 30.0) -> JobState:
    """Block until the job ends (tests, CLI); returns its state."""
    runner = _runner(ctx)
    t = runner.threads.get(job_id)
    if t is not None:
        t.join(timeout)
    return get(ctx, job_id)


def _interrupted(ctx: Any, row: Job, runner: _Runner) -> bool:
    if row.status not in ("queued", "running"):
        return False
    if row.runner == runner.id:
        return row.id not in runner.live  # our own thread is gone without finishing
    if ctx.db.is_sqlite:
        return True  # SQLite serves one process: another runner id is a previous boot
    beat = row.heartbeat_at or row.created_at
    return beat is None or utcnow() - beat > STALE_AFTER


def get(ctx: Any, job_id: str) -> JobState:
    """A job's state; one left behind by a restart is marked failed here."""
    runner = _runner(ctx)
    with ctx.db.session() as s:
        row = s.get(Job, str(job_id)[:32])
        if row is None:
            raise NotFound("任务不存在", "no such job")
        if _interrupted(ctx, row, runner):
            s.execute(update(Job).where(Job.id == row.id, Job.status.in_(("queued", "running"))).values(
                status="failed", message=INTERRUPTED[0], message_en=INTERRUPTED[1], finished_at=utcnow()))
            s.refresh(row)
        state = JobState(row.id, row.kind, row.owner, row.status, row.done, row.total, row.message,
                         row.message_en, row.result, list(row.errors or []), row.created_at, row.finished_at)
    live = runner.live.get(state.id)
    if live is not None and not state.finished:
        state.status = "running" if state.status == "queued" else state.status
        state.done, state.total = live["done"], live["total"]
        state.message, state.message_en = live["message"], live["message_en"]
    return state


def recent(ctx: Any, owner: int | None, limit: int = 20) -> list[str]:
    """Ids of the owner's latest jobs (newest first)."""
    with ctx.db.session() as s:
        return list(s.scalars(select(Job.id).where(Job.owner == owner).order_by(Job.created_at.desc())
                              .limit(limit)))
