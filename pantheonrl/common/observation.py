"""The observation a player receives from a :class:`~pantheonrl.common.multiagentenv.MultiAgentEnv`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Observation:
    """What one player sees before acting.

    :param obs: the player's (partial) observation, shaped like its observation space.
    :param state: the full state, for algorithms that use privileged information; defaults to ``obs``.
    :param action_mask: a boolean (or 0/1) vector of legal actions for a ``Discrete`` action space;
        ``None`` means every action is legal.
    """

    obs: Any
    state: Any = None
    action_mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = self.obs


def extract_obs(obs: Observation) -> Any:
    """The default ego extractor: the plain observation."""
    return obs.obs


def extract_partial_obs(obs: Observation) -> tuple[Any, np.ndarray | None]:
    """Observation and action mask, for algorithms that mask actions."""
    return obs.obs, obs.action_mask
