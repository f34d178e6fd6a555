"""The algorithm names of run configs and the CLI, and what each needs beyond "build an SB3 model".

Configs, the command line and (later) the web form name algorithms by the keys of
:data:`pantheonrl.registry.ALGORITHMS` plus a few *kinds* of the original trainer:

* ``ADAP_MULT`` is ADAP with the multiplicative policy (``ADAP`` + ``policy: AdapPolicyMult``);
* ``ModularAlgorithm`` is an ego only (one partner module per partner), with ``num_partners`` defaulting to the
  number of partners;
* a frozen ADAP policy plays one latent (``latent_val``, default: the context saved with it), a frozen
  Modular policy one partner module (``partner_idx``, default: its active one);
* ``CoMeDi`` is a *population* ego: ``pantheonrl train ENV CoMeDi SELF`` trains ``n_conventions`` conventions one
  after another (:class:`pantheonrl.algos.comedi.ConventionPopulation`); its options are
  :data:`POPULATION_OPTIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pantheonrl.errors import ConfigError

__all__ = [
    "ADAP_KINDS",
    "EGO_ONLY",
    "FROZEN_OPTIONS",
    "KIND_ALIASES",
    "POPULATION_KINDS",
    "POPULATION_OPTIONS",
    "algorithm_kinds",
    "check_population_options",
    "configure_frozen",
    "is_adap",
    "model_kwargs",
    "registry_name",
]

KIND_ALIASES: dict[str, tuple[str, str]] = {"ADAP_MULT": ("ADAP", "AdapPolicyMult")}
"""kind -> (registered algorithm, the policy alias it implies)."""
ADAP_KINDS = ("ADAP", "ADAP_MULT")
EGO_ONLY = ("ModularAlgorithm",)
FROZEN_OPTIONS = ("latent_val", "partner_idx")
"""Options of a frozen (FIXED / evaluated) agent besides its location: ADAP's latent, Modular's partner module."""
POPULATION_KINDS = ("CoMeDi",)
POPULATION_OPTIONS = (
    "n_conventions", "alpha", "beta", "mix_prob", "env_length", "xp_soft", "xp_temperature", "n_steps",
    "batch_size", "n_epochs", "learning_rate", "gamma", "gae_lambda", "clip_range", "ent_coef", "vf_coef",
    "max_grad_norm", "normalize_advantage", "policy_kwargs", "xplay_episodes", "best_response",
)
"""``ego_config`` keys of a CoMeDi population run: :class:`~pantheonrl.algos.comedi.CoMeDi`'s options plus
``n_conventions`` (K, default 2), ``xplay_episodes`` (games per seat order of the K x K matrix, default 100) and
``best_response`` (train a best-response agent to the population: ``{"total_timesteps": N, "algorithm": "PPO",
...its options}``, or just N). The run's ``total_timesteps`` is per convention, counted in self-play decisions of
one seat; ``seed``, ``n_envs`` and ``device`` come from the run config, not from these options."""
BEST_RESPONSE_KEYS = ("total_timesteps", "algorithm")


def check_population_options(options: Mapping[str, Any], where: str) -> None:
    """Refuse unknown :data:`POPULATION_OPTIONS` and malformed ``n_conventions`` / ``best_response``."""
    from pantheonrl.errors import unknown_choice

    for key in options:
        if key not in POPULATION_OPTIONS:
            raise ConfigError(f"{where}.{key}: " + unknown_choice("CoMeDi option", key, POPULATION_OPTIONS))
    for key in ("n_conventions", "xplay_episodes"):
        value = options.get(key, 2)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}.{key}: expected a positive integer, got {value!r}; e.g. 2")
    br = options.get("best_response")
    if br is None:
        return
    if isinstance(br, int) and not isinstance(br, bool):
        br = {"total_timesteps": br}
    if not isinstance(br, Mapping) or "total_timesteps" not in br:
        raise ConfigError(f"{where}.best_response: give the training budget, e.g. best_response: {{total_timesteps: "
                          f"20000}} (optionally algorithm: PPO and its options), got {br!r}")
    steps = br["total_timesteps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"{where}.best_response.total_timesteps: expected a positive integer, got {steps!r}")


def algorithm_kinds() -> list[str]:
    """Every algorithm name a config may give: the registered algorithms and :data:`KIND_ALIASES`."""
    from pantheonrl.registry import ALGORITHMS

    return sorted([*ALGORITHMS, *KIND_ALIASES])


def registry_name(kind: str) -> str:
    """The :data:`~pantheonrl.registry.ALGORITHMS` key of ``kind`` (``ADAP_MULT`` -> ``ADAP``)."""
    return KIND_ALIASES[kind][0] if kind in KIND_ALIASES else kind


def is_adap(kind: str | None) -> bool:
    return kind in ADAP_KINDS


def model_kwargs(kind: str, kwargs: Mapping[str, Any], where: str, *, n_partners: int | None = None) -> dict:
    """``kwargs`` (the config's options, with ``policy``) completed for ``kind``: the policy alias a kind
    implies, and ModularAlgorithm's ``num_partners`` (one module per partner of the pool)."""
    out = dict(kwargs)
    if kind in KIND_ALIASES:
        implied = KIND_ALIASES[kind][1]
        if out.setdefault("policy", implied) != implied:
            raise ConfigError(f"{where}.policy: {kind} uses the policy {implied}, got {out['policy']!r}; remove "
                              f"policy, or use {KIND_ALIASES[kind][0]} to choose another")
    if kind == "ModularAlgorithm" and n_partners is not None:
        policy_kwargs = dict(out.get("policy_kwargs") or {})
        k = policy_kwargs.setdefault("num_partners", n_partners)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n_partners:
            raise ConfigError(
                f"{where}.policy_kwargs.num_partners: {k!r} must be an integer between 1 and the number of "
                f"partners ({n_partners}): ModularAlgorithm keeps one partner module per partner and trains "
                f"module i with partner i; leave it out to get {n_partners}"
            )
        out["policy_kwargs"] = policy_kwargs
    return out


def configure_frozen(policy: Any, options: Mapping[str, Any], where: str) -> Any:
    """Apply a frozen agent's :data:`FROZEN_OPTIONS` to its loaded ``policy`` (returned)."""
    from pantheonrl.algos.adap.policies import AdapPolicy
    from pantheonrl.algos.modular.policies import ModularPolicy

    if "latent_val" in options:
        if not isinstance(policy, AdapPolicy):
            raise ConfigError(f"{where}: latent_val is for ADAP agents, this one has a "
                              f"{type(policy).__name__} policy; remove latent_val")
        value = options["latent_val"]
        values = value if isinstance(value, list | tuple) else [value]
        if not values or any(isinstance(v, bool) or not isinstance(v, int | float) for v in values) or \
                not np.all(np.isfinite(np.asarray(values, dtype=float))) or len(values) != policy.context_size:
            raise ConfigError(f"{where}: latent_val must be a list of {policy.context_size} finite number(s) (this "
                              f"agent's context_size), got {value!r}; e.g. latent_val: "
                              f"{[1.0] + [0.0] * (policy.context_size - 1)}")
        policy.set_context(np.asarray(values, dtype=np.float32))
    if "partner_idx" in options:
        if not isinstance(policy, ModularPolicy):
            raise ConfigError(f"{where}: partner_idx is for ModularAlgorithm agents, this one has a "
                              f"{type(policy).__name__} policy; remove partner_idx")
        idx = options["partner_idx"]
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < policy.num_partners:
            raise ConfigError(f"{where}: partner_idx {idx!r} is out of range: this agent has partner modules "
                              f"0..{policy.num_partners - 1}")
        policy.partner_idx = idx
    return policy
