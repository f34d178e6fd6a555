"""Rock-paper-scissors: a one-step, zero-sum, simultaneous game (``RPS-v0``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import Agent
from pantheonrl.common.multiagentenv import SimultaneousEnv
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError, SpaceException

__all__ = ["ACTION_NAMES", "PAPER", "ROCK", "SCISSORS", "RPSEnv", "RPSWeightedAgent"]

ROCK, PAPER, SCISSORS = 0, 1, 2
ACTION_NAMES = ("ROCK", "PAPER", "SCISSORS")
NULL_OBS = 0

RNGSource = np.random.Generator | Callable[[], np.random.Generator] | int | None


def _move(action: Any, who: str) -> int:
    """``action`` (an integer scalar or one-element array) as 0, 1 or 2; else a :class:`SpaceException`."""
    arr = np.asarray(action)
    if arr.size != 1 or arr.dtype.kind not in "iu" or not 0 <= int(arr.reshape(-1)[0]) < 3:
        raise SpaceException(f"{who} played {action!r}; RPS actions are 0 (rock), 1 (paper) or 2 (scissors)")
    return int(arr.reshape(-1)[0])


class RPSEnv(SimultaneousEnv):
    """Rock-paper-scissors. Both players see the constant observation 0 of ``Discrete(1)`` and pick from
    ``Discrete(3)`` (0 rock, 1 paper, 2 scissors). Every episode is one step: ``(a0 - a1) mod 3`` is 0 for a
    draw (rewards 0, 0), 1 if player 0 wins (+1, -1) and 2 if player 0 loses (-1, +1).
    """

    def __init__(self) -> None:
        super().__init__([spaces.Discrete(1), spaces.Discrete(1)], [spaces.Discrete(3), spaces.Discrete(3)])

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        outcome = (_move(ego_action, "player 0") - _move(alt_action, "player 1")) % 3
        reward = (0.0, 1.0, -1.0)[outcome]
        null = np.int64(NULL_OBS)
        return (null, null), (reward, -reward), True, False, {}

    def multi_reset(self) -> tuple[Any, Any]:
        return np.int64(NULL_OBS), np.int64(NULL_OBS)


class RPSWeightedAgent(Agent):
    """Plays rock, paper and scissors with probabilities proportional to ``r``, ``p`` and ``s``.

    :param r: weight of rock.
    :param p: weight of paper.
    :param s: weight of scissors. The weights are normalised; all three zero means uniform.
    :param np_random: where the randomness comes from: a ``numpy.random.Generator`` (used as is), an
        ``int`` seed (a new generator seeded with it), a zero-argument callable returning the generator to
        draw from at each action (e.g. ``lambda: env.unwrapped.np_random``, so that the agent follows the
        game's generator across ``reset(seed=...)``), or ``None``: a new generator seeded from OS entropy,
        which is *not* reproducible. :data:`pantheonrl.envs.DEFAULT_PARTNERS` passes the game's generator.
    """

    def __init__(self, r: float = 1, p: float = 1, s: float = 1, np_random: RNGSource = None) -> None:
        weights = np.array([r, p, s], dtype=np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ConfigError(
                f"RPSWeightedAgent weights must be finite and >= 0, got r={r!r}, p={p!r}, s={s!r}"
            )
        total = weights.sum()
        self.probs = weights / total if total > 0 else np.full(3, 1.0 / 3.0)
        self._cumulative = np.cumsum(self.probs)
        if callable(np_random):
            self._rng_source: Callable[[], np.random.Generator] = np_random
        else:
            if np_random is None or isinstance(np_random, int | np.integer):
                generator = np.random.default_rng(np_random)
            elif isinstance(np_random, np.random.Generator):
                generator = np_random
            else:
                raise ConfigError(
                    f"np_random must be a numpy.random.Generator, an int seed, a callable returning a "
                    f"Generator, or None; got {type(np_random).__name__}"
                )
            self._rng_source = lambda: generator

    @property
    def np_random(self) -> np.random.Generator:
        """The generator the next action is drawn from."""
        return self._rng_source()

    def get_action(self, obs: Observation) -> int:
        roll = self.np_random.random()
        return int(min(np.searchsorted(self._cumulative, roll, side="right"), 2))

    def update(self, reward: float, done: bool) -> None:
        pass
