"""The human-play page's drawing (docs/web.md 3.3): the sprite-sheet route ``/play/graphics/<name>`` with Flask's test
client (every allowlisted file served with its type, anything else a 404), and ``static/play/render.js`` in a real
headless Chromium (playwright, Debian's ``chromium``; a missing browser is an error, not a skip).

The page, ``render.js`` and the graphics come from a tiny Flask app with ``graphics_bp`` registered, answered
through ``page.route`` from its test client under the dashboard's CSP, so the renderer is checked as the page will
use it. States are cramped_room's, stepped by the real ``overcooked`` MDP; drawings are compared with each other
(a chef that moved, a held onion) and pixel by pixel with the package's own pygame ``StateVisualizer``.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from pantheonrl.webui.graphics import GRAPHICS_FILES, graphics_bp
from pantheonrl.webui.security import CSP

SCALE = 4
TILE = 15
ORIGIN = "http://pantheonrl.test"
STATIC = Path(__file__).resolve().parents[2] / "pantheonrl" / "webui" / "static"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>render</title></head>
<body><canvas id="game"></canvas><canvas id="plain"></canvas>
<script src="/static/play/render.js"></script></body></html>
"""
_CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""
# Builds two renderers of the same terrain: "game" as the page will (cooking bars on), "plain" without the bars, to
# compare with the package's StateVisualizer (whose cooking timer is text, turned off there).
_SETUP = """
async ({terrain, scale}) => {
  const sprites = await OvercookedRender.load("/play/graphics");
  window.game = new OvercookedRender.Renderer(document.getElementById("game"), sprites, terrain, {scale});
  window.plain = new OvercookedRender.Renderer(document.getElementById("plain"), sprites, terrain,
                                                {scale, timers: false});
  const canvas = document.getElementById("game");
  return {width: canvas.width, height: canvas.height, frames: Object.fromEntries(
    Object.entries(sprites).map(([name, atlas]) => [name, Array.from(atlas.frames.keys())]))};
}
"""
_INLINE_PROBE = """
() => {
  const script = document.createElement("script");
  script.textContent = "window.__inlineRan = true";
  document.body.appendChild(script);
  return window.__inlineRan === undefined;
}
"""
_DRAW = """
([which, state]) => { window[which].draw(state); return window[which].canvas.toDataURL("image/png"); }
"""

def _app() -> Flask:
    app = Flask("render-test", static_folder=str(STATIC), static_url_path="/static")
    app.register_blueprint(graphics_bp)

    @app.get("/")
    def page() -> Any:
        return PAGE

    @app.after_request
    def headers(response: Any) -> Any:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return app


# ---- the route ----


@pytest.fixture(scope="module")
def client():
    return _app().test_client()


def test_every_graphics_file_is_served_with_its_type(client):
    for name in GRAPHICS_FILES:
        response = client.get(f"/play/graphics/{name}")
        assert response.status_code == 200, name
        expected = "image/png" if name.endswith(".png") else "application/json"
        assert response.mimetype == expected, (name, response.mimetype)
        body = response.get_data()
        if name.endswith(".png"):
            assert body.startswith(b"\x89PNG\r\n\x1a\n"), name
        else:
            assert isinstance(json.loads(body), dict), name
        assert "max-age" in response.headers.get("Cache-Control", ""), name


@pytest.mark.parametrize("path", ["../secret_key", "x.png", "%2e%2e/x", "%2e%2e%2fterrain.png", "..%2fstatic.py",
                                  "terrain.PNG", "terrain.png%00", "fonts", "", "chefs.png/", "../graphics/arrow.png"])
def test_other_names_are_404(client, path):
    assert client.get(f"/play/graphics/{path}").status_code == 404


# ---- the renderer in a browser ----


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    assert path, "Debian's chromium is missing: apt-get install chromium (never `playwright install`)"
    return path


@pytest.fixture(scope="module")
def game():
    """cramped_room's terrain and a few states stepped by the real MDP."""
    from overcooked import OvercookedGridworld
    from overcooked.mdp.actions import Action, Direction
    from overcooked.mdp.overcooked_mdp import ObjectState, OvercookedState, SoupState

    mdp = OvercookedGridworld.from_layout_name("cramped_room")
    stay, interact = Action.STAY, Action.INTERACT
    north, east, west = Direction.NORTH, Direction.EAST, Direction.WEST
    # player 0 starts at (1, 2), player 1 at (3, 1) beside the onion dispenser (4, 1), both facing north
    script = [(east, east),  # 0 moves to (2, 2); 1 turns to the dispenser
              (stay, interact),  # 1 picks up an onion
              (stay, north), (stay, interact),  # 1 puts it on the counter (3, 0)
              (stay, east), (stay, interact),  # another onion
              (stay, west), (stay, north), (stay, interact)]  # into the pot (2, 0): a soup of one onion
    states = [mdp.get_standard_start_state()]
    for joint in script:
        states.append(mdp.get_state_transition(states[-1], joint)[0])

    rich = states[-1].deepcopy()  # every kind of thing at once
    rich.objects[(2, 0)] = SoupState.get_soup((2, 0), num_onions=2, num_tomatoes=1, cooking_tick=4)
    rich.objects[(0, 0)] = ObjectState("dish", (0, 0))
    rich.objects[(4, 0)] = ObjectState("tomato", (4, 0))
    rich.objects[(0, 2)] = SoupState.get_soup((0, 2), num_onions=3, finished=True)
    rich.players[0].set_object(SoupState.get_soup(rich.players[0].position, num_onions=3, finished=True))
    ready = states[-1].deepcopy()
    ready.objects[(2, 0)] = SoupState.get_soup((2, 0), num_onions=3, finished=True)
    ready.players[1].set_object(ObjectState("dish", ready.players[1].position))

    def as_json(state: Any) -> dict[str, Any]:
        return json.loads(json.dumps(state.to_dict()))  # as the socket sends it: tuples become lists

    return {"mdp": mdp, "terrain": [list(row) for row in mdp.terrain_mtx], "states": [as_json(s) for s in states],
            "rich": as_json(rich), "ready": as_json(ready), "from_dict": OvercookedState.from_dict}


@pytest.fixture(scope="module")
def page(game):
    from playwright.sync_api import sync_playwright

    client = _app().test_client()
    problems: list[str] = []

    def serve(route: Any) -> None:
        url = urlsplit(route.request.url)
        if f"{url.scheme}://{url.netloc}" != ORIGIN:
            problems.append(f"request outside the page's origin: {route.request.url}")
            route.abort()
            return
        response = client.get(url.path + (f"?{url.query}" if url.query else ""))
        route.fulfill(status=response.status_code, headers=dict(response.headers), body=response.get_data())

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(15_000)
            context.add_init_script(_CSP_LISTENER)
            context.route("**/*", serve)
            # the CSP is in force (so "no violations" below means something): an inline script does not run
            probe = context.new_page()
            probe.goto(f"{ORIGIN}/")
            assert probe.evaluate(_INLINE_PROBE) is True
            assert probe.evaluate("() => window.__cspViolations.length") >= 1
            probe.close()
            tab = context.new_page()
            tab.on("console", lambda msg: problems.extend([f"console: {msg.text}"] * (msg.type in ("error", "assert"))))
            tab.on("pageerror", lambda err: problems.append(f"uncaught: {err}"))
            tab.goto(f"{ORIGIN}/")
            tab.problems = problems
            tab.setup = tab.evaluate(_SETUP, {"terrain": game["terrain"], "scale": SCALE})
            yield tab
            assert tab.evaluate("() => window.__cspViolations") == [], "CSP violations"
            assert problems == []
        finally:
            browser.close()


def _draw(page: Any, state: Any, which: str = "game") -> Any:
    from PIL import Image

    url = page.evaluate(_DRAW, [which, state])
    assert page.problems == []
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    image.load()
    return image.convert("RGB")


def _cell(image: Any, x: int, y: int) -> bytes:
    size = TILE * SCALE
    return image.crop((x * size, y * size, (x + 1) * size, (y + 1) * size)).tobytes()


def _changed_cells(a: Any, b: Any, game: Any) -> set[tuple[int, int]]:
    rows, cols = len(game["terrain"]), len(game["terrain"][0])
    return {(x, y) for y in range(rows) for x in range(cols) if _cell(a, x, y) != _cell(b, x, y)}


@pytest.mark.e2e
def test_canvas_size_atlases_and_not_blank(page, game):
    from PIL import ImageStat

    rows, cols = len(game["terrain"]), len(game["terrain"][0])
    assert (page.setup["width"], page.setup["height"]) == (cols * TILE * SCALE, rows * TILE * SCALE)
    frames = page.setup["frames"]
    assert {"floor", "counter", "pot", "onions", "tomatoes", "dishes", "serve"} <= set(frames["terrain"])
    assert {"NORTH", "NORTH-onion", "NORTH-bluehat", "NORTH-greenhat"} <= set(frames["chefs"])
    assert {"onion", "tomato", "dish"} <= set(frames["objects"])
    assert "soup_idle_tomato_0_onion_1" in frames["soups"]
    for state in game["states"] + [game["rich"], game["ready"]]:
        image = _draw(page, state)
        assert image.size == (cols * TILE * SCALE, rows * TILE * SCALE)
        colors = len(image.getcolors(maxcolors=1 << 16) or [])  # pixel art: a few dozen
        spread = ImageStat.Stat(image.convert("L")).stddev[0]
        assert colors > 16 and spread > 20, f"the canvas looks blank: {colors} colours, stddev {spread:.1f}"


@pytest.mark.e2e
def test_a_chef_that_moved_changes_its_cells_only(page, game):
    start, moved = game["states"][0], game["states"][1]
    assert start["players"][0]["position"] == [1, 2] and moved["players"][0]["position"] == [2, 2]
    changed = _changed_cells(_draw(page, start), _draw(page, moved), game)
    # player 0 left (1, 2) for (2, 2); player 1 turned east at (3, 1)
    assert changed == {(1, 2), (2, 2), (3, 1)}


@pytest.mark.e2e
def test_a_held_onion_is_drawn(page, game):
    holding = game["states"][2]
    assert holding["players"][1]["held_object"]["name"] == "onion"
    empty_handed = copy.deepcopy(holding)
    empty_handed["players"][1]["held_object"] = None
    changed = _changed_cells(_draw(page, holding), _draw(page, empty_handed), game)
    assert changed == {tuple(holding["players"][1]["position"])}


@pytest.mark.e2e
def test_objects_and_soups_are_drawn(page, game):
    on_counter = game["states"][4]
    assert [o["name"] for o in on_counter["objects"]] == ["onion"]
    bare = dict(on_counter, objects=[])
    assert _changed_cells(_draw(page, on_counter), _draw(page, bare), game) == {(3, 0)}
    in_pot = game["states"][-1]
    assert any(o["name"] == "soup" and o["position"] == [2, 0] for o in in_pot["objects"])
    assert (2, 0) in _changed_cells(_draw(page, in_pot), _draw(page, dict(in_pot, objects=[])), game)
    # cooking progress: the cooking bar grows with the tick, and a ready soup looks different again
    cooking = copy.deepcopy(game["rich"])
    pot = next(o for o in cooking["objects"] if o["position"] == [2, 0])
    later = copy.deepcopy(cooking)
    next(o for o in later["objects"] if o["position"] == [2, 0])["cooking_tick"] = pot["cooking_tick"] + 5
    assert _changed_cells(_draw(page, cooking), _draw(page, later), game) == {(2, 0)}


@pytest.mark.e2e
def test_frames_match_the_packages_renderer(page, game, monkeypatch):
    """Pixel for pixel (up to rounding of alpha blending) what overcooked's own StateVisualizer draws."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    import pygame
    from overcooked.visualization.state_visualizer import StateVisualizer
    from PIL import Image, ImageChops

    visualizer = StateVisualizer(tile_size=TILE * SCALE, is_rendering_hud=False, is_rendering_cooking_timer=False,
                                 is_rendering_action_probs=False)
    for state in game["states"] + [game["rich"], game["ready"]]:
        surface = visualizer.render_state(game["from_dict"](state), game["mdp"].terrain_mtx)
        theirs = Image.frombytes("RGB", surface.get_size(), pygame.image.tobytes(surface, "RGB"))
        ours = _draw(page, state, "plain")
        assert ours.size == theirs.size
        worst = max(high for _, high in ImageChops.difference(ours, theirs).getextrema())
        assert worst <= 2, f"differs from StateVisualizer by up to {worst} at timestep {state['timestep']}"


@pytest.mark.e2e
def test_odd_states_do_not_throw(page, game):
    start = game["states"][0]
    odd = copy.deepcopy(start)
    odd["objects"] = [
        {"name": "anvil", "position": [0, 0]},
        {"name": "soup", "position": [2, 0], "_ingredients": [{"name": "banana", "position": [2, 0]}],
         "cooking_tick": 3, "cook_time": 0, "is_ready": False},
        {"name": "soup", "position": [0, 1]},
        {"name": "onion", "position": [99, 99]},
        {"name": "onion", "position": [-1, 0]},
        {"name": "onion", "position": "here"},
        {"name": "onion"},
        {"name": 7, "position": [0, 0]},
        {"name": "toString", "position": [0, 0]},
        None, 3, "dish",
    ]
    odd["players"][0]["held_object"] = {"name": "anvil", "position": [1, 2]}
    image = _draw(page, odd, "plain")  # (no cooking bar: the soup of bananas cooks on "game")
    assert _changed_cells(_draw(page, start, "plain"), image, game) == set()  # the anvils: an empty-handed chef
    for weird in [{}, None, 0, "state", [], {"players": 5, "objects": "x"},
                  {"players": [None, {"position": [1.5, 2]}, {"position": [1, 1], "orientation": "up"},
                               {"position": [3, 2], "orientation": [7, 7], "held_object": {"name": "soup"}}],
                   "objects": {"a": {"name": "dish", "position": [0, 0]}}}]:
        _draw(page, weird)
    assert page.problems == []
