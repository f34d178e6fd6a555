"""A-1 (docs/algorithms.md, section 3.9): CoMeDi's second convention on Blind Bandits is the risky one.

Blind Bandits (``BlindBandits-v0``): two seats alternate 6 blind binary moves; the safe convention (b1 = 0,
b6 = 0) scores 1, the risky one (100001) scores 3, and uniform play finds the risky arm 1 time in 64, which is
why plain self-play lands on "safe". Per seed:

1. **CoMeDi**: ``ConventionPopulation(n_conventions=2, alpha=0.5, beta=0)``; convention 0 is plain shared-weight
   PPO self-play, convention 1 maximises SP - alpha XP with convention 0.
2. **Control**: a second, independent self-play run (convention 1's seed, ``alpha = 0``) next to the same
   convention 0.

Settings (toolkit defaults, section 3.4): SB3 MlpPolicy 2x64 tanh, lr 3e-4, 4 copies x 50 steps per update
(200 decisions of one seat), the whole buffer as one minibatch, 10 epochs, entropy 0.01, 10,000 steps per
convention (50 updates). Each convention is evaluated with ``pantheonrl.eval.crossplay``: 100 games per seat
order (200 per cell), sampled actions.

Pass (targets we set):

* ``comedi_blind_bandits``: convention 1 has mean SP >= 2.7, >= 90% of its games score 3, and XP with
  convention 0 <= 0.1, in >= 7 of the 10 seeds;
* ``comedi_blind_bandits_control``: the control's second convention scores 3 (same SP test) in <= 3 seeds;
* ``comedi_blind_bandits_conv0``: convention 0 scores 1 in >= 90% of its games in >= 8 seeds.

Output: one line per seed, the cross-play matrices, then::

    RESULT comedi_blind_bandits seeds_found=<n> target=>=7 PASS|FAIL
    RESULT comedi_blind_bandits_control seeds_found=<n> target=<=3 PASS|FAIL
    RESULT comedi_blind_bandits_conv0 seeds_safe=<n> target=>=8 PASS|FAIL

The exit status is 0 either way (2 for bad arguments). ``--json PATH`` writes the config, seeds, matrices,
per-seed results and verdicts. ``--quick`` runs 2 seeds with 2,000 steps per convention (a smoke run: its
verdicts are not meaningful). ``--workers 2`` runs seeds in two processes.

Usage::

    python benchmarks/comedi_blind_bandits.py              # full: 10 seeds, about 5-8 minutes on 2 shared cores
    python benchmarks/comedi_blind_bandits.py --quick --json /tmp/a1.json
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import benchmark_parser, resolve_sizes, verdict, write_json_atomic

from pantheonrl.algos.comedi import ConventionPopulation
from pantheonrl.envs.toy.blind_bandits import BlindBandits

HYPER = {"alpha": 0.5, "beta": 0.0, "n_envs": 4, "n_steps": 50, "learning_rate": 3e-4, "n_epochs": 10,
         "ent_coef": 0.01, "device": "cpu"}
FULL = {"seeds": 10, "steps": 10_000, "episodes": 100}
QUICK = {"seeds": 2, "steps": 2_000, "episodes": 20}
TARGET_FOUND, TARGET_CONTROL, TARGET_CONV0 = 7, 3, 8


def scores(returns: np.ndarray) -> dict[str, float]:
    flat = np.asarray(returns).ravel()
    return {"mean": float(flat.mean()), "frac3": float(np.mean(flat == 3)), "frac1": float(np.mean(flat == 1))}


def finds_risky(sp: dict[str, float]) -> bool:
    return sp["mean"] >= 2.7 and sp["frac3"] >= 0.9


def run_seed(seed: int, steps: int, episodes: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    started = time.time()
    comedi = ConventionPopulation(BlindBandits, 2, seed=seed, **HYPER)
    comedi.learn(steps)
    control = ConventionPopulation(BlindBandits, 2, seed=seed, **{**HYPER, "alpha": 0.0})
    control.conventions.append(comedi.conventions[0])  # the same convention 0; convention 1 is plain self-play
    control.learn(steps)
    out: dict[str, Any] = {"seed": seed}
    for name, pop in (("comedi", comedi), ("control", control)):
        result = pop.crossplay(BlindBandits, episodes, seed=seed)
        out[name] = {
            "matrix": result.means.round(4).tolist(),
            "sp0": scores(result.returns[0, 0]),
            "sp1": scores(result.returns[1, 1]),
            "xp": float(result.means[1, 0]),
        }
    c = out["comedi"]
    out["found"] = finds_risky(c["sp1"]) and c["xp"] <= 0.1
    out["control_found"] = finds_risky(out["control"]["sp1"])
    out["conv0_safe"] = c["sp0"]["frac1"] >= 0.9
    out["wall_s"] = round(time.time() - started, 1)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return benchmark_parser(__doc__.splitlines()[0], "smoke run: 2 seeds, 2,000 steps per convention", {
        "seeds": "number of seeds 0..N-1 (default 10)",
        "steps": "steps (decisions of one seat) per convention (10,000)",
        "episodes": "evaluation games per seat order (100)",
    }).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    cfg = resolve_sizes(args, FULL, QUICK)
    print(f"A-1 Blind Bandits: {cfg['seeds']} seeds x 2 conventions x {cfg['steps']} steps, {HYPER}", flush=True)
    started = time.time()
    seeds = list(range(cfg["seeds"]))
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_seed, s, cfg["steps"], cfg["episodes"]) for s in seeds]
        runs = []
        for future in futures:
            r = future.result()
            runs.append(r)
            c, k = r["comedi"], r["control"]
            print(f"seed {r['seed']}: conv0 SP {c['sp0']['mean']:.2f} ({c['sp0']['frac1']:.0%} score 1) | "
                  f"CoMeDi conv1 SP {c['sp1']['mean']:.2f} ({c['sp1']['frac3']:.0%} score 3), XP {c['xp']:.2f} "
                  f"-> {'risky' if r['found'] else 'not found'} | control conv1 SP {k['sp1']['mean']:.2f} "
                  f"({k['sp1']['frac3']:.0%} score 3), XP {k['xp']:.2f} | {r['wall_s']:.0f} s", flush=True)
    for r in runs:
        print(f"seed {r['seed']} cross-play matrix (rows: convention 0, 1; mean return over both seat orders): "
              f"CoMeDi {r['comedi']['matrix']}, control {r['control']['matrix']}")
    found = sum(r["found"] for r in runs)
    control = sum(r["control_found"] for r in runs)
    safe = sum(r["conv0_safe"] for r in runs)
    scale = cfg["seeds"] / FULL["seeds"]
    t_found, t_control, t_safe = (round(TARGET_FOUND * scale), int(TARGET_CONTROL * scale),
                                  round(TARGET_CONV0 * scale))
    verdicts = {"found": found >= t_found, "control": control <= t_control, "conv0": safe >= t_safe}
    wall = time.time() - started
    print(f"wall time {wall:.0f} s")
    if args.json:
        write_json_atomic(args.json, {"benchmark": "A-1 comedi_blind_bandits", "config": cfg, "hyper": HYPER,
                                      "seeds": seeds, "runs": runs, "wall_s": round(wall, 1),
                                      "verdicts": verdicts})
    print(f"RESULT comedi_blind_bandits seeds_found={found} target=>={t_found} {verdict(verdicts['found'])}")
    print(f"RESULT comedi_blind_bandits_control seeds_found={control} target=<={t_control} "
          f"{verdict(verdicts['control'])}")
    print(f"RESULT comedi_blind_bandits_conv0 seeds_safe={safe} target=>={t_safe} {verdict(verdicts['conv0'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
