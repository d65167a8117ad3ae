/* heatpump-monitor dashboard: overview (current values, lamps, alarm, data age) and charts
 * (uPlot, built from its npm package into this app's static files by frontend/). No other
 * dependency, nothing loaded from another origin. */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("config").textContent);
  var page = document.body.dataset.page;
  var params = new URLSearchParams(location.search);
  var gateways = cfg.gateways || [];
  var gateway = null; // the gateway entry shown
  var banner = document.getElementById("banner");
  var OVERVIEW_REFRESH_MS = 10000;
  var CHARTS_REFRESH_MS = 60000;

  // -- helpers -------------------------------------------------------------------------

  function capital(text) { return text ? text.charAt(0).toUpperCase() + text.slice(1) : text; }

  function mark(name) { if (performance.mark) performance.mark(name); }

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  var note = null; // a notice about the address (unknown gateway/range), kept until the user picks again

  function showBanner(text, kind) {
    if (!banner) return;
    if (!text && note) { text = note; kind = ""; }
    if (!text) { banner.hidden = true; banner.textContent = ""; return; }
    banner.textContent = text;
    banner.className = "banner" + (kind ? " " + kind : "");
    banner.hidden = false;
  }

  function api(path, query) {
    var qs = new URLSearchParams();
    Object.keys(query || {}).forEach(function (k) {
      if (query[k] !== undefined && query[k] !== null && query[k] !== "") qs.set(k, query[k]);
    });
    return getJson(path + (qs.toString() ? "?" + qs.toString() : ""), { Accept: "application/json" });
  }

  function getJson(url, headers) {
    // a preloaded URL is fetched with no header of its own: the request must be the preload's
    return fetch(url, { headers: headers || {}, credentials: "same-origin" }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (doc) {
        if (!resp.ok) {
          var err = new Error(doc.error || ("HTTP " + resp.status));
          err.status = resp.status;
          throw err;
        }
        return doc;
      });
    });
  }

  // dates, times and numbers in the page's language (i18n.js): Swedish "3 dec. 2026 14:05:00", "21,5"
  var LOCALE = window.hpLocale || undefined;
  var dateTimeFmt = new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium", timeStyle: "medium" });
  var shortFmt = new Intl.DateTimeFormat(LOCALE, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  var dayFmt = new Intl.DateTimeFormat(LOCALE, { month: "short", day: "numeric" });
  var monthFmt = new Intl.DateTimeFormat(LOCALE, { month: "short", year: "numeric" });
  var clockFmt = new Intl.DateTimeFormat(LOCALE, { hour: "2-digit", minute: "2-digit" });
  var tickFmt = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 3 });
  function fmtTime(ms) { return dateTimeFmt.format(new Date(ms)); }

  // a time axis's tick labels in the page's language (uPlot's own are English, 12 h): the
  // date at midnight and for steps of a day or more, else the time of day. ``perSecond``: the
  // axis counts seconds (the daily bars), else milliseconds.
  function timeTicks(perSecond) {
    var k = perSecond ? 1000 : 1;
    return function (u, splits, ax, space, incr) {
      return splits.map(function (v) {
        if (v === null || v === undefined) return "";
        var d = new Date(v * k), step = incr * k;
        if (step >= 28 * 86400000) return monthFmt.format(d);
        if (step >= 86400000 || (d.getHours() === 0 && d.getMinutes() === 0)) return dayFmt.format(d);
        return clockFmt.format(d);
      });
    };
  }

  var FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif";

  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  // a uPlot axis in the page's colours (CSS variables: light and dark); ``extra`` overrides
  function axis(label, extra) {
    var text = css("--text"), grid = css("--grid");
    // tick numbers in the page's language (uPlot's own follow the browser's: "21.5" on a Swedish page)
    var a = { stroke: text, label: label, size: 56, labelSize: 18, grid: { stroke: grid, width: 1 },
              ticks: { stroke: grid, width: 1 }, font: "12px " + FONT, labelFont: "12px " + FONT,
              values: function (u, splits) { return splits.map(function (v) { return v === null || v === undefined ? "" : tickFmt.format(v); }); } };
    if (extra) Object.keys(extra).forEach(function (k) { a[k] = extra[k]; });
    return a;
  }

  function fmtDuration(s) {
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " min" + (m < 10 && s % 60 ? " " + (s % 60) + " s" : "");
    var h = Math.floor(m / 60);
    if (h < 48) return h + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  // a heat pump's alarm text in the page's language: the catalogue's "alarm" context has the
  // brands' texts; "alarm 12" (a number without a text) keeps its number
  function alarmText(text) {
    if (!text) return text;
    var m = /^alarm (\d+)$/.exec(text);
    return m ? _("alarm {code}", { code: m[1] }) : pgettext("alarm", text);
  }

  // a register's (or derived value's) description in the page's language where the catalogue
  // has it (context "register"), else as the brand's file has it
  function describe(text) { return text ? pgettext("register", text) : text; }

  function fieldsOf(brand) {
    var b = cfg.brands[brand];
    return b ? b.fields : {};
  }

  function fmtValue(name, value, meta, text) {
    if (value === undefined || value === null) return { v: "–", u: "" };
    // a mapped state ("auto", "hot water") in the page's language (context "state"); an alarm
    // register's text is the pump's alarm text (context "alarm")
    if (text) return { v: meta && meta.kind === "alarm" ? alarmText(text) : pgettext("state", text), u: "" };
    var unit = meta ? meta.unit : "";
    var kind = meta ? meta.kind : "";
    var digits = (kind === "temperature" || unit === "°C" || unit === "K") ? 1 : (Number.isInteger(value) ? 0 : 1);
    return { v: value.toLocaleString(LOCALE, { minimumFractionDigits: digits, maximumFractionDigits: digits }), u: unit || "" };
  }

  // -- gateway selection (the URL carries it) ------------------------------------------

  function pickGateway() {
    var wanted = params.get("gateway");
    var found = gateways.filter(function (g) { return g.gateway === wanted; })[0];
    if (wanted !== null && !found && gateways.length) {
      note = _("Unknown gateway \u201c{name}\u201d: showing {shown}.", { name: wanted, shown: gateways[0].gateway });
      showBanner(note, "");
    }
    gateway = found || gateways[0] || null;
    if (gateway && params.get("gateway") !== gateway.gateway) {
      params.set("gateway", gateway.gateway);
      history.replaceState(null, "", location.pathname + "?" + params.toString());
    }
    var picker = document.getElementById("gateway-picker");
    var select = document.getElementById("gateway");
    if (picker && select) {
      select.textContent = "";
      gateways.forEach(function (g) {
        var opt = document.createElement("option");
        opt.value = g.gateway;
        opt.textContent = g.gateway + " (" + g.title + ")";
        if (gateway && g.gateway === gateway.gateway) opt.selected = true;
        select.appendChild(opt);
      });
      picker.hidden = gateways.length === 0;
    }
    updateNavLinks();
  }

  function updateNavLinks() {
    $all("a[data-keep-gateway]").forEach(function (a) {
      var base = a.getAttribute("href").split("?")[0];
      a.setAttribute("href", gateway ? base + "?gateway=" + encodeURIComponent(gateway.gateway) : base);
    });
  }

  function onGatewayChange(fn) {
    var select = document.getElementById("gateway");
    if (!select) return;
    select.addEventListener("change", function () {
      note = null;
      params.set("gateway", select.value);
      history.pushState(null, "", location.pathname + "?" + params.toString());
      gateway = gateways.filter(function (g) { return g.gateway === select.value; })[0] || null;
      updateNavLinks();
      fn();
    });
  }

  function waitForGateways(then) {
    // no gateway yet (empty store, store down): ask again until there is one
    if (cfg.error) showBanner(capital(cfg.error), "error");
    else showBanner(_("No data in the store yet. Waiting for the collector\u2026"), "");
    var timer = setInterval(function () {
      api("/api/v1/gateways").then(function (doc) {
        if (!doc.gateways.length) { showBanner(_("No data in the store yet. Waiting for the collector\u2026"), ""); return; }
        clearInterval(timer);
        gateways = doc.gateways;
        showBanner(null);
        pickGateway();
        then();
      }).catch(function (err) { showBanner(capital(err.message), "error"); });
    }, 5000);
  }

  // ====================================================================================
  // Overview
  // ====================================================================================

  function overview() {
    var latest = null;
    var fetchedAt = 0;
    var timer = null;
    var seq = 0;

    function load() {
      clearTimeout(timer);
      if (!gateway) return;
      var mine = ++seq;
      api("/api/v1/latest", { gateway: gateway.gateway }).then(function (doc) {
        if (mine !== seq) return;
        latest = doc;
        fetchedAt = performance.now();
        if (!banner.classList.contains("stale")) showBanner(null);
        render(doc);
        tick();
      }).catch(function (err) {
        if (mine !== seq) return;
        showBanner(err.status === 503 ? capital(err.message) : _("Cannot load the latest values: {error}", { error: err.message }), "error");
      }).then(function () {
        timer = setTimeout(load, OVERVIEW_REFRESH_MS);
      });
    }

    function render(doc) {
      var meta = fieldsOf(doc.brand);
      $("#gw-name").textContent = doc.gateway;
      $("#gw-title").textContent = doc.title + (doc.source ? " \u00b7 " + doc.source : "");
      $("#gw-time").textContent = fmtTime(doc.time_ms);
      $("#gw-time").title = doc.time;

      $all(".metric[data-field]").forEach(function (el) {
        var f = el.dataset.field;
        var known = f in meta || f in doc.values;
        el.hidden = !known;
        var shown = fmtValue(f, doc.values[f], meta[f] || { unit: doc.units[f] || "", kind: "" }, doc.texts[f]);
        $(".v", el).textContent = shown.v;
        $(".u", el).textContent = shown.u;
        if (meta[f] && meta[f].description) el.title = describe(meta[f].description);
        // a metric without a label of its own (derived values) is named by the catalogue
        var label = $(".m-label", el);
        if (!label.dataset.own) label.dataset.own = label.textContent ? "yes" : "no";
        if (label.dataset.own === "no") label.textContent = meta[f] ? describe(meta[f].description) : f;
      });
      $all(".card").forEach(function (card) {
        var metrics = $all(".metric", card);
        if (metrics.length) card.hidden = metrics.every(function (m) { return m.hidden; });
      });

      $all(".lamp[data-lamp]").forEach(function (el) {
        var f = el.dataset.lamp;
        var v = doc.values[f];
        el.hidden = !(f in meta || f in doc.values);
        var state = "unknown", label = "–";
        if (v !== undefined) {
          if (f === "switch_valve") {
            state = v ? "hotwater" : "heating";
            label = doc.texts[f] ? _(doc.texts[f]) : (v ? _("hot water") : _("heating"));
          } else if (f === "additional_heat") {
            state = v > 0 ? "on" : "off";
            label = v > 0 ? fmtValue(f, v, meta[f]).v + " %" : _("off");
          } else {
            state = v > 0 ? "on" : "off";
            label = v > 0 ? _("on") : _("off");
          }
        }
        el.dataset.state = state;
        $(".l-state", el).textContent = label;
      });

      var a = doc.alarm;
      var box = $("#alarm");
      box.dataset.state = a.active === true ? "alarm" : a.active === false ? "ok" : "unknown";
      $("#alarm-text").textContent = a.active === true ?
        _("Alarm: {text}", { text: alarmText(a.text) + (a.code ? " (" + a.code + ")" : "") }) :
        a.active === false ? _("No alarm") : _("Unknown: no alarm register in the data");
      $("#alarm-since").textContent = a.active && a.since_ms ?
        (a.since_exact ? _("since {time}", { time: fmtTime(a.since_ms) }) : _("since before {time}", { time: fmtTime(a.since_ms) })) : "";
      $("#alarm-last").textContent = a.active === false && a.last_text ? _("Last alarm: {text}", { text: alarmText(a.last_text) }) : "";

      var tbody = $("#all-values tbody");
      if (tbody) {
        tbody.textContent = "";
        var names = Object.keys(meta).filter(function (n) { return n in doc.values; });
        Object.keys(doc.values).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); });
        names.forEach(function (n) {
          var tr = document.createElement("tr");
          var shown = fmtValue(n, doc.values[n], meta[n] || { unit: doc.units[n] || "" }, doc.texts[n]);
          [n, shown.v + (shown.u ? " " + shown.u : ""), meta[n] ? describe(meta[n].description) : ""].forEach(function (text, i) {
            var td = document.createElement("td");
            td.textContent = text;
            if (i === 0) td.className = "mono";
            if (i === 1) td.className = "num";
            tr.appendChild(td);
          });
          tbody.appendChild(tr);
        });
      }
      document.title = (doc.values.outdoor_temp !== undefined ? fmtValue("outdoor_temp", doc.values.outdoor_temp, meta.outdoor_temp).v + " °C · " : "") +
        _("Overview") + " · " + doc.gateway;
    }

    function tick() {
      if (!latest) return;
      var age = latest.age_s + (performance.now() - fetchedAt) / 1000;
      var el = $("#age");
      var stale = age > latest.stale_after_s;
      el.dataset.state = stale ? "stale" : "fresh";
      $("#age-text").textContent = stale ? _("no new data for {duration}", { duration: fmtDuration(age) }) :
        _("updated {duration} ago", { duration: fmtDuration(age) });
      if (stale) {
        banner.classList.add("stale");
        showBanner(_("No new data for {duration} (newest snapshot: {time}). Is the collector running? The values below are not current.",
          { duration: fmtDuration(age), time: fmtTime(latest.time_ms) }), "error");
        banner.classList.add("stale");
      } else if (banner.classList.contains("stale")) {
        banner.classList.remove("stale");
        showBanner(null);
      }
    }

    setInterval(tick, 1000);
    onGatewayChange(function () { latest = null; load(); });
    window.addEventListener("popstate", function () {
      params = new URLSearchParams(location.search);
      pickGateway();
      latest = null;
      load();
    });
    if (gateway) load(); else waitForGateways(load);
  }

  // ====================================================================================
  // Charts
  // ====================================================================================

  // The range presets and the charts (which fields, colours, titles) come with the page, from
  // web/charts.py: the server names the first data requests in the page (preload) from them.
  // A line's name and a chart's unit default to the field catalogue's (cfg.brands).
  var PRESETS = cfg.presets || {};
  var DEFAULT_PRESET = "24h";
  var LANE = 1.75; // status chart: a lane is 0..1, plus room for its name
  var CHARTS = cfg.charts || [];

  function rangeFromUrl() {
    var s = params.get("start"), e = params.get("end");
    if (s && e) {
      var sm = Date.parse(s), em = Date.parse(e);
      if (isFinite(sm) && isFinite(em) && sm < em) return { preset: null, start: sm, end: em };
      note = _("Invalid start/end in the address: showing the last 24 h.");
    }
    var p = params.get("range");
    if (p && !(p in PRESETS)) note = _("Unknown range \u201c{range}\u201d: showing the last 24 h.", { range: p });
    return { preset: p in PRESETS ? p : DEFAULT_PRESET };
  }

  function windowOf(range) {
    if (range.preset) {
      var end = Date.now();
      return { start: Math.round(end - PRESETS[range.preset]), end: end };
    }
    return { start: range.start, end: range.end };
  }

  function chartsPage() {
    var range = rangeFromUrl();
    var base = null;       // {start, end, doc}: data of the chosen range
    var zoom = null;       // {start, end} while zoomed in
    var plots = {};        // chart id -> its uPlot
    var syncing = false;   // a scale change being passed on to the other charts
    var building = false;  // a chart being created: its first scale is not a zoom
    var drawn = null;      // {doc, win, detail} of the charts shown (redrawn when the colour scheme changes)
    var seq = 0, zoomSeq = 0, fullSeq = 0, zoomTimer = null, refreshTimer = null;
    var planned = null;    // the page's preloaded requests (cfg.plan), used by the first load
    var waiting = {};      // chart id -> true while its fields' part of the data is on its way
    var drawQueue = Promise.resolve();
    window.__drawCount = 0;

    window.__charts = plots; // for the browser tests and the benchmark

    function available(spec) {
      var meta = gateway ? fieldsOf(gateway.brand) : {};
      return spec.lines.filter(function (l) { return l.f in meta; }).map(function (l) {
        return { f: l.f, name: l.name || describe(meta[l.f].description) || l.f, color: l.color, dash: l.dash, label: l.label,
                 percent: l.percent };
      });
    }

    function unitOf(spec, lines) {
      if (spec.unit || spec.status) return spec.unit || "";
      var meta = gateway ? fieldsOf(gateway.brand) : {};
      return lines.length ? meta[lines[0].f].unit : "";
    }

    function allFields() {
      return fieldParts().reduce(function (a, b) { return a.concat(b); }, []);
    }

    function fieldParts() {
      // the first chart with a field first (drawn as soon as it is there), then all the others;
      // as web/charts.py's field_parts
      var first = [], rest = [];
      CHARTS.forEach(function (spec) {
        var target = first.length ? rest : first;
        available(spec).forEach(function (l) {
          if (first.indexOf(l.f) < 0 && rest.indexOf(l.f) < 0) target.push(l.f);
        });
      });
      return [first, rest].filter(function (p) { return p.length; });
    }

    function wantedPoints() {
      var el = $(".chart");
      var w = el ? el.clientWidth : 800;
      return Math.max(300, Math.min(1500, Math.round(w * 1.5)));
    }

    function once(start) {
      // a request started on the first call; every call returns its promise
      var p = null;
      return function () {
        if (!p) { p = start(); p.catch(function () {}); } // (its failure is handled by the load)
        return p;
      };
    }

    function request(win, fields) {
      fields = fields || allFields();
      if (!gateway || !fields.length) return Promise.reject(new Error(_("no chartable fields for this gateway")));
      return api("/api/v1/series", { gateway: gateway.gateway, fields: fields.join(","), start: Math.round(win.start),
                                     end: Math.round(win.end), points: wantedPoints() });
    }

    function markPresets() {
      $all(".presets button").forEach(function (b) {
        b.setAttribute("aria-pressed", range.preset === b.dataset.range ? "true" : "false");
      });
    }

    function toLocalInput(ms) {
      var d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
      return d.toISOString().slice(0, 16);
    }

    function rangeInfo(doc, win) {
      var bucket = " \u00b7 " + (doc.bucket_ms > doc.interval_ms ?
        _("one point per {duration} (mean, band = min\u2013max)", { duration: fmtDuration(doc.bucket_ms / 1000) }) :
        _("every snapshot"));
      $("#range-info").textContent = shortFmt.format(new Date(win.start)) + " \u2013 " + shortFmt.format(new Date(win.end)) + bucket;
      $("#range-from").value = toLocalInput(win.start);
      $("#range-to").value = toLocalInput(win.end);      exportLinks(win);
    }

    function exportLinks(win) {
      // the download links follow the window shown (the range, or the zoomed part of it): the
      // series API's CSV/JSON of every charted field, as fine as the API's value limit allows
      // (every snapshot when the window holds fewer than that; else bucket means, min and max)
      var box = $("#export"), fields = allFields();
      if (!box || !gateway || !fields.length) { if (box) box.hidden = true; return; }
      var lim = cfg.export || {};
      var points = Math.max(10, Math.min(lim.points_max || 5000, Math.floor((lim.max_values || 60000) / fields.length)));
      var q = { gateway: gateway.gateway, fields: fields.join(","), start: Math.round(win.start), end: Math.round(win.end),
                points: points };
      var name = "series-" + gateway.gateway.replace(/[^A-Za-z0-9._-]+/g, "_") + "-" + q.start + "-" + q.end;
      ["csv", "json"].forEach(function (fmt) {
        var a = $("#export-" + fmt), qs = new URLSearchParams(q);
        qs.set("format", fmt);
        a.href = "/api/v1/series?" + qs.toString();
        a.download = name + "." + fmt;
      });
      box.hidden = false;
    }

    function setUrl(push) {
      params.delete("range"); params.delete("start"); params.delete("end");
      if (range.preset) params.set("range", range.preset);
      else { params.set("start", new Date(range.start).toISOString()); params.set("end", new Date(range.end).toISOString()); }
      var url = location.pathname + "?" + params.toString();
      if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
    }

    // -- data: one x array per chart, gaps only where data is missing ----------------

    function joinSeries(parts) {
      // parts: [{ s: series of the API, cols: [arrays aligned with s.t] }]. One x array for the
      // chart: the union of the series' times plus, for each series, a point between two of
      // its neighbours further apart than gap_ms holding null there (uPlot breaks a line at
      // null). Where only another series has a point, a value is undefined: uPlot draws across
      // it, so different time sets never look like missing data.
      // (a Map: times in ms are no array indices, an object keyed by them is slow)
      var xs = [], index = new Map();
      function addX(x) { if (!index.has(x)) { index.set(x, 0); xs.push(x); } }
      parts.forEach(function (p) {
        var t = p.s.t;
        for (var i = 0; i < t.length; i++) {
          if (i > 0 && t[i] - t[i - 1] > p.s.gap_ms) addX(Math.round((t[i] + t[i - 1]) / 2));
          addX(t[i]);
        }
      });
      xs.sort(function (a, b) { return a - b; });
      for (var n = 0; n < xs.length; n++) index.set(xs[n], n);
      var out = [xs];
      parts.forEach(function (p) {
        var t = p.s.t;
        var cols = p.cols.map(function () { return new Array(xs.length); });
        for (var i = 0; i < t.length; i++) {
          if (i > 0 && t[i] - t[i - 1] > p.s.gap_ms) {
            var g = index.get(Math.round((t[i] + t[i - 1]) / 2));
            cols.forEach(function (c) { c[g] = null; });
          }
          var k = index.get(t[i]);
          p.cols.forEach(function (a, j) { cols[j][k] = a[i]; });
        }
        cols.forEach(function (c) { out.push(c); });
      });
      return out;
    }

    function alpha(hex, a) {
      var n = parseInt(hex.slice(1), 16);
      return "rgba(" + (n >> 16 & 255) + "," + (n >> 8 & 255) + "," + (n & 255) + "," + a + ")";
    }

    function num(v) { return v.toLocaleString(LOCALE, { minimumFractionDigits: 1, maximumFractionDigits: 1 }); }

    function lineChart(unitOfChart, lines, byField, bucketed) {
      // per line: its mean, and with buckets longer than a poll its min and max as a band
      var parts = [], series = [], bands = [], idx = 1;
      lines.forEach(function (l) {
        var s = byField[l.f];
        if (!s || !s.t.length) return;
        var banded = bucketed && s.min.some(function (v, i) { return v !== s.max[i]; });
        var unit = s.unit || unitOfChart;
        var meanIdx = idx, minIdx = idx + 1;
        parts.push({ s: s, cols: banded ? [s.mean, s.min, s.max] : [s.mean] });
        series.push({
          label: l.name, stroke: l.color, width: 1.8, dash: l.dash ? [6, 4] : undefined, spanGaps: false,
          points: { show: false },
          value: function (u, v, si, i) {
            if (v === null || v === undefined) return "\u2013";
            var text = num(v) + " " + unit;
            if (banded && i !== null && u.data[minIdx][i] !== null && u.data[minIdx][i] !== undefined) {
              text += " (" + num(u.data[minIdx][i]) + "\u2013" + num(u.data[minIdx + 1][i]) + ")";
            }
            return text;
          }
        });
        idx++;
        if (banded) {
          // min and max carry the band only: no line, no legend row, no hover point (CSS .band)
          ["min", "max"].forEach(function (k) {
            series.push({ label: l.name + " " + k, class: "band", stroke: l.color, width: 0, spanGaps: false,
                          points: { show: false } });
          });
          bands.push({ series: [idx + 1, idx], fill: alpha(l.color, 0.16) });
          idx += 2;
        }
      });
      return { data: joinSeries(parts), series: series, bands: bands, hasData: parts.length > 0 };
    }

    function statusChart(lines, byField) {
      // one lane per status, first line on top; a lane shows 0..1 (the share of time "on"
      // when points are means of longer buckets), additional heat 0..100 % scaled to 0..1
      var shown = lines.filter(function (l) { var s = byField[l.f]; return s && s.t.length; });
      var parts = [], series = [], lanes = [];
      shown.forEach(function (l, lane) {
        var s = byField[l.f], baseY = (shown.length - 1 - lane) * LANE;
        var scale = l.percent ? 0.01 : 1;
        parts.push({ s: s, cols: [s.mean.map(function (v) { return v === null ? null : baseY + v * scale; })] });
        lanes.push({ y: baseY, label: l.label || l.name });
        series.push({
          label: l.name, stroke: l.color, width: 1.4, fill: alpha(l.color, 0.22), fillTo: baseY, spanGaps: false,
          paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
          value: function (u, v) {
            if (v === null || v === undefined) return "\u2013";
            v = (v - baseY) / scale;
            if (l.percent) return Math.round(v) + " %";
            var on = l.f === "switch_valve" ? _("hot water") : _("on"), off = l.f === "switch_valve" ? _("heating") : _("off");
            if (v <= 0) return off;
            if (v >= 1) return on;
            return _("{state} {percent} % of the time", { state: on, percent: Math.round(v * 100) });
          }
        });
      });
      return { data: joinSeries(parts), series: series, bands: [], lanes: lanes, hasData: parts.length > 0 };
    }

    // -- drawing ---------------------------------------------------------------------------

    function chartHeight(spec) {
      var small = window.matchMedia("(max-width: 640px)").matches;
      return (spec.status ? 300 : 230) - (small ? 40 : 0);
    }

    function laneLabels(lanes) {
      // each lane's name inside the plot, above its lane, so the time axis lines up with the others
      return function (u) {
        var ctx = u.ctx, pr = devicePixelRatio || 1;
        ctx.save();
        ctx.font = (11 * pr) + "px " + FONT;
        ctx.textBaseline = "bottom";
        ctx.textAlign = "left"; // the axes leave it right-aligned
        lanes.forEach(function (lane) {
          var y = u.valToPos(lane.y + 1 + 0.55, "y", true), x = u.bbox.left + 4 * pr;
          var w = ctx.measureText(lane.label).width;
          ctx.fillStyle = css("--card");
          ctx.globalAlpha = 0.9;
          ctx.fillRect(x - 2 * pr, y - 14 * pr, w + 4 * pr, 14 * pr);
          ctx.globalAlpha = 1;
          ctx.fillStyle = css("--muted");
          ctx.fillText(lane.label, x, y);
        });
        ctx.restore();
      };
    }

    function draw(doc, win, detail, ids) {
      // Every chart (ids absent), or only those (the ones waiting for a part of the data).
      // Draws run one after the other; a newer full draw stops an older one, so no draw
      // overwrites a newer one's charts. One chart at a time, letting the browser paint in
      // between: the first chart shows while the others are still being built.
      if (!ids) { ++fullSeq; drawn = { doc: doc, win: win, detail: detail }; }
      var mine = fullSeq;
      function run() {
        var chain = Promise.resolve();
        CHARTS.forEach(function (spec) {
          if (ids && ids.indexOf(spec.id) < 0) return;
          chain = chain.then(function () {
            if (mine !== fullSeq) return;
            // zoomed: the charts keep the zoomed window (detail or not); else the whole range
            drawChart(spec, doc, zoom ? [zoom.start, zoom.end] : [drawn.win.start, drawn.win.end]);
            return nextFrame();
          });
        });
        return chain.then(function () { if (mine === fullSeq) allDrawn(); });
      }
      drawQueue = drawQueue.then(run, run);
      return drawQueue;
    }

    function allDrawn() {
      if (Object.keys(waiting).length) return; // the rest of the data is still on its way
      window.__drawCount++;
      if (window.__chartsReadyMs === undefined) {
        window.__chartsReadyMs = performance.now();
        mark("hp:charts-ready");
      }
      document.body.dataset.chartsDrawn = String(window.__drawCount);
    }

    function placeholder(spec, text) {
      // a chart whose data is not there (yet): no uPlot, a note of the chart's height
      var el = document.getElementById("chart-" + spec.id);
      if (plots[spec.id]) { plots[spec.id].destroy(); delete plots[spec.id]; }
      el.textContent = "";
      var box = document.createElement("div");
      box.className = "chart-empty chart-waiting muted";
      box.textContent = text;
      el.appendChild(box);
    }

    function nextFrame() {
      return new Promise(function (resolve) { requestAnimationFrame(function () { setTimeout(resolve, 0); }); });
    }

    function drawChart(spec, doc, xRange) {
      var el = document.getElementById("chart-" + spec.id);
      if (!el) return;
      var lines = available(spec);
      // the answer has an entry for every field asked for, even one without data: a field
      // not in it is in a part still on its way ("Loading", never "No data")
      var byField = {};
      doc.series.forEach(function (s) { byField[s.field] = s; });
      if (lines.some(function (l) { return !(l.f in byField); })) {
        waiting[spec.id] = true;
        placeholder(spec, _("Loading\u2026"));
        return;
      }
      delete waiting[spec.id];
      var bucketed = doc.bucket_ms > doc.interval_ms;
      var built = spec.status ? statusChart(lines, byField) : lineChart(unitOf(spec, lines), lines, byField, bucketed);
      var old = plots[spec.id];
      if (old) old.destroy();
      el.textContent = "";
      var yAxis = spec.status ?
        axis("", { values: function (u, splits) { return splits.map(function () { return ""; }); }, grid: { show: false }, ticks: { show: false } }) :
        axis(unitOf(spec, lines));
      var opts = {
        width: Math.max(200, el.clientWidth), height: chartHeight(spec), ms: 1,
        series: [{ label: _("Time"), value: function (u, v) { return v === null || v === undefined ? "\u2013" : fmtTime(v); } }]
          .concat(built.series),
        bands: built.bands,
        scales: { x: { time: true }, y: spec.status ? { range: [-0.15, Math.max(1, built.lanes.length) * LANE - 0.1] } : {} },
        axes: [axis(null, { size: 50, label: undefined, values: timeTicks(false) }), yAxis],
        legend: { live: true },
        cursor: {
          sync: { key: "hp-charts" },
          drag: { x: true, y: false, setScale: true },
          bind: {
            // double-click shows the whole range again (not just the data's extent)
            dblclick: function (u) { return function () { u.setScale("x", { min: base.start, max: base.end }); return null; }; },
            // Shift+drag moves the time window; a plain drag selects a window to zoom into
            mousedown: function (u, targ, handler) { return function (ev) { return ev.shiftKey ? pan(u, ev) : handler(ev); }; }
          }
        },
        hooks: {
          setScale: [function (u, key) { if (key === "x") scaleChanged(u); }],
          draw: [function () {
            if (built.hasData && window.__firstChartMs === undefined) {
              window.__firstChartMs = performance.now();
              mark("hp:first-chart");
            }
          }]
        }
      };
      if (built.lanes) opts.hooks.draw.push(laneLabels(built.lanes));
      building = true;
      try {
        var u = new uPlot(opts, built.data, el);
        u.setScale("x", { min: xRange[0], max: xRange[1] });
      } finally { building = false; }
      plots[spec.id] = u;
      if (!built.hasData) {
        var empty = document.createElement("div");
        empty.className = "chart-empty muted";
        empty.textContent = lines.length ? _("No data in this range") : _("Not available for this heat pump");
        u.over.appendChild(empty);
      }
    }

    // -- shared time axis: zoom and pan follow across charts, hover via cursor.sync ---------

    function scaleChanged(u) {
      if (building || syncing) return;
      var start = u.scales.x.min, end = u.scales.x.max;
      syncing = true;
      try {
        Object.keys(plots).forEach(function (id) {
          var o = plots[id];
          if (o !== u && (o.scales.x.min !== start || o.scales.x.max !== end)) o.setScale("x", { min: start, max: end });
        });
      } finally { syncing = false; }
      zoomed(start, end);
    }

    function pan(u, ev) {
      // (uPlot listens passively: no preventDefault; its plot area selects no text anyway)
      var x0 = ev.clientX, min = u.scales.x.min, max = u.scales.x.max;
      var perPx = (max - min) / u.over.clientWidth;
      function move(e) { var d = (e.clientX - x0) * perPx; u.setScale("x", { min: min - d, max: max - d }); }
      function up() { document.removeEventListener("mousemove", move); document.removeEventListener("mouseup", up); }
      document.addEventListener("mousemove", move);
      document.addEventListener("mouseup", up);
      return null;
    }

    function resize() {
      Object.keys(plots).forEach(function (id) {
        var el = document.getElementById("chart-" + id), spec = CHARTS.filter(function (s) { return s.id === id; })[0];
        if (el) plots[id].setSize({ width: Math.max(200, el.clientWidth), height: chartHeight(spec) });
      });
    }
    var resizeTimer = null;
    window.addEventListener("resize", function () { clearTimeout(resizeTimer); resizeTimer = setTimeout(resize, 100); });
    // axes and grid take their colours from the CSS variables: redraw when the scheme changes
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () {
      if (drawn) draw(drawn.doc, drawn.win, drawn.detail);
    });

    function zoomed(start, end) {
      // zoomed far enough in: ask for finer data of the visible window
      clearTimeout(zoomTimer);
      if (!base) return;
      var full = base.end - base.start;
      if (Math.abs(start - base.start) < full * 0.002 && Math.abs(end - base.end) < full * 0.002) {
        if (zoom) { zoom = null; draw(base.doc, base); exportLinks(base); }
        return;
      }
      zoom = { start: start, end: end };
      exportLinks(zoom);
      if (end - start > full * 0.6 || base.doc.bucket_ms <= base.doc.interval_ms) return;
      zoomTimer = setTimeout(function () {
        var mine = ++zoomSeq, of = base;
        request({ start: Math.max(0, start), end: end }).then(function (doc) {
          if (mine !== zoomSeq || of !== base || !zoom) return; // a newer zoom or load took over
          draw(doc, base, true);
        }).catch(function (err) { showBanner(_("Cannot load the zoomed data: {error}", { error: err.message }), "error"); });
      }, 350);
    }

    // -- loading ------------------------------------------------------------------------

    function load(push, whole) {
      // The data in parts (fieldParts): the first chart is drawn as soon as its part is there,
      // the others when the rest arrives. whole: in one request (a refresh: charts are shown).
      clearTimeout(refreshTimer);
      clearTimeout(zoomTimer);
      if (!gateway) return Promise.resolve();
      markPresets();
      var win = windowOf(range);
      var mine = ++seq;
      zoom = null;
      ++zoomSeq;
      document.body.classList.add("loading");
      // a part: a function starting its request (once); the preloaded ones have started
      var parts = planned || (whole ? [null] : fieldParts()).map(function (f) {
        return once(function () { return request(win, f || undefined); });
      });
      if (!parts.length) parts = [once(function () { return request(win); })]; // rejects: no chartable fields
      planned = null;
      if (push !== undefined) setUrl(push);
      var lib = whenUplot().then(function () { mark("hp:uplot-ready"); });
      var chain = Promise.resolve();
      parts.forEach(function (req, i) {
        // the next part is asked for once this one is answered (unless preloaded): the first
        // chart's query has the server to itself, the others are computed while it is drawn
        chain = chain.then(function () {
          if (mine !== seq) return null; // a newer load took over: ask for no more
          var got = req();
          if (parts[i + 1]) got.then(function () { if (mine === seq) parts[i + 1](); }, function () {});
          return Promise.all([got, lib]);
        }).then(function (got) {
          if (mine !== seq || !got) return;
          var doc = got[0];
          mark("hp:series-" + (i + 1) + "-received");
          if (i === 0) {
            base = { start: doc.start_ms, end: doc.end_ms, doc: doc };
            showBanner(null);
            rangeInfo(doc, base);
            return draw(doc, base);
          }
          // the same window, more fields: into the range's answer, then the charts waiting for it
          doc.series.forEach(function (s) { base.doc.series.push(s); });
          var ids = Object.keys(waiting); // none: a zoomed window's data (all fields) came first
          if (ids.length) return draw(drawn.doc, drawn.win, drawn.detail, ids);
        });
      });
      return chain.catch(function (err) {
        if (mine !== seq) return;
        showBanner(err.status === 503 ? capital(err.message) : _("Cannot load the charts: {error}", { error: err.message }), "error");
        CHARTS.forEach(function (spec) { if (waiting[spec.id]) placeholder(spec, _("Not loaded")); });
      }).then(function () {
        if (mine !== seq) return;
        document.body.classList.remove("loading");
        if (range.preset) refreshTimer = setTimeout(refresh, CHARTS_REFRESH_MS);
      });
    }

    function refresh() {
      // a preset range follows the clock, unless the user is looking at a zoomed window
      if (document.visibilityState === "visible" && !zoom) load(undefined, true);
      else refreshTimer = setTimeout(refresh, CHARTS_REFRESH_MS);
    }

    function whenUplot() {
      // uPlot's script comes before this one (both deferred): it has run unless it failed
      if (window.uPlot) return Promise.resolve();
      return new Promise(function (resolve, reject) {
        document.addEventListener("DOMContentLoaded", function () {
          if (window.uPlot) resolve();
          else reject(new Error(_("the chart library did not load")));
        }, { once: true });
      });
    }

    $all(".presets button").forEach(function (b) {
      b.addEventListener("click", function () {
        note = null;
        range = { preset: b.dataset.range };
        load(true);
      });
    });
    var form = document.getElementById("custom-range");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var s = new Date($("#range-from").value).getTime(), e = new Date($("#range-to").value).getTime();
      if (!isFinite(s) || !isFinite(e) || s >= e) { showBanner(_("Custom range: \u201cFrom\u201d must be before \u201cTo\u201d."), "error"); return; }
      note = null;
      range = { preset: null, start: s, end: e };
      load(true);
    });
    window.addEventListener("popstate", function () {
      params = new URLSearchParams(location.search);
      pickGateway();
      range = rangeFromUrl();
      load();
    });
    onGatewayChange(function () { load(); });

    if (gateway) {
      var plan = cfg.plan;
      if (plan && plan.gateway === gateway.gateway && plan.range === range.preset) {
        // the requests the page preloads (web/charts.py), by their exact URLs
        planned = plan.urls.map(function (url, i) {
          var req = once(function () { return getJson(url); });
          if (i < plan.preloaded) req(); // the preload is under way: take it up now
          return req;
        });
      }
      load(false);
    } else {
      waitForGateways(function () { load(false); });
    }
  }

  // ====================================================================================

  // what summary.js (the KPI cards, the daily page; loaded after this file) uses of these helpers
  // an element with a class and a text (text via textContent: never markup from the answers)
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  window.hpDashboard = { $: $, api: api, axis: axis, capital: capital, css: css, el: el, fmtDuration: fmtDuration,
                         alarmText: alarmText, timeTicks: timeTicks, locale: LOCALE };

  pickGateway();
  if (page === "overview") overview();
  else if (page === "charts") chartsPage();
})();
