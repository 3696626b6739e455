/* selfheal dashboard: charts (uPlot), version markers, diff and detail dialogs, auto-refresh. */
(function () {
  "use strict";
  const COLORS = { seed: "#6b7380", human: "#2f6fdb", optimizer: "#1f8a4c", rollback: "#c0392b" };
  let plots = [];

  function fmtTime(t) { return new Date(t * 1000).toLocaleString(); }

  function markersPlugin(events) {
    function place(u) {
      u.over.querySelectorAll(".vmarker").forEach((m) => m.remove());
      for (const e of events) {
        const x = u.valToPos(e.t, "x");
        if (!(x >= 0 && x <= u.over.clientWidth)) continue;
        const m = document.createElement("div");
        m.className = "vmarker";
        m.dataset.version = e.version;
        m.dataset.who = e.who;
        m.style.left = x + "px";
        m.style.setProperty("--c", COLORS[e.who] || "#888");
        m.title = `v${e.version} by ${e.who}: ${e.how}, ${fmtTime(e.t)}\n${e.why}`;
        const label = document.createElement("span");
        label.className = "vlabel";
        label.textContent = `v${e.version} ${e.who}`;
        m.appendChild(label);
        u.over.appendChild(m);
      }
    }
    return { hooks: { ready: [place], setSize: [place], setScale: [(u, key) => { if (key === "x") place(u); }] } };
  }

  function drawCharts() {
    plots.forEach((p) => p.destroy());
    plots = [];
    const data = JSON.parse(document.getElementById("chart-data").textContent);
    document.querySelectorAll(".chart").forEach((el) => {
      const name = el.dataset.taskType;
      const points = data.series[name] || [];
      const events = data.events.filter((e) => e.task_type === name);
      const xs = points.map((p) => p.t);
      const passRate = points.map((p) => p.pass_rate);
      const score = points.map((p) => p.avg_score);
      const requests = points.map((p) => p.requests);
      const lo = Math.min(data.start, ...xs, ...events.map((e) => e.t));
      const hi = Math.max(data.end, ...xs.map((t) => t + data.bucket_s));
      const opts = {
        width: Math.max(320, el.clientWidth || 900),
        height: 240,
        scales: { x: { time: true, range: [lo, hi] }, y: { range: [0, 1] }, n: { range: (u, min, max) => [0, Math.max(1, max) * 1.15] } },
        series: [
          {},
          { label: "pass rate", stroke: "#1f8a4c", width: 2, points: { show: true }, value: (u, v) => v == null ? "-" : (v * 100).toFixed(0) + "%" },
          { label: "mean score", stroke: "#2f6fdb", width: 2, dash: [6, 3], value: (u, v) => v == null ? "-" : v.toFixed(2) },
          { label: "requests", stroke: "rgba(120,120,120,.5)", scale: "n", width: 1, paths: uPlot.paths.bars({ size: [0.6, 40] }), fill: "rgba(150,150,150,.15)" },
        ],
        axes: [{}, { scale: "y", values: (u, vals) => vals.map((v) => (v * 100).toFixed(0) + "%") }, { scale: "n", side: 1, grid: { show: false } }],
        plugins: [markersPlugin(events)],
      };
      el.innerHTML = "";
      plots.push(new uPlot(opts, [xs, passRate, score, requests], el));
      el.dataset.points = String(points.length);
      el.dataset.markers = String(events.length);
    });
  }

  async function openInDialog(url) {
    const dialog = document.getElementById("dialog");
    const body = document.getElementById("dialog-body");
    body.textContent = "loading…";
    if (!dialog.open) dialog.showModal();
    const resp = await fetch(url, { credentials: "same-origin" });
    if (!resp.ok) { body.textContent = `could not load (${resp.status})`; return; }
    body.innerHTML = await resp.text();
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target.closest(".diff-form");
    if (!form) return;
    ev.preventDefault();
    const q = new URLSearchParams({ task_type: form.dataset.taskType, a: form.a.value, b: form.b.value });
    openInDialog(`/dashboard/diff?${q}`);
  });
  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest(".detail-open");
    if (!btn) return;
    openInDialog(`/dashboard/requests/${encodeURIComponent(btn.dataset.requestId)}`);
  });

  async function refresh() {
    if (document.hidden || document.getElementById("dialog").open) return;
    if (document.querySelector("details[open]")) return;  // keep what the reader opened
    const resp = await fetch(location.href, { credentials: "same-origin" });
    if (!resp.ok) return;
    const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
    const fresh = doc.getElementById("app");
    if (!fresh) return;
    document.getElementById("app").innerHTML = fresh.innerHTML;
    drawCharts();
  }

  window.addEventListener("resize", () => plots.forEach((p) => p.setSize({ width: p.root.parentElement.clientWidth, height: 240 })));
  drawCharts();
  const every = Number(document.body.dataset.refresh || 0);
  if (every > 0) setInterval(() => { refresh().catch(() => {}); }, every * 1000);
})();
