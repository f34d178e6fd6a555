"""Human play: the server-authoritative Overcooked game engine behind the web page (docs/web.md section 3).

Transport-agnostic: the web layer builds a :class:`PlayConfig` from a create-game message, admits the game with
a :class:`GameRegistry`, passes an ``emit`` callback that sends each payload to the game's room, forwards key
tokens with :meth:`Game.key` and disconnects with :meth:`Game.leave` / :meth:`GameRegistry.disconnect`.

* :mod:`~pantheonrl.play.config`: :class:`PlayConfig`, :class:`SeatSpec`, the key tokens;
* :mod:`~pantheonrl.play.mailbox`: one-slot mailboxes (no input backlog);
* :mod:`~pantheonrl.play.ai`: AI seats (saved agents weights-only, scripted partners) in their own threads;
* :mod:`~pantheonrl.play.game`: :class:`Game` (the tick loop) and :class:`GameRegistry` (admission control);
* :mod:`~pantheonrl.play.record`: trajectory records (overcooked_ai JSON + transitions ``.npy``);
* :mod:`~pantheonrl.play.replay`: :func:`replay`, which checks a record reproduces its states.

Needs the ``overcooked`` extra.
"""

from pantheonrl.play.ai import AISeat, seat_observations
from pantheonrl.play.config import ACTION_NAMES, KEY_TOKENS, STAY, TOKEN_ACTIONS, PlayConfig, SeatSpec
from pantheonrl.play.game import END_REASONS, Game, GameCapacityError, GameRegistry
from pantheonrl.play.mailbox import LatestBox, Mailbox
from pantheonrl.play.record import EpisodeRecorder, RecordPaths, load_record
from pantheonrl.play.replay import ReplayMismatch, ReplaySummary, replay

__all__ = [
    "ACTION_NAMES",
    "END_REASONS",
    "KEY_TOKENS",
    "STAY",
    "TOKEN_ACTIONS",
    "AISeat",
    "EpisodeRecorder",
    "Game",
    "GameCapacityError",
    "GameRegistry",
    "LatestBox",
    "Mailbox",
    "PlayConfig",
    "RecordPaths",
    "ReplayMismatch",
    "ReplaySummary",
    "SeatSpec",
    "load_record",
    "replay",
    "seat_observations",
]
