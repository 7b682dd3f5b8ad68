// Pre-fill the browser's time zone, show the weekly day only for a weekly digest, and show a
// live preview of what the keywords would pick.
(function () {
  "use strict";
  var tz = document.querySelector("[data-autofill-timezone]");
  if (tz && !tz.value) {
    try { tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { tz.value = "UTC"; }
  }
  // the day of a weekly digest only when the digest is weekly (without script it stays)
  var often = document.getElementById("frequency");
  var day = document.getElementById("weekly_day");
  if (often && day) {
    var sync = function () { day.parentNode.hidden = often.value !== "weekly"; };
    often.addEventListener("change", sync);
    sync();
  }
  var list = document.getElementById("preview-list");
  var keywords = document.getElementById("keywords");
  var exclude = document.getElementById("exclude");
  if (!list || !keywords) { return; }
  var timer = null;
  function item(text, cls) {
    var li = document.createElement("li");
    li.textContent = text;
    if (cls) { li.className = cls; }
    return li;
  }
  function show(papers, error, unmatched, suggestions) {
    list.replaceChildren();
    if (error) { list.appendChild(item(error, "muted")); return; }
    Object.keys(suggestions || {}).forEach(function (typed) {
      list.appendChild(item("“" + typed + "” is in no paper: did you mean “" + suggestions[typed] + "”?", "muted suggestion"));
    });
    (unmatched || []).forEach(function (k) {
      list.appendChild(item("“" + k + "” matched no paper of the last seven days: try another wording.", "muted unmatched"));
    });
    if (!papers.length) { list.appendChild(item("No paper of the last seven days matches yet.", "muted")); return; }
    papers.forEach(function (p) {
      var li = item(p.title);
      p.matched.forEach(function (k) {
        var span = document.createElement("span");
        span.className = "kw";
        span.textContent = k;
        li.appendChild(span);
      });
      (p.related || []).forEach(function (k) {
        var span = document.createElement("span");
        span.className = "kw related";
        span.textContent = "related to " + k;
        li.appendChild(span);
      });
      list.appendChild(li);
    });
  }
  function refresh() {
    var q = "keywords=" + encodeURIComponent(keywords.value) + "&exclude=" + encodeURIComponent(exclude ? exclude.value : "");
    if (!keywords.value.trim()) { show([], "Type some topics to see a preview."); return; }
    fetch(list.dataset.source + "?" + q, { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) { show(data.papers || [], data.error || data.note, data.unmatched, data.suggestions); })
      .catch(function () { show([], "Preview unavailable."); });
  }
  function later() { clearTimeout(timer); timer = setTimeout(refresh, 300); }
  keywords.addEventListener("input", later);
  if (exclude) { exclude.addEventListener("input", later); }
  if (keywords.value) { refresh(); }
})();
