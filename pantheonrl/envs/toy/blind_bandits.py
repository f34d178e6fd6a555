"""Blind Bandits: the turn-based toy game of CoMeDi (docs/algorithms.md, section 3.6).

Sarkar, Shih, Sadigh, "Diverse Conventions for Human-AI Collaboration", NeurIPS 2023 (arXiv 2310.15414).

Two seats alternate 6 binary moves ``b1 .. b6`` (``Discrete(2)``); seat 0 always moves first and makes
``b1, b3, b5``, seat 1 makes ``b2, b4, b6``. The history ``h`` starts at 1 and every move sets ``h <- 2h + b``,
so the terminal ``h`` is ``1 b1 b2 b3 b4 b5 b6`` in binary (64 .. 127). The reward is shared and paid only at the
end (see :func:`move_string_return`):

* the *safe* arm, ``b1 = 0``: 1 if ``b6 = 0``, else 0;
* the *risky* arm, ``b1 = 1``: 3 if ``(b2, .., b6) = (0, 0, 0, 0, 1)`` (``h = 97``), else 0.

Observation: each seat keeps an integer ``o`` that starts at 1 and updates ``o <- 2o + b`` on its *own* moves
only; the partner's moves are never shown ("blind"). The acting seat sees ``MultiBinary(8)``: the 7 bits of ``o``,
least significant first, then its seat index. With ``centralized_critic=True`` the observation is
``MultiBinary(16)``: those 8 entries, then the *critic extra* (the 7 bits of ``h``, least significant first, and the
seat index again). An actor must use only the first 8 entries (:data:`ACTOR_OBS_SIZE`); the critic sees all 16.

:class:`SafeAgent` and :class:`RiskyAgent` are the two scripted conventions (self-play 1 and 3, cross-play 0).
Importing this module registers ``BlindBandits-v0`` (``gym.make("BlindBandits-v0", centralized_critic=True)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import ScriptedAgent
from pantheonrl.common.multiagentenv import TurnBasedEnv
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.registry import ENVS

__all__ = [
    "ACTOR_OBS_SIZE",
    "CRITIC_OBS_SIZE",
    "ENV_ID",
    "N_MOVES",
    "BlindBandits",
    "RiskyAgent",
    "SafeAgent",
    "encode_bits",
    "move_string_return",
    "read_observation",
]

ENV_ID = "BlindBandits-v0"
N_MOVES = 6
"""Moves per game (3 per seat)."""
N_BITS = 7
"""Bits used to encode ``o`` and ``h`` (``h`` < 128)."""
ACTOR_OBS_SIZE = N_BITS + 1
"""What an actor may see: the 7 bits of the seat's own ``o`` and the seat index."""
CRITIC_OBS_SIZE = 2 * (N_BITS + 1)
"""The centralized observation: the actor's 8 entries, the 7 bits of ``h`` and the seat index."""
RISKY_HISTORY = 97
"""The terminal ``h`` of the only score-3 string, ``100001``."""


def encode_bits(value: int, n_bits: int = N_BITS) -> list[int]:
    """The ``n_bits`` lowest bits of ``value``, least significant first."""
    return [(int(value) >> i) & 1 for i in range(n_bits)]


def move_string_return(bits: Sequence[int]) -> float:
    """The shared return of a full game whose moves are ``bits = (b1, .., b6)``."""
    moves = [int(b) for b in bits]
    if len(moves) != N_MOVES or any(b not in (0, 1) for b in moves):
        raise ConfigError(f"a Blind Bandits game is {N_MOVES} moves in {{0, 1}}, got {list(bits)!r}")
    if moves[0] == 0:
        return 1.0 if moves[-1] == 0 else 0.0
    return 3.0 if moves[1:] == [0, 0, 0, 0, 1] else 0.0


class BlindBandits(TurnBasedEnv):
    """The Blind Bandits game for two seats (player 0 is the ego by default and always moves first).

    :param centralized_critic: observe ``MultiBinary(16)`` (own 8 bits + the critic extra: ``h`` and the seat)
        instead of ``MultiBinary(8)``; an actor should read only the first :data:`ACTOR_OBS_SIZE` entries.
    :param partners: optional agents for player 1's seat.
    :param horizon: optional truncation in game steps (see :class:`~pantheonrl.MultiAgentEnv`); the game
        already ends on its own after 6 moves.
    """

    episode_length = N_MOVES
    """Game steps (moves) of an episode (what mixed play draws its phase-1 length from)."""

    def __init__(
        self,
        centralized_critic: bool = False,
        partners: Sequence[Any] | None = None,
        *,
        horizon: int | None = None,
    ) -> None:
        if not isinstance(centralized_critic, bool | np.bool_):
            raise ConfigError(f"centralized_critic must be True or False, got {centralized_critic!r}")
        self.centralized_critic = bool(centralized_critic)
        size = CRITIC_OBS_SIZE if self.centralized_critic else ACTOR_OBS_SIZE
        obs_space = spaces.MultiBinary(size)
        act_space = spaces.Discrete(2)
        # probegostart=1.0: seat 0 always makes b1.
        super().__init__([obs_space, obs_space], [act_space, act_space], probegostart=1.0, partners=partners,
                         horizon=horizon)
        self.history = 1
        self.own = [1, 1]
        self.moves: list[int] = []

    def observe(self, seat: int) -> np.ndarray:
        """Seat ``seat``'s observation of the current state."""
        obs = [*encode_bits(self.own[seat]), seat]
        if self.centralized_critic:
            obs += [*encode_bits(self.history), seat]
        return np.asarray(obs, dtype=np.int8)

    def multi_reset(self, egofirst: bool) -> np.ndarray:
        if not egofirst:
            raise ConfigError(f"seat 0 always moves first in Blind Bandits: probegostart must be 1.0, "
                              f"got {self.probegostart!r}")
        self.history = 1
        self.own = [1, 1]
        self.moves = []
        return self.observe(0)

    def _move(self, seat: int, action: Any) -> tuple:
        bit = np.asarray(action).reshape(-1)
        if bit.size != 1 or float(bit[0]) not in (0.0, 1.0):
            raise PlayerException(f"player {seat} chose {action!r}; a Blind Bandits move is 0 or 1")
        if len(self.moves) >= N_MOVES:
            raise PlayerException(f"the game is over after {N_MOVES} moves; reset it first")
        if len(self.moves) % 2 != seat:
            raise PlayerException(f"move {len(self.moves) + 1} is seat {len(self.moves) % 2}'s, not seat {seat}'s")
        b = int(bit[0])
        self.moves.append(b)
        self.history = 2 * self.history + b
        self.own[seat] = 2 * self.own[seat] + b
        done = len(self.moves) == N_MOVES
        reward = move_string_return(self.moves) if done else 0.0
        return self.observe(1 - seat), (reward, reward), done, False, {"history": self.history}

    def ego_step(self, action: Any) -> tuple:
        return self._move(0, action)

    def alt_step(self, action: Any) -> tuple:
        return self._move(1, action)


def read_observation(obs: Observation | Any) -> tuple[int, int]:
    """``(seat, k)`` from a seat's Blind Bandits observation (8 or 16 entries): ``k`` = its own moves so far."""
    bits = np.asarray(obs.obs if isinstance(obs, Observation) else obs).reshape(-1)
    if bits.size not in (ACTOR_OBS_SIZE, CRITIC_OBS_SIZE) or not np.isin(bits, (0, 1)).all():
        raise PlayerException(
            f"a Blind Bandits observation is {ACTOR_OBS_SIZE} or {CRITIC_OBS_SIZE} bits, got {bits.tolist()!r}"
        )
    o = sum(int(b) << i for i, b in enumerate(bits[:N_BITS]))
    k = o.bit_length() - 1
    if not 0 <= k < N_MOVES // 2:
        raise PlayerException(f"own history o={o} is not a state where a seat acts (it has made 0..2 moves)")
    return int(bits[N_BITS]), k


class _ScriptedBandit(ScriptedAgent):
    """A fixed move list per seat; seat and move number come from the observation (stateless)."""

    PLAN: tuple[tuple[int, int, int], tuple[int, int, int]]

    def __init__(self) -> None:
        self.action_space = spaces.Discrete(2)

    def get_action(self, obs: Observation) -> int:
        seat, k = read_observation(obs)
        return self.PLAN[seat][k]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SafeAgent(_ScriptedBandit):
    """The safe convention: seat 0 plays 0, 0, 0 (b1 = 0); seat 1 plays 0, 0, 0. Self-play scores 1."""

    PLAN = ((0, 0, 0), (0, 0, 0))


class RiskyAgent(_ScriptedBandit):
    """The risky convention: seat 0 plays 1, 0, 0; seat 1 plays 0, 0, 1 (``100001``). Self-play scores 3."""

    PLAN = ((1, 0, 0), (0, 0, 1))


if ENV_ID not in gym.registry:  # importing twice (or a reload) must not re-register
    gym.register(ENV_ID, entry_point=BlindBandits, order_enforce=False, disable_env_checker=True)
if ENV_ID not in ENVS:
    ENVS.register(ENV_ID, ENV_ID)
