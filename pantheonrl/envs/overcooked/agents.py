"""Scripted Overcooked partners: random, stay and a greedy cook.

Every partner reads only ``obs.state``, a :class:`~pantheonrl.envs.overcooked.view.PlayerView` (the full game
state, the player's index in the game and the layout), and returns an ``int`` index into
``overcooked.Action.ALL_ACTIONS``: ``0`` north, ``1`` south, ``2`` east, ``3`` west, ``4`` stay, ``5`` interact.
Randomness comes from each agent's own ``numpy.random.Generator`` (``seed``), never from a global generator.

* :class:`OvercookedRandomAgent`: uniform over the six actions.
* :class:`StayAgent`: always stays.
* :class:`GreedyCookAgent`: a heuristic cook. It fills pots with the ingredients of the best order the pot can
  still make, starts the cooking (the package's new dynamics need an empty-handed ``INTERACT`` on a pot), fetches
  a dish for a cooking or ready soup, picks the soup up and serves it. It walks by breadth-first search over the
  floor, routing around the other chefs when it can, and steps aside at random when it has been stuck. Where a
  destination cannot be reached from its side of the kitchen (``forced_coordination``) it hands the item over on
  a counter both sides reach, and takes handed-over items from counters.

:data:`OVERCOOKED_PARTNERS` maps partner names to factories ``(seed=None) -> Agent``;
:func:`make_overcooked_partner` builds one by name.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from pantheonrl.common.agents import Agent
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError, unknown_choice

__all__ = [
    "INTERACT",
    "NUM_ACTIONS",
    "OVERCOOKED_PARTNERS",
    "STAY",
    "GreedyCookAgent",
    "OvercookedRandomAgent",
    "StayAgent",
    "make_overcooked_partner",
]

#: Directions in the order of ``overcooked.Action.ALL_ACTIONS``: north, south, east, west.
_DIRECTIONS: tuple[tuple[int, int], ...] = ((0, -1), (0, 1), (1, 0), (-1, 0))
_DIRECTION_INDEX = {d: i for i, d in enumerate(_DIRECTIONS)}
STAY = 4
INTERACT = 5
NUM_ACTIONS = 6

_INGREDIENTS = ("onion", "tomato")
#: right of way in a corridor: a chef carrying a more advanced item passes first
_HELD_RANK = {"soup": 4, "dish": 3, "onion": 2, "tomato": 2, None: 0}
_DISPENSER = {"onion": "O", "tomato": "T", "dish": "D"}

Pos = tuple[int, int]


def _view(obs: Observation) -> Any:
    view = obs.state
    if not all(hasattr(view, name) for name in ("state", "player", "mdp")):
        raise ConfigError(
            "Overcooked partners read obs.state as a PlayerView(state, player, mdp), "
            f"got {type(view).__name__}"
        )
    return view


class OvercookedRandomAgent(Agent):
    """Uniformly random over the six Overcooked actions.

    :param seed: seed of the agent's own generator (``None``: OS entropy, not reproducible).
    """

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def get_action(self, obs: Observation) -> int:
        return int(self.rng.integers(NUM_ACTIONS))

    def update(self, reward: float, done: bool) -> None:
        pass


class StayAgent(Agent):
    """Never moves: always ``STAY`` (index 4)."""

    def get_action(self, obs: Observation) -> int:
        return STAY

    def update(self, reward: float, done: bool) -> None:
        pass


class _Layout:
    """What the greedy cook precomputes about a layout: floor, connected areas, distances, special tiles."""

    def __init__(self, mdp: Any) -> None:
        self.mdp = mdp
        terrain = mdp.terrain_mtx
        self.height = len(terrain)
        self.width = len(terrain[0])
        self.terrain: dict[Pos, str] = {(x, y): terrain[y][x] for y in range(self.height) for x in range(self.width)}
        self.floor: frozenset[Pos] = frozenset(p for p, t in self.terrain.items() if t == " ")
        self.tiles: dict[str, list[Pos]] = {}
        for p, t in sorted(self.terrain.items(), key=lambda item: (item[0][1], item[0][0])):
            self.tiles.setdefault(t, []).append(p)
        # floor cells next to each non-floor tile
        self.access: dict[Pos, list[Pos]] = {
            p: [n for n in self.neighbours(p) if n in self.floor] for p in self.terrain if p not in self.floor
        }
        # connected areas of the floor (players ignored)
        self.area: dict[Pos, int] = {}
        for start in sorted(self.floor):
            if start in self.area:
                continue
            label = len(set(self.area.values()))
            self.area[start] = label
            queue = deque([start])
            while queue:
                cur = queue.popleft()
                for n in self.neighbours(cur):
                    if n in self.floor and n not in self.area:
                        self.area[n] = label
                        queue.append(n)
        self.tile_areas: dict[Pos, frozenset[int]] = {
            p: frozenset(self.area[n] for n in cells) for p, cells in self.access.items()
        }
        # floor cells in front of a pot, dispenser or serving window: an idle chef does not wait there
        self.busy_cells: frozenset[Pos] = frozenset(
            c for p, cells in self.access.items() if self.terrain[p] in "PSDOT" for c in cells
        )
        # shortest floor distances between floor cells (players ignored)
        self.dist: dict[Pos, dict[Pos, int]] = {p: self._bfs_all(p) for p in self.floor}

    def neighbours(self, p: Pos) -> Iterable[Pos]:
        x, y = p
        for dx, dy in _DIRECTIONS:
            q = (x + dx, y + dy)
            if 0 <= q[0] < self.width and 0 <= q[1] < self.height:
                yield q

    def _bfs_all(self, start: Pos) -> dict[Pos, int]:
        dist = {start: 0}
        queue = deque([start])
        while queue:
            cur = queue.popleft()
            for n in self.neighbours(cur):
                if n in self.floor and n not in dist:
                    dist[n] = dist[cur] + 1
                    queue.append(n)
        return dist

    def reaches(self, pos: Pos, tile: Pos) -> bool:
        """Whether a chef standing on ``pos`` can walk to a cell next to ``tile`` (players ignored)."""
        return self.area.get(pos) in self.tile_areas.get(tile, frozenset())

    def tile_distance(self, pos: Pos, tile: Pos) -> float:
        """Steps from ``pos`` to the nearest cell next to ``tile`` (players ignored); ``inf`` if unreachable."""
        table = self.dist.get(pos, {})
        return min((table[c] for c in self.access.get(tile, ()) if c in table), default=float("inf"))


class GreedyCookAgent(Agent):
    """A heuristic Overcooked cook (see the module docstring).

    Decision, recomputed every step from the state (a pot's target is the most valuable order of
    ``state.all_orders``, bonus included, that its ingredients can still become with the ingredients at hand):

    * holding a soup: serve it (or hand it over on a counter when no serving window is reachable);
    * holding a dish: go to a ready (else cooking) soup and pick it up; with no soup to take, put the dish down;
    * holding an ingredient: put it into the fullest reachable pot that still needs it (or hand it over); if no
      pot needs it, hold it for the pot being emptied when another chef carries the dish for it, else put it
      down on a counter (so that the hands are free);
    * empty-handed: start a pot whose ingredients make its target (or that can make no order: cooked, it is
      cleared); take a soup left on a counter; fetch a dish when a soup is cooking or ready and no other chef
      carries one (a closer, active empty-handed chef gets it while the soup still cooks); fetch an ingredient
      some pot still needs (or that the next soup will need, see ``prefetch``); otherwise wait, off the cells in
      front of pots, dispensers and serving windows.

    Known limits: in a kitchen that is a single corridor (``m_shaped_s``) two greedy cooks cannot pass each
    other and score little; a partner standing in the only cell in front of the dish dispenser (a ``StayAgent``
    as player 0 of ``cramped_room``) makes soups impossible.

    :param seed: seed of the agent's own generator, used only to break deadlocks (``None``: OS entropy).
    :param stuck_patience: consecutive steps without moving (while trying to move) before the agent may step
        aside at random.
    :param stuck_random_prob: probability of a random move once stuck.
    :param idle_patience: steps without any change in another chef (position, orientation, held object) after
        which that chef is treated as inactive and not counted on to fetch the dish.
    :param detour_slack: extra steps the agent accepts to walk around another chef; a longer detour is taken
        only when the other chef has the right of way (it carries a more advanced item: soup, then dish, then
        ingredient, then nothing; the lower player index on a tie).
    :param retreat_patience: steps without getting closer to the current target after which the agent gives
        way for a few steps, walking towards a random cell (``0``: never).
    :param prefetch: while a soup cooks and another chef carries the dish for it, bring (and hold) the
        ingredients of the next soup.
    """

    def __init__(
        self,
        seed: int | None = None,
        stuck_patience: int = 2,
        stuck_random_prob: float = 0.3,
        idle_patience: int = 8,
        detour_slack: int = 2,
        retreat_patience: int = 6,
        prefetch: bool = True,
    ) -> None:
        if min(stuck_patience, idle_patience, detour_slack, retreat_patience) < 0:
            raise ConfigError(
                "GreedyCookAgent stuck_patience, idle_patience, detour_slack and retreat_patience must be >= 0, "
                f"got {stuck_patience!r}, {idle_patience!r}, {detour_slack!r}, {retreat_patience!r}"
            )
        if not 0.0 <= stuck_random_prob <= 1.0:
            raise ConfigError(f"GreedyCookAgent stuck_random_prob must be in [0, 1], got {stuck_random_prob!r}")
        self.rng = np.random.default_rng(seed)
        self.stuck_patience = int(stuck_patience)
        self.stuck_random_prob = float(stuck_random_prob)
        self.idle_patience = int(idle_patience)
        self.detour_slack = int(detour_slack)
        self.retreat_patience = int(retreat_patience)
        self.prefetch = bool(prefetch)
        self._layout: _Layout | None = None
        self._reset_memory()

    # ------------------------------------------------------------------ episode memory

    def _reset_memory(self) -> None:
        self._last_pos: Pos | None = None
        self._before_last_pos: Pos | None = None
        self._expected_move = False
        self._stuck = 0
        self._last_timestep: int | None = None
        self._others_last: dict[int, tuple] = {}
        self._others_idle: dict[int, int] = {}
        self._progress_key: tuple | None = None
        self._best_distance = float("inf")
        self._no_progress_steps = 0
        self._retreat_to: Pos | None = None
        self._retreat_left = 0
        #: the last decision, for inspection and debugging: (goal name, target tile or None)
        self.last_goal: tuple[str, Pos | None] = ("none", None)

    def update(self, reward: float, done: bool) -> None:
        if done:
            self._reset_memory()

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        self._reset_memory()

    def _layout_for(self, mdp: Any) -> _Layout:
        if self._layout is None or self._layout.mdp is not mdp:
            self._layout = _Layout(mdp)
        return self._layout

    # ------------------------------------------------------------------ acting

    def get_action(self, obs: Observation) -> int:
        view = _view(obs)
        state, me_idx = view.state, int(view.player)
        layout = self._layout_for(view.mdp)
        me = state.players[me_idx]
        pos = tuple(me.position)

        timestep = int(getattr(state, "timestep", 0))
        if self._last_timestep is not None and timestep <= self._last_timestep:
            self._reset_memory()  # a new episode started without update(done=True)
        self._last_timestep = timestep
        self._track_others(state, me_idx)

        if self._expected_move and (self._last_pos == pos or self._before_last_pos == pos):
            self._stuck += 1  # did not move, or went back where we were (dancing with another chef)
        else:
            self._stuck = 0
        self._before_last_pos = self._last_pos
        self._last_pos = pos
        self._expected_move = False

        if self._retreat_left > 0:
            action = self._retreat(state, me_idx, layout)
            if action is not None:
                self.last_goal = ("retreat", self._retreat_to)
                return action

        if self._stuck >= max(1, self.stuck_patience) and self.rng.random() < self.stuck_random_prob:
            self._stuck = 0
            self.last_goal = ("unstick", None)
            return int(self.rng.integers(4))

        goal, targets = self._choose(state, me_idx, layout)
        if not targets:
            self.last_goal = (goal, None)
            self._progress_key = None
            return self._idle(state, me_idx, layout)
        action, tile = self._go_interact(state, me_idx, layout, targets)
        self.last_goal = (goal, tile)
        if self._no_progress(goal, tile, layout.tile_distance(pos, tile)):
            self._start_retreat(state, me_idx, layout)
            retreat = self._retreat(state, me_idx, layout)
            if retreat is not None:
                self.last_goal = ("retreat", self._retreat_to)
                return retreat
        return action

    def _no_progress(self, goal: str, tile: Pos, distance: float) -> bool:
        """Track the distance to the current target; true when it has not shrunk for ``retreat_patience``
        steps (two chefs blocking each other in a corridor)."""
        key = (goal, tile)
        if key != self._progress_key or distance < self._best_distance:
            self._progress_key, self._best_distance, self._no_progress_steps = key, distance, 0
            return False
        if distance > 0:
            self._no_progress_steps += 1
        if self.retreat_patience and self._no_progress_steps >= self.retreat_patience:
            self._progress_key = None
            return True
        return False

    def _start_retreat(self, state: Any, me_idx: int, layout: _Layout) -> None:
        """Give way for a few steps: walk towards a random free cell of our area."""
        pos = tuple(state.players[me_idx].position)
        others = {tuple(p.position) for i, p in enumerate(state.players) if i != me_idx}
        cells = sorted(c for c in layout.floor if layout.area[c] == layout.area[pos] and c != pos and c not in others)
        if not cells:
            return
        self._retreat_to = cells[int(self.rng.integers(len(cells)))]
        self._retreat_left = int(self.rng.integers(2, 6))

    def _retreat(self, state: Any, me_idx: int, layout: _Layout) -> int | None:
        pos = tuple(state.players[me_idx].position)
        self._retreat_left -= 1
        if self._retreat_to is None or pos == self._retreat_to:
            self._retreat_left = 0
            return None
        others = {tuple(p.position) for i, p in enumerate(state.players) if i != me_idx}
        goal = {self._retreat_to: self._retreat_to}
        step = self._bfs_first_step(layout, pos, goal, blocked=others) or self._bfs_first_step(
            layout, pos, goal, blocked=set()
        )
        if step is None:
            self._retreat_left = 0
            return None
        self._expected_move = True
        return _DIRECTION_INDEX[step[0]]

    def _track_others(self, state: Any, me_idx: int) -> None:
        for i, p in enumerate(state.players):
            if i == me_idx:
                continue
            held = p.held_object.name if p.held_object is not None else None
            key = (tuple(p.position), tuple(p.orientation), held)
            if self._others_last.get(i) == key:
                self._others_idle[i] = self._others_idle.get(i, 0) + 1
            else:
                self._others_idle[i] = 0
            self._others_last[i] = key

    def _idle(self, state: Any, me_idx: int, layout: _Layout) -> int:
        """Nothing to do: leave the cells in front of pots, dispensers and serving windows, then wait (stepping
        aside at random when another chef is next to us)."""
        pos = tuple(state.players[me_idx].position)
        others = {tuple(p.position) for i, p in enumerate(state.players) if i != me_idx}
        if pos in layout.busy_cells:
            parking = {
                c: c for c in layout.floor
                if c not in layout.busy_cells and c not in others and layout.area[c] == layout.area[pos]
            }
            step = self._bfs_first_step(layout, pos, parking, blocked=others) or self._bfs_first_step(
                layout, pos, parking, blocked=set()
            )
            if step is not None:
                self._expected_move = True
                return _DIRECTION_INDEX[step[0]]
        if any(abs(o[0] - pos[0]) + abs(o[1] - pos[1]) == 1 for o in others) and self.rng.random() < 0.5:
            free = [
                k for k, d in enumerate(_DIRECTIONS)
                if (pos[0] + d[0], pos[1] + d[1]) in layout.floor and (pos[0] + d[0], pos[1] + d[1]) not in others
            ]
            if free:
                return int(free[self.rng.integers(len(free))])
        return STAY

    # ------------------------------------------------------------------ navigation

    def _go_interact(self, state: Any, me_idx: int, layout: _Layout, targets: list[Pos]) -> tuple[int, Pos]:
        """Walk to the nearest cell next to one of ``targets``, face it and interact.

        The path avoids the cells of the other chefs when the detour costs at most ``detour_slack`` extra steps,
        or whatever it costs when we have been stuck, when another chef stands still (an obstacle), or when we
        give way (a nearby chef that has moved lately has the right of way: it carries a more advanced item, or
        the same kind of item and a lower player index); otherwise it goes straight.
        """
        me = state.players[me_idx]
        pos, orientation = tuple(me.position), tuple(me.orientation)
        adjacent = [t for t in targets if (t[0] - pos[0], t[1] - pos[1]) in _DIRECTION_INDEX]
        if adjacent:
            for tile in adjacent:
                if (tile[0] - pos[0], tile[1] - pos[1]) == orientation:
                    return INTERACT, tile
            tile = adjacent[0]
            # moving into a tile that is not floor only turns the chef towards it
            return _DIRECTION_INDEX[(tile[0] - pos[0], tile[1] - pos[1])], tile
        others = {tuple(p.position) for i, p in enumerate(state.players) if i != me_idx}
        goal_cells: dict[Pos, Pos] = {}
        for tile in targets:
            for cell in layout.access.get(tile, ()):
                goal_cells.setdefault(cell, tile)
        direct = self._bfs_first_step(layout, pos, goal_cells, blocked=set())
        if direct is None:
            return STAY, targets[0]
        around = self._bfs_first_step(layout, pos, goal_cells, blocked=others)
        if around is None:
            # every way is barred by another chef: back off from one that has the right of way or that stands
            # right on the cell we need (it must leave first), so that it can get past
            near_goal = [
                tuple(p.position) for i, p in enumerate(state.players)
                if i != me_idx and tuple(p.position) in goal_cells and layout.dist[pos].get(tuple(p.position)) == 1
                and (pos[0] - p.position[0], pos[1] - p.position[1]) == tuple(p.orientation)  # it wants out
            ]
            blockers = near_goal or self._right_of_way(state, me_idx, layout, within=2)
            if blockers:
                return self._back_off(layout, pos, others, blockers), direct[1]
            step = direct
        elif (
            around[2] <= direct[2] + self.detour_slack
            or self._stuck >= max(1, self.stuck_patience)
            or any(self._others_idle.get(i, 0) >= 2 for i in range(len(state.players)) if i != me_idx)
            or self._right_of_way(state, me_idx, layout, within=3)
        ):
            step = around
        else:
            step = direct
        direction, tile, _length = step
        nxt = (pos[0] + direction[0], pos[1] + direction[1])
        if nxt not in others and any(
            layout.dist[nxt].get(o, 99) == 1 for o in self._right_of_way(state, me_idx, layout, within=2)
        ):
            return STAY, tile  # a chef with the right of way may step into the same cell: let it go first
        self._expected_move = True
        return _DIRECTION_INDEX[direction], tile

    def _back_off(self, layout: _Layout, pos: Pos, others: set[Pos], blockers: list[Pos]) -> int:
        """A move to a free cell farther from ``blockers`` (random among the best), or STAY."""
        def gap(cell: Pos) -> int:
            return min(layout.dist[cell].get(b, 99) for b in blockers)

        here = gap(pos)
        options = []
        for k, d in enumerate(_DIRECTIONS):
            cell = (pos[0] + d[0], pos[1] + d[1])
            if cell in layout.floor and cell not in others and gap(cell) > here:
                options.append(k)
        if not options:
            return STAY
        self._expected_move = True
        return int(options[self.rng.integers(len(options))])

    def _right_of_way(self, state: Any, me_idx: int, layout: _Layout, within: int) -> list[Pos]:
        """Positions of the chefs within ``within`` steps that are moving and have the right of way over us."""
        me = state.players[me_idx]
        pos = tuple(me.position)
        mine = _HELD_RANK.get(me.held_object.name if me.held_object is not None else None, 1)
        found = []
        for i, p in enumerate(state.players):
            if i == me_idx or layout.dist.get(pos, {}).get(tuple(p.position), 99) > within:
                continue
            if self._others_idle.get(i, 0) >= 2:
                continue  # standing still: an obstacle, not traffic
            theirs = _HELD_RANK.get(p.held_object.name if p.held_object is not None else None, 1)
            if theirs > mine or (theirs == mine and i < me_idx):
                found.append(tuple(p.position))
        return found

    @staticmethod
    def _bfs_first_step(
        layout: _Layout, start: Pos, goal_cells: dict[Pos, Pos], blocked: set[Pos]
    ) -> tuple[tuple[int, int], Pos, int] | None:
        """(first move, target tile, path length) of a shortest floor path from ``start`` to a goal cell
        that avoids the ``blocked`` cells; None if there is none."""
        first: dict[Pos, tuple[tuple[int, int], int]] = {}
        queue = deque([start])
        seen = {start}
        while queue:
            cur = queue.popleft()
            if cur in goal_cells and cur != start:
                direction, length = first[cur]
                return direction, goal_cells[cur], length
            for d in _DIRECTIONS:
                n = (cur[0] + d[0], cur[1] + d[1])
                if n in layout.floor and n not in seen and n not in blocked:
                    seen.add(n)
                    first[n] = (d, 1) if cur == start else (first[cur][0], first[cur][1] + 1)
                    queue.append(n)
        return None

    # ------------------------------------------------------------------ deciding

    def _choose(self, state: Any, me_idx: int, layout: _Layout) -> tuple[str, list[Pos]]:
        """The current goal's name and the tiles to interact with (empty: nothing useful to do)."""
        mdp = layout.mdp
        me = state.players[me_idx]
        pos = tuple(me.position)
        held = me.held_object.name if me.held_object is not None else None
        others = [p for i, p in enumerate(state.players) if i != me_idx]
        others_held = Counter(p.held_object.name for p in others if p.held_object is not None)

        pots = layout.tiles.get("P", [])
        serving = layout.tiles.get("S", [])
        counters = layout.tiles.get("X", [])
        counter_items: dict[str, list[Pos]] = {}
        for p in counters:
            if state.has_object(p):
                counter_items.setdefault(state.get_object(p).name, []).append(p)
        empty_counters = [p for p in counters if not state.has_object(p)]

        orders = self._orders(state, layout, counter_items)
        soups = {p: state.get_object(p) for p in pots if state.has_object(p)}
        ready = [p for p, s in soups.items() if s.is_ready]
        cooking = [p for p, s in soups.items() if s.is_cooking]
        idle_pots = [p for p in pots if p not in soups or soups[p].is_idle]
        missing: dict[Pos, Counter] = {}
        to_start: list[Pos] = []
        for p in idle_pots:
            have = Counter(soups[p].ingredients) if p in soups else Counter()
            need = self._pot_need(have, orders)
            if need is None or not need:
                if sum(have.values()) > 0 and not mdp.old_dynamics:
                    to_start.append(p)  # it makes an order (or can make none: cook it to clear the pot)
                continue
            missing[p] = need

        def mine(tiles: Iterable[Pos]) -> list[Pos]:
            return [t for t in tiles if layout.reaches(pos, t)]

        def handover(dest: Iterable[Pos], keep_free: int = 0) -> list[Pos]:
            """Empty counters we reach and a chef who reaches ``dest`` reaches; none when fewer than
            ``keep_free + 1`` (ingredients leave one free for dishes and soups)."""
            dest_areas = frozenset().union(*(layout.tile_areas.get(t, frozenset()) for t in dest))
            my_area = layout.area.get(pos)
            found = [
                c for c in empty_counters
                if my_area in layout.tile_areas[c] and (layout.tile_areas[c] - {my_area}) & dest_areas
            ]
            return found if len(found) > keep_free else []

        # a dish is on its way to every cooking or ready soup
        dish_covered = others_held["dish"] >= len(ready + cooking) > 0

        # ---- holding a soup
        if held == "soup":
            if mine(serving):
                return "serve", mine(serving)
            return "hand over soup", handover(serving)

        # ---- holding a dish
        if held == "dish":
            for name, pot_list in (("take soup", ready), ("wait for soup", cooking)):
                if mine(pot_list):
                    return name, mine(pot_list)
            if ready or cooking:
                return "hand over dish", handover(ready + cooking)
            return "put dish down", mine(empty_counters)

        # ---- holding an ingredient (or anything else)
        if held is not None:
            accepting = [p for p, need in missing.items() if need[held] > 0]
            if mine(accepting):
                def filled(pot: Pos) -> int:
                    return len(soups[pot].ingredients) if pot in soups else 0

                fill = max(filled(p) for p in mine(accepting))
                return "fill pot", [p for p in mine(accepting) if filled(p) == fill]
            if accepting:
                return f"hand over {held}", handover(accepting, keep_free=1)  # none free: wait holding it
            if self.prefetch and dish_covered and orders and orders[0][0][held] > 0 and mine(ready + cooking):
                return f"wait with {held}", []  # for the pot being emptied
            return f"put {held} down", mine(empty_counters)

        # ---- empty-handed
        if mine(to_start):
            return "start cooking", mine(to_start)
        if counter_items.get("soup") and mine(serving):
            ready_soups = [c for c in counter_items["soup"] if state.get_object(c).is_ready]
            if mine(ready_soups):
                return "pick up soup", mine(ready_soups)

        soups_waiting = ready + cooking
        dishes_out = others_held["dish"]
        direct_dish = bool(mine(soups_waiting))
        dish_sources = mine(layout.tiles.get("D", []))
        if direct_dish:
            dish_sources = dish_sources + mine(counter_items.get("dish", []))
        else:
            dishes_out += len(self._on_handover_counters(layout, counter_items.get("dish", []), soups_waiting))
        demand = len(soups_waiting) - dishes_out
        if demand > 0 and dish_sources:
            rank = 0 if ready else self._closer_helpers(state, me_idx, layout, dish_sources)
            if rank < demand:
                return "fetch dish", dish_sources

        needed = Counter()
        for need in missing.values():
            needed.update(need)
        fetch: list[Pos] = []
        for name in _INGREDIENTS:
            want = needed[name] - others_held[name]
            accepting = [p for p, need in missing.items() if need[name] > 0]
            direct = bool(mine(accepting))
            sources = mine(layout.tiles.get(_DISPENSER[name], []))
            if direct:
                sources = sources + mine(counter_items.get(name, []))
            else:
                want -= len(self._on_handover_counters(layout, counter_items.get(name, []), accepting))
                if not handover(accepting, keep_free=1):
                    sources = []
            if want > 0:
                fetch += sources
        if not fetch and self.prefetch and dish_covered and orders:
            # the next soups: bring their ingredients while the current ones cook
            busy = mine(ready + cooking)
            for name in _INGREDIENTS:
                supply = others_held[name] + len(mine(counter_items.get(name, [])))
                if orders[0][0][name] * len(busy) - supply > 0:
                    fetch += mine(layout.tiles.get(_DISPENSER[name], []))
        if fetch:
            return "fetch ingredient", fetch
        return "wait", []

    @staticmethod
    def _on_handover_counters(layout: _Layout, items: list[Pos], dest: list[Pos]) -> list[Pos]:
        """Items on counters that a chef who reaches one of ``dest`` can pick up."""
        dest_areas = frozenset().union(*(layout.tile_areas.get(t, frozenset()) for t in dest))
        return [c for c in items if layout.tile_areas.get(c, frozenset()) & dest_areas]

    def _closer_helpers(self, state: Any, me_idx: int, layout: _Layout, sources: list[Pos]) -> int:
        """How many other active, empty-handed chefs are closer than us to one of ``sources``."""
        my_pos = tuple(state.players[me_idx].position)
        mine = min(layout.tile_distance(my_pos, s) for s in sources)
        rank = 0
        for i, p in enumerate(state.players):
            if i == me_idx or p.held_object is not None:
                continue
            if self._others_idle.get(i, 0) >= self.idle_patience:
                continue
            theirs = min(
                (layout.tile_distance(tuple(p.position), s) for s in layout.tiles.get("D", [])), default=float("inf")
            )
            if theirs < mine or (theirs == mine and i < me_idx):
                rank += 1
        return rank

    @staticmethod
    def _orders(state: Any, layout: _Layout, counter_items: dict[str, list[Pos]]) -> list[tuple[Counter, float]]:
        """The orders this kitchen can make, as (ingredient counts, value), best first."""
        available = {name for name in _INGREDIENTS if layout.tiles.get(_DISPENSER[name]) or counter_items.get(name)}
        bonus = set(getattr(state, "bonus_orders", []) or [])
        factor = float(getattr(layout.mdp, "order_bonus", 1) or 1)
        result = []
        for recipe in state.all_orders:
            ingredients = Counter(recipe.ingredients)
            if not set(ingredients) <= available:
                continue
            try:
                value = float(recipe.value)
            except Exception:  # recipe values depend on the package's global recipe configuration
                value = 20.0
            if recipe in bonus:
                value *= factor
            result.append((ingredients, value))
        result.sort(key=lambda item: (-item[1], sum(item[0].values())))
        return result

    @staticmethod
    def _pot_need(have: Counter, orders: list[tuple[Counter, float]]) -> Counter | None:
        """What a pot holding ``have`` still needs for the best order it can still become: an empty
        ``Counter`` means it makes that order now; ``None`` means it can become no order."""
        for ingredients, _value in orders:
            if all(ingredients[k] >= n for k, n in have.items()):
                return ingredients - have
        return None


def _random_partner(seed: int | None = None) -> Agent:
    return OvercookedRandomAgent(seed=seed)


def _stay_partner(seed: int | None = None) -> Agent:
    return StayAgent()


def _greedy_partner(seed: int | None = None) -> Agent:
    return GreedyCookAgent(seed=seed)


#: Scripted partner factories by name: ``factory(seed=None) -> Agent``.
OVERCOOKED_PARTNERS: dict[str, Callable[..., Agent]] = {
    "random": _random_partner,
    "stay": _stay_partner,
    "greedy": _greedy_partner,
}


def make_overcooked_partner(name: str, seed: int | None = None) -> Agent:
    """A scripted Overcooked partner by name (one of :data:`OVERCOOKED_PARTNERS`)."""
    factory = OVERCOOKED_PARTNERS.get(name) if isinstance(name, str) else None
    if factory is None:
        raise ConfigError(unknown_choice("Overcooked partner", name, OVERCOOKED_PARTNERS))
    return factory(seed=seed)
