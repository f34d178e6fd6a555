"""PPO shared-weight self-play on Overcooked's cramped_room: does the training engine learn to cook?

One ``PPO("MlpPolicy")`` plays **both** chefs of ``n_envs`` copies of ``OvercookedMultiEnv("cramped_room")``
(96 hand-made features per chef) through :class:`~pantheonrl.vec.selfplay.SharedWeightSelfPlay`: the model has
``n_envs x 2`` buffer columns, so every env step gives it two transitions (SB3's ``num_timesteps`` counts
both; this script reports **env steps** = game steps summed over the copies = ``num_timesteps / 2``).

Training reward: the sparse delivery reward (20 per soup) plus the shaped reward (onion in pot, dish and soup
pick-ups) weighted by a linear schedule ``reward_shaping=(1.0, 0.0, S)``; ``S`` is counted in each copy's own
game steps and is ``--shaping-frac`` (default 0.5) of the steps each copy plays, so the last half of training
sees the sparse reward only. Each copy is reset with its own seed (the game itself is deterministic).

Evaluation, after training, per seed: the trained policy in **both** seats of a fresh env built with
``reward_shaping=0.0`` (the return is the sparse return: 20 per delivered soup, both chefs together), 20
episodes of 400 steps. Both action modes are measured:

* ``sampled`` (the headline, ``--eval-mode sampled``): each chef samples from the policy. The game has no
  randomness, so this is the only mode whose 20 episodes are 20 different samples; it is also what the policy
  was trained to do.
* ``deterministic``: each chef takes its arg-max action. All 20 episodes are then the same episode; two
  arg-max chefs can also lock into a loop (both waiting for the other to move), so this is reported for
  information, and you can make it the headline with ``--eval-mode deterministic``.

Hyper-parameters (the Overcooked PPO literature, tuned lightly here): ``n_steps=400`` per column (one episode
per copy and seat per rollout: 8 copies x 2 seats x 400 = 6,400 samples), ``batch_size=1600`` (4 minibatches),
8 epochs, lr 1e-3 annealed linearly to 0, gamma 0.99, gae_lambda 0.98, clip 0.1, vf_coef 0.5,
max_grad_norm 0.5, entropy coefficient 0.1 annealed linearly to 0.01 over the first half of training, net_arch
[64, 64] (tanh). ``torch.set_num_threads(1)``.

The script prints progress per seed (env steps, mean sparse return of the recent training episodes, elapsed
time), then one line per seed and the result line::

    RESULT overcooked_selfplay sparse_return_median=240.0 target=>=150 PASS

(the median over seeds of each seed's mean evaluation return, in the ``--eval-mode`` mode; target >= 150 within
1.5M env steps). A FAIL is printed honestly; the exit status is 0 either way (2 for bad arguments).

Measured (2 shared cores, load average 1.4 to 6 from other jobs; SB3 2.9.2, torch 2.13 CPU, one thread): seeds
0 / 1 / 2 scored 240 / 240 / 260 (sampled and deterministic alike; all 20 episodes equal), median 240, PASS;
5.7 / 5.5 / 8.6 min of training = 4,367 / 4,526 / 2,892 env steps/s (8,700 / 9,100 / 5,800 transitions/s; the
slowest seed shared the cores with other test runs; CPU time 304 / 321 / 372 s). Training episodes crossed 150
between 500k and 600k env steps and plateaued at 240 from about 900k. Seed 0 is bit-for-bit reproducible (two
runs, identical curves).

Usage::

    python benchmarks/overcooked_selfplay.py                     # 3 seeds x 1.5M env steps (6-9 min a seed here)
    python benchmarks/overcooked_selfplay.py --quick             # 1 seed, 40k env steps, 5 episodes (~15 s)
    python benchmarks/overcooked_selfplay.py --seeds 0 1 --env-steps 1000000 --json out.json --save runs/oc
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from pantheonrl.common.agents import StaticPolicyAgent
from pantheonrl.envs.overcooked import OvercookedMultiEnv
from pantheonrl.envs.overcooked.tracking import SparseTrackedOvercooked
from pantheonrl.eval.rollout import play_episodes
from pantheonrl.vec.selfplay import SharedWeightSelfPlay

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import write_json_atomic

NAME = "overcooked_selfplay"
ENV_ID = "OvercookedMultiEnv-v0"
LAYOUT = "cramped_room"
HORIZON = 400
TARGET = 150.0
SEATS = 2
FULL = {"seeds": [0, 1, 2], "env_steps": 1_500_000, "eval_episodes": 20, "log_every": 100_000}
QUICK = {"seeds": [0], "env_steps": 40_000, "eval_episodes": 5, "log_every": 12_800}
EVAL_MODES = ("sampled", "deterministic")


# ---------------------------------------------------------------------------------------------- the env
def ppo_kwargs(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    lr = args.lr

    def schedule(progress_remaining: float) -> float:  # linear to 0 (SB3 passes 1 -> 0)
        return lr * progress_remaining if args.lr_anneal else lr

    return {
        "n_steps": args.n_steps,
        "batch_size": args.batch_size,
        "n_epochs": args.n_epochs,
        "learning_rate": schedule,
        "gamma": 0.99,
        "gae_lambda": 0.98,
        "clip_range": args.clip,
        "ent_coef": args.ent_coef,
        "vf_coef": 0.5,
        "max_grad_norm": 0.5,
        "policy_kwargs": {"net_arch": [64, 64]},
        "seed": seed,
        "device": "cpu",
        "verbose": 0,
    }


class Progress(BaseCallback):
    """Anneals the entropy coefficient and prints progress every ``log_every`` env steps."""

    def __init__(self, args: argparse.Namespace, log: list[float], seed: int, start: float) -> None:
        super().__init__()
        self.args, self.log, self.seed, self.start = args, log, seed, start
        self.next_print = args.log_every
        self.curve: list[dict[str, float]] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        env_steps = self.model.num_timesteps // SEATS
        frac = min(1.0, env_steps / max(1.0, self.args.ent_frac * self.args.env_steps))
        self.model.ent_coef = self.args.ent_coef + (self.args.ent_end - self.args.ent_coef) * frac
        if env_steps >= self.next_print or env_steps >= self.args.env_steps:
            while self.next_print <= env_steps:
                self.next_print += self.args.log_every
            recent = self.log[-4 * self.args.n_envs:]
            mean = float(np.mean(recent)) if recent else float("nan")
            elapsed = time.perf_counter() - self.start
            self.curve.append({"env_steps": env_steps, "sparse_return": mean, "elapsed_s": round(elapsed, 1)})
            print(
                f"  seed {self.seed}: {env_steps:>9,d} env steps  sparse return (last {len(recent)} episodes) "
                f"{mean:6.1f}  ent {self.model.ent_coef:.3f}  {elapsed / 60:5.1f} min  "
                f"{env_steps / elapsed:,.0f} env steps/s",
                flush=True,
            )


# ---------------------------------------------------------------------------------------------- one seed
def evaluate_policy(policy: Any, episodes: int, seed: int) -> dict[str, dict[str, Any]]:
    """Sparse return of ``policy`` in both seats (an env with no shaping), sampled and deterministic."""
    out = {}
    for mode in EVAL_MODES:
        det = mode == "deterministic"
        stats = play_episodes(
            lambda: OvercookedMultiEnv(LAYOUT, horizon=HORIZON, reward_shaping=0.0),
            [StaticPolicyAgent(policy, deterministic=det), StaticPolicyAgent(policy, deterministic=det)],
            episodes,
            seed=1000 + seed,
        )[0]
        out[mode] = {
            "mean": stats.mean,
            "std": stats.std,
            "ci95": list(stats.ci95),
            "returns": [float(r) for r in stats.returns],
        }
    return out


def run_seed(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    log: list[float] = []
    per_copy = args.env_steps // args.n_envs
    shaping_steps = max(1, int(args.shaping_frac * per_copy))

    def make() -> OvercookedMultiEnv:
        return SparseTrackedOvercooked(
            log, layout_name=LAYOUT, horizon=HORIZON, reward_shaping=(1.0, 0.0, shaping_steps)
        )

    trainer = SharedWeightSelfPlay(make, n_envs=args.n_envs)
    model = PPO("MlpPolicy", trainer.get_dummy_env(), **ppo_kwargs(args, seed))
    start = time.perf_counter()
    cpu0 = time.process_time()
    progress = Progress(args, log, seed, start)
    trainer.attach(model, callback=progress)
    print(f"seed {seed}: training {args.env_steps:,d} env steps on {args.n_envs} copies x {SEATS} seats", flush=True)
    trainer.learn(SEATS * args.env_steps, seed=seed)
    train_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu0
    env_steps = model.num_timesteps // SEATS
    t0 = time.perf_counter()
    evaluation = evaluate_policy(model.policy, args.eval_episodes, seed)
    eval_s = time.perf_counter() - t0
    result = {
        "seed": seed,
        "env_steps": env_steps,
        "transitions": int(model.num_timesteps),
        "train_minutes": train_s / 60,
        "env_steps_per_s": env_steps / train_s,
        "transitions_per_s": model.num_timesteps / train_s,
        "cpu_s": cpu_s,
        "eval_s": eval_s,
        "eval_episodes": args.eval_episodes,
        "sparse_return": evaluation[args.eval_mode]["mean"],
        "eval": evaluation,
        "train_sparse_return_last": float(np.mean(log[-4 * args.n_envs:])) if log else None,
        "curve": progress.curve,
        "shaping_steps_per_copy": shaping_steps,
        "artifact": None,
    }
    if args.save:
        from pantheonrl.artifacts import save_agent

        saved = save_agent(
            model,
            Path(args.save) / f"seed{seed}",
            env_id=ENV_ID,
            seed=seed,
            config={"benchmark": NAME, "layout": LAYOUT, **config_of(args)},
            partners_seen=["self"],
            overwrite=True,
        )
        result["artifact"] = str(saved.path)
    s, d = evaluation["sampled"], evaluation["deterministic"]
    print(
        f"seed {seed}: sparse return {result['sparse_return']:.1f} ({args.eval_mode}; sampled {s['mean']:.1f} "
        f"+/- {s['std']:.1f}, deterministic {d['mean']:.1f}) over {args.eval_episodes} episodes; "
        f"{env_steps:,d} env steps in {train_s / 60:.1f} min = {result['env_steps_per_s']:,.0f} env steps/s "
        f"({result['transitions_per_s']:,.0f} transitions/s)"
        + (f"; saved {result['artifact']}" if result["artifact"] else ""),
        flush=True,
    )
    return result


# ---------------------------------------------------------------------------------------------- CLI
def config_of(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("env_steps", "n_envs", "n_steps", "batch_size", "n_epochs", "lr", "lr_anneal", "clip", "ent_coef",
            "ent_end", "ent_frac", "shaping_frac", "eval_episodes", "eval_mode")
    return {k: getattr(args, k) for k in keys}



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 seed, 40k env steps, 5 evaluation episodes")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds to train (default 0 1 2; --quick: 0)")
    p.add_argument("--env-steps", type=int, help="env steps per seed (default 1,500,000; --quick: 40,000)")
    p.add_argument("--n-envs", type=int, default=8, help="game copies (default 8)")
    p.add_argument("--eval-episodes", type=int, help="evaluation episodes per seed (default 20; --quick: 5)")
    p.add_argument("--eval-mode", choices=EVAL_MODES, default="sampled", help="the headline evaluation mode")
    p.add_argument("--json", metavar="PATH", help="write all results to PATH (atomically)")
    p.add_argument("--save", metavar="DIR", help="save each seed's model as an artefact DIR/seed<N>")
    p.add_argument("--log-every", type=int, help="progress line every this many env steps")
    tune = p.add_argument_group("PPO (defaults: the tuned settings in the module docstring)")
    tune.add_argument("--n-steps", type=int, default=400, help="rollout length per column")
    tune.add_argument("--batch-size", type=int, default=1600)
    tune.add_argument("--n-epochs", type=int, default=8)
    tune.add_argument("--lr", type=float, default=1e-3)
    tune.add_argument("--no-lr-anneal", dest="lr_anneal", action="store_false", help="constant learning rate")
    tune.add_argument("--clip", type=float, default=0.1)
    tune.add_argument("--ent-coef", type=float, default=0.1, help="initial entropy coefficient")
    tune.add_argument("--ent-end", type=float, default=0.01, help="final entropy coefficient")
    tune.add_argument("--ent-frac", type=float, default=0.5, help="fraction of training to anneal entropy over")
    tune.add_argument("--shaping-frac", type=float, default=0.5,
                      help="fraction of each copy's steps over which the shaped reward anneals 1 -> 0")
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    args.seeds = args.seeds if args.seeds is not None else list(base["seeds"])
    args.env_steps = args.env_steps if args.env_steps is not None else base["env_steps"]
    args.eval_episodes = args.eval_episodes if args.eval_episodes is not None else base["eval_episodes"]
    args.log_every = args.log_every if args.log_every is not None else base["log_every"]
    problems = []
    if args.env_steps < args.n_envs:
        problems.append(f"--env-steps must be at least --n-envs ({args.n_envs}), got {args.env_steps}")
    for name in ("n_envs", "eval_episodes", "log_every", "n_steps", "batch_size", "n_epochs"):
        if getattr(args, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        problems.append(f"--seeds must be distinct non-negative integers, got {args.seeds}")
    for name in ("lr", "clip"):
        if not getattr(args, name) > 0:
            problems.append(f"--{name} must be > 0")
    for name in ("ent_coef", "ent_end"):
        if getattr(args, name) < 0:
            problems.append(f"--{name.replace('_', '-')} must be >= 0")
    for name in ("ent_frac", "shaping_frac"):
        if not 0 < getattr(args, name) <= 1:
            problems.append(f"--{name.replace('_', '-')} must be in (0, 1]")
    if problems:
        p.error("; ".join(problems))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    load0 = os.getloadavg()[0]
    print(
        f"{NAME}: PPO shared-weight self-play on {LAYOUT}, seeds {args.seeds}, {args.env_steps:,d} env steps each, "
        f"{args.n_envs} copies; evaluation: {args.eval_episodes} episodes, sparse reward, {args.eval_mode}; "
        f"load average {load0:.2f}",
        flush=True,
    )
    wall0 = time.perf_counter()
    results = [run_seed(args, seed) for seed in args.seeds]
    median = statistics.median(r["sparse_return"] for r in results)
    passed = median >= TARGET
    print()
    for r in results:
        print(
            f"seed {r['seed']}: sparse_return={r['sparse_return']:.1f} env_steps={r['env_steps']} "
            f"minutes={r['train_minutes']:.2f} env_steps_per_s={r['env_steps_per_s']:.0f}"
        )
    if args.json:
        write_json_atomic(
            Path(args.json),
            {
                "benchmark": NAME,
                "layout": LAYOUT,
                "target": TARGET,
                "median_sparse_return": median,
                "passed": passed,
                "eval_mode": args.eval_mode,
                "config": config_of(args),
                "seeds": results,
                "wall_minutes": (time.perf_counter() - wall0) / 60,
                "load_average": {"start": load0, "end": os.getloadavg()[0]},
                "versions": {
                    "python": platform.python_version(),
                    "torch": torch.__version__,
                    "stable_baselines3": stable_baselines3.__version__,
                },
            },
        )
    print(f"RESULT {NAME} sparse_return_median={median:.1f} target=>={TARGET:.0f} {'PASS' if passed else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
