// The desk works without this script; it adds keyboard moves, live counts and keeps the focus.
(function () {
  "use strict";
  // After a change the page comes back with ?focus=ID: put the focus where the editor was.
  var params = new URLSearchParams(window.location.search);
  var focusId = params.get("focus");
  // A control inside a closed "Move…" or "Rename…" panel: open the panel first (else it cannot take
  // the focus); the same for a link to a field (a finding) inside one.
  function reveal(element) {
    for (var d = element && element.closest("details"); d; d = d.parentElement.closest("details")) {
      d.open = true;
    }
  }
  function revealHash() {
    var shown = document.getElementById(window.location.hash.slice(1));
    reveal(shown);
    if (shown) { shown.scrollIntoView(); }
  }
  window.addEventListener("hashchange", revealHash);
  if (window.location.hash && !focusId) { revealHash(); }
  if (focusId) {
    var target = document.getElementById(focusId);
    reveal(target);
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
  // After a change `check` runs again: fetch its findings into the page and say what it found.
  var pending = document.querySelector("#findings[data-load]");
  if (pending) {
    fetch(pending.getAttribute("data-load") + "?panel=1", { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("check failed (" + response.status + ")"); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("findings");
        if (!fresh) { throw new Error("check's page has no findings"); }
        pending.replaceWith(document.adoptNode(fresh));
        say(fresh.querySelector("h2").textContent + ".", /\b0 error/.test(fresh.textContent) ? "done" : "error");
      })
      .catch(function (error) { say("Check did not finish: " + error.message, "error"); });
  }
  function say(text, category) {
    var line = document.createElement("p");
    line.className = "message " + category;
    line.textContent = text;
    document.getElementById("announce").appendChild(line);
  }
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
