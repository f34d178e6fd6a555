"""The server-authoritative Overcooked game (docs/web.md sections 3.1 to 3.5), independent of any transport.

:class:`Game` owns the ``overcooked`` MDP, its state and the clock. A background tick thread steps the MDP every
``tick_ms`` under the game's lock, taking at most one action per seat from the seats' one-slot mailboxes (STAY
when a mailbox is empty, recorded as a fallback), and calls ``emit(payload)`` with the new state. Humans only
post key tokens (:meth:`Game.key`, which never waits for the tick); AI seats compute in their own threads
(:mod:`pantheonrl.play.ai`). The game ends at its horizon, when a player leaves or disconnects
(:meth:`Game.leave`), after ``idle_timeout_s`` without human input, or on server shutdown; the trajectory is
then written (:mod:`pantheonrl.play.record`) and ``on_end`` callbacks free the game's slot.

:class:`GameRegistry` is the admission control: at most ``max_games`` concurrent games (default 4) and one per
user; beyond that :class:`GameCapacityError` ("server at capacity").

The payload passed to ``emit`` (JSON data)::

    {"type": "state", "game_id": str, "seq": int, "tick": int (ticks played), "horizon": int,
     "state": OvercookedState.to_dict(), "score": float (sparse, cumulative),
     "time_left": int (ticks), "time_left_s": float, "reward": {"sparse": float, "shaped": float},
     "joint_action": [token, token] | None (the last applied, None before the first tick),
     "fallback": [seat, ...], "done": bool, "ended_by": None | "horizon" | "leave" | "disconnect" | "idle" |
     "shutdown" | "error", "left_seat": int | None, "episode_id": str, "record": str | None (the JSON file name,
     once written)}
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from overcooked import Action

from pantheonrl.common.agents import Agent
from pantheonrl.envs.overcooked import OvercookedMultiEnv
from pantheonrl.errors import PlayerException, UserInputError, unknown_choice
from pantheonrl.play.ai import AISeat
from pantheonrl.play.config import ACTION_NAMES, STAY, PlayConfig
from pantheonrl.play.mailbox import Mailbox
from pantheonrl.play.record import EpisodeRecorder, RecordPaths

__all__ = ["END_REASONS", "Game", "GameCapacityError", "GameRegistry"]

log = logging.getLogger(__name__)

END_REASONS = ("horizon", "leave", "disconnect", "idle", "shutdown", "error")

Emit = Callable[[dict[str, Any]], Any]


class GameCapacityError(UserInputError):
    """No game can be admitted now: the server is at capacity, or the user already plays a game."""


class Game:
    """One Overcooked game between two seats (humans or AIs), played at a fixed tick.

    :param config: the game's :class:`~pantheonrl.play.config.PlayConfig`.
    :param emit: called with each payload (see the module docstring) from the tick thread, never under the
        game's lock; an exception it raises is logged and the game goes on.
    :param clock: monotonic seconds; tests pass a fake one.
    :param sleep: ``sleep(seconds)`` between ticks; by default a wait that :meth:`stop` interrupts.
    :param record_dir: where the trajectory record is written at the end (``None``: no record).
    :param users: the user id of each human seat (``None``: not bound yet, see :meth:`bind`).
    :param agents: ``{seat: Agent}`` to play AI seats instead of what their specs name (tests, experiments).
    :param on_end: callbacks ``f(game)`` run once after the game ended and its record was written.
    :param game_id: the game's id (default: a new uuid4 hex).
    :param meta: extra keys written into the record (a study's ``participant`` and game index, say).
    """

    def __init__(
        self,
        config: PlayConfig,
        emit: Emit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
        record_dir: str | Path | None = None,
        users: Sequence[str | None] = (),
        agents: Mapping[int, Agent] | None = None,
        on_end: Sequence[Callable[[Game], Any]] = (),
        game_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(config, PlayConfig):
            raise TypeError(f"config must be a PlayConfig (parse plain data with PlayConfig.from_dict), got "
                            f"{type(config).__name__}")
        self.id = game_id or uuid.uuid4().hex
        self.episode_id = uuid.uuid4().hex
        self.meta = dict(meta or {})  # extra JSON keys of the record (e.g. a study's participant)
        self.config = config
        self._emit_fn = emit
        self._clock = clock
        self._sleep = sleep
        self.record_dir = Path(record_dir) if record_dir is not None else None
        self.users: list[str | None] = [None, None]
        for seat, user in enumerate(users):
            if user is not None:
                self.bind(seat, user)
        env = OvercookedMultiEnv(config.layout, horizon=config.horizon, old_dynamics=config.old_dynamics)
        self.mdp = env.mdp
        self.state = self.mdp.get_standard_start_state()
        self.mailboxes = (Mailbox(), Mailbox())
        agents = dict(agents or {})
        for seat in agents:
            if seat not in config.ai_seats:
                raise PlayerException(f"agents[{seat}]: seat {seat} is not an AI seat; AI seats: {config.ai_seats}")
        self.ai: dict[int, AISeat] = {
            seat: AISeat(config.seats[seat], seat, config, self.mailboxes[seat], agent=agents.get(seat))
            for seat in config.ai_seats
        }
        self.tick = 0
        self.score = 0.0
        self.shaped_return = 0.0
        self.done = False
        self.ended_by: str | None = None
        self.left_seat: int | None = None
        self.fallbacks = [0, 0]
        self.ignored_keys = [0, 0]
        self.record_paths: RecordPaths | None = None
        self.recorder: EpisodeRecorder | None = None
        self._last_joint: list[int] | None = None
        self._last_fallback: list[int] = []
        self._last_reward = (0.0, 0.0)
        self._last_input_tick = 0
        self._tick_times: list[float] = []
        self._t0: float | None = None
        self._lock = threading.RLock()
        self._emit_lock = threading.Lock()
        self._seq = 0
        self._final_emitted = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._began = False
        self._ended_callbacks_run = False
        self._on_end = list(on_end)

    # ------------------------------------------------------------------ seats and input
    def bind(self, seat: int, user_id: str) -> None:
        """Bind a human seat to a user (its records say ``human:<user id>``)."""
        if seat not in (0, 1) or not self.config.seats[seat].is_human:
            raise PlayerException(f"seat {seat!r} is not a human seat of this game; human seats: "
                                  f"{self.config.human_seats}")
        if not isinstance(user_id, str) or not user_id:
            raise PlayerException(f"a user id must be a non-empty string, got {user_id!r}")
        if self.users[seat] not in (None, user_id):
            raise PlayerException(f"seat {seat} is taken; free human seats: {self.free_seats()}")
        self.users[seat] = user_id

    def free_seats(self) -> list[int]:
        """Human seats no user holds yet."""
        return [s for s in self.config.human_seats if self.users[s] is None]

    def seat_of(self, user_id: str) -> int | None:
        return next((s for s in (0, 1) if self.users[s] == user_id), None)

    def key(self, seat: int, token: Any) -> bool:
        """A human's key token for ``seat``; returns whether it was accepted.

        It replaces the seat's pending action (no backlog) and never waits for the tick. Tokens outside
        :data:`~pantheonrl.play.config.KEY_TOKENS` are dropped and counted; keys for AI seats (spectators) or
        after the end are ignored and counted.
        """
        if isinstance(seat, bool) or seat not in (0, 1):
            return False
        if self.done or not self.config.seats[seat].is_human:
            self.ignored_keys[seat] += 1
            return False
        return self.mailboxes[seat].put(token)

    # ------------------------------------------------------------------ running
    @property
    def started(self) -> bool:
        """:meth:`start` was called (the tick thread runs or ran)."""
        return self._thread is not None

    def start(self) -> None:
        """Emit the start state and run the tick thread (``tick_ms`` after the start state, then every tick)."""
        with self._lock:  # two racing callers (two "ready" messages) start one loop
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name=f"play-game-{self.id[:8]}", daemon=True)
        first = self._begin()
        if first is not None:
            self._emit(first)
        self._thread.start()

    def stop(self, reason: str = "shutdown") -> None:
        """End the game (as :meth:`leave` without a seat): stop the loop, write the record, free the slot."""
        if reason not in END_REASONS:
            raise PlayerException(unknown_choice("end reason", reason, END_REASONS))
        self._end(reason, None)

    def leave(self, seat: int | None, reason: str = "leave") -> None:
        """A player left (``"leave"``) or its connection dropped (``"disconnect"``): the game ends for both
        seats, the trajectory is written with ``ended_by`` and the slot is freed. Idempotent."""
        if reason not in ("leave", "disconnect"):
            raise PlayerException(f"leave reason must be 'leave' or 'disconnect', got {reason!r}")
        self._end(reason, seat)

    def step_once(self, *, ai_timeout: float = 0.0) -> dict[str, Any] | None:
        """Play one tick now, without the tick thread (tests, offline runs); returns the emitted payload, or
        ``None`` once the game is over.

        :param ai_timeout: wait up to this many seconds for each AI seat due on this tick to post its action
            (0: do not wait, as the real-time loop never does).
        """
        if self._thread is not None:
            raise RuntimeError("step_once drives a game whose tick thread was not started; call one or the other")
        first = self._begin()
        if first is not None:
            self._emit(first)
        if self.done:
            return None
        if ai_timeout > 0:
            for ai in self.ai.values():
                if ai.due(self.tick):
                    ai.wait_for(self.tick, ai_timeout)
        payload, ended = self._advance()
        if payload is not None:
            self._emit(payload)
        if ended:
            self._after_end()
        return payload

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the tick thread to finish; returns whether it did."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # ------------------------------------------------------------------ timing
    @property
    def tick_times(self) -> list[float]:
        """The game clock at the start of every tick played."""
        return list(self._tick_times)

    def jitter_ms(self) -> dict[str, float]:
        """Tick jitter: percentiles of (actual interval between ticks - ``tick_ms``), in milliseconds."""
        times = np.asarray(self._tick_times, dtype=np.float64)
        if len(times) < 2:
            return {"n": 0, "p50": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
        late = np.diff(times) * 1000.0 - self.config.tick_ms
        return {"n": len(late), "p50": float(np.percentile(late, 50)), "p99": float(np.percentile(late, 99)),
                "max": float(late.max()), "mean": float(late.mean())}

    # ------------------------------------------------------------------ describing
    def players(self) -> list[dict[str, Any]]:
        """Per seat: ``{"seat", "kind": "human:<user id>" | "ai:<agent>", ...}`` (saved agents with their
        SHA-256)."""
        out = []
        for seat in (0, 1):
            if seat in self.ai:
                out.append(self.ai[seat].describe())
            else:
                out.append({"seat": seat, "kind": f"human:{self.users[seat] or 'anonymous'}"})
        return out

    def info(self) -> dict[str, Any]:
        """What a client needs once, before the first state: layout, terrain, seats, pace (JSON data)."""
        return {"game_id": self.id, "episode_id": self.episode_id, "layout": self.config.layout,
                "terrain": [list(row) for row in self.mdp.terrain_mtx], "horizon": self.config.horizon,
                "tick_ms": self.config.tick_ms, "ticks_per_ai_action": self.config.ticks_per_ai_action,
                "players": self.players(), "state": self.state.to_dict()}

    def stats(self) -> dict[str, Any]:
        """Timing and input statistics (also saved in the record)."""
        return {
            "fallbacks": list(self.fallbacks),
            "ignored_keys": list(self.ignored_keys),
            "mailboxes": [m.counters() for m in self.mailboxes],
            "ai": {str(seat): {"actions": ai.actions, "errors": ai.errors,
                               "compute_ms_p50": float(np.percentile(ai.compute_s, 50) * 1000) if ai.compute_s
                               else None}
                   for seat, ai in self.ai.items()},
            "jitter_ms": self.jitter_ms(),
        }

    # ------------------------------------------------------------------ internals
    def _begin(self) -> dict[str, Any] | None:
        with self._lock:
            if self._began:
                return None
            self._began = True
            self._t0 = self._clock()
            self._last_input_tick = 0
            self.recorder = EpisodeRecorder(self.config, self.mdp, self.players(), episode_id=self.episode_id,
                                            game_id=self.id)
            for ai in self.ai.values():
                ai.publish(0, self.state)
                ai.start()
            return self._payload()

    def _loop(self) -> None:
        period = self.config.tick_ms / 1000.0
        next_at = self._clock() + period
        try:
            while not self._stop.is_set():
                delay = next_at - self._clock()
                if delay > 0:
                    if self._sleep is None:
                        self._stop.wait(delay)
                    else:
                        self._sleep(delay)
                if self._stop.is_set():
                    break
                payload, ended = self._advance()
                if payload is not None:
                    self._emit(payload)
                if ended:
                    self._after_end()
                    break
                next_at += period
                now = self._clock()
                if now - next_at > period:  # more than a tick behind: do not burst to catch up
                    next_at = now
        except Exception:
            log.exception("game %s: the tick loop failed; ending the game", self.id)
            self._end("error", None)

    def _advance(self) -> tuple[dict[str, Any] | None, bool]:
        """One tick under the lock; returns (payload, whether the game ended on this tick)."""
        with self._lock:
            if self.done:
                return None, False
            now = self._clock()
            self._tick_times.append(now)
            t = self.tick
            joint: list[int] = []
            fallback: list[int] = []
            for seat in (0, 1):
                ai = self.ai.get(seat)
                if ai is not None and not ai.due(t):
                    joint.append(STAY)  # the agent's pace (ticks_per_ai_action), not a fallback
                    continue
                action = self.mailboxes[seat].take()
                if action is None:
                    action = STAY
                    fallback.append(seat)
                    self.fallbacks[seat] += 1
                elif ai is None:
                    self._last_input_tick = t + 1
                joint.append(action)
            before = self.state
            after, infos = self.mdp.get_state_transition(before, tuple(Action.INDEX_TO_ACTION[a] for a in joint))
            sparse = float(sum(infos["sparse_reward_by_agent"]))
            shaped = float(sum(infos["shaped_reward_by_agent"]))
            self.score += sparse
            self.shaped_return += shaped
            self.state = after
            self.tick = t + 1
            self.recorder.add(tick=t, state=before, joint_action=joint, fallback=fallback, sparse_reward=sparse,
                              shaped_reward=shaped, score=self.score, wall_time=now - self._t0,
                              time_left=self.config.horizon - self.tick)
            self._last_joint, self._last_fallback, self._last_reward = joint, fallback, (sparse, shaped)
            ended = None
            if self.tick >= self.config.horizon:
                ended = "horizon"
            elif self.config.human_seats and self.tick - self._last_input_tick >= self.config.idle_ticks:
                ended = "idle"
            if ended is None:
                for ai in self.ai.values():
                    ai.publish(self.tick, self.state)
                return self._payload(), False
            self._finish_locked(ended, None)
            return self._payload(), True

    def _finish_locked(self, reason: str, seat: int | None) -> None:
        """Mark the game over and write its record (the caller holds the lock)."""
        self.done = True
        self.ended_by = reason
        self.left_seat = seat
        self._stop.set()
        for ai in self.ai.values():
            ai.stop(timeout=0.0)
        if self.record_dir is not None and self.recorder is not None:
            try:
                self.record_paths = self.recorder.save(
                    self.record_dir, self.state, ended_by=reason,
                    extra={"left_seat": seat, "stats": self.stats(), "tick_ms": self.config.tick_ms,
                           "ticks_per_ai_action": self.config.ticks_per_ai_action, "players": self.players(),
                           **self.meta},
                )
            except Exception:
                log.exception("game %s: could not write the trajectory record to %s", self.id, self.record_dir)

    def _end(self, reason: str, seat: int | None) -> None:
        payload = None
        with self._lock:
            if not self.done:
                if self.recorder is None:  # never started: an empty record still says who left and why
                    self._began = True
                    self._t0 = self._clock()
                    self.recorder = EpisodeRecorder(self.config, self.mdp, self.players(),
                                                    episode_id=self.episode_id, game_id=self.id)
                self._finish_locked(reason, seat)
                payload = self._payload()
        if payload is not None:
            self._emit(payload)
        self._stop.set()
        self.join(timeout=2.0)
        self._after_end()

    def _after_end(self) -> None:
        """Join the AI threads and run the ``on_end`` callbacks, once."""
        with self._lock:
            if self._ended_callbacks_run or not self.done:
                return
            self._ended_callbacks_run = True
        for ai in self.ai.values():
            ai.stop(timeout=1.0)
        for callback in self._on_end:
            try:
                callback(self)
            except Exception:
                log.exception("game %s: an on_end callback failed", self.id)

    def _payload(self) -> dict[str, Any]:
        horizon = self.config.horizon
        time_left = horizon - self.tick
        return {
            "type": "state",
            "game_id": self.id,
            "tick": self.tick,
            "horizon": horizon,
            "state": self.state.to_dict(),
            "score": self.score,
            "time_left": time_left,
            "time_left_s": round(time_left * self.config.tick_ms / 1000.0, 3),
            "reward": {"sparse": self._last_reward[0], "shaped": self._last_reward[1]},
            "joint_action": None if self._last_joint is None else [ACTION_NAMES[a] for a in self._last_joint],
            "fallback": list(self._last_fallback),
            "done": self.done,
            "ended_by": self.ended_by,
            "left_seat": self.left_seat,
            "episode_id": self.episode_id,
            "record": self.record_paths.json.name if self.record_paths is not None else None,
        }

    def _emit(self, payload: dict[str, Any]) -> None:
        with self._emit_lock:
            if self._final_emitted:
                return  # a tick computed before the end, emitted after it: the end payload stays the last one
            self._seq += 1
            payload["seq"] = self._seq
            if payload["done"]:
                self._final_emitted = True
            try:
                self._emit_fn(payload)
            except Exception:
                log.exception("game %s: emit failed", self.id)


class GameRegistry:
    """Admission control and lookup for the running games of one server.

    :param max_games: concurrent games allowed (``play.max_games``, default 4).
    :param record_dir: where games write their records (passed to each :class:`Game`).
    :param game_kwargs: further :class:`Game` keyword arguments for every game (``clock``, ``sleep``).
    """

    def __init__(self, max_games: int = 4, *, record_dir: str | Path | None = None, **game_kwargs: Any) -> None:
        if isinstance(max_games, bool) or not isinstance(max_games, int) or max_games < 1:
            raise PlayerException(f"max_games must be a positive integer, got {max_games!r}; e.g. 4")
        self.max_games = max_games
        self.record_dir = record_dir
        self.game_kwargs = game_kwargs
        self._lock = threading.Lock()
        self._games: dict[str, Game | None] = {}  # None: admitted, being built
        self._users: dict[str, str] = {}  # user id -> game id

    def __len__(self) -> int:
        with self._lock:
            return len(self._games)

    def _admit(self, user_id: str, game_id: str) -> None:
        if user_id in self._users:
            raise GameCapacityError(
                f"user {user_id!r} already plays game {self._users[user_id]}; leave it before starting or joining "
                "another (one game per user)"
            )
        if len(self._games) >= self.max_games:
            raise GameCapacityError(
                f"server at capacity: {len(self._games)} games are running (play.max_games = {self.max_games}); "
                "try again when one ends"
            )

    def create(self, config: PlayConfig, emit: Emit, *, user_id: str, seat: int | None = None,
               **kwargs: Any) -> Game:
        """Admit and build a game for ``user_id`` (not started: call :meth:`Game.start`).

        :param seat: the human seat the user takes (default: the first human seat; ``None`` with no human
            seat: the user spectates an AI-AI game).
        :raises GameCapacityError: at capacity, or the user already plays a game.
        """
        if not isinstance(user_id, str) or not user_id:
            raise PlayerException(f"a user id must be a non-empty string, got {user_id!r}")
        game_id = uuid.uuid4().hex
        with self._lock:
            self._admit(user_id, game_id)
            self._games[game_id] = None
            self._users[user_id] = game_id
        try:
            if seat is None and config.human_seats:
                seat = config.human_seats[0]
            users: list[str | None] = [None, None]
            if seat is not None:
                if seat not in config.human_seats:
                    raise PlayerException(f"seat {seat!r} is not a human seat; human seats: {config.human_seats}")
                users[seat] = user_id
            options = {"record_dir": self.record_dir, **self.game_kwargs, **kwargs}
            options["on_end"] = [*options.get("on_end", ()), self._release]
            game = Game(config, emit, users=users, game_id=game_id, **options)
        except BaseException:
            with self._lock:
                self._games.pop(game_id, None)
                self._users.pop(user_id, None)
            raise
        with self._lock:
            self._games[game_id] = game
        return game

    def join(self, game_id: str, user_id: str, seat: int | None = None) -> Game:
        """Bind ``user_id`` to a free human seat of a running game (human-human pairing)."""
        with self._lock:
            game = self._games.get(game_id)
            if game is None or game.done:
                raise PlayerException(f"no open game {game_id!r}")
            if self._users.get(user_id) == game_id:
                return game
            self._admit_user_only(user_id)
            free = game.free_seats()
            if seat is None:
                if not free:
                    raise PlayerException(f"game {game_id} has no free human seat")
                seat = free[0]
            game.bind(seat, user_id)
            self._users[user_id] = game_id
        return game

    def _admit_user_only(self, user_id: str) -> None:
        if user_id in self._users:
            raise GameCapacityError(f"user {user_id!r} already plays game {self._users[user_id]}; leave it first")

    def get(self, game_id: str) -> Game | None:
        with self._lock:
            return self._games.get(game_id)

    def game_of(self, user_id: str) -> Game | None:
        """The game ``user_id`` plays or spectates, if any."""
        with self._lock:
            game_id = self._users.get(user_id)
            return self._games.get(game_id) if game_id else None

    def games(self) -> list[Game]:
        with self._lock:
            return [g for g in self._games.values() if g is not None]

    def disconnect(self, user_id: str, reason: str = "disconnect") -> Game | None:
        """The user's socket closed (or they left): end their game for everyone, write it, free the slot."""
        game = self.game_of(user_id)
        if game is not None:
            game.leave(game.seat_of(user_id), reason)
        return game

    def shutdown(self) -> None:
        """End every running game (``ended_by: "shutdown"``), flushing their records."""
        for game in self.games():
            game.stop("shutdown")

    def _release(self, game: Game) -> None:
        with self._lock:
            self._games.pop(game.id, None)
            for user in [u for u, g in self._users.items() if g == game.id]:
                del self._users[user]
