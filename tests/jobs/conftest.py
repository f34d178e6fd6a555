"""Job-system fixtures: a temporary data root, backends whose processes are killed (by their recorded process
group, only ours) at teardown, tiny RPS-v0 PPO configs, and helpers that drive the dispatcher."""

from __future__ import annotations

import json
import os
import signal
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pantheonrl.jobs import DataRoot, JobRecord, LocalBackend, ProcessRef

# 64-step PPO rollouts on one game copy: checkpoints at multiples of 64 fall between rollouts, so a resumed run
# lands exactly on its target
PPO_SMALL = {"n_steps": 64, "batch_size": 64}


def tiny_config(total: int = 512, checkpoint_every: int = 0, **extra: Any) -> dict[str, Any]:
    return {"env": "RPS-v0", "ego": "PPO", "partners": ["DEFAULT"], "total_timesteps": total,
            "ego_config": dict(PPO_SMALL), "eval_episodes": 0, "verbose": 0, "seed": 0,
            "checkpoint_every": checkpoint_every, **extra}


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, step: float = 0.1, what: str = "condition") -> Any:
    """Poll a real process's progress (not a clock the code under test reads)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def drive(backend: LocalBackend, job_id: str, timeout: float = 120.0) -> JobRecord:
    """Step the dispatcher until the job is terminal and its process reaped."""

    def done() -> JobRecord | None:
        backend.dispatch_once()
        job = backend.status(job_id)
        return job if job.terminal and job_id not in backend.children().values() else None

    return wait_for(done, timeout, step=0.2, what=f"job {job_id} to finish")


def model_timesteps(model_dir: Path) -> int:
    """``num_timesteps`` saved in an artefact's SB3 ``model.zip``."""
    with zipfile.ZipFile(model_dir / "model.zip") as zf:
        return int(json.loads(zf.read("data"))["num_timesteps"])


@pytest.fixture
def root(tmp_path) -> DataRoot:
    return DataRoot(tmp_path / "data")


@pytest.fixture
def make_backend(root, monkeypatch, tmp_path):
    """``make_backend(**kwargs)``: a LocalBackend on the test's data root; at teardown the training processes its
    jobs recorded are killed by process group (only if the pid still is that process) and children reaped."""
    monkeypatch.setenv("PANTHEONRL_AGENTS", str(tmp_path / "registry"))
    made: list[LocalBackend] = []

    def make(cls: type[LocalBackend] = LocalBackend, **kwargs: Any) -> LocalBackend:
        backend = cls(root, **kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.stop()
        for job in backend.store.list():
            ref = ProcessRef.from_dict(job.backend_ref)
            if ref is not None and ref.alive():
                os.killpg(ref.pgid, signal.SIGKILL)
        for _, proc, _ in backend._children.values():
            proc.wait(timeout=30)
        backend.store.close()
