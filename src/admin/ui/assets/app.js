// gemini-gateway admin UI: the little script the pages use. Everything works without it except
// the live refresh (pages with data-refresh reload their main section) and the copy button.
(function () {
  "use strict";
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var el = document.getElementById(b.getAttribute("data-copy"));
      if (!el) { return; }
      var text = el.textContent;
      var done = function () { b.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () {});
      } else {
        var range = document.createRange();
        range.selectNodeContents(el);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        try { document.execCommand("copy"); done(); } catch (e) { /* selected: copy by hand */ }
      }
    });
  });
  var main = document.getElementById("main");
  var every = main && Number(main.getAttribute("data-refresh"));
  if (every > 0) {
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(window.location.pathname, { credentials: "same-origin", headers: { "x-requested-with": "refresh" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("main");
          if (fresh) { main.innerHTML = fresh.innerHTML; }
        })
        .catch(function () {});
    }, every * 1000);
  }
})();
