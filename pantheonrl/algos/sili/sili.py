"""``SILI``: an SB3 algorithm on a game whose partner changes strategy between interactions, with a latent strategy
model and the stability reward (docs/algorithms.md, section 5).

Variants (:data:`VARIANTS`): ``"sili"`` (latent + stability reward, ``beta > 0``), ``"lili"`` (latent, ``beta =
0``) and ``"none"`` (no latent: the plain algorithm on the task reward). The "oracle" variant of the paper is the
``"none"`` variant on a game that shows the true strategy (e.g. ``StableDriving-v0`` with ``oracle=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from pantheonrl.algos.sili.callback import SILICallback
from pantheonrl.algos.sili.latent import LatentStrategyModel
from pantheonrl.algos.sili.shaping import BetaSchedule
from pantheonrl.algos.sili.wrapper import LatentStrategyVecWrapper, flat_action_size, flat_obs_size
from pantheonrl.errors import ConfigError, unknown_choice
from pantheonrl.registry import ALGORITHMS

__all__ = ["SILI", "VARIANTS"]

VARIANTS = ("sili", "lili", "none")


class SILI:
    """Build the vector of games, the latent model, the wrapper, the SB3 model and the callback; then
    :meth:`learn`.

    :param env: a gymnasium id or a function returning a new game (the ego's single-agent view).
    :param variant: one of :data:`VARIANTS`.
    :param beta: ``stabilize_weight``, the stability weight (``"sili"`` only; C-1 uses 0.5).
    :param end_beta: ``end_stabilize_weight`` (default: ``beta``, constant).
    :param anneal_interactions: ``num_anneal_episodes``, the interactions over which ``beta`` anneals.
    :param algo: an SB3 algorithm name from :data:`pantheonrl.registry.ALGORITHMS` (``"PPO"``; ``"SAC"`` for
        continuous actions).
    :param algo_kwargs: keyword arguments for the algorithm (``policy_kwargs``, ``n_steps``, ...).
    :param horizon: ``K``, the steps of one interaction (default: the game's ``horizon`` or ``episode_length``
        attribute, or the ``max_episode_steps`` of its gymnasium spec).
    :param latent_dim: the size of the latent (driving: 2).
    :param latent: ``"discrete"`` (one-hot) or ``"continuous"``.
    :param estimator: the discrete latent's training gradient: ``"argmax"`` (straight-through, no noise; the
        default, because with ``"gumbel"``, the paper's, the latent collapsed on ``StableDriving-v0``) or
        ``"gumbel"`` (see :class:`LatentStrategyModel`).
    :param hidden: the hidden sizes of the encoder and decoder (the paper: 256 x 256).
    :param predict_next_state: the decoder also predicts each next state from ``(s, a, z)`` (the default). Without
        it the decoder only predicts rewards from ``(s, a, s', z)``; when the reward is a function of the observed
        states (as in ``StableDriving-v0``, where it is computed on the pre-step state) that needs no ``z``, the
        encoder gets no training signal and the latent carries nothing.
    :param latent_lr: Adam's learning rate for the latent model (the paper: 1e-4).
    :param latent_updates: the latent model's Adam steps after each rollout.
    :param latent_every: train the latent model once this many interactions have finished since the last time
        (default: after every rollout of an on-policy algorithm, every 50 interactions for an off-policy one).
    :param batch_size: consecutive interaction pairs per latent-model step (the paper: 16).
    :param buffer_size: how many recent interaction pairs the latent model trains on (~500).
    :param info_keys: the game's final-step ``info`` entries to record in :attr:`history`.
    :param continuing: the interactions form one stream for the algorithm (the default; LILI's long-term
        objective), or each interaction is its own episode (``False``); see :class:`LatentStrategyVecWrapper`.
    :param env_kwargs: keyword arguments for ``gym.make`` when ``env`` is an id.
    """

    def __init__(
        self,
        env: str | Callable[[], gym.Env],
        variant: str = "sili",
        *,
        beta: float = 0.5,
        end_beta: float | None = None,
        anneal_interactions: int = 300,
        algo: str = "PPO",
        algo_kwargs: Mapping[str, Any] | None = None,
        n_envs: int = 1,
        horizon: int | None = None,
        latent_dim: int = 2,
        latent: str = "discrete",
        estimator: str = "argmax",
        hidden: Sequence[int] = (256, 256),
        predict_next_state: bool = True,
        latent_lr: float = 1e-4,
        latent_updates: int = 50,
        latent_every: int | None = None,
        batch_size: int = 16,
        buffer_size: int = 500,
        info_keys: Sequence[str] = (),
        continuing: bool = True,
        env_kwargs: Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        if variant not in VARIANTS:
            raise ConfigError(unknown_choice("SILI variant", variant, VARIANTS))
        if not (isinstance(env, str) or callable(env)):
            raise ConfigError(f"env must be a gymnasium id or a function returning a game, got {env!r}")
        algo_cls = ALGORITHMS.get(algo)
        self.variant = variant
        self.venv = make_vec_env(env, n_envs=n_envs, seed=seed, env_kwargs=dict(env_kwargs or {}))
        probe = self.venv.envs[0]
        if horizon is None:
            game = probe.unwrapped
            horizon = (
                getattr(game, "horizon", None)
                or getattr(game, "episode_length", None)
                or getattr(probe.spec, "max_episode_steps", None)
            )
            if horizon is None:
                raise ConfigError(
                    "cannot tell the game's interaction length: pass horizon=K (the steps of one episode)"
                )
        self.latent_model = None
        if variant != "none":
            self.latent_model = LatentStrategyModel(
                flat_obs_size(self.venv.observation_space),
                flat_action_size(self.venv.action_space),
                horizon,
                latent_dim,
                latent=latent,
                estimator=estimator,
                hidden=hidden,
                predict_next_state=predict_next_state,
                lr=latent_lr,
                seed=seed,
            )
        schedule = BetaSchedule(
            beta if variant == "sili" else 0.0, end_beta if variant == "sili" else None, anneal_interactions
        )
        self.wrapper = LatentStrategyVecWrapper(
            self.venv, self.latent_model, schedule, buffer_size=buffer_size, info_keys=info_keys, continuing=continuing
        )
        kwargs = {"verbose": 0, **dict(algo_kwargs or {})}
        self.model: BaseAlgorithm = algo_cls("MlpPolicy", self.wrapper, seed=seed, device=device, **kwargs)
        if latent_every is None and isinstance(self.model, OffPolicyAlgorithm):
            latent_every = 50  # an off-policy "rollout" is one env step
        self.callback = SILICallback(
            self.wrapper, updates=latent_updates, batch_size=batch_size, every=latent_every, seed=seed
        )

    @property
    def history(self) -> list[dict[str, Any]]:
        """One record per finished interaction (see :class:`LatentStrategyVecWrapper`)."""
        return self.wrapper.history

    def learn(self, total_timesteps: int, **kwargs: Any) -> SILI:
        """Train for ``total_timesteps`` env steps (interactions x horizon)."""
        self.model.learn(total_timesteps, callback=self.callback, reset_num_timesteps=False, **kwargs)
        return self
