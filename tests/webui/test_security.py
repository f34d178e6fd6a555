"""docs/web.md section 4 with the Flask test client: headers, secret key, cookies, sessions, login limits, CSRF,
API tokens, ownership on every route (the URL map walked), names and paths, pickles that must never run."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import re
import zipfile

import pytest
from flask import Flask

from pantheonrl.errors import ConfigError
from pantheonrl.jobs import new_job_id
from pantheonrl.webui import create_app
from pantheonrl.webui.security import CSP
from pantheonrl.webui.settings import SECRET_FILE, load_secret_key
from tests.webui.conftest import PASSWORD, TINY, csrf_token, finished_job, login

ID = "0123456789abcdef0123456789abcdef"


# ------------------------------------------------------------------------------------------ 4.1 configuration
@pytest.mark.parametrize("path", ["/login", "/api/openapi.json", "/static/app.js", "/no-such-page", "/api/jobs"])
def test_every_answer_has_the_security_headers(app, path):
    response = app.test_client().get(path)
    assert response.headers["Content-Security-Policy"] == CSP == (
        "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP here; HSTS only over HTTPS


def test_hsts_over_https(app):
    response = app.test_client().get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_pages_have_no_inline_script_or_style(alice, state):
    job_id = finished_job(state, "alice")
    for path in ("/login", "/jobs", "/jobs/new", f"/jobs/{job_id}", "/agents"):
        html = alice.get(path).get_data(as_text=True)
        assert "<script>" not in html and "<style" not in html and " style=" not in html, path
        assert all(re.fullmatch(r"/static/[\w./-]+\.js", src) for src in re.findall(r'<script src="([^"]+)"', html))
        assert "http://" not in html and "https://" not in html, path  # nothing from a CDN


@pytest.mark.parametrize("key", ["dev", "DEV", "secret", "changeme", "short-key-123"])
def test_default_and_short_secret_keys_are_refused(data_dir, key):
    with pytest.raises(ConfigError, match="secret key"):
        create_app(data_dir, secret_key=key, start_backend=False)
    app = create_app(data_dir, secret_key=key, testing=True, start_backend=False)  # tests may
    assert app.config["SECRET_KEY"] == key
    app.extensions["pantheonrl"].close()


def test_secret_key_file_environment_and_permissions(data_dir, monkeypatch):
    key_file = data_dir / SECRET_FILE
    text = key_file.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", text) and (key_file.stat().st_mode & 0o777) == 0o600
    assert load_secret_key(data_dir) == text
    monkeypatch.setenv("PANTHEONRL_SECRET_KEY", "f" * 64)
    assert load_secret_key(data_dir) == "f" * 64
    monkeypatch.setenv("PANTHEONRL_SECRET_KEY", "dev")
    with pytest.raises(ConfigError, match="well-known default"):
        load_secret_key(data_dir)
    monkeypatch.delenv("PANTHEONRL_SECRET_KEY")
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_secret_key(data_dir)
    key_file.unlink()
    with pytest.raises(ConfigError, match="web init"):
        load_secret_key(data_dir)


def test_rotating_the_key_keeps_existing_sessions_and_signs_new_ones_with_the_new_key(data_dir, capsys):
    from pantheonrl.cli import main
    from pantheonrl.webui.settings import MAX_PREVIOUS_KEYS, PREVIOUS_FILE

    def serve():
        app = create_app(data_dir, start_backend=False)
        return app, app.test_client()

    app, client = serve()
    app.extensions["pantheonrl"].accounts.add_user("alice", PASSWORD)
    assert login(client, "alice").status_code == 302
    old_cookie = client.get_cookie("session").value
    old_key = app.config["SECRET_KEY"]
    app.extensions["pantheonrl"].close()
    keys = [old_key]
    for _ in range(MAX_PREVIOUS_KEYS + 1):
        assert main(["web", "rotate-key", "--data-dir", str(data_dir)]) == 0
        keys.insert(0, load_secret_key(data_dir))
    assert "new secret key" in capsys.readouterr().out
    assert len(set(keys)) == len(keys)  # every rotation made a new key
    previous = (data_dir / PREVIOUS_FILE).read_text().split()
    assert previous == keys[1:MAX_PREVIOUS_KEYS + 1] and (data_dir / PREVIOUS_FILE).stat().st_mode & 0o777 == 0o600

    # one rotation after login: the old cookie still works (a fallback); a new login is signed with the new key
    (data_dir / PREVIOUS_FILE).write_text(f"{old_key}\n")
    app, client = serve()
    assert app.config["SECRET_KEY"] == keys[0] and app.config["SECRET_KEY_FALLBACKS"] == [old_key]
    client.set_cookie("session", old_cookie)
    assert client.get("/api/jobs").status_code == 200
    app.extensions["pantheonrl"].close()
    # the fallback file removed: the old session is over
    (data_dir / PREVIOUS_FILE).unlink()
    app, client = serve()
    client.set_cookie("session", old_cookie)
    assert client.get("/api/jobs").status_code == 401
    app.extensions["pantheonrl"].close()


def test_no_debug_and_cookie_settings(app, alice):
    assert app.debug is False and app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 12 * 3600
    client = app.test_client()
    response = login(client, "alice")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie


def test_untrusted_host_is_refused(app):
    response = app.test_client().get("/login", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert app.test_client().get("/login", headers={"Host": "127.0.0.1:5000"}).status_code == 200


# ------------------------------------------------------------------------------------------ 4.2 accounts, sessions
def test_no_auto_registration_and_no_login_for_unknown_users(app, state):
    client = app.test_client()
    response = login(client, "mallory", "whatever-password")
    assert response.status_code == 401 and "wrong user name or password" in response.get_data(as_text=True)
    assert state.accounts.by_name("mallory") is None and state.accounts.count() == 2
    assert client.get("/api/jobs").status_code == 401


def test_passwords_are_scrypt_hashes(state):
    from sqlalchemy import text

    with state.store.engine.connect() as connection:
        hashes = [row[0] for row in connection.execute(text("SELECT password_hash FROM users"))]
    assert len(hashes) == 2 and all(h.startswith("scrypt:") and PASSWORD not in h for h in hashes)


def test_session_holds_only_user_id_and_version(app, alice, state):
    serializer = app.session_interface.get_signing_serializer(app)
    cookie = alice.get_cookie("session")
    data = serializer.loads(cookie.value)
    assert set(data) - {"csrf_token", "_permanent"} == {"uid", "sv"}  # no roles, paths or pids
    assert data["uid"] == state.accounts.by_name("alice").id and data["sv"] == 1


def test_password_change_ends_existing_sessions(alice, state):
    assert alice.get("/api/jobs").status_code == 200
    state.accounts.set_password(state.accounts.by_name("alice").id, "a new password 2")
    assert alice.get("/api/jobs").status_code == 401


def test_forged_session_cookie_is_ignored(app, state):
    other = Flask("forger")
    other.secret_key = "dev"  # PantheonRL's public default
    forged = other.session_interface.get_signing_serializer(other).dumps({"uid": 1, "sv": 1})
    client = app.test_client()
    client.set_cookie("session", forged)
    assert client.get("/api/jobs").status_code == 401


def test_login_failures_are_rate_limited(app):
    client = app.test_client()
    for _ in range(5):
        assert login(client, "alice", "wrong password!").status_code == 401
    response = login(client, "alice")  # the right password, but too many failures for this name
    assert response.status_code == 429 and "too many failed logins" in response.get_data(as_text=True)
    assert login(app.test_client(), "bob").status_code == 302  # other names are not blocked


def test_login_redirect_stays_on_this_site(app):
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/login", data={"username": "bob", "password": PASSWORD, "csrf_token": token,
                                           "next": "//evil.example/x"})
    assert response.status_code == 302 and response.headers["Location"] == "/jobs"


# ------------------------------------------------------------------------------------------ CSRF and tokens
def test_post_without_csrf_token_is_400(alice, state):
    json_post = alice.post("/api/jobs", json=TINY)
    assert json_post.status_code == 400 and "CSRF" in json_post.get_json()["message"]
    form_post = alice.post("/jobs/new", data={"env": "RPS-v0", "ego": "PPO", "partner_type": "DEFAULT"})
    assert form_post.status_code == 400 and "CSRF" in form_post.get_data(as_text=True)
    assert alice.post("/logout").status_code == 400
    bad = alice.post("/api/jobs", json=TINY, headers={"X-CSRFToken": "not-a-token"})
    assert bad.status_code == 400
    assert state.store.list() == []  # nothing was submitted
    good = alice.post("/api/jobs", json=TINY, headers={"X-CSRFToken": csrf_token(alice)})
    assert good.status_code == 201 and len(state.store.list()) == 1


def test_login_form_needs_csrf_too(app):
    response = app.test_client().post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400


def test_api_token_authenticates_and_skips_csrf_only_for_bearer_requests(app, bob_token, state):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {bob_token}"}
    response = client.post("/api/jobs", json=TINY, headers=headers)
    assert response.status_code == 201 and response.get_json()["owner_id"] == "bob"
    assert client.get("/api/jobs", headers=headers).get_json()["jobs"][0]["id"] == response.get_json()["id"]
    # a bad token is a 401, never a fall-back to a cookie session
    login(client, "bob")
    assert client.post("/api/jobs", json=TINY, headers={"Authorization": "Bearer prl_wrong"}).status_code == 401
    assert client.get("/api/jobs", headers={"Authorization": "Basic Ym9iOnB3"}).status_code == 401
    # the same client without the header: a cookie request, CSRF required
    assert client.post("/api/jobs", json=TINY).status_code == 400
    # tokens are stored hashed
    from sqlalchemy import text

    with state.store.engine.connect() as connection:
        stored = [row[0] for row in connection.execute(text("SELECT token_sha256 FROM api_tokens"))]
    assert stored == [hashlib.sha256(bob_token.encode()).hexdigest()] and bob_token not in stored


# ------------------------------------------------------------------------------------------ 4.3 ownership
def _fill(rule, job_id: str, group_id: str = "0" * 32) -> str:
    named = {"job_id": job_id, "group_id": group_id, "name": "job.log"}
    values = {arg: named.get(arg, "ego") for arg in rule.arguments}
    path = rule.rule
    for arg, value in values.items():
        path = re.sub(rf"<[^>]*:?{arg}>", value, path)
    return path


def test_another_users_job_is_404_on_every_route(app, state, alice, bob, bob_token, saved_agent):
    group = new_job_id()
    job_id = finished_job(state, "alice", saved_agent, group_id=group)
    (state.root.run_dir(job_id) / "job.log").write_text("alice's secret log\n")
    rules = [r for r in app.url_map.iter_rules() if r.arguments & {"job_id", "group_id"}]
    # api: get, logs, metrics, cancel, crossplay, files, agent download, experiment; pages: job, cancel
    assert len(rules) == 10
    csrf = csrf_token(bob)
    for rule in rules:
        path = _fill(rule, job_id, group)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            by_cookie = bob.open(path, method=method, headers={"X-CSRFToken": csrf}, data={"csrf_token": csrf})
            by_token = app.test_client().open(path, method=method, headers={"Authorization": f"Bearer {bob_token}"})
            for response in (by_cookie, by_token):
                assert response.status_code == 404, (method, path, response.status_code)
                assert "secret" not in response.get_data(as_text=True)
    assert state.store.get(job_id).cancel_requested_at is None  # bob's cancels did nothing
    assert bob.get("/api/jobs").get_json()["jobs"] == [] and bob.get("/api/agents").get_json()["agents"] == []
    assert bob.get(f"/api/agents?job={job_id}").status_code == 404
    assert alice.get(f"/api/jobs/{job_id}/files/job.log").status_code == 200  # the owner gets them
    assert alice.get(f"/api/experiments/{group}").get_json()["jobs"][0]["id"] == job_id
    assert job_id not in bob.get("/jobs").get_data(as_text=True)
    assert job_id not in bob.get("/agents").get_data(as_text=True)


def test_another_users_agent_cannot_be_a_partner(app, state, bob_token, saved_agent):
    job_id = finished_job(state, "alice", saved_agent)
    config = {**TINY, "partners": [{"type": "FIXED", "location": f"{job_id}/ego"}]}
    response = app.test_client().post("/api/jobs", json=config, headers={"Authorization": f"Bearer {bob_token}"})
    assert response.status_code == 404 and len(state.store.list()) == 1


def test_own_agent_as_fixed_partner_is_resolved_to_its_folder(app, state, alice_token, saved_agent):
    job_id = finished_job(state, "alice", saved_agent)
    config = {**TINY, "partners": [{"type": "FIXED", "location": f"{job_id}/ego"}]}
    response = app.test_client().post("/api/jobs", json=config, headers={"Authorization": f"Bearer {alice_token}"})
    assert response.status_code == 201, response.get_json()
    location = response.get_json()["config"]["partners"][0]["location"]
    assert location == str(state.root.run_dir(job_id) / "agents" / "ego")


@pytest.mark.parametrize("path", [
    f"/api/jobs/{ID.upper()}", "/api/jobs/..%2F..%2Fetc", "/api/jobs/-rf", f"/api/jobs/{ID}0", "/jobs/%2Fetc%2Fpasswd",
    f"/api/agents/{ID[:31]}/ego/download", f"/api/agents/{ID}/..%2F..%2Fetc/download",
])
def test_ids_that_are_not_32_hex_do_not_match_a_route(alice, path):
    assert alice.get(path).status_code == 404


@pytest.mark.parametrize("kind", ["..", "-rf", ".hidden", "ego2", "~root", "alt0-PPO%00"])
def test_agent_kinds_outside_the_fixed_list_are_400(alice, state, saved_agent, kind):
    job_id = finished_job(state, "alice", saved_agent)
    response = alice.get(f"/api/agents/{job_id}/{kind}/download")
    assert response.status_code == 400 and "agent kind" in response.get_json()["message"]


def test_agent_folder_escaping_by_symlink_is_not_served(alice, state, saved_agent, tmp_path):
    job_id = finished_job(state, "alice")
    agents = state.root.run_dir(job_id) / "agents"
    agents.mkdir()
    os.symlink(saved_agent, agents / "ego")  # points outside the job's folder
    assert alice.get(f"/api/agents/{job_id}/ego/download").status_code == 404
    assert alice.get("/api/agents").get_json()["agents"] == []


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "-rf", ".hidden", "a b", "x" * 65, "a/b"])
def test_names_with_paths_or_options_are_400_stating_the_rule(app, alice_token, state, bad):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {alice_token}"}
    label = client.post("/api/jobs", json=TINY, headers=headers, query_string={"label": bad})
    assert label.status_code == 400 and "not starting with '-' or '.'" in label.get_json()["message"]
    key = client.post("/api/jobs", json=TINY, headers={**headers, "Idempotency-Key": bad})
    assert key.status_code == 400 and "Idempotency-Key" in key.get_json()["message"]
    assert state.store.list() == []


@pytest.mark.parametrize("change", [
    {"env": "../../etc/passwd"}, {"env": "/etc/passwd"}, {"ego": "-rf"},
    {"partners": [{"type": "FIXED", "location": "/etc/passwd"}]},
    {"partners": [{"type": "FIXED", "location": "../../runs/x/agents/ego"}]},
    {"partners": [{"type": "FIXED", "location": f"{ID}/../../x"}]},
    {"ego": "LOAD", "ego_config": {"location": "/tmp/model"}},
    {"ego_config": {"tensorboard_log": "tb"}}, {"ego_config": {"policy": "../MlpPolicy"}},
    {"run_dir": "runs/x"}, {"tensorboard_log": "x"}, {"record": "x.npy"}, {"env_config": {"-x": 1}},
])
def test_config_strings_that_look_like_paths_or_options_are_400(app, alice_token, state, change):
    response = app.test_client().post("/api/jobs", json={**TINY, **change},
                                      headers={"Authorization": f"Bearer {alice_token}"})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "Bad Request" and "Traceback" not in response.get_json()["message"]
    assert state.store.list() == [] and list(state.root.runs.iterdir()) == []


# ------------------------------------------------------------------------------------------ 4.4 pickles
class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _forge_artefact(folder, marker, genuine) -> None:
    """An 'agent' whose model.zip ``data`` and ``policy.pt`` are pickles that create ``marker`` when loaded, with
    a metadata.json whose hashes match (as an attacker who can write files would make it)."""
    folder.mkdir(parents=True)
    payload = pickle.dumps(_Payload(str(marker)))
    with zipfile.ZipFile(folder / "model.zip", "w") as archive:
        archive.writestr("data", json.dumps({"policy_class": {":type:": "x", ":serialized:":
                                                              base64.b64encode(payload).decode()}}))
        archive.writestr("policy.pth", payload)
    (folder / "policy.pt").write_bytes(payload)
    meta = json.loads((genuine / "metadata.json").read_text())
    meta["sha256"] = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                      for name in ("model.zip", "policy.pt")}
    (folder / "metadata.json").write_text(json.dumps(meta))


def test_a_pickle_payload_never_executes(alice, state, tmp_path, saved_agent):
    """There is no upload route; a forged artefact placed in a job's folder is listed from its JSON metadata and
    downloaded as bytes, never unpickled (docs/web.md test 6 for the routes this app has)."""
    marker = tmp_path / "PWNED"
    job_id = finished_job(state, "alice")
    _forge_artefact(state.root.run_dir(job_id) / "agents" / "ego", marker, saved_agent)
    pickle.loads(pickle.dumps(_Payload(str(tmp_path / "control"))))
    assert (tmp_path / "control").exists()  # the payload does work when unpickled
    listed = alice.get("/api/agents").get_json()["agents"]
    page = alice.get(f"/jobs/{job_id}")
    download = alice.get(f"/api/agents/{job_id}/ego/download")
    agents_page = alice.get("/agents")
    assert [a["id"] for a in listed] == [f"{job_id}/ego"] and page.status_code == agents_page.status_code == 200
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert not marker.exists()


def test_a_tampered_artefact_is_not_served(alice, state, saved_agent):
    job_id = finished_job(state, "alice", saved_agent)
    with open(state.root.run_dir(job_id) / "agents" / "ego" / "policy.pt", "ab") as handle:
        handle.write(b"tampered")
    response = alice.get(f"/api/agents/{job_id}/ego/download")
    assert response.status_code == 400 and "SHA-256" in response.get_json()["message"]


# ------------------------------------------------------------------------------------------ 4.5 errors
def test_unexpected_errors_are_generic_500s_without_traceback(data_dir, caplog):
    app = create_app(data_dir, start_backend=False)

    @app.get("/boom")
    def boom():
        raise RuntimeError("internal detail /secret/path")

    page = app.test_client().get("/boom")
    text = page.get_data(as_text=True)
    assert page.status_code == 500 and "reference" in text and "secret" not in text and "Traceback" not in text
    assert "internal detail" in caplog.text  # the details go to the server log
    app.extensions["pantheonrl"].close()


def test_404_and_405_are_clean(alice):
    api = alice.get("/api/nothing")
    assert api.status_code == 404 and api.get_json()["error"] == "Not Found"
    page = alice.get("/nothing")
    assert page.status_code == 404 and "<h1>404 Not Found</h1>" in page.get_data(as_text=True)
    wrong = alice.put("/api/jobs", headers={"X-CSRFToken": csrf_token(alice)})
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    assert alice.get("/logout").status_code == 405
