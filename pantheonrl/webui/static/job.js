/* The job page: status, the live reward curve (uPlot, served locally), the saved agents, the cross-play heatmap
   (a canvas), the log tail. Text goes in with textContent only. */
"use strict";

(() => {
  const root = document.getElementById("job");
  if (!root) return;
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  const xs = [];
  const ys = [];
  let after = 0;
  let plot = null;

  function draw() {
    const box = document.getElementById("curve");
    if (!box || xs.length === 0) return;
    const empty = field("curve-empty");
    if (empty) empty.remove();
    const data = [xs, ys];
    if (plot === null) {
      plot = new uPlot({
        width: Math.max(320, (box.clientWidth || 660) - 20), height: 280,
        scales: {x: {time: false}},
        legend: {live: false},
        axes: [{label: "time/total_timesteps"}, {label: "rollout/ep_rew_mean", size: 60}],
        series: [{label: "steps"}, {label: "ep_rew_mean", stroke: "#1f6feb", width: 2, points: {show: true}}],
      }, data, box);
    } else {
      plot.setData(data);
    }
    box.dataset.points = String(xs.length);
  }

  function showAgents(agents) {
    const list = field("agents");
    if (!list || agents.length === 0) return;
    list.replaceChildren(...agents.map((a) => {
      const li = document.createElement("li");
      const kind = document.createElement("code");
      kind.textContent = a.kind;
      li.append(kind, ` ${a.algorithm || ""} ${a.env_id || ""} `);
      if (a.problem) {
        const err = document.createElement("span");
        err.className = "error";
        err.textContent = a.problem;
        li.append(err);
      } else {
        const link = document.createElement("a");
        link.href = a.download;
        link.textContent = "download";
        li.append(link);
      }
      return li;
    }));
    list.dataset.count = String(agents.length);
  }

  // a white -> blue scale over [lo, hi]
  function colour(value, lo, hi) {
    const t = hi > lo ? (value - lo) / (hi - lo) : 0.5;
    const mix = (a, b) => Math.round(a + (b - a) * t);
    return `rgb(${mix(247, 31)}, ${mix(251, 111)}, ${mix(255, 235)})`;
  }

  function showMatrix(m) {
    const canvas = field("heatmap-canvas");
    const empty = field("heatmap-empty");
    if (empty) empty.remove();
    const values = m.means.flat();
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const label = 120;
    const cell = Math.max(28, Math.min(80, Math.floor(520 / Math.max(m.rows.length, m.cols.length))));
    canvas.width = label + cell * m.cols.length + 90;  // room for the last column's slanted name
    canvas.height = label + cell * m.rows.length + 10;
    const ctx = canvas.getContext("2d");
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    m.rows.forEach((row, i) => {
      ctx.fillStyle = "#1d2433";
      ctx.textAlign = "right";
      ctx.fillText(row.slice(0, 16), label - 6, label + i * cell + cell / 2);
      m.cols.forEach((col, j) => {
        const v = m.means[i][j];
        ctx.fillStyle = colour(v, lo, hi);
        ctx.fillRect(label + j * cell, label + i * cell, cell - 1, cell - 1);
        ctx.fillStyle = (hi > lo && (v - lo) / (hi - lo) > 0.55) ? "#fff" : "#1d2433";
        ctx.textAlign = "center";
        ctx.fillText(v.toFixed(2), label + j * cell + cell / 2, label + i * cell + cell / 2);
      });
    });
    m.cols.forEach((col, j) => {
      ctx.save();
      ctx.translate(label + j * cell + cell / 2, label - 6);
      ctx.rotate(-Math.PI / 4);
      ctx.fillStyle = "#1d2433";
      ctx.textAlign = "left";
      ctx.fillText(col.slice(0, 16), 0, 0);
      ctx.restore();
    });
    canvas.classList.remove("hidden");
    canvas.dataset.cells = String(values.length);
    const table = field("heatmap-table");
    const head = document.createElement("tr");
    head.append(document.createElement("th"));
    for (const col of m.cols) { const th = document.createElement("th"); th.textContent = col; head.append(th); }
    table.tHead.replaceChildren(head);
    table.tBodies[0].replaceChildren(...m.rows.map((row, i) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.textContent = row;
      tr.append(th);
      m.cols.forEach((col, j) => {
        const td = document.createElement("td");
        td.textContent = `${m.means[i][j].toFixed(3)} ± ${m.sems[i][j].toFixed(3)}`;
        tr.append(td);
      });
      return tr;
    }));
    table.classList.remove("hidden");
    if (m.selfplay_gap) {
      field("heatmap-gap").textContent = Object.entries(m.selfplay_gap)
        .filter(([, v]) => typeof v === "number").map(([k, v]) => `${k}: ${v.toFixed(3)}`).join(" · ");
    }
  }

  async function tick() {
    let job = null;
    try {
      job = await pantheonrl.getJSON(root.dataset.api);
      pantheonrl.setBadge(field("status"), job.status);
      field("reason").textContent = job.reason || "";
      field("steps").textContent = `${job.steps_done} / ${job.steps_total}`;
      field("attempt").textContent = `${job.attempt} of ${job.max_attempts}`;
      if (!pantheonrl.ACTIVE.has(job.status)) root.querySelectorAll("form.cancel").forEach((f) => f.remove());
      if (root.dataset.kind === "crossplay") {
        if (job.status === "SUCCEEDED" && !field("heatmap-canvas").dataset.cells) {
          showMatrix(await pantheonrl.getJSON(root.dataset.crossplay));
        }
      } else {
        const metrics = await pantheonrl.getJSON(`${root.dataset.metrics}?after=${after}`);
        if (metrics.after === 0 && after !== 0) { xs.length = 0; ys.length = 0; }
        for (const row of metrics.rows) { xs.push(row.timesteps); ys.push(row.ep_rew_mean); }
        after = metrics.next;
        draw();
        if (!pantheonrl.ACTIVE.has(job.status)) showAgents((await pantheonrl.getJSON(root.dataset.agents)).agents);
      }
      const logs = await pantheonrl.getJSON(`${root.dataset.logs}?max_bytes=20000`);
      const pre = field("log");
      pre.textContent = logs.text;
      pre.scrollTop = pre.scrollHeight;
    } catch (err) {
      setTimeout(tick, 5000);
      return;
    }
    if (pantheonrl.ACTIVE.has(job.status)) setTimeout(tick, 2000);
  }

  document.addEventListener("DOMContentLoaded", tick);
})();
