"""Evaluation of agents in multi-agent games, and cross-play matrices.

* :func:`play_episodes` / :func:`evaluate`: play episodes with one agent per seat and collect returns.
* :func:`crossplay`: every row agent against every column agent of a 2-player game, in both seats; a
  :class:`CrossPlayResult` with means, standard errors, per-seat views, the self-play gap, CSV and JSON.
* :func:`plot_heatmap`: the matrix as an annotated PNG heatmap (matplotlib, imported when drawing).
"""

from pantheonrl.eval.crossplay import CrossPlayResult, cell_seed, crossplay
from pantheonrl.eval.plots import plot_heatmap
from pantheonrl.eval.rollout import EpisodeStats, evaluate, play_episodes

__all__ = [
    "CrossPlayResult",
    "EpisodeStats",
    "cell_seed",
    "crossplay",
    "evaluate",
    "play_episodes",
    "plot_heatmap",
]
