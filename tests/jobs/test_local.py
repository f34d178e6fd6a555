"""The local backend with real training processes, real signals and a real SQLite file (docs/web.md section 5,
tests 1 to 4, and the load test of issue 9): tiny RPS-v0 PPO runs of a few hundred to a few thousand steps."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
import threading
import time
import zipfile

import pytest

from pantheonrl.cli._runner import list_checkpoints
from pantheonrl.jobs import JobStatus, LocalBackend, ProcessRef, reconcile
from tests.jobs.conftest import drive, model_timesteps, tiny_config, wait_for


def _transitions(backend, job_id):
    return [(e.from_status, e.to_status) for e in backend.store.events(job_id) if e.kind == "transition"]


def _exit_codes(backend, job_id):
    return [e.data["returncode"] for e in backend.store.events(job_id) if e.kind == "exited"]


def test_a_job_runs_to_succeeded(make_backend, root):
    """500 steps with 64-step rollouts: a job ends at exactly its steps_total (plain SB3 would go on to 512)."""
    backend = make_backend(max_workers=1)
    job = backend.submit("alice", "train", tiny_config(500, checkpoint_every=128))
    assert backend.dispatch_once() == [job.id]
    running = backend.status(job.id)
    ref = ProcessRef.from_dict(running.backend_ref)
    assert running.status is JobStatus.RUNNING and ref.pgid == ref.pid and ref.start_time is not None
    assert os.getpgid(ref.pid) == ref.pid != os.getpgid(0)  # its own process group
    final = drive(backend, job.id)
    run = root.run_dir(job.id)
    assert final.status is JobStatus.SUCCEEDED and final.reason is None
    assert final.steps_done == final.steps_total == 500 and model_timesteps(run / "agents" / "ego") == 500
    assert final.last_metrics["time/total_timesteps"] == 448 and final.last_checkpoint == "checkpoints/ckpt-500"
    assert _exit_codes(backend, job.id) == [0]
    assert json.loads((run / "status.json").read_text())["status"] == "SUCCEEDED"
    assert "trained to 500 timesteps" in backend.logs(job.id)
    assert "--job-id" in (run / "command.txt").read_text()
    assert _transitions(backend, job.id) == [("QUEUED", "RUNNING"), ("RUNNING", "SUCCEEDED")]


def test_a_target_on_the_rollout_grid_trains_and_logs_the_last_rollout(make_backend, root):
    """512 steps of 64-step rollouts: all 8 rollouts are trained on and logged (the job's exact stop must not cut
    the last one, which ends at the target)."""
    import csv

    backend = make_backend(max_workers=1)
    job = drive(backend, backend.submit("alice", "train", tiny_config(512)).id)
    assert job.status is JobStatus.SUCCEEDED and job.steps_done == 512
    assert job.last_metrics["time/total_timesteps"] == 512  # the row SB3 logs before the 8th update
    with zipfile.ZipFile(root.run_dir(job.id) / "agents" / "ego" / "model.zip") as saved:
        assert json.loads(saved.read("data"))["_n_updates"] == 8 * 10  # 8 rollouts x 10 epochs, the last included
    with open(root.run_dir(job.id) / "progress.csv", newline="") as handle:
        steps = [int(float(row["time/total_timesteps"])) for row in csv.DictReader(handle)]
    assert steps == list(range(64, 513, 64))


@pytest.mark.parametrize("damage", [False, True], ids=["sigkill", "sigkill-damaged-newest"])
def test_sigkill_mid_run_resumes_from_the_checkpoint_to_the_exact_target(make_backend, root, damage):
    """Test 1 (and with ``damage`` test 2) of docs/web.md section 5."""
    backend = make_backend(max_workers=1)
    job = backend.submit("alice", "train", tiny_config(2560, checkpoint_every=256))
    backend.dispatch_once()
    run = root.run_dir(job.id)
    wait_for(lambda: len(list_checkpoints(run)) >= 2, 120, what="two checkpoints")
    first = ProcessRef.from_dict(backend.status(job.id).backend_ref)
    os.killpg(first.pgid, signal.SIGKILL)
    wait_for(lambda: not first.alive(), 30, what="the killed process to be gone")
    checkpoints = list_checkpoints(run)
    assert backend.status(job.id).status is JobStatus.RUNNING  # nobody has noticed yet
    if damage:  # the newest checkpoint truncated, and a half-written one left behind by a kill during a save
        zip_path = checkpoints[-1] / "ego" / "model.zip"
        zip_path.write_bytes(zip_path.read_bytes()[: zip_path.stat().st_size // 2])
        (run / "checkpoints" / ".ckpt-99999.tmp-x").mkdir()
        (run / "checkpoints" / ".ckpt-99999.tmp-x" / "manifest.json").write_text("{")
    expected = checkpoints[-2] if damage else checkpoints[-1]

    now = dt.datetime.now(dt.timezone.utc)
    assert reconcile(backend.store, root, now=now) == []  # the heartbeat is fresh: not yet judged
    [outcome] = reconcile(backend.store, root, now=now + dt.timedelta(seconds=120))
    queued = backend.status(job.id)
    assert outcome.status is JobStatus.QUEUED and queued.status is JobStatus.QUEUED and queued.attempt == 2
    assert queued.last_checkpoint == f"checkpoints/{expected.name}" and f"resuming from {expected.name}" in (
        queued.reason)

    assert backend.dispatch_once() == [job.id]
    second = ProcessRef.from_dict(backend.status(job.id).backend_ref)
    assert second.pid != first.pid and second.alive() and not first.alive()  # one live process at every point
    final = drive(backend, job.id)
    assert final.status is JobStatus.SUCCEEDED and final.attempt == 2
    assert final.steps_done == 2560 and model_timesteps(run / "agents" / "ego") == 2560
    log = backend.logs(job.id)
    assert f"from {expected.name} at {int(expected.name[5:])} timesteps (target 2560)" in log
    assert ("skipping damaged checkpoint" in log) is damage
    assert _transitions(backend, job.id) == [("QUEUED", "RUNNING"), ("RUNNING", "INTERRUPTED"),
                                             ("INTERRUPTED", "QUEUED"), ("QUEUED", "RUNNING"),
                                             ("RUNNING", "SUCCEEDED")]
    assert _exit_codes(backend, job.id) == [-signal.SIGKILL, 0]


def test_cancel_stops_cooperatively_after_a_final_checkpoint(make_backend, root):
    """Test 4 of docs/web.md section 5, the cooperative half."""
    backend = make_backend(max_workers=1)
    job = backend.submit("alice", "train", tiny_config(1_000_000))
    backend.dispatch_once()
    run = root.run_dir(job.id)
    wait_for(lambda: (run / "progress.csv").exists(), 120, what="training to start")
    asked = backend.cancel(job.id, "alice")
    assert asked.status is JobStatus.RUNNING and asked.cancel_requested_by == "alice" and (run / "STOP").is_file()
    final = drive(backend, job.id, timeout=60)
    steps = final.steps_done
    assert final.status is JobStatus.CANCELLED and final.reason == f"cancelled by alice at step {steps}"
    assert 0 < steps < 1_000_000 and (run / "checkpoints" / f"ckpt-{steps}" / "manifest.json").is_file()
    assert _exit_codes(backend, job.id) == [0]
    assert json.loads((run / "status.json").read_text())["exit_code"] == 0
    assert not [e for e in backend.store.events(job.id) if e.kind == "signal"]  # no escalation was needed


class _Stubborn(LocalBackend):
    """Starts a process that ignores SIGTERM and the STOP file instead of training."""

    def command(self, job):
        return [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                      "print('ready', flush=True); time.sleep(300)"]


def test_a_process_ignoring_the_cancel_gets_sigterm_then_sigkill(make_backend):
    """Test 4 of docs/web.md section 5, the escalation (grace periods passed by a faked clock)."""
    backend = make_backend(_Stubborn, max_workers=1, grace_s=60, kill_after_s=10)
    job = backend.submit("alice", "train", tiny_config())
    backend.dispatch_once()
    ref = ProcessRef.from_dict(backend.status(job.id).backend_ref)
    wait_for(lambda: "ready" in backend.logs(job.id), 30, what="the stubborn process")
    t0 = dt.datetime.now(dt.timezone.utc)
    backend.cancel(job.id, "alice", now=t0)
    assert backend.escalate(now=t0 + dt.timedelta(seconds=30)) == []  # within the grace period
    assert backend.escalate(now=t0 + dt.timedelta(seconds=61)) == [(job.id, "SIGTERM")]
    time.sleep(0.5)  # give the ignored SIGTERM a chance to (not) work
    assert ref.alive()
    assert backend.escalate(now=t0 + dt.timedelta(seconds=65)) == []  # SIGKILL waits kill_after_s
    assert backend.escalate(now=t0 + dt.timedelta(seconds=72)) == [(job.id, "SIGKILL")]
    final = drive(backend, job.id, timeout=30)
    assert final.status is JobStatus.CANCELLED and "cancelled by alice" in final.reason and "SIGKILL" in final.reason
    assert not ref.alive() and _exit_codes(backend, job.id) == [-signal.SIGKILL]
    assert [e.data["signal"] for e in backend.store.events(job.id) if e.kind == "signal"] == ["SIGTERM", "SIGKILL"]


def test_the_dispatcher_bound_holds_under_load(make_backend, root):
    """8 jobs submitted at once with 2 workers: all finish, never more than 2 run, none is lost or run twice."""
    backend = make_backend(max_workers=2)
    barrier = threading.Barrier(8)
    ids: list[str] = []

    def submit(k: int) -> None:
        barrier.wait()
        ids.append(backend.submit(f"user{k % 3}", "train", tiny_config(256, seed=k), f"load-{k}").id)

    started = time.monotonic()
    threads = [threading.Thread(target=submit, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 8
    backend.start(interval=0.2)
    samples = []

    def all_done() -> bool:
        samples.append(backend.store.count(JobStatus.RUNNING))
        return all(backend.status(i).terminal for i in ids)

    wait_for(all_done, 240, step=0.05, what="all 8 jobs")
    backend.stop()
    wall = time.monotonic() - started
    print(f"load test: 8 jobs, 2 workers, {wall:.1f} s, {len(samples)} samples, max running {max(samples)}")
    assert max(samples) == 2  # the pool was used, and never exceeded
    for job_id in ids:
        job = backend.status(job_id)
        assert job.status is JobStatus.SUCCEEDED and job.steps_done == 256, (job.status, job.reason)
        assert _transitions(backend, job_id) == [("QUEUED", "RUNNING"), ("RUNNING", "SUCCEEDED")]
    assert sorted(p.name for p in root.runs.iterdir()) == sorted(ids)


def test_an_unasked_sigterm_checkpoints_and_the_job_resumes(make_backend, root):
    """SIGTERM nobody asked for (a machine shutting down): the process stops after a checkpoint and records
    INTERRUPTED; its dispatcher requeues it and the next attempt finishes the run exactly."""
    backend = make_backend(max_workers=1)
    job = backend.submit("alice", "train", tiny_config(2048, checkpoint_every=256))
    backend.dispatch_once()
    run = root.run_dir(job.id)
    wait_for(lambda: list_checkpoints(run), 120, what="a checkpoint")
    first = ProcessRef.from_dict(backend.status(job.id).backend_ref)
    assert first.signal_group(signal.SIGTERM)
    wait_for(lambda: backend.status(job.id).status is not JobStatus.RUNNING, 60, what="the process to stop")
    stopped = backend.status(job.id)
    assert stopped.status is JobStatus.INTERRUPTED and "stopped by SIGTERM at step" in stopped.reason
    assert (run / "checkpoints" / f"ckpt-{stopped.steps_done}").is_dir()  # the final checkpoint of the stop
    final = drive(backend, job.id)
    assert final.status is JobStatus.SUCCEEDED and final.attempt == 2 and final.steps_done == 2048
    assert model_timesteps(run / "agents" / "ego") == 2048
    assert f"from ckpt-{stopped.steps_done} at {stopped.steps_done} timesteps" in backend.logs(job.id)
    assert _exit_codes(backend, job.id) == [0, 0]
