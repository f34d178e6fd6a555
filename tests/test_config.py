"""Typed run configs: round trips, YAML/JSON files, and one clear ConfigError per kind of bad value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pantheonrl.config import PartnerConfig, TrainConfig, dump_config, load_config, read_config_data
from pantheonrl.errors import ConfigError, UserInputError

ROOT = Path(__file__).resolve().parents[1]


def _cfg(**changes):
    data = {"env": "LiarsDice-v0", "ego": "PPO", "partners": [{"type": "PPO"}], **changes}
    return TrainConfig.from_dict(data)


def test_defaults_follow_the_original_trainer():
    cfg = _cfg()
    assert cfg.total_timesteps == 500_000 and cfg.n_envs == 1 and cfg.device == "auto" and cfg.seed is None
    assert cfg.player == 1 and cfg.framestack == 1 and cfg.eval_episodes == 100 and cfg.num_threads == 1
    assert cfg.sampling == "robin" and cfg.checkpoint_every == 0 and cfg.verbose == 1
    assert cfg.partner_labels() == ["alt0-PPO"] and cfg.alt_names() == ["PPO"]


def test_round_trip_through_dict_yaml_and_json(tmp_path):
    cfg = _cfg(
        partners=[{"type": "PPO", "config": {"n_steps": 64, "policy": "MlpPolicy"}}, {"type": "DEFAULT"},
                  {"type": "FIXED", "location": "runs/x/agents/ego", "deterministic": True}],
        env_config={"probegostart": 0.25}, ego_config={"learning_rate": 1e-4, "policy_kwargs": {"net_arch": [32]}},
        n_envs=8, seed=3, total_timesteps=20_000, sampling="prioritised", checkpoint_every=5000, run_dir="runs/a",
    )
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    for name in ("config.yml", "config.json"):
        path = dump_config(cfg, tmp_path / name)
        assert load_config(path) == cfg
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the atomic write left no temp file
    assert cfg.partner_labels() == ["alt0-PPO", "alt1-DEFAULT", "alt2-FIXED"]
    changed = cfg.replace(total_timesteps=40_000)
    assert changed.total_timesteps == 40_000 and cfg.total_timesteps == 20_000


def test_to_dict_is_a_deep_copy():
    cfg = _cfg(ego_config={"policy_kwargs": {"net_arch": [32]}})
    data = cfg.to_dict()
    data["ego_config"]["policy_kwargs"]["net_arch"].append(64)
    data["partners"][0]["config"]["x"] = 1
    assert cfg.ego_config == {"policy_kwargs": {"net_arch": [32]}} and cfg.partners[0].config == {}


def test_partner_shorthand_and_self_normalisation():
    cfg = TrainConfig.from_dict({"env": "RPS-v0", "partners": ["PPO", "DEFAULT"]})
    assert [p.type for p in cfg.partners] == ["PPO", "DEFAULT"]
    shared = TrainConfig.from_dict({"env": "RPS-v0", "partners": ["SELF"]})
    assert shared.self_play_shared and shared.partners == [] and shared.partner_labels() == ["self"]
    assert TrainConfig(env="RPS-v0", self_play_shared=True).alt_names() == ["SELF"]


def test_direct_construction_is_checked_too():
    with pytest.raises(ConfigError, match=r"partners\[0\]\.type: unknown partner type 'PP0'"):
        TrainConfig(env="RPS-v0", partners=[PartnerConfig(type="PP0")])
    assert issubclass(ConfigError, UserInputError)


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"env": "LiarDice-v0"}, r"env: unknown environment id 'LiarDice-v0'.*did you mean LiarsDice-v0"),
        ({"env": "./foo/LiarsDice-v0"}, r"env: './foo/LiarsDice-v0' looks like a path.*did you mean LiarsDice-v0"),
        ({"env": 3}, r"env: expected the environment id \(a name\), got int 3"),
        ({"ego": "ppo"}, r"ego: unknown ego type 'ppo'.*did you mean PPO"),
        ({"partners": [{"type": "ModularAlgorithm"}]}, r"partners\[0\]\.type: ModularAlgorithm is an ego algorithm"),
        ({"ego": "ADAP_MULT", "ego_config": {"policy": "AdapPolicy"}},
         r"ego_config\.policy: ADAP_MULT uses the policy"),
        ({"share_latent": True}, r"share_latent: sharing the latent needs an ADAP or ADAP_MULT ego"),
        ({"ego": "LOAD"}, r"ego_config\.location: a LOAD ego fine-tunes a saved agent"),
        ({"ego_config": {"location": "x"}}, r"ego_config\.location: only a LOAD ego loads a saved agent"),
        ({"ego_config": {"policy": "MlpPolicyy"}}, r"ego_config\.policy: unknown PPO policy 'MlpPolicyy'.*did you"),
        ({"ego_config": [1, 2]}, r"ego_config: expected a mapping of options, got list"),
        ({"partners": [{"type": "PPO"}, {"type": "BC"}]}, r"partners\[1\]\.location: a FIXED partner needs"),
        ({"partners": [{"type": "FIXED"}]}, r"partners\[0\]\.location: a FIXED partner needs the saved agent"),
        ({"partners": [{"type": "PPO", "location": "x"}]}, r"partners\[0\]\.location: only FIXED partners"),
        ({"partners": [{"type": "PPO", "cfg": {}}]}, r"partners\[0\]\.cfg: unknown partner key 'cfg'.*did you mean"),
        ({"partners": [{"type": "FIXED", "location": "x", "config": {"n_steps": 3}}]},
         r"partners\[0\]\.config: a FIXED partner takes no option 'n_steps'"),
        ({"partners": []}, r"partners: give at least one partner"),
        ({"partners": "PPO"}, r"partners: expected a list of partners, got str"),
        ({"partners": [{"type": "PPO"}, {"type": "SELF"}]}, r"partners\[1\]\.type: SELF .* cannot be mixed"),
        ({"self_play_shared": True}, r"partners: self_play_shared puts the ego's own model in every seat"),
        ({"n_envs": "eight"}, r"n_envs: expected an integer, got str 'eight'; e\.g\. 8"),
        ({"n_envs": "8"}, r"n_envs: expected an integer, got str '8' \(write 8 without quotes\)"),
        ({"n_envs": 8.0}, r"n_envs: expected an integer, got float 8\.0 \(write 8 without the decimal point\)"),
        ({"n_envs": True}, r"n_envs: expected an integer, got bool True"),
        ({"n_envs": 0}, r"n_envs: 0 is out of range: it must be between 1 and 256"),
        ({"n_envs": 10_000}, r"n_envs: 10000 is out of range: it must be between 1 and 256"),
        ({"total_timesteps": 0}, r"total_timesteps: 0 is out of range: it must be >= 1"),
        ({"total_timesteps": -5}, r"total_timesteps: -5 is out of range"),
        ({"seed": -1}, r"seed: -1 is out of range"),
        ({"seed": "0"}, r"seed: expected an integer or null, got str '0'"),
        ({"device": "gpu"}, r"device: unknown device 'gpu'; choose one of: auto, cpu, cuda, cuda:N"),
        ({"sampling": "prioritized"}, r"sampling: unknown partner sampling 'prioritized'.*did you mean prioritised"),
        ({"framestack": 0}, r"framestack: 0 is out of range"),
        ({"checkpoint_every": -1}, r"checkpoint_every: -1 is out of range: it must be >= 0"),
        ({"eval_episodes": -1}, r"eval_episodes: -1 is out of range"),
        ({"num_threads": 0}, r"num_threads: 0 is out of range"),
        ({"player": 0}, r"player: 0 is out of range"),
        ({"verbose": 3}, r"verbose: 3 is out of range: it must be between 0 and 2"),
        ({"progress": "yes"}, r"progress: expected true or false, got str 'yes'"),
        ({"progress": 1}, r"progress: expected true or false, got int 1"),
        ({"run_dir": ""}, r"run_dir: expected a non-empty string or null"),
        ({"steps": 5}, r"steps: unknown config key 'steps'"),
    ],
)
def test_each_bad_value_names_the_field_the_value_and_what_is_allowed(changes, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        _cfg(**changes)
    assert getattr(info.value, "field", None) == pattern.split(":")[0].replace("\\", "")


def test_missing_env_and_non_mapping():
    with pytest.raises(ConfigError, match="env: the key env is missing"):
        TrainConfig.from_dict({"ego": "PPO", "partners": ["PPO"]})
    with pytest.raises(ConfigError, match=r"must be a mapping .* got list"):
        TrainConfig.from_dict([1, 2])


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"no config file at '.*nope\.yaml'"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_config(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: LiarsDice-v0\npartners:\n  - type: PPO\n   config: {}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: bad YAML syntax at line 4, column 4"):
        load_config(bad)
    bad.write_text("env: [LiarsDice-v0\n")
    with pytest.raises(ConfigError, match=r"bad YAML syntax at line 2, column 1"):
        load_config(bad)
    bad.write_text("")
    with pytest.raises(ConfigError, match=r"must be a mapping .* got an empty file"):
        load_config(bad)
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)
    bad.write_text("env: LiarsDice-v0\npartners: [PPO]\nn_envs: eight\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: n_envs: expected an integer, got str 'eight'"):
        load_config(bad)
    bad.write_text("env: LiarsDice-v0\negoo: PPO\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown config key 'egoo'.*did you mean ego\?"):
        read_config_data(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"env": "LiarsDice-v0",\n "partners": [}')
    with pytest.raises(ConfigError, match=r"bad\.json: bad JSON at line 2, column 15"):
        load_config(bad_json)


def test_yaml_is_read_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("env: !!python/object/apply:os.system ['echo hacked']\npartners: [PPO]\n")
    with pytest.raises(ConfigError, match="bad YAML syntax"):
        load_config(evil)


def test_json_configs_are_accepted(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"env": "RPS-v0", "partners": [{"type": "DEFAULT", "config": {"r": 1}}]}))
    cfg = load_config(path)
    assert cfg.env == "RPS-v0" and cfg.partners[0].config == {"r": 1}


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_example_configs_load(path):
    cfg = load_config(path)
    assert cfg.total_timesteps >= 10_000 and cfg.seed == 0
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
