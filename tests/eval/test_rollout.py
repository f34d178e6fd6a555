"""play_episodes / evaluate: partner returns, seats, hooks, seeding and the deterministic override."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import pantheonrl  # noqa: F401  (registers LiarsDice-v0)
from pantheonrl.common.agents import StaticPolicyAgent
from pantheonrl.envs import make_default_partner
from pantheonrl.errors import PlayerException, UserInputError
from pantheonrl.eval import EpisodeStats, evaluate, play_episodes
from tests.eval.games import ConstAgent, SeatGame, ThreeSeats, TurnGame


def liars_dice() -> gym.Env:
    return gym.make("LiarsDice-v0")


class SpyPolicyAgent(StaticPolicyAgent):
    """A StaticPolicyAgent that records the ``deterministic`` flag it acts with."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: set[bool] = set()
        self.fail = False

    def get_action(self, obs):
        self.seen.add(self.deterministic)
        if self.fail:
            raise RuntimeError("boom")
        return super().get_action(obs)


@pytest.fixture(scope="module")
def liar_policy():
    env = liars_dice()
    return PPO("MlpPolicy", env.unwrapped.get_dummy_env(0), seed=0, device="cpu").policy


def test_liars_dice_against_the_default_partner(liar_policy):
    env = liars_dice()
    partner = make_default_partner("LiarsDice-v0", env, 1)
    ego = SpyPolicyAgent(liar_policy, deterministic=False)
    stats = play_episodes(liars_dice, [ego, partner], 40, seed=5)
    assert len(stats) == 2
    ego_stats, partner_stats = stats
    assert set(np.unique(ego_stats.returns)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(partner_stats.returns, -ego_stats.returns)  # zero-sum: the partner is recorded
    np.testing.assert_array_equal(partner_stats.lengths, ego_stats.lengths)
    assert ego_stats.lengths.min() >= 1 and ego_stats.lengths.size == 40
    assert ego_stats.sem == pytest.approx(np.std(ego_stats.returns, ddof=1) / np.sqrt(40))

    # evaluate is player 0's view; the same seed replays the same episodes (the sampling policy included),
    # and the global torch generator is left as it was.
    torch_state = torch.random.get_rng_state()
    again = evaluate(liars_dice, ego, [partner], 40, seed=5)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(again.returns, ego_stats.returns)
    np.testing.assert_array_equal(again.lengths, ego_stats.lengths)
    assert ego.seen == {False}


def test_deterministic_override_is_restored(liar_policy):
    ego = SpyPolicyAgent(liar_policy, deterministic=False)
    partner = make_default_partner("LiarsDice-v0", liars_dice(), 1)
    first = evaluate(liars_dice, ego, [partner], 20, seed=1, deterministic=True)
    assert ego.seen == {True}
    assert ego.deterministic is False
    second = evaluate(liars_dice, ego, [partner], 20, seed=1, deterministic=True)
    np.testing.assert_array_equal(first.returns, second.returns)

    ego.seen.clear()
    ego.deterministic = True
    evaluate(liars_dice, ego, [partner], 5, deterministic=False)
    assert ego.seen == {False} and ego.deterministic is True

    ego.fail = True
    with pytest.raises(RuntimeError, match="boom"):
        evaluate(liars_dice, ego, [partner], 5, deterministic=False)
    assert ego.deterministic is True  # restored after an error too


def test_turn_based_partner_gets_rewards_before_its_first_move():
    for probegostart in (1.0, 0.0):
        ego, partner = ConstAgent(), ConstAgent()
        stats = play_episodes(lambda p=probegostart: TurnGame(p), [ego, partner], 3)
        # Four moves per game, each paying (1, 2); whoever starts, each player moves twice.
        assert stats[0].returns.tolist() == [4.0, 4.0, 4.0]
        assert stats[1].returns.tolist() == [8.0, 8.0, 8.0]
        assert stats[0].lengths.tolist() == [2, 2, 2]
        assert ego.calls.count("end_episode(True,False)") == 3
        assert partner.calls.count("end_episode(True,False)") == 3
        assert ego.calls.count("get_action") == 6 and ego.calls.count("observe") == 6
        # Discrete ego actions come with the game's mask (all legal here).
        assert all(mask is not None and mask.all() for mask in ego.masks)


def test_three_players_and_seat_order():
    agents = [ConstAgent(), ConstAgent(), ConstAgent()]
    stats = play_episodes(ThreeSeats, agents, 2, seed=None)
    assert [s.returns.tolist() for s in stats] == [[3.0, 3.0], [6.0, 6.0], [9.0, 9.0]]
    assert stats[2].lengths.tolist() == [3, 3]

    def ego_in_seat_one():
        game = SeatGame()
        game.set_ego_ind(1)
        return game

    # play_episodes moves the ego to player 0: agents[p] still plays player p.
    stats = play_episodes(ego_in_seat_one, [ConstAgent(2), ConstAgent(3)], 1)
    assert stats[0].returns.tolist() == [2 * (10 * 2 + 3)]
    assert stats[1].returns.tolist() == [2 * (100 + 10 * 3 + 2)]


def test_episode_stats():
    stats = EpisodeStats(np.array([1.0, 3.0, 5.0]), np.array([1, 1, 2]))
    assert stats.mean == 3.0 and stats.std == 2.0
    assert stats.sem == pytest.approx(2.0 / np.sqrt(3))
    assert stats.ci95 == pytest.approx((3.0 - 1.96 * stats.sem, 3.0 + 1.96 * stats.sem))
    single = EpisodeStats(np.array([4.0]), np.array([1]))
    assert (single.mean, single.std, single.sem) == (4.0, 0.0, 0.0)


def test_rollout_input_errors(liar_policy):
    with pytest.raises(PlayerException, match=r"got 3 agent\(s\) for LiarEnv.*pass exactly 2"):
        play_episodes(liars_dice, [ConstAgent()] * 3, 1)
    with pytest.raises(PlayerException, match=r"(?s)agents\[1\] .* has observation space .*get_dummy_env\(1\)"):
        # A Liar's dice model in another game's seat.
        play_episodes(SeatGame, [ConstAgent(), StaticPolicyAgent(liar_policy)], 1)
    with pytest.raises(UserInputError, match=r"episodes=-2 is not allowed"):
        evaluate(liars_dice, ConstAgent(), [ConstAgent()], -2)
    with pytest.raises(UserInputError, match=r"partners must be a sequence.*single ConstAgent; pass \[partner\]"):
        evaluate(liars_dice, ConstAgent(), ConstAgent(), 1)

    def with_partner():
        game = SeatGame()
        game.add_partner_agent(ConstAgent())
        return game

    with pytest.raises(PlayerException, match="already has partners attached"):
        play_episodes(with_partner, [ConstAgent(), ConstAgent()], 1)
