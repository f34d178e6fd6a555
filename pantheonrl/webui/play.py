"""Human play in the dashboard (docs/web.md section 3): the ``/play`` page, the ``/play`` Socket.IO namespace that
connects browsers to games the server runs (:mod:`pantheonrl.play`), and the recorded games.

The server owns every game and its clock; a browser sends only key tokens (``up``, ``down``, ``left``, ``right``,
``interact``, ``stay``) and draws the states it is sent. Sockets are authenticated on ``connect`` from the Flask
session (no session: refused) and python-engineio's same-origin check stays on (a foreign ``Origin`` is refused);
every event re-checks that the socket's user holds the seat or the game. Events per socket are rate-limited.

Messages (namespace ``/play``), client to server, each answered through the acknowledgement callback:

- ``create``: ``{"mode": "human-ai" | "human-human" | "ai-ai", "layout": str, "agent": AGENT, "agent2": AGENT,
  "seat": 0 | 1, "horizon": int, "tick_ms": int, "ticks_per_ai_action": int}`` where AGENT is a scripted partner
  (``greedy``, ``random``, ``stay``, ...) or one of the user's saved agents (``<job id>/<kind>``) -> ``{"game":
  info, "seat": int | None}`` or ``{"error": message}``;
- ``join``: ``{"game_id": str}`` (human-human: the second player) -> the same;
- ``ready``: the page has drawn the terrain; the game starts when every human seat is taken and ready;
- ``key``: a key token; ``leave``: end the game. Closing the tab ends it too (``ended_by: "disconnect"``).

Server to client: ``state`` (each tick's payload, see :mod:`pantheonrl.play.game`) and ``joined`` (a seat was
taken). Records go to ``DATA_DIR/trajectories/<user>/<episode id>.json`` (and ``.npy``, the transitions format
that ``pantheonrl bc`` reads), for every human player of the game.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, send_from_directory, session
from werkzeug.exceptions import HTTPException

from pantheonrl.errors import ConfigError, UserInputError, check_known_keys, unknown_choice
from pantheonrl.webui.accounts import UserRecord
from pantheonrl.webui.auth import current_user, login_required
from pantheonrl.webui.names import check_label

__all__ = ["MODES", "NAMESPACE", "PlayService", "install", "play_bp"]

log = logging.getLogger("pantheonrl.webui")

NAMESPACE = "/play"
MODES = ("human-ai", "human-human", "ai-ai")
RECORDS = "trajectories"
STUDIES = "studies"
EVENTS_PER_SECOND = 40  # a held key repeats at ~30/s; more is dropped (and counted)
SOCKETS_PER_USER = 4  # each websocket holds a server thread
LOBBY_TIMEOUT_S = 120  # a game nobody started (a partner who never came, a page that never got ready) ends
_CREATE_KEYS = ("mode", "layout", "agent", "agent2", "seat", "horizon", "tick_ms", "ticks_per_ai_action")
RECORD_FORMATS = {"json": "application/json", "npy": "application/octet-stream"}

play_bp = Blueprint("play", __name__)


class PlayService:
    """The games of one server and the sockets that play them.

    :param data_dir: the data root (records under ``trajectories/``).
    :param emit: ``emit(event, data, room)`` to a game's room.
    :param max_games: concurrent games (admission control).
    """

    def __init__(self, data_dir: Path, emit: Any, *, max_games: int = 4, study: Any = None) -> None:
        from pantheonrl.play import GameRegistry

        self.records = data_dir / RECORDS
        self.studies = data_dir / STUDIES
        self.study = study  # a pantheonrl.play.study.Study, or None
        self.progress: dict[str, int] = {}  # study participant -> their next game
        self.emit = emit
        self.registry = GameRegistry(max_games)
        self._lock = threading.Lock()
        self.sockets: dict[str, str] = {}  # sid -> user name
        self.versions: dict[str, int] = {}  # sid -> the session version it connected with
        self.seat_socket: dict[str, str] = {}  # user name -> the sid that holds their seat
        self.ready: dict[str, set[str]] = {}  # game id -> users ready
        self.dropped: dict[str, int] = {}  # sid -> events dropped by the rate limit
        self._rate: dict[str, tuple[float, float]] = {}  # sid -> (tokens, last time)
        self._summaries: dict[tuple[str, int], dict[str, Any]] = {}  # (record path, mtime) -> its summary

    # ------------------------------------------------------------------ sockets
    def connect(self, sid: str, user: UserRecord) -> None:
        """Register a socket of ``user`` (at most :data:`SOCKETS_PER_USER` at once)."""
        with self._lock:
            if sum(name == user.name for name in self.sockets.values()) >= SOCKETS_PER_USER:
                raise ConnectionRefusedError(f"at most {SOCKETS_PER_USER} play connections per user")
            self.sockets[sid] = user.name
            self.versions[sid] = user.session_version

    def allow(self, sid: str, now: float | None = None) -> bool:
        """A token bucket per live socket: :data:`EVENTS_PER_SECOND`, bursts up to the same."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if sid not in self.sockets:
                return False
            tokens, last = self._rate.get(sid, (float(EVENTS_PER_SECOND), now))
            tokens = min(float(EVENTS_PER_SECOND), tokens + (now - last) * EVENTS_PER_SECOND)
            if tokens < 1:
                self._rate[sid] = (tokens, now)
                self.dropped[sid] = self.dropped.get(sid, 0) + 1
                return False
            self._rate[sid] = (tokens - 1, now)
            return True

    def forget(self, sid: str) -> str | None:
        with self._lock:
            self._rate.pop(sid, None)
            self.dropped.pop(sid, None)
            self.versions.pop(sid, None)
            return self.sockets.pop(sid, None)

    def _hold_seat(self, user_name: str, sid: str, game: Any) -> None:
        """Bind the user's seat to ``sid``; if that socket closed meanwhile (a tab closed while an agent loaded),
        the game ends at once instead of waiting for a socket that is gone."""
        with self._lock:
            alive = self.sockets.get(sid) == user_name
            if alive:
                self.seat_socket[user_name] = sid
        if not alive:
            self.registry.disconnect(user_name, "disconnect")
            raise ConfigError("the connection closed while the game was being made")

    # ------------------------------------------------------------------ games
    def user_dir(self, user_name: str) -> Path:
        return self.records / check_label(user_name, "user name")

    def config_from(self, user: UserRecord, data: Any) -> tuple[Any, int | None]:
        """The :class:`~pantheonrl.play.PlayConfig` and the user's seat a ``create`` message describes."""
        from pantheonrl.play import PlayConfig
        from pantheonrl.webui import userjobs

        if not isinstance(data, dict):
            raise ConfigError("a create message is an object such as {\"mode\": \"human-ai\", \"layout\": "
                              "\"cramped_room\", \"agent\": \"greedy\"}")
        check_known_keys(data, _CREATE_KEYS, "play option")
        mode = data.get("mode", "human-ai")
        if mode not in MODES:
            raise ConfigError(unknown_choice("play mode", str(mode), MODES))
        seat = data.get("seat", 0)
        if seat not in (0, 1) or isinstance(seat, bool):
            raise ConfigError(f"seat: {seat!r} must be 0 or 1 (the chef you play)")
        agent, agent2 = data.get("agent", "greedy"), data.get("agent2", data.get("agent", "greedy"))
        if mode == "human-ai":
            seats = [{"kind": "human"}, {"kind": "ai", "agent": agent}]
            if seat == 1:
                seats.reverse()
        elif mode == "human-human":
            seats = [{"kind": "human"}, {"kind": "human"}]
        else:
            seats, seat = [{"kind": "ai", "agent": agent}, {"kind": "ai", "agent": agent2}], None
        message = {"layout": data.get("layout", "cramped_room"), "seats": seats,
                   **{k: data[k] for k in ("horizon", "tick_ms", "ticks_per_ai_action") if k in data}}
        resolve = userjobs.resolver(user)

        def resolve_agent(ref: str) -> Path:
            from pantheonrl.webui.submission import parse_agent_ref

            parsed = parse_agent_ref(ref)
            if parsed is None:
                raise ConfigError(f"agent {ref!r:.80} is neither a scripted partner nor a saved agent "
                                  f"'<job id>/<kind>' of yours")
            return resolve(*parsed)

        return PlayConfig.from_dict(message, resolve_agent=resolve_agent), seat

    def create(self, user: UserRecord, sid: str, data: Any) -> Any:
        meta: dict[str, Any] = {}
        if isinstance(data, dict) and ("participant" in data or "study_game" in data):
            data, meta = self._study_game(data)
        elif self.study is not None:
            raise ConfigError("this server runs a study: start it with a participant id")
        config, seat = self.config_from(user, data)
        game = self.registry.create(config, self._emitter(), user_id=user.name, seat=seat,
                                    record_dir=self.user_dir(user.name), on_end=[self._ended], meta=meta)
        with self._lock:
            self.ready[game.id] = set()
        self._hold_seat(user.name, sid, game)
        timer = threading.Timer(LOBBY_TIMEOUT_S, lambda: None if game.started or game.done else game.stop("idle"))
        timer.daemon = True
        timer.start()
        log.info("game %s created by %r: %s on %s", game.id, user.name, data.get("mode", "human-ai"), config.layout)
        return game, seat

    def _study_game(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A study's game: its create message from the study file (the browser names only the participant and
        the game's index) and the record's extra keys."""
        from pantheonrl.play.study import check_participant

        if self.study is None:
            raise ConfigError("this server runs no study; start one with: pantheonrl play --study FILE")
        check_known_keys(data, ("participant",), "study option")
        participant = check_participant(data.get("participant"))
        with self._lock:  # the server, not the page, decides which game comes next
            index = self.progress.get(participant, 0)
            if index >= len(self.study.games):
                raise ConfigError(f"participant {participant} has played every game of study {self.study.name}")
            self.progress[participant] = index + 1
        message = self.study.message(index)
        return message, {"study": self.study.name, "participant": participant, "study_game": index,
                         "study_games": len(self.study.games)}

    def join(self, user: UserRecord, sid: str, game_id: Any) -> Any:
        if not isinstance(game_id, str) or len(game_id) != 32:
            raise ConfigError(f"game_id: {game_id!r:.80} is not a game code (32 hex characters)")
        game = self.registry.join(game_id, user.name)
        self._hold_seat(user.name, sid, game)
        self.emit("joined", {"game_id": game.id, "players": game.players()}, game.id)
        return game, game.seat_of(user.name)

    def mark_ready(self, user_name: str) -> bool:
        """Start the user's game once every human seat is taken and ready (an AI-AI game: its spectator)."""
        game = self.registry.game_of(user_name)
        if game is None or game.started:
            return False
        with self._lock:
            ready = self.ready.setdefault(game.id, set())
            ready.add(user_name)
            humans = [u for u in game.users if u is not None]
            waiting = game.free_seats() or not set(humans) <= ready
        if waiting:
            return False
        game.start()
        return True

    def key(self, user_name: str, sid: str, token: Any) -> bool:
        game = self.registry.game_of(user_name)
        if game is None or self.seat_socket.get(user_name) != sid:
            return False  # not this socket's game (another tab, a spectator)
        seat = game.seat_of(user_name)
        return seat is not None and game.key(seat, token)

    def disconnect(self, user_name: str, sid: str, reason: str) -> None:
        """The socket holding the user's seat closed (or they left): the game ends for everyone."""
        if self.seat_socket.get(user_name) == sid:
            self.registry.disconnect(user_name, reason)

    def _emitter(self) -> Any:
        def emit(payload: dict[str, Any]) -> None:
            self.emit("state", payload, payload["game_id"])

        return emit

    def _ended(self, game: Any) -> None:
        """Free the game's sockets; give every other human player a copy of the record (hard links)."""
        with self._lock:
            self.ready.pop(game.id, None)
            for user in [u for u in game.users if u is not None]:
                self.seat_socket.pop(user, None)
        paths = getattr(game, "record_paths", None)
        if paths is None:
            return
        targets = [self.user_dir(u) for u in {u for u in game.users if u is not None}
                   if self.user_dir(u) != game.record_dir]
        if game.meta.get("participant"):  # a study's records, grouped by participant
            targets.append(self.studies / game.meta["study"] / game.meta["participant"])
        for target in targets:
            target.mkdir(parents=True, exist_ok=True)
            for path in (paths.json, paths.transitions):
                if path is not None:
                    with contextlib.suppress(FileExistsError, OSError):
                        os.link(path, target / Path(path).name)

    def shutdown(self) -> None:
        self.registry.shutdown()

    # ------------------------------------------------------------------ records
    def records_of(self, user_name: str) -> list[dict[str, Any]]:
        """The user's recorded games, newest first (a summary of each JSON file). Records are written once and
        never changed, so each file is parsed once per server (a 400-tick record is about a megabyte)."""
        folder = self.user_dir(user_name)
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
            if len(path.stem) != 32:
                continue
            key = (str(path), path.stat().st_mtime_ns)
            with self._lock:
                summary = self._summaries.get(key)
            if summary is None:
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                summary = {"id": path.stem, "layout": data.get("layout_name"), "score": data.get("score"),
                           "study": data.get("study"), "study_game": data.get("study_game"),
                           "ticks": len(data.get("ticks", [])), "ended_by": data.get("ended_by"),
                           "players": [p.get("kind") for p in data.get("players", [])],
                           "started_at": data.get("started_at"), "participant": data.get("participant")}
                with self._lock:
                    self._summaries[key] = summary
            out.append({**summary, "transitions": (folder / f"{path.stem}.npy").is_file()})
        return out

    def bc_config(self, user_name: str, episode_ids: Any, epochs: Any = 20) -> dict[str, Any]:
        """The ``bc`` job config that clones ``user_name``'s play in their recorded games ``episode_ids`` (all
        of one layout, the user in the same chef's seat)."""
        from pantheonrl.jobs import check_job_id

        if not isinstance(episode_ids, list) or not episode_ids:
            raise ConfigError("records: choose at least one of your recorded games")
        folder = self.user_dir(user_name)
        files, seats, env_configs, env = [], set(), set(), None
        for episode_id in episode_ids:
            if not isinstance(episode_id, str):
                raise ConfigError(f"records: {episode_id!r:.80} is not a recorded game's id")
            path = (folder / f"{check_job_id(episode_id)}.json").resolve()
            npy = path.with_suffix(".npy")
            if not path.is_relative_to(folder.resolve()) or not path.is_file() or not npy.is_file():
                abort(404, description=f"no recorded game {episode_id} with transitions")
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                abort(404, description=f"recorded game {episode_id} cannot be read")
            mine = [p.get("seat") for p in doc.get("players", [])
                    if isinstance(p, dict) and p.get("kind") == f"human:{user_name}" and p.get("seat") in (0, 1)]
            if not mine:
                raise ConfigError(f"game {episode_id[:8]}: you did not play in it (it has no seat of yours to "
                                  f"clone)")
            seats.add(mine[0])
            env_configs.add(json.dumps(doc.get("transitions", {}).get("env_config", {}), sort_keys=True))
            env = doc.get("env_id")
            files.append(str(npy.resolve()))
        if len(seats) > 1:
            raise ConfigError("the games have you in different chefs' seats; clone games where you played the same "
                              "chef")
        if len(env_configs) > 1:
            raise ConfigError("the games were played on different layouts or settings; clone games of one layout")
        return {"env": env, "trajectories": files, "env_config": json.loads(env_configs.pop()),
                "player": seats.pop(), "epochs": epochs}

    def record_file(self, user_name: str, episode_id: str, fmt: str) -> Any:
        from pantheonrl.jobs import check_job_id

        if fmt not in RECORD_FORMATS:
            check_label(fmt, "format")
            raise ConfigError(unknown_choice("record format", fmt, list(RECORD_FORMATS)))
        folder = self.user_dir(user_name).resolve()
        name = f"{check_job_id(episode_id)}.{fmt}"
        path = (folder / name).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            abort(404, description=f"no recorded game {episode_id}")
        return send_from_directory(folder, name, mimetype=RECORD_FORMATS[fmt], as_attachment=True,
                                   download_name=f"game-{episode_id[:8]}.{fmt}", max_age=0)


def _service() -> PlayService:
    return current_app.extensions["pantheonrl"].play


def _socket_user() -> UserRecord | None:
    """The user of the Flask session a socket connected with (the same check as every page)."""
    accounts = current_app.extensions["pantheonrl"].accounts
    uid, version = session.get("uid"), session.get("sv")
    if uid is None:
        return None
    user = accounts.get(uid)
    return user if user is not None and user.session_version == version else None


def install(app: Any) -> Any:
    """The Socket.IO server of ``app`` (threading mode: one gunicorn worker with threads) with the ``/play``
    handlers, and the play pages. Returns the ``SocketIO`` object."""
    from flask_socketio import SocketIO, join_room

    socketio = SocketIO(app, async_mode="threading", manage_session=False, max_http_buffer_size=64 * 1024,
                        logger=False, engineio_logger=False)  # cors_allowed_origins unset: same origin only
    state = app.extensions["pantheonrl"]
    state.play = PlayService(state.root.path, lambda event, data, room: socketio.emit(
        event, data, to=room, namespace=NAMESPACE), max_games=app.config.get("PLAY_MAX_GAMES", 4),
        study=app.config.get("PLAY_STUDY"))

    def user_of_socket() -> UserRecord | None:
        """The socket's user, while their session version is the one it connected with (a password change or
        logout elsewhere ends it)."""
        name = state.play.sockets.get(request.sid)
        user = None if name is None else state.accounts.by_name(name)
        return user if user is not None and user.session_version == state.play.versions.get(request.sid) else None

    def guarded(handler: Any) -> Any:
        """Re-check the socket's user and its event budget on every event; user errors go back as
        ``{"error": ...}`` in the acknowledgement."""
        def wrapper(data: Any = None) -> Any:
            user = user_of_socket()
            if user is None:
                return {"error": "not logged in: reload the page"}
            if not state.play.allow(request.sid):
                return {"error": "too many messages"}
            try:
                return handler(user, data)
            except UserInputError as exc:
                return {"error": str(exc)}
            except HTTPException as exc:  # the ownership check's 404 (another user's agent)
                return {"error": exc.description or exc.name}
            except Exception:
                ref = secrets.token_hex(6)
                log.exception("play event %s failed (reference %s)", handler.__name__, ref)
                return {"error": f"an unexpected error happened (reference {ref}); the details are in the server "
                                 f"log"}

        wrapper.__name__ = handler.__name__
        return wrapper

    @socketio.on("connect", namespace=NAMESPACE)
    def on_connect(auth: Any = None) -> None:
        user = _socket_user()
        if user is None:
            log.warning("refused a play socket without a session from %s", request.remote_addr)
            raise ConnectionRefusedError("log in first")
        state.play.connect(request.sid, user)

    @socketio.on("disconnect", namespace=NAMESPACE)
    def on_disconnect(reason: Any = None) -> None:
        name = state.play.forget(request.sid)
        if name is not None:
            state.play.disconnect(name, request.sid, "disconnect")

    def opened(game: Any, seat: int | None) -> dict[str, Any]:
        join_room(game.id)
        return {"game": game.info(), "seat": seat}

    @socketio.on("create", namespace=NAMESPACE)
    @guarded
    def on_create(user: UserRecord, data: Any) -> Any:
        return opened(*state.play.create(user, request.sid, data))

    @socketio.on("join", namespace=NAMESPACE)
    @guarded
    def on_join(user: UserRecord, data: Any) -> Any:
        return opened(*state.play.join(user, request.sid, (data or {}).get("game_id") if isinstance(data, dict)
                                       else None))

    @socketio.on("ready", namespace=NAMESPACE)
    @guarded
    def on_ready(user: UserRecord, data: Any) -> Any:
        return {"started": state.play.mark_ready(user.name)}

    @socketio.on("key", namespace=NAMESPACE)
    @guarded
    def on_key(user: UserRecord, data: Any) -> Any:
        state.play.key(user.name, request.sid, data)
        return None

    @socketio.on("leave", namespace=NAMESPACE)
    @guarded
    def on_leave(user: UserRecord, data: Any) -> Any:
        holds = state.play.seat_socket.get(user.name) == request.sid
        state.play.disconnect(user.name, request.sid, "leave")
        return {"left": holds}

    app.register_blueprint(play_bp)
    return socketio


# ---------------------------------------------------------------------- pages and downloads
def _overcooked_agents(user: UserRecord) -> list[dict[str, Any]]:
    from pantheonrl.webui import userjobs

    return [a for a in userjobs.agents_of(user) if not a.get("problem") and a.get("env_id") ==
            "OvercookedMultiEnv-v0"]


@play_bp.get("/play")
@login_required
def play_page() -> Any:
    from pantheonrl.envs.overcooked.agents import OVERCOOKED_PARTNERS
    from pantheonrl.webui.catalog import layouts

    agents = _overcooked_agents(current_user())
    chosen = request.args.get("agent", "greedy")
    layout = request.args.get("layout")
    known = {a["id"]: a for a in agents}
    if chosen in known and layout is None:
        layout = _agent_layout(known[chosen])
    if chosen not in known and chosen not in OVERCOOKED_PARTNERS:
        chosen = "greedy"
    if layout not in layouts():
        layout = "cramped_room"
    study = _service().study
    return render_template("play.html", agents=agents, scripted=list(OVERCOOKED_PARTNERS), layouts=layouts(),
                           chosen=chosen, layout=layout, modes=MODES, study=study,
                           study_games=study.describe() if study is not None else [])


def _agent_layout(agent: dict[str, Any]) -> str | None:
    """The layout a saved agent was trained on (so "Play with this agent" opens the right kitchen)."""
    from pantheonrl.artifacts import read_artifact
    from pantheonrl.play.config import artifact_play_settings
    from pantheonrl.webui.ownership import agent_dir, job_for_user

    st = current_app.extensions["pantheonrl"]
    folder = agent_dir(st.root, job_for_user(st.store, agent["job_id"], current_user()), agent["kind"])
    try:
        return artifact_play_settings(read_artifact(folder))["layout"] if folder else None
    except (UserInputError, KeyError):
        return None


@play_bp.get("/trajectories")
@login_required
def trajectories_page() -> Any:
    return render_template("trajectories.html", records=_service().records_of(current_user().name))


@play_bp.get("/api/trajectories")
@login_required
def list_trajectories() -> Any:
    """The user's recorded games; ``?participant=ID``: one study participant's."""
    records = _service().records_of(current_user().name)
    participant = request.args.get("participant")
    if participant is not None:
        records = [r for r in records if r["participant"] == participant]
    return {"trajectories": records}


def _clone(records: Any, epochs: Any) -> Any:
    from pantheonrl.webui import userjobs

    if current_app.config.get("PLAY_ONLY"):
        abort(404, description="training jobs run in the dashboard (pantheonrl web serve), not in pantheonrl play")
    config = _service().bc_config(current_user().name, records, epochs)
    return userjobs.submit(current_user(), config, kind="bc")[0]


@play_bp.post("/trajectories/bc")
@login_required
def clone_page() -> Any:
    from flask import redirect, url_for

    from pantheonrl.webui.experiment_form import form_number

    job = _clone(request.form.getlist("records"), form_number(request.form, "epochs", 1, 1000, True) or 20)
    return redirect(url_for("pages.job", job_id=job.id), code=303)


@play_bp.post("/api/trajectories/bc")
@login_required
def clone_api() -> Any:
    from pantheonrl.webui import userjobs

    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ConfigError("send {\"records\": [episode id, ...], \"epochs\": 20} as JSON")
    check_known_keys(data, ("records", "epochs"), "bc option")
    job = _clone(data.get("records"), data.get("epochs", 20))
    return userjobs.one_job(current_user(), job.id), 201


@play_bp.get("/api/trajectories/<hex32:episode_id>/<fmt>")
@login_required
def download_trajectory(episode_id: str, fmt: str) -> Any:
    return _service().record_file(current_user().name, episode_id, fmt)
