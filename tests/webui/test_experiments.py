"""Population and cross-play experiments through the API and the forms: N seeded jobs in one group, a population
as a partner pool and as cross-play rows, a cross-play job that runs and serves its matrix and heatmap."""

from __future__ import annotations

import pytest
import torch

from pantheonrl.jobs import JobStatus, new_job_id
from tests.jobs.conftest import drive
from tests.webui.conftest import TINY, csrf_token, finished_job

torch.set_num_threads(1)


@pytest.fixture
def api(app, alice_token):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {alice_token}"
    return client


@pytest.fixture(scope="module")
def other_agent(tmp_path_factory):
    """A second RPS-v0 artefact (another seed: other action preferences than ``saved_agent``)."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    import pantheonrl  # noqa: F401
    from pantheonrl.artifacts import save_agent

    env = gym.make("RPS-v0")
    model = PPO("MlpPolicy", env.get_dummy_env(0), n_steps=64, batch_size=64, seed=5)
    return save_agent(model, tmp_path_factory.mktemp("artefact2") / "ego", env_id="RPS-v0", seed=5).path


@pytest.fixture
def population(state, saved_agent, other_agent):
    """A finished population of alice's: two SUCCEEDED members with saved egos and one still QUEUED."""
    group = new_job_id()
    done = [finished_job(state, "alice", agent, group_id=group, config={**TINY, "seed": seed})
            for seed, agent in ((0, saved_agent), (1, other_agent))]
    state.backend.submit("alice", "train", {**TINY, "seed": 2}, group_id=group)
    return group, done


def test_a_population_is_n_seeded_jobs_in_one_group(api, state):
    body = {"kind": "population", "members": 3, "config": {**TINY, "seed": 10}}
    response = api.post("/api/experiments?label=sweep", json=body, headers={"Idempotency-Key": "pop-1"})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    group = data["group_id"]
    assert response.headers["Location"] == f"/api/experiments/{group}"
    assert [j["config"]["seed"] for j in data["jobs"]] == [10, 11, 12]
    assert {j["group_id"] for j in data["jobs"]} == {group}
    assert [j["label"] for j in data["jobs"]] == ["sweep-s10", "sweep-s11", "sweep-s12"]
    assert [j["id"] for j in api.get(f"/api/experiments/{group}").get_json()["jobs"]] == \
        [j["id"] for j in data["jobs"]]
    again = api.post("/api/experiments?label=sweep", json=body, headers={"Idempotency-Key": "pop-1"})
    assert again.status_code == 200 and again.get_json()["group_id"] == group
    assert len(state.store.list()) == 3  # nothing queued twice


@pytest.mark.parametrize(("body", "message"), [
    ({"kind": "population", "members": 1, "config": TINY}, "members: 1 must be a whole number from 2 to 64"),
    ({"kind": "population", "members": 65, "config": TINY}, "from 2 to 64"),
    ({"kind": "population", "members": 2}, "config: give the members' training config"),
    ({"kind": "population", "members": 2, "config": {**TINY, "ego": "NOPE"}}, "NOPE"),
    ({"kind": "population", "members": 2, "config": TINY, "extra": 1}, "unknown population option 'extra'"),
    ({"kind": "tournament"}, "unknown experiment kind 'tournament'"),
    ({"kind": "crossplay", "rows": []}, "rows: give a list of agents"),
    ({"kind": "crossplay", "rows": ["../../etc/passwd"]}, "is not allowed: an agent is"),
    ({"kind": "crossplay", "rows": ["-rf"]}, "is not allowed: an agent is"),
    ({"kind": "crossplay", "rows": ["a" * 32 + "/ego"], "episodes": 0}, "no job"),
])
def test_bad_experiments_are_400_and_queue_nothing(api, state, body, message):
    response = api.post("/api/experiments", json=body)
    assert response.status_code in (400, 404), response.get_json()
    assert message in response.get_json()["message"]
    assert state.store.list() == []


def test_a_population_is_a_partner_pool(api, state, population):
    group, done = population
    config = {**TINY, "partners": [{"type": "FIXED", "location": group}], "sampling": "random"}
    response = api.post("/api/jobs", json=config)
    assert response.status_code == 201, response.get_json()
    partners = response.get_json()["config"]["partners"]
    assert len(partners) == 2  # the two finished members, not the queued one
    assert [p["location"] for p in partners] == [str(state.root.run_dir(j) / "agents" / "ego") for j in done]
    assert response.get_json()["config"]["sampling"] == "random"


def test_a_crossplay_experiment_runs_and_serves_its_matrix(api, state, population, saved_agent):
    group, done = population
    single = finished_job(state, "alice", saved_agent)
    body = {"kind": "crossplay", "rows": [group], "cols": [f"{single}/ego", f"{done[1]}/ego"], "episodes": 3,
            "seed": 4}
    response = api.post("/api/experiments", json=body)
    assert response.status_code == 201, response.get_json()
    job = response.get_json()["jobs"][0]
    assert job["kind"] == "crossplay" and job["steps_total"] == 2 * 2 * 2 * 3
    assert list(job["config"]["rows"]) == [done[0][:8], done[1][:8]]
    assert api.get(f"/api/jobs/{job['id']}/crossplay").status_code == 404  # not yet
    record = drive(state.backend, job["id"])
    assert record.status is JobStatus.SUCCEEDED, (record.reason, state.backend.logs(job["id"]))
    matrix = api.get(f"/api/jobs/{job['id']}/crossplay").get_json()
    assert matrix["rows"] == [done[0][:8], done[1][:8]] and matrix["cols"] == [single[:8], done[1][:8]]
    assert len(matrix["means"]) == 2 and len(matrix["means"][0]) == 2 and matrix["episodes"] == 3
    assert matrix["means"][0][0] == pytest.approx(matrix["means"][0][0])  # finite numbers
    png = api.get(f"/api/jobs/{job['id']}/files/crossplay.png")
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data[:4] == b"\x89PNG"
    csv = api.get(f"/api/jobs/{job['id']}/files/crossplay.csv")
    assert csv.status_code == 200 and csv.data.startswith(b"row_agent,col_agent,seat")
    assert api.get(f"/api/jobs/{job['id']}/files/secret.txt").status_code == 400
    assert api.get(f"/api/jobs/{job['id']}/files/..%2Fjobs.sqlite").status_code in (400, 404)


def test_the_forms_launch_populations_and_crossplay(alice, state, population):
    group, done = population
    token = csrf_token(alice)
    page = alice.get("/jobs/new").get_data(as_text=True)
    assert f'value="{group}"' in page and 'name="members"' in page and 'name="sampling"' in page
    form = {"csrf_token": token, "env": "RPS-v0", "ego": "PPO", "partner_type": "FIXED",
            "partner_agent": [group, f"{done[0]}/ego"], "sampling": "robin", "total_timesteps": "512",
            "n_envs": "1", "seed": "3", "checkpoint_every": "0", "eval_episodes": "0", "members": "2"}
    response = alice.post("/jobs/new", data=form)
    assert response.status_code == 303 and "/jobs#group-" in response.headers["Location"]
    new_group = response.headers["Location"].split("#group-")[1]
    members = state.store.list(group_id=new_group, oldest_first=True)
    assert [m.config["seed"] for m in members] == [3, 4]
    assert len(members[0].config["partners"]) == 3  # the population's two egos and one more agent
    listing = alice.get("/jobs").get_data(as_text=True)
    assert f'data-group-head="{new_group}"' in listing and listing.count(f'data-group="{new_group}"') == 2

    page = alice.get("/experiments/crossplay").get_data(as_text=True)
    assert f'value="{group}"' in page and f'value="{done[0]}/ego"' in page
    response = alice.post("/experiments/crossplay", data={"csrf_token": token, "rows": [group], "episodes": "2",
                                                          "seed": "0", "both_seats": "on"})
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    job = state.store.get(job_id)
    assert job.kind == "crossplay" and job.config["episodes"] == 2 and job.config["cols"] is None
    page = alice.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'data-field="heatmap-canvas"' in page and "crossplay.png" in page
    bad = alice.post("/experiments/crossplay", data={"csrf_token": token, "episodes": "2", "seed": "0"})
    assert bad.status_code == 400 and "rows: choose at least one agent" in bad.get_data(as_text=True)
