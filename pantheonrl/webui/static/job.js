/* The job page: status, the live reward curve (uPlot, served locally), the log tail. */
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
    if (xs.length === 0) return;
    const empty = field("curve-empty");
    if (empty) empty.remove();
    const data = [xs, ys];
    if (plot === null) {
      plot = new uPlot({
        width: Math.max(320, box.clientWidth || 640), height: 280,
        scales: {x: {time: false}},
        axes: [{label: "time/total_timesteps"}, {label: "rollout/ep_rew_mean"}],
        series: [{label: "steps"}, {label: "ep_rew_mean", stroke: "#1f6feb", width: 2, points: {show: true}}],
      }, data, box);
    } else {
      plot.setData(data);
    }
    box.dataset.points = String(xs.length);
  }

  async function tick() {
    let job = null;
    try {
      job = await pantheonrl.getJSON(root.dataset.api);
      pantheonrl.setBadge(field("status"), job.status);
      field("reason").textContent = job.reason || "";
      field("steps").textContent = `${job.steps_done} / ${job.steps_total}`;
      field("attempt").textContent = `${job.attempt} of ${job.max_attempts}`;
      const metrics = await pantheonrl.getJSON(`${root.dataset.metrics}?after=${after}`);
      if (metrics.after === 0 && after !== 0) { xs.length = 0; ys.length = 0; }
      for (const row of metrics.rows) { xs.push(row.timesteps); ys.push(row.ep_rew_mean); }
      after = metrics.next;
      draw();
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
