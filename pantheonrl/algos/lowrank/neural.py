"""The neural path of low-rank partner adaptation (docs/algorithms.md, sections 4.1 and 4.2 "SB3 mapping").

The policy is a Tucker-1 (partner-mode) factorisation of the logit (or mean) tensor::

    w(p) = softmax(f_P(onehot(p)))     in the simplex, f_P linear n_partners -> r   (partner core)
    M(s) = reshape(f_S(s), r x D)      f_S an MLP (64-64 ReLU by default)             (state core)
    out(s, p) = w(p)^T M(s)            discrete: logits of a Categorical over D = n_actions arms
                                       continuous: the mean of a Normal with variance 1 over D = action_dim dims

:class:`LowRankPolicy` is trained by multi-partner behaviour cloning (:meth:`LowRankPolicy.fit_bc`) and adapted
to a new partner (:meth:`LowRankPolicy.adapt`): the new partner's input is the zero vector, so its weights start
at ``w0 = softmax(f_P(0))`` (the bias of ``f_P``); adaptation trains a separate parameter ``adapt_logits``
(initialised to that bias) and, unless ``partial``, also ``f_S``. ``f_P`` itself is never changed by adaptation.

**Conditional imitation** (joint actions, e.g. Particle): the model outputs the joint action; ``dims=`` scores only
some action dims, so adaptation uses the partner's dims while the executed action uses the ego's dims
(:class:`LowRankSB3Policy` with ``ego_dims``). The rows of ``f_S``'s last layer that produce the ego's dims get
exactly zero gradient from a partner-dims loss (section 4.4, property 6).

:class:`LowRankSB3Policy` wraps a model as an SB3 ``BasePolicy`` so that the adapted ego plays as a
:class:`~pantheonrl.common.agents.StaticPolicyAgent`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution, Distribution
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.utils import get_device
from torch import nn

from pantheonrl.algos.lowrank.tabular import LowRankBasis, _pos_float, _seed
from pantheonrl.artifacts import ArtifactError, space_from_json, space_to_json
from pantheonrl.common.trajsaver import MultiTransitions, SimultaneousTransitions, TransitionsMinimal
from pantheonrl.errors import ConfigError
from pantheonrl.eval._io import atomic_write_bytes

__all__ = ["FORMAT", "FORMAT_VERSION", "LowRankPolicy", "LowRankSB3Policy", "as_samples"]

FORMAT = "pantheonrl.lowrank"
FORMAT_VERSION = 1


# ----------------------------------------------------------------------------------------------------- checks


def _int(value: Any, name: str, minimum: int = 1, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}{hint}")
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value}{hint}")
    return int(value)


def _dims(dims: Any, size: int, name: str = "dims") -> list[int] | None:
    if dims is None:
        return None
    arr = np.asarray(dims).reshape(-1)
    if arr.size == 0 or not (np.issubdtype(arr.dtype, np.integer) or np.all(np.mod(arr, 1) == 0)):
        raise ConfigError(f"{name} must be a non-empty list of action-dim indices in 0..{size - 1}, got {dims!r}")
    out = [int(d) for d in arr]
    if min(out) < 0 or max(out) >= size or len(set(out)) != len(out):
        raise ConfigError(
            f"{name} must be distinct action-dim indices in 0..{size - 1} (action_dim={size}), got {out}; "
            "e.g. dims=[2, 3] for the partner's half of a 4-D joint action"
        )
    return out


def as_samples(data: Any, actions: Any = None, name: str = "data") -> tuple[Any, Any]:
    """``(obs, actions)`` from the toolkit's trajectory objects or from arrays.

    * :class:`~pantheonrl.common.trajsaver.TransitionsMinimal` (one player's rows, e.g. from
      :func:`pantheonrl.algos.bc.load_demonstrations` or a human-play log): ``(obs, acts)``;
    * :class:`~pantheonrl.common.trajsaver.SimultaneousTransitions` (both players): the ego's observations and
      the **joint** action ``[ego action | partner action]`` (conditional imitation: the partner's dims come
      last, e.g. ``dims=[2, 3]`` for 2-D actions);
    * ``(obs, actions)`` as a pair, or as two arguments.
    """
    if isinstance(data, TransitionsMinimal | SimultaneousTransitions) and actions is not None:
        raise ConfigError(f"{name}: give either a transitions object or (obs, actions), not both")
    if isinstance(data, TransitionsMinimal):
        return data.obs, data.acts
    if isinstance(data, SimultaneousTransitions):
        n = len(data.egoacts)
        return data.egoobs, np.concatenate([data.egoacts.reshape(n, -1), data.altacts.reshape(n, -1)], axis=1)
    if isinstance(data, MultiTransitions):
        raise ConfigError(
            f"{name}: a {type(data).__name__} has no joint action; pass one player's rows "
            "(data.get_ego_transitions() or data.get_alt_transitions())"
        )
    if actions is None:
        if isinstance(data, Sequence | tuple) and not isinstance(data, str) and len(data) == 2:
            return data[0], data[1]
        raise ConfigError(
            f"{name} must be an (obs, actions) pair, a TransitionsMinimal or a SimultaneousTransitions, got "
            f"{type(data).__name__}"
        )
    return data, actions


def _payload(kind: str, config: dict[str, Any], state: Mapping[str, th.Tensor]) -> bytes:
    buffer = io.BytesIO()
    th.save(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": kind,
            "config": json.dumps(config, allow_nan=False),
            "state_dict": {k: v.detach().cpu().clone() for k, v in state.items()},
        },
        buffer,
    )
    return buffer.getvalue()


def _write(path: str | os.PathLike[str], data: bytes) -> Path:
    target = Path(path).expanduser()
    if target.is_dir():
        raise ArtifactError(f"cannot save a low-rank policy at {str(target)!r}: it is a folder; give a file path")
    return atomic_write_bytes(target, data)


def _read(path: str | os.PathLike[str], kind: str) -> tuple[dict[str, Any], dict[str, th.Tensor]]:
    """Read a file written by ``save`` (``torch.load(weights_only=True)``: no code is unpickled)."""
    target = Path(path).expanduser()
    fix = f"save it again with {kind}.save"
    if not target.is_file():
        raise ArtifactError(f"no low-rank policy file at {str(target)!r} ({fix})")
    try:
        payload = th.load(target, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ArtifactError(f"{str(target)!r} is not a weights-only torch file ({type(exc).__name__}); {fix}") from None
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT:
        raise ArtifactError(f"{str(target)!r} is not a low-rank policy file (no format {FORMAT!r}); {fix}")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArtifactError(
            f"{str(target)!r}: format_version {version!r} is not supported (this pantheonrl reads up to "
            f"{FORMAT_VERSION}); upgrade pantheonrl to load it"
        )
    if payload.get("kind") != kind:
        raise ArtifactError(
            f"{str(target)!r} holds a {payload.get('kind')!r}, not a {kind}; load it with {payload.get('kind')}.load"
        )
    state = payload.get("state_dict")
    try:
        config = json.loads(payload["config"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{str(target)!r}: malformed config ({type(exc).__name__}: {exc}); {fix}") from None
    if (
        not isinstance(config, dict)
        or not isinstance(state, Mapping)
        or not all(th.is_tensor(v) for v in state.values())
    ):
        raise ArtifactError(f"{str(target)!r}: malformed config or state_dict; {fix}")
    return config, dict(state)


class LowRankPolicy(nn.Module):
    """``pi(a | s, p)`` with logits (or mean) ``w(p)^T M(s)`` (see the module docstring).

    :param obs_dim: size of the (flat) observation vector.
    :param n_partners: ``P``, the number of training partners (the one-hot partner input's size).
    :param rank: ``r``, the number of basis policies (section 4.1: 4).
    :param action_dim: continuous actions: the action vector's size (a Normal with variance 1).
    :param n_actions: discrete actions: the number of actions (a Categorical). Give exactly one of the two.
    :param hidden: the hidden sizes of the state core ``f_S`` (ReLU); ``()`` makes ``f_S`` linear.
    :param seed: seeds the initial parameters (without touching torch's global generator); None: torch's global.
    :param obs_mean: optional input normalisation: ``f_S`` sees ``(obs - obs_mean) / obs_std``. One number or
        ``obs_dim`` numbers; None (default): 0. Use it when observations are far from the origin or of very
        different scales (e.g. Particle positions in ``[1, 10]``), where PyTorch's default initialisation puts
        every first-layer ReLU kink near the origin, away from the data.
    :param obs_std: the matching scale: one number or ``obs_dim`` numbers, each finite and > 0; None: 1.
        Both are part of :meth:`config`, so :meth:`save` / :meth:`load` keep them.
    """

    def __init__(
        self,
        obs_dim: int,
        n_partners: int,
        rank: int = 4,
        *,
        action_dim: int | None = None,
        n_actions: int | None = None,
        hidden: Sequence[int] = (64, 64),
        seed: int | None = None,
        obs_mean: float | Sequence[float] | None = None,
        obs_std: float | Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim = _int(obs_dim, "obs_dim")
        self.n_partners = _int(n_partners, "n_partners", hint="; the number of training partners")
        self.rank = _int(rank, "rank", hint="; section 4.1 uses rank=4")
        if (action_dim is None) == (n_actions is None):
            raise ConfigError(
                f"give exactly one of n_actions (discrete) and action_dim (continuous), got n_actions={n_actions!r} "
                f"and action_dim={action_dim!r}; e.g. LowRankPolicy(10, 16, n_actions=10)"
            )
        self.discrete = n_actions is not None
        self.out_dim = (
            _int(n_actions, "n_actions", hint="; the number of discrete actions")
            if self.discrete
            else _int(action_dim, "action_dim", hint="; the size of the continuous action vector")
        )
        if isinstance(hidden, int | str) or not isinstance(hidden, Sequence):
            raise ConfigError(f"hidden must be a sequence of layer sizes such as (64, 64) or (), got {hidden!r}")
        self.hidden = tuple(_int(h, "hidden layer size", hint=f" in hidden={tuple(hidden)!r}") for h in hidden)
        seed = _seed(seed)
        self.obs_mean = self._norm_values(obs_mean, "obs_mean", positive=False)
        self.obs_std = self._norm_values(obs_std, "obs_std", positive=True)
        # not in the state_dict (they are constructor arguments, kept by config()), so old files still load
        self.register_buffer("_obs_shift", th.tensor(self.obs_mean or [0.0] * self.obs_dim), persistent=False)
        self.register_buffer("_obs_scale", th.tensor(self.obs_std or [1.0] * self.obs_dim), persistent=False)

        with th.random.fork_rng(devices=[]):
            if seed is not None:
                th.manual_seed(int(seed))
            layers: list[nn.Module] = []
            size = self.obs_dim
            for h in self.hidden:
                layers += [nn.Linear(size, h), nn.ReLU()]
                size = h
            layers.append(nn.Linear(size, self.rank * self.out_dim))
            self.f_S = nn.Sequential(*layers)
            self.f_P = nn.Linear(self.n_partners, self.rank)
        self.adapt_logits = nn.Parameter(self.f_P.bias.detach().clone())

    def _norm_values(self, value: Any, name: str, positive: bool) -> list[float] | None:
        """``obs_mean`` / ``obs_std`` as ``obs_dim`` floats (a single number is repeated), or None."""
        if value is None:
            return None
        rule = f"{name} must be None, one finite number or {self.obs_dim} finite numbers (obs_dim={self.obs_dim})"
        rule += ", each > 0" if positive else ""
        if isinstance(value, bool | str | bytes):
            raise ConfigError(f"{rule}; got {value!r}")
        try:
            arr = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ConfigError(f"{rule}; got {value!r:.200}") from None
        if arr.size == 1:
            arr = np.repeat(arr, self.obs_dim)
        if arr.size != self.obs_dim or not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
            raise ConfigError(f"{rule}; got {value!r:.200}")
        return [float(v) for v in arr]

    # ------------------------------------------------------------------------------------------- saving

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON data) that rebuild this architecture."""
        size = {"n_actions": self.out_dim} if self.discrete else {"action_dim": self.out_dim}
        return {
            "obs_dim": self.obs_dim,
            "n_partners": self.n_partners,
            "rank": self.rank,
            **size,
            "hidden": list(self.hidden),
            **({"obs_mean": self.obs_mean} if self.obs_mean is not None else {}),
            **({"obs_std": self.obs_std} if self.obs_std is not None else {}),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LowRankPolicy:
        """A fresh (untrained) model from :meth:`config`'s output."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"config must be a mapping such as LowRankPolicy.config() returns, got {config!r:.200}")
        allowed = {"obs_dim", "n_partners", "rank", "n_actions", "action_dim", "hidden", "obs_mean", "obs_std"}
        extra = sorted(set(config) - allowed)
        if extra:
            raise ConfigError(f"unknown LowRankPolicy config keys {extra}; allowed: {sorted(allowed)}")
        kwargs = dict(config)
        if "hidden" in kwargs:
            kwargs["hidden"] = tuple(kwargs["hidden"])
        return cls(**kwargs)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model (architecture, trained weights and the current adapted weights) to ``path``, atomically.

        The file is a ``torch.save`` of tensors and a JSON config: :meth:`load` reads it with
        ``torch.load(weights_only=True)``.
        """
        return _write(path, _payload("LowRankPolicy", self.config(), self.state_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LowRankPolicy:
        """Read a model written by :meth:`save` (in eval mode).

        :raises ArtifactError: for a missing, foreign or malformed file.
        """
        config, state = _read(path, "LowRankPolicy")
        model = cls._rebuild(config, state, path)
        model.eval()
        return model

    @classmethod
    def _rebuild(cls, config: Mapping[str, Any], state: Mapping[str, th.Tensor], path: Any) -> LowRankPolicy:
        try:
            model = cls.from_config(config)
            model.load_state_dict(dict(state))
        except (ConfigError, RuntimeError, TypeError) as exc:
            raise ArtifactError(
                f"{str(path)!r}: the stored config and weights do not make a LowRankPolicy: {exc}"
            ) from None
        return model

    # ------------------------------------------------------------------------------------------- model

    @property
    def state_head(self) -> nn.Linear:
        """The last layer of ``f_S``: its output row ``k * out_dim + d`` is ``M(s)[k, d]``."""
        return self.f_S[-1]  # type: ignore[return-value]

    def reset_adaptation(self) -> None:
        """Restart the new-partner weights at ``w0 = softmax(f_P(0))`` (``adapt_logits`` = ``f_P``'s bias)."""
        with th.no_grad():
            self.adapt_logits.copy_(self.f_P.bias)

    def _partner_index(self, partner: Any, n: int | None = None) -> th.Tensor:
        arr = np.asarray(partner).reshape(-1)
        if arr.size == 0 or not (np.issubdtype(arr.dtype, np.integer) or np.all(np.mod(arr, 1) == 0)):
            raise ConfigError(
                f"partner must be an integer index (or an array of them) in 0..{self.n_partners - 1}, or None for "
                f"the new partner; got {partner!r}"
            )
        arr = arr.astype(np.int64)
        if arr.min() < 0 or arr.max() >= self.n_partners:
            raise ConfigError(
                f"partner must be in 0..{self.n_partners - 1} (n_partners={self.n_partners}), got values "
                f"{arr.min()}..{arr.max()}; use partner=None for the new (adapted) partner"
            )
        if n is not None and arr.size not in (1, n):
            raise ConfigError(f"partner must be one index or one per observation ({n}), got {arr.size} indices")
        return th.as_tensor(arr)

    def partner_logits(self, partner: Any = None) -> th.Tensor:
        """``f_P(onehot(p))`` (``(n, r)``), or the new partner's ``adapt_logits`` (``(r,)``) for None."""
        if partner is None:
            return self.adapt_logits
        idx = self._partner_index(partner)
        onehot = nn.functional.one_hot(idx, self.n_partners).to(self.f_P.weight.dtype)
        return self.f_P(onehot)

    def partner_weights(self, partner: Any = None) -> th.Tensor:
        """``w(p)`` on the simplex: ``(r,)`` for an int or None (the new partner), ``(n, r)`` for an array."""
        w = th.softmax(self.partner_logits(partner), dim=-1)
        if partner is not None and np.ndim(partner) == 0:
            w = w[0]
        return w

    def _state_out(self, obs: th.Tensor) -> th.Tensor:
        """``f_S`` of the (normalised, see ``obs_mean`` / ``obs_std``) observations, ``(n, r * out_dim)``."""
        if self.obs_mean is not None or self.obs_std is not None:
            obs = (obs - self._obs_shift.to(obs.dtype)) / self._obs_scale.to(obs.dtype)
        return self.f_S(obs)

    def state_core(self, obs: Any) -> th.Tensor:
        """``M(s)``, shape ``(n, r, out_dim)``."""
        obs = self._obs(obs)
        return self._state_out(obs).reshape(obs.shape[0], self.rank, self.out_dim)

    def forward(self, obs: Any, partner: Any = None) -> th.Tensor:
        """``w(p)^T M(s)``: logits (discrete) or means (continuous), shape ``(n, out_dim)``."""
        core = self.state_core(obs)
        n = core.shape[0]
        if partner is None:
            w = th.softmax(self.adapt_logits, -1).expand(n, self.rank)
        else:
            self._partner_index(partner, n)
            w = th.softmax(self.partner_logits(partner), -1).expand(n, self.rank)
        return th.einsum("nk,nkd->nd", w, core)

    def distribution(self, obs: Any, partner: Any = None) -> th.distributions.Distribution:
        """``pi(. | s, p)``: a Categorical over the actions, or a Normal with variance 1 per action dim."""
        out = self.forward(obs, partner)
        if self.discrete:
            return th.distributions.Categorical(logits=out)
        return th.distributions.Normal(out, th.ones_like(out))

    def log_prob(self, obs: Any, actions: Any, partner: Any = None, *, dims: Any = None) -> th.Tensor:
        """``log pi(a | s, p)`` per sample (``(n,)``); ``partner=None`` is the new partner.

        :param dims: continuous only: score only these action dims (conditional imitation); ``actions`` may then
            hold either the full action vectors or only those dims (in that order).
        """
        out = self.forward(obs, partner)
        n = out.shape[0]
        if self.discrete:
            if dims is not None:
                raise ConfigError(f"dims={dims!r} applies to continuous (action_dim) models only; use dims=None")
            a = th.tensor(np.asarray(actions)).reshape(-1)
            if a.shape[0] != n:
                raise ConfigError(f"actions must hold one action per observation ({n}), got {a.shape[0]}")
            if a.is_floating_point():
                a = a.round()
            a = a.long()
            if a.numel() and (a.min() < 0 or a.max() >= self.out_dim):
                raise ConfigError(f"actions must be in 0..{self.out_dim - 1} (n_actions={self.out_dim})")
            return th.distributions.Categorical(logits=out).log_prob(a)
        sel = _dims(dims, self.out_dim)
        a = th.tensor(np.asarray(actions, dtype=np.float32)).reshape(n, -1).to(out.dtype)
        if sel is not None and a.shape[1] == len(sel) and len(sel) != self.out_dim:
            mean = out[:, sel]
        elif a.shape[1] == self.out_dim:
            mean = out if sel is None else out[:, sel]
            a = a if sel is None else a[:, sel]
        else:
            want = self.out_dim if sel is None else f"{self.out_dim} or {len(sel)}"
            raise ConfigError(f"actions must have {want} columns (action_dim={self.out_dim}), got {a.shape[1]}")
        return th.distributions.Normal(mean, th.ones_like(mean)).log_prob(a).sum(-1)

    def nll(self, obs: Any, actions: Any, partner: Any = None, *, dims: Any = None) -> float:
        """The mean negative log-likelihood (no gradient)."""
        with th.no_grad():
            return float(-self.log_prob(obs, actions, partner, dims=dims).mean())

    def _obs(self, obs: Any) -> th.Tensor:
        t = obs if isinstance(obs, th.Tensor) else th.tensor(np.asarray(obs, dtype=np.float32))
        t = t.to(self.f_P.weight.dtype)
        if t.ndim == 1 and t.shape[0] == self.obs_dim:
            t = t.reshape(1, -1)
        t = t.reshape(t.shape[0], -1) if t.ndim > 0 else t
        if t.ndim != 2 or t.shape[1] != self.obs_dim:
            raise ConfigError(
                f"observations must be (n, {self.obs_dim}) (obs_dim={self.obs_dim}), got {tuple(t.shape)}"
            )
        return t

    def _pair(self, obs: Any, actions: Any, name: str) -> tuple[th.Tensor, np.ndarray]:
        o = self._obs(obs)
        a = np.asarray(actions)
        if a.shape[0] != o.shape[0]:
            raise ConfigError(
                f"{name}: obs and actions must pair up, got {o.shape[0]} observations and {a.shape[0]} actions"
            )
        if o.shape[0] == 0:
            raise ConfigError(f"{name} holds no samples")
        return o, a

    # ------------------------------------------------------------------------------------------- training

    def fit_bc(
        self,
        datasets: Sequence[tuple[Any, Any]],
        epochs: int = 100,
        batch_size: int = 64,
        lr: float = 1e-3,
        seed: int | None = None,
        *,
        dims: Any = None,
    ) -> list[float]:
        """Multi-partner behaviour cloning: minimise ``-log pi(a | s, p)`` over every partner's data.

        Each epoch shuffles all partners' samples together and takes one Adam step per minibatch of
        ``batch_size``; ``f_S`` and ``f_P`` are trained, then :meth:`reset_adaptation` restarts the new-partner
        weights at the trained ``softmax(f_P(0))``.

        :param datasets: one dataset per training partner (``n_partners`` of them): an ``(obs, actions)`` pair of
            arrays, a ``TransitionsMinimal`` or a ``SimultaneousTransitions`` (joint actions), see
            :func:`as_samples`.
        :param dims: continuous only: fit only these action dims.
        :returns: the mean NLL of each epoch.
        """
        if isinstance(datasets, tuple | np.ndarray) or not isinstance(datasets, Sequence):
            raise ConfigError(
                "datasets must be a list with one (obs, actions) pair per training partner, got "
                f"{type(datasets).__name__}"
            )
        if len(datasets) != self.n_partners:
            raise ConfigError(
                f"datasets must have one (obs, actions) pair per training partner (n_partners={self.n_partners}), "
                f"got {len(datasets)}"
            )
        epochs = _int(epochs, "epochs")
        batch_size = _int(batch_size, "batch_size")
        lr = _pos_float(lr, "lr", "; e.g. 1e-3")
        if self.discrete and dims is not None:
            raise ConfigError(f"dims={dims!r} applies to continuous (action_dim) models only; use dims=None")
        _dims(dims, self.out_dim)
        obs_list, act_list, pid = [], [], []
        for p, item in enumerate(datasets):
            o, a = self._pair(*as_samples(item, name=f"datasets[{p}]"), f"datasets[{p}]")
            obs_list.append(o)
            act_list.append(a.reshape(a.shape[0], -1) if not self.discrete else a.reshape(-1))
            pid.append(np.full(o.shape[0], p, dtype=np.int64))
        obs = th.cat(obs_list)
        acts = np.concatenate(act_list)
        pids = np.concatenate(pid)
        rng = np.random.default_rng(seed)
        params = list(self.f_S.parameters()) + list(self.f_P.parameters())
        opt = th.optim.Adam(params, lr=lr)
        self.train()
        history = []
        n = obs.shape[0]
        for _ in range(epochs):
            order = rng.permutation(n)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                loss = -self.log_prob(obs[th.as_tensor(idx)], acts[idx], pids[idx], dims=dims).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            history.append(total / n)
        self.eval()
        self.reset_adaptation()
        return history

    def adapt(
        self,
        obs: Any,
        actions: Any = None,
        *,
        partial: bool = True,
        chunks: int = 16,
        lr: float = 1e-3,
        dims: Any = None,
    ) -> list[float]:
        """Adapt to a new partner from its samples (section 4.1, "Adaptation").

        The data are revealed in ``chunks`` equal chunks (``numpy.array_split`` order); after each, one Adam step
        on all data revealed so far, on ``adapt_logits`` only (``partial=True``: ``f_S`` frozen) or also on
        ``f_S`` (``partial=False``). ``f_P`` is never changed. Adaptation continues from the current
        ``adapt_logits`` (call :meth:`reset_adaptation` to start over from ``w0``).

        :param obs: the observations, or the new partner's data as one object (a ``TransitionsMinimal`` such as a
            recorded partner's or human-play log's rows, or a ``SimultaneousTransitions``), see :func:`as_samples`.
        :param dims: continuous joint actions: the partner's action dims (conditional imitation).
        :returns: the NLL trace: the mean NLL of all ``(obs, actions)`` before the first step and after each step
            (``chunks + 1`` values).
        """
        if not isinstance(partial, bool | np.bool_):
            raise ConfigError(f"partial must be True (train only the partner weights) or False, got {partial!r}")
        chunks = _int(chunks, "chunks", hint="; section 4.1 reveals the data in 16 chunks")
        lr = _pos_float(lr, "lr", "; e.g. 1e-3")
        o, a = self._pair(*as_samples(obs, actions, "adaptation data"), "adaptation data")
        if chunks > o.shape[0]:
            raise ConfigError(
                f"chunks must be at most the number of samples ({o.shape[0]}), got {chunks}; use chunks={o.shape[0]}"
            )
        if self.discrete and dims is not None:
            raise ConfigError(f"dims={dims!r} applies to continuous (action_dim) models only; use dims=None")
        params = [self.adapt_logits] if partial else [self.adapt_logits, *self.f_S.parameters()]
        opt = th.optim.Adam(params, lr=lr)
        ends = np.cumsum([len(c) for c in np.array_split(np.arange(o.shape[0]), chunks)])
        trace = [self.nll(o, a, None, dims=dims)]
        for end in ends:
            loss = -self.log_prob(o[:end], a[:end], None, dims=dims).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            trace.append(self.nll(o, a, None, dims=dims))
        return trace

    def init_from_basis(
        self, basis: LowRankBasis, state_features: Any, *, steps: int = 500, lr: float = 1e-2, floor: float = 1e-6
    ) -> float:
        """Start the neural model from a tabular basis (tabular -> neural, section 4.2).

        Fits ``f_S`` so that ``M(state_features[s])[k] = log B_k[s]`` (by Adam regression; exact in closed form
        when ``f_S`` is linear, ``hidden=()``), and sets ``f_P`` so that ``softmax(f_P(onehot(p))) = weights[p]``
        for a basis with simplex weights (``"nmf"``). Note that the model mixes in logit space, so a partner's
        policy is the normalised geometric mixture ``prod_k B_k^{w_k}``.

        :param state_features: ``(S, obs_dim)``: the observation of each tabular state (e.g. the identity).
        :returns: the final mean squared error of ``M`` against ``log B``.
        """
        if not isinstance(basis, LowRankBasis):
            raise ConfigError(f"basis must be a LowRankBasis (tabular.fit_basis), got {type(basis).__name__}")
        if not self.discrete or basis.rank != self.rank or basis.n_actions != self.out_dim:
            raise ConfigError(
                f"the basis (rank {basis.rank}, {basis.n_actions} actions) must match this discrete model (rank "
                f"{self.rank}, {'n_actions=' + str(self.out_dim) if self.discrete else 'continuous'})"
            )
        feats = self._obs(state_features)
        if feats.shape[0] != basis.n_states:
            raise ConfigError(f"state_features must have one row per state ({basis.n_states}), got {feats.shape[0]}")
        target = th.as_tensor(np.log(np.clip(basis.basis, floor, None)), dtype=feats.dtype).permute(1, 0, 2)
        target = target.reshape(basis.n_states, -1)
        if not self.hidden:
            x = th.cat([feats, th.ones(feats.shape[0], 1, dtype=feats.dtype)], 1)
            sol = th.linalg.lstsq(x, target).solution  # raw inputs: out = obs @ A + c
            a, c = sol[:-1], sol[-1]
            with th.no_grad():  # the same map on normalised inputs (obs - mean) / std
                self.state_head.weight.copy_((a * self._obs_scale[:, None]).T)
                self.state_head.bias.copy_(c + self._obs_shift @ a)
        else:
            steps = _int(steps, "steps")
            opt = th.optim.Adam(self.f_S.parameters(), lr=_pos_float(lr, "lr"))
            for _ in range(steps):
                loss = ((self._state_out(feats) - target) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        if basis.method == "nmf" and basis.n_partners == self.n_partners:
            with th.no_grad():
                self.f_P.weight.copy_(th.as_tensor(np.log(np.clip(basis.weights, floor, None)).T))
                self.f_P.bias.zero_()
            self.reset_adaptation()
        with th.no_grad():
            return float(((self._state_out(feats) - target) ** 2).mean())


class LowRankSB3Policy(BasePolicy):
    """An SB3 ``BasePolicy`` over a :class:`LowRankPolicy`, so that it plays as a ``StaticPolicyAgent``.

    :param observation_space: the player's observation space (flattened to ``model.obs_dim``).
    :param action_space: ``Discrete(n_actions)`` for a discrete model; ``Box`` of shape ``(len(ego_dims),)``
        for a continuous one.
    :param model: the (adapted) model.
    :param partner: which partner's weights to play with: None (the adapted new partner) or a training index.
    :param ego_dims: continuous joint-action models: the executed action dims (default: all).

    Discrete: argmax of the logits (deterministic) or a sample; continuous: the mean or a sample (variance 1).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        model: LowRankPolicy,
        partner: int | None = None,
        ego_dims: Any = None,
    ) -> None:
        if not isinstance(model, LowRankPolicy):
            raise ConfigError(f"model must be a LowRankPolicy, got {type(model).__name__}")
        flat = spaces.flatdim(observation_space)
        if flat != model.obs_dim:
            raise ConfigError(f"observation_space flattens to {flat} values but the model has obs_dim={model.obs_dim}")
        if partner is not None:
            model._partner_index(partner)
            if np.ndim(partner) != 0:
                raise ConfigError(f"partner must be one index or None, got {partner!r}")
        if model.discrete:
            if ego_dims is not None:
                raise ConfigError(f"ego_dims={ego_dims!r} applies to continuous models only; use ego_dims=None")
            if not isinstance(action_space, spaces.Discrete) or int(action_space.n) != model.out_dim:
                raise ConfigError(f"action_space must be Discrete({model.out_dim}) for this model, got {action_space}")
            self.ego_dims = None
        else:
            self.ego_dims = _dims(ego_dims, model.out_dim, "ego_dims") or list(range(model.out_dim))
            if not isinstance(action_space, spaces.Box) or action_space.shape != (len(self.ego_dims),):
                raise ConfigError(
                    f"action_space must be a Box of shape ({len(self.ego_dims)},) (the ego_dims {self.ego_dims}), "
                    f"got {action_space}"
                )
        super().__init__(observation_space, action_space)
        self.model = model
        self.partner = None if partner is None else int(partner)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the policy (spaces, ``partner``, ``ego_dims`` and the model) to ``path`` atomically; read it
        with :meth:`load` (weights-only: ``torch.load(weights_only=True)``, unlike SB3's pickled ``save``)."""
        config = {
            "observation_space": space_to_json(self.observation_space),
            "action_space": space_to_json(self.action_space),
            "partner": self.partner,
            "ego_dims": self.ego_dims,
            "model": self.model.config(),
        }
        return _write(path, _payload("LowRankSB3Policy", config, self.model.state_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: th.device | str = "auto") -> LowRankSB3Policy:
        """Read a policy written by :meth:`save`, e.g. for ``StaticPolicyAgent(LowRankSB3Policy.load(path))``.

        :raises ArtifactError: for a missing, foreign or malformed file.
        """
        config, state = _read(path, "LowRankSB3Policy")
        try:
            obs_space = space_from_json(config["observation_space"])
            act_space = space_from_json(config["action_space"])
            model = LowRankPolicy._rebuild(config["model"], state, path)
            policy = cls(obs_space, act_space, model, partner=config["partner"], ego_dims=config["ego_dims"])
        except (KeyError, ConfigError) as exc:
            raise ArtifactError(f"{str(path)!r}: malformed LowRankSB3Policy config: {exc}") from None
        policy.set_training_mode(False)
        return policy.to(get_device(device))

    def _features(self, observation: th.Tensor) -> th.Tensor:
        obs = preprocess_obs(observation, self.observation_space, normalize_images=False)
        return obs.float().reshape(obs.shape[0], -1)

    def get_distribution(self, obs: th.Tensor) -> Distribution:
        """The SB3 distribution of the executed action (used by ``StaticPolicyAgent`` with action masks)."""
        out = self.model(self._features(obs), self.partner)
        if self.model.discrete:
            return CategoricalDistribution(self.model.out_dim).proba_distribution(action_logits=out)
        mean = out[:, self.ego_dims]
        dist = DiagGaussianDistribution(len(self.ego_dims))
        return dist.proba_distribution(mean, th.zeros_like(mean))

    def _predict(self, observation: th.Tensor, deterministic: bool = False) -> th.Tensor:
        return self.get_distribution(observation).get_actions(deterministic=deterministic)
