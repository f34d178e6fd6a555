"""Partner adaptation on Overcooked (cramped_room): the original PantheonRL's workflow, end to end.

1. **A pool of partners.** ``--partners`` K PPO agents, each trained by shared-weight self-play
   (:class:`~pantheonrl.vec.selfplay.SharedWeightSelfPlay`: one model in both chefs' seats of 8 game copies)
   with a different seed, so each settles on its own way of sharing the kitchen.
2. **An ego trained with a population.** A fresh PPO ego (player 0, chef 0) trains against the first K-1
   partners, frozen (``FrozenPartner(model)``, sampling their actions), chosen round-robin per episode
   (:func:`~pantheonrl.training.interactions.train`).
3. **Adaptation to a new partner.** The last partner is held out. The ego is fine-tuned with it
   (:func:`~pantheonrl.training.interactions.finetune`) and compared with a fresh PPO trained against it for the
   same budget and with the same settings.

Every phase logs the sparse return (20 per delivered soup, both chefs together) of its training episodes
against env steps (game steps summed over the copies); the curves are written to ``<out>/learning_curves.png``
(matplotlib's Agg canvas) and ``<out>/summary.json``. The summary printed at the end adds evaluations on the
sparse reward (``--eval-episodes`` episodes, sampled actions, no shaping): each partner with itself, the ego with
its training partners and zero-shot with the held-out one, and the two adapted agents with the held-out one.

Budgets. The defaults are small so that the run ends in a few minutes on 2 CPU cores: partners of 150k env steps
cook only a little (a full self-play run reaches ~240 on cramped_room after ~800k env steps, see
``benchmarks/overcooked_selfplay.py``). Make it real with ``--scale 5`` (every budget x 5) or ``--env-steps
800000`` (per partner; the ego and adaptation budgets follow at 0.8x and 0.4x unless given). ``--quick`` is a
smoke test (tiny budgets, about half a minute), nothing learns in it.

Training reward: sparse + shaped, the shaped weight annealed 1 -> 0 over the first half of each phase (counted in
each copy's own steps); PPO with ``n_steps=400`` per column, ``batch_size=800`` (smaller minibatches than the
benchmark's 1600 learn faster on these small budgets), 8 epochs, gamma 0.99, gae_lambda 0.98, clip 0.1, net_arch
[64, 64]; self-play with a constant lr of 1e-3 and entropy 0.03 -> 0.01 over the first half, the ego phases with
lr 5e-4 and entropy 0.01 (constant rates, because SB3's schedules count the fine-tuned ego's earlier timesteps).

Instead of training the pool you can bring one: ``--pool DIR DIR DIR`` takes saved agents (artefact folders, e.g.
``benchmarks/overcooked_selfplay.py --save runs/oc`` writes ``runs/oc/seed0`` ...), loaded weights-only; the last
is held out. With the three 1.5M-step agents of the benchmark as the pool and ``--ego-steps 150000`` (one run, 2
shared cores, 97 s): the ego scored 151 with its two training partners and 136 zero-shot with the held-out one;
after 60k env steps with it, the fine-tuned ego scored 172 and a fresh PPO 118.

A Modular ego (``pantheonrl.algos.modular``: ``ModularAlgorithm`` + ``ModularPolicy``, a shared task module and
one partner module per training partner, adapting with a fresh partner module) is the original's answer to step 3.
It is ego-only, keeps one rollout buffer per partner and picks the partner for each rollout itself (resampling
``"null"``), so it does not use ``train()``'s per-episode round-robin; this example keeps a plain PPO ego. A
Modular ego runs from the command line (``pantheonrl train ENV ModularAlgorithm ALT ALT ...``, see the README)
and in ``benchmarks/modular_adapt.py`` on the Arms game.

    python examples/overcooked_adaptation.py [--out runs/overcooked_adaptation] [--partners 3] [--scale 1]
    python examples/overcooked_adaptation.py --quick --out /tmp/oc
    python examples/overcooked_adaptation.py --pool runs/oc/seed0 runs/oc/seed1 runs/oc/seed2 --ego-steps 150000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from pantheonrl.common.agents import StaticPolicyAgent
from pantheonrl.envs.overcooked import OvercookedMultiEnv
from pantheonrl.envs.overcooked.tracking import SparseTrackedOvercooked
from pantheonrl.eval.rollout import play_episodes
from pantheonrl.training.interactions import finetune, train
from pantheonrl.training.partners import FrozenPartner
from pantheonrl.vec.selfplay import SharedWeightSelfPlay

LAYOUT = "cramped_room"
HORIZON = 400
N_ENVS = 8
DEFAULTS = {"partners": 3, "env_steps": 150_000, "ego_frac": 0.8, "adapt_frac": 0.4, "eval_episodes": 10}
QUICK = {"partners": 3, "env_steps": 6_400, "ego_steps": 3_200, "adapt_steps": 3_200, "eval_episodes": 2,
         "n_envs": 4}
PPO_COMMON = {"n_steps": 400, "batch_size": 800, "n_epochs": 8, "gamma": 0.99, "gae_lambda": 0.98,
              "clip_range": 0.1, "vf_coef": 0.5, "max_grad_norm": 0.5, "policy_kwargs": {"net_arch": [64, 64]},
              "device": "cpu", "verbose": 0}
SELFPLAY_PPO = {**PPO_COMMON, "learning_rate": 1e-3, "ent_coef": 0.03}
EGO_PPO = {**PPO_COMMON, "learning_rate": 5e-4, "ent_coef": 0.01}


def tracked_env(log: list[float], env_steps: int, n_envs: int) -> Callable[[], OvercookedMultiEnv]:
    """A factory of copies whose shaped reward anneals 1 -> 0 over half of each copy's share of ``env_steps``."""
    shaping = (1.0, 0.0, max(1, env_steps // n_envs // 2))
    return lambda: SparseTrackedOvercooked(log, layout_name=LAYOUT, horizon=HORIZON, reward_shaping=shaping)


class Curve(BaseCallback):
    """After each rollout, records (env steps in this phase, mean sparse return of the episodes that ended in it);
    optionally anneals the entropy coefficient ``ent -> ent_end`` over the first half of the phase."""

    def __init__(self, log: list[float], seats: int, budget: int, ent: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.log, self.seats, self.budget, self.ent = log, seats, budget, ent
        self.points: list[tuple[int, float]] = []
        self._start = 0
        self._seen = 0

    def _on_training_start(self) -> None:
        self._start, self._seen = self.model.num_timesteps, len(self.log)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        steps = (self.model.num_timesteps - self._start) // self.seats
        if self.ent is not None:
            frac = min(1.0, steps / max(1, self.budget // 2))
            self.model.ent_coef = self.ent[0] + (self.ent[1] - self.ent[0]) * frac
        new = self.log[self._seen:]
        self._seen = len(self.log)
        if new:
            self.points.append((steps, float(np.mean(new))))


def sparse_return(policy_a: Any, policy_b: Any, episodes: int, seed: int) -> float:
    """Mean sparse return with ``policy_a`` as chef 0 and ``policy_b`` as chef 1 (sampled actions)."""
    stats = play_episodes(
        lambda: OvercookedMultiEnv(LAYOUT, horizon=HORIZON, reward_shaping=0.0),
        [StaticPolicyAgent(policy_a), StaticPolicyAgent(policy_b)],
        episodes,
        seed=seed,
    )[0]
    return stats.mean


def train_partner(seed: int, env_steps: int, n_envs: int) -> tuple[PPO, Curve]:
    log: list[float] = []
    trainer = SharedWeightSelfPlay(tracked_env(log, env_steps, n_envs), n_envs=n_envs)
    model = PPO("MlpPolicy", trainer.get_dummy_env(), seed=seed, **SELFPLAY_PPO)
    curve = Curve(log, seats=2, budget=env_steps, ent=(0.03, 0.01))
    trainer.attach(model, callback=curve)
    trainer.learn(2 * env_steps, seed=seed)
    return model, curve


def train_ego(ego: str | BaseAlgorithm, partners: list[Any], env_steps: int, n_envs: int, seed: int,
              interaction: Callable = train) -> tuple[BaseAlgorithm, Curve]:
    log: list[float] = []
    curve = Curve(log, seats=1, budget=env_steps)
    result = interaction(
        tracked_env(log, env_steps, n_envs),
        ego,
        [FrozenPartner(p) for p in partners],
        total_timesteps=env_steps,
        n_envs=n_envs,
        sampling="robin",
        seed=seed,
        ego_kwargs=EGO_PPO if isinstance(ego, str) else None,
        callback=curve,
        device="cpu",
    )
    return result.ego, curve


def plot(path: Path, partner_curves: list[Curve], ego_curve: Curve, adapt: dict[str, Curve], zero_shot: float,
         holdout: int) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.4), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    for i, curve in enumerate(partner_curves):
        if curve.points:
            x, y = zip(*curve.points)
            style = "--" if i == holdout else "-"
            ax1.plot(x, y, style, label=f"partner {i} self-play" + (" (held out)" if i == holdout else ""))
    if ego_curve.points:
        x, y = zip(*ego_curve.points)
        ax1.plot(x, y, "k-", lw=2, label="ego vs training partners")
    ax1.set(title="Pool and ego training", xlabel="env steps", ylabel="sparse return per episode")
    ax1.legend(fontsize=8)
    for (name, curve), color in zip(adapt.items(), ("tab:green", "tab:red")):
        if curve.points:
            x, y = zip(*curve.points)
            ax2.plot(x, y, "-", color=color, label=name)
    ax2.axhline(zero_shot, color="gray", ls=":", label=f"ego zero-shot ({zero_shot:.1f})")
    ax2.set(title=f"Adapting to held-out partner {holdout}", xlabel="env steps", ylabel="sparse return per episode")
    ax2.legend(fontsize=8)
    fig.suptitle(f"Overcooked {LAYOUT}: partner adaptation (training episodes, sparse reward)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    canvas.print_png(str(tmp))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--out", type=Path, default=Path("runs/overcooked_adaptation"))
    parser.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test (about half a minute)")
    parser.add_argument("--partners", type=int, help="pool size K (>= 2; the last is held out); default 3")
    parser.add_argument("--env-steps", type=int, help="env steps of each partner's self-play (default 150,000)")
    parser.add_argument("--ego-steps", type=int, help="env steps of the ego's training (default 0.8 x --env-steps)")
    parser.add_argument("--adapt-steps", type=int, help="env steps of each adaptation arm (default 0.4 x --env-steps)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every budget (e.g. 5 to make it real)")
    parser.add_argument("--n-envs", type=int, help=f"game copies per phase (default {N_ENVS})")
    parser.add_argument("--eval-episodes", type=int, help="evaluation episodes per pairing (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool", type=Path, nargs="+", metavar="DIR",
                        help="saved agents (artefact folders) to use as the pool instead of training one")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    k = args.partners if args.partners is not None else base["partners"]
    if args.pool:
        k = len(args.pool)
    n_envs = args.n_envs if args.n_envs is not None else base.get("n_envs", N_ENVS)
    episodes = args.eval_episodes if args.eval_episodes is not None else base["eval_episodes"]
    partner_steps = args.env_steps if args.env_steps is not None else base["env_steps"]
    ego_steps = args.ego_steps if args.ego_steps is not None else base.get(
        "ego_steps", int(partner_steps * DEFAULTS["ego_frac"]))
    adapt_steps = args.adapt_steps if args.adapt_steps is not None else base.get(
        "adapt_steps", int(partner_steps * DEFAULTS["adapt_frac"]))
    partner_steps, ego_steps, adapt_steps = (int(s * args.scale) for s in (partner_steps, ego_steps, adapt_steps))
    if k < 2:
        parser.error(f"the pool needs >= 2 partners (train with K-1, hold one out), got {k}")
    if min(partner_steps, ego_steps, adapt_steps) < n_envs or n_envs < 1 or episodes < 1 or args.seed < 0:
        parser.error("budgets must be at least --n-envs env steps, and --n-envs, --eval-episodes >= 1, --seed >= 0")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    seed = args.seed
    holdout = k - 1
    source = "saved partners" if args.pool else f"self-play partners x {partner_steps:,d} env steps"
    print(f"Overcooked {LAYOUT}: {k} {source}, ego {ego_steps:,d}, adaptation {adapt_steps:,d} per arm, "
          f"{n_envs} copies", flush=True)

    # 1. the pool (policies)
    pool: list[Any] = []
    partner_curves: list[Curve] = []
    if args.pool:
        from pantheonrl.artifacts import load_policy

        pool = [load_policy(path, device="cpu") for path in args.pool]
        print(f"  loaded {', '.join(str(p) for p in args.pool)}", flush=True)
    for i in range(0 if args.pool else k):
        model, curve = train_partner(seed + 100 + i, partner_steps, n_envs)
        pool.append(model.policy)
        partner_curves.append(curve)
        last = curve.points[-1][1] if curve.points else float("nan")
        print(f"  partner {i}: self-play trained, last training episodes {last:.1f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    partner_self = [sparse_return(p, p, episodes, seed) for p in pool]

    # 2. the ego, round-robin over the training partners (frozen)
    training = pool[:holdout]
    ego, ego_curve = train_ego("PPO", training, ego_steps, n_envs, seed)
    ego_vs_train = [sparse_return(ego.policy, p, episodes, seed) for p in training]
    zero_shot = sparse_return(ego.policy, pool[holdout], episodes, seed)
    print(f"  ego trained with partners 0..{holdout - 1}: {np.mean(ego_vs_train):.1f} with them, "
          f"{zero_shot:.1f} zero-shot with partner {holdout} ({time.perf_counter() - t0:.0f} s)", flush=True)

    # 3. adaptation: fine-tune the ego vs a fresh PPO, same budget and settings
    heldout = [pool[holdout]]
    tuned, tuned_curve = train_ego(ego, heldout, adapt_steps, n_envs, seed, interaction=finetune)
    fresh, fresh_curve = train_ego("PPO", heldout, adapt_steps, n_envs, seed + 1)
    tuned_score = sparse_return(tuned.policy, pool[holdout], episodes, seed)
    fresh_score = sparse_return(fresh.policy, pool[holdout], episodes, seed)
    adapt = {"fine-tuned ego": tuned_curve, "fresh PPO": fresh_curve}

    png = args.out / "learning_curves.png"
    plot(png, partner_curves, ego_curve, adapt, zero_shot, holdout)
    summary = {
        "layout": LAYOUT,
        "budgets_env_steps": {"partner": None if args.pool else partner_steps, "ego": ego_steps,
                              "adaptation": adapt_steps},
        "pool": [str(p) for p in args.pool] if args.pool else None,
        "n_envs": n_envs,
        "eval_episodes": episodes,
        "partner_self_play": partner_self,
        "holdout": holdout,
        "ego_with_training_partners": ego_vs_train,
        "ego_zero_shot_with_holdout": zero_shot,
        "finetuned_with_holdout": tuned_score,
        "fresh_with_holdout": fresh_score,
        "curves": {
            **{f"partner{i}": c.points for i, c in enumerate(partner_curves)},
            "ego": ego_curve.points,
            "finetuned": tuned_curve.points,
            "fresh": fresh_curve.points,
        },
        "wall_s": time.perf_counter() - t0,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print("\nSummary (sparse return per episode, mean of "
          f"{episodes} sampled evaluation episodes, no shaping):")
    rows = [(f"partner {i} with itself" + (" (held out)" if i == holdout else ""), score, "")
            for i, score in enumerate(partner_self)]
    rows += [
        ("ego with its training partners (mean)", float(np.mean(ego_vs_train)),
         str([round(s, 1) for s in ego_vs_train])),
        ("ego zero-shot with held-out partner", zero_shot, ""),
        ("fine-tuned ego with held-out partner", tuned_score, f"(+{adapt_steps:,d} env steps)"),
        ("fresh PPO with held-out partner", fresh_score, f"({adapt_steps:,d} env steps)"),
    ]
    for label, score, note in rows:
        print(f"  {label:<40}{score:7.1f}  {note}".rstrip())
    print(f"  plot: {png}")
    print(f"  summary: {args.out / 'summary.json'}")
    print(f"  wall time: {summary['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
