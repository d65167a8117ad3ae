/* heatpump-monitor: alerts. On the overview, the active alerts above the cards (nothing when
 * there are none); on /alerts, the active alerts, their history, the configured rules, where
 * messages go (targets by scheme only) and a button sending a test message. Reads
 * /api/v1/alerts, /api/v1/alerts/history and /api/v1/alerts/rules. */
(function () {
  "use strict";

  var page = document.body.dataset.page;
  var REFRESH_MS = 30000;
  var HISTORY_ROWS = 200;

  // app.js's helpers (loaded before this file)
  var hp = window.hpDashboard;
  var $ = hp.$, api = hp.api, capital = hp.capital;
  var el = hp.el;
  // times as the server gives them, in the TZ setting: the same clock as the messages' "since 06:40"
  function localTime(iso) { return iso.slice(0, 16).replace("T", " "); }

  // one alert: its message (title and body, as sent), then the rule and which process raised it
  function alertItem(a) {
    var li = el("li", "alert-item");
    li.dataset.rule = a.rule;
    li.dataset.gateway = a.gateway;
    li.appendChild(el("span", "alert-title", a.title));
    li.appendChild(el("span", "alert-body", a.body));
    // the message is in the alerts' language (LANGUAGE); the pump's alarm text also in the page's
    if (a.rule === "alarm" && a.text) li.appendChild(el("span", "alert-alarm", _("Alarm: {text}", { text: hp.alarmText(a.text) })));
    var meta = el("span", "alert-meta", a.rule);
    meta.title = _("Since {time}, raised by the {owner} process", { time: localTime(a.since), owner: a.owner });
    li.appendChild(meta);
    return li;
  }

  // -- overview: the active alerts above the cards ----------------------------------------

  function overviewAlerts() {
    var box = document.getElementById("active-alerts");
    if (!box) return;
    function load() {
      api("/api/v1/alerts").then(function (doc) {
        box.textContent = "";
        box.hidden = doc.alerts.length === 0;
        if (!doc.alerts.length) return;
        var h = el("h2");
        var link = el("a", null, ngettext("{n} active alert", "{n} active alerts", doc.alerts.length));
        link.href = "/alerts";
        h.appendChild(link);
        box.appendChild(h);
        var ul = el("ul", "alert-list");
        doc.alerts.forEach(function (a) { ul.appendChild(alertItem(a)); });
        box.appendChild(ul);
      }).catch(function () {
        box.hidden = true; // the overview's own banner tells of a dashboard that cannot answer
      }).then(function () {
        document.body.dataset.alertsLoaded = "1";
        setTimeout(load, REFRESH_MS);
      });
    }
    load();
  }

  // -- the alerts page ------------------------------------------------------------------

  function showError(text) {
    var banner = document.getElementById("banner");
    banner.textContent = text;
    banner.className = "banner error";
    banner.hidden = false;
  }

  function renderActive(doc) {
    var box = $("#alerts-active");
    box.textContent = "";
    if (!doc.alerts.length) {
      box.appendChild(el("p", "muted", _("No active alert.")));
    } else {
      var ul = el("ul", "alert-list");
      doc.alerts.forEach(function (a) { ul.appendChild(alertItem(a)); });
      box.appendChild(ul);
    }
    var bad = $("#alerts-unreadable");
    bad.hidden = !doc.unreadable.length;
    bad.textContent = doc.unreadable.length ?
      _("Cannot read the alert state of: {owners} (see the dashboard's log).", { owners: doc.unreadable.join(", ") }) : "";
  }

  function renderHistory(doc) {
    var body = $("#alerts-history tbody");
    body.textContent = "";
    doc.notices.forEach(function (n) {
      var tr = el("tr", "notice");
      tr.dataset.kind = n.kind;
      tr.appendChild(el("td", null, localTime(n.time)));
      tr.appendChild(el("td", null, n.gateway));
      tr.appendChild(el("td", null, n.rule));
      var what = n.kind === "fired" ? _("raised") : _("cleared");
      if (n.rule === "alarm" && n.text) what += ": " + hp.alarmText(n.text);  // the pump's alarm text, in the page's language
      tr.appendChild(el("td", "kind-" + n.kind, what));
      tr.appendChild(el("td", null, n.body));
      body.appendChild(tr);
    });
    $("#alerts-history-empty").hidden = doc.notices.length > 0;
  }

  function thresholds(settings) {
    return Object.keys(settings).map(function (k) {
      return k + " " + (typeof settings[k] === "number" ? settings[k].toLocaleString(hp.locale) : settings[k]);
    }).join(", ") || "\u2013";
  }

  function renderRules(doc) {
    var languageNames = { en: _("English"), sv: _("Swedish") };
    $("#alerts-rules-info").textContent = [
      doc.running ? "" : _("Off: no process runs these rules (set NOTIFY_URLS, or an alerts: section in CONFIG_FILE, to turn them on)."),
      _("Messages in {language}, times in {tz};", { language: languageNames[doc.language] || doc.language, tz: doc.tz }),
      doc.reminder_hours ? _("a reminder every {hours} h while an alert is active.", { hours: doc.reminder_hours }) : _("no reminders."),
      _("Set in CONFIG_FILE's alerts: section.")
    ].filter(Boolean).join(" ");
    var body = $("#alerts-rules tbody");
    body.textContent = "";
    doc.rules.forEach(function (r) {
      var tr = el("tr");
      tr.dataset.rule = r.rule;
      tr.appendChild(el("td", r.enabled ? null : "off", r.rule));
      tr.appendChild(el("td", r.enabled ? null : "off", r.enabled ? _("on") : _("off")));
      tr.appendChild(el("td", r.enabled ? null : "off", thresholds(r.settings)));
      tr.appendChild(el("td", "muted", r.description));
      body.appendChild(tr);
    });
    var d = doc.delivery;
    $("#alerts-delivery").textContent = d.configured ? ngettext("{n} target (NOTIFY_URLS):", "{n} targets (NOTIFY_URLS):", d.targets.length) :
      _("No delivery configured: set NOTIFY_URLS to send messages (the rules still run and are shown here).");
    var ul = $("#alerts-targets");
    ul.textContent = "";
    d.targets.forEach(function (t) { ul.appendChild(el("li", null, t)); });
    $("#alerts-test").disabled = !d.configured;
  }

  function sendTest() {
    var button = $("#alerts-test"), status = $("#alerts-test-status"), out = $("#alerts-test-results");
    button.disabled = true;
    status.textContent = _("Sending\u2026");
    out.textContent = "";
    // the header tells the server this comes from the dashboard's own page (a foreign page cannot send it)
    fetch("/api/v1/alerts/test", { method: "POST", credentials: "same-origin",
      headers: { "X-Requested-With": "heatpump-monitor", Accept: "application/json" } })
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (doc) {
          if (!resp.ok) throw new Error(doc.error || ("HTTP " + resp.status));
          return doc;
        });
      }).then(function (doc) {
        status.textContent = doc.ok ? _("Delivered to every target.") : _("Not delivered to every target:");
        doc.results.forEach(function (r) {
          var li = el("li", r.ok ? "ok" : "failed", r.target + ": " + (r.ok ? _("delivered") : _("failed: {cause}", { cause: r.cause })));
          out.appendChild(li);
        });
        document.body.dataset.testState = doc.ok ? "ok" : "failed";
      }).catch(function (err) {
        status.textContent = capital(err.message);
        document.body.dataset.testState = "error";
      }).then(function () {
        button.disabled = false;
      });
  }

  function alertsPage() {
    var picker = document.getElementById("gateway-picker");
    if (picker) picker.hidden = true; // every gateway's alerts are listed
    $("#alerts-test").addEventListener("click", sendTest);
    function load() {
      Promise.all([
        api("/api/v1/alerts").then(renderActive),
        api("/api/v1/alerts/history", { limit: HISTORY_ROWS }).then(renderHistory),
        api("/api/v1/alerts/rules").then(renderRules)
      ]).catch(function (err) { showError(_("Cannot load the alerts: {error}", { error: err.message })); })
        .then(function () {
          document.body.dataset.alertsLoaded = "1";
          setTimeout(load, REFRESH_MS);
        });
    }
    load();
  }

  if (page === "overview") overviewAlerts();
  else if (page === "alerts") alertsPage();
})();
