// The histogram of matches over time (drag to zoom: the range goes into
// the URL, so every view is a permalink), the error marker and saved queries.
"use strict";
(function () {
  const svg = document.getElementById("hist");
  const axis = document.getElementById("hist-axis");
  const d = svg.dataset;
  const marker = document.querySelector("pre.marker");
  if (marker) {
    const col = Number(marker.dataset.column) || 1;
    marker.textContent = marker.textContent + "\n" + " ".repeat(col - 1) + "^";
  }
  function link(params) {
    const u = new URLSearchParams({ q: d.q, kind: d.kind });
    for (const [k, v] of Object.entries(params)) if (v) u.set(k, v);
    return "/search?" + u.toString();
  }
  async function draw() {
    const u = new URLSearchParams({ q: d.q, kind: d.kind, buckets: "100" });
    if (d.from) u.set("from", d.from);
    if (d.to) u.set("to", d.to);
    let h;
    try { h = await K.get("/api/v1/histogram?" + u.toString()); } catch (e) { return; }
    svg.replaceChildren();
    axis.replaceChildren();
    if (!h.counts || !h.counts.length) return;
    const max = Math.max(1, ...h.counts);
    const w = 1000 / h.counts.length;
    h.counts.forEach((c, i) => {
      if (!c) return;
      const ht = Math.max(1, (c / max) * 96);
      const r = K.svg("rect", { class: "b", x: i * w, y: 100 - ht, width: Math.max(w - 0.5, 0.5), height: ht });
      const t = K.svg("title", {});
      t.textContent = c + " at " + K.iso(h.start_us + i * h.width_us);
      r.appendChild(t);
      svg.appendChild(r);
    });
    const end = h.start_us + h.width_us * h.counts.length;
    axis.append(K.el("span", {}, K.iso(h.start_us)), K.el("span", {}, K.iso(end)));
    let start = null, sel = null;
    const x = (ev) => { const b = svg.getBoundingClientRect(); return Math.min(1, Math.max(0, (ev.clientX - b.left) / b.width)); };
    svg.onmousedown = (ev) => { start = x(ev); sel = K.svg("rect", { class: "sel", x: start * 1000, y: 0, width: 0, height: 100 }); svg.appendChild(sel); };
    svg.onmousemove = (ev) => { if (start === null) return; const a = Math.min(start, x(ev)), b = Math.max(start, x(ev)); sel.setAttribute("x", a * 1000); sel.setAttribute("width", (b - a) * 1000); };
    svg.onmouseup = (ev) => {
      if (start === null) return;
      const a = Math.min(start, x(ev)), b = Math.max(start, x(ev));
      start = null;
      if (b - a < 0.005) { sel.remove(); return; }
      const span = end - h.start_us;
      location.href = link({ from: K.iso(h.start_us + a * span), to: K.iso(h.start_us + b * span + 1000) });
    };
  }
  draw();
  // Saved queries.
  const list = document.getElementById("saved-queries");
  async function loadSaved() {
    try {
      const s = await K.get("/api/v1/saved");
      list.replaceChildren(K.el("option", { value: "" }, "saved queries…"));
      for (const q of s.saved) list.appendChild(K.el("option", { value: "/search?" + new URLSearchParams({ q: q.query, kind: q.kind }) }, q.name));
    } catch (e) { /* not fatal */ }
  }
  list.onchange = () => { if (list.value) location.href = list.value; };
  document.getElementById("save-query").onclick = async () => {
    const name = prompt("Name of this query", d.q);
    if (!name) return;
    try { await K.send("POST", "/api/v1/saved", { name, kind: d.kind, query: d.q }); loadSaved(); } catch (e) { alert(e.message); }
  };
  loadSaved();
})();
