"""The server-rendered pages: job list, new experiment, job page, agents. Live parts poll the JSON API from
``static/app.js``; every state change is a POST with the form's CSRF token."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from pantheonrl.errors import UserInputError
from pantheonrl.webui import experiments, userjobs
from pantheonrl.webui.auth import current_user, login_required
from pantheonrl.webui.experiment_form import config_from_form, crossplay_from_form, form_spec, members_from_form

__all__ = ["pages_bp"]

pages_bp = Blueprint("pages", __name__)


@pages_bp.get("/")
@login_required
def index() -> Any:
    return redirect(url_for("pages.jobs"))


def _entries(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The job list's rows: single jobs, and one entry per population (its members, oldest first)."""
    entries: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for job in jobs:
        gid = job.get("group_id")
        if gid is None:
            entries.append({"job": job})
        elif gid in groups:
            groups[gid]["jobs"].insert(0, job)
        else:
            groups[gid] = {"group_id": gid, "jobs": [job]}
            entries.append(groups[gid])
    for group in groups.values():
        members = group["jobs"]
        group["succeeded"] = sum(j["status"] == "SUCCEEDED" for j in members)
        group["active"] = sum(j["status"] in ("QUEUED", "RUNNING", "INTERRUPTED") for j in members)
    return entries


@pages_bp.get("/jobs")
@login_required
def jobs() -> Any:
    return render_template("jobs.html", entries=_entries(userjobs.jobs_of(current_user(), limit=userjobs.MAX_LIST)))


def _values(form: Any) -> dict[str, Any]:
    """The submitted form, to fill it again after an error (lists for multi-selects)."""
    return {key: (form.getlist(key) if len(form.getlist(key)) > 1 else form.get(key)) for key in form
            if key != "csrf_token"}


def _new_form(error: str | None = None, values: dict[str, Any] | None = None, status: int = 200) -> Any:
    spec = form_spec(userjobs.agents_of(current_user()), experiments.populations_of(current_user()))
    return render_template("new.html", spec=spec, error=error, values=values or {},
                           submit_token=uuid.uuid4().hex), status


@pages_bp.route("/jobs/new", methods=["GET", "POST"])
@login_required
def new_job() -> Any:
    if request.method == "GET":
        return _new_form()
    form = request.form
    try:
        config = config_from_form(form)
        members = members_from_form(form)
        token, label = form.get("submit_token") or None, form.get("label") or None
        if members > 1:
            group, _, _ = experiments.submit_experiment(
                current_user(), {"kind": "population", "members": members, "config": config}, token=token,
                label=label)
            return redirect(url_for("pages.jobs", _anchor=f"group-{group}"), code=303)
        job, _ = userjobs.submit(current_user(), config, token=token, label=label)
    except UserInputError as exc:
        return _new_form(str(exc), _values(form), 400)
    return redirect(url_for("pages.job", job_id=job.id), code=303)


def _crossplay_form(error: str | None = None, values: dict[str, Any] | None = None, status: int = 200) -> Any:
    agents = [a for a in userjobs.agents_of(current_user()) if not a.get("problem")]
    populations = [p for p in experiments.populations_of(current_user()) if p["succeeded"]]
    return render_template("crossplay.html", agents=agents, populations=populations, error=error,
                           values=values or {}, submit_token=uuid.uuid4().hex), status


@pages_bp.route("/experiments/crossplay", methods=["GET", "POST"])
@login_required
def new_crossplay() -> Any:
    if request.method == "GET":
        return _crossplay_form()
    form = request.form
    try:
        _, jobs, _ = experiments.submit_experiment(current_user(), crossplay_from_form(form),
                                                   token=form.get("submit_token") or None,
                                                   label=form.get("label") or None)
    except UserInputError as exc:
        return _crossplay_form(str(exc), _values(form), 400)
    return redirect(url_for("pages.job", job_id=jobs[0].id), code=303)


@pages_bp.get("/jobs/<hex32:job_id>")
@login_required
def job(job_id: str) -> Any:
    from pantheonrl.config import dump_yaml

    record = userjobs.one_job(current_user(), job_id)
    return render_template("job.html", job=record, config_yaml=dump_yaml(record["config"]),
                           agents=userjobs.agents_of(current_user(), job_id), files=list(userjobs.JOB_FILES))


@pages_bp.post("/jobs/<hex32:job_id>/cancel")
@login_required
def cancel(job_id: str) -> Any:
    userjobs.cancel(current_user(), job_id)
    return redirect(url_for("pages.job", job_id=job_id), code=303)


@pages_bp.get("/agents")
@login_required
def agents() -> Any:
    return render_template("agents.html", agents=userjobs.agents_of(current_user()))
