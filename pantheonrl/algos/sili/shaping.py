"""SILI's stability reward and reward shaping (docs/algorithms.md, section 5.1).

Pure functions of the latents and task rewards, so the properties of section 5.5 are checked directly::

    r_stab(i) = -||z_{i+1} - z_i||_2                      (z_{i+1} = E(tau_i), z_i = E(tau_{i-1}))
    shaped:  (1 - beta) * r_t  on non-final steps;   (1 - beta) * r_T - beta * ||z_{i+1} - z_i||_2  on the final step

``beta = 0`` is LILI: the shaped reward is the task reward exactly. :class:`BetaSchedule` anneals ``beta``
linearly over interactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pantheonrl.errors import ConfigError

__all__ = ["BetaSchedule", "check_beta", "shaped_reward", "stability_reward"]


def check_beta(value: Any, name: str = "beta") -> float:
    """A weight in [0, 1] (0: LILI, no stability term; 1: only the stability term)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name} must be a number in [0, 1] (0 is LILI, the paper's SILI uses 0.5-1), got {value!r}")
    return float(value)


def stability_reward(z_next: Any, z: Any) -> float:
    """``-||z_next - z||_2``: 0 iff the latent did not change, else negative (one-hot latents: 0 or -sqrt(2))."""
    a = np.asarray(z_next, dtype=np.float64).reshape(-1)
    b = np.asarray(z, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ConfigError(f"the two latents must have the same size, got {a.size} and {b.size}")
    return -float(np.linalg.norm(a - b))


def shaped_reward(reward: float, beta: float, *, final: bool, r_stab: float = 0.0) -> float:
    """One step's shaped reward: ``(1 - beta) * reward``, plus ``beta * r_stab`` on an interaction's final step.

    With ``beta == 0`` the result is ``reward`` itself (LILI), whatever ``r_stab`` is.
    """
    if beta == 0.0:
        return float(reward)
    out = (1.0 - beta) * float(reward)
    if final:
        out += beta * float(r_stab)
    return out


@dataclass
class BetaSchedule:
    """``beta`` from ``start`` to ``end`` linearly over ``n_interactions`` interactions, then ``end``.

    The paper's default is constant (1.0 -> 1.0 over 300 interactions); ``start = end = 0`` is LILI.
    """

    start: float
    end: float | None = None
    n_interactions: int = 300

    def __post_init__(self) -> None:
        self.start = check_beta(self.start, "stabilize_weight")
        self.end = self.start if self.end is None else check_beta(self.end, "end_stabilize_weight")
        if isinstance(self.n_interactions, bool) or not isinstance(self.n_interactions, int | np.integer):
            raise ConfigError(f"num_anneal_episodes must be an integer >= 1, got {self.n_interactions!r}")
        if self.n_interactions < 1:
            raise ConfigError(f"num_anneal_episodes must be >= 1, got {self.n_interactions}")

    def __call__(self, interactions: int) -> float:
        """``beta`` after ``interactions`` completed interactions."""
        frac = min(max(interactions, 0) / self.n_interactions, 1.0)
        return self.start + frac * (self.end - self.start)
