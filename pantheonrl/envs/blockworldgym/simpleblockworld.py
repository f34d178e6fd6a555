"""The simple block world (``BlockEnv-v0``): the constructor sees where the blocks are and only has to
colour them as the planner describes."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import Agent
from pantheonrl.common.multiagentenv import TurnBasedEnv
from pantheonrl.common.observation import Observation
from pantheonrl.envs.blockworldgym.blockworld import (
    CELL_PX,
    PALETTE,
    UNCOLORED,
    blank_canvas,
    check_render_mode,
    fill_cells,
    outline_cells,
)
from pantheonrl.errors import SpaceException

__all__ = ["BLUE", "NO_COLOR", "RED", "SBWDefaultAgent", "SBWEasyPartner", "SimpleBlockEnv"]

GRIDLEN = 7
NUM_BLOCKS = 5
NUM_COLORS = 2
NO_COLOR, BLUE, RED = 0, 1, 2
HORIZONTAL, VERTICAL = 0, 1
NUM_TOKENS = 16
END_TOKEN = NUM_TOKENS - 1
BLOCK_FORMAT = [2, GRIDLEN, GRIDLEN, NUM_COLORS + 1]  # orientation, row, column, colour


def random_blocks(np_random: np.random.Generator) -> np.ndarray:
    """``NUM_BLOCKS`` non-overlapping two-cell blocks of random orientation, position and colour (1 or 2),
    as rows (orientation, row, column, colour)."""
    occupied = np.zeros((GRIDLEN, GRIDLEN), dtype=bool)
    blocks: list[list[int]] = []
    while len(blocks) < NUM_BLOCKS:
        orientation = int(np_random.integers(0, 2))
        if orientation == HORIZONTAL:
            x, y = int(np_random.integers(0, GRIDLEN - 1)), int(np_random.integers(0, GRIDLEN))
            cells = ((y, x), (y, x + 1))
        else:
            x, y = int(np_random.integers(0, GRIDLEN)), int(np_random.integers(0, GRIDLEN - 1))
            cells = ((y, x), (y + 1, x))
        color = int(np_random.integers(0, NUM_COLORS)) + 1
        if any(occupied[c] for c in cells):
            continue
        for c in cells:
            occupied[c] = True
        blocks.append([orientation, y, x, color])
    return np.array(blocks, dtype=np.int64)


class SimpleBlockEnv(TurnBasedEnv):
    """The simple block world. ``NUM_BLOCKS`` two-cell blocks lie at random, non-overlapping places of a 7x7
    grid, each red or blue. Player 0, the *planner*, sees the true blocks and the constructor's colouring
    (``MultiDiscrete([2, 7, 7, 3] * 10)``: orientation, row, column, colour per block) and says one of 16
    tokens (``Discrete(16)``). Player 1, the *constructor*, sees the last token and the blocks with its own
    colouring (``MultiDiscrete([16] + [2, 7, 7, 3] * 5)``), but not the true colours, and colours one block
    per move: ``MultiDiscrete([5, 3])`` = (block, colour 0 none / 1 blue / 2 red).

    The planner always moves first. Token 15 ends the episode (a termination) and both players get
    100 x the fraction of blocks coloured correctly; every other step pays 0. There is no step limit.

    :param render_mode: ``None`` or ``"rgb_array"`` (blocks filled with the constructor's colour, grey if
        none, and outlined in their true colour).
    :ivar blocks: the true blocks, shape (5, 4).
    :ivar colors: the constructor's colouring, shape (5,).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(
            [
                spaces.MultiDiscrete(BLOCK_FORMAT * 2 * NUM_BLOCKS),
                spaces.MultiDiscrete([NUM_TOKENS] + BLOCK_FORMAT * NUM_BLOCKS),
            ],
            [spaces.Discrete(NUM_TOKENS), spaces.MultiDiscrete([NUM_BLOCKS, NUM_COLORS + 1])],
            probegostart=1.0,
        )
        self.render_mode = check_render_mode(self, render_mode)
        self.blocks = np.zeros((0, 4), dtype=np.int64)
        self.colors = np.zeros(0, dtype=np.int64)
        self.last_token = 0

    def constructor_blocks(self) -> np.ndarray:
        """The blocks as the constructor sees them: true positions, its own colours."""
        seen = self.blocks.copy()
        seen[:, 3] = self.colors
        return seen

    def get_obs(self, player: int) -> np.ndarray:
        """The observation of player 0 (planner) or 1 (constructor)."""
        if player == 0:
            return np.concatenate([self.blocks.reshape(-1), self.constructor_blocks().reshape(-1)])
        return np.concatenate([[self.last_token], self.constructor_blocks().reshape(-1)]).astype(np.int64)

    def get_reward(self) -> float:
        return 100.0 * np.count_nonzero(self.blocks[:, 3] == self.colors) / NUM_BLOCKS

    def ego_step(self, action: Any) -> tuple:
        arr = np.asarray(action)
        if arr.size != 1 or arr.dtype.kind not in "iu" or not 0 <= int(arr.reshape(-1)[0]) < NUM_TOKENS:
            raise SpaceException(f"the planner played {action!r}; its tokens are 0..{NUM_TOKENS - 1}")
        self.last_token = int(arr.reshape(-1)[0])
        if self.last_token == END_TOKEN:
            reward = self.get_reward()
            return self.get_obs(1), (reward, reward), True, False, {}
        return self.get_obs(1), (0.0, 0.0), False, False, {}

    def alt_step(self, action: Any) -> tuple:
        arr = np.asarray(action).reshape(-1)
        space = self.action_spaces[1]
        if arr.shape != space.shape or arr.dtype.kind not in "iu" or not space.contains(arr.astype(np.int64)):
            raise SpaceException(
                f"the constructor played {action!r}; its actions are (block 0-4, colour 0-2)"
            )
        self.colors[int(arr[0])] = int(arr[1])
        return self.get_obs(0), (0.0, 0.0), False, False, {}

    def multi_reset(self, egofirst: bool) -> np.ndarray:
        self.blocks = random_blocks(self.np_random)
        self.colors = np.zeros(NUM_BLOCKS, dtype=np.int64)
        self.last_token = 0
        return self.get_obs(0 if egofirst else 1)

    def render(self) -> np.ndarray | None:
        """An RGB image (7 * 32 pixels square) of the grid, row 0 at the top, as in the observations."""
        if self.render_mode is None:
            gym.logger.warn(
                "SimpleBlockEnv.render() was called without a render_mode; "
                "create it with render_mode='rgb_array'"
            )
            return None
        img = blank_canvas(GRIDLEN, GRIDLEN)
        border = max(2, CELL_PX // 8)
        for (orientation, y, x, true_color), color in zip(self.blocks.tolist(), self.colors.tolist()):
            h, w = (1, 2) if orientation == HORIZONTAL else (2, 1)
            fill_cells(img, y, x, h, w, PALETTE.get(color, UNCOLORED), inset=border)
            outline_cells(img, y, x, h, w, PALETTE[true_color])
        return img


def _no_op(obs: np.ndarray) -> np.ndarray:
    """Recolour block 0 with the colour it already has."""
    return np.array([0, obs[4]], dtype=np.int64)


class SBWDefaultAgent(Agent):
    """The scripted constructor (player 1) of ``BlockEnv-v0``: tokens 1-7 colour red, and tokens 8-14 blue,
    the first uncoloured block (scanning columns left to right) in row ``token - 1`` / ``token - 8``. Any
    other token, or a row without an uncoloured block, leaves the colouring as it is."""

    def get_action(self, obs: Observation) -> np.ndarray:
        # Under frame stacking the newest frame comes first: read only that one.
        o = np.asarray(obs.obs)[: 1 + 4 * NUM_BLOCKS]
        token = int(o[0])
        if 1 <= token <= 14:
            row, color = (token - 1, RED) if token <= 7 else (token - 8, BLUE)
            index = self.first_uncolored(o[1:].reshape(NUM_BLOCKS, 4), row)
            if index != -1:
                return np.array([index, color], dtype=np.int64)
        return _no_op(o)

    @staticmethod
    def first_uncolored(blocks: np.ndarray, row: int) -> int:
        """The index of the leftmost uncoloured block with a cell in ``row``, or -1."""
        grid = np.full((GRIDLEN, GRIDLEN), -1)
        for i, (orientation, y, x, _) in enumerate(blocks.tolist()):
            grid[y, x] = i
            if orientation == HORIZONTAL:
                grid[y, x + 1] = i
            else:
                grid[y + 1, x] = i
        for index in grid[row]:
            if index != -1 and blocks[index, 3] == NO_COLOR:
                return int(index)
        return -1

    def update(self, reward: float, done: bool) -> None:
        pass


class SBWEasyPartner(Agent):
    """A simpler scripted constructor for ``BlockEnv-v0``: tokens 1-5 colour block ``token - 1`` red and
    tokens 6-10 colour block ``token - 6`` blue. Tokens above 10 are halved first (11 -> 5, 12 and 13 -> 6,
    14 and 15 -> 7); token 0 changes nothing.

    The original mapped tokens 6-10 to blocks ``token - 8``, i.e. -2..2: tokens 6 and 7 gave negative block
    indices, outside the action space. Here they address blocks 0-4, mirroring the red tokens.
    """

    def get_action(self, obs: Observation) -> np.ndarray:
        # Under frame stacking the newest frame comes first: read only that one.
        o = np.asarray(obs.obs)[: 1 + 4 * NUM_BLOCKS]
        token = int(o[0])
        if token > 10:
            token //= 2
        if 1 <= token <= 5:
            return np.array([token - 1, RED], dtype=np.int64)
        if 6 <= token <= 10:
            return np.array([token - 6, BLUE], dtype=np.int64)
        return _no_op(o)

    def update(self, reward: float, done: bool) -> None:
        pass
