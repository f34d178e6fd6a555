"""Frame stacking and recorders (pantheonrl.common.wrappers; docs/pantheonrl-compat.md, section 4)."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from pantheonrl.common.agents import Agent, OnPolicyAgent, RecordingAgentWrapper
from pantheonrl.common.multiagentenv import MultiAgentEnv, SimultaneousEnv, TurnBasedEnv
from pantheonrl.common.observation import Observation
from pantheonrl.common.trajsaver import SimultaneousTransitions, TransitionsMinimal, TurnBasedTransitions
from pantheonrl.common.util import calculate_space, get_default_obs
from pantheonrl.common.wrappers import (
    ALT_DONE,
    ALT_NOT_DONE,
    DONE,
    EGO_DONE,
    EGO_NOT_DONE,
    NOT_DONE,
    HistoryQueue,
    MultiRecorder,
    SimultaneousFrameStack,
    SimultaneousRecorder,
    TurnBasedFrameStack,
    TurnBasedRecorder,
    frame_wrap,
    recorder_wrap,
)
from pantheonrl.envs import make_default_partner  # importing pantheonrl.envs registers the built-in ids
from pantheonrl.errors import PlayerException, SpaceException

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date.*:DeprecationWarning")

BOX = spaces.Box(-10.0, 100.0, (2,), np.float32)
DISCRETE3 = spaces.Discrete(3)
SPACES = {
    "box": BOX,
    "box2d": spaces.Box(-10.0, 100.0, (2, 3), np.float64),
    "discrete": spaces.Discrete(5),
    "multidiscrete": spaces.MultiDiscrete([3, 4]),
    "multibinary": spaces.MultiBinary(3),
    "multibinary2d": spaces.MultiBinary([2, 2]),
}


def frame(space: spaces.Space, t: int, player: int) -> np.ndarray:
    """A recognisable observation of ``space`` for game step ``t`` and ``player``."""
    if isinstance(space, spaces.Box):
        values = t + 0.25 * player + 0.125 * np.arange(int(np.prod(space.shape)))
        return values.reshape(space.shape).astype(space.dtype)
    if isinstance(space, spaces.Discrete):
        return np.array((t + player) % space.n, dtype=space.dtype)
    if isinstance(space, spaces.MultiDiscrete):
        return ((t + player + np.arange(space.nvec.size)).reshape(space.shape) % space.nvec).astype(space.dtype)
    if isinstance(space, spaces.MultiBinary):
        return ((t + player + np.arange(int(np.prod(space.shape)))) % 2).reshape(space.shape).astype(space.dtype)
    raise AssertionError(space)


class ToyTurn(TurnBasedEnv):
    """Players alternate; observations are :func:`frame` of the step count, rewards are drawn from
    ``np_random``. The game ends (terminated) after ``length`` moves, or is truncated by the game itself
    after ``truncate_at`` moves. ``legacy`` returns ``(obs, rews, done, info)``."""

    def __init__(
        self,
        obs_spaces: tuple[spaces.Space, spaces.Space] = (BOX, BOX),
        act_space: spaces.Space = DISCRETE3,
        length: int = 6,
        probegostart: float = 1.0,
        horizon: int | None = None,
        legacy: bool = False,
        truncate_at: int | None = None,
    ) -> None:
        super().__init__(list(obs_spaces), [act_space, act_space], probegostart=probegostart, horizon=horizon)
        self.length, self.legacy, self.truncate_at = length, legacy, truncate_at
        self.t = 0
        self.moves: list[tuple[int, Any]] = []

    def _move(self, player: int, action: Any) -> tuple:
        self.moves.append((player, action))
        self.t += 1
        obs = frame(self.observation_spaces[1 - player], self.t, 1 - player)
        r = float(self.np_random.random())
        rewards = (r, -r)
        terminated = self.t >= self.length
        if self.legacy:
            return obs, rewards, terminated, {}
        truncated = self.truncate_at is not None and self.t >= self.truncate_at and not terminated
        return obs, rewards, terminated, truncated, {"t": self.t}

    def ego_step(self, action: Any) -> tuple:
        return self._move(0, action)

    def alt_step(self, action: Any) -> tuple:
        return self._move(1, action)

    def multi_reset(self, egofirst: bool) -> np.ndarray:
        self.t = 0
        player = 0 if egofirst else 1
        return frame(self.observation_spaces[player], 0, player)


class ToySim(SimultaneousEnv):
    """Both act; observations are :func:`frame` of the step count; ends after ``length`` steps."""

    def __init__(
        self,
        obs_spaces: tuple[spaces.Space, spaces.Space] = (BOX, BOX),
        act_space: spaces.Space = DISCRETE3,
        length: int = 4,
        horizon: int | None = None,
    ) -> None:
        super().__init__(list(obs_spaces), [act_space, act_space], horizon=horizon)
        self.length = length
        self.t = 0

    def _obs(self) -> tuple[np.ndarray, np.ndarray]:
        return tuple(frame(self.observation_spaces[p], self.t, p) for p in range(2))

    def multi_step(self, ego_action: Any, alt_action: Any) -> tuple:
        self.t += 1
        r = float(self.np_random.random())
        return self._obs(), (r, r), self.t >= self.length, False, {}

    def multi_reset(self) -> tuple[np.ndarray, np.ndarray]:
        self.t = 0
        return self._obs()


class ToyThree(MultiAgentEnv):
    """Three players with different spaces act in turn (0, 1, 2, 0, ...); ends after ``length`` moves."""

    SPACES = (BOX, spaces.Discrete(4), spaces.MultiBinary(3))

    def __init__(self, length: int = 5) -> None:
        super().__init__(list(self.SPACES), [spaces.Discrete(2)] * 3, n_players=3)
        self.length = length
        self.t = 0

    def n_step(self, actions: list[Any]) -> tuple:
        self.t += 1
        player = self.t % 3
        obs = Observation(frame(self.SPACES[player], self.t, player))
        return (player,), (obs,), [1.0, 2.0, 3.0], self.t >= self.length, False, {}

    def n_reset(self) -> tuple:
        self.t = 0
        return (0,), (Observation(frame(self.SPACES[0], 0, 0)),)


class Scripted(Agent):
    """Samples from its own seeded copy of an action space and records what it saw."""

    def __init__(self, action_space: spaces.Space, seed: int = 0, with_space: spaces.Space | None = None) -> None:
        self._space = copy.deepcopy(action_space)
        self._space.seed(seed)
        if with_space is not None:
            self.observation_space = with_space
        self.seen: list[np.ndarray] = []

    def get_action(self, obs: Observation) -> Any:
        self.seen.append(np.array(obs.obs, copy=True))
        return self._space.sample()

    def update(self, reward: float, done: bool) -> None:
        pass


def stack(space: spaces.Space, frames: list[np.ndarray | None]) -> np.ndarray:
    """Expected stacked observation: ``frames`` newest first, ``None`` = empty slot."""
    default = get_default_obs(space)
    return np.concatenate([np.atleast_1d(default if f is None else f) for f in frames], axis=0)


def drive(env: MultiAgentEnv, steps: int, seed: int | None = 0, act_seed: int = 1) -> list[tuple]:
    """Reset and step ``env`` with seeded random ego actions; returns (obs, reward, terminated, truncated)."""
    space = copy.deepcopy(env.action_space)
    space.seed(act_seed)
    obs, _ = env.reset(seed=seed)
    out = [(obs, 0.0, False, False)]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(space.sample())
        out.append((obs, reward, terminated, truncated))
        if terminated or truncated:
            obs, _ = env.reset()
            out.append((obs, 0.0, False, False))
    return out


# ------------------------------------------------------------------------------------------ frame stacking
@pytest.mark.parametrize("name", list(SPACES))
@pytest.mark.parametrize("numframes", [1, 3])
def test_stacked_spaces(name: str, numframes: int) -> None:
    space = SPACES[name]
    env = frame_wrap(ToySim((space, space)), numframes)
    stacked = env.observation_spaces[0]
    assert env.observation_spaces[1] == stacked
    if isinstance(space, spaces.Box):
        assert isinstance(stacked, spaces.Box) and stacked.dtype == space.dtype
        assert stacked.shape == (space.shape[0] * numframes, *space.shape[1:])
        np.testing.assert_array_equal(stacked.low, np.concatenate([space.low] * numframes))
        np.testing.assert_array_equal(stacked.high, np.concatenate([space.high] * numframes))
    elif isinstance(space, spaces.Discrete):
        assert stacked == spaces.MultiDiscrete([space.n] * numframes)
    elif isinstance(space, spaces.MultiDiscrete):
        assert stacked == spaces.MultiDiscrete(np.concatenate([space.nvec] * numframes))
    else:
        assert isinstance(stacked, spaces.MultiBinary)
        assert stacked.shape == (space.shape[0] * numframes, *space.shape[1:])
    obs, _ = env.multi_reset()
    assert stacked.contains(obs), (obs, stacked)
    assert env.action_spaces == [spaces.Discrete(3)] * 2


def test_stacked_spaces_keep_start_and_bounds() -> None:
    md = spaces.MultiDiscrete([3, 4], start=[1, -1])
    assert calculate_space(md, 2) == spaces.MultiDiscrete([3, 4, 3, 4], start=[1, -1, 1, -1])
    assert get_default_obs(md) in md
    discrete = spaces.Discrete(3, start=2)
    assert calculate_space(discrete, 2) == spaces.MultiDiscrete([3, 3], start=[2, 2])
    assert int(get_default_obs(discrete)) == 2
    box = spaces.Box(1.0, 5.0, (2,), np.float32)
    np.testing.assert_array_equal(get_default_obs(box), [1.0, 1.0])
    assert calculate_space(spaces.MultiBinary(4), 3) == spaces.MultiBinary(12)


@pytest.mark.parametrize("spaces_pair", [("box", "discrete"), ("box2d", "multidiscrete"), ("multibinary", "box")])
def test_turn_based_frame_order_and_padding(spaces_pair: tuple[str, str]) -> None:
    s0, s1 = SPACES[spaces_pair[0]], SPACES[spaces_pair[1]]
    fs = TurnBasedFrameStack(ToyTurn((s0, s1), length=20), 3)
    np.testing.assert_array_equal(fs.multi_reset(True), stack(s0, [frame(s0, 0, 0), None, None]))
    # Each player's frames are kept apart: the ego sees steps 0, 2, 4, 6, the partner 1, 3, 5.
    expected = {
        1: stack(s1, [frame(s1, 1, 1), None, None]),
        2: stack(s0, [frame(s0, 2, 0), frame(s0, 0, 0), None]),
        3: stack(s1, [frame(s1, 3, 1), frame(s1, 1, 1), None]),
        4: stack(s0, [frame(s0, 4, 0), frame(s0, 2, 0), frame(s0, 0, 0)]),
        5: stack(s1, [frame(s1, 5, 1), frame(s1, 3, 1), frame(s1, 1, 1)]),
        6: stack(s0, [frame(s0, 6, 0), frame(s0, 4, 0), frame(s0, 2, 0)]),
    }
    for t in range(1, 7):
        step = fs.ego_step if t % 2 == 1 else fs.alt_step
        obs, _, terminated, truncated, info = step(0)
        np.testing.assert_array_equal(obs, expected[t])
        assert obs.dtype == fs.observation_spaces[t % 2].dtype
        assert fs.observation_spaces[t % 2].contains(obs)
        assert (terminated, truncated, info) == (False, False, {"t": t})
    # A new episode starts from empty histories; the partner moving first fills its own history.
    np.testing.assert_array_equal(fs.multi_reset(False), stack(s1, [frame(s1, 0, 1), None, None]))
    obs, *_ = fs.alt_step(0)
    np.testing.assert_array_equal(obs, stack(s0, [frame(s0, 1, 0), None, None]))


def test_simultaneous_frames_seen_by_ego_and_partner() -> None:
    s0, s1 = SPACES["box"], SPACES["multidiscrete"]
    base = ToySim((s0, s1), length=10)
    partner = Scripted(spaces.Discrete(3))
    base.add_partner_agent(partner)
    env = frame_wrap(base, 2)
    assert isinstance(env, SimultaneousFrameStack) and isinstance(env, SimultaneousEnv)
    obs, _ = env.reset(seed=0)
    ego_seen = [obs]
    for _ in range(3):
        ego_seen.append(env.step(0)[0])
    assert len(partner.seen) == 3
    for t in range(4):
        previous = frame(s0, t - 1, 0) if t else None
        np.testing.assert_array_equal(ego_seen[t], stack(s0, [frame(s0, t, 0), previous]))
    for t in range(3):
        previous = frame(s1, t - 1, 1) if t else None
        np.testing.assert_array_equal(partner.seen[t], stack(s1, [frame(s1, t, 1), previous]))


def test_turn_based_frames_through_step_and_custom_defaults() -> None:
    base = ToyTurn((BOX, BOX), length=20)
    partner = Scripted(spaces.Discrete(3))
    base.add_partner_agent(partner)
    env = TurnBasedFrameStack(base, 2, defaultobs=[7.0, 7.0], defaultaltobs=np.array([-1.0, -2.0]))
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, np.concatenate([frame(BOX, 0, 0), [7.0, 7.0]]))
    obs = env.step(0)[0]
    np.testing.assert_array_equal(partner.seen[0], np.concatenate([frame(BOX, 1, 1), [-1.0, -2.0]]))
    np.testing.assert_array_equal(obs, np.concatenate([frame(BOX, 2, 0), frame(BOX, 0, 0)]))
    with pytest.raises(SpaceException, match="defaultobs has shape"):
        TurnBasedFrameStack(ToyTurn(), 2, defaultobs=[1.0, 2.0, 3.0])
    with pytest.raises(SpaceException, match="defaultobs has shape"):
        SimultaneousFrameStack(ToySim(), 2, defaultobs=np.zeros((2, 2)))


def test_observation_objects_keep_their_mask() -> None:
    class Masked(ToySim):
        def multi_reset(self) -> tuple:
            o0, o1 = super().multi_reset()
            return Observation(o0, action_mask=np.array([1, 0, 1])), o1

    env = frame_wrap(Masked(), 2)
    o0, o1 = env.multi_reset()
    assert isinstance(o0, Observation)
    np.testing.assert_array_equal(o0.action_mask, [1, 0, 1])
    np.testing.assert_array_equal(o0.obs, stack(BOX, [frame(BOX, 0, 0), None]))
    np.testing.assert_array_equal(o0.state, o0.obs)
    np.testing.assert_array_equal(o1, stack(BOX, [frame(BOX, 0, 1), None]))


def test_history_queue() -> None:
    queue = HistoryQueue(np.zeros(2, np.float32), 3)
    np.testing.assert_array_equal(queue.add([1, 1]), [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(queue.add([2, 2]), [2, 2, 1, 1, 0, 0])
    np.testing.assert_array_equal(queue.add([3, 3]), [3, 3, 2, 2, 1, 1])
    out = queue.add([4, 4])
    np.testing.assert_array_equal(out, [4, 4, 3, 3, 2, 2])
    assert out.dtype == np.float32 and len(queue.history) == 3
    queue.reset()
    np.testing.assert_array_equal(queue.add([5, 5]), [5, 5, 0, 0, 0, 0])
    scalar = HistoryQueue(0, 2)
    np.testing.assert_array_equal(scalar.add(4), [4, 0])
    with pytest.raises(SpaceException, match="does not match"):
        queue.add([1, 2, 3])
    with pytest.raises(SpaceException, match="positive number of frames"):
        HistoryQueue(0, 0)


def test_partner_takeover_and_settings() -> None:
    base = ToyTurn(probegostart=0.25, horizon=9)
    first, second = Scripted(spaces.Discrete(3), 1), Scripted(spaces.Discrete(3), 2)
    base.add_partner_agent(first)
    base.add_partner_agent(second)
    base.set_resample_policy("null")
    base.set_partnerid(1)
    env = frame_wrap(base, 3)
    assert isinstance(env, TurnBasedFrameStack) and isinstance(env, TurnBasedEnv)
    assert env.partners == [[first, second]] and env.partners[0] is not base.partners[0]
    assert env.partnerids == [1]
    assert (env.probegostart, env.horizon, env.ego_ind) == (0.25, 9, 0)
    drive(env, 6)
    assert first.seen == [] and second.seen  # "null" kept partner 1
    assert all(obs.shape == (6,) for obs in second.seen)  # the taken-over partner sees stacked frames
    # Adding to the wrapper does not touch the wrapped game.
    env.add_partner_agent(Scripted(spaces.Discrete(3)))
    assert len(base.partners[0]) == 2


def test_partner_built_on_unstacked_space_is_refused() -> None:
    base = ToyTurn()
    base.add_partner_agent(Scripted(spaces.Discrete(3), with_space=BOX))
    with pytest.raises(PlayerException, match=r"cannot take over the partner of player 1.*get_dummy_env\(1\)"):
        frame_wrap(base, 2)
    # A recorder keeps the spaces, so the same partner is taken over.
    assert len(recorder_wrap(base).partners[0]) == 1


def test_ego_ind_moves_with_the_game() -> None:
    base = ToyTurn(length=30)
    base.ego_ind = 1
    partner = Scripted(spaces.Discrete(3))
    base.add_partner_agent(partner, player_num=0)
    env = frame_wrap(base, 2)
    assert env.ego_ind == 1 and env.partners == [[partner]]
    obs, _ = env.reset(seed=0)  # player 0 moves first (probegostart=1): the partner acts inside reset
    np.testing.assert_array_equal(partner.seen[0], stack(BOX, [frame(BOX, 0, 0), None]))
    np.testing.assert_array_equal(obs, stack(BOX, [frame(BOX, 1, 1), None]))
    # Moving the ego on the wrapper, as the reproducibility tests do with env.unwrapped.ego_ind = 1.
    env2 = frame_wrap(ToyTurn(length=30), 2)
    env2.unwrapped.ego_ind = 1
    partner2 = Scripted(spaces.Discrete(3))
    env2.add_partner_agent(partner2, player_num=0)
    obs, _ = env2.reset(seed=0)
    np.testing.assert_array_equal(obs, stack(BOX, [frame(BOX, 1, 1), None]))
    np.testing.assert_array_equal(partner2.seen, [stack(BOX, [frame(BOX, 0, 0), None])])


@pytest.mark.parametrize("probegostart", [0.0, 1.0])
def test_probegostart_is_kept(probegostart: float) -> None:
    base = ToyTurn(probegostart=probegostart)
    base.add_partner_agent(Scripted(spaces.Discrete(3)))
    env = recorder_wrap(frame_wrap(base, 2))
    env.reset(seed=3)
    env.step(0)
    first_mover = env.get_transitions().flags[0] % 2
    assert first_mover == (0 if probegostart == 1.0 else 1)


@pytest.mark.parametrize("family", ["turn", "simultaneous"])
def test_seeded_reset_replays_the_unwrapped_game(family: str) -> None:
    def make() -> MultiAgentEnv:
        game = ToyTurn(probegostart=0.5, length=3) if family == "turn" else ToySim(length=3)
        game.add_partner_agent(Scripted(spaces.Discrete(3), seed=5))
        return game

    plain = drive(make(), 25, seed=11)
    stacked = drive(frame_wrap(make(), 3), 25, seed=11)
    recorded = drive(recorder_wrap(frame_wrap(make(), 2)), 25, seed=11)
    assert len(plain) == len(stacked) == len(recorded)
    for (o, r, te, tr), (so, sr, ste, str_), (ro, rr, rte, rtr) in zip(plain, stacked, recorded):
        np.testing.assert_array_equal(so[:2], o)  # newest frame first
        np.testing.assert_array_equal(ro[:2], o)
        assert (r, te, tr) == (sr, ste, str_) == (rr, rte, rtr)
    # The generator is the game's own, whatever the depth of wrapping.
    base = make()
    env = recorder_wrap(frame_wrap(base, 2))
    env.reset(seed=4)
    assert env.np_random is base.np_random
    generator = np.random.default_rng(0)
    env.np_random = generator
    assert base.np_random is generator


def test_gym_wrappers_are_removed() -> None:
    env_id = "PantheonWrapperTestToyTurn-v0"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=ToyTurn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = frame_wrap(gym.make(env_id), 2)  # OrderEnforcing and PassiveEnvChecker go silently
    assert isinstance(env, TurnBasedFrameStack) and isinstance(env.env, ToyTurn)
    assert isinstance(recorder_wrap(gym.make(env_id)), TurnBasedRecorder)
    with pytest.warns(UserWarning, match="TimeLimit"):
        frame_wrap(gym.make(env_id, max_episode_steps=5), 2)


def test_frame_wrap_rejects_other_envs() -> None:
    with pytest.raises(SpaceException, match=r"frame_wrap needs a TurnBasedEnv or SimultaneousEnv.*ToyThree.*3"):
        frame_wrap(ToyThree(), 2)
    with pytest.raises(SpaceException, match=r"DummyEnv.*get_dummy_env"):
        frame_wrap(ToyTurn().get_dummy_env(1), 2)
    with pytest.raises(SpaceException, match="CartPoleEnv"):
        frame_wrap(gym.make("CartPole-v1"), 2)
    with pytest.raises(SpaceException, match="TurnBasedFrameStack needs a TurnBasedEnv"):
        TurnBasedFrameStack(ToySim(), 2)
    with pytest.raises(SpaceException, match="SimultaneousFrameStack needs a SimultaneousEnv"):
        SimultaneousFrameStack(ToyTurn(), 2)
    with pytest.raises(SpaceException, match="unsupported space"):
        frame_wrap(ToySim((spaces.Dict({"a": BOX}), BOX)), 2)
    with pytest.raises(SpaceException, match="recorder_wrap needs a MultiAgentEnv"):
        recorder_wrap(gym.make("CartPole-v1"))
    with pytest.raises(SpaceException, match="cannot record player 0's observations"):
        recorder_wrap(ToySim((spaces.Dict({"a": BOX}), BOX)))


# ------------------------------------------------------------------------------------------ truncation
def test_truncation_passes_through() -> None:
    base = ToyTurn(length=10, truncate_at=3)
    base.add_partner_agent(Scripted(spaces.Discrete(3)))
    env = recorder_wrap(frame_wrap(base, 2))
    env.reset(seed=0)
    _, _, terminated, truncated, _ = env.step(0)
    assert (terminated, truncated) == (False, False)
    _, _, terminated, truncated, _ = env.step(0)  # the game truncates itself on the ego's second move
    assert (terminated, truncated) == (False, True)
    np.testing.assert_array_equal(env.get_transitions().flags, [EGO_NOT_DONE, ALT_NOT_DONE, EGO_DONE])
    # A legacy (obs, rews, done, info) game ends with a termination.
    legacy = ToyTurn(length=2, legacy=True)
    legacy.add_partner_agent(Scripted(spaces.Discrete(3)))
    env = frame_wrap(legacy, 2)
    env.reset(seed=0)
    assert env.step(0)[2:4] == (True, False)


@pytest.mark.parametrize("family", ["turn", "simultaneous", "three"])
def test_horizon_truncates_and_ends_the_recorded_episode(family: str) -> None:
    games = {"turn": ToyTurn, "simultaneous": ToySim, "three": ToyThree}
    game = games[family](length=50)
    game.horizon = 4
    for player in range(1, game.n_players):
        game.add_partner_agent(Scripted(game.action_spaces[player]), player)
    env = recorder_wrap(game if family == "three" else frame_wrap(game, 2))
    assert env.horizon == 4
    env.reset(seed=0)
    results = []
    for _ in range(10):
        _, _, terminated, truncated, _ = env.step(0)
        results.append((terminated, truncated))
        if truncated:
            break
    assert results[-1] == (False, True) and not any(t for t, _ in results)
    for player in range(game.n_players):
        flags = env.get_player_flags(player)
        assert flags[-1] == DONE and not flags[:-1].any()
    if family == "turn":
        np.testing.assert_array_equal(env.get_transitions().flags, [0, 1, 0, ALT_DONE])
    elif family == "simultaneous":
        np.testing.assert_array_equal(env.get_transitions().flags, [0, 0, 0, DONE])


# ------------------------------------------------------------------------------------------ recorders
def test_turn_based_recorder_rows_flags_and_trailing_obs() -> None:
    base = ToyTurn((BOX, BOX), length=3)
    partner = Scripted(spaces.Discrete(3), seed=3)
    base.add_partner_agent(partner)
    env = TurnBasedRecorder(frame_wrap(base, 1))
    assert isinstance(env, MultiRecorder) and isinstance(env, TurnBasedEnv)
    ego_actions = [2, 0, 1]
    env.reset(seed=0)
    env.step(ego_actions[0])  # ego (t=0), partner (t=1)
    env.step(ego_actions[1])  # ego (t=2) ends the game at t=3
    env.reset()
    env.step(ego_actions[2])  # ego (t=0), partner (t=1); the ego's observation at t=2 has no action yet
    transitions = env.get_transitions()
    assert isinstance(transitions, TurnBasedTransitions)
    np.testing.assert_array_equal(transitions.flags, [EGO_NOT_DONE, ALT_NOT_DONE, EGO_DONE, EGO_NOT_DONE, ALT_NOT_DONE])
    players = transitions.flags % 2
    expected_obs = [frame(BOX, t, p) for t, p in [(0, 0), (1, 1), (2, 0), (0, 0), (1, 1)]]
    np.testing.assert_array_equal(transitions.obs, expected_obs)
    np.testing.assert_array_equal(transitions.acts[players == 0], ego_actions)
    np.testing.assert_array_equal(transitions.get_alt_transitions().obs, partner.seen)
    assert [player for player, _ in base.moves] == [0, 1, 0, 0, 1]
    # Cutting an episode short with reset() ends it in the data; the trailing observation stays dropped.
    env.reset()
    np.testing.assert_array_equal(env.get_transitions().flags[-2:], [EGO_NOT_DONE, ALT_DONE])
    assert len(env.get_transitions().obs) == 5
    assert env.get_player_flags(0).tolist() == [0, 1, 1] and env.get_player_flags(1).tolist() == [1, 1]


def test_simultaneous_recorder_rows() -> None:
    s0, s1 = SPACES["box2d"], SPACES["multibinary"]
    base = ToySim((s0, s1), act_space=spaces.MultiDiscrete([2, 3]), length=2)
    partner = Scripted(base.action_spaces[1], seed=2)
    base.add_partner_agent(partner)
    env = recorder_wrap(base)
    assert isinstance(env, SimultaneousRecorder) and isinstance(env, MultiRecorder)
    space = copy.deepcopy(base.action_spaces[0])
    space.seed(0)
    ego_actions = [space.sample() for _ in range(3)]
    env.reset(seed=0)
    for action in ego_actions:
        if env.step(action)[2]:
            env.reset()
    t = env.get_transitions()
    assert isinstance(t, SimultaneousTransitions)
    np.testing.assert_array_equal(t.flags, [NOT_DONE, DONE, NOT_DONE])
    np.testing.assert_array_equal(t.egoobs, [frame(s0, i, 0) for i in (0, 1, 0)])
    np.testing.assert_array_equal(t.altobs, [frame(s1, i, 1) for i in (0, 1, 0)])
    assert t.egoobs.shape == (3, 2, 3) and t.altobs.dtype == s1.dtype
    np.testing.assert_array_equal(t.egoacts, ego_actions)
    np.testing.assert_array_equal(t.altobs, partner.seen)
    assert len(t.altacts) == 3


@pytest.mark.parametrize("obs_name", list(SPACES))
@pytest.mark.parametrize(
    "act_space", [spaces.Discrete(3), spaces.MultiDiscrete([2, 3]), spaces.Box(-1, 1, (2,), np.float32)]
)
@pytest.mark.parametrize("family", ["turn", "simultaneous"])
def test_recorder_write_read_round_trip(tmp_path, obs_name: str, act_space: spaces.Space, family: str) -> None:
    space = SPACES[obs_name]
    if family == "turn":
        game: MultiAgentEnv = ToyTurn((space, space), act_space, probegostart=0.5, length=3)
    else:
        game = ToySim((space, space), act_space, length=3)
    game.add_partner_agent(Scripted(act_space, seed=4))
    env = recorder_wrap(game)
    drive(env, 10)
    before = env.get_transitions()
    path = env.write_transition(tmp_path / "run")
    assert path == tmp_path / "run.npy" and path.exists()
    cls = TurnBasedTransitions if family == "turn" else SimultaneousTransitions
    after = cls.read_transition(path, env.observation_space, env.action_space)
    names = ("obs", "acts", "flags") if family == "turn" else ("egoobs", "egoacts", "altobs", "altacts", "flags")
    for name in names:
        a, b = getattr(before, name), getattr(after, name)
        assert a.shape == b.shape and a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b)
    assert before.flags.any() and len(before.flags) >= 10


@pytest.mark.parametrize("ego_ind", [0, 1])
@pytest.mark.parametrize("family", ["turn", "simultaneous"])
def test_recording_agent_wrapper_matches_recorder(ego_ind: int, family: str) -> None:
    act = spaces.MultiDiscrete([2, 3])
    game = ToyTurn((BOX, BOX), act, probegostart=0.5) if family == "turn" else ToySim((BOX, BOX), act)
    game.ego_ind = ego_ind
    recording = RecordingAgentWrapper(Scripted(act, seed=9))
    game.add_partner_agent(recording, player_num=1 - ego_ind)
    env = recorder_wrap(frame_wrap(game, 2))
    drive(env, 15)
    transitions = env.get_transitions()
    theirs = transitions.get_alt_transitions() if ego_ind == 0 else transitions.get_ego_transitions()
    ours = recording.get_transitions()
    assert len(ours) > 0
    np.testing.assert_array_equal(theirs.obs, ours.obs)
    np.testing.assert_array_equal(theirs.acts, ours.acts)


def test_turn_based_transitions_need_equal_shapes() -> None:
    game = ToyTurn((BOX, SPACES["discrete"]))
    game.add_partner_agent(Scripted(spaces.Discrete(3)))
    env = recorder_wrap(game)
    drive(env, 4)
    with pytest.raises(SpaceException, match=r"differ in shape; use get_player_transitions"):
        env.get_transitions()
    np.testing.assert_array_equal(
        env.get_player_transitions(1).obs, [frame(SPACES["discrete"], t, 1) for t in (1, 3, 5, 1)]
    )


def test_multi_recorder_for_n_players(tmp_path) -> None:
    game = ToyThree(length=5)
    for player in (1, 2):
        game.add_partner_agent(Scripted(spaces.Discrete(2), seed=player), player_num=player)
    env = recorder_wrap(game)
    assert type(env) is MultiRecorder
    # Moves 1-5 (players 0, 1, 2, 0, 1) end episode 1; in episode 2 players 0, 1, 2 move, then the ego is due.
    drive(env, 3)
    per_player = env.get_transitions()
    assert [len(t) for t in per_player] == [3, 3, 2]
    np.testing.assert_array_equal(per_player[0].obs, [frame(BOX, t, 0) for t in (0, 3, 0)])
    np.testing.assert_array_equal(per_player[1].obs, [frame(ToyThree.SPACES[1], t, 1) for t in (1, 4, 1)])
    np.testing.assert_array_equal(per_player[2].obs, [frame(ToyThree.SPACES[2], 2, 2)] * 2)
    assert [env.get_player_flags(p).tolist() for p in range(3)] == [[0, 1, 0], [0, 1, 0], [1, 0]]
    paths = env.write_transition(tmp_path / "three.npy")
    assert [p.name for p in paths] == ["three_player0.npy", "three_player1.npy", "three_player2.npy"]
    for player, path in enumerate(paths):
        back = TransitionsMinimal.read_transition(path, ToyThree.SPACES[player], spaces.Discrete(2))
        np.testing.assert_array_equal(back.obs, per_player[player].obs)
        np.testing.assert_array_equal(back.acts, per_player[player].acts)


def test_recorders_of_an_empty_run(tmp_path) -> None:
    game = ToySim((SPACES["box2d"], SPACES["box2d"]))
    env = recorder_wrap(game)
    t = env.get_transitions()
    assert t.egoobs.shape == (0, 2, 3) and t.flags.shape == (0,)
    path = env.write_transition(tmp_path / "empty")
    back = SimultaneousTransitions.read_transition(path, game.observation_spaces[0], game.action_spaces[0])
    assert back.egoobs.shape == (0, 2, 3)


# ------------------------------------------------------------------------------------------ built-in games
@pytest.mark.parametrize("env_id", ["RPS-v0", "LiarsDice-v0", "BlockEnv-v0", "BlockEnv-v1"])
def test_builtin_frame_wrap_with_ppo(env_id: str) -> None:
    env = frame_wrap(gym.make(env_id).unwrapped, 3)
    base_space = gym.make(env_id).unwrapped.observation_spaces[0]
    assert env.observation_space == calculate_space(base_space, 3)
    partner = OnPolicyAgent(PPO("MlpPolicy", env.get_dummy_env(1), verbose=0, n_steps=64, seed=0))
    env.unwrapped.add_partner_agent(partner)
    ego = PPO("MlpPolicy", env, verbose=0, n_steps=64, seed=0)
    ego.learn(total_timesteps=100)
    assert ego.num_timesteps >= 100 and partner.model.num_timesteps > 0


@pytest.mark.parametrize("env_id", ["LiarsDice-v0", "BlockEnv-v1", "RPS-v0"])
def test_builtin_seeded_frame_stack_replays_the_game(env_id: str) -> None:
    def make() -> MultiAgentEnv:
        game = gym.make(env_id).unwrapped
        game.add_partner_agent(Scripted(game.action_spaces[1], seed=3))
        return game

    plain = drive(make(), 30, seed=5)
    stacked = drive(frame_wrap(make(), 2), 30, seed=5)
    size = int(np.prod(make().observation_spaces[0].shape)) or 1
    for (o, r, te, tr), (so, sr, ste, str_) in zip(plain, stacked, strict=True):
        np.testing.assert_array_equal(np.atleast_1d(so)[:size], np.ravel(o))
        assert (r, te, tr) == (sr, ste, str_)


@pytest.mark.parametrize("env_id", ["RPS-v0", "LiarsDice-v0", "BlockEnv-v1"])
def test_builtin_wrapped_games_pass_the_env_checkers(env_id: str) -> None:
    env = recorder_wrap(frame_wrap(gym.make(env_id), 2))
    env.add_partner_agent(make_default_partner(env_id, env))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)  # includes: reset(seed=s) twice gives the same obs
        sb3_check_env(env)
    assert len(env.get_player_transitions(0)) > 0


def test_render_is_delegated() -> None:
    env = frame_wrap(gym.make("BlockEnv-v1", render_mode="rgb_array"), 2)
    assert env.render_mode == "rgb_array"
    env.add_partner_agent(Scripted(env.action_spaces[1]))
    env.reset(seed=0)
    image = env.render()
    assert isinstance(image, np.ndarray) and image.ndim == 3


def test_recorder_keeps_episodes_that_end_before_the_ego_acts() -> None:
    # One-move games: when the partner moves first, the game is over before the ego acts and reset()
    # starts another; the recorder keeps the partner's finished episode.
    game = ToyTurn(length=1, probegostart=0.5)
    game.add_partner_agent(Scripted(spaces.Discrete(3)))
    env = recorder_wrap(frame_wrap(game, 2))
    env.reset(seed=1)
    for _ in range(20):
        assert env.step(1)[2]
        env.reset()
    flags = env.get_transitions().flags
    assert set(flags.tolist()) == {EGO_DONE, ALT_DONE}
    assert (flags == EGO_DONE).sum() == 20
    assert env.get_player_flags(1).all() and len(env.get_player_flags(1)) == (flags == ALT_DONE).sum()
