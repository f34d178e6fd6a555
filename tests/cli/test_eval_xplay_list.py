"""``pantheonrl eval``, ``xplay`` and ``list``."""

from __future__ import annotations

import csv
import json
import re

import pytest

from pantheonrl.cli import main
from tests.cli.conftest import run_cli


def _numbers(line: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"(mean|std|sem) (-?[\d.]+)", line)}


def test_eval_prints_mean_std_sem_and_writes_json(liar_run, tmp_path, capsys):
    out = tmp_path / "eval.json"
    code = main(["eval", "LiarsDice-v0", "PPO", "PPO", "--ego-load", str(liar_run / "agents" / "ego"),
                 "--alt-load", str(liar_run / "agents" / "alt0-PPO"), "-t", "30", "--seed", "2", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    line = next(line for line in text.splitlines() if line.startswith("mean "))
    printed = _numbers(line)
    assert set(printed) == {"mean", "std", "sem"}
    result = json.loads(out.read_text())
    assert result["episodes"] == 30 and len(result["returns"]) == 30
    assert printed["mean"] == pytest.approx(result["mean"], abs=1e-4)
    assert printed["std"] == pytest.approx(result["std"], abs=1e-4)
    assert result["sem"] == pytest.approx(result["std"] / 30**0.5)

    # the same seed replays the same episodes
    assert main(["eval", "LiarsDice-v0", "FIXED", "FIXED", "--ego-load", str(liar_run / "agents" / "ego"),
                 "--alt-load", str(liar_run / "agents" / "alt0-PPO"), "-t", "30", "--seed", "2", "--json",
                 str(tmp_path / "again.json")]) == 0
    assert json.loads((tmp_path / "again.json").read_text())["returns"] == result["returns"]


def test_eval_against_default_with_an_sb3_zip_and_deterministic(liar_run, tmp_path, capsys):
    from stable_baselines3 import PPO

    from pantheonrl.artifacts import load_agent

    zip_path = tmp_path / "ego.zip"
    load_agent(liar_run / "agents" / "ego", device="cpu").save(zip_path)  # what --ego-save writes
    assert PPO.load(zip_path).num_timesteps == 2048
    code = main(["eval", "LiarsDice-v0", "PPO", "DEFAULT", "--ego-load", str(zip_path), "-t", "10",
                 "--deterministic", "--render"])
    assert code == 0
    captured = capsys.readouterr()
    assert "vs DEFAULT, 10 episodes" in captured.out and "--render" in captured.err


def test_xplay_writes_csv_json_and_png(rps_agents, tmp_path, capsys):
    out = tmp_path / "xp"
    code = main(["xplay", "rps-0", "rps-1", str(rps_agents / "rps-2"), "--agents-dir", str(rps_agents),
                 "--episodes", "8", "--seed", "1", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "cross-play on RPS-v0" in text and "gap" in text
    with open(out / "crossplay.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 3 * 3  # 9 cells x (seat 0, seat 1, mean)
    assert {r["row_agent"] for r in rows} == {"rps-0", "rps-1", "rps-2"}
    data = json.loads((out / "crossplay.json").read_text())
    assert data["format"] == "pantheonrl.crossplay" and len(data["means"]) == 3
    assert data["selfplay_gap"]["gap"] == pytest.approx(data["selfplay_gap"]["diagonal"]
                                                        - data["selfplay_gap"]["off_diagonal"])
    assert (out / "crossplay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_xplay_accepts_run_folders_and_one_seat(rps_run, rps_agents, capsys):
    code = main(["xplay", str(rps_run), "rps-0", "--agents-dir", str(rps_agents), "--episodes", "4", "--one-seat"])
    assert code == 0
    text = capsys.readouterr().out
    assert "seat 0" in text and "run" in text  # the run folder is named after the run


def test_list_shows_envs_algorithms_partners_and_stored_agents(rps_agents, capsys):
    assert main(["list", "--agents-dir", str(rps_agents)]) == 0
    text = capsys.readouterr().out
    for expected in ("LiarsDice-v0", "RPS-v0", "BlockEnv-v1", "2 players", "PPO", "DQN", "DEFAULT", "FIXED", "SELF",
                     "rps-0", "rps-2", "ADAP_MULT", "ego only", "Arms-v0"):
        assert expected in text, expected


def test_list_agents_reads_the_registry_from_the_environment(rps_agents, monkeypatch, capsys):
    monkeypatch.setenv("PANTHEONRL_AGENTS", str(rps_agents))
    assert main(["list", "agents", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in data["agents"]["agents"]] == ["rps-0", "rps-1", "rps-2"]
    assert "envs" not in data


def test_list_in_a_subprocess(tmp_path):
    result = run_cli(["list", "envs", "algorithms"], cwd=tmp_path)
    assert result.returncode == 0 and "LiarsDice-v0" in result.stdout and "PPO" in result.stdout


def test_value_based_agents_evaluate_and_cross_play(tmp_path, capsys):
    """DQN policies have no action distribution: frozen DQN agents play the legal action with the best Q-value."""
    import gymnasium as gym
    from stable_baselines3 import DQN

    from pantheonrl.artifacts import AgentRegistry

    registry = AgentRegistry(tmp_path / "agents")
    env = gym.make("RPS-v0")
    registry.save("dqn", DQN("MlpPolicy", env.get_dummy_env(0), seed=0), env_id="RPS-v0")
    registry.save("dqn2", DQN("MlpPolicy", env.get_dummy_env(0), seed=1), env_id="RPS-v0")
    assert main(["eval", "RPS-v0", "DQN", "DEFAULT", "--ego-load", "dqn", "--agents-dir", str(registry.root),
                 "-t", "10"]) == 0
    assert main(["xplay", "dqn", "dqn2", "--agents-dir", str(registry.root), "--episodes", "3"]) == 0
    out = capsys.readouterr().out
    assert "mean " in out and "gap" in out
