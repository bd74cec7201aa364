"""Chart specs as data: screens declare a chart from their rows, the browser draws it.

A spec is an Apache ECharts option (plain JSON, no functions) with the
platform's readable defaults: Chinese labels at 12 px or more, axis labels
that truncate with an ellipsis or rotate instead of being clipped, a height
that grows with the number of bars, and an optional link per data point
(clicking a bar opens the cases behind it). The page embeds it in a
``<script type="application/json">`` block next to a ``<div data-chart>``
(``templates/_chart.html``); ``static/charts.js`` draws it with the vendored
ECharts (SVG renderer) and keeps the data table as the fallback. No inline
script, so the CSP stays ``script-src 'self'``.

    spec = charts.bar(rows, label="label", values={"上报数": "reported"}, title="按区 上报数")

Every builder takes rows as mappings or objects and the names of the fields
to read, so a plugin passes its query result as is.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

MIN_FONT = 12          # px: the smallest text on any chart (issue 11, item 16)
FONT = 13
LABEL_WIDTH = 120      # px: a category label longer than this ends in "…"
BAR_ROW = 30           # px per bar of a horizontal bar chart
PALETTE = ["#2f81f7", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bc4c00", "#0969da", "#57606a"]

Row = Any  # a mapping or an object with the named attributes
Field = str | Callable[[Any], Any]


def _get(row: Row, field: Field) -> Any:
    if callable(field):
        return field(row)
    if isinstance(row, Mapping):
        return row.get(field)
    return getattr(row, field, None)


def _num(v: Any) -> float | int | None:
    if v is None:
        return None
    return round(v, 2) if isinstance(v, float) else v


def _base(title: str, kind: str) -> dict[str, Any]:
    return {
        "kind": kind,  # read by charts.js (not an ECharts key: removed before setOption)
        "title": title,
        "color": PALETTE,
        "textStyle": {"fontSize": FONT, "fontFamily": "system-ui, -apple-system, 'PingFang SC', "
                      "'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif"},
        "animation": False,
        # rich-text tooltips are drawn inside the chart: no HTML with inline styles (CSP style-src 'self')
        "tooltip": {"trigger": "axis" if kind != "pie" else "item", "renderMode": "richText",
                    "textStyle": {"fontSize": FONT}, "confine": True},
        "aria": {"enabled": True},
    }


def _legend(names: list[str]) -> dict[str, Any]:
    return {"show": len(names) > 1, "type": "plain", "top": 0, "textStyle": {"fontSize": FONT}}


def _links(rows: list[Row], link: Field | None) -> list[str | None] | None:
    if link is None:
        return None
    return [_get(r, link) for r in rows]


def bar(rows: Iterable[Row], *, label: Field, values: Mapping[str, Field], title: str = "",
        horizontal: bool = True, stacked: bool = False, link: Field | None = None,
        value_suffix: str = "", integer: bool = True) -> dict[str, Any]:
    """A bar chart: one bar per row, one series per entry of ``values`` (series name -> field).

    Horizontal by default: long Chinese names read best along the y axis on a
    phone. ``stacked`` stacks the series; ``link`` gives each row's URL; ``integer``
    keeps the value axis on whole numbers (counts).
    """
    rows = list(rows)
    cats = [str(_get(r, label) or "") for r in rows]
    if horizontal:  # the first row on top
        rows, cats = rows[::-1], cats[::-1]
    spec = _base(title, "bar")
    cat_axis = {"type": "category", "data": cats,
                "axisLabel": {"fontSize": MIN_FONT, "width": LABEL_WIDTH, "overflow": "truncate",
                              "interval": 0, "hideOverlap": not horizontal},
                "axisTick": {"alignWithLabel": True}}
    val_axis = {"type": "value", "minInterval": 1 if integer else 0,
                "axisLabel": {"fontSize": MIN_FONT, "hideOverlap": True,
                              **({"formatter": "{value}" + value_suffix} if value_suffix else {})},
                "splitLine": {"lineStyle": {"color": "#d8dee4"}}}
    spec["xAxis"], spec["yAxis"] = (val_axis, cat_axis) if horizontal else (cat_axis, val_axis)
    if not horizontal:
        cat_axis["axisLabel"].update({"rotate": 30 if max((len(c) for c in cats), default=0) > 4 else 0,
                                      "width": 90})
    spec["grid"] = {"left": 8, "right": 48, "top": 32 if len(values) > 1 else 12, "bottom": 8, "containLabel": True}
    spec["legend"] = _legend(list(values))
    series = []
    for name, field in values.items():
        s: dict[str, Any] = {"type": "bar", "name": name, "data": [_num(_get(r, field)) for r in rows],
                             "barMaxWidth": 28}
        if stacked:
            s["stack"] = "total"
        if len(values) == 1 or not stacked:
            s["label"] = {"show": True, "position": "right" if horizontal else "top", "fontSize": MIN_FONT,
                          **({"formatter": "{c}" + value_suffix} if value_suffix else {})}
        series.append(s)
    spec["series"] = series
    spec["links"] = _links(rows, link)
    n = len(cats)
    spec["height"] = max(160, n * BAR_ROW + 60) if horizontal else 320
    return spec


def line(rows: Iterable[Row], *, label: Field, values: Mapping[str, Field], title: str = "",
         link: Field | None = None, area: bool = False) -> dict[str, Any]:
    """A line chart over ordered categories (months, days): one line per entry of ``values``."""
    rows = list(rows)
    spec = _base(title, "line")
    spec["xAxis"] = {"type": "category", "boundaryGap": False, "data": [str(_get(r, label) or "") for r in rows],
                     "axisLabel": {"fontSize": MIN_FONT, "hideOverlap": True}}
    spec["yAxis"] = {"type": "value", "minInterval": 1, "axisLabel": {"fontSize": MIN_FONT},
                     "splitLine": {"lineStyle": {"color": "#d8dee4"}}}
    spec["grid"] = {"left": 8, "right": 24, "top": 32 if len(values) > 1 else 16, "bottom": 8, "containLabel": True}
    spec["legend"] = _legend(list(values))
    spec["series"] = [{"type": "line", "name": name, "data": [_num(_get(r, f)) for r in rows], "symbolSize": 7,
                       **({"areaStyle": {"opacity": .15}} if area else {})} for name, f in values.items()]
    spec["links"] = _links(rows, link)
    spec["height"] = 280
    return spec


def pie(rows: Iterable[Row], *, label: Field, value: Field, title: str = "", link: Field | None = None) -> dict[str, Any]:
    """A ring chart of shares (rows with a zero or missing value are left out)."""
    rows = [r for r in rows if _get(r, value)]
    spec = _base(title, "pie")
    spec["legend"] = {"show": True, "type": "scroll", "bottom": 0, "textStyle": {"fontSize": MIN_FONT}}
    spec["series"] = [{"type": "pie", "name": title, "radius": ["35%", "65%"], "center": ["50%", "45%"],
                       "data": [{"name": str(_get(r, label) or ""), "value": _num(_get(r, value))} for r in rows],
                       "label": {"fontSize": MIN_FONT, "formatter": "{b}\n{d}%", "overflow": "truncate",
                                 "width": LABEL_WIDTH},
                       "avoidLabelOverlap": True}]
    spec["links"] = _links(rows, link)
    spec["height"] = 320
    return spec


def stacked(rows: Iterable[Row], *, label: Field, values: Mapping[str, Field], title: str = "",
            horizontal: bool = True, link: Field | None = None) -> dict[str, Any]:
    """A stacked bar chart (e.g. on time / overdue per department)."""
    return bar(rows, label=label, values=values, title=title, horizontal=horizontal, stacked=True, link=link)


def font_sizes(spec: Any) -> list[int]:
    """Every ``fontSize`` in a spec (the readability test asserts none is below :data:`MIN_FONT`)."""
    out: list[int] = []
    if isinstance(spec, Mapping):
        for k, v in spec.items():
            if k == "fontSize" and isinstance(v, (int, float)):
                out.append(int(v))
            else:
                out += font_sizes(v)
    elif isinstance(spec, list):
        for v in spec:
            out += font_sizes(v)
    return out
