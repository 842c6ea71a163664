// Filters for the scorecard's tables (status and section of the paper); see
// analysis_lib/paper/scorecard.py. Runs on every page and does nothing where no scorecard table is.
document.addEventListener("DOMContentLoaded", function () {
  ["tbl-scorecard-numbers", "tbl-scorecard-claims"].forEach(function (id) {
    var table = document.getElementById(id);
    if (!table || !table.tHead || !table.tBodies.length) { return; }
    var head = Array.prototype.map.call(table.tHead.rows[0].cells, function (c) {
      return c.textContent.trim();
    });
    var columns = [["Status", head.indexOf("Status")], ["Section", head.indexOf("Section")]];
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var cellValue = function (row, i) {
      var cell = row.cells[i];
      var badge = cell.querySelector(".sc-badge");
      return (badge ? badge.textContent : cell.textContent).trim();
    };
    var bar = document.createElement("div");
    bar.className = "sc-filters";
    bar.id = "sc-filters-" + id;
    var count = document.createElement("span");
    count.className = "sc-count";
    var selects = [];
    columns.forEach(function (spec) {
      if (spec[1] < 0) { return; }
      var values = [];
      rows.forEach(function (r) {
        var v = cellValue(r, spec[1]);
        if (values.indexOf(v) < 0) { values.push(v); }
      });
      var label = document.createElement("label");
      label.textContent = spec[0] + " ";
      var select = document.createElement("select");
      select.setAttribute("aria-label", "Filter by " + spec[0].toLowerCase());
      var all = document.createElement("option");
      all.value = "";
      all.textContent = "all";
      select.appendChild(all);
      values.forEach(function (v) {
        var o = document.createElement("option");
        o.value = v;
        o.textContent = v;
        select.appendChild(o);
      });
      select.addEventListener("change", apply);
      label.appendChild(select);
      bar.appendChild(label);
      selects.push([select, spec[1]]);
    });
    bar.appendChild(count);
    function apply() {
      var shown = 0;
      rows.forEach(function (r) {
        var ok = selects.every(function (s) {
          return !s[0].value || cellValue(r, s[1]) === s[0].value;
        });
        r.style.display = ok ? "" : "none";
        if (ok) { shown += 1; }
      });
      count.textContent = "showing " + shown + " of " + rows.length;
    }
    var anchor = table.closest(".pst-scrollable-table-container") || table;
    anchor.parentNode.insertBefore(bar, anchor);
    apply();
  });
});
