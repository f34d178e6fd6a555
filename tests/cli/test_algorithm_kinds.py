"""ADAP, ADAP_MULT and ModularAlgorithm through ``pantheonrl train`` / ``eval`` and the run config."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th

from pantheonrl.algos.adap import ADAP, AdapAgent, AdapPolicy, AdapPolicyMult
from pantheonrl.algos.modular import ModularAlgorithm
from pantheonrl.artifacts import load_agent, read_artifact
from pantheonrl.cli import main
from pantheonrl.cli._runner import Session
from pantheonrl.config import TrainConfig
from tests.cli.conftest import run_cli

TINY = '{"n_steps": 32, "batch_size": 32}'


@pytest.fixture(scope="module")
def modular_run(tmp_path_factory):
    """Arms-v0: a ModularAlgorithm ego with two learning PPO partners on 2 copies."""
    run = tmp_path_factory.mktemp("modular") / "run"
    code = main(["train", "Arms-v0", "ModularAlgorithm", "PPO", "PPO", "--n-envs", "2", "-t", "256", "--seed", "0",
                 "--ego-config", '{"n_steps": 32, "batch_size": 32, "marginal_reg_coef": 0.5}',
                 "--alt-config", TINY, TINY, "--eval-episodes", "5", "--verbose", "0", "--run-dir", str(run)])
    assert code == 0
    return run


@pytest.fixture(scope="module")
def adap_run(tmp_path_factory):
    """RPS-v0: an ADAP ego with a learning ADAP_MULT partner that shares its latent (-l)."""
    run = tmp_path_factory.mktemp("adap") / "run"
    code = main(["train", "RPS-v0", "ADAP", "ADAP_MULT", "-l", "-t", "128", "--seed", "0", "--ego-config", TINY,
                 "--alt-config", TINY, "--eval-episodes", "5", "--verbose", "0", "--run-dir", str(run)])
    assert code == 0
    return run


def test_modular_ego_gets_one_module_per_partner_and_plays_each_with_its_module(modular_run):
    artifact = read_artifact(modular_run / "agents" / "ego")
    assert artifact.algorithm == "ModularAlgorithm"
    model = load_agent(modular_run / "agents" / "ego")
    assert isinstance(model, ModularAlgorithm) and model.num_partners == 2
    assert model.marginal_reg_coef == 0.5
    summary = json.loads((modular_run / "summary.json").read_text())
    assert summary["num_timesteps"] >= 256
    assert all(n > 0 for n in summary["partner_timesteps"].values())  # both partners were played with
    results = json.loads((modular_run / "eval.json").read_text())["results"]
    assert {label: r["partner_module"] for label, r in results.items()} == {"alt0-PPO": 0, "alt1-PPO": 1}


def test_load_modular_keeps_the_task_module_and_gets_fresh_partner_modules(modular_run, tmp_path):
    saved = load_agent(modular_run / "agents" / "ego")
    cfg = TrainConfig(env="Arms-v0", ego="LOAD", ego_config={"location": str(modular_run / "agents" / "ego")},
                      partners=[{"type": "PPO", "config": {"n_steps": 32, "batch_size": 32}}] * 3,
                      total_timesteps=64, seed=1, verbose=0)
    model = Session(cfg).build().ego
    assert model.num_partners == 3  # grown to one module per partner
    old = dict(saved.policy.named_parameters())
    new = dict(model.policy.named_parameters())
    main_names = [n for n in old if not n.startswith("partner")]
    partner_names = [n for n in old if n.startswith("partner")]
    assert main_names and partner_names
    for name in main_names:
        assert th.equal(old[name], new[name]), name
    assert any(not th.equal(old[n], new[n]) for n in partner_names)  # re-initialised


def test_share_latent_partner_follows_the_egos_latent(adap_run):
    data = _config(adap_run)
    data["partners"][0]["config"]["n_steps"] = 128  # the partner's buffer keeps all 64 steps below
    cfg = TrainConfig.from_dict({**data, "run_dir": None})
    assert cfg.share_latent and cfg.ego_config["context_size"] == 3  # the original's -l defaults, recorded
    assert cfg.partners[0].config["context_sampler"] == "l2"
    session = Session(cfg).build()
    partner = session.partners[0]
    assert isinstance(partner, AdapAgent) and isinstance(partner.model.policy, AdapPolicyMult)
    ego = session.ego
    assert isinstance(ego, ADAP) and type(ego.policy) is AdapPolicy
    for _ in range(3):
        np.testing.assert_array_equal(partner.latent_for(0), ego.latents[0])
        ego.resample_latent(0)
    ego.learn(64)  # RPS: one step per episode, so row t of both buffers is episode t, played with one latent
    ego_z = ego.rollout_buffer.observations.reshape(32, -1)[:, -3:]  # steps 32..63 (flattened by training)
    partner_z = partner.model.rollout_buffer.observations[32:64, 0, -3:]
    assert len(np.unique(ego_z, axis=0)) == 32  # a fresh latent each episode
    np.testing.assert_array_equal(ego_z, partner_z)
    assert read_artifact(adap_run / "agents" / "alt0-ADAP_MULT").algorithm == "ADAP"
    # the learning partner learned (a seated learning agent is asked through get_action, not frozen get_actions)
    assert json.loads((adap_run / "summary.json").read_text())["partner_timesteps"] == {"alt0-ADAP_MULT": 128}


def _config(run):
    import yaml

    return yaml.safe_load((run / "config.yml").read_text())


def test_adap_self_play_over_copies_plays_the_egos_weights_with_per_copy_latents(tmp_path):
    cfg = TrainConfig(env="KArmCoordination-v0", ego="ADAP", partners=[{"type": "SELF"}], n_envs=4,
                      ego_config={"n_steps": 32, "batch_size": 64}, total_timesteps=128, seed=0, verbose=0)
    session = Session(cfg).build()
    ego = session.ego
    views = [env.partners[0][0] for env in session.venv.envs]
    assert [v.column for v in views] == [0, 1, 2, 3] and all(v.batch_owner.model is ego for v in views)
    for c, view in enumerate(views):
        np.testing.assert_array_equal(view.batch_owner.latent_for(c), ego.latents[c])
    code = main(["train", "KArmCoordination-v0", "ADAP", "SELF", "--n-envs", "4", "-t", "256", "--seed", "0",
                 "--ego-config", '{"n_steps": 32, "batch_size": 64}', "--eval-episodes", "5", "--verbose", "0",
                 "--run-dir", str(tmp_path / "run")])
    assert code == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["num_timesteps"] == 256
    assert set(json.loads((tmp_path / "run" / "eval.json").read_text())["results"]) == {"self"}


def test_fixed_adap_partner_plays_the_given_latent_and_eval_takes_latent_and_module(adap_run, modular_run, tmp_path):
    cfg = TrainConfig(env="RPS-v0", ego="PPO", total_timesteps=64, verbose=0, partners=[
        {"type": "FIXED", "location": str(adap_run / "agents" / "ego"), "config": {"latent_val": [0, 0.5, -1]}}])
    partner = Session(cfg).build().partners[0]
    np.testing.assert_allclose(partner.policy.get_context().numpy(), [[0, 0.5, -1]])

    out = run_cli(["eval", "RPS-v0", "ADAP", "ADAP_MULT", "--ego-load", str(adap_run / "agents" / "ego"),
                   "--alt-load", str(adap_run / "agents" / "alt0-ADAP_MULT"), "--ego-config",
                   '{"latent_val": [0, 0, 1]}', "-t", "10", "--json", str(tmp_path / "adap.json")], tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "adap.json").read_text())["episodes"] == 10
    out = run_cli(["eval", "Arms-v0", "ModularAlgorithm", "PPO", "--ego-load", str(modular_run / "agents" / "ego"),
                   "--alt-load", str(modular_run / "agents" / "alt1-PPO"), "--ego-config", '{"partner_idx": 1}',
                   "-t", "10"], tmp_path)
    assert out.returncode == 0, out.stderr
    out = run_cli(["eval", "Arms-v0", "ModularAlgorithm", "PPO", "--ego-load", str(modular_run / "agents" / "ego"),
                   "--alt-load", str(modular_run / "agents" / "alt1-PPO"), "--ego-config", '{"partner_idx": 2}'],
                  tmp_path)
    assert out.returncode == 2 and "partner_idx 2 is out of range" in out.stderr and "0..1" in out.stderr
    assert "Traceback" not in out.stderr
    out = run_cli(["train", "RPS-v0", "PPO", "FIXED", "--alt-config",
                   json.dumps({"location": str(adap_run / "agents" / "ego"), "latent_val": [1, 0]})], tmp_path)
    assert out.returncode == 2 and "list of 3 finite number(s)" in out.stderr and "[1, 0]" in out.stderr


def test_list_shows_the_algorithm_kinds(tmp_path):
    out = run_cli(["list", "algorithms", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    names = {a["name"]: a for a in json.loads(out.stdout)["algorithms"]}
    assert {"ADAP", "ADAP_MULT", "ModularAlgorithm"} <= set(names)
    assert names["ADAP_MULT"]["policies"] == ["AdapPolicyMult"]
    out = run_cli(["list", "envs"], tmp_path)
    assert "Arms-v0" in out.stdout and "KArmCoordination-v0" in out.stdout
