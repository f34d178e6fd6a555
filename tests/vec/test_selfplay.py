"""Shared-weight self-play: one model in every seat learns from every seat's transitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import DQN, PPO

from pantheonrl.common.multiagentenv import SimultaneousEnv, TurnBasedEnv
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.vec import SharedWeightSelfPlay
from tests.common.toygames import MatchGame, ThreeSeats

BOX = spaces.Box(0.0, 9.0, (2,), np.float32)


class SeatMatch(SimultaneousEnv):
    """Both act; matching pays 1. Each player's observation starts with its player number."""

    def __init__(self) -> None:
        super().__init__([BOX, BOX], [spaces.Discrete(3)] * 2, horizon=5)

    def _obs(self):
        return tuple(np.array([p, self.np_random.random()], np.float32) for p in (0, 1))

    def multi_step(self, a0, a1):
        r = float(int(a0) == int(a1))
        return self._obs(), (r, r), False, False, {}

    def multi_reset(self):
        return self._obs()


class SeatTurns(TurnBasedEnv):
    """Players alternate for up to 7 moves; the mover's observation starts with its player number."""

    def __init__(self) -> None:
        super().__init__([BOX, BOX], [spaces.Discrete(2)] * 2, horizon=7)

    def _obs(self, player):
        return np.array([player, self.np_random.random()], np.float32)

    def ego_step(self, action):
        return self._obs(1), (float(action), 0.0), False, False, {}

    def alt_step(self, action):
        return self._obs(0), (0.0, float(action)), False, False, {}

    def multi_reset(self, egofirst):
        return self._obs(0 if egofirst else 1)


@pytest.mark.parametrize("game", [SeatMatch, SeatTurns])
def test_shared_model_stores_transitions_of_every_seat(game):
    n = 3
    trainer = SharedWeightSelfPlay(game, n_envs=n)
    model = PPO("MlpPolicy", trainer.get_dummy_env(), n_steps=20, batch_size=30, seed=0)
    trainer.attach(model)
    captured = []
    original_train = model.train

    def capture():
        captured.append(model.rollout_buffer.observations.copy())
        original_train()

    model.train = capture
    trainer.learn(600, seed=0)
    assert model.num_timesteps >= 600
    assert captured, "no rollout was trained"
    buffer = captured[-1]  # rows x columns x obs
    assert buffer.shape[1] == n * 2
    for c in range(n):
        for seat in (0, 1):
            column = trainer.column(c, seat)
            # every row of this column holds a decision of that seat, none of the other
            assert np.all(buffer[:, column, 0] == seat)


def test_shared_weights_learn_to_coordinate():
    trainer = SharedWeightSelfPlay(SeatMatch, n_envs=8)
    model = PPO("MlpPolicy", trainer.get_dummy_env(), n_steps=16, batch_size=64, seed=0, ent_coef=0.0)
    trainer.attach(model)
    trainer.learn(12_000, seed=0)
    rewards = [info["r"] for info in model.ep_info_buffer]
    assert len(rewards) == 100
    # random play matches 1/3 of the time: 5/3 per 5-step episode; a shared convention gets close to 5
    assert np.mean(rewards) > 3.5, np.mean(rewards)


def test_three_player_shared_seats_and_off_policy_model():
    trainer = SharedWeightSelfPlay(ThreeSeats, n_envs=2)
    model = DQN("MlpPolicy", trainer.get_dummy_env(), learning_starts=30, seed=0, buffer_size=500)
    trainer.attach(model)
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    trainer.learn(300)
    assert model.replay_buffer.n_envs == 6
    assert model.num_timesteps >= 300
    assert any(not th.equal(before[k], v) for k, v in model.policy.state_dict().items())


def test_a_seat_outside_the_shared_set_is_played_by_its_partner():
    from tests.common.toygames import RandomAgent

    def game():
        env = ThreeSeats()
        env.add_partner_agent(RandomAgent(spaces.Discrete(2), 1), 2)
        return env

    trainer = SharedWeightSelfPlay(game, n_envs=2, seats=[0, 1])
    model = PPO("MlpPolicy", trainer.get_dummy_env(), n_steps=8, batch_size=16, seed=0)
    trainer.attach(model)
    trainer.learn(64)
    assert model.rollout_buffer.observations.shape[1] == 4


def test_bad_shared_setups():
    with pytest.raises(ConfigError, match="must include the game's ego seat"):
        SharedWeightSelfPlay(ThreeSeats, n_envs=1, seats=[1, 2])
    with pytest.raises(ConfigError, match="distinct"):
        SharedWeightSelfPlay(ThreeSeats, n_envs=1, seats=[0, 0])
    with pytest.raises(PlayerException, match="out of range"):
        SharedWeightSelfPlay(MatchGame, n_envs=1, seats=[0, 5])
    trainer = SharedWeightSelfPlay(MatchGame, n_envs=1)
    with pytest.raises(PlayerException, match="attach a model first"):
        trainer.learn(10)
