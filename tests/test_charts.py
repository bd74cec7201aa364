"""core/charts.py: chart specs as data — readable defaults, every builder, safe embedding."""

from __future__ import annotations

import pytest
import html as html_lib
import json
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from ccms import charts

ROWS = [{"name": "姑苏区城市管理局市容环境卫生管理处", "on_time": 5, "late": 2, "url": "/x?k=1"},
        {"name": "吴中区", "on_time": 0, "late": 0, "url": "/x?k=2"},
        {"name": "相城区", "on_time": 3, "late": 1, "url": None}]


def test_every_builder_keeps_labels_at_12px_or_more_and_truncates_long_names():
    specs = [charts.bar(ROWS, label="name", values={"按期": "on_time"}, title="t", link="url"),
             charts.bar(ROWS, label="name", values={"按期": "on_time"}, horizontal=False),
             charts.stacked(ROWS, label="name", values={"按期": "on_time", "超期": "late"}),
             charts.line(ROWS, label="name", values={"按期": "on_time"}),
             charts.pie(ROWS, label="name", value="on_time")]
    for spec in specs:
        sizes = charts.font_sizes(spec)
        assert sizes and min(sizes) >= charts.MIN_FONT, spec["kind"]
        json.dumps(spec)  # plain data: no functions, embeddable as JSON
    bar = specs[0]
    assert bar["yAxis"]["axisLabel"]["overflow"] == "truncate" and bar["grid"]["containLabel"] is True
    assert bar["yAxis"]["data"][-1] == ROWS[0]["name"]  # the first row on top of a horizontal chart
    assert bar["links"] == [None, "/x?k=2", "/x?k=1"]
    assert bar["tooltip"]["renderMode"] == "richText"  # no HTML tooltip with inline styles (CSP)


def test_stacked_bars_share_a_stack_and_pie_leaves_out_empty_rows():
    spec = charts.stacked(ROWS, label="name", values={"按期": "on_time", "超期": "late"}, horizontal=False)
    assert [s["stack"] for s in spec["series"]] == ["total", "total"]
    assert spec["legend"]["show"] is True and spec["xAxis"]["axisLabel"]["rotate"] == 30
    pie = charts.pie(ROWS, label="name", value="on_time", link="url")
    assert [d["name"] for d in pie["series"][0]["data"]] == [ROWS[0]["name"], "相城区"]
    assert pie["links"] == ["/x?k=1", None]


def test_rows_may_be_objects_and_fields_callables():
    class R:
        def __init__(self, k: str, v: float) -> None:
            self.k, self.v = k, v
    spec = charts.line([R("2024-01", 1.234), R("2024-02", 2.0)], label="k", values={"v": lambda r: r.v * 2})
    assert spec["xAxis"]["data"] == ["2024-01", "2024-02"] and spec["series"][0]["data"] == [2.47, 4.0]


def test_the_template_embeds_the_spec_in_an_attribute_that_markup_cannot_escape():
    folder = Path(charts.__file__).resolve().parent / "themes" / "default" / "templates"
    env = Environment(loader=FileSystemLoader(str(folder)), autoescape=True)
    macro = env.from_string('{% from "_chart.html" import chart %}{{ chart(spec, "c1") }}')
    evil = "'></div><script>alert(1)</script>"
    spec = charts.bar([{"n": evil, "v": 1}], label="n", values={"v": "v"})
    html = macro.render(spec=spec)
    assert "<script" not in html and html.count("'") == 2
    attr = re.search(r"data-chart='([^']*)' data-testid=\"c1\"", html).group(1)
    assert json.loads(html_lib.unescape(attr))["yAxis"]["data"] == [evil]


@pytest.mark.needs_plugins("command")
def test_statistics_bars_name_grids_by_name_not_by_their_14_digit_code():
    from ccms.plugins.command import stats
    from ccms.plugins.command.stats_screens import bar_chart

    class Ctx:
        def gettext(self, key: str, **kw: object) -> str:
            return {"stats.unspecified": "未指定"}.get(key, key)
    rows = [stats.Row("32050800100101", "32050800100101 平江路网格1", {"reported": 3}),
            stats.Row("E0101", "E0101 私搭乱建", {"reported": 2}),
            stats.Row(stats.NONE_KEY, "", {"reported": 1}), stats.Row("x", "空", {"reported": 0})]
    spec = bar_chart(Ctx(), rows, "reported", "受理数", link=lambda m, k: f"/d?m={m}&k={k}")
    assert spec["yAxis"]["data"] == ["未指定", "E0101 私搭乱建", "平江路网格1"]  # the largest on top, zeros left out
    assert spec["links"][-1] == "/d?m=reported&k=32050800100101"
