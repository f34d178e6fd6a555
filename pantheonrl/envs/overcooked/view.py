"""What an Overcooked player's :class:`~pantheonrl.common.observation.Observation` carries as ``state``."""

from __future__ import annotations

from dataclasses import dataclass

from overcooked import OvercookedGridworld, OvercookedState

__all__ = ["PlayerView"]


@dataclass(frozen=True)
class PlayerView:
    """The full game state seen by one player: scripted partners plan from it.

    :param state: the Overcooked state (players, objects, timestep).
    :param player: this player's index in the Overcooked game (0 or 1; not the pantheonrl seat).
    :param mdp: the layout's gridworld (terrain, dispensers, pots, serving locations).
    """

    state: OvercookedState
    player: int
    mdp: OvercookedGridworld
