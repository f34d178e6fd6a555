"""The ``ray`` backend on a real local Ray head (issue 9 acceptance; docs/web.md 2.7): a training job through the
Jobs API to SUCCEEDED with its step count and readable logs, cancel before start and while running, an unasked
stop (INTERRUPTED, then settled), a repeated submit as a no-op, and cross-play fanned out as Ray tasks equal to the
local computation.

The module fixture starts its own head (``ray start --head --block`` on 127.0.0.1, free ports, 2 CPUs, the
dashboard for the Jobs API, a temporary ``--temp-dir``) in a new session and stops only that cluster: SIGTERM to
its ``ray start`` process, then SIGKILL to whatever still runs with the cluster's temporary folder or the test's
data root on its command line, and to the process group it made. ``ray stop`` is not used: it stops every Ray
process of the machine by name, other users' clusters included.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pantheonrl.jobs import DataRoot, JobStatus
from pantheonrl.jobs.ray_backend import RayBackend, submission_id
from tests.jobs.conftest import tiny_config, wait_for

pytestmark = pytest.mark.slow
# the venv's ray command (the cluster runs this environment), else the one on PATH
RAY = str(Path(sys.executable).with_name("ray")) if Path(sys.executable).with_name("ray").exists() else \
    (shutil.which("ray") or "ray")


def _free_ports(n: int) -> list[int]:
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _pids_mentioning(*needles: str) -> list[int]:
    """Processes whose command line contains one of ``needles`` (this cluster's unique folders)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """``(dashboard address, GCS address, data root)`` of a Ray head started for this module."""
    data = tmp_path_factory.mktemp("raydata")
    temp_dir = tempfile.mkdtemp(prefix="prl-ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    gcs, dashboard, client, agent_http, agent_grpc, node_manager, object_manager, metrics, runtime_env = \
        _free_ports(9)
    env = dict(os.environ, RAY_JOB_STOP_WAIT_TIME_S="30", OMP_NUM_THREADS="1",
               PANTHEONRL_AGENTS=str(data / "registry"))
    log = open(Path(temp_dir) / "ray-start.log", "wb")  # noqa: SIM115  (closed at teardown)
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
         "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard), "--include-dashboard=true",
         "--ray-client-server-port", str(client), "--dashboard-agent-listen-port", str(agent_http),
         "--dashboard-agent-grpc-port", str(agent_grpc), "--node-manager-port", str(node_manager),
         "--object-manager-port", str(object_manager), "--metrics-export-port", str(metrics),
         "--runtime-env-agent-port", str(runtime_env), "--num-cpus", "2", "--disable-usage-stats",
         "--temp-dir", temp_dir],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        from ray.job_submission import JobSubmissionClient

        def up():
            assert head.poll() is None, (Path(temp_dir) / "ray-start.log").read_text()[-3000:]
            try:
                return JobSubmissionClient(address)
            except Exception:
                return None

        wait_for(up, 120, step=0.5, what="the Ray head's Jobs API")
        yield address, f"127.0.0.1:{gcs}", data
    finally:
        if head.poll() is None:
            head.send_signal(signal.SIGTERM)  # ray start --block stops the processes it started
            with contextlib.suppress(subprocess.TimeoutExpired):
                head.wait(60)
        for pid in _pids_mentioning(temp_dir, str(data)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(head.pid, signal.SIGKILL)  # the session and group this fixture created
        head.wait(30)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def backend(ray_cluster):
    address, _, data = ray_cluster
    made = []

    def make(**kwargs):
        b = RayBackend(DataRoot(data), address, **kwargs)
        made.append(b)
        return b

    yield make
    for b in made:
        for job in b.store.list(backend="ray"):
            if not job.terminal:
                b._stop_in_ray(job, "test teardown")
        b.store.close()


def _finish(backend, job_id, timeout=150.0):
    def done():
        backend.dispatch_once()
        job = backend.status(job_id)
        return job if job.terminal else None

    return wait_for(done, timeout, step=0.5, what=f"job {job_id} to end")


def _ray_status(backend, job) -> str:
    return str(backend.client.get_job_status(submission_id(job)).value)


def _transitions(backend, job_id):
    return [e.to_status for e in backend.store.events(job_id) if e.kind == "transition"]


def test_a_training_job_runs_on_ray_to_succeeded(backend):
    ray = backend()
    job = ray.submit("alice", "train", tiny_config(512, checkpoint_every=256), "first-run")
    assert job.backend == "ray" and job.status is JobStatus.QUEUED  # Ray has it PENDING: the row stays QUEUED
    assert job.backend_ref["submission_id"] == job.id
    # the entrypoint holds server-generated values only, and a repeated submit is a no-op (same job, one Ray job)
    info = ray.client.get_job_info(job.id)
    assert info.entrypoint.split()[:3] == [sys.executable, "-m", "pantheonrl.jobs.ray_backend"]
    assert job.id in info.entrypoint and "RPS-v0" not in info.entrypoint
    assert info.metadata["pantheonrl_job"] == job.id
    again = ray.submit("alice", "train", tiny_config(512, checkpoint_every=256), "first-run")
    assert again.id == job.id
    assert ray.launch(again) == job.id
    assert [j.submission_id for j in ray.client.list_jobs()].count(job.id) == 1

    done = _finish(ray, job.id)
    assert done.status is JobStatus.SUCCEEDED, done.reason
    assert done.steps_done == 512 and done.attempt == 1
    # the process records its end before it exits; Ray then sees the exit
    wait_for(lambda: _ray_status(ray, done) == "SUCCEEDED", 60, step=0.5, what="Ray to see the end")
    assert ray.status(job.id).status is JobStatus.SUCCEEDED
    assert _transitions(ray, job.id) == ["RUNNING", "SUCCEEDED"]
    run = ray.root.run_dir(job.id)
    assert (run / "agents" / "ego" / "policy.pt").is_file()
    text = ray.logs(job.id)
    assert f"attempt 1 on Ray ({job.id})" in text
    ray_log = ray.client.get_job_logs(job.id)
    body = [line for line in text.splitlines() if line.strip() and not line.startswith("--- attempt")]
    assert body and body[-1] in ray_log  # the training output reached both logs
    assert ray.list(owner_id="alice")[0].id == job.id
    assert ray.status(job.id, owner_id="alice").status is JobStatus.SUCCEEDED


def test_cancel_and_unasked_stop_on_ray(backend):
    ray = backend()
    long = tiny_config(400_000, checkpoint_every=128)
    running = ray.submit("bob", "train", long)
    stopped = ray.submit("bob", "train", long, max_attempts=1)
    # cancelled while Ray still has it pending: CANCELLED now, never RUNNING
    early = ray.submit("bob", "train", long)
    assert ray.cancel(early.id, "bob").status is JobStatus.CANCELLED

    for job in (running, stopped):
        run = ray.root.run_dir(job.id)
        wait_for(lambda run=run: (ray.dispatch_once() or True) and (run / "checkpoints").is_dir()
                 and any((run / "checkpoints").iterdir()), 150, step=0.5, what="training to checkpoint")
    assert ray.status(running.id).status is JobStatus.RUNNING

    # cooperative: the STOP file on the shared data root; the process saves and records CANCELLED itself
    cancelled = ray.cancel(running.id, "bob")
    assert cancelled.cancel_requested_by == "bob" and (ray.root.run_dir(running.id) / "STOP").is_file()
    ray.client.stop_job(submission_id(stopped))  # nobody asked us: Ray stopped it

    cancelled = _finish(ray, running.id, 90)
    assert cancelled.status is JobStatus.CANCELLED, cancelled.reason
    assert "cancelled by bob" in cancelled.reason and cancelled.steps_done > 0
    assert _transitions(ray, running.id) == ["RUNNING", "CANCELLED"]
    wait_for(lambda: _ray_status(ray, cancelled) == "SUCCEEDED", 60, step=0.5, what="Ray to see the exit")
    assert ray.escalate(now=cancelled.cancel_requested_at + dt.timedelta(seconds=61)) == []  # it is over

    # unasked: the process records INTERRUPTED (SIGTERM, no cancel), the dispatcher settles it (no retry left)
    lost = _finish(ray, stopped.id, 90)
    wait_for(lambda: _ray_status(ray, lost) == "STOPPED", 60, step=0.5, what="Ray to see the stop")
    assert _transitions(ray, stopped.id) == ["RUNNING", "INTERRUPTED", "FAILED"]
    assert lost.status is JobStatus.FAILED and "gave up after 1 attempt" in lost.reason

    assert _transitions(ray, early.id) == ["CANCELLED"]
    assert ray.status(early.id).status is JobStatus.CANCELLED
    wait_for(lambda: _ray_status(ray, early) in ("STOPPED", "SUCCEEDED"), 60, step=0.5, what="Ray to end it")


def test_crossplay_as_ray_tasks_equals_the_local_one(ray_cluster, tmp_path):
    import gymnasium as gym
    from stable_baselines3 import PPO

    import pantheonrl  # noqa: F401
    from pantheonrl.artifacts import save_agent
    from pantheonrl.eval import crossplay
    from pantheonrl.jobs.ray_crossplay import frozen_agents, ray_crossplay

    _, gcs, _ = ray_cluster
    dirs = {}
    for seed in (1, 2, 3):
        env = gym.make("RPS-v0")
        model = PPO("MlpPolicy", env.get_dummy_env(0), n_steps=64, batch_size=64, seed=seed)
        dirs[f"ppo{seed}"] = str(save_agent(model, tmp_path / f"ppo{seed}", env_id="RPS-v0", seed=seed).path)

    started = time.monotonic()
    remote = ray_crossplay("RPS-v0", dirs, episodes=4, address=gcs, seed=7)
    elapsed = time.monotonic() - started
    local = crossplay(frozen_agents(dirs, "RPS-v0"), None, "RPS-v0", 4, seed=7)

    assert remote.names_a == local.names_a == list(dirs)
    assert remote.seats == local.seats == [0, 1]
    assert remote.returns.shape == (3, 3, 2, 4)
    np.testing.assert_array_equal(remote.returns, local.returns)
    assert {k: remote.metadata[k] for k in local.metadata if k != "game"} == \
        {k: v for k, v in local.metadata.items() if k != "game"}
    assert np.any(remote.returns != 0)  # real games were played
    other = ray_crossplay("RPS-v0", dirs, episodes=4, address=gcs, seed=8)
    assert not np.array_equal(other.returns, remote.returns)  # the seed matters, so equality above means something
    print(f"\n[ray] 9-cell cross-play on the Ray head: {elapsed:.1f} s")


def test_the_dashboard_on_the_ray_backend_runs_a_population_and_its_crossplay(ray_cluster):
    """``create_app(backend="ray")`` (what ``pantheonrl web serve --backend ray`` builds): a population of two
    seeds through the API becomes two Ray jobs that run side by side; a cross-play experiment over the population
    is one Ray job whose cells are Ray tasks, and its matrix equals the local computation."""
    from pantheonrl.eval import CrossPlayResult, crossplay
    from pantheonrl.jobs.ray_crossplay import frozen_agents
    from pantheonrl.webui import create_app
    from pantheonrl.webui.settings import create_secret_key

    address, _, data = ray_cluster
    web = data / "web"
    create_secret_key(web)
    app = create_app(web, start_backend=False, backend="ray", ray_address=address)
    state = app.extensions["pantheonrl"]
    try:
        assert isinstance(state.backend, RayBackend)
        user = state.accounts.add_user("alice", "a long enough password")
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {state.accounts.new_token(user.id)}"
        body = {"kind": "population", "members": 2, "config": tiny_config(256)}
        response = client.post("/api/experiments", json=body)
        assert response.status_code == 201, response.get_json()
        group = response.get_json()["group_id"]
        members = [j["id"] for j in response.get_json()["jobs"]]
        assert {state.store.get(j).backend for j in members} == {"ray"}
        assert {info.submission_id for info in state.backend.client.list_jobs()} >= set(members)
        ends = [_finish(state.backend, j) for j in members]
        assert [e.status for e in ends] == [JobStatus.SUCCEEDED] * 2, [e.reason for e in ends]
        starts = sorted(e.started_at for e in ends)
        assert starts[1] < min(e.finished_at for e in ends)  # the two members ran at the same time

        response = client.post("/api/experiments", json={"kind": "crossplay", "rows": [group], "episodes": 3})
        assert response.status_code == 201, response.get_json()
        job = response.get_json()["jobs"][0]
        done = _finish(state.backend, job["id"])
        assert done.status is JobStatus.SUCCEEDED, (done.reason, state.backend.logs(job["id"]))
        assert "as Ray tasks" in state.backend.logs(job["id"])
        matrix = client.get(f"/api/jobs/{job['id']}/crossplay").get_json()
        assert len(matrix["rows"]) == 2 and len(matrix["means"]) == 2
        written = CrossPlayResult.from_json(state.root.run_dir(job["id"]) / "crossplay.json")
        dirs = {name: str(state.root.run_dir(j) / "agents" / "ego") for name, j in zip(matrix["rows"], members)}
        local = crossplay(frozen_agents(dirs, "RPS-v0"), None, "RPS-v0", 3, seed=0)
        np.testing.assert_array_equal(written.returns, local.returns)
    finally:
        state.close()


# ------------------------------------------------------------------------ without a cluster: a stand-in client
class FakeJobs:
    """The part of ``JobSubmissionClient`` the backend uses, with statuses the test sets."""

    def __init__(self) -> None:
        self.jobs: dict[str, SimpleNamespace] = {}
        self.stopped: list[str] = []

    def submit_job(self, *, entrypoint, submission_id, metadata, entrypoint_num_cpus, runtime_env):
        if submission_id in self.jobs:
            raise RuntimeError(f"Job with submission_id {submission_id} already exists. Please use a different one.")
        self.jobs[submission_id] = SimpleNamespace(status="PENDING", entrypoint=entrypoint, metadata=metadata,
                                                   runtime_env=runtime_env, num_cpus=entrypoint_num_cpus,
                                                   driver_exit_code=None, message=None)
        return submission_id

    def get_job_info(self, sid):
        if sid not in self.jobs:
            raise RuntimeError(f"Job {sid} does not exist")
        return self.jobs[sid]

    def get_job_logs(self, sid):
        return f"ray's log of {sid}\n"

    def stop_job(self, sid):
        self.stopped.append(sid)
        return sid in self.jobs


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("PANTHEONRL_AGENTS", str(tmp_path / "registry"))
    monkeypatch.setenv("SOME_SERVER_SECRET", "do-not-leak")
    jobs = FakeJobs()
    b = RayBackend(DataRoot(tmp_path / "data"), "http://127.0.0.1:8265", client=jobs)
    yield b, jobs
    b.store.close()


def test_ray_statuses_move_the_job_row(fake):
    b, jobs = fake
    job = b.submit("carol", "train", tiny_config(256), "tok-1")
    ray_job = jobs.jobs[job.id]
    assert shlex.split(ray_job.entrypoint) == b.command(job)
    assert ray_job.num_cpus == 1 and ray_job.metadata["pantheonrl_job"] == job.id
    assert "SOME_SERVER_SECRET" not in ray_job.runtime_env["env_vars"]
    assert b.submit("carol", "train", tiny_config(256), "tok-1").id == job.id and len(jobs.jobs) == 1

    assert b.status(job.id).status is JobStatus.QUEUED  # PENDING in Ray: QUEUED here
    ray_job.status = "RUNNING"
    assert b.status(job.id).status is JobStatus.RUNNING
    ray_job.status = "STOPPED"  # nobody asked: INTERRUPTED, and without a checkpoint FAILED
    done = b.status(job.id)
    assert _transitions(b, job.id) == ["RUNNING", "INTERRUPTED", "FAILED"]
    assert done.status is JobStatus.FAILED and "no checkpoint" in done.reason

    asked = b.submit("carol", "train", tiny_config(256))
    jobs.jobs[asked.id].status = "RUNNING"
    b.dispatch_once()
    assert b.cancel(asked.id, "carol").status is JobStatus.RUNNING  # cooperative first: the STOP file
    assert (b.root.run_dir(asked.id) / "STOP").is_file() and jobs.stopped == []
    t0 = b.status(asked.id).cancel_requested_at
    assert b.escalate(now=t0 + dt.timedelta(seconds=30)) == []
    assert b.escalate(now=t0 + dt.timedelta(seconds=61)) == [asked.id] and jobs.stopped == [asked.id]
    assert b.escalate(now=t0 + dt.timedelta(seconds=90)) == []  # once per attempt
    jobs.jobs[asked.id].status = "STOPPED"  # we asked: CANCELLED
    assert b.status(asked.id).status is JobStatus.CANCELLED
    assert _transitions(b, asked.id) == ["RUNNING", "CANCELLED"]

    broken = b.submit("carol", "train", tiny_config(256))
    jobs.jobs[broken.id].status = "RUNNING"
    b.dispatch_once()
    (b.root.run_dir(broken.id) / "job.log").write_text("starting\nValueError: something broke\n")
    jobs.jobs[broken.id].status, jobs.jobs[broken.id].driver_exit_code = "FAILED", 1
    failed = b.status(broken.id)
    assert failed.status is JobStatus.FAILED and "something broke" in failed.reason

    waiting = b.submit("carol", "train", tiny_config(256))
    assert b.cancel(waiting.id, "carol").status is JobStatus.CANCELLED and waiting.id in jobs.stopped
    assert b.logs(waiting.id) == f"ray's log of {waiting.id}\n"  # no job.log yet: Ray's log
    assert b.logs(broken.id).endswith("something broke\n")
    assert {j.id for j in b.list(owner_id="carol")} == {job.id, asked.id, broken.id, waiting.id}


def test_ray_backend_refuses_what_it_must(fake, monkeypatch, tmp_path):
    from pantheonrl.errors import ConfigError
    from pantheonrl.jobs.ray_backend import import_ray

    b, jobs = fake
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(ConfigError, match="RAY_AUTH_MODE=token"):
        RayBackend(b.root, "http://10.1.2.3:8265", b.store, client=jobs)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert RayBackend(b.root, "http://10.1.2.3:8265", b.store, client=jobs).address == "http://10.1.2.3:8265"
    with pytest.raises(ConfigError, match="run_dir"):  # the config checks of the local backend apply
        b.submit("carol", "train", tiny_config(256, run_dir="/etc"))
    assert jobs.jobs == {}
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pantheonrl\[ray\]"):
        import_ray()
