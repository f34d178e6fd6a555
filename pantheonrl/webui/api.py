"""The JSON API under ``/api/`` (described by :mod:`pantheonrl.webui.openapi`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import UnsupportedMediaType

from pantheonrl.errors import ConfigError
from pantheonrl.webui import experiments, userjobs
from pantheonrl.webui.auth import current_user, login_required
from pantheonrl.webui.catalog import registry
from pantheonrl.webui.openapi import openapi_document

__all__ = ["api_bp"]

api_bp = Blueprint("api", __name__, url_prefix="/api")
MAX_LOG_BYTES = 1 << 20


def _int_arg(name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    text = request.args.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 12:
        raise ConfigError(f"{name}: {text!r:.40} is not a whole number; give e.g. {name}={low}")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{name}: {value} is out of range: give {low} to {high}" if high is not None
                          else f"{name}: {value} must be >= {low}")
    return value


@api_bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_document())


@api_bp.get("/registry")
@login_required
def get_registry() -> Any:
    return jsonify(registry())


@api_bp.get("/jobs")
@login_required
def list_jobs() -> Any:
    return jsonify({"jobs": userjobs.jobs_of(current_user(), status=request.args.get("status"),
                                             limit=_int_arg("limit", None, 1, userjobs.MAX_LIST))})


@api_bp.post("/jobs")
@login_required
def submit_job() -> Any:
    data = _json_body()
    job, created = userjobs.submit(current_user(), data, token=request.headers.get("Idempotency-Key"),
                                   label=request.args.get("label"))
    response = jsonify(userjobs.one_job(current_user(), job.id))
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return response


@api_bp.get("/jobs/<hex32:job_id>")
@login_required
def get_job(job_id: str) -> Any:
    return jsonify(userjobs.one_job(current_user(), job_id))


@api_bp.get("/jobs/<hex32:job_id>/logs")
@login_required
def job_logs(job_id: str) -> Any:
    return jsonify(userjobs.logs(current_user(), job_id, _int_arg("max_bytes", 65536, 1, MAX_LOG_BYTES)))


@api_bp.get("/jobs/<hex32:job_id>/metrics")
@login_required
def job_metrics(job_id: str) -> Any:
    return jsonify(userjobs.metrics(current_user(), job_id, _int_arg("after", 0, 0)))


@api_bp.post("/jobs/<hex32:job_id>/cancel")
@login_required
def cancel_job(job_id: str) -> Any:
    job = userjobs.cancel(current_user(), job_id)
    return jsonify(userjobs.one_job(current_user(), job.id))


@api_bp.get("/jobs/<hex32:job_id>/crossplay")
@login_required
def job_crossplay(job_id: str) -> Any:
    return jsonify(userjobs.crossplay_matrix(current_user(), job_id))


@api_bp.get("/jobs/<hex32:job_id>/files/<name>")
@login_required
def job_file(job_id: str, name: str) -> Any:
    return userjobs.send_job_file(current_user(), job_id, name)


def _json_body() -> Any:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON (Content-Type: application/json)")
    data = request.get_json(silent=True)
    if data is None:
        raise ConfigError("the request body is not valid JSON; see /api/openapi.json for an example")
    return data


@api_bp.post("/experiments")
@login_required
def submit_experiment() -> Any:
    group, jobs, created = experiments.submit_experiment(current_user(), _json_body(),
                                                         token=request.headers.get("Idempotency-Key"),
                                                         label=request.args.get("label"))
    response = jsonify({"group_id": group, "jobs": [userjobs.one_job(current_user(), j.id) for j in jobs]})
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/api/experiments/{group}" if group else f"/api/jobs/{jobs[0].id}"
    return response


@api_bp.get("/experiments/<hex32:group_id>")
@login_required
def get_experiment(group_id: str) -> Any:
    jobs = experiments.group_jobs(current_user(), group_id)
    return jsonify({"group_id": group_id, "jobs": [userjobs.one_job(current_user(), j.id) for j in jobs]})


@api_bp.get("/agents")
@login_required
def list_agents() -> Any:
    job_id = request.args.get("job")
    if job_id is not None:
        from pantheonrl.jobs import check_job_id

        check_job_id(job_id)
    return jsonify({"agents": userjobs.agents_of(current_user(), job_id)})


@api_bp.get("/agents/<hex32:job_id>/<kind>/download")
@login_required
def download_agent(job_id: str, kind: str) -> Any:
    data, name = userjobs.download_zip(current_user(), job_id, kind)
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
