"""Latent-conditioned actor-critic policies for ADAP: pi(a | s, z) and V(s, z).

The latent z is appended to the extracted features ("concat", :class:`AdapPolicy`) or scales the first hidden
layer (:class:`AdapPolicyMult` / :class:`MultModel`: ``h = h1 + reshape(W h1, H x d) z``).

**Two input forms.** Every method that takes observations (``forward``, ``evaluate_actions``,
``get_distribution``, ``predict_values``, ``predict``) accepts

* ordinary observations of ``observation_space`` (batch first): they are paired with the policy's *current
  context* (:meth:`AdapPolicy.set_context`); this is what ``predict`` and frozen partners use;
* *augmented rows* ``obs (flattened) ⊕ z``, shape ``(batch, obs_size + context_size)``: each row uses its own z.
  ADAP stores such rows in its rollout buffer, so a PPO minibatch that mixes episodes with different latents
  evaluates every row under the latent it was played with.

The two forms cannot be confused: a batch of observations has shape ``(batch, *observation_space.shape)``,
which never equals ``(batch, obs_size + context_size)`` since ``context_size >= 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel
from stable_baselines3.common.torch_layers import MlpExtractor
from stable_baselines3.common.utils import get_device
from torch import nn

from pantheonrl.errors import ConfigError, SpaceException

__all__ = ["AdapPolicy", "AdapPolicyMult", "MultModel", "augment_observations", "observation_size"]

FLAT_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def observation_size(space: spaces.Space) -> int:
    """How many numbers one observation of ``space`` takes in an augmented row (a Discrete one takes 1)."""
    if not isinstance(space, FLAT_SPACES):
        raise SpaceException(
            f"ADAP stores the latent inside each observation row, so it needs a Box, Discrete, MultiDiscrete or "
            f"MultiBinary observation space, not {type(space).__name__}; flatten the observations first "
            f"(gymnasium.wrappers.FlattenObservation)"
        )
    return int(np.prod(space.shape)) if space.shape else 1


def augment_observations(obs: Any, contexts: np.ndarray) -> np.ndarray:
    """Rows ``obs ⊕ z`` (float32) from a batch of observations and one latent per row."""
    contexts = np.asarray(contexts, dtype=np.float32)
    flat = np.asarray(obs, dtype=np.float32).reshape(len(contexts), -1)
    return np.concatenate([flat, contexts.reshape(len(contexts), -1)], axis=1)


def _check_context_size(context_size: Any) -> int:
    if isinstance(context_size, bool) or not isinstance(context_size, int | np.integer) or context_size < 1:
        raise ConfigError(f"context_size must be a positive integer, got {context_size!r}")
    return int(context_size)


class AdapPolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` with a latent z appended to the features of the actor and the critic.

    Takes ``ActorCriticPolicy``'s arguments plus ``context_size`` (the width of z). The current context (used for
    plain observations) is a buffer saved with the weights; it starts as the first basis vector.
    """

    def __init__(self, *args: Any, context_size: int = 3, **kwargs: Any) -> None:
        self.context_size = _check_context_size(context_size)
        super().__init__(*args, **kwargs)
        self.obs_size = observation_size(self.observation_space)
        initial = th.zeros(1, self.context_size)
        initial[0, 0] = 1.0
        self.register_buffer("context", initial.to(self.device))
        self._latent_owner: Any = None  # weakref to the ADAP algorithm that owns per-env latents, if any

    # -- the context
    def set_context(self, ctxt: Any) -> None:
        """Set the latent used for plain observations (any array-like or tensor with ``context_size`` numbers)."""
        value = th.as_tensor(np.asarray(ctxt.detach().cpu() if isinstance(ctxt, th.Tensor) else ctxt,
                                        dtype=np.float32))
        if value.numel() != self.context_size:
            raise ConfigError(
                f"a context of this policy has {self.context_size} number(s), got shape {tuple(value.shape)}"
            )
        with th.no_grad():
            self.context.copy_(value.reshape(1, -1).to(self.context.device))

    def get_context(self) -> th.Tensor:
        """The current context, a ``(1, context_size)`` tensor (a copy)."""
        return self.context.detach().clone()

    def __getstate__(self) -> dict:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state["_latent_owner"] = None  # a weak reference cannot be pickled
        return state

    # -- building
    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = MlpExtractor(
            self.features_dim + self.context_size,
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            device=self.device,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["context_size"] = self.context_size
        return data

    # -- splitting inputs
    def is_augmented(self, obs: th.Tensor) -> bool:
        """Whether ``obs`` holds augmented rows ``obs ⊕ z`` (see the module docstring)."""
        return isinstance(obs, th.Tensor) and obs.ndim == 2 and obs.shape[1] == self.obs_size + self.context_size

    def split(self, obs: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """``(observations, latents)``: the rows' own latents, or the current context for plain observations."""
        if self.is_augmented(obs):
            raw = obs[:, : self.obs_size].reshape(obs.shape[0], *self.observation_space.shape)
            return raw, obs[:, self.obs_size :]
        if not isinstance(obs, th.Tensor):
            raise SpaceException(f"{type(self).__name__} takes tensor observations, got {type(obs).__name__}")
        if tuple(obs.shape[1:]) != tuple(self.observation_space.shape):
            raise SpaceException(
                f"{type(self).__name__} got a batch of shape {tuple(obs.shape)}; expected observations "
                f"(batch, {', '.join(map(str, self.observation_space.shape))}) or rows obs ⊕ z "
                f"(batch, {self.obs_size + self.context_size})"
            )
        return obs, self.context.expand(obs.shape[0], -1)

    def _features(self, raw: th.Tensor, z: th.Tensor, extractor: nn.Module) -> th.Tensor:
        features = BaseModel.extract_features(self, raw, extractor)
        return th.cat([features, z.to(features.dtype)], dim=1)

    def extract_features(  # type: ignore[override]
        self, obs: th.Tensor, features_extractor: nn.Module | None = None
    ) -> th.Tensor | tuple[th.Tensor, th.Tensor]:
        """Features with z appended (a pair for the actor and the critic when they do not share an extractor)."""
        raw, z = self.split(obs)
        if features_extractor is not None:
            return self._features(raw, z, features_extractor)
        if self.share_features_extractor:
            return self._features(raw, z, self.features_extractor)
        return self._features(raw, z, self.pi_features_extractor), self._features(raw, z, self.vf_features_extractor)

    def get_distribution(self, obs: th.Tensor) -> Distribution:
        features = self.extract_features(obs, self.pi_features_extractor)
        return self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(features))

    def predict_values(self, obs: th.Tensor) -> th.Tensor:
        features = self.extract_features(obs, self.vf_features_extractor)
        return self.value_net(self.mlp_extractor.forward_critic(features))


class MultModel(nn.Module):
    """Actor and critic MLPs whose first hidden layer is modulated by the latent ("mult" model).

    For each network: ``h1 = act(L1(x))``, ``h = h1 + reshape(act(W h1), H1 x d) z``, then the remaining layers.
    The input is the features with z appended (the last ``context_size`` columns), as for ``MlpExtractor``.

    :param feature_dim: the width of the features *without* z.
    :param net_arch: hidden sizes, a list (both networks) or ``dict(pi=[...], vf=[...])``; each needs a layer.
    """

    def __init__(
        self,
        feature_dim: int,
        net_arch: list[int] | dict[str, list[int]],
        activation_fn: type[nn.Module],
        device: th.device | str = "auto",
        context_size: int = 3,
    ) -> None:
        super().__init__()
        self.context_size = _check_context_size(context_size)
        device = get_device(device)
        if isinstance(net_arch, dict):
            pi_dims, vf_dims = list(net_arch.get("pi", [])), list(net_arch.get("vf", []))
        else:
            pi_dims = vf_dims = list(net_arch)
        if not pi_dims or not vf_dims:
            raise ConfigError(
                f"the multiplicative ADAP model needs at least one hidden layer in both networks, got net_arch="
                f"{net_arch!r}; e.g. net_arch=dict(pi=[64, 64], vf=[64, 64])"
            )
        self.agent_branch_1, self.agent_scaling, self.agent_branch_2, self.latent_dim_pi = self._branch(
            feature_dim, pi_dims, activation_fn
        )
        self.value_branch_1, self.value_scaling, self.value_branch_2, self.latent_dim_vf = self._branch(
            feature_dim, vf_dims, activation_fn
        )
        self.hidden_dim1, self.hidden_dim2 = pi_dims[0], vf_dims[0]
        self.to(device)

    def _branch(self, in_dim: int, dims: list[int], activation_fn: type[nn.Module]) -> tuple:
        first = nn.Sequential(nn.Linear(in_dim, dims[0]), activation_fn())
        scaling = nn.Sequential(nn.Linear(dims[0], dims[0] * self.context_size), activation_fn())
        rest: list[nn.Module] = []
        last = dims[0]
        for dim in dims[1:]:
            rest += [nn.Linear(last, dim), activation_fn()]
            last = dim
        return first, scaling, nn.Sequential(*rest), last

    def _modulated(self, features: th.Tensor, first: nn.Module, scaling: nn.Module, rest: nn.Module) -> th.Tensor:
        x, z = features[:, : -self.context_size], features[:, -self.context_size :]
        h = first(x)
        scale = scaling(h).view(h.shape[0], h.shape[1], self.context_size)
        return rest(h + th.matmul(scale, z.unsqueeze(-1)).squeeze(-1))

    def policies(self, observations: th.Tensor, contexts: th.Tensor) -> th.Tensor:
        """The actor's latent for features ``observations`` and latents ``contexts``."""
        return self.forward_actor(th.cat([observations, contexts], dim=1))

    def values(self, observations: th.Tensor, contexts: th.Tensor) -> th.Tensor:
        """The critic's latent for features ``observations`` and latents ``contexts``."""
        return self.forward_critic(th.cat([observations, contexts], dim=1))

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return self._modulated(features, self.agent_branch_1, self.agent_scaling, self.agent_branch_2)

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self._modulated(features, self.value_branch_1, self.value_scaling, self.value_branch_2)


class AdapPolicyMult(AdapPolicy):
    """:class:`AdapPolicy` with the multiplicative latent model (:class:`MultModel`)."""

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = MultModel(
            self.features_dim,
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            device=self.device,
            context_size=self.context_size,
        )
