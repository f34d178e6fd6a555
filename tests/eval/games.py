"""Small games and agents for the evaluation tests."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import Agent
from pantheonrl.common.multiagentenv import MultiAgentEnv, SimultaneousEnv, TurnBasedEnv
from pantheonrl.common.observation import Observation

OBS = spaces.Discrete(1)


class SeatGame(SimultaneousEnv):
    """Both players pick 0-9; player 0 earns ``10 a0 + a1`` and player 1 ``100 + 10 a1 + a0`` per step, both
    ``+ MATCH_BONUS`` when they pick the same; the horizon (2 steps) ends each episode. Seat-asymmetric and
    deterministic, so seat mix-ups show exactly."""

    MATCH_BONUS = 50.0

    def __init__(self) -> None:
        super().__init__([OBS, OBS], [spaces.Discrete(10), spaces.Discrete(10)], horizon=2)

    def multi_step(self, a0, a1):
        a0, a1 = int(a0), int(a1)
        zero = np.int64(0)
        bonus = self.MATCH_BONUS if a0 == a1 else 0.0
        return (zero, zero), (10.0 * a0 + a1 + bonus, 100.0 + 10.0 * a1 + a0 + bonus), False, False, {}

    def multi_reset(self):
        return np.int64(0), np.int64(0)


class TurnGame(TurnBasedEnv):
    """Players alternate; every move pays (1, 2); the 4th move ends the game. Player 1 is credited 2 before its
    first move when player 0 starts (the env hands it over with its first update)."""

    def __init__(self, probegostart: float = 1.0) -> None:
        super().__init__([OBS, OBS], [spaces.Discrete(2), spaces.Discrete(2)], probegostart=probegostart)
        self.moves = 0

    def _move(self):
        self.moves += 1
        return np.int64(0), (1.0, 2.0), self.moves >= 4, False, {}

    def ego_step(self, action):
        return self._move()

    def alt_step(self, action):
        return self._move()

    def multi_reset(self, egofirst):
        self.moves = 0
        return np.int64(0)


class ThreeSeats(MultiAgentEnv):
    """Three players act together; player i earns i + 1 per step; the horizon (3 steps) ends the episode."""

    def __init__(self) -> None:
        super().__init__([OBS] * 3, [spaces.Discrete(2)] * 3, n_players=3, horizon=3)

    def n_step(self, actions):
        obs = tuple(Observation(np.int64(0)) for _ in range(3))
        return (0, 1, 2), obs, [1.0, 2.0, 3.0], False, False, {}

    def n_reset(self):
        return (0, 1, 2), tuple(Observation(np.int64(0)) for _ in range(3))


class ConstAgent(Agent):
    """Always plays ``action``; logs the hooks it hears."""

    def __init__(self, action: int = 0) -> None:
        self.action = action
        self.calls: list[str] = []
        self.masks: list = []

    def get_action(self, obs: Observation):
        self.calls.append("get_action")
        self.masks.append(obs.action_mask)
        return self.action

    def update(self, reward: float, done: bool) -> None:
        self.calls.append(f"update({reward},{done})")

    def observe(self, obs: Observation) -> None:
        self.calls.append("observe")

    def end_episode(self, obs, terminated: bool, truncated: bool) -> None:
        self.calls.append(f"end_episode({terminated},{truncated})")
