/* The side menu (themes/default/templates/base.html): folding groups that stay as the user
   left them, and a search box that finds an entry by name or pinyin initials ("ajgl" → 案件管理).
   The server puts what to match in data-search (core/menus.py); no inline script (CSP). */
(function () {
  "use strict";
  var KEY = "ccms.menu.open";

  function load() {
    try { return JSON.parse(window.localStorage.getItem(KEY) || "{}") || {}; } catch (e) { return {}; }
  }
  function save(state) {
    try { window.localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode: forget */ }
  }
  function norm(text) { return (text || "").toLowerCase().replace(/\s+/g, ""); }

  function init() {
    var nav = document.querySelector("nav.sidebar");
    if (!nav) { return; }
    var groups = Array.prototype.slice.call(nav.querySelectorAll("details[data-group]"));
    var state = load();
    var filtering = false;

    // Reopen what the user left open; the current page's group (data-current) always stays open.
    groups.forEach(function (d) {
      var id = d.getAttribute("data-group");
      if (!d.hasAttribute("data-current") && Object.prototype.hasOwnProperty.call(state, id)) {
        d.open = !!state[id];
      }
      d.addEventListener("toggle", function () {
        if (filtering) { return; }  // opened by a search, not by the user
        state[id] = d.open;
        save(state);
      });
    });

    var box = nav.querySelector("[data-menu-search]");
    var input = box && box.querySelector("input");
    var none = box && box.querySelector(".menu-none");
    if (!input) { return; }
    box.hidden = false;

    function visibleLinks() {
      return Array.prototype.slice.call(nav.querySelectorAll("#menu-list a")).filter(function (a) {
        return a.offsetParent !== null;
      });
    }

    function hit(el, q) {
      var hay = (el.getAttribute("data-search") || "").toLowerCase();
      return hay.replace(/ /g, "").indexOf(q) >= 0 || hay.split(" ").some(function (w) { return w.indexOf(q) >= 0; });
    }

    function filter() {
      var q = norm(input.value);
      var any = false;
      filtering = q !== "";
      Array.prototype.forEach.call(nav.querySelectorAll("#menu-list > li"), function (li) {
        var details = li.querySelector("details");
        if (!details) {
          var show = !q || hit(li, q);
          li.hidden = !show;
          any = any || show;
          return;
        }
        var whole = q && hit(li, q);  // the group's own name matches: show all of it
        var shown = 0;
        Array.prototype.forEach.call(details.querySelectorAll("li[data-search]"), function (item) {
          var show = !q || whole || hit(item, q);
          item.hidden = !show;
          if (show) { shown += 1; }
        });
        li.hidden = shown === 0;
        any = any || shown > 0;
        if (q) {
          details.open = shown > 0;
        } else {
          var id = details.getAttribute("data-group");
          details.open = details.hasAttribute("data-current") ||
            (Object.prototype.hasOwnProperty.call(state, id) ? !!state[id] : details.hasAttribute("data-default-open"));
        }
      });
      if (none) { none.hidden = any || !q; }
    }

    groups.forEach(function (d) { if (d.open) { d.setAttribute("data-default-open", ""); } });
    input.addEventListener("input", filter);
    input.addEventListener("keydown", function (ev) {
      var links = visibleLinks();
      if (ev.key === "ArrowDown" && links.length) {
        ev.preventDefault();
        links[0].focus();
      } else if (ev.key === "Enter" && norm(input.value) && links.length) {
        ev.preventDefault();
        window.location.assign(links[0].getAttribute("href"));
      } else if (ev.key === "Escape" && input.value) {
        ev.preventDefault();
        input.value = "";
        filter();
      }
    });
    // Arrow keys walk the entries shown; Escape goes back to the search box.
    nav.querySelector("#menu-list").addEventListener("keydown", function (ev) {
      if (ev.target.tagName !== "A") { return; }
      var links = visibleLinks();
      var i = links.indexOf(ev.target);
      if (ev.key === "ArrowDown" && i < links.length - 1) {
        ev.preventDefault();
        links[i + 1].focus();
      } else if (ev.key === "ArrowUp") {
        ev.preventDefault();
        if (i > 0) { links[i - 1].focus(); } else { input.focus(); }
      } else if (ev.key === "Escape") {
        ev.preventDefault();
        input.focus();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
