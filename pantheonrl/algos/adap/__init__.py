"""ADAP: a latent-conditioned population of policies with a diversity loss (arXiv 2107.07506).

* :class:`ADAP`: PPO on ``pi(a | s, z)`` plus ``context_loss_coeff * D`` (docs/algorithms.md, section 6);
* :class:`AdapPolicy` / :class:`AdapPolicyMult` (with :class:`MultModel`): the latent-conditioned policies;
* :class:`AdapAgent`: an ADAP model as a partner, with its own latent or the ego's (``latent_syncer``);
* :data:`SAMPLERS`, :func:`get_context_kl_loss`, :func:`kl_divergence`, :func:`latent_search`: latent priors,
  the diversity term and the latent search used to adapt to a new partner.

Importing this package registers ``"ADAP"`` in :data:`pantheonrl.registry.ALGORITHMS`, so ADAP models can be
saved and loaded as artefacts (:mod:`pantheonrl.artifacts`).
"""

from pantheonrl.algos.adap.adap_learn import ADAP
from pantheonrl.algos.adap.agent import AdapAgent, AdapAgentView
from pantheonrl.algos.adap.policies import AdapPolicy, AdapPolicyMult, MultModel
from pantheonrl.algos.adap.util import (
    SAMPLERS,
    context_diversity,
    diversity_loss,
    get_context_kl_loss,
    kl_divergence,
    latent_search,
)

__all__ = [
    "ADAP",
    "SAMPLERS",
    "AdapAgent",
    "AdapAgentView",
    "AdapPolicy",
    "AdapPolicyMult",
    "MultModel",
    "context_diversity",
    "diversity_loss",
    "get_context_kl_loss",
    "kl_divergence",
    "latent_search",
]
