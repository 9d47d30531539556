// The desk works without this script; it adds keyboard moves, live counts and keeps the focus.
(function () {
  "use strict";
  // After a change the page comes back with ?focus=ID: put the focus where the editor was.
  var params = new URLSearchParams(window.location.search);
  var focusId = params.get("focus");
  if (focusId) {
    var target = document.getElementById(focusId);
    if (target && !target.disabled) {
      target.focus();
    } else if (target) {
      var item = target.closest("[tabindex], li");
      if (item) { item.focus(); }
    }
    var moved = target && target.closest(".item");
    if (moved) { moved.classList.add("moved"); }
  }
  // Alt+ArrowUp / Alt+ArrowDown inside an item presses its Up / Down button.
  document.addEventListener("keydown", function (event) {
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) { return; }
    var item = event.target.closest && event.target.closest(".item");
    if (!item) { return; }
    var button = item.querySelector('button[data-key="' + (event.key === "ArrowUp" ? "up" : "down") + '"]');
    if (button && !button.disabled) { event.preventDefault(); button.click(); }
  });
  // Live character counts, and the part of the subject a phone cuts off.
  document.querySelectorAll("input[data-limit]").forEach(function (input) {
    var limit = parseInt(input.getAttribute("data-limit"), 10);
    var name = input.name;
    var count = document.querySelector("#" + name + "-count .n");
    var cut = document.getElementById(name + "-cut");
    function update() {
      var text = input.value;
      if (count) {
        count.textContent = String(Array.from(text).length);
        count.parentNode.classList.toggle("over", Array.from(text).length > limit);
      }
      if (cut) {
        cut.querySelector(".shown").textContent = Array.from(text).slice(0, limit).join("");
        cut.querySelector(".hidden-part").textContent = Array.from(text).slice(limit).join("");
      }
    }
    input.addEventListener("input", update);
  });
})();
