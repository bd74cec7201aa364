// 信息采集: "use my position" fills longitude/latitude from the device (no inline script, CSP-safe).
(function () {
  "use strict";
  function setup() {
    var button = document.getElementById("case-use-position");
    if (!button) { return; }
    var lon = document.getElementById("f-lon");
    var lat = document.getElementById("f-lat");
    var status = document.getElementById("case-position-status");
    if (!navigator.geolocation) {
      button.disabled = true;
      if (status) { status.textContent = button.getAttribute("data-unsupported") || ""; }
      return;
    }
    button.addEventListener("click", function () {
      if (status) { status.textContent = button.getAttribute("data-busy") || ""; }
      navigator.geolocation.getCurrentPosition(function (pos) {
        lon.value = pos.coords.longitude.toFixed(6);
        lat.value = pos.coords.latitude.toFixed(6);
        if (status) { status.textContent = ""; }
        lat.dispatchEvent(new Event("change", { bubbles: true }));
      }, function (err) {
        if (status) { status.textContent = (button.getAttribute("data-failed") || "") + " " + err.message; }
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setup); } else { setup(); }
})();

// 案件详情: a case form refused by the server (422/409/403) comes back filled in with its errors
// next to the fields; htmx does not swap 4xx answers by default, so let these through, then
// move the focus to the first field in error.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail.elt;
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (elt && elt.closest && elt.closest("form.case-act") && status >= 400 && status < 500) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || !target.querySelector) { return; }
    var bad = target.querySelector("[aria-invalid=true], .case-error");
    if (bad) {
      var done = document.querySelector("[data-testid=case-done]");  // an earlier step's confirmation
      if (done) { done.remove(); }
      if (bad.focus && bad.matches("input, select, textarea")) { bad.focus(); }
      if (bad.scrollIntoView) { bad.scrollIntoView({ block: "center" }); }
    }
  });
})();
