"""Shared runs and agents for the CLI tests (tiny budgets; each is built once per test session)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pantheonrl  # noqa: F401
from pantheonrl.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = '{"n_steps": 64, "batch_size": 64}'


def console_script() -> list[str]:
    """The installed ``pantheonrl`` console script (``python -m pantheonrl.cli`` if it is not installed)."""
    script = Path(sys.executable).parent / "pantheonrl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pantheonrl.cli"]


def run_cli(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*console_script(), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(autouse=True)
def _agents_registry(tmp_path, monkeypatch):
    """Never touch ~/.pantheonrl: each test gets its own agent registry."""
    monkeypatch.setenv("PANTHEONRL_AGENTS", str(tmp_path / "registry"))


@pytest.fixture(scope="session")
def liar_run(tmp_path_factory) -> Path:
    """LiarsDice-v0 PPO vs PPO on 8 copies, 2048 timesteps, checkpoints every 1024 (a finished run)."""
    run = tmp_path_factory.mktemp("liar") / "run"
    code = main(["train", "LiarsDice-v0", "PPO", "PPO", "--n-envs", "8", "-t", "2048", "--seed", "0",
                 "--ego-config", SMALL, "--alt-config", SMALL, "--checkpoint-every", "1024", "--eval-episodes", "10",
                 "--verbose", "0", "--run-dir", str(run)])
    assert code == 0
    return run


@pytest.fixture(scope="session")
def rps_run(tmp_path_factory) -> Path:
    """RPS-v0 shared-weight self-play, 512 timesteps (a finished run)."""
    run = tmp_path_factory.mktemp("rps") / "run"
    code = main(["train", "RPS-v0", "PPO", "SELF", "--share-weights", "--n-envs", "4", "-t", "512", "--seed", "1",
                 "--ego-config", SMALL, "--eval-episodes", "10", "--verbose", "0", "--run-dir", str(run)])
    assert code == 0
    return run


@pytest.fixture(scope="session")
def rps_agents(tmp_path_factory) -> Path:
    """A registry folder with three untrained RPS PPO agents (seeds 0, 1, 2): rps-0, rps-1, rps-2."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    from pantheonrl.artifacts import AgentRegistry

    root = tmp_path_factory.mktemp("agents")
    registry = AgentRegistry(root)
    env = gym.make("RPS-v0")
    for seed in range(3):
        registry.save(f"rps-{seed}", PPO("MlpPolicy", env.get_dummy_env(0), seed=seed, n_steps=64, batch_size=64),
                      env_id="RPS-v0", seed=seed)
    return root


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("run.lock"))
    return dest
