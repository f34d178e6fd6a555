"""The MAB coordination game of low-rank partner adaptation (docs/algorithms.md, sections 4.3 and 4.5 B-1),
checked exhaustively against a validity table and rewards computed here, independently of the game's helpers."""

from __future__ import annotations

import itertools
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from pantheonrl.common.agents import Agent
from pantheonrl.common.observation import Observation
from pantheonrl.envs.toy.coordination_mab import (
    ENV_ID,
    VALID,
    CoordinationMAB,
    TabularPartner,
    coordination_reward,
    expected_reward,
    mixture_partners,
    random_prototypes,
    valid_arms,
)
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.registry import ENVS


def block(i: int) -> int:
    """Block of a context or an arm: 0-3 -> 0, 4-7 -> 1, 8-9 -> 2."""
    return 0 if i < 4 else 1 if i < 8 else 2


class FixedArm(Agent):
    def __init__(self, arm: int) -> None:
        self.arm = arm

    def get_action(self, obs: Observation) -> int:
        return self.arm

    def update(self, reward: float, done: bool) -> None:
        pass


def test_valid_table_is_block_diagonal():
    expected = np.array([[block(c) == block(a) for a in range(10)] for c in range(10)])
    assert VALID.dtype == bool and VALID.shape == (10, 10)
    np.testing.assert_array_equal(VALID, expected)
    assert VALID.sum() == 16 + 16 + 4
    assert valid_arms(9).tolist() == [8, 9] and valid_arms(5).tolist() == [4, 5, 6, 7]
    with pytest.raises(ValueError):
        VALID[0, 9] = True  # read-only


@pytest.mark.parametrize("solo", [False, True])
def test_exhaustive_reward_table_through_the_game(solo):
    env = CoordinationMAB(solo=solo)
    for c, a0, a1 in itertools.product(range(10), range(10), range(10)):
        env.context = c  # what reset would have drawn
        obs, rewards, terminated, truncated, info = env.multi_step(a0, a1)
        if solo:
            want = (float(block(c) == block(a0)), float(block(c) == block(a1)))
        else:
            both = float(a0 == a1 and block(c) == block(a0))
            want = (both, both)
        assert tuple(rewards) == want, (c, a0, a1)
        assert coordination_reward(c, a0, a1, solo=solo) == want
        assert terminated is True and truncated is False and info["context"] == c
        for o in obs:
            np.testing.assert_array_equal(o, np.eye(10, dtype=np.float32)[c])


def test_observation_is_one_hot_context_for_both_players():
    env = CoordinationMAB(partners=[FixedArm(0)])
    assert env.observation_space.shape == (10,) and env.observation_space.dtype == np.float32
    assert env.action_space.n == 10 and CoordinationMAB.episode_length == 1
    for seed in range(20):
        env.reset(seed=seed)
        o0, o1 = env.multi_reset()
        assert o0.dtype == np.float32 and o0.shape == (10,)
        assert o0.sum() == 1.0 and o0[env.context] == 1.0
        np.testing.assert_array_equal(o0, o1)


def test_seeded_contexts_are_uniform_and_reproducible():
    env = CoordinationMAB(partners=[FixedArm(0)])
    env.reset(seed=123)
    contexts = []
    for _ in range(5000):
        env.multi_reset()
        contexts.append(env.context)
    freq = np.bincount(contexts, minlength=10) / len(contexts)
    assert np.abs(freq - 0.1).max() < 0.02  # 5 sigma is ~0.021; this seed passes well inside
    env.reset(seed=123)
    again = []
    for _ in range(50):
        env.multi_reset()
        again.append(env.context)
    assert again == contexts[:50]


def test_ego_view_episode_with_a_partner_and_registration():
    assert ENV_ID in gym.registry and ENV_ID in ENVS
    env = gym.make(ENV_ID)
    assert isinstance(env, CoordinationMAB)
    env.add_partner_agent(FixedArm(9))
    obs, _ = env.reset(seed=0)
    for _ in range(30):
        c = int(np.argmax(obs))
        _, reward, terminated, truncated, _ = env.step(9)
        assert terminated and not truncated
        assert reward == float(c >= 8)
        obs, _ = env.reset()
    solo = gym.make(ENV_ID, solo=True)
    solo.add_partner_agent(FixedArm(0))
    obs, _ = solo.reset(seed=1)
    c = int(np.argmax(obs))
    assert solo.step(int(valid_arms(c)[-1]))[1] == 1.0


def test_ego_view_passes_check_env():
    env = CoordinationMAB()
    # the partner draws from the game's generator, so that reset(seed=...) fixes its arm too
    env.add_partner_agent(TabularPartner(VALID / VALID.sum(1, keepdims=True), seed=lambda: env.np_random))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)


def test_bad_actions_and_options():
    env = CoordinationMAB()
    env.multi_reset()
    with pytest.raises(PlayerException, match=r"0\.\.9"):
        env.multi_step(10, 0)
    with pytest.raises(PlayerException, match="player 1"):
        env.multi_step(0, 1.5)
    with pytest.raises(ConfigError, match="solo"):
        CoordinationMAB(solo="yes")


def test_tabular_partner_sampling_frequencies():
    policy = np.zeros((10, 10))
    policy[:, :] = VALID / VALID.sum(1, keepdims=True)
    policy[0] = [0.7, 0.2, 0.1, 0, 0, 0, 0, 0, 0, 0]
    policy[9] = np.eye(10)[8]
    partner = TabularPartner(policy, seed=5)
    draws = np.array([partner.get_action(Observation(np.eye(10, dtype=np.float32)[0])) for _ in range(4000)])
    freq = np.bincount(draws, minlength=10) / draws.size
    np.testing.assert_allclose(freq, policy[0], atol=0.03)
    assert {partner.get_action(Observation(np.eye(10)[9])) for _ in range(50)} == {8}
    assert partner.get_actions([Observation(np.eye(10)[9])] * 3) == [8, 8, 8]
    same = TabularPartner(policy, seed=5)
    assert [same.act(0) for _ in range(100)] == draws[:100].tolist()
    with pytest.raises(ConfigError, match="shape"):
        TabularPartner(np.ones((10, 9)) / 9)
    with pytest.raises(ConfigError, match="distribution"):
        TabularPartner(np.ones((10, 10)))
    with pytest.raises(ConfigError, match="seed"):
        TabularPartner(policy, seed="7")


def test_prototypes_are_distinct_valid_deterministic_maps():
    protos = random_prototypes(5, np.random.default_rng(0))
    assert protos.shape == (5, 10, 10)
    assert set(np.unique(protos)) <= {0.0, 1.0}
    np.testing.assert_array_equal(protos.sum(-1), 1.0)
    assert np.all(protos[:, ~VALID] == 0)
    assert len({tuple(p.argmax(1)) for p in protos}) == 5
    np.testing.assert_array_equal(protos, random_prototypes(5, 0))
    with pytest.raises(ConfigError, match="r"):
        random_prototypes(0, 0)


@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_mixture_partners_are_valid_distributions(eps):
    rng = np.random.default_rng(1)
    protos = random_prototypes(3, rng)
    policies, weights = mixture_partners(protos, 20, rng, alpha=0.5, eps=eps)
    assert policies.shape == (20, 10, 10) and weights.shape == (20, 3)
    np.testing.assert_allclose(policies.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-12)
    assert np.all(policies >= 0) and np.all(policies[:, ~VALID] == 0)
    uniform_valid = VALID / VALID.sum(1, keepdims=True)
    want = (1 - eps) * np.einsum("nk,ksa->nsa", weights, protos) + eps * uniform_valid
    np.testing.assert_allclose(policies, want, atol=1e-12)
    if eps:
        assert np.all(policies[:, VALID] >= eps / 4 - 1e-12)
    with pytest.raises(ConfigError, match="eps"):
        mixture_partners(protos, 2, rng, eps=1.5)
    with pytest.raises(ConfigError, match="alpha"):
        mixture_partners(protos, 2, rng, alpha=0)
    with pytest.raises(ConfigError, match="prototypes"):
        mixture_partners(protos[:, :5], 2, rng)


def test_expected_reward_matches_the_game_average():
    rng = np.random.default_rng(2)
    protos = random_prototypes(2, rng)
    (partner,), _ = mixture_partners(protos, 1, rng, eps=0.05)
    ego = protos[0]
    exact = expected_reward(ego, partner)
    want = np.mean([sum(ego[c, a] * partner[c, a] for a in range(10) if block(a) == block(c)) for c in range(10)])
    assert exact == pytest.approx(want)
    env = CoordinationMAB(partners=[TabularPartner(partner, seed=3)])
    env.reset(seed=4)
    total = 0.0
    for _ in range(3000):
        obs, _ = env.reset()
        total += env.step(int(ego[int(np.argmax(obs))].argmax()))[1]
    assert total / 3000 == pytest.approx(exact, abs=0.04)
    with pytest.raises(ConfigError, match="shape"):
        expected_reward(ego, partner[:5])
