"""The Overcooked self-play benchmark and the partner-adaptation example run end to end (tiny budgets).

Learning is not asserted here (nothing cooks in a few thousand steps): run the benchmark itself for that.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pantheonrl.artifacts import verify_artifact

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "benchmarks" / "overcooked_selfplay.py"
EXAMPLE = ROOT / "examples" / "overcooked_adaptation.py"
RESULT_RE = re.compile(r"^RESULT overcooked_selfplay sparse_return_median=-?\d+\.\d target=>=150 (PASS|FAIL)$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow  # subprocess training runs: about a minute in all


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory):
    """One tiny benchmark run (1 seed, 3,200 env steps, 2 episodes), its JSON and its saved agent."""
    tmp = tmp_path_factory.mktemp("bench")
    out, models = tmp / "results.json", tmp / "models"
    proc = _run(
        [str(BENCH), "--quick", "--env-steps", "3200", "--n-envs", "4", "--eval-episodes", "2", "--json", str(out),
         "--save", str(models)],
        timeout=180,
    )
    return proc, out, models


def test_benchmark_quick_reports_result_line_and_json(quick_bench):
    proc, out, models = quick_bench
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    results = [line for line in lines if line.startswith("RESULT")]
    assert len(results) == 1 and lines[-1] == results[0], proc.stdout
    assert RESULT_RE.match(results[0]), results[0]
    assert any(line.startswith("seed 0: sparse_return=") for line in lines), proc.stdout
    data = json.loads(out.read_text())
    assert data["benchmark"] == "overcooked_selfplay" and data["target"] == 150
    assert [s["seed"] for s in data["seeds"]] == [0]
    seed = data["seeds"][0]
    assert seed["env_steps"] >= 3200 and seed["transitions"] == 2 * seed["env_steps"]
    assert seed["env_steps_per_s"] > 0 and seed["train_minutes"] > 0
    for mode in ("sampled", "deterministic"):
        returns = seed["eval"][mode]["returns"]
        assert len(returns) == 2 and all(r >= 0 and r % 20 == 0 for r in returns)  # 20 per delivered soup
    assert seed["sparse_return"] == seed["eval"]["sampled"]["mean"]
    assert f"{data['median_sparse_return']:.1f}" in results[0]
    assert not list(out.parent.glob(".*.tmp"))  # the atomic write left no temporary file
    artifact = verify_artifact(models / "seed0")
    assert seed["artifact"] == str(models / "seed0")
    assert artifact.algorithm == "PPO" and artifact.env_id == "OvercookedMultiEnv-v0" and artifact.metadata["seed"] == 0


def test_benchmark_rejects_bad_arguments():
    proc = _run([str(BENCH), "--quick", "--env-steps", "0"], timeout=60)
    assert proc.returncode == 2 and "--env-steps" in proc.stderr


def test_adaptation_example_quick_writes_plot_and_summary(tmp_path):
    proc = _run([str(EXAMPLE), "--quick", "--out", str(tmp_path)], timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    png = tmp_path / "learning_curves.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert "Summary" in proc.stdout and "fine-tuned ego with held-out partner" in proc.stdout
    assert "fresh PPO with held-out partner" in proc.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["partner_self_play"]) == 3 and summary["holdout"] == 2
    assert summary["curves"]["finetuned"] and summary["curves"]["fresh"]


def test_adaptation_example_with_a_saved_pool(quick_bench, tmp_path):
    _, _, models = quick_bench
    pool = [str(models / "seed0")] * 2
    proc = _run([str(EXAMPLE), "--quick", "--out", str(tmp_path), "--pool", *pool], timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 saved partners" in proc.stdout and "fresh PPO with held-out partner" in proc.stdout
    assert (tmp_path / "learning_curves.png").read_bytes()[:8] == PNG_MAGIC
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pool"] == pool and summary["holdout"] == 1 and summary["budgets_env_steps"]["partner"] is None
