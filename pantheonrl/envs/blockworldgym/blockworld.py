"""Block world with gravity (``BlockEnv-v1``): a planner describes a target structure to a constructor
who cannot see it."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import Agent
from pantheonrl.common.multiagentenv import TurnBasedEnv
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError, SpaceException, unknown_choice

__all__ = [
    "BLUE",
    "EMPTY",
    "GRIDLEN",
    "HORIZONTAL",
    "NUM_BLOCKS",
    "RED",
    "VERTICAL",
    "BlockEnv",
    "DefaultConstructorAgent",
    "f1_score",
    "gravity",
    "place",
]

GRIDLEN = 7  # the world is a GRIDLEN x GRIDLEN grid; row 0 is the top
NUM_BLOCKS = 5  # blocks in the target structure
NUM_COLORS = 2
EMPTY, BLUE, RED = 0, 1, 2
HORIZONTAL, VERTICAL = 0, 1
NUM_TOKENS = 30
END_TOKEN = NUM_TOKENS - 1

# Rendering (RGB). Built cells are filled, target cells are outlined.
CELL_PX = 32
BACKGROUND = (255, 255, 255)
GRID_LINE = (215, 215, 215)
UNCOLORED = (140, 140, 140)
PALETTE = {BLUE: (5, 5, 250), RED: (250, 5, 5)}


def gravity(grid: np.ndarray, orientation: int, x: int) -> int:
    """The top row at which a block dropped in column ``x`` comes to rest, or -1 if the column is full.

    A horizontal block covers columns ``x`` and ``x + 1``, a vertical one rows ``y`` and ``y + 1``.
    """
    height = grid.shape[0]
    if orientation == HORIZONTAL:
        if grid[0, x] != EMPTY or grid[0, x + 1] != EMPTY:
            return -1
        for y in range(height - 1):
            if grid[y + 1, x] != EMPTY or grid[y + 1, x + 1] != EMPTY:
                return y
        return height - 1
    if grid[0, x] != EMPTY or grid[1, x] != EMPTY:
        return -1
    for y in range(height - 2):
        if grid[y + 2, x] != EMPTY:
            return y
    return height - 2


def place(grid: np.ndarray, x: int, y: int, color: int, orientation: int) -> None:
    """Put a two-cell block of ``color`` with its top-left cell at row ``y``, column ``x``."""
    grid[y, x] = color
    if orientation == HORIZONTAL:
        grid[y, x + 1] = color
    else:
        grid[y + 1, x] = color


def drop(grid: np.ndarray, x: int, orientation: int, color: int) -> bool:
    """Drop a block into ``grid``; return whether it landed (a horizontal block in the last column, or
    a block into a full column, does nothing)."""
    if orientation == HORIZONTAL and x == grid.shape[1] - 1:
        return False
    y = gravity(grid, orientation, x)
    if y == -1:
        return False
    place(grid, x, y, color, orientation)
    return True


def random_structure(np_random: np.random.Generator) -> np.ndarray:
    """A target: ``NUM_BLOCKS`` blocks of random orientation, column and colour dropped into an empty grid."""
    grid = np.zeros((GRIDLEN, GRIDLEN), dtype=np.int64)
    placed = 0
    while placed < NUM_BLOCKS:
        orientation = int(np_random.integers(0, 2))
        x = int(np_random.integers(0, GRIDLEN - 1 if orientation == HORIZONTAL else GRIDLEN))
        y = gravity(grid, orientation, x)
        if y == -1:
            continue
        place(grid, x, y, int(np_random.integers(0, NUM_COLORS)) + 1, orientation)
        placed += 1
    return grid


def f1_score(built: np.ndarray, target: np.ndarray) -> float:
    """F1 of the built grid against the target: ``2 * matches / (non-empty built + non-empty target)``,
    where a match is a *non-empty* cell of the same colour in both (empty cells never count). In [0, 1]."""
    built, target = np.asarray(built), np.asarray(target)
    matches = np.count_nonzero((built == target) & (target != EMPTY))
    total = np.count_nonzero(built) + np.count_nonzero(target)
    return 2.0 * matches / total if total else 1.0


def blank_canvas(rows: int, cols: int, cell_px: int = CELL_PX) -> np.ndarray:
    """A white image of ``rows`` x ``cols`` cells with light grid lines, shape (rows*cell, cols*cell, 3)."""
    img = np.full((rows * cell_px, cols * cell_px, 3), BACKGROUND, dtype=np.uint8)
    img[::cell_px, :] = GRID_LINE
    img[:, ::cell_px] = GRID_LINE
    img[-1, :] = GRID_LINE
    img[:, -1] = GRID_LINE
    return img


def fill_cells(
    img: np.ndarray,
    y: int,
    x: int,
    h: int,
    w: int,
    color: tuple[int, int, int],
    cell_px: int = CELL_PX,
    inset: int = 0,
) -> None:
    """Fill the ``h`` x ``w`` cells whose top-left cell is (``y``, ``x``), leaving ``inset`` pixels free."""
    img[y * cell_px + inset : (y + h) * cell_px - inset, x * cell_px + inset : (x + w) * cell_px - inset] = (
        color
    )


def outline_cells(
    img: np.ndarray, y: int, x: int, h: int, w: int, color: tuple[int, int, int], cell_px: int = CELL_PX
) -> None:
    """Draw a border, an eighth of a cell wide, around the ``h`` x ``w`` cells at (``y``, ``x``)."""
    top, bottom, left, right = y * cell_px, (y + h) * cell_px, x * cell_px, (x + w) * cell_px
    t = max(2, cell_px // 8)
    img[top : top + t, left:right] = color
    img[bottom - t : bottom, left:right] = color
    img[top:bottom, left : left + t] = color
    img[top:bottom, right - t : right] = color


def check_render_mode(env: gym.Env, render_mode: str | None) -> str | None:
    """Validate ``render_mode`` against ``env.metadata``."""
    if render_mode is not None and render_mode not in env.metadata["render_modes"]:
        raise ConfigError(unknown_choice("render mode", render_mode, [*env.metadata["render_modes"], None]))
    return render_mode


def _constructor_move(action: Any, space: spaces.MultiDiscrete) -> tuple[int, ...]:
    arr = np.asarray(action).reshape(-1)
    if arr.shape != space.shape or arr.dtype.kind not in "iu" or not space.contains(arr.astype(np.int64)):
        raise SpaceException(f"the constructor played {action!r}; its actions are in {space}")
    return tuple(int(v) for v in arr)


def _token(action: Any, space: spaces.Discrete) -> int:
    arr = np.asarray(action)
    if arr.size != 1 or arr.dtype.kind not in "iu" or not 0 <= int(arr.reshape(-1)[0]) < space.n:
        raise SpaceException(f"the planner played {action!r}; its tokens are 0..{space.n - 1}")
    return int(arr.reshape(-1)[0])


class BlockEnv(TurnBasedEnv):
    """The block world with gravity. Player 0, the *planner*, sees a random target structure (``NUM_BLOCKS``
    red or blue two-cell blocks dropped into a 7x7 grid) and the grid built so far, and says one of 30 tokens
    (``Discrete(30)``). Player 1, the *constructor*, sees the last token and the built grid and drops a block:
    ``MultiDiscrete([7, 2, 2])`` = (column, 0 horizontal / 1 vertical, colour 0 blue / 1 red). A horizontal
    drop in the last column, or a drop into a full column, does nothing. The planner always moves first;
    token 29 ends the episode (a termination) and both players get the F1 score of the built grid against
    the target (:func:`f1_score`, in [0, 1]); every other step pays 0. There is no step limit.

    Observations: planner ``MultiDiscrete([3] * 98)`` (target cells, then built cells, row-major, 0 empty,
    1 blue, 2 red); constructor ``MultiDiscrete([30] + [3] * 49)`` (last token, then built cells; the
    token is 0 before the planner has spoken).

    :param render_mode: ``None`` or ``"rgb_array"`` (the target outlined, the built blocks filled).
    :ivar target: the target grid, shape (7, 7).
    :ivar built: the constructor's grid, shape (7, 7).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None) -> None:
        cells = [NUM_COLORS + 1] * GRIDLEN * GRIDLEN
        super().__init__(
            [spaces.MultiDiscrete(cells + cells), spaces.MultiDiscrete([NUM_TOKENS, *cells])],
            [spaces.Discrete(NUM_TOKENS), spaces.MultiDiscrete([GRIDLEN, 2, NUM_COLORS])],
            probegostart=1.0,
        )
        self.render_mode = check_render_mode(self, render_mode)
        self.target = np.zeros((GRIDLEN, GRIDLEN), dtype=np.int64)
        self.built = np.zeros((GRIDLEN, GRIDLEN), dtype=np.int64)
        self.last_token = 0

    def get_obs(self, player: int) -> np.ndarray:
        """The observation of player 0 (planner) or 1 (constructor)."""
        if player == 0:
            return np.concatenate([self.target.reshape(-1), self.built.reshape(-1)])
        return np.concatenate([[self.last_token], self.built.reshape(-1)]).astype(np.int64)

    def get_reward(self) -> float:
        return f1_score(self.built, self.target)

    def ego_step(self, action: Any) -> tuple:
        self.last_token = _token(action, self.action_spaces[0])
        if self.last_token == END_TOKEN:
            reward = self.get_reward()
            return self.get_obs(1), (reward, reward), True, False, {}
        return self.get_obs(1), (0.0, 0.0), False, False, {}

    def alt_step(self, action: Any) -> tuple:
        x, orientation, color = _constructor_move(action, self.action_spaces[1])
        drop(self.built, x, orientation, color + 1)
        return self.get_obs(0), (0.0, 0.0), False, False, {}

    def multi_reset(self, egofirst: bool) -> np.ndarray:
        self.target = random_structure(self.np_random)
        self.built = np.zeros((GRIDLEN, GRIDLEN), dtype=np.int64)
        self.last_token = 0
        return self.get_obs(0 if egofirst else 1)

    def render(self) -> np.ndarray | None:
        """An RGB image (7 * 32 pixels square): built cells filled with their colour, target cells outlined
        in theirs; row 0 at the top, as in the observations."""
        if self.render_mode is None:
            gym.logger.warn(
                "BlockEnv.render() was called without a render_mode; create it with render_mode='rgb_array'"
            )
            return None
        img = blank_canvas(GRIDLEN, GRIDLEN)
        for y, x in zip(*np.nonzero(self.built)):
            fill_cells(img, int(y), int(x), 1, 1, PALETTE[int(self.built[y, x])])
        for y, x in zip(*np.nonzero(self.target)):
            outline_cells(img, int(y), int(x), 1, 1, PALETTE[int(self.target[y, x])])
        return img


class DefaultConstructorAgent(Agent):
    """The scripted constructor (player 1) of ``BlockEnv-v1``: token ``t`` in 1..28 decodes ``t - 1`` as
    ``colour + 2 * (orientation + 2 * column)``; tokens 0 and 29 drop a blue vertical block in column 6."""

    def get_action(self, obs: Observation) -> np.ndarray:
        token = int(np.asarray(obs.obs)[0])
        if token in (0, END_TOKEN):
            return np.array([GRIDLEN - 1, VERTICAL, 0], dtype=np.int64)
        code = token - 1
        return np.array([code // 4, (code // 2) % 2, code % 2], dtype=np.int64)

    def update(self, reward: float, done: bool) -> None:
        pass
