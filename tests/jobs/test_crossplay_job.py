"""Cross-play jobs (kind ``crossplay``) on the local backend: the matrix a job writes equals ``pantheonrl.eval.
crossplay``'s, bad configs are refused before anything is stored, and cancel stops between cells."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pantheonrl.errors import ConfigError, UserInputError
from pantheonrl.jobs import JobStatus
from pantheonrl.jobs.crossplay_job import RESULT_FILES, CrossPlayJobConfig, Stopped, run_cells
from tests.jobs.conftest import drive, wait_for

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    """Three saved RPS-v0 agents (untrained PPO policies with different seeds: different action preferences)."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    import pantheonrl  # noqa: F401
    from pantheonrl.artifacts import save_agent

    base = tmp_path_factory.mktemp("xplay-agents")
    out = {}
    for seed in (1, 2, 3):
        env = gym.make("RPS-v0")
        model = PPO("MlpPolicy", env.get_dummy_env(0), n_steps=64, batch_size=64, seed=seed)
        out[f"ppo{seed}"] = str(save_agent(model, base / f"ppo{seed}", env_id="RPS-v0", seed=seed).path)
    return out


def test_a_crossplay_job_writes_the_matrix_of_the_local_computation(make_backend, root, agents):
    from pantheonrl.eval import CrossPlayResult, crossplay
    from pantheonrl.jobs.ray_crossplay import frozen_agents

    backend = make_backend(max_workers=1)
    job = backend.submit("alice", "crossplay", {"rows": agents, "episodes": 5, "seed": 3})
    assert job.kind == "crossplay" and job.steps_total == 3 * 3 * 2 * 5 and not job.resumable
    job = drive(backend, job.id)
    assert job.status is JobStatus.SUCCEEDED, (job.reason, backend.logs(job.id))
    assert job.steps_done == job.steps_total
    run = root.run_dir(job.id)
    assert all((run / name).stat().st_size > 0 for name in RESULT_FILES)
    written = CrossPlayResult.from_json(run / "crossplay.json")
    local = crossplay(frozen_agents(agents, "RPS-v0"), None, "RPS-v0", 5, seed=3)
    assert written.names_a == written.names_b == list(agents)
    np.testing.assert_array_equal(written.returns, local.returns)
    assert np.any(written.returns != 0)
    assert (run / "crossplay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cell 9/9 done" in backend.logs(job.id)


def test_rows_and_columns_make_a_rectangular_matrix(agents):
    names = list(agents)
    cfg = CrossPlayJobConfig.from_dict({"rows": {names[0]: agents[names[0]]},
                                        "cols": {n: agents[n] for n in names[1:]},
                                        "episodes": 2, "both_seats": False}).resolve()
    assert cfg.env == "RPS-v0" and cfg.total_episodes == 1 * 2 * 1 * 2
    result = run_cells(cfg)
    assert result.returns.shape == (1, 2, 1, 2)
    assert result.names_b == names[1:] and not result.is_square


@pytest.mark.parametrize(("change", "message"), [
    ({"colour": "red"}, "unknown cross-play option 'colour'"),
    ({"episodes": 0}, "episodes: 0 must be a whole number from 1"),
    ({"both_seats": "yes"}, "both_seats: 'yes' must be true or false"),
    ({"rows": {}}, "rows: give at least one saved agent"),
    ({"env": "LiarsDice-v0"}, "was trained on RPS-v0, not LiarsDice-v0"),
    ({"env": "NoSuchGame-v0"}, "NoSuchGame-v0"),
])
def test_bad_crossplay_configs_are_refused_before_anything_is_stored(make_backend, root, agents, change, message):
    backend = make_backend()
    with pytest.raises(ConfigError, match=message):
        backend.submit("alice", "crossplay", {"rows": agents, "episodes": 2, **change})
    assert backend.store.list() == [] and list(root.runs.iterdir()) == []


def test_a_tampered_agent_is_refused(make_backend, agents, tmp_path):
    import shutil

    copy = tmp_path / "tampered"
    shutil.copytree(agents["ppo1"], copy)
    with open(copy / "policy.pt", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(UserInputError, match="does not match its SHA-256"):
        make_backend().submit("alice", "crossplay", {"rows": {"a": str(copy), "b": agents["ppo2"]}})


def test_a_stop_between_cells_ends_the_run(agents):
    cfg = CrossPlayJobConfig.from_dict({"rows": agents, "episodes": 1}).resolve()
    done = []
    with pytest.raises(Stopped, match="asked"):
        run_cells(cfg, on_cell=done.append, should_stop=lambda: "asked" if done else None)
    assert done == [1]


def test_cancel_of_a_running_crossplay_job_ends_cancelled(make_backend, root, agents):
    backend = make_backend(max_workers=1)
    job = backend.submit("alice", "crossplay", {"rows": agents, "episodes": 4000})
    wait_for(lambda: backend.dispatch_once() is not None and "cell 1/" in backend.logs(job.id), 120, 0.2,
             "the first cell")
    backend.cancel(job.id, "alice")
    job = drive(backend, job.id)
    assert job.status is JobStatus.CANCELLED, job.reason
    # the STOP file or the heartbeat, whichever the job saw first
    assert ("STOP" in job.reason or "cancel requested by alice" in job.reason) and 0 < job.steps_done < job.steps_total
    assert not (root.run_dir(job.id) / "crossplay.json").exists()
    status = json.loads((root.run_dir(job.id) / "status.json").read_text())
    assert status["status"] == "CANCELLED"
