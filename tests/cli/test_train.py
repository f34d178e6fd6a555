"""``pantheonrl train``: run folders, artefacts, YAML configs, checkpoints, resume, shared weights, partner kinds."""

from __future__ import annotations

import csv
import json

import numpy as np
import yaml

from pantheonrl.artifacts import load_policy, read_artifact
from pantheonrl.cli import main
from pantheonrl.config import load_config
from tests.cli.conftest import ROOT, SMALL, copy_run, run_cli

EXAMPLE = ROOT / "examples" / "configs" / "liars_dice_ppo.yaml"


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_train_liars_dice_writes_a_complete_run_folder(liar_run):
    for name in ("config.yml", "args.yml", "command.txt", "progress.csv", "summary.json", "eval.json"):
        assert (liar_run / name).is_file(), name
    cfg = load_config(liar_run / "config.yml")
    assert (cfg.env, cfg.ego, cfg.n_envs, cfg.total_timesteps, cfg.seed) == ("LiarsDice-v0", "PPO", 8, 2048, 0)
    assert [p.type for p in cfg.partners] == ["PPO"] and cfg.partners[0].config == {"n_steps": 64, "batch_size": 64}
    assert cfg.run_dir == str(liar_run)
    assert "pantheonrl train LiarsDice-v0 PPO PPO --n-envs 8" in (liar_run / "command.txt").read_text()
    assert yaml.safe_load((liar_run / "args.yml").read_text())["n_envs"] == 8

    rows = _rows(liar_run / "progress.csv")
    assert len(rows) == 2048 // (64 * 8)  # one row per ego rollout
    assert int(rows[-1]["time/total_timesteps"]) == 2048
    assert "rollout/ep_rew_mean" in rows[0] and "partners/seat0_0/ep_rew_mean" in rows[0]
    assert _rows(liar_run / "partners" / "alt0-PPO" / "progress.csv")  # the learning partner logs too
    assert list((liar_run / "tb" / "ego").glob("events.out.tfevents.*"))

    summary = json.loads((liar_run / "summary.json").read_text())
    assert summary["num_timesteps"] == 2048 and summary["partner_timesteps"]["alt0-PPO"] > 1500

    report = json.loads((liar_run / "eval.json").read_text())
    assert set(report["results"]) == {"alt0-PPO", "DEFAULT"}
    for result in report["results"].values():
        assert result["episodes"] == 10 and -1.0 <= result["mean"] <= 1.0 and result["std"] >= 0


def test_trained_agents_load_weights_only_and_act(liar_run):
    import gymnasium as gym

    env = gym.make("LiarsDice-v0")
    env.observation_space.seed(0)
    obs = env.observation_space.sample()
    for name in ("ego", "alt0-PPO"):
        artifact = read_artifact(liar_run / "agents" / name)
        assert artifact.env_id == "LiarsDice-v0" and artifact.algorithm == "PPO"
        assert artifact.metadata["config"]["n_envs"] == 8
        policy = load_policy(liar_run / "agents" / name)
        action, _ = policy.predict(obs)
        assert env.action_space.contains(np.asarray(action))
    assert read_artifact(liar_run / "agents" / "ego").metadata["partners_seen"] == ["alt0-PPO"]


def test_checkpoints_are_complete_and_hashed(liar_run):
    ckpts = sorted(p.name for p in (liar_run / "checkpoints").iterdir())
    assert ckpts == ["ckpt-1024", "ckpt-2048"]
    manifest = json.loads((liar_run / "checkpoints" / "ckpt-1024" / "manifest.json").read_text())
    assert manifest["num_timesteps"] == 1024 and set(manifest["agents"]) == {"ego", "alt0-PPO"}
    ego = read_artifact(liar_run / "checkpoints" / "ckpt-1024" / "ego")
    assert ego.sha256 == manifest["agents"]["ego"]["sha256"]
    assert not list((liar_run / "checkpoints").glob(".*"))  # no temporary folders left behind


def test_resume_continues_counting_from_the_last_checkpoint(liar_run, tmp_path):
    run = copy_run(liar_run, tmp_path / "run")
    before = json.loads((run / "summary.json").read_text())
    rows_before = _rows(run / "progress.csv")
    assert main(["train", "--resume", str(run), "-t", "3072", "--no-eval"]) == 0
    after = json.loads((run / "summary.json").read_text())
    assert after["num_timesteps"] == 3072 > before["num_timesteps"]
    assert after["trained_timesteps"] == 1024 and after["resumed_from"].endswith("ckpt-2048")
    assert after["partner_timesteps"]["alt0-PPO"] > before["partner_timesteps"]["alt0-PPO"]
    rows = _rows(run / "progress.csv")
    assert rows[: len(rows_before)] == rows_before and int(rows[-1]["time/total_timesteps"]) == 3072
    assert load_config(run / "config.yml").total_timesteps == 3072
    assert (run / "checkpoints" / "ckpt-3072").is_dir()


def test_resume_skips_a_damaged_checkpoint(liar_run, tmp_path, capsys):
    run = copy_run(liar_run, tmp_path / "run")
    with open(run / "checkpoints" / "ckpt-2048" / "ego" / "policy.pt", "ab") as f:
        f.write(b"tampered")
    assert main(["train", "--resume", str(run), "-t", "2560", "--no-eval"]) == 0
    captured = capsys.readouterr()
    assert "skipping damaged checkpoint ckpt-2048" in captured.err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from"].endswith("ckpt-1024") and summary["num_timesteps"] == 2560


def test_yaml_config_resolves_like_the_flags(tmp_path, capsys):
    flags = ["train", "LiarsDice-v0", "PPO", "PPO", "--n-envs", "8", "-t", "2048", "--seed", "0",
             "--ego-config", '{"n_steps": 256, "batch_size": 256}',
             "--alt-config", '{"n_steps": 256, "batch_size": 256}',
             "--checkpoint-every", "50000", "--dry-run"]
    assert main(flags) == 0
    from_flags = yaml.safe_load(capsys.readouterr().out)
    assert main(["train", "--config", str(EXAMPLE), "-t", "2048", "--dry-run"]) == 0
    from_yaml = yaml.safe_load(capsys.readouterr().out)
    assert from_yaml == from_flags
    assert from_yaml["total_timesteps"] == 2048  # the flag overrides the file's 200000

    run = tmp_path / "yaml-run"
    assert main(["train", "--config", str(EXAMPLE), "-t", "2048", "--no-eval", "--verbose", "0",
                 "--run-dir", str(run)]) == 0
    written = load_config(run / "config.yml").to_dict()
    assert written == {**from_flags, "run_dir": str(run), "eval_episodes": 0, "verbose": 0}
    assert json.loads((run / "summary.json").read_text())["num_timesteps"] == 2048


def test_console_script_trains_in_a_subprocess(tmp_path):
    result = run_cli(["train", "LiarsDice-v0", "PPO", "PPO", "--n-envs", "8", "-t", "2048", "--ego-config", SMALL,
                      "--alt-config", SMALL, "--eval-episodes", "5", "--verbose", "0", "--log-folder", "myruns"],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runs = list((tmp_path / "myruns").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("LiarsDice-v0-PPO-PPO-")
    assert json.loads((runs[0] / "summary.json").read_text())["num_timesteps"] == 2048
    assert load_policy(runs[0] / "agents" / "ego") is not None
    assert "ego vs alt0-PPO" in result.stdout and "Traceback" not in result.stderr


def test_shared_weight_self_play_on_rps(rps_run):
    cfg = load_config(rps_run / "config.yml")
    assert cfg.self_play_shared and cfg.partners == []
    assert sorted(p.name for p in (rps_run / "agents").iterdir()) == ["ego"]
    summary = json.loads((rps_run / "summary.json").read_text())
    assert summary["num_timesteps"] >= 512 and summary["partner_timesteps"] == {}
    assert set(json.loads((rps_run / "eval.json").read_text())["results"]) == {"self", "DEFAULT"}
    assert _rows(rps_run / "progress.csv")


def test_default_and_fixed_partners_in_a_pool(rps_agents, tmp_path):
    run = tmp_path / "run"
    code = main(["train", "RPS-v0", "PPO", "DEFAULT", "FIXED", "--alt-config", '{"r": 1, "p": 0, "s": 0}',
                 '{"location": "rps-1", "deterministic": true}', "--agents-dir", str(rps_agents), "--n-envs", "2",
                 "-t", "512", "--ego-config", SMALL, "--sampling", "random", "--eval-episodes", "5", "--verbose", "0",
                 "--run-dir", str(run)])
    assert code == 0
    cfg = load_config(run / "config.yml")
    assert [(p.type, p.location, p.deterministic, p.config) for p in cfg.partners] == [
        ("DEFAULT", None, False, {"r": 1, "p": 0, "s": 0}), ("FIXED", "rps-1", True, {})]
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["partner_metrics"]) == {"seat0_0", "seat0_1"}  # both partners were played
    assert sorted(p.name for p in (run / "agents").iterdir()) == ["ego"]  # frozen/scripted partners are not saved
    results = json.loads((run / "eval.json").read_text())["results"]
    assert set(results) == {"alt0-DEFAULT", "alt1-FIXED"}


def test_load_ego_fine_tunes_a_saved_agent(rps_run, tmp_path):
    saved = read_artifact(rps_run / "agents" / "ego")
    start = json.loads((rps_run / "summary.json").read_text())["num_timesteps"]
    run = tmp_path / "run"
    code = main(["train", "RPS-v0", "LOAD", "DEFAULT", "--ego-config", json.dumps({"location": str(saved.path)}),
                 "-t", "256", "--no-eval", "--verbose", "0", "--run-dir", str(run)])
    assert code == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["num_timesteps"] >= start + 256  # kept counting from the saved agent
    before = load_policy(saved.path).state_dict()
    after = load_policy(run / "agents" / "ego").state_dict()
    assert any(not np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)


def test_framestack_record_and_preset(tmp_path, monkeypatch):
    import gymnasium as gym

    monkeypatch.chdir(tmp_path)
    code = main(["train", "LiarsDice-v0", "PPO", "DEFAULT", "-f", "2", "-r", "rec/liar.npy", "--preset", "1",
                 "--seed", "3", "-t", "256", "--ego-config", SMALL, "--eval-episodes", "5", "--verbose", "0",
                 "--run-dir", "run"])
    assert code == 0
    assert (tmp_path / "models" / "LiarsDice-v0-PPO-ego-3.zip").is_file()
    assert list((tmp_path / "logs").glob("LiarsDice-v0-PPODEFAULT-3_*"))
    assert not (tmp_path / "models" / "LiarsDice-v0-DEFAULT-alt-3.zip").exists()  # nothing learns in seat 1
    from pantheonrl.common.trajsaver import TurnBasedTransitions
    from pantheonrl.common.wrappers import frame_wrap

    stacked = frame_wrap(gym.make("LiarsDice-v0"), 2)
    data = TurnBasedTransitions.read_transition(tmp_path / "rec" / "liar.npy", stacked.observation_space,
                                                stacked.action_space)
    assert len(data.obs) >= 256 and data.obs.shape[1] == 60
    artifact = read_artifact(tmp_path / "run" / "agents" / "ego")
    assert artifact.observation_space.shape == (60,)  # two frames of 30
    assert artifact.metadata["config"]["framestack"] == 2


def test_stop_file_stops_cooperatively_and_checkpoints(tmp_path):
    import subprocess
    import time

    from tests.cli.conftest import console_script

    run = tmp_path / "run"
    proc = subprocess.Popen([*console_script(), "train", "RPS-v0", "PPO", "PPO", "-t", "1000000", "--ego-config",
                             SMALL, "--alt-config", SMALL, "--no-eval", "--verbose", "0", "--run-dir", str(run)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (run / "progress.csv").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        (run / "STOP").write_text("")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped"] == "STOP file" and summary["num_timesteps"] < 1_000_000
    assert (run / "checkpoints" / f"ckpt-{summary['num_timesteps']}" / "manifest.json").is_file()
    assert "stopped early" in out


def test_a_folder_holding_only_a_config_can_be_the_run_folder(tmp_path):
    """A job folder prepared with its config.yml (the web layer's layout) is accepted as the run folder."""
    run = tmp_path / "job"
    run.mkdir()
    (run / "config.yml").write_text(
        f"env: RPS-v0\nego: PPO\npartners: [DEFAULT]\ntotal_timesteps: 128\nego_config: {SMALL}\n"
        f"eval_episodes: 0\nverbose: 0\nrun_dir: {run}\n"
    )
    assert main(["train", "--config", str(run / "config.yml")]) == 0
    assert load_config(run / "config.yml").total_timesteps == 128
    assert (run / "agents" / "ego").is_dir() and not (run / "eval.json").exists()


def test_resume_a_finished_shared_run_from_its_saved_agents(rps_run, tmp_path):
    run = copy_run(rps_run, tmp_path / "run")
    start = json.loads((run / "summary.json").read_text())["num_timesteps"]
    assert not (run / "checkpoints").exists()  # no checkpoints: the final agents/ are the restart point
    assert main(["train", "--resume", str(run), "-t", str(start + 256), "--no-eval", "--verbose", "0"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["num_timesteps"] >= start + 256 and summary["resumed_from"].endswith("agents")
    assert (run / "command.txt").read_text().splitlines()[-1].startswith(f"pantheonrl train --resume {run}")


def test_an_off_policy_replay_buffer_is_checkpointed_and_restored(tmp_path, capsys):
    """DQN's buffer rides along in each checkpoint (filled rows only, no pickle) and refills the resumed model, so
    it does not wait learning_starts again; a tampered buffer makes the checkpoint unusable (the previous one)."""
    from pantheonrl.common.replay_io import load_replay_buffer

    run = tmp_path / "dqn"
    ego = json.dumps({"learning_starts": 100, "buffer_size": 5000, "train_freq": 4})
    assert main(["train", "RPS-v0", "DQN", "DEFAULT", "-t", "600", "--checkpoint-every", "300", "--run-dir", str(run),
                 "--ego-config", ego, "--no-eval", "--verbose", "0", "--seed", "0"]) == 0
    manifest = json.loads((run / "checkpoints" / "ckpt-600" / "manifest.json").read_text())
    entry = manifest["replay_buffers"]["ego"]
    saved = run / "checkpoints" / "ckpt-600" / entry["path"]
    with np.load(saved, allow_pickle=False) as data:
        # the callback runs before SB3 stores the step's transition: 599 rows at step 600, only the filled ones
        assert int(data["__pos__"]) == 599 and data["observations"].shape[0] == 599
    assert saved.stat().st_size < 200_000  # not the 5000 preallocated rows twice

    capsys.readouterr()
    assert main(["train", "--resume", str(run), "-t", "800", "--no-eval"]) == 0
    assert "ego: restored 599 replay buffer rows from ckpt-600" in capsys.readouterr().out
    with np.load(run / "checkpoints" / "ckpt-800" / "ego.replay_buffer.npz", allow_pickle=False) as data:
        assert 599 + 199 <= int(data["__pos__"]) <= 599 + 200  # restored rows + the new ones, not the new alone

    with open(run / "checkpoints" / "ckpt-800" / "ego.replay_buffer.npz", "ab") as handle:
        handle.write(b"x")
    assert main(["train", "--resume", str(run), "-t", "900", "--no-eval"]) == 0
    captured = capsys.readouterr()
    assert "skipping damaged checkpoint ckpt-800" in captured.err and "restored 599" in captured.out

    import gymnasium as gym
    import pytest
    from stable_baselines3 import DQN

    import pantheonrl  # noqa: F401
    from pantheonrl.errors import ConfigError

    model = DQN("MlpPolicy", gym.make("RPS-v0").get_dummy_env(0), buffer_size=10)
    with pytest.raises(ConfigError, match="a buffer of 5000 rows, not 10"):
        load_replay_buffer(model.replay_buffer, saved)


def test_a_resume_from_a_checkpoint_off_the_rollout_grid_ends_at_exactly_the_target(tmp_path):
    """ckpt-100 lies inside a 64-step rollout; from there SB3 would run whole rollouts to 548, past 512."""
    import shutil

    run = tmp_path / "run"
    assert main(["train", "RPS-v0", "PPO", "DEFAULT", "-t", "256", "--checkpoint-every", "100", "--run-dir", str(run),
                 "--ego-config", '{"n_steps": 64, "batch_size": 64}', "--no-eval", "--verbose", "0"]) == 0
    for later in ("ckpt-200", "ckpt-256"):
        shutil.rmtree(run / "checkpoints" / later, ignore_errors=True)
    shutil.rmtree(run / "agents")
    assert main(["train", "--resume", str(run), "-t", "512", "--no-eval"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from"].endswith("ckpt-100") and summary["num_timesteps"] == 512
