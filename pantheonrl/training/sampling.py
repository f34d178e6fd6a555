"""Choosing partners from a pool: prioritised sampling (the round-robin and random policies are built into
:class:`~pantheonrl.common.multiagentenv.MultiAgentEnv`).

:class:`PrioritisedSampler` is a resample callable (``env.set_resample_policy(sampler)``): it favours the
partners the ego does worst with, as in prioritised fictitious self-play. Feed it the ego's episode returns
with :meth:`PrioritisedSampler.record` (``PartnerMetricsCallback(sampler=...)`` does this during training).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pantheonrl.errors import ConfigError

__all__ = ["PrioritisedSampler"]


class PrioritisedSampler:
    """Sample partner ``i`` of each seat with probability ``softmax(-mean_return_i / temperature)``.

    Partners not yet played are tried first (in order), so every partner has an estimate.

    :param temperature: > 0; small values focus on the hardest partner, large ones approach uniform.
    :param window: the number of recent episodes per partner that make its mean return.
    """

    def __init__(self, temperature: float = 1.0, window: int = 100) -> None:
        if not isinstance(temperature, int | float) or not temperature > 0:
            raise ConfigError(f"temperature must be a positive number, got {temperature!r}; e.g. 1.0")
        if not isinstance(window, int) or window < 1:
            raise ConfigError(f"window must be a positive integer, got {window!r}; e.g. 100")
        self.temperature = float(temperature)
        self.window = window
        self._returns: dict[tuple[int, int], list[float]] = {}

    def record(self, partnerids: Sequence[int], ego_return: float) -> None:
        """The ego got ``ego_return`` in an episode against ``partnerids`` (one id per seat)."""
        for seat, pid in enumerate(partnerids):
            history = self._returns.setdefault((seat, int(pid)), [])
            history.append(float(ego_return))
            del history[: -self.window]

    def mean_return(self, seat: int, pid: int) -> float | None:
        history = self._returns.get((seat, pid))
        return float(np.mean(history)) if history else None

    def probabilities(self, seat: int, n_partners: int) -> np.ndarray:
        """The sampling distribution over the seat's partners (uniform over the untried ones, if any)."""
        means = [self.mean_return(seat, pid) for pid in range(n_partners)]
        if any(m is None for m in means):
            untried = np.array([m is None for m in means], dtype=float)
            return untried / untried.sum()
        logits = -np.asarray(means, dtype=float) / self.temperature
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def __call__(self, env: Any) -> list[int]:
        ids = []
        for seat, agents in enumerate(env.partners):
            untried = [pid for pid in range(len(agents)) if self.mean_return(seat, pid) is None]
            if not agents:
                ids.append(0)
            elif untried:
                # Partners without an estimate first (at random: several copies choose before any episode ends).
                ids.append(int(untried[int(env.np_random.integers(len(untried)))]))
            else:
                ids.append(int(env.np_random.choice(len(agents), p=self.probabilities(seat, len(agents)))))
        return ids
