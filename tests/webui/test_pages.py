"""The server-rendered pages: login redirect, the experiment form walked over the registries, submitting it, the
job page, cancel, agents."""

from __future__ import annotations

import re

from pantheonrl.jobs import JobStatus
from tests.webui.conftest import csrf_token, finished_job


def _options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    return [v for v in re.findall(r'<option value="([^"]*)"', select.group(1)) if v]


def test_pages_need_a_login(app):
    client = app.test_client()
    for path in ("/", "/jobs", "/jobs/new", "/agents"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_the_form_offers_every_registry_entry_and_each_default_config_validates(alice):
    from pantheonrl.cli import listing
    from pantheonrl.cli._common import algorithm_names
    from pantheonrl.config import TrainConfig
    from pantheonrl.webui.catalog import layouts

    html = alice.get("/jobs/new").get_data(as_text=True)
    envs = _options(html, "env")
    assert envs == [e["id"] for e in listing.envs()]
    assert set(_options(html, "ego")) == {*algorithm_names(), "CoMeDi"}
    assert set(_options(html, "partner_type")) == {p["type"] for p in listing.partners()}
    assert _options(html, "layout") == list(layouts())
    assert 'name="total_timesteps"' in html and 'min="1"' in html and "ego timesteps to train" in html
    for env in envs:  # every game's default config (its scripted partner where it has one, else PPO) validates
        default = "DEFAULT" if any(e["id"] == env and e["default_partner"] for e in listing.envs()) else "PPO"
        assert TrainConfig.from_dict({"env": env, "partners": [default]}).env == env


def test_submitting_the_form_makes_the_job(alice, state):
    token = csrf_token(alice)
    form = {"csrf_token": token, "submit_token": "f" * 32, "env": "RPS-v0", "ego": "PPO",
            "partner_type": "DEFAULT", "total_timesteps": "3000", "n_envs": "2", "seed": "7",
            "checkpoint_every": "1000", "eval_episodes": "0", "label": "rps-try", "layout": "cramped_room"}
    response = alice.post("/jobs/new", data=form)
    assert response.status_code == 303
    job = state.store.list()[0]
    assert response.headers["Location"] == f"/jobs/{job.id}"
    assert (job.config["env"], job.config["n_envs"], job.config["seed"], job.config["env_config"]) == (
        "RPS-v0", 2, 7, {})  # the layout applies to Overcooked only
    assert job.steps_total == 3000 and state.accounts.labels([job.id]) == {job.id: "rps-try"}
    assert alice.post("/jobs/new", data=form).status_code == 303 and len(state.store.list()) == 1  # resubmitted


def test_overcooked_and_population_forms(alice, state):
    token = csrf_token(alice)
    base = {"csrf_token": token, "total_timesteps": "1000", "n_envs": "1", "seed": "", "checkpoint_every": "0",
            "eval_episodes": "0"}
    overcooked = alice.post("/jobs/new", data={**base, "env": "OvercookedMultiEnv-v0", "ego": "PPO",
                                               "partner_type": "PPO", "layout": "cramped_room"})
    population = alice.post("/jobs/new", data={**base, "env": "RPS-v0", "ego": "CoMeDi", "partner_type": "PPO",
                                               "population_size": "3"})
    assert overcooked.status_code == population.status_code == 303
    by_ego = {j.config["ego"]: j.config for j in state.store.list()}
    assert by_ego["PPO"]["env_config"] == {"layout_name": "cramped_room"} and by_ego["PPO"]["seed"] is None
    assert by_ego["CoMeDi"]["ego_config"] == {"n_conventions": 3} and by_ego["CoMeDi"]["self_play_shared"]


def test_a_bad_form_is_a_400_page_with_the_message(alice, state):
    token = csrf_token(alice)
    response = alice.post("/jobs/new", data={"csrf_token": token, "env": "RPS-v0", "ego": "PPO",
                                             "partner_type": "DEFAULT", "total_timesteps": "ten",
                                             "n_envs": "1", "checkpoint_every": "0", "eval_episodes": "0"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "total_timesteps: &#39;ten&#39; is not a whole number" in html
    assert state.store.list() == []
    fixed = alice.post("/jobs/new", data={"csrf_token": token, "env": "RPS-v0", "ego": "PPO",
                                          "partner_type": "FIXED", "total_timesteps": "100", "n_envs": "1",
                                          "checkpoint_every": "0", "eval_episodes": "0", "partner_agent": "/etc"})
    assert fixed.status_code == 400 and "&lt;job id&gt;/&lt;agent kind&gt;" in fixed.get_data(as_text=True)


def test_job_page_list_cancel_and_agents(alice, state, saved_agent):
    done = finished_job(state, "alice", saved_agent)
    queued = state.backend.submit("alice", "train", {"env": "RPS-v0", "partners": ["DEFAULT"]})
    listing = alice.get("/jobs").get_data(as_text=True)
    assert done[:8] in listing and queued.id[:8] in listing and "SUCCEEDED" in listing
    page = alice.get(f"/jobs/{done}").get_data(as_text=True)
    assert f"/api/agents/{done}/ego/download" in page and "env: RPS-v0" in page and "Cancel</button>" not in page
    assert "/static/vendor/uPlot.iife.min.js" in page and 'id="curve"' in page
    queued_page = alice.get(f"/jobs/{queued.id}").get_data(as_text=True)
    assert "Cancel</button>" in queued_page
    response = alice.post(f"/jobs/{queued.id}/cancel", data={"csrf_token": csrf_token(alice)})
    assert response.status_code == 303 and state.store.get(queued.id).status is JobStatus.CANCELLED
    agents = alice.get("/agents").get_data(as_text=True)
    assert f"/api/agents/{done}/ego/download" in agents and "PPO" in agents


def test_logout(alice):
    assert alice.get("/api/jobs").status_code == 200
    assert alice.post("/logout", data={"csrf_token": csrf_token(alice)}).status_code == 302
    assert alice.get("/api/jobs").status_code == 401


def test_vendored_chart_library_and_licence_are_served(app):
    client = app.test_client()
    js = client.get("/static/vendor/uPlot.iife.min.js")
    assert js.status_code == 200 and b"uPlot" in js.data
    assert b"MIT License" in client.get("/static/vendor/uPlot.LICENSE").data
