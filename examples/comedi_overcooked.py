"""A small CoMeDi population on Overcooked's cramped_room, and its cross-play heatmap.

``--conventions`` K conventions are trained one after another with CoMeDi (:mod:`pantheonrl.algos.comedi`):
convention 0 is shared-weight PPO self-play; convention n maximises its self-play return minus ``--alpha`` times
its cross-play with the most compatible earlier convention, plus ``--beta`` times its self-play return from
mixed-play states (phase 1 of ``L ~ U{1..399}`` steps mixes the earlier convention in, then the convention plays
both chefs to the end of the 400-step episode). Each convention is saved as an artefact (``<out>/agents``);
the K x K cross-play matrix of the sparse return (20 per delivered soup, both chefs together; both seat orders,
sampled actions, no reward shaping) is written to ``<out>/crossplay.{csv,json,png}``, the per-update training
record to ``<out>/comedi.json``, and a summary to ``<out>/summary.json``.

Training reward: sparse + shaped, the shaped weight annealed 1 -> 0 over the first ``2 x env-steps / n_envs``
game steps of each copy (the copies also play the cross-play and mixed-play rollouts, so for conventions after the
first the annealing ends earlier in their budget). PPO settings as ``benchmarks/overcooked_selfplay.py``:
``n_steps=400`` per column (8 copies x 2 chefs x 400 = 6,400 self-play samples per update), ``batch_size=1600``,
8 epochs, lr 1e-3 annealed linearly to 0, gamma 0.99, gae_lambda 0.98, clip 0.1, entropy 0.02, net_arch [64, 64].
CoMeDi: alpha 0.25, beta 0.5, mix_prob 0.5 (the paper's Overcooked scripts used alpha 0.25 with beta 0.5 or 1.0).

Budgets. ``--env-steps`` counts the game steps of the self-play rollouts per convention (summed over copies); a
convention after the first also plays cross-play and mixed-play rollouts, about 3-4x the self-play steps. The
default (3 conventions x 500k env steps) fits in about an hour on one CPU core (measured: about 3,000 self-play env
steps/s with 8 copies; an update of convention 0 takes 1.6 s, of convention 1 about 7 s); ``--quick`` is a smoke
test (tiny budgets, about 20 s), nothing learns in it.

Usage::

    python examples/comedi_overcooked.py --out runs/comedi_overcooked
    python examples/comedi_overcooked.py --quick --out /tmp/comedi_oc
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pantheonrl.algos.comedi import ConventionPopulation
from pantheonrl.envs.overcooked import OvercookedMultiEnv

LAYOUT, HORIZON = "cramped_room", 400


def linear(start: float) -> Any:
    return lambda progress_remaining: start * progress_remaining


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/comedi_overcooked"), help="output folder (new or empty)")
    p.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test")
    p.add_argument("--conventions", type=int, default=3, help="K (default 3)")
    p.add_argument("--env-steps", type=int, default=500_000, help="self-play env steps per convention (500,000)")
    p.add_argument("--n-envs", type=int, default=8, help="game copies (default 8)")
    p.add_argument("--alpha", type=float, default=0.25)
    p.add_argument("--beta", type=float, default=0.5)
    p.add_argument("--eval-episodes", type=int, default=5, help="games per seat order and pair (default 5)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("conventions", "env_steps", "n_envs", "eval_episodes"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.out.exists() and any(args.out.iterdir()):
        p.error(f"--out {args.out} is not empty; choose a new folder (nothing is overwritten)")
    if args.quick:
        args.conventions, args.env_steps, args.n_envs, args.eval_episodes = 2, 1_600, 2, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    n_steps = 400 if not args.quick else 100
    shaping_steps = max(1, 2 * args.env_steps // args.n_envs)

    def make_env() -> OvercookedMultiEnv:
        return OvercookedMultiEnv(LAYOUT, horizon=HORIZON, reward_shaping=(1.0, 0.0, shaping_steps))

    population = ConventionPopulation(
        make_env, args.conventions, seed=args.seed, alpha=args.alpha, beta=args.beta, mix_prob=0.5,
        n_envs=args.n_envs, n_steps=n_steps, batch_size=4 * n_steps, n_epochs=8, learning_rate=linear(1e-3),
        gamma=0.99, gae_lambda=0.98, clip_range=0.1, ent_coef=0.02, device="cpu",
        policy_kwargs={"net_arch": [64, 64]},
    )
    started = time.time()

    def progress(n: int, trainer: Any, record: dict) -> None:
        if record["update"] % 5 == 0 or args.quick:
            xp = record.get("xp")
            extra = f", XP {', '.join(f'{i}: {v:.1f}' for i, v in xp.items())}, i* {record['i_star']}" if xp else ""
            mp = f", MP {record['mp']:.1f}" if "mp" in record else ""
            print(f"convention {n}: update {record['update']}, {record['timesteps']:,} env steps, training return "
                  f"{record['sp']:.1f}{extra}{mp}, {(time.time() - started) / 60:.1f} min", flush=True)

    population.learn(args.env_steps, callback=progress)
    train_min = (time.time() - started) / 60
    args.out.mkdir(parents=True, exist_ok=True)
    paths = population.save(args.out / "agents", env_id="OvercookedMultiEnv-v0")
    result = population.crossplay(lambda: OvercookedMultiEnv(LAYOUT, horizon=HORIZON, reward_shaping=0.0),
                                  args.eval_episodes, seed=args.seed)
    result.metadata.update({"layout": LAYOUT, "reward": "sparse", "alpha": args.alpha, "beta": args.beta})
    result.write_csv(args.out / "crossplay.csv")
    result.write_json(args.out / "crossplay.json")
    result.plot_heatmap(args.out / "crossplay.png", title=f"CoMeDi on {LAYOUT}: sparse return (both seat orders)")
    (args.out / "comedi.json").write_text(json.dumps({"histories": population.histories}, indent=1) + "\n")
    print(f"trained {args.conventions} conventions in {train_min:.1f} min; cross-play (sparse return):")
    for name, row in zip(population.names(), result.means):
        print(f"  {name:<14} " + "  ".join(f"{v:6.1f}" for v in row))
    off = result.means[~np.eye(len(result.means), dtype=bool)]
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "train_minutes": round(train_min, 2),
               "crossplay": result.means.round(3).tolist(), "selfplay": np.diag(result.means).round(3).tolist(),
               "mean_crossplay_off_diagonal": float(off.mean()) if off.size else None,
               "agents": [str(p) for p in paths]}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}/crossplay.png, crossplay.csv, crossplay.json, comedi.json, summary.json, agents/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
