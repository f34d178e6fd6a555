"""MAB coordination: the contextual bandit of the low-rank partner-adaptation benchmark B-1.

Shih, Ermon, Sadigh, "Conditional Imitation Learning for Multi-Agent Games", HRI 2022 (arXiv 2201.01448);
docs/algorithms.md, sections 4.3 and 4.5.

Both players see the same context ``c`` (one of 10, uniform, drawn from the game's ``np_random``) and pull one
of 10 arms at the same time; every episode is one step. Arm ``a`` is *valid* in context ``c`` iff they lie in
the same block of the block-diagonal :data:`VALID` table: contexts 0-3 with arms 0-3, 4-7 with 4-7, 8-9 with
8-9. The reward is the same for both players:

* default: 1 iff both arms are equal **and** valid for ``c``, else 0;
* ``solo=True``: each player independently gets 1 iff its **own** arm is valid for ``c`` (the partner's arm
  does not matter; the reference implementation's "solo" phase in which its PPO partners learn validity).

A convention is one valid arm per context; since the game is symmetric, imitating the partner is the best
response. Observation: a one-hot context, ``Box(0, 1, (10,), float32)``, for both players. The reference
implementation instead gave a scalar ``o`` in ``0..999`` (as a float) with context ``o // 100``, so that its
networks had to learn the binning; the one-hot context is our design choice for B-1 (docs/algorithms.md 4.3).

Scripted partners and helpers for B-1:

* :class:`TabularPartner`: an agent that samples its arm from a row-stochastic ``(10, 10)`` policy table;
* :func:`random_prototypes`: ``r`` deterministic context -> valid-arm maps (one-hot ``(r, 10, 10)``);
* :func:`mixture_partners`: Dirichlet mixtures of prototypes, with optional noise over the valid arms;
* :func:`expected_reward`: the exact coordination reward ``sum_s (1/S) sum_a valid * pi_ego * pi_partner``.

Importing this module registers ``CoordinationMAB-v0`` (``gym.make("CoordinationMAB-v0", solo=False)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pantheonrl.common.agents import ScriptedAgent
from pantheonrl.common.multiagentenv import SimultaneousEnv
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.registry import ENVS

__all__ = [
    "BLOCKS",
    "ENV_ID",
    "N_ARMS",
    "N_CONTEXTS",
    "VALID",
    "CoordinationMAB",
    "TabularPartner",
    "context_of",
    "coordination_reward",
    "expected_reward",
    "mixture_partners",
    "random_prototypes",
    "valid_arms",
]

ENV_ID = "CoordinationMAB-v0"
RNGSource = int | np.random.Generator | Callable[[], np.random.Generator] | None
N_CONTEXTS = 10
N_ARMS = 10
BLOCKS: tuple[range, ...] = (range(0, 4), range(4, 8), range(8, 10))
"""The diagonal blocks of :data:`VALID`: each range is both a set of contexts and their valid arms."""


def _valid_table() -> np.ndarray:
    table = np.zeros((N_CONTEXTS, N_ARMS), dtype=bool)
    for block in BLOCKS:
        table[block.start : block.stop, block.start : block.stop] = True
    table.setflags(write=False)
    return table


VALID: np.ndarray = _valid_table()
"""``VALID[c, a]``: arm ``a`` is valid in context ``c`` (bool, shape ``(10, 10)``, read-only)."""


def _index(value: Any, size: int, what: str) -> int:
    arr = np.asarray(value).reshape(-1)
    if arr.size != 1 or not np.isfinite(float(arr[0])) or not float(arr[0]).is_integer():
        raise ConfigError(f"{what} must be one integer in 0..{size - 1}, got {value!r}")
    idx = int(arr[0])
    if not 0 <= idx < size:
        raise ConfigError(f"{what} must be in 0..{size - 1}, got {idx}")
    return idx


def valid_arms(context: int) -> np.ndarray:
    """The valid arms of ``context`` (sorted int array), e.g. ``valid_arms(9) -> [8, 9]``."""
    return np.flatnonzero(VALID[_index(context, N_CONTEXTS, "context")])


def coordination_reward(context: int, a0: int, a1: int, solo: bool = False) -> tuple[float, float]:
    """The rewards ``(r0, r1)`` of one step: context ``context``, arms ``a0`` (player 0) and ``a1`` (player 1)."""
    c = _index(context, N_CONTEXTS, "context")
    a0, a1 = _index(a0, N_ARMS, "arm a0"), _index(a1, N_ARMS, "arm a1")
    if solo:
        return float(VALID[c, a0]), float(VALID[c, a1])
    r = float(a0 == a1 and VALID[c, a0])
    return r, r


def context_of(obs: Any) -> int:
    """The context of an observation: a one-hot ``(10,)`` vector (its argmax) or a plain integer."""
    if isinstance(obs, Observation):
        obs = obs.obs
    arr = np.asarray(obs, dtype=float).reshape(-1)
    if arr.size == N_CONTEXTS:
        return int(np.argmax(arr))
    return _index(arr, N_CONTEXTS, "context")


def _one_hot(c: int) -> np.ndarray:
    obs = np.zeros(N_CONTEXTS, dtype=np.float32)
    obs[c] = 1.0
    return obs


class CoordinationMAB(SimultaneousEnv):
    """The 10-context, 10-arm coordination bandit for two players (player 0 is the ego by default).

    :param solo: reward each player for its own valid arm, ignoring the partner (see the module docstring).
    :param partners: optional agents for player 1's seat (e.g. :class:`TabularPartner`).
    :param horizon: optional truncation in game steps; the game already ends after its one step.
    :ivar context: the current context (set by ``reset``).
    """

    episode_length = 1
    n_contexts = N_CONTEXTS
    n_arms = N_ARMS

    def __init__(
        self, solo: bool = False, partners: Sequence[Any] | None = None, *, horizon: int | None = None
    ) -> None:
        if not isinstance(solo, bool | np.bool_):
            raise ConfigError(f"solo must be True or False, got {solo!r}")
        self.solo = bool(solo)
        obs_space = spaces.Box(low=0.0, high=1.0, shape=(N_CONTEXTS,), dtype=np.float32)
        act_space = spaces.Discrete(N_ARMS)
        super().__init__([obs_space, obs_space], [act_space, act_space], partners=partners, horizon=horizon)
        self.context = 0

    @staticmethod
    def _arm(action: Any, player: int) -> int:
        arr = np.asarray(action).reshape(-1)
        if arr.size != 1 or not float(arr[0]).is_integer() or not 0 <= int(arr[0]) < N_ARMS:
            raise PlayerException(f"player {player} chose {action!r}; an action is an arm 0..{N_ARMS - 1}")
        return int(arr[0])

    def multi_reset(self) -> tuple[np.ndarray, np.ndarray]:
        self.context = int(self.np_random.integers(N_CONTEXTS))
        return _one_hot(self.context), _one_hot(self.context)

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        a0, a1 = self._arm(ego_action, 0), self._arm(alt_action, 1)
        rewards = coordination_reward(self.context, a0, a1, self.solo)
        obs = (_one_hot(self.context), _one_hot(self.context))
        return obs, rewards, True, False, {"context": self.context, "arms": (a0, a1)}


def _check_policy(policy: Any, name: str = "policy", batch: bool = False) -> np.ndarray:
    arr = np.asarray(policy, dtype=float)
    shape = (N_CONTEXTS, N_ARMS)
    if (arr.shape[1:] if batch else arr.shape) != shape or (batch and arr.ndim != 3):
        want = f"(n, {N_CONTEXTS}, {N_ARMS})" if batch else str(shape)
        raise ConfigError(f"{name} must have shape {want} (rows: contexts, columns: arms), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or not np.allclose(arr.sum(-1), 1.0, atol=1e-6):
        raise ConfigError(f"every row of {name} must be a distribution over arms (non-negative, summing to 1)")
    return arr


class TabularPartner(ScriptedAgent):
    """A scripted partner that samples its arm from ``policy[context]``.

    :param policy: ``(10, 10)`` table, row ``c`` a distribution over arms in context ``c``.
    :param seed: where the draws come from: an ``int`` seeds the partner's own generator, so that its draws
        neither depend on nor disturb the game's ``np_random``; a ``numpy.random.Generator`` is used as is; a
        zero-argument callable returns the generator for each draw (``lambda: env.unwrapped.np_random`` follows
        the game's generator across ``reset(seed=...)``, so that one seed fixes whole episodes); ``None``: fresh
        OS entropy (not reproducible).

    One object may play every copy of a vectorised game (``get_actions``); its draws then interleave.
    """

    def __init__(self, policy: Any, *, seed: RNGSource = None) -> None:
        self.policy = _check_policy(policy)
        if callable(seed):
            self._rng_source: Callable[[], np.random.Generator] = seed
        elif seed is None or isinstance(seed, int | np.integer | np.random.Generator):
            generator = np.random.default_rng(seed)
            self._rng_source = lambda: generator
        else:
            raise ConfigError(
                "seed must be an int, a numpy.random.Generator, a callable returning a Generator, or None; "
                f"got {type(seed).__name__}"
            )
        self.observation_space = spaces.Box(low=0.0, high=1.0, shape=(N_CONTEXTS,), dtype=np.float32)
        self.action_space = spaces.Discrete(N_ARMS)

    def act(self, context: int) -> int:
        """One arm for ``context``, drawn from the partner's generator."""
        return int(self.rng.choice(N_ARMS, p=self.policy[context]))

    @property
    def rng(self) -> np.random.Generator:
        """The generator the next draw comes from."""
        return self._rng_source()

    def get_action(self, obs: Observation) -> int:
        return self.act(context_of(obs))

    def __repr__(self) -> str:
        return f"TabularPartner(greedy arms={tuple(int(a) for a in self.policy.argmax(1))})"


def _count(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def random_prototypes(r: int, rng: int | np.random.Generator | None = None, *, distinct: bool = True) -> np.ndarray:
    """``r`` deterministic conventions: each maps every context to one uniformly drawn valid arm.

    :param r: how many prototypes.
    :param rng: a generator or a seed.
    :param distinct: redraw until no two prototypes are identical (there are 4^8 * 2^2 conventions).
    :returns: ``(r, 10, 10)`` one-hot policy tables.
    """
    r = _count(r, "r (number of prototypes)")
    rng = np.random.default_rng(rng)
    protos = np.zeros((r, N_CONTEXTS, N_ARMS))
    seen: set[tuple[int, ...]] = set()
    k = 0
    while k < r:
        arms = tuple(int(rng.choice(np.flatnonzero(VALID[c]))) for c in range(N_CONTEXTS))
        if distinct and arms in seen:
            continue
        seen.add(arms)
        protos[k, np.arange(N_CONTEXTS), arms] = 1.0
        k += 1
    return protos


def mixture_partners(
    prototypes: Any,
    n: int,
    rng: int | np.random.Generator | None = None,
    alpha: float = 0.5,
    eps: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` partners, each a Dirichlet(``alpha``) mixture of the prototypes, with optional noise.

    Partner ``i`` plays ``(1 - eps) * sum_k w[i, k] * prototypes[k] + eps * uniform(valid arms of the context)``.

    :param prototypes: ``(r, 10, 10)`` policy tables (e.g. from :func:`random_prototypes`).
    :param n: number of partners.
    :param rng: a generator or a seed.
    :param alpha: the Dirichlet concentration (B-1: 0.5).
    :param eps: the noise mass, in ``[0, 1]`` (B-1: 0 or 0.05).
    :returns: ``(policies, weights)``: ``(n, 10, 10)`` tables and their true ``(n, r)`` mixture weights.
    """
    protos = _check_policy(prototypes, "prototypes", batch=True)
    n = _count(n, "n (number of partners)")
    if not isinstance(alpha, int | float | np.number) or not alpha > 0:
        raise ConfigError(f"alpha (Dirichlet concentration) must be a positive number, got {alpha!r}; e.g. 0.5")
    if not isinstance(eps, int | float | np.number) or not 0.0 <= eps <= 1.0:
        raise ConfigError(f"eps (noise over valid arms) must be in [0, 1], got {eps!r}; e.g. 0.05")
    rng = np.random.default_rng(rng)
    weights = rng.dirichlet(np.full(len(protos), float(alpha)), size=n)
    policies = np.einsum("nk,ksa->nsa", weights, protos)
    uniform_valid = VALID / VALID.sum(1, keepdims=True)
    policies = (1.0 - eps) * policies + eps * uniform_valid
    return policies / policies.sum(-1, keepdims=True), weights


def expected_reward(ego_policy: Any, partner_policy: Any, valid: Any = None) -> float:
    """The exact expected coordination reward ``sum_s (1/S) sum_a valid[s, a] * ego[s, a] * partner[s, a]``.

    Contexts are uniform; both tables are ``(S, A)`` row-stochastic (``valid`` defaults to :data:`VALID`).
    """
    ego = np.asarray(ego_policy, dtype=float)
    partner = np.asarray(partner_policy, dtype=float)
    valid = VALID if valid is None else np.asarray(valid, dtype=bool)
    if ego.shape != partner.shape or ego.shape != valid.shape or ego.ndim != 2:
        raise ConfigError(
            f"ego_policy, partner_policy and valid must share one (S, A) shape, got {ego.shape}, {partner.shape}, "
            f"{valid.shape}"
        )
    return float((valid * ego * partner).sum() / ego.shape[0])


if ENV_ID not in gym.registry:  # importing twice (or a reload) must not re-register
    gym.register(ENV_ID, entry_point=CoordinationMAB, order_enforce=False, disable_env_checker=True)
if ENV_ID not in ENVS:
    ENVS.register(ENV_ID, ENV_ID)
