"""``SILICallback``: trains the latent strategy model between policy updates (docs/algorithms.md, section 5.3)."""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from pantheonrl.algos.sili.wrapper import LatentStrategyVecWrapper
from pantheonrl.errors import ConfigError

__all__ = ["SILICallback"]


class SILICallback(BaseCallback):
    """After each rollout, ``updates`` Adam steps of ``E`` and ``D`` on ``batch_size`` random consecutive
    interaction pairs from the wrapper's FIFO (Gumbel-softmax is used only here). The stability weight follows the
    wrapper's :class:`~pantheonrl.algos.sili.shaping.BetaSchedule`, which counts finished interactions.

    :param every: train only once at least this many interactions have finished since the last training (None:
        after every rollout). Off-policy algorithms such as SAC end a "rollout" after every env step, so
        :class:`~pantheonrl.algos.sili.SILI` passes 50 for them (section 5.3's PPO rollouts hold 50 interactions).

    :attr:`losses` holds the mean decoder loss of each training's updates.
    """

    def __init__(
        self,
        wrapper: LatentStrategyVecWrapper,
        *,
        updates: int = 50,
        batch_size: int = 16,
        every: int | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(wrapper, LatentStrategyVecWrapper):
            raise ConfigError(f"wrapper must be a LatentStrategyVecWrapper, got {type(wrapper).__name__}")
        for name, value in (("updates", updates), ("batch_size", batch_size), ("every", every or 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        self.wrapper = wrapper
        self.updates = updates
        self.batch_size = batch_size
        self.every = every
        self._trained_at = 0  # finished interactions at the last training
        self.rng = np.random.default_rng(seed)
        self.losses: list[float] = []

    def _on_step(self) -> bool:
        return True

    def train_latent(self) -> float | None:
        """``updates`` Adam steps of the latent model; the mean loss (None without a model or data)."""
        model = self.wrapper.model
        if model is None or not self.wrapper.pairs:
            return None
        losses = []
        for _ in range(self.updates):
            prev, cur = self.wrapper.sample_pairs(self.batch_size, self.rng)
            losses.append(model.train_step(prev, cur))
        self.losses.append(float(np.mean(losses)))
        return self.losses[-1]

    def _on_rollout_end(self) -> None:
        done = self.wrapper.n_interactions
        if self.every is not None and done - self._trained_at < self.every:
            return
        self._trained_at = done
        loss = self.train_latent()
        if loss is not None:
            self.logger.record("sili/decoder_loss", loss)
            self.logger.record("sili/beta", self.wrapper.beta)
