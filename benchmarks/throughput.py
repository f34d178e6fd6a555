"""Throughput of PPO ``learn()`` on Liar's dice: a hand-written env vs pantheonrl, 1 vs 8 game copies.

The ego is ``PPO("MlpPolicy")`` in player 0's seat of ``LiarsDice-v0``. Two scenarios, each with three
configurations run side by side in one process (``torch.set_num_threads(1)``):

**frozen**: player 1 is ``StaticPolicyAgent`` over an untrained ``MlpPolicy`` (the same weights everywhere).

* ``frozen_handwritten``: :class:`HandWrittenLiar`, a plain ``gymnasium.Env`` written here. It calls the
  game's rule functions (``LiarEnv.multi_reset`` / ``ego_step`` / ``alt_step``) and alternates turns by hand,
  asking the partner policy ``predict(obs)`` on player 1's turns; none of pantheonrl's stepping machinery
  (``MultiAgentEnv.step``, the driver, the vec env) runs. SB3 wraps it in ``Monitor`` + ``DummyVecEnv``.
* ``frozen_vec1``: ``MultiAgentVecEnv(lambda: gym.make("LiarsDice-v0"), n_envs=1)`` with the partner added to
  player 1.
* ``frozen_vec8``: the same with ``n_envs=8`` (the partner answers all copies in one forward pass).

**learning**: player 1 is ``OnPolicyAgent(PPO("MlpPolicy", ...))``, which trains while the ego trains.

* ``learning_single``: the single-game path, ``env = gym.make("LiarsDice-v0")`` with the partner built on
  ``env.get_dummy_env(1)`` (the original PantheonRL's only mode);
* ``learning_vec1`` / ``learning_vec8``: ``MultiAgentVecEnv`` with 1 / 8 copies, partner built on
  ``venv.get_dummy_env(1)``.

PPO settings everywhere: ``n_steps = 2048 // n_envs`` (``512 // n_envs`` with ``--quick``), ``batch_size=64``,
other PPO defaults, the same seed. Only ``learn()`` is timed (``time.perf_counter``); models are built
before the clock starts. Configurations run interleaved in rounds (a, b, c, a, b, c, ...) and the median
steps/s per configuration is kept. The script ends with one line per ratio::

    RESULT throughput_frozen_n1_vs_handwritten ratio=0.95 target=>=0.9 PASS

``frozen_n1_vs_handwritten`` = vec1 / hand-written (frozen), ``frozen_n8_vs_n1`` = vec8 / vec1 (frozen),
``learning_n1_vs_single`` = vec1 / single (learning), ``learning_n8_vs_n1`` = vec8 / vec1 (learning).
A FAIL is printed honestly but the exit status is still 0 (2 for bad arguments).

Usage::

    python benchmarks/throughput.py                # 20,480 steps per run, 3 rounds (a few minutes)
    python benchmarks/throughput.py --quick        # 4,096 steps per run, 1 round (under a minute)
    python benchmarks/throughput.py --only frozen --repeats 5 --json results.json

Overcooked is not available yet; its configurations will be added here when the Overcooked env lands.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.policies import BasePolicy

import pantheonrl  # noqa: F401 - registers LiarsDice-v0
from pantheonrl.common.agents import OnPolicyAgent, StaticPolicyAgent
from pantheonrl.envs.liargym.liar import LiarEnv
from pantheonrl.vec import MultiAgentVecEnv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import positive, write_json_atomic

ENV_ID = "LiarsDice-v0"
SEED = 0
PARTNER_SEED = 1
BATCH_SIZE = 64
FULL = {"timesteps": 20_480, "rollout": 2048, "repeats": 3}
QUICK = {"timesteps": 4_096, "rollout": 512, "repeats": 1}  # 2 rounds took 65 s; 1 keeps --quick under a minute

# name -> (numerator config, denominator config, target)
RATIOS: dict[str, tuple[str, str, float]] = {
    "frozen_n1_vs_handwritten": ("frozen_vec1", "frozen_handwritten", 0.9),
    "frozen_n8_vs_n1": ("frozen_vec8", "frozen_vec1", 1.7),
    "learning_n1_vs_single": ("learning_vec1", "learning_single", 0.9),
    "learning_n8_vs_n1": ("learning_vec8", "learning_vec1", 1.7),
}


# ---------------------------------------------------------------------------------------------- the env by hand
class HandWrittenLiar(gym.Env):
    """One game of Liar's dice for the ego (player 0), with a frozen policy in player 1's seat, written by hand.

    Same rules and random draws as ``gym.make("LiarsDice-v0")`` with a partner attached: at each reset the
    game's ``np_random`` decides who opens (``probegostart``) and rolls the dice (``multi_reset``); if player 1
    opens, the partner moves before the ego's first observation. Each ``step`` plays the ego's claim
    (``ego_step``) and, unless that ended the game, the partner's answer (``alt_step`` on
    ``policy.predict(obs)``). The ego's reward is the sum of its reward entries over both moves. When the ego's
    own move ends the game it sees its last observation again (a copy), as in pantheonrl.

    :param policy: the partner's SB3 policy (anything with ``predict(obs, deterministic=...)``).
    :param deterministic: ask the partner for its most likely action instead of a sample.
    :param probegostart: probability that the ego opens.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, policy: BasePolicy, deterministic: bool = False, probegostart: float = 0.5) -> None:
        super().__init__()
        self.game = LiarEnv(probegostart=probegostart)  # used only for its rule functions
        self.policy = policy
        self.deterministic = deterministic
        self.observation_space = self.game.observation_spaces[0]
        self.action_space = self.game.action_spaces[0]
        self._ego_obs: np.ndarray | None = None
        self._carry = 0.0  # ego reward earned before its first move of an episode

    def _partner(self, obs: np.ndarray) -> np.ndarray:
        action, _ = self.policy.predict(obs, deterministic=self.deterministic)
        return action

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        game = self.game
        game.np_random = self.np_random  # the game draws from the env's generator
        while True:  # a game that ends before the ego moves is replayed (never happens in Liar's dice)
            self._carry = 0.0
            egofirst = bool(self.np_random.random() < game.probegostart)
            obs = game.multi_reset(egofirst)
            if egofirst:
                break
            obs, rewards, terminated, truncated, _ = game.alt_step(self._partner(obs))
            self._carry += float(rewards[0])
            if not (terminated or truncated):
                break
        self._ego_obs = obs
        return obs, {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        game = self.game
        obs, rewards, terminated, truncated, _ = game.ego_step(action)
        reward = self._carry + float(rewards[0])
        self._carry = 0.0
        if terminated or truncated:  # the ego's claim ended the game: it sees its last observation again
            return self._ego_obs.copy(), reward, terminated, truncated, {}
        obs, rewards, terminated, truncated, _ = game.alt_step(self._partner(obs))
        reward += float(rewards[0])
        self._ego_obs = obs
        return obs, reward, terminated, truncated, {}


# ---------------------------------------------------------------------------------------------- configurations
@dataclass
class Settings:
    timesteps: int
    rollout: int  # n_steps * n_envs
    seed: int = SEED


@dataclass
class Config:
    key: str
    group: str
    label: str
    n_envs: int
    build: Callable[[Settings], PPO]
    runs: list[dict[str, float]] = field(default_factory=list)

    @property
    def median_sps(self) -> float:
        return statistics.median(run["sps"] for run in self.runs)

    @property
    def median_cpu_sps(self) -> float:
        """Steps per CPU second of this process (less sensitive to other processes than ``median_sps``)."""
        return statistics.median(run["steps"] / run["cpu_seconds"] for run in self.runs)


def make_partner_policy(seed: int = PARTNER_SEED) -> BasePolicy:
    """An untrained ``MlpPolicy`` for player 1 (the frozen partner)."""
    return PPO("MlpPolicy", LiarEnv().get_dummy_env(1), seed=seed, device="cpu").policy


def _ego(env: Any, settings: Settings, n_envs: int) -> PPO:
    return PPO(
        "MlpPolicy",
        env,
        n_steps=settings.rollout // n_envs,
        batch_size=BATCH_SIZE,
        seed=settings.seed,
        verbose=0,
        device="cpu",
    )


def _learning_partner(dummy_env: Any, settings: Settings, n_envs: int) -> OnPolicyAgent:
    model = PPO(
        "MlpPolicy",
        dummy_env,
        n_steps=settings.rollout // n_envs,
        batch_size=BATCH_SIZE,
        seed=settings.seed + 1,
        verbose=0,
        device="cpu",
    )
    return OnPolicyAgent(model)


def build_configs(partner_policy: BasePolicy) -> list[Config]:
    def frozen_handwritten(s: Settings) -> PPO:
        return _ego(HandWrittenLiar(partner_policy), s, 1)

    def frozen_vec(n: int) -> Callable[[Settings], PPO]:
        def build(s: Settings) -> PPO:
            venv = MultiAgentVecEnv(lambda: gym.make(ENV_ID), n_envs=n)
            venv.add_partner_agent(StaticPolicyAgent(partner_policy), 1)
            return _ego(venv, s, n)

        return build

    def learning_single(s: Settings) -> PPO:
        env = gym.make(ENV_ID)
        env.add_partner_agent(_learning_partner(env.get_dummy_env(1), s, 1), 1)
        return _ego(env, s, 1)

    def learning_vec(n: int) -> Callable[[Settings], PPO]:
        def build(s: Settings) -> PPO:
            venv = MultiAgentVecEnv(lambda: gym.make(ENV_ID), n_envs=n)
            venv.add_partner_agent(_learning_partner(venv.get_dummy_env(1), s, n), 1)
            return _ego(venv, s, n)

        return build

    return [
        Config("frozen_handwritten", "frozen", "(a) hand-written gym.Env, 1 game", 1, frozen_handwritten),
        Config("frozen_vec1", "frozen", "(b) MultiAgentVecEnv n_envs=1", 1, frozen_vec(1)),
        Config("frozen_vec8", "frozen", "(c) MultiAgentVecEnv n_envs=8", 8, frozen_vec(8)),
        Config("learning_single", "learning", "(a) single-env MultiAgentEnv", 1, learning_single),
        Config("learning_vec1", "learning", "(b) MultiAgentVecEnv n_envs=1", 1, learning_vec(1)),
        Config("learning_vec8", "learning", "(c) MultiAgentVecEnv n_envs=8", 8, learning_vec(8)),
    ]


def time_learn(config: Config, settings: Settings) -> dict[str, float]:
    """Build the model (untimed), then time ``learn()`` alone."""
    model = config.build(settings)
    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=settings.timesteps)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    steps = int(model.num_timesteps)
    model.get_env().close()
    # The process's CPU time is reported beside the wall time (the ratios use wall time): CPU time well below
    # wall time means the run waited for a core; close to it, a slow run shared the core's caches or the host.
    return {"steps": steps, "seconds": seconds, "sps": steps / seconds, "cpu_seconds": cpu_seconds}


# ---------------------------------------------------------------------------------------------- reporting
def _row(group: str, label: str, run: str, steps: Any, seconds: Any, sps: Any, cpu: Any = "") -> str:
    return f"{group:<9} {label:<34} {run:>6} {steps:>7} {seconds:>8} {sps:>9} {cpu:>8}"


def print_table(configs: list[Config]) -> None:
    print()
    print(_row("scenario", "configuration", "run", "steps", "seconds", "steps/s", "cpu s"))
    print("-" * 87)
    for config in configs:
        for i, run in enumerate(config.runs, 1):
            print(
                _row(
                    config.group,
                    config.label,
                    str(i),
                    run["steps"],
                    f"{run['seconds']:.2f}",
                    f"{run['sps']:.1f}",
                    f"{run['cpu_seconds']:.2f}",
                )
            )
        print(_row(config.group, config.label, "median", "", "", f"{config.median_sps:.1f}"))
    print()


def _loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):  # not on every platform
        return None



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4,096 steps per run, n_steps = 512 // n_envs, 1 round")
    parser.add_argument("--repeats", type=positive, help="rounds of (a, b, c) (default 3, or 1 with --quick)")
    parser.add_argument("--timesteps", type=positive, help="timesteps per run (default 20,480, or 4,096 with --quick)")
    parser.add_argument("--only", choices=("frozen", "learning"), help="run one scenario only")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results to PATH (atomically)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    mode = QUICK if args.quick else FULL
    settings = Settings(timesteps=args.timesteps or mode["timesteps"], rollout=mode["rollout"])
    repeats = args.repeats or mode["repeats"]

    configs = build_configs(make_partner_policy())
    if args.only:
        configs = [c for c in configs if c.group == args.only]
    print(
        f"PPO learn() throughput on {ENV_ID}: {settings.timesteps} timesteps per run, n_steps = "
        f"{settings.rollout} // n_envs, batch_size {BATCH_SIZE}, seed {settings.seed}, {repeats} round(s), "
        f"torch threads {torch.get_num_threads()}",
        flush=True,
    )
    load_start = _loadavg()
    wall = time.perf_counter()
    for r in range(1, repeats + 1):
        for config in configs:
            run = time_learn(config, settings)
            config.runs.append(run)
            print(
                f"  round {r}: {config.group:<8} {config.label:<34} {run['steps']} steps in "
                f"{run['seconds']:.2f} s = {run['sps']:.1f} steps/s",
                flush=True,
            )
    wall = time.perf_counter() - wall
    load_end = _loadavg()

    print_table(configs)
    by_key = {c.key: c for c in configs}
    ratios: dict[str, dict[str, Any]] = {}
    for name, (num, den, target) in RATIOS.items():
        if num not in by_key or den not in by_key:
            continue
        value = by_key[num].median_sps / by_key[den].median_sps
        cpu_value = by_key[num].median_cpu_sps / by_key[den].median_cpu_sps
        ratios[name] = {
            "ratio": value,
            "target": target,
            "pass": value >= target,
            "numerator": num,
            "denominator": den,
            "cpu_time_ratio": cpu_value,
        }
    if args.json:
        write_json_atomic(
            args.json,
            {
                "benchmark": "throughput",
                "env_id": ENV_ID,
                "quick": bool(args.quick),
                "timesteps": settings.timesteps,
                "rollout": settings.rollout,
                "batch_size": BATCH_SIZE,
                "seed": settings.seed,
                "repeats": repeats,
                "torch_threads": torch.get_num_threads(),
                "wall_seconds": wall,
                "load_average": {"start": load_start, "end": load_end},
                "versions": {
                    "python": platform.python_version(),
                    "torch": torch.__version__,
                    "stable_baselines3": stable_baselines3.__version__,
                    "gymnasium": gym.__version__,
                    "numpy": np.__version__,
                },
                "configurations": {
                    c.key: {
                        "group": c.group,
                        "label": c.label,
                        "n_envs": c.n_envs,
                        "runs": c.runs,
                        "median_sps": c.median_sps,
                        "median_cpu_sps": c.median_cpu_sps,
                    }
                    for c in configs
                },
                "ratios": ratios,
            },
        )
    load = (
        ""
        if load_start is None or load_end is None
        else (f"; 1-min load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end, on {os.cpu_count()} cores")
    )
    print(f"total wall time {wall:.1f} s{load}")
    print(
        "ratios of steps per CPU second (information only): "
        + ", ".join(f"{name} {r['cpu_time_ratio']:.2f}" for name, r in ratios.items())
    )
    for name, result in ratios.items():
        verdict = "PASS" if result["pass"] else "FAIL"
        print(f"RESULT throughput_{name} ratio={result['ratio']:.2f} target=>={result['target']:g} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
