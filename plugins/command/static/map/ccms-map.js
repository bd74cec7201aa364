// 案件地图 / 网格地图 / 信息采集选点: Leaflet maps started from data attributes (CSP: no inline
// script or style; colours live in /static/command/map.css as classes).
//
// <div data-ccms-map="cases|grids|pick" data-map-config='{"base":{kind,crs,tiles}}'
//      data-map-text='{...labels}' [data-form="#id"] [data-query="street=..."]
//      [data-x-input="#id" data-y-input="#id" data-status="#id"]>
(function () {
  "use strict";
  var API = "/api/command/map/";

  function $(sel) { return sel ? document.querySelector(sel) : null; }
  function json(el, name) {
    try { return JSON.parse(el.getAttribute(name) || "{}"); } catch (e) { return {}; }
  }
  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { var err = new Error(body.message || r.statusText); err.body = body; throw err; }
          return body;
        });
      });
  }
  function text(tag, cls, value) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (value !== undefined) { el.textContent = value; }
    return el;
  }

  // --- base layer: tiles when configured, else the deployment's own GeoJSON --------------------
  function addBase(map, cfg, fitIfEmpty) {
    var base = cfg.base || { kind: "none", tiles: [] };
    if (base.kind !== "none" && base.tiles && base.tiles.length) {
      map.getContainer().classList.add("map-tiles");
      base.tiles.forEach(function (t) {
        L.tileLayer(t.url, { subdomains: t.subdomains || "abc", attribution: t.attribution || "",
                             maxZoom: 18 }).addTo(map);
      });
      return Promise.resolve(null);
    }
    map.getContainer().classList.add("map-own-base");
    return get(API + "base").then(function (fc) {
      var roads = fc.features.filter(function (f) { return f.properties.layer === "road"; });
      var areas = fc.features.filter(function (f) { return f.properties.layer !== "road"; });
      L.geoJSON({ type: "FeatureCollection", features: areas }, {
        interactive: false,
        style: function (f) { return { className: "mb-" + f.properties.layer }; },
        onEachFeature: function (f, layer) {
          if (f.properties.layer === "district" && f.properties.name) {
            layer.bindTooltip(f.properties.name, { permanent: true, direction: "center", className: "map-label map-label-district" });
          }
        }
      }).addTo(map);
      // roads: a grey casing under a white (or yellow, main) line, like a printed city map
      var casing = L.geoJSON({ type: "FeatureCollection", features: roads }, {
        interactive: false, style: function (f) { return { className: "mb-road-casing mb-" + (f.properties.kind || "road") + "-casing" }; }
      });
      var line = L.geoJSON({ type: "FeatureCollection", features: roads }, {
        interactive: false, style: function (f) { return { className: "mb-road mb-" + (f.properties.kind || "road") }; }
      });
      casing.addTo(map);
      line.addTo(map);
      roadLabels(map, roads);
      if (fitIfEmpty && fc.bbox) { fit(map, fc.bbox); }
      return fc;
    });
  }

  function roadLabels(map, roads) {
    var labels = L.layerGroup();
    roads.forEach(function (f) {
      var c = f.geometry.coordinates;
      if (!f.properties.name || f.geometry.type !== "LineString" || c.length < 2) { return; }
      // a two-point road (an avenue across the city) is labelled off its middle, where a district's name sits
      var k = c.length === 2 ? 0.3 : 0.5;
      var mid = c[Math.floor(c.length / 2)];
      var prev = c[Math.floor(c.length / 2) - 1];
      var p = [prev[1] + (mid[1] - prev[1]) * k, prev[0] + (mid[0] - prev[0]) * k];
      labels.addLayer(L.tooltip({ permanent: true, direction: "center", className: "map-label map-label-road",
                                  interactive: false }).setLatLng(p).setContent(f.properties.name));
    });
    function toggle() {
      if (map.getZoom() >= 15) { labels.addTo(map); } else { labels.remove(); }
    }
    map.on("zoomend", toggle);
    toggle();
  }

  function fit(map, bbox) {
    map.fitBounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], { padding: [12, 12], animate: false });
  }

  function bucket(n) {
    return n === 0 ? 0 : n <= 2 ? 1 : n <= 5 ? 2 : n <= 10 ? 3 : 4;
  }

  function newMap(el) {
    var map = L.map(el, { zoomControl: true, minZoom: 3, maxZoom: 19, zoomSnap: 0.25, preferCanvas: false });
    map.setView([31.3, 120.6], 13);
    // line widths follow the zoom (CSS: [data-zoom-band]), so a far view is not a blob of roads
    function band() {
      var z = map.getZoom();
      el.setAttribute("data-zoom-band", z < 14.5 ? "far" : z < 15.5 ? "mid" : "near");
    }
    map.on("zoomend", band);
    band();
    document.documentElement.classList.add("has-map");
    el.setAttribute("data-ready", "0");
    el.ccmsMap = map;  // for tests and other scripts of ours
    return map;
  }

  // --- 案件地图 ------------------------------------------------------------------------------------
  function casesMap(el) {
    var cfg = json(el, "data-map-config"), t = json(el, "data-map-text");
    var form = $(el.getAttribute("data-form"));
    var map = newMap(el);
    var grids = null, clusters = null, first = true;

    function query() {
      var q = new URLSearchParams();
      if (form) {
        new FormData(form).forEach(function (v, k) { if (v && k !== "csrf_token") { q.set(k, v); } });
      }
      return q.toString();
    }

    function popup(p) {
      var box = text("div", "map-popup");
      var a = text("a", "map-popup-no", p.case_no);
      a.href = p.href;
      a.setAttribute("data-testid", "map-popup-link");
      box.appendChild(a);
      box.appendChild(text("div", "", p.class_code + " " + p.class_name));
      if (p.address) { box.appendChild(text("div", "", p.address)); }
      var due = text("div", "cm-lvl cm-lvl-" + p.level, (p.due ? (t.due || "") + " " + p.due + " · " : "") + (t["level_" + p.level] || p.level));
      box.appendChild(due);
      return box;
    }

    function clusterIcon(cluster) {
      var worst = "none", rank = { red: 3, yellow: 2, green: 1, none: 0 };
      cluster.getAllChildMarkers().forEach(function (m) {
        if (rank[m.options.level] > rank[worst]) { worst = m.options.level; }
      });
      var n = cluster.getChildCount();
      var size = n < 10 ? 30 : n < 100 ? 36 : 44;
      return L.divIcon({ html: "<span>" + n + "</span>", className: "map-cluster map-cluster-" + worst,
                         iconSize: L.point(size, size) });
    }

    function load() {
      var q = query();
      el.setAttribute("data-ready", "0");
      return Promise.all([get(API + "grids?" + q), get(API + "cases?" + q)]).then(function (res) {
        var gfc = res[0], cfc = res[1];
        if (grids) { grids.remove(); }
        if (clusters) { clusters.remove(); }
        grids = L.geoJSON(gfc, {
          style: function (f) { return { className: "cm-grid-poly cm-b" + bucket(f.properties.open) }; },
          onEachFeature: function (f, layer) {
            var p = f.properties;
            layer.bindTooltip(p.code + " " + p.name + " · " + (t.open || "") + " " + p.open +
                              (p.overdue ? " · " + (t.overdue || "") + " " + p.overdue : ""), { sticky: true });
            layer.on("click", function () {
              var box = text("div", "map-popup");
              var a = text("a", "", p.code + " " + p.name);
              a.href = p.href;
              box.appendChild(a);
              box.appendChild(text("div", "", p.community));
              box.appendChild(text("div", "", (t.open || "") + " " + p.open + " · " + (t.overdue || "") + " " + p.overdue +
                                   " · " + (t.warning || "") + " " + p.warning));
              layer.bindPopup(box).openPopup();
            });
          }
        }).addTo(map);
        clusters = L.markerClusterGroup({ iconCreateFunction: clusterIcon, showCoverageOnHover: false,
                                          maxClusterRadius: 50, chunkedLoading: true });
        cfc.features.forEach(function (f) {
          var c = f.geometry.coordinates, p = f.properties;
          var m = L.circleMarker([c[1], c[0]], { radius: 7, level: p.level,
                                                 className: "map-case map-case-" + p.level });
          m.bindPopup(function () { return popup(p); });
          clusters.addLayer(m);
        });
        clusters.addTo(map);
        var note = $(el.getAttribute("data-count"));
        if (note) {
          note.textContent = (t.shown || "").replace("{shown}", cfc.shown).replace("{total}", cfc.total);
        }
        if (first && gfc.bbox) { fit(map, gfc.bbox); first = false; }
        el.setAttribute("data-cases", String(cfc.shown));
        el.setAttribute("data-grids", String(gfc.features.length));
        el.setAttribute("data-ready", "1");
      }).catch(function (err) {
        el.setAttribute("data-ready", "error");
        var note = $(el.getAttribute("data-count"));
        if (note) { note.textContent = err.message; }
      });
    }

    addBase(map, cfg, false).then(load);
    // the filters swap #casemap through htmx: reload the data layers with the same query
    document.body.addEventListener("htmx:afterSettle", function (e) {
      if (e.detail && e.detail.target && e.detail.target.id === "casemap") { load(); }
    });
  }

  // --- 网格地图 and the report form's point picker ------------------------------------------------
  function pickerMap(el, mode) {
    var cfg = json(el, "data-map-config"), t = json(el, "data-map-text");
    var xIn = $(el.getAttribute("data-x-input")), yIn = $(el.getAttribute("data-y-input"));
    var status = $(el.getAttribute("data-status"));
    var map = newMap(el);
    var marker = null, filling = false;

    function say(msg, bad) {
      if (!status) { return; }
      status.textContent = msg;
      status.classList.toggle("map-pick-error", !!bad);
    }

    function place(display) {
      var ll = [display[1], display[0]];
      if (marker) { marker.setLatLng(ll); } else {
        marker = L.circleMarker(ll, { radius: 9, className: "map-picked" }).addTo(map);
      }
    }

    function describe(loc) {
      return (t.grid || "") + " " + loc.grid_code + " " + loc.grid_name + " · " + loc.community_name + " · " + loc.street_name;
    }

    function pick(params, fill) {
      return get(API + "pick?" + params).then(function (r) {
        place(r.display);
        if (map.getZoom() < 16) { map.setView([r.display[1], r.display[0]], 16, { animate: false }); }  // close enough to refine
        if (fill && xIn && yIn) {
          xIn.value = r.x.toFixed(6);
          yIn.value = r.y.toFixed(6);
          filling = true;  // the form's own listeners (nearby cases) hear the change; ours ignores it
          yIn.dispatchEvent(new Event("change", { bubbles: true }));
          filling = false;
        }
        say(describe(r.location), false);
        el.setAttribute("data-picked", r.location.grid_code);
      }).catch(function (err) { say(err.message, true); el.setAttribute("data-picked", ""); });
    }

    var q = el.getAttribute("data-query") || "";
    addBase(map, cfg, true).then(function () {
      return get(API + "grids?" + q);
    }).then(function (gfc) {
      L.geoJSON(gfc, {
        style: function () { return { className: "cm-grid-poly cm-grid-plain" }; },
        onEachFeature: function (f, layer) {
          layer.bindTooltip(f.properties.code + " " + f.properties.name, { sticky: true });
        }
      }).addTo(map);
      if (gfc.bbox) { fit(map, gfc.bbox); }
      el.setAttribute("data-grids", String(gfc.features.length));
      if (xIn && yIn && xIn.value && yIn.value) {
        return pick("x=" + encodeURIComponent(xIn.value) + "&y=" + encodeURIComponent(yIn.value), false);
      }
    }).catch(function (err) { say(err.message, true); }).then(function () {
      el.setAttribute("data-ready", "1");
    });

    map.on("click", function (e) {
      var ll = e.latlng;
      pick("lon=" + ll.lng.toFixed(7) + "&lat=" + ll.lat.toFixed(7), true);
    });
    // a typed or device position moves the marker too
    [xIn, yIn].forEach(function (input) {
      if (!input) { return; }
      input.addEventListener("change", function () {
        if (!filling && xIn.value && yIn.value) {
          pick("x=" + encodeURIComponent(xIn.value) + "&y=" + encodeURIComponent(yIn.value), false);
        }
      });
    });
    if (mode === "grids") { el.setAttribute("data-mode", "grids"); }
  }

  function setup() {
    if (typeof L === "undefined") { return; }
    document.querySelectorAll("[data-ccms-map]").forEach(function (el) {
      var mode = el.getAttribute("data-ccms-map");
      if (mode === "cases") { casesMap(el); } else { pickerMap(el, mode); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setup); } else { setup(); }
})();
