"""Space helpers and small policy utilities shared by agents, wrappers and algorithms."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy

from pantheonrl.errors import SpaceException

__all__ = [
    "FeedForward32Policy",
    "SpaceException",
    "action_from_policy",
    "calculate_space",
    "clip_actions",
    "get_default_obs",
    "get_space_size",
    "resample_noise",
]

SUPPORTED_SPACES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary")


def _unsupported(space: Any) -> SpaceException:
    return SpaceException(
        f"unsupported space {space!r}; flat trajectories and frame stacking support: {', '.join(SUPPORTED_SPACES)}"
    )


def get_space_size(space: spaces.Space) -> int:
    """Number of columns one value of ``space`` takes when flattened (a Box counts all its cells)."""
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape)) if space.shape else 1
    if isinstance(space, spaces.Discrete):
        return 1
    if isinstance(space, spaces.MultiDiscrete | spaces.MultiBinary):
        return int(np.prod(space.shape))
    raise _unsupported(space)


def calculate_space(space: spaces.Space, numframes: int) -> spaces.Space:
    """The space of ``numframes`` stacked values of ``space`` (newest first)."""
    if not isinstance(numframes, int) or numframes < 1:
        raise SpaceException(f"numframes must be a positive integer, got {numframes!r}")
    if isinstance(space, spaces.Box):
        reps = (numframes,) + (1,) * (len(space.shape) - 1) if space.shape else (numframes,)
        low, high = np.tile(space.low, reps), np.tile(space.high, reps)
        return spaces.Box(low=low, high=high, dtype=space.dtype)
    if isinstance(space, spaces.Discrete):
        return spaces.MultiDiscrete([int(space.n)] * numframes, start=[int(space.start)] * numframes)
    if isinstance(space, spaces.MultiDiscrete):
        reps = (numframes,) + (1,) * (space.nvec.ndim - 1)
        return spaces.MultiDiscrete(np.tile(space.nvec, reps), start=np.tile(space.start, reps))
    if isinstance(space, spaces.MultiBinary):
        n = np.asarray(space.n)
        if n.ndim == 0:
            return spaces.MultiBinary(int(n) * numframes)
        return spaces.MultiBinary([int(n[0]) * numframes, *n[1:].tolist()])
    raise _unsupported(space)


def get_default_obs(space: spaces.Space) -> np.ndarray:
    """The zero observation of ``space`` (used for empty frame slots), clipped into the space.

    Zero unless a Box's bounds or a (Multi)Discrete's ``start`` exclude it; then the nearest valid value.
    """
    if isinstance(space, spaces.Box):
        return np.clip(np.zeros(space.shape, dtype=space.dtype), space.low, space.high)
    if isinstance(space, spaces.Discrete):
        return np.array(np.clip(0, space.start, space.start + space.n - 1), dtype=space.dtype)
    if isinstance(space, spaces.MultiDiscrete):
        return np.clip(np.zeros(space.shape, dtype=space.dtype), space.start, space.start + space.nvec - 1)
    if isinstance(space, spaces.MultiBinary):
        return np.zeros(space.shape, dtype=space.dtype)
    raise _unsupported(space)


def clip_actions(actions: np.ndarray, action_space: spaces.Space) -> np.ndarray:
    """Clip continuous actions into the Box bounds; other spaces pass through."""
    if isinstance(action_space, spaces.Box):
        return np.clip(actions, action_space.low, action_space.high)
    return actions


def action_from_policy(obs: Any, policy: ActorCriticPolicy) -> tuple[np.ndarray, th.Tensor, th.Tensor]:
    """Sample one action: ``(action, value, log_prob)`` for a single (unbatched) observation."""
    obs_tensor, _ = policy.obs_to_tensor(obs)
    with th.no_grad():
        actions, values, log_probs = policy(obs_tensor)
    return actions.cpu().numpy(), values, log_probs


def resample_noise(model: Any, n_steps: int) -> None:
    """Resample gSDE exploration noise the way SB3's rollout loop does."""
    if model.use_sde and model.sde_sample_freq > 0 and n_steps % model.sde_sample_freq == 0:
        model.policy.reset_noise(1)


class FeedForward32Policy(ActorCriticPolicy):
    """An actor-critic with two hidden layers of 32 units (the BC default)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("net_arch", [32, 32])
        super().__init__(*args, **kwargs)
