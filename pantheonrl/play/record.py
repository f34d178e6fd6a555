"""Trajectory records of human-play games (docs/web.md section 3.5).

Each finished game writes two files into the record folder, named by its episode id (uuid4 hex, server made):

``<episode id>.json``
    The episode in the overcooked_ai convention, so code built on it (``AgentEvaluator``, ``StateVisualizer``)
    reads it: ``ep_states``, ``ep_actions``, ``ep_rewards`` (sparse), ``ep_dones``, ``ep_returns``,
    ``ep_lengths``, ``mdp_params`` (``layout_name``, ``terrain``, ...) and ``env_params``, each a list over
    episodes with one episode per file; ``ep_states[0][t]`` is the state *before* tick ``t`` and
    ``ep_actions[0][t]`` the joint action applied at tick ``t`` (a direction as ``[dx, dy]`` or
    ``"interact"``, chef 0 first). Our extra keys make a superset: ``ticks`` (one entry per tick: ``tick``,
    ``state`` before the step, ``joint_action`` as indices, ``fallback`` seats that played STAY for want of an
    action, ``sparse_reward``, ``shaped_reward``, cumulative ``score``, ``wall_time`` in seconds since the
    start, ``time_left`` in ticks), ``final_state``, ``players`` (per seat ``human:<user id>`` or
    ``ai:<agent>``, with the SHA-256 of a saved agent's files), ``ended_by``, the layout, env id and version,
    package versions, the play config and the timing and input statistics.
``<episode id>.npy``
    The same episode in the transitions format of :mod:`pantheonrl.common.trajsaver`
    (:class:`~pantheonrl.common.trajsaver.SimultaneousTransitions`: ``[egoobs | egoacts | altobs | altacts |
    flag]``, player 0 = chef 0), each chef's observation built by ``OvercookedMultiEnv`` with the config's
    observation kind, so ``pantheonrl bc OvercookedMultiEnv-v0 <id>.npy --env-config '{"layout_name": ...}'``
    clones a human directly.

Both files are written to a temporary name, flushed, and linked into place (``os.link``: atomic and exclusive,
an existing file is never overwritten; ``os.replace`` after an existence check where hard links are not
supported). JSON and ``.npy`` only: nothing is pickled.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from overcooked import Action, OvercookedState

from pantheonrl.common.trajsaver import SimultaneousTransitions
from pantheonrl.envs.overcooked import OvercookedMultiEnv
from pantheonrl.errors import TrajectoryFormatError
from pantheonrl.play.ai import seat_observations
from pantheonrl.play.config import ENV_ID, PlayConfig

__all__ = [
    "RECORD_FORMAT",
    "EpisodeRecorder",
    "RecordPaths",
    "action_from_json",
    "action_to_json",
    "load_record",
    "write_exclusive",
]

RECORD_FORMAT = "pantheonrl-play-trajectory"
RECORD_VERSION = 1
ENV_VERSION = int(ENV_ID.rsplit("-v", 1)[1])


def action_to_json(index: int) -> Any:
    """An action index as overcooked_ai writes actions to JSON: ``[dx, dy]`` or ``"interact"``."""
    action = Action.INDEX_TO_ACTION[int(index)]
    return list(action) if isinstance(action, tuple) else action


def action_from_json(value: Any) -> int:
    """The index of an action written by :func:`action_to_json` (or by overcooked_ai)."""
    action = tuple(value) if isinstance(value, list) else value
    try:
        return Action.ACTION_TO_INDEX[action]
    except (KeyError, TypeError):
        raise TrajectoryFormatError(
            f"{value!r} is not an Overcooked action; expected [0, -1], [0, 1], [1, 0], [-1, 0], [0, 0] or 'interact'"
        ) from None


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.reshape(len(x), int(np.prod(x.shape[1:])))  # explicit width: an empty episode has 0 rows


def write_exclusive(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically without ever replacing an existing file (``FileExistsError``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(f"{path} already exists; records are never overwritten")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if the name exists: exclusive and atomic
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system
            if path.exists():
                raise FileExistsError(f"{path} already exists; records are never overwritten") from None
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


@dataclass(frozen=True)
class RecordPaths:
    """Where a game's record went: the JSON episode and its transitions matrix."""

    json: Path
    transitions: Path


def _versions() -> dict[str, str | None]:
    import overcooked

    import pantheonrl

    return {"pantheonrl_version": getattr(pantheonrl, "__version__", None),
            "overcooked_version": getattr(overcooked, "__version__", None)}


class EpisodeRecorder:
    """Collects one game's ticks and writes its record.

    :param config: the game's config (layout, dynamics, horizon, observation kind of the transitions file).
    :param mdp: the game's ``OvercookedGridworld`` (its ``mdp_params`` and terrain are recorded).
    :param players: one entry per seat (``{"seat": i, "kind": "human:<id>" | "ai:<agent>", ...}``).
    :param episode_id: the record's name (uuid4 hex).
    :param game_id: the game's id.
    """

    def __init__(self, config: PlayConfig, mdp: Any, players: Sequence[dict], *, episode_id: str,
                 game_id: str) -> None:
        self.config = config
        self.mdp = mdp
        self.players = [dict(p) for p in players]
        self.episode_id = episode_id
        self.game_id = game_id
        self.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
        self.states: list[OvercookedState] = []
        self.ticks: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.ticks)

    def add(self, *, tick: int, state: OvercookedState, joint_action: Sequence[int], fallback: Sequence[int],
            sparse_reward: float, shaped_reward: float, score: float, wall_time: float, time_left: int) -> None:
        """Record tick ``tick``: ``state`` is the state *before* the step, ``joint_action`` the applied one."""
        if tick != len(self.ticks):
            raise ValueError(f"ticks are recorded in order: expected tick {len(self.ticks)}, got {tick}")
        self.states.append(state)
        self.ticks.append({
            "tick": int(tick),
            "joint_action": [int(a) for a in joint_action],
            "fallback": [int(s) for s in fallback],
            "sparse_reward": float(sparse_reward),
            "shaped_reward": float(shaped_reward),
            "score": float(score),
            "wall_time": round(float(wall_time), 6),
            "time_left": int(time_left),
        })

    # ------------------------------------------------------------------ building
    def mdp_params(self) -> dict[str, Any]:
        params = json.loads(json.dumps(self.mdp.mdp_params))  # a JSON copy (tuples become lists)
        params["layout_name"] = self.config.layout
        params["terrain"] = [list(row) for row in self.mdp.terrain_mtx]
        params["old_dynamics"] = bool(self.config.old_dynamics)
        return params

    def document(self, final_state: OvercookedState, *, ended_by: str, extra: dict | None = None) -> dict[str, Any]:
        """The JSON record (see the module docstring)."""
        states = [s.to_dict() for s in self.states]
        ticks = [{"tick": t["tick"], "state": s, **{k: v for k, v in t.items() if k != "tick"}}
                 for t, s in zip(self.ticks, states)]
        rewards = [t["sparse_reward"] for t in self.ticks]
        n = len(ticks)
        doc: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "format_version": RECORD_VERSION,
            "episode_id": self.episode_id,
            "game_id": self.game_id,
            # the overcooked_ai convention: lists over episodes, one episode per file
            "ep_states": [states],
            "ep_actions": [[[action_to_json(a) for a in t["joint_action"]] for t in self.ticks]],
            "ep_rewards": [rewards],
            "ep_dones": [[i == n - 1 for i in range(n)]],
            "ep_returns": [float(sum(rewards))],
            "ep_lengths": [n],
            "mdp_params": [self.mdp_params()],
            "env_params": [{"horizon": self.config.horizon}],
            # our superset
            "ticks": ticks,
            "final_state": final_state.to_dict(),
            "players": self.players,
            "ended_by": ended_by,
            "layout_name": self.config.layout,
            "env_id": ENV_ID,
            "env_version": ENV_VERSION,
            **_versions(),
            "config": self.config.to_dict(),
            "started_at": self.started_at,
            "ended_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
            "score": float(sum(rewards)),
            "shaped_return": float(sum(t["shaped_reward"] for t in self.ticks)),
            "transitions": {
                "file": f"{self.episode_id}.npy",
                "kind": "simultaneous",
                "env_id": ENV_ID,
                "env_config": self.env_config(),
                "rows": n,
                "players": "player 0 = chef 0 (ego), player 1 = chef 1 (--choose-alt)",
            },
        }
        if extra:
            doc.update(extra)
        return doc

    def env_config(self) -> dict[str, Any]:
        """The ``OvercookedMultiEnv`` kwargs whose observations the transitions file holds."""
        config: dict[str, Any] = {"layout_name": self.config.layout, "observation": self.config.observation,
                                  "horizon": self.config.horizon}
        if self.config.old_dynamics:
            config["old_dynamics"] = True
        return config

    def transitions(self) -> SimultaneousTransitions:
        """The episode as ``SimultaneousTransitions`` (observations as ``OvercookedMultiEnv`` builds them)."""
        env = OvercookedMultiEnv(ego_agent_idx=0, **self.env_config())
        shape = env.observation_spaces[0].shape
        obs = np.zeros((2, len(self.states), *shape), dtype=np.float32)
        for i, state in enumerate(self.states):
            ego, alt = seat_observations(env, state)
            obs[0, i], obs[1, i] = ego.obs, alt.obs
        acts = np.array([t["joint_action"] for t in self.ticks], dtype=np.int64).reshape(len(self.ticks), 2)
        flags = np.zeros(len(self.ticks), dtype=np.int64)
        if len(flags):
            flags[-1] = 1
        return SimultaneousTransitions(obs[0], acts[:, 0], obs[1], acts[:, 1], flags)

    # ------------------------------------------------------------------ writing
    def save(self, folder: str | os.PathLike[str], final_state: OvercookedState, *, ended_by: str,
             extra: dict | None = None) -> RecordPaths:
        """Write ``<episode id>.npy`` then ``<episode id>.json`` into ``folder`` (never overwriting)."""
        folder = Path(folder)
        data = self.transitions()
        parts = [data.egoobs, data.egoacts, data.altobs, data.altacts, data.flags]
        # the layout of SimultaneousTransitions.write_transition, written exclusively here
        matrix = np.concatenate([_flat(p) for p in parts], axis=1).astype(np.float64)
        buffer = io.BytesIO()
        np.save(buffer, matrix, allow_pickle=False)
        npy = write_exclusive(folder / f"{self.episode_id}.npy", buffer.getvalue())
        doc = self.document(final_state, ended_by=ended_by, extra=extra)
        text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
        path = write_exclusive(folder / f"{self.episode_id}.json", text.encode("utf-8"))
        return RecordPaths(json=path, transitions=npy)


def load_record(path: str | os.PathLike[str], *, as_objects: bool = False) -> dict[str, Any]:
    """Read a record written by :class:`EpisodeRecorder`.

    :param as_objects: convert ``ep_states`` and ``final_state`` to ``OvercookedState`` and ``ep_actions`` to
        overcooked action tuples, as overcooked_ai's ``AgentEvaluator.load_traj_from_json`` does, ready for
        ``StateVisualizer.display_rendered_trajectory``.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrajectoryFormatError(f"no play record at {str(path)!r}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrajectoryFormatError(f"{str(path)!r} is not a JSON play record: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != RECORD_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise TrajectoryFormatError(f"{str(path)!r} has format {found!r}, expected {RECORD_FORMAT!r}")
    if doc.get("format_version", 0) > RECORD_VERSION:
        raise TrajectoryFormatError(
            f"{str(path)!r} has format_version {doc['format_version']}, newer than this pantheonrl reads "
            f"({RECORD_VERSION}); upgrade pantheonrl"
        )
    if as_objects:
        doc["ep_states"] = [[OvercookedState.from_dict(s) for s in ep] for ep in doc["ep_states"]]
        doc["ep_actions"] = [[tuple(Action.INDEX_TO_ACTION[action_from_json(a)] for a in joint) for joint in ep]
                             for ep in doc["ep_actions"]]
        doc["final_state"] = OvercookedState.from_dict(doc["final_state"])
    return doc
