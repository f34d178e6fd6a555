"""Fast training: N game copies with batched partners, learning partners over N columns, shared weights.

* :class:`MultiAgentVecEnv`: an SB3 ``VecEnv`` for the ego over N copies of a game;
* :class:`ColumnLearner`: a learning partner whose SB3 buffers hold one column per copy;
* :class:`SharedWeightSelfPlay`: one model in several seats of every copy (parameter sharing).
"""

from pantheonrl.vec.columns import ColumnLearner, ColumnView
from pantheonrl.vec.driver import answer_batch, drive_batched
from pantheonrl.vec.selfplay import SharedWeightSelfPlay
from pantheonrl.vec.vecenv import MultiAgentVecEnv, SpacesVecEnv, make_copies

__all__ = [
    "ColumnLearner",
    "ColumnView",
    "MultiAgentVecEnv",
    "SharedWeightSelfPlay",
    "SpacesVecEnv",
    "answer_batch",
    "drive_batched",
    "make_copies",
]
