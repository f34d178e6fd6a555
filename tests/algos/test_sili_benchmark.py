"""The SILI benchmark (C-1) runs end to end in a tiny configuration and reports in the agreed format. Its pass
criteria are checked by running it in full (benchmarks/README.md), not here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.benchmark_scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "sili_driving.py"
RESULT = re.compile(r"^RESULT (sili_driving_\w+) (\w+)=(-?\d+\.\d+) target=(<=|>=)-?\d+(\.\d+)? (PASS|FAIL)$")


def _load():
    return load_benchmark("sili_driving.py")


def test_first_reach_counts_the_window_end():
    bench = _load()
    collided = np.array([1] * 150 + [0] * 200)
    # the window ending at interaction k covers k-100 .. k-1: at most 10 collisions from k = 240 on
    assert bench.first_reach(collided) == 240
    assert bench.first_reach(np.ones(300)) is None
    assert bench.first_reach(np.zeros(50)) is None  # shorter than one window


def test_tiny_run_reports_every_criterion_and_writes_json_and_png(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--interactions",
            "120",
            "--json",
            str(tmp_path / "c1.json"),
            "--plot",
            str(tmp_path / "curves.png"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    names = [RESULT.match(line).group(1) for line in lines]
    assert names == [
        "sili_driving_stabilized",
        "sili_driving_collisions",
        "sili_driving_speed",
        "sili_driving_no_latent",
    ]
    data = json.loads((tmp_path / "c1.json").read_text())
    assert {r["variant"] for r in data["runs"]} == {"sili", "lili", "none"}
    for run in data["runs"]:
        assert run["interactions"] == 120 and len(run["collided"]) == 120
        assert abs(run["collision_rate"] - np.mean(run["collided"][-120:])) < 1e-9
    png = (tmp_path / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_bad_arguments_exit_2():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--seeds", "0"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "positive integer" in proc.stderr and "Traceback" not in proc.stderr
