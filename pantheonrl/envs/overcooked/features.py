"""A fast, table-driven copy of Overcooked's 96 hand-made features (``OvercookedGridworld.featurize_state``).

The stock encoder (``overcooked`` 0.2.1 with :mod:`pantheonrl.envs.overcooked.fix` applied) asks the motion
planner, for every player and every feature kind on every step, for the closest feature position:
``MotionPlanner.min_cost_to_feature`` walks each candidate position, each of its motion goals (the free cells
next to it, facing it), checks the start/goal pair and looks the plan cost up. :class:`FastFeaturizer` does
that planning once per layout: for every start (free cell x orientation) it stores the fewest steps to a
pose from which each terrain position can be interacted with, and from that the closest dispenser of each
kind, the closest serving spot, the ``num_pots`` closest pots and the counters sorted by distance. A step then
costs a few dictionary look-ups per player, plus one pass over ``state.objects``.

The output is **identical** to ``mdp.featurize_state(state, mlam, num_pots)``: the same float64 arrays, value
for value, tie-breaks included (see "Closest features" below). ``tests/envs/overcooked/test_features.py``
checks this on over 10,000 states.

Layout of one player's block (``10 * num_pots + 26`` values, 46 with two pots)
---------------------------------------------------------------------------------
==============================  ==  ===============================================================================
block                           n   value
==============================  ==  ===============================================================================
orientation                     4   one-hot over ``Direction.ALL_DIRECTIONS`` (north, south, east, west)
held object                     4   one-hot over (onion, soup, dish, tomato); all zero when empty-handed
closest onion                   2   ``(dx, dy)`` = feature position - player position; onion dispensers, then onions
                                    on counters; ``(0, 0)`` when holding an onion or none is reachable
closest tomato                  2   the same for tomato dispensers and tomatoes on counters
closest dish                    2   the same for dish dispensers and dishes on counters
closest soup                    2   soups on counters only (never pots); ``(0, 0)`` when holding a soup
closest soup onions, tomatoes   2   ingredient counts of the held soup, else of the closest counter soup, else 0
closest serving spot            2   ``(dx, dy)``, ``(0, 0)`` if none is reachable
closest empty counter           2   ``(dx, dy)`` to the closest counter with no object on it
pot j, for j < num_pots         10  the j-th closest reachable pot: exists, is_empty, is_full, is_cooking,
                                    is_ready, onions, tomatoes, cook time remaining (0 unless cooking or
                                    ready), ``(dx, dy)``; all ten are 0 when fewer than j + 1 pots are reachable
walls                           4   per direction (N, S, E, W): 1 unless the adjacent terrain is floor
==============================  ==  ===============================================================================

Player ``i``'s vector is its own block, then the other players' blocks (in player order), then for every
other player ``j`` its position minus ``i``'s, then ``i``'s absolute ``(x, y)``:
``2 * 46 + 2 + 2 = 96`` values for two players and two pots.

Closest features
----------------
"Reachable" and "closest" are the planner's: a position counts only through a motion goal that forms a valid
start/goal pair with the player's (position, orientation), and its distance is the smallest
``get_gridworld_distance`` over those goals. Ties go to the **first** candidate in the stock list order:
dispensers in terrain order (row by row), then objects on counters in ``state.objects`` insertion order;
counters in terrain order; pots in terrain order, the closest removed before the next is looked for. With
the default ``NO_COUNTERS_PARAMS`` planner (``counter_goals=[]``) no counter is a valid goal, so counter
objects, counter soups and empty counters are never "closest"; with counter goals they are, and the same
tie-breaks apply.

Usage::

    featurizer = FastFeaturizer(mdp, mlam)          # or FastFeaturizer.for_mdp(mdp), planner built here
    obs0, obs1 = featurizer.featurize(state)        # == mdp.featurize_state(state, mlam), as a tuple
    both = featurizer.featurize_pair(state)         # (num_players, 96) float32, one array
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from overcooked.mdp.actions import Action, Direction
from overcooked.mdp.overcooked_mdp import OvercookedGridworld, OvercookedState, Recipe
from overcooked.planning.planners import MotionPlanner

__all__ = ["OBJECT_NAMES", "FastFeaturizer"]

#: Held-object one-hot order of the stock encoder (``IDX_TO_OBJ``).
OBJECT_NAMES = ("onion", "soup", "dish", "tomato")

_INF = float("inf")
Pos = tuple[int, int]
_HELD_ONE_HOT: dict[str | None, tuple[int, ...]] = {None: (0, 0, 0, 0)}
for _k, _name in enumerate(OBJECT_NAMES):
    _HELD_ONE_HOT[_name] = tuple(int(k == _k) for k in range(len(OBJECT_NAMES)))
_POT_ABSENT = (0,) * 10


class _Start:
    """Everything about one player start (position, orientation) that does not depend on the state."""

    __slots__ = ("counters_by_distance", "dispensers", "dist", "head", "pots", "serving", "walls")

    def __init__(self) -> None:
        self.head: tuple[int, ...] = ()  # orientation one-hot (4)
        self.walls: tuple[int, ...] = ()  # wall flags N, S, E, W (4)
        self.dist: dict[Pos, float] = {}  # finite distances to feature positions
        self.dispensers: dict[str, tuple[float, Pos | None]] = {}  # "onion"/"tomato"/"dish" -> (dist, closest)
        self.serving: tuple[int, int] = (0, 0)  # deltas to the closest serving spot
        self.counters_by_distance: tuple[Pos, ...] = ()  # reachable counters, closest first, ties in terrain order
        self.pots: tuple[Pos | None, ...] = ()  # the num_pots closest pots (None past the reachable ones)


def _first_closest(dist: dict[Pos, float], candidates: Iterable[Pos]) -> tuple[float, Pos | None]:
    """``min_cost_to_feature``'s argmin: the first candidate with the strictly smallest finite distance."""
    best_d, best = _INF, None
    for pos in candidates:
        d = dist.get(pos, _INF)
        if d < best_d:
            best_d, best = d, pos
    return best_d, best


def _deltas(loc: Pos | None, pos: Pos) -> tuple[int, int]:
    if loc is None:
        return (0, 0)
    return (loc[0] - pos[0], loc[1] - pos[1])


def _soup_counts(soup: Any) -> tuple[int, int]:
    ingredients = soup.ingredients
    return ingredients.count("onion"), ingredients.count("tomato")


class FastFeaturizer:
    """Per-layout tables that reproduce ``mdp.featurize_state(state, mlam, num_pots)`` exactly, with no planning
    per step (see the module docstring for the feature layout and tie-breaking rules).

    :param mdp: the layout's ``OvercookedGridworld``.
    :param planner: the ``MediumLevelActionManager`` given to the stock encoder (only its ``motion_planner`` is
        used) or a ``MotionPlanner`` itself.
    :param num_pots: how many closest pots each player's block describes (the stock default is 2).
    """

    def __init__(self, mdp: OvercookedGridworld, planner: Any, num_pots: int = 2) -> None:
        mp: MotionPlanner = getattr(planner, "motion_planner", planner)
        self.mdp = mdp
        self.motion_planner = mp
        self.num_pots = int(num_pots)
        self.width, self.height = int(mdp.width), int(mdp.height)

        # Location lists, in the stock encoder's (terrain, row-major) order.
        self.onion_dispensers: list[Pos] = mdp.get_onion_dispenser_locations()
        self.tomato_dispensers: list[Pos] = mdp.get_tomato_dispenser_locations()
        self.dish_dispensers: list[Pos] = mdp.get_dish_dispenser_locations()
        self.serving_locations: list[Pos] = mdp.get_serving_locations()
        self.pot_locations: list[Pos] = mdp.get_pot_locations()
        self.counter_locations: list[Pos] = mdp.get_counter_locations()
        self._counter_set = frozenset(self.counter_locations)

        # starts[k] = (position, orientation); dist_table[k, y * width + x] = fewest steps from start k to a
        # pose facing (x, y) (without the interact step), inf where no valid motion goal exists.
        self.starts: list[tuple[Pos, Pos]] = mdp.get_valid_player_positions_and_orientations()
        self.start_index = {start: k for k, start in enumerate(self.starts)}
        feature_positions = list(mp.motion_goals_for_pos)
        self.dist_table = np.full((len(self.starts), self.width * self.height), np.inf)
        for k, start in enumerate(self.starts):
            for fx, fy in feature_positions:
                best = _INF
                for goal in mp.motion_goals_for_pos[(fx, fy)]:
                    if mp.is_valid_motion_start_goal_pair(start, goal):
                        best = min(best, mp.get_gridworld_distance(start, goal))
                self.dist_table[k, fy * self.width + fx] = best
        # wall_table[y * width + x, d] = 1 unless the terrain next to (x, y) in direction d is floor.
        self.wall_table = np.zeros((self.width * self.height, 4), dtype=np.int64)
        for x, y in mdp.get_valid_player_positions():
            for d, direction in enumerate(Direction.ALL_DIRECTIONS):
                adjacent = Action.move_in_direction((x, y), direction)
                self.wall_table[y * self.width + x, d] = int(mdp.get_terrain_type_at_pos(adjacent) != " ")
        # Any reachable counter? If not, counter objects can never be closest and featurize skips them.
        counter_cells = [y * self.width + x for x, y in self.counter_locations]
        self.counters_reachable = bool(np.isfinite(self.dist_table[:, counter_cells]).any()) if counter_cells else False

        self._starts: dict[tuple[Pos, Pos], _Start] = {}
        for k, (pos, orientation) in enumerate(self.starts):
            self._starts[(pos, orientation)] = self._build_start(k, pos, orientation)

    @classmethod
    def for_mdp(cls, mdp: OvercookedGridworld, planner: Any = None, num_pots: int = 2) -> FastFeaturizer:
        """Build the tables for ``mdp``. ``planner`` is an action manager or motion planner; without one, a
        ``MotionPlanner(mdp, counter_goals=[])`` is built here (what ``NO_COUNTERS_PARAMS`` managers hold),
        without the joint planner and without writing pickles into the package."""
        if planner is None:
            planner = MotionPlanner(mdp, counter_goals=[])
        return cls(mdp, planner, num_pots=num_pots)

    # ------------------------------------------------------------------ tables

    def _build_start(self, k: int, pos: Pos, orientation: Pos) -> _Start:
        width = self.width
        row = self.dist_table[k]
        start = _Start()
        start.dist = {(c % width, c // width): float(row[c]) for c in np.flatnonzero(np.isfinite(row)).tolist()}
        start.head = tuple(int(i == Direction.DIRECTION_TO_INDEX[orientation]) for i in range(4))
        start.walls = tuple(int(w) for w in self.wall_table[pos[1] * width + pos[0]])
        start.dispensers = {
            "onion": _first_closest(start.dist, self.onion_dispensers),
            "tomato": _first_closest(start.dist, self.tomato_dispensers),
            "dish": _first_closest(start.dist, self.dish_dispensers),
        }
        start.serving = _deltas(_first_closest(start.dist, self.serving_locations)[1], pos)
        order = sorted(
            (start.dist[c], i, c) for i, c in enumerate(self.counter_locations) if c in start.dist
        )  # stable: equal distances keep terrain order
        start.counters_by_distance = tuple(c for _, _, c in order)
        remaining = list(self.pot_locations)
        pots: list[Pos | None] = []
        for _ in range(self.num_pots):
            _, pot = _first_closest(start.dist, remaining)
            pots.append(pot)
            if pot is not None:
                remaining.remove(pot)
        start.pots = tuple(pots)
        return start

    # ------------------------------------------------------------------ per state

    def _pot_info(self, objects: dict[Pos, Any]) -> dict[Pos, tuple[int, ...]]:
        """The first eight pot features (exists .. cook time) of every pot, as ``get_pot_states`` sees them."""
        info = {}
        max_ingredients = Recipe.MAX_NUM_INGREDIENTS
        for loc in self.pot_locations:
            soup = objects.get(loc)
            if soup is None:
                info[loc] = (1, 1, 0, 0, 0, 0, 0, 0)
                continue
            n_onions, n_tomatoes = _soup_counts(soup)
            is_ready = int(soup.is_ready)
            is_cooking = 0 if is_ready else int(soup.is_cooking)
            idle = soup.is_idle
            is_full = int(is_ready or is_cooking or (idle and len(soup.ingredients) == max_ingredients))
            cook_time = 0 if idle else soup.cook_time_remaining
            info[loc] = (1, 0, is_full, is_cooking, is_ready, n_onions, n_tomatoes, cook_time)
        return info

    def _player_block(
        self,
        player: Any,
        objects: dict[Pos, Any],
        on_counters: dict[str, list[Pos]],
        pot_info: dict[Pos, tuple[int, ...]],
    ) -> list[Any]:
        pos = player.position
        px, py = pos
        start = self._starts[(pos, player.orientation)]
        dist = start.dist
        held = player.held_object
        held_name = None if held is None else held.name

        block: list[Any] = [*start.head, *_HELD_ONE_HOT[held_name]]
        for name in ("onion", "tomato", "dish"):
            if held_name == name:
                block += (0, 0)
                continue
            best_d, best = start.dispensers[name]
            for loc in on_counters.get(name, ()):  # after the dispensers, strict "<" as in the stock loop
                d = dist.get(loc, _INF)
                if d < best_d:
                    best_d, best = d, loc
            block += (0, 0) if best is None else (best[0] - px, best[1] - py)

        soup = None
        if held_name == "soup":
            soup = held
            block += (0, 0)
        else:
            _, loc = _first_closest(dist, on_counters.get("soup", ()))
            if loc is None:
                block += (0, 0)
            else:
                soup = objects[loc]
                block += (loc[0] - px, loc[1] - py)
        block += _soup_counts(soup) if soup is not None else (0, 0)

        block += start.serving
        empty_counter = (0, 0)
        for loc in start.counters_by_distance:
            if loc not in objects:
                empty_counter = (loc[0] - px, loc[1] - py)
                break
        block += empty_counter

        for pot in start.pots:
            if pot is None:
                block += _POT_ABSENT
            else:
                block += pot_info[pot]
                block += (pot[0] - px, pot[1] - py)
        block += start.walls
        return block

    def _rows(self, state: OvercookedState) -> list[list[Any]]:
        objects = state.objects
        on_counters: dict[str, list[Pos]] = {}
        if self.counters_reachable:
            counters = self._counter_set
            for obj in objects.values():  # get_counter_objects_dict: insertion order, by object name
                if obj.position in counters:
                    on_counters.setdefault(obj.name, []).append(obj.position)
        pot_info = self._pot_info(objects)
        players: Sequence[Any] = state.players
        blocks = [self._player_block(p, objects, on_counters, pot_info) for p in players]
        rows = []
        for i, player_i in enumerate(players):
            xi, yi = player_i.position
            row = list(blocks[i])
            for j, block in enumerate(blocks):
                if j != i:
                    row += block
            for j, player_j in enumerate(players):
                if j != i:
                    xj, yj = player_j.position
                    row += (xj - xi, yj - yi)
            row += (xi, yi)
            rows.append(row)
        return rows

    def featurize(self, state: OvercookedState) -> tuple[np.ndarray, ...]:
        """One float64 vector per player, equal to ``mdp.featurize_state(state, mlam, num_pots)``."""
        return tuple(np.array(self._rows(state), dtype=np.float64))

    def featurize_pair(self, state: OvercookedState, dtype: Any = np.float32) -> np.ndarray:
        """All players' vectors stacked in one array of shape ``(num_players, num_players * (10 * num_pots +
        28))``, ``(2, 96)`` by default: row ``i`` is ``featurize(state)[i]`` (every value is a small integer, so
        float32 is exact)."""
        return np.array(self._rows(state), dtype=dtype)

    __call__ = featurize
