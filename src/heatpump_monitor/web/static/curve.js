/* heatpump-monitor: the heat-curve page (/heatcurve, /api/v1/heatcurve) and the heat-signature
 * page (/signature, /api/v1/signature). Every text is here, through i18n.js's _() with {name}
 * placeholders (short common words with the context "curve"), so the templates stay bare ids. Scatter plots with uPlot: one shared, sorted x
 * (outdoor temperature) and one series per kind of point, null where a point belongs to another
 * series; points without paths, lines with spanGaps. Loaded after app.js (hpDashboard) and uPlot. */
(function () {
  "use strict";
  var hp = window.hpDashboard;
  var cfg = JSON.parse(document.getElementById("config").textContent);
  var page = document.body.dataset.page;
  if (!hp || (page !== "heatcurve" && page !== "signature")) return;
  var $ = hp.$, el = hp.el, css = hp.css;
  // the page's locale as i18n.js resolved it (summary.js and alerts.js format with the same)
  var num1 = new Intl.NumberFormat(hp.locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  var num0 = new Intl.NumberFormat(hp.locale, { maximumFractionDigits: 0 });
  function f1(x) { return x === null || x === undefined ? "–" : num1.format(x); }
  function f0(x) { return x === null || x === undefined ? "–" : num0.format(x); }
  var plots = {};
  window.__curvePlots = plots; // for the browser tests

  function text(id, t) { var e = document.getElementById(id); if (e) e.textContent = t; }

  function showBanner(t, kind) {
    var b = document.getElementById("banner");
    b.hidden = !t;
    b.textContent = t || "";
    b.className = "banner" + (kind ? " " + kind : "");
  }

  function gatewayName() {
    var select = document.getElementById("gateway");
    if (select && select.value) return select.value;
    var wanted = new URLSearchParams(location.search).get("gateway");
    var gws = cfg.gateways || [];
    var found = gws.filter(function (g) { return g.gateway === wanted; })[0] || gws[0];
    return found ? found.gateway : null;
  }

  function setParam(name, value) {
    var params = new URLSearchParams(location.search);
    if (value === null || value === "") params.delete(name); else params.set(name, value);
    history.replaceState(null, "", location.pathname + "?" + params.toString());
  }

  function failed(err) {
    showBanner(hp.capital(err.message || String(err)), "error");
  }

  // -- a scatter chart ------------------------------------------------------------------------

  /* ``groups``: [{label, color, points: [[x, y], ...], line: bool, dash, size, show}]; one uPlot
   * over the sorted union of their x values. */
  function scatter(hostId, groups, xLabel, yLabel, fromZero) {
    var host = document.getElementById(hostId);
    if (plots[hostId]) { plots[hostId].destroy(); delete plots[hostId]; }
    host.textContent = "";
    var entries = [];
    groups.forEach(function (g, gi) {
      g.points.forEach(function (p) { if (p[0] !== null && p[1] !== null) entries.push([p[0], gi, p[1]]); });
    });
    entries.sort(function (a, b) { return a[0] - b[0]; });
    var data = [entries.map(function (e) { return e[0]; })];
    groups.forEach(function (g, gi) {
      data.push(entries.map(function (e) { return e[1] === gi ? e[2] : null; }));
    });
    var series = [{ label: xLabel }];
    groups.forEach(function (g) {
      var s = { label: g.label, stroke: g.color, show: g.show !== false, width: g.line ? 2 : 0 };
      if (g.line) {
        s.spanGaps = true;
        s.dash = g.dash;
        s.points = { show: false };
      } else {
        s.paths = function () { return null; };
        s.points = { show: true, size: g.size || 4, stroke: g.color, fill: g.fill || g.color, width: g.ring ? 2 : 0 };
      }
      series.push(s);
    });
    var width = Math.max(200, host.clientWidth || host.parentNode.clientWidth - 24);
    var opts = {
      width: width, height: Math.round(Math.min(420, Math.max(240, width * 0.6))),
      // the signature's y starts below zero, so its balance point (at 0) is not cut in half
      // a little room on both sides: a marker at the data's edge (the balance point, now) shows whole
      scales: { x: { time: false, range: function (u, lo, hi) {
        var pad = Math.max(0.5, 0.04 * (hi - lo));
        return [lo - pad, hi + pad];
      } }, y: fromZero ? { range: function (u, lo, hi) {
        var top = Math.max(hi, 1), pad = 0.06 * (top - Math.min(0, lo));
        return [Math.min(0, lo) - pad, top + pad];
      } } : {} },
      series: series,
      axes: [hp.axis(xLabel, { size: 44 }), hp.axis(yLabel, { size: 48 })],
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
    };
    var plot = new uPlot(opts, data, host);
    plot.groups = groups; // what each series is, for the tests
    plots[hostId] = plot;
    return plot;
  }

  // charts follow their card's width (a phone turned, a window resized)
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      Object.keys(plots).forEach(function (id) {
        var host = document.getElementById(id);
        var w = Math.max(200, host.parentNode.clientWidth - 24);
        plots[id].setSize({ width: w, height: Math.round(Math.min(420, Math.max(240, w * 0.6))) });
      });
    }, 150);
  });

  // -- the heat curve ---------------------------------------------------------------------------

  var STATES = [
    { key: "heating", label: function () { return pgettext("curve", "Heating"); }, color: "--accent" },
    { key: "hot_water", label: function () { return pgettext("curve", "Hot water"); }, color: "--hot" },
    { key: "add_heat", label: function () { return pgettext("curve", "Add-heat"); }, color: "--bad" },
    { key: "defrost", label: function () { return pgettext("curve", "Defrost"); }, color: "--on" },
    { key: "off", label: function () { return pgettext("curve", "Compressor off"); }, color: "--off" },
  ];
  var CURVE_DAYS = [7, 30, 90, 365];

  function heatCurvePage() {
    text("curve-title", _("Forward temperature against outdoor temperature"));
    text("indoor-title", _("Indoor temperature against outdoor temperature"));
    text("curve-about-title", _("About the configured curve"));
    var presets = document.getElementById("curve-days");
    presets.setAttribute("aria-label", pgettext("curve", "Days shown"));
    var days = parseInt(new URLSearchParams(location.search).get("since") || "30", 10);
    if (CURVE_DAYS.indexOf(days) < 0) days = 30;
    CURVE_DAYS.forEach(function (d) {
      var b = el("button", null, ngettext("Last {n} day", "Last {n} days", d));
      b.type = "button";
      b.dataset.days = String(d);
      b.addEventListener("click", function () { days = d; setParam("since", d + "d"); load(); });
      presets.appendChild(b);
    });

    function load() {
      Array.prototype.forEach.call(presets.children, function (b) {
        b.setAttribute("aria-pressed", String(parseInt(b.dataset.days, 10) === days));
      });
      var gw = gatewayName();
      if (!gw) { showBanner(cfg.error ? hp.capital(cfg.error) : pgettext("curve", "No data in the store yet."), cfg.error ? "error" : ""); return; }
      text("curve-info", pgettext("curve", "Loading…"));
      hp.api("/api/v1/heatcurve", { gateway: gw, since: days + "d" }).then(function (doc) {
        showBanner(null);
        draw(doc);
      }).catch(failed);
    }

    function draw(doc) {
      var p = doc.points;
      var n = p.t.length;
      text("curve-info", ngettext("{n} point", "{n} points", n) + " · " +
        _("{days} days, means of {min} min", { days: days, min: f0(doc.bucket_ms / 60000) }));
      var groups = STATES.map(function (s) {
        var pts = [];
        for (var i = 0; i < n; i++) if (p.state[i] === s.key) pts.push([p.outdoor[i], p.forward[i]]);
        return { key: s.key, label: s.label(), color: css(s.color), points: pts };
      }).filter(function (g) { return g.points.length; });
      var targets = [];
      for (var i = 0; i < n; i++) if (p.target[i] !== null) targets.push([p.outdoor[i], p.target[i]]);
      // under the measured points: what the controller asked for (the curve + its room influence)
      if (targets.length) groups.unshift({ key: "target", label: _("Pump's target"), color: css("--muted"), points: targets, size: 2 });
      if (doc.configured) groups.push({ key: "configured", label: _("Configured curve"), color: css("--text"), points: doc.configured.line, line: true });
      if (doc.fit) {
        var xs = p.outdoor.filter(function (x) { return x !== null; });
        var lo = Math.min.apply(null, xs), hi = Math.max.apply(null, xs);
        groups.push({ key: "fit", label: _("Fitted line"), color: css("--on"), line: true, dash: [6, 4],
          points: [[lo, doc.fit.intercept + doc.fit.slope * lo], [hi, doc.fit.intercept + doc.fit.slope * hi]] });
      }
      var op = doc.operating;
      if (op && op.outdoor !== null && op.forward !== null) {
        groups.push({ key: "now", label: pgettext("curve", "Now"), color: css("--text"), fill: css("--card"), ring: true, size: 12,
          points: [[op.outdoor, op.forward]] });
      }
      scatter("curve-chart", groups, _("Outdoor (°C)"), _("Forward (°C)"));
      legend("curve-legend", groups);

      var indoor = STATES.map(function (s) {
        var pts = [];
        for (var i = 0; i < n; i++) if (p.state[i] === s.key && p.indoor[i] !== null) pts.push([p.outdoor[i], p.indoor[i]]);
        return { key: s.key, label: s.label(), color: css(s.color), points: pts };
      }).filter(function (g) { return g.points.length; });
      var room = doc.cold ? doc.cold.room_c : null;
      if (room !== null && indoor.length) {
        var all = [].concat.apply([], indoor.map(function (g) { return g.points.map(function (q) { return q[0]; }); }));
        indoor.push({ key: "room", label: _("Room setpoint"), color: css("--text"), line: true, dash: [3, 3],
          points: [[Math.min.apply(null, all), room], [Math.max.apply(null, all), room]] });
      }
      document.getElementById("indoor-chart").parentNode.hidden = !indoor.length;
      if (indoor.length) scatter("indoor-chart", indoor, _("Outdoor (°C)"), _("Indoor (°C)"));
      text("curve-hint", hint(doc));
      about(doc);
    }

    function hint(doc) {
      var h = doc.hint, c = doc.cold;
      if (h) {
        var k = Math.abs(h.difference_k);
        var args = { t: f0(h.outdoor_c), k: f1(k), indoor: f1(h.room_c) };
        if (k < 0.5) return _("At {t} °C the forward temperature is what kept the house at {indoor} °C: the curve fits.", args);
        return h.difference_k > 0
          ? _("At {t} °C the forward temperature is {k} K above what kept the house at {indoor} °C: the curve can come down there.", args)
          : _("At {t} °C the forward temperature is {k} K below what kept the house at {indoor} °C: the curve should go up there.", args);
      }
      if (!c) return _("Not enough heating in this period for a hint.");
      var s = _("At {t} °C the pump ran the forward at {f} °C.", { t: f0(c.outdoor_c), f: f1(c.forward_c) });
      if (c.configured_c !== null) s += " " + _("Its configured curve says {c} °C there.", { c: f1(c.configured_c) });
      if (c.indoor_c !== null && c.room_c !== null) {
        var d = c.indoor_c - c.room_c;
        var a = { indoor: f1(c.indoor_c), room: f1(c.room_c), d: f1(Math.abs(d)) };
        if (d > 0.5) s += " " + _("The house was at {indoor} °C, {d} K above its target of {room} °C: the curve can come down there.", a);
        else if (d < -0.5) s += " " + _("The house was at {indoor} °C, {d} K below its target of {room} °C: the curve should go up there.", a);
        else s += " " + _("The house was at {indoor} °C, its target is {room} °C: the curve fits there.", a);
      }
      return s;
    }

    function about(doc) {
      var c = doc.configured;
      var box = document.getElementById("curve-about");
      box.textContent = "";
      if (!c) { box.textContent = _("The curve registers have no value yet, so the configured curve is not drawn."); return; }
      var values = c.inputs.map(function (i) { return i.name + " = " + f1(i.value); }).join(", ");
      [_("Model: {model} ({values}).", { model: c.model, values: values }),
       _("Source: {source}", { source: c.source }),
       _("Assumed: {approximation}", { approximation: c.approximation })].forEach(function (t) {
        box.appendChild(el("span", "about-line", t));
      });
    }

    var select = document.getElementById("gateway");
    if (select) select.addEventListener("change", function () { setTimeout(load, 0); });
    load();
  }

  function legend(id, groups) {
    // uPlot's own legend, plus a line under the heading naming the colours (it wraps on a phone)
    var box = document.getElementById(id);
    box.textContent = "";
    groups.forEach(function (g) {
      var item = el("span", "legend-item", g.label);
      var sw = el("i", "swatch" + (g.line ? " line" : ""));
      sw.style.background = g.color;
      item.insertBefore(sw, item.firstChild);
      box.appendChild(item);
    });
  }

  // -- the heat signature -------------------------------------------------------------------------

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  function signaturePage() {
    text("sig-title", _("Energy per day against the day's mean outdoor temperature"));
    text("sig-after-label", pgettext("curve", "Period"));
    text("sig-before-label", _("Compare with (e.g. before a curve change)"));
    text("sig-show", pgettext("curve", "Show"));
    var params = new URLSearchParams(location.search);
    var today = new Date();
    var monthAgo = new Date(today.getTime() - 29 * 86400000);
    $("#sig-from").value = params.get("from") || isoDay(monthAgo);
    $("#sig-to").value = params.get("to") || isoDay(today);
    $("#sig-cmp-from").value = params.get("compare_from") || "";
    $("#sig-cmp-to").value = params.get("compare_to") || "";
    [["#sig-from", pgettext("curve", "From")], ["#sig-to", pgettext("curve", "To")], ["#sig-cmp-from", pgettext("curve", "From")], ["#sig-cmp-to", pgettext("curve", "To")]].forEach(function (a) {
      $(a[0]).setAttribute("aria-label", a[1]);
    });

    function load() {
      var gw = gatewayName();
      if (!gw) { showBanner(cfg.error ? hp.capital(cfg.error) : pgettext("curve", "No data in the store yet."), cfg.error ? "error" : ""); return; }
      var q = { gateway: gw, from: $("#sig-from").value, to: $("#sig-to").value };
      var cf = $("#sig-cmp-from").value, ct = $("#sig-cmp-to").value;
      if (cf) { q.compare_from = cf; if (ct) q.compare_to = ct; }
      ["from", "to"].forEach(function (k) { setParam(k, q[k]); });
      setParam("compare_from", q.compare_from || null);
      setParam("compare_to", q.compare_to || null);
      text("sig-info", pgettext("curve", "Loading…"));
      hp.api("/api/v1/signature", q).then(function (doc) { showBanner(null); draw(doc); }).catch(failed);
    }

    function periodGroups(period, key, fitKey, outKey, color, label) {
      var used = [], out = [], skipped = [];
      period.days.forEach(function (d) {
        if (d.outdoor_mean === null || d[key] === null) return;
        var pt = [d.outdoor_mean, d[key]];
        if (!d.used) skipped.push(pt); else if (d[outKey]) out.push(pt); else used.push(pt);
      });
      var groups = [{ key: "days", label: label, color: color, points: used, size: 7 }];
      if (out.length) groups.push({ key: "outliers", label: _("Outliers ({label})", { label: label }), color: css("--bad"), fill: "transparent", ring: true, size: 11, points: out });
      if (skipped.length) groups.push({ key: "skipped", label: _("Not in the fit ({label})", { label: label }), color: css("--off"), size: 5, points: skipped });
      var fit = period[fitKey];
      if (fit) {
        var xs = used.concat(out).map(function (p) { return p[0]; });
        var lo = Math.min.apply(null, xs), hi = fit.balance_point_c !== null ? fit.balance_point_c : Math.max.apply(null, xs);
        groups.push({ key: "fit", label: _("Fitted line ({label})", { label: label }), color: color, line: true, dash: [6, 4],
          points: [[lo, fit.line.intercept + fit.line.slope * lo], [hi, fit.line.intercept + fit.line.slope * hi]] });
        if (fit.balance_point_c !== null) {
          groups.push({ key: "balance", label: _("Balance point ({label})", { label: label }), color: color, fill: css("--card"), ring: true, size: 13,
            points: [[fit.balance_point_c, 0]] });
        }
      }
      return groups;
    }

    function draw(doc) {
      // heat where the pump knows it (heat meters or an estimate), else electricity
      var heat = doc.period.heat !== null;
      var key = heat ? "heat_kwh" : "energy_kwh", fitKey = heat ? "heat" : "energy", outKey = heat ? "outlier_heat" : "outlier_energy";
      var label = _("{first} to {last}", { first: doc.period.first, last: doc.period.last });
      var groups = periodGroups(doc.period, key, fitKey, outKey, css("--accent"), label);
      if (doc.compare) {
        var clabel = _("{first} to {last}", { first: doc.compare.first, last: doc.compare.last });
        groups = groups.concat(periodGroups(doc.compare, key, fitKey, outKey, css("--hot"), clabel));
      }
      var n = doc.period.days.filter(function (d) { return d.used; }).length;
      text("sig-info", ngettext("{n} day in the fit", "{n} days in the fit", n));
      scatter("sig-chart", groups, _("Mean outdoor (°C)"), heat ? _("Heat (kWh/day)") : _("Electricity (kWh/day)"), true);
      legend("sig-legend", groups);
      text("sig-hint", sigHint(doc.period[fitKey], doc.compare ? doc.compare[fitKey] : null, heat));
    }

    function sigHint(fit, before, heat) {
      if (!fit) return _("Not enough heating days in this period for a signature.");
      var a = { b: f1(fit.balance_point_c), k: f1(fit.kwh_per_k) };
      var s = heat
        ? _("Balance point {b} °C: above it the house needs no heating. Each degree colder takes {k} kWh more heat a day.", a)
        : _("Balance point {b} °C: above it the house needs no heating. Each degree colder takes {k} kWh more electricity a day.", a);
      if (before) {
        s += " " + _("Compared period: {k} kWh per degree, balance point {b} °C.", { k: f1(before.kwh_per_k), b: f1(before.balance_point_c) });
      }
      return s;
    }

    $("#sig-periods").addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
    var select = document.getElementById("gateway");
    if (select) select.addEventListener("change", function () { setTimeout(load, 0); });
    load();
  }

  if (page === "heatcurve") heatCurvePage(); else signaturePage();
})();
