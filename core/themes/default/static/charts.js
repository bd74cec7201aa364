// Charts: every <div data-chart='{json}'> gets drawn by the vendored Apache
// ECharts from the spec in its data attribute (built by core/charts.py; no
// inline script, CSP intact; an attribute survives htmx swaps, which drop
// script tags).
// SVG renderer: text stays real text (crisp, selectable, testable font sizes).
// Re-run after htmx swaps; follow a data point's link on click; resize with
// the container. The table next to each chart is the accessible fallback.
(function () {
  "use strict";
  var NARROW = 480; // px: below this, vertical bar labels rotate further

  function specOf(el) {
    try {
      return JSON.parse(el.getAttribute("data-chart"));
    } catch (e) {
      return null;
    }
  }

  function draw(el) {
    if (el.dataset.chartReady || typeof echarts === "undefined") {
      return;
    }
    var spec = specOf(el);
    if (!spec) {
      return;
    }
    el.dataset.chartReady = "1";
    var links = spec.links || null;
    var height = spec.height || 300;
    delete spec.links;
    delete spec.height;
    delete spec.kind;
    delete spec.title; // the page's own heading names the chart
    el.style.height = height + "px";
    var narrow = el.clientWidth < NARROW;
    if (narrow && spec.xAxis && spec.xAxis.type === "category" && spec.xAxis.axisLabel &&
        spec.series && spec.series[0] && spec.series[0].type === "bar") {
      spec.xAxis.axisLabel.rotate = 45;
    }
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption(spec);
    if (links) {
      chart.on("click", function (p) {
        var url = links[p.dataIndex];
        if (url) {
          window.location.assign(url);
        }
      });
    }
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () { chart.resize(); }).observe(el);
    } else {
      window.addEventListener("resize", function () { chart.resize(); });
    }
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(); });
  } else {
    drawAll();
  }
  // htmx replaces the figures: draw the new charts, let the old ones go
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && typeof echarts !== "undefined") {
      target.querySelectorAll("[data-chart]").forEach(function (el) {
        var c = echarts.getInstanceByDom(el);
        if (c) { c.dispose(); }
      });
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    drawAll(document); // drawn charts are marked: only the new ones are drawn
  });
})();
