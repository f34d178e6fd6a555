"""Bad input gets a clear error naming the bad value and what is allowed."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3 import DQN, PPO

import pantheonrl  # noqa: F401
from pantheonrl.common.agents import OffPolicyAgent, OnPolicyAgent, StaticPolicyAgent
from pantheonrl.common.multiagentenv import SimultaneousEnv, TurnBasedEnv
from pantheonrl.common.trajsaver import TransitionsMinimal, TurnBasedTransitions
from pantheonrl.errors import (
    ConfigError,
    PlayerException,
    SpaceException,
    TrajectoryFormatError,
    UserInputError,
)
from pantheonrl.registry import ALGORITHMS, make_env
from tests.common.toygames import MatchGame, RandomAgent, ThreeSeats


def test_unknown_env_id_names_the_allowed_ids_and_a_guess():
    with pytest.raises(
        ConfigError, match=r"unknown environment id 'LiarDice-v0'.*LiarsDice-v0.*did you mean LiarsDice-v0"
    ):
        make_env("LiarDice-v0")


def test_unknown_env_id_through_gymnasium_is_also_clear():
    with pytest.raises(gym.error.Error, match="RPS"):
        gym.make("RPS-v7")


def test_unknown_algorithm():
    with pytest.raises(ConfigError, match=r"unknown algorithm 'ppo'.*PPO.*did you mean PPO"):
        ALGORITHMS.get("ppo")


def test_seat_out_of_range():
    env = gym.make("RPS-v0")
    with pytest.raises(PlayerException, match=r"player_num=5 is out of range: this game has players 0\.\.1"):
        env.add_partner_agent(RandomAgent(env.action_space), player_num=5)


def test_partner_in_the_ego_seat():
    env = gym.make("RPS-v0")
    with pytest.raises(PlayerException, match=r"player 0 is the ego's seat.*\[1\]"):
        env.add_partner_agent(RandomAgent(env.action_space), player_num=0)


def test_partner_with_mismatched_spaces():
    env = gym.make("BlockEnv-v0")  # the planner and the constructor have different spaces
    planner_model = PPO("MlpPolicy", env.get_dummy_env(0), n_steps=16)
    with pytest.raises(
        PlayerException, match=r"(?s)observation space .* but player 1 has .*get_dummy_env\(1\)"
    ):
        env.add_partner_agent(OnPolicyAgent(planner_model), player_num=1)


def test_same_partner_twice_in_a_seat():
    env = gym.make("RPS-v0")
    agent = StaticPolicyAgent(PPO("MlpPolicy", env.get_dummy_env(1)).policy)
    env.add_partner_agent(agent)
    with pytest.raises(PlayerException, match="already a partner in player 1's seat"):
        env.add_partner_agent(agent)


def test_learning_partner_in_two_seats():
    env = ThreeSeats()
    agent = OnPolicyAgent(PPO("MlpPolicy", env.get_dummy_env(1), n_steps=8))
    env.add_partner_agent(agent, player_num=1)
    with pytest.raises(PlayerException, match="already plays player 1"):
        env.add_partner_agent(agent, player_num=2)


def test_not_an_agent():
    env = gym.make("RPS-v0")
    with pytest.raises(PlayerException, match="is not an agent"):
        env.add_partner_agent("PPO")


def test_partner_id_out_of_range():
    env = gym.make("RPS-v0")
    env.add_partner_agent(RandomAgent(env.action_space))
    with pytest.raises(PlayerException, match=r"partner id 3 is out of range: player 1's seat has 1 partner"):
        env.set_partnerid(3)


def test_unknown_resample_policy():
    env = gym.make("RPS-v0")
    with pytest.raises(PlayerException, match=r"unknown resample policy 'robbin'.*did you mean robin"):
        env.set_resample_policy("robbin")


def test_no_partner_in_a_seat():
    env = gym.make("RPS-v0")
    with pytest.raises(
        PlayerException, match=r"player 1 has no partner agent; add one with env.add_partner_agent"
    ):
        env.reset(seed=0)


def test_wrong_partner_list_shape():
    with pytest.raises(PlayerException, match=r"partners must be 2 non-empty lists"):
        ThreeSeats.__mro__[1].__init__(
            ThreeSeats.__new__(ThreeSeats),
            [spaces.Discrete(2)] * 3,
            [spaces.Discrete(2)] * 3,
            n_players=3,
            partners=[[RandomAgent(spaces.Discrete(2))]],
        )


def test_spaces_do_not_match_n_players():
    class Bad(SimultaneousEnv):
        def __init__(self):
            super().__init__([spaces.Discrete(1)], [spaces.Discrete(2)] * 2)

        def multi_step(self, a0, a1):
            raise AssertionError

        def multi_reset(self):
            raise AssertionError

    with pytest.raises(
        PlayerException, match=r"one observation and one action space per player \(2\), got 1"
    ):
        Bad()


def test_game_that_ends_before_the_ego_acts():
    class PartnerEndsIt(TurnBasedEnv):
        def __init__(self):
            d = spaces.Discrete(2)
            super().__init__([d, d], [d, d], probegostart=0.0)

        def ego_step(self, action):
            return 0, (0.0, 0.0), False, False, {}

        def alt_step(self, action):
            return 0, (0.0, 1.0), True, False, {}

        def multi_reset(self, egofirst):
            return 0

    env = PartnerEndsIt()
    env.add_partner_agent(RandomAgent(env.action_spaces[1]))
    with pytest.raises(
        PlayerException, match=r"ended 1000 episodes in a row before the ego \(player 0\) acted"
    ):
        env.reset(seed=0)


def test_wrong_algorithm_for_the_partner_wrapper():
    env = gym.make("RPS-v0")
    dqn = DQN("MlpPolicy", env.get_dummy_env(1))
    with pytest.raises(SpaceException, match="use OffPolicyAgent for DQN"):
        OnPolicyAgent(dqn)
    with pytest.raises(SpaceException, match="use OnPolicyAgent for PPO"):
        OffPolicyAgent(PPO("MlpPolicy", env.get_dummy_env(1)))


def test_static_agent_needs_a_policy():
    with pytest.raises(PlayerException, match="needs an SB3 policy"):
        StaticPolicyAgent("models/ego.zip")


def test_step_before_reset():
    env = MatchGame()
    env.add_partner_agent(RandomAgent(env.action_spaces[1]))
    with pytest.raises(PlayerException, match=r"call reset\(\) first"):
        env.step(0)


def test_malformed_trajectory_files(tmp_path):
    obs_space, act_space = spaces.Box(0, 1, (3,)), spaces.Discrete(2)
    np.save(tmp_path / "wrong.npy", np.zeros((4, 9)))
    with pytest.raises(
        TrajectoryFormatError, match=r"has 9 columns, but TransitionsMinimal .* needs 4 \(3 \+ 1\)"
    ):
        TransitionsMinimal.read_transition(tmp_path / "wrong.npy", obs_space, act_space)
    (tmp_path / "junk.npy").write_text("not numpy")
    with pytest.raises(TrajectoryFormatError, match="is not a trajectory file"):
        TransitionsMinimal.read_transition(tmp_path / "junk.npy", obs_space, act_space)
    with pytest.raises(TrajectoryFormatError, match="does not exist"):
        TurnBasedTransitions.read_transition(tmp_path / "missing.npy", obs_space, act_space)
    np.save(tmp_path / "flags.npy", np.full((2, 5), 7.0))
    with pytest.raises(TrajectoryFormatError, match=r"flag values \[7.0\].*turn-based flags are 0..3"):
        TurnBasedTransitions.read_transition(tmp_path / "flags.npy", obs_space, act_space)


def test_user_errors_share_one_base_class():
    for exc in (ConfigError, PlayerException, SpaceException, TrajectoryFormatError):
        assert issubclass(exc, UserInputError)
