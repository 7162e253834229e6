// The filters hide the conflicts that do not match. They live in the URL
// fragment (#status=open&kind=field&q=smith) so a filtered view can be
// bookmarked or sent: the page is a file, it has no server to ask.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) {
    return; // no conflicts, nothing to filter
  }
  var keys = ["entity", "kind", "status"];
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.conflict"));
  var search = document.getElementById("f-q");
  var shown = document.getElementById("shown");
  var none = document.getElementById("none");
  function select(key) { return document.getElementById("f-" + key); }

  function apply() {
    var q = search.value.trim().toLowerCase();
    var n = 0;
    cards.forEach(function (card) {
      var ok = keys.every(function (key) {
        var want = select(key).value;
        return want === "" || card.getAttribute("data-" + key) === want;
      });
      if (ok && q !== "") {
        ok = card.textContent.toLowerCase().indexOf(q) !== -1;
      }
      card.hidden = !ok;
      if (ok) {
        n++;
      }
    });
    shown.textContent = n + " of " + cards.length + " shown";
    none.hidden = n !== 0;
  }

  // remember puts the filters in the fragment; only a person's change
  // does, so a link to one conflict (#c12) is left alone on load.
  function remember() {
    var q = search.value.trim();
    var params = new URLSearchParams();
    keys.forEach(function (key) {
      if (select(key).value !== "") {
        params.set(key, select(key).value);
      }
    });
    if (q !== "") {
      params.set("q", q);
    }
    var fragment = params.toString();
    if (fragment !== location.hash.replace(/^#/, "")) {
      try {
        history.replaceState(null, "", fragment === "" ? location.pathname + location.search : "#" + fragment);
      } catch (e) {
        // some browsers refuse history on file: URLs; the filter still works
      }
    }
  }

  function load() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    keys.forEach(function (key) {
      var s = select(key);
      var want = params.get(key) || "";
      s.value = want;
      if (s.value !== want) {
        s.value = ""; // not one of the choices: do not filter on it
      }
    });
    search.value = params.get("q") || "";
    apply();
  }

  function changed() {
    apply();
    remember();
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  window.addEventListener("hashchange", load);
  load();
})();
