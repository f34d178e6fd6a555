"""Cross-play evaluation as a job (kind ``crossplay``): every row agent against every column agent of a 2-player
game, in both seats, written as ``crossplay.csv``, ``crossplay.json`` and ``crossplay.png`` into the job's folder
(docs/web.md section 1, docs/design.md section 6).

The config (:class:`CrossPlayJobConfig`) names saved agents by artefact folder; the web layer fills those in from
the user's own agents after its ownership check, so a user never types a path. Every agent is hash-checked at
submission and loaded weights-only (:func:`pantheonrl.artifacts.load_policy`) in the job process.

The job process (``python -m pantheonrl.jobs.crossplay_job --job-id ID --jobs-db URL --run-dir RUN``) plays the
cells one by one (``--ray``: as Ray tasks on the cluster of the Ray job it runs in, :mod:`pantheonrl.jobs.
ray_crossplay`). Cell ``(i, j)`` in seat ``s`` is seeded with :func:`pantheonrl.eval.crossplay.cell_seed`, so the
matrix is the same whichever way, and equals ``pantheonrl xplay``'s. Progress (episodes played), heartbeats and
cancel work as for training jobs (:class:`pantheonrl.jobs.runtime.JobRuntime`): a cancel stops between cells
(Ray: the remaining tasks are cancelled). A lost cross-play job is not resumed (it has no checkpoint): it ends
FAILED with the reason, and submitting it again recomputes the same matrix.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pantheonrl.errors import ConfigError, UserInputError, check_known_keys, check_whole, unknown_choice

__all__ = ["MAX_AGENTS", "MAX_EPISODES", "RESULT_FILES", "CrossPlayJobConfig", "main", "run_cells"]

MAX_AGENTS = 32
MAX_EPISODES = 10_000
RESULT_FILES = ("crossplay.csv", "crossplay.json", "crossplay.png")
CONFIG_FILE = "config.yml"
STOP_FILE = "STOP"


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: {value!r} must be true or false")
    return value


def _agents(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{name}: give at least one saved agent as {{name: artefact folder}}")
    if len(value) > MAX_AGENTS:
        raise ConfigError(f"{name}: {len(value)} agents; at most {MAX_AGENTS} per side")
    out = {}
    for key, folder in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= 80 or not isinstance(folder, str) or not folder:
            raise ConfigError(f"{name}: {key!r}: {folder!r} is not a (name, artefact folder) pair")
        out[key] = folder
    return out


@dataclasses.dataclass(frozen=True)
class CrossPlayJobConfig:
    """What a cross-play job computes.

    :param rows: the row agents, ``{name: artefact folder}``.
    :param cols: the column agents (``None``: the row agents, a square matrix with the self-play gap).
    :param env: the game (default: the one every agent was trained on).
    :param env_config: the game's options (default: the agents', when they agree).
    :param framestack: frames per observation (default: the agents', when they agree).
    :param episodes: episodes per cell and seat.
    :param both_seats: the row agent plays seat 0 and seat 1 (``False``: seat 0 only).
    :param seed: the run's seed.
    :param deterministic: agents take their most likely action.
    """

    rows: dict[str, str]
    cols: dict[str, str] | None = None
    env: str | None = None
    env_config: dict[str, Any] | None = None
    framestack: int | None = None
    episodes: int = 20
    both_seats: bool = True
    seed: int = 0
    deterministic: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CrossPlayJobConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(f"a cross-play config is an object such as {{'rows': {{...}}, 'episodes': 20}}, got "
                              f"{type(data).__name__}")
        check_known_keys(data, [f.name for f in dataclasses.fields(cls)], "cross-play option")
        if "rows" not in data:
            raise ConfigError("rows: missing; give the row agents")
        cols = data.get("cols")
        env, env_config = data.get("env"), data.get("env_config")
        if env is not None and not isinstance(env, str):
            raise ConfigError(f"env: {env!r} must be a game id such as 'RPS-v0'")
        if env_config is not None and not isinstance(env_config, Mapping):
            raise ConfigError(f"env_config: {env_config!r} must be an object of the game's options")
        framestack = data.get("framestack")
        return cls(
            rows=_agents(data["rows"], "rows"),
            cols=None if cols is None else _agents(cols, "cols"),
            env=env,
            env_config=None if env_config is None else dict(env_config),
            framestack=None if framestack is None else check_whole(framestack, "framestack", 1, 64),
            episodes=check_whole(data.get("episodes", 20), "episodes", 1, MAX_EPISODES),
            both_seats=_bool(data.get("both_seats", True), "both_seats"),
            seed=check_whole(data.get("seed", 0), "seed", 0, 2**32 - 1),
            deterministic=_bool(data.get("deterministic", False), "deterministic"),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def seats(self) -> list[int]:
        return [0, 1] if self.both_seats else [0]

    @property
    def total_episodes(self) -> int:
        """Episodes of the whole matrix (the job's ``steps_total``)."""
        return len(self.rows) * len(self.cols or self.rows) * len(self.seats) * self.episodes

    def resolve(self) -> CrossPlayJobConfig:
        """Check every agent (hashes, one game), fill in the game and its options from the agents, and check the
        game has 2 players; the config with everything explicit."""
        import gymnasium as gym

        import pantheonrl.envs  # noqa: F401  (registers the games)
        from pantheonrl.artifacts import agreed_setting, verify_artifact
        from pantheonrl.eval.rollout import make_game

        artifacts = {f"{side} {name!r}": verify_artifact(folder)
                     for side, agents in (("row", self.rows), ("column", self.cols or {}))
                     for name, folder in agents.items()}
        env = self.env
        if env is None:
            games = sorted({str(a.env_id) for a in artifacts.values()})
            if len(games) != 1:
                raise ConfigError(f"the agents were trained on different games ({', '.join(games)}); pick one with "
                                  f"env")
            env = games[0]
        if env not in gym.registry:
            raise ConfigError(unknown_choice("environment id", env, sorted(gym.registry)))
        wrong = [who for who, a in artifacts.items() if a.env_id is not None and a.env_id != env]
        if wrong:
            raise ConfigError(f"{wrong[0]} was trained on {artifacts[wrong[0]].env_id}, not {env}; cross-play "
                              f"agents of one game")
        arts = list(artifacts.values())
        framestack = self.framestack or agreed_setting(arts, "framestack", 1)
        env_config = self.env_config if self.env_config is not None else agreed_setting(arts, "env_config", {})
        resolved = dataclasses.replace(self, env=env, env_config=dict(env_config or {}), framestack=int(framestack))
        holder, game = make_game(resolved.game_factory())
        try:
            if game.n_players != 2:
                raise ConfigError(f"cross-play needs a 2-player game; {env} has {game.n_players} players")
        finally:
            holder.close()
        return resolved

    def game_factory(self) -> Callable[[], Any]:
        from pantheonrl.cli._common import game_factory

        if self.env is None:
            raise ConfigError("resolve() the config first (it picks the agents' game)")
        return game_factory(self.env, dict(self.env_config or {}), self.framestack or 1)

    def cells(self) -> list[tuple[int, int, str, str]]:
        """``(i, j, row folder, column folder)`` of every cell."""
        cols = self.cols or self.rows
        return [(i, j, a, b) for i, a in enumerate(self.rows.values()) for j, b in enumerate(cols.values())]

    def result(self, cells: Mapping[tuple[int, int], np.ndarray]) -> Any:
        """The :class:`~pantheonrl.eval.CrossPlayResult` of the finished cells."""
        from pantheonrl.eval import CrossPlayResult

        names_b = list(self.cols or self.rows)
        returns = np.zeros((len(self.rows), len(names_b), len(self.seats), self.episodes), dtype=np.float64)
        for (i, j), value in cells.items():
            returns[i, j] = value
        metadata = {"env": self.env, "seed": self.seed, "episodes": self.episodes, "both_seats": self.both_seats,
                    "deterministic": True if self.deterministic else None, "square": self.cols is None,
                    "env_config": self.env_config, "framestack": self.framestack}
        return CrossPlayResult(list(self.rows), names_b, self.seats, returns, metadata)


def play_cell(cfg: CrossPlayJobConfig, i: int, j: int, dir_a: str, dir_b: str) -> np.ndarray:
    """The row agent's returns in cell ``(i, j)``: an array ``(len(seats), episodes)`` (also a Ray task's body)."""
    import torch

    import pantheonrl.envs  # noqa: F401
    from pantheonrl.artifacts import load_policy
    from pantheonrl.common.agents import StaticPolicyAgent
    from pantheonrl.eval.crossplay import cell_seed
    from pantheonrl.eval.rollout import play_episodes

    torch.set_num_threads(1)
    policy_a, policy_b = load_policy(dir_a), load_policy(dir_b)
    deterministic = True if cfg.deterministic else None
    returns = np.zeros((len(cfg.seats), cfg.episodes), dtype=np.float64)
    for k, seat in enumerate(cfg.seats):
        row, col = StaticPolicyAgent(policy_a), StaticPolicyAgent(policy_b)
        players = [row, col] if seat == 0 else [col, row]
        stats = play_episodes(cfg.game_factory(), players, cfg.episodes, seed=cell_seed(cfg.seed, i, j, seat),
                              deterministic=deterministic)
        returns[k] = stats[seat].returns
    return returns


class Stopped(Exception):
    """The job was asked to stop between cells."""


def run_cells(cfg: CrossPlayJobConfig, *, on_cell: Callable[[int], None] = lambda done: None,
              should_stop: Callable[[], str | None] = lambda: None, use_ray: bool = False,
              ray_address: str | None = None) -> Any:
    """Play every cell of ``cfg`` (resolved), here or as Ray tasks; ``on_cell(cells done)`` after each cell,
    :class:`Stopped` when ``should_stop()`` gives a reason. Returns the :class:`~pantheonrl.eval.CrossPlayResult`."""
    cells: dict[tuple[int, int], np.ndarray] = {}
    todo = cfg.cells()
    if not use_ray:
        for i, j, a, b in todo:
            reason = should_stop()
            if reason is not None:
                raise Stopped(reason)
            cells[(i, j)] = play_cell(cfg, i, j, a, b)
            on_cell(len(cells))
        return cfg.result(cells)

    from pantheonrl.jobs.ray_backend import import_ray

    ray = import_ray()
    connected_here = not ray.is_initialized()
    if connected_here:
        ray.init(address=ray_address or "auto", log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=1)(play_cell)
        pending = {task.remote(cfg, i, j, a, b): (i, j) for i, j, a, b in todo}
        while pending:
            reason = should_stop()
            if reason is not None:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise Stopped(reason)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                cells[pending.pop(ref)] = ray.get(ref)
                on_cell(len(cells))
    finally:
        if connected_here:
            ray.shutdown()
    return cfg.result(cells)


def write_result(result: Any, run_dir: Path) -> list[Path]:
    """``crossplay.csv``, ``crossplay.json`` and ``crossplay.png`` (each written atomically)."""
    from pantheonrl.eval import plot_heatmap

    csv_path, json_path, png_path = (run_dir / name for name in RESULT_FILES)
    env = result.metadata.get("env")
    return [result.write_csv(csv_path), result.write_json(json_path),
            plot_heatmap(result, png_path, title=f"cross-play on {env} (row agent's return)")]


def read_config(run_dir: Path) -> CrossPlayJobConfig:
    import yaml

    with open(run_dir / CONFIG_FILE, encoding="utf-8") as handle:
        return CrossPlayJobConfig.from_dict(yaml.safe_load(handle))


def write_config(cfg: CrossPlayJobConfig, run_dir: Path) -> Path:
    import yaml

    from pantheonrl.config import atomic_write_text

    return atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


# ------------------------------------------------------------------------ the job process
def main(argv: list[str] | None = None) -> int:
    """Exit 0 when the matrix is written or the job was cancelled, 1 on an error, 2 for an invalid config."""
    from pantheonrl.jobs.runtime import job_process
    from pantheonrl.jobs.states import CANCELLED, FAILED, INTERRUPTED, SUCCEEDED

    with job_process(argv, "python -m pantheonrl.jobs.crossplay_job",
                     "Run a cross-play job of the job table (started by a job backend, not by hand).",
                     (("--ray", "play the cells as Ray tasks (inside a Ray job)"),)) as (args, runtime):
        run_dir = runtime.run
        signal.signal(signal.SIGTERM, lambda signum, frame: setattr(runtime, "stop_reason",
                                                                    runtime.stop_reason or "SIGTERM"))
        done = [0]
        try:
            cfg = read_config(run_dir).resolve()
            per_cell = len(cfg.seats) * cfg.episodes
            runtime.count = lambda: done[0] * per_cell
            print(f"cross-play on {cfg.env}: {len(cfg.rows)} x {len(cfg.cols or cfg.rows)} agents, {cfg.episodes} "
                  f"episodes per cell and seat, seats {cfg.seats}{', as Ray tasks' if args.ray else ''}", flush=True)

            def on_cell(n: int) -> None:
                done[0] = n
                print(f"cell {n}/{len(cfg.cells())} done", flush=True)

            result = run_cells(cfg, on_cell=on_cell, should_stop=runtime.stop_requested, use_ray=args.ray)
            for path in write_result(result, run_dir):
                print(f"wrote {path.name}", flush=True)
            means = result.means
            print(f"mean return over the matrix: {float(np.mean(means)):.4f}", flush=True)
            if result.is_square and len(result.names_a) >= 2:
                gap = result.selfplay_gap()
                print("self-play vs cross-play: " + ", ".join(f"{k}={v:.4f}" for k, v in gap.items()
                                                              if isinstance(v, float) and math.isfinite(v)))
        except Stopped as stop:
            asked = runtime.store.get(runtime.job_id).cancel_requested or (run_dir / STOP_FILE).exists()
            # a SIGTERM nobody asked for (a shutdown) leaves the job INTERRUPTED: without a checkpoint it then fails
            runtime.finish(CANCELLED if asked else INTERRUPTED, f"{stop} after {done[0]} cells", 0)
            return 0
        except UserInputError as exc:
            runtime.finish(FAILED, str(exc), 2)
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:
            runtime.finish(FAILED, f"{type(exc).__name__}: {exc}", 1)
            raise
        runtime.finish(SUCCEEDED, None, 0)
        return 0


if __name__ == "__main__":
    sys.exit(main())
