"""Episode semantics of MultiAgentEnv: rewards, termination vs truncation, partner hooks, selection, seeding."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from pantheonrl.common.multiagentenv import MultiAgentEnv, SimultaneousEnv, TurnBasedEnv
from pantheonrl.common.observation import Observation
from pantheonrl.errors import PlayerException
from tests.common.toygames import TOY_MATCH_ID, CountGame, LoggingAgent, MatchGame, RandomAgent, ThreeSeats


class OneShotTurns(TurnBasedEnv):
    """Player 0 moves, player 1 replies and the reply ends the game with (+1, -1) (compat 2.3's example)."""

    def __init__(self) -> None:
        d = spaces.Discrete(2)
        super().__init__([d, d], [d, d], probegostart=1.0)

    def ego_step(self, action):
        return 0, (0.0, 0.0), False, {}  # legacy 4-tuple: one done flag

    def alt_step(self, action):
        return 0, (1.0, -1.0), True, {}

    def multi_reset(self, egofirst):
        return 0


def test_reward_bookkeeping_matches_the_original():
    env = OneShotTurns()
    partner = LoggingAgent(env.action_spaces[1])
    env.add_partner_agent(partner)
    env.reset(seed=0)
    _obs, reward, terminated, truncated, _ = env.step(0)
    assert (reward, terminated, truncated) == (1.0, True, False)
    updates = [c for c in partner.calls if c[0] == "update"]
    assert updates == [("update", 0.0, False), ("update", -1.0, True)]
    assert partner.calls[-1] == ("end_episode", True, False)


def test_ego_gets_rewards_earned_before_its_first_action():
    env = CountGame(probegostart=0.0)  # player 1 moves first, inside reset()
    env.add_partner_agent(RandomAgent(env.action_spaces[1]))
    env.reset(seed=3)
    _, reward, terminated, _, _ = env.step(0)
    if not terminated:
        # 0.01 from the partner's opening move (during reset) + 0.01 for the ego's move + 0.01 for the reply
        assert reward == pytest.approx(0.03)


def test_horizon_is_a_truncation_for_ego_and_partners():
    env = MatchGame(horizon=3)
    partner = LoggingAgent(env.action_spaces[1])
    env.add_partner_agent(partner)
    env.reset(seed=0)
    results = [env.step(0)[2:4] for _ in range(3)]  # action 0 never terminates
    assert results == [(False, False), (False, False), (False, True)]
    assert partner.calls[-1] == ("end_episode", False, True)
    assert partner.calls[-2][0] == "update" and partner.calls[-2][2] is True


def test_termination_is_not_a_truncation():
    env = CountGame()
    partner = LoggingAgent(env.action_spaces[1])
    env.add_partner_agent(partner)
    env.reset(seed=1)
    terminated = truncated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(2)
    assert terminated and not truncated
    assert partner.calls[-1] == ("end_episode", True, False)


def test_partner_hears_the_end_in_the_same_episode_before_the_next_reset():
    env = MatchGame(horizon=2)
    partner = LoggingAgent(env.action_spaces[1])
    env.add_partner_agent(partner)
    env.reset(seed=0)
    env.step(0)
    env.step(0)
    assert partner.calls[-1][0] == "end_episode"
    n_before = len(partner.calls)
    env.reset()
    # the new episode's first observation is announced, but no late end arrives
    assert [c[0] for c in partner.calls[n_before:]] == ["observe"]


def test_reset_mid_episode_truncates_for_partners():
    env = MatchGame(horizon=50)
    partner = LoggingAgent(env.action_spaces[1])
    env.add_partner_agent(partner)
    env.reset(seed=0)
    env.step(0)
    env.reset()
    calls = [c for c in partner.calls if c[0] in ("update", "end_episode")]
    assert calls[-2:] == [("update", 0.0, True), ("end_episode", False, True)]


def test_timelimit_wrapper_reaches_partners():
    env = gym.make(TOY_MATCH_ID, max_episode_steps=4)
    partner = LoggingAgent(env.unwrapped.action_spaces[1])
    env.unwrapped.add_partner_agent(partner)
    env.reset(seed=0)
    for _ in range(4):
        *_, truncated, _ = env.step(0)
    assert truncated
    env.reset()
    assert ("end_episode", False, True) in partner.calls


def test_step_after_the_end_is_an_error():
    env = OneShotTurns()
    env.add_partner_agent(RandomAgent(env.action_spaces[1]))
    env.reset(seed=0)
    env.step(0)
    with pytest.raises(PlayerException, match="reset"):
        env.step(0)


def test_partnerid_in_info_and_round_robin_starts_at_partner_one():
    env = MatchGame()
    for seed in range(3):
        env.add_partner_agent(RandomAgent(env.action_spaces[1], seed=seed))
    seen = []
    for _ in range(4):
        _, info = env.reset(seed=0)
        seen.append(info["_partnerid"][0])
        assert env.step(0)[4]["_partnerid"] == [seen[-1]]
    assert seen == [1, 2, 0, 1]


def test_only_the_selected_partner_acts():
    env = MatchGame()
    agents = [LoggingAgent(env.action_spaces[1], seed=i) for i in range(2)]
    for agent in agents:
        env.add_partner_agent(agent)
    env.set_resample_policy("null")
    env.set_partnerid(0)
    env.reset(seed=0)
    env.step(0)
    assert any(c[0] == "get_action" for c in agents[0].calls)
    assert not agents[1].calls


def test_random_selection_uses_the_env_rng():
    def picks(seed):
        env = MatchGame()
        for i in range(5):
            env.add_partner_agent(RandomAgent(env.action_spaces[1], seed=i))
        env.set_resample_policy("random")
        env.reset(seed=seed)
        out = [env.partnerids[0]]
        for _ in range(20):
            env.reset()
            out.append(env.partnerids[0])
        return out

    assert picks(7) == picks(7)
    assert picks(7) != picks(8)
    assert len(set(picks(7))) > 1


def test_selection_for_three_players_and_a_callable():
    env = ThreeSeats()
    for player in (1, 2):
        for seed in range(3):
            env.add_partner_agent(RandomAgent(env.action_spaces[player], seed=seed), player_num=player)
    env.set_resample_policy("robin")
    env.reset(seed=0)
    assert env.partnerids == [1, 1]
    env.reset()
    assert env.partnerids == [2, 2]
    env.set_resample_policy(lambda e: [0, 2])
    env.reset()
    assert env.partnerids == [0, 2]
    # seat lists are separate (the original aliased them)
    assert env.partners[0] is not env.partners[1]
    assert all(len(seat) == 3 for seat in env.partners)


def test_three_players_rewards_reach_each_seat():
    env = ThreeSeats()
    partners = [LoggingAgent(env.action_spaces[p]) for p in (1, 2)]
    for player, agent in zip((1, 2), partners):
        agent.action_space = spaces.Discrete(2)
        agent.action_space.seed(0)
        env.add_partner_agent(agent, player_num=player)
    env.reset(seed=0)
    done = False
    while not done:
        *_, terminated, truncated, _ = env.step(0)
        done = terminated or truncated
    for player, agent in zip((1, 2), partners):
        rewards = [c[1] for c in agent.calls if c[0] == "update"]
        assert len(rewards) == 6  # the credit right after its first action, then one per game step
        assert all(r in (0.0, float(player)) for r in rewards)
    assert truncated and env._mae_episode_steps == 5


def test_same_seed_same_trajectory_and_different_seed_differs():
    def rollout(seed):
        env = CountGame()
        env.add_partner_agent(RandomAgent(env.action_spaces[1], seed=0))
        obs, _ = env.reset(seed=seed)
        trace = [obs.tolist()]
        for _ in range(50):
            obs, reward, terminated, truncated, _ = env.step(1)
            trace.append((obs.tolist(), reward))
            if terminated or truncated:
                trace.append(env.reset()[0].tolist())
        return trace

    assert rollout(5) == rollout(5)
    assert rollout(5) != rollout(6)


def test_ego_in_the_second_seat():
    env = CountGame(probegostart=1.0)
    env.ego_ind = 1
    partner = LoggingAgent(env.action_spaces[0])
    env.add_partner_agent(partner, player_num=0)
    _obs, _ = env.reset(seed=0)
    assert partner.calls[0][0] == "observe" and partner.calls[1][0] == "get_action"
    assert env.observation_space == env.observation_spaces[1]


def test_masks_reach_the_ego_through_action_masks():
    class Masked(SimultaneousEnv):
        def __init__(self):
            super().__init__([spaces.Discrete(1)] * 2, [spaces.Discrete(3)] * 2)

        def multi_step(self, a0, a1):
            return (Observation(0, action_mask=np.array([0, 1, 1])), 0), (0.0, 0.0), False, False, {}

        def multi_reset(self):
            return Observation(0, action_mask=np.array([1, 0, 0])), 0

    env = Masked()
    env.add_partner_agent(RandomAgent(env.action_spaces[1]))
    env.reset(seed=0)
    assert env.action_masks().tolist() == [True, False, False]
    env.step(0)
    assert env.action_masks().tolist() == [False, True, True]


def test_legacy_n_step_five_tuple_is_a_termination():
    class Legacy(MultiAgentEnv):
        def __init__(self):
            super().__init__([spaces.Discrete(1)] * 2, [spaces.Discrete(2)] * 2)

        def n_step(self, actions):
            return (0, 1), (Observation(0), Observation(0)), (1.0, 1.0), True, {}

        def n_reset(self):
            return (0, 1), (Observation(0), Observation(0))

    env = Legacy()
    env.add_partner_agent(RandomAgent(env.action_spaces[1]))
    env.reset(seed=0)
    assert env.step(0)[1:4] == (1.0, True, False)
