"""SILI: influencing a partner toward a stable strategy (Wang, Shih, Xie, Sadigh, CoRL 2021; docs/algorithms.md,
section 5), with LILI (Xie et al., CoRL 2020) as its ``beta = 0`` case.

* :mod:`.latent`: :class:`LatentStrategyModel`, the encoder ``E(tau_{i-1}) -> z_i`` and reward decoder;
* :mod:`.shaping`: the stability reward ``-||z_{i+1} - z_i||``, reward shaping and the ``beta`` schedule;
* :mod:`.wrapper`: :class:`LatentStrategyVecWrapper`, which appends ``z_i`` to the observations and shapes rewards
  on an SB3 ``VecEnv``;
* :mod:`.callback`: :class:`SILICallback`, which trains the latent model between policy updates;
* :mod:`.sili`: :class:`SILI`, the whole thing around any SB3 algorithm (PPO by default).
"""

from pantheonrl.algos.sili.callback import SILICallback
from pantheonrl.algos.sili.latent import LATENT_KINDS, LatentStrategyModel
from pantheonrl.algos.sili.shaping import BetaSchedule, shaped_reward, stability_reward
from pantheonrl.algos.sili.sili import SILI, VARIANTS
from pantheonrl.algos.sili.wrapper import LatentStrategyVecWrapper

__all__ = [
    "LATENT_KINDS",
    "SILI",
    "VARIANTS",
    "BetaSchedule",
    "LatentStrategyModel",
    "LatentStrategyVecWrapper",
    "SILICallback",
    "shaped_reward",
    "stability_reward",
]
