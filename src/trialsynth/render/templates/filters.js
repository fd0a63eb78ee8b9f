// Filters of the contents panel (progressive enhancement: without scripts the page reads fully
// and the form stays hidden). Elements carry data-comparison, data-drug, data-outcome and
// data-window; analyses and their contents entries also data-text (their heading, lower case).
(function () {
  "use strict";
  var form = document.getElementById("filters"), box = document.getElementById("filter-box");
  if (!form || !box) { return; }
  box.hidden = false;
  box.open = window.matchMedia("(min-width: 1100px)").matches;  // beside the report: open
  var facets = ["comparison", "drug", "outcome", "window"];
  var count = form.querySelector("output");
  function wanted() {
    var w = {};
    facets.forEach(function (f) { w[f] = form.elements[f].value; });
    w.text = form.elements.text.value.trim().toLowerCase();
    return w;
  }
  function matches(el, w, keys) {
    for (var i = 0; i < keys.length; i++) {
      var k = keys[i], v = w[k];
      if (v && el.hasAttribute("data-" + k) && el.getAttribute("data-" + k) !== v) { return false; }
    }
    if (w.text && el.hasAttribute("data-text") && el.getAttribute("data-text").indexOf(w.text) < 0) {
      return false;
    }
    return true;
  }
  function show(el, on) { el.classList.toggle("hide", !on); }
  function apply() {
    var w = wanted(), narrowed = w.outcome || w.window || w.text, shown = 0, total = 0;
    var seen = {};
    document.querySelectorAll("article.analysis").forEach(function (el) {
      var on = matches(el, w, facets);
      show(el, on); total++;
      if (on) { shown++; seen[el.getAttribute("data-comparison")] = true; }
    });
    document.querySelectorAll("nav.toc li.an").forEach(function (el) { show(el, matches(el, w, facets)); });
    document.querySelectorAll("tr[data-outcome]").forEach(function (el) {
      show(el, matches(el, w, ["outcome", "window"]));
    });
    document.querySelectorAll("[data-cmp]").forEach(function (el) {
      var g = el.getAttribute("data-comparison");
      var on = matches(el, w, ["comparison", "drug"]) && (!narrowed || seen[g] === true);
      show(el, on);
      var d = el.querySelector("details");
      if (d && narrowed) { d.open = on; }
    });
    count.value = shown === total ? total + " analyses" : shown + " of " + total + " analyses shown";
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("reset", function (e) {  // clear every filter now, then show all
    e.preventDefault();
    facets.forEach(function (f) { form.elements[f].value = ""; });
    form.elements.text.value = "";
    apply();
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  // printing opens every footnote and collapsed table, then restores what the reader had
  var closed = [];
  window.addEventListener("beforeprint", function () {
    closed = Array.prototype.filter.call(document.querySelectorAll("main details"), function (d) { return !d.open; });
    closed.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () { closed.forEach(function (d) { d.open = false; }); closed = []; });
  apply();
}());
