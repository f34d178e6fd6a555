"""Shared set-up of the human-play tests: one torch thread, a fake clock, a saved Overcooked agent."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def overcooked_agent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real artefact: an untrained PPO on OvercookedMultiEnv-v0 cramped_room (features), made once."""
    from stable_baselines3 import PPO

    from pantheonrl.artifacts import save_agent
    from pantheonrl.envs.overcooked import OvercookedMultiEnv

    env = OvercookedMultiEnv("cramped_room")
    model = PPO("MlpPolicy", env.get_dummy_env(0), n_steps=64, batch_size=64, seed=0,
                policy_kwargs={"net_arch": [16]})
    folder = tmp_path_factory.mktemp("agents") / "cook"
    config = {"env_config": {"layout_name": "cramped_room"}, "framestack": 1}
    return save_agent(model, folder, env_id="OvercookedMultiEnv-v0", seed=0, config=config).path
