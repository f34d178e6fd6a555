"""Partner agents: static inference, masking, callbacks and training cycles."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from pantheonrl.common.agents import OnPolicyAgent, RecordingAgentWrapper, StaticPolicyAgent
from pantheonrl.common.observation import Observation
from tests.common.toygames import MatchGame, RandomAgent


def _policy():
    env = MatchGame()
    return PPO("MlpPolicy", env.get_dummy_env(1), seed=0).policy


def test_static_agent_deterministic_option():
    agent = StaticPolicyAgent(_policy(), deterministic=True)
    obs = Observation(np.array([0.2, 0.5, 0.9], dtype=np.float32))
    assert len({int(agent.get_action(obs)) for _ in range(30)}) == 1
    sampler = StaticPolicyAgent(agent.policy)
    assert len({int(sampler.get_action(obs)) for _ in range(100)}) > 1  # samples, as the original did


def test_static_agent_honours_action_masks():
    agent = StaticPolicyAgent(_policy())
    obs = Observation(np.zeros(3, np.float32), action_mask=np.array([0, 0, 1]))
    assert {int(agent.get_action(obs)) for _ in range(50)} == {2}


def test_learning_agent_honours_action_masks():
    env = MatchGame()
    agent = OnPolicyAgent(PPO("MlpPolicy", env.get_dummy_env(1), n_steps=8))
    obs = Observation(np.zeros(3, np.float32), action_mask=np.array([1, 0, 0]))
    actions = []
    for _ in range(20):
        actions.append(int(agent.get_action(obs)))
        agent.update(0.0, False)
    assert set(actions) == {0}


def test_callback_returning_false_stops_learning_but_keeps_acting():
    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            return self.num_timesteps < 5

    env = MatchGame(horizon=None)
    model = PPO("MlpPolicy", env.get_dummy_env(1), n_steps=4)
    env.add_partner_agent(OnPolicyAgent(model, callback=StopAt()))
    env.reset(seed=0)
    for _ in range(20):
        env.step(0)
    assert model.num_timesteps == 5
    assert model._n_updates == 10  # one rollout of 4 steps trained (10 epochs), then learning stopped


def test_working_timesteps_start_a_new_cycle():
    env = MatchGame(horizon=None)
    model = PPO("MlpPolicy", env.get_dummy_env(1), n_steps=4, learning_rate=lambda progress: 1e-3 * progress)
    env.add_partner_agent(OnPolicyAgent(model, working_timesteps=8))
    env.reset(seed=0)
    for _ in range(12):
        env.step(0)
    # progress restarts each cycle, as learn(8, reset_num_timesteps=False) would: it never goes below 0
    assert model.num_timesteps == 12 and model._total_timesteps == 16
    assert 0.0 <= model._current_progress_remaining <= 1.0


def test_recording_wrapper_forwards_hooks():
    env = MatchGame(horizon=3)
    inner = OnPolicyAgent(PPO("MlpPolicy", env.get_dummy_env(1), n_steps=3))
    env.add_partner_agent(RecordingAgentWrapper(inner))
    env.reset(seed=0)
    for _ in range(3):
        env.step(0)
    # the episode end reached the learning agent through the wrapper: its rollout of 3 trained at once
    assert inner.model.num_timesteps == 3 and inner.model._n_updates > 0


def test_partner_spaces_are_checked_against_the_space_not_the_object():
    env = MatchGame()
    agent = RandomAgent(spaces.Discrete(3))
    env.add_partner_agent(agent)
    with pytest.raises(Exception, match="action space"):
        env.add_partner_agent(RandomAgent(spaces.Discrete(4)))


def test_master_era_aliases_warn_and_work(tmp_path):
    env = MatchGame()
    with pytest.warns(DeprecationWarning, match="get_dummy_env"):
        dummy = env.getDummyEnv(1)
    assert dummy.action_space == env.action_spaces[1]
    with pytest.warns(DeprecationWarning, match="tensorboard_log"):
        agent = OnPolicyAgent(PPO("MlpPolicy", dummy, n_steps=8), tensorboard_log=str(tmp_path))
    assert agent.model.tensorboard_log == str(tmp_path)
    static = StaticPolicyAgent(agent.model.policy)
    with pytest.warns(DeprecationWarning, match="record argument is ignored"):
        action = static.get_action(Observation(np.zeros(3, np.float32)), False)
    assert env.action_spaces[1].contains(int(action))


def test_static_agent_masks_value_based_policies_and_batches():
    from stable_baselines3 import DQN

    policy = DQN("MlpPolicy", MatchGame().get_dummy_env(1), seed=0).policy
    agent = StaticPolicyAgent(policy)
    rng = np.random.default_rng(0)
    for legal in (0, 1, 2):
        mask = np.zeros(3, dtype=bool)
        mask[legal] = True
        observations = [Observation(rng.random(3).astype(np.float32), action_mask=mask) for _ in range(5)]
        assert int(agent.get_action(observations[0])) == legal
        assert [int(a) for a in agent.get_actions(observations)] == [legal] * 5
    # without masks the batch equals one call per observation for a greedy policy
    plain = [Observation(rng.random(3).astype(np.float32)) for _ in range(6)]
    assert [int(a) for a in agent.get_actions(plain)] == [int(agent.get_action(o)) for o in plain]
