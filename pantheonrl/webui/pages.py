"""The server-rendered pages: job list, new experiment, job page, agents. Live parts poll the JSON API from
``static/app.js``; every state change is a POST with the form's CSRF token."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from pantheonrl.errors import UserInputError
from pantheonrl.webui import userjobs
from pantheonrl.webui.auth import current_user, login_required
from pantheonrl.webui.experiment_form import config_from_form, form_spec

__all__ = ["pages_bp"]

pages_bp = Blueprint("pages", __name__)


@pages_bp.get("/")
@login_required
def index() -> Any:
    return redirect(url_for("pages.jobs"))


@pages_bp.get("/jobs")
@login_required
def jobs() -> Any:
    return render_template("jobs.html", jobs=userjobs.jobs_of(current_user(), limit=userjobs.MAX_LIST))


def _new_form(error: str | None = None, values: dict[str, str] | None = None, status: int = 200) -> Any:
    spec = form_spec(userjobs.agents_of(current_user()))
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
        job, _ = userjobs.submit(current_user(), config, token=form.get("submit_token") or None,
                                 label=form.get("label") or None)
    except UserInputError as exc:
        return _new_form(str(exc), {k: v for k, v in form.items() if k != "csrf_token"}, 400)
    return redirect(url_for("pages.job", job_id=job.id), code=303)


@pages_bp.get("/jobs/<hex32:job_id>")
@login_required
def job(job_id: str) -> Any:
    from pantheonrl.config import dump_yaml

    record = userjobs.one_job(current_user(), job_id)
    return render_template("job.html", job=record, config_yaml=dump_yaml(record["config"]),
                           agents=userjobs.agents_of(current_user(), job_id))


@pages_bp.post("/jobs/<hex32:job_id>/cancel")
@login_required
def cancel(job_id: str) -> Any:
    userjobs.cancel(current_user(), job_id)
    return redirect(url_for("pages.job", job_id=job_id), code=303)


@pages_bp.get("/agents")
@login_required
def agents() -> Any:
    return render_template("agents.html", agents=userjobs.agents_of(current_user()))
