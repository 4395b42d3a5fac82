// One flow: its reassembled stream and its packets with hex and text.
"use strict";
(function () {
  const box = document.getElementById("packets");
  const key = box.dataset.flow;
  const pre = document.getElementById("stream");
  K.get(`/api/v1/flows/${encodeURIComponent(key)}/stream`).then((s) => {
    pre.replaceChildren();
    for (const p of s.parts) {
      if (p.gap) pre.appendChild(K.el("span", { class: "gap" }, `[${p.gap} bytes not captured]\n`));
      if (p.len) pre.appendChild(K.el("span", { class: p.dir }, p.text));
    }
    if (!s.parts.length) pre.textContent = "(no payload)";
  }).catch((e) => { pre.textContent = "stream: " + e.message; });
  function hexdump(hex) {
    const lines = [];
    for (let o = 0; o < hex.length; o += 32) {
      const row = hex.slice(o, o + 32);
      const bytes = row.match(/../g) || [];
      const txt = bytes.map((b) => { const c = parseInt(b, 16); return c >= 32 && c < 127 ? String.fromCharCode(c) : "."; }).join("");
      lines.push((o / 2).toString(16).padStart(6, "0") + "  " + bytes.join(" ").padEnd(48) + "  " + txt);
    }
    return lines.join("\n");
  }
  let offset = 0;
  const more = document.getElementById("more-packets");
  async function load() {
    const p = await K.get(`/api/v1/flows/${encodeURIComponent(key)}/packets?offset=${offset}&limit=100`);
    for (const k of p.packets) {
      const d = K.el("div", { class: "packet" });
      d.appendChild(K.el("div", { class: k.dir }, `#${k.index + 1} ${k.ts} ${k.dir} ${k.flags} ${k.wire_len} bytes, payload ${k.payload_len}`));
      d.appendChild(K.el("pre", {}, hexdump(k.frame_hex)));
      box.appendChild(d);
    }
    offset += p.packets.length;
    more.hidden = offset >= p.total;
  }
  more.onclick = load;
  load().catch((e) => box.appendChild(K.el("p", { class: "error" }, e.message)));
})();
