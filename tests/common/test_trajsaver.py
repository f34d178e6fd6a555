"""Trajectory datasets and their file format (pantheonrl.common.trajsaver; compat doc sections 4 and 7.4)."""

from __future__ import annotations

import copy
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO

import pantheonrl.envs  # noqa: F401  (registers the built-in ids)
from pantheonrl.common.agents import OnPolicyAgent, RecordingAgentWrapper
from pantheonrl.common.trajsaver import (
    SimultaneousTransitions,
    TransitionsMinimal,
    TurnBasedTransitions,
    transitions_collate_fn,
)
from pantheonrl.common.util import get_space_size
from pantheonrl.common.wrappers import SimultaneousRecorder, TurnBasedRecorder
from pantheonrl.errors import SpaceException, TrajectoryFormatError

torch.set_num_threads(1)

SPACES = {
    "box": spaces.Box(-1.0, 1.0, (3,), np.float32),
    "box2d": spaces.Box(-1.0, 1.0, (2, 3), np.float32),
    "box64": spaces.Box(-np.inf, np.inf, (2,), np.float64),
    "discrete": spaces.Discrete(7),
    "multidiscrete": spaces.MultiDiscrete([7, 12]),
    "multidiscrete2d": spaces.MultiDiscrete([[2, 3], [4, 5]]),
    "multibinary": spaces.MultiBinary(4),
    "multibinary2d": spaces.MultiBinary([2, 2]),
}


def sample(space: spaces.Space, n: int, seed: int = 0) -> np.ndarray:
    space = copy.deepcopy(space)
    space.seed(seed)
    if isinstance(space, spaces.Box):  # finite values for unbounded boxes too
        rng = np.random.default_rng(seed)
        return rng.standard_normal((n, *space.shape)).astype(space.dtype)
    return np.stack([space.sample() for _ in range(n)])


def assert_exactly_equal(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------ sizes
def test_get_space_size_counts_every_cell() -> None:
    assert get_space_size(spaces.Box(0, 1, (2, 3))) == 6  # the original counted 2 (the first axis only)
    assert get_space_size(spaces.Box(0, 1, (4, 2, 3))) == 24
    assert get_space_size(spaces.Box(0, 1, ())) == 1
    assert get_space_size(spaces.Discrete(5)) == 1
    assert get_space_size(spaces.MultiDiscrete([[2, 3], [4, 5]])) == 4
    assert get_space_size(spaces.MultiBinary([2, 3])) == 6
    assert get_space_size(spaces.MultiBinary(4)) == 4
    with pytest.raises(SpaceException, match="unsupported space"):
        get_space_size(spaces.Dict({"a": spaces.Discrete(2)}))


# ------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("obs_name", list(SPACES))
@pytest.mark.parametrize("act_name", ["discrete", "multidiscrete", "box"])
def test_transitions_minimal_round_trip(tmp_path: Path, obs_name: str, act_name: str) -> None:
    obs_space, act_space = SPACES[obs_name], SPACES[act_name]
    data = TransitionsMinimal(sample(obs_space, 9, 1), sample(act_space, 9, 2))
    path = data.write_transition(tmp_path / "minimal")
    assert path == tmp_path / "minimal.npy"
    back = TransitionsMinimal.read_transition(path, obs_space, act_space)
    assert_exactly_equal(back.obs, data.obs)
    assert_exactly_equal(back.acts, data.acts)
    # Reading without the suffix finds the file, as np.save named it.
    assert len(TransitionsMinimal.read_transition(tmp_path / "minimal", obs_space, act_space)) == 9


@pytest.mark.parametrize("obs_name", ["box2d", "discrete", "multibinary2d"])
def test_multi_transitions_round_trip(tmp_path: Path, obs_name: str) -> None:
    obs_space, act_space = SPACES[obs_name], SPACES["multidiscrete"]
    flags = np.array([0, 1, 0, 3, 1, 0, 2])
    turn = TurnBasedTransitions(sample(obs_space, 7), sample(act_space, 7), flags)
    back = TurnBasedTransitions.read_transition(turn.write_transition(tmp_path / "turn"), obs_space, act_space)
    for name in ("obs", "acts", "flags"):
        assert_exactly_equal(getattr(back, name), getattr(turn, name))
    sim = SimultaneousTransitions(
        sample(obs_space, 5, 1), sample(act_space, 5, 2), sample(obs_space, 5, 3), sample(act_space, 5, 4),
        np.array([0, 0, 1, 0, 1]),
    )  # fmt: skip
    back = SimultaneousTransitions.read_transition(sim.write_transition(tmp_path / "sim"), obs_space, act_space)
    for name in ("egoobs", "egoacts", "altobs", "altacts", "flags"):
        assert_exactly_equal(getattr(back, name), getattr(sim, name))


def test_empty_datasets_round_trip(tmp_path: Path) -> None:
    obs_space, act_space = SPACES["box2d"], SPACES["discrete"]
    empty = TurnBasedTransitions(np.empty((0, 2, 3), np.float32), np.empty((0,), np.int64), np.empty((0,), np.int64))
    back = TurnBasedTransitions.read_transition(empty.write_transition(tmp_path / "e"), obs_space, act_space)
    assert back.obs.shape == (0, 2, 3) and back.acts.shape == (0,) and back.flags.shape == (0,)


# ------------------------------------------------------------------------------------------ datasets
def test_transitions_minimal_is_a_read_only_dataset() -> None:
    data = TransitionsMinimal(np.arange(12.0).reshape(6, 2), np.arange(6))
    assert len(data) == 6
    item = data[2]
    assert set(item) == {"obs", "acts"}
    np.testing.assert_array_equal(item["obs"], [4.0, 5.0])
    assert item["acts"] == 2
    part = data[1:4]
    assert isinstance(part, TransitionsMinimal) and len(part) == 3
    np.testing.assert_array_equal(part.acts, [1, 2, 3])
    with pytest.raises(ValueError, match="read-only"):
        data.obs[0, 0] = 1.0
    source = np.zeros(3)
    copied = TransitionsMinimal(source, source)
    source[0] = 5.0
    assert copied.obs[0] == 0.0  # the dataset owns its arrays
    with pytest.raises(TrajectoryFormatError, match="same length"):
        TransitionsMinimal(np.zeros(3), np.zeros(4))
    assert data == data and data != TransitionsMinimal(data.obs, data.acts)  # identity, never array truthiness
    loader = torch.utils.data.DataLoader(data, batch_size=4, collate_fn=transitions_collate_fn)
    batch = next(iter(loader))
    assert batch["obs"].shape == (4, 2) and batch["acts"].tolist() == [0, 1, 2, 3]


def test_ego_and_alt_transitions() -> None:
    turn = TurnBasedTransitions(np.arange(5), np.arange(5) * 10, np.array([0, 1, 2, 1, 3]))
    np.testing.assert_array_equal(turn.get_ego_transitions().obs, [0, 2])
    np.testing.assert_array_equal(turn.get_alt_transitions().acts, [10, 30, 40])
    sim = SimultaneousTransitions(np.arange(3), np.arange(3) + 1, np.arange(3) + 2, np.arange(3) + 3, np.zeros(3))
    np.testing.assert_array_equal(sim.get_ego_transitions().acts, [1, 2, 3])
    np.testing.assert_array_equal(sim.get_alt_transitions().obs, [2, 3, 4])
    with pytest.raises(TrajectoryFormatError, match="same length"):
        TurnBasedTransitions(np.arange(5), np.arange(4), np.zeros(5))


# ------------------------------------------------------------------------------------------ original files
def test_reads_files_written_by_the_original(tmp_path: Path) -> None:
    # The original wrote np.concatenate of the parts reshaped to (n, -1): integer parts give an int64
    # matrix, any float part a float64 one. np.save appended ".npy".
    obs_space, act_space = spaces.MultiDiscrete([7] * 4), spaces.MultiDiscrete([7, 12])
    obs, acts, flags = sample(obs_space, 6), sample(act_space, 6), np.array([0, 1, 0, 1, 2, 1])
    np.save(tmp_path / "liars", np.concatenate([obs, acts, flags[:, None]], axis=1))
    turn = TurnBasedTransitions.read_transition(tmp_path / "liars.npy", obs_space, act_space)
    np.testing.assert_array_equal(turn.obs, obs)
    np.testing.assert_array_equal(turn.acts, acts)
    np.testing.assert_array_equal(turn.flags, flags)
    np.testing.assert_array_equal(turn.get_alt_transitions().acts, acts[[1, 3, 5]])

    # RPS: Discrete(1) observations and Discrete(3) actions, one column each, as floats.
    ego_acts, alt_acts = np.array([0, 2, 1, 1]), np.array([1, 1, 0, 2])
    matrix = np.stack([np.zeros(4), ego_acts, np.zeros(4), alt_acts, np.ones(4)], axis=1).astype(np.float64)
    np.save(tmp_path / "rps.npy", matrix)
    sim = SimultaneousTransitions.read_transition(tmp_path / "rps.npy", spaces.Discrete(1), spaces.Discrete(3))
    assert sim.egoobs.shape == (4,) and sim.egoacts.dtype == np.int64  # width-1 parts are vectors
    np.testing.assert_array_equal(sim.egoacts, ego_acts)
    np.testing.assert_array_equal(sim.altacts, alt_acts)
    np.testing.assert_array_equal(sim.flags, [1, 1, 1, 1])

    # A continuous (Overcooked-like) dataset: float32 observations and a Discrete action.
    box = spaces.Box(-np.inf, np.inf, (5,), np.float32)
    feats = sample(box, 3)
    np.save(tmp_path / "minimal.npy", np.concatenate([feats, [[4], [0], [5]]], axis=1).astype(np.float64))
    minimal = TransitionsMinimal.read_transition(tmp_path / "minimal.npy", box, spaces.Discrete(6))
    assert_exactly_equal(minimal.obs, feats)
    np.testing.assert_array_equal(minimal.acts, [4, 0, 5])


# ------------------------------------------------------------------------------------------ malformed files
OBS, ACT = spaces.MultiDiscrete([3, 3]), spaces.Discrete(4)


def _write_bad(path: Path, kind: str) -> None:
    if kind == "wrong-columns":
        np.save(path, np.zeros((3, 5)))
    elif kind == "one-dimensional":
        np.save(path, np.zeros(12))
    elif kind == "pickled-objects":
        np.save(path, np.array([[{"a": 1}, None, 1, 2]], dtype=object), allow_pickle=True)
    elif kind == "strings":
        np.save(path, np.array([["a", "b", "c", "d"]]))
    elif kind == "booleans":
        np.save(path, np.zeros((2, 4), dtype=bool))
    elif kind == "npz":
        with open(path, "wb") as fh:
            np.savez(fh, data=np.zeros((2, 4)))
    elif kind == "garbage":
        path.write_bytes(b"this is not an array\n" * 4)
    elif kind == "truncated":
        np.save(path, np.zeros((50, 4)))
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "bad-flags":
        np.save(path, np.array([[0, 1, 2, 0], [1, 1, 3, 4]], dtype=np.float64))
    elif kind == "fractional-flags":
        np.save(path, np.array([[0, 1, 2, 0.5]]))
    elif kind == "fractional-discrete":
        np.save(path, np.array([[0, 1.5, 2, 0]]))
    elif kind == "nan-discrete":
        np.save(path, np.array([[0, 1, np.nan, 1]]))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "wrong-columns",
            r"has 5 columns, but TurnBasedTransitions with these spaces needs 4 \(2 \+ 1 \+ 1\)",
        ),
        ("one-dimensional", r"shape \(12,\); a trajectory file is a 2-D numeric matrix"),
        ("pickled-objects", r"is not a trajectory file \(a \.npy matrix written by write_transition\)"),
        ("strings", r"holds a <U1 array .* 2-D numeric matrix"),
        ("booleans", r"holds a bool array .* 2-D numeric matrix"),
        ("npz", r"is an \.npz archive; a trajectory file is one \.npy matrix"),
        ("garbage", r"is not a trajectory file"),
        ("truncated", r"is not a trajectory file"),
        ("bad-flags", r"flag values \[4.0\] in its last column, first at row 1; turn-based flags are 0\.\.3"),
        ("fractional-flags", r"flag values \[0.5\]"),
        ("fractional-discrete", r"observation columns of MultiDiscrete\(\[3 3\]\) must hold integers.*1\.5"),
        ("nan-discrete", r"action columns of Discrete\(4\) must hold integers.*nan"),
        ("missing", r"does not exist \(expected a \.npy matrix written by write_transition\)"),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, kind: str, expected: str) -> None:
    path = tmp_path / f"{kind}.npy"
    _write_bad(path, kind)
    with pytest.raises(TrajectoryFormatError, match=expected) as info:
        TurnBasedTransitions.read_transition(path, OBS, ACT)
    assert str(path) in str(info.value)


def test_flags_of_the_wrong_kind_are_refused(tmp_path: Path) -> None:
    turn = TurnBasedTransitions(np.zeros((2, 3)), np.zeros(2), np.array([0, 3]))
    path = turn.write_transition(tmp_path / "turn")
    # [obs(3) | act | flag] has as many columns as [egoobs | egoacts | altobs | altacts | flag], all Discrete.
    with pytest.raises(TrajectoryFormatError, match=r"flag values \[3.0\].*flags are 0 or 1"):
        SimultaneousTransitions.read_transition(path, spaces.Discrete(5), spaces.Discrete(5))
    with pytest.raises(TrajectoryFormatError, match="TransitionsMinimal with these spaces needs 3"):
        TransitionsMinimal.read_transition(path, OBS, ACT)


# ------------------------------------------------------------------------------------------ atomic writes
def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = TransitionsMinimal(np.arange(6.0).reshape(3, 2), np.arange(3))
    real_save = np.save

    def torn_save(file, arr, *args, **kwargs):
        file.write(b"\x93NUMPY partial header")  # some bytes reach the disk, then the write fails
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        data.write_transition(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary file

    monkeypatch.setattr(np, "save", real_save)
    path = data.write_transition(tmp_path / "out")
    good = path.read_bytes()
    monkeypatch.setattr(np, "save", torn_save)
    bigger = TransitionsMinimal(np.zeros((50, 2)), np.zeros(50))
    with pytest.raises(OSError, match="disk full"):
        bigger.write_transition(path)
    assert path.read_bytes() == good  # the previous file survives a failed overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy"]


# ------------------------------------------------------------------------------------- built-in games (7.4)
def _learn_with_partner(env: gym.Env, partner_wrapper=None) -> tuple:
    partner = OnPolicyAgent(PPO("MlpPolicy", env.unwrapped.get_dummy_env(1), verbose=0, n_steps=64, seed=0))
    if partner_wrapper is not None:
        partner = partner_wrapper(partner)
    env.unwrapped.add_partner_agent(partner)
    PPO("MlpPolicy", env, verbose=0, n_steps=64, seed=0).learn(total_timesteps=100)
    return env, partner


@pytest.mark.parametrize(
    ("env_id", "recorder"), [("LiarsDice-v0", TurnBasedRecorder), ("RPS-v0", SimultaneousRecorder)]
)
def test_builtin_recorder_round_trip(tmp_path: Path, env_id: str, recorder: type) -> None:
    env, _ = _learn_with_partner(recorder(gym.make(env_id).unwrapped))
    before = env.get_transitions()
    cls = type(before)
    after = cls.read_transition(env.write_transition(tmp_path / env_id), env.observation_space, env.action_space)
    names = (
        ("obs", "acts", "flags") if cls is TurnBasedTransitions else ("egoobs", "egoacts", "altobs", "altacts", "flags")
    )
    for name in names:
        assert_exactly_equal(getattr(after, name), getattr(before, name))
    assert len(before.flags) >= 100 and (before.flags >= (2 if cls is TurnBasedTransitions else 1)).any()


@pytest.mark.parametrize(
    ("env_id", "recorder"), [("LiarsDice-v0", TurnBasedRecorder), ("RPS-v0", SimultaneousRecorder)]
)
def test_builtin_recording_agent_matches_recorder(tmp_path: Path, env_id: str, recorder: type) -> None:
    env, partner = _learn_with_partner(recorder(gym.make(env_id).unwrapped), RecordingAgentWrapper)
    recorded = env.get_transitions().get_alt_transitions()
    own = partner.get_transitions()
    assert len(own) >= 50
    np.testing.assert_array_equal(recorded.obs, own.obs)
    np.testing.assert_array_equal(recorded.acts, own.acts)
    back = TransitionsMinimal.read_transition(
        recorded.write_transition(tmp_path / env_id), env.observation_space, env.action_space
    )
    assert_exactly_equal(back.obs, recorded.obs)
    assert_exactly_equal(back.acts, recorded.acts)
