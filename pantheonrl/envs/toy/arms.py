"""Arms: the contextual coordination bandit of the Modular-policy paper (docs/algorithms.md, section 7.4).

Shih, Sawhney, Kondic, Ermon, Sadigh, "On the Critical Role of Conventions in Adaptive Human-AI
Collaboration", ICLR 2021 (arXiv 2104.02871).

Both players see a context ``c ~ U{0, ..., n-1}`` (``Discrete(n)``) and pick one of ``2n`` arms at the same
time; every episode is one step. The reward (the same for both) is 1 iff the arms match and

* for a *rule* context ``c < m``: the arm is ``c`` (``c + n`` in the inverted task);
* for any other context: ``arm mod n == c``, so two arms, ``c`` and ``c + n``, are equally good.

A convention is one choice per free context (``2^(n-m)`` of them). :class:`ArmsPartner` is a scripted partner:
one bit per free context plus the current task's rule on the rule contexts, so that a partner of the normal
task stays meaningful in the inverted task (:meth:`ArmsPartner.for_task`).

Importing this module registers ``Arms-v0`` (``gym.make("Arms-v0", n=4, m=1, inverted=False)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from pantheonrl.common.agents import ScriptedAgent
from pantheonrl.common.multiagentenv import SimultaneousEnv
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError
from pantheonrl.registry import ENVS

__all__ = ["ARMS_ID", "ArmsEnv", "ArmsPartner", "arms_reward", "random_arms_partners"]

ARMS_ID = "Arms-v0"


def _check_sizes(n: Any, m: Any) -> tuple[int, int]:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"n (number of contexts) must be a positive integer, got {n!r}; e.g. n=4")
    if not isinstance(m, int | np.integer) or isinstance(m, bool) or not 0 <= m <= n:
        raise ConfigError(f"m (number of rule contexts) must be an integer in [0, n={n}], got {m!r}; e.g. m=1")
    return int(n), int(m)


def arms_reward(c: int, a0: int, a1: int, n: int, m: int, inverted: bool = False) -> float:
    """The common reward of one Arms step: context ``c``, arms ``a0`` (player 0) and ``a1`` (player 1)."""
    if a0 != a1:
        return 0.0
    if c < m:
        return float(a0 == (c + n if inverted else c))
    return float(a0 % n == c)


class ArmsEnv(SimultaneousEnv):
    """The Arms bandit for two players (player 0 is the ego by default).

    :param n: number of contexts (the arms are ``0 .. 2n-1``).
    :param m: number of rule contexts (``0 <= m <= n``).
    :param inverted: the inverted task: rule context ``c`` pays arm ``c + n`` instead of ``c``.
    :param partners: optional list of agents for player 1.
    """

    def __init__(self, n: int = 4, m: int = 1, inverted: bool = False, partners: Sequence[Any] | None = None):
        self.n, self.m = _check_sizes(n, m)
        self.inverted = bool(inverted)
        obs_space = gym.spaces.Discrete(self.n)
        act_space = gym.spaces.Discrete(2 * self.n)
        super().__init__([obs_space, obs_space], [act_space, act_space], partners=partners)
        self.context = 0

    def reward(self, c: int, a0: int, a1: int) -> float:
        return arms_reward(c, a0, a1, self.n, self.m, self.inverted)

    def multi_reset(self) -> tuple[int, int]:
        self.context = int(self.np_random.integers(self.n))
        return self.context, self.context

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        r = self.reward(self.context, int(ego_action), int(alt_action))
        return (self.context, self.context), (r, r), True, False, {"context": self.context}


class ArmsPartner(ScriptedAgent):
    """A scripted Arms partner: arm ``c + n * bits[c - m]`` in free context ``c``, the task's rule otherwise.

    Stateless, so one object can play every copy of a vectorised env.

    :param bits: one 0/1 per free context ``m .. n-1``.
    :param n: number of contexts.
    :param m: number of rule contexts.
    :param inverted: follow the inverted task's rule on the rule contexts.
    """

    def __init__(self, bits: Sequence[int], n: int = 4, m: int = 1, inverted: bool = False) -> None:
        self.n, self.m = _check_sizes(n, m)
        bits = [int(b) for b in bits]
        if len(bits) != self.n - self.m or any(b not in (0, 1) for b in bits):
            raise ConfigError(f"bits must be {self.n - self.m} values in {{0, 1}} (one per free context), got {bits}")
        self.bits = tuple(bits)
        self.inverted = bool(inverted)
        self.observation_space = gym.spaces.Discrete(self.n)
        self.action_space = gym.spaces.Discrete(2 * self.n)

    def arm(self, c: int) -> int:
        """The arm this partner plays in context ``c``."""
        if c < self.m:
            return c + self.n if self.inverted else c
        return c + self.n * self.bits[c - self.m]

    @property
    def convention(self) -> tuple[int, ...]:
        """The arm per context, e.g. ``(0, 5, 6, 3)`` for n=4, m=1."""
        return tuple(self.arm(c) for c in range(self.n))

    def for_task(self, inverted: bool) -> ArmsPartner:
        """The same convention (bits) in the normal or the inverted task."""
        return ArmsPartner(self.bits, self.n, self.m, inverted)

    def get_action(self, obs: Observation) -> int:
        return self.arm(int(np.asarray(obs.obs)))

    def __repr__(self) -> str:
        return f"ArmsPartner(convention={self.convention}, inverted={self.inverted})"


def random_arms_partners(
    count: int, n: int = 4, m: int = 1, inverted: bool = False, seed: int | None = None
) -> list[ArmsPartner]:
    """``count`` scripted partners with bits drawn uniformly (seeded); conventions may repeat."""
    n, m = _check_sizes(n, m)
    rng = np.random.default_rng(seed)
    return [ArmsPartner(rng.integers(0, 2, size=n - m).tolist(), n, m, inverted) for _ in range(int(count))]


if ARMS_ID not in gym.registry:  # importing twice (or a reload) must not re-register
    gym.register(ARMS_ID, entry_point=ArmsEnv, order_enforce=False, disable_env_checker=True)
if ARMS_ID not in ENVS:
    ENVS.register(ARMS_ID, ARMS_ID)
