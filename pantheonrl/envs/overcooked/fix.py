"""The ``featurize_state`` defect of ``overcooked`` 0.2.1, fixed without editing site-packages.

0.2.1's ``MotionPlanner.min_cost_to_feature`` dropped its ``with_argmin`` keyword (the featurizer still passes
it: ``TypeError``) and reads ``feature_pos_list[0]`` before looping (an empty list: ``IndexError``). The
replacement restores the upstream contract (docs/stack.md, section 4): visit every feature position and every
motion goal of each, skip start/goal pairs that are not a valid motion pair, and return ``(min_dist + 1,
best_feature)``; an empty list, or no valid pair, gives an infinite distance and no feature. Other 0.2.1 callers
unpack two values, so ``with_argmin`` defaults to true.

:func:`apply` is idempotent and runs when :mod:`pantheonrl.envs.overcooked` is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from overcooked.planning.planners import MotionPlanner

__all__ = ["apply", "min_cost_to_feature"]


def min_cost_to_feature(
    self: MotionPlanner, start_pos_and_or: Any, feature_pos_list: Any, with_argmin: bool = True, debug: bool = False
) -> Any:
    """Fewest timesteps to reach any feature in ``feature_pos_list`` and interact with it (``+1``)."""
    min_dist = np.inf
    best_feature = None
    for feature_pos in feature_pos_list:
        for feature_goal in self.motion_goals_for_pos[feature_pos]:
            if not self.is_valid_motion_start_goal_pair(start_pos_and_or, feature_goal):
                continue
            curr_dist = self.get_gridworld_distance(start_pos_and_or, feature_goal)
            if curr_dist < min_dist:
                best_feature = feature_pos
                min_dist = curr_dist
    if with_argmin:
        return min_dist + 1, best_feature
    return min_dist + 1


def apply() -> None:
    """Install the fixed method on ``MotionPlanner`` (once)."""
    if MotionPlanner.min_cost_to_feature is not min_cost_to_feature:
        MotionPlanner.min_cost_to_feature = min_cost_to_feature
