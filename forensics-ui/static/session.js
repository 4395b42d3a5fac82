// The session timeline: one lane per flow, events as marks, packet density
// beneath, all on one time axis; replay walks the events in time order
// (1x, 10x, as fast as possible) while the decoded view follows. Events
// are fetched page by page, so a long session starts at once.
"use strict";
(function () {
  const svg = document.getElementById("timeline");
  const id = svg.dataset.session;
  const decoded = document.getElementById("decoded");
  const clock = document.getElementById("clock");
  const position = document.getElementById("position");
  const seek = document.getElementById("seek");
  const playBtn = document.getElementById("play");
  const speedSel = document.getElementById("speed");
  const PAGE = 200, LANE = 22, LEFT = 260, W = 1000, IDLE_CAP_MS = 2000;
  let t0 = 0, t1 = 1, flows = [], laneOf = new Map();
  let events = [], total = null, loading = null;
  let cursor = 0; // events[0..cursor) have been played
  let playing = false, timer = null, marks = [];
  const x = (us) => LEFT + ((us - t0) / Math.max(1, t1 - t0)) * (W - LEFT - 10);

  function fetchPage() {
    if (loading || (total !== null && events.length >= total)) return loading;
    loading = K.get(`/api/v1/sessions/${encodeURIComponent(id)}/timeline?offset=${events.length}&limit=${PAGE}`)
      .then((p) => {
        total = p.total;
        for (const e of p.hits) { e._us = K.us(e.ts); events.push(e); drawMark(e, events.length - 1); }
        position.textContent = `${cursor} / ${total} events` + (events.length < total ? ` (${events.length} loaded)` : "");
        loading = null;
        // Keep loading in the background, one page at a time.
        if (events.length < total && events.length < 10000) setTimeout(fetchPage, 30);
      })
      .catch((err) => { loading = null; position.textContent = "timeline: " + err.message; });
    return loading;
  }

  function drawMark(e, i) {
    const lane = laneOf.has(e.flow_key) ? laneOf.get(e.flow_key) : flows.length;
    const m = K.svg("rect", { class: "mark", x: x(e._us) - 1.5, y: 18 + lane * LANE + 4, width: 3, height: LANE - 8, "data-i": i });
    const t = K.svg("title", {});
    t.textContent = `${e.ts} ${e.type} ${K.describe(e)}`;
    m.appendChild(t);
    m.addEventListener("click", () => { pause(); goto(i + 1); });
    svg.appendChild(m);
    marks[i] = m;
    if (i < cursor) m.classList.add("done");
  }

  function line(e, i) {
    const li = K.el("li", { "data-i": i, value: i + 1 });
    li.appendChild(K.el("span", { class: "muted" }, K.clock(e._us) + " "));
    li.appendChild(K.el("b", {}, e.type + " "));
    li.appendChild(K.el("span", {}, K.describe(e)));
    return li;
  }

  // Shows the state after the first n events.
  function goto(n) {
    n = Math.max(0, Math.min(n, events.length));
    if (n > cursor && n - cursor < 50) {
      for (let i = cursor; i < n; i++) { decoded.appendChild(line(events[i], i)); marks[i] && marks[i].classList.add("done"); }
    } else if (n !== cursor) {
      decoded.replaceChildren();
      for (let i = Math.max(0, n - 300); i < n; i++) decoded.appendChild(line(events[i], i));
      marks.forEach((m, i) => m && m.classList.toggle("done", i < n));
    }
    cursor = n;
    decoded.querySelectorAll("li.cur").forEach((l) => l.classList.remove("cur"));
    const last = decoded.lastElementChild;
    if (last) { last.classList.add("cur"); last.scrollIntoView({ block: "nearest" }); }
    const now = cursor > 0 ? events[cursor - 1]._us : t0;
    head(now);
    seek.value = Math.round(((now - t0) / Math.max(1, t1 - t0)) * 1000);
    position.textContent = `${cursor} / ${total === null ? "?" : total} events`;
    if (cursor + PAGE / 2 > events.length) fetchPage();
  }

  let headLine = null;
  function head(us) {
    if (!headLine) { headLine = K.svg("line", { class: "head", y1: 0 }); svg.appendChild(headLine); }
    headLine.setAttribute("x1", x(us)); headLine.setAttribute("x2", x(us));
    headLine.setAttribute("y2", svg.getAttribute("height"));
    svg.appendChild(headLine);
    clock.textContent = K.clock(us);
  }

  function play() {
    if (playing) return;
    playing = true;
    playBtn.textContent = "❚❚ pause";
    tick();
  }
  function pause() {
    playing = false;
    clearTimeout(timer);
    playBtn.textContent = "▶ play";
  }
  async function tick() {
    if (!playing) return;
    if (cursor >= events.length) {
      if (total !== null && cursor >= total) { pause(); return; }
      await fetchPage();
      if (cursor >= events.length) { pause(); return; }
    }
    goto(cursor + 1);
    const speed = Number(speedSel.value);
    let wait = 15;
    if (speed > 0 && cursor < events.length) {
      const gapMs = (events[cursor]._us - events[cursor - 1]._us) / 1000 / speed;
      wait = Math.min(IDLE_CAP_MS, Math.max(0, gapMs)); // long idle gaps are shortened
    }
    timer = setTimeout(tick, wait);
  }

  async function showFlow(f) {
    document.querySelectorAll("svg.timeline .lane").forEach((l) => l.classList.toggle("sel", l.dataset.key === f.flow_key));
    const title = document.getElementById("flow-title");
    title.textContent = `Flow ${f.protocol || ""} ${f.flow.src_ip}:${f.flow.src_port} → ${f.flow.dst_ip}:${f.flow.dst_port}`;
    const links = document.getElementById("flow-links");
    links.replaceChildren(
      K.el("a", { href: "/flows/" + encodeURIComponent(f.flow_key), id: "flow-page" }, "packets (hex)"), document.createTextNode(" · "),
      K.el("a", { href: `/api/v1/flows/${encodeURIComponent(f.flow_key)}/pcap`, id: "flow-pcap" }, "pcap"));
    document.getElementById("flow-hint").textContent = "";
    const pre = document.getElementById("stream");
    pre.textContent = "loading…";
    try { renderStream(pre, await K.get(`/api/v1/flows/${encodeURIComponent(f.flow_key)}/stream`)); }
    catch (e) { pre.textContent = "stream: " + e.message; }
  }

  async function init() {
    const s = await K.get(`/api/v1/sessions/${encodeURIComponent(id)}`);
    t0 = K.us(s.session.first_seen); t1 = Math.max(t0 + 1, K.us(s.session.last_seen));
    flows = s.flows;
    flows.forEach((f, i) => laneOf.set(f.flow_key, i));
    const h = 18 + (flows.length + 1) * LANE + 16;
    svg.setAttribute("viewBox", `0 0 ${W} ${h}`);
    svg.setAttribute("height", h);
    const top = K.svg("text", { x: LEFT, y: 12 }); top.textContent = K.iso(t0); svg.appendChild(top);
    const end = K.svg("text", { x: W - 10, y: 12, "text-anchor": "end" }); end.textContent = K.iso(t1); svg.appendChild(end);
    flows.forEach((f, i) => {
      const y = 18 + i * LANE;
      const lane = K.svg("rect", { class: "lane", x: 0, y, width: W, height: LANE - 2, "data-key": f.flow_key });
      lane.addEventListener("click", () => showFlow(f));
      svg.appendChild(lane);
      const label = K.svg("text", { x: 4, y: y + 14 });
      label.textContent = `${(f.protocol || "?").padEnd(8)} ${f.flow.src_port} → ${f.flow.dst_ip}:${f.flow.dst_port}`;
      label.addEventListener("click", () => showFlow(f));
      svg.appendChild(label);
    });
    // Packet density of each flow, in its lane, beneath the marks.
    K.get(`/api/v1/sessions/${encodeURIComponent(id)}/density?buckets=300`).then((d) => {
      const bw = (W - LEFT - 10) / Math.max(1, (t1 - t0) / d.width_us);
      for (const [key, counts] of d.flows) {
        const lane = laneOf.get(key); if (lane === undefined) continue;
        const max = Math.max(1, ...counts);
        counts.forEach((c, i) => {
          if (!c) return;
          const ht = Math.max(1, (c / max) * (LANE - 4));
          const r = K.svg("rect", { class: "dens", x: x(d.start_us + i * d.width_us), y: 18 + lane * LANE + LANE - 2 - ht, width: Math.max(1, bw), height: ht });
          const lanes = svg.querySelectorAll("rect.lane");
          lanes[lane] && lanes[lane].after(r);
        });
      }
    }).catch(() => {});
    await fetchPage();
    const m = /#t=(.+)$/.exec(location.hash);
    if (m) {
      const at = K.us(decodeURIComponent(m[1]));
      goto(events.filter((e) => e._us <= at).length);
    } else goto(0);
    if (flows.length) showFlow(flows[0]);
  }

  playBtn.onclick = () => (playing ? pause() : play());
  document.getElementById("step").onclick = () => { pause(); goto(cursor + 1); };
  document.getElementById("step-back").onclick = () => { pause(); goto(cursor - 1); };
  seek.oninput = () => {
    pause();
    const at = t0 + (Number(seek.value) / 1000) * (t1 - t0);
    let n = 0; while (n < events.length && events[n]._us <= at) n++;
    goto(n);
    head(at);
  };
  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement && ev.target.type !== "range") return;
    if (ev.key === " ") { ev.preventDefault(); playing ? pause() : play(); }
    else if (ev.key === "ArrowRight") { ev.preventDefault(); pause(); goto(cursor + 1); }
    else if (ev.key === "ArrowLeft") { ev.preventDefault(); pause(); goto(cursor - 1); }
  });
  init().catch((e) => { position.textContent = "session: " + e.message; });
})();

function renderStream(pre, s) {
  pre.replaceChildren();
  for (const p of s.parts) {
    if (p.gap) pre.appendChild(K.el("span", { class: "gap" }, `[${p.gap} bytes not captured]\n`));
    if (p.len) pre.appendChild(K.el("span", { class: p.dir }, p.text));
  }
  if (s.truncated) pre.appendChild(K.el("span", { class: "gap" }, "\n[cut at 1 MiB: the pcap has it all]"));
  if (!s.parts.length) pre.textContent = "(no payload)";
}
