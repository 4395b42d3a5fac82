// Shared helpers. Every value from a capture goes into the page through
// textContent or setAttribute, never as markup.
"use strict";
const K = {
  csrf() { const m = document.querySelector('meta[name="csrf"]'); return m ? m.content : ""; },
  async get(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({ error: "bad answer" }));
    if (!r.ok) throw new Error(body.error || r.status);
    return body;
  },
  async send(method, url, data) {
    const r = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": K.csrf() },
      body: data === undefined ? undefined : JSON.stringify(data),
    });
    if (r.status === 204) return {};
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || r.status);
    return body;
  },
  el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  },
  svg(tag, attrs) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  },
  // RFC 3339 to microseconds since the epoch (Date keeps only milliseconds).
  us(iso) {
    if (!iso) return NaN;
    const m = /^(.*T\d\d:\d\d:\d\d)(\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(iso);
    if (!m) return Date.parse(iso) * 1000;
    const frac = ((m[3] || "") + "000000").slice(0, 6);
    return Date.parse(m[1] + m[4]) * 1000 + Number(frac);
  },
  iso(us) { return new Date(Math.floor(us / 1000)).toISOString().replace(".000Z", "Z"); },
  clock(us) { return new Date(Math.floor(us / 1000)).toISOString().slice(11, 23); },
  // A readable line for one event, whatever its protocol.
  describe(e) {
    const f = (k) => (e[k] === undefined || e[k] === null ? "" : (typeof e[k] === "string" ? e[k] : JSON.stringify(e[k])));
    const parts = [];
    for (const k of ["user", "password", "success", "command", "arg", "query", "database", "method", "host", "uri", "status", "reply", "code", "path", "name", "size", "sha256", "version", "client", "server", "kind", "detail", "reason"]) {
      const v = f(k);
      if (v !== "" && !(k === "command" && f("arg") !== "")) parts.push(k + "=" + v);
    }
    return parts.join(" ");
  },
};
document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  if (ev.key === "/" && !(t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement)) {
    const q = document.getElementById("q") || document.getElementById("quick-q");
    if (q) { ev.preventDefault(); q.focus(); q.select(); }
  }
});
