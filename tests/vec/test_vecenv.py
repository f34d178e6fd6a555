"""Vectorised multi-agent training: bit-identity with the single game at N = 1, batching, columns, pools."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3

import pantheonrl  # noqa: F401 - registers the games
from pantheonrl import OffPolicyAgent, OnPolicyAgent, StaticPolicyAgent
from pantheonrl.common.multiagentenv import SimultaneousEnv
from pantheonrl.errors import ConfigError, PlayerException, SpaceException
from pantheonrl.vec import MultiAgentVecEnv
from tests.common.toygames import CountGame, MatchGame, RandomAgent, ThreeSeats


def same_weights(a, b) -> bool:
    sa, sb = a.policy.state_dict(), b.policy.state_dict()
    return sa.keys() == sb.keys() and all(th.equal(sa[k], sb[k]) for k in sa)


def small(algo, env, seed, **kw):
    if algo in (PPO, A2C):
        kw.setdefault("n_steps", 32)
    if algo is PPO:
        kw.setdefault("batch_size", 32)
    if algo in (DQN, SAC, TD3, DDPG):
        kw.setdefault("learning_starts", 50)
        kw.setdefault("buffer_size", 2000)
    return algo("MlpPolicy", env, seed=seed, policy_kwargs={"net_arch": [16]}, **kw)


GAMES = {
    "liars-dice (turn-based)": lambda: gym.make("LiarsDice-v0"),
    "match (simultaneous, truncation)": lambda: MatchGame(horizon=7),
    "count (turn-based, partner may start)": lambda: CountGame(horizon=9),
}


def _train_pair(env_or_venv, partner_env, algo_ego, algo_partner, steps, agent_cls):
    partner = agent_cls(small(algo_partner, partner_env, seed=1), working_timesteps=steps)
    env_or_venv.add_partner_agent(partner)
    ego = small(algo_ego, env_or_venv, seed=0)
    ego.learn(steps)
    return ego, partner.model


@pytest.mark.parametrize("game", list(GAMES))
def test_n1_reproduces_the_single_game_bit_for_bit_with_a_learning_partner(game):
    env = GAMES[game]()
    ego1, partner1 = _train_pair(env, env.get_dummy_env(1), PPO, PPO, 320, OnPolicyAgent)
    venv = MultiAgentVecEnv(GAMES[game], n_envs=1)
    ego2, partner2 = _train_pair(venv, venv.get_dummy_env(1), PPO, PPO, 320, OnPolicyAgent)
    assert ego1.num_timesteps == ego2.num_timesteps == 320
    assert partner1.num_timesteps == partner2.num_timesteps > 0
    assert same_weights(ego1, ego2)
    assert same_weights(partner1, partner2)
    # and training changed something (the test would be vacuous otherwise)
    assert not same_weights(ego1, small(PPO, env, seed=0))


def test_n1_reproduces_the_single_game_with_off_policy_ego_and_partner():
    env = MatchGame(horizon=7)
    ego1, partner1 = _train_pair(env, env.get_dummy_env(1), DQN, DQN, 300, OffPolicyAgent)
    venv = MultiAgentVecEnv(lambda: MatchGame(horizon=7), n_envs=1)
    ego2, partner2 = _train_pair(venv, venv.get_dummy_env(1), DQN, DQN, 300, OffPolicyAgent)
    assert same_weights(ego1, ego2)
    assert same_weights(partner1, partner2)
    assert partner1.replay_buffer.pos == partner2.replay_buffer.pos > 0


def test_n1_reproduces_the_single_game_with_three_players_and_frozen_partners():
    def build(target):
        frozen = StaticPolicyAgent(small(PPO, ThreeSeats().get_dummy_env(1), seed=3).policy)
        target.add_partner_agent(frozen, 1)
        target.add_partner_agent(StaticPolicyAgent(small(PPO, ThreeSeats().get_dummy_env(2), seed=4).policy), 2)
        ego = small(A2C, target, seed=0)
        ego.learn(200)
        return ego

    assert same_weights(build(ThreeSeats()), build(MultiAgentVecEnv(ThreeSeats, n_envs=1)))


class CountingPolicyAgent(StaticPolicyAgent):
    def __init__(self, policy):
        super().__init__(policy)
        self.batches: list[int] = []

    def get_actions(self, observations, columns=None):
        self.batches.append(len(observations))
        return super().get_actions(observations, columns)


def test_a_frozen_partner_is_asked_once_per_step_for_all_copies():
    venv = MultiAgentVecEnv(lambda: MatchGame(horizon=5), n_envs=8)
    partner = CountingPolicyAgent(small(PPO, venv.get_dummy_env(1), seed=1).policy)
    venv.add_partner_agent(partner)
    venv.reset()
    partner.batches.clear()
    for _ in range(12):
        venv.step_async(np.zeros(8, dtype=np.int64))
        venv.step_wait()
    assert partner.batches == [8] * 12


def test_turn_based_copies_waiting_on_different_players_are_batched():
    venv = MultiAgentVecEnv(lambda: CountGame(), n_envs=8)
    partner = CountingPolicyAgent(small(PPO, venv.get_dummy_env(1), seed=1).policy)
    venv.add_partner_agent(partner)
    venv.seed(0)
    venv.reset()
    for _ in range(40):
        venv.step_async(np.ones(8, dtype=np.int64))
        venv.step_wait()
    # Every ego step needs one partner move per copy (unless the game ended first): far fewer calls than moves.
    assert sum(partner.batches) > 8 * 30
    assert len(partner.batches) < sum(partner.batches) / 4
    assert max(partner.batches) == 8


def test_learning_partner_buffers_hold_one_column_per_copy_and_train():
    venv = MultiAgentVecEnv(lambda: gym.make("LiarsDice-v0"), n_envs=4)
    partner = OnPolicyAgent(small(PPO, venv.get_dummy_env(1), seed=1, n_steps=16), working_timesteps=2000)
    venv.add_partner_agent(partner)
    before = {k: v.clone() for k, v in partner.model.policy.state_dict().items()}
    ego = small(PPO, venv, seed=0)
    ego.learn(640)
    assert partner.model.rollout_buffer.observations.shape[:2] == (16, 4)
    assert partner.model.num_timesteps >= 64 * 4  # at least 4 rollouts of 16 rows x 4 columns
    assert partner.model.num_timesteps % 4 == 0
    after = partner.model.policy.state_dict()
    assert any(not th.equal(before[k], after[k]) for k in before)


def test_round_robin_visits_the_pool_in_order_across_copies():
    n_copies, pool = 3, 3
    venv = MultiAgentVecEnv(lambda: MatchGame(horizon=2), n_envs=n_copies)
    for seed in range(pool):
        venv.add_partner_agent(RandomAgent(spaces.Discrete(3), seed=seed))
    venv.reset()
    seen: list[list[int]] = [[] for _ in range(n_copies)]
    for c in range(n_copies):
        seen[c].append(venv.reset_infos[c]["_partnerid"][0])
    for _ in range(2 * 4):
        venv.step_async(np.zeros(n_copies, dtype=np.int64))
        _, _, dones, _ = venv.step_wait()
        for c in np.flatnonzero(dones):
            seen[c].append(venv.reset_infos[c]["_partnerid"][0])
    # copy 0 starts where a single game starts (partner 1), copy c c partners further, each then in order
    for c in range(n_copies):
        assert seen[c] == [(1 + c + k) % pool for k in range(len(seen[c]))]
    assert {s[0] for s in seen} == set(range(pool))


def test_step_infos_match_dummy_vec_env_with_monitor():
    from stable_baselines3.common.env_util import make_vec_env

    def game():
        env = MatchGame(horizon=4)
        env.add_partner_agent(RandomAgent(spaces.Discrete(3), 5))
        return env

    ours = MultiAgentVecEnv(game, n_envs=2)
    theirs = make_vec_env(game, n_envs=2)
    ours.seed(11)
    theirs.seed(11)
    np.testing.assert_array_equal(ours.reset(), theirs.reset())
    for t in range(9):
        actions = np.array([t % 3, (t + 1) % 3])
        o1, r1, d1, i1 = ours.step(actions)
        o2, r2, d2, i2 = theirs.step(actions)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        for a, b in zip(i1, i2):
            assert a.get("TimeLimit.truncated") == b.get("TimeLimit.truncated")
            assert ("episode" in a) == ("episode" in b)
            if "episode" in a:
                assert a["episode"]["r"] == b["episode"]["r"] and a["episode"]["l"] == b["episode"]["l"]
                np.testing.assert_array_equal(a["terminal_observation"], b["terminal_observation"])
    assert d1.dtype == bool and r1.dtype == np.float32


class BoxGame(SimultaneousEnv):
    """Continuous actions: both players are paid minus the distance between their actions."""

    def __init__(self) -> None:
        box = spaces.Box(-1.0, 1.0, (2,), np.float32)
        act = spaces.Box(-1.0, 1.0, (1,), np.float32)
        super().__init__([box, box], [act, act], horizon=6)

    def multi_step(self, a0, a1):
        r = -float(abs(a0[0] - a1[0]))
        obs = tuple(self.np_random.uniform(-1, 1, 2).astype(np.float32) for _ in range(2))
        return obs, (r, r), False, False, {}

    def multi_reset(self):
        return tuple(np.zeros(2, np.float32) for _ in range(2))


@pytest.mark.parametrize("algo", [PPO, A2C, DQN, SAC, TD3, DDPG])
def test_any_sb3_algorithm_trains_as_the_ego(algo):
    factory = BoxGame if algo in (SAC, TD3, DDPG) else (lambda: MatchGame(horizon=6))
    venv = MultiAgentVecEnv(factory, n_envs=4)
    partner_model = small(PPO, venv.get_dummy_env(1), seed=1, n_steps=16)
    venv.add_partner_agent(OnPolicyAgent(partner_model, working_timesteps=1000))
    ego = small(algo, venv, seed=0)
    before = {k: v.clone() for k, v in ego.policy.state_dict().items()}
    ego.learn(240)
    assert ego.num_timesteps >= 240
    assert any(not th.equal(before[k], v) for k, v in ego.policy.state_dict().items())
    assert partner_model.num_timesteps >= 64


def test_bad_vectorised_setups_are_refused_with_a_fix():
    with pytest.raises(ConfigError, match="n_envs must be a positive integer"):
        MultiAgentVecEnv(MatchGame, n_envs=0)
    with pytest.raises(ConfigError, match="gymnasium wrapper"):
        MultiAgentVecEnv(lambda: gym.wrappers.TimeLimit(MatchGame(), 5), n_envs=2)
    with pytest.raises(ConfigError, match="not a pantheonrl MultiAgentEnv"):
        MultiAgentVecEnv(lambda: gym.make("CartPole-v1"), n_envs=2)
    game = MatchGame()
    with pytest.raises(ConfigError, match="same game object twice"):
        MultiAgentVecEnv(lambda: game, n_envs=2)
    venv = MultiAgentVecEnv(MatchGame, n_envs=3)
    with pytest.raises(SpaceException, match=r"venv\.get_dummy_env"):
        venv.add_partner_agent(OnPolicyAgent(small(PPO, MatchGame().get_dummy_env(1), seed=0)))
    env = MatchGame()
    with pytest.raises(PlayerException, match="built on 3 envs"):
        env.add_partner_agent(OnPolicyAgent(small(PPO, venv.get_dummy_env(1), seed=0)))
    with pytest.raises(PlayerException, match="only carries a player's spaces"):
        venv.get_dummy_env(1).reset()
