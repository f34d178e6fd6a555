"""``pantheonrl web init|add-user|serve``: bad input exits 2 with one line, and one end-to-end run of the real
server (gunicorn with the embedded dispatcher) driven over HTTP: log in, submit the OpenAPI example, watch it to
SUCCEEDED, download the agent, stop the server by its pid."""

from __future__ import annotations

import http.cookiejar
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import pytest

from pantheonrl.cli import main
from pantheonrl.jobs import JobStore, ProcessRef
from pantheonrl.webui import EXAMPLE_JOB, create_app


def _password_file(tmp_path, text="a good password", name="pw"):
    path = tmp_path / name
    path.write_text(text + "\n")
    return str(path)


def test_init_add_user_and_tokens(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PANTHEONRL_SECRET_KEY", raising=False)
    data, pw = str(tmp_path / "data"), _password_file(tmp_path)
    assert main(["web", "init", "--data-dir", data, "--admin", "alice", "--password-file", pw]) == 0
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
    token_file = tmp_path / "bob.token"
    assert main(["web", "add-user", "--data-dir", data, "bob", "--password-file", pw, "--token-file",
                 str(token_file)]) == 0
    assert token_file.stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    # errors: exit 2, one line, no traceback
    for argv, needle in [
        (["web", "init", "--data-dir", data, "--admin", "carol", "--password-file", pw], "already initialised"),
        (["web", "add-user", "--data-dir", data, "bob", "--password-file", pw], "already exists"),
        (["web", "add-user", "--data-dir", data, "--password-file", pw, "--", "-rf"], "user name"),
        (["web", "add-user", "--data-dir", data, "../x", "--password-file", pw], "user name"),
        (["web", "add-user", "--data-dir", data, "carol", "--password-file", str(tmp_path / "none")], "no such file"),
        (["web", "add-user", "--data-dir", data, "carol", "--password-file",
          _password_file(tmp_path, "short", "short.pw")], "8 to"),
        (["web", "add-user", "--data-dir", data, "carol", "--password-file", pw, "--token-file", str(token_file)],
         "already exists"),
        (["web", "serve", "--data-dir", str(tmp_path / "missing")], "web init"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and "Traceback" not in err and len(err.splitlines()) == 1, err
    app = create_app(data, start_backend=False)
    client = app.test_client()
    jobs = client.get("/api/jobs", headers={"Authorization": f"Bearer {token_file.read_text().strip()}"})
    assert jobs.status_code == 200 and jobs.get_json() == {"jobs": []}
    assert app.extensions["pantheonrl"].accounts.by_name("carol") is None
    app.extensions["pantheonrl"].close()


def test_serve_refuses_a_weak_secret(tmp_path, capsys, monkeypatch):
    data = str(tmp_path / "data")
    assert main(["web", "init", "--data-dir", data, "--admin", "alice", "--password-file",
                 _password_file(tmp_path)]) == 0
    monkeypatch.setenv("PANTHEONRL_SECRET_KEY", "dev")
    capsys.readouterr()
    assert main(["web", "serve", "--data-dir", data, "--port", "1"]) == 2
    assert "well-known default" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "needle"), [
    (["--backend", "ray"], "--backend ray needs --ray-address URL"),
    (["--ray-address", "http://127.0.0.1:8265"], "--ray-address goes with --backend ray"),
    (["--backend", "ray", "--ray-address", "http://10.1.2.3:8265"], "RAY_AUTH_MODE=token"),
])
def test_serve_checks_the_ray_backend_options(tmp_path, capsys, monkeypatch, extra, needle):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    data = str(tmp_path / "data")
    assert main(["web", "init", "--data-dir", data, "--admin", "alice", "--password-file",
                 _password_file(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["web", "serve", "--data-dir", data, *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err, err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Browser:
    """urllib with a cookie jar (no redirects followed for POSTs, to see them)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes, dict]:
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def csrf(self) -> str:
        _, body, _ = self.request("/login")
        return re.search(rb'name="csrf-token" content="([^"]+)"', body).group(1).decode()


@pytest.mark.slow
def test_end_to_end_with_the_real_server(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "PANTHEONRL_AGENTS": str(tmp_path / "registry")}
    env.pop("PANTHEONRL_SECRET_KEY", None)
    pw = _password_file(tmp_path)
    subprocess.run([sys.executable, "-m", "pantheonrl.cli", "web", "init", "--data-dir", str(data), "--admin",
                    "alice", "--password-file", pw], check=True, env=env, capture_output=True)
    port = _free_port()
    log = open(tmp_path / "server.log", "w+")  # noqa: SIM115 - the server writes to it until the end
    server = subprocess.Popen([sys.executable, "-m", "pantheonrl.cli", "web", "serve", "--data-dir", str(data),
                               "--port", str(port), "--max-workers", "1"], stdout=log, stderr=subprocess.STDOUT,
                              env=env, start_new_session=True)
    browser = _Browser(f"http://127.0.0.1:{port}")
    job_id = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if browser.request("/login")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        status, _, headers = browser.request("/login", urllib.parse.urlencode({
            "username": "alice", "password": "a good password", "csrf_token": browser.csrf()}).encode())
        assert status == 200 and "Content-Security-Policy" in headers  # redirected to the job list
        status, body, _ = browser.request("/api/jobs", json.dumps(EXAMPLE_JOB).encode(), {
            "Content-Type": "application/json", "X-CSRFToken": browser.csrf()})
        assert status == 201, body
        job_id = json.loads(body)["id"]
        deadline = time.monotonic() + 150
        while True:
            job = json.loads(browser.request(f"/api/jobs/{job_id}")[1])
            if job["status"] not in ("QUEUED", "RUNNING"):
                break
            assert time.monotonic() < deadline, f"job still {job['status']}"
            time.sleep(0.5)
        assert job["status"] == "SUCCEEDED" and job["steps_done"] == 2048, job
        curve = json.loads(browser.request(f"/api/jobs/{job_id}/metrics")[1])
        assert curve["rows"] and curve["rows"][-1]["timesteps"] <= 2048
        status, body, _ = browser.request(f"/api/agents/{job_id}/ego/download")
        assert status == 200
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert sorted(archive.namelist()) == ["ego/metadata.json", "ego/model.zip", "ego/policy.pt"]
        page = browser.request(f"/jobs/{job_id}")[1].decode()
        assert "SUCCEEDED" in page and f"/api/agents/{job_id}/ego/download" in page
    finally:
        os.kill(server.pid, signal.SIGTERM)
        try:
            code = server.wait(timeout=30)
        finally:
            if server.poll() is None:
                os.kill(server.pid, signal.SIGKILL)
                server.wait()
            if job_id is not None:  # never leave a training process behind
                store = JobStore(data / "jobs.sqlite")
                ref = ProcessRef.from_dict(store.get(job_id).backend_ref)
                store.close()
                if ref is not None and ref.alive():
                    os.killpg(ref.pgid, signal.SIGKILL)
        log.seek(0)
        output = log.read()
        log.close()
    assert code == 0, output
    assert "Booting worker" in output and "Shutting down" in output
