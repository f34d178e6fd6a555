"""The latent strategy model of LILI/SILI (docs/algorithms.md, sections 5.1 and 5.2).

* the **encoder** ``E`` maps the previous interaction's transitions ``tau_{i-1}`` (``K`` steps of
  ``(s, a, s', r)``, flattened in order, zero-padded) to the partner's latent strategy ``z_i``: discrete (logits of
  a one-hot latent: straight-through Gumbel-softmax with temperature 1 in training, or straight-through argmax,
  and the argmax one-hot when playing) or continuous (the mean, deterministic);
* the **decoder** ``D`` predicts each reward of the current interaction from ``(s, a, s', z_i)`` (and, optionally,
  the state change ``s' - s`` from ``(s, a, z_i)``, each dimension scaled by its spread in the batch); ``E`` and
  ``D`` are trained together by the mean squared error.

The policy only ever sees ``z`` as data (appended to its observation), so no policy gradient reaches ``E``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch as th
from torch import nn
from torch.nn import functional as F

from pantheonrl.errors import ConfigError

__all__ = ["ESTIMATORS", "LATENT_KINDS", "LatentStrategyModel", "mlp"]

LATENT_KINDS = ("discrete", "continuous")
ESTIMATORS = ("gumbel", "argmax")


def mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Sequential:
    """A ReLU MLP ``n_in -> hidden... -> n_out``."""
    layers: list[nn.Module] = []
    size = n_in
    for h in hidden:
        layers += [nn.Linear(size, h), nn.ReLU()]
        size = h
    layers.append(nn.Linear(size, n_out))
    return nn.Sequential(*layers)


def _positive_int(value: Any, name: str, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}; {hint}")
    return int(value)


class LatentStrategyModel(nn.Module):
    """Encoder ``E(tau_{i-1}) -> z_i`` and reward (+ optional next-state) decoder ``D(s, a, s', z_i)``.

    :param obs_dim: the flat size of one observation ``s``.
    :param act_dim: the flat size of one action ``a`` (a one-hot for discrete actions).
    :param horizon: ``K``, the number of transitions the encoder reads (an interaction's length).
    :param latent_dim: the size of ``z`` (driving: 2; section 5.2).
    :param latent: ``"discrete"`` (one-hot, Gumbel-softmax) or ``"continuous"``.
    :param hidden: hidden sizes of both MLPs (the paper: 256 x 256).
    :param estimator: the discrete latent's training gradient: ``"gumbel"`` (straight-through Gumbel-softmax with
        temperature 1, the paper's) or ``"argmax"`` (straight-through without noise: the argmax one-hot forward,
        the softmax's gradient backward). Gumbel noise can make the decoder learn to ignore ``z`` while ``E`` is
        still untrained, after which ``E`` gets no gradient and the latent stays constant; on Stable Driving this
        happened (benchmarks/sili_driving.py), while ``"argmax"`` separated the other car's modes.
    :param predict_next_state: also decode ``s' - s`` from ``(s, a, z)`` (off in the authors' code).
    :param lr: Adam's learning rate for ``E`` and ``D`` (the paper: 1e-4).
    :param seed: seeds the initial parameters and the Gumbel noise without touching torch's global generator.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        horizon: int,
        latent_dim: int = 2,
        *,
        latent: str = "discrete",
        estimator: str = "gumbel",
        hidden: Sequence[int] = (256, 256),
        predict_next_state: bool = False,
        lr: float = 1e-4,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim = _positive_int(obs_dim, "obs_dim", "the flat observation size")
        self.act_dim = _positive_int(act_dim, "act_dim", "the flat action size")
        self.horizon = _positive_int(horizon, "horizon", "the number of steps of one interaction (driving: 10)")
        self.latent_dim = _positive_int(latent_dim, "latent_dim", "the size of the latent strategy (driving: 2)")
        if latent not in LATENT_KINDS:
            raise ConfigError(f"latent must be one of {LATENT_KINDS}, got {latent!r}")
        if latent == "discrete" and self.latent_dim < 2:
            raise ConfigError(f"a discrete latent needs latent_dim >= 2 (one-hot), got {latent_dim}")
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
            raise ConfigError(f"lr must be a number > 0, got {lr!r}; the paper uses 1e-4")
        if estimator not in ESTIMATORS:
            raise ConfigError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        self.latent = latent
        self.estimator = estimator
        self.step_dim = 2 * self.obs_dim + self.act_dim + 1
        self.predict_next_state = bool(predict_next_state)
        self._gen = th.Generator()
        with th.random.fork_rng(devices=[]):
            if seed is not None:
                th.manual_seed(int(seed))
                self._gen.manual_seed(int(seed))
            self.encoder = mlp(self.horizon * self.step_dim, hidden, self.latent_dim)
            self.decoder = mlp(2 * self.obs_dim + self.act_dim + self.latent_dim, hidden, 1)
            self.state_decoder = (
                mlp(self.obs_dim + self.act_dim + self.latent_dim, hidden, self.obs_dim)
                if self.predict_next_state
                else None
            )
        self.optimizer = th.optim.Adam(self.parameters(), lr=float(lr))

    # ---------------------------------------------------------------------------------------------- encoding

    def _tau(self, tau: Any) -> th.Tensor:
        t = th.as_tensor(np.asarray(tau, dtype=np.float32))
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3 or t.shape[1:] != (self.horizon, self.step_dim):
            raise ConfigError(
                f"interactions must be (n, {self.horizon}, {self.step_dim}) arrays of (s, a, s', r) rows "
                f"(horizon={self.horizon}, 2*obs_dim+act_dim+1={self.step_dim}), got {tuple(t.shape)}"
            )
        return t

    def logits(self, tau: Any) -> th.Tensor:
        """``E``'s raw output for ``(n, K, step_dim)`` interactions: logits (discrete) or means (continuous)."""
        t = self._tau(tau)
        return self.encoder(t.reshape(t.shape[0], -1))

    def encode(self, tau: Any) -> np.ndarray:
        """The latent used when playing: the argmax one-hot (discrete) or the mean (continuous); no gradient."""
        with th.no_grad():
            out = self.logits(tau)
            if self.latent == "discrete":
                out = F.one_hot(out.argmax(-1), self.latent_dim).to(th.float32)
        return out.numpy().astype(np.float32)

    def _train_latent(self, tau: th.Tensor) -> th.Tensor:
        out = self.logits(tau)
        if self.latent == "continuous":
            return out
        if self.estimator == "gumbel":
            out = out - th.empty_like(out).exponential_(generator=self._gen).log()  # + Gumbel(0, 1) noise
        soft = F.softmax(out, dim=-1)  # temperature 1
        hard = F.one_hot(soft.argmax(-1), self.latent_dim).to(soft.dtype)
        return hard - soft.detach() + soft  # straight-through

    # ---------------------------------------------------------------------------------------------- decoding

    def loss(self, prev: Any, cur: Any) -> th.Tensor:
        """The decoder's mean squared error on ``cur``'s rewards (and next states) given ``z = E(prev)``.

        :param prev: ``(n, K, step_dim)``: the interactions before.
        :param cur: ``(n, K, step_dim)``: the interactions to predict (padding rows, all zero, are ignored).
        """
        p, c = self._tau(prev), self._tau(cur)
        if p.shape[0] != c.shape[0]:
            raise ConfigError(f"prev and cur must pair up, got {p.shape[0]} and {c.shape[0]} interactions")
        z = self._train_latent(p)[:, None, :].expand(-1, self.horizon, -1)
        o, a = self.obs_dim, self.act_dim
        s, act, s2, r = c[..., :o], c[..., o : o + a], c[..., o + a : 2 * o + a], c[..., -1]
        live = (c.abs().sum(-1) > 0).to(c.dtype)
        n_live = live.sum().clamp(min=1.0)
        pred = self.decoder(th.cat([s, act, s2, z], -1)).squeeze(-1)
        loss = ((pred - r) ** 2 * live).sum() / n_live
        if self.state_decoder is not None:
            # the change s' - s, each dim in units of its spread over the batch: a change that only the latent
            # explains (a lane switch on one step of ten) then weighs as much as the predictable motion
            ds = s2 - s
            mask = live[..., None]
            mean = (ds * mask).sum((0, 1)) / n_live
            scale = (((ds - mean) ** 2 * mask).sum((0, 1)) / n_live + 1e-4).sqrt().detach()
            pred_ds = self.state_decoder(th.cat([s, act, z], -1))
            loss = loss + ((((pred_ds - ds) / scale) ** 2).mean(-1) * live).sum() / n_live
        return loss

    def train_step(self, prev: Any, cur: Any) -> float:
        """One Adam step of ``E`` and ``D`` on a batch of consecutive pairs; returns the loss before it."""
        self.train()
        loss = self.loss(prev, cur)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.eval()
        return float(loss.detach())
