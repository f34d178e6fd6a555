"""ADAP: PPO on a latent-conditioned policy pi(a | s, z) plus a diversity term over latents.

Derek & Isola, "Adaptable Agent Populations via a Generative Model of Policies", NeurIPS 2021
(arXiv 2107.07506). One network represents a population: each latent z drawn from a prior is one policy.
Training minimizes ``L_PPO + context_loss_coeff * D`` where ``D`` is the mean pairwise ``exp(-KL)`` between the
action distributions under different latents (:func:`~pantheonrl.algos.adap.util.context_diversity`), so
different latents are pushed towards different behaviours. docs/algorithms.md, section 6.

How the latents travel (our design, fixing the older port's bugs, docs/algorithms.md section 8-A):

* ``latents`` is an ``(n_envs, width)`` array, one z per game copy, drawn at construction and redrawn for a
  copy when its episode ends; any ``n_envs`` works;
* each rollout-buffer row is ``obs ⊕ z`` with the z it was played with, so every minibatch row is evaluated
  under its own latent; the observation space SB3 sees stays the env's;
* ``ADAP.policy.get_context()`` follows ``latents[0]`` (what a partner synced through the *policy* reads in a
  single game); partners synced through the algorithm read ``latents[copy]`` (see
  :class:`~pantheonrl.algos.adap.agent.AdapAgent`).
"""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from pantheonrl.algos.adap.policies import AdapPolicy, AdapPolicyMult, augment_observations, observation_size
from pantheonrl.algos.adap.util import SAMPLERS, context_width, get_context_kl_loss, sample_contexts
from pantheonrl.errors import ConfigError, unknown_choice
from pantheonrl.registry import ALGORITHMS

__all__ = ["ADAP"]


class ADAP(PPO):
    """PPO (clip) with a latent-conditioned policy and ADAP's diversity loss.

    Takes PPO's arguments, plus:

    :param context_loss_coeff: alpha, the weight of the diversity term D (0 gives plain PPO on ``obs ⊕ z``).
    :param context_size: d, the width of z (for ``natural_numbers``: the number of values of its one number).
    :param num_context_samples: fresh latents drawn per minibatch to compute D.
    :param context_sampler: the prior, a key of :data:`~pantheonrl.algos.adap.util.SAMPLERS`.
    :param num_state_samples: minibatch states (at most) on which D is computed.

    ``policy`` is ``"MlpPolicy"`` / ``"AdapPolicy"`` (:class:`AdapPolicy`, z concatenated to the features),
    ``"AdapPolicyMult"`` (:class:`AdapPolicyMult`) or one of those classes. The latent prior draws from its own
    generator, seeded by ``seed``.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": AdapPolicy,
        "AdapPolicy": AdapPolicy,
        "AdapPolicyMult": AdapPolicyMult,
    }
    policy: AdapPolicy

    def __init__(
        self,
        policy: str | type[AdapPolicy],
        env: Any,
        learning_rate: Any = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: Any = 0.2,
        clip_range_vf: Any = None,
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
        context_loss_coeff: float = 0.1,
        context_size: int = 3,
        num_context_samples: int = 5,
        context_sampler: str = "l2",
        num_state_samples: int = 32,
    ) -> None:
        if context_sampler not in SAMPLERS:
            raise ConfigError(unknown_choice("context sampler", context_sampler, SAMPLERS))
        if isinstance(context_size, bool) or not isinstance(context_size, int | np.integer) or context_size < 1:
            raise ConfigError(f"context_size must be a positive integer, got {context_size!r}")
        if context_sampler == "natural_numbers" and context_size < 2:
            raise ConfigError("the natural_numbers prior needs context_size >= 2 values to draw from")
        for name, value, low in (("num_context_samples", num_context_samples, 2), ("num_state_samples",
                                                                                  num_state_samples, 1)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        if not np.isfinite(float(context_loss_coeff)) or float(context_loss_coeff) < 0:
            raise ConfigError(f"context_loss_coeff must be a finite number >= 0, got {context_loss_coeff!r}")
        if use_sde:
            raise ConfigError(
                "ADAP's diversity term needs Categorical, MultiCategorical, Bernoulli or diagonal Gaussian action "
                "distributions; use_sde=True is not supported"
            )
        self.context_loss_coeff = float(context_loss_coeff)
        self.context_size = int(context_size)
        self.num_context_samples = int(num_context_samples)
        self.context_sampler = context_sampler
        self.num_state_samples = int(num_state_samples)
        width = context_width(context_sampler, self.context_size)
        policy_kwargs = dict(policy_kwargs or {})
        if policy_kwargs.setdefault("context_size", width) != width:
            raise ConfigError(
                f"policy_kwargs['context_size']={policy_kwargs['context_size']!r} disagrees with the latent width "
                f"{width} of context_size={context_size} and context_sampler={context_sampler!r}; leave it out"
            )
        self.latents = np.zeros((0, width), dtype=np.float32)
        self._latent_rng = np.random.default_rng(seed)
        self._resampled = np.zeros(0, dtype=bool)
        self._in_step = False
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            batch_size=batch_size,
            n_epochs=n_epochs,
            gamma=gamma,
            gae_lambda=gae_lambda,
            clip_range=clip_range,
            clip_range_vf=clip_range_vf,
            normalize_advantage=normalize_advantage,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            target_kl=target_kl,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    # ------------------------------------------------------------------ set-up
    @property
    def context_width(self) -> int:
        """The number of entries of one latent."""
        return context_width(self.context_sampler, self.context_size)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_latent_rng", "_resampled", "_in_step"]

    def set_random_seed(self, seed: int | None = None) -> None:
        super().set_random_seed(seed)
        self._latent_rng = np.random.default_rng(seed)

    def _setup_model(self) -> None:
        observation_size(self.observation_space)  # refuses Dict/Tuple spaces with a clear message
        super()._setup_model()
        if not isinstance(self.policy, AdapPolicy):
            raise ConfigError(
                f"ADAP needs an AdapPolicy (aliases: {', '.join(self.policy_aliases)}), got "
                f"{type(self.policy).__name__}"
            )
        width = self.context_width
        row_space = spaces.Box(-np.inf, np.inf, (observation_size(self.observation_space) + width,), np.float32)
        self.rollout_buffer = self.rollout_buffer_class(
            self.n_steps,
            row_space,
            self.action_space,
            device=self.device,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            n_envs=self.n_envs,
            **self.rollout_buffer_kwargs,
        )
        self.policy._latent_owner = weakref.ref(self)
        self._reset_latents(self.n_envs)

    # ------------------------------------------------------------------ latents
    def sample_contexts(self, num: int) -> np.ndarray:
        """``num`` latents from the prior, ``(num, width)`` float32, from the algorithm's own generator."""
        return sample_contexts(self.context_sampler, self.context_size, num, self._latent_rng)

    def _reset_latents(self, n_envs: int) -> None:
        self.latents = self.sample_contexts(n_envs)
        self._resampled = np.zeros(n_envs, dtype=bool)
        self.policy.set_context(self.latents[0])

    def latent(self, env_index: int = 0) -> np.ndarray:
        """The current latent of game copy ``env_index`` (a copy)."""
        return self.latents[env_index].copy()

    def resample_latent(self, env_index: int) -> None:
        """Draw a new latent for copy ``env_index`` because its episode ended.

        Synced partners call this from their end-of-episode hook, which runs inside the game's step before its
        next episode starts, so a partner that moves first already plays the new episode with the new z. Within
        one step of :meth:`collect_rollouts` a copy is redrawn at most once (several partners may report the
        same episode end, and the ego's own check follows).
        """
        if self._in_step and self._resampled[env_index]:
            return
        self.latents[env_index] = self.sample_contexts(1)[0]
        self._resampled[env_index] = self._in_step
        if env_index == 0:
            self.policy.set_context(self.latents[0])

    def _setup_learn(self, *args: Any, **kwargs: Any) -> Any:
        result = super()._setup_learn(*args, **kwargs)
        if self.latents.shape[0] != self.n_envs:
            self._reset_latents(self.n_envs)
        return result

    def learn(
        self,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int = 1,
        tb_log_name: str = "ADAP",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> ADAP:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    # ------------------------------------------------------------------ rollouts
    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """SB3's ``collect_rollouts`` with rows ``obs ⊕ z`` and per-copy latents redrawn at episode ends."""
        assert self._last_obs is not None, "No previous observation was provided"
        if self.latents.shape[0] != env.num_envs:
            self._reset_latents(env.num_envs)
        self.policy.set_training_mode(False)
        n_steps = 0
        rollout_buffer.reset()
        callback.on_rollout_start()
        dones = np.zeros(env.num_envs, dtype=bool)
        new_obs = self._last_obs
        while n_steps < n_rollout_steps:
            rows = augment_observations(self._last_obs, self.latents)
            played = self.latents.copy()
            with th.no_grad():
                actions, values, log_probs = self.policy(obs_as_tensor(rows, self.device))
            actions = actions.cpu().numpy()
            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                clipped_actions = np.clip(actions, self.action_space.low, self.action_space.high)

            self._resampled[:] = False
            self._in_step = True
            try:
                new_obs, rewards, dones, infos = env.step(clipped_actions)
            finally:
                self._in_step = False
            self.num_timesteps += env.num_envs

            callback.update_locals(locals())
            if not callback.on_step():
                return False

            self._update_info_buffer(infos, dones)
            n_steps += 1

            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)

            for idx, done in enumerate(dones):
                if (
                    done
                    and infos[idx].get("terminal_observation") is not None
                    and infos[idx].get("TimeLimit.truncated", False)
                ):
                    terminal = augment_observations(infos[idx]["terminal_observation"][None], played[idx : idx + 1])
                    with th.no_grad():
                        terminal_value = self.policy.predict_values(obs_as_tensor(terminal, self.device))[0]
                    rewards[idx] += self.gamma * terminal_value

            rollout_buffer.add(rows, actions, rewards, self._last_episode_starts, values, log_probs)
            for idx in np.flatnonzero(dones):
                if not self._resampled[idx]:  # not already redrawn by a synced partner during the step
                    self.resample_latent(int(idx))
            self._last_obs = new_obs
            self._last_episode_starts = dones

        with th.no_grad():
            values = self.policy.predict_values(
                obs_as_tensor(augment_observations(new_obs, self.latents), self.device)
            )
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    # ------------------------------------------------------------------ training
    def train(self) -> None:
        """PPO's update with ``context_loss_coeff * D`` added to each minibatch loss (D skipped when 0)."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)

        entropy_losses, pg_losses, value_losses, clip_fractions, context_losses = [], [], [], [], []
        continue_training = True
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                actions = rollout_data.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = rollout_data.actions.long().flatten()

                values, log_prob, entropy = self.policy.evaluate_actions(rollout_data.observations, actions)
                values = values.flatten()
                advantages = rollout_data.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

                ratio = th.exp(log_prob - rollout_data.old_log_prob)
                policy_loss_1 = advantages * ratio
                policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                policy_loss = -th.min(policy_loss_1, policy_loss_2).mean()
                pg_losses.append(policy_loss.item())
                clip_fractions.append(th.mean((th.abs(ratio - 1) > clip_range).float()).item())

                if self.clip_range_vf is None:
                    values_pred = values
                else:
                    values_pred = rollout_data.old_values + th.clamp(
                        values - rollout_data.old_values, -clip_range_vf, clip_range_vf
                    )
                value_loss = F.mse_loss(rollout_data.returns, values_pred)
                value_losses.append(value_loss.item())

                entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
                entropy_losses.append(entropy_loss.item())

                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                if self.context_loss_coeff > 0:
                    context_loss = get_context_kl_loss(self, self.policy, rollout_data)
                    context_losses.append(context_loss.item())
                    loss = loss + self.context_loss_coeff * context_loss

                with th.no_grad():
                    log_ratio = log_prob - rollout_data.old_log_prob
                    approx_kl_div = th.mean((th.exp(log_ratio) - 1) - log_ratio).cpu().numpy()
                    approx_kl_divs.append(approx_kl_div)

                if self.target_kl is not None and approx_kl_div > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to reaching max kl: {approx_kl_div:.2f}")
                    break

                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()

            self._n_updates += 1
            if not continue_training:
                break

        explained_var = explained_variance(self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten())
        self.logger.record("train/entropy_loss", np.mean(entropy_losses))
        self.logger.record("train/policy_gradient_loss", np.mean(pg_losses))
        self.logger.record("train/value_loss", np.mean(value_losses))
        self.logger.record("train/approx_kl", np.mean(approx_kl_divs))
        self.logger.record("train/clip_fraction", np.mean(clip_fractions))
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/explained_variance", explained_var)
        if context_losses:
            self.logger.record("train/context_loss", np.mean(context_losses))
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if self.clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)


if "ADAP" not in ALGORITHMS:  # lets the artefact format (pantheonrl.artifacts) save and load ADAP models
    ALGORITHMS.register("ADAP", ADAP)
