"""CoMeDi: diverse conventions by cross-play minimisation with mixed-play (Sarkar, Shih, Sadigh, NeurIPS 2023;
docs/algorithms.md, section 3).

* :class:`CoMeDi`: trains one convention against frozen earlier ones (self-play, minus ``alpha`` times cross-play
  with the most compatible earlier convention, plus ``beta`` times self-play from mixed-play states);
* :class:`ConventionPopulation`: K conventions one after another, their cross-play matrix, saving;
* the rollouts run on :class:`pantheonrl.vec.twoseat.TwoSeatCollector`.
"""

from pantheonrl.algos.comedi.comedi import CoMeDi
from pantheonrl.algos.comedi.population import ConventionPopulation, convention_seed

__all__ = ["CoMeDi", "ConventionPopulation", "convention_seed"]
