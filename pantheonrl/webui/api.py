"""The JSON API under ``/api/`` (described by :mod:`pantheonrl.webui.openapi`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from pantheonrl.errors import ConfigError
from pantheonrl.webui import userjobs
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
    if not request.is_json:
        return jsonify({"error": "Unsupported Media Type", "status": 415,
                        "message": "send the training config as JSON (Content-Type: application/json)"}), 415
    data = request.get_json(silent=True)
    if data is None:
        raise ConfigError("the request body is not valid JSON; send a training config object, see "
                          "/api/openapi.json for an example")
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


@api_bp.get("/agents")
@login_required
def list_agents() -> Any:
    return jsonify({"agents": userjobs.agents_of(current_user())})


@api_bp.get("/agents/<hex32:job_id>/<kind>/download")
@login_required
def download_agent(job_id: str, kind: str) -> Any:
    data, name = userjobs.download_zip(current_user(), job_id, kind)
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
