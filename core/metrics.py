"""Operational figures: readiness checks, Prometheus metrics and their history.

One :class:`Monitor` per app (no process-global registry, so several
deployments can share a process). The request middleware calls
:meth:`Monitor.observe` once per request: a dict lookup and two increments.
Everything that needs the database (jobs, timers, failed logins, heartbeats)
is read only when ``/metrics`` is scraped, the 运行监控 screen is opened or
the sampler stores its row.

Workers prove they are alive with :func:`beat`: a row per worker name in
``core_heartbeat`` (the flow timer loop beats on every run).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import (
    Integer,
    String,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from . import migrate
from .db import Base, JSONType, UTCDateTime, sqlite_file, utcnow
from .flows.models import FlowTimer
from .jobs import Job
from .models import AuditLog

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("ccms.monitor")
UNMATCHED = "<unmatched>"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Heartbeat(Base):
    """The last sign of life of a background worker (``flow_timers`` ...)."""

    __tablename__ = "core_heartbeat"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MonitorSample(Base):
    """One row of 运行监控 history per sampling period and web process."""

    __tablename__ = "core_monitor_sample"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    worker: Mapped[str] = mapped_column(String(100), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    __table_args__ = (UniqueConstraint("at", "worker", name="uq_core_monitor_sample_at_worker"),)


def worker_name() -> str:
    """This process, as heartbeats and samples name it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(ctx: App, name: str, holder: str = "") -> None:
    """Record that worker ``name`` is alive now (an UPDATE, or the first INSERT)."""
    now = utcnow()
    with ctx.db.engine.begin() as conn:
        res = conn.execute(update(Heartbeat).where(Heartbeat.name == name).values(at=now, holder=holder[:100]))
        if res.rowcount:
            return
    try:
        with ctx.db.engine.begin() as conn:
            conn.execute(insert(Heartbeat).values(name=name, holder=holder[:100], at=now))
    except IntegrityError:
        pass  # another worker inserted it first: its beat is as good as ours


def _age(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def last_backup_at(ctx: App) -> dt.datetime | None:
    """When this deployment's newest backup file in ``[monitoring] backup_dir``
    (default ``backups/``, where ``ccms backup`` writes) was made."""
    # lazy: the backup package pulls in crypto; only the metrics scrape needs it
    from .backup import (
        latest,  # the backup package pulls in crypto; only the metrics scrape needs it
    )
    folder = ctx.deployment.monitoring.backup_dir
    if not folder:
        return None
    root = ctx.deployment.resolve(folder)
    if not root.is_dir():
        return None
    found = latest(root, ctx.deployment.identity)
    return found[0] if found else None


def watched_paths(ctx: App) -> dict[str, Path]:
    """Folders whose free space matters: the SQLite file's, attachments, logs."""
    dep = ctx.deployment
    out = {"data": Path(dep.base_dir), "attachments": dep.resolve(dep.attachments_dir)}
    db_file = sqlite_file(ctx.db.url)
    if db_file is not None:
        out["data"] = db_file.parent
    return out


def disk_free(ctx: App) -> dict[str, int]:
    """Free bytes of each watched folder (its nearest existing parent)."""
    out: dict[str, int] = {}
    for name, path in watched_paths(ctx).items():
        p = path.absolute()
        while not p.exists() and p != p.parent:
            p = p.parent
        try:
            out[name] = shutil.disk_usage(p).free
        except OSError:
            continue
    return out


class Monitor:
    """Request counters, readiness and the sampler of one deployment."""

    def __init__(self, ctx: App) -> None:
        self.ctx = ctx
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("ccms_http_requests", "HTTP requests by route template, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("ccms_http_request_duration_seconds", "HTTP request latency by route template",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_StateCollector(self))
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        # Plain totals for the sampler's per-period deltas (a lost increment under a race is harmless).
        self.totals = {"requests": 0, "errors": 0, "refusals": 0, "seconds": 0.0}
        self._last_totals = dict(self.totals)
        self._heads: dict[str, str | None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.worker = ""

    # -- hot path -------------------------------------------------------------

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = (self.requests.labels(route, method, str(status)),
                                          self.latency.labels(route))
        pair[0].inc()
        pair[1].observe(seconds)
        t = self.totals
        t["requests"] += 1
        t["seconds"] += seconds
        if status >= 500:
            t["errors"] += 1
        elif status == 403:
            t["refusals"] += 1

    # -- readiness -----------------------------------------------------------------

    def _migration_heads(self) -> dict[str, str | None]:
        if self._heads is None:

            self._heads = {table: ",".join(ScriptDirectory(str(folder)).get_heads()) or None
                           for _owner, folder, table in migrate.histories(self.ctx.plugins)}
        return self._heads

    def readiness(self) -> dict[str, bool]:
        """``database``, ``migrations``, ``workers`` and ``disk``: True when fine."""
        ctx = self.ctx
        checks = {"database": False, "migrations": False, "workers": False, "disk": False}
        try:
            with ctx.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                checks["database"] = True
                checks["migrations"] = self._migrations_current(conn)
                checks["workers"] = all(age is not None and age <= ctx.deployment.monitoring.worker_stale_seconds
                                        for age in self._heartbeat_ages(conn).values())
        except SQLAlchemyError:
            log.warning("readiness: database check failed", exc_info=True)
        need = ctx.deployment.monitoring.min_free_mb * 1024 * 1024
        free = disk_free(ctx)
        checks["disk"] = bool(free) and all(v >= need for v in free.values())
        return checks

    def _migrations_current(self, conn: Any) -> bool:
        for table, head in self._migration_heads().items():
            applied = MigrationContext.configure(conn, opts={"version_table": table}).get_current_revision()
            if applied != head:
                return False
        return True

    def _heartbeat_ages(self, conn: Any) -> dict[str, float | None]:
        wanted = self.ctx.deployment.monitoring.workers
        if not wanted:
            return {}
        now = utcnow()
        seen = {r.name: r.at for r in conn.execute(select(Heartbeat.name, Heartbeat.at)
                                                    .where(Heartbeat.name.in_(wanted)))}
        return {name: _age(now, seen.get(name)) for name in wanted}

    # -- figures ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every figure that is not a request counter, read now."""

        ctx = self.ctx
        now = utcnow()
        late = now - dt.timedelta(seconds=ctx.deployment.monitoring.late_after_seconds)
        out: dict[str, Any] = {"pool": _pool_stats(ctx.db.engine)}
        with ctx.db.engine.connect() as conn:
            jobs = dict(conn.execute(select(Job.status, func.count()).where(Job.status.in_(("queued", "running")))
                                     .group_by(Job.status)).all())
            out["jobs_queued"] = int(jobs.get("queued", 0))
            out["jobs_running"] = int(jobs.get("running", 0))
            out["jobs_late"] = int(conn.scalar(select(func.count()).select_from(Job).where(
                Job.status == "queued", Job.created_at < late)) or 0)
            pending = (FlowTimer.fired_at.is_(None), FlowTimer.cancelled.is_(False))
            out["timers_queued"] = int(conn.scalar(select(func.count()).select_from(FlowTimer).where(*pending)) or 0)
            out["timers_late"] = int(conn.scalar(select(func.count()).select_from(FlowTimer).where(
                *pending, FlowTimer.fire_at < late)) or 0)
            out["login_failures_total"] = _login_failures(conn)
            out["login_failures_hour"] = _login_failures(conn, now - dt.timedelta(hours=1))
            out["heartbeats"] = self._heartbeat_ages(conn)
        backup = last_backup_at(ctx)
        out["backup_age"] = _age(now, backup)
        out["disk_free"] = disk_free(ctx)
        return out

    def request_totals(self) -> dict[str, float]:
        return dict(self.totals)

    # -- sampler -----------------------------------------------------------------------

    def sample(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Store one history row (this process's requests since the last row plus
        the snapshot), then delete rows past the retention."""
        settings = self.ctx.deployment.monitoring
        now = now or utcnow()
        period = settings.sample_minutes * 60
        bucket = dt.datetime.fromtimestamp(math.floor(now.timestamp() / period) * period, dt.UTC)
        totals = self.request_totals()
        delta = {k: totals[k] - self._last_totals.get(k, 0) for k in totals}
        self._last_totals = totals
        snap = self.snapshot()
        data = {"requests": int(delta["requests"]), "errors": int(delta["errors"]),
                "refusals": int(delta["refusals"]),
                "avg_ms": round(delta["seconds"] * 1000 / delta["requests"], 1) if delta["requests"] else None,
                **{k: snap[k] for k in ("jobs_queued", "jobs_running", "jobs_late", "timers_queued", "timers_late",
                                        "login_failures_hour", "backup_age")},
                "pool_checked_out": snap["pool"].get("checked_out"),
                "disk_free_mb": {k: v // (1024 * 1024) for k, v in snap["disk_free"].items()}}
        with self.ctx.db.engine.begin() as conn:
            conn.execute(delete(MonitorSample).where(
                MonitorSample.at < now - dt.timedelta(days=settings.retention_days)))
            try:
                with conn.begin_nested():
                    conn.execute(insert(MonitorSample).values(at=bucket, worker=self.worker[:100], data=data))
            except IntegrityError:
                pass  # this process already sampled the period
        return data

    def start(self) -> None:
        """Start the sampler thread (app start-up)."""
        if self._thread is not None:
            return
        self.worker = worker_name()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ccms-monitor-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        period = self.ctx.deployment.monitoring.sample_minutes * 60
        while not self._stop.wait(period - (time.time() % period) + 0.5):
            try:
                self.sample()
            except Exception:
                log.exception("monitor sampler failed")

    def history(self, hours: int = 24) -> list[dict[str, Any]]:
        """Rows of the last ``hours``, oldest first, one per period (processes summed)."""
        since = utcnow() - dt.timedelta(hours=hours)
        with self.ctx.db.engine.connect() as conn:
            rows = conn.execute(select(MonitorSample.at, MonitorSample.data).where(MonitorSample.at >= since)
                                .order_by(MonitorSample.at, MonitorSample.id)).all()
        merged: dict[dt.datetime, dict[str, Any]] = {}
        for at, data in rows:
            m = merged.get(at)
            if m is None:
                merged[at] = {"at": at, **data}
                continue
            total = (m["requests"] or 0) + (data.get("requests") or 0)
            if total:
                m["avg_ms"] = round(((m.get("avg_ms") or 0) * (m["requests"] or 0)
                                     + (data.get("avg_ms") or 0) * (data.get("requests") or 0)) / total, 1)
            for k in ("requests", "errors", "refusals"):
                m[k] = (m.get(k) or 0) + (data.get(k) or 0)
        return list(merged.values())


def _login_failures(conn: Any, since: dt.datetime | None = None) -> int:
    """Failed logins in the audit log: one entry each, plus the attempts that
    login throttling wrote as one aggregate entry per address and window."""
    when = [AuditLog.at >= since] if since is not None else []
    single = conn.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "login_failed", *when)) or 0
    aggregated = conn.scalar(select(func.coalesce(func.sum(AuditLog.after["attempts"].as_integer()), 0)).where(
        AuditLog.action == "login_failed_aggregate", *when)) or 0
    return int(single) + int(aggregated)


def _pool_stats(engine: Any) -> dict[str, int]:
    pool = engine.pool
    out: dict[str, int] = {}
    for name, attr in (("size", "size"), ("checked_out", "checkedout"), ("overflow", "overflow"),
                       ("checked_in", "checkedin")):
        fn = getattr(pool, attr, None)
        if callable(fn):
            out[name] = max(0, int(fn()))  # QueuePool.overflow() counts up from -size
    return out


class _StateCollector(Collector):
    """Figures read at scrape time (database, disk, backup)."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Any]:
        m = self.monitor
        ready = m.readiness()
        g = GaugeMetricFamily("ccms_ready", "1 when the readiness check passes", labels=["check"])
        for name, ok in ready.items():
            g.add_metric([name], 1.0 if ok else 0.0)
        yield g
        if not ready["database"]:
            return
        snap = m.snapshot()
        g = GaugeMetricFamily("ccms_db_pool_connections", "database connection pool", labels=["state"])
        for name, v in snap["pool"].items():
            g.add_metric([name], v)
        yield g
        g = GaugeMetricFamily("ccms_jobs", "background jobs by state", labels=["state"])
        for state in ("queued", "running", "late"):
            g.add_metric([state], snap[f"jobs_{state}"])
        yield g
        g = GaugeMetricFamily("ccms_flow_timers", "flow timers not yet fired", labels=["state"])
        g.add_metric(["queued"], snap["timers_queued"])
        g.add_metric(["late"], snap["timers_late"])
        yield g
        yield CounterMetricFamily("ccms_login_failures", "failed logins (from the audit log)",
                                  value=snap["login_failures_total"])
        g = GaugeMetricFamily("ccms_worker_heartbeat_age_seconds", "seconds since a worker's last heartbeat",
                              labels=["worker"])
        for name, age in snap["heartbeats"].items():
            g.add_metric([name], age if age is not None else math.inf)
        yield g
        g = GaugeMetricFamily("ccms_last_backup_age_seconds", "seconds since the newest backup manifest "
                              "(+Inf: none found)")
        g.add_metric([], snap["backup_age"] if snap["backup_age"] is not None else math.inf)
        yield g
        g = GaugeMetricFamily("ccms_disk_free_bytes", "free disk space", labels=["path"])
        for name, v in snap["disk_free"].items():
            g.add_metric([name], v)
        yield g
