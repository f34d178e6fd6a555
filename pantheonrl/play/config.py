"""``PlayConfig``: the typed settings of one human-play Overcooked game (docs/web.md section 3.4).

A create-game message parses into a :class:`PlayConfig` with :meth:`PlayConfig.from_dict`: unknown keys and
out-of-range values raise :class:`~pantheonrl.errors.ConfigError` naming the value, the allowed set and a fix.
A seat is a human or an AI; an AI seat plays a scripted partner of
:data:`~pantheonrl.envs.overcooked.agents.OVERCOOKED_PARTNERS` by name, or a saved agent whose artefact folder the
*server* resolves (``resolve_agent``): a user never names a path.

The browser sends only key tokens, :data:`KEY_TOKENS`; :data:`TOKEN_ACTIONS` maps them to the indices of
``overcooked.Action.ALL_ACTIONS`` (north, south, east, west, stay, interact).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pantheonrl.envs.overcooked.agents import OVERCOOKED_PARTNERS
from pantheonrl.envs.overcooked.layouts import resolve_layout
from pantheonrl.errors import ConfigError, unknown_choice

__all__ = [
    "ACTION_NAMES",
    "ENV_ID",
    "KEY_TOKENS",
    "OBSERVATIONS",
    "SEAT_KINDS",
    "STAY",
    "TOKEN_ACTIONS",
    "PlayConfig",
    "SeatSpec",
    "artifact_play_settings",
]

ENV_ID = "OvercookedMultiEnv-v0"
"""The env id (and version) whose dynamics and observations the game reproduces."""

KEY_TOKENS = ("up", "down", "left", "right", "interact", "stay")
"""The only inputs a browser may send."""

TOKEN_ACTIONS: dict[str, int] = {"up": 0, "down": 1, "right": 2, "left": 3, "stay": 4, "interact": 5}
"""Key token -> index into ``overcooked.Action.ALL_ACTIONS`` (north, south, east, west, stay, interact)."""

ACTION_NAMES = ("up", "down", "right", "left", "stay", "interact")
"""Action index -> key token (the inverse of :data:`TOKEN_ACTIONS`)."""

STAY = TOKEN_ACTIONS["stay"]
SEAT_KINDS = ("human", "ai")
OBSERVATIONS = ("features", "lossless")

_BOUNDS: dict[str, tuple[int, int, int]] = {  # name: (low, high, example)
    "horizon": (10, 3000, 400),
    "tick_ms": (50, 1000, 150),
    "ticks_per_ai_action": (1, 8, 4),
    "idle_timeout_s": (5, 3600, 60),
    "seed": (0, 2**31 - 1, 0),
}


def _check_int(name: str, value: Any) -> int:
    low, high, example = _BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer in {low}..{high}, got {type(value).__name__} {value!r}; "
                          f"e.g. {name}: {example}")
    if not low <= value <= high:
        raise ConfigError(f"{name} {value} is out of range: allowed {low}..{high}; e.g. {name}: {example}")
    return value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {type(value).__name__} {value!r}")
    return value


def _check_keys(what: str, data: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} must be an object with keys {', '.join(allowed)}, got {type(data).__name__}")
    for key in data:
        if key not in allowed:
            raise ConfigError(unknown_choice(f"{what} key", key, allowed))
    return dict(data)


def artifact_play_settings(artifact: Any) -> dict[str, Any]:
    """The Overcooked settings a saved agent was trained with, from its metadata: ``layout``, ``observation``,
    ``old_dynamics`` and ``framestack`` (missing keys take ``OvercookedMultiEnv``'s defaults)."""
    config = artifact.metadata.get("config") or {}
    env_config = config.get("env_config") or {}
    if not isinstance(env_config, Mapping):
        raise ConfigError(f"saved agent {artifact.name!r} has a malformed env_config {env_config!r}; save it again")
    return {
        "layout": resolve_layout(env_config.get("layout_name", "cramped_room")),
        "observation": env_config.get("observation", "features"),
        "old_dynamics": bool(env_config.get("old_dynamics", False)),
        "framestack": config.get("framestack", 1),
    }


@dataclass(frozen=True)
class SeatSpec:
    """Who plays one chef (seat ``i`` is Overcooked chef ``i``).

    :param kind: ``"human"`` or ``"ai"``.
    :param agent: an AI seat's agent: a scripted partner name (``greedy``, ``random``, ``stay``) or the label of a
        saved agent (its artefact id), used in records as ``ai:<agent>``.
    :param artifact: the saved agent's artefact folder, resolved by the server (``None`` for scripted partners).
    :param deterministic: a saved agent takes its most likely action instead of sampling.
    """

    kind: str
    agent: str | None = None
    artifact: Path | None = None
    deterministic: bool = False

    def __post_init__(self) -> None:
        if self.kind not in SEAT_KINDS:
            raise ConfigError(unknown_choice("seat kind", self.kind, SEAT_KINDS))
        _check_bool("deterministic", self.deterministic)
        if self.kind == "human":
            if self.agent is not None or self.artifact is not None:
                raise ConfigError(f"a human seat takes no agent, got {self.agent!r}; drop it or use kind 'ai'")
            return
        if self.artifact is not None:
            object.__setattr__(self, "artifact", Path(self.artifact))
            if self.agent is None:
                object.__setattr__(self, "agent", self.artifact.name)
        if not isinstance(self.agent, str) or not self.agent:
            raise ConfigError(
                f"an AI seat needs an agent: one of {', '.join(OVERCOOKED_PARTNERS)} or a saved agent's id, "
                f"got {self.agent!r}"
            )
        if self.artifact is None and self.agent not in OVERCOOKED_PARTNERS:
            raise ConfigError(unknown_choice("Overcooked agent", self.agent, OVERCOOKED_PARTNERS)
                              + " (saved agents are chosen by their id through the server)")

    @property
    def is_human(self) -> bool:
        return self.kind == "human"

    def to_dict(self) -> dict[str, Any]:
        """JSON data that :meth:`PlayConfig.from_dict` reads back (a saved agent by its id: the artefact folder
        is a server path, not a setting)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "ai":
            out.update(agent=self.agent, deterministic=self.deterministic)
        return out


@dataclass(frozen=True)
class PlayConfig:
    """One game: layout, two seats, length and pace.

    :param layout: an Overcooked layout (a modern name or a legacy alias, stored resolved).
    :param seats: exactly two :class:`SeatSpec`; seat ``i`` plays chef ``i``.
    :param horizon: ticks per game (10..3000).
    :param tick_ms: milliseconds per tick (50..1000).
    :param ticks_per_ai_action: an AI acts every this many ticks and stays in between (1..8; the
        overcooked-demo used 4 to slow agents to human pace).
    :param observation: the observation kind of the transitions file written beside each record
        (``features`` or ``lossless``, as ``OvercookedMultiEnv(observation=...)``).
    :param old_dynamics: the 2019 cooking rules (a pot starts cooking when full).
    :param idle_timeout_s: a game with human seats ends (``ended_by: "idle"``) after this many seconds of ticks
        without a key from any human (5..3600).
    :param seed: seed of the scripted partners' generators.
    """

    layout: str = "cramped_room"
    seats: tuple[SeatSpec, SeatSpec] = field(
        default_factory=lambda: (SeatSpec("human"), SeatSpec("ai", agent="greedy"))
    )
    horizon: int = 400
    tick_ms: int = 150
    ticks_per_ai_action: int = 1
    observation: str = "features"
    old_dynamics: bool = False
    idle_timeout_s: int = 60
    seed: int = 0

    KEYS = ("layout", "seats", "horizon", "tick_ms", "ticks_per_ai_action", "observation", "old_dynamics",
            "idle_timeout_s", "seed")

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", resolve_layout(self.layout))
        for name in ("horizon", "tick_ms", "ticks_per_ai_action", "idle_timeout_s", "seed"):
            _check_int(name, getattr(self, name))
        if self.observation not in OBSERVATIONS:
            raise ConfigError(unknown_choice("observation", self.observation, OBSERVATIONS))
        _check_bool("old_dynamics", self.old_dynamics)
        seats = self.seats
        if not isinstance(seats, list | tuple) or len(seats) != 2:
            raise ConfigError(
                f"seats must list exactly 2 seats (one per chef), got {seats!r:.200}; "
                'e.g. [{"kind": "human"}, {"kind": "ai", "agent": "greedy"}]'
            )
        if not all(isinstance(s, SeatSpec) for s in seats):
            raise ConfigError("seats must be SeatSpec objects; parse plain data with PlayConfig.from_dict")
        object.__setattr__(self, "seats", tuple(seats))
        for i, seat in enumerate(self.seats):
            if seat.artifact is not None:
                self._check_artifact(i, seat)

    def _check_artifact(self, index: int, seat: SeatSpec) -> None:
        """Fail fast: the saved agent must exist and have been trained on this game, layout and dynamics."""
        from pantheonrl.artifacts import read_artifact

        artifact = read_artifact(seat.artifact)
        if artifact.env_id != ENV_ID:
            raise ConfigError(
                f"seat {index}: saved agent {seat.agent!r} was trained on {artifact.env_id}, not {ENV_ID}; "
                "choose an Overcooked agent"
            )
        settings = artifact_play_settings(artifact)
        if settings["layout"] != self.layout:
            raise ConfigError(
                f"seat {index}: saved agent {seat.agent!r} was trained on layout {settings['layout']!r}, not "
                f"{self.layout!r}; play it on {settings['layout']!r} (layout: {settings['layout']})"
            )
        if settings["old_dynamics"] != self.old_dynamics:
            raise ConfigError(
                f"seat {index}: saved agent {seat.agent!r} was trained with old_dynamics="
                f"{settings['old_dynamics']}; set old_dynamics: {str(settings['old_dynamics']).lower()}"
            )
        if settings["observation"] not in OBSERVATIONS:
            raise ConfigError(f"seat {index}: saved agent {seat.agent!r} has "
                              + unknown_choice("observation", settings["observation"], OBSERVATIONS))
        if settings["framestack"] != 1:
            raise ConfigError(
                f"seat {index}: saved agent {seat.agent!r} stacks {settings['framestack']} frames; human play "
                "supports framestack 1 only: choose an agent trained without frame stacking"
            )

    @property
    def human_seats(self) -> tuple[int, ...]:
        return tuple(i for i, s in enumerate(self.seats) if s.is_human)

    @property
    def ai_seats(self) -> tuple[int, ...]:
        return tuple(i for i, s in enumerate(self.seats) if not s.is_human)

    @property
    def idle_ticks(self) -> int:
        """Ticks without a human key after which the game ends."""
        return -(-self.idle_timeout_s * 1000 // self.tick_ms)

    @classmethod
    def from_dict(
        cls,
        data: Any,
        *,
        resolve_agent: Callable[[str], str | os.PathLike[str]] | None = None,
    ) -> PlayConfig:
        """Parse a create-game message.

        :param data: ``{"layout": ..., "seats": [{"kind": "human"}, {"kind": "ai", "agent": "greedy"}], ...}``;
            missing keys take the defaults, unknown keys are rejected.
        :param resolve_agent: the server's lookup from a saved agent's id to its artefact folder (it checks
            ownership and raises for unknown ids). Without it only scripted partners are accepted.
        """
        data = _check_keys("play config", data, cls.KEYS)
        seats_data = data.pop("seats", None)
        if seats_data is None:
            seats = cls.__dataclass_fields__["seats"].default_factory()
        else:
            if not isinstance(seats_data, list | tuple) or len(seats_data) != 2:
                raise ConfigError(
                    f"seats must list exactly 2 seats (one per chef), got {seats_data!r:.200}; "
                    'e.g. [{"kind": "human"}, {"kind": "ai", "agent": "greedy"}]'
                )
            seats = tuple(_parse_seat(i, s, resolve_agent) for i, s in enumerate(seats_data))
        return cls(seats=seats, **data)

    def to_dict(self) -> dict[str, Any]:
        """JSON data that :meth:`from_dict` reads back (saved agents appear by id only)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "seats"}
        out["seats"] = [s.to_dict() for s in self.seats]
        return out


def _parse_seat(index: int, data: Any, resolve_agent: Callable[[str], Any] | None) -> SeatSpec:
    what = f"seat {index}"
    data = _check_keys(what, data, ("kind", "agent", "deterministic"))
    kind = data.get("kind")
    if kind not in SEAT_KINDS:
        raise ConfigError(f"{what}: " + unknown_choice("seat kind", kind, SEAT_KINDS))
    agent = data.get("agent")
    deterministic = data.get("deterministic", False)
    if kind == "human":
        if agent is not None or "deterministic" in data:
            raise ConfigError(f"{what} is human: it takes no agent or deterministic; drop them or use kind 'ai'")
        return SeatSpec("human")
    if not isinstance(agent, str) or not agent:
        raise ConfigError(
            f"{what}: an AI seat needs an agent: one of {', '.join(OVERCOOKED_PARTNERS)} or a saved agent's id, "
            f"got {agent!r}"
        )
    if agent in OVERCOOKED_PARTNERS:
        return SeatSpec("ai", agent=agent, deterministic=deterministic)
    if resolve_agent is None:
        raise ConfigError(f"{what}: " + unknown_choice("Overcooked agent", agent, OVERCOOKED_PARTNERS))
    folder = resolve_agent(agent)
    return SeatSpec("ai", agent=agent, artifact=Path(folder), deterministic=deterministic)
