"""Baselines of the low-rank partner-adaptation benchmark B-1 (docs/algorithms.md, sections 4.1 and 4.5).

Each baseline turns tabular MAB data into an estimated partner policy table ``pi_hat[s, a]`` (``S x A``, every
row a distribution over the valid actions); the ego then plays
:func:`~pantheonrl.algos.lowrank.tabular.best_response` to it, exactly as the low-rank path does with
``mixture_policy(basis, w)``. States are contexts, given to the networks as one-hot vectors.

* :func:`laplace_bc`: **tabular BC from scratch**, from the new partner's samples only:
  ``pi_hat[s, a] = (N[s, a] + lambda) / (sum_a' N[s, a'] + lambda * |valid(s)|)`` on the valid arms.
* :class:`MultiTaskBC`: the **multi-task** net (``mt`` in the paper): one MLP on every training partner's data
  with the one-hot partner id concatenated to the one-hot context. A new partner gets the **zero** partner
  vector and no adaptation.
* :class:`ModularBC`: the **Modular** policy of Shih et al., ICLR 2021 (arXiv 2104.02871; docs/algorithms.md,
  section 7) trained by behaviour cloning: shared main logits ``f(s)`` plus per-partner logits ``g_p(h(s))``,
  the marginal regulariser with weight ``marginal_weight`` (0.5 as in section 4.1). A new partner gets a
  freshly initialised partner module, trained on its few samples while the main module stays frozen.

The networks are trained **full-batch on count tables**: the loss ``-sum_{p,s,a} N_p[s, a] log pi(a | s, p) /
sum N`` is the behaviour-cloning loss of all samples at once (the exact mean of the minibatch losses), so the
training is deterministic for a seed and cheap on the 10 x 10 MAB. Invalid arms are masked out of every
network's softmax (every method, the low-rank one included, is given the game's ``valid`` table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from torch import nn

from pantheonrl.algos.lowrank.tabular import (
    _counts_of,
    _int,
    _nonneg_float,
    _pos_float,
    _seed,
    _valid,
    count_matrix,
    partner_tensor,
)
from pantheonrl.algos.modular.policies import ModularPolicy, marginal_loss
from pantheonrl.errors import ConfigError

__all__ = ["ModularBC", "MultiTaskBC", "laplace_bc"]

_MASKED = -1e4  # a finite "minus infinity" for invalid arms: exp underflows to 0 and 0 * log-prob stays 0


# ----------------------------------------------------------------------------------------------------- checks


def _layers(value: Any, name: str, example: str) -> list[int]:
    if isinstance(value, int | str) or not isinstance(value, Sequence):
        raise ConfigError(f"{name} must be a sequence of layer sizes such as {example}, got {value!r}")
    return [_int(h, "every layer size", hint=f" in {name}={tuple(value)!r}") for h in value]


def _one_counts(data: Any, n_states: int | None, n_actions: int | None, name: str = "data") -> np.ndarray:
    """One partner's ``(S, A)`` counts from an ``(S, A)`` count array or a ``(states, actions)`` pair."""
    if isinstance(data, tuple | list) and len(data) == 2:
        if n_states is None or n_actions is None:
            raise ConfigError(
                f"{name}: n_states and n_actions are required with (states, actions) samples, e.g. n_states=10, "
                "n_actions=10 for the MAB"
            )
        return count_matrix(data[0], data[1], n_states, n_actions)
    if not isinstance(data, np.ndarray) or data.ndim != 2:
        shape = getattr(data, "shape", None)
        raise ConfigError(
            f"{name} must be an (S, A) numpy array of counts or a (states, actions) pair of index arrays, got "
            f"{type(data).__name__}" + (f" of shape {shape}" if shape is not None else "")
        )
    counts = _counts_of([data], n_states, n_actions)[0]
    return counts


def _valid_or_all(valid: Any, n_states: int, n_actions: int) -> np.ndarray:
    table = _valid(valid, (n_states, n_actions))
    return np.ones((n_states, n_actions), dtype=bool) if table is None else table


def _normalise(probs: np.ndarray, valid: np.ndarray) -> np.ndarray:
    probs = np.where(valid, probs, 0.0)
    return probs / probs.sum(-1, keepdims=True)


def _weighted_nll(log_probs: th.Tensor, counts: th.Tensor) -> th.Tensor:
    """``-sum N log pi / sum N`` (0 for no counts)."""
    return -(counts * log_probs).sum() / counts.sum().clamp_min(1.0)


# ----------------------------------------------------------------------------------------------------- BC


def laplace_bc(
    data: Any,
    *,
    smoothing: float = 1.0,
    valid: Any = None,
    n_states: int | None = None,
    n_actions: int | None = None,
) -> np.ndarray:
    """Tabular behaviour cloning from scratch, Laplace-smoothed over the valid actions.

    ``pi_hat[s, a] = (N[s, a] + lambda) / (sum_a' N[s, a'] + lambda * |valid(s)|)`` for valid ``a``, 0 otherwise;
    a state without counts (and ``lambda = 0``) gets the uniform distribution over its valid actions.

    :param data: the new partner's ``(S, A)`` count array ``N`` (numpy), or a ``(states, actions)`` pair of index
        arrays (then ``n_states`` and ``n_actions`` are required).
    :param smoothing: the pseudo-count ``lambda`` (1: Laplace; 0: the empirical frequencies).
    :param valid: the boolean ``(S, A)`` valid-action table (default: every action is valid).
    :returns: the ``(S, A)`` policy table.
    """
    counts = _one_counts(data, n_states, n_actions)
    smoothing = _nonneg_float(smoothing, "smoothing", "; e.g. 1.0 for Laplace smoothing, 0 for none")
    table, _ = partner_tensor(counts[None], smoothing=smoothing, valid=valid)
    return table[0]


# ------------------------------------------------------------------------------------------- multi-task net


def _training_counts(data: Any, n_states: int, n_actions: int, n_partners: int) -> np.ndarray:
    """``(P, S, A)`` counts with exactly one dataset per training partner."""
    counts = _counts_of(data, n_states, n_actions)
    if counts.shape[0] != n_partners:
        raise ConfigError(
            f"data must hold one dataset per training partner (n_partners={n_partners}), got {counts.shape[0]}"
        )
    return counts


class MultiTaskBC(nn.Module):
    """The multi-task BC baseline: ``pi(a | s, p) = softmax(MLP([onehot(s), onehot(p)]))`` over the valid arms.

    A new partner's policy is the net's output for the **zero** partner vector (no adaptation). The reference
    ``mt`` baseline never shows the net a zero partner vector in training, so its output there is whatever the
    net extrapolates to; :meth:`fit` therefore also trains the zero vector on the pooled data of every partner
    with weight ``partner_dropout`` (the expectation of zeroing the partner vector of that fraction of the
    samples), which makes it the population-average policy. ``partner_dropout=0`` gives the reference baseline.

    :param n_states: ``S`` (contexts, as one-hot inputs).
    :param n_actions: ``A``.
    :param n_partners: ``P``, the number of training partners.
    :param hidden: hidden layer sizes (ReLU); section 4.1's nets are 64-64.
    :param valid: the boolean ``(S, A)`` valid-action table (default: all valid).
    :param seed: seeds the initial parameters without touching torch's global generator.
    """

    def __init__(
        self,
        n_states: int,
        n_actions: int,
        n_partners: int,
        *,
        hidden: Sequence[int] = (64, 64),
        valid: Any = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.n_states = _int(n_states, "n_states")
        self.n_actions = _int(n_actions, "n_actions")
        self.n_partners = _int(n_partners, "n_partners", hint="; the number of training partners")
        self.hidden = tuple(_layers(hidden, "hidden", "(64, 64) or ()"))
        self.valid = _valid_or_all(valid, self.n_states, self.n_actions)
        seed = _seed(seed)
        with th.random.fork_rng(devices=[]):
            if seed is not None:
                th.manual_seed(seed)
            layers: list[nn.Module] = []
            size = self.n_states + self.n_partners
            for h in self.hidden:
                layers += [nn.Linear(size, h), nn.ReLU()]
                size = h
            layers.append(nn.Linear(size, self.n_actions))
            self.net = nn.Sequential(*layers)
        self.register_buffer("mask", th.where(th.as_tensor(self.valid), 0.0, _MASKED))

    def _inputs(self, partner: int | None) -> th.Tensor:
        """The ``(S, S + P)`` inputs of every context for one partner (None: the zero partner vector)."""
        x = th.zeros(self.n_states, self.n_states + self.n_partners)
        x[:, : self.n_states] = th.eye(self.n_states)
        if partner is not None:
            x[:, self.n_states + partner] = 1.0
        return x

    def _check_partner(self, partner: Any) -> int | None:
        if partner is None:
            return None
        if isinstance(partner, bool) or not isinstance(partner, int | np.integer) or not 0 <= partner < self.n_partners:
            raise ConfigError(
                f"partner must be a training partner index in 0..{self.n_partners - 1}, or None for a new partner "
                f"(the zero partner vector); got {partner!r}"
            )
        return int(partner)

    def log_policy(self, partner: int | None = None) -> th.Tensor:
        """``log pi(. | s, p)`` for every context, shape ``(S, A)``; ``partner=None``: the zero partner vector."""
        logits = self.net(self._inputs(self._check_partner(partner))) + self.mask
        return th.log_softmax(logits, -1)

    def fit(self, data: Any, *, steps: int = 500, lr: float = 1e-2, partner_dropout: float = 0.1) -> list[float]:
        """Full-batch behaviour cloning with Adam on every training partner's counts.

        :param data: one ``(states, actions)`` pair or ``(S, A)`` count array per training partner, or a
            ``(P, S, A)`` count array.
        :param steps: Adam steps.
        :param lr: Adam's learning rate.
        :param partner_dropout: weight ``d`` in ``(1 - d) * NLL(one-hot partner) + d * NLL(zero vector)``,
            in ``[0, 1)`` (see the class docstring).
        :returns: the training loss before each step.
        """
        counts = _training_counts(data, self.n_states, self.n_actions, self.n_partners)
        steps = _int(steps, "steps", hint="; e.g. 500")
        lr = _pos_float(lr, "lr", "; e.g. 1e-2")
        drop = _nonneg_float(partner_dropout, "partner_dropout", "; e.g. 0.1, or 0 for the reference baseline")
        if drop >= 1:
            raise ConfigError(f"partner_dropout must be in [0, 1), got {drop}; e.g. 0.1")
        n = th.as_tensor(counts, dtype=th.float32)
        x_all = th.cat([self._inputs(p) for p in range(self.n_partners)])  # (P * S, S + P)
        x_zero = self._inputs(None)
        opt = th.optim.Adam(self.net.parameters(), lr=lr)
        history = []
        for _ in range(steps):
            logp = th.log_softmax(self.net(x_all).reshape(n.shape) + self.mask, -1)
            loss = (1.0 - drop) * _weighted_nll(logp, n)
            if drop > 0:
                loss = loss + drop * _weighted_nll(th.log_softmax(self.net(x_zero) + self.mask, -1), n.sum(0))
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(float(loss.detach()))
        return history

    def policy(self, partner: int | None = None) -> np.ndarray:
        """The ``(S, A)`` policy table of a training partner, or of a new partner (``None``: zero vector)."""
        with th.no_grad():
            probs = self.log_policy(partner).exp().double().numpy()
        return _normalise(probs, self.valid)


# ----------------------------------------------------------------------------------------------------- modular


class ModularBC(nn.Module):
    """The Modular policy (docs/algorithms.md, section 7) trained by behaviour cloning on tabular data.

    The network is the toolkit's :class:`~pantheonrl.algos.modular.policies.ModularPolicy` (main net
    ``net_arch``, whose last hidden layer is ``h``; main logits ``f(s)``; partner modules ``g_p(h(s))`` of
    ``partner_net_arch``; SB3's orthogonal initialisation, so a fresh partner module's logits start near 0 and
    the new partner's policy starts at the main policy). Only its policy half is used: the value heads of that
    actor-critic class stay untrained, and the PPO machinery of :class:`~pantheonrl.algos.modular.ModularAlgorithm`
    is replaced here by a supervised loss, per section 7.1 with the PPO loss replaced by the NLL:

    ``L = (1/P) sum_p NLL_p(f + g_p) + marginal_weight * L_marg``, with ``L_marg`` (the toolkit's
    :func:`~pantheonrl.algos.modular.policies.marginal_loss`) averaged over the contexts. Each partner's NLL is
    its own mean, so ``marginal_weight`` weighs the regulariser against one partner's loss as in the reference,
    whose every per-partner update adds ``lambda * L_marg``.

    :meth:`adapt` adds a freshly initialised partner module for a new partner, freezes the main module
    (``ModularPolicy.set_freeze_main``; B-1's protocol, whereas the reference of section 7.1 fine-tunes both
    modules with PPO) and trains only the new module's policy layers on the new partner's samples.

    :param n_states: ``S`` (contexts, as one-hot inputs).
    :param n_actions: ``A``.
    :param n_partners: ``P``, the number of training partners.
    :param net_arch: the main module's hidden sizes (section 7.2: ``[30, 30]``).
    :param partner_net_arch: each partner module's hidden sizes (``[30, 30]``).
    :param marginal_weight: ``lambda`` of the marginal regulariser (section 4.1: 0.5).
    :param valid: the boolean ``(S, A)`` valid-action table (default: all valid).
    :param seed: seeds the initial parameters (and every fresh partner module) without touching torch's global
        generator.
    """

    def __init__(
        self,
        n_states: int,
        n_actions: int,
        n_partners: int,
        *,
        net_arch: Sequence[int] = (30, 30),
        partner_net_arch: Sequence[int] = (30, 30),
        marginal_weight: float = 0.5,
        valid: Any = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.n_states = _int(n_states, "n_states")
        self.n_actions = _int(n_actions, "n_actions")
        self.n_partners = _int(n_partners, "n_partners", hint="; the number of training partners")
        self.marginal_weight = _nonneg_float(marginal_weight, "marginal_weight", "; e.g. 0.5 (section 4.1)")
        self.valid = _valid_or_all(valid, self.n_states, self.n_actions)
        self.seed = _seed(seed)
        with th.random.fork_rng(devices=[]):
            if self.seed is not None:
                th.manual_seed(self.seed)
            self.net = ModularPolicy(
                spaces.Box(0.0, 1.0, (self.n_states,), np.float32),
                spaces.Discrete(self.n_actions),
                lambda _: 1e-3,  # the policy's own optimizer is unused
                net_arch=_layers(net_arch, "net_arch", "(30, 30)"),
                partner_net_arch=_layers(partner_net_arch, "partner_net_arch", "(30, 30)"),
                num_partners=self.n_partners,
                optimizer_kwargs={},
            )
        self.register_buffer("mask", th.where(th.as_tensor(self.valid), 0.0, _MASKED))
        self.register_buffer("contexts", th.eye(self.n_states))
        self.new_partner: int | None = None
        """The index of the module of the latest :meth:`adapt` (what ``partner=None`` means), or None."""

    def _check_partner(self, partner: Any) -> int:
        if partner is None:
            if self.new_partner is None:
                raise ConfigError("no new partner yet: call adapt(data) first, or give a training partner index")
            return self.new_partner
        n = self.net.num_partners
        if isinstance(partner, bool) or not isinstance(partner, int | np.integer) or not 0 <= partner < n:
            raise ConfigError(
                f"partner must be a partner-module index in 0..{n - 1} (0..{self.n_partners - 1} are the training "
                f"partners), or None for the latest adapted partner; got {partner!r}"
            )
        return int(partner)

    def main_log_policy(self) -> th.Tensor:
        """``log softmax(f(s))`` over the valid arms for every context, shape ``(S, A)``."""
        main, _ = self.net.get_action_logits(self.contexts, 0)
        return th.log_softmax(main + self.mask, -1)

    def log_policy(self, partner: int | None = None) -> th.Tensor:
        """``log softmax(f(s) + g_p(h(s)))`` over the valid arms for every context, shape ``(S, A)``;
        ``partner=None``: the latest adapted partner."""
        main, g = self.net.get_action_logits(self.contexts, self._check_partner(partner))
        return th.log_softmax(main + g + self.mask, -1)

    def main_parameters(self) -> list[nn.Parameter]:
        """The main (task) module's parameters (frozen during :meth:`adapt`)."""
        partner = {
            id(p)
            for name in ("partner_mlp_extractor", "partner_action_net", "partner_value_net")
            for p in getattr(self.net, name).parameters()
        }
        return [p for p in self.net.parameters() if id(p) not in partner]

    def fit(self, data: Any, *, steps: int = 1000, lr: float = 3e-3) -> list[float]:
        """Full-batch behaviour cloning of every training partner with its own module, plus the marginal term.

        :param data: one ``(states, actions)`` pair or ``(S, A)`` count array per training partner, or a
            ``(P, S, A)`` count array.
        :param steps: Adam steps.
        :param lr: Adam's learning rate.
        :returns: the training loss before each step.
        """
        counts = _training_counts(data, self.n_states, self.n_actions, self.n_partners)
        steps = _int(steps, "steps", hint="; e.g. 1000")
        lr = _pos_float(lr, "lr", "; e.g. 3e-3")
        n = th.as_tensor(counts, dtype=th.float32)
        per_partner = n.sum((1, 2)).clamp_min(1.0)
        params = self.main_parameters()
        for k in range(self.n_partners):
            params += list(self.net.partner_mlp_extractor[k].policy_net.parameters())
            params += list(self.net.partner_action_net[k].parameters())
        opt = th.optim.Adam(params, lr=lr)
        history = []
        for _ in range(steps):
            main, g = self.net.all_partner_logits(self.contexts)
            main = main + self.mask
            g = g[: self.n_partners]
            logp = th.log_softmax(main.unsqueeze(0) + g, -1)  # (P, S, A)
            nll = (-(n * logp).sum((1, 2)) / per_partner).mean()
            loss = nll + self.marginal_weight * marginal_loss(main, g) if self.marginal_weight > 0 else nll
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(float(loss.detach()))
        return history

    def adapt(
        self,
        data: Any,
        *,
        epochs: int = 20,
        batch_size: int = 8,
        lr: float = 1e-3,
        seed: int | None = None,
        n_states: int | None = None,
        n_actions: int | None = None,
    ) -> list[float]:
        """Fit a freshly initialised partner module to a new partner's samples, with the main module frozen.

        Minibatch behaviour cloning: each epoch shuffles the ``n`` samples and takes one Adam step per minibatch
        of ``batch_size``, so a budget of ``n`` samples gets ``epochs * ceil(n / batch_size)`` steps: few steps
        (and a partner module that stays close to its initial ~0 logits, i.e. to the main policy) for a handful
        of samples, more for a large budget.

        Every call adds a new module (its index becomes :attr:`new_partner`, what ``partner=None`` refers to);
        the main module's parameters are frozen for the call (and unfrozen after) and only the new module's
        policy layers are in the optimizer, so neither the main module nor the training partners' modules move.

        :param data: the new partner's ``(S, A)`` count array, or a ``(states, actions)`` pair.
        :param epochs: passes over the samples.
        :param batch_size: samples per Adam step.
        :param lr: Adam's learning rate. The defaults (20 epochs of minibatches of 8, Adam 1e-3) had the best
            mean best-response reward over the budgets 4-64 in a sweep on B-1 populations (seeds 100-105, disjoint
            from the benchmark's); more steps or a larger rate overfit a few samples (benchmarks/lowrank_mab.py).
        :param seed: seeds the shuffling (None: this model's seed).
        :returns: the new partner's NLL per sample before the first epoch and after each (``epochs + 1`` values).
        """
        counts = _one_counts(data, n_states or self.n_states, n_actions or self.n_actions)
        if counts.shape != (self.n_states, self.n_actions):
            raise ConfigError(f"data must be ({self.n_states}, {self.n_actions}) counts, got {counts.shape}")
        if counts.sum() == 0 or np.any(counts != np.round(counts)):
            raise ConfigError("data must hold at least one sample, as whole-number counts or (states, actions)")
        epochs = _int(epochs, "epochs", hint="; e.g. 10")
        batch_size = _int(batch_size, "batch_size", hint="; e.g. 16")
        lr = _pos_float(lr, "lr", "; e.g. 1e-3")
        seed = self.seed if seed is None else _seed(seed)
        cells = np.repeat(np.arange(counts.size), counts.reshape(-1).astype(np.int64))
        states_t = th.as_tensor(cells // self.n_actions)
        actions_t = th.as_tensor(cells % self.n_actions)
        n = th.as_tensor(counts, dtype=th.float32)
        with th.random.fork_rng(devices=[]):
            if self.seed is not None:
                th.manual_seed(self.seed + 7919 * (self.net.num_partners + 1))
            k = self.net.add_partner_module()
        self.new_partner = k
        params = [
            *self.net.partner_mlp_extractor[k].policy_net.parameters(),
            *self.net.partner_action_net[k].parameters(),
        ]
        opt = th.optim.Adam(params, lr=lr)
        rng = np.random.default_rng(seed)
        self.net.set_freeze_main(True)
        try:
            # the main module is frozen: its latent h(s) and logits f(s) are computed once
            with th.no_grad():
                h = self.net.mlp_extractor.forward_actor(self.net.extract_features(self.contexts))
                main = self.net.action_net(h) + self.mask
            extractor, head = self.net.partner_mlp_extractor[k], self.net.partner_action_net[k]

            def log_policy() -> th.Tensor:
                return th.log_softmax(main + head(extractor.forward_actor(h)), -1)

            with th.no_grad():
                trace = [float(_weighted_nll(log_policy(), n))]
            for _ in range(epochs):
                order = th.as_tensor(rng.permutation(cells.size))
                for start in range(0, cells.size, batch_size):
                    idx = order[start : start + batch_size]
                    loss = -log_policy()[states_t[idx], actions_t[idx]].mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                with th.no_grad():
                    trace.append(float(_weighted_nll(log_policy(), n)))
        finally:
            self.net.set_freeze_main(False)
        return trace

    def policy(self, partner: int | None = None) -> np.ndarray:
        """The ``(S, A)`` policy table of a partner module (``None``: the latest adapted partner)."""
        with th.no_grad():
            probs = self.log_policy(partner).exp().double().numpy()
        return _normalise(probs, self.valid)

    def main_policy(self) -> np.ndarray:
        """The ``(S, A)`` policy table of the main module alone, ``softmax(f(s))``."""
        with th.no_grad():
            probs = self.main_log_policy().exp().double().numpy()
        return _normalise(probs, self.valid)
