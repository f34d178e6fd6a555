"""The CoMeDi benchmarks (A-1, A-2) run end to end in a tiny configuration and report in the agreed format.
Their pass criteria are checked by running them in full (benchmarks/README.md), not here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULT = re.compile(r"^RESULT (\w+) (\w+)=(-?\d+(\.\d+)?) target=(<|<=|>=)-?\d+(\.\d+)? (PASS|FAIL)$")


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def _results(stdout: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in stdout.splitlines():
        if line.startswith("RESULT"):
            m = RESULT.match(line)
            assert m, line
            out[m.group(1)] = (m.group(3), m.group(7))
    return out


def test_blind_bandits_tiny_run(tmp_path):
    proc = _run("comedi_blind_bandits.py", "--seeds", "1", "--steps", "200", "--episodes", "5", "--json",
                str(tmp_path / "a1.json"))
    assert proc.returncode == 0, proc.stderr
    results = _results(proc.stdout)
    assert set(results) == {"comedi_blind_bandits", "comedi_blind_bandits_control", "comedi_blind_bandits_conv0"}
    data = json.loads((tmp_path / "a1.json").read_text())
    run = data["runs"][0]
    assert data["seeds"] == [0] and len(run["comedi"]["matrix"]) == 2
    assert int(results["comedi_blind_bandits"][0]) == int(run["found"])
    # the control shares convention 0 with CoMeDi: the same self-play value
    assert run["comedi"]["sp0"] == run["control"]["sp0"]


def test_balance_beam_tiny_run(tmp_path):
    proc = _run("comedi_balance_beam.py", "--seeds", "1", "--steps", "1250", "--repeats", "1", "--json",
                str(tmp_path / "a2.json"))
    assert proc.returncode == 0, proc.stderr
    results = _results(proc.stdout)
    assert set(results) == {f"comedi_balance_beam_{k}" for k in ("beta0_xp", "beta0_sp", "beta05_xp", "beta05_sp",
                                                                  "gap")}
    data = json.loads((tmp_path / "a2.json").read_text())
    values = data["values"]
    assert abs(values["gap"] - (values["beta05_xp"] - values["beta0_xp"])) < 1e-9
    for key in ("beta0.0", "beta0.5"):
        run = data["runs"][0][key]
        assert -3.0 <= run["xp"] <= 2.0 and -3.0 <= run["sp"] <= 2.0


@pytest.mark.parametrize("script", ["comedi_blind_bandits.py", "comedi_balance_beam.py"])
def test_bad_arguments_exit_2(script):
    proc = _run(script, "--steps", "0")
    assert proc.returncode == 2 and "positive integer" in proc.stderr
