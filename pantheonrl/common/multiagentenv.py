"""Multi-agent games seen from one learning seat (the *ego*).

A :class:`MultiAgentEnv` is a game for ``n_players``. The ego sees it as an ordinary ``gymnasium.Env``:
``reset``/``step`` return only the ego's observation and reward, while the partner agents attached to the
other seats act inside ``step``. Any StableBaselines3 algorithm therefore trains on it unchanged.

Reward bookkeeping (kept from the original PantheonRL so that existing agents behave the same):

* the ego receives the sum of its reward entries over the game steps between two of its actions; rewards
  earned before its first action of an episode are added to its first reward;
* a partner receives ``update(total_before_its_first_action, False)`` right after its first action of an
  episode, then ``update(r, done)`` after every game step, including steps in which it did not act.

Fixed here (see docs/pantheonrl-compat.md, section 9):

* termination and truncation are separate; ``horizon`` (game steps) ends an episode as a truncation;
* partners get ``end_episode(terminal_obs, terminated, truncated)`` when the episode ends, in that episode,
  and ``observe(obs)`` as soon as their next observation is known, so a learning partner can finish a rollout
  without waiting for its next action request;
* an episode cut short by ``reset()`` (e.g. a ``TimeLimit`` wrapper) is reported to partners as truncated;
* each seat has its own partner list (the original aliased them), and selection works for n players.
"""

from __future__ import annotations

import copy
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from pantheonrl.common.observation import Observation, extract_obs
from pantheonrl.errors import (
    KillEnvException,
    LearnerStoppedError,
    PlayerException,
    SpaceException,
    unknown_choice,
)

__all__ = [
    "RESAMPLE_POLICIES",
    "DummyEnv",
    "KillEnvException",
    "MultiAgentEnv",
    "PlayerException",
    "SimultaneousEnv",
    "TurnBasedEnv",
]

RESAMPLE_POLICIES = ("default", "robin", "random", "null")

ResampleFn = Callable[["MultiAgentEnv"], Sequence[int]]


def _as_observation(obs: Any) -> Observation:
    return obs if isinstance(obs, Observation) else Observation(obs)


class MultiAgentEnv(gym.Env, ABC):
    """A game for ``n_players``, seen from the ego seat ``ego_ind``.

    Subclasses implement :meth:`n_step` and :meth:`n_reset`.

    :param observation_spaces: one observation space per player.
    :param action_spaces: one action space per player.
    :param ego_ind: the player the ego controls (a writable attribute).
    :param n_players: number of players.
    :param resample_policy: how partners are chosen each episode: ``"default"``, ``"robin"``, ``"random"``,
        ``"null"``, or a callable ``fn(env) -> partner ids, one per seat``.
    :param partners: optional ``n_players - 1`` non-empty lists of agents, one list per non-ego seat.
    :param ego_extractor: maps the ego's :class:`Observation` to what the ego algorithm sees.
    :param horizon: optional number of game steps after which an episode is truncated.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    MAX_RESTARTS = 1000

    def __init__(
        self,
        observation_spaces: Sequence[gym.Space],
        action_spaces: Sequence[gym.Space],
        ego_ind: int = 0,
        n_players: int = 2,
        resample_policy: str | ResampleFn = "default",
        partners: Sequence[Sequence[Any]] | None = None,
        ego_extractor: Callable[[Observation], Any] = extract_obs,
        *,
        horizon: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(n_players, int | np.integer) or n_players < 1:
            raise PlayerException(f"n_players must be a positive integer, got {n_players!r}")
        self.n_players = int(n_players)
        if len(observation_spaces) != self.n_players or len(action_spaces) != self.n_players:
            raise PlayerException(
                f"expected one observation and one action space per player ({self.n_players}), got "
                f"{len(observation_spaces)} observation and {len(action_spaces)} action spaces"
            )
        self.observation_spaces = list(observation_spaces)
        self.action_spaces = list(action_spaces)
        self._check_player(ego_ind, "ego_ind")
        self.ego_ind = int(ego_ind)
        if partners is None:
            self.partners: list[list[Any]] = [[] for _ in range(self.n_players - 1)]
        else:
            if len(partners) != self.n_players - 1 or any(len(seat) == 0 for seat in partners):
                raise PlayerException(
                    f"partners must be {self.n_players - 1} non-empty lists of agents (one per non-ego seat), "
                    f"got {[len(seat) for seat in partners]}"
                )
            self.partners = [list(seat) for seat in partners]
        self.partnerids = [0] * (self.n_players - 1)
        self.ego_extractor = ego_extractor
        if horizon is not None and (not isinstance(horizon, int | np.integer) or horizon < 1):
            raise PlayerException(f"horizon must be a positive number of game steps or None, got {horizon!r}")
        self.horizon = horizon
        self._resample_fn: ResampleFn
        self.resample_policy: str | ResampleFn = resample_policy  # as given: a name or a callable
        self.set_resample_policy(resample_policy)
        # Episode state.
        self._mae_players: tuple[int, ...] = ()
        self._mae_obs: tuple[Observation, ...] = ()
        self._mae_last_obs: dict[int, Observation] = {}
        self._mae_acted: list[Any] = []  # the partner agents (with their player) that acted this episode
        self._mae_observed: list[Any] = []  # ... and those that were shown an observation
        self._mae_pre_first: dict[int, float] = {}
        self._mae_ego_reward = 0.0
        self._mae_episode_steps = 0
        self._mae_running = False

    # ------------------------------------------------------------------ spaces and seats
    @property
    def observation_space(self) -> gym.Space:  # type: ignore[override]
        return self.observation_spaces[self.ego_ind]

    @property
    def action_space(self) -> gym.Space:  # type: ignore[override]
        return self.action_spaces[self.ego_ind]

    def _check_player(self, player: Any, what: str = "player_num") -> None:
        if not isinstance(player, int | np.integer) or not 0 <= player < self.n_players:
            raise PlayerException(f"{what}={player!r} is out of range: this game has players 0..{self.n_players - 1}")

    def _seat(self, player: int) -> int:
        """The index into ``partners`` of an absolute player number (not the ego)."""
        self._check_player(player)
        if player == self.ego_ind:
            raise PlayerException(
                f"player {player} is the ego's seat (ego_ind={self.ego_ind}); partners go in the other seats: "
                f"{[p for p in range(self.n_players) if p != self.ego_ind]}"
            )
        return player if player < self.ego_ind else player - 1

    def _player(self, seat: int) -> int:
        return seat if seat < self.ego_ind else seat + 1

    def get_ego_ind(self) -> int:
        return self.ego_ind

    def set_ego_ind(self, new_ind: int, silence_partner_warning: bool = False) -> None:
        """Move the ego to another player. Partner lists are per seat and are not moved."""
        self._check_player(new_ind, "ego_ind")
        if not silence_partner_warning and any(self.partners):
            warnings.warn("changing ego_ind with partners attached: seats now map to different players")
        self.ego_ind = int(new_ind)

    def set_ego_extractor(self, fn: Callable[[Observation], Any]) -> None:
        self.ego_extractor = fn

    # ------------------------------------------------------------------ partners
    def add_partner_agent(self, agent: Any, player_num: int = 1) -> None:
        """Attach ``agent`` to the seat of absolute player ``player_num``."""
        seat = self._seat(player_num)
        if not callable(getattr(agent, "get_action", None)) or not callable(getattr(agent, "update", None)):
            raise PlayerException(
                f"{type(agent).__name__} is not an agent: partners need get_action(obs) and "
                f"update(reward, done) (subclass pantheonrl.Agent)"
            )
        if any(existing is agent for existing in self.partners[seat]):
            raise PlayerException(
                f"this {type(agent).__name__} is already a partner in player {player_num}'s seat; "
                f"create a new agent to add a second partner there"
            )
        if getattr(agent, "is_learning", False):
            for other_seat, agents in enumerate(self.partners):
                if any(existing is agent for existing in agents):
                    raise PlayerException(
                        f"this learning {type(agent).__name__} already plays player {self._player(other_seat)}; "
                        f"a learning partner keeps one trajectory and can fill one seat only"
                    )
        model = getattr(agent, "model", None)
        if getattr(agent, "is_learning", False) and getattr(model, "n_envs", 1) != 1:
            raise PlayerException(
                f"this learning {type(agent).__name__}'s model was built on {model.n_envs} envs, but it plays one "
                f"seat of one game; build it on env.get_dummy_env({player_num}), or train with "
                f"pantheonrl.vec.MultiAgentVecEnv and build it on venv.get_dummy_env({player_num})"
            )
        for kind, spaces in (("observation", self.observation_spaces), ("action", self.action_spaces)):
            agent_space = getattr(agent, f"{kind}_space", None)
            if agent_space is not None and agent_space != spaces[player_num]:
                raise PlayerException(
                    f"partner {type(agent).__name__} has {kind} space {agent_space}, but player {player_num} "
                    f"has {spaces[player_num]}; build its model on env.get_dummy_env({player_num})"
                )
        self.partners[seat].append(agent)

    def set_partnerid(self, agent_id: int, player_num: int = 1) -> None:
        """Choose which of the seat's partners acts (kept by the ``"null"`` resample policy)."""
        seat = self._seat(player_num)
        if not isinstance(agent_id, int | np.integer) or not 0 <= agent_id < len(self.partners[seat]):
            raise PlayerException(
                f"partner id {agent_id!r} is out of range: player {player_num}'s seat has "
                f"{len(self.partners[seat])} partner(s)"
            )
        self.partnerids[seat] = int(agent_id)

    def set_resample_policy(self, resample_policy: str | ResampleFn) -> None:
        """Set how partners are chosen at each reset (see the class docstring)."""
        if callable(resample_policy):
            self.resample_policy = resample_policy
            self._resample_fn = resample_policy
            self.resample_partner = self._resample_callable
            return
        policy = resample_policy
        if policy == "default":
            policy = "robin" if self.n_players == 2 else "random"
        methods = {
            "robin": self.resample_round_robin,
            "random": self.resample_random,
            "null": self.resample_null,
        }
        if policy not in methods:
            raise PlayerException(
                unknown_choice("resample policy", resample_policy, (*RESAMPLE_POLICIES, "a callable"))
            )
        self.resample_policy = resample_policy
        self.resample_partner = methods[policy]

    def resample_round_robin(self) -> None:
        """Advance every seat to its next partner (the first episode uses partner 1 when a seat has several)."""
        for seat, agents in enumerate(self.partners):
            if agents:
                self.partnerids[seat] = (self.partnerids[seat] + 1) % len(agents)

    def resample_random(self) -> None:
        for seat, agents in enumerate(self.partners):
            if agents:
                self.partnerids[seat] = int(self.np_random.integers(0, len(agents)))

    def resample_null(self) -> None:
        pass

    def _resample_callable(self) -> None:
        ids = list(self._resample_fn(self))
        if len(ids) != len(self.partners):
            raise PlayerException(
                f"the resample callable returned {len(ids)} partner ids; expected one per seat ({len(self.partners)})"
            )
        for seat, agent_id in enumerate(ids):
            self.set_partnerid(agent_id, self._player(seat))

    def resample_partner(self) -> None:  # replaced per instance by set_resample_policy
        raise NotImplementedError

    def _partner(self, player: int) -> Any:
        seat = self._seat(player)
        agents = self.partners[seat]
        if not agents:
            raise PlayerException(
                f"player {player} has no partner agent; add one with env.add_partner_agent(agent, player_num={player})"
            )
        return agents[self.partnerids[seat]]

    # ------------------------------------------------------------------ helper envs
    def get_dummy_env(self, player_num: int) -> DummyEnv:
        """A gymnasium env with player ``player_num``'s spaces, to build that player's model on."""
        self._check_player(player_num)
        return DummyEnv(self, player_num)

    def getDummyEnv(self, player_num: int) -> DummyEnv:
        warnings.warn("getDummyEnv is deprecated; use get_dummy_env", DeprecationWarning, stacklevel=2)
        return self.get_dummy_env(player_num)

    def construct_single_agent_interface(self, player_num: int, timeout: float | None = None) -> DummyEnv:
        """Seat a single-agent learner running in its own thread (see :class:`DummyEnv`)."""
        seat = self._seat(player_num)
        if self.partners[seat]:
            raise PlayerException(
                f"player {player_num}'s seat already has {len(self.partners[seat])} partner(s); a threaded "
                f"learner needs an empty seat"
            )
        dummy_env = DummyEnv(self, player_num, timeout=timeout)
        agent = DummyAgent(dummy_env)
        dummy_env.associated_agent = agent
        self.partners[seat].append(agent)
        return dummy_env

    # ------------------------------------------------------------------ the game
    @abstractmethod
    def n_step(self, actions: list[Any]) -> tuple:
        """Play one game step.

        :param actions: one action per player in the previous ``next_players``, in that order.
        :return: ``(next_players, observations, rewards, terminated, truncated, info)`` with one
            :class:`Observation` per next player and one reward per player. The legacy form
            ``(next_players, observations, rewards, done, info)`` is accepted; ``done`` is then a termination.
        """

    @abstractmethod
    def n_reset(self) -> tuple[tuple[int, ...], tuple[Observation, ...]]:
        """Start a game: ``(next_players, observations)``."""

    def _game_step(self, actions: list[Any]) -> tuple:
        result = self.n_step(actions)
        if not isinstance(result, tuple) or len(result) not in (5, 6):
            raise TypeError(
                f"{type(self).__name__}.n_step must return (players, observations, rewards, terminated, "
                f"truncated, info) or the legacy (players, observations, rewards, done, info); got "
                f"{type(result).__name__} of length {len(result) if isinstance(result, tuple) else '?'}"
            )
        if len(result) == 5:
            players, obs, rewards, done, info = result
            terminated, truncated = bool(done), False
        else:
            players, obs, rewards, terminated, truncated, info = result
            terminated, truncated = bool(terminated), bool(truncated)
        self._mae_episode_steps += 1
        if self.horizon is not None and self._mae_episode_steps >= self.horizon and not terminated:
            truncated = True
        return (
            tuple(players),
            tuple(_as_observation(o) for o in obs),
            rewards,
            terminated,
            truncated,
            info or {},
        )

    # ------------------------------------------------------------------ the raw game, without partners
    def game_reset(self) -> tuple[tuple[int, ...], tuple[Observation, ...]]:
        """Start a game without involving the seated partners: ``(next_players, observations)``. For trainers
        that choose every seat's action themselves (e.g. :class:`pantheonrl.vec.twoseat.TwoSeatCollector`);
        draws from :attr:`np_random` like :meth:`reset`."""
        self._mae_episode_steps = 0
        players, obs = self.n_reset()
        return tuple(players), tuple(_as_observation(o) for o in obs)

    def game_step(self, actions: list[Any]) -> tuple:
        """One game step without partners: ``actions`` for the previous ``next_players``, in order; returns
        ``(next_players, observations, rewards, terminated, truncated, info)``, with :attr:`horizon` applied."""
        return self._game_step(actions)

    def _partner_requests(self) -> list[tuple[int, Any, Observation]]:
        """``(player, agent, observation)`` for every partner due to act at the current game step."""
        return [
            (player, self._partner(player), ob)
            for player, ob in zip(self._mae_players, self._mae_obs)
            if player != self.ego_ind
        ]

    def _joint_actions(self, requests: list, answers: Sequence[Any], ego_action: Any) -> list:
        """Merge the partners' answers with the ego's action, in ``next_players`` order; book first actions."""
        answer = iter(answers)
        actions = [ego_action if player == self.ego_ind else next(answer) for player in self._mae_players]
        for player, agent, _ in requests:
            if not any(a is agent for a, _ in self._mae_acted):
                self._mae_acted.append((agent, player))
                agent.update(self._mae_pre_first.pop(player, 0.0), False)
        return actions

    def _credit(self, rewards: Sequence[Any], done: bool) -> None:
        for player in range(self.n_players):
            reward = float(rewards[player])
            if player == self.ego_ind:
                self._mae_ego_reward += reward
            else:
                agent = next((a for a, p in self._mae_acted if p == player), None)
                if agent is None:
                    self._mae_pre_first[player] = self._mae_pre_first.get(player, 0.0) + reward
                else:
                    agent.update(reward, done)

    def _advance(self, ego_action: Any = None) -> Any:
        """Play game steps until the ego is due or the game ends; returns ``(terminated, truncated, info)``.

        A generator (see :meth:`_drive`): before each game step it yields the list of partner requests
        ``(player, agent, observation)`` and expects one action per request back. The vectorised trainer
        answers the requests of many game copies with one batched call per partner.
        """
        info: dict = {}
        while True:
            requests = self._partner_requests()
            answers = (yield requests) if requests else []
            actions = self._joint_actions(requests, answers, ego_action)
            ego_action = None
            players, obs, rewards, terminated, truncated, info = self._game_step(actions)
            if len(rewards) != self.n_players:
                raise TypeError(
                    f"{type(self).__name__}.n_step returned {len(rewards)} rewards; expected one per player "
                    f"({self.n_players})"
                )
            if len(players) != len(obs):
                raise TypeError(
                    f"{type(self).__name__}.n_step returned {len(players)} players but {len(obs)} observations"
                )
            done = terminated or truncated
            self._credit(rewards, done)
            self._mae_players, self._mae_obs = players, obs
            self._mae_last_obs.update(zip(players, obs))
            if done:
                self._end_partners(terminated, truncated)
                return terminated, truncated, info
            self._observe_partners()
            if self.ego_ind in players:
                return False, False, info

    def _observe_partners(self) -> None:
        """Tell each partner due to act its observation as soon as the game produced it."""
        for player, ob in zip(self._mae_players, self._mae_obs):
            if player != self.ego_ind:
                agent = self._partner(player)
                if not any(a is agent for a, _ in self._mae_observed):
                    self._mae_observed.append((agent, player))
                observe = getattr(agent, "observe", None)
                if observe is not None:
                    observe(ob)

    def _end_partners(self, terminated: bool, truncated: bool) -> None:
        """The episode ended: every partner shown an observation in it hears it now (a partner acts only at a
        step whose observation it was shown, so this includes every partner that acted)."""
        self._mae_running = False
        for agent, player in self._mae_observed:
            _notify_end(agent, self._mae_last_obs.get(player), terminated, truncated)

    def _start_episode(self) -> None:
        self.resample_partner()
        self._mae_acted = []
        self._mae_observed = []
        self._mae_pre_first = {}
        self._mae_ego_reward = 0.0
        self._mae_episode_steps = 0
        self._mae_last_obs = {}
        players, obs = self.n_reset()
        self._mae_players, self._mae_obs = tuple(players), tuple(_as_observation(o) for o in obs)
        self._mae_last_obs.update(zip(self._mae_players, self._mae_obs))
        self._mae_running = True
        self._observe_partners()

    def _ego_obs(self) -> Any:
        obs = self.ego_extractor(self._mae_last_obs[self.ego_ind])
        if self.ego_ind not in self._mae_players:
            # The game ended while the ego was not due: it sees its last observation again, as a new object.
            obs = copy.deepcopy(obs)
        return obs

    @staticmethod
    def _drive(steps: Any) -> Any:
        """Run a stepping generator to its end, answering each partner request with ``agent.get_action``."""
        try:
            requests = next(steps)
            while True:
                requests = steps.send([agent.get_action(ob) for _, agent, ob in requests])
        except StopIteration as stop:
            return stop.value

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return self._drive(self._step_gen(action))

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        return self._drive(self._reset_gen(seed=seed, options=options))

    def _step_gen(self, action: Any) -> Any:
        """:meth:`step` as a stepping generator (see :meth:`_advance`)."""
        if not self._mae_running:
            raise PlayerException("step() was called on a finished (or never started) episode; call reset() first")
        terminated, truncated, info = yield from self._advance(action)
        reward, self._mae_ego_reward = self._mae_ego_reward, 0.0
        info = dict(info)
        info["_partnerid"] = list(self.partnerids)
        return self._ego_obs(), reward, terminated, truncated, info

    def _reset_gen(self, seed: int | None = None, options: dict | None = None) -> Any:
        """:meth:`reset` as a stepping generator (see :meth:`_advance`)."""
        gym.Env.reset(self, seed=seed)
        if self._mae_running:
            # The caller cut the episode short (a TimeLimit wrapper, an evaluation loop): a truncation.
            for agent, _ in self._mae_acted:
                agent.update(0.0, True)
            self._end_partners(False, True)
        # A game may end before the ego acts (a planner partner that stops at once): the partners learn from
        # that episode and a new one starts, as in the original. A game that never lets the ego act is an error.
        for _ in range(self.MAX_RESTARTS):
            self._start_episode()
            if self.ego_ind in self._mae_players:
                break
            terminated, truncated, _ = yield from self._advance()
            if not (terminated or truncated):
                break
        else:
            raise PlayerException(
                f"{type(self).__name__} ended {self.MAX_RESTARTS} episodes in a row before the ego (player "
                f"{self.ego_ind}) acted (the last after {self._mae_episode_steps} game step(s)); the ego must be "
                f"able to act: check the game's rules, its partners and its horizon ({self.horizon})"
            )
        return self._ego_obs(), {"_partnerid": list(self.partnerids)}

    def action_masks(self) -> np.ndarray:
        """The ego's legal actions now (for sb3-contrib's MaskablePPO as the ego)."""
        mask = self._mae_last_obs[self.ego_ind].action_mask if self.ego_ind in self._mae_last_obs else None
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            n = int(space.n)
        elif isinstance(space, gym.spaces.MultiDiscrete):
            n = int(np.sum(space.nvec))
        else:
            raise SpaceException(f"action masks need a Discrete or MultiDiscrete action space; the ego's is {space}")
        return np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)


def _notify_end(agent: Any, obs: Observation | None, terminated: bool, truncated: bool) -> None:
    end_episode = getattr(agent, "end_episode", None)
    if end_episode is not None:
        end_episode(obs, terminated, truncated)


def split_pair_step(result: tuple, who: str) -> tuple[Any, Any, bool, bool, dict]:
    """``(obs, rewards, done, info)`` or ``(obs, rewards, terminated, truncated, info)`` of a 2-player game."""
    if not isinstance(result, tuple) or len(result) not in (4, 5):
        raise TypeError(
            f"{who} must return (obs, rewards, terminated, truncated, info) or the legacy (obs, rewards, done, info)"
        )
    if len(result) == 4:
        obs, rewards, done, info = result
        return obs, rewards, bool(done), False, info or {}
    obs, rewards, terminated, truncated, info = result
    return obs, rewards, bool(terminated), bool(truncated), info or {}


class TurnBasedEnv(MultiAgentEnv, ABC):
    """A two-player game where players alternate; subclasses implement ``ego_step``, ``alt_step`` and
    ``multi_reset``. "Ego" and "alt" are base players 0 and 1, not the learning seat.

    :param probegostart: probability that player 0 moves first (drawn from ``np_random`` at each reset).
    :param partners: optional flat list of agents for player 1's seat.
    """

    def __init__(
        self,
        observation_spaces: Sequence[gym.Space],
        action_spaces: Sequence[gym.Space],
        probegostart: float = 0.5,
        partners: Sequence[Any] | None = None,
        *,
        horizon: int | None = None,
    ) -> None:
        super().__init__(
            observation_spaces,
            action_spaces,
            ego_ind=0,
            n_players=2,
            partners=[list(partners)] if partners else None,
            horizon=horizon,
        )
        if not 0.0 <= float(probegostart) <= 1.0:
            raise PlayerException(f"probegostart must be a probability in [0, 1], got {probegostart!r}")
        self.probegostart = float(probegostart)
        self._mae_mover = 0

    @abstractmethod
    def ego_step(self, action: Any) -> tuple:
        """Player 0 acts: ``(alt_obs, (r0, r1), terminated, truncated, info)`` (or legacy ``done``)."""

    @abstractmethod
    def alt_step(self, action: Any) -> tuple:
        """Player 1 acts: ``(ego_obs, (r0, r1), terminated, truncated, info)`` (or legacy ``done``)."""

    @abstractmethod
    def multi_reset(self, egofirst: bool) -> Any:
        """Start a game; return the first mover's observation."""

    def n_step(self, actions: list[Any]) -> tuple:
        mover = self._mae_mover
        method = self.ego_step if mover == 0 else self.alt_step
        obs, rewards, terminated, truncated, info = split_pair_step(
            method(actions[0]), f"{type(self).__name__}.{method.__name__}"
        )
        self._mae_mover = 1 - mover
        return (self._mae_mover,), (_as_observation(obs),), rewards, terminated, truncated, info

    def n_reset(self) -> tuple[tuple[int, ...], tuple[Observation, ...]]:
        egofirst = bool(self.np_random.random() < self.probegostart)
        self._mae_mover = 0 if egofirst else 1
        return (self._mae_mover,), (_as_observation(self.multi_reset(egofirst)),)


class SimultaneousEnv(MultiAgentEnv, ABC):
    """A two-player game where both players act at every step; subclasses implement ``multi_step`` and
    ``multi_reset``.

    :param partners: optional flat list of agents for player 1's seat.
    """

    def __init__(
        self,
        observation_spaces: Sequence[gym.Space],
        action_spaces: Sequence[gym.Space],
        partners: Sequence[Any] | None = None,
        *,
        horizon: int | None = None,
    ) -> None:
        super().__init__(
            observation_spaces,
            action_spaces,
            ego_ind=0,
            n_players=2,
            partners=[list(partners)] if partners else None,
            horizon=horizon,
        )

    @abstractmethod
    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        """Both act: ``((o0, o1), (r0, r1), terminated, truncated, info)`` (or legacy ``done``)."""

    @abstractmethod
    def multi_reset(self) -> tuple[Any, Any]:
        """Start a game: ``(o0, o1)``."""

    def n_step(self, actions: list[Any]) -> tuple:
        (o0, o1), rewards, terminated, truncated, info = split_pair_step(
            self.multi_step(actions[0], actions[1]), f"{type(self).__name__}.multi_step"
        )
        return (0, 1), (_as_observation(o0), _as_observation(o1)), rewards, terminated, truncated, info

    def n_reset(self) -> tuple[tuple[int, ...], tuple[Observation, ...]]:
        o0, o1 = self.multi_reset()
        return (0, 1), (_as_observation(o0), _as_observation(o1))


class DummyEnv(gym.Env):
    """A gymnasium env with one player's spaces.

    Built by :meth:`MultiAgentEnv.get_dummy_env` to construct a partner's model on, and by
    :meth:`MultiAgentEnv.construct_single_agent_interface` to let a single-agent learner (any SB3 algorithm's
    ``learn``) play a seat from its own thread. In the latter case ``step``/``reset`` block until the game
    thread delivers the seat's next observation; the game thread, in turn, blocks until the learner acts.

    Shutting down: set ``dead = True`` and notify ``obs_cv`` while holding it (or call :meth:`kill`); the
    learner's pending ``step``/``reset`` then raises :class:`KillEnvException`. Every wait is bounded: the
    game side raises :class:`LearnerStoppedError` if the learner thread has died, was never started, or
    exceeds ``timeout``; the learner side raises :class:`KillEnvException` if the game thread has died.

    :ivar steps: number of step results delivered to the learner.
    """

    POLL_S = 0.05
    START_TIMEOUT_S = 60.0

    def __init__(self, base_env: MultiAgentEnv, agent_ind: int, extractor=extract_obs, timeout: float | None = None):
        super().__init__()
        self.base_env = base_env
        self.agent_ind = agent_ind
        self.extractor = extractor
        self.observation_space = base_env.observation_spaces[agent_ind]
        self.action_space = base_env.action_spaces[agent_ind]
        self.timeout = timeout
        self.obs_cv = threading.Condition()
        self.dead = False
        self.steps = 0
        self.associated_agent: DummyAgent | None = None
        self._learner: threading.Thread | None = None
        self._driver: threading.Thread | None = None
        self._learner_wants: str | None = None  # "reset" or "step" while the learner waits for the game
        self._result: tuple | None = None
        self._action: Any = None
        self._has_action = False
        self._closed = False

    # -- learner side
    def _learner_enter(self) -> None:
        if self.associated_agent is None:
            raise PlayerException(
                "this DummyEnv only describes a player's spaces; to let a learner play the seat, use "
                "env.construct_single_agent_interface(player_num) and run the learner in its own thread"
            )
        me = threading.current_thread()
        if me is threading.main_thread() or me is self._driver:
            raise PlayerException(
                "DummyEnv.step()/reset() was called from the thread that drives the game, which would deadlock; "
                "run the single-agent learner in its own thread (threading.Thread(target=model.learn, ...))"
            )
        self._learner = me

    def _await_result(self) -> tuple:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while self._result is None:
            if self.dead:
                raise KillEnvException("the game ended this learner (DummyEnv.dead was set)")
            if self._driver is not None and not self._driver.is_alive():
                raise KillEnvException("the thread that drove the game has stopped")
            if deadline is not None and time.monotonic() > deadline:
                raise KillEnvException(f"no observation from the game within {self.timeout} s")
            self.obs_cv.wait(self.POLL_S)
        result, self._result = self._result, None
        self._learner_wants = None
        return result

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        self._learner_enter()
        with self.obs_cv:
            self._learner_wants = "reset"
            self.obs_cv.notify_all()
            (obs,) = self._await_result()
        return obs, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self._learner_enter()
        with self.obs_cv:
            self._action, self._has_action = action, True
            self._learner_wants = "step"
            self.obs_cv.notify_all()
            obs, reward, terminated, truncated = self._await_result()
        return obs, reward, terminated, truncated, {}

    def close(self) -> None:
        with self.obs_cv:
            self._closed = True
            self.obs_cv.notify_all()

    def kill(self) -> None:
        """Make the learner's pending or next ``step``/``reset`` raise :class:`KillEnvException`."""
        with self.obs_cv:
            self.dead = True
            self.obs_cv.notify_all()

    # -- game side: every hand-over waits until the learner is waiting again, so the two threads never run
    # at the same time (global RNG draws stay in a fixed order, and runs are reproducible).
    def _check_learner(self, deadline: float | None, started: float) -> None:
        if self._closed:
            raise LearnerStoppedError(f"the learner closed its DummyEnv for player {self.agent_ind}")
        if self._learner is None:
            if time.monotonic() - started > self.START_TIMEOUT_S:
                raise LearnerStoppedError(
                    f"no learner called step()/reset() on player {self.agent_ind}'s DummyEnv within "
                    f"{self.START_TIMEOUT_S:.0f} s; start the learner thread before playing the game"
                )
        elif not self._learner.is_alive():
            raise LearnerStoppedError(
                f"the learner thread of player {self.agent_ind} has stopped (its learn() returned or raised); "
                f"it cannot act any more"
            )
        if deadline is not None and time.monotonic() > deadline:
            raise LearnerStoppedError(f"the learner of player {self.agent_ind} did not answer within {self.timeout} s")

    def _learner_waiting(self) -> bool:
        return self._learner_wants is not None and self._result is None

    def _wait(self, ready: Callable[[], bool], strict: bool = True) -> bool:
        """Wait for ``ready``; with ``strict=False`` a learner thread that has ended returns False instead."""
        started = time.monotonic()
        deadline = None if self.timeout is None else started + self.timeout
        while not ready():
            if not strict and self._learner is not None and not self._learner.is_alive():
                return False
            self._check_learner(deadline, started)
            self.obs_cv.wait(self.POLL_S)
        return True

    def _deliver(self, result: tuple, want: str) -> None:
        """Hand the learner its reset observation or step result; return once it waits for the game again."""
        with self.obs_cv:
            self._driver = threading.current_thread()
            self._wait(self._learner_waiting)
            if self._learner_wants != want:
                raise LearnerStoppedError(
                    f"the learner of player {self.agent_ind} is waiting in {self._learner_wants}() but the game "
                    f"has a {want} result for it"
                )
            if want == "step":
                self.steps += 1
            self._result = result
            self.obs_cv.notify_all()
            self._wait(self._learner_waiting, strict=False)

    def _take_action(self) -> Any:
        with self.obs_cv:
            self._driver = threading.current_thread()
            self._wait(lambda: self._has_action)
            action, self._action, self._has_action = self._action, None, False
            return action


class DummyAgent:
    """The partner that stands in a seat for a threaded single-agent learner (see :class:`DummyEnv`)."""

    is_learning = True

    def __init__(self, dummy_env: DummyEnv) -> None:
        self.dummy_env = dummy_env
        self.observation_space = dummy_env.observation_space
        self.action_space = dummy_env.action_space
        self._reward = 0.0
        self._in_episode = False
        self._delivered = False  # the current observation already reached the learner

    def observe(self, obs: Observation) -> None:
        # The first observation of an episode goes out at once (the learner waits in reset()). A step result
        # waits for the next action request or the episode's end: once delivered it could not be turned into
        # a truncation if the caller cuts the episode short with reset().
        if not self._in_episode:
            self._deliver(obs)

    def _deliver(self, obs: Observation) -> None:
        ob = self.dummy_env.extractor(obs)
        if self._in_episode:
            self.dummy_env._deliver((ob, self._reward, False, False), "step")
        else:
            self.dummy_env._deliver((ob,), "reset")
        self._reward, self._in_episode, self._delivered = 0.0, True, True

    def get_action(self, obs: Observation) -> Any:
        if not self._delivered:
            self._deliver(obs)
        self._delivered = False
        return self.dummy_env._take_action()

    def update(self, reward: float, done: bool) -> None:
        self._reward += reward

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        if not self._in_episode:
            return
        ob = self.dummy_env.extractor(obs) if obs is not None else None
        self.dummy_env._deliver((ob, self._reward, terminated, truncated), "step")
        self._reward, self._in_episode, self._delivered = 0.0, False, False
