"""Modular policies: a shared task module plus one partner (convention) module per partner.

Shih, Sawhney, Kondic, Ermon, Sadigh, "On the Critical Role of Conventions in Adaptive Human-AI
Collaboration", ICLR 2021 (arXiv 2104.02871); see docs/algorithms.md, section 7.

* :class:`ModularPolicy` (:mod:`.policies`): logits ``f(s) + g_p(h(s))``, value ``v(s) + v_p(h(s))``;
  ``baseline`` (one shared partner module) and ``nomain`` variants; freezing, ``overwrite_main``,
  ``add_partner_module``.
* :class:`ModularAlgorithm` (:mod:`.learn`): PPO with one rollout buffer per partner and the marginal
  regularizer ``marginal_reg_coef * L_marg``.

Adapting to a new partner::

    k = model.add_partner_module()                    # fresh partner module and buffer
    model.set_env(env_with_the_new_partner)
    model.set_training_partners([k], env_partner_ids=[0])
    model.learn(240)

A new task with known partners (zero-shot): ``model.set_freeze_partner(True)``, optionally
``model.policy.reset_main_logits()`` (a task module trained without entropy no longer explores), retrain the
task module with ``learn`` on the new task (with some of the partners), then play any known partner ``p``
with ``model.set_active_partner(p)``; ``overwrite_main`` moves a retrained task module into another policy.
"""

from pantheonrl.algos.modular.learn import ModularAlgorithm
from pantheonrl.algos.modular.policies import ModularPolicy, marginal_loss

__all__ = ["ModularAlgorithm", "ModularPolicy", "marginal_loss"]
