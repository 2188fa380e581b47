/* nsdval run index: filter the report table by status, subject, region, template and family, and
   sort it by any column header. Rows keep their server-side order (worst first) as the
   tie-breaker; nothing is fetched and no markup is built from data. */
(function () {
  "use strict";
  var form = document.getElementById("report-filters");
  var table = document.getElementById("reports-table");
  if (!form || !table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var shown = document.getElementById("reports-shown");
  var menus = Array.prototype.slice.call(form.querySelectorAll("select[data-filter]"));
  var heads = Array.prototype.slice.call(table.querySelectorAll("th[data-sort]"));
  var sortKeys = { rank: "rank", id: "id", template: "template", family: "family", subject: "subject",
                   region: "regionKey", seconds: "seconds" };

  rows.forEach(function (row, i) { row.setAttribute("data-order", String(i)); });

  function applyFilters() {
    var n = 0;
    rows.forEach(function (row) {
      var keep = menus.every(function (menu) {
        return !menu.value || row.getAttribute("data-" + menu.name) === menu.value;
      });
      row.hidden = !keep;
      if (keep) { n += 1; }
    });
    shown.textContent = n + " of " + rows.length + " reports";
    table.setAttribute("data-shown", String(n));
  }

  function value(row, key, type) {
    var text = row.dataset[sortKeys[key]] || "";
    if (type !== "num") { return text; }
    return text === "" ? Infinity : Number(text);
  }

  function sortBy(head) {
    var key = head.getAttribute("data-sort");
    var type = head.getAttribute("data-sort-type");
    var dir = head.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
    head.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var sorted = rows.slice().sort(function (a, b) {
      var x = value(a, key, type), y = value(b, key, type);
      if (x < y) { return -dir; }
      if (x > y) { return dir; }
      return Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
    });
    sorted.forEach(function (row) { body.appendChild(row); });
  }

  heads.forEach(function (head) {
    var button = head.querySelector("button.sort");
    var label = head.querySelector(".sort-label");
    button.hidden = false;
    if (label) { label.hidden = true; }
    button.addEventListener("click", function () { sortBy(head); });
  });
  form.addEventListener("change", applyFilters);
  form.addEventListener("input", applyFilters);
  form.addEventListener("reset", function () { window.setTimeout(applyFilters, 0); });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  form.hidden = false;
  applyFilters();
}());
