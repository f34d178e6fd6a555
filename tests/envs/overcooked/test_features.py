"""FastFeaturizer (pantheonrl/envs/overcooked/features.py) against the fixed stock ``featurize_state``.

Over 10,000 states on five classic layouts (plus a tomato layout and an ``old_dynamics`` variant), both
players' vectors must be exactly equal: same dtype (float64), same shape, same values. The states come from
random rollouts (interact-heavy, so pots fill, cook and get served and objects land on counters) and from
random but valid mutations of them: players moved, turned and handed objects, counters loaded in a shuffled
insertion order (tie-breaks follow ``state.objects`` order), pots set empty / idle / cooking / ready. Each
state is checked with the default planner (``counter_goals=[]``, the ``NO_COUNTERS_PARAMS`` action manager's)
and with one whose counters are all motion goals, so the counter-object and empty-counter features are
exercised as well. Planners are built directly, so nothing is written into the installed package.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
pytest.importorskip("overcooked")

from overcooked.mdp.actions import Action, Direction
from overcooked.mdp.overcooked_env import OvercookedEnv
from overcooked.mdp.overcooked_mdp import (
    ObjectState,
    OvercookedGridworld,
    PlayerState,
    SoupState,
)
from overcooked.planning.planners import MotionPlanner

import pantheonrl.envs.overcooked.fix as fix
from pantheonrl.envs.overcooked.features import FastFeaturizer

fix.apply()

ROOT = Path(__file__).resolve().parents[3]
BENCHMARK = ROOT / "benchmarks" / "overcooked_obs.py"
RESULT_RE = re.compile(r"^RESULT overcooked_obs_\w+ speedup=\d+\.\d\d target=>=\d (PASS|FAIL)$")

HORIZON = 400
# layout -> (rollout states, mutated states, mdp keyword arguments)
CASES = {
    "cramped_room": (1500, 500, {}),
    "asymmetric_advantages": (1500, 500, {}),
    "coordination_ring": (1500, 500, {}),
    "forced_coordination": (1500, 500, {}),
    "counter_circuit_o_1order": (1500, 500, {}),
    "cramped_room_tomato": (600, 300, {}),
    "cramped_room@old_dynamics": (400, 0, {"old_dynamics": True}),
}
# interact often, so that pots fill and cook and objects get dropped on counters
ACTION_P = np.array([0.14, 0.14, 0.14, 0.14, 0.14, 0.30])
assert len(ACTION_P) == len(Action.ALL_ACTIONS) and Action.ALL_ACTIONS[5] == Action.INTERACT


def rollout_states(env: OvercookedEnv, mp: MotionPlanner, n: int, rng: np.random.Generator) -> list:
    """``n`` consecutive states of random joint actions, resetting at the horizon."""
    env.reset(regen_mdp=False)
    env._mp = mp  # env.step asks for a planner; this keeps it from computing and pickling its own
    states = []
    while len(states) < n:
        if env.is_done():
            env.reset(regen_mdp=False)
            env._mp = mp
        joint = tuple(Action.ALL_ACTIONS[k] for k in rng.choice(len(ACTION_P), size=2, p=ACTION_P))
        state, _, _, _ = env.step(joint)
        states.append(state)
    return states


def _soup(pos, rng: np.random.Generator, stage: str) -> SoupState:
    n = int(rng.integers(1, 4))
    n_tomatoes = int(rng.integers(0, n + 1))
    soup = SoupState.get_soup(pos, num_onions=n - n_tomatoes, num_tomatoes=n_tomatoes)
    if stage == "cooking":
        soup.begin_cooking()
        for _ in range(int(rng.integers(0, soup.cook_time))):
            soup.cook()
    elif stage == "ready":
        soup.auto_finish()
    return soup


def _loose_object(pos, rng: np.random.Generator):
    name = ("onion", "tomato", "dish", "soup")[int(rng.integers(4))]
    return _soup(pos, rng, "ready") if name == "soup" else ObjectState(name, pos)


def mutate(mdp: OvercookedGridworld, state, rng: np.random.Generator):
    """A valid variation of ``state``: new player poses and held objects, counters and pots refilled."""
    new = state.deepcopy()
    free = mdp.get_valid_player_positions()
    players = []
    for k in rng.choice(len(free), size=len(new.players), replace=False):
        pos = free[int(k)]
        held = None if rng.random() < 0.4 else _loose_object(pos, rng)
        players.append(PlayerState(pos, Direction.ALL_DIRECTIONS[int(rng.integers(4))], held))
    new.players = tuple(players)
    placed = []
    p_counter = rng.uniform(0.0, 0.6)
    for pos in mdp.get_counter_locations():
        if rng.random() < p_counter:
            placed.append((pos, _loose_object(pos, rng)))
    for pos in mdp.get_pot_locations():
        stage = ("empty", "idle", "cooking", "ready")[int(rng.integers(4))]
        if stage != "empty":
            placed.append((pos, _soup(pos, rng, stage)))
    order = rng.permutation(len(placed))
    new.objects = {placed[k][0]: placed[k][1] for k in order}
    return new


class Coverage:
    """What the checked states contained (to show the comparison is not vacuous)."""

    def __init__(self) -> None:
        self.rollout_pot_stages: set[str] = set()
        self.pot_stages: set[str] = set()
        self.rollout_counter_objects: set[str] = set()
        self.counter_objects: set[str] = set()
        self.held: set[str] = set()
        self.vectors: set[bytes] = set()
        self.nonzero_empty_counter = 0
        self.unreachable_pot = 0

    def add(self, mdp: OvercookedGridworld, state, rollout: bool) -> None:
        counters = set(mdp.get_counter_locations())
        for pos, obj in state.objects.items():
            if pos in counters:
                self.counter_objects.add(obj.name)
                if rollout:
                    self.rollout_counter_objects.add(obj.name)
            else:
                stage = "ready" if obj.is_ready else "cooking" if obj.is_cooking else "idle"
                self.pot_stages.add(stage)
                if rollout:
                    self.rollout_pot_stages.add(stage)
        for player in state.players:
            self.held.add(player.held_object.name if player.held_object else "none")


@pytest.fixture(scope="module")
def checked() -> dict:
    """Compare every state, per layout; return the counts and coverage for the tests below."""
    rng = np.random.default_rng(20240601)
    coverage = Coverage()
    counts: dict[str, int] = {}
    mismatches: list[str] = []
    for case, (n_rollout, n_mutated, params) in CASES.items():
        layout = case.split("@")[0]
        mdp = OvercookedGridworld.from_layout_name(layout, **params)
        env = OvercookedEnv.from_mdp(mdp, horizon=HORIZON, info_level=0)
        mp = MotionPlanner(mdp, counter_goals=[])
        mp_counters = MotionPlanner(mdp, counter_goals=mdp.get_counter_locations())
        states = rollout_states(env, mp, n_rollout, rng)
        for state in states:
            coverage.add(mdp, state, rollout=True)
        mutated = [mutate(mdp, states[int(k)], rng) for k in rng.integers(0, len(states), size=n_mutated)]
        for state in mutated:
            coverage.add(mdp, state, rollout=False)
        for planner, tag in ((mp, "no counter goals"), (mp_counters, "counter goals")):
            mlam = SimpleNamespace(motion_planner=planner)  # all featurize_state uses of an action manager
            fast = FastFeaturizer(mdp, mlam)
            for k, state in enumerate(states + mutated):
                expected = mdp.featurize_state(state, mlam)
                got = fast.featurize(state)
                assert isinstance(got, tuple) and len(got) == len(expected) == 2
                for player, (e, g) in enumerate(zip(expected, got)):
                    if not (g.dtype == e.dtype == np.float64 and g.shape == e.shape == (96,) and np.array_equal(g, e)):
                        diff = np.flatnonzero(g != e) if g.shape == e.shape else "shape"
                        mismatches.append(f"{case} [{tag}] state {k} player {player}: indices {diff}\n{state}")
                    if planner is mp:
                        coverage.vectors.add(e.tobytes())
                        coverage.unreachable_pot += int(e[22] == 0)  # closest pot 0 "exists" flag
                    else:
                        coverage.nonzero_empty_counter += int(e[20] != 0 or e[21] != 0)
        counts[case] = len(states) + len(mutated)
    return {"counts": counts, "coverage": coverage, "mismatches": mismatches}


def test_fast_features_equal_stock(checked: dict) -> None:
    assert not checked["mismatches"], f"{len(checked['mismatches'])} mismatches; first:\n" + "\n".join(
        checked["mismatches"][:3]
    )
    counts = checked["counts"]
    assert sum(counts.values()) >= 10_000
    for layout in (
        "cramped_room",
        "asymmetric_advantages",
        "coordination_ring",
        "forced_coordination",
        "counter_circuit_o_1order",
    ):
        assert counts[layout] >= 2000


def test_states_are_diverse(checked: dict) -> None:
    cov: Coverage = checked["coverage"]
    # random play alone cooks, finishes and leaves soups, and drops objects on counters
    assert cov.rollout_pot_stages == {"idle", "cooking", "ready"}
    assert {"onion", "dish"} <= cov.rollout_counter_objects
    assert cov.pot_stages == {"idle", "cooking", "ready"}
    assert cov.counter_objects == {"onion", "tomato", "dish", "soup"}
    assert cov.held == {"none", "onion", "tomato", "dish", "soup"}
    assert len(cov.vectors) >= 5000
    assert cov.nonzero_empty_counter > 1000  # the counter-goal planner makes counters "closest"
    assert cov.unreachable_pot > 0  # forced_coordination's left chef reaches no pot


def test_unreachable_features_are_zero() -> None:
    # forced_coordination: the left chef reaches no pot and no serving spot, nobody reaches a tomato
    mdp = OvercookedGridworld.from_layout_name("forced_coordination")
    mlam = SimpleNamespace(motion_planner=MotionPlanner(mdp, counter_goals=[]))
    fast = FastFeaturizer(mdp, mlam)
    state = mdp.get_standard_start_state()
    got = fast.featurize(state)
    for e, g in zip(mdp.featurize_state(state, mlam), got):
        assert np.array_equal(e, g)
    left = 0 if state.players[0].position[0] < 2 else 1
    own_left, own_right = got[left][:46], got[1 - left][:46]
    # block offsets: onion 8, tomato 10, dish 12, soup 14, counts 16, serving 18, empty counter 20,
    # pot 0 at 22 (exists flag first), pot 1 at 32, walls 42
    assert not own_left[18:20].any() and not own_left[22:42].any()
    assert own_left[8:10].any() and own_right[22] == 1 and own_right[32] == 1
    assert not own_left[10:12].any() and not own_right[10:12].any()


def test_featurize_pair_and_constructors() -> None:
    mdp = OvercookedGridworld.from_layout_name("cramped_room")
    env = OvercookedEnv.from_mdp(mdp, horizon=HORIZON, info_level=0)
    mp = MotionPlanner(mdp, counter_goals=[])
    fast = FastFeaturizer.for_mdp(mdp)  # builds its own no-counter-goal planner
    direct = FastFeaturizer(mdp, mp)  # a MotionPlanner works as well as an action manager
    for state in rollout_states(env, mp, 200, np.random.default_rng(3)):
        pair = fast.featurize_pair(state)
        assert pair.shape == (2, 96) and pair.dtype == np.float32
        expected = mdp.featurize_state(state, SimpleNamespace(motion_planner=mp))
        assert np.array_equal(pair, np.stack(expected))
        assert all(np.array_equal(a, b) for a, b in zip(direct.featurize(state), expected))
    assert mdp.get_featurize_state_shape(2) == (96,)


def test_benchmark_quick_format(tmp_path: Path) -> None:
    out = tmp_path / "obs.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--states", "200", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
    )
    assert proc.returncode == 0, proc.stderr
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert len(results) == 4, proc.stdout
    for line in results:
        assert RESULT_RE.match(line), line
    names = {line.split()[1] for line in results}
    assert names == {
        f"overcooked_obs_{layout}_{measure}"
        for layout in ("cramped_room", "counter_circuit_o_1order")
        for measure in ("encode", "step_encode")
    }
    assert out.is_file()
    bad = subprocess.run([sys.executable, str(BENCHMARK), "--states", "0"], capture_output=True, cwd=ROOT)
    assert bad.returncode == 2
