"""The job kinds a backend can run (``jobs.kind``): how a submitted config is checked and written into the run
folder, and the argument list of the process that runs it. Backends look kinds up here by name; nothing imports a
module named by a user.

- ``train``: a :class:`~pantheonrl.config.TrainConfig` run by ``pantheonrl train --job-id ...`` (resumable from
  its checkpoints, except CoMeDi populations).
- ``crossplay``: a :class:`~pantheonrl.jobs.crossplay_job.CrossPlayJobConfig` run by
  ``python -m pantheonrl.jobs.crossplay_job`` (on the ``ray`` backend its cells are Ray tasks).
- ``bc``: a :class:`~pantheonrl.jobs.bc_job.BCJobConfig` (a human proxy from recorded games) run by
  ``python -m pantheonrl.jobs.bc_job``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pantheonrl.errors import ConfigError, unknown_choice

__all__ = ["KINDS", "JobKind", "PreparedJob", "job_kind"]

# config fields that name files: a job writes only into its own run folder
_PATH_FIELDS = ("run_dir", "tensorboard_log", "ego_save", "alt_save", "record")


@dataclass(frozen=True)
class PreparedJob:
    """A checked submission: the config stored in the job row, its size, and how to write its run folder."""

    config: dict[str, Any]
    steps_total: int | None
    resumable: bool
    write: Callable[[Path], Any]


@dataclass(frozen=True)
class JobKind:
    """One kind of job.

    :ivar prepare: the submitted config -> :class:`PreparedJob` (a :class:`ConfigError` for a bad one).
    :ivar argv: ``(python, run folder, job id, database URL, on_ray)`` -> the process's argument list (only
        server-generated values).
    """

    name: str
    prepare: Callable[[Mapping[str, Any]], PreparedJob]
    argv: Callable[[str, Path, str, str, bool], list[str]]


def _prepare_train(config: Mapping[str, Any]) -> PreparedJob:
    from pantheonrl.config import POPULATION, TrainConfig, dump_config

    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    named = [name for name in _PATH_FIELDS if getattr(cfg, name, None) not in (None, "")]
    if named:
        raise ConfigError(f"{named[0]}: a job writes only into its own run folder, so {', '.join(named)} cannot "
                          f"be set; remove {'it' if len(named) == 1 else 'them'} (the agents, logs and "
                          f"checkpoints are in the job's folder)")
    return PreparedJob(cfg.to_dict(), cfg.total_timesteps, cfg.ego != POPULATION,
                       lambda run: dump_config(cfg.replace(run_dir=str(run)), run / "config.yml"))


def _train_argv(python: str, run: Path, job_id: str, db_url: str, on_ray: bool) -> list[str]:
    return [python, "-m", "pantheonrl.cli", "train", "--config", str(run / "config.yml"), "--run-dir", str(run),
            "--job-id", job_id, "--jobs-db", db_url]


def _prepare_crossplay(config: Mapping[str, Any]) -> PreparedJob:
    from pantheonrl.jobs.crossplay_job import CrossPlayJobConfig, write_config

    cfg = CrossPlayJobConfig.from_dict(config).resolve()  # every agent hash-checked now: a bad one is a 400
    return PreparedJob(cfg.to_dict(), cfg.total_episodes, False, lambda run: write_config(cfg, run))


def _crossplay_argv(python: str, run: Path, job_id: str, db_url: str, on_ray: bool) -> list[str]:
    return [python, "-m", "pantheonrl.jobs.crossplay_job", "--job-id", job_id, "--jobs-db", db_url, "--run-dir",
            str(run)] + (["--ray"] if on_ray else [])


def _prepare_bc(config: Mapping[str, Any]) -> PreparedJob:
    from pantheonrl.jobs.bc_job import BCJobConfig, write_config

    cfg = BCJobConfig.from_dict(config)
    return PreparedJob(cfg.to_dict(), cfg.epochs, False, lambda run: write_config(cfg, run))


def _bc_argv(python: str, run: Path, job_id: str, db_url: str, on_ray: bool) -> list[str]:
    return [python, "-m", "pantheonrl.jobs.bc_job", "--job-id", job_id, "--jobs-db", db_url, "--run-dir", str(run)]


KINDS: dict[str, JobKind] = {
    "train": JobKind("train", _prepare_train, _train_argv),
    "crossplay": JobKind("crossplay", _prepare_crossplay, _crossplay_argv),
    "bc": JobKind("bc", _prepare_bc, _bc_argv),
}


def job_kind(name: Any) -> JobKind:
    """The kind called ``name``, or a :class:`ConfigError` listing the kinds."""
    if not isinstance(name, str) or name not in KINDS:
        raise ConfigError(unknown_choice("job kind", str(name), list(KINDS)))
    return KINDS[name]
