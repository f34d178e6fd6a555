"""The JSON API: the OpenAPI document and its example, idempotent submission, registry, list, logs, metrics,
cancel with its audit row, agents."""

from __future__ import annotations

import io
import zipfile

import pytest

from pantheonrl.jobs import JobStatus
from pantheonrl.webui import EXAMPLE_JOB
from tests.webui.conftest import TINY, finished_job, openapi_path


@pytest.fixture
def api(app, alice_token):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {alice_token}"
    return client


def test_openapi_documents_every_api_route(app):
    doc = app.test_client().get("/api/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    routes = {openapi_path(r.rule)
              for r in app.url_map.iter_rules() if r.rule.startswith("/api/")}
    assert routes == set(doc["paths"])
    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = openapi_path(rule.rule)
            methods.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert methods == {path: set(item) for path, item in doc["paths"].items()}


def test_the_openapi_example_as_it_stands_makes_a_job(app, api, state):
    doc = app.test_client().get("/api/openapi.json").get_json()
    example = doc["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert example == EXAMPLE_JOB
    response = api.post("/api/jobs", json=example)
    assert response.status_code == 201, response.get_json()
    job = response.get_json()
    assert job["status"] == "QUEUED" and job["steps_total"] == 2048 and job["owner_id"] == "alice"
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    assert state.store.get(job["id"]).config["env"] == "RPS-v0"
    assert (state.root.run_dir(job["id"]) / "config.yml").is_file()


def test_idempotency_key_gives_the_same_job(api, state):
    first = api.post("/api/jobs", json=TINY, headers={"Idempotency-Key": "run-1"}, query_string={"label": "first"})
    again = api.post("/api/jobs", json=TINY, headers={"Idempotency-Key": "run-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["id"] == again.get_json()["id"] and len(state.store.list()) == 1
    assert again.get_json()["label"] == "first"
    other = api.post("/api/jobs", json={**TINY, "seed": 1}, headers={"Idempotency-Key": "run-1"})
    assert other.status_code == 409 and "different config" in other.get_json()["message"]
    assert len(state.store.list()) == 1 and len(list(state.root.runs.iterdir())) == 1


@pytest.mark.parametrize("body,needle", [
    ({"env": "RPS-v9", "partners": ["DEFAULT"]}, "did you mean RPS-v0"),
    ({"env": "RPS-v0", "partners": ["DEFAULT"], "total_timesteps": 0}, "out of range"),
    ({"env": "RPS-v0", "partners": ["DEFAULT"], "bogus": 1}, "unknown config key"),
    ([1, 2], "JSON object"),
])
def test_bad_configs_are_400_with_the_message(api, state, body, needle):
    response = api.post("/api/jobs", json=body)
    assert response.status_code == 400 and needle in response.get_json()["message"]
    assert state.store.list() == []


def test_non_json_bodies_are_refused(api):
    assert api.post("/api/jobs", data="env: RPS-v0", content_type="text/yaml").status_code == 415
    broken = api.post("/api/jobs", data="{not json", content_type="application/json")
    assert broken.status_code == 400 and "not valid JSON" in broken.get_json()["message"]


def test_registry_lists_what_the_cli_lists(api):
    from pantheonrl.cli import listing
    from pantheonrl.config import EGO_KINDS

    data = api.get("/api/registry").get_json()
    assert [e["id"] for e in data["envs"]] == [e["id"] for e in listing.envs()]
    assert "RPS-v0" in [e["id"] for e in data["envs"]] and "PPO" in data["ego_types"]
    assert set(EGO_KINDS) <= set(data["ego_types"])
    assert {"DEFAULT", "FIXED", "SELF"} <= {p["type"] for p in data["partner_types"]}
    assert "cramped_room" in data["layouts"]  # the overcooked extra is installed here


def test_list_get_and_filters(api, state):
    done = finished_job(state, "alice")
    queued = api.post("/api/jobs", json=TINY).get_json()["id"]
    jobs = api.get("/api/jobs").get_json()["jobs"]
    assert [j["id"] for j in jobs] == [queued, done] and "backend_ref" not in jobs[0]
    assert [j["id"] for j in api.get("/api/jobs?status=SUCCEEDED").get_json()["jobs"]] == [done]
    assert len(api.get("/api/jobs?limit=1").get_json()["jobs"]) == 1
    assert api.get("/api/jobs?status=DONE").status_code == 400
    assert api.get("/api/jobs?limit=-1").status_code == 400
    assert api.get(f"/api/jobs/{done}").get_json()["status"] == "SUCCEEDED"


def test_logs_tail(api, state):
    job_id = finished_job(state, "alice")
    (state.root.run_dir(job_id) / "job.log").write_text("".join(f"line {i}\n" for i in range(1000)))
    tail = api.get(f"/api/jobs/{job_id}/logs?max_bytes=100").get_json()
    assert tail["text"].endswith("line 999\n") and "line 1\n" not in tail["text"] and len(tail["text"]) <= 100
    assert api.get(f"/api/jobs/{job_id}/logs?max_bytes=0").status_code == 400
    assert api.get(f"/api/jobs/{job_id}/logs?max_bytes=x").status_code == 400


def test_metrics_follow_progress_csv_by_header_name(api, state):
    job_id = finished_job(state, "alice")
    csv = state.root.run_dir(job_id) / "progress.csv"
    assert api.get(f"/api/jobs/{job_id}/metrics").get_json()["rows"] == []
    csv.write_text("rollout/ep_rew_mean,time/total_timesteps\n0.5,64\n0.25,128\n")
    first = api.get(f"/api/jobs/{job_id}/metrics").get_json()
    assert first["rows"] == [{"timesteps": 64, "ep_rew_mean": 0.5}, {"timesteps": 128, "ep_rew_mean": 0.25}]
    assert first["next"] == 2 and first["x"] == "time/total_timesteps" and first["y"] == "rollout/ep_rew_mean"
    # SB3 rewrites the file with a wider header and another column order
    csv.write_text("time/total_timesteps,train/loss,rollout/ep_rew_mean\n64,,0.5\n128,,0.25\n192,0.1,1.0\n"
                   "256,0.1,\n")
    more = api.get(f"/api/jobs/{job_id}/metrics?after=2").get_json()
    assert more["rows"] == [{"timesteps": 192, "ep_rew_mean": 1.0}] and more["next"] == 3
    assert api.get(f"/api/jobs/{job_id}/metrics?after=99").get_json()["after"] == 0  # shorter: from the top
    assert api.get(f"/api/jobs/{job_id}/metrics?after=-1").status_code == 400


def test_cancel_and_the_audit_log(api, state):
    job_id = api.post("/api/jobs", json=TINY).get_json()["id"]
    response = api.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 200 and response.get_json()["status"] == "CANCELLED"
    assert response.get_json()["cancel_requested_by"] == "alice"
    web = [e for e in state.store.events(job_id) if e.kind == "web"]
    assert [(e.actor, e.data["action"], e.data["via"]) for e in web] == [("alice", "submitted", "token"),
                                                                           ("alice", "cancelled", "token")]
    assert all(e.data["address"] == "127.0.0.1" for e in web)
    assert api.post(f"/api/jobs/{job_id}/cancel").get_json()["status"] == "CANCELLED"  # again: no change
    assert state.store.get(job_id).status is JobStatus.CANCELLED


def test_agents_list_and_download(api, state, saved_agent):
    job_id = finished_job(state, "alice", saved_agent)
    agents = api.get("/api/agents").get_json()["agents"]
    assert [(a["job_id"], a["kind"], a["algorithm"], a["env_id"]) for a in agents] == [
        (job_id, "ego", "PPO", "RPS-v0")]
    response = api.get(agents[0]["download"])
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert f'filename="{job_id[:8]}-ego.zip"' in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert sorted(archive.namelist()) == ["ego/metadata.json", "ego/model.zip", "ego/policy.pt"]
        assert archive.read("ego/policy.pt") == (saved_agent / "policy.pt").read_bytes()
    assert api.get(f"/api/agents/{job_id}/alt0-PPO/download").status_code == 404  # a kind it does not have
    assert any(e.kind == "web" and e.data["action"] == "downloaded" for e in state.store.events(job_id))
