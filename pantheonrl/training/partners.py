"""What fills a partner seat during training, described as data (so configs, the CLI and the web form can
name it) and built on the vectorised env.

* :class:`LearningPartner`: an SB3 algorithm that learns alongside the ego (one column per game copy);
* :class:`FrozenPartner`: a saved agent (artefact folder or registry name), a model or a policy, acting only;
* :class:`ScriptedPartner`: a built-in game's default partner, one per copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy

from pantheonrl.common.agents import OffPolicyAgent, OnPolicyAgent, StaticPolicyAgent
from pantheonrl.errors import ConfigError
from pantheonrl.registry import ALGORITHMS
from pantheonrl.vec.vecenv import MultiAgentVecEnv

__all__ = ["FrozenPartner", "LearningPartner", "PartnerSpec", "ScriptedPartner", "build_partner"]


@dataclass
class LearningPartner:
    """An SB3 algorithm learning in the seat: a name in :data:`pantheonrl.registry.ALGORITHMS` or a kind of
    :mod:`pantheonrl.algos.kinds` (``ADAP_MULT``); an ADAP model plays as an :class:`~pantheonrl.algos.adap.AdapAgent`
    (one game copy)."""

    algorithm: str = "PPO"
    kwargs: dict[str, Any] = field(default_factory=dict)
    policy: str = "MlpPolicy"
    working_timesteps: int | None = None
    name: str | None = None

    def build(self, venv: MultiAgentVecEnv, player: int, *, seed: int | None = None, total_timesteps: int = 1000,
              device: str = "auto") -> Any:
        from pantheonrl.algos.adap import ADAP, AdapAgent
        from pantheonrl.algos.kinds import EGO_ONLY, model_kwargs, registry_name

        if self.algorithm in EGO_ONLY:
            raise ConfigError(f"{self.algorithm} is an ego algorithm (one partner module per partner); it cannot "
                              f"learn in a partner seat")
        algo = ALGORITHMS.get(registry_name(self.algorithm))
        kwargs = {"device": device, **self.kwargs}
        if self.policy != "MlpPolicy":  # the default alias leaves room for the one a kind implies (ADAP_MULT)
            kwargs["policy"] = self.policy
        kwargs = model_kwargs(self.algorithm, kwargs, "partner")
        policy = kwargs.pop("policy", "MlpPolicy")
        if seed is not None:
            kwargs.setdefault("seed", seed)
        model = algo(policy, venv.get_dummy_env(player), **kwargs)
        if isinstance(model, ADAP):
            return AdapAgent(model, working_timesteps=self.working_timesteps or total_timesteps,
                             tb_log_name=self.label(player))
        agent_cls = OffPolicyAgent if isinstance(model, OffPolicyAlgorithm) else OnPolicyAgent
        return agent_cls(
            model,
            working_timesteps=self.working_timesteps or total_timesteps,
            tb_log_name=self.label(player),
        )

    def label(self, player: int) -> str:
        return self.name or f"{self.algorithm}-p{player}"


@dataclass
class FrozenPartner:
    """A frozen policy: an artefact folder or registry name (loaded weights-only), a model, or a policy."""

    source: str | Path | BaseAlgorithm | BasePolicy
    deterministic: bool = False
    name: str | None = None

    def build(self, venv: MultiAgentVecEnv, player: int, *, device: str = "cpu", **_: Any) -> StaticPolicyAgent:
        source = self.source
        if isinstance(source, BaseAlgorithm):
            policy = source.policy
        elif isinstance(source, BasePolicy):
            policy = source
        else:
            from pantheonrl.artifacts import AgentRegistry

            policy = AgentRegistry().resolve(str(source)).load_policy(device=device)
        return StaticPolicyAgent(policy, deterministic=self.deterministic)

    def label(self, player: int) -> str:
        if self.name:
            return self.name
        if isinstance(self.source, str | Path):
            return Path(self.source).name
        return f"frozen-p{player}"


@dataclass
class ScriptedPartner:
    """The default (scripted) partner of a built-in game, with its options (RPS: ``r``, ``p``, ``s``)."""

    env_id: str
    config: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    def build(self, venv: MultiAgentVecEnv, player: int, **_: Any) -> Any:
        from pantheonrl.envs import make_default_partner

        envs = iter(venv.envs)  # one partner per copy, drawing from that copy's generator
        return lambda: make_default_partner(self.env_id, next(envs), player, **self.config)

    def label(self, player: int) -> str:
        return self.name or f"DEFAULT-p{player}"


PartnerSpec = LearningPartner | FrozenPartner | ScriptedPartner


def build_partner(spec: PartnerSpec, venv: MultiAgentVecEnv, player: int, **kwargs: Any) -> Any:
    """Build ``spec`` for seat ``player`` of ``venv`` (what :meth:`MultiAgentVecEnv.add_partner_agent` takes)."""
    if not isinstance(spec, LearningPartner | FrozenPartner | ScriptedPartner):
        raise ConfigError(
            f"a partner must be a LearningPartner, FrozenPartner or ScriptedPartner, got {type(spec).__name__}; "
            f"e.g. FrozenPartner('path/to/agent') or LearningPartner('PPO')"
        )
    return spec.build(venv, player, **kwargs)
