/* Forms from JSON Schema (core/forms/compose.py, render.py): variant choosers and conditional fields.
 * A variant chooser (<select data-ccms-variants>) shows the fieldset of the chosen variant and
 * disables the inputs of the others (so they are not posted). A conditional block
 * ([data-ccms-when], a list of simple clauses written by the server) is shown while every clause
 * holds; the server judges again on save and drops values of fields whose condition does not hold.
 * No inline script (CSP): this file is loaded by forms/_fields.html. */
(function () {
  "use strict";

  function setEnabled(box, on) {
    box.hidden = !on;
    box.querySelectorAll("input, select, textarea, button").forEach(function (el) {
      if (on) { if (el.dataset.ccmsOff) { el.disabled = false; delete el.dataset.ccmsOff; } }
      else if (!el.disabled) { el.disabled = true; el.dataset.ccmsOff = "1"; }
    });
  }

  function valueOf(form, name) {
    var els = form.querySelectorAll('[name="' + CSS.escape(name) + '"]');
    var out = "";
    els.forEach(function (el) {
      if (el.disabled) return;
      if (el.type === "checkbox") { if (el.value === "1") out = el.checked ? "true" : "false"; }
      else if (el.type === "radio") { if (el.checked) out = el.value; }
      else if (el.type !== "hidden" || out === "") { out = el.value; }
    });
    return out;
  }

  function holds(form, clauses) {
    return clauses.every(function (c) {
      var v = valueOf(form, c.field);
      if (c.filled) return v !== "";
      var ok = v === "" ? !c.required : c["in"].indexOf(v) >= 0;
      return c.not ? !ok : ok;
    });
  }

  function refresh(form) {
    form.querySelectorAll("select[data-testid^='variant-select-']").forEach(function (sel) {
      var box = sel.closest("[data-ccms-variants]");
      box.querySelectorAll(":scope > fieldset[data-ccms-variant-of]").forEach(function (fs) {
        setEnabled(fs, fs.dataset.ccmsVariant === sel.value);
      });
    });
    form.querySelectorAll("[data-ccms-when]").forEach(function (box) {
      var clauses;
      try { clauses = JSON.parse(box.dataset.ccmsWhen); } catch (e) { return; }
      var inHiddenVariant = box.closest("fieldset[data-ccms-variant-of][hidden]");
      setEnabled(box, !inHiddenVariant && holds(form, clauses));
    });
  }

  function init() {
    document.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector("[data-ccms-variants], [data-ccms-when]")) return;
      refresh(form);
      form.addEventListener("change", function () { refresh(form); });
      form.addEventListener("input", function () { refresh(form); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
