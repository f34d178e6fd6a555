"""Replay a human-play record: rebuild the kitchen, re-apply the recorded joint actions from the start state and
check that every recorded state is reproduced (the record is then exactly what the server played).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from overcooked import Action, OvercookedGridworld, OvercookedState

from pantheonrl.envs.overcooked import fix
from pantheonrl.errors import PantheonRLError, TrajectoryFormatError
from pantheonrl.play.record import action_from_json, load_record

__all__ = ["ReplayMismatch", "ReplaySummary", "replay"]

fix.apply()


class ReplayMismatch(PantheonRLError):
    """A replayed state or reward differs from the record.

    :param tick: the first tick whose recorded state (before the step) or reward differs; ``ticks`` (the
        number of ticks) for the final state; ``None`` for the layout itself.
    """

    def __init__(self, message: str, tick: int | None) -> None:
        super().__init__(message)
        self.tick = tick


@dataclass(frozen=True)
class ReplaySummary:
    """What a successful replay found."""

    episode_id: str
    layout: str
    ticks: int
    score: float
    shaped_return: float
    ended_by: str | None
    fallbacks: tuple[int, int]
    """Ticks on which each seat played STAY for want of an action."""
    moves: tuple[int, int]
    """Non-STAY actions of each seat."""


def _joint(doc: dict[str, Any], t: int) -> list[int]:
    from_ep = [action_from_json(a) for a in doc["ep_actions"][0][t]]
    ticks = doc.get("ticks")
    if ticks is not None:
        if ticks[t].get("tick") != t:
            raise ReplayMismatch(f"ticks[{t}] is tick {ticks[t].get('tick')!r}: ticks are missing or repeated", t)
        if list(ticks[t]["joint_action"]) != from_ep:
            raise ReplayMismatch(
                f"tick {t}: ep_actions says {from_ep}, ticks says {ticks[t]['joint_action']}", t
            )
    return from_ep


def replay(path: str | os.PathLike[str]) -> ReplaySummary:
    """Check a record written by :class:`~pantheonrl.play.record.EpisodeRecorder` by replaying it.

    :raises ReplayMismatch: naming the first tick whose state (or sparse reward) is not reproduced.
    :raises TrajectoryFormatError: the file is not a play record.
    """
    doc = load_record(path)
    try:
        params = doc["mdp_params"][0]
        states = doc["ep_states"][0]
        rewards = doc["ep_rewards"][0]
        n = len(states)
        if not len(doc["ep_actions"][0]) == len(rewards) == n:
            raise TrajectoryFormatError(
                f"{os.fspath(path)!r}: ep_states, ep_actions and ep_rewards differ in length "
                f"({n}, {len(doc['ep_actions'][0])}, {len(rewards)})"
            )
        if doc.get("ticks") is not None and len(doc["ticks"]) != n:
            raise ReplayMismatch(f"the record has {len(doc['ticks'])} tick entries for {n} states", None)
        layout = params["layout_name"]
        mdp = OvercookedGridworld.from_layout_name(layout, **({"old_dynamics": True} if params.get("old_dynamics")
                                                              else {}))
        if [list(row) for row in mdp.terrain_mtx] != params["terrain"]:
            raise ReplayMismatch(f"layout {layout!r} of this overcooked package differs from the recorded terrain",
                                 None)
        state = mdp.get_standard_start_state()
        fallbacks, moves = [0, 0], [0, 0]
        score = 0.0
        for t in range(n):
            recorded = OvercookedState.from_dict(states[t])
            if state != recorded:
                raise ReplayMismatch(f"tick {t}: the replayed state differs from the recorded one "
                                     f"(replayed {state.to_dict()}, recorded {states[t]})", t)
            joint = _joint(doc, t)
            state, infos = mdp.get_state_transition(state, tuple(Action.INDEX_TO_ACTION[a] for a in joint))
            sparse = float(sum(infos["sparse_reward_by_agent"]))
            if sparse != float(rewards[t]):
                raise ReplayMismatch(f"tick {t}: replayed sparse reward {sparse}, recorded {rewards[t]}", t)
            score += sparse
            for seat, action in enumerate(joint):
                moves[seat] += action != 4
            if doc.get("ticks") is not None:
                for seat in doc["ticks"][t]["fallback"]:
                    fallbacks[seat] += 1
        final = doc.get("final_state")
        if final is not None and state != OvercookedState.from_dict(final):
            raise ReplayMismatch(f"the state after the last tick ({n}) differs from the recorded final state", n)
    except (ReplayMismatch, TrajectoryFormatError):
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise TrajectoryFormatError(f"{os.fspath(path)!r} is a malformed play record: {type(exc).__name__}: {exc}"
                                    ) from exc
    shaped = sum(float(t["shaped_reward"]) for t in doc.get("ticks") or [])
    return ReplaySummary(episode_id=str(doc.get("episode_id")), layout=layout, ticks=n, score=score,
                         shaped_return=shaped, ended_by=doc.get("ended_by"), fallbacks=(fallbacks[0], fallbacks[1]),
                         moves=(moves[0], moves[1]))
