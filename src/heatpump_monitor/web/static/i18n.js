/* heatpump-monitor: the browser's side of the translations (heatpump_monitor.i18n). The page
 * embeds its language's catalogue as JSON in <script id="i18n">; English (the source language)
 * embeds nothing, so every lookup falls back to the English text it was given. Loaded before
 * every other script of a page; Babel's JavaScript extractor finds the _() / ngettext() /
 * pgettext() calls. */
(function () {
  "use strict";
  var node = document.getElementById("i18n");
  var messages = {};
  try { messages = node ? JSON.parse(node.textContent) : {}; } catch (e) { messages = {}; }
  var lang = document.documentElement.lang || "en";

  function fill(text, args) {
    // "{name}" placeholders, as in the Python side's str.format
    if (!args) return text;
    return text.replace(/\{(\w+)\}/g, function (m, k) { return k in args ? String(args[k]) : m; });
  }

  function gettext(msgid, args) {
    var t = messages[msgid];
    return fill(typeof t === "string" ? t : msgid, args);
  }

  function pgettext(context, msgid, args) {
    var t = messages[context + "\u0004" + msgid];
    return fill(typeof t === "string" ? t : msgid, args);
  }

  function ngettext(singular, plural, n, args) {
    var forms = messages[singular];
    // Swedish and English both have two forms (n != 1); a language with more would add its rule here
    var text = Array.isArray(forms) ? forms[n === 1 ? 0 : Math.min(1, forms.length - 1)] : (n === 1 ? singular : plural);
    var all = Object.assign({ n: n }, args || {});
    return fill(text, all);
  }

  // Intl's locale: the page's language; the browser's own variant of it when it has one
  // (an en-GB browser on an English page: 24 h clock, day before month)
  var preferred = (navigator.languages && navigator.languages[0]) || navigator.language || "";
  var locale = preferred.toLowerCase().split("-")[0] === lang ? preferred : lang;

  // the language switch keeps the address as it is now (scripts change its query: gateway,
  // range), so the other language shows the same view; the server sets the cookie
  document.addEventListener("click", function (ev) {
    var a = ev.target && ev.target.closest ? ev.target.closest(".lang-switch a[data-lang]") : null;
    if (!a) return;
    var q = new URLSearchParams(location.search);
    q.set("lang", a.dataset.lang);
    a.setAttribute("href", location.pathname + "?" + q.toString());
  });

  window._ = gettext;
  window.gettext = gettext;
  window.pgettext = pgettext;
  window.ngettext = ngettext;
  window.hpLang = lang;
  window.hpLocale = locale;
})();
