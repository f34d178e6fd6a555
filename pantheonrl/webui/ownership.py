"""The one way a route reaches a job or a saved agent: by id, for the current user, or 404 (docs/web.md 4.3).

Paths are derived from server ids only (``runs/<job id>/agents/<kind>``), the kind must be one of a fixed set of
artefact kinds the training code writes, and the result is checked with ``resolve()`` and ``is_relative_to``
before anything opens it. Listing reads only ``metadata.json`` (JSON); nothing here unpickles anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import abort

from pantheonrl.jobs import DataRoot, JobNotFoundError, JobRecord, JobStore, check_job_id
from pantheonrl.webui.accounts import UserRecord

__all__ = ["AGENT_FILES", "AGENT_KIND_RULE", "AgentEntry", "agent_dir", "job_agents", "job_for_user",
           "owner_of"]

AGENTS = "agents"
# the artefact folders training writes: the ego, learning partners (alt<i>-<type>), self-play, CoMeDi conventions
# and their best response
_AGENT_KIND = re.compile(r"ego|self|best-response|convention-\d{1,4}|alt\d{1,3}-[A-Za-z][A-Za-z0-9_]{0,31}")
AGENT_KIND_RULE = "an agent kind is one of: ego, self, best-response, convention-<k>, alt<i>-<TYPE>"
AGENT_FILES = ("metadata.json", "model.zip", "policy.pt")


def owner_of(user: UserRecord) -> str:
    """The ``owner_id`` of the user's jobs in the job table."""
    return user.name


def job_for_user(store: JobStore, job_id: str, user: UserRecord) -> JobRecord:
    """The job if it exists and is the user's (admins too see only their own here); else 404."""
    try:
        return store.get(check_job_id(job_id), owner_id=owner_of(user))
    except JobNotFoundError:
        abort(404, description=f"no job {job_id}")


def is_agent_kind(kind: Any) -> bool:
    return isinstance(kind, str) and _AGENT_KIND.fullmatch(kind) is not None


def agent_dir(root: DataRoot, job: JobRecord, kind: str) -> Path | None:
    """``runs/<job>/agents/<kind>`` if ``kind`` is an artefact kind and the folder exists inside the job's agents
    folder (after resolving links); else ``None``."""
    if not is_agent_kind(kind):
        return None
    base = (root.run_dir(job.id) / AGENTS).resolve()
    folder = (base / kind).resolve()
    if not folder.is_relative_to(base) or folder == base or not folder.is_dir():
        return None
    return folder


@dataclass(frozen=True)
class AgentEntry:
    job_id: str
    kind: str
    algorithm: str | None
    env_id: str | None
    created: str | None
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": f"{self.job_id}/{self.kind}", "job_id": self.job_id, "kind": self.kind,
                "algorithm": self.algorithm, "env_id": self.env_id, "created": self.created,
                "problem": self.problem, "download": f"/api/agents/{self.job_id}/{self.kind}/download"}


def job_agents(root: DataRoot, job: JobRecord) -> list[AgentEntry]:
    """The job's saved agents (artefact kinds only), described from their ``metadata.json``."""
    from pantheonrl.artifacts import ArtifactError, read_artifact

    base = root.run_dir(job.id) / AGENTS
    if not base.is_dir():
        return []
    out = []
    for child in sorted(base.iterdir()):
        folder = agent_dir(root, job, child.name)
        if folder is None:
            continue
        try:
            art = read_artifact(folder)
            out.append(AgentEntry(job.id, child.name, art.algorithm, art.env_id, art.metadata.get("created"), None))
        except ArtifactError as exc:
            out.append(AgentEntry(job.id, child.name, None, None, None, str(exc)[:300]))
    return out
