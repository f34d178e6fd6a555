"""The B-1 benchmark (benchmarks/lowrank_mab.py) runs end to end with --quick and reports in the agreed format.
Its pass criteria are checked by running it in full (benchmarks/README.md), not here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmark_scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "lowrank_mab.py"
RESULT = re.compile(r"^RESULT (\w+) (\w+)=(-?\d+(\.\d+)?) target=(<|<=|>=|>)-?\d+(\.\d+)? (PASS|FAIL)$")
SUMMARY = re.compile(r"^RESULT lowrank_mab all=(\d+)/(\d+) target=all (PASS|FAIL)$")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("lowrank_mab.py")


def test_quick_run_reports_results_and_json(tmp_path):
    out = tmp_path / "b1.json"
    proc = _run("--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    results, summary = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT lowrank_mab all="):
            summary = SUMMARY.match(line)
            assert summary, line
        elif line.startswith("RESULT"):
            m = RESULT.match(line)
            assert m, line
            results[m.group(1)] = (m.group(2), float(m.group(3)), m.group(7))
    assert set(results) == {"lowrank_mab_lowrank_at16", "lowrank_mab_bc_sample_ratio", "lowrank_mab_ranking_at8"}
    data = json.loads(out.read_text())
    assert data["seeds"] == [0] and data["budgets"] == [4, 8, 16, 32, 64, 1000]
    table = data["table"]
    for name in ("lowrank", "bc", "multitask", "modular", "lowrank_neural", "multitask_nodrop", "true_partner"):
        assert set(table[name]) == {"4", "8", "16", "32", "64", "1000"}, name
        for row in table[name].values():
            assert 0.0 <= row["pct"] <= 1.0 + 1e-9 and row["nll"] > 0
    # the estimates are scored against the truth: the true policy earns the oracle's reward
    assert all(abs(row["pct"] - 1.0) < 1e-12 for row in table["true_partner"].values())
    # the RESULT lines, the JSON values and the verdicts agree
    assert results["lowrank_mab_lowrank_at16"][1] == pytest.approx(table["lowrank"]["16"]["pct"], abs=1e-4)
    assert results["lowrank_mab_lowrank_at16"][2] == ("PASS" if data["verdicts"]["lowrank_at16"] else "FAIL")
    values = data["values"]
    assert values["ranking_at8_margin"] == pytest.approx(
        min(
            table["lowrank"]["8"]["pct"] - table["modular"]["8"]["pct"],
            table["modular"]["8"]["pct"] - table["multitask"]["8"]["pct"],
        )
    )
    assert results["lowrank_mab_ranking_at8"][1] == pytest.approx(values["ranking_at8_margin"], abs=1e-3)
    assert results["lowrank_mab_bc_sample_ratio"][1] == pytest.approx(values["bc_sample_ratio"])
    passed = sum(data["verdicts"].values())
    assert summary.group(1, 2) == (str(passed), "3")
    assert len(data["runs"]) == 1 and len(data["runs"][0]["methods"]["lowrank"]["4"]) == 4


def test_first_budget_and_the_ratio_rule(bench):
    def table(pcts):
        return {n: {"pct": p} for n, p in zip(bench.BUDGETS, pcts)}

    assert bench.first_budget(table([0.5, 0.89, 0.9, 0.95, 1.0, 1.0])) == 16
    assert bench.first_budget(table([0.5, 0.6, 0.7, 0.8, 0.85, 0.89])) is None
    assert bench.first_budget(table([0.95, 0.8, 0.9, 0.9, 0.9, 0.9])) == 4
    assert bench.sample_ratio(4, 32) == (8.0, False)
    assert bench.sample_ratio(8, None) == (125.0, True)  # BC never reaches 90%: 1000 / 8 is a lower bound
    assert bench.sample_ratio(None, 16) == (0.0, False)


@pytest.mark.parametrize("args", [["--seeds", "0"], ["--bogus"]])
def test_bad_arguments_exit_2(args):
    proc = _run(*args)
    assert proc.returncode == 2 and "usage" in proc.stderr
