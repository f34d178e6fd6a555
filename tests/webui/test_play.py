"""Human play through the dashboard's Socket.IO namespace (Flask-SocketIO's test client; the foreign-Origin case
runs against the real server in test_browser.py): sessions required, one action per tick from a flood of keys,
a disconnect flushes the record and frees the slot, other users' agents and records stay theirs, and human
records train a BC partner that training accepts."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch

from pantheonrl.jobs import JobStatus
from pantheonrl.play import STAY, TOKEN_ACTIONS
from tests.jobs.conftest import drive
from tests.play.conftest import overcooked_agent  # noqa: F401  (the session fixture)
from tests.webui.conftest import finished_job, login

torch.set_num_threads(1)
NS = "/play"


@pytest.fixture
def sio(app):
    return app.extensions["pantheonrl"].socketio


def _socket(app, sio, name):
    client = app.test_client()
    assert login(client, name).status_code == 302
    sock = sio.test_client(app, namespace=NS, flask_test_client=client)
    assert sock.is_connected(NS)
    return client, sock


def _states(sock):
    return [m["args"][0] for m in sock.get_received(NS) if m["name"] == "state"]


def _wait_done(sock, timeout=30.0):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += _states(sock)
        if seen and seen[-1]["done"]:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the game did not end in {timeout} s ({len(seen)} states)")


def test_a_socket_without_a_session_is_refused(app, sio):
    anonymous = sio.test_client(app, namespace=NS)
    assert not anonymous.is_connected(NS)
    client = app.test_client()  # a browser that never logged in
    assert not sio.test_client(app, namespace=NS, flask_test_client=client).is_connected(NS)


def test_a_human_ai_game_takes_one_action_per_tick_and_is_recorded(app, sio, state):
    _, sock = _socket(app, sio, "alice")
    reply = sock.emit("create", {"mode": "human-ai", "layout": "cramped_room", "agent": "greedy", "horizon": 30,
                                 "tick_ms": 50}, namespace=NS, callback=True)
    assert reply["seat"] == 0 and reply["game"]["layout"] == "cramped_room", reply
    assert len(reply["game"]["terrain"]) == 4  # cramped_room's rows, sent once
    assert sock.emit("ready", {}, namespace=NS, callback=True) == {"started": True}
    sent, states = 0, []
    deadline = time.monotonic() + 30
    while not (states and states[-1]["done"]) and time.monotonic() < deadline:  # a held key, the whole game
        for token in ("right", "down"):
            sock.emit("key", token, namespace=NS)
            sent += 1
        states += _states(sock)
        time.sleep(0.005)
    states += _wait_done(sock) if not states[-1]["done"] else []
    final = states[-1]
    assert final["ended_by"] == "horizon" and final["tick"] == 30 and final["record"]
    assert [s["tick"] for s in states] == list(range(31))  # the start state, then one per tick
    records = state.play.records_of("alice")
    assert [r["id"] for r in records] == [final["episode_id"]]
    doc = json.loads((state.play.user_dir("alice") / f"{final['episode_id']}.json").read_text())
    assert len(doc["ticks"]) == 30 and len(doc["ep_actions"][0]) == 30
    moves = {t["joint_action"][0] for t in doc["ticks"]}  # action indices as applied
    assert moves <= {TOKEN_ACTIONS["right"], TOKEN_ACTIONS["down"], STAY}
    assert {TOKEN_ACTIONS["right"], TOKEN_ACTIONS["down"]} & moves
    counters = doc["stats"]["mailboxes"][0]
    # more keys arrived than ticks took: never more than one action per tick, the rest replaced, no backlog
    assert counters["taken"] <= 30 < counters["received"] <= sent, (counters, sent)
    assert doc["players"][0]["kind"] == "human:alice" and doc["players"][1]["kind"] == "ai:greedy"
    assert len(state.play.registry) == 0  # the slot is free
    # a record is written once: its summary is parsed once, then served from memory
    path = state.play.user_dir("alice") / f"{final['episode_id']}.json"
    stat = path.stat()
    path.write_text("{}")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert state.play.records_of("alice") == records


def test_a_disconnect_mid_game_flushes_the_record_and_frees_the_slot(app, sio, state):
    _, sock = _socket(app, sio, "alice")
    reply = sock.emit("create", {"mode": "human-ai", "agent": "greedy", "horizon": 3000, "tick_ms": 50},
                      namespace=NS, callback=True)
    sock.emit("ready", {}, namespace=NS, callback=True)
    time.sleep(0.4)
    sock.disconnect(namespace=NS)
    deadline = time.monotonic() + 10
    while len(state.play.registry) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(state.play.registry) == 0
    path = state.play.user_dir("alice") / f"{reply['game']['episode_id']}.json"
    doc = json.loads(path.read_text())
    assert doc["ended_by"] == "disconnect" and 0 < len(doc["ticks"]) < 3000
    assert (path.with_suffix(".npy")).is_file()


def test_keys_from_other_sockets_and_users_do_not_move_a_chef(app, sio, state):
    _, alice = _socket(app, sio, "alice")
    _, other_tab = _socket(app, sio, "alice")
    _, bob = _socket(app, sio, "bob")
    reply = alice.emit("create", {"mode": "human-ai", "agent": "stay", "horizon": 10, "tick_ms": 50}, namespace=NS,
                       callback=True)
    game_id = reply["game"]["game_id"]
    assert "no free human seat" in bob.emit("join", {"game_id": game_id}, namespace=NS, callback=True)["error"]
    alice.emit("ready", {}, namespace=NS, callback=True)
    for _ in range(40):
        other_tab.emit("key", "right", namespace=NS)
        bob.emit("key", "right", namespace=NS)
        time.sleep(0.01)
    states = _wait_done(alice)
    assert all(s["joint_action"] in (None, ["stay", "stay"]) for s in states)  # nobody moved chef 0
    assert _states(bob) == []  # bob is not in the game's room


def test_two_people_play_one_game(app, sio, state):
    _, alice = _socket(app, sio, "alice")
    _, bob = _socket(app, sio, "bob")
    reply = alice.emit("create", {"mode": "human-human", "horizon": 20, "tick_ms": 50}, namespace=NS, callback=True)
    game_id = reply["game"]["game_id"]
    assert alice.emit("ready", {}, namespace=NS, callback=True) == {"started": False}  # waits for the second
    joined = bob.emit("join", {"game_id": game_id}, namespace=NS, callback=True)
    assert joined["seat"] == 1
    assert bob.emit("ready", {}, namespace=NS, callback=True) == {"started": True}
    for _ in range(10):
        alice.emit("key", "right", namespace=NS)
        bob.emit("key", "left", namespace=NS)
        time.sleep(0.05)
    states = _wait_done(alice)
    assert {tuple(s["joint_action"]) for s in states if s["joint_action"]} & {("right", "left")}
    episode = states[-1]["episode_id"]
    assert [r["id"] for r in state.play.records_of("bob")] == [episode]  # both players keep the record
    assert state.play.records_of("alice")[0]["players"] == ["human:alice", "human:bob"]


def test_admission_control_and_bad_messages(app, sio, state):
    state.play.registry.max_games = 1
    _, alice = _socket(app, sio, "alice")
    _, bob = _socket(app, sio, "bob")
    assert alice.emit("create", {"agent": "greedy", "horizon": 50}, namespace=NS, callback=True).get("game")
    answer = bob.emit("create", {"agent": "greedy"}, namespace=NS, callback=True)
    assert "server at capacity" in answer["error"]
    assert "already plays game" in alice.emit("create", {}, namespace=NS, callback=True)["error"]
    alice.emit("leave", {}, namespace=NS, callback=True)
    for bad, message in [({"mode": "solo"}, "unknown play mode 'solo'"),
                         ({"layout": "no_such_kitchen"}, "no_such_kitchen"),
                         ({"tick_ms": 5}, "tick_ms"),
                         ({"agent": "../../etc/passwd"}, "neither a scripted partner nor a saved agent"),
                         ({"agent": "0" * 32 + "/ego"}, "no job"),
                         ({"speed": 3}, "unknown play option 'speed'"),
                         ("not an object", "a create message is an object")]:
        answer = bob.emit("create", bad, namespace=NS, callback=True)
        assert message in answer.get("error", ""), (bad, answer)
    assert len(state.play.registry) == 0


def test_a_saved_agent_plays_and_stays_its_owners(app, sio, state, overcooked_agent):  # noqa: F811
    job = finished_job(state, "alice", overcooked_agent, "ego")
    _, alice = _socket(app, sio, "alice")
    _, bob = _socket(app, sio, "bob")
    assert f"no job {job}" in bob.emit("create", {"agent": f"{job}/ego"}, namespace=NS, callback=True)["error"]
    reply = alice.emit("create", {"agent": f"{job}/ego", "seat": 1, "horizon": 15, "tick_ms": 50}, namespace=NS,
                       callback=True)
    assert reply["seat"] == 1 and reply["game"]["players"][0]["kind"] == f"ai:{job}/ego", reply
    alice.emit("ready", {}, namespace=NS, callback=True)
    final = _wait_done(alice)[-1]
    doc = json.loads((state.play.user_dir("alice") / f"{final['episode_id']}.json").read_text())
    assert doc["players"][0]["sha256"]  # the saved agent is named with its hash
    # records are the owner's: bob's download of alice's game is a 404, not a leak
    client = app.test_client()
    login(client, "bob")
    assert client.get(f"/api/trajectories/{final['episode_id']}/json").status_code == 404
    owner = app.test_client()
    login(owner, "alice")
    response = owner.get(f"/api/trajectories/{final['episode_id']}/json")
    assert response.status_code == 200 and json.loads(response.data)["ep_states"]
    assert owner.get(f"/api/trajectories/{final['episode_id']}/exe").status_code == 400
    page = owner.get("/trajectories").get_data(as_text=True)
    assert final["episode_id"][:8] in page and "human:alice" in page
    play_page = owner.get(f"/play?agent={job}/ego").get_data(as_text=True)
    assert f'value="{job}/ego" selected' in play_page and 'value="cramped_room" selected' in play_page


def test_human_records_train_a_bc_partner_that_training_accepts(app, sio, state, tmp_path, capsys):
    """The loop: games recorded through the socket -> pantheonrl bc over the records (the command, and a bc job of
    the dashboard) -> the clone as the FIXED partner of a training job -> its agent on the play page."""
    from pantheonrl.cli import main

    _, sock = _socket(app, sio, "alice")
    files = []
    for pattern in (("right", "interact"), ("left", "up")):
        sock.emit("create", {"agent": "greedy", "horizon": 25, "tick_ms": 50}, namespace=NS, callback=True)
        sock.emit("ready", {}, namespace=NS, callback=True)
        for i in range(24):
            sock.emit("key", pattern[i % 2], namespace=NS)
            time.sleep(0.05)
        final = _wait_done(sock)[-1]
        files.append(state.play.user_dir("alice") / f"{final['episode_id']}.npy")
    env_config = json.loads(files[0].with_suffix(".json").read_text())["transitions"]["env_config"]
    agent = tmp_path / "human-proxy"
    assert main(["bc", "OvercookedMultiEnv-v0", *map(str, files), "--env-config", json.dumps(env_config),
                 "-t", "2", "--save-agent", str(agent)]) == 0
    out = capsys.readouterr().out
    assert "cloning player 0 (ego) from 50 rows of 2 files" in out
    # the same loop in the dashboard: a bc job over the records, a training job with its agent as the partner,
    # and the trained agent offered on the play page
    api = app.test_client()
    login(api, "alice")
    token = api.get("/play").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    headers = {"X-CSRFToken": token}
    episodes = [f.stem for f in files]
    response = api.post("/api/trajectories/bc", json={"records": episodes, "epochs": 3}, headers=headers)
    assert response.status_code == 201, response.get_json()
    bc_job = response.get_json()
    assert bc_job["kind"] == "bc" and bc_job["config"]["player"] == 0 and len(bc_job["config"]["trajectories"]) == 2
    done = drive(state.backend, bc_job["id"])
    assert done.status is JobStatus.SUCCEEDED, (done.reason, state.backend.logs(done.id))
    assert "from 50 rows of 2 files" in state.backend.logs(done.id)
    config = {"env": "OvercookedMultiEnv-v0", "ego": "PPO", "env_config": env_config, "total_timesteps": 256,
              "ego_config": {"n_steps": 128, "batch_size": 64}, "eval_episodes": 0, "checkpoint_every": 0,
              "partners": [{"type": "FIXED", "location": f"{done.id}/ego"}]}
    response = api.post("/api/jobs", json=config, headers=headers)
    assert response.status_code == 201, response.get_json()
    trained = drive(state.backend, response.get_json()["id"])
    assert trained.status is JobStatus.SUCCEEDED, (trained.reason, state.backend.logs(trained.id))
    page = api.get(f"/play?agent={trained.id}/ego").get_data(as_text=True)
    assert f'value="{trained.id}/ego" selected' in page
    bad = api.post("/api/trajectories/bc", json={"records": ["0" * 32]}, headers=headers)
    assert bad.status_code == 404
    data = np.load(files[0], allow_pickle=False)
    assert data.shape[0] == 25


def test_connections_per_user_are_bounded_and_a_new_password_ends_them(app, sio, state):
    from pantheonrl.webui.play import SOCKETS_PER_USER

    client = app.test_client()
    login(client, "alice")
    socks = [sio.test_client(app, namespace=NS, flask_test_client=client) for _ in range(SOCKETS_PER_USER + 1)]
    assert [s.is_connected(NS) for s in socks] == [True] * SOCKETS_PER_USER + [False]
    user = state.accounts.by_name("alice")
    state.accounts.set_password(user.id, "another long password")
    answer = socks[0].emit("create", {"agent": "greedy"}, namespace=NS, callback=True)
    assert answer == {"error": "not logged in: reload the page"} and len(state.play.registry) == 0


def test_games_that_never_start_or_lose_their_socket_are_freed(app, sio, state, monkeypatch):
    from pantheonrl.errors import ConfigError
    from pantheonrl.webui import play

    monkeypatch.setattr(play, "LOBBY_TIMEOUT_S", 0.3)
    _, alice = _socket(app, sio, "alice")
    reply = alice.emit("create", {"mode": "human-human", "horizon": 20}, namespace=NS, callback=True)
    deadline = time.monotonic() + 10
    while len(state.play.registry) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(state.play.registry) == 0  # nobody joined: the lobby timed out
    doc = json.loads((state.play.user_dir("alice") / f"{reply['game']['episode_id']}.json").read_text())
    assert doc["ended_by"] == "idle" and doc["ticks"] == []
    # a socket that closed while its game was being made (an agent loading): the game ends at once
    user = state.accounts.by_name("alice")
    with pytest.raises(ConfigError, match="connection closed"):
        state.play.create(user, "a-socket-that-is-gone", {"agent": "greedy"})
    assert len(state.play.registry) == 0


def test_the_joining_player_keeps_the_record_when_the_creator_took_seat_1(app, sio, state):
    _, alice = _socket(app, sio, "alice")
    _, bob = _socket(app, sio, "bob")
    reply = alice.emit("create", {"mode": "human-human", "seat": 1, "horizon": 10, "tick_ms": 50}, namespace=NS,
                       callback=True)
    assert reply["seat"] == 1
    assert bob.emit("join", {"game_id": reply["game"]["game_id"]}, namespace=NS, callback=True)["seat"] == 0
    alice.emit("ready", {}, namespace=NS, callback=True)
    bob.emit("ready", {}, namespace=NS, callback=True)
    episode = _wait_done(alice)[-1]["episode_id"]
    assert [r["id"] for r in state.play.records_of("bob")] == [episode]
    assert [r["id"] for r in state.play.records_of("alice")] == [episode]


def test_two_agents_play_while_the_user_watches(app, sio, state):
    _, alice = _socket(app, sio, "alice")
    reply = alice.emit("create", {"mode": "ai-ai", "agent": "stay", "agent2": "greedy", "horizon": 40,
                                  "tick_ms": 50}, namespace=NS, callback=True)
    assert reply["seat"] is None and [p["kind"] for p in reply["game"]["players"]] == ["ai:stay", "ai:greedy"]
    assert alice.emit("ready", {}, namespace=NS, callback=True) == {"started": True}
    for _ in range(20):
        alice.emit("key", "left", namespace=NS)  # a spectator's keys move nobody
        time.sleep(0.01)
    states = _wait_done(alice)
    assert states[-1]["ended_by"] == "horizon" and states[-1]["tick"] == 40
    doc = json.loads((state.play.user_dir("alice") / f"{states[-1]['episode_id']}.json").read_text())
    assert all(t["joint_action"][0] == STAY for t in doc["ticks"])  # the spectator's "left" never reached seat 0
    assert any(t["joint_action"][1] != STAY for t in doc["ticks"])  # the greedy cook played


def test_the_low_rank_partner_model_adapts_to_a_recorded_human(app, sio, state):
    """Recorded human games -> load_demonstrations -> LowRankPolicy.adapt: the NLL of the human's actions falls."""
    from pantheonrl.algos.bc import load_demonstrations
    from pantheonrl.algos.lowrank import LowRankPolicy
    from pantheonrl.envs.overcooked import OvercookedMultiEnv

    _, sock = _socket(app, sio, "alice")
    sock.emit("create", {"agent": "greedy", "horizon": 40, "tick_ms": 50}, namespace=NS, callback=True)
    sock.emit("ready", {}, namespace=NS, callback=True)
    for i in range(40):  # a human with a habit: mostly right, sometimes interact
        sock.emit("key", "interact" if i % 4 == 3 else "right", namespace=NS)
        time.sleep(0.05)
    final = _wait_done(sock)[-1]
    npy = state.play.user_dir("alice") / f"{final['episode_id']}.npy"
    env = OvercookedMultiEnv("cramped_room")
    data = load_demonstrations(npy, env.observation_spaces[0], env.action_spaces[0])
    assert len(data) == 40
    model = LowRankPolicy(data.obs.shape[1], n_partners=3, n_actions=6, hidden=(32,), seed=0)
    trace = model.adapt(data, chunks=8, lr=0.05)
    assert len(trace) == 9 and trace[-1] < trace[0]
