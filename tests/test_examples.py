"""The original PantheonRL's core examples, run through our API unchanged (compat 7.1), and our examples."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import gymnasium as gym
import pytest
from stable_baselines3 import A2C, DQN, PPO

import pantheonrl  # noqa: F401
from pantheonrl.common.agents import OffPolicyAgent, OnPolicyAgent, RecordingAgentWrapper, StaticPolicyAgent
from pantheonrl.common.multiagentenv import KillEnvException
from pantheonrl.envs.rpsgym.rps import RPSWeightedAgent

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = ["RPS-v0", "LiarsDice-v0", "BlockEnv-v0", "BlockEnv-v1"]


@pytest.mark.parametrize("env_id", BUILTIN)
@pytest.mark.parametrize("algo", [PPO, A2C])
def test_learning_ego_with_a_learning_partner(env_id, algo):
    env = gym.make(env_id)
    partner = OnPolicyAgent(
        algo("MlpPolicy", env.unwrapped.get_dummy_env(1), n_steps=200), working_timesteps=1000
    )
    env.unwrapped.add_partner_agent(partner)
    ego = algo("MlpPolicy", env, n_steps=200)
    ego.learn(total_timesteps=1000)
    assert ego.num_timesteps == 1000
    # the partner trained without an extra env.step after learn()
    assert partner.model.num_timesteps >= 200 and partner.model._n_updates > 0


def test_dqn_ego_with_a_dqn_partner():
    env = gym.make("RPS-v0")
    partner = OffPolicyAgent(
        DQN("MlpPolicy", env.get_dummy_env(1), learning_starts=100), working_timesteps=1000
    )
    env.add_partner_agent(partner)
    ego = DQN("MlpPolicy", env, learning_starts=100)
    ego.learn(total_timesteps=1000)
    assert partner.model.num_timesteps == 1000 and partner.model._n_updates > 0


def test_recording_partner_and_static_partner_from_its_policy():
    env = gym.make("LiarsDice-v0")
    learner = OnPolicyAgent(PPO("MlpPolicy", env.get_dummy_env(1), n_steps=100))
    recorder = RecordingAgentWrapper(learner)
    env.add_partner_agent(recorder)
    ego = PPO("MlpPolicy", env, n_steps=100)
    ego.learn(total_timesteps=500)
    data = recorder.get_transitions()
    assert len(data) > 100 and data.obs.shape[1] == 30 and data.acts.shape[1] == 2

    env2 = gym.make("LiarsDice-v0")
    env2.add_partner_agent(StaticPolicyAgent(learner.model.policy))
    ego2 = PPO("MlpPolicy", env2, n_steps=100)
    ego2.learn(total_timesteps=200)
    assert ego2.num_timesteps == 200


def test_rps_weighted_default_partner():
    env = gym.make("RPS-v0")
    env.add_partner_agent(RPSWeightedAgent(r=0, p=0, s=1))  # always scissors
    ego = PPO("MlpPolicy", env, n_steps=256, batch_size=64, seed=0)
    ego.learn(total_timesteps=4096)
    obs, _ = env.reset(seed=0)
    wins = 0
    for _ in range(100):
        action, _ = ego.predict(obs, deterministic=True)
        obs, reward, *_ = env.step(action)
        wins += reward == 1
        env.reset()
    assert wins >= 90  # rock beats scissors: the ego learns the best response


def test_threaded_sb3_partner():
    env = gym.make("RPS-v0")
    dummy_env = env.construct_single_agent_interface(1)
    partner = PPO("MlpPolicy", dummy_env, n_steps=64)

    def run():
        with contextlib.suppress(KillEnvException):
            partner.learn(total_timesteps=10**9)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ego = PPO("MlpPolicy", env, n_steps=64)
    ego.learn(total_timesteps=512)
    with dummy_env.obs_cv:  # the original's shutdown protocol
        dummy_env.dead = True
        dummy_env.obs_cv.notify_all()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert partner.num_timesteps >= 448


def test_quickstart_example_runs(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--timesteps", "1024", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "ego.zip").exists() and (out / "partner.zip").exists()
    assert (out / "ego" / "progress.csv").read_text().count("\n") >= 2
    assert list((out / "ego").glob("events.out.tfevents.*"))
    assert "ego return vs the scripted partner" in proc.stdout


def test_comedi_overcooked_example_quick(tmp_path):
    out = tmp_path / "oc"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "comedi_overcooked.py"), "--quick", "--out",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("crossplay.png", "crossplay.csv", "crossplay.json", "comedi.json", "summary.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["crossplay"]) == 2 and len(summary["agents"]) == 2
    assert [len(h) for h in json.loads((out / "comedi.json").read_text())["histories"]] == [8, 8]
    again = subprocess.run([sys.executable, str(ROOT / "examples" / "comedi_overcooked.py"), "--quick", "--out",
                            str(out)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "not empty" in again.stderr  # nothing is overwritten
