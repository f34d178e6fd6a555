/* pantheonrl dashboard: small helpers and the job list's live status. No inline scripts (CSP). */
"use strict";

const pantheonrl = (() => {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

  async function getJSON(url) {
    const response = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  async function postJSON(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Accept": "application/json"},
      body: JSON.stringify(body || {}),
    });
    return response.json();
  }

  function setBadge(el, status) {
    el.textContent = status;
    el.className = `badge s-${status}`;
  }

  const ACTIVE = new Set(["QUEUED", "RUNNING", "INTERRUPTED"]);

  function pollJobList(table) {
    const tick = async () => {
      let data;
      try { data = await getJSON(table.dataset.poll); } catch (err) { return setTimeout(tick, 5000); }
      let active = false;
      for (const job of data.jobs) {
        const row = table.querySelector(`tr[data-job="${job.id}"]`);
        if (!row) continue;
        const badge = row.querySelector('[data-field="status"] .badge');
        if (badge) setBadge(badge, job.status);
        row.querySelector('[data-field="steps"]').textContent = `${job.steps_done} / ${job.steps_total}`;
        const reward = job.last_metrics && job.last_metrics["rollout/ep_rew_mean"];
        if (reward !== undefined && reward !== null) {
          row.querySelector('[data-field="reward"]').textContent = Number(reward).toFixed(3);
        }
        if (ACTIVE.has(job.status)) active = true;
      }
      setTimeout(tick, active ? 2000 : 10000);
    };
    setTimeout(tick, 2000);
  }

  function experimentForm(form) {
    const env = form.querySelector("#field-env");
    const ego = form.querySelector("#field-ego");
    const partner = form.querySelector("#field-partner");
    const update = () => {
      const overcooked = env.value === env.dataset.overcooked;
      const population = ego.value === ego.dataset.population;
      form.querySelectorAll(".only-overcooked").forEach((el) => el.classList.toggle("hidden", !overcooked));
      form.querySelectorAll(".only-population").forEach((el) => el.classList.toggle("hidden", !population));
      form.querySelectorAll(".not-population").forEach((el) => el.classList.toggle("hidden", population));
      form.querySelectorAll(".only-fixed").forEach((el) =>
        el.classList.toggle("hidden", population || partner.value !== "FIXED"));
    };
    [env, ego, partner].forEach((el) => el.addEventListener("change", update));
    update();
  }

  // population rows: one header row per group, its members shown on demand
  function groupToggles(table) {
    for (const button of table.querySelectorAll("button[data-toggle]")) {
      const members = table.querySelectorAll(`tr[data-group="${button.dataset.toggle}"]`);
      const show = (open) => {
        members.forEach((row) => row.classList.toggle("hidden", !open));
        button.setAttribute("aria-expanded", String(open));
        button.textContent = open ? "▾" : "▸";
      };
      button.addEventListener("click", () => show(button.getAttribute("aria-expanded") !== "true"));
      if (window.location.hash === `#group-${button.dataset.toggle}`) show(true);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.getElementById("job-table");
    if (table) { groupToggles(table); pollJobList(table); }
    const form = document.getElementById("experiment-form");
    if (form) experimentForm(form);
  });

  return {csrfToken, getJSON, postJSON, setBadge, ACTIVE};
})();
