"""Saved-agent artefacts: format, hashes, weights-only loading, atomic writes, and the local registry."""

from __future__ import annotations

import json
import re
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import stable_baselines3
import torch
from gymnasium import spaces
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common import base_class, save_util

import pantheonrl
from pantheonrl.artifacts import (
    AgentArtifact,
    AgentRegistry,
    ArtifactError,
    load_agent,
    load_policy,
    read_artifact,
    save_agent,
    space_from_json,
    space_to_json,
    verify_artifact,
)
from pantheonrl.errors import UserInputError

# ------------------------------------------------------------------------------------------------ helpers


def tiny_ppo(env_id: str = "CartPole-v1", seed: int = 0) -> PPO:
    return PPO("MlpPolicy", gym.make(env_id), n_steps=64, batch_size=32, policy_kwargs=dict(net_arch=[16]), seed=seed)


def sample_obs(space: gym.Space, n: int = 32, seed: int = 0) -> np.ndarray:
    space.seed(seed)
    return np.stack([space.sample() for _ in range(n)])


def assert_same_actions(model, policy, obs) -> None:
    expected, _ = model.predict(obs, deterministic=True)
    actual, _ = policy.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actual, expected)


def flip_byte(path, offset=None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def ppo_model() -> PPO:
    model = tiny_ppo()
    model.learn(64)  # weights differ from a fresh init
    return model


@pytest.fixture
def saved(ppo_model, tmp_path) -> AgentArtifact:
    return save_agent(
        ppo_model,
        tmp_path / "agent",
        env_id="CartPole-v1",
        seed=7,
        config={"algo": "PPO", "lr": 3e-4, "layers": [16], "nested": {"a": None}},
        partners_seen=["selfplay", "partner-b"],
    )


# ------------------------------------------------------------------------------------------------ round trips


def test_save_writes_the_three_files_and_nothing_else(saved, tmp_path):
    assert sorted(p.name for p in saved.path.iterdir()) == ["metadata.json", "model.zip", "policy.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent"]  # no temp dirs left


def test_load_agent_round_trip_same_weights_and_predictions(ppo_model, saved):
    loaded = load_agent(saved.path, device="cpu")
    assert type(loaded) is PPO
    original = ppo_model.policy.state_dict()
    restored = loaded.policy.state_dict()
    assert original.keys() == restored.keys()
    for key in original:
        assert torch.equal(original[key].cpu(), restored[key].cpu()), key
    assert_same_actions(ppo_model, loaded, sample_obs(ppo_model.observation_space))


def test_load_policy_weights_only_gives_identical_actions(ppo_model, saved):
    policy = load_policy(saved.path)
    assert isinstance(policy, type(ppo_model.policy))
    assert not policy.training
    for key, value in ppo_model.policy.state_dict().items():
        assert torch.equal(policy.state_dict()[key], value.cpu()), key
    assert_same_actions(ppo_model, policy, sample_obs(ppo_model.observation_space))


def test_load_policy_does_not_disturb_torch_global_rng(saved):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_policy(saved.path)
    assert torch.equal(torch.rand(3), expected)


def test_policy_pt_holds_tensors_only(saved):
    state = torch.load(saved.path / "policy.pt", weights_only=True)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())


def test_metadata_fields(saved, ppo_model):
    meta = json.loads((saved.path / "metadata.json").read_text())
    assert meta == saved.metadata == read_artifact(saved.path).metadata
    assert meta["algorithm"] == saved.algorithm == "PPO"
    assert meta["policy_class"] == "MlpPolicy"
    assert meta["policy_kwargs"] == {"net_arch": [16]}
    assert meta["policy_init_kwargs"]["activation_fn"] == "Tanh"
    assert meta["policy_init_kwargs"]["features_extractor_class"] == "FlattenExtractor"
    assert meta["env_id"] == saved.env_id == "CartPole-v1"
    assert meta["env_version"] == saved.env_version == 1
    assert meta["seed"] == 7
    assert meta["config"] == {"algo": "PPO", "lr": 3e-4, "layers": [16], "nested": {"a": None}}
    assert meta["partners_seen"] == ["selfplay", "partner-b"]
    assert meta["pantheonrl_version"] == pantheonrl.__version__
    assert meta["sb3_version"] == stable_baselines3.__version__
    assert meta["torch_version"] == torch.__version__
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", meta["created"])
    assert set(meta["sha256"]) == {"model.zip", "policy.pt"}
    assert saved.sha256 == meta["sha256"]
    for name, digest in meta["sha256"].items():
        import hashlib

        assert digest == hashlib.sha256((saved.path / name).read_bytes()).hexdigest()
    assert space_from_json(meta["observation_space"]) == ppo_model.observation_space
    assert saved.action_space == ppo_model.action_space


def test_seed_defaults_to_the_model_seed_and_env_version_may_be_absent(tmp_path):
    model = tiny_ppo(seed=11)
    art = save_agent(model, tmp_path / "a", env_id="my_game")
    assert art.metadata["seed"] == 11
    assert art.metadata["env_version"] is None
    assert art.metadata["config"] == {}
    assert art.metadata["partners_seen"] == []


def test_game_env_artifact_round_trip(tmp_path):
    model = tiny_ppo("LiarsDice-v0")
    art = save_agent(model, tmp_path / "liars", env_id="LiarsDice-v0")
    assert art.metadata["env_version"] == 0
    assert art.observation_space == model.observation_space
    policy = load_policy(art.path)
    assert_same_actions(model, policy, sample_obs(model.observation_space))


def test_dqn_artifact(tmp_path):
    model = DQN("MlpPolicy", gym.make("CartPole-v1"), policy_kwargs=dict(net_arch=[16]), learning_starts=10**6, seed=1)
    art = save_agent(model, tmp_path / "dqn", env_id="CartPole-v1")
    assert art.algorithm == "DQN"
    assert art.metadata["policy_init_kwargs"]["activation_fn"] == "ReLU"
    obs = sample_obs(model.observation_space)
    assert_same_actions(model, load_policy(art.path), obs)
    loaded = load_agent(art.path, device="cpu")
    assert type(loaded) is DQN
    assert_same_actions(model, loaded, obs)


def test_sac_artifact(tmp_path):
    model = SAC(
        "MlpPolicy",
        gym.make("Pendulum-v1"),
        policy_kwargs=dict(net_arch=[16]),
        learning_starts=10**6,
        buffer_size=100,
        seed=2,
    )
    art = save_agent(model, tmp_path / "sac", env_id="Pendulum-v1")
    assert art.algorithm == "SAC"
    assert art.metadata["policy_kwargs"] == {"net_arch": [16], "use_sde": False}
    obs = sample_obs(model.observation_space)
    policy = load_policy(art.path)
    assert_same_actions(model, policy, obs)
    assert type(load_agent(art.path, device="cpu")) is SAC


def test_policy_kwargs_activation_and_dict_net_arch_round_trip(tmp_path):
    kwargs = dict(net_arch=dict(pi=[8, 8], vf=[4]), activation_fn=torch.nn.ReLU, ortho_init=False)
    model = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=64, batch_size=32, policy_kwargs=kwargs, seed=0)
    art = save_agent(model, tmp_path / "p", env_id="CartPole-v1")
    assert art.metadata["policy_kwargs"] == {
        "net_arch": {"pi": [8, 8], "vf": [4]},
        "activation_fn": "ReLU",
        "ortho_init": False,
    }
    policy = load_policy(art.path)
    assert isinstance(policy.mlp_extractor.policy_net[1], torch.nn.ReLU)
    assert_same_actions(model, policy, sample_obs(model.observation_space))


def test_unstorable_policy_kwarg_is_named(tmp_path):
    class MyActivation(torch.nn.ReLU):
        pass

    model = PPO(
        "MlpPolicy",
        gym.make("CartPole-v1"),
        n_steps=64,
        batch_size=32,
        policy_kwargs=dict(net_arch=[8], activation_fn=MyActivation),
    )
    with pytest.raises(ArtifactError, match=r"policy_kwargs\.activation_fn = MyActivation.*allowed are .*ReLU.*Tanh"):
        save_agent(model, tmp_path / "x", env_id="CartPole-v1")
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []


def test_non_json_config_value_is_named(ppo_model, tmp_path):
    with pytest.raises(ArtifactError, match=r"config\.callback = .*cannot be stored"):
        save_agent(ppo_model, tmp_path / "x", env_id="CartPole-v1", config={"callback": object()})
    with pytest.raises(ArtifactError, match=r"partners_seen must be a list of strings"):
        save_agent(ppo_model, tmp_path / "x", env_id="CartPole-v1", partners_seen="selfplay")
    with pytest.raises(ArtifactError, match=r"env_id must be a non-empty"):
        save_agent(ppo_model, tmp_path / "x", env_id="")
    assert list(tmp_path.iterdir()) == []


def test_unregistered_algorithm_subclass_is_refused(tmp_path):
    class MyPPO(PPO):
        pass

    model = MyPPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=64, batch_size=32, policy_kwargs=dict(net_arch=[8]))
    with pytest.raises(ArtifactError, match=r"cannot save a MyPPO.*PPO"):
        save_agent(model, tmp_path / "x", env_id="CartPole-v1")


# ------------------------------------------------------------------------------------------------ spaces


SPACES = [
    spaces.Box(low=-1.0, high=2.0, shape=(3, 2), dtype=np.float32),
    spaces.Box(low=np.array([-np.inf, 0.1, -3.5]), high=np.array([np.inf, 0.7, 1e30]), dtype=np.float64),
    spaces.Box(low=np.array([-1.5, 0.1], dtype=np.float32), high=np.array([np.inf, 0.30000001], dtype=np.float32)),
    spaces.Box(low=0, high=255, shape=(4, 4, 3), dtype=np.uint8),
    spaces.Box(low=np.array([-5, 0]), high=np.array([5, 2**40]), dtype=np.int64),
    spaces.Discrete(5),
    spaces.Discrete(3, start=-1),
    spaces.MultiDiscrete([7, 12, 3]),
    spaces.MultiDiscrete(np.array([[2, 3], [4, 5]]), start=np.array([[0, 1], [-1, 2]])),
    spaces.MultiBinary(6),
    spaces.MultiBinary([2, 3]),
    spaces.Dict(
        {
            "zeta": spaces.Discrete(2),
            "alpha": spaces.Box(-1, 1, (2,), np.float32),
            "inner": spaces.Dict({"m": spaces.MultiBinary(3), "d": spaces.MultiDiscrete([2, 2])}),
        }
    ),
    spaces.Tuple((spaces.Discrete(2), spaces.Box(0, 1, (1,), np.float32))),
]


def assert_spaces_identical(a: gym.Space, b: gym.Space) -> None:
    assert type(a) is type(b)
    if isinstance(a, spaces.Box):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a.low, b.low, strict=True)
        np.testing.assert_array_equal(a.high, b.high, strict=True)
    elif isinstance(a, spaces.Discrete):
        assert (a.n, a.start, a.dtype) == (b.n, b.start, b.dtype)
    elif isinstance(a, spaces.MultiDiscrete):
        np.testing.assert_array_equal(a.nvec, b.nvec, strict=True)
        np.testing.assert_array_equal(a.start, b.start, strict=True)
    elif isinstance(a, spaces.MultiBinary):
        assert a.shape == b.shape
    elif isinstance(a, spaces.Dict):
        assert list(a.spaces) == list(b.spaces)  # key order preserved
        for key in a.spaces:
            assert_spaces_identical(a[key], b[key])
    elif isinstance(a, spaces.Tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_spaces_identical(x, y)
    else:  # pragma: no cover
        raise AssertionError(type(a))


@pytest.mark.parametrize("space", SPACES, ids=lambda s: type(s).__name__)
def test_space_json_round_trip(space):
    data = space_to_json(space)
    text = json.dumps(data, allow_nan=False)  # strict JSON (infinities stored as strings)
    back = space_from_json(json.loads(text))
    assert_spaces_identical(space, back)
    assert back == space


def test_uniform_box_bounds_are_stored_compactly():
    data = space_to_json(spaces.Box(0, 255, (84, 84, 3), np.uint8))
    assert data["low"] == 0 and data["high"] == 255


def test_unsupported_space_and_malformed_json():
    with pytest.raises(ArtifactError, match=r"cannot store a Text space; supported: Box, Discrete"):
        space_to_json(spaces.Text(5))
    with pytest.raises(ArtifactError, match=r"unknown space type 'Boxx'.*did you mean Box"):
        space_from_json({"type": "Boxx"})
    with pytest.raises(ArtifactError, match=r"malformed stored Discrete space"):
        space_from_json({"type": "Discrete"})
    with pytest.raises(ArtifactError, match=r"dtype 'object'|unknown dtype"):
        space_from_json({"type": "Box", "shape": [1], "dtype": "object", "low": 0, "high": 1})


# ------------------------------------------------------------------------------------------------ integrity


@pytest.mark.parametrize("name", ["model.zip", "policy.pt"])
def test_tampered_file_is_refused_by_every_load(saved, name, monkeypatch):
    flip_byte(saved.path / name)
    calls = []
    monkeypatch.setattr(PPO, "load", classmethod(lambda cls, *a, **k: calls.append(a)))
    for load in (verify_artifact, load_agent, load_policy):
        with pytest.raises(
            ArtifactError, match=rf"{re.escape(name)} does not match its SHA-256.*tampered with or corrupted"
        ):
            load(saved.path)
    assert calls == []  # the pickle-bearing load was never reached
    read_artifact(saved.path)  # metadata itself is still readable (the hash check is verify's job)


def test_truncated_file_is_refused(saved):
    path = saved.path / "policy.pt"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ArtifactError, match=r"policy\.pt does not match"):
        load_policy(saved.path)


def test_load_policy_never_unpickles_model_zip(saved, ppo_model, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("model.zip must not be opened as a model")

    monkeypatch.setattr(save_util, "load_from_zip_file", forbidden)
    monkeypatch.setattr(base_class, "load_from_zip_file", forbidden)
    monkeypatch.setattr(zipfile, "ZipFile", forbidden)
    # the patches bite: the full load path is blocked ...
    with pytest.raises(AssertionError, match="must not be opened"):
        load_agent(saved.path)
    # ... and the weights-only path does not need any of it
    policy = load_policy(saved.path)
    assert_same_actions(ppo_model, policy, sample_obs(ppo_model.observation_space))


def test_metadata_that_does_not_fit_the_weights_is_refused(saved):
    meta_path = saved.path / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["policy_init_kwargs"]["net_arch"] = [32]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"do not fit the policy described by metadata\.json"):
        load_policy(saved.path)


def test_metadata_cannot_smuggle_in_classes(saved):
    meta_path = saved.path / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["policy_init_kwargs"]["activation_fn"] = "os.system"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"activation_fn: unknown class name 'os\.system'; choose one of: .*ReLU"):
        load_policy(saved.path)


# ------------------------------------------------------------------------------------------------ bad artefacts


def test_missing_folder(tmp_path):
    with pytest.raises(
        ArtifactError, match=r"no artefact at .*nowhere: expected a folder with metadata\.json, model\.zip"
    ):
        read_artifact(tmp_path / "nowhere")


def test_missing_metadata(saved):
    (saved.path / "metadata.json").unlink()
    with pytest.raises(ArtifactError, match=r"metadata\.json is missing.*save_agent"):
        load_policy(saved.path)


def test_corrupt_metadata_json(saved):
    (saved.path / "metadata.json").write_text('{"format": "pantheonrl-agent", ')
    with pytest.raises(ArtifactError, match=r"metadata\.json is not valid JSON \(line 1, column \d+"):
        read_artifact(saved.path)
    (saved.path / "metadata.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ArtifactError, match="not UTF-8"):
        read_artifact(saved.path)
    (saved.path / "metadata.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="must hold a JSON object"):
        read_artifact(saved.path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("format", "something-else", "not a pantheonrl agent artefact"),
        ("env_id", None, "'env_id' must be a non-empty string"),
        ("seed", "zero", "'seed' must be an integer or null"),
        ("algorithm", "ppo", "unknown algorithm 'ppo'.*did you mean PPO"),
        ("format_version", 99, "newer than this pantheonrl supports"),
        ("sha256", {"model.zip": "abc"}, r"sha256\['model.zip'\] must be 64 lowercase hex"),
        ("observation_space", {"type": "Wormhole"}, "'observation_space' is malformed.*unknown space type"),
        ("partners_seen", "x", "'partners_seen' must be a list of strings"),
    ],
)
def test_invalid_metadata_values(saved, key, value, message):
    meta_path = saved.path / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta[key] = value
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=message):
        read_artifact(saved.path)


def test_missing_metadata_key(saved):
    meta_path = saved.path / "metadata.json"
    meta = json.loads(meta_path.read_text())
    del meta["action_space"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="lacks the key 'action_space'"):
        read_artifact(saved.path)


def test_missing_weight_file(saved):
    (saved.path / "policy.pt").unlink()
    with pytest.raises(ArtifactError, match=r"incomplete: policy\.pt is missing"):
        verify_artifact(saved.path)


def test_artifact_error_is_a_user_error():
    assert issubclass(ArtifactError, UserInputError)
    assert issubclass(ArtifactError, ValueError)


# ------------------------------------------------------------------------------------------------ atomic writes


def test_no_overwrite_without_flag_and_original_intact(saved, tmp_path):
    before = {p.name: p.read_bytes() for p in saved.path.iterdir()}
    other = tiny_ppo(seed=5)
    with pytest.raises(ArtifactError, match=r"already exists.*overwrite=True"):
        save_agent(other, saved.path, env_id="CartPole-v1")
    assert {p.name: p.read_bytes() for p in saved.path.iterdir()} == before
    assert leftovers(tmp_path) == []
    verify_artifact(saved.path)


def test_overwrite_replaces_atomically(saved, tmp_path):
    other = tiny_ppo(seed=5)
    art = save_agent(other, saved.path, env_id="CartPole-v1", seed=5, overwrite=True)
    assert art.metadata["seed"] == 5
    assert art.sha256 != saved.sha256
    assert verify_artifact(saved.path).metadata["seed"] == 5
    assert_same_actions(other, load_policy(saved.path), sample_obs(other.observation_space))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent"]


def test_non_artifact_folder_is_never_replaced(ppo_model, tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match=r"not an artefact.*refusing to replace it even with overwrite=True"):
        save_agent(ppo_model, folder, env_id="CartPole-v1", overwrite=True)
    assert (folder / "notes.txt").read_text() == "keep me"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ArtifactError, match="exists and is not a folder"):
        save_agent(ppo_model, tmp_path / "afile", env_id="CartPole-v1", overwrite=True)
    assert leftovers(tmp_path) == []


def test_empty_target_folder_is_used(ppo_model, tmp_path):
    (tmp_path / "empty").mkdir()
    art = save_agent(ppo_model, tmp_path / "empty", env_id="CartPole-v1")
    verify_artifact(art.path)


def test_failure_mid_save_leaves_nothing(tmp_path, monkeypatch):
    model = tiny_ppo()

    def broken_save(path, *args, **kwargs):
        # write part of the file first, as a real crash would
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_agent(model, tmp_path / "agent", env_id="CartPole-v1")
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_overwrite_keeps_the_original(saved, tmp_path, monkeypatch):
    before = {p.name: p.read_bytes() for p in saved.path.iterdir()}
    model = tiny_ppo(seed=9)
    monkeypatch.setattr(model, "save", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_agent(model, saved.path, env_id="CartPole-v1", overwrite=True)
    assert {p.name: p.read_bytes() for p in saved.path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent"]


# ------------------------------------------------------------------------------------------------ registry


@pytest.fixture
def registry(tmp_path) -> AgentRegistry:
    return AgentRegistry(tmp_path / "agents")


def test_registry_save_list_get_remove(registry, ppo_model):
    assert registry.list() == []
    b = registry.save("ppo-b", ppo_model, env_id="CartPole-v1")
    a = registry.save("ppo.a_1", ppo_model, env_id="CartPole-v1", seed=3)
    assert b.path == registry.root / "ppo-b"
    assert [x.name for x in registry.list()] == ["ppo-b", "ppo.a_1"]
    assert registry.get("ppo.a_1").metadata == a.metadata
    assert registry.path("ppo-b") == b.path
    with pytest.raises(ArtifactError, match="already exists"):
        registry.save("ppo-b", ppo_model, env_id="CartPole-v1")
    registry.save("ppo-b", ppo_model, env_id="CartPole-v1", seed=4, overwrite=True)
    assert registry.get("ppo-b").metadata["seed"] == 4
    registry.remove("ppo-b")
    assert [x.name for x in registry.list()] == ["ppo.a_1"]
    assert not (registry.root / "ppo-b").exists()
    assert leftovers(registry.root) == []
    with pytest.raises(ArtifactError, match=r"unknown agent 'ppo-b'.*ppo\.a_1"):
        registry.get("ppo-b")


def test_registry_list_skips_and_reports_broken_folders(registry, ppo_model):
    registry.save("good", ppo_model, env_id="CartPole-v1")
    registry.save("bad", ppo_model, env_id="CartPole-v1")
    (registry.root / "bad" / "metadata.json").write_text("{not json")
    (registry.root / "empty").mkdir()
    (registry.root / "stray-file.txt").write_text("x")
    (registry.root / ".tmp-leftover").mkdir()
    assert [x.name for x in registry.list()] == ["good"]
    broken = {b.name: b.reason for b in registry.broken()}
    assert set(broken) == {"bad", "empty"}
    assert "not valid JSON" in broken["bad"]
    assert "metadata.json is missing" in broken["empty"]


def test_registry_unknown_name_did_you_mean(registry, ppo_model):
    registry.save("selfplay-ppo", ppo_model, env_id="CartPole-v1")
    with pytest.raises(
        ArtifactError, match=r"unknown agent 'selfplay-pp'; choose one of: selfplay-ppo.*did you mean selfplay-ppo"
    ):
        registry.path("selfplay-pp")
    empty = AgentRegistry(registry.root.parent / "none")
    with pytest.raises(ArtifactError, match=r"no agents are saved in .* yet"):
        empty.get("x")
    assert empty.list() == [] and empty.broken() == []


@pytest.mark.parametrize("name", ["a/b", "..", "a..b", "x\\y", "/abs/path", "../agents/x"])
def test_registry_path_like_names_are_refused(registry, ppo_model, name):
    for call in (registry.get, registry.path, registry.remove, lambda n: registry.save(n, ppo_model, env_id="E-v0")):
        with pytest.raises(ArtifactError, match=r"looks like a path.*resolve"):
            call(name)
    assert not registry.root.exists()


@pytest.mark.parametrize("name", ["", "-lead", ".hidden", "sp ace", "x" * 101, "ü"])
def test_registry_bad_names(registry, ppo_model, name):
    with pytest.raises(ArtifactError, match=r"must not be empty|bad agent name"):
        registry.save(name, ppo_model, env_id="CartPole-v1")
    assert not registry.root.exists()


def test_registry_non_string_name(registry):
    with pytest.raises(ArtifactError, match="must be a string, got int"):
        registry.get(3)


def test_registry_resolve(registry, ppo_model, tmp_path, monkeypatch):
    named = registry.save("champ", ppo_model, env_id="CartPole-v1")
    elsewhere = save_agent(ppo_model, tmp_path / "elsewhere" / "agent", env_id="CartPole-v1")
    assert registry.resolve("champ").path == named.path
    assert registry.resolve(str(elsewhere.path)).path == elsewhere.path
    assert registry.resolve(elsewhere.path).path == elsewhere.path
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert registry.resolve("agent").path.resolve() == elsewhere.path.resolve()  # plain relative folder
    assert registry.resolve("./agent").metadata == elsewhere.metadata
    with pytest.raises(ArtifactError, match=r"unknown agent 'chump'.*did you mean champ"):
        registry.resolve("chump")
    with pytest.raises(ArtifactError, match=r"no artefact at .*missing"):
        registry.resolve(str(tmp_path / "missing"))


def test_registry_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("PANTHEONRL_AGENTS", str(tmp_path / "env-root"))
    assert AgentRegistry().root == tmp_path / "env-root"
    monkeypatch.delenv("PANTHEONRL_AGENTS")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert AgentRegistry().root == tmp_path / ".pantheonrl" / "agents"


def test_registry_artifacts_load(registry, ppo_model):
    registry.save("p", ppo_model, env_id="CartPole-v1")
    art = registry.get("p")
    obs = sample_obs(ppo_model.observation_space)
    assert_same_actions(ppo_model, art.load_policy(), obs)
    assert_same_actions(ppo_model, art.load_agent(device="cpu"), obs)
