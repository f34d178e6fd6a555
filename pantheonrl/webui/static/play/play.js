/* The play page: a Socket.IO connection to the server's game (it owns the state and the clock); this page only
   sends key tokens and draws the states it receives (render.js, the overcooked package's sprites). */
"use strict";

(() => {
  const root = document.getElementById("play");
  if (!root) return;
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  const KEYS = {ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right", " ": "interact",
                Spacebar: "interact"};
  const canvas = document.getElementById("board");
  const socket = io("/play");
  let sprites = null;
  let renderer = null;
  let game = null;     // the info of the game shown
  let seat = null;     // the chef this page plays (null: spectating)
  const study = {participant: null, next: 0, games: 0};  // study mode: the participant and their next game

  const show = (name, visible) => field(name).classList.toggle("hidden", !visible);
  function error(message) {
    field("error").textContent = message || "";
    show("error", Boolean(message));
  }

  function formMode(form) {
    const mode = form.elements.mode.value;
    form.querySelectorAll(".needs-agent").forEach((el) => el.classList.toggle("hidden", mode === "human-human"));
    form.querySelectorAll(".only-ai-ai").forEach((el) => el.classList.toggle("hidden", mode !== "ai-ai"));
    form.querySelectorAll(".only-human-ai").forEach((el) => el.classList.toggle("hidden", mode !== "human-ai"));
  }

  async function open(reply) {
    if (!reply || reply.error) {
      error(reply ? reply.error : "no answer from the server");
      if (study.participant !== null) study.next = Math.max(0, study.next - 1);  // the same game again
      return;
    }
    error("");
    game = reply.game;
    seat = reply.seat;
    if (sprites === null) sprites = await OvercookedRender.load(root.dataset.graphics);
    renderer = new OvercookedRender.Renderer(canvas, sprites, game.terrain, {scale: 4});
    renderer.draw(game.state);
    canvas.dataset.tick = "0";
    field("code").textContent = game.game_id;
    field("who").textContent = seat === null ? "watching" :
      `you are chef ${seat} (${seat === 0 ? "blue" : "green"} hat)`;
    field("time").textContent = `${(game.horizon * game.tick_ms / 1000).toFixed(0)} s`;
    show("forms", false);
    show("game", true);
    canvas.focus();
    socket.emit("ready", {}, (answer) => { if (answer && answer.error) error(answer.error); });
  }

  function onState(p) {
    if (game === null || p.game_id !== game.game_id || renderer === null) return;
    renderer.draw(p.state);
    canvas.dataset.tick = String(p.tick);
    field("score").textContent = String(p.score);
    field("time").textContent = `${p.time_left_s.toFixed(1)} s`;
    if (p.done) finish(p);
  }

  function finish(p) {
    const why = {horizon: "time is up", leave: "a player left", disconnect: "a player disconnected",
                 idle: "nobody pressed a key for a while", shutdown: "the server stopped", error: "an error"};
    field("summary-text").textContent =
      `Score ${p.score} after ${p.tick} ticks (${why[p.ended_by] || p.ended_by}).`;
    for (const fmt of ["json", "npy"]) {
      const link = field(`summary-${fmt}`);
      if (p.record) link.href = `/api/trajectories/${p.episode_id}/${fmt}`;
      else link.classList.add("hidden");
    }
    canvas.dataset.done = "true";
    show("summary", true);
    if (study.participant !== null) {
      const next = field("next");
      next.textContent = study.next < study.games ? `Next game (${study.next + 1} of ${study.games})` : "";
      next.classList.toggle("hidden", study.next >= study.games);
      if (study.next >= study.games) field("summary-text").textContent += " That was the last game: thank you!";
    }
    game = null;
    seat = null;
  }

  document.addEventListener("keydown", (event) => {
    const token = KEYS[event.key];
    if (!token || game === null || seat === null) return;
    event.preventDefault();
    socket.emit("key", token);
  });

  function studyGame() {
    const index = study.next;
    study.next += 1;
    show("summary", false);
    canvas.dataset.done = "";
    socket.emit("create", {participant: study.participant}, open);  // the server picks game `index`
  }

  document.addEventListener("DOMContentLoaded", () => {
    const studyForm = document.getElementById("study-form");
    if (studyForm) {
      study.games = Number(studyForm.dataset.games);
      studyForm.addEventListener("submit", (event) => {
        event.preventDefault();
        study.participant = studyForm.elements.participant.value.trim();
        studyGame();
      });
      field("next").addEventListener("click", studyGame);
      field("leave").addEventListener("click", () => socket.emit("leave", {}, () => {}));
      return;
    }
    const form = document.getElementById("play-form");
    form.elements.mode.addEventListener("change", () => formMode(form));
    formMode(form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const f = form.elements;
      const message = {mode: f.mode.value, layout: f.layout.value, horizon: Number(f.horizon.value),
                       tick_ms: Number(f.tick_ms.value)};
      if (message.mode !== "human-human") message.agent = f.agent.value;
      if (message.mode === "ai-ai") message.agent2 = f.agent2.value;
      if (message.mode === "human-ai") message.seat = Number(f.seat.value);
      socket.emit("create", message, open);
    });
    const join = document.getElementById("join-form");
    join.addEventListener("submit", (event) => {
      event.preventDefault();
      socket.emit("join", {game_id: join.elements.game_id.value.trim()}, open);
    });
    field("leave").addEventListener("click", () => socket.emit("leave", {}, () => {}));
  });

  socket.on("connect", () => {
    const engine = socket.io.engine;
    root.dataset.transport = engine.transport.name;  // polling first, then the websocket upgrade
    engine.once("upgrade", () => { root.dataset.transport = engine.transport.name; });
  });
  socket.on("state", onState);
  socket.on("connect_error", (err) => error(`cannot connect to the game server: ${err.message}`));
  socket.on("disconnect", () => { if (game !== null) error("disconnected from the game server"); });
  root.dataset.socket = "ready";
})();
