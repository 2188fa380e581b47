/* nsdval report page: one button opens or closes every collapsed code cell. */
(function () {
  "use strict";
  var button = document.getElementById("show-code");
  if (!button) { return; }
  var cells = document.querySelectorAll(".notebook details.input");
  button.parentNode.hidden = false;
  button.addEventListener("click", function () {
    var open = button.getAttribute("aria-pressed") !== "true";
    for (var i = 0; i < cells.length; i++) { cells[i].open = open; }
    button.setAttribute("aria-pressed", open ? "true" : "false");
    button.textContent = open ? "hide all code" : "show all code";
  });
}());
