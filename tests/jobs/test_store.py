"""The job table: state machine, compare-and-set under races, idempotent submission, bad ids, the reconciler's
decisions with a faked clock, and the heartbeat thread of a training process (no training here)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

from pantheonrl.errors import ConfigError, UserInputError
from pantheonrl.jobs import (
    TRANSITIONS,
    IllegalTransitionError,
    InvalidJobIdError,
    JobNotFoundError,
    JobRuntime,
    JobStatus,
    JobStore,
    ProcessRef,
    SubmitTokenReusedError,
    check_transition,
    reconcile,
)
from pantheonrl.jobs.process import process_start_time
from tests.jobs.conftest import tiny_config, wait_for

Q, R, S, F, C, INT = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED,
                      JobStatus.CANCELLED, JobStatus.INTERRUPTED)
BAD_IDS = ["../etc", "a/b", "/abs/path", "-rf", "--config", "..", "", "0" * 31, "0" * 33, "A" * 32, "0" * 31 + "/",
           "0" * 31 + "\n"]


@pytest.fixture
def store(root):
    s = JobStore(root.db_url)
    yield s
    s.close()


def _running(store, **kwargs):
    job = store.submit("alice", "train", {"x": 1}, **kwargs)
    assert store.transition(job.id, Q, R, actor="test")
    return store.get(job.id)


# ------------------------------------------------------------------------------------------ state machine
def test_the_transition_table_is_the_documented_one():
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {(Q, R), (Q, C), (R, S), (R, F), (R, C), (R, INT), (INT, Q), (INT, F), (INT, C)}
    for a in JobStatus:
        for b in JobStatus:
            if (a, b) in allowed:
                assert check_transition(a.value, b.value) == (a, b)
            else:
                with pytest.raises(IllegalTransitionError, match=f"from {a.value} to {b.value}"):
                    check_transition(a, b)
    for terminal in (S, F, C):
        with pytest.raises(IllegalTransitionError, match="terminal"):
            check_transition(terminal, R)


def test_an_unknown_status_names_the_allowed_ones():
    with pytest.raises(IllegalTransitionError, match=r"unknown job status 'RUNING'.*QUEUED.*did you mean RUNNING"):
        check_transition("RUNING", "SUCCEEDED")
    assert issubclass(IllegalTransitionError, UserInputError)


def test_an_illegal_transition_changes_nothing(store):
    job = store.submit("alice", "train", {"x": 1})
    with pytest.raises(IllegalTransitionError):
        store.transition(job.id, Q, S, actor="test")
    with pytest.raises(IllegalTransitionError, match="unknown job status 'DONE'"):
        store.transition(job.id, Q, "DONE", actor="test")
    assert store.get(job.id).status is Q
    assert [e.kind for e in store.events(job.id)] == ["submitted"]
    assert not store.transition(job.id, R, S, actor="test")  # legal, but the job is not RUNNING: no change
    assert store.get(job.id).status is Q


def test_transitions_stamp_times_and_count_attempts(store):
    job = _running(store)
    assert job.started_at is not None and job.heartbeat_at == job.started_at and job.finished_at is None
    assert job.started_at.tzinfo is not None
    assert not store.transition(job.id, R, INT, actor="test", attempt=2)  # the attempt guard
    assert store.transition(job.id, R, INT, actor="test", attempt=1, reason="lost\nat step 3")
    assert store.get(job.id).reason == "lost at step 3"  # one line
    assert store.transition(job.id, INT, Q, actor="test")
    again = store.get(job.id)
    assert again.attempt == 2 and again.backend_ref is None and again.heartbeat_at is None
    assert store.transition(job.id, Q, R, actor="test") and store.transition(job.id, R, S, actor="test")
    done = store.get(job.id)
    assert done.terminal and done.finished_at >= done.started_at
    assert [(e.from_status, e.to_status) for e in store.events(job.id) if e.kind == "transition"] == [
        ("QUEUED", "RUNNING"), ("RUNNING", "INTERRUPTED"), ("INTERRUPTED", "QUEUED"), ("QUEUED", "RUNNING"),
        ("RUNNING", "SUCCEEDED")]
    with pytest.raises(TypeError, match="cannot set owner_id"):
        store.transition(job.id, R, S, actor="test", owner_id="mallory")


@pytest.mark.parametrize("target", [R, C])
def test_racing_actors_only_one_wins(root, target):
    """Eight threads on two store objects (separate connections) race QUEUED -> target for each of 5 jobs."""
    stores = [JobStore(root.db_url) for _ in range(2)]
    try:
        jobs = [stores[0].submit("alice", "train", {"n": i}) for i in range(5)]
        barrier = threading.Barrier(8)
        wins: list[str] = []
        errors: list[BaseException] = []

        def race(k: int) -> None:
            try:
                barrier.wait()
                for job in jobs:
                    if stores[k % 2].transition(job.id, Q, target, actor=f"actor{k}"):
                        wins.append(job.id)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sorted(wins) == sorted(j.id for j in jobs)  # each job moved exactly once
        for job in jobs:
            assert stores[1].get(job.id).status is target
            assert len([e for e in stores[1].events(job.id) if e.kind == "transition"]) == 1
    finally:
        for s in stores:
            s.close()


# ------------------------------------------------------------------------------------------ submit
def test_submit_is_idempotent_per_owner_and_token(store):
    a = store.submit("alice", "train", {"x": 1}, "form-123")
    b = store.submit("alice", "train", {"x": 1}, "form-123")
    assert a.id == b.id and a.status is Q and len(a.id) == 32
    assert len(store.list()) == 1 and [e.kind for e in store.events(a.id)] == ["submitted"]
    c = store.submit("bob", "train", {"x": 1}, "form-123")  # the token is unique per owner
    assert c.id != a.id
    assert store.submit("alice", "train", {"x": 1}).id not in (a.id, c.id)  # no token: always new
    with pytest.raises(SubmitTokenReusedError, match="form-123"):
        store.submit("alice", "train", {"x": 2}, "form-123")
    assert len(store.list()) == 3 and len(store.list(owner_id="alice")) == 2


def test_concurrent_repeated_submits_make_one_job(root):
    stores = [JobStore(root.db_url) for _ in range(2)]
    try:
        barrier = threading.Barrier(6)
        ids: list[str] = []

        def submit(k: int) -> None:
            barrier.wait()
            ids.append(stores[k % 2].submit("alice", "train", {"x": 1}, "double-click").id)

        threads = [threading.Thread(target=submit, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == 6 and len(set(ids)) == 1
        assert len(stores[0].list()) == 1
    finally:
        for s in stores:
            s.close()


def test_backend_submit_checks_the_config_and_prepares_one_folder(make_backend, root):
    backend = make_backend(max_workers=1)
    job = backend.submit("alice", "train", tiny_config(), "t1")
    again = backend.submit("alice", "train", tiny_config(), "t1")
    assert again.id == job.id
    assert [p.name for p in root.runs.iterdir()] == [job.id]
    assert (root.runs / job.id / "config.yml").is_file() and job.steps_total == 512
    with pytest.raises(ConfigError, match="LiarDice-v0"):
        backend.submit("alice", "train", {**tiny_config(), "env": "LiarDice-v0"})
    with pytest.raises(ConfigError, match="ego_save"):
        backend.submit("alice", "train", {**tiny_config(), "ego_save": "/tmp/evil"})
    with pytest.raises(ConfigError, match="run_dir"):
        backend.submit("alice", "train", {**tiny_config(), "run_dir": "../../elsewhere"})
    with pytest.raises(ConfigError, match="unknown job kind 'shell'"):
        backend.submit("alice", "shell", tiny_config())
    assert len(backend.list()) == 1 and [p.name for p in root.runs.iterdir()] == [job.id]


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_job_ids_are_rejected_before_any_lookup(store, root, bad):
    for call in (lambda: store.get(bad), lambda: store.events(bad), lambda: root.run_dir(bad),
                 lambda: store.transition(bad, Q, R, actor="x"), lambda: store.request_cancel(bad, "x")):
        with pytest.raises(InvalidJobIdError, match="not valid: a job id is the 32 lowercase hex"):
            call()
    assert not any(root.runs.iterdir())


def test_unknown_and_foreign_jobs_are_not_found(store):
    job = store.submit("alice", "train", {"x": 1})
    with pytest.raises(JobNotFoundError):
        store.get("0" * 32)
    with pytest.raises(JobNotFoundError):
        store.get(job.id, owner_id="bob")
    assert store.get(job.id, owner_id="alice").id == job.id


def test_a_cancel_request_on_a_finished_job_is_ignored(store):
    job = _running(store)
    assert store.transition(job.id, R, S, actor="test")
    assert store.request_cancel(job.id, "alice").cancel_requested_at is None
    assert store.heartbeat(job.id) is None  # only a RUNNING job takes heartbeats


# ------------------------------------------------------------------------------------------ reconciler, faked clock
def test_reconciler_leaves_fresh_and_alive_jobs_alone(store, root):
    alive = _running(store)
    store.update(alive.id, actor="test", backend_ref=ProcessRef.of(os.getpid()).to_dict())  # this very process
    now = store.get(alive.id).heartbeat_at
    assert reconcile(store, root, now=now + dt.timedelta(seconds=30)) == []  # fresh
    outcomes = reconcile(store, root, now=now + dt.timedelta(hours=1))  # stale but alive: never a second copy
    assert [(o.job_id, o.status, o.reason) for o in outcomes] == [(alive.id, R, "unresponsive")]
    assert store.get(alive.id).status is R


def test_reconciler_fails_a_lost_job_without_checkpoint_and_sees_through_pid_reuse(store, root):
    job = _running(store)
    me = ProcessRef.of(os.getpid())
    # the pid is alive, but it is not the job's process: it started at another time
    store.update(job.id, actor="test", backend_ref={**me.to_dict(), "start_time": me.start_time + 1})
    store.heartbeat(job.id, steps_done=40960)
    root.run_dir(job.id).mkdir()
    now = store.get(job.id).heartbeat_at + dt.timedelta(seconds=61)
    [outcome] = reconcile(store, root, now=now)
    assert outcome.status is F
    final = store.get(job.id)
    assert final.status is F and final.reason.startswith("process lost at step 40960") and "no checkpoint" in (
        final.reason)
    assert [e.to_status for e in store.events(job.id) if e.kind == "transition"] == ["RUNNING", "INTERRUPTED",
                                                                                      "FAILED"]


def test_reconciler_respects_the_retry_budget_and_cancel_requests(store, root):
    spent = _running(store, max_attempts=1)
    cancelled = _running(store)
    store.request_cancel(cancelled.id, "alice")
    for job in (spent, cancelled):
        root.run_dir(job.id).mkdir()
    now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)  # no process recorded: gone
    outcomes = {o.job_id: o for o in reconcile(store, root, now=now)}
    assert outcomes[spent.id].status is F and "gave up after 1 attempt" in outcomes[spent.id].reason
    assert outcomes[cancelled.id].status is C and "cancelled by alice" in outcomes[cancelled.id].reason


def test_reconciler_applies_the_status_file_of_a_process_that_could_not_reach_the_database(store, root):
    job = _running(store)
    run = root.run_dir(job.id)
    run.mkdir()
    (run / "status.json").write_text(json.dumps({"job_id": job.id, "attempt": 1, "status": "SUCCEEDED",
                                                 "reason": None, "steps_done": 512, "exit_code": 0}))
    [outcome] = reconcile(store, root, now=job.started_at + dt.timedelta(minutes=2))
    assert outcome.status is S and store.get(job.id).steps_done == 512


def test_process_identity_uses_the_start_time():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        ref = ProcessRef.of(proc.pid)
        assert ref.start_time == process_start_time(proc.pid) is not None and ref.alive()
        impostor = ProcessRef(pid=ref.pid, pgid=ref.pgid, start_time=ref.start_time + 1, host=ref.host)
        assert not impostor.alive() and not impostor.signal_group()  # no signal to a process that is not ours
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert process_start_time(proc.pid) is None and not ref.alive()


# ------------------------------------------------------------------------------------------ the job side
def test_heartbeats_run_on_their_own_and_carry_the_cancel_request(store, root):
    job = _running(store)
    run = root.run_dir(job.id)
    run.mkdir()
    runtime = JobRuntime(store, job.id, run, heartbeat_s=0.05)
    session = SimpleNamespace(ego=SimpleNamespace(num_timesteps=0, logger=SimpleNamespace(output_formats=[])),
                              stop_reason=None)
    runtime.begin()
    runtime.attach(session)
    try:
        session.ego.num_timesteps = 1234  # the main thread is "busy training"; the heartbeat thread reports it
        wait_for(lambda: store.get(job.id).steps_done == 1234, 10, what="a heartbeat with progress")
        beats = {store.get(job.id).heartbeat_at for _ in range(1)}
        wait_for(lambda: store.get(job.id).heartbeat_at not in beats, 10, what="another heartbeat")
        store.request_cancel(job.id, "alice")
        wait_for(lambda: session.stop_reason is not None, 10, what="the cancel to reach the session")
        assert session.stop_reason == "cancel requested by alice"
        assert runtime.outcome(0) == (C, "cancelled by alice at step 1234")
        assert runtime.finish(C, "cancelled by alice at step 1234", 0)
    finally:
        runtime.close()
    final = store.get(job.id)
    assert final.status is C and final.steps_done == 1234
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "CANCELLED" and status["exit_code"] == 0 and status["attempt"] == 1
