/*
 * Overcooked in a <canvas> (docs/web.md 3.3): the server sends the layout's terrain grid once and then each
 * OvercookedState.to_dict(); this file only draws them, from the overcooked package's own sprite sheets
 * (served by pantheonrl/webui/graphics.py under /play/graphics).
 *
 * The frame names follow the package's Python renderer, overcooked/visualization/state_visualizer.py
 * (StateVisualizer): TILE_TO_FRAME_NAME for the terrain, _render_players for the chefs (body frame
 * "<DIR>[-<held>]", then the hat frame "<DIR>-<colour>hat", player 0 blue, player 1 green), _render_objects for
 * counters and pots (objects.json frame = the object's name; soups.json frame
 * "soup_<idle|cooked|done>_tomato_<n>_onion_<m>": "cooked" when ready in a pot, "idle" otherwise in a pot, "done"
 * anywhere else). Atlases are read as pygame_utils.MultiFramePygameImage reads them. The package prints the
 * cooking tick over a pot; here a bar at the bottom of the cell shows cooking progress (no text, no fonts).
 *
 * Global: OvercookedRender.load(baseUrl) -> Promise<sprites>; new OvercookedRender.Renderer(canvas, sprites,
 * terrain, {scale, timers}); renderer.draw(state). draw() never throws on a state dict: anything it cannot
 * place (unknown names, positions off the grid, missing frames) is skipped.
 */
"use strict";

(function (root) {
  const TILE = 15; // px of one cell in the sprite sheets
  const DEFAULT_SCALE = 5; // the package's default tile_size is 75 = 5 * 15
  const ATLASES = Object.freeze(["terrain", "chefs", "objects", "soups"]);
  const TERRAIN_FRAMES = Object.freeze({
    " ": "floor", X: "counter", P: "pot", O: "onions", T: "tomatoes", D: "dishes", S: "serve",
  });
  const HATS = Object.freeze(["blue", "green", "orange", "purple", "red"]); // the hats chefs.json has
  const DIRECTIONS = Object.freeze({ "0,-1": "NORTH", "0,1": "SOUTH", "1,0": "EAST", "-1,0": "WEST" });
  const DIRECTION_NAMES = Object.freeze(["NORTH", "SOUTH", "EAST", "WEST"]);
  const BAR_COOKING = "#e02020";
  const BAR_READY = "#20c040";
  const BAR_BACK = "#202020";

  const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
  const isObject = (value) => value !== null && typeof value === "object";

  /* ---- atlases ---- */

  /** A TexturePacker atlas (a "frames" map, or soups.json's "textures" list) -> Map of frame name -> rectangle. */
  function parseAtlas(json) {
    let list = [];
    if (isObject(json) && Array.isArray(json.textures)) {
      const first = json.textures[0];
      list = isObject(first) && Array.isArray(first.frames) ? first.frames : [];
    } else if (isObject(json) && isObject(json.frames)) {
      list = Object.keys(json.frames).map((filename) => Object.assign({}, json.frames[filename], { filename }));
    }
    const frames = new Map();
    for (const entry of list) {
      if (!isObject(entry) || !isObject(entry.frame) || entry.rotated || entry.trimmed) continue;
      const { x, y, w, h } = entry.frame;
      if (![x, y, w, h].every(Number.isFinite) || w <= 0 || h <= 0) continue;
      frames.set(String(entry.filename).split(".")[0], Object.freeze({ x, y, w, h }));
    }
    return frames;
  }

  async function fetchJson(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => reject(new Error(`${url}: the image did not load`));
      image.src = url;
    });
  }

  /** Fetches the four atlases (JSON and PNG) from baseUrl ("/play/graphics"): {terrain, chefs, objects, soups},
   *  each {image, frames}. */
  async function load(baseUrl) {
    const base = String(baseUrl || "").replace(/\/+$/, "");
    const entries = await Promise.all(ATLASES.map(async (name) => {
      const [json, image] = await Promise.all([fetchJson(`${base}/${name}.json`), loadImage(`${base}/${name}.png`)]);
      return [name, Object.freeze({ image, frames: parseAtlas(json) })];
    }));
    return Object.freeze(Object.fromEntries(entries));
  }

  /* ---- state -> frame names (StateVisualizer's mapping) ---- */

  function terrainFrame(char) {
    return typeof char === "string" && own(TERRAIN_FRAMES, char) ? TERRAIN_FRAMES[char] : "floor";
  }

  function directionName(orientation) {
    if (typeof orientation === "string" && DIRECTION_NAMES.includes(orientation.toUpperCase())) {
      return orientation.toUpperCase();
    }
    if (Array.isArray(orientation) && orientation.length === 2) {
      const key = `${orientation[0]},${orientation[1]}`;
      if (own(DIRECTIONS, key)) return DIRECTIONS[key];
    }
    return "SOUTH";
  }

  function ingredientNames(soup) {
    if (!isObject(soup)) return [];
    const list = Array.isArray(soup._ingredients) ? soup._ingredients
      : Array.isArray(soup.ingredients) ? soup.ingredients : [];
    return list.map((item) => (isObject(item) ? item.name : item)).filter((name) => typeof name === "string");
  }

  function heldName(held) {
    if (!isObject(held) || typeof held.name !== "string") return "";
    if (held.name === "soup") return ingredientNames(held).includes("onion") ? "soup-onion" : "soup-tomato";
    return held.name;
  }

  /** [body frame, hat frame] of player number index. */
  function chefFrames(player, index) {
    const direction = directionName(isObject(player) ? player.orientation : null);
    const held = heldName(isObject(player) ? player.held_object : null);
    const hat = HATS[((Number(index) || 0) % HATS.length + HATS.length) % HATS.length];
    return [held ? `${direction}-${held}` : direction, `${direction}-${hat}hat`];
  }

  function cookingTick(soup) {
    const tick = Number(own(soup, "cooking_tick") ? soup.cooking_tick : soup._cooking_tick);
    return Number.isFinite(tick) ? tick : -1;
  }

  function isReady(soup) {
    if (typeof soup.is_ready === "boolean") return soup.is_ready;
    const time = Number(soup.cook_time);
    return cookingTick(soup) >= 0 && Number.isFinite(time) && time >= 0 && cookingTick(soup) >= time;
  }

  function soupFrame(soup, inPot) {
    const names = ingredientNames(soup);
    const count = (name) => names.filter((n) => n === name).length;
    const status = inPot ? (isObject(soup) && isReady(soup) ? "cooked" : "idle") : "done";
    return `soup_${status}_tomato_${count("tomato")}_onion_${count("onion")}`;
  }

  /* ---- drawing ---- */

  class Renderer {
    /**
     * canvas: the <canvas>, sized here to cols*15*scale by rows*15*scale; sprites: from load(); terrain: the
     * layout's terrain_mtx (rows of one-char strings, or strings); options.scale: integer zoom (default 5);
     * options.timers: draw the cooking-progress bar on pots (default true).
     */
    constructor(canvas, sprites, terrain, options) {
      if (!canvas || typeof canvas.getContext !== "function") throw new TypeError("Renderer needs a <canvas>");
      if (!isObject(sprites) || !ATLASES.every((name) => isObject(sprites[name]))) {
        throw new TypeError("Renderer needs the sprites from OvercookedRender.load()");
      }
      if (!Array.isArray(terrain) || terrain.length === 0) throw new TypeError("Renderer needs a terrain grid");
      const opts = isObject(options) ? options : {};
      const scale = Math.floor(Number(opts.scale === undefined ? DEFAULT_SCALE : opts.scale));
      this.scale = Number.isFinite(scale) && scale >= 1 ? scale : DEFAULT_SCALE;
      this.timers = opts.timers !== false;
      this.sprites = sprites;
      this.grid = terrain.map((row) => Array.from(typeof row === "string" ? row : Array.isArray(row) ? row : []));
      this.rows = this.grid.length;
      this.cols = Math.max(...this.grid.map((row) => row.length));
      if (this.cols === 0) throw new TypeError("Renderer needs a terrain grid");
      this.cell = TILE * this.scale;
      this.canvas = canvas;
      canvas.width = this.cols * this.cell;
      canvas.height = this.rows * this.cell;
      this.ctx = canvas.getContext("2d");

      this.background = document.createElement("canvas");
      this.background.width = canvas.width;
      this.background.height = canvas.height;
      const bg = this.background.getContext("2d");
      bg.imageSmoothingEnabled = false;
      this.grid.forEach((row, y) => row.forEach((char, x) => {
        this._blit(bg, sprites.terrain, terrainFrame(char), x, y);
      }));
    }

    /** Draws one OvercookedState.to_dict(): terrain, objects on counters and in pots, then the chefs. */
    draw(state) {
      const ctx = this.ctx;
      ctx.imageSmoothingEnabled = false;
      ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
      ctx.drawImage(this.background, 0, 0);
      const s = isObject(state) ? state : {};
      const objects = Array.isArray(s.objects) ? s.objects : isObject(s.objects) ? Object.values(s.objects) : [];
      for (const obj of objects) this._drawObject(obj);
      const players = Array.isArray(s.players) ? s.players : [];
      players.forEach((player, index) => this._drawChef(player, index));
    }

    _cellOf(position) {
      if (!Array.isArray(position) || position.length !== 2) return null;
      const [x, y] = position;
      if (!Number.isInteger(x) || !Number.isInteger(y)) return null;
      if (y < 0 || y >= this.rows || x < 0 || x >= this.grid[y].length) return null;
      return [x, y];
    }

    /** Draws frame name of atlas at cell (x, y); false (and nothing drawn) when the atlas has no such frame. */
    _blit(ctx, atlas, name, x, y) {
      const frame = atlas && atlas.frames instanceof Map ? atlas.frames.get(name) : undefined;
      if (!frame) return false;
      const s = this.scale;
      ctx.drawImage(atlas.image, frame.x, frame.y, frame.w, frame.h, x * this.cell, y * this.cell, frame.w * s,
        frame.h * s);
      return true;
    }

    _drawObject(obj) {
      if (!isObject(obj) || typeof obj.name !== "string") return;
      const cell = this._cellOf(obj.position);
      if (!cell) return;
      const [x, y] = cell;
      if (obj.name !== "soup") {
        this._blit(this.ctx, this.sprites.objects, obj.name, x, y);
        return;
      }
      const inPot = this.grid[y][x] === "P";
      this._blit(this.ctx, this.sprites.soups, soupFrame(obj, inPot), x, y);
      if (inPot && this.timers) this._drawProgress(obj, x, y);
    }

    _drawProgress(soup, x, y) {
      const tick = cookingTick(soup);
      if (tick < 0) return;
      const ready = isReady(soup);
      const time = Number(soup.cook_time);
      const fraction = ready ? 1 : Number.isFinite(time) && time > 0 ? Math.min(1, Math.max(0, tick / time)) : 0;
      const s = this.scale;
      const left = x * this.cell + s;
      const top = y * this.cell + (TILE - 2) * s;
      const width = (TILE - 2) * s;
      const ctx = this.ctx;
      ctx.fillStyle = BAR_BACK;
      ctx.fillRect(left, top, width, s);
      ctx.fillStyle = ready ? BAR_READY : BAR_COOKING;
      ctx.fillRect(left, top, Math.round(width * fraction), s);
    }

    _drawChef(player, index) {
      if (!isObject(player)) return;
      const cell = this._cellOf(player.position);
      if (!cell) return;
      const [x, y] = cell;
      const [body, hat] = chefFrames(player, index);
      if (!this._blit(this.ctx, this.sprites.chefs, body, x, y)) {
        this._blit(this.ctx, this.sprites.chefs, body.split("-")[0], x, y); // unknown held object: the chef alone
      }
      this._blit(this.ctx, this.sprites.chefs, hat, x, y);
    }
  }

  root.OvercookedRender = Object.freeze({
    TILE, load, parseAtlas, Renderer, terrainFrame, chefFrames, soupFrame,
  });
})(globalThis);
