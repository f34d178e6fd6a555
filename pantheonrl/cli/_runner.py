"""Running a :class:`~pantheonrl.config.TrainConfig`: the glue between the typed config and
:mod:`pantheonrl.training` / :mod:`pantheonrl.vec`, with the run folder, loggers, atomic checkpoints, resume,
cooperative stop and the evaluation after training.

The pieces :func:`pantheonrl.training.train` / :func:`~pantheonrl.training.self_play` do not offer yet (an SB3
logger and callbacks for the ego, game wrappers on the copies, loading learning partners from a checkpoint and
keeping their timestep counts) live here; see :class:`Session`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, ProgressBarCallback
from stable_baselines3.common.logger import CSVOutputFormat, HumanOutputFormat, Logger, TensorBoardOutputFormat

from pantheonrl.cli._common import frozen_agent, game_factory, is_sb3_zip, load_frozen_policy, resolve_artifact
from pantheonrl.config import DEFAULT, FIXED, LOAD, TrainConfig, atomic_write_text, dump_config
from pantheonrl.errors import ConfigError, PlayerException, UserInputError

__all__ = ["CHECKPOINTS", "Checkpoint", "Session", "find_checkpoint", "lock_run"]

CHECKPOINTS = "checkpoints"
CHECKPOINT_FORMAT = "pantheonrl-checkpoint"
MANIFEST = "manifest.json"
STOP_FILE = "STOP"


# ------------------------------------------------------------------------------------------ helpers
def _oneline(exc: BaseException) -> str:
    """An error message on one line (spaces printed by numpy span several)."""
    return " ".join(str(exc).split())


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class ContinuingCSV(CSVOutputFormat):
    """SB3's CSV writer that keeps the rows already in the file (a resumed run continues ``progress.csv``)."""

    def __init__(self, filename: str) -> None:
        old = ""
        with contextlib.suppress(OSError, UnicodeDecodeError):
            old = Path(filename).read_text(encoding="utf-8")
        super().__init__(filename)
        if old.strip():
            lines = old.splitlines(keepends=True)
            if not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            self.file.writelines(lines)
            self.file.flush()
            self.keys = lines[0].rstrip("\n").split(self.separator)


def make_logger(folder: Path, csv_path: Path | None, tb_dir: Path | None, stdout: bool) -> Logger:
    formats: list[Any] = []
    if stdout:
        formats.append(HumanOutputFormat(sys.stdout))
    if csv_path is not None:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        formats.append(ContinuingCSV(str(csv_path)))
    if tb_dir is not None:
        formats.append(TensorBoardOutputFormat(str(tb_dir)))
    return Logger(folder=str(folder), output_formats=formats)


def lock_run(run: Path) -> Any:
    """Hold an exclusive lock on ``run/run.lock`` (one training process per run folder)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    handle = open(run / "run.lock", "a+")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        from pantheonrl.jobs.errors import RunInUseError

        raise RunInUseError(f"the run folder {run} is in use by another training process (run.lock is held); wait "
                            f"for it to finish, or stop it (create {run / STOP_FILE})") from None
    return handle


# ------------------------------------------------------------------------------------------ checkpoints
@dataclass
class Checkpoint:
    """A checkpoint on disk (or a finished run's ``agents/`` folder)."""

    path: Path
    num_timesteps: int
    agents: dict[str, Path] = field(default_factory=dict)
    buffers: dict[str, Path] = field(default_factory=dict)  # off-policy learners' replay buffers (hash-checked)


def _read_checkpoint(folder: Path) -> Checkpoint:
    from pantheonrl.artifacts import sha256_file, verify_artifact

    data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    if data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{folder / MANIFEST} is not a pantheonrl checkpoint manifest")
    agents = {}
    for label, entry in data["agents"].items():
        artifact = verify_artifact(folder / entry["path"])
        if artifact.sha256 != entry["sha256"]:
            raise ValueError(f"{folder / entry['path']} does not match the manifest")
        agents[label] = artifact.path
    if "ego" not in agents:
        raise ValueError(f"{folder} holds no ego")
    buffers = {}
    for label, entry in data.get("replay_buffers", {}).items():
        path = (folder / entry["path"]).resolve()
        if not path.is_relative_to(folder.resolve()) or sha256_file(path) != entry["sha256"]:
            raise ValueError(f"{folder / entry['path']} does not match the manifest")
        buffers[label] = path
    return Checkpoint(folder, int(data["num_timesteps"]), agents, buffers)


def list_checkpoints(run: Path) -> list[Path]:
    root = run / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith("ckpt-") and p.name[5:].isdigit():
            found.append((int(p.name[5:]), p))
    return [p for _, p in sorted(found)]


def find_checkpoint(run: Path, labels: list[str]) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint whose files match their hashes (else the run's final ``agents/``); and the reasons
    the newer ones were skipped."""
    skipped = []
    for folder in reversed(list_checkpoints(run)):
        try:
            return _read_checkpoint(folder), skipped
        except Exception as exc:  # a damaged checkpoint: fall back to the previous one
            skipped.append(f"{folder.name}: {exc}")
    agents_dir = run / "agents"
    if (agents_dir / "ego").is_dir():
        from pantheonrl.artifacts import verify_artifact

        try:
            agents = {"ego": verify_artifact(agents_dir / "ego").path}
            for label in labels:
                if (agents_dir / label).is_dir():
                    agents[label] = verify_artifact(agents_dir / label).path
            return Checkpoint(agents_dir, -1, agents), skipped
        except UserInputError as exc:
            skipped.append(f"agents: {exc}")
    return None, skipped


# ------------------------------------------------------------------------------------------ callbacks
class RunCallback(BaseCallback):
    """Checkpoints every ``every`` timesteps and a cooperative stop (``RUN/STOP`` or SIGTERM)."""

    def __init__(self, session: Session, every: int) -> None:
        super().__init__()
        self.session = session
        self.every = every
        self._next = 0
        self._last_check = 0.0

    def _on_training_start(self) -> None:
        if self.every:
            done = self.model.num_timesteps
            self._next = (done // self.every + 1) * self.every

    def _rollout_ends_here(self) -> bool:
        """This step fills an on-policy learner's rollout: SB3 then trains on it and logs it, and ``learn()`` ends
        by itself at the target (stopping here would drop the last update and its progress row)."""
        n_steps, n_rollout = self.locals.get("n_steps"), self.locals.get("n_rollout_steps")
        return isinstance(n_steps, int) and isinstance(n_rollout, int) and n_steps + 1 >= n_rollout

    def _on_step(self) -> bool:
        n = self.model.num_timesteps
        if self.every and n >= self._next:
            self.session.write_checkpoint()
            self._next = (n // self.every + 1) * self.every
        if self.session.stop_at is not None and n >= self.session.stop_at and not self._rollout_ends_here():
            return False  # exactly the target, even when resumed from a checkpoint taken mid-rollout
        now = time.monotonic()
        if now - self._last_check >= 1.0:
            self._last_check = now
            if (self.session.run / STOP_FILE).exists():
                self.session.stop_reason = f"{STOP_FILE} file"
        return self.session.stop_reason is None


class OneProgressBar(ProgressBarCallback):
    """SB3's progress bar for a learner that starts a new cycle (and would open a new bar) when it reaches its
    target: only the first cycle draws."""

    _opened = False
    _closed = False

    def _on_training_start(self) -> None:
        if not self._opened:
            self._opened = True
            super()._on_training_start()

    def _on_step(self) -> bool:
        return super()._on_step() if self._opened and not self._closed else True

    def _on_training_end(self) -> None:
        if self._opened and not self._closed:
            self._closed = True
            super()._on_training_end()


# ------------------------------------------------------------------------------------------ the session
class Session:
    """Builds the games, partners and ego of a config (before anything is written), then trains into a run
    folder, checkpoints, saves, evaluates.

    :param cfg: the resolved config.
    :param agents_dir: the agent registry used to resolve names (``None``: ``$PANTHEONRL_AGENTS`` or default).
    :param resume: a checkpoint to continue from.
    """

    def __init__(self, cfg: TrainConfig, *, agents_dir: str | None = None, resume: Checkpoint | None = None,
                 log: Any = print) -> None:
        self.cfg = cfg
        self.agents_dir = agents_dir
        self.resume = resume
        self.log = log
        self.labels = cfg.partner_labels()
        self.recorders: list[Any] = []
        self.partners: list[Any] = []  # built agents, per partner
        self.learning: dict[str, BaseAlgorithm] = {}  # label -> model of each learning partner
        self.eval_partners: dict[str, Any] = {}  # label -> zero-arg factory of an evaluation agent
        self.trainer: Any = None  # SharedWeightSelfPlay
        self.venv: Any = None
        self.ego: BaseAlgorithm | None = None
        self.continued = False
        self.metrics: Any = None
        self.run = Path(".")
        self.stop_reason: str | None = None
        self.stop_at: int | None = None  # end learn() at exactly this many timesteps (jobs, resumed runs)
        self._loggers: list[Logger] = []
        self.start_timesteps = 0

    # -------------------------------------------------------------------- building (no files written)
    def remaining(self) -> int:
        return self.cfg.total_timesteps - self.start_timesteps if self.resume else self.cfg.total_timesteps

    def build(self) -> Session:
        cfg = self.cfg
        from stable_baselines3.common.utils import set_random_seed

        if cfg.seed is not None:
            set_random_seed(cfg.seed)
        record = self.recorders if cfg.record else None
        factory = game_factory(cfg.env, cfg.env_config, cfg.framestack, record)
        probe = game_factory(cfg.env, cfg.env_config, cfg.framestack)()
        self.n_players = probe.n_players
        if not cfg.self_play_shared and not 0 < cfg.player < probe.n_players:
            raise ConfigError(f"player: {cfg.player} is not a partner seat of {cfg.env}, which has players "
                              f"0..{probe.n_players - 1} with the ego in 0; choose one of "
                              f"{list(range(1, probe.n_players))} (CLI: --player)")
        if self.resume is not None:
            self._resume_count()
        if cfg.self_play_shared:
            self._build_shared(factory)
        else:
            self._build_pool(factory)
        return self

    def _resume_count(self) -> None:
        from pantheonrl.artifacts import read_artifact

        ckpt = self.resume
        if ckpt.num_timesteps < 0:  # a finished run's agents/: the count is in the model
            import zipfile

            with zipfile.ZipFile(read_artifact(ckpt.agents["ego"]).path / "model.zip") as zf:
                data = json.loads(zf.read("data"))
            ckpt.num_timesteps = int(data.get("num_timesteps", 0))
        self.start_timesteps = ckpt.num_timesteps
        if self.start_timesteps >= self.cfg.total_timesteps:
            raise ConfigError(
                f"total_timesteps: this run already trained {self.start_timesteps} of {self.cfg.total_timesteps} "
                f"timesteps (from {self.resume.path}); to train longer pass a larger total, e.g. "
                f"-t {self.start_timesteps * 2}"
            )

    def _algo_error(self, exc: Exception, who: str, algo: str, where: str) -> ConfigError:
        return ConfigError(
            f"{where}: cannot build the {who} {algo} for {self.cfg.env}: {type(exc).__name__}: {_oneline(exc)}; "
            f"check the options (SB3 {algo} keyword arguments) and that {algo} supports the game's spaces "
            f"(pantheonrl list envs)"
        )

    def _new_model(self, algo: str, kwargs: dict[str, Any], env: Any, who: str, where: str) -> BaseAlgorithm:
        from pantheonrl.algos.kinds import model_kwargs, registry_name
        from pantheonrl.registry import ALGORITHMS

        kwargs = model_kwargs(algo, kwargs, where, n_partners=len(self.cfg.partners))
        algo = registry_name(algo)
        policy = kwargs.pop("policy", "MlpPolicy")
        kwargs.setdefault("device", self.cfg.device)
        if self.cfg.seed is not None:
            kwargs.setdefault("seed", self.cfg.seed)
        try:
            return ALGORITHMS.get(algo)(policy, env, **kwargs)
        except (TypeError, ValueError, AssertionError, KeyError) as exc:
            if isinstance(exc, UserInputError):
                raise
            raise self._algo_error(exc, who, algo, where) from None

    def _load_model(self, location: str | Path, env: Any, who: str, where: str, overrides: dict | None = None,
                    algorithm: str | None = None) -> BaseAlgorithm:
        """Fully load a saved model (our own artefacts, hash-checked; or an SB3 zip the user names)."""
        from pantheonrl.algos.kinds import registry_name
        from pantheonrl.registry import ALGORITHMS

        overrides = dict(overrides or {})
        algorithm = None if algorithm is None else registry_name(algorithm)
        try:
            if isinstance(location, str) and is_sb3_zip(location):
                algo = algorithm or "PPO"
                return ALGORITHMS.get(algo).load(Path(location).expanduser(), env=env, device=self.cfg.device,
                                                 **overrides)
            artifact = (resolve_artifact(location, self.agents_dir, who) if isinstance(location, str)
                        else resolve_artifact(str(location), None, who))
            if algorithm is not None and algorithm != artifact.algorithm:
                raise ConfigError(f"{where}: {location!r} holds a {artifact.algorithm} agent, not {algorithm}")
            return artifact.load_agent(env=env, device=self.cfg.device, **overrides)
        except (ValueError, TypeError, KeyError, AssertionError) as exc:
            if isinstance(exc, UserInputError):
                raise
            raise ConfigError(f"{where}: cannot load {location!s} as the {who} for {self.cfg.env}: "
                              f"{type(exc).__name__}: {_oneline(exc)}; the saved agent must have been trained on "
                              f"this game (same observation and action spaces, same framestack)") from None

    def _restore_buffer(self, model: BaseAlgorithm, label: str) -> BaseAlgorithm:
        """Refill a resumed off-policy learner's replay buffer from the checkpoint (else it would start empty and
        wait ``learning_starts`` steps again)."""
        from pantheonrl.common.replay_io import load_replay_buffer

        path = self.resume.buffers.get(label) if self.resume is not None else None
        buffer = getattr(model, "replay_buffer", None)
        if path is not None and buffer is not None:
            rows = load_replay_buffer(buffer, path)
            print(f"{label}: restored {rows} replay buffer rows from {path.parent.name}", flush=True)
        return model

    def _ego_kwargs(self) -> dict[str, Any]:
        return {"verbose": self.cfg.verbose, **self.cfg.ego_config}

    def _make_ego(self, env: Any) -> BaseAlgorithm:
        cfg = self.cfg
        if self.resume is not None:
            self.continued = True
            return self._restore_buffer(self._load_model(self.resume.agents["ego"], env, "ego", "resume"), "ego")
        if cfg.ego == LOAD:
            from pantheonrl.algos.kinds import FROZEN_OPTIONS, configure_frozen

            self.continued = True
            overrides = {k: v for k, v in cfg.ego_config.items() if k not in ("location", "type", *FROZEN_OPTIONS)}
            model = self._load_model(cfg.ego_config["location"], env, "LOAD ego", "ego_config.location", overrides,
                                     cfg.ego_config.get("type"))
            configure_frozen(model.policy, {k: v for k, v in cfg.ego_config.items() if k in FROZEN_OPTIONS},
                             "ego_config")
            self._fresh_partner_modules(model)
            return model
        return self._new_model(cfg.ego, self._ego_kwargs(), env, "ego", "ego_config")

    def _fresh_partner_modules(self, model: BaseAlgorithm) -> None:
        """A LOAD ModularAlgorithm keeps its task module and gets fresh partner modules, one per partner (as the
        original trainer did); extra saved modules stay unused."""
        from pantheonrl.algos.modular import ModularAlgorithm

        if not isinstance(model, ModularAlgorithm):
            return
        n = len(self.cfg.partners)
        if n == 0:
            raise ConfigError("ego: a ModularAlgorithm needs partners (one module each), not SELF; give ALTs")
        while model.num_partners < n:
            model.add_partner_module()
        model.policy.do_init_weights(init_partner=True)
        model.set_training_partners(list(range(n)))

    def _ego_kind(self) -> str:
        """The ego's algorithm name (for LOAD: the saved agent's)."""
        cfg = self.cfg
        if cfg.ego != LOAD:
            return cfg.ego
        if "type" in cfg.ego_config:
            return cfg.ego_config["type"]
        location = cfg.ego_config["location"]
        if isinstance(location, str) and is_sb3_zip(location):
            return "PPO"
        return resolve_artifact(location, self.agents_dir, "LOAD ego").algorithm

    def _build_shared(self, factory: Any) -> None:
        from pantheonrl.algos.kinds import is_adap
        from pantheonrl.vec import SharedWeightSelfPlay

        if is_adap(self._ego_kind()):
            self._build_adap_self_play(factory)
            return
        try:
            self.trainer = SharedWeightSelfPlay(factory, n_envs=self.cfg.n_envs)
        except UserInputError as exc:
            raise ConfigError(f"self_play_shared: {self.cfg.env} cannot be played with shared weights: {exc}") from None
        self.ego = self._make_ego(self.trainer.get_dummy_env())
        self.eval_partners["self"] = lambda seed=0: self._static(self.ego.policy)

    def _build_adap_self_play(self, factory: Any) -> None:
        """ADAP self-play: the other seats play the ego's live weights, each game copy with the ego's latent of
        that copy (docs/algorithms.md, section 6.1); only the ego's seat is learned from."""
        from pantheonrl.algos.adap import AdapAgent
        from pantheonrl.training import PartnerMetricsCallback
        from pantheonrl.vec import MultiAgentVecEnv

        self.venv = venv = MultiAgentVecEnv(factory, n_envs=self.cfg.n_envs)
        self.ego = self._make_ego(venv)
        partner = AdapAgent(self.ego, latent_syncer=self.ego)
        for seat in range(1, self.n_players):
            partner.add_to_copies(venv, player_num=seat)
        self.metrics = PartnerMetricsCallback()
        self.eval_partners["self"] = lambda seed=0: self._static(self.ego.policy)

    def _static(self, policy: Any, deterministic: bool = False) -> Any:
        return frozen_agent(policy, deterministic)

    def _build_pool(self, factory: Any) -> None:
        from pantheonrl.training import PartnerMetricsCallback, PrioritisedSampler
        from pantheonrl.vec import MultiAgentVecEnv

        cfg = self.cfg
        self.venv = venv = MultiAgentVecEnv(factory, n_envs=cfg.n_envs)
        for i, (spec, label) in enumerate(zip(cfg.partners, self.labels)):
            where = f"partners[{i}]"
            if spec.type == DEFAULT:
                agent = self._default_partner(spec, where)
            elif spec.type == FIXED:
                policy, _ = load_frozen_policy(spec.location, spec.config.get("type"), self.agents_dir,
                                               cfg.device, f"{where}.location", spec.config)
                agent = frozen_agent(policy, spec.deterministic)  # one object answers all copies at once
                self.eval_partners[label] = lambda seed=0, p=policy, d=spec.deterministic: self._static(p, d)
            else:
                agent = self._learning_partner(spec, label, where)
            try:
                venv.add_partner_agent(agent, cfg.player)
            except PlayerException as exc:
                raise ConfigError(f"{where}: this {spec.type} partner cannot play seat {cfg.player} of {cfg.env}: "
                                  f"{_oneline(exc)}") from None
            self.partners.append(agent)
        sampler = None
        if cfg.sampling == "prioritised":
            sampler = PrioritisedSampler()
            venv.set_resample_policy(sampler)
        else:
            venv.set_resample_policy(cfg.sampling)
        self.metrics = PartnerMetricsCallback(sampler=sampler)
        self.ego = self._make_ego(venv)
        if cfg.share_latent:
            for agent in self.partners:
                agent.set_latent_syncer(self.ego)  # an AdapAgent (checked by the config)

    def _default_partner(self, spec: Any, where: str) -> Any:
        from pantheonrl.envs import DEFAULT_PARTNERS, make_default_partner
        from pantheonrl.training import ScriptedPartner

        cfg = self.cfg
        if cfg.env not in DEFAULT_PARTNERS:
            raise ConfigError(f"{where}.type: {cfg.env} has no DEFAULT (scripted) partner; games with one: "
                              f"{', '.join(DEFAULT_PARTNERS)}; use an algorithm or FIXED instead")
        scratch = game_factory(cfg.env, cfg.env_config, cfg.framestack)()
        try:
            make_default_partner(cfg.env, scratch, cfg.player, **spec.config)  # checks the options now
        except UserInputError as exc:
            raise ConfigError(f"{where}.config: {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"{where}.config: bad option for {cfg.env}'s DEFAULT partner: {exc}") from None

        def for_eval(seed: int | None = 0) -> Any:
            game = game_factory(cfg.env, cfg.env_config, cfg.framestack)()
            return make_default_partner(cfg.env, game, cfg.player, seed=seed, **spec.config)

        self.eval_partners[self.labels[len(self.partners)]] = for_eval
        return ScriptedPartner(cfg.env, dict(spec.config)).build(self.venv, cfg.player)

    def _learning_partner(self, spec: Any, label: str, where: str) -> Any:
        from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

        from pantheonrl.common.agents import OffPolicyAgent, OnPolicyAgent
        from pantheonrl.training import LearningPartner, build_partner

        cfg = self.cfg
        dummy = self.venv.get_dummy_env(cfg.player)
        if self.resume is not None and label in self.resume.agents:
            from pantheonrl.algos.adap import ADAP, AdapAgent

            model = self._restore_buffer(self._load_model(self.resume.agents[label], dummy, f"partner {label}",
                                                          "resume"), label)
            cls = OffPolicyAgent if isinstance(model, OffPolicyAlgorithm) else OnPolicyAgent
            cls = AdapAgent if isinstance(model, ADAP) else cls
            agent = cls(model, working_timesteps=self.remaining(), tb_log_name=label, reset_num_timesteps=False)
        else:
            kwargs = {"verbose": 1 if cfg.verbose_partner else 0, **spec.config}
            policy = kwargs.pop("policy", "MlpPolicy")
            kwargs.setdefault("device", cfg.device)
            partner = LearningPartner(spec.type, kwargs, policy=policy, name=label)
            try:
                agent = build_partner(partner, self.venv, cfg.player, seed=cfg.seed,
                                      total_timesteps=self.remaining(), device=cfg.device)
            except (TypeError, ValueError, AssertionError, KeyError) as exc:
                if isinstance(exc, UserInputError):
                    raise
                raise self._algo_error(exc, "partner", spec.type, f"{where}.config") from None
        agent.log_interval = 1  # always log (progress.csv); stdout only with verbose_partner
        self.learning[label] = agent.model
        self.eval_partners[label] = lambda seed=0, m=agent.model: self._static(m.policy)
        return agent

    # -------------------------------------------------------------------- run folder and outputs
    def _tb_dir(self, who: str, index: int | None = None) -> Path:
        cfg = self.cfg
        if cfg.tensorboard_log is None:
            return self.run / "tb" / who
        from stable_baselines3.common.utils import get_latest_run_id

        root = Path(cfg.tensorboard_log)
        name = cfg.tensorboard_name or self.run.name
        if who != "ego":
            name = f"{name}_alt_{index}" if index is not None else f"{name}_{who}"
        return root / f"{name}_{get_latest_run_id(str(root), name) + 1}"

    def attach(self, run: Path) -> None:
        """Point the loggers at ``run`` (``progress.csv``, TensorBoard, stdout tables)."""
        self.run = run
        ego_logger = make_logger(run, run / "progress.csv", self._tb_dir("ego"), self.cfg.verbose >= 1)
        self.ego.set_logger(ego_logger)
        self._loggers.append(ego_logger)
        for i, (label, model) in enumerate(self.learning.items()):
            index = self.labels.index(label) if label in self.labels else i
            logger = make_logger(run / "partners" / label, run / "partners" / label / "progress.csv",
                                 self._tb_dir(label, index), self.cfg.verbose_partner)
            model.set_logger(logger)
            self._loggers.append(logger)

    def write_checkpoint(self) -> Path | None:
        """Save the ego and every learning partner into ``checkpoints/ckpt-<timesteps>/`` atomically (a temporary
        folder with a manifest of hashes, renamed into place last); keep the newest ``keep_checkpoints``."""
        from pantheonrl.artifacts import save_agent, sha256_file
        from pantheonrl.common.replay_io import save_replay_buffer, supports

        n = int(self.ego.num_timesteps)
        root = self.run / CHECKPOINTS
        target = root / f"ckpt-{n}"
        if target.exists():
            return target
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".ckpt-{n}.tmp-"))
        try:
            config = self.cfg.to_dict()
            entries: dict[str, Any] = {}
            buffers: dict[str, Any] = {}
            models = {"ego": self.ego, **self.learning}
            for label, model in models.items():
                seen = self.labels if label == "ego" else ["ego"]
                artifact = save_agent(model, tmp / label, env_id=self.cfg.env, seed=self.cfg.seed, config=config,
                                      partners_seen=seen)
                entries[label] = {"path": label, "num_timesteps": int(model.num_timesteps),
                                  "sha256": artifact.sha256}
                buffer = getattr(model, "replay_buffer", None)
                if buffer is not None and supports(buffer):  # off-policy: the filled rows, no pickle
                    path = save_replay_buffer(buffer, tmp / f"{label}.replay_buffer.npz")
                    buffers[label] = {"path": path.name, "sha256": sha256_file(path)}
            write_json(tmp / MANIFEST, {"format": CHECKPOINT_FORMAT, "version": 1, "num_timesteps": n,
                                        "created": _now(), "agents": entries, "replay_buffers": buffers})
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for old in list_checkpoints(self.run)[: -self.cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return target

    # -------------------------------------------------------------------- training
    @contextlib.contextmanager
    def _signals(self) -> Any:
        """SIGTERM asks for a cooperative stop (between steps, after a checkpoint)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_term(signum: int, frame: Any) -> None:
            self.stop_reason = "SIGTERM"

        old = signal.signal(signal.SIGTERM, on_term)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, old)

    def learn(self) -> dict[str, Any]:
        cfg = self.cfg
        import torch

        torch.set_num_threads(cfg.num_threads)
        remaining = self.remaining()
        run_cb = RunCallback(self, cfg.checkpoint_every)
        started = time.time()
        interrupted = False
        # SIGTERM stays a cooperative stop through the final checkpoint too, so that a stop arriving while it is
        # written (a cancel escalating) cannot kill the process before the run's end is saved
        with self._signals():
            try:
                if self.trainer is not None:
                    self._learn_shared(remaining, run_cb)
                else:
                    callbacks = [self.metrics, run_cb]
                    self.ego._last_obs = None  # a loaded model starts from fresh games
                    self.ego.learn(remaining, callback=callbacks, progress_bar=cfg.progress, tb_log_name="ego",
                                   reset_num_timesteps=not self.continued)
            except KeyboardInterrupt:
                interrupted = True
                self.stop_reason = "interrupted (Ctrl-C)"
            wall = time.time() - started
            if cfg.checkpoint_every or self.stop_reason:
                self.write_checkpoint()
        for logger in self._loggers:
            with contextlib.suppress(Exception):
                logger.close()
        summary = {
            "env": cfg.env,
            "num_timesteps": int(self.ego.num_timesteps),
            "trained_timesteps": int(self.ego.num_timesteps) - (self.start_timesteps if self.resume else 0),
            "partner_timesteps": {label: int(m.num_timesteps) for label, m in self.learning.items()},
            "wall_s": round(wall, 3),
            "stopped": self.stop_reason,
            "resumed_from": str(self.resume.path) if self.resume else None,
            "partner_metrics": self.metrics.summary() if self.metrics is not None else {},
            "finished": _now(),
        }
        if interrupted:
            write_json(self.run / "summary.json", summary)
            raise KeyboardInterrupt
        return summary

    def _learn_shared(self, remaining: int, run_cb: RunCallback) -> None:
        callbacks: list[BaseCallback] = [run_cb]
        if self.cfg.progress:
            callbacks.append(OneProgressBar())
        self.trainer.attach(
            self.ego, callback=callbacks, log_interval=1, tb_log_name="self", reset_num_timesteps=not self.continued
        )
        self.trainer.learn(remaining, seed=self.cfg.seed)

    # -------------------------------------------------------------------- after training
    def save_outputs(self) -> dict[str, str]:
        """``agents/ego`` (+ learning partners) as artefacts, the compat SB3 zips, the recorded transitions."""
        from pantheonrl.artifacts import save_agent

        cfg = self.cfg
        config = cfg.to_dict()
        written = {}
        agents = self.run / "agents"
        written["ego"] = str(save_agent(self.ego, agents / "ego", env_id=cfg.env, seed=cfg.seed, config=config,
                                        partners_seen=self.labels, overwrite=True).path)
        for label, model in self.learning.items():
            written[label] = str(save_agent(model, agents / label, env_id=cfg.env, seed=cfg.seed, config=config,
                                            partners_seen=["ego"], overwrite=True).path)
        if cfg.ego_save:
            Path(cfg.ego_save).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.ego.save(Path(cfg.ego_save).expanduser())
            written["ego_save"] = cfg.ego_save
        if cfg.alt_save and self.learning:
            several = len(self.learning) > 1
            for label, model in self.learning.items():
                index = self.labels.index(label)
                path = Path(cfg.alt_save).expanduser() / str(index) if several else Path(cfg.alt_save).expanduser()
                path.parent.mkdir(parents=True, exist_ok=True)
                model.save(path)
                written[f"alt_save[{index}]"] = str(path)
        if cfg.record and self.recorders:
            base = Path(cfg.record).expanduser()
            base.parent.mkdir(parents=True, exist_ok=True)
            for c, recorder in enumerate(self.recorders):
                path = base if len(self.recorders) == 1 else base.with_name(f"{base.stem}_env{c}{base.suffix}")
                out = recorder.write_transition(path)
                written[f"record[{c}]"] = ", ".join(map(str, out)) if isinstance(out, list) else str(out)
        return written

    def evaluate(self) -> dict[str, Any] | None:
        """The ego (seat 0) against each partner (and the game's DEFAULT partner), ``eval_episodes`` each."""
        from pantheonrl.envs import DEFAULT_PARTNERS, make_default_partner
        from pantheonrl.eval import evaluate

        cfg = self.cfg
        if cfg.eval_episodes <= 0 or self.n_players != 2:
            return None
        seed = cfg.seed if cfg.seed is not None else 0
        env_fn = game_factory(cfg.env, cfg.env_config, cfg.framestack)
        partners = dict(self.eval_partners)
        if cfg.env in DEFAULT_PARTNERS and not any(p.type == DEFAULT for p in cfg.partners):
            partners["DEFAULT"] = lambda seed=0: make_default_partner(cfg.env, env_fn(), 1, seed=seed)
        from pantheonrl.algos.modular import ModularPolicy

        results = {}
        modular = isinstance(self.ego.policy, ModularPolicy)
        for label, make in partners.items():
            partner = make(seed)
            extra = {}
            if modular:  # the ego plays partner i with module i; others (DEFAULT) with module 0
                index = self.labels.index(label) if label in self.labels else 0
                self.ego.policy.partner_idx = extra["partner_module"] = index if index < self.ego.num_partners else 0
            stats = evaluate(env_fn, self._static(self.ego.policy), [partner], cfg.eval_episodes, seed=seed)
            low, high = stats.ci95
            results[label] = {"mean": stats.mean, "std": stats.std, "sem": stats.sem, "ci95": [low, high],
                              "episodes": stats.n, "mean_length": float(np.mean(stats.lengths)), **extra}
        return {"episodes": cfg.eval_episodes, "seed": seed, "ego_seat": 0, "partner_seat": 1,
                "deterministic": False, "results": results}


def new_run_dir(cfg: TrainConfig, root: str) -> Path:
    """``<root>/<env>-<ego>-<alt0>-<timestamp>`` (a suffix when taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root).expanduser() / f"{cfg.env}-{cfg.ego}-{cfg.alt_names()[0]}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


# What training writes into a run folder: a folder holding any of these is a run, never reused by a new one.
RUN_OUTPUTS = ("progress.csv", "summary.json", "eval.json", "agents", "checkpoints", "partners", "tb")


def create_run_dir(path: Path) -> Path:
    """Create the run folder; an existing one is accepted only if no training wrote into it (e.g. a job folder
    that holds just its config.yml)."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run_dir: {str(path)!r} is a file; choose a folder for --run-dir")
    used = [name for name in RUN_OUTPUTS if (path / name).exists()]
    if used:
        raise ConfigError(f"run_dir: {str(path)!r} already holds a run ({', '.join(used)}); choose another --run-dir, "
                          f"or continue that run with --resume {path}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_run_files(run: Path, cfg: TrainConfig, args: dict[str, Any], argv: list[str]) -> None:
    import shlex

    from pantheonrl.config import dump_yaml

    dump_config(cfg, run / "config.yml")
    atomic_write_text(run / "args.yml", dump_yaml(args))
    atomic_write_text(run / "command.txt", shlex.join(["pantheonrl", *argv]) + "\n")


def append_command(run: Path, argv: list[str]) -> None:
    """Add a resume's command line to ``command.txt`` (the run's history of commands)."""
    import shlex

    path = run / "command.txt"
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    atomic_write_text(path, old + shlex.join(["pantheonrl", *argv]) + "\n")


def format_stats(label: str, r: dict[str, Any]) -> str:
    mean = r["mean"]
    text = "nan" if math.isnan(mean) else f"{mean:.3f}"
    return (f"  ego vs {label:<16} mean {text}  std {r['std']:.3f}  sem {r['sem']:.3f}  "
            f"({r['episodes']} episodes, mean length {r['mean_length']:.1f})")
