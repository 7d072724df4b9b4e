// Lesion Lens, New case page: say in words why dropped files were not uploaded.
// dcc.Upload drops files over its max_size without a word (they never reach the server), so the
// wrapper div carries the limits as data-* attributes and this script writes the reason beside it.
// Runs in the browser only: the file names it shows never leave the machine.
(function () {
  function mb(bytes) { return (bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0) + " MB"; }
  function check(files, box) {
    var out = document.getElementById(box.getAttribute("data-message-id"));
    if (!out || !files) { return; }
    var max = parseInt(box.getAttribute("data-max-bytes") || "0", 10);
    var maxTotal = parseInt(box.getAttribute("data-max-total-bytes") || "0", 10);
    var messages = [];
    var total = 0;
    for (var i = 0; i < files.length; i++) {
      if (max <= 0 || files[i].size <= max) { total += files[i].size; }
      if (max > 0 && files[i].size > max) {
        messages.push(files[i].name + " was not uploaded: it is " + mb(files[i].size) + ", the limit is " +
                      mb(max) + " per file.");
      } else if (files[i].size === 0) {
        messages.push(files[i].name + " was not uploaded: the file is empty.");
      }
    }
    if (maxTotal > 0 && total > maxTotal) {
      messages.push("These files add up to " + mb(total) + "; one upload can carry " + mb(maxTotal) +
                    ": drop them in smaller groups.");
    }
    out.textContent = messages.join(" ");
    out.style.display = messages.length ? "" : "none";
  }
  function boxOf(target) { return target && target.closest ? target.closest("[data-max-bytes]") : null; }
  document.addEventListener("drop", function (event) {
    var box = boxOf(event.target);
    if (box && event.dataTransfer) { check(event.dataTransfer.files, box); }
  }, true);
  document.addEventListener("change", function (event) {
    var box = boxOf(event.target);
    if (box && event.target.files) { check(event.target.files, box); }
  }, true);
})();
