/* heatpump-monitor: the owners' figures. On the overview, KPI cards (today, yesterday, 7 days,
 * 30 days); on /daily, bars per local day (uPlot's bars path builder), the days as a table and
 * the event log of a chosen day, with CSV downloads. Reads /api/v1/summary and /api/v1/events.
 * Every figure says whether it is measured or estimated (the answer's `estimated` list). */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("config").textContent);
  var page = document.body.dataset.page;
  var KPI_REFRESH_MS = 60000;
  var DAY_MS = 86400000;

  // app.js's helpers (loaded before this file): one API client, one axis style, one duration format
  var hp = window.hpDashboard;
  var $ = hp.$, api = hp.api, capital = hp.capital;
  var el = hp.el;

  function gatewayName() {
    var select = document.getElementById("gateway");
    if (select && select.value) return select.value;
    var wanted = new URLSearchParams(location.search).get("gateway");
    var gws = cfg.gateways || [];
    var found = gws.filter(function (g) { return g.gateway === wanted; })[0] || gws[0];
    return found ? found.gateway : null;
  }
  function gatewayEntry(name) { return (cfg.gateways || []).filter(function (g) { return g.gateway === name; })[0] || null; }

  function url(path, query) {
    var qs = new URLSearchParams();
    Object.keys(query).forEach(function (k) { if (query[k] !== undefined && query[k] !== null) qs.set(k, query[k]); });
    return path + "?" + qs.toString();
  }


  // -- figures --------------------------------------------------------------------------

  function num(v, digits) {
    if (v === null || v === undefined) return "\u2013";
    return v.toLocaleString(hp.locale, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function isEst(p, key) { return (p.estimated || []).indexOf(key) >= 0; }
  // "estimated" / "measured" for a figure that has a value (none for an unknown one)
  function how(p, key) { return p[key] === null || p[key] === undefined ? "" : isEst(p, key) ? "estimated" : "measured"; }

  // the figures of a KPI card and of the days table: key, label, unit, digits, marked (says measured/estimated)
  var FIGURES = [
    { key: "compressor_runtime_h", label: _("Runtime"), unit: "h", digits: 1 },
    { key: "compressor_starts", label: _("Starts"), unit: "", digits: 0 },
    { key: "starts_per_hour", label: _("Starts per hour"), unit: "/h", digits: 2 },
    { key: "add_heat_h", label: _("Add-heat"), unit: "h", digits: 1 },
    { key: "energy_kwh", label: _("Energy"), unit: "kWh", digits: 1, marked: true },
    { key: "cop", label: _("COP"), unit: "", digits: 2, marked: true },
    { key: "cost", label: _("Cost"), unit: "currency", digits: 2, marked: true },
    { key: "outdoor_mean", label: _("Outdoor mean"), unit: "\u00b0C", digits: 1 }
  ];

  function badge(p, key) {
    var h = how(p, key);
    if (!h) return null;
    // the COP is labelled "est." wherever it is one; energy and cost say measured or estimated
    var b = el("span", "badge " + (h === "estimated" ? "est" : "meas"), h === "estimated" ? (key === "cop" ? _("est.") : _("estimated")) : _("measured"));
    b.title = h === "estimated" ? _("Estimated: rests on an assumption (see README, Summaries)") : _("Measured") +
      (key === "energy_kwh" && p.energy_method ? " (" + p.energy_method + ")" : "");
    return b;
  }

  function figure(p, f, currency) {
    var box = el("div", "kpi-figure");
    box.dataset.key = f.key;
    box.appendChild(el("span", "kpi-label", f.label));
    var value = el("span", "kpi-value");
    value.appendChild(el("span", "v", num(p[f.key], f.digits)));
    var unit = f.unit === "currency" ? (p.currency || currency || "") : f.unit;
    if (unit && p[f.key] !== null && p[f.key] !== undefined) value.appendChild(el("span", "u", unit));
    box.appendChild(value);
    if (f.marked) { var b = badge(p, f.key); if (b) box.appendChild(b); }
    return box;
  }

  function shortCycling(p) {
    var s = el("div", "kpi-flag");
    s.dataset.state = p.short_cycling === true ? "yes" : p.short_cycling === false ? "no" : "unknown";
    s.textContent = p.short_cycling === true ? _("Short-cycling") : p.short_cycling === false ? _("No short-cycling") : _("Short-cycling: unknown");
    s.title = _("Short-cycling: several hours with many starts and short runs (rule in the README, Summaries)");
    return s;
  }

  // ====================================================================================
  // Overview: KPI cards
  // ====================================================================================

  function kpis() {
    var box = document.getElementById("kpis");
    if (!box) return;
    var timer = null, seq = 0;

    function card(title, p, note) {
      var c = el("article", "card kpi");
      c.appendChild(el("h2", null, title));
      if (note) c.appendChild(el("div", "kpi-note muted", note));
      var grid = el("div", "kpi-grid");
      FIGURES.forEach(function (f) { grid.appendChild(figure(p, f, cfg.currency)); });
      c.appendChild(grid);
      c.appendChild(shortCycling(p));
      if (p.coverage !== null && p.coverage !== undefined && p.coverage < 0.95 && p.snapshots > 0)
        c.appendChild(el("div", "kpi-note muted", _("data for {percent} % of the time", { percent: Math.round(p.coverage * 100) })));
      return c;
    }

    function load() {
      clearTimeout(timer);
      var gw = gatewayName();
      if (!gw) { timer = setTimeout(load, 5000); return; }
      var mine = ++seq, out = {};
      // one after the other: the server computes one summary per gateway at a time
      api("/api/v1/summary", { gateway: gw, since: "2d", by: "day" }).then(function (doc) {
        out.yesterday = doc.periods[0]; out.today = doc.periods[1];
        return api("/api/v1/summary", { gateway: gw, since: "7d", by: "period" });
      }).then(function (doc) {
        out.week = doc.periods[0];
        return api("/api/v1/summary", { gateway: gw, since: "30d", by: "period" });
      }).then(function (doc) {
        if (mine !== seq) return;
        out.month = doc.periods[0];
        box.textContent = "";
        box.appendChild(card(_("Today"), out.today, _("so far")));
        box.appendChild(card(_("Yesterday"), out.yesterday));
        box.appendChild(card(_("7 days"), out.week));
        box.appendChild(card(_("30 days"), out.month));
        box.hidden = false;
        box.dataset.gateway = gw;
        window.__kpis = out;
      }).catch(function (err) {
        if (mine !== seq) return;
        box.textContent = "";
        var c = el("article", "card kpi kpi-error");
        c.appendChild(el("h2", null, _("Today, yesterday, 7 and 30 days")));
        c.appendChild(el("div", "muted", _("Cannot compute the figures: {error}", { error: err.message })));
        box.appendChild(c);
        box.hidden = false;
      }).then(function () { timer = setTimeout(load, KPI_REFRESH_MS); });
    }

    var select = document.getElementById("gateway");
    if (select) select.addEventListener("change", function () { box.hidden = true; load(); });
    window.addEventListener("popstate", function () { load(); });
    load();
  }

  // ====================================================================================
  // Daily page: bars, days table, event log
  // ====================================================================================

  // one bar chart per entry; two series are drawn side by side
  var BARS = [
    { id: "energy", title: _("Energy (kWh): electricity in, heat out"), bars: [
      { key: "energy_kwh", name: _("Electricity in"), color: "#1f6feb" },
      { key: "heat_kwh", name: _("Heat out"), color: "#e8590c" }] },
    { id: "cop", title: _("COP"), bars: [{ key: "cop", name: _("COP"), color: "#2f9e44" }] },
    { id: "starts", title: _("Compressor starts"), bars: [{ key: "compressor_starts", name: _("Starts"), color: "#7048e8" }] },
    { id: "runtime", title: _("Runtime and add-heat (h)"), bars: [
      { key: "compressor_runtime_h", name: _("Compressor runtime"), color: "#0c8599" },
      { key: "add_heat_h", name: _("Add-heat"), color: "#c92a2a" }] },
    { id: "outdoor", title: _("Outdoor mean (\u00b0C)"), bars: [{ key: "outdoor_mean", name: _("Outdoor mean"), color: "#1c7ed6" }] }
  ];
  var TABLE = [
    { key: "energy_kwh", label: _("kWh in"), digits: 1 }, { key: "heat_kwh", label: _("kWh out"), digits: 1 },
    { key: "cop", label: _("COP"), digits: 2 }, { key: "compressor_starts", label: _("Starts"), digits: 0 },
    { key: "compressor_runtime_h", label: _("Runtime h"), digits: 1 }, { key: "add_heat_h", label: _("Add-heat h"), digits: 1 },
    { key: "outdoor_mean", label: _("Outdoor \u00b0C"), digits: 1 }, { key: "cost", label: _("Cost"), digits: 2 },
    { key: "short_cycling", label: _("Short-cycling") }
  ];
  var EVENTS = {
    compressor_on: _("Compressor started"), compressor_off: _("Compressor stopped"),
    add_heat_on: _("Add-on heater on"), add_heat_off: _("Add-on heater off"),
    hot_water_start: _("Hot-water charge started"), hot_water_end: _("Hot-water charge ended"),
    alarm_raised: _("Alarm"), alarm_cleared: _("Alarm cleared"),
    gateway_silent: _("No data from the gateway"), gateway_back: _("Data from the gateway again")
  };
  var PRESET_DAYS = [14, 30, 90, 365];

  function fmtDuration(s) { return s === null || s === undefined ? "" : hp.fmtDuration(s); }
  function localDay(iso) { return iso.slice(0, 10); } // the period's local date, as the server's zone has it
  function dayLabel(iso) {
    var d = new Date(iso.slice(0, 10) + "T12:00:00Z");
    return d.toLocaleDateString(hp.locale, { weekday: "short", month: "short", day: "numeric", timeZone: "UTC" });
  }

  function daily() {
    var params = new URLSearchParams(location.search);
    var days = parseInt(params.get("days"), 10);
    if (PRESET_DAYS.indexOf(days) < 0) days = 30;
    var chosen = params.get("day"); // a local date, or null: the last day
    var doc = null, plots = {}, seq = 0, evSeq = 0;
    var banner = document.getElementById("banner");
    window.__daily = { charts: plots, drawn: 0, events: null };

    function showBanner(text, kind) {
      banner.hidden = !text;
      banner.textContent = text || "";
      banner.className = "banner" + (kind ? " " + kind : "");
    }

    function setUrl(push) {
      params.set("days", String(days));
      if (chosen) params.set("day", chosen); else params.delete("day");
      var gw = gatewayName();
      if (gw) params.set("gateway", gw);
      var next = location.pathname + "?" + params.toString();
      if (push) history.pushState(null, "", next); else history.replaceState(null, "", next);
    }

    function pressPresets() {
      Array.prototype.forEach.call(document.querySelectorAll("button[data-days]"), function (b) {
        b.setAttribute("aria-pressed", String(parseInt(b.dataset.days, 10) === days));
      });
    }

    function load() {
      var gw = gatewayName();
      pressPresets();
      if (!gw) { showBanner(cfg.error ? capital(cfg.error) : _("No data in the store yet."), cfg.error ? "error" : ""); return; }
      var mine = ++seq;
      $("#daily-info").textContent = _("computing\u2026");
      api("/api/v1/summary", { gateway: gw, since: days + "d", by: "day" }).then(function (d) {
        if (mine !== seq) return;
        doc = d;
        showBanner(null);
        var periods = d.periods;
        if (!chosen || !periods.some(function (p) { return localDay(p.start) === chosen; })) chosen = localDay(periods[periods.length - 1].start);
        $("#daily-info").textContent = ngettext("{n} day, {first} to {last} ({tz})", "{n} days, {first} to {last} ({tz})",
          periods.length, { first: localDay(periods[0].start), last: localDay(periods[periods.length - 1].start), tz: d.tz });
        $("#csv-days").href = url("/api/v1/summary", { gateway: gw, since: days + "d", by: "day", format: "csv" });
        drawAll();
        table();
        choose(chosen, false);
      }).catch(function (err) {
        if (mine !== seq) return;
        $("#daily-info").textContent = "";
        showBanner(err.status === 503 || err.status === 404 ? capital(err.message) : _("Cannot load the days: {error}", { error: err.message }), "error");
      });
    }

    // -- bars ---------------------------------------------------------------------------

    function axis(label, extra) {  // the charts' axis, a little smaller for the bars
      var a = hp.axis(label, { size: 52, labelSize: 16 });
      Object.keys(extra || {}).forEach(function (k) { a[k] = extra[k]; });
      return a;
    }

    function estimatedIn(key) {
      return doc.periods.some(function (p) { return p[key] !== null && isEst(p, key); });
    }

    function drawAll() {
      var host = document.getElementById("daily-charts");
      Object.keys(plots).forEach(function (id) { plots[id].destroy(); delete plots[id]; });
      host.textContent = "";
      var periods = doc.periods;
      // x: each local day's middle (seconds, uPlot's time unit), so a bar sits over its day
      var xs = periods.map(function (p) { return (Date.parse(p.start) + Date.parse(p.end)) / 2000; });
      var half = DAY_MS / 2000;
      BARS.forEach(function (spec) {
        var card = el("article", "card chart-card bar-card");
        card.id = "bars-" + spec.id;
        var title = spec.title;
        var marks = spec.bars.map(function (b) { return estimatedIn(b.key) ? "estimated" : "measured"; }); // (keys, not shown)
        var h2 = el("h2", null, title);
        spec.bars.forEach(function (b, i) {
          var any = periods.some(function (p) { return p[b.key] !== null && p[b.key] !== undefined; });
          if (!any) return;
          var tag = el("span", "badge " + (marks[i] === "estimated" ? "est" : "meas"),
            (spec.bars.length > 1 ? b.name + ": " : "") + (marks[i] === "estimated" ? (b.key === "cop" ? _("est.") : _("estimated")) : _("measured")));
          h2.appendChild(document.createTextNode(" "));
          h2.appendChild(tag);
        });
        card.appendChild(h2);
        var box = el("div", "chart bars");
        card.appendChild(box);
        host.appendChild(card);
        var two = spec.bars.length > 1;
        var series = [{ label: _("Day"), value: function (u, v) { return v === null || v === undefined ? "\u2013" :
          dayLabel(new Date(v * 1000 - half * 1000).toISOString()); } }];
        var data = [xs];
        spec.bars.forEach(function (b, i) {
          series.push({
            label: b.name, stroke: b.color, fill: b.color + "cc", width: 0,
            paths: uPlot.paths.bars({ size: [two ? 0.4 : 0.7, 60], align: two ? (i === 0 ? -1 : 1) : 0 }),
            points: { show: false },
            value: function (u, v) { return v === null || v === undefined ? "\u2013" : num(v, b.key === "cop" ? 2 : b.key === "compressor_starts" ? 0 : 1); }
          });
          data.push(periods.map(function (p) { var v = p[b.key]; return v === undefined ? null : v; }));
        });
        var opts = {
          width: Math.max(200, box.clientWidth), height: 220,
          series: series,
          scales: { x: { time: true, range: function () { return [xs[0] - half, xs[xs.length - 1] + half]; } },
                    y: { range: function (u, min, max) {
                      var lo = Math.min(0, min === null ? 0 : min), hi = Math.max(0, max === null ? 1 : max);
                      if (lo === hi) hi = lo + 1;
                      return [lo, hi + (hi - lo) * 0.08];
                    } } },
          axes: [axis(null, { size: 40, label: undefined, values: hp.timeTicks(true) }), axis("")],
          legend: { live: true },
          cursor: { drag: { x: false, y: false }, points: { show: false } }
        };
        var u = new uPlot(opts, data, box);
        u.over.addEventListener("click", function () {
          var i = u.cursor.idx;
          if (i !== null && i !== undefined && doc.periods[i]) choose(localDay(doc.periods[i].start), true);
        });
        plots[spec.id] = u;
      });
      highlight();
      window.__daily.drawn++;
      document.body.dataset.dailyDrawn = String(window.__daily.drawn);
    }

    function highlight() {
      // the chosen day: a band behind its bars (a cheap overlay, no redraw of the bars)
      Object.keys(plots).forEach(function (id) {
        var u = plots[id], old = u.over.querySelector(".day-mark");
        if (old) old.remove();
        var i = doc.periods.map(function (p) { return localDay(p.start); }).indexOf(chosen);
        if (i < 0) return;
        var x = u.data[0][i], half = DAY_MS / 2000;
        var l = u.valToPos(x - half, "x"), r = u.valToPos(x + half, "x");
        var m = el("div", "day-mark");
        m.style.left = l + "px";
        m.style.width = Math.max(2, r - l) + "px";
        u.over.appendChild(m);
      });
    }

    // -- days table ---------------------------------------------------------------------

    function table() {
      var thead = $("#days thead"), tbody = $("#days tbody");
      thead.textContent = ""; tbody.textContent = "";
      var hr = el("tr");
      hr.appendChild(el("th", null, _("Day")));
      TABLE.forEach(function (c) { hr.appendChild(el("th", null, c.key === "cost" ? _("Cost {currency}", { currency: doc.currency }) : c.label)); });
      thead.appendChild(hr);
      doc.periods.slice().reverse().forEach(function (p) {
        var tr = el("tr", "day-row");
        tr.dataset.day = localDay(p.start);
        tr.tabIndex = 0;
        tr.appendChild(el("td", "mono", localDay(p.start)));
        TABLE.forEach(function (c) {
          var v = p[c.key], td;
          if (c.key === "short_cycling") td = el("td", v ? "flag-yes" : "", v === true ? _("yes") : v === false ? _("no") : "\u2013");
          else td = el("td", "num", num(v, c.digits));
          if (v !== null && v !== undefined && c.key !== "short_cycling") {
            if (isEst(p, c.key)) { td.classList.add("est"); td.textContent += "*"; td.title = _("estimated"); }
            else td.title = _("measured");
          }
          tr.appendChild(td);
        });
        tr.addEventListener("click", function () { choose(tr.dataset.day, true); });
        tr.addEventListener("keydown", function (e) { if (e.key === "Enter") choose(tr.dataset.day, true); });
        tbody.appendChild(tr);
      });
    }

    // -- the chosen day: its events and downloads -----------------------------------------

    function choose(day, push) {
      chosen = day;
      setUrl(push);
      highlight();
      Array.prototype.forEach.call(document.querySelectorAll("#days tr.day-row"), function (tr) {
        tr.setAttribute("aria-selected", String(tr.dataset.day === day));
      });
      var gw = gatewayName();
      var p = doc.periods.filter(function (x) { return localDay(x.start) === day; })[0];
      $("#events-day").textContent = dayLabel(p.start) + " (" + day + ")";
      $("#csv-hours").href = url("/api/v1/summary", { gateway: gw, from: day, to: day, by: "hour", format: "csv" });
      $("#csv-events").href = url("/api/v1/events", { gateway: gw, from: day, to: day, format: "csv" });
      var entry = gatewayEntry(gw), fields = entry && cfg.brands[entry.brand] ? Object.keys(cfg.brands[entry.brand].fields) : [];
      // at most 40 fields at one value a minute: within the API's 60,000 values per request
      $("#csv-series").href = url("/api/v1/series", { gateway: gw, fields: fields.slice(0, 40).join(","), start: p.start,
        end: p.end, points: 1440, format: "csv" });
      $("#csv-series").hidden = !fields.length;
      var mine = ++evSeq, tbody = $("#events tbody");
      api("/api/v1/events", { gateway: gw, from: day, to: day }).then(function (ev) {
        if (mine !== evSeq) return;
        tbody.textContent = "";
        var note = $("#events-note");
        note.hidden = !ev.truncated && ev.events.length > 0;
        note.textContent = ev.truncated ? _("Showing the newest {shown} of {total} events.", { shown: ev.events.length, total: ev.total }) :
          ev.events.length ? "" : _("No events on this day.");
        ev.events.slice().reverse().forEach(function (e) {
          var tr = el("tr", "event");
          tr.dataset.kind = e.kind;
          // the time of day in the summaries' zone (the answer's offset), as the days are
          var t = el("td", "num mono", e.time.slice(11, 19));
          t.title = e.time;
          tr.appendChild(t);
          tr.appendChild(el("td", null, EVENTS[e.kind] || e.kind));
          tr.appendChild(el("td", "num", e.duration_s === null ? "" : e.kind === "compressor_off" ?
            _("ran {duration}", { duration: fmtDuration(e.duration_s) }) : fmtDuration(e.duration_s)));
          // an alarm's text in the page's language (the brands' texts, context "alarm")
          tr.appendChild(el("td", null, e.kind === "alarm_raised" ? hp.alarmText(e.text) : e.text));
          tbody.appendChild(tr);
        });
        window.__daily.events = ev;
        document.body.dataset.eventsDay = day;
      }).catch(function (err) {
        if (mine !== evSeq) return;
        tbody.textContent = "";
        var note = $("#events-note");
        note.hidden = false;
        note.textContent = _("Cannot load the events: {error}", { error: err.message });
      });
    }

    Array.prototype.forEach.call(document.querySelectorAll("button[data-days]"), function (b) {
      b.addEventListener("click", function () { days = parseInt(b.dataset.days, 10); setUrl(true); load(); });
    });
    var select = document.getElementById("gateway");
    if (select) select.addEventListener("change", function () {
      chosen = null;
      setUrl(true);
      // the nav links keep the gateway (app.js sets them on the pages it runs)
      Array.prototype.forEach.call(document.querySelectorAll("a[data-keep-gateway]"), function (a) {
        a.setAttribute("href", a.getAttribute("href").split("?")[0] + "?gateway=" + encodeURIComponent(select.value));
      });
      load();
    });
    window.addEventListener("popstate", function () {
      params = new URLSearchParams(location.search);
      var d = parseInt(params.get("days"), 10);
      days = PRESET_DAYS.indexOf(d) < 0 ? 30 : d;
      chosen = params.get("day");
      load();
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () {
        Object.keys(plots).forEach(function (id) {
          var box = plots[id].root.parentNode;
          plots[id].setSize({ width: Math.max(200, box.clientWidth), height: 220 });
        });
        if (doc) highlight();
      }, 100);
    });
    // axes and grid take their colours from the CSS variables: redraw when the scheme changes
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () { if (doc) drawAll(); });
    load();
  }

  if (page === "overview") kpis();
  else if (page === "daily") daily();
})();
