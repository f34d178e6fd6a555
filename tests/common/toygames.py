"""Small games used by the core tests: they exercise termination, truncation, turn order and n players."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import Agent
from pantheonrl.common.multiagentenv import MultiAgentEnv, SimultaneousEnv, TurnBasedEnv
from pantheonrl.common.observation import Observation


class MatchGame(SimultaneousEnv):
    """Both players pick one of 3 actions; matching pays 1 to both. Observations are noisy (from
    ``np_random``). Both picking action 2 ends the game with probability 1/2 (termination); the horizon
    truncates."""

    def __init__(self, horizon: int | None = 12) -> None:
        box = spaces.Box(0.0, 1.0, (3,), np.float32)
        super().__init__([box, box], [spaces.Discrete(3)] * 2, horizon=horizon)

    def _obs(self) -> tuple[np.ndarray, np.ndarray]:
        return tuple(self.np_random.random(3).astype(np.float32) for _ in range(2))

    def multi_step(self, a0, a1):
        r = 1.0 if int(a0) == int(a1) else 0.0
        terminated = int(a0) == int(a1) == 2 and self.np_random.random() < 0.5
        return self._obs(), (r, r + 0.5), terminated, False, {}

    def multi_reset(self):
        return self._obs()


TOY_MATCH_ID = "ToyMatch-v0"
"""MatchGame without a horizon, registered so that ``gym.make(TOY_MATCH_ID, max_episode_steps=k)`` cuts
episodes from outside with a TimeLimit wrapper."""


class CountGame(TurnBasedEnv):
    """Players alternately add 1-3 to a counter; reaching 10 ends the game (+1 to the mover, -1 to the
    other). Observation: the counter, scaled, and a random feature."""

    def __init__(self, horizon: int | None = None, probegostart: float = 0.5) -> None:
        box = spaces.Box(0.0, 1.0, (2,), np.float32)
        super().__init__([box, box], [spaces.Discrete(3)] * 2, probegostart=probegostart, horizon=horizon)
        self.count = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.count / 10.0, self.np_random.random()], dtype=np.float32)

    def _move(self, action, mover: int):
        self.count = min(10, self.count + int(action) + 1)
        if self.count >= 10:
            rewards = (1.0, -1.0) if mover == 0 else (-1.0, 1.0)
            return self._obs(), rewards, True, False, {}
        return self._obs(), (0.01, 0.02), False, False, {}

    def ego_step(self, action):
        return self._move(action, 0)

    def alt_step(self, action):
        return self._move(action, 1)

    def multi_reset(self, egofirst: bool):
        self.count = 0
        return self._obs()


class ThreeSeats(MultiAgentEnv):
    """Three players act together; each is rewarded by its own index when all match. Horizon 5."""

    def __init__(self) -> None:
        box = spaces.Box(0.0, 1.0, (2,), np.float32)
        super().__init__([box] * 3, [spaces.Discrete(2)] * 3, n_players=3, horizon=5)

    def n_step(self, actions):
        match = len({int(a) for a in actions}) == 1
        rewards = [float(i) if match else 0.0 for i in range(3)]
        obs = tuple(Observation(self.np_random.random(2).astype(np.float32)) for _ in range(3))
        return (0, 1, 2), obs, rewards, False, False, {}

    def n_reset(self):
        return (0, 1, 2), tuple(Observation(np.zeros(2, np.float32)) for _ in range(3))


class RandomAgent(Agent):
    """Samples from its own seeded copy of an action space."""

    def __init__(self, action_space: spaces.Space, seed: int = 0) -> None:
        self.action_space = copy.deepcopy(action_space)
        self.action_space.seed(seed)

    def get_action(self, obs: Observation):
        return self.action_space.sample()

    def update(self, reward: float, done: bool) -> None:
        pass


class LoggingAgent(RandomAgent):
    """A random agent that logs every call it receives."""

    def __init__(self, action_space: spaces.Space, seed: int = 0) -> None:
        super().__init__(action_space, seed)
        self.calls: list[tuple] = []

    def get_action(self, obs: Observation):
        self.calls.append(("get_action", obs.obs.copy() if hasattr(obs.obs, "copy") else obs.obs))
        return super().get_action(obs)

    def update(self, reward: float, done: bool) -> None:
        self.calls.append(("update", reward, done))

    def observe(self, obs: Observation) -> None:
        self.calls.append(("observe",))

    def end_episode(self, obs, terminated: bool, truncated: bool) -> None:
        self.calls.append(("end_episode", terminated, truncated))


if TOY_MATCH_ID not in gym.registry:
    gym.register(
        TOY_MATCH_ID, entry_point=MatchGame, kwargs={"horizon": None}, order_enforce=False, disable_env_checker=True
    )
