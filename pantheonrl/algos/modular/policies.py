"""The modular policy: a shared task module plus one partner (convention) module per partner.

Shih, Sawhney, Kondic, Ermon, Sadigh, "On the Critical Role of Conventions in Adaptive Human-AI
Collaboration", ICLR 2021 (arXiv 2104.02871); docs/algorithms.md, section 7.

The task module maps an observation to a latent ``h`` (the last layer of its policy net), main logits
``f(s)`` and a main value ``v(s)``. Partner module ``p`` is an MLP over ``h`` giving logits ``g_p`` and a value
``v_p``. Partner ``p``'s policy is ``softmax(f + g_p)`` and its value ``v + v_p``.

Which partner module a row uses is given explicitly: ``forward``, ``evaluate_actions``, ``get_distribution``
and ``predict_values`` take ``partner_idx``, an ``int`` for the whole batch or one index per row (a 1-D
tensor or array), and default to :attr:`ModularPolicy.partner_idx`, the partner the algorithm is playing with
now. So minibatches mixing partners and any number of envs work, and ``predict`` acts for the current partner.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    BernoulliDistribution,
    CategoricalDistribution,
    DiagGaussianDistribution,
    Distribution,
    MultiCategoricalDistribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor, MlpExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from pantheonrl.errors import ConfigError, PlayerException, SpaceException

__all__ = ["DEFAULT_NET_ARCH", "DEFAULT_PARTNER_NET_ARCH", "ModularPolicy", "marginal_loss"]

DEFAULT_NET_ARCH = [30, 30]
DEFAULT_PARTNER_NET_ARCH = [30, 30]

PartnerIndex = int | np.integer | th.Tensor | np.ndarray | None


def marginal_loss(main_logits: th.Tensor, partner_logits: th.Tensor, action_dims: list[int] | None = None) -> th.Tensor:
    """The marginal regularizer ``E_s sum_a |softmax(f)_a - (1/P) sum_q softmax(f + g_q)_a|`` (in ``[0, 2]``).

    :param main_logits: ``f``, shape ``(batch, n_actions)``.
    :param partner_logits: ``g_q`` of every partner module, shape ``(P, batch, n_actions)``.
    :param action_dims: for MultiDiscrete actions, the size of each component: the loss is summed over the
        components (each a categorical), so it lies in ``[0, 2 * len(action_dims)]``.
    """
    if action_dims is not None and len(action_dims) > 1:
        mains = th.split(main_logits, list(action_dims), dim=-1)
        partners = th.split(partner_logits, list(action_dims), dim=-1)
        return sum((marginal_loss(f, g) for f, g in zip(mains, partners, strict=True)), main_logits.new_zeros(()))
    main_probs = th.softmax(main_logits, dim=-1)
    composed = th.softmax(main_logits.unsqueeze(0) + partner_logits, dim=-1).mean(dim=0)
    return (main_probs - composed).abs().sum(dim=-1).mean()


def _check_net_arch(arch: Any, name: str) -> None:
    ok = isinstance(arch, list | tuple) and all(isinstance(w, int) and w > 0 for w in arch)
    if isinstance(arch, dict):
        ok = set(arch) <= {"pi", "vf"} and all(
            isinstance(v, list | tuple) and all(isinstance(w, int) and w > 0 for w in v) for v in arch.values()
        )
    if not ok:
        raise ConfigError(f"{name} must be a list of layer widths or dict(pi=[...], vf=[...]), got {arch!r}")


class ModularPolicy(ActorCriticPolicy):
    """Actor-critic with a shared task module and ``num_partners`` partner modules (logits and values summed).

    Takes :class:`~stable_baselines3.common.policies.ActorCriticPolicy`'s arguments (``net_arch`` is the task
    module; default ``[30, 30]`` with ReLU, as the reference's Arms runs; the default optimizer is Adam with
    ``eps=1e-5`` as SB3's, using the fused kernel) plus:

    :param num_partners: number of partners, one partner module each.
    :param partner_net_arch: the partner modules' MLP over ``h`` (default ``[30, 30]``).
    :param baseline: the *baseline-agg* variant: one partner module shared by every partner (so the policy is
        monolithic); :meth:`add_partner_module` then only adds an index.
    :param nomain: the *nomain* variant: the logits are the partner module's alone (no ``f``); the value is
        still ``v + v_p``, and the marginal regularizer is zero.

    gSDE is not supported.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        ortho_init: bool = True,
        use_sde: bool = False,
        log_std_init: float = 0.0,
        full_std: bool = True,
        use_expln: bool = False,
        squash_output: bool = False,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool = True,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        num_partners: int = 1,
        partner_net_arch: list[int] | dict[str, list[int]] | None = None,
        baseline: bool = False,
        nomain: bool = False,
    ) -> None:
        if isinstance(num_partners, bool) or not isinstance(num_partners, int | np.integer) or num_partners < 1:
            raise ConfigError(f"num_partners must be a positive integer, got {num_partners!r}")
        if use_sde:
            raise ConfigError("ModularPolicy does not support gSDE (use_sde=True); use use_sde=False")
        if not isinstance(action_space, spaces.Discrete | spaces.MultiDiscrete | spaces.MultiBinary | spaces.Box):
            raise SpaceException(
                f"ModularPolicy supports Discrete, MultiDiscrete, MultiBinary and Box actions, got {action_space}"
            )
        if optimizer_kwargs is None and optimizer_class is th.optim.Adam:
            # SB3's eps; the fused kernel: one call for the many small tensors of the partner modules
            optimizer_kwargs = {"eps": 1e-5, "fused": True}
        net_arch = list(DEFAULT_NET_ARCH) if net_arch is None else net_arch
        partner_net_arch = list(DEFAULT_PARTNER_NET_ARCH) if partner_net_arch is None else partner_net_arch
        _check_net_arch(net_arch, "net_arch")
        _check_net_arch(partner_net_arch, "partner_net_arch")
        # Read by _build, which ActorCriticPolicy.__init__ calls.
        self.num_partners = int(num_partners)
        self.partner_net_arch = partner_net_arch
        self.baseline = bool(baseline)
        self.nomain = bool(nomain)
        self._partner_idx = 0
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            ortho_init=ortho_init,
            use_sde=False,
            log_std_init=log_std_init,
            full_std=full_std,
            use_expln=use_expln,
            squash_output=squash_output,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            share_features_extractor=share_features_extractor,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )

    # ------------------------------------------------------------------ building
    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            num_partners=self.num_partners,
            partner_net_arch=self.partner_net_arch,
            baseline=self.baseline,
            nomain=self.nomain,
            share_features_extractor=self.share_features_extractor,
        )
        return data

    @property
    def n_modules(self) -> int:
        """Number of distinct partner modules (1 in the baseline variant)."""
        return len(self.partner_mlp_extractor)

    def _new_partner_module(self) -> tuple[MlpExtractor, nn.Module, nn.Linear, nn.Parameter | None]:
        extractor = MlpExtractor(
            self.mlp_extractor.latent_dim_pi,
            net_arch=self.partner_net_arch,
            activation_fn=self.activation_fn,
            device=self.device,
        )
        log_std = None
        if isinstance(self.action_dist, DiagGaussianDistribution):
            action_net, _ = self.action_dist.proba_distribution_net(extractor.latent_dim_pi, log_std_init=0.0)
            # the partner's log-std is added to the task module's, so it starts at 0
            log_std = nn.Parameter(th.zeros(self.action_dist.action_dim), requires_grad=True)
        else:
            action_net = self.action_dist.proba_distribution_net(latent_dim=extractor.latent_dim_pi)
        value_net = nn.Linear(extractor.latent_dim_vf, 1)
        return extractor, action_net, value_net, log_std

    def _append_partner_module(self) -> None:
        extractor, action_net, value_net, log_std = self._new_partner_module()
        self.partner_mlp_extractor.append(extractor)
        self.partner_action_net.append(action_net)
        self.partner_value_net.append(value_net)
        if log_std is not None:
            self.partner_log_std.append(log_std)

    def _build(self, lr_schedule: Schedule) -> None:
        self._build_mlp_extractor()
        latent_dim_pi = self.mlp_extractor.latent_dim_pi
        if isinstance(self.action_dist, DiagGaussianDistribution):
            self.action_net, self.log_std = self.action_dist.proba_distribution_net(
                latent_dim=latent_dim_pi, log_std_init=self.log_std_init
            )
        else:
            self.action_net = self.action_dist.proba_distribution_net(latent_dim=latent_dim_pi)
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        self.partner_mlp_extractor = nn.ModuleList()
        self.partner_action_net = nn.ModuleList()
        self.partner_value_net = nn.ModuleList()
        self.partner_log_std = nn.ParameterList()
        for _ in range(1 if self.baseline else self.num_partners):
            self._append_partner_module()
        if self.ortho_init:
            self.do_init_weights(init_main=True, init_partner=True)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _main_modules(self) -> list[nn.Module]:
        modules: list[nn.Module] = [self.features_extractor]
        if not self.share_features_extractor:
            modules += [self.pi_features_extractor, self.vf_features_extractor]
        return [*modules, self.mlp_extractor, self.action_net, self.value_net]

    def _partner_modules(self, module: int) -> list[nn.Module]:
        return [self.partner_mlp_extractor[module], self.partner_action_net[module], self.partner_value_net[module]]

    def do_init_weights(self, init_main: bool = False, init_partner: bool = False) -> None:
        """Orthogonal initialisation with SB3's gains (sqrt(2) hidden, 0.01 logits, 1 value) of the task
        module and/or every partner module."""
        gains: list[tuple[nn.Module, float]] = []
        if init_main:
            features = [self.features_extractor]
            if not self.share_features_extractor:
                features = [self.pi_features_extractor, self.vf_features_extractor]
            gains += [(m, np.sqrt(2)) for m in features]
            gains += [(self.mlp_extractor, np.sqrt(2)), (self.action_net, 0.01), (self.value_net, 1.0)]
        if init_partner:
            for module in range(self.n_modules):
                gains += self._partner_gains(module)
        for module, gain in gains:
            module.apply(partial(self.init_weights, gain=gain))

    def reset_main_logits(self) -> None:
        """Re-initialise the task module's logit head (``f`` close to 0, so each partner's policy falls back to
        its partner module). Use it before retraining the task module on a new task: a trained ``f`` is nearly
        deterministic on the old task's rule and would never try the new task's actions."""
        self.action_net.apply(partial(self.init_weights, gain=0.01))

    def _partner_gains(self, module: int) -> list[tuple[nn.Module, float]]:
        extractor, action_net, value_net = self._partner_modules(module)
        return [(extractor, np.sqrt(2)), (action_net, 0.01), (value_net, 1.0)]

    def add_partner_module(self) -> int:
        """Add a fresh partner module (for a new partner) and return its partner index.

        The optimizer is rebuilt over all parameters and keeps the Adam state of the existing ones. In the
        baseline variant the new partner shares the single module.
        """
        if not self.baseline:
            self._append_partner_module()
            module = self.n_modules - 1
            self.partner_mlp_extractor[module].to(self.device)
            self.partner_action_net[module].to(self.device)
            self.partner_value_net[module].to(self.device)
            if len(self.partner_log_std) > module:
                self.partner_log_std[module].data = self.partner_log_std[module].data.to(self.device)
            if self.ortho_init:
                for mod, gain in self._partner_gains(module):
                    mod.apply(partial(self.init_weights, gain=gain))
            self._rebuild_optimizer()
        self.num_partners += 1
        return self.num_partners - 1

    def _rebuild_optimizer(self) -> None:
        old = self.optimizer
        lr = old.param_groups[0]["lr"]
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr, **self.optimizer_kwargs)
        for param, state in old.state.items():
            self.optimizer.state[param] = state

    # ------------------------------------------------------------------ freezing and transplanting
    @staticmethod
    def set_freeze_module(module: nn.Module | nn.Parameter, freeze: bool) -> None:
        """Freeze (``requires_grad=False``) or unfreeze a module or parameter."""
        params = [module] if isinstance(module, nn.Parameter) else list(module.parameters())
        for param in params:
            param.requires_grad = not freeze

    def set_freeze_main(self, freeze: bool) -> None:
        """Freeze or unfreeze the task module (features extractor, main net, main logits and value)."""
        for module in self._main_modules():
            self.set_freeze_module(module, freeze)
        if isinstance(getattr(self, "log_std", None), nn.Parameter):
            self.set_freeze_module(self.log_std, freeze)

    def set_freeze_partner(self, freeze: bool, partner_idx: int | None = None) -> None:
        """Freeze or unfreeze every partner module, or only partner ``partner_idx``'s."""
        modules = range(self.n_modules) if partner_idx is None else [self._module(partner_idx)]
        for module in modules:
            for part in self._partner_modules(module):
                self.set_freeze_module(part, freeze)
            if len(self.partner_log_std) > module:
                self.set_freeze_module(self.partner_log_std[module], freeze)

    def overwrite_main(self, other: ModularPolicy) -> None:
        """Copy the task module's weights from ``other`` (same architecture); partner modules are untouched."""
        pairs = list(zip(self._main_modules(), other._main_modules()))
        try:
            for mine, theirs in pairs:
                mine.load_state_dict(theirs.state_dict())
        except RuntimeError as exc:
            raise SpaceException(f"overwrite_main: the task modules differ in architecture ({exc})") from exc
        mine_std, theirs_std = getattr(self, "log_std", None), getattr(other, "log_std", None)
        if isinstance(mine_std, nn.Parameter) and isinstance(theirs_std, nn.Parameter):
            with th.no_grad():
                mine_std.copy_(theirs_std)

    # ------------------------------------------------------------------ partner indices
    @property
    def partner_idx(self) -> int:
        """The partner used when no index is given (the one the algorithm is playing with)."""
        return self._partner_idx

    @partner_idx.setter
    def partner_idx(self, value: int) -> None:
        self._check_partner(value)
        self._partner_idx = int(value)

    def _check_partner(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < self.num_partners:
            raise PlayerException(
                f"partner index {value!r} is out of range: this policy has {self.num_partners} partner module(s) "
                f"(0..{self.num_partners - 1}); add one with add_partner_module()"
            )

    def _module(self, partner_idx: Any) -> int:
        self._check_partner(partner_idx)
        return 0 if self.baseline else int(partner_idx)

    # ------------------------------------------------------------------ forward passes
    def _latent(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """``(h, h_vf)``: the task module's policy latent (fed to the partner modules) and value latent."""
        features = self.extract_features(obs)
        if self.share_features_extractor:
            return self.mlp_extractor(features)
        pi_features, vf_features = features
        return self.mlp_extractor.forward_actor(pi_features), self.mlp_extractor.forward_critic(vf_features)

    def _partner_out(self, h: th.Tensor, module: int) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        g_pi, g_vf = self.partner_mlp_extractor[module](h)
        log_std = self.partner_log_std[module] if len(self.partner_log_std) > module else None
        return self.partner_action_net[module](g_pi), self.partner_value_net[module](g_vf), log_std

    def _partner_rows(self, h: th.Tensor, partner_idx: PartnerIndex) -> tuple[th.Tensor, th.Tensor, Any]:
        """Partner logits, values and log-std for each row of ``h``, with one index or one index per row."""
        if partner_idx is None:
            partner_idx = self._partner_idx
        if isinstance(partner_idx, int | np.integer) and not isinstance(partner_idx, bool):
            return self._partner_out(h, self._module(partner_idx))
        rows = th.as_tensor(np.asarray(partner_idx) if not isinstance(partner_idx, th.Tensor) else partner_idx)
        rows = rows.to(h.device).long().reshape(-1)
        if rows.numel() != h.shape[0]:
            raise PlayerException(f"got {rows.numel()} partner indices for a batch of {h.shape[0]} rows")
        modules = [self._module(int(p)) for p in rows.tolist()]
        module_rows = th.as_tensor(modules, device=h.device)
        unique = sorted(set(modules))
        if len(unique) == 1:
            return self._partner_out(h, unique[0])
        logits = values = log_std = None
        for module in unique:
            mask = module_rows == module
            g, v, s = self._partner_out(h[mask], module)
            if logits is None:
                logits = h.new_zeros((h.shape[0], g.shape[-1]))
                values = h.new_zeros((h.shape[0], 1))
                log_std = h.new_zeros((h.shape[0], g.shape[-1])) if s is not None else None
            logits = logits.index_put((mask,), g)
            values = values.index_put((mask,), v)
            if s is not None:
                log_std = log_std.index_put((mask,), s.expand(g.shape[0], -1))
        return logits, values, log_std

    def _compose(self, h: th.Tensor, g: th.Tensor, partner_log_std: Any) -> Distribution:
        mean = g if self.nomain else self.action_net(h) + g
        if isinstance(self.action_dist, DiagGaussianDistribution):
            return self.action_dist.proba_distribution(mean, self.log_std + partner_log_std)
        if isinstance(self.action_dist, CategoricalDistribution | MultiCategoricalDistribution | BernoulliDistribution):
            return self.action_dist.proba_distribution(action_logits=mean)
        raise ValueError(f"unsupported action distribution {type(self.action_dist).__name__}")

    def _evaluate(self, obs: PyTorchObs, partner_idx: PartnerIndex) -> tuple[Distribution, th.Tensor]:
        h, h_vf = self._latent(obs)
        g, v_p, log_std = self._partner_rows(h, partner_idx)
        return self._compose(h, g, log_std), self.value_net(h_vf) + v_p

    def forward(
        self, obs: th.Tensor, deterministic: bool = False, partner_idx: PartnerIndex = None
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Action, value and log-probability for partner ``partner_idx`` (default: :attr:`partner_idx`)."""
        distribution, values = self._evaluate(obs, partner_idx)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        return actions.reshape((-1, *self.action_space.shape)), values, log_prob

    def evaluate_actions(
        self, obs: PyTorchObs, actions: th.Tensor, partner_idx: PartnerIndex = None
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        distribution, values = self._evaluate(obs, partner_idx)
        return values, distribution.log_prob(actions), distribution.entropy()

    def evaluate_actions_marginal(
        self, obs: PyTorchObs, actions: th.Tensor, partner_idx: int
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None, th.Tensor]:
        """:meth:`evaluate_actions` for one partner plus the marginal regularizer over *all* partner modules,
        from one pass through the task module (Discrete or MultiDiscrete actions)."""
        self._marginal_dims()
        module = self._module(partner_idx)
        h, h_vf = self._latent(obs)
        g, v_p, _ = self._partner_out(h, module)
        distribution = self._compose(h, g, None)
        values = self.value_net(h_vf) + v_p
        if self.nomain:
            marginal = h.new_zeros(())
        else:
            marginal = marginal_loss(self.action_net(h), self._stacked_partner_logits(h), self._marginal_dims())
        return values, distribution.log_prob(actions), distribution.entropy(), marginal

    def _marginal_dims(self) -> list[int] | None:
        if isinstance(self.action_dist, CategoricalDistribution):
            return None
        if isinstance(self.action_dist, MultiCategoricalDistribution):
            return list(self.action_dist.action_dims)
        raise SpaceException(
            f"the marginal regularizer needs a Discrete or MultiDiscrete action space, got {self.action_space}"
        )

    def _stacked_partner_logits(self, h: th.Tensor) -> th.Tensor:
        """``g_q(h)`` of every partner module, shape ``(n_modules, B, A)``, in one batched pass: the modules'
        weights are stacked per layer (gradients still reach each module's own parameters)."""
        if self.n_modules == 1:
            return self._partner_out(h, 0)[0].unsqueeze(0)
        x = h.unsqueeze(0).expand(self.n_modules, *h.shape)
        nets = [extractor.policy_net for extractor in self.partner_mlp_extractor]
        for layers in zip(*nets, strict=True):
            x = self._stacked_layer(layers, x)
        return self._stacked_layer(tuple(self.partner_action_net), x)

    @staticmethod
    def _stacked_layer(layers: tuple[nn.Module, ...], x: th.Tensor) -> th.Tensor:
        if isinstance(layers[0], nn.Linear):
            weight = th.stack([layer.weight for layer in layers])
            bias = th.stack([layer.bias for layer in layers])
            return th.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
        return layers[0](x)  # an activation: the same for every module

    def get_distribution(self, obs: PyTorchObs, partner_idx: PartnerIndex = None) -> Distribution:
        h, _ = self._latent(obs)
        g, _, log_std = self._partner_rows(h, partner_idx)
        return self._compose(h, g, log_std)

    def predict_values(self, obs: PyTorchObs, partner_idx: PartnerIndex = None) -> th.Tensor:
        h, h_vf = self._latent(obs)
        _, v_p, _ = self._partner_rows(h, partner_idx)
        return self.value_net(h_vf) + v_p

    def get_action_logits_from_obs(
        self, obs: PyTorchObs, partner_idx: PartnerIndex = None
    ) -> tuple[th.Tensor, th.Tensor]:
        """``(main logits f, partner logits g_p)``; the composed logits are their sum (``f`` is 0 with nomain)."""
        h, _ = self._latent(obs)
        g, _, _ = self._partner_rows(h, partner_idx)
        main = th.zeros_like(g) if self.nomain else self.action_net(h)
        return main, g

    get_action_logits = get_action_logits_from_obs

    def all_partner_logits(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """``(f, g)`` with ``g`` stacked over the partner modules: shapes ``(B, A)`` and ``(n_modules, B, A)``."""
        h, _ = self._latent(obs)
        g = self._stacked_partner_logits(h)
        main = th.zeros_like(g[0]) if self.nomain else self.action_net(h)
        return main, g

    def marginal_loss(self, obs: PyTorchObs) -> th.Tensor:
        """The marginal regularizer on a batch of observations (0 in the nomain variant)."""
        main, g = self.all_partner_logits(obs)
        return main.new_zeros(()) if self.nomain else marginal_loss(main, g, self._marginal_dims())
