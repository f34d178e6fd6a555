"""Partners with changing strategies: a latent strategy that evolves between interactions.

In repeated interactions (episodes) ``i = 1, 2, ...`` such a partner acts with a latent strategy ``z_i`` that is
fixed for the whole interaction and then moves to ``z_{i+1} = f(z_i, tau_i)``, a function of what the partner saw
the ego do (``tau_i``) and, optionally, of chance. This is the partner of LILI and SILI (docs/algorithms.md,
section 5.1): Xie et al., "Learning Latent Representations to Influence Multi-Agent Interaction", CoRL 2020
(arXiv 2011.06619); Wang et al., "Influencing Towards Stable Multi-Agent Interactions", CoRL 2021 (arXiv 2110.08229).

:class:`LatentStrategyPartner` is an ordinary :class:`~pantheonrl.common.agents.Agent`, so it plays a seat of any
game of the toolkit (``env.add_partner_agent(partner, 1)``). A subclass implements two methods:

* ``act(obs, strategy)``: its action within an interaction;
* ``next_strategy(strategy, interaction)``: the strategy of the next interaction, from the :class:`Interaction`
  record of the one that just ended.

The game calls the agent's ``end_episode`` hook once when an episode ends, terminated or truncated, including an
episode cut short by ``reset()`` (:class:`~pantheonrl.common.multiagentenv.MultiAgentEnv`); that is where
``next_strategy`` runs, so the strategy never changes inside an interaction. :attr:`LatentStrategyPartner.strategy`
gives a benchmark oracle access to the true latent.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pantheonrl.common.agents import Agent
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError

__all__ = ["Interaction", "LatentStrategyPartner", "RNGSource"]

RNGSource = int | np.random.Generator | Callable[[], np.random.Generator] | None


@dataclass
class Interaction:
    """What a :class:`LatentStrategyPartner` saw in one interaction (episode).

    :ivar observations: the partner's raw observations (``Observation.obs``) in order: the one after the game's
        reset first, then one per game step; the terminal one last.
    :ivar actions: the partner's own actions, in order.
    :ivar ego_actions: the ego's actions as the partner read them from its observations
        (:meth:`LatentStrategyPartner.ego_action_of`); empty where the game does not expose them.
    :ivar reward: the partner's total reward.
    :ivar terminated: the episode ended by the game's rules.
    :ivar truncated: the episode was cut short (a horizon, or ``reset()`` before its end).
    """

    observations: list[Any] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    ego_actions: list[Any] = field(default_factory=list)
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False


def _rng_source(seed: RNGSource) -> Callable[[], np.random.Generator]:
    if callable(seed):
        return seed
    if seed is None or isinstance(seed, int | np.integer | np.random.Generator):
        generator = np.random.default_rng(seed)
        return lambda: generator
    raise ConfigError(
        "seed must be an int, a numpy.random.Generator, a callable returning a Generator, or None; "
        f"got {type(seed).__name__}"
    )


class LatentStrategyPartner(Agent):
    """A partner whose latent strategy changes between interactions as a function of the ego's behaviour.

    Keeps per-interaction state: give each game (each copy of a vectorised game) its own object, e.g. pass a
    factory to :meth:`pantheonrl.vec.MultiAgentVecEnv.add_partner_agent`.

    :param initial_strategy: the strategy of the first interaction (and after :meth:`reset_strategy`).
    :param prob_change: a probability in ``[0, 1]`` that subclasses use for random strategy changes through
        :meth:`change_roll` (what a change means is the subclass's rule).
    :param seed: where :meth:`change_roll` draws come from: an ``int`` seeds the partner's own generator; a
        ``numpy.random.Generator`` is used as is; a zero-argument callable returns the generator for each draw
        (``lambda: env.unwrapped.np_random`` follows the game's seed); ``None``: fresh OS entropy.
    :ivar interaction: the record of the current interaction.
    :ivar last_interaction: the record of the interaction that ended last (``None`` before the first end).
    :ivar n_interactions: how many interactions have ended, i.e. how many times ``next_strategy`` ran.
    """

    def __init__(self, initial_strategy: Any, *, prob_change: float = 0.0, seed: RNGSource = None) -> None:
        if isinstance(prob_change, bool) or not isinstance(prob_change, int | float | np.number):
            raise ConfigError(f"prob_change must be a probability in [0, 1], got {prob_change!r}")
        if not 0.0 <= float(prob_change) <= 1.0:
            raise ConfigError(f"prob_change must be a probability in [0, 1], got {prob_change!r}")
        self.initial_strategy = initial_strategy
        self.prob_change = float(prob_change)
        self._rng_source = _rng_source(seed)
        self._strategy = initial_strategy
        self.interaction = Interaction()
        self.last_interaction: Interaction | None = None
        self.n_interactions = 0
        self._seen: Observation | None = None  # the last observation recorded (one per game step)

    # -- the rule a subclass supplies
    @abstractmethod
    def act(self, obs: Observation, strategy: Any) -> Any:
        """The action for ``obs`` under ``strategy`` (the current interaction's, :attr:`interaction` so far is
        available too)."""

    @abstractmethod
    def next_strategy(self, strategy: Any, interaction: Interaction) -> Any:
        """The next interaction's strategy, from this one's ``strategy`` and record. Called exactly once at
        each episode end; may draw from :attr:`rng` (e.g. through :meth:`change_roll`)."""

    def ego_action_of(self, obs: Observation) -> Any | None:
        """The ego's last action as this partner's observation reveals it, or ``None`` (the default: the game
        does not expose it). Override it for games whose observations carry the ego's moves."""
        return None

    # -- oracle access and randomness
    @property
    def strategy(self) -> Any:
        """The true latent strategy of the current interaction (after an episode's end: of the next one)."""
        return self._strategy

    @property
    def rng(self) -> np.random.Generator:
        """The generator random strategy changes draw from."""
        return self._rng_source()

    def change_roll(self) -> bool:
        """True with probability :attr:`prob_change`; draws nothing when it is 0, so that such partners stay
        deterministic and leave a shared generator untouched."""
        return self.prob_change > 0.0 and bool(self.rng.random() < self.prob_change)

    def reset_strategy(self) -> None:
        """Back to :attr:`initial_strategy`, with an empty record, as before the first interaction."""
        self._strategy = self.initial_strategy
        self.interaction = Interaction()
        self.last_interaction = None
        self.n_interactions = 0
        self._seen = None

    # -- the Agent interface
    def _record(self, obs: Observation | None) -> None:
        if obs is None or obs is self._seen:  # the game shows a step's observation to observe() and get_action()
            return
        self._seen = obs
        raw = obs.obs if isinstance(obs, Observation) else obs
        self.interaction.observations.append(raw)
        ego_action = self.ego_action_of(obs if isinstance(obs, Observation) else Observation(obs))
        if ego_action is not None:
            self.interaction.ego_actions.append(ego_action)

    def observe(self, obs: Observation) -> None:
        self._record(obs)

    def get_action(self, obs: Observation) -> Any:
        self._record(obs)
        action = self.act(obs, self._strategy)
        self.interaction.actions.append(action)
        return action

    def update(self, reward: float, done: bool) -> None:
        self.interaction.reward += float(reward)

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        """The interaction ended: the strategy moves on once. A second call without a new interaction in
        between (nothing observed since) changes nothing."""
        self._record(obs)
        if not self.interaction.observations:
            return
        self.interaction.terminated, self.interaction.truncated = bool(terminated), bool(truncated)
        finished, self.interaction = self.interaction, Interaction()
        self._strategy = self.next_strategy(self._strategy, finished)
        self.last_interaction = finished
        self.n_interactions += 1

    def __repr__(self) -> str:
        return f"{type(self).__name__}(strategy={self._strategy!r}, prob_change={self.prob_change})"
