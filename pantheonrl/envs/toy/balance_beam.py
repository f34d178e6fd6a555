"""Balance Beam: the simultaneous toy game of CoMeDi (docs/algorithms.md, section 3.7).

Sarkar, Shih, Sadigh, "Diverse Conventions for Human-AI Collaboration", NeurIPS 2023 (arXiv 2310.15414).

Two players stand on a beam of cells 0 .. 4 and make two simultaneous moves; an action ``Discrete(4)`` is the
move ``(-2, -1, +1, +2)[action]`` (there is no "stay"). After a joint move:

* if either player is off the beam (outside 0 .. 4) the episode ends at once with reward ``-(k + 1)`` for both,
  ``k`` being the moves left (-2 on move 1, -1 on move 2);
* otherwise both get +1 if they share a cell, else ``-0.2 * |x0 - x1|``; the episode ends after move 2.

The best return is 2 from every start; the two conventions are "move together to the left" and "to the right"
(:class:`LeftAgent`, :class:`RightAgent`).

Observation ``MultiDiscrete([9] * 6 + [3])``: ``(own_now, own_prev, own_prev2, other_now, other_prev,
other_prev2, t)`` with positions encoded as ``cell + 2`` (so cells -2 .. 6, where a fall can land, fit), missing
history entries 0, and ``t`` the moves left (2, 1, 0). Player 1 sees the two blocks swapped.

Starts: both cells are drawn independently and uniformly from the game's ``np_random``. Start ``i`` in
``0 .. 24`` (:data:`N_STARTS`) means ``x0 = i % 5``, ``x1 = i // 5``; pick it for the next episode with
``env.reset(options={"start": i})`` (which also reaches the game through
:class:`~pantheonrl.vec.MultiAgentVecEnv` options) or with :meth:`BalanceBeam.set_start` (the way to reach a
game inside a wrapper, whose ``reset`` does not forward ``options``).

Importing this module registers ``BalanceBeam-v0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import ScriptedAgent
from pantheonrl.common.multiagentenv import SimultaneousEnv
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError, PlayerException, unknown_choice
from pantheonrl.registry import ENVS

__all__ = [
    "ENV_ID",
    "MOVES",
    "N_CELLS",
    "N_MOVES",
    "N_STARTS",
    "BalanceBeam",
    "LeftAgent",
    "RightAgent",
    "left_move",
    "move_action",
    "right_move",
    "scripted_return",
    "start_cells",
]

ENV_ID = "BalanceBeam-v0"
N_CELLS = 5
N_MOVES = 2
"""Simultaneous moves per episode."""
N_STARTS = N_CELLS * N_CELLS
"""The enumerable starts ``0 .. 24`` (:func:`start_cells`)."""
MOVES = (-2, -1, 1, 2)
"""The move of each action index."""
OFFSET = 2
"""Positions are observed as ``cell + OFFSET``; 0 means "no such history entry"."""
OPTION_KEYS = ("start",)


def start_cells(start: Any) -> tuple[int, int]:
    """``(x0, x1) = (start % 5, start // 5)`` for a start index ``0 .. 24``."""
    if isinstance(start, bool) or not isinstance(start, int | np.integer) or not 0 <= start < N_STARTS:
        raise ConfigError(f"start must be an integer in 0..{N_STARTS - 1} (x0 = start % 5, x1 = start // 5), "
                          f"got {start!r}")
    return int(start) % N_CELLS, int(start) // N_CELLS


def move_action(move: int) -> int:
    """The action index of a move in ``(-2, -1, +1, +2)``."""
    if move not in MOVES:
        raise ConfigError(unknown_choice("Balance Beam move", move, MOVES))
    return MOVES.index(move)


def left_move(e: int, o: int) -> int:
    """The LEFT convention's move with own cell ``e`` and the other's cell ``o``."""
    d = e - o
    if d <= -4:
        return 2
    if d in (-3, -2):
        return 1
    if d == -1:
        return 2 if e == 0 else -1
    if d == 0:
        return 1 if e == 0 else -1
    if d == 1:
        return 1 if o == 0 else -2
    if d == 2:
        return -1
    return -2


def right_move(e: int, o: int) -> int:
    """The RIGHT convention: the exact reflection ``-LEFT(4 - e, 4 - o)``."""
    return -left_move(N_CELLS - 1 - e, N_CELLS - 1 - o)


class BalanceBeam(SimultaneousEnv):
    """The Balance Beam game for two players (player 0 is the ego by default).

    :param partners: optional agents for player 1's seat.
    :param horizon: optional truncation in game steps (see :class:`~pantheonrl.MultiAgentEnv`); the game
        already ends on its own after 2 moves.
    """

    episode_length = N_MOVES
    """Game steps of an episode that nobody falls off (what mixed play draws its phase-1 length from)."""

    def __init__(self, partners: Sequence[Any] | None = None, *, horizon: int | None = None) -> None:
        obs_space = spaces.MultiDiscrete([N_CELLS + 2 * OFFSET] * 6 + [N_MOVES + 1])
        act_space = spaces.Discrete(len(MOVES))
        super().__init__([obs_space, obs_space], [act_space, act_space], partners=partners, horizon=horizon)
        self.next_start: int | None = None
        self.start: int = 0
        self.paths: tuple[list[int], list[int]] = ([0], [0])
        self._t = 0
        self._over = True

    # -- starts
    def set_start(self, start: int | None) -> None:
        """Start the next episode (only that one) from start index ``start``; ``None``: a random start."""
        if start is not None:
            start_cells(start)
            start = int(start)
        self.next_start = start

    def _reset_gen(self, seed: int | None = None, options: dict | None = None) -> Any:
        # MultiAgentEnv.reset does not pass options on to n_reset, so the start is taken here (this also serves
        # MultiAgentVecEnv, which resets its copies through _reset_gen).
        if options:
            if not isinstance(options, Mapping):
                raise ConfigError(f"options must be a mapping such as {{'start': 7}}, got {options!r}")
            for key in options:
                if key not in OPTION_KEYS:
                    raise ConfigError(unknown_choice("Balance Beam reset option", key, OPTION_KEYS))
            if "start" in options:
                self.set_start(options["start"])
        return (yield from super()._reset_gen(seed=seed, options=options))

    # -- the game
    @property
    def positions(self) -> tuple[int, int]:
        """The current cells ``(x0, x1)`` (outside 0 .. 4 after a fall)."""
        return self.paths[0][-1], self.paths[1][-1]

    def _block(self, player: int) -> list[int]:
        path = self.paths[player]
        recent = [x + OFFSET for x in reversed(path[-3:])]
        return recent + [0] * (3 - len(recent))

    def observe(self, player: int) -> np.ndarray:
        """Player ``player``'s observation: its own block, the other's block, the moves left."""
        return np.asarray([*self._block(player), *self._block(1 - player), N_MOVES - self._t], dtype=np.int64)

    def multi_reset(self) -> tuple[np.ndarray, np.ndarray]:
        if self.next_start is None:
            x0, x1 = (int(x) for x in self.np_random.integers(0, N_CELLS, size=2))
        else:
            x0, x1 = start_cells(self.next_start)
            self.next_start = None
        self.start = x0 + N_CELLS * x1
        self.paths = ([x0], [x1])
        self._t = 0
        self._over = False
        return self.observe(0), self.observe(1)

    @staticmethod
    def _move(action: Any, player: int) -> int:
        a = np.asarray(action).reshape(-1)
        if a.size != 1 or not float(a[0]).is_integer() or not 0 <= int(a[0]) < len(MOVES):
            raise PlayerException(f"player {player} chose {action!r}; an action is 0..3 for the moves {MOVES}")
        return MOVES[int(a[0])]

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        if self._over:
            raise PlayerException("this Balance Beam episode is over; reset it first")
        m0, m1 = self._move(ego_action, 0), self._move(alt_action, 1)
        x0, x1 = self.positions
        x0, x1 = x0 + m0, x1 + m1
        self.paths[0].append(x0)
        self.paths[1].append(x1)
        self._t += 1
        left = N_MOVES - self._t
        fell = not (0 <= x0 < N_CELLS and 0 <= x1 < N_CELLS)
        if fell:
            reward = -float(left + 1)
        else:
            reward = 1.0 if x0 == x1 else -0.2 * abs(x0 - x1)
        self._over = fell or left == 0
        info = {"positions": (x0, x1), "fell": fell}
        return (self.observe(0), self.observe(1)), (reward, reward), self._over, False, info


def _cells(obs: Observation | Any) -> tuple[int, int]:
    """``(e, o)``: own and other cell from a Balance Beam observation."""
    row = np.asarray(obs.obs if isinstance(obs, Observation) else obs).reshape(-1)
    if row.size != 7:
        raise PlayerException(f"a Balance Beam observation has 7 entries, got {row.tolist()!r}")
    e, o = int(row[0]) - OFFSET, int(row[3]) - OFFSET
    if not (0 <= e < N_CELLS and 0 <= o < N_CELLS):
        raise PlayerException(f"cells ({e}, {o}) from {row.tolist()!r} are not both on the beam (0..4)")
    return e, o


class _ScriptedWalker(ScriptedAgent):
    """A stateless scripted partner: reads its cell (``e``) and the other's (``o``) from its own observation,
    so it plays either seat and one object may play every copy of a vectorised game."""

    def __init__(self) -> None:
        self.observation_space = spaces.MultiDiscrete([N_CELLS + 2 * OFFSET] * 6 + [N_MOVES + 1])
        self.action_space = spaces.Discrete(len(MOVES))

    @staticmethod
    def move(e: int, o: int) -> int:
        raise NotImplementedError

    def get_action(self, obs: Observation) -> int:
        return move_action(self.move(*_cells(obs)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LeftAgent(_ScriptedWalker):
    """The LEFT convention (:func:`left_move`)."""

    move = staticmethod(left_move)


class RightAgent(_ScriptedWalker):
    """The RIGHT convention (:func:`right_move`), the mirror image of LEFT."""

    move = staticmethod(right_move)


def scripted_return(agent0: Any, agent1: Any, starts: Iterable[int] = range(N_STARTS)) -> float:
    """Mean return of ``agent0`` (player 0) with ``agent1`` (player 1), one episode from each start.

    Plays through the ego view (``reset(options={"start": i})``/``step``) with ``agent1`` as the partner; the
    agents must be deterministic for this to be the exact value (the scripted ones are).
    """
    env = BalanceBeam()
    env.add_partner_agent(agent1, 1)
    returns = []
    for start in starts:
        obs, _ = env.reset(options={"start": start})
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent0.get_action(Observation(obs)))
            done = terminated or truncated
            agent0.update(reward, done)
            total += reward
        returns.append(total)
    if not returns:
        raise ConfigError("starts is empty: give at least one start index in 0..24")
    return float(np.mean(returns))


if ENV_ID not in gym.registry:  # importing twice (or a reload) must not re-register
    gym.register(ENV_ID, entry_point=BalanceBeam, order_enforce=False, disable_env_checker=True)
if ENV_ID not in ENVS:
    ENVS.register(ENV_ID, ENV_ID)
