"""The original PantheonRL's ADAP, Modular and BC usage (its tests/test_adap.py, test_modular.py, test_bc.py),
written against the compat module paths, on the games it used: each must run and do what it claims."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO

from pantheonrl import Agent, OnPolicyAgent, StaticPolicyAgent
from pantheonrl.algos.adap.adap_learn import ADAP
from pantheonrl.algos.adap.agent import AdapAgent
from pantheonrl.algos.adap.policies import AdapPolicy, AdapPolicyMult
from pantheonrl.algos.bc import BC
from pantheonrl.algos.modular.learn import ModularAlgorithm
from pantheonrl.algos.modular.policies import ModularPolicy
from pantheonrl.common.agents import RecordingAgentWrapper

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # SB3's truncated-minibatch warning (n_steps 40)

GAMES = {
    "overcooked": ("OvercookedMultiEnv-v0", {"layout_name": "simple"}),  # the original's name for cramped_room
    "rps": ("RPS-v0", {}),
    "liars": ("LiarsDice-v0", {}),
    "block0": ("BlockEnv-v0", {}),
    "block1": ("BlockEnv-v1", {}),
}


def make_env(option: str):
    env_id, kwargs = GAMES[option]
    env = gym.make(env_id, **kwargs)
    env.unwrapped.np_random, _ = gym.utils.seeding.np_random(0)
    return env


@pytest.mark.parametrize("policy", [AdapPolicy, AdapPolicyMult])
@pytest.mark.parametrize("option", ["overcooked", "rps", "liars"])
def test_adap_ego_with_a_latent_synced_adap_partner(option, policy):
    """20 rollouts x 40 steps; the partner learns too and plays every step with the ego's latent."""
    env = make_env(option)
    ego = ADAP(policy, env, n_steps=40, verbose=0, seed=0)
    env.unwrapped.ego_ind = 0
    partner_model = ADAP(policy, env.unwrapped.get_dummy_env(1), n_steps=40, verbose=0, seed=1)
    partner = AdapAgent(partner_model, latent_syncer=ego)
    env.unwrapped.add_partner_agent(partner)
    seen = []
    original = partner._learner._act

    def act(vec_obs, obs):  # the z each partner step is played with, and the ego's z at that moment
        seen.append((partner._current_z.copy(), ego.latents[0].copy()))
        return original(vec_obs, obs)

    partner._learner._act = act
    before = [p.detach().clone() for p in partner_model.policy.parameters()]
    ego.learn(total_timesteps=40 * 20)
    assert ego.num_timesteps == 800
    assert partner_model.num_timesteps > 0 and seen
    assert all(np.array_equal(mine, egos) for mine, egos in seen)
    assert any(not th.equal(a, b) for a, b in zip(before, partner_model.policy.parameters()))
    assert type(ego.policy) is policy and type(partner_model.policy) is policy


class CounterAgent(Agent):
    """The original test's wrapper: counts the actions asked of a partner."""

    def __init__(self, agent, idx):
        self.agent, self.steps, self.idx = agent, 0, idx

    def get_action(self, obs):
        self.steps += 1
        return self.agent.get_action(obs)

    def update(self, reward, done):
        self.agent.update(reward, done)


@pytest.mark.parametrize("option", ["overcooked", "rps", "liars", "block0", "block1"])
def test_modular_plays_only_its_first_num_partners_partners(option):
    env = make_env(option)
    env.unwrapped.set_resample_policy("null")
    ego = ModularAlgorithm(ModularPolicy, env, n_steps=40, verbose=0, policy_kwargs={"num_partners": 8}, seed=0)
    env.unwrapped.ego_ind = 0
    for i in range(12):
        model = PPO("MlpPolicy", env.unwrapped.get_dummy_env(1), verbose=0, n_steps=64, seed=i)
        env.unwrapped.add_partner_agent(CounterAgent(OnPolicyAgent(model), i))
    ego.learn(total_timesteps=40 * 20)
    steps = [env.unwrapped.partners[0][i].steps for i in range(12)]
    assert all(s > 0 for s in steps[:8]) and steps[8:] == [0, 0, 0, 0], steps


@pytest.mark.parametrize("option", ["overcooked", "rps", "liars", "block0", "block1"])
def test_bc_of_recorded_partner_data_plays_as_a_static_partner(option):
    env = make_env(option)
    ego = PPO("MlpPolicy", env, n_steps=400, verbose=0, seed=0)
    partner = RecordingAgentWrapper(
        OnPolicyAgent(PPO("MlpPolicy", env.unwrapped.get_dummy_env(1), verbose=0, n_steps=64, seed=1))
    )
    env.unwrapped.ego_ind = 0
    env.unwrapped.add_partner_agent(partner)
    ego.learn(total_timesteps=400)
    data = partner.get_transitions()
    assert len(data.obs) == len(data.acts) > 0

    dummy = make_env(option).unwrapped.get_dummy_env(1)
    clone = BC(observation_space=dummy.observation_space, action_space=dummy.action_space, expert_data=data,
               l2_weight=0.2)
    history = clone.train(n_epochs=10)
    assert len(history["loss"]) == 10 and history["n_samples"] == 10 * len(data.obs)
    assert history["neglogp"][-1] < history["neglogp"][0]

    env = make_env(option)
    ego = PPO("MlpPolicy", env, n_steps=400, verbose=0, seed=0)
    static = StaticPolicyAgent(clone.policy)
    env.unwrapped.ego_ind = 0
    env.unwrapped.add_partner_agent(static)
    ego.learn(total_timesteps=400)
    assert ego.num_timesteps == 400
