"""Study mode and ``pantheonrl play``: the games come from the study file, the participant id names the records'
folder, and the play-only server has no job pages."""

from __future__ import annotations

import contextlib
import json
import os
import time

import pytest
import torch

from pantheonrl.errors import ConfigError
from pantheonrl.play.study import Study
from pantheonrl.webui import create_app
from tests.webui.conftest import PASSWORD, login

torch.set_num_threads(1)
NS = "/play"
STUDY = {"name": "pilot", "tick_ms": 50, "horizon": 12,
         "games": [{"layout": "cramped_room", "agent": "greedy"},
                   {"layout": "cramped_room", "agent": "stay", "seat": 1, "horizon": 10}]}


@pytest.fixture
def study_app(data_dir):
    app = create_app(data_dir, start_backend=False, play_only=True, study=Study.from_dict(STUDY))
    app.extensions["pantheonrl"].accounts.add_user("lab", PASSWORD)
    yield app
    app.extensions["pantheonrl"].close()


def test_a_participant_plays_the_studys_games_in_order(study_app, data_dir):
    client = study_app.test_client()
    assert login(client, "lab").status_code == 302
    assert client.get("/").headers["Location"].endswith("/play")
    assert client.get("/jobs").status_code == 404 and client.post("/api/jobs", json={}).status_code in (400, 404)
    page = client.get("/play").get_data(as_text=True)
    assert "Study pilot" in page and "cramped_room with stay" in page and 'name="participant"' in page
    sio = study_app.extensions["pantheonrl"].socketio
    sock = sio.test_client(study_app, namespace=NS, flask_test_client=client)
    episodes = []
    for index in (0, 1):
        reply = sock.emit("create", {"participant": "p-01"}, namespace=NS, callback=True)  # the server picks
        assert reply.get("game"), reply
        assert reply["seat"] == (0 if index == 0 else 1)  # the study file decides the seat
        sock.emit("ready", {}, namespace=NS, callback=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done = [m["args"][0] for m in sock.get_received(NS) if m["name"] == "state" and m["args"][0]["done"]]
            if done:
                episodes.append(done[0]["episode_id"])
                break
            time.sleep(0.05)
    assert len(episodes) == 2
    folder = data_dir / "studies" / "pilot" / "p-01"
    assert sorted(p.stem for p in folder.glob("*.json")) == sorted(episodes)
    docs = [json.loads((folder / f"{e}.json").read_text()) for e in episodes]
    assert [d["study_game"] for d in docs] == [0, 1] and {d["participant"] for d in docs} == {"p-01"}
    assert [len(d["ticks"]) for d in docs] == [12, 10] and docs[1]["players"][0]["kind"] == "ai:stay"
    listed = client.get("/api/trajectories?participant=p-01").get_json()["trajectories"]
    assert sorted(r["id"] for r in listed) == sorted(episodes)
    assert client.get("/api/trajectories?participant=p-02").get_json()["trajectories"] == []
    for bad, message in [({"participant": "../x"}, "participant id '../x' is not allowed"),
                         ({"participant": "p-01"}, "participant p-01 has played every game of study pilot"),
                         ({"participant": "p1", "study_game": 0}, "unknown study option 'study_game'"),
                         ({"mode": "human-ai", "agent": "random"}, "this server runs a study")]:
        assert message in sock.emit("create", bad, namespace=NS, callback=True)["error"], bad


@pytest.mark.parametrize(("study", "message"), [
    ({"games": []}, "name None is not allowed"),
    ({"name": "x", "games": []}, "games must list 1 to 100 games"),
    ({"name": "x", "games": [{"layout": "nowhere"}]}, "study game 0"),
    ({"name": "x", "games": [{"agent": "greedy", "speed": 2}]}, "unknown game key 'speed'"),
    ({"name": "x", "games": [{"seat": 2}]}, "seat 2 must be 0 or 1"),
    ({"name": "x", "colour": 1, "games": [{}]}, "unknown study key 'colour'"),
    ({"name": "x", "tick_ms": 1, "games": [{}]}, "tick_ms"),
])
def test_bad_study_files_are_clear_errors(study, message):
    with pytest.raises(ConfigError, match=message):
        Study.from_dict(study)


def test_pantheonrl_play_refuses_bad_options_with_status_2(tmp_path, capsys, data_dir):
    from pantheonrl.cli import main

    bad = tmp_path / "study.yml"
    bad.write_text("name: pilot\ngames:\n  - {layout: cramped_room, agent: nobody}\n")
    for argv, needle in [(["--study", str(bad)], "nobody"),
                         (["--study", str(tmp_path / "missing.yml")], "cannot read it"),
                         (["--max-games", "0"], "--max-games 0: give 1 to 64"),
                         (["--port", "0"], "--port 0: give 1 to 65535")]:
        assert main(["play", "--data-dir", str(data_dir), *argv]) == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, err


@pytest.mark.slow
def test_pantheonrl_play_serves_the_play_page_alone(tmp_path, data_dir):
    """The real command (gunicorn) on a free loopback port: login page, '/' leads to /play, no job pages."""
    import signal
    import socket
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    study = tmp_path / "study.yml"
    study.write_text("name: pilot\ngames:\n  - {layout: cramped_room, agent: greedy}\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp_path / "play.log", "wb")  # noqa: SIM115  (closed below)
    server = subprocess.Popen([sys.executable, "-m", "pantheonrl.cli", "play", "--data-dir", str(data_dir), "--study",
                               str(study), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def get(path):
        try:
            with urllib.request.urlopen(base + path, timeout=5) as response:
                return response.status, response.geturl(), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, path, ""

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, url, body = get("/")
                assert "Log in" in body or status != 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "play.log").read_text()
                time.sleep(0.3)
        assert status == 200 and url.startswith(f"{base}/login") and "next=/play" in url.replace("%2F", "/")
        assert get("/jobs")[0] == 404 and get("/play/graphics/chefs.png")[0] == 200
        assert "study pilot, 1 games" in (tmp_path / "play.log").read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()
