"""The training interactions of coordination research, as functions.

* :func:`train` — an ego against partners in a seat (ad-hoc / cross-play with frozen partners, a learning
  partner, a pool sampled round-robin, at random or prioritised), on N game copies;
* :func:`self_play` — separate weights (a learning partner of the same algorithm) or shared weights (one model
  in every seat);
* :func:`finetune` — a saved ego keeps training with a new partner;
* :func:`train_population` — N seeds of self-play (a population of conventions);
* :func:`best_response` — an ego trained against a population of frozen partners.

Each returns a :class:`TrainResult`; ``result.save(folder, env_id=...)`` writes artefacts
(:mod:`pantheonrl.artifacts`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from pantheonrl.common.multiagentenv import MultiAgentEnv
from pantheonrl.errors import ConfigError, unknown_choice
from pantheonrl.registry import ALGORITHMS
from pantheonrl.training.callbacks import PartnerMetricsCallback
from pantheonrl.training.partners import FrozenPartner, LearningPartner, PartnerSpec, build_partner
from pantheonrl.training.sampling import PrioritisedSampler
from pantheonrl.vec.selfplay import SharedWeightSelfPlay
from pantheonrl.vec.vecenv import MultiAgentVecEnv

__all__ = [
    "SAMPLING",
    "TrainResult",
    "best_response",
    "env_factory",
    "finetune",
    "self_play",
    "train",
    "train_population",
]

SAMPLING = ("robin", "random", "prioritised")

EnvLike = str | Callable[[], MultiAgentEnv]


def env_factory(env: EnvLike, env_kwargs: dict[str, Any] | None = None) -> Callable[[], MultiAgentEnv]:
    """A factory of game copies from a registered id (``"LiarsDice-v0"``) or a factory."""
    if callable(env):
        if env_kwargs:
            return lambda: env(**env_kwargs)
        return env
    if isinstance(env, str):
        from pantheonrl.registry import make_env

        make_env(env)  # checks the id (did-you-mean) before any copy is built
        return lambda: gym.make(env, **(env_kwargs or {}))
    raise ConfigError(f"env must be a registered id or a factory, got {type(env).__name__}; e.g. 'LiarsDice-v0'")


@dataclass
class TrainResult:
    """What a training interaction produced."""

    ego: BaseAlgorithm
    partners: list[Any] = field(default_factory=list)
    partner_labels: list[str] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    venv: Any = None

    def learning_partner_models(self) -> list[tuple[str, BaseAlgorithm]]:
        return [
            (label, agent.model)
            for label, agent in zip(self.partner_labels, self.partners)
            if getattr(agent, "is_learning", False) and getattr(agent, "model", None) is not self.ego
        ]

    def save(self, folder: str | Path, *, env_id: str, seed: int | None = None, config: dict | None = None) -> dict:
        """Write the ego (``folder/ego``) and each learning partner (``folder/<label>``) as artefacts; returns
        ``{name: AgentArtifact}``."""
        from pantheonrl.artifacts import save_agent

        folder = Path(folder)
        saved = {
            "ego": save_agent(
                self.ego, folder / "ego", env_id=env_id, seed=seed, config=config, partners_seen=self.partner_labels
            )
        }
        for label, model in self.learning_partner_models():
            saved[label] = save_agent(model, folder / label, env_id=env_id, seed=seed, config=config,
                                      partners_seen=["ego"])
        return saved


def _sampling(venv: MultiAgentVecEnv, sampling: str | Callable, callbacks: list) -> PartnerMetricsCallback:
    sampler = None
    if callable(sampling):
        venv.set_resample_policy(sampling)
    elif sampling == "prioritised":
        sampler = PrioritisedSampler()
        venv.set_resample_policy(sampler)
    elif sampling in ("robin", "random"):
        venv.set_resample_policy(sampling)
    else:
        raise ConfigError(unknown_choice("partner sampling", sampling, (*SAMPLING, "a callable")))
    metrics = PartnerMetricsCallback(sampler=sampler)
    callbacks.append(metrics)
    return metrics


def _make_ego(ego: str | Path | BaseAlgorithm, venv: MultiAgentVecEnv, ego_kwargs: dict, seed: int | None,
              device: str) -> tuple[BaseAlgorithm, bool]:
    """The ego model on ``venv`` and whether it continues an earlier training."""
    if isinstance(ego, BaseAlgorithm):
        ego.set_env(venv)
        return ego, True
    if isinstance(ego, str) and ego in ALGORITHMS:
        kwargs = {"device": device, **ego_kwargs}
        if seed is not None:
            kwargs.setdefault("seed", seed)
        policy = kwargs.pop("policy", "MlpPolicy")
        return ALGORITHMS.get(ego)(policy, venv, **kwargs), False
    from pantheonrl.artifacts import AgentRegistry, ArtifactError

    try:
        artifact = AgentRegistry().resolve(str(ego))
    except ArtifactError as err:
        raise ConfigError(
            f"ego {str(ego)!r} is neither an algorithm ({', '.join(ALGORITHMS)}) nor a saved agent: {err}"
        ) from None
    return artifact.load_agent(env=venv, device=device), True


def train(
    env: EnvLike,
    ego: str | Path | BaseAlgorithm,
    partners: Sequence[PartnerSpec],
    *,
    total_timesteps: int,
    n_envs: int = 1,
    player: int = 1,
    sampling: str | Callable = "robin",
    seed: int | None = None,
    ego_kwargs: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    callback: BaseCallback | list | None = None,
    progress_bar: bool = False,
    tb_log_name: str = "ego",
    device: str = "auto",
) -> TrainResult:
    """Train ``ego`` (an algorithm name, a model, or a saved agent to fine-tune) with ``partners`` in seat
    ``player`` of ``n_envs`` game copies; several partners form a pool chosen per episode by ``sampling``."""
    if not isinstance(total_timesteps, int) or total_timesteps < 1:
        raise ConfigError(f"total_timesteps must be a positive integer, got {total_timesteps!r}; e.g. 20000")
    if not partners:
        raise ConfigError("give at least one partner (e.g. LearningPartner('PPO') or FrozenPartner(path))")
    venv = MultiAgentVecEnv(env_factory(env, env_kwargs), n_envs=n_envs)
    agents, labels = [], []
    for spec in partners:
        agent = build_partner(spec, venv, player, seed=seed, total_timesteps=total_timesteps, device=device)
        venv.add_partner_agent(agent, player)
        agents.append(agent)
        label = spec.label(player)
        labels.append(label if label not in labels else f"{label}-{len(labels)}")  # unique: artefact folders
    callbacks: list = [] if callback is None else (list(callback) if isinstance(callback, list) else [callback])
    metrics = _sampling(venv, sampling, callbacks)
    model, continued = _make_ego(ego, venv, dict(ego_kwargs or {}), seed, device)
    model.learn(
        total_timesteps,
        callback=callbacks,
        progress_bar=progress_bar,
        tb_log_name=tb_log_name,
        reset_num_timesteps=not continued,
    )
    return TrainResult(model, agents, labels, metrics.summary(), venv)


def self_play(
    env: EnvLike,
    algorithm: str = "PPO",
    *,
    total_timesteps: int,
    shared: bool = False,
    n_envs: int = 1,
    seed: int | None = None,
    kwargs: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    device: str = "auto",
    progress_bar: bool = False,
) -> TrainResult:
    """Self-play: with ``shared=True`` one model plays every seat and learns from all of them (its
    ``total_timesteps`` counts every seat's transitions); otherwise the ego and a learning partner of the same
    algorithm and settings keep separate weights."""
    kwargs = dict(kwargs or {})
    if not shared:
        return train(env, algorithm, [LearningPartner(algorithm, dict(kwargs))], total_timesteps=total_timesteps,
                     n_envs=n_envs, seed=seed, ego_kwargs=kwargs, env_kwargs=env_kwargs, device=device,
                     progress_bar=progress_bar)
    if not isinstance(total_timesteps, int) or total_timesteps < 1:
        raise ConfigError(f"total_timesteps must be a positive integer, got {total_timesteps!r}; e.g. 20000")
    trainer = SharedWeightSelfPlay(env_factory(env, env_kwargs), n_envs=n_envs)
    policy = kwargs.pop("policy", "MlpPolicy")
    if seed is not None:
        kwargs.setdefault("seed", seed)
    model = ALGORITHMS.get(algorithm)(policy, trainer.get_dummy_env(), device=device, **kwargs)
    trainer.attach(model)
    trainer.learn(total_timesteps, seed=seed)
    return TrainResult(model, [trainer.learner], ["self"], {}, trainer)


def finetune(
    env: EnvLike,
    saved_ego: str | Path | BaseAlgorithm,
    partners: Sequence[PartnerSpec],
    *,
    total_timesteps: int,
    **kwargs: Any,
) -> TrainResult:
    """Keep training a saved ego (artefact folder, registry name or model) with new partners."""
    return train(env, saved_ego, partners, total_timesteps=total_timesteps, **kwargs)


def train_population(
    env: EnvLike,
    size: int,
    algorithm: str = "PPO",
    *,
    total_timesteps: int,
    shared: bool = True,
    seed: int = 0,
    **kwargs: Any,
) -> list[TrainResult]:
    """``size`` self-play runs with seeds ``seed, seed + 1, ...``: a population of conventions."""
    if not isinstance(size, int) or size < 1:
        raise ConfigError(f"population size must be a positive integer, got {size!r}; e.g. 4")
    return [
        self_play(env, algorithm, total_timesteps=total_timesteps, shared=shared, seed=seed + i, **kwargs)
        for i in range(size)
    ]


def best_response(
    env: EnvLike,
    population: Sequence[str | Path | BaseAlgorithm | FrozenPartner],
    algorithm: str = "PPO",
    *,
    total_timesteps: int,
    sampling: str | Callable = "robin",
    **kwargs: Any,
) -> TrainResult:
    """An ego trained against a population of frozen partners (artefacts, models or ``FrozenPartner``)."""
    if not population:
        raise ConfigError("the population is empty: give at least one saved agent or model")
    partners = [p if isinstance(p, FrozenPartner) else FrozenPartner(p) for p in population]
    return train(env, algorithm, partners, total_timesteps=total_timesteps, sampling=sampling, **kwargs)
