"""Training interactions: ad-hoc pools, sampling, per-partner metrics, fine-tuning, populations, best response."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.logger import configure

import pantheonrl  # noqa: F401
from pantheonrl.artifacts import ArtifactError, read_artifact
from pantheonrl.envs import RPSWeightedAgent
from pantheonrl.errors import ConfigError
from pantheonrl.training import (
    FrozenPartner,
    LearningPartner,
    PartnerMetricsCallback,
    PrioritisedSampler,
    ScriptedPartner,
    best_response,
    finetune,
    self_play,
    train,
    train_population,
)
from pantheonrl.vec import MultiAgentVecEnv

SMALL = {"n_steps": 32, "batch_size": 64, "policy_kwargs": {"net_arch": [16]}}


def weights(model):
    return {k: v.clone() for k, v in model.policy.state_dict().items()}


def changed(before, model) -> bool:
    return any(not th.equal(before[k], v) for k, v in model.policy.state_dict().items())


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    result = self_play("LiarsDice-v0", "PPO", total_timesteps=512, n_envs=4, seed=0, kwargs=SMALL)
    saved = result.save(folder, env_id="LiarsDice-v0", seed=0, config={"note": "fixture"})
    return folder, saved, result


def test_separate_weight_self_play_saves_ego_and_partner(saved_run):
    folder, saved, result = saved_run
    assert set(saved) == {"ego", "PPO-p1"}
    ego_meta = read_artifact(folder / "ego").metadata
    assert ego_meta["env_id"] == "LiarsDice-v0" and ego_meta["partners_seen"] == ["PPO-p1"]
    assert result.ego.num_timesteps == 512
    assert result.partners[0].model.num_timesteps > 0


def test_a_fine_tuned_agent_loads_from_its_artefact_and_keeps_training(saved_run):
    folder, _, _ = saved_run
    policy_before = read_artifact(folder / "ego").load_policy()
    result = finetune("LiarsDice-v0", folder / "ego", [ScriptedPartner("LiarsDice-v0")], total_timesteps=256, n_envs=2)
    assert result.ego.num_timesteps == 512 + 256  # it continued counting
    after = result.ego.policy.state_dict()
    assert any(not th.equal(v, after[k]) for k, v in policy_before.state_dict().items())
    assert result.partner_labels == ["DEFAULT-p1"]


def test_a_tampered_artefact_is_refused_as_ego_and_as_partner(saved_run, tmp_path):
    import shutil

    folder, _, _ = saved_run
    copy = tmp_path / "tampered"
    shutil.copytree(folder / "ego", copy)
    data = bytearray((copy / "policy.pt").read_bytes())
    data[-10] ^= 0xFF
    (copy / "policy.pt").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"policy\.pt"):
        train("LiarsDice-v0", "PPO", [FrozenPartner(copy)], total_timesteps=64)
    with pytest.raises((ArtifactError, ConfigError), match=r"policy\.pt"):
        finetune("LiarsDice-v0", copy, [ScriptedPartner("LiarsDice-v0")], total_timesteps=64)


def test_best_response_to_a_population_with_prioritised_sampling(saved_run):
    folder, _, _ = saved_run
    result = best_response(
        "LiarsDice-v0",
        [folder / "ego", folder / "PPO-p1"],
        total_timesteps=640,
        n_envs=4,
        sampling="prioritised",
        ego_kwargs=SMALL,
        seed=1,
    )
    assert set(result.metrics) == {"seat0_0", "seat0_1"}
    assert all(m["episodes"] > 10 for m in result.metrics.values())


def test_prioritised_sampler_prefers_the_partner_the_ego_does_worst_with():
    sampler = PrioritisedSampler(temperature=0.5)

    class Env:
        partners = [["a", "b", "c"]]
        np_random = np.random.default_rng(0)

    # untried partners come first
    assert {sampler(Env)[0] for _ in range(30)} == {0, 1, 2}
    for _ in range(20):
        sampler.record([0], 1.0)
        sampler.record([1], -1.0)
        sampler.record([2], 0.0)
    probs = sampler.probabilities(0, 3)
    assert probs[1] > probs[2] > probs[0]
    picks = np.bincount([sampler(Env)[0] for _ in range(2000)], minlength=3) / 2000
    np.testing.assert_allclose(picks, probs, atol=0.04)
    with pytest.raises(ConfigError, match="temperature"):
        PrioritisedSampler(temperature=0)


def test_partner_metrics_are_logged_per_partner(tmp_path):
    venv = MultiAgentVecEnv(lambda: __import__("gymnasium").make("RPS-v0"), n_envs=4)
    venv.add_partner_agent(lambda: RPSWeightedAgent(1, 0, 0, np_random=1))  # always rock
    venv.add_partner_agent(lambda: RPSWeightedAgent(0, 1, 0, np_random=2))  # always paper
    model = PPO("MlpPolicy", venv, seed=0, **SMALL)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    callback = PartnerMetricsCallback()
    model.learn(512, callback=callback)
    with open(tmp_path / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert "partners/seat0_0/ep_rew_mean" in rows[-1] and "partners/seat0_1/ep_rew_mean" in rows[-1]
    summary = callback.summary()
    assert summary["seat0_0"]["episodes"] + summary["seat0_1"]["episodes"] == 512  # RPS episodes last one step


def test_a_population_of_seeds_differs_and_shares_weights_within_each():
    population = train_population("RPS-v0", 2, total_timesteps=256, n_envs=2, kwargs=SMALL)
    assert len(population) == 2
    a, b = (p.ego.policy.state_dict() for p in population)
    assert any(not th.equal(a[k], b[k]) for k in a)
    assert all(p.partner_labels == ["self"] for p in population)


def test_learning_partner_spec_gets_its_own_algorithm_settings():
    result = train(
        "RPS-v0",
        "A2C",
        [LearningPartner("PPO", dict(SMALL)), ScriptedPartner("RPS-v0", {"r": 1, "p": 0, "s": 0})],
        total_timesteps=256,
        n_envs=2,
        ego_kwargs={"n_steps": 8},
        seed=0,
    )
    assert type(result.ego).__name__ == "A2C"
    assert result.partners[0].model.n_envs == 2
    assert result.partner_labels == ["PPO-p1", "DEFAULT-p1"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: train("LiarsDice-v0", "PPO", [], total_timesteps=10), "at least one partner"),
        (lambda: train("LiarsDice-v0", "PPO", [LearningPartner()], total_timesteps=0), "total_timesteps"),
        (lambda: train("LiarsDice", "PPO", [LearningPartner()], total_timesteps=10), "LiarsDice-v0"),
        (lambda: train("LiarsDice-v0", "PPOO", [LearningPartner()], total_timesteps=10), "PPO"),
        (lambda: train("LiarsDice-v0", "PPO", [LearningPartner("XYZ")], total_timesteps=10), "XYZ"),
        (lambda: train("RPS-v0", "PPO", [LearningPartner()], total_timesteps=10, sampling="best"), "prioritised"),
        (lambda: train("RPS-v0", "PPO", ["PPO"], total_timesteps=10), "LearningPartner"),
        (lambda: train_population("RPS-v0", 0, total_timesteps=10), "population size"),
        (lambda: best_response("RPS-v0", [], total_timesteps=10), "population is empty"),
    ],
)
def test_bad_interaction_input_names_the_value_and_the_fix(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_two_partners_of_the_same_kind_get_distinct_labels_and_artefacts(tmp_path):
    result = train("RPS-v0", "PPO", [LearningPartner("PPO", dict(SMALL)), LearningPartner("PPO", dict(SMALL))],
                   total_timesteps=128, n_envs=2, ego_kwargs=SMALL)
    assert result.partner_labels == ["PPO-p1", "PPO-p1-1"]
    saved = result.save(tmp_path / "run", env_id="RPS-v0")
    assert set(saved) == {"ego", "PPO-p1", "PPO-p1-1"}


def test_a_loaded_learning_partner_can_continue_its_timestep_count():
    from pantheonrl import OnPolicyAgent

    venv = MultiAgentVecEnv(lambda: __import__("gymnasium").make("RPS-v0"), n_envs=2)
    model = PPO("MlpPolicy", venv.get_dummy_env(1), seed=0, **SMALL)
    model.num_timesteps = 1000  # as if loaded from a checkpoint
    venv.add_partner_agent(OnPolicyAgent(model, reset_num_timesteps=False, working_timesteps=500))
    PPO("MlpPolicy", venv, seed=0, **SMALL).learn(128)
    assert model.num_timesteps == 1000 + 128
