"""``pantheonrl worker`` and ``pantheonrl train --job-id``: restart of the worker during a run (docs/web.md section 5,
test 3), one process per job (run.lock), and bad input (exit 2, a message naming the bad value, the job untouched)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from pantheonrl.cli import main
from pantheonrl.cli._runner import lock_run
from pantheonrl.jobs import JobStatus, JobStore, ProcessRef
from tests.jobs.conftest import model_timesteps, tiny_config, wait_for


def _worker(root, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pantheonrl.cli", "worker", "--data-dir", str(root.path),
                             "--poll", "0.2", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _stop(worker: subprocess.Popen) -> str:
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=60)
    return out


def test_restarting_the_worker_keeps_the_running_job(make_backend, root):
    """The worker stops (SIGTERM) while a job trains; the job keeps running in its own process group, its status
    stays right, and a new worker lets it finish without starting a second copy."""
    submitter = make_backend(max_workers=1)  # only submits and reads; the worker processes dispatch
    job = submitter.submit("alice", "train", tiny_config(2048, checkpoint_every=512))
    first = _worker(root, "--max-workers", "1")
    try:
        running = wait_for(lambda: (j := submitter.status(job.id)).backend_ref and j, 90, what="the job to start")
        ref = ProcessRef.from_dict(running.backend_ref)
        out = _stop(first)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0 and "stopped (running jobs continue)" in out
    assert ref.alive() and submitter.status(job.id).status is JobStatus.RUNNING
    second = _worker(root, "--max-workers", "1")
    try:
        final = wait_for(lambda: (j := submitter.status(job.id)).terminal and j, 120, what="the job to finish")
        time.sleep(0.5)  # a few dispatcher steps of the new worker after the end
    finally:
        out = _stop(second)
    assert second.returncode == 0, out
    assert final.status is JobStatus.SUCCEEDED and final.steps_done == 2048 and final.attempt == 1
    assert model_timesteps(root.run_dir(job.id) / "agents" / "ego") == 2048
    spawned = [e for e in submitter.store.events(job.id) if e.kind == "spawned"]
    assert len(spawned) == 1 and spawned[0].data["pid"] == ref.pid  # the same process throughout


def _job_args(root, job_id: str, url: str) -> list[str]:
    run = root.runs / job_id
    return ["train", "--config", str(run / "config.yml"), "--run-dir", str(run), f"--job-id={job_id}", "--jobs-db",
            url]


@pytest.mark.parametrize("bad", ["../x", "a/b", "-rf", "..", "0" * 31 + "/"])
def test_train_rejects_a_bad_job_id(root, tmp_path, capsys, bad):
    code = main(["train", "--config", str(tmp_path / "c.yml"), "--run-dir", str(tmp_path / "r"), f"--job-id={bad}",
                 "--jobs-db", root.db_url])
    err = capsys.readouterr().err
    assert code == 2 and f"job id {bad!r} is not valid" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_train_job_flags_need_each_other_and_a_running_job(make_backend, root, capsys):
    backend = make_backend(max_workers=1)
    job = backend.submit("alice", "train", tiny_config())
    args = _job_args(root, job.id, backend.store.url_text)
    assert main(args[:-2]) == 2 and "--job-id needs --jobs-db" in capsys.readouterr().err
    assert main(["train", "RPS-v0", "PPO", "PPO", "--jobs-db", root.db_url]) == 2
    assert "--jobs-db needs --job-id" in capsys.readouterr().err
    assert main([*args, "--resume", str(root.runs / job.id)]) == 2
    assert "--resume cannot be given" in capsys.readouterr().err
    assert main(args) == 2  # still QUEUED: only the dispatcher starts a job
    assert "is QUEUED, not RUNNING" in capsys.readouterr().err
    unknown = _job_args(root, job.id, root.db_url)
    unknown[unknown.index(f"--job-id={job.id}")] = f"--job-id={'0' * 32}"
    assert main(unknown) == 2 and f"no job {'0' * 32}" in capsys.readouterr().err
    after = backend.status(job.id)
    assert after.status is JobStatus.QUEUED and [e.kind for e in backend.store.events(job.id)] == ["submitted"]
    assert sorted(p.name for p in (root.runs / job.id).iterdir()) == ["config.yml", "run.lock"]  # nothing trained


def test_a_second_copy_of_a_running_job_exits_at_once_and_touches_nothing(make_backend, root, capsys):
    backend = make_backend(max_workers=1)
    job = backend.submit("alice", "train", tiny_config())
    store = JobStore(root.db_url)
    try:
        assert store.transition(job.id, JobStatus.QUEUED, JobStatus.RUNNING, actor="test")
        lock = lock_run(root.runs / job.id)  # the live copy holds the run folder
        try:
            events = len(store.events(job.id))
            assert main(_job_args(root, job.id, root.db_url)) == 2
            assert "in use by another training process" in capsys.readouterr().err
        finally:
            lock.close()
        assert store.get(job.id).status is JobStatus.RUNNING and len(store.events(job.id)) == events
        assert not (root.runs / job.id / "progress.csv").exists()
    finally:
        store.close()


def test_a_job_with_a_bad_config_ends_failed_with_the_reason(make_backend, root, capsys):
    """The training process records its own failure (exit 2 for bad config) with a one-line reason."""
    backend = make_backend(max_workers=1)
    job = backend.submit("alice", "train", tiny_config())
    (root.runs / job.id / "config.yml").write_text("env: RPS-v0\nego: PPO\npartners: [DEFAULT]\nn_envs: 0\n")
    store = JobStore(root.db_url)
    try:
        assert store.transition(job.id, JobStatus.QUEUED, JobStatus.RUNNING, actor="test")
        assert main(_job_args(root, job.id, root.db_url)) == 2
        failed = store.get(job.id)
        assert failed.status is JobStatus.FAILED and "n_envs" in failed.reason and "\n" not in failed.reason
    finally:
        store.close()


@pytest.mark.parametrize(("flags", "message"), [(["--max-workers", "0"], "--max-workers 0"),
                                                (["--poll", "0"], "--poll 0")])
def test_worker_rejects_bad_flags(tmp_path, capsys, flags, message):
    assert main(["worker", "--data-dir", str(tmp_path / "d"), *flags]) == 2
    assert message in capsys.readouterr().err


def test_worker_rejects_a_file_as_data_dir(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["worker", "--data-dir", str(tmp_path / "f")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_help_documents_the_job_flags_and_the_worker(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--job-id ID" in out and "--jobs-db URL" in out
    assert main(["--help"]) == 0
    assert "worker  --data-dir DIR" in capsys.readouterr().out
