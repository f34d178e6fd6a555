"""The OpenAPI 3.1 description of the JSON API, served at ``/api/openapi.json``.

:data:`EXAMPLE_JOB` is the example request body of job submission; it is valid as it stands (a test submits it):
a PPO ego against Rock-Paper-Scissors' scripted partner for 2,048 steps.
"""

from __future__ import annotations

import copy
from typing import Any

from pantheonrl.webui.userjobs import JOB_FILES

__all__ = ["EXAMPLE_JOB", "EXAMPLE_POPULATION", "openapi_document"]

EXAMPLE_JOB: dict[str, Any] = {
    "env": "RPS-v0",
    "ego": "PPO",
    "ego_config": {"n_steps": 256, "batch_size": 64},
    "partners": [{"type": "DEFAULT"}],
    "total_timesteps": 2048,
    "n_envs": 1,
    "seed": 0,
    "checkpoint_every": 1024,
    "eval_episodes": 10,
    "verbose": 0,
}

EXAMPLE_POPULATION: dict[str, Any] = {"kind": "population", "members": 3,
                                      "config": {**EXAMPLE_JOB, "eval_episodes": 0}}

_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "a job id (32 lowercase hex characters)"}
_JOB_ID_PARAM = {"name": "job_id", "in": "path", "required": True, "schema": _ID}
_ERROR = {"description": "an error",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_STATUS = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "INTERRUPTED"]


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _ERROR for code in codes}


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error", "message", "status"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "status": {"type": "integer"},
                       "field": {"type": "string", "description": "the config field at fault, when known"}},
    },
    "TrainConfig": {
        "type": "object", "required": ["env"], "additionalProperties": True,
        "description": "a training run, the keys of pantheonrl.config.TrainConfig (the same as a YAML run config). "
                       "Strings are names, never paths: no '/', '..' or leading '-'. A FIXED partner's location "
                       "(and a LOAD ego's ego_config.location) is '<job id>/<agent kind>' of one of your jobs. "
                       "run_dir, tensorboard_log, ego_save, alt_save and record cannot be set.",
        "properties": {
            "env": {"type": "string", "description": "a game id from GET /api/registry"},
            "ego": {"type": "string", "default": "PPO"},
            "ego_config": {"type": "object"},
            "env_config": {"type": "object"},
            "partners": {"type": "array", "items": {"oneOf": [
                {"type": "string"},
                {"type": "object", "properties": {"type": {"type": "string"}, "config": {"type": "object"},
                                                  "location": {"type": ["string", "null"]},
                                                  "deterministic": {"type": "boolean"}}}]}},
            "total_timesteps": {"type": "integer", "minimum": 1},
            "n_envs": {"type": "integer", "minimum": 1, "maximum": 256},
            "seed": {"type": ["integer", "null"], "minimum": 0},
            "checkpoint_every": {"type": "integer", "minimum": 0},
            "eval_episodes": {"type": "integer", "minimum": 0},
        },
    },
    "Job": {
        "type": "object",
        "properties": {
            "id": _ID, "owner_id": {"type": "string"}, "kind": {"type": "string"},
            "status": {"type": "string", "enum": _STATUS}, "reason": {"type": ["string", "null"]},
            "label": {"type": ["string", "null"]}, "config": {"type": "object"},
            "steps_done": {"type": "integer"}, "steps_total": {"type": ["integer", "null"]},
            "last_metrics": {"type": ["object", "null"]}, "attempt": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "cancel_requested_by": {"type": ["string", "null"]},
        },
    },
    "JobList": {"type": "object", "properties": {"jobs": {"type": "array",
                                                          "items": {"$ref": "#/components/schemas/Job"}}}},
    "Logs": {"type": "object", "properties": {"job_id": _ID, "text": {"type": "string"},
                                              "status": {"type": "string", "enum": _STATUS}}},
    "Metrics": {
        "type": "object",
        "properties": {
            "job_id": _ID, "status": {"type": "string", "enum": _STATUS},
            "x": {"type": "string", "const": "time/total_timesteps"},
            "y": {"type": "string", "const": "rollout/ep_rew_mean"},
            "after": {"type": "integer"}, "next": {"type": "integer", "description": "pass as ?after= next time"},
            "rows": {"type": "array", "items": {"type": "object", "properties": {
                "timesteps": {"type": "integer"}, "ep_rew_mean": {"type": "number"}}}},
        },
    },
    "Agent": {
        "type": "object",
        "properties": {"id": {"type": "string", "description": "<job id>/<kind>"}, "job_id": _ID,
                       "kind": {"type": "string"}, "algorithm": {"type": ["string", "null"]},
                       "env_id": {"type": ["string", "null"]}, "created": {"type": ["string", "null"]},
                       "problem": {"type": ["string", "null"]}, "download": {"type": "string"}},
    },
    "AgentList": {"type": "object", "properties": {"agents": {"type": "array",
                                                              "items": {"$ref": "#/components/schemas/Agent"}}}},
    "ExperimentRequest": {
        "oneOf": [
            {"type": "object", "required": ["kind", "members", "config"], "additionalProperties": False,
             "description": "a population: members training jobs of config, with seeds seed, seed + 1, ..., sharing "
                            "one group id",
             "properties": {"kind": {"const": "population"}, "members": {"type": "integer", "minimum": 2,
                                                                          "maximum": 64},
                            "config": {"$ref": "#/components/schemas/TrainConfig"}}},
            {"type": "object", "required": ["kind", "rows"], "additionalProperties": False,
             "description": "a cross-play job: every row agent against every column agent (cols null: the rows), "
                            "in both seats. An agent is '<job id>/<agent kind>' or a population's group id (its "
                            "finished members' egos).",
             "properties": {"kind": {"const": "crossplay"},
                            "rows": {"type": "array", "minItems": 1, "maxItems": 32, "items": {"type": "string"}},
                            "cols": {"type": ["array", "null"], "maxItems": 32, "items": {"type": "string"}},
                            "episodes": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 20},
                            "both_seats": {"type": "boolean", "default": True},
                            "seed": {"type": "integer", "minimum": 0, "default": 0},
                            "deterministic": {"type": "boolean", "default": False}}},
        ],
    },
    "Experiment": {"type": "object", "properties": {
        "group_id": {"type": ["string", "null"], "description": "the population's group id (null: one job)"},
        "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}},
    "CrossPlayMatrix": {"type": "object", "properties": {
        "job_id": _ID, "rows": {"type": "array", "items": {"type": "string"}},
        "cols": {"type": "array", "items": {"type": "string"}}, "seats": {"type": "array"},
        "episodes": {"type": "integer"}, "env": {"type": ["string", "null"]},
        "means": {"type": "array", "items": {"type": "array", "items": {"type": "number"}},
                  "description": "the row agent's mean return, over both seats"},
        "sems": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "selfplay_gap": {"type": ["object", "null"]}}},
    "Registry": {
        "type": "object",
        "properties": {"envs": {"type": "array", "items": {"type": "object"}},
                       "algorithms": {"type": "array", "items": {"type": "object"}},
                       "partner_types": {"type": "array", "items": {"type": "object"}},
                       "ego_types": {"type": "array", "items": {"type": "string"}},
                       "layouts": {"type": "array", "items": {"type": "string"}}},
    },
}


def openapi_document() -> dict[str, Any]:
    """The document (a fresh copy)."""
    from pantheonrl import __version__

    doc = {
        "openapi": "3.1.0",
        "info": {"title": "pantheonrl dashboard API", "version": __version__,
                 "description": "Submit, watch and cancel training jobs and download their saved agents. Browser "
                                "calls use the session cookie and the X-CSRFToken header on POST; scripts send "
                                "'Authorization: Bearer <token>' (pantheonrl web add-user --token-file FILE). "
                                "Every job and agent is visible to its owner only."},
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "paths": {
            "/api/registry": {"get": {
                "summary": "games, algorithms, partner types (and Overcooked layouts) a job may use",
                "responses": {"200": _json("Registry", "the registries"), **_errors(401)}}},
            "/api/jobs": {
                "get": {"summary": "your jobs, newest first",
                        "parameters": [
                            {"name": "status", "in": "query", "schema": {"type": "string", "enum": _STATUS}},
                            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                         "maximum": 1000}}],
                        "responses": {"200": _json("JobList", "the jobs"), **_errors(400, 401)}},
                "post": {"summary": "submit a training job (idempotent with an Idempotency-Key)",
                         "parameters": [
                             {"name": "Idempotency-Key", "in": "header", "schema": {
                                 "type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"},
                              "description": "repeating a submission with the same key returns the same job"},
                             {"name": "label", "in": "query", "schema": {
                                 "type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"}}],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/TrainConfig"}, "example": EXAMPLE_JOB}}},
                         "responses": {"201": _json("Job", "the new job"),
                                       "200": _json("Job", "the job submitted before with this Idempotency-Key"),
                                       **_errors(400, 401, 409, 415)}},
            },
            "/api/jobs/{job_id}": {"get": {
                "summary": "one job", "parameters": [_JOB_ID_PARAM],
                "responses": {"200": _json("Job", "the job"), **_errors(401, 404)}}},
            "/api/jobs/{job_id}/logs": {"get": {
                "summary": "the tail of the job's log",
                "parameters": [_JOB_ID_PARAM, {"name": "max_bytes", "in": "query", "schema": {
                    "type": "integer", "minimum": 1, "maximum": 1048576, "default": 65536}}],
                "responses": {"200": _json("Logs", "the log tail"), **_errors(400, 401, 404)}}},
            "/api/jobs/{job_id}/metrics": {"get": {
                "summary": "the reward curve (rollout/ep_rew_mean over time/total_timesteps, from progress.csv)",
                "parameters": [_JOB_ID_PARAM, {"name": "after", "in": "query", "schema": {
                    "type": "integer", "minimum": 0, "default": 0}, "description": "rows already seen"}],
                "responses": {"200": _json("Metrics", "curve rows"), **_errors(400, 401, 404)}}},
            "/api/jobs/{job_id}/cancel": {"post": {
                "summary": "ask the job to stop (cooperatively, after a final checkpoint)",
                "parameters": [_JOB_ID_PARAM],
                "responses": {"200": _json("Job", "the job after the request"), **_errors(400, 401, 404)}}},
            "/api/jobs/{job_id}/crossplay": {"get": {
                "summary": "the matrix of a finished cross-play job",
                "parameters": [_JOB_ID_PARAM],
                "responses": {"200": _json("CrossPlayMatrix", "the matrix"), **_errors(401, 404)}}},
            "/api/jobs/{job_id}/files/{name}": {"get": {
                "summary": "a file of the job's folder",
                "parameters": [_JOB_ID_PARAM, {"name": "name", "in": "path", "required": True, "schema": {
                    "type": "string", "enum": list(JOB_FILES)}}],
                "responses": {"200": {"description": "the file", "content": {
                    kind: {"schema": {}} for kind in sorted({*JOB_FILES.values(), "text/plain"})}},
                    **_errors(400, 401, 404)}}},
            "/api/experiments": {"post": {
                "summary": "submit a population (N training jobs, one group) or a cross-play job",
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "schema": {
                        "type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}$"}},
                    {"name": "label", "in": "query", "schema": {
                        "type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}$"}}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ExperimentRequest"},
                    "example": EXAMPLE_POPULATION}}},
                "responses": {"201": _json("Experiment", "the experiment's jobs"),
                              "200": _json("Experiment", "submitted before with this Idempotency-Key"),
                              **_errors(400, 401, 404, 409, 415)}}},
            "/api/experiments/{group_id}": {"get": {
                "summary": "the jobs of a population",
                "parameters": [{"name": "group_id", "in": "path", "required": True, "schema": _ID}],
                "responses": {"200": _json("Experiment", "the jobs"), **_errors(401, 404)}}},
            "/api/trajectories": {"get": {
                "summary": "your recorded games (human play), newest first",
                "parameters": [{"name": "participant", "in": "query", "schema": {"type": "string"},
                                "description": "one study participant's games"}],
                "responses": {"200": {"description": "the records", "content": {"application/json": {
                    "schema": {"type": "object"}}}}, **_errors(401)}}},
            "/api/trajectories/{episode_id}/{fmt}": {"get": {
                "summary": "a recorded game: json (one entry per tick, overcooked_ai keys) or npy (transitions)",
                "parameters": [{"name": "episode_id", "in": "path", "required": True, "schema": _ID},
                               {"name": "fmt", "in": "path", "required": True,
                                "schema": {"type": "string", "enum": ["json", "npy"]}}],
                "responses": {"200": {"description": "the file", "content": {
                    "application/json": {"schema": {}}, "application/octet-stream": {"schema": {}}}},
                    **_errors(400, 401, 404)}}},
            "/api/trajectories/bc": {"post": {
                "summary": "a bc job: a human proxy cloned from some of your recorded games",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["records"], "additionalProperties": False,
                    "properties": {"records": {"type": "array", "minItems": 1, "items": _ID},
                                   "epochs": {"type": "integer", "minimum": 1, "maximum": 1000}}}}}},
                "responses": {"201": _json("Job", "the bc job"), **_errors(400, 401, 404)}}},
            "/api/agents": {"get": {
                "summary": "the saved agents of your jobs",
                "parameters": [{"name": "job", "in": "query", "schema": _ID, "description": "one job's agents"}],
                "responses": {"200": _json("AgentList", "the agents"), **_errors(400, 401, 404)}}},
            "/api/agents/{job_id}/{kind}/download": {"get": {
                "summary": "a zip of a saved agent (metadata.json, model.zip, policy.pt), hash-checked",
                "parameters": [_JOB_ID_PARAM, {"name": "kind", "in": "path", "required": True, "schema": {
                    "type": "string", "pattern": "^(ego|self|best-response|convention-[0-9]+|alt[0-9]+-[A-Za-z]"
                                                 "[A-Za-z0-9_]*)$"}}],
                "responses": {"200": {"description": "the zip", "content": {"application/zip": {
                    "schema": {"type": "string", "contentMediaType": "application/zip"}}}},
                    **_errors(400, 401, 404)}}},
            "/api/openapi.json": {"get": {"summary": "this document", "security": [],
                                          "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "an API token (stored hashed, shown once); skips CSRF"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session",
                               "description": "the login session; POST needs the X-CSRFToken header"},
            },
        },
    }
    return copy.deepcopy(doc)
