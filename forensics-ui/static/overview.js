// The overview, kept live by server-sent events.
"use strict";
(function () {
  const live = document.getElementById("live");
  function table(id, head, rows) {
    const t = document.getElementById(id);
    t.replaceChildren();
    const tr = K.el("tr");
    head.forEach((h) => tr.appendChild(K.el("th", {}, h)));
    t.appendChild(tr);
    for (const r of rows) {
      const row = K.el("tr");
      r.forEach((c) => {
        const td = K.el("td");
        if (c && typeof c === "object") td.appendChild(K.el("a", { href: c.href }, c.text)); else td.textContent = c;
        row.appendChild(td);
      });
      t.appendChild(row);
    }
  }
  function render(o) {
    if (o.error) { live.textContent = o.error; return; }
    const s = o.stats;
    const totals = document.getElementById("totals");
    totals.replaceChildren();
    for (const [k, v] of [["sessions", s.sessions], ["flows", s.flows], ["events", s.events], ["packets", s.packets], ["files", s.artifacts]]) {
      const c = K.el("div", { class: "card-n" }); c.appendChild(K.el("b", {}, v)); c.appendChild(document.createTextNode(k)); totals.appendChild(c);
    }
    const h = o.events_over_time, svg = document.getElementById("overview-hist");
    svg.replaceChildren();
    if (h.counts.length) {
      const max = Math.max(1, ...h.counts), w = 1000 / h.counts.length;
      h.counts.forEach((c, i) => { if (c) { const ht = Math.max(1, c / max * 116); svg.appendChild(K.svg("rect", { class: "b", x: i * w, y: 120 - ht, width: Math.max(0.5, w - 0.5), height: ht })); } });
      const ax = document.getElementById("overview-axis");
      ax.replaceChildren(K.el("span", {}, K.iso(h.start_us)), K.el("span", {}, K.iso(h.start_us + h.width_us * h.counts.length)));
    }
    const q = (query, kind) => "/search?" + new URLSearchParams({ q: query, kind: kind || "events" });
    table("top-sources", ["source", "events"], o.top_sources.map((r) => [{ href: q("src_ip:" + r.ip, "sessions"), text: r.ip }, r.events]));
    table("protocols", ["protocol", "events"], o.protocols.map((r) => [{ href: q("protocol:" + r.protocol), text: r.protocol }, r.events]));
    table("credentials", ["user", "password", "type", "count"], o.credentials.map((r) => [r.user, r.password, r.type, r.count]));
    table("commands", ["command", "count"], o.commands.map((r) => [r.command, r.count]));
    table("latest", ["session", "source", "first seen", "protocols", "events"], o.latest_sessions.map((r) => [{ href: "/sessions/" + encodeURIComponent(r.session_id), text: r.session_id }, r.src_ip, r.first_seen, (r.protocols || []).join(", "), r.events]));
    live.textContent = "live · " + new Date().toISOString().slice(11, 19);
  }
  const es = new EventSource("/api/v1/overview/live");
  es.addEventListener("overview", (ev) => { try { render(JSON.parse(ev.data)); } catch (e) { live.textContent = "bad update"; } });
  es.onerror = () => { live.textContent = "reconnecting…"; };
})();
