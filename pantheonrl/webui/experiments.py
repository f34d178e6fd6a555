"""Experiments of more than one run, for the API (``POST /api/experiments``) and the forms:

- **population**: ``{"kind": "population", "members": N, "config": {training config}}`` queues N training jobs
  with seeds ``seed, seed + 1, ...`` sharing one group id (one expandable row in the job list); their finished
  egos become a partner pool (a FIXED partner per member) or the rows of a cross-play matrix;
- **crossplay**: ``{"kind": "crossplay", "rows": [AGENT, ...], "cols": [AGENT, ...] or null, "episodes": 20,
  "both_seats": true, "seed": 0, "deterministic": false}`` queues one ``crossplay`` job, where an AGENT is a saved
  agent ``<job id>/<agent kind>`` or a population's group id (its finished members' egos).

Agents are the user's own (the ownership check of :mod:`pantheonrl.webui.ownership`, 404 otherwise) and are
handed to the job as their artefact folders, never as names a user typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import abort, current_app

from pantheonrl.errors import ConfigError, UserInputError, check_known_keys, check_whole, unknown_choice
from pantheonrl.jobs import JobRecord, JobStatus, check_job_id, new_job_id
from pantheonrl.webui import userjobs
from pantheonrl.webui.accounts import UserRecord
from pantheonrl.webui.names import check_label
from pantheonrl.webui.ownership import agent_dir, owner_of
from pantheonrl.webui.submission import parse_agent_ref

__all__ = ["EXPERIMENT_KINDS", "MAX_MEMBERS", "expand_pools", "group_jobs", "population_agents", "populations_of",
           "submit_experiment"]

EXPERIMENT_KINDS = ("population", "crossplay")
MAX_MEMBERS = 64
MAX_SIDE = 32
_CROSSPLAY_OPTIONS = ("episodes", "both_seats", "seed", "deterministic")
AGENT_RULE = ("an agent is a saved agent '<job id>/<agent kind>' (GET /api/agents) or the group id of one of your "
              "populations (its finished members' egos)")


def _state() -> Any:
    return current_app.extensions["pantheonrl"]


def submit_experiment(user: UserRecord, data: Any, *, token: str | None = None, label: str | None = None
                      ) -> tuple[str | None, list[JobRecord], bool]:
    """Queue the experiment ``data`` describes: ``(group id or None, its jobs, created)``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"the request body must be a JSON object with a 'kind' ({', '.join(EXPERIMENT_KINDS)}), "
                          f"got {type(data).__name__}")
    kind = data.get("kind")
    if kind == "population":
        return _population(user, data, token, label)
    if kind == "crossplay":
        job, created = _crossplay(user, data, token, label)
        return None, [job], created
    raise ConfigError(unknown_choice("experiment kind", str(kind), EXPERIMENT_KINDS))


def _population(user: UserRecord, data: Mapping[str, Any], token: str | None, label: str | None
                ) -> tuple[str, list[JobRecord], bool]:
    from pantheonrl.config import TrainConfig

    check_known_keys(data, ["kind", "members", "config"], "population option")
    members = check_whole(data.get("members"), "members", 2, MAX_MEMBERS)
    config = data.get("config")
    if not isinstance(config, Mapping):
        raise ConfigError("config: give the members' training config as an object, e.g. {\"env\": \"RPS-v0\", "
                          "\"ego\": \"PPO\", \"partners\": [\"DEFAULT\"]}")
    base = config.get("seed")
    base = 0 if base is None else check_whole(base, "config.seed", 0, 2**32 - 1 - members)
    if token is not None:
        check_label(token, "Idempotency-Key")
        check_label(f"{token}.{members - 1}", "Idempotency-Key")
    if label is not None:
        check_label(f"{label}-s{base + members - 1}", "label")
    configs = []
    for k in range(members):  # every member checked before any is queued
        member = dict(config, seed=base + k)
        TrainConfig.from_dict(dict(userjobs.prepare_config(expand_pools(user, member), userjobs.resolver(user))))
        configs.append(member)
    group = new_job_id()
    jobs, created = [], False
    for k, member in enumerate(configs):
        job, new = userjobs.submit(user, member, token=None if token is None else f"{token}.{k}",
                                   label=None if label is None else f"{label}-s{base + k}", group_id=group)
        group = job.group_id or group  # a repeated token: the group made the first time
        jobs.append(job)
        created = created or new
    return group, jobs, created


def group_jobs(user: UserRecord, group_id: str) -> list[JobRecord]:
    """The user's jobs of one population, oldest first; 404 when there are none."""
    jobs = _state().store.list(owner_id=owner_of(user), group_id=check_job_id(group_id), oldest_first=True)
    if not jobs:
        abort(404, description=f"no experiment {group_id}")
    return jobs


def population_agents(user: UserRecord, group_id: str) -> dict[str, Path]:
    """``{name: folder}`` of the egos of a population's SUCCEEDED members (named by label, else job id)."""
    st = _state()
    jobs = [j for j in group_jobs(user, group_id) if j.status is JobStatus.SUCCEEDED]
    labels = st.accounts.labels([j.id for j in jobs])
    out = {}
    for job in jobs:
        folder = agent_dir(st.root, job, "ego")
        if folder is not None:
            out[labels.get(job.id) or job.id[:8]] = folder
    if not out:
        raise ConfigError(f"population {group_id} has no finished member with a saved ego yet; wait for one to "
                          f"succeed")
    return out


def _agent_set(user: UserRecord, refs: Any, name: str) -> dict[str, str]:
    if not isinstance(refs, list) or not refs:
        raise ConfigError(f"{name}: give a list of agents; {AGENT_RULE}")
    st = _state()
    resolve = userjobs.resolver(user)
    out: dict[str, str] = {}

    def add(key: str, folder: Path) -> None:
        unique, n = key, 2
        while unique in out:
            unique, n = f"{key}#{n}", n + 1
        out[unique] = str(folder)

    for i, ref in enumerate(refs):
        if not isinstance(ref, str) or len(ref) > 100:
            raise ConfigError(f"{name}[{i}]: {ref!r:.80} is not allowed: {AGENT_RULE}")
        if "/" not in ref:
            try:
                check_job_id(ref)
            except UserInputError:
                raise ConfigError(f"{name}[{i}]: {ref!r:.80} is not allowed: {AGENT_RULE}") from None
            for member, folder in population_agents(user, ref).items():
                add(member, folder)
            continue
        parsed = parse_agent_ref(ref)
        if parsed is None:
            raise ConfigError(f"{name}[{i}]: {ref!r:.80} is not allowed: {AGENT_RULE}")
        job_id, kind = parsed
        folder = resolve(job_id, kind)
        label = st.accounts.labels([job_id]).get(job_id) or job_id[:8]
        add(label if kind == "ego" else f"{label}/{kind}", folder)
    if len(out) > MAX_SIDE:
        raise ConfigError(f"{name}: {len(out)} agents; at most {MAX_SIDE} per side")
    return out


def _crossplay(user: UserRecord, data: Mapping[str, Any], token: str | None, label: str | None
               ) -> tuple[JobRecord, bool]:
    check_known_keys(data, ("kind", "rows", "cols", *_CROSSPLAY_OPTIONS), "cross-play option")
    config: dict[str, Any] = {"rows": _agent_set(user, data.get("rows"), "rows")}
    if data.get("cols") not in (None, []):
        config["cols"] = _agent_set(user, data["cols"], "cols")
    config.update({key: data[key] for key in _CROSSPLAY_OPTIONS if key in data})
    return userjobs.submit(user, config, token=token, label=label, kind="crossplay")


def populations_of(user: UserRecord) -> list[dict[str, Any]]:
    """The user's populations, newest first: group id, game, members, finished members."""
    st = _state()
    groups: dict[str, list[JobRecord]] = {}
    for job in st.store.list(owner_id=owner_of(user), limit=userjobs.MAX_LIST):
        if job.group_id is not None and job.kind == "train":
            groups.setdefault(job.group_id, []).append(job)
    return [{"group_id": gid, "env": jobs[0].config.get("env"), "ego": jobs[0].config.get("ego"),
             "members": len(jobs), "succeeded": sum(j.status is JobStatus.SUCCEEDED for j in jobs)}
            for gid, jobs in groups.items()]


def expand_pools(user: UserRecord, data: Any) -> Any:
    """A training config whose FIXED partners may name a population by its group id: each such partner becomes
    one FIXED partner per finished member (its ego), a partner pool; other input is returned as it is."""
    if not isinstance(data, Mapping) or not isinstance(data.get("partners"), list):
        return data
    partners: list[Any] = []
    for partner in data["partners"]:
        location = partner.get("location") if isinstance(partner, Mapping) else None
        if isinstance(location, str) and "/" not in location and len(location) == 32:
            try:
                group = check_job_id(location)
            except UserInputError:
                partners.append(partner)
                continue
            jobs = [j for j in group_jobs(user, group) if j.status is JobStatus.SUCCEEDED]
            if not jobs:
                raise ConfigError(f"population {group} has no finished member yet; wait for one to succeed")
            partners.extend({**partner, "location": f"{job.id}/ego"} for job in jobs)
        else:
            partners.append(partner)
    return {**data, "partners": partners}
