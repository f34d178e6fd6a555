"""Overcooked on the ``overcooked`` 0.2.1 package (install the ``overcooked`` extra).

* :class:`OvercookedMultiEnv` (``OvercookedMultiEnv-v0``): the simultaneous two-chef game, the ego as player 0;
* :mod:`~pantheonrl.envs.overcooked.layouts`: every shipped layout plus the original's legacy names;
* :mod:`~pantheonrl.envs.overcooked.features`: the fast 96-feature encoder (identical to the fixed stock one);
* :mod:`~pantheonrl.envs.overcooked.agents`: scripted partners (random, stay, greedy cook);
* :mod:`~pantheonrl.envs.overcooked.render`: episodes as animated GIFs and PNG frames;
* :mod:`~pantheonrl.envs.overcooked.tracking`: ``SparseTrackedOvercooked``, which logs each episode's sparse return.

Importing it fixes 0.2.1's ``featurize_state`` defect in memory (:mod:`~pantheonrl.envs.overcooked.fix`).
"""

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from pantheonrl.envs.overcooked import fix

fix.apply()

from pantheonrl.envs.overcooked.env import OBSERVATIONS, OvercookedMultiEnv, ShapingSchedule, render_state  # noqa: E402
from pantheonrl.envs.overcooked.layouts import (  # noqa: E402
    CLASSIC_LAYOUTS,
    LAYOUT_ALIASES,
    LAYOUT_LIST,
    NAME_TRANSLATION,
    resolve_layout,
)
from pantheonrl.envs.overcooked.render import write_episode  # noqa: E402
from pantheonrl.envs.overcooked.view import PlayerView  # noqa: E402

__all__ = [
    "CLASSIC_LAYOUTS",
    "LAYOUT_ALIASES",
    "LAYOUT_LIST",
    "NAME_TRANSLATION",
    "OBSERVATIONS",
    "OvercookedMultiEnv",
    "PlayerView",
    "ShapingSchedule",
    "render_state",
    "resolve_layout",
    "write_episode",
]
