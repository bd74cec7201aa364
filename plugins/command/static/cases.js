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
