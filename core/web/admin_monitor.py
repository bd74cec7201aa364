"""应用维护 → 运行监控: the figures of ``/metrics`` for people, with history.

The readiness checks in detail (``/readyz`` tells anonymous callers only
ok/fail), this process's request counters, and the rows the sampler stored
drawn as sparklines: server-side SVG polylines, no script, no inline style.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .render import render
from .routing import requires

VIEW = "core.monitor.view"
RANGES = (1, 6, 24, 168)  # hours of history to show
SERIES = (  # (key in a sample row, label key, colour class)
    ("requests", "monitor.s.requests", "s-blue"),
    ("avg_ms", "monitor.s.avg_ms", "s-blue"),
    ("errors", "monitor.s.errors", "s-red"),
    ("refusals", "monitor.s.refusals", "s-red"),
    ("login_failures_hour", "monitor.s.login_failures", "s-red"),
    ("jobs_queued", "monitor.s.jobs_queued", "s-grey"),
    ("timers_late", "monitor.s.timers_late", "s-grey"),
    ("pool_checked_out", "monitor.s.pool", "s-grey"),
)
W, H = 240, 48


def sparkline(values: list[float | None]) -> dict[str, Any]:
    """SVG polyline points (``W``×``H`` box) for the non-empty values, plus min/max/last."""
    nums = [v for v in values if isinstance(v, (int, float))]
    if not nums:
        return {"points": "", "min": None, "max": None, "last": None}
    lo, hi = min(nums), max(nums)
    span = (hi - lo) or 1
    n = len(values)
    pts = []
    for i, v in enumerate(values):
        if not isinstance(v, (int, float)):
            continue
        x = round(i * (W - 2) / max(1, n - 1) + 1, 1)
        y = round(H - 2 - (v - lo) * (H - 4) / span, 1)
        pts.append(f"{x},{y}")
    if len(pts) == 1:  # one point: a short flat line so it shows
        x, y = pts[0].split(",")
        pts = [f"1,{y}", f"{W - 1},{y}"]
    return {"points": " ".join(pts), "min": lo, "max": hi, "last": next((v for v in reversed(values)
                                                                           if isinstance(v, (int, float))), None)}


def _duration(seconds: float | None) -> dict[str, Any] | None:
    if seconds is None:
        return None
    s = int(seconds)
    if s < 120:
        return {"key": "monitor.seconds", "n": s}
    if s < 7200:
        return {"key": "monitor.minutes", "n": s // 60}
    if s < 172800:
        return {"key": "monitor.hours", "n": s // 3600}
    return {"key": "monitor.days", "n": s // 86400}


@requires(VIEW)
def monitor_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    ctx.require(request.scope.get("user"), VIEW, None)  # platform-wide figures: a grant at the root org only
    try:
        hours = int(request.query_params.get("hours", "24"))
    except ValueError:
        hours = 24
    if hours not in RANGES:
        hours = 24
    mon = ctx.monitor
    ready = mon.readiness()
    snap = mon.snapshot() if ready["database"] else None
    history = mon.history(hours) if ready["database"] else []
    series = [{"key": key, "label": label, "cls": cls, **sparkline([row.get(key) for row in history])}
              for key, label, cls in SERIES]
    totals = mon.request_totals()
    cfg = ctx.deployment.monitoring
    data = {
        "ready": ready, "snap": snap, "totals": totals, "hours": hours, "ranges": RANGES,
        "series": series, "rows": list(reversed(history[-60:])), "w": W, "h": H,
        "avg_ms": round(totals["seconds"] * 1000 / totals["requests"], 1) if totals["requests"] else None,
        "backup_age": _duration(snap["backup_age"]) if snap else None,
        "heartbeats": {k: _duration(v) for k, v in (snap["heartbeats"] if snap else {}).items()},
        "disk_free": {k: v // (1024 * 1024) for k, v in (snap["disk_free"] if snap else {}).items()},
        "cfg": cfg, "metrics_on": bool(cfg.metrics_token),
        "breadcrumbs": [(ctx.gettext("monitor.title"), None)],
    }
    return render(request, "admin/monitor.html", data)


routes = [Route("/admin/monitor", monitor_page, name="admin-monitor")]
