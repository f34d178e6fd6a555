"""Partners with changing strategies (pantheonrl.common.strategies), played through the real env machinery."""

from __future__ import annotations

from collections import Counter
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import pantheonrl.envs  # noqa: F401  (registers RPS-v0)
from pantheonrl.common.multiagentenv import SimultaneousEnv
from pantheonrl.common.observation import Observation
from pantheonrl.common.strategies import Interaction, LatentStrategyPartner
from pantheonrl.errors import ConfigError
from pantheonrl.vec import MultiAgentVecEnv

NONE_YET = 3  # EchoRPS: "no move yet"


def beats(move: int) -> int:
    return (move + 1) % 3


class EchoRPS(SimultaneousEnv):
    """Rock-paper-scissors over ``rounds`` rounds; each player sees the other's last move (3 before the first).
    The game ends (terminated) after ``rounds``; ``horizon`` may truncate it earlier."""

    def __init__(self, rounds: int = 4, horizon: int | None = None) -> None:
        super().__init__([spaces.Discrete(4)] * 2, [spaces.Discrete(3)] * 2, horizon=horizon)
        self.rounds = rounds
        self._t = 0

    def multi_reset(self) -> tuple[Any, Any]:
        self._t = 0
        return np.int64(NONE_YET), np.int64(NONE_YET)

    def multi_step(self, a0: Any, a1: Any) -> tuple:
        a0, a1 = int(a0), int(a1)
        self._t += 1
        reward = (0.0, 1.0, -1.0)[(a0 - a1) % 3]
        return (np.int64(a1), np.int64(a0)), (reward, -reward), self._t >= self.rounds, False, {}


class BeatMostFrequent(LatentStrategyPartner):
    """Plays its strategy (a move) all interaction long; next: what beats the ego's most frequent move (ties: the
    lowest move). Logs the strategy it acted with at each request."""

    def __init__(self, initial: int = 0, **kwargs: Any) -> None:
        super().__init__(initial, **kwargs)
        self.acted_with: list[list[int]] = [[]]
        self.calls: list[tuple[int, Interaction]] = []

    def ego_action_of(self, obs: Observation) -> int | None:
        move = int(obs.obs)
        return None if move == NONE_YET else move

    def act(self, obs: Observation, strategy: int) -> int:
        self.acted_with[-1].append(strategy)
        return strategy

    def next_strategy(self, strategy: int, interaction: Interaction) -> int:
        self.calls.append((strategy, interaction))
        self.acted_with.append([])
        counts = np.bincount(interaction.ego_actions, minlength=3)
        return beats(int(np.argmax(counts)))


class WinStayLoseShift(LatentStrategyPartner):
    """One-shot RPS (``RPS-v0``, no ego moves in the observations): keep a winning or drawn move; after a loss,
    play what beats the move that beat it."""

    def act(self, obs: Observation, strategy: int) -> int:
        return strategy

    def next_strategy(self, strategy: int, interaction: Interaction) -> int:
        if interaction.reward < 0:
            return beats(beats(strategy))
        return strategy


class Flipper(LatentStrategyPartner):
    """Strategy 0 or 1, flipped at each interaction end with probability ``prob_change``."""

    def act(self, obs: Observation, strategy: int) -> int:
        return 0

    def next_strategy(self, strategy: int, interaction: Interaction) -> int:
        return 1 - strategy if self.change_roll() else strategy


def play_episode(env: Any, moves: list[int], partner: LatentStrategyPartner) -> list[Any]:
    """Play ``moves`` as the ego; returns the partner's strategy after each step."""
    env.reset()
    seen = []
    for k, move in enumerate(moves):
        _, _, terminated, truncated, _ = env.step(move)
        seen.append(partner.strategy)
        if terminated or truncated:
            assert k == len(moves) - 1, "the episode ended before the scripted moves ran out"
    return seen


def test_strategy_follows_the_egos_most_frequent_move_between_episodes_only():
    env = EchoRPS(rounds=4)
    partner = BeatMostFrequent(initial=0)
    env.add_partner_agent(partner)
    episodes = [[0, 0, 1, 2], [2, 2, 2, 0], [1, 0, 1, 1], [1, 2, 2, 2]]
    expected = [0]
    for k, moves in enumerate(episodes):
        before = partner.strategy
        after_each_step = play_episode(env, moves, partner)
        # unchanged during the episode; changed once, by the final step's end_episode
        assert after_each_step[:-1] == [before] * (len(moves) - 1)
        expected.append(beats(Counter(moves).most_common(1)[0][0]))
        assert after_each_step[-1] == partner.strategy == expected[-1]
        assert partner.n_interactions == len(partner.calls) == k + 1
        strategy, record = partner.calls[-1]
        assert strategy == before
        assert record.ego_actions == moves  # read from the observations, the last from the terminal one
        assert record.actions == [before] * len(moves)
        assert len(record.observations) == len(moves) + 1
        assert record.terminated and not record.truncated
        assert partner.last_interaction is record
        assert partner.interaction.observations == []
    assert expected == [0, 1, 0, 2, 0]
    # it acted with one strategy per episode: the one set at the previous episode's end
    assert [set(s) for s in partner.acted_with[:-1]] == [{s} for s in expected[:-1]]


def test_rewards_and_outcomes_reach_the_strategy_in_rps():
    env = gym.make("RPS-v0")
    partner = WinStayLoseShift(0)  # rock
    env.add_partner_agent(partner, 1)
    strategies, rewards = [], []
    for move in [1, 1, 0, 0, 0]:  # paper beats rock; scissors beat paper; rock beats scissors; ...
        env.reset()
        strategies.append(partner.strategy)
        _, reward, terminated, _, _ = env.step(move)
        assert terminated
        rewards.append(reward)
    assert strategies == [0, 2, 2, 1, 1]
    assert rewards == [1.0, -1.0, 1.0, -1.0, -1.0]
    assert partner.last_interaction.reward == 1.0
    assert partner.strategy == 1 and partner.n_interactions == 5


def test_truncation_by_horizon_and_by_reset_ends_the_interaction_once():
    env = EchoRPS(rounds=10, horizon=3)
    partner = BeatMostFrequent(initial=0)
    env.add_partner_agent(partner)
    play_episode(env, [1, 1, 0], partner)  # truncated by the horizon
    assert partner.n_interactions == 1 and partner.strategy == beats(1)
    assert partner.last_interaction.truncated and not partner.last_interaction.terminated
    env.reset()
    env.step(0)
    env.step(0)
    assert partner.n_interactions == 1 and partner.strategy == beats(1)  # still inside the interaction
    env.reset()  # cut short: a truncation, heard once
    assert partner.n_interactions == 2 and partner.strategy == beats(0)
    assert partner.last_interaction.truncated and not partner.last_interaction.terminated
    assert partner.last_interaction.ego_actions == [0, 0]


def test_a_repeated_end_episode_call_changes_the_strategy_once():
    env = EchoRPS(rounds=2)
    partner = BeatMostFrequent(initial=0)
    env.add_partner_agent(partner)
    play_episode(env, [1, 1], partner)
    assert partner.n_interactions == 1
    terminal = partner._seen
    partner.end_episode(terminal, True, False)
    partner.end_episode(None, False, True)  # nothing seen since the end: not a new interaction
    assert partner.n_interactions == 1 and partner.strategy == beats(1)


def test_each_copy_of_a_vectorised_game_has_its_own_strategy():
    venv = MultiAgentVecEnv(lambda: EchoRPS(rounds=2), n_envs=2)
    venv.add_partner_agent(lambda: BeatMostFrequent(initial=0))
    partners = [env.partners[0][0] for env in venv.envs]
    assert partners[0] is not partners[1]
    venv.reset()
    for moves in ([0, 2], [0, 2]):
        venv.step(np.array(moves))
    assert [p.strategy for p in partners] == [beats(0), beats(2)]
    assert [p.n_interactions for p in partners] == [1, 1]


def test_prob_change_draws_from_a_seeded_generator():
    def modes(seed: int, q: float, n: int = 40) -> list[int]:
        env = EchoRPS(rounds=1)
        partner = Flipper(0, prob_change=q, seed=seed)
        env.add_partner_agent(partner)
        out = []
        for _ in range(n):
            env.reset()
            env.step(0)
            out.append(partner.strategy)
        return out

    a = modes(7, 0.5)
    assert a == modes(7, 0.5)
    assert a != modes(8, 0.5)
    assert 0 < sum(np.diff([0, *a]) != 0) < 40
    assert modes(7, 1.0) == [1, 0] * 20
    assert modes(7, 0.0) == [0] * 40
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    still = Flipper(0, prob_change=0.0, seed=rng)
    assert not any(still.change_roll() for _ in range(10))
    assert rng.bit_generator.state == state  # q = 0 draws nothing
    game = EchoRPS(rounds=1)
    follower = Flipper(0, prob_change=0.5, seed=lambda: game.np_random)
    game.add_partner_agent(follower)
    game.reset(seed=5)
    first = [follower.change_roll() for _ in range(20)]
    game.step(0)  # the end draws once, before the next reseed
    game.reset(seed=5)
    assert [follower.change_roll() for _ in range(20)] == first


def test_reset_strategy_and_oracle_access():
    env = EchoRPS(rounds=1)
    partner = BeatMostFrequent(initial=2)
    env.add_partner_agent(partner)
    play_episode(env, [0], partner)
    assert partner.strategy == 1 and partner.initial_strategy == 2
    with pytest.raises(AttributeError):
        partner.strategy = 0  # the oracle view is read-only
    partner.reset_strategy()
    assert partner.strategy == 2 and partner.n_interactions == 0 and partner.last_interaction is None
    play_episode(env, [1], partner)
    assert partner.strategy == beats(1) and partner.n_interactions == 1
    assert "strategy=2" in repr(BeatMostFrequent(initial=2))


@pytest.mark.parametrize("q", [-0.1, 1.5, float("nan"), "0.5", True])
def test_bad_prob_change(q):
    with pytest.raises(ConfigError, match="prob_change"):
        Flipper(0, prob_change=q)


def test_bad_seed():
    with pytest.raises(ConfigError, match="seed must be"):
        Flipper(0, seed="seven")
