"""SB3 callbacks for multi-agent training."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["PartnerMetricsCallback"]


class PartnerMetricsCallback(BaseCallback):
    """Log the ego's episode return and length per partner: ``partners/seat<s>_<id>/ep_rew_mean`` (and
    ``ep_len_mean``, ``episodes``), from the ``episode`` and ``_partnerid`` entries of the step infos.

    Works with a single game (SB3's ``Monitor`` adds ``episode``) and with :class:`MultiAgentVecEnv`.

    :param sampler: optional object with ``record(partnerids, ego_return)`` (e.g. ``PrioritisedSampler``).
    :param window: episodes per partner in the running means.
    """

    def __init__(self, sampler: Any = None, window: int = 100, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.sampler = sampler
        self.returns: dict[str, deque] = defaultdict(lambda: deque(maxlen=window))
        self.lengths: dict[str, deque] = defaultdict(lambda: deque(maxlen=window))
        self.episodes: dict[str, int] = defaultdict(int)

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            episode = info.get("episode")
            partnerids = info.get("_partnerid")
            if episode is None or partnerids is None:
                continue
            if self.sampler is not None:
                self.sampler.record(partnerids, episode["r"])
            for seat, pid in enumerate(partnerids):
                key = f"seat{seat}_{pid}"
                self.returns[key].append(episode["r"])
                self.lengths[key].append(episode["l"])
                self.episodes[key] += 1
        return True

    def _on_rollout_end(self) -> None:
        for key in sorted(self.returns):
            self.logger.record(f"partners/{key}/ep_rew_mean", float(np.mean(self.returns[key])))
            self.logger.record(f"partners/{key}/ep_len_mean", float(np.mean(self.lengths[key])))
            self.logger.record(f"partners/{key}/episodes", self.episodes[key])

    def summary(self) -> dict[str, dict[str, float]]:
        """``{partner key: {"ep_rew_mean", "ep_len_mean", "episodes"}}`` over the recent window."""
        return {
            key: {
                "ep_rew_mean": float(np.mean(self.returns[key])),
                "ep_len_mean": float(np.mean(self.lengths[key])),
                "episodes": self.episodes[key],
            }
            for key in sorted(self.returns)
        }
