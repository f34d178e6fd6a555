"""Typed run configs shared by the command line, YAML files and (later) the web form.

A :class:`TrainConfig` describes one training run: the game, the ego, the partners in one seat, the budget and
the outputs. Every value is checked when the config is built (``TrainConfig(...)``, :meth:`TrainConfig.from_dict`,
:func:`load_config`); a bad value raises :class:`~pantheonrl.errors.ConfigError` naming the field path
(``partners[1].type``), the bad value, what is allowed and a likely fix. Names (envs, algorithms, partner types)
are only ever looked up in :mod:`pantheonrl.registry`.

YAML files are read with ``yaml.safe_load`` (JSON files are accepted too) and hold the same keys as
:meth:`TrainConfig.to_dict`::

    env: LiarsDice-v0
    ego: PPO
    ego_config: {n_steps: 256, batch_size: 256}
    partners:
      - type: PPO
        config: {n_steps: 256, batch_size: 256}
    n_envs: 8
    total_timesteps: 200000

Partner types: an algorithm name (a learning partner with ``config`` as its keyword arguments), ``DEFAULT`` (the
game's scripted partner, ``config`` holds its options such as RPS's ``r``/``p``/``s``), ``FIXED`` (a frozen saved
agent: ``location`` is an artefact folder or a registry name) or ``SELF`` (shared-weight self-play: one model in
every seat, the same as ``self_play_shared: true``). The ego is an algorithm name or ``LOAD`` (fine-tune a saved
agent: ``ego_config: {location: ...}``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pantheonrl.algos.kinds import (
    ADAP_KINDS,
    EGO_ONLY,
    FROZEN_OPTIONS,
    KIND_ALIASES,
    check_population_options,
    model_kwargs,
)
from pantheonrl.errors import ConfigError, did_you_mean, unknown_choice

__all__ = [
    "DEFAULT",
    "EGO_KINDS",
    "FIXED",
    "LOAD",
    "PARTNER_KINDS",
    "POPULATION",
    "SAMPLING",
    "SELF",
    "PartnerConfig",
    "TrainConfig",
    "dump_config",
    "load_config",
    "read_config_data",
]

DEFAULT = "DEFAULT"
FIXED = "FIXED"
BC = "BC"
SELF = "SELF"
LOAD = "LOAD"
PARTNER_KINDS = (DEFAULT, FIXED, SELF)
"""Partner types besides the algorithm names of :data:`pantheonrl.registry.ALGORITHMS`."""
POPULATION = "CoMeDi"
EGO_KINDS = (LOAD, POPULATION)
"""Ego types besides the algorithm names (``CoMeDi``: a population of conventions, see
:mod:`pantheonrl.algos.kinds`)."""
SAMPLING = ("robin", "random", "prioritised")
"""How a partner is chosen from the pool each episode (see :mod:`pantheonrl.training`)."""

MAX_N_ENVS = 256
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")


def _fail(path: str, message: str) -> ConfigError:
    err = ConfigError(f"{path}: {message}" if path else message)
    err.field = path  # type: ignore[attr-defined]
    return err


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _looks_like_path(text: str) -> bool:
    return (
        "/" in text
        or "\\" in text
        or text.startswith((".", "~"))
        or text.endswith((".yaml", ".yml", ".json", ".zip", ".py"))
    )


def _algorithms() -> list[str]:
    from pantheonrl.algos.kinds import algorithm_kinds

    return algorithm_kinds()


def _envs() -> list[str]:
    import pantheonrl.envs  # noqa: F401  (registers the built-in games)
    from pantheonrl.registry import ENVS

    return list(ENVS)


# ------------------------------------------------------------------------------------------ value checks
def _check_int(path: str, value: Any, *, low: int | None = None, high: int | None = None, example: Any = None,
               optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        what = "an integer or null" if optional else "an integer"
        hint = ""
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            hint = f" (write {int(value)} without the decimal point)"
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            hint = f" (write {value.strip()} without quotes)"
        raise _fail(path, f"expected {what}, got {_type_name(value)} {value!r}{hint}; e.g. {example}")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            allowed = f">= {low}"
        elif low is None:
            allowed = f"<= {high}"
        else:
            allowed = f"between {low} and {high}"
        raise _fail(path, f"{value} is out of range: it must be {allowed}; e.g. {example}")
    return value


def _check_bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"expected true or false, got {_type_name(value)} {value!r}")
    return value


def _check_str(path: str, value: Any, *, optional: bool = False, example: str = "") -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        what = "a non-empty string or null" if optional else "a non-empty string"
        raise _fail(path, f"expected {what}, got {_type_name(value)} {value!r}" + (f"; e.g. {example}" if example
                                                                                    else ""))
    return value


def _check_dict(path: str, value: Any, *, example: str = "{}") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected a mapping of options, got {_type_name(value)} {value!r}; e.g. {example}")
    for key in value:
        if not isinstance(key, str):
            raise _fail(path, f"option names must be strings, got {_type_name(key)} {key!r}")
    return dict(value)


def _check_name(path: str, value: Any, allowed: list[str], kind: str, extra_hint: str = "") -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, f"expected the {kind} (a name), got {_type_name(value)} {value!r}; choose one of: "
                          f"{', '.join(allowed)}")
    if value in allowed:
        return value
    if _looks_like_path(value):
        base = value.replace("\\", "/").rstrip("/").split("/")[-1]
        article = "an" if kind[0] in "aeiou" else "a"
        raise _fail(path, f"{value!r} looks like a path, but {article} {kind} is a registered name, one of: "
                          f"{', '.join(allowed)}{did_you_mean(base, allowed)}{extra_hint}")
    raise _fail(path, unknown_choice(kind, value, allowed) + extra_hint)


# ------------------------------------------------------------------------------------------ partners
@dataclass
class PartnerConfig:
    """What fills the partner seat (one entry of a pool).

    :param type: an algorithm name (a learning partner), ``DEFAULT`` (the game's scripted partner), ``FIXED`` (a
        frozen saved agent) or ``SELF`` (shared-weight self-play).
    :param config: the learning partner's algorithm keyword arguments (``policy`` picks the policy alias), or
        the scripted partner's options (RPS: ``r``, ``p``, ``s``).
    :param location: ``FIXED`` only: an artefact folder or a registry name (or, for compatibility with the
        original trainer, an SB3 ``.zip``, then ``config: {type: PPO}`` names its algorithm).
    :param deterministic: ``FIXED`` only: take the most likely action instead of sampling.
    """

    type: str = "PPO"
    config: dict[str, Any] = field(default_factory=dict)
    location: str | None = None
    deterministic: bool = False

    def validate(self, path: str = "partner") -> PartnerConfig:
        if self.type == BC and isinstance(self.config, dict):
            # the original's BC partner: a frozen behaviour-cloned policy (pantheonrl bc --save FILE)
            self.type, self.config = FIXED, {"type": BC, **self.config}
        kinds = [*_algorithms(), *PARTNER_KINDS, BC]
        self.type = _check_name(f"{path}.type", self.type, kinds, "partner type")
        self.config = _check_dict(f"{path}.config", self.config, example="{n_steps: 256}")
        self.location = _check_str(f"{path}.location", self.location, optional=True, example="runs/x/agents/ego")
        self.deterministic = _check_bool(f"{path}.deterministic", self.deterministic)
        if self.type == FIXED:
            if self.location is None:
                raise _fail(f"{path}.location", "a FIXED partner needs the saved agent to load: give its artefact "
                                                "folder or registry name, e.g. location: runs/x/agents/ego (CLI: "
                                                "--alt-config '{\"location\": \"runs/x/agents/ego\"}')")
            unknown = sorted(set(self.config) - {"type", *FROZEN_OPTIONS})
            if unknown:
                raise _fail(f"{path}.config", f"a FIXED partner takes no option {unknown[0]!r}; allowed: type (the "
                                              f"algorithm of an SB3 .zip), latent_val (ADAP), partner_idx "
                                              f"(ModularAlgorithm); put location and deterministic beside config")
            if "type" in self.config:
                _check_name(f"{path}.config.type", self.config["type"], [*_algorithms(), BC], "algorithm")
        elif self.location is not None:
            raise _fail(f"{path}.location", f"only FIXED partners load a saved agent, this one is {self.type}; "
                                            f"remove location or set type: FIXED")
        elif self.deterministic and self.type != FIXED:
            raise _fail(f"{path}.deterministic", f"only FIXED partners can act deterministically, this one is "
                                                 f"{self.type}; remove deterministic or set type: FIXED")
        if self.type in EGO_ONLY:
            raise _fail(f"{path}.type", f"{self.type} is an ego algorithm (one partner module per partner), it "
                                        f"cannot fill a partner seat; make it the ego, or load a saved one as FIXED")
        if self.type in _algorithms():
            _check_policy(f"{path}.config.policy", self.type, self.config)
        if self.type == SELF and (self.config or self.location):
            raise _fail(path, "a SELF partner takes no options: the ego's own model plays the seat")
        return self

    def label(self, index: int) -> str:
        """The partner's name in logs and artefact folders: ``alt<index>-<type>``."""
        return f"alt{index}-{self.type}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "config": dict(self.config), "location": self.location,
                "deterministic": self.deterministic}

    @classmethod
    def from_dict(cls, data: Any, path: str = "partner") -> PartnerConfig:
        if isinstance(data, str):  # shorthand: "- PPO"
            data = {"type": data}
        if not isinstance(data, Mapping):
            raise _fail(path, f"expected a mapping like {{type: PPO}}, got {_type_name(data)} {data!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise _fail(f"{path}.{key}", unknown_choice("partner key", key, names))
        return cls(**dict(data)).validate(path)


def _kind_kwargs(kind: str, kwargs: Mapping[str, Any], where: str, field_path: str, n_partners: int | None = None
                 ) -> None:
    """:func:`pantheonrl.algos.kinds.model_kwargs` as a check, its errors tagged with ``field_path``."""
    try:
        model_kwargs(kind, kwargs, where, n_partners=n_partners)
    except ConfigError as exc:
        err = ConfigError(str(exc))
        err.field = field_path  # type: ignore[attr-defined]
        raise err from None


def _check_policy(path: str, algorithm: str, kwargs: Mapping[str, Any]) -> None:
    if "policy" not in kwargs:
        return
    from pantheonrl.registry import ALGORITHMS

    if algorithm in KIND_ALIASES:
        _kind_kwargs(algorithm, kwargs, path.rsplit(".", 1)[0], path)
        return
    aliases = sorted(getattr(ALGORITHMS.get(algorithm), "policy_aliases", {}))
    policy = kwargs["policy"]
    if not isinstance(policy, str) or policy not in aliases:
        raise _fail(path, unknown_choice(f"{algorithm} policy", policy, aliases))


# ------------------------------------------------------------------------------------------ training runs
@dataclass
class TrainConfig:
    """One training run (the CLI's ``pantheonrl train``, a YAML file, a web form).

    :param env: a registered game id (``pantheonrl list envs``).
    :param env_config: keyword arguments of the game (Liar's Dice: ``probegostart``).
    :param ego: an algorithm name, or ``LOAD`` to fine-tune the saved agent in ``ego_config.location``.
    :param ego_config: the ego algorithm's keyword arguments (``policy`` picks the policy alias, ``verbose``
        defaults to :attr:`verbose`); for ``LOAD``: ``location`` (artefact folder or registry name) and optional
        SB3 load overrides.
    :param partners: the pool of partners in seat :attr:`player` (at least one unless :attr:`self_play_shared`).
    :param player: the partners' seat (the ego plays seat 0).
    :param total_timesteps: ego timesteps to train (with shared weights: transitions of all seats together).
    :param n_envs: game copies stepped together (1..256).
    :param seed: seeds the models, the game copies and the global generators; ``None``: not seeded.
    :param device: torch device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    :param sampling: how a partner is chosen from the pool each episode: ``robin``, ``random`` or ``prioritised``.
    :param self_play_shared: one model plays every seat and learns from all of them (partners must be empty);
        with an ADAP ego the other seats play the ego's live weights with its per-copy latents (ADAP self-play).
    :param share_latent: ADAP ego and ADAP partners only: the partners play each episode with the ego's latent
        (the original trainer's ``--share-latent``); ``context_size`` and ``context_sampler`` must agree (they
        default to the ego's).
    :param framestack: observations stack the last N frames (1: off).
    :param checkpoint_every: write a checkpoint every this many ego timesteps (0: off).
    :param keep_checkpoints: how many checkpoints to keep (the newest ones).
    :param eval_episodes: episodes of the evaluation after training (0: none).
    :param progress: show SB3's progress bar.
    :param run_dir: the run folder (``None``: ``runs/<env>-<ego>-<alt0>-<timestamp>``).
    :param num_threads: ``torch.set_num_threads`` for the run.
    :param verbose: the ego's SB3 verbosity (0: quiet, 1: a table per rollout, 2: debug).
    :param verbose_partner: print the learning partners' tables too.
    :param record: write the games' transitions to this ``.npy`` path after training.
    :param ego_save: also save the ego as an SB3 zip here (the original trainer's ``--ego-save``).
    :param alt_save: also save the learning partner(s) as SB3 zips here (``path/<index>`` for several).
    :param tensorboard_log: TensorBoard folder (``None``: the run folder's ``tb/``).
    :param tensorboard_name: TensorBoard run name under :attr:`tensorboard_log`.
    """

    env: str
    ego: str = "PPO"
    partners: list[PartnerConfig] = field(default_factory=list)
    env_config: dict[str, Any] = field(default_factory=dict)
    ego_config: dict[str, Any] = field(default_factory=dict)
    player: int = 1
    total_timesteps: int = 500_000
    n_envs: int = 1
    seed: int | None = None
    device: str = "auto"
    sampling: str = "robin"
    self_play_shared: bool = False
    share_latent: bool = False
    framestack: int = 1
    checkpoint_every: int = 0
    keep_checkpoints: int = 3
    eval_episodes: int = 100
    progress: bool = False
    run_dir: str | None = None
    num_threads: int = 1
    verbose: int = 1
    verbose_partner: bool = False
    record: str | None = None
    ego_save: str | None = None
    alt_save: str | None = None
    tensorboard_log: str | None = None
    tensorboard_name: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    # -------------------------------------------------------------------- validation
    def validate(self) -> TrainConfig:
        """Check every field (called on construction); returns ``self``, normalised."""
        self.env = _check_name("env", self.env, _envs(), "environment id",
                               " (list them with: pantheonrl list envs)")
        self.env_config = _check_dict("env_config", self.env_config, example="{probegostart: 0.5}")
        algorithms = _algorithms()
        self.ego = _check_name("ego", self.ego, [*algorithms, *EGO_KINDS], "ego type",
                               " (LOAD fine-tunes a saved agent: ego_config: {location: PATH})")
        self.ego_config = _check_dict("ego_config", self.ego_config, example="{n_steps: 256}")
        if self.ego == LOAD:
            if "location" not in self.ego_config:
                raise _fail("ego_config.location", "a LOAD ego fine-tunes a saved agent: give its artefact folder or "
                                                   "registry name, e.g. ego_config: {location: runs/x/agents/ego} "
                                                   "(CLI: --ego-config '{\"location\": \"runs/x/agents/ego\"}')")
            _check_str("ego_config.location", self.ego_config["location"], example="runs/x/agents/ego")
            if "type" in self.ego_config:
                _check_name("ego_config.type", self.ego_config["type"], algorithms, "algorithm")
        elif self.ego == POPULATION:
            try:
                check_population_options(self.ego_config, "ego_config")
            except ConfigError as exc:
                err = ConfigError(str(exc))
                err.field = "ego_config"  # type: ignore[attr-defined]
                raise err from None
        else:
            if "location" in self.ego_config:
                raise _fail("ego_config.location", f"only a LOAD ego loads a saved agent, this one is {self.ego}; "
                                                   f"set ego: LOAD to fine-tune it, or remove location")
            _check_policy("ego_config.policy", self.ego, self.ego_config)
        if not isinstance(self.partners, list | tuple):
            raise _fail("partners", f"expected a list of partners, got {_type_name(self.partners)} "
                                    f"{self.partners!r}; e.g. [{{type: PPO}}]")
        partners = []
        for i, partner in enumerate(self.partners):
            if not isinstance(partner, PartnerConfig):
                partner = PartnerConfig.from_dict(partner, f"partners[{i}]")
            partners.append(partner.validate(f"partners[{i}]"))
        self.self_play_shared = _check_bool("self_play_shared", self.self_play_shared)
        selfs = [i for i, p in enumerate(partners) if p.type == SELF]
        if selfs:
            if len(partners) > 1:
                raise _fail(f"partners[{selfs[0]}].type", "SELF (shared-weight self-play: the ego's model plays every "
                                                          "seat) cannot be mixed with other partners; give SELF alone")
            partners, self.self_play_shared = [], True
        if self.self_play_shared and partners:
            raise _fail("partners", f"self_play_shared puts the ego's own model in every seat, so there is no "
                                    f"partner to add, got {[p.type for p in partners]}; remove the partners (or "
                                    f"give SELF), or set self_play_shared: false")
        if not self.self_play_shared and not partners:
            raise _fail("partners", "give at least one partner, e.g. partners: [{type: PPO}] (CLI: an ALT argument "
                                    "such as PPO, DEFAULT, FIXED or SELF)")
        self.partners = partners
        self.player = _check_int("player", self.player, low=1, high=64, example=1)
        self.total_timesteps = _check_int("total_timesteps", self.total_timesteps, low=1, example=20000)
        self.n_envs = _check_int("n_envs", self.n_envs, low=1, high=MAX_N_ENVS, example=8)
        self._check_algorithm_kinds()
        self.seed = _check_int("seed", self.seed, low=0, high=2**32 - 1, example=0, optional=True)
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise _fail("device", f"unknown device {self.device!r}; choose one of: auto, cpu, cuda, cuda:N (N = GPU "
                                  f"index), mps{did_you_mean(self.device, ['auto', 'cpu', 'cuda', 'mps'])}")
        if not isinstance(self.sampling, str) or self.sampling not in SAMPLING:
            raise _fail("sampling", unknown_choice("partner sampling", self.sampling, SAMPLING))
        self.framestack = _check_int("framestack", self.framestack, low=1, high=1000, example=4)
        self.checkpoint_every = _check_int("checkpoint_every", self.checkpoint_every, low=0, example=10000)
        self.keep_checkpoints = _check_int("keep_checkpoints", self.keep_checkpoints, low=1, example=3)
        self.eval_episodes = _check_int("eval_episodes", self.eval_episodes, low=0, high=10**7, example=100)
        self.progress = _check_bool("progress", self.progress)
        self.run_dir = _check_str("run_dir", self.run_dir, optional=True, example="runs/my-run")
        self.num_threads = _check_int("num_threads", self.num_threads, low=1, high=1024, example=1)
        self.verbose = _check_int("verbose", self.verbose, low=0, high=2, example=1)
        self.verbose_partner = _check_bool("verbose_partner", self.verbose_partner)
        for name in ("record", "ego_save", "alt_save", "tensorboard_log", "tensorboard_name"):
            setattr(self, name, _check_str(name, getattr(self, name), optional=True))
        if self.self_play_shared and self.alt_save:
            raise _fail("alt_save", "with shared weights there is no separate partner model to save; use ego_save")
        return self

    def _check_algorithm_kinds(self) -> None:
        """What ADAP, ModularAlgorithm and CoMeDi need of the rest of the config (:mod:`pantheonrl.algos.kinds`)."""
        self.share_latent = _check_bool("share_latent", self.share_latent)
        if self.ego == POPULATION:
            if not self.self_play_shared:
                raise _fail("partners", f"CoMeDi trains its conventions by self-play and cross-play among themselves, "
                                        f"so it takes no partners, got {[p.type for p in self.partners]}; give ALT "
                                        f"SELF (partners: [SELF])")
            if self.checkpoint_every:
                raise _fail("checkpoint_every", "a CoMeDi population run writes no checkpoints (each convention is "
                                                "saved when it is done); set checkpoint_every: 0")
        if self.ego in EGO_ONLY:
            if self.self_play_shared:
                raise _fail("self_play_shared", f"{self.ego} learns one partner module per partner, so it cannot "
                                                f"play itself with shared weights; give it partners instead")
            _kind_kwargs(self.ego, self.ego_config, "ego_config", "ego_config.policy_kwargs.num_partners",
                         len(self.partners))
        for i, p in enumerate(self.partners):
            if p.type in ADAP_KINDS and self.n_envs > 1:
                raise _fail(f"partners[{i}].type", f"a learning {p.type} partner plays one game copy, got n_envs "
                                                   f"{self.n_envs}; use n_envs: 1, or ADAP self-play over many "
                                                   f"copies (ego ADAP with partner SELF)")
        if not self.share_latent:
            return
        others = [p.type for p in self.partners]
        if self.ego not in ADAP_KINDS or not others or any(t not in ADAP_KINDS for t in others):
            raise _fail("share_latent", f"sharing the latent needs an ADAP or ADAP_MULT ego and only ADAP or "
                                        f"ADAP_MULT partners, got ego {self.ego} and partners {others or [SELF]}; "
                                        f"drop share_latent (CLI: -l), or use e.g. ADAP ADAP -l")
        for key, default in (("context_size", 3), ("context_sampler", "l2")):
            mine = self.ego_config.setdefault(key, default)
            for i, p in enumerate(self.partners):
                theirs = p.config.setdefault(key, mine)
                if theirs != mine:
                    raise _fail(f"partners[{i}].config.{key}", f"{theirs!r} differs from the ego's {mine!r}: "
                                                               f"partners that share the ego's latent need the "
                                                               f"same {key}; remove it or give {mine!r}")

    # -------------------------------------------------------------------- derived views
    def partner_labels(self) -> list[str]:
        """``alt<i>-<type>`` per partner (``["self"]`` with shared weights)."""
        if self.self_play_shared:
            return ["self"]
        return [p.label(i) for i, p in enumerate(self.partners)]

    def alt_names(self) -> list[str]:
        """The ALT arguments of ``pantheonrl train`` that give these partners."""
        return [SELF] if self.self_play_shared else [p.type for p in self.partners]

    # -------------------------------------------------------------------- dict / files
    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON ready); :meth:`from_dict` reads it back to an equal config."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "partners":
                value = [p.to_dict() for p in value]
            elif isinstance(value, dict):
                value = json.loads(json.dumps(value))  # a deep, plain copy
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None) -> TrainConfig:
        """Build and check a config from plain data (e.g. a parsed YAML file); ``source`` prefixes errors."""
        try:
            if not isinstance(data, Mapping):
                raise _fail("", f"a run config must be a mapping of keys such as env, ego and partners, got "
                                f"{_type_name(data)}" + (f" {data!r:.80}" if data is not None else " (empty file)"))
            names = [f.name for f in dataclasses.fields(cls)]
            for key in data:
                if not isinstance(key, str) or key not in names:
                    raise _fail(str(key), unknown_choice("config key", key, names))
            if "env" not in data:
                raise _fail("env", "the key env is missing; give the game to train in, e.g. env: LiarsDice-v0")
            kwargs = dict(data)
            if "partners" in kwargs:
                partners = kwargs["partners"]
                if partners is None:
                    partners = []
                if not isinstance(partners, list | tuple):
                    raise _fail("partners", f"expected a list of partners, got {_type_name(partners)} "
                                            f"{partners!r:.80}; e.g. partners: [{{type: PPO}}]")
                kwargs["partners"] = [PartnerConfig.from_dict(p, f"partners[{i}]") for i, p in enumerate(partners)]
            for key in ("env_config", "ego_config"):
                if kwargs.get(key, {}) is None:
                    kwargs[key] = {}
            return cls(**kwargs)
        except ConfigError as exc:
            if source is None:
                raise
            err = ConfigError(f"{source}: {exc}")
            err.field = getattr(exc, "field", None)  # type: ignore[attr-defined]
            raise err from None

    def replace(self, **changes: Any) -> TrainConfig:
        """A checked copy with ``changes`` applied."""
        data = self.to_dict()
        data.update(changes)
        return TrainConfig.from_dict(data)


# ------------------------------------------------------------------------------------------ files
def _parse_text(text: str, path: Path) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}: bad JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; fix the syntax there"
            ) from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        raise ConfigError(
            f"{path}: bad YAML syntax{where}: {detail}; fix the syntax there (indent with spaces, put a space "
            f"after each ':', quote values with special characters)"
        ) from None


def read_config_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw mapping of a YAML/JSON run config file: the syntax, the top level and the key names are checked,
    the values are not (:meth:`TrainConfig.from_dict` does that, e.g. after command-line overrides)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"no config file at {str(path)!r} (looked from {os.getcwd()}); check the path, e.g. "
                          f"examples/configs/liars_dice_ppo.yaml")
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} is a folder, not a config file; pass a .yaml or .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; a config is a YAML or JSON text file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}; check its permissions") from None
    data = _parse_text(text, path)
    if not isinstance(data, Mapping):
        shown = "an empty file" if data is None else f"{_type_name(data)} {data!r:.80}"
        raise ConfigError(f"{path}: a run config must be a mapping of keys such as env, ego and partners, got "
                          f"{shown}; e.g. see examples/configs/liars_dice_ppo.yaml")
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    for key in data:
        if not isinstance(key, str) or key not in names:
            raise ConfigError(f"{path}: {unknown_choice('config key', key, names)}")
    return dict(data)


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Read a run config from a YAML (``yaml.safe_load``) or JSON file and check it."""
    return TrainConfig.from_dict(read_config_data(path), source=str(Path(path).expanduser()))


def dump_yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def dump_config(config: TrainConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``config`` as YAML (JSON for a ``.json`` path), atomically; :func:`load_config` reads it back."""
    data = config.to_dict()
    if Path(path).suffix.lower() == ".json":
        return atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return atomic_write_text(path, dump_yaml(data))
