"""K-arm coordination: two players pull one of K arms at the same time and score when they match.

The toy game of the ADAP benchmark D-1 (docs/algorithms.md, section 6.3). Every arm is an equally good
*convention*: a pair of players that always pulls arm k scores 1 per round, and a player that commits to arm
k scores nothing with a partner committed to another arm. A population that covers all K conventions can
therefore coordinate with any "always arm k" partner, which is what ADAP's latent search is tested on.

* ``rounds = 1`` (default): one simultaneous choice per episode; both players observe the constant ``[1.0]``.
  For a policy ``pi`` playing itself, the expected return is ``sum_a pi(a)**2``.
* ``rounds = H > 1``: H choices; each player observes ``[t / H, one-hot own previous arm, one-hot partner
  previous arm]`` with K + 1 slots per one-hot (slot K = "none yet"), so its size is ``1 + 2 (K + 1)``.

The reward is 1 to both players per round in which the arms match, else 0. The episode terminates (it is
not a truncation) after ``rounds`` rounds. Importing this module registers ``KArmCoordination-v0``
(``gym.make("KArmCoordination-v0", n_arms=4, rounds=5)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import ScriptedAgent
from pantheonrl.common.multiagentenv import SimultaneousEnv
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.registry import ENVS

__all__ = ["ENV_ID", "AlwaysArmAgent", "KArmCoordination"]

ENV_ID = "KArmCoordination-v0"


class KArmCoordination(SimultaneousEnv):
    """Two players choose one of ``n_arms`` arms simultaneously, ``rounds`` times; matching arms score 1.

    :param n_arms: K, the number of arms (conventions), at least 2.
    :param rounds: H, the number of simultaneous choices per episode (1 or more; the benchmark uses 1 and 5).
    :param partners: optional agents for player 1's seat.
    :param horizon: optional truncation in game steps (see :class:`~pantheonrl.MultiAgentEnv`); the game
        already ends on its own after ``rounds`` steps.
    """

    def __init__(
        self,
        n_arms: int = 4,
        rounds: int = 1,
        partners: Sequence[Any] | None = None,
        *,
        horizon: int | None = None,
    ) -> None:
        if isinstance(n_arms, bool) or not isinstance(n_arms, int | np.integer) or n_arms < 2:
            raise ConfigError(f"n_arms must be an integer >= 2, got {n_arms!r}")
        if isinstance(rounds, bool) or not isinstance(rounds, int | np.integer) or rounds < 1:
            raise ConfigError(f"rounds must be a positive integer (1 or 5 in the benchmark), got {rounds!r}")
        self.n_arms = int(n_arms)
        self.rounds = int(rounds)
        size = 1 if self.rounds == 1 else 1 + 2 * (self.n_arms + 1)
        obs_space = spaces.Box(low=0.0, high=1.0, shape=(size,), dtype=np.float32)
        act_space = spaces.Discrete(self.n_arms)
        super().__init__([obs_space, obs_space], [act_space, act_space], partners=partners, horizon=horizon)
        self._t = 0
        self._prev = (self.n_arms, self.n_arms)  # slot K: no previous arm

    def _obs(self, own: int, other: int) -> np.ndarray:
        if self.rounds == 1:
            return np.ones(1, dtype=np.float32)
        k1 = self.n_arms + 1
        obs = np.zeros(1 + 2 * k1, dtype=np.float32)
        obs[0] = self._t / self.rounds
        obs[1 + own] = 1.0
        obs[1 + k1 + other] = 1.0
        return obs

    def _arm(self, action: Any, player: int) -> int:
        arm = np.asarray(action).reshape(-1)
        if arm.size != 1 or not float(arm[0]).is_integer() or not 0 <= int(arm[0]) < self.n_arms:
            raise PlayerException(f"player {player} chose {action!r}; an action is an arm 0..{self.n_arms - 1}")
        return int(arm[0])

    def multi_reset(self) -> tuple[np.ndarray, np.ndarray]:
        self._t = 0
        self._prev = (self.n_arms, self.n_arms)
        return self._obs(*self._prev), self._obs(self._prev[1], self._prev[0])

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        a0, a1 = self._arm(ego_action, 0), self._arm(alt_action, 1)
        reward = 1.0 if a0 == a1 else 0.0
        self._t += 1
        self._prev = (a0, a1)
        obs = (self._obs(a0, a1), self._obs(a1, a0))
        return obs, (reward, reward), self._t >= self.rounds, False, {}


class AlwaysArmAgent(ScriptedAgent):
    """A scripted partner that always pulls arm ``arm`` (one fixed convention).

    It keeps no state, so one object may play every copy of a vectorised game (``get_actions``).
    """

    def __init__(self, arm: int, n_arms: int = 4) -> None:
        if not isinstance(arm, int | np.integer) or not 0 <= arm < n_arms:
            raise ConfigError(f"arm must be one of 0..{n_arms - 1}, got {arm!r}")
        self.arm = int(arm)
        self.action_space = spaces.Discrete(n_arms)

    def get_action(self, obs: Observation) -> int:
        return self.arm


if ENV_ID not in gym.registry:  # importing twice (or a reload) must not re-register
    gym.register(ENV_ID, entry_point=KArmCoordination, order_enforce=False, disable_env_checker=True)
if ENV_ID not in ENVS:
    ENVS.register(ENV_ID, ENV_ID)
