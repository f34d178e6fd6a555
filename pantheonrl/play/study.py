"""Study mode: a predefined sequence of human-AI games (layouts x agents) that each participant plays in order,
the way user studies with Overcooked are run.

A study file (YAML, read with ``yaml.safe_load``)::

    name: pilot-2026                 # letters, digits, '_', '.', '-'
    tick_ms: 150                     # optional defaults for every game
    horizon: 400
    games:
      - {layout: cramped_room, agent: greedy}
      - {layout: cramped_room, agent: 3f2a...e1/ego, seat: 1}   # a saved agent of the experimenter's
      - {layout: asymmetric_advantages, agent: random, horizon: 200}

Each game takes the keys of a human-AI ``create`` message (``layout``, ``agent``, ``seat``, ``horizon``,
``tick_ms``, ``ticks_per_ai_action``); unknown keys are errors. The participant only types an id and presses
"next": the games themselves come from this file, never from the browser. Records carry ``study``,
``participant`` and ``study_game`` and are also filed under ``DATA_DIR/studies/<study>/<participant>/``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pantheonrl.errors import ConfigError, check_known_keys

__all__ = ["GAME_KEYS", "MAX_GAMES", "PARTICIPANT_RULE", "Study", "check_participant"]

GAME_KEYS = ("layout", "agent", "seat", "horizon", "tick_ms", "ticks_per_ai_action")
MAX_GAMES = 100
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_SAVED_AGENT = re.compile(r"[0-9a-f]{32}/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
PARTICIPANT_RULE = "1 to 64 letters, digits, '_', '.' or '-', not starting with '.' or '-'"


def check_participant(value: Any) -> str:
    """A participant id (it names a folder), or :class:`ConfigError` stating the rule."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigError(f"participant id {value!r:.80} is not allowed: use {PARTICIPANT_RULE}")
    return value


@dataclass(frozen=True)
class Study:
    """A named sequence of games."""

    name: str
    games: tuple[dict[str, Any], ...]

    @classmethod
    def from_dict(cls, data: Any, where: str = "study") -> Study:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: a study is a mapping with 'name' and 'games'")
        defaults_keys = ("horizon", "tick_ms", "ticks_per_ai_action")
        allowed = ("name", "games", *defaults_keys)
        check_known_keys(data, allowed, "study key", where)
        name = data.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(f"{where}: name {name!r:.80} is not allowed: use {PARTICIPANT_RULE}")
        games = data.get("games")
        if not isinstance(games, list) or not 1 <= len(games) <= MAX_GAMES:
            raise ConfigError(f"{where}: games must list 1 to {MAX_GAMES} games, e.g. "
                              f"[{{layout: cramped_room, agent: greedy}}]")
        defaults = {k: data[k] for k in defaults_keys if k in data}
        out = []
        for i, game in enumerate(games):
            if not isinstance(game, dict):
                raise ConfigError(f"{where}: games[{i}] must be a mapping such as {{layout: cramped_room, agent: "
                                  f"greedy}}")
            check_known_keys(game, GAME_KEYS, "game key", f"{where}: games[{i}]")
            out.append({**defaults, **game})
        study = cls(name, tuple(out))
        for i in range(len(out)):  # scripted agents, layouts and numbers checked now; saved agents when played
            study.config(i, resolve_agent=None, check_only=True)
        return study

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Study:
        import yaml

        file = Path(path).expanduser()
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--study {str(path)!r}: cannot read it ({exc.strerror or exc}); give a YAML file "
                              f"with 'name' and 'games'") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--study {str(path)!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
        return cls.from_dict(data, where=f"study {file.name}")

    def message(self, index: Any) -> dict[str, Any]:
        """Game ``index`` as a human-AI ``create`` message."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.games):
            raise ConfigError(f"study game {index!r:.20} does not exist: give 0 to {len(self.games) - 1}")
        return {"mode": "human-ai", **self.games[index]}

    def config(self, index: int, *, resolve_agent: Any, check_only: bool = False) -> Any:
        """The :class:`~pantheonrl.play.PlayConfig` of game ``index`` (``check_only``: a saved agent is not
        looked up)."""
        from pantheonrl.envs.overcooked.agents import OVERCOOKED_PARTNERS
        from pantheonrl.play.config import PlayConfig

        game = self.message(index)
        agent = game.get("agent", "greedy")
        seat = game.get("seat", 0)
        if seat not in (0, 1) or isinstance(seat, bool):
            raise ConfigError(f"study game {index}: seat {seat!r} must be 0 or 1")
        if check_only and agent not in OVERCOOKED_PARTNERS:
            if not isinstance(agent, str) or not _SAVED_AGENT.fullmatch(agent):
                raise ConfigError(f"study game {index}: agent {agent!r:.80} is neither a scripted partner ("
                                  f"{', '.join(OVERCOOKED_PARTNERS)}) nor a saved agent '<job id>/<kind>'")
            agent = "greedy"  # a saved agent is resolved (and checked) for the experimenter at play time
        seats = [{"kind": "human"}, {"kind": "ai", "agent": agent}]
        if seat == 1:
            seats.reverse()
        message = {"layout": game.get("layout", "cramped_room"), "seats": seats,
                   **{k: game[k] for k in ("horizon", "tick_ms", "ticks_per_ai_action") if k in game}}
        try:
            return PlayConfig.from_dict(message, resolve_agent=resolve_agent)
        except ConfigError as exc:
            raise ConfigError(f"study game {index}: {exc}") from None

    def describe(self) -> list[str]:
        """One line per game, for the page."""
        return [f"{g.get('layout', 'cramped_room')} with {g.get('agent', 'greedy')}" for g in self.games]
