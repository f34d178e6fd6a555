"""``AdaptiveAgent``: an ego that adapts to its current partner online with a low-rank basis (tabular path).

The agent holds a fitted non-negative basis ``B`` (``(r, S, A)``, :func:`~.tabular.fit_basis` with
``method="nmf"``) and the counts ``N[s, a]`` of the actions it has seen its current partner take. It
re-estimates the partner's mixture weights ``w`` with :func:`~.tabular.adapt_em` on ``N`` (plus optional
``prior_counts``), either at each episode end (``update_every="episode"``) or after every ``k`` recorded partner
actions (``update_every=k``), and acts **deterministically** with the best response to the estimated partner,
``best_response(mixture_policy(B, w))`` (the greedy valid action of each state; ties to the lowest index). Before
any observation ``w`` is uniform, i.e. it best-responds to the basis' average policy.

How the partner's actions reach the agent is up to the game:

* :meth:`AdaptiveAgent.observe_partner` ``(state, action)`` records one action directly;
* with ``info_reader`` (a callable ``info -> (state, action) | None``), :meth:`AdaptiveAgent.observe_info`
  reads it from a step's info dict. :func:`arms_info_reader` reads CoordinationMAB's ``{"context", "arms"}``;
* :func:`run_episodes` plays the agent as the ego of a game (partner seated by ``env.add_partner_agent``) and
  passes each step's info to :meth:`~AdaptiveAgent.observe_info` before :meth:`~AdaptiveAgent.update`.

Example (B-1)::

    env = CoordinationMAB(); env.add_partner_agent(TabularPartner(policy, seed=0))
    agent = AdaptiveAgent(basis, state_fn=context_of, valid=VALID, info_reader=arms_info_reader(1))
    returns = run_episodes(env, agent, 32, seed=0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from pantheonrl.algos.lowrank.tabular import (
    LowRankBasis,
    _array,
    _int,
    _nonneg_float,
    _valid,
    adapt_em,
    best_response,
    mixture_policy,
)
from pantheonrl.common.agents import Agent
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError

__all__ = ["AdaptiveAgent", "arms_info_reader", "run_episodes"]

InfoReader = Callable[[Mapping[str, Any]], "tuple[int, int] | None"]


def arms_info_reader(partner_seat: int = 1, state_key: str = "context", arms_key: str = "arms") -> InfoReader:
    """An ``info_reader`` for games whose step info holds the state and every player's action.

    CoordinationMAB's info is ``{"context": c, "arms": (a0, a1)}``: the returned callable gives
    ``(info["context"], info["arms"][partner_seat])``, or ``None`` when either key is missing.
    """
    seat = _int(partner_seat, "partner_seat", 0, hint="; the partner's player index, e.g. 1")

    def read(info: Mapping[str, Any]) -> tuple[int, int] | None:
        if state_key not in info or arms_key not in info:
            return None
        arms = info[arms_key]
        if seat >= len(arms):
            raise ConfigError(f"info[{arms_key!r}] has {len(arms)} actions; no partner seat {seat}")
        return int(info[state_key]), int(arms[seat])

    return read


class AdaptiveAgent(Agent):
    """An agent that estimates its partner's low-rank mixture weights online and best-responds to them.

    :param basis: an ``"nmf"`` :class:`~.tabular.LowRankBasis` (or its ``(r, S, A)`` non-negative ``basis``).
    :param state_fn: ``state_fn(obs) -> state index`` in ``0..S-1`` for the agent's own observation (for
        CoordinationMAB: ``context_of``). It is given what :meth:`get_action` gets (an ``Observation`` when the
        agent sits in a partner seat, the raw observation when it is driven as the ego).
    :param valid: optional boolean ``(S, A)`` table of legal actions (default: the basis' ``valid``).
    :param update_every: ``"episode"``: refit ``w`` when an episode ends (``update(..., done=True)`` or
        ``end_episode``) if new partner actions were seen; an int ``k >= 1``: refit after every ``k`` recorded
        partner actions (not at episode ends).
    :param smoothing: ``adapt_em``'s Dirichlet ``eps`` (0: maximum likelihood).
    :param em_iters: ``adapt_em``'s maximum number of iterations.
    :param prior_counts: optional non-negative ``(S, A)`` pseudo-counts added to the observed counts in every
        fit (e.g. counts from an earlier session with the partner); :meth:`reset_partner` keeps them.
    :param info_reader: optional ``info -> (state, action) | None`` for :meth:`observe_info`
        (e.g. :func:`arms_info_reader`).
    """

    def __init__(
        self,
        basis: LowRankBasis | Any,
        *,
        state_fn: Callable[[Any], int],
        valid: Any = None,
        update_every: str | int = "episode",
        smoothing: float = 0.0,
        em_iters: int = 300,
        prior_counts: Any = None,
        info_reader: InfoReader | None = None,
    ) -> None:
        if isinstance(basis, LowRankBasis):
            if valid is None:
                valid = basis.valid
            basis = basis.basis
        B = _array(basis, "basis", 3, "(r, S, A) of basis policies (fit_basis(..., method='nmf'))")
        if np.any(B < 0):
            raise ConfigError("basis must be non-negative (policies); fit it with fit_basis(..., method='nmf')")
        self._B = B
        _, n_s, n_a = B.shape
        if not callable(state_fn):
            raise ConfigError(f"state_fn must be a callable obs -> state index, got {type(state_fn).__name__}")
        self.state_fn = state_fn
        self.valid = _valid(valid, (n_s, n_a))
        if isinstance(update_every, str):
            if update_every != "episode":
                raise ConfigError(f"update_every must be 'episode' or an integer k >= 1, got {update_every!r}")
            self.update_every: str | int = "episode"
        else:
            self.update_every = _int(update_every, "update_every", 1, hint="; or 'episode'")
        self.smoothing = _nonneg_float(smoothing, "smoothing", "; e.g. 0.01, or 0 for maximum likelihood")
        self.em_iters = _int(em_iters, "em_iters", 1, hint="; e.g. 300")
        if prior_counts is None:
            self._prior = np.zeros((n_s, n_a))
        else:
            self._prior = _array(prior_counts, "prior_counts", 2, f"(S, A) = ({n_s}, {n_a}) of pseudo-counts")
            if self._prior.shape != (n_s, n_a) or np.any(self._prior < 0):
                raise ConfigError(f"prior_counts must be non-negative with shape ({n_s}, {n_a})")
        if info_reader is not None and not callable(info_reader):
            raise ConfigError(f"info_reader must be a callable info -> (state, action) | None, got {info_reader!r}")
        self.info_reader = info_reader
        self.n_updates = 0
        """How many times ``w`` was re-estimated since construction (not reset by :meth:`reset_partner`)."""
        self.reset_partner()

    # --------------------------------------------------------------------------------------------- state

    @property
    def rank(self) -> int:
        return int(self._B.shape[0])

    @property
    def n_states(self) -> int:
        return int(self._B.shape[1])

    @property
    def n_actions(self) -> int:
        return int(self._B.shape[2])

    @property
    def weights(self) -> np.ndarray:
        """The current estimate of the partner's mixture weights ``w`` (``(r,)``, a copy)."""
        return self._w.copy()

    @property
    def counts(self) -> np.ndarray:
        """The observed partner-action counts ``N[s, a]`` since the last :meth:`reset_partner` (a copy)."""
        return self._counts.copy()

    @property
    def n_observed(self) -> int:
        """How many partner actions were recorded since the last :meth:`reset_partner`."""
        return self._n_observed

    @property
    def partner_policy(self) -> np.ndarray:
        """The estimated partner policy ``mixture_policy(B, w)`` (``(S, A)``)."""
        return mixture_policy(self._B, self._w, valid=self.valid)

    @property
    def policy(self) -> np.ndarray:
        """The agent's current deterministic one-hot ``(S, A)`` policy, ``best_response(partner_policy)``."""
        return self._policy.copy()

    def reset_partner(self) -> None:
        """Forget the partner: counts to zero, ``w`` back to uniform (``prior_counts`` are kept but not fitted)."""
        self._counts = np.zeros((self.n_states, self.n_actions))
        self._n_observed = 0
        self._pending = 0
        self._set_weights(np.full(self.rank, 1.0 / self.rank))

    def _set_weights(self, w: np.ndarray) -> None:
        self._w = np.asarray(w, dtype=float)
        self._policy = best_response(mixture_policy(self._B, self._w, valid=self.valid), self.valid)

    def refit(self) -> np.ndarray:
        """Re-estimate ``w`` now with ``adapt_em`` on ``counts + prior_counts``; returns the new ``w``."""
        w, _ = adapt_em(self._B, self._counts + self._prior, iters=self.em_iters, smoothing=self.smoothing)
        self._set_weights(w)
        self._pending = 0
        self.n_updates += 1
        return self.weights

    # ---------------------------------------------------------------------------------------- observing

    def observe_partner(self, state: Any, action: Any) -> None:
        """Record that the partner took ``action`` in ``state`` (refits when ``update_every=k`` is due)."""
        s = _index(state, self.n_states, "state")
        a = _index(action, self.n_actions, "action")
        self._counts[s, a] += 1.0
        self._n_observed += 1
        self._pending += 1
        if self.update_every != "episode" and self._pending >= self.update_every:
            self.refit()

    def observe_info(self, info: Mapping[str, Any]) -> bool:
        """Record the partner's action from a step's info dict with ``info_reader``; True if one was recorded."""
        if self.info_reader is None:
            raise ConfigError(
                "observe_info needs an info_reader, e.g. AdaptiveAgent(..., info_reader=arms_info_reader(1))"
            )
        pair = self.info_reader(info)
        if pair is None:
            return False
        self.observe_partner(*pair)
        return True

    def _episode_end(self) -> None:
        if self.update_every == "episode" and self._pending > 0:
            self.refit()

    # ------------------------------------------------------------------------------------ Agent interface

    def get_action(self, obs: Observation | Any) -> int:
        """The best-response action in ``state_fn(obs)`` (deterministic)."""
        s = _index(self.state_fn(obs), self.n_states, "state_fn(obs)")
        return int(self._policy[s].argmax())

    def update(self, reward: float, done: bool) -> None:
        """At ``done`` with ``update_every="episode"``: refit ``w`` if new partner actions were recorded."""
        if done:
            self._episode_end()

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        self._episode_end()

    def __repr__(self) -> str:
        return (
            f"AdaptiveAgent(rank={self.rank}, update_every={self.update_every!r}, observed={self._n_observed}, "
            f"w={np.round(self._w, 3).tolist()})"
        )


def _index(value: Any, size: int, what: str) -> int:
    arr = np.asarray(value).reshape(-1)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number) or not float(arr[0]).is_integer():
        raise ConfigError(f"{what} must be one integer in 0..{size - 1}, got {value!r}")
    idx = int(arr[0])
    if not 0 <= idx < size:
        raise ConfigError(f"{what} must be in 0..{size - 1}, got {idx}")
    return idx


def run_episodes(env: Any, agent: AdaptiveAgent, n: int, *, seed: int | None = None) -> np.ndarray:
    """Play ``n`` episodes of ``env`` with ``agent`` as the ego; returns the ``(n,)`` episode returns.

    The partner must already be seated (``env.add_partner_agent``). Each step: ``a = agent.get_action(obs)``,
    ``env.step(a)``, ``agent.observe_info(info)`` (so the agent needs an ``info_reader``), then
    ``agent.update(reward, done)`` (which refits ``w`` at the episode end with ``update_every="episode"``).
    ``seed`` seeds the first ``env.reset`` only.
    """
    n = _int(n, "n (number of episodes)", 1)
    if not isinstance(agent, AdaptiveAgent):
        raise ConfigError(f"agent must be an AdaptiveAgent, got {type(agent).__name__}")
    if agent.info_reader is None:
        raise ConfigError("run_episodes needs an agent with an info_reader (e.g. arms_info_reader(1))")
    returns = np.zeros(n)
    for episode in range(n):
        obs, _ = env.reset(seed=seed if episode == 0 else None)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(agent.get_action(obs))
            agent.observe_info(info)
            done = bool(terminated or truncated)
            agent.update(float(reward), done)
            returns[episode] += float(reward)
    return returns
