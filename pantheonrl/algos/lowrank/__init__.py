"""Low-rank partner adaptation (conditional imitation; Shih, Ermon, Sadigh, HRI 2022; docs/algorithms.md, section 4).

Each partner's policy is modelled as a mixture of ``r`` basis policies shared by the population; a new partner
is found by fitting only its ``r`` mixture weights from a few of its actions.

This package currently holds the **tabular path** (:mod:`.tabular`, tensorly): the partner tensor, the
partner-mode Tucker / non-negative basis, EM adaptation of the weights, best responses and rank selection.
The neural path (``LowRankPolicy`` with ``fit_bc``/``adapt``, its SB3 policy wrapper) and ``AdaptiveAgent``
come later in this package.
"""

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
    "LowRankBasis",
    "adapt_em",
    "best_response",
    "count_matrix",
    "fit_basis",
    "heldout_nll",
    "mixture_policy",
    "partner_tensor",
    "select_rank",
]
