"""Game wrappers: frame stacking and trajectory recording.

Every wrapper here is itself a game of the same family as the one it wraps (a :class:`TurnBasedEnv`, a
:class:`SimultaneousEnv` or, for :class:`MultiRecorder`, any :class:`MultiAgentEnv`). It calls the wrapped
game's own methods (``ego_step``/``alt_step``/``multi_reset``, ``multi_step``/``multi_reset`` or
``n_step``/``n_reset``) and never its ``step``/``reset``, so partners, reward bookkeeping and the ego seat
live in the wrapper. On construction a wrapper takes over the wrapped game's partners, partner ids,
resample policy, ``ego_ind``, ego extractor, ``horizon`` and ``probegostart``.

Seeding: a wrapper shares the wrapped game's ``np_random`` generator (reading and assigning
``wrapper.np_random`` reach the innermost game), so ``wrapper.reset(seed=s)`` replays exactly the game that
``base.reset(seed=s)`` would, given the same actions.

A gymnasium wrapper stack (``gym.make(id)``) is accepted and unwrapped first; wrappers other than
``OrderEnforcing`` and ``PassiveEnvChecker`` are dropped with a warning.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from pantheonrl.common.multiagentenv import MultiAgentEnv, SimultaneousEnv, TurnBasedEnv, split_pair_step
from pantheonrl.common.observation import Observation
from pantheonrl.common.trajsaver import SimultaneousTransitions, TransitionsMinimal, TurnBasedTransitions
from pantheonrl.common.util import calculate_space, get_default_obs, get_space_size
from pantheonrl.errors import PlayerException, SpaceException

__all__ = [
    "ALT_DONE",
    "ALT_NOT_DONE",
    "DONE",
    "EGO_DONE",
    "EGO_NOT_DONE",
    "NOT_DONE",
    "HistoryQueue",
    "MultiRecorder",
    "SimultaneousFrameStack",
    "SimultaneousRecorder",
    "TurnBasedFrameStack",
    "TurnBasedRecorder",
    "frame_wrap",
    "recorder_wrap",
]

# Flags of TurnBasedRecorder rows: who acted (even: player 0, odd: player 1) and whether the episode ended.
EGO_NOT_DONE = 0
ALT_NOT_DONE = 1
EGO_DONE = 2
ALT_DONE = 3

# Flags of SimultaneousRecorder rows and of per-player rows.
NOT_DONE = 0
DONE = 1

# gym.make adds these; they carry no state worth keeping.
_HARMLESS_WRAPPERS = ("OrderEnforcing", "PassiveEnvChecker")


# ------------------------------------------------------------------------------------------- helpers
def _game(env: Any, who: str, family: type | tuple[type, ...], expected: str) -> Any:
    """The game under a gymnasium wrapper stack, checked to be of ``family``.

    Wrappers other than those ``gym.make`` adds by default are dropped with a warning.
    """
    dropped = []
    while isinstance(env, gym.Wrapper):
        dropped.append(type(env).__name__)
        env = env.env
    if not isinstance(env, family):
        hint = ""
        if type(env).__name__ == "DummyEnv":
            hint = "; a DummyEnv only has one player's spaces: wrap the game, then use its get_dummy_env"
        elif isinstance(env, MultiAgentEnv):
            hint = f"; {type(env).__name__} is a MultiAgentEnv for {env.n_players} players without those methods"
        raise SpaceException(f"{who} needs a {expected}, got {type(env).__name__}{hint}")
    kept = [name for name in dropped if name not in _HARMLESS_WRAPPERS]
    if kept:
        warnings.warn(
            f"{who} wraps the game itself and drops the gymnasium wrappers {kept}; wrap its result again if "
            f"you need them",
            stacklevel=3,
        )
    return env


_TURN = "TurnBasedEnv (ego_step/alt_step/multi_reset)"
_SIMULTANEOUS = "SimultaneousEnv (multi_step/multi_reset)"


def _seat_player(seat: int, ego_ind: int) -> int:
    return seat if seat < ego_ind else seat + 1


def _as_space_array(value: Any, space: spaces.Space, what: str) -> np.ndarray:
    """A copy of ``value`` (or of an :class:`Observation`'s ``obs``) shaped and typed like ``space``."""
    if isinstance(value, Observation):
        value = value.obs
    arr = np.asarray(value)
    shape = space.shape
    if shape is not None and arr.shape != tuple(shape):
        if arr.size != int(np.prod(shape)):
            raise SpaceException(f"{what} has shape {arr.shape}, but its space {space} has shape {tuple(shape)}")
        arr = arr.reshape(shape)
    return arr.astype(space.dtype) if space.dtype is not None else arr.copy()


def _stack_rows(rows: Sequence[np.ndarray], space: spaces.Space) -> np.ndarray:
    if rows:
        return np.stack(rows)
    return np.empty((0, *(space.shape or ())), dtype=space.dtype)


class _GameWrapper:
    """Shared behaviour of the wrappers: RNG sharing, adoption of the wrapped game's set-up, delegation.

    Mixed in *before* a :class:`MultiAgentEnv` base class (whose methods ``_adopt`` uses), with ``self.env``
    set before that base's ``__init__`` runs.
    """

    env: Any
    horizon: int | None
    _wrapper_steps = 0

    # -- one generator for the whole stack, so seeded runs replay the unwrapped game exactly
    @property
    def np_random(self) -> np.random.Generator:
        env = self.__dict__.get("env")
        return env.np_random if env is not None else super().np_random  # type: ignore[misc]

    @np_random.setter
    def np_random(self, value: np.random.Generator) -> None:
        env = self.__dict__.get("env")
        if env is None:
            gym.Env.np_random.fset(self, value)  # type: ignore[attr-defined]
            return
        env.np_random = value
        self._np_random_seed = -1

    def _reset_gen(self, seed: int | None = None, options: dict | None = None) -> Any:
        if seed is not None:
            self.np_random, _ = seeding.np_random(seed)
        return (yield from super()._reset_gen(seed=seed, options=options))  # type: ignore[misc]

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()

    # -- set-up
    def _adopt(self, env: MultiAgentEnv) -> None:
        """Take over the wrapped game's seats, partners and options."""
        self.metadata = env.metadata
        self.render_mode = getattr(env, "render_mode", None)
        self.ego_ind = env.ego_ind
        self.ego_extractor = env.ego_extractor
        self.horizon = env.horizon
        self.set_resample_policy(env.resample_policy)
        for seat, agents in enumerate(env.partners):
            player = _seat_player(seat, env.ego_ind)
            for agent in agents:
                try:
                    self.add_partner_agent(agent, player)
                except PlayerException as exc:
                    raise PlayerException(
                        f"{type(self).__name__} cannot take over the partner of player {player}: {exc}. Add "
                        f"partners after wrapping, built on the wrapper's get_dummy_env({player})"
                    ) from exc
        self.partnerids = list(env.partnerids)

    # -- episode length: the wrapper, not the wrapped game, runs the episode, so it applies the horizon
    def _start_count(self) -> None:
        self._wrapper_steps = 0

    def _count_step(self, terminated: bool, truncated: bool) -> bool:
        """Count one game step; return ``truncated``, set when the horizon is reached."""
        self._wrapper_steps += 1
        if self.horizon is not None and self._wrapper_steps >= self.horizon and not terminated:
            return True
        return truncated


# ------------------------------------------------------------------------------------------- frame stacking
class HistoryQueue:
    """The last ``size`` frames of one player, stacked newest first.

    Frames are concatenated along their first axis (a scalar frame counts as one element), matching
    :func:`pantheonrl.common.util.calculate_space`.

    :param defaultelem: the frame that fills empty slots; it also fixes the frame shape.
    :param size: number of frames.
    :param dtype: dtype of the stacked result (default: that of ``defaultelem``).
    """

    def __init__(self, defaultelem: Any, size: int, dtype: Any = None) -> None:
        if not isinstance(size, int | np.integer) or size < 1:
            raise SpaceException(f"a frame history needs a positive number of frames, got {size!r}")
        self.defaultelem = defaultelem
        self.size = int(size)
        self._default = np.atleast_1d(np.array(defaultelem, dtype=dtype))
        self.dtype = self._default.dtype
        self._frames: deque[np.ndarray] = deque(maxlen=self.size)
        self.reset()

    @property
    def history(self) -> list[np.ndarray]:
        """The frames, newest first."""
        return list(self._frames)

    def add(self, toadd: Any) -> np.ndarray:
        """Push a frame (dropping the oldest) and return the stack, newest first.

        :param toadd: the new frame, shaped like ``defaultelem``.
        :return: the ``size`` frames concatenated along the first axis.
        """
        frame = np.atleast_1d(np.array(toadd))
        if frame.shape != self._default.shape:
            raise SpaceException(
                f"frame of shape {frame.shape} does not match the history's frame shape {self._default.shape}"
            )
        self._frames.appendleft(frame)
        return np.concatenate(self._frames, axis=0).astype(self.dtype, copy=False)

    def reset(self) -> None:
        """Fill every slot with the default frame."""
        self._frames.clear()
        self._frames.extend(self._default for _ in range(self.size))


def _default_frame(value: Any, space: spaces.Space, what: str) -> np.ndarray:
    if value is None:
        return get_default_obs(space)
    arr = np.asarray(value, dtype=space.dtype)
    if arr.shape != tuple(space.shape):
        raise SpaceException(f"{what} has shape {arr.shape}, but one frame of {space} has shape {tuple(space.shape)}")
    return arr


def _stack(queue: HistoryQueue, obs: Any) -> Any:
    if isinstance(obs, Observation):
        stacked = queue.add(obs.obs)
        state = stacked if obs.state is obs.obs else obs.state
        return Observation(stacked, state=state, action_mask=obs.action_mask)
    return queue.add(obs)


class TurnBasedFrameStack(_GameWrapper, TurnBasedEnv):
    """A turn-based game whose players see their last ``numframes`` observations, newest first.

    Player 0's frames and player 1's frames are kept apart; empty slots hold the default observation.
    Observation spaces become :func:`~pantheonrl.common.util.calculate_space` of the game's.

    :param env: the game (a :class:`TurnBasedEnv`, possibly under gymnasium wrappers).
    :param numframes: number of frames per observation.
    :param defaultobs: player 0's empty-slot frame (default: :func:`~pantheonrl.common.util.get_default_obs`).
    :param altenv: an env with player 1's observation space (e.g. ``env.get_dummy_env(1)``), used for its
        default frame; player 1's own space when ``None``.
    :param defaultaltobs: player 1's empty-slot frame (overrides ``altenv``).
    """

    def __init__(
        self,
        env: Any,
        numframes: int,
        defaultobs: Any = None,
        altenv: gym.Env | None = None,
        defaultaltobs: Any = None,
    ) -> None:
        env = _game(env, type(self).__name__, TurnBasedEnv, _TURN)
        self.env = env
        self.numframes = numframes
        super().__init__(
            [calculate_space(space, numframes) for space in env.observation_spaces],
            env.action_spaces,
            probegostart=env.probegostart,
        )
        altspace = altenv.observation_space if altenv is not None else env.observation_spaces[1]
        self.egohistory = HistoryQueue(_default_frame(defaultobs, env.observation_spaces[0], "defaultobs"), numframes)
        self.althistory = HistoryQueue(_default_frame(defaultaltobs, altspace, "defaultaltobs"), numframes)
        self._adopt(env)

    def ego_step(self, action: Any) -> tuple:
        altobs, rews, terminated, truncated, info = split_pair_step(self.env.ego_step(action), "ego_step")
        truncated = self._count_step(terminated, truncated)
        return _stack(self.althistory, altobs), rews, terminated, truncated, info

    def alt_step(self, action: Any) -> tuple:
        egoobs, rews, terminated, truncated, info = split_pair_step(self.env.alt_step(action), "alt_step")
        truncated = self._count_step(terminated, truncated)
        return _stack(self.egohistory, egoobs), rews, terminated, truncated, info

    def multi_reset(self, egofirst: bool) -> Any:
        self._start_count()
        newobs = self.env.multi_reset(egofirst)
        self.egohistory.reset()
        self.althistory.reset()
        return _stack(self.egohistory if egofirst else self.althistory, newobs)


class SimultaneousFrameStack(_GameWrapper, SimultaneousEnv):
    """A simultaneous game whose players see their last ``numframes`` observations, newest first.

    :param env: the game (a :class:`SimultaneousEnv`, possibly under gymnasium wrappers).
    :param numframes: number of frames per observation.
    :param defaultobs: the empty-slot frame of both players (default: each player's
        :func:`~pantheonrl.common.util.get_default_obs`).
    """

    def __init__(self, env: Any, numframes: int, defaultobs: Any = None) -> None:
        env = _game(env, type(self).__name__, SimultaneousEnv, _SIMULTANEOUS)
        self.env = env
        self.numframes = numframes
        super().__init__([calculate_space(space, numframes) for space in env.observation_spaces], env.action_spaces)
        self.egohistory = HistoryQueue(_default_frame(defaultobs, env.observation_spaces[0], "defaultobs"), numframes)
        self.althistory = HistoryQueue(_default_frame(defaultobs, env.observation_spaces[1], "defaultobs"), numframes)
        self._adopt(env)

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        (o0, o1), rews, terminated, truncated, info = split_pair_step(
            self.env.multi_step(ego_action, alt_action), "multi_step"
        )
        truncated = self._count_step(terminated, truncated)
        return (_stack(self.egohistory, o0), _stack(self.althistory, o1)), rews, terminated, truncated, info

    def multi_reset(self) -> tuple[Any, Any]:
        self._start_count()
        o0, o1 = self.env.multi_reset()
        self.egohistory.reset()
        self.althistory.reset()
        return _stack(self.egohistory, o0), _stack(self.althistory, o1)


def frame_wrap(env: Any, numframes: int) -> TurnBasedFrameStack | SimultaneousFrameStack:
    """Stack the last ``numframes`` observations of every player of a 2-player game.

    :param env: a :class:`TurnBasedEnv` or :class:`SimultaneousEnv` (gymnasium wrappers are removed first).
    :param numframes: number of frames per observation.
    :return: a new game of the same family that has taken over the game's partners.
    :raises SpaceException: for any other kind of env or an unsupported observation space.
    """
    env = _game(env, "frame_wrap", (TurnBasedEnv, SimultaneousEnv), "TurnBasedEnv or SimultaneousEnv game")
    if isinstance(env, TurnBasedEnv):
        return TurnBasedFrameStack(env, numframes, altenv=env.get_dummy_env(1))
    return SimultaneousFrameStack(env, numframes)


# ------------------------------------------------------------------------------------------- recording
class _PlayerLog:
    """One player's rows: the observation it acted on, its action, and NOT_DONE/DONE."""

    def __init__(self) -> None:
        self.obs: list[np.ndarray] = []
        self.acts: list[np.ndarray] = []
        self.flags: list[int] = []
        self.pending: np.ndarray | None = None  # observed, not yet acted on
        self.episode_start = 0


class _RecorderMixin:
    """Per-player logs shared by the recorders (see :class:`MultiRecorder`)."""

    n_players: int
    observation_spaces: list[spaces.Space]
    action_spaces: list[spaces.Space]

    def _init_log(self) -> None:
        for kind, space_list in (("observation", self.observation_spaces), ("action", self.action_spaces)):
            for player, space in enumerate(space_list):
                try:
                    get_space_size(space)
                except SpaceException as exc:
                    raise SpaceException(
                        f"{type(self).__name__} cannot record player {player}'s {kind}s: {exc}"
                    ) from exc
        self._logs = [_PlayerLog() for _ in range(self.n_players)]
        self._episode_open = False

    def _log_start_episode(self) -> None:
        if self._episode_open:  # the caller cut the episode short
            self._log_end_episode()
        for log in self._logs:
            log.pending = None
            log.episode_start = len(log.flags)
        self._episode_open = True

    def _log_observe(self, player: int, obs: Any) -> None:
        self._logs[player].pending = _as_space_array(
            obs, self.observation_spaces[player], f"player {player}'s observation"
        )

    def _log_act(self, player: int, action: np.ndarray) -> int:
        log = self._logs[player]
        if log.pending is None:
            raise PlayerException(f"{type(self).__name__}: player {player} acted without an observation to act on")
        log.obs.append(log.pending)
        log.acts.append(action)
        log.flags.append(NOT_DONE)
        log.pending = None
        return len(log.acts) - 1

    def _log_end_episode(self) -> None:
        for log in self._logs:
            if len(log.flags) > log.episode_start:
                log.flags[-1] = DONE
            log.pending = None
            log.episode_start = len(log.flags)
        self._episode_open = False

    def _action_array(self, player: int, action: Any) -> np.ndarray:
        return _as_space_array(action, self.action_spaces[player], f"player {player}'s action")

    # -- public API
    def get_player_transitions(self, player: int) -> TransitionsMinimal:
        """Player ``player``'s (observation, action) rows over the whole run, oldest first.

        :param player: a base player number.
        """
        log = self._logs[player]
        return TransitionsMinimal(
            _stack_rows(log.obs, self.observation_spaces[player]),
            _stack_rows(log.acts, self.action_spaces[player]),
        )

    def get_player_flags(self, player: int) -> np.ndarray:
        """One flag per row of :meth:`get_player_transitions`: DONE on the player's last row of an episode.

        :param player: a base player number.
        """
        return np.array(self._logs[player].flags, dtype=np.int64)

    def get_transitions(self) -> Any:
        raise NotImplementedError

    def write_transition(self, file: str | os.PathLike) -> Any:
        """Save :meth:`get_transitions` (atomically; ``.npy`` is appended when missing).

        :param file: the destination path.
        :return: the path written.
        """
        return self.get_transitions().write_transition(file)


class MultiRecorder(_GameWrapper, _RecorderMixin, MultiAgentEnv):
    """Records every player of any :class:`MultiAgentEnv` over the whole run.

    Each player has its own rows (observation acted on, action, flag), so players may have different spaces;
    a player's flag is DONE on its last row of each episode (an episode cut short by ``reset()`` counts as
    ended). An observation with no action yet is not a row. :class:`TurnBasedRecorder` and
    :class:`SimultaneousRecorder` record the 2-player families in the original single-file formats and count
    as ``MultiRecorder`` instances.

    :param env: the game (gymnasium wrappers are removed first).
    """

    def __init__(self, env: Any) -> None:
        env = _game(env, type(self).__name__, MultiAgentEnv, "MultiAgentEnv")
        self.env = env
        super().__init__(env.observation_spaces, env.action_spaces, n_players=env.n_players)
        self._adopt(env)
        self._init_log()
        self._rec_players: tuple[int, ...] = ()

    def n_reset(self) -> tuple[tuple[int, ...], tuple[Observation, ...]]:
        self._start_count()
        players, obs = self.env.n_reset()
        self._log_start_episode()
        for player, ob in zip(players, obs):
            self._log_observe(player, ob)
        self._rec_players = tuple(players)
        return players, obs

    def n_step(self, actions: list[Any]) -> tuple:
        arrays = [self._action_array(p, a) for p, a in zip(self._rec_players, actions)]
        result = self.env.n_step(actions)
        if not isinstance(result, tuple) or len(result) not in (5, 6):
            raise TypeError(f"{type(self.env).__name__}.n_step must return a 6-tuple (or the legacy 5-tuple)")
        if len(result) == 5:
            players, obs, rewards, done, info = result
            terminated, truncated = bool(done), False
        else:
            players, obs, rewards, terminated, truncated, info = result
            terminated, truncated = bool(terminated), bool(truncated)
        truncated = self._count_step(terminated, truncated)
        for player, action in zip(self._rec_players, arrays):
            self._log_act(player, action)
        if terminated or truncated:
            self._log_end_episode()
        else:
            for player, ob in zip(players, obs):
                self._log_observe(player, ob)
        self._rec_players = tuple(players)
        return players, obs, rewards, terminated, truncated, info

    def get_transitions(self) -> list[TransitionsMinimal]:
        """One :class:`TransitionsMinimal` per player (see :meth:`get_player_transitions`)."""
        return [self.get_player_transitions(p) for p in range(self.n_players)]

    def write_transition(self, file: str | os.PathLike) -> list[Path]:
        """Save each player's rows as ``<file>_player<i>.npy`` in the ``[obs | acts]`` format.

        Read one back with ``TransitionsMinimal.read_transition(path, obs_space_i, act_space_i)``.

        :param file: the destination path (a trailing ``.npy`` is removed before the player suffix).
        :return: the paths written, one per player.
        """
        base = Path(file)
        if base.suffix == ".npy":
            base = base.with_suffix("")
        return [
            self.get_player_transitions(p).write_transition(base.with_name(f"{base.name}_player{p}.npy"))
            for p in range(self.n_players)
        ]


class TurnBasedRecorder(_GameWrapper, _RecorderMixin, TurnBasedEnv):
    """Records both players of a turn-based game over the whole run.

    :meth:`get_transitions` gives the rows in play order, each with the observation the mover acted on, its
    action and a flag: :data:`EGO_NOT_DONE`/:data:`ALT_NOT_DONE` for player 0/1, :data:`EGO_DONE`/
    :data:`ALT_DONE` when the episode ended after that move (termination, truncation, or a ``reset()`` that
    cut it short). A trailing observation without an action is not a row.

    :param env: the game (a :class:`TurnBasedEnv`, possibly under gymnasium wrappers).
    """

    def __init__(self, env: Any) -> None:
        env = _game(env, type(self).__name__, TurnBasedEnv, _TURN)
        self.env = env
        super().__init__(env.observation_spaces, env.action_spaces, probegostart=env.probegostart)
        self._adopt(env)
        self._init_log()
        self._turns: list[list[int]] = []  # [player, row in that player's log, episode ended after it]
        self._turn_episode_start = 0

    def _log_end_episode(self) -> None:
        super()._log_end_episode()
        if len(self._turns) > self._turn_episode_start:
            self._turns[-1][2] = 1
        self._turn_episode_start = len(self._turns)

    def _play(self, player: int, method: Any, action: Any) -> tuple:
        array = self._action_array(player, action)
        obs, rews, terminated, truncated, info = split_pair_step(method(action), method.__name__)
        truncated = self._count_step(terminated, truncated)
        self._turns.append([player, self._log_act(player, array), 0])
        if terminated or truncated:
            self._log_end_episode()
        else:
            self._log_observe(1 - player, obs)
        return obs, rews, terminated, truncated, info

    def ego_step(self, action: Any) -> tuple:
        return self._play(0, self.env.ego_step, action)

    def alt_step(self, action: Any) -> tuple:
        return self._play(1, self.env.alt_step, action)

    def multi_reset(self, egofirst: bool) -> Any:
        self._start_count()
        newobs = self.env.multi_reset(egofirst)
        self._log_start_episode()
        self._log_observe(0 if egofirst else 1, newobs)
        return newobs

    def get_transitions(self) -> TurnBasedTransitions:
        """Both players' rows in play order (both players must have equally shaped spaces)."""
        for kind, pair in (("observation", self.observation_spaces), ("action", self.action_spaces)):
            if pair[0].shape != pair[1].shape:
                raise SpaceException(
                    f"TurnBasedTransitions keeps both players' rows in one array, but player 0's {kind} "
                    f"space "
                    f"{pair[0]} and player 1's {pair[1]} differ in shape; use get_player_transitions(0) and "
                    f"get_player_transitions(1)"
                )
        obs = [self._logs[p].obs[row] for p, row, _ in self._turns]
        acts = [self._logs[p].acts[row] for p, row, _ in self._turns]
        flags = np.array([p + 2 * done for p, _, done in self._turns], dtype=np.int64)
        return TurnBasedTransitions(
            _stack_rows(obs, self.observation_spaces[0]), _stack_rows(acts, self.action_spaces[0]), flags
        )


class SimultaneousRecorder(_GameWrapper, _RecorderMixin, SimultaneousEnv):
    """Records both players of a simultaneous game over the whole run.

    Each row holds both players' observations and actions at one step and a flag, :data:`DONE` when the
    episode ended after that step (termination, truncation, or a ``reset()`` that cut it short).

    :param env: the game (a :class:`SimultaneousEnv`, possibly under gymnasium wrappers).
    """

    def __init__(self, env: Any) -> None:
        env = _game(env, type(self).__name__, SimultaneousEnv, _SIMULTANEOUS)
        self.env = env
        super().__init__(env.observation_spaces, env.action_spaces)
        self._adopt(env)
        self._init_log()

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        arrays = (self._action_array(0, ego_action), self._action_array(1, alt_action))
        (o0, o1), rews, terminated, truncated, info = split_pair_step(
            self.env.multi_step(ego_action, alt_action), "multi_step"
        )
        truncated = self._count_step(terminated, truncated)
        self._log_act(0, arrays[0])
        self._log_act(1, arrays[1])
        if terminated or truncated:
            self._log_end_episode()
        else:
            self._log_observe(0, o0)
            self._log_observe(1, o1)
        return (o0, o1), rews, terminated, truncated, info

    def multi_reset(self) -> tuple[Any, Any]:
        self._start_count()
        o0, o1 = self.env.multi_reset()
        self._log_start_episode()
        self._log_observe(0, o0)
        self._log_observe(1, o1)
        return o0, o1

    def get_transitions(self) -> SimultaneousTransitions:
        """Both players' rows, one per step."""
        ego, alt = self.get_player_transitions(0), self.get_player_transitions(1)
        return SimultaneousTransitions(ego.obs, ego.acts, alt.obs, alt.acts, self.get_player_flags(0))


# The 2-player recorders keep the original's base class for isinstance checks.
MultiRecorder.register(TurnBasedRecorder)
MultiRecorder.register(SimultaneousRecorder)


def recorder_wrap(env: Any) -> TurnBasedRecorder | SimultaneousRecorder | MultiRecorder:
    """Record every player of a game.

    :param env: a :class:`TurnBasedEnv` (gives a :class:`TurnBasedRecorder`), a :class:`SimultaneousEnv`
        (a :class:`SimultaneousRecorder`) or any other :class:`MultiAgentEnv` (a :class:`MultiRecorder`);
        gymnasium wrappers are removed first.
    :raises SpaceException: if ``env`` is not a :class:`MultiAgentEnv` or a space cannot be recorded.
    """
    env = _game(env, "recorder_wrap", MultiAgentEnv, "MultiAgentEnv game")
    if isinstance(env, TurnBasedEnv):
        return TurnBasedRecorder(env)
    if isinstance(env, SimultaneousEnv):
        return SimultaneousRecorder(env)
    return MultiRecorder(env)
