"""Liar's dice for two players (``LiarsDice-v0``), a turn-based bluffing game."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import Agent
from pantheonrl.common.multiagentenv import TurnBasedEnv
from pantheonrl.common.observation import Observation
from pantheonrl.errors import SpaceException

__all__ = ["BLUFF", "LiarDefaultAgent", "LiarEnv"]

N = 6  # faces per die
M = 6  # dice per player
MAX_MOVES = 2 * M  # claims shown in the observation (a game never has more: every claim raises the count)

BLUFF = np.array([N, 2 * M - 1], dtype=np.int64)  # face N calls bluff; any count will do
NO_CLAIM = (N, 0)  # padding of the claim history
WIN = (1.0, -1.0)
LOSE = (-1.0, 1.0)


def action_space() -> spaces.MultiDiscrete:
    """(face, count index): faces 0-5 claim "at least count + 1 dice show this face"; face 6 calls bluff."""
    return spaces.MultiDiscrete([N + 1, 2 * M])


def observation_space() -> spaces.MultiDiscrete:
    """Own dice per face, then the last ``MAX_MOVES`` claims (face, count), newest first, padded (6, 0)."""
    return spaces.MultiDiscrete([M + 1] * N + [N + 1, 2 * M] * MAX_MOVES)


class LiarEnv(TurnBasedEnv):
    """Liar's dice: each player rolls 6 six-sided dice and sees only their own.

    Players alternate claims (face, count index), each meaning "together we have at least count + 1 dice
    showing face". A claim must strictly raise the count index of the previous one; claiming face 6, or a
    claim that does not raise the count, calls bluff on the previous claim and ends the game. A face 6 as
    the opening move cannot call anything and becomes the claim (0, 0). The last claim was false if its
    count index exceeds the true total of its face minus 1; whoever called wins if it was false, loses
    otherwise. Rewards are +1 / -1 at the end, 0 before.

    :param probegostart: probability that player 0 makes the opening claim.
    :ivar hands: the dice of both players, as counts per face, shape (2, 6); drawn from ``np_random``.
    :ivar history: the claims so far, newest first, as (face, count) pairs.
    """

    def __init__(self, probegostart: float = 0.5) -> None:
        super().__init__(
            [observation_space(), observation_space()],
            [action_space(), action_space()],
            probegostart=probegostart,
        )
        self.hands = np.zeros((2, N), dtype=np.int64)
        self.history: list[tuple[int, int]] = []

    def _roll(self) -> np.ndarray:
        return np.bincount(self.np_random.integers(0, N, size=M), minlength=N).astype(np.int64)

    def get_obs(self, player: int) -> np.ndarray:
        """The observation of ``player`` (0 or 1)."""
        claims = self.history + [NO_CLAIM] * (MAX_MOVES - len(self.history))
        return np.concatenate([self.hands[player], np.asarray(claims, dtype=np.int64).reshape(-1)])

    def _claim(self, action: Any, player: int) -> tuple[int, int] | None:
        """The claim ``action`` makes, or ``None`` if it calls bluff."""
        arr = np.asarray(action).reshape(-1)
        space = self.action_spaces[player]
        if arr.shape != space.shape or arr.dtype.kind not in "iu" or not space.contains(arr.astype(np.int64)):
            raise SpaceException(
                f"player {player} played {action!r}; Liar's dice actions are (face 0-6, count 0-11)"
            )
        face, count = int(arr[0]), int(arr[1])
        if not self.history:
            return (0, 0) if face == N else (face, count)
        if face == N or count <= self.history[0][1]:
            return None
        return face, count

    def claim_is_false(self) -> bool:
        """Whether the last claim overstates the dice on the table."""
        face, count = self.history[0]
        return count > int(self.hands[0][face] + self.hands[1][face]) - 1

    def _play(self, action: Any, player: int) -> tuple:
        claim = self._claim(action, player)
        if claim is None:
            caller_wins = self.claim_is_false()
            rewards = WIN if caller_wins == (player == 0) else LOSE
            return self.get_obs(1 - player), rewards, True, False, {}
        self.history.insert(0, claim)
        return self.get_obs(1 - player), (0.0, 0.0), False, False, {}

    def ego_step(self, action: Any) -> tuple:
        return self._play(action, 0)

    def alt_step(self, action: Any) -> tuple:
        return self._play(action, 1)

    def multi_reset(self, egofirst: bool) -> np.ndarray:
        self.history = []
        self.hands = np.stack([self._roll(), self._roll()])
        return self.get_obs(0 if egofirst else 1)


class LiarDefaultAgent(Agent):
    """The scripted Liar's dice player (either seat): calls bluff if the last claimed count index exceeds its
    own best count, otherwise claims its most frequent face (the lowest on ties) with count index equal to
    how many of it it holds."""

    def get_action(self, obs: Observation) -> np.ndarray:
        o = np.asarray(obs.obs)
        hand = o[:N]
        best = int(hand.max())
        face = int(hand.argmax())
        last_face, last_count = int(o[N]), int(o[N + 1])
        if last_face != N and last_count > best:
            return BLUFF.copy()
        return np.array([face, best], dtype=np.int64)

    def update(self, reward: float, done: bool) -> None:
        pass
