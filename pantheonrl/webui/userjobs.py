"""A user's view of the job system, shared by the API and the pages: submit, cancel, list, read and download, each
through the ownership check and each recorded in the audit log (``job_events``: who, what, from where)."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path
from typing import Any

from flask import abort, current_app, g, request

from pantheonrl.errors import ConfigError, unknown_choice
from pantheonrl.jobs import JobRecord, JobStatus
from pantheonrl.jobs.store import utcnow
from pantheonrl.webui.accounts import UserRecord
from pantheonrl.webui.names import check_label
from pantheonrl.webui.ownership import AGENT_FILES, agent_dir, is_agent_kind, job_agents, job_for_user, owner_of
from pantheonrl.webui.submission import prepare_config

__all__ = ["agents_of", "cancel", "download_zip", "job_dict", "jobs_of", "submit"]

log = logging.getLogger("pantheonrl.webui")
MAX_LIST = 1000


def _state() -> Any:
    return current_app.extensions["pantheonrl"]


def _audit(job_id: str, user: UserRecord, what: str, **data: Any) -> None:
    """A ``web`` event in ``job_events``: the user, the action, the client address and how they authenticated."""
    _state().store.update(job_id, actor=user.name, event="web", message=f"{what} by {user.name} from "
                          f"{request.remote_addr or '-'} ({g.get('via') or 'session'})",
                          data={"action": what, "address": request.remote_addr, "via": g.get("via"), **data})


def job_dict(job: JobRecord, labels: dict[str, str] | None = None) -> dict[str, Any]:
    out = job.to_dict()
    out.pop("backend_ref", None)  # process ids are the server's business
    out["label"] = (labels or {}).get(job.id)
    return out


def jobs_of(user: UserRecord, *, status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    st = _state()
    if limit is not None and not 1 <= limit <= MAX_LIST:
        raise ConfigError(f"limit: {limit} must be between 1 and {MAX_LIST}")
    if status is not None and status not in {s.value for s in JobStatus}:
        raise ConfigError(unknown_choice("job status", status, [s.value for s in JobStatus]))
    jobs = st.store.list(owner_id=owner_of(user), status=status, limit=limit)
    labels = st.accounts.labels([j.id for j in jobs])
    return [job_dict(j, labels) for j in jobs]


def one_job(user: UserRecord, job_id: str) -> dict[str, Any]:
    job = job_for_user(_state().store, job_id, user)
    return job_dict(job, _state().accounts.labels([job.id]))


def resolver(user: UserRecord) -> Any:
    def resolve(job_id: str, kind: str) -> Path:
        st = _state()
        job = job_for_user(st.store, job_id, user)  # another user's job: 404
        folder = agent_dir(st.root, job, kind)
        if folder is None:
            raise ConfigError(f"job {job_id} has no saved agent {kind!r}; see GET /api/agents for yours")
        return folder

    return resolve


def submit(user: UserRecord, data: Any, *, token: str | None = None, label: str | None = None,
           kind: str = "train", group_id: str | None = None) -> tuple[JobRecord, bool]:
    """Queue a job for the user (a training config, checked by :func:`prepare_config`; other kinds arrive
    prepared by :mod:`pantheonrl.webui.experiments`); ``(job, created)`` (``created`` is False for a repeated
    token)."""
    st = _state()
    if token is not None:
        check_label(token, "Idempotency-Key")
    if label is not None:
        check_label(label, "label")
    if kind == "train":
        from pantheonrl.webui.experiments import expand_pools

        config = prepare_config(expand_pools(user, data), resolver(user))
    else:
        config = data
    started = utcnow()
    job = st.backend.submit(owner_of(user), kind, config, token, group_id=group_id)
    created = token is None or job.created_at >= started  # else the job submitted before with this token
    if created:
        if label is not None:
            st.accounts.set_label(job.id, label)
        _audit(job.id, user, "submitted", label=label)
        log.info("job %s submitted by %r", job.id, user.name)
    return job, created


def cancel(user: UserRecord, job_id: str) -> JobRecord:
    st = _state()
    job = job_for_user(st.store, job_id, user)
    if job.terminal:
        return job
    job = st.backend.cancel(job.id, user.name, owner_id=owner_of(user))
    _audit(job.id, user, "cancelled")
    log.info("job %s cancel requested by %r", job.id, user.name)
    return job


def logs(user: UserRecord, job_id: str, max_bytes: int) -> dict[str, Any]:
    st = _state()
    job = job_for_user(st.store, job_id, user)
    return {"job_id": job.id, "status": job.status.value,
            "text": st.backend.logs(job.id, owner_id=owner_of(user), max_bytes=max_bytes)}


def metrics(user: UserRecord, job_id: str, after: int) -> dict[str, Any]:
    st = _state()
    job = job_for_user(st.store, job_id, user)
    data = st.metrics.since(st.root.run_dir(job.id) / "progress.csv", after)
    return {"job_id": job.id, "status": job.status.value, "running": job.status is JobStatus.RUNNING, **data}


def agents_of(user: UserRecord, job_id: str | None = None) -> list[dict[str, Any]]:
    st = _state()
    jobs = ([job_for_user(st.store, job_id, user)] if job_id is not None
            else st.store.list(owner_id=owner_of(user), limit=MAX_LIST))
    return [entry.to_dict() for job in jobs for entry in job_agents(st.root, job)]


def download_zip(user: UserRecord, job_id: str, kind: str) -> tuple[bytes, str]:
    """A zip of the agent's three files, after the ownership check and the SHA-256 check of the weights (the
    bytes are copied, never loaded)."""
    from pantheonrl.artifacts import verify_artifact
    from pantheonrl.webui.ownership import AGENT_KIND_RULE

    st = _state()
    job = job_for_user(st.store, job_id, user)
    if not is_agent_kind(kind):
        check_label(kind, "agent kind")  # '..', '-x', ...: a 400 stating the rule
        raise ConfigError(f"agent kind {kind!r} is not allowed: {AGENT_KIND_RULE}")
    folder = agent_dir(st.root, job, kind)
    if folder is None:
        abort(404, description=f"job {job.id} has no saved agent {kind!r}")
    verify_artifact(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in AGENT_FILES:
            path = (folder / name).resolve()
            if not path.is_relative_to(folder) or not path.is_file():
                abort(404, description=f"the agent {kind!r} of job {job.id} is incomplete")
            archive.write(path, f"{kind}/{name}")
    _audit(job.id, user, "downloaded", kind=kind)
    return buffer.getvalue(), f"{job.id[:8]}-{kind}.zip"


# files of a job folder that may be downloaded (a fixed list: no other name ever reaches the file system)
JOB_FILES = {
    "config.yml": "text/yaml", "progress.csv": "text/csv", "job.log": "text/plain",
    "crossplay.csv": "text/csv", "crossplay.json": "application/json", "crossplay.png": "image/png",
}


def send_job_file(user: UserRecord, job_id: str, name: str) -> Any:
    """One of :data:`JOB_FILES` of the user's job (404 when the job has none yet)."""
    from flask import send_from_directory

    st = _state()
    job = job_for_user(st.store, job_id, user)
    if name not in JOB_FILES:
        check_label(name, "file name")  # '..', '-x', ...: a 400 stating the rule
        raise ConfigError(unknown_choice("job file", name, list(JOB_FILES)))
    run = st.root.run_dir(job.id).resolve()
    path = (run / name).resolve()
    if not path.is_relative_to(run) or not path.is_file():
        abort(404, description=f"job {job.id} has no {name} (yet)")
    if name != "crossplay.png":  # the heatmap is also shown on the job page
        _audit(job.id, user, "downloaded", file=name)
    return send_from_directory(run, name, mimetype=JOB_FILES[name], as_attachment=name != "crossplay.png",
                               download_name=f"{job.id[:8]}-{name}", max_age=0)


def crossplay_matrix(user: UserRecord, job_id: str) -> dict[str, Any]:
    """The cross-play result of a finished ``crossplay`` job: names, mean and sem matrices, the self-play gap."""
    from pantheonrl.eval import CrossPlayResult

    st = _state()
    job = job_for_user(st.store, job_id, user)
    path = st.root.run_dir(job.id) / "crossplay.json"
    if job.kind != "crossplay" or not path.is_file():
        abort(404, description=f"job {job.id} has no cross-play matrix" + (" yet" if job.kind == "crossplay" else ""))
    result = CrossPlayResult.from_json(path)
    gap = result.selfplay_gap() if result.is_square and len(result.names_a) >= 2 else None
    return {"job_id": job.id, "rows": result.names_a, "cols": result.names_b, "seats": result.seats,
            "episodes": result.episodes, "means": result.means.tolist(), "sems": result.sems.tolist(),
            "env": result.metadata.get("env"), "selfplay_gap": gap}
