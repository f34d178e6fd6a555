"""E-1 (docs/algorithms.md, section 7.6): modular policies adapt to new partners faster than baselines.

Arms (n=4 contexts, m=1 rule context, 8 arms; one-step episodes). Partners are fixed deterministic scripted
partners (:class:`~pantheonrl.envs.toy.arms.ArmsPartner`): one bit per free context, drawn with a seeded
generator; 10 training partners (seed ``S``) and 10 test partners (seed ``S + 1000``). With n=4, m=1 there
are only 8 conventions, so test partners can share a convention with a training partner; each adaptation
still starts from a fresh partner module (or, for scratch, a fresh policy) and never sees the training module
of that convention.

1. **Train** (``--train-steps``, default 10,000 ego steps over all partners) ``ModularAlgorithm`` with
   ``ModularPolicy`` (task module [30, 30], partner modules [30, 30], ReLU), PPO n_steps 64 per partner,
   batch 16, 20 epochs, entropy 0, lr 3e-4, marginal_reg_coef 0.5: the *modular* arm. The *baseline-agg* arm
   is the same with ``baseline=True`` (one partner module shared by all partners: a monolithic policy).
2. **Adapt** to each test partner for 240 steps (PPO n_steps 16, batch 16, 50 epochs), evaluating before
   training and after every update (every 16 steps):

   * modular: ``add_partner_module()`` (a fresh module), both task and partner modules trainable;
   * baseline-agg: the whole trained policy is fine-tuned (its shared module serves the new partner);
   * scratch: a fresh ``ModularPolicy`` with one partner module.

   As in the reference's adaptation runs, marginal_reg_coef is 0 while adapting (only one partner is played).

   The evaluation is the exact expected reward of the sampling policy against the partner,
   ``(1/n) sum_c pi(a_partner(c) | c) R(c, a_partner(c), a_partner(c))``: the mean over contexts of
   infinitely many episodes (the reference sampled 200), so it has no evaluation noise.
   *Steps to 0.9* is the first evaluation point with reward >= 0.9; an arm that never reaches it within 240
   steps counts as 256 (one evaluation past the budget: a lower bound).
3. **Zero-shot to a new task**: the inverted task (the rule context pays arm ``c + n``); partners keep their
   bits. A copy of the trained modular policy has its partner modules frozen and its task module retrained
   (``--zero-shot-steps``, default 5,000, within the spec's 10k; marginal_reg_coef 0.5) against the first
   half of the training partners in the inverted task; it is then evaluated, without any further training,
   with the *other half's* old partner modules against those partners in the inverted task (their modules
   never saw it). This mirrors the reference's ``adapt_task`` (retrain the task module with some partners'
   frozen modules, compose it with other partners' modules), using training partners for the retraining
   instead of partner modules newly fitted to test partners. Before retraining, the task module's logit head
   is re-initialised (``ModularPolicy.reset_main_logits``; the rest of the task module keeps its weights):
   trained with entropy 0, ``f`` gives the old rule's arm a probability of about 1 - 3e-4, so PPO would never
   try the new rule's arm (without the reset the reward stays at 0.75: every context but the rule one).

Pass (targets we set):

* ``modular_adapt``: modular reaches >= 0.9 within <= 96 steps on >= 8 of the 10 test partners;
* ``modular_vs_baselines``: slowdown = min(median steps of baseline-agg, median steps of scratch) / median
  steps of modular >= 1.5;
* ``modular_zero_shot``: the mean zero-shot reward >= 0.8.

Output: progress, a table per arm, and::

    RESULT modular_adapt partners_within_96=<n> target=>=8 PASS|FAIL
    RESULT modular_vs_baselines slowdown=<x.xx> target=>=1.5 PASS|FAIL
    RESULT modular_zero_shot reward=<x.xx> target=>=0.8 PASS|FAIL

A FAIL is printed honestly; the exit status is 0 either way (2 for bad arguments). ``--json PATH`` writes the
config, seeds, per-partner curves, steps to threshold (mean, median and a 95% bootstrap interval over
partners) and the verdicts. ``--quick`` (about a minute) trains 2,560 steps and adapts to 3 partners: a smoke
run, its verdicts are not meaningful.

Usage::

    python benchmarks/modular_adapt.py              # full, about 3-5 minutes on 2 shared cores
    python benchmarks/modular_adapt.py --quick --json /tmp/e1.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import stable_baselines3
import torch

from pantheonrl.algos.modular import ModularAlgorithm, ModularPolicy
from pantheonrl.envs.toy.arms import ArmsEnv, ArmsPartner, arms_reward, random_arms_partners

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import positive, write_json_atomic

NAME = "modular_adapt"
N, M = 4, 1
THRESHOLD = 0.9
WITHIN = 96
TARGET_PARTNERS = 8
TARGET_SLOWDOWN = 1.5
TARGET_ZERO_SHOT = 0.8
TRAIN = {"n_steps": 64, "batch_size": 16, "n_epochs": 20, "ent_coef": 0.0, "learning_rate": 3e-4}
ADAPT = {"n_steps": 16, "batch_size": 16, "n_epochs": 50, "ent_coef": 0.0, "learning_rate": 3e-4}
LAMBDA = 0.5
FULL = {"train_steps": 10_000, "zero_shot_steps": 5_000, "n_train": 10, "n_test": 10, "adapt_steps": 240}
QUICK = {"train_steps": 2_560, "zero_shot_steps": 1_280, "n_train": 10, "n_test": 3, "adapt_steps": 240}
ARMS = ("modular", "baseline_agg", "scratch")


def make_env(partners: list[ArmsPartner], inverted: bool = False, seed: int | None = None) -> ArmsEnv:
    env = ArmsEnv(N, M, inverted=inverted)
    for partner in partners:
        env.add_partner_agent(partner.for_task(inverted))
    env.reset(seed=seed)
    return env


def expected_reward(policy: ModularPolicy, partner_idx: int, partner: ArmsPartner, inverted: bool = False) -> float:
    """Exact expected reward of the sampling policy (module ``partner_idx``) against ``partner``."""
    obs = torch.arange(N)
    with torch.no_grad():
        probs = policy.get_distribution(obs, partner_idx=partner_idx).distribution.probs.cpu().numpy()
    partner = partner.for_task(inverted)
    total = 0.0
    for c in range(N):
        arm = partner.arm(c)
        total += probs[c, arm] * arms_reward(c, arm, arm, N, M, inverted)
    return float(total / N)


def train_population(
    partners: list[ArmsPartner], steps: int, seed: int, baseline: bool
) -> tuple[ModularAlgorithm, float]:
    model = ModularAlgorithm(
        ModularPolicy,
        make_env(partners, seed=seed),
        marginal_reg_coef=LAMBDA,
        policy_kwargs={"num_partners": len(partners), "baseline": baseline},
        seed=seed,
        device="cpu",
        **TRAIN,
    )
    start = time.perf_counter()
    model.learn(steps)
    return model, time.perf_counter() - start


def adaptation_model(kind: str, trained: dict[str, ModularAlgorithm], partner: ArmsPartner, seed: int) -> tuple:
    """A model to adapt to ``partner`` (the env's only partner) and the partner module it trains."""
    env = make_env([partner], seed=seed)
    if kind == "scratch":
        model = ModularAlgorithm(
            ModularPolicy, env, policy_kwargs={"num_partners": 1}, seed=seed, device="cpu", **ADAPT
        )
        return model, 0
    source = trained[kind]
    model = ModularAlgorithm(
        ModularPolicy,
        env,
        policy_kwargs=dict(source.policy_kwargs),
        seed=seed,
        device="cpu",
        **ADAPT,
    )
    model.policy.load_state_dict(source.policy.state_dict())
    module = model.add_partner_module()
    model.set_training_partners([module], env_partner_ids=[0])
    model.set_active_partner(module)
    return model, module


def adapt_curve(model: ModularAlgorithm, module: int, partner: ArmsPartner, budget: int) -> list[float]:
    curve = [expected_reward(model.policy, module, partner)]
    while model.num_timesteps < budget:
        model.learn(ADAPT["n_steps"], reset_num_timesteps=model.num_timesteps == 0)
        curve.append(expected_reward(model.policy, module, partner))
    return curve


def steps_to_threshold(curve: list[float], every: int, budget: int) -> int:
    for i, reward in enumerate(curve):
        if reward >= THRESHOLD:
            return i * every
    return budget + every


def bootstrap_ci(values: list[float], seed: int, reps: int = 2000) -> list[float]:
    rng = np.random.default_rng(seed)
    arr = np.asarray(values, dtype=float)
    means = [float(np.mean(rng.choice(arr, size=arr.size))) for _ in range(reps)]
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def zero_shot(
    trained: ModularAlgorithm, partners: list[ArmsPartner], steps: int, seed: int
) -> tuple[dict[str, Any], float]:
    """Retrain the task module (logit head re-initialised) on the inverted task, partner modules frozen, with
    the first half of the partners; evaluate every partner's old module, composed with the new task module,
    in the inverted task."""
    half = len(partners) // 2
    env = make_env(partners, inverted=True, seed=seed)
    model = ModularAlgorithm(
        ModularPolicy,
        env,
        marginal_reg_coef=LAMBDA,
        policy_kwargs=dict(trained.policy_kwargs),
        seed=seed,
        device="cpu",
        **TRAIN,
    )
    model.policy.load_state_dict(trained.policy.state_dict())
    before = [expected_reward(model.policy, k, p, inverted=True) for k, p in enumerate(partners)]
    model.policy.reset_main_logits()
    model.set_freeze_partner(True)
    model.set_training_partners(list(range(half)))
    start = time.perf_counter()
    model.learn(steps)
    elapsed = time.perf_counter() - start
    after = [expected_reward(model.policy, k, p, inverted=True) for k, p in enumerate(partners)]
    normal = [expected_reward(model.policy, k, p, inverted=False) for k, p in enumerate(partners)]
    result = {
        "retrain_partners": list(range(half)),
        "zero_shot_partners": list(range(half, len(partners))),
        "inverted_reward_before_retraining": before,
        "inverted_reward_after": after,
        "normal_task_reward_after": normal,
        "retrain_partners_reward": float(np.mean(after[:half])),
        "zero_shot_reward": float(np.mean(after[half:])),
    }
    return result, elapsed



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,560 training steps, 3 test partners")
    parser.add_argument("--seed", type=int, default=0, help="seed of the partners and of every model (default 0)")
    parser.add_argument("--train-steps", type=positive, help="training steps of modular and baseline-agg")
    parser.add_argument("--zero-shot-steps", type=positive, help="task-module retraining steps (<= 10,000)")
    parser.add_argument("--test-partners", type=positive, help="number of test partners (default 10)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results to PATH (atomically)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    cfg = dict(QUICK if args.quick else FULL)
    for key, value in (
        ("train_steps", args.train_steps),
        ("zero_shot_steps", args.zero_shot_steps),
        ("n_test", args.test_partners),
    ):
        if value is not None:
            cfg[key] = value
    seed = args.seed
    t0, cpu0 = time.perf_counter(), time.process_time()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    train_partners = random_arms_partners(cfg["n_train"], N, M, seed=seed)
    test_partners = random_arms_partners(cfg["n_test"], N, M, seed=seed + 1000)
    print(f"training partners: {[p.convention for p in train_partners]}")
    print(f"test partners:     {[p.convention for p in test_partners]}")

    trained: dict[str, ModularAlgorithm] = {}
    timings: dict[str, float] = {}
    train_fit: dict[str, list[float]] = {}
    for kind, baseline in (("modular", False), ("baseline_agg", True)):
        model, elapsed = train_population(train_partners, cfg["train_steps"], seed, baseline)
        trained[kind], timings[f"train_{kind}"] = model, elapsed
        train_fit[kind] = [expected_reward(model.policy, k, p) for k, p in enumerate(train_partners)]
        print(
            f"trained {kind}: {model.num_timesteps} steps in {elapsed:.1f} s; reward vs training partners "
            f"mean {np.mean(train_fit[kind]):.3f} min {np.min(train_fit[kind]):.3f}"
        )

    every, budget = ADAPT["n_steps"], cfg["adapt_steps"]
    curves: dict[str, list[list[float]]] = {kind: [] for kind in ARMS}
    steps: dict[str, list[int]] = {kind: [] for kind in ARMS}
    adapt_start = time.perf_counter()
    for j, partner in enumerate(test_partners):
        for kind in ARMS:
            model, module = adaptation_model(kind, trained, partner, seed + 100 + j)
            curve = adapt_curve(model, module, partner, budget)
            curves[kind].append(curve)
            steps[kind].append(steps_to_threshold(curve, every, budget))
        print(
            f"test partner {j} {partner.convention}: steps to {THRESHOLD} "
            + ", ".join(f"{kind}={steps[kind][-1]}" for kind in ARMS)
        )
    timings["adaptation"] = time.perf_counter() - adapt_start

    zs, timings["zero_shot_retrain"] = zero_shot(trained["modular"], train_partners, cfg["zero_shot_steps"], seed)
    print(
        f"zero-shot (inverted task): retrained with partners {zs['retrain_partners']}: "
        f"{zs['retrain_partners_reward']:.3f}; old modules of partners {zs['zero_shot_partners']}: "
        f"{zs['zero_shot_reward']:.3f} (before retraining: {np.mean(zs['inverted_reward_before_retraining']):.3f})"
    )

    summary: dict[str, Any] = {}
    print(f"\n{'arm':<14}{'median':>8}{'mean':>8}  {'95% CI of mean':<18}{'reached':>8}  final reward")
    for i, kind in enumerate(ARMS):
        values = steps[kind]
        ci = bootstrap_ci(values, seed + i)
        reached = sum(v <= budget for v in values)
        final = float(np.mean([c[-1] for c in curves[kind]]))
        summary[kind] = {
            "steps_to_threshold": values,
            "median": float(np.median(values)),
            "mean": float(np.mean(values)),
            "ci95_mean": ci,
            "reached": reached,
            "final_reward_mean": final,
            "curve_mean": [float(x) for x in np.mean(np.asarray(curves[kind]), axis=0)],
        }
        print(
            f"{kind:<14}{np.median(values):>8.0f}{np.mean(values):>8.1f}  [{ci[0]:6.1f}, {ci[1]:6.1f}]    "
            f"{reached:>5}/{len(values)}  {final:.3f}"
        )
    within = sum(v <= WITHIN for v in steps["modular"])
    base = max(summary["modular"]["median"], float(every))
    slowdown = min(summary["baseline_agg"]["median"], summary["scratch"]["median"]) / base
    verdicts = {
        "modular_adapt": within >= TARGET_PARTNERS * len(test_partners) / 10,
        "modular_vs_baselines": slowdown >= TARGET_SLOWDOWN,
        "modular_zero_shot": zs["zero_shot_reward"] >= TARGET_ZERO_SHOT,
    }
    total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(
        f"\nwall timings (s): {', '.join(f'{k}={v:.1f}' for k, v in timings.items())}, total={total:.1f}; "
        f"process CPU {cpu:.1f} s; load average {load_start} -> {load_end}"
    )
    if args.json:
        write_json_atomic(
            args.json,
            {
                "benchmark": NAME,
                "config": {
                    **cfg,
                    "n": N,
                    "m": M,
                    "marginal_reg_coef": LAMBDA,
                    "adapt_marginal_reg_coef": 0.0,
                    "train_ppo": TRAIN,
                    "adapt_ppo": ADAPT,
                    "threshold": THRESHOLD,
                    "within": WITHIN,
                    "never_counts_as": budget + every,
                },
                "seeds": {
                    "models": seed,
                    "train_partners": seed,
                    "test_partners": seed + 1000,
                    "adaptation": [seed + 100 + j for j in range(len(test_partners))],
                },
                "train_partners": [p.convention for p in train_partners],
                "test_partners": [p.convention for p in test_partners],
                "train_fit": train_fit,
                "adaptation": {kind: {**summary[kind], "curves": curves[kind]} for kind in ARMS},
                "zero_shot": zs,
                "metrics": {
                    "partners_within_96": within,
                    "slowdown": slowdown,
                    "zero_shot_reward": zs["zero_shot_reward"],
                },
                "pass": verdicts,
                "timings_s": {**timings, "total": total, "process_cpu": cpu},
                "loadavg": [load_start, load_end],
                "versions": {
                    "python": platform.python_version(),
                    "torch": torch.__version__,
                    "sb3": stable_baselines3.__version__,
                },
            },
        )

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    n_target = TARGET_PARTNERS if len(test_partners) == 10 else f"{TARGET_PARTNERS}/10"
    print(f"RESULT modular_adapt partners_within_96={within} target=>={n_target} {verdict(verdicts['modular_adapt'])}")
    print(
        f"RESULT modular_vs_baselines slowdown={slowdown:.2f} target=>={TARGET_SLOWDOWN} "
        f"{verdict(verdicts['modular_vs_baselines'])}"
    )
    print(
        f"RESULT modular_zero_shot reward={zs['zero_shot_reward']:.2f} target=>={TARGET_ZERO_SHOT} "
        f"{verdict(verdicts['modular_zero_shot'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
