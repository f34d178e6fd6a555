"""The throughput benchmark (benchmarks/throughput.py): it runs, reports in the agreed format, and its
hand-written env is an honest equivalent of the pantheonrl game (same episodes for the same seed, same training).

Speed targets are not asserted here: the machines are shared and noisy. Run the benchmark itself for that.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

from pantheonrl.common.agents import StaticPolicyAgent
from pantheonrl.vec import MultiAgentVecEnv
from tests.benchmark_scripts import load_benchmark

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "throughput.py"
RESULT_RE = re.compile(r"^RESULT throughput_\w+ ratio=\d+\.\d\d target=>=\d(\.\d+)? (PASS|FAIL)$")
RATIO_NAMES = {"frozen_n1_vs_handwritten", "frozen_n8_vs_n1", "learning_n1_vs_single", "learning_n8_vs_n1"}
CONFIGS = {"frozen_handwritten", "frozen_vec1", "frozen_vec8", "learning_single", "learning_vec1", "learning_vec8"}
N_STEPS = 300
SEED = 7


bench = load_benchmark("throughput.py")


def test_quick_run_reports_four_ratios_and_json(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--repeats", "1", "--timesteps", "1024", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert len(results) == 4, proc.stdout
    for line in results:
        assert RESULT_RE.match(line), line
    assert {line.split()[1].removeprefix("throughput_") for line in results} == RATIO_NAMES
    data = json.loads(out.read_text())
    assert set(data["configurations"]) == CONFIGS
    for key, config in data["configurations"].items():
        assert config["median_sps"] > 0, key
        assert len(config["runs"]) == 1, key
        for run in config["runs"]:
            assert run["steps"] >= 1024 and run["seconds"] > 0 and run["sps"] > 0, (key, run)
    assert set(data["ratios"]) == RATIO_NAMES
    assert not list(tmp_path.glob(".*.tmp")), "the atomic write left its temporary file"


@pytest.mark.parametrize("argv", [["--repeats", "0"], ["--only", "overcooked"], ["--timesteps", "x"], ["--nope"]])
def test_bad_arguments_exit_2(argv):
    proc = subprocess.run([sys.executable, str(SCRIPT), *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr


def _ego_actions() -> np.ndarray:
    rng = np.random.default_rng(123)
    # Random claims (face 0-6, count 0-11); face 6 calls bluff. Most games end after a few moves.
    return rng.integers([0, 0], [7, 12], size=(N_STEPS, 2)).astype(np.int64)


def _roll_vec(venv, torch_seed: int) -> dict[str, list]:
    """Play the fixed ego actions in a one-copy VecEnv; record everything the ego sees."""
    torch.manual_seed(torch_seed)
    venv.seed(SEED)
    obs = venv.reset()
    trace: dict[str, list] = {"obs": [obs[0].copy()], "rewards": [], "dones": [], "terminal": []}
    for action in _ego_actions():
        obs, rewards, dones, infos = venv.step(action[None])
        trace["obs"].append(obs[0].copy())
        trace["rewards"].append(float(rewards[0]))
        trace["dones"].append(bool(dones[0]))
        terminal = infos[0].get("terminal_observation")
        trace["terminal"].append(None if terminal is None else np.asarray(terminal).copy())
    venv.close()
    return trace


def _roll_single(env, torch_seed: int) -> dict[str, list]:
    """The same through the plain gymnasium API of one env (reset on episode end, as DummyVecEnv does)."""
    torch.manual_seed(torch_seed)
    obs, _ = env.reset(seed=SEED)
    trace: dict[str, list] = {"obs": [np.asarray(obs).copy()], "rewards": [], "dones": [], "terminal": []}
    for action in _ego_actions():
        obs, reward, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
        trace["terminal"].append(np.asarray(obs).copy() if done else None)
        if done:
            obs, _ = env.reset()
        trace["obs"].append(np.asarray(obs).copy())
        trace["rewards"].append(float(reward))
        trace["dones"].append(bool(done))
    return trace


def _assert_same(a: dict[str, list], b: dict[str, list]) -> None:
    assert a["rewards"] == b["rewards"]
    assert a["dones"] == b["dones"]
    for i, (x, y) in enumerate(zip(a["obs"], b["obs"])):
        np.testing.assert_array_equal(x, y, err_msg=f"observation {i}")
    for i, (x, y) in enumerate(zip(a["terminal"], b["terminal"])):
        assert (x is None) == (y is None), i
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=f"terminal observation {i}")


@pytest.fixture(scope="module")
def partner_policy():
    return bench.make_partner_policy()


@pytest.mark.parametrize("deterministic", [True, False], ids=["deterministic", "sampled"])
def test_handwritten_env_plays_the_same_games_as_pantheonrl(partner_policy, deterministic):
    """Same seed, same ego actions, same partner policy: the hand-written env and pantheonrl's n_envs=1 vec env
    (and the single-game env) give the same observations, rewards, episode ends and terminal observations.
    With a sampling partner both draw its actions from torch's generator in the same order."""
    hand = _roll_vec(DummyVecEnv([lambda: bench.HandWrittenLiar(partner_policy, deterministic=deterministic)]), 0)
    venv = MultiAgentVecEnv(lambda: gym.make(bench.ENV_ID), n_envs=1)
    venv.add_partner_agent(StaticPolicyAgent(partner_policy, deterministic=deterministic), 1)
    vec = _roll_vec(venv, 0)

    # The check means something: many episodes, both outcomes, and games of different lengths.
    assert sum(hand["dones"]) >= 30
    assert {1.0, -1.0} <= set(hand["rewards"])
    ends = np.flatnonzero(hand["dones"])
    assert len(set(np.diff(ends))) > 1, "all episodes had the same length"
    _assert_same(hand, vec)

    single_hand = _roll_single(bench.HandWrittenLiar(partner_policy, deterministic=deterministic), 0)
    game = gym.make(bench.ENV_ID)
    game.add_partner_agent(StaticPolicyAgent(partner_policy, deterministic=deterministic), 1)
    single_game = _roll_single(game, 0)
    _assert_same(single_hand, single_game)
    assert single_hand["rewards"] == hand["rewards"]


@pytest.mark.parametrize(
    ("reference", "pantheon"), [("frozen_handwritten", "frozen_vec1"), ("learning_single", "learning_vec1")]
)
def test_compared_configurations_do_the_same_training(reference, pantheon):
    """The ratios compare like with like: built by the benchmark's own builders, configuration (a) and
    pantheonrl's n_envs=1 configuration (b) train the ego to bit-identical weights (same games, same updates),
    so any difference in their steps/s is overhead."""
    configs = {c.key: c for c in bench.build_configs(bench.make_partner_policy())}
    settings = bench.Settings(timesteps=1024, rollout=512)
    weights = []
    for key in (reference, pantheon):
        model = configs[key].build(settings)
        model.learn(total_timesteps=settings.timesteps)
        assert model.num_timesteps == 1024
        weights.append(model.policy.state_dict())
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name
