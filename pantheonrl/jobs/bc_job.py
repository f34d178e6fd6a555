"""Behaviour cloning as a job (kind ``bc``): a human proxy from recorded games, saved as the job's agent
``agents/ego`` so that the dashboard offers it as a FIXED partner and in the play page (docs/web.md section 3.5).

The config (:class:`BCJobConfig`) names the transitions files by path; the web layer fills them in from the user's
own records, never from a path the user typed. The job runs ``pantheonrl bc`` in its process with the same
checks and output, under the job system's heartbeats; it is short and not resumable (a lost one ends FAILED and
can be submitted again).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pantheonrl.errors import ConfigError, check_known_keys, check_whole

__all__ = ["BCJobConfig", "main"]

CONFIG_FILE = "config.yml"
MAX_FILES = 200


@dataclasses.dataclass(frozen=True)
class BCJobConfig:
    """What a BC job clones.

    :param env: the game (``OvercookedMultiEnv-v0`` for recorded human play).
    :param trajectories: transitions ``.npy`` files (absolute paths, filled in by the server).
    :param env_config: the game options the records were made with.
    :param player: the seat whose actions are cloned (the human's).
    :param epochs: training epochs.
    :param seed: seed of the initial weights and the shuffling.
    """

    env: str
    trajectories: tuple[str, ...]
    env_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    player: int = 0
    epochs: int = 20
    seed: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BCJobConfig:
        if not isinstance(data, Mapping):
            raise ConfigError("a bc job's config is an object with env, trajectories, env_config, player, epochs")
        check_known_keys(data, [f.name for f in dataclasses.fields(cls)], "bc option")
        files = data.get("trajectories")
        if not isinstance(files, list | tuple) or not 1 <= len(files) <= MAX_FILES:
            raise ConfigError(f"trajectories: give 1 to {MAX_FILES} recorded games")
        for file in files:
            if not isinstance(file, str) or not file.endswith(".npy") or not Path(file).is_absolute():
                raise ConfigError(f"trajectories: {file!r:.80} is not a recorded game's transitions file")
            if not Path(file).is_file():
                raise ConfigError(f"trajectories: {file!r:.80} does not exist")
        env = data.get("env")
        if not isinstance(env, str):
            raise ConfigError(f"env: {env!r} must be a game id such as 'OvercookedMultiEnv-v0'")
        env_config = data.get("env_config", {})
        if not isinstance(env_config, Mapping):
            raise ConfigError("env_config: must be an object of the game's options")
        values = {name: check_whole(data.get(name, getattr(cls, name)), name, low, high)
                  for name, low, high in (("player", 0, 1), ("epochs", 1, 1000), ("seed", 0, 2**32 - 1))}
        return cls(env=env, trajectories=tuple(files), env_config=dict(env_config), **values)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["trajectories"] = list(self.trajectories)
        return out

    def argv(self, run_dir: Path) -> list[str]:
        """``pantheonrl bc``'s arguments for this config (only checked values and server paths)."""
        return ["bc", self.env, *self.trajectories, "--env-config", json.dumps(self.env_config), "-t",
                str(self.epochs), "--seed", str(self.seed), "--save-agent", str(run_dir / "agents" / "ego"),
                *(["--choose-alt"] if self.player == 1 else [])]


def write_config(cfg: BCJobConfig, run_dir: Path) -> Path:
    import yaml

    from pantheonrl.config import atomic_write_text

    return atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    """Run ``pantheonrl bc`` for the job's config; its exit status is the job's (0 SUCCEEDED, else FAILED)."""
    import yaml

    from pantheonrl.cli import main as cli_main
    from pantheonrl.jobs.runtime import job_process
    from pantheonrl.jobs.states import FAILED, SUCCEEDED

    with job_process(argv, "python -m pantheonrl.jobs.bc_job",
                     "Run a bc job of the job table (started by a job backend).") as (_, runtime):
        try:
            cfg = BCJobConfig.from_dict(yaml.safe_load((runtime.run / CONFIG_FILE).read_text(encoding="utf-8")))
            code = cli_main(cfg.argv(runtime.run))
        except Exception as exc:
            runtime.finish(FAILED, f"{type(exc).__name__}: {exc}", 1)
            raise
        runtime.count = lambda: cfg.epochs if code == 0 else 0
        runtime.finish(SUCCEEDED if code == 0 else FAILED, None if code == 0 else "pantheonrl bc failed: see the "
                       "log", code)
        return code


if __name__ == "__main__":
    sys.exit(main())
