"""Transition datasets and their one on-disk format.

A dataset is written with :meth:`write_transition` as one ``.npy`` matrix, one row per step; its columns are
``[obs | acts]`` (:class:`TransitionsMinimal`), ``[obs | acts | flag]`` (:class:`TurnBasedTransitions`) or
``[egoobs | egoacts | altobs | altacts | flag]`` (:class:`SimultaneousTransitions`), each part flattened.
``read_transition(file, obs_space, act_space)`` splits the columns by the spaces' flat sizes. Files written
by the original PantheonRL are read the same way. The matrix is float64, which holds every integer up to
2**53 exactly, so round trips of discrete data and float32/float64 observations are exact.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces

from pantheonrl.errors import TrajectoryFormatError

__all__ = [
    "MultiTransitions",
    "SimultaneousTransitions",
    "TransitionsMinimal",
    "TurnBasedTransitions",
    "transitions_collate_fn",
]


def _space_size(space: spaces.Space) -> int:
    # Local twin of util.get_space_size, kept here so that trajsaver has no import cycle with util.
    from pantheonrl.common.util import get_space_size

    return get_space_size(space)


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    # Explicit width: reshape(0, -1) is ambiguous for an empty dataset.
    return x.reshape(len(x), int(np.prod(x.shape[1:])))


def _unflat(part: np.ndarray, space: spaces.Space | None = None, file: Any = None, what: str = "") -> np.ndarray:
    """Give a part its space's shape and dtype (a Discrete part, like any part of width 1 without a space,
    becomes a vector, as in the original reader). Integer spaces must hold finite integral values."""
    if space is None or space.shape is None:
        return part[:, 0] if part.shape[1] == 1 else part
    if space.dtype is not None and np.issubdtype(space.dtype, np.integer):
        bad = ~np.isfinite(part) | (part != np.round(part))
        if np.any(bad):
            row, col = np.argwhere(bad)[0]
            raise TrajectoryFormatError(
                f"{str(file)!r}: the {what} columns of {space} must hold integers, but row {row} has "
                f"{part[row, col].item()!r}; check the spaces (or the transitions class) used to read it"
            )
    part = part.reshape((len(part), *space.shape))
    if space.dtype is not None:
        part = part.astype(space.dtype)
    return part


def _save_npy(file: str | os.PathLike, matrix: np.ndarray) -> Path:
    """Write atomically; like ``np.save``, append ``.npy`` when missing. Never leave torn data behind."""
    path = Path(file)
    if path.suffix != ".npy":
        path = path.with_name(path.name + ".npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the mode a plain open() would
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, matrix)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _load_npy(file: str | os.PathLike, widths: list[int], what: str) -> np.ndarray:
    path = Path(file)
    if not path.exists() and path.suffix != ".npy" and path.with_name(path.name + ".npy").exists():
        path = path.with_name(path.name + ".npy")
    if not path.is_file():
        raise TrajectoryFormatError(
            f"trajectory file {str(file)!r} does not exist (expected a .npy matrix written by write_transition)"
        )
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TrajectoryFormatError(
            f"{str(path)!r} is not a trajectory file (a .npy matrix written by write_transition): {exc}"
        ) from exc
    if not isinstance(data, np.ndarray):  # an .npz archive
        data.close()
        raise TrajectoryFormatError(
            f"{str(path)!r} is an .npz archive; a trajectory file is one .npy matrix written by write_transition"
        )
    numeric = np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)
    if data.ndim != 2 or not numeric:
        raise TrajectoryFormatError(
            f"{str(path)!r} holds a {data.dtype} array of shape {data.shape}; a trajectory file is a 2-D numeric matrix"
        )
    expected = sum(widths)
    if data.shape[1] != expected:
        raise TrajectoryFormatError(
            f"{str(path)!r} has {data.shape[1]} columns, but {what} with these spaces needs {expected} "
            f"({' + '.join(str(w) for w in widths)}); check the observation and action spaces (or the "
            f"transitions class)"
        )
    return data


def _read_flags(part: np.ndarray, allowed: tuple[int, ...], file: Any, expected: str) -> np.ndarray:
    flags = part[:, 0]
    bad = ~np.isin(flags, allowed)
    if np.any(bad):
        found = np.unique(flags[bad])[:5].tolist()
        raise TrajectoryFormatError(
            f"{str(file)!r} has flag values {found} in its last column, first at row {int(np.argmax(bad))}; "
            f"{expected}. Is it a trajectory of another kind?"
        )
    return flags.astype(np.int64)


def _split(data: np.ndarray, widths: list[int]) -> list[np.ndarray]:
    parts, start = [], 0
    for width in widths:
        parts.append(data[:, start : start + width])
        start += width
    return parts


@dataclass(frozen=True, eq=False)
class TransitionsMinimal(th.utils.data.Dataset):
    """(observation, action) pairs, e.g. for behaviour cloning. Arrays are read-only.

    An integer index gives ``{"obs": ..., "acts": ...}``; a slice gives a :class:`TransitionsMinimal`.
    """

    obs: np.ndarray
    acts: np.ndarray

    def __post_init__(self) -> None:
        for name in ("obs", "acts"):
            arr = np.array(getattr(self, name), copy=True)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if len(self.obs) != len(self.acts):
            raise TrajectoryFormatError(
                f"obs and acts must have the same length, got {len(self.obs)} and {len(self.acts)}"
            )

    def __len__(self) -> int:
        return len(self.obs)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return TransitionsMinimal(self.obs[key], self.acts[key])
        return {"obs": self.obs[key], "acts": self.acts[key]}

    def write_transition(self, file: str | os.PathLike) -> Path:
        return _save_npy(file, np.concatenate([_flat(self.obs), _flat(self.acts)], axis=1).astype(np.float64))

    @classmethod
    def read_transition(cls, file: str | os.PathLike, obs_space: spaces.Space, act_space: spaces.Space):
        widths = [_space_size(obs_space), _space_size(act_space)]
        obs, acts = _split(_load_npy(file, widths, cls.__name__), widths)
        return cls(_unflat(obs, obs_space, file, "observation"), _unflat(acts, act_space, file, "action"))


class MultiTransitions:
    """Base of the two-player datasets: ``get_ego_transitions`` and ``get_alt_transitions``."""

    def get_ego_transitions(self) -> TransitionsMinimal:
        raise NotImplementedError

    def get_alt_transitions(self) -> TransitionsMinimal:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class TurnBasedTransitions(MultiTransitions):
    """Steps of a turn-based game; ``flags`` 0-3 (even: player 0 acted, odd: player 1; >= 2: episode end).

    Flag values are those of :mod:`pantheonrl.common.wrappers`: EGO_NOT_DONE, ALT_NOT_DONE, EGO_DONE,
    ALT_DONE.
    """

    obs: np.ndarray
    acts: np.ndarray
    flags: np.ndarray

    def __post_init__(self) -> None:
        for name in ("obs", "acts", "flags"):
            arr = np.array(getattr(self, name), copy=True)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if not len(self.obs) == len(self.acts) == len(self.flags):
            raise TrajectoryFormatError(
                f"obs, acts and flags must have the same length, got {len(self.obs)}, {len(self.acts)}, "
                f"{len(self.flags)}"
            )

    def get_ego_transitions(self) -> TransitionsMinimal:
        mask = self.flags % 2 == 0
        return TransitionsMinimal(self.obs[mask], self.acts[mask])

    def get_alt_transitions(self) -> TransitionsMinimal:
        mask = self.flags % 2 == 1
        return TransitionsMinimal(self.obs[mask], self.acts[mask])

    def write_transition(self, file: str | os.PathLike) -> Path:
        matrix = np.concatenate([_flat(self.obs), _flat(self.acts), _flat(self.flags)], axis=1)
        return _save_npy(file, matrix.astype(np.float64))

    @classmethod
    def read_transition(cls, file: str | os.PathLike, obs_space: spaces.Space, act_space: spaces.Space):
        widths = [_space_size(obs_space), _space_size(act_space), 1]
        obs, acts, flags = _split(_load_npy(file, widths, cls.__name__), widths)
        return cls(
            _unflat(obs, obs_space, file, "observation"),
            _unflat(acts, act_space, file, "action"),
            _read_flags(flags, (0, 1, 2, 3), file, "turn-based flags are 0..3 (even: player 0 acted)"),
        )


@dataclass(frozen=True, eq=False)
class SimultaneousTransitions(MultiTransitions):
    """Steps of a simultaneous game; ``flags`` 1 marks the last step of an episode."""

    egoobs: np.ndarray
    egoacts: np.ndarray
    altobs: np.ndarray
    altacts: np.ndarray
    flags: np.ndarray

    def __post_init__(self) -> None:
        names = ("egoobs", "egoacts", "altobs", "altacts", "flags")
        for name in names:
            arr = np.array(getattr(self, name), copy=True)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        lengths = {name: len(getattr(self, name)) for name in names}
        if len(set(lengths.values())) != 1:
            raise TrajectoryFormatError(f"all parts must have the same length, got {lengths}")

    def get_ego_transitions(self) -> TransitionsMinimal:
        return TransitionsMinimal(self.egoobs, self.egoacts)

    def get_alt_transitions(self) -> TransitionsMinimal:
        return TransitionsMinimal(self.altobs, self.altacts)

    def write_transition(self, file: str | os.PathLike) -> Path:
        parts = [self.egoobs, self.egoacts, self.altobs, self.altacts, self.flags]
        return _save_npy(file, np.concatenate([_flat(p) for p in parts], axis=1).astype(np.float64))

    @classmethod
    def read_transition(cls, file: str | os.PathLike, obs_space: spaces.Space, act_space: spaces.Space):
        o, a = _space_size(obs_space), _space_size(act_space)
        widths = [o, a, o, a, 1]
        egoobs, egoacts, altobs, altacts, flags = _split(_load_npy(file, widths, cls.__name__), widths)
        return cls(
            _unflat(egoobs, obs_space, file, "ego observation"),
            _unflat(egoacts, act_space, file, "ego action"),
            _unflat(altobs, obs_space, file, "partner observation"),
            _unflat(altacts, act_space, file, "partner action"),
            _read_flags(flags, (0, 1), file, "a simultaneous trajectory's flags are 0 or 1 (1: episode end)"),
        )


def transitions_collate_fn(batch: list[dict[str, Any]]) -> dict[str, th.Tensor]:
    """Collate ``{"obs", "acts"}`` items into tensors (for a torch ``DataLoader``)."""
    return {
        "obs": th.as_tensor(np.stack([np.asarray(item["obs"]) for item in batch])),
        "acts": th.as_tensor(np.stack([np.asarray(item["acts"]) for item in batch])),
    }
