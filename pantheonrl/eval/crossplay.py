"""Cross-play matrices of 2-player games: every row agent against every column agent, in both seats.

``crossplay(agents_a, agents_b, env_fn, episodes)`` plays each pair for ``episodes`` episodes per seat and
returns a :class:`CrossPlayResult` holding the row agent's return of every episode. Means, standard errors,
per-seat breakdowns and the self-play gap are views of that array; it is written as CSV or JSON (read back
with :meth:`CrossPlayResult.from_json`) and drawn with :func:`pantheonrl.eval.plot_heatmap`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from pantheonrl.common.agents import Agent
from pantheonrl.common.multiagentenv import MultiAgentEnv
from pantheonrl.errors import PlayerException, UserInputError, did_you_mean
from pantheonrl.eval._io import atomic_write_text
from pantheonrl.eval.rollout import (
    check_deterministic,
    check_episodes,
    check_seed,
    is_agent,
    make_game,
    play_episodes,
)

__all__ = ["CSV_COLUMNS", "JSON_FORMAT", "CrossPlayResult", "cell_seed", "crossplay"]

JSON_FORMAT = "pantheonrl.crossplay"
JSON_VERSION = 1
CSV_COLUMNS = ("row_agent", "col_agent", "seat", "mean", "sem", "episodes")

AgentSpec = Callable[[], Agent] | Agent


def _sem(values: np.ndarray, axis: tuple[int, ...] | int) -> np.ndarray:
    """``std(ddof=1) / sqrt(n)`` along ``axis``; 0 where fewer than 2 values."""
    n = int(np.prod([values.shape[a] for a in np.atleast_1d(axis)]))
    if n < 2:
        return np.zeros(np.delete(np.array(values.shape), np.atleast_1d(axis)).tolist())
    return np.std(values, axis=axis, ddof=1) / math.sqrt(n)


@dataclass
class CrossPlayResult:
    """Returns of a cross-play run.

    :ivar names_a: the row agents.
    :ivar names_b: the column agents.
    :ivar seats: the seats the row agent played (``[0, 1]``, or ``[0]`` without ``both_seats``).
    :ivar returns: shape ``(len(names_a), len(names_b), len(seats), episodes)``: the return of row agent
        ``a_i`` in each episode where it played seat ``seats[k]`` and ``b_j`` played the other seat.
    :ivar metadata: how the run was made (seed, episodes, game, ...); free-form, kept in the JSON file.
    """

    names_a: list[str]
    names_b: list[str]
    seats: list[int]
    returns: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names_a = [str(n) for n in self.names_a]
        self.names_b = [str(n) for n in self.names_b]
        self.seats = [int(s) for s in self.seats]
        self.returns = np.asarray(self.returns, dtype=np.float64)
        expected = (len(self.names_a), len(self.names_b), len(self.seats))
        if self.returns.ndim != 4 or self.returns.shape[:3] != expected or self.returns.shape[3] < 1:
            raise UserInputError(
                f"returns has shape {self.returns.shape}; expected (len(names_a), len(names_b), len(seats), "
                f"episodes) = {(*expected, 'episodes >= 1')}"
            )

    # ------------------------------------------------------------------ views
    @property
    def episodes(self) -> int:
        """Episodes per cell and seat."""
        return int(self.returns.shape[3])

    @property
    def means(self) -> np.ndarray:
        """``(a, b)``: the row agent's mean return over both seats and all episodes."""
        return self.returns.mean(axis=(2, 3))

    @property
    def sems(self) -> np.ndarray:
        """``(a, b)``: standard error of :attr:`means` (std over all episodes of all seats, ``/ sqrt(n)``)."""
        return _sem(self.returns, (2, 3))

    @property
    def per_seat_means(self) -> np.ndarray:
        """``(a, b, seats)``: the row agent's mean return in each seat."""
        return self.returns.mean(axis=3)

    @property
    def per_seat_sems(self) -> np.ndarray:
        """``(a, b, seats)``: standard error of :attr:`per_seat_means`."""
        return _sem(self.returns, 3)

    @property
    def is_square(self) -> bool:
        """Whether rows and columns are the same agents (in the same order)."""
        return self.names_a == self.names_b

    def selfplay_gap(self) -> dict[str, float]:
        """Mean of the diagonal (each agent with itself) vs mean of the off-diagonal cells (with the others).

        :return: ``{"diagonal": ..., "off_diagonal": ..., "gap": diagonal - off_diagonal}``.
        :raises UserInputError: the matrix is not square (rows and columns differ) or has fewer than 2 agents.
        """
        if not self.is_square:
            raise UserInputError(
                f"selfplay_gap needs a square matrix with the same agents as rows and columns; this one has rows "
                f"{self.names_a} and columns {self.names_b}. Run crossplay(agents, None, ...) (agents_b=None) "
                f"to get one"
            )
        n = len(self.names_a)
        if n < 2:
            raise UserInputError(
                f"selfplay_gap needs at least 2 agents (an off-diagonal), this matrix has {n}: {self.names_a}; "
                f"add another agent to the population"
            )
        means = self.means
        off = ~np.eye(n, dtype=bool)
        diagonal = float(np.mean(np.diag(means)))
        off_diagonal = float(np.mean(means[off]))
        return {"diagonal": diagonal, "off_diagonal": off_diagonal, "gap": diagonal - off_diagonal}

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the raw ``returns`` plus every derived view."""
        return {
            "format": JSON_FORMAT,
            "version": JSON_VERSION,
            "names_a": list(self.names_a),
            "names_b": list(self.names_b),
            "seats": list(self.seats),
            "episodes": self.episodes,
            "means": self.means.tolist(),
            "sems": self.sems.tolist(),
            "per_seat_means": self.per_seat_means.tolist(),
            "per_seat_sems": self.per_seat_sems.tolist(),
            "selfplay_gap": self.selfplay_gap() if self.is_square and len(self.names_a) >= 2 else None,
            "metadata": dict(self.metadata),
            "returns": self.returns.tolist(),
        }

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON (atomically); read it back with :meth:`from_json`."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    def csv_rows(self) -> list[dict[str, Any]]:
        """The CSV rows: per ``(row, col)`` one row per seat, then one with ``seat="mean"`` (both seats)."""
        rows = []
        means, sems = self.means, self.sems
        seat_means, seat_sems = self.per_seat_means, self.per_seat_sems
        for i, a in enumerate(self.names_a):
            for j, b in enumerate(self.names_b):
                for k, seat in enumerate(self.seats):
                    rows.append(
                        {
                            "row_agent": a,
                            "col_agent": b,
                            "seat": seat,
                            "mean": float(seat_means[i, j, k]),
                            "sem": float(seat_sems[i, j, k]),
                            "episodes": self.episodes,
                        }
                    )
                rows.append(
                    {
                        "row_agent": a,
                        "col_agent": b,
                        "seat": "mean",
                        "mean": float(means[i, j]),
                        "sem": float(sems[i, j]),
                        "episodes": self.episodes * len(self.seats),
                    }
                )
        return rows

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`csv_rows` as CSV (atomically) with the columns :data:`CSV_COLUMNS`."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.csv_rows())
        return atomic_write_text(path, buffer.getvalue())

    def plot_heatmap(self, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
        """Shortcut for :func:`pantheonrl.eval.plot_heatmap`."""
        from pantheonrl.eval.plots import plot_heatmap

        return plot_heatmap(self, path, title=title)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> CrossPlayResult:
        """Read a file written by :meth:`write_json`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserInputError(f"no cross-play result at {str(path)!r}; check the path") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserInputError(
                f"{str(path)!r} is not a JSON file ({exc}); pass a file written by CrossPlayResult.write_json"
            ) from None
        if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise UserInputError(
                f"{str(path)!r} is not a cross-play result: its format is {found!r}, expected {JSON_FORMAT!r}; "
                f"pass a file written by CrossPlayResult.write_json"
            )
        if data.get("version") != JSON_VERSION:
            raise UserInputError(
                f"{str(path)!r} has cross-play format version {data.get('version')!r}; this pantheonrl reads "
                f"version {JSON_VERSION}"
            )
        missing = [key for key in ("names_a", "names_b", "seats", "returns") if key not in data]
        if missing:
            raise UserInputError(f"{str(path)!r} lacks the key(s) {missing}; the file is damaged")
        return cls(
            names_a=data["names_a"],
            names_b=data["names_b"],
            seats=data["seats"],
            returns=np.asarray(data["returns"], dtype=np.float64),
            metadata=dict(data.get("metadata") or {}),
        )


# ---------------------------------------------------------------------------------------------- running
def cell_seed(seed: int, i: int, j: int, seat: int) -> int:
    """The seed of cell ``(i, j)`` in ``seat``, derived from the run's ``seed`` (independent streams)."""
    return int(np.random.SeedSequence([seed, i, j, seat]).generate_state(1)[0])


def _check_population(agents: Any, which: str) -> dict[str, AgentSpec]:
    if not isinstance(agents, Mapping):
        raise UserInputError(
            f"{which} must be a mapping {{name: Agent or zero-argument factory}}, got {type(agents).__name__}; "
            f"pass e.g. {{'uniform': RPSWeightedAgent()}}"
        )
    if not agents:
        raise UserInputError(
            f"{which} is empty: cross-play needs at least one agent, given as {{name: Agent or zero-argument "
            f"factory}}; add one, e.g. {{'uniform': RPSWeightedAgent()}}"
        )
    for name, spec in agents.items():
        if not isinstance(name, str) or not name:
            raise UserInputError(f"{which} has the key {name!r}; agent names must be non-empty strings")
        if not is_agent(spec) and not callable(spec):
            raise UserInputError(
                f"{which}[{name!r}] is a {type(spec).__name__}; allowed: an Agent (reused in every cell) or a "
                f"zero-argument callable returning one (called per cell); wrap policies in StaticPolicyAgent"
            )
    return dict(agents)


def _resolve(spec: AgentSpec, which: str, name: str) -> Agent:
    if is_agent(spec):
        return spec  # type: ignore[return-value]
    agent = spec()  # type: ignore[operator]
    if not is_agent(agent):
        raise UserInputError(
            f"the factory {which}[{name!r}] returned a {type(agent).__name__}, not an agent (get_action and "
            f"update); make it return e.g. a StaticPolicyAgent"
        )
    return agent


def _env_factory(env_fn: Any) -> tuple[Callable[[], MultiAgentEnv], str | None]:
    if isinstance(env_fn, str):
        env_id = env_fn
        if env_id not in gym.registry:
            raise UserInputError(
                f"unknown environment id {env_id!r}{did_you_mean(env_id, gym.registry)}; pass a registered id "
                f"(import pantheonrl registers RPS-v0, LiarsDice-v0, BlockEnv-v0, BlockEnv-v1) or a zero-argument "
                f"function building the game"
            )
        return (lambda: gym.make(env_id)), env_id
    return env_fn, None


def crossplay(
    agents_a: Mapping[str, AgentSpec],
    agents_b: Mapping[str, AgentSpec] | None,
    env_fn: Callable[[], MultiAgentEnv] | str,
    episodes: int,
    *,
    both_seats: bool = True,
    seed: int = 0,
    deterministic: bool | None = None,
) -> CrossPlayResult:
    """Play every row agent against every column agent in a 2-player game.

    :param agents_a: the row agents, ``{name: agent or zero-argument factory}``. An agent instance is reused
        in every cell (an agent with its own generator keeps drawing from it, so a second run differs); a
        factory is called for every cell and seat, which makes runs reproducible. Note that on the diagonal
        two agents from one factory play each other: a factory that seeds a fixed generator gives both the
        same random stream.
    :param agents_b: the column agents; ``None`` uses ``agents_a`` (a square matrix, with
        :meth:`CrossPlayResult.selfplay_gap`).
    :param env_fn: zero-argument function building a new game without partners (called per cell and seat),
        or a registered gymnasium id such as ``"RPS-v0"``.
    :param episodes: episodes per cell and seat (>= 1).
    :param both_seats: the row agent plays seat 0 and then seat 1; ``False``: seat 0 only.
    :param seed: the run's seed (a non-negative integer); cell ``(i, j)`` in seat ``s`` is played by
        :func:`play_episodes` with ``seed=cell_seed(seed, i, j, s)``.
    :param deterministic: passed to :func:`play_episodes` (``None`` leaves the agents' own settings).
    """
    episodes = check_episodes(episodes)
    seed = check_seed(seed, allow_none=False)
    deterministic = check_deterministic(deterministic)
    if not isinstance(both_seats, bool | np.bool_):
        raise UserInputError(f"both_seats={both_seats!r} is not allowed: pass True (seats 0 and 1) or False (seat 0)")
    pop_a = _check_population(agents_a, "agents_a")
    pop_b = pop_a if agents_b is None else _check_population(agents_b, "agents_b")
    make_env, env_id = _env_factory(env_fn)
    env, game = make_game(make_env)
    game_name = type(game).__name__
    with contextlib.suppress(Exception):
        env.close()
    if game.n_players != 2:
        raise PlayerException(
            f"crossplay supports 2-player games; {env_id or 'env_fn()'} built {game_name} with "
            f"n_players={game.n_players} (allowed: 2). Evaluate larger games with play_episodes(env_fn, agents, ...)"
        )
    seats = [0, 1] if both_seats else [0]
    returns = np.zeros((len(pop_a), len(pop_b), len(seats), episodes), dtype=np.float64)
    for i, (name_a, spec_a) in enumerate(pop_a.items()):
        for j, (name_b, spec_b) in enumerate(pop_b.items()):
            for k, seat in enumerate(seats):
                row = _resolve(spec_a, "agents_a", name_a)
                col = _resolve(spec_b, "agents_b" if agents_b is not None else "agents_a", name_b)
                players = [row, col] if seat == 0 else [col, row]
                stats = play_episodes(
                    make_env, players, episodes, seed=cell_seed(seed, i, j, seat), deterministic=deterministic
                )
                returns[i, j, k] = stats[seat].returns
    metadata = {
        "env": env_id or game_name,
        "game": game_name,
        "seed": seed,
        "episodes": episodes,
        "both_seats": bool(both_seats),
        "deterministic": deterministic,
        "square": agents_b is None,
    }
    return CrossPlayResult(list(pop_a), list(pop_b), seats, returns, metadata)
