"""API fuzz test (issue 9 acceptance): every operation of ``/api/openapi.json`` driven by schemathesis through the
Flask app (WSGI), with a user's bearer token, without credentials, with a wrong token and with a session cookie
but no CSRF token. No generated request may get a 5xx; authenticated answers must use a status code, content type
and (for 2xx) body schema the document states. The dispatcher is off (``create_app(start_backend=False)``), so
submitted jobs stay QUEUED and no training process is ever started.

Each test prints how many cases it ran (``pytest -s``) and asserts a minimum. ``PANTHEONRL_FUZZ_SCALE=10`` runs ten
times as many cases (a longer hunt than CI's default).
"""

from __future__ import annotations

import collections
import os
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pantheonrl.jobs import JobStatus, new_job_id
from pantheonrl.webui.openapi import EXAMPLE_JOB
from tests.webui.conftest import TINY, csrf_token, finished_job, login, openapi_path

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# unauthenticated answers: the document lists 401 for every protected operation, 404 is Flask's routing answer
# when a negative case breaks a path parameter's pattern
OPEN_OPERATIONS = {"GET /api/openapi.json"}
SCALE = max(1, int(os.environ.get("PANTHEONRL_FUZZ_SCALE", "1")))


def _settings(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, database=None, derandomize=False,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


class Tally:
    """Cases run per operation, status codes seen, and every failure with a curl command to reproduce it."""

    def __init__(self) -> None:
        self.cases = 0
        self.codes: collections.Counter[tuple[str, int]] = collections.Counter()
        self.failures: list[str] = []

    def record(self, case: Any, response: Any, problem: str | None = None) -> None:
        self.cases += 1
        self.codes[(case.operation.label, response.status_code)] += 1
        if problem is not None and len(self.failures) < 20:
            self.failures.append(f"{case.operation.label} -> {response.status_code}: {problem[:400]}\n  "
                                 f"{case.as_curl_command()}\n  answer: {response.text[:300]!r}")

    def report(self, name: str, minimum: int) -> None:
        seen = {}
        for (label, code), count in sorted(self.codes.items()):
            seen.setdefault(label, []).append(f"{code}x{count}")
        print(f"\n[fuzz] {name}: {self.cases} cases; " + "; ".join(f"{k} {' '.join(v)}" for k, v in seen.items()))
        assert not self.failures, f"{len(self.failures)} failing case(s):\n" + "\n".join(self.failures)
        assert self.cases >= minimum, f"only {self.cases} cases ran, expected at least {minimum}"
        assert not any(code >= 500 for _, code in self.codes), self.codes

    def statuses(self, label: str) -> set[int]:
        return {code for (op, code) in self.codes if op == label}


def _run(operation: Any, strategy: Any, examples: int, call: Any) -> None:
    @_settings(examples)
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        call(case)

    fuzz()


@pytest.fixture
def schema(app):
    loaded = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in loaded.get_all_operations()]
    labels = {op.label for op in operations}
    # every route of the API blueprint is in the document (and so fuzzed)
    routes = {f"{method} {openapi_path(rule.rule)}"
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes - OPEN_OPERATIONS <= labels, routes - labels
    assert len(operations) >= 9
    return loaded, operations


@pytest.fixture
def seeded(state, saved_agent) -> dict[str, str]:
    """Jobs of alice the fuzz can reach by id: a finished one with a saved agent, a log and a reward curve, and a
    queued one (the dispatcher is off: it stays QUEUED unless a fuzz case cancels it)."""
    group = new_job_id()
    done = finished_job(state, "alice", saved_agent, "ego", group_id=group)
    run = state.root.run_dir(done)
    (run / "job.log").write_text("line one\nline two\n")
    (run / "progress.csv").write_text("time/total_timesteps,rollout/ep_rew_mean\n64,0.5\n128,0.75\n")
    queued = state.backend.submit("alice", "train", TINY).id
    return {"done": done, "queued": queued, "group": group}


def test_fuzz_every_operation_with_a_token(schema, state, alice_token, seeded):
    """Positive and negative cases for every operation with alice's API token, and positive cases aimed at her
    real jobs (random 32-hex ids only ever reach the 404 branch)."""
    _, operations = schema
    headers = {"Authorization": f"Bearer {alice_token}"}
    tally = Tally()
    started = time.monotonic()

    def call(case: Any) -> None:
        response = case.call(headers=headers)
        problem = None
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as exc:  # a check failed: collect it with a reproducer
            problem = f"{type(exc).__name__}: {exc}"
        tally.record(case, response, problem)

    for op in operations:
        for mode in (POSITIVE, NEGATIVE):
            _run(op, op.as_strategy(generation_mode=mode), 50, call)
        names = {p.name for p in op.path_parameters}
        if "group_id" in names:
            _run(op, op.as_strategy(path_parameters={"group_id": seeded["group"]}), 15, call)
        if "job_id" in names:
            for job_id in (seeded["done"], seeded["queued"]):
                fixed = {"job_id": job_id, **({"kind": "ego"} if "kind" in names else {})}
                _run(op, op.as_strategy(path_parameters=fixed), 15, call)
    elapsed = time.monotonic() - started
    tally.report(f"token, every operation ({elapsed:.1f} s)", minimum=900)

    # the fuzz reached the real answers, not only the error branches
    assert 200 in tally.statuses("GET /api/jobs/{job_id}")
    assert 200 in tally.statuses("GET /api/jobs/{job_id}/logs")
    assert 200 in tally.statuses("GET /api/jobs/{job_id}/metrics")
    assert 200 in tally.statuses("GET /api/agents/{job_id}/{kind}/download")
    assert 200 in tally.statuses("POST /api/jobs/{job_id}/cancel")
    assert 200 in tally.statuses("GET /api/registry") and 200 in tally.statuses("GET /api/agents")
    assert 200 in tally.statuses("GET /api/experiments/{group_id}")
    assert 200 in tally.statuses("GET /api/jobs/{job_id}/files/{name}")
    assert {400, 404} <= tally.statuses("GET /api/jobs/{job_id}/logs")
    # nothing ran: the submitted jobs wait (or were cancelled by the fuzz), no process was started
    assert state.backend.children() == {}
    statuses = {job.status for job in state.store.list()}
    assert statuses <= {JobStatus.QUEUED, JobStatus.CANCELLED, JobStatus.SUCCEEDED}, statuses
    assert state.store.get(seeded["done"]).status is JobStatus.SUCCEEDED


def _json_values() -> st.SearchStrategy[Any]:
    scalars = (st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 64)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def _near_valid_configs(registry: dict[str, Any], agent_ref: str) -> st.SearchStrategy[dict[str, Any]]:
    """EXAMPLE_JOB with a few keys replaced by registry names, small numbers, agent references or any JSON."""
    envs = [e["id"] if isinstance(e, dict) else e for e in registry["envs"]]
    partner_types = [p["type"] if isinstance(p, dict) else p for p in registry["partner_types"]]
    names = st.sampled_from(envs + registry["ego_types"] + partner_types + registry["layouts"] + ["", "x", "-h"])
    numbers = st.integers(-3, 5000)
    partner = st.one_of(
        st.sampled_from(partner_types),
        st.fixed_dictionaries({"type": st.sampled_from(partner_types)},
                              optional={"config": st.dictionaries(st.sampled_from(["n_steps", "batch_size",
                                                                                    "learning_rate", "policy"]),
                                                                  numbers | names, max_size=2),
                                        "location": st.sampled_from([agent_ref, agent_ref + "x", "a/b", None]),
                                        "deterministic": st.booleans()}),
        _json_values())
    value = {
        "env": st.sampled_from(envs) | _json_values(),
        "ego": names | _json_values(),
        "ego_config": st.dictionaries(st.sampled_from(["n_steps", "batch_size", "location", "policy",
                                                       "tensorboard_log", "gamma"]),
                                      numbers | names | st.just(agent_ref), max_size=3) | _json_values(),
        "env_config": st.dictionaries(st.sampled_from(["layout_name", "probegostart", "horizon"]),
                                      names | numbers, max_size=2) | _json_values(),
        "partners": st.lists(partner, max_size=3) | _json_values(),
    }
    keys = sorted({*EXAMPLE_JOB, "player", "device", "sampling", "self_play_shared", "framestack", "run_dir",
                   "record", "num_threads", "unknown_key"})

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        config = dict(EXAMPLE_JOB)
        for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
            if draw(st.booleans()) and key in config:
                del config[key]
            else:
                config[key] = draw(value.get(key, numbers | names | _json_values()))
        return config

    return build()


def test_fuzz_job_submission_with_near_valid_configs(schema, state, alice, alice_token, seeded):
    """``POST /api/jobs`` with the document's example changed in a few places (where deeper validation lives):
    201 and a QUEUED job with its config file, or a 400 naming the problem; never a 5xx."""
    _, operations = schema
    (submit,) = [op for op in operations if op.label == "POST /api/jobs"]
    registry = alice.get("/api/registry").get_json()
    headers = {"Authorization": f"Bearer {alice_token}"}
    tally = Tally()
    created: list[str] = []

    def call(pair: tuple[Any, dict[str, Any]]) -> None:
        case, body = pair
        case.body = body
        response = case.call(headers=headers)
        problem = None
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if response.status_code == 201:
            created.append(response.json()["id"])
        elif response.status_code == 400 and not response.json().get("message"):
            problem = "a 400 without a message"
        tally.record(case, response, problem)

    strategy = st.tuples(submit.as_strategy(), _near_valid_configs(registry, f"{seeded['done']}/ego"))
    _run(submit, strategy, 250, call)
    tally.report("near-valid job configs", minimum=200)
    assert {201, 400} <= tally.statuses("POST /api/jobs"), tally.codes
    for job_id in created:
        job = state.store.get(job_id)
        assert job.status is JobStatus.QUEUED and job.owner_id == "alice"
        assert (state.root.run_dir(job_id) / "config.yml").is_file()
    assert state.backend.children() == {}


def test_fuzz_without_credentials(schema, app, state, seeded):
    """No credentials, a wrong bearer token, or a session cookie without the CSRF token on POST: 401 (or 400 for
    CSRF, 404 for a path the routes do not match) everywhere except the document itself; never a 5xx."""
    _, operations = schema
    tally = Tally()
    session = app.test_client()
    assert login(session, "alice").status_code == 302
    csrf_token(session)
    cookie = session.get_cookie("session")
    assert cookie is not None
    variants = {
        "anonymous": ({}, {}),
        "wrong token": ({"Authorization": "Bearer not-a-real-token"}, {}),
        "session without CSRF": ({}, {"session": cookie.value}),
    }

    for variant, (headers, cookies) in variants.items():
        def call(case: Any, headers: dict[str, str] = headers, cookies: dict[str, str] = cookies,
                 variant: str = variant) -> None:
            # schemathesis also generates the documented credentials (a random 'session' cookie, a random
            # 'Authorization' header): keep them for the anonymous variant, replace them for the others
            if cookies:
                case.cookies = dict(cookies)
            if headers or cookies:
                case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            response = case.call(headers=headers)
            code, label = response.status_code, case.operation.label
            problem = None
            if code >= 500:
                problem = "server error"
            elif label in OPEN_OPERATIONS:
                problem = None if code == 200 else f"the document must be public, got {code}"
            elif variant == "wrong token":
                problem = None if code == 401 else f"a wrong token got {code}: it must be a 401, even before routing"
            elif label.startswith("POST ") and variant == "session without CSRF":
                problem = None if code == 400 else f"a cookie POST without a CSRF token got {code}, expected 400"
            elif label.startswith("POST "):  # anonymous: the CSRF check (400) comes before the login check
                problem = None if code in (400, 401) else f"an anonymous POST got {code}, expected 400 or 401"
            elif variant == "anonymous" and code not in (401, 404):
                problem = f"an anonymous request got {code}, expected 401"
            tally.record(case, response, problem)

        for op in operations:
            for mode in (POSITIVE, NEGATIVE):
                _run(op, op.as_strategy(generation_mode=mode), 12, call)
    tally.report("no / wrong credentials, cookie without CSRF", minimum=180)
    assert 401 in tally.statuses("GET /api/jobs") and 401 in tally.statuses("POST /api/jobs")
    assert 400 in tally.statuses("POST /api/jobs/{job_id}/cancel")
    assert 200 in tally.statuses("GET /api/jobs")  # the session variant was logged in (GET needs no CSRF)
    # nobody without credentials moved alice's jobs
    assert state.store.get(seeded["queued"]).status is JobStatus.QUEUED
    assert not state.store.get(seeded["queued"]).cancel_requested
    assert len(state.store.list(owner_id="alice")) == 2
    assert app.test_client().get("/api/openapi.json").status_code == 200
