"""Particle: the continuous two-player game of low-rank partner adaptation, benchmark B-2.

Shih, Ermon, Sadigh, "Conditional Imitation Learning for Multi-Agent Games", HRI 2022 (arXiv 2201.01448);
docs/algorithms.md, sections 4.3 and 4.5.

A particle ``x`` in R^2 starts at :data:`START` ``(1, 1)``. At every step both players push it at the same time,
each with a displacement ``u`` in ``[0, 1]^2`` (``Box(0, 1, (2,), float32)``), and ``x <- x + u0 + u1`` without
clipping (the particle can overshoot the goal and can never move back). The reward after each step is
``20 - ||(9, 9) - x||_2`` for both players. The game ends (a termination, like the other fixed-length toy games)
after :data:`HORIZON` 20 steps. Both players observe ``x`` (``Box(float32)``, bounded by where 20 steps of
maximal pushes can take it). The game is deterministic: seeds change nothing.

Starts (our design choice, for demonstrations that cover more than the single path of each partner): an episode
may start elsewhere in the box ``[1, 10]^2`` (:data:`START_BOX`) with ``env.reset(options={"start": (x, y)})`` or
:meth:`Particle.set_start` (which reaches a game inside a wrapper); without one it starts at ``(1, 1)``.

Conventions are how the two players split the motion. With the gap to the goal ``d = max((9, 9) - x, 0)``:

* :class:`RatioPartner` ``(rho)`` plays ``min((rho, 1 - rho), d)`` per axis (:func:`ratio_partner_action`);
* the demonstration ego plays the best completion ``clip(d - u_p, 0, 1)`` of the partner's push ``u_p``
  (:func:`best_ego_action`). In a simultaneous game the ego does not see ``u_p``, so the demonstrator is
  :class:`RatioEgo` ``(rho)``, which knows its partner's ratio and plays ``clip(d - u_p(rho), 0, 1)``; it is
  also the "true-ratio" ego that adaptation is measured against.

Joint demonstrations for conditional imitation (the model predicts the 4-D joint action, seat 0 in dims 0-1 and
seat 1 in dims 2-3, :data:`EGO_DIMS` and :data:`PARTNER_DIMS`) are recorded with the toolkit's
:class:`~pantheonrl.common.wrappers.SimultaneousRecorder` (:func:`record_demonstrations`) and turned into
``(obs, joint_actions)`` arrays by :func:`joint_dataset`, which takes any
:class:`~pantheonrl.common.trajsaver.SimultaneousTransitions`, so recorded (or saved and re-read) games of real
partners feed a model the same way.

Importing this module registers ``Particle-v0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import ScriptedAgent
from pantheonrl.common.multiagentenv import SimultaneousEnv
from pantheonrl.common.observation import Observation
from pantheonrl.common.trajsaver import SimultaneousTransitions
from pantheonrl.common.wrappers import SimultaneousRecorder
from pantheonrl.errors import ConfigError, PlayerException, unknown_choice
from pantheonrl.registry import ENVS

__all__ = [
    "EGO_DIMS",
    "ENV_ID",
    "GOAL",
    "HORIZON",
    "PARTNER_DIMS",
    "START",
    "START_BOX",
    "Particle",
    "RatioEgo",
    "RatioPartner",
    "best_ego_action",
    "episode_return",
    "goal_gap",
    "joint_dataset",
    "ratio_ego_action",
    "ratio_partner_action",
    "record_demonstrations",
    "step_reward",
]

ENV_ID = "Particle-v0"
START = (1.0, 1.0)
GOAL = (9.0, 9.0)
HORIZON = 20
"""Steps per episode."""
REWARD_OFFSET = 20.0
"""The reward after a step is ``REWARD_OFFSET - ||GOAL - x||_2``."""
START_BOX = (1.0, 10.0)
"""The range of each coordinate of a start given with ``options={"start": (x, y)}``."""
MAX_PUSH = 1.0
"""Each entry of a player's displacement lies in ``[0, MAX_PUSH]``."""
EGO_DIMS = (0, 1)
"""Seat 0's entries of the 4-D joint action."""
PARTNER_DIMS = (2, 3)
"""Seat 1's entries of the 4-D joint action."""

_START = np.asarray(START, dtype=np.float64)
_GOAL = np.asarray(GOAL, dtype=np.float64)
_OBS_SPACE = spaces.Box(
    low=np.float32(START[0]), high=np.float32(START_BOX[1] + 2 * MAX_PUSH * HORIZON), shape=(2,), dtype=np.float32
)
_ACT_SPACE = spaces.Box(low=0.0, high=MAX_PUSH, shape=(2,), dtype=np.float32)


def _position(x: Any) -> np.ndarray:
    if isinstance(x, Observation):
        x = x.obs
    try:
        arr = np.asarray(x, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise PlayerException(f"a Particle position is 2 finite numbers (x, y), got {x!r}") from None
    if arr.size != 2 or not np.all(np.isfinite(arr)):
        raise PlayerException(f"a Particle position is 2 finite numbers (x, y), got {x!r}")
    return arr


def _start(start: Any) -> np.ndarray:
    lo, hi = START_BOX
    try:
        arr = np.asarray(start, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    if arr.size != 2 or not np.all(np.isfinite(arr)) or np.any(arr < lo) or np.any(arr > hi):
        raise ConfigError(f"start must be a position (x, y) with both entries in [{lo:g}, {hi:g}], got {start!r}")
    return arr


def _ratio(rho: Any) -> float:
    if isinstance(rho, bool) or not isinstance(rho, int | float | np.number) or not np.isfinite(rho):
        raise ConfigError(f"rho (the partner's share of the x-axis push) must be a number in [0, 1], got {rho!r}")
    if not 0.0 <= float(rho) <= 1.0:
        raise ConfigError(f"rho (the partner's share of the x-axis push) must be in [0, 1], got {rho!r}; e.g. 0.25")
    return float(rho)


def goal_gap(x: Any) -> np.ndarray:
    """``d = max((9, 9) - x, 0)``: how far the particle still is from the goal on each axis (float64)."""
    return np.maximum(_GOAL - _position(x), 0.0)


def step_reward(x: Any) -> float:
    """The reward after a step that left the particle at ``x``: ``20 - ||(9, 9) - x||_2``."""
    return float(REWARD_OFFSET - np.linalg.norm(_GOAL - _position(x)))


def ratio_partner_action(x: Any, rho: float) -> np.ndarray:
    """The push of :class:`RatioPartner` ``(rho)`` at ``x``: ``min((rho, 1 - rho), d)`` per axis (float64)."""
    rho = _ratio(rho)
    return np.minimum(np.array([rho, 1.0 - rho]), goal_gap(x))


def best_ego_action(x: Any, partner_action: Any) -> np.ndarray:
    """The demonstration ego's push at ``x`` given the partner's push: ``clip(d - u_p, 0, 1)`` (float64).

    It closes as much of the remaining gap as one push can, without overshooting together with the partner.
    """
    u_p = np.asarray(partner_action, dtype=np.float64).reshape(-1)
    if u_p.size != 2 or not np.all(np.isfinite(u_p)):
        raise PlayerException(f"partner_action must be 2 finite numbers, got {partner_action!r}")
    return np.clip(goal_gap(x) - u_p, 0.0, MAX_PUSH)


def ratio_ego_action(x: Any, rho: float) -> np.ndarray:
    """The push of :class:`RatioEgo` ``(rho)``: the best completion of :class:`RatioPartner` ``(rho)``'s push."""
    return best_ego_action(x, ratio_partner_action(x, rho))


class Particle(SimultaneousEnv):
    """The Particle game for two players (player 0 is the ego by default); see the module docstring.

    :param partners: optional agents for player 1's seat (e.g. :class:`RatioPartner`).
    :param horizon: optional earlier truncation in game steps; the game itself ends after :data:`HORIZON` steps.
    :ivar x: the particle's position (float64; observed as float32).
    :ivar t: steps played in the current episode.
    """

    episode_length = HORIZON
    """Game steps of every episode."""

    def __init__(self, partners: Sequence[Any] | None = None, *, horizon: int | None = None) -> None:
        super().__init__([_OBS_SPACE, _OBS_SPACE], [_ACT_SPACE, _ACT_SPACE], partners=partners, horizon=horizon)
        self.x = _START.copy()
        self.t = 0
        self._over = True
        self.next_start: np.ndarray | None = None

    def set_start(self, start: Any) -> None:
        """Start the next episode (only that one) at ``start`` in :data:`START_BOX`; ``None``: at ``(1, 1)``."""
        self.next_start = None if start is None else _start(start)

    def _reset_gen(self, seed: int | None = None, options: dict | None = None) -> Any:
        # MultiAgentEnv.reset does not pass options on to n_reset, so the start is taken here.
        if options:
            if not isinstance(options, Mapping):
                raise ConfigError(f"options must be a mapping such as {{'start': (2.0, 3.5)}}, got {options!r}")
            for key in options:
                if key != "start":
                    raise ConfigError(unknown_choice("Particle reset option", key, ("start",)))
            self.set_start(options["start"])
        return (yield from super()._reset_gen(seed=seed, options=options))

    def observe(self) -> np.ndarray:
        """The observation of both players: ``x`` as float32."""
        return self.x.astype(np.float32)

    @staticmethod
    def _push(action: Any, player: int) -> np.ndarray:
        rule = f"an action is a displacement (dx, dy) with both entries in [0, {MAX_PUSH:g}]"
        try:
            arr = np.asarray(action, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise PlayerException(f"player {player} chose {action!r}; {rule}") from None
        if arr.size != 2:
            raise PlayerException(f"player {player} chose {action!r} ({arr.size} entries); {rule}")
        if not np.all(np.isfinite(arr)):
            raise PlayerException(f"player {player} chose {action!r}, which is not finite; {rule}")
        if np.any(arr < 0.0) or np.any(arr > MAX_PUSH):
            raise PlayerException(f"player {player} chose {arr.tolist()!r}, outside the allowed range; {rule}")
        return arr

    def multi_reset(self) -> tuple[np.ndarray, np.ndarray]:
        self.x = _START.copy() if self.next_start is None else self.next_start.copy()
        self.next_start = None
        self.t = 0
        self._over = False
        return self.observe(), self.observe()

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        if self._over:
            raise PlayerException("this Particle episode is over; reset it first")
        u0, u1 = self._push(ego_action, 0), self._push(alt_action, 1)
        self.x = self.x + u0 + u1
        self.t += 1
        reward = step_reward(self.x)
        self._over = self.t >= HORIZON
        info = {"position": tuple(float(v) for v in self.x), "pushes": (u0.tolist(), u1.tolist())}
        return (self.observe(), self.observe()), (reward, reward), self._over, False, info


class _RatioAgent(ScriptedAgent):
    """A stateless scripted player with ratio ``rho``: reads ``x`` from its observation, so one object may play
    every copy of a vectorised game."""

    def __init__(self, rho: float) -> None:
        self.rho = _ratio(rho)
        self.observation_space = _OBS_SPACE
        self.action_space = _ACT_SPACE

    def push(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def get_action(self, obs: Observation) -> np.ndarray:
        return self.push(obs).astype(np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rho={self.rho:g})"


class RatioPartner(_RatioAgent):
    """The scripted partner with ratio ``rho`` in ``[0, 1]``: pushes ``min((rho, 1 - rho), d)``
    (:func:`ratio_partner_action`)."""

    def push(self, x: Any) -> np.ndarray:
        return ratio_partner_action(x, self.rho)


class RatioEgo(_RatioAgent):
    """The demonstration ("true-ratio") ego for :class:`RatioPartner` ``(rho)``: pushes
    ``clip(d - u_p(rho), 0, 1)`` (:func:`ratio_ego_action`)."""

    def push(self, x: Any) -> np.ndarray:
        return ratio_ego_action(x, self.rho)


def episode_return(ego: Any, partner: Any) -> float:
    """The return of one episode of ``ego`` (seat 0, any agent with ``get_action``) with ``partner`` (seat 1).

    Plays through the ego view, so the ego's actions are checked by the game. The game is deterministic, so
    deterministic agents give the exact value.
    """
    env = Particle(partners=[partner])
    obs, _ = env.reset()
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(ego.get_action(Observation(obs)))
        ego.update(reward, terminated or truncated)
        total += reward
        done = terminated or truncated
    return total


def record_demonstrations(
    partner: Any, ego: Any, episodes: int = 1, *, starts: Any = None, horizon: int | None = None
) -> SimultaneousTransitions:
    """Record ``episodes`` joint games of ``ego`` (seat 0) with ``partner`` (seat 1).

    The games run under a :class:`~pantheonrl.common.wrappers.SimultaneousRecorder`, so the result is in the
    toolkit's trajectory format (``write_transition`` saves it; :func:`joint_dataset` turns it into arrays).

    :param partner: the seat-1 agent, e.g. :class:`RatioPartner` ``(rho)``.
    :param ego: the seat-0 demonstrator, e.g. :class:`RatioEgo` ``(rho)``.
    :param episodes: how many games.
    :param starts: ``(episodes, 2)`` start positions in :data:`START_BOX`, one per game; None: all at ``(1, 1)``.
    :param horizon: cut each game after this many steps (a truncation); None: the full 20 steps.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int | np.integer) or episodes < 1:
        raise ConfigError(f"episodes must be an integer >= 1, got {episodes!r}")
    if starts is not None:
        starts = np.asarray(starts, dtype=np.float64)
        if starts.shape != (episodes, 2):
            raise ConfigError(f"starts must have shape ({episodes}, 2), one (x, y) per episode, got {starts.shape}")
    game = Particle(horizon=horizon)
    env = SimultaneousRecorder(game)
    env.add_partner_agent(partner, 1)
    for i in range(int(episodes)):
        game.set_start(None if starts is None else starts[i])
        obs, _ = env.reset()
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(ego.get_action(Observation(obs)))
            ego.update(reward, terminated or truncated)
            done = terminated or truncated
    return env.get_transitions()


def joint_dataset(transitions: SimultaneousTransitions) -> tuple[np.ndarray, np.ndarray]:
    """``(obs, joint_actions)`` for conditional imitation from a recorded simultaneous Particle game.

    :param transitions: e.g. from :func:`record_demonstrations`, or ``SimultaneousTransitions.read_transition``
        of a saved game (with the Particle spaces).
    :returns: ``obs`` ``(n, 2)`` float32 (seat 0's observation, ``x``) and ``joint_actions`` ``(n, 4)`` float32:
        seat 0's push in dims 0-1 (:data:`EGO_DIMS`), seat 1's in dims 2-3 (:data:`PARTNER_DIMS`).
    """
    if not isinstance(transitions, SimultaneousTransitions):
        raise ConfigError(
            f"transitions must be SimultaneousTransitions (e.g. from record_demonstrations), got "
            f"{type(transitions).__name__}"
        )
    obs = np.asarray(transitions.egoobs, dtype=np.float32).reshape(len(transitions.egoobs), -1)
    ego = np.asarray(transitions.egoacts, dtype=np.float32).reshape(len(transitions.egoacts), -1)
    alt = np.asarray(transitions.altacts, dtype=np.float32).reshape(len(transitions.altacts), -1)
    if obs.shape[1] != 2 or ego.shape[1] != 2 or alt.shape[1] != 2:
        raise ConfigError(
            f"Particle transitions have 2-D observations and 2-D actions per seat, got observation width "
            f"{obs.shape[1]} and action widths {ego.shape[1]}, {alt.shape[1]}"
        )
    return obs, np.concatenate([ego, alt], axis=1)


if ENV_ID not in gym.registry:  # importing twice (or a reload) must not re-register
    gym.register(ENV_ID, entry_point=Particle, order_enforce=False, disable_env_checker=True)
if ENV_ID not in ENVS:
    ENVS.register(ENV_ID, ENV_ID)
