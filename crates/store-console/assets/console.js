// The console's one script: the live tail. A table with a `data-stream` address gets the
// entries that stream sends, appended as rows, every value set as text (never as HTML).
(function () {
  "use strict";
  var table = document.querySelector("table.entries[data-stream]");
  if (!table) {
    return;
  }
  var state = document.getElementById("live-state");
  var source = new EventSource(table.getAttribute("data-stream"));
  source.onopen = function () {
    if (state) {
      state.textContent = "following";
    }
  };
  source.onmessage = function (event) {
    var entry = JSON.parse(event.data);
    var row = table.insertRow(-1);
    row.className = "live";
    [entry.id, entry.ts, entry.source, entry.type, entry.refId || "", entry.payload].forEach(
      function (value, i) {
        var cell = row.insertCell(-1);
        cell.textContent = String(value);
        if (i === 5) {
          cell.className = "payload";
        }
      }
    );
  };
  source.addEventListener("error", function (event) {
    if (state) {
      state.textContent = event.data ? "stopped: " + event.data : "reconnecting";
    }
  });
})();
