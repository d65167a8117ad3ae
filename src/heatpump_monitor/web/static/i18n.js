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

  window._ = gettext;
  window.gettext = gettext;
  window.pgettext = pgettext;
  window.ngettext = ngettext;
  window.hpLang = lang;
})();
