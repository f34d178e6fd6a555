"""``ModularAlgorithm``: PPO over a :class:`~pantheonrl.algos.modular.policies.ModularPolicy`, one rollout
buffer per partner, plus the marginal regularizer (docs/algorithms.md, section 7).

Each iteration of :meth:`ModularAlgorithm.learn` collects ``n_steps`` (per env) against each training partner
in turn, into that partner's buffer. Before a rollout against another partner, the partner is selected on
every copy of the env (``env_method("set_partnerid", k, seat)``, resampling ``"null"``) and the env is reset,
so no episode mixes partners; the previous rollout bootstraps its unfinished episodes with the value of their
last observation. Then, for each partner ``p``, PPO runs its epochs over buffer ``p`` with partner module ``p``,
and every minibatch adds ``marginal_reg_coef * L_marg`` over all partner modules.

Wrapped as a partner in :class:`~pantheonrl.common.agents.OnPolicyAgent` (single-buffer mode), the algorithm
plays and trains the *active* partner module (:meth:`ModularAlgorithm.set_active_partner`, default 0):
``rollout_buffer`` is that partner's buffer and ``train()`` without arguments trains on it alone (the marginal
regularizer still sees every module).

Importing this module registers ``ModularAlgorithm`` in :data:`pantheonrl.registry.ALGORITHMS`, so that
:mod:`pantheonrl.artifacts` can save and load it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import FloatSchedule, explained_variance
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from pantheonrl.algos.modular.policies import ModularPolicy
from pantheonrl.errors import ConfigError, PlayerException, SpaceException
from pantheonrl.registry import ALGORITHMS

__all__ = ["ModularAlgorithm"]

SelfModular = TypeVar("SelfModular", bound="ModularAlgorithm")


class ModularAlgorithm(OnPolicyAlgorithm):
    """PPO for a modular policy trained against several partners (arXiv 2104.02871).

    Takes PPO's arguments, plus:

    :param marginal_reg_coef: weight ``lambda`` of the marginal regularizer (0, 0.3 and 0.5 in the paper);
        needs a Discrete action space (or MultiDiscrete: summed over the components) when positive.

    Use it as the ego with ``policy=ModularPolicy`` (or ``"MlpPolicy"``) and ``policy_kwargs={"num_partners":
    k}``; ``learn`` plays with the first ``k`` agents of the partner seat (see :meth:`set_training_partners`
    to train some modules only, or to map modules to other partner ids). The env is a pantheonrl game (a
    ``MultiAgentEnv`` or a :class:`~pantheonrl.vec.MultiAgentVecEnv` with any number of copies).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": ModularPolicy,
        "ModularPolicy": ModularPolicy,
    }
    policy: ModularPolicy

    def __init__(
        self,
        policy: str | type[ModularPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        target_kl: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
        marginal_reg_coef: float = 0.0,
    ) -> None:
        if use_sde:
            raise ConfigError("ModularAlgorithm does not support gSDE (use_sde=True); use use_sde=False")
        if (
            isinstance(marginal_reg_coef, bool)
            or not isinstance(marginal_reg_coef, int | float)
            or not (math.isfinite(marginal_reg_coef) and marginal_reg_coef >= 0)
        ):
            raise ConfigError(f"marginal_reg_coef must be a finite number >= 0, got {marginal_reg_coef!r}; e.g. 0.5")
        if not isinstance(batch_size, int) or batch_size < 1 or (normalize_advantage and batch_size < 2):
            raise ConfigError(
                f"batch_size must be an integer >= 2 with advantage normalisation (>= 1 without), got {batch_size!r}"
            )
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=gae_lambda,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=False,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            seed=seed,
            _init_setup_model=False,
            supported_action_spaces=(spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
        )
        if self.env is not None and self.env.num_envs * self.n_steps < 2 and normalize_advantage:
            raise ConfigError(
                f"n_steps * n_envs must be > 1 with advantage normalisation (n_steps={self.n_steps}, "
                f"n_envs={self.env.num_envs})"
            )
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.clip_range = clip_range
        self.clip_range_vf = clip_range_vf
        self.normalize_advantage = normalize_advantage
        self.target_kl = target_kl
        self.marginal_reg_coef = float(marginal_reg_coef)
        self.training_partners: list[int] | None = None
        self.env_partner_ids: list[int] | None = None
        self._env_partner: int | None = None  # the partner id currently selected on the env's copies
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ set-up
    def _make_buffer(self) -> RolloutBuffer:
        return self.rollout_buffer_class(
            self.n_steps,
            self.observation_space,
            self.action_space,
            device=self.device,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            n_envs=self.n_envs,
            **self.rollout_buffer_kwargs,
        )

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        if self.rollout_buffer_class is None:
            self.rollout_buffer_class = (
                DictRolloutBuffer if isinstance(self.observation_space, spaces.Dict) else RolloutBuffer
            )
        if not (isinstance(self.policy_class, type) and issubclass(self.policy_class, ModularPolicy)):
            raise ConfigError(
                f"ModularAlgorithm needs a ModularPolicy (policy='MlpPolicy' or ModularPolicy), got {self.policy_class}"
            )
        self.policy = self.policy_class(
            self.observation_space, self.action_space, self.lr_schedule, use_sde=False, **self.policy_kwargs
        ).to(self.device)
        if self.marginal_reg_coef > 0 and not isinstance(self.action_space, spaces.Discrete | spaces.MultiDiscrete):
            raise SpaceException(
                f"the marginal regularizer (marginal_reg_coef={self.marginal_reg_coef}) needs a Discrete or "
                f"MultiDiscrete action space, got {self.action_space}; use marginal_reg_coef=0"
            )
        self.rollout_buffers = [self._make_buffer() for _ in range(self.policy.num_partners)]
        self.clip_range = FloatSchedule(self.clip_range)
        if self.clip_range_vf is not None:
            if isinstance(self.clip_range_vf, float | int) and self.clip_range_vf <= 0:
                raise ConfigError(f"clip_range_vf must be positive or None, got {self.clip_range_vf!r}")
            self.clip_range_vf = FloatSchedule(self.clip_range_vf)
        self._env_partner = None

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "rollout_buffers"]

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        super().set_env(env, force_reset=force_reset)
        self._env_partner = None

    # ------------------------------------------------------------------ partners
    @property
    def num_partners(self) -> int:
        return self.policy.num_partners

    @property
    def rollout_buffer(self) -> RolloutBuffer:
        """The active partner's buffer (what :class:`OnPolicyAgent` fills when it wraps this algorithm)."""
        return self.rollout_buffers[self.policy.partner_idx]

    @rollout_buffer.setter
    def rollout_buffer(self, buffer: RolloutBuffer) -> None:
        self.rollout_buffers[self.policy.partner_idx] = buffer

    @property
    def partner_idx(self) -> int:
        """The active partner module (used to act and, in single-buffer mode, to train)."""
        return self.policy.partner_idx

    def set_active_partner(self, partner_idx: int) -> None:
        self.policy.partner_idx = partner_idx

    def set_training_partners(
        self, partners: Sequence[int] | None = None, env_partner_ids: Sequence[int] | None = None
    ) -> None:
        """Choose the partner modules that :meth:`learn` collects for and trains (default: all), and the id of
        the env's partner each one plays with (default: the same index).

        E.g. after ``k = model.add_partner_module()``, ``set_training_partners([k], env_partner_ids=[0])``
        fine-tunes the new module against the env's first partner.
        """
        if partners is None:
            if env_partner_ids is not None:
                raise ConfigError("env_partner_ids needs partners: give one partner module per env partner id")
            self.training_partners = self.env_partner_ids = None
            return
        partners = [self._check_index(p, "partner module") for p in partners]
        if not partners or len(set(partners)) != len(partners):
            raise ConfigError(f"partners must be distinct partner module indices, got {partners}")
        for p in partners:
            self.policy._check_partner(p)
        if env_partner_ids is not None:
            env_partner_ids = [self._check_index(e, "env partner id") for e in env_partner_ids]
            if len(env_partner_ids) != len(partners):
                raise ConfigError(
                    f"give one env partner id per partner module: {len(partners)} modules, {len(env_partner_ids)} ids"
                )
        self.training_partners = partners
        self.env_partner_ids = env_partner_ids

    @staticmethod
    def _check_index(value: Any, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ConfigError(f"a {what} must be an integer >= 0, got {value!r}")
        return int(value)

    def _training_plan(self) -> tuple[list[int], list[int]]:
        modules = list(range(self.num_partners)) if self.training_partners is None else list(self.training_partners)
        for p in modules:
            self.policy._check_partner(p)
        env_ids = list(modules) if self.env_partner_ids is None else list(self.env_partner_ids)
        return modules, env_ids

    def add_partner_module(self) -> int:
        """Add a fresh partner module (and its buffer) for a new partner; return its index."""
        k = self.policy.add_partner_module()
        self.rollout_buffers.append(self._make_buffer())
        self.policy_kwargs = {**self.policy_kwargs, "num_partners": self.policy.num_partners}
        return k

    def set_freeze_main(self, freeze: bool) -> None:
        self.policy.set_freeze_main(freeze)

    def set_freeze_partner(self, freeze: bool, partner_idx: int | None = None) -> None:
        self.policy.set_freeze_partner(freeze, partner_idx)

    def _partner_player(self, env: VecEnv) -> int:
        ego = int(env.get_attr("ego_ind")[0])
        return 1 if ego == 0 else 0

    def _prepare_env(self, env_ids: list[int]) -> bool:
        """Check the env's partner seat and select the first partner; return whether partners can be switched."""
        env = self.env
        if env is None:
            raise ConfigError("this ModularAlgorithm has no env; pass one or call set_env(env) before learn()")
        if not env.has_attr("set_partnerid"):
            if len(set(env_ids)) > 1:
                raise PlayerException(
                    f"training against {len(set(env_ids))} partners needs a pantheonrl game whose partners can be "
                    f"selected (MultiAgentEnv.set_partnerid); this env has no set_partnerid"
                )
            return False
        player = self._partner_player(env)
        ego = int(env.get_attr("ego_ind")[0])
        seat = player if player < ego else player - 1
        counts = [len(partners[seat]) for partners in env.get_attr("partners")]
        if min(counts) <= max(env_ids):
            raise PlayerException(
                f"ModularAlgorithm plays with partner ids {sorted(set(env_ids))} of player {player}'s seat, but the "
                f"env has {min(counts)} partner(s) there; add them with env.add_partner_agent(agent, {player})"
            )
        env.env_method("set_resample_policy", "null")
        if self._env_partner is None:
            env.env_method("set_partnerid", env_ids[0], player)
            self._env_partner = env_ids[0]
            self._last_obs = None  # the episodes in progress (if any) had an unknown partner: restart them
        return True

    def _switch_partner(self, env: VecEnv, env_partner_id: int) -> None:
        """Select ``env_partner_id`` on every copy and start new episodes (none mixes partners)."""
        env.env_method("set_partnerid", env_partner_id, self._partner_player(env))
        self._last_obs = env.reset()
        self._last_episode_starts = np.ones((env.num_envs,), dtype=bool)
        if self._vec_normalize_env is not None:
            self._last_original_obs = self._vec_normalize_env.get_original_obs()
        self._env_partner = env_partner_id

    # ------------------------------------------------------------------ rollouts and training
    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
        partner_idx: int | None = None,
        env_partner_id: int | None = None,
    ) -> bool:
        """SB3's rollout (GAE bootstrapped with the value of the new observation) for partner module
        ``partner_idx`` (default: the active one), against env partner ``env_partner_id`` (default: the same
        index; switched on every copy, with a reset, when it is not the one selected)."""
        if partner_idx is not None:
            self.policy.partner_idx = partner_idx
            target = partner_idx if env_partner_id is None else env_partner_id
            if self._env_partner is not None and target != self._env_partner:
                self._switch_partner(env, target)
        return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)

    def learn(
        self: SelfModular,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "ModularAlgorithm",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfModular:
        iteration = 0
        modules, env_ids = self._training_plan()
        switching = self._prepare_env(env_ids)
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        assert self.env is not None
        while self.num_timesteps < total_timesteps:
            continue_training = True
            for module, env_id in zip(modules, env_ids):
                continue_training = self.collect_rollouts(
                    self.env,
                    callback,
                    self.rollout_buffers[module],
                    n_rollout_steps=self.n_steps,
                    partner_idx=module,
                    env_partner_id=env_id if switching else None,
                )
                if not continue_training:  # checked after every partner's rollout
                    break
            if not continue_training:
                break
            iteration += 1
            self._update_current_progress_remaining(self.num_timesteps, total_timesteps)
            if log_interval is not None and iteration % log_interval == 0:
                assert self.ep_info_buffer is not None
                self.dump_logs(iteration)
            self.train(modules)
        callback.on_training_end()
        return self

    def _minibatch_loss(
        self, rollout_data: Any, partner_idx: int, clip_range: float, clip_range_vf: float | None
    ) -> tuple[th.Tensor, dict[str, float]]:
        """PPO's clipped loss on one minibatch of ``partner_idx``'s buffer, plus ``lambda * L_marg``."""
        actions = rollout_data.actions
        if isinstance(self.action_space, spaces.Discrete):
            actions = actions.long().flatten()
        if self.marginal_reg_coef > 0:
            values, log_prob, entropy, marginal = self.policy.evaluate_actions_marginal(
                rollout_data.observations, actions, partner_idx
            )
        else:
            values, log_prob, entropy = self.policy.evaluate_actions(
                rollout_data.observations, actions, partner_idx=partner_idx
            )
            marginal = None
        values = values.flatten()
        advantages = rollout_data.advantages
        if self.normalize_advantage and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = th.exp(log_prob - rollout_data.old_log_prob)
        policy_loss = -th.min(advantages * ratio, advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)).mean()
        if clip_range_vf is None:
            values_pred = values
        else:
            values_pred = rollout_data.old_values + th.clamp(
                values - rollout_data.old_values, -clip_range_vf, clip_range_vf
            )
        value_loss = F.mse_loss(rollout_data.returns, values_pred)
        entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
        loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
        if marginal is not None:
            loss = loss + self.marginal_reg_coef * marginal
        with th.no_grad():
            log_ratio = log_prob - rollout_data.old_log_prob
            approx_kl = float(th.mean((th.exp(log_ratio) - 1) - log_ratio).cpu())
        stats = {
            "policy_gradient_loss": policy_loss.item(),
            "value_loss": value_loss.item(),
            "entropy_loss": entropy_loss.item(),
            "clip_fraction": th.mean((th.abs(ratio - 1) > clip_range).float()).item(),
            "approx_kl": approx_kl,
        }
        if marginal is not None:
            stats["marginal_loss"] = marginal.item()
        return loss, stats

    def train(self, partners: Sequence[int] | None = None) -> None:
        """PPO epochs over each partner's buffer with its module (default: the active partner only, the
        single-buffer mode used when an :class:`OnPolicyAgent` wraps this algorithm)."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        clip_range_vf = None if self.clip_range_vf is None else self.clip_range_vf(self._current_progress_remaining)
        partners = [self.policy.partner_idx] if partners is None else list(partners)
        totals: dict[str, list[float]] = {}
        loss = None
        params = [p for p in self.policy.parameters() if p.requires_grad]  # walking the modules is slow
        for k in partners:
            buffer = self.rollout_buffers[k]
            stats: dict[str, list[float]] = {}
            for epoch in range(self.n_epochs):
                epoch_kl = []
                continue_training = True
                for rollout_data in buffer.get(self.batch_size):
                    loss, batch_stats = self._minibatch_loss(rollout_data, k, clip_range, clip_range_vf)
                    for key, value in batch_stats.items():
                        stats.setdefault(key, []).append(value)
                    epoch_kl.append(batch_stats["approx_kl"])
                    if self.target_kl is not None and batch_stats["approx_kl"] > 1.5 * self.target_kl:
                        continue_training = False  # this partner stops; the others still train
                        if self.verbose >= 1:
                            kl = batch_stats["approx_kl"]
                            print(f"partner {k}: early stopping at epoch {epoch}, approx_kl={kl:.3f}")
                        break
                    self.policy.optimizer.zero_grad()
                    loss.backward()
                    th.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
                    self.policy.optimizer.step()
                self._n_updates += 1
                if not continue_training:
                    break
            for key, values in stats.items():
                self.logger.record(f"partner{k}/{key}", float(np.mean(values)))
                totals.setdefault(key, []).extend(values)
            self.logger.record(
                f"partner{k}/explained_variance",
                float(explained_variance(buffer.values.flatten(), buffer.returns.flatten())),
            )
        for key, values in totals.items():
            self.logger.record(f"train/{key}", float(np.mean(values)))
        if loss is not None:
            self.logger.record("train/loss", loss.item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)


if "ModularAlgorithm" not in ALGORITHMS:
    ALGORITHMS.register("ModularAlgorithm", ModularAlgorithm)
