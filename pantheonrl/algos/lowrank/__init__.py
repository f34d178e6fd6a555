"""Low-rank partner adaptation (conditional imitation; Shih, Ermon, Sadigh, HRI 2022; docs/algorithms.md, section 4).

Each partner's policy is modelled as a mixture of ``r`` basis policies shared by the population; a new partner
is found by fitting only its ``r`` mixture weights from a few of its actions.

This package holds the **tabular path** (:mod:`.tabular`, tensorly): the partner tensor, the partner-mode
Tucker / non-negative basis, EM adaptation of the weights, best responses and rank selection; and the **neural
path** (:mod:`.neural`): ``LowRankPolicy`` with ``fit_bc``/``adapt`` and its SB3 policy wrapper
``LowRankSB3Policy``; and :mod:`.adaptive`: ``AdaptiveAgent``, an ego that re-estimates its current partner's
weights online from the partner's observed actions, with the driver ``run_episodes``; and :mod:`.baselines`, the
B-1 baselines (``laplace_bc``, ``MultiTaskBC``, ``ModularBC``).
"""

from pantheonrl.algos.lowrank.adaptive import AdaptiveAgent, arms_info_reader, run_episodes
from pantheonrl.algos.lowrank.baselines import ModularBC, MultiTaskBC, laplace_bc
from pantheonrl.algos.lowrank.neural import LowRankPolicy, LowRankSB3Policy, as_samples
from pantheonrl.algos.lowrank.tabular import (
    METHODS,
    LowRankBasis,
    adapt_em,
    best_response,
    count_matrix,
    fit_basis,
    heldout_nll,
    mixture_policy,
    partner_tensor,
    select_rank,
)

__all__ = [
    "METHODS",
    "AdaptiveAgent",
    "LowRankBasis",
    "LowRankPolicy",
    "LowRankSB3Policy",
    "ModularBC",
    "MultiTaskBC",
    "adapt_em",
    "arms_info_reader",
    "as_samples",
    "best_response",
    "count_matrix",
    "fit_basis",
    "heldout_nll",
    "laplace_bc",
    "mixture_policy",
    "partner_tensor",
    "run_episodes",
    "select_rank",
]
