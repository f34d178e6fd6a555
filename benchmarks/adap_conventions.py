"""D-1: ADAP on K-arm coordination: does one latent-conditioned policy cover several conventions?

docs/algorithms.md, sections 6.3 and 6.5. The game is ``KArmCoordination`` (K = 4 arms, one round): both
players score 1 when they pull the same arm, so each arm is one self-play convention. Both seats are ADAP with
a shared latent: the ego is ``ADAP("MlpPolicy", venv)`` on 8 game copies, and player 1 in every copy is the
ego's own policy playing with the ego's latent for that copy (``AdapAgent(ego, latent_syncer=ego)``), so each z
is one self-play convention. Two arms per seed, same seed, same everything except alpha:

* ``adap``: ``context_loss_coeff`` alpha = 0.1;
* ``control``: alpha = 0 (plain PPO on ``obs ⊕ z``).

Metrics (per seed), from 100 latents drawn from the prior (their own generator):

* **conventions covered**: arms that are the most likely action for at least 5 of the 100 latents;
* **mean self-play** over the latents, exact for one round: ``SP(z) = sum_a pi(a|z)^2``;
* **latent search** (ADAP arm only): for each "always arm k" partner, :func:`latent_search` (evolutionary, 20
  evaluations, each the mean reward of 50 sampled episodes with that partner); the best z is then re-scored on
  200 fresh episodes, and the search succeeds when that reward is >= 0.9.

Pass criteria (targets we set; medians over seeds): ADAP covers >= 3 conventions with mean self-play >= 0.9, the
control covers <= 2, and the latent search succeeds against >= 3 of the 4 partners.

Training set-up (our choice, the same for both arms): PPO with ``n_steps=128`` x 8 copies, one minibatch of 1024,
60 epochs, lr 3e-4, unnormalized advantages, 50k steps. The entropy coefficient is held at 0.35 for the first 40%
of training and annealed to 0 by 80%. Why: at the start every latent plays (almost) uniformly, and which
conventions appear is decided by which deviations from uniform grow first. With the entropy bonus just above
what PPO's self-play feedback can overcome, PPO alone keeps the policy uniform, while the diversity term still
makes latent-dependent deviations grow; many epochs per rollout let the (unclipped) diversity term act after
PPO's clipped step is spent. Without the schedule both arms mostly end with 1-2 conventions at alpha = 0.1.

Usage::

    python benchmarks/adap_conventions.py                       # 5 seeds, about 4-5 minutes
    python benchmarks/adap_conventions.py --quick               # 1 seed
    python benchmarks/adap_conventions.py --seeds 0 1 2 --json results.json

The script ends with::

    RESULT adap_conventions covered=3 target=>=3 PASS
    RESULT adap_self_play sp=0.95 target=>=0.9 PASS
    RESULT adap_control covered=2 target=<=2 PASS
    RESULT adap_latent_search successes=4 target=>=3 PASS

A FAIL is printed honestly; the exit status is still 0 (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from pantheonrl.algos.adap import ADAP, AdapAgent, latent_search
from pantheonrl.algos.adap.policies import augment_observations
from pantheonrl.algos.adap.util import sample_contexts
from pantheonrl.envs.toy.karm import AlwaysArmAgent, KArmCoordination
from pantheonrl.vec import MultiAgentVecEnv

N_ARMS = 4
ALPHA = 0.1
STEPS = 50_000
N_ENVS = 8
PPO_KWARGS: dict[str, Any] = {
    "n_steps": 128,
    "batch_size": 1024,
    "n_epochs": 60,
    "learning_rate": 3e-4,
    "normalize_advantage": False,
}
ADAP_KWARGS: dict[str, Any] = {
    "context_size": 3,
    "context_sampler": "l2",
    "num_context_samples": 5,
    "num_state_samples": 32,
}
ENTROPY = {"start": 0.35, "hold": 0.4, "end": 0.8}
EVAL_LATENTS = 100
MIN_SHARE = 5  # an arm is covered when it is the argmax for >= 5 of the 100 latents
SEARCH_EVALS = 20
SEARCH_EPISODES = 50
CHECK_EPISODES = 200
SUCCESS = 0.9
DEFAULT_SEEDS = [0, 1, 2, 3, 4]
QUICK_SEEDS = [0]


class EntropySchedule(BaseCallback):
    """Hold ``ent_coef`` at ``start`` until ``hold`` of training, then anneal it linearly to 0 at ``end``."""

    def __init__(self, total: int, start: float, hold: float, end: float) -> None:
        super().__init__()
        self.total, self.start, self.hold, self.end = total, start, hold, end

    def coef(self, progress: float) -> float:
        if progress < self.hold:
            return self.start
        return max(0.0, self.start * (1.0 - (progress - self.hold) / (self.end - self.hold)))

    def _on_rollout_start(self) -> None:
        self.model.ent_coef = self.coef(self.num_timesteps / self.total)

    def _on_step(self) -> bool:
        return True


def train(alpha: float, seed: int, steps: int) -> ADAP:
    """ADAP in both seats of 8 K-arm copies, the partner sharing the ego's weights and per-copy latent."""
    venv = MultiAgentVecEnv(lambda: KArmCoordination(n_arms=N_ARMS, rounds=1), n_envs=N_ENVS)
    ego = ADAP(
        "MlpPolicy", venv, context_loss_coeff=alpha, seed=seed, device="cpu", **PPO_KWARGS, **ADAP_KWARGS
    )
    AdapAgent(ego, latent_syncer=ego).add_to_copies(venv, player_num=1)
    venv.seed(seed)
    ego.learn(steps, callback=EntropySchedule(steps, **ENTROPY))
    return ego


def action_probs(model: ADAP, latents: np.ndarray) -> np.ndarray:
    """pi(. | z) for each latent, at the one-round game's only observation [1.0]."""
    rows = augment_observations(np.ones((len(latents), 1), dtype=np.float32), latents)
    with torch.no_grad():
        dist = model.policy.get_distribution(torch.as_tensor(rows, device=model.device))
    return dist.distribution.probs.cpu().numpy()


def eval_latents(model: ADAP, seed: int) -> np.ndarray:
    """The latents the metrics use: drawn from the model's prior by a generator of their own."""
    rng = np.random.default_rng(10_000 + seed)
    return sample_contexts(model.context_sampler, model.context_size, EVAL_LATENTS, rng)


def conventions(model: ADAP, seed: int) -> dict[str, Any]:
    probs = action_probs(model, eval_latents(model, seed))
    counts = np.bincount(probs.argmax(axis=1), minlength=N_ARMS)
    return {
        "covered": int((counts >= MIN_SHARE).sum()),
        "argmax_counts": counts.tolist(),
        "mean_self_play": float((probs**2).sum(axis=1).mean()),
    }


def partner_reward(model: ADAP, z: np.ndarray, arm: int, episodes: int, rng: np.random.Generator) -> float:
    """Mean reward of ``episodes`` one-round games: the ego samples from pi(. | z), the partner always plays ``arm``."""
    env = KArmCoordination(n_arms=N_ARMS, rounds=1, partners=[AlwaysArmAgent(arm, N_ARMS)])
    env.reset(seed=int(rng.integers(2**31)))
    policy = model.policy
    policy.set_context(z)
    total = 0.0
    obs = None
    for _ in range(episodes):
        obs, _ = env.reset()
        action, _ = policy.predict(obs[None], deterministic=False)
        _, reward, terminated, truncated, _ = env.step(int(action[0]))
        assert terminated or truncated
        total += reward
    return total / episodes


def search_partners(model: ADAP, seed: int) -> dict[str, Any]:
    results = []
    for arm in range(N_ARMS):
        rng = np.random.default_rng(20_000 + 100 * seed + arm)
        z, score = latent_search(
            lambda z, arm=arm, rng=rng: partner_reward(model, z, arm, SEARCH_EPISODES, rng),
            model.context_sampler,
            SEARCH_EVALS,
            context_size=model.context_size,
            rng=rng,
        )
        check = partner_reward(model, z, arm, CHECK_EPISODES, rng)
        results.append(
            {"arm": arm, "search_score": score, "check_reward": check, "success": check >= SUCCESS, "z": z.tolist()}
        )
    return {"successes": int(sum(r["success"] for r in results)), "partners": results}


def bootstrap_ci(values: list[float], seed: int = 0, n: int = 2000) -> list[float]:
    arr = np.asarray(values, dtype=float)
    if len(arr) < 2:
        return [float(arr.mean()), float(arr.mean())]
    rng = np.random.default_rng(seed)
    means = rng.choice(arr, size=(n, len(arr)), replace=True).mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "per_seed": values,
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "ci95": bootstrap_ci(values),
    }


def result_line(name: str, metric: str, value: float, target: str, ok: bool, fmt: str = "{:g}") -> str:
    return f"RESULT {name} {metric}={fmt.format(value)} target={target} {'PASS' if ok else 'FAIL'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed (about a minute)")
    parser.add_argument("--seeds", type=int, nargs="+", help=f"seeds (default {DEFAULT_SEEDS}; --quick: {QUICK_SEEDS})")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps per arm (default {STEPS})")
    parser.add_argument("--json", type=Path, help="write config, seeds, metrics and verdicts here")
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds else (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    if args.steps < N_ENVS * PPO_KWARGS["n_steps"] or any(s < 0 for s in seeds):
        parser.error(f"--steps must be >= {N_ENVS * PPO_KWARGS['n_steps']} (one rollout) and seeds >= 0")
    torch.set_num_threads(1)
    started = time.perf_counter()

    runs = []
    for seed in seeds:
        t0 = time.perf_counter()
        adap = train(ALPHA, seed, args.steps)
        t1 = time.perf_counter()
        control = train(0.0, seed, args.steps)
        t2 = time.perf_counter()
        run = {
            "seed": seed,
            "adap": conventions(adap, seed),
            "control": conventions(control, seed),
            "latent_search": search_partners(adap, seed),
            "seconds": {"adap": t1 - t0, "control": t2 - t1, "search": time.perf_counter() - t2},
        }
        runs.append(run)
        a, c, s = run["adap"], run["control"], run["latent_search"]
        print(
            f"seed {seed}: adap covered={a['covered']} counts={a['argmax_counts']} sp={a['mean_self_play']:.3f} | "
            f"control covered={c['covered']} counts={c['argmax_counts']} sp={c['mean_self_play']:.3f} | "
            f"search successes={s['successes']} rewards="
            f"{[round(p['check_reward'], 3) for p in s['partners']]} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )

    covered = summary([r["adap"]["covered"] for r in runs])
    self_play = summary([r["adap"]["mean_self_play"] for r in runs])
    control = summary([r["control"]["covered"] for r in runs])
    control_sp = summary([r["control"]["mean_self_play"] for r in runs])
    search = summary([r["latent_search"]["successes"] for r in runs])
    verdicts = {
        "adap_conventions": covered["median"] >= 3,
        "adap_self_play": self_play["mean"] >= 0.9,
        "adap_control": 1 <= control["median"] <= 2,
        "adap_latent_search": search["median"] >= 3,
    }
    for name, stats in (("ADAP covered", covered), ("ADAP mean SP", self_play), ("control covered", control),
                        ("control mean SP", control_sp), ("search successes", search)):
        lo, hi = stats["ci95"]
        shown = [round(v, 3) for v in stats["per_seed"]]
        print(f"{name}: per seed {shown}, mean {stats['mean']:.3f} [95% CI {lo:.3f}, {hi:.3f}], "
              f"median {stats['median']:.3g}")
    elapsed = time.perf_counter() - started
    print(f"seeds {seeds}, {args.steps} steps per arm, {elapsed:.0f} s")

    if args.json:
        data = {
            "benchmark": "adap_conventions",
            "config": {
                "steps": args.steps, "n_envs": N_ENVS, "alpha": ALPHA, "n_arms": N_ARMS, "ppo": PPO_KWARGS,
                "adap": ADAP_KWARGS, "entropy_schedule": ENTROPY, "eval_latents": EVAL_LATENTS,
                "min_share": MIN_SHARE, "search_evals": SEARCH_EVALS, "search_episodes": SEARCH_EPISODES,
                "check_episodes": CHECK_EPISODES, "success_reward": SUCCESS,
            },
            "seeds": seeds,
            "runs": runs,
            "metrics": {"adap_covered": covered, "adap_mean_self_play": self_play, "control_covered": control,
                        "control_mean_self_play": control_sp, "latent_search_successes": search},
            "pass": verdicts,
            "seconds": elapsed,
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "torch": torch.__version__, "cpus": os.cpu_count()},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2) + "\n")

    print(result_line("adap_conventions", "covered", covered["median"], ">=3", verdicts["adap_conventions"]))
    print(result_line("adap_self_play", "sp", self_play["mean"], ">=0.9", verdicts["adap_self_play"], "{:.3f}"))
    print(result_line("adap_control", "covered", control["median"], "<=2", verdicts["adap_control"]))
    print(result_line("adap_latent_search", "successes", search["median"], ">=3", verdicts["adap_latent_search"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
