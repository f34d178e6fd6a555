"""Playing evaluation episodes of a :class:`~pantheonrl.common.multiagentenv.MultiAgentEnv`.

:func:`play_episodes` seats one agent per player (``agents[p]`` plays player ``p``), plays whole episodes and
returns every player's return per episode. Player 0 is driven as the ego through ``env.step``; the other
players are attached as partners, each wrapped in a small recorder that sums the rewards the game hands it
through ``update(reward, done)``.

Reproducibility: with ``seed`` given, the game is reset with ``reset(seed=seed)`` on the first episode, and the
global generators of torch (CPU), NumPy and :mod:`random` are seeded with it for the duration of the call and
restored afterwards, so an agent that samples from one of those (e.g. a stochastic
:class:`~pantheonrl.common.agents.StaticPolicyAgent`) plays the same episodes again. An agent with its own
generator (e.g. an ``RPSWeightedAgent`` built with ``np_random=seed``) keeps its own state: build a fresh one to
replay it.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from pantheonrl.common.agents import Agent
from pantheonrl.common.multiagentenv import MultiAgentEnv
from pantheonrl.common.observation import Observation
from pantheonrl.errors import PlayerException, UserInputError

__all__ = ["EpisodeStats", "evaluate", "play_episodes"]


@dataclass
class EpisodeStats:
    """Returns and lengths of the episodes one player played.

    :ivar returns: the player's undiscounted return in each episode, shape ``(episodes,)``.
    :ivar lengths: the number of ego decisions (calls of ``env.step``) in each episode, shape ``(episodes,)``;
        the same for every player of a run.
    """

    returns: np.ndarray
    lengths: np.ndarray

    def __post_init__(self) -> None:
        self.returns = np.asarray(self.returns, dtype=np.float64).reshape(-1)
        self.lengths = np.asarray(self.lengths, dtype=np.int64).reshape(-1)

    @property
    def n(self) -> int:
        """Number of episodes."""
        return int(self.returns.size)

    @property
    def mean(self) -> float:
        """Mean return (NaN when there are no episodes)."""
        return float(np.mean(self.returns)) if self.n else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation of the returns (``ddof=1``); 0 for fewer than 2 episodes."""
        return float(np.std(self.returns, ddof=1)) if self.n >= 2 else 0.0

    @property
    def sem(self) -> float:
        """Standard error of the mean return, ``std / sqrt(n)``; 0 for fewer than 2 episodes."""
        return self.std / math.sqrt(self.n) if self.n >= 2 else 0.0

    @property
    def ci95(self) -> tuple[float, float]:
        """Normal-approximation 95% confidence interval of the mean return, ``mean -/+ 1.96 sem``."""
        return self.mean - 1.96 * self.sem, self.mean + 1.96 * self.sem


# ---------------------------------------------------------------------------------------------- validation
def check_episodes(episodes: Any) -> int:
    if isinstance(episodes, bool) or not isinstance(episodes, int | np.integer) or episodes < 1:
        raise UserInputError(
            f"episodes={episodes!r} is not allowed: it must be an integer >= 1 (the number of episodes to play); "
            f"pass e.g. episodes=100"
        )
    return int(episodes)


def check_seed(seed: Any, *, allow_none: bool = True) -> int | None:
    if seed is None and allow_none:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        allowed = "a non-negative integer or None" if allow_none else "a non-negative integer"
        raise UserInputError(f"seed={seed!r} is not allowed: it must be {allowed}; pass e.g. seed=0")
    return int(seed)


def check_deterministic(deterministic: Any) -> bool | None:
    if deterministic is not None and not isinstance(deterministic, bool | np.bool_):
        raise UserInputError(
            f"deterministic={deterministic!r} is not allowed: it must be True, False or None (None leaves each "
            f"agent's own setting)"
        )
    return None if deterministic is None else bool(deterministic)


def is_agent(obj: Any) -> bool:
    """Whether ``obj`` can play a seat: it has ``get_action(obs)`` and ``update(reward, done)``."""
    return callable(getattr(obj, "get_action", None)) and callable(getattr(obj, "update", None))


def make_game(env_fn: Any, who: str = "env_fn") -> tuple[Any, MultiAgentEnv]:
    """Call ``env_fn()``; return ``(env, env.unwrapped)`` after checking the latter is a MultiAgentEnv."""
    if not callable(env_fn):
        raise UserInputError(
            f"{who}={env_fn!r} is not callable: pass a zero-argument function that builds a new game, "
            f"e.g. lambda: gym.make('RPS-v0')"
        )
    env = env_fn()
    game = getattr(env, "unwrapped", env)
    if not isinstance(game, MultiAgentEnv):
        with contextlib.suppress(Exception):
            env.close()
        raise UserInputError(
            f"{who}() returned a {type(game).__name__}, not a pantheonrl MultiAgentEnv (or a wrapper of one); "
            f"return a multi-agent game, e.g. lambda: gym.make('RPS-v0') after import pantheonrl"
        )
    return env, game


# ---------------------------------------------------------------------------------------------- recording
class _SeatRecorder(Agent):
    """Plays a partner seat through ``agent`` and sums the rewards the game gives that seat per episode."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        for name in ("observation_space", "action_space", "is_learning"):
            if hasattr(agent, name):
                setattr(self, name, getattr(agent, name))
        self.running = 0.0  # reward of the episode in progress
        self.last_return = 0.0  # return of the last episode that ended with update(..., done=True)
        self.ended = False

    def get_action(self, obs: Observation) -> Any:
        return self.agent.get_action(obs)

    def update(self, reward: float, done: bool) -> None:
        self.agent.update(reward, done)
        self.running += float(reward)
        if done:
            self.last_return, self.running, self.ended = self.running, 0.0, True

    def observe(self, obs: Observation) -> None:
        _hook(self.agent, "observe", obs)

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        _hook(self.agent, "end_episode", obs, terminated, truncated)

    def clear_ended(self) -> None:
        self.ended = False

    def take_return(self) -> float:
        """The return of the episode that just ended (0 if the seat never acted in it: the game keeps a seat's
        rewards until its first action)."""
        value = self.last_return if self.ended else self.running
        self.running, self.ended = 0.0, False
        return value


def _hook(agent: Any, name: str, *args: Any) -> None:
    hook = getattr(agent, name, None)
    if callable(hook):
        hook(*args)


# ---------------------------------------------------------------------------------------------- seeding
@contextlib.contextmanager
def _seeded_globals(seed: int | None) -> Iterator[None]:
    """Seed torch (CPU), NumPy's and Python's global generators for the block; restore them afterwards."""
    if seed is None:
        yield
        return
    np_state = np.random.get_state()
    py_state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


@contextlib.contextmanager
def _deterministic(agents: Sequence[Any], deterministic: bool | None) -> Iterator[None]:
    """Set ``.deterministic`` on the agents that have it; restore every original value afterwards."""
    saved: dict[int, tuple[Any, Any]] = {}
    if deterministic is not None:
        for agent in agents:
            if id(agent) not in saved and hasattr(agent, "deterministic"):
                saved[id(agent)] = (agent, agent.deterministic)
    try:
        for agent, _ in saved.values():
            agent.deterministic = deterministic
        yield
    finally:
        for agent, original in saved.values():
            agent.deterministic = original


# ---------------------------------------------------------------------------------------------- playing
def _check_agents(agents: Any, n_players: int, game: MultiAgentEnv) -> list[Any]:
    if isinstance(agents, str | bytes) or not isinstance(agents, Sequence):
        raise UserInputError(
            f"agents must be a sequence with one agent per player ({n_players} for {type(game).__name__}), got "
            f"{type(agents).__name__}; pass e.g. [ego_agent, partner_agent]"
        )
    agents = list(agents)
    if len(agents) != n_players:
        raise PlayerException(
            f"got {len(agents)} agent(s) for {type(game).__name__}, a {n_players}-player game: pass exactly "
            f"{n_players}, agents[p] playing player p (agents[0] is the ego)"
        )
    for p, agent in enumerate(agents):
        if not is_agent(agent):
            raise PlayerException(
                f"agents[{p}] is a {type(agent).__name__}, not an agent: it needs get_action(obs) and "
                f"update(reward, done); subclass pantheonrl.Agent or wrap a policy in StaticPolicyAgent"
            )
        for kind, spaces_ in (("observation", game.observation_spaces), ("action", game.action_spaces)):
            agent_space = getattr(agent, f"{kind}_space", None)
            if agent_space is not None and agent_space != spaces_[p]:
                raise PlayerException(
                    f"agents[{p}] ({type(agent).__name__}) has {kind} space {agent_space}, but player {p} of "
                    f"{type(game).__name__} has {spaces_[p]}; build its model on env.get_dummy_env({p})"
                )
    learning = [a for a in agents if getattr(a, "is_learning", False)]
    if len({id(a) for a in learning}) != len(learning):
        raise PlayerException(
            "the same learning agent was given for two players; a learning agent keeps one trajectory and can "
            "fill one seat only: pass a separate agent per player"
        )
    return agents


def play_episodes(
    env_fn: Callable[[], MultiAgentEnv],
    agents: Sequence[Agent],
    episodes: int,
    *,
    seed: int | None = 0,
    deterministic: bool | None = None,
) -> list[EpisodeStats]:
    """Play ``episodes`` whole episodes of a new game with ``agents[p]`` in player ``p``'s seat.

    :param env_fn: zero-argument function returning a new game (a ``MultiAgentEnv`` or a gymnasium wrapper of
        one) without partners attached; it is called once.
    :param agents: one agent per player. ``agents[0]`` is driven as the ego (``get_action`` on an
        :class:`Observation` carrying ``env.action_masks()`` when its action space is ``Discrete``; it also
        hears ``observe``, ``update`` and ``end_episode`` like a partner); the others are attached as partners.
    :param episodes: number of episodes (>= 1).
    :param seed: seeds the first ``reset`` and, for the call, the global torch/NumPy/random generators (see the
        module docstring); ``None``: no seeding.
    :param deterministic: if not ``None``, set as ``.deterministic`` on every agent that has that attribute for
        the run, and restored afterwards.
    :return: one :class:`EpisodeStats` per player: that player's return in each episode.
    """
    episodes = check_episodes(episodes)
    seed = check_seed(seed)
    deterministic = check_deterministic(deterministic)
    env, game = make_game(env_fn)
    try:
        agents = _check_agents(agents, game.n_players, game)
        if any(game.partners):
            raise PlayerException(
                f"env_fn() returned a {type(game).__name__} that already has partners attached "
                f"({[len(seat) for seat in game.partners]} per seat); play_episodes seats agents[1:] itself: "
                f"return a game without partners"
            )
        if game.ego_ind != 0:
            game.set_ego_ind(0, silence_partner_warning=True)
        recorders = [_SeatRecorder(agent) for agent in agents[1:]]
        for player, recorder in enumerate(recorders, start=1):
            game.add_partner_agent(recorder, player_num=player)
        ego = agents[0]
        masked = isinstance(game.action_space, spaces.Discrete)
        returns = np.zeros((game.n_players, episodes), dtype=np.float64)
        lengths = np.zeros(episodes, dtype=np.int64)
        with _seeded_globals(seed), _deterministic(agents, deterministic):
            for episode in range(episodes):
                obs, _ = env.reset(seed=seed if episode == 0 else None)
                for recorder in recorders:
                    recorder.clear_ended()  # episodes that ended inside reset() (before the ego could act)
                total, steps, done = 0.0, 0, False
                while not done:
                    ob = Observation(obs, action_mask=game.action_masks() if masked else None)
                    _hook(ego, "observe", ob)
                    action = ego.get_action(ob)
                    obs, reward, terminated, truncated, _ = env.step(action)
                    done = bool(terminated or truncated)
                    total += float(reward)
                    steps += 1
                    ego.update(float(reward), done)
                    if done:
                        _hook(ego, "end_episode", Observation(obs), bool(terminated), bool(truncated))
                returns[0, episode] = total
                lengths[episode] = steps
                for player, recorder in enumerate(recorders, start=1):
                    returns[player, episode] = recorder.take_return()
    finally:
        with contextlib.suppress(Exception):
            env.close()
    return [EpisodeStats(returns[p].copy(), lengths.copy()) for p in range(returns.shape[0])]


def evaluate(
    env_fn: Callable[[], MultiAgentEnv],
    ego: Agent,
    partners: Sequence[Agent],
    episodes: int,
    *,
    seed: int | None = 0,
    deterministic: bool | None = None,
) -> EpisodeStats:
    """The ego's (player 0's) returns against ``partners`` (``partners[k]`` plays player ``k + 1``).

    A shortcut for ``play_episodes(env_fn, [ego, *partners], ...)[0]``.
    """
    if isinstance(partners, str | bytes) or not isinstance(partners, Sequence):
        if is_agent(partners):
            raise UserInputError(
                f"partners must be a sequence of agents (one per non-ego player), got a single "
                f"{type(partners).__name__}; pass [partner]"
            )
        raise UserInputError(
            f"partners must be a sequence of agents (one per non-ego player), got {type(partners).__name__}; "
            f"pass e.g. [partner]"
        )
    return play_episodes(env_fn, [ego, *partners], episodes, seed=seed, deterministic=deterministic)[0]
