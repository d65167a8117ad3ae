/* The API reference, rendered from this app's /openapi.json (no Swagger UI: it would load
 * from a CDN). Shows each endpoint with its parameters and answers, and a link to try it. */
(function () {
  "use strict";

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { if (c) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }

  // Markdown-lite: `code` only
  function rich(text) {
    var span = el("span");
    String(text || "").split(/(`[^`]*`)/).forEach(function (part) {
      if (part.length > 1 && part[0] === "`" && part[part.length - 1] === "`") span.appendChild(el("code", { text: part.slice(1, -1) }));
      else if (part) span.appendChild(document.createTextNode(part));
    });
    return span;
  }

  function typeOf(schema) {
    if (!schema) return "";
    if (schema.type) {
      var t = schema.type;
      if (schema.minimum !== undefined || schema.maximum !== undefined) t += " (" + (schema.minimum !== undefined ? schema.minimum : "") + "\u2026" + (schema.maximum !== undefined ? schema.maximum : "") + ")";
      return t;
    }
    if (schema.anyOf) return schema.anyOf.map(typeOf).filter(function (t) { return t && t !== "null"; }).join(" | ");
    return "";
  }

  function example(path, params) {
    var q = params.filter(function (p) { return p.required; }).map(function (p) {
      return p.name + "=" + (p.name === "gateway" ? "<gateway>" : p.name === "fields" ? "outdoor_temp,indoor_temp" : "...");
    });
    return path + (q.length ? "?" + q.join("&") : "");
  }

  function render(doc) {
    var info = document.getElementById("docs-info");
    info.appendChild(el("p", {}, [rich(doc.info && doc.info.description)]));
    var box = document.getElementById("docs-endpoints");
    box.textContent = "";
    Object.keys(doc.paths || {}).sort().forEach(function (path) {
      var ops = doc.paths[path];
      Object.keys(ops).forEach(function (method) {
        var op = ops[method];
        var params = op.parameters || [];
        var section = el("section", { class: "endpoint", id: (op.operationId || path).replace(/[^\w-]/g, "_") });
        section.appendChild(el("h2", {}, [el("span", { class: "method", text: method.toUpperCase() }), path]));
        if (op.summary) section.appendChild(el("p", { class: "strong" }, [op.summary]));
        if (op.description) section.appendChild(el("p", {}, [rich(op.description)]));
        if (params.length) {
          var rows = params.map(function (p) {
            var s = p.schema || {};
            return el("tr", {}, [
              el("td", { class: "mono", text: p.name + (p.required ? " *" : "") }),
              el("td", { text: typeOf(s) }),
              el("td", { class: "mono", text: s["default"] !== undefined ? String(s["default"]) : "" }),
              el("td", {}, [rich(p.description || "")])
            ]);
          });
          section.appendChild(el("div", { class: "table-wrap" }, [el("table", {}, [
            el("thead", {}, [el("tr", {}, [el("th", { text: _("Parameter") }), el("th", { text: _("Type") }), el("th", { text: _("Default") }), el("th", { text: _("Description") })])]),
            el("tbody", {}, rows)])]));
        }
        var codes = Object.keys(op.responses || {}).map(function (c) { return c + " " + (op.responses[c].description || ""); });
        section.appendChild(el("p", { class: "muted" }, [_("Answers: {codes}", { codes: codes.join(" \u00b7 ") })]));
        section.appendChild(el("p", {}, [_("Example:") + " ", el("code", { text: "GET " + example(path, params) })]));
        if (!params.some(function (p) { return p.required; })) {
          section.appendChild(el("a", { class: "try", href: path }, [_("Open {path}", { path: path })]));
        }
        box.appendChild(section);
      });
    });
  }

  fetch("/openapi.json", { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(render)
    .catch(function (err) {
      document.getElementById("docs-endpoints").textContent = _("Cannot load /openapi.json: {error}", { error: err.message });
    });
})();
