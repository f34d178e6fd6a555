"""Overcooked with a record of each finished episode's sparse return (the reward Overcooked is judged on),
for training loops that log progress while they learn from sparse + shaped reward."""

from __future__ import annotations

from typing import Any

from pantheonrl.envs.overcooked.env import OvercookedMultiEnv

__all__ = ["SparseTrackedOvercooked"]


class SparseTrackedOvercooked(OvercookedMultiEnv):
    """:class:`OvercookedMultiEnv` that appends each finished episode's sparse return to ``log`` (a list the
    copies of one run may share), when the next episode starts."""

    def __init__(self, log: list[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sparse_log = log
        self._sparse = 0.0
        self._steps = 0

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        out = super().multi_step(ego_action, alt_action)
        self._sparse += self.last_info["sparse_reward"]
        self._steps += 1
        return out

    def multi_reset(self) -> tuple:
        if self._steps:
            self.sparse_log.append(self._sparse)
        self._sparse, self._steps = 0.0, 0
        return super().multi_reset()
