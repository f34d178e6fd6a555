"""B-2 (benchmarks/lowrank_particle.py) runs end to end in its quick configuration and reports in the agreed
format; on real Particle demonstrations, adaptation's gradient reaches only the partner-action dims
(docs/algorithms.md 4.4, property 6) and adapting to a held-out partner moves the ego towards the true ego.
The pass criterion is checked by running the benchmark in full (benchmarks/README.md), not here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th

from pantheonrl.algos.lowrank import LowRankPolicy
from pantheonrl.envs.toy.particle import (
    EGO_DIMS,
    PARTNER_DIMS,
    START_BOX,
    RatioEgo,
    RatioPartner,
    joint_dataset,
    ratio_ego_action,
    record_demonstrations,
)

th.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "lowrank_particle.py"
RESULT = re.compile(r"^RESULT lowrank_particle normalized_return=(-?\d+\.\d+) target=>=0\.9 (PASS|FAIL)$")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_quick_run_reports_result_and_json(tmp_path):
    proc = _run("--quick", "--json", str(tmp_path / "b2.json"))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert len(lines) == 1 and proc.stdout.rstrip().endswith(lines[0])
    m = RESULT.match(lines[0])
    assert m, lines[0]
    data = json.loads((tmp_path / "b2.json").read_text())
    assert data["seeds"] == [0] and data["main_budget"] == 50
    assert float(m.group(1)) == pytest.approx(data["normalized_return"], abs=5e-4)
    assert m.group(2) == ("PASS" if data["pass"] else "FAIL")
    assert not set(data["test_rhos"]) & set(data["train_rhos"])
    for p in data["runs"][0]["partners"]:
        for row in p["budgets"].values():
            for rec in row.values():
                want = (rec["return"] - p["r_unadapted"]) / (p["r_true"] - p["r_unadapted"])
                assert rec["normalized"] == pytest.approx(want)
                assert rec["partner_nll"][1] <= rec["partner_nll"][0] + 1e-6  # adaptation lowers the partner NLL


@pytest.mark.parametrize("args", [("--seeds", "0"), ("--epochs", "-3"), ("--bogus",)])
def test_bad_arguments_exit_2(args):
    proc = _run(*args)
    assert proc.returncode == 2 and ("positive integer" in proc.stderr or "unrecognized" in proc.stderr)


def _demos(rhos, episodes, seed):
    rng = np.random.default_rng(seed)
    out = []
    for rho in rhos:
        starts = rng.uniform(*START_BOX, size=(episodes, 2))
        out.append(
            joint_dataset(record_demonstrations(RatioPartner(rho), RatioEgo(rho), episodes, starts=starts, horizon=8))
        )
    return out


def test_particle_adaptation_gradient_touches_only_partner_dims():
    """Section 4.4, property 6, on recorded Particle games: ego dims 0-1 get exactly zero gradient."""
    ((obs, acts),) = _demos([0.3], 8, seed=0)
    model = LowRankPolicy(2, 4, rank=4, action_dim=4, seed=0)
    rows = np.arange(model.rank * 4).reshape(model.rank, 4)  # state-head row k*4 + d is M[k, d]
    ego_rows, partner_rows = rows[:, list(EGO_DIMS)].ravel(), rows[:, list(PARTNER_DIMS)].ravel()
    model.zero_grad()
    (-model.log_prob(obs, acts, None, dims=list(PARTNER_DIMS)).mean()).backward()
    grad_w, grad_b = model.state_head.weight.grad, model.state_head.bias.grad
    assert th.all(grad_w[ego_rows] == 0) and th.all(grad_b[ego_rows] == 0)
    assert th.any(grad_w[partner_rows] != 0) and model.adapt_logits.grad.abs().sum() > 0
    # the ego-action NLL does give gradient to those rows: the zero above is the dims selection, not chance
    model.zero_grad()
    (-model.log_prob(obs, acts, None, dims=list(EGO_DIMS)).mean()).backward()
    assert th.any(model.state_head.weight.grad[ego_rows] != 0)
    # full adaptation (f_S too) on the partner dims leaves the ego dims' rows of the state head untouched
    head = model.state_head.weight.detach().clone()
    bias = model.state_head.bias.detach().clone()
    trace = model.adapt(obs, acts, partial=False, chunks=8, lr=1e-2, dims=list(PARTNER_DIMS))
    assert trace[-1] < trace[0]
    assert th.equal(model.state_head.weight.detach()[ego_rows], head[ego_rows])
    assert th.equal(model.state_head.bias.detach()[ego_rows], bias[ego_rows])
    assert not th.equal(model.state_head.weight.detach()[partner_rows], head[partner_rows])


def test_adapting_to_a_held_out_partner_moves_the_ego_towards_the_true_ego():
    train = [0.0, 0.25, 0.5, 0.75, 1.0]
    model = LowRankPolicy(2, len(train), rank=4, action_dim=4, seed=0)
    model.fit_bc(_demos(train, 20, seed=1), epochs=60, batch_size=64, lr=3e-3, seed=0)
    # held-out partner near one end: its push (0.1, 0.9) differs from the start weights' average partner
    rho = 0.1
    ((obs, acts),) = _demos([rho], 25, seed=2)
    moving = np.any(acts[:, list(PARTNER_DIMS)] > 0, axis=1)  # not yet at the goal, where everyone pushes 0
    true_ego = np.stack([ratio_ego_action(o, rho) for o in obs])
    np.testing.assert_allclose(true_ego, acts[:, list(EGO_DIMS)], atol=1e-6)

    def ego_error() -> float:
        with th.no_grad():
            mean = model(obs[moving], None)[:, list(EGO_DIMS)].numpy()
        return float(np.abs(mean - true_ego[moving]).mean())

    def partner_error() -> float:
        with th.no_grad():
            mean = model(obs[moving], None)[:, list(PARTNER_DIMS)].numpy()
        return float(np.abs(mean - acts[moving][:, list(PARTNER_DIMS)]).mean())

    model.reset_adaptation()
    before_ego, before_partner = ego_error(), partner_error()
    w0 = model.adapt_logits.detach().clone()
    for _ in range(10):
        model.adapt(obs[:200], acts[:200], dims=list(PARTNER_DIMS), chunks=16, lr=0.05)
    assert not th.equal(model.adapt_logits.detach(), w0)
    assert partner_error() < 0.7 * before_partner
    assert ego_error() < before_ego
