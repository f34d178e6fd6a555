"""Overcooked's 96 hand-made features: pantheonrl's ``FastFeaturizer`` against the fixed stock encoder.

Two layouts, ``cramped_room`` and ``counter_circuit_o_1order``. For each, one seeded random rollout (joint
actions drawn uniformly, reset at the 400-step horizon) is generated first; both measures then work on it:

* **encode**: seconds per state to encode both players, over the pre-generated states: the stock
  ``mdp.featurize_state(state, mlam)`` (0.2.1 with :mod:`pantheonrl.envs.overcooked.fix` applied) against
  ``FastFeaturizer.featurize(state)``. Target: stock / ours >= 4.
* **step_encode**: steps per second of ``env.step(joint_action)`` followed by encoding the new state, replaying
  the rollout's joint actions from the start state (so both sides step through the same states). Target:
  ours / stock >= 2. The steps/s of ``env.step`` alone is printed for reference.

Both encoders use a ``MotionPlanner(mdp, counter_goals=[])``, the planner of the ``NO_COUNTERS_PARAMS`` action
manager that ``OvercookedEnv.mlam`` builds (``featurize_state`` only reads ``mlam.motion_planner``); it is
given to the env as well, so nothing computes or pickles planners into the installed package. Before timing,
the two encoders' outputs are compared on every state (they must be identical).

Stock and ours alternate within each repeat (the order flips every repeat), with the garbage collector off
while a timing runs (and the set-up frozen out of it); the medians over repeats are kept. The script prints
a table and ends with::

    RESULT overcooked_obs_cramped_room_encode speedup=15.02 target=>=4 PASS
    RESULT overcooked_obs_cramped_room_step_encode speedup=3.90 target=>=2 PASS
    ...

A FAIL is printed honestly; the exit status is 0 either way (2 for bad arguments).

Usage::

    python benchmarks/overcooked_obs.py                   # 4,000 states, 7 repeats (about a minute)
    python benchmarks/overcooked_obs.py --quick           # 500 states, 3 repeats (a few seconds)
    python benchmarks/overcooked_obs.py --states 2000 --repeats 5 --json obs.json
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import positive, write_json_atomic

LAYOUTS = ("cramped_room", "counter_circuit_o_1order")
HORIZON = 400
TARGETS = {"encode": 4, "step_encode": 2}
FULL = {"states": 4000, "repeats": 7}
QUICK = {"states": 500, "repeats": 3}
SEED = 12345



def _loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def _timed(fn: Callable[[], Any]) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


class Layout:
    """One layout's gridworld, planner, env, encoders and pre-generated rollout."""

    def __init__(self, name: str, n_states: int, seed: int) -> None:
        from overcooked.mdp.actions import Action
        from overcooked.mdp.overcooked_env import OvercookedEnv
        from overcooked.mdp.overcooked_mdp import OvercookedGridworld
        from overcooked.planning.planners import MotionPlanner

        from pantheonrl.envs.overcooked.features import FastFeaturizer

        self.name = name
        self.mdp = OvercookedGridworld.from_layout_name(name)
        self.mp = MotionPlanner(self.mdp, counter_goals=[])
        self.mlam = SimpleNamespace(motion_planner=self.mp)
        self.env = OvercookedEnv.from_mdp(self.mdp, horizon=HORIZON, info_level=0)
        self.fast = FastFeaturizer(self.mdp, self.mlam)
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(Action.ALL_ACTIONS), size=(n_states, 2))
        self.joint_actions = [(Action.ALL_ACTIONS[a], Action.ALL_ACTIONS[b]) for a, b in picks.tolist()]
        self.states = []
        self._reset()
        for joint in self.joint_actions:
            if self.env.is_done():
                self._reset()
            self.env.step(joint)
            self.states.append(self.env.state)

    def _reset(self) -> None:
        self.env.reset(regen_mdp=False)
        self.env._mp = self.mp  # env.step asks for a planner: use ours instead of computing/pickling one

    def stock(self, state: Any) -> Any:
        return self.mdp.featurize_state(state, self.mlam)

    def ours(self, state: Any) -> Any:
        return self.fast.featurize(state)

    def identical(self) -> bool:
        for state in self.states:
            for a, b in zip(self.stock(state), self.ours(state)):
                if not (a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)):
                    return False
        return True

    def encode_seconds(self, encode: Callable[[Any], Any]) -> float:
        states = self.states

        def run() -> None:
            for state in states:
                encode(state)

        return _timed(run)

    def step_seconds(self, encode: Callable[[Any], Any] | None) -> float:
        env, joint_actions = self.env, self.joint_actions
        self._reset()

        def run() -> None:
            for joint in joint_actions:
                if env.is_done():
                    self._reset()
                env.step(joint)
                if encode is not None:
                    encode(env.state)

        return _timed(run)


def measure(layout: Layout, repeats: int) -> dict[str, Any]:
    n = len(layout.states)
    runs: dict[str, list[float]] = {k: [] for k in ("encode_stock", "encode_ours", "step", "step_stock", "step_ours")}
    for r in range(repeats):
        pairs = [("stock", layout.stock), ("ours", layout.ours)]
        if r % 2:
            pairs.reverse()
        for tag, encode in pairs:
            runs[f"encode_{tag}"].append(layout.encode_seconds(encode) / n)
        runs["step"].append(n / layout.step_seconds(None))
        for tag, encode in pairs:
            runs[f"step_{tag}"].append(n / layout.step_seconds(encode))
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {
        "states": n,
        "runs": runs,
        "median": med,
        "speedup": {
            "encode": med["encode_stock"] / med["encode_ours"],
            "step_encode": med["step_ours"] / med["step_stock"],
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 states, 3 repeats")
    parser.add_argument("--states", type=positive, help="states (and steps) per layout (default 4,000; 500 quick)")
    parser.add_argument("--repeats", type=positive, help="interleaved repeats (default 7; 3 with --quick)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"rollout seed (default {SEED})")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results to PATH (atomically)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = QUICK if args.quick else FULL
    n_states = args.states or mode["states"]
    repeats = args.repeats or mode["repeats"]

    import pantheonrl.envs.overcooked.fix as fix

    fix.apply()
    print(
        f"Overcooked 96-feature encoding, stock (fixed) vs FastFeaturizer: {n_states} states per layout, "
        f"{repeats} repeat(s), seed {args.seed}",
        flush=True,
    )
    load_start = _loadavg()
    wall = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(LAYOUTS):
        layout = Layout(name, n_states, args.seed + k)
        gc.collect()
        gc.freeze()  # the planners' tables are large: keep them out of every later collection
        identical = layout.identical()
        print(f"  {name}: {len(layout.states)} states generated; outputs identical: {identical}", flush=True)
        results[name] = {"identical": identical, **measure(layout, repeats)}
    wall = time.perf_counter() - wall
    load_end = _loadavg()

    header = (
        f"{'layout':<26} {'stock us/state':>14} {'ours us/state':>13} {'encode x':>9} "
        f"{'step/s':>8} {'stock step+enc/s':>16} {'ours step+enc/s':>15} {'step+enc x':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, res in results.items():
        med, sp = res["median"], res["speedup"]
        print(
            f"{name:<26} {med['encode_stock'] * 1e6:>14.1f} {med['encode_ours'] * 1e6:>13.1f} {sp['encode']:>9.2f} "
            f"{med['step']:>8.0f} {med['step_stock']:>16.0f} {med['step_ours']:>15.0f} {sp['step_encode']:>10.2f}"
        )
    load = (
        ""
        if load_start is None or load_end is None
        else f"; 1-min load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end, on {os.cpu_count()} cores"
    )
    print(f"total wall time {wall:.1f} s{load}")

    if args.json:
        from importlib.metadata import version

        write_json_atomic(
            args.json,
            {
                "benchmark": "overcooked_obs",
                "quick": bool(args.quick),
                "states": n_states,
                "repeats": repeats,
                "seed": args.seed,
                "horizon": HORIZON,
                "targets": TARGETS,
                "wall_seconds": wall,
                "load_average": {"start": load_start, "end": load_end},
                "versions": {
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                    "overcooked": version("overcooked"),
                },
                "layouts": results,
            },
        )
    for name, res in results.items():
        for measure_name, target in TARGETS.items():
            value = res["speedup"][measure_name]
            verdict = "PASS" if value >= target and res["identical"] else "FAIL"
            print(f"RESULT overcooked_obs_{name}_{measure_name} speedup={value:.2f} target=>={target} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
