"""Deployment settings of monitoring (``[monitoring]``) and logging (``[logging]``).

Kept apart from :mod:`ccms.config` so that file only names the two sections.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HOURS_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-4]):([0-5]\d)$")


class MonitoringSettings(BaseModel):
    """``/readyz`` thresholds, the ``/metrics`` token and the 运行监控 sampler."""

    model_config = ConfigDict(extra="forbid")
    metrics_token: str = Field("", description="bearer token of /metrics; empty: /metrics always answers 401")
    min_free_mb: int = Field(1024, ge=0, description="/readyz fails below this much free disk (data and attachments)")
    workers: list[str] = Field(["flow_timers"], description="workers whose heartbeat /readyz requires")
    worker_stale_seconds: int = Field(180, ge=10, description="a heartbeat older than this counts as a dead worker")
    backup_dir: str = Field("backups", description="folder `ccms backup` writes to; its newest file gives the last backup age")
    sample_minutes: int = Field(1, ge=1, le=60, description="one history row every N minutes")
    retention_days: int = Field(14, ge=1, le=400, description="history rows older than this are deleted")
    late_after_seconds: int = Field(300, ge=1, description="a job or flow timer queued longer than this is late")

    @field_validator("metrics_token")
    @classmethod
    def _token(cls, v: str) -> str:
        if v and len(v) < 16:
            raise ValueError("metrics_token 至少需要16个字符 / metrics_token needs at least 16 characters")
        return v


class LoggingSettings(BaseModel):
    """Structured JSON logs and the thresholds of 日志分析's suspicious patterns."""

    model_config = ConfigDict(extra="forbid")
    access: str = Field("logs/access.log", description='access log file, "stdout", or "" (off)')
    system: str = Field("logs/system.log", description='system log file, "stdout", or "" (off)')
    level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    max_mb: int = Field(50, ge=1, description="rotate a log file at this size")
    backups: int = Field(10, ge=1, le=100, description="rotated files kept")
    search_max_mb: int = Field(200, ge=1, description="日志分析 reads at most this much of the log files")
    office_hours: str = Field("07:00-20:00", description="local time; logins outside are flagged")
    failed_login_burst: int = Field(5, ge=2, description="this many failed logins ...")
    failed_login_minutes: int = Field(10, ge=1, description="... within this many minutes is a burst")
    refusal_burst: int = Field(10, ge=2, description="this many 403 refusals ...")
    refusal_minutes: int = Field(10, ge=1, description="... within this many minutes is a burst")
    export_burst: int = Field(5, ge=1, description="this many exports by one person ...")
    export_minutes: int = Field(60, ge=1, description="... within this many minutes is flagged")
    export_rows: int = Field(10000, ge=1, description="one export of at least this many rows is flagged")
    new_address_days: int = Field(90, ge=1, description="a login from an address unseen for this long is flagged")

    @field_validator("office_hours")
    @classmethod
    def _hours(cls, v: str) -> str:
        if not _HOURS_RE.match(v.strip()):
            raise ValueError("office_hours 应形如 07:00-20:00 / office_hours must look like 07:00-20:00")
        return v.strip()

    def office_range(self) -> tuple[int, int]:
        """(start, end) in minutes after local midnight."""
        m = _HOURS_RE.match(self.office_hours)
        assert m
        h1, m1, h2, m2 = (int(x) for x in m.groups())
        return h1 * 60 + m1, h2 * 60 + m2
