// List screens: the header checkbox selects or clears every row of the page.
// Delegated, so it keeps working after htmx swaps the list.
document.addEventListener("change", function (event) {
  var box = event.target;
  if (!box.matches || !box.matches("input[data-select-all]") || !box.form) {
    return;
  }
  box.form.querySelectorAll("input[type=checkbox][name=ids]").forEach(function (row) {
    row.checked = box.checked;
  });
});
