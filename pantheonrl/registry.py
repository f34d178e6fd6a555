"""Names -> classes: the only way strings from users (CLI, YAML, web forms) become objects.

Each :class:`Registry` maps a name to an object and refuses unknown names with the allowed set and a guess.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import gymnasium as gym
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3

from pantheonrl.errors import ConfigError, unknown_choice

T = TypeVar("T")

__all__ = ["ALGORITHMS", "ENVS", "Registry", "make_env"]


class Registry(Generic[T]):
    """A named collection of objects of one kind (``kind`` appears in error messages)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items and not replace:
            raise ConfigError(f"{self.kind} {name!r} is already registered; pass replace=True to override it")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        if not isinstance(name, str):
            raise ConfigError(f"a {self.kind} name must be a string, got {type(name).__name__} {name!r}")
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(unknown_choice(self.kind, name, sorted(self._items))) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)


ALGORITHMS: Registry[type] = Registry("algorithm")
for _algo in (PPO, A2C, DQN, SAC, TD3, DDPG):
    ALGORITHMS.register(_algo.__name__, _algo)

ENVS: Registry[str] = Registry("environment id")
"""Gymnasium ids of pantheonrl games (filled by :mod:`pantheonrl.envs` and extensions)."""


def make_env(env_id: str, **kwargs: Any) -> Any:
    """``gym.make`` for a registered pantheonrl game, with a clear error for unknown ids."""
    ENVS.get(env_id)
    return gym.make(env_id, **kwargs)
