"""Behaviour cloning of scripted partners: does a 32x32 BC clone play like the script it copied?

For two games the scripted partner plays seat 1 while a partly random scripted ego plays seat 0:

* ``liars_dice``: ``LiarsDice-v0``, partner :class:`LiarDefaultAgent`; the ego plays :class:`LiarDefaultAgent`'s
  move, or a uniformly random move with probability 0.3.
* ``blockworld``: ``BlockEnv-v0``, partner :class:`SBWDefaultAgent` (the constructor); the ego is a planner that
  names, row by row, the colour of the first block the constructor has not coloured yet (or ends the game when
  none is left), or says a uniformly random token 0..14 with probability 0.3.

Steps per game:

1. **Record** the partner's (observation, action) pairs with :class:`RecordingAgentWrapper` while it plays.
2. **Train** :class:`pantheonrl.algos.bc.BC` (default :class:`FeedForward32Policy`, a 32x32 MLP) on them.
3. **Agreement**: record the partner again on fresh games (other seeds) and count the rows where the clone's
   most likely action equals the script's (every action component). The fraction of those rows whose
   observation never occurred in the training data, and the agreement on them, are printed too.
4. **Return ratio**: play the same episodes (same game seeds, same ego random numbers) once with the script
   and once with the clone (``bc_agent(clone, deterministic=True)``) in seat 1, and compare seat 1's mean
   return. Returns are rescaled to [0, 1] by the game's bounds first, ``(R - R_min) / (R_max - R_min)``, so
   that the ratio is meaningful when returns can be negative: for Liar's dice (returns -1 / +1) this is the
   win rate; for the block world (0..100, never negative) it is the plain ratio of mean returns. The ratio is
   ``clone score / script score``. The sampled clone (the default ``StaticPolicyAgent`` behaviour) is
   reported for information.

Targets: agreement >= 0.95 and return ratio >= 0.90, printed as::

    RESULT bc_clone_<game>_agreement value=<x.xxx> target=>=0.95 PASS|FAIL
    RESULT bc_clone_<game>_return_ratio value=<x.xxx> target=>=0.90 PASS|FAIL

``--quick`` uses less data and fewer epochs (under a minute); ``--json PATH`` also writes every number.
The exit status is 0 whether the targets pass or not (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gymnasium as gym  # noqa: E402

import pantheonrl  # noqa: E402, F401  (registers the games)
from pantheonrl.algos.bc import BC, bc_agent  # noqa: E402
from pantheonrl.common.agents import Agent, RecordingAgentWrapper  # noqa: E402
from pantheonrl.common.observation import Observation  # noqa: E402
from pantheonrl.common.trajsaver import TransitionsMinimal  # noqa: E402
from pantheonrl.envs import LiarDefaultAgent, SBWDefaultAgent  # noqa: E402
from pantheonrl.envs.blockworldgym.simpleblockworld import END_TOKEN, GRIDLEN, NUM_BLOCKS, RED  # noqa: E402

AGREEMENT_TARGET = 0.95
RATIO_TARGET = 0.90
EPSILON = 0.3


# ------------------------------------------------------------------------------------------ egos
def liar_ego(rng: np.random.Generator) -> Any:
    scripted = LiarDefaultAgent()

    def act(obs: np.ndarray) -> np.ndarray:
        if rng.random() < EPSILON:
            return np.array([rng.integers(7), rng.integers(12)], dtype=np.int64)
        return scripted.get_action(Observation(obs))

    return act


def block_ego(rng: np.random.Generator) -> Any:
    def act(obs: np.ndarray) -> int:
        if rng.random() < EPSILON:
            return int(rng.integers(0, END_TOKEN))
        true = obs[: 4 * NUM_BLOCKS].reshape(NUM_BLOCKS, 4)
        built = obs[4 * NUM_BLOCKS :].reshape(NUM_BLOCKS, 4)
        for row in range(GRIDLEN):
            index = SBWDefaultAgent.first_uncolored(built, row)
            if index != -1:
                return row + 1 if true[index, 3] == RED else row + 8
        return END_TOKEN

    return act


@dataclass(frozen=True)
class Game:
    name: str
    env_id: str
    partner: type[Agent]
    ego: Any
    return_bounds: tuple[float, float]
    full: dict[str, Any]
    quick: dict[str, Any]


GAMES = [
    Game("liars_dice", "LiarsDice-v0", LiarDefaultAgent, liar_ego, (-1.0, 1.0),
         full={"train_episodes": 20000, "test_episodes": 3000, "eval_episodes": 2000, "epochs": 20,
               "batch_size": 64, "lr": 3e-3},
         quick={"train_episodes": 4000, "test_episodes": 1000, "eval_episodes": 500, "epochs": 6,
                "batch_size": 64, "lr": 3e-3}),
    Game("blockworld", "BlockEnv-v0", SBWDefaultAgent, block_ego, (0.0, 100.0),
         full={"train_episodes": 15000, "test_episodes": 2000, "eval_episodes": 1000, "epochs": 40,
               "batch_size": 128, "lr": 3e-3},
         quick={"train_episodes": 10000, "test_episodes": 500, "eval_episodes": 300, "epochs": 15,
                "batch_size": 256, "lr": 1e-2}),
]


# ------------------------------------------------------------------------------------------ playing
class ReturnTracker(Agent):
    """Delegates to ``agent`` and sums the rewards the seat hears (its return over the run)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.total = 0.0

    def get_action(self, obs: Observation) -> Any:
        return self.agent.get_action(obs)

    def update(self, reward: float, done: bool) -> None:
        self.total += float(reward)
        self.agent.update(reward, done)


def play(game: Game, partner: Agent, episodes: int, seed: int) -> float:
    """Seat 1's mean return over ``episodes`` games; episode ``i`` uses game seed and ego seed ``seed + i``."""
    env = gym.make(game.env_id)
    tracker = ReturnTracker(partner)
    env.add_partner_agent(tracker)
    for i in range(episodes):
        ego = game.ego(np.random.default_rng(seed + i))
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(ego(obs))
            done = terminated or truncated
    return tracker.total / episodes


def record(game: Game, episodes: int, seed: int) -> tuple[gym.Env, TransitionsMinimal]:
    env = gym.make(game.env_id)
    recorder = RecordingAgentWrapper(game.partner())
    env.add_partner_agent(recorder)
    ego = game.ego(np.random.default_rng(seed))
    obs, _ = env.reset(seed=seed)
    for _ in range(episodes):
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(ego(obs))
            done = terminated or truncated
        obs, _ = env.reset()
    return env, recorder.get_transitions()


def agreement(policy: Any, data: TransitionsMinimal) -> np.ndarray:
    """Per row: whether the clone's most likely action equals the script's (all components)."""
    predicted = policy.predict(np.asarray(data.obs), deterministic=True)[0]
    same = predicted.reshape(len(data), -1) == np.asarray(data.acts).reshape(len(data), -1)
    return same.all(axis=1)


def score(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return (value - low) / (high - low)


# ------------------------------------------------------------------------------------------ one game
def run_game(game: Game, quick: bool, seed: int) -> dict[str, Any]:
    cfg = game.quick if quick else game.full
    t0 = time.perf_counter()
    env, train = record(game, cfg["train_episodes"], seed)
    _, test = record(game, cfg["test_episodes"], seed + 1_000_000)
    t_record = time.perf_counter() - t0

    t0 = time.perf_counter()
    clone = BC(env.observation_spaces[1], env.action_spaces[1], expert_data=train, device="cpu", seed=seed,
               batch_size=cfg["batch_size"], optimizer_kwargs={"lr": cfg["lr"]})
    stats = clone.train(n_epochs=cfg["epochs"])
    t_train = time.perf_counter() - t0

    t0 = time.perf_counter()
    same = agreement(clone.policy, test)
    seen = {row.tobytes() for row in np.ascontiguousarray(np.asarray(train.obs, dtype=np.int64))}
    unseen = np.array([row.tobytes() not in seen for row in np.ascontiguousarray(np.asarray(test.obs, np.int64))])
    eval_seed = seed + 2_000_000
    scripted = play(game, game.partner(), cfg["eval_episodes"], eval_seed)
    cloned = play(game, bc_agent(clone, deterministic=True), cfg["eval_episodes"], eval_seed)
    sampled = play(game, bc_agent(clone, deterministic=False), cfg["eval_episodes"], eval_seed)
    t_eval = time.perf_counter() - t0

    s_scripted, s_cloned, s_sampled = (score(v, game.return_bounds) for v in (scripted, cloned, sampled))
    return {
        "game": game.name,
        "env_id": game.env_id,
        "partner": game.partner.__name__,
        "config": cfg,
        "train_rows": len(train),
        "test_rows": len(test),
        "final_train_loss": stats["loss"][-1],
        "final_train_accuracy": stats["accuracy"][-1],
        "agreement": float(same.mean()),
        "unseen_fraction": float(unseen.mean()),
        "agreement_unseen": float(same[unseen].mean()) if unseen.any() else None,
        "return_bounds": list(game.return_bounds),
        "return_scripted": scripted,
        "return_clone": cloned,
        "return_clone_sampled": sampled,
        "score_scripted": s_scripted,
        "score_clone": s_cloned,
        "return_ratio": s_cloned / s_scripted if s_scripted > 0 else float("nan"),
        "return_ratio_sampled": s_sampled / s_scripted if s_scripted > 0 else float("nan"),
        "seconds": {"record": t_record, "train": t_train, "evaluate": t_eval},
    }


def verdict(value: float, target: float) -> str:
    return "PASS" if np.isfinite(value) and value >= target else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="less data and fewer epochs (under a minute)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--only", choices=[g.name for g in GAMES], default=None, help="run one game only")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed {args.seed}: give a non-negative integer")
    th.set_num_threads(1)
    start = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results = []
    print(f"bc_clone ({'quick' if args.quick else 'full'}), seed {args.seed}, one torch thread")
    print(f"{'game':<12}{'rows':>8}{'epochs':>8}{'train s':>9}{'train acc':>11}{'agree':>8}{'unseen':>8}"
          f"{'agree unseen':>14}{'R script':>10}{'R clone':>9}{'R sampled':>11}{'ratio':>7}")
    for game in GAMES:
        if args.only and game.name != args.only:
            continue
        r = run_game(game, args.quick, args.seed)
        results.append(r)
        au = "-" if r["agreement_unseen"] is None else f"{r['agreement_unseen']:.3f}"
        print(f"{r['game']:<12}{r['train_rows']:>8}{r['config']['epochs']:>8}{r['seconds']['train']:>9.1f}"
              f"{r['final_train_accuracy']:>11.4f}{r['agreement']:>8.4f}{r['unseen_fraction']:>8.3f}{au:>14}"
              f"{r['return_scripted']:>10.3f}{r['return_clone']:>9.3f}{r['return_clone_sampled']:>11.3f}"
              f"{r['return_ratio']:>7.3f}", flush=True)
    total = time.perf_counter() - start
    print(f"total {total:.1f} s; load average {load if load is None else round(load, 2)} at start")
    lines = []
    for r in results:
        lines.append(f"RESULT bc_clone_{r['game']}_agreement value={r['agreement']:.3f} "
                     f"target=>={AGREEMENT_TARGET:.2f} {verdict(r['agreement'], AGREEMENT_TARGET)}")
        lines.append(f"RESULT bc_clone_{r['game']}_return_ratio value={r['return_ratio']:.3f} "
                     f"target=>={RATIO_TARGET:.2f} {verdict(r['return_ratio'], RATIO_TARGET)}")
    for line in lines:
        print(line)
    if args.json:
        payload = {
            "mode": "quick" if args.quick else "full",
            "seed": args.seed,
            "seconds": total,
            "load_average_start": load,
            "python": platform.python_version(),
            "torch": th.__version__,
            "results": results,
            "result_lines": lines,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
