// The trainer inbox (console/training.py): "用选中的文字" copies the words selected in an entry's
// example text into that entity row, so the marked value is exactly as it is in the sentence.
// Without JavaScript the buttons stay hidden and the trainer types the value.
(function () {
  "use strict";

  document.querySelectorAll(".label-form").forEach(function (form) {
    var text = form.querySelector(".example-text");
    form.querySelectorAll(".entity-row").forEach(function (row) {
      var button = row.querySelector(".use-selection");
      var value = row.querySelector("input[type=text]");
      button.hidden = false;
      button.addEventListener("click", function () {
        var selected = text.value.substring(text.selectionStart, text.selectionEnd).trim();
        if (selected) value.value = selected;
      });
    });
  });
})();
