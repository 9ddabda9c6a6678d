// Menus are <details>: they work without JavaScript; this only closes an open one when
// the user clicks elsewhere or presses Escape.
(function () {
  var menus = document.querySelectorAll("[data-dropdown]");
  document.addEventListener("click", function (event) {
    menus.forEach(function (menu) {
      if (menu.open && !menu.contains(event.target)) { menu.open = false; }
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    menus.forEach(function (menu) {
      if (menu.open) { menu.open = false; menu.querySelector("summary").focus(); }
    });
  });
})();
