"""Two seats, one shared learner: rollouts in which the trainer picks who acts in each seat.

:class:`TwoSeatCollector` steps ``n_envs`` copies of a two-player game through the raw game API
(:meth:`~pantheonrl.MultiAgentEnv.game_reset` / :meth:`~pantheonrl.MultiAgentEnv.game_step`; seated partners are
not involved) and lets a *mode* decide, for every decision, whether the current policy (the learner) or a frozen
policy acts, and whether the learner's decision is recorded (docs/algorithms.md, section 2):

* :class:`SelfPlay`: the learner plays both seats; both are recorded;
* :class:`CrossPlay`: the learner plays ``seat`` (recorded), a frozen policy the other seat;
* :class:`MixedPlay`: for the first ``L ~ U{1, ..., env_length - 1}`` game steps every acting seat is the frozen
  policy with probability ``1 - p``, else the learner (nothing recorded); then the learner plays both seats to the
  end, recorded; the first recorded decision of each seat starts a GAE segment.

A *column* is one seat of one copy (column ``2 c + s``). In a turn-based game the rewards a seat receives between
two of its decisions are summed and credited to the earlier one. Each rollout starts from fresh games and ends
when every recorded column holds ``n_steps`` transitions; a column's last transition is then bootstrapped with
the value of the seat's next observation (or 0 at a terminal). Values are not computed here: a
:class:`Rollout` holds observations, actions and log-probabilities, and :meth:`Rollout.advantages` evaluates
whichever critic belongs to its buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from gymnasium.utils import seeding
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import obs_as_tensor

from pantheonrl.common.multiagentenv import MultiAgentEnv
from pantheonrl.errors import ConfigError
from pantheonrl.vec.vecenv import EnvFns, make_copies

__all__ = ["CrossPlay", "MixedPlay", "Rollout", "SelfPlay", "TwoSeatCollector", "gae"]

STALL_EPISODES = 1000
"""A rollout that completes this many episodes per copy without a new recorded transition is an error."""
CONTINUES, TERMINAL, CUT = 0, 1, 2
"""How a transition ends: the seat's next transition follows; the episode ended; the rollout stopped recording
(bootstrap with the value of ``next_obs``)."""


@dataclass
class SelfPlay:
    """The learner in both seats, both recorded."""

    def recorded(self, seat: int) -> bool:
        return True


@dataclass
class CrossPlay:
    """The learner in ``seat`` (recorded), ``frozen`` in the other seat."""

    frozen: BasePolicy
    seat: int

    def recorded(self, seat: int) -> bool:
        return seat == self.seat


@dataclass
class MixedPlay:
    """Phase 1 (``L ~ U{1..env_length-1}`` game steps): each acting seat is ``frozen`` with probability ``1 - p``,
    else the learner; phase 2: the learner in both seats, recorded."""

    frozen: BasePolicy
    p: float = 0.5
    env_length: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.p) <= 1.0:
            raise ConfigError(f"mix_prob must be in [0, 1], got {self.p!r}; e.g. 0.5")
        if isinstance(self.env_length, bool) or not isinstance(self.env_length, int) or self.env_length < 2:
            raise ConfigError(f"env_length must be an integer >= 2 (game steps per episode), got {self.env_length!r}")

    def recorded(self, seat: int) -> bool:
        return True


Mode = SelfPlay | CrossPlay | MixedPlay


@dataclass
class _Column:
    obs: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    log_probs: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    starts: list = field(default_factory=list)
    ends: list = field(default_factory=list)
    next_obs: dict = field(default_factory=dict)  # index of a CUT transition -> observation to bootstrap from

    def __len__(self) -> int:
        return len(self.obs)


@dataclass
class Rollout:
    """The recorded transitions of one mode, per column (see the module docstring), and the episodes played."""

    columns: dict[int, _Column]
    episode_returns: list[float]
    frozen_decisions: int = 0
    learner_decisions: int = 0
    phase1_learner: int = 0  # mixed play: phase-1 decisions taken by the learner / by the frozen policy
    phase1_frozen: int = 0
    phase1_lengths: list[int] = field(default_factory=list)  # mixed play: L of every episode started

    @property
    def n_transitions(self) -> int:
        return sum(len(c) for c in self.columns.values())

    def mean_return(self) -> float:
        return float(np.mean(self.episode_returns)) if self.episode_returns else float("nan")

    def flat(self) -> dict[str, np.ndarray]:
        """Observations, actions, old log-probabilities and rewards, column after column (SB3's flattening)."""
        cols = [self.columns[k] for k in sorted(self.columns)]
        return {
            "obs": np.concatenate([np.asarray(c.obs, dtype=np.float32) for c in cols]),
            "actions": np.concatenate([np.asarray(c.actions, dtype=np.float32) for c in cols]),
            "log_probs": np.concatenate([np.asarray(c.log_probs, dtype=np.float32) for c in cols]),
            "rewards": np.concatenate([np.asarray(c.rewards, dtype=np.float32) for c in cols]),
            "starts": np.concatenate([np.asarray(c.starts, dtype=np.float32) for c in cols]),
        }

    def advantages(self, value_fn: Callable[[np.ndarray], np.ndarray], gamma: float, gae_lambda: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(values, advantages, returns)`` in :meth:`flat` order, with ``value_fn(obs) -> values`` the critic of
        this rollout's buffer (evaluated once on all observations and bootstrap observations)."""
        values, advantages = [], []
        for k in sorted(self.columns):
            col = self.columns[k]
            obs = np.asarray(col.obs, dtype=np.float32)
            cut = sorted(col.next_obs)
            batch = np.concatenate([obs, np.asarray([col.next_obs[i] for i in cut], dtype=np.float32)]) if cut \
                else obs
            v_all = value_fn(batch)
            v = v_all[: len(obs)]
            boot = dict(zip(cut, v_all[len(obs):]))
            next_values = np.zeros(len(obs), dtype=np.float32)
            continues = np.zeros(len(obs), dtype=np.float32)
            for i, end in enumerate(col.ends):
                if end == CONTINUES:
                    next_values[i], continues[i] = v[i + 1], 1.0
                elif end == CUT:
                    next_values[i] = boot[i]
            values.append(v)
            advantages.append(gae(np.asarray(col.rewards, dtype=np.float32), v, next_values, continues, gamma,
                                  gae_lambda))
        values_arr, adv_arr = np.concatenate(values), np.concatenate(advantages)
        return values_arr, adv_arr, adv_arr + values_arr


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, continues: np.ndarray, gamma: float,
        gae_lambda: float) -> np.ndarray:
    """Generalised advantage estimates of one column: ``next_values[t]`` is the value after transition t (0 at a
    terminal) and ``continues[t]`` whether transition t + 1 follows it in the same episode."""
    adv = np.zeros(len(rewards), dtype=np.float32)
    last = 0.0
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * next_values[t] - values[t]
        last = delta + gamma * gae_lambda * continues[t] * last
        adv[t] = last
    return adv


class TwoSeatCollector:
    """Steps ``n_envs`` copies of a two-player game for rollouts of a shared learner (module docstring).

    :param env_fns: a factory ``() -> MultiAgentEnv`` (with ``n_envs``) or one factory per copy.
    :param n_envs: the number of copies.
    :param seed: seeds the copies' generators (copy ``c`` with ``seed + c``) and the collector's own generator
        (phase-1 lengths and mixing draws).
    """

    def __init__(self, env_fns: EnvFns, n_envs: int | None = None, *, seed: int | None = None) -> None:
        self.envs: list[MultiAgentEnv] = make_copies(env_fns, n_envs)
        game = self.envs[0]
        if game.n_players != 2:
            raise ConfigError(f"a two-seat collector needs a 2-player game, {type(game).__name__} has "
                              f"{game.n_players} players")
        if game.observation_spaces[0] != game.observation_spaces[1] or game.action_spaces[0] != game.action_spaces[1]:
            raise ConfigError(f"{type(game).__name__}'s seats have different spaces; one shared policy needs the same "
                              f"observation and action spaces in both seats")
        self.observation_space = game.observation_spaces[0]
        self.action_space = game.action_spaces[0]
        self.n_envs = len(self.envs)
        self.rng = np.random.default_rng(seed)
        if seed is not None:
            for c, env in enumerate(self.envs):
                env.np_random, _ = seeding.np_random(seed + c)

    # ------------------------------------------------------------------ acting
    def _act(self, policy: BasePolicy, obs: list[np.ndarray], with_log_prob: bool) -> tuple[np.ndarray, Any]:
        with th.no_grad():
            tensor = obs_as_tensor(np.asarray(obs), policy.device)
            dist = policy.get_distribution(tensor)
            actions = dist.get_actions()
            log_probs = dist.log_prob(actions).cpu().numpy() if with_log_prob else None
        return actions.cpu().numpy(), log_probs

    def _env_action(self, action: np.ndarray) -> Any:
        if isinstance(self.action_space, spaces.Box):
            return np.clip(action, self.action_space.low, self.action_space.high)
        if isinstance(self.action_space, spaces.Discrete):
            return int(action)
        return action

    # ------------------------------------------------------------------ rollouts
    def collect(self, policy: BasePolicy, mode: Mode, n_steps: int) -> Rollout:
        """Play ``mode`` with ``policy`` as the learner until every recorded column has ``n_steps`` transitions."""
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ConfigError(f"n_steps must be a positive integer, got {n_steps!r}")
        policy.set_training_mode(False)
        recorded = [2 * c + s for c in range(self.n_envs) for s in (0, 1) if mode.recorded(s)]
        columns = {k: _Column() for k in recorded}
        pending: dict[int, dict] = {}  # column -> the transition waiting for its reward and what follows
        full: set[int] = set()
        rollout = Rollout(columns, [])
        state = [self._new_episode(env, mode, rollout) for env in self.envs]

        def close(col: int, end: int, next_obs: Any = None) -> None:
            tr = pending.pop(col)
            column = columns[col]
            if end == CONTINUES and len(column) + 1 >= n_steps:  # the next decision is not recorded: bootstrap
                end = CUT
            if end == CUT:
                column.next_obs[len(column)] = np.asarray(next_obs, dtype=np.float32)
            column.obs.append(tr["obs"])
            column.actions.append(tr["action"])
            column.log_probs.append(tr["log_prob"])
            column.rewards.append(tr["reward"])
            column.starts.append(tr["start"])
            column.ends.append(end)
            if len(column) >= n_steps:
                full.add(col)

        stall_limit = STALL_EPISODES * self.n_envs
        recorded_before, episodes_before = 0, 0
        while len(full) < len(recorded) or pending:
            n_recorded = sum(len(c) for c in columns.values()) + len(pending)
            if n_recorded > recorded_before:
                recorded_before, episodes_before = n_recorded, len(rollout.episode_returns)
            elif len(rollout.episode_returns) - episodes_before > stall_limit:
                waiting = sorted(k for k in columns if k not in full)
                raise ConfigError(
                    f"{type(mode).__name__} recorded nothing in {STALL_EPISODES} episodes per copy: columns "
                    f"{waiting} (copy x seat) never have a recorded decision"
                    + (f"; mixed play records only after phase 1 (L ~ U{{1..{mode.env_length - 1}}} game steps), "
                       f"so a seat whose decisions all come earlier is never recorded: check env_length (the "
                       f"game's episode length) or use a game where both seats act late in the episode"
                       if isinstance(mode, MixedPlay) else "")
                )
            learner_req, frozen_req = [], []
            for c, st in enumerate(state):
                if all(2 * c + s in full for s in (0, 1) if mode.recorded(s)) and not any(
                        2 * c + s in pending for s in (0, 1)):
                    continue  # this copy has nothing left to record
                for player, ob in zip(st["players"], st["obs"]):
                    col = 2 * c + player
                    raw = np.asarray(ob.obs)
                    if col in pending:
                        close(col, CONTINUES, raw)
                    learner = self._learner_acts(st, player, mode)
                    if not st["recording"]:
                        if learner:
                            rollout.phase1_learner += 1
                        else:
                            rollout.phase1_frozen += 1
                    record = learner and col in columns and col not in full and st["recording"]
                    (learner_req if learner else frozen_req).append((c, player, raw, record))
            if not learner_req and not frozen_req:
                break
            actions: dict[tuple[int, int], Any] = {}
            if learner_req:
                acts, logps = self._act(policy, [r[2] for r in learner_req], True)
                rollout.learner_decisions += len(learner_req)
                for (c, player, raw, record), a, lp in zip(learner_req, acts, logps):
                    actions[(c, player)] = a
                    if record:
                        col = 2 * c + player
                        first = state[c]["segment_start"][player]
                        state[c]["segment_start"][player] = False
                        pending[col] = {"obs": raw.astype(np.float32), "action": np.asarray(a, np.float32).reshape(-1),
                                        "log_prob": float(lp), "reward": 0.0, "start": first}
            if frozen_req:
                acts, _ = self._act(mode.frozen, [r[2] for r in frozen_req], False)
                rollout.frozen_decisions += len(frozen_req)
                for (c, player, _, _), a in zip(frozen_req, acts):
                    actions[(c, player)] = a
            for c, st in enumerate(state):
                if not any((c, p) in actions for p in st["players"]):
                    continue
                self._step(c, st, [self._env_action(actions[(c, p)]) for p in st["players"]], mode, columns, pending,
                           close, rollout)
        return rollout

    def _new_episode(self, env: MultiAgentEnv, mode: Mode, rollout: Rollout) -> dict:
        players, obs = env.game_reset()
        phase1 = int(self.rng.integers(1, mode.env_length)) if isinstance(mode, MixedPlay) else 0
        if phase1:
            rollout.phase1_lengths.append(phase1)
        return {"env": env, "players": players, "obs": obs, "return": 0.0, "steps": 0, "phase1": phase1,
                "recording": phase1 == 0, "segment_start": [True, True]}

    def _learner_acts(self, st: dict, player: int, mode: Mode) -> bool:
        if isinstance(mode, SelfPlay):
            return True
        if isinstance(mode, CrossPlay):
            return player == mode.seat
        if st["steps"] >= st["phase1"]:
            return True
        return bool(self.rng.random() < mode.p)

    def _step(self, c: int, st: dict, actions: list, mode: Mode, columns: dict, pending: dict, close: Callable,
              rollout: Rollout) -> None:
        players, obs, rewards, terminated, truncated, _ = st["env"].game_step(actions)
        rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
        st["return"] += float(rewards[0])
        st["steps"] += 1
        for seat in (0, 1):
            col = 2 * c + seat
            if col in pending:
                pending[col]["reward"] += float(rewards[seat])
        if terminated or truncated:
            final = dict(zip(players, obs))
            for seat in (0, 1):
                col = 2 * c + seat
                if col in pending:
                    if terminated:
                        close(col, TERMINAL)
                    else:  # a time limit: bootstrap from the seat's final observation, or its last one
                        last = final[seat].obs if seat in final else pending[col]["obs"]
                        close(col, CUT, np.asarray(last))
            rollout.episode_returns.append(st["return"])
            st.update(self._new_episode(st["env"], mode, rollout))
            return
        st["players"], st["obs"] = players, obs
        if not st["recording"] and st["steps"] >= st["phase1"]:
            st["recording"] = True  # phase 2 of mixed play: the next decision of each seat starts a segment

