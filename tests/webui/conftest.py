"""Dashboard fixtures: a real SQLite data dir, an app with the dispatcher off (tests move jobs through the job
table themselves), two users, logged-in test clients, and a real saved agent to put in a job's folder."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from pantheonrl.jobs import JobStatus
from pantheonrl.webui import create_app
from pantheonrl.webui.settings import create_secret_key

PASSWORD = "correct horse battery"
TINY = {"env": "RPS-v0", "ego": "PPO", "partners": ["DEFAULT"], "total_timesteps": 256,
        "ego_config": {"n_steps": 64, "batch_size": 64}, "eval_episodes": 0, "verbose": 0, "seed": 0}
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def openapi_path(rule: str) -> str:
    """A Flask rule in OpenAPI's spelling: ``/api/jobs/<hex32:job_id>`` -> ``/api/jobs/{job_id}``."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def csrf_token(client) -> str:
    """The CSRF token of the client's session, as a page gives it."""
    page = client.get("/login")
    match = _META_CSRF.search(page.get_data(as_text=True))
    assert match, "the page has no csrf-token meta tag"
    return match.group(1)


def login(client, name: str, password: str = PASSWORD) -> Any:
    token = csrf_token(client)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token})


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PANTHEONRL_AGENTS", str(tmp_path / "registry"))
    monkeypatch.delenv("PANTHEONRL_SECRET_KEY", raising=False)
    path = tmp_path / "data"
    create_secret_key(path)
    return path


@pytest.fixture
def app(data_dir):
    app = create_app(data_dir, start_backend=False)
    accounts = app.extensions["pantheonrl"].accounts
    accounts.add_user("alice", PASSWORD, admin=True)
    accounts.add_user("bob", PASSWORD)
    yield app
    app.extensions["pantheonrl"].close()


@pytest.fixture
def state(app):
    return app.extensions["pantheonrl"]


@pytest.fixture
def alice(app):
    client = app.test_client()
    assert login(client, "alice").status_code == 302
    return client


@pytest.fixture
def bob(app):
    client = app.test_client()
    assert login(client, "bob").status_code == 302
    return client


@pytest.fixture
def bob_token(state) -> str:
    return state.accounts.new_token(state.accounts.by_name("bob").id)


@pytest.fixture
def alice_token(state) -> str:
    return state.accounts.new_token(state.accounts.by_name("alice").id)


@pytest.fixture(scope="session")
def saved_agent(tmp_path_factory) -> Path:
    """A real artefact (an untrained PPO on RPS-v0), made once."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    import pantheonrl  # noqa: F401
    from pantheonrl.artifacts import save_agent

    env = gym.make("RPS-v0")
    model = PPO("MlpPolicy", env.get_dummy_env(0), n_steps=64, batch_size=64, seed=0)
    return save_agent(model, tmp_path_factory.mktemp("artefact") / "ego", env_id="RPS-v0", seed=0).path


def finished_job(state, owner: str, agent: Path | None = None, kind: str = "ego", *, group_id: str | None = None,
                 config: dict[str, Any] | None = None) -> str:
    """A job of ``owner`` moved to SUCCEEDED through the job table, with ``agent`` copied in as ``kind``."""
    job = state.backend.submit(owner, "train", config or TINY, group_id=group_id)
    state.store.transition(job.id, JobStatus.QUEUED, JobStatus.RUNNING, actor="test")
    state.store.transition(job.id, JobStatus.RUNNING, JobStatus.SUCCEEDED, actor="test", steps_done=256)
    if agent is not None:
        shutil.copytree(agent, state.root.run_dir(job.id) / "agents" / kind)
    return job.id
